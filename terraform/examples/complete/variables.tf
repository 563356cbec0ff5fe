variable "region" {
  description = "Region to deploy Sentinel into."
  type        = string
}

variable "name_prefix" {
  description = "Prefix of function, role, API and alarm names."
  type        = string
  default     = "sentinel"
}

variable "lambda_artifacts_dir" {
  description = "Directory with <function>/bootstrap.zip for each function, as written by `make package` (relative paths are from this directory)."
  type        = string
  default     = "../../../target/lambda"
}

variable "architecture" {
  description = "Instruction set the zips were built for (x86_64 or arm64)."
  type        = string
  default     = "x86_64"
}

variable "identity_role_arns" {
  description = "Roles whose session names are trusted as user names, e.g. your IAM Identity Center permission-set roles."
  type        = list(string)
  default     = []
}

variable "protected_roles" {
  description = <<-EOT
    Protected roles to create in this account, keyed by name suffix (role SentinelProtected-<key>),
    with the managed policies the vended credentials get. Point each profile's policy role_arn at
    one of them (output protected_role_arns).
  EOT
  type = map(object({
    policy_arns = list(string)
  }))
  default = {}
}

variable "kms_key_arn" {
  description = "Optional customer managed KMS key for tables, logs, queues and the topic (see docs/deployment.md for its key policy)."
  type        = string
  default     = null
}

variable "alarm_topic_arn" {
  description = "Optional SNS topic that receives alarm and recovery notifications."
  type        = string
  default     = null
}

variable "enable_notifications" {
  description = "Publish BreakGlassInvoked and ApprovalRequested events to an SNS topic (output notification_topic_arn)."
  type        = bool
  default     = true
}

variable "deletion_protection" {
  description = "Deletion protection of the tables; set false and apply before `terraform destroy`."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags for every Sentinel resource."
  type        = map(string)
  default     = {}
}
