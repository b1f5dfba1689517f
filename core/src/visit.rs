//! Customer visits (DOMAIN.md, "Visits"): planned, checked in and out, logged
//! with notes and an outcome, followed up.

use std::collections::BTreeMap;

use autosurgeon::{Hydrate, Reconcile};
use chrono::{DateTime, Duration, Utc};

use crate::access::{require_reason, require_role, require_scope, require_text};
use crate::actor::{ChangeCtx, Role};
use crate::customer::Customer;
use crate::document::{DocKind, Document, Meta};
use crate::error::{Error, Result};
use crate::ids::{DocId, new_item_id};

/// A visit should take about this long [003].
pub const GUIDELINE_MINUTES: i64 = 30;

/// Key customers are visited first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Reconcile, Hydrate)]
pub enum Priority {
    /// A key customer.
    KeyCustomer,
    /// A normal customer.
    Normal,
}

/// The plan of a visit.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate)]
pub struct VisitPlan {
    /// Appointment time.
    #[autosurgeon(with = "crate::codec::time")]
    pub planned_start: DateTime<Utc>,
    /// Purpose of the visit.
    pub purpose: String,
    /// Key or normal.
    pub priority: Priority,
    /// Materials to bring (samples, catalogues, contracts).
    pub materials: String,
}

/// A GPS position.
#[derive(Debug, Clone, Copy, PartialEq, Reconcile, Hydrate)]
pub struct GeoPoint {
    /// Latitude in degrees.
    pub latitude: f64,
    /// Longitude in degrees.
    pub longitude: f64,
}

/// A check-in or check-out: when, and where if the phone knew.
#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate)]
pub struct Stamp {
    /// When.
    #[autosurgeon(with = "crate::codec::time")]
    pub at: DateTime<Utc>,
    /// Where, if known.
    pub position: Option<GeoPoint>,
}

/// A note written during or after the visit.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate)]
pub struct VisitNote {
    /// When it was written.
    #[autosurgeon(with = "crate::codec::time")]
    pub at: DateTime<Utc>,
    /// Who wrote it.
    pub author: String,
    /// The note.
    pub text: String,
}

/// What came of the visit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Reconcile, Hydrate)]
pub struct Outcome {
    /// Numbers of orders taken on the visit.
    pub orders: BTreeMap<String, bool>,
    /// Order intent short of an order ("wants 200 pcs of TS-1 after the fair").
    pub intent: String,
    /// Ids of complaints recorded on the visit.
    pub complaints: BTreeMap<String, bool>,
    /// Feedback from the customer (products, prices, competitors).
    pub feedback: String,
    /// The next appointment, if one was made.
    #[autosurgeon(with = "crate::codec::opt_time")]
    pub next_appointment: Option<DateTime<Utc>>,
}

/// The kind of a follow-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Reconcile, Hydrate)]
pub enum FollowUpKind {
    /// The thank-you call the day after a visit.
    ThankYouCall,
    /// Anything else promised to the customer.
    Other,
}

/// Something to do after the visit.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate)]
pub struct FollowUp {
    /// Kind.
    pub kind: FollowUpKind,
    /// What to do.
    pub text: String,
    /// By when.
    #[autosurgeon(with = "crate::codec::time")]
    pub due: DateTime<Utc>,
    /// When it was done, if it was.
    #[autosurgeon(with = "crate::codec::opt_time")]
    pub done_at: Option<DateTime<Utc>>,
}

/// Where a visit stands (derived).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VisitStatus {
    /// Planned, not started.
    Planned,
    /// Checked in, not yet out.
    InProgress,
    /// Checked out.
    Done,
    /// Called off.
    Cancelled,
}

/// A visit as read from its document.
#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate)]
pub struct Visit {
    /// Header: id, owner salesperson, region.
    pub meta: Meta,
    /// The customer's document id.
    pub customer: DocId,
    /// The customer's name when planned.
    pub customer_name: String,
    /// The plan.
    pub plan: VisitPlan,
    /// Arrival.
    pub check_in: Option<Stamp>,
    /// Departure.
    pub check_out: Option<Stamp>,
    /// The contact person met.
    pub contact: String,
    /// Topics discussed.
    pub topics: String,
    /// Notes, keyed by a stable id (concurrent notes never overwrite each other).
    pub notes: BTreeMap<String, VisitNote>,
    /// The outcome.
    pub outcome: Outcome,
    /// Follow-ups by a stable id.
    pub follow_ups: BTreeMap<String, FollowUp>,
    /// Why the visit was called off, if it was.
    pub cancelled: Option<String>,
}

impl Visit {
    /// The document id.
    pub fn id(&self) -> DocId {
        self.meta.id
    }

    /// Where the visit stands.
    pub fn status(&self) -> VisitStatus {
        match (&self.cancelled, &self.check_in, &self.check_out) {
            (Some(_), _, _) => VisitStatus::Cancelled,
            (None, Some(_), Some(_)) => VisitStatus::Done,
            (None, Some(_), None) => VisitStatus::InProgress,
            (None, None, _) => VisitStatus::Planned,
        }
    }

    /// Minutes between check-in and check-out, once checked out.
    pub fn length_minutes(&self) -> Option<i64> {
        match (&self.check_in, &self.check_out) {
            (Some(i), Some(o)) => Some((o.at - i.at).num_minutes()),
            _ => None,
        }
    }

    /// True when the visit took longer than the ~30-minute guideline.
    pub fn over_guideline(&self) -> bool {
        self.length_minutes().is_some_and(|m| m > GUIDELINE_MINUTES)
    }

    /// Notes oldest first.
    pub fn notes_in_order(&self) -> Vec<&VisitNote> {
        let mut notes: Vec<_> = self.notes.iter().collect();
        notes.sort_by(|(ka, a), (kb, b)| a.at.cmp(&b.at).then(ka.cmp(kb)));
        notes.into_iter().map(|(_, n)| n).collect()
    }

    fn what(&self) -> String {
        format!("visit to {}", self.customer_name)
    }
}

/// A visit document.
#[derive(Debug)]
pub struct VisitDoc {
    doc: Document,
}

const LOGGERS: &[Role] = &[Role::Salesperson, Role::Manager];

impl VisitDoc {
    /// Plans a visit to `customer` (its salesperson, or their manager).
    pub fn plan(ctx: &ChangeCtx, customer: &Customer, plan: VisitPlan) -> Result<Self> {
        require_role(&ctx.actor, LOGGERS, "plan visits")?;
        require_scope(&ctx.actor, &customer.meta, || {
            format!("customer {}", customer.name)
        })?;
        let meta = Meta::new(
            ctx,
            DocKind::Visit,
            &customer.meta.owner,
            customer.meta.region.as_deref(),
        );
        let visit = Visit {
            meta: meta.clone(),
            customer: customer.id(),
            customer_name: customer.name.clone(),
            plan: VisitPlan {
                planned_start: crate::codec::stored_instant(plan.planned_start),
                purpose: plan.purpose.trim().to_string(),
                materials: plan.materials.trim().to_string(),
                ..plan
            },
            check_in: None,
            check_out: None,
            contact: String::new(),
            topics: String::new(),
            notes: BTreeMap::new(),
            outcome: Outcome::default(),
            follow_ups: BTreeMap::new(),
            cancelled: None,
        };
        Ok(VisitDoc {
            doc: Document::create(ctx, meta, &visit)?,
        })
    }

    /// Loads a visit document.
    pub fn load(bytes: &[u8]) -> Result<Self> {
        Ok(VisitDoc {
            doc: Document::load_kind(bytes, DocKind::Visit)?,
        })
    }

    /// Wraps a document already loaded, checking its kind.
    pub fn from_document(doc: Document) -> Result<Self> {
        doc.expect_kind(DocKind::Visit)?;
        Ok(VisitDoc { doc })
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

    /// Reads the visit.
    pub fn read(&self) -> Result<Visit> {
        self.doc.view()
    }

    fn editable(&self, ctx: &ChangeCtx, roles: &[Role], action: &'static str) -> Result<Visit> {
        require_role(&ctx.actor, roles, action)?;
        let v = self.read()?;
        require_scope(&ctx.actor, &v.meta, || v.what())?;
        if v.cancelled.is_some() {
            return Err(Error::VisitStep {
                visit: v.what(),
                problem: "it was cancelled",
            });
        }
        Ok(v)
    }

    fn step_error(v: &Visit, problem: &'static str) -> Error {
        Error::VisitStep {
            visit: v.what(),
            problem,
        }
    }

    /// Changes the plan (before check-in).
    pub fn replan(&mut self, ctx: &ChangeCtx, plan: VisitPlan) -> Result<()> {
        let mut v = self.editable(ctx, LOGGERS, "plan visits")?;
        if v.check_in.is_some() {
            return Err(Self::step_error(
                &v,
                "it has started and can no longer be replanned",
            ));
        }
        v.plan = plan;
        self.doc.update(ctx, &v)
    }

    /// The salesperson arrives.
    pub fn check_in(&mut self, ctx: &ChangeCtx, position: Option<GeoPoint>) -> Result<()> {
        let mut v = self.editable(ctx, &[Role::Salesperson], "check in to visits")?;
        if v.check_in.is_some() {
            return Err(Self::step_error(&v, "already checked in"));
        }
        v.check_in = Some(Stamp {
            at: ctx.at,
            position: position.map(check_position).transpose()?,
        });
        self.doc.update(ctx, &v)
    }

    /// The salesperson leaves. Adds the thank-you call for the next day.
    pub fn check_out(&mut self, ctx: &ChangeCtx, position: Option<GeoPoint>) -> Result<()> {
        let mut v = self.editable(ctx, &[Role::Salesperson], "check out of visits")?;
        let Some(check_in) = &v.check_in else {
            return Err(Self::step_error(&v, "check in before checking out"));
        };
        if v.check_out.is_some() {
            return Err(Self::step_error(&v, "already checked out"));
        }
        if ctx.at < check_in.at {
            return Err(Self::step_error(
                &v,
                "check-out cannot be earlier than check-in",
            ));
        }
        v.check_out = Some(Stamp {
            at: ctx.at,
            position: position.map(check_position).transpose()?,
        });
        v.follow_ups.insert(
            new_item_id(),
            FollowUp {
                kind: FollowUpKind::ThankYouCall,
                text: format!("Thank-you call to {}", v.customer_name),
                due: ctx.at + Duration::days(1),
                done_at: None,
            },
        );
        self.doc.update(ctx, &v)
    }

    /// Records the contact met and the topics discussed.
    pub fn set_conversation(&mut self, ctx: &ChangeCtx, contact: &str, topics: &str) -> Result<()> {
        let mut v = self.editable(ctx, LOGGERS, "log visits")?;
        v.contact = contact.trim().to_string();
        v.topics = topics.trim().to_string();
        self.doc.update(ctx, &v)
    }

    /// Adds a note; returns its id.
    pub fn add_note(&mut self, ctx: &ChangeCtx, text: &str) -> Result<String> {
        let mut v = self.editable(
            ctx,
            &[Role::Salesperson, Role::Manager, Role::OrderDesk],
            "add visit notes",
        )?;
        let id = new_item_id();
        v.notes.insert(
            id.clone(),
            VisitNote {
                at: ctx.at,
                author: ctx.actor.user().to_string(),
                text: require_text(text, "note")?,
            },
        );
        self.doc.update(ctx, &v)?;
        Ok(id)
    }

    /// Records the outcome's intent, feedback and next appointment.
    pub fn set_outcome(
        &mut self,
        ctx: &ChangeCtx,
        intent: &str,
        feedback: &str,
        next_appointment: Option<DateTime<Utc>>,
    ) -> Result<()> {
        let mut v = self.editable(ctx, LOGGERS, "log visits")?;
        v.outcome.intent = intent.trim().to_string();
        v.outcome.feedback = feedback.trim().to_string();
        v.outcome.next_appointment = next_appointment.map(crate::codec::stored_instant);
        self.doc.update(ctx, &v)
    }

    /// Links an order taken on the visit.
    pub fn link_order(&mut self, ctx: &ChangeCtx, order_number: &str) -> Result<()> {
        let mut v = self.editable(ctx, LOGGERS, "log visits")?;
        v.outcome
            .orders
            .insert(require_text(order_number, "order number")?, true);
        self.doc.update(ctx, &v)
    }

    /// Links a complaint recorded on the visit.
    pub fn link_complaint(&mut self, ctx: &ChangeCtx, complaint: DocId) -> Result<()> {
        let mut v = self.editable(ctx, LOGGERS, "log visits")?;
        v.outcome.complaints.insert(complaint.to_string(), true);
        self.doc.update(ctx, &v)
    }

    /// Adds a follow-up; returns its id.
    pub fn add_follow_up(
        &mut self,
        ctx: &ChangeCtx,
        text: &str,
        due: DateTime<Utc>,
    ) -> Result<String> {
        let mut v = self.editable(ctx, LOGGERS, "plan follow-ups")?;
        let id = new_item_id();
        v.follow_ups.insert(
            id.clone(),
            FollowUp {
                kind: FollowUpKind::Other,
                text: require_text(text, "follow-up")?,
                due: crate::codec::stored_instant(due),
                done_at: None,
            },
        );
        self.doc.update(ctx, &v)?;
        Ok(id)
    }

    /// Marks a follow-up done.
    pub fn complete_follow_up(&mut self, ctx: &ChangeCtx, id: &str) -> Result<()> {
        let mut v = self.editable(ctx, LOGGERS, "complete follow-ups")?;
        let what = v.what();
        let f = v.follow_ups.get_mut(id).ok_or(Error::VisitStep {
            visit: what,
            problem: "has no such follow-up",
        })?;
        if f.done_at.is_none() {
            f.done_at = Some(ctx.at);
        }
        self.doc.update(ctx, &v)
    }

    /// Calls the visit off (before check-in), with a reason.
    pub fn cancel(&mut self, ctx: &ChangeCtx, reason: &str) -> Result<()> {
        let mut v = self.editable(ctx, LOGGERS, "cancel visits")?;
        if v.check_in.is_some() {
            return Err(Self::step_error(
                &v,
                "it has started and can no longer be cancelled",
            ));
        }
        v.cancelled = Some(require_reason(reason, "cancel a visit")?);
        self.doc.update(ctx, &v)
    }
}

fn check_position(p: GeoPoint) -> Result<GeoPoint> {
    let ok = p.latitude.is_finite()
        && p.longitude.is_finite()
        && (-90.0..=90.0).contains(&p.latitude)
        && (-180.0..=180.0).contains(&p.longitude);
    if ok {
        Ok(p)
    } else {
        Err(Error::InvalidIdentifier {
            what: "GPS position",
            value: format!("{}, {}", p.latitude, p.longitude),
            hint: "latitude must be within ±90 and longitude within ±180 degrees",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PaymentTerms;
    use crate::testing::*;

    fn plan() -> VisitPlan {
        VisitPlan {
            planned_start: t0(),
            purpose: "Present autumn collection".into(),
            priority: Priority::KeyCustomer,
            materials: "samples".into(),
        }
    }

    fn at(minutes: i64) -> ChangeCtx {
        let mut c = sales();
        c.at = t0() + Duration::minutes(minutes);
        c
    }

    #[test]
    fn a_visit_is_planned_checked_in_and_out() {
        let c = customer("0", PaymentTerms::Cash).read().unwrap();
        let mut v = VisitDoc::plan(&sales(), &c, plan()).unwrap();
        assert_eq!(v.read().unwrap().status(), VisitStatus::Planned);
        let here = GeoPoint {
            latitude: 30.27,
            longitude: 120.15,
        };
        v.check_in(&at(5), Some(here)).unwrap();
        assert_eq!(v.read().unwrap().status(), VisitStatus::InProgress);
        v.set_conversation(&at(10), "Mr Chen", "autumn prices")
            .unwrap();
        v.check_out(&at(47), None).unwrap();
        let r = v.read().unwrap();
        assert_eq!(r.status(), VisitStatus::Done);
        assert_eq!(r.length_minutes(), Some(42));
        assert!(r.over_guideline());
        assert_eq!(r.check_in.unwrap().position, Some(here));
        let thanks: Vec<_> = r.follow_ups.values().collect();
        assert_eq!(thanks.len(), 1);
        assert_eq!(thanks[0].kind, FollowUpKind::ThankYouCall);
        assert_eq!(
            thanks[0].due,
            t0() + Duration::minutes(47) + Duration::days(1)
        );
    }

    #[test]
    fn steps_out_of_order_are_refused() {
        let c = customer("0", PaymentTerms::Cash).read().unwrap();
        let mut v = VisitDoc::plan(&sales(), &c, plan()).unwrap();
        let e = v.check_out(&at(1), None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "visit to Hengda Textiles: check in before checking out"
        );
        v.check_in(&at(10), None).unwrap();
        assert!(v.check_in(&at(11), None).is_err());
        assert!(v.check_out(&at(5), None).is_err());
        assert!(v.cancel(&sales(), "rain").is_err());
        v.check_out(&at(30), None).unwrap();
        assert!(v.check_out(&at(31), None).is_err());
        assert!(!v.read().unwrap().over_guideline());
    }

    #[test]
    fn bad_gps_is_refused() {
        let c = customer("0", PaymentTerms::Cash).read().unwrap();
        let mut v = VisitDoc::plan(&sales(), &c, plan()).unwrap();
        let before = v.document().heads();
        for (la, lo) in [(91.0, 0.0), (0.0, 181.0), (f64::NAN, 0.0)] {
            assert!(
                v.check_in(
                    &at(1),
                    Some(GeoPoint {
                        latitude: la,
                        longitude: lo
                    })
                )
                .is_err()
            );
        }
        assert_eq!(v.document().heads(), before);
    }

    #[test]
    fn only_the_salesperson_and_their_manager_log_visits() {
        let c = customer("0", PaymentTerms::Cash).read().unwrap();
        assert!(matches!(
            VisitDoc::plan(&sales_b(), &c, plan()),
            Err(Error::NotOwner { .. })
        ));
        assert!(matches!(
            VisitDoc::plan(&warehouse(), &c, plan()),
            Err(Error::RoleNotAllowed { .. })
        ));
        let mut v = VisitDoc::plan(&sales(), &c, plan()).unwrap();
        assert!(matches!(
            v.add_note(&sales_b(), "hi"),
            Err(Error::NotOwner { .. })
        ));
        assert!(matches!(
            v.check_in(&manager(), None),
            Err(Error::RoleNotAllowed { .. })
        ));
        v.add_note(&manager(), "ask about the fair").unwrap();
    }

    #[test]
    fn outcome_links_orders_and_complaints() {
        let c = customer("0", PaymentTerms::Cash).read().unwrap();
        let mut v = VisitDoc::plan(&sales(), &c, plan()).unwrap();
        v.link_order(&sales(), "S07-20261123-001").unwrap();
        let complaint = DocId::new();
        v.link_complaint(&sales(), complaint).unwrap();
        v.set_outcome(
            &sales(),
            "200 pcs after the fair",
            "likes the colours",
            Some(t0() + Duration::days(7)),
        )
        .unwrap();
        let r = v.read().unwrap();
        assert!(r.outcome.orders.contains_key("S07-20261123-001"));
        assert!(r.outcome.complaints.contains_key(&complaint.to_string()));
        assert_eq!(r.outcome.next_appointment, Some(t0() + Duration::days(7)));
    }

    #[test]
    fn a_cancelled_visit_takes_no_more_edits() {
        let c = customer("0", PaymentTerms::Cash).read().unwrap();
        let mut v = VisitDoc::plan(&sales(), &c, plan()).unwrap();
        assert_eq!(
            v.cancel(&sales(), ""),
            Err(Error::ReasonRequired("cancel a visit"))
        );
        v.cancel(&sales(), "shop closed").unwrap();
        assert_eq!(v.read().unwrap().status(), VisitStatus::Cancelled);
        assert!(v.check_in(&sales(), None).is_err());
    }

    #[test]
    fn follow_ups_are_completed_once() {
        let c = customer("0", PaymentTerms::Cash).read().unwrap();
        let mut v = VisitDoc::plan(&sales(), &c, plan()).unwrap();
        let f = v
            .add_follow_up(&sales(), "send price list", t0() + Duration::days(2))
            .unwrap();
        v.complete_follow_up(&at(60), &f).unwrap();
        v.complete_follow_up(&at(90), &f).unwrap();
        assert_eq!(
            v.read().unwrap().follow_ups[&f].done_at,
            Some(t0() + Duration::minutes(60))
        );
        assert!(v.complete_follow_up(&sales(), "nope").is_err());
    }
}
