//! Exact decimal money and quantities.
//!
//! Amounts are `rust_decimal::Decimal`, read from text the user typed, stored as
//! canonical strings, and rounded only where the business rounds: a line total
//! is rounded to cents once, and the order total is the sum of line totals.

use rust_decimal::{Decimal, RoundingStrategy};

use crate::error::{Error, Result};

/// Most decimal places accepted in a price or quantity.
pub const MAX_SCALE: u32 = 4;

/// Decimal places of a money total (cents).
pub const MONEY_SCALE: u32 = 2;

/// Largest amount or quantity accepted anywhere: a trillion, far above any
/// real order (see [`crate::rules::limits`]).
pub const MAX_ABS: Decimal = Decimal::from_parts(3_567_587_328, 232, 0, false, 0); // 1e12

const HINT: &str = "use digits with at most 4 decimal places and a dot, e.g. 1250.50";

const RANGE_HINT: &str = "amounts and quantities go up to at most 1000000000000 (a trillion)";

/// Reads an amount the user typed ("1,250.50" is refused; "1250.50" is fine).
/// `field` names it in the error ("unit price").
pub fn parse_amount(field: &'static str, text: &str) -> Result<Decimal> {
    let t = text.trim();
    let bad = || Error::InvalidDecimal {
        field,
        value: text.to_string(),
        hint: HINT,
    };
    let ok_chars = !t.is_empty()
        && t.chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == '-');
    if !ok_chars {
        return Err(bad());
    }
    let d: Decimal = t.parse().map_err(|_| bad())?;
    check_amount(field, d).map_err(|e| match e {
        // Out of range: say so, with what was typed.
        Error::InvalidDecimal { hint, .. } if hint == RANGE_HINT => Error::InvalidDecimal {
            field,
            value: text.to_string(),
            hint,
        },
        _ => bad(),
    })
}

/// Checks an amount is within range and has at most [`MAX_SCALE`] decimals.
pub fn check_amount(field: &'static str, d: Decimal) -> Result<Decimal> {
    if d.abs() > MAX_ABS {
        return Err(Error::InvalidDecimal {
            field,
            value: d.to_string(),
            hint: RANGE_HINT,
        });
    }
    if d.normalize().scale() > MAX_SCALE {
        return Err(Error::InvalidDecimal {
            field,
            value: d.to_string(),
            hint: HINT,
        });
    }
    Ok(d.normalize())
}

/// Checks an amount is in range and not negative.
pub fn check_non_negative(field: &'static str, d: Decimal) -> Result<Decimal> {
    let d = check_amount(field, d)?;
    if d.is_sign_negative() && !d.is_zero() {
        return Err(Error::InvalidDecimal {
            field,
            value: d.to_string(),
            hint: "it must not be negative",
        });
    }
    Ok(d)
}

/// Rounds money to cents, half away from zero.
pub fn round_money(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(MONEY_SCALE, RoundingStrategy::MidpointAwayFromZero)
}

/// Money for people to read: rounded to cents and always shown with two
/// decimals (`25.00`, not `25.0`).
pub fn cents(d: Decimal) -> Decimal {
    let mut r = round_money(d);
    r.rescale(MONEY_SCALE);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn max_abs_is_a_trillion() {
        assert_eq!(MAX_ABS, d("1000000000000"));
    }

    #[test]
    fn parses_plain_amounts() {
        assert_eq!(parse_amount("price", "1250.50").unwrap(), d("1250.5"));
        assert_eq!(parse_amount("price", " 3 ").unwrap(), d("3"));
        assert_eq!(parse_amount("price", "0.0001").unwrap(), d("0.0001"));
    }

    #[test]
    fn refuses_bad_amounts() {
        for bad in [
            "",
            "abc",
            "1,250.50",
            "1e5",
            "1.00001",
            "NaN",
            "12.5.1",
            "10000000000000",
        ] {
            let e = parse_amount("unit price", bad).unwrap_err();
            assert!(
                matches!(
                    e,
                    Error::InvalidDecimal {
                        field: "unit price",
                        ..
                    }
                ),
                "{bad}"
            );
            assert!(e.to_string().contains("unit price"));
        }
    }

    #[test]
    fn refuses_negative_where_asked() {
        assert!(check_non_negative("deposit", d("-1")).is_err());
        assert_eq!(check_non_negative("deposit", d("0")).unwrap(), d("0"));
    }

    #[test]
    fn cents_always_show_two_decimals() {
        assert_eq!(cents(d("25.0")).to_string(), "25.00");
        assert_eq!(cents(d("7")).to_string(), "7.00");
        assert_eq!(cents(d("0.125")).to_string(), "0.13");
    }

    #[test]
    fn rounds_half_away_from_zero() {
        assert_eq!(round_money(d("2.345")), d("2.35"));
        assert_eq!(round_money(d("2.344")), d("2.34"));
    }
}
