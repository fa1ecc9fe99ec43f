terraform {
  required_version = ">= 1.10, < 2.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.40"
    }
  }

  # State stays on the machine that runs the local AWS: `-backend-config=path=<state file>`.
  backend "local" {}
}
