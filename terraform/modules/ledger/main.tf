# The ledger is the system of record: every request, decision, issuance, approval, break-glass
# and revocation is an event appended here and never changed (DESIGN §2). Everything else
# (views, the bus, alerts) is derived from it and can be rebuilt.

locals {
  # Views index keys become table attributes; each is declared once even when indexes share one.
  views_index_attributes = distinct(flatten([
    for i in var.views_indexes : compact([i.hash_key, i.range_key])
  ]))
}

resource "aws_dynamodb_table" "ledger" {
  name         = var.ledger_table_name
  billing_mode = "PAY_PER_REQUEST"

  # pk = stream key (SESSION#<ulid>, GUARD#...), sk = per-stream sequence number from 1.
  # A numeric sort key keeps "events after seq N" a single key-condition Query.
  hash_key  = "pk"
  range_key = "sk"

  attribute {
    name = "pk"
    type = "S"
  }

  attribute {
    name = "sk"
    type = "N"
  }

  # Exactly two Lambda consumers read this stream (projector, exporter); AWS throttles a third
  # reader per shard, so the enforcer and notifications hang off EventBridge instead.
  # NEW_IMAGE is enough: items are never modified, so there is no old image worth paying for.
  stream_enabled   = true
  stream_view_type = "NEW_IMAGE"

  point_in_time_recovery {
    enabled = true
  }

  deletion_protection_enabled = var.deletion_protection

  # Always encrypted at rest; a customer managed key adds key-policy control and CloudTrail
  # records of every decrypt. Stream records are encrypted with the same key.
  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }

  # No ttl block on purpose: a TTL deletion is a delete, and the ledger never loses an event.

  tags = merge(var.tags, { "sentinel:component" = "ledger" })
}

# Belt and braces for "append-only": the product never updates or deletes an item, so nobody
# needs to. Denies in a resource policy beat any Allow in an identity policy, so an over-broad
# admin or CI role cannot rewrite history by accident.
#
# What it covers, and what it cannot:
#   - UpdateItem / DeleteItem, including the Update and Delete actions inside TransactWriteItems
#     (a transaction is authorised per action, as the underlying single-item action).
#   - PartiQL UPDATE / DELETE statements (their own IAM actions).
#   - BatchWriteItem: IAM cannot tell a batch delete from a batch put, so batch writes are denied
#     whole. Nothing in Sentinel uses BatchWriteItem on the ledger (appends are conditional puts).
#   - PutItem can overwrite an existing key; IAM has no condition key for "has a condition
#     expression". With ledger_writer_role_arns set, only those roles may put at all; the code
#     always puts with attribute_not_exists(sk). An overwrite that still happened breaks the
#     hash chain and shows as a MODIFY record on the stream.
#   - The account root user can always delete a DynamoDB resource policy, and anyone with
#     dynamodb:PutResourcePolicy can replace it: this is a guard rail, not a vault. The hash
#     chain, the views' stream heads and the EventBridge archive are what make tampering visible.
data "aws_iam_policy_document" "ledger_append_only" {
  statement {
    sid     = "DenyItemMutation"
    effect  = "Deny"
    actions = ["dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:PartiQLUpdate", "dynamodb:PartiQLDelete", "dynamodb:BatchWriteItem"]
    # The table's own ARN; index ARNs are read-only anyway.
    resources = [aws_dynamodb_table.ledger.arn]

    principals {
      type        = "*"
      identifiers = ["*"]
    }
  }

  dynamic "statement" {
    for_each = length(var.ledger_writer_role_arns) > 0 ? [var.ledger_writer_role_arns] : []

    content {
      sid       = "DenyAppendExceptWriters"
      effect    = "Deny"
      actions   = ["dynamodb:PutItem", "dynamodb:PartiQLInsert"]
      resources = [aws_dynamodb_table.ledger.arn]

      principals {
        type        = "*"
        identifiers = ["*"]
      }

      # aws:PrincipalArn is the role ARN for an assumed-role session, so this matches the
      # Lambda's own sessions and nothing that merely names itself alike.
      condition {
        test     = "ArnNotEquals"
        variable = "aws:PrincipalArn"
        values   = statement.value
      }
    }
  }
}

resource "aws_dynamodb_resource_policy" "ledger" {
  resource_arn = aws_dynamodb_table.ledger.arn
  policy       = data.aws_iam_policy_document.ledger_append_only.json
}

# Derived read models (sessions, approvals, break-glass, audit rows). They can be rebuilt from the
# ledger (`sentinel views rebuild`), but the authorizer and TVM read them on every request, so they
# get the same durability settings as the ledger.
resource "aws_dynamodb_table" "views" {
  name         = var.views_table_name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"
  range_key    = "sk"

  attribute {
    name = "pk"
    type = "S"
  }

  attribute {
    name = "sk"
    type = "S"
  }

  dynamic "attribute" {
    for_each = local.views_index_attributes

    content {
      name = attribute.value
      type = "S"
    }
  }

  dynamic "global_secondary_index" {
    for_each = { for i in var.views_indexes : i.name => i }

    content {
      name            = global_secondary_index.value.name
      hash_key        = global_secondary_index.value.hash_key
      range_key       = global_secondary_index.value.range_key
      projection_type = global_secondary_index.value.projection_type
    }
  }

  point_in_time_recovery {
    enabled = true
  }

  deletion_protection_enabled = var.deletion_protection

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }

  # No TTL: expiry is an event (SessionExpired, ApprovalExpired, ...) folded into the view, not a
  # row silently vanishing; audit rows are kept as long as the ledger.

  tags = merge(var.tags, { "sentinel:component" = "views" })
}

# The views are derived, but the API's lists and shows read them: whoever can write a row can
# make a session look active in `sentinel sessions list`, or hide one. Security decisions never
# rest on a views row (the authorizer and the refresh fold the ledger), so this is about what
# people are shown. With views_writer_role_arns set (the projector, plus the roles that run
# `sentinel views rebuild --repair`), every other principal is denied every item write.
data "aws_iam_policy_document" "views_writers_only" {
  count = length(var.views_writer_role_arns) > 0 ? 1 : 0

  statement {
    sid       = "DenyItemWritesExceptWriters"
    effect    = "Deny"
    actions   = ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:PartiQLInsert", "dynamodb:PartiQLUpdate", "dynamodb:PartiQLDelete"]
    resources = [aws_dynamodb_table.views.arn]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "ArnNotEquals"
      variable = "aws:PrincipalArn"
      values   = var.views_writer_role_arns
    }
  }
}

resource "aws_dynamodb_resource_policy" "views" {
  count = length(var.views_writer_role_arns) > 0 ? 1 : 0

  resource_arn = aws_dynamodb_table.views.arn
  policy       = data.aws_iam_policy_document.views_writers_only[0].json
}

# Idempotency-Key answers (DESIGN §4): one item per caller's person and key, written by the TVM in
# the same transaction as a creation, or claimed and answered around a decision. Not ledger
# events, never exported: a record past expires_at counts as absent in the code, and DynamoDB's
# TTL deletes it some time later.
resource "aws_dynamodb_table" "idempotency" {
  name         = var.idempotency_table_name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"

  attribute {
    name = "pk"
    type = "S"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  deletion_protection_enabled = var.deletion_protection

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }

  tags = merge(var.tags, { "sentinel:component" = "idempotency" })
}
