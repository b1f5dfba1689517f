//! A customer reassigned to another salesperson: its documents move to the
//! new owner's phone and leave the old one's, and nothing the old phone had
//! not yet sent is lost.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use fieldsync_core::*;
use fieldsync_server::admin;
use fieldsync_tests::*;

fn kinds_on(p: &Phone) -> [usize; 3] {
    [DocKind::Customer, DocKind::Order, DocKind::Visit].map(|k| p.store.list_kind(k).unwrap().len())
}

fn lines_of(p: &Phone, order: DocId) -> usize {
    p.store
        .load(order)
        .unwrap()
        .view::<Order>()
        .unwrap()
        .lines
        .len()
}

#[test]
fn a_reassigned_customer_moves_phones_and_the_old_phones_offline_work_still_lands() {
    let dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start(dir.path());
    relay.user("li", Role::Salesperson, Some("east"));
    relay.user("wang", Role::Salesperson, Some("east"));
    let root = relay.user("root", Role::Admin, None);
    let file = |owner: &str| {
        format!(
            "code,name,address,region,owner,grade,payment_terms,credit_limit\nALFKI,Alfreds Futterkiste,Obere Str. 57,east,{owner},A,credit,5000\n"
        )
    };
    admin::import_customers(&relay.state, file("li").as_bytes(), &mut |_, _| {}).unwrap();
    let mut li = Phone::enroll(&relay.url(), dir.path(), "li-phone", &relay.code("li"));
    let mut wang = Phone::enroll(&relay.url(), dir.path(), "wang-phone", &relay.code("wang"));
    li.sync().unwrap();
    let customer = li.customers().pop().unwrap();
    let (order, _) = submitted_order(
        &mut li,
        &customer,
        chrono::Utc::now(),
        &[("TS-1", "3", "12.50")],
    );
    let mut visit = VisitDoc::plan(
        &li.ctx(),
        &customer,
        VisitPlan {
            planned_start: chrono::Utc::now() + chrono::Duration::days(1),
            purpose: "show the autumn range".into(),
            priority: Priority::Normal,
            materials: String::new(),
        },
    )
    .unwrap();
    li.store.save(visit.document()).unwrap();
    li.sync().unwrap();
    wang.sync().unwrap();
    assert_eq!(kinds_on(&wang), [0, 0, 0]);

    // Li, offline, adds a line; meanwhile head office gives the customer to Wang.
    let mut o = OrderDoc::from_document(li.store.load(order).unwrap()).unwrap();
    o.add_line(
        &li.ctx(),
        NewLine {
            product: "JK-1".into(),
            name: "Jacket".into(),
            variant: String::new(),
            unit: "pcs".into(),
            quantity: "1".parse().unwrap(),
            unit_price: "100".parse().unwrap(),
            discount_percent: rust_decimal::Decimal::ZERO,
        },
    )
    .unwrap();
    li.store.save(o.document()).unwrap();
    let api = relay.api(&root);
    let id = customer.id();
    let a = api.post(
        &format!("/v1/customers/{id}/reassign"),
        serde_json::json!({}),
    );
    assert_eq!(a.status, 400, "{}", a.error());
    let a = api.post(
        &format!("/v1/customers/{id}/reassign"),
        serde_json::json!({"owner": "root"}),
    );
    assert!(
        a.error().contains("a customer belongs to a salesperson"),
        "{}",
        a.error()
    );
    let a = api.post(
        &format!("/v1/customers/{id}/reassign"),
        serde_json::json!({"owner": "wang"}),
    );
    assert_eq!(a.status, 200, "{}", a.error());
    assert_eq!(
        a.json()["documents_moved"],
        3,
        "the customer, its order and its visit"
    );

    // Wang's phone receives all three.
    wang.sync().unwrap();
    assert_eq!(kinds_on(&wang), [1, 1, 1]);
    assert_eq!(lines_of(&wang, order), 1);
    assert_eq!(wang.customers()[0].meta.owner, "wang");

    // Li's line lands, then the documents leave Li's phone.
    let summary = li.sync().unwrap();
    assert!(summary.refused.is_empty(), "{:?}", summary.refused);
    assert_eq!(summary.departed, 3, "{summary:?}");
    assert_eq!(kinds_on(&li), [0, 0, 0]);
    assert_eq!(li.store.pending_count().unwrap(), 0);
    wang.sync().unwrap();
    assert_eq!(lines_of(&wang, order), 2, "li's offline line reached wang");
    let owner: String = relay
        .state
        .relay()
        .store()
        .connection()
        .query_row("SELECT owner FROM orders", [], |r| r.get(0))
        .unwrap();
    assert_eq!(owner, "wang");

    // A moved document is no longer Li's: a change built on the moved
    // document (not on what Li had) is refused, as from anyone else.
    let mut moved = relay.state.relay().load(order).unwrap();
    let mut am = automerge::AutoCommit::load(&moved.save()).unwrap();
    automerge::transaction::Transactable::put(
        &mut am,
        automerge::ROOT,
        "notes",
        "call before delivery",
    )
    .unwrap();
    let a = &li.actor;
    am.commit_with(
        automerge::transaction::CommitOptions::default().with_message(format!(
            "fieldsync/1 user={} role={} device={} region=east",
            a.user(),
            a.role(),
            a.device()
        )),
    );
    li.store
        .save(&mut Document::load(&am.save()).unwrap())
        .unwrap();
    let summary = li.sync().unwrap();
    assert_eq!(summary.refused.len(), 1, "{summary:?}");
    assert!(summary.refused[0].1.contains("is not yours"), "{summary:?}");
    li.store.discard_refused(order).unwrap();

    // The customer file says Li again: everything comes back to Li's phone.
    let back =
        admin::import_customers(&relay.state, file("li").as_bytes(), &mut |_, _| {}).unwrap();
    assert_eq!(back.updated, 1);
    li.sync().unwrap();
    assert_eq!(kinds_on(&li), [1, 1, 1]);
    assert_eq!(lines_of(&li, order), 2);
    let summary = wang.sync().unwrap();
    assert_eq!(summary.departed, 3);
    assert_eq!(kinds_on(&wang), [0, 0, 0]);
}
