//! The relay's database restored from an older backup: every change any
//! phone still holds comes back (its own, and others' inside its documents:
//! a manager's approvals, head office's steps and credit terms), nothing is
//! doubled, whichever phone syncs first.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use chrono::Utc;
use fieldsync_core::store::SqliteRelayStore;
use fieldsync_core::*;
use fieldsync_tests::*;
use rust_decimal::Decimal;

/// A company on a relay process: salespeople li and wang (east), manager
/// zhao with a phone and an API token, the order desk and finance.
struct Company {
    dir: tempfile::TempDir,
    relay: RelayProcess,
    li: Phone,
    wang: Phone,
    zhao: Phone,
    manager: String,
    desk: String,
    finance: String,
}

fn company() -> Company {
    let dir = tempfile::tempdir().unwrap();
    let mut relay = RelayProcess::new(dir.path());
    relay.user("li", "salesperson", Some("east"));
    relay.user("wang", "salesperson", Some("east"));
    let manager = relay.user("zhao", "manager", Some("east"));
    let desk = relay.user("sun", "order_desk", None);
    let finance = relay.user("zheng", "finance", None);
    let codes: Vec<String> = ["li", "wang", "zhao"]
        .iter()
        .map(|u| relay.code(u))
        .collect();
    relay.start();
    let url = relay.url();
    let phone = |name: &str, code: &str| Phone::enroll(&url, dir.path(), name, code);
    Company {
        li: phone("li", &codes[0]),
        wang: phone("wang", &codes[1]),
        zhao: phone("zhao", &codes[2]),
        dir,
        relay,
        manager,
        desk,
        finance,
    }
}

/// A prospect of the phone's user, saved on the phone.
fn prospect(p: &mut Phone) -> Customer {
    let name = format!("Shop of {}", p.actor.user());
    let mut c = CustomerDoc::create_prospect(&p.ctx(), &name, "1 Road").unwrap();
    p.store.save(c.document()).unwrap();
    c.read().unwrap()
}

/// `n` orders of one line for `c`, submitted, saved on the phone.
fn orders(p: &mut Phone, c: &Customer, n: usize) -> Vec<DocId> {
    let ctx = p.ctx();
    (0..n)
        .map(|i| {
            let number = p.store.next_order_number(Utc::now().date_naive()).unwrap();
            let mut o = OrderDoc::create(
                &ctx,
                c,
                NewOrder {
                    number,
                    channel: Channel::Visit,
                    reorder_kind: None,
                    delivery_date: None,
                    evidence: "signed order form".into(),
                },
            )
            .unwrap();
            o.add_line(
                &ctx,
                NewLine {
                    product: format!("TS-{i}"),
                    name: "Cotton shirt".into(),
                    variant: "red/M".into(),
                    unit: "pcs".into(),
                    quantity: Decimal::from(1 + i as i64),
                    unit_price: Decimal::new(1250, 2),
                    discount_percent: Decimal::ZERO,
                },
            )
            .unwrap();
            o.submit(&ctx).unwrap();
            p.store.save(o.document()).unwrap();
            o.read().unwrap().id()
        })
        .collect()
}

fn synced(p: &mut Phone) {
    let s = p.sync().unwrap();
    assert!(s.refused.is_empty(), "{}: {:?}", p.actor.user(), s.refused);
}

/// The manager approves `order` on their phone (synced first, then after).
fn approve_on_phone(zhao: &mut Phone, order: DocId) {
    synced(zhao);
    let mut o = OrderDoc::from_document(zhao.store.load(order).unwrap()).unwrap();
    let customer: Customer = zhao
        .store
        .load(o.read().unwrap().customer)
        .unwrap()
        .view()
        .unwrap();
    o.approve(&zhao.ctx(), &customer, None).unwrap();
    zhao.store.save(o.document()).unwrap();
    synced(zhao);
}

fn post(c: &Company, token: &str, path: &str, body: serde_json::Value) {
    let a = c.relay.api(token).post(path, body);
    assert_eq!(a.status, 200, "{path}: {}", a.error());
}

/// What the relay holds, read from its database while it is stopped: every
/// change of every document, and the head-office rows that must not double.
#[derive(Debug, PartialEq, Eq)]
struct Holdings {
    changes: BTreeMap<DocId, BTreeSet<automerge::ChangeHash>>,
    rows: Vec<(&'static str, i64)>,
}

impl Holdings {
    fn of(db: &Path) -> Holdings {
        let mut store = SqliteRelayStore::open(db).unwrap();
        let mut changes = BTreeMap::new();
        for id in store.ids().unwrap() {
            let mut doc = sync::RelayStore::load(&mut store, id).unwrap().unwrap();
            let hashes = doc.changes_after(&[]).into_iter().map(|(h, _)| h).collect();
            changes.insert(id, hashes);
        }
        let conn = rusqlite::Connection::open(db).unwrap();
        let rows = ["customers", "orders", "order_lines", "order_events"]
            .into_iter()
            .map(|t| {
                let n = conn
                    .query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))
                    .unwrap();
                (t, n)
            })
            .collect();
        Holdings { changes, rows }
    }

    fn change_count(&self) -> usize {
        self.changes.values().map(BTreeSet::len).sum()
    }

    /// How many of `self`'s changes `other` has.
    fn found_in(&self, other: &Holdings) -> usize {
        self.changes
            .iter()
            .map(|(id, hashes)| {
                other
                    .changes
                    .get(id)
                    .map_or(0, |theirs| hashes.intersection(theirs).count())
            })
            .sum()
    }
}

/// Stops the relay, reads what it holds, puts `backup` in place of its
/// database and starts it again; returns what it held before.
fn restore(c: &mut Company, backup: &Path) -> Holdings {
    c.relay.kill();
    let before = Holdings::of(&c.relay.db);
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", c.relay.db.display()));
    }
    std::fs::copy(backup, &c.relay.db).unwrap();
    c.relay.start();
    before
}

/// Backs the running relay up with `admin backup`.
fn back_up(c: &Company, name: &str) -> std::path::PathBuf {
    let to = c.dir.path().join(name);
    let out = c.relay.admin(&["backup", to.to_str().unwrap()]);
    assert!(out.contains("Backed up"), "{out}");
    to
}

/// The work of the report: li's 11 orders (3 approved by the
/// manager after the backup, one of those on the manager's phone), credit
/// terms set by finance, a busy wang with 30 orders. Returns the backup.
fn day_of_work(c: &mut Company) -> std::path::PathBuf {
    let li_shop = prospect(&mut c.li);
    let early = orders(&mut c.li, &li_shop, 4);
    let wang_shop = prospect(&mut c.wang);
    orders(&mut c.wang, &wang_shop, 5);
    synced(&mut c.li);
    synced(&mut c.wang);
    post(
        c,
        &c.manager.clone(),
        &format!("/v1/orders/{}/approve", early[0]),
        serde_json::json!({}),
    );
    let backup = back_up(c, "backup.db");
    // After the backup: all of this is acknowledged, and lost by the restore.
    let late = orders(&mut c.li, &li_shop, 7);
    synced(&mut c.li);
    for order in &late[..2] {
        post(
            c,
            &c.manager.clone(),
            &format!("/v1/orders/{order}/approve"),
            serde_json::json!({}),
        );
    }
    approve_on_phone(&mut c.zhao, late[2]);
    post(
        c,
        &c.desk.clone(),
        &format!("/v1/orders/{}/confirm", early[0]),
        serde_json::json!({}),
    );
    post(
        c,
        &c.finance.clone(),
        &format!("/v1/customers/{}/credit", li_shop.id()),
        serde_json::json!({"payment_terms": "credit", "credit_days": 30, "amount": "50000"}),
    );
    synced(&mut c.li);
    orders(&mut c.wang, &wang_shop, 30);
    synced(&mut c.wang);
    backup
}

/// Syncs the phones in `order` until nothing moves, then checks that every
/// change the relay held before the restore is back and nothing doubled.
fn resync_and_check(c: &mut Company, before: &Holdings, order: &[&str], label: &str) {
    let in_backup = {
        c.relay.kill();
        let h = Holdings::of(&c.relay.db);
        c.relay.start();
        h
    };
    for _ in 0..2 {
        for who in order {
            let p = match *who {
                "li" => &mut c.li,
                "wang" => &mut c.wang,
                _ => &mut c.zhao,
            };
            synced(p);
        }
    }
    c.relay.kill();
    let after = Holdings::of(&c.relay.db);
    c.relay.start();
    eprintln!(
        "{label}: acknowledged before the restore: {} documents, {} changes; in the backup: {} documents, {} changes; after syncing {order:?}: {} documents, {} of {} changes",
        before.changes.len(),
        before.change_count(),
        in_backup.changes.len(),
        before.found_in(&in_backup),
        after.changes.len(),
        before.found_in(&after),
        before.change_count(),
    );
    assert!(
        in_backup.change_count() < before.change_count(),
        "the backup lacks the later work"
    );
    assert_eq!(
        before.found_in(&after),
        before.change_count(),
        "every acknowledged change is back"
    );
    assert_eq!(after, *before, "the same changes and rows, none doubled");
    for p in [&mut c.li, &mut c.wang, &mut c.zhao] {
        assert_eq!(p.store.pending_count().unwrap(), 0);
    }
}

#[test]
fn a_restored_relay_gets_back_others_approvals_when_the_salesperson_syncs_first() {
    let mut c = company();
    let backup = day_of_work(&mut c);
    let before = restore(&mut c, &backup);
    resync_and_check(&mut c, &before, &["li", "wang", "zhao"], "li first");
}

#[test]
fn a_restored_relay_gets_everything_back_when_a_busy_phone_syncs_first() {
    let mut c = company();
    let backup = day_of_work(&mut c);
    let before = restore(&mut c, &backup);
    resync_and_check(&mut c, &before, &["wang", "li", "zhao"], "busy wang first");
}

#[test]
fn a_backup_days_old_loses_nothing_any_phone_holds() {
    let mut c = company();
    let li_shop = prospect(&mut c.li);
    let wang_shop = prospect(&mut c.wang);
    orders(&mut c.li, &li_shop, 2);
    synced(&mut c.li);
    synced(&mut c.wang);
    let backup = back_up(&c, "monday.db");
    // Four days of work after the backup, everyone syncing every day.
    for _day in 0..4 {
        let li_orders = orders(&mut c.li, &li_shop, 3);
        orders(&mut c.wang, &wang_shop, 8);
        synced(&mut c.li);
        synced(&mut c.wang);
        post(
            &c,
            &c.manager.clone(),
            &format!("/v1/orders/{}/approve", li_orders[0]),
            serde_json::json!({}),
        );
        approve_on_phone(&mut c.zhao, li_orders[1]);
        post(
            &c,
            &c.desk.clone(),
            &format!("/v1/orders/{}/confirm", li_orders[0]),
            serde_json::json!({}),
        );
        synced(&mut c.li);
        synced(&mut c.wang);
        synced(&mut c.zhao);
    }
    let before = restore(&mut c, &backup);
    // The manager's phone first: it sends back li's and wang's orders, signed
    // by their phones, with head office's steps inside.
    resync_and_check(
        &mut c,
        &before,
        &["zhao", "wang", "li"],
        "four days, manager first",
    );
}
