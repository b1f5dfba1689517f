//! A complaint's rules: recorded by sales, resolved by head office, reported
//! back by the salesperson or order desk, reopened by sales; its history
//! only grows.

use super::history::{new_steps, signed_by, validate_steps};
use super::limits;
use super::{Facts, KindRules, Verdict, created_by_actor, named_customer, role_may, validate_meta};
use crate::actor::{Actor, Role};
use crate::complaint::{Complaint, ComplaintAction};
use crate::error::Result;

const SALES: &[Role] = &[Role::Salesperson, Role::Manager, Role::OrderDesk];

impl KindRules for Complaint {
    fn validate(&self) -> Verdict {
        use limits::{short_text, text};
        validate_meta(&self.meta)?;
        short_text("the customer's name", &self.customer_name)?;
        if let Some(o) = &self.order {
            short_text("the order", o)?;
        }
        short_text("the subject", &self.subject)?;
        text("the description", &self.description)?;
        validate_steps("the complaint's history", &self.events)?;
        for e in &self.events {
            text("a step's note", &e.note)?;
        }
        Ok(())
    }

    fn check_change(actor: &Actor, before: Option<&Complaint>, after: &Complaint) -> Verdict {
        let what = format!("complaint {}", after.subject);
        let Some(before) = before else {
            created_by_actor(actor, &after.meta)?;
            role_may(actor, SALES, "record complaints")?;
            return if after.events.is_empty() {
                Ok(())
            } else {
                Err("a new complaint has no history yet".into())
            };
        };
        // The header is the policy's (an administrator moves documents).
        let mut same_events = after.clone();
        same_events.events = before.events.clone();
        same_events.meta = before.meta.clone();
        if same_events != *before {
            role_may(actor, SALES, "edit complaints")?;
        }
        for e in new_steps(&what, &before.events, &after.events)? {
            let roles: &[Role] = match e.action {
                ComplaintAction::Resolve => &[Role::Manager, Role::OrderDesk, Role::Admin],
                ComplaintAction::ReportBack => &[Role::Salesperson, Role::OrderDesk],
                ComplaintAction::Reopen => SALES,
            };
            role_may(actor, roles, "take this step on complaints")?;
            signed_by(actor, &what, e)?;
        }
        Ok(())
    }

    fn check_references(
        actor: &Actor,
        before: Option<&Complaint>,
        after: &Complaint,
        facts: &mut dyn Facts,
    ) -> Result<Verdict> {
        let what = || format!("complaint {}", after.subject);
        named_customer(
            actor,
            before.map(|b| b.customer),
            &after.meta,
            after.customer,
            what,
            facts,
        )
    }
}
