//! The relay's role policy: each rule attempted by someone who may not, and
//! refused; and the legitimate version accepted.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use fieldsync_core::rules::RolePolicy;
use fieldsync_core::sync::Policy;
use fieldsync_core::*;

fn warehouse() -> ChangeCtx {
    ctx("wu", Role::Warehouse, None, "office-5")
}
fn finance() -> ChangeCtx {
    ctx("zheng", Role::Finance, None, "office-6")
}
fn production() -> ChangeCtx {
    ctx("zhou", Role::Production, None, "office-4")
}

/// Checks the change from `before` to the current state of `after` as made by `who`.
fn check(who: &ChangeCtx, before: &mut Document, after: &mut Document) -> Result<(), String> {
    let (before, after) = (before.content().unwrap(), after.content().unwrap());
    RolePolicy.check(&who.actor, Some(&before), &after)
}

/// An order walked to `upto` with the right people; returns it and its customer.
fn order_at(upto: OrderStatus) -> (OrderDoc, Customer) {
    let c = customer();
    let mut o = order(&c);
    type Step<'a> = &'a dyn Fn(&mut OrderDoc);
    let steps: &[(OrderStatus, Step)] = &[
        (OrderStatus::Submitted, &|o| o.submit(&sales()).unwrap()),
        (OrderStatus::Approved, &|o| {
            o.approve(&manager(), &c, None).unwrap()
        }),
        (OrderStatus::Confirmed, &|o| o.confirm(&desk()).unwrap()),
        (OrderStatus::InStock, &|o| {
            o.mark_in_stock(&warehouse()).unwrap()
        }),
        (OrderStatus::Shipped, &|o| {
            o.ship(&warehouse(), &c, Shipment::default(), None).unwrap()
        }),
        (OrderStatus::Delivered, &|o| {
            o.mark_delivered(&desk()).unwrap()
        }),
        (OrderStatus::Settled, &|o| {
            let t = o.read().unwrap().total();
            o.record_payment(&finance(), t, "bank").unwrap();
            o.settle(&finance()).unwrap()
        }),
    ];
    if upto != OrderStatus::Draft {
        for (status, step) in steps {
            step(&mut o);
            if *status == upto {
                break;
            }
        }
    }
    assert_eq!(o.read().unwrap().status(), upto);
    (o, c)
}

/// A forged context: the device is Li's phone, but the app claims another role.
fn li_claiming(role: Role) -> ChangeCtx {
    ctx("li", role, Some("east"), "phone-li")
}

#[test]
fn a_salesperson_cannot_approve_ship_pay_or_raise_credit() {
    let (mut o, c) = order_at(OrderStatus::Submitted);
    let mut before = o.document().fork();
    o.approve(&li_claiming(Role::Manager), &c, None).unwrap();
    let e = check(&sales(), &mut before, o.document()).unwrap_err();
    assert!(e.contains("cannot approve orders"), "{e}");

    let (mut o, c) = order_at(OrderStatus::Confirmed);
    let mut before = o.document().fork();
    o.mark_in_stock(&li_claiming(Role::Warehouse)).unwrap();
    o.ship(&li_claiming(Role::Warehouse), &c, Shipment::default(), None)
        .unwrap();
    assert!(
        check(&sales(), &mut before, o.document())
            .unwrap_err()
            .contains("cannot")
    );

    let (mut o, _) = order_at(OrderStatus::Approved);
    let mut before = o.document().fork();
    o.record_payment(&li_claiming(Role::Finance), d("10"), "fake")
        .unwrap();
    assert!(
        check(&sales(), &mut before, o.document())
            .unwrap_err()
            .contains("cannot record payments")
    );

    let mut cust = CustomerDoc::create(
        &admin(),
        NewCustomer {
            name: "Hengda".into(),
            address: String::new(),
            region: "east".into(),
            owner: "li".into(),
            grade: Grade::B,
            payment_terms: PaymentTerms::Credit,
            credit_limit: d("1000"),
            ..Default::default()
        },
    )
    .unwrap();
    let mut before = cust.document().fork();
    cust.set_credit(
        &li_claiming(Role::Finance),
        PaymentTerms::Credit,
        30,
        d("999999"),
    )
    .unwrap();
    let e = check(&sales(), &mut before, cust.document()).unwrap_err();
    assert!(e.contains("cannot change credit limits"), "{e}");
    // Finance may.
    assert!(check(&finance(), &mut before, cust.document()).is_ok());

    // The customer code is head office's key: only an administrator sets
    // it; the shop's phone and tax number are sales' details.
    let mut before = cust.document().fork();
    cust.set_code(&li_claiming(Role::Admin), "HENG-01").unwrap();
    let e = check(&sales(), &mut before, cust.document()).unwrap_err();
    assert!(
        e.contains("a salesperson cannot change customer codes"),
        "{e}"
    );
    assert!(check(&admin(), &mut before, cust.document()).is_ok());
    let mut before = cust.document().fork();
    cust.set_phone_and_tax_number(&sales(), "021-5555", "9131")
        .unwrap();
    assert!(check(&sales(), &mut before, cust.document()).is_ok());
    let e = check(&warehouse(), &mut before, cust.document()).unwrap_err();
    assert!(e.contains("cannot edit customer details"), "{e}");
}

#[test]
fn the_right_roles_are_accepted() {
    let (mut o, c) = order_at(OrderStatus::Submitted);
    let mut before = o.document().fork();
    o.approve(&manager(), &c, None).unwrap();
    check(&manager(), &mut before, o.document()).unwrap();

    let (mut o, _) = order_at(OrderStatus::Draft);
    let mut before = o.document().fork();
    let l = o.read().unwrap().lines.keys().next().unwrap().clone();
    o.set_quantity(&sales(), &l, d("3")).unwrap();
    o.submit(&sales()).unwrap();
    check(&sales(), &mut before, o.document()).unwrap();

    let (mut o, c) = order_at(OrderStatus::InStock);
    let mut before = o.document().fork();
    o.ship(
        &warehouse(),
        &c,
        Shipment {
            carrier: "SF".into(),
            ..Default::default()
        },
        None,
    )
    .unwrap();
    check(&warehouse(), &mut before, o.document()).unwrap();

    let (mut o, _) = order_at(OrderStatus::Confirmed);
    let mut before = o.document().fork();
    o.start_production(&production(), Some(day())).unwrap();
    check(&production(), &mut before, o.document()).unwrap();
}

#[test]
fn a_settled_order_cannot_be_touched() {
    let (mut delivered, _) = order_at(OrderStatus::Delivered);
    let mut stale = OrderDoc::from_document(delivered.document().fork()).unwrap();
    // On the relay the order is paid and settled ...
    let t = delivered.read().unwrap().total();
    delivered.record_payment(&finance(), t, "bank").unwrap();
    delivered.settle(&finance()).unwrap();
    let mut before = delivered.document().fork();
    // ... while a copy that had not heard of it records another payment.
    stale.record_payment(&finance(), d("5"), "again").unwrap();
    let mut after = delivered.document().fork();
    after.merge(stale.document()).unwrap();
    let e = check(&finance(), &mut before, &mut after).unwrap_err();
    assert_eq!(
        e,
        "order S07-20261123-001 is settled and can no longer be changed"
    );
    // Archiving is the one step left.
    let mut archived = OrderDoc::from_document(before.fork()).unwrap();
    archived.archive(&finance()).unwrap();
    check(&finance(), &mut before, archived.document()).unwrap();
}

#[test]
fn another_salespersons_documents_are_refused() {
    let (mut o, _) = order_at(OrderStatus::Draft);
    let mut before = o.document().fork();
    let l = o.read().unwrap().lines.keys().next().unwrap().clone();
    o.set_quantity(&sales(), &l, d("2")).unwrap();
    let wang = ctx("wang", Role::Salesperson, Some("east"), "phone-wang");
    assert!(
        check(&wang, &mut before, o.document())
            .unwrap_err()
            .contains("not yours")
    );
    let west = ctx("qian", Role::Manager, Some("west"), "office-2");
    assert!(
        check(&west, &mut before, o.document())
            .unwrap_err()
            .contains("not yours")
    );
}

#[test]
fn warehouse_cannot_change_lines_and_forged_authors_are_refused() {
    let (mut o, _) = order_at(OrderStatus::Confirmed);
    let mut before = o.document().fork();
    let l = o.read().unwrap().lines.keys().next().unwrap().clone();
    o.set_unit_price(&li_claiming(Role::OrderDesk), &l, d("1"))
        .unwrap();
    let e = check(&warehouse(), &mut before, o.document()).unwrap_err();
    assert!(e.contains("cannot change order lines"), "{e}");

    // A step signed with someone else's name.
    let (mut o, c) = order_at(OrderStatus::Submitted);
    let mut before = o.document().fork();
    o.approve(&manager(), &c, None).unwrap();
    let other_manager = ctx("zhao", Role::Manager, Some("east"), "stolen-laptop");
    let e = check(&other_manager, &mut before, o.document()).unwrap_err();
    assert!(e.contains("signed by zhao"), "{e}");
}

#[test]
fn a_salesperson_creates_only_prospects_of_their_own() {
    let mut ok = CustomerDoc::create_prospect(&sales(), "New Shop", "").unwrap();
    RolePolicy
        .check(&sales().actor, None, &ok.document().content().unwrap())
        .unwrap();
    let mut active = CustomerDoc::create(
        &li_claiming(Role::Admin),
        NewCustomer {
            name: "Sneaky".into(),
            address: String::new(),
            region: "east".into(),
            owner: "li".into(),
            grade: Grade::A,
            payment_terms: PaymentTerms::Credit,
            credit_limit: d("50000"),
            ..Default::default()
        },
    )
    .unwrap();
    let e = RolePolicy
        .check(&sales().actor, None, &active.document().content().unwrap())
        .unwrap_err();
    assert!(e.contains("only create prospects"), "{e}");
}

#[test]
fn a_new_step_reusing_an_old_steps_id_is_checked_like_any_new_step() {
    let (o, c) = order_at(OrderStatus::Submitted);
    let before = o.read().unwrap();
    // The salesperson's app adds an approval under the id of its own
    // submission, hoping the relay takes it for the old step.
    let mut forged = before.clone();
    let mut approval = forged.events.last().unwrap().clone();
    approval.action = OrderAction::Approve;
    approval.from = OrderStatus::Submitted;
    approval.to = OrderStatus::Approved;
    forged.events.push(approval);
    let e = RolePolicy
        .check(
            &sales().actor,
            Some(&Content::Order(before.clone())),
            &Content::Order(forged),
        )
        .unwrap_err();
    assert!(e.contains("twice"), "{e}");

    // The same for a complaint: a resolution under the id of the recording step.
    let mut complaint = ComplaintDoc::record(
        &sales(),
        &c,
        NewComplaint {
            subject: "late delivery".into(),
            description: String::new(),
            visit: None,
            order: None,
            apologised: true,
        },
    )
    .unwrap();
    complaint.resolve(&manager(), "sent a new batch").unwrap();
    complaint
        .report_back(&sales(), "customer is happy")
        .unwrap();
    let before = complaint.read().unwrap();
    let mut forged = before.clone();
    let mut step = forged.events.last().unwrap().clone();
    step.action = ComplaintAction::Resolve;
    forged.events.push(step);
    let e = RolePolicy
        .check(
            &sales().actor,
            Some(&Content::Complaint(before)),
            &Content::Complaint(forged),
        )
        .unwrap_err();
    assert!(e.contains("twice"), "{e}");
}
