//! `admin import-orders`: a company's past orders, so reports over the past
//! are right from the first day.
//!
//! One row per order line; the rows of one order share its `number` and
//! repeat its header (customer, dates, status). Each order is replayed as
//! it happened: created and handed in on its order date by the salesperson
//! who took it, approved by a manager of its region, shipped by the
//! warehouse, paid and settled by finance, each step on its own date and
//! through the same rules as a phone's or head office's step. The dates
//! are business dates in the company's time zone (steps are stamped 10:00
//! local), from [`EARLIEST_YEAR`] to today, and in the order the steps
//! happen.
//!
//! The order number is kept when it is already one of ours
//! (`S07-20251122-003`); a number of digits from the previous system
//! (`10248`) becomes `HIST-<order date>-10248`. The old number is kept as the
//! order's written evidence. An order whose number is there already is left
//! as it is, so importing a file twice changes nothing.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use fieldsync_core::rules::limits::EARLIEST_YEAR;
use fieldsync_core::{
    Actor, ChangeCtx, Channel, Customer, CustomerDoc, Document, NewLine, NewOrder, OFFICE_DEVICE,
    OrderDetails, OrderDoc, OrderNumber, OrderPrefix, OrderStatus, Role, Shipment, money,
};
use rust_decimal::Decimal;

use super::{Imported, catalog_id, csv_rows, parse_rows, report_rows};
use crate::accounts;
use crate::app::AppState;
use crate::error::{Result, ServerError};

/// The prefix of numbers given to orders from a previous system.
const HISTORY_PREFIX: &str = "HIST";

/// The statuses a historic order can be imported in, in lifecycle order.
const STATUSES: &[OrderStatus] = &[
    OrderStatus::Submitted,
    OrderStatus::Approved,
    OrderStatus::Confirmed,
    OrderStatus::InProduction,
    OrderStatus::InStock,
    OrderStatus::Shipped,
    OrderStatus::Delivered,
    OrderStatus::Settled,
    OrderStatus::Archived,
    OrderStatus::Cancelled,
];

/// One historic order as the file describes it.
#[derive(Debug, Clone, PartialEq)]
struct HistoricOrder {
    legacy: String,
    customer_code: String,
    taken_by: String,
    order_date: NaiveDate,
    status: OrderStatus,
    approved_on: Option<NaiveDate>,
    shipped_on: Option<NaiveDate>,
    delivered_on: Option<NaiveDate>,
    paid_on: Option<NaiveDate>,
    cancelled_on: Option<NaiveDate>,
    delivery_date: Option<NaiveDate>,
    customer_reference: String,
}

/// One line of it.
#[derive(Debug, Clone)]
struct HistoricLine {
    product: String,
    quantity: Decimal,
    unit_price: Option<Decimal>,
    discount_percent: Decimal,
}

fn date_cell(
    row: &BTreeMap<String, String>,
    column: &str,
    today: NaiveDate,
) -> std::result::Result<Option<NaiveDate>, String> {
    let value = row.get(column).map(String::as_str).unwrap_or("");
    if value.is_empty() {
        return Ok(None);
    }
    let d = NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map_err(|_| format!("{column} '{value}' is not a date; write it as 2025-03-31"))?;
    if d > today {
        return Err(format!(
            "{column} {d} is in the future (today is {today}); history ends today"
        ));
    }
    if d < NaiveDate::from_ymd_opt(EARLIEST_YEAR, 1, 1).unwrap_or(d) {
        return Err(format!(
            "{column} {d} is before {EARLIEST_YEAR}; orders from {EARLIEST_YEAR} on can be imported"
        ));
    }
    Ok(Some(d))
}

fn decimal_cell(
    row: &BTreeMap<String, String>,
    column: &str,
    what: &'static str,
) -> std::result::Result<Option<Decimal>, String> {
    match row.get(column).map(String::as_str).unwrap_or("") {
        "" => Ok(None),
        v => money::parse_amount(what, v)
            .map(Some)
            .map_err(|e| e.to_string()),
    }
}

/// Reads one row: the order it belongs to and its line.
fn parse_row(
    row: &BTreeMap<String, String>,
    today: NaiveDate,
) -> std::result::Result<(HistoricOrder, HistoricLine), String> {
    let get = |k: &str| row.get(k).cloned().unwrap_or_default();
    let legacy = get("number");
    if legacy.is_empty() {
        return Err("the order number is empty".into());
    }
    let status_text = get("status").to_lowercase().replace([' ', '-'], "_");
    let status = STATUSES
        .iter()
        .copied()
        .find(|s| s.as_str() == status_text)
        .ok_or_else(|| {
            format!(
                "status '{}' is not one a past order can have; use one of {}",
                get("status"),
                STATUSES
                    .iter()
                    .map(OrderStatus::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
    let order_date = date_cell(row, "order_date", today)?.ok_or("the order date is empty")?;
    let order = HistoricOrder {
        legacy,
        customer_code: get("customer_code"),
        taken_by: get("taken_by"),
        order_date,
        status,
        approved_on: date_cell(row, "approved_on", today)?,
        shipped_on: date_cell(row, "shipped_on", today)?,
        delivered_on: date_cell(row, "delivered_on", today)?,
        paid_on: date_cell(row, "paid_on", today)?,
        cancelled_on: date_cell(row, "cancelled_on", today)?,
        delivery_date: match get("delivery_date").as_str() {
            "" => None,
            v => Some(NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| {
                format!("delivery_date '{v}' is not a date; write it as 2025-03-31")
            })?),
        },
        customer_reference: get("customer_reference"),
    };
    check_dates(&order)?;
    let quantity = decimal_cell(row, "quantity", "quantity")?.ok_or("the quantity is empty")?;
    let line = HistoricLine {
        product: get("product"),
        quantity,
        unit_price: decimal_cell(row, "unit_price", "unit price")?,
        discount_percent: decimal_cell(row, "discount_percent", "discount")?
            .unwrap_or(Decimal::ZERO),
    };
    Ok((order, line))
}

/// Did an order that ended in `status` go through `step` (cancelled
/// orders went through none of the later ones)?
fn reached(status: OrderStatus, step: OrderStatus) -> bool {
    let at = |s: OrderStatus| STATUSES.iter().position(|x| *x == s);
    status != OrderStatus::Cancelled && at(status) >= at(step)
}

/// The dates the status needs are there, and the steps happen in order.
fn check_dates(o: &HistoricOrder) -> std::result::Result<(), String> {
    let reached = |s| reached(o.status, s);
    if reached(OrderStatus::Shipped) && o.shipped_on.is_none() {
        return Err(format!(
            "a {} order needs its shipped_on date",
            o.status.as_str()
        ));
    }
    if reached(OrderStatus::Settled) && o.paid_on.is_none() {
        return Err(format!(
            "a {} order needs its paid_on date",
            o.status.as_str()
        ));
    }
    let mut last = ("order_date", o.order_date);
    for (name, d) in [
        ("approved_on", o.approved_on),
        ("shipped_on", o.shipped_on),
        ("delivered_on", o.delivered_on),
    ] {
        if let Some(d) = d {
            if d < last.1 {
                return Err(format!("{name} {d} is before {} {}", last.0, last.1));
            }
            last = (name, d);
        }
    }
    for (name, d) in [("paid_on", o.paid_on), ("cancelled_on", o.cancelled_on)] {
        if let Some(d) = d
            && d < o.order_date
        {
            return Err(format!(
                "{name} {d} is before the order date {}",
                o.order_date
            ));
        }
    }
    Ok(())
}

/// The order number a historic order gets.
fn number_for(o: &HistoricOrder) -> std::result::Result<String, String> {
    if let Ok(n) = o.legacy.parse::<OrderNumber>() {
        return Ok(n.to_string());
    }
    let digits: u32 = o
        .legacy
        .parse()
        .ok()
        .filter(|n| *n >= 1 && o.legacy.chars().all(|c| c.is_ascii_digit()))
        .ok_or_else(|| {
            format!(
                "order number '{}' cannot be kept: write it as digits (10248, up to 99999) or as one of ours (S07-20250131-001)",
                o.legacy
            )
        })?;
    let prefix = OrderPrefix::new(HISTORY_PREFIX).map_err(|e| e.to_string())?;
    OrderNumber::new(prefix, o.order_date, digits)
        .map(|n| n.to_string())
        .map_err(|e| format!("order number '{}': {e}", o.legacy))
}

/// Who takes each kind of step in a replayed order: the company's users
/// of the role (a manager of the order's region for approvals).
struct StepTakers {
    users: Vec<accounts::User>,
}

impl StepTakers {
    fn of_role(&self, role: Role, region: Option<&str>) -> std::result::Result<Actor, String> {
        let u = self
            .users
            .iter()
            .find(|u| {
                u.role == role.as_str() && (region.is_none() || u.region.as_deref() == region)
            })
            .ok_or_else(|| {
                let where_ = region.map(|r| format!(" in region {r}")).unwrap_or_default();
                format!(
                    "there is no {}{where_} to record the step in the order's history; create one first (admin create-user --role {})",
                    role.in_words(),
                    role.as_str()
                )
            })?;
        self.actor(u)
    }

    fn named(&self, id: &str) -> Option<&accounts::User> {
        self.users.iter().find(|u| u.id == id)
    }

    fn actor(&self, u: &accounts::User) -> std::result::Result<Actor, String> {
        let role: Role = u
            .role
            .parse()
            .map_err(|e: fieldsync_core::Error| e.to_string())?;
        Actor::new(&u.id, role, u.region.as_deref(), OFFICE_DEVICE).map_err(|e| e.to_string())
    }
}

/// Replays one historic order into a new order document.
fn replay(
    order: &HistoricOrder,
    lines: &[HistoricLine],
    customer: &Customer,
    catalog: &fieldsync_core::Catalog,
    takers: &StepTakers,
    at: &dyn Fn(NaiveDate) -> DateTime<Utc>,
) -> std::result::Result<OrderDoc, String> {
    let region = customer.meta.region.as_deref();
    let taker = match order.taken_by.as_str() {
        "" => takers.named(&customer.meta.owner).ok_or_else(|| {
            format!(
                "the customer's salesperson {} is not a user",
                customer.meta.owner
            )
        })?,
        id => takers
            .named(id)
            .ok_or_else(|| format!("taken_by '{id}' is not a user"))?,
    };
    let taker = takers.actor(taker)?;
    let e = |e: fieldsync_core::Error| e.to_string();
    let number = number_for(order)?;
    let ctx = |who: &Actor, d: NaiveDate| ChangeCtx::new(who.clone(), at(d));
    let created = ctx(&taker, order.order_date);
    let mut doc = OrderDoc::create(
        &created,
        customer,
        NewOrder {
            number: number.parse().map_err(e)?,
            channel: Channel::Visit,
            reorder_kind: None,
            delivery_date: order.delivery_date,
            evidence: format!("order {} of the previous system", order.legacy),
        },
    )
    .map_err(e)?;
    for l in lines {
        let p = catalog.products.get(&l.product).ok_or_else(|| {
            format!(
                "product {} is not in the catalog; import it first",
                l.product
            )
        })?;
        doc.add_line(
            &created,
            NewLine {
                product: p.code.clone(),
                name: p.name.clone(),
                variant: p.spec.clone(),
                unit: p.unit.clone(),
                quantity: l.quantity,
                unit_price: l.unit_price.unwrap_or(p.list_price),
                discount_percent: l.discount_percent,
            },
        )
        .map_err(e)?;
    }
    if !order.customer_reference.is_empty() {
        let mut details = OrderDetails::from(&doc.read().map_err(e)?);
        details.customer_reference = order.customer_reference.clone();
        doc.set_details(&created, details).map_err(e)?;
    }
    doc.submit(&created).map_err(e)?;
    let approved = order.approved_on.unwrap_or(order.order_date);
    let shipped = order.shipped_on.unwrap_or(approved);
    let reached = |s| reached(order.status, s);
    if order.status == OrderStatus::Cancelled {
        let manager = takers.of_role(Role::Manager, region)?;
        doc.cancel(
            &ctx(&manager, order.cancelled_on.unwrap_or(order.order_date)),
            "cancelled in the previous system",
        )
        .map_err(e)?;
    }
    if reached(OrderStatus::Approved) {
        let manager = takers.of_role(Role::Manager, region)?;
        doc.approve(&ctx(&manager, approved), customer, None)
            .map_err(e)?;
    }
    if reached(OrderStatus::Confirmed) {
        let desk = takers.of_role(Role::OrderDesk, None)?;
        doc.confirm(&ctx(&desk, approved)).map_err(e)?;
    }
    if reached(OrderStatus::InProduction) {
        let production = takers.of_role(Role::Production, None)?;
        doc.start_production(&ctx(&production, approved), None)
            .map_err(e)?;
    }
    if reached(OrderStatus::InStock) {
        let warehouse = takers.of_role(Role::Warehouse, None)?;
        doc.mark_in_stock(&ctx(&warehouse, shipped)).map_err(e)?;
    }
    // A cash customer pays before the goods ship.
    let finance = || takers.of_role(Role::Finance, None);
    let mut paid = false;
    let pay = |doc: &mut OrderDoc, d: NaiveDate| -> std::result::Result<(), String> {
        let total = doc.read().map_err(e)?.total();
        if total > Decimal::ZERO {
            doc.record_payment(&ctx(&finance()?, d), total, "paid in the previous system")
                .map_err(e)?;
        }
        Ok(())
    };
    if let Some(p) = order.paid_on
        && p <= shipped
        && order.status != OrderStatus::Cancelled
    {
        pay(&mut doc, p)?;
        paid = true;
    }
    if reached(OrderStatus::Shipped) {
        let warehouse = takers.of_role(Role::Warehouse, None)?;
        doc.ship(
            &ctx(&warehouse, shipped),
            customer,
            Shipment::default(),
            None,
        )
        .map_err(e)?;
    }
    let delivered = order.delivered_on.unwrap_or(shipped);
    if reached(OrderStatus::Delivered) {
        let desk = takers.of_role(Role::OrderDesk, None)?;
        doc.mark_delivered(&ctx(&desk, delivered)).map_err(e)?;
    }
    if let Some(p) = order.paid_on
        && !paid
        && order.status != OrderStatus::Cancelled
    {
        pay(&mut doc, p)?;
    }
    // Settled (and filed) once both paid and delivered.
    let settled = order.paid_on.unwrap_or(delivered).max(delivered);
    if reached(OrderStatus::Settled) {
        doc.settle(&ctx(&finance()?, settled)).map_err(e)?;
    }
    if reached(OrderStatus::Archived) {
        doc.archive(&ctx(&finance()?, settled)).map_err(e)?;
    }
    Ok(doc)
}

/// Imports historic orders from CSV, one row per order line, with columns
/// `number,customer_code,order_date,status,product,quantity` and,
/// optionally, `unit_price` (default: the list price), `discount_percent`,
/// `approved_on`, `shipped_on`, `delivered_on`, `paid_on`, `cancelled_on`,
/// `delivery_date`, `customer_reference` and `taken_by` (default: the
/// customer's salesperson). See the module's documentation.
pub fn import_orders(
    state: &AppState,
    input: impl Read,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Imported> {
    let rows = csv_rows(
        input,
        &[
            "number",
            "customer_code",
            "order_date",
            "status",
            "product",
            "quantity",
        ],
        &[
            "unit_price",
            "discount_percent",
            "approved_on",
            "shipped_on",
            "delivered_on",
            "paid_on",
            "cancelled_on",
            "delivery_date",
            "customer_reference",
            "taken_by",
        ],
    )?;
    let zone = state.schedule.zone();
    let today = zone.date_at(Utc::now());
    let ten = NaiveTime::from_hms_opt(10, 0, 0).unwrap_or_default();
    let at = move |d: NaiveDate| zone.instant(d.and_time(ten)).min(Utc::now());
    let mut relay = state.relay();
    let (takers, customers, numbers) = {
        let conn = relay.store().connection();
        let customers: HashMap<String, String> = conn
            .prepare("SELECT code, id FROM customers WHERE code != ''")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let numbers: HashSet<String> = conn
            .prepare("SELECT number FROM orders")?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        (
            StepTakers {
                users: accounts::users(conn)?,
            },
            customers,
            numbers,
        )
    };
    let catalog = match catalog_id(&mut relay)? {
        Some(id) => fieldsync_core::CatalogDoc::from_document(relay.load(id)?)?.read()?,
        None => {
            return Err(ServerError::BadRequest(
                "there is no catalog yet: import the products first (admin import-products)".into(),
            ));
        }
    };
    // Rows grouped into orders, in the order the file first names them.
    let (parsed, mut errors) = parse_rows(&rows, |row| parse_row(row, today));
    let mut orders: Vec<(usize, HistoricOrder, Vec<HistoricLine>)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (line, (order, l)) in parsed {
        match index.get(&order.legacy) {
            Some(&i) if orders[i].1 != order => errors.push(format!(
                "row {line}: order {} says other things than its first row ({}): every row of an order repeats the same customer, dates and status",
                order.legacy, orders[i].0
            )),
            Some(&i) => orders[i].2.push(l),
            None => {
                index.insert(order.legacy.clone(), orders.len());
                orders.push((line, order, vec![l]));
            }
        }
    }
    let mut imported = Imported::default();
    let mut docs: Vec<Document> = Vec::new();
    let mut customer_docs: HashMap<String, Customer> = HashMap::new();
    let mut minted = HashSet::new();
    for (line, order, lines) in &orders {
        let result = (|| -> std::result::Result<Option<Document>, String> {
            let number = number_for(order)?;
            if numbers.contains(&number) {
                return Ok(None);
            }
            if !minted.insert(number.clone()) {
                return Err(format!(
                    "order number {number} is given to two orders in this file"
                ));
            }
            let customer = match customer_docs.get(&order.customer_code) {
                Some(c) => c.clone(),
                None => {
                    let id = customers.get(&order.customer_code).ok_or_else(|| {
                        format!(
                            "customer code {} is not a customer; import the customers first (admin import-customers)",
                            order.customer_code
                        )
                    })?;
                    let id = id
                        .parse()
                        .map_err(|_| "a stored customer id is damaged".to_string())?;
                    let c = relay
                        .load(id)
                        .and_then(CustomerDoc::from_document)
                        .and_then(|c| c.read())
                        .map_err(|e| e.to_string())?;
                    customer_docs.insert(order.customer_code.clone(), c.clone());
                    c
                }
            };
            let mut doc = replay(order, lines, &customer, &catalog, &takers, &at)?;
            Ok(Some(doc.document().fork()))
        })();
        match result {
            Ok(Some(doc)) => {
                imported.created += 1;
                docs.push(doc);
            }
            Ok(None) => imported.unchanged += 1,
            Err(e) => errors.push(format!("row {line}: order {}: {e}", order.legacy)),
        }
    }
    if !errors.is_empty() {
        return Err(report_rows(errors, "orders"));
    }
    let actor = crate::admin::admin_actor()?;
    let total = docs.len();
    for (i, chunk) in docs.chunks_mut(200).enumerate() {
        relay.commit_edits(&actor, chunk).map_err(|e| match e {
            fieldsync_core::Error::Refused(reason) => ServerError::BadRequest(format!(
                "an order was refused, so the import stopped after {} of {total} orders: {reason}",
                i * 200
            )),
            other => other.into(),
        })?;
        progress((i * 200 + chunk.len()).min(total), total);
    }
    Ok(imported)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(status: OrderStatus) -> HistoricOrder {
        HistoricOrder {
            legacy: "10248".into(),
            customer_code: "VINET".into(),
            taken_by: String::new(),
            order_date: NaiveDate::from_ymd_opt(2025, 7, 4).unwrap(),
            status,
            approved_on: None,
            shipped_on: None,
            delivered_on: None,
            paid_on: None,
            cancelled_on: None,
            delivery_date: None,
            customer_reference: String::new(),
        }
    }

    #[test]
    fn old_numbers_are_kept_where_they_can_be() {
        let o = order(OrderStatus::Submitted);
        assert_eq!(number_for(&o).unwrap(), "HIST-20250704-10248");
        let ours = HistoricOrder {
            legacy: "S07-20250704-003".into(),
            ..o.clone()
        };
        assert_eq!(number_for(&ours).unwrap(), "S07-20250704-003");
        let other = HistoricOrder {
            legacy: "SO/2025/17".into(),
            ..o
        };
        assert!(number_for(&other).unwrap_err().contains("cannot be kept"));
    }

    #[test]
    fn a_status_needs_its_dates_in_order() {
        let d = |m, day| NaiveDate::from_ymd_opt(2025, m, day);
        let shipped = order(OrderStatus::Shipped);
        assert!(
            check_dates(&shipped)
                .unwrap_err()
                .contains("needs its shipped_on")
        );
        let early = HistoricOrder {
            shipped_on: d(7, 1),
            ..shipped.clone()
        };
        assert!(
            check_dates(&early)
                .unwrap_err()
                .contains("shipped_on 2025-07-01 is before order_date")
        );
        let ok = HistoricOrder {
            approved_on: d(7, 5),
            shipped_on: d(7, 9),
            ..shipped
        };
        assert_eq!(check_dates(&ok), Ok(()));
        let settled = HistoricOrder {
            status: OrderStatus::Settled,
            ..ok
        };
        assert!(
            check_dates(&settled)
                .unwrap_err()
                .contains("needs its paid_on")
        );
        let today = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        let row = |k: &str, v: &str| BTreeMap::from([(k.to_string(), v.to_string())]);
        assert!(
            date_cell(&row("paid_on", "2026-01-02"), "paid_on", today)
                .unwrap_err()
                .contains("in the future")
        );
        assert!(
            date_cell(&row("paid_on", "1999-12-31"), "paid_on", today)
                .unwrap_err()
                .contains("before 2000")
        );
        assert!(
            date_cell(&row("paid_on", "31/12/2025"), "paid_on", today)
                .unwrap_err()
                .contains("write it as 2025-03-31")
        );
    }
}
