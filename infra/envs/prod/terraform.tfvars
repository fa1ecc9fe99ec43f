# Committed, per-environment and account-free. Account-specific values (allowed_account_ids,
# artifact_bucket_name, vpc_config, route53_zone_ids, notification_emails, ...) go in an uncommitted
# *.auto.tfvars file or TF_VAR_* variables; see infra/README.md.
region  = "eu-west-1"
regions = ["eu-west-1"]
