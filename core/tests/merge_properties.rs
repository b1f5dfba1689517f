//! Property: whatever the operations and however replicas exchange them, every
//! replica that saw the same changes shows the same order, and the invariants
//! hold on every replica after every merge.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use fieldsync_core::*;
use proptest::prelude::*;
use rust_decimal::Decimal;

/// One step of the random scenario.
#[derive(Debug, Clone)]
enum Step {
    AddLine {
        replica: usize,
        qty: u8,
        price: u16,
    },
    SetQuantity {
        replica: usize,
        line: usize,
        qty: u8,
    },
    SetPrice {
        replica: usize,
        line: usize,
        price: u16,
    },
    SetDiscount {
        replica: usize,
        line: usize,
        pct: u8,
    },
    RemoveLine {
        replica: usize,
        line: usize,
    },
    SetDeliveryDate {
        replica: usize,
        days: u8,
    },
    Submit {
        replica: usize,
    },
    Approve {
        replica: usize,
    },
    Reject {
        replica: usize,
    },
    Cancel {
        replica: usize,
        by_manager: bool,
    },
    Confirm {
        replica: usize,
    },
    /// Replica `from` sends everything it has to replica `to`.
    Sync {
        from: usize,
        to: usize,
    },
}

const REPLICAS: usize = 3;

fn step() -> impl Strategy<Value = Step> {
    let r = 0..REPLICAS;
    prop_oneof![
        3 => (r.clone(), 1..50u8, 1..500u16).prop_map(|(replica, qty, price)| Step::AddLine { replica, qty, price }),
        3 => (r.clone(), 0..8usize, 1..50u8).prop_map(|(replica, line, qty)| Step::SetQuantity { replica, line, qty }),
        2 => (r.clone(), 0..8usize, 1..500u16).prop_map(|(replica, line, price)| Step::SetPrice { replica, line, price }),
        1 => (r.clone(), 0..8usize, 0..40u8).prop_map(|(replica, line, pct)| Step::SetDiscount { replica, line, pct }),
        1 => (r.clone(), 0..8usize).prop_map(|(replica, line)| Step::RemoveLine { replica, line }),
        1 => (r.clone(), 0..30u8).prop_map(|(replica, days)| Step::SetDeliveryDate { replica, days }),
        2 => r.clone().prop_map(|replica| Step::Submit { replica }),
        2 => r.clone().prop_map(|replica| Step::Approve { replica }),
        1 => r.clone().prop_map(|replica| Step::Reject { replica }),
        1 => (r.clone(), any::<bool>()).prop_map(|(replica, by_manager)| Step::Cancel { replica, by_manager }),
        1 => r.clone().prop_map(|replica| Step::Confirm { replica }),
        4 => (r.clone(), r).prop_map(|(from, to)| Step::Sync { from, to }),
    ]
}

fn nth_line(o: &OrderDoc, n: usize) -> String {
    let lines: Vec<String> = o.read().unwrap().lines.keys().cloned().collect();
    if lines.is_empty() {
        "no-such-line".into()
    } else {
        lines[n % lines.len()].clone()
    }
}

fn apply(replicas: &mut [OrderDoc], c: &Customer, step: &Step) {
    if let Step::Sync { from, to } = *step {
        if from != to {
            let mut sender = replicas[from].document().fork();
            replicas[to].document().merge(&mut sender).unwrap();
        }
        return;
    }
    let replica = match *step {
        Step::AddLine { replica, .. }
        | Step::SetQuantity { replica, .. }
        | Step::SetPrice { replica, .. }
        | Step::SetDiscount { replica, .. }
        | Step::RemoveLine { replica, .. }
        | Step::SetDeliveryDate { replica, .. }
        | Step::Submit { replica }
        | Step::Approve { replica }
        | Step::Reject { replica }
        | Step::Cancel { replica, .. }
        | Step::Confirm { replica } => replica,
        Step::Sync { .. } => unreachable!(),
    };
    let o = &mut replicas[replica];
    let before = o.document().heads();
    let result = match *step {
        Step::AddLine { qty, price, .. } => o
            .add_line(
                &sales(),
                line("P", &qty.to_string(), &format!("{price}.25")),
            )
            .map(drop),
        Step::SetQuantity { line, qty, .. } => {
            let l = nth_line(o, line);
            o.set_quantity(&sales(), &l, Decimal::from(qty))
        }
        Step::SetPrice { line, price, .. } => {
            let l = nth_line(o, line);
            o.set_unit_price(&manager(), &l, Decimal::new(i64::from(price), 1))
        }
        Step::SetDiscount { line, pct, .. } => {
            let l = nth_line(o, line);
            o.set_discount(&sales(), &l, Decimal::from(pct))
        }
        Step::RemoveLine { line, .. } => {
            let l = nth_line(o, line);
            o.remove_line(&sales(), &l)
        }
        Step::SetDeliveryDate { days, .. } => {
            o.set_delivery_date(&sales(), Some(day() + chrono::Days::new(u64::from(days))))
        }
        Step::Submit { .. } => o.submit(&sales()),
        Step::Approve { .. } => o.approve(&manager(), c, None),
        Step::Reject { .. } => o.reject(&manager(), "needs another look"),
        Step::Cancel { by_manager, .. } => {
            o.cancel(&(if by_manager { manager() } else { sales() }), "withdrawn")
        }
        Step::Confirm { .. } => o.confirm(&desk()),
        Step::Sync { .. } => unreachable!(),
    };
    if result.is_err() {
        // A refused edit changes nothing.
        assert_eq!(
            o.document().heads(),
            before,
            "{step:?} failed but changed the document"
        );
    }
    check_invariants(&o.read().unwrap());
}

fn check_invariants(o: &Order) {
    let sum: Decimal = o.lines.values().map(OrderLine::total).sum();
    assert_eq!(o.total(), sum, "total is the sum of the line totals");
    let shown = o.status();
    let d = o.derived();
    if matches!(
        shown,
        OrderStatus::Approved
            | OrderStatus::Confirmed
            | OrderStatus::InProduction
            | OrderStatus::InStock
    ) {
        assert_eq!(
            d.approved_digest.as_deref(),
            Some(o.content_digest().as_str()),
            "an order shown as {shown:?} matches what was approved"
        );
    }
    if shown == OrderStatus::ChangedAfterApproval {
        assert_ne!(
            d.approved_digest.as_deref(),
            Some(o.content_digest().as_str())
        );
    }
    for l in o.lines.values() {
        assert!(l.quantity > Decimal::ZERO, "quantities stay positive");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn replicas_converge_and_invariants_hold(steps in prop::collection::vec(step(), 1..40)) {
        let c = customer();
        let mut base = order(&c);
        let mut replicas: Vec<OrderDoc> = (0..REPLICAS).map(|_| replica(&mut base)).collect();
        for s in &steps {
            apply(&mut replicas, &c, s);
        }
        // Everyone exchanges everything, in a ring, twice.
        for _ in 0..2 {
            for i in 0..REPLICAS {
                apply(&mut replicas, &c, &Step::Sync { from: i, to: (i + 1) % REPLICAS });
            }
        }
        let first = replicas[0].read().unwrap();
        let first_heads = replicas[0].document().heads();
        for r in replicas.iter_mut() {
            let this = r.read().unwrap();
            prop_assert_eq!(&this, &first);
            prop_assert_eq!(this.status(), first.status());
            prop_assert_eq!(this.derived(), first.derived());
            prop_assert_eq!(r.document().heads(), first_heads.clone());
            check_invariants(&this);
        }
        // And a replica rebuilt from saved bytes shows the same.
        let reloaded = OrderDoc::load(&replicas[1].document().save()).unwrap().read().unwrap();
        prop_assert_eq!(reloaded, first);
    }
}
