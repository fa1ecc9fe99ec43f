# The local AWS (fleetops.local_aws): every service at one loopback endpoint, and only moto's
# account. These two settings are all that differs from a real deployment of the dev environment.
provider "aws" {
  region = var.region

  allowed_account_ids = [var.local_account_id]
  s3_use_path_style   = true

  endpoints {
    autoscaling = var.endpoint_url
    cloudwatch  = var.endpoint_url
    dynamodb    = var.endpoint_url
    ec2         = var.endpoint_url
    elbv2       = var.endpoint_url
    events      = var.endpoint_url
    iam         = var.endpoint_url
    kms         = var.endpoint_url
    lambda      = var.endpoint_url
    logs        = var.endpoint_url
    route53     = var.endpoint_url
    s3          = var.endpoint_url
    sfn         = var.endpoint_url
    sns         = var.endpoint_url
    sqs         = var.endpoint_url
    ssm         = var.endpoint_url
    sts         = var.endpoint_url
  }
}
