//! How values that Automerge has no type for are stored in documents.
//!
//! - money and quantities: canonical decimal strings (`"12.5"`, never floats),
//!   so every replica reads back exactly the number that was written;
//! - instants: Automerge timestamps (milliseconds since the epoch, UTC);
//! - calendar days: `YYYY-MM-DD` strings.
//!
//! Each submodule is an autosurgeon `with =` module.

use autosurgeon::{Hydrate, HydrateError, Prop, ReadDoc, Reconciler};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

fn hydrate_decimal_str(s: &str) -> Result<Decimal, HydrateError> {
    s.parse::<Decimal>()
        .map_err(|_| HydrateError::unexpected("a decimal string", s.to_string()))
}

fn hydrate_millis(ms: i64) -> Result<DateTime<Utc>, HydrateError> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| HydrateError::unexpected("a timestamp", ms.to_string()))
}

fn hydrate_date_str(s: &str) -> Result<NaiveDate, HydrateError> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| HydrateError::unexpected("a YYYY-MM-DD date", s.to_string()))
}

/// `Decimal` as a canonical decimal string.
pub(crate) mod decimal {
    use super::*;

    pub(crate) fn reconcile<R: Reconciler>(d: &Decimal, mut r: R) -> Result<(), R::Error> {
        r.str(d.normalize().to_string())
    }

    pub(crate) fn hydrate<D: ReadDoc>(
        doc: &D,
        obj: &automerge::ObjId,
        prop: Prop<'_>,
    ) -> Result<Decimal, HydrateError> {
        hydrate_decimal_str(&String::hydrate(doc, obj, prop)?)
    }
}

/// An instant as documents keep it: to the millisecond. Edits store
/// instants they are given in this form, so what they wrote reads back the
/// same.
pub(crate) fn stored_instant(t: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::DurationRound;
    t.duration_trunc(chrono::TimeDelta::milliseconds(1))
        .unwrap_or(t)
}

/// `DateTime<Utc>` as an Automerge timestamp.
pub(crate) mod time {
    use super::*;

    pub(crate) fn reconcile<R: Reconciler>(t: &DateTime<Utc>, mut r: R) -> Result<(), R::Error> {
        r.timestamp(t.timestamp_millis())
    }

    pub(crate) fn hydrate<D: ReadDoc>(
        doc: &D,
        obj: &automerge::ObjId,
        prop: Prop<'_>,
    ) -> Result<DateTime<Utc>, HydrateError> {
        hydrate_millis(Millis::hydrate(doc, obj, prop)?.0)
    }
}

/// `Option<DateTime<Utc>>` as an Automerge timestamp or null.
pub(crate) mod opt_time {
    use super::*;

    pub(crate) fn reconcile<R: Reconciler>(
        t: &Option<DateTime<Utc>>,
        mut r: R,
    ) -> Result<(), R::Error> {
        match t {
            Some(t) => r.timestamp(t.timestamp_millis()),
            None => r.none(),
        }
    }

    pub(crate) fn hydrate<D: ReadDoc>(
        doc: &D,
        obj: &automerge::ObjId,
        prop: Prop<'_>,
    ) -> Result<Option<DateTime<Utc>>, HydrateError> {
        Option::<Millis>::hydrate(doc, obj, prop)?
            .map(|m| hydrate_millis(m.0))
            .transpose()
    }
}

/// `NaiveDate` as `YYYY-MM-DD`.
pub(crate) mod date {
    use super::*;

    pub(crate) fn reconcile<R: Reconciler>(d: &NaiveDate, mut r: R) -> Result<(), R::Error> {
        r.str(d.format("%Y-%m-%d").to_string())
    }

    pub(crate) fn hydrate<D: ReadDoc>(
        doc: &D,
        obj: &automerge::ObjId,
        prop: Prop<'_>,
    ) -> Result<NaiveDate, HydrateError> {
        hydrate_date_str(&String::hydrate(doc, obj, prop)?)
    }
}

/// `Option<NaiveDate>` as `YYYY-MM-DD` or null.
pub(crate) mod opt_date {
    use super::*;

    pub(crate) fn reconcile<R: Reconciler>(
        d: &Option<NaiveDate>,
        mut r: R,
    ) -> Result<(), R::Error> {
        match d {
            Some(d) => r.str(d.format("%Y-%m-%d").to_string()),
            None => r.none(),
        }
    }

    pub(crate) fn hydrate<D: ReadDoc>(
        doc: &D,
        obj: &automerge::ObjId,
        prop: Prop<'_>,
    ) -> Result<Option<NaiveDate>, HydrateError> {
        Option::<String>::hydrate(doc, obj, prop)?
            .map(|s| hydrate_date_str(&s))
            .transpose()
    }
}

/// A timestamp scalar, read as milliseconds.
struct Millis(i64);

impl Hydrate for Millis {
    fn hydrate_timestamp(t: i64) -> Result<Self, HydrateError> {
        Ok(Millis(t))
    }
}

/// `BTreeMap<String, Decimal>` as a map of canonical decimal strings.
pub(crate) mod decimal_map {
    use std::collections::BTreeMap;

    use autosurgeon::Reconcile;

    use super::*;

    pub(crate) fn reconcile<R: Reconciler>(
        m: &BTreeMap<String, Decimal>,
        r: R,
    ) -> Result<(), R::Error> {
        let as_text: BTreeMap<&str, String> = m
            .iter()
            .map(|(k, v)| (k.as_str(), v.normalize().to_string()))
            .collect();
        as_text.reconcile(r)
    }

    pub(crate) fn hydrate<D: ReadDoc>(
        doc: &D,
        obj: &automerge::ObjId,
        prop: Prop<'_>,
    ) -> Result<BTreeMap<String, Decimal>, HydrateError> {
        BTreeMap::<String, String>::hydrate(doc, obj, prop)?
            .into_iter()
            .map(|(k, v)| Ok((k, hydrate_decimal_str(&v)?)))
            .collect()
    }
}
