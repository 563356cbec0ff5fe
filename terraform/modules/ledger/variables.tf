variable "ledger_table_name" {
  description = "Name of the append-only ledger table. The functions read it from SENTINEL_LEDGER_TABLE."
  type        = string
  default     = "sentinel-ledger"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]{3,255}$", var.ledger_table_name))
    error_message = "A DynamoDB table name is 3-255 characters of [A-Za-z0-9_.-]."
  }
}

variable "views_table_name" {
  description = "Name of the views table maintained by the projector. The functions read it from SENTINEL_VIEWS_TABLE."
  type        = string
  default     = "sentinel-views"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]{3,255}$", var.views_table_name))
    error_message = "A DynamoDB table name is 3-255 characters of [A-Za-z0-9_.-]."
  }
}

variable "idempotency_table_name" {
  description = "Name of the table the TVM keeps Idempotency-Key answers in (TTL 24 h; never ledger events). The functions read it from SENTINEL_IDEMPOTENCY_TABLE."
  type        = string
  default     = "sentinel-idempotency"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]{3,255}$", var.idempotency_table_name))
    error_message = "A DynamoDB table name is 3-255 characters of [A-Za-z0-9_.-]."
  }
}

variable "views_indexes" {
  description = <<-EOT
    Global secondary indexes of the views table. Every key attribute is a string (S). The names
    must be the ones the projections crate queries (projections/src/store/dynamo.rs: gsi1 by
    owner (person, or principal for older rows), gsi2 by profile, gsi3 by status, gsi4 revoked
    sessions by role and time of revocation, which bounds the enforcer's reads; the keys are
    sparse) and terraform/contract.json; the drift tests compare them. Projection ALL keeps
    every read a single Query.
  EOT
  type = list(object({
    name            = string
    hash_key        = string
    range_key       = optional(string)
    projection_type = optional(string, "ALL")
  }))
  default = [
    { name = "gsi1", hash_key = "gsi1pk", range_key = "gsi1sk" },
    { name = "gsi2", hash_key = "gsi2pk", range_key = "gsi2sk" },
    { name = "gsi3", hash_key = "gsi3pk", range_key = "gsi3sk" },
    { name = "gsi4", hash_key = "gsi4pk", range_key = "gsi4sk" },
  ]

  validation {
    condition     = length(var.views_indexes) <= 20 && length(distinct([for i in var.views_indexes : i.name])) == length(var.views_indexes)
    error_message = "At most 20 global secondary indexes, with distinct names."
  }

  validation {
    condition     = alltrue([for i in var.views_indexes : contains(["ALL", "KEYS_ONLY"], i.projection_type)])
    error_message = "projection_type must be ALL or KEYS_ONLY (INCLUDE would need an attribute list the module does not take)."
  }

  validation {
    # pk and sk are the table's own keys; reusing them as index keys would silently re-type them.
    condition     = alltrue([for i in var.views_indexes : !contains(["pk", "sk"], i.hash_key) && !contains(["pk", "sk"], coalesce(i.range_key, "-"))])
    error_message = "Index key attributes must not be the table keys pk or sk."
  }
}

variable "kms_key_arn" {
  description = "Customer managed KMS key for both tables (and their streams). null = the AWS managed key aws/dynamodb."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN (aliases are not accepted by DynamoDB here)."
  }
}

variable "deletion_protection" {
  description = "Deletion protection on both tables. Leave on: the ledger is the system of record. Turn off only to tear down (see docs/deployment.md)."
  type        = bool
  default     = true
}

variable "ledger_writer_role_arns" {
  description = <<-EOT
    IAM role ARNs allowed to put items into the ledger (normally only the TVM's execution role).
    When non-empty, the table's resource policy also denies PutItem to every other principal, so
    events can only enter through the API. Empty = no writer restriction beyond IAM.
  EOT
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.ledger_writer_role_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/", a))])
    error_message = "Each writer must be an IAM role ARN (arn:PARTITION:iam::ACCOUNT:role/NAME)."
  }
}

variable "tags" {
  description = "Tags for every resource of the module."
  type        = map(string)
  default     = {}
}

variable "views_writer_role_arns" {
  description = <<-EOT
    IAM role ARNs allowed to write items of the views table: the projector's execution role and
    any role that runs `sentinel views rebuild --repair`. When non-empty, the table's resource
    policy denies item writes to every other principal. Empty = no writer restriction beyond IAM.
  EOT
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.views_writer_role_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/", a))])
    error_message = "Each views writer must be an IAM role ARN."
  }
}
