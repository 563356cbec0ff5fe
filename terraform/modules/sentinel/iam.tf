# One execution role per function, each allowed only what that function's code calls. Two inline
# policies per role: "sentinel-<fn>" (what the function does) and "runtime" (logs, traces, its
# on-failure queue, the KMS key), so the security-relevant part reads on its own.

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    sid     = "LambdaService"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }

    # Confused-deputy guard: only functions of this account may use the role.
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "function" {
  for_each = local.functions

  name                 = "${var.name_prefix}-${each.key}"
  description          = "Execution role of the Sentinel ${each.key} function"
  assume_role_policy   = data.aws_iam_policy_document.lambda_assume.json
  permissions_boundary = var.role_permissions_boundary_arn

  tags = merge(local.tags, { "sentinel:function" = each.key })
}

# --- TVM: vends credentials, appends to the ledger, serves the whole HTTP API -----------------

data "aws_iam_policy_document" "tvm" {
  statement {
    sid = "AssumeProtectedRoles"
    # SetSourceIdentity is authorised separately from AssumeRole; the TVM always passes a
    # SourceIdentity (sentinel-<session id>). sts:SourceIdentity is a condition key of exactly
    # these two actions, so it may condition them.
    actions   = ["sts:AssumeRole", "sts:SetSourceIdentity"]
    resources = local.protected_roles_tvm_arns

    # Defence in depth: even a bug in the TVM cannot mint a protected session that is not
    # attributable to a ledger session.
    condition {
      test     = "StringLike"
      variable = "sts:SourceIdentity"
      values   = ["sentinel*"]
    }
  }

  statement {
    # sts:TagSession has no sts:SourceIdentity key: in the statement above, a key STS does not
    # supply for the action would fail the condition and make every tagged AssumeRole
    # AccessDenied. Its own statement, limited to the TVM's three transitive tags instead.
    sid       = "TagProtectedSessions"
    actions   = ["sts:TagSession"]
    resources = local.protected_roles_tvm_arns

    condition {
      test     = "ForAllValues:StringEquals"
      variable = "aws:TagKeys"
      values   = local.session_tag_keys
    }

    condition {
      test     = "ForAllValues:StringEquals"
      variable = "sts:TransitiveTagKeys"
      values   = local.session_tag_keys
    }
  }

  statement {
    sid = "ReadPolicies"
    # GetParameter for one profile and the admins, GetParametersByPath for GET /profiles.
    actions   = ["ssm:GetParameter", "ssm:GetParametersByPath"]
    resources = [local.policy_root_arn, "${local.policy_root_arn}/*", local.admins_parameter_arn]
  }

  # PUT /policies/{profile}: admins publish through the API so that the publication is a ledger
  # event. The admins parameter is deliberately not writable: who is an admin is decided outside
  # Sentinel.
  statement {
    sid       = "PublishPolicies"
    actions   = ["ssm:PutParameter"]
    resources = ["${local.policy_root_arn}/*"]
  }

  # The key that seals list pages' next_token: read at cold start, created by the first TVM that
  # finds it missing (PutParameter without overwrite). A SecureString under the AWS managed key
  # aws/ssm, whose key policy lets SSM decrypt for callers allowed GetParameter: no kms grant.
  statement {
    sid       = "PaginationKey"
    actions   = ["ssm:GetParameter", "ssm:PutParameter"]
    resources = [local.pagination_key_arn]
  }

  dynamic "statement" {
    for_each = length(var.identity_role_arns) > 0 ? [var.identity_role_arns] : []

    content {
      # Identity roles are matched by role id (AROA...), never by name; GetRole at cold start is
      # how the TVM learns the ids.
      sid       = "ResolveIdentityRoles"
      actions   = ["iam:GetRole"]
      resources = statement.value
    }
  }

  statement {
    # Appends are conditional PutItems, or one TransactWriteItems whose Put and ConditionCheck
    # actions are authorised as PutItem and ConditionCheckItem (there is no separate IAM action
    # for the transaction). Query reads stream tails and retried appends (the ledger store has no
    # GetItem). No UpdateItem or DeleteItem: the table's resource policy denies them to everyone.
    sid       = "LedgerAppendAndRead"
    actions   = ["dynamodb:PutItem", "dynamodb:ConditionCheckItem", "dynamodb:Query"]
    resources = [var.ledger_table_arn]
  }

  statement {
    sid       = "ViewsRead"
    actions   = ["dynamodb:GetItem", "dynamodb:Query"]
    resources = [var.views_table_arn, local.views_index_arns]
  }

  statement {
    # Idempotency-Key answers: read the key's record, put it conditionally (alone, or inside a
    # creation's TransactWriteItems, authorised as PutItem), delete a claim whose request failed.
    sid       = "IdempotencyRecords"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"]
    resources = [var.idempotency_table_arn]
  }
}

# --- Authorizer: decides each /credentials call from the session's own ledger stream -----------

data "aws_iam_policy_document" "authorizer" {
  statement {
    # The session's stream, read consistently: a revocation counts the moment its event commits,
    # whatever the projector's lag. No views: a views row never decides.
    sid       = "SessionStream"
    actions   = ["dynamodb:Query"]
    resources = [var.ledger_table_arn]
  }
}

# --- Stream consumers -----------------------------------------------------------------------

data "aws_iam_policy_document" "projector" {
  statement {
    sid       = "LedgerStream"
    actions   = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"]
    resources = [var.ledger_stream_arn]
  }

  statement {
    # The event source mapping needs ListStreams, which has no resource-level permissions; it
    # reveals stream ARNs only, no data.
    sid       = "ListStreams"
    actions   = ["dynamodb:ListStreams"]
    resources = ["*"]
  }

  statement {
    # Gap filling: a record whose seq is beyond last_seq + 1 makes the projector read the missing
    # events from the ledger instead of skipping them.
    sid       = "LedgerGapFill"
    actions   = ["dynamodb:Query"]
    resources = [var.ledger_table_arn]
  }

  statement {
    # Rows are conditional puts on last_seq, so duplicates and reordering are no-ops (the views
    # store never updates in place). The views table's resource policy lets only this role write.
    sid       = "ViewsWrite"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem"]
    resources = [var.views_table_arn]
  }
}

data "aws_iam_policy_document" "exporter" {
  statement {
    sid       = "LedgerStream"
    actions   = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"]
    resources = [var.ledger_stream_arn]
  }

  statement {
    # The event source mapping needs ListStreams, which has no resource-level permissions; it
    # reveals stream ARNs only, no data.
    sid       = "ListStreams"
    actions   = ["dynamodb:ListStreams"]
    resources = ["*"]
  }

  statement {
    sid       = "PublishToBus"
    actions   = ["events:PutEvents"]
    resources = [aws_cloudwatch_event_bus.ledger.arn]
  }
}

# --- Enforcer: turns SessionRevoked into an IAM deny on the protected role -------------------

data "aws_iam_policy_document" "enforcer" {
  statement {
    sid       = "ViewsRead"
    actions   = ["dynamodb:GetItem", "dynamodb:Query"]
    resources = [var.views_table_arn, local.views_index_arns]
  }

  statement {
    # View + tail, like every security read: the session's CredentialsIssued event (role,
    # SourceIdentity) may not be in the view yet when its SessionRevoked arrives.
    sid       = "LedgerTail"
    actions   = ["dynamodb:Query"]
    resources = [var.ledger_table_arn]
  }

  statement {
    # The enforcer maintains exactly one inline policy (SentinelRevocations) per protected role.
    # IAM has no condition key for the policy name (iam:PolicyName does not exist), so the grant
    # is scoped by role: protected roles of this account only. Protected roles in other accounts
    # still refuse refreshes at once (authorizer); their IAM deny needs an enforcer there.
    sid       = "RevocationPolicy"
    actions   = ["iam:GetRolePolicy", "iam:PutRolePolicy", "iam:DeleteRolePolicy"]
    resources = [local.protected_roles_local_arn]
  }
}

locals {
  function_policies = {
    tvm        = data.aws_iam_policy_document.tvm.json
    authorizer = data.aws_iam_policy_document.authorizer.json
    projector  = data.aws_iam_policy_document.projector.json
    exporter   = data.aws_iam_policy_document.exporter.json
    enforcer   = data.aws_iam_policy_document.enforcer.json
  }
}

resource "aws_iam_role_policy" "function" {
  for_each = local.functions

  name   = "sentinel-${each.key}"
  role   = aws_iam_role.function[each.key].id
  policy = local.function_policies[each.key]

  lifecycle {
    # Cross-variable rule (variable validation cannot see other variables before Terraform 1.9):
    # the TVM may write under policy_root, so the admins list must live elsewhere.
    precondition {
      condition     = !startswith(var.admins_parameter, "${var.policy_root}/")
      error_message = "admins_parameter must not be under policy_root: the TVM can write there, and who is an admin must not be writable through Sentinel."
    }
    precondition {
      condition     = !startswith(var.pagination_key_parameter, "${var.policy_root}/")
      error_message = "pagination_key_parameter must not be under policy_root: PUT /policies writes there, and GET /profiles lists it."
    }
  }
}

# --- What every function needs to run --------------------------------------------------------

data "aws_iam_policy_document" "runtime" {
  for_each = local.functions

  statement {
    sid       = "OwnLogGroup"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function[each.key].arn}:*"]
  }

  statement {
    # X-Ray trace segments have no resource-level permissions.
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }

  dynamic "statement" {
    # Stream mappings and async invocations send failure records with the function's role.
    for_each = contains(local.on_failure_queues, each.key) ? [aws_sqs_queue.on_failure[each.key].arn] : []

    content {
      sid       = "OnFailureQueue"
      actions   = ["sqs:SendMessage"]
      resources = [statement.value]
    }
  }

  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]

    content {
      # Tables, stream records, queues and the environment may all be encrypted with this key.
      sid       = "CustomerManagedKey"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role_policy" "runtime" {
  for_each = local.functions

  name   = "runtime"
  role   = aws_iam_role.function[each.key].id
  policy = data.aws_iam_policy_document.runtime[each.key].json
}
