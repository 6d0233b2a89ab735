//! Pollen's default configuration keeps every packet on loopback, even on a host whose default
//! route leads elsewhere.
//!
//! Namespace A has only `lo` and a veth into namespace B, and B carries A's default route.
//! `pollen pub` and `pollen sub`, with no configuration at all (no flags, no environment),
//! discover each other and exchange samples inside A while tcpdump listens on B's end of the
//! veth: a single packet there fails the test. A control datagram sent from A through the
//! default route afterwards must show up, proving the capture would have seen a leak.
//!
//! Needs root (network namespaces) and `ip` and `tcpdump`; otherwise it says SKIPPED. Both
//! namespaces are deleted by a Drop guard, also when an assertion fails.

mod common;

use common::Proc;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{is_root, run};

/// Two namespaces joined by a veth; deleted on drop.
struct Namespaces {
    a: String,
    b: String,
}

impl Namespaces {
    fn create() -> Namespaces {
        let id = std::process::id();
        let ns = Namespaces {
            a: format!("pollen-leak-a-{id}"),
            b: format!("pollen-leak-b-{id}"),
        };
        for n in [&ns.a, &ns.b] {
            let _ = Command::new("ip").args(["netns", "del", n]).output();
            run(&["ip", "netns", "add", n]);
            // No IPv6: an interface coming up would otherwise send router solicitations and
            // MLD reports of its own, which are not Pollen's.
            for key in ["all", "default"] {
                run(&[
                    "ip",
                    "netns",
                    "exec",
                    n,
                    "sysctl",
                    "-qw",
                    &format!("net.ipv6.conf.{key}.disable_ipv6=1"),
                ]);
            }
            run(&["ip", "-n", n, "link", "set", "lo", "up"]);
        }
        let (va, vb) = (format!("pla{id}"), format!("plb{id}"));
        run(&[
            "ip", "-n", &ns.a, "link", "add", &va, "type", "veth", "peer", "name", &vb, "netns",
            &ns.b,
        ]);
        run(&[
            "ip",
            "-n",
            &ns.a,
            "addr",
            "add",
            "10.254.0.1/24",
            "dev",
            &va,
        ]);
        run(&[
            "ip",
            "-n",
            &ns.b,
            "addr",
            "add",
            "10.254.0.2/24",
            "dev",
            &vb,
        ]);
        run(&["ip", "-n", &ns.a, "link", "set", &va, "up"]);
        run(&["ip", "-n", &ns.b, "link", "set", &vb, "up"]);
        run(&[
            "ip",
            "-n",
            &ns.a,
            "route",
            "add",
            "default",
            "via",
            "10.254.0.2",
        ]);
        ns
    }

    fn veth_b(&self) -> String {
        format!("plb{}", std::process::id())
    }

    /// A command run inside namespace `ns`.
    fn exec(ns: &str, argv: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns]).args(argv);
        c
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        // Deleting A removes its veth end and with it B's.
        for n in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", n]).output();
        }
    }
}

/// Waits until `p` printed a stderr line containing `what`.
fn wait_for_stderr(p: &mut Proc, what: &str, limit: Duration) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        let _ = p.transcript();
        if p.err.iter().any(|l| l.contains(what)) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn default_discovery_sends_nothing_off_loopback() {
    if !is_root() {
        pollen_tests::skip("no_leak needs root to create network namespaces");
        return;
    }
    for tool in ["/usr/sbin/ip", "/usr/bin/tcpdump"] {
        if !common::have(tool, tool) {
            return;
        }
    }
    let ns = Namespaces::create();
    let pollen = env!("CARGO_BIN_EXE_pollen");
    let veth = ns.veth_b();
    // Every frame on B's end, printed as it comes (-l), no name lookups, root kept for -i.
    let mut dump = Proc::spawn(
        "tcpdump",
        Namespaces::exec(
            &ns.b,
            &["tcpdump", "-i", &veth, "-n", "-l", "-e", "-Z", "root"],
        ),
    );
    assert!(
        wait_for_stderr(&mut dump, "listening on", Duration::from_secs(10)),
        "tcpdump did not start\n{}",
        dump.transcript()
    );

    // No configuration: no flags, no POLLEN_INTERFACE, no CYCLONEDDS_URI.
    let bare = |args: &[&str]| {
        let mut c = Namespaces::exec(&ns.a, &[pollen]);
        c.args(args)
            .env_remove("POLLEN_INTERFACE")
            .env_remove("CYCLONEDDS_URI");
        c
    };
    let mut sub = Proc::spawn(
        "pollen sub",
        bare(&["sub", "leak_check", "--count", "20", "--timeout", "15"]),
    );
    let mut publ = Proc::spawn(
        "pollen pub",
        bare(&[
            "pub",
            "leak_check",
            "hello",
            "--count",
            "200",
            "--rate",
            "50",
            "--timeout",
            "15",
        ]),
    );
    let ss = sub.wait(Duration::from_secs(20));
    let ps = publ.wait(Duration::from_secs(20));
    let log = format!("{}{}", sub.transcript(), publ.transcript());
    assert!(ss.is_some_and(|s| s.success()), "{log}");
    assert!(ps.is_some_and(|s| s.success()), "{log}");
    assert_eq!(sub.out.len(), 20, "{log}");
    // Let anything in flight arrive.
    std::thread::sleep(Duration::from_millis(500));
    let _ = dump.transcript();
    let leaked = dump.out.clone();
    assert!(
        leaked.is_empty(),
        "{} packet(s) left loopback:\n{}\n{log}",
        leaked.len(),
        leaked.join("\n")
    );

    // Control: a datagram through A's default route reaches the capture (ARP first).
    run(&[
        "ip",
        "netns",
        "exec",
        &ns.a,
        "bash",
        "-c",
        "echo control > /dev/udp/192.0.2.1/9",
    ]);
    let seen = dump.wait_for_line(Duration::from_secs(5), |_| true);
    dump.kill();
    assert!(
        seen,
        "the capture saw nothing, not even the control datagram\n{}",
        dump.transcript()
    );
}
