# The serving side of Sentinel: five Lambdas, the HTTP API in front of the TVM, the two ledger
# stream consumers, the EventBridge bus with the enforcer and notifications, alarms and the
# least-privilege roles. The tables come from module "ledger".
#
# Files: functions.tf (Lambdas, logs), iam.tf (execution roles), api.tf (HTTP API),
# streams.tf (stream consumers, on-failure queues), bus.tf (bus, archive, enforcer, notifications),
# alarms.tf, dashboard.tf, parameters.tf (optional admins and first policies).

data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}
data "aws_region" "current" {}

locals {
  partition  = data.aws_partition.current.partition
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.name

  functions        = toset(["tvm", "authorizer", "projector", "exporter", "enforcer"])
  stream_consumers = toset(["projector", "exporter"])

  # The exporter publishes each ledger event with this source and the event type as detail-type
  # (contract.json, event_bus.source); every rule below matches on it.
  event_source = "sentinel.ledger"

  memory_mb = merge(
    { tvm = 256, authorizer = 256, projector = 256, exporter = 256, enforcer = 256 },
    var.lambda_memory_mb,
  )
  timeout_seconds = merge(
    { tvm = 15, authorizer = 5, projector = 60, exporter = 60, enforcer = 30 },
    var.lambda_timeout_seconds,
  )
  # -1 = no reservation (the account's unreserved pool). The enforcer's 1 is optional: Lambda
  # keeps 100 executions unreserved, so reserving needs an account quota of at least 101.
  reserved_concurrency = merge(
    { tvm = -1, authorizer = -1, projector = -1, exporter = -1 },
    var.reserved_concurrency,
    { enforcer = var.reserve_enforcer_concurrency ? 1 : -1 },
  )

  # What `make package` built (target/lambda/manifest.json next to the zips): the architecture
  # and each zip's SHA-256, checked against var.architecture and the zips before anything deploys.
  package_manifest_path = coalesce(var.package_manifest_path, "${dirname(dirname(var.lambda_zip_paths["tvm"]))}/manifest.json")
  package_manifest      = fileexists(local.package_manifest_path) ? jsondecode(file(local.package_manifest_path)) : null

  # Every function gets the same configuration: the code reads one config struct, and none of
  # these values is secret.
  environment = merge(var.extra_environment, {
    SENTINEL_LEDGER_TABLE      = var.ledger_table_name
    SENTINEL_VIEWS_TABLE       = var.views_table_name
    SENTINEL_IDEMPOTENCY_TABLE = var.idempotency_table_name
    SENTINEL_EVENT_BUS         = aws_cloudwatch_event_bus.ledger.name
    SENTINEL_POLICY_ROOT       = var.policy_root
    SENTINEL_ADMINS_PARAMETER  = var.admins_parameter
    SENTINEL_IDENTITY_ROLES    = join(",", var.identity_role_arns)
    # Only the TVM's role may read or create this parameter.
    SENTINEL_PAGINATION_KEY_PARAMETER = var.pagination_key_parameter
    # Per person and Lambda instance; API Gateway's stage throttling bounds the total.
    SENTINEL_RATE_LIMIT_REQUESTS = tostring(var.rate_limit_requests)
    SENTINEL_RATE_LIMIT_WINDOW   = tostring(var.rate_limit_window_seconds)
    RUST_LOG                     = var.rust_log
  })

  # ARNs the policies are scoped to.
  ssm_parameter_arn_prefix = "arn:${local.partition}:ssm:${local.region}:${local.account_id}:parameter"
  policy_root_arn          = "${local.ssm_parameter_arn_prefix}${var.policy_root}"
  admins_parameter_arn     = "${local.ssm_parameter_arn_prefix}${var.admins_parameter}"
  pagination_key_arn       = "${local.ssm_parameter_arn_prefix}${var.pagination_key_parameter}"
  views_index_arns         = "${var.views_table_arn}/index/*"

  # Same-account protected roles (the enforcer can only write IAM in its own account) and the
  # accounts the TVM may vend into.
  protected_roles_local_arn = "arn:${local.partition}:iam::${local.account_id}:role/SentinelProtected-*"
  protected_roles_tvm_arns  = [for a in var.protected_role_account_ids : "arn:${local.partition}:iam::${a}:role/SentinelProtected-*"]

  # The session tags the TVM passes to AssumeRole, all transitive (contract.json,
  # iam.session_tag_keys); sts:TagSession is limited to exactly these.
  session_tag_keys = ["SentinelSessionId", "SentinelUser", "SentinelProfile"]

  # The only inline policy the enforcer writes on a protected role (contract.json,
  # enforcer.inline_policy_name). IAM has no condition key for the policy name, so its
  # permission is scoped by role, not by name; see iam.tf.
  enforcer_policy_name = "SentinelRevocations"

  tags = merge(var.tags, { "sentinel:deployment" = var.name_prefix })
}
