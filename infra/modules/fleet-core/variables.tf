variable "name_prefix" {
  description = "Prefix of every name, e.g. fleetops-dev. The registry table is <name_prefix>-registry (restore may only create tables named fleetops-*)."
  type        = string

  validation {
    condition     = can(regex("^fleetops-[a-z0-9]{1,10}$", var.name_prefix))
    error_message = "name_prefix must look like fleetops-<environment> (lower-case letters and digits, at most 10 after the dash, so bucket names fit in 63 characters)."
  }
}

variable "backup_retention_days" {
  description = "Days a backup object is kept in the backup bucket (current version); noncurrent versions are kept backup_noncurrent_retention_days more."
  type        = number
  default     = 35

  validation {
    condition     = var.backup_retention_days >= 1
    error_message = "backup_retention_days must be at least 1."
  }
}

variable "backup_noncurrent_retention_days" {
  description = "Days a replaced or deleted backup object version is kept."
  type        = number
  default     = 7

  validation {
    condition     = var.backup_noncurrent_retention_days >= 1
    error_message = "backup_noncurrent_retention_days must be at least 1."
  }
}

variable "access_log_retention_days" {
  description = "Days S3 server access logs are kept."
  type        = number
  default     = 365
}

variable "registry_deletion_protection" {
  description = "Deletion protection of the registry table (keep true outside throw-away environments)."
  type        = bool
  default     = true
}

variable "force_destroy_buckets" {
  description = "Let `terraform destroy` delete non-empty buckets (dev only)."
  type        = bool
  default     = false
}

variable "kms_deletion_window_in_days" {
  description = "Waiting period before the KMS key is deleted after a destroy."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_deletion_window_in_days >= 7 && var.kms_deletion_window_in_days <= 30
    error_message = "kms_deletion_window_in_days must be between 7 and 30."
  }
}

variable "kms_key_administrator_arns" {
  description = "IAM principals (roles) that administer the KMS key, in addition to the account (whose IAM policies decide who may use it)."
  type        = list(string)
  default     = []
}

variable "notification_emails" {
  description = "E-mail addresses subscribed to the notification topic (each must confirm). Empty: subscribe elsewhere (chat, paging)."
  type        = list(string)
  default     = []
}

variable "artifact_bucket_name" {
  description = "Artifact bucket the promoted zips and release manifests live in (<name>/<sha256>.zip, releases/<release_id>/manifest.json). Null: no artifact bucket (local dist/ deploys only)."
  type        = string
  default     = null
}

variable "create_artifact_bucket" {
  description = "Create artifact_bucket_name here (hardened like the backup bucket). False: it already exists (usually one per account, owned by the release pipeline)."
  type        = bool
  default     = false
}

variable "artifact_noncurrent_retention_days" {
  description = "Days a replaced artifact object version is kept (created artifact bucket only)."
  type        = number
  default     = 90
}

variable "tags" {
  description = "Tags of every resource of the module."
  type        = map(string)
  default     = {}
}
