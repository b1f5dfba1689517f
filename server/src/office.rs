//! Head-office actions on documents over HTTP: the order desk, production,
//! warehouse and finance move orders, managers and finance change customers,
//! head office resolves complaints. Each action loads the relay's copy, applies
//! core's typed API as the authenticated user, and commits it through the
//! relay's checks, so phones receive it at their next sync.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path as UrlPath, State};
use axum::http::HeaderMap;
use chrono::NaiveDate;
use fieldsync_core::sync::RelayStore;
use fieldsync_core::{
    Actor, ChangeCtx, ComplaintDoc, Customer, CustomerDoc, DocId, Document, Grade, OpenOrder,
    Order, OrderDetails, OrderDoc, PaymentTerms, ProductionInfo, Shipment, may_see, money,
};
use rusqlite::OptionalExtension;
use serde::{Deserialize, Serialize};

use crate::accounts;
use crate::app::{AppState, ServerRelay, bearer, blocking};
use crate::error::{Result, ServerError};

/// A typed document a head-office action edits.
trait OfficeDocument: Sized {
    fn open(doc: Document) -> fieldsync_core::Result<Self>;
    fn document(&mut self) -> &mut Document;
}

macro_rules! office_document {
    ($($t:ty),*) => {$(
        impl OfficeDocument for $t {
            fn open(doc: Document) -> fieldsync_core::Result<Self> {
                <$t>::from_document(doc)
            }
            fn document(&mut self) -> &mut Document {
                <$t>::document(self)
            }
        }
    )*};
}
office_document!(OrderDoc, CustomerDoc, ComplaintDoc);

/// Runs one head-office action: authenticates the user, loads document `id`
/// (if they may see it) as a `D`, applies `edit` as them, and commits the
/// result through the relay's checks. Answers what `edit` returns.
async fn act<D: OfficeDocument, T: Send + 'static>(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    id: &str,
    what: String,
    edit: impl FnOnce(&mut ServerRelay, &ChangeCtx, &mut D) -> Result<T> + Send + 'static,
) -> Result<T> {
    let token = bearer(headers)?;
    let id = parse_id(id)?;
    blocking(state, move |s| {
        let mut relay = s.relay();
        let actor = accounts::authenticate_user(relay.store().connection(), &token)?;
        let ctx = ChangeCtx::now(actor.clone());
        let mut doc = D::open(load_visible(&mut relay, &actor, id)?)?;
        let answer = edit(&mut relay, &ctx, &mut doc)?;
        relay.commit_edit(&actor, doc.document())?;
        s.metrics.office_action();
        tracing::info!(user = actor.user(), document = %id, action = %what, "head-office action");
        Ok(answer)
    })
    .await
}

fn parse_id(id: &str) -> Result<DocId> {
    id.parse()
        .map_err(|_| ServerError::NotFound(format!("there is no document {id}")))
}

/// An order as the head-office API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OrderSummary {
    id: String,
    number: String,
    customer: String,
    customer_name: String,
    status: String,
    changed_after_approval: bool,
    total: String,
    paid: String,
    lines: Vec<LineSummary>,
    details: DetailsBody,
}

/// An order's details: what `GET` shows, and what the `details` action
/// takes (fields left out stay as they are).
#[derive(Debug, Default, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DetailsBody {
    delivery_address: Option<String>,
    consignee: Option<String>,
    consignee_phone: Option<String>,
    transport: Option<String>,
    packing: Option<String>,
    transport_requirements: Option<String>,
    after_sales: Option<String>,
    /// The written evidence's reference (needed before submitting).
    evidence: Option<String>,
    /// A decimal string.
    deposit: Option<String>,
    /// The customer's own order number.
    customer_reference: Option<String>,
    notes: Option<String>,
}

impl DetailsBody {
    fn of(o: &Order) -> Self {
        let some = |s: &str| Some(s.to_string());
        DetailsBody {
            delivery_address: some(&o.delivery.address),
            consignee: some(&o.delivery.consignee),
            consignee_phone: some(&o.delivery.phone),
            transport: some(&o.delivery.transport),
            packing: some(&o.requirements.packing),
            transport_requirements: some(&o.requirements.transport),
            after_sales: some(&o.requirements.after_sales),
            evidence: some(&o.evidence),
            deposit: Some(money::cents(o.deposit).to_string()),
            customer_reference: some(&o.customer_reference),
            notes: some(&o.notes),
        }
    }

    /// `o`'s details with the fields given here changed.
    fn apply_to(&self, o: &Order) -> Result<OrderDetails> {
        let mut d = OrderDetails::from(o);
        let set = |field: &mut String, v: &Option<String>| {
            if let Some(v) = v {
                *field = v.clone();
            }
        };
        set(&mut d.delivery.address, &self.delivery_address);
        set(&mut d.delivery.consignee, &self.consignee);
        set(&mut d.delivery.phone, &self.consignee_phone);
        set(&mut d.delivery.transport, &self.transport);
        set(&mut d.requirements.packing, &self.packing);
        set(&mut d.requirements.transport, &self.transport_requirements);
        set(&mut d.requirements.after_sales, &self.after_sales);
        set(&mut d.evidence, &self.evidence);
        set(&mut d.customer_reference, &self.customer_reference);
        set(&mut d.notes, &self.notes);
        if let Some(deposit) = &self.deposit {
            d.deposit = money::parse_amount("deposit", deposit)?;
        }
        Ok(d)
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct LineSummary {
    id: String,
    product: String,
    variant: String,
    quantity: String,
    unit_price: String,
    discount_percent: String,
    total: String,
}

impl OrderSummary {
    /// The order's id.
    pub(crate) fn id(&self) -> &str {
        &self.id
    }
}

impl From<&Order> for OrderSummary {
    fn from(o: &Order) -> Self {
        OrderSummary {
            id: o.id().to_string(),
            number: o.number.clone(),
            customer: o.customer.to_string(),
            customer_name: o.customer_name.clone(),
            status: o.status().as_str().to_string(),
            changed_after_approval: o.changed_after_approval(),
            total: money::cents(o.total()).to_string(),
            paid: money::cents(o.paid()).to_string(),
            lines: o
                .lines
                .iter()
                .map(|(id, l)| LineSummary {
                    id: id.clone(),
                    product: l.product.clone(),
                    variant: l.variant.clone(),
                    quantity: l.quantity.to_string(),
                    unit_price: l.unit_price.to_string(),
                    discount_percent: l.discount_percent.to_string(),
                    total: money::cents(l.total()).to_string(),
                })
                .collect(),
            details: DetailsBody::of(o),
        }
    }
}

/// `GET /v1/orders/{id}/shipping-notice`: what went to the customer when
/// the order shipped: their own order reference, where and to whom, the
/// carrier and waybill, the lines, and the notice text.
#[utoipa::path(get, path = "/v1/orders/{id}/shipping-notice", tag = "orders", security(("bearer" = [])), params(("id" = String, Path, description = "the document id")), responses((status = 200, description = "the shipping notice of the latest shipment"), (status = 400, description = "malformed or breaks a rule", body = crate::openapi::ErrorBody), (status = 401, description = "no or unknown token", body = crate::openapi::ErrorBody), (status = 404, description = "unknown, or not shipped", body = crate::openapi::ErrorBody)))]
pub(crate) async fn shipping_notice(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<serde_json::Value>> {
    let token = bearer(&headers)?;
    let id = parse_id(&id)?;
    blocking(&state, move |s| {
        let mut relay = s.relay();
        let actor = accounts::authenticate_user(relay.store().connection(), &token)?;
        let o: Order = load_visible(&mut relay, &actor, id)?.view()?;
        let derived = o.derived();
        let shipped = o
            .events
            .iter()
            .rev()
            .filter(|e| e.action == fieldsync_core::OrderAction::Ship)
            .find(|e| !derived.superseded.contains(&e.id))
            .ok_or_else(|| {
                ServerError::Core(fieldsync_core::Error::Incomplete(
                    "the order has not shipped yet, so it has no shipping notice",
                ))
            })?;
        Ok(Json(serde_json::json!({
            "order": o.number,
            "customer": o.customer_name,
            "customer_reference": o.customer_reference,
            "delivery_address": o.delivery.address,
            "consignee": o.delivery.consignee,
            "consignee_phone": o.delivery.phone,
            "transport": o.delivery.transport,
            "carrier": o.shipment.carrier,
            "tracking": o.shipment.tracking,
            "shipped_at": shipped.at.to_rfc3339(),
            "shipped_by": shipped.user,
            "lines": o.lines.values().map(|l| serde_json::json!({
                "product": l.product,
                "name": l.name,
                "variant": l.variant,
                "quantity": l.quantity.to_string(),
                "unit": l.unit,
            })).collect::<Vec<_>>(),
            "notice": o.shipment.notice,
        })))
    })
    .await
}

/// Stock figures for one product (`POST /v1/stock`); decimal strings, a
/// figure left out stays as it is.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StockBody {
    code: String,
    on_hand: Option<String>,
    in_production: Option<String>,
    reserved: Option<String>,
}

/// `POST /v1/stock`'s body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StockUpdate {
    products: Vec<StockBody>,
}

/// Publishes stock figures as `actor` (the warehouse: on hand and
/// reserved; production: in production) in one catalog change. The one
/// path for the JSON API and the console.
pub(crate) fn publish_stock_as(
    s: &AppState,
    relay: &mut ServerRelay,
    actor: &Actor,
    figures: Vec<fieldsync_core::StockFigures>,
) -> Result<()> {
    let ctx = ChangeCtx::now(actor.clone());
    let Some(id) = crate::import::catalog_id(relay)? else {
        return Err(ServerError::NotFound("there is no catalog yet".into()));
    };
    let mut cat = fieldsync_core::CatalogDoc::from_document(relay.load(id)?)?;
    let keyed = figures.into_iter().map(|f| (f.code.clone(), f)).collect();
    if let Some((_, e)) = cat.publish_stocks(&ctx, keyed)?.into_iter().next() {
        return Err(e.into());
    }
    relay.commit_edit(actor, cat.document())?;
    s.metrics.office_action();
    Ok(())
}

/// `POST /v1/stock`: the warehouse publishes on hand and reserved,
/// production in production, for many products in one change; phones show
/// them as of their next sync.
#[utoipa::path(post, path = "/v1/stock", tag = "stock", security(("bearer" = [])), request_body = StockUpdate, responses((status = 200, description = "published"), (status = 400, description = "malformed or breaks a rule", body = crate::openapi::ErrorBody), (status = 401, description = "no or unknown token", body = crate::openapi::ErrorBody), (status = 403, description = "not the warehouse's or production's figure", body = crate::openapi::ErrorBody)))]
pub(crate) async fn publish_stock(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: std::result::Result<Json<StockUpdate>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<serde_json::Value>> {
    let token = bearer(&headers)?;
    let Json(update) =
        body.map_err(|e| ServerError::BadRequest(format!("the request body is not valid: {e}")))?;
    blocking(&state, move |s| {
        let mut relay = s.relay();
        let actor = accounts::authenticate_user(relay.store().connection(), &token)?;
        let figures = update
            .products
            .iter()
            .map(|p| {
                fieldsync_core::StockFigures::from_text(
                    &p.code,
                    p.on_hand.as_deref(),
                    p.in_production.as_deref(),
                    p.reserved.as_deref(),
                )
            })
            .collect::<fieldsync_core::Result<Vec<_>>>()?;
        let n = figures.len();
        publish_stock_as(s, &mut relay, &actor, figures)?;
        Ok(Json(serde_json::json!({ "published": n })))
    })
    .await
}

/// One change to one field of a document, as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FieldChangeSummary {
    field: String,
    old: Option<String>,
    new: Option<String>,
    user: Option<String>,
    role: Option<String>,
    device: Option<String>,
    at: String,
}

/// `GET /v1/documents/{id}/history`: every change to every field of a
/// document the user may see, oldest first.
#[utoipa::path(get, path = "/v1/documents/{id}/history", tag = "documents", security(("bearer" = [])), params(("id" = String, Path, description = "the document id")), responses((status = 200, description = "every change to every field, oldest first", body = Vec<FieldChangeSummary>), (status = 400, description = "malformed or breaks a rule", body = crate::openapi::ErrorBody), (status = 401, description = "no or unknown token", body = crate::openapi::ErrorBody), (status = 404, description = "unknown", body = crate::openapi::ErrorBody)))]
pub(crate) async fn document_history(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<Vec<FieldChangeSummary>>> {
    let token = bearer(&headers)?;
    let id = parse_id(&id)?;
    blocking(&state, move |s| {
        let mut relay = s.relay();
        let actor = accounts::authenticate_user(relay.store().connection(), &token)?;
        let mut doc = load_visible(&mut relay, &actor, id)?;
        Ok(Json(field_history(&mut doc)))
    })
    .await
}

/// Loads a document the user may see (others are "not found", not "forbidden").
fn load_visible(
    relay: &mut ServerRelay,
    actor: &Actor,
    id: DocId,
) -> Result<fieldsync_core::Document> {
    let doc = relay
        .load(id)
        .map_err(|_| ServerError::NotFound(format!("there is no document {id}")))?;
    if !may_see(actor, doc.meta()) {
        return Err(ServerError::NotFound(format!("there is no document {id}")));
    }
    Ok(doc)
}

/// An order with everything head office reads on its page: lines and
/// details, production, shipment, payments, every step and every field's
/// history.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OrderPage {
    #[serde(flatten)]
    summary: OrderSummary,
    region: Option<String>,
    salesperson: String,
    taken_by: String,
    created_at: String,
    delivery_date: Option<String>,
    split_from: Option<String>,
    merged_into: Option<String>,
    #[schema(value_type = Object)]
    production: serde_json::Value,
    #[schema(value_type = Object)]
    shipment: serde_json::Value,
    #[schema(value_type = Vec<Object>)]
    payments: Vec<serde_json::Value>,
    /// Every step, in the order they take effect, with who, where, when and why.
    #[schema(value_type = Vec<Object>)]
    events: Vec<serde_json::Value>,
    /// Every change to every field, oldest first.
    history: Vec<FieldChangeSummary>,
}

fn field_history(doc: &mut Document) -> Vec<FieldChangeSummary> {
    doc.history()
        .into_iter()
        .map(|h| FieldChangeSummary {
            field: h.path,
            old: h.old,
            new: h.value,
            user: h.actor.as_ref().map(|a| a.user().to_string()),
            role: h.actor.as_ref().map(|a| a.role().as_str().to_string()),
            device: h.actor.as_ref().map(|a| a.device().to_string()),
            at: h.at.to_rfc3339(),
        })
        .collect()
}

impl OrderPage {
    fn of(doc: &mut Document) -> Result<Self> {
        let o = doc.view::<Order>()?;
        let superseded = o.derived().superseded;
        Ok(OrderPage {
            summary: OrderSummary::from(&o),
            region: o.meta.region.clone(),
            salesperson: o.meta.owner.clone(),
            taken_by: o.meta.created_by.clone(),
            created_at: o.meta.created_at.to_rfc3339(),
            delivery_date: o.delivery_date.map(|d| d.to_string()),
            split_from: o.split_from.clone(),
            merged_into: o.merged_into.clone(),
            production: serde_json::json!({
                "expected_finish": o.production.expected_finish.map(|d| d.to_string()),
                "note": o.production.note,
            }),
            shipment: serde_json::json!({
                "carrier": o.shipment.carrier,
                "tracking": o.shipment.tracking,
                "notice": o.shipment.notice,
            }),
            payments: o
                .payments
                .iter()
                .map(|(id, p)| {
                    serde_json::json!({
                        "id": id,
                        "amount": money::cents(p.amount).to_string(),
                        "received_at": p.received_at.to_rfc3339(),
                        "reference": p.reference,
                        "recorded_by": p.recorded_by,
                    })
                })
                .collect(),
            events: o
                .events
                .iter()
                .map(|e| {
                    serde_json::json!({
                        "id": e.id,
                        "action": format!("{:?}", e.action),
                        "from": e.from.as_str(),
                        "to": e.to.as_str(),
                        "user": e.user,
                        "role": e.role,
                        "device": e.device,
                        "at": e.at.to_rfc3339(),
                        "reason": e.reason,
                        "credit_override": e.credit_override,
                        "took_effect": !superseded.contains(&e.id),
                    })
                })
                .collect(),
            history: field_history(doc),
        })
    }
}

/// An order's id from what the caller gave: its id, or its number
/// (`S01-20261202-001`, as reports and shipping notices show it).
pub(crate) fn order_id(conn: &rusqlite::Connection, id_or_number: &str) -> Result<DocId> {
    if let Ok(id) = id_or_number.parse() {
        return Ok(id);
    }
    let id: Option<String> = conn
        .query_row(
            "SELECT id FROM orders WHERE number = ?1",
            [id_or_number],
            |r| r.get(0),
        )
        .optional()?;
    id.and_then(|i| i.parse().ok())
        .ok_or_else(|| ServerError::NotFound(format!("there is no order {id_or_number}")))
}

/// `GET /v1/orders/{id or number}`: the order's page.
#[utoipa::path(get, path = "/v1/orders/{id}", tag = "orders", security(("bearer" = [])), params(("id" = String, Path, description = "the order's id or number")), responses((status = 200, description = "the order with lines, details, production, shipment, payments, steps and field history", body = OrderPage), (status = 400, description = "malformed or breaks a rule", body = crate::openapi::ErrorBody), (status = 401, description = "no or unknown token", body = crate::openapi::ErrorBody), (status = 404, description = "unknown", body = crate::openapi::ErrorBody)))]
pub(crate) async fn get_order(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<OrderPage>> {
    let token = bearer(&headers)?;
    blocking(&state, move |s| {
        let mut relay = s.relay();
        let actor = accounts::authenticate_user(relay.store().connection(), &token)?;
        let id = order_id(relay.store().connection(), &id)?;
        let mut doc = load_visible(&mut relay, &actor, id)?;
        Ok(Json(OrderPage::of(&mut doc)?))
    })
    .await
}

/// The body of a head-office action; each action reads the fields it needs.
#[derive(Debug, Default, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionBody {
    /// Why (reject, cancel).
    pub reason: Option<String>,
    /// Why the credit check is overridden (approve, ship).
    pub credit_override_reason: Option<String>,
    /// Production's expected finish date.
    pub expected_finish: Option<NaiveDate>,
    /// Production note.
    pub note: Option<String>,
    /// Carrier (ship).
    pub carrier: Option<String>,
    /// Tracking number (ship).
    pub tracking: Option<String>,
    /// An amount as a decimal string (payments, credit limits).
    pub amount: Option<String>,
    /// Payment reference.
    pub reference: Option<String>,
    /// Payment terms: "cash" or "credit".
    pub payment_terms: Option<String>,
    /// Days to pay.
    pub credit_days: Option<u64>,
    /// Grade: "A", "B" or "C".
    pub grade: Option<String>,
    /// A complaint's resolution.
    pub resolution: Option<String>,
    /// An order's details (the details action).
    pub details: Option<DetailsBody>,
    /// The ids of the lines to split off (split).
    pub lines: Option<Vec<String>>,
    /// The id of the order to merge into this one (merge).
    pub from: Option<String>,
    /// The salesperson a customer is reassigned to (reassign).
    pub owner: Option<String>,
}

fn json_body(
    body: std::result::Result<Json<ActionBody>, axum::extract::rejection::JsonRejection>,
) -> Result<ActionBody> {
    match body {
        Ok(Json(b)) => Ok(b),
        Err(axum::extract::rejection::JsonRejection::MissingJsonContentType(_)) => {
            Ok(ActionBody::default())
        }
        Err(e) => Err(ServerError::BadRequest(format!(
            "the request body is not valid: {e}"
        ))),
    }
}

fn need<'a>(v: &'a Option<String>, what: &str) -> Result<&'a str> {
    v.as_deref()
        .ok_or_else(|| ServerError::BadRequest(format!("{what} is required")))
}

fn customer_of(relay: &mut ServerRelay, o: &Order) -> Result<Customer> {
    Ok(relay.load(o.customer)?.view::<Customer>()?)
}

/// The order's customer and what its orders contribute to its credit
/// exposure, as the relay holds them (the figures its checks use).
pub(crate) fn credit_of(relay: &mut ServerRelay, o: &Order) -> Result<(Customer, Vec<OpenOrder>)> {
    let customer = customer_of(relay, o)?;
    let orders = relay.store().orders_of(customer.id())?;
    Ok((customer, orders))
}

#[utoipa::path(post, path = "/v1/orders/{id}/{action}", tag = "orders", security(("bearer" = [])), params(("id" = String, Path, description = "the document id"), ("action" = String, Path, description = "approve, reject, confirm, start-production, production, in-stock, ship, deliver, payments, settle, archive, cancel, details, split (lines: the ids to split off, into an order numbered HQ-<day>-<n>), merge (from: the order merged into this one)")), request_body = ActionBody, responses((status = 200, description = "the order after the step", body = OrderSummary), (status = 400, description = "malformed or breaks a rule", body = crate::openapi::ErrorBody), (status = 401, description = "no or unknown token", body = crate::openapi::ErrorBody), (status = 403, description = "not this role's step", body = crate::openapi::ErrorBody), (status = 409, description = "not possible in the order's status, or over credit", body = crate::openapi::ErrorBody)))]
pub(crate) async fn order_action(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    UrlPath((id, action)): UrlPath<(String, String)>,
    body: std::result::Result<Json<ActionBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<OrderSummary>> {
    let b = json_body(body)?;
    let token = bearer(&headers)?;
    blocking(&state, move |s| {
        let mut relay = s.relay();
        let actor = accounts::authenticate_user(relay.store().connection(), &token)?;
        let id = order_id(relay.store().connection(), &id)?;
        run_order_action(s, &mut relay, &actor, id, &action, &b).map(Json)
    })
    .await
}

/// Takes step `action` on order `id` as `actor`, with what `b` gives,
/// through the relay's checks; answers the order as it is after. The one
/// path for the JSON API and the console.
pub(crate) fn run_order_action(
    s: &AppState,
    relay: &mut ServerRelay,
    actor: &Actor,
    id: DocId,
    action: &str,
    b: &ActionBody,
) -> Result<OrderSummary> {
    if matches!(action, "split" | "merge") {
        return split_or_merge(s, relay, actor, id, action, b);
    }
    let ctx = ChangeCtx::now(actor.clone());
    let mut o = OrderDoc::from_document(load_visible(relay, actor, id)?)?;
    order_step(relay, &ctx, &mut o, action, b)?;
    relay.commit_edit(actor, o.document())?;
    s.metrics.office_action();
    tracing::info!(user = actor.user(), document = %id, action, "head-office action");
    Ok(OrderSummary::from(&o.read()?))
}

/// Applies step `action` to `o` (not committed).
fn order_step(
    relay: &mut ServerRelay,
    ctx: &ChangeCtx,
    o: &mut OrderDoc,
    action: &str,
    b: &ActionBody,
) -> Result<()> {
    let current = o.read()?;
    let over = b
        .credit_override_reason
        .as_deref()
        .filter(|r| !r.trim().is_empty());
    match action {
        "approve" => {
            let (customer, orders) = credit_of(relay, &current)?;
            o.approve(ctx, (&customer, &orders[..]), over)?
        }
        "reject" => o.reject(ctx, need(&b.reason, "reason")?)?,
        "confirm" => o.confirm(ctx)?,
        "start-production" => o.start_production(ctx, b.expected_finish)?,
        "production" => o.update_production(
            ctx,
            ProductionInfo {
                expected_finish: b.expected_finish,
                note: b.note.clone().unwrap_or_default(),
            },
        )?,
        "in-stock" => o.mark_in_stock(ctx)?,
        "ship" => {
            let (customer, orders) = credit_of(relay, &current)?;
            o.ship(
                ctx,
                (&customer, &orders[..]),
                Shipment {
                    carrier: b.carrier.clone().unwrap_or_default(),
                    tracking: b.tracking.clone().unwrap_or_default(),
                    notice: String::new(),
                },
                over,
            )?
        }
        "deliver" => o.mark_delivered(ctx)?,
        "payments" => {
            let amount = money::parse_amount("payment amount", need(&b.amount, "amount")?)?;
            o.record_payment(ctx, amount, b.reference.as_deref().unwrap_or(""))?;
        }
        "settle" => o.settle(ctx)?,
        "archive" => o.archive(ctx)?,
        "cancel" => o.cancel(ctx, need(&b.reason, "reason")?)?,
        "details" => {
            let details = b.details.as_ref().ok_or_else(|| {
                ServerError::BadRequest(
                    "details is required, e.g. {\"details\": {\"evidence\": \"signed order form\", \"customer_reference\": \"PO-7731\"}}".into(),
                )
            })?;
            o.set_details(ctx, details.apply_to(&current)?)?
        }
        other => {
            return Err(ServerError::NotFound(format!(
                "unknown order action {other}; use approve, reject, confirm, start-production, production, in-stock, ship, deliver, payments, settle, archive, cancel, details, split or merge"
            )));
        }
    }
    Ok(())
}

/// Splits lines off order `id` into a new order numbered by head office
/// (`{"lines": [line ids]}`), or merges order `from` into it
/// (`{"from": "<order id>"}`): both orders committed together or neither.
/// Answers with the new order (split) or the merged one (merge).
fn split_or_merge(
    s: &AppState,
    relay: &mut ServerRelay,
    actor: &Actor,
    id: DocId,
    action: &str,
    b: &ActionBody,
) -> Result<OrderSummary> {
    let ctx = ChangeCtx::now(actor.clone());
    let mut order = OrderDoc::from_document(load_visible(relay, actor, id)?)?;
    let mut answer = if action == "split" {
        let lines = b.lines.as_ref().filter(|l| !l.is_empty()).ok_or_else(|| {
            ServerError::BadRequest(
                "lines is required: the ids of the lines to split off, e.g. {\"lines\": [\"<line id>\"]}".into(),
            )
        })?;
        let day = s.schedule.local_date(ctx.at);
        let number = accounts::next_office_order_number(relay.store().connection(), day)?;
        order.split(&ctx, lines, number)?
    } else {
        let from = order_id(
            relay.store().connection(),
            need(&b.from, "from (the order to merge into this one)")?,
        )?;
        let mut other = OrderDoc::from_document(load_visible(relay, actor, from)?)?;
        order.merge_from(&ctx, &mut other)?;
        let merged = OrderDoc::from_document(order.document().fork())?;
        order = other;
        merged
    };
    relay.commit_edits(
        actor,
        &mut [order.document().fork(), answer.document().fork()],
    )?;
    s.metrics.office_action();
    tracing::info!(user = actor.user(), document = %id, action, "head-office action");
    Ok(OrderSummary::from(&answer.read()?))
}

#[utoipa::path(post, path = "/v1/customers/{id}/{action}", tag = "customers", security(("bearer" = [])), params(("id" = String, Path, description = "the document id"), ("action" = String, Path, description = "credit, receivables, grade, activate, reassign (owner: the salesperson the customer and its orders, visits and complaints go to; admin)")), request_body = ActionBody, responses((status = 200, description = "the customer with its credit exposure"), (status = 400, description = "malformed or breaks a rule", body = crate::openapi::ErrorBody), (status = 401, description = "no or unknown token", body = crate::openapi::ErrorBody), (status = 403, description = "not this role's change", body = crate::openapi::ErrorBody)))]
pub(crate) async fn customer_action(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    UrlPath((id, action)): UrlPath<(String, String)>,
    body: std::result::Result<Json<ActionBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<serde_json::Value>> {
    let b = json_body(body)?;
    let token = bearer(&headers)?;
    let id = parse_id(&id)?;
    blocking(&state, move |s| {
        let mut relay = s.relay();
        let actor = accounts::authenticate_user(relay.store().connection(), &token)?;
        run_customer_action(s, &mut relay, &actor, id, &action, &b).map(Json)
    })
    .await
}

/// Makes change `action` to customer `id` as `actor`, with what `b` gives,
/// through the relay's checks; answers the customer with its credit
/// exposure (for `reassign`: what moved). The one path for the JSON API
/// and the console.
pub(crate) fn run_customer_action(
    s: &AppState,
    relay: &mut ServerRelay,
    actor: &Actor,
    id: DocId,
    action: &str,
    b: &ActionBody,
) -> Result<serde_json::Value> {
    if action == "reassign" {
        load_visible(relay, actor, id)?;
        let owner = need(&b.owner, "owner (the salesperson the customer goes to)")?;
        let moved = crate::reassign::reassign_customer(relay, actor, id, owner)?;
        s.metrics.office_action();
        tracing::info!(user = actor.user(), document = %id, owner, moved, "customer reassigned");
        return Ok(
            serde_json::json!({"customer": id.to_string(), "owner": owner, "documents_moved": moved}),
        );
    }
    let ctx = ChangeCtx::now(actor.clone());
    let ctx = &ctx;
    let mut c = CustomerDoc::from_document(load_visible(relay, actor, id)?)?;
    match action {
        "credit" => {
            let terms = match need(&b.payment_terms, "payment_terms")? {
                "cash" => PaymentTerms::Cash,
                "credit" => PaymentTerms::Credit,
                other => {
                    return Err(ServerError::BadRequest(format!(
                        "payment_terms must be cash or credit, not {other}"
                    )));
                }
            };
            let limit = money::parse_amount("credit limit", need(&b.amount, "amount")?)?;
            c.set_credit(ctx, terms, b.credit_days.unwrap_or(30), limit)?;
        }
        "receivables" => {
            let r = money::parse_amount("receivables", need(&b.amount, "amount")?)?;
            c.set_receivables(ctx, r)?;
        }
        "grade" => {
            let g = match need(&b.grade, "grade")? {
                "A" => Grade::A,
                "B" => Grade::B,
                "C" => Grade::C,
                other => {
                    return Err(ServerError::BadRequest(format!(
                        "grade must be A, B or C, not {other}"
                    )));
                }
            };
            c.set_grade(ctx, g)?;
        }
        "activate" => c.activate(ctx)?,
        other => {
            return Err(ServerError::NotFound(format!(
                "unknown customer action {other}; use credit, receivables, grade, activate or reassign"
            )));
        }
    }
    relay.commit_edit(actor, c.document())?;
    s.metrics.office_action();
    tracing::info!(user = actor.user(), document = %id, action, "head-office action");
    let v = c.read()?;
    let orders = relay.store().orders_of(v.id())?;
    let exposure = fieldsync_core::CreditExposure::new(&v, &orders, None);
    Ok(serde_json::json!({
        "id": v.id().to_string(), "name": v.name, "grade": format!("{:?}", v.grade),
        "credit_limit": v.credit_limit.to_string(), "receivables": v.receivables.to_string(),
        "credit_exposure": money::cents(exposure.total()).to_string(),
        "credit_headroom": money::cents(exposure.headroom()).to_string(),
    }))
}

#[utoipa::path(post, path = "/v1/complaints/{id}/resolve", tag = "complaints", security(("bearer" = [])), params(("id" = String, Path, description = "the document id")), request_body = ActionBody, responses((status = 200, description = "resolved"), (status = 400, description = "malformed or breaks a rule", body = crate::openapi::ErrorBody), (status = 401, description = "no or unknown token", body = crate::openapi::ErrorBody)))]
pub(crate) async fn resolve_complaint(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    UrlPath(id): UrlPath<String>,
    body: std::result::Result<Json<ActionBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<serde_json::Value>> {
    let b = json_body(body)?;
    act(
        &state,
        &headers,
        &id,
        "resolve".into(),
        move |_, ctx, c: &mut ComplaintDoc| {
            c.resolve(ctx, need(&b.resolution, "resolution")?)?;
            let v = c.read()?;
            Ok(Json(
                serde_json::json!({ "id": v.id().to_string(), "status": v.status().in_words() }),
            ))
        },
    )
    .await
}
