output "function_name" {
  description = "Name of the function."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "ARN of the function."
  value       = aws_lambda_function.this.arn
}

output "invoke_arn" {
  description = "Invoke ARN of the function."
  value       = aws_lambda_function.this.invoke_arn
}

output "role_arn" {
  description = "ARN of the function's own execution role."
  value       = aws_iam_role.this.arn
}

output "role_name" {
  description = "Name of the function's own execution role."
  value       = aws_iam_role.this.name
}

output "log_group_name" {
  description = "Name of the function's log group."
  value       = aws_cloudwatch_log_group.this.name
}

output "dlq_arn" {
  description = "ARN of the function's dead-letter queue."
  value       = aws_sqs_queue.dlq.arn
}

output "dlq_url" {
  description = "URL of the function's dead-letter queue."
  value       = aws_sqs_queue.dlq.id
}

output "alarm_arns" {
  description = "ARNs of the function's alarms, by kind."
  value = {
    error_rate   = aws_cloudwatch_metric_alarm.error_rate.arn
    duration     = aws_cloudwatch_metric_alarm.duration.arn
    throttles    = aws_cloudwatch_metric_alarm.throttles.arn
    dlq_messages = aws_cloudwatch_metric_alarm.dlq_messages.arn
  }
}
