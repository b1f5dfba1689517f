//! The `fieldsync-server` binary as a person uses it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fieldsync-server"))
}

fn run(db: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = bin().arg("--db").arg(db).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn serve_answers_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = bin()
        .arg("--db")
        .arg(dir.path().join("f.db"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    while !first.contains("listening on") {
        first.clear();
        assert!(
            out.read_line(&mut first).unwrap() > 0,
            "the server stopped before listening"
        );
    }
    let addr = first
        .split("http://")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let mut s = TcpStream::connect(&addr).unwrap();
    write!(
        s,
        "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.ends_with("ok"), "{resp}");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let exit = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("the relay did not stop within 30 s of SIGTERM");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(exit.success(), "{exit:?}");
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("stopped"), "{rest}");
}

#[test]
fn admin_commands_and_imports() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("f.db");
    let (ok, out, _) = run(
        &db,
        &[
            "admin",
            "create-user",
            "--id",
            "li",
            "--name",
            "Li Wei",
            "--role",
            "salesperson",
            "--region",
            "east",
        ],
    );
    assert!(ok);
    assert!(out.contains("API token (shown once"), "{out}");
    let (ok, _, err) = run(
        &db,
        &[
            "admin",
            "create-user",
            "--id",
            "x",
            "--name",
            "X",
            "--role",
            "boss",
        ],
    );
    assert!(!ok);
    assert!(err.contains("not a valid role"), "{err}");
    let (ok, out, _) = run(&db, &["admin", "enroll-code", "--user", "li"]);
    assert!(ok && out.contains("Enrollment code for li"), "{out}");
    let (ok, _, err) = run(&db, &["admin", "enroll-code", "--user", "ghost"]);
    assert!(!ok && err.contains("no user ghost"), "{err}");

    // A file with bad rows imports nothing and says which rows are wrong.
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "code,name,address,region,owner,grade,payment_terms,credit_limit\n\
         C1,Hengda,1 Road,east,li,A,credit,5000\n\
         C2,Lakeside,2 Road,east,li,B,credit,5,000\n\
         C3,Riverside,3 Road,east,li,Z,credit,100\n\
         C4,Nobody,4 Road,east,ghost,A,cash,0\n",
    )
    .unwrap();
    let (ok, _, err) = run(&db, &["admin", "import-customers", bad.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("nothing was imported"), "{err}");
    assert!(
        err.contains("row 3") && err.contains("row 4") && err.contains("row 5"),
        "{err}"
    );
    assert!(!err.contains("row 2:"), "{err}");
    let (_, out, _) = run(&db, &["admin", "export", "receivables"]);
    assert_eq!(out.lines().count(), 1, "only the header: {out}");

    let good = dir.path().join("good.csv");
    std::fs::write(
        &good,
        "code,name,address,region,owner,grade,payment_terms,credit_limit\nC1,Hengda,1 Road,east,li,A,credit,5000.50\nC2,Lakeside,2 Road,east,li,B,cash,\n",
    )
    .unwrap();
    let (ok, out, err) = run(&db, &["admin", "import-customers", good.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(
        out.contains("Imported 2 customers: 2 new, 0 updated, 0 unchanged"),
        "{out}"
    );
    assert!(err.contains("2/2"), "progress is shown: {err}");
    let (ok, out, err) = run(&db, &["admin", "import-customers", good.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(
        out.contains("Imported 2 customers: 0 new, 0 updated, 2 unchanged"),
        "the same file twice doubles nothing: {out}"
    );
    let (_, out, _) = run(&db, &["admin", "export", "receivables"]);
    assert!(
        out.contains("Hengda,east,credit,5000.50,0.00,0.00,0.00,5000.50,0"),
        "{out}"
    );

    let products = dir.path().join("p.csv");
    std::fs::write(
        &products,
        "code,name,spec,unit,list_price\nTS-1,Shirt,M,pcs,12.50\nTS-2,Shirt,L,pcs,abc\n",
    )
    .unwrap();
    let (ok, _, err) = run(
        &db,
        &["admin", "import-products", products.to_str().unwrap()],
    );
    assert!(
        !ok && err.contains("row 3") && err.contains("list price"),
        "{err}"
    );
    std::fs::write(
        &products,
        "code,name,spec,unit,list_price\nTS-1,Shirt,M,pcs,12.50\nTS-2,Shirt,L,pcs,13\n",
    )
    .unwrap();
    let (ok, out, _) = run(
        &db,
        &["admin", "import-products", products.to_str().unwrap()],
    );
    assert!(ok && out.contains("Imported 2 products"), "{out}");
    let (_, out, _) = run(&db, &["admin", "export", "production"]);
    assert!(
        out.contains("TS-1,0,0,0,0") && out.contains("TS-2,0,0,0,0"),
        "{out}"
    );
    let (ok, _, err) = run(&db, &["admin", "export", "nonsense"]);
    assert!(!ok && err.contains("there is no report nonsense"), "{err}");
}

#[test]
fn demo_creates_a_company_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.db");
    let (ok, out, err) = run(&db, &["demo"]);
    assert!(ok, "{err}");
    assert!(out.contains("Enrollment code for salesperson li"), "{out}");
    let (_, sales, _) = run(&db, &["admin", "export", "sales-by-region"]);
    assert!(sales.lines().count() >= 3, "{sales}");
    let (ok, _, err) = run(&db, &["demo"]);
    assert!(!ok && err.contains("already has users"), "{err}");
}
