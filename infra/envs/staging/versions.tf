terraform {
  # >= 1.10: the S3 backend locks with a lock file in the state bucket (use_lockfile).
  required_version = ">= 1.10, < 2.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.40"
    }
  }

  # Partial configuration: `terraform init -backend-config=backend.tfbackend -backend-config="bucket=<state bucket>"`.
  # The state bucket (which holds the account id in its name) is never committed.
  backend "s3" {}
}
