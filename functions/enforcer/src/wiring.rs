//! Builds the enforcer's dependencies from configuration and AWS clients: what the Lambda's
//! `main` does at cold start, and what the local stack does once.

use std::sync::Arc;

use anyhow::Context;
use ledger::store::dynamo::DynamoEventStore;
use projections::store::dynamo::DynamoViewStore;

use crate::config::Config;
use crate::roles::iam::IamRolePolicies;
use crate::{Deps, SystemClock};

/// The AWS clients the enforcer uses.
#[derive(Debug, Clone)]
pub struct Clients {
    /// The ledger and views tables.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// The protected roles' inline policies.
    pub iam: aws_sdk_iam::Client,
    /// The enforcer's own account (`GetCallerIdentity`, which needs no permission).
    pub sts: aws_sdk_sts::Client,
}

impl Clients {
    /// Every client from one SDK configuration (the standard AWS environment in Lambda).
    pub fn from_sdk(sdk: &aws_config::SdkConfig) -> Self {
        Clients {
            dynamodb: aws_sdk_dynamodb::Client::new(sdk),
            iam: aws_sdk_iam::Client::new(sdk),
            sts: aws_sdk_sts::Client::new(sdk),
        }
    }
}

/// Real adapters for every port; the account whose roles the enforcer may touch is learnt now.
pub async fn deps(clients: &Clients, config: &Config) -> anyhow::Result<Deps> {
    let identity = clients
        .sts
        .get_caller_identity()
        .send()
        .await
        .context("cannot learn the enforcer's account (sts:GetCallerIdentity)")?;
    let account = identity.account().context("sts:GetCallerIdentity returned no account")?.to_owned();
    Ok(Deps {
        views: Arc::new(DynamoViewStore::new(clients.dynamodb.clone(), &config.views_table)),
        ledger: Arc::new(DynamoEventStore::new(clients.dynamodb.clone(), &config.ledger_table)),
        roles: Arc::new(IamRolePolicies::new(clients.iam.clone())),
        account,
        clock: Arc::new(SystemClock),
        budget: crate::policy::POLICY_BUDGET,
    })
}
