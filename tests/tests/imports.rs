//! CSV imports as a sales department's files come: every row checked
//! against the company's regions and salespeople, spreadsheet dialects read,
//! nothing dropped silently.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use fieldsync_core::*;
use fieldsync_server::admin;
use fieldsync_tests::*;

fn customers(relay: &TestRelay, csv: &str) -> Result<usize, String> {
    admin::import_customers(&relay.state, csv.as_bytes(), &mut |_, _| {}).map_err(|e| e.to_string())
}

fn products(relay: &TestRelay, csv: &str) -> Result<usize, String> {
    admin::import_products(&relay.state, csv.as_bytes(), &mut |_, _| {}).map_err(|e| e.to_string())
}

const HEADER: &str = "name,address,region,owner,grade,payment_terms,credit_limit\n";

#[test]
fn a_customer_belongs_to_a_region_of_the_company_and_a_salesperson_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start(dir.path());
    relay.user("li", Role::Salesperson, Some("east"));
    relay.user("chen", Role::Salesperson, Some("west"));
    relay.user("wu", Role::Warehouse, None);
    relay.user("zhao", Role::Manager, Some("east"));
    let e = customers(
        &relay,
        &format!("{HEADER}Alfreds,Obere Str. 57,North America,li,A,credit,5000\n"),
    )
    .unwrap_err();
    assert!(
        e.contains("region 'North America' is not one of the company's regions (east, west)"),
        "{e}"
    );
    for (owner, needle) in [
        ("wu", "owner 'wu' is not a salesperson"),
        ("zhao", "owner 'zhao' is not a salesperson"),
        ("root", "owner 'root' is not a salesperson"),
        ("chen", "owner 'chen' works in region west, not east"),
    ] {
        let e = customers(
            &relay,
            &format!("{HEADER}Alfreds,Obere Str. 57,east,{owner},A,credit,5000\n"),
        )
        .unwrap_err();
        assert!(e.contains(needle), "{e}");
    }
    // A spreadsheet's own dialect: semicolons, capitalised headers.
    let n = customers(
        &relay,
        "Name;Address;Region;Owner;Grade;Payment Terms;Credit Limit\nAlfreds;Obere Str. 57;east;li;a;Credit;5000\n",
    )
    .unwrap();
    assert_eq!(n, 1);
    // The same file again: nothing doubles.
    let e = customers(
        &relay,
        &format!("{HEADER}Alfreds,Obere  Str. 57,east,li,A,credit,5000\nNew Shop,1 Road,east,li,B,cash,\n"),
    )
    .unwrap_err();
    assert!(
        e.contains("row 2: customer 'Alfreds' at 'Obere  Str. 57' is already there"),
        "{e}"
    );
    let e = customers(
        &relay,
        &format!("{HEADER}Twin,1 Road,east,li,B,cash,\nTwin,1 road,east,li,B,cash,\n"),
    )
    .unwrap_err();
    assert!(
        e.contains("row 3") && e.contains("twice in this file"),
        "{e}"
    );
    // A new region is added by the administrator, then used.
    {
        let mut r = relay.state.relay();
        fieldsync_server::accounts::add_region(r.store().connection(), "north").unwrap();
    }
    relay.user("ana", Role::Salesperson, Some("north"));
    assert_eq!(
        customers(
            &relay,
            &format!("{HEADER}Ana Trujillo,Avda. 2222,north,ana,B,cash,\n")
        )
        .unwrap(),
        1
    );
}

#[test]
fn a_product_file_is_read_whole_and_nothing_in_it_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start(dir.path());
    // Extra columns the import does not take are refused, naming them.
    let e = products(
        &relay,
        "code,name,spec,unit,list_price,category\nNW-1,Chai,10 boxes,box,18.00,Beverages\n",
    )
    .unwrap_err();
    assert!(e.contains("does not take: category"), "{e}");
    // Windows-1252 ("é" as the byte E9).
    let e = admin::import_products(
        &relay.state,
        &b"code,name,spec,unit,list_price\nNW-2,P\xe2t\xe9 chinois,24 boxes,box,24.00\n"[..],
        &mut |_, _| {},
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("Save it again as \"CSV UTF-8\""), "{e}");
    // Stock is not the product list's: said so, not dropped.
    let e = products(
        &relay,
        "code,name,spec,unit,list_price,units_in_stock\nNW-1,Chai,10 boxes,box,18.00,39\n",
    )
    .unwrap_err();
    assert!(e.contains("stock figures are the warehouse's"), "{e}");
    // Discontinued products come in as written.
    let n = products(
        &relay,
        "Code,Name,Spec,Unit,List Price,Discontinued\nNW-1,Chai,10 boxes,box,18.00,no\nNW-5,Chef Anton's Gumbo Mix,36 boxes,box,21.35,yes\n",
    )
    .unwrap();
    assert_eq!(n, 2);
    let mut r = relay.state.relay();
    let conn = r.store().connection();
    let rows: Vec<(String, i64)> = conn
        .prepare("SELECT code, active FROM products ORDER BY code")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows, vec![("NW-1".to_string(), 1), ("NW-5".to_string(), 0)]);
}

#[test]
fn the_warehouse_and_production_publish_stock_that_the_production_summary_shows() {
    let dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start(dir.path());
    let warehouse = relay.user("wu", Role::Warehouse, None);
    relay.user("ma", Role::Production, None);
    let admin_token = relay.user("root", Role::Admin, None);
    products(
        &relay,
        "code,name,spec,unit,list_price\nNW-1,Chai,10 boxes,box,18.00\nNW-2,Chang,24 bottles,box,19.00\n",
    )
    .unwrap();
    // The warehouse on the API: on hand and reserved.
    let a = relay.api(&warehouse).post(
        "/v1/stock",
        serde_json::json!({"products": [{"code": "NW-1", "on_hand": "100", "reserved": "30"}]}),
    );
    assert_eq!(a.status, 200, "{}", a.error());
    // Not production's figures, and not a product the catalog lacks.
    let a = relay.api(&warehouse).post(
        "/v1/stock",
        serde_json::json!({"products": [{"code": "NW-1", "in_production": "5"}]}),
    );
    assert_eq!(a.status, 403, "{}", a.error());
    let a = relay.api(&warehouse).post(
        "/v1/stock",
        serde_json::json!({"products": [{"code": "NW-99", "on_hand": "5"}]}),
    );
    assert_eq!(a.status, 404, "{}", a.error());
    // Production from a CSV file, all or nothing.
    let e = admin::import_stock(
        &relay.state,
        "code,in_production\nNW-1,500\nNW-2,abc\n".as_bytes(),
        "ma",
        &mut |_, _| {},
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("row 3"), "{e}");
    let e = admin::import_stock(
        &relay.state,
        "code,on_hand\nNW-1,1\n".as_bytes(),
        "ma",
        &mut |_, _| {},
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("a production planner cannot publish warehouse stock"),
        "{e}"
    );
    assert_eq!(
        admin::import_stock(
            &relay.state,
            "Code;In Production\nNW-1;500\nNW-2;40\n".as_bytes(),
            "ma",
            &mut |_, _| {}
        )
        .unwrap(),
        2
    );
    let summary = relay.api(&admin_token).get("/v1/reports/production").json();
    assert_eq!(
        summary,
        serde_json::json!([
            {"product": "NW-1", "ordered": "0", "in_production": "500", "on_hand": "100", "reserved": "30"},
            {"product": "NW-2", "ordered": "0", "in_production": "40", "on_hand": "0", "reserved": "0"},
        ])
    );
}
