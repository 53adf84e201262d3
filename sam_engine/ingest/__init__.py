"""Ingest: a run's spool read and validated, host results turned into compact inventories."""
