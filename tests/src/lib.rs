//! # fieldsync-tests
//!
//! End-to-end tests of fieldsync live in `tests/tests/`. This library holds the
//! harness they share: a real relay on an ephemeral port, phones with real
//! stores syncing over HTTP, and a small client for the head-office API.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod fuzz;
pub mod postgres;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use fieldsync_core::store::{DeviceIdentity, DeviceStore};
use fieldsync_core::sync::{SyncSession, SyncSummary};
use fieldsync_core::{Actor, ChangeCtx, OrderPrefix, Role};
use fieldsync_server::{AppState, Limits, accounts};

/// A relay running in this process on 127.0.0.1, on a real TCP port.
pub struct TestRelay {
    /// Its address.
    pub addr: SocketAddr,
    /// Its state, for admin work (creating users, issuing codes).
    pub state: Arc<AppState>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// The database file.
    pub db: PathBuf,
}

impl TestRelay {
    /// Starts a relay on a new database in `dir`.
    pub fn start(dir: &Path) -> TestRelay {
        Self::start_with(dir, Limits::default())
    }

    /// Starts a relay with the given limits.
    pub fn start_with(dir: &Path, limits: Limits) -> TestRelay {
        let db = dir.join("relay.db");
        let state = Arc::new(AppState::open(&db, limits).unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let s = state.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                fieldsync_server::serve(listener, s, async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
            });
        });
        let addr = addr_rx.recv().unwrap();
        TestRelay {
            addr,
            state,
            shutdown: Some(tx),
            thread: Some(thread),
            db,
        }
    }

    /// The base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Creates a user; returns their API token.
    pub fn user(&self, id: &str, role: Role, region: Option<&str>) -> String {
        let mut relay = self.state.relay();
        accounts::create_user(relay.store().connection(), id, id, role, region).unwrap()
    }

    /// Issues an enrollment code for a user.
    pub fn code(&self, user: &str) -> String {
        let mut relay = self.state.relay();
        accounts::issue_code(relay.store().connection(), user, chrono::Duration::hours(1))
            .unwrap()
            .0
    }

    /// A head-office API client for a user token.
    pub fn api(&self, token: &str) -> Api {
        Api {
            base: self.url(),
            token: token.to_string(),
        }
    }
}

impl Drop for TestRelay {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        // As long as the phone library waits (a loaded relay queues requests).
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .new_agent()
}

/// An HTTP answer: status and body.
#[derive(Debug)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&self.body)))
    }

    /// The `error` field of a JSON error.
    pub fn error(&self) -> String {
        self.json()["error"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

fn answer(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Answer {
    read_answer(r.unwrap()).unwrap()
}

/// The status and body (up to 64 MB) of a response.
fn read_answer(mut r: ureq::http::Response<ureq::Body>) -> Result<Answer, String> {
    let status = r.status().as_u16();
    let body = r
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_vec()
        .map_err(|e| e.to_string())?;
    Ok(Answer { status, body })
}

/// POSTs raw bytes with an optional bearer token.
pub fn post_bytes(url: &str, token: Option<&str>, body: &[u8]) -> Answer {
    try_post_bytes(url, token, body).unwrap()
}

/// [`post_bytes`], with network failures as errors.
pub fn try_post_bytes(url: &str, token: Option<&str>, body: &[u8]) -> Result<Answer, String> {
    let mut req = agent()
        .post(url)
        .header("Content-Type", "application/octet-stream");
    if let Some(t) = token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    read_answer(req.send(body).map_err(|e| e.to_string())?)
}

/// POSTs `body` gzip'd, as phones send large sync requests.
pub fn post_gzip(url: &str, token: Option<&str>, body: &[u8]) -> Answer {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(body).unwrap();
    let compressed = gz.finish().unwrap();
    let mut req = agent()
        .post(url)
        .header("Content-Type", "application/octet-stream")
        .header("Content-Encoding", "gzip");
    if let Some(t) = token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    read_answer(req.send(&compressed[..]).unwrap()).unwrap()
}

/// POSTs JSON without credentials.
pub fn post_json(url: &str, body: serde_json::Value) -> Answer {
    answer(agent().post(url).send_json(body))
}

/// The head-office API as one user.
pub struct Api {
    base: String,
    token: String,
}

impl Api {
    /// POST JSON to a path.
    pub fn post(&self, path: &str, body: serde_json::Value) -> Answer {
        answer(
            agent()
                .post(&format!("{}{path}", self.base))
                .header("Authorization", &format!("Bearer {}", self.token))
                .send_json(body),
        )
    }

    /// GET a path.
    pub fn get(&self, path: &str) -> Answer {
        answer(
            agent()
                .get(&format!("{}{path}", self.base))
                .header("Authorization", &format!("Bearer {}", self.token))
                .call(),
        )
    }
}

/// A phone: a real store on disk, enrolled with the relay, syncing over HTTP.
pub struct Phone {
    /// The local store.
    pub store: DeviceStore,
    /// The device token.
    pub token: String,
    /// Who uses it.
    pub actor: Actor,
    url: String,
    /// The store file.
    pub path: PathBuf,
}

impl Phone {
    /// Enrolls a new phone with `code`.
    pub fn enroll(relay_url: &str, dir: &Path, name: &str, code: &str) -> Phone {
        let path = dir.join(format!("{name}.db"));
        let mut store = DeviceStore::open(&path).unwrap();
        let public_key = store.device_key().unwrap().to_hex();
        let a = answer(
            agent()
                .post(&format!("{relay_url}/v1/enroll"))
                .send_json(serde_json::json!({ "code": code, "public_key": public_key })),
        );
        assert_eq!(
            a.status,
            200,
            "enrollment failed: {}",
            String::from_utf8_lossy(&a.body)
        );
        let e: accounts::Enrollment = serde_json::from_slice(&a.body).unwrap();
        let identity = DeviceIdentity {
            device_id: e.device_id.clone(),
            user: e.user.clone(),
            role: e.role.parse().unwrap(),
            region: e.region.clone(),
            order_prefix: OrderPrefix::new(&e.order_prefix).unwrap(),
            time_zone: fieldsync_core::BusinessZone::parse(&e.time_zone).unwrap(),
        };
        store.set_identity(&identity).unwrap();
        Phone {
            store,
            token: e.device_token,
            actor: identity.actor().unwrap(),
            url: relay_url.to_string(),
            path,
        }
    }

    /// The customers on the phone.
    pub fn customers(&self) -> Vec<fieldsync_core::Customer> {
        self.store
            .list_kind(fieldsync_core::DocKind::Customer)
            .unwrap()
            .into_iter()
            .map(|e| self.store.load(e.id).unwrap().view().unwrap())
            .collect()
    }

    /// The customer on the phone with head office's code `code`.
    pub fn customer_coded(&self, code: &str) -> fieldsync_core::Customer {
        self.customers()
            .into_iter()
            .find(|c| c.code == code)
            .unwrap_or_else(|| panic!("no customer {code} on the phone"))
    }

    /// A change context for now.
    pub fn ctx(&self) -> ChangeCtx {
        ChangeCtx::now(self.actor.clone())
    }

    /// Syncs the whole phone over HTTP.
    pub fn sync(&mut self) -> Result<SyncSummary, String> {
        let mut session = SyncSession::new();
        while let Some(req) = session
            .next_request(&mut self.store)
            .map_err(|e| e.to_string())?
        {
            let a = try_post_bytes(&format!("{}/v1/sync", self.url), Some(&self.token), &req)?;
            if a.status != 200 {
                return Err(format!(
                    "HTTP {}: {}",
                    a.status,
                    String::from_utf8_lossy(&a.body)
                ));
            }
            session
                .receive(&mut self.store, &a.body)
                .map_err(|e| e.to_string())?;
        }
        Ok(session.summary().clone())
    }
}

/// An order taken on phone `p` at `at` (by the phone's clock) for
/// `customer`, numbered by the phone's business date, with `lines` of
/// (product code, quantity, unit price), handed in and saved; returns its id
/// and number.
pub fn submitted_order(
    p: &mut Phone,
    customer: &fieldsync_core::Customer,
    at: chrono::DateTime<chrono::Utc>,
    lines: &[(&str, &str, &str)],
) -> (fieldsync_core::DocId, String) {
    use fieldsync_core::{Channel, NewLine, NewOrder, OrderDoc};
    let ctx = ChangeCtx::new(p.actor.clone(), at);
    let day = p.store.business_date(at).unwrap();
    let number = p.store.next_order_number(day).unwrap();
    let mut o = OrderDoc::create(
        &ctx,
        customer,
        NewOrder {
            number,
            channel: Channel::Visit,
            reorder_kind: None,
            delivery_date: None,
            evidence: "signed order form".into(),
        },
    )
    .unwrap();
    for (product, quantity, price) in lines {
        o.add_line(
            &ctx,
            NewLine {
                product: (*product).into(),
                name: (*product).into(),
                variant: String::new(),
                unit: "pcs".into(),
                quantity: quantity.parse().unwrap(),
                unit_price: price.parse().unwrap(),
                discount_percent: rust_decimal::Decimal::ZERO,
            },
        )
        .unwrap();
    }
    o.submit(&ctx).unwrap();
    p.store.save(o.document()).unwrap();
    let order = o.read().unwrap();
    (order.id(), order.number)
}

/// The relay as its own process (`fieldsync-server serve`), for tests that
/// kill it.
pub struct RelayProcess {
    bin: PathBuf,
    /// The database file.
    pub db: PathBuf,
    /// The port it listens on (the same across restarts).
    pub port: u16,
    child: Option<std::process::Child>,
}

impl RelayProcess {
    /// The server binary cargo built beside this test binary.
    fn server_bin() -> PathBuf {
        let exe = std::env::current_exe().unwrap();
        let dir = exe.parent().unwrap().parent().unwrap();
        let bin = dir.join("fieldsync-server");
        assert!(
            bin.exists(),
            "build the server first: cargo build -p fieldsync-server"
        );
        bin
    }

    /// A relay on a new database in `dir`, not started yet.
    pub fn new(dir: &Path) -> RelayProcess {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        RelayProcess {
            bin: Self::server_bin(),
            db: dir.join("relay.db"),
            port,
            child: None,
        }
    }

    /// Runs an admin command; returns its standard output.
    pub fn admin(&self, args: &[&str]) -> String {
        let out = std::process::Command::new(&self.bin)
            .arg("--db")
            .arg(&self.db)
            .arg("admin")
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "admin {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Creates a user; returns the API token.
    pub fn user(&self, id: &str, role: &str, region: Option<&str>) -> String {
        let mut args = vec!["create-user", "--id", id, "--name", id, "--role", role];
        if let Some(r) = region {
            args.extend(["--region", r]);
        }
        self.admin(&args)
            .split("keep it safe): ")
            .nth(1)
            .unwrap()
            .trim()
            .to_string()
    }

    /// Issues an enrollment code.
    pub fn code(&self, user: &str) -> String {
        let out = self.admin(&["enroll-code", "--user", user]);
        out.split(&format!("Enrollment code for {user}: "))
            .nth(1)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    }

    /// Starts the process and waits until it answers.
    pub fn start(&mut self) {
        let child = std::process::Command::new(&self.bin)
            .arg("--db")
            .arg(&self.db)
            .args(["serve", "--listen", &format!("127.0.0.1:{}", self.port)])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        for _ in 0..400 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("the relay did not start");
    }

    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Kills the process with SIGKILL.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The base URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A head-office API client.
    pub fn api(&self, token: &str) -> Api {
        Api {
            base: self.url(),
            token: token.to_string(),
        }
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A TCP port on 127.0.0.1 that is free now (for a helper process to listen on).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
