# Alarms on the paths that decide access or carry revocations. Missing data is "not breaching":
# no traffic is not an incident.

locals {
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

  alarm_actions = var.alarm_actions
  ok_actions    = var.ok_actions
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

  alarm_actions = var.alarm_actions
  ok_actions    = var.ok_actions
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

  alarm_actions = var.alarm_actions
  ok_actions    = var.ok_actions
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

  alarm_actions = var.alarm_actions
  ok_actions    = var.ok_actions
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

  alarm_actions = var.alarm_actions
  ok_actions    = var.ok_actions
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

  alarm_actions = var.alarm_actions
  ok_actions    = var.ok_actions
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

  alarm_actions = var.alarm_actions
  ok_actions    = var.ok_actions
  tags          = local.tags
}
