"""Platforms: each collector's raw output turned into installations and a host (Linux, Windows, macOS).

``registry`` says which platform reads a module result and names its collector;
``records`` (package records), ``windows``/``windows_programs``/``regfile``,
``macos``, ``swid`` and ``hardware`` (host identity and hardware) hold the rules.
"""
