locals {
  mode = var.release_manifest_json != null ? "manifest" : "dist"

  manifest = local.mode == "manifest" ? jsondecode(var.release_manifest_json) : null

  # Manifest entries keyed by artifact name (empty in dist mode).
  manifest_entries = local.mode == "manifest" ? { for a in try(local.manifest.artifacts, []) : a.name => a } : {}

  # Names the catalog needs that the manifest lacks.
  missing = local.mode == "manifest" ? setsubtract(keys(var.catalog), keys(local.manifest_entries)) : []

  # One message per catalog entry whose manifest entry disagrees with what ./pants package produces.
  mismatches = local.mode == "manifest" ? flatten([
    for name, want in var.catalog : [
      for problem in [
        try(local.manifest_entries[name].path, "") == "lambdas/${name}.zip" ? "" : "path is not lambdas/${name}.zip",
        can(regex("^[0-9a-f]{64}$", try(local.manifest_entries[name].sha256, ""))) ? "" : "sha256 is not 64 hex digits",
        try(local.manifest_entries[name].s3_key, "") == "${name}/${try(local.manifest_entries[name].sha256, "")}.zip" ? "" : "s3_key is not ${name}/<sha256>.zip",
        can(regex("^[A-Za-z0-9+/]{43}=$", try(local.manifest_entries[name].sha256_base64, ""))) ? "" : "sha256_base64 is not the base64 of a 32-byte digest",
        try(local.manifest_entries[name].runtime, "") == want.runtime ? "" : "runtime is not ${want.runtime}",
        try(local.manifest_entries[name].handler, "") == want.handler ? "" : "handler is not ${want.handler}",
        try(local.manifest_entries[name].architecture, "") == want.architecture ? "" : "architecture is not ${want.architecture}",
      ] : "${name}: ${problem}" if problem != ""
    ] if contains(keys(local.manifest_entries), name)
  ]) : []

  artifacts = {
    for name, want in var.catalog : name => (local.mode == "manifest" ? {
      s3_bucket        = var.artifact_bucket
      s3_key           = try(local.manifest_entries[name].s3_key, null)
      filename         = null
      source_code_hash = try(local.manifest_entries[name].sha256_base64, null)
      runtime          = want.runtime
      handler          = want.handler
      architectures    = [want.architecture]
      } : {
      s3_bucket        = null
      s3_key           = null
      filename         = "${var.dist_dir}/lambdas/${name}.zip"
      source_code_hash = filebase64sha256("${var.dist_dir}/lambdas/${name}.zip")
      runtime          = want.runtime
      handler          = want.handler
      architectures    = [want.architecture]
    })
  }
}
