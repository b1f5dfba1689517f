//! Who may act on what: the role and scope checks shared by every document.
//!
//! A salesperson acts on their own documents, a manager on documents of their
//! region, head-office roles on everything (each only through the edits its job
//! needs, which every document type checks with [`require_role`]).

use crate::actor::{Actor, Role};
use crate::document::Meta;
use crate::error::{Error, Result};

/// Refuses unless the actor's role is one of `allowed`.
pub(crate) fn require_role(actor: &Actor, allowed: &[Role], action: &'static str) -> Result<()> {
    if allowed.contains(&actor.role()) {
        Ok(())
    } else {
        Err(Error::RoleNotAllowed {
            role: actor.role().with_article(),
            action,
        })
    }
}

/// Refuses a salesperson acting on someone else's document, or a manager acting
/// outside their region. `what` names the document for the message.
pub(crate) fn require_scope(
    actor: &Actor,
    meta: &Meta,
    what: impl FnOnce() -> String,
) -> Result<()> {
    match actor.role() {
        Role::Salesperson if actor.user() != meta.owner => Err(Error::NotOwner {
            what: what(),
            owner: meta.owner.clone(),
            user: actor.user().to_string(),
        }),
        Role::Manager => match (&meta.region, actor.region()) {
            (Some(doc_region), Some(mine)) if doc_region != mine => Err(Error::OutsideRegion {
                what: what(),
                region: doc_region.clone(),
                actor_region: mine.to_string(),
            }),
            _ => Ok(()),
        },
        _ => Ok(()),
    }
}

/// May `actor` see a document with this header? Salespeople see their own,
/// managers their region, head office everything; shared documents (no region,
/// such as the catalog) are seen by all.
pub fn may_see(actor: &Actor, meta: &Meta) -> bool {
    may_see_parts(actor, &meta.kind, &meta.owner, meta.region.as_deref())
}

/// [`may_see`] on the parts of a header that decide it.
pub fn may_see_parts(actor: &Actor, kind: &str, owner: &str, region: Option<&str>) -> bool {
    if kind == crate::DocKind::Catalog.as_str() {
        return true;
    }
    match actor.role() {
        Role::Salesperson => actor.user() == owner,
        Role::Manager => match (region, actor.region()) {
            (Some(doc_region), Some(mine)) => doc_region == mine,
            _ => true,
        },
        _ => true,
    }
}

/// Requires a non-blank reason and returns it trimmed.
pub(crate) fn require_reason(reason: &str, to: &'static str) -> Result<String> {
    let r = reason.trim();
    if r.is_empty() {
        Err(Error::ReasonRequired(to))
    } else {
        Ok(r.to_string())
    }
}

/// Requires a non-blank text field and returns it trimmed.
pub(crate) fn require_text(value: &str, field: &'static str) -> Result<String> {
    let v = value.trim();
    if v.is_empty() {
        Err(Error::Required(field))
    } else {
        Ok(v.to_string())
    }
}
