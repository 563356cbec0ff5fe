# One CloudWatch dashboard with what the alarms watch, so an alarm's context is one click away:
# the API, each function, the stream consumers, the enforcer, the tables and the queues.

locals {
  lambda_metric_rows = [
    for metric in ["Invocations", "Errors", "Throttles"] : {
      type   = "metric"
      width  = 8
      height = 6
      properties = {
        title   = "Lambda ${metric}"
        region  = local.region
        stat    = "Sum"
        period  = 300
        metrics = [for f in sort(tolist(local.functions)) : ["AWS/Lambda", metric, "FunctionName", aws_lambda_function.this[f].function_name, { label = f }]]
      }
    }
  ]

  dashboard_widgets = concat(local.lambda_metric_rows, [
    {
      type   = "metric"
      width  = 8
      height = 6
      properties = {
        title  = "API requests and errors"
        region = local.region
        stat   = "Sum"
        period = 300
        metrics = [
          ["AWS/ApiGateway", "Count", "ApiId", aws_apigatewayv2_api.this.id, { label = "requests" }],
          ["AWS/ApiGateway", "4xx", "ApiId", aws_apigatewayv2_api.this.id, { label = "4xx" }],
          ["AWS/ApiGateway", "5xx", "ApiId", aws_apigatewayv2_api.this.id, { label = "5xx" }],
        ]
      }
    },
    {
      type   = "metric"
      width  = 8
      height = 6
      properties = {
        title   = "p99 duration (ms)"
        region  = local.region
        stat    = "p99"
        period  = 300
        metrics = [for f in ["tvm", "authorizer"] : ["AWS/Lambda", "Duration", "FunctionName", aws_lambda_function.this[f].function_name, { label = f }]]
      }
    },
    {
      type   = "metric"
      width  = 8
      height = 6
      properties = {
        title   = "Stream lag (IteratorAge, ms)"
        region  = local.region
        stat    = "Maximum"
        period  = 60
        metrics = [for f in sort(tolist(local.stream_consumers)) : ["AWS/Lambda", "IteratorAge", "FunctionName", aws_lambda_function.this[f].function_name, { label = f }]]
      }
    },
    {
      type   = "metric"
      width  = 8
      height = 6
      properties = {
        title  = "Enforcer"
        region = local.region
        period = 300
        metrics = [
          ["AWS/Lambda", "AsyncEventAge", "FunctionName", aws_lambda_function.this["enforcer"].function_name, { stat = "Maximum", label = "event age (ms)" }],
          [var.metrics_namespace, "RevocationsNotEnforced", { stat = "Sum", label = "revocations not enforced", yAxis = "right" }],
        ]
      }
    },
    {
      type   = "metric"
      width  = 8
      height = 6
      properties = {
        title   = "On-failure queues (messages)"
        region  = local.region
        stat    = "Maximum"
        period  = 300
        metrics = [for k in sort(tolist(local.on_failure_queues)) : ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", aws_sqs_queue.on_failure[k].name, { label = k }]]
      }
    },
    {
      type   = "metric"
      width  = 8
      height = 6
      properties = {
        title  = "DynamoDB throttles"
        region = local.region
        stat   = "Sum"
        period = 300
        metrics = flatten([for k, t in local.table_operations : [
          ["AWS/DynamoDB", "ReadThrottleEvents", "TableName", t.name, { label = "${k} reads" }],
          ["AWS/DynamoDB", "WriteThrottleEvents", "TableName", t.name, { label = "${k} writes" }],
        ]])
      }
    },
  ])
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = "${var.name_prefix}-overview"
  dashboard_body = jsonencode({ widgets = local.dashboard_widgets })
}
