# Pants BUILD-file prelude (pants.toml `build_file_prelude_globs`): one list of every Lambda
# artifact target, for the tests that need the packaged zips (`runtime_package_dependencies`).


def lambda_artifacts():
    return [
        "src/go/scaling:lambda",
        "src/python/fleetops/fleet_sync:lambda",
        "src/python/fleetops/health_check:lambda",
        "src/python/fleetops/backup:lambda",
        "src/python/fleetops/backup:restore-lambda",
        "src/python/fleetops/cleanup:lambda",
        "src/python/fleetops/workflows:lambda",
    ]
