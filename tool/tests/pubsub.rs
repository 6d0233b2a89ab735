//! `pollen pub` → `pollen sub` on loopback, reliable, nothing lost; and `pollen ls`.

mod common;

use common::{domain, pollen, Proc};
use serde_json::Value;
use std::time::Duration;

const N: usize = 200;

/// Publishes N lines from stdin to a subscriber; both run with `net` flags.
fn pub_sub(dom: u32, net: &[&str]) {
    let d = dom.to_string();
    let mut sub_args = vec![
        "sub",
        "lines",
        "--count",
        "200",
        "--timeout",
        "30",
        "--json",
    ];
    sub_args.extend_from_slice(&["--domain", &d]);
    sub_args.extend_from_slice(net);
    let mut sub = Proc::spawn("pollen sub", pollen(&sub_args));

    let mut pub_args = vec!["pub", "lines", "--timeout", "30"];
    pub_args.extend_from_slice(&["--domain", &d]);
    pub_args.extend_from_slice(net);
    let mut publ = Proc::spawn("pollen pub", pollen(&pub_args));
    let input: String = (0..N).map(|i| format!("line {i}\n")).collect();
    publ.feed(&input, true);

    let pub_status = publ.wait(Duration::from_secs(40));
    let sub_status = sub.wait(Duration::from_secs(40));
    let log = format!("{}{}", publ.transcript(), sub.transcript());
    assert!(
        pub_status.is_some_and(|s| s.success()),
        "pub failed: {pub_status:?}\n{log}"
    );
    assert!(
        sub_status.is_some_and(|s| s.success()),
        "sub failed: {sub_status:?}\n{log}"
    );
    let values: Vec<String> = sub
        .out
        .iter()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"));
            assert_eq!(v["state"], "alive");
            v["value"].as_str().expect("string value").to_string()
        })
        .collect();
    let expected: Vec<String> = (0..N).map(|i| format!("line {i}")).collect();
    assert_eq!(values, expected, "{log}");
}

#[test]
fn pub_to_sub_multicast_discovery() {
    // A peer nobody listens on replaces the default loopback peer: discovery is multicast only.
    pub_sub(domain(0), &["--peer", "127.0.0.1:9"]);
}

#[test]
fn pub_to_sub_unicast_only() {
    pub_sub(domain(1), &["--no-multicast", "--peer", "127.0.0.1"]);
}

#[test]
fn keyedseq_with_rate_and_json_fields() {
    let d = domain(2).to_string();
    let mut sub = Proc::spawn(
        "pollen sub",
        pollen(&[
            "sub",
            "seqs",
            "--type",
            "keyedseq",
            "-n",
            "20",
            "--timeout",
            "30",
            "--json",
            "--domain",
            &d,
        ]),
    );
    let mut publ = Proc::spawn(
        "pollen pub",
        pollen(&[
            "pub",
            "seqs",
            "--type",
            "keyedseq",
            "-n",
            "20",
            "--rate",
            "200",
            "--size",
            "100",
            "--keyval",
            "7",
            "--timeout",
            "30",
            "--domain",
            &d,
        ]),
    );
    let ps = publ.wait(Duration::from_secs(40));
    let ss = sub.wait(Duration::from_secs(40));
    let log = format!("{}{}", publ.transcript(), sub.transcript());
    assert!(ps.is_some_and(|s| s.success()), "{log}");
    assert!(ss.is_some_and(|s| s.success()), "{log}");
    for (i, l) in sub.out.iter().enumerate() {
        let v: Value = serde_json::from_str(l).unwrap();
        assert_eq!(v["value"]["seq"], i as u64, "{log}");
        assert_eq!(v["value"]["keyval"], 7);
        assert_eq!(v["value"]["baggage_len"], 100);
        assert_eq!(v["sn"], i as u64 + 1);
        assert!(v["source_timestamp"].as_u64().is_some_and(|t| t % 2 == 0));
        assert!(v["writer"].as_str().is_some_and(|w| w.contains(':')));
    }
}

#[test]
fn sub_times_out_with_status_1() {
    let d = domain(3).to_string();
    let mut sub = Proc::spawn(
        "pollen sub",
        pollen(&["sub", "nobody", "-n", "1", "--timeout", "1", "--domain", &d]),
    );
    let s = sub.wait(Duration::from_secs(10));
    assert_eq!(s.and_then(|s| s.code()), Some(1), "{}", sub.transcript());
}

#[test]
fn ls_lists_a_publisher() {
    let d = domain(4).to_string();
    // A publisher waiting for a reader that never comes stays visible for ls.
    let _publ = Proc::spawn(
        "pollen pub",
        pollen(&["pub", "visible", "hi", "--timeout", "20", "--domain", &d]),
    );
    let mut ls = Proc::spawn(
        "pollen ls",
        pollen(&["ls", "--duration", "2", "--json", "--domain", &d]),
    );
    let s = ls.wait(Duration::from_secs(15));
    let log = ls.transcript();
    assert!(s.is_some_and(|s| s.success()), "{log}");
    let v: Value = serde_json::from_str(ls.out.first().expect("output")).expect("JSON");
    assert_eq!(v["participants"].as_array().map(Vec::len), Some(1), "{log}");
    assert_eq!(v["participants"][0]["vendor"], "0000", "{log}");
    let topics = v["topics"].as_array().expect("topics");
    assert!(
        topics
            .iter()
            .any(|t| t["name"] == "visible" && t["type"] == "DDS::String" && t["writers"] == 1),
        "{log}"
    );
}

#[test]
fn best_effort_burst() {
    let d = domain(5).to_string();
    let mut sub = Proc::spawn(
        "pollen sub",
        pollen(&[
            "sub",
            "be",
            "--best-effort",
            "-n",
            "30",
            "--timeout",
            "20",
            "--domain",
            &d,
        ]),
    );
    // KEEP_ALL best effort, written in one burst: none may be dropped before its first send.
    let mut publ = Proc::spawn(
        "pollen pub",
        pollen(&[
            "pub",
            "be",
            "x",
            "--best-effort",
            "-n",
            "30",
            "--timeout",
            "20",
            "--domain",
            &d,
        ]),
    );
    let ps = publ.wait(Duration::from_secs(30));
    let ss = sub.wait(Duration::from_secs(30));
    let log = format!("{}{}", publ.transcript(), sub.transcript());
    assert!(ps.is_some_and(|s| s.success()), "{log}");
    assert!(ss.is_some_and(|s| s.success()), "{log}");
    assert_eq!(sub.out.len(), 30, "{log}");
}

#[test]
fn transient_local_late_joiner_gets_history() {
    let d = domain(6).to_string();
    let mut publ = Proc::spawn(
        "pollen pub",
        pollen(&[
            "pub",
            "history",
            "--wait-readers",
            "0",
            "--durability",
            "transient-local",
            "--keep-last",
            "10",
            "--linger",
            "20",
            "--domain",
            &d,
        ]),
    );
    publ.feed("one\ntwo\nthree\n", true);
    std::thread::sleep(Duration::from_millis(500));
    let mut sub = Proc::spawn(
        "pollen sub",
        pollen(&[
            "sub",
            "history",
            "--durability",
            "transient-local",
            "-n",
            "3",
            "--timeout",
            "15",
            "--domain",
            &d,
        ]),
    );
    let ss = sub.wait(Duration::from_secs(25));
    publ.kill();
    let log = format!("{}{}", publ.transcript(), sub.transcript());
    assert!(ss.is_some_and(|s| s.success()), "{log}");
    assert_eq!(sub.out, ["one", "two", "three"], "{log}");
}
