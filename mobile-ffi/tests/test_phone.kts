// The phone library from Kotlin on the JVM: two phones enrolled with a real
// relay (started by run_kotlin.py), a day offline, sync, an approval seen on
// the phone, a change after approval, a forbidden action refused with its reason.

import uniffi.fieldsync_mobile.*
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse

val env = System.getenv()
val relayUrl = env.getValue("RELAY_URL")
val work = env.getValue("WORK_DIR")
val managerToken = env.getValue("MANAGER_TOKEN")

fun api(method: String, path: String, token: String): Pair<Int, String> {
    val req = HttpRequest.newBuilder(URI.create(relayUrl + path))
        .header("Authorization", "Bearer $token")
        .header("Content-Type", "application/json")
        .method(method, if (method == "POST") HttpRequest.BodyPublishers.ofString("{}") else HttpRequest.BodyPublishers.noBody())
        .build()
    val r = HttpClient.newHttpClient().send(req, HttpResponse.BodyHandlers.ofString())
    return Pair(r.statusCode(), r.body())
}

fun dayOffline(phone: FieldSync, customer: String): OrderInfo {
    val c = phone.createProspect(customer, "1 Market Street")
    val now = System.currentTimeMillis()
    val v = phone.planVisit(c.id, now, "new season", true, "samples")
    phone.checkIn(v.id, GeoPosition(30.27, 120.15))
    phone.addVisitNote(v.id, "wants blue samples")
    phone.recordComplaint(c.id, v.id, "colour fades", "after washing", true)
    val done = phone.checkOut(v.id, null)
    assert(done.state == VisitState.DONE) { "visit ${done.state}" }
    var o = phone.createOrder(c.id, OrderChannel.VISIT, null)
    val edited = phone.addOrderLine(o.id, LineInput("TS-1", "Shirt", "blue/M", "pcs", "10", "12.50", ""))
    assert(edited.total == "125.00" && edited.lineCount == 1u) { "edited $edited" }
    o = phone.editOrderLines(o.id, listOf(
        OrderLineEdit.Add(LineInput("TS-1", "Shirt", "blue/L", "pcs", "2", "12.50", "")),
        OrderLineEdit.SetQuantity(edited.line!!.id, "8"),
    ))
    assert(o.total == "125.00" && o.lines.size == 2) { "batch ${o.total} ${o.lines.size}" }
    o = phone.setOrderDetails(o.id, o.details.copy(evidence = "order form 2026-118, signed", customerReference = "PO-7731"))
    assert(o.details.customerReference == "PO-7731") { "reference ${o.details.customerReference}" }
    o = phone.submitOrder(o.id)
    val today = java.time.LocalDate.now(java.time.ZoneOffset.UTC).toString()
    phone.submitDailyReport(phone.writeDailyReport(today, "one visit, one order", "", ""))
    return o
}

FieldSync.open("$work/li.db").use { li ->
    FieldSync.open("$work/wang.db").use { wang ->
        li.enroll(relayUrl, env.getValue("CODE_LI"))
        wang.enroll(relayUrl, env.getValue("CODE_WANG"))
        val order = dayOffline(li, "Hengda Textiles")
        dayOffline(wang, "Lakeside Fashion")
        assert(li.pendingCount() == 5UL) { "pending ${li.pendingCount()}" }

        var rounds = 0u
        val report = li.sync(object : SyncProgress {
            override fun onProgress(roundTrips: UInt, sent: UInt, received: UInt) { rounds = roundTrips }
        }, null)
        assert(report.sent == 5u && report.refused.isEmpty()) { "report $report" }
        assert(rounds >= 1u)
        wang.sync(null, null)
        assert(wang.openOrders().map { it.title } == listOf("Lakeside Fashion")) { "wang sees ${wang.openOrders()}" }

        val (status, body) = api("POST", "/v1/orders/${order.id}/approve", managerToken)
        assert(status == 200) { "approve: $status $body" }
        li.sync(null, null)
        var o = li.order(order.id)
        assert(o.state == OrderState.APPROVED) { "state ${o.state}" }

        val changed = li.setLineQuantity(o.id, o.lines[0].id, "12")
        assert(changed.state == OrderState.CHANGED_AFTER_APPROVAL) { "state ${changed.state}" }
        li.sync(null, null)
        val (_, seen) = api("GET", "/v1/orders/${order.id}", managerToken)
        assert(seen.contains("\"status\":\"changed_after_approval\"")) { seen }

        try {
            li.approveOrder(order.id, null)
            throw AssertionError("a salesperson approved an order")
        } catch (e: MobileException.NotPermitted) {
            assert(e.reason.contains("cannot approve orders")) { e.reason }
        }
        try {
            li.addOrderLine(o.id, LineInput("TS-2", "Shirt", "", "pcs", "1,5", "1", ""))
            throw AssertionError("a bad quantity was accepted")
        } catch (e: MobileException.InvalidInput) {
            assert(e.reason.contains("quantity")) { e.reason }
        }
        assert(li.pendingCount() == 0UL)
    }
}
println("kotlin phone test passed")
