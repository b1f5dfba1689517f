//! The business rules of every document kind, defined once and enforced on
//! every change the relay accepts.
//!
//! Each kind implements [`KindRules`] in its own module: the validation of
//! its values ([`limits`]), which parts of it each role owns, the steps of its
//! history (for an order, judged by the same [`crate::decide_step`] its typed
//! API calls before recording a step), and the references that need the
//! relay's other documents ([`Facts`]: an order's customer and its credit
//! exposure). The relay applies them through [`RolePolicy`]: given its copy
//! of a document before and after a device's changes, may that device's user
//! have made them? A new kind plugs in by implementing [`KindRules`] and
//! being listed once in `kinds!` below.

mod catalog;
mod complaint;
mod customer;
mod history;
pub mod limits;
mod order;
mod report;
pub(crate) mod shape;
mod visit;

use crate::access::may_see;
use crate::actor::{Actor, Role};
use crate::content::Content;
use crate::customer::Customer;
use crate::document::Meta;
use crate::error::Result;
use crate::ids::DocId;
use crate::order::OpenOrder;
use crate::sync::Policy;

/// A rule's verdict: `Err` carries the reason shown on the phone.
pub type Verdict = std::result::Result<(), String>;

/// What the relay knows beyond the document being decided: the documents a
/// rule refers to. Implemented by the relay's store (with whatever the batch
/// being decided has accepted so far laid over it).
pub trait Facts {
    /// A customer, as the relay holds it.
    fn customer(&mut self, id: DocId) -> Result<Option<Customer>>;
    /// What each of the customer's orders contributes to its credit exposure.
    fn orders_of(&mut self, customer: DocId) -> Result<Vec<OpenOrder>>;
    /// Those of `codes` the catalog does not have (none if it has no products).
    fn unknown_products(&mut self, codes: &[&str]) -> Result<Vec<String>>;
}

/// The rules of one document kind.
pub(crate) trait KindRules: Sized {
    /// Every value within its documented limits ([`limits`]).
    fn validate(&self) -> Verdict;

    /// May `actor` turn `before` (`None`: a new document) into `after`? The
    /// parts each role owns and the steps of the document's history.
    fn check_change(actor: &Actor, before: Option<&Self>, after: &Self) -> Verdict;

    /// The checks that read other documents: references and credit.
    fn check_references(
        _actor: &Actor,
        _before: Option<&Self>,
        _after: &Self,
        _facts: &mut dyn Facts,
    ) -> Result<Verdict> {
        Ok(Ok(()))
    }
}

macro_rules! kinds {
    ($($kind:ident),* $(,)?) => {
        /// Validates `after` and checks the change by its kind's rules.
        fn check_kind(actor: &Actor, before: Option<&Content>, after: &Content) -> Verdict {
            match after {
                $(Content::$kind(a) => {
                    let b = match before {
                        None => None,
                        Some(Content::$kind(b)) => Some(b),
                        Some(_) => return Err(kind_changed()),
                    };
                    a.validate()?;
                    KindRules::check_change(actor, b, a)
                })*
            }
        }

        /// The checks of `after`'s kind that read other documents.
        fn check_kind_references(
            actor: &Actor,
            before: Option<&Content>,
            after: &Content,
            facts: &mut dyn Facts,
        ) -> Result<Verdict> {
            match after {
                $(Content::$kind(a) => {
                    let b = match before {
                        None => None,
                        Some(Content::$kind(b)) => Some(b),
                        Some(_) => return Ok(Err(kind_changed())),
                    };
                    KindRules::check_references(actor, b, a, facts)
                })*
            }
        }
    };
}

kinds!(Customer, Catalog, Order, Visit, Complaint, DailyReport);

pub(crate) use order::validate_line as validate_order_line;

/// Every value of `content` within its documented limits.
pub(crate) fn validate(content: &Content) -> Verdict {
    match content {
        Content::Customer(c) => c.validate(),
        Content::Catalog(c) => c.validate(),
        Content::Order(o) => o.validate(),
        Content::Visit(v) => v.validate(),
        Content::Complaint(c) => c.validate(),
        Content::DailyReport(r) => r.validate(),
    }
}

fn kind_changed() -> String {
    "a document's kind cannot change".into()
}

/// The business rules of DOMAIN.md, checked on the relay for every change.
#[derive(Debug, Default, Clone, Copy)]
pub struct RolePolicy;

impl Policy for RolePolicy {
    fn check(&self, actor: &Actor, before: Option<&Content>, after: &Content) -> Verdict {
        let meta = after.meta();
        if !may_see(actor, meta) || before.is_some_and(|b| !may_see(actor, b.meta())) {
            return Err(format!("{} is not yours to change", describe(meta)));
        }
        if let Some(b) = before
            && b.meta() != meta
            && actor.role() != Role::Admin
        {
            return Err("only an administrator can change a document's owner or region".into());
        }
        check_kind(actor, before, after)
    }

    fn check_references(
        &self,
        actor: &Actor,
        before: Option<&Content>,
        after: &Content,
        facts: &mut dyn Facts,
    ) -> Result<Verdict> {
        check_kind_references(actor, before, after, facts)
    }
}

fn describe(meta: &Meta) -> String {
    format!("{} {}", meta.kind.replace('_', " "), meta.id)
}

/// Refuses unless the actor's role is one of `roles`.
fn role_may(actor: &Actor, roles: &[Role], what: &str) -> Verdict {
    if roles.contains(&actor.role()) {
        Ok(())
    } else {
        Err(format!("{} cannot {what}", actor.role().with_article()))
    }
}

/// The creator recorded in a new document must be the actor.
fn created_by_actor(actor: &Actor, m: &Meta) -> Verdict {
    if m.created_by != actor.user() || m.created_on != actor.device() {
        return Err(format!(
            "the document says it was created by {} on {}, but this is {} on {}",
            m.created_by,
            m.created_on,
            actor.user(),
            actor.device()
        ));
    }
    Ok(())
}

/// A header's values within their limits.
fn validate_meta(m: &Meta) -> Verdict {
    limits::short_text("the owner", &m.owner)?;
    if let Some(r) = &m.region {
        limits::short_text("the region", r)?;
    }
    limits::short_text("the creator", &m.created_by)?;
    limits::short_text("the creating device", &m.created_on)?;
    limits::time("the creation time", m.created_at)
}

/// [`customer_reference`] for a document whose only reference is its
/// customer (a visit, a complaint): checked when the document is new
/// (`before` is `None`) or names another customer than `before`.
fn named_customer(
    actor: &Actor,
    before: Option<DocId>,
    meta: &Meta,
    customer: DocId,
    what: impl FnOnce() -> String,
    facts: &mut dyn Facts,
) -> Result<Verdict> {
    if before == Some(customer) {
        return Ok(Ok(()));
    }
    Ok(customer_reference(actor, &what(), meta, customer, facts)?.map(|_| ()))
}

/// A document that names a customer (an order, a visit, a complaint): the
/// customer exists, the actor may see it, and the document belongs where
/// the customer does (its salesperson and region follow the customer's).
/// Checked for a new document and whenever the customer it names changes.
fn customer_reference(
    actor: &Actor,
    what: &str,
    meta: &Meta,
    customer: DocId,
    facts: &mut dyn Facts,
) -> Result<std::result::Result<Customer, String>> {
    let Some(c) = facts.customer(customer)? else {
        return Ok(Err(format!(
            "{what} is for customer {customer}, which head office does not know; sync the customer first"
        )));
    };
    if !may_see(actor, &c.meta) {
        return Ok(Err(format!(
            "{what} is for {}, a customer who is not yours",
            c.name
        )));
    }
    if c.meta.owner != meta.owner || c.meta.region != meta.region {
        return Ok(Err(format!(
            "{what} is filed under {} in region {}, but its customer {} belongs to {} in region {}; a document's salesperson and region follow its customer",
            meta.owner,
            meta.region.as_deref().unwrap_or("(none)"),
            c.name,
            c.meta.owner,
            c.meta.region.as_deref().unwrap_or("(none)"),
        )));
    }
    Ok(Ok(c))
}
