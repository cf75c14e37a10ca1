//! Replays the fuzz corpus on the stable toolchain: every file under `fuzz/corpus/<target>/`
//! and `fuzz/regressions/<target>/` goes through the harness its cargo-fuzz target runs
//! (`fuzz/src/harness/mod.rs`, compiled in here), so a crash once found stays fixed and
//! `cargo test` covers the decoders and store recovery with the inputs fuzzing found
//! interesting. `scripts/fuzz SECONDS` runs the fuzzers themselves.
//!
//! `RILL_FUZZ_WRITE_SEEDS=1 cargo test -p rill-engine --features server,remote --test fuzz_corpus --
//! write_seeds`
//! (re)writes the hand-made seed inputs into `fuzz/corpus/`.

#[path = "../../fuzz/src/harness/mod.rs"]
mod harness;

use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The files of `fuzz/<kind>/<target>/`, sorted (none if the directory does not exist).
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = fuzz_dir().join(kind).join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn replay(target: &str) {
    let (_, run) = harness::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .unwrap_or_else(|| panic!("no harness for {target}"));
    let corpus = inputs("corpus", target);
    assert!(
        !corpus.is_empty(),
        "fuzz/corpus/{target}/ has no inputs (RILL_FUZZ_WRITE_SEEDS=1 writes the seeds)"
    );
    for file in corpus.iter().chain(&inputs("regressions", target)) {
        let data = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let outcome = std::panic::catch_unwind(|| run(&data));
        assert!(
            outcome.is_ok(),
            "{target}: {} fails (cargo fuzz run {target} {} reproduces it)",
            file.display(),
            file.display()
        );
    }
}

#[test]
fn write_seeds_when_asked() {
    if std::env::var_os("RILL_FUZZ_WRITE_SEEDS").is_none() {
        return;
    }
    let vectors = std::fs::read("/work/shared/testdata/kpl_aggregates.json")
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    for (target, name, bytes) in harness::seeds(vectors.as_ref()) {
        let dir = fuzz_dir().join("corpus").join(target);
        std::fs::create_dir_all(&dir).expect("create corpus directory");
        std::fs::write(dir.join(format!("seed-{name}")), bytes).expect("write seed");
    }
}

#[test]
fn every_target_has_a_test() {
    let names: Vec<&str> = harness::TARGETS.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [
            "agg",
            "request_json",
            "request_cbor",
            "eventstream_roundtrip",
            "eventstream_decode",
            "store_recovery"
        ]
    );
}

#[test]
fn agg() {
    replay("agg");
}

#[test]
fn request_json() {
    replay("request_json");
}

#[test]
fn request_cbor() {
    replay("request_cbor");
}

#[test]
fn eventstream_roundtrip() {
    replay("eventstream_roundtrip");
}

#[test]
fn eventstream_decode() {
    replay("eventstream_decode");
}

#[test]
fn store_recovery() {
    replay("store_recovery");
}
