//! The HTTP API: enrollment, sync, head-office actions, reports, health and
//! metrics, over one SQLite database.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{NaiveDate, Utc};
use fieldsync_core::rules::RolePolicy;
use fieldsync_core::store::SqliteRelayStore;
use fieldsync_core::sync::{Relay, wire};
use fieldsync_core::{
    Actor, ChangeCtx, ComplaintDoc, Customer, CustomerDoc, DocId, Grade, Order, OrderDoc,
    PaymentTerms, ProductionInfo, ReportSchedule, Shipment, may_see, money,
};
use serde::{Deserialize, Serialize};
use tower_http::timeout::TimeoutLayer;

use crate::accounts;
use crate::error::{Result, ServerError};
use crate::head_office::{HeadOffice, migrate_head_office};
use crate::metrics::Metrics;
use crate::readers::{Reader, Readers};
use crate::reports;

/// The relay over the embedded database.
pub type ServerRelay = Relay<SqliteRelayStore, RolePolicy>;

/// Limits on requests.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest sync request body.
    pub max_sync_bytes: usize,
    /// Largest JSON request body.
    pub max_json_bytes: usize,
    /// Most documents (pushes and reconcile messages) in one sync request.
    pub max_documents: usize,
    /// Longest a request may take.
    pub timeout: Duration,
    /// Sync requests one device may make per second, on average.
    pub syncs_per_second: f64,
    /// Sync requests one device may make in a burst.
    pub sync_burst: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_sync_bytes: 16 << 20,
            max_json_bytes: 64 << 10,
            max_documents: 5_000,
            timeout: Duration::from_secs(60),
            syncs_per_second: 2.0,
            sync_burst: 30.0,
        }
    }
}

/// Everything a request handler needs.
pub struct AppState {
    relay: Mutex<ServerRelay>,
    /// Read-only connections: authentication and reports never wait for the relay.
    readers: Readers,
    /// The counters behind `/metrics`.
    pub metrics: Metrics,
    /// Request limits.
    pub limits: Limits,
    /// When daily reports are due.
    pub schedule: ReportSchedule,
    /// Per-device token buckets for sync requests: tokens and when last filled.
    buckets: Mutex<std::collections::HashMap<String, (f64, Instant)>>,
    /// The queue of the writer thread that commits syncs in batches.
    writer: std::sync::OnceLock<std::sync::mpsc::Sender<SyncJob>>,
}

/// A decoded, authenticated sync request waiting for the writer, and where to
/// send its answer.
type SyncJob = (
    Actor,
    wire::SyncRequest,
    tokio::sync::oneshot::Sender<fieldsync_core::Result<wire::SyncResponse>>,
);

/// Most requests committed together.
const MAX_BATCH: usize = 64;

/// Commits sync requests in batches (group commit) until the state is gone:
/// whatever queued while the previous batch was being written goes in the next.
fn writer_loop(state: std::sync::Weak<AppState>, jobs: std::sync::mpsc::Receiver<SyncJob>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        let Some(state) = state.upgrade() else { break };
        let (requests, replies): (Vec<_>, Vec<_>) =
            batch.into_iter().map(|(a, r, tx)| ((a, r), tx)).unzip();
        let answers = state.relay().handle_batch(requests);
        for (reply, answer) in replies.into_iter().zip(answers) {
            let _ = reply.send(answer);
        }
    }
}

impl AppState {
    /// Opens (or creates) the database at `path` and brings every table up to date.
    pub fn open(path: &Path, limits: Limits) -> Result<Self> {
        let schedule = ReportSchedule::default();
        let mut store = SqliteRelayStore::open(path)?.with_projection(Box::new(HeadOffice {
            schedule: schedule.clone(),
        }));
        accounts::migrate_accounts(store.connection())?;
        migrate_head_office(store.connection())?;
        Ok(AppState {
            relay: Mutex::new(Relay::new(store, RolePolicy)),
            readers: Readers::new(path),
            metrics: Metrics::default(),
            limits,
            schedule,
            buckets: Mutex::new(std::collections::HashMap::new()),
            writer: std::sync::OnceLock::new(),
        })
    }

    /// Hands a sync request to the writer thread (started on first use).
    fn submit_sync(self: &Arc<Self>, job: SyncJob) -> Result<()> {
        let tx = self.writer.get_or_init(|| {
            let (tx, rx) = std::sync::mpsc::channel();
            let weak = Arc::downgrade(self);
            std::thread::Builder::new()
                .name("sync-writer".into())
                .spawn(move || writer_loop(weak, rx))
                .ok();
            tx
        });
        tx.send(job)
            .map_err(|_| ServerError::Internal("the sync writer has stopped".into()))
    }

    /// Takes one sync token for `device`; refuses a device that floods the relay.
    fn take_sync_token(&self, device: &str) -> Result<()> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let (tokens, last) = buckets
            .entry(device.to_string())
            .or_insert((self.limits.sync_burst, now));
        *tokens = (*tokens
            + now.duration_since(*last).as_secs_f64() * self.limits.syncs_per_second)
            .min(self.limits.sync_burst);
        *last = now;
        if *tokens < 1.0 {
            tracing::warn!(device, "sync requests rate-limited");
            return Err(ServerError::TooManyRequests(
                "too many sync requests from this device; wait a few seconds and sync again".into(),
            ));
        }
        *tokens -= 1.0;
        Ok(())
    }

    /// A read-only connection to the database, for work that only reads; it
    /// sees everything committed and never waits for the relay.
    pub fn reader(&self) -> Result<Reader<'_>> {
        self.readers.get()
    }

    /// The relay, for one operation at a time.
    pub fn relay(&self) -> MutexGuard<'_, ServerRelay> {
        // A panic while holding the lock cannot leave the database half-written
        // (every write is one SQLite transaction), so a poisoned lock is usable.
        self.relay.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Runs blocking database work off the async threads.
async fn blocking<T: Send + 'static>(
    state: &Arc<AppState>,
    f: impl FnOnce(&AppState) -> Result<T> + Send + 'static,
) -> Result<T> {
    let state = state.clone();
    tokio::task::spawn_blocking(move || f(&state))
        .await
        .map_err(|e| ServerError::Internal(format!("worker failed: {e}")))?
}

fn bearer(headers: &HeaderMap) -> Result<String> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| {
            ServerError::Unauthorized("missing Authorization: Bearer <token> header".into())
        })?
        .to_str()
        .map_err(|_| {
            ServerError::Unauthorized("the Authorization header is not readable".into())
        })?;
    value
        .strip_prefix("Bearer ")
        .map(|t| t.trim().to_string())
        .ok_or_else(|| {
            ServerError::Unauthorized("the Authorization header must be: Bearer <token>".into())
        })
}

/// The router with every route and limit.
pub fn router(state: Arc<AppState>) -> Router {
    let limits = state.limits;
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .route("/v1/enroll", post(enroll))
        .route(
            "/v1/sync",
            post(sync).layer(DefaultBodyLimit::max(limits.max_sync_bytes)),
        )
        .route("/v1/orders/{id}", get(get_order))
        .route("/v1/orders/{id}/{action}", post(order_action))
        .route("/v1/customers/{id}/{action}", post(customer_action))
        .route("/v1/complaints/{id}/resolve", post(resolve_complaint))
        .route("/v1/reports/{name}", get(report))
        .layer(DefaultBodyLimit::max(limits.max_json_bytes))
        // Phones gzip large sync requests; answers are gzip'd for clients that ask.
        .layer(tower_http::decompression::RequestDecompressionLayer::new())
        .layer(tower_http::compression::CompressionLayer::new())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.timeout,
        ))
        .fallback(|| async { ServerError::NotFound("no such endpoint; see /openapi.json".into()) })
        .with_state(state)
}

async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::openapi::SPEC,
    )
}

#[derive(Debug, Deserialize)]
struct EnrollRequest {
    code: String,
}

async fn enroll(
    State(state): State<Arc<AppState>>,
    body: std::result::Result<Json<EnrollRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<accounts::Enrollment>> {
    let Json(req) = body.map_err(|e| {
        ServerError::BadRequest(format!("expected JSON {{\"code\": \"...\"}}: {e}"))
    })?;
    let e = blocking(&state, move |s| {
        let mut relay = s.relay();
        accounts::enroll(relay.store().connection(), &req.code, Utc::now())
    })
    .await?;
    state.metrics.enrolled();
    tracing::info!(device = %e.device_id, user = %e.user, "device enrolled");
    Ok(Json(e))
}

async fn sync(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response> {
    let token = bearer(&headers)?;
    let started = Instant::now();
    let result = blocking(&state, move |s| {
        let req = wire::decode_request(&body)?;
        let docs = req.pushes.len() + req.reconcile.len();
        if docs > s.limits.max_documents {
            return Err(ServerError::TooLarge(format!(
                "{docs} documents in one sync request; at most {} (the app sends the rest next time)",
                s.limits.max_documents
            )));
        }
        let actor = accounts::authenticate_device(&*s.reader()?, &token)?;
        s.take_sync_token(actor.device())?;
        Ok((actor, req))
    })
    .await;
    let result = match result {
        Ok((actor, req)) => {
            let docs: Vec<[u8; 16]> = req.pushes.iter().map(|p| p.doc).collect();
            let reconciled: Vec<[u8; 16]> = req.reconcile.iter().map(|m| m.doc).collect();
            let (tx, rx) = tokio::sync::oneshot::channel();
            state.submit_sync((actor.clone(), req, tx))?;
            let resp = rx
                .await
                .map_err(|_| ServerError::Internal("the sync writer dropped a request".into()))?;
            let resp = resp.map_err(ServerError::from)?;
            let refused: Vec<(String, String)> = docs
                .iter()
                .zip(&resp.pushes)
                .chain(reconciled.iter().zip(&resp.reconcile_outcomes))
                .filter_map(|(doc, o)| match o {
                    wire::Outcome::Refused(reason) => {
                        Some((DocId::from_bytes(*doc).to_string(), reason.clone()))
                    }
                    _ => None,
                })
                .collect();
            if !refused.is_empty() {
                for (doc, reason) in &refused {
                    tracing::warn!(device = actor.device(), user = actor.user(), %doc, %reason, "change refused");
                }
                let actor = actor.clone();
                blocking(&state, move |s| {
                    let mut relay = s.relay();
                    Ok(crate::head_office::log_refusals(
                        relay.store().connection(),
                        &actor,
                        &refused,
                    )?)
                })
                .await?;
            }
            Ok(resp)
        }
        Err(e) => Err(e),
    };
    let took = started.elapsed();
    match result {
        Ok(resp) => {
            let refused = resp
                .pushes
                .iter()
                .filter(|o| matches!(o, wire::Outcome::Refused(_)))
                .count() as u64;
            let accepted = resp
                .pushes
                .iter()
                .filter(|o| matches!(o, wire::Outcome::Accepted))
                .count() as u64;
            state.metrics.sync(took, accepted, refused, true);
            let bytes = wire::encode_response(&resp)?;
            Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
        }
        Err(e) => {
            state.metrics.sync(took, 0, 0, false);
            Err(e)
        }
    }
}

fn parse_id(id: &str) -> Result<DocId> {
    id.parse()
        .map_err(|_| ServerError::NotFound(format!("there is no document {id}")))
}

/// An order as the head-office API shows it.
#[derive(Debug, Serialize)]
pub struct OrderSummary {
    id: String,
    number: String,
    customer: String,
    customer_name: String,
    status: String,
    changed_after_approval: bool,
    total: String,
    paid: String,
    lines: Vec<LineSummary>,
}

#[derive(Debug, Serialize)]
struct LineSummary {
    id: String,
    product: String,
    variant: String,
    quantity: String,
    unit_price: String,
    discount_percent: String,
    total: String,
}

impl From<&Order> for OrderSummary {
    fn from(o: &Order) -> Self {
        OrderSummary {
            id: o.id().to_string(),
            number: o.number.clone(),
            customer: o.customer.to_string(),
            customer_name: o.customer_name.clone(),
            status: o.status().as_str().to_string(),
            changed_after_approval: o.changed_after_approval(),
            total: money::cents(o.total()).to_string(),
            paid: money::cents(o.paid()).to_string(),
            lines: o
                .lines
                .iter()
                .map(|(id, l)| LineSummary {
                    id: id.clone(),
                    product: l.product.clone(),
                    variant: l.variant.clone(),
                    quantity: l.quantity.to_string(),
                    unit_price: l.unit_price.to_string(),
                    discount_percent: l.discount_percent.to_string(),
                    total: money::cents(l.total()).to_string(),
                })
                .collect(),
        }
    }
}

/// Loads a document the user may see (others are "not found", not "forbidden").
fn load_visible(
    relay: &mut ServerRelay,
    actor: &Actor,
    id: DocId,
) -> Result<fieldsync_core::Document> {
    let doc = relay
        .load(id)
        .map_err(|_| ServerError::NotFound(format!("there is no document {id}")))?;
    if !may_see(actor, doc.meta()) {
        return Err(ServerError::NotFound(format!("there is no document {id}")));
    }
    Ok(doc)
}

async fn get_order(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<OrderSummary>> {
    let token = bearer(&headers)?;
    let id = parse_id(&id)?;
    blocking(&state, move |s| {
        let mut relay = s.relay();
        let actor = accounts::authenticate_user(relay.store().connection(), &token)?;
        let doc = load_visible(&mut relay, &actor, id)?;
        Ok(Json(OrderSummary::from(&doc.view::<Order>()?)))
    })
    .await
}

/// The body of a head-office action; each action reads the fields it needs.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionBody {
    /// Why (reject, cancel).
    pub reason: Option<String>,
    /// Why the credit check is overridden (approve, ship).
    pub credit_override_reason: Option<String>,
    /// Production's expected finish date.
    pub expected_finish: Option<NaiveDate>,
    /// Production note.
    pub note: Option<String>,
    /// Carrier (ship).
    pub carrier: Option<String>,
    /// Tracking number (ship).
    pub tracking: Option<String>,
    /// An amount as a decimal string (payments, credit limits).
    pub amount: Option<String>,
    /// Payment reference.
    pub reference: Option<String>,
    /// Payment terms: "cash" or "credit".
    pub payment_terms: Option<String>,
    /// Days to pay.
    pub credit_days: Option<u64>,
    /// Grade: "A", "B" or "C".
    pub grade: Option<String>,
    /// A complaint's resolution.
    pub resolution: Option<String>,
}

fn json_body(
    body: std::result::Result<Json<ActionBody>, axum::extract::rejection::JsonRejection>,
) -> Result<ActionBody> {
    match body {
        Ok(Json(b)) => Ok(b),
        Err(axum::extract::rejection::JsonRejection::MissingJsonContentType(_)) => {
            Ok(ActionBody::default())
        }
        Err(e) => Err(ServerError::BadRequest(format!(
            "the request body is not valid: {e}"
        ))),
    }
}

fn need<'a>(v: &'a Option<String>, what: &str) -> Result<&'a str> {
    v.as_deref()
        .ok_or_else(|| ServerError::BadRequest(format!("{what} is required")))
}

fn customer_of(relay: &mut ServerRelay, o: &Order) -> Result<Customer> {
    Ok(relay.load(o.customer)?.view::<Customer>()?)
}

async fn order_action(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    UrlPath((id, action)): UrlPath<(String, String)>,
    body: std::result::Result<Json<ActionBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<OrderSummary>> {
    let token = bearer(&headers)?;
    let id = parse_id(&id)?;
    let b = json_body(body)?;
    let out = blocking(&state, move |s| {
        let mut relay = s.relay();
        let actor = accounts::authenticate_user(relay.store().connection(), &token)?;
        let ctx = ChangeCtx::now(actor.clone());
        let mut o = OrderDoc::from_document(load_visible(&mut relay, &actor, id)?)?;
        let current = o.read()?;
        let over = b.credit_override_reason.as_deref();
        match action.as_str() {
            "approve" => o.approve(&ctx, &customer_of(&mut relay, &current)?, over)?,
            "reject" => o.reject(&ctx, need(&b.reason, "reason")?)?,
            "confirm" => o.confirm(&ctx)?,
            "start-production" => o.start_production(&ctx, b.expected_finish)?,
            "production" => o.update_production(
                &ctx,
                ProductionInfo { expected_finish: b.expected_finish, note: b.note.clone().unwrap_or_default() },
            )?,
            "in-stock" => o.mark_in_stock(&ctx)?,
            "ship" => o.ship(
                &ctx,
                &customer_of(&mut relay, &current)?,
                Shipment {
                    carrier: b.carrier.clone().unwrap_or_default(),
                    tracking: b.tracking.clone().unwrap_or_default(),
                    notice: String::new(),
                },
                over,
            )?,
            "deliver" => o.mark_delivered(&ctx)?,
            "payments" => {
                let amount = money::parse_amount("payment amount", need(&b.amount, "amount")?)?;
                o.record_payment(&ctx, amount, b.reference.as_deref().unwrap_or(""))?;
            }
            "settle" => o.settle(&ctx)?,
            "archive" => o.archive(&ctx)?,
            "cancel" => o.cancel(&ctx, need(&b.reason, "reason")?)?,
            other => {
                return Err(ServerError::NotFound(format!(
                    "unknown order action {other}; use approve, reject, confirm, start-production, production, in-stock, ship, deliver, payments, settle, archive or cancel"
                )));
            }
        }
        relay.commit_edit(&actor, o.document())?;
        s.metrics.office_action();
        tracing::info!(user = actor.user(), order = %id, %action, "order action");
        Ok(OrderSummary::from(&o.read()?))
    })
    .await?;
    Ok(Json(out))
}

async fn customer_action(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    UrlPath((id, action)): UrlPath<(String, String)>,
    body: std::result::Result<Json<ActionBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<serde_json::Value>> {
    let token = bearer(&headers)?;
    let id = parse_id(&id)?;
    let b = json_body(body)?;
    blocking(&state, move |s| {
        let mut relay = s.relay();
        let actor = accounts::authenticate_user(relay.store().connection(), &token)?;
        let ctx = ChangeCtx::now(actor.clone());
        let mut c = CustomerDoc::from_document(load_visible(&mut relay, &actor, id)?)?;
        match action.as_str() {
            "credit" => {
                let terms = match need(&b.payment_terms, "payment_terms")? {
                    "cash" => PaymentTerms::Cash,
                    "credit" => PaymentTerms::Credit,
                    other => {
                        return Err(ServerError::BadRequest(format!(
                            "payment_terms must be cash or credit, not {other}"
                        )));
                    }
                };
                let limit = money::parse_amount("credit limit", need(&b.amount, "amount")?)?;
                c.set_credit(&ctx, terms, b.credit_days.unwrap_or(30), limit)?;
            }
            "receivables" => {
                let r = money::parse_amount("receivables", need(&b.amount, "amount")?)?;
                c.set_receivables(&ctx, r)?;
            }
            "grade" => {
                let g = match need(&b.grade, "grade")? {
                    "A" => Grade::A,
                    "B" => Grade::B,
                    "C" => Grade::C,
                    other => {
                        return Err(ServerError::BadRequest(format!(
                            "grade must be A, B or C, not {other}"
                        )));
                    }
                };
                c.set_grade(&ctx, g)?;
            }
            "activate" => c.activate(&ctx)?,
            other => {
                return Err(ServerError::NotFound(format!(
                    "unknown customer action {other}; use credit, receivables, grade or activate"
                )));
            }
        }
        relay.commit_edit(&actor, c.document())?;
        s.metrics.office_action();
        let v = c.read()?;
        Ok(Json(serde_json::json!({
            "id": v.id().to_string(), "name": v.name, "grade": format!("{:?}", v.grade),
            "credit_limit": v.credit_limit.to_string(), "receivables": v.receivables.to_string(),
            "credit_headroom": v.credit_headroom().to_string(),
        })))
    })
    .await
}

async fn resolve_complaint(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
    body: std::result::Result<Json<ActionBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<serde_json::Value>> {
    let token = bearer(&headers)?;
    let id = parse_id(&id)?;
    let b = json_body(body)?;
    blocking(&state, move |s| {
        let mut relay = s.relay();
        let actor = accounts::authenticate_user(relay.store().connection(), &token)?;
        let ctx = ChangeCtx::now(actor.clone());
        let mut c = ComplaintDoc::from_document(load_visible(&mut relay, &actor, id)?)?;
        c.resolve(&ctx, need(&b.resolution, "resolution")?)?;
        relay.commit_edit(&actor, c.document())?;
        s.metrics.office_action();
        let v = c.read()?;
        Ok(Json(
            serde_json::json!({ "id": v.id().to_string(), "status": v.status().in_words() }),
        ))
    })
    .await
}

#[derive(Debug, Deserialize)]
struct ReportQuery {
    format: Option<String>,
}

async fn report(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    UrlPath(name): UrlPath<String>,
    Query(q): Query<ReportQuery>,
) -> Result<Response> {
    let token = bearer(&headers)?;
    let table = blocking(&state, move |s| {
        let conn = s.reader()?;
        let actor = accounts::authenticate_user(&conn, &token)?;
        reports::run(&conn, &actor, &name, &s.schedule)
    })
    .await?;
    match q.format.as_deref() {
        None | Some("json") => Ok(Json(table.to_json()).into_response()),
        Some("csv") => Ok((
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            table.to_csv()?,
        )
            .into_response()),
        Some(other) => Err(ServerError::BadRequest(format!(
            "format must be json or csv, not {other}"
        ))),
    }
}
