//! Sales orders (DOMAIN.md, "Orders"): the fields, the lines with exact money,
//! the lifecycle with its roles and credit checks, split and merge.

mod credit;
mod lifecycle;
mod number;
mod steps;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use autosurgeon::{Hydrate, Reconcile};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

pub use credit::{
    CreditCheckpoint, CreditExposure, CreditTerms, OpenOrder, counts_toward_exposure,
};
pub use lifecycle::{DerivedState, OrderAction, OrderEvent, OrderStatus, derive_state};
pub use number::{MAX_SEQUENCE, OrderNumber, OrderPrefix};
pub use steps::{CreditFacts, Step, decide_step};

use crate::access::{require_role, require_scope, require_text};
use crate::actor::{ChangeCtx, Role};
use crate::customer::{Customer, PaymentTerms};
use crate::document::{DocKind, Document, Meta};
use crate::error::{Error, Result};
use crate::ids::{DocId, new_item_id};
use crate::money::{check_amount, check_non_negative, round_money};

/// How the order reached us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Reconcile, Hydrate)]
pub enum Channel {
    /// Taken on a customer visit.
    Visit,
    /// By phone.
    Phone,
    /// By e-mail.
    Email,
    /// From an online platform.
    Platform,
    /// The customer walked in.
    WalkIn,
    /// At an order fair (订货会).
    OrderFair,
    /// A reorder (返单); see [`ReorderKind`].
    Reorder,
}

/// The kind of a reorder (返单) [000 §2].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Reconcile, Hydrate)]
pub enum ReorderKind {
    /// Refilling sizes that sold out (补码).
    SizeRefill,
    /// The customer's own pick.
    CustomerPick,
    /// Reordered by the end customer.
    EndCustomer,
}

/// Where and how the goods go.
#[derive(Debug, Clone, Default, PartialEq, Eq, Reconcile, Hydrate)]
pub struct Delivery {
    /// Delivery address.
    pub address: String,
    /// Who receives the goods.
    pub consignee: String,
    /// The consignee's phone.
    pub phone: String,
    /// Carrier or means of transport.
    pub transport: String,
}

/// Special requirements of the customer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Reconcile, Hydrate)]
pub struct Requirements {
    /// Packing.
    pub packing: String,
    /// Transport.
    pub transport: String,
    /// After-sales.
    pub after_sales: String,
}

/// One order line.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate)]
pub struct OrderLine {
    /// Product code from the catalog.
    pub product: String,
    /// Product name at the time of ordering.
    pub name: String,
    /// Specification or variant (colour, size).
    pub variant: String,
    /// Unit (pcs, m, box).
    pub unit: String,
    /// Quantity, positive.
    #[autosurgeon(with = "crate::codec::decimal")]
    pub quantity: Decimal,
    /// Price per unit before discount.
    #[autosurgeon(with = "crate::codec::decimal")]
    pub unit_price: Decimal,
    /// Discount in percent of the line (0 to 100).
    #[autosurgeon(with = "crate::codec::decimal")]
    pub discount_percent: Decimal,
}

impl OrderLine {
    /// The line total: quantity × unit price less the discount, rounded to
    /// cents. Lines within the documented limits (see [`crate::rules::limits`])
    /// never overflow; beyond them the total saturates rather than panics.
    pub fn total(&self) -> Decimal {
        self.checked_total().unwrap_or(Decimal::MAX)
    }

    /// The line total, or `None` if it does not fit a decimal.
    pub fn checked_total(&self) -> Option<Decimal> {
        let gross = self.quantity.checked_mul(self.unit_price)?;
        let off = gross
            .checked_mul(self.discount_percent)?
            .checked_div(Decimal::ONE_HUNDRED)?;
        Some(round_money(gross.checked_sub(off)?))
    }
}

/// What a new line needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLine {
    /// Product code.
    pub product: String,
    /// Product name.
    pub name: String,
    /// Specification or variant.
    pub variant: String,
    /// Unit.
    pub unit: String,
    /// Quantity.
    pub quantity: Decimal,
    /// Unit price.
    pub unit_price: Decimal,
    /// Discount in percent.
    pub discount_percent: Decimal,
}

/// A payment received against the order.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate)]
pub struct Payment {
    /// Amount received.
    #[autosurgeon(with = "crate::codec::decimal")]
    pub amount: Decimal,
    /// When it was received.
    #[autosurgeon(with = "crate::codec::time")]
    pub received_at: DateTime<Utc>,
    /// Bank or receipt reference.
    pub reference: String,
    /// The finance clerk who recorded it.
    pub recorded_by: String,
}

/// Production's part of the order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Reconcile, Hydrate)]
pub struct ProductionInfo {
    /// Expected finish date.
    #[autosurgeon(with = "crate::codec::opt_date")]
    pub expected_finish: Option<NaiveDate>,
    /// Notes from production.
    pub note: String,
}

/// The warehouse's part of the order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Reconcile, Hydrate)]
pub struct Shipment {
    /// Carrier.
    pub carrier: String,
    /// Tracking or waybill number.
    pub tracking: String,
    /// Shipping notice text sent to the customer (carries the customer's order reference).
    pub notice: String,
}

/// An order as read from its document. Status and totals are derived: see
/// [`Order::status`] and [`Order::total`].
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate)]
pub struct Order {
    /// Header: id, owner salesperson, region.
    pub meta: Meta,
    /// The order number (`S07-20261122-003`).
    pub number: String,
    /// The customer's document id.
    pub customer: DocId,
    /// The customer's name when the order was taken.
    pub customer_name: String,
    /// How the order reached us.
    pub channel: Channel,
    /// For reorders: which kind.
    pub reorder_kind: Option<ReorderKind>,
    /// The customer's own order number, carried on the shipping notice.
    pub customer_reference: String,
    /// Requested delivery date.
    #[autosurgeon(with = "crate::codec::opt_date")]
    pub delivery_date: Option<NaiveDate>,
    /// Payment terms for this order.
    pub payment_terms: PaymentTerms,
    /// Deposit agreed.
    #[autosurgeon(with = "crate::codec::decimal")]
    pub deposit: Decimal,
    /// Delivery details.
    pub delivery: Delivery,
    /// Special requirements.
    pub requirements: Requirements,
    /// Reference to the written evidence (no oral orders): fax, e-mail, signed form.
    pub evidence: String,
    /// Free notes.
    pub notes: String,
    /// Lines keyed by a stable line id; ids sort in the order lines were added.
    pub lines: BTreeMap<String, OrderLine>,
    /// The lifecycle events, in replay order.
    pub events: Vec<OrderEvent>,
    /// Production's part.
    pub production: ProductionInfo,
    /// The warehouse's part.
    pub shipment: Shipment,
    /// Payments keyed by a stable id.
    pub payments: BTreeMap<String, Payment>,
    /// The order this one was split from.
    pub split_from: Option<String>,
    /// The order this one was merged into (it is then cancelled).
    pub merged_into: Option<String>,
}

impl Order {
    /// The document id.
    pub fn id(&self) -> DocId {
        self.meta.id
    }

    /// The order total: the sum of the line totals.
    pub fn total(&self) -> Decimal {
        saturating_sum(self.lines.values().map(OrderLine::total))
    }

    /// What has been paid.
    pub fn paid(&self) -> Decimal {
        saturating_sum(self.payments.values().map(|p| p.amount))
    }

    /// What is still to pay (never negative).
    pub fn outstanding(&self) -> Decimal {
        self.total()
            .checked_sub(self.paid())
            .unwrap_or(Decimal::ZERO)
            .max(Decimal::ZERO)
    }

    /// The digest of what an approval covers: everything the customer agreed
    /// to. The customer, the delivery date, the delivery terms (address,
    /// consignee, phone, transport), the payment terms and deposit, and every
    /// field of every line. Written as `2:<hex>`; approvals recorded before
    /// this layout (a bare hex digest, which covered less) are compared with
    /// [`Order::legacy_digest`], so upgrading changes no order's status.
    pub fn content_digest(&self) -> String {
        let mut h = Sha256::new();
        let mut field = |bytes: &[u8]| {
            // Length-prefixed, so no two different orders hash alike.
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        };
        field(self.customer.as_uuid().as_bytes());
        field(
            self.delivery_date
                .map(|d| d.format("%Y-%m-%d").to_string())
                .unwrap_or_default()
                .as_bytes(),
        );
        let d = &self.delivery;
        for text in [&d.address, &d.consignee, &d.phone, &d.transport] {
            field(text.as_bytes());
        }
        field(format!("{:?}", self.payment_terms).as_bytes());
        field(self.deposit.normalize().to_string().as_bytes());
        for (id, l) in &self.lines {
            for text in [id, &l.product, &l.name, &l.variant, &l.unit] {
                field(text.as_bytes());
            }
            for n in [l.quantity, l.unit_price, l.discount_percent] {
                field(n.normalize().to_string().as_bytes());
            }
        }
        format!("2:{}", hex16(&h.finalize()))
    }

    /// The digest approvals recorded before [`Order::content_digest`]'s
    /// current layout: customer, delivery date and each line's product,
    /// variant, quantity, price and discount.
    pub fn legacy_digest(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.customer.as_uuid().as_bytes());
        h.update(b"|");
        if let Some(d) = self.delivery_date {
            h.update(d.format("%Y-%m-%d").to_string());
        }
        for (id, l) in &self.lines {
            for field in [id, &l.product, &l.variant] {
                h.update(b"|");
                h.update(field.as_bytes());
            }
            for n in [l.quantity, l.unit_price, l.discount_percent] {
                h.update(b"|");
                h.update(n.normalize().to_string());
            }
        }
        hex16(&h.finalize())
    }

    /// Does `digest`, recorded by an approval, cover exactly this content?
    fn matches_digest(&self, digest: &str) -> bool {
        if digest.starts_with("2:") {
            digest == self.content_digest()
        } else {
            digest == self.legacy_digest()
        }
    }

    /// The lifecycle as recorded by the events (without the approval check).
    pub fn derived(&self) -> DerivedState {
        derive_state(&self.events)
    }

    /// True when the order was approved and its content differs from what was
    /// approved, however the edits and approvals interleaved.
    pub fn changed_after_approval(&self) -> bool {
        self.differs_from_approval(&self.derived())
    }

    fn differs_from_approval(&self, d: &DerivedState) -> bool {
        d.stage.is_approved_stage()
            && !d
                .approved_digest
                .as_deref()
                .is_some_and(|digest| self.matches_digest(digest))
    }

    /// The status to show: the recorded status, except that an approved order
    /// whose content no longer matches its approval is
    /// [`OrderStatus::ChangedAfterApproval`].
    pub fn status(&self) -> OrderStatus {
        self.shown_status(&self.derived())
    }

    /// [`Order::status`] from the state already derived.
    pub(crate) fn shown_status(&self, d: &DerivedState) -> OrderStatus {
        if self.differs_from_approval(d) {
            OrderStatus::ChangedAfterApproval
        } else {
            d.stage
        }
    }

    /// Lines in the order they were added.
    pub fn lines_in_order(&self) -> impl Iterator<Item = (&String, &OrderLine)> {
        self.lines.iter()
    }

    fn what(&self) -> String {
        format!("order {}", self.number)
    }
}

/// What a new order needs besides its lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    /// The number minted on the device.
    pub number: OrderNumber,
    /// How the order reached us.
    pub channel: Channel,
    /// For reorders: which kind.
    pub reorder_kind: Option<ReorderKind>,
    /// Requested delivery date.
    pub delivery_date: Option<NaiveDate>,
    /// Reference to written evidence.
    pub evidence: String,
}

/// An order document with every edit the roles of DOMAIN.md make.
#[derive(Debug)]
pub struct OrderDoc {
    doc: Document,
}

const CONTENT_EDITORS: &[Role] = &[Role::Salesperson, Role::Manager, Role::OrderDesk];

impl OrderDoc {
    /// Creates a draft order for `customer` (a salesperson for their own
    /// customers, the order desk or a manager for any in scope).
    pub fn create(ctx: &ChangeCtx, customer: &Customer, new: NewOrder) -> Result<Self> {
        require_role(&ctx.actor, CONTENT_EDITORS, "create orders")?;
        require_scope(&ctx.actor, &customer.meta, || {
            format!("customer {}", customer.name)
        })?;
        if new.channel == Channel::Reorder && new.reorder_kind.is_none() {
            return Err(Error::Required("the kind of reorder"));
        }
        let meta = Meta::new(
            ctx,
            DocKind::Order,
            &customer.meta.owner,
            customer.meta.region.as_deref(),
        );
        let order = Order {
            meta: meta.clone(),
            number: new.number.to_string(),
            customer: customer.id(),
            customer_name: customer.name.clone(),
            channel: new.channel,
            reorder_kind: new.reorder_kind,
            customer_reference: String::new(),
            delivery_date: new.delivery_date,
            payment_terms: customer.payment_terms,
            deposit: Decimal::ZERO,
            delivery: Delivery {
                address: customer.address.clone(),
                ..Delivery::default()
            },
            requirements: Requirements::default(),
            evidence: new.evidence.trim().to_string(),
            notes: String::new(),
            lines: BTreeMap::new(),
            events: Vec::new(),
            production: ProductionInfo::default(),
            shipment: Shipment::default(),
            payments: BTreeMap::new(),
            split_from: None,
            merged_into: None,
        };
        Ok(OrderDoc {
            doc: Document::create(ctx, meta, &order)?,
        })
    }

    /// Loads an order document.
    pub fn load(bytes: &[u8]) -> Result<Self> {
        Ok(OrderDoc {
            doc: Document::load_kind(bytes, DocKind::Order)?,
        })
    }

    /// Wraps a document already loaded, checking its kind.
    pub fn from_document(doc: Document) -> Result<Self> {
        doc.expect_kind(DocKind::Order)?;
        Ok(OrderDoc { doc })
    }

    /// The underlying document (for storage and sync).
    pub fn document(&mut self) -> &mut Document {
        &mut self.doc
    }

    /// Reads the order.
    pub fn read(&self) -> Result<Order> {
        self.doc.hydrate()
    }

    /// Reads the order for a content edit by `ctx`: role, scope and status checked.
    fn for_content_edit(&self, ctx: &ChangeCtx) -> Result<Order> {
        require_role(&ctx.actor, CONTENT_EDITORS, "change order lines")?;
        let o = self.read()?;
        require_scope(&ctx.actor, &o.meta, || o.what())?;
        let stage = o.derived().stage;
        if stage.is_closed() {
            return Err(Error::OrderClosed {
                number: o.number.clone(),
                status: stage.as_str(),
            });
        }
        if !stage.is_before_shipping() {
            return Err(Error::ContentLocked {
                number: o.number.clone(),
                status: stage.as_str(),
            });
        }
        Ok(o)
    }

    fn check_line(n: &NewLine) -> Result<OrderLine> {
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
        let mut o = self.for_content_edit(ctx)?;
        let id = new_item_id();
        o.lines.insert(id.clone(), Self::check_line(&line)?);
        self.doc.update(ctx, &o)?;
        Ok(id)
    }

    fn edit_line(
        &mut self,
        ctx: &ChangeCtx,
        line: &str,
        edit: impl FnOnce(&mut OrderLine) -> Result<()>,
    ) -> Result<()> {
        let mut o = self.for_content_edit(ctx)?;
        let number = o.number.clone();
        let l = o.lines.get_mut(line).ok_or_else(|| Error::UnknownLine {
            number,
            line: line.to_string(),
        })?;
        edit(l)?;
        self.doc.update(ctx, &o)
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

    /// Reads the order for `step` by `ctx`: scope checked here, everything
    /// else by [`decide_step`]. Returns the order and the status reached.
    fn for_step(
        &self,
        ctx: &ChangeCtx,
        step: &Step<'_>,
        credit: Option<&CreditExposure>,
    ) -> Result<(Order, OrderStatus)> {
        require_role(&ctx.actor, step.action.roles(), step.action.as_permission())?;
        let o = self.read()?;
        require_scope(&ctx.actor, &o.meta, || o.what())?;
        let to = decide_step(ctx.actor.role(), &o, step, credit)?;
        Ok((o, to))
    }

    /// Takes `action` with `reason`: decided by [`decide_step`], then
    /// recorded (after `edit`, which fills in the step's own fields).
    fn take_step(
        &mut self,
        ctx: &ChangeCtx,
        action: OrderAction,
        reason: &str,
        edit: impl FnOnce(&mut Order),
    ) -> Result<()> {
        let step = Step {
            action,
            reason,
            credit_override: false,
        };
        let (mut o, to) = self.for_step(ctx, &step, None)?;
        edit(&mut o);
        self.record(ctx, o, action, to, reason.trim().to_string(), false)
    }

    /// Takes a step with a credit check (approval, shipping): without an
    /// override if the credit allows, else with `credit_override` as the
    /// recorded reason.
    fn take_credit_step(
        &mut self,
        ctx: &ChangeCtx,
        action: OrderAction,
        credit: CreditFacts<'_>,
        credit_override: Option<&str>,
        edit: impl FnOnce(&mut Order),
    ) -> Result<()> {
        let o = self.read()?;
        if credit.customer.id() != o.customer {
            return Err(Error::WrongCustomer {
                number: o.number.clone(),
                expected: o.customer.to_string(),
                given: credit.customer.id().to_string(),
            });
        }
        let exposure = credit.exposure(&o);
        let plain = Step {
            action,
            reason: "",
            credit_override: false,
        };
        let (step, decided) = match (self.for_step(ctx, &plain, Some(&exposure)), credit_override) {
            (Err(Error::OverCreditLimit { .. } | Error::CashNotPaid { .. }), Some(reason)) => {
                let step = Step {
                    action,
                    reason,
                    credit_override: true,
                };
                (step, self.for_step(ctx, &step, Some(&exposure)))
            }
            (decided, _) => (plain, decided),
        };
        let (mut o, to) = decided?;
        edit(&mut o);
        let reason = step.reason.trim().to_string();
        self.record(ctx, o, action, to, reason, step.credit_override)
    }

    fn record(
        &mut self,
        ctx: &ChangeCtx,
        mut o: Order,
        action: OrderAction,
        to: OrderStatus,
        reason: String,
        credit_override: bool,
    ) -> Result<()> {
        let digest = action.approves().then(|| o.content_digest());
        o.events.push(OrderEvent {
            id: new_item_id(),
            action,
            from: o.derived().stage,
            to,
            user: ctx.actor.user().to_string(),
            role: ctx.actor.role().as_str().to_string(),
            device: ctx.actor.device().to_string(),
            at: ctx.at,
            reason,
            digest,
            credit_override,
        });
        self.doc.update(ctx, &o)
    }

    fn simple_step(&mut self, ctx: &ChangeCtx, action: OrderAction) -> Result<()> {
        self.take_step(ctx, action, "", |_| {})
    }

    /// The salesperson (or order desk) hands the order in. It needs at least one line.
    pub fn submit(&mut self, ctx: &ChangeCtx) -> Result<()> {
        self.simple_step(ctx, OrderAction::Submit)
    }

    /// A manager of the region approves a submitted order, or re-approves one
    /// changed after approval. Credit is checked against `credit` (the
    /// customer, or the customer with its orders: see [`CreditExposure`]);
    /// if it fails, `credit_override` must give the reason to approve anyway.
    pub fn approve<'a>(
        &mut self,
        ctx: &ChangeCtx,
        credit: impl Into<CreditFacts<'a>>,
        credit_override: Option<&str>,
    ) -> Result<()> {
        let action = match self.read()?.status() {
            OrderStatus::ChangedAfterApproval => OrderAction::Reapprove,
            _ => OrderAction::Approve,
        };
        self.take_credit_step(ctx, action, credit.into(), credit_override, |_| {})
    }

    /// A manager sends a submitted order (or a change after approval) back to
    /// the salesperson with a reason.
    pub fn reject(&mut self, ctx: &ChangeCtx, reason: &str) -> Result<()> {
        self.take_step(ctx, OrderAction::Reject, reason, |_| {})
    }

    /// The order desk records the customer's confirmation.
    pub fn confirm(&mut self, ctx: &ChangeCtx) -> Result<()> {
        self.simple_step(ctx, OrderAction::Confirm)
    }

    /// Production starts the order and says when it expects to finish.
    pub fn start_production(
        &mut self,
        ctx: &ChangeCtx,
        expected_finish: Option<NaiveDate>,
    ) -> Result<()> {
        self.take_step(ctx, OrderAction::StartProduction, "", |o| {
            o.production.expected_finish = expected_finish;
        })
    }

    /// Production updates its expected finish date and note.
    pub fn update_production(&mut self, ctx: &ChangeCtx, info: ProductionInfo) -> Result<()> {
        require_role(
            &ctx.actor,
            &[Role::Production],
            "update production progress",
        )?;
        let mut o = self.read()?;
        let stage = o.derived().stage;
        if stage.is_closed() {
            return Err(Error::OrderClosed {
                number: o.number,
                status: stage.as_str(),
            });
        }
        o.production = info;
        self.doc.update(ctx, &o)
    }

    /// The warehouse books the goods in.
    pub fn mark_in_stock(&mut self, ctx: &ChangeCtx) -> Result<()> {
        self.simple_step(ctx, OrderAction::MarkInStock)
    }

    /// The warehouse ships. Blocked when the customer is over credit or a cash
    /// customer has not paid, unless `credit_override` gives a reason.
    pub fn ship<'a>(
        &mut self,
        ctx: &ChangeCtx,
        credit: impl Into<CreditFacts<'a>>,
        shipment: Shipment,
        credit_override: Option<&str>,
    ) -> Result<()> {
        self.take_credit_step(
            ctx,
            OrderAction::Ship,
            credit.into(),
            credit_override,
            |o| {
                o.shipment = shipment;
                if o.shipment.notice.is_empty() {
                    o.shipment.notice = shipping_notice(o);
                }
            },
        )
    }

    /// The customer signed for the goods.
    pub fn mark_delivered(&mut self, ctx: &ChangeCtx) -> Result<()> {
        self.simple_step(ctx, OrderAction::Deliver)
    }

    /// Finance records a payment; returns the payment's id.
    pub fn record_payment(
        &mut self,
        ctx: &ChangeCtx,
        amount: Decimal,
        reference: &str,
    ) -> Result<String> {
        require_role(&ctx.actor, &[Role::Finance], "record payments")?;
        let mut o = self.read()?;
        let stage = o.derived().stage;
        if stage.is_closed() {
            return Err(Error::OrderClosed {
                number: o.number,
                status: stage.as_str(),
            });
        }
        let amount = check_amount("payment amount", amount)?;
        if amount <= Decimal::ZERO {
            return Err(Error::InvalidDecimal {
                field: "payment amount",
                value: amount.to_string(),
                hint: "a payment must be more than zero",
            });
        }
        let id = new_item_id();
        o.payments.insert(
            id.clone(),
            Payment {
                amount,
                received_at: ctx.at,
                reference: reference.trim().to_string(),
                recorded_by: ctx.actor.user().to_string(),
            },
        );
        self.doc.update(ctx, &o)?;
        Ok(id)
    }

    /// Finance settles a delivered order once it is paid in full.
    pub fn settle(&mut self, ctx: &ChangeCtx) -> Result<()> {
        self.simple_step(ctx, OrderAction::Settle)
    }

    /// Files a settled or cancelled order.
    pub fn archive(&mut self, ctx: &ChangeCtx) -> Result<()> {
        self.simple_step(ctx, OrderAction::Archive)
    }

    /// Cancels an order before it ships, with a reason. A salesperson may cancel
    /// only orders not yet approved.
    pub fn cancel(&mut self, ctx: &ChangeCtx, reason: &str) -> Result<()> {
        self.take_step(ctx, OrderAction::Cancel, reason, |_| {})
    }

    /// Splits the given lines off into a new order numbered `number` (e.g. one
    /// order per delivery). The new order has the same customer and details;
    /// it starts as a draft if this one is a draft, otherwise as submitted, and
    /// needs its own approval. Removing lines from an approved order makes it
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
        if o.derived().stage != OrderStatus::Draft {
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

/// The order's header details. Delivery terms and the deposit are part of
/// what the customer agreed to: changing them after approval needs a new
/// approval; the rest does not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderDetails {
    /// Delivery details.
    pub delivery: Delivery,
    /// Special requirements.
    pub requirements: Requirements,
    /// Written-evidence reference.
    pub evidence: String,
    /// Deposit.
    pub deposit: Decimal,
    /// The customer's own order number.
    pub customer_reference: String,
    /// Notes.
    pub notes: String,
}

/// A sum that saturates instead of overflowing (only values beyond the
/// documented limits get there, and the relay refuses those).
fn saturating_sum(values: impl Iterator<Item = Decimal>) -> Decimal {
    values.fold(Decimal::ZERO, |sum, v| {
        sum.checked_add(v).unwrap_or(if v.is_sign_negative() {
            Decimal::MIN
        } else {
            Decimal::MAX
        })
    })
}

fn hex16(digest: &[u8]) -> String {
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

fn shipping_notice(o: &Order) -> String {
    let reference = if o.customer_reference.is_empty() {
        String::new()
    } else {
        format!(" (your order {})", o.customer_reference)
    };
    format!(
        "Shipping notice: order {}{reference} for {} has shipped to {}.",
        o.number, o.customer_name, o.delivery.address
    )
}

fn check_quantity(q: Decimal) -> Result<Decimal> {
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
    Ok(d)
}
