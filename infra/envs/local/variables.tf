variable "endpoint_url" {
  description = "Endpoint of the local AWS (http on loopback)."
  type        = string

  validation {
    condition     = can(regex("^http://(127\\.0\\.0\\.1|localhost):[0-9]+$", var.endpoint_url))
    error_message = "endpoint_url must be the local AWS on loopback, e.g. http://127.0.0.1:4566."
  }
}

variable "local_account_id" {
  description = "The local AWS's account (its /_localaws/health tells; local-aws passes it). The provider refuses any other account."
  type        = string
}

variable "region" {
  description = "Home Region of the environment."
  type        = string
  default     = "eu-west-1"
}

variable "regions" {
  description = "Fleet Regions."
  type        = list(string)
  default     = ["eu-west-1", "us-east-1"]
}

variable "dist_dir" {
  description = "Folder holding lambdas/<name>.zip (default: the repository's dist/)."
  type        = string
  default     = null
}

variable "statemachines_dir" {
  description = "Folder of the state machine templates (default: the repository's statemachines/)."
  type        = string
  default     = null
}

variable "fleet_tag_key" {
  description = "Tag that names the fleet."
  type        = string
  default     = "Fleet"
}

variable "fleet_tag_values" {
  description = "Fleet tag values this environment may change (StringLike patterns)."
  type        = list(string)
  default     = ["*"]
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
  default = {
    "web-cpu-high" = {
      description         = "CPU of the demo web group above 70 %: scale out."
      metric_name         = "CPUUtilization"
      dimensions          = { AutoScalingGroupName = "fleetops-demo-web" }
      comparison_operator = "GreaterThanThreshold"
      threshold           = 70
    }
  }
}

variable "route53_zone_ids" {
  description = "Hosted zones the workflows may change."
  type        = list(string)
  default     = []
}
