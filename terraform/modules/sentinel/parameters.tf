# Optional bootstrap of the SSM parameters the TVM reads, so that a fresh deployment has admins
# and policies from its first apply. Terraform creates each parameter once and then ignores its
# value: later changes go through `sentinel policy push` (a PolicyPublished event in the ledger)
# or, for the admins list, through whoever administers the account - never through a plan that
# silently reverts them. A parameter written here is recorded as PolicyPublished with
# `by: system` the first time a TVM instance loads it, like any direct SSM write.

resource "aws_ssm_parameter" "admins" {
  #checkov:skip=CKV2_AWS_34:Admins lists name people and roles, not secrets; the TVM reads String parameters and has no KMS permission for SecureString.
  count = var.admins == null ? 0 : 1

  name        = var.admins_parameter
  description = "Sentinel admins (publish policies, read the audit, revoke any session). Bootstrapped by Terraform; edited outside it."
  type        = "String"
  value       = yamlencode({ version = "1", users = var.admins.users, principals = var.admins.principals })

  tags = local.tags

  lifecycle {
    ignore_changes = [value]
  }
}

resource "aws_ssm_parameter" "policy" {
  #checkov:skip=CKV2_AWS_34:Policies are not secret; the TVM reads and writes String parameters and has no KMS permission for SecureString.
  for_each = var.initial_policy_files

  name        = "${var.policy_root}/${each.key}"
  description = "Sentinel policy of profile ${each.key}. Bootstrapped by Terraform; changed with `sentinel policy push`."
  type        = "String"
  value       = file(each.value)

  tags = local.tags

  lifecycle {
    ignore_changes = [value]
  }
}
