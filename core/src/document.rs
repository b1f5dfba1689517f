//! The plumbing every business document shares: an Automerge document with a
//! fixed header (`meta`), edits committed with their author, load/save/merge, and
//! the per-field history.
//!
//! Typed documents ([`crate::OrderDoc`], [`crate::VisitDoc`], ...) wrap a
//! [`Document`]; the sync engine and the stores work on [`Document`] alone.

use std::any::Any;
use std::fmt;
use std::sync::OnceLock;

use automerge::{AutoCommit, ChangeHash, Prop, ROOT, Value, transaction::CommitOptions};
use autosurgeon::{Hydrate, Reconcile};
use chrono::{DateTime, Utc};

use crate::actor::{Actor, ChangeCtx};
use crate::error::{Error, Result};
use crate::ids::DocId;
use crate::rules::KindRules;

/// The version of the document layout this build writes.
pub const SCHEMA_VERSION: u64 = 1;

/// The kinds of business document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DocKind {
    /// A customer (or prospect).
    Customer,
    /// The shared product catalog with its price lists and stock figures.
    Catalog,
    /// A sales order.
    Order,
    /// A customer visit (planned or logged).
    Visit,
    /// A customer complaint, tracked to resolution.
    Complaint,
    /// A salesperson's daily visit report.
    DailyReport,
}

impl DocKind {
    /// Every kind.
    pub const ALL: [DocKind; 6] = [
        DocKind::Customer,
        DocKind::Catalog,
        DocKind::Order,
        DocKind::Visit,
        DocKind::Complaint,
        DocKind::DailyReport,
    ];

    /// The kind as stored in documents and tables.
    pub fn as_str(&self) -> &'static str {
        match self {
            DocKind::Customer => "customer",
            DocKind::Catalog => "catalog",
            DocKind::Order => "order",
            DocKind::Visit => "visit",
            DocKind::Complaint => "complaint",
            DocKind::DailyReport => "daily_report",
        }
    }

    /// Reads a kind written by [`DocKind::as_str`].
    pub fn parse(s: &str) -> Option<DocKind> {
        DocKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for DocKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The header of every document, written once when it is created.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate)]
pub struct Meta {
    /// The document's id.
    pub id: DocId,
    /// Its kind, as [`DocKind::as_str`].
    pub kind: String,
    /// The layout version it was created with.
    pub schema: u64,
    /// The salesperson who owns it (for the catalog: its creator).
    pub owner: String,
    /// The sales region it belongs to; `None` for shared documents (the catalog).
    pub region: Option<String>,
    /// When it was created (creator's clock).
    #[autosurgeon(with = "crate::codec::time")]
    pub created_at: DateTime<Utc>,
    /// The user who created it.
    pub created_by: String,
    /// The device it was created on.
    pub created_on: String,
}

impl Meta {
    /// A header for a new document of `kind`, owned by `owner` in `region`.
    pub(crate) fn new(ctx: &ChangeCtx, kind: DocKind, owner: &str, region: Option<&str>) -> Meta {
        Meta {
            id: DocId::new(),
            kind: kind.as_str().to_string(),
            schema: SCHEMA_VERSION,
            owner: owner.to_string(),
            region: region.map(str::to_string),
            created_at: crate::codec::stored_instant(ctx.at),
            created_by: ctx.actor.user().to_string(),
            created_on: ctx.actor.device().to_string(),
        }
    }

    /// The kind, if this build knows it.
    pub fn doc_kind(&self) -> Option<DocKind> {
        DocKind::parse(&self.kind)
    }
}

/// One Automerge document with its header.
///
/// It also keeps the business object last read from it (its view, e.g. the
/// [`crate::Order`]), so reading a document that has not changed costs a
/// clone, not a walk over every field: the typed edits hand over the object
/// they wrote ([`Document::keep_view`]), and anything else that changes the
/// document (changes from elsewhere, a merge) forgets it.
pub struct Document {
    doc: AutoCommit,
    meta: Meta,
    view: OnceLock<Box<dyn Any + Send + Sync>>,
}

impl fmt::Debug for Document {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Document")
            .field("meta", &self.meta)
            .field("view_kept", &self.view.get().is_some())
            .finish_non_exhaustive()
    }
}

impl Document {
    /// Creates a document whose root is `root` (which must contain a `meta` field
    /// equal to `meta`), as one change by `ctx`.
    /// The content is validated by its kind's rules first.
    pub(crate) fn create<T: Reconcile + KindRules + View + Clone>(
        ctx: &ChangeCtx,
        meta: Meta,
        root: &T,
    ) -> Result<Self> {
        root.validate().map_err(Error::InvalidValue)?;
        let mut d = Document::wrap(AutoCommit::new(), meta);
        d.change(ctx, |doc| Ok(autosurgeon::reconcile(doc, root)?))?;
        let stored: Meta = autosurgeon::hydrate_prop(&d.doc, ROOT, "meta")?;
        if stored != d.meta {
            return Err(Error::Corrupt("document header was not written".into()));
        }
        d.keep_view(root.clone());
        Ok(d)
    }

    /// Loads a document from bytes produced by [`Document::save`] (or any
    /// sequence of changes that begins with one).
    pub fn load(bytes: &[u8]) -> Result<Self> {
        Self::from_automerge(AutoCommit::load(bytes)?)
    }

    /// Loads a document and checks it is of `kind`.
    pub(crate) fn load_kind(bytes: &[u8], kind: DocKind) -> Result<Self> {
        let d = Self::load(bytes)?;
        d.expect_kind(kind)?;
        Ok(d)
    }

    pub(crate) fn expect_kind(&self, kind: DocKind) -> Result<()> {
        if self.meta.kind != kind.as_str() {
            return Err(Error::WrongKind {
                id: self.meta.id.to_string(),
                expected: kind.as_str(),
                found: self.meta.kind.clone(),
            });
        }
        Ok(())
    }

    /// The document's id.
    pub fn id(&self) -> DocId {
        self.meta.id
    }

    /// The document's header.
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// About how many bytes of memory the loaded document takes (its
    /// operations and change history as Automerge holds them), for bounding
    /// caches of open documents. Measured by `cargo bench -p fieldsync-tests
    /// --bench phone_edits`.
    pub fn memory_estimate(&self) -> usize {
        use automerge::ReadDoc;
        let stats = self.doc.stats();
        // An order of 300 lines (about 2,700 operations and 300 changes)
        // measured 308 kB resident.
        const PER_OP: usize = 80;
        const PER_CHANGE: usize = 320;
        const BASE: usize = 4096;
        BASE + stats.num_ops as usize * PER_OP + stats.num_changes as usize * PER_CHANGE
    }

    /// The full document, compacted.
    pub fn save(&mut self) -> Vec<u8> {
        self.doc.save()
    }

    /// The changes made since `heads`, encoded for transfer or storage.
    pub fn save_after(&mut self, heads: &[ChangeHash]) -> Vec<u8> {
        self.doc.save_after(heads)
    }

    /// The current heads: the hashes that identify exactly this state.
    pub fn heads(&mut self) -> Vec<ChangeHash> {
        self.doc.get_heads()
    }

    /// Applies changes produced by [`Document::save`] / [`Document::save_after`]
    /// on another replica of this document. Applying the same bytes twice is
    /// harmless; changes whose predecessors are missing wait until they arrive.
    pub fn apply(&mut self, bytes: &[u8]) -> Result<()> {
        self.forget_view();
        self.doc.load_incremental(bytes)?;
        Ok(())
    }

    /// Merges another replica of the same document into this one.
    pub fn merge(&mut self, other: &mut Document) -> Result<()> {
        if other.meta.id != self.meta.id {
            return Err(Error::Corrupt(format!(
                "cannot merge document {} into document {}",
                other.meta.id, self.meta.id
            )));
        }
        self.forget_view();
        self.doc.merge(&mut other.doc)?;
        Ok(())
    }

    /// Loads a document from a snapshot followed by incremental change chunks,
    /// as the stores keep it. An empty snapshot means the chunks are all of it.
    pub fn load_parts<'a>(
        snapshot: &[u8],
        increments: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<Self> {
        let mut doc = if snapshot.is_empty() {
            AutoCommit::new()
        } else {
            AutoCommit::load(snapshot)?
        };
        for chunk in increments {
            doc.load_incremental(chunk)?;
        }
        Self::from_automerge(doc)
    }

    /// Wraps an Automerge document that has a fieldsync header.
    pub(crate) fn from_automerge(doc: AutoCommit) -> Result<Self> {
        let meta: Meta = autosurgeon::hydrate_prop(&doc, ROOT, "meta")
            .map_err(|e| Error::Corrupt(format!("not a fieldsync document ({e})")))?;
        Ok(Document::wrap(doc, meta))
    }

    fn wrap(doc: AutoCommit, meta: Meta) -> Self {
        Document {
            doc,
            meta,
            view: OnceLock::new(),
        }
    }

    /// Re-reads the header after changes arrived from elsewhere.
    pub(crate) fn refresh_meta(&mut self) -> Result<()> {
        let meta: Meta = autosurgeon::hydrate_prop(&self.doc, ROOT, "meta")
            .map_err(|e| Error::Corrupt(format!("not a fieldsync document ({e})")))?;
        self.meta = meta;
        self.forget_view();
        Ok(())
    }

    /// Hashes of changes this document depends on but does not have.
    pub fn missing_deps(&mut self) -> Vec<ChangeHash> {
        self.doc.get_missing_deps(&[])
    }

    /// Does this document contain every change in `heads`?
    pub fn has_all(&mut self, heads: &[ChangeHash]) -> bool {
        heads
            .iter()
            .all(|h| self.doc.get_change_by_hash(h).is_some())
    }

    /// The document as it was at `heads` (which it must contain).
    pub fn at(&mut self, heads: &[ChangeHash]) -> Result<Document> {
        let doc = self.doc.fork_at(heads)?;
        Self::from_automerge(doc)
    }

    /// The changes made after `heads`: each one's hash and recorded author.
    pub fn changes_after(&mut self, heads: &[ChangeHash]) -> Vec<(ChangeHash, Option<Actor>)> {
        self.doc
            .get_changes_meta(heads)
            .iter()
            .map(|c| (c.hash, c.message.as_deref().and_then(Actor::from_message)))
            .collect()
    }

    /// The underlying Automerge document, read-only.
    pub(crate) fn automerge_ref(&self) -> &AutoCommit {
        &self.doc
    }

    /// The underlying Automerge document, for the sync engine.
    pub(crate) fn automerge(&mut self) -> &mut AutoCommit {
        self.forget_view();
        &mut self.doc
    }

    /// A second replica of this document, as another device would hold it.
    pub fn fork(&mut self) -> Document {
        Document::wrap(self.doc.fork(), self.meta.clone())
    }

    /// Reads the document as a business object: `doc.view::<Order>()`.
    /// Fails with [`Error::WrongKind`] when the document is of another kind.
    pub fn view<T: View + Clone>(&self) -> Result<T> {
        self.view_ref::<T>().cloned()
    }

    /// [`Document::view`] without the copy: the object kept from the last
    /// read or typed edit, read from the document only if there is none.
    pub fn view_ref<T: View>(&self) -> Result<&T> {
        self.expect_kind(T::KIND)?;
        if let Some(v) = self.view.get().and_then(|v| v.downcast_ref::<T>()) {
            return Ok(v);
        }
        let fresh: T = self.hydrate()?;
        // Only this kind's object is ever kept, so a kept one is a `T`.
        let kept = self.view.get_or_init(|| Box::new(fresh));
        kept.downcast_ref::<T>()
            .ok_or_else(|| Error::Corrupt("the document's kept view is of another kind".into()))
    }

    /// The kept object, if there is one (nothing is read from the document).
    pub(crate) fn kept_view<T: View>(&self) -> Option<&T> {
        self.view.get().and_then(|v| v.downcast_ref::<T>())
    }

    /// Takes the kept object out (for an edit that patches it rather than
    /// reading the whole document again); `None` if there is none.
    pub(crate) fn take_view<T: View>(&mut self) -> Option<T> {
        let kept = self.view.take()?;
        kept.downcast::<T>().ok().map(|b| *b)
    }

    /// Keeps `view` as what the document now reads as: the object a typed
    /// edit just wrote. (Debug builds check it against a fresh read, so a
    /// kept view that differs from the document fails the tests.)
    pub(crate) fn keep_view<T: View>(&mut self, view: T) {
        #[cfg(debug_assertions)]
        {
            let fresh: std::result::Result<T, _> = self.hydrate();
            if let Ok(fresh) = fresh {
                debug_assert_eq!(
                    format!("{fresh:?}"),
                    format!("{view:?}"),
                    "a typed edit kept a view that differs from its document"
                );
            }
        }
        self.view = OnceLock::from(Box::new(view) as Box<dyn Any + Send + Sync>);
    }

    /// Forgets the kept object (the document changed under it).
    fn forget_view(&mut self) {
        self.view = OnceLock::new();
    }

    /// Reads the whole document into `T`.
    pub(crate) fn hydrate<T: Hydrate>(&self) -> Result<T> {
        Ok(autosurgeon::hydrate(&self.doc)?)
    }

    /// Reads one field of the root (`events`, `number`) into `T`, without
    /// reading the rest.
    pub(crate) fn hydrate_field<T: Hydrate>(&self, field: &str) -> Result<T> {
        Ok(autosurgeon::hydrate_prop(&self.doc, ROOT, field)?)
    }

    /// Edits entries of the map at root field `field` (an order's `lines`)
    /// as one change by `ctx`: only the entries `edit` reads and writes are
    /// touched, so an edit of one line of a long order costs what the line
    /// costs. If `edit` fails, nothing changes. The caller validates what it
    /// writes (as [`Document::update`] validates the whole).
    pub(crate) fn edit_entries<R>(
        &mut self,
        ctx: &ChangeCtx,
        field: &str,
        edit: impl FnOnce(&mut Entries<'_>) -> Result<R>,
    ) -> Result<R> {
        self.change(ctx, |doc| {
            use automerge::ReadDoc;
            let map = match doc.get(ROOT, field)? {
                Some((Value::Object(_), obj)) => obj,
                _ => {
                    return Err(Error::Corrupt(format!(
                        "the document has no {field} to edit"
                    )));
                }
            };
            edit(&mut Entries { doc, map })
        })
    }

    /// Writes only some root fields (e.g. an order's `events` after a step),
    /// as one change by `ctx`: `write` puts them. `root` is the whole
    /// document as it reads after the write: validated by its kind's rules
    /// first, and kept as the document's view.
    pub(crate) fn update_fields<T: KindRules + View + Clone>(
        &mut self,
        ctx: &ChangeCtx,
        root: &T,
        write: impl FnOnce(&mut Fields<'_>) -> Result<()>,
    ) -> Result<()> {
        root.validate().map_err(Error::InvalidValue)?;
        self.change(ctx, |doc| write(&mut Fields { doc }))?;
        self.keep_view(root.clone());
        Ok(())
    }

    /// Runs `edit` as one change by `ctx`: committed with the actor and time, or,
    /// if `edit` fails, rolled back so the document is exactly as before.
    pub(crate) fn change<R>(
        &mut self,
        ctx: &ChangeCtx,
        edit: impl FnOnce(&mut AutoCommit) -> Result<R>,
    ) -> Result<R> {
        match edit(&mut self.doc) {
            Ok(r) => {
                self.forget_view();
                self.doc.commit_with(
                    CommitOptions::default()
                        .with_message(ctx.actor.to_message())
                        .with_time(ctx.at.timestamp()),
                );
                Ok(r)
            }
            Err(e) => {
                self.doc.rollback();
                Err(e)
            }
        }
    }

    /// Writes `root` over the document as one change by `ctx`. Only the fields
    /// that differ produce operations, so concurrent edits to other fields merge.
    /// The content is validated by its kind's rules first (the same rules the
    /// relay applies), so an edit outside them changes nothing.
    pub(crate) fn update<T: Reconcile + KindRules + View + Clone>(
        &mut self,
        ctx: &ChangeCtx,
        root: &T,
    ) -> Result<()> {
        root.validate().map_err(Error::InvalidValue)?;
        self.change(ctx, |doc| Ok(autosurgeon::reconcile(doc, root)?))?;
        self.keep_view(root.clone());
        Ok(())
    }

    /// Files the document under another salesperson and region (an
    /// administrator, when a customer is reassigned: the customer and every
    /// document of it move together). One change, to the header only.
    pub fn move_to(&mut self, ctx: &ChangeCtx, owner: &str, region: Option<&str>) -> Result<()> {
        crate::access::require_role(
            &ctx.actor,
            &[crate::actor::Role::Admin],
            "move documents to another salesperson",
        )?;
        let mut meta = self.meta().clone();
        meta.owner = crate::access::require_text(owner, "owner")?;
        meta.region = region.map(str::to_string);
        if meta == *self.meta() {
            return Ok(());
        }
        self.change(ctx, |doc| {
            Ok(autosurgeon::reconcile_prop(doc, ROOT, "meta", &meta)?)
        })?;
        self.refresh_meta()
    }

    /// Who changed which field, when, on which device: one entry per field
    /// touched by each change, oldest change first.
    pub fn history(&mut self) -> Vec<FieldChange> {
        let changes = self.doc.get_changes(&[]);
        let mut out = Vec::new();
        let mut last: std::collections::HashMap<String, Option<String>> =
            std::collections::HashMap::new();
        for change in changes {
            let actor = change.message().and_then(Actor::from_message);
            let at = DateTime::from_timestamp(change.timestamp(), 0).unwrap_or_default();
            let patches = self.doc.diff(change.deps(), &[change.hash()]);
            for patch in patches {
                let (key, value) = match &patch.action {
                    automerge::PatchAction::PutMap { key, value, .. } => {
                        (key.clone(), Some(render(&value.0)))
                    }
                    automerge::PatchAction::PutSeq { index, value, .. } => {
                        (index.to_string(), Some(render(&value.0)))
                    }
                    automerge::PatchAction::Insert { index, .. } => {
                        (index.to_string(), Some("(inserted)".to_string()))
                    }
                    automerge::PatchAction::SpliceText { index, value, .. } => {
                        (index.to_string(), Some(value.make_string()))
                    }
                    automerge::PatchAction::DeleteMap { key } => (key.clone(), None),
                    automerge::PatchAction::DeleteSeq { index, .. } => (index.to_string(), None),
                    _ => continue,
                };
                let mut path: Vec<String> = patch.path.iter().map(|(_, p)| prop_str(p)).collect();
                path.push(key);
                let path = path.join("/");
                let old = last.insert(path.clone(), value.clone()).flatten();
                out.push(FieldChange {
                    at,
                    actor: actor.clone(),
                    path,
                    value,
                    old,
                });
            }
        }
        out
    }

    /// Reads a scalar at `path` from the root, for tests and diagnostics.
    #[cfg(test)]
    pub(crate) fn raw_get(&self, path: &[&str]) -> Option<String> {
        use automerge::ReadDoc;
        let mut obj: automerge::ObjId = ROOT;
        for (i, key) in path.iter().enumerate() {
            let (v, id) = self.doc.get(&obj, *key).ok()??;
            if i + 1 == path.len() {
                return Some(render(&v));
            }
            obj = id;
        }
        None
    }
}

fn prop_str(p: &Prop) -> String {
    match p {
        Prop::Map(k) => k.clone(),
        Prop::Seq(i) => i.to_string(),
    }
}

fn render(v: &Value<'_>) -> String {
    match v {
        Value::Object(t) => format!("({t})"),
        Value::Scalar(s) => match s.as_ref() {
            automerge::ScalarValue::Str(s) => s.to_string(),
            automerge::ScalarValue::Bytes(b) if b.len() == 16 => uuid::Uuid::from_slice(b)
                .map(|u| u.to_string())
                .unwrap_or_default(),
            automerge::ScalarValue::Timestamp(ms) => DateTime::from_timestamp_millis(*ms)
                .map(|t| t.to_rfc3339())
                .unwrap_or_default(),
            other => other.to_string(),
        },
    }
}

/// The root fields of a document, inside a change
/// ([`Document::update_fields`]).
pub(crate) struct Fields<'a> {
    doc: &'a mut AutoCommit,
}

impl Fields<'_> {
    /// Writes root field `field` (only what differs produces operations).
    pub(crate) fn put<T: Reconcile>(&mut self, field: &str, value: &T) -> Result<()> {
        Ok(autosurgeon::reconcile_prop(
            &mut *self.doc,
            ROOT,
            field,
            value,
        )?)
    }
}

/// The entries of one map of a document, inside a change
/// ([`Document::edit_entries`]).
pub(crate) struct Entries<'a> {
    doc: &'a mut AutoCommit,
    map: automerge::ObjId,
}

impl Entries<'_> {
    /// How many entries there are.
    pub(crate) fn len(&self) -> usize {
        use automerge::ReadDoc;
        self.doc.length(&self.map)
    }

    /// Entry `key`, read without reading the others; `None` if there is no
    /// such entry.
    pub(crate) fn get<T: Hydrate>(&self, key: &str) -> Result<Option<T>> {
        use automerge::ReadDoc;
        if self.doc.get(&self.map, key)?.is_none() {
            return Ok(None);
        }
        Ok(Some(autosurgeon::hydrate_prop(&*self.doc, &self.map, key)?))
    }

    /// The place of entry `key` among them (1-based; 0 if there is none),
    /// for messages: it walks the keys.
    pub(crate) fn place(&self, key: &str) -> usize {
        use automerge::ReadDoc;
        self.doc
            .keys(&self.map)
            .position(|k| k == key)
            .map_or(0, |p| p + 1)
    }

    /// Adds entry `key`, which must be new, as `value` (an object laid out
    /// as its `Reconcile` would write it) in one batch: far cheaper in a
    /// large document than writing its fields one by one.
    pub(crate) fn insert_new(
        &mut self,
        key: &str,
        value: &automerge::hydrate::Value,
    ) -> Result<()> {
        use automerge::transaction::Transactable;
        self.doc.batch_create_object(&self.map, key, value, false)?;
        Ok(())
    }

    /// Writes the scalar fields `fields` of entry `key` (an object), and
    /// nothing else: an edit that knows what changed does not compare the
    /// rest with the document.
    pub(crate) fn put_fields(
        &mut self,
        key: &str,
        fields: Vec<(String, automerge::ScalarValue)>,
    ) -> Result<()> {
        use automerge::{ReadDoc, transaction::Transactable};
        let Some((Value::Object(_), entry)) = self.doc.get(&self.map, key)? else {
            return Err(Error::Corrupt(format!("entry {key} is not an object")));
        };
        for (field, value) in fields {
            self.doc.put(&entry, field, value)?;
        }
        Ok(())
    }

    /// Removes entry `key`; `false` if there was none.
    pub(crate) fn remove(&mut self, key: &str) -> Result<bool> {
        use automerge::{ReadDoc, transaction::Transactable};
        if self.doc.get(&self.map, key)?.is_none() {
            return Ok(false);
        }
        self.doc.delete(&self.map, key)?;
        Ok(true)
    }
}

/// One entry of a document's per-field history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    /// When the change was made (the author's clock, to the second).
    pub at: DateTime<Utc>,
    /// Who made it, if the change carries a fieldsync author.
    pub actor: Option<Actor>,
    /// The field, as a path from the document root (`lines/<line id>/quantity`).
    pub path: String,
    /// The new value in words, or `None` when the field was removed.
    pub value: Option<String>,
    /// The value it had before, in words (`None`: it had none).
    pub old: Option<String>,
}

/// A business object that can be read from a [`Document`] of its kind.
pub trait View: Hydrate + fmt::Debug + Send + Sync + 'static + sealed::Sealed {
    /// The kind of document it is read from.
    const KIND: DocKind;
}

mod sealed {
    pub trait Sealed {}
}

macro_rules! views {
    ($($t:ty => $k:ident),* $(,)?) => {$(
        impl sealed::Sealed for $t {}
        impl View for $t {
            const KIND: DocKind = DocKind::$k;
        }
    )*};
}

views! {
    crate::Customer => Customer,
    crate::Catalog => Catalog,
    crate::Order => Order,
    crate::Visit => Visit,
    crate::Complaint => Complaint,
    crate::DailyReport => DailyReport,
}
