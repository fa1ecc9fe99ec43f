"""Tests of fleet-ops (pytest + moto); shared helpers live in `fleetops_tests.support`."""
