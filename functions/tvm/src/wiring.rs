//! Builds the TVM's dependencies from configuration and an SDK configuration: what the Lambda's
//! `main` does at cold start, and what the local stack does once.

use std::sync::Arc;

use aws_config::SdkConfig;
use ledger::identity::IdentityConfig;
use ledger::store::dynamo::DynamoEventStore;
use projections::store::dynamo::DynamoViewStore;

use crate::aws::{pagination_key, resolve_identity_roles, SsmPolicies, StsIssuer};
use crate::config::TvmConfig;
use crate::rate_limit::RateLimiter;
use crate::workflow::grants::LedgerGrants;
use crate::{Deps, SystemClock};

/// The AWS clients the TVM uses.
#[derive(Debug, Clone)]
pub struct Clients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub sts: aws_sdk_sts::Client,
    pub iam: aws_sdk_iam::Client,
}

impl Clients {
    /// Every client from one SDK configuration (the standard AWS environment in Lambda).
    pub fn from_sdk(sdk: &SdkConfig) -> Self {
        Clients {
            dynamodb: aws_sdk_dynamodb::Client::new(sdk),
            ssm: aws_sdk_ssm::Client::new(sdk),
            sts: aws_sdk_sts::Client::new(sdk),
            iam: aws_sdk_iam::Client::new(sdk),
        }
    }
}

/// Real adapters for every port; identity roles resolved through IAM now.
pub async fn deps(clients: &Clients, config: &TvmConfig) -> anyhow::Result<Deps> {
    let identity = IdentityConfig {
        identity_role_ids: resolve_identity_roles(&clients.iam, &config.identity_roles).await?,
        ..IdentityConfig::default()
    };
    let store = Arc::new(
        DynamoEventStore::new(clients.dynamodb.clone(), &config.ledger_table).with_key_table(&config.idempotency_table),
    );
    let views = Arc::new(DynamoViewStore::new(clients.dynamodb.clone(), &config.views_table));
    let policies = Arc::new(SsmPolicies::new(clients.ssm.clone(), &config.policy_root, &config.admins_parameter));
    Ok(Deps {
        identity,
        policies: policies.clone(),
        issuer: Arc::new(StsIssuer::new(clients.sts.clone())),
        store: store.clone(),
        grants: Arc::new(LedgerGrants { views: views.clone(), ledger: store }),
        views,
        policy_writer: policies,
        rate_limiter: RateLimiter::new(config.rate_limit_requests, config.rate_limit_window),
        clock: Arc::new(SystemClock),
        pages: pagination_key(&clients.ssm, &config.pagination_key_parameter).await?,
        seen_policies: Default::default(),
    })
}
