//! Identifiers minted offline: document ids and the ids of items inside documents.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

use crate::error::{Error, Result};

/// The id of a business document (an order, a visit, a customer, ...).
///
/// A UUID v7, minted on the device that creates the document, so ids sort by
/// creation time and never collide without asking anyone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DocId(Uuid);

impl DocId {
    /// A fresh id.
    pub fn new() -> Self {
        DocId(Uuid::now_v7())
    }

    /// The id from its 16 bytes.
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        DocId(Uuid::from_bytes(bytes))
    }

    /// The id's 16 bytes.
    pub fn to_bytes(&self) -> [u8; 16] {
        *self.0.as_bytes()
    }

    /// The id as a UUID.
    pub fn as_uuid(&self) -> &Uuid {
        &self.0
    }
}

impl Default for DocId {
    fn default() -> Self {
        Self::new()
    }
}

impl From<Uuid> for DocId {
    fn from(u: Uuid) -> Self {
        DocId(u)
    }
}

impl fmt::Display for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl FromStr for DocId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Uuid::parse_str(s)
            .map(DocId)
            .map_err(|_| Error::InvalidIdentifier {
                what: "document id",
                value: s.to_string(),
                hint: "a document id is a UUID such as 0192f0c4-7d1e-7c3a-9a51-3f0b6f2d9e10",
            })
    }
}

/// A fresh id for an item inside a document (an order line, a note, a payment).
///
/// Items live in maps keyed by these ids, so two devices adding items at the
/// same time never overwrite each other, and ids sort by creation time.
pub(crate) fn new_item_id() -> String {
    Uuid::now_v7().simple().to_string()
}

impl autosurgeon::Reconcile for DocId {
    type Key<'a> = autosurgeon::reconcile::NoKey;
    fn reconcile<R: autosurgeon::Reconciler>(&self, reconciler: R) -> Result<(), R::Error> {
        self.0.reconcile(reconciler)
    }
}

impl autosurgeon::Hydrate for DocId {
    fn hydrate_bytes(bytes: &[u8]) -> Result<Self, autosurgeon::HydrateError> {
        Uuid::hydrate_bytes(bytes).map(DocId)
    }
}
