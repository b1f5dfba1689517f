//! Fixtures shared by core's integration tests.
#![allow(dead_code)]

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use fieldsync_core::*;
use rust_decimal::Decimal;

pub fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap()
}

pub fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
}

pub fn ctx(user: &str, role: Role, region: Option<&str>, device: &str) -> ChangeCtx {
    ChangeCtx::new(Actor::new(user, role, region, device).unwrap(), t0())
}

pub fn sales() -> ChangeCtx {
    ctx("li", Role::Salesperson, Some("east"), "phone-li")
}
pub fn sales_tablet() -> ChangeCtx {
    ctx("li", Role::Salesperson, Some("east"), "tablet-li")
}
/// A second salesperson in the same region.
pub fn sales_wang() -> ChangeCtx {
    ctx("wang", Role::Salesperson, Some("east"), "phone-wang")
}
pub fn manager() -> ChangeCtx {
    ctx("zhao", Role::Manager, Some("east"), "office-1")
}
pub fn desk() -> ChangeCtx {
    ctx("sun", Role::OrderDesk, None, "office-3")
}
pub fn admin() -> ChangeCtx {
    ctx("root", Role::Admin, None, "office-7")
}

pub fn customer() -> Customer {
    CustomerDoc::create(
        &admin(),
        NewCustomer {
            name: "Hengda Textiles".into(),
            address: "12 Silk Road".into(),
            region: "east".into(),
            owner: "li".into(),
            grade: Grade::A,
            payment_terms: PaymentTerms::Credit,
            credit_limit: d("1000000"),
            ..Default::default()
        },
    )
    .unwrap()
    .read()
    .unwrap()
}

pub fn line(product: &str, qty: &str, price: &str) -> NewLine {
    NewLine {
        product: product.into(),
        name: product.into(),
        variant: String::new(),
        unit: "pcs".into(),
        quantity: d(qty),
        unit_price: d(price),
        discount_percent: Decimal::ZERO,
    }
}

pub fn order(c: &Customer) -> OrderDoc {
    let number = OrderNumber::new(OrderPrefix::new("S07").unwrap(), day(), 1).unwrap();
    let mut o = OrderDoc::create(
        &sales(),
        c,
        NewOrder {
            number,
            channel: Channel::Visit,
            reorder_kind: None,
            delivery_date: Some(day()),
            evidence: "form".into(),
        },
    )
    .unwrap();
    o.add_line(&sales(), line("TS-1", "10", "12.5")).unwrap();
    o
}

/// A replica of `o` as another device would hold it.
pub fn replica(o: &mut OrderDoc) -> OrderDoc {
    OrderDoc::from_document(o.document().fork()).unwrap()
}

/// Every order in which `n` replicas can be merged.
pub fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 1 {
        return vec![vec![0]];
    }
    let mut out = Vec::new();
    for p in permutations(n - 1) {
        for i in 0..=p.len() {
            let mut q = p.clone();
            q.insert(i, n - 1);
            out.push(q);
        }
    }
    out
}

/// Merges the replicas into a fresh copy in every possible order; asserts all
/// results are identical and returns one of them.
pub fn merge_every_order(replicas: &mut [OrderDoc]) -> Order {
    let mut results = Vec::new();
    for perm in permutations(replicas.len()) {
        let mut merged = replica(&mut replicas[perm[0]]);
        for &i in &perm[1..] {
            let mut other = replica(&mut replicas[i]);
            merged.document().merge(other.document()).unwrap();
        }
        let heads = merged.document().heads();
        results.push((perm, merged.read().unwrap(), heads));
    }
    let (_, first, first_heads) = &results[0];
    for (perm, r, heads) in &results {
        assert_eq!(r, first, "merge order {perm:?} gives a different order");
        assert_eq!(
            r.status(),
            first.status(),
            "merge order {perm:?} gives a different status"
        );
        assert_eq!(heads, first_heads);
    }
    results.swap_remove(0).1
}
