//! Faults at each step of a vend, and in the stream consumers.
//!
//! Vend: the policy source, STS or the ledger fails or hangs (and the invocation is then
//! killed, as Lambda's timeout would) before the policy, before STS answers, between STS and
//! the append, and during the append (the write lands but its answer is lost). Whatever
//! happens: a 5xx with a clean error or no answer at all, never credentials without their
//! `CredentialsIssued`, and every session stream whole. The DynamoDB emulator is also stopped
//! for real in the middle of a vend and restarted on the same file to read what it kept.
//!
//! Consumers: the projector killed at every point of a batch resumes on redelivery and its
//! views equal a rebuild; the exporter's failed entries are redelivered until every event is
//! on the bus.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use aws_config::retry::RetryConfig;
use aws_lambda_events::dynamodb::{Event as StreamEvent, EventRecord};
use exporter::{BusEntry, ExportError, Publisher};
use ledger::identity::IdentityConfig;
use ledger::policy::{AdminsDocument, PolicyDocument};
use ledger::store::memory::MemoryEventStore;
use ledger::store::{EventStore, StoreError, StreamCheck};
use ledger::{Profile, StoredEvent, StreamKey};
use projections::store::memory::MemoryViewStore;
use projections::store::{ApprovalIndex, AuditQuery, BreakGlassIndex, Saved, SessionIndex, ViewError, ViewStore};
use projections::testkit::*;
use projections::{ApprovalView, AuditRecord, BreakGlassView, Projection, SessionView, Views};
use tvm::ports::memory::{MemoryGrants, MemoryIssuer, MemoryPolicies};
use tvm::ports::{AssumeRoleInput, IssueError, IssuedCredentials, Issuer, PolicyLoadError, PolicySource, ProfileEntry};
use tvm::rate_limit::RateLimiter;
use tvm::{Deps, SystemClock};

use crate::support::*;

/// What an injected fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    /// The call fails as an unreachable service would.
    Fail,
    /// The call never returns (a slow service; the invocation is killed).
    Hang,
    /// The store: the write lands, then its answer is lost as an error.
    LandThenFail,
    /// The store: the write lands, then the invocation is killed before the answer.
    LandThenHang,
}

struct Switch(Mutex<Fault>);

impl Switch {
    fn new() -> Self {
        Switch(Mutex::new(Fault::None))
    }
    fn set(&self, fault: Fault) {
        *self.0.lock().unwrap() = fault;
    }
    fn get(&self) -> Fault {
        *self.0.lock().unwrap()
    }
}

struct FaultyPolicies {
    inner: MemoryPolicies,
    fault: Switch,
}

impl FaultyPolicies {
    async fn check(&self) -> Result<(), PolicyLoadError> {
        match self.fault.get() {
            Fault::Fail => Err(PolicyLoadError::Unavailable("injected: SSM unreachable".into())),
            Fault::Hang => std::future::pending().await,
            _ => Ok(()),
        }
    }
}

#[async_trait]
impl PolicySource for FaultyPolicies {
    async fn policy(&self, profile: &Profile) -> Result<Option<Arc<PolicyDocument>>, PolicyLoadError> {
        self.check().await?;
        self.inner.policy(profile).await
    }
    async fn profiles(&self) -> Result<Vec<ProfileEntry>, PolicyLoadError> {
        self.check().await?;
        self.inner.profiles().await
    }
    async fn admins(&self) -> Result<Option<Arc<AdminsDocument>>, PolicyLoadError> {
        self.check().await?;
        self.inner.admins().await
    }
    fn root(&self) -> &str {
        self.inner.root()
    }
}

struct FaultyIssuer {
    inner: MemoryIssuer,
    fault: Switch,
}

#[async_trait]
impl Issuer for FaultyIssuer {
    async fn assume_role(&self, input: &AssumeRoleInput) -> Result<IssuedCredentials, IssueError> {
        match self.fault.get() {
            Fault::Fail => Err(IssueError("injected: STS unreachable".into())),
            Fault::Hang => std::future::pending().await,
            _ => self.inner.assume_role(input).await,
        }
    }
}

/// A memory ledger whose session writes fail, hang, or land and then fail or hang.
struct FaultyStore {
    inner: MemoryEventStore,
    fault: Switch,
}

#[async_trait]
impl EventStore for FaultyStore {
    async fn write(&self, items: &[StoredEvent], checks: &[StreamCheck], token: &str) -> Result<(), StoreError> {
        let session = items.iter().any(|i| i.stream.starts_with("SESSION#"));
        match if session { self.fault.get() } else { Fault::None } {
            Fault::None => self.inner.write(items, checks, token).await,
            Fault::Fail => Err(StoreError::unavailable("Query", "injected: connection refused")),
            Fault::Hang => std::future::pending().await,
            Fault::LandThenFail => {
                self.inner.write(items, checks, token).await?;
                Err(StoreError::unavailable("Query", "injected: response lost"))
            }
            Fault::LandThenHang => {
                self.inner.write(items, checks, token).await?;
                std::future::pending().await
            }
        }
    }
    async fn read_stream(&self, stream: &StreamKey, from: u64) -> Result<Vec<StoredEvent>, StoreError> {
        self.inner.read_stream(stream, from).await
    }
}

struct Faulty {
    deps: Deps,
    policies: Arc<FaultyPolicies>,
    issuer: Arc<FaultyIssuer>,
    store: Arc<FaultyStore>,
}

impl Faulty {
    fn new() -> Faulty {
        let policies = Arc::new(FaultyPolicies { inner: MemoryPolicies::new(), fault: Switch::new() });
        policies.inner.put("dev", &example_policy("dev"));
        let issuer = Arc::new(FaultyIssuer { inner: MemoryIssuer::default(), fault: Switch::new() });
        let store = Arc::new(FaultyStore { inner: MemoryEventStore::new(), fault: Switch::new() });
        let writer = Arc::new(MemoryPolicies::new());
        let deps = Deps {
            identity: IdentityConfig::default(),
            policies: policies.clone(),
            issuer: issuer.clone(),
            store: store.clone(),
            grants: Arc::new(MemoryGrants::default()),
            views: Arc::new(MemoryViewStore::new()),
            policy_writer: writer,
            rate_limiter: RateLimiter::new(10_000, Duration::from_secs(60)),
            clock: Arc::new(SystemClock),
            pages: tvm::workflow::page::PageKey::random().unwrap(),
            seen_policies: Default::default(),
        };
        Faulty { deps, policies, issuer, store }
    }

    /// One vend as alice, killed (as Lambda's timeout would) if it does not answer in time.
    async fn vend(&self) -> Option<Answer> {
        self.vend_killed_after(Duration::from_secs(10)).await
    }

    /// A vend expected to hang: killed sooner, to keep the test short.
    async fn vend_killed_after(&self, limit: Duration) -> Option<Answer> {
        let call = tvm::handle(&self.deps, request("GET /", "profile=dev", Some(iam_user("alice"))));
        tokio::time::timeout(limit, call).await.ok().map(Answer)
    }

    fn sts_calls(&self) -> usize {
        self.issuer.inner.calls().len()
    }

    fn session_events(&self) -> Vec<StoredEvent> {
        self.store.inner.all().into_iter().filter(|e| e.stream.starts_with("SESSION#")).collect()
    }
}

/// The fail-closed invariants, whatever the answer: credentials only with their issuance on
/// the ledger; failures are clean 5xx errors that carry no secret; every session stream is a
/// whole refusal or a whole issuance, and its chain verifies.
fn assert_fail_closed(answer: Option<&Answer>, events: &[StoredEvent]) {
    if let Some(answer) = answer {
        let body = answer.json();
        if answer.status() == 200 {
            let key = body["AccessKeyId"].as_str().expect("credentials carry a key id");
            assert!(
                events.iter().any(|e| e.event_type == "CredentialsIssued" && e.payload["access_key_id"] == key),
                "credentials {key} were returned without their CredentialsIssued"
            );
        } else {
            assert!(answer.status() >= 500, "a fault answered {}: {}", answer.status(), answer.body_text());
            assert!(
                ["POLICY_ERROR", "CREDENTIAL_ERROR", "LEDGER_UNAVAILABLE"].contains(&answer.code().as_str()),
                "{}",
                answer.body_text()
            );
            for secret in ["AccessKeyId", "SecretAccessKey", "Token"] {
                assert!(body.get(secret).is_none(), "a failed vend leaked {secret}");
            }
            assert!(answer.header("x-sentinel-session-token").is_none());
        }
    }
    let streams: BTreeSet<&str> = events.iter().map(|e| e.stream.as_str()).collect();
    for stream in streams {
        let mut of: Vec<StoredEvent> = events.iter().filter(|e| e.stream == stream).cloned().collect();
        of.sort_by_key(|e| e.seq);
        ledger::verify_stream(stream, &of).unwrap_or_else(|e| panic!("{stream}: {e}"));
        let types: Vec<&str> = of.iter().map(|e| e.event_type.as_str()).collect();
        assert!(
            types == ["CredentialsRequested", "AccessDecided"]
                || types == ["CredentialsRequested", "AccessDecided", "CredentialsIssued"],
            "{stream} is partial: {types:?}"
        );
    }
}

/// A Faulty TVM with the policy's first `PolicyPublished` already recorded.
async fn warmed() -> Faulty {
    let tvm = Faulty::new();
    assert_eq!(tvm.vend().await.expect("answers").status(), 200);
    tvm
}

#[tokio::test]
async fn a_policy_store_failing_before_the_policy_is_read_refuses_without_calling_sts() {
    let tvm = warmed().await;
    let before = (tvm.sts_calls(), tvm.session_events().len());
    tvm.policies.fault.set(Fault::Fail);
    let answer = tvm.vend().await.expect("answers");
    answer.assert_error(500, "POLICY_ERROR");
    assert_eq!((tvm.sts_calls(), tvm.session_events().len()), before, "nothing minted, nothing written");
    assert_fail_closed(Some(&answer), &tvm.session_events());
}

#[tokio::test]
async fn a_policy_store_hanging_until_the_invocation_is_killed_leaves_nothing_behind() {
    let tvm = warmed().await;
    let before = (tvm.sts_calls(), tvm.session_events().len());
    tvm.policies.fault.set(Fault::Hang);
    assert!(
        tvm.vend_killed_after(Duration::from_millis(200)).await.is_none(),
        "a hanging policy store cannot produce an answer"
    );
    assert_eq!((tvm.sts_calls(), tvm.session_events().len()), before);
    assert_fail_closed(None, &tvm.session_events());
}

#[tokio::test]
async fn sts_failing_records_the_refusal_and_returns_a_credential_error() {
    let tvm = warmed().await;
    tvm.issuer.fault.set(Fault::Fail);
    let answer = tvm.vend().await.expect("answers");
    answer.assert_error(500, "CREDENTIAL_ERROR");
    let events = tvm.session_events();
    assert_eq!(events.iter().filter(|e| e.event_type == "CredentialsIssued").count(), 1, "only the warm-up was issued");
    assert_fail_closed(Some(&answer), &events);
}

#[tokio::test]
async fn sts_hanging_until_the_invocation_is_killed_writes_no_partial_session() {
    let tvm = warmed().await;
    let before = tvm.session_events().len();
    tvm.issuer.fault.set(Fault::Hang);
    assert!(tvm.vend_killed_after(Duration::from_millis(200)).await.is_none());
    assert_eq!(tvm.session_events().len(), before, "a vend killed before STS answered wrote nothing");
    assert_fail_closed(None, &tvm.session_events());
}

#[tokio::test]
async fn a_ledger_failing_between_sts_and_the_append_discards_the_credentials_with_a_503() {
    let tvm = warmed().await;
    let (calls, before) = (tvm.sts_calls(), tvm.session_events().len());
    tvm.store.fault.set(Fault::Fail);
    let answer = tvm.vend().await.expect("answers");
    answer.assert_error(503, "LEDGER_UNAVAILABLE");
    assert_eq!(tvm.sts_calls(), calls + 1, "credentials were minted, then discarded");
    assert_eq!(tvm.session_events().len(), before);
    assert_fail_closed(Some(&answer), &tvm.session_events());
}

#[tokio::test]
async fn a_ledger_hanging_during_the_append_until_the_kill_returns_nothing_and_writes_nothing() {
    let tvm = warmed().await;
    let before = tvm.session_events().len();
    tvm.store.fault.set(Fault::Hang);
    assert!(tvm.vend_killed_after(Duration::from_millis(200)).await.is_none());
    assert_eq!(tvm.session_events().len(), before);
    assert_fail_closed(None, &tvm.session_events());
}

#[tokio::test]
async fn an_append_that_lands_but_whose_answer_is_lost_answers_503_over_a_whole_session() {
    for fault in [Fault::LandThenFail, Fault::LandThenHang] {
        let tvm = warmed().await;
        let before = tvm.session_events().len();
        tvm.store.fault.set(fault);
        let answer = tvm.vend_killed_after(Duration::from_millis(200)).await;
        if let Some(answer) = &answer {
            answer.assert_error(503, "LEDGER_UNAVAILABLE");
        }
        // The issuance is recorded (the credentials exist at STS) but nobody received them.
        assert_eq!(tvm.session_events().len(), before + 3, "{fault:?}");
        assert_fail_closed(answer.as_ref(), &tvm.session_events());
    }
}

#[tokio::test]
async fn a_hundred_vends_under_random_faults_never_return_credentials_without_their_issuance() {
    let tvm = warmed().await;
    let faults = [Fault::None, Fault::Fail, Fault::Hang, Fault::LandThenFail, Fault::LandThenHang];
    // A fixed linear congruential sequence: the same faults in the same order on every run.
    let mut state: u64 = 0x5eed;
    let mut next = || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 33) as usize
    };
    let mut answers = Vec::new();
    for _ in 0..100 {
        tvm.policies.fault.set(if next() % 8 == 0 { Fault::Fail } else { Fault::None });
        tvm.issuer.fault.set(if next() % 8 == 0 { faults[1 + next() % 2] } else { Fault::None });
        tvm.store.fault.set(faults[next() % faults.len()]);
        let hung =
            matches!(tvm.store.fault.get(), Fault::Hang | Fault::LandThenHang) || tvm.issuer.fault.get() == Fault::Hang;
        // Kill hanging invocations quickly; the rest answer.
        let answer = if hung {
            tvm.vend_killed_after(Duration::from_millis(20)).await
        } else {
            Some(tvm.vend().await.expect("answers"))
        };
        answers.extend(answer);
    }
    let events = tvm.session_events();
    for answer in &answers {
        assert_fail_closed(Some(answer), &events);
    }
    assert_fail_closed(None, &events);
    assert!(
        answers.iter().any(|a| a.status() == 200) && answers.iter().any(|a| a.status() == 503),
        "the mix exercised both outcomes"
    );
}

/// A ledger on the DynamoDB emulator that stops the emulator just before a session write.
struct StopsMidVend {
    store: ledger::store::dynamo::DynamoEventStore,
    emulator: tokio::sync::Mutex<Option<devstack::DynamoEmulator>>,
    armed: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl EventStore for StopsMidVend {
    async fn write(&self, items: &[StoredEvent], checks: &[StreamCheck], token: &str) -> Result<(), StoreError> {
        if self.armed.load(Ordering::SeqCst) && items.iter().any(|i| i.stream.starts_with("SESSION#")) {
            if let Some(emulator) = self.emulator.lock().await.take() {
                emulator.stop().await;
            }
        }
        self.store.write(items, checks, token).await
    }
    async fn read_stream(&self, stream: &StreamKey, from: u64) -> Result<Vec<StoredEvent>, StoreError> {
        self.store.read_stream(stream, from).await
    }
}

#[tokio::test]
async fn the_dynamodb_emulator_stopped_between_sts_and_the_append_yields_a_503_and_no_session() {
    let dir = std::env::temp_dir().join(format!("sentinel-faults-{}", ledger::SessionId::generate()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("ledger.sqlite");
    let emulator =
        devstack::DynamoEmulator::start(devstack::Storage::File(file.clone()), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
    let sdk = devstack::local_sdk_config(emulator.endpoint())
        .into_builder()
        .retry_config(RetryConfig::standard().with_max_attempts(2))
        .build();
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    ledger::store::dynamo::create_ledger_table(&client, "ledger").await.unwrap();
    let store = Arc::new(StopsMidVend {
        store: ledger::store::dynamo::DynamoEventStore::new(client, "ledger"),
        emulator: tokio::sync::Mutex::new(Some(emulator)),
        armed: false.into(),
    });
    let tvm = Tvm::with_store(Some(store.clone() as Arc<dyn EventStore>));
    let first = tvm.call(request("GET /", "profile=dev", Some(iam_user("alice")))).await;
    assert_eq!(first.status(), 200, "{}", first.body_text());
    store.armed.store(true, Ordering::SeqCst);
    let answer = tvm.call(request("GET /", "profile=dev", Some(iam_user("alice")))).await;
    answer.assert_error(503, "LEDGER_UNAVAILABLE");
    assert_eq!(tvm.issuer.calls().len(), 2, "the second credentials were minted, then discarded");

    // What the emulator kept: the first session, whole, and nothing of the second.
    let restarted =
        devstack::DynamoEmulator::start(devstack::Storage::File(file), "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let client = devstack::dynamodb_client(restarted.endpoint());
    let kept = projections::rebuild::scan_ledger(&client, "ledger").await.unwrap();
    let sessions: Vec<StoredEvent> = kept.into_iter().filter(|e| e.stream.starts_with("SESSION#")).collect();
    assert_eq!(sessions.len(), 3, "{:?}", sessions.iter().map(|e| &e.event_type).collect::<Vec<_>>());
    let issued = sessions.iter().find(|e| e.event_type == "CredentialsIssued").expect("the first vend's issuance");
    assert_eq!(issued.payload["access_key_id"], first.json()["AccessKeyId"]);
    assert_fail_closed(Some(&answer), &sessions);
    restarted.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// The record Lambda delivers for the INSERT of `event`.
pub fn stream_record(event: &StoredEvent, seq: u64) -> EventRecord {
    let mut record = EventRecord::default();
    record.event_name = "INSERT".into();
    record.event_id = format!("evt-{seq}");
    record.aws_region = "us-east-1".into();
    record.change.new_image = ledger::store::dynamo::to_item(event).expect("encodes").into();
    record.change.sequence_number = Some(format!("{seq:021}"));
    record
}

pub fn stream_event(records: Vec<EventRecord>) -> StreamEvent {
    let mut event = StreamEvent::default();
    event.records = records;
    event
}

/// A ledger of sessions, approvals and a break-glass: every kind of view.
fn mixed_ledger() -> Vec<StoredEvent> {
    let mut b = LedgerBuilder::new();
    for i in 0..6 {
        let s = StreamKey::Session(ledger::SessionId::generate());
        b.append(&s, requested("alice", "dev"), actor("alice"));
        b.append(&s, decided(ledger::Effect::Allow), actor("alice"));
        b.append(&s, issued(15, 480), actor("alice"));
        if i % 2 == 0 {
            b.append(&s, revoked("secops"), actor("secops"));
        }
    }
    let a = StreamKey::Approval(ledger::ApprovalId::generate());
    b.append(&a, approval_requested("alice", "prod", 1, 240), actor("alice"));
    b.append(&a, granted("carol"), actor("carol"));
    let g = StreamKey::BreakGlass(ledger::BreakGlassId::generate());
    b.append(&g, break_glass_invoked("oncall", "prod", 60), actor("oncall"));
    b.append(&g, break_glass_closed("oncall"), actor("oncall"));
    b.events().to_vec()
}

/// Memory views whose saves hang (the process is killed) from the `kill_at`-th on.
struct KilledViews {
    inner: Arc<MemoryViewStore>,
    saves: AtomicUsize,
    kill_at: usize,
}

impl KilledViews {
    async fn gate(&self) {
        if self.saves.fetch_add(1, Ordering::SeqCst) >= self.kill_at {
            std::future::pending::<()>().await;
        }
    }
}

#[async_trait]
impl ViewStore for KilledViews {
    async fn projection(&self, stream: &StreamKey) -> Result<Option<Projection>, ViewError> {
        self.inner.projection(stream).await
    }
    async fn save(&self, projection: &Projection) -> Result<Saved, ViewError> {
        self.gate().await;
        self.inner.save(projection).await
    }
    async fn overwrite(&self, projection: &Projection) -> Result<(), ViewError> {
        self.gate().await;
        self.inner.overwrite(projection).await
    }
    async fn save_audit(&self, rows: &[AuditRecord]) -> Result<(), ViewError> {
        self.gate().await;
        self.inner.save_audit(rows).await
    }
    async fn sessions(
        &self,
        i: &SessionIndex,
        s: Option<ledger::decide::session::SessionStatus>,
    ) -> Result<Vec<SessionView>, ViewError> {
        self.inner.sessions(i, s).await
    }
    async fn revoked_since(
        &self,
        role: &ledger::RoleArn,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<SessionView>, ViewError> {
        self.inner.revoked_since(role, since).await
    }
    async fn approvals(
        &self,
        i: &ApprovalIndex,
        s: Option<ledger::decide::approval::ApprovalStatus>,
    ) -> Result<Vec<ApprovalView>, ViewError> {
        self.inner.approvals(i, s).await
    }
    async fn break_glass(
        &self,
        i: &BreakGlassIndex,
        s: Option<ledger::decide::breakglass::BreakGlassStatus>,
    ) -> Result<Vec<BreakGlassView>, ViewError> {
        self.inner.break_glass(i, s).await
    }
    async fn audit(&self, q: &AuditQuery) -> Result<Vec<AuditRecord>, ViewError> {
        self.inner.audit(q).await
    }
    async fn dump(&self) -> Result<Views, ViewError> {
        self.inner.dump().await
    }
}

#[tokio::test]
async fn a_projector_killed_at_any_write_of_a_batch_resumes_on_redelivery_and_its_views_equal_a_rebuild() {
    let events = mixed_ledger();
    let ledger = Arc::new(MemoryEventStore::new());
    for e in &events {
        ledger.write(std::slice::from_ref(e), &[], &e.event_id).await.unwrap();
    }
    let batch = || stream_event(events.iter().enumerate().map(|(i, e)| stream_record(e, i as u64 + 1)).collect());
    // Enough kill points to cover every save of the batch (one or more per record).
    let mut killed = 0;
    for kill_at in 0..events.len() * 3 {
        let views = Arc::new(MemoryViewStore::new());
        let dying = projector::Deps {
            views: Arc::new(KilledViews { inner: views.clone(), saves: 0.into(), kill_at }),
            ledger: ledger.clone(),
        };
        let first = tokio::time::timeout(Duration::from_millis(100), projector::handle(&dying, batch())).await;
        if first.is_err() {
            killed += 1;
        }
        // Lambda retries the whole batch of a failed invocation.
        let healthy = projector::Deps { views: views.clone(), ledger: ledger.clone() };
        let retried = projector::handle(&healthy, batch()).await;
        assert!(retried.batch_item_failures.is_empty(), "killed at save {kill_at}: {:?}", retried.batch_item_failures);
        let report = projections::rebuild(&events, views.as_ref(), projections::Mode::Check).await.unwrap();
        assert!(report.is_clean(), "killed at save {kill_at}: {:?}", report.differences);
    }
    assert!(killed >= events.len(), "the projector was killed mid-batch at {killed} points");
}

/// A bus that fails whole calls and single entries on a fixed pattern, and records what it
/// accepted.
struct FlakyBus {
    calls: AtomicUsize,
    published: Mutex<Vec<String>>,
}

#[async_trait]
impl Publisher for FlakyBus {
    async fn publish(&self, entries: &[BusEntry]) -> Result<Vec<Option<String>>, ExportError> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        if call.is_multiple_of(3) {
            return Err(ExportError::Unavailable("injected: throttled".into()));
        }
        let mut outcome = Vec::with_capacity(entries.len());
        for (i, entry) in entries.iter().enumerate() {
            if (call + i).is_multiple_of(4) {
                outcome.push(Some("InternalFailure".into()));
            } else {
                let detail: serde_json::Value = serde_json::from_str(&entry.detail).unwrap();
                self.published.lock().unwrap().push(detail["event_id"].as_str().unwrap().to_owned());
                outcome.push(None);
            }
        }
        Ok(outcome)
    }
}

#[tokio::test]
async fn exporter_failures_are_redelivered_until_every_event_is_on_the_bus() {
    let events = mixed_ledger();
    let records: Vec<EventRecord> = events.iter().enumerate().map(|(i, e)| stream_record(e, i as u64 + 1)).collect();
    let bus = Arc::new(FlakyBus { calls: 0.into(), published: Mutex::new(Vec::new()) });
    struct Shared(Arc<FlakyBus>);
    #[async_trait]
    impl Publisher for Shared {
        async fn publish(&self, entries: &[BusEntry]) -> Result<Vec<Option<String>>, ExportError> {
            self.0.publish(entries).await
        }
    }
    let deps = exporter::Deps { publisher: Box::new(Shared(bus.clone())), retry_base: Duration::from_millis(1) };
    // Lambda with ReportBatchItemFailures: redeliver from the first reported record on.
    let mut pending = records.clone();
    let mut deliveries = 0;
    while !pending.is_empty() {
        deliveries += 1;
        assert!(deliveries <= 50, "the exporter made no progress");
        let response = exporter::handle(&deps, stream_event(pending.clone())).await;
        let Some(first) = response.batch_item_failures.first().and_then(|f| f.item_identifier.clone()) else {
            break;
        };
        let at = pending
            .iter()
            .position(|r| r.change.sequence_number.as_deref() == Some(first.as_str()))
            .expect("a failure names a delivered record");
        pending = pending.split_off(at);
    }
    let published: BTreeSet<String> = bus.published.lock().unwrap().iter().cloned().collect();
    let expected: BTreeSet<String> = events.iter().map(|e| e.event_id.clone()).collect();
    assert_eq!(published, expected, "every event reached the bus (at least once)");
    assert!(deliveries > 1 || bus.calls.load(Ordering::SeqCst) > records.len() / 10, "faults were injected");
}
