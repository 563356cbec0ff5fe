//! `Idempotency-Key` on POSTs (DESIGN §4): a retry of the same request — same person, method,
//! concrete path and body (compared by the SHA-256 of its canonical JSON) — under the same key
//! gets the first answer again, with `Idempotent-Replayed: true`, instead of acting twice. A
//! different request under a used key is 422 `IDEMPOTENCY_KEY_REUSED` and changes nothing; a
//! duplicate arriving while the first is still running is 409. Only 2xx answers are remembered.
//! Vends ignore the key.
//!
//! Answers live in their own table beside the ledger (`SENTINEL_IDEMPOTENCY_TABLE`, TTL 24 h; a
//! record past its expiry counts as absent), never as ledger events. A creation (`POST
//! /requests`, `POST /breakglass`) writes its answer in the same transaction as the creation, so
//! two concurrent twins cannot both create: the loser finds the winner's answer and replays it.
//! A decision (approve, deny, cancel, revoke, close, session revoke) first claims the key
//! (a short-lived running record), then decides, then replaces the claim with its answer, or
//! releases it when the answer is not a 2xx.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use chrono::{DateTime, Utc};
use ledger::command::{Command, CommandError, Executed, ATTEMPTS};
use ledger::store::{KeyRecord, KeyState, StoreError};
use ledger::EventId;
use sha2::{Digest, Sha256};

use super::{body_text, command_error, Ctx};
use crate::error::ApiError;
use crate::http::Answer;
use crate::Deps;

/// The longest key accepted.
pub const MAX_KEY_LEN: usize = 255;
/// How long an answer is remembered.
pub const ANSWER_TTL: chrono::Duration = chrono::Duration::hours(24);
/// How long a running claim holds the key if its attempt never finishes (a killed invocation).
pub const CLAIM_TTL: chrono::Duration = chrono::Duration::seconds(120);

/// A POST's idempotency key, bound to its caller's person and to the request it came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idempotency {
    /// SHA-256 (hex) of the person and the key.
    pub key: String,
    /// SHA-256 (hex) of the method, the concrete path and the canonical body.
    pub request: String,
}

/// SHA-256 (hex) of the parts, each followed by a newline.
fn digest(parts: &[&[u8]]) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update(part);
        hash.update(b"\n");
    }
    hex::encode(hash.finalize())
}

impl Idempotency {
    /// The request's `Idempotency-Key` (1-255 printable ASCII characters), if it has one.
    pub fn of(ctx: &Ctx, request: &ApiGatewayV2httpRequest) -> Result<Option<Idempotency>, ApiError> {
        let Some(value) = request.headers.get("idempotency-key") else { return Ok(None) };
        let key = value
            .to_str()
            .ok()
            .filter(|k| (1..=MAX_KEY_LEN).contains(&k.len()) && k.bytes().all(|b| (0x21..0x7f).contains(&b)))
            .ok_or_else(|| {
                ApiError::InvalidRequest(format!("Idempotency-Key must be 1-{MAX_KEY_LEN} printable ASCII characters."))
            })?;
        let text = body_text(request)?;
        // The body as canonical JSON (RFC 8785), so that key order and spacing do not matter; a
        // body that is not JSON (the route refuses it anyway) is compared as it is.
        let body = match serde_json::from_str::<serde_json::Value>(if text.trim().is_empty() { "{}" } else { &text }) {
            Ok(json) => ledger::canonical::to_canonical_bytes(&json).unwrap_or_else(|_| text.clone().into_bytes()),
            Err(_) => text.into_bytes(),
        };
        let method = request.request_context.http.method.as_str();
        let path = request.raw_path.as_deref().unwrap_or("/");
        Ok(Some(Idempotency {
            key: digest(&[ctx.caller.person.as_str().as_bytes(), key.as_bytes()]),
            request: digest(&[method.as_bytes(), path.as_bytes(), &body]),
        }))
    }

    /// What a record already under this key means for this request at `now`: nothing (the key
    /// is free), the first answer to replay, or a refusal.
    pub fn judge(&self, record: Option<&KeyRecord>, now: DateTime<Utc>) -> Result<Option<Answer>, ApiError> {
        let Some(record) = record.filter(|r| r.is_live(now)) else { return Ok(None) };
        if record.request != self.request {
            return Err(ApiError::IdempotencyKeyReused);
        }
        match &record.state {
            KeyState::Answered { status, body } => Ok(Some(Answer { status: i64::from(*status), body: body.clone() })),
            KeyState::Running { .. } => Err(ApiError::Conflict(
                "A request with this Idempotency-Key is still running; retry in a moment.".into(),
            )),
        }
    }

    /// The record remembering `answer` (a 2xx) as this key's, written at `now`.
    pub fn answered(&self, answer: &Answer, now: DateTime<Utc>) -> Result<KeyRecord, ApiError> {
        let status = u16::try_from(answer.status).map_err(|_| ApiError::LedgerUnavailable)?;
        Ok(KeyRecord {
            key: self.key.clone(),
            request: self.request.clone(),
            state: KeyState::Answered { status, body: answer.body.clone() },
            written_at: now,
            expires_at: now + ANSWER_TTL,
        })
    }

    /// The record claiming this key for the attempt `claim`, written at `now`.
    fn claim(&self, claim: &str, now: DateTime<Utc>) -> KeyRecord {
        KeyRecord {
            key: self.key.clone(),
            request: self.request.clone(),
            state: KeyState::Running { claim: claim.to_owned() },
            written_at: now,
            expires_at: now + CLAIM_TTL,
        }
    }

    /// The record under this key now, judged.
    async fn current(&self, deps: &Deps, now: DateTime<Utc>) -> Result<Option<Answer>, ApiError> {
        let record = deps.store.key_record(&self.key).await?;
        self.judge(record.as_ref(), now)
    }
}

/// What a creation under an optional key came to: its own commit, or the first answer to the
/// key, replayed.
#[derive(Debug)]
pub enum Once<T> {
    Done(Executed<T>),
    Replayed(Answer),
}

/// Runs a creation under its optional key: a remembered answer is replayed without running it;
/// otherwise the command's plan remembers its answer in the same write (the command puts
/// [`Idempotency::answered`] in its plan), and a twin that committed first is replayed.
pub async fn create_once<C>(
    deps: &Deps,
    ctx: &Ctx,
    key: Option<&Idempotency>,
    command: &C,
) -> Result<Once<C::Outcome>, ApiError>
where
    C: Command<Refusal = ApiError> + Sync,
{
    if let Some(key) = key {
        if let Some(answer) = key.current(deps, ctx.now).await? {
            return Ok(Once::Replayed(answer));
        }
    }
    match ledger::command::execute(deps.store.as_ref(), command, &ctx.recording(), ATTEMPTS).await {
        Ok(done) => Ok(Once::Done(done)),
        Err(CommandError::Store(StoreError::KeyTaken)) => {
            let Some(key) = key else { return Err(ApiError::LedgerUnavailable) };
            match key.current(deps, ctx.now).await? {
                Some(answer) => Ok(Once::Replayed(answer)),
                // Taken a moment ago and already gone: the caller may simply retry.
                None => Err(ApiError::Conflict("The Idempotency-Key was in use; retry.".into())),
            }
        }
        // The refusal may be this request's own twin's doing (it created the break-glass or the
        // request in the way): then its answer is this request's too.
        Err(CommandError::Refused(refusal)) => match key {
            Some(key) => match key.current(deps, ctx.now).await? {
                Some(answer) => Ok(Once::Replayed(answer)),
                None => Err(refusal),
            },
            None => Err(refusal),
        },
        Err(e) => Err(command_error(ctx, e)),
    }
}

/// Runs a decision route under its key: replays a remembered answer, refuses a reused key or a
/// duplicate still running, else claims the key, decides, and remembers a 2xx answer.
pub async fn decide_once<F, Fut>(
    deps: &Deps,
    request: &ApiGatewayV2httpRequest,
    run: F,
) -> Result<ApiGatewayV2httpResponse, ApiError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<Answer, ApiError>>,
{
    if !request.headers.contains_key("idempotency-key") {
        return Ok(run().await?.into_response());
    }
    let ctx = Ctx::of(deps, request).await?;
    let Some(key) = Idempotency::of(&ctx, request)? else { return Ok(run().await?.into_response()) };
    if let Some(answer) = key.current(deps, ctx.now).await? {
        return Ok(answer.replayed());
    }
    let claim = EventId::generate().to_string();
    if !deps.store.put_key_record(&key.claim(&claim, ctx.now), None).await? {
        // A twin claimed it between the read and the claim.
        return match key.current(deps, ctx.now).await? {
            Some(answer) => Ok(answer.replayed()),
            None => Err(ApiError::Conflict("The Idempotency-Key was in use; retry.".into())),
        };
    }
    match run().await {
        Ok(answer) if (200..300).contains(&answer.status) => {
            let remembered = deps.store.put_key_record(&key.answered(&answer, ctx.now)?, Some(&claim)).await;
            if let Err(e) = remembered {
                // The decision stands; only its replay is lost (the claim expires on its own).
                tracing::error!(request_id = %ctx.request_id, error = %e, "the answer to an Idempotency-Key could not be remembered");
            }
            Ok(answer.into_response())
        }
        other => {
            if let Err(e) = deps.store.release_key(&key.key, &claim).await {
                tracing::warn!(request_id = %ctx.request_id, error = %e, "an Idempotency-Key claim could not be released; it expires on its own");
            }
            other.map(Answer::into_response)
        }
    }
}
