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
";

impl RelayDocuments {
    /// Creates the documents' table (and the log's) if missing.
    pub fn migrate(client: &mut impl GenericClient) -> Result<()> {
        RelayLog::migrate(client)?;
        client.batch_execute(SCHEMA)?;
        Ok(())
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
        if !moved.is_empty() {
            tx.rollback()?;
            moved.sort();
            return Ok(Commit::Moved(moved));
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
        tx.commit()?;
        Ok(Commit::Committed(entries))
    }
}
