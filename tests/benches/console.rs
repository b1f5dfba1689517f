//! The console's order list with 100,000 orders in the head-office
//! database: the time to the first page over HTTP, for the order desk (all
//! orders, newest first), a manager (their region), a text search, and the
//! JSON list the page is drawn from.
//!
//! The orders are written straight into the head-office `orders` table
//! (the list reads only that table; writing 100,000 order documents
//! through the relay would take minutes and measure something else).
//!
//! Run with:
//!   cargo bench -p fieldsync-tests --bench console

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::{Duration, Instant};

use fieldsync_core::Role;
use fieldsync_server::accounts;
use fieldsync_tests::TestRelay;

const ORDERS: usize = 100_000;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn get(agent: &ureq::Agent, url: &str, cookie: &str) -> (u16, usize) {
    let mut r = agent
        .get(url)
        .header("cookie", cookie)
        .header("accept-language", "zh-CN")
        .call()
        .unwrap();
    let status = r.status().as_u16();
    let body = r.body_mut().read_to_string().unwrap();
    (status, body.len())
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start(dir.path());
    let desk_token = relay.user("sun", Role::OrderDesk, None);
    relay.user("zhao", Role::Manager, Some("east"));
    relay.user("qian", Role::Manager, Some("west"));
    let (desk, manager) = {
        let mut r = relay.state.relay();
        let conn = r.store().connection();
        let start = Instant::now();
        let tx = conn.unchecked_transaction().unwrap();
        {
            let mut insert = tx
                .prepare(
                    "INSERT INTO orders (id, number, customer_id, customer_name, owner, region, channel, status,
                       changed_after_approval, total, paid, delivery_date, created_at, split_from, merged_into,
                       outcome, taken_by)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'Visit', ?7, 0, ?8, '0.00', NULL, ?9, NULL, NULL, ?7, ?5)",
                )
                .unwrap();
            let statuses = [
                "submitted",
                "approved",
                "confirmed",
                "shipped",
                "settled",
                "archived",
            ];
            let t0 = chrono::Utc::now() - chrono::Duration::days(400);
            for i in 0..ORDERS {
                let region = if i % 3 == 0 { "west" } else { "east" };
                let at = t0 + chrono::Duration::seconds(i as i64 * 345);
                insert
                    .execute(rusqlite::params![
                        format!("0190e7d4-0000-7000-8000-{i:012}"),
                        format!(
                            "S{:02}-{}-{:03}",
                            i % 40 + 1,
                            at.format("%Y%m%d"),
                            i % 997 + 1
                        ),
                        format!("0190e7d4-1111-7000-8000-{:012}", i % 2_000),
                        format!("Customer {}", i % 2_000),
                        format!("sales{}", i % 40),
                        region,
                        statuses[i % statuses.len()],
                        format!("{}.{:02}", 100 + i % 9_000, i % 100),
                        at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    ])
                    .unwrap();
            }
        }
        tx.commit().unwrap();
        eprintln!(
            "{ORDERS} orders written in {:.1} s",
            start.elapsed().as_secs_f64()
        );
        for u in ["sun", "zhao"] {
            accounts::set_password(conn, u, "a long enough password").unwrap();
        }
        (
            format!(
                "fs_session={}",
                accounts::open_session(conn, "sun").unwrap()
            ),
            format!(
                "fs_session={}",
                accounts::open_session(conn, "zhao").unwrap()
            ),
        )
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let base = relay.url();
    println!("| list ({ORDERS} orders) | first page | median of 20 | bytes |");
    println!("|---|---:|---:|---:|");
    for (what, url, cookie) in [
        (
            "console /orders, order desk (all, newest first)",
            format!("{base}/orders"),
            desk.as_str(),
        ),
        (
            "console /orders, manager (east region)",
            format!("{base}/orders"),
            manager.as_str(),
        ),
        (
            "console /orders?q=Customer 1234 (search)",
            format!("{base}/orders?q=Customer+1234"),
            desk.as_str(),
        ),
        (
            "console /orders?status=shipped",
            format!("{base}/orders?status=shipped"),
            desk.as_str(),
        ),
    ] {
        let first = Instant::now();
        let (status, bytes) = get(&agent, &url, cookie);
        let first = first.elapsed();
        assert_eq!(status, 200, "{what}");
        let times: Vec<Duration> = (0..20)
            .map(|_| {
                let t = Instant::now();
                get(&agent, &url, cookie);
                t.elapsed()
            })
            .collect();
        println!(
            "| {what} | {:.1} ms | {:.1} ms | {bytes} |",
            first.as_secs_f64() * 1e3,
            median(times).as_secs_f64() * 1e3
        );
    }
    let api = relay.api(&desk_token);
    let t = Instant::now();
    let a = api.get("/v1/orders");
    let first = t.elapsed();
    assert_eq!(a.status, 200);
    let times: Vec<Duration> = (0..20)
        .map(|_| {
            let t = Instant::now();
            api.get("/v1/orders");
            t.elapsed()
        })
        .collect();
    println!(
        "| JSON /v1/orders (50 rows) | {:.1} ms | {:.1} ms | {} |",
        first.as_secs_f64() * 1e3,
        median(times).as_secs_f64() * 1e3,
        a.body.len()
    );
}
