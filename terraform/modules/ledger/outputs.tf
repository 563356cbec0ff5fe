output "ledger_table_name" {
  description = "Ledger table name (SENTINEL_LEDGER_TABLE)."
  value       = aws_dynamodb_table.ledger.name
}

output "ledger_table_arn" {
  description = "Ledger table ARN."
  value       = aws_dynamodb_table.ledger.arn
}

output "ledger_stream_arn" {
  description = "ARN of the ledger's NEW_IMAGE stream (read by the projector and the exporter only)."
  value       = aws_dynamodb_table.ledger.stream_arn
}

output "views_table_name" {
  description = "Views table name (SENTINEL_VIEWS_TABLE)."
  value       = aws_dynamodb_table.views.name
}

output "views_table_arn" {
  description = "Views table ARN; its indexes are \"<arn>/index/<name>\"."
  value       = aws_dynamodb_table.views.arn
}

output "views_index_names" {
  description = "Names of the views table's global secondary indexes."
  value       = [for i in var.views_indexes : i.name]
}

output "idempotency_table_name" {
  description = "Idempotency table name (SENTINEL_IDEMPOTENCY_TABLE)."
  value       = aws_dynamodb_table.idempotency.name
}

output "idempotency_table_arn" {
  description = "Idempotency table ARN."
  value       = aws_dynamodb_table.idempotency.arn
}
