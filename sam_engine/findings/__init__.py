"""Findings: what needs attention (policy, detection) and who is told (notification state, channels)."""
