//! Daily visit reports (DOMAIN.md, "Reports"): one per salesperson per day, due
//! by 09:00 of the next working day, flagged late when submitted after.

use std::collections::{BTreeMap, BTreeSet};

use autosurgeon::{Hydrate, Reconcile};
use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveTime, Utc, Weekday};

use crate::access::{require_role, require_scope};
use crate::actor::{ChangeCtx, Role};
use crate::document::{DocKind, Document, Meta};
use crate::error::{Error, Result};
use crate::ids::{DocId, new_item_id};
use crate::zone::BusinessZone;

/// When daily reports are due: the company's working days, the time of day on
/// the next working day, and the company's time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportSchedule {
    working_days: BTreeSet<u32>,
    due_time: NaiveTime,
    zone: BusinessZone,
    holidays: BTreeSet<NaiveDate>,
}

impl Default for ReportSchedule {
    /// Monday to Friday, due 09:00, in Asia/Shanghai, no holidays.
    fn default() -> Self {
        ReportSchedule {
            working_days: (0..5).collect(),
            due_time: NINE_AM,
            zone: BusinessZone::default(),
            holidays: BTreeSet::new(),
        }
    }
}

// Both constants are evaluated at compile time, so the `None` arms cannot be reached
// at run time: a bad value would fail the build.
#[allow(clippy::panic)]
const NINE_AM: NaiveTime = match NaiveTime::from_hms_opt(9, 0, 0) {
    Some(t) => t,
    None => panic!("09:00 is a valid time"),
};

impl ReportSchedule {
    /// A schedule with the given working days, due time and time zone.
    pub fn new(working_days: &[Weekday], due_time: NaiveTime, zone: BusinessZone) -> Result<Self> {
        if working_days.is_empty() {
            return Err(Error::Incomplete(
                "a report schedule needs at least one working day",
            ));
        }
        Ok(ReportSchedule {
            working_days: working_days
                .iter()
                .map(|d| d.num_days_from_monday())
                .collect(),
            due_time,
            zone,
            holidays: BTreeSet::new(),
        })
    }

    /// Adds public holidays (not working days even if their weekday is).
    pub fn with_holidays(mut self, holidays: impl IntoIterator<Item = NaiveDate>) -> Self {
        self.holidays.extend(holidays);
        self
    }

    /// The same schedule in the company's time zone `zone`.
    pub fn in_zone(mut self, zone: BusinessZone) -> Self {
        self.zone = zone;
        self
    }

    /// The company's time zone.
    pub fn zone(&self) -> BusinessZone {
        self.zone
    }

    /// Is `date` a working day?
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        self.working_days
            .contains(&date.weekday().num_days_from_monday())
            && !self.holidays.contains(&date)
    }

    /// The first working day after `date`.
    pub fn next_working_day(&self, date: NaiveDate) -> NaiveDate {
        let mut d = date;
        // At least one weekday works, so within 7 days plus the holidays in between
        // a working day comes; the bound keeps a bad holiday list from looping.
        for _ in 0..(7 + self.holidays.len()) {
            d = d + Days::new(1);
            if self.is_working_day(d) {
                return d;
            }
        }
        d
    }

    /// When the report for `date` is due.
    pub fn due_at(&self, date: NaiveDate) -> DateTime<Utc> {
        let local = self.next_working_day(date).and_time(self.due_time);
        self.zone.instant(local)
    }

    /// The company's calendar day at instant `at`.
    pub fn local_date(&self, at: DateTime<Utc>) -> NaiveDate {
        self.zone.date_at(at)
    }
}

/// One submission of a report (two devices may submit the same report while
/// offline; the earliest counts).
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate)]
pub struct Submission {
    /// When.
    #[autosurgeon(with = "crate::codec::time")]
    pub at: DateTime<Utc>,
    /// From which device.
    pub device: String,
}

/// A daily visit report as read from its document.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate)]
pub struct DailyReport {
    /// Header: id, owner salesperson, region.
    pub meta: Meta,
    /// The day reported on.
    #[autosurgeon(with = "crate::codec::date")]
    pub date: NaiveDate,
    /// Summary of the day.
    pub summary: String,
    /// Problems met, help needed.
    pub problems: String,
    /// Plan for the next working day.
    pub plan_tomorrow: String,
    /// Ids of the visits the report covers.
    pub visits: BTreeMap<String, bool>,
    /// Submissions by a stable id.
    pub submissions: BTreeMap<String, Submission>,
}

impl DailyReport {
    /// The document id.
    pub fn id(&self) -> DocId {
        self.meta.id
    }

    /// The salesperson it belongs to.
    pub fn salesperson(&self) -> &str {
        &self.meta.owner
    }

    /// When it was (first) submitted.
    pub fn submitted_at(&self) -> Option<DateTime<Utc>> {
        self.submissions.values().map(|s| s.at).min()
    }

    /// `Some(true)` if submitted after the deadline of `schedule`, `Some(false)`
    /// if on time, `None` if not submitted yet.
    pub fn is_late(&self, schedule: &ReportSchedule) -> Option<bool> {
        self.submitted_at()
            .map(|at| at > schedule.due_at(self.date))
    }

    /// Overdue now: not submitted and past the deadline.
    pub fn is_overdue(&self, schedule: &ReportSchedule, now: DateTime<Utc>) -> bool {
        self.submitted_at().is_none() && now > schedule.due_at(self.date)
    }
}

/// A daily report document.
#[derive(Debug)]
pub struct DailyReportDoc {
    doc: Document,
}

impl DailyReportDoc {
    /// Starts the salesperson's report for `date`.
    pub fn create(ctx: &ChangeCtx, date: NaiveDate) -> Result<Self> {
        require_role(
            &ctx.actor,
            &[Role::Salesperson],
            "write daily visit reports",
        )?;
        let meta = Meta::new(
            ctx,
            DocKind::DailyReport,
            ctx.actor.user(),
            ctx.actor.region(),
        );
        let report = DailyReport {
            meta: meta.clone(),
            date,
            summary: String::new(),
            problems: String::new(),
            plan_tomorrow: String::new(),
            visits: BTreeMap::new(),
            submissions: BTreeMap::new(),
        };
        Ok(DailyReportDoc {
            doc: Document::create(ctx, meta, &report)?,
        })
    }

    /// Loads a daily report document.
    pub fn load(bytes: &[u8]) -> Result<Self> {
        Ok(DailyReportDoc {
            doc: Document::load_kind(bytes, DocKind::DailyReport)?,
        })
    }

    /// Wraps a document already loaded, checking its kind.
    pub fn from_document(doc: Document) -> Result<Self> {
        doc.expect_kind(DocKind::DailyReport)?;
        Ok(DailyReportDoc { doc })
    }

    /// The underlying document (for storage and sync).
    pub fn document(&mut self) -> &mut Document {
        &mut self.doc
    }

    /// The underlying document, given up (e.g. back to the store's open
    /// documents).
    pub fn into_document(self) -> Document {
        self.doc
    }

    /// Reads the report.
    pub fn read(&self) -> Result<DailyReport> {
        self.doc.view()
    }

    fn editable(&self, ctx: &ChangeCtx) -> Result<DailyReport> {
        require_role(
            &ctx.actor,
            &[Role::Salesperson],
            "write daily visit reports",
        )?;
        let r = self.read()?;
        require_scope(&ctx.actor, &r.meta, || {
            format!("the daily report of {}", r.date)
        })?;
        if r.submitted_at().is_some() {
            return Err(Error::ReportAlreadySubmitted {
                date: r.date.to_string(),
            });
        }
        Ok(r)
    }

    /// Writes the report's text.
    pub fn write(
        &mut self,
        ctx: &ChangeCtx,
        summary: &str,
        problems: &str,
        plan_tomorrow: &str,
    ) -> Result<()> {
        let mut r = self.editable(ctx)?;
        r.summary = summary.trim().to_string();
        r.problems = problems.trim().to_string();
        r.plan_tomorrow = plan_tomorrow.trim().to_string();
        self.doc.update(ctx, &r)
    }

    /// Adds a visit to the report.
    pub fn add_visit(&mut self, ctx: &ChangeCtx, visit: DocId) -> Result<()> {
        let mut r = self.editable(ctx)?;
        r.visits.insert(visit.to_string(), true);
        self.doc.update(ctx, &r)
    }

    /// Submits the report; after this it can no longer be changed.
    pub fn submit(&mut self, ctx: &ChangeCtx) -> Result<()> {
        let mut r = self.editable(ctx)?;
        if r.summary.is_empty() {
            return Err(Error::Required("the report's summary"));
        }
        r.submissions.insert(
            new_item_id(),
            Submission {
                at: ctx.at,
                device: ctx.actor.device().to_string(),
            },
        );
        self.doc.update(ctx, &r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
    use chrono::TimeZone;

    fn friday() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 20).unwrap()
    }

    #[test]
    fn due_at_nine_on_the_next_working_day() {
        let s = ReportSchedule::default();
        // Friday's report is due Monday 09:00 in UTC+8 = Monday 01:00 UTC.
        assert_eq!(
            s.due_at(friday()),
            Utc.with_ymd_and_hms(2026, 11, 23, 1, 0, 0).unwrap()
        );
        // Monday's is due Tuesday.
        assert_eq!(
            s.due_at(NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()),
            Utc.with_ymd_and_hms(2026, 11, 24, 1, 0, 0).unwrap()
        );
        // With Monday a holiday, Friday's report is due Tuesday.
        let h = s
            .clone()
            .with_holidays([NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()]);
        assert_eq!(
            h.due_at(friday()),
            Utc.with_ymd_and_hms(2026, 11, 24, 1, 0, 0).unwrap()
        );
    }

    #[test]
    fn six_day_weeks_are_configurable() {
        use Weekday::*;
        let s = ReportSchedule::new(
            &[Mon, Tue, Wed, Thu, Fri, Sat],
            NaiveTime::from_hms_opt(10, 0, 0).unwrap(),
            BusinessZone::UTC,
        )
        .unwrap();
        assert_eq!(
            s.due_at(friday()),
            Utc.with_ymd_and_hms(2026, 11, 21, 10, 0, 0).unwrap()
        );
        assert!(ReportSchedule::new(&[], NaiveTime::MIN, BusinessZone::UTC).is_err());
    }

    #[test]
    fn late_reports_are_flagged() {
        let s = ReportSchedule::default();
        let mut r = DailyReportDoc::create(&sales(), friday()).unwrap();
        r.write(&sales(), "6 visits", "", "visit fair").unwrap();
        assert_eq!(r.read().unwrap().is_late(&s), None);
        assert!(
            r.read()
                .unwrap()
                .is_overdue(&s, Utc.with_ymd_and_hms(2026, 11, 23, 1, 0, 1).unwrap())
        );
        let mut on_time = r.document().fork();
        let mut late_ctx = sales();
        late_ctx.at = Utc.with_ymd_and_hms(2026, 11, 23, 1, 0, 1).unwrap();
        r.submit(&late_ctx).unwrap();
        assert_eq!(r.read().unwrap().is_late(&s), Some(true));

        let mut r2 = DailyReportDoc::from_document(on_time.fork()).unwrap();
        let mut ok_ctx = sales();
        ok_ctx.at = Utc.with_ymd_and_hms(2026, 11, 23, 0, 59, 0).unwrap();
        r2.submit(&ok_ctx).unwrap();
        assert_eq!(r2.read().unwrap().is_late(&s), Some(false));
        // Submitted on two phones while offline: the earliest counts.
        sync(r.document(), r2.document());
        assert_eq!(r.read().unwrap().is_late(&s), Some(false));
        assert_eq!(r.read().unwrap(), r2.read().unwrap());
    }

    #[test]
    fn a_submitted_report_is_final_and_only_its_owner_writes() {
        let mut r = DailyReportDoc::create(&sales(), friday()).unwrap();
        assert!(matches!(
            r.write(&sales_b(), "x", "", ""),
            Err(Error::NotOwner { .. })
        ));
        assert!(matches!(
            r.write(&manager(), "x", "", ""),
            Err(Error::RoleNotAllowed { .. })
        ));
        assert_eq!(
            r.submit(&sales()),
            Err(Error::Required("the report's summary"))
        );
        r.write(&sales(), "5 visits", "", "").unwrap();
        r.add_visit(&sales(), DocId::new()).unwrap();
        r.submit(&sales()).unwrap();
        let e = r.write(&sales(), "6 visits", "", "").unwrap_err();
        assert_eq!(
            e.to_string(),
            "the daily visit report for 2026-11-20 was already submitted"
        );
        assert!(r.submit(&sales()).is_err());
    }
}
