terraform {
  required_version = ">= {{ terraform_min_version }}"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0, < 7.0"
    }
  }
}
