//! Editing orders through the phone library (`fieldsync-mobile`, the same
//! calls the Kotlin, Swift and Python bindings make), against a real relay
//! for enrollment and sync:
//! - `add_order_line` at lines 1, 20, 100 and 300 of one order (median of
//!   the ten calls around each);
//! - 1,000 orders of 10 lines, one call per line;
//! - an offline quantity edit plus submit, per order;
//! - bytes per order of 10 lines in the store and on the wire.
//!
//! Run with:
//!   cargo bench -p fieldsync-tests --bench phone_edits

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::{Duration, Instant};

use fieldsync_core::Role;
use fieldsync_mobile::{FieldSync, LineInput, OrderChannel, OrderDetailsRecord};
use fieldsync_tests::TestRelay;

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
    let report = phone.sync(None, None).unwrap();
    println!();
    println!("| bytes per order of 10 lines | bytes |");
    println!("|---|---:|");
    println!(
        "| in the store (database growth / 1,000; WAL included) | {} |",
        size_after.saturating_sub(size_before) / 1_000
    );
    println!(
        "| on the wire (first sync up, all {} orders / their count) | {} |",
        orders.len() + 1_002,
        report.bytes_up / (orders.len() as u64 + 1_002)
    );
}
