//! Property: random histories of honest devices (salesperson's phone and
//! tablet, a manager's phone, the order desk, the warehouse, finance) and a
//! hostile one (li's modified app, sending the attacks of the rules issue),
//! all syncing through one relay with the full rules. Whatever happens:
//! - every device converges with the relay on everything it may see;
//! - no approval or shipment was accepted beyond the customer's credit
//!   without a recorded override (checked the moment the relay accepted it);
//! - no order is both shipped and cancelled;
//! - no order shipped with content other than what was approved;
//! - every step that took effect was one its author's role may take;
//! - every change on the relay is signed by the device its author line names.
//!
//! The default run tries a few dozen histories; the long run is
//! `PROPTEST_CASES=10000 cargo test --release -p fieldsync-core --test hostile_properties`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{HashMap, HashSet};

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{AutoCommit, ObjType, ROOT, ReadDoc, ScalarValue, Value};
use common::*;
use fieldsync_core::rules::RolePolicy;
use fieldsync_core::signing::DevicePublicKey;
use fieldsync_core::store::{DeviceIdentity, DeviceStore, SqliteRelayStore};
use fieldsync_core::sync::{Relay, RelayStore, Scope, Sender, SyncSession};
use fieldsync_core::*;
use proptest::prelude::*;
use rust_decimal::Decimal;

/// The devices, by index.
const LI_PHONE: usize = 0;
const LI_TABLET: usize = 1;
const MANAGER: usize = 2;
const DESK: usize = 3;
const WAREHOUSE: usize = 4;
const FINANCE: usize = 5;
const HOSTILE: usize = 6;
const DEVICES: usize = 7;

#[derive(Debug, Clone, Copy)]
enum Attack {
    /// The last two steps swapped.
    Reorder,
    /// A copy of an existing step.
    Duplicate,
    /// A cancellation that says it left a draft.
    ForgedCancel,
    /// An approval by li claiming the manager's role.
    ClaimManager,
    /// A shipment recorded by the salesperson.
    Ship,
    /// A negative quantity.
    NegativeQuantity,
    /// A change whose author line names zhao.
    ClaimOtherAuthor,
    /// The unit of a line changed (allowed: needs a new approval).
    ChangeUnit,
}

#[derive(Debug, Clone)]
enum Op {
    NewOrder {
        tablet: bool,
        qty: u8,
        price: u16,
    },
    AddLine {
        tablet: bool,
        order: usize,
        qty: u8,
    },
    SetQuantity {
        tablet: bool,
        order: usize,
        qty: u8,
    },
    Submit {
        tablet: bool,
        order: usize,
    },
    Approve {
        order: usize,
        overriding: bool,
    },
    Reject {
        order: usize,
    },
    Confirm {
        order: usize,
    },
    InStock {
        order: usize,
    },
    Ship {
        order: usize,
    },
    Pay {
        order: usize,
        amount: u16,
    },
    Cancel {
        by_manager: bool,
        order: usize,
    },
    PublishReceivables {
        amount: u16,
    },
    Attack {
        order: usize,
        attack: Attack,
    },
    Sync {
        device: usize,
    },
    /// Every device syncs, one after the other.
    EveryoneSyncs,
}

fn op() -> impl Strategy<Value = Op> {
    let o = 0..8usize;
    let attack = prop_oneof![
        Just(Attack::Reorder),
        Just(Attack::Duplicate),
        Just(Attack::ForgedCancel),
        Just(Attack::ClaimManager),
        Just(Attack::Ship),
        Just(Attack::NegativeQuantity),
        Just(Attack::ClaimOtherAuthor),
        Just(Attack::ChangeUnit),
    ];
    prop_oneof![
        3 => (any::<bool>(), 1..20u8, 1..200u16).prop_map(|(tablet, qty, price)| Op::NewOrder { tablet, qty, price }),
        1 => (any::<bool>(), o.clone(), 1..20u8).prop_map(|(tablet, order, qty)| Op::AddLine { tablet, order, qty }),
        2 => (any::<bool>(), o.clone(), 1..20u8).prop_map(|(tablet, order, qty)| Op::SetQuantity { tablet, order, qty }),
        3 => (any::<bool>(), o.clone()).prop_map(|(tablet, order)| Op::Submit { tablet, order }),
        3 => (o.clone(), any::<bool>()).prop_map(|(order, overriding)| Op::Approve { order, overriding }),
        1 => o.clone().prop_map(|order| Op::Reject { order }),
        2 => o.clone().prop_map(|order| Op::Confirm { order }),
        2 => o.clone().prop_map(|order| Op::InStock { order }),
        2 => o.clone().prop_map(|order| Op::Ship { order }),
        1 => (o.clone(), 1..2000u16).prop_map(|(order, amount)| Op::Pay { order, amount }),
        1 => (any::<bool>(), o.clone()).prop_map(|(by_manager, order)| Op::Cancel { by_manager, order }),
        1 => (0..3000u16).prop_map(|amount| Op::PublishReceivables { amount }),
        3 => (o, attack).prop_map(|(order, attack)| Op::Attack { order, attack }),
        4 => (0..DEVICES).prop_map(|device| Op::Sync { device }),
        2 => Just(Op::EveryoneSyncs),
    ]
}

struct Device {
    store: DeviceStore,
    ctx: ChangeCtx,
    sender: Sender,
}

impl Device {
    fn new(ctx: ChangeCtx) -> Device {
        let mut store = DeviceStore::open_in_memory().unwrap();
        let a = &ctx.actor;
        store
            .set_identity(&DeviceIdentity::of(a, OrderPrefix::new("S07").unwrap()))
            .unwrap();
        let key = store.device_key().unwrap();
        Device {
            sender: Sender::new(ctx.actor.clone(), Some(key)),
            store,
            ctx,
        }
    }

    fn order(&self, id: DocId) -> Option<OrderDoc> {
        let doc = self.store.load(id).ok()?;
        OrderDoc::from_document(doc).ok()
    }

    /// Applies a typed edit to the device's copy of `id`; a refused edit
    /// (not possible in the device's view) changes nothing.
    fn edit(&mut self, id: DocId, f: impl FnOnce(&mut OrderDoc, &ChangeCtx) -> Result<()>) {
        if let Some(mut o) = self.order(id)
            && f(&mut o, &self.ctx).is_ok()
        {
            self.store.save(o.document()).unwrap();
        }
    }

    /// The credit figures as this device sees them.
    fn credit(&self, customer: DocId) -> Option<(Customer, Vec<OpenOrder>)> {
        let c: Customer = self.store.load(customer).ok()?.view().ok()?;
        Some((c, self.store.credit_orders().unwrap()))
    }
}

type World = Relay<SqliteRelayStore, RolePolicy>;

struct Run {
    relay: World,
    devices: Vec<Device>,
    keys: HashMap<String, DevicePublicKey>,
    customer: DocId,
    orders: Vec<DocId>,
    seq: u32,
    /// Approval and shipping steps already judged by the credit invariant.
    judged: HashSet<String>,
    /// Attacks sent, and refused by the relay.
    attacks: (u32, u32),
}

impl Run {
    fn new() -> Run {
        let mut relay =
            Relay::new(SqliteRelayStore::open_in_memory().unwrap(), RolePolicy).unwrap();
        let head = |user: &str, role| ctx(user, role, None, &format!("office-{user}"));
        let devices: Vec<Device> = [
            sales(),
            sales_tablet(),
            ctx("zhao", Role::Manager, Some("east"), "phone-zhao"),
            head("sun", Role::OrderDesk),
            head("wu", Role::Warehouse),
            head("zheng", Role::Finance),
            ctx("li", Role::Salesperson, Some("east"), "modified-app-li"),
        ]
        .into_iter()
        .map(Device::new)
        .collect();
        let mut keys: HashMap<String, DevicePublicKey> = devices
            .iter()
            .map(|d| (d.ctx.actor.device().to_string(), d.sender.key.unwrap()))
            .collect();
        // Head office creates li's customer with a credit limit of 2,000.
        let admin = admin();
        keys.insert(admin.actor.device().to_string(), relay.office_key());
        let mut c = CustomerDoc::create(
            &admin,
            NewCustomer {
                name: "Hengda Textiles".into(),
                address: "12 Silk Road".into(),
                region: "east".into(),
                owner: "li".into(),
                grade: Grade::A,
                payment_terms: PaymentTerms::Credit,
                credit_limit: d("2000"),
                ..Default::default()
            },
        )
        .unwrap();
        relay.commit_edit(&admin.actor, c.document()).unwrap();
        let customer = c.read().unwrap().id();
        let mut run = Run {
            relay,
            devices,
            keys,
            customer,
            orders: Vec::new(),
            seq: 0,
            judged: HashSet::new(),
            attacks: (0, 0),
        };
        for i in 0..DEVICES {
            run.sync(i);
        }
        run
    }

    fn pick(&self, n: usize) -> Option<DocId> {
        (!self.orders.is_empty()).then(|| self.orders[n % self.orders.len()])
    }

    /// The `n`th of the orders `device` shows in one of `statuses` (so a
    /// step is tried where it can be taken), else any order.
    fn pick_in(&self, device: usize, statuses: &[&str], n: usize) -> Option<DocId> {
        let candidates: Vec<DocId> = self.devices[device]
            .store
            .list_kind(DocKind::Order)
            .unwrap()
            .into_iter()
            .filter(|e| statuses.contains(&e.status.as_str()))
            .map(|e| e.id)
            .collect();
        if candidates.is_empty() {
            return self.pick(n);
        }
        Some(candidates[n % candidates.len()])
    }

    fn sync(&mut self, i: usize) {
        let before = self.relay.store().last_seq().unwrap();
        let d = &mut self.devices[i];
        let mut session = SyncSession::new();
        while let Some(req) = session.next_request(&mut d.store).unwrap() {
            let answer = self.relay.handle(&d.sender, &req).unwrap();
            session.receive(&mut d.store, &answer).unwrap();
        }
        // A refused change is discarded (by the user, or the modified app).
        for r in d.store.refused().unwrap() {
            d.store.discard_refused(r.entry.id).unwrap();
        }
        // The documents this sync changed on the relay: its new log entries.
        let touched: HashSet<DocId> = self
            .relay
            .store()
            .log_after(before, usize::MAX, &Scope::All)
            .unwrap()
            .into_iter()
            .map(|e| e.doc)
            .collect();
        if !touched.is_empty() {
            self.check_credit_of_new_steps(&touched);
        }
    }

    fn apply(&mut self, op: &Op) {
        let phone = |tablet: bool| if tablet { LI_TABLET } else { LI_PHONE };
        match *op {
            Op::NewOrder { tablet, qty, price } => {
                self.seq += 1;
                let d = &mut self.devices[phone(tablet)];
                let Ok(c) = d
                    .store
                    .load(self.customer)
                    .and_then(|c| c.view::<Customer>())
                else {
                    return;
                };
                let number =
                    OrderNumber::new(OrderPrefix::new("S07").unwrap(), day(), self.seq).unwrap();
                let mut o = OrderDoc::create(
                    &d.ctx,
                    &c,
                    NewOrder {
                        number,
                        channel: Channel::Visit,
                        reorder_kind: None,
                        delivery_date: None,
                        evidence: "signed form".into(),
                    },
                )
                .unwrap();
                o.add_line(&d.ctx, line("TS-1", &qty.to_string(), &price.to_string()))
                    .unwrap();
                d.store.save(o.document()).unwrap();
                self.orders.push(o.read().unwrap().id());
            }
            Op::AddLine { tablet, order, qty } => {
                let Some(id) = self.pick(order) else { return };
                self.devices[phone(tablet)].edit(id, |o, c| {
                    o.add_line(c, line("JK-1", &qty.to_string(), "50"))
                        .map(|_| ())
                });
            }
            Op::SetQuantity { tablet, order, qty } => {
                let Some(id) = self.pick(order) else { return };
                self.devices[phone(tablet)].edit(id, |o, c| {
                    let l = o.read()?.lines.keys().next().cloned().unwrap_or_default();
                    o.set_quantity(c, &l, Decimal::from(qty))
                });
            }
            Op::Submit { tablet, order } => {
                let Some(id) = self.pick_in(phone(tablet), &["draft", "rejected"], order) else {
                    return;
                };
                self.devices[phone(tablet)].edit(id, |o, c| o.submit(c));
            }
            Op::Approve { order, overriding } => {
                let waiting = ["submitted", "changed_after_approval"];
                let Some(id) = self.pick_in(MANAGER, &waiting, order) else {
                    return;
                };
                let d = &mut self.devices[MANAGER];
                let Some((c, orders)) = d.credit(self.customer) else {
                    return;
                };
                let reason = overriding.then_some("known customer, pays at the fair");
                d.edit(id, |o, x| o.approve(x, (&c, &orders[..]), reason));
            }
            Op::Reject { order } => {
                let Some(id) = self.pick_in(MANAGER, &["submitted"], order) else {
                    return;
                };
                self.devices[MANAGER].edit(id, |o, c| o.reject(c, "price too low"));
            }
            Op::Confirm { order } => {
                let Some(id) = self.pick_in(DESK, &["approved"], order) else {
                    return;
                };
                self.devices[DESK].edit(id, |o, c| o.confirm(c));
            }
            Op::InStock { order } => {
                let Some(id) = self.pick_in(WAREHOUSE, &["confirmed"], order) else {
                    return;
                };
                self.devices[WAREHOUSE].edit(id, |o, c| o.mark_in_stock(c));
            }
            Op::Ship { order } => {
                let Some(id) = self.pick_in(WAREHOUSE, &["in_stock"], order) else {
                    return;
                };
                let d = &mut self.devices[WAREHOUSE];
                let Some((c, orders)) = d.credit(self.customer) else {
                    return;
                };
                d.edit(id, |o, x| {
                    o.ship(x, (&c, &orders[..]), Shipment::default(), None)
                });
            }
            Op::Pay { order, amount } => {
                let owing = ["approved", "confirmed", "in_stock", "shipped"];
                let Some(id) = self.pick_in(FINANCE, &owing, order) else {
                    return;
                };
                self.devices[FINANCE].edit(id, |o, c| {
                    o.record_payment(c, Decimal::from(amount), "bank")
                        .map(|_| ())
                });
            }
            Op::Cancel { by_manager, order } => {
                let Some(id) = self.pick(order) else { return };
                let who = if by_manager { MANAGER } else { LI_PHONE };
                self.devices[who].edit(id, |o, c| o.cancel(c, "customer withdrew"));
            }
            Op::PublishReceivables { amount } => {
                let d = &mut self.devices[FINANCE];
                let Ok(doc) = d.store.load(self.customer) else {
                    return;
                };
                let mut c = CustomerDoc::from_document(doc).unwrap();
                if c.set_receivables(&d.ctx, Decimal::from(amount)).is_ok() {
                    d.store.save(c.document()).unwrap();
                }
            }
            Op::Attack { order, attack } => {
                self.sync(HOSTILE);
                let past_draft = ["submitted", "approved", "confirmed", "in_stock", "shipped"];
                let Some(id) = self.pick_in(HOSTILE, &past_draft, order) else {
                    return;
                };
                if self.attack(id, attack) {
                    self.attacks.0 += 1;
                    let d = &mut self.devices[HOSTILE];
                    let mut session = SyncSession::new();
                    while let Some(req) = session.next_request(&mut d.store).unwrap() {
                        let answer = self.relay.handle(&d.sender, &req).unwrap();
                        session.receive(&mut d.store, &answer).unwrap();
                    }
                    if session.summary().refused.iter().any(|(doc, _)| *doc == id) {
                        self.attacks.1 += 1;
                    }
                    self.sync(HOSTILE);
                }
            }
            Op::Sync { device } => self.sync(device),
            Op::EveryoneSyncs => {
                for i in 0..DEVICES {
                    self.sync(i);
                }
            }
        }
    }

    /// The device an honest operation is made on.
    fn device_of(op: &Op) -> Option<usize> {
        let phone = |tablet: bool| if tablet { LI_TABLET } else { LI_PHONE };
        Some(match *op {
            Op::NewOrder { tablet, .. }
            | Op::AddLine { tablet, .. }
            | Op::SetQuantity { tablet, .. }
            | Op::Submit { tablet, .. } => phone(tablet),
            Op::Approve { .. } | Op::Reject { .. } => MANAGER,
            Op::Cancel { by_manager, .. } => {
                if by_manager {
                    MANAGER
                } else {
                    LI_PHONE
                }
            }
            Op::Confirm { .. } => DESK,
            Op::InStock { .. } | Op::Ship { .. } => WAREHOUSE,
            Op::Pay { .. } | Op::PublishReceivables { .. } => FINANCE,
            Op::Attack { .. } | Op::Sync { .. } | Op::EveryoneSyncs => return None,
        })
    }

    /// The modified app's raw edit of its copy of `id`; false if there was
    /// nothing to attack.
    fn attack(&mut self, id: DocId, attack: Attack) -> bool {
        let d = &mut self.devices[HOSTILE];
        let Ok(mut doc) = d.store.load(id) else {
            return false;
        };
        let mut am = AutoCommit::load(&doc.save()).unwrap();
        let honest = "fieldsync/1 user=li role=salesperson device=modified-app-li region=east";
        let events = am.get(ROOT, "events").unwrap().unwrap().1;
        let n = am.length(&events);
        let event = |am: &AutoCommit, i: usize| -> Vec<(String, ScalarValue)> {
            let ev = am.get(&events, i).unwrap().unwrap().1;
            am.keys(&ev)
                .map(|k| {
                    let v = match am.get(&ev, k.as_str()).unwrap().unwrap().0 {
                        Value::Scalar(s) => s.into_owned(),
                        Value::Object(_) => ScalarValue::Null,
                    };
                    (k, v)
                })
                .collect()
        };
        let insert = |am: &mut AutoCommit, at: usize, fields: &[(String, ScalarValue)]| {
            let ev = am.insert_object(&events, at, ObjType::Map).unwrap();
            for (k, v) in fields {
                am.put(&ev, k.as_str(), v.clone()).unwrap();
            }
        };
        let with = |mut fields: Vec<(String, ScalarValue)>, changes: &[(&str, &str)]| {
            for (k, v) in fields.iter_mut() {
                if let Some((_, new)) = changes.iter().find(|(key, _)| key == k) {
                    *v = (*new).into();
                }
            }
            fields
        };
        let mut message = honest.to_string();
        match attack {
            Attack::Reorder if n >= 2 => {
                let last = event(&am, n - 1);
                am.delete(&events, n - 1).unwrap();
                insert(&mut am, n - 2, &last);
            }
            Attack::Duplicate if n >= 1 => {
                let first = event(&am, 0);
                insert(&mut am, n, &first);
            }
            Attack::ForgedCancel if n >= 1 => {
                let e = with(
                    event(&am, 0),
                    &[
                        ("id", "forged-cancel"),
                        ("action", "Cancel"),
                        ("from", "Draft"),
                        ("to", "Cancelled"),
                        ("reason", "no"),
                        ("device", "modified-app-li"),
                    ],
                );
                insert(&mut am, n, &e);
            }
            Attack::ClaimManager | Attack::Ship if n >= 1 => {
                let (action, from, to, role) = match attack {
                    Attack::ClaimManager => ("Approve", "Submitted", "Approved", "manager"),
                    _ => ("Ship", "InStock", "Shipped", "salesperson"),
                };
                let e = with(
                    event(&am, 0),
                    &[
                        ("id", "forged-step"),
                        ("action", action),
                        ("from", from),
                        ("to", to),
                        ("role", role),
                        ("device", "modified-app-li"),
                    ],
                );
                insert(&mut am, n, &e);
                if role == "manager" {
                    message = "fieldsync/1 user=li role=manager device=modified-app-li region=east"
                        .into();
                }
            }
            Attack::NegativeQuantity | Attack::ChangeUnit => {
                let lines = am.get(ROOT, "lines").unwrap().unwrap().1;
                let Some(key) = am.keys(&lines).next() else {
                    return false;
                };
                let l = am.get(&lines, key.as_str()).unwrap().unwrap().1;
                match attack {
                    Attack::NegativeQuantity => am.put(&l, "quantity", "-5").unwrap(),
                    _ => am.put(&l, "unit", "box of 100").unwrap(),
                }
            }
            Attack::ClaimOtherAuthor => {
                am.put(ROOT, "notes", "approved by zhao on the phone")
                    .unwrap();
                message = "fieldsync/1 user=zhao role=manager device=phone-zhao region=east".into();
            }
            _ => return false,
        }
        am.commit_with(CommitOptions::default().with_message(message));
        let mut edited = Document::load(&am.save()).unwrap();
        d.store.save(&mut edited).unwrap();
        true
    }

    /// Every approval and shipment the relay has newly accepted (applied,
    /// without an override) was within the customer's credit when accepted.
    /// Judged on the relay's state after the sync, which is what the relay
    /// saw when the sync changed that order alone (with several, a later one
    /// in the batch may change the figures after the step was checked).
    fn check_credit_of_new_steps(&mut self, touched: &HashSet<DocId>) {
        let customer: Customer = self
            .relay
            .store()
            .load(self.customer)
            .unwrap()
            .unwrap()
            .view()
            .unwrap();
        let open = self.relay.store().orders_of(self.customer).unwrap();
        for &id in &self.orders.clone() {
            let Some(doc) = self.relay.store().load(id).unwrap() else {
                continue;
            };
            let o: Order = doc.view().unwrap();
            let superseded = o.derived().superseded;
            for e in &o.events {
                let checked = matches!(
                    e.action,
                    OrderAction::Approve | OrderAction::Reapprove | OrderAction::Ship
                );
                if !checked || superseded.contains(&e.id) || !self.judged.insert(e.id.clone()) {
                    continue;
                }
                if touched.iter().any(|t| *t != id && *t != self.customer) {
                    continue;
                }
                if e.credit_override {
                    assert!(!e.reason.trim().is_empty(), "an override has its reason");
                    continue;
                }
                let at = if e.action == OrderAction::Ship {
                    CreditCheckpoint::Shipping
                } else {
                    CreditCheckpoint::Approval
                };
                let exposure = CreditExposure::new(&customer, &open, Some(&o));
                assert!(
                    exposure.check(&o.number, at).is_ok(),
                    "{:?} of {} accepted over credit: {exposure:?}",
                    e.action,
                    o.number
                );
            }
        }
    }

    /// Everyone syncs until quiet; then every invariant of the accepted history.
    fn finish(mut self) {
        if std::env::var_os("FIELDSYNC_PROPTEST_STATS").is_some() {
            let mut stages = std::collections::BTreeMap::<&str, u32>::new();
            for &id in &self.orders {
                if let Some(doc) = self.relay.store().load(id).unwrap() {
                    *stages
                        .entry(doc.view::<Order>().unwrap().status().as_str())
                        .or_default() += 1;
                }
            }
            eprintln!(
                "attacks sent {}, refused {}; orders on the relay by status {stages:?}",
                self.attacks.0, self.attacks.1
            );
        }
        for _ in 0..3 {
            for i in 0..DEVICES {
                self.sync(i);
            }
        }
        let ids = self.relay.store().ids().unwrap();
        for d in &mut self.devices {
            assert_eq!(
                d.store.pending_count().unwrap(),
                0,
                "{}",
                d.ctx.actor.device()
            );
            for &id in &ids {
                let mut on_relay = self.relay.store().load(id).unwrap().unwrap();
                if !may_see(&d.ctx.actor, on_relay.meta()) {
                    continue;
                }
                let mut mine = d.store.load(id).unwrap();
                let (mut a, mut b) = (mine.heads(), on_relay.heads());
                a.sort();
                b.sort();
                assert_eq!(a, b, "{} has {id} as the relay does", d.ctx.actor.device());
            }
        }
        // Every change on the relay is signed by the device it names.
        let log = self
            .relay
            .store()
            .log_after(0, usize::MAX, &Scope::All)
            .unwrap();
        let signatures: HashMap<[u8; 32], _> = log
            .iter()
            .flat_map(|e| e.signatures.iter().map(|s| (s.change, s.clone())))
            .collect();
        for &id in &ids {
            let mut doc = self.relay.store().load(id).unwrap().unwrap();
            for (hash, author) in doc.changes_after(&[]) {
                let author = author.expect("every change names its author");
                let key = self.keys.get(author.device()).unwrap_or_else(|| {
                    panic!("a change credited to unknown device {}", author.device())
                });
                let sig = signatures
                    .get(&hash.0)
                    .expect("every change has its signature");
                assert!(key.verifies(sig), "{hash} is signed by {}", author.device());
            }
            if let Ok(o) = doc.view::<Order>() {
                let state = o.derived();
                // The accepted history is a legal one: every step that took
                // effect was taken in a role that may take it, from where it
                // took effect.
                let mut stage = OrderStatus::Draft;
                for e in o
                    .events
                    .iter()
                    .filter(|e| !state.superseded.contains(&e.id))
                {
                    let role: Role = e.role.parse().unwrap();
                    assert!(
                        e.action.roles().contains(&role),
                        "{} in {}: a {role} took {:?}",
                        o.number,
                        stage.as_str(),
                        e.action
                    );
                    if e.action == OrderAction::Cancel && role == Role::Salesperson {
                        assert!(
                            matches!(
                                stage,
                                OrderStatus::Draft | OrderStatus::Submitted | OrderStatus::Rejected
                            ),
                            "{}: the salesperson cancelled it once {}",
                            o.number,
                            stage.as_str()
                        );
                    }
                    stage = e.action.target(stage).unwrap();
                }
                let applied: Vec<OrderAction> = o
                    .events
                    .iter()
                    .filter(|e| !state.superseded.contains(&e.id))
                    .map(|e| e.action)
                    .collect();
                assert!(
                    !(applied.contains(&OrderAction::Ship)
                        && applied.contains(&OrderAction::Cancel)),
                    "{} shipped and cancelled: {applied:?}",
                    o.number
                );
                if applied.contains(&OrderAction::Ship) {
                    assert!(
                        !o.changed_after_approval()
                            && state.approved_digest.as_deref() == Some(&*o.content_digest()),
                        "{} shipped other content than approved",
                        o.number
                    );
                }
            }
        }
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(16)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn hostile_devices_never_break_the_rules_and_everyone_converges(
        ops in proptest::collection::vec((op(), proptest::bool::weighted(0.6)), 20..120)
    ) {
        let mut run = Run::new();
        for (op, online) in &ops {
            run.apply(op);
            // Most work is done online: the device syncs right after it.
            if let (true, Some(device)) = (*online, Run::device_of(op)) {
                run.sync(device);
            }
        }
        run.finish();
    }
}
