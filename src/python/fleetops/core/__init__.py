"""Shared library for every fleet-ops function.

Modules, one job each:

- `config`: environment parsed and validated once at cold start (`BaseConfig`, `ConfigError`).
- `aws`: boto3 clients per region, retry policy, guarded calls and pagination (`AwsClients`).
- `breaker`: circuit breakers so a failing dependency fails fast instead of cascading.
- `concurrency`: bounded fan-out that keeps log/trace context in worker threads.
- `clock`: time formats of the registry (ISO-8601 `...Z` for humans, epoch seconds for conditions).
- `observability`: the one Powertools Logger/Tracer/Metrics of the process.
- `registry`: the single-table DynamoDB registry (keys, typed records, table access).
- `notify`: JSON notifications on SNS.
- `errors`: the exception hierarchy the library raises deliberately.
"""
