# ---------------------------------------------------------------------------------------------
# Naming and the tables (from module "ledger")
# ---------------------------------------------------------------------------------------------

variable "name_prefix" {
  description = "Prefix of every named resource: functions and roles are <prefix>-tvm, <prefix>-authorizer, ..., the API <prefix>-api."
  type        = string
  default     = "sentinel"

  validation {
    # The longest derived name is "<prefix>-authorizer-p99-duration" (alarm) and "<prefix>-authorizer"
    # (IAM role, 64 max); 32 leaves room for both.
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$", var.name_prefix))
    error_message = "name_prefix must be 1-32 characters of [A-Za-z0-9_-], starting with a letter or digit."
  }
}

variable "ledger_table_name" {
  description = "Ledger table name (module ledger, output ledger_table_name)."
  type        = string
}

variable "ledger_table_arn" {
  description = "Ledger table ARN (module ledger, output ledger_table_arn)."
  type        = string
}

variable "ledger_stream_arn" {
  description = "Ledger stream ARN (module ledger, output ledger_stream_arn)."
  type        = string
}

variable "views_table_name" {
  description = "Views table name (module ledger, output views_table_name)."
  type        = string
}

variable "views_table_arn" {
  description = "Views table ARN (module ledger, output views_table_arn)."
  type        = string
}

variable "idempotency_table_name" {
  description = "Idempotency table name (module ledger, output idempotency_table_name)."
  type        = string
}

variable "idempotency_table_arn" {
  description = "Idempotency table ARN (module ledger, output idempotency_table_arn)."
  type        = string
}

# ---------------------------------------------------------------------------------------------
# Lambda packages and runtime settings
# ---------------------------------------------------------------------------------------------

variable "lambda_zip_paths" {
  description = <<-EOT
    Path of each function's deployment zip (a single "bootstrap" executable), keyed by function:
    tvm, authorizer, projector, exporter, enforcer. `make package` writes them to
    target/lambda/<function>/bootstrap.zip.
  EOT
  type        = map(string)

  validation {
    condition     = sort(keys(var.lambda_zip_paths)) == sort(["tvm", "authorizer", "projector", "exporter", "enforcer"])
    error_message = "lambda_zip_paths needs exactly the keys tvm, authorizer, projector, exporter, enforcer."
  }
}

variable "architecture" {
  description = "Instruction set of the zips: what `make package LAMBDA_ARCH=...` built (x86_64 by default; arm64 needs the aarch64-unknown-linux-gnu Rust target). Checked against the package manifest."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture must be x86_64 or arm64."
  }
}

variable "package_manifest_path" {
  description = "The manifest `make package` writes next to the zips ({architecture, functions: {<fn>: {sha256}}}). null = manifest.json in the directory above the tvm zip's folder (target/lambda/manifest.json)."
  type        = string
  default     = null
}

variable "lambda_memory_mb" {
  description = "Memory per function in MB, merged over the defaults (256 for each). Lambda CPU scales with memory, so the TVM's cold start does too."
  type        = map(number)
  default     = {}

  validation {
    condition     = alltrue([for k, v in var.lambda_memory_mb : contains(["tvm", "authorizer", "projector", "exporter", "enforcer"], k) && v >= 128 && v <= 10240])
    error_message = "Keys must be function names; values 128-10240."
  }
}

variable "lambda_timeout_seconds" {
  description = "Timeout per function in seconds, merged over the defaults (tvm 15, authorizer 5, projector 60, exporter 60, enforcer 30). API Gateway gives up on the TVM after 30 s whatever this says."
  type        = map(number)
  default     = {}

  validation {
    condition     = alltrue([for k, v in var.lambda_timeout_seconds : contains(["tvm", "authorizer", "projector", "exporter", "enforcer"], k) && v >= 1 && v <= 900])
    error_message = "Keys must be function names; values 1-900."
  }
}

variable "reserve_enforcer_concurrency" {
  description = <<-EOT
    Reserve exactly one concurrent execution for the enforcer. It read-modify-writes one inline
    policy per protected role, and one-at-a-time keeps two revocations of the same role from
    overwriting each other's deny. Lambda keeps 100 executions unreserved, so this needs an
    account concurrency quota of at least 101 (new accounts often have 10): false deploys the
    enforcer unreserved (docs/deployment.md says what that risks and how to check the quota).
  EOT
  type        = bool
  default     = true
}

variable "check_concurrency_quota" {
  description = "With reserve_enforcer_concurrency, read the account's Lambda concurrency quota from Service Quotas at plan time (servicequotas:GetServiceQuota) and refuse to plan when it is below 101."
  type        = bool
  default     = true
}

variable "reserved_concurrency" {
  description = <<-EOT
    Optional reserved concurrency per function (tvm, authorizer, projector, exporter). Unset = the
    account's unreserved pool. The enforcer's reservation is reserve_enforcer_concurrency.
  EOT
  type        = map(number)
  default     = {}

  validation {
    condition     = alltrue([for k, v in var.reserved_concurrency : contains(["tvm", "authorizer", "projector", "exporter"], k) && v >= 0])
    error_message = "Keys must be tvm, authorizer, projector or exporter (the enforcer is fixed at 1); values >= 0."
  }
}

variable "rust_log" {
  description = "RUST_LOG for every function (tracing-subscriber filter syntax)."
  type        = string
  default     = "info"
}

variable "extra_environment" {
  description = "Extra environment variables for every function (e.g. AWS_LAMBDA_LOG_LEVEL). Cannot override the SENTINEL_* variables."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.extra_environment) : !startswith(k, "SENTINEL_") && k != "RUST_LOG"])
    error_message = "SENTINEL_* and RUST_LOG are set by the module from its own variables."
  }
}

variable "tracing_mode" {
  description = "X-Ray tracing mode of the functions: Active or PassThrough."
  type        = string
  default     = "Active"

  validation {
    condition     = contains(["Active", "PassThrough"], var.tracing_mode)
    error_message = "tracing_mode must be Active or PassThrough."
  }
}

variable "code_signing_config_arn" {
  description = "Optional Lambda code signing configuration; with one, only zips signed by its signing profiles deploy."
  type        = string
  default     = null
}

variable "role_permissions_boundary_arn" {
  description = "Optional permissions boundary for the five execution roles (organisations that require one on every role)."
  type        = string
  default     = null
}

variable "log_retention_days" {
  description = "Retention of the functions' and the API's log groups. Logs hold principal ARNs and e-mail addresses (see docs/deployment.md, data handling)."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)."
  }
}

variable "kms_key_arn" {
  description = <<-EOT
    Optional customer managed KMS key used for the functions' environment, log groups, on-failure
    queues and the notification topic, and granted to the functions for the tables if the tables
    use it. The key policy must let CloudWatch Logs, EventBridge and SNS use it (docs/deployment.md).
    null = AWS managed / owned keys.
  EOT
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

# ---------------------------------------------------------------------------------------------
# What the functions are told (environment; DESIGN §4)
# ---------------------------------------------------------------------------------------------

variable "policy_root" {
  description = "SSM path under which each profile's policy is a parameter (SENTINEL_POLICY_ROOT)."
  type        = string
  default     = "/sentinel/policies"

  validation {
    condition     = can(regex("^(/[A-Za-z0-9_.-]+)+$", var.policy_root))
    error_message = "policy_root must be an absolute SSM path without a trailing slash, e.g. /sentinel/policies."
  }
}

variable "pagination_key_parameter" {
  description = "SSM SecureString parameter holding the key that seals list pages' next_token (SENTINEL_PAGINATION_KEY_PARAMETER). The TVM creates it with 32 random bytes at its first cold start; delete it to rotate (outstanding tokens then stop working)."
  type        = string
  default     = "/sentinel/pagination-key"

  validation {
    condition     = can(regex("^(/[A-Za-z0-9_.-]+)+$", var.pagination_key_parameter))
    error_message = "pagination_key_parameter must be an absolute SSM parameter name, e.g. /sentinel/pagination-key."
  }
}

variable "admins_parameter" {
  description = "SSM parameter listing the Sentinel admins (SENTINEL_ADMINS_PARAMETER). Must not be under policy_root: the TVM may write there."
  type        = string
  default     = "/sentinel/admins"

  validation {
    condition     = can(regex("^(/[A-Za-z0-9_.-]+)+$", var.admins_parameter))
    error_message = "admins_parameter must be an absolute SSM parameter name, e.g. /sentinel/admins."
  }
}

variable "admins" {
  description = <<-EOT
    Optional first contents of the admins parameter ({users = [...], principals = [...]}, the
    matching rules of policies: bare names, iam:NAME, idp:NAME, principal ARN patterns). Without
    it nobody is an admin after the first apply, so nobody can publish a policy through the API.
    Terraform creates the parameter once and ignores later edits of its value.
  EOT
  type = object({
    users      = optional(list(string), [])
    principals = optional(list(string), [])
  })
  default = null

  validation {
    condition     = var.admins == null || length(concat(try(var.admins.users, []), try(var.admins.principals, []))) > 0
    error_message = "admins needs at least one user or principal (or leave it null and write the parameter yourself)."
  }
}

variable "initial_policy_files" {
  description = <<-EOT
    Optional first policies, profile name => path of its YAML file (e.g. examples/policies/dev.yaml).
    Each becomes <policy_root>/<profile>, created once; later versions are published with
    `sentinel policy push`, and Terraform ignores the parameter's value after creation.
  EOT
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for p, f in var.initial_policy_files : can(regex("^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", p)) && fileexists(f)])
    error_message = "Keys must be profile names ([A-Za-z0-9][A-Za-z0-9_.-]{0,63}); values existing files."
  }

  validation {
    condition     = alltrue([for p, f in var.initial_policy_files : try(tostring(yamldecode(file(f)).profile), "") == p && length(file(f)) <= 4096])
    error_message = "Each file's `profile:` must equal its key, and a file may hold at most 4096 bytes (a standard SSM parameter; the TVM writes standard parameters)."
  }
}

variable "rate_limit_requests" {
  description = "Requests one principal may make per window on one TVM instance (SENTINEL_RATE_LIMIT_REQUESTS); over it the TVM answers 429."
  type        = number
  default     = 100

  validation {
    condition     = var.rate_limit_requests >= 1 && floor(var.rate_limit_requests) == var.rate_limit_requests
    error_message = "rate_limit_requests must be a whole number of at least 1."
  }
}

variable "rate_limit_window_seconds" {
  description = "The rate limit's window in seconds (SENTINEL_RATE_LIMIT_WINDOW)."
  type        = number
  default     = 60

  validation {
    condition     = var.rate_limit_window_seconds >= 1 && floor(var.rate_limit_window_seconds) == var.rate_limit_window_seconds
    error_message = "rate_limit_window_seconds must be a whole number of seconds, at least 1."
  }
}

variable "identity_role_arns" {
  description = <<-EOT
    Roles whose session name is trusted as the user name (SENTINEL_IDENTITY_ROLES), e.g. the IAM
    Identity Center permission-set roles under /aws-reserved/sso.amazonaws.com/. The TVM resolves
    them to role ids at cold start (iam:GetRole on exactly these roles).
  EOT
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.identity_role_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/", a)) && !strcontains(a, ",")])
    error_message = "Each identity role must be a full IAM role ARN (they are joined with commas)."
  }
}

variable "protected_role_account_ids" {
  description = "Accounts whose SentinelProtected-* roles the TVM may assume. [\"*\"] = any account (each role's trust policy still decides)."
  type        = list(string)
  default     = ["*"]

  validation {
    condition     = length(var.protected_role_account_ids) > 0 && alltrue([for a in var.protected_role_account_ids : a == "*" || can(regex("^[0-9]{12}$", a))])
    error_message = "Each entry must be a 12-digit account id or \"*\"."
  }
}

# ---------------------------------------------------------------------------------------------
# HTTP API
# ---------------------------------------------------------------------------------------------

variable "api_throttling_rate_limit" {
  description = "Stage-wide steady-state request rate (requests per second) across all callers; per-principal limits are the TVM's own."
  type        = number
  default     = 50

  validation {
    condition     = var.api_throttling_rate_limit > 0
    error_message = "api_throttling_rate_limit must be positive."
  }
}

variable "api_throttling_burst_limit" {
  description = "Stage-wide burst (requests)."
  type        = number
  default     = 100

  validation {
    condition     = var.api_throttling_burst_limit > 0
    error_message = "api_throttling_burst_limit must be positive."
  }
}

# ---------------------------------------------------------------------------------------------
# Ledger stream consumers (projector, exporter)
# ---------------------------------------------------------------------------------------------

variable "stream_batch_size" {
  description = "Records per invocation for the projector and the exporter."
  type        = number
  default     = 100

  validation {
    condition     = var.stream_batch_size >= 1 && var.stream_batch_size <= 10000
    error_message = "stream_batch_size must be 1-10000."
  }
}

variable "stream_maximum_batching_window_seconds" {
  description = "How long Lambda may wait to fill a batch. 0 keeps view lag (and revocation export) minimal."
  type        = number
  default     = 0

  validation {
    condition     = var.stream_maximum_batching_window_seconds >= 0 && var.stream_maximum_batching_window_seconds <= 300
    error_message = "stream_maximum_batching_window_seconds must be 0-300."
  }
}

variable "stream_maximum_retry_attempts" {
  description = "Retries of a failing batch before its metadata goes to the on-failure queue. Bounded so one poison record cannot block a shard for the stream's 24 h."
  type        = number
  default     = 10

  validation {
    condition     = var.stream_maximum_retry_attempts >= 0 && var.stream_maximum_retry_attempts <= 10000
    error_message = "stream_maximum_retry_attempts must be 0-10000 (-1, unbounded, is deliberately not allowed)."
  }
}

variable "stream_maximum_record_age_seconds" {
  description = <<-EOT
    Records older than this are sent to the on-failure queue instead of being retried. Default 6 h:
    long enough to ride out an outage, short enough that 18 h of the stream's 24 h retention remain
    to replay from the queued shard and sequence numbers (docs/deployment.md, DLQ replay).
  EOT
  type        = number
  default     = 21600

  validation {
    condition     = var.stream_maximum_record_age_seconds >= 60 && var.stream_maximum_record_age_seconds <= 86400
    error_message = "stream_maximum_record_age_seconds must be 60-86400 (the stream keeps records 24 h; -1 is deliberately not allowed)."
  }
}

variable "stream_parallelization_factor" {
  description = "Concurrent batches per shard. Order per item key (one ledger stream) is preserved at any factor."
  type        = number
  default     = 1

  validation {
    condition     = var.stream_parallelization_factor >= 1 && var.stream_parallelization_factor <= 10
    error_message = "stream_parallelization_factor must be 1-10."
  }
}

variable "dlq_message_retention_seconds" {
  description = "How long the on-failure queues keep messages (max 14 days)."
  type        = number
  default     = 1209600

  validation {
    condition     = var.dlq_message_retention_seconds >= 60 && var.dlq_message_retention_seconds <= 1209600
    error_message = "dlq_message_retention_seconds must be 60-1209600."
  }
}

# ---------------------------------------------------------------------------------------------
# EventBridge
# ---------------------------------------------------------------------------------------------

variable "event_bus_name" {
  description = "Name of the bus the exporter publishes every ledger event to (SENTINEL_EVENT_BUS)."
  type        = string
  default     = "sentinel-ledger"

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]{1,256}$", var.event_bus_name)) && var.event_bus_name != "default"
    error_message = "event_bus_name must be 1-256 characters of [A-Za-z0-9._-] and not \"default\"."
  }
}

variable "event_archive_retention_days" {
  description = "Retention of the bus archive (every exported event, replayable). 0 = indefinitely. Events carry principal ARNs and e-mail addresses."
  type        = number
  default     = 365

  validation {
    condition     = var.event_archive_retention_days >= 0
    error_message = "event_archive_retention_days must be >= 0."
  }
}

variable "enforcer_maximum_event_age_seconds" {
  description = "How long a SessionRevoked event may wait (async retries, throttling at concurrency 1) before it goes to the enforcer's queue."
  type        = number
  default     = 21600

  validation {
    condition     = var.enforcer_maximum_event_age_seconds >= 60 && var.enforcer_maximum_event_age_seconds <= 21600
    error_message = "enforcer_maximum_event_age_seconds must be 60-21600."
  }
}

variable "enable_notifications" {
  description = "Create an SNS topic and EventBridge rules that publish the notification_detail_types to it."
  type        = bool
  default     = false
}

variable "notification_detail_types" {
  description = "Ledger event types that are published to the notification topic."
  type        = list(string)
  default     = ["BreakGlassInvoked", "ApprovalRequested"]

  validation {
    condition     = length(var.notification_detail_types) > 0 && alltrue([for t in var.notification_detail_types : can(regex("^[A-Z][A-Za-z]+$", t))])
    error_message = "At least one detail type; each a ledger event type name, e.g. BreakGlassInvoked."
  }
}

# ---------------------------------------------------------------------------------------------
# Alarms
# ---------------------------------------------------------------------------------------------

variable "alarm_emails" {
  description = "E-mail addresses subscribed to a topic (<prefix>-alarms) that every alarm notifies. Each address must confirm the subscription mail."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for e in var.alarm_emails : can(regex("^[^@\\s]+@[^@\\s]+$", e))])
    error_message = "Each alarm e-mail must look like an e-mail address."
  }
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of Sentinel's own metrics (RevocationsNotEnforced from the enforcer's logs, Heartbeat from the expiry sweep)."
  type        = string
  default     = "Sentinel"
}

variable "enable_heartbeat_alarm" {
  description = "Alarm when the expiry sweep's Heartbeat metric stops (missing data breaches). Off by default: this version of the module deploys no expiry sweep, so the metric would never arrive."
  type        = bool
  default     = false
}

variable "heartbeat_period_seconds" {
  description = "Period of the heartbeat alarm: at least the sweep's schedule interval."
  type        = number
  default     = 300

  validation {
    condition     = var.heartbeat_period_seconds >= 60 && var.heartbeat_period_seconds % 60 == 0
    error_message = "heartbeat_period_seconds must be a multiple of 60, at least 60."
  }
}

variable "heartbeat_missing_periods" {
  description = "Consecutive periods without a heartbeat before the alarm fires."
  type        = number
  default     = 3

  validation {
    condition     = var.heartbeat_missing_periods >= 1
    error_message = "heartbeat_missing_periods must be at least 1."
  }
}

variable "alarm_actions" {
  description = "Existing ARNs notified when an alarm fires (e.g. an SNS topic of the on-call), in addition to alarm_emails."
  type        = list(string)
  default     = []
}

variable "ok_actions" {
  description = "ARNs notified when an alarm recovers."
  type        = list(string)
  default     = []
}

variable "tvm_p99_duration_threshold_ms" {
  description = "Alarm when the TVM's p99 duration exceeds this (ms)."
  type        = number
  default     = 1000
}

variable "authorizer_p99_duration_threshold_ms" {
  description = "Alarm when the authorizer's p99 duration exceeds this (ms); it runs on every credential refresh."
  type        = number
  default     = 300
}

variable "api_5xx_threshold" {
  description = "Alarm when the API returns more than this many 5xx responses in 5 minutes (500 POLICY_ERROR / CREDENTIAL_ERROR, 503 LEDGER_UNAVAILABLE, gateway errors)."
  type        = number
  default     = 0
}

variable "iterator_age_threshold_ms" {
  description = "Alarm when a stream consumer lags by more than this (ms). Shard rollovers cause short spikes, hence 3 of 5 minutes must breach."
  type        = number
  default     = 60000
}

variable "enforcer_event_age_threshold_ms" {
  description = "Alarm when SessionRevoked events wait longer than this (ms) for the enforcer."
  type        = number
  default     = 300000
}

variable "tags" {
  description = "Tags for every resource of the module."
  type        = map(string)
  default     = {}
}
