variable "environment" {
  description = "Environment name (ENVIRONMENT of every function): dev, staging or prod. Names are fleetops-<environment>-..."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be dev, staging or prod."
  }
}

variable "artifacts" {
  description = "The deployment packages, by artifact name (output `artifacts` of the release-artifacts module): s3_bucket + s3_key or filename, source_code_hash, runtime, handler, architectures."
  type = map(object({
    s3_bucket        = optional(string)
    s3_key           = optional(string)
    filename         = optional(string)
    source_code_hash = string
    runtime          = string
    handler          = string
    architectures    = list(string)
  }))

  validation {
    condition     = length(setsubtract(["fleet-sync", "health-check", "backup", "restore", "cleanup", "workflow-tasks", "scaling"], keys(var.artifacts))) == 0
    error_message = "artifacts must contain fleet-sync, health-check, backup, restore, cleanup, workflow-tasks and scaling."
  }
}

variable "statemachines_dir" {
  description = "Folder of the Amazon States Language templates deployment.asl.json, recovery.asl.json and maintenance.asl.json (the repository's statemachines/)."
  type        = string
}

variable "log_level" {
  description = "LOG_LEVEL of every function."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR"], var.log_level)
    error_message = "log_level must be DEBUG, INFO, WARNING or ERROR."
  }
}

variable "log_retention_in_days" {
  description = "Retention of every function and state machine log group."
  type        = number
  default     = 365
}

variable "regions" {
  description = "Fleet Regions (REGIONS). Empty: the home Region only. The registry, topic and functions stay in the home Region (the provider's)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for r in var.regions : can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", r))])
    error_message = "regions must be AWS Region names such as eu-west-1."
  }
}

variable "fleet_tag_key" {
  description = "EC2 / Auto Scaling tag that names the fleet (FLEET_TAG_KEY). Every mutating permission is limited to resources carrying it."
  type        = string
  default     = "Fleet"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.:/=+@-]{1,128}$", var.fleet_tag_key))
    error_message = "fleet_tag_key must be a valid tag key."
  }
}

variable "fleet_tag_values" {
  description = "Fleet tag values the system may change (StringLike patterns). [\"*\"]: any resource that carries the fleet tag."
  type        = list(string)
  default     = ["*"]

  validation {
    condition     = length(var.fleet_tag_values) > 0
    error_message = "fleet_tag_values must not be empty."
  }
}

variable "dry_run" {
  description = "DRY_RUN of every function but cleanup: decide and record, change nothing in the fleet."
  type        = bool
  default     = false
}

variable "cleanup_dry_run" {
  description = "DRY_RUN of the cleanup function (true by default: it deletes volumes, snapshots, images and interfaces)."
  type        = bool
  default     = true
}

variable "reserved_concurrency" {
  description = "Reserved concurrency by function name, overriding the defaults (fleet-sync one per Region, health-check 2, scaling 5, backup 1, restore 1, cleanup 1, workflow-tasks 10)."
  type        = map(number)
  default     = {}

  validation {
    condition     = length(setsubtract(keys(var.reserved_concurrency), ["fleet-sync", "health-check", "backup", "restore", "cleanup", "workflow-tasks", "scaling"])) == 0
    error_message = "reserved_concurrency keys must be function names."
  }
}

variable "vpc_config" {
  description = "Optional VPC placement by function name, for functions that reach private resources: private subnet ids and security group ids."
  type = map(object({
    subnet_ids         = list(string)
    security_group_ids = list(string)
  }))
  default = {}

  validation {
    condition     = length(setsubtract(keys(var.vpc_config), ["fleet-sync", "health-check", "backup", "restore", "cleanup", "workflow-tasks", "scaling"])) == 0 && alltrue([for v in values(var.vpc_config) : length(v.subnet_ids) > 0 && length(v.security_group_ids) > 0])
    error_message = "vpc_config keys must be function names, each with at least one subnet and one security group."
  }
}

variable "enable_schedules" {
  description = "Whether the EventBridge schedules (fleet-sync, health-check, backup, cleanup) are enabled."
  type        = bool
  default     = true
}

variable "scaling_alarms" {
  description = "CloudWatch alarms whose actions invoke the scaling function, by short name (alarm name fleetops-<environment>-scaling-<key>; the scaling policy of an alarm lives in the registry at pk ALARM#<alarm name>)."
  type = map(object({
    description         = optional(string, "")
    namespace           = optional(string, "AWS/EC2")
    metric_name         = string
    statistic           = optional(string, "Average")
    dimensions          = map(string)
    comparison_operator = string
    threshold           = number
    period              = optional(number, 60)
    evaluation_periods  = optional(number, 3)
    datapoints_to_alarm = optional(number)
  }))
  default = {}

  validation {
    condition     = alltrue([for k, a in var.scaling_alarms : can(regex("^[a-z0-9-]{1,40}$", k)) && contains(["GreaterThanOrEqualToThreshold", "GreaterThanThreshold", "LessThanThreshold", "LessThanOrEqualToThreshold"], a.comparison_operator)])
    error_message = "scaling_alarms keys are lower-case kebab-case (at most 40 characters); comparison_operator is one of the four static threshold operators."
  }
}

variable "route53_zone_ids" {
  description = "Hosted zones the deployment and recovery workflows may change records in (route53:ChangeResourceRecordSets). Empty: no DNS permission."
  type        = list(string)
  default     = []
}

variable "ssm_document_names" {
  description = "SSM documents the workflows may run on fleet instances (ssm:SendCommand)."
  type        = list(string)
  default     = ["AWS-RunPatchBaseline", "AWS-RunShellScript"]
}

variable "fleet_instance_role_arns" {
  description = "Instance roles of the fleet's launch templates, which the workflows pass to EC2 when they create or update Auto Scaling groups (iam:PassRole). Empty: no PassRole."
  type        = list(string)
  default     = []
}

variable "backup_retention_days" {
  description = "Days a backup is kept in the backup bucket."
  type        = number
  default     = 35
}

variable "backup_noncurrent_retention_days" {
  description = "Days a replaced or deleted backup version is kept."
  type        = number
  default     = 7
}

variable "registry_deletion_protection" {
  description = "Deletion protection of the registry table."
  type        = bool
  default     = true
}

variable "force_destroy_buckets" {
  description = "Let terraform destroy delete non-empty buckets (dev only)."
  type        = bool
  default     = false
}

variable "notification_emails" {
  description = "E-mail addresses subscribed to the notification topic."
  type        = list(string)
  default     = []
}

variable "artifact_bucket_name" {
  description = "Artifact bucket of promoted zips and release manifests (null: local dist/ deploys only)."
  type        = string
  default     = null
}

variable "create_artifact_bucket" {
  description = "Create artifact_bucket_name in this stack (false: it already exists)."
  type        = bool
  default     = false
}

variable "kms_key_administrator_arns" {
  description = "IAM roles that administer the environment's KMS key."
  type        = list(string)
  default     = []
}

variable "alarm_error_rate_percent" {
  description = "Error-rate alarm threshold of every function (percent of invocations)."
  type        = number
  default     = 5
}

variable "alarm_duration_percent_of_timeout" {
  description = "Duration alarm threshold of every function (percent of its timeout)."
  type        = number
  default     = 80
}

variable "tags" {
  description = "Tags of every resource (added to Project, Environment and ManagedBy)."
  type        = map(string)
  default     = {}
}
