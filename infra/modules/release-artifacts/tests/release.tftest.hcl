# Offline tests of the release-manifest logic: `terraform test` in this folder (no provider needed).
# The fixtures are a manifest shaped like `dist/manifest.json` and stand-in zips for dist mode.

variables {
  artifact_bucket = "fleetops-artifacts-example"
}

run "manifest_mode_deploys_from_the_artifact_bucket" {
  command = plan

  variables {
    release_manifest_json = file("tests/fixtures/manifest.json")
    expected_release_id   = "2026-11-26.1-abc1234"
  }

  assert {
    condition     = output.mode == "manifest" && output.release_id == "2026-11-26.1-abc1234"
    error_message = "manifest mode not detected"
  }

  assert {
    condition     = length(output.artifacts) == 7 && alltrue([for a in values(output.artifacts) : a.s3_bucket == "fleetops-artifacts-example" && a.filename == null])
    error_message = "every artifact must come from the artifact bucket"
  }

  assert {
    condition     = output.artifacts["fleet-sync"].s3_key == "fleet-sync/087caf923010ecfd3daae4b6d608934cac9fed62199b85a639f1b797b9eec0de.zip"
    error_message = "s3_key not taken from the manifest"
  }

  assert {
    condition     = output.artifacts["fleet-sync"].source_code_hash == "CHyvkjAQ7P09quS21giTTKyf7WIZm4WmOfG3l7nuwN4="
    error_message = "source_code_hash must be the manifest's sha256_base64"
  }

  assert {
    condition     = output.artifacts["scaling"].runtime == "provided.al2023" && output.artifacts["scaling"].handler == "bootstrap" && output.artifacts["scaling"].architectures == ["x86_64"]
    error_message = "scaling must be the provided.al2023 bootstrap artifact"
  }
}

run "manifest_hash_equals_the_hash_of_the_same_bytes_in_dist" {
  command = plan

  variables {
    release_manifest_json = file("tests/fixtures/manifest.json")
  }

  assert {
    condition     = alltrue([for name, a in output.artifacts : a.source_code_hash == filebase64sha256("tests/fixtures/dist/lambdas/${name}.zip")])
    error_message = "promoting the same bytes must not change source_code_hash (no redeploy)"
  }
}

run "dist_mode_deploys_the_local_zips" {
  command = plan

  variables {
    dist_dir = "tests/fixtures/dist"
  }

  assert {
    condition     = output.mode == "dist" && output.release_id == null
    error_message = "dist mode not detected"
  }

  assert {
    condition     = alltrue([for name, a in output.artifacts : a.filename == "tests/fixtures/dist/lambdas/${name}.zip" && a.s3_bucket == null && a.s3_key == null])
    error_message = "dist mode must use <dist_dir>/lambdas/<name>.zip"
  }

  assert {
    condition     = output.artifacts["backup"].source_code_hash == filebase64sha256("tests/fixtures/dist/lambdas/backup.zip")
    error_message = "dist mode source_code_hash must be filebase64sha256 of the zip"
  }
}

run "rejects_an_unknown_format_version" {
  command = plan

  variables {
    release_manifest_json = jsonencode(merge(jsondecode(file("tests/fixtures/manifest.json")), { format_version = 2 }))
  }

  expect_failures = [output.artifacts]
}

run "rejects_a_manifest_without_the_artifact_bucket" {
  command = plan

  variables {
    release_manifest_json = file("tests/fixtures/manifest.json")
    artifact_bucket       = null
  }

  expect_failures = [output.artifacts]
}

run "rejects_another_release" {
  command = plan

  variables {
    release_manifest_json = file("tests/fixtures/manifest.json")
    expected_release_id   = "some-other-release"
  }

  expect_failures = [output.artifacts]
}

run "rejects_a_missing_artifact" {
  command = plan

  variables {
    release_manifest_json = jsonencode(merge(jsondecode(file("tests/fixtures/manifest.json")), {
      artifacts = [for a in jsondecode(file("tests/fixtures/manifest.json")).artifacts : a if a.name != "restore"]
    }))
  }

  expect_failures = [output.artifacts]
}

run "rejects_a_runtime_that_does_not_match_the_artifact" {
  command = plan

  variables {
    release_manifest_json = jsonencode(merge(jsondecode(file("tests/fixtures/manifest.json")), {
      artifacts = [for a in jsondecode(file("tests/fixtures/manifest.json")).artifacts : a.name == "scaling" ? merge(a, { runtime = "python3.11" }) : a]
    }))
  }

  expect_failures = [output.artifacts]
}

run "rejects_a_key_that_is_not_content_addressed" {
  command = plan

  variables {
    release_manifest_json = jsonencode(merge(jsondecode(file("tests/fixtures/manifest.json")), {
      artifacts = [for a in jsondecode(file("tests/fixtures/manifest.json")).artifacts : a.name == "backup" ? merge(a, { s3_key = "backup/latest.zip" }) : a]
    }))
  }

  expect_failures = [output.artifacts]
}

run "rejects_a_path_that_pants_does_not_produce" {
  command = plan

  variables {
    release_manifest_json = jsonencode(merge(jsondecode(file("tests/fixtures/manifest.json")), {
      artifacts = [for a in jsondecode(file("tests/fixtures/manifest.json")).artifacts : a.name == "cleanup" ? merge(a, { path = "cleanup.zip" }) : a]
    }))
  }

  expect_failures = [output.artifacts]
}
