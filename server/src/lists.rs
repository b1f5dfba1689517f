//! Lists for head office: orders, customers, visits, complaints, daily
//! reports and devices, read from the head-office tables on a reader
//! connection (never waiting for the relay), with filters, sorting and
//! cursor pagination.
//!
//! Pagination is by keyset: a page ends with a cursor naming the sort and
//! the last row's sort value and id, and the next page starts after that
//! row, so pages stay right while phones sync and cost the same however
//! deep they go. Each list takes only the filters it has a use for and
//! refuses others by name. A salesperson sees their own rows, a manager
//! their region's, head office everything (devices: administrators only).

use std::collections::BTreeMap;

use chrono::{Days, NaiveDate};
use fieldsync_core::{Actor, ReportSchedule, Role};
use rusqlite::Connection;
use rusqlite::types::{Value, ValueRef};

use crate::error::{Result, ServerError};

/// Rows per page unless asked otherwise, and the most a page may have.
pub const DEFAULT_LIMIT: usize = 50;
/// The most rows one page may have.
pub const MAX_LIMIT: usize = 500;

/// The lists there are.
pub const LISTS: &[&str] = &[
    "orders",
    "customers",
    "visits",
    "complaints",
    "daily-reports",
    "devices",
];

/// One page of a list.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Page {
    /// The rows, each an object keyed by column.
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<serde_json::Value>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// How a filter narrows a list.
#[derive(Clone, Copy)]
enum Narrow {
    /// The column equals the value.
    Equals(&'static str),
    /// A business date range (`from`, `to`, both included) on a column of
    /// RFC 3339 instants.
    InstantFrom(&'static str),
    InstantTo(&'static str),
    /// A business date range on a column of dates.
    DateFrom(&'static str),
    DateTo(&'static str),
    /// Any of the columns contains the text (case ignored).
    Contains(&'static [&'static str]),
    /// A 0/1 column is `true` or `false`.
    Flag(&'static str),
}

/// What one list reads and how.
struct Spec {
    name: &'static str,
    /// `FROM` clause.
    from: &'static str,
    /// The unique id expression (the pagination tiebreaker).
    id: &'static str,
    /// Output columns: (name shown, SQL expression).
    columns: &'static [(&'static str, &'static str)],
    /// Sorts: (name, SQL expression); `-name` sorts descending.
    sorts: &'static [(&'static str, &'static str)],
    default_sort: &'static str,
    /// The filters it takes.
    filters: &'static [(&'static str, Narrow)],
    /// Columns of the row's salesperson and region, for who may see it.
    owner: Option<&'static str>,
    region: Option<&'static str>,
    /// Only administrators may read it.
    admin_only: bool,
}

const ORDERS: Spec = Spec {
    name: "orders",
    from: "orders",
    id: "id",
    columns: &[
        ("id", "id"),
        ("number", "number"),
        ("customer", "customer_id"),
        ("customer_name", "customer_name"),
        ("salesperson", "owner"),
        ("taken_by", "taken_by"),
        ("region", "region"),
        ("status", "status"),
        ("changed_after_approval", "changed_after_approval"),
        ("total", "total"),
        ("paid", "paid"),
        ("delivery_date", "delivery_date"),
        ("created_at", "created_at"),
    ],
    sorts: &[
        ("created_at", "created_at"),
        ("number", "number"),
        ("total", "CAST(total AS REAL)"),
        ("customer", "customer_name"),
    ],
    default_sort: "-created_at",
    filters: &[
        ("status", Narrow::Equals("status")),
        ("region", Narrow::Equals("region")),
        ("salesperson", Narrow::Equals("owner")),
        ("customer", Narrow::Equals("customer_id")),
        ("from", Narrow::InstantFrom("created_at")),
        ("to", Narrow::InstantTo("created_at")),
        ("q", Narrow::Contains(&["number", "customer_name"])),
        (
            "changed_after_approval",
            Narrow::Flag("changed_after_approval"),
        ),
    ],
    owner: Some("owner"),
    region: Some("region"),
    admin_only: false,
};

const CUSTOMERS: Spec = Spec {
    name: "customers",
    from: "customers",
    id: "id",
    columns: &[
        ("id", "id"),
        ("code", "code"),
        ("name", "name"),
        ("address", "address"),
        ("region", "region"),
        ("salesperson", "owner"),
        ("grade", "grade"),
        ("status", "status"),
        ("payment_terms", "payment_terms"),
        ("credit_days", "credit_days"),
        ("credit_limit", "credit_limit"),
        ("receivables", "receivables"),
        ("phone", "phone"),
        ("tax_number", "tax_number"),
    ],
    sorts: &[("name", "name"), ("code", "code")],
    default_sort: "name",
    filters: &[
        ("region", Narrow::Equals("region")),
        ("salesperson", Narrow::Equals("owner")),
        ("status", Narrow::Equals("status")),
        ("grade", Narrow::Equals("grade")),
        ("q", Narrow::Contains(&["name", "code"])),
    ],
    owner: Some("owner"),
    region: Some("region"),
    admin_only: false,
};

const VISITS: Spec = Spec {
    name: "visits",
    from: "visits",
    id: "id",
    columns: &[
        ("id", "id"),
        ("customer", "customer_id"),
        ("customer_name", "customer_name"),
        ("salesperson", "owner"),
        ("region", "region"),
        ("planned_start", "planned_start"),
        ("check_in", "check_in"),
        ("check_out", "check_out"),
        ("minutes", "minutes"),
        ("status", "status"),
        ("intent", "intent"),
    ],
    sorts: &[("planned_start", "planned_start")],
    default_sort: "-planned_start",
    filters: &[
        ("status", Narrow::Equals("status")),
        ("region", Narrow::Equals("region")),
        ("salesperson", Narrow::Equals("owner")),
        ("customer", Narrow::Equals("customer_id")),
        ("from", Narrow::InstantFrom("planned_start")),
        ("to", Narrow::InstantTo("planned_start")),
        ("q", Narrow::Contains(&["customer_name"])),
    ],
    owner: Some("owner"),
    region: Some("region"),
    admin_only: false,
};

const COMPLAINTS: Spec = Spec {
    name: "complaints",
    from: "complaints",
    id: "id",
    columns: &[
        ("id", "id"),
        ("customer", "customer_id"),
        ("customer_name", "customer_name"),
        ("salesperson", "owner"),
        ("region", "region"),
        ("subject", "subject"),
        ("status", "status"),
        ("recorded_at", "recorded_at"),
        ("resolved_at", "resolved_at"),
    ],
    sorts: &[("recorded_at", "recorded_at")],
    default_sort: "-recorded_at",
    filters: &[
        ("status", Narrow::Equals("status")),
        ("region", Narrow::Equals("region")),
        ("salesperson", Narrow::Equals("owner")),
        ("customer", Narrow::Equals("customer_id")),
        ("from", Narrow::InstantFrom("recorded_at")),
        ("to", Narrow::InstantTo("recorded_at")),
        ("q", Narrow::Contains(&["subject", "customer_name"])),
    ],
    owner: Some("owner"),
    region: Some("region"),
    admin_only: false,
};

const DAILY_REPORTS: Spec = Spec {
    name: "daily-reports",
    from: "daily_reports",
    id: "id",
    columns: &[
        ("id", "id"),
        ("salesperson", "owner"),
        ("region", "region"),
        ("day", "day"),
        ("submitted_at", "submitted_at"),
        ("received_at", "received_at"),
        ("due_at", "due_at"),
        ("late", "late"),
    ],
    sorts: &[("day", "day")],
    default_sort: "-day",
    filters: &[
        ("region", Narrow::Equals("region")),
        ("salesperson", Narrow::Equals("owner")),
        ("from", Narrow::DateFrom("day")),
        ("to", Narrow::DateTo("day")),
        ("late", Narrow::Flag("late")),
    ],
    owner: Some("owner"),
    region: Some("region"),
    admin_only: false,
};

const DEVICES: Spec = Spec {
    name: "devices",
    from: "devices d JOIN users u ON u.id = d.user_id",
    id: "d.id",
    columns: &[
        ("id", "d.id"),
        ("user", "d.user_id"),
        ("role", "u.role"),
        ("region", "u.region"),
        ("order_prefix", "d.order_prefix"),
        ("enrolled_at", "d.enrolled_at"),
        ("last_sync_at", "d.last_sync_at"),
        ("revoked_at", "d.revoked_at"),
        (
            "refusals_last_7_days",
            "(SELECT count(*) FROM refusals r WHERE r.device = d.id AND r.at >= strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-7 days'))",
        ),
    ],
    sorts: &[("enrolled_at", "d.enrolled_at"), ("user", "d.user_id")],
    default_sort: "-enrolled_at",
    filters: &[
        ("user", Narrow::Equals("d.user_id")),
        ("region", Narrow::Equals("u.region")),
    ],
    owner: None,
    region: None,
    admin_only: true,
};

fn spec(name: &str) -> Result<&'static Spec> {
    [
        &ORDERS,
        &CUSTOMERS,
        &VISITS,
        &COMPLAINTS,
        &DAILY_REPORTS,
        &DEVICES,
    ]
    .into_iter()
    .find(|s| s.name == name)
    .ok_or_else(|| {
        ServerError::NotFound(format!(
            "there is no list {name}; lists: {}",
            LISTS.join(", ")
        ))
    })
}

/// A cursor: the sort it belongs to, the last row's sort value and id.
#[derive(serde::Serialize, serde::Deserialize)]
struct Cursor(String, serde_json::Value, String);

fn encode_cursor(c: &Cursor) -> String {
    serde_json::to_vec(c)
        .unwrap_or_default()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn decode_cursor(s: &str) -> Option<Cursor> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect();
    serde_json::from_slice(&bytes?).ok()
}

fn to_json(v: ValueRef<'_>) -> serde_json::Value {
    match v {
        ValueRef::Null => serde_json::Value::Null,
        ValueRef::Integer(i) => i.into(),
        ValueRef::Real(f) => {
            serde_json::Number::from_f64(f).map_or(serde_json::Value::Null, Into::into)
        }
        ValueRef::Text(t) | ValueRef::Blob(t) => String::from_utf8_lossy(t).into_owned().into(),
    }
}

fn to_sql(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Number(n) => n
            .as_i64()
            .map(Value::Integer)
            .or_else(|| n.as_f64().map(Value::Real))
            .unwrap_or(Value::Null),
        serde_json::Value::String(s) => Value::Text(s.clone()),
        other => Value::Text(other.to_string()),
    }
}

fn business_date(filter: &str, v: &str) -> Result<NaiveDate> {
    v.parse().map_err(|_| {
        ServerError::BadRequest(format!(
            "{filter} must be a date like 2026-03-31, not '{v}'"
        ))
    })
}

/// A page of list `name` for `actor`, narrowed by `params` (filters and
/// `sort`, `limit`, `cursor`); business dates in the company's zone.
pub fn page(
    conn: &Connection,
    actor: &Actor,
    name: &str,
    schedule: &ReportSchedule,
    params: &BTreeMap<String, String>,
) -> Result<Page> {
    let spec = spec(name)?;
    if spec.admin_only && actor.role() != Role::Admin {
        return Err(ServerError::Forbidden(format!(
            "the {} list is for administrators",
            spec.name
        )));
    }
    let mut clauses: Vec<String> = Vec::new();
    let mut args: Vec<Value> = Vec::new();
    // Who may see which rows.
    match (actor.role(), spec.owner, spec.region) {
        (Role::Salesperson, Some(owner), _) => {
            clauses.push(format!("{owner} = ?"));
            args.push(Value::Text(actor.user().to_string()));
        }
        (Role::Manager, _, Some(region)) => {
            clauses.push(format!("{region} = ?"));
            args.push(Value::Text(actor.region().unwrap_or_default().to_string()));
        }
        _ => {}
    }
    let zone = schedule.zone();
    let start_of = |d: NaiveDate| {
        zone.instant(d.and_time(chrono::NaiveTime::MIN))
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };
    for (key, value) in params {
        if matches!(key.as_str(), "sort" | "limit" | "cursor") {
            continue;
        }
        let Some((_, narrow)) = spec.filters.iter().find(|(k, _)| k == key) else {
            let takes: Vec<&str> = spec.filters.iter().map(|(k, _)| *k).collect();
            return Err(ServerError::BadRequest(format!(
                "the {} list takes no filter {key}; it takes {}, sort, limit and cursor",
                spec.name,
                takes.join(", ")
            )));
        };
        match *narrow {
            Narrow::Equals(col) => {
                clauses.push(format!("{col} = ?"));
                args.push(Value::Text(value.clone()));
            }
            Narrow::InstantFrom(col) => {
                clauses.push(format!("{col} >= ?"));
                args.push(Value::Text(start_of(business_date(key, value)?)));
            }
            Narrow::InstantTo(col) => {
                let next = business_date(key, value)? + Days::new(1);
                clauses.push(format!("{col} < ?"));
                args.push(Value::Text(start_of(next)));
            }
            Narrow::DateFrom(col) => {
                clauses.push(format!("{col} >= ?"));
                args.push(Value::Text(business_date(key, value)?.to_string()));
            }
            Narrow::DateTo(col) => {
                clauses.push(format!("{col} <= ?"));
                args.push(Value::Text(business_date(key, value)?.to_string()));
            }
            Narrow::Contains(cols) => {
                let pattern = format!(
                    "%{}%",
                    value
                        .replace('\\', "\\\\")
                        .replace('%', "\\%")
                        .replace('_', "\\_")
                );
                let any: Vec<String> = cols
                    .iter()
                    .map(|c| format!("{c} LIKE ? ESCAPE '\\'"))
                    .collect();
                clauses.push(format!("({})", any.join(" OR ")));
                args.extend(cols.iter().map(|_| Value::Text(pattern.clone())));
            }
            Narrow::Flag(col) => {
                let flag = match value.as_str() {
                    "true" | "1" | "yes" => 1,
                    "false" | "0" | "no" => 0,
                    other => {
                        return Err(ServerError::BadRequest(format!(
                            "{key} must be true or false, not '{other}'"
                        )));
                    }
                };
                clauses.push(format!("{col} = ?"));
                args.push(Value::Integer(flag));
            }
        }
    }
    let sort_name = params
        .get("sort")
        .map(String::as_str)
        .unwrap_or(spec.default_sort);
    let (descending, bare) = match sort_name.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, sort_name),
    };
    let Some((_, sort_expr)) = spec.sorts.iter().find(|(k, _)| *k == bare) else {
        let sorts: Vec<&str> = spec.sorts.iter().map(|(k, _)| *k).collect();
        return Err(ServerError::BadRequest(format!(
            "the {} list sorts by {} (a leading - sorts descending), not {sort_name}",
            spec.name,
            sorts.join(", ")
        )));
    };
    let limit = match params.get("limit") {
        None => DEFAULT_LIMIT,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                return Err(ServerError::BadRequest(format!(
                    "limit must be a whole number from 1 to {MAX_LIMIT}, not '{l}'"
                )));
            }
        },
    };
    let order = if descending { "DESC" } else { "ASC" };
    if let Some(c) = params.get("cursor") {
        let cursor = decode_cursor(c)
            .filter(|c| c.0 == sort_name)
            .ok_or_else(|| {
                ServerError::BadRequest(
                    "the cursor is not one this list gave out for this sort; start again without it".into(),
                )
            })?;
        let op = if descending { "<" } else { ">" };
        clauses.push(format!("({sort_expr}, {}) {op} (?, ?)", spec.id));
        args.push(to_sql(&cursor.1));
        args.push(Value::Text(cursor.2));
    }
    let select: Vec<String> = spec
        .columns
        .iter()
        .map(|(_, expr)| (*expr).to_string())
        .chain([sort_expr.to_string(), spec.id.to_string()])
        .collect();
    let sql = format!(
        "SELECT {} FROM {} {} ORDER BY {sort_expr} {order}, {} {order} LIMIT {}",
        select.join(", "),
        spec.from,
        if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        },
        spec.id,
        limit + 1
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let n = spec.columns.len();
    let mut rows: Vec<(serde_json::Value, serde_json::Value, String)> = stmt
        .query_map(rusqlite::params_from_iter(args), |r| {
            let mut item = serde_json::Map::new();
            for (i, (name, _)) in spec.columns.iter().enumerate() {
                item.insert((*name).to_string(), to_json(r.get_ref(i)?));
            }
            let sort_value = to_json(r.get_ref(n)?);
            let id = match r.get_ref(n + 1)? {
                ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                other => to_json(other).to_string(),
            };
            Ok((serde_json::Value::Object(item), sort_value, id))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next_cursor = more
        .then(|| rows.last())
        .flatten()
        .map(|(_, v, id)| encode_cursor(&Cursor(sort_name.to_string(), v.clone(), id.clone())));
    Ok(Page {
        items: rows.into_iter().map(|(item, _, _)| item).collect(),
        next_cursor,
    })
}
