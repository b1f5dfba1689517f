//! A modified phone app against the real relay: raw Automerge changes pushed
//! over `/v1/sync` with real device tokens, each refused with a reason that
//! names what is wrong, and nothing of it stored; and the credit rules as an
//! honest department meets them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{AutoCommit, ObjType, ROOT, ReadDoc, ScalarValue, Value};
use chrono::Utc;
use fieldsync_core::sync::RelayStore;
use fieldsync_core::*;
use fieldsync_tests::*;
use rust_decimal::Decimal;

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

struct World {
    _dir: tempfile::TempDir,
    relay: TestRelay,
    li: Phone,
    wang: Phone,
    zhao_phone: Phone,
    wu_phone: Phone,
    zheng_phone: Phone,
    manager: String,
    desk: String,
    warehouse: String,
    finance: String,
    admin: String,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start(dir.path());
    relay.user("li", Role::Salesperson, Some("east"));
    relay.user("wang", Role::Salesperson, Some("east"));
    let manager = relay.user("zhao", Role::Manager, Some("east"));
    let desk = relay.user("sun", Role::OrderDesk, None);
    let warehouse = relay.user("wu", Role::Warehouse, None);
    let finance = relay.user("zheng", Role::Finance, None);
    let admin = relay.user("root", Role::Admin, None);
    let url = relay.url();
    let phone = |name: &str| Phone::enroll(&url, dir.path(), name, &relay.code(name));
    World {
        li: phone("li"),
        wang: phone("wang"),
        zhao_phone: phone("zhao"),
        wu_phone: phone("wu"),
        zheng_phone: phone("zheng"),
        _dir: dir,
        relay,
        manager,
        desk,
        warehouse,
        finance,
        admin,
    }
}

impl World {
    /// A prospect of `p`, synced; with credit terms set by finance when `limit` is given.
    fn customer(&mut self, who: &str, limit: Option<&str>) -> Customer {
        let p = self.phone(who);
        let mut c =
            CustomerDoc::create_prospect(&p.ctx(), &format!("Shop of {who}"), "1 Road").unwrap();
        p.store.save(c.document()).unwrap();
        let id = c.read().unwrap().id();
        p.sync().unwrap();
        if let Some(limit) = limit {
            self.ok(
                &self.finance.clone(),
                &format!("/v1/customers/{id}/credit"),
                serde_json::json!({"payment_terms": "credit", "credit_days": 30, "amount": limit}),
            );
        }
        let p = self.phone(who);
        p.sync().unwrap();
        p.store.load(id).unwrap().view().unwrap()
    }

    fn phone(&mut self, who: &str) -> &mut Phone {
        match who {
            "li" => &mut self.li,
            "wang" => &mut self.wang,
            "zhao" => &mut self.zhao_phone,
            "wu" => &mut self.wu_phone,
            "zheng" => &mut self.zheng_phone,
            other => panic!("no phone for {other}"),
        }
    }

    /// An order of li's for `c` (one line: `qty` × `price`), submitted and synced.
    fn order(&mut self, c: &Customer, qty: &str, price: &str) -> DocId {
        let p = &mut self.li;
        let ctx = p.ctx();
        let number = p.store.next_order_number(Utc::now().date_naive()).unwrap();
        let mut o = OrderDoc::create(
            &ctx,
            c,
            NewOrder {
                number,
                channel: Channel::Visit,
                reorder_kind: None,
                delivery_date: None,
                evidence: "signed order form".into(),
            },
        )
        .unwrap();
        o.add_line(
            &ctx,
            NewLine {
                product: "TS-1".into(),
                name: "Cotton shirt".into(),
                variant: "red/M".into(),
                unit: "pcs".into(),
                quantity: d(qty),
                unit_price: d(price),
                discount_percent: Decimal::ZERO,
            },
        )
        .unwrap();
        o.submit(&ctx).unwrap();
        p.store.save(o.document()).unwrap();
        let s = p.sync().unwrap();
        assert!(s.refused.is_empty(), "{s:?}");
        o.read().unwrap().id()
    }

    /// Posts a head-office action and expects it to succeed.
    fn ok(&self, token: &str, path: &str, body: serde_json::Value) -> serde_json::Value {
        let a = self.relay.api(token).post(path, body);
        assert_eq!(a.status, 200, "{path}: {}", a.error());
        a.json()
    }

    /// Walks an order through head office to `upto` (approved, confirmed,
    /// in_stock, shipped).
    fn walk(&self, order: DocId, upto: &str) {
        let steps = [
            ("approved", &self.manager, "approve"),
            ("confirmed", &self.desk, "confirm"),
            ("in_stock", &self.warehouse, "in-stock"),
            ("shipped", &self.warehouse, "ship"),
        ];
        for (status, token, action) in steps {
            self.ok(
                token,
                &format!("/v1/orders/{order}/{action}"),
                serde_json::json!({}),
            );
            if status == upto {
                return;
            }
        }
    }

    /// The receivables report's row for `c`.
    fn receivables_of(&self, c: &Customer) -> serde_json::Value {
        let recv = self
            .relay
            .api(&self.finance)
            .get("/v1/reports/receivables")
            .json();
        recv.as_array()
            .unwrap()
            .iter()
            .find(|r| r["customer"] == c.name.as_str())
            .unwrap()
            .clone()
    }

    fn status(&self, order: DocId) -> String {
        let a = self
            .relay
            .api(&self.admin)
            .get(&format!("/v1/orders/{order}"));
        assert_eq!(a.status, 200, "{}", a.error());
        a.json()["status"].as_str().unwrap().to_string()
    }

    /// Syncs `who`'s phone, expects `id` refused with a reason containing
    /// `needle`, checks the relay kept nothing of it, and discards it.
    fn refused(&mut self, who: &str, id: DocId, needle: &str) -> String {
        let before = self
            .relay
            .state
            .relay()
            .store()
            .load(id)
            .unwrap()
            .map(|mut d| {
                let mut h = d.heads();
                h.sort();
                h
            });
        let p = self.phone(who);
        let s = p
            .sync()
            .unwrap_or_else(|e| panic!("{who}'s sync failed: {e}"));
        let reason = s
            .refused
            .iter()
            .find(|(doc, _)| *doc == id)
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| panic!("{id} was not refused: {s:?}"));
        assert!(reason.contains(needle), "expected '{needle}' in: {reason}");
        p.store.discard_refused(id).unwrap();
        let after = self
            .relay
            .state
            .relay()
            .store()
            .load(id)
            .unwrap()
            .map(|mut d| {
                let mut h = d.heads();
                h.sort();
                h
            });
        assert_eq!(
            before, after,
            "the relay stored nothing of the refused change"
        );
        reason
    }
}

/// The change message a phone's own changes carry.
fn message(p: &Phone) -> String {
    let a = &p.actor;
    let mut m = format!(
        "fieldsync/1 user={} role={} device={}",
        a.user(),
        a.role(),
        a.device()
    );
    if let Some(r) = a.region() {
        m.push_str(&format!(" region={r}"));
    }
    m
}

/// A modified app's edit: raw Automerge operations on the phone's copy of
/// `id`, committed as one change with `message`, saved as the app would.
fn tamper_as(p: &mut Phone, id: DocId, message: &str, edit: impl FnOnce(&mut AutoCommit)) {
    let mut doc = p.store.load(id).unwrap();
    let mut am = AutoCommit::load(&doc.save()).unwrap();
    edit(&mut am);
    am.commit_with(CommitOptions::default().with_message(message.to_string()));
    let mut edited = Document::load(&am.save()).unwrap();
    p.store.save(&mut edited).unwrap();
}

/// [`tamper_as`] under the phone's own, honest author line.
fn tamper(p: &mut Phone, id: DocId, edit: impl FnOnce(&mut AutoCommit)) {
    let m = message(p);
    tamper_as(p, id, &m, edit);
}

fn events(am: &AutoCommit) -> automerge::ObjId {
    am.get(ROOT, "events").unwrap().unwrap().1
}

/// The scalar fields of event `i`.
fn event(am: &AutoCommit, i: usize) -> Vec<(String, ScalarValue)> {
    let list = events(am);
    let ev = am.get(&list, i).unwrap().unwrap().1;
    am.keys(&ev)
        .map(|k| {
            let v = match am.get(&ev, k.as_str()).unwrap().unwrap().0 {
                Value::Scalar(s) => s.into_owned(),
                Value::Object(_) => panic!("events hold scalars"),
            };
            (k, v)
        })
        .collect()
}

fn insert_event(am: &mut AutoCommit, at: usize, fields: &[(String, ScalarValue)]) {
    let list = events(am);
    let ev = am.insert_object(&list, at, ObjType::Map).unwrap();
    for (k, v) in fields {
        am.put(&ev, k.as_str(), v.clone()).unwrap();
    }
}

fn set(fields: &mut [(String, ScalarValue)], key: &str, value: ScalarValue) {
    for (k, v) in fields.iter_mut() {
        if k == key {
            *v = value.clone();
        }
    }
}

fn first_line(am: &AutoCommit) -> automerge::ObjId {
    let lines = am.get(ROOT, "lines").unwrap().unwrap().1;
    let key = am.keys(&lines).next().unwrap();
    am.get(&lines, key.as_str()).unwrap().unwrap().1
}

fn meta(am: &AutoCommit) -> automerge::ObjId {
    am.get(ROOT, "meta").unwrap().unwrap().1
}

#[test]
fn rewritten_histories_are_refused() {
    let mut w = world();
    let c = w.customer("li", Some("100000"));

    // A shipped order put back in stock, then cancelled: the last two steps swapped
    // and a cancellation added.
    let shipped = w.order(&c, "10", "12.50");
    w.walk(shipped, "shipped");
    w.li.sync().unwrap();
    tamper(&mut w.li, shipped, |am| {
        let n = am.length(events(am));
        let ship = event(am, n - 1);
        am.delete(events(am), n - 1).unwrap();
        insert_event(am, n - 2, &ship);
        let mut cancel = event(am, 0);
        set(&mut cancel, "id", "forged-cancel".into());
        set(&mut cancel, "action", "Cancel".into());
        set(&mut cancel, "from", "InStock".into());
        set(&mut cancel, "to", "Cancelled".into());
        set(&mut cancel, "reason", "never mind".into());
        insert_event(am, n, &cancel);
    });
    w.refused("li", shipped, "cannot be rewritten");
    assert_eq!(w.status(shipped), "shipped");

    // A manager's rejection moved before the approval that followed it.
    let rejected = w.order(&c, "1", "1");
    w.ok(
        &w.manager.clone(),
        &format!("/v1/orders/{rejected}/reject"),
        serde_json::json!({"reason": "wrong price"}),
    );
    w.li.sync().unwrap();
    tamper(&mut w.li, rejected, |am| {
        // [submit, reject] → [reject, submit]
        let reject = event(am, 1);
        am.delete(events(am), 1).unwrap();
        insert_event(am, 0, &reject);
    });
    w.refused("li", rejected, "cannot be rewritten");
    assert_eq!(w.status(rejected), "rejected");

    // An exact copy of an existing step: no signature needed to copy it.
    let copied = w.order(&c, "2", "3");
    tamper(&mut w.li, copied, |am| {
        let submit = event(am, 0);
        insert_event(am, 1, &submit);
    });
    w.refused("li", copied, "twice");
    // The head-office tables kept working: the next honest sync is fine.
    let next = w.order(&c, "1", "1");
    assert_eq!(w.status(next), "submitted");
}

#[test]
fn steps_are_judged_by_the_relays_status_not_their_own_from() {
    let mut w = world();
    let c = w.customer("li", Some("100000"));
    let approved = w.order(&c, "10", "12.50");
    w.walk(approved, "approved");
    w.li.sync().unwrap();
    // The salesperson's app cancels the approved order, writing "from: draft".
    tamper(&mut w.li, approved, |am| {
        let n = am.length(events(am));
        let mut cancel = event(am, 0);
        set(&mut cancel, "id", "cancel-1".into());
        set(&mut cancel, "action", "Cancel".into());
        set(&mut cancel, "from", "Draft".into());
        set(&mut cancel, "to", "Cancelled".into());
        set(&mut cancel, "reason", "customer changed their mind".into());
        insert_event(am, n, &cancel);
    });
    w.refused(
        "li",
        approved,
        "cannot cancel orders that a manager has approved",
    );
    assert_eq!(w.status(approved), "approved");

    // A step whose recorded target is not where it leads: a cancellation
    // that says it archived the order.
    let submitted = w.order(&c, "1", "1");
    tamper(&mut w.li, submitted, |am| {
        let mut cancel = event(am, 0);
        set(&mut cancel, "id", "c-2".into());
        set(&mut cancel, "action", "Cancel".into());
        set(&mut cancel, "from", "Submitted".into());
        set(&mut cancel, "to", "Archived".into());
        set(&mut cancel, "reason", "duplicate".into());
        insert_event(am, 1, &cancel);
    });
    w.refused("li", submitted, "says it leads to archived");
    assert_eq!(w.status(submitted), "submitted");
}

#[test]
fn values_outside_their_limits_are_refused_naming_the_field() {
    let mut w = world();
    let c = w.customer("li", Some("100000"));
    let order = w.order(&c, "10", "12.50");
    let cases: Vec<(&str, ScalarValue, &str)> = vec![
        (
            "quantity",
            "-3".into(),
            "quantity is -3; it must be more than zero",
        ),
        (
            "quantity",
            "0".into(),
            "quantity is 0; it must be more than zero",
        ),
        (
            "unit_price",
            "-1".into(),
            "unit price is -1; it must not be negative",
        ),
        (
            "discount_percent",
            "150".into(),
            "discount is 150; it must be a percentage",
        ),
        // Near Decimal::MAX: its line total overflowed (a panic) before.
        (
            "quantity",
            "79228162514264337593543950335".into(),
            "quantity is 79228162514264337593543950335; at most 1000000000000",
        ),
        ("unit", "x".repeat(300).into(), "unit is 300 bytes long"),
    ];
    for (field, value, needle) in cases {
        tamper(&mut w.li, order, |am| {
            let line = first_line(am);
            am.put(&line, field, value).unwrap();
        });
        w.refused("li", order, needle);
    }
    // A delivery date in the year 262142 (a panic in the head-office tables before).
    tamper(&mut w.li, order, |am| {
        am.put(ROOT, "delivery_date", "+262142-12-31").unwrap();
    });
    w.refused("li", order, "");

    // Finance's phone publishing negative receivables, and credit days of 2^63.
    let cust = c.id();
    w.zheng_phone.sync().unwrap();
    tamper(&mut w.zheng_phone, cust, |am| {
        am.put(ROOT, "receivables", "-5").unwrap();
    });
    w.refused(
        "zheng",
        cust,
        "the receivables is -5; it must not be negative",
    );
    let admin_phone_like = message(&w.zheng_phone);
    tamper_as(&mut w.zheng_phone, cust, &admin_phone_like, |am| {
        am.put(ROOT, "credit_days", ScalarValue::Uint(1 << 63))
            .unwrap();
    });
    w.refused("zheng", cust, "the credit days is 9223372036854775808");
    assert_eq!(w.status(order), "submitted");
}

#[test]
fn oversized_text_and_fields_no_document_has_are_refused() {
    let mut w = world();
    let c = w.customer("li", None);
    let order = w.order(&c, "1", "1");
    // 200 KB of notes: a few hundred bytes once compressed.
    tamper(&mut w.li, order, |am| {
        am.put(ROOT, "notes", "x".repeat(200_000)).unwrap();
    });
    w.refused("li", order, "notes is 200000 bytes long");
    // The same in a text object of a field no order has.
    tamper(&mut w.li, order, |am| {
        let t = am.put_object(ROOT, "essay", ObjType::Text).unwrap();
        am.splice_text(&t, 0, 0, &"y".repeat(20_000)).unwrap();
    });
    w.refused("li", order, "'essay' that no order document has");
    // 100,000 keys that no fieldsync document has.
    tamper(&mut w.li, order, |am| {
        let junk = am.put_object(ROOT, "junk", ObjType::Map).unwrap();
        for i in 0..100_000 {
            am.put(&junk, format!("k{i}"), i).unwrap();
        }
    });
    w.refused("li", order, "'junk' that no order document has");
    assert_eq!(w.status(order), "submitted");
}

#[test]
fn an_order_follows_its_customer() {
    let mut w = world();
    let mine = w.customer("li", None);
    let wangs = w.customer("wang", Some("1000000"));
    // An order naming another salesperson's customer (with a bigger limit).
    let order = w.order(&mine, "1", "1");
    tamper(&mut w.li, order, |am| {
        am.put(
            ROOT,
            "customer",
            ScalarValue::Bytes(wangs.id().as_uuid().as_bytes().to_vec()),
        )
        .unwrap();
    });
    w.refused("li", order, "a customer who is not yours");
    // An order naming a customer head office does not know.
    tamper(&mut w.li, order, |am| {
        am.put(
            ROOT,
            "customer",
            ScalarValue::Bytes(DocId::new().as_uuid().as_bytes().to_vec()),
        )
        .unwrap();
    });
    w.refused("li", order, "which head office does not know");

    // A new order filed under another region, and under none.
    for region in [Some("west"), None] {
        let ctx = w.li.ctx();
        let number =
            w.li.store
                .next_order_number(Utc::now().date_naive())
                .unwrap();
        let mut o = OrderDoc::create(
            &ctx,
            &mine,
            NewOrder {
                number,
                channel: Channel::Phone,
                reorder_kind: None,
                delivery_date: None,
                evidence: "fax".into(),
            },
        )
        .unwrap();
        let id = o.read().unwrap().id();
        w.li.store.save(o.document()).unwrap();
        tamper(&mut w.li, id, |am| {
            let m = meta(am);
            match region {
                Some(r) => am.put(&m, "region", r).unwrap(),
                None => am.put(&m, "region", ScalarValue::Null).unwrap(),
            }
        });
        w.refused("li", id, "salesperson and region follow its customer");
    }
}

#[test]
fn a_change_says_who_made_it_truthfully() {
    let mut w = world();
    let c = w.customer("li", None);
    let order = w.order(&c, "1", "1");
    // Li's phone writes a change claiming to be zhao the manager.
    let device = w.li.actor.device().to_string();
    tamper_as(
        &mut w.li,
        order,
        &format!("fieldsync/1 user=zhao role=manager device={device} region=east"),
        |am| {
            am.put(ROOT, "notes", "approved by phone, trust me")
                .unwrap();
        },
    );
    w.refused("li", order, "made by zhao (manager)");
    // Or claiming nobody at all.
    tamper_as(&mut w.li, order, "just a change", |am| {
        am.put(ROOT, "notes", "who knows").unwrap();
    });
    w.refused("li", order, "does not say who made it");
    // The per-field history credits only li.
    let mut relay = w.relay.state.relay();
    let mut doc = relay.store().load(order).unwrap().unwrap();
    assert!(
        doc.history()
            .iter()
            .all(|h| h.actor.as_ref().is_some_and(|a| a.user() == "li")),
        "{:?}",
        doc.history()
    );
}

/// Changes another device made are accepted on that device's signature (a
/// phone sends them back after the relay was restored), so naming another
/// device, head office or a revoked phone gets nothing past the relay.
#[test]
fn a_change_in_another_devices_name_needs_that_devices_signature() {
    let mut w = world();
    let c = w.customer("li", None);
    let order = w.order(&c, "1", "1");
    // What the modified app sends: the edit, signed with li's own key.
    let approve = |am: &mut AutoCommit| {
        am.put(ROOT, "notes", "approved, honestly").unwrap();
    };
    let forged = |w: &mut World, message: &str| {
        tamper_as(&mut w.li, order, message, approve);
        let db = phone_db(&w.li);
        let secret: Vec<u8> = db
            .query_row(
                "SELECT value FROM settings WHERE key = 'signing_key'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let key = fieldsync_core::signing::DeviceKey::from_bytes(&secret).unwrap();
        for (hash, _) in w.li.store.load(order).unwrap().changes_after(&[]) {
            let s = key.sign(&hash);
            db.execute(
                "INSERT OR IGNORE INTO change_signatures (change, signature) VALUES (?1, ?2)",
                rusqlite::params![s.change.to_vec(), s.signature],
            )
            .unwrap();
        }
    };
    // Zhao's real phone, signed with li's key.
    let zhao = message(&w.zhao_phone);
    forged(&mut w, &zhao);
    let zhao_device = w.zhao_phone.actor.device().to_string();
    w.refused(
        "li",
        order,
        &format!("is not signed by device {zhao_device}'s key"),
    );
    // Head office, signed with li's key.
    forged(
        &mut w,
        "fieldsync/1 user=sun role=order_desk device=head-office",
    );
    w.refused("li", order, "is not signed by device head-office's key");
    // Head office in the name of someone head office does not know.
    forged(
        &mut w,
        "fieldsync/1 user=nobody role=admin device=head-office",
    );
    w.refused("li", order, "which this relay does not know");
    // A real user, but not in the role the change claims.
    forged(&mut w, "fieldsync/1 user=sun role=admin device=head-office");
    w.refused("li", order, "enrolled for someone else");
    // Wang's phone, revoked: not even its own signature would do.
    let wang_device = w.wang.actor.device().to_string();
    {
        let mut relay = w.relay.state.relay();
        fieldsync_server::accounts::revoke_device(relay.store().connection(), &wang_device)
            .unwrap();
    }
    let wang = message(&w.wang);
    forged(&mut w, &wang);
    w.refused("li", order, "does not know (or has revoked)");
}

#[test]
fn a_line_changed_after_approval_in_any_field_needs_a_new_approval() {
    let mut w = world();
    let c = w.customer("li", Some("100000"));
    for (field, value) in [("unit", "box of 100"), ("name", "Silk shirt")] {
        let order = w.order(&c, "10", "12.50");
        w.walk(order, "approved");
        w.li.sync().unwrap();
        // "10 pcs" becomes "10 box of 100".
        tamper(&mut w.li, order, |am| {
            let line = first_line(am);
            am.put(&line, field, value).unwrap();
        });
        let s = w.li.sync().unwrap();
        assert!(s.refused.is_empty(), "{s:?}");
        assert_eq!(w.status(order), "changed_after_approval", "{field}");
    }
}

#[test]
fn credit_is_checked_on_every_approval_and_shipment_whatever_way_it_arrives() {
    let mut w = world();
    let c = w.customer("li", Some("1000"));
    // Three orders of 900 on a limit of 1,000: the first is approved, the
    // second would take the exposure to 1,800.
    let orders = [
        w.order(&c, "9", "100"),
        w.order(&c, "9", "100"),
        w.order(&c, "9", "100"),
    ];
    w.ok(
        &w.manager.clone(),
        &format!("/v1/orders/{}/approve", orders[0]),
        serde_json::json!({}),
    );
    let a = w.relay.api(&w.manager).post(
        &format!("/v1/orders/{}/approve", orders[1]),
        serde_json::json!({}),
    );
    assert_eq!(a.status, 409, "{}", a.error());
    assert!(
        a.error()
            .contains("open orders 900.00 + this order 900.00 exceed the credit limit 1000.00"),
        "{}",
        a.error()
    );

    // The manager's phone, offline and on stale figures (a modified app
    // passing a limit of a million), approves the second: refused on arrival.
    w.zhao_phone.sync().unwrap();
    let mut o = OrderDoc::from_document(w.zhao_phone.store.load(orders[1]).unwrap()).unwrap();
    let mut generous = c.clone();
    generous.credit_limit = d("1000000");
    o.approve(&w.zhao_phone.ctx(), &generous, None).unwrap();
    w.zhao_phone.store.save(o.document()).unwrap();
    w.refused("zhao", orders[1], "credit hold");
    assert_eq!(w.status(orders[1]), "submitted");

    // With an override and a reason it goes through, and the receivables
    // report shows the exposure and the override.
    w.ok(
        &w.manager.clone(),
        &format!("/v1/orders/{}/approve", orders[1]),
        serde_json::json!({"credit_override_reason": "owner guarantees payment"}),
    );
    let row = w.receivables_of(&c);
    assert_eq!(row["open_orders_unpaid"], "1800.00");
    assert_eq!(row["credit_exposure"], "1800.00");
    assert_eq!(row["credit_headroom"], "-800.00");
    assert_eq!(row["credit_overrides"], "1");

    // Shipping the first checks the exposure again: over the limit now.
    w.ok(
        &w.desk.clone(),
        &format!("/v1/orders/{}/confirm", orders[0]),
        serde_json::json!({}),
    );
    w.ok(
        &w.warehouse.clone(),
        &format!("/v1/orders/{}/in-stock", orders[0]),
        serde_json::json!({}),
    );
    let a = w.relay.api(&w.warehouse).post(
        &format!("/v1/orders/{}/ship", orders[0]),
        serde_json::json!({}),
    );
    assert_eq!(a.status, 409, "{}", a.error());
    // The warehouse's phone, passing a generous customer, ships it: refused.
    w.wu_phone.sync().unwrap();
    let mut o = OrderDoc::from_document(w.wu_phone.store.load(orders[0]).unwrap()).unwrap();
    o.ship(&w.wu_phone.ctx(), &generous, Shipment::default(), None)
        .unwrap();
    w.wu_phone.store.save(o.document()).unwrap();
    w.refused("wu", orders[0], "credit hold");
    assert_eq!(w.status(orders[0]), "in_stock");
}

#[test]
fn a_cash_order_ships_only_once_paid_even_by_sync() {
    let mut w = world();
    let cash = w.customer("li", None);
    let order = w.order(&cash, "4", "25");
    w.walk(order, "in_stock");
    w.wu_phone.sync().unwrap();
    let mut o = OrderDoc::from_document(w.wu_phone.store.load(order).unwrap()).unwrap();
    let mut on_credit = cash.clone();
    on_credit.payment_terms = PaymentTerms::Credit;
    on_credit.credit_limit = d("1000000");
    o.ship(&w.wu_phone.ctx(), &on_credit, Shipment::default(), None)
        .unwrap();
    w.wu_phone.store.save(o.document()).unwrap();
    w.refused("wu", order, "pays cash");
    assert_eq!(w.status(order), "in_stock");
    // Paid in full, it ships.
    w.ok(
        &w.finance.clone(),
        &format!("/v1/orders/{order}/payments"),
        serde_json::json!({"amount": "100", "reference": "cash at the counter"}),
    );
    w.ok(
        &w.warehouse.clone(),
        &format!("/v1/orders/{order}/ship"),
        serde_json::json!({}),
    );
    assert_eq!(w.status(order), "shipped");
}

#[test]
fn the_phone_headroom_and_the_relay_use_the_same_exposure() {
    let mut w = world();
    let c = w.customer("li", Some("1000"));
    let first = w.order(&c, "6", "100");
    w.walk(first, "approved");
    w.li.sync().unwrap();
    let orders = w.li.store.credit_orders().unwrap();
    let on_phone = CreditExposure::new(&c, &orders, None);
    assert_eq!(on_phone.total(), d("600"));
    assert_eq!(on_phone.headroom(), d("400"));
    let row = w.receivables_of(&c);
    assert_eq!(row["credit_headroom"], "400.00");
}

/// The phone's own signature store, opened beside the app.
fn phone_db(p: &Phone) -> rusqlite::Connection {
    rusqlite::Connection::open(&p.path).unwrap()
}

#[test]
fn every_change_is_signed_by_the_device_it_names() {
    let mut w = world();
    let c = w.customer("li", None);
    let order = w.order(&c, "1", "1");

    // A forged signature: the app's store altered.
    let edit = |w: &mut World, text: &str| {
        let mut o = OrderDoc::from_document(w.li.store.load(order).unwrap()).unwrap();
        let details = o.read().unwrap();
        o.set_details(
            &w.li.ctx(),
            OrderDetails {
                delivery: details.delivery,
                requirements: details.requirements,
                evidence: details.evidence,
                deposit: details.deposit,
                customer_reference: details.customer_reference,
                notes: text.into(),
            },
        )
        .unwrap();
        w.li.store.save(o.document()).unwrap();
    };
    edit(&mut w, "first");
    phone_db(&w.li)
        .execute("UPDATE change_signatures SET signature = zeroblob(64)", [])
        .unwrap();
    w.refused("li", order, "is not signed by device");
    // A change sent without its signature.
    edit(&mut w, "second");
    phone_db(&w.li)
        .execute("DELETE FROM change_signatures", [])
        .unwrap();
    w.refused("li", order, "came without its signature");
    // Signed with another key than the one the relay holds for the device.
    phone_db(&w.li)
        .execute("DELETE FROM settings WHERE key = 'signing_key'", [])
        .unwrap();
    w.li.store.device_key().unwrap();
    edit(&mut w, "third");
    w.refused("li", order, "is not signed by device");

    // A device enrolled before changes were signed has no key on the relay.
    {
        let mut relay = w.relay.state.relay();
        relay
            .store()
            .connection()
            .execute(
                "UPDATE devices SET public_key = NULL WHERE id = ?1",
                [w.wang.actor.device()],
            )
            .unwrap();
    }
    let mut p = CustomerDoc::create_prospect(&w.wang.ctx(), "Old phone's shop", "").unwrap();
    w.wang.store.save(p.document()).unwrap();
    let id = p.read().unwrap().id();
    w.refused("wang", id, "has no signing key");
}

#[test]
fn a_phone_enrolled_before_signing_registers_its_key_and_keeps_its_work() {
    let mut w = world();
    // Wang's phone as an older app left it: no key in its store or on the
    // relay, and a day's work saved unsigned.
    {
        let mut relay = w.relay.state.relay();
        relay
            .store()
            .connection()
            .execute(
                "UPDATE devices SET public_key = NULL WHERE id = ?1",
                [w.wang.actor.device()],
            )
            .unwrap();
    }
    let db = phone_db(&w.wang);
    db.execute("DELETE FROM settings WHERE key = 'signing_key'", [])
        .unwrap();
    db.execute("DELETE FROM change_signatures", []).unwrap();
    let mut p = CustomerDoc::create_prospect(&w.wang.ctx(), "Wang's old shop", "").unwrap();
    w.wang.store.save(p.document()).unwrap();
    let id = p.read().unwrap().id();
    assert!(!w.wang.store.has_device_key().unwrap());
    // The updated app makes its key (signing what it did before) and
    // registers it once.
    let key = w.wang.store.device_key().unwrap().to_hex();
    let phone_api = w.relay.api(&w.wang.token);
    let a = phone_api.post("/v1/device-key", serde_json::json!({ "public_key": key }));
    assert_eq!(a.status, 200, "{}", a.error());
    let s = w.wang.sync().unwrap();
    assert!(s.refused.is_empty(), "{s:?}");
    assert_eq!(s.sent, 1);
    assert!(w.relay.state.relay().store().load(id).unwrap().is_some());
    // The key is not replaced that way.
    let other = fieldsync_core::store::DeviceStore::open_in_memory()
        .unwrap()
        .device_key()
        .unwrap()
        .to_hex();
    let a = phone_api.post("/v1/device-key", serde_json::json!({ "public_key": other }));
    assert_eq!(a.status, 403, "{}", a.error());
    assert!(
        a.error().contains("already has a signing key"),
        "{}",
        a.error()
    );
}

#[test]
fn signatures_travel_with_the_changes_to_the_relay_and_other_devices() {
    let mut w = world();
    let c = w.customer("li", Some("100000"));
    let order = w.order(&c, "10", "12.50");
    w.walk(order, "approved");
    w.zhao_phone.sync().unwrap();
    // Every change of the order on the manager's phone has a signature that
    // verifies: li's by li's phone's key, the approval by the relay's key.
    let li_key = w.li.store.device_key().unwrap();
    let office_key = w.relay.state.relay().office_key();
    let mut doc = w.zhao_phone.store.load(order).unwrap();
    let db = phone_db(&w.zhao_phone);
    let mut by_li = 0;
    let mut by_office = 0;
    for (hash, author) in doc.changes_after(&[]) {
        let signature: Vec<u8> = db
            .query_row(
                "SELECT signature FROM change_signatures WHERE change = ?1",
                [hash.0.to_vec()],
                |r| r.get(0),
            )
            .unwrap_or_else(|e| panic!("no signature for {hash} on the manager's phone: {e}"));
        let sig = fieldsync_core::signing::ChangeSignature {
            change: hash.0,
            signature,
        };
        match author.unwrap().device() {
            "head-office" => {
                assert!(office_key.verifies(&sig));
                by_office += 1;
            }
            device => {
                assert_eq!(device, w.li.actor.device());
                assert!(li_key.verifies(&sig));
                by_li += 1;
            }
        }
    }
    assert!(by_li >= 3 && by_office == 1, "{by_li} {by_office}");
}

#[test]
fn steps_placed_before_old_ones_are_judged_where_they_take_effect() {
    let mut w = world();
    let c = w.customer("li", Some("100000"));
    let order = w.order(&c, "10", "12.50");
    w.walk(order, "shipped");
    w.wu_phone.sync().unwrap();
    // The warehouse app slips a second shipment in before the real one,
    // claiming a credit override without a reason: in the merged list it is
    // the shipment that takes effect.
    let device = w.wu_phone.actor.device().to_string();
    tamper(&mut w.wu_phone, order, |am| {
        let n = am.length(events(am));
        let mut ship = event(am, n - 1);
        set(&mut ship, "id", "early-ship".into());
        set(&mut ship, "credit_override", true.into());
        set(&mut ship, "reason", "".into());
        set(&mut ship, "device", device.as_str().into());
        insert_event(am, n - 1, &ship);
    });
    w.refused(
        "wu",
        order,
        "a reason is required to override the credit check",
    );
    assert_eq!(w.status(order), "shipped");
}

#[test]
fn an_approval_records_the_whole_digest() {
    let mut w = world();
    let c = w.customer("li", Some("100000"));
    let order = w.order(&c, "10", "12.50");
    w.zhao_phone.sync().unwrap();
    // A manager's app of an older kind: the digest covers less.
    let mut o = OrderDoc::from_document(w.zhao_phone.store.load(order).unwrap()).unwrap();
    o.approve(&w.zhao_phone.ctx(), &c, None).unwrap();
    let legacy = o.read().unwrap().legacy_digest();
    w.zhao_phone.store.save(o.document()).unwrap();
    tamper(&mut w.zhao_phone, order, |am| {
        let list = events(am);
        let n = am.length(&list);
        let ev = am.get(&list, n - 1).unwrap().unwrap().1;
        am.put(&ev, "digest", legacy.as_str()).unwrap();
    });
    w.refused("zhao", order, "older kind");
    assert_eq!(w.status(order), "submitted");
}

#[test]
fn a_value_hidden_in_a_conflict_is_checked_too() {
    let mut w = world();
    let c = w.customer("li", None);
    let order = w.order(&c, "1", "1");
    let m = message(&w.li);
    // Two concurrent writes of the notes: a short one that wins and a long
    // one that loses but stays in every copy.
    let mut doc = w.li.store.load(order).unwrap();
    let mut winner = AutoCommit::load(&doc.save()).unwrap();
    let mut loser = winner.fork();
    loser.put(ROOT, "notes", "y".repeat(20_000)).unwrap();
    loser.commit_with(CommitOptions::default().with_message(m.clone()));
    winner.put(ROOT, "evidence", "fax").unwrap();
    winner.put(ROOT, "notes", "short").unwrap();
    winner.commit_with(CommitOptions::default().with_message(m));
    winner.merge(&mut loser).unwrap();
    assert_eq!(
        winner.get(ROOT, "notes").unwrap().unwrap().0.as_str(),
        Some("short"),
        "the short notes win the conflict"
    );
    let mut merged = Document::load(&winner.save()).unwrap();
    w.li.store.save(&mut merged).unwrap();
    w.refused("li", order, "notes is 20000 bytes long");
}

#[test]
fn a_line_for_a_product_not_in_the_catalog_is_refused() {
    let mut w = world();
    let c = w.customer("li", None);
    // Before the company has a catalog, any code goes (nothing to check it by).
    let early = w.order(&c, "1", "10");
    fieldsync_server::admin::import_products(
        &w.relay.state,
        "code,name,spec,unit,list_price\nTS-1,Cotton shirt,M,pcs,12.50\n".as_bytes(),
        &mut |_, _| {},
    )
    .unwrap();
    w.li.sync().unwrap();
    // A typo on a new line: refused on arrival, whatever the app allowed.
    let p = &mut w.li;
    let ctx = p.ctx();
    let mut o = OrderDoc::from_document(p.store.load(early).unwrap()).unwrap();
    o.add_line(
        &ctx,
        NewLine {
            product: "NW99-TYPO".into(),
            name: "Typo".into(),
            variant: String::new(),
            unit: "pcs".into(),
            quantity: d("1"),
            unit_price: d("1"),
            discount_percent: Decimal::ZERO,
        },
    )
    .unwrap();
    p.store.save(o.document()).unwrap();
    w.refused(
        "li",
        early,
        "has a line for product NW99-TYPO, which is not in the catalog",
    );
    // A product the catalog has is fine.
    w.order(&c, "2", "12.50");
}
