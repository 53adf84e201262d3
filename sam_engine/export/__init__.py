"""Exports of the stored inventory in other tools' formats (CycloneDX SBOM)."""
