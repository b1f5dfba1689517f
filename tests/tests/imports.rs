//! CSV imports as a sales department's files come: every row checked
//! against the company's regions and salespeople, spreadsheet dialects read,
//! nothing dropped silently.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use fieldsync_core::*;
use fieldsync_server::admin;
use fieldsync_tests::*;

fn customers(relay: &TestRelay, csv: &str) -> Result<usize, String> {
    imported_customers(relay, csv).map(|i| i.rows())
}

fn imported_customers(relay: &TestRelay, csv: &str) -> Result<admin::Imported, String> {
    admin::import_customers(&relay.state, csv.as_bytes(), &mut |_, _| {}).map_err(|e| e.to_string())
}

fn products(relay: &TestRelay, csv: &str) -> Result<usize, String> {
    admin::import_products(&relay.state, csv.as_bytes(), &mut |_, _| {})
        .map(|i| i.rows())
        .map_err(|e| e.to_string())
}

const HEADER: &str = "code,name,address,region,owner,grade,payment_terms,credit_limit\n";

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
        &format!("{HEADER}ALFKI,Alfreds,Obere Str. 57,North America,li,A,credit,5000\n"),
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
            &format!("{HEADER}ALFKI,Alfreds,Obere Str. 57,east,{owner},A,credit,5000\n"),
        )
        .unwrap_err();
        assert!(e.contains(needle), "{e}");
    }
    // A spreadsheet's own dialect: semicolons, capitalised headers.
    let n = customers(
        &relay,
        "Code;Name;Address;Region;Owner;Grade;Payment Terms;Credit Limit\nALFKI;Alfreds;Obere Str. 57;east;li;a;Credit;5000\n",
    )
    .unwrap();
    assert_eq!(n, 1);
    // The same place under another code is not a second customer.
    let e = customers(
        &relay,
        &format!("{HEADER}ALF-2,Alfreds,Obere  Str. 57,east,li,A,credit,5000\nNEWSH,New Shop,1 Road,east,li,B,cash,\n"),
    )
    .unwrap_err();
    assert!(
        e.contains(
            "row 2: customer 'Alfreds' at 'Obere  Str. 57' is already there under code ALFKI"
        ),
        "{e}"
    );
    let e = customers(
        &relay,
        &format!("{HEADER}T1,Twin,1 Road,east,li,B,cash,\nT2,Twin,1 road,east,li,B,cash,\nT1,Other,2 Road,east,li,B,cash,\n"),
    )
    .unwrap_err();
    assert!(
        e.contains("row 3") && e.contains("in this file twice (under two codes)"),
        "{e}"
    );
    assert!(
        e.contains("row 4: customer code T1 is in this file twice"),
        "{e}"
    );
    let e = customers(
        &relay,
        &format!("{HEADER},Nameless,1 Road,east,li,B,cash,\n"),
    )
    .unwrap_err();
    assert!(e.contains("row 2: the customer code is empty"), "{e}");
    // A new region is added by the administrator, then used.
    {
        let mut r = relay.state.relay();
        fieldsync_server::accounts::add_region(r.store().connection(), "north").unwrap();
    }
    relay.user("ana", Role::Salesperson, Some("north"));
    assert_eq!(
        customers(
            &relay,
            &format!("{HEADER}ANATR,Ana Trujillo,Avda. 2222,north,ana,B,cash,\n")
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
        "code,name,spec,unit,list_price,supplier\nNW-1,Chai,10 boxes,box,18.00,Exotic Liquids\n",
    )
    .unwrap_err();
    assert!(e.contains("does not take: supplier"), "{e}");
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
        "Code,Name,Spec,Category,Unit,List Price,Discontinued\nNW-1,Chai,10 boxes,Beverages,box,18.00,no\nNW-5,Chef Anton's Gumbo Mix,36 boxes,Condiments,box,21.35,yes\n",
    )
    .unwrap();
    assert_eq!(n, 2);
    let rows = |relay: &TestRelay| -> Vec<(String, String, String, i64)> {
        let mut r = relay.state.relay();
        let conn = r.store().connection();
        conn.prepare("SELECT code, category, list_price, active FROM products ORDER BY code")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let row = |c: &str, cat: &str, p: &str, a| (c.to_string(), cat.to_string(), p.to_string(), a);
    assert_eq!(
        rows(&relay),
        vec![
            row("NW-1", "Beverages", "18", 1),
            row("NW-5", "Condiments", "21.35", 0)
        ]
    );
    // The code is the key: a second file updates by it, never doubles.
    let again = admin::import_products(
        &relay.state,
        "code,name,spec,category,unit,list_price\nNW-1,Chai,10 boxes,Beverages,box,19.50\nNW-5,Chef Anton's Gumbo Mix,36 boxes,Condiments,box,21.35\nNW-6,Grandma's Boysenberry Spread,12 jars,Condiments,jar,25.00\n".as_bytes(),
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(
        again,
        admin::Imported {
            created: 1,
            updated: 2,
            unchanged: 0
        },
        "NW-1's price and NW-5's discontinued change"
    );
    assert_eq!(
        rows(&relay),
        vec![
            row("NW-1", "Beverages", "19.5", 1),
            row("NW-5", "Condiments", "21.35", 1),
            row("NW-6", "Condiments", "25", 1)
        ]
    );
    let e = products(
        &relay,
        "code,name,spec,unit,list_price\nNW-7,A,1,box,1\nNW-7,B,1,box,1\n",
    )
    .unwrap_err();
    assert!(
        e.contains("row 3: product code NW-7 is in this file twice"),
        "{e}"
    );
}

#[test]
fn customers_are_imported_by_code_and_a_second_import_updates_them_on_the_phones_too() {
    let dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start(dir.path());
    relay.user("li", Role::Salesperson, Some("east"));
    relay.user("wang", Role::Salesperson, Some("east"));
    let mut phone = Phone::enroll(&relay.url(), dir.path(), "li-phone", &relay.code("li"));
    // A prospect li found in the field, before head office has a code for it.
    let ctx = phone.ctx();
    let mut p = CustomerDoc::create_prospect(&ctx, "Ernst Handel", "Kirchgasse 6").unwrap();
    phone.store.save(p.document()).unwrap();
    phone.sync().unwrap();
    let header = "code,name,address,region,owner,grade,payment_terms,credit_limit,phone,tax_number,contact_name,contact_phone,contact_title\n";
    let file = format!(
        "{header}ALFKI,Alfreds Futterkiste,Obere Str. 57,east,li,A,credit,5000,030-0074321,DE123456789,Maria Anders,030-0074322,Sales Representative\n\
         ERNSH,Ernst Handel,Kirchgasse  6,east,li,B,credit,8000,7675-3425,,Roland Mendel,7675-3426,Sales Manager\n"
    );
    assert_eq!(
        imported_customers(&relay, &file).unwrap(),
        admin::Imported {
            created: 1,
            updated: 1,
            unchanged: 0
        },
        "the prospect is given its code, not made twice"
    );
    // The same file again changes nothing and makes no change to sync.
    assert_eq!(
        imported_customers(&relay, &file).unwrap(),
        admin::Imported {
            created: 0,
            updated: 0,
            unchanged: 2
        }
    );
    // A later file from the ERP: new terms for one, a new contact.
    let later = format!(
        "{header}ALFKI,Alfreds Futterkiste,Obere Str. 57,east,li,A,credit,9000,030-0074321,DE123456789,Maria Anders,030-0074399,Owner\n"
    );
    assert_eq!(
        imported_customers(&relay, &later).unwrap(),
        admin::Imported {
            created: 0,
            updated: 1,
            unchanged: 0
        }
    );
    phone.sync().unwrap();
    let on_phone = phone.customers();
    assert_eq!(
        on_phone.len(),
        2,
        "no customer twice on the phone: {on_phone:?}"
    );
    let alfki = on_phone.iter().find(|c| c.code == "ALFKI").unwrap();
    assert_eq!(alfki.credit_limit, "9000".parse().unwrap());
    assert_eq!(alfki.tax_number, "DE123456789");
    let contacts: Vec<_> = alfki.contacts.values().collect();
    assert_eq!(
        contacts.len(),
        1,
        "the contact is matched by name: {contacts:?}"
    );
    assert_eq!(
        (contacts[0].phone.as_str(), contacts[0].title.as_str()),
        ("030-0074399", "Owner")
    );
    let ernst = on_phone.iter().find(|c| c.code == "ERNSH").unwrap();
    assert_eq!(
        ernst.id(),
        p.read().unwrap().id(),
        "the prospect itself got the code"
    );
    assert_eq!(
        ernst.status,
        CustomerStatus::Prospect,
        "an import does not activate"
    );
    assert_eq!(ernst.phone, "7675-3425");
    // Head office's table carries the keys.
    let mut r = relay.state.relay();
    let conn = r.store().connection();
    let n: i64 = conn
        .query_row(
            "SELECT count(*) FROM customers WHERE code IN ('ALFKI', 'ERNSH')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 2);
    let contact: String = conn
        .query_row(
            "SELECT k.phone FROM customer_contacts k JOIN customers c ON c.id = k.customer_id WHERE c.code = 'ALFKI'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(contact, "030-0074399");
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

#[test]
fn past_orders_are_checked_row_by_row_and_dated_within_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start(dir.path());
    relay.user("li", Role::Salesperson, Some("east"));
    relay.user("zhao", Role::Manager, Some("east"));
    products(
        &relay,
        "code,name,spec,unit,list_price\nNW-1,Chai,10 boxes,box,18.00\n",
    )
    .unwrap();
    customers(
        &relay,
        &format!("{HEADER}ALFKI,Alfreds,Obere Str. 57,east,li,A,credit,5000\n"),
    )
    .unwrap();
    let orders = |csv: &str| {
        admin::import_orders(&relay.state, csv.as_bytes(), &mut |_, _| {})
            .map_err(|e| e.to_string())
    };
    let header = "number,customer_code,order_date,status,product,quantity,shipped_on\n";
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(2)).date_naive();
    let e = orders(&format!(
        "{header}1,ALFKI,2025-01-10,approved,NW-1,2,\n\
         1,ALFKI,2025-01-11,approved,NW-1,3,\n\
         2,NOBODY,2025-01-10,approved,NW-1,1,\n\
         3,ALFKI,{tomorrow},submitted,NW-1,1,\n\
         4,ALFKI,1999-05-01,submitted,NW-1,1,\n\
         5,ALFKI,2025-01-10,shipped,NW-1,1,\n\
         6,ALFKI,2025-01-10,approved,NW-99,1,\n\
         7,ALFKI,2025-01-10,lost,NW-1,1,\n"
    ))
    .unwrap_err();
    for needle in [
        "row 3: order 1 says other things than its first row (2)",
        "row 4: order 2: customer code NOBODY is not a customer",
        "row 5: order_date",
        "is in the future",
        "row 6: order_date 1999-05-01 is before 2000",
        "row 7: a shipped order needs its shipped_on date",
        "row 8: order 6: product NW-99 is not in the catalog",
        "row 9: status 'lost' is not one a past order can have",
    ] {
        assert!(e.contains(needle), "{needle}: {e}");
    }
    // Without an order desk nobody can have confirmed it.
    let e = orders(&format!(
        "{header}8,ALFKI,2025-01-10,shipped,NW-1,1,2025-01-12\n"
    ))
    .unwrap_err();
    assert!(
        e.contains("there is no order desk clerk to record the step in the order's history; create one first (admin create-user --role order_desk)"),
        "{e}"
    );
    let n = orders(&format!("{header}9,ALFKI,2025-01-10,approved,NW-1,4,\n")).unwrap();
    assert_eq!(n.created, 1);
    let mut r = relay.state.relay();
    let (number, status, created_at): (String, String, String) = r
        .store()
        .connection()
        .query_row("SELECT number, status, created_at FROM orders", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert_eq!(number, "HIST-20250110-009");
    assert_eq!(status, "approved");
    assert_eq!(
        created_at, "2025-01-10T02:00:00.000Z",
        "10:00 in Shanghai on the order date"
    );
}
