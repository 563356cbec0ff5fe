# The five functions share one shape (a Rust "bootstrap" on provided.al2023); what differs is
# sizing, concurrency and, above all, the execution role (iam.tf).

# Created before the functions so that retention and encryption apply from the first invocation
# (a function that logs first would create a never-expiring group of its own), and so that the
# roles need no logs:CreateLogGroup.
resource "aws_cloudwatch_log_group" "function" {
  #checkov:skip=CKV_AWS_158:Encryption with a customer managed key is optional (var.kms_key_arn); without one CloudWatch Logs encrypts with its own key.
  for_each = local.functions

  name              = "/aws/lambda/${var.name_prefix}-${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn

  tags = local.tags
}

# The account's Lambda concurrency quota, read only to check the enforcer's reservation fits.
data "aws_servicequotas_service_quota" "lambda_concurrency" {
  count = var.reserve_enforcer_concurrency && var.check_concurrency_quota ? 1 : 0

  service_code = "lambda"
  quota_code   = "L-B99A9384" # Concurrent executions
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_117:The functions call only AWS APIs over TLS with SigV4; a VPC would add NAT or nine interface endpoints and no protection.
  #checkov:skip=CKV_AWS_116:The TVM and authorizer are invoked synchronously by API Gateway and the projector and exporter by stream mappings with their own on-failure queues (streams.tf); the one async function, the enforcer, has an on-failure destination (bus.tf).
  #checkov:skip=CKV_AWS_173:The environment holds table, bus and parameter names only, no secrets; a customer managed key is used when var.kms_key_arn is set.
  #checkov:skip=CKV_AWS_272:Code signing is optional (var.code_signing_config_arn) because it needs an AWS Signer profile that the build does not have.
  #checkov:skip=CKV_AWS_115:Reserved concurrency is a variable (var.reserved_concurrency, unreserved by default so a small account's pool is not carved up); the enforcer's 1 is var.reserve_enforcer_concurrency.
  for_each = local.functions

  function_name = "${var.name_prefix}-${each.key}"
  description   = "Sentinel ${each.key}"
  role          = aws_iam_role.function[each.key].arn

  runtime       = "provided.al2023"
  handler       = "bootstrap"
  architectures = [var.architecture]

  filename         = var.lambda_zip_paths[each.key]
  source_code_hash = filebase64sha256(var.lambda_zip_paths[each.key])

  memory_size                    = local.memory_mb[each.key]
  timeout                        = local.timeout_seconds[each.key]
  reserved_concurrent_executions = local.reserved_concurrency[each.key]

  kms_key_arn             = var.kms_key_arn
  code_signing_config_arn = var.code_signing_config_arn

  environment {
    variables = local.environment
  }

  tracing_config {
    mode = var.tracing_mode
  }

  tags = merge(local.tags, { "sentinel:function" = each.key })

  lifecycle {
    precondition {
      condition     = local.package_manifest != null
      error_message = "No package manifest at ${local.package_manifest_path}: build the zips with `make package` (it writes manifest.json next to them), or set package_manifest_path."
    }
    precondition {
      condition     = try(local.package_manifest.architecture, null) == var.architecture
      error_message = "architecture is ${var.architecture}, but the zips were built for ${try(local.package_manifest.architecture, "an unknown architecture")} (${local.package_manifest_path}): run `make package LAMBDA_ARCH=${var.architecture}` or set architecture to match."
    }
    precondition {
      condition     = try(local.package_manifest.functions[each.key].sha256, null) == filesha256(var.lambda_zip_paths[each.key])
      error_message = "${var.lambda_zip_paths[each.key]} is not the zip ${local.package_manifest_path} describes (SHA-256 differs): rebuild with `make package`."
    }
    precondition {
      condition     = !var.reserve_enforcer_concurrency || length(data.aws_servicequotas_service_quota.lambda_concurrency) == 0 || try(data.aws_servicequotas_service_quota.lambda_concurrency[0].value, 0) >= 101
      error_message = "Reserving 1 execution for the enforcer needs a Lambda concurrency quota of at least 101 (Lambda keeps 100 unreserved); this account has ${try(data.aws_servicequotas_service_quota.lambda_concurrency[0].value, "?")}. Request a quota increase or set reserve_enforcer_concurrency = false (docs/deployment.md)."
    }
  }

  # The role's policies must exist before the first invocation, or a cold start (the TVM resolving
  # identity roles, the stream mappings validating permissions) fails on AccessDenied.
  depends_on = [
    aws_cloudwatch_log_group.function,
    aws_iam_role_policy.function,
    aws_iam_role_policy.runtime,
  ]
}
