//! `Idempotency-Key` on POSTs: a retry with the same key (by the same caller, on the same route)
//! gets the first answer again instead of acting twice. The answer is remembered in the ledger,
//! in the stream `IDEMPOTENCY#<sha256(principal, key)>`: for the routes that create something
//! (`POST /requests`, `POST /breakglass`) in the same transaction as the creation, so two
//! concurrent retries cannot both create; for decisions (approve, deny, cancel, close, revoke,
//! whose repeats the deciders refuse anyway) right after the decision.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use ledger::event::IdempotencyKeyRecorded;
use ledger::store::{StoreError, StreamAppend};
use ledger::{Event, StreamHead, StreamKey};
use sha2::{Digest, Sha256};

use super::{store_error, Ctx};
use crate::error::ApiError;
use crate::http::json_response;
use crate::Deps;

/// The longest key accepted.
pub const MAX_KEY_LEN: usize = 255;

/// A POST's idempotency key, bound to its caller and route.
#[derive(Debug, Clone)]
pub struct Idempotency {
    pub stream: StreamKey,
    pub route: String,
}

impl Idempotency {
    /// The request's `Idempotency-Key` (1-255 printable ASCII characters), if it has one.
    pub fn of(ctx: &Ctx, request: &ApiGatewayV2httpRequest, route: &str) -> Result<Option<Idempotency>, ApiError> {
        let Some(value) = request.headers.get("idempotency-key") else { return Ok(None) };
        let key = value
            .to_str()
            .ok()
            .filter(|k| (1..=MAX_KEY_LEN).contains(&k.len()) && k.bytes().all(|b| (0x21..0x7f).contains(&b)))
            .ok_or_else(|| {
                ApiError::InvalidRequest(format!("Idempotency-Key must be 1-{MAX_KEY_LEN} printable ASCII characters."))
            })?;
        let digest =
            Sha256::new().chain_update(ctx.caller.principal.as_str()).chain_update("\n").chain_update(key).finalize();
        Ok(Some(Idempotency { stream: StreamKey::Idempotency(hex::encode(digest)), route: route.to_owned() }))
    }

    /// The first answer to this key, if one was recorded.
    pub async fn replay(&self, deps: &Deps) -> Result<Option<ApiGatewayV2httpResponse>, ApiError> {
        let stored = deps.store.read_stream(&self.stream, 1).await.map_err(store_error)?;
        let Some(first) = stored.first() else { return Ok(None) };
        let Event::IdempotencyKeyRecorded(answer) = first.decode().map_err(|e| store_error(e.into()))?.event else {
            return Ok(None);
        };
        if answer.route != self.route {
            return Err(ApiError::Conflict(format!(
                "This Idempotency-Key was already used for {}; use a new key for a new request.",
                answer.route
            )));
        }
        Ok(Some(json_response(i64::from(answer.status), &answer.body)))
    }

    /// The append that remembers `status` and `body` as this key's answer.
    pub fn remember(&self, ctx: &Ctx, status: u16, body: &serde_json::Value) -> StreamAppend {
        let event = IdempotencyKeyRecorded { route: self.route.clone(), status, body: body.clone() };
        StreamAppend {
            stream: self.stream.clone(),
            head: StreamHead::genesis(),
            events: ctx.record(vec![event.into()]),
        }
    }

    /// Remembers a decision's answer after the fact; a concurrent twin that got there first is
    /// fine (both answers describe the same decided object).
    pub async fn remember_after(
        &self,
        deps: &Deps,
        ctx: &Ctx,
        response: &ApiGatewayV2httpResponse,
    ) -> Result<(), ApiError> {
        let body = super::response_body(response);
        let status = u16::try_from(response.status_code).unwrap_or(200);
        match deps.store.append(self.remember(ctx, status, &body)).await {
            Ok(_) | Err(StoreError::Conflict { .. }) => Ok(()),
            Err(e) => Err(store_error(e)),
        }
    }
}

/// Runs a decision route under its key: replays a recorded answer, else decides and remembers.
pub async fn decide_once<F, Fut>(
    deps: &Deps,
    request: &ApiGatewayV2httpRequest,
    route: &str,
    run: F,
) -> Result<ApiGatewayV2httpResponse, ApiError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<ApiGatewayV2httpResponse, ApiError>>,
{
    if !request.headers.contains_key("idempotency-key") {
        return run().await;
    }
    let ctx = Ctx::of(deps, request)?;
    let Some(key) = Idempotency::of(&ctx, request, route)? else { return run().await };
    if let Some(answer) = key.replay(deps).await? {
        return Ok(answer);
    }
    let response = run().await?;
    key.remember_after(deps, &ctx, &response).await?;
    Ok(response)
}
