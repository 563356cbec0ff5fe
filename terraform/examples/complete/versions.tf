terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.70, < 7.0"
    }
  }

  # State holds no secrets from Sentinel, but it is the map of the deployment: keep it in a
  # versioned, encrypted, access-controlled backend, e.g.
  # backend "s3" {
  #   bucket       = "my-terraform-state"
  #   key          = "sentinel/terraform.tfstate"
  #   region       = "eu-central-1"
  #   use_lockfile = true
  # }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      "sentinel:managed-by" = "terraform"
    }
  }
}
