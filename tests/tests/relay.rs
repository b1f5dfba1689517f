//! The real relay on 127.0.0.1, driven by core's device side over HTTP.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::Utc;
use fieldsync_core::sync::wire;
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
    assert!(s.refused[0].1.contains("cannot approve"), "{:?}", s.refused);
    assert_eq!(w.li.store.refused().unwrap()[0].entry.id, order);
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
    let again = post_json(
        &format!("{}/v1/enroll", w.relay.url()),
        serde_json::json!({ "code": code }),
    );
    assert_eq!(again.status, 401);
    assert!(again.error().contains("already used"), "{}", again.error());
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
            })
            .collect(),
        reconcile: vec![],
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
