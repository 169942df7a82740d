# Complete example: a versioned, KMS-encrypted bucket with access logging.
# terraform init && terraform apply -var bucket_name=<unique-name>

terraform {
  required_version = ">= {{ terraform_min_version }}"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0, < 7.0"
    }
  }
}

provider "aws" {
  region = "{{ default_region }}"

  default_tags {
    tags = {
      Owner     = "{{ owner_tag }}"
      ManagedBy = "terraform"
    }
  }
}

variable "bucket_name" {
  type = string
}

resource "aws_kms_key" "bucket" {
  description             = "Encryption key for ${var.bucket_name}"
  deletion_window_in_days = 30
  enable_key_rotation     = true
}

module "logs" {
  source = "../.."

  bucket_name        = "${var.bucket_name}-logs"
  versioning_enabled = false
}

module "bucket" {
  source = "../.."

  bucket_name       = var.bucket_name
  kms_key_arn       = aws_kms_key.bucket.arn
  access_log_bucket = module.logs.bucket_id
  tags = {
    DataClassification = "internal"
  }
}

output "bucket_arn" {
  value = module.bucket.bucket_arn
}
