"""Tests of the backup and restore Lambdas."""
