//! Fuzz targets for everything the relay and the phone library take from
//! outside, on the stable toolchain: a target turns bytes into a call (a sync
//! request, pushed Automerge changes, a reconcile message, a sync answer on
//! the phone, a head-office JSON body, a CSV import) and says what came of
//! it. A panic, a 5xx answer or a broken invariant is a finding.
//!
//! The default test run replays every target's seeds, its saved corpus
//! (`tests/fuzz/corpus/<target>/`) and every crasher found so far
//! (`tests/fuzz/crashers/<target>/`, kept as regression tests). The
//! `fuzz` binary mutates them for as long as it is told (see its docs).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use automerge::sync::SyncDoc;
use chrono::{NaiveDate, TimeZone, Utc};
use fieldsync_core::rules::RolePolicy;
use fieldsync_core::signing::{ChangeSignature, DeviceKey};
use fieldsync_core::store::{DeviceIdentity, DeviceStore, SqliteRelayStore};
use fieldsync_core::sync::{Relay, Sender, SyncSession, wire};
use fieldsync_core::*;
use fieldsync_server::{AppState, Limits, accounts, admin};
use rust_decimal::Decimal;

/// What came of one input: `Ok` with a short description of the outcome
/// (inputs with new outcomes are kept while fuzzing), or a finding.
pub type Outcome = Result<String, String>;

/// One fuzz target.
pub trait Target {
    /// Its name: the corpus and crasher directories are named after it.
    fn name(&self) -> &'static str;
    /// Inputs to start from, made from real use.
    fn seeds(&mut self) -> Vec<Vec<u8>>;
    /// Runs one input.
    fn run(&mut self, input: &[u8]) -> Outcome;
}

/// Every target, fresh.
pub fn targets() -> Vec<Box<dyn Target>> {
    vec![
        Box::new(SyncRequestTarget::new()),
        Box::new(PushedChanges::new()),
        Box::new(ReconcileMessage::new()),
        Box::new(SyncAnswerOnPhone::new()),
        Box::new(OfficeJson::new()),
        Box::new(CsvImport::new()),
    ]
}

/// A target by name, fresh.
pub fn target(name: &str) -> Option<Box<dyn Target>> {
    targets().into_iter().find(|t| t.name() == name)
}

/// Where the saved inputs live.
pub fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The saved inputs of `target` in `kind` ("corpus" or "crashers").
pub fn saved(kind: &str, target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = fuzz_dir().join(kind).join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files
        .into_iter()
        .filter_map(|p| std::fs::read(&p).ok().map(|b| (p, b)))
        .collect()
}

/// Runs `input`, turning a panic into a finding.
pub fn run_guarded(target: &mut dyn Target, input: &[u8]) -> Outcome {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| target.run(input))) {
        Ok(outcome) => outcome,
        Err(panic) => {
            let text = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_string()))
                .unwrap_or_else(|| "a panic".into());
            Err(format!("panicked: {text}"))
        }
    }
}

/// An outcome's text without ids, numbers and hashes, so that the same
/// kind of outcome reads the same.
fn shape(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_alphabetic() || *c == ' ')
        .take(80)
        .collect()
}

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 12, 2).unwrap_or_default()
}

fn salesperson() -> ChangeCtx {
    let actor = Actor::new("li", Role::Salesperson, Some("east"), "d-fuzz-li").unwrap();
    ChangeCtx::new(actor, Utc.with_ymd_and_hms(2026, 12, 2, 9, 0, 0).unwrap())
}

/// A customer and an order of three lines made by `ctx`.
fn customer_and_order(ctx: &ChangeCtx) -> (CustomerDoc, OrderDoc) {
    let customer = CustomerDoc::create_prospect(ctx, "Hengda Textiles", "12 Silk Road").unwrap();
    let c = customer.read().unwrap();
    let number = OrderNumber::new(OrderPrefix::new("S01").unwrap(), day(), 1).unwrap();
    let mut order = OrderDoc::create(
        ctx,
        &c,
        NewOrder {
            number,
            channel: Channel::Visit,
            reorder_kind: None,
            delivery_date: Some(day()),
            evidence: "signed order form".into(),
        },
    )
    .unwrap();
    for i in 0..3 {
        order
            .add_line(
                ctx,
                NewLine {
                    product: format!("TS-{i}"),
                    name: "Cotton shirt".into(),
                    variant: "red/M".into(),
                    unit: "pcs".into(),
                    quantity: Decimal::from(10 + i),
                    unit_price: Decimal::new(1250, 2),
                    discount_percent: Decimal::from(i),
                },
            )
            .unwrap();
    }
    (customer, order)
}

/// Signatures by `key` of every change in `bytes` after `base` (whatever
/// Automerge can read of them).
fn sign_changes(key: &DeviceKey, base: Option<&[u8]>, bytes: &[u8]) -> Vec<ChangeSignature> {
    let mut doc = match base {
        Some(b) => automerge::AutoCommit::load(b).unwrap_or_default(),
        None => automerge::AutoCommit::new(),
    };
    let heads = doc.get_heads();
    if doc.load_incremental(bytes).is_err() {
        return Vec::new();
    }
    doc.get_changes_meta(&heads)
        .iter()
        .map(|c| key.sign(&c.hash))
        .collect()
}

/// A relay in memory holding one salesperson's customer and order, pushed
/// as their phone would.
struct RelayWorld {
    relay: Relay<SqliteRelayStore, RolePolicy>,
    sender: Sender,
    key: DeviceKey,
    ctx: ChangeCtx,
    order: DocId,
    order_bytes: Vec<u8>,
    runs: usize,
}

impl RelayWorld {
    fn new() -> RelayWorld {
        let relay = Relay::new(SqliteRelayStore::open_in_memory().unwrap(), RolePolicy).unwrap();
        let key = DeviceKey::generate().unwrap();
        let ctx = salesperson();
        let sender = Sender::new(ctx.actor.clone(), Some(key.public()));
        let (mut customer, mut order) = customer_and_order(&ctx);
        let mut world = RelayWorld {
            relay,
            sender,
            key,
            ctx,
            order: order.document().id(),
            order_bytes: order.document().save(),
            runs: 0,
        };
        let pushes = [customer.document(), order.document()]
            .into_iter()
            .map(|d| world.push(d.id(), None, &d.save()))
            .collect();
        let answer = world
            .relay
            .handle_request(
                &world.sender,
                wire::SyncRequest {
                    pushes,
                    ..Default::default()
                },
            )
            .unwrap();
        assert!(
            answer.pushes.iter().all(|o| *o == wire::Outcome::Accepted),
            "{answer:?}"
        );
        world
    }

    /// A push of `changes` to `doc`, signed by the world's device.
    fn push(&self, doc: DocId, base: Option<&[u8]>, changes: &[u8]) -> wire::Push {
        wire::Push {
            doc: *doc.as_uuid().as_bytes(),
            changes: changes.to_vec(),
            signatures: sign_changes(&self.key, base, changes),
        }
    }

    /// Starts afresh now and then, so accepted inputs do not pile up.
    fn refresh(&mut self) {
        self.runs += 1;
        if self.runs.is_multiple_of(2_000) {
            *self = RelayWorld::new();
        }
    }

    /// The relay still answers an honest edit after whatever came before:
    /// checked after every input that was accepted, and every 16th input.
    fn still_works(&mut self, outcome: &str) -> Result<(), String> {
        if !outcome.contains("accepted") && !self.runs.is_multiple_of(16) {
            return Ok(());
        }
        let mut doc = self
            .relay
            .load(self.order)
            .map_err(|e| format!("the relay lost the order: {e}"))?;
        let base = doc.save();
        let heads = doc.heads();
        let mut order = OrderDoc::from_document(doc).map_err(|e| e.to_string())?;
        let details = order.read().map_err(|e| e.to_string())?;
        let line = details.lines.keys().next().cloned().unwrap_or_default();
        let q = Decimal::from(1 + (self.runs % 50) as i64);
        if order.set_quantity(&self.ctx, &line, q).is_err() {
            // The order may have moved on (submitted by an input): fine.
            return Ok(());
        }
        let changes = order.document().save_after(&heads);
        let push = self.push(self.order, Some(&base), &changes);
        let answer = self
            .relay
            .handle_request(
                &self.sender,
                wire::SyncRequest {
                    pushes: vec![push],
                    ..Default::default()
                },
            )
            .map_err(|e| format!("an honest sync failed after the input: {e}"))?;
        match &answer.pushes[..] {
            [wire::Outcome::Accepted] => Ok(()),
            [wire::Outcome::Refused(r)] if r.contains("cannot") || r.contains("approved") => Ok(()),
            other => Err(format!("an honest edit was not accepted: {other:?}")),
        }
    }
}

fn describe_answer(answer: &fieldsync_core::Result<wire::SyncResponse>) -> String {
    match answer {
        Ok(a) => a
            .pushes
            .iter()
            .chain(&a.reconcile_outcomes)
            .map(|o| match o {
                wire::Outcome::Accepted => "accepted".to_string(),
                wire::Outcome::Reconcile => "reconcile".to_string(),
                wire::Outcome::Refused(r) => shape(r),
            })
            .collect::<Vec<_>>()
            .join("|"),
        Err(e) => shape(&e.to_string()),
    }
}

/// Whole sync requests (the envelope and everything in it), as the relay
/// receives them from a device.
pub struct SyncRequestTarget {
    world: RelayWorld,
}

impl SyncRequestTarget {
    fn new() -> Self {
        SyncRequestTarget {
            world: RelayWorld::new(),
        }
    }
}

impl Target for SyncRequestTarget {
    fn name(&self) -> &'static str {
        "sync-request"
    }

    fn seeds(&mut self) -> Vec<Vec<u8>> {
        let w = &mut self.world;
        let (mut customer, mut order) = customer_and_order(&w.ctx);
        let fresh = wire::SyncRequest {
            cursor: 1,
            pushes: [customer.document(), order.document()]
                .into_iter()
                .map(|d| w.push(d.id(), None, &d.save()))
                .collect(),
            ..Default::default()
        };
        let edit = {
            let base = w.order_bytes.clone();
            let mut doc = Document::load(&base).unwrap();
            let heads = doc.heads();
            let mut o = OrderDoc::from_document(doc).unwrap();
            let line = o.read().unwrap().lines.keys().next().cloned().unwrap();
            o.set_quantity(&w.ctx, &line, Decimal::from(7)).unwrap();
            o.submit(&w.ctx).unwrap();
            let changes = o.document().save_after(&heads);
            wire::SyncRequest {
                cursor: 2,
                pushes: vec![w.push(w.order, Some(&base), &changes)],
                ..Default::default()
            }
        };
        let mut doc = automerge::AutoCommit::load(&w.order_bytes).unwrap();
        let message = doc
            .sync()
            .generate_sync_message(&mut automerge::sync::State::new())
            .map(|m| m.encode())
            .unwrap_or_default();
        let reconcile = wire::SyncRequest {
            reconcile: vec![wire::DocMessage {
                doc: *w.order.as_uuid().as_bytes(),
                message,
                signatures: Vec::new(),
            }],
            ..Default::default()
        };
        [wire::SyncRequest::default(), fresh, edit, reconcile]
            .iter()
            .map(|r| wire::encode_request(r).unwrap())
            .collect()
    }

    fn run(&mut self, input: &[u8]) -> Outcome {
        self.world.refresh();
        let answer = self.world.relay.handle(&self.world.sender, input);
        let outcome =
            match &answer {
                Ok(bytes) => describe_answer(&wire::decode_response(bytes).map_err(|e| {
                    Error::Protocol(format!("the relay's answer does not decode: {e}"))
                })),
                Err(e) => shape(&e.to_string()),
            };
        if outcome.contains("relays answer does not decode") {
            return Err(outcome);
        }
        self.world.still_works(&outcome)?;
        Ok(outcome)
    }
}

/// Automerge changes pushed for the order the relay holds (first byte even)
/// or for a new document (odd), signed by the sending device, so they reach
/// every rule.
pub struct PushedChanges {
    world: RelayWorld,
}

impl PushedChanges {
    fn new() -> Self {
        PushedChanges {
            world: RelayWorld::new(),
        }
    }
}

impl Target for PushedChanges {
    fn name(&self) -> &'static str {
        "pushed-changes"
    }

    fn seeds(&mut self) -> Vec<Vec<u8>> {
        let w = &mut self.world;
        let base = w.order_bytes.clone();
        type Edit = fn(&mut OrderDoc, &ChangeCtx);
        let edits: [Edit; 3] = [
            |o, ctx| {
                let line = o.read().unwrap().lines.keys().next().cloned().unwrap();
                o.set_quantity(ctx, &line, Decimal::from(99)).unwrap();
            },
            |o, ctx| o.submit(ctx).unwrap(),
            |o, ctx| {
                let line = o.read().unwrap().lines.keys().next().cloned().unwrap();
                o.remove_line(ctx, &line).unwrap();
            },
        ];
        let mut seeds: Vec<Vec<u8>> = edits
            .iter()
            .map(|edit| {
                let mut doc = Document::load(&base).unwrap();
                let heads = doc.heads();
                let mut o = OrderDoc::from_document(doc).unwrap();
                edit(&mut o, &w.ctx);
                let mut seed = vec![0u8];
                seed.extend(o.document().save_after(&heads));
                seed
            })
            .collect();
        let (mut customer, mut order) = customer_and_order(&w.ctx);
        for d in [customer.document(), order.document()] {
            let mut seed = vec![1u8];
            seed.extend(d.save());
            seeds.push(seed);
        }
        seeds
    }

    fn run(&mut self, input: &[u8]) -> Outcome {
        let Some((&mode, changes)) = input.split_first() else {
            return Ok("empty".into());
        };
        self.world.refresh();
        let w = &mut self.world;
        let push = if mode % 2 == 0 {
            let base = w.relay.load(w.order).map(|mut d| d.save()).ok();
            w.push(w.order, base.as_deref(), changes)
        } else {
            let id = Document::load(changes)
                .map(|d| d.id())
                .unwrap_or_else(|_| DocId::new());
            w.push(id, None, changes)
        };
        let answer = w.relay.handle_request(
            &w.sender,
            wire::SyncRequest {
                pushes: vec![push],
                ..Default::default()
            },
        );
        let outcome = describe_answer(&answer);
        w.still_works(&outcome)?;
        Ok(outcome)
    }
}

/// Automerge sync messages about the order the relay holds (a document
/// being reconciled the slow way).
pub struct ReconcileMessage {
    world: RelayWorld,
}

impl ReconcileMessage {
    fn new() -> Self {
        ReconcileMessage {
            world: RelayWorld::new(),
        }
    }
}

impl Target for ReconcileMessage {
    fn name(&self) -> &'static str {
        "reconcile-message"
    }

    fn seeds(&mut self) -> Vec<Vec<u8>> {
        let w = &mut self.world;
        let mut seeds = vec![
            // The reports' two triggers: a Bloom filter of 0 bits per entry,
            // and one asking for 2^32-1 probes.
            vec![0x42, 0, 0, 1, 0, 3, 1, 0, 7, 0],
            vec![
                0x42, 0, 0, 1, 0, 9, 1, 10, 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0, 0,
            ],
        ];
        let mut full = automerge::AutoCommit::load(&w.order_bytes).unwrap();
        let mut empty = automerge::AutoCommit::new();
        for doc in [&mut full, &mut empty] {
            let mut state = automerge::sync::State::new();
            if let Some(m) = doc.sync().generate_sync_message(&mut state) {
                seeds.push(m.encode());
            }
        }
        // A message carrying changes: the order's history after its creation.
        let mut partial = automerge::AutoCommit::load(&w.order_bytes).unwrap();
        let mut state = automerge::sync::State::new();
        let theirs = automerge::AutoCommit::new()
            .sync()
            .generate_sync_message(&mut automerge::sync::State::new());
        if let Some(m) = theirs {
            let _ = partial.sync().receive_sync_message(&mut state, m);
            if let Some(reply) = partial.sync().generate_sync_message(&mut state) {
                seeds.push(reply.encode());
            }
        }
        seeds
    }

    fn run(&mut self, input: &[u8]) -> Outcome {
        self.world.refresh();
        let w = &mut self.world;
        let signatures = sign_changes(&w.key, None, &w.order_bytes);
        let answer = w.relay.handle_request(
            &w.sender,
            wire::SyncRequest {
                reconcile: vec![wire::DocMessage {
                    doc: *w.order.as_uuid().as_bytes(),
                    message: input.to_vec(),
                    signatures,
                }],
                ..Default::default()
            },
        );
        let outcome = describe_answer(&answer);
        w.still_works(&outcome)?;
        Ok(outcome)
    }
}

/// Answers from "the relay" as the phone receives them: the phone library
/// must turn anything into a clear error and keep its store usable.
pub struct SyncAnswerOnPhone {
    phone: DeviceStore,
    order: DocId,
    runs: usize,
}

impl SyncAnswerOnPhone {
    fn new() -> Self {
        let mut phone = DeviceStore::open_in_memory().unwrap();
        let ctx = salesperson();
        phone
            .set_identity(&DeviceIdentity::of(
                &ctx.actor,
                OrderPrefix::new("S01").unwrap(),
            ))
            .unwrap();
        phone.device_key().unwrap();
        let (mut customer, mut order) = customer_and_order(&ctx);
        phone.save(customer.document()).unwrap();
        phone.save(order.document()).unwrap();
        SyncAnswerOnPhone {
            order: order.document().id(),
            phone,
            runs: 0,
        }
    }
}

impl Target for SyncAnswerOnPhone {
    fn name(&self) -> &'static str {
        "sync-answer-on-phone"
    }

    fn seeds(&mut self) -> Vec<Vec<u8>> {
        // Real answers: a relay accepting this phone's pushes, and an idle one.
        let mut relay =
            Relay::new(SqliteRelayStore::open_in_memory().unwrap(), RolePolicy).unwrap();
        let mut seeds = Vec::new();
        let ctx = salesperson();
        let sender = Sender::new(ctx.actor.clone(), Some(self.phone.device_key().unwrap()));
        let mut session = SyncSession::new();
        if let Ok(Some(request)) = session.next_request(&mut self.phone) {
            seeds.push(relay.handle(&sender, &request).unwrap());
        }
        seeds.push(wire::encode_response(&wire::SyncResponse::default()).unwrap());
        seeds
    }

    fn run(&mut self, input: &[u8]) -> Outcome {
        self.runs += 1;
        if self.runs.is_multiple_of(2_000) {
            *self = SyncAnswerOnPhone::new();
        }
        let mut session = SyncSession::new();
        let request = session
            .next_request(&mut self.phone)
            .map_err(|e| format!("the phone could not make a request: {e}"))?;
        if request.is_none() {
            return Ok("nothing to send".into());
        }
        let outcome = match session.receive(&mut self.phone, input) {
            Ok(()) => "applied".to_string(),
            Err(e) => shape(&e.to_string()),
        };
        // The phone's store still reads.
        self.phone
            .load(self.order)
            .map_err(|e| format!("the phone's order no longer loads: {e}"))?;
        self.phone
            .pending_count()
            .map_err(|e| format!("the phone's store broke: {e}"))?;
        Ok(outcome)
    }
}

/// The head-office JSON API: the first byte picks the endpoint and user,
/// the rest is the body (or, for a report, its query string).
pub struct OfficeJson {
    _dir: tempfile::TempDir,
    app: axum::Router,
    rt: tokio::runtime::Runtime,
    tokens: Vec<String>,
    order: DocId,
    customer: DocId,
}

impl OfficeJson {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let state =
            Arc::new(AppState::open(&dir.path().join("relay.db"), Limits::default()).unwrap());
        let tokens: Vec<String> = [
            ("zhao", Role::Manager, Some("east")),
            ("sun", Role::OrderDesk, None),
            ("wu", Role::Warehouse, None),
            ("zheng", Role::Finance, None),
            ("root", Role::Admin, None),
        ]
        .into_iter()
        .map(|(id, role, region)| {
            let mut relay = state.relay();
            accounts::create_user(relay.store().connection(), id, id, role, region).unwrap()
        })
        .collect();
        let ctx = salesperson();
        let (mut customer, mut order) = customer_and_order(&ctx);
        order.submit(&ctx).unwrap();
        let ids = (customer.document().id(), order.document().id());
        {
            let mut relay = state.relay();
            relay
                .commit_edits(
                    &ctx.actor,
                    &mut [customer.document().fork(), order.document().fork()],
                )
                .unwrap();
        }
        OfficeJson {
            _dir: dir,
            app: fieldsync_server::router(state),
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            tokens,
            customer: ids.0,
            order: ids.1,
        }
    }

    const ORDER_ACTIONS: [&'static str; 13] = [
        "approve",
        "reject",
        "confirm",
        "start-production",
        "production",
        "in-stock",
        "ship",
        "deliver",
        "payments",
        "settle",
        "archive",
        "cancel",
        "split",
    ];
}

impl Target for OfficeJson {
    fn name(&self) -> &'static str {
        "office-json"
    }

    fn seeds(&mut self) -> Vec<Vec<u8>> {
        let bodies: [(u8, &str); 10] = [
            (0, r#"{"code":"ABCD-EFGH-JKLM","public_key":"00"}"#),
            (1, r#"{}"#),
            (1 + 16, r#"{"reason":"too expensive"}"#),
            (1 + 16 * 8, r#"{"amount":"100.50","reference":"bank 42"}"#),
            (1 + 16 * 6, r#"{"credit_override":"known customer"}"#),
            (
                2,
                r#"{"payment_terms":"credit","credit_days":30,"amount":"50000"}"#,
            ),
            (3, r#"{"resolution":"refunded"}"#),
            (4, "format=csv&from=2026-01-01&to=2026-12-31"),
            (4 + 16, "format=json"),
            (5, r#"{"public_key":"aa"}"#),
        ];
        bodies
            .iter()
            .map(|(pick, body)| {
                let mut seed = vec![*pick];
                seed.extend_from_slice(body.as_bytes());
                seed
            })
            .collect()
    }

    fn run(&mut self, input: &[u8]) -> Outcome {
        let Some((&pick, body)) = input.split_first() else {
            return Ok("empty".into());
        };
        let route = pick % 8;
        let which = usize::from(pick / 16);
        let token = &self.tokens[usize::from(pick / 8) % self.tokens.len()];
        // Every report there is.
        const REPORTS: &[&str] = fieldsync_server::reports::REPORTS;
        let text = String::from_utf8_lossy(body);
        let (method, path) = match route {
            0 => ("POST", "/v1/enroll".to_string()),
            1 => (
                "POST",
                format!(
                    "/v1/orders/{}/{}",
                    self.order,
                    Self::ORDER_ACTIONS[which % Self::ORDER_ACTIONS.len()]
                ),
            ),
            2 => (
                "POST",
                format!(
                    "/v1/customers/{}/{}",
                    self.customer,
                    ["credit", "grade", "owner"][which % 3]
                ),
            ),
            3 => ("POST", format!("/v1/complaints/{}/resolve", self.order)),
            4 => (
                "GET",
                format!(
                    "/v1/reports/{}?{}",
                    REPORTS[which % REPORTS.len()],
                    text.replace([' ', '#', '\n', '\r'], "")
                ),
            ),
            5 => ("POST", "/v1/device-key".to_string()),
            6 => ("GET", format!("/v1/orders/{}", self.order)),
            _ => (
                "POST",
                format!(
                    "/v1/orders/{}/{}",
                    self.order,
                    text.replace(['/', '?', '#', ' ', '\n', '\r'], "")
                ),
            ),
        };
        let Ok(request) = axum::http::Request::builder()
            .method(method)
            .uri(&path)
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .extension(axum::extract::ConnectInfo(SocketAddr::from((
                [10, 0, 0, 1],
                4000,
            ))))
            .body(axum::body::Body::from(body.to_vec()))
        else {
            return Ok("not a request".into());
        };
        let app = self.app.clone();
        let status = self.rt.block_on(async move {
            use tower::ServiceExt;
            app.oneshot(request).await.map(|r| r.status())
        });
        match status {
            Ok(s) if s.is_server_error() => Err(format!("{method} {path} answered {s}")),
            Ok(s) => Ok(format!("{route} {}", s.as_u16())),
            Err(e) => Err(format!("{method} {path} failed: {e}")),
        }
    }
}

/// `admin import-customers` and `import-products` (first byte even or odd).
pub struct CsvImport {
    _dir: tempfile::TempDir,
    state: AppState,
}

impl CsvImport {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let state = AppState::open(&dir.path().join("relay.db"), Limits::default()).unwrap();
        {
            let mut relay = state.relay();
            accounts::create_user(
                relay.store().connection(),
                "li",
                "Li",
                Role::Salesperson,
                Some("east"),
            )
            .unwrap();
        }
        CsvImport { _dir: dir, state }
    }
}

impl Target for CsvImport {
    fn name(&self) -> &'static str {
        "csv-import"
    }

    fn seeds(&mut self) -> Vec<Vec<u8>> {
        [
            "\0code,name,address,region,owner,grade,payment_terms,credit_limit\nC1,Hengda,12 Silk Road,east,li,a,credit,50000\nC2,Xinhua,3 Long St,east,li,b,cash,\n",
            "\x01code,name,spec,unit,list_price\nTS-1,Cotton shirt,M,pcs,12.50\nTS-2,\"Wool, knitted\",L,pcs,99.9\n",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect()
    }

    fn run(&mut self, input: &[u8]) -> Outcome {
        let Some((&which, csv)) = input.split_first() else {
            return Ok("empty".into());
        };
        let result = if which % 2 == 0 {
            admin::import_customers(&self.state, csv, &mut |_, _| {})
        } else {
            admin::import_products(&self.state, csv, &mut |_, _| {})
        };
        match result {
            Ok(n) => Ok(format!("imported {}", n.rows().min(3))),
            Err(e) if e.status().is_server_error() => Err(format!("the import failed inside: {e}")),
            Err(e) => Ok(shape(&e.to_string())),
        }
    }
}

/// Mutates inputs: the usual byte-level operations, plus splicing two inputs.
pub struct Mutator {
    state: u64,
}

impl Mutator {
    /// A mutator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Mutator { state: seed | 1 }
    }

    fn next(&mut self) -> u64 {
        // xorshift64*
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number below `n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % (n.max(1) as u64)) as usize
    }

    /// A mutation of `input`, perhaps spliced with `other`.
    pub fn mutate(&mut self, input: &[u8], other: &[u8]) -> Vec<u8> {
        let mut out = input.to_vec();
        let rounds = 1 + self.below(4);
        for _ in 0..rounds {
            let len = out.len();
            match self.below(9) {
                0 if len > 0 => {
                    let i = self.below(len);
                    out[i] ^= 1 << self.below(8);
                }
                1 if len > 0 => {
                    let i = self.below(len);
                    out[i] = self.next() as u8;
                }
                2 if len > 0 => {
                    const INTERESTING: [u8; 8] = [0, 1, 0x7f, 0x80, 0xff, 0x3f, 0x40, 0xfe];
                    let i = self.below(len);
                    out[i] = INTERESTING[self.below(INTERESTING.len())];
                }
                3 => {
                    let i = self.below(len + 1);
                    let n = 1 + self.below(8);
                    let bytes: Vec<u8> = (0..n).map(|_| self.next() as u8).collect();
                    out.splice(i..i, bytes);
                }
                4 if len > 1 => {
                    let i = self.below(len);
                    let n = 1 + self.below((len - i).min(16));
                    out.drain(i..i + n);
                }
                5 if len > 1 => {
                    let i = self.below(len);
                    let n = 1 + self.below((len - i).min(32));
                    let copy = out[i..i + n].to_vec();
                    let at = self.below(out.len() + 1);
                    out.splice(at..at, copy);
                }
                6 if !other.is_empty() => {
                    let cut = self.below(out.len() + 1);
                    let from = self.below(other.len());
                    out.truncate(cut);
                    out.extend_from_slice(&other[from..]);
                }
                7 if len > 4 => {
                    // A large LEB128 number where a length or count may be.
                    let i = self.below(len - 4);
                    out.splice(i..i + 1, [0xff, 0xff, 0xff, 0xff, 0x0f]);
                }
                8 if len > 0 => {
                    out.truncate(self.below(len));
                }
                _ => {}
            }
        }
        out.truncate(1 << 20);
        out
    }
}

/// A file name for an input: a digest of it (FNV-1a, 64 bits).
pub fn input_name(input: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in input {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}
