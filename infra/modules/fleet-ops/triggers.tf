# ------------------------------------------------------------------------------------------------
# EventBridge schedules (UTC)
# ------------------------------------------------------------------------------------------------
locals {
  schedules = {
    "fleet-sync" = {
      expression  = "rate(5 minutes)"
      description = "fleet-sync every 5 minutes"
      max_age     = 300
    }
    "health-check" = {
      expression  = "rate(1 minute)"
      description = "health-check every minute"
      max_age     = 60
    }
    "backup" = {
      expression  = "cron(0 2 * * ? *)"
      description = "backup daily at 02:00 UTC"
      max_age     = 3600
    }
    "cleanup" = {
      expression  = "cron(0 3 * * ? *)"
      description = "cleanup daily at 03:00 UTC"
      max_age     = 3600
    }
  }
}

resource "aws_cloudwatch_event_rule" "schedule" {
  for_each = local.schedules

  name                = "${local.name_prefix}-${each.key}-schedule"
  description         = "fleet-ops ${var.environment}: ${each.value.description}."
  schedule_expression = each.value.expression
  state               = var.enable_schedules ? "ENABLED" : "DISABLED"
  tags                = local.tags
}

resource "aws_cloudwatch_event_target" "schedule" {
  for_each = local.schedules

  rule      = aws_cloudwatch_event_rule.schedule[each.key].name
  target_id = each.key
  arn       = module.functions[each.key].function_arn

  retry_policy {
    maximum_retry_attempts       = 2
    maximum_event_age_in_seconds = each.value.max_age
  }
}

resource "aws_lambda_permission" "schedule" {
  for_each = local.schedules

  statement_id   = "AllowEventBridgeSchedule"
  action         = "lambda:InvokeFunction"
  function_name  = module.functions[each.key].function_name
  principal      = "events.amazonaws.com"
  source_arn     = aws_cloudwatch_event_rule.schedule[each.key].arn
  source_account = local.account_id
}

# ------------------------------------------------------------------------------------------------
# CloudWatch alarms whose actions invoke the scaling function (ALARM and OK transitions)
# ------------------------------------------------------------------------------------------------
resource "aws_cloudwatch_metric_alarm" "scaling" {
  for_each = var.scaling_alarms

  alarm_name          = "${local.name_prefix}-scaling-${each.key}"
  alarm_description   = each.value.description
  namespace           = each.value.namespace
  metric_name         = each.value.metric_name
  statistic           = each.value.statistic
  dimensions          = each.value.dimensions
  comparison_operator = each.value.comparison_operator
  threshold           = each.value.threshold
  period              = each.value.period
  evaluation_periods  = each.value.evaluation_periods
  datapoints_to_alarm = each.value.datapoints_to_alarm
  treat_missing_data  = "missing"
  alarm_actions       = [module.functions["scaling"].function_arn]
  ok_actions          = [module.functions["scaling"].function_arn]
  tags                = local.tags
}

resource "aws_lambda_permission" "scaling_alarm" {
  for_each = var.scaling_alarms

  statement_id   = "AllowCloudWatchAlarm-${each.key}"
  action         = "lambda:InvokeFunction"
  function_name  = module.functions["scaling"].function_name
  principal      = "lambda.alarms.cloudwatch.amazonaws.com"
  source_arn     = aws_cloudwatch_metric_alarm.scaling[each.key].arn
  source_account = local.account_id
}
