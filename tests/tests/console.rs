//! The web console in a real browser (Debian's chromium and chromedriver,
//! driven over WebDriver): every head-office role signs in and takes its
//! step on an order while the salesperson's phone syncs, a held shipment
//! shows why, a wrong-role action and a cross-site post are refused, and
//! signing out ends the session. Screenshots of each queue go to
//! `target/console-screenshots/` for people to look at.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use fieldsync_core::*;
use fieldsync_server::{accounts, admin};
use fieldsync_tests::*;

const PASSWORD: &str = "a long enough password";

/// chromedriver on a free port, and headless chromium sessions through it.
struct Driver {
    child: Child,
    port: u16,
    profiles: tempfile::TempDir,
}

impl Driver {
    fn start() -> Driver {
        let port = free_port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is needed for the console tests: install Debian's chromium and chromium-driver (.ci/run does)");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Driver {
            child,
            port,
            profiles: tempfile::tempdir().unwrap(),
        }
    }

    /// A new browser, as a person at a 1280×800 screen.
    async fn browser(&self, name: &str) -> Client {
        let profile = self.profiles.path().join(name);
        let caps = serde_json::json!({
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                    "--window-size=1280,800", "--lang=zh-CN",
                    format!("--user-data-dir={}", profile.display()),
                ]
            }
        });
        let mut builder =
            ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
        builder.capabilities(caps.as_object().unwrap().clone());
        builder
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("a chromium session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
}

/// Waits until the page's source contains `needle` (pages load after a click).
async fn wait_for(c: &Client, needle: &str) -> String {
    let started = Instant::now();
    loop {
        let html = c.source().await.unwrap();
        if html.contains(needle) {
            return html;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the page never showed {needle:?}; it shows:\n{html}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn sign_in(c: &Client, relay: &TestRelay, user: &str) {
    c.goto(&format!("{}/lang/zh", relay.url())).await.unwrap();
    c.goto(&format!("{}/sign-in", relay.url())).await.unwrap();
    // The form, or (if something else came back) the page in the failure.
    wait_for(c, r#"id="user""#).await;
    c.find(Locator::Id("user"))
        .await
        .unwrap()
        .send_keys(user)
        .await
        .unwrap();
    c.find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys(PASSWORD)
        .await
        .unwrap();
    c.find(Locator::Css("form[action='/sign-in'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(c, &format!("<strong>{user}</strong>")).await;
}

async fn sign_out(c: &Client) {
    c.find(Locator::Css("form[action='/sign-out'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(c, "id=\"password\"").await;
}

/// Clicks the first button of the form posting `action` for order `number`
/// (in a queue row, or on the order page), filling `fields` first.
async fn act(c: &Client, number: Option<&str>, action: &str, fields: &[(&str, &str)]) {
    let scope = number
        .map(|n| format!("tr[data-order='{n}'] "))
        .unwrap_or_default();
    let forms = c
        .find_all(Locator::Css(&format!(
            "{scope}form[action$='/act/{action}']"
        )))
        .await
        .unwrap();
    let form = forms
        .first()
        .unwrap_or_else(|| panic!("no {action} form for {number:?}"));
    for (name, value) in fields {
        form.find(Locator::Css(&format!("[name='{name}']")))
            .await
            .unwrap()
            .send_keys(value)
            .await
            .unwrap();
    }
    form.find(Locator::Css("button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

struct Company {
    _dir: tempfile::TempDir,
    relay: TestRelay,
    li: Phone,
    tokens: std::collections::HashMap<&'static str, String>,
}

/// A company with a user of each head-office role (each with a console
/// password), a catalog, a credit and a cash customer, and Li's phone.
fn company() -> Company {
    let dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start(dir.path());
    let mut tokens = std::collections::HashMap::new();
    relay.user("li", Role::Salesperson, Some("east"));
    for (id, role, region) in [
        ("zhao", Role::Manager, Some("east")),
        ("sun", Role::OrderDesk, None),
        ("zhou", Role::Production, None),
        ("wu", Role::Warehouse, None),
        ("zheng", Role::Finance, None),
        ("root", Role::Admin, None),
    ] {
        tokens.insert(id, relay.user(id, role, region));
        let mut r = relay.state.relay();
        accounts::set_password(r.store().connection(), id, PASSWORD).unwrap();
    }
    admin::import_products(
        &relay.state,
        "code,name,spec,unit,list_price\nTS-1,Cotton shirt,M,pcs,50\nJK-1,Denim jacket,L,pcs,120\n"
            .as_bytes(),
        &mut |_, _| {},
    )
    .unwrap();
    admin::import_customers(
        &relay.state,
        "code,name,address,region,owner,grade,payment_terms,credit_limit\n\
         E-001,恒达纺织,丝绸路1号,east,li,A,credit,100000\n\
         E-002,湖畔时装,湖滨路2号,east,li,B,cash,0\n"
            .as_bytes(),
        &mut |_, _| {},
    )
    .unwrap();
    let mut li = Phone::enroll(&relay.url(), dir.path(), "li-phone", &relay.code("li"));
    li.sync().unwrap();
    Company {
        _dir: dir,
        relay,
        li,
        tokens,
    }
}

fn status_on_phone(p: &Phone, id: DocId) -> String {
    p.store
        .load(id)
        .unwrap()
        .view::<Order>()
        .unwrap()
        .status()
        .as_str()
        .to_string()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn every_head_office_role_walks_an_order_from_approval_to_settled_while_the_phone_syncs() {
    let mut co = company();
    let hengda = co.li.customer_coded("E-001");
    let (order, number) = submitted_order(
        &mut co.li,
        &hengda,
        chrono::Utc::now(),
        &[("TS-1", "10", "50"), ("JK-1", "2", "120")],
    );
    co.li.sync().unwrap();
    let driver = Driver::start();
    let url = co.relay.url();
    rt().block_on(async {
        let c = driver.browser("walk").await;
        // The manager: the approval queue, in Chinese, with credit figures.
        sign_in(&c, &co.relay, "zhao").await;
        let html = wait_for(&c, &number).await;
        assert!(
            html.contains("待审批") && html.contains("可用额度"),
            "{html}"
        );
        assert!(
            html.contains("恒达纺织") && html.contains("740.00"),
            "{html}"
        );
        screenshot(&c, "manager-approvals-zh").await;
        act(&c, Some(&number), "approve", &[]).await;
        wait_for(&c, "待审批 (0)").await;
        co.li.sync().unwrap();
        assert_eq!(
            status_on_phone(&co.li, order),
            "approved",
            "the phone sees the approval"
        );
        sign_out(&c).await;
        // Signed out: the queue is behind the sign-in again.
        c.goto(&format!("{url}/approvals")).await.unwrap();
        wait_for(&c, "id=\"password\"").await;

        // The order desk: the order page, then the customer's confirmation.
        sign_in(&c, &co.relay, "sun").await;
        c.goto(&format!("{url}/orders")).await.unwrap();
        wait_for(&c, &number).await;
        screenshot(&c, "order-desk-orders-zh").await;
        c.goto(&format!("{url}/orders/{number}")).await.unwrap();
        let html = wait_for(&c, "流程记录").await;
        assert!(
            html.contains("Approve") && html.contains("zhao") && html.contains("字段修改记录"),
            "{html}"
        );
        screenshot(&c, "order-page-zh").await;
        act(&c, None, "confirm", &[]).await;
        wait_for(&c, "<dd>客户已确认</dd>").await;
        sign_out(&c).await;

        // Production starts it; the warehouse books it in and ships it.
        sign_in(&c, &co.relay, "zhou").await;
        wait_for(&c, &number).await;
        screenshot(&c, "production-zh").await;
        act(&c, Some(&number), "start-production", &[]).await;
        wait_for(&c, "生产队列 (0)").await;
        sign_out(&c).await;
        sign_in(&c, &co.relay, "wu").await;
        wait_for(&c, &number).await;
        act(&c, Some(&number), "in-stock", &[]).await;
        wait_for(&c, "待发货 (1)").await;
        screenshot(&c, "warehouse-zh").await;
        act(
            &c,
            Some(&number),
            "ship",
            &[("carrier", "顺丰"), ("tracking", "SF123456")],
        )
        .await;
        wait_for(&c, "待发货 (0)").await;
        act(&c, Some(&number), "deliver", &[]).await;
        wait_for(&c, "已发货 (0)").await;
        sign_out(&c).await;
        co.li.sync().unwrap();
        assert_eq!(status_on_phone(&co.li, order), "delivered");

        // Finance records the payment and settles.
        sign_in(&c, &co.relay, "zheng").await;
        wait_for(&c, &number).await;
        screenshot(&c, "finance-zh").await;
        act(&c, Some(&number), "payments", &[("reference", "BANK-778")]).await;
        wait_for(&c, "待结清").await;
        c.goto(&format!("{url}/orders/{number}")).await.unwrap();
        wait_for(&c, "BANK-778").await;
        act(&c, None, "settle", &[]).await;
        wait_for(&c, "<dd>已结清</dd>").await;
        c.close().await.unwrap();
    });
    co.li.sync().unwrap();
    assert_eq!(
        status_on_phone(&co.li, order),
        "settled",
        "the phone sees it settled"
    );
    let _ = &co.tokens;
}

#[test]
fn a_held_shipment_shows_why_and_wrong_role_and_cross_site_posts_are_refused() {
    let mut co = company();
    let cash = co.li.customer_coded("E-002");
    let (order, number) = submitted_order(
        &mut co.li,
        &cash,
        chrono::Utc::now(),
        &[("TS-1", "4", "50")],
    );
    co.li.sync().unwrap();
    for (who, step) in [
        ("zhao", "approve"),
        ("sun", "confirm"),
        ("zhou", "start-production"),
        ("wu", "in-stock"),
    ] {
        let a = co
            .relay
            .api(&co.tokens[who])
            .post(&format!("/v1/orders/{order}/{step}"), serde_json::json!({}));
        assert_eq!(a.status, 200, "{step}: {}", a.error());
    }
    // A page on another origin that posts a form to the console.
    let evil = TcpListener::bind("127.0.0.1:0").unwrap();
    let evil_url = format!("http://{}", evil.local_addr().unwrap());
    let target = format!("{}/orders/{order}/act/cancel", co.relay.url());
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for stream in evil.incoming().flatten().take(4) {
            let mut s = stream;
            let mut buf = [0u8; 2048];
            let _ = s.read(&mut buf);
            let body = format!(
                "<html><body><form id='f' method='post' action='{target}'><input name='reason' value='x'></form><script>document.getElementById('f').submit()</script></body></html>"
            );
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let driver = Driver::start();
    let url = co.relay.url();
    rt().block_on(async {
        let c = driver.browser("held").await;
        // The warehouse sees the cash order held, and why.
        sign_in(&c, &co.relay, "wu").await;
        let html = wait_for(&c, &number).await;
        assert!(html.contains("class=\"note\">暂扣"), "held with its reason: {html}");
        assert!(html.to_lowercase().contains("cash") || html.contains("现金"), "{html}");
        screenshot(&c, "warehouse-held-zh").await;
        // The reason is on the order page too.
        c.goto(&format!("{url}/orders/{order}")).await.unwrap();
        wait_for(&c, "暂扣").await;
        sign_out(&c).await;

        // Finance may not approve: refused, and the order is unchanged.
        sign_in(&c, &co.relay, "zheng").await;
        c.goto(&format!("{url}/orders/{order}")).await.unwrap();
        wait_for(&c, &number).await;
        let status = c
            .execute(
                "return fetch(arguments[0], {method: 'POST', headers: {'content-type': 'application/x-www-form-urlencoded'}, body: 'reason=too+late&back=/'}).then(r => r.status)",
                vec![serde_json::json!(format!("/orders/{order}/act/reject"))],
            )
            .await
            .unwrap();
        assert_eq!(status, serde_json::json!(403), "a finance clerk cannot reject orders");
        sign_out(&c).await;

        // The order desk, signed in, opens another site that posts a
        // cancellation: the console refuses it.
        sign_in(&c, &co.relay, "sun").await;
        c.goto(&evil_url).await.unwrap();
        let html = wait_for(&c, "cross-site").await;
        assert!(html.contains("无法完成"), "{html}");
        c.close().await.unwrap();
    });
    let page = co
        .relay
        .api(&co.tokens["sun"])
        .get(&format!("/v1/orders/{order}"))
        .json();
    assert_eq!(
        page["status"], "in_stock",
        "neither post changed the order: {page}"
    );
}

#[test]
fn the_console_speaks_english_on_request_and_admin_issues_codes_as_qr() {
    let co = company();
    let driver = Driver::start();
    let url = co.relay.url();
    rt().block_on(async {
        let c = driver.browser("admin").await;
        sign_in(&c, &co.relay, "root").await;
        c.goto(&format!("{url}/lang/en")).await.unwrap();
        c.goto(&format!("{url}/admin")).await.unwrap();
        let html = wait_for(&c, "Issue an enrollment code").await;
        assert!(
            html.contains("lang=\"en\"") && html.contains("Devices"),
            "{html}"
        );
        act_admin_code(&c).await;
        let html = wait_for(&c, "<svg").await;
        assert!(html.contains("Enrollment code: li"), "{html}");
        screenshot(&c, "admin-en").await;
        // Wrong password: refused, and says so.
        sign_out(&c).await;
        c.find(Locator::Id("user"))
            .await
            .unwrap()
            .send_keys("root")
            .await
            .unwrap();
        c.find(Locator::Id("password"))
            .await
            .unwrap()
            .send_keys("not the password")
            .await
            .unwrap();
        c.find(Locator::Css("form[action='/sign-in'] button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_for(&c, "role=\"alert\"").await;
        c.close().await.unwrap();
    });
}

async fn act_admin_code(c: &Client) {
    c.find(Locator::Css(
        "form[action='/admin/enrollment-codes'] button",
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
}

#[test]
fn a_session_used_again_after_a_minute_still_opens_pages_and_an_idle_one_signs_out() {
    let co = company();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let url = co.relay.url();
    let host = url.trim_start_matches("http://").to_string();
    let r = agent
        .post(&format!("{url}/sign-in"))
        .header("origin", &format!("http://{host}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .send(format!("user=sun&password={}", PASSWORD.replace(' ', "+")))
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let page = |cookie: &str| {
        let r = agent
            .get(&format!("{url}/orders"))
            .header("cookie", cookie)
            .call()
            .unwrap();
        (
            r.status().as_u16(),
            r.headers()
                .get("location")
                .map(|l| l.to_str().unwrap().to_string()),
        )
    };
    assert_eq!(page(&cookie).0, 200);
    let seen = |minutes: i64| {
        let mut r = co.relay.state.relay();
        r.store()
            .connection()
            .execute(
                "UPDATE console_sessions SET last_seen_at = ?1",
                [(chrono::Utc::now() - chrono::Duration::minutes(minutes)).to_rfc3339()],
            )
            .unwrap();
    };
    // Used two minutes ago: the page opens, and the session's last use moves on.
    seen(2);
    assert_eq!(page(&cookie).0, 200);
    let last: String = co
        .relay
        .state
        .relay()
        .store()
        .connection()
        .query_row("SELECT last_seen_at FROM console_sessions", [], |r| {
            r.get(0)
        })
        .unwrap();
    let last = chrono::DateTime::parse_from_rfc3339(&last).unwrap();
    assert!(chrono::Utc::now().signed_duration_since(last) < chrono::Duration::minutes(1));
    // Idle past 30 minutes: back to the sign-in, and the session is gone.
    seen(31);
    assert_eq!(page(&cookie), (303, Some("/sign-in".to_string())));
    let left: i64 = co
        .relay
        .state
        .relay()
        .store()
        .connection()
        .query_row("SELECT count(*) FROM console_sessions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(left, 0);
}
