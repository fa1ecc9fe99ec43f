# Fleet core: the environment's KMS key (kms.tf), registry table (registry.tf), notification topic
# (notifications.tf), backup and access-log buckets and the optional artifact bucket (buckets.tf).
data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name
  account_id = data.aws_caller_identity.current.account_id
  root_arn   = "arn:${local.partition}:iam::${local.account_id}:root"
}
