//! A company moves onto fieldsync: its products, customers and a year of
//! past orders come in through the CLI, phones then take new orders across
//! midnight in UTC+8, and every figure of the sales, credit and delivery
//! reports is checked against sums this test works out on its own from the
//! same data (integer cents, no code shared with the relay).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::fmt::Write;

use chrono::{Datelike, Days, NaiveDate, NaiveTime, Utc};
use fieldsync_core::BusinessZone;
use fieldsync_tests::*;

/// The products: code, name, category, list price in cents.
const PRODUCTS: &[(&str, &str, &str, i64)] = &[
    ("TS-100", "Cotton shirt", "Shirts", 12_950),
    ("TS-200", "Linen shirt", "Shirts", 15_900),
    ("PT-100", "Chino trousers", "Trousers", 19_900),
    ("JK-100", "Denim jacket", "Jackets", 34_900),
    ("JK-200", "Wool coat", "Jackets", 89_900),
    ("SC-100", "Silk scarf", "Accessories", 4_550),
];

/// The customers: code, name, region, salesperson.
const CUSTOMERS: &[(&str, &str, &str, &str)] = &[
    ("E-001", "Hengda Textiles", "east", "li"),
    ("E-002", "Lakeside Fashion", "east", "li"),
    ("E-003", "Harbour Outfitters", "east", "wang"),
    ("W-001", "Mountain Outfitters", "west", "chen"),
    ("W-002", "Desert Rose Boutique", "west", "chen"),
];

/// A past order as the test made it up.
#[derive(Clone)]
struct Past {
    number: u32,
    customer: usize,
    taken_by: Option<&'static str>,
    order_date: NaiveDate,
    status: &'static str,
    approved: Option<NaiveDate>,
    shipped: Option<NaiveDate>,
    delivered: Option<NaiveDate>,
    paid: Option<NaiveDate>,
    wanted: Option<NaiveDate>,
    /// Sent back by a manager once before its approval.
    rejected: bool,
    /// product index, quantity, unit price in cents, discount percent
    lines: Vec<(usize, i64, i64, i64)>,
}

impl Past {
    fn total_cents(&self) -> i64 {
        self.lines.iter().map(|l| line_cents(*l)).sum()
    }
    fn sold(&self) -> bool {
        !matches!(self.status, "submitted" | "cancelled")
    }
    fn owner(&self) -> &'static str {
        CUSTOMERS[self.customer].3
    }
    fn region(&self) -> &'static str {
        CUSTOMERS[self.customer].2
    }
}

/// A line's total in cents: quantity × price less the discount, rounded
/// half away from zero, worked out in integers.
fn line_cents((_, qty, price, discount): (usize, i64, i64, i64)) -> i64 {
    let exact_hundredths = qty * price * (100 - discount);
    (exact_hundredths + 50) / 100
}

fn money(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// A year of orders, the newest three weeks old: every status a past order
/// can have, some taken by the order desk, some with a delivery date.
fn past_orders(today: NaiveDate) -> Vec<Past> {
    let statuses = [
        "archived",
        "archived",
        "archived",
        "settled",
        "settled",
        "delivered",
        "shipped",
        "approved",
        "cancelled",
        "submitted",
        "in_production",
        "archived",
    ];
    let mut seed: u64 = 20_251_202;
    let mut next = move |n: u64| {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (seed >> 33) % n
    };
    (0..72u32)
        .map(|k| {
            let days_ago = 21 + u64::from(71 - k) * 340 / 71;
            let order_date = today - Days::new(days_ago);
            let status = statuses[k as usize % statuses.len()];
            let customer = next(CUSTOMERS.len() as u64) as usize;
            let approved = order_date + Days::new(1);
            let shipped = approved + Days::new(2 + next(3));
            let delivered = shipped + Days::new(1 + next(3));
            let reached = |s: &str| {
                let order = [
                    "approved",
                    "in_production",
                    "shipped",
                    "delivered",
                    "settled",
                    "archived",
                ];
                let at = |x: &str| order.iter().position(|o| *o == x);
                at(status).is_some() && at(status) >= at(s)
            };
            let lines = (0..1 + next(3))
                .map(|_| {
                    let p = next(PRODUCTS.len() as u64) as usize;
                    let price = PRODUCTS[p].3 - (next(3) as i64) * 50;
                    (p, 1 + next(40) as i64, price, [0, 5, 12][next(3) as usize])
                })
                .collect();
            Past {
                number: 10_248 + k,
                customer,
                taken_by: (k % 5 == 0).then_some("sun"),
                order_date,
                status,
                approved: reached("approved").then_some(approved),
                shipped: reached("shipped").then_some(shipped),
                delivered: reached("delivered").then_some(delivered),
                paid: reached("settled").then_some(delivered + Days::new(3 + next(10))),
                wanted: (k % 2 == 0).then_some(order_date + Days::new(5)),
                rejected: false,
                lines,
            }
        })
        .collect()
}

fn orders_csv(orders: &[Past]) -> String {
    let mut s = String::from(
        "number,customer_code,order_date,status,product,quantity,unit_price,discount_percent,approved_on,shipped_on,delivered_on,paid_on,delivery_date,taken_by\n",
    );
    let date = |d: Option<NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
    for o in orders {
        for &(p, qty, price, discount) in &o.lines {
            writeln!(
                s,
                "{},{},{},{},{},{qty},{},{discount},{},{},{},{},{},{}",
                o.number,
                CUSTOMERS[o.customer].0,
                o.order_date,
                o.status,
                PRODUCTS[p].0,
                money(price),
                date(o.approved),
                date(o.shipped),
                date(o.delivered),
                date(o.paid),
                date(o.wanted),
                o.taken_by.unwrap_or(""),
            )
            .unwrap();
        }
    }
    s
}

fn report(relay: &RelayProcess, token: &str, query: &str) -> Vec<BTreeMap<String, String>> {
    let a = relay.api(token).get(&format!("/v1/reports/{query}"));
    assert_eq!(a.status, 200, "{query}: {}", a.error());
    a.json()
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row.as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect()
        })
        .collect()
}

fn row(cells: &[(&str, String)]) -> BTreeMap<String, String> {
    cells
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// Sums orders into (count, cents) per key.
fn sales_by(orders: &[Past], key: impl Fn(&Past) -> String) -> BTreeMap<String, (u64, i64)> {
    let mut out: BTreeMap<String, (u64, i64)> = BTreeMap::new();
    for o in orders.iter().filter(|o| o.sold()) {
        let e = out.entry(key(o)).or_default();
        e.0 += 1;
        e.1 += o.total_cents();
    }
    out
}

#[test]
fn a_year_of_history_and_new_orders_across_midnight_give_every_report_figure_right() {
    let dir = tempfile::tempdir().unwrap();
    let mut relay = RelayProcess::new(dir.path());
    let zone = BusinessZone::default();
    let today = zone.date_at(Utc::now());
    let admin = relay.user("root", "admin", None);
    for (id, region) in [("li", "east"), ("wang", "east"), ("chen", "west")] {
        relay.user(id, "salesperson", Some(region));
    }
    let zhao = relay.user("zhao", "manager", Some("east"));
    relay.user("qian", "manager", Some("west"));
    for (id, role) in [
        ("sun", "order_desk"),
        ("zhou", "production"),
        ("wu", "warehouse"),
        ("zheng", "finance"),
    ] {
        relay.user(id, role, None);
    }

    // The data set goes in through the CLI, as a department would load it.
    let file = |name: &str, text: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let mut products = String::from("code,name,spec,category,unit,list_price\n");
    for (code, name, category, price) in PRODUCTS {
        writeln!(
            products,
            "{code},{name},S-XL,{category},pcs,{}",
            money(*price)
        )
        .unwrap();
    }
    let out = relay.admin(&["import-products", &file("products.csv", products)]);
    assert!(out.contains("6 new"), "{out}");
    let mut customers = String::from(
        "code,name,address,region,owner,grade,payment_terms,credit_limit,phone,tax_number\n",
    );
    for (i, (code, name, region, owner)) in CUSTOMERS.iter().enumerate() {
        writeln!(
            customers,
            "{code},{name},{} Market Street,{region},{owner},A,credit,900000,021-555{i},9131000{i}",
            i + 1
        )
        .unwrap();
    }
    let customers_file = file("customers.csv", customers);
    assert!(
        relay
            .admin(&["import-customers", &customers_file])
            .contains("5 new")
    );
    let stock = file(
        "stock.csv",
        "code,on_hand,reserved\nTS-100,120,30\nJK-200,8,\n".into(),
    );
    relay.admin(&["import-stock", &stock, "--user", "wu"]);
    let history = past_orders(today);
    let orders_file = file("orders.csv", orders_csv(&history));
    let out = relay.admin(&["import-orders", &orders_file]);
    assert!(out.contains(&format!("{} new", history.len())), "{out}");
    // Twice: nothing doubles.
    let out = relay.admin(&["import-orders", &orders_file]);
    assert!(
        out.contains("0 new") && out.contains(&format!("{} there already", history.len())),
        "{out}"
    );
    assert!(
        relay
            .admin(&["import-customers", &customers_file])
            .contains("5 unchanged")
    );

    // Li takes two orders on the phone, five minutes either side of
    // midnight in Shanghai (16:00 UTC), two days ago.
    relay.start();
    let mut li = Phone::enroll(&relay.url(), dir.path(), "li-phone", &relay.code("li"));
    li.sync().unwrap();
    let customer = li.customer_coded("E-001");
    let evening = today - Days::new(2);
    let local =
        |d: NaiveDate, h, m| zone.instant(d.and_time(NaiveTime::from_hms_opt(h, m, 0).unwrap()));
    let (late, late_number) = submitted_order(
        &mut li,
        &customer,
        local(evening, 23, 55),
        &[("TS-100", "3", "129.50")],
    );
    let (early, early_number) = submitted_order(
        &mut li,
        &customer,
        local(evening + Days::new(1), 0, 5),
        &[("JK-100", "2", "349.00"), ("SC-100", "5", "45.50")],
    );
    let day = |d: NaiveDate| d.format("%Y%m%d").to_string();
    assert!(late_number.contains(&day(evening)), "{late_number}");
    assert!(
        early_number.contains(&day(evening + Days::new(1))),
        "{early_number}"
    );
    li.sync().unwrap();
    // The late one is sent back once and handed in again: approved, but
    // not right the first time.
    let a = relay.api(&zhao).post(
        &format!("/v1/orders/{late}/reject"),
        serde_json::json!({"reason": "confirm the size split with the shop"}),
    );
    assert_eq!(a.status, 200, "{}", a.error());
    li.sync().unwrap();
    let mut o = fieldsync_core::OrderDoc::from_document(li.store.load(late).unwrap()).unwrap();
    o.submit(&li.ctx()).unwrap();
    li.store.save(o.document()).unwrap();
    li.sync().unwrap();
    for id in [late, early] {
        let a = relay
            .api(&zhao)
            .post(&format!("/v1/orders/{id}/approve"), serde_json::json!({}));
        assert_eq!(a.status, 200, "{}", a.error());
    }
    // After its approval the shop wants one more scarf: changed after
    // approval, waiting for the manager again.
    li.sync().unwrap();
    let mut o = fieldsync_core::OrderDoc::from_document(li.store.load(early).unwrap()).unwrap();
    let scarf = o
        .read()
        .unwrap()
        .lines
        .iter()
        .find(|(_, l)| l.product == "SC-100")
        .map(|(id, _)| id.clone())
        .unwrap();
    o.set_quantity(&li.ctx(), &scarf, "6".parse().unwrap())
        .unwrap();
    li.store.save(o.document()).unwrap();

    // Three visits either side of the same midnight, and two daily reports:
    // today's (due tomorrow 09:00) and the one for two days ago, handed in
    // only now.
    let visits = [
        (0usize, local(evening, 23, 50), 30i64),
        (1, local(evening + Days::new(1), 0, 30), 45),
        (0, local(evening + Days::new(1), 10, 0), 20),
    ];
    for (c, start, minutes) in visits {
        let shop = li.customer_coded(CUSTOMERS[c].0);
        let at = |m: i64| {
            fieldsync_core::ChangeCtx::new(li.actor.clone(), start + chrono::Duration::minutes(m))
        };
        let mut v = fieldsync_core::VisitDoc::plan(
            &at(0),
            &shop,
            fieldsync_core::VisitPlan {
                planned_start: start,
                purpose: "autumn collection".into(),
                priority: fieldsync_core::Priority::Normal,
                materials: String::new(),
            },
        )
        .unwrap();
        v.check_in(&at(0), None).unwrap();
        v.check_out(&at(minutes), None).unwrap();
        li.store.save(v.document()).unwrap();
    }
    for d in [today, evening] {
        let mut r = fieldsync_core::DailyReportDoc::create(&li.ctx(), d).unwrap();
        r.write(&li.ctx(), "three visits", "", "follow up Hengda")
            .unwrap();
        r.submit(&li.ctx()).unwrap();
        li.store.save(r.document()).unwrap();
    }
    li.sync().unwrap();

    // The phone orders join the data the test sums on its own.
    let mut all = history.clone();
    for (d, lines, rejected, status) in [
        (evening, vec![(0, 3, 12_950, 0)], true, "approved"),
        (
            evening + Days::new(1),
            vec![(3, 2, 34_900, 0), (5, 6, 4_550, 0)],
            false,
            "changed_after_approval",
        ),
    ] {
        all.push(Past {
            rejected,
            number: 0,
            customer: 0,
            taken_by: None,
            order_date: d,
            status,
            approved: Some(today),
            shipped: None,
            delivered: None,
            paid: None,
            wanted: None,
            lines,
        });
    }

    // Sales, credited to the customer's owner and to who took the order.
    let expect = |groups: BTreeMap<String, (u64, i64)>, key: &str, credited: Option<&str>| {
        groups
            .into_iter()
            .map(|(k, (n, cents))| {
                let mut cells = vec![
                    (key, k),
                    ("orders", n.to_string()),
                    ("amount", money(cents)),
                ];
                if let Some(c) = credited {
                    cells.push(("credited_as", c.to_string()));
                }
                row(&cells)
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        report(&relay, &admin, "sales-by-salesperson"),
        expect(
            sales_by(&all, |o| o.owner().into()),
            "salesperson",
            Some("customer's owner")
        )
    );
    assert_eq!(
        report(&relay, &admin, "sales-by-order-taker"),
        expect(
            sales_by(&all, |o| o.taken_by.unwrap_or(o.owner()).into()),
            "taken_by",
            Some("took the order")
        )
    );
    assert_eq!(
        report(&relay, &admin, "sales-by-region"),
        expect(sales_by(&all, |o| o.region().into()), "region", None)
    );
    assert_eq!(
        report(&relay, &admin, "sales-by-month"),
        expect(
            sales_by(&all, |o| o.order_date.format("%Y-%m").to_string()),
            "month",
            None
        )
    );
    // A manager sees the region only; dates narrow to business days.
    assert_eq!(
        report(&relay, &zhao, "sales-by-month"),
        expect(
            sales_by(&all, |o| if o.region() == "east" {
                o.order_date.format("%Y-%m").to_string()
            } else {
                String::new()
            })
            .into_iter()
            .filter(|(k, _)| !k.is_empty())
            .collect(),
            "month",
            None
        )
    );
    for d in [evening, evening + Days::new(1)] {
        let only: Vec<Past> = all.iter().filter(|o| o.order_date == d).cloned().collect();
        assert_eq!(only.len(), 1, "one phone order on each side of midnight");
        assert_eq!(
            report(
                &relay,
                &admin,
                &format!("sales-by-salesperson?from={d}&to={d}")
            ),
            expect(
                sales_by(&only, |o| o.owner().into()),
                "salesperson",
                Some("customer's owner")
            ),
            "business day {d}"
        );
    }
    let mut by_product: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for o in all.iter().filter(|o| o.sold()) {
        for l in &o.lines {
            let e = by_product.entry(PRODUCTS[l.0].0.into()).or_default();
            e.0 += l.1;
            e.1 += line_cents(*l);
        }
    }
    assert_eq!(
        report(&relay, &admin, "sales-by-product"),
        by_product
            .into_iter()
            .map(|(p, (q, c))| row(&[
                ("product", p),
                ("quantity", q.to_string()),
                ("amount", money(c))
            ]))
            .collect::<Vec<_>>()
    );

    // What production has to make: approved and in production, not yet shipped.
    let mut ordered: BTreeMap<&str, i64> = PRODUCTS.iter().map(|p| (p.0, 0)).collect();
    for o in all.iter().filter(|o| {
        matches!(
            o.status,
            "approved" | "changed_after_approval" | "in_production"
        )
    }) {
        for l in &o.lines {
            *ordered.get_mut(PRODUCTS[l.0].0).unwrap() += l.1;
        }
    }
    let stock = |p: &str| match p {
        "TS-100" => ("120", "30"),
        "JK-200" => ("8", "0"),
        _ => ("0", "0"),
    };
    assert_eq!(
        report(&relay, &admin, "production"),
        ordered
            .iter()
            .map(|(p, q)| row(&[
                ("product", p.to_string()),
                ("ordered", q.to_string()),
                ("in_production", "0".into()),
                ("on_hand", stock(p).0.into()),
                ("reserved", stock(p).1.into()),
            ]))
            .collect::<Vec<_>>()
    );

    // Credit: what is unpaid from approval until paid, against the limit.
    let open = |c: usize| -> i64 {
        all.iter()
            .filter(|o| o.customer == c)
            .filter(|o| {
                matches!(
                    o.status,
                    "approved"
                        | "changed_after_approval"
                        | "in_production"
                        | "shipped"
                        | "delivered"
                )
            })
            .map(Past::total_cents)
            .sum()
    };
    let mut expected: Vec<_> = CUSTOMERS
        .iter()
        .enumerate()
        .map(|(i, (_, name, region, _))| {
            row(&[
                ("customer", name.to_string()),
                ("region", region.to_string()),
                ("payment_terms", "credit".into()),
                ("credit_limit", "900000.00".into()),
                ("receivables_published", "0.00".into()),
                ("open_orders_unpaid", money(open(i))),
                ("credit_exposure", money(open(i))),
                ("credit_headroom", money(90_000_000 - open(i))),
                ("credit_overrides", "0".into()),
            ])
        })
        .collect();
    expected.sort_by(|a, b| a["customer"].cmp(&b["customer"]));
    assert_eq!(report(&relay, &admin, "receivables"), expected);

    // Owed on goods that have left, by days since they shipped.
    let mut aged: BTreeMap<(String, String), [i64; 4]> = BTreeMap::new();
    for o in all
        .iter()
        .filter(|o| matches!(o.status, "shipped" | "delivered"))
    {
        let days = (today - o.shipped.unwrap()).num_days();
        let bucket = match days {
            ..=30 => 0,
            31..=60 => 1,
            61..=90 => 2,
            _ => 3,
        };
        let c = CUSTOMERS[o.customer];
        aged.entry((c.1.into(), c.2.into())).or_default()[bucket] += o.total_cents();
    }
    assert!(aged.len() >= 2, "the data set has goods out unpaid");
    assert_eq!(
        report(&relay, &admin, "receivables-aged"),
        aged.into_iter()
            .map(|((customer, region), b)| row(&[
                ("customer", customer),
                ("region", region),
                ("days_0_30", money(b[0])),
                ("days_31_60", money(b[1])),
                ("days_61_90", money(b[2])),
                ("over_90_days", money(b[3])),
                ("total", money(b.iter().sum())),
            ]))
            .collect::<Vec<_>>()
    );

    // On-time delivery and order accuracy, per the customer's salesperson.
    let mut perf: BTreeMap<&str, [u64; 4]> = BTreeMap::new();
    for o in &all {
        let p = perf.entry(o.owner()).or_default();
        if let (Some(wanted), Some(delivered)) = (o.wanted, o.delivered) {
            p[0] += 1;
            p[1] += u64::from(delivered <= wanted);
        }
        if o.approved.is_some() {
            p[2] += 1;
            p[3] += u64::from(!o.rejected && o.status != "changed_after_approval");
        }
    }
    // Percent to one decimal, half up, as tenths in integers.
    let rate = |part: u64, whole: u64| match (part * 1000 + whole / 2).checked_div(whole) {
        None => String::new(),
        Some(tenths) if tenths.is_multiple_of(10) => (tenths / 10).to_string(),
        Some(tenths) => format!("{}.{}", tenths / 10, tenths % 10),
    };
    assert_eq!(
        report(&relay, &admin, "order-performance"),
        perf.into_iter()
            .filter(|(_, p)| p[0] + p[2] > 0)
            .map(|(who, p)| row(&[
                ("salesperson", who.to_string()),
                ("delivered_with_a_date", p[0].to_string()),
                ("delivered_on_time", p[1].to_string()),
                ("on_time_delivery_percent", rate(p[1], p[0])),
                ("approved", p[2].to_string()),
                ("right_first_time", p[3].to_string()),
                ("order_accuracy_percent", rate(p[3], p[2])),
            ]))
            .collect::<Vec<_>>()
    );

    // Changed after approval: the one order, waiting for its manager.
    assert_eq!(
        report(&relay, &admin, "changed-after-approval"),
        vec![row(&[
            ("order", early_number.clone()),
            ("customer", "Hengda Textiles".into()),
            ("salesperson", "li".into()),
            ("region", "east".into()),
            ("status", "changed_after_approval".into()),
            ("total", money(2 * 34_900 + 6 * 4_550)),
        ])]
    );

    // Visits per business day and the month's KPIs: a customer is new in
    // the month of its first visit ever, and every visit to it that month
    // is a visit to a new customer.
    let mut per_day: BTreeMap<NaiveDate, u64> = BTreeMap::new();
    let mut months: BTreeMap<String, (u64, u64, i64)> = BTreeMap::new();
    let month_of = |t| zone.date_at(t).format("%Y-%m").to_string();
    let mut first_month: BTreeMap<usize, String> = BTreeMap::new();
    for (c, start, _) in visits {
        first_month.entry(c).or_insert_with(|| month_of(start));
    }
    for (c, start, minutes) in visits {
        let d = zone.date_at(start);
        *per_day.entry(d).or_default() += 1;
        let m = months.entry(month_of(start)).or_default();
        m.0 += 1;
        m.1 += u64::from(first_month[&c] == month_of(start));
        m.2 += minutes;
    }
    assert_eq!(
        report(&relay, &admin, "visits-per-day"),
        per_day
            .iter()
            .map(|(d, n)| row(&[
                ("salesperson", "li".into()),
                ("day", d.to_string()),
                ("visits", n.to_string())
            ]))
            .collect::<Vec<_>>()
    );
    // n/d to `places` decimals, half up, trailing zeros dropped.
    let ratio = |n: i64, d: i64, places: u32| {
        let scale = 10i64.pow(places);
        let v = (n * scale * 2 + d) / (2 * d);
        let s = format!(
            "{}.{:0width$}",
            v / scale,
            v % scale,
            width = places as usize
        );
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    };
    assert_eq!(
        report(&relay, &admin, "visit-kpis"),
        months
            .iter()
            .map(|(m, (n, new, minutes))| row(&[
                ("salesperson", "li".into()),
                ("month", m.clone()),
                ("visits", n.to_string()),
                ("target", "120".into()),
                ("new_customer_visits", new.to_string()),
                ("new_customer_share", ratio(*new as i64, *n as i64, 4)),
                ("meets_visit_target", (*n >= 120).to_string()),
                ("meets_new_customer_target", (new * 3 >= *n).to_string()),
                ("average_minutes", ratio(*minutes, *n as i64, 1)),
            ]))
            .collect::<Vec<_>>()
    );

    // Daily reports: due 09:00 on the next working day (Monday to Friday)
    // in Shanghai, judged by when the relay received them (just now).
    let due = |d: NaiveDate| {
        let mut next = d + Days::new(1);
        while matches!(next.weekday(), chrono::Weekday::Sat | chrono::Weekday::Sun) {
            next = next + Days::new(1);
        }
        local(next, 9, 0)
    };
    let received = Utc::now();
    let mut reports: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for d in [today, evening] {
        let r = reports.entry(d.format("%Y-%m").to_string()).or_default();
        if due(d) >= received {
            r.0 += 1;
        } else {
            r.1 += 1;
        }
    }
    assert_eq!(
        report(&relay, &admin, "daily-reports"),
        reports
            .iter()
            .map(|(m, (on_time, late))| row(&[
                ("salesperson", "li".into()),
                ("month", m.clone()),
                ("on_time", on_time.to_string()),
                ("late", late.to_string()),
                ("not_submitted", "0".into()),
            ]))
            .collect::<Vec<_>>()
    );
}
