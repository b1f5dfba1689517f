//! What the `admin` subcommands do: CSV imports (all rows checked first;
//! nothing is imported unless every row is good), report exports, and a demo
//! company for a first run.

use chrono::{Days, Duration, TimeZone, Utc};
use fieldsync_core::sync::RelayStore;
use fieldsync_core::{
    Actor, CatalogDoc, ChangeCtx, Channel, ComplaintDoc, CustomerDoc, DailyReportDoc, Grade,
    NewComplaint, NewCustomer, NewLine, NewOrder, OFFICE_DEVICE, OrderDoc, OrderNumber,
    OrderPrefix, PaymentTerms, Priority, ProductInput, Role, Shipment, VisitDoc, VisitPlan, money,
};
use rust_decimal::Decimal;

use crate::accounts;
use crate::app::AppState;
use crate::error::{Result, ServerError};

pub use crate::import::{Imported, import_customers, import_orders, import_products, import_stock};

/// The administrator acting from the command line.
pub(crate) fn admin_actor() -> Result<Actor> {
    Ok(Actor::new("admin", Role::Admin, None, "admin-cli")?)
}

/// Writes a consistent copy of the whole database (documents, log,
/// accounts, head-office tables) to `to`, a new file. Safe while the relay
/// runs: the copy is of the last commit, and syncs go on meanwhile.
///
/// To restore: stop the relay, put the copy in place of the database (and
/// remove its `-wal` and `-shm` files), start it. Phones notice at their next
/// sync and send back everything the copy lacks (see `LogMark`).
pub fn backup(state: &AppState, to: &std::path::Path) -> Result<()> {
    if to.exists() {
        return Err(ServerError::BadRequest(format!(
            "{} already exists; back up to a new file",
            to.display()
        )));
    }
    let target = to.to_str().ok_or_else(|| {
        ServerError::BadRequest(format!("{} is not a usable file name", to.display()))
    })?;
    let mut relay = state.relay();
    relay
        .store()
        .connection()
        .execute("VACUUM INTO ?1", [target])?;
    Ok(())
}

/// A report as CSV.
pub fn export_report(state: &AppState, name: &str) -> Result<String> {
    let actor = admin_actor()?;
    let mut relay = state.relay();
    crate::reports::run(
        relay.store().connection(),
        &actor,
        name,
        &state.schedule,
        &crate::reports::Filter::default(),
    )?
    .to_csv()
}

/// What `demo` created, for the person to try things with.
#[derive(Debug)]
pub struct Demo {
    /// API tokens by user id.
    pub tokens: Vec<(String, String, String)>,
    /// An enrollment code for salesperson li.
    pub code: String,
}

/// Creates a demo company: users in two regions and every head-office role, a
/// catalog, customers, and a few days of visits, orders and reports.
pub fn demo(state: &AppState) -> Result<Demo> {
    let mut relay = state.relay();
    if !accounts::users(relay.store().connection())?.is_empty() {
        return Err(ServerError::BadRequest(
            "this database already has users; run demo on a new database (--db another.db)".into(),
        ));
    }
    let people: [(&str, &str, Role, Option<&str>); 10] = [
        ("admin", "Administrator", Role::Admin, None),
        (
            "zhao",
            "Zhao Min (manager, east)",
            Role::Manager,
            Some("east"),
        ),
        (
            "qian",
            "Qian Hui (manager, west)",
            Role::Manager,
            Some("west"),
        ),
        ("li", "Li Wei", Role::Salesperson, Some("east")),
        ("wang", "Wang Fang", Role::Salesperson, Some("east")),
        ("chen", "Chen Jie", Role::Salesperson, Some("west")),
        ("sun", "Sun Li (order desk)", Role::OrderDesk, None),
        ("zhou", "Zhou Yu (production)", Role::Production, None),
        ("wu", "Wu Gang (warehouse)", Role::Warehouse, None),
        ("zheng", "Zheng Na (finance)", Role::Finance, None),
    ];
    let mut tokens = Vec::new();
    for (id, name, role, region) in people {
        let t = accounts::create_user(relay.store().connection(), id, name, role, region)?;
        tokens.push((id.to_string(), role.as_str().to_string(), t));
    }
    let at = |days_ago: u64, hour: u32| {
        Utc.from_utc_datetime(
            &(Utc::now().date_naive() - Days::new(days_ago))
                .and_hms_opt(hour, 0, 0)
                .unwrap_or_default(),
        )
    };
    let office = |user: &str, role: Role| Actor::new(user, role, None, OFFICE_DEVICE);
    let admin = office("admin", Role::Admin)?;
    let actx = ChangeCtx::new(admin.clone(), at(7, 1));
    let mut cat = CatalogDoc::create(&actx)?;
    for (code, name, price) in [
        ("TS-1001", "Cotton shirt", "129.50"),
        ("TS-1002", "Linen shirt", "159.00"),
        ("PT-2001", "Chino trousers", "199.00"),
        ("JK-3001", "Denim jacket", "349.00"),
    ] {
        cat.upsert_product(
            &actx,
            ProductInput {
                code: code.into(),
                name: name.into(),
                spec: "S-XXL".into(),
                unit: "pcs".into(),
                list_price: money::parse_amount("price", price)?,
                active: true,
                ..Default::default()
            },
        )?;
    }
    relay.commit_edit(&admin, cat.document())?;
    let wh = office("wu", Role::Warehouse)?;
    for (code, on_hand) in [
        ("TS-1001", "300"),
        ("TS-1002", "120"),
        ("PT-2001", "80"),
        ("JK-3001", "40"),
    ] {
        cat.publish_stock(
            &ChangeCtx::new(wh.clone(), at(1, 2)),
            code,
            Some(money::parse_amount("stock", on_hand)?),
            None,
            Some(Decimal::ZERO),
        )?;
    }
    relay.commit_edit(&wh, cat.document())?;

    let mut customers = Vec::new();
    for (i, (name, region, owner, grade, terms, limit)) in [
        (
            "Hengda Textiles",
            "east",
            "li",
            Grade::A,
            PaymentTerms::Credit,
            "50000",
        ),
        (
            "Silk Road Boutique",
            "east",
            "li",
            Grade::B,
            PaymentTerms::Cash,
            "0",
        ),
        (
            "Lakeside Fashion",
            "east",
            "wang",
            Grade::B,
            PaymentTerms::Credit,
            "20000",
        ),
        (
            "Mountain Outfitters",
            "west",
            "chen",
            Grade::A,
            PaymentTerms::Credit,
            "80000",
        ),
        (
            "Riverside Style",
            "west",
            "chen",
            Grade::C,
            PaymentTerms::Credit,
            "1000",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let mut c = CustomerDoc::create(
            &ChangeCtx::new(admin.clone(), at(7, 1 + i as u32)),
            NewCustomer {
                name: name.into(),
                address: format!("{} Market Street", 10 + i),
                region: region.into(),
                owner: owner.into(),
                grade,
                payment_terms: terms,
                credit_limit: money::parse_amount("limit", limit)?,
                ..Default::default()
            },
        )?;
        relay.commit_edit(&admin, c.document())?;
        customers.push(c.read()?);
    }
    let products = [
        ("TS-1001", "129.50"),
        ("PT-2001", "199.00"),
        ("JK-3001", "349.00"),
    ];
    let mut seq = 0;
    let mut reported = std::collections::BTreeSet::new();
    for (ci, c) in customers.iter().enumerate() {
        let owner = c.meta.owner.clone();
        let region = c.meta.region.clone();
        let me = Actor::new(&owner, Role::Salesperson, region.as_deref(), "demo-phone")?;
        for day in [3u64, 1] {
            let ctx = ChangeCtx::new(me.clone(), at(day, 2 + ci as u32));
            let mut v = VisitDoc::plan(
                &ctx,
                c,
                VisitPlan {
                    planned_start: ctx.at,
                    purpose: "Present the new season".into(),
                    priority: if c.grade == Grade::A {
                        Priority::KeyCustomer
                    } else {
                        Priority::Normal
                    },
                    materials: "samples".into(),
                },
            )?;
            v.check_in(&ctx, None)?;
            v.set_conversation(&ctx, "Owner", "new season, reorders")?;
            v.check_out(
                &ChangeCtx::new(me.clone(), ctx.at + Duration::minutes(25 + 5 * ci as i64)),
                None,
            )?;
            let mut docs = vec![v.document().fork()];
            seq += 1;
            let today = state.schedule.zone().date_at(ctx.at);
            let number = OrderNumber::new(OrderPrefix::new("D01")?, today, seq)?;
            let mut o = OrderDoc::create(
                &ctx,
                c,
                NewOrder {
                    number,
                    channel: Channel::Visit,
                    reorder_kind: None,
                    delivery_date: Some(ctx.at.date_naive() + Days::new(14)),
                    evidence: "signed order form".into(),
                },
            )?;
            let (code, price) = products[(ci + day as usize) % products.len()];
            o.add_line(
                &ctx,
                NewLine {
                    product: code.into(),
                    name: code.into(),
                    variant: "mixed sizes".into(),
                    unit: "pcs".into(),
                    quantity: Decimal::from(10 + 5 * ci as i64),
                    unit_price: money::parse_amount("price", price)?,
                    discount_percent: Decimal::ZERO,
                },
            )?;
            o.submit(&ctx)?;
            docs.push(o.document().fork());
            relay.commit_edits(&me, &mut docs)?;
            if day == 3 {
                let mgr = if region.as_deref() == Some("east") {
                    Actor::new("zhao", Role::Manager, Some("east"), OFFICE_DEVICE)?
                } else {
                    Actor::new("qian", Role::Manager, Some("west"), OFFICE_DEVICE)?
                };
                let mctx = ChangeCtx::new(mgr.clone(), at(2, 1));
                let orders = relay.store().orders_of(c.id())?;
                if o.approve(&mctx, (c, &orders[..]), None).is_ok() {
                    relay.commit_edit(&mgr, o.document())?;
                    let desk = office("sun", Role::OrderDesk)?;
                    o.confirm(&ChangeCtx::new(desk.clone(), at(2, 3)))?;
                    relay.commit_edit(&desk, o.document())?;
                    if c.payment_terms == PaymentTerms::Credit {
                        let w = office("wu", Role::Warehouse)?;
                        let wctx = ChangeCtx::new(w.clone(), at(1, 1));
                        o.mark_in_stock(&wctx)?;
                        let orders = relay.store().orders_of(c.id())?;
                        if o.ship(
                            &wctx,
                            (c, &orders[..]),
                            Shipment {
                                carrier: "SF Express".into(),
                                tracking: format!("SF{seq:08}"),
                                notice: String::new(),
                            },
                            None,
                        )
                        .is_ok()
                        {
                            relay.commit_edit(&w, o.document())?;
                        }
                    }
                }
            }
        }
        if reported.insert(owner.clone()) {
            let mut r = DailyReportDoc::create(
                &ChangeCtx::new(me.clone(), at(1, 9)),
                at(1, 0).date_naive(),
            )?;
            r.write(
                &ChangeCtx::new(me.clone(), at(1, 10)),
                "Visits and orders",
                "",
                "Follow up on samples",
            )?;
            r.submit(&ChangeCtx::new(me.clone(), at(1, 11)))?;
            relay.commit_edit(&me, r.document())?;
        }
        if ci == 0 {
            let mut complaint = ComplaintDoc::record(
                &ChangeCtx::new(me.clone(), at(1, 3)),
                c,
                NewComplaint {
                    subject: "Colour fades after washing".into(),
                    description: "TS-1001 red".into(),
                    visit: None,
                    order: None,
                    apologised: true,
                },
            )?;
            relay.commit_edit(&me, complaint.document())?;
        }
    }
    let (code, _) = accounts::issue_code(relay.store().connection(), "li", Duration::days(7))?;
    Ok(Demo { tokens, code })
}
