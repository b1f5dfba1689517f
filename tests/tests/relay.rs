//! The real relay on 127.0.0.1, driven by core's device side over HTTP.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::Utc;
use fieldsync_core::store::DeviceStore;
use fieldsync_core::sync::{SyncSession, wire};
use fieldsync_core::*;
use fieldsync_server::Limits;
use fieldsync_tests::*;
use rust_decimal::Decimal;

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

struct World {
    _dir: tempfile::TempDir,
    relay: TestRelay,
    li: Phone,
    manager: String,
    admin: String,
    finance: String,
    warehouse: String,
    salesperson_api: String,
    west_manager: String,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start(dir.path());
    let salesperson_api = relay.user("li", Role::Salesperson, Some("east"));
    let manager = relay.user("zhao", Role::Manager, Some("east"));
    let west_manager = relay.user("qian", Role::Manager, Some("west"));
    let admin = relay.user("root", Role::Admin, None);
    let finance = relay.user("zheng", Role::Finance, None);
    let warehouse = relay.user("wu", Role::Warehouse, None);
    relay.user("sun", Role::OrderDesk, None);
    let li = Phone::enroll(&relay.url(), dir.path(), "li", &relay.code("li"));
    World {
        _dir: dir,
        relay,
        li,
        manager,
        admin,
        finance,
        warehouse,
        salesperson_api,
        west_manager,
    }
}

/// Li, offline: a prospect and an order of 10 × 12.50, submitted.
fn offline_order(p: &mut Phone) -> (Customer, DocId) {
    let ctx = p.ctx();
    let mut c = CustomerDoc::create_prospect(&ctx, "Hengda Textiles", "12 Silk Road").unwrap();
    p.store.save(c.document()).unwrap();
    let customer = c.read().unwrap();
    let number = p.store.next_order_number(Utc::now().date_naive()).unwrap();
    let mut o = OrderDoc::create(
        &ctx,
        &customer,
        NewOrder {
            number,
            channel: Channel::Visit,
            reorder_kind: None,
            delivery_date: None,
            evidence: "form".into(),
        },
    )
    .unwrap();
    o.add_line(
        &ctx,
        NewLine {
            product: "TS-1".into(),
            name: "Shirt".into(),
            variant: "red/M".into(),
            unit: "pcs".into(),
            quantity: d("10"),
            unit_price: d("12.50"),
            discount_percent: Decimal::ZERO,
        },
    )
    .unwrap();
    o.submit(&ctx).unwrap();
    p.store.save(o.document()).unwrap();
    (customer, o.read().unwrap().id())
}

#[test]
fn enroll_sync_approve_and_see_it_on_the_phone() {
    let mut w = world();
    let (_, order) = offline_order(&mut w.li);
    let s = w.li.sync().unwrap();
    assert_eq!((s.sent, s.round_trips), (2, 1));

    let mgr = w.relay.api(&w.manager);
    // A prospect pays cash: approval needs no credit, shipping needs the money.
    let a = mgr.post(
        &format!("/v1/orders/{order}/approve"),
        serde_json::json!({}),
    );
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(a.json()["status"], "approved");

    let s = w.li.sync().unwrap();
    assert_eq!(s.received, 1);
    let o = OrderDoc::from_document(w.li.store.load(order).unwrap())
        .unwrap()
        .read()
        .unwrap();
    assert_eq!(o.status(), OrderStatus::Approved);
    let ev = o.events.last().unwrap();
    assert_eq!(
        (ev.user.as_str(), ev.device.as_str()),
        ("zhao", "head-office")
    );

    // Edited offline after approval: changed after approval everywhere.
    let line = o.lines.keys().next().unwrap().clone();
    let mut doc = OrderDoc::from_document(w.li.store.load(order).unwrap()).unwrap();
    doc.set_quantity(&w.li.ctx(), &line, d("12")).unwrap();
    w.li.store.save(doc.document()).unwrap();
    w.li.sync().unwrap();
    let a = mgr.get(&format!("/v1/orders/{order}"));
    assert_eq!(a.json()["status"], "changed_after_approval");
    let rep = w
        .relay
        .api(&w.admin)
        .get("/v1/reports/changed-after-approval");
    assert_eq!(rep.json().as_array().unwrap().len(), 1);
}

#[test]
fn head_office_tables_follow_every_change() {
    let mut w = world();
    let (customer, order) = offline_order(&mut w.li);
    w.li.sync().unwrap();
    let mut relay = w.relay.state.relay();
    let conn = relay.store().connection();
    let (number, status, total): (String, String, String) = conn
        .query_row(
            "SELECT number, status, total FROM orders WHERE id = ?1",
            [order.to_string()],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert!(number.starts_with("S01-"), "{number}");
    assert_eq!((status.as_str(), total.as_str()), ("submitted", "125.00"));
    let lines: i64 = conn
        .query_row("SELECT count(*) FROM order_lines", [], |r| r.get(0))
        .unwrap();
    let events: i64 = conn
        .query_row("SELECT count(*) FROM order_events", [], |r| r.get(0))
        .unwrap();
    let name: String = conn
        .query_row(
            "SELECT name FROM customers WHERE id = ?1",
            [customer.id().to_string()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!((lines, events, name.as_str()), (1, 1, "Hengda Textiles"));
}

#[test]
fn permissions_are_checked_per_role_and_region() {
    let mut w = world();
    let (_, order) = offline_order(&mut w.li);
    w.li.sync().unwrap();
    let path = format!("/v1/orders/{order}/approve");
    let body = serde_json::json!({ "credit_override_reason": "ok" });
    for (token, status) in [
        (&w.salesperson_api, 403),
        (&w.finance, 403),
        (&w.warehouse, 403),
        (&w.west_manager, 404),
    ] {
        let a = w.relay.api(token).post(&path, body.clone());
        assert_eq!(a.status, status, "{}", a.error());
        assert!(!a.error().is_empty());
    }
    let a = w
        .relay
        .api(&w.warehouse)
        .post(&format!("/v1/orders/{order}/ship"), serde_json::json!({}));
    assert_eq!(a.status, 409, "not in stock yet: {}", a.error());
    // Nothing moved.
    assert_eq!(
        w.relay
            .api(&w.manager)
            .get(&format!("/v1/orders/{order}"))
            .json()["status"],
        "submitted"
    );

    // A salesperson's phone forging an approval is refused, with the reason on the phone.
    let customer = CustomerDoc::from_document(
        w.li.store
            .load(
                OrderDoc::from_document(w.li.store.load(order).unwrap())
                    .unwrap()
                    .read()
                    .unwrap()
                    .customer,
            )
            .unwrap(),
    )
    .unwrap()
    .read()
    .unwrap();
    let mut forged = OrderDoc::from_document(w.li.store.load(order).unwrap()).unwrap();
    let claim =
        ChangeCtx::now(Actor::new("li", Role::Manager, Some("east"), w.li.actor.device()).unwrap());
    forged.approve(&claim, &customer, Some("trust me")).unwrap();
    w.li.store.save(forged.document()).unwrap();
    let s = w.li.sync().unwrap();
    assert_eq!(s.refused.len(), 1, "{s:?}");
    // The change says a manager made it; li's phone is li the salesperson.
    assert!(
        s.refused[0].1.contains("made by li (manager)"),
        "{:?}",
        s.refused
    );
    assert_eq!(w.li.store.refused().unwrap()[0].entry.id, order);
    // The refusal is in the relay's audit log.
    let logged: Vec<(String, String, String)> = {
        let mut relay = w.relay.state.relay();
        let conn = relay.store().connection();
        let mut stmt = conn
            .prepare("SELECT user_id, document, reason FROM refusals")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert_eq!(
        (logged[0].0.as_str(), logged[0].1.clone()),
        ("li", order.to_string())
    );
    assert!(logged[0].2.contains("made by li (manager)"), "{logged:?}");
    assert_eq!(
        w.relay
            .api(&w.manager)
            .get(&format!("/v1/orders/{order}"))
            .json()["status"],
        "submitted"
    );
}

#[test]
fn bad_requests_get_clear_4xx_errors_and_store_nothing() {
    let mut w = world();
    let url = format!("{}/v1/sync", w.relay.url());
    let idle = wire::encode_request(&wire::SyncRequest::default()).unwrap();
    // No or bad credentials.
    let a = post_bytes(&url, None, &idle);
    assert_eq!(a.status, 401);
    assert!(a.error().contains("Authorization"), "{}", a.error());
    assert_eq!(post_bytes(&url, Some("fsd_nope"), &idle).status, 401);
    // Malformed, truncated, wrong version.
    let token = w.li.token.clone();
    for bad in [b"garbage".to_vec(), idle[..idle.len() - 1].to_vec(), {
        let mut v = idle.clone();
        v[4] = 7;
        v
    }] {
        let a = post_bytes(&url, Some(&token), &bad);
        assert_eq!(a.status, 400, "{}", String::from_utf8_lossy(&a.body));
        assert!(a.error().contains("sync"), "{}", a.error());
    }
    // Unknown documents and actions.
    let admin = w.relay.api(&w.admin);
    assert_eq!(
        admin.get(&format!("/v1/orders/{}", DocId::new())).status,
        404
    );
    assert_eq!(admin.get("/v1/orders/not-an-id").status, 404);
    assert_eq!(
        admin
            .post(
                &format!("/v1/orders/{}/fly", DocId::new()),
                serde_json::json!({})
            )
            .status,
        404
    );
    assert_eq!(admin.get("/v1/reports/nonsense").status, 404);
    // A bad decimal.
    let (c, order) = offline_order(&mut w.li);
    w.li.sync().unwrap();
    let fin = w.relay.api(&w.finance);
    let a = fin.post(
        &format!("/v1/customers/{}/credit", c.id()),
        serde_json::json!({"payment_terms": "credit", "amount": "1,000"}),
    );
    assert_eq!(a.status, 400);
    assert!(
        a.error().contains("not a valid credit limit"),
        "{}",
        a.error()
    );
    let a = fin.post(
        &format!("/v1/orders/{order}/payments"),
        serde_json::json!({"amount": "12.5.0"}),
    );
    assert_eq!(a.status, 400, "{}", a.error());
    assert_eq!(
        w.relay
            .api(&w.manager)
            .get(&format!("/v1/orders/{order}"))
            .json()["paid"],
        "0.00"
    );
    // Reused and expired enrollment codes; a revoked device.
    let code = w.relay.code("li");
    let dir = tempfile::tempdir().unwrap();
    let mut tablet = Phone::enroll(&w.relay.url(), dir.path(), "tablet", &code);
    let key = DeviceStore::open_in_memory()
        .unwrap()
        .device_key()
        .unwrap()
        .to_hex();
    let again = post_json(
        &format!("{}/v1/enroll", w.relay.url()),
        serde_json::json!({ "code": code, "public_key": key }),
    );
    assert_eq!(again.status, 401);
    assert!(again.error().contains("already used"), "{}", again.error());
    // An app too old to send its signing key is told so.
    let old_app = post_json(
        &format!("{}/v1/enroll", w.relay.url()),
        serde_json::json!({ "code": w.relay.code("li") }),
    );
    assert_eq!(old_app.status, 400);
    assert!(
        old_app.error().contains("public_key"),
        "{}",
        old_app.error()
    );
    let bad_key = post_json(
        &format!("{}/v1/enroll", w.relay.url()),
        serde_json::json!({ "code": w.relay.code("li"), "public_key": "abc" }),
    );
    assert_eq!(bad_key.status, 400, "{}", bad_key.error());
    {
        let mut relay = w.relay.state.relay();
        fieldsync_server::accounts::revoke_device(
            relay.store().connection(),
            tablet.actor.device(),
        )
        .unwrap();
    }
    let e = tablet.sync().unwrap_err();
    assert!(e.contains("401") && e.contains("revoked"), "{e}");
}

#[test]
fn oversized_requests_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start_with(
        dir.path(),
        Limits {
            max_sync_bytes: 4096,
            max_documents: 3,
            ..Limits::default()
        },
    );
    relay.user("li", Role::Salesperson, Some("east"));
    let mut li = Phone::enroll(&relay.url(), dir.path(), "li", &relay.code("li"));
    let url = format!("{}/v1/sync", relay.url());
    let big = vec![0u8; 10_000];
    let a = post_bytes(&url, Some(&li.token), &big);
    assert_eq!(a.status, 413);
    let many = wire::encode_request(&wire::SyncRequest {
        cursor: 0,
        pushes: (0..4u8)
            .map(|i| wire::Push {
                doc: [i; 16],
                changes: vec![],
                signatures: vec![],
            })
            .collect(),
        ..Default::default()
    })
    .unwrap();
    let a = post_bytes(&url, Some(&li.token), &many);
    assert_eq!(a.status, 413);
    assert!(a.error().contains("at most 3"), "{}", a.error());
    // Small syncs still work.
    li.sync().unwrap();
}

#[test]
fn health_metrics_and_openapi() {
    let mut w = world();
    w.li.sync().unwrap();
    let admin = w.relay.api(&w.admin);
    assert_eq!(admin.get("/healthz").status, 200);
    let m = String::from_utf8(admin.get("/metrics").body).unwrap();
    assert!(m.contains("fieldsync_sync_requests_total 1"), "{m}");
    assert!(m.contains("fieldsync_enrollments_total 1"), "{m}");
    let spec = admin.get("/openapi.json").json();
    assert!(spec["paths"]["/v1/sync"].is_object());
}

#[test]
fn the_openapi_description_is_the_routers_own() {
    let w = world();
    let spec = w.relay.api(&w.admin).get("/openapi.json").json();
    let paths = spec["paths"].as_object().unwrap();
    // Every path the description names is served (a request reaches its
    // handler, not the fallback), with the methods it names.
    let mut checked = 0;
    for (path, item) in paths {
        let concrete = path
            .replace("{id}", "0190e7d4-0000-7000-8000-000000000000")
            .replace("{action}", "approve")
            .replace("{name}", "sales-by-region");
        for method in item.as_object().unwrap().keys() {
            let url = format!("{}{concrete}", w.relay.url());
            let answer = match method.as_str() {
                "get" => w.relay.api(&w.admin).get(&concrete),
                "post" => post_bytes(&url, Some(&w.admin), b"{}"),
                other => panic!("{path}: unexpected method {other}"),
            };
            let (status, body) = (
                answer.status,
                String::from_utf8_lossy(&answer.body).into_owned(),
            );
            assert!(
                !body.contains("no such endpoint") && status != 405,
                "{method} {path} is described but not served: {status} {body}"
            );
            checked += 1;
        }
    }
    // And what the relay serves is described: the head-office API and the
    // devices' endpoints.
    for path in [
        "/v1/sync",
        "/v1/enroll",
        "/v1/orders",
        "/v1/orders/{id}",
        "/v1/orders/{id}/{action}",
        "/v1/customers",
        "/v1/visits",
        "/v1/complaints",
        "/v1/daily-reports",
        "/v1/devices",
        "/v1/reports/{name}",
        "/v1/stock",
    ] {
        assert!(paths.contains_key(path), "{path} is not described");
    }
    assert!(checked >= 19, "{checked}");
    // The check above can tell: a path not served says so.
    let missing = w.relay.api(&w.admin).get("/v1/nothing-here");
    assert!(String::from_utf8_lossy(&missing.body).contains("no such endpoint"));
    assert!(spec["components"]["securitySchemes"]["bearer"].is_object());
    assert!(spec["components"]["schemas"]["ActionBody"].is_object());
}

fn order_for(p: &mut Phone, customer: &Customer, product: &str, qty: &str, price: &str) -> DocId {
    let ctx = p.ctx();
    let number = p.store.next_order_number(Utc::now().date_naive()).unwrap();
    let mut o = OrderDoc::create(
        &ctx,
        customer,
        NewOrder {
            number,
            channel: Channel::Phone,
            reorder_kind: None,
            delivery_date: None,
            evidence: "fax".into(),
        },
    )
    .unwrap();
    o.add_line(
        &ctx,
        NewLine {
            product: product.into(),
            name: product.into(),
            variant: String::new(),
            unit: "pcs".into(),
            quantity: d(qty),
            unit_price: d(price),
            discount_percent: Decimal::ZERO,
        },
    )
    .unwrap();
    o.submit(&ctx).unwrap();
    p.store.save(o.document()).unwrap();
    o.read().unwrap().id()
}

fn visit(p: &mut Phone, customer: &Customer, minutes: i64) {
    let now = Utc::now() - chrono::Duration::hours(2);
    let at = |m: i64| ChangeCtx::new(p.actor.clone(), now + chrono::Duration::minutes(m));
    let mut v = VisitDoc::plan(
        &at(0),
        customer,
        VisitPlan {
            planned_start: now,
            purpose: "call".into(),
            priority: Priority::Normal,
            materials: String::new(),
        },
    )
    .unwrap();
    v.check_in(&at(0), None).unwrap();
    v.check_out(&at(minutes), None).unwrap();
    p.store.save(v.document()).unwrap();
}

fn rows(a: Answer) -> Vec<serde_json::Value> {
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    a.json().as_array().unwrap().clone()
}

#[test]
fn report_figures_match_a_seeded_scenario_exactly() {
    let mut w = world();
    w.relay.user("chen", Role::Salesperson, Some("west"));
    let dir = tempfile::tempdir().unwrap();
    let mut chen = Phone::enroll(&w.relay.url(), dir.path(), "chen", &w.relay.code("chen"));
    let desk = w.relay.user("desk2", Role::OrderDesk, None);

    let (hengda, o1) = offline_order(&mut w.li); // TS-1: 10 × 12.50
    let o2 = order_for(&mut w.li, &hengda, "PT-2", "4", "20");
    visit(&mut w.li, &hengda, 20);
    visit(&mut w.li, &hengda, 40);
    let mut r = DailyReportDoc::create(&w.li.ctx(), Utc::now().date_naive()).unwrap();
    r.write(&w.li.ctx(), "two visits", "", "").unwrap();
    r.submit(&w.li.ctx()).unwrap();
    w.li.store.save(r.document()).unwrap();

    let ctx = chen.ctx();
    let mut mc = CustomerDoc::create_prospect(&ctx, "Mountain Outfitters", "").unwrap();
    chen.store.save(mc.document()).unwrap();
    let mountain = mc.read().unwrap();
    let o3 = order_for(&mut chen, &mountain, "JK-1", "3", "100");
    let mut late =
        DailyReportDoc::create(&ctx, chrono::NaiveDate::from_ymd_opt(2026, 1, 5).unwrap()).unwrap();
    late.write(&ctx, "catching up", "", "").unwrap();
    late.submit(&ctx).unwrap();
    chen.store.save(late.document()).unwrap();
    w.li.sync().unwrap();
    chen.sync().unwrap();

    let api = |t: &str| w.relay.api(t);
    let ok = |a: Answer| assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    // Finance gives Hengda credit; the managers approve; o1 ships on credit.
    ok(api(&w.finance).post(
        &format!("/v1/customers/{}/credit", hengda.id()),
        serde_json::json!({"payment_terms": "credit", "credit_days": 30, "amount": "1000"}),
    ));
    ok(api(&w.manager).post(&format!("/v1/orders/{o1}/approve"), serde_json::json!({})));
    ok(api(&w.west_manager).post(&format!("/v1/orders/{o3}/approve"), serde_json::json!({})));
    ok(api(&desk).post(&format!("/v1/orders/{o1}/confirm"), serde_json::json!({})));
    ok(api(&w.warehouse).post(&format!("/v1/orders/{o1}/in-stock"), serde_json::json!({})));
    ok(api(&w.warehouse).post(
        &format!("/v1/orders/{o1}/ship"),
        serde_json::json!({"carrier": "SF"}),
    ));
    let _ = o2; // stays submitted: not a sale

    let admin = api(&w.admin);
    let get = |name: &str| rows(admin.get(&format!("/v1/reports/{name}")));
    let sales = get("sales-by-salesperson");
    assert_eq!(
        sales,
        vec![
            serde_json::json!({"salesperson": "chen", "credited_as": "customer's owner", "orders": "1", "amount": "300.00"}),
            serde_json::json!({"salesperson": "li", "credited_as": "customer's owner", "orders": "1", "amount": "125.00"}),
        ]
    );
    assert_eq!(
        get("sales-by-region"),
        vec![
            serde_json::json!({"region": "east", "orders": "1", "amount": "125.00"}),
            serde_json::json!({"region": "west", "orders": "1", "amount": "300.00"}),
        ]
    );
    assert_eq!(
        get("sales-by-product"),
        vec![
            serde_json::json!({"product": "JK-1", "quantity": "3", "amount": "300.00"}),
            serde_json::json!({"product": "TS-1", "quantity": "10", "amount": "125.00"}),
        ]
    );
    // Both visits checked in two hours ago: the company's day then.
    let visit_day = fieldsync_core::BusinessZone::default()
        .date_at(Utc::now() - chrono::Duration::hours(2))
        .to_string();
    assert_eq!(
        get("visits-per-day"),
        vec![serde_json::json!({"salesperson": "li", "day": visit_day, "visits": "2"})]
    );
    let kpi = get("visit-kpis");
    assert_eq!(kpi.len(), 1);
    assert_eq!(kpi[0]["salesperson"], "li");
    assert_eq!(
        (
            kpi[0]["visits"].as_str(),
            kpi[0]["new_customer_visits"].as_str()
        ),
        (Some("2"), Some("2"))
    );
    assert_eq!(
        (
            kpi[0]["average_minutes"].as_str(),
            kpi[0]["target"].as_str()
        ),
        (Some("30"), Some("120"))
    );
    let reports = get("daily-reports");
    assert_eq!(reports.len(), 2);
    assert_eq!(
        (
            reports[0]["salesperson"].as_str(),
            reports[0]["late"].as_str()
        ),
        (Some("chen"), Some("1"))
    );
    assert_eq!(
        (
            reports[1]["salesperson"].as_str(),
            reports[1]["on_time"].as_str()
        ),
        (Some("li"), Some("1"))
    );
    let production = get("production");
    assert_eq!(
        production,
        vec![
            serde_json::json!({"product": "JK-1", "ordered": "3", "in_production": "0", "on_hand": "0", "reserved": "0"})
        ]
    );
    let recv = get("receivables");
    let h = recv
        .iter()
        .find(|r| r["customer"] == "Hengda Textiles")
        .unwrap();
    assert_eq!(
        (
            h["open_orders_unpaid"].as_str(),
            h["credit_exposure"].as_str(),
            h["credit_headroom"].as_str()
        ),
        (Some("125.00"), Some("125.00"), Some("875.00"))
    );
    // A manager sees their region only; CSV has a header and the same rows.
    let east = rows(api(&w.manager).get("/v1/reports/sales-by-salesperson"));
    assert_eq!(east.len(), 1);
    let csv = String::from_utf8(admin.get("/v1/reports/sales-by-region?format=csv").body).unwrap();
    assert_eq!(csv, "region,orders,amount\neast,1,125.00\nwest,1,300.00\n");
    assert_eq!(
        api(&w.salesperson_api)
            .get("/v1/reports/sales-by-region")
            .status,
        403
    );
}

#[test]
fn a_device_flooding_the_relay_is_rate_limited() {
    let dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start_with(
        dir.path(),
        Limits {
            syncs_per_second: 1.0,
            sync_burst: 5.0,
            ..Limits::default()
        },
    );
    relay.user("li", Role::Salesperson, Some("east"));
    relay.user("wang", Role::Salesperson, Some("east"));
    let li = Phone::enroll(&relay.url(), dir.path(), "li", &relay.code("li"));
    let mut wang = Phone::enroll(&relay.url(), dir.path(), "wang", &relay.code("wang"));
    let url = format!("{}/v1/sync", relay.url());
    let idle = wire::encode_request(&wire::SyncRequest::default()).unwrap();
    let statuses: Vec<u16> = (0..20)
        .map(|_| post_bytes(&url, Some(&li.token), &idle).status)
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        5,
        "{statuses:?}"
    );
    assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");
    let a = post_bytes(&url, Some(&li.token), &idle);
    assert!(
        a.error().contains("too many sync requests"),
        "{}",
        a.error()
    );
    // Other devices are not affected; the flooder recovers after waiting.
    wang.sync().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(post_bytes(&url, Some(&li.token), &idle).status, 200);
}

/// The headers of a GET sent over a plain socket, asking for gzip.
fn headers_of(relay: &TestRelay, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(relay.addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: relay\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).unwrap();
    let end = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    String::from_utf8_lossy(&answer[..end]).to_lowercase()
}

#[test]
fn answers_are_gzipped_only_when_large_enough_to_gain() {
    let dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start(dir.path());
    // The API description is tens of KB; a JSON error (like most sync
    // answers) a few dozen bytes.
    assert!(headers_of(&relay, "/openapi.json").contains("content-encoding: gzip"));
    let small = headers_of(&relay, "/v1/reports/sales-by-region");
    assert!(small.starts_with("http/1.1 401"), "{small}");
    assert!(!small.contains("content-encoding"), "{small}");
}

#[test]
fn a_gzipped_body_is_opened_only_for_a_known_device_and_only_so_far() {
    let dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start(dir.path());
    relay.user("li", Role::Salesperson, Some("east"));
    let mut li = Phone::enroll(&relay.url(), dir.path(), "li", &relay.code("li"));
    let url = format!("{}/v1/sync", relay.url());
    // 20 MB of zeros: about 20 KB on the wire.
    let bomb = vec![0u8; 20 << 20];
    let a = post_gzip(&url, Some("fsd_made_up"), &bomb);
    assert_eq!(a.status, 401, "the token first: {}", a.error());
    let a = post_gzip(&url, Some(&li.token), &bomb);
    assert_eq!(a.status, 413, "{}", a.error());
    assert!(
        a.error().contains("decompresses to more than"),
        "{}",
        a.error()
    );
    // An honest gzip'd sync goes through.
    let ctx = li.ctx();
    let mut c = CustomerDoc::create_prospect(&ctx, "Hengda", "1 Road").unwrap();
    li.store.save(c.document()).unwrap();
    let req = SyncSession::new()
        .next_request(&mut li.store)
        .unwrap()
        .unwrap();
    let a = post_gzip(&url, Some(&li.token), &req);
    assert_eq!(a.status, 200, "{}", a.error());
    let resp = wire::decode_response(&a.body).unwrap();
    assert_eq!(resp.pushes, vec![wire::Outcome::Accepted]);
}

#[test]
fn failed_sign_ins_are_limited_per_address() {
    let dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start_with(
        dir.path(),
        Limits {
            auth_failures_per_minute: 1.0,
            auth_failure_burst: 5.0,
            ..Limits::default()
        },
    );
    relay.user("li", Role::Salesperson, Some("east"));
    let enroll = format!("{}/v1/enroll", relay.url());
    let key = DeviceStore::open_in_memory()
        .unwrap()
        .device_key()
        .unwrap()
        .to_hex();
    for i in 0..5 {
        let a = post_json(
            &enroll,
            serde_json::json!({ "code": format!("WRONG-CODE-{i:04}"), "public_key": key }),
        );
        assert_eq!(a.status, 401, "{}", a.error());
    }
    // The sixth guess is not even tried, nor is a made-up token.
    let a = post_json(
        &enroll,
        serde_json::json!({ "code": relay.code("li"), "public_key": key }),
    );
    assert_eq!(a.status, 429, "{}", a.error());
    assert!(
        a.error().contains("too many failed sign-ins"),
        "{}",
        a.error()
    );
    let a = post_bytes(&format!("{}/v1/sync", relay.url()), Some("fsd_guess"), b"x");
    assert_eq!(a.status, 429, "{}", a.error());
}

/// Posts a head-office action, expecting success.
fn act(w: &World, token: &str, order: DocId, action: &str, body: serde_json::Value) {
    let a = w
        .relay
        .api(token)
        .post(&format!("/v1/orders/{order}/{action}"), body);
    assert_eq!(a.status, 200, "{action}: {}", a.error());
}

#[test]
fn an_archived_order_keeps_its_outcome_in_the_reports() {
    let mut w = world();
    let desk = w.relay.user("desk2", Role::OrderDesk, None);
    let (hengda, cancelled) = offline_order(&mut w.li); // 125.00
    let sold = order_for(&mut w.li, &hengda, "PT-2", "4", "20"); // 80.00
    w.li.sync().unwrap();
    // One order is cancelled and archived; the other delivered, paid,
    // settled and archived.
    act(
        &w,
        &desk,
        cancelled,
        "cancel",
        serde_json::json!({"reason": "customer changed their mind"}),
    );
    act(&w, &desk, cancelled, "archive", serde_json::json!({}));
    act(&w, &w.manager, sold, "approve", serde_json::json!({}));
    act(&w, &desk, sold, "confirm", serde_json::json!({}));
    act(&w, &w.warehouse, sold, "in-stock", serde_json::json!({}));
    // A cash customer pays before shipping.
    act(
        &w,
        &w.finance,
        sold,
        "payments",
        serde_json::json!({"amount": "80.00", "reference": "bank"}),
    );
    act(&w, &w.warehouse, sold, "ship", serde_json::json!({}));
    act(&w, &desk, sold, "deliver", serde_json::json!({}));
    act(&w, &w.finance, sold, "settle", serde_json::json!({}));
    act(&w, &desk, sold, "archive", serde_json::json!({}));
    let sales = rows(
        w.relay
            .api(&w.admin)
            .get("/v1/reports/sales-by-salesperson"),
    );
    assert_eq!(
        sales,
        vec![
            serde_json::json!({"salesperson": "li", "credited_as": "customer's owner", "orders": "1", "amount": "80.00"})
        ],
        "the cancelled order is not a sale, archived or not"
    );
    let by_product = rows(w.relay.api(&w.admin).get("/v1/reports/sales-by-product"));
    assert_eq!(by_product.len(), 1, "{by_product:?}");
    assert_eq!(by_product[0]["product"], "PT-2");
}

#[test]
fn business_dates_are_the_companys_across_midnight_in_utc_plus_8() {
    let mut w = world();
    // 01:00 on 1 December in Shanghai, still 30 November in UTC.
    let at = chrono::DateTime::parse_from_rfc3339("2026-11-30T17:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    assert_eq!(
        w.li.store.identity().unwrap().unwrap().time_zone.name(),
        "Asia/Shanghai",
        "enrollment gives the company's zone"
    );
    let ctx = ChangeCtx::new(w.li.actor.clone(), at);
    let mut c = CustomerDoc::create_prospect(&ctx, "Night shop", "").unwrap();
    w.li.store.save(c.document()).unwrap();
    let customer = c.read().unwrap();
    let day = w.li.store.business_date(at).unwrap();
    let number = w.li.store.next_order_number(day).unwrap();
    assert!(number.to_string().contains("-20261201-"), "{number}");
    let mut o = OrderDoc::create(
        &ctx,
        &customer,
        NewOrder {
            number,
            channel: Channel::Visit,
            reorder_kind: None,
            delivery_date: None,
            evidence: "form".into(),
        },
    )
    .unwrap();
    o.add_line(
        &ctx,
        NewLine {
            product: "TS-1".into(),
            name: "Shirt".into(),
            variant: String::new(),
            unit: "pcs".into(),
            quantity: d("2"),
            unit_price: d("10"),
            discount_percent: Decimal::ZERO,
        },
    )
    .unwrap();
    o.submit(&ctx).unwrap();
    w.li.store.save(o.document()).unwrap();
    let id = o.read().unwrap().id();
    w.li.sync().unwrap();
    act(&w, &w.manager, id, "approve", serde_json::json!({}));
    let months = rows(w.relay.api(&w.admin).get("/v1/reports/sales-by-month"));
    assert_eq!(
        months,
        vec![serde_json::json!({"month": "2026-12", "orders": "1", "amount": "20.00"})],
        "the order counts in December, the company's month"
    );
    // Another company keeps its books in Berlin: new phones get that zone.
    {
        let mut relay = w.relay.state.relay();
        fieldsync_server::accounts::set_time_zone(
            relay.store().connection(),
            fieldsync_core::BusinessZone::parse("Europe/Berlin").unwrap(),
        )
        .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let tablet = Phone::enroll(&w.relay.url(), dir.path(), "li-tablet", &w.relay.code("li"));
    assert_eq!(
        tablet.store.business_date(at).unwrap().to_string(),
        "2026-11-30"
    );
}

#[test]
fn an_orders_details_are_read_and_set_on_the_api() {
    let mut w = world();
    let (_, order) = offline_order(&mut w.li);
    w.li.sync().unwrap();
    let desk = w.relay.user("desk2", Role::OrderDesk, None);
    let api = w.relay.api(&desk);
    let a = api.post(
        &format!("/v1/orders/{order}/details"),
        serde_json::json!({"details": {
            "customer_reference": "PO-7731",
            "delivery_address": "3 Dock Road, Ningbo",
            "consignee": "Mr Chen",
            "deposit": "500"
        }}),
    );
    assert_eq!(a.status, 200, "{}", a.error());
    let got = api.get(&format!("/v1/orders/{order}")).json();
    let details = &got["details"];
    assert_eq!(details["customer_reference"], "PO-7731");
    assert_eq!(details["consignee"], "Mr Chen");
    assert_eq!(details["deposit"], "500.00");
    assert_eq!(details["evidence"], "form", "fields left out stay");
    // The phone gets them at its next sync.
    w.li.sync().unwrap();
    let on_phone: Order = w.li.store.load(order).unwrap().view().unwrap();
    assert_eq!(on_phone.customer_reference, "PO-7731");
    let a = api.post(
        &format!("/v1/orders/{order}/details"),
        serde_json::json!({"details": {"deposit": "1,000"}}),
    );
    assert_eq!(a.status, 400, "{}", a.error());
    // The per-field history says who changed what, from what to what.
    let history = rows(api.get(&format!("/v1/documents/{order}/history")));
    let reference = history
        .iter()
        .find(|h| h["field"] == "customer_reference" && h["new"] == "PO-7731")
        .unwrap_or_else(|| panic!("{history:?}"));
    assert_eq!(reference["old"], "");
    assert_eq!(reference["user"], "desk2");
    assert_eq!(reference["role"], "order_desk");
    assert_eq!(reference["device"], "head-office");
    let quantity = history
        .iter()
        .find(|h| h["field"].as_str().unwrap().ends_with("/quantity"))
        .unwrap();
    assert_eq!(
        (&quantity["new"], &quantity["user"]),
        (&serde_json::json!("10"), &serde_json::json!("li"))
    );
    // The shipping notice: only once shipped, and carrying the reference.
    let notice = format!("/v1/orders/{order}/shipping-notice");
    assert_eq!(api.get(&notice).status, 409);
    act(&w, &w.manager, order, "approve", serde_json::json!({}));
    act(&w, &desk, order, "confirm", serde_json::json!({}));
    act(&w, &w.warehouse, order, "in-stock", serde_json::json!({}));
    act(
        &w,
        &w.finance,
        order,
        "payments",
        serde_json::json!({"amount": "125.00", "reference": "cash"}),
    );
    act(
        &w,
        &w.warehouse,
        order,
        "ship",
        serde_json::json!({"carrier": "SF Express", "tracking": "SF1234"}),
    );
    let n = api.get(&notice).json();
    assert_eq!(n["customer_reference"], "PO-7731");
    assert_eq!(n["consignee"], "Mr Chen");
    assert_eq!(n["delivery_address"], "3 Dock Road, Ningbo");
    assert_eq!(
        (n["carrier"].as_str(), n["tracking"].as_str()),
        (Some("SF Express"), Some("SF1234"))
    );
    assert_eq!(n["lines"][0]["quantity"], "10");
    assert!(n["notice"].as_str().unwrap().contains("PO-7731"), "{n}");
    // A salesperson of another region does not see it.
    w.relay.user("chen", Role::Salesperson, Some("west"));
    let west = w.relay.user("qian2", Role::Manager, Some("west"));
    assert_eq!(
        w.relay
            .api(&west)
            .get(&format!("/v1/documents/{order}/history"))
            .status,
        404
    );
}

#[test]
fn receivables_are_aged_by_days_since_shipping() {
    let mut w = world();
    let desk = w.relay.user("desk2", Role::OrderDesk, None);
    let dir = tempfile::tempdir().unwrap();
    let mut wu = Phone::enroll(&w.relay.url(), dir.path(), "wu", &w.relay.code("wu"));
    let ctx = w.li.ctx();
    let mut c = CustomerDoc::create_prospect(&ctx, "Hengda Textiles", "12 Silk Road").unwrap();
    w.li.store.save(c.document()).unwrap();
    let hengda = c.read().unwrap();
    w.li.sync().unwrap();
    let a = w.relay.api(&w.finance).post(
        &format!("/v1/customers/{}/credit", hengda.id()),
        serde_json::json!({"payment_terms": "credit", "credit_days": 30, "amount": "100000"}),
    );
    assert_eq!(a.status, 200, "{}", a.error());
    w.li.sync().unwrap();
    let hengda: Customer = w.li.store.load(hengda.id()).unwrap().view().unwrap();
    // Four orders of 100.00, shipped 10, 45, 75 and 120 days ago.
    let ages = [10i64, 45, 75, 120];
    let orders: Vec<DocId> = ages
        .iter()
        .map(|_| order_for(&mut w.li, &hengda, "TS-1", "10", "10"))
        .collect();
    w.li.sync().unwrap();
    for o in &orders {
        act(&w, &w.manager, *o, "approve", serde_json::json!({}));
        act(&w, &desk, *o, "confirm", serde_json::json!({}));
        act(&w, &w.warehouse, *o, "in-stock", serde_json::json!({}));
    }
    wu.sync().unwrap();
    for (o, days) in orders.iter().zip(ages) {
        let mut doc = OrderDoc::from_document(wu.store.load(*o).unwrap()).unwrap();
        let customer: Customer = wu.store.load(hengda.id()).unwrap().view().unwrap();
        let open = wu.store.credit_orders().unwrap();
        let when = ChangeCtx::new(wu.actor.clone(), Utc::now() - chrono::Duration::days(days));
        doc.ship(&when, (&customer, &open[..]), Shipment::default(), None)
            .unwrap();
        wu.store.save(doc.document()).unwrap();
    }
    let s = wu.sync().unwrap();
    assert!(s.refused.is_empty(), "{s:?}");
    // 40.00 paid on the 45-day order.
    act(
        &w,
        &w.finance,
        orders[1],
        "payments",
        serde_json::json!({"amount": "40.00", "reference": "bank"}),
    );
    let aged = rows(w.relay.api(&w.finance).get("/v1/reports/receivables-aged"));
    assert_eq!(
        aged,
        vec![serde_json::json!({
            "customer": "Hengda Textiles", "region": "east",
            "days_0_30": "100.00", "days_31_60": "60.00", "days_61_90": "100.00",
            "over_90_days": "100.00", "total": "360.00"
        })]
    );
}

#[test]
fn sales_are_credited_to_the_customers_owner_or_to_who_took_the_order() {
    let mut w = world();
    let (hengda, own) = offline_order(&mut w.li); // 125.00, taken by li
    w.li.sync().unwrap();
    // The order desk takes a phone call for li's customer: 80.00.
    let desk = Actor::new("sun", Role::OrderDesk, None, fieldsync_core::OFFICE_DEVICE).unwrap();
    let ctx = ChangeCtx::now(desk.clone());
    let number =
        OrderNumber::new(OrderPrefix::new("HQ1").unwrap(), Utc::now().date_naive(), 1).unwrap();
    let mut call = OrderDoc::create(
        &ctx,
        &hengda,
        NewOrder {
            number,
            channel: Channel::Phone,
            reorder_kind: None,
            delivery_date: None,
            evidence: "call notes 2 Dec".into(),
        },
    )
    .unwrap();
    call.add_line(
        &ctx,
        NewLine {
            product: "PT-2".into(),
            name: "Trousers".into(),
            variant: String::new(),
            unit: "pcs".into(),
            quantity: d("4"),
            unit_price: d("20"),
            discount_percent: Decimal::ZERO,
        },
    )
    .unwrap();
    call.submit(&ctx).unwrap();
    w.relay
        .state
        .relay()
        .commit_edit(&desk, call.document())
        .unwrap();
    let taken = call.read().unwrap().id();
    for o in [own, taken] {
        act(&w, &w.manager, o, "approve", serde_json::json!({}));
    }
    let admin = w.relay.api(&w.admin);
    assert_eq!(
        rows(admin.get("/v1/reports/sales-by-salesperson")),
        vec![
            serde_json::json!({"salesperson": "li", "credited_as": "customer's owner", "orders": "2", "amount": "205.00"})
        ]
    );
    assert_eq!(
        rows(admin.get("/v1/reports/sales-by-order-taker")),
        vec![
            serde_json::json!({"taken_by": "li", "credited_as": "took the order", "orders": "1", "amount": "125.00"}),
            serde_json::json!({"taken_by": "sun", "credited_as": "took the order", "orders": "1", "amount": "80.00"}),
        ]
    );
}

#[test]
fn every_report_narrows_by_dates_region_salesperson_and_customer() {
    let mut w = world();
    w.relay.user("chen", Role::Salesperson, Some("west"));
    let dir = tempfile::tempdir().unwrap();
    let mut chen = Phone::enroll(&w.relay.url(), dir.path(), "chen", &w.relay.code("chen"));
    let (hengda, o1) = offline_order(&mut w.li); // 125.00
    let (_, o2) = offline_order(&mut chen); // 125.00, west
    w.li.sync().unwrap();
    chen.sync().unwrap();
    act(&w, &w.manager, o1, "approve", serde_json::json!({}));
    act(&w, &w.west_manager, o2, "approve", serde_json::json!({}));
    let admin = w.relay.api(&w.admin);
    let sold = |q: &str| rows(admin.get(&format!("/v1/reports/sales-by-region?{q}")));
    assert_eq!(sold("").len(), 2);
    assert_eq!(sold("region=west")[0]["region"], "west");
    assert_eq!(sold("region=west").len(), 1);
    assert_eq!(sold("salesperson=li")[0]["region"], "east");
    assert_eq!(sold("salesperson=li").len(), 1);
    assert_eq!(sold(&format!("customer={}", hengda.id())).len(), 1);
    // Business dates are the company's (Shanghai), not UTC's.
    let today = fieldsync_core::BusinessZone::default().date_at(Utc::now());
    let tomorrow = today + chrono::Days::new(1);
    let last_year = today - chrono::Days::new(400);
    assert_eq!(sold(&format!("from={last_year}&to={tomorrow}")).len(), 2);
    assert!(sold(&format!("from={tomorrow}")).is_empty());
    assert!(sold(&format!("to={last_year}")).is_empty());
    let products = rows(admin.get("/v1/reports/sales-by-product?salesperson=chen"));
    assert_eq!(products[0]["amount"], "125.00");
    // Filters that make no sense for a report are refused, saying why.
    let a = admin.get(&format!("/v1/reports/receivables?from={today}"));
    assert_eq!(a.status, 400);
    assert!(
        a.error().contains("takes no from/to dates"),
        "{}",
        a.error()
    );
    let a = admin.get(&format!("/v1/reports/visit-kpis?customer={}", hengda.id()));
    assert_eq!(a.status, 400);
    let a = admin.get("/v1/reports/sales-by-region?from=2026-13-01");
    assert_eq!(a.status, 400);
    assert!(
        a.error().contains("a date written 2026-12-31"),
        "{}",
        a.error()
    );
    // A manager's region still bounds what they see.
    let east = rows(
        w.relay
            .api(&w.manager)
            .get("/v1/reports/sales-by-region?region=west"),
    );
    assert!(east.is_empty(), "{east:?}");
}

#[test]
fn on_time_delivery_and_order_accuracy_follow_their_definitions() {
    let mut w = world();
    let desk = w.relay.user("desk2", Role::OrderDesk, None);
    let ctx = w.li.ctx();
    let mut c = CustomerDoc::create_prospect(&ctx, "Hengda Textiles", "12 Silk Road").unwrap();
    w.li.store.save(c.document()).unwrap();
    let hengda = c.read().unwrap();
    let today = Utc::now().date_naive();
    // Wanted in five days, wanted yesterday, and one without a date that is
    // changed after its approval.
    let wanted = [
        Some(today + chrono::Days::new(5)),
        Some(today - chrono::Days::new(1)),
        None,
    ];
    let orders: Vec<DocId> = wanted
        .iter()
        .map(|date| {
            let number = w.li.store.next_order_number(today).unwrap();
            let mut o = OrderDoc::create(
                &ctx,
                &hengda,
                NewOrder {
                    number,
                    channel: Channel::Visit,
                    reorder_kind: None,
                    delivery_date: *date,
                    evidence: "form".into(),
                },
            )
            .unwrap();
            o.add_line(
                &ctx,
                NewLine {
                    product: "TS-1".into(),
                    name: "Shirt".into(),
                    variant: String::new(),
                    unit: "pcs".into(),
                    quantity: d("1"),
                    unit_price: d("10"),
                    discount_percent: Decimal::ZERO,
                },
            )
            .unwrap();
            o.submit(&ctx).unwrap();
            w.li.store.save(o.document()).unwrap();
            o.read().unwrap().id()
        })
        .collect();
    w.li.sync().unwrap();
    for o in &orders[..2] {
        act(&w, &w.manager, *o, "approve", serde_json::json!({}));
        act(&w, &desk, *o, "confirm", serde_json::json!({}));
        act(&w, &w.warehouse, *o, "in-stock", serde_json::json!({}));
        act(
            &w,
            &w.finance,
            *o,
            "payments",
            serde_json::json!({"amount": "10.00", "reference": "cash"}),
        );
        act(&w, &w.warehouse, *o, "ship", serde_json::json!({}));
        act(&w, &desk, *o, "deliver", serde_json::json!({}));
    }
    act(&w, &w.manager, orders[2], "approve", serde_json::json!({}));
    w.li.sync().unwrap();
    let mut o = OrderDoc::from_document(w.li.store.load(orders[2]).unwrap()).unwrap();
    let line = o.read().unwrap().lines.keys().next().unwrap().clone();
    o.set_quantity(&w.li.ctx(), &line, d("2")).unwrap();
    w.li.store.save(o.document()).unwrap();
    w.li.sync().unwrap();
    act(&w, &w.manager, orders[2], "approve", serde_json::json!({}));
    let perf = rows(w.relay.api(&w.admin).get("/v1/reports/order-performance"));
    assert_eq!(
        perf,
        vec![serde_json::json!({
            "salesperson": "li",
            "delivered_with_a_date": "2", "delivered_on_time": "1", "on_time_delivery_percent": "50",
            "approved": "3", "right_first_time": "2", "order_accuracy_percent": "66.7"
        })]
    );
}

#[test]
fn head_office_splits_an_order_into_its_own_number_and_merges_it_back() {
    let mut w = world();
    let (customer, order) = offline_order(&mut w.li);
    // A second line, so one can go to a later delivery.
    let mut o = OrderDoc::from_document(w.li.store.load(order).unwrap()).unwrap();
    let ctx = w.li.ctx();
    let jacket = o
        .add_line(
            &ctx,
            NewLine {
                product: "JK-1".into(),
                name: "Jacket".into(),
                variant: String::new(),
                unit: "pcs".into(),
                quantity: d("2"),
                unit_price: d("100"),
                discount_percent: Decimal::ZERO,
            },
        )
        .unwrap();
    w.li.store.save(o.document()).unwrap();
    w.li.sync().unwrap();
    let desk = w.relay.user("desk2", Role::OrderDesk, None);
    let api = w.relay.api(&desk);
    let a = api.post(&format!("/v1/orders/{order}/split"), serde_json::json!({}));
    assert_eq!(a.status, 400, "{}", a.error());
    assert!(a.error().contains("lines is required"), "{}", a.error());
    let a = api.post(
        &format!("/v1/orders/{order}/split"),
        serde_json::json!({"lines": [jacket]}),
    );
    assert_eq!(a.status, 200, "{}", a.error());
    let part = a.json();
    let today = fieldsync_core::BusinessZone::default()
        .date_at(Utc::now())
        .format("%Y%m%d")
        .to_string();
    assert_eq!(part["number"], format!("HQ-{today}-001"), "{part}");
    assert_eq!(
        part["status"], "submitted",
        "the order desk hands the part in"
    );
    assert_eq!(part["total"], "200.00");
    let part_id = part["id"].as_str().unwrap().to_string();
    let original = api.get(&format!("/v1/orders/{order}")).json();
    assert_eq!(original["total"], "125.00", "{original}");
    // A line the order does not have is refused.
    let a = api.post(
        &format!("/v1/orders/{order}/split"),
        serde_json::json!({"lines": ["no-such-line"]}),
    );
    assert_eq!(a.status / 100, 4, "{}", a.error());
    // The phone sees both orders after its sync.
    w.li.sync().unwrap();
    let on_phone: Vec<Order> =
        w.li.store
            .list_kind(DocKind::Order)
            .unwrap()
            .into_iter()
            .map(|e| w.li.store.load(e.id).unwrap().view().unwrap())
            .collect();
    assert_eq!(on_phone.len(), 2);
    assert!(on_phone.iter().all(|o| o.customer == customer.id()));
    // Merged back: one order again, the part cancelled into it.
    let a = api.post(
        &format!("/v1/orders/{order}/merge"),
        serde_json::json!({"from": part_id}),
    );
    assert_eq!(a.status, 200, "{}", a.error());
    assert_eq!(a.json()["total"], "325.00");
    let part = api.get(&format!("/v1/orders/{part_id}")).json();
    assert_eq!(part["status"], "cancelled", "{part}");
    let a = api.post(
        &format!("/v1/orders/{order}/merge"),
        serde_json::json!({"from": order.to_string()}),
    );
    assert_eq!(a.status / 100, 4, "{}", a.error());
    // A warehouse clerk does not change what was ordered.
    let a = w.relay.api(&w.warehouse).post(
        &format!("/v1/orders/{order}/split"),
        serde_json::json!({"lines": [jacket]}),
    );
    assert_eq!(a.status, 403, "{}", a.error());
}

#[test]
fn a_phone_whose_clock_runs_ahead_does_not_date_sales_into_the_future() {
    let mut w = world();
    let zone = fieldsync_core::BusinessZone::default();
    let ahead = Utc::now() + chrono::Duration::days(3);
    let ctx = ChangeCtx::new(w.li.actor.clone(), ahead);
    let mut c = CustomerDoc::create_prospect(&ctx, "Future shop", "").unwrap();
    w.li.store.save(c.document()).unwrap();
    let customer = c.read().unwrap();
    let (order, number) = submitted_order(&mut w.li, &customer, ahead, &[("TS-1", "2", "10")]);
    assert!(
        number.contains(&zone.date_at(ahead).format("%Y%m%d").to_string()),
        "the phone numbers by its own clock: {number}"
    );
    w.li.sync().unwrap();
    act(&w, &w.manager, order, "approve", serde_json::json!({}));
    let today = zone.date_at(Utc::now());
    let future = zone.date_at(ahead);
    let sales = |from: chrono::NaiveDate| {
        rows(w.relay.api(&w.admin).get(&format!(
            "/v1/reports/sales-by-salesperson?from={from}&to={from}"
        )))
    };
    assert_eq!(
        sales(future),
        Vec::<serde_json::Value>::new(),
        "not in the future"
    );
    assert_eq!(
        sales(today).len(),
        1,
        "dated when the relay first heard of it"
    );
    // A later change does not move it either.
    act(
        &w,
        &w.manager,
        order,
        "cancel",
        serde_json::json!({"reason": "check"}),
    );
    let (created, steps): (String, Vec<String>) = {
        let mut r = w.relay.state.relay();
        let conn = r.store().connection();
        (
            conn.query_row("SELECT created_at FROM orders", [], |r| r.get(0))
                .unwrap(),
            conn.prepare("SELECT at FROM order_events ORDER BY seq")
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect(),
        )
    };
    let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    assert!(created <= now, "{created} after {now}");
    assert_eq!(steps.len(), 3, "submit, approve, cancel");
    assert!(steps.iter().all(|at| *at <= now), "{steps:?} after {now}");
}

#[test]
fn an_order_entered_whole_in_one_change_is_accepted_like_any_other() {
    let mut w = world();
    let ctx = w.li.ctx();
    let mut c = CustomerDoc::create_prospect(&ctx, "Order fair shop", "").unwrap();
    w.li.store.save(c.document()).unwrap();
    let customer = c.read().unwrap();
    let number =
        w.li.store
            .next_order_number(Utc::now().date_naive())
            .unwrap();
    let lines: Vec<NewLine> = (0..120)
        .map(|i| NewLine {
            product: "TS-1".into(),
            name: "Shirt".into(),
            variant: format!("C{}-S{}", i % 6, i % 20),
            unit: "pcs".into(),
            quantity: d("3"),
            unit_price: d("10"),
            discount_percent: Decimal::ZERO,
        })
        .collect();
    let mut o = OrderDoc::create_with_lines(
        &ctx,
        &customer,
        NewOrder {
            number,
            channel: Channel::OrderFair,
            reorder_kind: None,
            delivery_date: None,
            evidence: "order fair form 17".into(),
        },
        &lines,
    )
    .unwrap();
    o.submit(&ctx).unwrap();
    w.li.store.save(o.document()).unwrap();
    let id = o.read().unwrap().id();
    let summary = w.li.sync().unwrap();
    assert!(summary.refused.is_empty(), "{:?}", summary.refused);
    let page = w
        .relay
        .api(&w.manager)
        .get(&format!("/v1/orders/{id}"))
        .json();
    assert_eq!(page["lines"].as_array().unwrap().len(), 120);
    assert_eq!(page["total"], "3600.00");
}
