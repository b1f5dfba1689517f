//! Editing an order's lines and header: what sales may change before the
//! goods ship (after approval, a change to what the customer agreed to needs
//! a new approval).

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::{NewLine, OrderDetails, OrderDoc, OrderLine};
use crate::access::{require_scope, require_text};
use crate::actor::ChangeCtx;
use crate::customer::Customer;
use crate::error::{Error, Result};
use crate::ids::new_item_id;
use crate::money::{check_amount, check_non_negative};

impl OrderDoc {
    pub(super) fn check_line(n: &NewLine) -> Result<OrderLine> {
        Ok(OrderLine {
            product: require_text(&n.product, "product code")?,
            name: n.name.trim().to_string(),
            variant: n.variant.trim().to_string(),
            unit: n.unit.trim().to_string(),
            quantity: check_quantity(n.quantity)?,
            unit_price: check_non_negative("unit price", n.unit_price)?,
            discount_percent: check_discount(n.discount_percent)?,
        })
    }

    /// Adds a line; returns its id. Concurrent additions on other devices never
    /// overwrite it: each line has its own key.
    pub fn add_line(&mut self, ctx: &ChangeCtx, line: NewLine) -> Result<String> {
        self.check_content_editable(ctx)?;
        let checked = Self::check_line(&line)?;
        let n = self.doc.entries_in("lines") + 1;
        if n > crate::rules::limits::MAX_LINES {
            return Err(Error::InvalidValue(format!(
                "an order has at most {} lines",
                crate::rules::limits::MAX_LINES
            )));
        }
        let id = new_item_id();
        crate::rules::validate_order_line(n, &id, &checked).map_err(Error::InvalidValue)?;
        // Only the new line is written; the rest of the order is not read.
        self.write_line(ctx, &id, checked)?;
        Ok(id)
    }

    fn edit_line(
        &mut self,
        ctx: &ChangeCtx,
        line: &str,
        edit: impl FnOnce(&mut OrderLine) -> Result<()>,
    ) -> Result<()> {
        let number = self.check_content_editable(ctx)?;
        // Only this line is read and written, not the whole order.
        let (place, mut l) = self
            .doc
            .hydrate_entry::<OrderLine>("lines", line)?
            .ok_or_else(|| Error::UnknownLine {
                number,
                line: line.to_string(),
            })?;
        edit(&mut l)?;
        crate::rules::validate_order_line(place, line, &l).map_err(Error::InvalidValue)?;
        self.write_line(ctx, line, l)
    }

    /// Writes one (checked) line as one change, and keeps the order read
    /// before the edit up to date with it instead of reading it again.
    fn write_line(&mut self, ctx: &ChangeCtx, id: &str, line: OrderLine) -> Result<()> {
        let kept = self.doc.take_view::<super::Order>();
        self.doc.update_entry(ctx, "lines", id, &line)?;
        if let Some(mut order) = kept {
            order.lines.insert(id.to_string(), line);
            self.doc.keep_view(order);
        }
        Ok(())
    }

    /// Changes a line's quantity.
    pub fn set_quantity(&mut self, ctx: &ChangeCtx, line: &str, quantity: Decimal) -> Result<()> {
        let q = check_quantity(quantity)?;
        self.edit_line(ctx, line, |l| {
            l.quantity = q;
            Ok(())
        })
    }

    /// Changes a line's unit price.
    pub fn set_unit_price(&mut self, ctx: &ChangeCtx, line: &str, price: Decimal) -> Result<()> {
        let p = check_non_negative("unit price", price)?;
        self.edit_line(ctx, line, |l| {
            l.unit_price = p;
            Ok(())
        })
    }

    /// Changes a line's discount (percent, 0 to 100).
    pub fn set_discount(&mut self, ctx: &ChangeCtx, line: &str, percent: Decimal) -> Result<()> {
        let d = check_discount(percent)?;
        self.edit_line(ctx, line, |l| {
            l.discount_percent = d;
            Ok(())
        })
    }

    /// Changes a line's variant (colour, size).
    pub fn set_variant(&mut self, ctx: &ChangeCtx, line: &str, variant: &str) -> Result<()> {
        self.edit_line(ctx, line, |l| {
            l.variant = variant.trim().to_string();
            Ok(())
        })
    }

    /// Removes a line.
    pub fn remove_line(&mut self, ctx: &ChangeCtx, line: &str) -> Result<()> {
        let mut o = self.for_content_edit(ctx)?;
        if o.lines.remove(line).is_none() {
            return Err(Error::UnknownLine {
                number: o.number,
                line: line.to_string(),
            });
        }
        self.doc.update(ctx, &o)
    }

    /// Moves the order to another customer of the same salesperson.
    pub fn set_customer(&mut self, ctx: &ChangeCtx, customer: &Customer) -> Result<()> {
        let mut o = self.for_content_edit(ctx)?;
        require_scope(&ctx.actor, &customer.meta, || {
            format!("customer {}", customer.name)
        })?;
        o.customer = customer.id();
        o.customer_name = customer.name.clone();
        o.payment_terms = customer.payment_terms;
        self.doc.update(ctx, &o)
    }

    /// Changes the requested delivery date.
    pub fn set_delivery_date(&mut self, ctx: &ChangeCtx, date: Option<NaiveDate>) -> Result<()> {
        let mut o = self.for_content_edit(ctx)?;
        o.delivery_date = date;
        self.doc.update(ctx, &o)
    }

    /// Changes the order's header details: delivery, requirements, evidence,
    /// deposit, the customer's reference and notes. (After approval, a change
    /// to the delivery terms or the deposit needs a new approval.)
    pub fn set_details(&mut self, ctx: &ChangeCtx, details: OrderDetails) -> Result<()> {
        let mut o = self.for_content_edit(ctx)?;
        o.delivery = details.delivery;
        o.requirements = details.requirements;
        o.evidence = details.evidence.trim().to_string();
        o.deposit = check_non_negative("deposit", details.deposit)?;
        o.customer_reference = details.customer_reference.trim().to_string();
        o.notes = details.notes;
        self.doc.update(ctx, &o)
    }
}

pub(super) fn check_quantity(q: Decimal) -> Result<Decimal> {
    let q = check_amount("quantity", q)?;
    if q <= Decimal::ZERO {
        return Err(Error::QuantityNotPositive(q));
    }
    Ok(q)
}

fn check_discount(d: Decimal) -> Result<Decimal> {
    let d = check_non_negative("discount", d)?;
    if d > Decimal::ONE_HUNDRED {
        return Err(Error::InvalidDecimal {
            field: "discount",
            value: d.to_string(),
            hint: "a discount is a percentage from 0 to 100",
        });
    }
    // 0.15 is almost always 15 % typed as a fraction: refused rather than
    // taken as 0.15 %.
    if d > Decimal::ZERO && d < Decimal::ONE {
        return Err(Error::InvalidDecimal {
            field: "discount",
            value: d.to_string(),
            hint: "a discount is a percentage, so 15 % is written 15; discounts under 1 % are not taken",
        });
    }
    Ok(d)
}
