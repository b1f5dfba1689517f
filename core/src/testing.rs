//! Shared fixtures for core's unit tests.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;

use crate::*;

pub(crate) fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

pub(crate) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap()
}

pub(crate) fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
}

pub(crate) fn sales() -> ChangeCtx {
    ctx("li", Role::Salesperson, Some("east"), "phone-li")
}
pub(crate) fn sales_b() -> ChangeCtx {
    ctx("wang", Role::Salesperson, Some("east"), "phone-wang")
}
pub(crate) fn manager() -> ChangeCtx {
    ctx("zhao", Role::Manager, Some("east"), "office-1")
}
pub(crate) fn manager_west() -> ChangeCtx {
    ctx("qian", Role::Manager, Some("west"), "office-2")
}
pub(crate) fn desk() -> ChangeCtx {
    ctx("sun", Role::OrderDesk, None, "office-3")
}
pub(crate) fn production() -> ChangeCtx {
    ctx("zhou", Role::Production, None, "office-4")
}
pub(crate) fn warehouse() -> ChangeCtx {
    ctx("wu", Role::Warehouse, None, "office-5")
}
pub(crate) fn finance() -> ChangeCtx {
    ctx("zheng", Role::Finance, None, "office-6")
}
pub(crate) fn admin() -> ChangeCtx {
    ctx("root", Role::Admin, None, "office-7")
}

pub(crate) fn ctx(user: &str, role: Role, region: Option<&str>, device: &str) -> ChangeCtx {
    ChangeCtx::new(Actor::new(user, role, region, device).unwrap(), t0())
}

/// An active credit customer of salesperson "li" in region east.
pub(crate) fn customer(limit: &str, terms: PaymentTerms) -> CustomerDoc {
    CustomerDoc::create(
        &admin(),
        NewCustomer {
            name: "Hengda Textiles".into(),
            address: "12 Silk Road, Hangzhou".into(),
            region: "east".into(),
            owner: "li".into(),
            grade: Grade::A,
            payment_terms: terms,
            credit_limit: d(limit),
            ..Default::default()
        },
    )
    .unwrap()
}

pub(crate) fn number(seq: u32) -> OrderNumber {
    OrderNumber::new(OrderPrefix::new("S07").unwrap(), day(), seq).unwrap()
}

pub(crate) fn line(product: &str, qty: &str, price: &str) -> NewLine {
    NewLine {
        product: product.into(),
        name: format!("Product {product}"),
        variant: "red/M".into(),
        unit: "pcs".into(),
        quantity: d(qty),
        unit_price: d(price),
        discount_percent: Decimal::ZERO,
    }
}

/// A draft order of "li" with one line (10 × 12.50).
pub(crate) fn draft_order(c: &Customer) -> (OrderDoc, String) {
    let mut o = OrderDoc::create(
        &sales(),
        c,
        NewOrder {
            number: number(1),
            channel: Channel::Visit,
            reorder_kind: None,
            delivery_date: Some(day() + chrono::Days::new(14)),
            evidence: "signed order form".into(),
        },
    )
    .unwrap();
    let l = o.add_line(&sales(), line("TS-1", "10", "12.50")).unwrap();
    (o, l)
}

/// Syncs two replicas both ways.
pub(crate) fn sync(a: &mut Document, b: &mut Document) {
    a.merge(b).unwrap();
    b.merge(a).unwrap();
}
