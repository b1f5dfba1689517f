//! Splitting an order (one per delivery) and merging orders of one customer.

use std::collections::BTreeMap;

use super::lines::check_quantity;
use super::{
    OrderAction, OrderDoc, OrderEvent, OrderNumber, OrderStatus, ProductionInfo, Shipment, Step,
};
use crate::actor::ChangeCtx;
use crate::document::{DocKind, Document, Meta};
use crate::error::{Error, Result};
use crate::ids::new_item_id;
use crate::order::Order;

impl OrderDoc {
    /// Splits the given lines off into a new order numbered `number` (e.g. one
    /// order per delivery). The new order has the same customer and details;
    /// it starts as a draft if this one is a draft (or the actor, a manager,
    /// does not hand orders in), otherwise as submitted, and needs its own
    /// approval. Removing lines from an approved order makes it
    /// changed after approval.
    pub fn split(
        &mut self,
        ctx: &ChangeCtx,
        lines: &[String],
        number: OrderNumber,
    ) -> Result<OrderDoc> {
        let mut o = self.for_content_edit(ctx)?;
        let invalid = |reason: String| Error::InvalidSplitOrMerge {
            action: "split",
            reason,
        };
        if lines.is_empty() {
            return Err(invalid("choose at least one line to split off".into()));
        }
        let mut moved = BTreeMap::new();
        for id in lines {
            let line = o.lines.remove(id).ok_or_else(|| Error::UnknownLine {
                number: o.number.clone(),
                line: id.clone(),
            })?;
            moved.insert(id.clone(), line);
        }
        if o.lines.is_empty() {
            return Err(invalid(format!(
                "order {} would have no lines left; keep at least one",
                o.number
            )));
        }
        let meta = Meta::new(ctx, DocKind::Order, &o.meta.owner, o.meta.region.as_deref());
        let mut part = Order {
            meta: meta.clone(),
            number: number.to_string(),
            lines: moved,
            events: Vec::new(),
            payments: BTreeMap::new(),
            split_from: Some(o.number.clone()),
            merged_into: None,
            production: ProductionInfo::default(),
            shipment: Shipment::default(),
            ..o.clone()
        };
        // The part is handed in at once, where the actor may hand orders in.
        if o.derived().stage != OrderStatus::Draft
            && OrderAction::Submit.roles().contains(&ctx.actor.role())
        {
            part.events.push(OrderEvent {
                id: new_item_id(),
                action: OrderAction::Submit,
                from: OrderStatus::Draft,
                to: OrderStatus::Submitted,
                user: ctx.actor.user().to_string(),
                role: ctx.actor.role().as_str().to_string(),
                device: ctx.actor.device().to_string(),
                at: ctx.at,
                reason: format!("split from order {}", o.number),
                digest: None,
                credit_override: false,
            });
        }
        let new_doc = Document::create(ctx, meta, &part)?;
        self.doc.update(ctx, &o)?;
        Ok(OrderDoc { doc: new_doc })
    }

    /// Merges `other` (same customer) into this order: its lines are added here
    /// (lines for the same product, variant, price and discount are combined),
    /// and `other` is cancelled with "merged into …".
    pub fn merge_from(&mut self, ctx: &ChangeCtx, other: &mut OrderDoc) -> Result<()> {
        let mut o = self.for_content_edit(ctx)?;
        let theirs = other.for_content_edit(ctx)?;
        let invalid = |reason: String| Error::InvalidSplitOrMerge {
            action: "merge",
            reason,
        };
        if theirs.id() == o.id() {
            return Err(invalid("an order cannot be merged into itself".into()));
        }
        if theirs.customer != o.customer {
            return Err(invalid(format!(
                "order {} is for {} and order {} for {}; only orders of the same customer merge",
                theirs.number, theirs.customer_name, o.number, o.customer_name
            )));
        }
        // Check the cancellation is possible before changing anything.
        let cancel = Step {
            action: OrderAction::Cancel,
            reason: "merged",
            credit_override: false,
        };
        other.for_step(ctx, &cancel, None)?;
        for line in theirs.lines.values() {
            let same = o.lines.values_mut().find(|l| {
                l.product == line.product
                    && l.variant == line.variant
                    && l.unit_price == line.unit_price
                    && l.discount_percent == line.discount_percent
            });
            match same {
                Some(l) => l.quantity = check_quantity(l.quantity + line.quantity)?,
                None => {
                    o.lines.insert(new_item_id(), line.clone());
                }
            }
        }
        let number = o.number.clone();
        self.doc.update(ctx, &o)?;
        let reason = format!("merged into order {number}");
        other.take_step(ctx, OrderAction::Cancel, &reason, |t| {
            t.merged_into = Some(number.clone());
        })
    }
}
