//! Head office's lists: filters, sorting, cursor pages, who sees what, and
//! an order found by its number with its whole history.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use fieldsync_core::*;
use fieldsync_server::admin;
use fieldsync_tests::*;

fn items(a: Answer) -> (Vec<serde_json::Value>, Option<String>) {
    assert_eq!(a.status, 200, "{}", a.error());
    let v = a.json();
    (
        v["items"].as_array().unwrap().clone(),
        v["next_cursor"].as_str().map(str::to_string),
    )
}

#[test]
fn lists_filter_sort_and_page_and_each_user_sees_their_part() {
    let dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start(dir.path());
    relay.user("li", Role::Salesperson, Some("east"));
    relay.user("chen", Role::Salesperson, Some("west"));
    let manager = relay.user("zhao", Role::Manager, Some("east"));
    let desk = relay.user("sun", Role::OrderDesk, None);
    let root = relay.user("root", Role::Admin, None);
    admin::import_customers(
        &relay.state,
        "code,name,address,region,owner,grade,payment_terms,credit_limit\n\
         E1,Hengda Textiles,1 Road,east,li,A,credit,100000\n\
         E2,Lakeside Fashion,2 Road,east,li,B,credit,100000\n\
         W1,Mountain Outfitters,3 Road,west,chen,A,credit,100000\n"
            .as_bytes(),
        &mut |_, _| {},
    )
    .unwrap();
    let mut li = Phone::enroll(&relay.url(), dir.path(), "li-phone", &relay.code("li"));
    let mut chen = Phone::enroll(&relay.url(), dir.path(), "chen-phone", &relay.code("chen"));
    li.sync().unwrap();
    chen.sync().unwrap();
    let (hengda, lakeside, mountain) = (
        li.customer_coded("E1"),
        li.customer_coded("E2"),
        chen.customer_coded("W1"),
    );
    let start = chrono::Utc::now() - chrono::Duration::hours(12);
    let mut numbers = Vec::new();
    for i in 0..7i64 {
        let at = start + chrono::Duration::minutes(10 * i);
        let (p, c) = match i % 3 {
            0 => (&mut li, &hengda),
            1 => (&mut li, &lakeside),
            _ => (&mut chen, &mountain),
        };
        let (_, number) = submitted_order(p, c, at, &[("TS-1", &(i + 1).to_string(), "10")]);
        numbers.push(number);
    }
    li.sync().unwrap();
    chen.sync().unwrap();

    // Newest first by default; pages of 3 cover every order exactly once.
    let api = relay.api(&desk);
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            None => "/v1/orders?limit=3".to_string(),
            Some(c) => format!("/v1/orders?limit=3&cursor={c}"),
        };
        let (page, next) = items(api.get(&path));
        pages += 1;
        seen.extend(
            page.iter()
                .map(|o| o["number"].as_str().unwrap().to_string()),
        );
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let mut newest_first = numbers.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first);
    // Filters, search and another sort.
    let (west, _) = items(api.get("/v1/orders?region=west&sort=total"));
    let totals: Vec<&str> = west.iter().map(|o| o["total"].as_str().unwrap()).collect();
    assert_eq!(totals, ["30.00", "60.00"]);
    let (found, _) = items(api.get("/v1/orders?q=lakeside"));
    assert_eq!(found.len(), 2);
    assert!(
        found
            .iter()
            .all(|o| o["customer_name"] == "Lakeside Fashion")
    );
    let (found, _) = items(api.get(&format!("/v1/orders?q={}", numbers[4])));
    assert_eq!(found.len(), 1);
    let (by_total, _) = items(api.get("/v1/orders?sort=-total&limit=2"));
    assert_eq!(by_total[0]["total"], "70.00");
    let (ids, _) = items(api.get(&format!(
        "/v1/orders?customer={}&status=submitted",
        hengda.id()
    )));
    assert_eq!(ids.len(), 3);
    let today = BusinessZone::default().date_at(chrono::Utc::now());
    let tomorrow = today + chrono::Days::new(1);
    let (none, _) = items(api.get(&format!("/v1/orders?from={tomorrow}")));
    assert!(none.is_empty());
    // A manager sees the region, whatever they ask for.
    let (east, _) = items(relay.api(&manager).get("/v1/orders?limit=100"));
    assert_eq!(east.len(), 5);
    assert!(east.iter().all(|o| o["region"] == "east"));
    let (other, _) = items(relay.api(&manager).get("/v1/orders?region=west"));
    assert!(other.is_empty());
    // Clear refusals.
    let a = api.get("/v1/orders?colour=red");
    assert_eq!(a.status, 400);
    assert!(
        a.error().contains("takes no filter colour"),
        "{}",
        a.error()
    );
    let a = api.get("/v1/orders?sort=weight");
    assert!(
        a.error()
            .contains("sorts by created_at, number, total, customer"),
        "{}",
        a.error()
    );
    let a = api.get("/v1/orders?cursor=zz");
    assert!(
        a.error()
            .contains("the cursor is not one this list gave out"),
        "{}",
        a.error()
    );
    let a = api.get("/v1/orders?limit=100000");
    assert!(a.error().contains("limit must be"), "{}", a.error());
    let a = api.get("/v1/orders?from=31/12/2026");
    assert!(a.error().contains("from must be a date"), "{}", a.error());

    // Customers, sorted by code; devices for the administrator only.
    let (customers, _) = items(api.get("/v1/customers?sort=-code"));
    let codes: Vec<&str> = customers
        .iter()
        .map(|c| c["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["W1", "E2", "E1"]);
    assert_eq!(api.get("/v1/devices").status, 403);
    let (devices, _) = items(relay.api(&root).get("/v1/devices"));
    let users: BTreeSet<&str> = devices
        .iter()
        .map(|d| d["user"].as_str().unwrap())
        .collect();
    assert_eq!(users, BTreeSet::from(["chen", "li"]));
    assert!(
        devices.iter().all(|d| d["last_sync_at"].is_string()),
        "{devices:?}"
    );

    // An order by its number, with its whole history.
    let number = &numbers[0];
    let a = api.get(&format!("/v1/orders/{number}"));
    assert_eq!(a.status, 200, "{}", a.error());
    let page = a.json();
    assert_eq!(page["number"], number.as_str());
    assert_eq!(page["events"][0]["action"], "Submit");
    assert_eq!(page["events"][0]["user"], "li");
    assert!(
        page["history"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["field"] == "lines" || h["field"].as_str().unwrap().starts_with("lines"))
    );
    assert_eq!(api.get("/v1/orders/S99-20260101-001").status, 404);
}
