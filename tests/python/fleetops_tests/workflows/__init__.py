"""Tests of the Step Functions workflows and their task handlers (moto's ASL engine)."""
