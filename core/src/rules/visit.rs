//! A visit's rules: planned and logged by sales (the salesperson checks in
//! and out), notes added by sales and the order desk, each note signed by its
//! author and never rewritten.

use super::limits::{self, MAX_ITEMS};
use super::{Facts, KindRules, Verdict, created_by_actor, named_customer, role_may, validate_meta};
use crate::actor::{Actor, Role};
use crate::error::Result;
use crate::visit::{Stamp, Visit};

const LOGGERS: &[Role] = &[Role::Salesperson, Role::Manager];

fn stamp(field: &str, s: &Stamp) -> Verdict {
    limits::time(field, s.at)?;
    if let Some(p) = s.position {
        let ok = p.latitude.is_finite()
            && p.longitude.is_finite()
            && p.latitude.abs() <= 90.0
            && p.longitude.abs() <= 180.0;
        if !ok {
            return Err(format!(
                "{field} has a position of {}, {}; latitude is -90 to 90 and longitude -180 to 180",
                p.latitude, p.longitude
            ));
        }
    }
    Ok(())
}

impl KindRules for Visit {
    fn validate(&self) -> Verdict {
        use limits::{count, item_id, short_text, text, time};
        validate_meta(&self.meta)?;
        short_text("the customer's name", &self.customer_name)?;
        time("the planned start", self.plan.planned_start)?;
        text("the visit's purpose", &self.plan.purpose)?;
        text("the materials to bring", &self.plan.materials)?;
        if let Some(s) = &self.check_in {
            stamp("the check-in", s)?;
        }
        if let Some(s) = &self.check_out {
            stamp("the check-out", s)?;
        }
        short_text("the contact met", &self.contact)?;
        text("the topics", &self.topics)?;
        count("the visit's notes", self.notes.len(), MAX_ITEMS)?;
        for (id, n) in &self.notes {
            item_id("a note", id)?;
            time("a note's time", n.at)?;
            short_text("a note's author", &n.author)?;
            text("a note", &n.text)?;
        }
        let o = &self.outcome;
        count("the orders taken", o.orders.len(), MAX_ITEMS)?;
        for number in o.orders.keys() {
            short_text("an order taken", number)?;
        }
        text("the order intent", &o.intent)?;
        count("the complaints recorded", o.complaints.len(), MAX_ITEMS)?;
        for id in o.complaints.keys() {
            short_text("a complaint recorded", id)?;
        }
        text("the feedback", &o.feedback)?;
        if let Some(t) = o.next_appointment {
            time("the next appointment", t)?;
        }
        count("the follow-ups", self.follow_ups.len(), MAX_ITEMS)?;
        for (id, f) in &self.follow_ups {
            item_id("a follow-up", id)?;
            text("a follow-up", &f.text)?;
            time("a follow-up's due time", f.due)?;
            if let Some(t) = f.done_at {
                time("a follow-up's completion", t)?;
            }
        }
        if let Some(why) = &self.cancelled {
            text("the reason the visit was called off", why)?;
        }
        Ok(())
    }

    fn check_change(actor: &Actor, before: Option<&Visit>, after: &Visit) -> Verdict {
        let Some(before) = before else {
            created_by_actor(actor, &after.meta)?;
            return role_may(actor, LOGGERS, "plan visits");
        };
        // The header is the policy's: an administrator moves a visit with
        // its customer (see `RolePolicy`).
        let mut without_notes = after.clone();
        without_notes.notes = before.notes.clone();
        without_notes.meta = before.meta.clone();
        if without_notes != *before {
            role_may(actor, LOGGERS, "log visits")?;
        }
        if before.notes != after.notes {
            role_may(
                actor,
                &[Role::Salesperson, Role::Manager, Role::OrderDesk],
                "add visit notes",
            )?;
            if before.notes.keys().any(|id| !after.notes.contains_key(id)) {
                return Err("visit notes cannot be removed".into());
            }
            for (id, n) in &after.notes {
                match before.notes.get(id) {
                    Some(old) if old != n => return Err("visit notes cannot be rewritten".into()),
                    None if n.author != actor.user() => {
                        return Err(format!(
                            "a note is signed by {}, but this is {}",
                            n.author,
                            actor.user()
                        ));
                    }
                    _ => {}
                }
            }
        }
        if before.check_in != after.check_in || before.check_out != after.check_out {
            role_may(actor, &[Role::Salesperson], "check in to or out of visits")?;
        }
        Ok(())
    }

    fn check_references(
        actor: &Actor,
        before: Option<&Visit>,
        after: &Visit,
        facts: &mut dyn Facts,
    ) -> Result<Verdict> {
        let what = || format!("the visit to {}", after.customer_name);
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
