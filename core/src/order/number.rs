//! Order numbers minted on the phone, offline: `PREFIX-YYYYMMDD-NNN`.
//!
//! The prefix is issued to the device at enrollment, so two devices never mint
//! the same number; the date and a per-device, per-day sequence make it unique
//! on the device and easy to read out over the phone (`S07-20261122-003`).

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;

use crate::error::{Error, Result};

/// A device's order-number prefix, as issued at enrollment (1 to 8 capital letters
/// and digits, starting with a letter).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrderPrefix(String);

impl OrderPrefix {
    /// Checks and wraps a prefix.
    pub fn new(prefix: &str) -> Result<Self> {
        let ok = (1..=8).contains(&prefix.len())
            && prefix.starts_with(|c: char| c.is_ascii_uppercase())
            && prefix
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        if ok {
            Ok(OrderPrefix(prefix.to_string()))
        } else {
            Err(Error::InvalidIdentifier {
                what: "order number prefix",
                value: prefix.to_string(),
                hint: "use 1 to 8 capital letters and digits starting with a letter, e.g. S07",
            })
        }
    }

    /// The prefix as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An order number: device prefix, day, and the device's sequence for that day.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrderNumber {
    prefix: OrderPrefix,
    date: NaiveDate,
    sequence: u32,
}

/// Highest sequence number a device can mint in one day.
pub const MAX_SEQUENCE: u32 = 99_999;

impl OrderNumber {
    /// The `sequence`-th order minted by the device with `prefix` on `date`
    /// (1-based; at most [`MAX_SEQUENCE`]).
    pub fn new(prefix: OrderPrefix, date: NaiveDate, sequence: u32) -> Result<Self> {
        if !(1..=MAX_SEQUENCE).contains(&sequence) {
            return Err(Error::InvalidIdentifier {
                what: "order sequence number",
                value: sequence.to_string(),
                hint: "a device can number 1 to 99999 orders a day",
            });
        }
        Ok(OrderNumber {
            prefix,
            date,
            sequence,
        })
    }

    /// The device prefix.
    pub fn prefix(&self) -> &OrderPrefix {
        &self.prefix
    }

    /// The day the number was minted.
    pub fn date(&self) -> NaiveDate {
        self.date
    }

    /// The device's sequence number for that day.
    pub fn sequence(&self) -> u32 {
        self.sequence
    }
}

impl fmt::Display for OrderNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{}-{:03}",
            self.prefix.0,
            self.date.format("%Y%m%d"),
            self.sequence
        )
    }
}

impl FromStr for OrderNumber {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::InvalidOrderNumber(s.to_string());
        let mut parts = s.split('-');
        let (Some(prefix), Some(date), Some(seq), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        if date.len() != 8 || seq.len() < 3 || !seq.chars().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        let prefix = OrderPrefix::new(prefix).map_err(|_| bad())?;
        let date = NaiveDate::parse_from_str(date, "%Y%m%d").map_err(|_| bad())?;
        let sequence = seq.parse().map_err(|_| bad())?;
        let n = OrderNumber::new(prefix, date, sequence).map_err(|_| bad())?;
        // Only the canonical spelling is an order number ("S07-20261122-0003" is not).
        if n.to_string() != s {
            return Err(bad());
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()
    }

    #[test]
    fn formats_like_the_business_reads_it() {
        let n = OrderNumber::new(OrderPrefix::new("S07").unwrap(), day(), 3).unwrap();
        assert_eq!(n.to_string(), "S07-20261122-003");
        let big = OrderNumber::new(OrderPrefix::new("S07").unwrap(), day(), 1234).unwrap();
        assert_eq!(big.to_string(), "S07-20261122-1234");
    }

    #[test]
    fn parses_back() {
        for s in ["S07-20261122-003", "AB12-20270101-99999"] {
            assert_eq!(s.parse::<OrderNumber>().unwrap().to_string(), s);
        }
    }

    #[test]
    fn refuses_malformed_numbers() {
        for s in [
            "",
            "S07",
            "S07-20261122",
            "s07-20261122-003",
            "S07-20261322-003",
            "S07-20261122-3",
            "S07-20261122-0003",
            "S07-20261122-003-1",
            "7S-20261122-003",
            "S07-20261122-000",
            "S07-20261122-100000",
        ] {
            assert!(s.parse::<OrderNumber>().is_err(), "{s}");
        }
    }

    #[test]
    fn devices_with_different_prefixes_never_collide() {
        let a = OrderNumber::new(OrderPrefix::new("S07").unwrap(), day(), 1).unwrap();
        let b = OrderNumber::new(OrderPrefix::new("S08").unwrap(), day(), 1).unwrap();
        assert_ne!(a.to_string(), b.to_string());
    }
}
