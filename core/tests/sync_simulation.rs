//! The sync protocol in process, without HTTP: a relay and devices with real
//! SQLite stores, answers lost, processes killed, backups restored.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};

use common::*;
use fieldsync_core::store::{DeviceStore, SqliteRelayStore};
use fieldsync_core::sync::RelayLimits;
use fieldsync_core::sync::{
    Policy, Relay, RelayStore, SyncSession, SyncSummary, VisibilityOnly, wire,
};
use fieldsync_core::*;

type TestRelay<P = VisibilityOnly> = Relay<SqliteRelayStore, P>;

struct Device {
    path: PathBuf,
    store: DeviceStore,
    ctx: ChangeCtx,
}

impl Device {
    fn new(dir: &Path, name: &str, ctx: ChangeCtx) -> Device {
        let path = dir.join(format!("{name}.db"));
        Device {
            store: DeviceStore::open(&path).unwrap(),
            path,
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

    fn edit_order(&mut self, id: DocId, f: impl FnOnce(&mut OrderDoc, &ChangeCtx)) {
        let mut o = self.order(id);
        f(&mut o, &self.ctx);
        self.store.save(o.document()).unwrap();
    }
}

/// Syncs until the session is done; returns its summary.
fn sync<P: Policy>(device: &mut Device, relay: &mut TestRelay<P>) -> SyncSummary {
    let mut session = SyncSession::new();
    while let Some(req) = session.next_request(&mut device.store).unwrap() {
        let resp = relay.handle(&device.ctx.actor, &req).unwrap();
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

fn relay_in(dir: &Path) -> TestRelay {
    Relay::new(
        SqliteRelayStore::open(&dir.join("relay.db")).unwrap(),
        VisibilityOnly,
    )
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
    assert!(
        s.bytes_up + s.bytes_down <= 64,
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
    let line = phone
        .order(order)
        .read()
        .unwrap()
        .lines
        .keys()
        .next()
        .unwrap()
        .clone();
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
    let _lost = relay.handle(&phone.ctx.actor, &req).unwrap();
    let log_after_first = relay.store().last_seq().unwrap();
    // The same request again, as a retry after a timeout.
    let resp = relay.handle(&phone.ctx.actor, &req).unwrap();
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
    relay.handle(&phone.ctx.actor, &req).unwrap();
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
    let line = phone
        .order(first)
        .read()
        .unwrap()
        .lines
        .keys()
        .next()
        .unwrap()
        .clone();
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
    let relay_path = dir.path().join("relay.db");
    let mut relay = relay_in(dir.path());
    let mut phone = Device::new(dir.path(), "phone", sales());
    let mut tablet = Device::new(dir.path(), "tablet", sales_tablet());
    let c = customer_on(&mut phone);
    let first = phone.add_order(&c, 1, 1);
    sync(&mut phone, &mut relay);
    drop(relay);
    let backup = dir.path().join("relay-backup.db");
    std::fs::copy(&relay_path, &backup).unwrap();
    let mut relay = relay_in(dir.path());
    let second = phone.add_order(&c, 2, 2);
    let line = phone
        .order(first)
        .read()
        .unwrap()
        .lines
        .keys()
        .next()
        .unwrap()
        .clone();
    phone.edit_order(first, |o, ctx| o.set_quantity(ctx, &line, d("3")).unwrap());
    sync(&mut phone, &mut relay);
    // Disaster: the relay comes back from the backup, without the last sync.
    drop(relay);
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", relay_path.display()));
    }
    std::fs::copy(&backup, &relay_path).unwrap();
    let mut relay = relay_in(dir.path());
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
    let relay_path = dir.path().join("relay.db");
    let mut relay = relay_in(dir.path());
    let mut phone = Device::new(dir.path(), "phone", sales());
    let mut other = Device::new(
        dir.path(),
        "other",
        ctx("wang", Role::Salesperson, Some("east"), "phone-wang"),
    );
    let c = customer_on(&mut phone);
    let order = phone.add_order(&c, 1, 1);
    sync(&mut phone, &mut relay);
    drop(relay);
    let backup = dir.path().join("relay-backup.db");
    std::fs::copy(&relay_path, &backup).unwrap();
    let mut relay = relay_in(dir.path());
    let line = phone
        .order(order)
        .read()
        .unwrap()
        .lines
        .keys()
        .next()
        .unwrap()
        .clone();
    phone.edit_order(order, |o, ctx| o.set_quantity(ctx, &line, d("8")).unwrap());
    sync(&mut phone, &mut relay);
    drop(relay);
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", relay_path.display()));
    }
    std::fs::copy(&backup, &relay_path).unwrap();
    let mut relay = relay_in(dir.path());
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
}

/// Refuses orders worth more than 1,000, as a stand-in for the relay's rules.
struct Cap;
impl Policy for Cap {
    fn check(&self, _: &Actor, _: Option<&Document>, after: &Document) -> Result<(), String> {
        let Ok(o) = after.view::<Order>() else {
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
