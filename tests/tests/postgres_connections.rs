//! Relay connections on PostgreSQL: their time limits keep one stuck relay
//! from holding back everyone's news, and commits wake waiting phones.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use fieldsync_store_postgres::{
    Commit, Decided, LogCursor, LogWaiter, NewEntry, RelayDocuments, RelayLog, Timeouts, connect,
};
use fieldsync_tests::postgres::TestPostgres;

/// A relay that stops inside a writing transaction holds back the log's
/// horizon only until the server ends its session; then others' commits
/// reach the phones, and the stuck relay's entry never does.
#[test]
fn a_relay_stuck_in_a_transaction_holds_back_the_log_only_until_its_timeout() {
    let pg = TestPostgres::start();
    let url = pg.database("stuck");
    let short = Timeouts {
        statement: Duration::from_secs(5),
        idle_in_transaction: Duration::from_millis(800),
    };
    let mut stuck = connect(&url, short).unwrap();
    let mut healthy = connect(&url, Timeouts::default()).unwrap();
    let mut phone = connect(&url, Timeouts::default()).unwrap();
    RelayLog::migrate(&mut healthy).unwrap();

    let entry = |doc: &'static [u8; 16]| NewEntry {
        doc,
        origin: "relay",
        changes: b"c",
        heads: b"h",
    };
    let mut tx = stuck.transaction().unwrap();
    RelayLog::append(&mut tx, &entry(&[1; 16])).unwrap();
    // ...and the stuck relay does nothing more.
    RelayLog::append(&mut healthy, &entry(&[2; 16])).unwrap();
    let held = RelayLog::read_after(&mut phone, LogCursor::default(), 10).unwrap();
    assert!(
        held.entries.is_empty(),
        "held back while the stuck one is open"
    );

    let started = Instant::now();
    let read = loop {
        let read = RelayLog::read_after(&mut phone, LogCursor::default(), 10).unwrap();
        if !read.entries.is_empty() {
            break read;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the stuck transaction was never ended"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let docs: Vec<[u8; 16]> = read.entries.iter().map(|e| e.doc).collect();
    assert_eq!(
        docs,
        vec![[2; 16]],
        "the healthy relay's entry, not the stuck one's"
    );
    assert!(tx.commit().is_err(), "the stuck relay's session was ended");
}

/// A waiting phone is woken by a commit, soon, and not otherwise.
#[test]
fn a_commit_wakes_the_phones_waiting_for_news() {
    let pg = TestPostgres::start();
    let url = pg.database("wake");
    let mut relay = connect(&url, Timeouts::default()).unwrap();
    RelayDocuments::migrate(&mut relay).unwrap();
    let mut waiter = LogWaiter::listen(&url).unwrap();
    assert!(
        !waiter.wait(Duration::from_millis(200)).unwrap(),
        "nothing committed yet"
    );

    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        let doc = [9; 16];
        let d = Decided {
            id: &doc,
            kind: "order",
            decided_on: None,
            heads: b"h",
            changes: b"c",
            origin: "phone",
            credit_read: None,
            credit_write: None,
        };
        assert!(matches!(
            RelayDocuments::commit(&mut relay, &[d]).unwrap(),
            Commit::Committed(_)
        ));
    });
    let started = Instant::now();
    assert!(
        waiter.wait(Duration::from_secs(10)).unwrap(),
        "woken by the commit"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    writer.join().unwrap();
    assert!(
        !waiter.wait(Duration::from_millis(200)).unwrap(),
        "one commit, one wake-up"
    );
}

/// Every relay over one database reports the same identity (phones would
/// otherwise take a different relay behind the load balancer for a restored
/// one and send everything again); another database has another.
#[test]
fn relays_over_one_database_share_its_identity() {
    let pg = TestPostgres::start();
    let url = pg.database("identity");
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                let mut relay = connect(&url, Timeouts::default()).unwrap();
                fieldsync_store_postgres::database_identity(&mut relay).unwrap()
            })
        })
        .collect();
    let ids: Vec<[u8; 16]> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert_ne!(ids[0], [0; 16]);
    let mut later = connect(&url, Timeouts::default()).unwrap();
    assert_eq!(
        fieldsync_store_postgres::database_identity(&mut later).unwrap(),
        ids[0]
    );
    let other = pg.database("identity_other");
    let mut elsewhere = connect(&other, Timeouts::default()).unwrap();
    assert_ne!(
        fieldsync_store_postgres::database_identity(&mut elsewhere).unwrap(),
        ids[0]
    );
}

/// Relays starting together migrate the same database at once without
/// tripping over each other.
#[test]
fn relays_starting_together_migrate_one_database() {
    let pg = TestPostgres::start();
    let url = pg.database("migrate_together");
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                let mut relay = connect(&url, Timeouts::default()).unwrap();
                RelayDocuments::migrate(&mut relay).unwrap();
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let mut relay = connect(&url, Timeouts::default()).unwrap();
    assert!(
        RelayLog::read_after(&mut relay, LogCursor::default(), 1)
            .unwrap()
            .entries
            .is_empty()
    );
}
