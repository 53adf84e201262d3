"""Platforms: each collector's raw output turned into installations and a host (Linux, Windows, macOS)."""
