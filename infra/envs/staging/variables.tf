variable "region" {
  description = "Home Region of the environment (registry, topic, functions, state machines)."
  type        = string
}

variable "regions" {
  description = "Fleet Regions (REGIONS). Empty: the home Region only."
  type        = list(string)
  default     = []
}

variable "allowed_account_ids" {
  description = "Account ids Terraform may touch (never committed: pass TF_VAR_allowed_account_ids or an uncommitted *.auto.tfvars)."
  type        = list(string)
  default     = []
}

variable "artifact_bucket_name" {
  description = "Artifact bucket of this environment: promoted zips (<name>/<sha256>.zip) and release manifests (releases/<release_id>/manifest.json). Required to deploy a release."
  type        = string
  default     = null
}

variable "release_manifest_path" {
  description = "Local path of a release manifest (e.g. downloaded by CI, or dist/manifest.json). Deploys that release from the artifact bucket."
  type        = string
  default     = null
}

variable "release_id" {
  description = "Release to deploy: reads releases/<release_id>/manifest.json from the artifact bucket (with release_manifest_path: the local manifest must be that release)."
  type        = string
  default     = null
}

variable "dist_dir" {
  description = "dist/ folder of `./pants package ::` for a developer deploy straight from a local build (used when neither release_manifest_path nor release_id is set). Default: the repository's dist/."
  type        = string
  default     = null
}

variable "statemachines_dir" {
  description = "Folder of the state machine templates. Default: the repository's statemachines/."
  type        = string
  default     = null
}

variable "fleet_tag_key" {
  description = "Tag that names the fleet (FLEET_TAG_KEY)."
  type        = string
  default     = "Fleet"
}

variable "fleet_tag_values" {
  description = "Fleet tag values this environment may change (StringLike patterns)."
  type        = list(string)
  default     = ["*"]
}

variable "vpc_config" {
  description = "Optional VPC placement by function name (private subnets and security groups) for functions that reach private resources."
  type = map(object({
    subnet_ids         = list(string)
    security_group_ids = list(string)
  }))
  default = {}
}

variable "scaling_alarms" {
  description = "CloudWatch alarms that invoke the scaling function (see modules/fleet-ops)."
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
}

variable "route53_zone_ids" {
  description = "Hosted zones the deployment and recovery workflows may change."
  type        = list(string)
  default     = []
}

variable "fleet_instance_role_arns" {
  description = "Instance roles the workflows may pass to EC2 when creating or updating Auto Scaling groups."
  type        = list(string)
  default     = []
}

variable "notification_emails" {
  description = "E-mail subscribers of the notification topic."
  type        = list(string)
  default     = []
}

variable "kms_key_administrator_arns" {
  description = "IAM roles that administer the environment's KMS key."
  type        = list(string)
  default     = []
}

variable "enable_schedules" {
  description = "Whether the EventBridge schedules are enabled."
  type        = bool
  default     = true
}
