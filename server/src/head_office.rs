//! The head-office database: plain relational tables, rewritten for a document
//! in the same transaction that stores each accepted change, so reports, BI
//! tools and the ERP read SQL rather than CRDT bytes.
//!
//! Money and quantities are TEXT holding exact decimals (`CAST(total AS REAL)`
//! in ad-hoc SQL is fine; reports sum them exactly). Times are RFC 3339 UTC;
//! those a phone's clock gives (an order's creation, its steps, visit
//! check-ins) are recorded no later than when the relay first received them.

use fieldsync_core::store::{Migration, Projection, migrate};
use fieldsync_core::{Content, ReportSchedule};
use rusqlite::{Connection, OptionalExtension, params};

/// The schema, one table per business object and its parts.
pub const SCHEMA: &str = "
    CREATE TABLE customers (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, address TEXT NOT NULL,
        region TEXT, owner TEXT NOT NULL, grade TEXT NOT NULL, status TEXT NOT NULL,
        payment_terms TEXT NOT NULL, credit_days INTEGER NOT NULL,
        credit_limit TEXT NOT NULL, receivables TEXT NOT NULL
    );
    CREATE TABLE products (
        code TEXT PRIMARY KEY, name TEXT NOT NULL, spec TEXT NOT NULL, unit TEXT NOT NULL,
        list_price TEXT NOT NULL, active INTEGER NOT NULL,
        on_hand TEXT NOT NULL, in_production TEXT NOT NULL, reserved TEXT NOT NULL, stock_as_of TEXT
    );
    CREATE TABLE orders (
        id TEXT PRIMARY KEY, number TEXT NOT NULL, customer_id TEXT NOT NULL, customer_name TEXT NOT NULL,
        owner TEXT NOT NULL, region TEXT, channel TEXT NOT NULL, status TEXT NOT NULL,
        changed_after_approval INTEGER NOT NULL, total TEXT NOT NULL, paid TEXT NOT NULL,
        delivery_date TEXT, created_at TEXT NOT NULL, split_from TEXT, merged_into TEXT
    );
    CREATE INDEX orders_by_status ON orders(status);
    CREATE TABLE order_lines (
        order_id TEXT NOT NULL, line_id TEXT NOT NULL, product TEXT NOT NULL, name TEXT NOT NULL,
        variant TEXT NOT NULL, unit TEXT NOT NULL, quantity TEXT NOT NULL, unit_price TEXT NOT NULL,
        discount_percent TEXT NOT NULL, line_total TEXT NOT NULL,
        PRIMARY KEY (order_id, line_id)
    );
    CREATE TABLE order_events (
        order_id TEXT NOT NULL, event_id TEXT NOT NULL, seq INTEGER NOT NULL, action TEXT NOT NULL,
        from_status TEXT NOT NULL, to_status TEXT NOT NULL, user_id TEXT NOT NULL, role TEXT NOT NULL,
        device TEXT NOT NULL, at TEXT NOT NULL, reason TEXT NOT NULL, credit_override INTEGER NOT NULL,
        superseded INTEGER NOT NULL,
        PRIMARY KEY (order_id, event_id)
    );
    CREATE TABLE payments (
        order_id TEXT NOT NULL, payment_id TEXT NOT NULL, amount TEXT NOT NULL,
        received_at TEXT NOT NULL, reference TEXT NOT NULL, recorded_by TEXT NOT NULL,
        PRIMARY KEY (order_id, payment_id)
    );
    CREATE TABLE visits (
        id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, customer_name TEXT NOT NULL,
        owner TEXT NOT NULL, region TEXT, planned_start TEXT NOT NULL, check_in TEXT, check_out TEXT,
        minutes INTEGER, status TEXT NOT NULL, contact TEXT NOT NULL, intent TEXT NOT NULL
    );
    CREATE TABLE complaints (
        id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, customer_name TEXT NOT NULL,
        owner TEXT NOT NULL, region TEXT, subject TEXT NOT NULL, status TEXT NOT NULL,
        recorded_at TEXT NOT NULL, resolved_at TEXT
    );
    -- late: received_at (relay clock) after due_at; submitted_at is the phone's clock.
    CREATE TABLE daily_reports (
        id TEXT PRIMARY KEY, owner TEXT NOT NULL, region TEXT, day TEXT NOT NULL,
        submitted_at TEXT, due_at TEXT NOT NULL, late INTEGER
    );
";

const MIGRATIONS: &[Migration] = &[
    Migration {
        sql: SCHEMA,
        backfill: None,
    },
    // 2: when the relay first received a report's submission: the trustworthy
    // time that decides lateness (phone clocks can be wrong by days).
    Migration {
        sql: "ALTER TABLE daily_reports ADD COLUMN received_at TEXT;
              UPDATE daily_reports SET received_at = submitted_at WHERE submitted_at IS NOT NULL;",
        backfill: None,
    },
    // 3: the audit log of refused changes.
    Migration {
        sql: "CREATE TABLE refusals (
                  at TEXT NOT NULL, user_id TEXT NOT NULL, device TEXT NOT NULL,
                  document TEXT NOT NULL, reason TEXT NOT NULL
              );",
        backfill: None,
    },
    // 4: how an order ended up (for an archived order, the status it was
    // archived from): what the sales reports count.
    Migration {
        sql: "ALTER TABLE orders ADD COLUMN outcome TEXT NOT NULL DEFAULT '';
              UPDATE orders SET outcome = status WHERE status != 'archived';
              UPDATE orders SET outcome = coalesce((
                  SELECT e.from_status FROM order_events e
                  WHERE e.order_id = orders.id AND e.action = 'Archive' AND e.superseded = 0
                  ORDER BY e.seq DESC LIMIT 1), 'settled')
              WHERE status = 'archived';",
        backfill: None,
    },
    // 5: who took the order (its creator), besides the customer's owner it
    // is filed under: sales can be credited either way. Older rows take the
    // first to hand the order in.
    Migration {
        sql: "ALTER TABLE orders ADD COLUMN taken_by TEXT NOT NULL DEFAULT '';
              UPDATE orders SET taken_by = coalesce((
                  SELECT e.user_id FROM order_events e
                  WHERE e.order_id = orders.id AND e.action = 'Submit'
                  ORDER BY e.seq LIMIT 1), owner);",
        backfill: None,
    },
    // 6: the business keys and contact details of customers (code, phone,
    // tax number, contacts) and products' categories. Documents written
    // before carry none of them, so the defaults are what they say.
    Migration {
        sql: "ALTER TABLE customers ADD COLUMN code TEXT NOT NULL DEFAULT '';
              ALTER TABLE customers ADD COLUMN phone TEXT NOT NULL DEFAULT '';
              ALTER TABLE customers ADD COLUMN tax_number TEXT NOT NULL DEFAULT '';
              CREATE INDEX customers_by_code ON customers(code);
              CREATE TABLE customer_contacts (
                  customer_id TEXT NOT NULL, contact_id TEXT NOT NULL, name TEXT NOT NULL,
                  phone TEXT NOT NULL, title TEXT NOT NULL,
                  PRIMARY KEY (customer_id, contact_id)
              );
              ALTER TABLE products ADD COLUMN category TEXT NOT NULL DEFAULT '';",
        backfill: None,
    },
    // 7: the console's and the API's order lists, newest first, all of them
    // or a region's or a salesperson's, paged by (created_at, id).
    Migration {
        sql: "CREATE INDEX orders_by_created ON orders(created_at, id);
              CREATE INDEX orders_by_region_created ON orders(region, created_at, id);
              CREATE INDEX orders_by_owner_created ON orders(owner, created_at, id);
              CREATE INDEX orders_by_status_created ON orders(status, created_at, id);",
        backfill: None,
    },
];

/// Records refused changes in the `refusals` table.
pub fn log_refusals(
    conn: &Connection,
    actor: &fieldsync_core::Actor,
    refused: &[(String, String)],
) -> fieldsync_core::Result<()> {
    let at = ts(chrono::Utc::now());
    for (doc, reason) in refused {
        conn.execute(
            "INSERT INTO refusals (at, user_id, device, document, reason) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![at, actor.user(), actor.device(), doc, reason],
        )?;
    }
    Ok(())
}

/// Creates the head-office tables, or brings them up to date.
pub fn migrate_head_office(conn: &mut Connection) -> fieldsync_core::Result<()> {
    migrate(conn, "head_office", MIGRATIONS)?;
    Ok(())
}

/// Rewrites a document's rows whenever the relay accepts a change to it.
pub struct HeadOffice {
    /// When daily reports are due.
    pub schedule: ReportSchedule,
}

fn cents(d: rust_decimal::Decimal) -> String {
    fieldsync_core::money::cents(d).to_string()
}

/// Runs a statement, prepared once per connection: the projection runs the
/// same few statements for every accepted document.
fn exec(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<usize> {
    conn.prepare_cached(sql)?.execute(params)
}

fn ts(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A time a device's clock gave (`claimed`), as head office records it:
/// never later than the relay's clock when it first heard of it, so a
/// phone whose clock runs ahead cannot date sales or visits into the
/// future. `recorded` is what an earlier projection stored (kept if
/// earlier); something new is bounded by now.
fn bounded(claimed: chrono::DateTime<chrono::Utc>, recorded: Option<&str>) -> String {
    let limit = recorded
        .and_then(|r| chrono::DateTime::parse_from_rfc3339(r).ok())
        .map(|r| r.with_timezone(&chrono::Utc))
        .unwrap_or_else(chrono::Utc::now);
    ts(claimed.min(limit))
}

/// One stored time of a row, if the row is there.
fn stored_time(conn: &Connection, sql: &str, id: &str) -> rusqlite::Result<Option<String>> {
    Ok(conn
        .prepare_cached(sql)?
        .query_row([id], |r| r.get::<_, Option<String>>(0))
        .optional()?
        .flatten())
}

impl Projection for HeadOffice {
    fn project(&self, conn: &Connection, content: &Content) -> fieldsync_core::Result<()> {
        let m = content.meta();
        let id = m.id.to_string();
        match content {
            Content::Customer(c) => {
                exec(
                    conn,
                    "INSERT OR REPLACE INTO customers VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                    params![
                        id,
                        c.name,
                        c.address,
                        m.region,
                        m.owner,
                        format!("{:?}", c.grade),
                        format!("{:?}", c.status).to_lowercase(),
                        format!("{:?}", c.payment_terms).to_lowercase(),
                        c.credit_days,
                        c.credit_limit.to_string(),
                        c.receivables.to_string(),
                        c.code,
                        c.phone,
                        c.tax_number
                    ],
                )?;
                exec(
                    conn,
                    "DELETE FROM customer_contacts WHERE customer_id = ?1",
                    [&id],
                )?;
                for (cid, k) in &c.contacts {
                    exec(
                        conn,
                        "INSERT INTO customer_contacts VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![id, cid, k.name, k.phone, k.title],
                    )?;
                }
            }
            Content::Catalog(c) => {
                for p in c.products.values() {
                    exec(
                        conn,
                        "INSERT OR REPLACE INTO products VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                        params![
                            p.code,
                            p.name,
                            p.spec,
                            p.unit,
                            p.list_price.to_string(),
                            p.active,
                            p.stock.on_hand.to_string(),
                            p.stock.in_production.to_string(),
                            p.stock.reserved.to_string(),
                            p.stock.as_of.map(ts),
                            p.category
                        ],
                    )?;
                }
            }
            Content::Order(o) => {
                let derived = o.derived();
                let created =
                    stored_time(conn, "SELECT created_at FROM orders WHERE id = ?1", &id)?;
                let step_times: std::collections::HashMap<String, String> = conn
                    .prepare_cached("SELECT event_id, at FROM order_events WHERE order_id = ?1")?
                    .query_map([&id], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<rusqlite::Result<_>>()?;
                exec(
                    conn,
                    "INSERT OR REPLACE INTO orders VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
                    params![
                        id,
                        o.number,
                        o.customer.to_string(),
                        o.customer_name,
                        m.owner,
                        m.region,
                        format!("{:?}", o.channel),
                        o.status().as_str(),
                        o.changed_after_approval(),
                        cents(o.total()),
                        cents(o.paid()),
                        o.delivery_date.map(|d| d.to_string()),
                        bounded(m.created_at, created.as_deref()),
                        o.split_from,
                        o.merged_into,
                        derived.outcome.as_str(),
                        m.created_by
                    ],
                )?;
                for table in ["order_lines", "order_events", "payments"] {
                    exec(
                        conn,
                        &format!("DELETE FROM {table} WHERE order_id = ?1"),
                        [&id],
                    )?;
                }
                for (lid, l) in &o.lines {
                    exec(
                        conn,
                        "INSERT INTO order_lines VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                        params![
                            id,
                            lid,
                            l.product,
                            l.name,
                            l.variant,
                            l.unit,
                            l.quantity.to_string(),
                            l.unit_price.to_string(),
                            l.discount_percent.to_string(),
                            cents(l.total())
                        ],
                    )?;
                }
                for (i, e) in o.events.iter().enumerate() {
                    exec(
                        conn,
                        "INSERT INTO order_events VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                        params![
                            id,
                            e.id,
                            i as i64,
                            format!("{:?}", e.action),
                            e.from.as_str(),
                            e.to.as_str(),
                            e.user,
                            e.role,
                            e.device,
                            bounded(e.at, step_times.get(&e.id).map(String::as_str)),
                            e.reason,
                            e.credit_override,
                            derived.superseded.contains(&e.id)
                        ],
                    )?;
                }
                for (pid, p) in &o.payments {
                    exec(
                        conn,
                        "INSERT INTO payments VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        params![
                            id,
                            pid,
                            p.amount.to_string(),
                            ts(p.received_at),
                            p.reference,
                            p.recorded_by
                        ],
                    )?;
                }
            }
            Content::Visit(v) => {
                let status = format!("{:?}", v.status()).to_lowercase();
                let (checked_in, checked_out): (Option<String>, Option<String>) = conn
                    .prepare_cached("SELECT check_in, check_out FROM visits WHERE id = ?1")?
                    .query_row([&id], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?
                    .unwrap_or_default();
                exec(
                    conn,
                    "INSERT OR REPLACE INTO visits VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                    params![
                        id,
                        v.customer.to_string(),
                        v.customer_name,
                        m.owner,
                        m.region,
                        ts(v.plan.planned_start),
                        v.check_in
                            .as_ref()
                            .map(|s| bounded(s.at, checked_in.as_deref())),
                        v.check_out
                            .as_ref()
                            .map(|s| bounded(s.at, checked_out.as_deref())),
                        v.length_minutes(),
                        status,
                        v.contact,
                        v.outcome.intent
                    ],
                )?;
            }
            Content::Complaint(c) => {
                exec(
                    conn,
                    "INSERT OR REPLACE INTO complaints VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![
                        id,
                        c.customer.to_string(),
                        c.customer_name,
                        m.owner,
                        m.region,
                        c.subject,
                        c.status().in_words(),
                        ts(m.created_at),
                        c.resolved_at().map(ts)
                    ],
                )?;
            }
            Content::DailyReport(r) => {
                // The phone's submission time is only as good as its clock; the
                // relay's own clock when it first saw the submission decides.
                let received: Option<String> = conn
                    .prepare_cached("SELECT received_at FROM daily_reports WHERE id = ?1")?
                    .query_row([&id], |row| row.get(0))
                    .optional()?
                    .flatten();
                let received = match (received, r.submitted_at()) {
                    (Some(at), _) => Some(at),
                    (None, Some(_)) => Some(ts(chrono::Utc::now())),
                    (None, None) => None,
                };
                let due = self.schedule.due_at(r.date);
                let late = received.as_deref().map(|at| at > ts(due).as_str());
                exec(conn,
                    "INSERT OR REPLACE INTO daily_reports (id, owner, region, day, submitted_at, due_at, late, received_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![
                        id,
                        m.owner,
                        m.region,
                        r.date.to_string(),
                        r.submitted_at().map(ts),
                        ts(due),
                        late,
                        received
                    ],
                )?;
            }
        }
        Ok(())
    }
}
