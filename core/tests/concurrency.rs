//! Replicas edit offline, then merge in every order and end identical, with the
//! business rules intact.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use fieldsync_core::*;

#[test]
fn concurrent_line_edits_on_one_order() {
    let c = customer();
    let mut base = order(&c);
    let line_id = base.read().unwrap().lines.keys().next().unwrap().clone();
    let mut a = replica(&mut base);
    let mut b = replica(&mut base);
    let mut m = replica(&mut base);
    a.set_quantity(&sales(), &line_id, d("12")).unwrap();
    b.set_unit_price(&sales_tablet(), &line_id, d("11"))
        .unwrap();
    m.set_quantity(&manager(), &line_id, d("20")).unwrap();
    m.set_discount(&manager(), &line_id, d("5")).unwrap();
    let merged = merge_every_order(&mut [a, b, m]);
    let l = &merged.lines[&line_id];
    // Different fields of the line merge; the two quantities resolve the same way everywhere.
    assert_eq!(l.unit_price, d("11"));
    assert_eq!(l.discount_percent, d("5"));
    assert!(l.quantity == d("12") || l.quantity == d("20"));
    assert_eq!(merged.total(), l.total());
}

#[test]
fn concurrent_inserts_of_lines_neither_duplicate_nor_lose() {
    let c = customer();
    let mut base = order(&c);
    let mut replicas: Vec<OrderDoc> = (0..3).map(|_| replica(&mut base)).collect();
    let mut added = Vec::new();
    for (i, r) in replicas.iter_mut().enumerate() {
        for j in 0..(i + 1) {
            added.push(
                r.add_line(&sales(), line(&format!("P{i}{j}"), "1", "10"))
                    .unwrap(),
            );
        }
    }
    let merged = merge_every_order(&mut replicas);
    assert_eq!(merged.lines.len(), 1 + 6);
    for id in &added {
        assert!(merged.lines.contains_key(id), "line {id} lost");
    }
    assert_eq!(merged.total(), d("125") + d("60"));
}

#[test]
fn edit_while_a_manager_approves_shows_changed_after_approval() {
    let c = customer();
    let mut base = order(&c);
    base.submit(&sales()).unwrap();
    let line_id = base.read().unwrap().lines.keys().next().unwrap().clone();
    let mut phone = replica(&mut base);
    let mut office = replica(&mut base);
    phone.set_quantity(&sales(), &line_id, d("30")).unwrap();
    office.approve(&manager(), &c, None).unwrap();
    assert_eq!(office.read().unwrap().status(), OrderStatus::Approved);
    let merged = merge_every_order(&mut [phone, office]);
    assert_eq!(merged.status(), OrderStatus::ChangedAfterApproval);
    assert!(merged.changed_after_approval());
}

#[test]
fn edit_while_a_manager_reapproves_stays_changed_until_the_last_edit_is_approved() {
    let c = customer();
    let mut base = order(&c);
    base.submit(&sales()).unwrap();
    base.approve(&manager(), &c, None).unwrap();
    let line_id = base.read().unwrap().lines.keys().next().unwrap().clone();
    base.set_quantity(&sales(), &line_id, d("11")).unwrap();
    assert_eq!(
        base.read().unwrap().status(),
        OrderStatus::ChangedAfterApproval
    );

    let mut phone = replica(&mut base);
    let mut office = replica(&mut base);
    office.approve(&manager(), &c, None).unwrap(); // re-approves quantity 11
    phone.set_unit_price(&sales(), &line_id, d("13")).unwrap(); // meanwhile, a new price
    let merged = merge_every_order(&mut [phone, office]);
    assert_eq!(merged.status(), OrderStatus::ChangedAfterApproval);

    // Once the manager has seen the new price and re-approves, it is approved.
    let mut office = OrderDoc::load(&base.document().save()).unwrap();
    let mut phone2 = replica(&mut base);
    phone2.set_unit_price(&sales(), &line_id, d("13")).unwrap();
    office.document().merge(phone2.document()).unwrap();
    office.approve(&manager(), &c, None).unwrap();
    assert_eq!(office.read().unwrap().status(), OrderStatus::Approved);
}

#[test]
fn a_revert_to_the_approved_content_is_approved_again() {
    // Two edits that cancel out leave exactly what the manager approved.
    let c = customer();
    let mut base = order(&c);
    base.submit(&sales()).unwrap();
    base.approve(&manager(), &c, None).unwrap();
    let line_id = base.read().unwrap().lines.keys().next().unwrap().clone();
    base.set_quantity(&sales(), &line_id, d("11")).unwrap();
    base.set_quantity(&sales(), &line_id, d("10")).unwrap();
    assert_eq!(base.read().unwrap().status(), OrderStatus::Approved);
}

#[test]
fn cancel_concurrent_with_approve_is_cancelled_everywhere() {
    let c = customer();
    let mut base = order(&c);
    base.submit(&sales()).unwrap();
    let mut phone = replica(&mut base);
    let mut office = replica(&mut base);
    phone.cancel(&sales(), "customer withdrew").unwrap();
    office.approve(&manager(), &c, None).unwrap();
    let merged = merge_every_order(&mut [phone, office]);
    assert_eq!(merged.status(), OrderStatus::Cancelled);
    assert_eq!(
        merged.events.len(),
        3,
        "both events are kept in the audit trail"
    );
    // The event list puts the two in some order (the same on every replica): an
    // approval after the cancellation is superseded; one before it is overtaken.
    let pos = |a: OrderAction| merged.events.iter().position(|e| e.action == a).unwrap();
    let approve = &merged.events[pos(OrderAction::Approve)];
    let expected = if pos(OrderAction::Approve) > pos(OrderAction::Cancel) {
        vec![approve.id.clone()]
    } else {
        vec![]
    };
    assert_eq!(merged.derived().superseded, expected);
}

#[test]
fn three_way_lifecycle_race_converges() {
    // The order desk confirms, a manager cancels and a salesperson edits, all offline.
    let c = customer();
    let mut base = order(&c);
    base.submit(&sales()).unwrap();
    base.approve(&manager(), &c, None).unwrap();
    let line_id = base.read().unwrap().lines.keys().next().unwrap().clone();
    let mut d1 = replica(&mut base);
    let mut d2 = replica(&mut base);
    let mut d3 = replica(&mut base);
    d1.confirm(&desk()).unwrap();
    d2.cancel(&manager(), "duplicate order").unwrap();
    d3.set_quantity(&sales(), &line_id, d("99")).unwrap();
    let merged = merge_every_order(&mut [d1, d2, d3]);
    assert_eq!(merged.status(), OrderStatus::Cancelled);
}

#[test]
fn concurrent_visit_notes_are_all_kept() {
    let c = customer();
    let mut v = VisitDoc::plan(
        &sales(),
        &c,
        VisitPlan {
            planned_start: t0(),
            purpose: "autumn collection".into(),
            priority: Priority::KeyCustomer,
            materials: String::new(),
        },
    )
    .unwrap();
    let mut phone = VisitDoc::from_document(v.document().fork()).unwrap();
    let mut tablet = VisitDoc::from_document(v.document().fork()).unwrap();
    let mut office = VisitDoc::from_document(v.document().fork()).unwrap();
    let n1 = phone
        .add_note(&sales(), "Chen wants samples in blue")
        .unwrap();
    let n2 = tablet
        .add_note(&sales_tablet(), "Shop is being renovated")
        .unwrap();
    let n3 = office
        .add_note(&manager(), "Offer 5% for the fair")
        .unwrap();
    phone.check_in(&sales(), None).unwrap();
    let mut results = Vec::new();
    for perm in permutations(3) {
        let mut docs = [
            phone.document().fork(),
            tablet.document().fork(),
            office.document().fork(),
        ];
        let mut merged = docs[perm[0]].fork();
        for &i in &perm[1..] {
            merged.merge(&mut docs[i]).unwrap();
        }
        results.push(VisitDoc::from_document(merged).unwrap().read().unwrap());
    }
    for r in &results {
        assert_eq!(r, &results[0]);
    }
    let notes = &results[0].notes;
    assert_eq!(notes.len(), 3);
    for n in [n1, n2, n3] {
        assert!(notes.contains_key(&n));
    }
    assert_eq!(results[0].status(), VisitStatus::InProgress);
}

#[test]
fn customer_edits_by_different_roles_merge() {
    let mut base = CustomerDoc::create(
        &admin(),
        NewCustomer {
            name: "Hengda".into(),
            address: "12 Silk Road".into(),
            region: "east".into(),
            owner: "li".into(),
            grade: Grade::B,
            payment_terms: PaymentTerms::Credit,
            credit_limit: d("1000"),
            ..Default::default()
        },
    )
    .unwrap();
    let mut phone = CustomerDoc::from_document(base.document().fork()).unwrap();
    let mut finance = CustomerDoc::from_document(base.document().fork()).unwrap();
    phone
        .set_name_and_address(&sales(), "Hengda Textiles", "14 Silk Road")
        .unwrap();
    let fin = ctx("zheng", Role::Finance, None, "office-6");
    finance
        .set_credit(&fin, PaymentTerms::Credit, 60, d("5000"))
        .unwrap();
    phone.document().merge(finance.document()).unwrap();
    finance.document().merge(phone.document()).unwrap();
    let (p, f) = (phone.read().unwrap(), finance.read().unwrap());
    assert_eq!(p, f);
    assert_eq!(
        (p.address.as_str(), p.credit_limit, p.credit_days),
        ("14 Silk Road", d("5000"), 60)
    );
}
