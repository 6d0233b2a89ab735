//! A participant pinned to an interface hears only that interface (hostile-networks item 4).
//!
//! The sockets bind INADDR_ANY, so before the fix the kernel delivered unicast from anywhere:
//! a participant pinned to loopback (the default) discovered a participant forged by another
//! host and took its ACKNACKs. Namespace A holds `pollen ls`; namespace B, joined to A by a
//! veth, plays the attacker: it sends forged SPDP announcements and ACKNACKs to A's veth
//! address on A's SPDP multicast port and both unicast ports. A must list no forged
//! participant and must count (and report, in `ls --json`'s `driver` object) the drops.
//!
//! The attacker is this test binary run again inside B (the `forger` test, which does nothing
//! unless `POLLEN_FORGE` is set). It sends until it is killed, so no test depends on timing:
//! whatever reaches A while `ls` listens is either refused or discovered.
//!
//! Needs root (network namespaces) and `ip`; otherwise it says SKIPPED. The namespaces are
//! deleted, and every process killed, by Drop guards, also when an assertion fails. The only
//! interfaces are the namespaces' `lo` and the veth between them.

mod common;

use common::Proc;
use pollen_engine::config::ports;
use pollen_engine::wire::{Duration as RtpsDuration, EntityId, Guid, GuidPrefix, Locator};
use pollen_tests::adversary;
use serde_json::Value;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::process::Command;
use std::time::Duration;

const DOMAIN: u32 = 3;
const A_ADDR: &str = "10.254.0.1";
const B_ADDR: &str = "10.254.0.2";
/// An address of B's outside A's subnet (10.254.0.0/24), for the interface-pinned case.
const B_FAR_ADDR: &str = "10.99.0.2";

use common::{is_root, run};

/// Namespaces A and B joined by a veth (A: 10.254.0.1/24, B: 10.254.0.2/24 and 10.99.0.2/32);
/// deleted on drop.
struct Namespaces {
    a: String,
    b: String,
    veth_a: String,
}

impl Namespaces {
    fn create(tag: &str) -> Namespaces {
        let id = std::process::id();
        let ns = Namespaces {
            a: format!("pollen-{tag}-a-{id}"),
            b: format!("pollen-{tag}-b-{id}"),
            veth_a: format!("p{tag}a{id}"),
        };
        let veth_b = format!("p{tag}b{id}");
        for n in [&ns.a, &ns.b] {
            let _ = Command::new("ip").args(["netns", "del", n]).output();
            run(&["ip", "netns", "add", n]);
            run(&["ip", "-n", n, "link", "set", "lo", "up"]);
        }
        run(&[
            "ip", "-n", &ns.a, "link", "add", &ns.veth_a, "type", "veth", "peer", "name", &veth_b,
            "netns", &ns.b,
        ]);
        let a_cidr = format!("{A_ADDR}/24");
        let b_cidr = format!("{B_ADDR}/24");
        let far_cidr = format!("{B_FAR_ADDR}/32");
        run(&["ip", "-n", &ns.a, "addr", "add", &a_cidr, "dev", &ns.veth_a]);
        run(&["ip", "-n", &ns.b, "addr", "add", &b_cidr, "dev", &veth_b]);
        run(&["ip", "-n", &ns.b, "addr", "add", &far_cidr, "dev", &veth_b]);
        run(&["ip", "-n", &ns.a, "link", "set", &ns.veth_a, "up"]);
        run(&["ip", "-n", &ns.b, "link", "set", &veth_b, "up"]);
        // A answers the far address through the veth (ARP and any reply).
        let far_route = format!("{B_FAR_ADDR}/32");
        run(&[
            "ip", "-n", &ns.a, "route", "add", &far_route, "dev", &ns.veth_a,
        ]);
        ns
    }

    fn exec(ns: &str, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns, program]);
        c
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for n in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", n]).output();
        }
    }
}

/// A forged participant's prefix: recognisable in `ls` output.
fn forged_prefix(n: u8) -> GuidPrefix {
    GuidPrefix([0xf0, 0x12, 0xed, n, 1, 2, 3, 4, 5, 6, 7, 8])
}

/// Starts the forger in namespace B: from each `(source, prefix)` it sends, every 20 ms until
/// killed, an SPDP announcement and an ACKNACK to A's SPDP multicast port and to both unicast
/// ports of participant 0.
fn start_forger(ns: &Namespaces, sources: &[(&str, GuidPrefix)]) -> Proc {
    let exe = std::env::current_exe().expect("test binary");
    let spec: Vec<String> = sources
        .iter()
        .map(|(ip, p)| format!("{ip}={}", hex(&p.0)))
        .collect();
    let mut c = Namespaces::exec(&ns.b, exe.to_str().expect("utf-8 path"));
    c.args(["--exact", "forger", "--nocapture", "--test-threads", "1"])
        .env("POLLEN_FORGE", spec.join(","));
    Proc::spawn("forger", c)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// The attacker (runs only when started by [`start_forger`]).
#[test]
fn forger() {
    let Ok(spec) = std::env::var("POLLEN_FORGE") else {
        return;
    };
    let target: Ipv4Addr = A_ADDR.parse().unwrap();
    let dst_ports = [
        ports::spdp_multicast(DOMAIN),
        ports::metatraffic_unicast(DOMAIN, 0),
        ports::user_unicast(DOMAIN, 0),
    ];
    let mut senders = Vec::new();
    for item in spec.split(',') {
        let (ip, prefix) = item.split_once('=').expect("ip=prefix");
        let ip: Ipv4Addr = ip.parse().expect("source address");
        let prefix = GuidPrefix(unhex(prefix).try_into().expect("12 bytes"));
        let socket = UdpSocket::bind(SocketAddrV4::new(ip, 0)).expect("bind the source");
        let back = Locator::udpv4(ip.octets(), ports::metatraffic_unicast(DOMAIN, 0) as u16);
        let spdp = adversary::spdp(prefix, back, RtpsDuration::from_secs(60), DOMAIN);
        // An ACKNACK from a reader of the forged participant to the SEDP publications writer
        // of whoever receives it (INFO_DST with the unknown prefix): enough, on a real flow, to
        // make a writer wait for a reader that is not there.
        let acknack = adversary::acknack(
            Guid::new(prefix, EntityId::SEDP_PUB_READER),
            Guid::new(GuidPrefix([0; 12]), EntityId::SEDP_PUB_WRITER),
            1,
            &[],
            1,
        );
        senders.push((socket, spdp, acknack));
    }
    for _ in 0..2000 {
        for (socket, spdp, acknack) in &senders {
            for port in dst_ports {
                let to = SocketAddrV4::new(target, port as u16);
                let _ = socket.send_to(spdp, to);
                let _ = socket.send_to(acknack, to);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `pollen ls --json` in A with `args` while the forger sends; returns its JSON.
fn ls_under_attack(ns: &Namespaces, args: &[&str], sources: &[(&str, GuidPrefix)]) -> Value {
    let pollen = env!("CARGO_BIN_EXE_pollen");
    let mut cmd = Namespaces::exec(&ns.a, pollen);
    cmd.args(["ls", "--json", "--duration", "3", "--domain"])
        .arg(DOMAIN.to_string())
        .args(args)
        .env_remove("POLLEN_INTERFACE");
    let mut ls = Proc::spawn("pollen ls", cmd);
    let mut forger = start_forger(ns, sources);
    let status = ls.wait(Duration::from_secs(20));
    forger.kill();
    let log = format!("{}{}", ls.transcript(), forger.transcript());
    assert!(status.is_some_and(|s| s.success()), "{log}");
    let json = ls.out.iter().rev().find(|l| l.starts_with('{'));
    let v: Value = serde_json::from_str(json.unwrap_or_else(|| panic!("no JSON\n{log}")))
        .unwrap_or_else(|e| panic!("bad JSON: {e}\n{log}"));
    eprintln!("{log}");
    v
}

fn listed(v: &Value, prefix: GuidPrefix) -> bool {
    let p = prefix.to_string();
    v["participants"]
        .as_array()
        .is_some_and(|a| a.iter().any(|x| x["guid_prefix"] == p.as_str()))
}

/// Pinned to loopback (the default), datagrams from another host are dropped and counted, and
/// the participant they announce is never discovered.
#[test]
fn loopback_pin_ignores_forged_spdp_and_acknack_from_another_host() {
    if !is_root() {
        pollen_tests::skip("hostile_iface needs root to create network namespaces");
        return;
    }
    if !common::have("/usr/sbin/ip", "ip") {
        return;
    }
    let ns = Namespaces::create("hl");
    let forged = forged_prefix(1);
    let v = ls_under_attack(&ns, &["--interface", "lo"], &[(B_ADDR, forged)]);
    assert!(!listed(&v, forged), "forged participant discovered: {v}");
    let refused = v["driver"]["refused_off_interface"].as_u64().unwrap_or(0);
    // At least one round of the forger: an SPDP and an ACKNACK to each of the three ports.
    assert!(refused >= 6, "{refused} datagrams refused: {v}");
}

/// Pinned to the veth, A hears its subnet (a participant announced from 10.254.0.2 is
/// discovered: the control that shows the forged datagrams do reach A's socket) but not a
/// source outside it (10.99.0.2), whose datagrams are dropped and counted.
#[test]
fn interface_pin_ignores_sources_off_its_subnet() {
    if !is_root() {
        pollen_tests::skip("hostile_iface needs root to create network namespaces");
        return;
    }
    if !common::have("/usr/sbin/ip", "ip") {
        return;
    }
    let ns = Namespaces::create("hi");
    let (near, far) = (forged_prefix(2), forged_prefix(3));
    let v = ls_under_attack(
        &ns,
        &["--interface", A_ADDR, "--no-multicast"],
        &[(B_ADDR, near), (B_FAR_ADDR, far)],
    );
    assert!(
        listed(&v, near),
        "the on-subnet participant was not heard: {v}"
    );
    assert!(!listed(&v, far), "off-subnet participant discovered: {v}");
    let refused = v["driver"]["refused_off_interface"].as_u64().unwrap_or(0);
    assert!(refused >= 6, "{refused} datagrams refused: {v}");
}
