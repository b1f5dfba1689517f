//! The relay's log on PostgreSQL, read in commit order.
//!
//! Each entry is stamped with the id of the transaction that wrote it
//! (`xid8`, which never wraps round). A reader takes the oldest transaction
//! still running from its snapshot (`pg_snapshot_xmin`): every transaction
//! older than that has ended, so every entry it wrote is visible and no new
//! entry can appear below that horizon. Reading entries below the horizon in
//! (transaction, entry) order therefore gives a prefix of the log that later
//! reads only extend: a device's cursor, the last (transaction, entry) it
//! was sent, never passes over an entry that commits later.
//!
//! The price: an entry becomes readable only once every older writing
//! transaction has ended, so relay transactions must stay short (the
//! relay's connections set `statement_timeout` and
//! `idle_in_transaction_session_timeout`). [`RelayLog::waiting_behind_horizon`]
//! shows how many committed entries are waiting.

use postgres::GenericClient;

use crate::error::{Error, Result};

/// A place in the log: the transaction that wrote an entry and the entry's
/// number. Cursors compare in the order the log is read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogCursor {
    /// The writing transaction's id (`xid8`).
    pub transaction: u64,
    /// The entry's number (unique; in write order within a transaction).
    pub entry: u64,
}

/// An entry to append: one document's accepted changes.
#[derive(Debug, Clone, Copy)]
pub struct NewEntry<'a> {
    /// The document's id.
    pub doc: &'a [u8; 16],
    /// The device (or `head-office`) the changes came from.
    pub origin: &'a str,
    /// The changes, as Automerge bytes.
    pub changes: &'a [u8],
    /// The document's heads after them, encoded.
    pub heads: &'a [u8],
}

/// An entry as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Where it is in the log.
    pub at: LogCursor,
    /// The document's id.
    pub doc: [u8; 16],
    /// Where the changes came from.
    pub origin: String,
    /// The changes.
    pub changes: Vec<u8>,
    /// The document's heads after them.
    pub heads: Vec<u8>,
}

/// What a read of the log found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRead {
    /// The entries after the cursor, below the horizon, in log order.
    pub entries: Vec<LogEntry>,
    /// The oldest transaction still running when the log was read: no entry
    /// of it or any later one was read.
    pub horizon: u64,
}

/// The relay's log, over any PostgreSQL client or transaction.
#[derive(Debug, Clone, Copy, Default)]
pub struct RelayLog;

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS relay_log (
        entry BIGSERIAL PRIMARY KEY,
        xid XID8 NOT NULL DEFAULT pg_current_xact_id(),
        doc BYTEA NOT NULL,
        origin TEXT NOT NULL,
        changes BYTEA NOT NULL,
        heads BYTEA NOT NULL
    );
    CREATE INDEX IF NOT EXISTS relay_log_by_commit ON relay_log (xid, entry);
";

impl RelayLog {
    /// Creates the log's table and index if they are missing.
    pub fn migrate(client: &mut impl GenericClient) -> Result<()> {
        crate::schema::change(client, SCHEMA)
    }

    /// Appends an entry in `tx` (the transaction that commits the
    /// document); returns where it is in the log.
    pub fn append(tx: &mut impl GenericClient, e: &NewEntry<'_>) -> Result<LogCursor> {
        let row = tx.query_one(
            "INSERT INTO relay_log (doc, origin, changes, heads) VALUES ($1, $2, $3, $4)
             RETURNING xid::text, entry",
            &[&&e.doc[..], &e.origin, &e.changes, &e.heads],
        )?;
        Ok(LogCursor {
            transaction: parse_xid(row.get(0))?,
            entry: entry_number(row.get(1))?,
        })
    }

    /// Up to `limit` entries after `after`, of transactions that have all
    /// ended, in log order; and the horizon they were read below.
    pub fn read_after(
        client: &mut impl GenericClient,
        after: LogCursor,
        limit: u32,
    ) -> Result<LogRead> {
        // One statement, so the horizon and the rows come from one snapshot.
        let rows = client.query(
            "WITH horizon AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin)
             SELECT horizon.xmin::text, l.xid::text, l.entry, l.doc, l.origin, l.changes, l.heads
             FROM horizon
             LEFT JOIN LATERAL (
                 SELECT xid, entry, doc, origin, changes, heads FROM relay_log
                 WHERE xid < horizon.xmin AND (xid, entry) > ($1::text::xid8, $2)
                 ORDER BY xid, entry
                 LIMIT $3
             ) l ON true",
            &[
                &after.transaction.to_string(),
                &i64::try_from(after.entry).unwrap_or(i64::MAX),
                &i64::from(limit),
            ],
        )?;
        let mut horizon = 0;
        let mut entries = Vec::with_capacity(rows.len());
        for row in rows {
            horizon = parse_xid(row.get(0))?;
            let Some(xid) = row.get::<_, Option<&str>>(1) else {
                continue; // no entries: the horizon alone
            };
            let doc: &[u8] = row.get(3);
            entries.push(LogEntry {
                at: LogCursor {
                    transaction: parse_xid(xid)?,
                    entry: entry_number(row.get(2))?,
                },
                doc: doc
                    .try_into()
                    .map_err(|_| Error::Corrupt("a log entry's document id is damaged".into()))?,
                origin: row.get(4),
                changes: row.get(5),
                heads: row.get(6),
            });
        }
        Ok(LogRead { entries, horizon })
    }

    /// How many committed entries cannot be read yet because an older
    /// writing transaction is still running (the horizon's lag, for
    /// `/metrics`).
    pub fn waiting_behind_horizon(client: &mut impl GenericClient) -> Result<u64> {
        let row = client.query_one(
            "SELECT count(*) FROM relay_log
             WHERE xid >= pg_snapshot_xmin(pg_current_snapshot())",
            &[],
        )?;
        u64::try_from(row.get::<_, i64>(0)).map_err(|_| Error::Corrupt("a negative count".into()))
    }
}

fn parse_xid(text: &str) -> Result<u64> {
    text.parse()
        .map_err(|_| Error::Corrupt(format!("'{text}' is not a transaction id")))
}

fn entry_number(n: i64) -> Result<u64> {
    u64::try_from(n).map_err(|_| Error::Corrupt(format!("log entry number {n} is negative")))
}
