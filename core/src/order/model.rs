//! What an order is: its fields, lines with exact money, payments,
//! production and shipment, and what is derived from them (totals, the
//! approval digest, the status shown).

use std::collections::BTreeMap;

use autosurgeon::{Hydrate, Reconcile};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

use super::{DerivedState, OrderEvent, OrderNumber, OrderStatus, derive_state};
use crate::customer::PaymentTerms;
use crate::document::Meta;
use crate::ids::DocId;
use crate::money::round_money;

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
    /// The line as Automerge values, laid out exactly as its `Reconcile`
    /// writes it (field names; decimals as canonical text, see
    /// `codec::decimal`), so a new line is inserted in one batch. A test
    /// checks the two agree.
    pub(crate) fn laid_out(&self) -> automerge::hydrate::Value {
        use automerge::hydrate::Value;
        let text = |s: &str| Value::scalar(s);
        let decimal = |d: Decimal| Value::scalar(d.normalize().to_string());
        Value::from(std::collections::HashMap::from([
            ("product", text(&self.product)),
            ("name", text(&self.name)),
            ("variant", text(&self.variant)),
            ("unit", text(&self.unit)),
            ("quantity", decimal(self.quantity)),
            ("unit_price", decimal(self.unit_price)),
            ("discount_percent", decimal(self.discount_percent)),
        ]))
    }

    /// The fields of this line that differ from `before`, as Automerge
    /// values laid out as [`OrderLine::laid_out`] lays them out.
    pub(crate) fn changed_from(&self, before: &OrderLine) -> Vec<(String, automerge::ScalarValue)> {
        use automerge::hydrate::Value;
        let (Value::Map(after), Value::Map(before)) = (self.laid_out(), before.laid_out()) else {
            return Vec::new();
        };
        after
            .iter()
            .filter(|(field, v)| before.get(field) != Some(&v.value))
            .filter_map(|(field, v)| match &v.value {
                Value::Scalar(s) => Some((field.clone(), s.clone())),
                _ => None,
            })
            .collect()
    }

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
        format!("{DIGEST_LAYOUT}{}", hex16(&h.finalize()))
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
        if is_current_digest(digest) {
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

    pub(crate) fn what(&self) -> String {
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

impl From<&Order> for OrderDetails {
    /// The order's details as they stand, to change some of them.
    fn from(o: &Order) -> Self {
        OrderDetails {
            delivery: o.delivery.clone(),
            requirements: o.requirements.clone(),
            evidence: o.evidence.clone(),
            deposit: o.deposit,
            customer_reference: o.customer_reference.clone(),
            notes: o.notes.clone(),
        }
    }
}

/// How [`Order::content_digest`] starts its digests.
const DIGEST_LAYOUT: &str = "2:";

/// Was `digest` written by [`Order::content_digest`] (not the legacy layout)?
pub(crate) fn is_current_digest(digest: &str) -> bool {
    digest.starts_with(DIGEST_LAYOUT)
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
