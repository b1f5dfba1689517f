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
        let mut added = self.edit_lines(ctx, vec![LineEdit::Add(line)])?;
        added
            .pop()
            .ok_or_else(|| Error::Corrupt("the new line got no id".into()))
    }

    /// Makes several line edits as one: one change, checked as each edit
    /// alone is, and all or nothing (if one is refused, none is made).
    /// Returns the ids of the lines added, in order. Only the lines edited
    /// are read and written, not the rest of the order.
    pub fn edit_lines(&mut self, ctx: &ChangeCtx, edits: Vec<LineEdit>) -> Result<Vec<String>> {
        let number = self.check_content_editable(ctx)?;
        let mut kept = self.doc.take_view::<super::Order>();
        let mut added = Vec::new();
        let mut written: Vec<(String, Option<OrderLine>)> = Vec::new();
        let outcome = self.doc.edit_entries(ctx, "lines", |lines| {
            for edit in edits {
                match edit {
                    LineEdit::Add(new) => {
                        let line = Self::check_line(&new)?;
                        let place = lines.len() + 1;
                        if place > crate::rules::limits::MAX_LINES {
                            return Err(Error::InvalidValue(format!(
                                "an order has at most {} lines",
                                crate::rules::limits::MAX_LINES
                            )));
                        }
                        let id = new_item_id();
                        crate::rules::validate_order_line(place, &id, &line)
                            .map_err(Error::InvalidValue)?;
                        lines.insert_new(&id, &line.laid_out())?;
                        added.push(id.clone());
                        written.push((id, Some(line)));
                    }
                    LineEdit::Remove { line: id } => {
                        if !lines.remove(&id)? {
                            return Err(Error::UnknownLine { number, line: id });
                        }
                        written.push((id, None));
                    }
                    change => {
                        let id = change.line().to_string();
                        // The line as it is: as this batch left it, or as the
                        // order read before has it, or else read from the
                        // document.
                        let current = match written.iter().rev().find(|(w, _)| *w == id) {
                            Some((_, line)) => line.clone(),
                            None => match kept.as_ref() {
                                Some(order) => order.lines.get(&id).cloned(),
                                None => lines.get::<OrderLine>(&id)?,
                            },
                        };
                        let Some(before) = current else {
                            return Err(Error::UnknownLine { number, line: id });
                        };
                        let mut line = before.clone();
                        change.apply(&mut line)?;
                        if crate::rules::validate_order_line(0, &id, &line).is_err() {
                            // The line's place is looked up for the message only.
                            let place = lines.place(&id);
                            crate::rules::validate_order_line(place, &id, &line)
                                .map_err(Error::InvalidValue)?;
                        }
                        // Only the fields that changed are written.
                        lines.put_fields(&id, line.changed_from(&before))?;
                        written.push((id, Some(line)));
                    }
                }
            }
            Ok(())
        });
        match outcome {
            Ok(()) => {
                // The order read before is brought up to date with what was
                // written, instead of being read again.
                if let Some(order) = kept.as_mut() {
                    for (id, line) in written {
                        match line {
                            Some(line) => order.lines.insert(id, line),
                            None => order.lines.remove(&id),
                        };
                    }
                }
                if let Some(order) = kept {
                    self.doc.keep_view(order);
                }
                Ok(added)
            }
            Err(e) => {
                // Nothing was written: what was read before still holds.
                if let Some(order) = kept {
                    self.doc.keep_view(order);
                }
                Err(e)
            }
        }
    }

    /// Changes a line's quantity.
    pub fn set_quantity(&mut self, ctx: &ChangeCtx, line: &str, quantity: Decimal) -> Result<()> {
        self.edit_one(
            ctx,
            LineEdit::SetQuantity {
                line: line.to_string(),
                quantity,
            },
        )
    }

    /// Changes a line's unit price.
    pub fn set_unit_price(&mut self, ctx: &ChangeCtx, line: &str, price: Decimal) -> Result<()> {
        self.edit_one(
            ctx,
            LineEdit::SetUnitPrice {
                line: line.to_string(),
                unit_price: price,
            },
        )
    }

    /// Changes a line's discount (percent, 0 to 100).
    pub fn set_discount(&mut self, ctx: &ChangeCtx, line: &str, percent: Decimal) -> Result<()> {
        self.edit_one(
            ctx,
            LineEdit::SetDiscount {
                line: line.to_string(),
                percent,
            },
        )
    }

    /// Changes a line's variant (colour, size).
    pub fn set_variant(&mut self, ctx: &ChangeCtx, line: &str, variant: &str) -> Result<()> {
        self.edit_one(
            ctx,
            LineEdit::SetVariant {
                line: line.to_string(),
                variant: variant.to_string(),
            },
        )
    }

    /// Removes a line.
    pub fn remove_line(&mut self, ctx: &ChangeCtx, line: &str) -> Result<()> {
        self.edit_one(
            ctx,
            LineEdit::Remove {
                line: line.to_string(),
            },
        )
    }

    fn edit_one(&mut self, ctx: &ChangeCtx, edit: LineEdit) -> Result<()> {
        self.edit_lines(ctx, vec![edit]).map(drop)
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
        // The details alone are written, not the lines.
        self.doc.update_fields(ctx, &o, |f| {
            f.put("delivery", &o.delivery)?;
            f.put("requirements", &o.requirements)?;
            f.put("evidence", &o.evidence)?;
            // Stored as its canonical decimal text (see `codec::decimal`).
            f.put("deposit", &o.deposit.normalize().to_string())?;
            f.put("customer_reference", &o.customer_reference)?;
            f.put("notes", &o.notes)
        })
    }
}

/// One edit of an order's lines (see [`OrderDoc::edit_lines`]).
#[derive(Debug, Clone, PartialEq)]
pub enum LineEdit {
    /// Adds a line.
    Add(NewLine),
    /// Changes a line's quantity.
    SetQuantity {
        /// The line's id.
        line: String,
        /// The new quantity.
        quantity: Decimal,
    },
    /// Changes a line's unit price.
    SetUnitPrice {
        /// The line's id.
        line: String,
        /// The new unit price.
        unit_price: Decimal,
    },
    /// Changes a line's discount (percent, 0 to 100).
    SetDiscount {
        /// The line's id.
        line: String,
        /// The new discount in percent.
        percent: Decimal,
    },
    /// Changes a line's variant (colour, size).
    SetVariant {
        /// The line's id.
        line: String,
        /// The new variant.
        variant: String,
    },
    /// Removes a line.
    Remove {
        /// The line's id.
        line: String,
    },
}

impl LineEdit {
    /// The line a change of an existing line is to.
    fn line(&self) -> &str {
        match self {
            LineEdit::Add(_) => "",
            LineEdit::SetQuantity { line, .. }
            | LineEdit::SetUnitPrice { line, .. }
            | LineEdit::SetDiscount { line, .. }
            | LineEdit::SetVariant { line, .. }
            | LineEdit::Remove { line } => line,
        }
    }

    /// Applies a change of an existing line to it, checking the new value.
    fn apply(self, l: &mut OrderLine) -> Result<()> {
        match self {
            LineEdit::SetQuantity { quantity, .. } => l.quantity = check_quantity(quantity)?,
            LineEdit::SetUnitPrice { unit_price, .. } => {
                l.unit_price = check_non_negative("unit price", unit_price)?
            }
            LineEdit::SetDiscount { percent, .. } => l.discount_percent = check_discount(percent)?,
            LineEdit::SetVariant { variant, .. } => l.variant = variant.trim().to_string(),
            LineEdit::Add(_) | LineEdit::Remove { .. } => {}
        }
        Ok(())
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
