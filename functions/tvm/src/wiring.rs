//! Builds the TVM's dependencies from configuration and an SDK configuration: what the Lambda's
//! `main` does at cold start, and what the local stack does once.

use std::sync::Arc;

use aws_config::SdkConfig;
use ledger::identity::IdentityConfig;
use ledger::store::dynamo::DynamoEventStore;
use projections::store::dynamo::DynamoViewStore;

use crate::aws::{resolve_identity_roles, SsmPolicies, StsIssuer};
use crate::config::TvmConfig;
use crate::rate_limit::RateLimiter;
use crate::workflow::grants::LedgerGrants;
use crate::{Deps, SystemClock};

/// Real adapters for every port; identity roles resolved through IAM now.
pub async fn deps(sdk: &SdkConfig, config: &TvmConfig) -> anyhow::Result<Deps> {
    let identity = IdentityConfig {
        identity_role_ids: resolve_identity_roles(&aws_sdk_iam::Client::new(sdk), &config.identity_roles).await?,
        ..IdentityConfig::default()
    };
    let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
    let store = Arc::new(DynamoEventStore::new(dynamodb.clone(), &config.ledger_table));
    let views = Arc::new(DynamoViewStore::new(dynamodb, &config.views_table));
    let policies = Arc::new(SsmPolicies::new(aws_sdk_ssm::Client::new(sdk), &config.policy_root, &config.admins_parameter));
    Ok(Deps {
        identity,
        policies: policies.clone(),
        issuer: Arc::new(StsIssuer::new(aws_sdk_sts::Client::new(sdk))),
        store: store.clone(),
        grants: Arc::new(LedgerGrants { views: views.clone(), ledger: store }),
        views,
        policy_writer: policies,
        rate_limiter: RateLimiter::new(config.rate_limit_requests, config.rate_limit_window),
        clock: Arc::new(SystemClock),
        seen_policies: Default::default(),
    })
}
