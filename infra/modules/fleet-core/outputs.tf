output "kms_key_arn" {
  description = "ARN of the environment's customer managed KMS key."
  value       = aws_kms_key.this.arn
}

output "kms_alias_name" {
  description = "Alias of the KMS key."
  value       = aws_kms_alias.this.name
}

output "registry_table_name" {
  description = "Name of the registry table (DDB_TABLE)."
  value       = aws_dynamodb_table.registry.name
}

output "registry_table_arn" {
  description = "ARN of the registry table."
  value       = aws_dynamodb_table.registry.arn
}

output "notification_topic_arn" {
  description = "ARN of the notification topic (SNS_TOPIC)."
  value       = aws_sns_topic.notifications.arn
}

output "backup_bucket_name" {
  description = "Name of the backup bucket (BACKUP_BUCKET)."
  value       = aws_s3_bucket.backup.id
}

output "backup_bucket_arn" {
  description = "ARN of the backup bucket."
  value       = aws_s3_bucket.backup.arn
}

output "access_log_bucket_name" {
  description = "Name of the bucket that receives the S3 server access logs."
  value       = aws_s3_bucket.access_logs.id
}

output "artifact_location" {
  description = "Where promoted artifacts and release manifests live: bucket, its ARN, the manifest key pattern, and whether this module created the bucket (null bucket: local dist/ deploys only)."
  value = {
    bucket               = var.artifact_bucket_name
    bucket_arn           = local.artifact_bucket_arn
    artifact_key_pattern = "<artifact-name>/<sha256>.zip"
    manifest_key_pattern = "releases/<release_id>/manifest.json"
    created_here         = local.create_artifact_bucket
  }
}
