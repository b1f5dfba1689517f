//! Prints the saved size of an order document: a 20-line order as created, then
//! after 100 edits (quantities, prices, discounts, a submit and an approval).
//!
//! Run with: `cargo run --release -p fieldsync-core --example order_size`

use chrono::{NaiveDate, Utc};
use fieldsync_core::*;
use rust_decimal::Decimal;

fn main() -> Result<()> {
    let admin = ChangeCtx::now(Actor::new("root", Role::Admin, None, "office")?);
    let sales = ChangeCtx::now(Actor::new(
        "li",
        Role::Salesperson,
        Some("east"),
        "phone-li",
    )?);
    let manager = ChangeCtx::now(Actor::new("zhao", Role::Manager, Some("east"), "office-1")?);
    let customer = CustomerDoc::create(
        &admin,
        NewCustomer {
            name: "Hengda Textiles".into(),
            address: "12 Silk Road, Hangzhou".into(),
            region: "east".into(),
            owner: "li".into(),
            grade: Grade::A,
            payment_terms: PaymentTerms::Credit,
            credit_limit: Decimal::from(1_000_000),
            ..Default::default()
        },
    )?
    .read()?;
    let today = Utc::now().date_naive();
    let mut order = OrderDoc::create(
        &sales,
        &customer,
        NewOrder {
            number: OrderNumber::new(OrderPrefix::new("S07")?, today, 1)?,
            channel: Channel::Visit,
            reorder_kind: None,
            delivery_date: NaiveDate::from_ymd_opt(2026, 12, 15),
            evidence: "signed order form 8812".into(),
        },
    )?;
    let mut lines = Vec::new();
    for i in 0..20 {
        lines.push(order.add_line(
            &sales,
            NewLine {
                product: format!("TS-{:04}", 1000 + i),
                name: format!("Cotton shirt model {i}"),
                variant: ["red/M", "blue/L", "white/XL"][i % 3].into(),
                unit: "pcs".into(),
                quantity: Decimal::from(10 + i),
                unit_price: Decimal::new(12_950 + 100 * i as i64, 2),
                discount_percent: Decimal::ZERO,
            },
        )?);
    }
    let created = order.document().save().len();
    let mut edits = 0;
    order.submit(&sales)?;
    order.approve(&manager, &customer, None)?;
    edits += 2;
    let mut i = 0;
    while edits < 100 {
        let line = &lines[i % lines.len()];
        match i % 3 {
            0 => order.set_quantity(&sales, line, Decimal::from(20 + i))?,
            1 => order.set_unit_price(&sales, line, Decimal::new(13_000 + i as i64, 2))?,
            _ => order.set_discount(&sales, line, Decimal::from(i % 10))?,
        }
        i += 1;
        edits += 1;
    }
    let after = order.document().save().len();
    let changes = order.document().history().len();
    println!("| order document                  | saved bytes |");
    println!("|---------------------------------|------------:|");
    println!("| 20 lines, as created            | {created:>11} |");
    println!("| after 100 further edits         | {after:>11} |");
    println!();
    println!(
        "({changes} field changes in the history; status {})",
        order.read()?.status()
    );
    Ok(())
}
