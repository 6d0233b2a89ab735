//! Writes the `engine` fuzz seeds (`fuzz/seeds/engine/`) from real traffic.
//!
//! Each seed is a sequence of `EngineOp`s for `pollen_engine::fuzzing::fuzz_engine`. Some are
//! short scenarios (data both ways, keyed instances, loss, lease expiry, a full history, time
//! going backwards); the others replay to A the datagrams B really sent during such a scenario,
//! verbatim, cut short or with a byte changed, so the fuzzer starts from well-formed SPDP, SEDP,
//! DATA, HEARTBEAT, GAP and ACKNACK messages that address A's real endpoints.
//!
//! Run from anywhere: `cargo run -p pollen-engine --features fuzzing --example fuzz_engine_seeds`.
//! The seeds depend on the harness's setup (GUID prefixes, topics, timings): regenerate them
//! when it changes.

use pollen_engine::fuzzing::{engine_traffic, fuzz_engine, EngineOp};
use std::fs;
use std::path::Path;

fn encode(ops: &[EngineOp<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for op in ops {
        op.encode(&mut out);
    }
    out
}

/// B writes to A on both topics, A writes back, instances are disposed, readers take.
fn exchange() -> Vec<u8> {
    use EngineOp::*;
    encode(&[
        WriteB {
            sel: 0,
            len: 16,
            fill: 0x11,
        },
        WriteB {
            sel: 0,
            len: 60,
            fill: 0x12,
        },
        WriteB {
            sel: 3,
            len: 8,
            fill: 0x13,
        },
        Pump { loss: 0 },
        Take { sel: 0 },
        Take { sel: 1 },
        WriteA {
            sel: 0,
            len: 32,
            fill: 0x21,
        },
        WriteA {
            sel: 5,
            len: 8,
            fill: 0x22,
        },
        Pump { loss: 0 },
        Dispose { sel: 1 << 2 | 1 },
        Dispose {
            sel: 2 << 2 | 2 | 1,
        },
        Run { steps: 3 },
        Take { sel: 1 },
        Recreate { sel: 0 },
        Run { steps: 3 },
        Take { sel: 1 },
    ])
}

/// Datagrams lost both ways: heartbeats, NACKs and repairs.
fn lossy() -> Vec<u8> {
    use EngineOp::*;
    encode(&[
        WriteB {
            sel: 0,
            len: 24,
            fill: 1,
        },
        WriteB {
            sel: 0,
            len: 24,
            fill: 2,
        },
        WriteA {
            sel: 0,
            len: 24,
            fill: 3,
        },
        WriteB {
            sel: 0,
            len: 24,
            fill: 4,
        },
        Pump { loss: 0b0101_0101 },
        Advance { units: 400 },
        Pump { loss: 0b0000_0010 },
        Run { steps: 10 },
        Take { sel: 0 },
    ])
}

/// A's lease runs out at B and B's at A, then they meet again.
fn lease_expiry() -> Vec<u8> {
    use EngineOp::*;
    encode(&[
        WriteB {
            sel: 0,
            len: 8,
            fill: 5,
        },
        Drop { sel: 1 },
        Advance { units: 50_000 },
        Drop { sel: 0 },
        Advance { units: 2_000 },
        Run { steps: 31 },
        Run { steps: 31 },
        WriteB {
            sel: 0,
            len: 8,
            fill: 6,
        },
        Run { steps: 5 },
        Take { sel: 0 },
    ])
}

/// A's KEEP_ALL writer fills while B's acknowledgements are lost.
fn full_history() -> Vec<u8> {
    use EngineOp::*;
    let mut ops = Vec::new();
    for i in 0..70u8 {
        ops.push(WriteA {
            sel: 0,
            len: 40,
            fill: i,
        });
        if i % 8 == 7 {
            ops.push(Pump { loss: 0xff });
        }
    }
    ops.push(Run { steps: 10 });
    ops.push(WriteA {
        sel: 0x80,
        len: 200,
        fill: 0,
    });
    ops.push(WriteB {
        sel: 0x80,
        len: 100,
        fill: 7,
    });
    ops.push(Run { steps: 2 });
    ops.push(Take { sel: 2 });
    ops.push(Take { sel: 0 });
    encode(&ops)
}

/// The clock goes backwards between inputs.
fn backwards() -> Vec<u8> {
    use EngineOp::*;
    encode(&[
        Advance { units: 1_000 },
        Backwards { ms: 200 },
        WriteB {
            sel: 0,
            len: 8,
            fill: 8,
        },
        Pump { loss: 0 },
        Backwards { ms: 255 },
        Run { steps: 2 },
        Take { sel: 0 },
    ])
}

/// One forged datagram of each kind (`Forgery`) in the middle of a reliable exchange both
/// ways; with `all`, every kind one after the other.
fn hostile(kind: u8, all: bool) -> Vec<u8> {
    use EngineOp::*;
    let mut ops = Vec::new();
    let writes = |ops: &mut Vec<EngineOp<'static>>, fill: u8| {
        for i in 0..3 {
            ops.push(WriteA {
                sel: 0,
                len: 20,
                fill: fill + i,
            });
            ops.push(WriteB {
                sel: 0,
                len: 20,
                fill: fill + i,
            });
        }
        ops.push(Pump { loss: 0 });
    };
    writes(&mut ops, 0x40);
    for k in if all { 0..8 } else { kind..kind + 1 } {
        // A GAP from SN 1 (y = 0) covers what B will still write; a HEARTBEAT from 259 skips it.
        ops.push(Forge {
            kind: k,
            x: 0x1234,
            y: if k == 3 { 0 } else { 0x0102 },
        });
        writes(&mut ops, 0x50 + 4 * k);
    }
    ops.push(Run { steps: 31 });
    ops.push(Take { sel: 0 });
    encode(&ops)
}

fn main() -> std::io::Result<()> {
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/engine");
    fs::create_dir_all(&out)?;
    for f in fs::read_dir(&out)? {
        let p = f?.path();
        if p.extension().is_some_and(|e| e == "bin") {
            fs::remove_file(p)?;
        }
    }
    let mut written = 0usize;
    let mut write = |name: &str, seed: Vec<u8>| -> std::io::Result<()> {
        // A seed that fails is a harness or engine bug: find out here, not in the fuzzer.
        fuzz_engine(&seed);
        fs::write(out.join(format!("{name}.bin")), seed)?;
        written += 1;
        Ok(())
    };
    let scenarios: [(&str, Vec<u8>); 5] = [
        ("exchange", exchange()),
        ("lossy", lossy()),
        ("lease-expiry", lease_expiry()),
        ("full-history", full_history()),
        ("backwards", backwards()),
    ];
    // Every datagram B sent in the setup and in the `exchange` scenario.
    let traffic = engine_traffic(&scenarios[0].1);
    for (name, seed) in scenarios {
        write(&format!("scenario-{name}"), seed)?;
    }
    // Replays: each datagram alone (verbatim and as a splice of the captured copy), and all
    // of them in order, with time passing.
    let mut all = Vec::new();
    for (i, d) in traffic.iter().enumerate() {
        write(&format!("replay-{i:02}"), encode(&[EngineOp::Datagram(d)]))?;
        all.extend(encode(&[
            EngineOp::Datagram(d),
            EngineOp::Advance { units: 40 },
        ]));
    }
    write("replay-all", all)?;
    // The hostile-network moves, one at a time and all together.
    for kind in 0..8u8 {
        write(&format!("hostile-{kind}"), hostile(kind, false))?;
    }
    write("hostile-all", hostile(0, true))?;
    // Captured datagrams the Splice operation can start from (the setup's, by index), each
    // with its RTPS header's vendor byte or one submessage byte flipped, and cut in half.
    for (i, d) in traffic.iter().enumerate().take(32) {
        let mid = (d.len() / 2) as u16;
        let seed = encode(&[
            EngineOp::Splice {
                from: i as u8,
                offset: 20,
                bytes: &[d.get(20).copied().unwrap_or(0) ^ 0x01],
            },
            EngineOp::Truncate {
                from: i as u8,
                len: mid,
            },
            EngineOp::Splice {
                from: i as u8,
                offset: 0,
                bytes: &[],
            },
            EngineOp::Pump { loss: 0 },
        ]);
        write(&format!("splice-{i:02}"), seed)?;
    }
    println!(
        "{} datagrams of B recorded, {} seeds written to {}",
        traffic.len(),
        written,
        out.display()
    );
    Ok(())
}
