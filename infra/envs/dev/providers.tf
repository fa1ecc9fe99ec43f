provider "aws" {
  region = var.region

  # Refuse to run against any other account (set it in an uncommitted *.auto.tfvars or TF_VAR_allowed_account_ids).
  allowed_account_ids = length(var.allowed_account_ids) > 0 ? var.allowed_account_ids : null
}
