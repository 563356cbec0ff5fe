terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 5.70 is the oldest release this module is written against (aws_dynamodb_resource_policy,
      # deletion_protection_enabled); 7.x is excluded until it has been reviewed.
      version = ">= 5.70, < 7.0"
    }
  }
}
