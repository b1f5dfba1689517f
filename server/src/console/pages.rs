//! The console's pages, one per role's work, and the forms they post.
//! Reads come from the head-office tables (reader connections) and the
//! relay's documents; every action goes through `office::run_order_action`
//! or `office::run_customer_action`, the same functions the JSON API runs.

use std::collections::BTreeMap;
use std::sync::Arc;

use askama::Template;
use axum::extract::{Path as UrlPath, Query, RawForm, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use fieldsync_core::{CreditCheckpoint, CreditExposure, DocId, Order, OrderStatus, Role, money};

use super::i18n::Texts;
use super::session::{Chrome, Visitor, render, same_origin};
use crate::accounts;
use crate::app::{AppState, blocking};
use crate::error::{Result, ServerError};
use crate::office::{self, ActionBody};

/// A table: caption, column heads, rows (a row's first cell may link).
pub struct Grid {
    pub caption: String,
    pub heads: Vec<&'static str>,
    pub rows: Vec<GridRow>,
}

/// One row of a [`Grid`].
pub struct GridRow {
    pub link: Option<String>,
    pub cells: Vec<String>,
}

/// An input of an action's form.
pub struct Input {
    pub name: &'static str,
    pub label: &'static str,
    /// `text`, `date`, `select`, `checkbox`.
    pub kind: &'static str,
    pub required: bool,
    /// For `select`: (value, label); for `checkbox`: one per box.
    pub options: Vec<(String, String)>,
    pub value: String,
}

impl Input {
    fn text(name: &'static str, label: &'static str, required: bool) -> Input {
        Input {
            name,
            label,
            kind: "text",
            required,
            options: Vec::new(),
            value: String::new(),
        }
    }
}

/// A form posting one action.
pub struct ActionForm {
    pub url: String,
    pub label: &'static str,
    pub inputs: Vec<Input>,
    /// Where to go once done.
    pub back: String,
    /// A dangerous or final step (drawn as such).
    pub warn: bool,
}

/// An order in a queue, with the forms for its next steps.
pub struct QueueRow {
    pub id: String,
    pub number: String,
    pub cells: Vec<String>,
    /// Why it is held, or what changed since its approval.
    pub note: Option<String>,
    pub forms: Vec<ActionForm>,
}

/// A section of a queue page.
pub struct Queue {
    pub title: String,
    pub heads: Vec<&'static str>,
    pub rows: Vec<QueueRow>,
}

impl Queue {
    /// A queue of `rows` titled with `label` and how many there are.
    fn of(label: &str, heads: &[&'static str], rows: Vec<QueueRow>) -> Queue {
        Queue {
            title: format!("{label} ({})", rows.len()),
            heads: heads.to_vec(),
            rows,
        }
    }
}

/// No line under a queue row.
fn no_note(
    _: &mut crate::app::ServerRelay,
    _: &mut fieldsync_core::Document,
    _: &Order,
) -> Result<Option<String>> {
    Ok(None)
}

/// The line under a queue row of an order held at shipping: "held: why".
fn held_note(t: &Texts, relay: &mut crate::app::ServerRelay, o: &Order) -> Result<Option<String>> {
    Ok(held_reason(relay, o)?.map(|r| format!("{}: {r}", t.held)))
}

/// A chart drawn by `console.js` from its data (Chart.js).
pub struct Chart {
    pub id: &'static str,
    pub title: String,
    /// JSON: {"type", "labels", "datasets": [{"label", "data"}]}.
    pub data: String,
}

#[derive(Template)]
#[template(path = "console/queues.html")]
struct QueuesPage {
    chrome: Chrome,
    heading: String,
    queues: Vec<Queue>,
    grids: Vec<Grid>,
    charts: Vec<Chart>,
    forms: Vec<ActionForm>,
    refresh: bool,
}

#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage {
    chrome: Chrome,
    message: String,
    back: String,
}

fn error_page(v: &Visitor, e: &ServerError, back: &str) -> Response {
    let mut r = render(&ErrorPage {
        chrome: v.chrome(""),
        message: e.to_string(),
        back: back.to_string(),
    });
    *r.status_mut() = e.status();
    r
}

/// The time of a stored instant (RFC 3339), in the company's zone, to the
/// minute.
fn local(s: &AppState, at: &str) -> String {
    DateTime::parse_from_rfc3339(at)
        .map(|t| local_time(s, t.with_timezone(&Utc)))
        .unwrap_or_else(|_| at.to_string())
}

/// An instant in the company's zone, to the minute.
fn local_time(s: &AppState, at: DateTime<Utc>) -> String {
    s.schedule
        .zone()
        .local_time(at)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

fn text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The orders of `status` (and more filters) the visitor may see.
fn orders_in(
    s: &AppState,
    v: &Visitor,
    filters: &[(&str, &str)],
) -> Result<Vec<serde_json::Value>> {
    let conn = s.reader()?;
    let mut p = params(filters);
    p.insert("limit".into(), "200".into());
    p.entry("sort".into())
        .or_insert_with(|| "created_at".into());
    Ok(crate::lists::page(&conn, &v.actor, "orders", &s.schedule, &p)?.items)
}

fn form(
    id: &str,
    action: &str,
    label: &'static str,
    inputs: Vec<Input>,
    back: &str,
    warn: bool,
) -> ActionForm {
    ActionForm {
        url: format!("/orders/{id}/act/{action}"),
        label,
        inputs,
        back: back.to_string(),
        warn,
    }
}

/// The forms of the steps `role` takes on an order in `status`.
fn order_forms(t: &Texts, role: Role, o: &Order, back: &str) -> Vec<ActionForm> {
    let id = o.id().to_string();
    let status = o.status();
    let before_shipping = status.is_before_shipping() && !status.is_closed();
    let mut forms = Vec::new();
    let reason = || Input::text("reason", t.reason, true);
    match role {
        Role::Manager => {
            if matches!(
                status,
                OrderStatus::Submitted | OrderStatus::ChangedAfterApproval
            ) {
                forms.push(form(&id, "approve", t.approve, vec![], back, false));
                forms.push(form(
                    &id,
                    "approve",
                    t.approve_override,
                    vec![Input::text(
                        "credit_override_reason",
                        t.override_reason,
                        true,
                    )],
                    back,
                    true,
                ));
                forms.push(form(&id, "reject", t.reject, vec![reason()], back, true));
            }
            if before_shipping {
                forms.push(form(&id, "cancel", t.cancel, vec![reason()], back, true));
            }
        }
        Role::OrderDesk => {
            if status == OrderStatus::Approved {
                forms.push(form(&id, "confirm", t.confirm, vec![], back, false));
            }
            if status == OrderStatus::Shipped {
                forms.push(form(&id, "deliver", t.deliver, vec![], back, false));
            }
            if before_shipping {
                let lines = o
                    .lines
                    .iter()
                    .map(|(lid, l)| {
                        (
                            lid.clone(),
                            format!("{} {} × {}", l.product, l.variant, l.quantity),
                        )
                    })
                    .collect();
                forms.push(form(
                    &id,
                    "split",
                    t.split,
                    vec![Input {
                        name: "lines",
                        label: t.lines,
                        kind: "checkbox",
                        required: false,
                        options: lines,
                        value: String::new(),
                    }],
                    back,
                    false,
                ));
                forms.push(form(
                    &id,
                    "merge",
                    t.merge_from,
                    vec![Input::text("from", t.number, true)],
                    back,
                    false,
                ));
                forms.push(form(&id, "cancel", t.cancel, vec![reason()], back, true));
            }
            if matches!(status, OrderStatus::Settled | OrderStatus::Cancelled) {
                forms.push(form(&id, "archive", t.archive, vec![], back, false));
            }
        }
        Role::Production => {
            if status == OrderStatus::Confirmed {
                let mut finish = Input::text("expected_finish", t.expected_finish, false);
                finish.kind = "date";
                forms.push(form(
                    &id,
                    "start-production",
                    t.start_production,
                    vec![finish],
                    back,
                    false,
                ));
            }
        }
        Role::Warehouse => {
            if status == OrderStatus::InProduction {
                forms.push(form(&id, "in-stock", t.in_stock, vec![], back, false));
            }
            if status == OrderStatus::InStock {
                forms.push(form(
                    &id,
                    "ship",
                    t.ship,
                    vec![
                        Input::text("carrier", t.carrier, false),
                        Input::text("tracking", t.tracking, false),
                        // Only for a held shipment: why it may ship all the same.
                        Input::text("credit_override_reason", t.override_reason, false),
                    ],
                    back,
                    false,
                ));
            }
            if status == OrderStatus::Shipped {
                forms.push(form(&id, "deliver", t.deliver, vec![], back, false));
            }
        }
        Role::Finance => {
            if !status.is_closed() && o.outstanding() > rust_decimal::Decimal::ZERO {
                let mut amount = Input::text("amount", t.amount, true);
                amount.value = money::cents(o.outstanding()).to_string();
                forms.push(form(
                    &id,
                    "payments",
                    t.record_payment,
                    vec![amount, Input::text("reference", t.reference, false)],
                    back,
                    false,
                ));
            }
            if status == OrderStatus::Delivered && o.outstanding().is_zero() {
                forms.push(form(&id, "settle", t.settle, vec![], back, false));
            }
            if matches!(status, OrderStatus::Settled | OrderStatus::Cancelled) {
                forms.push(form(&id, "archive", t.archive, vec![], back, false));
            }
        }
        Role::Admin => {
            if matches!(status, OrderStatus::Settled | OrderStatus::Cancelled) {
                forms.push(form(&id, "archive", t.archive, vec![], back, false));
            }
        }
        Role::Salesperson => {}
    }
    forms
}

/// Why an order would be held at shipping (over credit, cash not paid),
/// by the relay's own figures; `None` if it may ship.
fn held_reason(relay: &mut crate::app::ServerRelay, o: &Order) -> Result<Option<String>> {
    let (customer, orders) = office::credit_of(relay, o)?;
    let exposure = CreditExposure::new(&customer, &orders, Some(o));
    Ok(exposure
        .check(&o.number, CreditCheckpoint::Shipping)
        .err()
        .map(|e| e.to_string()))
}

/// Each customer's credit exposure and headroom (by id) for the customers
/// of `orders` (list rows), from the relay's own figures.
fn credit_of_customers<'a>(
    s: &AppState,
    orders: impl Iterator<Item = &'a serde_json::Value>,
) -> Result<BTreeMap<String, (rust_decimal::Decimal, rust_decimal::Decimal)>> {
    use fieldsync_core::sync::RelayStore;
    let mut relay = s.relay();
    let mut out = BTreeMap::new();
    for o in orders {
        let id = text(&o["customer"]);
        if out.contains_key(&id) {
            continue;
        }
        let Ok(doc_id) = id.parse::<DocId>() else {
            continue;
        };
        let customer = relay.load(doc_id)?.view::<fieldsync_core::Customer>()?;
        let open = relay.store().orders_of(doc_id)?;
        let e = CreditExposure::new(&customer, &open, None);
        out.insert(id, (e.total(), e.headroom()));
    }
    Ok(out)
}

/// The fields changed since the order's last approval that took effect.
fn changed_since_approval(doc: &mut fieldsync_core::Document, o: &Order) -> String {
    let superseded = o.derived().superseded;
    let Some(approved_at) = o
        .events
        .iter()
        .rev()
        .find(|e| e.action.approves() && !superseded.contains(&e.id))
        .map(|e| e.at)
    else {
        return String::new();
    };
    let mut fields: Vec<String> = doc
        .history()
        .into_iter()
        .filter(|h| h.at > approved_at && !h.path.starts_with("events"))
        .map(|h| {
            format!(
                "{}: {} → {}",
                h.path,
                h.old.unwrap_or_else(|| "—".into()),
                h.value.unwrap_or_else(|| "—".into())
            )
        })
        .collect();
    fields.dedup();
    fields.join("; ")
}

/// Queue rows for `orders`, each with the forms for the visitor's steps;
/// `note` adds a line under a row.
fn queue_rows(
    s: &AppState,
    v: &Visitor,
    orders: &[serde_json::Value],
    cells: &impl Fn(&serde_json::Value) -> Vec<String>,
    mut note: impl FnMut(
        &mut crate::app::ServerRelay,
        &mut fieldsync_core::Document,
        &Order,
    ) -> Result<Option<String>>,
    back: &str,
) -> Result<Vec<QueueRow>> {
    let mut relay = s.relay();
    let mut rows = Vec::with_capacity(orders.len());
    for item in orders {
        let Ok(id) = text(&item["id"]).parse::<DocId>() else {
            continue;
        };
        let mut doc = relay.load(id)?;
        let o = doc.view::<Order>()?;
        rows.push(QueueRow {
            id: id.to_string(),
            number: o.number.clone(),
            cells: cells(item),
            note: note(&mut relay, &mut doc, &o)?,
            forms: order_forms(v.t(), v.actor.role(), &o, back),
        });
    }
    Ok(rows)
}

fn queues_page(
    v: &Visitor,
    current: &str,
    heading: &str,
    queues: Vec<Queue>,
    grids: Vec<Grid>,
    charts: Vec<Chart>,
    forms: Vec<ActionForm>,
) -> Response {
    render(&QueuesPage {
        chrome: v.chrome(current),
        heading: heading.to_string(),
        queues,
        grids,
        charts,
        forms,
        refresh: true,
    })
}

/// A report as a grid, its columns as the report names them.
fn report_grid(
    s: &AppState,
    v: &Visitor,
    name: &str,
    caption: &str,
) -> Result<(Grid, crate::reports::Table)> {
    let conn = s.reader()?;
    let table = crate::reports::run(
        &conn,
        &v.actor,
        name,
        &s.schedule,
        &crate::reports::Filter::default(),
    )?;
    let grid = Grid {
        caption: caption.to_string(),
        heads: table.columns.clone(),
        rows: table
            .rows
            .iter()
            .map(|r| GridRow {
                link: None,
                cells: r.clone(),
            })
            .collect(),
    };
    Ok((grid, table))
}

/// Runs `work` on the blocking pool; an error becomes the error page.
async fn page_or_error(
    state: &Arc<AppState>,
    v: Visitor,
    back: &'static str,
    work: impl FnOnce(&AppState, &Visitor) -> Result<Response> + Send + 'static,
) -> Response {
    let result = blocking(state, move |s| Ok((work(s, &v), v))).await;
    match result {
        Ok((Ok(page), _)) => page,
        Ok((Err(e), v)) => error_page(&v, &e, back),
        Err(e) => e.into_response(),
    }
}

pub async fn home(v: Visitor) -> Response {
    Redirect::to(v.home()).into_response()
}

/// The manager's approval queue: submitted orders and orders changed after
/// their approval (with what changed), each with its customer's credit
/// exposure and headroom; the region's visit KPIs and daily reports.
pub async fn approvals(State(state): State<Arc<AppState>>, v: Visitor) -> Response {
    page_or_error(&state, v, "/", |s, v| {
        let t = v.t();
        let submitted = orders_in(s, v, &[("status", "submitted")])?;
        let changed = orders_in(s, v, &[("changed_after_approval", "true")])?;
        // The credit of the customers in the queues only, by the relay's own
        // figures (what the approval will be checked against).
        let credit = credit_of_customers(s, submitted.iter().chain(&changed))?;
        let cells = |o: &serde_json::Value| {
            let (exposure, headroom) = credit
                .get(&text(&o["customer"]))
                .map(|(e, h)| (money::cents(*e).to_string(), money::cents(*h).to_string()))
                .unwrap_or_default();
            vec![
                text(&o["customer_name"]),
                text(&o["salesperson"]),
                text(&o["total"]),
                exposure,
                headroom,
                local(s, &text(&o["created_at"])),
            ]
        };
        let heads = vec![
            t.number,
            t.customer,
            t.salesperson,
            t.amount,
            t.exposure,
            t.headroom,
            t.created,
        ];
        let queues = vec![
            Queue::of(
                t.approvals,
                &heads,
                queue_rows(s, v, &submitted, &cells, no_note, "/approvals")?,
            ),
            Queue::of(
                t.changed_since_approval,
                &heads,
                queue_rows(
                    s,
                    v,
                    &changed,
                    &cells,
                    |_, doc, o| Ok(Some(changed_since_approval(doc, o))),
                    "/approvals",
                )?,
            ),
        ];
        // Visit KPIs against 120 a month and one third new, as charts.
        let (kpi_grid, kpis) = report_grid(s, v, "visit-kpis", t.visit_kpis)?;
        let col = |name: &str| kpis.columns.iter().position(|c| *c == name).unwrap_or(0);
        let labels: Vec<String> = kpis
            .rows
            .iter()
            .map(|r| format!("{} {}", r[col("salesperson")], r[col("month")]))
            .collect();
        let visits: Vec<f64> = kpis
            .rows
            .iter()
            .map(|r| r[col("visits")].parse().unwrap_or(0.0))
            .collect();
        let share: Vec<f64> = kpis
            .rows
            .iter()
            .map(|r| r[col("new_customer_share")].parse::<f64>().unwrap_or(0.0) * 100.0)
            .collect();
        let charts = vec![
            Chart {
                id: "visits",
                title: format!("{} ({} 120)", t.visits, t.target),
                data: serde_json::json!({"type": "bar", "labels": labels, "target": 120,
                    "datasets": [{"label": t.visits, "data": visits}]})
                .to_string(),
            },
            Chart {
                id: "new-share",
                title: format!("{} % ({} 33.3 %)", t.new_share, t.target),
                data: serde_json::json!({"type": "bar", "labels": labels, "target": 33.3,
                    "datasets": [{"label": t.new_share, "data": share}]})
                .to_string(),
            },
        ];
        let (reports, _) = report_grid(s, v, "daily-reports", t.daily_reports)?;
        Ok(queues_page(
            v,
            "/approvals",
            t.approvals,
            queues,
            vec![kpi_grid, reports],
            charts,
            vec![],
        ))
    })
    .await
}

#[derive(Template)]
#[template(path = "console/orders.html")]
struct OrdersPage {
    chrome: Chrome,
    filters: BTreeMap<String, String>,
    statuses: Vec<&'static str>,
    grid: Grid,
    next: Option<String>,
}

/// All orders the visitor may see, filtered and paged.
pub async fn orders(
    State(state): State<Arc<AppState>>,
    v: Visitor,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    page_or_error(&state, v, "/orders", move |s, v| {
        let t = v.t();
        let mut p: BTreeMap<String, String> = q
            .into_iter()
            .filter(|(_, val)| !val.trim().is_empty())
            .collect();
        let conn = s.reader()?;
        let page = crate::lists::page(&conn, &v.actor, "orders", &s.schedule, &p)?;
        let next = page.next_cursor.map(|c| {
            let mut n = p.clone();
            n.insert("cursor".into(), c);
            format!(
                "/orders?{}",
                n.iter()
                    .map(|(k, val)| format!("{k}={}", urlencode(val)))
                    .collect::<Vec<_>>()
                    .join("&")
            )
        });
        p.remove("cursor");
        let grid = Grid {
            caption: String::new(),
            heads: vec![
                t.number,
                t.customer,
                t.salesperson,
                t.region,
                t.status,
                t.total,
                t.paid,
                t.created,
            ],
            rows: page
                .items
                .iter()
                .map(|o| GridRow {
                    link: Some(format!("/orders/{}", text(&o["id"]))),
                    cells: vec![
                        text(&o["number"]),
                        text(&o["customer_name"]),
                        text(&o["salesperson"]),
                        text(&o["region"]),
                        v.lang.status(&text(&o["status"])),
                        text(&o["total"]),
                        text(&o["paid"]),
                        local(s, &text(&o["created_at"])),
                    ],
                })
                .collect(),
        };
        Ok(render(&OrdersPage {
            chrome: v.chrome("/orders"),
            filters: p,
            statuses: STATUSES.to_vec(),
            grid,
            next,
        }))
    })
    .await
}

const STATUSES: &[&str] = &[
    "draft",
    "submitted",
    "rejected",
    "approved",
    "confirmed",
    "in_production",
    "in_stock",
    "shipped",
    "delivered",
    "settled",
    "archived",
    "cancelled",
];

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "console/order.html")]
struct OrderView {
    chrome: Chrome,
    number: String,
    id: String,
    facts: Vec<(&'static str, String)>,
    lines: Grid,
    steps: Grid,
    history: Grid,
    payments: Grid,
    held: Option<String>,
    changed: String,
    forms: Vec<ActionForm>,
}

/// The order page: lines and totals, every step with who, device, when and
/// why, every field's history, and the visitor's next steps.
pub async fn order(
    State(state): State<Arc<AppState>>,
    v: Visitor,
    UrlPath(id): UrlPath<String>,
) -> Response {
    page_or_error(&state, v, "/orders", move |s, v| {
        let t = v.t();
        let mut relay = s.relay();
        let id = office::order_id(relay.store().connection(), &id)?;
        let mut doc = relay
            .load(id)
            .map_err(|_| ServerError::NotFound(format!("there is no order {id}")))?;
        if !fieldsync_core::may_see(&v.actor, doc.meta()) {
            return Err(ServerError::NotFound(format!("there is no order {id}")));
        }
        let o = doc.view::<Order>()?;
        let held = if o.status() == OrderStatus::InStock {
            held_reason(&mut relay, &o)?
        } else {
            None
        };
        let changed = if o.changed_after_approval() {
            changed_since_approval(&mut doc, &o)
        } else {
            String::new()
        };
        let superseded = o.derived().superseded;
        let back = format!("/orders/{id}");
        let facts = vec![
            (t.customer, o.customer_name.clone()),
            (t.salesperson, o.meta.owner.clone()),
            (t.region, o.meta.region.clone().unwrap_or_default()),
            (t.status, v.lang.status(o.status().as_str())),
            (t.total, money::cents(o.total()).to_string()),
            (t.paid, money::cents(o.paid()).to_string()),
            (t.created, local_time(s, o.meta.created_at)),
            (
                t.delivery_date,
                o.delivery_date.map(|d| d.to_string()).unwrap_or_default(),
            ),
            (t.reference, o.customer_reference.clone()),
            (t.notes, o.notes.clone()),
        ];
        let lines = Grid {
            caption: t.lines.to_string(),
            heads: vec![
                t.product,
                t.variant,
                t.quantity,
                t.unit_price,
                t.discount,
                t.total,
            ],
            rows: o
                .lines
                .values()
                .map(|l| GridRow {
                    link: None,
                    cells: vec![
                        format!("{} {}", l.product, l.name),
                        l.variant.clone(),
                        l.quantity.normalize().to_string(),
                        money::cents(l.unit_price).to_string(),
                        l.discount_percent.normalize().to_string(),
                        money::cents(l.total()).to_string(),
                    ],
                })
                .collect(),
        };
        let steps = Grid {
            caption: t.steps.to_string(),
            heads: vec![
                t.step,
                t.who,
                t.role,
                t.device,
                t.when,
                t.why,
                t.took_effect,
            ],
            rows: o
                .events
                .iter()
                .map(|e| GridRow {
                    link: None,
                    cells: vec![
                        format!("{:?}: {} → {}", e.action, e.from.as_str(), e.to.as_str()),
                        e.user.clone(),
                        e.role.clone(),
                        e.device.clone(),
                        local_time(s, e.at),
                        e.reason.clone(),
                        if superseded.contains(&e.id) {
                            t.superseded
                        } else {
                            t.took_effect
                        }
                        .to_string(),
                    ],
                })
                .collect(),
        };
        let payments = Grid {
            caption: t.paid.to_string(),
            heads: vec![t.amount, t.when, t.reference, t.who],
            rows: o
                .payments
                .values()
                .map(|p| GridRow {
                    link: None,
                    cells: vec![
                        money::cents(p.amount).to_string(),
                        local_time(s, p.received_at),
                        p.reference.clone(),
                        p.recorded_by.clone(),
                    ],
                })
                .collect(),
        };
        let history = Grid {
            caption: t.field_history.to_string(),
            heads: vec![
                t.field,
                t.old_value,
                t.new_value,
                t.who,
                t.role,
                t.device,
                t.when,
            ],
            rows: doc
                .history()
                .into_iter()
                .map(|h| GridRow {
                    link: None,
                    cells: vec![
                        h.path,
                        h.old.unwrap_or_default(),
                        h.value.unwrap_or_default(),
                        h.actor
                            .as_ref()
                            .map(|a| a.user().to_string())
                            .unwrap_or_default(),
                        h.actor
                            .as_ref()
                            .map(|a| a.role().as_str().to_string())
                            .unwrap_or_default(),
                        h.actor
                            .as_ref()
                            .map(|a| a.device().to_string())
                            .unwrap_or_default(),
                        local_time(s, h.at),
                    ],
                })
                .collect(),
        };
        Ok(render(&OrderView {
            chrome: v.chrome("/orders"),
            number: o.number.clone(),
            id: id.to_string(),
            facts,
            lines,
            steps,
            history,
            payments,
            held,
            changed,
            forms: order_forms(t, v.actor.role(), &o, &back),
        }))
    })
    .await
}

#[derive(Template)]
#[template(path = "console/notice.html")]
struct NoticeView {
    chrome: Chrome,
    o: NoticeFacts,
    lines: Grid,
}

struct NoticeFacts {
    number: String,
    customer: String,
    reference: String,
    address: String,
    consignee: String,
    phone: String,
    carrier: String,
    tracking: String,
    notice: String,
}

/// The printable shipping notice of an order.
pub async fn notice(
    State(state): State<Arc<AppState>>,
    v: Visitor,
    UrlPath(id): UrlPath<String>,
) -> Response {
    page_or_error(&state, v, "/orders", move |s, v| {
        let t = v.t();
        let mut relay = s.relay();
        let id = office::order_id(relay.store().connection(), &id)?;
        let doc = relay.load(id)?;
        if !fieldsync_core::may_see(&v.actor, doc.meta()) {
            return Err(ServerError::NotFound(format!("there is no order {id}")));
        }
        let o = doc.view::<Order>()?;
        Ok(render(&NoticeView {
            chrome: v.chrome("/orders"),
            lines: Grid {
                caption: String::new(),
                heads: vec![t.product, t.variant, t.quantity],
                rows: o
                    .lines
                    .values()
                    .map(|l| GridRow {
                        link: None,
                        cells: vec![
                            format!("{} {}", l.product, l.name),
                            l.variant.clone(),
                            format!("{} {}", l.quantity.normalize(), l.unit),
                        ],
                    })
                    .collect(),
            },
            o: NoticeFacts {
                number: o.number.clone(),
                customer: o.customer_name.clone(),
                reference: o.customer_reference.clone(),
                address: o.delivery.address.clone(),
                consignee: o.delivery.consignee.clone(),
                phone: o.delivery.phone.clone(),
                carrier: o.shipment.carrier.clone(),
                tracking: o.shipment.tracking.clone(),
                notice: o.shipment.notice.clone(),
            },
        }))
    })
    .await
}

/// A posted form as the API's action body (repeated `lines` kept).
fn action_body(form: &[(String, String)]) -> Result<(ActionBody, String)> {
    let mut b = ActionBody::default();
    let mut back = String::new();
    let mut lines = Vec::new();
    for (k, val) in form {
        let v = || Some(val.clone()).filter(|x| !x.trim().is_empty());
        match k.as_str() {
            "reason" => b.reason = v(),
            "credit_override_reason" => b.credit_override_reason = v(),
            "carrier" => b.carrier = v(),
            "tracking" => b.tracking = v(),
            "amount" => b.amount = v(),
            "reference" => b.reference = v(),
            "from" => b.from = v(),
            "owner" => b.owner = v(),
            "payment_terms" => b.payment_terms = v(),
            "grade" => b.grade = v(),
            "note" => b.note = v(),
            "credit_days" => {
                b.credit_days = v()
                    .map(|d| {
                        d.trim().parse().map_err(|_| {
                            ServerError::BadRequest(format!(
                                "days to pay must be a whole number, not '{d}'"
                            ))
                        })
                    })
                    .transpose()?
            }
            "expected_finish" => {
                b.expected_finish = v()
                    .map(|d| {
                        d.parse().map_err(|_| {
                            ServerError::BadRequest(format!(
                                "the date must be like 2026-12-31, not '{d}'"
                            ))
                        })
                    })
                    .transpose()?
            }
            "lines" => lines.push(val.clone()),
            "back" => back = val.clone(),
            _ => {}
        }
    }
    if !lines.is_empty() {
        b.lines = Some(lines);
    }
    // Back only to one of the console's own pages.
    if !back.starts_with('/') || back.starts_with("//") {
        back = "/".into();
    }
    Ok((b, back))
}

fn parse_form(raw: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(raw).into_owned().collect()
}

/// `POST /orders/{id}/act/{action}`: a step on an order, then back to the
/// page it was taken on.
pub async fn order_act(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    v: Visitor,
    UrlPath((id, action)): UrlPath<(String, String)>,
    RawForm(raw): RawForm,
) -> Response {
    if let Err(e) = same_origin(&headers) {
        return error_page(&v, &e, "/");
    }
    let form = parse_form(&raw);
    let (body, back) = match action_body(&form) {
        Ok(x) => x,
        Err(e) => return error_page(&v, &e, &format!("/orders/{id}")),
    };
    let back_on_error = back.clone();
    let actor = v.actor.clone();
    let done = blocking(&state, move |s| {
        let mut relay = s.relay();
        let id = office::order_id(relay.store().connection(), &id)?;
        office::run_order_action(s, &mut relay, &actor, id, &action, &body)
    })
    .await;
    match done {
        // A split shows the new order; anything else goes back.
        Ok(summary) if back.ends_with("/split-result") => {
            Redirect::to(&format!("/orders/{}", summary.id())).into_response()
        }
        Ok(_) => Redirect::to(&back).into_response(),
        Err(e) => error_page(&v, &e, &back_on_error),
    }
}

/// `POST /customers/{id}/act/{action}`: a change to a customer (credit
/// terms), then back.
pub async fn customer_act(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    v: Visitor,
    UrlPath((id, action)): UrlPath<(String, String)>,
    RawForm(raw): RawForm,
) -> Response {
    if let Err(e) = same_origin(&headers) {
        return error_page(&v, &e, "/");
    }
    let (body, back) = match action_body(&parse_form(&raw)) {
        Ok(x) => x,
        Err(e) => return error_page(&v, &e, "/finance"),
    };
    let Ok(id) = id.parse::<DocId>() else {
        return error_page(
            &v,
            &ServerError::NotFound(format!("there is no customer {id}")),
            &back,
        );
    };
    let actor = v.actor.clone();
    let done = blocking(&state, move |s| {
        let mut relay = s.relay();
        office::run_customer_action(s, &mut relay, &actor, id, &action, &body)
    })
    .await;
    match done {
        Ok(_) => Redirect::to(&back).into_response(),
        Err(e) => error_page(&v, &e, &back),
    }
}

/// Production: orders confirmed and waiting to start, orders in
/// production, and the summary of what is ordered, in production, on hand
/// and reserved per product.
pub async fn production(State(state): State<Arc<AppState>>, v: Visitor) -> Response {
    page_or_error(&state, v, "/", |s, v| {
        let t = v.t();
        let cells = |o: &serde_json::Value| {
            vec![
                text(&o["customer_name"]),
                text(&o["total"]),
                text(&o["delivery_date"]),
            ]
        };
        let heads = vec![t.number, t.customer, t.total, t.delivery_date];
        let waiting = orders_in(s, v, &[("status", "confirmed")])?;
        let making = orders_in(s, v, &[("status", "in_production")])?;
        let queues = vec![
            Queue::of(
                t.production_queue,
                &heads,
                queue_rows(s, v, &waiting, &cells, no_note, "/production")?,
            ),
            Queue::of(
                t.in_production,
                &heads,
                queue_rows(s, v, &making, &cells, no_note, "/production")?,
            ),
        ];
        let (summary, _) = report_grid(s, v, "production", t.production_summary)?;
        Ok(queues_page(
            v,
            "/production",
            t.production,
            queues,
            vec![summary],
            vec![],
            vec![],
        ))
    })
    .await
}

fn stock_form(t: &Texts, role: Role) -> ActionForm {
    let mut inputs = vec![Input::text("code", t.code, true)];
    match role {
        Role::Production => inputs.push(Input::text("in_production", t.in_production, false)),
        _ => {
            inputs.push(Input::text("on_hand", t.on_hand, false));
            inputs.push(Input::text("reserved", t.reserved, false));
        }
    }
    ActionForm {
        url: "/warehouse/stock".into(),
        label: t.publish_stock,
        inputs,
        back: "/warehouse".into(),
        warn: false,
    }
}

/// The warehouse: what is ready to ship (with why it is held, where it
/// is), what production is finishing, and publishing stock.
pub async fn warehouse(State(state): State<Arc<AppState>>, v: Visitor) -> Response {
    page_or_error(&state, v, "/", |s, v| {
        let t = v.t();
        let cells = |o: &serde_json::Value| {
            vec![
                text(&o["customer_name"]),
                text(&o["total"]),
                text(&o["paid"]),
                text(&o["delivery_date"]),
            ]
        };
        let heads = vec![t.number, t.customer, t.total, t.paid, t.delivery_date];
        let ready = orders_in(s, v, &[("status", "in_stock")])?;
        let making = orders_in(s, v, &[("status", "in_production")])?;
        let shipped = orders_in(s, v, &[("status", "shipped")])?;
        let held = |relay: &mut crate::app::ServerRelay,
                    _: &mut fieldsync_core::Document,
                    o: &Order| { held_note(t, relay, o) };
        let queues = vec![
            Queue::of(
                t.ready_to_ship,
                &heads,
                queue_rows(s, v, &ready, &cells, held, "/warehouse")?,
            ),
            Queue::of(
                t.in_production,
                &heads,
                queue_rows(s, v, &making, &cells, no_note, "/warehouse")?,
            ),
            Queue::of(
                t.shipped,
                &heads,
                queue_rows(s, v, &shipped, &cells, no_note, "/warehouse")?,
            ),
        ];
        let (summary, _) = report_grid(s, v, "production", t.production_summary)?;
        Ok(queues_page(
            v,
            "/warehouse",
            t.warehouse,
            queues,
            vec![summary],
            vec![],
            vec![stock_form(t, v.actor.role())],
        ))
    })
    .await
}

/// `POST /warehouse/stock`: one product's stock figures, as the stock API.
pub async fn publish_stock(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    v: Visitor,
    RawForm(raw): RawForm,
) -> Response {
    if let Err(e) = same_origin(&headers) {
        return error_page(&v, &e, "/");
    }
    let form: BTreeMap<String, String> = parse_form(&raw)
        .into_iter()
        .filter(|(_, val)| !val.trim().is_empty())
        .collect();
    let actor = v.actor.clone();
    let done = blocking(&state, move |s| {
        let field = |k: &str| form.get(k).map(String::as_str);
        let figures = fieldsync_core::StockFigures::from_text(
            field("code").unwrap_or_default(),
            field("on_hand"),
            field("in_production"),
            field("reserved"),
        )?;
        let mut relay = s.relay();
        office::publish_stock_as(s, &mut relay, &actor, vec![figures])
    })
    .await;
    match done {
        Ok(()) => Redirect::to("/warehouse").into_response(),
        Err(e) => error_page(&v, &e, "/warehouse"),
    }
}

/// Finance: receivables and headroom per customer (and their credit
/// terms to change), aged receivables, orders held for credit, and
/// orders to record payments for and settle.
pub async fn finance(State(state): State<Arc<AppState>>, v: Visitor) -> Response {
    page_or_error(&state, v, "/", |s, v| {
        let t = v.t();
        let (receivables, _) = report_grid(s, v, "receivables", t.receivables)?;
        let (aged, _) = report_grid(s, v, "receivables-aged", t.aged)?;
        let cells = |o: &serde_json::Value| {
            vec![
                text(&o["customer_name"]),
                text(&o["status"]),
                text(&o["total"]),
                text(&o["paid"]),
            ]
        };
        let heads = vec![t.number, t.customer, t.status, t.total, t.paid];
        let ready = orders_in(s, v, &[("status", "in_stock")])?;
        let mut holds = queue_rows(
            s,
            v,
            &ready,
            &cells,
            |relay, _, o| held_note(t, relay, o),
            "/finance",
        )?;
        holds.retain(|r| r.note.is_some());
        let mut owed = orders_in(s, v, &[("status", "shipped")])?;
        owed.extend(orders_in(s, v, &[("status", "delivered")])?);
        let queues = vec![
            Queue::of(t.credit_holds, &heads, holds),
            Queue::of(
                t.to_settle,
                &heads,
                queue_rows(s, v, &owed, &cells, no_note, "/finance")?,
            ),
        ];
        // Credit terms, one form per customer.
        let conn = s.reader()?;
        let customers = crate::lists::page(
            &conn,
            &v.actor,
            "customers",
            &s.schedule,
            &params(&[("limit", "500")]),
        )?;
        let forms = customers
            .items
            .iter()
            .map(|c| {
                let terms = text(&c["payment_terms"]);
                let mut select = Input {
                    name: "payment_terms",
                    label: t.payment_terms,
                    kind: "select",
                    required: true,
                    options: vec![
                        ("credit".into(), "credit".into()),
                        ("cash".into(), "cash".into()),
                    ],
                    value: terms,
                };
                if select.value.is_empty() {
                    select.value = "credit".into();
                }
                let mut days = Input::text("credit_days", t.credit_days, true);
                days.value = text(&c["credit_days"]);
                let mut limit = Input::text("amount", t.credit_limit, true);
                limit.value = text(&c["credit_limit"]);
                ActionForm {
                    url: format!("/customers/{}/act/credit", text(&c["id"])),
                    label: t.save,
                    inputs: vec![select, days, limit],
                    back: "/finance".into(),
                    warn: false,
                }
                .titled(format!("{} · {}", t.credit_terms, text(&c["name"])))
            })
            .collect();
        Ok(queues_page(
            v,
            "/finance",
            t.finance,
            queues,
            vec![receivables, aged],
            vec![],
            forms,
        ))
    })
    .await
}

impl ActionForm {
    /// The form with a heading naming what it changes (drawn as its legend).
    fn titled(mut self, title: String) -> ActionForm {
        self.inputs.insert(
            0,
            Input {
                name: "",
                label: "",
                kind: "legend",
                required: false,
                options: Vec::new(),
                value: title,
            },
        );
        self
    }
}

#[derive(Template)]
#[template(path = "console/admin.html")]
struct AdminPage {
    chrome: Chrome,
    users: Grid,
    regions: String,
    devices: Vec<DeviceRow>,
    user_ids: Vec<String>,
    code: Option<IssuedCode>,
}

struct DeviceRow {
    id: String,
    cells: Vec<String>,
    revoked: bool,
}

struct IssuedCode {
    user: String,
    code: String,
    until: String,
    qr_svg: String,
}

fn admin_page(s: &AppState, v: &Visitor, code: Option<IssuedCode>) -> Result<Response> {
    let t = v.t();
    let conn = s.reader()?;
    let users = accounts::users(&conn)?;
    let devices = crate::lists::page(
        &conn,
        &v.actor,
        "devices",
        &s.schedule,
        &params(&[("limit", "500")]),
    )?;
    Ok(render(&AdminPage {
        chrome: v.chrome("/admin"),
        users: Grid {
            caption: t.users.to_string(),
            heads: vec![t.user_id, t.name, t.role, t.region],
            rows: users
                .iter()
                .map(|u| GridRow {
                    link: None,
                    cells: vec![
                        u.id.clone(),
                        u.name.clone(),
                        u.role.clone(),
                        u.region.clone().unwrap_or_default(),
                    ],
                })
                .collect(),
        },
        regions: accounts::regions(&conn)?.join(", "),
        devices: devices
            .items
            .iter()
            .map(|d| DeviceRow {
                id: text(&d["id"]),
                revoked: !d["revoked_at"].is_null(),
                cells: vec![
                    text(&d["id"]),
                    text(&d["user"]),
                    text(&d["order_prefix"]),
                    local(s, &text(&d["enrolled_at"])),
                    d["last_sync_at"]
                        .as_str()
                        .map(|x| local(s, x))
                        .unwrap_or_default(),
                    text(&d["refusals_last_7_days"]),
                ],
            })
            .collect(),
        user_ids: users
            .iter()
            .filter(|u| u.role == Role::Salesperson.as_str() || u.role == Role::Manager.as_str())
            .map(|u| u.id.clone())
            .collect(),
        code,
    }))
}

/// Admin: users, regions, devices (last sync, recent refusals; revoke),
/// and enrollment codes (with a QR code for the phone to scan).
pub async fn admin(State(state): State<Arc<AppState>>, v: Visitor) -> Response {
    page_or_error(&state, v, "/", |s, v| {
        if v.actor.role() != Role::Admin {
            return Err(ServerError::Forbidden(
                "the admin page is for administrators".into(),
            ));
        }
        admin_page(s, v, None)
    })
    .await
}

/// `POST /admin/enrollment-codes`: a one-time code for a user's phone.
pub async fn issue_code(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    v: Visitor,
    RawForm(raw): RawForm,
) -> Response {
    if let Err(e) = same_origin(&headers) {
        return error_page(&v, &e, "/admin");
    }
    let user = parse_form(&raw)
        .into_iter()
        .find(|(k, _)| k == "user")
        .map(|(_, val)| val)
        .unwrap_or_default();
    page_or_error(&state, v, "/admin", move |s, v| {
        if v.actor.role() != Role::Admin {
            return Err(ServerError::Forbidden("only an administrator issues enrollment codes".into()));
        }
        let (code, until) = {
            let mut relay = s.relay();
            accounts::issue_code(relay.store().connection(), &user, chrono::Duration::hours(24))?
        };
        let qr_svg = qrcode::QrCode::new(code.as_bytes())
            .map(|q| {
                q.render::<qrcode::render::svg::Color<'_>>()
                    .min_dimensions(180, 180)
                    .build()
            })
            .unwrap_or_default();
        tracing::info!(admin = v.actor.user(), user = %user, "enrollment code issued in the console");
        let mut r = admin_page(
            s,
            v,
            Some(IssuedCode {
                user: user.clone(),
                code,
                until: local_time(s, until),
                qr_svg,
            }),
        )?;
        *r.status_mut() = StatusCode::OK;
        Ok(r)
    })
    .await
}

/// `POST /admin/devices/{id}/revoke`.
pub async fn revoke_device(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    v: Visitor,
    UrlPath(device): UrlPath<String>,
) -> Response {
    if let Err(e) = same_origin(&headers) {
        return error_page(&v, &e, "/admin");
    }
    let actor = v.actor.clone();
    let done = blocking(&state, move |s| {
        if actor.role() != Role::Admin {
            return Err(ServerError::Forbidden(
                "only an administrator revokes devices".into(),
            ));
        }
        let mut relay = s.relay();
        accounts::revoke_device(relay.store().connection(), &device)?;
        tracing::info!(admin = actor.user(), device = %device, "device revoked in the console");
        Ok(())
    })
    .await;
    match done {
        Ok(()) => Redirect::to("/admin").into_response(),
        Err(e) => error_page(&v, &e, "/admin"),
    }
}
