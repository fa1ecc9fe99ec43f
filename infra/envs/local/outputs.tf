output "release" {
  description = "What was deployed: mode (manifest or dist), release_id and git_commit."
  value = {
    mode       = module.release.mode
    release_id = module.release.release_id
    git_commit = module.release.git_commit
  }
}

output "functions" {
  description = "Functions of the environment."
  value       = module.fleet_ops.functions
}

output "state_machines" {
  description = "State machines of the environment."
  value       = module.fleet_ops.state_machines
}

output "registry_table_name" {
  description = "Registry table."
  value       = module.fleet_ops.registry_table_name
}

output "notification_topic_arn" {
  description = "Notification topic."
  value       = module.fleet_ops.notification_topic_arn
}

output "backup_bucket_name" {
  description = "Backup bucket."
  value       = module.fleet_ops.backup_bucket_name
}

output "kms_key_arn" {
  description = "The environment's KMS key."
  value       = module.fleet_ops.kms_key_arn
}

output "scaling_alarm_names" {
  description = "Alarms that invoke the scaling function."
  value       = module.fleet_ops.scaling_alarm_names
}

output "region" {
  description = "Home Region."
  value       = var.region
}

output "regions" {
  description = "Fleet Regions."
  value       = var.regions
}
