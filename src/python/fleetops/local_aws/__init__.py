"""The local AWS: a moto server with the patches, IAM enforcement and Lambda runtime that fleet-ops runs against."""
