//! Interop with eProsima Fast DDS 2.9 on loopback through our small C++ peer
//! (tests/peers/fastdds_peer.cpp): a ROS 2 std_msgs/String on rt/chatter and ddsperf's KeyedSeq
//! both ways, and a Fast DDS dispose seen by `pollen sub`. Each runs twice: with Pollen's
//! default discovery (SPDP multicast on lo plus the 127.0.0.1 peer) and unicast-only
//! (`--no-multicast --peer 127.0.0.1`). Fast DDS itself announces both ways on loopback.
//!
//! The peer is $POLLEN_FASTDDS_PEER (scripts/test.sh builds it), else target/peers/fastdds_peer,
//! built here with g++ when missing or older than its source. Without g++ or the Fast DDS
//! headers the tests say SKIPPED.

mod common;

use common::{domain, fastdds_peer as peer_program, pollen, Proc};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

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

fn fastdds(peer: &Path, dom: u32, args: &[&str]) -> Command {
    let mut c = Command::new(peer);
    c.args(args).args(["--domain", &dom.to_string()]);
    c
}

/// Both directions share one domain (the slots of `common::domain` are few), one after the
/// other.
#[test]
fn ros_string_with_fastdds_both_ways() {
    let Some(peer) = peer_program() else { return };
    let dom = domain(18);
    for disc in BOTH {
        fastdds_string_to_pollen_sub(&peer, dom, disc);
        pollen_string_to_fastdds_sub(&peer, dom, disc);
    }
}

/// KeyedSeq both ways, the Fast DDS writer ending with a dispose.
#[test]
fn keyedseq_with_fastdds_both_ways() {
    let Some(peer) = peer_program() else { return };
    let dom = domain(19);
    for disc in BOTH {
        fastdds_keyedseq_and_dispose_to_pollen_sub(&peer, dom, disc);
        pollen_keyedseq_to_fastdds_sub(&peer, dom, disc);
    }
}

fn fastdds_string_to_pollen_sub(peer: &Path, dom: u32, disc: Discovery) {
    let mut sub = Proc::spawn(
        "pollen sub",
        pollen_in(
            dom,
            disc,
            &[
                "sub",
                "chatter",
                "--ros",
                "--count",
                "10",
                "--timeout",
                "20",
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
                "rt/chatter",
                "--type",
                "string",
                "--count",
                "10",
                "--timeout",
                "20",
            ],
        ),
    );
    let ss = sub.wait(Duration::from_secs(30));
    let ps = publ.wait(Duration::from_secs(30));
    let log = format!("{disc:?}\n{}{}", sub.transcript(), publ.transcript());
    assert!(ss.is_some_and(|s| s.success()), "{log}");
    assert!(ps.is_some_and(|s| s.success()), "{log}");
    let expected: Vec<String> = (0..10).map(|i| format!("hello {i}")).collect();
    assert_eq!(sub.out, expected, "{log}");
}

fn pollen_string_to_fastdds_sub(peer: &Path, dom: u32, disc: Discovery) {
    let mut sub = Proc::spawn(
        "fastdds sub",
        fastdds(
            peer,
            dom,
            &[
                "sub",
                "--topic",
                "rt/chatter",
                "--type",
                "string",
                "--count",
                "10",
                "--timeout",
                "20",
            ],
        ),
    );
    let mut publ = Proc::spawn(
        "pollen pub",
        pollen_in(dom, disc, &["pub", "chatter", "--ros", "--timeout", "20"]),
    );
    let input: String = (0..10).map(|i| format!("hi {i}\n")).collect();
    publ.feed(&input, true);
    let ps = publ.wait(Duration::from_secs(30));
    let ss = sub.wait(Duration::from_secs(30));
    let log = format!("{disc:?}\n{}{}", publ.transcript(), sub.transcript());
    assert!(ps.is_some_and(|s| s.success()), "{log}");
    assert!(ss.is_some_and(|s| s.success()), "{log}");
    let texts: Vec<String> = sub
        .out
        .iter()
        .filter_map(|l| l.splitn(4, ' ').nth(3).map(str::to_string))
        .collect();
    let expected: Vec<String> = (0..10).map(|i| format!("hi {i}")).collect();
    assert_eq!(texts, expected, "{log}");
}

fn fastdds_keyedseq_and_dispose_to_pollen_sub(peer: &Path, dom: u32, disc: Discovery) {
    let mut sub = Proc::spawn(
        "pollen sub",
        pollen_in(
            dom,
            disc,
            &[
                "sub",
                "interop_ks",
                "--type",
                "keyedseq",
                "--count",
                "11",
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
                "interop_ks",
                "--type",
                "keyedseq",
                "--count",
                "10",
                "--dispose",
                "1",
                "--timeout",
                "20",
            ],
        ),
    );
    let ss = sub.wait(Duration::from_secs(30));
    let ps = publ.wait(Duration::from_secs(30));
    let log = format!("{disc:?}\n{}{}", sub.transcript(), publ.transcript());
    assert!(ss.is_some_and(|s| s.success()), "{log}");
    assert!(ps.is_some_and(|s| s.success()), "{log}");
    let samples: Vec<Value> = sub
        .out
        .iter()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(samples.len(), 11, "{log}");
    for (i, s) in samples[..10].iter().enumerate() {
        assert_eq!(s["state"], "alive", "{log}");
        assert_eq!(s["value"]["seq"], i as u64, "{log}");
        assert_eq!(s["value"]["keyval"], (i % 3) as u64, "{log}");
        assert_eq!(
            s["value"]["baggage_len"],
            format!("sample {i}").len() as u64,
            "{log}"
        );
    }
    let d = &samples[10];
    assert_eq!(d["state"], "disposed", "{log}");
    // Fast DDS sends the serialized key or only the key hash (keyval 1, big-endian).
    let key_ok = d["value"]["keyval"] == 1
        || d["value"]["key"]
            .as_str()
            .is_some_and(|k| k.starts_with("00000001"));
    assert!(key_ok, "{log}");
}

fn pollen_keyedseq_to_fastdds_sub(peer: &Path, dom: u32, disc: Discovery) {
    let mut sub = Proc::spawn(
        "fastdds sub",
        fastdds(
            peer,
            dom,
            &[
                "sub",
                "--topic",
                "interop_ks",
                "--type",
                "keyedseq",
                "--count",
                "10",
                "--timeout",
                "20",
            ],
        ),
    );
    let mut publ = Proc::spawn(
        "pollen pub",
        pollen_in(
            dom,
            disc,
            &[
                "pub",
                "interop_ks",
                "bag",
                "--type",
                "keyedseq",
                "--keyval",
                "2",
                "--count",
                "10",
                "--timeout",
                "20",
            ],
        ),
    );
    let ps = publ.wait(Duration::from_secs(30));
    let ss = sub.wait(Duration::from_secs(30));
    let log = format!("{disc:?}\n{}{}", publ.transcript(), sub.transcript());
    assert!(ps.is_some_and(|s| s.success()), "{log}");
    assert!(ss.is_some_and(|s| s.success()), "{log}");
    let expected: Vec<String> = (0..10).map(|i| format!("alive 2 {i} bag")).collect();
    assert_eq!(sub.out, expected, "{log}");
}
