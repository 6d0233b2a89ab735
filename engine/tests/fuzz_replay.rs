//! Replays the committed fuzz seeds and crash regressions on stable.
//!
//! Every file under `fuzz/seeds/<target>/` and `fuzz/regressions/<target>/` (except README
//! files) goes through the entry point of that target in `pollen_engine::fuzzing`. A panic
//! there is a broken wire-layer property; the failing files are named in the message.
//!
//! Run with `cargo test -p pollen-engine --features fuzzing`.
#![cfg(feature = "fuzzing")]

use std::fs;
use std::panic;
use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The input files of one target (seeds and regressions), sorted.
fn inputs(target: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for kind in ["seeds", "regressions"] {
        let dir = fuzz_dir().join(kind).join(target);
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for e in entries {
            let p = e.expect("readable directory entry").path();
            let is_readme = p
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("README"));
            if p.is_file() && !is_readme {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

fn replay(target: &str, entry: fn(&[u8])) -> usize {
    let files = inputs(target);
    let mut failed = Vec::new();
    for f in &files {
        let data = fs::read(f).expect("readable input");
        if panic::catch_unwind(|| entry(&data)).is_err() {
            failed.push(f.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} `{}` inputs fail:\n{}",
        failed.len(),
        files.len(),
        target,
        failed.join("\n")
    );
    files.len()
}

#[test]
fn message_seeds_and_regressions() {
    let n = replay("message", pollen_engine::fuzzing::fuzz_message);
    // Every captured vector is a seed.
    assert!(n >= 200, "only {} message inputs found", n);
}

#[test]
fn parameter_list_seeds_and_regressions() {
    let n = replay(
        "parameter_list",
        pollen_engine::fuzzing::fuzz_parameter_list,
    );
    assert!(n >= 50, "only {} parameter_list inputs found", n);
}

#[test]
fn tiny_and_empty_inputs() {
    for len in 0..64 {
        let zeros = vec![0u8; len];
        pollen_engine::fuzzing::fuzz_message(&zeros);
        pollen_engine::fuzzing::fuzz_parameter_list(&zeros);
        let mut rtps = b"RTPS\x02\x01\x01\x10".to_vec();
        rtps.resize(len.max(8), 0);
        pollen_engine::fuzzing::fuzz_message(&rtps);
    }
}
