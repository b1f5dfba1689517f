//! Fuzzes the relay's and the phone library's inputs for a while.
//!
//! ```sh
//! cargo run --release -p fieldsync-tests --bin fuzz -- --minutes 10
//! cargo run --release -p fieldsync-tests --bin fuzz -- --minutes 2 --target pushed-changes
//! ```
//!
//! Each target runs in a worker process, for an equal share of the time:
//! inputs (seeds, the saved corpus, crashers) are mutated and run; an input
//! with a new kind of outcome joins the corpus (`--save-corpus` also writes
//! it to `tests/fuzz/corpus/<target>/`). A panic, a 5xx answer or a broken
//! invariant is written to `tests/fuzz/crashers/<target>/`; so is the input
//! that was running when a worker aborted (out of memory, stack overflow) or
//! hung, after which the worker starts again. `cargo test` replays both
//! directories (`tests/tests/fuzz_corpus.rs`); commit new crashers once fixed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use fieldsync_tests::fuzz::{self, Mutator};

/// Memory a worker may use; more is an abort, kept as a crasher.
const WORKER_MEMORY: u64 = 4 << 30;
/// An input running this long is a hang.
const HANG_AFTER: Duration = Duration::from_secs(20);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
    };
    if let Some(target) = flag("--worker") {
        let seconds: u64 = flag("--seconds").and_then(|s| s.parse().ok()).unwrap_or(60);
        let seed: u64 = flag("--seed").and_then(|s| s.parse().ok()).unwrap_or(1);
        let state = PathBuf::from(flag("--state").cloned().unwrap_or_default());
        return worker(
            target,
            seconds,
            seed,
            &state,
            args.iter().any(|a| a == "--save-corpus"),
        );
    }
    let minutes: f64 = match flag("--minutes").map(|m| m.parse()) {
        None => 1.0,
        Some(Ok(m)) if m > 0.0 => m,
        Some(_) => {
            eprintln!("error: --minutes takes a positive number, e.g. --minutes 10");
            return ExitCode::FAILURE;
        }
    };
    let names: Vec<&'static str> = match flag("--target") {
        Some(t) => match fuzz::target(t) {
            Some(target) => vec![target.name()],
            None => {
                let all: Vec<_> = fuzz::targets().iter().map(|t| t.name()).collect();
                eprintln!("error: no target {t}; the targets are {}", all.join(", "));
                return ExitCode::FAILURE;
            }
        },
        None => fuzz::targets().iter().map(|t| t.name()).collect(),
    };
    let share = Duration::from_secs_f64(minutes * 60.0 / names.len() as f64);
    let save = args.iter().any(|a| a == "--save-corpus");
    println!(
        "Fuzzing {} target(s) for {minutes} minute(s), {:.0} s each.",
        names.len(),
        share.as_secs_f64()
    );
    let mut total_execs = 0u64;
    let mut total_findings = 0u64;
    for name in names {
        let (execs, findings, restarts) = supervise(name, share, save);
        println!(
            "  {name}: {execs} executions, {findings} finding(s), {restarts} worker restart(s)"
        );
        total_execs += execs;
        total_findings += findings;
    }
    println!("Done: {total_execs} executions, {total_findings} finding(s).");
    if total_findings > 0 {
        println!(
            "Crashers are in {}; fix them, then commit them (cargo test replays them).",
            fuzz::fuzz_dir().join("crashers").display()
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// Runs workers for `target` for `time`, restarting one that aborts or hangs.
fn supervise(target: &str, time: Duration, save: bool) -> (u64, u64, u64) {
    let state = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let (mut execs, mut findings, mut restarts) = (0u64, 0u64, 0u64);
    let exe = std::env::current_exe().unwrap();
    while started.elapsed() < time {
        let left = time.saturating_sub(started.elapsed()).as_secs().max(1);
        let seed = started.elapsed().as_nanos() as u64 ^ 0x9e37_79b9_7f4a_7c15;
        let mut cmd = Command::new(&exe);
        cmd.args(["--worker", target, "--seconds", &left.to_string()])
            .args(["--seed", &seed.to_string()])
            .arg("--state")
            .arg(state.path());
        if save {
            cmd.arg("--save-corpus");
        }
        // The input a worker is running; a new worker starts without one.
        let current = state.path().join("current");
        let _ = std::fs::remove_file(&current);
        let mut child = cmd.spawn().unwrap();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            let stale = std::fs::metadata(&current)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > HANG_AFTER);
            if stale {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        let (done, found) = read_progress(state.path());
        execs += done;
        findings += found;
        match status {
            Some(s) if s.success() => break,
            Some(s) => {
                findings += 1;
                restarts += 1;
                keep_crasher(target, &current, &format!("the worker died ({s})"));
            }
            None => {
                findings += 1;
                restarts += 1;
                keep_crasher(target, &current, "an input ran for over 20 s");
            }
        }
        let _ = std::fs::remove_file(state.path().join("progress"));
    }
    (execs, findings, restarts)
}

fn read_progress(state: &Path) -> (u64, u64) {
    let text = std::fs::read_to_string(state.join("progress")).unwrap_or_default();
    let mut numbers = text.split_whitespace().filter_map(|n| n.parse().ok());
    (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0))
}

fn keep_crasher(target: &str, current: &Path, why: &str) {
    let Ok(input) = std::fs::read(current) else {
        return;
    };
    let dir = fuzz::fuzz_dir().join("crashers").join(target);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(fuzz::input_name(&input));
    std::fs::write(&path, &input).unwrap();
    println!("  {target}: {why}; input kept as {}", path.display());
}

/// One worker: mutates and runs inputs of `name` for `seconds`.
fn worker(name: &str, seconds: u64, seed: u64, state: &Path, save: bool) -> ExitCode {
    let _ = rlimit::setrlimit(rlimit::Resource::AS, WORKER_MEMORY, WORKER_MEMORY);
    // Panics are findings, reported once each below, not printed as they come.
    std::panic::set_hook(Box::new(|_| {}));
    let Some(mut target) = fuzz::target(name) else {
        return ExitCode::FAILURE;
    };
    let mut corpus: Vec<Vec<u8>> = target.seeds();
    for kind in ["corpus", "crashers"] {
        corpus.extend(fuzz::saved(kind, name).into_iter().map(|(_, b)| b));
    }
    let mut outcomes: HashSet<String> = HashSet::new();
    let mut known: HashSet<String> = corpus.iter().map(|c| fuzz::input_name(c)).collect();
    let mut mutator = Mutator::new(seed);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let current = state.join("current");
    let (mut execs, mut findings) = (0u64, 0u64);
    while Instant::now() < deadline {
        let input = if corpus.is_empty() {
            Vec::new()
        } else {
            let a = &corpus[mutator.below(corpus.len())];
            let b = &corpus[mutator.below(corpus.len())];
            mutator.mutate(a, b)
        };
        let _ = std::fs::write(&current, &input);
        let outcome = fuzz::run_guarded(target.as_mut(), &input);
        execs += 1;
        match outcome {
            Ok(kind) => {
                if outcomes.insert(kind) && known.insert(fuzz::input_name(&input)) {
                    if save && corpus.len() < 400 && input.len() < 64 << 10 {
                        let dir = fuzz::fuzz_dir().join("corpus").join(name);
                        let _ = std::fs::create_dir_all(&dir);
                        let _ = std::fs::write(dir.join(fuzz::input_name(&input)), &input);
                    }
                    corpus.push(input);
                }
            }
            Err(finding) => {
                findings += 1;
                let dir = fuzz::fuzz_dir().join("crashers").join(name);
                let _ = std::fs::create_dir_all(&dir);
                let path = dir.join(fuzz::input_name(&input));
                if !path.exists() {
                    println!("  {name}: {finding}; input kept as {}", path.display());
                    let _ = std::fs::write(&path, &input);
                }
                // A target that found something may be in any state: start it afresh.
                if let Some(fresh) = fuzz::target(name) {
                    target = fresh;
                }
            }
        }
        if execs.is_multiple_of(200) {
            let _ = std::fs::write(state.join("progress"), format!("{execs} {findings}"));
        }
    }
    let _ = std::fs::write(state.join("progress"), format!("{execs} {findings}"));
    let _ = std::fs::remove_file(&current);
    ExitCode::SUCCESS
}
