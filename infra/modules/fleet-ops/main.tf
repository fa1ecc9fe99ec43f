data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  name_prefix = "fleetops-${var.environment}"
  partition   = data.aws_partition.current.partition
  region      = data.aws_region.current.name
  account_id  = data.aws_caller_identity.current.account_id

  fleet_regions = length(var.regions) > 0 ? var.regions : [local.region]

  tags = merge(var.tags, {
    Project     = "fleet-ops"
    Environment = var.environment
    ManagedBy   = "terraform"
  })

  # State machine ARNs are built from their names, so that functions and other state machines can
  # refer to them without a dependency cycle (health-check starts recovery; deployment and
  # maintenance start recovery; recovery's template may name itself).
  state_machine_names = {
    for name in ["deployment", "recovery", "maintenance"] : name => "${local.name_prefix}-${name}"
  }
  state_machine_arns = {
    for name, full in local.state_machine_names : name => "arn:${local.partition}:states:${local.region}:${local.account_id}:stateMachine:${full}"
  }
}

# ------------------------------------------------------------------------------------------------
# Fleet core: KMS key, registry table, notification topic, backup bucket, artifact location
# ------------------------------------------------------------------------------------------------
module "core" {
  source = "../fleet-core"

  name_prefix                      = local.name_prefix
  backup_retention_days            = var.backup_retention_days
  backup_noncurrent_retention_days = var.backup_noncurrent_retention_days
  registry_deletion_protection     = var.registry_deletion_protection
  force_destroy_buckets            = var.force_destroy_buckets
  notification_emails              = var.notification_emails
  artifact_bucket_name             = var.artifact_bucket_name
  create_artifact_bucket           = var.create_artifact_bucket
  kms_key_administrator_arns       = var.kms_key_administrator_arns
  tags                             = local.tags
}

# ------------------------------------------------------------------------------------------------
# Functions: fleet-sync, health-check, scaling, backup, cleanup, and the workflow task functions
# (workflow-tasks, restore). Each has its own role, log group, DLQ and alarms (lambda-function).
# ------------------------------------------------------------------------------------------------
locals {
  default_reserved_concurrency = {
    # one invocation per fleet Region runs every 5 minutes (triggers.tf); regions = [] means the home Region
    "fleet-sync"     = length(local.fleet_regions)
    "health-check"   = 2
    "scaling"        = 5
    "backup"         = 1
    "restore"        = 1
    "cleanup"        = 1
    "workflow-tasks" = 10
  }
  reserved_concurrency = merge(local.default_reserved_concurrency, var.reserved_concurrency)

  # docs/CONVENTIONS.md, "Environment variables". No secrets: the module rejects secret-like names.
  common_environment = {
    ENVIRONMENT                  = var.environment
    LOG_LEVEL                    = var.log_level
    REGION                       = local.region
    DDB_TABLE                    = module.core.registry_table_name
    SNS_TOPIC                    = module.core.notification_topic_arn
    REGIONS                      = join(",", local.fleet_regions)
    FLEET_TAG_KEY                = var.fleet_tag_key
    DRY_RUN                      = tostring(var.dry_run)
    POWERTOOLS_METRICS_NAMESPACE = "FleetOps"
  }
}

module "functions" {
  source   = "../lambda-function"
  for_each = local.functions

  function_name                  = "${local.name_prefix}-${each.key}"
  description                    = each.value.description
  runtime                        = var.artifacts[each.key].runtime
  handler                        = var.artifacts[each.key].handler
  architectures                  = var.artifacts[each.key].architectures
  memory_size                    = each.value.memory_size
  timeout                        = each.value.timeout
  reserved_concurrent_executions = local.reserved_concurrency[each.key]

  artifact = {
    s3_bucket        = var.artifacts[each.key].s3_bucket
    s3_key           = var.artifacts[each.key].s3_key
    filename         = var.artifacts[each.key].filename
    source_code_hash = var.artifacts[each.key].source_code_hash
  }

  environment_variables = merge(local.common_environment, { POWERTOOLS_SERVICE_NAME = each.key }, each.value.environment)
  policy_statements     = each.value.policy_statements
  kms_key_arn           = module.core.kms_key_arn
  log_retention_in_days = var.log_retention_in_days

  vpc_subnet_ids         = try(var.vpc_config[each.key].subnet_ids, [])
  vpc_security_group_ids = try(var.vpc_config[each.key].security_group_ids, [])

  alarm_topic_arn                   = module.core.notification_topic_arn
  alarm_error_rate_percent          = var.alarm_error_rate_percent
  alarm_duration_percent_of_timeout = var.alarm_duration_percent_of_timeout

  tags = merge(local.tags, { Function = each.key })
}

# ------------------------------------------------------------------------------------------------
# State machines (statemachines/*.asl.json, ARNs substituted), logging to CloudWatch Logs, X-Ray on
# ------------------------------------------------------------------------------------------------
locals {
  state_machine_template_variables = {
    workflow_tasks_function_arn = module.functions["workflow-tasks"].function_arn
    restore_function_arn        = module.functions["restore"].function_arn
    registry_table_name         = module.core.registry_table_name
    registry_table_arn          = module.core.registry_table_arn
    notification_topic_arn      = module.core.notification_topic_arn
    recovery_state_machine_arn  = local.state_machine_arns["recovery"]
  }
}

module "state_machines" {
  source   = "../state-machine"
  for_each = local.state_machine_capabilities

  name                     = local.state_machine_names[each.key]
  definition_template_path = "${var.statemachines_dir}/${each.key}.asl.json"
  definition_variables     = local.state_machine_template_variables
  policy_statements        = flatten([for capability in each.value : local.state_machine_statements[capability]])
  kms_key_arn              = module.core.kms_key_arn
  log_retention_in_days    = var.log_retention_in_days
  alarm_topic_arn          = module.core.notification_topic_arn
  tags                     = merge(local.tags, { StateMachine = each.key })
}
