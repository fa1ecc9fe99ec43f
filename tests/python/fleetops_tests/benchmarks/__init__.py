"""Benchmarks: scripts that print numbers (not collected as tests)."""
