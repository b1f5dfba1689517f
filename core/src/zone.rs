//! The company's time zone: it decides the business date of everything
//! (order numbers, sales months, visit KPIs, report deadlines), whatever the
//! server's or a phone's own zone. One setting for the company, an IANA
//! name, `Asia/Shanghai` unless head office sets another.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::error::{Error, Result};

/// The zone a company does business in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusinessZone(Tz);

impl Default for BusinessZone {
    /// China Standard Time, the department's own.
    fn default() -> Self {
        BusinessZone(Tz::Asia__Shanghai)
    }
}

impl BusinessZone {
    /// UTC (for tests and companies that keep their books in UTC).
    pub const UTC: BusinessZone = BusinessZone(Tz::UTC);

    /// The zone named `name`, an IANA name such as `Asia/Shanghai`.
    pub fn parse(name: &str) -> Result<BusinessZone> {
        name.trim()
            .parse::<Tz>()
            .map(BusinessZone)
            .map_err(|_| Error::InvalidIdentifier {
                what: "time zone",
                value: name.to_string(),
                hint: "use an IANA time zone name, such as Asia/Shanghai or Europe/Berlin",
            })
    }

    /// Its IANA name.
    pub fn name(&self) -> &'static str {
        self.0.name()
    }

    /// The business date at instant `at`.
    pub fn date_at(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.0).date_naive()
    }

    /// The company's wall-clock time at instant `at`.
    pub fn local_time(&self, at: DateTime<Utc>) -> NaiveDateTime {
        at.with_timezone(&self.0).naive_local()
    }

    /// The business month (`2026-12`) at instant `at`.
    pub fn month_at(&self, at: DateTime<Utc>) -> String {
        at.with_timezone(&self.0).format("%Y-%m").to_string()
    }

    /// The instant of local time `local` (the earlier one when a clock change
    /// makes it happen twice; the moment after a gap when it never happens).
    pub fn instant(&self, local: NaiveDateTime) -> DateTime<Utc> {
        match self.0.from_local_datetime(&local) {
            chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => {
                t.with_timezone(&Utc)
            }
            chrono::LocalResult::None => {
                // In a spring-forward gap: an hour later exists.
                self.instant(local + chrono::Duration::hours(1))
            }
        }
    }
}

impl std::fmt::Display for BusinessZone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_business_date_is_the_companys_not_utcs() {
        let china = BusinessZone::default();
        // 01:30 on 2 December in Shanghai is still 1 December in UTC.
        let t = at("2026-12-01T17:30:00Z");
        assert_eq!(china.date_at(t).to_string(), "2026-12-02");
        assert_eq!(BusinessZone::UTC.date_at(t).to_string(), "2026-12-01");
        assert_eq!(china.month_at(at("2026-11-30T16:00:00Z")), "2026-12");
        assert_eq!(china.month_at(at("2026-11-30T15:59:59Z")), "2026-11");
    }

    #[test]
    fn zones_are_named_the_iana_way() {
        assert_eq!(
            BusinessZone::parse("Europe/Berlin").unwrap().name(),
            "Europe/Berlin"
        );
        let e = BusinessZone::parse("UTC+8").unwrap_err().to_string();
        assert!(e.contains("IANA"), "{e}");
        // Local 02:30 on the spring-forward night does not exist in Berlin.
        let berlin = BusinessZone::parse("Europe/Berlin").unwrap();
        let gap = NaiveDate::from_ymd_opt(2026, 3, 29)
            .unwrap()
            .and_hms_opt(2, 30, 0)
            .unwrap();
        assert_eq!(
            berlin.instant(gap).to_rfc3339(),
            "2026-03-29T01:30:00+00:00"
        );
    }
}
