# The dev environment, deployed into the local AWS (fleetops.local_aws) exactly as into an
# account: the same modules and per-environment values as envs/dev, the local zips of
# `./pants package ::`, every schedule and alarm wired. Used by `fleetctl local` and by the
# deployed-run tests (tests/python/fleetops_tests/deployed).
locals {
  repo_root = "${path.root}/../../.."
}

module "release" {
  source = "../../modules/release-artifacts"

  dist_dir = coalesce(var.dist_dir, "${local.repo_root}/dist")
}

module "fleet_ops" {
  source = "../../modules/fleet-ops"

  environment       = "dev"
  artifacts         = module.release.artifacts
  statemachines_dir = coalesce(var.statemachines_dir, "${local.repo_root}/statemachines")

  regions          = var.regions
  fleet_tag_key    = var.fleet_tag_key
  fleet_tag_values = var.fleet_tag_values
  scaling_alarms   = var.scaling_alarms
  enable_schedules = true

  route53_zone_ids = var.route53_zone_ids

  # The values of envs/dev.
  log_level                        = "DEBUG"
  log_retention_in_days            = 30
  dry_run                          = false
  cleanup_dry_run                  = false
  backup_retention_days            = 7
  backup_noncurrent_retention_days = 3
  registry_deletion_protection     = false
  force_destroy_buckets            = true
  reserved_concurrency = {
    "workflow-tasks" = 5
  }
}
