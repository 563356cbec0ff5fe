# A complete Sentinel deployment in one account: tables, the serving stack and protected roles.
# Build the zips first (`make package` at the repository root), then `terraform init && terraform
# apply` here. Step by step: docs/deployment.md.

locals {
  functions     = ["tvm", "authorizer", "projector", "exporter", "enforcer"]
  alarm_actions = compact([var.alarm_topic_arn])
}

module "ledger" {
  source = "../../modules/ledger"

  kms_key_arn         = var.kms_key_arn
  deletion_protection = var.deletion_protection

  # Only the TVM appends events; everything else that changes the ledger goes through the API.
  ledger_writer_role_arns = [module.sentinel.tvm_role_arn]

  # Only the projector (and the roles that run `sentinel views rebuild --repair`) write views.
  views_writer_role_arns = concat([module.sentinel.function_role_arns["projector"]], var.views_rebuilder_role_arns)

  tags = var.tags
}

module "sentinel" {
  source = "../../modules/sentinel"

  name_prefix = var.name_prefix

  ledger_table_name = module.ledger.ledger_table_name
  ledger_table_arn  = module.ledger.ledger_table_arn
  ledger_stream_arn = module.ledger.ledger_stream_arn
  views_table_name  = module.ledger.views_table_name
  views_table_arn   = module.ledger.views_table_arn

  idempotency_table_name = module.ledger.idempotency_table_name
  idempotency_table_arn  = module.ledger.idempotency_table_arn

  lambda_zip_paths      = { for f in local.functions : f => "${var.lambda_artifacts_dir}/${f}/bootstrap.zip" }
  package_manifest_path = "${var.lambda_artifacts_dir}/manifest.json"
  architecture          = var.architecture

  reserve_enforcer_concurrency = var.reserve_enforcer_concurrency

  # First admins and policies; Terraform ignores later edits (docs/deployment.md, step 6).
  admins               = var.admins
  initial_policy_files = var.initial_policy_files

  identity_role_arns = var.identity_role_arns
  kms_key_arn        = var.kms_key_arn

  enable_notifications = var.enable_notifications
  alarm_emails         = var.alarm_emails
  alarm_actions        = local.alarm_actions
  ok_actions           = local.alarm_actions

  tags = var.tags
}

module "protected_role" {
  source   = "../../modules/protected-role"
  for_each = var.protected_roles

  name         = each.key
  tvm_role_arn = module.sentinel.tvm_role_arn
  policy_arns  = each.value.policy_arns

  tags = var.tags
}
