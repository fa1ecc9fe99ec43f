"""Tests of the shared core library."""
