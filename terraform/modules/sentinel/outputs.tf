output "api_endpoint" {
  description = "Base URL of the API (the $default stage): SENTINEL_TVM_URL / --remote-server for clients."
  value       = aws_apigatewayv2_stage.default.invoke_url
}

output "api_id" {
  description = "HTTP API id."
  value       = aws_apigatewayv2_api.this.id
}

output "api_execution_arn" {
  description = "Execution ARN of the API; callers need execute-api:Invoke on \"<this>/*\" (docs/deployment.md)."
  value       = aws_apigatewayv2_api.this.execution_arn
}

output "tvm_role_arn" {
  description = "Execution role of the TVM: the only principal protected roles trust, and the exception in the SCP."
  value       = aws_iam_role.function["tvm"].arn
}

output "function_role_arns" {
  description = "Execution role ARN of each function."
  value       = { for k, r in aws_iam_role.function : k => r.arn }
}

output "function_names" {
  description = "Name of each function."
  value       = { for k, f in aws_lambda_function.this : k => f.function_name }
}

output "event_bus_name" {
  description = "Name of the ledger event bus (SENTINEL_EVENT_BUS)."
  value       = aws_cloudwatch_event_bus.ledger.name
}

output "event_bus_arn" {
  description = "ARN of the ledger event bus; audit consumers add their own rules to it."
  value       = aws_cloudwatch_event_bus.ledger.arn
}

output "event_archive_arn" {
  description = "ARN of the bus archive (replay source)."
  value       = aws_cloudwatch_event_archive.ledger.arn
}

output "on_failure_queue_urls" {
  description = "On-failure queue of the projector, the exporter and the enforcer."
  value       = { for k, q in aws_sqs_queue.on_failure : k => q.id }
}

output "notification_topic_arn" {
  description = "SNS topic receiving notification_detail_types events (null unless enable_notifications)."
  value       = one(aws_sns_topic.notifications[*].arn)
}

output "enforcer_policy_name" {
  description = "Name of the inline policy the enforcer maintains on each protected role (holds the revocation denies)."
  value       = local.enforcer_policy_name
}
