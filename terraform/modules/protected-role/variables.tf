variable "name" {
  description = "Suffix of the role name: the role is SentinelProtected-<name>. Usually the profile it serves, e.g. ProdAdmin."
  type        = string

  validation {
    # IAM role names are at most 64 characters of [\w+=,.@-]; the prefix takes 18.
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,46}$", var.name))
    error_message = "name must be 1-46 characters of [A-Za-z0-9+=,.@_-] (role names are at most 64 characters, 18 are the prefix)."
  }
}

variable "tvm_role_arn" {
  description = "ARN of the TVM Lambda's execution role (module sentinel, output tvm_role_arn): the only principal this role trusts."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/", var.tvm_role_arn))
    error_message = "tvm_role_arn must be an IAM role ARN."
  }
}

variable "policy_arns" {
  description = "Managed policy ARNs attached to the role: what the vended credentials may do."
  type        = list(string)
  default     = []
}

variable "inline_policies" {
  description = "Extra inline policies, name => JSON document. Must not use the name reserved for the enforcer (see contract.json, enforcer.inline_policy_name)."
  type        = map(string)
  default     = {}

  validation {
    condition     = !contains(keys(var.inline_policies), "SentinelRevocations")
    error_message = "SentinelRevocations is written by the enforcer; Terraform must not manage it."
  }
}

variable "permissions_boundary_arn" {
  description = "Optional permissions boundary for the role."
  type        = string
  default     = null
}

variable "description" {
  description = "Role description."
  type        = string
  default     = "Sentinel protected role: assumable only through the Sentinel TVM"
}

variable "tags" {
  description = "Tags for the role."
  type        = map(string)
  default     = {}
}
