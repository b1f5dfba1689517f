//! Visit KPIs computed from documents (DOMAIN.md, "Visits" and "Reports"):
//! visits per day and month against 120 a month, the share of visits to new
//! customers against one third, average visit length, reports on time.
//!
//! A visit counts once it has a check-in and is not cancelled; it belongs to the
//! company-local day and month of its check-in. A customer is "new" in the month
//! of its first visit (by anyone) and in no later month.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use rust_decimal::Decimal;

use crate::ids::DocId;
use crate::report::{DailyReport, ReportSchedule};
use crate::visit::Visit;

/// The monthly visit target per salesperson [003 基本要求].
pub const MONTHLY_VISIT_TARGET: u32 = 120;

/// A calendar month, e.g. 2026-11.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Month {
    /// Year.
    pub year: i32,
    /// Month, 1 to 12.
    pub month: u32,
}

impl Month {
    /// The month of `date`.
    pub fn of(date: NaiveDate) -> Month {
        Month {
            year: date.year(),
            month: date.month(),
        }
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// One salesperson's visits in one month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitKpi {
    /// The salesperson.
    pub salesperson: String,
    /// The month.
    pub month: Month,
    /// Visits made.
    pub visits: u32,
    /// Of which to new customers.
    pub new_customer_visits: u32,
    /// Visits per day, for the days with visits.
    pub per_day: BTreeMap<NaiveDate, u32>,
    /// Average length in minutes of the visits checked out, if any.
    pub average_minutes: Option<Decimal>,
}

impl VisitKpi {
    /// Share of visits to new customers, 0 to 1 (0 when there were no visits).
    pub fn new_customer_share(&self) -> Decimal {
        if self.visits == 0 {
            Decimal::ZERO
        } else {
            (Decimal::from(self.new_customer_visits) / Decimal::from(self.visits)).round_dp(4)
        }
    }

    /// At least [`MONTHLY_VISIT_TARGET`] visits.
    pub fn meets_visit_target(&self) -> bool {
        self.visits >= MONTHLY_VISIT_TARGET
    }

    /// At least one third of the visits to new customers.
    pub fn meets_new_customer_target(&self) -> bool {
        self.visits > 0 && self.new_customer_visits * 3 >= self.visits
    }
}

/// What the KPIs need of one visit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitFact {
    /// The salesperson.
    pub salesperson: String,
    /// The customer visited.
    pub customer: DocId,
    /// Check-in time.
    pub at: DateTime<Utc>,
    /// Length in minutes, once checked out.
    pub minutes: Option<i64>,
}

impl VisitFact {
    /// The fact of a visit, if it counts (checked in, not cancelled).
    pub fn of(v: &Visit) -> Option<VisitFact> {
        if v.cancelled.is_some() {
            return None;
        }
        v.check_in.as_ref().map(|s| VisitFact {
            salesperson: v.meta.owner.clone(),
            customer: v.customer,
            at: s.at,
            minutes: v.length_minutes(),
        })
    }
}

/// KPIs per salesperson and month for `visits`. Pass every visit known (not
/// just one month's), so that first visits, and thus new customers, are right.
pub fn visit_kpis(visits: &[Visit], schedule: &ReportSchedule) -> Vec<VisitKpi> {
    let facts: Vec<VisitFact> = visits.iter().filter_map(VisitFact::of).collect();
    visit_kpis_from_facts(&facts, schedule)
}

/// [`visit_kpis`] from the facts alone (as a database row gives them).
pub fn visit_kpis_from_facts(visits: &[VisitFact], schedule: &ReportSchedule) -> Vec<VisitKpi> {
    let mut first_visit: HashMap<DocId, Month> = HashMap::new();
    for v in visits {
        let m = Month::of(schedule.local_date(v.at));
        first_visit
            .entry(v.customer)
            .and_modify(|f| *f = (*f).min(m))
            .or_insert(m);
    }
    let mut out: BTreeMap<(String, Month), (VisitKpi, i64, u32)> = BTreeMap::new();
    for v in visits {
        let day = schedule.local_date(v.at);
        let month = Month::of(day);
        let (kpi, minutes, timed) =
            out.entry((v.salesperson.clone(), month))
                .or_insert_with(|| {
                    (
                        VisitKpi {
                            salesperson: v.salesperson.clone(),
                            month,
                            visits: 0,
                            new_customer_visits: 0,
                            per_day: BTreeMap::new(),
                            average_minutes: None,
                        },
                        0,
                        0,
                    )
                });
        kpi.visits += 1;
        *kpi.per_day.entry(day).or_default() += 1;
        if first_visit.get(&v.customer) == Some(&month) {
            kpi.new_customer_visits += 1;
        }
        if let Some(m) = v.minutes {
            *minutes += m;
            *timed += 1;
        }
    }
    out.into_values()
        .map(|(mut kpi, minutes, timed)| {
            if timed > 0 {
                kpi.average_minutes =
                    Some((Decimal::from(minutes) / Decimal::from(timed)).round_dp(1));
            }
            kpi
        })
        .collect()
}

/// One salesperson's daily reports in one month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportKpi {
    /// The salesperson.
    pub salesperson: String,
    /// The month of the reported days.
    pub month: Month,
    /// Submitted by the deadline.
    pub on_time: u32,
    /// Submitted after the deadline.
    pub late: u32,
    /// Not submitted (yet).
    pub unsubmitted: u32,
}

/// On-time and late daily reports per salesperson and month.
pub fn report_kpis(reports: &[DailyReport], schedule: &ReportSchedule) -> Vec<ReportKpi> {
    let mut out: BTreeMap<(String, Month), ReportKpi> = BTreeMap::new();
    for r in reports {
        let month = Month::of(r.date);
        let k = out
            .entry((r.salesperson().to_string(), month))
            .or_insert_with(|| ReportKpi {
                salesperson: r.salesperson().to_string(),
                month,
                on_time: 0,
                late: 0,
                unsubmitted: 0,
            });
        match r.is_late(schedule) {
            Some(true) => k.late += 1,
            Some(false) => k.on_time += 1,
            None => k.unsubmitted += 1,
        }
    }
    out.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
    use crate::*;
    use chrono::{Duration, TimeZone};

    fn visit_at(c: &Customer, who: &ChangeCtx, at: DateTime<Utc>, minutes: i64) -> Visit {
        let mut v = VisitDoc::plan(
            who,
            c,
            VisitPlan {
                planned_start: at,
                purpose: "call".into(),
                priority: Priority::Normal,
                materials: String::new(),
            },
        )
        .unwrap();
        let mut w = who.clone();
        w.at = at;
        v.check_in(&w, None).unwrap();
        w.at = at + Duration::minutes(minutes);
        v.check_out(&w, None).unwrap();
        v.read().unwrap()
    }

    #[test]
    fn visits_new_customers_and_lengths() {
        let s = ReportSchedule::default();
        let old = customer("0", PaymentTerms::Cash).read().unwrap();
        let new = customer("0", PaymentTerms::Cash).read().unwrap();
        let oct = Utc.with_ymd_and_hms(2026, 10, 5, 2, 0, 0).unwrap();
        let nov = Utc.with_ymd_and_hms(2026, 11, 5, 2, 0, 0).unwrap();
        let visits = vec![
            visit_at(&old, &sales(), oct, 30),
            visit_at(&old, &sales(), nov, 20),
            visit_at(&old, &sales(), nov + Duration::hours(3), 40),
            visit_at(&new, &sales(), nov + Duration::days(1), 30),
        ];
        let k = visit_kpis(&visits, &s);
        assert_eq!(k.len(), 2);
        assert_eq!(
            (
                k[0].month.to_string(),
                k[0].visits,
                k[0].new_customer_visits
            ),
            ("2026-10".into(), 1, 1)
        );
        let n = &k[1];
        assert_eq!((n.visits, n.new_customer_visits), (3, 1));
        assert_eq!(n.new_customer_share(), d("0.3333"));
        assert!(n.meets_new_customer_target());
        assert!(!n.meets_visit_target());
        assert_eq!(n.average_minutes, Some(d("30")));
        assert_eq!(n.per_day.values().copied().collect::<Vec<_>>(), vec![2, 1]);
    }

    #[test]
    fn local_day_decides_the_month() {
        // 2026-10-31 17:00 UTC is 2026-11-01 01:00 in UTC+8.
        let s = ReportSchedule::default();
        let c = customer("0", PaymentTerms::Cash).read().unwrap();
        let v = visit_at(
            &c,
            &sales(),
            Utc.with_ymd_and_hms(2026, 10, 31, 17, 0, 0).unwrap(),
            30,
        );
        assert_eq!(visit_kpis(&[v], &s)[0].month.to_string(), "2026-11");
    }

    #[test]
    fn target_of_120_a_month() {
        let s = ReportSchedule::default();
        let c = customer("0", PaymentTerms::Cash).read().unwrap();
        let start = Utc.with_ymd_and_hms(2026, 11, 2, 1, 0, 0).unwrap();
        // Known since October, so not a new customer in November.
        let mut visits = vec![visit_at(&c, &sales(), start - Duration::days(30), 25)];
        visits.extend((0..120).map(|i| {
            visit_at(
                &c,
                &sales(),
                start + Duration::hours(i / 6 * 24 + i % 6),
                25,
            )
        }));
        let k = &visit_kpis(&visits, &s)[1];
        assert_eq!(k.month.to_string(), "2026-11");
        assert_eq!(k.visits, 120);
        assert!(k.meets_visit_target());
        assert!(!k.meets_new_customer_target());
        assert_eq!(k.per_day.len(), 20);
    }

    #[test]
    fn reports_on_time_and_late() {
        let s = ReportSchedule::default();
        let fri = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
        let mut reports = Vec::new();
        for (day, submit_at) in [
            (
                fri,
                Some(Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()),
            ),
            (
                fri - Duration::days(1),
                Some(Utc.with_ymd_and_hms(2026, 11, 20, 3, 0, 0).unwrap()),
            ),
            (fri - Duration::days(2), None),
        ] {
            let mut r = DailyReportDoc::create(&sales(), day).unwrap();
            r.write(&sales(), "visits", "", "").unwrap();
            if let Some(at) = submit_at {
                let mut c = sales();
                c.at = at;
                r.submit(&c).unwrap();
            }
            reports.push(r.read().unwrap());
        }
        let k = report_kpis(&reports, &s);
        assert_eq!((k[0].on_time, k[0].late, k[0].unsubmitted), (1, 1, 1));
    }
}
