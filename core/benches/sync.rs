//! Sync and store benchmarks. Prints a table; results go in BENCHMARKS.md.
//!
//! Run with: `cargo bench -p fieldsync-core --bench sync`
//!
//! - idle resync of a device holding 10,000 documents;
//! - a week offline: 500 documents changed on the device and 500 changed for
//!   it elsewhere, wire bytes against the bytes of the Automerge changes;
//! - opening a store of 10,000 documents and listing today's visits and open
//!   orders, in a fresh process, with its peak memory.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use fieldsync_core::store::{DeviceIdentity, DeviceStore, SqliteRelayStore};
use fieldsync_core::sync::{Relay, Sender, SyncSession, SyncSummary, VisibilityOnly};
use fieldsync_core::*;
use rust_decimal::Decimal;

const CHILD_ENV: &str = "FIELDSYNC_BENCH_OPEN_AND_LIST";
const DOCS: usize = 10_000;

type BenchRelay = Relay<SqliteRelayStore, VisibilityOnly>;

fn ctx(user: &str, device: &str) -> ChangeCtx {
    let actor = Actor::new(user, Role::Salesperson, Some("east"), device).unwrap();
    ChangeCtx::new(actor, today_at(1))
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
}

fn today_at(hour: u32) -> DateTime<Utc> {
    Utc.from_utc_datetime(&today().and_hms_opt(hour, 0, 0).unwrap())
}

/// Enrolls a store as `ctx`'s device: identity and signing key.
fn enrolled(store: &mut DeviceStore, ctx: &ChangeCtx) -> Sender {
    let a = &ctx.actor;
    store
        .set_identity(&DeviceIdentity::of(a, OrderPrefix::new("S07").unwrap()))
        .unwrap();
    Sender::new(a.clone(), Some(store.device_key().unwrap()))
}

fn sync(store: &mut DeviceStore, sender: &Sender, relay: &mut BenchRelay) -> SyncSummary {
    let mut session = SyncSession::new();
    while let Some(req) = session.next_request(store).unwrap() {
        let resp = relay.handle(sender, &req).unwrap();
        session.receive(store, &resp).unwrap();
    }
    session.summary().clone()
}

/// A device holding `DOCS` documents: customers, orders with 3 lines, visits
/// spread over a month. Returns the order ids.
fn seed(store: &mut DeviceStore, me: &ChangeCtx) -> Vec<DocId> {
    let customers: Vec<Customer> = (0..DOCS / 5)
        .map(|i| {
            let mut c =
                CustomerDoc::create_prospect(me, &format!("Shop {i}"), "Main Street").unwrap();
            store.save(c.document()).unwrap();
            c.read().unwrap()
        })
        .collect();
    let mut orders = Vec::new();
    for i in 0..DOCS / 2 {
        let c = &customers[i % customers.len()];
        let number = OrderNumber::new(
            OrderPrefix::new("S07").unwrap(),
            today(),
            (i % 99_999) as u32 + 1,
        )
        .unwrap();
        let mut o = OrderDoc::create(
            me,
            c,
            NewOrder {
                number,
                channel: Channel::Visit,
                reorder_kind: None,
                delivery_date: None,
                evidence: String::new(),
            },
        )
        .unwrap();
        for j in 0..3 {
            o.add_line(
                me,
                NewLine {
                    product: format!("TS-{j}"),
                    name: "Shirt".into(),
                    variant: "red/M".into(),
                    unit: "pcs".into(),
                    quantity: Decimal::from(10 + j),
                    unit_price: Decimal::new(1250, 2),
                    discount_percent: Decimal::ZERO,
                },
            )
            .unwrap();
        }
        if i % 3 == 0 {
            o.submit(me).unwrap();
        }
        store.save(o.document()).unwrap();
        orders.push(o.read().unwrap().id());
    }
    for i in 0..(DOCS - DOCS / 5 - DOCS / 2) {
        let c = &customers[i % customers.len()];
        let start = today_at(1) - Days::new(15) + Days::new((i % 30) as u64);
        let mut v = VisitDoc::plan(
            me,
            c,
            VisitPlan {
                planned_start: start,
                purpose: "Call".into(),
                priority: Priority::Normal,
                materials: String::new(),
            },
        )
        .unwrap();
        store.save(v.document()).unwrap();
    }
    orders
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    if let Ok(path) = std::env::var(CHILD_ENV) {
        open_and_list_child(Path::new(&path));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let phone_ctx = ctx("li", "phone-li");
    let tablet_ctx = ctx("li", "tablet-li");
    let mut relay = Relay::new(
        SqliteRelayStore::open(&dir.path().join("relay.db")).unwrap(),
        VisibilityOnly,
    )
    .unwrap();

    eprintln!("seeding {DOCS} documents ...");
    let t = Instant::now();
    let mut seed_store = DeviceStore::open_in_memory().unwrap();
    let tablet = enrolled(&mut seed_store, &tablet_ctx);
    let orders = seed(&mut seed_store, &tablet_ctx);
    sync(&mut seed_store, &tablet, &mut relay);
    let phone_path = dir.path().join("phone.db");
    let mut phone = DeviceStore::open(&phone_path).unwrap();
    let phone_sender = enrolled(&mut phone, &phone_ctx);
    let first = sync(&mut phone, &phone_sender, &mut relay);
    eprintln!(
        "seeded in {:.1} s; the phone's first sync took {} round trips, {} KB down",
        t.elapsed().as_secs_f64(),
        first.round_trips,
        first.bytes_down / 1024
    );

    println!("| benchmark | round trips | bytes up | bytes down | time | notes |");
    println!("|---|---:|---:|---:|---:|---|");

    // 1. Idle resync.
    let runs = 20;
    let t = Instant::now();
    let mut idle = SyncSummary::default();
    for _ in 0..runs {
        idle = sync(&mut phone, &phone_sender, &mut relay);
    }
    let idle_time = t.elapsed() / runs;
    println!(
        "| idle resync, {DOCS} documents held | {} | {} | {} | {} | mean of {runs} |",
        idle.round_trips,
        idle.bytes_up,
        idle.bytes_down,
        ms(idle_time)
    );

    // 2. A week offline: 500 documents changed on the phone, 500 others on the tablet.
    let week = 500;
    let mut change_bytes = 0usize;
    for (who, range) in [(&phone_ctx, 0..week), (&tablet_ctx, week..2 * week)] {
        let store = if who.actor.device() == "phone-li" {
            &mut phone
        } else {
            &mut seed_store
        };
        for &id in &orders[range] {
            let mut o = OrderDoc::from_document(store.load(id).unwrap()).unwrap();
            let before = o.document().heads();
            let lines: Vec<String> = o.read().unwrap().lines.keys().cloned().collect();
            for (k, l) in lines.iter().enumerate() {
                o.set_quantity(who, l, Decimal::from(20 + k)).unwrap();
            }
            o.set_details(
                who,
                OrderDetails {
                    notes: "Deliver before 10:00, back entrance".into(),
                    ..Default::default()
                },
            )
            .unwrap();
            change_bytes += o.document().save_after(&before).len();
            store.save(o.document()).unwrap();
        }
    }
    sync(&mut seed_store, &tablet, &mut relay);
    let t = Instant::now();
    let w = sync(&mut phone, &phone_sender, &mut relay);
    let week_time = t.elapsed();
    let wire_bytes = w.bytes_up + w.bytes_down;
    println!(
        "| a week offline: {week} changed here, {week} there | {} | {} | {} | {} | wire {:.3}× the {} bytes of Automerge changes |",
        w.round_trips,
        w.bytes_up,
        w.bytes_down,
        ms(week_time),
        wire_bytes as f64 / change_bytes as f64,
        change_bytes
    );
    assert_eq!(w.sent, week);
    assert_eq!(w.received, week);
    drop(phone);

    // 3. Open the store and list, in a fresh process.
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .env(CHILD_ENV, &phone_path)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    print!("{report}");
    if !out.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    }
}

/// Opens the store, lists today's visits and open orders, reports time and peak memory.
fn open_and_list_child(path: &Path) {
    let t = Instant::now();
    let store = DeviceStore::open(path).unwrap();
    let visits = store
        .visits_between(today_at(0), today_at(0) + Days::new(1))
        .unwrap();
    let orders = store.open_orders().unwrap();
    let elapsed = t.elapsed();
    let peak_kb = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<u64>().ok())
            })
        })
        .unwrap_or(0);
    println!(
        "| open a {DOCS}-document store, list today's visits ({}) and open orders ({}) | – | – | – | {} | peak memory {:.1} MB (whole process) |",
        visits.len(),
        orders.len(),
        ms(elapsed),
        peak_kb as f64 / 1024.0
    );
}
