# Plans the complete example against a mocked AWS provider: no credentials, no API calls, but the
# provider's schema, so it needs Terraform >= 1.7 and the hashicorp/aws provider available to
# `terraform init`. Not part of `make test` (CI cannot download the provider); run it where you
# can:  make package && cd terraform/examples/complete && terraform init -backend=false && terraform test

mock_provider "aws" {
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }

  mock_data "aws_caller_identity" {
    defaults = { account_id = "111122223333" }
  }

  mock_data "aws_region" {
    defaults = { name = "eu-central-1" }
  }

  # The enforcer's reservation is checked against the account's concurrency quota.
  mock_data "aws_servicequotas_service_quota" {
    defaults = { value = 1000 }
  }

  # Mocked policy documents are random strings; resources that take policy JSON reject those.
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }

  # The protected-role module validates the TVM role ARN, so the mock must look like one.
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::111122223333:role/sentinel-tvm" }
  }
}

variables {
  region = "eu-central-1"
  protected_roles = {
    Dev = { policy_arns = ["arn:aws:iam::aws:policy/ReadOnlyAccess"] }
  }
}

run "plan" {
  command = plan

  assert {
    condition     = length(module.sentinel.function_names) == 5
    error_message = "five functions"
  }
}

# The serving module on its own, so its resources can be asserted on directly.
run "sentinel_module" {
  command = plan

  module {
    source = "../../modules/sentinel"
  }

  variables {
    ledger_table_name  = "sentinel-ledger"
    ledger_table_arn   = "arn:aws:dynamodb:eu-central-1:111122223333:table/sentinel-ledger"
    ledger_stream_arn  = "arn:aws:dynamodb:eu-central-1:111122223333:table/sentinel-ledger/stream/2026-01-01T00:00:00.000"
    views_table_name   = "sentinel-views"
    views_table_arn    = "arn:aws:dynamodb:eu-central-1:111122223333:table/sentinel-views"
    identity_role_arns = ["arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Eng_0123", "arn:aws:iam::111122223333:role/Other"]
    lambda_zip_paths   = { for f in ["tvm", "authorizer", "projector", "exporter", "enforcer"] : f => "../../../target/lambda/${f}/bootstrap.zip" }
  }

  assert {
    condition     = length(aws_apigatewayv2_route.iam) == 19 && aws_apigatewayv2_route.health.authorization_type == "NONE" && aws_apigatewayv2_route.credentials.authorization_type == "CUSTOM"
    error_message = "19 AWS_IAM routes, GET /health NONE, GET /credentials CUSTOM"
  }

  assert {
    condition     = aws_apigatewayv2_authorizer.session.authorizer_result_ttl_in_seconds == 0 && aws_apigatewayv2_authorizer.session.enable_simple_responses
    error_message = "the revocation authorizer must never cache and use simple responses"
  }

  assert {
    condition     = length(aws_lambda_event_source_mapping.ledger_stream) == 2 && alltrue([for m in aws_lambda_event_source_mapping.ledger_stream : m.starting_position == "TRIM_HORIZON" && m.bisect_batch_on_function_error])
    error_message = "exactly two stream consumers, from TRIM_HORIZON, bisecting on error"
  }

  assert {
    condition     = aws_lambda_function.this["enforcer"].reserved_concurrent_executions == 1
    error_message = "the enforcer runs one at a time"
  }

  assert {
    condition = alltrue([for f in aws_lambda_function.this : f.runtime == "provided.al2023" && f.handler == "bootstrap" &&
    f.environment[0].variables["SENTINEL_IDENTITY_ROLES"] == "arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Eng_0123,arn:aws:iam::111122223333:role/Other"])
    error_message = "runtime, handler and the comma-joined identity roles"
  }
}

run "admins_parameter_outside_policy_root" {
  command = plan

  module {
    source = "../../modules/sentinel"
  }

  variables {
    ledger_table_name = "sentinel-ledger"
    ledger_table_arn  = "arn:aws:dynamodb:eu-central-1:111122223333:table/sentinel-ledger"
    ledger_stream_arn = "arn:aws:dynamodb:eu-central-1:111122223333:table/sentinel-ledger/stream/2026-01-01T00:00:00.000"
    views_table_name  = "sentinel-views"
    views_table_arn   = "arn:aws:dynamodb:eu-central-1:111122223333:table/sentinel-views"
    lambda_zip_paths  = { for f in ["tvm", "authorizer", "projector", "exporter", "enforcer"] : f => "../../../target/lambda/${f}/bootstrap.zip" }
    admins_parameter  = "/sentinel/policies/admins"
  }

  expect_failures = [aws_iam_role_policy.function]
}

run "enforcer_unreserved_on_small_accounts" {
  command = plan

  module {
    source = "../../modules/sentinel"
  }

  variables {
    ledger_table_name            = "sentinel-ledger"
    ledger_table_arn             = "arn:aws:dynamodb:eu-central-1:111122223333:table/sentinel-ledger"
    ledger_stream_arn            = "arn:aws:dynamodb:eu-central-1:111122223333:table/sentinel-ledger/stream/2026-01-01T00:00:00.000"
    views_table_name             = "sentinel-views"
    views_table_arn              = "arn:aws:dynamodb:eu-central-1:111122223333:table/sentinel-views"
    lambda_zip_paths             = { for f in ["tvm", "authorizer", "projector", "exporter", "enforcer"] : f => "../../../target/lambda/${f}/bootstrap.zip" }
    reserve_enforcer_concurrency = false
    alarm_emails                 = ["oncall@example.com"]
  }

  assert {
    condition     = aws_lambda_function.this["enforcer"].reserved_concurrent_executions == -1 && length(aws_sns_topic_subscription.alarm_email) == 1
    error_message = "reserve_enforcer_concurrency = false leaves the enforcer unreserved; alarm_emails subscribes each address"
  }
}

run "architecture_must_match_the_package" {
  command = plan

  module {
    source = "../../modules/sentinel"
  }

  variables {
    ledger_table_name = "sentinel-ledger"
    ledger_table_arn  = "arn:aws:dynamodb:eu-central-1:111122223333:table/sentinel-ledger"
    ledger_stream_arn = "arn:aws:dynamodb:eu-central-1:111122223333:table/sentinel-ledger/stream/2026-01-01T00:00:00.000"
    views_table_name  = "sentinel-views"
    views_table_arn   = "arn:aws:dynamodb:eu-central-1:111122223333:table/sentinel-views"
    lambda_zip_paths  = { for f in ["tvm", "authorizer", "projector", "exporter", "enforcer"] : f => "../../../target/lambda/${f}/bootstrap.zip" }
    architecture      = "arm64"
  }

  # `make package` (x86_64 by default) wrote the manifest these zips are checked against.
  expect_failures = [aws_lambda_function.this]
}
