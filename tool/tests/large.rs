//! Large samples (64 KiB and 1 MiB, fragmented with DATA_FRAG, repaired with NACK_FRAG) between
//! Pollen and real DDS implementations on loopback, every topic reliable and KEEP_ALL so that
//! nothing may be lost: Cyclone DDS 0.10 `ddsperf` both ways, Fast DDS 2.9 (our C++ peer,
//! tests/peers/fastdds_peer.cpp) both ways, Cyclone DDS 11 (Python, tests/peers/large.py) both
//! ways, and the Python package's `cyclonedds ls` listing a topic of `pollen pub`. Samples are
//! counted exactly and their sizes checked on the receiving side; where the receiver can show
//! the bytes, their content too. Only correctness is checked: the numbers are in
//! scripts/bench-large.sh.
//!
//! The domains are 40 + slot (the slots are this file's): each peer finds the others through
//! the ports of its domain.

mod common;

use common::{cyclone_uri, fastdds_peer, have, peers_python, pollen, Proc};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const DDSPERF: &str = "/usr/bin/ddsperf";
const KIB64: usize = 64 << 10;
const MIB: usize = 1 << 20;
/// ddsperf's KeyedSeq header (seq, keyval, baggage length) that its `size` includes.
const KEYED_SEQ_HEADER: usize = 12;

/// This file's domain `slot` (< 10).
fn domain(slot: u32) -> u32 {
    assert!(slot < 10);
    40 + slot
}

fn pollen_in(dom: u32, args: &[&str]) -> Command {
    let d = dom.to_string();
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--domain", &d]);
    pollen(&all)
}

fn ddsperf(dom: u32, args: &[&str]) -> Command {
    let mut c = Command::new(DDSPERF);
    c.env("CYCLONEDDS_URI", cyclone_uri())
        .args(["-i", &dom.to_string()])
        .args(args);
    c
}

fn fastdds(peer: &Path, dom: u32, args: &[&str]) -> Command {
    let mut c = Command::new(peer);
    c.args(args).args(["--domain", &dom.to_string()]);
    c
}

/// tests/peers/large.py under the Python with `cyclonedds` 11.
fn python_large(dom: u32, args: &[&str]) -> Command {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/large.py");
    let mut c = Command::new(peers_python());
    c.env("CYCLONEDDS_URI", cyclone_uri())
        .env("DOMAIN", dom.to_string())
        .arg(script)
        .args(args);
    c
}

fn have_python() -> bool {
    have(&peers_python(), "Python with cyclonedds 11")
}

/// The JSON summary on the last stdout line.
fn summary(p: &Proc) -> Option<Value> {
    serde_json::from_str(p.out.last()?).ok()
}

/// The JSON lines of `pollen sub --json`.
fn json_lines(p: &Proc) -> Vec<Value> {
    p.out
        .iter()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

/// The largest "total N lost L" ddsperf's subscriber reported.
fn ddsperf_totals(lines: &[String]) -> Option<(u64, u64)> {
    lines
        .iter()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let total = w.iter().position(|x| *x == "total")?;
            let n = w.get(total + 1)?.parse().ok()?;
            let lost = w.get(total + 3)?.parse().ok()?;
            (w.get(total + 2) == Some(&"lost")).then_some((n, lost))
        })
        .max()
}

/// Byte `j` of the baggage of sample `i` written by the Python and Fast DDS keyedseq peers.
fn pattern(i: usize, j: usize) -> u8 {
    ((i + j) % 251) as u8
}

/// `ddsperf pub size 64kB` and `size 1MB`, as fast as it can, into `pollen perf sub`: samples
/// arrive, none lost (perf sub counts the gaps in each writer's seq), all of that size.
#[test]
fn ddsperf_pub_large_to_pollen_perf_sub() {
    if !have(DDSPERF, "Cyclone DDS ddsperf") {
        return;
    }
    let dom = domain(0);
    for (size, arg) in [(KIB64, "64kB"), (MIB, "1MB")] {
        let mut sub = Proc::spawn(
            "pollen perf sub",
            pollen_in(dom, &["perf", "sub", "--duration", "6", "--json"]),
        );
        let mut publ = Proc::spawn(
            "ddsperf pub",
            // It starts writing once it matched Pollen (at most 10 s): writing into nothing at
            // full speed took a core and, once, kept discovery from completing in 3 s.
            ddsperf(
                dom,
                &[
                    "-Q",
                    "minmatch:1",
                    "-Q",
                    "initwait:10",
                    "-D",
                    "3",
                    "pub",
                    "size",
                    arg,
                ],
            ),
        );
        let status = sub.wait(Duration::from_secs(20));
        publ.kill();
        let log = format!("{size}\n{}{}", sub.transcript(), publ.transcript());
        assert!(status.is_some_and(|s| s.success()), "{status:?}\n{log}");
        let s = summary(&sub).unwrap_or_else(|| panic!("no JSON summary\n{log}"));
        assert!(s["samples"].as_u64().is_some_and(|n| n >= 5), "{log}");
        assert_eq!(s["lost"], 0, "{log}");
        assert_eq!(s["writers"], 1, "{log}");
        // The periodic lines (stderr with --json) give the sample size.
        let want = format!(" size {size} ");
        let lines: Vec<&String> = sub.err.iter().filter(|l| l.contains(" total ")).collect();
        assert!(!lines.is_empty(), "{log}");
        assert!(lines.iter().all(|l| l.contains(&want)), "{log}");
    }
}

/// `pollen perf pub` with 64 KiB and 1 MiB samples into `ddsperf sub`: every sample written is
/// counted by ddsperf but for at most one history at the tail (perf pub waits for the reader
/// to acknowledge the writer before the first write, so a volatile reader misses none at the
/// start, and lingers after the last acknowledgement), none lost, all of that size.
#[test]
fn pollen_perf_pub_large_to_ddsperf_sub() {
    if !have(DDSPERF, "Cyclone DDS ddsperf") {
        return;
    }
    let dom = domain(1);
    for size in [KIB64, MIB] {
        let bag = (size - KEYED_SEQ_HEADER).to_string();
        let mut sub = Proc::spawn("ddsperf sub", ddsperf(dom, &["-D", "25", "sub"]));
        let mut publ = Proc::spawn(
            "pollen perf pub",
            pollen_in(
                dom,
                &[
                    "perf",
                    "pub",
                    "--duration",
                    "2",
                    "--size",
                    &bag,
                    "--linger",
                    "1",
                    "--json",
                ],
            ),
        );
        let status = publ.wait(Duration::from_secs(20));
        let log = format!("{size}\n{}", publ.transcript());
        assert!(status.is_some_and(|s| s.success()), "{status:?}\n{log}");
        let s = summary(&publ).unwrap_or_else(|| panic!("no JSON summary\n{log}"));
        assert_eq!(s["acknowledged"], true, "{log}");
        assert_eq!(s["size"], size, "{log}");
        let written = s["samples"].as_u64().unwrap_or(0);
        assert!(written >= 5, "{log}");
        // ddsperf prints its counters once a second. It may leave up to one history (64
        // samples) of the tail uncounted although it acknowledged them, even with the writer
        // lingering a second (seen: 9868 of 9932, no gap, "lost 0"); otherwise the count is
        // exact and nothing may be lost.
        let seen = sub.wait_for_line(Duration::from_secs(5), |l| {
            ddsperf_totals(&[l.to_string()]).is_some_and(|(n, _)| n + 64 >= written)
        });
        sub.kill();
        let slog = sub.transcript();
        assert!(
            seen,
            "ddsperf did not report {written} samples\n{log}{slog}"
        );
        let (n, lost) = ddsperf_totals(&sub.out).unwrap_or_default();
        assert_eq!(lost, 0, "{log}{slog}");
        assert!(
            n <= written && n + 64 >= written,
            "{n} of {written}\n{log}{slog}"
        );
        let want = format!(" size {size} ");
        assert!(
            sub.out
                .iter()
                .filter(|l| l.contains(" total "))
                .all(|l| l.contains(&want)),
            "{log}{slog}"
        );
    }
}

/// KeyedSeq with 64 KiB and 1 MiB of baggage both ways with Fast DDS (which fragments at
/// about 64 000 bytes), then a ROS 2 String of each size from Fast DDS, whose text Pollen
/// prints in full and the test compares byte for byte.
#[test]
fn large_samples_with_fastdds_both_ways() {
    let Some(peer) = fastdds_peer() else { return };
    let dom = domain(2);
    for (size, count) in [(KIB64, 20), (MIB, 8)] {
        fastdds_keyedseq_to_pollen(&peer, dom, size, count);
        pollen_keyedseq_to_fastdds(&peer, dom, size, count);
        fastdds_string_to_pollen(&peer, dom, size, count);
    }
}

fn fastdds_keyedseq_to_pollen(peer: &Path, dom: u32, size: usize, count: usize) {
    let (n, s) = (count.to_string(), size.to_string());
    let mut sub = Proc::spawn(
        "pollen sub",
        pollen_in(
            dom,
            &[
                "sub",
                "big_ks",
                "--type",
                "keyedseq",
                "--count",
                &n,
                "--timeout",
                "20",
                "--json",
            ],
        ),
    );
    let mut publ = Proc::spawn(
        "fastdds pub",
        fastdds(
            peer,
            dom,
            &[
                "pub",
                "--topic",
                "big_ks",
                "--type",
                "keyedseq",
                "--count",
                &n,
                "--size",
                &s,
                "--timeout",
                "20",
            ],
        ),
    );
    let ss = sub.wait(Duration::from_secs(30));
    let ps = publ.wait(Duration::from_secs(30));
    let log = format!("{size}\n{}{}", sub.transcript(), publ.transcript());
    assert!(ss.is_some_and(|s| s.success()), "{log}");
    assert!(ps.is_some_and(|s| s.success()), "{log}");
    let samples = json_lines(&sub);
    assert_eq!(samples.len(), count, "{log}");
    for (i, s) in samples.iter().enumerate() {
        assert_eq!(s["state"], "alive", "{log}");
        assert_eq!(s["sn"], i as u64 + 1, "{log}");
        assert_eq!(s["value"]["seq"], i as u64, "{log}");
        assert_eq!(s["value"]["keyval"], (i % 3) as u64, "{log}");
        assert_eq!(s["value"]["baggage_len"], size as u64, "{log}");
    }
}

fn pollen_keyedseq_to_fastdds(peer: &Path, dom: u32, size: usize, count: usize) {
    let (n, s) = (count.to_string(), size.to_string());
    let mut sub = Proc::spawn(
        "fastdds sub",
        fastdds(
            peer,
            dom,
            &[
                "sub",
                "--topic",
                "big_ks",
                "--type",
                "keyedseq",
                "--count",
                &n,
                "--size",
                &s,
                "--timeout",
                "20",
            ],
        ),
    );
    let mut publ = Proc::spawn(
        "pollen pub",
        pollen_in(
            dom,
            &[
                "pub",
                "big_ks",
                "--type",
                "keyedseq",
                "--keyval",
                "2",
                "--size",
                &s,
                "--count",
                &n,
                "--timeout",
                "20",
            ],
        ),
    );
    let ps = publ.wait(Duration::from_secs(30));
    let ss = sub.wait(Duration::from_secs(30));
    let log = format!("{size}\n{}{}", publ.transcript(), sub.transcript());
    assert!(ps.is_some_and(|s| s.success()), "{log}");
    assert!(ss.is_some_and(|s| s.success()), "{log}");
    let expected: Vec<String> = (0..count)
        .map(|i| format!("alive 2 {i} [{size} bytes]"))
        .collect();
    assert_eq!(sub.out, expected, "{log}");
}

fn fastdds_string_to_pollen(peer: &Path, dom: u32, size: usize, count: usize) {
    let (n, s) = (count.to_string(), size.to_string());
    let mut sub = Proc::spawn(
        "pollen sub",
        pollen_in(
            dom,
            &["sub", "big_text", "--ros", "--count", &n, "--timeout", "20"],
        ),
    );
    let mut publ = Proc::spawn(
        "fastdds pub",
        fastdds(
            peer,
            dom,
            &[
                "pub",
                "--topic",
                "rt/big_text",
                "--type",
                "string",
                "--count",
                &n,
                "--size",
                &s,
                "--timeout",
                "20",
            ],
        ),
    );
    let ss = sub.wait(Duration::from_secs(30));
    let ps = publ.wait(Duration::from_secs(30));
    let short = |p: &mut Proc| {
        let t = p.transcript();
        t.chars().take(4000).collect::<String>()
    };
    let log = format!("{size}\n{}{}", short(&mut sub), publ.transcript());
    assert!(ss.is_some_and(|s| s.success()), "{log}");
    assert!(ps.is_some_and(|s| s.success()), "{log}");
    assert_eq!(sub.out.len(), count, "{log}");
    for (i, text) in sub.out.iter().enumerate() {
        // Character j of text i is 'a' + (i + j) % 26 (fastdds_peer.cpp).
        let ok = text.len() == size
            && text
                .bytes()
                .enumerate()
                .all(|(j, c)| c == b'a' + ((i + j) % 26) as u8);
        assert!(ok, "text {i}: {} bytes, not the pattern\n{log}", text.len());
    }
}

/// KeyedSeq with 64 KiB and 1 MiB of baggage both ways with Cyclone DDS 11 (Python), which
/// fragments at 1344 bytes by default. Pollen shows the Python writer's samples as raw bytes,
/// which the test compares in full; the Python reader says whether the baggage Pollen wrote
/// (zeros) arrived intact.
#[test]
fn large_samples_with_cyclone_python_both_ways() {
    if !have_python() {
        return;
    }
    let dom = domain(3);
    for (size, count) in [(KIB64, 20), (MIB, 8)] {
        python_to_pollen(dom, size, count);
        pollen_to_python(dom, size, count);
    }
}

fn python_to_pollen(dom: u32, size: usize, count: usize) {
    let (n, s) = (count.to_string(), size.to_string());
    let mut sub = Proc::spawn(
        "pollen sub",
        pollen_in(
            dom,
            &[
                "sub",
                "big_py",
                "--type",
                "raw",
                "--count",
                &n,
                "--timeout",
                "20",
                "--json",
            ],
        ),
    );
    let mut publ = Proc::spawn(
        "python pub",
        python_large(dom, &["pub", "big_py", &s, &n, "20"]),
    );
    let ss = sub.wait(Duration::from_secs(30));
    let ps = publ.wait(Duration::from_secs(30));
    let short = |p: &mut Proc| p.transcript().chars().take(4000).collect::<String>();
    let log = format!("{size}\n{}{}", short(&mut sub), publ.transcript());
    assert!(ss.is_some_and(|s| s.success()), "{log}");
    assert!(ps.is_some_and(|s| s.success()), "{log}");
    let samples = json_lines(&sub);
    assert_eq!(samples.len(), count, "{log}");
    for (i, s) in samples.iter().enumerate() {
        assert_eq!(s["state"], "alive", "{log}");
        let hex = s["value"].as_str().expect("hex payload");
        let bytes: Vec<u8> = (0..hex.len() / 2)
            .map(|k| u8::from_str_radix(&hex[2 * k..2 * k + 2], 16).expect("hex"))
            .collect();
        // XCDR1 or XCDR2 little endian: header, seq, keyval, length, baggage.
        assert_eq!(
            bytes.len(),
            4 + KEYED_SEQ_HEADER + size,
            "sample {i}\n{log}"
        );
        assert!(matches!(bytes[..2], [0, 1] | [0, 7] | [0, 9]), "{log}");
        let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap());
        assert_eq!(u32_at(4), i as u32, "{log}");
        assert_eq!(u32_at(8), 0, "{log}");
        assert_eq!(u32_at(12), size as u32, "{log}");
        let bag = &bytes[16..];
        let bad = (0..size).find(|&j| bag[j] != pattern(i, j));
        assert_eq!(bad, None, "sample {i}: first wrong byte\n{log}");
    }
}

fn pollen_to_python(dom: u32, size: usize, count: usize) {
    let (n, s) = (count.to_string(), size.to_string());
    let mut sub = Proc::spawn(
        "python sub",
        python_large(dom, &["sub", "big_py", &n, "20"]),
    );
    let mut publ = Proc::spawn(
        "pollen pub",
        pollen_in(
            dom,
            &[
                "pub",
                "big_py",
                "--type",
                "keyedseq",
                "--keyval",
                "5",
                "--size",
                &s,
                "--count",
                &n,
                "--timeout",
                "20",
            ],
        ),
    );
    let ps = publ.wait(Duration::from_secs(30));
    let ss = sub.wait(Duration::from_secs(30));
    let log = format!("{size}\n{}{}", publ.transcript(), sub.transcript());
    assert!(ps.is_some_and(|s| s.success()), "{log}");
    assert!(ss.is_some_and(|s| s.success()), "{log}");
    let expected: Vec<String> = (0..count).map(|i| format!("{i} 5 {size} zeros")).collect();
    assert_eq!(sub.out, expected, "{log}");
}

/// `cyclonedds ls` (the Python package's inspector) lists the topic and type of a running
/// `pollen pub`, with its writer.
#[test]
fn cyclonedds_ls_lists_pollen_topic() {
    let root = Path::new(&peers_python())
        .parent()
        .map(|d| d.join("cyclonedds"))
        .unwrap_or_default();
    let cli = root.display().to_string();
    if !have(&cli, "the cyclonedds CLI (Python cyclonedds 11)") {
        return;
    }
    let dom = domain(4);
    let _publ = Proc::spawn(
        "pollen pub",
        pollen_in(
            dom,
            &[
                "pub",
                "pollen_ls_topic",
                "hello",
                "--wait-readers",
                "0",
                "--count",
                "1000",
                "--rate",
                "5",
                "--timeout",
                "30",
            ],
        ),
    );
    let mut ls = Command::new(&cli);
    ls.env("CYCLONEDDS_URI", cyclone_uri())
        // Rich wraps its tables to the terminal width; leave room for the names.
        .env("COLUMNS", "200")
        .args(["ls", "-i", &dom.to_string(), "-r", "3s"])
        .args(["--suppress-progress-bar", "--color", "none"]);
    let mut ls = Proc::spawn("cyclonedds ls", ls);
    let status = ls.wait(Duration::from_secs(30));
    let log = ls.transcript();
    assert!(status.is_some_and(|s| s.success()), "{status:?}\n{log}");
    let text = ls.out.join("\n");
    assert!(text.contains("pollen_ls_topic"), "{log}");
    assert!(text.contains("DDS::String"), "{log}");
    assert!(text.contains("Writers"), "{log}");
}
