//! The phone's local store: every document the device holds, an index for the
//! app's lists, the sync bookkeeping (what the relay is known to hold, what is
//! pending upload, what was refused) and the device's identity.

use std::cell::OnceCell;
use std::path::Path;

use automerge::ChangeHash;
use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::index::{IndexEntry, index_entry};
use super::open_docs::{DEFAULT_BUDGET, OpenDocuments};
use super::schema::{self, Migration};
use super::{decode_heads, encode_heads};
use crate::actor::{Actor, Role};
use crate::document::{DocKind, Document, View};
use crate::error::{Error, Result};
use crate::ids::DocId;
use crate::order::{OrderNumber, OrderPrefix};
use crate::signing::{ChangeSignature, DeviceKey, DevicePublicKey};
use crate::sync::wire::LogMark;
use crate::zone::BusinessZone;

/// Incremental change chunks kept per document before it is compacted into a
/// new snapshot.
const COMPACT_AFTER_CHUNKS: i64 = 32;

const MIGRATIONS: &[Migration] = &[
    // 1: documents as snapshot + incremental changes, and device settings.
    Migration {
        sql: "
            CREATE TABLE documents (
                id BLOB PRIMARY KEY,
                kind TEXT NOT NULL,
                snapshot BLOB NOT NULL,
                heads BLOB NOT NULL,
                chunks INTEGER NOT NULL DEFAULT 0
            );
            CREATE TABLE doc_changes (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                doc BLOB NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
                bytes BLOB NOT NULL
            );
            CREATE INDEX doc_changes_by_doc ON doc_changes(doc, seq);
            CREATE TABLE settings (key TEXT PRIMARY KEY, value BLOB NOT NULL);
        ",
        backfill: None,
    },
    // 2: the list index and the sync bookkeeping, filled in for existing documents.
    Migration {
        sql: "
            CREATE TABLE doc_index (
                id BLOB PRIMARY KEY REFERENCES documents(id) ON DELETE CASCADE,
                kind TEXT NOT NULL,
                owner TEXT NOT NULL,
                region TEXT,
                customer BLOB,
                status TEXT NOT NULL,
                number TEXT,
                title TEXT NOT NULL,
                total TEXT,
                at_ms INTEGER NOT NULL
            );
            CREATE INDEX doc_index_kind_at ON doc_index(kind, at_ms);
            CREATE INDEX doc_index_kind_status ON doc_index(kind, status);
            CREATE TABLE sync_state (
                id BLOB PRIMARY KEY REFERENCES documents(id) ON DELETE CASCADE,
                relay_heads BLOB NOT NULL,
                pending INTEGER NOT NULL,
                refused TEXT
            );
            CREATE INDEX sync_state_pending ON sync_state(pending) WHERE pending = 1;
        ",
        backfill: Some(backfill_index_and_sync_state),
    },
    // 3: the signatures of the changes this device holds (its own, signed
    // when saved, and others', as the relay sent them).
    Migration {
        sql: "
            CREATE TABLE change_signatures (
                change BLOB PRIMARY KEY,
                signature BLOB NOT NULL
            );
        ",
        backfill: None,
    },
    // 4: documents the relay said are no longer this device's (their
    // customer went to another salesperson), kept until nothing of this
    // device's own in them is waiting to be sent.
    Migration {
        sql: "ALTER TABLE sync_state ADD COLUMN departed INTEGER NOT NULL DEFAULT 0;",
        backfill: None,
    },
    // 5: fewer pages written per edit: a document's change chunks and the
    // change signatures each in one b-tree keyed as they are read (no
    // rowid, no separate index, no AUTOINCREMENT counter to update).
    Migration {
        sql: "
            CREATE TABLE doc_chunks (
                doc BLOB NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
                n INTEGER NOT NULL,
                bytes BLOB NOT NULL,
                PRIMARY KEY (doc, n)
            ) WITHOUT ROWID;
            INSERT INTO doc_chunks (doc, n, bytes)
                SELECT doc, row_number() OVER (PARTITION BY doc ORDER BY seq), bytes
                FROM doc_changes;
            UPDATE documents SET chunks = (SELECT count(*) FROM doc_chunks WHERE doc = documents.id);
            DROP TABLE doc_changes;
            CREATE TABLE signatures_by_change (
                change BLOB PRIMARY KEY,
                signature BLOB NOT NULL
            ) WITHOUT ROWID;
            INSERT INTO signatures_by_change (change, signature)
                SELECT change, signature FROM change_signatures;
            DROP TABLE change_signatures;
            ALTER TABLE signatures_by_change RENAME TO change_signatures;
        ",
        backfill: None,
    },
];

/// Version 1 stores had no sync bookkeeping: index every document and treat it
/// as not yet on the relay (the relay ignores what it already has).
fn backfill_index_and_sync_state(conn: &Connection) -> Result<()> {
    let ids: Vec<Vec<u8>> = conn
        .prepare("SELECT id FROM documents")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for id in ids {
        // Chunks were still kept the version-1 way (migration 5 moved them).
        let mut doc = load_doc_from(
            conn,
            &id,
            "SELECT bytes FROM doc_changes WHERE doc = ?1 ORDER BY seq",
        )?;
        write_index(conn, &doc)?;
        let heads = doc.heads();
        set_sync_state(conn, doc.id(), &[], !heads.is_empty())?;
    }
    Ok(())
}

/// Who this device is, as issued at enrollment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceIdentity {
    /// The device's id.
    pub device_id: String,
    /// The user it belongs to.
    pub user: String,
    /// The user's role.
    pub role: Role,
    /// The user's region.
    pub region: Option<String>,
    /// The order-number prefix issued to this device.
    pub order_prefix: OrderPrefix,
    /// The company's time zone: the business date of orders made here.
    pub time_zone: BusinessZone,
}

impl DeviceIdentity {
    /// The identity of a device used by `actor`, numbering orders with `prefix`.
    pub fn of(actor: &Actor, order_prefix: OrderPrefix) -> DeviceIdentity {
        DeviceIdentity {
            device_id: actor.device().to_string(),
            user: actor.user().to_string(),
            role: actor.role(),
            region: actor.region().map(str::to_string),
            order_prefix,
            time_zone: BusinessZone::default(),
        }
    }

    /// The actor for changes made on this device.
    pub fn actor(&self) -> Result<Actor> {
        Actor::new(
            &self.user,
            self.role,
            self.region.as_deref(),
            &self.device_id,
        )
    }
}

/// A document whose last upload the relay refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedDoc {
    /// What the list shows of it.
    pub entry: IndexEntry,
    /// The relay's reason.
    pub reason: String,
}

/// The phone's local store.
///
/// The documents the app works on stay loaded between its calls (see
/// [`DeviceStore::open_document`] and [`DeviceStore::keep`]), within a
/// memory budget; what is stored on disk is always the truth.
#[derive(Debug)]
pub struct DeviceStore {
    conn: Connection,
    open: OpenDocuments,
    /// The device's signing key and id, read once (signing every save).
    signer: Option<(DeviceKey, String)>,
    /// The device's identity, read once (every edit is made as it).
    identity: OnceCell<Option<DeviceIdentity>>,
    /// The document saved last and its heads: keeping it open needs no
    /// look at the store.
    last_saved: Option<(DocId, Vec<ChangeHash>)>,
}

impl DeviceStore {
    /// Opens (or creates) the store at `path`, migrating an older one.
    pub fn open(path: &Path) -> Result<Self> {
        let mut conn = schema::open(path)?;
        schema::migrate(&mut conn, "device", MIGRATIONS)?;
        Ok(Self::with(conn))
    }

    /// Opens a store in memory (for tests and tools).
    pub fn open_in_memory() -> Result<Self> {
        let mut conn = Connection::open_in_memory()?;
        schema::configure(&conn)?;
        schema::migrate(&mut conn, "device", MIGRATIONS)?;
        Ok(Self::with(conn))
    }

    fn with(conn: Connection) -> Self {
        DeviceStore {
            conn,
            open: OpenDocuments::new(DEFAULT_BUDGET),
            signer: None,
            identity: OnceCell::new(),
            last_saved: None,
        }
    }

    #[cfg(test)]
    pub(crate) fn open_at_version(path: &Path, version: usize) -> Result<Self> {
        let mut conn = schema::open(path)?;
        schema::migrate(&mut conn, "device", &MIGRATIONS[..version])?;
        Ok(Self::with(conn))
    }

    /// Sets how much memory the documents kept open may take (by
    /// [`Document::memory_estimate`]); 16 MiB unless set.
    pub fn set_open_budget(&mut self, bytes: usize) {
        self.open = OpenDocuments::new(bytes);
    }

    /// The device's identity, once enrolled.
    pub fn identity(&self) -> Result<Option<DeviceIdentity>> {
        if let Some(known) = self.identity.get() {
            return Ok(known.clone());
        }
        let read = read_identity(&self.conn)?;
        Ok(self.identity.get_or_init(|| read).clone())
    }

    /// Records the device's identity (at enrollment).
    pub fn set_identity(&mut self, id: &DeviceIdentity) -> Result<()> {
        id.actor()?; // the fields must make a valid actor
        self.signer = None;
        self.identity = OnceCell::new();
        let text = [
            id.device_id.as_str(),
            &id.user,
            id.role.as_str(),
            id.region.as_deref().unwrap_or(""),
            id.order_prefix.as_str(),
            id.time_zone.name(),
        ]
        .join("\n");
        set_setting(&self.conn, "identity", text.as_bytes())
    }

    /// The public half of this device's signing key, made (and kept in the
    /// store) the first time it is asked for: enrollment sends it to the
    /// relay, and every change this device makes from then on is signed.
    ///
    /// A store made before changes were signed gets its key here too: the
    /// changes this device made earlier are signed then, so they can still
    /// be sent.
    pub fn device_key(&mut self) -> Result<DevicePublicKey> {
        if let Some(key) = signing_key(&self.conn)? {
            return Ok(key.public());
        }
        let key = DeviceKey::generate()?;
        self.signer = None;
        let tx = self.conn.transaction()?;
        set_setting(&tx, "signing_key", &key.to_bytes())?;
        let ids: Vec<Vec<u8>> = tx
            .prepare("SELECT id FROM documents")?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let signer = read_signer(&tx)?;
        for id in ids {
            let mut doc = load_doc(&tx, &id)?;
            sign_own_changes(&tx, signer.as_ref(), &mut doc, &[])?;
        }
        tx.commit()?;
        Ok(key.public())
    }

    /// Does this device have its signing key yet?
    pub fn has_device_key(&self) -> Result<bool> {
        Ok(signing_key(&self.conn)?.is_some())
    }

    /// Remembers the relay this device syncs with and its device token.
    pub fn set_relay(&mut self, url: &str, token: &str) -> Result<()> {
        set_setting(&self.conn, "relay_url", url.as_bytes())?;
        set_setting(&self.conn, "relay_token", token.as_bytes())
    }

    /// The relay's URL and this device's token, once enrolled.
    pub fn relay(&self) -> Result<Option<(String, String)>> {
        let text = |b: Vec<u8>| {
            String::from_utf8(b).map_err(|_| Error::Store("relay settings are damaged".into()))
        };
        match (
            get_setting(&self.conn, "relay_url")?,
            get_setting(&self.conn, "relay_token")?,
        ) {
            (Some(u), Some(t)) => Ok(Some((text(u)?, text(t)?))),
            _ => Ok(None),
        }
    }

    /// Every document of `kind` in the index, as lists show them.
    pub fn list_kind(&self, kind: DocKind) -> Result<Vec<IndexEntry>> {
        self.list("kind = ?1 ORDER BY title, at_ms", [kind.as_str()])
    }

    /// The company's business date at instant `at` (in the time zone the
    /// relay gave at enrollment): the date order numbers carry.
    pub fn business_date(&self, at: DateTime<Utc>) -> Result<NaiveDate> {
        let zone = self.identity()?.map(|i| i.time_zone).unwrap_or_default();
        Ok(zone.date_at(at))
    }

    /// Mints the next order number for `date` on this device. Numbers are never
    /// reused, even if the order is discarded.
    pub fn next_order_number(&mut self, date: NaiveDate) -> Result<OrderNumber> {
        let prefix = self.order_prefix()?;
        let tx = self.conn.transaction()?;
        let number = mint_order_number(&tx, &prefix, date)?;
        tx.commit()?;
        Ok(number)
    }

    fn order_prefix(&self) -> Result<OrderPrefix> {
        Ok(self
            .identity()?
            .ok_or(Error::Required(
                "an enrolled device (its order number prefix)",
            ))?
            .order_prefix)
    }

    /// Saves a document created or edited on this device: its new changes are
    /// stored, its index entry updated, and it is pending upload.
    /// The device's own new changes are signed with its key.
    ///
    /// Only what changed is written: the new changes (not the document), and
    /// the list entry only if a field lists show changed. One durable commit.
    pub fn save(&mut self, doc: &mut Document) -> Result<()> {
        self.read_signer_once()?;
        // An open copy would no longer be what is stored.
        self.open.take(doc.id());
        self.last_saved = None;
        let tx = self.conn.transaction()?;
        save_in(&tx, self.signer.as_ref(), doc)?;
        tx.commit()?;
        self.last_saved = Some((doc.id(), sorted(doc.heads())));
        Ok(())
    }

    /// Mints the next order number for `date` and saves the order `make`
    /// builds with it, in one durable commit (see [`DeviceStore::save`] and
    /// [`DeviceStore::next_order_number`]).
    pub fn save_numbered(
        &mut self,
        date: NaiveDate,
        make: impl FnOnce(OrderNumber) -> Result<Document>,
    ) -> Result<Document> {
        self.read_signer_once()?;
        let prefix = self.order_prefix()?;
        self.last_saved = None;
        let tx = self.conn.transaction()?;
        let number = mint_order_number(&tx, &prefix, date)?;
        let mut doc = make(number)?;
        save_in(&tx, self.signer.as_ref(), &mut doc)?;
        tx.commit()?;
        self.last_saved = Some((doc.id(), sorted(doc.heads())));
        Ok(doc)
    }

    /// Reads the signing key and device id once (enrollment and a new key
    /// forget them).
    fn read_signer_once(&mut self) -> Result<()> {
        if self.signer.is_none() {
            self.signer = read_signer(&self.conn)?;
        }
        Ok(())
    }

    /// Loads a document from the store (not from the open documents: for
    /// reading many documents once, e.g. a list's details).
    pub fn load(&self, id: DocId) -> Result<Document> {
        load_doc(&self.conn, id.as_uuid().as_bytes())
    }

    /// A document to edit: the open copy if there is one (taken out, so
    /// nothing else sees it half-edited), else loaded from the store. Give
    /// it back with [`DeviceStore::keep`] once it is saved.
    pub fn open_document(&mut self, id: DocId) -> Result<Document> {
        match self.open.take(id) {
            Some(doc) => Ok(doc),
            None => self.load(id),
        }
    }

    /// Keeps a document open for the next call. Only a document exactly as
    /// stored is kept (saved, or not edited since it was opened); any other
    /// is dropped, so the open copy never differs from the stored one.
    pub fn keep(&mut self, mut doc: Document) -> Result<()> {
        let heads = sorted(doc.heads());
        let as_stored = match &self.last_saved {
            Some((id, saved)) if *id == doc.id() => *saved == heads,
            _ => sorted(stored_heads(&self.conn, doc.id())?) == heads,
        };
        if as_stored {
            self.open.put(doc);
        }
        Ok(())
    }

    /// Reads document `id` as a `T` (e.g. an [`crate::Order`]), from the
    /// open copy when there is one; the document stays open after.
    pub fn view<T: View + Clone>(&mut self, id: DocId) -> Result<T> {
        if let Some(doc) = self.open.get(id) {
            return doc.view();
        }
        let doc = self.load(id)?;
        let view = doc.view()?;
        self.open.put(doc);
        Ok(view)
    }

    /// Does the store hold this document?
    pub fn contains(&self, id: DocId) -> Result<bool> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM documents WHERE id = ?1",
                [id_bytes(id)],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// Every document id, by kind.
    pub fn ids(&self, kind: DocKind) -> Result<Vec<DocId>> {
        self.conn
            .prepare("SELECT id FROM documents WHERE kind = ?1 ORDER BY id")?
            .query_map([kind.as_str()], |r| r.get::<_, Vec<u8>>(0))?
            .map(|b| doc_id(&b?))
            .collect()
    }

    /// Visits planned to start in `[from, to)`: give the bounds of "today" in
    /// the user's time zone to list today's visits.
    pub fn visits_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<IndexEntry>> {
        self.list(
            "kind = 'visit' AND at_ms >= ?1 AND at_ms < ?2 ORDER BY at_ms",
            params![from.timestamp_millis(), to.timestamp_millis()],
        )
    }

    /// Orders not yet settled, archived or cancelled, newest first.
    pub fn open_orders(&self) -> Result<Vec<IndexEntry>> {
        self.list(
            "kind = 'order' AND status NOT IN ('settled', 'archived', 'cancelled') ORDER BY at_ms DESC",
            [],
        )
    }

    /// What the orders on this device contribute to their customers' credit
    /// exposure (see [`crate::CreditExposure`]), as of the last sync; only
    /// the orders from approval to payment are read.
    pub fn credit_orders(&self) -> Result<Vec<crate::OpenOrder>> {
        let mut orders = Vec::new();
        for entry in self.list_kind(DocKind::Order)? {
            let counts = crate::OrderStatus::parse(&entry.status).is_some_and(|s| {
                crate::counts_toward_exposure(s) || s == crate::OrderStatus::ChangedAfterApproval
            });
            if counts {
                let order: crate::Order = self.load(entry.id)?.view()?;
                orders.push(crate::OpenOrder::of(&order));
            }
        }
        Ok(orders)
    }

    /// Orders waiting for a manager: submitted, or changed after approval.
    pub fn orders_awaiting_review(&self) -> Result<Vec<IndexEntry>> {
        self.list(
            "kind = 'order' AND status IN ('submitted', 'changed_after_approval') ORDER BY at_ms",
            [],
        )
    }

    /// Documents with changes the relay does not have yet.
    pub fn pending_upload(&self) -> Result<Vec<IndexEntry>> {
        self.list(
            "id IN (SELECT id FROM sync_state WHERE pending = 1) ORDER BY at_ms",
            [],
        )
    }

    /// How many documents have changes the relay does not have yet.
    pub fn pending_count(&self) -> Result<u64> {
        Ok(self.conn.query_row(
            "SELECT count(*) FROM sync_state WHERE pending = 1",
            [],
            |r| r.get(0),
        )?)
    }

    /// Documents whose last upload the relay refused, with its reasons.
    pub fn refused(&self) -> Result<Vec<RefusedDoc>> {
        let reasons: Vec<(Vec<u8>, String)> = self
            .conn
            .prepare("SELECT id, refused FROM sync_state WHERE refused IS NOT NULL")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        reasons
            .into_iter()
            .map(|(id, reason)| {
                let entry = self
                    .list("id = ?1", [&id])?
                    .pop()
                    .ok_or_else(|| Error::Store("refused document has no index entry".into()))?;
                Ok(RefusedDoc { entry, reason })
            })
            .collect()
    }

    /// Throws away the local changes the relay refused: the document goes back
    /// to what the relay holds (or disappears, if the relay never had it).
    pub fn discard_refused(&mut self, id: DocId) -> Result<()> {
        self.open.take(id);
        self.last_saved = None;
        let tx = self.conn.transaction()?;
        let relay = relay_heads(&tx, id)?;
        if relay.is_empty() {
            tx.execute("DELETE FROM documents WHERE id = ?1", [id_bytes(id)])?;
        } else {
            let mut doc = load_doc(&tx, id.as_uuid().as_bytes())?;
            let mut back = doc.at(&relay)?;
            replace_doc(&tx, &mut back)?;
            set_sync_state(&tx, id, &relay, false)?;
            tx.execute(
                "UPDATE sync_state SET refused = NULL WHERE id = ?1",
                [id_bytes(id)],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Sends a refused document again at the next sync (after fixing it).
    pub fn resubmit(&mut self, id: DocId) -> Result<()> {
        self.conn.execute(
            "UPDATE sync_state SET refused = NULL WHERE id = ?1",
            [id_bytes(id)],
        )?;
        Ok(())
    }

    /// The relay sequence number up to which this device has everything.
    pub fn cursor(&self) -> Result<u64> {
        get_setting(&self.conn, "relay_cursor")?
            .map(|b| parse_u64(&b))
            .transpose()
            .map(|c| c.unwrap_or(0))
    }

    /// The newest place in the relay's log this device was told of (see
    /// [`crate::sync::wire::LogMark`]); the default before the first sync.
    pub fn relay_mark(&self) -> Result<LogMark> {
        let Some(bytes) = get_setting(&self.conn, "relay_mark")? else {
            return Ok(LogMark::default());
        };
        let damaged = || Error::Corrupt("the stored relay mark is damaged".into());
        if bytes.len() != 32 {
            return Err(damaged());
        }
        let mut mark = LogMark::default();
        mark.relay.copy_from_slice(&bytes[..16]);
        mark.seq = u64::from_be_bytes(bytes[16..24].try_into().map_err(|_| damaged())?);
        mark.check.copy_from_slice(&bytes[24..]);
        Ok(mark)
    }

    fn list<P: rusqlite::Params>(&self, filter: &str, params: P) -> Result<Vec<IndexEntry>> {
        let sql = format!(
            "SELECT id, kind, owner, region, customer, status, number, title, total, at_ms
             FROM doc_index WHERE {filter}"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params, |r| {
            Ok((
                r.get::<_, Vec<u8>>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<Vec<u8>>>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, Option<String>>(6)?,
                r.get::<_, String>(7)?,
                r.get::<_, Option<String>>(8)?,
                r.get::<_, i64>(9)?,
            ))
        })?;
        rows.map(|row| {
            let (id, kind, owner, region, customer, status, number, title, total, at) = row?;
            Ok(IndexEntry {
                id: doc_id(&id)?,
                kind: DocKind::parse(&kind)
                    .ok_or_else(|| Error::Store(format!("unknown kind {kind} in the index")))?,
                owner,
                region,
                customer: customer.map(|c| doc_id(&c)).transpose()?,
                status,
                number,
                title,
                total: total
                    .map(|t| {
                        t.parse()
                            .map_err(|_| Error::Store("damaged total in the index".into()))
                    })
                    .transpose()?,
                at: DateTime::from_timestamp_millis(at).unwrap_or_default(),
            })
        })
        .collect()
    }

    /// The signatures this device holds of the changes of `doc` after
    /// `heads` (what a push of those changes carries).
    pub(crate) fn signatures_after(
        &self,
        doc: &mut Document,
        heads: &[ChangeHash],
    ) -> Result<Vec<ChangeSignature>> {
        let hashes: Vec<ChangeHash> = doc
            .changes_after(heads)
            .into_iter()
            .map(|(h, _)| h)
            .collect();
        signatures_of(&self.conn, &hashes)
    }

    /// Starts a transaction for the sync engine.
    pub(crate) fn begin(&mut self) -> Result<SyncTx<'_>> {
        self.last_saved = None;
        Ok(SyncTx {
            tx: self.conn.transaction()?,
            open: &mut self.open,
        })
    }

    /// Documents to upload: pending and not refused, with the heads the relay
    /// is known to hold.
    pub(crate) fn to_push(&self) -> Result<Vec<(DocId, Vec<ChangeHash>)>> {
        self.conn
            .prepare(
                "SELECT id, relay_heads FROM sync_state WHERE pending = 1 AND refused IS NULL",
            )?
            .query_map([], |r| {
                Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?))
            })?
            .map(|row| {
                let (id, heads) = row?;
                Ok((doc_id(&id)?, decode_heads(&heads)?))
            })
            .collect()
    }
}

/// One atomic step of the sync engine on the device. A document it loads or
/// stores leaves the open documents (the step may yet be rolled back).
pub(crate) struct SyncTx<'a> {
    tx: Transaction<'a>,
    open: &'a mut OpenDocuments,
}

impl SyncTx<'_> {
    /// Loads a document, if held.
    pub(crate) fn load(&mut self, id: DocId) -> Result<Option<Document>> {
        if let Some(doc) = self.open.take(id) {
            return Ok(Some(doc));
        }
        let exists = self
            .tx
            .query_row(
                "SELECT 1 FROM documents WHERE id = ?1",
                [id_bytes(id)],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        exists
            .then(|| load_doc(&self.tx, id.as_uuid().as_bytes()))
            .transpose()
    }

    /// Stores a document after a sync step, recording that the relay holds
    /// every change in `relay_holds` (heads, possibly several sets merged).
    pub(crate) fn store_synced(
        &mut self,
        doc: &mut Document,
        relay_holds: &[ChangeHash],
    ) -> Result<()> {
        self.open.take(doc.id());
        write_doc(&self.tx, doc)?;
        self.record_holds(doc.id(), doc.heads(), relay_holds)
    }

    /// Records that the relay holds every change in `relay_holds` of a
    /// document this sync did not change here (an accepted push): its current
    /// heads are read from its row, so it is not loaded. A document no longer
    /// on the device is skipped.
    pub(crate) fn record_relay_holds(&self, id: DocId, relay_holds: &[ChangeHash]) -> Result<()> {
        let heads: Option<Vec<u8>> = self
            .tx
            .prepare_cached("SELECT heads FROM documents WHERE id = ?1")?
            .query_row([id_bytes(id)], |r| r.get(0))
            .optional()?;
        match heads {
            Some(heads) => self.record_holds(id, decode_heads(&heads)?, relay_holds),
            None => Ok(()),
        }
    }

    /// The document stays pending unless the relay holds all of `heads`.
    fn record_holds(
        &self,
        id: DocId,
        heads: Vec<ChangeHash>,
        relay_holds: &[ChangeHash],
    ) -> Result<()> {
        let pending = !covers(relay_holds, &heads);
        // Keep the smallest description of what the relay holds.
        let relay = if pending { dedup(relay_holds) } else { heads };
        set_sync_state(&self.tx, id, &relay, pending)
    }

    /// Keeps the signatures of changes received from the relay.
    pub(crate) fn store_signatures(&self, signatures: &[ChangeSignature]) -> Result<()> {
        let mut stmt = self.tx.prepare_cached(
            "INSERT OR IGNORE INTO change_signatures (change, signature) VALUES (?1, ?2)",
        )?;
        for s in signatures {
            stmt.execute(params![s.change.to_vec(), s.signature])?;
        }
        Ok(())
    }

    /// The relay refused the document's changes.
    pub(crate) fn refuse(&self, id: DocId, reason: &str) -> Result<()> {
        self.tx.execute(
            "UPDATE sync_state SET refused = ?2 WHERE id = ?1",
            params![id_bytes(id), reason],
        )?;
        Ok(())
    }

    /// The relay says document `id` is no longer this device's.
    pub(crate) fn mark_departed(&self, id: DocId) -> Result<()> {
        self.tx.execute(
            "UPDATE sync_state SET departed = 1 WHERE id = ?1",
            [id_bytes(id)],
        )?;
        Ok(())
    }

    /// Removes the documents that are no longer this device's and have
    /// nothing of its own waiting to be sent (refused changes stay, for the
    /// user to see); returns how many.
    pub(crate) fn remove_departed(&mut self) -> Result<usize> {
        self.open.clear();
        Ok(self.tx.execute(
            "DELETE FROM documents WHERE id IN
               (SELECT id FROM sync_state WHERE departed = 1 AND pending = 0 AND refused IS NULL)",
            [],
        )?)
    }

    /// Forgets what the relay is known to hold (the relay was restored).
    pub(crate) fn forget_relay_state(&self) -> Result<()> {
        self.tx
            .execute("UPDATE sync_state SET relay_heads = x'', pending = 1", [])?;
        Ok(())
    }

    pub(crate) fn relay_heads(&self, id: DocId) -> Result<Vec<ChangeHash>> {
        relay_heads(&self.tx, id)
    }

    pub(crate) fn set_cursor(&self, cursor: u64) -> Result<()> {
        set_setting(&self.tx, "relay_cursor", cursor.to_string().as_bytes())
    }

    pub(crate) fn set_relay_mark(&self, mark: &LogMark) -> Result<()> {
        let mut bytes = Vec::with_capacity(32);
        bytes.extend_from_slice(&mark.relay);
        bytes.extend_from_slice(&mark.seq.to_be_bytes());
        bytes.extend_from_slice(&mark.check);
        set_setting(&self.tx, "relay_mark", &bytes)
    }

    pub(crate) fn commit(self) -> Result<()> {
        Ok(self.tx.commit()?)
    }
}

fn id_bytes(id: DocId) -> Vec<u8> {
    id.as_uuid().as_bytes().to_vec()
}

fn doc_id(bytes: &[u8]) -> Result<DocId> {
    uuid::Uuid::from_slice(bytes)
        .map(DocId::from)
        .map_err(|_| Error::Store("a stored document id is damaged".into()))
}

fn sorted(mut heads: Vec<ChangeHash>) -> Vec<ChangeHash> {
    heads.sort();
    heads
}

/// Does a relay holding `relay` (and their ancestors) hold every change up to `heads`?
/// Only exact membership is checked, so a `false` may be pessimistic; the relay
/// ignores changes it already has.
fn covers(relay: &[ChangeHash], heads: &[ChangeHash]) -> bool {
    heads.iter().all(|h| relay.contains(h))
}

fn dedup(heads: &[ChangeHash]) -> Vec<ChangeHash> {
    let mut v = sorted(heads.to_vec());
    v.dedup();
    v
}

fn parse_u64(bytes: &[u8]) -> Result<u64> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Error::Store("a stored number is damaged".into()))
}

fn get_setting(conn: &Connection, key: &str) -> Result<Option<Vec<u8>>> {
    Ok(conn
        .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
            r.get(0)
        })
        .optional()?)
}

fn set_setting(conn: &Connection, key: &str, value: &[u8]) -> Result<()> {
    conn.execute(
        "INSERT INTO settings (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

fn load_doc(conn: &Connection, id: &[u8]) -> Result<Document> {
    load_doc_from(
        conn,
        id,
        "SELECT bytes FROM doc_chunks WHERE doc = ?1 ORDER BY n",
    )
}

/// Loads a document whose change chunks `chunks_sql` reads.
fn load_doc_from(conn: &Connection, id: &[u8], chunks_sql: &str) -> Result<Document> {
    let snapshot: Option<Vec<u8>> = conn
        .query_row("SELECT snapshot FROM documents WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .optional()?;
    let snapshot = snapshot.ok_or_else(|| {
        Error::Store(format!(
            "the store has no document {}",
            doc_id(id).map(|d| d.to_string()).unwrap_or_default()
        ))
    })?;
    let chunks: Vec<Vec<u8>> = conn
        .prepare_cached(chunks_sql)?
        .query_map([id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Document::load_parts(&snapshot, chunks.iter().map(Vec::as_slice))
}

/// The device's identity as stored, if enrolled.
fn read_identity(conn: &Connection) -> Result<Option<DeviceIdentity>> {
    let Some(raw) = get_setting(conn, "identity")? else {
        return Ok(None);
    };
    let text = String::from_utf8(raw).map_err(|_| Error::Store("identity is damaged".into()))?;
    let f: Vec<&str> = text.split('\n').collect();
    // Devices enrolled before the company's zone was sent keep the default.
    let (device_id, user, role, region, prefix, zone) = match f[..] {
        [device_id, user, role, region, prefix] => (device_id, user, role, region, prefix, None),
        [device_id, user, role, region, prefix, zone] => {
            (device_id, user, role, region, prefix, Some(zone))
        }
        _ => return Err(Error::Store("identity is damaged".into())),
    };
    Ok(Some(DeviceIdentity {
        device_id: device_id.to_string(),
        user: user.to_string(),
        role: role.parse()?,
        region: (!region.is_empty()).then(|| region.to_string()),
        order_prefix: OrderPrefix::new(prefix)?,
        time_zone: zone
            .map(BusinessZone::parse)
            .transpose()?
            .unwrap_or_default(),
    }))
}

/// The heads of the stored copy of `id` (none if it is not stored).
fn stored_heads(conn: &Connection, id: DocId) -> Result<Vec<ChangeHash>> {
    let heads: Option<Vec<u8>> = conn
        .query_row(
            "SELECT heads FROM documents WHERE id = ?1",
            [id_bytes(id)],
            |r| r.get(0),
        )
        .optional()?;
    heads
        .map(|h| decode_heads(&h))
        .transpose()
        .map(Option::unwrap_or_default)
}

/// The device's key and id, once it has both (enrolled, key made).
fn read_signer(conn: &Connection) -> Result<Option<(DeviceKey, String)>> {
    Ok(match (signing_key(conn)?, read_identity(conn)?) {
        (Some(key), Some(identity)) => Some((key, identity.device_id)),
        _ => None,
    })
}

/// Saves `doc` in transaction `conn`: its new changes, signatures, list
/// entry and sync state (see [`DeviceStore::save`]).
fn save_in(
    conn: &Connection,
    signer: Option<&(DeviceKey, String)>,
    doc: &mut Document,
) -> Result<()> {
    let before = write_doc(conn, doc)?;
    sign_own_changes(conn, signer, doc, &before)?;
    let relay = relay_heads(conn, doc.id())?;
    let pending = !covers(&relay, &doc.heads());
    set_sync_state(conn, doc.id(), &relay, pending)
}

/// Mints the next order number for `date` in transaction `conn`.
fn mint_order_number(
    conn: &Connection,
    prefix: &OrderPrefix,
    date: NaiveDate,
) -> Result<OrderNumber> {
    let key = format!("order_seq:{}", date.format("%Y%m%d"));
    let last = get_setting(conn, &key)?
        .map(|b| parse_u64(&b))
        .transpose()?
        .unwrap_or(0);
    let next = u32::try_from(last + 1).unwrap_or(u32::MAX);
    let number = OrderNumber::new(prefix.clone(), date, next)?;
    set_setting(conn, &key, next.to_string().as_bytes())?;
    Ok(number)
}

fn signing_key(conn: &Connection) -> Result<Option<DeviceKey>> {
    get_setting(conn, "signing_key")?
        .map(|b| DeviceKey::from_bytes(&b))
        .transpose()
}

/// Signs the changes of `doc` after `since` that this device made (their
/// message names it) and that are not signed yet. A store without a key
/// (not enrolled) signs nothing.
fn sign_own_changes(
    conn: &Connection,
    signer: Option<&(DeviceKey, String)>,
    doc: &mut Document,
    since: &[ChangeHash],
) -> Result<()> {
    let Some((key, device)) = signer else {
        return Ok(());
    };
    let mut stmt = conn.prepare_cached(
        "INSERT OR IGNORE INTO change_signatures (change, signature) VALUES (?1, ?2)",
    )?;
    for (hash, author) in doc.changes_after(since) {
        if author.is_some_and(|a| a.device() == device.as_str()) {
            let sig = key.sign(&hash);
            stmt.execute(params![sig.change.to_vec(), sig.signature])?;
        }
    }
    Ok(())
}

/// The signatures this device holds of the changes `hashes`.
fn signatures_of(conn: &Connection, hashes: &[ChangeHash]) -> Result<Vec<ChangeSignature>> {
    let mut stmt =
        conn.prepare_cached("SELECT signature FROM change_signatures WHERE change = ?1")?;
    let mut out = Vec::with_capacity(hashes.len());
    for h in hashes {
        if let Some(signature) = stmt
            .query_row([h.0.to_vec()], |r| r.get::<_, Vec<u8>>(0))
            .optional()?
        {
            out.push(ChangeSignature {
                change: h.0,
                signature,
            });
        }
    }
    Ok(out)
}

/// Persists whatever `doc` has that the store does not (its new changes, or
/// a fresh snapshot when the change chunks pile up) and refreshes its list
/// entry; returns the heads stored before.
fn write_doc(conn: &Connection, doc: &mut Document) -> Result<Vec<ChangeHash>> {
    let id = id_bytes(doc.id());
    let stored: Option<(Vec<u8>, i64)> = conn
        .prepare_cached("SELECT heads, chunks FROM documents WHERE id = ?1")?
        .query_row([&id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let heads = doc.heads();
    let before = match stored {
        None => {
            // A new document is kept as its changes (no snapshot yet: making
            // one costs more than the changes themselves); the first
            // compaction writes it.
            let kind = doc.meta().kind.clone();
            conn.prepare_cached(
                "INSERT INTO documents (id, kind, snapshot, heads, chunks) VALUES (?1, ?2, x'', ?3, 1)",
            )?
            .execute(params![id, kind, encode_heads(&heads)])?;
            conn.prepare_cached("INSERT INTO doc_chunks (doc, n, bytes) VALUES (?1, 1, ?2)")?
                .execute(params![id, doc.save_after(&[])])?;
            Vec::new()
        }
        Some((stored_heads, chunks)) => {
            let stored_heads = decode_heads(&stored_heads)?;
            if sorted(stored_heads.clone()) == sorted(heads.clone()) {
                return Ok(stored_heads);
            }
            if chunks + 1 >= COMPACT_AFTER_CHUNKS {
                conn.execute("DELETE FROM doc_chunks WHERE doc = ?1", [&id])?;
                conn.execute(
                    "UPDATE documents SET snapshot = ?2, heads = ?3, chunks = 0 WHERE id = ?1",
                    params![id, doc.save(), encode_heads(&heads)],
                )?;
            } else {
                let bytes = doc.save_after(&stored_heads);
                conn.prepare_cached("INSERT INTO doc_chunks (doc, n, bytes) VALUES (?1, ?2, ?3)")?
                    .execute(params![id, chunks + 1, bytes])?;
                conn.prepare_cached(
                    "UPDATE documents SET heads = ?2, chunks = chunks + 1 WHERE id = ?1",
                )?
                .execute(params![id, encode_heads(&heads)])?;
            }
            stored_heads
        }
    };
    write_index(conn, doc)?;
    Ok(before)
}

/// Replaces a stored document wholesale (after discarding changes).
fn replace_doc(conn: &Connection, doc: &mut Document) -> Result<()> {
    let id = id_bytes(doc.id());
    conn.execute("DELETE FROM doc_chunks WHERE doc = ?1", [&id])?;
    conn.execute(
        "UPDATE documents SET snapshot = ?2, heads = ?3, chunks = 0 WHERE id = ?1",
        params![id, doc.save(), encode_heads(&doc.heads())],
    )?;
    write_index(conn, doc)
}

/// Writes the document's list entry, unless it is stored already as it is.
fn write_index(conn: &Connection, doc: &Document) -> Result<()> {
    let e = index_entry(doc)?;
    let values = params![
        id_bytes(e.id),
        e.kind.as_str(),
        e.owner,
        e.region,
        e.customer.map(id_bytes),
        e.status,
        e.number,
        e.title,
        e.total.map(|t| t.to_string()),
        e.at.timestamp_millis(),
    ];
    // Most edits change only fields no index covers (an order's total): then
    // only those are set, so the indexes' pages are not rewritten.
    let unindexed = conn
        .prepare_cached(
            "UPDATE doc_index SET owner = ?3, region = ?4, customer = ?5, number = ?7,
               title = ?8, total = ?9
             WHERE id = ?1 AND kind IS ?2 AND status IS ?6 AND at_ms IS ?10
               AND (owner IS NOT ?3 OR region IS NOT ?4 OR customer IS NOT ?5
                 OR number IS NOT ?7 OR title IS NOT ?8 OR total IS NOT ?9)",
        )?
        .execute(values)?;
    if unindexed == 1 {
        return Ok(());
    }
    conn.prepare_cached(
        "INSERT INTO doc_index (id, kind, owner, region, customer, status, number, title, total, at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, owner = excluded.owner,
           region = excluded.region, customer = excluded.customer, status = excluded.status,
           number = excluded.number, title = excluded.title, total = excluded.total,
           at_ms = excluded.at_ms
         WHERE kind IS NOT excluded.kind OR owner IS NOT excluded.owner
           OR region IS NOT excluded.region OR customer IS NOT excluded.customer
           OR status IS NOT excluded.status OR number IS NOT excluded.number
           OR title IS NOT excluded.title OR total IS NOT excluded.total
           OR at_ms IS NOT excluded.at_ms",
    )?
    .execute(values)?;
    Ok(())
}

fn relay_heads(conn: &Connection, id: DocId) -> Result<Vec<ChangeHash>> {
    let raw: Option<Vec<u8>> = conn
        .prepare_cached("SELECT relay_heads FROM sync_state WHERE id = ?1")?
        .query_row([id_bytes(id)], |r| r.get(0))
        .optional()?;
    raw.map(|b| decode_heads(&b))
        .transpose()
        .map(Option::unwrap_or_default)
}

fn set_sync_state(conn: &Connection, id: DocId, relay: &[ChangeHash], pending: bool) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO sync_state (id, relay_heads, pending, refused) VALUES (?1, ?2, ?3, NULL)
         ON CONFLICT (id) DO UPDATE SET relay_heads = excluded.relay_heads, pending = excluded.pending
         WHERE relay_heads IS NOT excluded.relay_heads OR pending IS NOT excluded.pending",
    )?
    .execute(params![id_bytes(id), encode_heads(relay), pending])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
    use crate::*;
    use chrono::Duration;

    fn plan_visit(c: &Customer, at: DateTime<Utc>) -> VisitDoc {
        VisitDoc::plan(
            &sales(),
            c,
            VisitPlan {
                planned_start: at,
                purpose: "call".into(),
                priority: Priority::Normal,
                materials: String::new(),
            },
        )
        .unwrap()
    }

    #[test]
    fn a_first_schema_store_is_migrated_and_indexed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let c = customer("0", PaymentTerms::Cash).read().unwrap();
        let (mut order, _) = draft_order(&c);
        let mut visit = plan_visit(&c, t0());
        {
            // What a version-1 build wrote: documents only.
            let old = DeviceStore::open_at_version(&path, 1).unwrap();
            for doc in [order.document(), visit.document()] {
                old.conn
                    .execute(
                        "INSERT INTO documents (id, kind, snapshot, heads, chunks) VALUES (?1, ?2, ?3, ?4, 0)",
                        params![id_bytes(doc.id()), doc.meta().kind.clone(), doc.save(), encode_heads(&doc.heads())],
                    )
                    .unwrap();
            }
            assert!(
                old.conn.prepare("SELECT * FROM doc_index").is_err(),
                "no index in version 1"
            );
        }
        let store = DeviceStore::open(&path).unwrap();
        let version: u32 = store
            .conn
            .query_row(
                "SELECT version FROM schema_migrations WHERE component = 'device'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(version as usize, MIGRATIONS.len());
        let orders = store.open_orders().unwrap();
        assert_eq!(orders.len(), 1);
        assert_eq!(orders[0].number.as_deref(), Some("S07-20261123-001"));
        assert_eq!(orders[0].total, Some(d("125")));
        let visits = store
            .visits_between(t0() - Duration::hours(1), t0() + Duration::hours(1))
            .unwrap();
        assert_eq!(visits.len(), 1);
        assert_eq!(
            store.pending_count().unwrap(),
            2,
            "never synced, so both are pending"
        );
        assert_eq!(
            store
                .load(order.document().id())
                .unwrap()
                .view::<Order>()
                .unwrap(),
            order.read().unwrap()
        );
    }

    #[test]
    fn change_chunks_and_signatures_are_carried_into_their_new_tables() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v4.db");
        let c = customer("0", PaymentTerms::Cash).read().unwrap();
        let (mut o, l) = draft_order(&c);
        let id = o.document().id();
        {
            // What a version-4 build wrote: a snapshot and two change chunks.
            let old = DeviceStore::open_at_version(&path, 4).unwrap();
            let snapshot = o.document().save();
            let mut heads = o.document().heads();
            let mut chunks = Vec::new();
            for q in [2, 3] {
                o.set_quantity(&sales(), &l, Decimal::from(q)).unwrap();
                chunks.push(o.document().save_after(&heads));
                heads = o.document().heads();
            }
            old.conn
                .execute(
                    "INSERT INTO documents (id, kind, snapshot, heads, chunks) VALUES (?1, 'order', ?2, ?3, 2)",
                    params![id_bytes(id), snapshot, encode_heads(&heads)],
                )
                .unwrap();
            for bytes in &chunks {
                old.conn
                    .execute(
                        "INSERT INTO doc_changes (doc, bytes) VALUES (?1, ?2)",
                        params![id_bytes(id), bytes],
                    )
                    .unwrap();
            }
            old.conn
                .execute(
                    "INSERT INTO change_signatures (change, signature) VALUES (?1, x'0102')",
                    [heads[0].0.to_vec()],
                )
                .unwrap();
        }
        let mut store = DeviceStore::open(&path).unwrap();
        assert_eq!(
            store.load(id).unwrap().view::<Order>().unwrap(),
            o.read().unwrap()
        );
        let mut doc = store.load(id).unwrap();
        let before_last = doc.changes_after(&[]).len() - 1;
        let all = doc.changes_after(&[]);
        let last = all[before_last].0;
        let signed = signatures_of(&store.conn, &[last]).unwrap();
        assert_eq!(signed.len(), 1);
        assert_eq!(signed[0].signature, vec![1, 2]);
        // New chunks follow the old ones, and the document still reads back.
        let mut o = OrderDoc::from_document(doc).unwrap();
        o.set_quantity(&sales(), &l, Decimal::from(4)).unwrap();
        store.save(o.document()).unwrap();
        let back = store.load(id).unwrap().view::<Order>().unwrap();
        assert_eq!(back.lines[&l].quantity, Decimal::from(4));
    }

    #[test]
    fn a_store_from_a_newer_build_is_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.db");
        let store = DeviceStore::open(&path).unwrap();
        store
            .conn
            .execute(
                "UPDATE schema_migrations SET version = 99 WHERE component = 'device'",
                [],
            )
            .unwrap();
        drop(store);
        let e = DeviceStore::open(&path).unwrap_err().to_string();
        assert!(e.contains("newer than this build knows"), "{e}");
    }

    #[test]
    fn a_file_that_is_not_a_store_is_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("junk.db");
        std::fs::write(
            &path,
            b"this is not a database, just some text that is long enough",
        )
        .unwrap();
        let e = DeviceStore::open(&path).unwrap_err();
        assert!(matches!(e, Error::Store(_)), "{e}");
    }

    #[test]
    fn lists_come_from_the_index() {
        let mut store = DeviceStore::open_in_memory().unwrap();
        let c = customer("0", PaymentTerms::Cash).read().unwrap();
        let (mut draft, _) = draft_order(&c);
        let (mut submitted, _) = draft_order(&c);
        submitted.submit(&sales()).unwrap();
        let (mut cancelled, _) = draft_order(&c);
        cancelled.cancel(&sales(), "duplicate").unwrap();
        for o in [&mut draft, &mut submitted, &mut cancelled] {
            store.save(o.document()).unwrap();
        }
        let today = plan_visit(&c, t0());
        let tomorrow = plan_visit(&c, t0() + Duration::days(1));
        for mut v in [today, tomorrow] {
            store.save(v.document()).unwrap();
        }
        assert_eq!(store.open_orders().unwrap().len(), 2);
        let review = store.orders_awaiting_review().unwrap();
        assert_eq!((review.len(), review[0].status.as_str()), (1, "submitted"));
        let day_start = t0() - Duration::hours(2);
        let visits = store
            .visits_between(day_start, day_start + Duration::days(1))
            .unwrap();
        assert_eq!(visits.len(), 1);
        assert_eq!(visits[0].title, "Hengda Textiles");
        assert_eq!(store.pending_upload().unwrap().len(), 5);
        // An edit updates the index in place.
        let mut o = OrderDoc::from_document(store.load(draft.document().id()).unwrap()).unwrap();
        o.submit(&sales()).unwrap();
        store.save(o.document()).unwrap();
        assert_eq!(store.orders_awaiting_review().unwrap().len(), 2);
    }

    #[test]
    fn open_documents_are_only_ever_what_is_stored() {
        let mut store = DeviceStore::open_in_memory().unwrap();
        let c = customer("0", PaymentTerms::Cash).read().unwrap();
        let (mut o, l) = draft_order(&c);
        let id = o.document().id();
        store.save(o.document()).unwrap();
        store.keep(o.into_document()).unwrap();
        assert_eq!(store.open.usage().0, 1);
        let quantity =
            |store: &mut DeviceStore| store.view::<Order>(id).unwrap().lines[&l].quantity;

        // An edit not saved is not kept: the next call reads the store.
        let mut o = OrderDoc::from_document(store.open_document(id).unwrap()).unwrap();
        assert_eq!(store.open.usage().0, 0, "taken out while edited");
        o.set_quantity(&sales(), &l, Decimal::from(3)).unwrap();
        store.keep(o.into_document()).unwrap();
        assert_eq!(store.open.usage().0, 0);
        assert_eq!(quantity(&mut store), Decimal::from(10));

        // Saved, it is kept, and read from memory.
        let mut o = OrderDoc::from_document(store.open_document(id).unwrap()).unwrap();
        o.set_quantity(&sales(), &l, Decimal::from(3)).unwrap();
        store.save(o.document()).unwrap();
        store.keep(o.into_document()).unwrap();
        assert_eq!(quantity(&mut store), Decimal::from(3));
        assert_eq!(store.open.usage().0, 1);

        // Another copy saved over it: the open one is dropped, not kept stale.
        let mut other = OrderDoc::from_document(store.load(id).unwrap()).unwrap();
        other.set_quantity(&sales(), &l, Decimal::from(5)).unwrap();
        store.save(other.document()).unwrap();
        assert_eq!(store.open.usage().0, 0);
        assert_eq!(quantity(&mut store), Decimal::from(5));
        // An old copy kept after that is refused.
        let mut stale = OrderDoc::from_document(store.open_document(id).unwrap()).unwrap();
        let mut newer = OrderDoc::from_document(store.load(id).unwrap()).unwrap();
        newer.set_quantity(&sales(), &l, Decimal::from(6)).unwrap();
        store.save(newer.document()).unwrap();
        store.keep(stale.document().fork()).unwrap();
        assert_eq!(store.open.usage().0, 0);
        assert_eq!(quantity(&mut store), Decimal::from(6));

        // A sync step takes the document out: it may write it.
        assert_eq!(store.open.usage().0, 1);
        let mut tx = store.begin().unwrap();
        tx.load(id).unwrap().unwrap();
        drop(tx);
        assert_eq!(store.open.usage().0, 0);
    }

    #[test]
    fn many_edits_are_compacted_and_load_back() {
        let mut store = DeviceStore::open_in_memory().unwrap();
        let c = customer("0", PaymentTerms::Cash).read().unwrap();
        let (mut o, l) = draft_order(&c);
        store.save(o.document()).unwrap();
        for i in 1..100 {
            o.set_quantity(&sales(), &l, Decimal::from(i)).unwrap();
            store.save(o.document()).unwrap();
            let chunks: i64 = store
                .conn
                .query_row("SELECT count(*) FROM doc_chunks", [], |r| r.get(0))
                .unwrap();
            assert!(chunks < COMPACT_AFTER_CHUNKS);
        }
        let back = store
            .load(o.document().id())
            .unwrap()
            .view::<Order>()
            .unwrap();
        assert_eq!(back, o.read().unwrap());
        assert_eq!(back.lines[&l].quantity, Decimal::from(99));
    }

    #[test]
    fn the_business_date_is_the_companys_and_old_identities_keep_the_default() {
        let mut store = DeviceStore::open_in_memory().unwrap();
        let after_midnight_in_china = DateTime::parse_from_rfc3339("2026-12-01T17:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut id = DeviceIdentity::of(
            &Actor::new("li", Role::Salesperson, Some("east"), "d-1").unwrap(),
            OrderPrefix::new("S07").unwrap(),
        );
        store.set_identity(&id).unwrap();
        assert_eq!(
            store
                .business_date(after_midnight_in_china)
                .unwrap()
                .to_string(),
            "2026-12-02"
        );
        id.time_zone = BusinessZone::parse("Europe/Berlin").unwrap();
        store.set_identity(&id).unwrap();
        assert_eq!(
            store
                .business_date(after_midnight_in_china)
                .unwrap()
                .to_string(),
            "2026-12-01"
        );
        // An identity written before zones were stored (five lines).
        set_setting(&store.conn, "identity", b"d-1\nli\nsalesperson\neast\nS07").unwrap();
        store.identity = OnceCell::new();
        assert_eq!(
            store.identity().unwrap().unwrap().time_zone,
            BusinessZone::default()
        );
    }

    #[test]
    fn order_numbers_come_from_the_enrolled_prefix_and_never_repeat() {
        let mut store = DeviceStore::open_in_memory().unwrap();
        assert!(
            store.next_order_number(day()).is_err(),
            "no prefix before enrollment"
        );
        let id = DeviceIdentity {
            device_id: "phone-li".into(),
            user: "li".into(),
            role: Role::Salesperson,
            region: Some("east".into()),
            order_prefix: OrderPrefix::new("S07").unwrap(),
            time_zone: BusinessZone::default(),
        };
        store.set_identity(&id).unwrap();
        assert_eq!(store.identity().unwrap(), Some(id));
        let a = store.next_order_number(day()).unwrap();
        let b = store.next_order_number(day()).unwrap();
        let c = store.next_order_number(day() + Duration::days(1)).unwrap();
        assert_eq!(a.to_string(), "S07-20261123-001");
        assert_eq!(b.to_string(), "S07-20261123-002");
        assert_eq!(c.to_string(), "S07-20261124-001");
    }

    use rust_decimal::Decimal;
}
