"""fleet-sync: keeps the registry equal to what EC2 and Auto Scaling report, region by region.

Modules: `config` (its variables), `request` (accepted inputs), `inventory` (what AWS reports),
`registry_view` (what the registry holds), `diff` (what must change), `writer` (conditional writes),
`drift` (what looks wrong), `alerts` (drift notifications with a no-repeat window),
`sync` (orchestration), `report` (result dict and metrics), `handler` (the Lambda entry point).
"""
