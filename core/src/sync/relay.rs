//! The relay side of the sync protocol: bytes in, bytes out.
//!
//! For each request the relay
//! 1. applies each pushed document's changes to a copy of its own, and keeps
//!    them only if the device may see the document (before and after) and the
//!    [`Policy`] agrees; otherwise that document is refused with a reason;
//! 2. commits everything it kept in one transaction, each document's new
//!    changes appended to the relay's log under a new sequence number;
//! 3. answers with the outcome per push and every change in the log after the
//!    device's cursor that the device may see (except what this very request
//!    brought), grouped by document, and the new cursor.
//!
//! A request repeated (its answer lost) changes nothing the second time: the
//! relay already has the changes, so nothing new is logged, and the answer again
//! carries everything after the device's (unchanged) cursor.

use std::collections::{HashMap, HashSet};

use automerge::{AutoCommit, ChangeHash, sync::SyncDoc};
use chrono::{DateTime, Utc};

use super::authorship::{OtherSigners, Proof, Signers, not_signed, proven_authorship};
use super::wire::{self, DocMessage, LogMark, Outcome, SyncRequest, SyncResponse, Update};
use crate::access::may_see_parts;
use crate::actor::Actor;
use crate::content::Content;
use crate::customer::Customer;
use crate::document::Document;
use crate::error::{Error, Result};
use crate::ids::DocId;
use crate::order::OpenOrder;
use crate::rules::Facts;
use crate::signing::{ChangeSignature, DeviceKey, DevicePublicKey};

/// A document's changes accepted by the relay, to be committed.
#[derive(Debug)]
pub struct Accepted {
    /// Where the changes came from: a device id, or `office:<user>`.
    pub origin: String,
    /// The relay's copy with the changes applied.
    pub doc: Document,
    /// The new changes only (what the log records).
    pub changes: Vec<u8>,
    /// The document's content after the changes, read once for the checks
    /// and reused by the store's projection.
    pub content: Content,
    /// The content of the relay's copy before the changes (`None`: new).
    pub before: Option<Content>,
    /// The signatures of the new changes, verified.
    pub signatures: Vec<ChangeSignature>,
    /// Every signature is verified already (otherwise the relay verifies
    /// the sender's in bulk before committing).
    pub(crate) verified: bool,
}

/// One entry of the relay's log: changes to one document, in commit order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// The entry's sequence number.
    pub seq: u64,
    /// The document.
    pub doc: DocId,
    /// Its kind (`DocKind::as_str`), owner and region now, for visibility.
    pub kind: String,
    /// Owner salesperson.
    pub owner: String,
    /// Region.
    pub region: Option<String>,
    /// The changes.
    pub changes: Vec<u8>,
    /// The document's heads after these changes.
    pub heads: Vec<ChangeHash>,
    /// The changes' signatures.
    pub signatures: Vec<ChangeSignature>,
}

/// Where the relay keeps documents and its log: SQLite by default
/// ([`crate::store::SqliteRelayStore`]), PostgreSQL later.
pub trait RelayStore {
    /// The relay's copy of a document, if it has one.
    fn load(&mut self, id: DocId) -> Result<Option<Document>>;
    /// Commits the accepted documents atomically (one transaction), logging
    /// each one's changes; returns the sequence numbers assigned, in order.
    /// On failure nothing is stored (and the documents can be committed again).
    fn commit(&mut self, accepted: &mut [Accepted]) -> Result<Vec<u64>>;
    /// The highest sequence number in the log (0 when empty).
    fn last_seq(&mut self) -> Result<u64>;
    /// The documents that left `scope` (filed under another salesperson or
    /// region) by a log entry after `cursor` and at most `upto`, and are not
    /// back in it.
    fn departures_after(&mut self, cursor: u64, upto: u64, scope: &Scope) -> Result<Vec<DocId>>;
    /// When document `id` last left `from` (was filed under another
    /// salesperson or region), if it ever did.
    fn moved_away_at(&mut self, id: DocId, from: &Scope) -> Result<Option<DateTime<Utc>>>;
    /// Up to `limit` log entries after `cursor`, in order, of documents within
    /// `scope` (a store may return more; the relay filters again).
    fn log_after(&mut self, cursor: u64, limit: usize, scope: &Scope) -> Result<Vec<LogEntry>>;
    /// What each of `customer`'s orders contributes to its credit exposure
    /// (kept up to date by [`RelayStore::commit`]).
    fn orders_of(&mut self, customer: DocId) -> Result<Vec<OpenOrder>>;
    /// Those of `codes` the catalog does not have (none while the catalog
    /// has no products: a company that keeps no catalog).
    fn unknown_products(&mut self, codes: &[&str]) -> Result<Vec<String>>;
    /// The signatures of every change the relay holds of document `id`.
    fn signatures_of(&mut self, id: DocId) -> Result<Vec<ChangeSignature>>;
    /// The identity of this database: random, made when it was created.
    /// Devices are sent it with every answer (in a [`LogMark`]).
    fn identity(&mut self) -> Result<[u8; 16]>;
    /// The heads recorded with log entry `seq`, if the log has it.
    fn entry_heads(&mut self, seq: u64) -> Result<Option<Vec<ChangeHash>>>;
}

/// The documents a round has accepted but not yet committed, as the rules
/// see them: laid over the store, so a rule decided later in the round sees
/// them (two approvals for one customer in one batch do not both pass on the
/// same headroom).
#[derive(Default)]
struct Overlay {
    customers: HashMap<DocId, Customer>,
    orders: HashMap<DocId, OpenOrder>,
    /// The product codes of a catalog the round accepted.
    products: Option<HashSet<String>>,
}

impl Overlay {
    /// Lays an accepted document over the store.
    fn accept(&mut self, content: &Content) {
        match content {
            Content::Customer(c) => {
                self.customers.insert(c.id(), c.clone());
            }
            Content::Order(o) => {
                self.orders.insert(o.id(), OpenOrder::of(o));
            }
            Content::Catalog(c) => {
                self.products = Some(c.products.keys().cloned().collect());
            }
            _ => {}
        }
    }
}

/// A store with an [`Overlay`] over it.
struct Overlaid<'a, S> {
    store: &'a mut S,
    overlay: &'a Overlay,
}

impl<S: RelayStore> Facts for Overlaid<'_, S> {
    fn customer(&mut self, id: DocId) -> Result<Option<Customer>> {
        if let Some(c) = self.overlay.customers.get(&id) {
            return Ok(Some(c.clone()));
        }
        match self.store.load(id)? {
            Some(doc) => match doc.content() {
                Ok(Content::Customer(c)) => Ok(Some(c)),
                _ => Ok(None),
            },
            None => Ok(None),
        }
    }

    fn unknown_products(&mut self, codes: &[&str]) -> Result<Vec<String>> {
        match &self.overlay.products {
            Some(p) if p.is_empty() => Ok(Vec::new()),
            Some(p) => Ok(codes
                .iter()
                .filter(|c| !p.contains(**c))
                .map(|c| (*c).to_string())
                .collect()),
            None => self.store.unknown_products(codes),
        }
    }

    fn orders_of(&mut self, customer: DocId) -> Result<Vec<OpenOrder>> {
        let overlay = &self.overlay.orders;
        let mut orders: Vec<OpenOrder> = self
            .store
            .orders_of(customer)?
            .into_iter()
            .filter(|o| !overlay.contains_key(&o.order))
            .collect();
        orders.extend(overlay.values().filter(|o| o.customer == customer).cloned());
        Ok(orders)
    }
}

/// The policy's checks that read other documents, for one accepted
/// document; it joins the overlay if it passes.
fn check_references<S: RelayStore, P: Policy>(
    policy: &P,
    store: &mut S,
    overlay: &mut Overlay,
    actor: &Actor,
    accepted: &Accepted,
) -> Result<Outcome> {
    let verdict = policy.check_references(
        actor,
        accepted.before.as_ref(),
        &accepted.content,
        &mut Overlaid { store, overlay },
    )?;
    Ok(match verdict {
        Ok(()) => {
            overlay.accept(&accepted.content);
            Outcome::Accepted
        }
        Err(reason) => Outcome::Refused(reason),
    })
}

/// How long after a document moved to another salesperson or region the
/// devices it left may still deliver the changes they made to it offline.
pub const MOVED_DOCUMENT_GRACE: chrono::TimeDelta = chrono::TimeDelta::days(30);

/// Which documents a device may receive, as a store can filter them: shared
/// documents (the catalog) always, plus these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every document (head office).
    All,
    /// Documents owned by this salesperson.
    Owner(String),
    /// Documents of this region (a manager).
    Region(String),
}

impl Scope {
    /// The scope of what `actor` may see (see [`crate::may_see`]).
    pub fn of(actor: &Actor) -> Scope {
        match (actor.role(), actor.region()) {
            (crate::Role::Salesperson, _) => Scope::Owner(actor.user().to_string()),
            (crate::Role::Manager, Some(r)) => Scope::Region(r.to_string()),
            _ => Scope::All,
        }
    }
}

/// Business rules the relay applies to every incoming change, beyond
/// visibility (which the relay always checks). Several threads check the
/// documents of one batch at once, hence `Sync`.
pub trait Policy: Sync {
    /// May `actor` turn `before` (the relay's copy; `None` for a new document)
    /// into `after`? `Err` carries the reason shown on the phone.
    fn check(&self, actor: &Actor, before: Option<&Content>, after: &Content)
    -> Result<(), String>;

    /// The checks that read the relay's other documents (an order's customer,
    /// its credit exposure), made one document at a time on the store's
    /// thread after [`Policy::check`] passed. `Ok(Err(reason))` refuses.
    fn check_references(
        &self,
        _actor: &Actor,
        _before: Option<&Content>,
        _after: &Content,
        _facts: &mut dyn Facts,
    ) -> Result<Result<(), String>> {
        Ok(Ok(()))
    }
}

/// No rules beyond visibility.
#[derive(Debug, Default, Clone, Copy)]
pub struct VisibilityOnly;

impl Policy for VisibilityOnly {
    fn check(&self, _: &Actor, _: Option<&Content>, _: &Content) -> Result<(), String> {
        Ok(())
    }
}

/// A request decided but not yet committed.
struct Prepared {
    reset: bool,
    cursor: u64,
    push_outcomes: Vec<Outcome>,
    reconcile_outcomes: Vec<Outcome>,
    replies: Vec<DocMessage>,
}

impl Prepared {
    /// Turns the outcome for document `doc` of `request` into a refusal.
    fn refuse(&mut self, request: &SyncRequest, doc: DocId, reason: String) {
        let key = *doc.as_uuid().as_bytes();
        if let Some(slot) = request.pushes.iter().position(|p| p.doc == key) {
            self.push_outcomes[slot] = Outcome::Refused(reason);
        } else if let Some(slot) = request.reconcile.iter().position(|m| m.doc == key) {
            self.reconcile_outcomes[slot] = Outcome::Refused(reason);
            self.replies.retain(|r| r.doc != key);
        }
    }
}

/// Most bytes of new changes one head-office edit may bring to a document
/// (an import of tens of thousands of products is a few megabytes).
const OFFICE_MAX_CHANGE_BYTES: usize = 64 << 20;

/// Limits on one answer.
#[derive(Debug, Clone, Copy)]
pub struct RelayLimits {
    /// Stop adding updates once the answer carries this many bytes of changes.
    pub max_update_bytes: usize,
    /// Log entries read per answer.
    pub max_log_entries: usize,
    /// Most bytes of new changes accepted for one document in one request.
    pub max_change_bytes: usize,
}

impl Default for RelayLimits {
    fn default() -> Self {
        RelayLimits {
            max_update_bytes: 4 << 20,
            max_log_entries: 5_000,
            max_change_bytes: 1 << 20,
        }
    }
}

/// An authenticated device sending a request: who uses it, and the public
/// key its changes are signed with (`None` for a device enrolled before
/// changes were signed: its changes are refused until it enrolls again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    /// The device's user, role and id.
    pub actor: Actor,
    /// The device's public key.
    pub key: Option<DevicePublicKey>,
}

impl Sender {
    /// A device `actor` with signing key `key`.
    pub fn new(actor: Actor, key: Option<DevicePublicKey>) -> Sender {
        Sender { actor, key }
    }
}

/// The relay's sync engine over a store and a policy.
pub struct Relay<S, P> {
    store: S,
    policy: P,
    limits: RelayLimits,
    /// Signs head-office edits on behalf of the signed-in user.
    office_key: DeviceKey,
    /// Who else may have signed changes a device sends.
    signers: Box<dyn Signers>,
    /// The store's identity (read once).
    identity: [u8; 16],
}

impl<S: RelayStore, P: Policy> Relay<S, P> {
    /// A relay over `store`, applying `policy`. Head-office edits are signed
    /// with a key made for this relay; give it a lasting one with
    /// [`Relay::with_office_key`].
    pub fn new(mut store: S, policy: P) -> Result<Self> {
        let identity = store.identity()?;
        Ok(Relay {
            store,
            policy,
            limits: RelayLimits::default(),
            office_key: DeviceKey::generate()?,
            signers: Box::new(super::NoOtherSigners),
            identity,
        })
    }

    /// Accepts changes other devices and head-office users signed (a device
    /// re-sending what a restored relay lost) when `signers` knows them.
    pub fn with_signers(mut self, signers: Box<dyn Signers>) -> Self {
        self.signers = signers;
        self
    }

    /// Signs head-office edits with `key` (kept by the relay's owner).
    pub fn with_office_key(mut self, key: DeviceKey) -> Self {
        self.office_key = key;
        self
    }

    /// The public key head-office edits are signed with.
    pub fn office_key(&self) -> DevicePublicKey {
        self.office_key.public()
    }

    /// Changes the limits on one answer.
    pub fn with_limits(mut self, limits: RelayLimits) -> Self {
        self.limits = limits;
        self
    }

    /// What incoming documents are checked against.
    fn checker<'a>(&'a self, office: &'a DevicePublicKey) -> Checker<'a, P> {
        Checker {
            policy: &self.policy,
            limits: self.limits,
            defer_signatures: false,
            others: OtherSigners {
                signers: self.signers.as_ref(),
                office,
            },
        }
    }

    /// The store.
    pub fn store(&mut self) -> &mut S {
        &mut self.store
    }

    /// The relay's copy of a document, for a head-office edit.
    pub fn load(&mut self, id: DocId) -> Result<Document> {
        self.store
            .load(id)?
            .ok_or_else(|| Error::UnknownDocument(id.to_string()))
    }

    /// Commits a document created or edited on the relay's side (a head-office
    /// action, an import): checked like any incoming change, then logged, so
    /// devices receive it at their next sync.
    pub fn commit_edit(&mut self, actor: &Actor, after: &mut Document) -> Result<()> {
        self.commit_edits(actor, std::slice::from_mut(after))
    }

    /// Commits several such documents in one transaction: all of them, or, if
    /// any is refused, none.
    pub fn commit_edits(&mut self, actor: &Actor, docs: &mut [Document]) -> Result<()> {
        let mut accepted = Vec::new();
        let mut overlay = Overlay::default();
        let office = self.office_key.public();
        for after in docs.iter_mut() {
            let id = after.id();
            let mut before = self.store.load(id)?;
            // Signed by the relay on behalf of the signed-in user.
            let since = before.as_mut().map(Document::heads).unwrap_or_default();
            let signatures: Vec<ChangeSignature> = after
                .changes_after(&since)
                .iter()
                .map(|(hash, _)| self.office_key.sign(hash))
                .collect();
            let proof = Proof {
                key: Some(&office),
                signatures: &signatures,
            };
            // Head office's own edits (an import of the whole catalog) are
            // not held to the size a device may send in one sync.
            let mut checker = self.checker(&office);
            checker.limits.max_change_bytes = OFFICE_MAX_CHANGE_BYTES;
            let (mut outcome, acc) = checker.decide(
                actor,
                id,
                before,
                after.automerge().clone(),
                Arrival::edit(proof),
            );
            if let Some(acc) = acc {
                outcome =
                    check_references(&self.policy, &mut self.store, &mut overlay, actor, &acc)?;
                accepted.push(acc);
            }
            match outcome {
                Outcome::Accepted => {}
                Outcome::Refused(reason) => return Err(Error::Refused(reason)),
                Outcome::Reconcile => {
                    return Err(Error::Corrupt(format!(
                        "document {id} does not descend from the relay's copy"
                    )));
                }
            }
        }
        for a in &mut accepted {
            a.origin = format!("office:{}", actor.user());
        }
        self.store.commit(&mut accepted)?;
        Ok(())
    }

    /// Handles one request from the device `sender` (authenticated by the
    /// caller) and returns the answer. A malformed request is an error and
    /// changes nothing; a refused document is an outcome in the answer.
    pub fn handle(&mut self, sender: &Sender, request: &[u8]) -> Result<Vec<u8>> {
        let response = self.handle_request(sender, wire::decode_request(request)?)?;
        wire::encode_response(&response)
    }

    /// [`Relay::handle`] on a decoded request.
    pub fn handle_request(&mut self, sender: &Sender, req: SyncRequest) -> Result<SyncResponse> {
        let mut results = self.handle_batch(&[(sender.clone(), req)]);
        results
            .pop()
            .unwrap_or_else(|| Err(Error::Protocol("no answer".into())))
    }

    /// Handles several requests (from different devices) with one commit:
    /// group commit, so a busy relay pays for one transaction per batch rather
    /// than per request. Requests that touch a document another request of the
    /// batch touches are handled in a later round, after that one's commit.
    /// The pushed documents of a round are checked on several threads; the
    /// store is only touched from this one. Answers come back in the order of
    /// `batch`.
    pub fn handle_batch(&mut self, batch: &[(Sender, SyncRequest)]) -> Vec<Result<SyncResponse>> {
        let mut results: Vec<Option<Result<SyncResponse>>> = batch.iter().map(|_| None).collect();
        let mut waiting: Vec<usize> = (0..batch.len()).collect();
        while !waiting.is_empty() {
            let mut docs = HashSet::new();
            let (mut round, mut later) = (Vec::new(), Vec::new());
            for i in waiting {
                let req = &batch[i].1;
                let ids: Vec<[u8; 16]> = req
                    .pushes
                    .iter()
                    .map(|p| p.doc)
                    .chain(req.reconcile.iter().map(|m| m.doc))
                    .collect();
                if ids.iter().any(|d| docs.contains(d)) {
                    later.push(i);
                } else {
                    docs.extend(ids);
                    round.push(i);
                }
            }
            let mut prepared = Vec::new();
            let mut accepted = Vec::new();
            for (i, outcome) in round.iter().zip(self.prepare_round(batch, &round)) {
                match outcome {
                    Ok((p, mut acc)) => {
                        prepared.push((*i, p, acc.len()));
                        accepted.append(&mut acc);
                    }
                    Err(e) => results[*i] = Some(Err(e)),
                }
            }
            match self.store.commit(&mut accepted) {
                Ok(seqs) => {
                    let mut seqs = seqs.into_iter();
                    for (i, p, n) in prepared {
                        let own: HashSet<u64> = seqs.by_ref().take(n).collect();
                        results[i] = Some(self.finish(&batch[i].0.actor, p, &own));
                    }
                }
                // A full disk fails every document alike: no document is to
                // blame, so none is refused; every sync fails, to be sent
                // again once there is room.
                Err(e) if !accepted.is_empty() && !matches!(e, Error::DiskFull(_)) => {
                    // One document the store cannot take must not fail the
                    // others' syncs: each is committed alone, and one that
                    // still fails is refused.
                    let mut accepted = accepted.into_iter();
                    let mut alone = Vec::new();
                    for (i, p, n) in prepared {
                        let mut own = HashSet::new();
                        let mut failed = Vec::new();
                        for mut a in accepted.by_ref().take(n) {
                            match self.store.commit(std::slice::from_mut(&mut a)) {
                                Ok(seqs) => own.extend(seqs),
                                Err(err) => failed.push((a.doc.id(), err)),
                            }
                        }
                        alone.push((i, p, own, failed));
                    }
                    // Nothing stored and more than one document failing: the
                    // store itself is failing. One document alone failing is
                    // that document's problem.
                    let stored_any = alone.iter().any(|(_, _, own, _)| !own.is_empty());
                    let failures: usize = alone.iter().map(|(_, _, _, f)| f.len()).sum();
                    for (i, mut p, own, failed) in alone {
                        if !stored_any && failures > 1 {
                            // Nothing could be stored: the store itself is failing.
                            results[i] = Some(Err(e.clone()));
                            continue;
                        }
                        for (doc, err) in failed {
                            p.refuse(
                                &batch[i].1,
                                doc,
                                format!("the relay could not store these changes ({err})"),
                            );
                        }
                        results[i] = Some(self.finish(&batch[i].0.actor, p, &own));
                    }
                }
                Err(e) => {
                    for (i, _, _) in prepared {
                        results[i] = Some(Err(e.clone()));
                    }
                }
            }
            waiting = later;
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(Error::Protocol("a request was not handled".into()))))
            .collect()
    }

    /// Decides every push and reconcile message of the requests `round` of
    /// `batch` (which touch different documents), without committing.
    fn prepare_round(
        &mut self,
        batch: &[(Sender, SyncRequest)],
        round: &[usize],
    ) -> Vec<Result<(Prepared, Vec<Accepted>)>> {
        let last = match self.store.last_seq() {
            Ok(last) => last,
            Err(e) => return round.iter().map(|_| Err(e.clone())).collect(),
        };
        // 1. Each pushed document's relay copy, read on this thread (the store's).
        let mut pushes = Vec::new();
        let mut early: Vec<Result<Vec<Option<Outcome>>>> = Vec::with_capacity(round.len());
        for (r, &i) in round.iter().enumerate() {
            let (sender, req) = &batch[i];
            let mut seen = HashSet::new();
            let mut outcomes = Vec::with_capacity(req.pushes.len());
            let mut loaded = Ok(());
            for (slot, push) in req.pushes.iter().enumerate() {
                let id = wire_id(push.doc);
                if !seen.insert(id) {
                    outcomes.push(Some(Outcome::Refused(twice())));
                    continue;
                }
                outcomes.push(None);
                match self.load_for(sender, id) {
                    Ok((before, moved_away)) => pushes.push(PushToDecide {
                        request: r,
                        slot,
                        sender,
                        id,
                        changes: &push.changes,
                        signatures: &push.signatures,
                        before,
                        moved_away,
                    }),
                    Err(e) => {
                        loaded = Err(e);
                        break;
                    }
                }
            }
            early.push(loaded.map(|()| outcomes));
        }
        // 2. The decisions, on as many threads as there are cores.
        let office = self.office_key.public();
        let decided = decide_in_parallel(&self.checker(&office), pushes);
        // 3. The checks that read other documents, one at a time, each
        // seeing what the round accepted before it.
        let mut overlay = Overlay::default();
        let mut accepted: Vec<Vec<Accepted>> = round.iter().map(|_| Vec::new()).collect();
        for ((request, slot), (mut outcome, acc)) in decided {
            if let Some(acc) = acc {
                let actor = &batch[round[request]].0.actor;
                match check_references(&self.policy, &mut self.store, &mut overlay, actor, &acc) {
                    Ok(Outcome::Accepted) => accepted[request].push(acc),
                    Ok(refused) => outcome = refused,
                    Err(e) => early[request] = Err(e),
                }
            }
            if let Ok(outcomes) = &mut early[request] {
                outcomes[slot] = Some(outcome);
            }
        }
        // 4. Reconcile messages (rare: a document whose history the relay
        // lacks), here, as they read the store as they go.
        round
            .iter()
            .zip(early)
            .zip(accepted)
            .map(|((&i, outcomes), mut accepted)| {
                let (sender, req) = &batch[i];
                let actor = &sender.actor;
                // Every slot is filled above (a decision always comes back,
                // a panicking one as a refusal); an empty one would be a bug,
                // refused rather than answered wrongly.
                let push_outcomes = outcomes?
                    .into_iter()
                    .map(|o| o.unwrap_or_else(|| Outcome::Refused(could_not_process())))
                    .collect();
                let mut seen: HashSet<[u8; 16]> = req.pushes.iter().map(|p| p.doc).collect();
                let mut reconcile_outcomes = Vec::with_capacity(req.reconcile.len());
                let mut replies = Vec::new();
                for m in &req.reconcile {
                    let (outcome, reply) = if !seen.insert(m.doc) {
                        (Outcome::Refused(twice()), None)
                    } else {
                        self.take_reconcile(sender, wire_id(m.doc), m, &mut accepted, &mut overlay)?
                    };
                    reconcile_outcomes.push(outcome);
                    if let Some(message) = reply {
                        // The changes it may carry travel with their signatures.
                        let signatures = self.store.signatures_of(wire_id(m.doc))?;
                        replies.push(DocMessage {
                            doc: m.doc,
                            message,
                            signatures,
                        });
                    }
                }
                for a in &mut accepted {
                    a.origin = actor.device().to_string();
                }
                let reset = req.cursor > last || !self.knows(&req.mark, last)?;
                let prepared = Prepared {
                    reset,
                    cursor: if reset { 0 } else { req.cursor },
                    push_outcomes,
                    reconcile_outcomes,
                    replies,
                };
                Ok((prepared, accepted))
            })
            .collect()
    }

    /// The relay's copy of a pushed document, and whether it recently left
    /// the sender's scope (its customer was reassigned): changes the sender
    /// made before it heard of the move are then judged as it last saw the
    /// document, so nothing it did offline is lost.
    fn load_for(&mut self, sender: &Sender, id: DocId) -> Result<(Option<Document>, bool)> {
        let before = self.store.load(id)?;
        let moved_away = match before.as_ref().map(Document::meta) {
            Some(m) if !may_see_parts(&sender.actor, &m.kind, &m.owner, m.region.as_deref()) => {
                self.store
                    .moved_away_at(id, &Scope::of(&sender.actor))?
                    .is_some_and(|at| chrono::Utc::now() - at < MOVED_DOCUMENT_GRACE)
            }
            _ => false,
        };
        Ok((before, moved_away))
    }

    /// Does the device's `mark` name a place in this database's log, as it
    /// is (`last` being the log's newest entry)? A device that never synced
    /// has no mark; otherwise the database must be the same one, and its
    /// log must still have that entry as it was. A database restored from a
    /// backup lost the entries after the backup, and a device that was told
    /// of one of them (every device that synced since: the mark is the log's
    /// newest entry when it was answered) is told to send everything again.
    fn knows(&mut self, mark: &LogMark, last: u64) -> Result<bool> {
        if mark.seq == 0 {
            return Ok(true);
        }
        if mark.relay != self.identity || mark.seq > last {
            return Ok(false);
        }
        Ok(self
            .store
            .entry_heads(mark.seq)?
            .is_some_and(|heads| fingerprint(&heads) == mark.check))
    }

    /// The mark of the log's newest entry.
    fn newest_mark(&mut self) -> Result<LogMark> {
        let seq = self.store.last_seq()?;
        let heads = match seq {
            0 => Vec::new(),
            _ => self.store.entry_heads(seq)?.unwrap_or_default(),
        };
        Ok(LogMark {
            relay: self.identity,
            seq,
            check: fingerprint(&heads),
        })
    }

    /// The answer to a prepared request, once its changes are committed.
    fn finish(&mut self, actor: &Actor, p: Prepared, own: &HashSet<u64>) -> Result<SyncResponse> {
        let (updates, new_cursor, more) = self.updates_after(actor, p.cursor, own)?;
        let departed = self
            .store
            .departures_after(p.cursor, new_cursor, &Scope::of(actor))?
            .into_iter()
            .map(|id| *id.as_uuid().as_bytes())
            .collect();
        Ok(SyncResponse {
            departed,
            cursor: new_cursor,
            mark: self.newest_mark()?,
            more,
            reset: p.reset,
            pushes: p.push_outcomes,
            updates,
            reconcile_outcomes: p.reconcile_outcomes,
            reconcile: p.replies,
        })
    }

    /// Runs one step of Automerge's sync protocol for a document, statelessly
    /// on the relay's side.
    fn take_reconcile(
        &mut self,
        sender: &Sender,
        id: DocId,
        incoming: &DocMessage,
        accepted: &mut Vec<Accepted>,
        overlay: &mut Overlay,
    ) -> Result<(Outcome, Option<Vec<u8>>)> {
        let actor = &sender.actor;
        let proof = Proof {
            key: sender.key.as_ref(),
            signatures: &incoming.signatures,
        };
        let message = match super::reconcile::read_message(&incoming.message) {
            Ok(m) => m,
            Err(reason) => return Ok((Outcome::Refused(reason), None)),
        };
        let mut before = self.store.load(id)?;
        if let Some(b) = before.as_ref()
            && !may_see_parts(
                actor,
                &b.meta().kind,
                &b.meta().owner,
                b.meta().region.as_deref(),
            )
        {
            return Ok((Outcome::Refused(not_yours(id)), None));
        }
        let mut work = match before.as_mut() {
            Some(d) => d.automerge().fork(),
            None => AutoCommit::new(),
        };
        let mut state = automerge::sync::State::new();
        if let Err(e) = work.sync().receive_sync_message(&mut state, message) {
            return Ok((
                Outcome::Refused(format!("the sync message could not be applied ({e})")),
                None,
            ));
        }
        let before_heads = match before.as_mut() {
            Some(d) => d.heads(),
            None => Vec::new(),
        };
        let changed = work.get_heads() != before_heads;
        let has_header = Document::from_automerge(work.clone()).is_ok();
        let outcome = if changed && has_header {
            let office = self.office_key.public();
            let (mut outcome, acc) =
                self.checker(&office)
                    .decide(actor, id, before, work.clone(), Arrival::edit(proof));
            if let Some(acc) = acc {
                outcome = check_references(&self.policy, &mut self.store, overlay, actor, &acc)?;
                if outcome == Outcome::Accepted {
                    accepted.push(acc);
                }
            }
            if outcome != Outcome::Accepted {
                return Ok((outcome, None));
            }
            outcome
        } else {
            Outcome::Accepted
        };
        let reply = work
            .sync()
            .generate_sync_message(&mut state)
            .map(|m| m.encode());
        Ok((outcome, reply))
    }

    /// Everything after `cursor` the device may see, except what it just sent.
    fn updates_after(
        &mut self,
        actor: &Actor,
        cursor: u64,
        own: &HashSet<u64>,
    ) -> Result<(Vec<Update>, u64, bool)> {
        let entries =
            self.store
                .log_after(cursor, self.limits.max_log_entries, &Scope::of(actor))?;
        let read_all = entries.len() < self.limits.max_log_entries;
        let mut updates: Vec<Update> = Vec::new();
        let mut index: HashMap<DocId, usize> = HashMap::new();
        let mut bytes = 0usize;
        let mut new_cursor = cursor;
        let mut more = !read_all;
        for e in entries {
            let visible = may_see_parts(actor, &e.kind, &e.owner, e.region.as_deref());
            if own.contains(&e.seq) || !visible {
                new_cursor = e.seq;
                continue;
            }
            if bytes > 0 && bytes + e.changes.len() > self.limits.max_update_bytes {
                more = true;
                break;
            }
            bytes += e.changes.len();
            let heads = e.heads.iter().map(|h| h.0).collect();
            match index.get(&e.doc) {
                Some(&i) => {
                    updates[i].changes.extend_from_slice(&e.changes);
                    updates[i].heads = heads;
                    updates[i].signatures.extend(e.signatures);
                }
                None => {
                    index.insert(e.doc, updates.len());
                    updates.push(Update {
                        doc: *e.doc.as_uuid().as_bytes(),
                        heads,
                        changes: e.changes,
                        signatures: e.signatures,
                    });
                }
            }
            new_cursor = e.seq;
        }
        if !more {
            // Everything after the cursor was read: entries the store filtered
            // out are behind the device too.
            new_cursor = new_cursor.max(self.store.last_seq()?);
        }
        Ok((updates, new_cursor, more))
    }
}

/// A pushed document with the relay's copy, waiting for its decision.
struct PushToDecide<'a> {
    /// Which request of the round, and which push of the request.
    request: usize,
    slot: usize,
    sender: &'a Sender,
    id: DocId,
    changes: &'a [u8],
    signatures: &'a [ChangeSignature],
    before: Option<Document>,
    /// The document left the sender's scope within [`MOVED_DOCUMENT_GRACE`].
    moved_away: bool,
}

/// How new changes to a document arrived.
struct Arrival<'a> {
    /// For a new document pushed whole: the bytes as pushed.
    pushed: Option<&'a [u8]>,
    /// Who made them.
    proof: Proof<'a>,
    /// The document left the sender's scope recently ([`MOVED_DOCUMENT_GRACE`]).
    moved_away: bool,
}

impl<'a> Arrival<'a> {
    /// Changes made on the relay's side or reconciled: nothing else known.
    fn edit(proof: Proof<'a>) -> Self {
        Arrival {
            pushed: None,
            proof,
            moved_away: false,
        }
    }
}

/// What every incoming document is checked against: visibility, limits and
/// the policy. Holds no store, so several threads can share it.
struct Checker<'a, P> {
    policy: &'a P,
    limits: RelayLimits,
    /// Leave verifying the signatures to the caller, which verifies many
    /// documents' together ([`verify_together`]).
    defer_signatures: bool,
    /// Who else may have signed the changes.
    others: OtherSigners<'a>,
}

impl<P: Policy> Checker<'_, P> {
    /// Applies pushed changes to a copy of the relay's document and decides.
    fn decide_push(
        &self,
        sender: &Sender,
        id: DocId,
        mut before: Option<Document>,
        changes: &[u8],
        signatures: &[ChangeSignature],
        moved_away: bool,
    ) -> (Outcome, Option<Accepted>) {
        let mut work = match before.as_mut() {
            Some(d) => d.automerge().fork(),
            None => AutoCommit::new(),
        };
        if let Err(e) = work.load_incremental(changes) {
            return refused(format!("the changes could not be read ({e})"));
        }
        if !work.get_missing_deps(&[]).is_empty() {
            return (Outcome::Reconcile, None);
        }
        // A new document's changes are exactly what was pushed.
        let pushed = before.is_none().then_some(changes);
        let proof = Proof {
            key: sender.key.as_ref(),
            signatures,
        };
        let how = Arrival {
            pushed,
            proof,
            moved_away,
        };
        self.decide(&sender.actor, id, before, work, how)
    }

    /// Checks a document with new changes against visibility, the limits and
    /// the policy; accepted changes come back to be committed.
    fn decide(
        &self,
        actor: &Actor,
        id: DocId,
        mut before: Option<Document>,
        work: AutoCommit,
        how: Arrival<'_>,
    ) -> (Outcome, Option<Accepted>) {
        let Arrival {
            pushed,
            proof,
            moved_away,
        } = how;
        let mut after = match Document::from_automerge(work) {
            Ok(d) => d,
            Err(e) => return refused(e.to_string()),
        };
        if after.id() != id {
            return refused(format!(
                "the changes are for document {}, not {id}",
                after.id()
            ));
        }
        if let Some(b) = before.as_ref()
            && (b.meta().kind != after.meta().kind || b.meta().id != after.meta().id)
        {
            return refused("a document's id and kind cannot change".into());
        }
        let visible = before
            .iter()
            .map(Document::meta)
            .chain([after.meta()])
            .all(|m| may_see_parts(actor, &m.kind, &m.owner, m.region.as_deref()));
        if !visible && !moved_away {
            return refused(not_yours(id));
        }
        let before_heads = before.as_mut().map(Document::heads).unwrap_or_default();
        let changes = match pushed {
            Some(p) => p.to_vec(),
            None => after.save_after(&before_heads),
        };
        if changes.len() > self.limits.max_change_bytes {
            return refused(format!(
                "the changes to document {id} are {} bytes; at most {} are accepted in one sync",
                changes.len(),
                self.limits.max_change_bytes
            ));
        }
        // Each side read into its business type once: a change that breaks
        // a document's shape is refused here.
        let content = match after.content() {
            Ok(c) => c,
            Err(e) => return refused(e.to_string()),
        };
        let before_content = match before.as_ref().map(Document::content).transpose() {
            Ok(c) => c,
            Err(e) => return refused(format!("the relay's copy cannot be read ({e})")),
        };
        // Only the fields its kind defines (so no nesting beyond its own), no
        // text beyond the limits.
        if let Err(reason) =
            crate::rules::shape::only_defined_fields(after.automerge_ref(), &content)
        {
            return refused(format!("document {id}: {reason}"));
        }
        // Every new change names who made it, on which device, and is
        // signed by that device's key: the sender's, or (a change the relay
        // lost, sent back) another known signer's.
        let authorship = match proven_authorship(
            actor,
            id,
            &mut after,
            &before_heads,
            proof,
            !self.defer_signatures,
            self.others,
        ) {
            Ok(a) => a,
            Err(reason) => return refused(reason),
        };
        let verdict = match &authorship.runs {
            _ if !visible => match authorship.runs {
                // Only the sender's own offline changes follow a move.
                Some(_) => Err(not_yours(id)),
                None => self.judge_as_last_seen(actor, id, &mut after, &before_heads, &content),
            },
            None => self.policy.check(actor, before_content.as_ref(), &content),
            Some(runs) => {
                self.check_each_author(id, &mut after, before_content.as_ref(), &content, runs)
            }
        };
        if let Err(reason) = verdict {
            return refused(reason);
        }
        let accepted = (!changes.is_empty()).then(|| Accepted {
            origin: String::new(),
            doc: after,
            changes,
            content,
            before: before_content,
            signatures: authorship.signatures,
            verified: authorship.verified,
        });
        (Outcome::Accepted, accepted)
    }
}

impl<P: Policy> Checker<'_, P> {
    /// The policy applied to changes a device made to a document before it
    /// heard the document had moved to another salesperson or region: as
    /// the device saw it (at the relay's changes its own build on), where it
    /// was still the device's to change. The merged document must still be
    /// within every limit; it stays where it was moved to.
    fn judge_as_last_seen(
        &self,
        actor: &Actor,
        id: DocId,
        after: &mut Document,
        before_heads: &[ChangeHash],
        merged: &Content,
    ) -> Result<(), String> {
        let changes = after.automerge().get_changes_meta(before_heads);
        let new: HashSet<ChangeHash> = changes.iter().map(|c| c.hash).collect();
        let deps: HashSet<ChangeHash> = changes.iter().flat_map(|c| c.deps.clone()).collect();
        let base: Vec<ChangeHash> = deps.difference(&new).copied().collect();
        let own: Vec<ChangeHash> = new.difference(&deps).copied().collect();
        let unreadable = |e: Error| format!("document {id} cannot be read as it was: {e}");
        let seen = after
            .at(&base)
            .and_then(|d| d.content())
            .map_err(unreadable)?;
        let meta = seen.meta();
        if !may_see_parts(actor, &meta.kind, &meta.owner, meta.region.as_deref()) {
            return Err(not_yours(id));
        }
        let theirs = after
            .at(&own)
            .and_then(|d| d.content())
            .map_err(unreadable)?;
        self.policy.check(actor, Some(&seen), &theirs)?;
        crate::rules::validate(merged)
    }

    /// The policy applied to new changes by several authors, one author's
    /// run of changes at a time, in causal order, as that author: each run
    /// turns the document as it was after the previous run into the document
    /// at the run's heads.
    fn check_each_author(
        &self,
        id: DocId,
        after: &mut Document,
        before: Option<&Content>,
        last: &Content,
        runs: &[(Actor, Vec<ChangeHash>)],
    ) -> Result<(), String> {
        let mut previous: Option<Content> = before.cloned();
        for (i, (author, heads)) in runs.iter().enumerate() {
            let state = if i + 1 == runs.len() {
                last.clone()
            } else {
                after
                    .at(heads)
                    .and_then(|d| d.content())
                    .map_err(|e| format!("document {id} cannot be read as it was: {e}"))?
            };
            let meta = state.meta();
            if !may_see_parts(author, &meta.kind, &meta.owner, meta.region.as_deref()) {
                return Err(format!(
                    "a change to document {id} was made by {}, who may not see it",
                    author.user()
                ));
            }
            self.policy.check(author, previous.as_ref(), &state)?;
            previous = Some(state);
        }
        Ok(())
    }
}

/// Verifies the signatures of the accepted documents in `decided` (decided
/// with deferred signatures), all of one device's at once, and refuses the
/// documents whose signatures do not verify.
fn verify_together(decided: &mut [(Decided, Option<&Sender>)]) {
    let mut by_device: HashMap<[u8; 32], Vec<usize>> = HashMap::new();
    for (i, ((_, (_, accepted)), sender)) in decided.iter().enumerate() {
        if let (Some(a), Some(key)) = (accepted, sender.and_then(|s| s.key.as_ref()))
            && !a.signatures.is_empty()
            && !a.verified
        {
            by_device.entry(key.to_bytes()).or_default().push(i);
        }
    }
    for docs in by_device.values() {
        let Some(sender) = decided[docs[0]].1 else {
            continue;
        };
        let Some(key) = sender.key else { continue };
        let all: Vec<&ChangeSignature> = docs
            .iter()
            .filter_map(|&i| decided[i].0.1.1.as_ref())
            .flat_map(|a| a.signatures.iter())
            .collect();
        if key.verifies_all(&all) {
            continue;
        }
        // Some signature is bad: find the documents it belongs to.
        for &i in docs {
            let decision = &mut decided[i].0.1;
            let Some(a) = decision.1.as_ref() else {
                continue;
            };
            let sigs: Vec<&ChangeSignature> = a.signatures.iter().collect();
            if !key.verifies_all(&sigs) {
                let reason = not_signed(a.doc.id(), sender.actor.device(), &key, &sigs);
                *decision = refused(reason);
            }
        }
    }
}

fn refused(reason: String) -> (Outcome, Option<Accepted>) {
    (Outcome::Refused(reason), None)
}

/// A decision, with where it goes: (request of the round, push of the request).
type Decided = ((usize, usize), (Outcome, Option<Accepted>));

/// Decides `pushes` on up to one thread per core (this one included),
/// keeping their order. A document whose checks panic (a bug, or bytes
/// Automerge chokes on) is refused rather than taking the relay down.
fn decide_in_parallel<'a, P: Policy>(
    checker: &Checker<'_, P>,
    pushes: Vec<PushToDecide<'a>>,
) -> Vec<Decided> {
    let checker = Checker {
        policy: checker.policy,
        limits: checker.limits,
        defer_signatures: true,
        others: checker.others,
    };
    let decide = |p: PushToDecide<'a>| -> (Decided, Option<&'a Sender>) {
        let at = (p.request, p.slot);
        let sender = p.sender;
        let decision = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            checker.decide_push(
                p.sender,
                p.id,
                p.before,
                p.changes,
                p.signatures,
                p.moved_away,
            )
        }))
        .unwrap_or_else(|_| refused(could_not_process()));
        ((at, decision), Some(sender))
    };
    // One thread's share: decided, then each device's signatures verified
    // together.
    let decide_all = |chunk: Vec<PushToDecide<'a>>| -> Vec<Decided> {
        let mut decided: Vec<_> = chunk.into_iter().map(decide).collect();
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            verify_together(&mut decided)
        }))
        .unwrap_or_else(|_| {
            for ((_, decision), _) in decided.iter_mut() {
                *decision = refused(could_not_process());
            }
        });
        decided.into_iter().map(|(d, _)| d).collect()
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    // Below a few documents a thread costs more than it saves.
    if threads < 2 || pushes.len() < 8 {
        return decide_all(pushes);
    }
    // Each thread takes whole requests where it can, so a device's
    // signatures are verified in one batch.
    let per_thread = pushes.len().div_ceil(threads);
    let mut chunks: Vec<Vec<PushToDecide<'a>>> = Vec::with_capacity(threads);
    let mut current = Vec::new();
    for p in pushes {
        let starts_request = current
            .last()
            .is_none_or(|last: &PushToDecide<'a>| last.request != p.request);
        if current.len() >= per_thread && starts_request && chunks.len() + 1 < threads {
            chunks.push(std::mem::take(&mut current));
        }
        current.push(p);
    }
    chunks.push(current);
    let mut chunks = chunks.into_iter();
    let mine = chunks.next().unwrap_or_default();
    std::thread::scope(|scope| {
        let others: Vec<_> = chunks
            .map(|chunk| {
                let decide_all = &decide_all;
                scope.spawn(move || decide_all(chunk))
            })
            .collect();
        let mut decided: Vec<Decided> = decide_all(mine);
        for other in others {
            // Every decision is guarded, so a thread itself does not panic.
            decided.extend(other.join().unwrap_or_default());
        }
        decided
    })
}

/// A log entry's fingerprint: the start of the smallest of the document's
/// heads after it (hashes, so two entries share one only if they are for
/// the same document and state, which the log never records twice).
fn fingerprint(heads: &[ChangeHash]) -> [u8; 8] {
    let mut check = [0u8; 8];
    if let Some(h) = heads.iter().min() {
        check.copy_from_slice(&h.0[..8]);
    }
    check
}

fn wire_id(bytes: [u8; 16]) -> DocId {
    DocId::from(uuid::Uuid::from_bytes(bytes))
}

fn could_not_process() -> String {
    "the relay could not process these changes".into()
}

fn twice() -> String {
    "the document was sent twice in one request".into()
}

fn not_yours(id: DocId) -> String {
    format!("document {id} is not yours: it belongs to another salesperson or region")
}

impl From<Error> for Outcome {
    fn from(e: Error) -> Self {
        Outcome::Refused(e.to_string())
    }
}
