"""health-check: status checks and target health -> registry health, remediation ladder, budget,
fleet breaker (every minute; 128 MB; 2 min timeout).

Modules: `config` (its variables), `request` (accepted inputs), `records` (its registry items
and attributes), `checks` (what EC2 and the load balancers say), `ladder` (pure per-instance
decisions and flapping), `budget` (remediation budget per window), `fleet_breaker` (broad
outage => no remediation, SNS, recovery workflow), `remediation` (reboot / replace, action
records), `run` (orchestration), `report` (result dict and metrics), `handler` (entry point).

Registry: what health-check writes (docs/CONVENTIONS.md conventions: ISO `...Z` strings for
people, epoch seconds (N) for anything compared; `expires_at` is the table's TTL).

| entity | pk | sk | notes |
|---|---|---|---|
| instance (shared) | `FLEET#<fleet>` | `INSTANCE#<region>#<id>` | health-check owns `health*` + `health_version`, written with `RegistryTable.update_owned` (SET own attributes, ADD `version`, condition on `health_version`), so fleet-sync's attributes are never touched. Attributes: `health` (healthy / impaired / unknown), `health_reason`, `health_checked_at` (ISO; refreshed at least every HEALTH_HEARTBEAT_SECONDS, at every change), `health_last_known` (last healthy/impaired verdict), `health_failures` (consecutive impaired checks), `health_stage` (none / rebooted / replaced), `health_stage_at` (N), `health_last_action` (reboot, replace, would_reboot, would_replace, reboot_failed, replace_failed), `health_last_action_reason`, `health_last_action_at` (ISO), `health_transitions` (L of N: healthy<->impaired transitions within the flap window), `health_flapping` (BOOL) |
| remediation_budget | `FLEET#<fleet>` | `BUDGET#<window-start ISO>` | `spent` (N) and `spent_<az>` (N) per AZ, spent with one conditional `ADD` (see `budget`); `limit`, `az_limits` (M), `window_start`, `window_end` (N), `expires_at` = window start + 2 windows |
| health_action | `FLEET#<fleet>` | `ACTION#<ISO time>#<instance-id>` | one per decision: `action` (reboot, replace, would_reboot, would_replace, report_flapping), `reason`, `at` (ISO), `at_epoch` (N), `outcome` (ok, failed, dry_run, reported), `error`, `region`, `az`, `asg`, `failures`, `dry_run`; put conditionally (`attribute_not_exists(pk)`); `expires_at` = at + ACTION_TTL_DAYS |
| health_breaker_trip | `FLEET#<fleet>` | `BREAKER#<window-start ISO>` | the fleet breaker opened in that window: `incident_id` (= recovery execution name `hc-<fleet>-<window-start-epoch>`), `regions`, `unhealthy_share`, `unknown_share`, `by_az`, `execution_arn`, `recovery`, `opened_at`, `notified_at` (N; the one-notification-per-window claim), `expires_at`. Distinct from the recovery workflow's own `INCIDENT#<incident_id>` record |

Reads: the `FLEETS` index and `INSTANCE#` items (fleet-sync's `state`, `az`, `asg`,
`lifecycle_state`); instances whose `state` is not pending/running are ignored.
"""
