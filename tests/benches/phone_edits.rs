//! Editing orders through the phone library (`fieldsync-mobile`, the same
//! calls the Kotlin, Swift and Python bindings make), against a real relay
//! for enrollment and sync:
//! - `add_order_line` at lines 1, 20, 100 and 300 of one order (median of
//!   the ten calls around each);
//! - 1,000 orders of 10 lines, one call per line;
//! - 1,000 orders of 10 lines in one call each, and 10 line edits of a
//!   300-line order in one call;
//! - an offline quantity edit plus submit, per order;
//! - bytes per order of 10 lines in the store and on the wire;
//! - the memory an open document takes, against the store's estimate;
//! - opening a store of 20,000 documents and listing today's work, in a
//!   fresh process (time and peak memory).
//!
//! Run with:
//!   cargo bench -p fieldsync-tests --bench phone_edits
//!
//! `PHONE_EDITS_PROFILE=big` (8 orders of 300 lines) or `=small` (300 orders
//! of 10 lines) runs only the one-call-per-line part, and `=submit` 300
//! quantity edits and submits, for `perf record`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::{Duration, Instant};

use fieldsync_core::Role;
use fieldsync_core::store::DeviceStore;
use fieldsync_mobile::{FieldSync, LineInput, OrderChannel, OrderDetailsRecord, OrderLineEdit};
use fieldsync_tests::TestRelay;

/// A line of this process's `/proc/self/status` in kB (`VmRSS`, `VmHWM`).
fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with(field))
        .map(|l| l.split_whitespace().nth(1).unwrap().parse().unwrap())
        .unwrap()
}

/// The child process: open the store at `path` and list today's work.
const OPEN_ONLY: &str = "PHONE_EDITS_OPEN_ONLY";

fn open_and_list(path: &str) {
    let t = Instant::now();
    let phone = FieldSync::open(path.to_string()).unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    let visits = phone.todays_visits(now, 480).unwrap();
    let orders = phone.open_orders().unwrap();
    let took = t.elapsed();
    let peak = status_kb("VmHWM:");
    println!(
        "| open a store of 20,000 documents and list today's work ({} visits, {} open orders) | {:.1} ms | {:.1} MB peak (whole process) |",
        visits.len(),
        orders.len(),
        ms(took),
        peak as f64 / 1024.0
    );
}

fn line(i: usize) -> LineInput {
    LineInput {
        product: format!("P{:03}", i % 50),
        name: format!("Style {} colour {} size {}", i / 30, i % 6, i % 5),
        variant: format!("C{}-S{}", i % 6, i % 5),
        unit: "pcs".into(),
        quantity: format!("{}", 1 + i % 12),
        unit_price: format!("{}.50", 20 + i % 80),
        discount_percent: String::new(),
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    if let Ok(path) = std::env::var(OPEN_ONLY) {
        open_and_list(&path);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start(dir.path());
    relay.user("li", Role::Salesperson, Some("east"));
    let path = dir.path().join("phone.db");
    let phone = FieldSync::open(path.to_str().unwrap().to_string()).unwrap();
    phone.enroll(relay.url(), relay.code("li")).unwrap();
    let customer = phone
        .create_prospect("Hengda Textiles".into(), "1 Silk Road".into())
        .unwrap()
        .id;
    let new_order = || {
        phone
            .create_order(customer.clone(), OrderChannel::Visit, None)
            .unwrap()
            .id
    };

    if std::env::var("PHONE_EDITS_PROFILE").as_deref() == Ok("submit") {
        for _ in 0..300 {
            let o = phone
                .create_order_with_lines(
                    customer.clone(),
                    OrderChannel::Visit,
                    None,
                    (0..10).map(line).collect(),
                )
                .unwrap();
            let mut details = o.details.clone();
            details.evidence = "signed order form".into();
            phone.set_order_details(o.id.clone(), details).unwrap();
            phone
                .set_line_quantity(o.id.clone(), o.lines[0].id.clone(), "7".into())
                .unwrap();
            phone.submit_order(o.id.clone()).unwrap();
        }
        return;
    }
    if let Ok(shape) = std::env::var("PHONE_EDITS_PROFILE") {
        let (orders, lines) = if shape == "small" {
            (300, 10)
        } else {
            (8, 300)
        };
        for _ in 0..orders {
            let o = new_order();
            for i in 0..lines {
                phone.add_order_line(o.clone(), line(i)).unwrap();
            }
        }
        return;
    }
    // One order of 300 lines, one call per line.
    let big = new_order();
    let mut per_line = Vec::with_capacity(300);
    for i in 0..300 {
        let t = Instant::now();
        phone.add_order_line(big.clone(), line(i)).unwrap();
        per_line.push(t.elapsed());
    }
    println!("| add_order_line at line | median (10 calls around it) |");
    println!("|---|---:|");
    for at in [1usize, 20, 100, 300] {
        let from = at.saturating_sub(5).max(1) - 1;
        let to = (from + 10).min(300);
        println!(
            "| {at} | {:.2} ms |",
            ms(median(per_line[from..to].to_vec()))
        );
    }
    let mut reads = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        phone.order(big.clone()).unwrap();
        reads.push(t.elapsed());
    }
    println!(
        "| (reading that order of 300 lines: {:.3} ms) | |",
        ms(median(reads))
    );

    // What an open document takes in memory (50 copies loaded, the
    // process's resident memory before and after), against the estimate the
    // store's budget counts.
    let store = DeviceStore::open(&path).unwrap();
    let big_id = big.parse().unwrap();
    let before = status_kb("VmRSS:");
    let copies: Vec<_> = (0..50)
        .map(|_| {
            let d = store.load(big_id).unwrap();
            d.view_ref::<fieldsync_core::Order>().unwrap();
            d
        })
        .collect();
    let taken = (status_kb("VmRSS:") - before) * 1024 / 50;
    println!(
        "| (an open order of 300 lines: {} bytes resident, {} estimated) | |",
        taken,
        copies[0].memory_estimate()
    );
    drop((copies, store));

    // Everything so far goes up, so the wire figure below is the 1,000
    // orders' alone.
    phone.sync(None, None).unwrap();

    // 1,000 orders of 10 lines, one call per line.
    let size_before = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let t = Instant::now();
    let mut orders = Vec::with_capacity(1_000);
    for _ in 0..1_000 {
        let id = new_order();
        for i in 0..10 {
            phone.add_order_line(id.clone(), line(i)).unwrap();
        }
        orders.push(id);
    }
    let created = t.elapsed();
    let wal = |p: &std::path::Path| {
        let mut w = p.as_os_str().to_owned();
        w.push("-wal");
        std::fs::metadata(w).map(|m| m.len()).unwrap_or(0)
    };
    let size_after = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) + wal(&path);
    println!();
    println!("| work | total | per order |");
    println!("|---|---:|---:|");
    println!(
        "| create 1,000 orders of 10 lines, one call per line | {:.2} s | {:.1} ms |",
        created.as_secs_f64(),
        ms(created) / 1_000.0
    );

    let up = phone.sync(None, None).unwrap();

    // 1,000 orders of 10 lines, each in one call (one change, one write).
    let t = Instant::now();
    for _ in 0..1_000 {
        phone
            .create_order_with_lines(
                customer.clone(),
                OrderChannel::Visit,
                None,
                (0..10).map(line).collect(),
            )
            .unwrap();
    }
    let batched = t.elapsed();
    println!(
        "| create 1,000 orders of 10 lines, one call per order (create_order_with_lines) | {:.2} s | {:.1} ms |",
        batched.as_secs_f64(),
        ms(batched) / 1_000.0
    );
    // An order fair's order: 300 lines in one call.
    let t = Instant::now();
    phone
        .create_order_with_lines(
            customer.clone(),
            OrderChannel::OrderFair,
            None,
            (0..300).map(line).collect(),
        )
        .unwrap();
    println!(
        "| one order of 300 lines in one call | {:.1} ms | |",
        ms(t.elapsed())
    );
    // Ten line edits of the big order (every size of a style) in one call.
    let lines: Vec<String> = phone
        .order(big.clone())
        .unwrap()
        .lines
        .iter()
        .map(|l| l.id.clone())
        .collect();
    let mut batches = Vec::new();
    for round in 0..20 {
        let edits = lines[round * 10..round * 10 + 10]
            .iter()
            .map(|l| OrderLineEdit::SetQuantity {
                line_id: l.clone(),
                quantity: format!("{}", 2 + round),
            })
            .collect();
        let t = Instant::now();
        phone.edit_order_lines(big.clone(), edits).unwrap();
        batches.push(t.elapsed());
    }
    println!(
        "| 10 quantity edits of the 300-line order in one call (median of 20) | {:.2} ms | |",
        ms(median(batches))
    );

    // An offline quantity edit plus submit.
    let mut edits = Vec::with_capacity(200);
    for id in orders.iter().take(200) {
        phone
            .set_order_details(
                id.clone(),
                OrderDetailsRecord {
                    delivery_address: String::new(),
                    consignee: String::new(),
                    consignee_phone: String::new(),
                    transport: String::new(),
                    packing: String::new(),
                    transport_requirements: String::new(),
                    after_sales: String::new(),
                    evidence: "signed order form".into(),
                    deposit: String::new(),
                    customer_reference: String::new(),
                    notes: String::new(),
                },
            )
            .unwrap();
        let first = phone.order(id.clone()).unwrap().lines[0].id.clone();
        let t = Instant::now();
        phone
            .set_line_quantity(id.clone(), first, "7".into())
            .unwrap();
        phone.submit_order(id.clone()).unwrap();
        edits.push(t.elapsed());
    }
    println!(
        "| quantity edit + submit (median of 200) | | {:.2} ms |",
        ms(median(edits))
    );

    // Bytes per order in the store and on the wire.
    println!();
    println!("| bytes per order of 10 lines | bytes |");
    println!("|---|---:|");
    println!(
        "| in the store (database growth / 1,000; WAL included) | {} |",
        size_after.saturating_sub(size_before) / 1_000
    );
    println!(
        "| on the wire (the first sync up of the 1,000 / 1,000) | {} |",
        up.bytes_up / 1_000
    );

    // A store of 20,000 documents: visits planned over two years fill it up.
    let have = 2_003; // the orders above and the customer
    let start = chrono::Utc::now() - chrono::Duration::days(365);
    for i in 0..(20_000 - have) {
        let at = start + chrono::Duration::minutes(i as i64 * 40);
        phone
            .plan_visit(
                customer.clone(),
                at.timestamp_millis(),
                "call".into(),
                false,
                String::new(),
            )
            .unwrap();
    }
    drop(phone);
    println!();
    println!("| store of 20,000 documents | time | memory |");
    println!("|---|---:|---:|");
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .env(OPEN_ONLY, &path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    print!("{}", String::from_utf8_lossy(&out.stdout));
}
