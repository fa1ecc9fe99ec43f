"""Tests of the cleanup Lambda."""
