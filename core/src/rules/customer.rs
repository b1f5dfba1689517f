//! A customer's rules: sales edit the details, finance and admin the credit
//! terms, managers and admin the grade and standing, finance publishes the
//! receivables; a salesperson creates only prospects of their own.

use super::limits::{self, MAX_ITEMS};
use super::{KindRules, Verdict, created_by_actor, role_may, validate_meta};
use crate::actor::{Actor, Role};
use crate::customer::{Customer, CustomerStatus};

impl KindRules for Customer {
    fn validate(&self) -> Verdict {
        use limits::{amount, count, credit_days, item_id, short_text, text, time};
        validate_meta(&self.meta)?;
        if self.name.trim().is_empty() {
            return Err("the customer's name is empty".into());
        }
        short_text("the customer's name", &self.name)?;
        text("the customer's address", &self.address)?;
        short_text("the customer's code", &self.code)?;
        short_text("the customer's phone", &self.phone)?;
        short_text("the customer's tax number", &self.tax_number)?;
        count("the customer's contacts", self.contacts.len(), MAX_ITEMS)?;
        for (id, c) in &self.contacts {
            item_id("a contact", id)?;
            short_text("a contact's name", &c.name)?;
            short_text("a contact's phone", &c.phone)?;
            short_text("a contact's title", &c.title)?;
        }
        credit_days("the credit days", self.credit_days)?;
        amount("the credit limit", self.credit_limit)?;
        amount("the receivables", self.receivables)?;
        if let Some(t) = self.receivables_as_of {
            time("the receivables' date", t)?;
        }
        Ok(())
    }

    fn check_change(actor: &Actor, before: Option<&Customer>, after: &Customer) -> Verdict {
        let Some(before) = before else {
            created_by_actor(actor, &after.meta)?;
            return match actor.role() {
                Role::Admin | Role::Manager => Ok(()),
                Role::Salesperson
                    if after.status == CustomerStatus::Prospect
                        && after.code.is_empty()
                        && after.credit_limit.is_zero()
                        && after.receivables.is_zero()
                        && after.meta.owner == actor.user()
                        && after.meta.region.as_deref() == actor.region() =>
                {
                    Ok(())
                }
                Role::Salesperson => Err(
                    "a salesperson can only create prospects (no credit, no customer code, owned by themself, in their region)"
                        .into(),
                ),
                _ => Err(format!(
                    "{} cannot create customers",
                    actor.role().with_article()
                )),
            };
        };
        let details = |c: &Customer| {
            (
                c.name.clone(),
                c.address.clone(),
                c.phone.clone(),
                c.tax_number.clone(),
                c.contacts.clone(),
            )
        };
        if before.code != after.code {
            role_may(actor, &[Role::Admin], "change customer codes")?;
        }
        let credit = |c: &Customer| (c.payment_terms, c.credit_days, c.credit_limit);
        let standing = |c: &Customer| (c.grade, c.status);
        let receivables = |c: &Customer| (c.receivables, c.receivables_as_of);
        if details(before) != details(after) {
            role_may(
                actor,
                &[
                    Role::Salesperson,
                    Role::Manager,
                    Role::OrderDesk,
                    Role::Admin,
                ],
                "edit customer details",
            )?;
        }
        if credit(before) != credit(after) {
            role_may(
                actor,
                &[Role::Finance, Role::Admin],
                "change credit limits or payment terms",
            )?;
        }
        if standing(before) != standing(after) {
            role_may(
                actor,
                &[Role::Manager, Role::Admin],
                "change customer grades or activate customers",
            )?;
        }
        if receivables(before) != receivables(after) {
            role_may(actor, &[Role::Finance], "publish receivables")?;
        }
        Ok(())
    }
}
