//! The relay's log on PostgreSQL read in commit order, against a real
//! (throwaway) PostgreSQL: the late-commit race of several writers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use fieldsync_store_postgres::{LogCursor, NewEntry, RelayLog};
use fieldsync_tests::postgres::TestPostgres;
use postgres::{Client, NoTls};

fn entry<'a>(doc: &'a [u8; 16], origin: &'a str) -> NewEntry<'a> {
    NewEntry {
        doc,
        origin,
        changes: b"changes",
        heads: b"heads",
    }
}

/// Transaction 1 writes and waits; transaction 2 writes and commits; a
/// phone syncs; transaction 1 commits; the phone syncs again and has both.
/// (Read by sequence number, the phone would have taken entry 2 first and
/// skipped entry 1 for ever.)
#[test]
fn an_entry_committed_late_is_not_skipped() {
    let pg = TestPostgres::start();
    let url = pg.database("late_commit");
    let mut relay_1 = Client::connect(&url, NoTls).unwrap();
    let mut relay_2 = Client::connect(&url, NoTls).unwrap();
    let mut phone = Client::connect(&url, NoTls).unwrap();
    RelayLog::migrate(&mut relay_1).unwrap();

    let mut slow = relay_1.transaction().unwrap();
    let first = RelayLog::append(&mut slow, &entry(&[1; 16], "phone-a")).unwrap();
    let mut quick = relay_2.transaction().unwrap();
    let second = RelayLog::append(&mut quick, &entry(&[2; 16], "phone-b")).unwrap();
    quick.commit().unwrap();
    assert!(
        first.entry < second.entry,
        "the slow transaction took the lower sequence number: the race is real"
    );

    // The phone syncs while the slow transaction is still open: the quick
    // one's entry is committed but must wait behind the horizon.
    let read = RelayLog::read_after(&mut phone, LogCursor::default(), 100).unwrap();
    assert!(read.entries.is_empty(), "{:?}", read.entries);
    assert!(read.horizon <= first.transaction);
    assert_eq!(RelayLog::waiting_behind_horizon(&mut phone).unwrap(), 1);

    slow.commit().unwrap();
    let read = RelayLog::read_after(&mut phone, LogCursor::default(), 100).unwrap();
    let docs: Vec<[u8; 16]> = read.entries.iter().map(|e| e.doc).collect();
    assert_eq!(docs, vec![[1; 16], [2; 16]], "both, in commit-safe order");
    assert_eq!(read.entries[0].at, first);
    assert_eq!(read.entries[0].origin, "phone-a");
    assert_eq!(RelayLog::waiting_behind_horizon(&mut phone).unwrap(), 0);

    // Reading on from the last entry finds nothing new, and then only what
    // comes after.
    let cursor = read.entries.last().unwrap().at;
    assert!(
        RelayLog::read_after(&mut phone, cursor, 100)
            .unwrap()
            .entries
            .is_empty()
    );
    let third = RelayLog::append(&mut relay_2, &entry(&[3; 16], "phone-b")).unwrap();
    let read = RelayLog::read_after(&mut phone, cursor, 100).unwrap();
    assert_eq!(read.entries.len(), 1);
    assert_eq!(read.entries[0].at, third);
}

/// Many writers committing in random order: a reader that keeps its cursor
/// and reads in small pages while they write ends with every entry exactly
/// once.
#[test]
fn a_reader_among_many_writers_gets_every_entry_once() {
    let pg = TestPostgres::start();
    let url = pg.database("many_writers");
    let mut setup = Client::connect(&url, NoTls).unwrap();
    RelayLog::migrate(&mut setup).unwrap();
    let writers: Vec<_> = (0..4u8)
        .map(|w| {
            let url = url.clone();
            std::thread::spawn(move || {
                let mut client = Client::connect(&url, NoTls).unwrap();
                for i in 0..50u8 {
                    let mut tx = client.transaction().unwrap();
                    for j in 0..(1 + i % 3) {
                        let mut doc = [0u8; 16];
                        doc[0] = w;
                        doc[1] = i;
                        doc[2] = j;
                        RelayLog::append(&mut tx, &entry(&doc, "relay")).unwrap();
                    }
                    if i % 7 == 0 {
                        std::thread::sleep(std::time::Duration::from_millis(3));
                    }
                    tx.commit().unwrap();
                }
            })
        })
        .collect();
    let mut reader = Client::connect(&url, NoTls).unwrap();
    let mut cursor = LogCursor::default();
    let mut seen = Vec::new();
    let expected = 4 * (0..50u8).map(|i| 1 + usize::from(i % 3)).sum::<usize>();
    let mut finished = false;
    while seen.len() < expected {
        let read = RelayLog::read_after(&mut reader, cursor, 7).unwrap();
        for e in &read.entries {
            assert!(e.at > cursor, "entries come in cursor order");
            cursor = e.at;
            seen.push(e.doc);
        }
        if read.entries.is_empty() {
            assert!(
                !finished,
                "writers are done but {} entries are missing",
                expected - seen.len()
            );
            finished = writers.iter().all(|w| w.is_finished());
        }
    }
    for w in writers {
        w.join().unwrap();
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "no entry twice");
    assert_eq!(seen.len(), expected);
}
