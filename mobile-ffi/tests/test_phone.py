"""The phone library from Python: a real relay, two phones, a day offline."""

import gc
import os
import sys
import tempfile
import threading
import time

bindings = os.environ["FIELDSYNC_BINDINGS"]
sys.path.insert(0, bindings)
sys.path.insert(0, os.path.dirname(__file__))

import fieldsync_mobile as fs  # noqa: E402
from relay_harness import Relay  # noqa: E402


def rss_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def call_off_a_visit(phone, customer_id):
    """Plan a visit, then call it off."""
    v = phone.plan_visit(customer_id, int(time.time() * 1000) + 3_600_000, "samples", False, "")
    v = phone.cancel_visit(v.id, "the shop is closed for stocktaking")
    assert v.state == fs.VisitState.CANCELLED and v.cancel_reason == "the shop is closed for stocktaking", v


def order_fair(phone, customer_id):
    """An order fair's order entered whole: every size of a style in one call."""
    fair = phone.create_order_with_lines(customer_id, fs.OrderChannel.ORDER_FAIR, None, [
        fs.LineInput(product="TS-1", name="Shirt", variant=f"blue/{size}", unit="pcs",
                     quantity="3", unit_price="12.50", discount_percent="")
        for size in ["S", "M", "L", "XL", "XXL"]])
    assert len(fair.lines) == 5 and fair.total == "187.50", fair
    try:
        phone.create_order_with_lines(customer_id, fs.OrderChannel.VISIT, None, [
            fs.LineInput(product="TS-1", name="Shirt", variant="", unit="pcs",
                         quantity="abc", unit_price="1", discount_percent="")])
        raise AssertionError("a bad quantity was taken")
    except fs.MobileError.InvalidInput as e:
        assert "quantity" in str(e), e


def split_and_merge(phone, customer_id):
    """Split a line off a draft, then merge it back."""
    d = phone.create_order(customer_id, fs.OrderChannel.VISIT, None)
    added = []
    for variant in ["red/M", "red/L"]:
        edited = phone.add_order_line(d.id, fs.LineInput(product="TS-1", name="Shirt", variant=variant, unit="pcs",
                                                         quantity="2", unit_price="10", discount_percent=""))
        assert edited.line.variant == variant and edited.order_id == d.id, edited
        added.append(edited.line.id)
    assert (edited.total, edited.line_count) == ("40.00", 2), edited
    part = phone.split_order(d.id, [added[1]])
    assert part.total == "20.00" and part.number != d.number, part
    assert phone.order(d.id).total == "20.00"
    back = phone.merge_orders(d.id, part.id)
    assert back.total == "40.00", back


def day_offline(phone, customer_name):
    """A salesperson's day: a prospect, a visit with a note and a complaint, an order, a report."""
    c = phone.create_prospect(customer_name, "1 Market Street")
    now = int(time.time() * 1000)
    v = phone.plan_visit(c.id, now, "present the new season", True, "samples")
    phone.check_in(v.id, fs.GeoPosition(latitude=30.27, longitude=120.15))
    phone.add_visit_note(v.id, "owner wants blue samples")
    complaint = phone.record_complaint(c.id, v.id, "colour fades", "TS-1 red fades after washing", True)
    phone.log_visit(v.id, "Mr Chen", "new season", "200 pcs after the fair", "likes the colours", None)
    v = phone.check_out(v.id, None)
    assert v.state == fs.VisitState.DONE, v.state
    assert len(v.open_follow_ups) == 1, v.open_follow_ups  # the thank-you call
    assert (v.check_in_position.latitude, v.check_in_position.longitude) == (30.27, 120.15), v
    assert v.check_out_position is None
    v = phone.add_follow_up(v.id, "send the blue samples", now + 86_400_000)
    fid = [f.id for f in v.follow_ups if f.text == "send the blue samples"][0]
    v = phone.complete_follow_up(v.id, fid)
    assert [f.done for f in v.follow_ups if f.id == fid] == [True], v.follow_ups
    assert len(v.open_follow_ups) == 1, v.open_follow_ups
    o = phone.create_order(c.id, fs.OrderChannel.VISIT, "2026-12-15")
    edited = phone.add_order_line(o.id, fs.LineInput(product="TS-1", name="Shirt", variant="blue/M", unit="pcs",
                                                     quantity="10", unit_price="12.50", discount_percent=""))
    assert edited.total == "125.00" and edited.line.total == "125.00", edited
    # Several line edits as one: all or nothing.
    o = phone.edit_order_lines(o.id, [
        fs.OrderLineEdit.ADD(fs.LineInput(product="TS-1", name="Shirt", variant="blue/L", unit="pcs",
                                          quantity="2", unit_price="12.50", discount_percent="")),
        fs.OrderLineEdit.SET_DISCOUNT(edited.line.id, "10"),
    ])
    assert (o.total, len(o.lines)) == ("137.50", 2), o
    try:
        phone.edit_order_lines(o.id, [fs.OrderLineEdit.SET_QUANTITY(o.lines[1].id, "3"),
                                      fs.OrderLineEdit.REMOVE("no such line")])
        raise AssertionError("an edit of a missing line was made")
    except fs.MobileError.NotFound as e:
        assert "no such line" in str(e), e
    assert len(phone.order(o.id).lines) == 2 and phone.order(o.id).lines[1].quantity == "2"
    o = phone.edit_order_lines(o.id, [fs.OrderLineEdit.REMOVE(o.lines[1].id),
                                      fs.OrderLineEdit.SET_DISCOUNT(edited.line.id, "")])
    assert (o.total, len(o.lines)) == ("125.00", 1), o
    try:
        phone.submit_order(o.id)
        raise AssertionError("an oral order was handed in")
    except fs.MobileError.NotNow as e:
        assert "written evidence" in str(e), e
    details = o.details
    details.evidence = "order form 2026-118, signed"
    details.customer_reference = "PO-7731"
    details.consignee = "Mr Chen"
    o = phone.set_order_details(o.id, details)
    assert o.details.customer_reference == "PO-7731"
    o = phone.submit_order(o.id)
    assert o.state == fs.OrderState.SUBMITTED
    history = phone.field_history(o.id)
    ref = [h for h in history if h.field == "customer_reference" and h.new_value == "PO-7731"]
    me = o.history[0].user  # who handed the order in: this phone's user
    assert ref and ref[0].old_value == "" and ref[0].user == me and ref[0].role == "salesperson", \
        [(h.field, h.old_value, h.new_value, h.user) for h in history]
    today = time.strftime("%Y-%m-%d", time.gmtime())
    r = phone.write_daily_report(today, "one visit, one order", "", "follow up on samples")
    phone.submit_daily_report(r)
    return c, o, complaint


def main():
    server = os.environ["FIELDSYNC_SERVER"]
    work = tempfile.mkdtemp()
    relay = Relay(server, work)
    relay.user("li", "salesperson", "east")
    relay.user("wang", "salesperson", "east")
    manager = relay.user("zhao", "manager", "east")
    desk = relay.user("sun", "order_desk")
    warehouse = relay.user("wu", "warehouse")
    finance = relay.user("zheng", "finance")
    relay.start()
    try:
        li = fs.FieldSync.open(os.path.join(work, "li.db"))
        wang = fs.FieldSync.open(os.path.join(work, "wang.db"))
        try:
            li.create_prospect("x", "y")
            raise AssertionError("an unenrolled phone must not work")
        except fs.MobileError.NotEnrolled as e:
            assert "enroll" in str(e), e
        info = li.enroll(relay.url, relay.code("li"))
        assert info.user == "li" and info.order_prefix.startswith("S"), info
        wang.enroll(relay.url, relay.code("wang"))
        try:
            fs.FieldSync.open(os.path.join(work, "x.db")).enroll(relay.url, "WRONG-CODE")
            raise AssertionError("a bad code must be refused")
        except fs.MobileError.NotEnrolled as e:
            assert "not valid" in str(e), e

        c, order, complaint = day_offline(li, "Hengda Textiles")
        day_offline(wang, "Lakeside Fashion")
        assert li.pending_count() == 5, li.pending_count()  # customer, visit, complaint, order, report
        progress = []

        class Progress(fs.SyncProgress):
            def on_progress(self, round_trips, sent, received):
                progress.append((round_trips, sent, received))

        report = li.sync(Progress(), None)
        assert report.sent == 5 and report.refused == [], report
        assert progress and progress[-1][1] == 5, progress
        assert li.pending_count() == 0
        wang.sync(None, None)
        # wang never sees li's documents
        assert [x.title for x in wang.open_orders()] == ["Lakeside Fashion"], wang.open_orders()
        split_and_merge(wang, wang.order(wang.open_orders()[0].id).customer_id)
        call_off_a_visit(wang, wang.order(wang.open_orders()[0].id).customer_id)
        order_fair(wang, wang.order(wang.open_orders()[0].id).customer_id)

        # Head office approves; the phone sees it after its next sync.
        status, body = relay.api(manager, "POST", f"/v1/orders/{order.id}/approve")
        assert status == 200, body
        li.sync(None, None)
        o = li.order(order.id)
        assert o.state == fs.OrderState.APPROVED, o.state
        assert o.history[-1].user == "zhao"

        # Edited offline after approval: changed after approval, here and at head office.
        edited = li.set_line_quantity(o.id, o.lines[0].id, "12")
        assert edited.state == fs.OrderState.CHANGED_AFTER_APPROVAL and edited.line.quantity == "12", edited
        li.sync(None, None)
        status, body = relay.api(manager, "GET", f"/v1/orders/{order.id}")
        assert body["status"] == "changed_after_approval", body

        # Forbidden on the phone: a salesperson cannot approve.
        try:
            li.approve_order(order.id, None)
            raise AssertionError("a salesperson approved an order")
        except fs.MobileError.NotPermitted as e:
            assert "cannot approve orders" in str(e), e

        # Head office moves on and ships while li edits again offline: refused, with the reason.
        for token, action, body in [(manager, "approve", {}), (desk, "confirm", {}), (warehouse, "in-stock", {}),
                                    (finance, "payments", {"amount": "150.00", "reference": "cash"}),
                                    (warehouse, "ship", {"carrier": "SF"})]:
            status, resp = relay.api(token, "POST", f"/v1/orders/{order.id}/{action}", body)
            assert status == 200, (action, resp)
        li.set_line_quantity(order.id, o.lines[0].id, "20")
        report = li.sync(None, None)
        assert len(report.refused) == 1, report
        assert "shipped" in report.refused[0].reason, report.refused[0].reason
        refused = li.refused()
        assert refused[0].item.id == order.id and "shipped" in refused[0].reason
        li.discard_refused(order.id)
        assert li.order(order.id).state == fs.OrderState.SHIPPED
        assert li.pending_count() == 0

        # Head office resolves the complaint; the phone sees nothing refused.
        status, body = relay.api(desk, "POST", f"/v1/complaints/{complaint}/resolve", {"resolution": "replaced"})
        assert status == 200, body
        # The phone sees the resolution, tells the customer, and can reopen it.
        li.sync(None, None)
        k = li.complaint(complaint)
        assert (k.status, k.resolution) == ("resolved", "replaced"), k
        k = li.report_back_complaint(complaint, "told Mr Chen: new shirts on Monday")
        assert k.status == "closed", k
        k = li.reopen_complaint(complaint, "the new ones fade too")
        assert k.status == "open" and [h.action for h in k.history] == ["resolve", "report_back", "reopen"], k
        report = li.sync(None, None)
        assert report.refused == [] and li.pending_count() == 0, report

        # A sync interrupted by killing the relay, then retried: nothing lost.
        ids = []
        for i in range(150):
            o = li.create_order(c.id, fs.OrderChannel.PHONE, None)
            li.add_order_line(o.id, fs.LineInput(product=f"P{i}", name="x", variant="", unit="pcs",
                                                 quantity="1", unit_price="9.99", discount_percent=""))
            ids.append(o.id)
        errors = []

        def run():
            try:
                li.sync(None, None)
            except fs.MobileError as e:
                errors.append(e)

        t = threading.Thread(target=run)
        t.start()
        time.sleep(0.02)
        relay.kill()
        t.join()
        try:
            li.sync(None, None)
            raise AssertionError("sync with the relay down must fail")
        except fs.MobileError.Network as e:
            assert "try again" in str(e), e
        relay.start()
        report = li.sync(None, None)
        assert li.pending_count() == 0, li.pending_count()
        for oid in ids:
            status, body = relay.api(manager, "GET", f"/v1/orders/{oid}")
            assert status == 200 and body["total"] == "9.99", (oid, status, body)

        # Objects freed from Python release their resources.
        del li, wang
        gc.collect()
        path = os.path.join(work, "loop.db")
        loop = fs.FieldSync.open(path)
        loop.enroll(relay.url, relay.code("li"))
        del loop
        for _ in range(10):  # warm up
            p = fs.FieldSync.open(path)
            p.sync(None, None)
            del p
        gc.collect()
        before = rss_kb()
        for _ in range(60):
            p = fs.FieldSync.open(path)
            p.sync(None, None)
            del p
        gc.collect()
        growth = rss_kb() - before
        assert growth < 8 * 1024, f"memory grew by {growth} KB over 60 open/sync/close"
        print(f"python phone test passed (memory growth over 60 open/sync/close: {growth} KB)")
    finally:
        relay.stop()


if __name__ == "__main__":
    main()
