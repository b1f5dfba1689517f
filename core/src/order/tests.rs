use rust_decimal::Decimal;

use crate::testing::*;
use crate::*;

fn credit_customer() -> Customer {
    customer("10000", PaymentTerms::Credit).read().unwrap()
}

/// Walks a fresh order up to (and including) `upto`.
fn order_at(c: &Customer, upto: OrderStatus) -> OrderDoc {
    let (mut o, _) = draft_order(c);
    type Step<'a> = Box<dyn Fn(&mut OrderDoc) + 'a>;
    let steps: Vec<(OrderStatus, Step)> = vec![
        (
            OrderStatus::Submitted,
            Box::new(|o| o.submit(&sales()).unwrap()),
        ),
        (
            OrderStatus::Approved,
            Box::new(|o| o.approve(&manager(), c, None).unwrap()),
        ),
        (
            OrderStatus::Confirmed,
            Box::new(|o| o.confirm(&desk()).unwrap()),
        ),
        (
            OrderStatus::InProduction,
            Box::new(|o| o.start_production(&production(), Some(day())).unwrap()),
        ),
        (
            OrderStatus::InStock,
            Box::new(|o| o.mark_in_stock(&warehouse()).unwrap()),
        ),
        (
            OrderStatus::Shipped,
            Box::new(|o| o.ship(&warehouse(), c, Shipment::default(), None).unwrap()),
        ),
        (
            OrderStatus::Delivered,
            Box::new(|o| o.mark_delivered(&desk()).unwrap()),
        ),
        (
            OrderStatus::Settled,
            Box::new(|o| {
                let total = o.read().unwrap().total();
                o.record_payment(&finance(), total, "bank 1").unwrap();
                o.settle(&finance()).unwrap()
            }),
        ),
        (
            OrderStatus::Archived,
            Box::new(|o| o.archive(&finance()).unwrap()),
        ),
    ];
    if upto == OrderStatus::Draft {
        return o;
    }
    for (status, step) in steps {
        step(&mut o);
        assert_eq!(o.read().unwrap().status(), status);
        if status == upto {
            return o;
        }
    }
    panic!("{upto:?} is not on the happy path");
}

#[test]
fn a_new_order_is_a_draft_with_derived_totals() {
    let c = credit_customer();
    let (mut o, _) = draft_order(&c);
    o.add_line(&sales(), line("TS-2", "3", "9.99")).unwrap();
    let r = o.read().unwrap();
    assert_eq!(r.status(), OrderStatus::Draft);
    assert_eq!(r.number, "S07-20261123-001");
    assert_eq!(r.total(), d("154.97"));
    assert_eq!(r.meta.owner, "li");
    assert_eq!(r.meta.region.as_deref(), Some("east"));
}

#[test]
fn money_is_stored_as_canonical_strings() {
    let c = credit_customer();
    let (o, l) = draft_order(&c);
    assert_eq!(
        o.doc.raw_get(&["lines", &l, "unit_price"]).as_deref(),
        Some("12.5")
    );
}

#[test]
fn discounts_are_exact() {
    let c = credit_customer();
    let (mut o, l) = draft_order(&c);
    o.set_discount(&sales(), &l, d("15")).unwrap();
    o.set_quantity(&sales(), &l, d("3")).unwrap();
    o.set_unit_price(&sales(), &l, d("0.35")).unwrap();
    // 3 × 0.35 = 1.05, less 15% = 0.8925 → 0.89
    assert_eq!(o.read().unwrap().total(), d("0.89"));
}

#[test]
fn bad_numbers_are_refused_and_change_nothing() {
    let c = credit_customer();
    let (mut o, l) = draft_order(&c);
    let before = o.document().heads();
    assert_eq!(
        o.set_quantity(&sales(), &l, d("0"))
            .unwrap_err()
            .to_string(),
        "quantity must be positive (got 0)"
    );
    assert!(o.set_quantity(&sales(), &l, d("-2")).is_err());
    assert!(o.set_unit_price(&sales(), &l, d("-1")).is_err());
    assert!(o.set_unit_price(&sales(), &l, d("1.00001")).is_err());
    assert!(o.set_discount(&sales(), &l, d("101")).is_err());
    assert!(matches!(
        o.set_quantity(&sales(), "nope", d("1")),
        Err(Error::UnknownLine { .. })
    ));
    assert_eq!(o.document().heads(), before);
}

#[test]
fn only_the_owner_or_their_manager_edits() {
    let c = credit_customer();
    let (mut o, l) = draft_order(&c);
    assert!(matches!(
        o.set_quantity(&sales_b(), &l, d("2")),
        Err(Error::NotOwner { .. })
    ));
    assert!(matches!(
        o.set_quantity(&manager_west(), &l, d("2")),
        Err(Error::OutsideRegion { .. })
    ));
    assert!(matches!(
        o.set_quantity(&warehouse(), &l, d("2")),
        Err(Error::RoleNotAllowed { .. })
    ));
    o.set_quantity(&manager(), &l, d("2")).unwrap();
    o.set_quantity(&desk(), &l, d("3")).unwrap();
}

#[test]
fn submitting_needs_a_line() {
    let c = credit_customer();
    let (mut o, l) = draft_order(&c);
    o.remove_line(&sales(), &l).unwrap();
    assert_eq!(
        o.submit(&sales()).unwrap_err().to_string(),
        "an order needs at least one line before it is submitted"
    );
}

#[test]
fn an_oral_order_is_not_handed_in() {
    let c = credit_customer();
    let (mut o, _) = draft_order(&c);
    edit_details(&mut o, |d| d.evidence = "  ".into());
    let e = o.submit(&sales()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert!(e.to_string().contains("written evidence"), "{e}");
    edit_details(&mut o, |d| {
        d.evidence = "e-mail of 2 Dec from Mr Chen".into()
    });
    o.submit(&sales()).unwrap();
}

#[test]
fn messages_read_as_english() {
    let c = credit_customer();
    let (mut o, l) = draft_order(&c);
    // The role with its article.
    let e = o.approve(&desk(), &c, None).unwrap_err().to_string();
    assert!(e.starts_with("an order desk clerk cannot"), "{e}");
    // An amount over the cap is told about the cap, not decimal places.
    let e = o
        .set_quantity(&sales(), &l, d("5000000000000"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("1000000000000"), "{e}");
    assert!(!e.contains("decimal places"), "{e}");
    let e = money::parse_amount("unit price", "5000000000000")
        .unwrap_err()
        .to_string();
    assert!(e.contains("at most 1000000000000"), "{e}");
    // A discount typed as a fraction is not silently a fraction of a percent.
    let e = o
        .set_discount(&sales(), &l, d("0.15"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("15 % is written 15"), "{e}");
    o.set_discount(&sales(), &l, d("15")).unwrap();
    o.set_discount(&sales(), &l, d("0")).unwrap();
}

#[test]
fn every_step_is_recorded_with_who_when_where() {
    let c = credit_customer();
    let o = order_at(&c, OrderStatus::Approved).read().unwrap();
    assert_eq!(o.events.len(), 2);
    let approve = &o.events[1];
    assert_eq!(approve.action, OrderAction::Approve);
    assert_eq!(
        (approve.from, approve.to),
        (OrderStatus::Submitted, OrderStatus::Approved)
    );
    assert_eq!(
        (approve.user.as_str(), approve.role.as_str()),
        ("zhao", "manager")
    );
    assert_eq!(approve.device, "office-1");
    assert_eq!(approve.at, t0());
    assert_eq!(approve.digest.as_deref(), Some(o.content_digest().as_str()));
}

#[test]
fn each_step_needs_its_role() {
    let c = credit_customer();
    let mut o = order_at(&c, OrderStatus::Submitted);
    for who in [
        sales(),
        desk(),
        warehouse(),
        finance(),
        production(),
        admin(),
    ] {
        let e = o.approve(&who, &c, None).unwrap_err();
        assert!(
            matches!(
                e,
                Error::RoleNotAllowed {
                    action: "approve orders",
                    ..
                }
            ),
            "{e}"
        );
    }
    assert!(matches!(
        o.approve(&manager_west(), &c, None),
        Err(Error::OutsideRegion { .. })
    ));
    o.approve(&manager(), &c, None).unwrap();
    assert!(matches!(
        o.confirm(&sales()),
        Err(Error::RoleNotAllowed { .. })
    ));
    assert!(matches!(
        o.confirm(&warehouse()),
        Err(Error::RoleNotAllowed { .. })
    ));
    o.confirm(&desk()).unwrap();
    assert!(matches!(
        o.start_production(&desk(), None),
        Err(Error::RoleNotAllowed { .. })
    ));
    o.start_production(&production(), None).unwrap();
    assert!(matches!(
        o.mark_in_stock(&production()),
        Err(Error::RoleNotAllowed { .. })
    ));
    o.mark_in_stock(&warehouse()).unwrap();
    for who in [sales(), manager(), desk(), finance()] {
        assert!(matches!(
            o.ship(&who, &c, Shipment::default(), None),
            Err(Error::RoleNotAllowed { .. })
        ));
    }
    o.ship(&warehouse(), &c, Shipment::default(), None).unwrap();
    assert!(matches!(
        o.mark_delivered(&sales()),
        Err(Error::RoleNotAllowed { .. })
    ));
    o.mark_delivered(&warehouse()).unwrap();
    assert!(matches!(
        o.record_payment(&sales(), d("1"), "x"),
        Err(Error::RoleNotAllowed { .. })
    ));
    assert!(matches!(
        o.settle(&desk()),
        Err(Error::RoleNotAllowed { .. })
    ));
}

#[test]
fn every_refused_transition_is_refused() {
    let c = credit_customer();
    let all = [
        OrderStatus::Draft,
        OrderStatus::Submitted,
        OrderStatus::Approved,
        OrderStatus::Confirmed,
        OrderStatus::InProduction,
        OrderStatus::InStock,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
        OrderStatus::Settled,
        OrderStatus::Archived,
    ];
    type Step = fn(&mut OrderDoc, &Customer) -> Result<()>;
    let steps: [(OrderAction, Step); 11] = [
        (OrderAction::Submit, |o, _| o.submit(&sales())),
        (OrderAction::Approve, |o, c| o.approve(&manager(), c, None)),
        (OrderAction::Reject, |o, _| o.reject(&manager(), "no")),
        (OrderAction::Confirm, |o, _| o.confirm(&desk())),
        (OrderAction::StartProduction, |o, _| {
            o.start_production(&production(), None)
        }),
        (OrderAction::MarkInStock, |o, _| {
            o.mark_in_stock(&warehouse())
        }),
        (OrderAction::Ship, |o, c| {
            o.ship(&warehouse(), c, Shipment::default(), None)
        }),
        (OrderAction::Deliver, |o, _| o.mark_delivered(&desk())),
        (OrderAction::Settle, |o, _| o.settle(&finance())),
        (OrderAction::Archive, |o, _| o.archive(&finance())),
        (OrderAction::Cancel, |o, _| {
            o.cancel(&manager(), "customer withdrew")
        }),
    ];
    for status in all {
        for (action, step) in steps {
            let mut o = order_at(&c, status);
            // Settling needs the money in; pay so that only the status decides.
            if status == OrderStatus::Delivered {
                let total = o.read().unwrap().total();
                o.record_payment(&finance(), total, "bank").unwrap();
            }
            let allowed = action.target(status).is_some()
                && !(action == OrderAction::Reject && status != OrderStatus::Submitted);
            let before = o.document().heads();
            let result = step(&mut o, &c);
            assert_eq!(
                result.is_ok(),
                allowed,
                "{action:?} from {status:?}: {result:?}"
            );
            if !allowed {
                assert_eq!(
                    o.document().heads(),
                    before,
                    "{action:?} from {status:?} changed the doc"
                );
                let msg = result.unwrap_err().to_string();
                assert!(msg.contains("S07-20261123-001"), "{msg}");
            }
        }
    }
}

#[test]
fn settled_orders_cannot_change() {
    let c = credit_customer();
    let mut o = order_at(&c, OrderStatus::Settled);
    let l = o.read().unwrap().lines.keys().next().unwrap().clone();
    let e = o.set_quantity(&sales(), &l, d("1")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "order S07-20261123-001 is settled and can no longer be changed"
    );
    assert!(matches!(
        o.cancel(&manager(), "x"),
        Err(Error::OrderClosed { .. })
    ));
    assert!(matches!(
        o.record_payment(&finance(), d("1"), "x"),
        Err(Error::OrderClosed { .. })
    ));
}

#[test]
fn shipped_orders_lock_their_content() {
    let c = credit_customer();
    let mut o = order_at(&c, OrderStatus::Shipped);
    let l = o.read().unwrap().lines.keys().next().unwrap().clone();
    assert!(matches!(
        o.set_quantity(&sales(), &l, d("1")),
        Err(Error::ContentLocked { .. })
    ));
    assert!(matches!(
        o.add_line(&desk(), line("X", "1", "1")),
        Err(Error::ContentLocked { .. })
    ));
}

#[test]
fn reject_needs_a_reason_and_sends_the_order_back() {
    let c = credit_customer();
    let mut o = order_at(&c, OrderStatus::Submitted);
    assert_eq!(
        o.reject(&manager(), "  "),
        Err(Error::ReasonRequired("reject an order"))
    );
    o.reject(&manager(), "prices too low").unwrap();
    let r = o.read().unwrap();
    assert_eq!(r.status(), OrderStatus::Rejected);
    assert_eq!(r.events.last().unwrap().reason, "prices too low");
    // The salesperson fixes it and resubmits.
    let l = r.lines.keys().next().unwrap().clone();
    o.set_unit_price(&sales(), &l, d("14")).unwrap();
    o.submit(&sales()).unwrap();
    o.approve(&manager(), &c, None).unwrap();
    assert_eq!(o.read().unwrap().status(), OrderStatus::Approved);
}

#[test]
fn a_salesperson_cancels_only_unapproved_orders() {
    let c = credit_customer();
    let mut o = order_at(&c, OrderStatus::Submitted);
    assert_eq!(
        o.cancel(&sales(), ""),
        Err(Error::ReasonRequired("cancel an order"))
    );
    o.cancel(&sales(), "customer changed their mind").unwrap();
    assert_eq!(o.read().unwrap().status(), OrderStatus::Cancelled);
    let mut o = order_at(&c, OrderStatus::Approved);
    assert!(matches!(
        o.cancel(&sales(), "x"),
        Err(Error::RoleNotAllowed { .. })
    ));
    o.cancel(&manager(), "out of stock for the season").unwrap();
}

#[test]
fn editing_an_approved_order_needs_reapproval() {
    let c = credit_customer();
    let mut o = order_at(&c, OrderStatus::Confirmed);
    let l = o.read().unwrap().lines.keys().next().unwrap().clone();
    o.set_quantity(&sales(), &l, d("12")).unwrap();
    let r = o.read().unwrap();
    assert_eq!(r.status(), OrderStatus::ChangedAfterApproval);
    assert!(r.changed_after_approval());
    // Nothing moves on until a manager looks at it again.
    assert!(matches!(
        o.start_production(&production(), None),
        Err(Error::TransitionNotAllowed { .. })
    ));
    o.approve(&manager(), &c, None).unwrap();
    let r = o.read().unwrap();
    assert_eq!(r.status(), OrderStatus::Confirmed);
    assert_eq!(r.events.last().unwrap().action, OrderAction::Reapprove);
    o.start_production(&production(), None).unwrap();
}

/// Changes one of the order's details, keeping the others.
fn edit_details(o: &mut OrderDoc, change: impl FnOnce(&mut OrderDetails)) {
    let order = o.read().unwrap();
    let mut details = OrderDetails {
        delivery: order.delivery.clone(),
        requirements: order.requirements.clone(),
        evidence: order.evidence.clone(),
        deposit: order.deposit,
        customer_reference: order.customer_reference.clone(),
        notes: order.notes.clone(),
    };
    change(&mut details);
    o.set_details(&sales(), details).unwrap();
}

#[test]
fn a_line_s_name_or_unit_changed_after_approval_needs_reapproval() {
    // The typed API has no edit for them; a modified app writes them directly.
    let c = credit_customer();
    for field in ["unit", "name"] {
        let mut o = order_at(&c, OrderStatus::Approved);
        let mut order = o.read().unwrap();
        let line = order.lines.values_mut().next().unwrap();
        match field {
            "unit" => line.unit = "box of 100".into(),
            _ => line.name = "Silk shirt".into(),
        }
        o.document().update(&sales(), &order).unwrap();
        assert!(o.read().unwrap().changed_after_approval(), "{field}");
    }
}

#[test]
fn an_approval_recorded_before_the_digest_covered_more_still_stands() {
    let c = credit_customer();
    let mut o = order_at(&c, OrderStatus::Approved);
    let mut order = o.read().unwrap();
    let legacy = order.legacy_digest();
    order.events.last_mut().unwrap().digest = Some(legacy);
    o.document().update(&sales(), &order).unwrap();
    let read = o.read().unwrap();
    assert_eq!(read.status(), OrderStatus::Approved);
    let l = read.lines.keys().next().unwrap().clone();
    o.set_quantity(&sales(), &l, d("99")).unwrap();
    assert_eq!(
        o.read().unwrap().status(),
        OrderStatus::ChangedAfterApproval
    );
}

#[test]
fn each_content_field_triggers_reapproval_and_details_do_not() {
    let c = credit_customer();
    let other = customer("5000", PaymentTerms::Credit).read().unwrap();
    type Edit = Box<dyn Fn(&mut OrderDoc, &str)>;
    let edits: Vec<(&str, Edit, bool)> = vec![
        (
            "quantity",
            Box::new(|o, l| o.set_quantity(&sales(), l, d("11")).unwrap()),
            true,
        ),
        (
            "price",
            Box::new(|o, l| o.set_unit_price(&sales(), l, d("13")).unwrap()),
            true,
        ),
        (
            "discount",
            Box::new(|o, l| o.set_discount(&sales(), l, d("5")).unwrap()),
            true,
        ),
        (
            "variant",
            Box::new(|o, l| o.set_variant(&sales(), l, "blue/L").unwrap()),
            true,
        ),
        (
            "new line",
            Box::new(|o, _| drop(o.add_line(&sales(), line("Z", "1", "1")).unwrap())),
            true,
        ),
        (
            "customer",
            Box::new(move |o, _| o.set_customer(&sales(), &other).unwrap()),
            true,
        ),
        (
            "delivery date",
            Box::new(|o, _| o.set_delivery_date(&sales(), Some(day())).unwrap()),
            true,
        ),
        (
            "delivery address",
            Box::new(|o, _| edit_details(o, |d| d.delivery.address = "3 Harbour Rd".into())),
            true,
        ),
        (
            "consignee",
            Box::new(|o, _| edit_details(o, |d| d.delivery.consignee = "Mr Wu".into())),
            true,
        ),
        (
            "deposit",
            Box::new(|o, _| edit_details(o, |x| x.deposit = d("50"))),
            true,
        ),
        (
            "notes",
            Box::new(|o, _| edit_details(o, |d| d.notes = "call first".into())),
            false,
        ),
        (
            "evidence",
            Box::new(|o, _| edit_details(o, |d| d.evidence = "fax 12 Nov".into())),
            false,
        ),
        (
            "customer reference",
            Box::new(|o, _| edit_details(o, |d| d.customer_reference = "PO-77".into())),
            false,
        ),
    ];
    for (what, edit, needs_reapproval) in edits {
        let mut o = order_at(&c, OrderStatus::Approved);
        let l = o.read().unwrap().lines.keys().next().unwrap().clone();
        edit(&mut o, &l);
        assert_eq!(
            o.read().unwrap().changed_after_approval(),
            needs_reapproval,
            "{what}"
        );
    }
}

#[test]
fn credit_is_checked_at_approval_with_an_explicit_override() {
    let mut cd = customer("100", PaymentTerms::Credit);
    cd.set_receivables(&finance(), d("10")).unwrap();
    let c = cd.read().unwrap();
    let mut o = order_at(&c, OrderStatus::Submitted); // total 125
    let before = o.document().heads();
    let e = o.approve(&manager(), &c, None).unwrap_err();
    assert!(matches!(e, Error::OverCreditLimit { .. }));
    assert!(
        e.to_string().contains("exceed the credit limit 100.00"),
        "{e}"
    );
    assert_eq!(
        o.approve(&manager(), &c, Some(" ")),
        Err(Error::ReasonRequired("override the credit check"))
    );
    assert_eq!(o.document().heads(), before);
    o.approve(
        &manager(),
        &c,
        Some("long-standing customer, paying Friday"),
    )
    .unwrap();
    let ev = o.read().unwrap().events.pop().unwrap();
    assert!(ev.credit_override);
    assert_eq!(ev.reason, "long-standing customer, paying Friday");
}

#[test]
fn shipping_is_blocked_on_credit_hold_until_payment_arrives() {
    let c = credit_customer();
    let mut o = order_at(&c, OrderStatus::InStock);
    // Meanwhile the customer ran up receivables.
    let mut cd =
        CustomerDoc::load(&customer("200", PaymentTerms::Credit).document().save()).unwrap();
    cd.set_receivables(&finance(), d("150")).unwrap();
    let mut held = cd.read().unwrap();
    held.meta.id = c.id(); // the same customer, as finance now sees it
    assert!(matches!(
        o.ship(&warehouse(), &held, Shipment::default(), None),
        Err(Error::OverCreditLimit { .. })
    ));
    // A payment on this order brings it within the limit: 150 + (125 - 75) = 200.
    o.record_payment(&finance(), d("75"), "bank 7").unwrap();
    o.ship(&warehouse(), &held, Shipment::default(), None)
        .unwrap();
    assert_eq!(o.read().unwrap().status(), OrderStatus::Shipped);
}

#[test]
fn cash_customers_pay_before_shipping() {
    let c = customer("0", PaymentTerms::Cash).read().unwrap();
    let mut o = order_at(&c, OrderStatus::InStock);
    let e = o
        .ship(&warehouse(), &c, Shipment::default(), None)
        .unwrap_err();
    assert!(matches!(e, Error::CashNotPaid { .. }), "{e}");
    o.record_payment(&finance(), d("125"), "cash receipt 9")
        .unwrap();
    o.ship(&warehouse(), &c, Shipment::default(), None).unwrap();
}

#[test]
fn the_credit_check_needs_the_orders_customer() {
    let c = credit_customer();
    let other = credit_customer();
    let mut o = order_at(&c, OrderStatus::Submitted);
    assert!(matches!(
        o.approve(&manager(), &other, None),
        Err(Error::WrongCustomer { .. })
    ));
}

#[test]
fn settling_needs_full_payment() {
    let c = credit_customer();
    let mut o = order_at(&c, OrderStatus::Delivered);
    o.record_payment(&finance(), d("100"), "bank").unwrap();
    let e = o.settle(&finance()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "order S07-20261123-001 has 25.00 outstanding; it can be settled once paid in full"
    );
    assert!(o.record_payment(&finance(), d("0"), "x").is_err());
    o.record_payment(&finance(), d("25"), "bank").unwrap();
    o.settle(&finance()).unwrap();
}

#[test]
fn the_shipping_notice_carries_the_customers_reference() {
    let c = credit_customer();
    let mut o = order_at(&c, OrderStatus::Draft);
    o.set_details(
        &sales(),
        OrderDetails {
            customer_reference: "PO-5531".into(),
            evidence: "signed order form".into(),
            ..Default::default()
        },
    )
    .unwrap();
    let o = {
        o.submit(&sales()).unwrap();
        o.approve(&manager(), &c, None).unwrap();
        o.confirm(&desk()).unwrap();
        o.mark_in_stock(&warehouse()).unwrap();
        o.ship(&warehouse(), &c, Shipment::default(), None).unwrap();
        o.read().unwrap()
    };
    assert!(
        o.shipment.notice.contains("PO-5531"),
        "{}",
        o.shipment.notice
    );
}

#[test]
fn reorders_need_their_kind() {
    let c = credit_customer();
    let new = NewOrder {
        number: number(2),
        channel: Channel::Reorder,
        reorder_kind: None,
        delivery_date: None,
        evidence: String::new(),
    };
    assert!(OrderDoc::create(&sales(), &c, new.clone()).is_err());
    let o = OrderDoc::create(
        &sales(),
        &c,
        NewOrder {
            reorder_kind: Some(ReorderKind::SizeRefill),
            ..new
        },
    )
    .unwrap();
    assert_eq!(
        o.read().unwrap().reorder_kind,
        Some(ReorderKind::SizeRefill)
    );
}

#[test]
fn a_salesperson_orders_only_for_their_own_customers() {
    let c = credit_customer();
    let new = NewOrder {
        number: number(3),
        channel: Channel::Phone,
        reorder_kind: None,
        delivery_date: None,
        evidence: String::new(),
    };
    assert!(matches!(
        OrderDoc::create(&sales_b(), &c, new.clone()),
        Err(Error::NotOwner { .. })
    ));
    assert!(OrderDoc::create(&desk(), &c, new).is_ok());
}

#[test]
fn split_moves_lines_into_a_new_submitted_order() {
    let c = credit_customer();
    let (mut o, l1) = draft_order(&c);
    let l2 = o.add_line(&sales(), line("TS-2", "4", "20")).unwrap();
    o.submit(&sales()).unwrap();
    o.approve(&manager(), &c, None).unwrap();
    let mut part = o
        .split(&desk(), std::slice::from_ref(&l2), number(2))
        .unwrap();
    let (a, b) = (o.read().unwrap(), part.read().unwrap());
    assert_eq!(a.lines.keys().collect::<Vec<_>>(), vec![&l1]);
    assert_eq!(b.lines.keys().collect::<Vec<_>>(), vec![&l2]);
    assert_eq!(a.total() + b.total(), d("205"));
    assert_eq!(b.split_from.as_deref(), Some("S07-20261123-001"));
    assert_eq!(b.number, "S07-20261123-002");
    assert_eq!(b.customer, a.customer);
    assert_eq!(b.status(), OrderStatus::Submitted);
    assert_eq!(a.status(), OrderStatus::ChangedAfterApproval);
    assert_ne!(a.id(), b.id());
    // Both go through approval again.
    part.approve(&manager(), &c, None).unwrap();
    o.approve(&manager(), &c, None).unwrap();
    assert_eq!(o.read().unwrap().status(), OrderStatus::Approved);
}

#[test]
fn a_manager_splits_into_a_draft_the_relay_accepts() {
    use crate::sync::Policy;
    let c = credit_customer();
    let (mut o, _) = draft_order(&c);
    let l2 = o.add_line(&sales(), line("TS-2", "4", "20")).unwrap();
    o.submit(&sales()).unwrap();
    let mut part = o
        .split(&manager(), std::slice::from_ref(&l2), number(2))
        .unwrap();
    // A manager does not hand orders in: the part waits for the salesperson.
    assert_eq!(part.read().unwrap().status(), OrderStatus::Draft);
    let content = part.document().content().unwrap();
    crate::rules::RolePolicy
        .check(&manager().actor, None, &content)
        .unwrap();
}

#[test]
fn split_refuses_to_empty_the_order() {
    let c = credit_customer();
    let (mut o, l1) = draft_order(&c);
    assert!(matches!(
        o.split(&sales(), &[l1], number(2)),
        Err(Error::InvalidSplitOrMerge { .. })
    ));
    assert!(matches!(
        o.split(&sales(), &[], number(2)),
        Err(Error::InvalidSplitOrMerge { .. })
    ));
    assert!(matches!(
        o.split(&sales(), &["x".into()], number(2)),
        Err(Error::UnknownLine { .. })
    ));
}

#[test]
fn merge_combines_lines_of_the_same_customer() {
    let c = credit_customer();
    let (mut a, _) = draft_order(&c);
    let (mut b, _) = draft_order(&c);
    b.add_line(&sales(), line("TS-9", "2", "5")).unwrap();
    a.merge_from(&sales(), &mut b).unwrap();
    let (ra, rb) = (a.read().unwrap(), b.read().unwrap());
    // TS-1 red/M at 12.50 combined (10 + 10), TS-9 added.
    assert_eq!(ra.lines.len(), 2);
    assert_eq!(ra.total(), d("260"));
    assert_eq!(rb.status(), OrderStatus::Cancelled);
    assert_eq!(rb.merged_into.as_deref(), Some(ra.number.as_str()));
    assert!(
        rb.events
            .last()
            .unwrap()
            .reason
            .contains("merged into order")
    );
}

#[test]
fn merge_refuses_different_customers() {
    let c = credit_customer();
    let c2 = credit_customer();
    let (mut a, _) = draft_order(&c);
    let (mut b, _) = draft_order(&c2);
    let before = b.document().heads();
    assert!(matches!(
        a.merge_from(&sales(), &mut b),
        Err(Error::InvalidSplitOrMerge { .. })
    ));
    assert_eq!(b.document().heads(), before);
}

#[test]
fn history_says_who_changed_which_field() {
    let c = credit_customer();
    let (mut o, l) = draft_order(&c);
    let mut edit = sales();
    edit.at = t0() + chrono::Duration::hours(1);
    o.set_quantity(&edit, &l, d("15")).unwrap();
    let history = o.document().history();
    let change = history
        .iter()
        .find(|h| h.path == format!("lines/{l}/quantity") && h.value.as_deref() == Some("15"))
        .expect("the quantity change is in the history");
    let actor = change.actor.as_ref().unwrap();
    assert_eq!(
        (actor.user(), actor.device(), actor.role()),
        ("li", "phone-li", Role::Salesperson)
    );
    assert_eq!(change.at, edit.at);
    assert_eq!(change.old.as_deref(), Some("10"), "the value it had before");
}

#[test]
fn loading_checks_the_kind() {
    let mut c = customer("1", PaymentTerms::Cash);
    let bytes = c.document().save();
    assert!(matches!(
        OrderDoc::load(&bytes),
        Err(Error::WrongKind { .. })
    ));
    assert!(matches!(OrderDoc::load(b"garbage"), Err(Error::Corrupt(_))));
    assert!(matches!(OrderDoc::load(&[]), Err(Error::Corrupt(_))));
}

#[test]
fn saved_orders_load_back_identical() {
    let c = credit_customer();
    let mut o = order_at(&c, OrderStatus::InProduction);
    let bytes = o.document().save();
    let back = OrderDoc::load(&bytes).unwrap();
    assert_eq!(back.read().unwrap(), o.read().unwrap());
    assert_eq!(Decimal::from(125), back.read().unwrap().total());
}

#[test]
fn documents_created_with_the_current_time_load_back() {
    // Instants are stored to the millisecond; a sub-millisecond clock must not
    // make the stored header differ from the one created.
    let now = ChangeCtx::now(admin().actor);
    let mut c = CustomerDoc::create(
        &now,
        NewCustomer {
            name: "Now Ltd".into(),
            address: String::new(),
            region: "east".into(),
            owner: "li".into(),
            grade: Grade::B,
            payment_terms: PaymentTerms::Cash,
            credit_limit: Decimal::ZERO,
            ..Default::default()
        },
    )
    .unwrap();
    let back = CustomerDoc::load(&c.document().save()).unwrap();
    assert_eq!(back.read().unwrap().meta.created_at, now.at);
}

#[test]
fn an_order_entered_whole_is_one_change_and_each_line_is_checked() {
    let c = credit_customer();
    let new = || NewOrder {
        number: number(7),
        channel: Channel::Visit,
        reorder_kind: None,
        delivery_date: None,
        evidence: "signed order form".into(),
    };
    let lines: Vec<NewLine> = (0..300)
        .map(|i| line(&format!("TS-{i}"), "2", "12.50"))
        .collect();
    let mut o = OrderDoc::create_with_lines(&sales(), &c, new(), &lines).unwrap();
    assert_eq!(
        o.document().automerge().get_changes(&[]).len(),
        1,
        "one change"
    );
    let read = o.read().unwrap();
    assert_eq!(read.lines.len(), 300);
    assert_eq!(read.total(), d("7500"));
    // The lines keep the order they were given in.
    let products: Vec<&str> = read.lines.values().map(|l| l.product.as_str()).collect();
    assert_eq!(products[0], "TS-0");
    assert_eq!(products[299], "TS-299");
    // One bad line and nothing is made.
    let mut bad = lines.clone();
    bad[150].quantity = d("0");
    assert!(OrderDoc::create_with_lines(&sales(), &c, new(), &bad).is_err());
    // It goes through the same rules as an order built line by line.
    o.submit(&sales()).unwrap();
    assert_eq!(o.read().unwrap().status(), OrderStatus::Submitted);
}

#[test]
fn adding_a_line_is_one_small_change_and_keeps_every_check() {
    let c = credit_customer();
    let (mut o, _) = draft_order(&c);
    let ops_of_last = |o: &mut OrderDoc| {
        let am = o.document().automerge();
        let heads = am.get_heads();
        am.get_change_by_hash(&heads[0]).unwrap().len()
    };
    o.add_line(&sales(), line("TS-2", "1", "10")).unwrap();
    let first = ops_of_last(&mut o);
    for i in 0..60 {
        o.add_line(&sales(), line(&format!("TS-{i}"), "1", "10"))
            .unwrap();
    }
    assert_eq!(
        ops_of_last(&mut o),
        first,
        "the 62nd line costs what the 2nd did"
    );
    assert_eq!(o.read().unwrap().lines.len(), 62);
    // Still every check of an edit: not after shipping, not someone else's,
    // not a bad value.
    assert!(o.add_line(&warehouse(), line("TS-1", "1", "10")).is_err());
    assert!(o.add_line(&sales(), line("", "1", "10")).is_err());
    assert!(o.add_line(&sales(), line("TS-1", "-1", "10")).is_err());
    let mut shipped = order_at(&c, OrderStatus::Shipped);
    let e = shipped
        .add_line(&sales(), line("TS-1", "1", "10"))
        .unwrap_err();
    assert!(matches!(e, Error::ContentLocked { .. }), "{e}");
}

#[test]
fn a_batch_of_line_edits_is_one_change_and_all_or_nothing() {
    let c = credit_customer();
    let (mut o, first) = draft_order(&c);
    let changes_before = o.document().changes_after(&[]).len();
    let added = o
        .edit_lines(
            &sales(),
            vec![
                LineEdit::Add(line("TS-2", "3", "20")),
                LineEdit::Add(line("TS-3", "1", "5")),
                LineEdit::SetQuantity {
                    line: first.clone(),
                    quantity: d("4"),
                },
                // A second edit of the same line sees the first.
                LineEdit::SetUnitPrice {
                    line: first.clone(),
                    unit_price: d("10"),
                },
            ],
        )
        .unwrap();
    assert_eq!(added.len(), 2);
    assert_eq!(o.document().changes_after(&[]).len(), changes_before + 1);
    let read = o.read().unwrap();
    assert_eq!(read.lines[&first].quantity, d("4"));
    assert_eq!(read.lines[&first].unit_price, d("10"));
    assert_eq!(read.total(), d("105"));
    // What is kept for reading is what the document holds.
    let fresh = OrderDoc::load(&o.document().save())
        .unwrap()
        .read()
        .unwrap();
    assert_eq!(fresh, read);

    // A refused edit at the end undoes the whole batch.
    let heads = o.document().heads();
    let e = o
        .edit_lines(
            &sales(),
            vec![
                LineEdit::Remove {
                    line: added[0].clone(),
                },
                LineEdit::Add(line("TS-4", "2", "1")),
                LineEdit::SetQuantity {
                    line: added[1].clone(),
                    quantity: d("0"),
                },
            ],
        )
        .unwrap_err();
    assert!(matches!(e, Error::QuantityNotPositive(_)), "{e}");
    assert_eq!(o.document().heads(), heads);
    assert_eq!(o.read().unwrap(), read);
    // A line removed in the batch cannot be edited later in it.
    let e = o
        .edit_lines(
            &sales(),
            vec![
                LineEdit::Remove {
                    line: added[0].clone(),
                },
                LineEdit::SetDiscount {
                    line: added[0].clone(),
                    percent: d("5"),
                },
            ],
        )
        .unwrap_err();
    assert!(matches!(e, Error::UnknownLine { .. }), "{e}");
    assert_eq!(o.read().unwrap().lines.len(), 3);
}

#[test]
fn concurrent_line_batches_on_two_phones_merge_line_by_line() {
    let c = credit_customer();
    let (mut a, first) = draft_order(&c);
    let mut b = OrderDoc::from_document(a.document().fork()).unwrap();
    a.edit_lines(
        &sales(),
        vec![
            LineEdit::Add(line("TS-2", "3", "20")),
            LineEdit::SetQuantity {
                line: first.clone(),
                quantity: d("7"),
            },
        ],
    )
    .unwrap();
    b.edit_lines(
        &sales(),
        vec![
            LineEdit::Add(line("TS-3", "1", "5")),
            LineEdit::SetDiscount {
                line: first.clone(),
                percent: d("10"),
            },
        ],
    )
    .unwrap();
    let mut b_doc = b.document().fork();
    a.document().merge(&mut b_doc).unwrap();
    let mut a_doc = a.document().fork();
    b.document().merge(&mut a_doc).unwrap();
    let (ra, rb) = (a.read().unwrap(), b.read().unwrap());
    assert_eq!(ra, rb);
    assert_eq!(ra.lines.len(), 3);
    assert_eq!(ra.lines[&first].quantity, d("7"));
    assert_eq!(ra.lines[&first].discount_percent, d("10"));
}

#[test]
fn a_line_laid_out_for_batch_insertion_is_what_reconcile_writes() {
    use automerge::ReadDoc;
    let l = OrderLine {
        product: "TS-1".into(),
        name: "衬衫 Shirt".into(),
        variant: "red/M".into(),
        unit: "pcs".into(),
        quantity: d("10.50"),
        unit_price: d("12.5000"),
        discount_percent: d("0"),
    };
    let mut written = automerge::AutoCommit::new();
    autosurgeon::reconcile_prop(&mut written, automerge::ROOT, "line", &l).unwrap();
    let (_, obj) = written.get(automerge::ROOT, "line").unwrap().unwrap();
    assert_eq!(written.hydrate(&obj, None).unwrap(), l.laid_out());
}
