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
  description = "Instruction set the zips were built for (x86_64 or arm64): `make package LAMBDA_ARCH=...`; checked against the package manifest."
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
  description = "Optional existing SNS topic that receives alarm and recovery notifications."
  type        = string
  default     = null
}

variable "alarm_emails" {
  description = "E-mail addresses that receive alarms (a topic is created; each address confirms once). Set this or alarm_topic_arn."
  type        = list(string)
  default     = []
}

variable "reserve_enforcer_concurrency" {
  description = "Reserve one concurrent execution for the enforcer; needs a Lambda concurrency quota of at least 101 (docs/deployment.md)."
  type        = bool
  default     = true
}

variable "admins" {
  description = "First Sentinel admins ({users = [...], principals = [...]}), written once to the admins parameter. null = write it yourself."
  type = object({
    users      = optional(list(string), [])
    principals = optional(list(string), [])
  })
  default = null
}

variable "initial_policy_files" {
  description = "First policies, profile => YAML file, written once under the policy root; later versions go through `sentinel policy push`."
  type        = map(string)
  default     = {}
}

variable "views_rebuilder_role_arns" {
  description = "Roles (besides the projector) that may write the views table, i.e. run `sentinel views rebuild --repair`."
  type        = list(string)
  default     = []
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
