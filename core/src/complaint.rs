//! Customer complaints (DOMAIN.md, "Visits"): recorded at once, apologised for,
//! tracked until head office resolves them and the salesperson reports back.
//!
//! ```text
//! open → resolved (head office, with what was done) → closed (reported back to the customer)
//!   ↖───────────── reopened (not solved after all) ─────────────┘
//! ```
//! As with orders, the status is derived by replaying the recorded events.

use autosurgeon::{Hydrate, Reconcile};
use chrono::{DateTime, Utc};

use crate::access::{require_role, require_scope, require_text};
use crate::actor::{ChangeCtx, Role};
use crate::customer::Customer;
use crate::document::{DocKind, Document, Meta};
use crate::error::{Error, Result};
use crate::ids::{DocId, new_item_id};

/// Where a complaint stands (derived).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Reconcile, Hydrate)]
pub enum ComplaintStatus {
    /// Recorded, not yet resolved.
    Open,
    /// Head office dealt with it; the customer has not been told yet.
    Resolved,
    /// Reported back to the customer.
    Closed,
}

impl ComplaintStatus {
    /// In words.
    pub fn in_words(&self) -> &'static str {
        match self {
            ComplaintStatus::Open => "open",
            ComplaintStatus::Resolved => "resolved",
            ComplaintStatus::Closed => "closed",
        }
    }
}

/// A step in a complaint's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Reconcile, Hydrate)]
pub enum ComplaintAction {
    /// open → resolved.
    Resolve,
    /// resolved → closed.
    ReportBack,
    /// resolved/closed → open.
    Reopen,
}

impl ComplaintAction {
    fn target(&self, from: ComplaintStatus) -> Option<ComplaintStatus> {
        use ComplaintStatus as S;
        match (self, from) {
            (ComplaintAction::Resolve, S::Open) => Some(S::Resolved),
            (ComplaintAction::ReportBack, S::Resolved) => Some(S::Closed),
            (ComplaintAction::Reopen, S::Resolved | S::Closed) => Some(S::Open),
            _ => None,
        }
    }

    fn roles(&self) -> &'static [Role] {
        match self {
            ComplaintAction::Resolve => &[Role::Manager, Role::OrderDesk, Role::Admin],
            ComplaintAction::ReportBack => &[Role::Salesperson, Role::OrderDesk],
            ComplaintAction::Reopen => &[Role::Salesperson, Role::Manager, Role::OrderDesk],
        }
    }

    fn in_words(&self) -> &'static str {
        match self {
            ComplaintAction::Resolve => "resolved",
            ComplaintAction::ReportBack => "reported back",
            ComplaintAction::Reopen => "reopened",
        }
    }

    fn as_permission(&self) -> &'static str {
        match self {
            ComplaintAction::Resolve => "resolve complaints",
            ComplaintAction::ReportBack => "report complaint resolutions back to customers",
            ComplaintAction::Reopen => "reopen complaints",
        }
    }
}

/// A recorded step.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate)]
pub struct ComplaintEvent {
    /// Stable id.
    #[key]
    pub id: String,
    /// The step.
    pub action: ComplaintAction,
    /// The status the actor saw.
    pub from: ComplaintStatus,
    /// Who.
    pub user: String,
    /// In which role.
    pub role: String,
    /// On which device.
    pub device: String,
    /// When.
    #[autosurgeon(with = "crate::codec::time")]
    pub at: DateTime<Utc>,
    /// What was done or said.
    pub note: String,
}

/// A complaint as read from its document.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate)]
pub struct Complaint {
    /// Header: id, owner salesperson, region.
    pub meta: Meta,
    /// The customer's document id.
    pub customer: DocId,
    /// The customer's name.
    pub customer_name: String,
    /// The visit it was recorded on, if any.
    pub visit: Option<DocId>,
    /// The order it is about, if any (order number).
    pub order: Option<String>,
    /// One line.
    pub subject: String,
    /// The complaint in the customer's words.
    pub description: String,
    /// Whether the salesperson apologised on the spot.
    pub apologised: bool,
    /// The steps taken, in replay order.
    pub events: Vec<ComplaintEvent>,
}

impl Complaint {
    /// The document id.
    pub fn id(&self) -> DocId {
        self.meta.id
    }

    /// Where the complaint stands, from replaying its events.
    pub fn status(&self) -> ComplaintStatus {
        let mut status = ComplaintStatus::Open;
        for ev in &self.events {
            if let Some(next) = ev.action.target(status).filter(|_| ev.from == status) {
                status = next;
            }
        }
        status
    }

    /// When it was resolved, if it is resolved or closed now.
    pub fn resolved_at(&self) -> Option<DateTime<Utc>> {
        if self.status() == ComplaintStatus::Open {
            return None;
        }
        self.events
            .iter()
            .rev()
            .find(|e| e.action == ComplaintAction::Resolve)
            .map(|e| e.at)
    }
}

/// What recording a complaint needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewComplaint {
    /// One line.
    pub subject: String,
    /// The complaint in the customer's words.
    pub description: String,
    /// The visit it was recorded on.
    pub visit: Option<DocId>,
    /// The order it concerns (order number).
    pub order: Option<String>,
    /// Whether the salesperson apologised on the spot.
    pub apologised: bool,
}

/// A complaint document.
#[derive(Debug)]
pub struct ComplaintDoc {
    doc: Document,
}

impl ComplaintDoc {
    /// Records a complaint about `customer` (its salesperson, their manager, or
    /// the order desk taking it by phone).
    pub fn record(ctx: &ChangeCtx, customer: &Customer, new: NewComplaint) -> Result<Self> {
        require_role(
            &ctx.actor,
            &[Role::Salesperson, Role::Manager, Role::OrderDesk],
            "record complaints",
        )?;
        require_scope(&ctx.actor, &customer.meta, || {
            format!("customer {}", customer.name)
        })?;
        let meta = Meta::new(
            ctx,
            DocKind::Complaint,
            &customer.meta.owner,
            customer.meta.region.as_deref(),
        );
        let complaint = Complaint {
            meta: meta.clone(),
            customer: customer.id(),
            customer_name: customer.name.clone(),
            visit: new.visit,
            order: new.order,
            subject: require_text(&new.subject, "complaint subject")?,
            description: new.description.trim().to_string(),
            apologised: new.apologised,
            events: Vec::new(),
        };
        Ok(ComplaintDoc {
            doc: Document::create(ctx, meta, &complaint)?,
        })
    }

    /// Loads a complaint document.
    pub fn load(bytes: &[u8]) -> Result<Self> {
        Ok(ComplaintDoc {
            doc: Document::load_kind(bytes, DocKind::Complaint)?,
        })
    }

    /// Wraps a document already loaded, checking its kind.
    pub fn from_document(doc: Document) -> Result<Self> {
        doc.expect_kind(DocKind::Complaint)?;
        Ok(ComplaintDoc { doc })
    }

    /// The underlying document (for storage and sync).
    pub fn document(&mut self) -> &mut Document {
        &mut self.doc
    }

    /// The underlying document, given up (e.g. back to the store's open
    /// documents).
    pub fn into_document(self) -> Document {
        self.doc
    }

    /// Reads the complaint.
    pub fn read(&self) -> Result<Complaint> {
        self.doc.view()
    }

    fn step(&mut self, ctx: &ChangeCtx, action: ComplaintAction, note: &str) -> Result<()> {
        require_role(&ctx.actor, action.roles(), action.as_permission())?;
        let mut c = self.read()?;
        require_scope(&ctx.actor, &c.meta, || {
            format!("the complaint of {}", c.customer_name)
        })?;
        let from = c.status();
        if action.target(from).is_none() {
            return Err(Error::ComplaintStep {
                customer: c.customer_name,
                status: from.in_words(),
                action: action.in_words(),
            });
        }
        c.events.push(ComplaintEvent {
            id: new_item_id(),
            action,
            from,
            user: ctx.actor.user().to_string(),
            role: ctx.actor.role().as_str().to_string(),
            device: ctx.actor.device().to_string(),
            at: ctx.at,
            note: note.trim().to_string(),
        });
        self.doc.update(ctx, &c)
    }

    /// Head office resolves the complaint, saying what was done.
    pub fn resolve(&mut self, ctx: &ChangeCtx, resolution: &str) -> Result<()> {
        require_text(resolution, "resolution")?;
        self.step(ctx, ComplaintAction::Resolve, resolution)
    }

    /// The salesperson (or order desk) told the customer how it was resolved.
    pub fn report_back(&mut self, ctx: &ChangeCtx, note: &str) -> Result<()> {
        self.step(ctx, ComplaintAction::ReportBack, note)
    }

    /// The problem is not solved after all.
    pub fn reopen(&mut self, ctx: &ChangeCtx, reason: &str) -> Result<()> {
        crate::access::require_reason(reason, "reopen a complaint")?;
        self.step(ctx, ComplaintAction::Reopen, reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PaymentTerms;
    use crate::testing::*;

    fn new() -> NewComplaint {
        NewComplaint {
            subject: "Colour fades after washing".into(),
            description: "Batch of TS-1 red fades".into(),
            visit: None,
            order: Some("S07-20261101-002".into()),
            apologised: true,
        }
    }

    #[test]
    fn tracked_to_resolution_and_reported_back() {
        let cust = customer("0", PaymentTerms::Cash).read().unwrap();
        let mut c = ComplaintDoc::record(&sales(), &cust, new()).unwrap();
        assert_eq!(c.read().unwrap().status(), ComplaintStatus::Open);
        assert!(matches!(
            c.report_back(&sales(), "x"),
            Err(Error::ComplaintStep { .. })
        ));
        assert!(matches!(
            c.resolve(&sales(), "x"),
            Err(Error::RoleNotAllowed { .. })
        ));
        assert_eq!(c.resolve(&desk(), " "), Err(Error::Required("resolution")));
        c.resolve(&desk(), "replacement batch shipped").unwrap();
        let r = c.read().unwrap();
        assert_eq!(r.status(), ComplaintStatus::Resolved);
        assert_eq!(r.resolved_at(), Some(t0()));
        c.report_back(&sales(), "called Mr Chen").unwrap();
        assert_eq!(c.read().unwrap().status(), ComplaintStatus::Closed);
        c.reopen(&sales(), "still fading").unwrap();
        let r = c.read().unwrap();
        assert_eq!((r.status(), r.resolved_at()), (ComplaintStatus::Open, None));
    }

    #[test]
    fn only_in_scope() {
        let cust = customer("0", PaymentTerms::Cash).read().unwrap();
        assert!(matches!(
            ComplaintDoc::record(&sales_b(), &cust, new()),
            Err(Error::NotOwner { .. })
        ));
        let mut c = ComplaintDoc::record(&sales(), &cust, new()).unwrap();
        assert!(matches!(
            c.resolve(&manager_west(), "x"),
            Err(Error::OutsideRegion { .. })
        ));
        assert!(matches!(
            ComplaintDoc::record(
                &sales(),
                &cust,
                NewComplaint {
                    subject: "".into(),
                    ..new()
                }
            ),
            Err(Error::Required(_))
        ));
    }

    #[test]
    fn concurrent_resolutions_count_once() {
        let cust = customer("0", PaymentTerms::Cash).read().unwrap();
        let mut a = ComplaintDoc::record(&sales(), &cust, new()).unwrap();
        let mut b = ComplaintDoc::from_document(a.document().fork()).unwrap();
        a.resolve(&desk(), "refund").unwrap();
        b.resolve(&manager(), "replacement").unwrap();
        sync(a.document(), b.document());
        let (ra, rb) = (a.read().unwrap(), b.read().unwrap());
        assert_eq!(ra, rb);
        assert_eq!(ra.events.len(), 2);
        assert_eq!(ra.status(), ComplaintStatus::Resolved);
        a.report_back(&sales(), "told them").unwrap();
        assert_eq!(a.read().unwrap().status(), ComplaintStatus::Closed);
    }
}
