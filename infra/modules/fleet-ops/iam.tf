# IAM statements of the functions and state machines: specific actions on specific resources.
# A resource of "*" appears only where the AWS API has no resource-level permission, each time with
# a comment that says so. Mutating fleet actions are limited to resources carrying the fleet tag.
locals {
  registry_arn = module.core.registry_table_arn
  topic_arn    = module.core.notification_topic_arn
  kms_key_arn  = module.core.kms_key_arn
  backup_arn   = module.core.backup_bucket_arn

  asg_arns = [for r in local.fleet_regions : "arn:${local.partition}:autoscaling:${r}:${local.account_id}:autoScalingGroup:*:autoScalingGroupName/*"]

  # EC2 resources owned by the account, and the two kinds whose ARNs carry no account (snapshot, image).
  ec2_arns = {
    for kind in ["instance", "volume", "network-interface", "launch-template", "subnet", "security-group", "key-pair"] :
    kind => [for r in local.fleet_regions : "arn:${local.partition}:ec2:${r}:${local.account_id}:${kind}/*"]
  }
  ec2_accountless_arns = {
    for kind in ["snapshot", "image"] :
    kind => [for r in local.fleet_regions : "arn:${local.partition}:ec2:${r}::${kind}/*"]
  }
  elb_arns = {
    for kind in ["listener", "listener-rule", "targetgroup"] :
    kind => [for r in local.fleet_regions : "arn:${local.partition}:elasticloadbalancing:${r}:${local.account_id}:${kind}/*"]
  }

  # Only resources that carry the fleet tag (with an allowed value).
  fleet_tagged = [{
    test     = "StringLike"
    variable = "aws:ResourceTag/${var.fleet_tag_key}"
    values   = var.fleet_tag_values
  }]

  notify = [{
    sid       = "PublishNotifications"
    actions   = ["sns:Publish"]
    resources = [local.topic_arn]
  }]

  # ----------------------------------------------------------------------------------------------
  # State machines: one list of statements per capability; each state machine gets the
  # capabilities its tasks use (state_machine_capabilities).
  # ----------------------------------------------------------------------------------------------
  state_machine_statements = {
    invoke_workflow_tasks = [{
      sid       = "InvokeWorkflowTasks"
      actions   = ["lambda:InvokeFunction"]
      resources = [module.functions["workflow-tasks"].function_arn, "${module.functions["workflow-tasks"].function_arn}:*"]
    }]

    invoke_restore = [{
      sid       = "InvokeRestore"
      actions   = ["lambda:InvokeFunction"]
      resources = [module.functions["restore"].function_arn, "${module.functions["restore"].function_arn}:*"]
    }]

    registry = [{
      sid       = "RegistryItems"
      actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]
      resources = [local.registry_arn]
    }]

    notify = [
      {
        sid       = "PublishNotifications"
        actions   = ["sns:Publish"]
        resources = [local.topic_arn]
      },
      {
        sid       = "EncryptNotifications"
        actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
        resources = [local.kms_key_arn]
      },
    ]

    autoscaling = concat(
      [
        {
          sid     = "DescribeAutoScaling"
          actions = ["autoscaling:DescribeAutoScalingGroups", "ec2:DescribeLaunchTemplates", "ec2:DescribeLaunchTemplateVersions"]
          # Auto Scaling and EC2 Describe* APIs have no resource-level permissions: "*" is the only resource.
          resources = ["*"]
        },
        {
          sid        = "ChangeFleetGroups"
          actions    = ["autoscaling:UpdateAutoScalingGroup", "autoscaling:DeleteAutoScalingGroup", "autoscaling:SetDesiredCapacity", "autoscaling:EnterStandby", "autoscaling:ExitStandby"]
          resources  = local.asg_arns
          conditions = local.fleet_tagged
        },
        {
          sid       = "CreateFleetGroups"
          actions   = ["autoscaling:CreateAutoScalingGroup", "autoscaling:CreateOrUpdateTags"]
          resources = local.asg_arns
          conditions = [{
            test     = "StringLike"
            variable = "aws:RequestTag/${var.fleet_tag_key}"
            values   = var.fleet_tag_values
          }]
        },
        {
          # Auto Scaling checks that the caller may launch from the group's launch template.
          sid     = "LaunchFromLaunchTemplates"
          actions = ["ec2:RunInstances", "ec2:CreateTags"]
          resources = concat(
            local.ec2_arns["instance"], local.ec2_arns["volume"], local.ec2_arns["network-interface"],
            local.ec2_arns["launch-template"], local.ec2_arns["subnet"], local.ec2_arns["security-group"],
            local.ec2_arns["key-pair"], local.ec2_accountless_arns["image"],
          )
          conditions = [{
            test     = "ArnLike"
            variable = "ec2:LaunchTemplate"
            values   = local.ec2_arns["launch-template"]
          }]
        },
      ],
      length(var.fleet_instance_role_arns) == 0 ? [] : [{
        sid       = "PassFleetInstanceRoles"
        actions   = ["iam:PassRole"]
        resources = var.fleet_instance_role_arns
        conditions = [{
          test     = "StringEquals"
          variable = "iam:PassedToService"
          values   = ["ec2.amazonaws.com"]
        }]
      }],
    )

    load_balancing = [
      {
        sid        = "ShiftFleetTraffic"
        actions    = ["elasticloadbalancing:ModifyListener", "elasticloadbalancing:ModifyRule", "elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"]
        resources  = concat(local.elb_arns["listener"], local.elb_arns["listener-rule"], local.elb_arns["targetgroup"])
        conditions = local.fleet_tagged
      },
      {
        sid     = "DescribeTargetHealth"
        actions = ["elasticloadbalancing:DescribeTargetHealth"]
        # Elastic Load Balancing Describe* APIs have no resource-level permissions: "*" is the only resource.
        resources = ["*"]
      },
    ]

    commands = [
      {
        sid     = "RunFleetDocuments"
        actions = ["ssm:SendCommand"]
        resources = flatten([
          for r in local.fleet_regions : [
            for d in var.ssm_document_names :
            startswith(d, "AWS-") ? "arn:${local.partition}:ssm:${r}::document/${d}" : "arn:${local.partition}:ssm:${r}:${local.account_id}:document/${d}"
          ]
        ])
      },
      {
        sid       = "RunOnFleetInstances"
        actions   = ["ssm:SendCommand"]
        resources = local.ec2_arns["instance"]
        conditions = [{
          test     = "StringLike"
          variable = "ssm:resourceTag/${var.fleet_tag_key}"
          values   = var.fleet_tag_values
        }]
      },
      {
        sid     = "ReadCommandResults"
        actions = ["ssm:GetCommandInvocation", "ssm:ListCommands"]
        # Neither ssm:GetCommandInvocation nor ssm:ListCommands has resource-level permissions:
        # "*" is the only resource.
        resources = ["*"]
      },
    ]

    dns = length(var.route53_zone_ids) == 0 ? [] : [{
      sid       = "ChangeFleetRecords"
      actions   = ["route53:ChangeResourceRecordSets"]
      resources = [for z in var.route53_zone_ids : "arn:${local.partition}:route53:::hostedzone/${z}"]
    }]

    alarms = [{
      sid       = "ReadAlarms"
      actions   = ["cloudwatch:DescribeAlarms"]
      resources = [for r in local.fleet_regions : "arn:${local.partition}:cloudwatch:${r}:${local.account_id}:alarm:*"]
    }]

    start_recovery = [
      {
        sid       = "StartRecovery"
        actions   = ["states:StartExecution"]
        resources = [local.state_machine_arns["recovery"]]
      },
      {
        # For the .sync integration: follow and stop the recovery execution it started.
        sid       = "FollowRecovery"
        actions   = ["states:DescribeExecution", "states:StopExecution"]
        resources = ["arn:${local.partition}:states:${local.region}:${local.account_id}:execution:${local.state_machine_names["recovery"]}:*"]
      },
      {
        # The managed rule Step Functions uses to learn that a .sync child execution finished.
        sid       = "SyncExecutionEvents"
        actions   = ["events:PutTargets", "events:PutRule", "events:DescribeRule"]
        resources = ["arn:${local.partition}:events:${local.region}:${local.account_id}:rule/StepFunctionsGetEventsForStepFunctionsExecutionRule"]
      },
    ]
  }

  # Which capabilities each state machine's tasks use.
  state_machine_capabilities = {
    deployment  = ["invoke_workflow_tasks", "registry", "notify", "autoscaling", "load_balancing", "commands", "dns", "alarms", "start_recovery"]
    recovery    = ["invoke_workflow_tasks", "invoke_restore", "registry", "notify", "autoscaling", "load_balancing", "commands", "dns", "alarms"]
    maintenance = ["invoke_workflow_tasks", "registry", "notify", "autoscaling", "load_balancing", "commands", "alarms", "start_recovery"]
  }
}
