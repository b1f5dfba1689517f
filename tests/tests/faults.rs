//! Faults: the relay killed with SIGKILL while many devices sync.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::Utc;
#[allow(unused_imports)]
use fieldsync_core::ReportSchedule;
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
                    evidence: "signed order form".into(),
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

#[test]
fn phone_clocks_wrong_by_days_break_nothing_and_deadlines_use_the_relays_clock() {
    let dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start(dir.path());
    relay.user("li", Role::Salesperson, Some("east"));
    relay.user("wang", Role::Salesperson, Some("east"));
    let admin = relay.user("root", Role::Admin, None);
    let manager = relay.user("zhao", Role::Manager, Some("east"));
    let mut ahead = Phone::enroll(&relay.url(), dir.path(), "ahead", &relay.code("li"));
    let mut behind = Phone::enroll(&relay.url(), dir.path(), "behind", &relay.code("wang"));
    let skew = |p: &Phone, days: i64| {
        ChangeCtx::new(p.actor.clone(), Utc::now() + chrono::Duration::days(days))
    };

    // Li's phone is four days fast: it works and syncs as usual.
    let ids = work(&mut ahead, 2);
    let mut o = OrderDoc::from_document(ahead.store.load(ids[0]).unwrap()).unwrap();
    o.submit(&skew(&ahead, 4)).unwrap();
    ahead.store.save(o.document()).unwrap();
    ahead.sync().unwrap();
    let a = relay.api(&manager).post(
        &format!("/v1/orders/{}/approve", ids[0]),
        serde_json::json!({}),
    );
    assert_eq!(a.status, 200, "{}", a.error());
    ahead.sync().unwrap();
    let o = OrderDoc::from_document(ahead.store.load(ids[0]).unwrap())
        .unwrap()
        .read()
        .unwrap();
    // The approval (relay-side, real time) comes "before" the submit in clock
    // terms, yet the status follows the order of events, not the clocks.
    assert_eq!(o.status(), OrderStatus::Approved);
    assert!(o.events[1].at < o.events[0].at);

    // Wang's phone is ten days slow and claims last week's report was in on time.
    let last_week = Utc::now().date_naive() - chrono::Duration::days(8);
    let mut r = DailyReportDoc::create(&skew(&behind, -10), last_week).unwrap();
    r.write(&skew(&behind, -10), "visits", "", "").unwrap();
    r.submit(&skew(&behind, -10)).unwrap();
    let schedule = ReportSchedule::default();
    assert_eq!(
        r.read().unwrap().is_late(&schedule),
        Some(false),
        "by the phone's clock"
    );
    behind.store.save(r.document()).unwrap();
    behind.sync().unwrap();
    // The relay received it today: late. (And a report submitted on time by a
    // phone whose clock is fast is judged by when the relay got it, too.)
    let rows = relay.api(&admin).get("/v1/reports/daily-reports").json();
    assert_eq!(rows[0]["salesperson"], "wang");
    assert_eq!(
        (rows[0]["late"].as_str(), rows[0]["on_time"].as_str()),
        (Some("1"), Some("0"))
    );
    let mut today = DailyReportDoc::create(&skew(&ahead, 4), Utc::now().date_naive()).unwrap();
    today.write(&skew(&ahead, 4), "visits", "", "").unwrap();
    today.submit(&skew(&ahead, 4)).unwrap();
    ahead.store.save(today.document()).unwrap();
    ahead.sync().unwrap();
    let rows = relay.api(&admin).get("/v1/reports/daily-reports").json();
    let li = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["salesperson"] == "li")
        .unwrap();
    assert_eq!(
        (li["on_time"].as_str(), li["late"].as_str()),
        (Some("1"), Some("0"))
    );
}

#[test]
fn a_corrupted_phone_store_is_a_clear_error_and_the_relay_restores_it() {
    let dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start(dir.path());
    relay.user("li", Role::Salesperson, Some("east"));
    let mut phone = Phone::enroll(&relay.url(), dir.path(), "li", &relay.code("li"));
    let ids = work(&mut phone, 3);
    phone.sync().unwrap();
    let path = phone.path.clone();
    drop(phone);
    // The flash storage garbles the file.
    let mut bytes = std::fs::read(&path).unwrap();
    for b in bytes.iter_mut().take(4096) {
        *b ^= 0x5a;
    }
    std::fs::write(&path, &bytes).unwrap();
    let e = fieldsync_core::store::DeviceStore::open(&path).unwrap_err();
    assert!(matches!(e, Error::Store(_)), "{e}");
    assert!(
        e.to_string().contains("not a usable fieldsync store"),
        "{e}"
    );
    // Recovery (README): delete the store, enroll again, sync.
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let mut again = Phone::enroll(&relay.url(), dir.path(), "li", &relay.code("li"));
    again.sync().unwrap();
    for id in ids {
        assert!(
            again.store.contains(id).unwrap(),
            "{id} came back from the relay"
        );
    }
}

/// Fills the relay's disk as SQLite sees it (`SQLITE_FULL`, what a full
/// disk gives): the database may not grow, and its free pages are taken, so
/// a write that needs a new page fails. With `full` false, room returns.
fn fill_disk(relay: &TestRelay, full: bool) {
    let mut r = relay.state.relay();
    let conn = r.store().connection();
    if !full {
        let _: i64 = conn
            .query_row("PRAGMA max_page_count = 1073741823", [], |r| r.get(0))
            .unwrap();
        conn.execute_batch("DROP TABLE disk_filler").unwrap();
        return;
    }
    conn.execute_batch("CREATE TABLE disk_filler (x BLOB)")
        .unwrap();
    let pages: i64 = conn
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .unwrap();
    let _: i64 = conn
        .query_row(&format!("PRAGMA max_page_count = {pages}"), [], |r| {
            r.get(0)
        })
        .unwrap();
    for size in [65536, 4096, 512, 64, 8] {
        while conn
            .execute("INSERT INTO disk_filler VALUES (zeroblob(?1))", [size])
            .is_ok()
        {}
    }
}

/// An order of `lines` lines on `p`'s phone: a document needing several
/// pages of the relay's database.
fn big_order(p: &mut Phone, lines: usize) -> DocId {
    let ctx = p.ctx();
    let mut c = CustomerDoc::create_prospect(&ctx, "Big shop", "").unwrap();
    p.store.save(c.document()).unwrap();
    let customer = c.read().unwrap();
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
    for i in 0..lines {
        o.add_line(
            &ctx,
            NewLine {
                product: format!("STYLE-{i:03}"),
                name: "Knitted cardigan, every colour and size".into(),
                variant: format!("colour {} / size {}", i % 7, i % 5),
                unit: "pcs".into(),
                quantity: Decimal::from(1 + i as i64),
                unit_price: Decimal::new(12_990, 2),
                discount_percent: Decimal::ZERO,
            },
        )
        .unwrap();
    }
    p.store.save(o.document()).unwrap();
    o.read().unwrap().id()
}

#[test]
fn a_full_disk_on_the_relay_refuses_cleanly_and_recovers_losing_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start(dir.path());
    relay.user("li", Role::Salesperson, Some("east"));
    let manager = relay.user("zhao", Role::Manager, Some("east"));
    let mut li = Phone::enroll(&relay.url(), dir.path(), "li", &relay.code("li"));
    let acknowledged = work(&mut li, 3);
    li.sync().unwrap();
    fill_disk(&relay, true);
    // A day's work that will not fit: one big order alone (no document is
    // to blame, so none is refused), then many.
    let mut waiting = vec![big_order(&mut li, 60)];
    let e = li.sync().unwrap_err();
    assert!(e.starts_with("HTTP 503"), "{e}");
    assert!(e.contains("its disk is full"), "{e}");
    assert!(e.contains("Your work is safe on this phone"), "{e}");
    assert!(!e.contains("local store"), "{e}");
    waiting.extend(work(&mut li, 20));
    let e = li.sync().unwrap_err();
    assert!(e.contains("its disk is full"), "{e}");
    assert!(
        li.store.refused().unwrap().is_empty(),
        "nothing is refused for the relay's full disk"
    );
    // The orders and their two prospects.
    assert_eq!(li.store.pending_count().unwrap(), waiting.len() as u64 + 2);
    // Reading still works, and what was acknowledged is there.
    let api = relay.api(&manager);
    for id in &acknowledged {
        assert_eq!(api.get(&format!("/v1/orders/{id}")).status, 200);
    }
    // Room again: the next sync sends everything, and nothing is doubled.
    fill_disk(&relay, false);
    let s = li.sync().unwrap();
    assert!(s.refused.is_empty(), "{s:?}");
    assert_eq!(li.store.pending_count().unwrap(), 0);
    for id in acknowledged.iter().chain(&waiting) {
        let a = api.get(&format!("/v1/orders/{id}"));
        assert_eq!(a.status, 200, "order {id} is on the relay");
        let lines = a.json()["lines"].as_array().unwrap().len();
        assert_eq!(lines, if *id == waiting[0] { 60 } else { 1 });
    }
}

/// A phone's process killed with SIGKILL while the app enters orders: every
/// edit the app was told had succeeded is in the store when it opens again
/// (the open-document cache only ever holds what was committed), the store
/// takes new edits, and everything reaches the relay.
#[test]
fn a_phone_killed_mid_edit_keeps_every_acknowledged_edit() {
    use std::collections::BTreeMap;
    use std::io::BufRead;

    let dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start(dir.path());
    relay.user("li", Role::Salesperson, Some("east"));
    let path = dir.path().join("phone.db");
    let path_text = path.to_str().unwrap().to_string();
    {
        let phone = fieldsync_mobile::FieldSync::open(path_text.clone()).unwrap();
        phone.enroll(relay.url(), relay.code("li")).unwrap();
        phone
            .create_prospect("Hengda Textiles".into(), "1 Silk Road".into())
            .unwrap();
    }

    for round in 0..3 {
        let mut worker = std::process::Command::new(env!("CARGO_BIN_EXE_phone_worker"))
            .arg(&path)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = worker.stdout.take().unwrap();
        // Acknowledged: order -> (line -> last quantity the app was told of).
        let mut acked: BTreeMap<String, BTreeMap<String, u32>> = BTreeMap::new();
        let stop_after = 60 + round * 37;
        for (n, text) in std::io::BufReader::new(stdout).lines().enumerate() {
            let text = text.unwrap();
            let words: Vec<&str> = text.split(' ').collect();
            match words[..] {
                ["order", order] => {
                    acked.entry(order.to_string()).or_default();
                }
                ["line", order, line, quantity] => {
                    acked
                        .entry(order.to_string())
                        .or_default()
                        .insert(line.to_string(), quantity.parse().unwrap());
                }
                _ => panic!("the worker printed {text:?}"),
            }
            if n + 1 == stop_after {
                worker.kill().unwrap(); // SIGKILL, mid-call most likely
                break;
            }
        }
        worker.wait().unwrap();
        assert!(acked.len() > 3, "the worker did too little before the kill");

        let phone = fieldsync_mobile::FieldSync::open(path_text.clone()).unwrap();
        for (order, lines) in &acked {
            let stored = phone.order(order.clone()).unwrap();
            for (line, quantity) in lines {
                let found = stored
                    .lines
                    .iter()
                    .find(|l| &l.id == line)
                    .unwrap_or_else(|| panic!("acknowledged line {line} of {order} was lost"));
                let q: u32 = found.quantity.parse().unwrap();
                // The call in flight at the kill may have landed too.
                assert!(
                    q == *quantity || q == quantity + 1,
                    "line {line} has {q}, acknowledged {quantity}"
                );
            }
        }
        // The reopened store takes edits (its cache starts cold).
        let (order, lines) = acked.iter().next().unwrap();
        let line = lines.keys().next().unwrap();
        let edited = phone
            .set_line_quantity(order.clone(), line.clone(), "9".into())
            .unwrap();
        assert_eq!(edited.line.unwrap().quantity, "9");
    }

    // Everything reaches the relay once.
    let phone = fieldsync_mobile::FieldSync::open(path_text).unwrap();
    let report = phone.sync(None, None).unwrap();
    assert!(report.refused.is_empty(), "{:?}", report.refused);
    assert_eq!(phone.pending_count().unwrap(), 0);
    let open = phone.open_orders().unwrap();
    assert!(open.len() > 9, "{} orders", open.len());
}
