//! Replays the committed fuzz seeds and crash regressions on stable.
//!
//! Every file under `fuzz/seeds/<target>/` and `fuzz/regressions/<target>/` (except README
//! files) goes through the entry point of that target in `pollen_engine::fuzzing`. A panic
//! there is a broken wire-layer or engine property; the failing files are named in the
//! message.
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
fn engine_seeds_and_regressions() {
    let n = replay("engine", pollen_engine::fuzzing::fuzz_engine);
    // Scenarios, replays and splices of real traffic.
    assert!(n >= 20, "only {} engine inputs found", n);
}

/// The same inputs through engines with the microcontroller preset (one writer, one reader,
/// eight participants, samples up to 4 KiB): every invariant holds with small tables too.
#[test]
fn engine_seeds_under_the_micro_preset() {
    let n = replay("engine", |d| {
        pollen_engine::fuzzing::fuzz_engine_with(d, pollen_engine::Capacities::MICRO)
    });
    assert!(n >= 20, "only {} engine inputs found", n);
}

#[test]
fn reassembly_seeds_and_regressions() {
    let n = replay("reassembly", pollen_engine::fuzzing::fuzz_reassembly);
    // Every captured fragmented sample in three orders, plus synthetic fragments.
    assert!(n >= 9, "only {} reassembly inputs found", n);
}

#[test]
fn stream_seeds_and_regressions() {
    let n = replay("stream", pollen_engine::fuzzing::fuzz_stream);
    assert!(n >= 6, "only {} stream inputs found", n);
}

#[test]
fn engine_op_encoding_round_trips() {
    use pollen_engine::fuzzing::EngineOp;
    let ops = [
        EngineOp::Datagram(b"RTPS"),
        EngineOp::Splice {
            from: 3,
            offset: 517,
            bytes: &[1, 2, 3],
        },
        EngineOp::Truncate { from: 1, len: 40 },
        EngineOp::Advance { units: 4000 },
        EngineOp::Backwards { ms: 9 },
        EngineOp::WriteA {
            sel: 1,
            len: 2,
            fill: 3,
        },
        EngineOp::WriteB {
            sel: 4,
            len: 5,
            fill: 6,
        },
        EngineOp::Dispose { sel: 7 },
        EngineOp::Take { sel: 2 },
        EngineOp::Pump { loss: 0x81 },
        EngineOp::Run { steps: 4 },
        EngineOp::Drop { sel: 1 },
        EngineOp::Recreate { sel: 0 },
        EngineOp::Forge {
            kind: 6,
            x: 0xffff,
            y: 300,
        },
    ];
    let mut bytes = Vec::new();
    for op in &ops {
        op.encode(&mut bytes);
    }
    let mut rest = &bytes[..];
    for op in &ops {
        assert_eq!(EngineOp::decode(&mut rest).as_ref(), Some(op));
    }
    assert!(rest.is_empty());
    assert_eq!(EngineOp::decode(&mut rest), None);
    // Cut short: not decoded.
    let mut short = &bytes[..2];
    assert_eq!(EngineOp::decode(&mut short), None);
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
    // The engine target builds its pair even with no operations to run.
    for len in 0..4 {
        pollen_engine::fuzzing::fuzz_engine(&vec![0xff; len]);
    }
}
