variable "catalog" {
  description = "The artifacts the system deploys, keyed by artifact name, with the runtime, handler and architecture each zip is built for (docs/CONVENTIONS.md, \"Artifacts\"). A manifest entry that disagrees with this catalog fails the plan."
  type = map(object({
    runtime      = string
    handler      = string
    architecture = string
  }))
  default = {
    "fleet-sync" = {
      runtime      = "python3.11"
      handler      = "lambda_function.handler"
      architecture = "x86_64"
    }
    "health-check" = {
      runtime      = "python3.11"
      handler      = "lambda_function.handler"
      architecture = "x86_64"
    }
    "backup" = {
      runtime      = "python3.11"
      handler      = "lambda_function.handler"
      architecture = "x86_64"
    }
    "restore" = {
      runtime      = "python3.11"
      handler      = "lambda_function.handler"
      architecture = "x86_64"
    }
    "cleanup" = {
      runtime      = "python3.11"
      handler      = "lambda_function.handler"
      architecture = "x86_64"
    }
    "workflow-tasks" = {
      runtime      = "python3.11"
      handler      = "lambda_function.handler"
      architecture = "x86_64"
    }
    "scaling" = {
      runtime      = "provided.al2023"
      handler      = "bootstrap"
      architecture = "x86_64"
    }
  }

  validation {
    condition     = alltrue([for name, a in var.catalog : can(regex("^[a-z0-9][a-z0-9-]*$", name)) && contains(["python3.11", "provided.al2023"], a.runtime) && contains(["x86_64", "arm64"], a.architecture)])
    error_message = "Artifact names are lower-case kebab-case; runtimes are python3.11 or provided.al2023; architectures x86_64 or arm64."
  }
}

variable "release_manifest_json" {
  description = "Content of the release manifest (dist/manifest.json, or releases/<release_id>/manifest.json in the artifact bucket). When set, every function deploys from the artifact bucket (s3_bucket, s3_key, source_code_hash from the manifest). When null, the functions deploy from the local dist/ folder written by `./pants package ::`."
  type        = string
  default     = null
}

variable "expected_release_id" {
  description = "If set, the manifest's release_id must equal it (guards against deploying a different release than the one asked for)."
  type        = string
  default     = null
}

variable "artifact_bucket" {
  description = "Name of the artifact bucket the manifest's s3_key values live in. Required in manifest mode."
  type        = string
  default     = null

  validation {
    condition     = var.artifact_bucket == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.artifact_bucket))
    error_message = "artifact_bucket must be a valid S3 bucket name."
  }
}

variable "dist_dir" {
  description = "The dist/ folder of a `./pants package ::` run (local mode only): each artifact is read from <dist_dir>/lambdas/<name>.zip."
  type        = string
  default     = "dist"
}
