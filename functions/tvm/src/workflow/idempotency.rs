//! `Idempotency-Key` on POSTs: a retry with the same key (by the same caller, on the same route)
//! gets the first answer again instead of acting twice. The answer is remembered in the ledger,
//! in the stream `IDEMPOTENCY#<sha256(principal, key)>`: for the routes that create something
//! (`POST /requests`, `POST /breakglass`) in the same command as the creation, so two concurrent
//! retries cannot both create (the loser re-reads the key's stream and replays); for decisions
//! (approve, deny, cancel, close, revoke, whose repeats the deciders refuse anyway) right after
//! the decision.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use ledger::command::{Command, Plan, Snapshot};
use ledger::event::IdempotencyKeyRecorded;
use ledger::{Event, StreamKey};
use sha2::{Digest, Sha256};

use super::{execute, Ctx};
use crate::error::ApiError;
use crate::http::Answer;
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

    /// The first answer to this key in a snapshot that read its stream; a key used on another
    /// route is refused.
    pub fn recorded(&self, read: &Snapshot) -> Result<Option<Answer>, ApiError> {
        let Some(first) = read.stream(&self.stream).events.first() else { return Ok(None) };
        let Event::IdempotencyKeyRecorded(answer) = &first.event else {
            tracing::error!(stream = %self.stream, "an idempotency stream holds another event type");
            return Err(ApiError::LedgerUnavailable);
        };
        if answer.route != self.route {
            return Err(ApiError::Conflict(format!(
                "This Idempotency-Key was already used for {}; use a new key for a new request.",
                answer.route
            )));
        }
        Ok(Some(Answer { status: i64::from(answer.status), body: answer.body.clone() }))
    }

    /// The event that remembers `answer` as this key's.
    pub fn remember(&self, answer: &Answer) -> Result<Event, ApiError> {
        let status = u16::try_from(answer.status).map_err(|_| ApiError::LedgerUnavailable)?;
        Ok(IdempotencyKeyRecorded { route: self.route.clone(), status, body: answer.body.clone() }.into())
    }

    /// Adds this key's answer to a creation's plan (the key's stream must be new).
    pub fn remember_in<T>(&self, plan: Plan<T>, answer: &Answer) -> Result<Plan<T>, ApiError> {
        Ok(plan.append(self.stream.clone(), vec![self.remember(answer)?]))
    }
}

/// What a creation under an optional key answers: its own answer, or the first answer to the key.
#[derive(Debug, Clone)]
pub enum Creation {
    Created(Answer),
    Replayed(Answer),
}

impl Creation {
    /// The response.
    pub fn into_response(self) -> ApiGatewayV2httpResponse {
        match self {
            Creation::Created(answer) => answer.into_response(),
            Creation::Replayed(answer) => answer.replayed(),
        }
    }
}

/// The streams a command reads for an optional key.
pub fn key_reads(key: Option<&Idempotency>) -> Vec<StreamKey> {
    key.map(|k| k.stream.clone()).into_iter().collect()
}

/// Remembers a decision's answer after the fact; a concurrent twin that got there first is fine
/// (both answers describe the same decided object).
struct Remember<'a> {
    key: &'a Idempotency,
    answer: &'a Answer,
}

impl Command for Remember<'_> {
    type Outcome = ();
    type Refusal = ApiError;

    fn reads(&self, _: &Snapshot) -> Vec<StreamKey> {
        vec![self.key.stream.clone()]
    }

    fn decide(&self, read: &Snapshot) -> Result<Plan<()>, ApiError> {
        if read.stream(&self.key.stream).last().is_some() {
            return Ok(Plan::new(()));
        }
        self.key.remember_in(Plan::new(()), self.answer)
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
    Fut: std::future::Future<Output = Result<Answer, ApiError>>,
{
    if !request.headers.contains_key("idempotency-key") {
        return Ok(run().await?.into_response());
    }
    let ctx = Ctx::of(deps, request)?;
    let Some(key) = Idempotency::of(&ctx, request, route)? else { return Ok(run().await?.into_response()) };
    let read = ledger::command::read(deps.store.as_ref(), std::slice::from_ref(&key.stream)).await?;
    if let Some(answer) = key.recorded(&read)? {
        return Ok(answer.replayed());
    }
    let answer = run().await?;
    execute(deps, &ctx, &Remember { key: &key, answer: &answer }).await?;
    Ok(answer.into_response())
}
