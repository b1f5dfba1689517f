//! The HTTP API: enrollment, sync, head-office actions, reports, health and
//! metrics, over one SQLite database.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use chrono::Utc;
use fieldsync_core::rules::RolePolicy;
use fieldsync_core::signing::DevicePublicKey;
use fieldsync_core::store::SqliteRelayStore;
use fieldsync_core::sync::{Relay, Sender, wire};
use fieldsync_core::{DocId, ReportSchedule};
use serde::Deserialize;
use tower_http::compression::predicate::{DefaultPredicate, SizeAbove};
use tower_http::compression::{CompressionLayer, Predicate};
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};

use crate::accounts;
use crate::error::{Result, ServerError};
use crate::head_office::{HeadOffice, migrate_head_office};
use crate::metrics::Metrics;
use crate::office;
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
    /// Failed sign-ins (bad enrollment codes, unknown tokens) one address may
    /// make per minute, on average, and in a burst.
    pub auth_failures_per_minute: f64,
    /// See `auth_failures_per_minute`.
    pub auth_failure_burst: f64,
    /// Longest a request's body may pause between two pieces.
    pub body_timeout: Duration,
    /// Open connections and the wait for a request's headers.
    pub connections: crate::listener::Connections,
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
            auth_failures_per_minute: 10.0,
            auth_failure_burst: 20.0,
            body_timeout: Duration::from_secs(10),
            connections: crate::listener::Connections::default(),
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
    /// Per-address buckets of failed sign-ins.
    auth_failures: Mutex<std::collections::HashMap<std::net::IpAddr, (f64, Instant)>>,
    /// The queue of the writer thread that commits syncs in batches
    /// (started on first use, and again if it ever stops).
    writer: Mutex<Option<std::sync::mpsc::Sender<SyncJob>>>,
    /// The writer thread is running.
    writer_running: Arc<std::sync::atomic::AtomicBool>,
    /// When each device's last sync was written to `devices.last_sync_at`.
    sync_written: Mutex<std::collections::HashMap<String, Instant>>,
    /// Failed console sign-ins per user.
    pub(crate) sign_in_failures: crate::console::session::SignInFailures,
    /// The relay serves HTTPS (session cookies are then `Secure`).
    tls: std::sync::atomic::AtomicBool,
}

/// How often a device's last sync time is written (it is shown to the
/// minute; writing it on every sync would cost a commit each).
const SYNC_TIME_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// A decoded, authenticated sync request waiting for the writer, and where to
/// send its answer.
type SyncJob = (
    Sender,
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
        let answers = answer_batch(&requests, &mut |batch| state.relay().handle_batch(batch));
        state.note_syncs(requests.iter().map(|(s, _)| s.actor.device()));
        for (reply, answer) in replies.into_iter().zip(answers) {
            let _ = reply.send(answer);
        }
    }
}

type Answers = Vec<fieldsync_core::Result<wire::SyncResponse>>;

/// Requests waiting for one commit, each with its authenticated device.
type Batch = [(Sender, wire::SyncRequest)];

/// Answers a batch with `handle`, guarded: if it panics (a bug, or input
/// something underneath chokes on), each request is answered alone, so one
/// that panics again fails only its own sync (logged) and the writer goes on.
fn answer_batch(requests: &Batch, handle: &mut dyn FnMut(&Batch) -> Answers) -> Answers {
    use std::panic::{AssertUnwindSafe, catch_unwind};
    if let Ok(answers) = catch_unwind(AssertUnwindSafe(|| handle(requests))) {
        return answers;
    }
    requests
        .iter()
        .map(|r| {
            catch_unwind(AssertUnwindSafe(|| handle(std::slice::from_ref(r))))
                .ok()
                .and_then(|mut a| a.pop())
                .unwrap_or_else(|| {
                    tracing::error!(
                        device = r.0.actor.device(),
                        user = r.0.actor.user(),
                        "a sync request made the relay fail; it was refused"
                    );
                    Err(fieldsync_core::Error::Protocol(
                        "the relay could not process this sync request; it has been logged for the administrator".into(),
                    ))
                })
        })
        .collect()
}

impl AppState {
    /// Writes the devices' last sync time, for those not written within
    /// [`SYNC_TIME_EVERY`]. A failure is logged: it costs a stale "last sync"
    /// on the device list, never a sync.
    fn note_syncs<'a>(&self, devices: impl Iterator<Item = &'a str>) {
        let now = Instant::now();
        let due: Vec<String> = {
            let mut written = self
                .sync_written
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let mut due = Vec::new();
            for d in devices {
                if written
                    .get(d)
                    .is_none_or(|t| now.duration_since(*t) >= SYNC_TIME_EVERY)
                {
                    written.insert(d.to_string(), now);
                    due.push(d.to_string());
                }
            }
            due
        };
        if due.is_empty() {
            return;
        }
        let mut relay = self.relay();
        if let Err(e) = accounts::record_syncs(relay.store().connection(), &due, chrono::Utc::now())
        {
            tracing::warn!(error = %e, "could not record the devices' last sync");
        }
    }

    /// Records that the relay serves HTTPS.
    pub fn set_serves_tls(&self) {
        self.tls.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Does the relay serve HTTPS?
    pub fn serves_tls(&self) -> bool {
        self.tls.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Opens (or creates) the database at `path` and brings every table up to date.
    pub fn open(path: &Path, limits: Limits) -> Result<Self> {
        let mut store = SqliteRelayStore::open(path)?;
        accounts::migrate_accounts(store.connection())?;
        // Business dates (deadlines, months, KPIs) in the company's zone.
        let schedule = ReportSchedule::default().in_zone(accounts::time_zone(store.connection())?);
        let mut store = store.with_projection(Box::new(HeadOffice {
            schedule: schedule.clone(),
        }));
        migrate_head_office(store.connection())?;
        let office_key = accounts::office_key(store.connection())?;
        Ok(AppState {
            relay: Mutex::new(
                Relay::new(store, RolePolicy)?
                    .with_office_key(office_key)
                    .with_signers(Box::new(accounts::EnrolledSigners::new(path))),
            ),
            readers: Readers::new(path),
            metrics: Metrics::default(),
            limits,
            schedule,
            buckets: Mutex::new(std::collections::HashMap::new()),
            auth_failures: Mutex::new(std::collections::HashMap::new()),
            writer: Mutex::new(None),
            writer_running: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            sync_written: Mutex::new(std::collections::HashMap::new()),
            sign_in_failures: Default::default(),
            tls: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Hands a sync request to the writer thread (started on first use).
    fn submit_sync(self: &Arc<Self>, job: SyncJob) -> Result<()> {
        use std::sync::atomic::Ordering;
        let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let job = match writer.as_ref() {
            Some(tx) => match tx.send(job) {
                Ok(()) => return Ok(()),
                Err(std::sync::mpsc::SendError(job)) => {
                    tracing::error!("the sync writer had stopped; starting it again");
                    job
                }
            },
            None => job,
        };
        // Start (or restart) the writer.
        let (tx, rx) = std::sync::mpsc::channel();
        let weak = Arc::downgrade(self);
        let running = self.writer_running.clone();
        running.store(true, Ordering::SeqCst);
        std::thread::Builder::new()
            .name("sync-writer".into())
            .spawn(move || {
                /// Marks the writer stopped however its thread ends.
                struct Stopped(Arc<std::sync::atomic::AtomicBool>);
                impl Drop for Stopped {
                    fn drop(&mut self) {
                        self.0.store(false, std::sync::atomic::Ordering::SeqCst);
                    }
                }
                let _stopped = Stopped(running);
                writer_loop(weak, rx)
            })
            .map_err(|e| ServerError::Internal(format!("the sync writer could not start: {e}")))?;
        tx.send(job)
            .map_err(|_| ServerError::Internal("the sync writer has stopped".into()))?;
        *writer = Some(tx);
        Ok(())
    }

    /// Is the relay able to take syncs? False once the writer thread has
    /// stopped (it is started again by the next sync).
    pub fn healthy(&self) -> bool {
        let started = self
            .writer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some();
        !started
            || self
                .writer_running
                .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The failed sign-ins left to `addr` (refilled over time).
    fn auth_failures_left(&self, addr: std::net::IpAddr, take: bool) -> f64 {
        let mut buckets = self.auth_failures.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let l = &self.limits;
        let (tokens, last) = buckets.entry(addr).or_insert((l.auth_failure_burst, now));
        *tokens = (*tokens
            + now.duration_since(*last).as_secs_f64() * l.auth_failures_per_minute / 60.0)
            .min(l.auth_failure_burst);
        *last = now;
        if take {
            *tokens = (*tokens - 1.0).max(0.0);
        }
        *tokens
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
pub(crate) async fn blocking<T: Send + 'static>(
    state: &Arc<AppState>,
    f: impl FnOnce(&AppState) -> Result<T> + Send + 'static,
) -> Result<T> {
    let state = state.clone();
    tokio::task::spawn_blocking(move || f(&state))
        .await
        .map_err(|e| ServerError::Internal(format!("worker failed: {e}")))?
}

pub(crate) fn bearer(headers: &HeaderMap) -> Result<String> {
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
    use utoipa::OpenApi;
    use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
    use utoipa_axum::routes;
    let (routes, spec) = OpenApiRouter::with_openapi(crate::openapi::ApiDoc::openapi())
        .routes(routes!(healthz))
        .routes(routes!(metrics))
        .routes(routes!(openapi))
        .routes(routes!(enroll))
        .routes(routes!(device_key))
        .routes(routes!(sync).layer(DefaultBodyLimit::max(limits.max_sync_bytes)))
        .routes(routes!(list_orders))
        .routes(routes!(list_customers))
        .routes(routes!(list_visits))
        .routes(routes!(list_complaints))
        .routes(routes!(list_daily_reports))
        .routes(routes!(list_devices))
        .routes(routes!(office::get_order))
        .routes(routes!(office::document_history))
        .routes(routes!(office::publish_stock))
        .routes(routes!(office::shipping_notice))
        .routes(routes!(office::order_action))
        .routes(routes!(office::customer_action))
        .routes(routes!(office::resolve_complaint))
        .routes(routes!(report))
        .split_for_parts();
    crate::openapi::publish(&spec);
    routes
        .merge(crate::console::router())
        .layer(DefaultBodyLimit::max(limits.max_json_bytes))
        // Phones gzip large sync requests: the sync handler decompresses
        // them itself, bounded, once the device's token is checked.
        // Answers are gzip'd above 1 KB: a typical sync answer (a few
        // outcomes, a cursor) is smaller than that, and compressing it costs
        // both sides CPU for nothing.
        .layer(
            CompressionLayer::new()
                .compress_when(DefaultPredicate::new().and(SizeAbove::new(1024))),
        )
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.timeout,
        ))
        .layer(RequestBodyTimeoutLayer::new(limits.body_timeout))
        .fallback(|| async { ServerError::NotFound("no such endpoint; see /openapi.json".into()) })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limit_failed_credentials,
        ))
        .with_state(state)
}

#[utoipa::path(get, path = "/metrics", tag = "relay", responses((status = 200, description = "Prometheus text format")))]
async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

#[utoipa::path(get, path = "/openapi.json", tag = "relay", responses((status = 200, description = "this description")))]
async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::openapi::spec(),
    )
}

/// Refuses an address that failed to sign in too often (429), and counts
/// each answer that refuses its credentials (401) against its address.
async fn limit_failed_credentials(
    State(state): State<Arc<AppState>>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let addr = peer.ip();
    if state.auth_failures_left(addr, false) < 1.0 {
        tracing::warn!(%addr, "sign-ins refused: too many failed attempts");
        return ServerError::TooManyRequests(
            "too many failed sign-ins from this address; wait a few minutes, then check the code or token".into(),
        )
        .into_response();
    }
    let response = next.run(request).await;
    if response.status() == StatusCode::UNAUTHORIZED {
        let left = state.auth_failures_left(addr, true);
        tracing::warn!(%addr, left, "failed sign-in");
    }
    response
}

/// Most a gzip'd body may grow when decompressed (honest sync requests grow
/// a few times; a "zip bomb" thousands of times).
const MAX_GZIP_RATIO: usize = 100;

/// Decompresses a gzip'd request body, to at most `max` bytes and at most
/// [`MAX_GZIP_RATIO`] times its compressed size.
fn gunzip_bounded(compressed: &[u8], max: usize) -> Result<Vec<u8>> {
    use std::io::Read;
    let limit = max.min(compressed.len().saturating_mul(MAX_GZIP_RATIO));
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(compressed)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| ServerError::BadRequest(format!("the request is not valid gzip: {e}")))?;
    if out.len() > limit {
        return Err(ServerError::TooLarge(format!(
            "the request decompresses to more than {limit} bytes ({} compressed); send it in smaller syncs",
            compressed.len()
        )));
    }
    Ok(out)
}

/// `ok`, or 503 once the sync writer has stopped (for a load balancer or
/// supervisor; the next sync starts it again).
#[utoipa::path(get, path = "/healthz", tag = "relay", responses((status = 200, description = "ok"), (status = 503, description = "the sync writer has stopped")))]
async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    if state.healthy() {
        "ok".into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "the sync writer has stopped; it starts again with the next sync",
        )
            .into_response()
    }
}

#[derive(Debug, Deserialize)]
struct EnrollRequest {
    code: String,
    /// The device's ed25519 public key, 64 hex digits.
    public_key: Option<String>,
}

#[utoipa::path(post, path = "/v1/enroll", tag = "devices", request_body = crate::openapi::EnrollBody, responses((status = 200, description = "the device's token, user, role, region, order prefix and time zone"), (status = 400, description = "malformed or breaks a rule", body = crate::openapi::ErrorBody), (status = 401, description = "no or unknown token", body = crate::openapi::ErrorBody)))]
async fn enroll(
    State(state): State<Arc<AppState>>,
    body: std::result::Result<Json<EnrollRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<accounts::Enrollment>> {
    let Json(req) = body.map_err(|e| {
        ServerError::BadRequest(format!(
            "expected JSON {{\"code\": \"...\", \"public_key\": \"...\"}}: {e}"
        ))
    })?;
    let key = req.public_key.as_deref().ok_or_else(|| {
        ServerError::BadRequest(
            "the device's public_key is required to enroll (this app is too old: update it)".into(),
        )
    })?;
    let key = DevicePublicKey::from_hex(key)?;
    let e = blocking(&state, move |s| {
        let mut relay = s.relay();
        accounts::enroll(relay.store().connection(), &req.code, &key, Utc::now())
    })
    .await?;
    state.metrics.enrolled();
    tracing::info!(device = %e.device_id, user = %e.user, "device enrolled");
    Ok(Json(e))
}

#[derive(Debug, Deserialize)]
struct DeviceKeyRequest {
    /// The device's ed25519 public key, 64 hex digits.
    public_key: String,
}

/// An app updated from before changes were signed registers its device's
/// key (once; authenticated by the device token).
#[utoipa::path(post, path = "/v1/device-key", tag = "devices", security(("bearer" = [])), request_body = crate::openapi::DeviceKeyBody, responses((status = 200, description = "registered"), (status = 400, description = "malformed or breaks a rule", body = crate::openapi::ErrorBody), (status = 401, description = "no or unknown token", body = crate::openapi::ErrorBody)))]
async fn device_key(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: std::result::Result<Json<DeviceKeyRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<serde_json::Value>> {
    let token = bearer(&headers)?;
    let Json(req) = body.map_err(|e| {
        ServerError::BadRequest(format!("expected JSON {{\"public_key\": \"...\"}}: {e}"))
    })?;
    let key = DevicePublicKey::from_hex(&req.public_key)?;
    blocking(&state, move |s| {
        let mut relay = s.relay();
        accounts::register_key(relay.store().connection(), &token, &key)
    })
    .await?;
    Ok(Json(serde_json::json!({ "registered": true })))
}

#[utoipa::path(post, path = "/v1/sync", tag = "devices", security(("bearer" = [])), request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "a binary sync request (FSYN, protocol 4), optionally gzip'd"), responses((status = 200, description = "the binary answer"), (status = 400, description = "malformed or breaks a rule", body = crate::openapi::ErrorBody), (status = 401, description = "no or unknown token", body = crate::openapi::ErrorBody), (status = 413, description = "too large"), (status = 429, description = "too many syncs"), (status = 503, description = "the relay's disk is full; retry later")))]
async fn sync(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response> {
    let token = bearer(&headers)?;
    let gzipped = headers
        .get(header::CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    let started = Instant::now();
    let result = blocking(&state, move |s| {
        // Who is asking comes first: nothing is decompressed or decoded for
        // a token nobody has.
        let sender = accounts::authenticate_device(&*s.reader()?, &token)?;
        s.take_sync_token(sender.actor.device())?;
        let body = if gzipped {
            std::borrow::Cow::Owned(gunzip_bounded(&body, s.limits.max_sync_bytes)?)
        } else {
            std::borrow::Cow::Borrowed(&body[..])
        };
        let req = wire::decode_request(&body)?;
        let docs = req.pushes.len() + req.reconcile.len();
        if docs > s.limits.max_documents {
            return Err(ServerError::TooLarge(format!(
                "{docs} documents in one sync request; at most {} (the app sends the rest next time)",
                s.limits.max_documents
            )));
        }
        Ok((sender, req))
    })
    .await;
    let result = match result {
        Ok((sender, req)) => {
            let actor = sender.actor.clone();
            let docs: Vec<[u8; 16]> = req.pushes.iter().map(|p| p.doc).collect();
            let reconciled: Vec<[u8; 16]> = req.reconcile.iter().map(|m| m.doc).collect();
            let (tx, rx) = tokio::sync::oneshot::channel();
            state.submit_sync((sender, req, tx))?;
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

#[derive(Debug, Deserialize)]
struct ReportQuery {
    format: Option<String>,
    from: Option<String>,
    to: Option<String>,
    region: Option<String>,
    salesperson: Option<String>,
    customer: Option<String>,
}

impl ReportQuery {
    /// The report filter the query asks for.
    fn filter(&self) -> Result<reports::Filter> {
        let day = |name: &str, v: &Option<String>| {
            v.as_deref()
                .map(|d| {
                    d.parse::<chrono::NaiveDate>().map_err(|_| {
                        ServerError::BadRequest(format!(
                            "{name} must be a date written 2026-12-31, not '{d}'"
                        ))
                    })
                })
                .transpose()
        };
        Ok(reports::Filter {
            from: day("from", &self.from)?,
            to: day("to", &self.to)?,
            region: self.region.clone(),
            salesperson: self.salesperson.clone(),
            customer: self.customer.clone(),
        })
    }
}

#[utoipa::path(get, path = "/v1/reports/{name}", tag = "reports", security(("bearer" = [])), params(("name" = String, Path, description = "one of crate::reports::REPORTS"), crate::openapi::ReportParams), responses((status = 200, description = "the report's rows (JSON, or CSV with format=csv)"), (status = 400, description = "malformed or breaks a rule", body = crate::openapi::ErrorBody), (status = 401, description = "no or unknown token", body = crate::openapi::ErrorBody), (status = 404, description = "no such report", body = crate::openapi::ErrorBody)))]
async fn report(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    UrlPath(name): UrlPath<String>,
    Query(q): Query<ReportQuery>,
) -> Result<Response> {
    let token = bearer(&headers)?;
    let filter = q.filter()?;
    let table = blocking(&state, move |s| {
        let conn = s.reader()?;
        let actor = accounts::authenticate_user(&conn, &token)?;
        reports::run(&conn, &actor, &name, &s.schedule, &filter)
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

/// `GET /v1/{list}`: a page of a list ([`crate::lists`]).
pub(crate) async fn list(
    state: Arc<AppState>,
    headers: HeaderMap,
    name: &'static str,
    params: std::collections::BTreeMap<String, String>,
) -> Result<Json<crate::lists::Page>> {
    let token = bearer(&headers)?;
    blocking(&state, move |s| {
        let conn = s.reader()?;
        let actor = accounts::authenticate_user(&conn, &token)?;
        crate::lists::page(&conn, &actor, name, &s.schedule, &params).map(Json)
    })
    .await
}

macro_rules! list_route {
    ($fn:ident, $name:literal) => {
        #[utoipa::path(get, path = concat!("/v1/", $name), tag = "lists", security(("bearer" = [])),
            params(crate::openapi::ListParams),
            description = "A page of the list, newest first unless sorted otherwise; filters as in crate::lists.",
            responses((status = 200, description = "a page", body = crate::lists::Page),
                (status = 400, description = "a filter, sort, limit or cursor it does not take", body = crate::openapi::ErrorBody),
                (status = 401, description = "no or unknown token", body = crate::openapi::ErrorBody)))]
        async fn $fn(
            State(state): State<Arc<AppState>>,
            headers: HeaderMap,
            Query(params): Query<std::collections::BTreeMap<String, String>>,
        ) -> Result<Json<crate::lists::Page>> {
            list(state, headers, $name, params).await
        }
    };
}
list_route!(list_orders, "orders");
list_route!(list_customers, "customers");
list_route!(list_visits, "visits");
list_route!(list_complaints, "complaints");
list_route!(list_daily_reports, "daily-reports");
list_route!(list_devices, "devices");

#[cfg(test)]
mod tests {
    use super::*;
    use fieldsync_core::{Actor, Role};

    fn request(cursor: u64) -> (Sender, wire::SyncRequest) {
        let actor = Actor::new("li", Role::Salesperson, Some("east"), "d-1").unwrap();
        (
            Sender::new(actor, None),
            wire::SyncRequest {
                cursor,
                ..Default::default()
            },
        )
    }

    #[test]
    fn a_request_that_panics_fails_only_its_own_sync() {
        let poison = 666;
        let mut handle = |batch: &[(Sender, wire::SyncRequest)]| -> Answers {
            assert!(batch.iter().all(|(_, r)| r.cursor != poison), "boom");
            batch
                .iter()
                .map(|(_, r)| {
                    Ok(wire::SyncResponse {
                        cursor: r.cursor,
                        ..Default::default()
                    })
                })
                .collect()
        };
        let batch = [request(1), request(poison), request(3)];
        let answers = answer_batch(&batch, &mut handle);
        assert_eq!(answers.len(), 3);
        assert_eq!(answers[0].as_ref().unwrap().cursor, 1);
        assert!(
            answers[1]
                .as_ref()
                .unwrap_err()
                .to_string()
                .contains("could not process")
        );
        assert_eq!(answers[2].as_ref().unwrap().cursor, 3);
        // And the next batch is answered as usual.
        assert!(answer_batch(&[request(4)], &mut handle)[0].is_ok());
    }

    #[test]
    fn a_stopped_writer_makes_the_relay_unhealthy_until_the_next_sync_restarts_it() {
        let dir = tempfile::tempdir().unwrap();
        let state = Arc::new(AppState::open(&dir.path().join("r.db"), Limits::default()).unwrap());
        assert!(state.healthy(), "not started yet is healthy");
        // A writer whose thread has ended: its queue is closed.
        let (tx, rx) = std::sync::mpsc::channel::<SyncJob>();
        drop(rx);
        *state.writer.lock().unwrap() = Some(tx);
        state
            .writer_running
            .store(false, std::sync::atomic::Ordering::SeqCst);
        assert!(!state.healthy(), "/healthz says 503");
        // The next sync starts a new writer, which answers it.
        let (reply, answer) = tokio::sync::oneshot::channel();
        let (sender, req) = request(0);
        state.submit_sync((sender, req, reply)).unwrap();
        let answer = answer.blocking_recv().unwrap();
        assert!(answer.is_ok(), "{answer:?}");
        assert!(state.healthy());
    }
}
