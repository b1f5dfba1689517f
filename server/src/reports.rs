//! Reports from the head-office tables, as JSON or CSV. Money is summed
//! exactly (decimal strings, never floats).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use fieldsync_core::{
    Actor, CreditExposure, CreditTerms, DocId, OpenOrder, OrderStatus, PaymentTerms,
    ReportSchedule, Role, VisitFact, money, visit_kpis_from_facts,
};
use rusqlite::Connection;
use rust_decimal::Decimal;

use crate::error::{Result, ServerError};

/// The reports there are.
pub const REPORTS: &[&str] = &[
    "sales-by-salesperson",
    "sales-by-order-taker",
    "sales-by-region",
    "sales-by-product",
    "sales-by-month",
    "visit-kpis",
    "visits-per-day",
    "daily-reports",
    "production",
    "receivables",
    "receivables-aged",
    "order-performance",
    "changed-after-approval",
];

/// A report: named columns and rows of text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// Column names.
    pub columns: Vec<&'static str>,
    /// Rows, each as many cells as columns.
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// The rows as JSON objects keyed by column.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Array(
            self.rows
                .iter()
                .map(|r| {
                    serde_json::Value::Object(
                        self.columns
                            .iter()
                            .zip(r)
                            .map(|(c, v)| (c.to_string(), v.clone().into()))
                            .collect(),
                    )
                })
                .collect(),
        )
    }

    /// The table as CSV with a header row.
    pub fn to_csv(&self) -> Result<String> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(&self.columns)
            .map_err(|e| ServerError::Internal(e.to_string()))?;
        for r in &self.rows {
            w.write_record(
                r.iter()
                    .map(|cell| spreadsheet_safe(cell).as_bytes().to_vec()),
            )
            .map_err(|e| ServerError::Internal(e.to_string()))?;
        }
        let bytes = w
            .into_inner()
            .map_err(|e| ServerError::Internal(e.to_string()))?;
        String::from_utf8(bytes).map_err(|e| ServerError::Internal(e.to_string()))
    }
}

/// A cell a spreadsheet would not run as a formula: text starting with `=`,
/// `+`, `-`, `@`, a tab or a carriage return gets a leading `'` (numbers,
/// negative ones included, stay as they are).
fn spreadsheet_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    let risky = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if risky && cell.parse::<Decimal>().is_err() {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

/// Statuses that count as sales: approved and anything after, except cancelled.
/// The outcomes (`orders.outcome`: an archived order's is the status it was
/// archived from) that count as sales.
const SOLD: &str = "('approved', 'changed_after_approval', 'confirmed', 'in_production', 'in_stock', 'shipped', 'delivered', 'settled')";

fn dec(s: &str) -> Decimal {
    s.parse().unwrap_or_default()
}

fn region_filter(actor: &Actor) -> Result<Option<String>> {
    match actor.role() {
        Role::Salesperson => Err(ServerError::Forbidden(
            "reports are for managers and head office".into(),
        )),
        Role::Manager => Ok(actor.region().map(str::to_string)),
        _ => Ok(None),
    }
}

/// What a report is narrowed to (`?from=2026-01-01&to=2026-03-31&region=east&salesperson=li&customer=<id>`):
/// dates are business dates in the company's time zone, both ends included.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// From this day on.
    pub from: Option<chrono::NaiveDate>,
    /// Up to this day.
    pub to: Option<chrono::NaiveDate>,
    /// This region only.
    pub region: Option<String>,
    /// This salesperson's only (the customer's owner; for
    /// `sales-by-order-taker`, who took the order).
    pub salesperson: Option<String>,
    /// This customer's only (its id).
    pub customer: Option<String>,
}

impl Filter {
    /// Does a row of `owner`, `region`, `customer` on business day `day` pass?
    fn admits(
        &self,
        owner: &str,
        region: Option<&str>,
        customer: Option<&str>,
        day: Option<chrono::NaiveDate>,
    ) -> bool {
        self.salesperson.as_deref().is_none_or(|s| s == owner)
            && self.region.as_deref().is_none_or(|r| Some(r) == region)
            && self.customer.as_deref().is_none_or(|c| Some(c) == customer)
            && self.from.is_none_or(|f| day.is_some_and(|d| d >= f))
            && self.to.is_none_or(|t| day.is_some_and(|d| d <= t))
    }

    /// Refuses the filters report `name` has no use for.
    fn refuse(&self, name: &str, dates: bool, customer: bool) -> Result<()> {
        if !dates && (self.from.is_some() || self.to.is_some()) {
            return Err(ServerError::BadRequest(format!(
                "{name} shows how things stand now: it takes no from/to dates"
            )));
        }
        if !customer && self.customer.is_some() {
            return Err(ServerError::BadRequest(format!(
                "{name} is per salesperson: it takes no customer filter"
            )));
        }
        Ok(())
    }
}

/// What is still owed on an order of `total` with `paid` received (never
/// below zero), from the stored decimal strings.
fn unpaid(total: &str, paid: &str) -> Decimal {
    dec(total)
        .checked_sub(dec(paid))
        .unwrap_or_default()
        .max(Decimal::ZERO)
}

/// What every order contributes to its customer's credit exposure, from
/// the head-office tables.
fn open_orders(conn: &Connection) -> Result<Vec<OpenOrder>> {
    let mut orders = Vec::new();
    let mut stmt =
        conn.prepare_cached("SELECT id, customer_id, status, total, paid FROM orders")?;
    for row in stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
        ))
    })? {
        let (id, customer, status, total, paid) = row?;
        let (Ok(order), Ok(customer)) = (id.parse::<DocId>(), customer.parse::<DocId>()) else {
            continue;
        };
        // Changed after approval is still an approved order.
        let stage = match OrderStatus::parse(&status) {
            Some(OrderStatus::ChangedAfterApproval) => OrderStatus::Approved,
            Some(s) => s,
            None => continue,
        };
        orders.push(OpenOrder {
            order,
            customer,
            stage,
            unpaid: unpaid(&total, &paid),
        });
    }
    Ok(orders)
}

/// A customer's credit, from the head-office tables.
struct CustomerCredit {
    id: String,
    region: Option<String>,
    owner: String,
    /// `cash` or `credit`, as stored.
    terms: String,
    exposure: CreditExposure,
}

/// Every customer's credit exposure, by name, by the formula the relay's
/// checks use (core's `CreditExposure`).
fn customer_credit(conn: &Connection) -> Result<Vec<CustomerCredit>> {
    let orders = open_orders(conn)?;
    let mut stmt = conn.prepare_cached(
        "SELECT id, name, region, payment_terms, credit_limit, receivables, owner FROM customers ORDER BY name",
    )?;
    let mut out = Vec::new();
    for row in stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Option<String>>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            (r.get::<_, String>(5)?, r.get::<_, String>(6)?),
        ))
    })? {
        let (id, name, region, terms, limit, (published, owner)) = row?;
        let Ok(customer) = id.parse::<DocId>() else {
            continue;
        };
        let exposure = CreditExposure::of_terms(
            &CreditTerms {
                customer,
                name: &name,
                payment_terms: if terms == "cash" {
                    PaymentTerms::Cash
                } else {
                    PaymentTerms::Credit
                },
                limit: dec(&limit),
                receivables: dec(&published),
            },
            &orders,
            None,
        );
        out.push(CustomerCredit {
            id,
            region,
            owner,
            terms,
            exposure,
        });
    }
    Ok(out)
}

/// The business day of a stored time (RFC 3339) in the company's zone.
fn business_day(schedule: &ReportSchedule, at: &str) -> Option<chrono::NaiveDate> {
    DateTime::parse_from_rfc3339(at)
        .ok()
        .map(|t| schedule.local_date(t.with_timezone(&Utc)))
}

/// Runs the report `name` for `actor` (managers see their region), narrowed
/// by `filter`.
pub fn run(
    conn: &Connection,
    actor: &Actor,
    name: &str,
    schedule: &ReportSchedule,
    filter: &Filter,
) -> Result<Table> {
    let region = region_filter(actor)?;
    let in_region = |r: &Option<String>| region.is_none() || r == &region;
    match name {
        "sales-by-salesperson" | "sales-by-order-taker" | "sales-by-region" | "sales-by-month" => {
            // Sales by salesperson are credited to the customer's owner; by
            // order taker, to whoever took the order (another salesperson
            // covering, the order desk taking a call). Each report says which.
            let who = if name == "sales-by-order-taker" {
                "taken_by"
            } else {
                "owner"
            };
            let mut stmt = conn.prepare(&format!(
                "SELECT {who}, region, created_at, total, customer_id FROM orders WHERE outcome IN {SOLD}"
            ))?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                ))
            })?;
            let mut groups: BTreeMap<String, (u64, Decimal)> = BTreeMap::new();
            for row in rows {
                let (owner, reg, created_at, total, customer) = row?;
                let day = business_day(schedule, &created_at);
                if !in_region(&reg) || !filter.admits(&owner, reg.as_deref(), Some(&customer), day)
                {
                    continue;
                }
                let key = match name {
                    "sales-by-salesperson" | "sales-by-order-taker" => owner,
                    "sales-by-region" => reg.unwrap_or_default(),
                    // The month in the company's time zone.
                    _ => chrono::DateTime::parse_from_rfc3339(&created_at)
                        .map(|t| schedule.zone().month_at(t.with_timezone(&chrono::Utc)))
                        .unwrap_or_else(|_| created_at.chars().take(7).collect()),
                };
                let g = groups.entry(key).or_default();
                g.0 += 1;
                g.1 += dec(&total);
            }
            let (key, credited) = match name {
                "sales-by-salesperson" => ("salesperson", Some("customer's owner")),
                "sales-by-order-taker" => ("taken_by", Some("took the order")),
                "sales-by-region" => ("region", None),
                _ => ("month", None),
            };
            let mut columns = vec![key];
            if credited.is_some() {
                columns.push("credited_as");
            }
            columns.extend(["orders", "amount"]);
            Ok(Table {
                columns,
                rows: groups
                    .into_iter()
                    .map(|(k, (n, a))| {
                        let mut row = vec![k];
                        row.extend(credited.map(str::to_string));
                        row.extend([n.to_string(), money::cents(a).to_string()]);
                        row
                    })
                    .collect(),
            })
        }
        "sales-by-product" => {
            let mut stmt = conn.prepare(&format!(
                "SELECT l.product, l.quantity, l.line_total, o.region, o.owner, o.customer_id, o.created_at
                 FROM order_lines l JOIN orders o ON o.id = l.order_id WHERE o.outcome IN {SOLD}"
            ))?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    (
                        r.get::<_, String>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, String>(6)?,
                    ),
                ))
            })?;
            let mut groups: BTreeMap<String, (Decimal, Decimal)> = BTreeMap::new();
            for row in rows {
                let (product, qty, total, reg, (owner, customer, created_at)) = row?;
                let day = business_day(schedule, &created_at);
                if !in_region(&reg) || !filter.admits(&owner, reg.as_deref(), Some(&customer), day)
                {
                    continue;
                }
                let g = groups.entry(product).or_default();
                g.0 += dec(&qty);
                g.1 += dec(&total);
            }
            Ok(Table {
                columns: vec!["product", "quantity", "amount"],
                rows: groups
                    .into_iter()
                    .map(|(k, (q, a))| {
                        vec![k, q.normalize().to_string(), money::cents(a).to_string()]
                    })
                    .collect(),
            })
        }
        "visit-kpis" => {
            filter.refuse(name, true, false)?;
            let mut stmt = conn.prepare(
                "SELECT owner, customer_id, check_in, minutes, region FROM visits
                 WHERE check_in IS NOT NULL AND status != 'cancelled'",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                ))
            })?;
            let mut facts = Vec::new();
            for row in rows {
                let (owner, customer, at, minutes, reg) = row?;
                let (Ok(customer), Ok(at)) =
                    (customer.parse::<DocId>(), DateTime::parse_from_rfc3339(&at))
                else {
                    continue;
                };
                // All visits count for "first visited"; only the region's
                // (and the filter's) are shown.
                let day = schedule.local_date(at.with_timezone(&Utc));
                facts.push((
                    in_region(&reg) && filter.admits(&owner, reg.as_deref(), None, Some(day)),
                    VisitFact {
                        salesperson: owner,
                        customer,
                        at: at.with_timezone(&Utc),
                        minutes,
                    },
                ));
            }
            let all: Vec<VisitFact> = facts.iter().map(|(_, f)| f.clone()).collect();
            let shown: std::collections::HashSet<String> = facts
                .iter()
                .filter(|(v, _)| *v)
                .map(|(_, f)| f.salesperson.clone())
                .collect();
            Ok(Table {
                columns: vec![
                    "salesperson",
                    "month",
                    "visits",
                    "target",
                    "new_customer_visits",
                    "new_customer_share",
                    "meets_visit_target",
                    "meets_new_customer_target",
                    "average_minutes",
                ],
                rows: visit_kpis_from_facts(&all, schedule)
                    .into_iter()
                    .filter(|k| shown.contains(&k.salesperson))
                    .filter(|k| {
                        let month = k.month.to_string();
                        filter
                            .from
                            .is_none_or(|f| month >= f.format("%Y-%m").to_string())
                            && filter
                                .to
                                .is_none_or(|t| month <= t.format("%Y-%m").to_string())
                    })
                    .map(|k| {
                        vec![
                            k.salesperson.clone(),
                            k.month.to_string(),
                            k.visits.to_string(),
                            fieldsync_core::MONTHLY_VISIT_TARGET.to_string(),
                            k.new_customer_visits.to_string(),
                            k.new_customer_share().normalize().to_string(),
                            k.meets_visit_target().to_string(),
                            k.meets_new_customer_target().to_string(),
                            k.average_minutes.map(|m| m.to_string()).unwrap_or_default(),
                        ]
                    })
                    .collect(),
            })
        }
        "visits-per-day" => {
            // Checked-in visits per salesperson and business day.
            filter.refuse(name, true, true)?;
            let mut stmt = conn.prepare(
                "SELECT owner, region, customer_id, check_in FROM visits
                 WHERE check_in IS NOT NULL AND status != 'cancelled'",
            )?;
            let mut per: BTreeMap<(String, chrono::NaiveDate), u64> = BTreeMap::new();
            for row in stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })? {
                let (owner, reg, customer, at) = row?;
                let Some(day) = business_day(schedule, &at) else {
                    continue;
                };
                if in_region(&reg)
                    && filter.admits(&owner, reg.as_deref(), Some(&customer), Some(day))
                {
                    *per.entry((owner, day)).or_default() += 1;
                }
            }
            Ok(Table {
                columns: vec!["salesperson", "day", "visits"],
                rows: per
                    .into_iter()
                    .map(|((o, d), n)| vec![o, d.to_string(), n.to_string()])
                    .collect(),
            })
        }
        "daily-reports" => {
            filter.refuse(name, true, false)?;
            let mut stmt = conn.prepare("SELECT owner, region, day, late FROM daily_reports")?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<bool>>(3)?,
                ))
            })?;
            let mut groups: BTreeMap<(String, String), [u64; 3]> = BTreeMap::new();
            for row in rows {
                let (owner, reg, day, late) = row?;
                let date = day.parse::<chrono::NaiveDate>().ok();
                if !in_region(&reg) || !filter.admits(&owner, reg.as_deref(), None, date) {
                    continue;
                }
                let month: String = day.chars().take(7).collect();
                let g = groups.entry((owner, month)).or_default();
                match late {
                    Some(false) => g[0] += 1,
                    Some(true) => g[1] += 1,
                    None => g[2] += 1,
                }
            }
            Ok(Table {
                columns: vec!["salesperson", "month", "on_time", "late", "not_submitted"],
                rows: groups
                    .into_iter()
                    .map(|((o, m), g)| {
                        vec![o, m, g[0].to_string(), g[1].to_string(), g[2].to_string()]
                    })
                    .collect(),
            })
        }
        "production" => {
            let mut ordered: BTreeMap<String, Decimal> = BTreeMap::new();
            let mut stmt = conn.prepare(
                "SELECT l.product, l.quantity, o.owner, o.region, o.customer_id, o.created_at
                 FROM order_lines l JOIN orders o ON o.id = l.order_id
                 WHERE o.status IN ('approved', 'confirmed', 'in_production', 'in_stock', 'changed_after_approval')",
            )?;
            for row in stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    (
                        r.get::<_, String>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, String>(5)?,
                    ),
                ))
            })? {
                let (p, q, (owner, reg, customer, created_at)) = row?;
                let day = business_day(schedule, &created_at);
                if filter.admits(&owner, reg.as_deref(), Some(&customer), day) {
                    *ordered.entry(p).or_default() += dec(&q);
                }
            }
            let mut stock: BTreeMap<String, [String; 3]> = BTreeMap::new();
            let mut stmt =
                conn.prepare("SELECT code, in_production, on_hand, reserved FROM products")?;
            for row in stmt.query_map([], |r| {
                Ok((r.get::<_, String>(0)?, [r.get(1)?, r.get(2)?, r.get(3)?]))
            })? {
                let (code, s) = row?;
                stock.insert(code, s);
            }
            let products: std::collections::BTreeSet<String> =
                ordered.keys().chain(stock.keys()).cloned().collect();
            Ok(Table {
                columns: vec!["product", "ordered", "in_production", "on_hand", "reserved"],
                rows: products
                    .into_iter()
                    .map(|p| {
                        let s = stock
                            .get(&p)
                            .cloned()
                            .unwrap_or_else(|| ["0".into(), "0".into(), "0".into()]);
                        let o = ordered
                            .get(&p)
                            .copied()
                            .unwrap_or_default()
                            .normalize()
                            .to_string();
                        let [ip, oh, re] = s;
                        vec![p, o, ip, oh, re]
                    })
                    .collect(),
            })
        }
        "receivables" => {
            // One formula (core's CreditExposure), the same the relay's credit
            // checks and the phones' headroom use.
            let mut overrides: BTreeMap<String, u64> = BTreeMap::new();
            let mut stmt = conn.prepare(
                "SELECT o.customer_id, count(*) FROM order_events e JOIN orders o ON o.id = e.order_id
                 WHERE e.credit_override = 1 AND e.superseded = 0 GROUP BY o.customer_id",
            )?;
            for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
                let (c, n) = row?;
                overrides.insert(c, u64::try_from(n).unwrap_or_default());
            }
            filter.refuse(name, false, true)?;
            let mut rows = Vec::new();
            for c in customer_credit(conn)? {
                if !in_region(&c.region)
                    || !filter.admits(&c.owner, c.region.as_deref(), Some(&c.id), None)
                {
                    continue;
                }
                let e = &c.exposure;
                rows.push(vec![
                    e.customer.clone(),
                    c.region.clone().unwrap_or_default(),
                    c.terms.clone(),
                    money::cents(e.limit).to_string(),
                    money::cents(e.receivables).to_string(),
                    money::cents(e.open_orders).to_string(),
                    money::cents(e.total()).to_string(),
                    money::cents(e.headroom()).to_string(),
                    overrides
                        .get(&c.id)
                        .copied()
                        .unwrap_or_default()
                        .to_string(),
                ]);
            }
            Ok(Table {
                columns: vec![
                    "customer",
                    "region",
                    "payment_terms",
                    "credit_limit",
                    "receivables_published",
                    "open_orders_unpaid",
                    "credit_exposure",
                    "credit_headroom",
                    "credit_overrides",
                ],
                rows,
            })
        }
        "receivables-aged" => {
            // What is owed on goods that have left: each shipped or delivered
            // order's unpaid amount, by days since it shipped (its latest
            // ship step that took effect), in the company's calendar.
            filter.refuse(name, false, true)?;
            let today = schedule.local_date(chrono::Utc::now());
            let mut stmt = conn.prepare(
                "SELECT o.customer_name, o.region, o.total, o.paid, o.owner, o.customer_id,
                        (SELECT max(e.at) FROM order_events e
                         WHERE e.order_id = o.id AND e.to_status = 'shipped' AND e.superseded = 0)
                 FROM orders o WHERE o.outcome IN ('shipped', 'delivered')",
            )?;
            let mut aged: BTreeMap<(String, String), [Decimal; 4]> = BTreeMap::new();
            for row in stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    (r.get::<_, String>(4)?, r.get::<_, String>(5)?),
                    r.get::<_, Option<String>>(6)?,
                ))
            })? {
                let (customer, reg, total, paid, (owner, customer_id), shipped) = row?;
                if !in_region(&reg)
                    || !filter.admits(&owner, reg.as_deref(), Some(&customer_id), None)
                {
                    continue;
                }
                let unpaid = unpaid(&total, &paid);
                if unpaid.is_zero() {
                    continue;
                }
                let days = shipped
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
                    .map(|t| {
                        (today - schedule.local_date(t.with_timezone(&chrono::Utc))).num_days()
                    })
                    .unwrap_or(0);
                let bucket = match days {
                    ..=30 => 0,
                    31..=60 => 1,
                    61..=90 => 2,
                    _ => 3,
                };
                let row = aged.entry((customer, reg.unwrap_or_default())).or_default();
                row[bucket] += unpaid;
            }
            Ok(Table {
                columns: vec![
                    "customer",
                    "region",
                    "days_0_30",
                    "days_31_60",
                    "days_61_90",
                    "over_90_days",
                    "total",
                ],
                rows: aged
                    .into_iter()
                    .map(|((customer, region), b)| {
                        let total: Decimal = b.iter().copied().sum();
                        let mut row = vec![customer, region];
                        row.extend(b.iter().map(|d| money::cents(*d).to_string()));
                        row.push(money::cents(total).to_string());
                        row
                    })
                    .collect(),
            })
        }
        "order-performance" => {
            // [001 第五部分 2.1] per salesperson (the customer's owner):
            // - on-time delivery rate: of the delivered orders that asked for
            //   a delivery date, the share delivered (its deliver step's
            //   business date) on or before it;
            // - order accuracy rate: of the orders a manager approved, the
            //   share approved once and never rejected nor changed after
            //   approval (right the first time).
            let mut stmt = conn.prepare(
                "SELECT o.owner, o.region, o.customer_id, o.created_at, o.delivery_date,
                        o.changed_after_approval,
                        (SELECT max(e.at) FROM order_events e WHERE e.order_id = o.id
                           AND e.action = 'Deliver' AND e.superseded = 0),
                        (SELECT count(*) FROM order_events e WHERE e.order_id = o.id
                           AND e.action IN ('Approve', 'Reapprove') AND e.superseded = 0),
                        (SELECT count(*) FROM order_events e WHERE e.order_id = o.id
                           AND e.action = 'Reject' AND e.superseded = 0)
                 FROM orders o",
            )?;
            #[derive(Default)]
            struct Counts {
                delivered: u64,
                on_time: u64,
                approved: u64,
                accurate: u64,
            }
            let mut per: BTreeMap<String, Counts> = BTreeMap::new();
            for row in stmt.query_map([], |r| {
                Ok((
                    (r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?),
                    (r.get::<_, String>(2)?, r.get::<_, String>(3)?),
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, bool>(5)?,
                    r.get::<_, Option<String>>(6)?,
                    (r.get::<_, i64>(7)?, r.get::<_, i64>(8)?),
                ))
            })? {
                let (
                    (owner, reg),
                    (customer, created_at),
                    wanted,
                    changed,
                    delivered,
                    (approvals, rejections),
                ) = row?;
                let day = business_day(schedule, &created_at);
                if !in_region(&reg) || !filter.admits(&owner, reg.as_deref(), Some(&customer), day)
                {
                    continue;
                }
                let c = per.entry(owner).or_default();
                let wanted = wanted.and_then(|d| d.parse::<chrono::NaiveDate>().ok());
                let delivered = delivered.and_then(|t| business_day(schedule, &t));
                if let (Some(wanted), Some(delivered)) = (wanted, delivered) {
                    c.delivered += 1;
                    c.on_time += u64::from(delivered <= wanted);
                }
                if approvals > 0 {
                    c.approved += 1;
                    c.accurate += u64::from(approvals == 1 && rejections == 0 && !changed);
                }
            }
            let rate = |part: u64, whole: u64| {
                if whole == 0 {
                    String::new()
                } else {
                    (Decimal::from(part * 100) / Decimal::from(whole))
                        .round_dp(1)
                        .normalize()
                        .to_string()
                }
            };
            Ok(Table {
                columns: vec![
                    "salesperson",
                    "delivered_with_a_date",
                    "delivered_on_time",
                    "on_time_delivery_percent",
                    "approved",
                    "right_first_time",
                    "order_accuracy_percent",
                ],
                rows: per
                    .into_iter()
                    .filter(|(_, c)| c.delivered + c.approved > 0)
                    .map(|(owner, c)| {
                        vec![
                            owner,
                            c.delivered.to_string(),
                            c.on_time.to_string(),
                            rate(c.on_time, c.delivered),
                            c.approved.to_string(),
                            c.accurate.to_string(),
                            rate(c.accurate, c.approved),
                        ]
                    })
                    .collect(),
            })
        }
        "changed-after-approval" => {
            let mut stmt = conn.prepare(
                "SELECT number, customer_name, owner, region, status, total, customer_id, created_at
                 FROM orders WHERE changed_after_approval = 1 ORDER BY number",
            )?;
            let mut rows = Vec::new();
            for row in stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, String>(4)?,
                    (
                        r.get::<_, String>(5)?,
                        r.get::<_, String>(6)?,
                        r.get::<_, String>(7)?,
                    ),
                ))
            })? {
                let (number, customer, owner, reg, status, (total, customer_id, created_at)) = row?;
                let day = business_day(schedule, &created_at);
                if in_region(&reg) && filter.admits(&owner, reg.as_deref(), Some(&customer_id), day)
                {
                    rows.push(vec![
                        number,
                        customer,
                        owner,
                        reg.unwrap_or_default(),
                        status,
                        money::cents(dec(&total)).to_string(),
                    ]);
                }
            }
            Ok(Table {
                columns: vec![
                    "order",
                    "customer",
                    "salesperson",
                    "region",
                    "status",
                    "total",
                ],
                rows,
            })
        }
        other => Err(ServerError::NotFound(format!(
            "there is no report {other}; reports: {}",
            REPORTS.join(", ")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_that_a_spreadsheet_would_run_are_escaped() {
        let t = Table {
            columns: vec!["customer", "credit_headroom"],
            rows: vec![
                vec![
                    "=HYPERLINK(\"http://x\",\"click\")".into(),
                    "-800.00".into(),
                ],
                vec!["@SUM(A1)".into(), "+5".into()],
                vec!["Hengda".into(), "100.00".into()],
            ],
        };
        let csv = t.to_csv().unwrap();
        assert!(csv.contains("\"'=HYPERLINK("), "{csv}");
        assert!(csv.contains("'@SUM(A1)"), "{csv}");
        assert!(csv.contains(",-800.00\n"), "numbers stay numbers: {csv}");
        assert!(csv.contains("Hengda,100.00"), "{csv}");
    }
}
