output "functions" {
  description = "Per function: name, ARN, role ARN, log group, dead-letter queue ARN."
  value = {
    for name, f in module.functions : name => {
      function_name  = f.function_name
      function_arn   = f.function_arn
      role_arn       = f.role_arn
      log_group_name = f.log_group_name
      dlq_arn        = f.dlq_arn
    }
  }
}

output "state_machines" {
  description = "Per state machine: name, ARN, role ARN, log group."
  value = {
    for name, sm in module.state_machines : name => {
      name           = sm.name
      arn            = sm.arn
      role_arn       = sm.role_arn
      log_group_name = sm.log_group_name
    }
  }
}

output "registry_table_name" {
  description = "Registry table (DDB_TABLE)."
  value       = module.core.registry_table_name
}

output "notification_topic_arn" {
  description = "Notification topic (SNS_TOPIC)."
  value       = module.core.notification_topic_arn
}

output "backup_bucket_name" {
  description = "Backup bucket (BACKUP_BUCKET)."
  value       = module.core.backup_bucket_name
}

output "kms_key_arn" {
  description = "The environment's KMS key."
  value       = module.core.kms_key_arn
}

output "artifact_location" {
  description = "Where promoted artifacts and release manifests live."
  value       = module.core.artifact_location
}

output "scaling_alarm_names" {
  description = "Names of the alarms that invoke the scaling function (registry policy keys ALARM#<name>)."
  value       = [for a in aws_cloudwatch_metric_alarm.scaling : a.alarm_name]
}
