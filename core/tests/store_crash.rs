//! A store survives its process being killed in the middle of writing: every
//! save that returned is there after a restart, and the file is intact.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use fieldsync_core::store::DeviceStore;
use fieldsync_core::*;

const CHILD_ENV: &str = "FIELDSYNC_CRASH_TEST_STORE";

/// Runs only as the child of `a_killed_writer_loses_no_committed_save`: writes
/// orders as fast as it can, printing each id once its save has returned.
#[test]
fn child_writer() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut store = DeviceStore::open(std::path::Path::new(&path)).unwrap();
    let c = customer();
    let mut out = std::io::stdout().lock();
    for i in 0.. {
        let mut o = order(&c);
        for j in 0..(i % 5) {
            o.add_line(&sales(), line(&format!("X{j}"), "1", "1"))
                .unwrap();
        }
        store.save(o.document()).unwrap();
        writeln!(out, "saved {}", o.document().id()).unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn a_killed_writer_loses_no_committed_save() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("phone.db");
    for round in 0..3 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_writer", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut saved = Vec::new();
        let start = Instant::now();
        while saved.len() < 20 + 15 * round && start.elapsed() < Duration::from_secs(60) {
            match lines.next() {
                Some(Ok(l)) if l.starts_with("saved ") => saved.push(l[6..].to_string()),
                Some(_) => {}
                None => break,
            }
        }
        child.kill().unwrap(); // SIGKILL, mid-write
        child.wait().unwrap();
        // Lines already printed before the kill were saves that returned.
        for l in lines.map_while(Result::ok) {
            if let Some(id) = l.strip_prefix("saved ") {
                saved.push(id.to_string());
            }
        }
        assert!(
            saved.len() >= 20,
            "the child wrote too little: {}",
            saved.len()
        );

        let store = DeviceStore::open(&path).unwrap();
        for id in &saved {
            let id: DocId = id.parse().unwrap();
            let doc = store.load(id).unwrap();
            assert!(doc.view::<Order>().is_ok());
        }
        assert!(store.open_orders().unwrap().len() >= saved.len());
    }
}
