output "role_arn" {
  description = "ARN of the protected role: the role_arn of the profile's policy in SSM."
  value       = aws_iam_role.this.arn
}

output "role_name" {
  description = "Name of the protected role (SentinelProtected-<name>)."
  value       = aws_iam_role.this.name
}
