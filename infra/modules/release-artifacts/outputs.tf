output "mode" {
  description = "\"manifest\" (deploy from the artifact bucket) or \"dist\" (deploy the local zips of ./pants package ::)."
  value       = local.mode
}

output "release_id" {
  description = "release_id of the manifest (null in dist mode)."
  value       = try(local.manifest.release_id, null)
}

output "git_commit" {
  description = "git_commit of the manifest (null in dist mode)."
  value       = try(local.manifest.git_commit, null)
}

output "artifacts" {
  description = "Per artifact name: s3_bucket/s3_key (manifest mode) or filename (dist mode), source_code_hash (base64 sha256 of the zip, so an unchanged artifact never redeploys), runtime, handler and architectures."
  value       = local.artifacts

  precondition {
    condition     = local.mode == "dist" || try(local.manifest.format_version, null) == 1
    error_message = "The release manifest must have format_version 1."
  }

  precondition {
    condition     = local.mode == "dist" || var.artifact_bucket != null
    error_message = "artifact_bucket is required when deploying from a release manifest."
  }

  precondition {
    condition     = local.mode == "dist" || var.expected_release_id == null || try(local.manifest.release_id, null) == var.expected_release_id
    error_message = "The release manifest's release_id is not the expected release_id."
  }

  precondition {
    condition     = length(local.missing) == 0
    error_message = "The release manifest has no entry for: ${join(", ", local.missing)}."
  }

  precondition {
    condition     = length(local.mismatches) == 0
    error_message = "The release manifest disagrees with the artifact catalog: ${join("; ", local.mismatches)}."
  }
}
