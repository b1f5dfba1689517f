//! An order's rules: its values, the parts each role owns (sales the lines
//! and header, production its progress, the warehouse the shipment, finance
//! the payments), its steps replayed on the relay's copy through
//! [`decide_step`], its customer, and the credit check of approvals and
//! shipments against the relay's own figures.

use super::history::{new_steps, signed_by, validate_steps};
use super::limits::{self, MAX_ITEMS, MAX_LINES};
use super::{
    Facts, KindRules, Verdict, created_by_actor, customer_reference, role_may, validate_meta,
};
use crate::actor::{Actor, Role};
use crate::error::Result;
use crate::order::{
    CreditCheckpoint, CreditExposure, Order, OrderAction, OrderEvent, OrderStatus, Step,
    decide_step, derive_state, is_current_digest,
};

const SALES: &[Role] = &[Role::Salesperson, Role::Manager, Role::OrderDesk];

/// Line `n` (1-based, for the message) of an order, keyed `id`, within the
/// limits: checked with the whole order, and alone when one line is edited.
pub(crate) fn validate_line(n: usize, id: &str, l: &crate::order::OrderLine) -> Verdict {
    use limits::{amount, item_id, percent, quantity, short_text};
    // The field is named only when something is wrong with it.
    let named = |r: Verdict| r.map_err(|e| format!("line {n} ({}): {e}", l.product));
    named(item_id("id", id))?;
    if l.product.trim().is_empty() {
        return named(Err("the product code is empty".into()));
    }
    named(short_text("product code", &l.product))?;
    named(short_text("name", &l.name))?;
    named(short_text("variant", &l.variant))?;
    named(short_text("unit", &l.unit))?;
    named(quantity("quantity", l.quantity))?;
    named(amount("unit price", l.unit_price))?;
    named(percent("discount", l.discount_percent))
}

impl KindRules for Order {
    fn validate(&self) -> Verdict {
        use limits::{amount, count, date, item_id, quantity, short_text, text, time};
        validate_meta(&self.meta)?;
        short_text("the order number", &self.number)?;
        short_text("the customer's name", &self.customer_name)?;
        short_text("the customer's order reference", &self.customer_reference)?;
        if let Some(d) = self.delivery_date {
            date("the delivery date", d)?;
        }
        amount("the deposit", self.deposit)?;
        text("the delivery address", &self.delivery.address)?;
        short_text("the consignee", &self.delivery.consignee)?;
        short_text("the consignee's phone", &self.delivery.phone)?;
        short_text("the transport", &self.delivery.transport)?;
        let r = &self.requirements;
        text("the packing requirements", &r.packing)?;
        text("the transport requirements", &r.transport)?;
        text("the after-sales requirements", &r.after_sales)?;
        text("the written-evidence reference", &self.evidence)?;
        text("the notes", &self.notes)?;
        count("the order's lines", self.lines.len(), MAX_LINES)?;
        for (n, (id, l)) in self.lines.iter().enumerate() {
            validate_line(n + 1, id, l)?;
        }
        validate_steps("the order's history", &self.events)?;
        for e in &self.events {
            text("a step's reason", &e.reason)?;
            if let Some(d) = &e.digest {
                short_text("an approval's digest", d)?;
            }
        }
        if let Some(d) = self.production.expected_finish {
            date("the expected finish date", d)?;
        }
        text("the production note", &self.production.note)?;
        short_text("the carrier", &self.shipment.carrier)?;
        short_text("the tracking number", &self.shipment.tracking)?;
        text("the shipping notice", &self.shipment.notice)?;
        count("the order's payments", self.payments.len(), MAX_ITEMS)?;
        for (id, p) in &self.payments {
            item_id("a payment", id)?;
            quantity("a payment's amount", p.amount)?;
            time("a payment's date", p.received_at)?;
            short_text("a payment's reference", &p.reference)?;
            short_text("a payment's clerk", &p.recorded_by)?;
        }
        for link in [&self.split_from, &self.merged_into].into_iter().flatten() {
            short_text("a linked order number", link)?;
        }
        // Within the limits above no total overflows; checked all the same.
        self.lines
            .values()
            .try_fold(rust_decimal::Decimal::ZERO, |sum, l| {
                l.checked_total().and_then(|t| sum.checked_add(t))
            })
            .ok_or_else(|| format!("order {}'s total is too large", self.number))?;
        Ok(())
    }

    fn check_change(actor: &Actor, before: Option<&Order>, after: &Order) -> Verdict {
        let what = format!("order {}", after.number);
        let Some(before) = before else {
            role_may(actor, SALES, "create orders")?;
            created_by_actor(actor, &after.meta)?;
            if !after.payments.is_empty()
                || after.production != Default::default()
                || after.shipment != Default::default()
            {
                return Err(
                    "a new order cannot carry payments, production or shipping details".into(),
                );
            }
            let empty = Order {
                events: Vec::new(),
                ..after.clone()
            };
            return check_steps(actor, &what, &empty, after);
        };
        let stage = before.derived().stage;
        let number = &before.number;
        // The header (owner, region) is the policy's: only an administrator
        // moves a document, and that is no change of what was ordered.
        let sales_part = |o: &Order| Order {
            meta: before.meta.clone(),
            events: Vec::new(),
            production: Default::default(),
            shipment: Default::default(),
            payments: Default::default(),
            ..o.clone()
        };
        let content_changed = sales_part(before) != sales_part(after);
        let any_change = content_changed
            || before.production != after.production
            || before.shipment != after.shipment
            || before.payments != after.payments
            || before.events != after.events;
        if any_change && stage.is_closed() {
            // Archiving a settled or cancelled order is the one step left.
            let only_archive = !content_changed
                && before.payments == after.payments
                && before.production == after.production
                && before.shipment == after.shipment
                && after.events.len() > before.events.len()
                && after.events[before.events.len()..]
                    .iter()
                    .all(|e| e.action == OrderAction::Archive)
                && stage != OrderStatus::Archived;
            if !only_archive {
                return Err(format!(
                    "order {number} is {} and can no longer be changed",
                    stage.as_str()
                ));
            }
        }
        if content_changed {
            role_may(actor, SALES, "change order lines or details")?;
            if !stage.is_before_shipping() {
                return Err(format!(
                    "order {number} has been {}; its lines, prices, customer and delivery date can no longer be changed",
                    stage.as_str()
                ));
            }
        }
        if before.production != after.production {
            role_may(actor, &[Role::Production], "update production progress")?;
        }
        if before.shipment != after.shipment {
            // The shipment is written with the shipping step.
            role_may(actor, &[Role::Warehouse], "record shipments")?;
        }
        if before.payments != after.payments {
            role_may(actor, &[Role::Finance], "record payments")?;
            if before
                .payments
                .iter()
                .any(|(k, p)| after.payments.get(k) != Some(p))
            {
                return Err("recorded payments cannot be changed or removed".into());
            }
        }
        check_steps(actor, &what, before, after)
    }

    fn check_references(
        actor: &Actor,
        before: Option<&Order>,
        after: &Order,
        facts: &mut dyn Facts,
    ) -> Result<Verdict> {
        let what = format!("order {}", after.number);
        // Lines for products the catalog has: checked for each line that is
        // new or names another product than it did (a product dropped from
        // the catalog later does not lock the orders that have it).
        let new_products: Vec<&str> = after
            .lines
            .iter()
            .filter(|(id, l)| {
                before.is_none_or(|b| b.lines.get(*id).is_none_or(|old| old.product != l.product))
            })
            .map(|(_, l)| l.product.as_str())
            .collect();
        if !new_products.is_empty() {
            let unknown = facts.unknown_products(&new_products)?;
            if let Some(code) = unknown.first() {
                return Ok(Err(format!(
                    "{what} has a line for product {code}, which is not in the catalog; choose a product from the catalog (sync first for the latest one)"
                )));
            }
        }
        let names_customer = before.is_none_or(|b| b.customer != after.customer);
        // The new steps that take effect, on the relay's history or in the
        // merged list (where a concurrent step may land first), and make a
        // credit check.
        let old = before.map(|b| b.events.as_slice()).unwrap_or_default();
        let may_check_credit = after.events.iter().any(|e| {
            !e.credit_override && CreditCheckpoint::of(e.action).is_some() && !old.contains(e)
        });
        let credit_steps: Vec<CreditCheckpoint> = if may_check_credit {
            let history = judged_history(old, after);
            let judged = derive_state(&history).superseded;
            let merged = after.derived().superseded;
            history[old.len()..]
                .iter()
                .filter(|e| !e.credit_override)
                .filter(|e| !judged.contains(&e.id) || !merged.contains(&e.id))
                .filter_map(|e| CreditCheckpoint::of(e.action))
                .collect()
        } else {
            Vec::new()
        };
        if !names_customer && credit_steps.is_empty() {
            return Ok(Ok(()));
        }
        // A new document or a move to another customer is judged on where
        // it is filed; otherwise the customer is only read for its credit.
        let customer = if names_customer {
            match customer_reference(actor, &what, &after.meta, after.customer, facts)? {
                Ok(c) => c,
                Err(reason) => return Ok(Err(reason)),
            }
        } else {
            match facts.customer(after.customer)? {
                Some(c) => c,
                None => return Ok(Err(format!("{what}: its customer is unknown"))),
            }
        };
        if credit_steps.is_empty() {
            return Ok(Ok(()));
        }
        let orders = facts.orders_of(customer.id())?;
        let exposure = CreditExposure::new(&customer, &orders, Some(after));
        for at in credit_steps {
            if let Err(e) = exposure.check(&after.number, at) {
                return Ok(Err(e.to_string()));
            }
        }
        Ok(Ok(()))
    }
}

/// The relay's history followed by the steps `after` adds, in its order:
/// the history the new steps are judged on.
fn judged_history(before: &[OrderEvent], after: &Order) -> Vec<OrderEvent> {
    let mut history = before.to_vec();
    history.extend(after.events.iter().filter(|e| !before.contains(e)).cloned());
    history
}

/// Replays the new steps of `after` on the relay's history (`before`'s
/// events): each one judged by [`decide_step`] against the status derived
/// so far, never against what the step says about itself. A step that no
/// longer applies there (a second device shipped the same order) is kept as
/// superseded and changes nothing; a step that applies must be allowed. The
/// merged list must then come to the same status as the judged history.
fn check_steps(actor: &Actor, what: &str, before: &Order, after: &Order) -> Verdict {
    let new = new_steps(what, &before.events, &after.events)?;
    let appended = after.events.len() == before.events.len() + new.len()
        && after.events[before.events.len()..]
            .iter()
            .zip(&new)
            .all(|(a, b)| a == *b);
    let new_ids: std::collections::HashSet<&str> = new.iter().map(|e| e.id.as_str()).collect();
    let mut state = Order {
        events: before.events.clone(),
        ..after.clone()
    };
    for e in new {
        if !e.action.roles().contains(&actor.role()) {
            return Err(format!(
                "{} cannot {}",
                actor.role().with_article(),
                e.action.as_permission()
            ));
        }
        signed_by(actor, what, e)?;
        let stage = state.derived().stage;
        if e.applies_at(stage).is_some() {
            let to = decide_step(actor.role(), &state, &Step::from(e), None)
                .map_err(|err| err.to_string())?;
            if e.to != to {
                return Err(format!(
                    "a step in the history of {what} says it leads to {}, but from {} it leads to {}",
                    e.to.in_words(),
                    stage.in_words(),
                    to.in_words()
                ));
            }
        }
        if e.action.approves() != e.digest.is_some() {
            return Err(format!(
                "a step in the history of {what} carries an approval digest only if it is an approval"
            ));
        }
        if let Some(d) = &e.digest
            && !is_current_digest(d)
        {
            return Err(format!(
                "an approval of {what} must record the digest of everything approved (this app records an older kind: update it)"
            ));
        }
        state.events.push(e.clone());
    }
    if !appended {
        // New steps sit between old ones: each that takes effect where the
        // merge put it must be allowed there too.
        let mut merged = Order {
            events: Vec::with_capacity(after.events.len()),
            ..after.clone()
        };
        for e in &after.events {
            if new_ids.contains(e.id.as_str()) && e.applies_at(merged.derived().stage).is_some() {
                decide_step(actor.role(), &merged, &Step::from(e), None)
                    .map_err(|err| err.to_string())?;
            }
            merged.events.push(e.clone());
        }
    }
    let (judged, merged) = (state.derived(), after.derived());
    if judged.stage != merged.stage || judged.approved_digest != merged.approved_digest {
        return Err(format!(
            "{what} moved on while this device was offline: its steps, merged with head office's, would make it {} where head office's history followed by them makes it {}; discard this change and take the step again",
            merged.stage.in_words(),
            judged.stage.in_words()
        ));
    }
    Ok(())
}
