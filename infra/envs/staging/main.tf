# Staging: production-like, cleanup only reports (DRY_RUN=true); deploys the release dev tested.
locals {
  repo_root = "${path.root}/../../.."

  # Deploy a release (manifest from a local file, or from the artifact bucket by release_id) or,
  # when neither is given, the local zips of `./pants package ::`.
  manifest_from_bucket = var.release_manifest_path == null && var.release_id != null
}

data "aws_s3_object" "release_manifest" {
  count = local.manifest_from_bucket ? 1 : 0

  bucket = var.artifact_bucket_name
  key    = "releases/${var.release_id}/manifest.json"
}

module "release" {
  source = "../../modules/release-artifacts"

  release_manifest_json = var.release_manifest_path != null ? file(var.release_manifest_path) : (local.manifest_from_bucket ? data.aws_s3_object.release_manifest[0].body : null)
  expected_release_id   = var.release_id
  artifact_bucket       = var.artifact_bucket_name
  dist_dir              = coalesce(var.dist_dir, "${local.repo_root}/dist")
}

module "fleet_ops" {
  source = "../../modules/fleet-ops"

  environment       = "staging"
  artifacts         = module.release.artifacts
  statemachines_dir = coalesce(var.statemachines_dir, "${local.repo_root}/statemachines")

  regions          = var.regions
  fleet_tag_key    = var.fleet_tag_key
  fleet_tag_values = var.fleet_tag_values
  vpc_config       = var.vpc_config
  scaling_alarms   = var.scaling_alarms
  enable_schedules = var.enable_schedules

  route53_zone_ids         = var.route53_zone_ids
  fleet_instance_role_arns = var.fleet_instance_role_arns

  notification_emails        = var.notification_emails
  artifact_bucket_name       = var.artifact_bucket_name
  kms_key_administrator_arns = var.kms_key_administrator_arns

  # Per-environment values.
  log_level                        = "INFO"
  log_retention_in_days            = 90
  dry_run                          = false
  cleanup_dry_run                  = true
  backup_retention_days            = 35
  backup_noncurrent_retention_days = 7
  registry_deletion_protection     = true
  force_destroy_buckets            = false
  reserved_concurrency             = {}
}
