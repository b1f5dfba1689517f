//! The relay's documents on PostgreSQL, committed only if still as decided.
//!
//! A relay decides a push on its copy of each document (loaded with the
//! heads it had), then commits. With several relays another may have
//! committed changes to the same document in between: the commit locks the
//! documents' rows (in id order, so two commits never wait on each other
//! in a cycle), checks each is still at the heads it was decided on, and
//! otherwise changes nothing and names the documents that moved, for the
//! relay to load again and decide again. A new document is decided on
//! "absent"; if another relay created it first, it has moved too.
//!
//! Rules that read other rows are decided the same way. A credit decision
//! (an approval, a shipment) reads a customer's figures at a version
//! ([`RelayDocuments::credit_of`]) and names it in [`Decided::credit_read`];
//! every commit that changes an order's contribution bumps its customer's
//! version. The commit locks those customers' rows too (in id order, after
//! the documents') and finds the decision stale if the version moved: two
//! relays approving two orders of one customer at the same moment cannot
//! both pass on the same headroom.
//!
//! A document is kept as its log entries (each commit's changes) after an
//! optional snapshot, as the embedded store keeps it.

use postgres::GenericClient;

use crate::error::Result;
use crate::log::{LogCursor, NewEntry, RelayLog};

/// What a relay decided to commit for one document.
#[derive(Debug, Clone, Copy)]
pub struct Decided<'a> {
    /// The document's id.
    pub id: &'a [u8; 16],
    /// Its kind (`order`, `customer`, ...).
    pub kind: &'a str,
    /// The heads the decision was made on (encoded); `None` for a document
    /// the relay did not have.
    pub decided_on: Option<&'a [u8]>,
    /// The heads after the accepted changes (encoded).
    pub heads: &'a [u8],
    /// The accepted changes (Automerge bytes).
    pub changes: &'a [u8],
    /// Where they came from (a device, or `head-office`).
    pub origin: &'a str,
    /// The customer figures the decision read, and their version (see
    /// [`RelayDocuments::credit_of`]), if it read any.
    pub credit_read: Option<(&'a [u8; 16], u64)>,
    /// The order's contribution to its customer's exposure after the
    /// changes (the customer, and the figures the relay encodes), if the
    /// document is an order.
    pub credit_write: Option<(&'a [u8; 16], &'a [u8])>,
}

/// A customer's credit figures as the relay keeps them: each order's
/// contribution, and the version they were read at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditFigures {
    /// Bumped by every commit that changes one of the contributions.
    pub version: u64,
    /// Each order's contribution (order id, figures as the relay encoded them).
    pub orders: Vec<([u8; 16], Vec<u8>)>,
}

/// What a commit did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Commit {
    /// Every document was committed; the log entries, in order.
    Committed(Vec<LogCursor>),
    /// Nothing was committed: these documents are no longer at the heads
    /// they were decided on (load them again and decide again).
    Moved(Vec<[u8; 16]>),
}

/// A document as stored: its heads and the bytes to load it from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDocument {
    /// Its kind.
    pub kind: String,
    /// Its heads (encoded).
    pub heads: Vec<u8>,
    /// A snapshot (empty if none), then the changes of each log entry since.
    pub snapshot: Vec<u8>,
    /// The changes since the snapshot, in log order.
    pub changes: Vec<Vec<u8>>,
}

/// The relay's documents, over any PostgreSQL client.
#[derive(Debug, Clone, Copy, Default)]
pub struct RelayDocuments;

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS relay_documents (
        id BYTEA PRIMARY KEY,
        kind TEXT NOT NULL,
        heads BYTEA NOT NULL,
        snapshot BYTEA NOT NULL DEFAULT '',
        snapshot_upto BIGINT NOT NULL DEFAULT 0
    );
    CREATE INDEX IF NOT EXISTS relay_log_by_doc ON relay_log (doc, entry);
    CREATE TABLE IF NOT EXISTS relay_credit (
        customer BYTEA PRIMARY KEY,
        version BIGINT NOT NULL DEFAULT 0
    );
    CREATE TABLE IF NOT EXISTS relay_order_credit (
        order_id BYTEA PRIMARY KEY,
        customer BYTEA NOT NULL,
        figures BYTEA NOT NULL
    );
    CREATE INDEX IF NOT EXISTS relay_order_credit_by_customer ON relay_order_credit (customer);
";

impl RelayDocuments {
    /// Creates the documents' table (and the log's) if missing.
    pub fn migrate(client: &mut impl GenericClient) -> Result<()> {
        RelayLog::migrate(client)?;
        crate::schema::change(client, SCHEMA)
    }

    /// Document `id` as stored, if the relay has it.
    pub fn load(client: &mut impl GenericClient, id: &[u8; 16]) -> Result<Option<StoredDocument>> {
        let Some(row) = client.query_opt(
            "SELECT kind, heads, snapshot, snapshot_upto FROM relay_documents WHERE id = $1",
            &[&&id[..]],
        )?
        else {
            return Ok(None);
        };
        let upto: i64 = row.get(3);
        let changes = client
            .query(
                "SELECT changes FROM relay_log WHERE doc = $1 AND entry > $2 ORDER BY entry",
                &[&&id[..], &upto],
            )?
            .into_iter()
            .map(|r| r.get(0))
            .collect();
        Ok(Some(StoredDocument {
            kind: row.get(0),
            heads: row.get(1),
            snapshot: row.get(2),
            changes,
        }))
    }

    /// Customer `customer`'s credit figures and their version, read in one
    /// snapshot.
    pub fn credit_of(client: &mut postgres::Client, customer: &[u8; 16]) -> Result<CreditFigures> {
        let mut tx = client
            .build_transaction()
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()?;
        let version = tx
            .query_opt(
                "SELECT version FROM relay_credit WHERE customer = $1",
                &[&&customer[..]],
            )?
            .map_or(0, |r| r.get::<_, i64>(0));
        let orders = tx
            .query(
                "SELECT order_id, figures FROM relay_order_credit WHERE customer = $1 ORDER BY order_id",
                &[&&customer[..]],
            )?
            .into_iter()
            .map(|r| {
                let id: &[u8] = r.get(0);
                let id: [u8; 16] = id.try_into().map_err(|_| {
                    crate::Error::Corrupt("an order id in the credit figures is damaged".into())
                })?;
                Ok((id, r.get(1)))
            })
            .collect::<Result<_>>()?;
        tx.commit()?;
        Ok(CreditFigures {
            version: u64::try_from(version).unwrap_or(0),
            orders,
        })
    }

    /// Commits `decided` in one transaction if every document is still as
    /// it was decided on; else commits nothing (see [`Commit::Moved`]).
    pub fn commit(client: &mut postgres::Client, decided: &[Decided<'_>]) -> Result<Commit> {
        let mut tx = client.transaction()?;
        let mut order: Vec<&Decided<'_>> = decided.iter().collect();
        order.sort_by_key(|d| d.id);
        let ids: Vec<&[u8]> = order.iter().map(|d| &d.id[..]).collect();
        // Lock the rows that exist, in id order.
        let stored: Vec<(Vec<u8>, Vec<u8>)> = tx
            .query(
                "SELECT id, heads FROM relay_documents WHERE id = ANY($1) ORDER BY id FOR UPDATE",
                &[&ids],
            )?
            .into_iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        let mut moved = Vec::new();
        for d in &order {
            let now = stored
                .iter()
                .find(|(id, _)| id.as_slice() == &d.id[..])
                .map(|(_, heads)| heads.as_slice());
            if now != d.decided_on {
                moved.push(*d.id);
            }
        }
        // A document new to this relay may be created by another at the same
        // moment: the insert that comes second finds the row and stops.
        for d in order.iter().filter(|d| d.decided_on.is_none()) {
            if moved.contains(d.id) {
                continue;
            }
            let inserted = tx.execute(
                "INSERT INTO relay_documents (id, kind, heads) VALUES ($1, $2, $3)
                 ON CONFLICT (id) DO NOTHING",
                &[&&d.id[..], &d.kind, &d.heads],
            )?;
            if inserted == 0 {
                moved.push(*d.id);
            }
        }
        // The customers whose figures were read or are written (an order's
        // new customer and, if it moved, its old one), locked in id order
        // after the documents (rows made on first use). The orders' own rows
        // are locked above, so their old customers cannot change meanwhile.
        let written: Vec<&[u8]> = decided
            .iter()
            .filter(|d| d.credit_write.is_some())
            .map(|d| &d.id[..])
            .collect();
        let previous: Vec<(Vec<u8>, Vec<u8>)> = if written.is_empty() {
            Vec::new()
        } else {
            tx.query(
                "SELECT order_id, customer FROM relay_order_credit WHERE order_id = ANY($1)",
                &[&written],
            )?
            .into_iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect()
        };
        let mut customer_ids: Vec<&[u8]> = decided
            .iter()
            .flat_map(|d| {
                d.credit_read
                    .map(|(c, _)| &c[..])
                    .into_iter()
                    .chain(d.credit_write.map(|(c, _)| &c[..]))
            })
            .chain(previous.iter().map(|(_, c)| c.as_slice()))
            .collect();
        customer_ids.sort();
        customer_ids.dedup();
        let customers = customer_ids.len();
        if customers > 0 {
            tx.execute(
                "INSERT INTO relay_credit (customer) SELECT unnest($1::bytea[])
                 ON CONFLICT (customer) DO NOTHING",
                &[&customer_ids],
            )?;
            let versions: Vec<(Vec<u8>, i64)> = tx
                .query(
                    "SELECT customer, version FROM relay_credit WHERE customer = ANY($1)
                     ORDER BY customer FOR UPDATE",
                    &[&customer_ids],
                )?
                .into_iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
            for d in decided {
                let Some((customer, read)) = d.credit_read else {
                    continue;
                };
                let now = versions
                    .iter()
                    .find(|(c, _)| c.as_slice() == &customer[..])
                    .map_or(0, |(_, v)| u64::try_from(*v).unwrap_or(0));
                if now != read && !moved.contains(d.id) {
                    moved.push(*d.id);
                }
            }
        }
        if !moved.is_empty() {
            tx.rollback()?;
            moved.sort();
            return Ok(Commit::Moved(moved));
        }
        for d in decided {
            let Some((customer, figures)) = d.credit_write else {
                continue;
            };
            let changed = tx.execute(
                "INSERT INTO relay_order_credit (order_id, customer, figures) VALUES ($1, $2, $3)
                 ON CONFLICT (order_id) DO UPDATE SET customer = excluded.customer, figures = excluded.figures
                 WHERE relay_order_credit.customer IS DISTINCT FROM excluded.customer
                    OR relay_order_credit.figures IS DISTINCT FROM excluded.figures",
                &[&&d.id[..], &&customer[..], &figures],
            )?;
            if changed > 0 {
                let before = previous
                    .iter()
                    .find(|(order, _)| order.as_slice() == &d.id[..])
                    .map(|(_, c)| c.as_slice());
                let mut bumped: Vec<&[u8]> = vec![&customer[..]];
                bumped.extend(before.filter(|c| *c != &customer[..]));
                tx.execute(
                    "UPDATE relay_credit SET version = version + 1 WHERE customer = ANY($1)",
                    &[&bumped],
                )?;
            }
        }
        let mut entries = Vec::with_capacity(decided.len());
        for d in decided {
            if d.decided_on.is_some() {
                tx.execute(
                    "UPDATE relay_documents SET heads = $2 WHERE id = $1",
                    &[&&d.id[..], &d.heads],
                )?;
            }
            entries.push(RelayLog::append(
                &mut tx,
                &NewEntry {
                    doc: d.id,
                    origin: d.origin,
                    changes: d.changes,
                    heads: d.heads,
                },
            )?);
        }
        // One notification per commit wakes the phones waiting for news.
        tx.execute("SELECT pg_notify($1, '')", &[&crate::connection::CHANNEL])?;
        tx.commit()?;
        Ok(Commit::Committed(entries))
    }
}
