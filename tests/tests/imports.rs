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
