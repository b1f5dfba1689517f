//! The device side of the sync protocol: bytes out, bytes in, the store
//! updated atomically.
//!
//! ```text
//! let mut session = SyncSession::new();
//! while let Some(request) = session.next_request(&mut store)? {
//!     let response = transport(request)?;        // HTTP, in the phone library
//!     session.receive(&mut store, &response)?;   // one transaction
//! }
//! ```
//!
//! In the common case that is one round trip. The store changes only in
//! `receive`, in one transaction: if the answer is lost or the process dies
//! before it commits, the next sync simply sends the same changes again (the
//! relay ignores what it already has) from the same cursor.

use std::collections::HashMap;

use automerge::{AutoCommit, ChangeHash, sync::SyncDoc};

use super::wire::{self, DocMessage, Outcome, Push, SyncRequest};
use crate::document::Document;
use crate::error::{Error, Result};
use crate::ids::DocId;
use crate::store::DeviceStore;

/// Bytes of changes per request; more are sent in further round trips.
const MAX_PUSH_BYTES: usize = 4 << 20;

/// Most round trips one session makes before giving up (it resumes next time).
const MAX_ROUNDS: u32 = 64;

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncSummary {
    /// Documents whose changes the relay accepted.
    pub sent: usize,
    /// Documents updated from the relay.
    pub received: usize,
    /// Documents removed because they are no longer this device's (their
    /// customer went to another salesperson or region).
    pub departed: usize,
    /// Documents the relay refused, with its reasons.
    pub refused: Vec<(DocId, String)>,
    /// Round trips made.
    pub round_trips: u32,
    /// Bytes sent.
    pub bytes_up: usize,
    /// Bytes received.
    pub bytes_down: usize,
}

/// A document being reconciled with Automerge's own sync protocol.
struct Reconciling {
    state: automerge::sync::State,
    /// The device's copy while it does not have the document's header yet.
    partial: Option<AutoCommit>,
    /// A message was generated and its answer is awaited.
    in_flight: bool,
}

/// One sync of the whole device with the relay.
pub struct SyncSession {
    reconciling: HashMap<DocId, Reconciling>,
    /// Pushes of the request in flight: the document and the heads pushed.
    pushed: Vec<(DocId, Vec<ChangeHash>)>,
    /// Reconcile messages of the request in flight, in order.
    reconcile_sent: Vec<DocId>,
    first: bool,
    more: bool,
    summary: SyncSummary,
}

impl Default for SyncSession {
    fn default() -> Self {
        Self::new()
    }
}

impl SyncSession {
    /// A new session.
    pub fn new() -> Self {
        SyncSession {
            reconciling: HashMap::new(),
            pushed: Vec::new(),
            reconcile_sent: Vec::new(),
            first: true,
            more: false,
            summary: SyncSummary::default(),
        }
    }

    /// What the session did so far.
    pub fn summary(&self) -> &SyncSummary {
        &self.summary
    }

    /// The next request to send, or `None` once the device is in sync.
    pub fn next_request(&mut self, store: &mut DeviceStore) -> Result<Option<Vec<u8>>> {
        let reconcile_waiting = self.reconciling.values().any(|r| !r.in_flight);
        if !(self.first || self.more || reconcile_waiting) || self.summary.round_trips >= MAX_ROUNDS
        {
            return Ok(None);
        }
        self.first = false;
        let mut req = SyncRequest {
            cursor: store.cursor()?,
            mark: store.relay_mark()?,
            ..SyncRequest::default()
        };
        self.pushed.clear();
        self.reconcile_sent.clear();
        let mut bytes = 0usize;
        let mut more_to_push = false;
        for (id, relay_heads) in store.to_push()? {
            if self.reconciling.contains_key(&id) {
                continue;
            }
            let mut doc = store.load(id)?;
            let changes = doc.save_after(&relay_heads);
            if changes.is_empty() {
                continue;
            }
            if bytes > 0 && bytes + changes.len() > MAX_PUSH_BYTES {
                more_to_push = true;
                break;
            }
            bytes += changes.len();
            self.pushed.push((id, doc.heads()));
            let signatures = store.signatures_after(&mut doc, &relay_heads)?;
            req.pushes.push(Push {
                doc: *id.as_uuid().as_bytes(),
                changes,
                signatures,
            });
        }
        let ids: Vec<DocId> = self.reconciling.keys().copied().collect();
        for id in ids {
            let mut signatures = Vec::new();
            let message = {
                let mut held = store.load(id).ok();
                if let Some(doc) = held.as_mut() {
                    // The relay lacks some of this history: the signatures of
                    // all of it, for whatever the sync message carries.
                    signatures = store.signatures_after(doc, &[])?;
                }
                let Some(r) = self.reconciling.get_mut(&id) else {
                    continue;
                };
                match (held.as_mut(), r.partial.as_mut()) {
                    (Some(doc), _) => doc.automerge().sync().generate_sync_message(&mut r.state),
                    (None, Some(partial)) => partial.sync().generate_sync_message(&mut r.state),
                    (None, None) => {
                        let mut empty = AutoCommit::new();
                        let m = empty.sync().generate_sync_message(&mut r.state);
                        r.partial = Some(empty);
                        m
                    }
                }
            };
            match message {
                Some(m) => {
                    if let Some(r) = self.reconciling.get_mut(&id) {
                        r.in_flight = true;
                    }
                    self.reconcile_sent.push(id);
                    req.reconcile.push(DocMessage {
                        doc: *id.as_uuid().as_bytes(),
                        message: m.encode(),
                        signatures,
                    });
                }
                None => {
                    self.reconciling.remove(&id);
                }
            }
        }
        self.more = more_to_push;
        let bytes = wire::encode_request(&req)?;
        self.summary.bytes_up += bytes.len();
        Ok(Some(bytes))
    }

    /// Applies the relay's answer to the request last returned by
    /// [`SyncSession::next_request`], in one transaction.
    pub fn receive(&mut self, store: &mut DeviceStore, response: &[u8]) -> Result<()> {
        let resp = wire::decode_response(response)?;
        if resp.pushes.len() != self.pushed.len()
            || resp.reconcile_outcomes.len() != self.reconcile_sent.len()
        {
            return Err(Error::Protocol(
                "the relay's answer does not match the request (wrong number of outcomes)".into(),
            ));
        }
        self.summary.round_trips += 1;
        self.summary.bytes_down += response.len();
        let mut tx = store.begin()?;
        if resp.reset {
            tx.forget_relay_state()?;
        }
        // Relay holdings per document learnt from this answer.
        let mut holds: HashMap<DocId, Vec<ChangeHash>> = HashMap::new();
        let pushed = std::mem::take(&mut self.pushed);
        for ((id, heads), outcome) in pushed.iter().zip(&resp.pushes) {
            match outcome {
                Outcome::Accepted => {
                    self.summary.sent += 1;
                    holds.entry(*id).or_default().extend(heads.iter().copied());
                }
                Outcome::Refused(reason) => {
                    tx.refuse(*id, reason)?;
                    self.summary.refused.push((*id, reason.clone()));
                }
                Outcome::Reconcile => self.start_reconcile(*id),
            }
        }
        for update in &resp.updates {
            let id = DocId::from(uuid::Uuid::from_bytes(update.doc));
            tx.store_signatures(&update.signatures)?;
            let relay_heads: Vec<ChangeHash> =
                update.heads.iter().map(|h| ChangeHash(*h)).collect();
            match tx.load(id)? {
                Some(mut doc) => {
                    doc.apply(&update.changes)?;
                    doc.refresh_meta()?;
                    if doc.missing_deps().is_empty() {
                        holds.entry(id).or_default().extend(relay_heads);
                    } else {
                        self.start_reconcile(id);
                    }
                    tx.store_synced(&mut doc, &merged(&tx, id, &holds)?)?;
                }
                None => {
                    let mut fresh = AutoCommit::new();
                    fresh.load_incremental(&update.changes)?;
                    if fresh.get_missing_deps(&[]).is_empty() {
                        match Document::from_automerge(fresh) {
                            Ok(mut doc) => {
                                holds.entry(id).or_default().extend(relay_heads);
                                tx.store_synced(&mut doc, &merged(&tx, id, &holds)?)?;
                            }
                            Err(_) => self.start_reconcile(id),
                        }
                    } else {
                        self.start_reconcile(id);
                    }
                }
            }
            self.summary.received += 1;
        }
        for (id, outcome) in self.reconcile_sent.iter().zip(&resp.reconcile_outcomes) {
            if let Some(r) = self.reconciling.get_mut(id) {
                r.in_flight = false;
            }
            if let Outcome::Refused(reason) = outcome {
                self.reconciling.remove(id);
                tx.refuse(*id, reason)?;
                self.summary.refused.push((*id, reason.clone()));
            }
        }
        for m in &resp.reconcile {
            let id = DocId::from(uuid::Uuid::from_bytes(m.doc));
            let Some(r) = self.reconciling.get_mut(&id) else {
                continue;
            };
            tx.store_signatures(&m.signatures)?;
            let message = super::reconcile::read_message(&m.message).map_err(Error::Protocol)?;
            match tx.load(id)? {
                Some(mut doc) => {
                    doc.automerge()
                        .sync()
                        .receive_sync_message(&mut r.state, message)?;
                    doc.refresh_meta()?;
                    let their = r.state.their_heads.clone().unwrap_or_default();
                    holds.entry(id).or_default().extend(their);
                    tx.store_synced(&mut doc, &merged(&tx, id, &holds)?)?;
                }
                None => {
                    let partial = r.partial.get_or_insert_with(AutoCommit::new);
                    partial.sync().receive_sync_message(&mut r.state, message)?;
                    if let Ok(mut doc) = Document::from_automerge(partial.clone()) {
                        let their = r.state.their_heads.clone().unwrap_or_default();
                        holds.entry(id).or_default().extend(their);
                        tx.store_synced(&mut doc, &merged(&tx, id, &holds)?)?;
                        r.partial = None;
                    }
                }
            }
            // The relay answers each message afresh and keeps only changes it
            // could apply: a change sent earlier whose base it lacked (after a
            // Bloom filter false positive, say) is gone there, and it asks for
            // it again. Forget what was sent, so what it asks for goes again
            // (otherwise Automerge withholds it as already sent, and the two
            // sides exchange empty messages until the round limit).
            r.state.sent_hashes.clear();
            self.summary.received += 1;
        }
        // Accepted pushes without an update: record what the relay now holds.
        for (id, _) in &pushed {
            if resp
                .updates
                .iter()
                .any(|u| u.doc == *id.as_uuid().as_bytes())
            {
                continue;
            }
            if holds.contains_key(id) {
                tx.record_relay_holds(*id, &merged(&tx, *id, &holds)?)?;
            }
        }
        for doc in &resp.departed {
            tx.mark_departed(DocId::from(uuid::Uuid::from_bytes(*doc)))?;
        }
        self.summary.departed += tx.remove_departed()?;
        tx.set_cursor(resp.cursor)?;
        tx.set_relay_mark(&resp.mark)?;
        tx.commit()?;
        // After a reset everything is pending again: send it in this session.
        self.more |= resp.more || resp.reset;
        Ok(())
    }

    fn start_reconcile(&mut self, id: DocId) {
        self.reconciling.entry(id).or_insert_with(|| Reconciling {
            state: automerge::sync::State::new(),
            partial: None,
            in_flight: false,
        });
    }
}

/// What the relay is known to hold of `id`: what the store knew, plus what this
/// answer taught.
fn merged(
    tx: &crate::store::device::SyncTx<'_>,
    id: DocId,
    holds: &HashMap<DocId, Vec<ChangeHash>>,
) -> Result<Vec<ChangeHash>> {
    let mut all = tx.relay_heads(id)?;
    if let Some(h) = holds.get(&id) {
        all.extend(h.iter().copied());
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{DeviceIdentity, SqliteRelayStore};
    use crate::sync::{Relay, Sender, VisibilityOnly};
    use crate::testing::*;
    use automerge::sync::SyncDoc;

    /// The relay lost X (restored from a backup) and the phone has X and Y on
    /// top of it. In an earlier reconcile round the phone sent Y alone
    /// (believing, through a Bloom filter false positive, that the relay had
    /// X); the relay could not apply Y and, answering statelessly, did not
    /// keep it. Y must go again.
    #[test]
    fn a_change_the_relay_could_not_apply_in_a_reconcile_round_is_sent_again() {
        let mut relay =
            Relay::new(SqliteRelayStore::open_in_memory().unwrap(), VisibilityOnly).unwrap();
        let mut phone = DeviceStore::open_in_memory().unwrap();
        let me = sales();
        phone
            .set_identity(&DeviceIdentity::of(
                &me.actor,
                crate::OrderPrefix::new("S07").unwrap(),
            ))
            .unwrap();
        let me_sending = Sender::new(me.actor.clone(), Some(phone.device_key().unwrap()));
        let c = customer("1000", crate::PaymentTerms::Credit)
            .read()
            .unwrap();
        let (mut o, line) = draft_order(&c);
        // Enough history that X and Y are a small part of the document.
        for q in 1..=12 {
            o.set_quantity(&me, &line, rust_decimal::Decimal::from(q))
                .unwrap();
        }
        phone.save(o.document()).unwrap();
        let mut session = SyncSession::new();
        while let Some(req) = session.next_request(&mut phone).unwrap() {
            let answer = relay.handle(&me_sending, &req).unwrap();
            session.receive(&mut phone, &answer).unwrap();
        }
        o.set_quantity(&me, &line, d("80")).unwrap();
        o.set_discount(&me, &line, d("3")).unwrap();
        let y = o.document().heads();
        phone.save(o.document()).unwrap();
        let id = o.document().id();

        // The relay's word on what it has, and Y already marked as sent.
        let hello = relay
            .load(id)
            .unwrap()
            .automerge()
            .sync()
            .generate_sync_message(&mut automerge::sync::State::new())
            .unwrap();
        let mut state = automerge::sync::State::new();
        o.document()
            .automerge()
            .sync()
            .receive_sync_message(&mut state, hello)
            .unwrap();
        state.sent_hashes.extend(y.iter().copied());
        let mut session = SyncSession::new();
        session.first = false;
        session.reconciling.insert(
            id,
            Reconciling {
                state,
                partial: None,
                in_flight: false,
            },
        );
        while let Some(req) = session.next_request(&mut phone).unwrap() {
            let answer = relay.handle(&me_sending, &req).unwrap();
            session.receive(&mut phone, &answer).unwrap();
        }
        let mut on_relay = relay.load(id).unwrap();
        assert_eq!(on_relay.heads(), y, "the relay has X and Y");
        assert!(session.summary.round_trips < 5, "{:?}", session.summary);
    }
}
