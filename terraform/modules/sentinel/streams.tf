# The ledger stream has exactly two readers, the projector and the exporter: DynamoDB throttles
# more than two concurrent readers per shard, so everything else (enforcer, notifications,
# audit consumers) hangs off EventBridge.

locals {
  # One queue per failure path rather than one shared queue: the remedies differ (projector:
  # rebuild or re-project the affected streams; exporter: re-publish events so the enforcer and
  # alerting see them; enforcer: re-apply a revocation deny), each queue gets its own alarm that
  # says which path broke, and the enforcer's queue needs a policy for EventBridge that the
  # others must not have.
  on_failure_queues = toset(["projector", "exporter", "enforcer"])
}

resource "aws_sqs_queue" "on_failure" {
  for_each = local.on_failure_queues

  name                      = "${var.name_prefix}-${each.key}-failures"
  message_retention_seconds = var.dlq_message_retention_seconds

  # Encrypted either way; a customer managed key when one is given.
  sqs_managed_sse_enabled = var.kms_key_arn == null ? true : null
  kms_master_key_id       = var.kms_key_arn

  tags = merge(local.tags, { "sentinel:function" = each.key })
}

data "aws_iam_policy_document" "on_failure_queue" {
  for_each = local.on_failure_queues

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [aws_sqs_queue.on_failure[each.key].arn]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  dynamic "statement" {
    # Events the SessionRevoked rule could not deliver to the enforcer land here too.
    for_each = each.key == "enforcer" ? [aws_cloudwatch_event_rule.session_revoked.arn] : []

    content {
      sid       = "EventBridgeDeadLetters"
      actions   = ["sqs:SendMessage"]
      resources = [aws_sqs_queue.on_failure[each.key].arn]

      principals {
        type        = "Service"
        identifiers = ["events.amazonaws.com"]
      }

      condition {
        test     = "ArnEquals"
        variable = "aws:SourceArn"
        values   = [statement.value]
      }
    }
  }
}

resource "aws_sqs_queue_policy" "on_failure" {
  for_each = local.on_failure_queues

  queue_url = aws_sqs_queue.on_failure[each.key].id
  policy    = data.aws_iam_policy_document.on_failure_queue[each.key].json
}

resource "aws_lambda_event_source_mapping" "ledger_stream" {
  for_each = local.stream_consumers

  event_source_arn = var.ledger_stream_arn
  function_name    = aws_lambda_function.this[each.key].arn

  # Both consumers must see every event ever written: the projector's views and the bus archive
  # start from the beginning of the retained stream, not from "now".
  starting_position = "TRIM_HORIZON"

  batch_size                         = var.stream_batch_size
  maximum_batching_window_in_seconds = var.stream_maximum_batching_window_seconds
  parallelization_factor             = var.stream_parallelization_factor

  # The functions report the first failed record; Lambda resumes from it instead of replaying the
  # whole batch, and bisects a failing batch to isolate a poison record.
  function_response_types        = ["ReportBatchItemFailures"]
  bisect_batch_on_function_error = true

  # Bounded, so a record that keeps failing (e.g. an unknown event type, which the projector
  # refuses rather than skips) ends up in the queue instead of blocking its shard for 24 h.
  maximum_retry_attempts        = var.stream_maximum_retry_attempts
  maximum_record_age_in_seconds = var.stream_maximum_record_age_seconds

  destination_config {
    on_failure {
      destination_arn = aws_sqs_queue.on_failure[each.key].arn
    }
  }

  # The mapping validates the role's stream and queue permissions when it is created.
  depends_on = [aws_iam_role_policy.function, aws_iam_role_policy.runtime]
}
