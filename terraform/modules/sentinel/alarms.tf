# Alarms on the paths that decide access or carry revocations. Error alarms treat missing data as
# "not breaching": no traffic is not an incident. The one alarm that treats missing data as
# breaching is the heartbeat: silence there means the scheduled work stopped.
#
# Who hears them: var.alarm_actions (existing topics) plus the topic this file creates for
# var.alarm_emails. With neither, the check below warns at every plan.

resource "aws_sns_topic" "alarms" {
  #checkov:skip=CKV_AWS_26:Encrypted with var.kms_key_arn when given; CloudWatch can only publish to a topic whose key policy grants it, which the AWS managed key alias/aws/sns does not.
  count = length(var.alarm_emails) > 0 ? 1 : 0

  name              = "${var.name_prefix}-alarms"
  kms_master_key_id = var.kms_key_arn

  tags = local.tags
}

# Each address receives a confirmation mail; until it is confirmed, nothing is delivered there.
resource "aws_sns_topic_subscription" "alarm_email" {
  for_each = toset(var.alarm_emails)

  topic_arn = aws_sns_topic.alarms[0].arn
  protocol  = "email"
  endpoint  = each.value
}

check "alarms_notify_someone" {
  assert {
    condition     = length(local.alarm_actions) > 0
    error_message = "No alarm notifies anyone: set alarm_emails or alarm_actions (an existing SNS topic of the on-call)."
  }
}

locals {
  alarm_actions = concat(var.alarm_actions, aws_sns_topic.alarms[*].arn)
  ok_actions    = concat(var.ok_actions, aws_sns_topic.alarms[*].arn)

  # DynamoDB operations each table serves, for the SystemErrors alarm (the metric has an
  # Operation dimension and no per-table total).
  table_operations = {
    ledger = { name = var.ledger_table_name, operations = ["PutItem", "TransactWriteItems", "Query"] }
    views  = { name = var.views_table_name, operations = ["GetItem", "PutItem", "Query"] }
  }

  # Rules on the ledger bus: the enforcer's and the notifications'.
  bus_rules = merge(
    { session_revoked = aws_cloudwatch_event_rule.session_revoked.name },
    { for k, r in aws_cloudwatch_event_rule.notification : "notify_${k}" => r.name },
  )

  # Functions with an on-failure destination (async invoke config or stream mapping).
  destination_functions = toset(["projector", "exporter", "enforcer"])

  # Errors: the request path and the enforcer. The stream consumers report failed records as
  # batch item failures (not Errors); their health is iterator age and the on-failure queues.
  error_alarm_functions = toset(["tvm", "authorizer", "enforcer"])

  latency_alarm_thresholds_ms = {
    tvm        = var.tvm_p99_duration_threshold_ms
    authorizer = var.authorizer_p99_duration_threshold_ms
  }

  # The enforcer runs at concurrency 1, so it is throttled whenever two revocations overlap; the
  # async queue retries those. Its signal is event age (below), not throttles.
  throttle_alarm_functions = toset(["tvm", "authorizer", "projector", "exporter"])
}

resource "aws_cloudwatch_metric_alarm" "function_errors" {
  for_each = local.error_alarm_functions

  alarm_name        = "${var.name_prefix}-${each.key}-errors"
  alarm_description = "Sentinel ${each.key}: invocations ended in an error (crash, timeout, unhandled error)."
  namespace         = "AWS/Lambda"
  metric_name       = "Errors"
  dimensions        = { FunctionName = aws_lambda_function.this[each.key].function_name }

  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"

  alarm_actions = local.alarm_actions
  ok_actions    = local.ok_actions
  tags          = local.tags
}

resource "aws_cloudwatch_metric_alarm" "function_p99_duration" {
  for_each = local.latency_alarm_thresholds_ms

  alarm_name        = "${var.name_prefix}-${each.key}-p99-duration"
  alarm_description = "Sentinel ${each.key}: p99 duration above ${each.value} ms in 2 of 3 five-minute periods."
  namespace         = "AWS/Lambda"
  metric_name       = "Duration"
  dimensions        = { FunctionName = aws_lambda_function.this[each.key].function_name }

  extended_statistic  = "p99"
  period              = 300
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  comparison_operator = "GreaterThanThreshold"
  threshold           = each.value
  treat_missing_data  = "notBreaching"

  alarm_actions = local.alarm_actions
  ok_actions    = local.ok_actions
  tags          = local.tags
}

resource "aws_cloudwatch_metric_alarm" "function_throttles" {
  for_each = local.throttle_alarm_functions

  alarm_name        = "${var.name_prefix}-${each.key}-throttles"
  alarm_description = "Sentinel ${each.key}: invocations throttled (reserved concurrency or the account limit)."
  namespace         = "AWS/Lambda"
  metric_name       = "Throttles"
  dimensions        = { FunctionName = aws_lambda_function.this[each.key].function_name }

  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"

  alarm_actions = local.alarm_actions
  ok_actions    = local.ok_actions
  tags          = local.tags
}

resource "aws_cloudwatch_metric_alarm" "iterator_age" {
  for_each = local.stream_consumers

  alarm_name        = "${var.name_prefix}-${each.key}-iterator-age"
  alarm_description = "Sentinel ${each.key} lags the ledger stream by more than ${var.iterator_age_threshold_ms} ms (views stale / exports and enforcement delayed)."
  namespace         = "AWS/Lambda"
  metric_name       = "IteratorAge"
  dimensions        = { FunctionName = aws_lambda_function.this[each.key].function_name }

  statistic = "Maximum"
  period    = 60
  # Shard rollovers spike iterator age briefly; 3 of 5 minutes separates those from a stuck shard.
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.iterator_age_threshold_ms
  treat_missing_data  = "notBreaching"

  alarm_actions = local.alarm_actions
  ok_actions    = local.ok_actions
  tags          = local.tags
}

resource "aws_cloudwatch_metric_alarm" "on_failure_queue" {
  for_each = local.on_failure_queues

  alarm_name        = "${var.name_prefix}-${each.key}-failures"
  alarm_description = "Sentinel ${each.key}: records or events were given up on and are waiting in ${aws_sqs_queue.on_failure[each.key].name}; see the DLQ replay runbook."
  namespace         = "AWS/SQS"
  metric_name       = "ApproximateNumberOfMessagesVisible"
  dimensions        = { QueueName = aws_sqs_queue.on_failure[each.key].name }

  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  # An empty queue publishes zeros; a missing datapoint is not a failure.
  treat_missing_data = "notBreaching"

  alarm_actions = local.alarm_actions
  ok_actions    = local.ok_actions
  tags          = local.tags
}

resource "aws_cloudwatch_metric_alarm" "enforcer_event_age" {
  alarm_name        = "${var.name_prefix}-enforcer-event-age"
  alarm_description = "Sentinel enforcer: SessionRevoked events wait more than ${var.enforcer_event_age_threshold_ms} ms before the IAM deny is applied."
  namespace         = "AWS/Lambda"
  metric_name       = "AsyncEventAge"
  dimensions        = { FunctionName = aws_lambda_function.this["enforcer"].function_name }

  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.enforcer_event_age_threshold_ms
  treat_missing_data  = "notBreaching"

  alarm_actions = local.alarm_actions
  ok_actions    = local.ok_actions
  tags          = local.tags
}

resource "aws_cloudwatch_metric_alarm" "api_5xx" {
  alarm_name        = "${var.name_prefix}-api-5xx"
  alarm_description = "Sentinel API: more than ${var.api_5xx_threshold} 5xx responses in 5 minutes (POLICY_ERROR, CREDENTIAL_ERROR, LEDGER_UNAVAILABLE or gateway errors)."
  namespace         = "AWS/ApiGateway"
  metric_name       = "5xx"
  dimensions        = { ApiId = aws_apigatewayv2_api.this.id }

  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.api_5xx_threshold
  treat_missing_data  = "notBreaching"

  alarm_actions = local.alarm_actions
  ok_actions    = local.ok_actions
  tags          = local.tags
}

# --- Revocations the enforcer gave up on --------------------------------------------------------

# The enforcer acknowledges an event it can never apply (the role is missing or in another
# account, the policy cannot be written) so Lambda does not retry it forever; it logs the event
# as an ERROR with retryable=false (terraform/contract.json, logs.enforcer_not_enforced). The
# session is still refused at the API; only the IAM deny on live credentials is missing.
resource "aws_cloudwatch_log_metric_filter" "revocation_not_enforced" {
  name           = "${var.name_prefix}-revocation-not-enforced"
  log_group_name = aws_cloudwatch_log_group.function["enforcer"].name
  pattern        = "{ $.level = \"ERROR\" && $.fields.retryable IS FALSE }"

  metric_transformation {
    name      = "RevocationsNotEnforced"
    namespace = var.metrics_namespace
    value     = "1"
    unit      = "Count"
  }
}

resource "aws_cloudwatch_metric_alarm" "revocation_not_enforced" {
  alarm_name        = "${var.name_prefix}-revocation-not-enforced"
  alarm_description = "Sentinel enforcer: a revocation could not be applied as an IAM deny (missing role, other account, policy write refused) and was dropped; the live credentials of that session work until they expire. See docs/operations.md."
  namespace         = var.metrics_namespace
  metric_name       = aws_cloudwatch_log_metric_filter.revocation_not_enforced.metric_transformation[0].name

  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"

  alarm_actions = local.alarm_actions
  ok_actions    = local.ok_actions
  tags          = local.tags
}

# --- DynamoDB ---------------------------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "table_throttles" {
  for_each = local.table_operations

  alarm_name          = "${var.name_prefix}-${each.key}-table-throttles"
  alarm_description   = "Sentinel ${each.key} table (${each.value.name}): read or write requests throttled; appends retry, then callers get 503 LEDGER_UNAVAILABLE."
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"

  metric_query {
    id          = "throttles"
    expression  = "reads + writes"
    label       = "Throttle events"
    return_data = true
  }

  metric_query {
    id = "reads"

    metric {
      namespace   = "AWS/DynamoDB"
      metric_name = "ReadThrottleEvents"
      dimensions  = { TableName = each.value.name }
      stat        = "Sum"
      period      = 300
    }
  }

  metric_query {
    id = "writes"

    metric {
      namespace   = "AWS/DynamoDB"
      metric_name = "WriteThrottleEvents"
      dimensions  = { TableName = each.value.name }
      stat        = "Sum"
      period      = 300
    }
  }

  alarm_actions = local.alarm_actions
  ok_actions    = local.ok_actions
  tags          = local.tags
}

resource "aws_cloudwatch_metric_alarm" "table_system_errors" {
  for_each = local.table_operations

  alarm_name          = "${var.name_prefix}-${each.key}-table-system-errors"
  alarm_description   = "Sentinel ${each.key} table (${each.value.name}): DynamoDB answered HTTP 500 (service-side errors) to ${join(", ", each.value.operations)}."
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"

  metric_query {
    id          = "errors"
    expression  = "SUM([${join(", ", [for i, _ in each.value.operations : "op${i}"])}])"
    label       = "System errors"
    return_data = true
  }

  dynamic "metric_query" {
    for_each = each.value.operations

    content {
      id = "op${metric_query.key}"

      metric {
        namespace   = "AWS/DynamoDB"
        metric_name = "SystemErrors"
        dimensions  = { TableName = each.value.name, Operation = metric_query.value }
        stat        = "Sum"
        period      = 300
      }
    }
  }

  alarm_actions = local.alarm_actions
  ok_actions    = local.ok_actions
  tags          = local.tags
}

# --- Delivery: bus rules and on-failure destinations --------------------------------------------

resource "aws_cloudwatch_metric_alarm" "rule_failed_invocations" {
  for_each = local.bus_rules

  alarm_name        = "${var.name_prefix}-rule-${replace(each.key, "_", "-")}-failed"
  alarm_description = "Sentinel bus rule ${each.value}: EventBridge gave up invoking its target (after retries; the enforcer's rule then writes to its queue)."
  namespace         = "AWS/Events"
  metric_name       = "FailedInvocations"
  # Rules on a custom bus publish with both dimensions.
  dimensions = { EventBusName = aws_cloudwatch_event_bus.ledger.name, RuleName = each.value }

  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"

  alarm_actions = local.alarm_actions
  ok_actions    = local.ok_actions
  tags          = local.tags
}

resource "aws_cloudwatch_metric_alarm" "destination_delivery_failures" {
  for_each = local.destination_functions

  alarm_name        = "${var.name_prefix}-${each.key}-destination-delivery-failures"
  alarm_description = "Sentinel ${each.key}: Lambda could not deliver a failure record to the on-failure queue; that record is lost (see the DLQ replay runbook for re-reading the stream)."
  namespace         = "AWS/Lambda"
  metric_name       = "DestinationDeliveryFailures"
  dimensions        = { FunctionName = aws_lambda_function.this[each.key].function_name }

  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"

  alarm_actions = local.alarm_actions
  ok_actions    = local.ok_actions
  tags          = local.tags
}

# --- Heartbeat ----------------------------------------------------------------------------------

# The expiry sweep emits metric Heartbeat (namespace var.metrics_namespace) once per run. Missing
# data is breaching here, and only here: a dead sweep means sessions, approvals and break-glass
# stop expiring in the ledger.
resource "aws_cloudwatch_metric_alarm" "heartbeat" {
  count = var.enable_heartbeat_alarm ? 1 : 0

  alarm_name        = "${var.name_prefix}-heartbeat"
  alarm_description = "Sentinel expiry sweep: no ${var.metrics_namespace}/Heartbeat for ${var.heartbeat_missing_periods} periods of ${var.heartbeat_period_seconds} s; expiries are not being recorded."
  namespace         = var.metrics_namespace
  metric_name       = "Heartbeat"

  statistic           = "SampleCount"
  period              = var.heartbeat_period_seconds
  evaluation_periods  = var.heartbeat_missing_periods
  comparison_operator = "LessThanThreshold"
  threshold           = 1
  treat_missing_data  = "breaching"

  alarm_actions = local.alarm_actions
  ok_actions    = local.ok_actions
  tags          = local.tags
}
