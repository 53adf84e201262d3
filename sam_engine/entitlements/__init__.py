"""Entitlements: the schema and validator, and every way in (YAML files, procurement CSV, the CLI)."""
