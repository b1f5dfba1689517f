//! The documents the app is working on, kept loaded between its calls: an
//! order being entered line by line is loaded from the store once, not once
//! per line. Bounded by an estimate of the memory the documents take; the
//! least recently used go first.
//!
//! Only a copy of what is durably stored is ever kept here (the store puts a
//! document back only after its commit), so losing the cache (a killed
//! process) loses nothing.

use std::collections::{BTreeMap, HashMap};

use crate::document::Document;
use crate::ids::DocId;

/// How much memory the open documents may take, by
/// [`Document::memory_estimate`]: a few hundred orders of ten lines, or a
/// dozen order-fair orders of hundreds of lines.
pub(crate) const DEFAULT_BUDGET: usize = 16 * 1024 * 1024;

/// Loaded documents, least recently used evicted first.
#[derive(Debug)]
pub(crate) struct OpenDocuments {
    budget: usize,
    used: usize,
    clock: u64,
    docs: HashMap<DocId, Open>,
    by_use: BTreeMap<u64, DocId>,
}

#[derive(Debug)]
struct Open {
    doc: Document,
    size: usize,
    used_at: u64,
}

impl OpenDocuments {
    /// An empty cache holding up to `budget` bytes of documents.
    pub(crate) fn new(budget: usize) -> Self {
        OpenDocuments {
            budget,
            used: 0,
            clock: 0,
            docs: HashMap::new(),
            by_use: BTreeMap::new(),
        }
    }

    /// Takes document `id` out, if it is here.
    pub(crate) fn take(&mut self, id: DocId) -> Option<Document> {
        let open = self.docs.remove(&id)?;
        self.by_use.remove(&open.used_at);
        self.used -= open.size;
        Some(open.doc)
    }

    /// Document `id`, if it is here (counted as a use).
    pub(crate) fn get(&mut self, id: DocId) -> Option<&Document> {
        let now = self.tick();
        let open = self.docs.get_mut(&id)?;
        self.by_use.remove(&open.used_at);
        self.by_use.insert(now, id);
        open.used_at = now;
        Some(&open.doc)
    }

    /// Keeps `doc` (replacing any copy of it), then evicts the least
    /// recently used documents until the rest fit the budget. The document
    /// just kept stays even if it alone is over the budget.
    pub(crate) fn put(&mut self, doc: Document) {
        let id = doc.id();
        self.take(id);
        let size = doc.memory_estimate();
        let now = self.tick();
        self.used += size;
        self.by_use.insert(now, id);
        self.docs.insert(
            id,
            Open {
                doc,
                size,
                used_at: now,
            },
        );
        while self.used > self.budget {
            let Some((_, oldest)) = self.by_use.pop_first() else {
                break;
            };
            if oldest == id {
                self.by_use.insert(now, id);
                break;
            }
            if let Some(open) = self.docs.remove(&oldest) {
                self.used -= open.size;
            }
        }
    }

    /// Drops every document (their stored copies changed wholesale).
    pub(crate) fn clear(&mut self) {
        self.docs.clear();
        self.by_use.clear();
        self.used = 0;
    }

    /// How many documents are open, and their estimated bytes.
    #[cfg(test)]
    pub(crate) fn usage(&self) -> (usize, usize) {
        (self.docs.len(), self.used)
    }

    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    fn order() -> Document {
        let c = customer("0", crate::PaymentTerms::Cash).read().unwrap();
        let (mut o, _) = draft_order(&c);
        o.document().fork()
    }

    #[test]
    fn the_least_recently_used_go_first_when_over_budget() {
        let docs: Vec<Document> = (0..4).map(|_| order()).collect();
        let size = docs[0].memory_estimate();
        let ids: Vec<DocId> = docs.iter().map(Document::id).collect();
        let mut cache = OpenDocuments::new(size * 3);
        for d in docs {
            cache.put(d);
        }
        // Four did not fit in three: the first one went.
        assert_eq!(cache.usage().0, 3);
        assert!(cache.get(ids[0]).is_none());
        // Using the second makes the third the oldest.
        assert!(cache.get(ids[1]).is_some());
        cache.put(order());
        assert!(cache.get(ids[2]).is_none());
        assert!(cache.get(ids[1]).is_some());
        assert!(cache.get(ids[3]).is_some());
        // Taking one out frees its room.
        let taken = cache.take(ids[1]).unwrap();
        assert_eq!(taken.id(), ids[1]);
        assert_eq!(cache.usage(), (2, size * 2));
    }

    #[test]
    fn a_document_over_the_budget_alone_is_still_kept() {
        let mut cache = OpenDocuments::new(1);
        cache.put(order());
        let d = order();
        let id = d.id();
        cache.put(d);
        assert_eq!(cache.usage().0, 1);
        assert!(cache.get(id).is_some());
        cache.clear();
        assert_eq!(cache.usage(), (0, 0));
    }
}
