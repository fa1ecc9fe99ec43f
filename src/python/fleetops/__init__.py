"""fleet-ops: Lambda functions and shared library that keep an EC2 fleet registry honest.

`fleetops.core` is the library every function builds on; each other subpackage is one Lambda
(or the CLI) and keeps its handler thin so the domain logic stays testable without Lambda.
"""
