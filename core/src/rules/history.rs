//! The one history check for documents that record steps (orders,
//! complaints): a history only grows, every step has its own id, and every
//! new step is signed by the actor who sends it.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use super::Verdict;
use super::limits::{self, MAX_STEPS};
use crate::actor::Actor;

/// A step in a document's history, signed by who took it.
pub(super) trait SignedStep: PartialEq {
    /// The step's id.
    fn id(&self) -> &str;
    /// Who took the step: user, role, device.
    fn signer(&self) -> (&str, &str, &str);
    /// When (the actor's clock).
    fn at(&self) -> DateTime<Utc>;
}

macro_rules! signed_steps {
    ($($t:ty),*) => {$(
        impl SignedStep for $t {
            fn id(&self) -> &str {
                &self.id
            }
            fn signer(&self) -> (&str, &str, &str) {
                (&self.user, &self.role, &self.device)
            }
            fn at(&self) -> DateTime<Utc> {
                self.at
            }
        }
    )*};
}
signed_steps!(crate::OrderEvent, crate::ComplaintEvent);

/// The values every step records (id, who, when) within their limits, and
/// at most [`MAX_STEPS`] of them; `what` names the history.
pub(super) fn validate_steps<E: SignedStep>(what: &str, steps: &[E]) -> Verdict {
    limits::count(what, steps.len(), MAX_STEPS)?;
    for step in steps {
        let (user, role, device) = step.signer();
        limits::short_text("a step's id", step.id())?;
        limits::short_text("a step's user", user)?;
        limits::short_text("a step's role", role)?;
        limits::short_text("a step's device", device)?;
        limits::time("a step's time", step.at())?;
    }
    Ok(())
}

/// Checks that `after` (the history of `what`, "order S07-…") extends
/// `before`: every step the relay recorded is still there, unchanged and in
/// its order, and no id appears twice. Returns the new steps in list order,
/// for the kind to judge one by one (and check [`signed_by`]).
///
/// New steps may sit between old ones: when two devices append steps
/// concurrently, Automerge's list merge may place either first. The kind
/// then checks that the merged order comes to the same result as the relay's
/// history followed by the new steps.
pub(super) fn new_steps<'a, E: SignedStep>(
    what: &str,
    before: &[E],
    after: &'a [E],
) -> Result<Vec<&'a E>, String> {
    let mut ids = HashSet::with_capacity(after.len());
    if let Some(twice) = after.iter().find(|e| !ids.insert(e.id())) {
        return Err(format!(
            "the history of {what} has step {} twice; every step is recorded once",
            twice.id()
        ));
    }
    let mut old = before.iter().peekable();
    let mut new = Vec::new();
    for step in after {
        if old.peek() == Some(&step) {
            old.next();
        } else {
            new.push(step);
        }
    }
    if old.next().is_some() {
        return Err(format!(
            "the history of {what} cannot be rewritten: the steps already recorded stay, unchanged and in their order"
        ));
    }
    Ok(new)
}

/// A new step is signed by the actor who sends it: user, role and device.
pub(super) fn signed_by<E: SignedStep>(actor: &Actor, what: &str, step: &E) -> Verdict {
    let (user, role, device) = step.signer();
    if user != actor.user() || role != actor.role().as_str() || device != actor.device() {
        return Err(format!(
            "a step in the history of {what} is signed by {user} ({role}) on {device}, but this is {} on {}",
            actor.user(),
            actor.device()
        ));
    }
    Ok(())
}
