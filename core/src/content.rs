//! A document read into its business type, once: what the relay's checks and
//! the head office's tables work from.

use crate::document::{DocKind, Document, Meta};
use crate::error::{Error, Result};
use crate::{Catalog, Complaint, Customer, DailyReport, Order, Visit};

/// The content of a document of any kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    /// A customer.
    Customer(Customer),
    /// The catalog.
    Catalog(Catalog),
    /// An order.
    Order(Order),
    /// A visit.
    Visit(Visit),
    /// A complaint.
    Complaint(Complaint),
    /// A daily visit report.
    DailyReport(DailyReport),
}

impl Content {
    /// The document's header.
    pub fn meta(&self) -> &Meta {
        match self {
            Content::Customer(c) => &c.meta,
            Content::Catalog(c) => &c.meta,
            Content::Order(o) => &o.meta,
            Content::Visit(v) => &v.meta,
            Content::Complaint(c) => &c.meta,
            Content::DailyReport(r) => &r.meta,
        }
    }
}

impl Content {
    /// Writes the content into `doc` (used to compare a document with its
    /// content written afresh).
    pub(crate) fn reconcile_into(&self, doc: &mut automerge::AutoCommit) -> Result<()> {
        match self {
            Content::Customer(c) => autosurgeon::reconcile(doc, c)?,
            Content::Catalog(c) => autosurgeon::reconcile(doc, c)?,
            Content::Order(o) => autosurgeon::reconcile(doc, o)?,
            Content::Visit(v) => autosurgeon::reconcile(doc, v)?,
            Content::Complaint(c) => autosurgeon::reconcile(doc, c)?,
            Content::DailyReport(r) => autosurgeon::reconcile(doc, r)?,
        }
        Ok(())
    }
}

impl Document {
    /// Reads the document into the business type its header names. Fails on
    /// a kind fieldsync does not know, or content that does not have the
    /// shape of its kind.
    pub fn content(&self) -> Result<Content> {
        let kind = self.meta().doc_kind().ok_or_else(|| {
            Error::Corrupt(format!(
                "document {} is of a kind fieldsync does not know ({})",
                self.id(),
                self.meta().kind
            ))
        })?;
        Ok(match kind {
            DocKind::Customer => Content::Customer(self.view()?),
            DocKind::Catalog => Content::Catalog(self.view()?),
            DocKind::Order => Content::Order(self.view()?),
            DocKind::Visit => Content::Visit(self.view()?),
            DocKind::Complaint => Content::Complaint(self.view()?),
            DocKind::DailyReport => Content::DailyReport(self.view()?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    #[test]
    fn an_order_reads_as_order_content_with_its_header() {
        let c = customer("1000", crate::PaymentTerms::Credit)
            .read()
            .unwrap();
        let (mut o, _) = draft_order(&c);
        let content = o.document().content().unwrap();
        let Content::Order(read) = &content else {
            panic!("expected an order, got {content:?}");
        };
        assert_eq!(read, &o.read().unwrap());
        assert_eq!(content.meta(), o.document().meta());
    }

    #[test]
    fn a_document_of_an_unknown_kind_has_no_content() {
        let c = customer("1000", crate::PaymentTerms::Credit)
            .read()
            .unwrap();
        let (mut o, _) = draft_order(&c);
        use automerge::ReadDoc;
        let mut raw = o.document().automerge().clone();
        let meta = raw.get(automerge::ROOT, "meta").unwrap().unwrap().1;
        automerge::transaction::Transactable::put(&mut raw, meta, "kind", "invoice").unwrap();
        let doc = Document::load(&raw.save()).unwrap();
        let err = doc.content().unwrap_err().to_string();
        assert!(err.contains("does not know (invoice)"), "{err}");
    }
}
