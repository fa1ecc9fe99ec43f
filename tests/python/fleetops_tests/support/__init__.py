"""Reusable test helpers: moto fleet builders, fault injection, request counting, test env.

- `env`: the test environment (regions, table, topic) and `base_env()` for config variables.
- `aws_fleet`: builds real moto resources (registry table, SNS inbox, VPC/subnets per AZ,
  launch templates, ASGs with tagged instances) in any region.
- `faults`: botocore event handlers that make the first N calls of an operation fail, or
  return `UnprocessedItems`; a closed loopback endpoint for a region that is "down".
- `counting`: counts AWS API calls by operation through botocore events.
- `lambda_context`: a Lambda context object for invoking handlers directly.
- `moto_server`: a moto server on loopback, for code that must go through AWS_ENDPOINT_URL.
- `runtime_api`, `artifacts`: the Lambda Runtime API and built artifacts, for artifact tests.
"""
