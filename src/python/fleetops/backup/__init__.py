"""backup and restore: the fleet registry and fleet configuration, to S3 and back.

Two Lambdas share this package:

- backup (`handler.handler`, daily 02:00; 512 MB; 15 min): streams the registry table and each
  region's fleet configuration into gzip JSON Lines objects with an S3 multipart upload, writes
  a manifest last, reads everything back against the manifest and only then marks the backup
  verified.
- restore (`restore_handler.handler`, called by the recovery workflow or by hand): validates a
  whole backup before its first write, then puts its items into the registry or a new table.

Modules: `config` (variables), `layout` (S3 keys, backup ids, registry keys), `ddbjson` (the
line format), `s3store` (the bucket: SSE-KMS puts, multipart sink, streaming reads), `export`
(streaming writers and the registry / configuration exports), `manifest` (the manifest model),
`verify` (read-back checks), `index` (the backup catalogue in the registry), `backup`
(orchestration), `restore` (validation and restore), `request` (accepted events), `report`
(results and metrics), `errors`.
"""
