//! Who made a document's new changes, and the proof of it.
//!
//! Every change names its author (user, role, device) and travels with that
//! device's signature. A device normally sends only its own new changes: each
//! must name the authenticated device and verify with its key. After the
//! relay's database is restored from a backup, a device also sends back
//! changes others made that the relay lost (a manager's approval inside a
//! salesperson's order, a payment recorded at head office). Those are taken
//! on their own author's signature, checked against the key of the device
//! they name ([`Signers`]), and the document's rules are then applied to
//! each author's run of changes as that author ([`Authorship::runs`]).

use std::collections::{HashMap, HashSet};

use automerge::ChangeHash;

use super::relay::Sender;
use crate::actor::{Actor, OFFICE_DEVICE};
use crate::document::Document;
use crate::error::Result;
use crate::ids::DocId;
use crate::signing::{ChangeSignature, DevicePublicKey};

/// Who, besides the sending device, may have signed changes the relay
/// accepts: the devices enrolled with it and the head-office users (whose
/// edits the relay signs with its office key).
pub trait Signers: Send + Sync {
    /// The enrolled device `device` (not revoked): its user and its key.
    fn device(&self, device: &str) -> Result<Option<Sender>>;
    /// The head-office user `user`, as an actor on [`OFFICE_DEVICE`].
    fn office_user(&self, user: &str) -> Result<Option<Actor>>;
}

/// No other signers: a device's changes are accepted only if it made them
/// all (a relay that keeps no register of devices, as in tests).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoOtherSigners;

impl Signers for NoOtherSigners {
    fn device(&self, _: &str) -> Result<Option<Sender>> {
        Ok(None)
    }
    fn office_user(&self, _: &str) -> Result<Option<Actor>> {
        Ok(None)
    }
}

/// What proves who made a document's new changes: the key of the device
/// that sends them and the signatures that came with them.
#[derive(Clone, Copy)]
pub(super) struct Proof<'a> {
    pub key: Option<&'a DevicePublicKey>,
    pub signatures: &'a [ChangeSignature],
}

/// The signers other than the sending device a relay knows.
#[derive(Clone, Copy)]
pub(super) struct OtherSigners<'a> {
    pub signers: &'a dyn Signers,
    /// The key head-office edits are signed with.
    pub office: &'a DevicePublicKey,
}

/// The proven authors of a document's new changes.
#[derive(Debug)]
pub(super) struct Authorship {
    /// The signatures of the new changes, in change order, for the log.
    pub signatures: Vec<ChangeSignature>,
    /// `None` when the sending device made every new change. Otherwise the
    /// new changes in causal order, cut into runs by author: each run's
    /// author and the document's heads after it (the last run ends at the
    /// document's heads).
    pub runs: Option<Vec<(Actor, Vec<ChangeHash>)>>,
    /// Every signature is verified (those of other devices always are; the
    /// sender's own only if asked, else the caller verifies them in bulk).
    pub verified: bool,
}

/// Checks that every change of `after` since `since` names its author and
/// carries that author's valid signature: the sending device's (`actor`,
/// with `proof.key`), or another known signer's. `verify` false leaves the
/// sender's own signatures to the caller, which verifies many documents'
/// at once, unless other authors' changes are among them.
pub(super) fn proven_authorship(
    actor: &Actor,
    id: DocId,
    after: &mut Document,
    since: &[ChangeHash],
    proof: Proof<'_>,
    verify: bool,
    others: OtherSigners<'_>,
) -> Result<Authorship, String> {
    let by_change: HashMap<[u8; 32], &ChangeSignature> =
        proof.signatures.iter().map(|s| (s.change, s)).collect();
    let changes = after.automerge().get_changes_meta(since);
    let mut own: Vec<&ChangeSignature> = Vec::new();
    let mut signatures = Vec::with_capacity(changes.len());
    let mut authors: Vec<Actor> = Vec::with_capacity(changes.len());
    let mut known: HashMap<(String, String), (Actor, DevicePublicKey)> = HashMap::new();
    let mut foreign = false;
    for change in &changes {
        let hash = change.hash;
        let Some(author) = change.message.as_deref().and_then(Actor::from_message) else {
            return Err(format!(
                "a change to document {id} does not say who made it"
            ));
        };
        let Some(signature) = by_change.get(&hash.0).copied() else {
            return Err(format!(
                "change {hash} to document {id} came without its signature"
            ));
        };
        if same_author(&author, actor) {
            own.push(signature);
        } else {
            foreign = true;
            // Keyed by user and device: head-office users share one device name.
            let who = (author.user().to_string(), author.device().to_string());
            let key = match known.get(&who) {
                Some((signer, key)) => same_author(&author, signer).then_some(*key),
                None => {
                    let (signer, key) = other_signer(id, &author, others)?;
                    let matches = same_author(&author, &signer);
                    known.insert(who, (signer, key));
                    matches.then_some(key)
                }
            };
            let Some(key) = key else {
                return Err(not_as_enrolled(id, &author));
            };
            if !key.verifies(signature) {
                return Err(not_signed(id, author.device(), &key, &[signature]));
            }
        }
        signatures.push(signature.clone());
        authors.push(author);
    }
    if !own.is_empty() {
        let Some(key) = proof.key else {
            return Err(format!(
                "device {} has no signing key on the relay (it was enrolled before changes were signed): update the app, which registers one, or enroll the device again",
                actor.device()
            ));
        };
        if (verify || foreign) && !key.verifies_all(&own) {
            return Err(not_signed(id, actor.device(), key, &own));
        }
    }
    let runs = foreign.then(|| {
        let nodes: Vec<(ChangeHash, &[ChangeHash])> = changes
            .iter()
            .map(|c| (c.hash, c.deps.as_slice()))
            .collect();
        runs_by_author(since, &nodes, authors)
    });
    Ok(Authorship {
        signatures,
        runs,
        verified: verify || foreign,
    })
}

/// The signer a change by someone other than the sender names: its device
/// as enrolled, or the head-office user and the office key.
fn other_signer(
    id: DocId,
    author: &Actor,
    others: OtherSigners<'_>,
) -> Result<(Actor, DevicePublicKey), String> {
    let unknown = || {
        format!(
            "a change to document {id} was made by {} on device {}, which this relay does not know (or has revoked); only changes its enrolled devices and head office signed are accepted",
            author.user(),
            author.device()
        )
    };
    let lookup_failed =
        |e: crate::Error| format!("the relay could not look up who signed a change ({e})");
    if author.device() == OFFICE_DEVICE {
        let user = others
            .signers
            .office_user(author.user())
            .map_err(lookup_failed)?
            .ok_or_else(unknown)?;
        return Ok((user, *others.office));
    }
    let device = others
        .signers
        .device(author.device())
        .map_err(lookup_failed)?
        .ok_or_else(unknown)?;
    let key = device.key.ok_or_else(unknown)?;
    Ok((device.actor, key))
}

/// Orders `changes` (hash and dependencies; each depends only on `since`'s
/// history or on changes before it once ordered) causally, keeping the given
/// order where it is free, and cuts them into runs of one author, each with
/// the heads after it.
fn runs_by_author(
    since: &[ChangeHash],
    changes: &[(ChangeHash, &[ChangeHash])],
    authors: Vec<Actor>,
) -> Vec<(Actor, Vec<ChangeHash>)> {
    let new: HashSet<ChangeHash> = changes.iter().map(|(h, _)| *h).collect();
    let mut placed: HashSet<ChangeHash> = HashSet::with_capacity(changes.len());
    let mut order: Vec<usize> = Vec::with_capacity(changes.len());
    // Kahn's algorithm by repeated passes: histories are short and almost
    // always already in causal order, so one pass usually places them all.
    while order.len() < changes.len() {
        let before = order.len();
        for (i, (hash, deps)) in changes.iter().enumerate() {
            if !placed.contains(hash) && deps.iter().all(|d| !new.contains(d) || placed.contains(d))
            {
                placed.insert(*hash);
                order.push(i);
            }
        }
        if order.len() == before {
            // A cycle cannot happen in a hash graph; keep the rest as given.
            order.extend((0..changes.len()).filter(|i| !placed.contains(&changes[*i].0)));
            break;
        }
    }
    let mut heads: Vec<ChangeHash> = since.to_vec();
    let mut runs: Vec<(Actor, Vec<ChangeHash>)> = Vec::new();
    for i in order {
        let (hash, deps) = changes[i];
        heads.retain(|h| !deps.contains(h));
        heads.push(hash);
        let author = &authors[i];
        match runs.last_mut() {
            Some((a, h)) if same_author(a, author) => *h = heads.clone(),
            _ => runs.push((author.clone(), heads.clone())),
        }
    }
    for (_, h) in &mut runs {
        h.sort();
    }
    runs
}

/// Why the signatures of document `id` from `device` do not verify with `key`.
pub(super) fn not_signed(
    id: DocId,
    device: &str,
    key: &DevicePublicKey,
    signatures: &[&ChangeSignature],
) -> String {
    let bad = signatures
        .iter()
        .find(|s| !key.verifies(s))
        .map(|s| ChangeHash(s.change).to_string())
        .unwrap_or_default();
    format!("change {bad} to document {id} is not signed by device {device}'s key")
}

fn not_as_enrolled(id: DocId, author: &Actor) -> String {
    format!(
        "a change to document {id} says it was made by {} ({}) on device {}, but that device is enrolled for someone else",
        author.user(),
        author.role(),
        author.device()
    )
}

/// Is `claimed` (a change's recorded author) the authenticated `actor`?
pub(super) fn same_author(claimed: &Actor, actor: &Actor) -> bool {
    claimed.user() == actor.user()
        && claimed.role() == actor.role()
        && claimed.device() == actor.device()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Role;

    fn hash(n: u8) -> ChangeHash {
        ChangeHash([n; 32])
    }

    fn who(user: &str) -> Actor {
        Actor::new(user, Role::Salesperson, Some("east"), &format!("d-{user}")).unwrap()
    }

    #[test]
    fn runs_follow_causal_order_and_end_at_each_runs_heads() {
        // a1 <- m1 <- a2, given out of order; s is the relay's head.
        let s = [hash(9)];
        let (a1_deps, m1_deps, a2_deps) = ([hash(9)], [hash(1)], [hash(2)]);
        let changes: Vec<(ChangeHash, &[ChangeHash])> = vec![
            (hash(3), &a2_deps),
            (hash(1), &a1_deps),
            (hash(2), &m1_deps),
        ];
        let runs = runs_by_author(&s, &changes, vec![who("a"), who("a"), who("m")]);
        let summary: Vec<(&str, Vec<ChangeHash>)> =
            runs.iter().map(|(a, h)| (a.user(), h.clone())).collect();
        assert_eq!(
            summary,
            vec![
                ("a", vec![hash(1)]),
                ("m", vec![hash(2)]),
                ("a", vec![hash(3)])
            ]
        );
    }

    #[test]
    fn concurrent_changes_leave_several_heads() {
        let s = [hash(9)];
        let deps = [hash(9)];
        let changes: Vec<(ChangeHash, &[ChangeHash])> = vec![(hash(1), &deps), (hash(2), &deps)];
        let runs = runs_by_author(&s, &changes, vec![who("a"), who("m")]);
        assert_eq!(runs[0].1, vec![hash(1)]);
        assert_eq!(runs[1].1, vec![hash(1), hash(2)]);
    }
}
