//! Load: 1,000 simulated phones, each syncing a day's work (about 20 changed
//! documents) against one relay process on 127.0.0.1 at once; then the bare
//! rate of applying the same changes with Automerge and writing them to SQLite
//! (a document table and a log, as the relay keeps them), without HTTP or
//! checks, in the same run.
//!
//! Run with:
//!   cargo build --release -p fieldsync-server && cargo bench -p fieldsync-tests --bench load
//! (`FIELDSYNC_LOAD_DEVICES=200` for a quicker run.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use chrono::Utc;
use fieldsync_core::store::{DeviceIdentity, DeviceStore};
use fieldsync_core::sync::{SyncSession, wire};
use fieldsync_core::*;
use fieldsync_server::{AppState, Limits, accounts};
use fieldsync_tests::{RelayProcess, try_post_bytes};
use rust_decimal::Decimal;

/// A phone with a day's work: a new customer, 6 visits, 12 orders, a report (20 documents).
fn day_of_work(store: &mut DeviceStore, ctx: &ChangeCtx) {
    let mut c = CustomerDoc::create_prospect(ctx, "New Shop", "Main Street").unwrap();
    store.save(c.document()).unwrap();
    let customer = c.read().unwrap();
    for _ in 0..6 {
        let mut v = VisitDoc::plan(
            ctx,
            &customer,
            VisitPlan {
                planned_start: ctx.at,
                purpose: "call".into(),
                priority: Priority::Normal,
                materials: String::new(),
            },
        )
        .unwrap();
        v.check_in(ctx, None).unwrap();
        v.add_note(ctx, "talked about the new season").unwrap();
        v.check_out(ctx, None).unwrap();
        store.save(v.document()).unwrap();
    }
    for i in 0..12 {
        let number = store.next_order_number(ctx.at.date_naive()).unwrap();
        let mut o = OrderDoc::create(
            ctx,
            &customer,
            NewOrder {
                number,
                channel: Channel::Visit,
                reorder_kind: None,
                delivery_date: None,
                evidence: "form".into(),
            },
        )
        .unwrap();
        for j in 0..3 {
            o.add_line(
                ctx,
                NewLine {
                    product: format!("P{j}"),
                    name: "Shirt".into(),
                    variant: "M".into(),
                    unit: "pcs".into(),
                    quantity: Decimal::from(1 + i + j),
                    unit_price: Decimal::new(1250, 2),
                    discount_percent: Decimal::ZERO,
                },
            )
            .unwrap();
        }
        o.submit(ctx).unwrap();
        store.save(o.document()).unwrap();
    }
    let mut r = DailyReportDoc::create(ctx, ctx.at.date_naive()).unwrap();
    r.write(ctx, "six visits, twelve orders", "", "").unwrap();
    r.submit(ctx).unwrap();
    store.save(r.document()).unwrap();
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn peak_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU time a process has used so far (user + system), from /proc.
fn cpu_seconds(pid: &str) -> f64 {
    // Fields after the command name (which may contain spaces): utime is the
    // 12th and stime the 13th, in clock ticks (USER_HZ, 100 on Linux).
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let rest = &s[s.rfind(')')? + 2..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some((f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / 100.0)
        })
        .unwrap_or(0.0)
}

/// The bare rate, in documents per second: the same changes applied with
/// Automerge (each document's state built and saved, as the relay keeps it)
/// and written to SQLite (WAL, full fsync, one transaction per phone), with no
/// HTTP, no checks and no head-office tables.
fn bare_rate(requests: &[Vec<u8>], db: &std::path::Path) -> f64 {
    let mut bare = rusqlite::Connection::open(db).unwrap();
    bare.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
         CREATE TABLE documents (id BLOB PRIMARY KEY, snapshot BLOB NOT NULL);
         CREATE TABLE log (seq INTEGER PRIMARY KEY, doc BLOB NOT NULL,
                           changes BLOB NOT NULL, heads BLOB NOT NULL);",
    )
    .unwrap();
    let mut docs = 0;
    let t = Instant::now();
    for req in requests {
        let req = wire::decode_request(req).unwrap();
        let tx = bare.transaction().unwrap();
        for p in &req.pushes {
            let mut doc = automerge::AutoCommit::new();
            doc.load_incremental(&p.changes).unwrap();
            let heads: Vec<u8> = doc.get_heads().iter().flat_map(|h| h.0).collect();
            tx.execute(
                "INSERT INTO documents (id, snapshot) VALUES (?1, ?2)",
                rusqlite::params![&p.doc[..], doc.save()],
            )
            .unwrap();
            tx.execute(
                "INSERT INTO log (doc, changes, heads) VALUES (?1, ?2, ?3)",
                rusqlite::params![&p.doc[..], p.changes, heads],
            )
            .unwrap();
            docs += 1;
        }
        tx.commit().unwrap();
    }
    docs as f64 / t.elapsed().as_secs_f64()
}

fn main() {
    let devices: usize = std::env::var("FIELDSYNC_LOAD_DEVICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let dir = tempfile::tempdir().unwrap();
    let mut relay = RelayProcess::new(dir.path());

    // Users and devices, created directly in the database before the relay starts.
    eprintln!("preparing {devices} phones ...");
    let mut phones: Vec<(DeviceStore, ChangeCtx, String)> = Vec::with_capacity(devices);
    {
        let state = AppState::open(&relay.db, Limits::default()).unwrap();
        let mut r = state.relay();
        let conn = r.store().connection();
        for i in 0..devices {
            let user = format!("s{i:04}");
            accounts::create_user(
                conn,
                &user,
                &user,
                Role::Salesperson,
                Some(if i % 2 == 0 { "east" } else { "west" }),
            )
            .unwrap();
            let (code, _) = accounts::issue_code(conn, &user, chrono::Duration::hours(1)).unwrap();
            let mut store = DeviceStore::open_in_memory().unwrap();
            let key = store.device_key().unwrap();
            let e = accounts::enroll(conn, &code, &key, Utc::now()).unwrap();
            let identity = DeviceIdentity {
                device_id: e.device_id.clone(),
                user: e.user.clone(),
                role: Role::Salesperson,
                region: e.region.clone(),
                order_prefix: OrderPrefix::new(&e.order_prefix).unwrap(),
                time_zone: fieldsync_core::BusinessZone::default(),
            };
            store.set_identity(&identity).unwrap();
            let ctx = ChangeCtx::now(identity.actor().unwrap());
            day_of_work(&mut store, &ctx);
            phones.push((store, ctx, e.device_token));
        }
    }
    // The first request of each phone, kept to replay for the bare rate.
    let requests: Vec<Vec<u8>> = phones
        .iter_mut()
        .map(|(store, _, _)| SyncSession::new().next_request(store).unwrap().unwrap())
        .collect();
    let docs: usize = requests
        .iter()
        .map(|r| wire::decode_request(r).unwrap().pushes.len())
        .sum();
    let change_bytes: usize = requests.iter().map(|r| r.len()).sum();

    let bare_before = bare_rate(&requests, &dir.path().join("bare-before.db"));
    relay.start();
    let pid = relay.pid().unwrap();
    let url = format!("{}/v1/sync", relay.url());
    eprintln!(
        "{devices} phones sync {docs} documents ({} KB) at once ...",
        change_bytes / 1024
    );
    let barrier = Arc::new(Barrier::new(devices + 1));
    let handles: Vec<_> = phones
        .into_iter()
        .map(|(mut store, _, token)| {
            let (barrier, url) = (barrier.clone(), url.clone());
            std::thread::Builder::new()
                .stack_size(256 << 10)
                .spawn(move || {
                    // The phone has its request ready when it gets a signal.
                    let mut session = SyncSession::new();
                    let mut next = session.next_request(&mut store).unwrap();
                    barrier.wait();
                    let mut latencies = Vec::new();
                    let mut acknowledged = Instant::now();
                    while let Some(req) = next {
                        let t = Instant::now();
                        let a = try_post_bytes(&url, Some(&token), &req);
                        acknowledged = Instant::now();
                        latencies.push(acknowledged - t);
                        match a {
                            Ok(a) if a.status == 200 => {
                                session.receive(&mut store, &a.body).unwrap()
                            }
                            Ok(a) => {
                                return (
                                    latencies,
                                    acknowledged,
                                    Some(format!("HTTP {}", a.status)),
                                );
                            }
                            Err(e) => return (latencies, acknowledged, Some(e)),
                        }
                        next = session.next_request(&mut store).unwrap();
                    }
                    let ok = store.pending_count().unwrap() == 0;
                    let error = (!ok).then(|| "documents still pending".to_string());
                    (latencies, acknowledged, error)
                })
                .unwrap()
        })
        .collect();
    let (relay_cpu, own_cpu) = (cpu_seconds(&pid.to_string()), cpu_seconds("self"));
    barrier.wait();
    let start = Instant::now();
    let mut latencies = Vec::new();
    let mut errors = Vec::new();
    let mut last_ack = start;
    for h in handles {
        let (l, acknowledged, e) = h.join().unwrap();
        latencies.extend(l);
        last_ack = last_ack.max(acknowledged);
        errors.extend(e);
    }
    let total = start.elapsed();
    // Ingest is measured to the relay's last answer; the phones' own work
    // on the answers (on the same machine) comes after.
    let ingest = last_ack - start;
    let relay_cpu = cpu_seconds(&pid.to_string()) - relay_cpu;
    let phones_cpu = cpu_seconds("self") - own_cpu;
    let peak = peak_kb(pid);
    latencies.sort();
    relay.kill();

    let bare_after = bare_rate(&requests, &dir.path().join("bare-after.db"));
    let relay_rate = docs as f64 / ingest.as_secs_f64();
    // The machine is noisy (fsync times vary): the faster bare pass counts,
    // which makes the ratio a lower bound.
    let bare = bare_before.max(bare_after);

    println!("| load: {devices} phones × ~20 documents, one relay on 127.0.0.1 | value |");
    println!("|---|---:|");
    println!("| documents synced | {docs} |");
    println!(
        "| time to the last answer | {:.2} s |",
        ingest.as_secs_f64()
    );
    println!(
        "| total time (phones done with the answers) | {:.2} s |",
        total.as_secs_f64()
    );
    println!("| sync requests | {} |", latencies.len());
    println!(
        "| latency p50 | {:.1} ms |",
        percentile(&latencies, 0.5).as_secs_f64() * 1e3
    );
    println!(
        "| latency p99 | {:.1} ms |",
        percentile(&latencies, 0.99).as_secs_f64() * 1e3
    );
    println!("| relay peak memory | {:.1} MB |", peak as f64 / 1024.0);
    println!("| relay CPU time | {relay_cpu:.1} s |");
    println!("| phones' CPU time (same machine) | {phones_cpu:.1} s |");
    println!("| errors | {} |", errors.len());
    println!("| relay ingest | {relay_rate:.0} documents/s |");
    println!(
        "| bare Automerge + SQLite, no HTTP (before / after the load) | {bare_before:.0} / {bare_after:.0} documents/s |"
    );
    println!("| ratio relay / faster bare | {:.2} |", relay_rate / bare);
    if !errors.is_empty() {
        eprintln!("first errors: {:?}", &errors[..errors.len().min(5)]);
        std::process::exit(1);
    }
}
