//! The sync protocol in process, without HTTP: a relay and devices with real
//! SQLite stores, answers lost, processes killed, backups restored.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};

use common::*;
use fieldsync_core::store::{DeviceIdentity, DeviceStore, SqliteRelayStore};
use fieldsync_core::sync::RelayLimits;
use fieldsync_core::sync::{
    Policy, Relay, RelayStore, Sender, SyncSession, SyncSummary, VisibilityOnly, wire,
};
use fieldsync_core::*;

type TestRelay<P = VisibilityOnly> = Relay<SqliteRelayStore, P>;

struct Device {
    path: PathBuf,
    store: DeviceStore,
    ctx: ChangeCtx,
    /// The device as the relay knows it: its user and its signing key.
    sender: Sender,
}

impl Device {
    /// An enrolled device: identity and signing key in its store.
    fn new(dir: &Path, name: &str, ctx: ChangeCtx) -> Device {
        let path = dir.join(format!("{name}.db"));
        let mut store = DeviceStore::open(&path).unwrap();
        let a = &ctx.actor;
        store
            .set_identity(&DeviceIdentity::of(a, OrderPrefix::new("S07").unwrap()))
            .unwrap();
        let key = store.device_key().unwrap();
        Device {
            store,
            path,
            sender: Sender::new(ctx.actor.clone(), Some(key)),
            ctx,
        }
    }

    /// Simulates the app being killed and started again.
    fn restart(&mut self) {
        self.store = DeviceStore::open(&self.path).unwrap();
    }

    fn add_order(&mut self, customer: &Customer, seq: u32, lines: usize) -> DocId {
        let number = OrderNumber::new(OrderPrefix::new("S07").unwrap(), day(), seq).unwrap();
        let mut o = OrderDoc::create(
            &self.ctx,
            customer,
            NewOrder {
                number,
                channel: Channel::Visit,
                reorder_kind: None,
                delivery_date: None,
                evidence: "form".into(),
            },
        )
        .unwrap();
        for i in 0..lines {
            o.add_line(&self.ctx, line(&format!("P{i}"), "2", "10"))
                .unwrap();
        }
        self.store.save(o.document()).unwrap();
        o.read().unwrap().id()
    }

    fn order(&self, id: DocId) -> OrderDoc {
        OrderDoc::from_document(self.store.load(id).unwrap()).unwrap()
    }

    /// The id of the order's first line.
    fn first_line(&self, id: DocId) -> String {
        self.order(id)
            .read()
            .unwrap()
            .lines
            .keys()
            .next()
            .unwrap()
            .clone()
    }

    fn edit_order(&mut self, id: DocId, f: impl FnOnce(&mut OrderDoc, &ChangeCtx)) {
        let mut o = self.order(id);
        f(&mut o, &self.ctx);
        self.store.save(o.document()).unwrap();
    }

    /// Saves document `id` with objects nested `levels` deep under a key
    /// fieldsync never uses (what a tampered app could send).
    fn nest(&mut self, id: DocId, levels: usize) {
        use automerge::transaction::Transactable;
        let mut raw = automerge::AutoCommit::load(&self.store.load(id).unwrap().save()).unwrap();
        let mut obj = automerge::ROOT;
        for i in 0..levels {
            obj = raw
                .put_object(&obj, format!("level{i}"), automerge::ObjType::Map)
                .unwrap();
        }
        let mut nested = Document::load(&raw.save()).unwrap();
        self.store.save(&mut nested).unwrap();
    }
}

/// Syncs until the session is done; returns its summary.
fn sync<P: Policy>(device: &mut Device, relay: &mut TestRelay<P>) -> SyncSummary {
    let mut session = SyncSession::new();
    while let Some(req) = session.next_request(&mut device.store).unwrap() {
        let resp = relay.handle(&device.sender, &req).unwrap();
        session.receive(&mut device.store, &resp).unwrap();
    }
    session.summary().clone()
}

fn relay_doc<P: Policy>(relay: &mut TestRelay<P>, id: DocId) -> Document {
    relay
        .store()
        .load(id)
        .unwrap()
        .expect("the relay has the document")
}

fn same_doc(a: &mut Document, b: &mut Document) {
    let (mut ha, mut hb) = (a.heads(), b.heads());
    ha.sort();
    hb.sort();
    assert_eq!(ha, hb, "document {} differs", a.id());
}

fn customer_on(device: &mut Device) -> Customer {
    let mut c =
        CustomerDoc::create_prospect(&device.ctx, "Hengda Textiles", "12 Silk Road").unwrap();
    device.store.save(c.document()).unwrap();
    c.read().unwrap()
}

/// Copies the relay's database aside (closing it first); returns the reopened relay and the copy.
fn back_up_relay(relay: TestRelay, dir: &Path) -> (TestRelay, PathBuf) {
    drop(relay);
    let backup = dir.join("relay-backup.db");
    std::fs::copy(dir.join("relay.db"), &backup).unwrap();
    (relay_in(dir), backup)
}

/// Replaces the relay's database with `backup`, as an operator restoring it would.
fn restore_relay(relay: TestRelay, dir: &Path, backup: &Path) -> TestRelay {
    drop(relay);
    let path = dir.join("relay.db");
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    std::fs::copy(backup, &path).unwrap();
    relay_in(dir)
}

fn relay_in(dir: &Path) -> TestRelay {
    Relay::new(
        SqliteRelayStore::open(&dir.join("relay.db")).unwrap(),
        VisibilityOnly,
    )
    .unwrap()
}

#[test]
fn a_device_pushes_and_another_receives_in_one_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let mut relay = relay_in(dir.path());
    let mut phone = Device::new(dir.path(), "phone", sales());
    let mut tablet = Device::new(dir.path(), "tablet", sales_tablet());
    let c = customer_on(&mut phone);
    let order = phone.add_order(&c, 1, 3);
    assert_eq!(phone.store.pending_count().unwrap(), 2);

    let s = sync(&mut phone, &mut relay);
    assert_eq!((s.round_trips, s.sent, s.received), (1, 2, 0));
    assert_eq!(phone.store.pending_count().unwrap(), 0);

    let s = sync(&mut tablet, &mut relay);
    assert_eq!((s.round_trips, s.received), (1, 2));
    same_doc(
        &mut tablet.store.load(order).unwrap(),
        &mut phone.store.load(order).unwrap(),
    );
    assert_eq!(
        tablet.order(order).read().unwrap(),
        phone.order(order).read().unwrap()
    );
    assert_eq!(tablet.store.open_orders().unwrap().len(), 1);
    assert_eq!(tablet.store.pending_count().unwrap(), 0);
}

#[test]
fn idle_sync_is_one_small_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let mut relay = relay_in(dir.path());
    let mut phone = Device::new(dir.path(), "phone", sales());
    let c = customer_on(&mut phone);
    for i in 0..50 {
        phone.add_order(&c, i + 1, 2);
    }
    sync(&mut phone, &mut relay);
    let s = sync(&mut phone, &mut relay);
    assert_eq!(s.round_trips, 1);
    assert_eq!((s.sent, s.received), (0, 0));
    // Both ways: the envelope, the cursor and the relay's log mark (its
    // database's identity, an entry number and fingerprint: 26-34 bytes).
    assert!(
        s.bytes_up + s.bytes_down <= 100,
        "{} + {} bytes",
        s.bytes_up,
        s.bytes_down
    );
}

#[test]
fn edits_on_both_sides_meet_in_one_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let mut relay = relay_in(dir.path());
    let mut phone = Device::new(dir.path(), "phone", sales());
    let mut tablet = Device::new(dir.path(), "tablet", sales_tablet());
    let c = customer_on(&mut phone);
    let order = phone.add_order(&c, 1, 1);
    sync(&mut phone, &mut relay);
    sync(&mut tablet, &mut relay);
    let line = phone.first_line(order);
    phone.edit_order(order, |o, ctx| o.set_quantity(ctx, &line, d("5")).unwrap());
    tablet.edit_order(order, |o, ctx| {
        o.set_unit_price(ctx, &line, d("9")).unwrap()
    });
    sync(&mut phone, &mut relay);
    let s = sync(&mut tablet, &mut relay);
    assert_eq!(s.round_trips, 1, "push and pull in one round trip");
    sync(&mut phone, &mut relay);
    let (a, b) = (
        phone.order(order).read().unwrap(),
        tablet.order(order).read().unwrap(),
    );
    assert_eq!(a, b);
    assert_eq!(a.total(), d("45"));
    assert_eq!(phone.store.pending_count().unwrap(), 0);
    assert_eq!(tablet.store.pending_count().unwrap(), 0);
}

#[test]
fn a_lost_answer_or_a_repeated_request_doubles_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut relay = relay_in(dir.path());
    let mut phone = Device::new(dir.path(), "phone", sales());
    let c = customer_on(&mut phone);
    let order = phone.add_order(&c, 1, 2);
    let mut session = SyncSession::new();
    let req = session.next_request(&mut phone.store).unwrap().unwrap();
    let _lost = relay.handle(&phone.sender, &req).unwrap();
    let log_after_first = relay.store().last_seq().unwrap();
    // The same request again, as a retry after a timeout.
    let resp = relay.handle(&phone.sender, &req).unwrap();
    assert_eq!(
        relay.store().last_seq().unwrap(),
        log_after_first,
        "nothing new was logged"
    );
    session.receive(&mut phone.store, &resp).unwrap();
    assert_eq!(phone.store.pending_count().unwrap(), 0);
    same_doc(
        &mut relay_doc(&mut relay, order),
        &mut phone.store.load(order).unwrap(),
    );
}

#[test]
fn a_device_killed_between_send_and_acknowledge_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut relay = relay_in(dir.path());
    let mut phone = Device::new(dir.path(), "phone", sales());
    let mut tablet = Device::new(dir.path(), "tablet", sales_tablet());
    let c = customer_on(&mut phone);
    let order = phone.add_order(&c, 1, 2);
    sync(&mut phone, &mut relay);
    sync(&mut tablet, &mut relay);
    let line = tablet
        .order(order)
        .read()
        .unwrap()
        .lines
        .keys()
        .next()
        .unwrap()
        .clone();
    tablet.edit_order(order, |o, ctx| o.set_quantity(ctx, &line, d("7")).unwrap());
    sync(&mut tablet, &mut relay);

    phone.edit_order(order, |o, ctx| o.set_discount(ctx, &line, d("10")).unwrap());
    let mut session = SyncSession::new();
    let req = session.next_request(&mut phone.store).unwrap().unwrap();
    relay.handle(&phone.sender, &req).unwrap();
    drop(session);
    phone.restart(); // killed before the answer was applied
    assert_eq!(
        phone.store.pending_count().unwrap(),
        1,
        "still pending after the restart"
    );
    let s = sync(&mut phone, &mut relay);
    assert_eq!(s.round_trips, 1);
    sync(&mut tablet, &mut relay);
    let (a, b) = (
        phone.order(order).read().unwrap(),
        tablet.order(order).read().unwrap(),
    );
    assert_eq!(a, b);
    let l = &a.lines[&line];
    assert_eq!((l.quantity, l.discount_percent), (d("7"), d("10")));
}

#[test]
fn a_phone_restored_from_an_old_backup_converges() {
    let dir = tempfile::tempdir().unwrap();
    let mut relay = relay_in(dir.path());
    let mut phone = Device::new(dir.path(), "phone", sales());
    let c = customer_on(&mut phone);
    let first = phone.add_order(&c, 1, 1);
    sync(&mut phone, &mut relay);
    // Back up the store (as the OS would), then keep working for a week.
    drop(std::mem::replace(
        &mut phone.store,
        DeviceStore::open_in_memory().unwrap(),
    ));
    let backup = dir.path().join("backup.db");
    std::fs::copy(&phone.path, &backup).unwrap();
    phone.restart();
    let second = phone.add_order(&c, 2, 3);
    let line = phone.first_line(first);
    phone.edit_order(first, |o, ctx| o.set_quantity(ctx, &line, d("40")).unwrap());
    sync(&mut phone, &mut relay);
    // The phone is lost; a new one is restored from the week-old backup.
    drop(std::mem::replace(
        &mut phone.store,
        DeviceStore::open_in_memory().unwrap(),
    ));
    std::fs::copy(&backup, &phone.path).unwrap();
    phone.restart();
    assert!(!phone.store.contains(second).unwrap());
    sync(&mut phone, &mut relay);
    assert!(phone.store.contains(second).unwrap());
    same_doc(
        &mut relay_doc(&mut relay, first),
        &mut phone.store.load(first).unwrap(),
    );
    same_doc(
        &mut relay_doc(&mut relay, second),
        &mut phone.store.load(second).unwrap(),
    );
    assert_eq!(
        phone.order(first).read().unwrap().lines[&line].quantity,
        d("40")
    );
}

#[test]
fn a_relay_restored_from_a_backup_gets_everything_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut relay = relay_in(dir.path());
    let mut phone = Device::new(dir.path(), "phone", sales());
    let mut tablet = Device::new(dir.path(), "tablet", sales_tablet());
    let c = customer_on(&mut phone);
    let first = phone.add_order(&c, 1, 1);
    sync(&mut phone, &mut relay);
    let (mut relay, backup) = back_up_relay(relay, dir.path());
    let second = phone.add_order(&c, 2, 2);
    let line = phone.first_line(first);
    phone.edit_order(first, |o, ctx| o.set_quantity(ctx, &line, d("3")).unwrap());
    sync(&mut phone, &mut relay);
    // Disaster: the relay comes back from the backup, without the last sync.
    let mut relay = restore_relay(relay, dir.path(), &backup);
    assert!(relay.store().load(second).unwrap().is_none());
    sync(&mut phone, &mut relay);
    sync(&mut tablet, &mut relay);
    for id in [first, second] {
        same_doc(
            &mut relay_doc(&mut relay, id),
            &mut phone.store.load(id).unwrap(),
        );
        same_doc(
            &mut tablet.store.load(id).unwrap(),
            &mut phone.store.load(id).unwrap(),
        );
    }
    assert_eq!(phone.store.pending_count().unwrap(), 0);
}

#[test]
fn a_relay_missing_history_reconciles_with_automerge_sync() {
    // The relay lost the document's last changes but got new ones from others,
    // so the phone's cursor looks fine: the phone's push lacks its base there.
    let dir = tempfile::tempdir().unwrap();
    let mut relay = relay_in(dir.path());
    let mut phone = Device::new(dir.path(), "phone", sales());
    let mut other = Device::new(dir.path(), "other", sales_wang());
    let c = customer_on(&mut phone);
    let order = phone.add_order(&c, 1, 1);
    sync(&mut phone, &mut relay);
    let (mut relay, backup) = back_up_relay(relay, dir.path());
    let line = phone.first_line(order);
    phone.edit_order(order, |o, ctx| o.set_quantity(ctx, &line, d("8")).unwrap());
    sync(&mut phone, &mut relay);
    let mut relay = restore_relay(relay, dir.path(), &backup);
    // Others keep the relay's log growing past the phone's cursor.
    let oc = customer_on(&mut other);
    for i in 0..5 {
        other.add_order(&oc, i + 1, 1);
    }
    sync(&mut other, &mut relay);
    // A new edit: its base is a change the relay lost.
    phone.edit_order(order, |o, ctx| o.set_discount(ctx, &line, d("3")).unwrap());
    let s = sync(&mut phone, &mut relay);
    assert!(s.round_trips >= 2, "the push needed reconciling: {s:?}");
    assert!(s.refused.is_empty(), "{s:?}");
    same_doc(
        &mut relay_doc(&mut relay, order),
        &mut phone.store.load(order).unwrap(),
    );
    let o = OrderDoc::from_document(relay_doc(&mut relay, order))
        .unwrap()
        .read()
        .unwrap();
    assert_eq!(
        (o.lines[&line].quantity, o.lines[&line].discount_percent),
        (d("8"), d("3"))
    );
    assert_eq!(phone.store.pending_count().unwrap(), 0);
    // The changes that came the slow way came with their signatures too.
    let signatures = relay.store().signatures_of(order).unwrap();
    let key = phone.sender.key.unwrap();
    for (hash, _) in relay_doc(&mut relay, order).changes_after(&[]) {
        let sig = signatures
            .iter()
            .find(|s| s.change == hash.0)
            .unwrap_or_else(|| panic!("the relay holds no signature for {hash}"));
        assert!(key.verifies(sig));
    }
}

/// Refuses orders worth more than 1,000, as a stand-in for the relay's rules.
struct Cap;
impl Policy for Cap {
    fn check(&self, _: &Actor, _: Option<&Content>, after: &Content) -> Result<(), String> {
        let Content::Order(o) = after else {
            return Ok(());
        };
        if o.total() > d("1000") {
            Err(format!(
                "orders above 1000 need a phone call first (this one is {})",
                o.total()
            ))
        } else {
            Ok(())
        }
    }
}

#[test]
fn a_refused_document_shows_its_reason_and_can_be_fixed_or_discarded() {
    let dir = tempfile::tempdir().unwrap();
    let mut relay = Relay::new(
        SqliteRelayStore::open(&dir.path().join("relay.db")).unwrap(),
        Cap,
    )
    .unwrap();
    let mut phone = Device::new(dir.path(), "phone", sales());
    let c = customer_on(&mut phone);
    let order = phone.add_order(&c, 1, 1); // 20.00
    sync(&mut phone, &mut relay);
    let line = phone.first_line(order);

    // Too big: refused, with the reason, and nothing stored on the relay.
    phone.edit_order(order, |o, ctx| {
        o.set_quantity(ctx, &line, d("500")).unwrap()
    });
    let before = relay_doc(&mut relay, order).heads();
    let s = sync(&mut phone, &mut relay);
    assert_eq!(s.refused.len(), 1);
    assert!(
        s.refused[0].1.contains("need a phone call first"),
        "{:?}",
        s.refused
    );
    assert_eq!(relay_doc(&mut relay, order).heads(), before);
    let refused = phone.store.refused().unwrap();
    assert_eq!((refused.len(), refused[0].entry.id), (1, order));
    assert_eq!(phone.store.pending_count().unwrap(), 1);
    // Not sent again until the user acts.
    assert_eq!(sync(&mut phone, &mut relay).sent, 0);

    // Fix and resubmit.
    phone.edit_order(order, |o, ctx| o.set_quantity(ctx, &line, d("50")).unwrap());
    phone.store.resubmit(order).unwrap();
    let s = sync(&mut phone, &mut relay);
    assert_eq!((s.sent, s.refused.len()), (1, 0));
    assert!(phone.store.refused().unwrap().is_empty());
    let on_relay = OrderDoc::from_document(relay_doc(&mut relay, order))
        .unwrap()
        .read()
        .unwrap();
    assert_eq!(on_relay.total(), d("500"));

    // Refused again, and this time discarded: back to what the relay holds.
    phone.edit_order(order, |o, ctx| {
        o.set_unit_price(ctx, &line, d("99")).unwrap()
    });
    sync(&mut phone, &mut relay);
    assert_eq!(phone.store.refused().unwrap().len(), 1);
    phone.store.discard_refused(order).unwrap();
    assert!(phone.store.refused().unwrap().is_empty());
    assert_eq!(phone.store.pending_count().unwrap(), 0);
    assert_eq!(phone.order(order).read().unwrap(), on_relay);
    assert_eq!(phone.store.open_orders().unwrap()[0].total, Some(d("500")));
}

#[test]
fn a_device_cannot_write_or_read_documents_it_may_not_see() {
    let dir = tempfile::tempdir().unwrap();
    let mut relay = relay_in(dir.path());
    let mut li = Device::new(dir.path(), "li", sales());
    let mut wang = Device::new(dir.path(), "wang", sales_wang());
    let c = customer_on(&mut li);
    let order = li.add_order(&c, 1, 1);
    sync(&mut li, &mut relay);
    // Wang never receives Li's documents.
    let s = sync(&mut wang, &mut relay);
    assert_eq!(s.received, 0);
    assert!(!wang.store.contains(order).unwrap());
    // A document owned by Li, planted in Wang's store, is refused.
    let mut planted = CustomerDoc::create(
        &admin(),
        NewCustomer {
            name: "Planted".into(),
            address: String::new(),
            region: "east".into(),
            owner: "li".into(),
            grade: Grade::C,
            payment_terms: PaymentTerms::Cash,
            credit_limit: d("0"),
            ..Default::default()
        },
    )
    .unwrap();
    wang.store.save(planted.document()).unwrap();
    let s = sync(&mut wang, &mut relay);
    assert_eq!(s.refused.len(), 1);
    assert!(s.refused[0].1.contains("is not yours"), "{:?}", s.refused);
    assert!(
        relay
            .store()
            .load(planted.document().id())
            .unwrap()
            .is_none()
    );
    // The shared catalog reaches everyone.
    let mut office = Device::new(dir.path(), "office", admin());
    let mut catalog = CatalogDoc::create(&admin()).unwrap();
    office.store.save(catalog.document()).unwrap();
    sync(&mut office, &mut relay);
    sync(&mut wang, &mut relay);
    assert!(wang.store.contains(catalog.document().id()).unwrap());
}

#[test]
fn malformed_bytes_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut relay = relay_in(dir.path());
    let mut phone = Device::new(dir.path(), "phone", sales());
    let c = customer_on(&mut phone);
    phone.add_order(&c, 1, 1);
    let mut session = SyncSession::new();
    let req = session.next_request(&mut phone.store).unwrap().unwrap();
    for bad in [vec![], b"hello".to_vec(), req[..req.len() - 1].to_vec(), {
        // A protocol version this build does not speak.
        let mut v = req.clone();
        v[4] = wire::PROTOCOL_VERSION + 1;
        v
    }] {
        let e = relay.handle(&phone.sender, &bad).unwrap_err();
        assert!(matches!(e, Error::Protocol(_)), "{e}");
    }
    assert_eq!(
        relay.store().last_seq().unwrap(),
        0,
        "nothing applied on the relay"
    );
    // Garbage changes inside a well-formed request: that document is refused.
    let bad_changes = wire::encode_request(&wire::SyncRequest {
        cursor: 0,
        pushes: vec![wire::Push {
            doc: [1; 16],
            changes: vec![0x85, 0x6f, 0x4a, 0x83, 1, 2, 3],
            signatures: vec![],
        }],
        ..Default::default()
    })
    .unwrap();
    let resp = wire::decode_response(&relay.handle(&phone.sender, &bad_changes).unwrap()).unwrap();
    assert!(
        matches!(resp.pushes[0], wire::Outcome::Refused(_)),
        "{:?}",
        resp.pushes
    );
    assert_eq!(relay.store().last_seq().unwrap(), 0);
    // A bad answer on the device: an error, and the store is untouched.
    let pending = phone.store.pending_count().unwrap();
    let cursor = phone.store.cursor().unwrap();
    for bad in [vec![0u8; 3], b"FSYN\x01\x02\xff".to_vec()] {
        assert!(matches!(
            session.receive(&mut phone.store, &bad),
            Err(Error::Protocol(_))
        ));
    }
    assert_eq!(phone.store.pending_count().unwrap(), pending);
    assert_eq!(phone.store.cursor().unwrap(), cursor);
    // An answer that does not fit the request is refused too.
    let empty = wire::encode_response(&wire::SyncResponse::default()).unwrap();
    assert!(session.receive(&mut phone.store, &empty).is_err());
}

#[test]
fn a_large_backlog_arrives_in_pages() {
    let dir = tempfile::tempdir().unwrap();
    let mut relay = relay_in(dir.path()).with_limits(RelayLimits {
        max_update_bytes: 4_000,
        max_log_entries: 7,
        ..RelayLimits::default()
    });
    let mut phone = Device::new(dir.path(), "phone", sales());
    let mut tablet = Device::new(dir.path(), "tablet", sales_tablet());
    let c = customer_on(&mut phone);
    let ids: Vec<DocId> = (0..40).map(|i| phone.add_order(&c, i + 1, 3)).collect();
    sync(&mut phone, &mut relay);
    let s = sync(&mut tablet, &mut relay);
    assert!(s.round_trips > 3, "{s:?}");
    for id in ids {
        same_doc(
            &mut tablet.store.load(id).unwrap(),
            &mut phone.store.load(id).unwrap(),
        );
    }
    assert_eq!(sync(&mut tablet, &mut relay).round_trips, 1);
}

/// A tiny deterministic random generator, so a failure can be replayed from its seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn five_devices_offline_at_random_converge() {
    for seed in [0x9e37_79b9_7f4a_7c15_u64, 42, 7_777_777] {
        simulate(seed);
    }
}

fn simulate(seed: u64) {
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    // With the relay's full role policy: every legitimate edit must pass it.
    let mut relay = Relay::new(
        SqliteRelayStore::open(&dir.path().join("relay.db")).unwrap(),
        fieldsync_core::rules::RolePolicy,
    )
    .unwrap();
    let users = [
        ctx("li", Role::Salesperson, Some("east"), "phone-li"),
        ctx("li", Role::Salesperson, Some("east"), "tablet-li"),
        sales_wang(),
        ctx("zhao", Role::Manager, Some("east"), "office-zhao"),
        ctx("sun", Role::OrderDesk, None, "office-sun"),
    ];
    let mut devices: Vec<Device> = users
        .iter()
        .enumerate()
        .map(|(i, u)| Device::new(dir.path(), &format!("d{i}"), u.clone()))
        .collect();
    let li_customer = customer_on(&mut devices[0]);
    let wang_customer = customer_on(&mut devices[2]);
    let mut seq = 0;
    for d in devices.iter_mut() {
        sync(d, &mut relay);
    }
    for _round in 0..60 {
        let i = rng.below(5) as usize;
        let dev = &mut devices[i];
        match rng.below(6) {
            // Offline work: create or edit an order visible to this device.
            0 if i < 3 => {
                seq += 1;
                let c = if i == 2 { &wang_customer } else { &li_customer };
                dev.add_order(c, seq, 1 + rng.below(3) as usize);
            }
            0..=2 => {
                let orders = dev.store.ids(DocKind::Order).unwrap();
                if orders.is_empty() {
                    continue;
                }
                let id = orders[rng.below(orders.len() as u64) as usize];
                let qty = rust_decimal::Decimal::from(1 + rng.below(20));
                let mut o = dev.order(id);
                let lines: Vec<String> = o.read().unwrap().lines.keys().cloned().collect();
                let l = &lines[rng.below(lines.len() as u64) as usize];
                let ctx = dev.ctx.clone();
                if o.set_quantity(&ctx, l, qty).is_ok() {
                    if rng.below(3) == 0 {
                        let _ = o.submit(&ctx);
                    }
                    dev.store.save(o.document()).unwrap();
                }
            }
            // Sync, with the answer lost one time in four, or the app killed
            // between sending and applying the answer.
            3 | 4 => {
                let mut session = SyncSession::new();
                while let Some(req) = session.next_request(&mut dev.store).unwrap() {
                    let resp = relay.handle(&dev.sender, &req).unwrap();
                    match rng.below(8) {
                        0 | 1 => break,
                        2 => {
                            dev.restart();
                            break;
                        }
                        _ => session.receive(&mut dev.store, &resp).unwrap(),
                    }
                }
            }
            _ => {}
        }
    }
    // Everyone reconnects, twice over, so everything reaches everyone.
    for _ in 0..2 {
        for d in devices.iter_mut() {
            let s = sync(d, &mut relay);
            assert!(s.refused.is_empty(), "seed {seed}: {s:?}");
        }
    }
    let relay_ids = relay.store().ids().unwrap();
    for d in devices.iter_mut() {
        assert_eq!(d.store.pending_count().unwrap(), 0, "seed {seed}");
        for &id in &relay_ids {
            let mut on_relay = relay_doc(&mut relay, id);
            let visible = may_see(&d.ctx.actor, on_relay.meta());
            assert_eq!(
                d.store.contains(id).unwrap(),
                visible,
                "seed {seed}: visibility of {id}"
            );
            if visible {
                same_doc(&mut on_relay, &mut d.store.load(id).unwrap());
            }
        }
        for kind in DocKind::ALL {
            for id in d.store.ids(kind).unwrap() {
                assert!(
                    relay_ids.contains(&id),
                    "seed {seed}: {id} never reached the relay"
                );
            }
        }
    }
}

#[test]
fn the_index_follows_changes_made_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let mut relay = relay_in(dir.path());
    let mut phone = Device::new(dir.path(), "phone", sales());
    let mut office = Device::new(dir.path(), "office", manager());
    let c = customer_on(&mut phone);
    let order = phone.add_order(&c, 1, 2);
    phone.edit_order(order, |o, ctx| o.submit(ctx).unwrap());
    sync(&mut phone, &mut relay);
    sync(&mut office, &mut relay);
    assert_eq!(office.store.orders_awaiting_review().unwrap()[0].id, order);
    let customer = CustomerDoc::from_document(office.store.load(c.id()).unwrap())
        .unwrap()
        .read()
        .unwrap();
    office.edit_order(order, |o, ctx| o.approve(ctx, &customer, None).unwrap());
    assert!(office.store.orders_awaiting_review().unwrap().is_empty());
    sync(&mut office, &mut relay);
    sync(&mut phone, &mut relay);
    let open = phone.store.open_orders().unwrap();
    assert_eq!((open.len(), open[0].status.as_str()), (1, "approved"));
    assert_eq!(phone.store.pending_count().unwrap(), 0);
    // The salesperson edits the approved order: "changed after approval" on both sides.
    let line = phone.first_line(order);
    phone.edit_order(order, |o, ctx| o.set_quantity(ctx, &line, d("3")).unwrap());
    assert_eq!(
        phone.store.open_orders().unwrap()[0].status,
        "changed_after_approval"
    );
    sync(&mut phone, &mut relay);
    sync(&mut office, &mut relay);
    let review = office.store.orders_awaiting_review().unwrap();
    assert_eq!(
        (review.len(), review[0].status.as_str()),
        (1, "changed_after_approval")
    );
    assert_eq!(review[0].total, Some(d("50")));
}

#[test]
fn oversized_and_deeply_nested_documents_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut relay = relay_in(dir.path()).with_limits(RelayLimits {
        max_change_bytes: 10_000,
        ..RelayLimits::default()
    });
    let mut phone = Device::new(dir.path(), "phone", sales());
    let c = customer_on(&mut phone);
    let order = phone.add_order(&c, 1, 1);
    sync(&mut phone, &mut relay);
    let before = relay.store().last_seq().unwrap();

    // Four texts of 9 KB each (within the limit on one text) in one sync:
    // over the relay's limit on one sync's changes to one document.
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    let mut text = || -> String {
        (0..9_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                char::from(b'a' + (x % 26) as u8)
            })
            .collect()
    };
    let (notes, packing, transport, after_sales) = (text(), text(), text(), text());
    phone.edit_order(order, |o, ctx| {
        o.set_details(
            ctx,
            OrderDetails {
                notes: notes.clone(),
                requirements: Requirements {
                    packing: packing.clone(),
                    transport: transport.clone(),
                    after_sales: after_sales.clone(),
                },
                ..Default::default()
            },
        )
        .unwrap()
    });
    let s = sync(&mut phone, &mut relay);
    assert_eq!(s.refused.len(), 1, "{s:?}");
    assert!(s.refused[0].1.contains("at most 10000"), "{:?}", s.refused);
    phone.store.discard_refused(order).unwrap();

    phone.nest(order, 12);
    let s = sync(&mut phone, &mut relay);
    assert_eq!(s.refused.len(), 1, "{s:?}");
    // Nesting no fieldsync document has: refused as a field no order has.
    assert!(
        s.refused[0]
            .1
            .contains("'level0' that no order document has"),
        "{:?}",
        s.refused
    );
    assert_eq!(relay.store().last_seq().unwrap(), before, "nothing stored");
}

#[test]
fn a_batch_commits_many_devices_at_once_and_orders_conflicting_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mut relay = relay_in(dir.path());
    let mut phone = Device::new(dir.path(), "phone", sales());
    let mut tablet = Device::new(dir.path(), "tablet", sales_tablet());
    let mut other = Device::new(dir.path(), "other", sales_wang());
    let c = customer_on(&mut phone);
    let order = phone.add_order(&c, 1, 1);
    sync(&mut phone, &mut relay);
    sync(&mut tablet, &mut relay);
    let line = phone.first_line(order);
    // Phone and tablet edit the same order; wang works on his own.
    phone.edit_order(order, |o, ctx| o.set_quantity(ctx, &line, d("4")).unwrap());
    tablet.edit_order(order, |o, ctx| {
        o.set_unit_price(ctx, &line, d("11")).unwrap()
    });
    let oc = customer_on(&mut other);
    let wang_order = other.add_order(&oc, 1, 2);
    let before = relay.store().last_seq().unwrap();
    let mut sessions: Vec<SyncSession> = (0..3).map(|_| SyncSession::new()).collect();
    let mut devices = [&mut phone, &mut tablet, &mut other];
    let mut batch = Vec::new();
    for (d, s) in devices.iter_mut().zip(sessions.iter_mut()) {
        let req = wire::decode_request(&s.next_request(&mut d.store).unwrap().unwrap()).unwrap();
        batch.push((d.sender.clone(), req));
    }
    let answers = relay.handle_batch(&batch);
    assert_eq!(answers.len(), 3);
    for ((d, s), a) in devices.into_iter().zip(sessions.iter_mut()).zip(answers) {
        let bytes = wire::encode_response(&a.unwrap()).unwrap();
        s.receive(&mut d.store, &bytes).unwrap();
    }
    assert_eq!(
        relay.store().last_seq().unwrap(),
        before + 4,
        "two edits, wang's customer and order"
    );
    sync(&mut phone, &mut relay);
    sync(&mut tablet, &mut relay);
    let (a, b) = (
        phone.order(order).read().unwrap(),
        tablet.order(order).read().unwrap(),
    );
    assert_eq!(a, b);
    assert_eq!(a.total(), d("44"));
    assert!(relay.store().load(wang_order).unwrap().is_some());
    assert_eq!(other.store.pending_count().unwrap(), 0);
}

#[test]
fn a_large_batch_is_decided_in_parallel_and_each_outcome_lands_on_its_document() {
    let dir = tempfile::tempdir().unwrap();
    let mut relay = relay_in(dir.path());
    let mut devices = [
        Device::new(dir.path(), "phone", sales()),
        Device::new(dir.path(), "wang", sales_wang()),
        Device::new(
            dir.path(),
            "zhao",
            ctx("zhao", Role::Salesperson, Some("west"), "phone-zhao"),
        ),
    ];
    let mut bad = Vec::new();
    for (n, device) in devices.iter_mut().enumerate() {
        let c = customer_on(device);
        for seq in 1..=6 {
            device.add_order(&c, seq, 2);
        }
        // One document per device that the relay must refuse: nested too deep.
        let order = device.add_order(&c, 7, 1);
        device.nest(order, 10 + n);
        bad.push(order);
    }
    let mut sessions: Vec<SyncSession> = devices.iter().map(|_| SyncSession::new()).collect();
    let mut batch = Vec::new();
    for (d, s) in devices.iter_mut().zip(sessions.iter_mut()) {
        let req = wire::decode_request(&s.next_request(&mut d.store).unwrap().unwrap()).unwrap();
        assert_eq!(req.pushes.len(), 8, "a customer and seven orders");
        batch.push((d.sender.clone(), req));
    }
    let pushed: Vec<Vec<DocId>> = batch
        .iter()
        .map(|(_, r)| r.pushes.iter().map(|p| DocId::from_bytes(p.doc)).collect())
        .collect();
    let answers = relay.handle_batch(&batch);
    for ((answer, ids), bad) in answers.into_iter().zip(&pushed).zip(&bad) {
        let answer = answer.unwrap();
        for (outcome, id) in answer.pushes.iter().zip(ids) {
            match outcome {
                wire::Outcome::Refused(reason) if id == bad => {
                    assert!(reason.contains("that no order document has"), "{reason}");
                }
                wire::Outcome::Accepted if id != bad => {}
                other => panic!("document {id}: unexpected {other:?}"),
            }
        }
    }
    assert_eq!(
        relay.store().last_seq().unwrap(),
        3 * 7,
        "all but the refused"
    );
    for (device, bad) in devices.iter().zip(&bad) {
        assert!(relay.store().load(*bad).unwrap().is_none());
        assert_eq!(device.store.list_kind(DocKind::Order).unwrap().len(), 7);
    }
}

#[test]
fn an_edit_made_while_a_sync_is_in_flight_stays_pending_and_goes_next_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut relay = relay_in(dir.path());
    let mut phone = Device::new(dir.path(), "phone", sales());
    let c = customer_on(&mut phone);
    let order = phone.add_order(&c, 1, 1);
    let line = phone.first_line(order);
    let mut session = SyncSession::new();
    let req = session.next_request(&mut phone.store).unwrap().unwrap();
    let answer = relay.handle(&phone.sender, &req).unwrap();
    // The salesperson changes the order while the answer is on its way.
    phone.edit_order(order, |o, ctx| o.set_quantity(ctx, &line, d("9")).unwrap());
    session.receive(&mut phone.store, &answer).unwrap();
    assert_eq!(
        phone.store.pending_count().unwrap(),
        1,
        "the customer is synced, the order's new quantity is not"
    );
    sync(&mut phone, &mut relay);
    assert_eq!(phone.store.pending_count().unwrap(), 0);
    let on_relay = relay.store().load(order).unwrap().unwrap();
    assert_eq!(
        on_relay.view::<Order>().unwrap().lines[&line].quantity,
        d("9")
    );
}

/// A head-office projection that cannot write one document's rows.
struct FailsOn(DocId);

impl fieldsync_core::store::Projection for FailsOn {
    fn project(&self, _: &rusqlite::Connection, content: &Content) -> Result<()> {
        if content.meta().id == self.0 {
            return Err(Error::Store("constraint failed".into()));
        }
        Ok(())
    }
}

#[test]
fn a_lone_document_the_store_cannot_take_does_not_fail_others_pulling_in_its_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mut li = Device::new(dir.path(), "li", sales());
    let mut wang = Device::new(dir.path(), "wang", sales_wang());
    let c = customer_on(&mut li);
    let poisoned = li.add_order(&c, 1, 1);
    let store = SqliteRelayStore::open(&dir.path().join("relay.db"))
        .unwrap()
        .with_projection(Box::new(FailsOn(poisoned)));
    let mut relay = Relay::new(store, fieldsync_core::rules::RolePolicy).unwrap();
    // The customer first, alone; then the order alone, beside wang's pull.
    let mut s1 = SyncSession::new();
    let r1 = wire::decode_request(&s1.next_request(&mut li.store).unwrap().unwrap()).unwrap();
    let (customer_push, order_push): (Vec<_>, Vec<_>) = r1
        .pushes
        .into_iter()
        .partition(|p| DocId::from_bytes(p.doc) == c.id());
    let first = wire::SyncRequest {
        pushes: customer_push,
        ..Default::default()
    };
    relay
        .handle_request(&li.sender, first)
        .expect("the customer is stored");
    let lone = wire::SyncRequest {
        pushes: order_push,
        ..Default::default()
    };
    let pull = wire::decode_request(
        &SyncSession::new()
            .next_request(&mut wang.store)
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    let answers = relay.handle_batch(&[(li.sender.clone(), lone), (wang.sender.clone(), pull)]);
    let [a1, a2]: [_; 2] = answers.try_into().unwrap();
    let a1 = a1.expect("li gets an answer");
    assert!(
        matches!(&a1.pushes[0], wire::Outcome::Refused(r) if r.contains("could not store")),
        "{a1:?}"
    );
    assert!(a2.is_ok(), "wang's pull is answered: {a2:?}");
}

#[test]
fn a_document_the_store_cannot_take_is_refused_alone_and_the_rest_of_the_batch_commits() {
    let dir = tempfile::tempdir().unwrap();
    let mut li = Device::new(dir.path(), "li", sales());
    let mut wang = Device::new(dir.path(), "wang", sales_wang());
    let (c1, c2) = (customer_on(&mut li), customer_on(&mut wang));
    let poisoned = li.add_order(&c1, 1, 1);
    let honest = wang.add_order(&c2, 2, 1);
    let store = SqliteRelayStore::open(&dir.path().join("relay.db"))
        .unwrap()
        .with_projection(Box::new(FailsOn(poisoned)));
    let mut relay = Relay::new(store, fieldsync_core::rules::RolePolicy).unwrap();
    // Both devices' requests in one batch (one commit).
    let (mut s1, mut s2) = (SyncSession::new(), SyncSession::new());
    let r1 = s1.next_request(&mut li.store).unwrap().unwrap();
    let r2 = s2.next_request(&mut wang.store).unwrap().unwrap();
    let answers = relay.handle_batch(&[
        (li.sender.clone(), wire::decode_request(&r1).unwrap()),
        (wang.sender.clone(), wire::decode_request(&r2).unwrap()),
    ]);
    let [a1, a2]: [_; 2] = answers.try_into().unwrap();
    let (a1, a2) = (a1.unwrap(), a2.unwrap());
    s1.receive(&mut li.store, &wire::encode_response(&a1).unwrap())
        .unwrap();
    s2.receive(&mut wang.store, &wire::encode_response(&a2).unwrap())
        .unwrap();
    let refused = &s1.summary().refused;
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].0, poisoned);
    assert!(refused[0].1.contains("could not store"), "{refused:?}");
    assert!(s2.summary().refused.is_empty(), "{:?}", s2.summary());
    // Everything but the poisoned order is on the relay.
    let ids = relay.store().ids().unwrap();
    for id in [c1.id(), c2.id(), honest] {
        assert!(ids.contains(&id), "{id} was stored");
    }
    assert!(!ids.contains(&poisoned));
}

#[test]
fn one_document_with_a_bad_signature_among_many_is_refused_alone() {
    let dir = tempfile::tempdir().unwrap();
    let mut relay = relay_in(dir.path());
    let mut phone = Device::new(dir.path(), "phone", sales());
    let c = customer_on(&mut phone);
    let orders: Vec<DocId> = (1..=12).map(|i| phone.add_order(&c, i, 2)).collect();
    // The app's store altered: one order's first change signed wrongly.
    let bad = orders[7];
    let first_change = phone
        .store
        .load(bad)
        .unwrap()
        .changes_after(&[])
        .first()
        .unwrap()
        .0;
    rusqlite::Connection::open(&phone.path)
        .unwrap()
        .execute(
            "UPDATE change_signatures SET signature = zeroblob(64) WHERE change = ?1",
            [first_change.0.to_vec()],
        )
        .unwrap();
    let s = sync(&mut phone, &mut relay);
    assert_eq!(s.refused.len(), 1, "{s:?}");
    assert_eq!(s.refused[0].0, bad);
    assert!(
        s.refused[0].1.contains("is not signed by device phone-li"),
        "{s:?}"
    );
    assert_eq!(s.sent, 12, "the customer and the eleven other orders");
    let ids = relay.store().ids().unwrap();
    assert!(orders.iter().all(|o| ids.contains(o) == (*o != bad)));
}

#[test]
fn reconcile_messages_automerge_would_choke_on_are_refused_and_the_relay_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut relay = relay_in(dir.path());
    let mut phone = Device::new(dir.path(), "phone", sales());
    let c = customer_on(&mut phone);
    let order = phone.add_order(&c, 1, 1);
    sync(&mut phone, &mut relay);
    let doc = *order.as_uuid().as_bytes();
    // 0 bits per entry (a division by zero in automerge 0.12), and 2^32 - 1
    // probes (a 16 GB allocation that aborts the process).
    let zero_bits = vec![0x42, 0, 0, 1, 0, 3, 1, 0, 7, 0];
    let many_probes = vec![
        0x42, 0, 0, 1, 0, 9, 1, 10, 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0, 0,
    ];
    for message in [zero_bits, many_probes] {
        let req = wire::SyncRequest {
            cursor: 0,
            pushes: vec![],
            reconcile: vec![wire::DocMessage {
                doc,
                message,
                signatures: vec![],
            }],
            ..Default::default()
        };
        let answer = relay.handle_request(&phone.sender, req).unwrap();
        assert!(
            matches!(&answer.reconcile_outcomes[0], wire::Outcome::Refused(r) if r.contains("filter")),
            "{answer:?}"
        );
    }
    // The relay goes on.
    phone.edit_order(order, |o, ctx| o.submit(ctx).unwrap());
    let s = sync(&mut phone, &mut relay);
    assert!(s.refused.is_empty() && s.sent == 1, "{s:?}");
}
