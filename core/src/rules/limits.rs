//! The documented limits on every value a fieldsync document holds. The
//! relay refuses a document outside them, naming the field; the typed API
//! refuses the edit that would leave them.
//!
//! | what | limit |
//! |---|---|
//! | short text (names, codes, units, variants, references, phone numbers) | [`MAX_SHORT_TEXT`] bytes |
//! | free text (notes, descriptions, reports, addresses) | [`MAX_TEXT`] bytes |
//! | any string anywhere in a document | [`MAX_TEXT`] bytes |
//! | amounts and quantities | at most [`MAX_AMOUNT`], at most 4 decimal places |
//! | quantities | more than 0 |
//! | prices, payments, receivables, limits, deposits, stock | not negative |
//! | discounts | 0 to 100 (percent) |
//! | credit days | at most [`MAX_CREDIT_DAYS`] |
//! | dates and times | from [`EARLIEST_YEAR`] to [`LATEST_YEAR`] |
//! | lines per order | [`MAX_LINES`] |
//! | steps in a history | [`MAX_STEPS`] |
//! | items in any other collection (payments, notes, contacts, …) | [`MAX_ITEMS`] |
//! | products in the catalog | [`MAX_PRODUCTS`] |
//!
//! Lengths are measured on the text as stored (UTF-8 bytes, uncompressed).

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use rust_decimal::Decimal;

/// Most bytes in a short text field.
pub const MAX_SHORT_TEXT: usize = 200;
/// Most bytes in a free-text field, and in any string in a document.
pub const MAX_TEXT: usize = 10_000;
/// Largest amount or quantity: a trillion.
pub const MAX_AMOUNT: Decimal = crate::money::MAX_ABS;
/// Most days a credit customer may be given to pay (ten years).
pub const MAX_CREDIT_DAYS: u64 = 3_650;
/// The earliest year of any date or time.
pub const EARLIEST_YEAR: i32 = 2000;
/// The latest year of any date or time.
pub const LATEST_YEAR: i32 = 2199;
/// Most lines in one order (an order fair's apparel order runs to hundreds).
pub const MAX_LINES: usize = 5_000;
/// Most steps in an order's or a complaint's history.
pub const MAX_STEPS: usize = 500;
/// Most items in any other collection of a document.
pub const MAX_ITEMS: usize = 1_000;
/// Most products (and prices per price list) in the catalog.
pub const MAX_PRODUCTS: usize = 100_000;

/// A value outside its limits: the reason, naming the field.
pub type Invalid = String;

/// Short text: at most [`MAX_SHORT_TEXT`] bytes.
pub fn short_text(field: &str, value: &str) -> Result<(), Invalid> {
    text_of(field, value, MAX_SHORT_TEXT)
}

/// Free text: at most [`MAX_TEXT`] bytes.
pub fn text(field: &str, value: &str) -> Result<(), Invalid> {
    text_of(field, value, MAX_TEXT)
}

fn text_of(field: &str, value: &str, max: usize) -> Result<(), Invalid> {
    if value.len() > max {
        return Err(format!(
            "{field} is {} bytes long; at most {max} are allowed",
            value.len()
        ));
    }
    Ok(())
}

/// An amount: not negative, at most [`MAX_AMOUNT`], at most 4 decimals.
pub fn amount(field: &str, value: Decimal) -> Result<(), Invalid> {
    if value.is_sign_negative() && !value.is_zero() {
        return Err(format!("{field} is {value}; it must not be negative"));
    }
    within_range(field, value)
}

/// A quantity: more than zero, at most [`MAX_AMOUNT`], at most 4 decimals.
pub fn quantity(field: &str, value: Decimal) -> Result<(), Invalid> {
    if value <= Decimal::ZERO {
        return Err(format!("{field} is {value}; it must be more than zero"));
    }
    within_range(field, value)
}

/// A percentage from 0 to 100.
pub fn percent(field: &str, value: Decimal) -> Result<(), Invalid> {
    if value < Decimal::ZERO || value > Decimal::ONE_HUNDRED {
        return Err(format!(
            "{field} is {value}; it must be a percentage from 0 to 100"
        ));
    }
    within_range(field, value)
}

fn within_range(field: &str, value: Decimal) -> Result<(), Invalid> {
    if value.abs() > MAX_AMOUNT {
        return Err(format!(
            "{field} is {value}; at most {MAX_AMOUNT} is allowed"
        ));
    }
    if value.normalize().scale() > crate::money::MAX_SCALE {
        return Err(format!(
            "{field} is {value}; at most {} decimal places are allowed",
            crate::money::MAX_SCALE
        ));
    }
    Ok(())
}

/// A date from [`EARLIEST_YEAR`] to [`LATEST_YEAR`].
pub fn date(field: &str, value: NaiveDate) -> Result<(), Invalid> {
    if !(EARLIEST_YEAR..=LATEST_YEAR).contains(&value.year()) {
        return Err(format!(
            "{field} is {value}; dates from {EARLIEST_YEAR} to {LATEST_YEAR} are allowed"
        ));
    }
    Ok(())
}

/// A time from [`EARLIEST_YEAR`] to [`LATEST_YEAR`].
pub fn time(field: &str, value: DateTime<Utc>) -> Result<(), Invalid> {
    date(field, value.date_naive())
}

/// A collection of at most `max` items.
pub fn count(field: &str, len: usize, max: usize) -> Result<(), Invalid> {
    if len > max {
        return Err(format!(
            "{field} has {len} entries; at most {max} are allowed"
        ));
    }
    Ok(())
}

/// A whole number of days to pay.
pub fn credit_days(field: &str, value: u64) -> Result<(), Invalid> {
    if value > MAX_CREDIT_DAYS {
        return Err(format!(
            "{field} is {value}; at most {MAX_CREDIT_DAYS} days are allowed"
        ));
    }
    Ok(())
}

/// A stable item id (a map key): at most 64 bytes.
pub fn item_id(field: &str, value: &str) -> Result<(), Invalid> {
    if value.is_empty() || value.len() > 64 {
        return Err(format!(
            "{field} has an id of {} bytes; ids are 1 to 64",
            value.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn each_limit_names_its_field() {
        let errors = [
            quantity("line 1 quantity", d("-3")).unwrap_err(),
            quantity("line 1 quantity", d("0")).unwrap_err(),
            amount("unit price", d("-0.01")).unwrap_err(),
            percent("discount", d("150")).unwrap_err(),
            amount("receivables", d("79228162514264337593543950335")).unwrap_err(),
            amount("unit price", d("1.00001")).unwrap_err(),
            credit_days("credit days", 1 << 63).unwrap_err(),
            short_text("customer name", &"x".repeat(201)).unwrap_err(),
            date("delivery date", NaiveDate::MAX).unwrap_err(),
            count("lines", MAX_LINES + 1, MAX_LINES).unwrap_err(),
        ];
        for (e, field) in errors.iter().zip([
            "line 1 quantity",
            "line 1 quantity",
            "unit price",
            "discount",
            "receivables",
            "unit price",
            "credit days",
            "customer name",
            "delivery date",
            "lines",
        ]) {
            assert!(e.starts_with(field), "{e}");
        }
    }

    #[test]
    fn values_inside_the_limits_pass() {
        quantity("q", d("0.0001")).unwrap();
        amount("a", MAX_AMOUNT).unwrap();
        amount("a", Decimal::ZERO).unwrap();
        percent("p", d("100")).unwrap();
        percent("p", Decimal::ZERO).unwrap();
        credit_days("c", MAX_CREDIT_DAYS).unwrap();
        short_text("s", &"字".repeat(66)).unwrap();
        date("d", NaiveDate::from_ymd_opt(2026, 12, 2).unwrap()).unwrap();
    }
}
