variable "name" {
  description = "Name of the state machine; also names its role (<name>-sfn-role), log group (/aws/vendedlogs/states/<name>) and alarms."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,55}$", var.name))
    error_message = "name must be 1-55 letters, digits, '-' or '_' (the role name adds '-sfn-role', IAM allows 64)."
  }
}

variable "definition_template_path" {
  description = "Path of the Amazon States Language template (statemachines/<name>.asl.json), rendered with templatefile() and definition_variables."
  type        = string
}

variable "definition_variables" {
  description = "Values substituted into the template: ARNs and names such as workflow_tasks_function_arn, restore_function_arn, registry_table_name, registry_table_arn, notification_topic_arn, recovery_state_machine_arn."
  type        = map(string)
  default     = {}
}

variable "type" {
  description = "STANDARD or EXPRESS."
  type        = string
  default     = "STANDARD"

  validation {
    condition     = contains(["STANDARD", "EXPRESS"], var.type)
    error_message = "type must be STANDARD or EXPRESS."
  }
}

variable "policy_statements" {
  description = "The state machine's IAM statements (the services its tasks call), added to the ones the module always grants (log delivery, X-Ray)."
  type = list(object({
    sid       = string
    effect    = optional(string, "Allow")
    actions   = list(string)
    resources = list(string)
    conditions = optional(list(object({
      test     = string
      variable = string
      values   = list(string)
    })), [])
  }))
  default = []

  validation {
    condition     = alltrue([for s in var.policy_statements : alltrue([for a in s.actions : !strcontains(a, "*")])])
    error_message = "IAM actions must be named one by one: no '*' in an action."
  }

  validation {
    condition     = alltrue([for s in var.policy_statements : can(regex("^[A-Za-z0-9]+$", s.sid)) && length(s.actions) > 0 && length(s.resources) > 0])
    error_message = "Every statement needs an alphanumeric sid, at least one action and at least one resource."
  }
}

variable "kms_key_arn" {
  description = "ARN of the customer managed KMS key that encrypts the log group."
  type        = string
}

variable "log_retention_in_days" {
  description = "Retention of the state machine's log group."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_in_days)
    error_message = "log_retention_in_days must be a retention CloudWatch Logs accepts; never 0 (forever)."
  }
}

variable "log_level" {
  description = "Execution history logged to CloudWatch Logs: ALL, ERROR or FATAL."
  type        = string
  default     = "ALL"

  validation {
    condition     = contains(["ALL", "ERROR", "FATAL"], var.log_level)
    error_message = "log_level must be ALL, ERROR or FATAL."
  }
}

variable "log_include_execution_data" {
  description = "Whether logs include execution input and output (registry items, no secrets)."
  type        = bool
  default     = true
}

variable "alarm_topic_arn" {
  description = "SNS topic that the state machine's alarms notify."
  type        = string
}

variable "alarm_period_seconds" {
  description = "Period of the state machine's alarms."
  type        = number
  default     = 300
}

variable "tags" {
  description = "Tags of every resource of the module."
  type        = map(string)
  default     = {}
}
