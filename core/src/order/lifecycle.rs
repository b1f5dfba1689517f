//! The order lifecycle: statuses, the steps between them, who may take each
//! step, and how the current status is derived from the recorded events.
//!
//! ```text
//! draft → submitted → approved → confirmed → in_production → in_stock → shipped → delivered → settled → archived
//!           ↘ rejected (back to the salesperson with a reason)   any status before shipped → cancelled
//! ```
//!
//! The status is never stored. An order keeps an append-only list of events;
//! [`derive_state`] replays them in list order (the same on every replica) and
//! applies each event only if it is possible from the status reached so far.
//! Cancellation applies from any status before shipped, so an order cancelled
//! while a manager approved it is cancelled on every replica, whichever event
//! the list puts first. An approval records a digest of the approved content; if
//! the content now differs, the order shows as changed after approval.

use std::fmt;

use autosurgeon::{Hydrate, Reconcile};
use chrono::{DateTime, Utc};

use crate::actor::Role;

/// Where an order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Reconcile, Hydrate)]
pub enum OrderStatus {
    /// Being written, not handed in.
    Draft,
    /// Handed in by the salesperson, waiting for a manager.
    Submitted,
    /// Sent back by a manager with a reason; editable and resubmittable.
    Rejected,
    /// Approved by a manager.
    Approved,
    /// Lines, prices, customer or delivery date changed after approval: a manager
    /// must approve again. (Derived only; never recorded in an event.)
    ChangedAfterApproval,
    /// The customer confirmed the order.
    Confirmed,
    /// In production.
    InProduction,
    /// Goods in the warehouse.
    InStock,
    /// Shipped.
    Shipped,
    /// The customer signed for the goods.
    Delivered,
    /// Paid in full.
    Settled,
    /// Filed.
    Archived,
    /// Cancelled before shipping.
    Cancelled,
}

impl OrderStatus {
    /// The status as stored and shown in tables (`in_production`).
    pub fn as_str(&self) -> &'static str {
        match self {
            OrderStatus::Draft => "draft",
            OrderStatus::Submitted => "submitted",
            OrderStatus::Rejected => "rejected",
            OrderStatus::Approved => "approved",
            OrderStatus::ChangedAfterApproval => "changed_after_approval",
            OrderStatus::Confirmed => "confirmed",
            OrderStatus::InProduction => "in_production",
            OrderStatus::InStock => "in_stock",
            OrderStatus::Shipped => "shipped",
            OrderStatus::Delivered => "delivered",
            OrderStatus::Settled => "settled",
            OrderStatus::Archived => "archived",
            OrderStatus::Cancelled => "cancelled",
        }
    }

    /// Every status.
    pub const ALL: [OrderStatus; 13] = [
        OrderStatus::Draft,
        OrderStatus::Submitted,
        OrderStatus::Rejected,
        OrderStatus::Approved,
        OrderStatus::ChangedAfterApproval,
        OrderStatus::Confirmed,
        OrderStatus::InProduction,
        OrderStatus::InStock,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
        OrderStatus::Settled,
        OrderStatus::Archived,
        OrderStatus::Cancelled,
    ];

    /// Reads a status written by [`OrderStatus::as_str`].
    pub fn parse(s: &str) -> Option<OrderStatus> {
        OrderStatus::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// The status in words, for messages.
    pub fn in_words(&self) -> &'static str {
        match self {
            OrderStatus::ChangedAfterApproval => "changed after approval",
            OrderStatus::InProduction => "in production",
            OrderStatus::InStock => "in stock",
            other => other.as_str(),
        }
    }

    /// Approved (or further) and not yet shipped: the statuses in which a content
    /// change needs a new approval.
    pub(crate) fn is_approved_stage(&self) -> bool {
        matches!(
            self,
            OrderStatus::Approved
                | OrderStatus::Confirmed
                | OrderStatus::InProduction
                | OrderStatus::InStock
        )
    }

    /// Before the goods left: the statuses from which an order can be cancelled.
    pub fn is_before_shipping(&self) -> bool {
        matches!(
            self,
            OrderStatus::Draft | OrderStatus::Submitted | OrderStatus::Rejected
        ) || self.is_approved_stage()
    }

    /// Nothing about the order may change any more.
    pub fn is_closed(&self) -> bool {
        matches!(
            self,
            OrderStatus::Settled | OrderStatus::Archived | OrderStatus::Cancelled
        )
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.in_words())
    }
}

/// A step in the lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Reconcile, Hydrate)]
pub enum OrderAction {
    /// draft/rejected → submitted.
    Submit,
    /// submitted → approved (credit checked).
    Approve,
    /// Approve again after a change; the status stays where it was.
    Reapprove,
    /// submitted (or changed after approval) → rejected, with a reason.
    Reject,
    /// approved → confirmed by the customer.
    Confirm,
    /// confirmed → in production.
    StartProduction,
    /// confirmed/in production → in stock.
    MarkInStock,
    /// in stock → shipped (credit checked).
    Ship,
    /// shipped → delivered.
    Deliver,
    /// delivered → settled (paid in full).
    Settle,
    /// settled/cancelled → archived.
    Archive,
    /// any status before shipped → cancelled, with a reason.
    Cancel,
}

impl OrderAction {
    /// The step in words as the object of "cannot be ...".
    pub fn in_words(&self) -> &'static str {
        match self {
            OrderAction::Submit => "submitted",
            OrderAction::Approve => "approved",
            OrderAction::Reapprove => "re-approved",
            OrderAction::Reject => "rejected",
            OrderAction::Confirm => "confirmed",
            OrderAction::StartProduction => "put into production",
            OrderAction::MarkInStock => "booked in stock",
            OrderAction::Ship => "shipped",
            OrderAction::Deliver => "marked delivered",
            OrderAction::Settle => "settled",
            OrderAction::Archive => "archived",
            OrderAction::Cancel => "cancelled",
        }
    }

    /// The step as a verb phrase after "cannot" ("approve orders").
    pub fn as_permission(&self) -> &'static str {
        match self {
            OrderAction::Submit => "submit orders",
            OrderAction::Approve | OrderAction::Reapprove => "approve orders",
            OrderAction::Reject => "reject orders",
            OrderAction::Confirm => "confirm orders with the customer",
            OrderAction::StartProduction => "put orders into production",
            OrderAction::MarkInStock => "book orders into stock",
            OrderAction::Ship => "ship orders",
            OrderAction::Deliver => "mark orders delivered",
            OrderAction::Settle => "settle orders",
            OrderAction::Archive => "archive orders",
            OrderAction::Cancel => "cancel orders",
        }
    }

    /// The roles allowed to take this step.
    pub fn roles(&self) -> &'static [Role] {
        match self {
            OrderAction::Submit => &[Role::Salesperson, Role::OrderDesk],
            OrderAction::Approve | OrderAction::Reapprove | OrderAction::Reject => &[Role::Manager],
            OrderAction::Confirm => &[Role::OrderDesk],
            OrderAction::StartProduction => &[Role::Production],
            OrderAction::MarkInStock | OrderAction::Ship => &[Role::Warehouse],
            OrderAction::Deliver => &[Role::OrderDesk, Role::Warehouse],
            OrderAction::Settle => &[Role::Finance],
            OrderAction::Archive => &[Role::OrderDesk, Role::Finance, Role::Admin],
            OrderAction::Cancel => &[Role::Salesperson, Role::Manager, Role::OrderDesk],
        }
    }

    /// The status reached by taking this step from `from`, if the step is
    /// possible from there. (Derived statuses are never inputs: `from` is a
    /// recorded status.)
    pub fn target(&self, from: OrderStatus) -> Option<OrderStatus> {
        use OrderStatus as S;
        let to = match (self, from) {
            (OrderAction::Submit, S::Draft | S::Rejected) => S::Submitted,
            (OrderAction::Approve, S::Submitted) => S::Approved,
            (OrderAction::Reapprove, s) if s.is_approved_stage() => s,
            (OrderAction::Reject, s) if s == S::Submitted || s.is_approved_stage() => S::Rejected,
            (OrderAction::Confirm, S::Approved) => S::Confirmed,
            (OrderAction::StartProduction, S::Confirmed) => S::InProduction,
            (OrderAction::MarkInStock, S::Confirmed | S::InProduction) => S::InStock,
            (OrderAction::Ship, S::InStock) => S::Shipped,
            (OrderAction::Deliver, S::Shipped) => S::Delivered,
            (OrderAction::Settle, S::Delivered) => S::Settled,
            (OrderAction::Archive, S::Settled | S::Cancelled) => S::Archived,
            (OrderAction::Cancel, s) if s.is_before_shipping() => S::Cancelled,
            _ => return None,
        };
        Some(to)
    }

    /// Does this step record an approval digest?
    pub fn approves(&self) -> bool {
        matches!(self, OrderAction::Approve | OrderAction::Reapprove)
    }
}

/// One recorded lifecycle step: the audit trail of an order.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate)]
pub struct OrderEvent {
    /// Stable id of the event.
    #[key]
    pub id: String,
    /// The step taken.
    pub action: OrderAction,
    /// The status the actor saw.
    pub from: OrderStatus,
    /// The status the step leads to.
    pub to: OrderStatus,
    /// Who.
    pub user: String,
    /// In which role.
    pub role: String,
    /// On which device.
    pub device: String,
    /// When (the actor's clock).
    #[autosurgeon(with = "crate::codec::time")]
    pub at: DateTime<Utc>,
    /// Why (required for reject, cancel and credit overrides).
    pub reason: String,
    /// For approvals: the digest of the content approved.
    pub digest: Option<String>,
    /// For approvals and shipping: the credit check was overridden (see `reason`).
    pub credit_override: bool,
}

impl OrderEvent {
    /// The status this event leads to when replayed at `stage`, or `None`
    /// if it does not apply there (it is superseded): a cancellation applies
    /// from any status before shipping, any other step only from the status
    /// it names.
    pub fn applies_at(&self, stage: OrderStatus) -> Option<OrderStatus> {
        let applies = self.action == OrderAction::Cancel || self.from == stage;
        self.action.target(stage).filter(|_| applies)
    }
}

/// What the events say about an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerivedState {
    /// The recorded lifecycle status (never `ChangedAfterApproval`).
    pub stage: OrderStatus,
    /// How the order ended up: its stage, or for an archived order the stage
    /// it was archived from (settled or cancelled), so archiving never turns
    /// a cancelled order into a sale.
    pub outcome: OrderStatus,
    /// The digest of the content most recently approved, if any approval stands.
    pub approved_digest: Option<String>,
    /// Ids of events that did not apply because a concurrent event got there first
    /// (e.g. an approval of an order that was cancelled at the same time).
    pub superseded: Vec<String>,
}

/// Replays `events` in order and derives the lifecycle state.
pub fn derive_state(events: &[OrderEvent]) -> DerivedState {
    let mut stage = OrderStatus::Draft;
    let mut outcome = OrderStatus::Draft;
    let mut approved_digest = None;
    let mut superseded = Vec::new();
    for ev in events {
        match ev.applies_at(stage) {
            Some(next) => {
                if ev.action.approves() {
                    approved_digest = ev.digest.clone();
                } else if matches!(ev.action, OrderAction::Reject | OrderAction::Submit) {
                    approved_digest = None;
                }
                stage = next;
                if next != OrderStatus::Archived {
                    outcome = next;
                }
            }
            None => superseded.push(ev.id.clone()),
        }
    }
    DerivedState {
        stage,
        outcome,
        approved_digest,
        superseded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderAction as A;
    use OrderStatus as S;

    fn ev(id: &str, action: OrderAction, from: OrderStatus, digest: Option<&str>) -> OrderEvent {
        OrderEvent {
            id: id.into(),
            action,
            from,
            to: action.target(from).unwrap_or(from),
            user: "u".into(),
            role: "r".into(),
            device: "d".into(),
            at: DateTime::UNIX_EPOCH,
            reason: String::new(),
            digest: digest.map(str::to_string),
            credit_override: false,
        }
    }

    #[test]
    fn the_happy_path_walks_every_status() {
        let steps = [
            (A::Submit, S::Draft, S::Submitted),
            (A::Approve, S::Submitted, S::Approved),
            (A::Confirm, S::Approved, S::Confirmed),
            (A::StartProduction, S::Confirmed, S::InProduction),
            (A::MarkInStock, S::InProduction, S::InStock),
            (A::Ship, S::InStock, S::Shipped),
            (A::Deliver, S::Shipped, S::Delivered),
            (A::Settle, S::Delivered, S::Settled),
            (A::Archive, S::Settled, S::Archived),
        ];
        let mut events = Vec::new();
        for (i, (a, from, to)) in steps.into_iter().enumerate() {
            assert_eq!(a.target(from), Some(to));
            events.push(ev(&i.to_string(), a, from, Some("x")));
            assert_eq!(derive_state(&events).stage, to);
        }
    }

    #[test]
    fn impossible_steps_have_no_target() {
        assert_eq!(A::Approve.target(S::Draft), None);
        assert_eq!(A::Ship.target(S::Approved), None);
        assert_eq!(A::Cancel.target(S::Shipped), None);
        assert_eq!(A::Settle.target(S::Shipped), None);
        assert_eq!(A::Archive.target(S::Delivered), None);
        assert_eq!(A::Reapprove.target(S::Submitted), None);
        assert_eq!(A::Submit.target(S::Approved), None);
    }

    #[test]
    fn cancel_wins_over_a_concurrent_approval_in_either_order() {
        let submit = ev("1", A::Submit, S::Draft, None);
        let approve = ev("2", A::Approve, S::Submitted, Some("d"));
        let cancel = ev("3", A::Cancel, S::Submitted, None);
        let a = derive_state(&[submit.clone(), approve.clone(), cancel.clone()]);
        let b = derive_state(&[submit, cancel, approve]);
        assert_eq!(a.stage, S::Cancelled);
        assert_eq!(b.stage, S::Cancelled);
        assert_eq!(b.superseded, vec!["2".to_string()]);
    }

    #[test]
    fn a_stale_event_is_superseded() {
        // Two warehouse clerks both ship: the second one saw in_stock too, but the
        // order is already shipped when its event is replayed.
        let mut events = vec![
            ev("1", A::Submit, S::Draft, None),
            ev("2", A::Approve, S::Submitted, Some("d")),
            ev("3", A::Confirm, S::Approved, None),
            ev("4", A::MarkInStock, S::Confirmed, None),
            ev("5", A::Ship, S::InStock, None),
            ev("6", A::Ship, S::InStock, None),
        ];
        let s = derive_state(&events);
        assert_eq!(s.stage, S::Shipped);
        assert_eq!(s.superseded, vec!["6".to_string()]);
        events.push(ev("7", A::Cancel, S::Shipped, None));
        assert_eq!(derive_state(&events).stage, S::Shipped);
    }

    #[test]
    fn reapproval_replaces_the_digest_and_rejection_clears_it() {
        let mut events = vec![
            ev("1", A::Submit, S::Draft, None),
            ev("2", A::Approve, S::Submitted, Some("v1")),
        ];
        assert_eq!(derive_state(&events).approved_digest.as_deref(), Some("v1"));
        events.push(ev("3", A::Reapprove, S::Approved, Some("v2")));
        let s = derive_state(&events);
        assert_eq!(
            (s.stage, s.approved_digest.as_deref()),
            (S::Approved, Some("v2"))
        );
        events.push(ev("4", A::Reject, S::Approved, None));
        let s = derive_state(&events);
        assert_eq!((s.stage, s.approved_digest), (S::Rejected, None));
    }

    #[test]
    fn roles_per_step() {
        assert_eq!(A::Approve.roles(), &[Role::Manager]);
        assert!(!A::Ship.roles().contains(&Role::Salesperson));
        assert!(!A::Settle.roles().contains(&Role::Salesperson));
        assert!(A::Submit.roles().contains(&Role::Salesperson));
    }

    #[test]
    fn an_archived_order_keeps_its_outcome() {
        let cancelled = [
            ev("1", A::Submit, S::Draft, None),
            ev("2", A::Cancel, S::Submitted, None),
            ev("3", A::Archive, S::Cancelled, None),
        ];
        let d = derive_state(&cancelled);
        assert_eq!((d.stage, d.outcome), (S::Archived, S::Cancelled));
        let submitted = derive_state(&cancelled[..1]);
        assert_eq!(submitted.outcome, S::Submitted);
    }
}
