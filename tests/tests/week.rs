//! A sales department's week, end to end: the real relay process, real phone
//! stores, head office through the API, and exact figures at the end.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{Duration, NaiveDate, Utc};
use fieldsync_core::store::SqliteRelayStore;
use fieldsync_core::sync::RelayStore;
use fieldsync_core::*;
use fieldsync_tests::*;
use rust_decimal::Decimal;
use serde_json::json;

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn customer_named(p: &Phone, name: &str) -> Customer {
    p.store
        .list_kind(DocKind::Customer)
        .unwrap()
        .into_iter()
        .find(|e| e.title == name)
        .map(|e| p.store.load(e.id).unwrap().view::<Customer>().unwrap())
        .unwrap_or_else(|| panic!("{name} is not on the phone"))
}

fn order(
    p: &mut Phone,
    c: &Customer,
    channel: Channel,
    kind: Option<ReorderKind>,
    lines: &[(&str, &str, &str)],
) -> OrderDoc {
    let ctx = p.ctx();
    let number = p.store.next_order_number(Utc::now().date_naive()).unwrap();
    let mut o = OrderDoc::create(
        &ctx,
        c,
        NewOrder {
            number,
            channel,
            reorder_kind: kind,
            delivery_date: None,
            evidence: "signed form".into(),
        },
    )
    .unwrap();
    for (product, qty, price) in lines {
        o.add_line(
            &ctx,
            NewLine {
                product: product.to_string(),
                name: product.to_string(),
                variant: "mixed".into(),
                unit: "pcs".into(),
                quantity: d(qty),
                unit_price: d(price),
                discount_percent: Decimal::ZERO,
            },
        )
        .unwrap();
    }
    p.store.save(o.document()).unwrap();
    o
}

fn edit_order(p: &mut Phone, id: DocId, f: impl FnOnce(&mut OrderDoc, &ChangeCtx)) {
    let mut o = OrderDoc::from_document(p.store.load(id).unwrap()).unwrap();
    let ctx = p.ctx();
    f(&mut o, &ctx);
    p.store.save(o.document()).unwrap();
}

fn visit(p: &mut Phone, c: &Customer, minutes: i64) -> DocId {
    let start = Utc::now() - Duration::hours(3);
    let at = |m: i64| ChangeCtx::new(p.actor.clone(), start + Duration::minutes(m));
    let mut v = VisitDoc::plan(
        &at(0),
        c,
        VisitPlan {
            planned_start: start,
            purpose: "weekly call".into(),
            priority: Priority::Normal,
            materials: String::new(),
        },
    )
    .unwrap();
    v.check_in(&at(0), None).unwrap();
    v.add_note(&at(5), "talked about the new season").unwrap();
    v.check_out(&at(minutes), None).unwrap();
    p.store.save(v.document()).unwrap();
    v.read().unwrap().id()
}

fn report(p: &mut Phone, day: NaiveDate) {
    let mut r = DailyReportDoc::create(&p.ctx(), day).unwrap();
    r.write(&p.ctx(), "visits and orders", "", "follow up")
        .unwrap();
    r.submit(&p.ctx()).unwrap();
    p.store.save(r.document()).unwrap();
}

#[test]
fn a_sales_departments_week() {
    let dir = tempfile::tempdir().unwrap();
    let mut relay = RelayProcess::new(dir.path());
    let tok =
        |r: &RelayProcess, id: &str, role: &str, region: Option<&str>| r.user(id, role, region);
    let admin = tok(&relay, "root", "admin", None);
    for (id, region) in [("li", "east"), ("wang", "east"), ("chen", "west")] {
        tok(&relay, id, "salesperson", Some(region));
    }
    let zhao = tok(&relay, "zhao", "manager", Some("east"));
    let qian = tok(&relay, "qian", "manager", Some("west"));
    let desk = tok(&relay, "sun", "order_desk", None);
    let prod = tok(&relay, "zhou", "production", None);
    let wh = tok(&relay, "wu", "warehouse", None);
    let fin = tok(&relay, "zheng", "finance", None);
    // The catalog and the customers come in from CSV.
    let customers_csv = dir.path().join("customers.csv");
    std::fs::write(
        &customers_csv,
        "code,name,address,region,owner,grade,payment_terms,credit_limit\n\
         E-001,Hengda Textiles,1 Silk Road,east,li,A,credit,1000\n\
         E-002,Lakeside Fashion,2 Lake Road,east,wang,B,credit,5000\n\
         W-001,Mountain Outfitters,3 Hill Road,west,chen,A,credit,2000\n",
    )
    .unwrap();
    relay.admin(&["import-customers", customers_csv.to_str().unwrap()]);
    let products_csv = dir.path().join("products.csv");
    std::fs::write(
        &products_csv,
        "code,name,spec,unit,list_price\nTS-1,Shirt,S-XL,pcs,50\nJK-1,Jacket,S-XL,pcs,100\n",
    )
    .unwrap();
    relay.admin(&["import-products", products_csv.to_str().unwrap()]);
    let codes: Vec<String> = ["li", "wang", "chen"]
        .iter()
        .map(|u| relay.code(u))
        .collect();
    relay.start();
    let url = relay.url();
    let mut li = Phone::enroll(&url, dir.path(), "li", &codes[0]);
    let mut wang = Phone::enroll(&url, dir.path(), "wang", &codes[1]);
    let mut chen = Phone::enroll(&url, dir.path(), "chen", &codes[2]);
    for p in [&mut li, &mut wang, &mut chen] {
        p.sync().unwrap();
    }
    assert_eq!(
        li.store.list_kind(DocKind::Customer).unwrap().len(),
        1,
        "li sees only his customer"
    );
    assert_eq!(
        li.store.list_kind(DocKind::Catalog).unwrap().len(),
        1,
        "everyone sees the catalog"
    );

    // ---- Monday, offline in the field ----
    let hengda = customer_named(&li, "Hengda Textiles");
    visit(&mut li, &hengda, 25);
    let mut prospect = CustomerDoc::create_prospect(&li.ctx(), "New Shop", "9 New Road").unwrap();
    li.store.save(prospect.document()).unwrap();
    let new_shop = prospect.read().unwrap();
    visit(&mut li, &new_shop, 35);
    let mut complaint = ComplaintDoc::record(
        &li.ctx(),
        &hengda,
        NewComplaint {
            subject: "late delivery".into(),
            description: "last order a week late".into(),
            visit: None,
            order: None,
            apologised: true,
        },
    )
    .unwrap();
    li.store.save(complaint.document()).unwrap();
    let complaint_id = complaint.read().unwrap().id();
    let mut o1 = order(
        &mut li,
        &hengda,
        Channel::Visit,
        None,
        &[("TS-1", "10", "50")],
    );
    o1.submit(&li.ctx()).unwrap();
    li.store.save(o1.document()).unwrap();
    let o1 = o1.read().unwrap().id();
    let mut o2 = order(
        &mut li,
        &hengda,
        Channel::Reorder,
        Some(ReorderKind::SizeRefill),
        &[("TS-1", "4", "50")],
    );
    o2.submit(&li.ctx()).unwrap();
    li.store.save(o2.document()).unwrap();
    let o2 = o2.read().unwrap().id();
    report(&mut li, Utc::now().date_naive());

    let lakeside = customer_named(&wang, "Lakeside Fashion");
    visit(&mut wang, &lakeside, 30);
    // Two small orders merged into one; a big one split in two for two deliveries.
    let mut a = order(
        &mut wang,
        &lakeside,
        Channel::Phone,
        None,
        &[("JK-1", "2", "100")],
    );
    let mut b = order(
        &mut wang,
        &lakeside,
        Channel::Phone,
        None,
        &[("JK-1", "3", "100"), ("TS-1", "2", "50")],
    );
    b.merge_from(&wang.ctx(), &mut a).unwrap();
    b.submit(&wang.ctx()).unwrap();
    wang.store.save(a.document()).unwrap();
    wang.store.save(b.document()).unwrap();
    let merged = b.read().unwrap().id();
    let mut big = order(
        &mut wang,
        &lakeside,
        Channel::Visit,
        None,
        &[("TS-1", "20", "50"), ("JK-1", "10", "100")],
    );
    let jk_line = big
        .read()
        .unwrap()
        .lines
        .iter()
        .find(|(_, l)| l.product == "JK-1")
        .unwrap()
        .0
        .clone();
    let number = wang
        .store
        .next_order_number(Utc::now().date_naive())
        .unwrap();
    let mut part = big.split(&wang.ctx(), &[jk_line], number).unwrap();
    big.submit(&wang.ctx()).unwrap();
    part.submit(&wang.ctx()).unwrap();
    wang.store.save(big.document()).unwrap();
    wang.store.save(part.document()).unwrap();
    let (big, part) = (big.read().unwrap().id(), part.read().unwrap().id());
    report(&mut wang, Utc::now().date_naive());

    let mountain = customer_named(&chen, "Mountain Outfitters");
    visit(&mut chen, &mountain, 40);
    let mut o6 = order(
        &mut chen,
        &mountain,
        Channel::OrderFair,
        None,
        &[("JK-1", "5", "100")],
    );
    o6.submit(&chen.ctx()).unwrap();
    chen.store.save(o6.document()).unwrap();
    let o6 = o6.read().unwrap().id();
    report(&mut chen, Utc::now().date_naive() - Duration::days(5)); // a week-old report, late

    // ---- Back in the car: everyone syncs ----
    for p in [&mut li, &mut wang, &mut chen] {
        let s = p.sync().unwrap();
        assert!(s.refused.is_empty(), "{s:?}");
    }

    // ---- Head office ----
    let post = |token: &str, path: String, body: serde_json::Value| {
        let a = relay.api(token).post(&path, body);
        assert_eq!(
            a.status,
            200,
            "{path}: {}",
            String::from_utf8_lossy(&a.body)
        );
        a.json()
    };
    for o in [o1, o2] {
        post(&zhao, format!("/v1/orders/{o}/approve"), json!({}));
    }
    for o in [merged, big, part] {
        post(&zhao, format!("/v1/orders/{o}/approve"), json!({}));
    }
    post(&qian, format!("/v1/orders/{o6}/approve"), json!({}));
    post(
        &desk,
        format!("/v1/complaints/{complaint_id}/resolve"),
        json!({"resolution": "expedited the next delivery"}),
    );

    // Li sees the approvals, edits o1 offline (12 instead of 10), a manager re-approves.
    li.sync().unwrap();
    let line = OrderDoc::from_document(li.store.load(o1).unwrap())
        .unwrap()
        .read()
        .unwrap()
        .lines
        .keys()
        .next()
        .unwrap()
        .clone();
    edit_order(&mut li, o1, |o, ctx| {
        o.set_quantity(ctx, &line, d("12")).unwrap()
    });
    let mut c = ComplaintDoc::from_document(li.store.load(complaint_id).unwrap()).unwrap();
    c.report_back(&li.ctx(), "told Mr Chen").unwrap();
    li.store.save(c.document()).unwrap();
    li.sync().unwrap();
    assert_eq!(
        relay.api(&zhao).get(&format!("/v1/orders/{o1}")).json()["status"],
        "changed_after_approval"
    );
    let rows = relay
        .api(&admin)
        .get("/v1/reports/changed-after-approval")
        .json();
    assert_eq!(rows.as_array().unwrap().len(), 1);
    post(&zhao, format!("/v1/orders/{o1}/approve"), json!({}));

    // o1 goes through production to shipping.
    post(&desk, format!("/v1/orders/{o1}/confirm"), json!({}));
    post(
        &prod,
        format!("/v1/orders/{o1}/start-production"),
        json!({"expected_finish": "2026-12-01"}),
    );
    post(&wh, format!("/v1/orders/{o1}/in-stock"), json!({}));
    post(
        &wh,
        format!("/v1/orders/{o1}/ship"),
        json!({"carrier": "SF", "tracking": "SF1"}),
    );
    post(&desk, format!("/v1/orders/{o1}/deliver"), json!({}));
    // Finance publishes 300 of older receivables: with o1 delivered and not
    // yet paid (600), o2 (200 unpaid) would take Hengda's exposure to 1,100
    // of its 1,000 limit, so shipping is blocked ...
    post(
        &fin,
        format!("/v1/customers/{}/receivables", hengda.id()),
        json!({"amount": "300"}),
    );
    post(&desk, format!("/v1/orders/{o2}/confirm"), json!({}));
    post(&wh, format!("/v1/orders/{o2}/in-stock"), json!({}));
    let blocked = relay
        .api(&wh)
        .post(&format!("/v1/orders/{o2}/ship"), json!({}));
    assert_eq!(blocked.status, 409, "{}", blocked.error());
    assert!(
        blocked.error().contains("credit hold"),
        "{}",
        blocked.error()
    );
    // ... until the payment arrives.
    post(
        &fin,
        format!("/v1/orders/{o2}/payments"),
        json!({"amount": "200", "reference": "bank 42"}),
    );
    post(&wh, format!("/v1/orders/{o2}/ship"), json!({}));
    // o1 is paid, settled and archived.
    post(
        &fin,
        format!("/v1/orders/{o1}/payments"),
        json!({"amount": "600.00", "reference": "bank 43"}),
    );
    post(&fin, format!("/v1/orders/{o1}/settle"), json!({}));
    post(&fin, format!("/v1/orders/{o1}/archive"), json!({}));
    // The west order is confirmed and in production.
    post(&desk, format!("/v1/orders/{o6}/confirm"), json!({}));
    post(
        &prod,
        format!("/v1/orders/{o6}/start-production"),
        json!({}),
    );

    // ---- Everyone syncs again; every document is the same everywhere ----
    for _ in 0..2 {
        for p in [&mut li, &mut wang, &mut chen] {
            let s = p.sync().unwrap();
            assert!(s.refused.is_empty(), "{s:?}");
        }
    }
    let mut store = SqliteRelayStore::open(&relay.db).unwrap();
    let mut seen = 0;
    for p in [&li, &wang, &chen] {
        for kind in DocKind::ALL {
            for id in p.store.ids(kind).unwrap() {
                let mut mine = p.store.load(id).unwrap();
                let mut theirs = store.load(id).unwrap().expect("on the relay");
                let (mut a, mut b) = (mine.heads(), theirs.heads());
                a.sort();
                b.sort();
                assert_eq!(
                    a,
                    b,
                    "{kind} {id} differs between {} and the relay",
                    p.actor.user()
                );
                assert!(may_see(&p.actor, theirs.meta()));
                seen += 1;
            }
        }
        // And the phone holds every document it may see.
        for id in store.ids().unwrap() {
            let doc = store.load(id).unwrap().unwrap();
            assert_eq!(
                p.store.contains(id).unwrap(),
                may_see(&p.actor, doc.meta()),
                "{id} for {}",
                p.actor.user()
            );
        }
    }
    assert!(seen > 20);
    let on_phone = |p: &Phone, id: DocId| {
        OrderDoc::from_document(p.store.load(id).unwrap())
            .unwrap()
            .read()
            .unwrap()
            .status()
    };
    assert_eq!(on_phone(&li, o1), OrderStatus::Archived);
    assert_eq!(on_phone(&li, o2), OrderStatus::Shipped);
    assert_eq!(on_phone(&chen, o6), OrderStatus::InProduction);

    // ---- The head-office tables and every report, exactly ----
    let get = |name: &str| relay.api(&admin).get(&format!("/v1/reports/{name}")).json();
    assert_eq!(
        get("sales-by-salesperson"),
        json!([
            {"salesperson": "chen", "credited_as": "customer's owner", "orders": "1", "amount": "500.00"},
            {"salesperson": "li", "credited_as": "customer's owner", "orders": "2", "amount": "800.00"},
            {"salesperson": "wang", "credited_as": "customer's owner", "orders": "3", "amount": "2600.00"},
        ])
    );
    assert_eq!(
        get("sales-by-region"),
        json!([{"region": "east", "orders": "5", "amount": "3400.00"}, {"region": "west", "orders": "1", "amount": "500.00"}])
    );
    assert_eq!(
        get("sales-by-product"),
        json!([{"product": "JK-1", "quantity": "20", "amount": "2000.00"}, {"product": "TS-1", "quantity": "38", "amount": "1900.00"}])
    );
    let kpis = get("visit-kpis");
    let kpi = |who: &str| {
        kpis.as_array()
            .unwrap()
            .iter()
            .find(|k| k["salesperson"] == who)
            .unwrap()
            .clone()
    };
    assert_eq!(
        (
            kpi("li")["visits"].as_str(),
            kpi("li")["average_minutes"].as_str()
        ),
        (Some("2"), Some("30"))
    );
    assert_eq!(kpi("li")["new_customer_visits"], "2");
    assert_eq!(
        (
            kpi("chen")["visits"].as_str(),
            kpi("chen")["average_minutes"].as_str()
        ),
        (Some("1"), Some("40"))
    );
    let reports = get("daily-reports");
    let late: Vec<(&str, &str)> = reports
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["salesperson"].as_str().unwrap(),
                r["late"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(
        late.contains(&("chen", "1"))
            && late.contains(&("li", "0"))
            && late.contains(&("wang", "0")),
        "{late:?}"
    );
    assert_eq!(
        get("production"),
        json!([
            {"product": "JK-1", "ordered": "20", "in_production": "0", "on_hand": "0", "reserved": "0"},
            {"product": "TS-1", "ordered": "22", "in_production": "0", "on_hand": "0", "reserved": "0"},
        ])
    );
    let recv = get("receivables");
    let h = recv
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["customer"] == "Hengda Textiles")
        .unwrap();
    assert_eq!(h["receivables_published"], "300.00");
    assert_eq!(h["open_orders_unpaid"], "0.00");
    assert_eq!(h["credit_exposure"], "300.00");
    assert_eq!(h["credit_headroom"], "700.00");
    assert_eq!(get("changed-after-approval"), json!([]));
    // The audit trail of o1 in the tables: every step, who and when.
    let state =
        fieldsync_server::AppState::open(&relay.db, fieldsync_server::Limits::default()).unwrap();
    let mut r = state.relay();
    let conn = r.store().connection();
    let steps: Vec<String> = conn
        .prepare(
            "SELECT action || ':' || user_id FROM order_events WHERE order_id = ?1 ORDER BY seq",
        )
        .unwrap()
        .query_map([o1.to_string()], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        steps,
        [
            "Submit:li",
            "Approve:zhao",
            "Reapprove:zhao",
            "Confirm:sun",
            "StartProduction:zhou",
            "MarkInStock:wu",
            "Ship:wu",
            "Deliver:sun",
            "Settle:zheng",
            "Archive:zheng",
        ]
    );
    let complaint_status: String = conn
        .query_row("SELECT status FROM complaints", [], |row| row.get(0))
        .unwrap();
    assert_eq!(complaint_status, "closed");
}
