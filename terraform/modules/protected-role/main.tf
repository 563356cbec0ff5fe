# A role whose credentials only the Sentinel TVM can mint. Three things make that hold:
#   1. the trust policy names the TVM's execution role and nothing else;
#   2. it requires a SourceIdentity starting with "sentinel" - the TVM always sets one carrying the
#      session id, STS keeps it for the life of the session and through further role chaining,
#      and CloudTrail records it, so every action is attributable to a ledger session;
#   3. (outside this module) an SCP that denies sts:AssumeRole on SentinelProtected-* to anyone
#      but the TVM role, so an admin cannot quietly widen a trust policy
#      (examples/scp/deny-assume-protected.json).
#
# The role lives at path "/" on purpose: the TVM's permission, the enforcer's permission and the
# SCP all match arn:PARTITION:iam::ACCOUNT:role/SentinelProtected-*, which a role under another
# path would not match.

data "aws_iam_policy_document" "trust" {
  statement {
    sid    = "SentinelTvmOnly"
    effect = "Allow"
    # SetSourceIdentity must be allowed here as well as in the TVM's own policy; without it STS
    # rejects an AssumeRole that passes a SourceIdentity. sts:SourceIdentity is a condition key
    # of both actions.
    actions = ["sts:AssumeRole", "sts:SetSourceIdentity"]

    principals {
      type        = "AWS"
      identifiers = [var.tvm_role_arn]
    }

    condition {
      test     = "StringLike"
      variable = "sts:SourceIdentity"
      values   = ["sentinel*"]
    }
  }

  statement {
    # Session tags need sts:TagSession in the trust too. It has no sts:SourceIdentity key, so it
    # stands apart, limited to the TVM's transitive tags.
    sid     = "SentinelTvmSessionTags"
    effect  = "Allow"
    actions = ["sts:TagSession"]

    principals {
      type        = "AWS"
      identifiers = [var.tvm_role_arn]
    }

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
}

locals {
  # The TVM's session tags (contract.json, iam.session_tag_keys).
  session_tag_keys = ["SentinelSessionId", "SentinelUser", "SentinelProfile"]
}

resource "aws_iam_role" "this" {
  name        = "SentinelProtected-${var.name}"
  path        = "/"
  description = var.description

  assume_role_policy = data.aws_iam_policy_document.trust.json

  # Role chaining (a Lambda role assuming this one) caps sessions at one hour whatever this says;
  # 3600 states that limit instead of pretending to more.
  max_session_duration = 3600

  permissions_boundary = var.permissions_boundary_arn

  # IAM refuses to delete a role that still has policies, and the enforcer's inline policy is not
  # in Terraform's state; without this, destroying the role fails once anything was revoked.
  force_detach_policies = true

  # No inline_policy blocks and no aws_iam_role_policies_exclusive: the enforcer writes its own
  # inline policy (SentinelRevocations) on this role at run time, and exclusive management would
  # delete those revocation denies on the next apply.

  tags = merge(var.tags, { "sentinel:component" = "protected-role" })
}

resource "aws_iam_role_policy_attachment" "managed" {
  for_each = toset(var.policy_arns)

  role       = aws_iam_role.this.name
  policy_arn = each.value
}

resource "aws_iam_role_policy" "inline" {
  for_each = var.inline_policies

  name   = each.key
  role   = aws_iam_role.this.name
  policy = each.value
}
