terraform {
  # No provider: this module only reads and checks the release manifest (or the local dist/ folder),
  # so its logic is exercised offline by `terraform test` (see tests/).
  required_version = ">= 1.5, < 2.0"
}
