//! The relay's check of every incoming change: given the relay's copy of a
//! document before and after a device's changes, may that device's user have
//! made them? The same rules the typed API applies on the phone, applied to the
//! result, so a modified app or a forged change cannot get around them.
//!
//! Each document kind is split into parts, each owned by some roles (an order's
//! lines belong to sales, its shipment to the warehouse, its payments to
//! finance); a change may touch only parts the actor's role owns, and new
//! lifecycle events must be steps the role may take, recorded under the
//! actor's own name and device.

use crate::access::may_see;
use crate::actor::{Actor, Role};
use crate::catalog::Catalog;
use crate::complaint::Complaint;
use crate::content::Content;
use crate::customer::{Customer, CustomerStatus};
use crate::document::Meta;
use crate::order::{Order, OrderStatus};
use crate::report::DailyReport;
use crate::sync::Policy;
use crate::visit::Visit;

/// The business rules of DOMAIN.md, checked on the relay for every change.
#[derive(Debug, Default, Clone, Copy)]
pub struct RolePolicy;

impl Policy for RolePolicy {
    fn check(
        &self,
        actor: &Actor,
        before: Option<&Content>,
        after: &Content,
    ) -> Result<(), String> {
        let meta = after.meta();
        if !may_see(actor, meta) || before.is_some_and(|b| !may_see(actor, b.meta())) {
            return Err(format!("{} is not yours to change", describe(meta)));
        }
        if let Some(b) = before
            && b.meta() != meta
            && actor.role() != Role::Admin
        {
            return Err("only an administrator can change a document's owner or region".into());
        }
        match (before, after) {
            (None, Content::Order(a)) => check_order(actor, None, a),
            (Some(Content::Order(b)), Content::Order(a)) => check_order(actor, Some(b), a),
            (None, Content::Customer(a)) => check_customer(actor, None, a),
            (Some(Content::Customer(b)), Content::Customer(a)) => check_customer(actor, Some(b), a),
            (None, Content::Visit(a)) => check_visit(actor, None, a),
            (Some(Content::Visit(b)), Content::Visit(a)) => check_visit(actor, Some(b), a),
            (None, Content::Complaint(a)) => check_complaint(actor, None, a),
            (Some(Content::Complaint(b)), Content::Complaint(a)) => {
                check_complaint(actor, Some(b), a)
            }
            (None, Content::DailyReport(a)) => check_report(actor, None, a),
            (Some(Content::DailyReport(b)), Content::DailyReport(a)) => {
                check_report(actor, Some(b), a)
            }
            (None, Content::Catalog(a)) => check_catalog(actor, None, a),
            (Some(Content::Catalog(b)), Content::Catalog(a)) => check_catalog(actor, Some(b), a),
            (Some(_), _) => Err("a document's kind cannot change".into()),
        }
    }
}

fn describe(meta: &Meta) -> String {
    format!("{} {}", meta.kind.replace('_', " "), meta.id)
}

fn role_may(actor: &Actor, roles: &[Role], what: &str) -> Result<(), String> {
    if roles.contains(&actor.role()) {
        Ok(())
    } else {
        Err(format!("a {} cannot {what}", actor.role().in_words()))
    }
}

/// The creator recorded in a new document must be the actor.
fn created_by_actor(actor: &Actor, m: &crate::Meta) -> Result<(), String> {
    if m.created_by != actor.user() || m.created_on != actor.device() {
        return Err(format!(
            "the document says it was created by {} on {}, but this is {} on {}",
            m.created_by,
            m.created_on,
            actor.user(),
            actor.device()
        ));
    }
    Ok(())
}

fn check_order(actor: &Actor, before: Option<&Order>, after: &Order) -> Result<(), String> {
    const SALES: &[Role] = &[Role::Salesperson, Role::Manager, Role::OrderDesk];
    // Everything sales owns: the order without its events, production,
    // shipment and payments.
    let content = |o: &Order| Order {
        events: Vec::new(),
        production: Default::default(),
        shipment: Default::default(),
        payments: Default::default(),
        ..o.clone()
    };
    let Some(before) = before else {
        role_may(actor, SALES, "create orders")?;
        created_by_actor(actor, &after.meta)?;
        if !after.payments.is_empty()
            || after.production != Default::default()
            || after.shipment != Default::default()
        {
            return Err("a new order cannot carry payments, production or shipping details".into());
        }
        return check_new_events(actor, &[], &after.events);
    };
    let stage = before.derived().stage;
    let number = &before.number;
    let changed = |f: bool, what: &str, roles: &[Role]| -> Result<(), String> {
        if f {
            role_may(actor, roles, what)
        } else {
            Ok(())
        }
    };
    let any_change = content(before) != content(after)
        || before.production != after.production
        || before.shipment != after.shipment
        || before.payments != after.payments
        || before.events != after.events;
    if any_change
        && matches!(
            stage,
            OrderStatus::Settled | OrderStatus::Archived | OrderStatus::Cancelled
        )
    {
        // Archiving a settled or cancelled order is the one step left.
        let only_archive = content(before) == content(after)
            && before.payments == after.payments
            && after
                .events
                .iter()
                .filter(|e| !before.events.contains(e))
                .all(|e| e.action == crate::OrderAction::Archive)
            && stage != OrderStatus::Archived;
        if !only_archive {
            return Err(format!(
                "order {number} is {} and can no longer be changed",
                stage.as_str()
            ));
        }
    }
    if content(before) != content(after) {
        role_may(actor, SALES, "change order lines or details")?;
        if !stage.is_before_shipping() {
            return Err(format!(
                "order {number} has been {}; its lines, prices, customer and delivery date can no longer be changed",
                stage.as_str()
            ));
        }
    }
    changed(
        before.production != after.production,
        "update production progress",
        &[Role::Production],
    )?;
    changed(
        before.shipment != after.shipment,
        "record shipments",
        &[Role::Warehouse],
    )?;
    changed(
        before.payments != after.payments,
        "record payments",
        &[Role::Finance],
    )?;
    if before
        .payments
        .keys()
        .any(|k| !after.payments.contains_key(k))
        || before
            .payments
            .iter()
            .any(|(k, p)| after.payments.get(k).is_some_and(|q| q != p))
    {
        return Err("recorded payments cannot be changed or removed".into());
    }
    check_new_events(actor, &before.events, &after.events)
}

/// A step in a document's history, signed by who took it.
trait SignedStep: PartialEq {
    /// Who took the step: user, role, device.
    fn signer(&self) -> (&str, &str, &str);
}

impl SignedStep for crate::OrderEvent {
    fn signer(&self) -> (&str, &str, &str) {
        (&self.user, &self.role, &self.device)
    }
}

impl SignedStep for crate::ComplaintEvent {
    fn signer(&self) -> (&str, &str, &str) {
        (&self.user, &self.role, &self.device)
    }
}

/// A history (`what`: "order", "complaint") only grows: every step before is
/// still there, unchanged, and every step not there before (compared whole,
/// so a copy of an old step's id with new content is a new step) is one the
/// actor may take (`may_take`) and is signed by the actor.
fn check_history<E: SignedStep>(
    actor: &Actor,
    what: &str,
    before: &[E],
    after: &[E],
    may_take: impl Fn(&E) -> Result<(), String>,
) -> Result<(), String> {
    if !before.iter().all(|b| after.contains(b)) {
        return Err(format!("the {what}'s history cannot be rewritten"));
    }
    for step in after.iter().filter(|e| !before.contains(e)) {
        may_take(step)?;
        let (user, role, device) = step.signer();
        if user != actor.user() || role != actor.role().as_str() || device != actor.device() {
            return Err(format!(
                "a step in the {what}'s history is signed by {user} ({role}) on {device}, but this is {} on {}",
                actor.user(),
                actor.device()
            ));
        }
    }
    Ok(())
}

fn check_new_events(
    actor: &Actor,
    before: &[crate::OrderEvent],
    after: &[crate::OrderEvent],
) -> Result<(), String> {
    check_history(actor, "order", before, after, |e| {
        role_may(actor, e.action.roles(), e.action.as_permission())?;
        if e.action == crate::OrderAction::Cancel
            && actor.role() == Role::Salesperson
            && !matches!(
                e.from,
                OrderStatus::Draft | OrderStatus::Submitted | OrderStatus::Rejected
            )
        {
            return Err("a salesperson cannot cancel orders that a manager has approved".into());
        }
        Ok(())
    })
}

fn check_customer(
    actor: &Actor,
    before: Option<&Customer>,
    after: &Customer,
) -> Result<(), String> {
    let Some(before) = before else {
        created_by_actor(actor, &after.meta)?;
        return match actor.role() {
            Role::Admin | Role::Manager => Ok(()),
            Role::Salesperson
                if after.status == CustomerStatus::Prospect
                    && after.credit_limit.is_zero()
                    && after.receivables.is_zero()
                    && after.meta.owner == actor.user() =>
            {
                Ok(())
            }
            Role::Salesperson => {
                Err("a salesperson can only create prospects (no credit, owned by themself)".into())
            }
            _ => Err(format!(
                "a {} cannot create customers",
                actor.role().in_words()
            )),
        };
    };
    let details = |c: &Customer| (c.name.clone(), c.address.clone(), c.contacts.clone());
    let credit = |c: &Customer| (c.payment_terms, c.credit_days, c.credit_limit);
    let standing = |c: &Customer| (c.grade, c.status);
    let receivables = |c: &Customer| (c.receivables, c.receivables_as_of);
    if details(before) != details(after) {
        role_may(
            actor,
            &[
                Role::Salesperson,
                Role::Manager,
                Role::OrderDesk,
                Role::Admin,
            ],
            "edit customer details",
        )?;
    }
    if credit(before) != credit(after) {
        role_may(
            actor,
            &[Role::Finance, Role::Admin],
            "change credit limits or payment terms",
        )?;
    }
    if standing(before) != standing(after) {
        role_may(
            actor,
            &[Role::Manager, Role::Admin],
            "change customer grades or activate customers",
        )?;
    }
    if receivables(before) != receivables(after) {
        role_may(actor, &[Role::Finance], "publish receivables")?;
    }
    Ok(())
}

fn check_visit(actor: &Actor, before: Option<&Visit>, after: &Visit) -> Result<(), String> {
    const LOGGERS: &[Role] = &[Role::Salesperson, Role::Manager];
    let Some(before) = before else {
        created_by_actor(actor, &after.meta)?;
        return role_may(actor, LOGGERS, "plan visits");
    };
    let mut without_notes = after.clone();
    without_notes.notes = before.notes.clone();
    if without_notes != *before {
        role_may(actor, LOGGERS, "log visits")?;
    }
    if before.notes != after.notes {
        role_may(
            actor,
            &[Role::Salesperson, Role::Manager, Role::OrderDesk],
            "add visit notes",
        )?;
        for (id, n) in &after.notes {
            match before.notes.get(id) {
                Some(old) if old != n => return Err("visit notes cannot be rewritten".into()),
                None if n.author != actor.user() => {
                    return Err(format!(
                        "a note is signed by {}, but this is {}",
                        n.author,
                        actor.user()
                    ));
                }
                _ => {}
            }
        }
    }
    if before.check_in != after.check_in || before.check_out != after.check_out {
        role_may(actor, &[Role::Salesperson], "check in to or out of visits")?;
    }
    Ok(())
}

fn check_complaint(
    actor: &Actor,
    before: Option<&Complaint>,
    after: &Complaint,
) -> Result<(), String> {
    let Some(before) = before else {
        created_by_actor(actor, &after.meta)?;
        role_may(
            actor,
            &[Role::Salesperson, Role::Manager, Role::OrderDesk],
            "record complaints",
        )?;
        return if after.events.is_empty() {
            Ok(())
        } else {
            Err("a new complaint has no history yet".into())
        };
    };
    let mut same_events = after.clone();
    same_events.events = before.events.clone();
    if same_events != *before {
        role_may(
            actor,
            &[Role::Salesperson, Role::Manager, Role::OrderDesk],
            "edit complaints",
        )?;
    }
    check_history(actor, "complaint", &before.events, &after.events, |e| {
        let roles: &[Role] = match e.action {
            crate::ComplaintAction::Resolve => &[Role::Manager, Role::OrderDesk, Role::Admin],
            crate::ComplaintAction::ReportBack => &[Role::Salesperson, Role::OrderDesk],
            crate::ComplaintAction::Reopen => &[Role::Salesperson, Role::Manager, Role::OrderDesk],
        };
        role_may(actor, roles, "take this step on complaints")
    })
}

fn check_report(
    actor: &Actor,
    before: Option<&DailyReport>,
    after: &DailyReport,
) -> Result<(), String> {
    role_may(actor, &[Role::Salesperson], "write daily visit reports")?;
    match before {
        None => created_by_actor(actor, &after.meta),
        Some(b) if b.submitted_at().is_some() => {
            // Another device's submission of the same report may still arrive.
            let mut only_submissions = after.clone();
            only_submissions.submissions = b.submissions.clone();
            if only_submissions == *b {
                Ok(())
            } else {
                Err(format!(
                    "the daily visit report for {} was already submitted",
                    b.date
                ))
            }
        }
        Some(_) => Ok(()),
    }
}

fn check_catalog(actor: &Actor, before: Option<&Catalog>, after: &Catalog) -> Result<(), String> {
    let Some(before) = before else {
        created_by_actor(actor, &after.meta)?;
        return role_may(actor, &[Role::Admin], "create the catalog");
    };
    if before.price_lists != after.price_lists {
        role_may(actor, &[Role::Admin], "edit price lists")?;
    }
    let strip_stock = |c: &Catalog| {
        c.products
            .iter()
            .map(|(k, p)| {
                let mut p = p.clone();
                p.stock = Default::default();
                (k.clone(), p)
            })
            .collect::<Vec<_>>()
    };
    if strip_stock(before) != strip_stock(after) {
        role_may(actor, &[Role::Admin], "edit the catalog")?;
    }
    for (code, p) in &after.products {
        let old = before
            .products
            .get(code)
            .map(|p| p.stock.clone())
            .unwrap_or_default();
        if old.on_hand != p.stock.on_hand || old.reserved != p.stock.reserved {
            role_may(actor, &[Role::Warehouse], "publish warehouse stock")?;
        }
        if old.in_production != p.stock.in_production {
            role_may(actor, &[Role::Production], "publish production figures")?;
        }
    }
    Ok(())
}
