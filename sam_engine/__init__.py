"""fleetsam engine: ingest -> normalise -> reconcile -> findings -> render.

The engine is plain Python with no Ansible import: the callback plugin hands it a
spool directory once per run, and the ``fleetsam`` command line drives it directly.
"""

__version__ = "0.1.0"
