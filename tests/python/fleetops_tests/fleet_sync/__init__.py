"""Tests of the fleet-sync function."""
