"""Tests of the health-check function."""
