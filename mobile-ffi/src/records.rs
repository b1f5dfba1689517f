//! The records and enums the app sees. Money and quantities are exact decimal
//! strings ("1250.50"), instants are milliseconds since the epoch (UTC), days
//! are "YYYY-MM-DD".

use fieldsync_core as core;
use fieldsync_core::store::IndexEntry;

/// This phone's enrollment.
#[derive(Debug, Clone, uniffi::Record)]
pub struct DeviceInfo {
    /// The device's id.
    pub device_id: String,
    /// The user.
    pub user: String,
    /// The user's role (salesperson, manager, ...).
    pub role: String,
    /// The user's region.
    pub region: Option<String>,
    /// The prefix of the order numbers this phone mints.
    pub order_prefix: String,
    /// The relay it syncs with.
    pub relay_url: String,
}

/// A customer as of the last sync.
#[derive(Debug, Clone, uniffi::Record)]
pub struct CustomerInfo {
    /// Document id.
    pub id: String,
    /// Head office's customer code (empty for a prospect not yet given one).
    pub code: String,
    /// Name.
    pub name: String,
    /// Address.
    pub address: String,
    /// The shop's phone number.
    pub phone: String,
    /// Tax registration number.
    pub tax_number: String,
    /// People to talk to there.
    pub contacts: Vec<ContactInfo>,
    /// True for a prospect found in the field, false for an active customer.
    pub prospect: bool,
    /// A, B or C.
    pub grade: String,
    /// "cash" or "credit".
    pub payment_terms: String,
    /// Credit limit.
    pub credit_limit: String,
    /// Receivables as finance last published them.
    pub receivables: String,
    /// What the customer owes or is committed to: published receivables plus
    /// what is unpaid on its orders from approval to payment, as of the last sync.
    pub credit_exposure: String,
    /// Credit limit less the exposure (negative when over the limit).
    pub credit_headroom: String,
    /// When finance published the receivables.
    pub receivables_as_of_ms: Option<i64>,
}

impl CustomerInfo {
    /// The customer with its credit exposure.
    pub(crate) fn new(c: &core::Customer, exposure: &core::CreditExposure) -> Self {
        CustomerInfo {
            id: c.id().to_string(),
            code: c.code.clone(),
            name: c.name.clone(),
            address: c.address.clone(),
            phone: c.phone.clone(),
            tax_number: c.tax_number.clone(),
            contacts: c
                .contacts
                .values()
                .map(|k| ContactInfo {
                    name: k.name.clone(),
                    phone: k.phone.clone(),
                    title: k.title.clone(),
                })
                .collect(),
            prospect: c.status == core::CustomerStatus::Prospect,
            grade: format!("{:?}", c.grade),
            payment_terms: format!("{:?}", c.payment_terms).to_lowercase(),
            credit_limit: core::money::cents(c.credit_limit).to_string(),
            receivables: core::money::cents(c.receivables).to_string(),
            credit_exposure: core::money::cents(exposure.total()).to_string(),
            credit_headroom: core::money::cents(exposure.headroom()).to_string(),
            receivables_as_of_ms: c.receivables_as_of.map(|t| t.timestamp_millis()),
        }
    }
}

/// A person to talk to at a customer.
#[derive(Debug, Clone, uniffi::Record)]
pub struct ContactInfo {
    /// Name.
    pub name: String,
    /// Phone number.
    pub phone: String,
    /// Job title or role there.
    pub title: String,
}

/// A product with its stock as of the last sync.
#[derive(Debug, Clone, uniffi::Record)]
pub struct ProductInfo {
    /// Code.
    pub code: String,
    /// Name.
    pub name: String,
    /// Model or specification.
    pub spec: String,
    /// Category (product line), as the catalog groups products.
    pub category: String,
    /// Unit.
    pub unit: String,
    /// List price.
    pub list_price: String,
    /// On hand.
    pub on_hand: String,
    /// In production.
    pub in_production: String,
    /// Reserved for orders.
    pub reserved: String,
    /// On hand and not reserved.
    pub available: String,
    /// When head office published these figures.
    pub stock_as_of_ms: Option<i64>,
}

/// How an order reached us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum OrderChannel {
    /// On a visit.
    Visit,
    /// By phone.
    Phone,
    /// By e-mail.
    Email,
    /// From a platform.
    Platform,
    /// Walk-in.
    WalkIn,
    /// At an order fair.
    OrderFair,
    /// A reorder to refill sizes.
    ReorderSizeRefill,
    /// A reorder of the customer's own pick.
    ReorderCustomerPick,
    /// A reorder by the end customer.
    ReorderEndCustomer,
}

impl OrderChannel {
    pub(crate) fn to_core(self) -> (core::Channel, Option<core::ReorderKind>) {
        use core::{Channel as C, ReorderKind as R};
        match self {
            OrderChannel::Visit => (C::Visit, None),
            OrderChannel::Phone => (C::Phone, None),
            OrderChannel::Email => (C::Email, None),
            OrderChannel::Platform => (C::Platform, None),
            OrderChannel::WalkIn => (C::WalkIn, None),
            OrderChannel::OrderFair => (C::OrderFair, None),
            OrderChannel::ReorderSizeRefill => (C::Reorder, Some(R::SizeRefill)),
            OrderChannel::ReorderCustomerPick => (C::Reorder, Some(R::CustomerPick)),
            OrderChannel::ReorderEndCustomer => (C::Reorder, Some(R::EndCustomer)),
        }
    }
}

/// Where an order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum OrderState {
    /// Being written.
    Draft,
    /// Handed in, waiting for a manager.
    Submitted,
    /// Sent back with a reason.
    Rejected,
    /// Approved.
    Approved,
    /// Changed after approval: waiting for a manager again.
    ChangedAfterApproval,
    /// Confirmed by the customer.
    Confirmed,
    /// In production.
    InProduction,
    /// In the warehouse.
    InStock,
    /// Shipped.
    Shipped,
    /// Delivered.
    Delivered,
    /// Paid in full.
    Settled,
    /// Filed.
    Archived,
    /// Cancelled.
    Cancelled,
}

impl From<core::OrderStatus> for OrderState {
    fn from(s: core::OrderStatus) -> Self {
        use core::OrderStatus as S;
        match s {
            S::Draft => OrderState::Draft,
            S::Submitted => OrderState::Submitted,
            S::Rejected => OrderState::Rejected,
            S::Approved => OrderState::Approved,
            S::ChangedAfterApproval => OrderState::ChangedAfterApproval,
            S::Confirmed => OrderState::Confirmed,
            S::InProduction => OrderState::InProduction,
            S::InStock => OrderState::InStock,
            S::Shipped => OrderState::Shipped,
            S::Delivered => OrderState::Delivered,
            S::Settled => OrderState::Settled,
            S::Archived => OrderState::Archived,
            S::Cancelled => OrderState::Cancelled,
        }
    }
}

/// A new order line as typed.
#[derive(Debug, Clone, uniffi::Record)]
pub struct LineInput {
    /// Product code.
    pub product: String,
    /// Product name.
    pub name: String,
    /// Variant (colour, size).
    pub variant: String,
    /// Unit.
    pub unit: String,
    /// Quantity, e.g. "10".
    pub quantity: String,
    /// Unit price, e.g. "12.50".
    pub unit_price: String,
    /// Discount in percent, e.g. "5"; empty for none.
    pub discount_percent: String,
}

/// One edit of an order's lines, for `edit_order_lines` (several edits made
/// as one). Numbers are written as the app shows them, e.g. "12.50".
#[derive(Debug, Clone, uniffi::Enum)]
pub enum OrderLineEdit {
    /// Adds a line.
    Add {
        /// The new line.
        line: LineInput,
    },
    /// Changes a line's quantity.
    SetQuantity {
        /// The line's id.
        line_id: String,
        /// The new quantity.
        quantity: String,
    },
    /// Changes a line's unit price.
    SetUnitPrice {
        /// The line's id.
        line_id: String,
        /// The new unit price.
        unit_price: String,
    },
    /// Changes a line's discount (percent); empty for none.
    SetDiscount {
        /// The line's id.
        line_id: String,
        /// The new discount in percent.
        discount_percent: String,
    },
    /// Changes a line's variant (colour, size).
    SetVariant {
        /// The line's id.
        line_id: String,
        /// The new variant.
        variant: String,
    },
    /// Removes a line.
    Remove {
        /// The line's id.
        line_id: String,
    },
}

/// An order line.
#[derive(Debug, Clone, uniffi::Record)]
pub struct OrderLineInfo {
    /// Line id.
    pub id: String,
    /// Product code.
    pub product: String,
    /// Product name.
    pub name: String,
    /// Variant.
    pub variant: String,
    /// Unit.
    pub unit: String,
    /// Quantity.
    pub quantity: String,
    /// Unit price.
    pub unit_price: String,
    /// Discount in percent.
    pub discount_percent: String,
    /// Line total.
    pub total: String,
}

/// One step in an order's history.
#[derive(Debug, Clone, uniffi::Record)]
pub struct OrderEventInfo {
    /// The step (Submit, Approve, ...).
    pub action: String,
    /// Status before.
    pub from_status: String,
    /// Status after.
    pub to_status: String,
    /// Who.
    pub user: String,
    /// When.
    pub at_ms: i64,
    /// Why.
    pub reason: String,
}

impl OrderLineInfo {
    pub(crate) fn of(id: &str, l: &core::OrderLine) -> Self {
        OrderLineInfo {
            id: id.to_string(),
            product: l.product.clone(),
            name: l.name.clone(),
            variant: l.variant.clone(),
            unit: l.unit.clone(),
            quantity: l.quantity.to_string(),
            unit_price: l.unit_price.to_string(),
            discount_percent: l.discount_percent.to_string(),
            total: core::money::cents(l.total()).to_string(),
        }
    }
}

/// What a line edit answers: the line as it now is and the order's
/// figures, not the whole order (an order fair's order of hundreds of lines
/// is not sent back on every keystroke; `order` reads it whole).
#[derive(Debug, Clone, uniffi::Record)]
pub struct LineEdited {
    /// The order's document id.
    pub order_id: String,
    /// Order number.
    pub number: String,
    /// Status (an edit after approval makes it changed after approval).
    pub state: OrderState,
    /// The order's total after the edit.
    pub total: String,
    /// How many lines the order has.
    pub line_count: u32,
    /// The line as it now is; none once it was removed.
    pub line: Option<OrderLineInfo>,
}

impl LineEdited {
    pub(crate) fn of(o: &core::Order, line: &str) -> Self {
        LineEdited {
            order_id: o.id().to_string(),
            number: o.number.clone(),
            state: o.status().into(),
            total: core::money::cents(o.total()).to_string(),
            line_count: u32::try_from(o.lines.len()).unwrap_or(u32::MAX),
            line: o.lines.get(line).map(|l| OrderLineInfo::of(line, l)),
        }
    }
}

/// An order.
#[derive(Debug, Clone, uniffi::Record)]
pub struct OrderInfo {
    /// Document id.
    pub id: String,
    /// Order number (S07-20261122-003).
    pub number: String,
    /// Customer id.
    pub customer_id: String,
    /// Customer name.
    pub customer_name: String,
    /// Status.
    pub state: OrderState,
    /// Total.
    pub total: String,
    /// Paid so far.
    pub paid: String,
    /// Requested delivery day.
    pub delivery_date: Option<String>,
    /// Lines in the order they were added.
    pub lines: Vec<OrderLineInfo>,
    /// Delivery, requirements, evidence, deposit, the customer's reference, notes.
    pub details: OrderDetailsRecord,
    /// The audit trail.
    pub history: Vec<OrderEventInfo>,
}

/// An order's details, as the app shows and edits them. The written
/// evidence (the signed order form, the e-mail, a photo's reference) is
/// needed before the order is handed in: no oral orders.
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct OrderDetailsRecord {
    /// Where the goods go.
    pub delivery_address: String,
    /// Who receives them.
    pub consignee: String,
    /// The consignee's phone.
    pub consignee_phone: String,
    /// Carrier or means of transport.
    pub transport: String,
    /// Packing requirements.
    pub packing: String,
    /// Transport requirements.
    pub transport_requirements: String,
    /// After-sales requirements.
    pub after_sales: String,
    /// The written evidence's reference.
    pub evidence: String,
    /// Deposit, e.g. "500.00" ("0" for none).
    pub deposit: String,
    /// The customer's own order number (printed on the shipping notice).
    pub customer_reference: String,
    /// Notes.
    pub notes: String,
}

impl OrderDetailsRecord {
    /// The record of an order's details.
    pub(crate) fn of(o: &core::Order) -> Self {
        OrderDetailsRecord {
            delivery_address: o.delivery.address.clone(),
            consignee: o.delivery.consignee.clone(),
            consignee_phone: o.delivery.phone.clone(),
            transport: o.delivery.transport.clone(),
            packing: o.requirements.packing.clone(),
            transport_requirements: o.requirements.transport.clone(),
            after_sales: o.requirements.after_sales.clone(),
            evidence: o.evidence.clone(),
            deposit: o.deposit.to_string(),
            customer_reference: o.customer_reference.clone(),
            notes: o.notes.clone(),
        }
    }
}

impl From<&core::Order> for OrderInfo {
    fn from(o: &core::Order) -> Self {
        let money = |d| core::money::cents(d).to_string();
        OrderInfo {
            id: o.id().to_string(),
            number: o.number.clone(),
            customer_id: o.customer.to_string(),
            customer_name: o.customer_name.clone(),
            state: o.status().into(),
            total: money(o.total()),
            paid: money(o.paid()),
            delivery_date: o.delivery_date.map(|d| d.to_string()),
            lines: o
                .lines
                .iter()
                .map(|(id, l)| OrderLineInfo::of(id, l))
                .collect(),
            details: OrderDetailsRecord::of(o),
            history: o
                .events
                .iter()
                .map(|e| OrderEventInfo {
                    action: format!("{:?}", e.action),
                    from_status: e.from.as_str().to_string(),
                    to_status: e.to.as_str().to_string(),
                    user: e.user.clone(),
                    at_ms: e.at.timestamp_millis(),
                    reason: e.reason.clone(),
                })
                .collect(),
        }
    }
}

/// A complaint as the phone shows it: where it stands, head office's
/// resolution, and every step.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ComplaintInfo {
    /// Document id.
    pub id: String,
    /// The customer's id.
    pub customer_id: String,
    /// The customer's name.
    pub customer_name: String,
    /// One line.
    pub subject: String,
    /// The complaint in the customer's words.
    pub description: String,
    /// open, resolved (tell the customer) or closed.
    pub status: String,
    /// Head office's latest resolution, once resolved.
    pub resolution: Option<String>,
    /// Every step: resolved, reported back, reopened.
    pub history: Vec<ComplaintStepInfo>,
}

/// One step in a complaint's life.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ComplaintStepInfo {
    /// resolve, report_back or reopen.
    pub action: String,
    /// Who.
    pub user: String,
    /// In which role.
    pub role: String,
    /// What was done or said.
    pub note: String,
    /// When, epoch milliseconds.
    pub at_ms: i64,
}

impl From<&core::Complaint> for ComplaintInfo {
    fn from(c: &core::Complaint) -> Self {
        use core::ComplaintAction as A;
        ComplaintInfo {
            id: c.id().to_string(),
            customer_id: c.customer.to_string(),
            customer_name: c.customer_name.clone(),
            subject: c.subject.clone(),
            description: c.description.clone(),
            status: c.status().in_words().to_string(),
            resolution: c
                .events
                .iter()
                .rev()
                .find(|e| e.action == A::Resolve)
                .map(|e| e.note.clone()),
            history: c
                .events
                .iter()
                .map(|e| ComplaintStepInfo {
                    action: match e.action {
                        A::Resolve => "resolve",
                        A::ReportBack => "report_back",
                        A::Reopen => "reopen",
                    }
                    .to_string(),
                    user: e.user.clone(),
                    role: e.role.clone(),
                    note: e.note.clone(),
                    at_ms: e.at.timestamp_millis(),
                })
                .collect(),
        }
    }
}

/// One change to one field of a document: the per-field history.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FieldChangeRecord {
    /// The field, as a path (`lines/<line id>/quantity`).
    pub field: String,
    /// The value before, if it had one.
    pub old_value: Option<String>,
    /// The new value (`None`: removed).
    pub new_value: Option<String>,
    /// Who made the change.
    pub user: Option<String>,
    /// In which role.
    pub role: Option<String>,
    /// On which device.
    pub device: Option<String>,
    /// When (the author's clock), epoch milliseconds.
    pub at_ms: i64,
}

impl From<core::FieldChange> for FieldChangeRecord {
    fn from(h: core::FieldChange) -> Self {
        FieldChangeRecord {
            field: h.path,
            old_value: h.old,
            new_value: h.value,
            user: h.actor.as_ref().map(|a| a.user().to_string()),
            role: h.actor.as_ref().map(|a| a.role().as_str().to_string()),
            device: h.actor.as_ref().map(|a| a.device().to_string()),
            at_ms: h.at.timestamp_millis(),
        }
    }
}

/// A GPS position.
#[derive(Debug, Clone, Copy, uniffi::Record)]
pub struct GeoPosition {
    /// Latitude in degrees.
    pub latitude: f64,
    /// Longitude in degrees.
    pub longitude: f64,
}

impl From<core::GeoPoint> for GeoPosition {
    fn from(p: core::GeoPoint) -> Self {
        GeoPosition {
            latitude: p.latitude,
            longitude: p.longitude,
        }
    }
}

/// Where a visit stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum VisitState {
    /// Planned.
    Planned,
    /// Checked in.
    InProgress,
    /// Checked out.
    Done,
    /// Called off.
    Cancelled,
}

/// A visit.
#[derive(Debug, Clone, uniffi::Record)]
pub struct VisitInfo {
    /// Document id.
    pub id: String,
    /// Customer id.
    pub customer_id: String,
    /// Customer name.
    pub customer_name: String,
    /// Appointment.
    pub planned_start_ms: i64,
    /// Purpose.
    pub purpose: String,
    /// Status.
    pub state: VisitState,
    /// Arrival.
    pub check_in_ms: Option<i64>,
    /// Departure.
    pub check_out_ms: Option<i64>,
    /// Minutes spent, once checked out.
    pub length_minutes: Option<i64>,
    /// Longer than the ~30-minute guideline.
    pub over_guideline: bool,
    /// Contact met.
    pub contact: String,
    /// Notes, oldest first.
    pub notes: Vec<String>,
    /// Order intent.
    pub intent: String,
    /// Customer feedback.
    pub feedback: String,
    /// Next appointment.
    pub next_appointment_ms: Option<i64>,
    /// Follow-ups not done yet.
    pub open_follow_ups: Vec<String>,
    /// Every follow-up, done or not.
    pub follow_ups: Vec<FollowUpInfo>,
    /// Where the phone was at check-in, if it knew.
    pub check_in_position: Option<GeoPosition>,
    /// Where the phone was at check-out, if it knew.
    pub check_out_position: Option<GeoPosition>,
    /// Why it was called off, if it was.
    pub cancel_reason: Option<String>,
}

/// A follow-up of a visit (the thank-you call, or one the salesperson adds).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FollowUpInfo {
    /// Its id (to complete it).
    pub id: String,
    /// What to do.
    pub text: String,
    /// By when, epoch milliseconds.
    pub due_ms: i64,
    /// Done yet.
    pub done: bool,
}

impl From<&core::Visit> for VisitInfo {
    fn from(v: &core::Visit) -> Self {
        VisitInfo {
            id: v.id().to_string(),
            customer_id: v.customer.to_string(),
            customer_name: v.customer_name.clone(),
            planned_start_ms: v.plan.planned_start.timestamp_millis(),
            purpose: v.plan.purpose.clone(),
            state: match v.status() {
                core::VisitStatus::Planned => VisitState::Planned,
                core::VisitStatus::InProgress => VisitState::InProgress,
                core::VisitStatus::Done => VisitState::Done,
                core::VisitStatus::Cancelled => VisitState::Cancelled,
            },
            check_in_ms: v.check_in.as_ref().map(|s| s.at.timestamp_millis()),
            check_out_ms: v.check_out.as_ref().map(|s| s.at.timestamp_millis()),
            length_minutes: v.length_minutes(),
            over_guideline: v.over_guideline(),
            contact: v.contact.clone(),
            notes: v
                .notes_in_order()
                .into_iter()
                .map(|n| n.text.clone())
                .collect(),
            intent: v.outcome.intent.clone(),
            feedback: v.outcome.feedback.clone(),
            next_appointment_ms: v.outcome.next_appointment.map(|t| t.timestamp_millis()),
            open_follow_ups: v
                .follow_ups
                .values()
                .filter(|f| f.done_at.is_none())
                .map(|f| f.text.clone())
                .collect(),
            follow_ups: v
                .follow_ups
                .iter()
                .map(|(id, f)| FollowUpInfo {
                    id: id.clone(),
                    text: f.text.clone(),
                    due_ms: f.due.timestamp_millis(),
                    done: f.done_at.is_some(),
                })
                .collect(),
            check_in_position: v
                .check_in
                .as_ref()
                .and_then(|s| s.position)
                .map(GeoPosition::from),
            check_out_position: v
                .check_out
                .as_ref()
                .and_then(|s| s.position)
                .map(GeoPosition::from),
            cancel_reason: v.cancelled.clone(),
        }
    }
}

/// A row of a list screen.
#[derive(Debug, Clone, uniffi::Record)]
pub struct ListItem {
    /// Document id.
    pub id: String,
    /// order, visit, customer, complaint, daily_report, catalog.
    pub kind: String,
    /// Title (customer name, subject).
    pub title: String,
    /// Status in words.
    pub status: String,
    /// Order number, for orders.
    pub number: Option<String>,
    /// Total, for orders.
    pub total: Option<String>,
    /// The time the list sorts by.
    pub at_ms: i64,
}

impl From<IndexEntry> for ListItem {
    fn from(e: IndexEntry) -> Self {
        ListItem {
            id: e.id.to_string(),
            kind: e.kind.as_str().to_string(),
            title: e.title,
            status: e.status,
            number: e.number,
            total: e.total.map(|t| core::money::cents(t).to_string()),
            at_ms: e.at.timestamp_millis(),
        }
    }
}

/// A document the relay refused, with its reason.
#[derive(Debug, Clone, uniffi::Record)]
pub struct RefusedItem {
    /// The document.
    pub item: ListItem,
    /// The relay's reason.
    pub reason: String,
}

/// What a sync did.
#[derive(Debug, Clone, uniffi::Record)]
pub struct SyncReport {
    /// Documents sent and accepted.
    pub sent: u32,
    /// Documents received.
    pub received: u32,
    /// Documents removed from the phone because they are no longer this
    /// user's (their customer went to another salesperson); anything the
    /// phone had not sent of them was delivered first.
    pub departed: u32,
    /// Documents refused, with reasons.
    pub refused: Vec<RefusedItem>,
    /// Round trips made.
    pub round_trips: u32,
    /// Bytes sent.
    pub bytes_up: u64,
    /// Bytes received.
    pub bytes_down: u64,
}
