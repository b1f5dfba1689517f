//! Replays every fuzz target's seeds, saved corpus and crashers (the inputs
//! that once broke something, kept as regression tests): each must come out
//! as a clear outcome, never a panic, a 5xx answer or a broken invariant.
//! To fuzz for longer, see `tests/src/bin/fuzz.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use fieldsync_tests::fuzz;

#[test]
fn every_saved_fuzz_input_gets_a_clear_outcome() {
    let mut failures = Vec::new();
    let mut replayed = 0;
    for mut target in fuzz::targets() {
        let name = target.name();
        let mut inputs: Vec<(String, Vec<u8>)> = target
            .seeds()
            .into_iter()
            .enumerate()
            .map(|(i, s)| (format!("seed {i}"), s))
            .collect();
        for kind in ["corpus", "crashers"] {
            inputs.extend(
                fuzz::saved(kind, name)
                    .into_iter()
                    .map(|(p, b)| (p.display().to_string(), b)),
            );
        }
        for (what, input) in inputs {
            replayed += 1;
            if let Err(finding) = fuzz::run_guarded(target.as_mut(), &input) {
                failures.push(format!("{name} {what}: {finding}"));
            }
        }
    }
    eprintln!("replayed {replayed} fuzz inputs");
    assert!(replayed > 20, "the seeds are there");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
