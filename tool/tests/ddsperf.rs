//! `pollen ping`, `pollen pong` and `pollen perf pub|sub` against Cyclone DDS 0.10's `ddsperf`
//! on loopback, each direction with Pollen's default discovery (SPDP multicast on lo plus the
//! 127.0.0.1 peer) and with unicast-only discovery (`--no-multicast --peer 127.0.0.1`). Cyclone
//! 0.10 cannot use multicast on lo, so its side always runs the unicast configuration of
//! shared/PEERS.md. Only correctness is checked (samples flow, nothing lost); timings belong to
//! scripts/bench-e2e.sh.

mod common;

use common::{cyclone_uri, domain, have, pollen, Proc};
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

const DDSPERF: &str = "/usr/bin/ddsperf";

/// How Pollen discovers: its default, or unicast only through the loopback peer.
#[derive(Debug, Clone, Copy)]
enum Discovery {
    Default,
    UnicastOnly,
}

const BOTH: [Discovery; 2] = [Discovery::Default, Discovery::UnicastOnly];

fn pollen_in(dom: u32, disc: Discovery, args: &[&str]) -> Command {
    let d = dom.to_string();
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--domain", &d]);
    if let Discovery::UnicastOnly = disc {
        all.extend(["--no-multicast", "--peer", "127.0.0.1"]);
    }
    pollen(&all)
}

fn ddsperf(dom: u32, args: &[&str]) -> Command {
    let mut c = Command::new(DDSPERF);
    c.env("CYCLONEDDS_URI", cyclone_uri())
        .args(["-i", &dom.to_string()])
        .args(args);
    c
}

/// The sum of the `cnt N` fields of ddsperf's latency lines.
fn ddsperf_roundtrips(lines: &[String]) -> u64 {
    lines
        .iter()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let i = w.iter().position(|x| *x == "cnt")?;
            w.get(i + 1)?.parse::<u64>().ok()
        })
        .sum()
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

/// The JSON summary on the last stdout line.
fn summary(p: &Proc) -> Option<Value> {
    serde_json::from_str(p.out.last()?).ok()
}

/// Both directions share one domain (the slots of `common::domain` are few), one after the
/// other.
#[test]
fn ping_pong_with_ddsperf_both_ways() {
    if !have(DDSPERF, "Cyclone DDS ddsperf") {
        return;
    }
    let dom = domain(7);
    for disc in BOTH {
        ddsperf_ping_to_pollen_pong(dom, disc);
        pollen_ping_to_ddsperf_pong(dom, disc);
    }
}

fn ddsperf_ping_to_pollen_pong(dom: u32, disc: Discovery) {
    let mut pong = Proc::spawn(
        "pollen pong",
        pollen_in(dom, disc, &["pong", "--duration", "30", "--json"]),
    );
    // ddsperf starts its 5 s only once Pollen's endpoints match (up to 15 s on a loaded
    // machine); its own check after 5 s would otherwise fail a slow start.
    let mut ping = Proc::spawn(
        "ddsperf ping",
        ddsperf(dom, &["-Qminmatch:1", "-Qinitwait:15", "-D", "5", "ping"]),
    );
    let status = ping.wait(Duration::from_secs(30));
    pong.kill();
    let log = format!("{disc:?}\n{}{}", ping.transcript(), pong.transcript());
    // ddsperf exits 1 when a peer failed to match one of the endpoints it expects.
    assert!(status.is_some_and(|s| s.success()), "{status:?}\n{log}");
    assert!(ddsperf_roundtrips(&ping.out) > 0, "no round trips\n{log}");
    // With --json the periodic lines go to stderr: the pinger was seen as a ddsperf peer.
    assert!(
        pong.err
            .iter()
            .any(|l| l.contains("participant") && l.contains("new")),
        "{log}"
    );
}

fn pollen_ping_to_ddsperf_pong(dom: u32, disc: Discovery) {
    let mut pong = Proc::spawn("ddsperf pong", ddsperf(dom, &["-D", "20", "pong"]));
    let mut ping = Proc::spawn(
        "pollen ping",
        pollen_in(
            dom,
            disc,
            &["ping", "--duration", "4", "--size", "100", "--json"],
        ),
    );
    let status = ping.wait(Duration::from_secs(20));
    pong.kill();
    let log = format!("{disc:?}\n{}{}", ping.transcript(), pong.transcript());
    assert!(status.is_some_and(|s| s.success()), "{status:?}\n{log}");
    let s = summary(&ping).unwrap_or_else(|| panic!("no JSON summary\n{log}"));
    assert!(s["samples"].as_u64().is_some_and(|n| n > 0), "{log}");
    assert_eq!(s["size"], 112, "{log}");
    for k in ["p50_us", "p90_us", "p99_us", "max_us"] {
        assert!(s[k].as_f64().is_some_and(|v| v > 0.0), "{k}\n{log}");
    }
    // The periodic lines (on stderr with --json) look like ddsperf's.
    assert!(
        ping.err
            .iter()
            .any(|l| l.contains(" size 112 mean ") && l.contains(" cnt ")),
        "{log}"
    );
}

#[test]
fn ddsperf_pub_to_pollen_perf_sub() {
    if !have(DDSPERF, "Cyclone DDS ddsperf") {
        return;
    }
    let dom = domain(8);
    for disc in BOTH {
        let mut sub = Proc::spawn(
            "pollen perf sub",
            pollen_in(dom, disc, &["perf", "sub", "--duration", "5", "--json"]),
        );
        // As fast as it can: reliable, KEEP_ALL, so nothing may be lost.
        let _publ = Proc::spawn(
            "ddsperf pub",
            ddsperf(dom, &["-D", "20", "pub", "size", "1k"]),
        );
        let status = sub.wait(Duration::from_secs(20));
        let log = format!("{disc:?}\n{}", sub.transcript());
        assert!(status.is_some_and(|s| s.success()), "{status:?}\n{log}");
        let s = summary(&sub).unwrap_or_else(|| panic!("no JSON summary\n{log}"));
        assert!(s["samples"].as_u64().is_some_and(|n| n > 100), "{log}");
        assert_eq!(s["lost"], 0, "{log}");
        assert_eq!(s["writers"], 1, "{log}");
        assert!(
            s["samples_per_s"].as_f64().is_some_and(|r| r > 0.0),
            "{log}"
        );
    }
}

#[test]
fn pollen_perf_pub_to_ddsperf_sub() {
    if !have(DDSPERF, "Cyclone DDS ddsperf") {
        return;
    }
    let dom = domain(9);
    for disc in BOTH {
        let mut sub = Proc::spawn("ddsperf sub", ddsperf(dom, &["-D", "25", "sub"]));
        let mut publ = Proc::spawn(
            "pollen perf pub",
            pollen_in(
                dom,
                disc,
                &["perf", "pub", "--duration", "3", "--size", "1012", "--json"],
            ),
        );
        let status = publ.wait(Duration::from_secs(20));
        let log = format!("{disc:?}\n{}", publ.transcript());
        assert!(status.is_some_and(|s| s.success()), "{status:?}\n{log}");
        let s = summary(&publ).unwrap_or_else(|| panic!("no JSON summary\n{log}"));
        assert_eq!(s["acknowledged"], true, "{log}");
        let written = s["samples"].as_u64().unwrap_or(0);
        assert!(written > 100, "{log}");
        // ddsperf prints its counters once a second; every sample is there, none lost. (It
        // counts from the first sample it saw: a volatile reader may skip the first few that
        // were written before it heard of the writer, which is not a loss.)
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
        assert!(
            sub.out.iter().any(|l| l.contains("size 1024")),
            "{log}{slog}"
        );
    }
}
