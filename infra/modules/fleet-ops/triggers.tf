# ------------------------------------------------------------------------------------------------
# EventBridge schedules (UTC)
# ------------------------------------------------------------------------------------------------
locals {
  schedules = {
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

# fleet-sync: one schedule per fleet Region, every 5 minutes. Each invocation syncs one Region
# (the input transformer adds "regions": [<region>] to the scheduled event), so an invocation's
# CPU and memory follow that Region's fleet, not the whole fleet: 10,000 instances per Region
# stay inside 256 MB and well inside the 5-minute timeout however many Regions there are, the
# Regions run in parallel, and one slow Region cannot starve the others.
resource "aws_cloudwatch_event_rule" "fleet_sync" {
  for_each = toset(local.fleet_regions)

  name                = "${local.name_prefix}-fleet-sync-${each.key}-schedule"
  description         = "fleet-ops ${var.environment}: fleet-sync of ${each.key} every 5 minutes."
  schedule_expression = "rate(5 minutes)"
  state               = var.enable_schedules ? "ENABLED" : "DISABLED"
  tags                = local.tags
}

resource "aws_cloudwatch_event_target" "fleet_sync" {
  for_each = toset(local.fleet_regions)

  rule      = aws_cloudwatch_event_rule.fleet_sync[each.key].name
  target_id = "fleet-sync"
  arn       = module.functions["fleet-sync"].function_arn

  input_transformer {
    input_paths = {
      version     = "$.version"
      id          = "$.id"
      detail_type = "$.detail-type"
      source      = "$.source"
      account     = "$.account"
      time        = "$.time"
      region      = "$.region"
      resources   = "$.resources"
      detail      = "$.detail"
    }
    # Unquoted placeholders insert each value as JSON (strings quoted), so the target receives
    # the scheduled event itself plus the Region it covers.
    input_template = "{\"version\": <version>, \"id\": <id>, \"detail-type\": <detail_type>, \"source\": <source>, \"account\": <account>, \"time\": <time>, \"region\": <region>, \"resources\": <resources>, \"detail\": <detail>, \"regions\": ${jsonencode([each.key])}}"
  }

  retry_policy {
    maximum_retry_attempts       = 2
    maximum_event_age_in_seconds = 300
  }
}

resource "aws_lambda_permission" "fleet_sync_schedule" {
  for_each = toset(local.fleet_regions)

  statement_id   = "AllowEventBridgeSchedule-${each.key}"
  action         = "lambda:InvokeFunction"
  function_name  = module.functions["fleet-sync"].function_name
  principal      = "events.amazonaws.com"
  source_arn     = aws_cloudwatch_event_rule.fleet_sync[each.key].arn
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
