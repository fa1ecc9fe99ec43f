variable "function_name" {
  description = "Name of the Lambda function; also names its IAM role (<name>-role), log group (/aws/lambda/<name>), dead-letter queue (<name>-dlq) and alarms."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,59}$", var.function_name))
    error_message = "function_name must be 1-59 letters, digits, '-' or '_' (the role name adds '-role', IAM allows 64)."
  }
}

variable "description" {
  description = "Description of the function."
  type        = string
  default     = ""
}

variable "runtime" {
  description = "Lambda runtime of the artifact: python3.11 or provided.al2023."
  type        = string

  validation {
    condition     = contains(["python3.11", "provided.al2023"], var.runtime)
    error_message = "runtime must be python3.11 or provided.al2023 (the runtimes ./pants package :: builds for)."
  }
}

variable "handler" {
  description = "Handler of the artifact: lambda_function.handler for the Python zips, bootstrap for provided.al2023."
  type        = string

  validation {
    condition     = length(var.handler) > 0
    error_message = "handler must not be empty."
  }
}

variable "architectures" {
  description = "Instruction set of the artifact."
  type        = list(string)
  default     = ["x86_64"]

  validation {
    condition     = length(var.architectures) == 1 && alltrue([for a in var.architectures : contains(["x86_64", "arm64"], a)])
    error_message = "architectures must be exactly one of x86_64 or arm64."
  }
}

variable "memory_size" {
  description = "Memory in MB."
  type        = number

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240 && floor(var.memory_size) == var.memory_size
    error_message = "memory_size must be a whole number of MB between 128 and 10240."
  }
}

variable "timeout" {
  description = "Timeout in seconds (the duration alarm fires at alarm_duration_percent_of_timeout of it)."
  type        = number

  validation {
    condition     = var.timeout >= 1 && var.timeout <= 900 && floor(var.timeout) == var.timeout
    error_message = "timeout must be a whole number of seconds between 1 and 900."
  }
}

variable "artifact" {
  description = "The deployment package: either s3_bucket + s3_key (a promoted artifact, from the release manifest) or filename (a local zip of ./pants package ::), and always source_code_hash, the base64 sha256 of the zip, so an unchanged artifact never redeploys."
  type = object({
    s3_bucket        = optional(string)
    s3_key           = optional(string)
    filename         = optional(string)
    source_code_hash = string
  })

  validation {
    condition     = var.artifact.filename != null ? (var.artifact.s3_bucket == null && var.artifact.s3_key == null) : (var.artifact.s3_bucket != null && var.artifact.s3_key != null)
    error_message = "artifact takes either filename, or s3_bucket and s3_key, not both."
  }

  validation {
    condition     = can(regex("^[A-Za-z0-9+/]{43}=$", var.artifact.source_code_hash))
    error_message = "artifact.source_code_hash must be the base64 sha256 of the zip (filebase64sha256, or sha256_base64 of the release manifest)."
  }
}

variable "environment_variables" {
  description = "Environment variables of the function (encrypted at rest with kms_key_arn). Never secrets: keys that look like credentials are rejected."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.environment_variables) : can(regex("^[A-Z][A-Z0-9_]*$", k)) && !can(regex("(SECRET|PASSWORD|PASSWD|TOKEN|PRIVATE_KEY|ACCESS_KEY|CREDENTIAL)", k)) && !startswith(k, "AWS_")])
    error_message = "Environment variable names are UPPER_SNAKE_CASE, never secrets (SECRET, PASSWORD, TOKEN, ...), and never AWS_* (reserved by Lambda; AWS_ENDPOINT_URL is for tests only)."
  }
}

variable "kms_key_arn" {
  description = "ARN of the customer managed KMS key that encrypts the environment variables, the log group and the dead-letter queue."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "log_retention_in_days" {
  description = "Retention of the function's log group."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_in_days)
    error_message = "log_retention_in_days must be a retention CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ... 3653); never 0 (forever)."
  }
}

variable "reserved_concurrent_executions" {
  description = "Reserved concurrency of the function (a cap and a guarantee)."
  type        = number

  validation {
    condition     = var.reserved_concurrent_executions >= 1 && floor(var.reserved_concurrent_executions) == var.reserved_concurrent_executions
    error_message = "reserved_concurrent_executions must be a whole number >= 1 (0 would throttle every invocation)."
  }
}

variable "policy_statements" {
  description = "The function's own IAM statements (least privilege: specific actions on specific resources), added to the ones the module always grants (own log group, X-Ray, own DLQ, the KMS key)."
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

variable "vpc_subnet_ids" {
  description = "Private subnets, for a function that reaches private resources. Empty: the function runs outside any VPC (it only calls AWS APIs)."
  type        = list(string)
  default     = []
}

variable "vpc_security_group_ids" {
  description = "Security groups of the function's network interfaces (required with vpc_subnet_ids)."
  type        = list(string)
  default     = []
}

variable "alarm_topic_arn" {
  description = "SNS topic that the function's alarms notify (alarm and OK)."
  type        = string
}

variable "alarm_error_rate_percent" {
  description = "The error-rate alarm fires when Errors / Invocations exceeds this percentage over a period."
  type        = number
  default     = 5
}

variable "alarm_duration_percent_of_timeout" {
  description = "The duration alarm fires when the maximum duration in a period exceeds this percentage of the timeout."
  type        = number
  default     = 80

  validation {
    condition     = var.alarm_duration_percent_of_timeout > 0 && var.alarm_duration_percent_of_timeout < 100
    error_message = "alarm_duration_percent_of_timeout must be between 0 and 100."
  }
}

variable "alarm_period_seconds" {
  description = "Period of the function's alarms."
  type        = number
  default     = 300
}

variable "alarm_evaluation_periods" {
  description = "Number of periods an alarm condition must hold before the alarm fires."
  type        = number
  default     = 1
}

variable "dlq_message_retention_seconds" {
  description = "How long failed asynchronous events stay in the dead-letter queue."
  type        = number
  default     = 1209600
}

variable "maximum_retry_attempts" {
  description = "Retries of a failed asynchronous invocation before the event goes to the dead-letter queue."
  type        = number
  default     = 2

  validation {
    condition     = contains([0, 1, 2], var.maximum_retry_attempts)
    error_message = "maximum_retry_attempts must be 0, 1 or 2."
  }
}

variable "maximum_event_age_in_seconds" {
  description = "Maximum age of an asynchronous event before it goes to the dead-letter queue."
  type        = number
  default     = 3600

  validation {
    condition     = var.maximum_event_age_in_seconds >= 60 && var.maximum_event_age_in_seconds <= 21600
    error_message = "maximum_event_age_in_seconds must be between 60 and 21600."
  }
}

variable "code_signing_config_arn" {
  description = "Optional Lambda code signing configuration (the artifacts are already pinned by sha256 through source_code_hash)."
  type        = string
  default     = null
}

variable "role_permissions_boundary_arn" {
  description = "Optional permissions boundary of the function's role."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags of every resource of the module."
  type        = map(string)
  default     = {}
}
