# HTTP API in front of the TVM (DESIGN §4). API Gateway, not the function, verifies SigV4 on the
# AWS_IAM routes and puts the verified caller in requestContext.authorizer.iam, the only identity
# the TVM trusts. Every route goes to the TVM; the authorizer only gates GET /credentials.
#
# An HTTP API route has exactly one authorization type, which is why the session-token refresh
# is a separate CUSTOM route and not a second mode of GET /.

locals {
  # Keep in step with terraform/contract.json ("routes"); tools/terraform_checks.py compares them.
  iam_route_keys = [
    "GET /",
    "POST /",
    "GET /profiles",
    "GET /whoami",
    "POST /requests",
    "GET /requests",
    "GET /requests/{id}",
    "POST /requests/{id}/approve",
    "POST /requests/{id}/deny",
    "POST /requests/{id}/cancel",
    "POST /requests/{id}/revoke",
    "POST /breakglass",
    "GET /breakglass",
    "GET /breakglass/{id}",
    "POST /breakglass/{id}/close",
    "GET /sessions",
    "GET /sessions/{id}",
    "POST /sessions/{id}/revoke",
    "PUT /policies/{profile}",
    "GET /audit",
  ]
}

resource "aws_apigatewayv2_api" "this" {
  name          = "${var.name_prefix}-api"
  description   = "Sentinel token vending machine and ledger API"
  protocol_type = "HTTP"

  tags = local.tags
}

resource "aws_apigatewayv2_integration" "tvm" {
  api_id                 = aws_apigatewayv2_api.this.id
  integration_type       = "AWS_PROXY"
  integration_method     = "POST"
  integration_uri        = aws_lambda_function.this["tvm"].invoke_arn
  payload_format_version = "2.0"
  # A little longer than the function may run, within API Gateway's 30 s ceiling, so that a
  # slow TVM ends in its own 503 rather than a gateway timeout.
  timeout_milliseconds = min(30000, (local.timeout_seconds["tvm"] + 1) * 1000)
}

resource "aws_apigatewayv2_route" "iam" {
  for_each = toset(local.iam_route_keys)

  api_id             = aws_apigatewayv2_api.this.id
  route_key          = each.key
  authorization_type = "AWS_IAM"
  target             = "integrations/${aws_apigatewayv2_integration.tvm.id}"
}

# Liveness for load balancers and humans; answers {"status":"ok","version":...} and nothing else.
resource "aws_apigatewayv2_route" "health" {
  #checkov:skip=CKV_AWS_309:GET /health is public by design (DESIGN §4): it returns status and version only, no data.
  api_id             = aws_apigatewayv2_api.this.id
  route_key          = "GET /health"
  authorization_type = "NONE"
  target             = "integrations/${aws_apigatewayv2_integration.tvm.id}"
}

# What SDKs call through AWS_CONTAINER_CREDENTIALS_FULL_URI with the session token in
# Authorization. The revocation authorizer runs on every call (no caching), so a revoked or
# expired session cannot refresh for even one more request.
resource "aws_apigatewayv2_authorizer" "session" {
  api_id          = aws_apigatewayv2_api.this.id
  name            = "session-revocation"
  authorizer_type = "REQUEST"
  authorizer_uri  = aws_lambda_function.this["authorizer"].invoke_arn

  authorizer_payload_format_version = "2.0"
  enable_simple_responses           = true
  # 0 = never cache: caching would let a revoked token refresh until the cache entry expired.
  authorizer_result_ttl_in_seconds = 0
  # A request without the header is refused with 401 before the authorizer is invoked.
  identity_sources = ["$request.header.Authorization"]
}

resource "aws_apigatewayv2_route" "credentials" {
  api_id             = aws_apigatewayv2_api.this.id
  route_key          = "GET /credentials"
  authorization_type = "CUSTOM"
  authorizer_id      = aws_apigatewayv2_authorizer.session.id
  target             = "integrations/${aws_apigatewayv2_integration.tvm.id}"
}

resource "aws_cloudwatch_log_group" "api_access" {
  #checkov:skip=CKV_AWS_158:Encryption with a customer managed key is optional (var.kms_key_arn); without one CloudWatch Logs encrypts with its own key.
  name              = "/aws/apigateway/${var.name_prefix}-api"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn

  tags = local.tags
}

resource "aws_apigatewayv2_stage" "default" {
  api_id      = aws_apigatewayv2_api.this.id
  name        = "$default"
  auto_deploy = true

  # Stage-wide ceiling protecting the TVM, STS and the ledger from floods; the TVM's own
  # per-principal limit (keyed by userId) is what stops one caller starving the others.
  default_route_settings {
    throttling_rate_limit    = var.api_throttling_rate_limit
    throttling_burst_limit   = var.api_throttling_burst_limit
    detailed_metrics_enabled = true
  }

  # Who called what and how it ended; no headers, query strings or bodies, so neither session
  # tokens nor justifications reach these logs.
  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.api_access.arn
    format = jsonencode({
      requestId          = "$context.requestId"
      requestTime        = "$context.requestTime"
      sourceIp           = "$context.identity.sourceIp"
      userAgent          = "$context.identity.userAgent"
      httpMethod         = "$context.httpMethod"
      path               = "$context.path"
      routeKey           = "$context.routeKey"
      status             = "$context.status"
      responseLength     = "$context.responseLength"
      responseLatency    = "$context.responseLatency"
      callerArn          = "$context.identity.userArn"
      callerAccount      = "$context.identity.accountId"
      authorizerError    = "$context.authorizer.error"
      integrationStatus  = "$context.integration.status"
      integrationLatency = "$context.integration.latency"
      integrationError   = "$context.integrationErrorMessage"
    })
  }

  tags = local.tags
}

resource "aws_lambda_permission" "tvm_from_api" {
  statement_id  = "AllowHttpApi"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this["tvm"].function_name
  principal     = "apigateway.amazonaws.com"
  # Any stage, method and route of this API only.
  source_arn = "${aws_apigatewayv2_api.this.execution_arn}/*"
}

resource "aws_lambda_permission" "authorizer_from_api" {
  statement_id  = "AllowHttpApiAuthorizer"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this["authorizer"].function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.this.execution_arn}/authorizers/${aws_apigatewayv2_authorizer.session.id}"
}
