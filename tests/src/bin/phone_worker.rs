//! A phone at work, for the fault test that kills it: on an enrolled store,
//! it enters orders through the phone library (one line per call, quantity
//! edits one by one and in batches) and prints a line for every call that
//! returned, flushed before the next call starts. Whatever it printed was
//! acknowledged to the app, so it must survive the process being killed.
//!
//! Output, one per acknowledged call:
//!   order <order id>
//!   line <order id> <line id> <quantity>
//!
//! Usage: phone_worker <store path>

use std::io::Write;

use fieldsync_mobile::{FieldSync, LineInput, OrderChannel, OrderLineEdit};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: phone_worker <store path>")?;
    let phone = FieldSync::open(path)?;
    let customer = phone
        .customers()?
        .into_iter()
        .next()
        .ok_or("the store has no customer")?
        .id;
    let mut out = std::io::stdout().lock();
    for n in 0.. {
        let order = phone
            .create_order(customer.clone(), OrderChannel::Visit, None)?
            .id;
        writeln!(out, "order {order}")?;
        out.flush()?;
        let mut lines = Vec::new();
        for i in 0..3 {
            let edited = phone.add_order_line(
                order.clone(),
                LineInput {
                    product: format!("P{n}-{i}"),
                    name: "Shirt".into(),
                    variant: format!("size {i}"),
                    unit: "pcs".into(),
                    quantity: "1".into(),
                    unit_price: "9.90".into(),
                    discount_percent: String::new(),
                },
            )?;
            let line = edited.line.ok_or("the added line is missing")?.id;
            writeln!(out, "line {order} {line} 1")?;
            out.flush()?;
            lines.push(line);
        }
        for line in &lines {
            phone.set_line_quantity(order.clone(), line.clone(), "2".into())?;
            writeln!(out, "line {order} {line} 2")?;
            out.flush()?;
        }
        let batch = lines
            .iter()
            .map(|line| OrderLineEdit::SetQuantity {
                line_id: line.clone(),
                quantity: "3".into(),
            })
            .collect();
        phone.edit_order_lines(order.clone(), batch)?;
        for line in &lines {
            writeln!(out, "line {order} {line} 3")?;
        }
        out.flush()?;
    }
    Ok(())
}
