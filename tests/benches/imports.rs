//! Imports: `admin import-products` and `admin import-customers` of 1,000 and
//! 10,000 rows into a new database on disk, each size in its own process so
//! its peak memory is its own.
//!
//! Run with:
//!   cargo bench -p fieldsync-tests --bench imports

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::fmt::Write;
use std::time::Instant;

use fieldsync_core::Role;
use fieldsync_server::{AppState, Limits, accounts, admin};

/// Peak resident memory of this process so far, in MB (Linux).
fn peak_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn products_csv(n: usize) -> String {
    let mut s = String::from("code,name,spec,unit,list_price,discontinued\n");
    for i in 0..n {
        let _ = writeln!(
            s,
            "P{i:05},Product number {i},Box of {} units,box,{}.{:02},{}",
            1 + i % 48,
            5 + i % 300,
            i % 100,
            if i % 17 == 0 { "yes" } else { "no" },
        );
    }
    s
}

fn customers_csv(n: usize) -> String {
    let mut s = String::from(
        "code,name,address,region,owner,grade,payment_terms,credit_limit,phone,tax_number\n",
    );
    for i in 0..n {
        let region = ["east", "west", "north", "south"][i % 4];
        let _ = writeln!(
            s,
            "C{i:06},Customer {i},{} Market Street,{region},s-{region},{},{},{},+86 21 5555 {i:04},91310000{i:010}",
            i + 1,
            ["A", "B", "C"][i % 3],
            if i % 2 == 0 { "credit" } else { "cash" },
            if i % 2 == 0 { "50000" } else { "" }
        );
    }
    s
}

/// Runs one import in this process and prints its line.
fn one(kind: &str, n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let state = AppState::open(&dir.path().join("relay.db"), Limits::default()).unwrap();
    {
        let mut relay = state.relay();
        for r in ["east", "west", "north", "south"] {
            accounts::create_user(
                relay.store().connection(),
                &format!("s-{r}"),
                r,
                Role::Salesperson,
                Some(r),
            )
            .unwrap();
        }
    }
    let csv = if kind == "products" {
        products_csv(n)
    } else {
        customers_csv(n)
    };
    let before = peak_mb();
    let start = Instant::now();
    let imported = if kind == "products" {
        admin::import_products(&state, csv.as_bytes(), &mut |_, _| {})
    } else {
        admin::import_customers(&state, csv.as_bytes(), &mut |_, _| {})
    }
    .unwrap();
    let took = start.elapsed();
    assert_eq!(imported.created, n);
    println!(
        "| {kind} | {n} | {:.2} s | {:.0} µs | {:.0} MB | {:.0} MB |",
        took.as_secs_f64(),
        took.as_secs_f64() * 1e6 / n as f64,
        peak_mb(),
        before
    );
    // The same file again: every row found by its code, nothing written.
    let start = Instant::now();
    let again = if kind == "products" {
        admin::import_products(&state, csv.as_bytes(), &mut |_, _| {})
    } else {
        admin::import_customers(&state, csv.as_bytes(), &mut |_, _| {})
    }
    .unwrap();
    let took = start.elapsed();
    assert_eq!(again.unchanged, n);
    println!(
        "| {kind} again (unchanged) | {n} | {:.2} s | {:.0} µs | {:.0} MB | |",
        took.as_secs_f64(),
        took.as_secs_f64() * 1e6 / n as f64,
        peak_mb(),
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--one") {
        one(&args[i + 1], args[i + 2].parse().unwrap());
        return;
    }
    println!("| import | rows | time | per row | peak memory | before the import |");
    println!("|---|---:|---:|---:|---:|---:|");
    let exe = std::env::current_exe().unwrap();
    for kind in ["products", "customers"] {
        for n in [1_000usize, 10_000] {
            let out = std::process::Command::new(&exe)
                .args(["--one", kind, &n.to_string()])
                .output()
                .unwrap();
            print!("{}", String::from_utf8_lossy(&out.stdout));
            if !out.status.success() {
                eprintln!("{}", String::from_utf8_lossy(&out.stderr));
            }
        }
    }
}
