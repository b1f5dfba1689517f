//! A daily visit report's rules: written and submitted by its salesperson;
//! once submitted it stays as it was (another device's submission of the
//! same report may still arrive).

use super::limits::{self, MAX_ITEMS};
use super::{KindRules, Verdict, created_by_actor, role_may, validate_meta};
use crate::actor::{Actor, Role};
use crate::report::DailyReport;

impl KindRules for DailyReport {
    fn validate(&self) -> Verdict {
        use limits::{count, date, short_text, text, time};
        validate_meta(&self.meta)?;
        date("the report's date", self.date)?;
        text("the summary", &self.summary)?;
        text("the problems", &self.problems)?;
        text("tomorrow's plan", &self.plan_tomorrow)?;
        count("the report's visits", self.visits.len(), MAX_ITEMS)?;
        for id in self.visits.keys() {
            short_text("a visit in the report", id)?;
        }
        count(
            "the report's submissions",
            self.submissions.len(),
            MAX_ITEMS,
        )?;
        for (id, s) in &self.submissions {
            short_text("a submission", id)?;
            time("a submission's time", s.at)?;
            short_text("a submission's device", &s.device)?;
        }
        Ok(())
    }

    fn check_change(actor: &Actor, before: Option<&DailyReport>, after: &DailyReport) -> Verdict {
        role_may(actor, &[Role::Salesperson], "write daily visit reports")?;
        match before {
            None => created_by_actor(actor, &after.meta),
            Some(b) if b.submitted_at().is_some() => {
                let mut only_submissions = after.clone();
                only_submissions.submissions = b.submissions.clone();
                if only_submissions == *b {
                    Ok(())
                } else {
                    Err(format!(
                        "the daily visit report for {} was already submitted",
                        b.date
                    ))
                }
            }
            Some(_) => Ok(()),
        }
    }
}
