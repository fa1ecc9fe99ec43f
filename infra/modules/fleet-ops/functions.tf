# The functions of the system: memory and timeout from the design, extra environment, and each
# function's own least-privilege statements (the lambda-function module adds its log group, X-Ray,
# its DLQ and the KMS key, which also covers the encrypted topic, backup objects and environment).
locals {
  functions = {
    "fleet-sync" = {
      description = "Reconciles the registry with the fleet's instances and Auto Scaling groups in every fleet Region (every 5 minutes)."
      memory_size = 256
      timeout     = 300
      environment = {}
      policy_statements = concat(local.notify, [
        {
          sid     = "DescribeFleet"
          actions = ["ec2:DescribeInstances", "autoscaling:DescribeAutoScalingGroups"]
          # ec2:DescribeInstances and autoscaling:DescribeAutoScalingGroups have no resource-level permissions: "*" is the only resource.
          resources = ["*"]
        },
        {
          sid       = "RegistryReadWrite"
          actions   = ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:ConditionCheckItem"]
          resources = [local.registry_arn]
        },
      ])
    }

    "health-check" = {
      description = "Checks instance and target health, reboots or replaces unhealthy fleet instances and starts recovery (every minute)."
      memory_size = 128
      timeout     = 120
      environment = {
        RECOVERY_STATE_MACHINE_ARN = local.state_machine_arns["recovery"]
      }
      policy_statements = concat(local.notify, [
        {
          sid     = "DescribeHealth"
          actions = ["ec2:DescribeInstanceStatus", "autoscaling:DescribeAutoScalingGroups", "elasticloadbalancing:DescribeTargetHealth"]
          # ec2:DescribeInstanceStatus, autoscaling:DescribeAutoScalingGroups and elasticloadbalancing:DescribeTargetHealth have no resource-level permissions: "*" is the only resource.
          resources = ["*"]
        },
        {
          sid        = "RebootFleetInstances"
          actions    = ["ec2:RebootInstances"]
          resources  = local.ec2_arns["instance"]
          conditions = local.fleet_tagged
        },
        {
          sid        = "MarkFleetInstancesUnhealthy"
          actions    = ["autoscaling:SetInstanceHealth"]
          resources  = local.asg_arns
          conditions = local.fleet_tagged
        },
        {
          sid       = "StartRecovery"
          actions   = ["states:StartExecution"]
          resources = [local.state_machine_arns["recovery"]]
        },
        {
          sid       = "RegistryHealth"
          actions   = ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem", "dynamodb:BatchGetItem"]
          resources = [local.registry_arn]
        },
      ])
    }

    "scaling" = {
      description = "Turns CloudWatch alarm state changes into Auto Scaling desired-capacity changes, per the registry's scaling policies."
      memory_size = 256
      timeout     = 180
      environment = {}
      policy_statements = concat(local.notify, [
        {
          sid     = "DescribeGroups"
          actions = ["autoscaling:DescribeAutoScalingGroups"]
          # autoscaling:DescribeAutoScalingGroups has no resource-level permissions: "*" is the only resource.
          resources = ["*"]
        },
        {
          sid        = "SetFleetCapacity"
          actions    = ["autoscaling:SetDesiredCapacity"]
          resources  = local.asg_arns
          conditions = local.fleet_tagged
        },
        {
          sid       = "RegistryScaling"
          actions   = ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem"]
          resources = [local.registry_arn]
        },
      ])
    }

    "backup" = {
      description = "Exports the registry and the fleet's Auto Scaling and launch template configuration to the backup bucket (daily 02:00 UTC)."
      memory_size = 512
      timeout     = 900
      environment = {
        BACKUP_BUCKET = module.core.backup_bucket_name
      }
      policy_statements = concat(local.notify, [
        {
          sid       = "ReadRegistry"
          actions   = ["dynamodb:Scan", "dynamodb:Query", "dynamodb:DescribeTable"]
          resources = [local.registry_arn]
        },
        {
          # The backup catalogue (pk BACKUP): claim, finish and re-register a backup.
          sid       = "BackupCatalogue"
          actions   = ["dynamodb:GetItem", "dynamodb:UpdateItem"]
          resources = [local.registry_arn]
        },
        {
          sid     = "DescribeFleetConfiguration"
          actions = ["autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribePolicies", "ec2:DescribeLaunchTemplates", "ec2:DescribeLaunchTemplateVersions"]
          # Auto Scaling and EC2 Describe* APIs have no resource-level permissions: "*" is the only resource.
          resources = ["*"]
        },
        {
          # Multipart uploads of the export; an interrupted run's parts are aborted (no orphans).
          sid       = "WriteBackups"
          actions   = ["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"]
          resources = ["${local.backup_arn}/*"]
        },
        {
          sid       = "ListBackups"
          actions   = ["s3:ListBucket", "s3:ListBucketMultipartUploads"]
          resources = [local.backup_arn]
        },
      ])
    }

    "restore" = {
      description = "Restores the registry from a backup, into the registry table or into a new fleetops-* table (a recovery workflow task)."
      memory_size = 512
      timeout     = 900
      environment = {
        BACKUP_BUCKET = module.core.backup_bucket_name
      }
      policy_statements = concat(local.notify, [
        {
          sid       = "ReadBackups"
          actions   = ["s3:GetObject"]
          resources = ["${local.backup_arn}/*"]
        },
        {
          sid       = "ListBackups"
          actions   = ["s3:ListBucket"]
          resources = [local.backup_arn]
        },
        {
          # A new table gets the registry's schema and TTL; CreateTable with Tags also needs
          # dynamodb:TagResource (AWS authorizes tag-on-create separately).
          sid       = "RestoreIntoFleetTables"
          actions   = ["dynamodb:BatchWriteItem", "dynamodb:PutItem", "dynamodb:DescribeTable", "dynamodb:CreateTable", "dynamodb:TagResource", "dynamodb:DescribeTimeToLive", "dynamodb:UpdateTimeToLive"]
          resources = ["arn:${local.partition}:dynamodb:${local.region}:${local.account_id}:table/fleetops-*"]
        },
      ])
    }

    "cleanup" = {
      description = "Finds and removes orphaned fleet volumes, snapshots, images and network interfaces, and expired backups (daily 03:00 UTC)."
      memory_size = 256
      timeout     = 600
      environment = {
        BACKUP_BUCKET = module.core.backup_bucket_name
        DRY_RUN       = tostring(var.cleanup_dry_run)
      }
      policy_statements = concat(local.notify, [
        {
          sid     = "DescribeCleanupCandidates"
          actions = ["ec2:DescribeInstances", "ec2:DescribeVolumes", "ec2:DescribeSnapshots", "ec2:DescribeImages", "ec2:DescribeNetworkInterfaces", "ec2:DescribeLaunchTemplates", "ec2:DescribeLaunchTemplateVersions", "autoscaling:DescribeLaunchConfigurations"]
          # EC2 and Auto Scaling Describe* APIs have no resource-level permissions: "*" is the only resource.
          resources = ["*"]
        },
        {
          sid        = "TagFleetResources"
          actions    = ["ec2:CreateTags"]
          resources  = concat(local.ec2_arns["volume"], local.ec2_arns["network-interface"], local.ec2_accountless_arns["snapshot"], local.ec2_accountless_arns["image"])
          conditions = local.fleet_tagged
        },
        {
          sid        = "DeleteFleetResources"
          actions    = ["ec2:DeleteVolume", "ec2:DeleteSnapshot", "ec2:DeregisterImage", "ec2:DeleteNetworkInterface"]
          resources  = concat(local.ec2_arns["volume"], local.ec2_arns["network-interface"], local.ec2_accountless_arns["snapshot"], local.ec2_accountless_arns["image"])
          conditions = local.fleet_tagged
        },
        {
          sid       = "ListBackups"
          actions   = ["s3:ListBucket"]
          resources = [local.backup_arn]
        },
        {
          # Reads a backup's manifest and markers to decide whether it expired (the latest
          # verified backup is always kept), then deletes its objects.
          sid       = "DeleteExpiredBackups"
          actions   = ["s3:GetObject", "s3:DeleteObject"]
          resources = ["${local.backup_arn}/*"]
        },
        {
          sid       = "RegistryCleanup"
          actions   = ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]
          resources = [local.registry_arn]
        },
      ])
    }

    "workflow-tasks" = {
      description = "Task handlers of the deployment, recovery and maintenance workflows (dispatch on `task`)."
      memory_size = 256
      timeout     = 300
      environment = {}
      policy_statements = concat(local.notify, [
        {
          sid     = "DescribeFleet"
          actions = ["ec2:DescribeInstances", "ec2:DescribeInstanceStatus", "ec2:DescribeLaunchTemplateVersions", "ec2:DescribeSubnets", "autoscaling:DescribeAutoScalingGroups", "elasticloadbalancing:DescribeTargetHealth", "elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DescribeTargetGroupAttributes"]
          # EC2, Auto Scaling and Elastic Load Balancing Describe* APIs have no resource-level permissions: "*" is the only resource.
          resources = ["*"]
        },
        {
          sid     = "ReadCommandResults"
          actions = ["ssm:GetCommandInvocation"]
          # ssm:GetCommandInvocation has no resource-level permissions: "*" is the only resource.
          resources = ["*"]
        },
        {
          sid        = "ShiftFleetTraffic"
          actions    = ["elasticloadbalancing:ModifyListener", "elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"]
          resources  = concat(local.elb_arns["listener"], local.elb_arns["targetgroup"])
          conditions = local.fleet_tagged
        },
        {
          sid        = "ScaleHealthySide"
          actions    = ["autoscaling:UpdateAutoScalingGroup"]
          resources  = local.asg_arns
          conditions = local.fleet_tagged
        },
        {
          sid       = "RegistryLocksAndState"
          actions   = ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]
          resources = [local.registry_arn]
        },
      ])
    }
  }
}
