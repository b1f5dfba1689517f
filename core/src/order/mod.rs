//! Sales orders (DOMAIN.md, "Orders"): what an order is (`model`), editing
//! its lines and header (`lines`), the lifecycle and who takes each step
//! (`lifecycle`, `steps`), credit (`credit`), split and merge (`split`), and
//! order numbers (`number`).

mod credit;
mod lifecycle;
mod lines;
mod model;
mod number;
mod split;
mod steps;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use rust_decimal::Decimal;

pub use credit::{
    CreditCheckpoint, CreditExposure, CreditTerms, OpenOrder, counts_toward_exposure,
};
pub use lifecycle::{DerivedState, OrderAction, OrderEvent, OrderStatus, derive_state};
pub use lines::LineEdit;
pub(crate) use model::is_current_digest;
pub use model::{
    Channel, Delivery, NewLine, NewOrder, Order, OrderDetails, OrderLine, Payment, ProductionInfo,
    ReorderKind, Requirements, Shipment,
};
pub use number::{MAX_SEQUENCE, OrderNumber, OrderPrefix};
pub use steps::{CreditFacts, Step, decide_step};

use crate::access::{require_role, require_scope};
use crate::actor::{ChangeCtx, Role};
use crate::customer::Customer;
use crate::document::{DocKind, Document, Meta};
use crate::error::{Error, Result};

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
        Self::create_with_lines(ctx, customer, new, &[])
    }

    /// [`OrderDoc::create`] with its lines, as one change: an order entered
    /// whole (an order fair's hundreds of lines) costs one edit, not one per
    /// line. Every line is checked as [`OrderDoc::add_line`] checks it.
    pub fn create_with_lines(
        ctx: &ChangeCtx,
        customer: &Customer,
        new: NewOrder,
        new_lines: &[NewLine],
    ) -> Result<Self> {
        require_role(&ctx.actor, CONTENT_EDITORS, "create orders")?;
        require_scope(&ctx.actor, &customer.meta, || {
            format!("customer {}", customer.name)
        })?;
        if new.channel == Channel::Reorder && new.reorder_kind.is_none() {
            return Err(Error::Required("the kind of reorder"));
        }
        let mut lines = BTreeMap::new();
        for l in new_lines {
            lines.insert(crate::ids::new_item_id(), Self::check_line(l)?);
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
            lines,
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

    /// The underlying document, given up (e.g. back to the store's open
    /// documents).
    pub fn into_document(self) -> Document {
        self.doc
    }

    /// Reads the order.
    pub fn read(&self) -> Result<Order> {
        self.doc.view()
    }

    /// Reads the order without copying it (the object the document keeps).
    pub fn read_ref(&self) -> Result<&Order> {
        self.doc.view_ref()
    }

    /// The checks of [`OrderDoc::for_content_edit`] without reading the
    /// order's lines: its header, number and steps only, so an edit of one
    /// line costs the same on an order of 300 lines as on one of 3.
    fn check_content_editable(&self, ctx: &ChangeCtx) -> Result<String> {
        require_role(&ctx.actor, CONTENT_EDITORS, "change order lines")?;
        let (number, stage) = match self.doc.kept_view::<Order>() {
            Some(o) => (o.number.clone(), o.derived().stage),
            None => {
                let number: String = self.doc.hydrate_field("number")?;
                let events: Vec<OrderEvent> = self.doc.hydrate_field("events")?;
                (number, derive_state(&events).stage)
            }
        };
        require_scope(&ctx.actor, self.doc.meta(), || format!("order {number}"))?;
        if stage.is_closed() {
            return Err(Error::OrderClosed {
                number,
                status: stage.as_str(),
            });
        }
        if !stage.is_before_shipping() {
            return Err(Error::ContentLocked {
                number,
                status: stage.as_str(),
            });
        }
        Ok(number)
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
}
