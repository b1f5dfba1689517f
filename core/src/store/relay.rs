//! The relay's embedded store on SQLite: each document as a snapshot plus the
//! log entries after it, and the log itself, which is what devices sync from.

use std::path::Path;

use automerge::ChangeHash;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::schema::{self, Migration};
use super::{decode_heads, encode_heads};
use crate::content::Content;
use crate::document::Document;
use crate::error::{Error, Result};
use crate::ids::DocId;
use crate::order::OpenOrder;
use crate::signing::{ChangeSignature, decode_signatures, encode_signatures};
use crate::sync::{Accepted, LogEntry, RelayStore, Scope};

/// Log entries per document before its snapshot is rewritten.
const COMPACT_AFTER_CHUNKS: i64 = 64;

const MIGRATIONS: &[Migration] = &[
    Migration {
        sql: "
        CREATE TABLE relay_documents (
            id BLOB PRIMARY KEY,
            kind TEXT NOT NULL,
            owner TEXT NOT NULL,
            region TEXT,
            snapshot BLOB NOT NULL,
            snapshot_seq INTEGER NOT NULL,
            chunks INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE relay_log (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            doc BLOB NOT NULL REFERENCES relay_documents(id),
            origin TEXT NOT NULL,
            changes BLOB NOT NULL,
            heads BLOB NOT NULL,
            at_ms INTEGER NOT NULL
        );
        CREATE INDEX relay_log_by_doc ON relay_log(doc, seq);
    ",
        backfill: None,
    },
    // 2: find a salesperson's or a region's documents without reading the log.
    Migration {
        sql: "
        CREATE INDEX relay_documents_by_owner ON relay_documents(owner);
        CREATE INDEX relay_documents_by_region ON relay_documents(region);
        CREATE INDEX relay_documents_by_kind ON relay_documents(kind);
    ",
        backfill: None,
    },
    // 3: what each order contributes to its customer's credit exposure, for
    // the credit checks of approvals and shipments that arrive by sync.
    Migration {
        sql: "
        CREATE TABLE relay_order_credit (
            order_id BLOB PRIMARY KEY REFERENCES relay_documents(id),
            customer BLOB NOT NULL,
            stage TEXT NOT NULL,
            unpaid TEXT NOT NULL
        );
        CREATE INDEX relay_order_credit_by_customer ON relay_order_credit(customer);
    ",
        backfill: Some(backfill_order_credit),
    },
    // 4: each entry's changes travel with their authors' signatures.
    Migration {
        sql: "ALTER TABLE relay_log ADD COLUMN signatures BLOB NOT NULL DEFAULT x'';",
        backfill: None,
    },
    // 5: the database's identity, sent to devices with every answer.
    Migration {
        sql: "CREATE TABLE relay_identity (id BLOB NOT NULL);",
        backfill: Some(make_identity),
    },
    // 6: the catalog's product codes, for the check that an order's lines
    // are for products the company sells.
    Migration {
        sql: "CREATE TABLE relay_products (code TEXT PRIMARY KEY);",
        backfill: Some(backfill_products),
    },
    // 7: documents filed under another salesperson or region (a customer
    // reassigned, with its orders, visits and complaints): the log entry
    // that moved each one and where it was, so the devices it left are told.
    Migration {
        sql: "CREATE TABLE relay_departures (
                  seq INTEGER NOT NULL, doc BLOB NOT NULL,
                  owner TEXT NOT NULL, region TEXT, at_ms INTEGER NOT NULL
              );
              CREATE INDEX relay_departures_by_seq ON relay_departures(seq);
              CREATE INDEX relay_departures_by_doc ON relay_departures(doc, owner);",
        backfill: None,
    },
];

/// Fills `relay_products` from the catalog an older relay holds.
fn backfill_products(conn: &Connection) -> Result<()> {
    let ids: Vec<Vec<u8>> = conn
        .prepare("SELECT id FROM relay_documents WHERE kind = 'catalog'")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for id in ids {
        let doc = load_from(conn, id_from(&id)?)?;
        if let Some(Content::Catalog(c)) = doc.map(|d| d.content()).transpose()? {
            write_products(conn, &c)?;
        }
    }
    Ok(())
}

/// Brings `relay_products` up to date with the catalog `c`.
fn write_products(conn: &Connection, c: &crate::Catalog) -> Result<()> {
    conn.execute("DELETE FROM relay_products", [])?;
    let mut insert = conn.prepare_cached("INSERT INTO relay_products (code) VALUES (?1)")?;
    for code in c.products.keys() {
        insert.execute([code])?;
    }
    Ok(())
}

/// Gives the database its identity.
fn make_identity(conn: &Connection) -> Result<()> {
    let mut id = [0u8; 16];
    getrandom::fill(&mut id)
        .map_err(|e| Error::Store(format!("no randomness for the relay's identity ({e})")))?;
    conn.execute("INSERT INTO relay_identity (id) VALUES (?1)", [id.to_vec()])?;
    Ok(())
}

/// Fills `relay_order_credit` from the orders an older relay holds.
fn backfill_order_credit(conn: &Connection) -> Result<()> {
    let ids: Vec<Vec<u8>> = conn
        .prepare("SELECT id FROM relay_documents WHERE kind = 'order'")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for id in ids {
        let doc = load_from(conn, id_from(&id)?)?;
        if let Some(Content::Order(o)) = doc.map(|d| d.content()).transpose()? {
            write_order_credit(conn, &o)?;
        }
    }
    Ok(())
}

/// Brings an order's row of `relay_order_credit` up to date.
fn write_order_credit(conn: &Connection, order: &crate::Order) -> Result<()> {
    let open = OpenOrder::of(order);
    conn.prepare_cached(
        "INSERT INTO relay_order_credit (order_id, customer, stage, unpaid) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (order_id) DO UPDATE SET customer = ?2, stage = ?3, unpaid = ?4",
    )?
    .execute(params![
        open.order.as_uuid().as_bytes().to_vec(),
        open.customer.as_uuid().as_bytes().to_vec(),
        open.stage.as_str(),
        open.unpaid.to_string(),
    ])?;
    Ok(())
}

/// Loads a document from its snapshot and the log entries after it.
fn load_from(conn: &Connection, id: DocId) -> Result<Option<Document>> {
    let key = id.as_uuid().as_bytes().to_vec();
    let row: Option<(Vec<u8>, i64)> = conn
        .prepare_cached("SELECT snapshot, snapshot_seq FROM relay_documents WHERE id = ?1")?
        .query_row([&key], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((snapshot, since)) = row else {
        return Ok(None);
    };
    let chunks: Vec<Vec<u8>> = conn
        .prepare_cached("SELECT changes FROM relay_log WHERE doc = ?1 AND seq > ?2 ORDER BY seq")?
        .query_map(params![key, since], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Document::load_parts(&snapshot, chunks.iter().map(Vec::as_slice)).map(Some)
}

/// Writes derived rows (the head-office tables) for each accepted document,
/// inside the transaction that stores the document.
pub trait Projection: Send {
    /// Brings the rows derived from a document up to date, from its content
    /// after the accepted change.
    fn project(&self, conn: &Connection, content: &Content) -> Result<()>;
}

/// The relay's documents and log in a SQLite file.
pub struct SqliteRelayStore {
    conn: Connection,
    projection: Option<Box<dyn Projection>>,
}

impl std::fmt::Debug for SqliteRelayStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteRelayStore").finish_non_exhaustive()
    }
}

impl SqliteRelayStore {
    /// Opens (or creates) the relay store at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let mut conn = schema::open(path)?;
        // The relay reads documents and the log all day: keep up to 32 MB of
        // pages in memory rather than SQLite's default 2 MB.
        conn.pragma_update(None, "cache_size", -32_768)?;
        // Every sync runs the same few dozen statements (the relay's and the
        // head-office projection's): prepare each once.
        conn.set_prepared_statement_cache_capacity(64);
        schema::migrate(&mut conn, "relay", MIGRATIONS)?;
        Ok(SqliteRelayStore {
            conn,
            projection: None,
        })
    }

    /// A relay store in memory (for tests and benchmarks).
    pub fn open_in_memory() -> Result<Self> {
        let mut conn = Connection::open_in_memory()?;
        schema::configure(&conn)?;
        schema::migrate(&mut conn, "relay", MIGRATIONS)?;
        Ok(SqliteRelayStore {
            conn,
            projection: None,
        })
    }

    /// Adds a projection run for every accepted document, in its transaction.
    pub fn with_projection(mut self, projection: Box<dyn Projection>) -> Self {
        self.projection = Some(projection);
        self
    }

    /// The database connection, for the tables that live beside the relay's.
    pub fn connection(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// The number of documents the relay holds.
    pub fn document_count(&self) -> Result<u64> {
        Ok(self
            .conn
            .query_row("SELECT count(*) FROM relay_documents", [], |r| r.get(0))?)
    }

    /// Every document id the relay holds.
    pub fn ids(&self) -> Result<Vec<DocId>> {
        self.conn
            .prepare("SELECT id FROM relay_documents ORDER BY id")?
            .query_map([], |r| r.get::<_, Vec<u8>>(0))?
            .map(|b| id_from(&b?))
            .collect()
    }
}

/// How many entries a device may be behind for its sync to read the log from
/// its cursor on; further behind, a salesperson's or manager's sync reads
/// through their documents instead.
const READ_LOG_FROM_CURSOR_UP_TO: u64 = 2_000;

/// The query reading the log after a cursor (`?1`, at most `?2` entries) for
/// `scope`, and its `?3`. Two ways to find the entries: from the cursor on,
/// filtering by scope (costs what everyone synced since the cursor: right for
/// head office and for a device that synced recently), or through the
/// documents in scope, found by index, into each one's entries after the
/// cursor (costs what they may see: right for a salesperson far behind on a
/// busy relay).
fn log_query(scope: &Scope, behind: u64) -> (String, Option<&str>) {
    let (filter, value) = match scope {
        Scope::All => ("?3 IS NULL", None),
        Scope::Owner(o) => ("(d.owner = ?3 OR d.kind = 'catalog')", Some(o.as_str())),
        Scope::Region(r) => (
            "(d.region = ?3 OR d.region IS NULL OR d.kind = 'catalog')",
            Some(r.as_str()),
        ),
    };
    // CROSS JOIN keeps SQLite to the table order given.
    let from = if *scope == Scope::All || behind <= READ_LOG_FROM_CURSOR_UP_TO {
        "relay_log l CROSS JOIN relay_documents d ON d.id = l.doc"
    } else {
        "relay_documents d CROSS JOIN relay_log l ON l.doc = d.id"
    };
    let sql = format!(
        "SELECT l.seq, l.doc, d.kind, d.owner, d.region, l.changes, l.heads, l.signatures
         FROM {from} WHERE l.seq > ?1 AND {filter} ORDER BY l.seq LIMIT ?2"
    );
    (sql, value)
}

fn id_from(bytes: &[u8]) -> Result<DocId> {
    uuid::Uuid::from_slice(bytes)
        .map(DocId::from)
        .map_err(|_| Error::Store("a stored document id is damaged".into()))
}

impl RelayStore for SqliteRelayStore {
    fn load(&mut self, id: DocId) -> Result<Option<Document>> {
        load_from(&self.conn, id)
    }

    fn signatures_of(&mut self, id: DocId) -> Result<Vec<ChangeSignature>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT signatures FROM relay_log WHERE doc = ?1 ORDER BY seq")?;
        let rows = stmt.query_map([id.as_uuid().as_bytes().to_vec()], |r| {
            r.get::<_, Vec<u8>>(0)
        })?;
        let mut out = Vec::new();
        for row in rows {
            out.extend(decode_signatures(&row?)?);
        }
        Ok(out)
    }

    fn unknown_products(&mut self, codes: &[&str]) -> Result<Vec<String>> {
        let any: Option<i64> = self
            .conn
            .prepare_cached("SELECT 1 FROM relay_products LIMIT 1")?
            .query_row([], |r| r.get(0))
            .optional()?;
        if any.is_none() {
            return Ok(Vec::new());
        }
        let mut known = self
            .conn
            .prepare_cached("SELECT 1 FROM relay_products WHERE code = ?1")?;
        let mut unknown = Vec::new();
        for code in codes {
            if !known.exists([code])? {
                unknown.push((*code).to_string());
            }
        }
        Ok(unknown)
    }

    fn orders_of(&mut self, customer: DocId) -> Result<Vec<OpenOrder>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT order_id, stage, unpaid FROM relay_order_credit WHERE customer = ?1",
        )?;
        let rows = stmt.query_map([customer.as_uuid().as_bytes().to_vec()], |r| {
            Ok((
                r.get::<_, Vec<u8>>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        rows.map(|row| {
            let (order, stage, unpaid) = row?;
            let damaged = || Error::Store("a stored credit figure is damaged".into());
            Ok(OpenOrder {
                order: id_from(&order)?,
                customer,
                stage: crate::OrderStatus::parse(&stage).ok_or_else(damaged)?,
                unpaid: unpaid.parse().map_err(|_| damaged())?,
            })
        })
        .collect()
    }

    fn commit(&mut self, accepted: &mut [Accepted]) -> Result<Vec<u64>> {
        let tx = self.conn.transaction()?;
        let now = Utc::now().timestamp_millis();
        let mut seqs = Vec::with_capacity(accepted.len());
        for a in accepted.iter_mut() {
            let (origin, changes, content) = (&a.origin, &a.changes, &a.content);
            let signatures = encode_signatures(&a.signatures);
            let doc = &mut a.doc;
            let key = doc.id().as_uuid().as_bytes().to_vec();
            let meta = doc.meta().clone();
            let heads = encode_heads(&doc.heads());
            let stored: Option<(i64, String, Option<String>)> = tx
                .prepare_cached("SELECT chunks, owner, region FROM relay_documents WHERE id = ?1")?
                .query_row([&key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()?;
            let chunks = stored.as_ref().map(|s| s.0);
            let log = |tx: &rusqlite::Transaction<'_>| -> Result<i64> {
                tx.prepare_cached(
                    "INSERT INTO relay_log (doc, origin, changes, heads, at_ms, signatures)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![key, origin, changes, heads, now, signatures])?;
                Ok(tx.last_insert_rowid())
            };
            let seq = match chunks {
                // A new document: its first log entry is all there is of it
                // (no snapshot until it has enough entries to compact). The
                // row comes first, as the entry refers to it.
                None => {
                    tx.prepare_cached(
                        "INSERT INTO relay_documents (id, kind, owner, region, snapshot, snapshot_seq, chunks)
                         VALUES (?1, ?2, ?3, ?4, x'', 0, 1)",
                    )?
                    .execute(params![key, meta.kind, meta.owner, meta.region])?;
                    log(&tx)?
                }
                Some(n) if n + 1 < COMPACT_AFTER_CHUNKS => {
                    let seq = log(&tx)?;
                    tx.prepare_cached(
                        "UPDATE relay_documents SET owner = ?2, region = ?3, chunks = chunks + 1 WHERE id = ?1",
                    )?
                    .execute(params![key, meta.owner, meta.region])?;
                    seq
                }
                Some(_) => {
                    let seq = log(&tx)?;
                    tx.prepare_cached(
                        "UPDATE relay_documents SET owner = ?2, region = ?3, snapshot = ?4,
                           snapshot_seq = ?5, chunks = 0 WHERE id = ?1",
                    )?
                    .execute(params![
                        key,
                        meta.owner,
                        meta.region,
                        doc.save(),
                        seq
                    ])?;
                    seq
                }
            };
            if let Some((_, owner, region)) = &stored
                && (*owner != meta.owner || *region != meta.region)
            {
                tx.prepare_cached(
                    "INSERT INTO relay_departures (seq, doc, owner, region, at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![seq, key, owner, region, now])?;
            }
            match content {
                Content::Order(o) => write_order_credit(&tx, o)?,
                Content::Catalog(c) => write_products(&tx, c)?,
                _ => {}
            }
            if let Some(p) = &self.projection {
                p.project(&tx, content)?;
            }
            seqs.push(u64::try_from(seq).unwrap_or_default());
        }
        tx.commit()?;
        Ok(seqs)
    }

    fn identity(&mut self) -> Result<[u8; 16]> {
        let id: Vec<u8> = self
            .conn
            .query_row("SELECT id FROM relay_identity", [], |r| r.get(0))?;
        id.try_into()
            .map_err(|_| Error::Store("the relay's identity is damaged".into()))
    }

    fn entry_heads(&mut self, seq: u64) -> Result<Option<Vec<ChangeHash>>> {
        let seq = i64::try_from(seq).unwrap_or(i64::MAX);
        let heads: Option<Vec<u8>> = self
            .conn
            .prepare_cached("SELECT heads FROM relay_log WHERE seq = ?1")?
            .query_row([seq], |r| r.get(0))
            .optional()?;
        heads.map(|h| decode_heads(&h)).transpose()
    }

    fn last_seq(&mut self) -> Result<u64> {
        let seq: i64 =
            self.conn
                .query_row("SELECT coalesce(max(seq), 0) FROM relay_log", [], |r| {
                    r.get(0)
                })?;
        Ok(u64::try_from(seq).unwrap_or_default())
    }

    fn departures_after(&mut self, cursor: u64, upto: u64, scope: &Scope) -> Result<Vec<DocId>> {
        let (filter, value) = match scope {
            Scope::All => return Ok(Vec::new()),
            Scope::Owner(o) => ("m.owner = ?3 AND d.owner != ?3", o),
            Scope::Region(r) => (
                "m.region = ?3 AND d.region IS NOT NULL AND d.region != ?3",
                r,
            ),
        };
        let sql = format!(
            "SELECT DISTINCT m.doc FROM relay_departures m JOIN relay_documents d ON d.id = m.doc
             WHERE m.seq > ?1 AND m.seq <= ?2 AND {filter}"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(
            params![
                i64::try_from(cursor).unwrap_or(i64::MAX),
                i64::try_from(upto).unwrap_or(i64::MAX),
                value
            ],
            |r| r.get::<_, Vec<u8>>(0),
        )?;
        rows.map(|b| id_from(&b?)).collect()
    }

    fn moved_away_at(&mut self, id: DocId, from: &Scope) -> Result<Option<DateTime<Utc>>> {
        let (column, value) = match from {
            Scope::All => return Ok(None),
            Scope::Owner(o) => ("owner", o),
            Scope::Region(r) => ("region", r),
        };
        let at: Option<i64> = self
            .conn
            .prepare_cached(&format!(
                "SELECT max(at_ms) FROM relay_departures WHERE doc = ?1 AND {column} = ?2"
            ))?
            .query_row(params![id.as_uuid().as_bytes().to_vec(), value], |r| {
                r.get(0)
            })?;
        Ok(at.and_then(DateTime::from_timestamp_millis))
    }

    fn log_after(&mut self, cursor: u64, limit: usize, scope: &Scope) -> Result<Vec<LogEntry>> {
        let behind = self.last_seq()?.saturating_sub(cursor);
        let (sql, value) = log_query(scope, behind);
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let cursor = i64::try_from(cursor).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt.query_map(params![cursor, limit, value], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Vec<u8>>(5)?,
                r.get::<_, Vec<u8>>(6)?,
                r.get::<_, Vec<u8>>(7)?,
            ))
        })?;
        rows.map(|row| {
            let (seq, doc, kind, owner, region, changes, heads, signatures) = row?;
            Ok(LogEntry {
                seq: u64::try_from(seq).unwrap_or_default(),
                doc: id_from(&doc)?,
                kind,
                owner,
                region,
                changes,
                heads: decode_heads(&heads)?,
                signatures: decode_signatures(&signatures)?,
            })
        })
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(store: &SqliteRelayStore, scope: &Scope, behind: u64) -> String {
        let (sql, value) = log_query(scope, behind);
        let mut stmt = store
            .conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap();
        let rows = stmt
            .query_map(params![0, 10, value], |r| r.get::<_, String>(3))
            .unwrap();
        rows.map(|r| r.unwrap()).collect::<Vec<_>>().join("\n")
    }

    #[test]
    fn a_document_reads_back_the_same_from_its_first_entry_through_compaction() {
        use crate::testing::*;
        let mut store = SqliteRelayStore::open_in_memory().unwrap();
        let c = customer("1000", crate::PaymentTerms::Credit)
            .read()
            .unwrap();
        let (mut o, line) = draft_order(&c);
        let mut heads = Vec::new();
        for i in 0..(COMPACT_AFTER_CHUNKS + 5) {
            if i > 0 {
                o.set_quantity(&sales(), &line, rust_decimal::Decimal::from(i))
                    .unwrap();
            }
            let doc = o.document();
            let changes = doc.save_after(&heads);
            heads = doc.heads();
            let accepted = Accepted {
                origin: "phone".into(),
                doc: doc.fork(),
                changes,
                content: doc.content().unwrap(),
                before: None,
                signatures: Vec::new(),
                verified: false,
            };
            store.commit(&mut [accepted]).unwrap();
            let mut loaded = store.load(doc.id()).unwrap().unwrap();
            assert_eq!(loaded.heads(), heads, "after entry {i}");
            assert_eq!(loaded.view::<crate::Order>().unwrap(), o.read().unwrap());
        }
        let (snapshot, chunks): (Vec<u8>, i64) = store
            .conn
            .query_row("SELECT snapshot, chunks FROM relay_documents", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert!(!snapshot.is_empty(), "compacted into a snapshot");
        assert_eq!(chunks, 5, "entries since the snapshot");
    }

    #[test]
    fn a_sync_far_behind_reads_through_its_documents_and_a_recent_one_from_its_cursor() {
        let store = SqliteRelayStore::open_in_memory().unwrap();
        let far = READ_LOG_FROM_CURSOR_UP_TO + 1;
        for scope in [Scope::Owner("x".into()), Scope::Region("x".into())] {
            let plan = plan(&store, &scope, far);
            assert!(plan.contains("USING INDEX relay_documents_by_"), "{plan}");
            assert!(plan.contains("USING INDEX relay_log_by_doc"), "{plan}");
            assert!(!plan.contains("SCAN l"), "{plan}");
            let plan = super::tests::plan(&store, &scope, 10);
            assert!(
                plan.starts_with("SEARCH l USING INTEGER PRIMARY KEY (rowid>?)"),
                "{plan}"
            );
        }
        let plan = plan(&store, &Scope::All, far);
        assert!(
            plan.starts_with("SEARCH l USING INTEGER PRIMARY KEY (rowid>?)"),
            "{plan}"
        );
    }

    #[test]
    fn both_ways_of_reading_the_log_find_the_same_entries() {
        use crate::testing::*;
        let mut store = SqliteRelayStore::open_in_memory().unwrap();
        // Documents of two salespeople in two regions, interleaved in the log.
        let mut docs = Vec::new();
        let west = ctx("zhao", crate::Role::Salesperson, Some("west"), "phone-zhao");
        for (n, who) in [sales(), sales_b(), west].iter().enumerate() {
            for _ in 0..3 {
                let mut c =
                    crate::CustomerDoc::create_prospect(who, &format!("Shop {n}"), "").unwrap();
                docs.push(c.document().fork());
            }
        }
        let mut accepted: Vec<Accepted> = docs
            .iter_mut()
            .map(|d| Accepted {
                origin: "phone".into(),
                changes: d.save(),
                content: d.content().unwrap(),
                doc: d.fork(),
                before: None,
                signatures: Vec::new(),
                verified: false,
            })
            .collect();
        store.commit(&mut accepted).unwrap();
        let scopes = [
            Scope::Owner("li".into()),
            Scope::Region("east".into()),
            Scope::Region("west".into()),
            Scope::All,
        ];
        for scope in scopes {
            for cursor in [0, 4] {
                let read = |store: &mut SqliteRelayStore, behind: u64| {
                    let (sql, value) = log_query(&scope, behind);
                    let mut stmt = store.conn.prepare(&sql).unwrap();
                    stmt.query_map(params![cursor, 100, value], |r| r.get::<_, i64>(0))
                        .unwrap()
                        .map(|r| r.unwrap())
                        .collect::<Vec<_>>()
                };
                let from_cursor = read(&mut store, 0);
                let through_documents = read(&mut store, u64::MAX);
                assert_eq!(from_cursor, through_documents, "{scope:?} after {cursor}");
                assert!(!from_cursor.is_empty() || cursor == 4, "{scope:?}");
            }
        }
    }
}
