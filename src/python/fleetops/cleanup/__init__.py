"""cleanup: removes what the fleet left behind, carefully (daily 03:00; 256 MB; 10 min).

Fleet resources (tagged with `FLEET_TAG_KEY`, in every region of `REGIONS`), mark then sweep
like Cloud Custodian's mark-for-op: an orphan is first tagged `fleetops:delete-after=<time>`
(+ `fleetops:mark-reason`); a later run deletes it only if the mark is past AND it is still an
orphan when re-checked right before the delete; a resource that stopped being an orphan has its
mark removed. Orphans: unattached (`available`) EBS volumes and ENIs; snapshots and AMIs older
than `CLEANUP_RETENTION_DAYS` that nothing references (launch template versions, AMIs, instances,
launch configurations). Never anything referenced; at most `CLEANUP_MAX_DELETIONS` deletions
per run; dry run by default outside dev.

Expired data: registry tombstones (terminated instances, deleted ASGs) older than
`TOMBSTONE_RETENTION_DAYS` (conditional deletes, so a revived item survives), and backups older
than `BACKUP_RETENTION_DAYS` (never the latest verified one).

Modules: `config`, `request` (accepted events), `marks` (the mark tags), `resources` (discovery,
references, orphan rules), `sweep` (mark / unmark / delete per region), `tombstones`, `backups`,
`lease` (one real run at a time), `report` (result, SNS, metrics), `cleanup` (orchestration),
`handler`.
"""
