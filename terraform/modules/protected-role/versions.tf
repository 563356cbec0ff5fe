terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 5.70: the same floor as the other Sentinel modules, so one lock file serves all three;
      # 7.x is excluded until it has been reviewed.
      version = ">= 5.70, < 7.0"
    }
  }
}
