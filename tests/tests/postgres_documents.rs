//! The relay's documents on PostgreSQL: several relays committing the same
//! documents, against a real (throwaway) PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Barrier};

use fieldsync_store_postgres::{Commit, Decided, RelayDocuments};
use fieldsync_tests::postgres::TestPostgres;
use postgres::{Client, NoTls};

fn decided<'a>(id: &'a [u8; 16], on: Option<&'a [u8]>, heads: &'a [u8]) -> Decided<'a> {
    Decided {
        id,
        kind: "order",
        decided_on: on,
        heads,
        changes: heads,
        origin: "phone",
        credit_read: None,
        credit_write: None,
    }
}

#[test]
fn a_document_that_moved_since_the_decision_is_not_committed() {
    let pg = TestPostgres::start();
    let url = pg.database("moved");
    let mut relay_1 = Client::connect(&url, NoTls).unwrap();
    let mut relay_2 = Client::connect(&url, NoTls).unwrap();
    RelayDocuments::migrate(&mut relay_1).unwrap();
    let id = [7; 16];
    assert!(matches!(
        RelayDocuments::commit(&mut relay_1, &[decided(&id, None, b"h0")]).unwrap(),
        Commit::Committed(_)
    ));

    // Both relays decide on h0; the second to commit finds it moved.
    let at_1 = RelayDocuments::load(&mut relay_1, &id).unwrap().unwrap();
    let at_2 = RelayDocuments::load(&mut relay_2, &id).unwrap().unwrap();
    assert_eq!(
        (at_1.heads.as_slice(), at_1.kind.as_str()),
        (&b"h0"[..], "order")
    );
    let on_1 = decided(&id, Some(&at_1.heads), b"h1");
    let on_2 = decided(&id, Some(&at_2.heads), b"h2");
    assert!(matches!(
        RelayDocuments::commit(&mut relay_2, &[on_2]).unwrap(),
        Commit::Committed(_)
    ));
    let other = [8; 16];
    assert_eq!(
        RelayDocuments::commit(&mut relay_1, &[decided(&other, None, b"x"), on_1]).unwrap(),
        Commit::Moved(vec![id]),
        "nothing of the batch is committed, the new document neither"
    );
    assert!(
        RelayDocuments::load(&mut relay_1, &other)
            .unwrap()
            .is_none()
    );

    // Loaded again and decided again, it goes in.
    let again = RelayDocuments::load(&mut relay_1, &id).unwrap().unwrap();
    assert_eq!(again.heads, b"h2");
    assert_eq!(again.changes, vec![b"h0".to_vec(), b"h2".to_vec()]);
    assert!(matches!(
        RelayDocuments::commit(&mut relay_1, &[decided(&id, Some(&again.heads), b"h3")]).unwrap(),
        Commit::Committed(_)
    ));
    assert_eq!(
        RelayDocuments::load(&mut relay_2, &id)
            .unwrap()
            .unwrap()
            .changes
            .len(),
        3
    );
}

/// Two relays committing the same documents at the same moment, in
/// opposite orders, many times: each time exactly one commits, the other
/// is told the documents moved, and they never deadlock.
#[test]
fn two_relays_committing_at_once_never_both_win_and_never_deadlock() {
    let pg = TestPostgres::start();
    let url = pg.database("at_once");
    let mut setup = Client::connect(&url, NoTls).unwrap();
    RelayDocuments::migrate(&mut setup).unwrap();
    let (a, b) = ([1u8; 16], [2u8; 16]);
    for id in [&a, &b] {
        RelayDocuments::commit(&mut setup, &[decided(id, None, b"0")]).unwrap();
    }
    let rounds = 30;
    let barrier = Arc::new(Barrier::new(2));
    let relays: Vec<_> = [false, true]
        .into_iter()
        .map(|reversed| {
            let (url, barrier) = (url.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut client = Client::connect(&url, NoTls).unwrap();
                let mut won = 0;
                for round in 0..rounds {
                    let on = round.to_string().into_bytes();
                    let next =
                        format!("{}{}", round + 1, if reversed { "b" } else { "a" }).into_bytes();
                    barrier.wait();
                    let mut batch = vec![
                        decided(&a, Some(on.as_slice()), &next),
                        decided(&b, Some(on.as_slice()), &next),
                    ];
                    if reversed {
                        batch.reverse();
                    }
                    let outcome = RelayDocuments::commit(&mut client, &batch).unwrap();
                    barrier.wait();
                    if let Commit::Committed(_) = outcome {
                        won += 1;
                        // The winner sets the heads both start the next round on.
                        let settled = (round + 1).to_string().into_bytes();
                        let settle = [
                            decided(&a, Some(next.as_slice()), &settled),
                            decided(&b, Some(next.as_slice()), &settled),
                        ];
                        assert!(matches!(
                            RelayDocuments::commit(&mut client, &settle).unwrap(),
                            Commit::Committed(_)
                        ));
                    } else {
                        assert!(matches!(outcome, Commit::Moved(ref ids) if ids == &vec![a, b]));
                    }
                    barrier.wait();
                }
                won
            })
        })
        .collect();
    let wins: Vec<i32> = relays.into_iter().map(|r| r.join().unwrap()).collect();
    assert_eq!(
        wins.iter().sum::<i32>(),
        rounds,
        "exactly one winner a round: {wins:?}"
    );
    let doc = RelayDocuments::load(&mut setup, &a).unwrap().unwrap();
    assert_eq!(doc.heads, rounds.to_string().into_bytes());
}

/// Two relays approving two orders of one customer at the same moment,
/// each alone within the credit limit, together over it: exactly one
/// passes. Each relay decides on the customer's figures as it read them;
/// the second to commit finds them changed, reads them again, decides
/// again and refuses. (The rule here is the credit check's shape: exposure
/// plus the order against the limit, in cents; the relay's is
/// `CreditExposure`.)
#[test]
fn two_approvals_over_one_customers_limit_at_once_let_exactly_one_pass() {
    const LIMIT: u64 = 10_000; // cents
    const ORDER: u64 = 6_000;
    let pg = TestPostgres::start();
    let url = pg.database("credit");
    let mut setup = Client::connect(&url, NoTls).unwrap();
    RelayDocuments::migrate(&mut setup).unwrap();
    let rounds = 20u8;
    for round in 0..rounds {
        for relay in 0..2u8 {
            let order = [round, relay + 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
            RelayDocuments::commit(&mut setup, &[decided(&order, None, b"submitted")]).unwrap();
        }
    }
    let barrier = Arc::new(Barrier::new(2));
    let relays: Vec<_> = (0..2u8)
        .map(|relay| {
            let (url, barrier) = (url.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut client = Client::connect(&url, NoTls).unwrap();
                let mut approved = Vec::new();
                for round in 0..rounds {
                    let customer = [round; 16];
                    let order = [round, relay + 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
                    barrier.wait();
                    loop {
                        let figures = RelayDocuments::credit_of(&mut client, &customer).unwrap();
                        let exposure: u64 = figures
                            .orders
                            .iter()
                            .map(|(_, f)| u64::from_le_bytes(f[..8].try_into().unwrap()))
                            .sum();
                        if exposure + ORDER > LIMIT {
                            break; // refused: over the limit
                        }
                        let contribution = ORDER.to_le_bytes();
                        let approval = Decided {
                            credit_read: Some((&customer, figures.version)),
                            credit_write: Some((&customer, &contribution)),
                            ..decided(&order, Some(b"submitted"), b"approved")
                        };
                        match RelayDocuments::commit(&mut client, &[approval]).unwrap() {
                            Commit::Committed(_) => {
                                approved.push(round);
                                break;
                            }
                            Commit::Moved(ids) => assert_eq!(ids, vec![order]),
                        }
                    }
                }
                approved
            })
        })
        .collect();
    let approved: Vec<Vec<u8>> = relays.into_iter().map(|r| r.join().unwrap()).collect();
    for round in 0..rounds {
        let passed = approved.iter().filter(|a| a.contains(&round)).count();
        assert_eq!(passed, 1, "round {round}: {approved:?}");
        let figures = RelayDocuments::credit_of(&mut setup, &[round; 16]).unwrap();
        assert_eq!(figures.orders.len(), 1);
    }
}
