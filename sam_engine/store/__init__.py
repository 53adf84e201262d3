"""The store: the persistence interface and its backends (TinyDB embedded)."""
