output "api_url" {
  description = "Sentinel API base URL: `sentinel --remote-server <this>` or SENTINEL_TVM_URL."
  value       = module.sentinel.api_endpoint
}

output "api_execution_arn" {
  description = "Grant callers execute-api:Invoke on \"<this>/*\"."
  value       = module.sentinel.api_execution_arn
}

output "ledger_table_name" {
  description = "Ledger table (SENTINEL_LEDGER_TABLE)."
  value       = module.ledger.ledger_table_name
}

output "views_table_name" {
  description = "Views table (SENTINEL_VIEWS_TABLE)."
  value       = module.ledger.views_table_name
}

output "event_bus_arn" {
  description = "Ledger event bus ARN."
  value       = module.sentinel.event_bus_arn
}

output "tvm_role_arn" {
  description = "TVM execution role: put it in protected roles' trust policies and in the SCP."
  value       = module.sentinel.tvm_role_arn
}

output "protected_role_arns" {
  description = "Protected roles created here, by name suffix."
  value       = { for k, m in module.protected_role : k => m.role_arn }
}

output "notification_topic_arn" {
  description = "Subscribe on-call addresses here to hear of break-glass and approval requests."
  value       = module.sentinel.notification_topic_arn
}
