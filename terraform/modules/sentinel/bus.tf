# Every ledger event, hash chain included, is published here by the exporter: source
# "sentinel.ledger", detail-type = the event type (SessionRevoked, ...), detail = the stored event.
# Audit consumers verify the chain without Sentinel's code; the enforcer and notifications are
# rules on this bus instead of extra stream readers.

resource "aws_cloudwatch_event_bus" "ledger" {
  name = var.event_bus_name
  tags = local.tags
}

# A replayable copy of every exported event, independent of the tables: evidence for audits and
# the source for re-driving the enforcer or a new consumer.
resource "aws_cloudwatch_event_archive" "ledger" {
  name             = "${substr(var.event_bus_name, 0, 40)}-archive"
  description      = "Every Sentinel ledger event exported to ${var.event_bus_name}"
  event_source_arn = aws_cloudwatch_event_bus.ledger.arn
  retention_days   = var.event_archive_retention_days

  event_pattern = jsonencode({
    source = [local.event_source]
  })
}

# --- Enforcer: SessionRevoked -> IAM deny on the protected role ---------------------------------

resource "aws_cloudwatch_event_rule" "session_revoked" {
  name           = "${var.name_prefix}-session-revoked"
  description    = "Revoked sessions to the Sentinel enforcer"
  event_bus_name = aws_cloudwatch_event_bus.ledger.name

  event_pattern = jsonencode({
    source        = [local.event_source]
    "detail-type" = ["SessionRevoked"]
  })

  tags = local.tags
}

resource "aws_cloudwatch_event_target" "enforcer" {
  rule           = aws_cloudwatch_event_rule.session_revoked.name
  event_bus_name = aws_cloudwatch_event_bus.ledger.name
  target_id      = "enforcer"
  arn            = aws_lambda_function.this["enforcer"].arn

  # Delivery failures (not function errors: those are the async invoke config's) go to the
  # enforcer's queue rather than vanishing.
  retry_policy {
    maximum_event_age_in_seconds = var.enforcer_maximum_event_age_seconds
    maximum_retry_attempts       = 185
  }

  dead_letter_config {
    arn = aws_sqs_queue.on_failure["enforcer"].arn
  }
}

resource "aws_lambda_permission" "enforcer_from_bus" {
  statement_id  = "AllowSessionRevokedRule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this["enforcer"].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.session_revoked.arn
}

# EventBridge invokes the enforcer asynchronously. With concurrency 1, bursts of revocations wait
# in Lambda's async queue (throttles there are retried, not lost); events older than the limit, or
# that keep failing, go to the enforcer's queue with the full event for re-driving.
resource "aws_lambda_function_event_invoke_config" "enforcer" {
  function_name                = aws_lambda_function.this["enforcer"].function_name
  maximum_event_age_in_seconds = var.enforcer_maximum_event_age_seconds
  maximum_retry_attempts       = 2

  destination_config {
    on_failure {
      destination = aws_sqs_queue.on_failure["enforcer"].arn
    }
  }
}

# --- Optional notifications ------------------------------------------------------------------

resource "aws_sns_topic" "notifications" {
  #checkov:skip=CKV_AWS_26:Encrypted with var.kms_key_arn when given. The AWS managed key alias/aws/sns cannot be used: EventBridge can only publish to topics whose key policy grants it, which AWS managed keys do not.
  count = var.enable_notifications ? 1 : 0

  name              = "${var.name_prefix}-notifications"
  kms_master_key_id = var.kms_key_arn

  tags = local.tags
}

resource "aws_cloudwatch_event_rule" "notification" {
  for_each = var.enable_notifications ? toset(var.notification_detail_types) : toset([])

  name           = "${var.name_prefix}-notify-${each.key}"
  description    = "Sentinel ${each.key} events to the notification topic"
  event_bus_name = aws_cloudwatch_event_bus.ledger.name

  event_pattern = jsonencode({
    source        = [local.event_source]
    "detail-type" = [each.key]
  })

  tags = local.tags
}

resource "aws_cloudwatch_event_target" "notification" {
  for_each = aws_cloudwatch_event_rule.notification

  rule           = each.value.name
  event_bus_name = aws_cloudwatch_event_bus.ledger.name
  target_id      = "sns"
  arn            = aws_sns_topic.notifications[0].arn
}

data "aws_iam_policy_document" "notifications_topic" {
  count = var.enable_notifications ? 1 : 0

  statement {
    sid       = "SentinelRules"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.notifications[0].arn]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    # Only these rules, not any rule in any account that learns the topic ARN.
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [for r in aws_cloudwatch_event_rule.notification : r.arn]
    }
  }
}

resource "aws_sns_topic_policy" "notifications" {
  count = var.enable_notifications ? 1 : 0

  arn    = aws_sns_topic.notifications[0].arn
  policy = data.aws_iam_policy_document.notifications_topic[0].json
}
