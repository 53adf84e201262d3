"""fleetsam engine: ingest -> normalise -> reconcile -> findings -> render.

The engine is plain Python with no Ansible import: the callback plugin hands it a
spool directory once per run, and the ``fleetsam`` command line drives it directly.
"""

__version__ = "0.1.0"  # the one version: pyproject.toml reads it, galaxy.yml repeats it (tests/unit/test_vocabulary.py)
