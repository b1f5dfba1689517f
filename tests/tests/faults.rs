//! Faults: the relay killed with SIGKILL while many devices sync.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::Utc;
use fieldsync_core::*;
use fieldsync_tests::*;
use rust_decimal::Decimal;

/// A phone's offline work: a prospect and `n` orders of one line each.
fn work(p: &mut Phone, n: usize) -> Vec<DocId> {
    let ctx = p.ctx();
    let mut c =
        CustomerDoc::create_prospect(&ctx, &format!("Shop of {}", p.actor.device()), "").unwrap();
    p.store.save(c.document()).unwrap();
    let customer = c.read().unwrap();
    (0..n)
        .map(|i| {
            let number = p.store.next_order_number(Utc::now().date_naive()).unwrap();
            let mut o = OrderDoc::create(
                &ctx,
                &customer,
                NewOrder {
                    number,
                    channel: Channel::Phone,
                    reorder_kind: None,
                    delivery_date: None,
                    evidence: String::new(),
                },
            )
            .unwrap();
            o.add_line(
                &ctx,
                NewLine {
                    product: format!("P{i}"),
                    name: "x".into(),
                    variant: String::new(),
                    unit: "pcs".into(),
                    quantity: Decimal::from(1 + i as i64),
                    unit_price: Decimal::new(999, 2),
                    discount_percent: Decimal::ZERO,
                },
            )
            .unwrap();
            p.store.save(o.document()).unwrap();
            o.read().unwrap().id()
        })
        .collect()
}

#[test]
fn the_relay_killed_mid_sync_loses_nothing_acknowledged_and_doubles_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut relay = RelayProcess::new(dir.path());
    let admin = relay.user("root", "admin", None);
    let users: Vec<String> = (0..8).map(|i| format!("s{i}")).collect();
    for u in &users {
        relay.user(u, "salesperson", Some("east"));
    }
    let codes: Vec<String> = users.iter().map(|u| relay.code(u)).collect();
    relay.start();
    let mut phones: Vec<Phone> = users
        .iter()
        .zip(&codes)
        .map(|(u, code)| Phone::enroll(&relay.url(), dir.path(), u, code))
        .collect();
    let mut expected: Vec<(usize, DocId)> = Vec::new();
    for (i, p) in phones.iter_mut().enumerate() {
        // Small and large backlogs, so some syncs finish before the kill and some do not.
        expected.extend(work(p, 5 + 30 * i).into_iter().map(|id| (i, id)));
    }
    // One phone has synced before: its work is acknowledged for sure. It does
    // more work, then everyone syncs at once and the relay dies in the middle.
    phones[0].sync().unwrap();
    expected.extend(work(&mut phones[0], 20).into_iter().map(|id| (0, id)));
    let handles: Vec<_> = phones
        .into_iter()
        .map(|mut p| {
            std::thread::spawn(move || {
                let r = p.sync();
                (p, r)
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(40));
    relay.kill();
    let mut phones: Vec<Phone> = Vec::new();
    let mut interrupted = 0;
    for h in handles {
        let (p, r) = h.join().unwrap();
        interrupted += usize::from(r.is_err());
        phones.push(p);
    }
    eprintln!("{interrupted} of 8 syncs were cut off by the kill");
    // What a phone saw acknowledged is what it no longer has pending.
    let acked_orders: Vec<DocId> = expected
        .iter()
        .filter(|(i, id)| {
            !phones[*i]
                .store
                .pending_upload()
                .unwrap()
                .iter()
                .any(|e| e.id == *id)
        })
        .map(|(_, id)| *id)
        .collect();
    eprintln!(
        "{} of {} orders were acknowledged before the kill",
        acked_orders.len(),
        expected.len()
    );
    assert!(
        !acked_orders.is_empty(),
        "the kill came too early to test anything"
    );
    relay.start();
    let api = relay.api(&admin);
    // Every change the relay acknowledged before dying is there.
    for id in &acked_orders {
        assert_eq!(
            api.get(&format!("/v1/orders/{id}")).status,
            200,
            "acknowledged order {id} lost"
        );
    }
    // Every device converges.
    for p in phones.iter_mut() {
        p.sync().unwrap();
        assert_eq!(p.store.pending_count().unwrap(), 0);
    }
    for (i, id) in &expected {
        let a = api.get(&format!("/v1/orders/{id}"));
        assert_eq!(a.status, 200, "order {id} of phone {i} missing");
        let lines = a.json()["lines"].as_array().unwrap().len();
        assert_eq!(lines, 1, "order {id} has {lines} lines: doubled");
    }
    let (relay_seq, orders) = rusqlite_count(&relay.db);
    assert_eq!(orders as usize, expected.len(), "orders on the relay");
    assert!(relay_seq as usize >= expected.len());
}

fn rusqlite_count(db: &std::path::Path) -> (i64, i64) {
    let state = fieldsync_server::AppState::open(db, fieldsync_server::Limits::default()).unwrap();
    let mut relay = state.relay();
    let conn = relay.store().connection();
    let seq: i64 = conn
        .query_row("SELECT coalesce(max(seq), 0) FROM relay_log", [], |r| {
            r.get(0)
        })
        .unwrap();
    let orders: i64 = conn
        .query_row("SELECT count(*) FROM orders", [], |r| r.get(0))
        .unwrap();
    (seq, orders)
}
