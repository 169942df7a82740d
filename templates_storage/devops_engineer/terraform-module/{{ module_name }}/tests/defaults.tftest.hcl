# Runs with `terraform test`; the AWS provider is mocked, so no credentials or resources are needed.
mock_provider "aws" {}

variables {
  bucket_name = "maestro-example-bucket"
}

run "secure_defaults" {
  command = plan

  assert {
    condition = alltrue([
      aws_s3_bucket_public_access_block.this.block_public_acls,
      aws_s3_bucket_public_access_block.this.block_public_policy,
      aws_s3_bucket_public_access_block.this.ignore_public_acls,
      aws_s3_bucket_public_access_block.this.restrict_public_buckets,
    ])
    error_message = "All public access must be blocked."
  }

  assert {
    condition     = aws_s3_bucket_versioning.this.versioning_configuration[0].status == "Enabled"
    error_message = "Versioning must be enabled by default."
  }

  assert {
    condition     = output.encryption_algorithm == "AES256"
    error_message = "SSE-S3 must be used when no KMS key is given."
  }

  assert {
    condition     = length(aws_s3_bucket_logging.this) == 0
    error_message = "Access logging must be off unless a log bucket is given."
  }

  assert {
    condition     = aws_s3_bucket.this.force_destroy == false
    error_message = "force_destroy must default to false."
  }
}

run "kms_and_logging" {
  command = plan

  variables {
    kms_key_arn       = "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555"
    access_log_bucket = "central-access-logs"
  }

  assert {
    condition     = output.encryption_algorithm == "aws:kms"
    error_message = "SSE-KMS must be used when a KMS key is given."
  }

  assert {
    condition     = aws_s3_bucket_logging.this[0].target_prefix == "maestro-example-bucket/"
    error_message = "Access logs must be prefixed with the bucket name."
  }
}

run "rejects_invalid_names" {
  command = plan

  variables {
    bucket_name = "Invalid_Bucket"
  }

  expect_failures = [var.bucket_name]
}
