//! RTPS over TCP through the mio driver: Pollen to Pollen with no UDP at all, Cyclone DDS 0.10
//! `ddsperf` with its TCP transport both ways, peers that restart, and peers that misbehave
//! (garbage, a frame that never completes, a reader that stops reading) without the driver's
//! memory growing.
//!
//! Every participant is on loopback: Pollen is pinned with `--interface 127.0.0.1` (its TCP
//! listener binds 127.0.0.1) and Cyclone with a configuration naming `lo`. The domains are
//! 220 + slot, apart from the other test files' 20..219: with TCP a participant is found
//! through the ports of its domain only.

mod common;

use common::{have, pollen, Proc};
use pollen_engine::config::ports;
use pollen_engine::{Event, History, Peer, ReaderQos, Reliability, Span, TopicSpec, WriterQos};
use pollen_mio::{Clock, Driver, Options, TcpOptions, Transport};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

const DDSPERF: &str = "/usr/bin/ddsperf";

/// A domain of its own per test (`slot` < 12).
fn tcp_domain(slot: u32) -> u32 {
    assert!(slot < 12);
    220 + slot
}

/// Where Pollen participant `id` of `dom` listens for TCP (its metatraffic port number).
fn pollen_tcp_port(dom: u32, id: u16) -> u16 {
    ports::metatraffic_unicast(dom, id) as u16
}

/// Cyclone 0.10 with its TCP transport on `lo`: it listens on a port of its own (announced in
/// its locators) and connects to the TCP ports of Pollen participants 0 and 1 of the domain.
fn cyclone_tcp_uri(dom: u32) -> String {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join(format!("cyclone-tcp-{dom}.xml"));
    let xml = format!(
        r#"<CycloneDDS xmlns="https://cdds.io/config"><Domain id="any">
  <General><Transport>tcp</Transport><Interfaces><NetworkInterface name="lo"/></Interfaces></General>
  <Discovery><ParticipantIndex>auto</ParticipantIndex><Peers><Peer address="127.0.0.1:{p0}"/><Peer address="127.0.0.1:{p1}"/></Peers></Discovery>
  <TCP><Port>{own}</Port></TCP>
</Domain></CycloneDDS>
"#,
        p0 = pollen_tcp_port(dom, 0),
        p1 = pollen_tcp_port(dom, 1),
        own = pollen_tcp_port(dom, 0) + 100,
    );
    std::fs::write(&path, xml).expect("write the Cyclone configuration");
    format!("file://{}", path.display())
}

fn ddsperf_tcp(dom: u32, args: &[&str]) -> Command {
    let mut c = Command::new(DDSPERF);
    c.env("CYCLONEDDS_URI", cyclone_tcp_uri(dom))
        .args(["-i", &dom.to_string()])
        .args(args);
    c
}

/// `pollen` with `--transport tcp` in domain `dom`.
fn pollen_tcp(dom: u32, args: &[&str]) -> Command {
    let mut c = pollen(args);
    c.args(["--transport", "tcp", "--domain", &dom.to_string()]);
    c
}

/// Driver options for a TCP-only participant on loopback; its TCP peers are the ports of
/// participant ids 0..9 of the domain.
fn tcp_options(dom: u32) -> Options {
    Options {
        domain_id: dom,
        transport: Transport::Tcp,
        peers: vec![Peer {
            address: [127, 0, 0, 1],
            port: None,
        }],
        ..Options::default()
    }
}

fn reliable_keep_all() -> (WriterQos, ReaderQos) {
    (
        WriterQos {
            reliability: Reliability::Reliable,
            history: History::KeepAll,
            ..WriterQos::default()
        },
        ReaderQos {
            reliability: Reliability::Reliable,
            history: History::KeepAll,
            ..ReaderQos::default()
        },
    )
}

/// A DDS::String payload (CDR little-endian).
fn string_payload(s: &str) -> Vec<u8> {
    let mut p = vec![0, 1, 0, 0];
    p.extend_from_slice(&(s.len() as u32 + 1).to_le_bytes());
    p.extend_from_slice(s.as_bytes());
    p.push(0);
    p
}

fn signal(p: &Proc, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &p.id().to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill {sig} {}", p.id());
}

#[test]
fn tcp_only_pollen_pub_to_pollen_sub() {
    let dom = tcp_domain(0);
    let mut sub = Proc::spawn(
        "pollen sub",
        pollen_tcp(
            dom,
            &["sub", "tcp/chat", "--count", "50", "--timeout", "20"],
        ),
    );
    let mut publ = Proc::spawn(
        "pollen pub",
        pollen_tcp(
            dom,
            &["pub", "tcp/chat", "--count", "50", "--timeout", "20"],
        ),
    );
    let input: String = (0..50).map(|i| format!("line {i}\n")).collect();
    publ.feed(&input, true);
    let ps = publ.wait(Duration::from_secs(30));
    let ss = sub.wait(Duration::from_secs(30));
    let log = format!("{}{}", publ.transcript(), sub.transcript());
    assert!(ps.is_some_and(|s| s.success()), "{log}");
    assert!(ss.is_some_and(|s| s.success()), "{log}");
    let expected: Vec<String> = (0..50).map(|i| format!("line {i}")).collect();
    assert_eq!(sub.out, expected, "{log}");
}

/// An in-process TCP participant reads what `pollen pub --transport tcp` writes; neither side
/// sends a single datagram.
#[test]
fn tcp_only_driver_sends_and_receives_no_datagrams() {
    let dom = tcp_domain(1);
    let (mut driver, mut engine) = Driver::new(tcp_options(dom)).expect("driver");
    assert_eq!(driver.tcp_port(), Some(pollen_tcp_port(dom, 0)));
    let mut publ = Proc::spawn(
        "pollen pub",
        pollen_tcp(
            dom,
            &[
                "pub",
                "tcp/count",
                "--count",
                "200",
                "--size",
                "300",
                "--timeout",
                "20",
            ],
        ),
    );
    let (_, rq) = reliable_keep_all();
    let topic = TopicSpec::new("tcp/count", "DDS::String");
    let now = driver.now();
    let r = engine.create_reader(now, &topic, &rq).unwrap();
    let end = Instant::now() + Duration::from_secs(25);
    let mut got = 0;
    let mut buf = vec![0u8; 4096];
    let done = driver
        .run(&mut engine, |_, e| {
            while e.poll_event().is_some() {}
            while let Ok(Some(info)) = e.take(r, &mut buf) {
                assert!(info.len >= 4 + 4 + 301, "{info:?}");
                got += 1;
            }
            if got == 200 {
                ControlFlow::Break(true)
            } else if Instant::now() >= end {
                ControlFlow::Break(false)
            } else {
                ControlFlow::Continue(Some(end))
            }
        })
        .unwrap();
    let ps = publ.wait(Duration::from_secs(20));
    let stats = driver.stats().clone();
    let log = publ.transcript();
    assert!(done, "{got} of 200 samples\n{stats:?}\n{log}");
    assert!(ps.is_some_and(|s| s.success()), "{log}");
    assert_eq!(stats.datagrams_sent, 0, "{stats:?}");
    assert_eq!(stats.datagrams_received, 0, "{stats:?}");
    assert!(stats.tcp.accepted >= 1, "{stats:?}");
    assert!(stats.tcp.frames_sent > 0, "{stats:?}");
    assert_eq!(engine.stats().datagrams_in, 0);
    // The connections read the clock on their own; the driver's instant of the wake-up must
    // not fall behind what they gave the engine.
    assert_eq!(engine.stats().time_went_backwards, 0);
}

#[test]
fn ddsperf_pub_to_pollen_sub_over_tcp() {
    if !have(DDSPERF, "Cyclone DDS ddsperf") {
        return;
    }
    let dom = tcp_domain(2);
    let mut sub = Proc::spawn(
        "pollen sub",
        pollen_tcp(
            dom,
            &[
                "sub",
                "DDSPerfRDataKS",
                "--type",
                "keyedseq",
                "--count",
                "200",
                "--timeout",
                "25",
                "--json",
            ],
        ),
    );
    let mut perf = Proc::spawn(
        "ddsperf pub",
        ddsperf_tcp(dom, &["-D", "30", "pub", "500Hz"]),
    );
    let status = sub.wait(Duration::from_secs(35));
    perf.kill();
    let log = format!("{}{}", sub.transcript(), perf.transcript());
    assert!(status.is_some_and(|s| s.success()), "{status:?}\n{log}");
    let samples: Vec<Value> = sub
        .out
        .iter()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(samples.len(), 200, "{log}");
    for pair in samples.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        assert_eq!(
            b["value"]["seq"].as_u64(),
            a["value"]["seq"].as_u64().map(|s| s + 1),
            "{log}"
        );
        assert!(b["writer"].as_str().is_some_and(|w| w.starts_with("0110")));
    }
}

/// The largest "total N" ddsperf's subscriber reported, with its "lost" counter.
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

#[test]
fn pollen_pub_to_ddsperf_sub_over_tcp() {
    if !have(DDSPERF, "Cyclone DDS ddsperf") {
        return;
    }
    let dom = tcp_domain(3);
    let mut perf = Proc::spawn("ddsperf sub", ddsperf_tcp(dom, &["-D", "30", "sub"]));
    let mut publ = Proc::spawn(
        "pollen pub",
        pollen_tcp(
            dom,
            &[
                "pub",
                "DDSPerfRDataKS",
                "--type",
                "keyedseq",
                "--count",
                "5000",
                "--size",
                "1000",
                "--timeout",
                "25",
                // ddsperf drops the counters of a writer that left before it took its samples.
                "--linger",
                "2",
            ],
        ),
    );
    let status = publ.wait(Duration::from_secs(35));
    let log = publ.transcript();
    assert!(status.is_some_and(|s| s.success()), "{status:?}\n{log}");
    let seen = perf.wait_for_line(Duration::from_secs(5), |l| {
        ddsperf_totals(&[l.to_string()]).is_some_and(|(n, _)| n >= 5000)
    });
    perf.kill();
    let plog = perf.transcript();
    assert!(seen, "ddsperf did not report 5000 samples\n{log}{plog}");
    assert_eq!(ddsperf_totals(&perf.out), Some((5000, 0)), "{log}{plog}");
}

/// `pollen ping` against `ddsperf pong`, both over TCP.
#[test]
fn pollen_ping_to_ddsperf_pong_over_tcp() {
    if !have(DDSPERF, "Cyclone DDS ddsperf") {
        return;
    }
    let dom = tcp_domain(4);
    let mut pong = Proc::spawn("ddsperf pong", ddsperf_tcp(dom, &["-D", "30", "pong"]));
    let mut ping = Proc::spawn(
        "pollen ping",
        pollen_tcp(dom, &["ping", "--rate", "100", "-D", "6", "--json"]),
    );
    let status = ping.wait(Duration::from_secs(30));
    pong.kill();
    let log = format!("{}{}", ping.transcript(), pong.transcript());
    assert!(status.is_some_and(|s| s.success()), "{status:?}\n{log}");
    let summary: Value = ping
        .out
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no JSON summary\n{log}"));
    let pongs = summary["pongs"]
        .as_u64()
        .or_else(|| summary["samples"].as_u64())
        .unwrap_or(0);
    assert!(pongs >= 100, "{summary}\n{log}");
}

/// `ddsperf ping` against `pollen pong`, both over TCP.
#[test]
fn ddsperf_ping_to_pollen_pong_over_tcp() {
    if !have(DDSPERF, "Cyclone DDS ddsperf") {
        return;
    }
    let dom = tcp_domain(8);
    let mut pong = Proc::spawn("pollen pong", pollen_tcp(dom, &["pong", "-D", "30"]));
    let mut ping = Proc::spawn(
        "ddsperf ping",
        ddsperf_tcp(dom, &["-D", "6", "ping", "100Hz"]),
    );
    let status = ping.wait(Duration::from_secs(30));
    pong.kill();
    let log = format!("{}{}", ping.transcript(), pong.transcript());
    assert!(status.is_some_and(|s| s.success()), "{status:?}\n{log}");
    // ddsperf's per-second latency lines: "... size 12 mean ...us ... cnt N".
    let answered: u64 = ping
        .out
        .iter()
        .filter_map(|l| l.split_whitespace().skip_while(|w| *w != "cnt").nth(1))
        .filter_map(|n| n.parse::<u64>().ok())
        .sum();
    assert!(answered >= 100, "{answered} pongs\n{log}");
}

/// A subscriber killed mid-stream and started again, then a publisher killed and started
/// again: the survivor reconnects each time and delivery resumes.
#[test]
fn restarted_tcp_peers_are_reconnected() {
    let dom = tcp_domain(5);
    let sub_cmd = || {
        pollen_tcp(
            dom,
            &["sub", "tcp/restart", "--timeout", "40", "--best-effort"],
        )
    };
    let pub_cmd = |word: &str| {
        pollen_tcp(
            dom,
            &[
                "pub",
                "tcp/restart",
                word,
                "--count",
                "100000",
                "--rate",
                "50",
                "--timeout",
                "40",
                "--best-effort",
            ],
        )
    };
    let limit = Duration::from_secs(15);
    let mut sub1 = Proc::spawn("pollen sub 1", sub_cmd());
    let mut pub1 = Proc::spawn("pollen pub 1", pub_cmd("one"));
    assert!(
        sub1.wait_for_line(limit, |l| l == "one"),
        "{}{}",
        sub1.transcript(),
        pub1.transcript()
    );
    sub1.kill();
    // The new subscriber takes the same participant id, hence the same TCP port.
    let mut sub2 = Proc::spawn("pollen sub 2", sub_cmd());
    assert!(
        sub2.wait_for_line(limit, |l| l == "one"),
        "the publisher did not reconnect\n{}{}",
        sub2.transcript(),
        pub1.transcript()
    );
    pub1.kill();
    let mut pub2 = Proc::spawn("pollen pub 2", pub_cmd("two"));
    assert!(
        sub2.wait_for_line(limit, |l| l == "two"),
        "the subscriber did not reach the new publisher\n{}{}",
        sub2.transcript(),
        pub2.transcript()
    );
}

/// A subscriber that stops reading (SIGSTOP) while a best-effort publisher writes as fast as
/// it can: the publisher's buffered bytes stay within the configured bound, the stalled
/// connection is closed after the write timeout, and the publisher keeps running.
#[test]
fn stalled_tcp_reader_keeps_buffers_bounded() {
    let dom = tcp_domain(6);
    const LIMIT: usize = 256 * 1024;
    let mut opts = tcp_options(dom);
    opts.tcp = TcpOptions {
        max_send_buffer: LIMIT,
        write_timeout: Span::from_secs(2),
        ..TcpOptions::default()
    };
    let (mut driver, mut engine) = Driver::new(opts).expect("driver");
    let mut sub = Proc::spawn(
        "pollen sub",
        pollen_tcp(
            dom,
            &["sub", "tcp/flood", "--best-effort", "--timeout", "60"],
        ),
    );
    let topic = TopicSpec::new("tcp/flood", "DDS::String");
    let wq = WriterQos {
        reliability: Reliability::BestEffort,
        history: History::KeepLast(1),
        ..WriterQos::default()
    };
    let now = driver.now();
    let w = engine.create_writer(now, &topic, &wq).unwrap();
    let payload = string_payload(&"x".repeat(8000));
    // Progress is judged by counters, never by elapsed time: the timers themselves are the
    // engine's and are tested on its clock (`pollen_engine::stream::conn`).
    let mut stopped_after: Option<u64> = None;
    let mut matched = false;
    let end = Instant::now() + Duration::from_secs(40);
    let mut peak = 0usize;
    let mut written = 0u64;
    let outcome = driver
        .run(&mut engine, |d, e| {
            while let Some(ev) = e.poll_event() {
                if let Event::Matched { .. } = ev {
                    matched = true;
                }
            }
            peak = peak.max(d.stats().tcp.buffered_bytes);
            let now_std = Instant::now();
            if now_std >= end {
                return ControlFlow::Break(Err("timed out".to_string()));
            }
            if !matched {
                return ControlFlow::Continue(Some(now_std + Duration::from_millis(50)));
            }
            // Let the subscriber take a few samples (100 kB sent), then stop it.
            if stopped_after.is_none() && d.stats().tcp.bytes_sent >= 100_000 {
                signal(&sub, "-STOP");
                stopped_after = Some(written);
            }
            // Done once the stalled connection was closed and the publisher kept writing
            // (another 200 samples) after that.
            if let Some(s) = stopped_after {
                let tcp = &d.stats().tcp;
                if tcp.write_timeouts >= 1 && tcp.bytes_dropped > 0 && written >= s + 200 {
                    return ControlFlow::Break(Ok(()));
                }
            }
            // Write as fast as the driver takes it.
            if !d.is_blocked() {
                for _ in 0..16 {
                    let now = d.now();
                    if e.write(now, w, &payload, Clock::wall_time()).is_ok() {
                        written += 1;
                    }
                    if d.flush(e).is_err() || d.is_blocked() {
                        break;
                    }
                }
            }
            ControlFlow::Continue(Some(Instant::now() + Duration::from_millis(1)))
        })
        .unwrap();
    signal(&sub, "-CONT");
    let stats = driver.stats().clone();
    sub.kill();
    let log = sub.transcript();
    assert!(outcome.is_ok(), "{outcome:?}\n{stats:?}\n{log}");
    assert!(written > 100, "{written} written\n{stats:?}");
    assert!(
        stats.tcp.send_blocked > 0,
        "never filled the buffer: {stats:?}"
    );
    // One full send buffer (the stalled connection; the connections the stopped subscriber
    // opened to us carry little) and what a read may hold: a partial frame and a read chunk.
    let bound = LIMIT + 2 * 66 * 1024;
    assert!(stats.tcp.peak_buffered_bytes <= bound, "{stats:?}");
    assert!(peak <= bound, "{peak} {stats:?}");
    assert!(stats.tcp.bytes_dropped > 0, "{stats:?}");
    eprintln!("{written} written; {stats:?}");
}

/// Whether a blocking read with a timeout saw the driver close the connection (EOF or a
/// reset), not the timeout run out.
fn closed_by_driver(read: std::io::Result<usize>) -> bool {
    match read {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

/// Garbage is closed at once; a frame that never completes is closed by the idle timeout;
/// inbound connections above the limit are refused. Nothing buffers more than a frame.
#[test]
fn misbehaving_tcp_clients_are_closed() {
    let dom = tcp_domain(7);
    let mut opts = tcp_options(dom);
    opts.peers.clear();
    opts.tcp = TcpOptions {
        max_inbound: 4,
        idle_timeout: Span::from_secs(1),
        ..TcpOptions::default()
    };
    let (mut driver, mut engine) = Driver::new(opts).expect("driver");
    let port = driver.tcp_port().expect("TCP port");
    let client = std::thread::spawn(move || {
        let connect = || TcpStream::connect(("127.0.0.1", port)).expect("connect");
        // Not RTPS.
        let mut garbage = connect();
        garbage.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        garbage
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut b = [0u8; 16];
        let closed = closed_by_driver(garbage.read(&mut b));
        // An RTPS header and a length of 60000, then 100 bytes, then silence.
        let mut partial = connect();
        let mut frame = Vec::new();
        frame.extend_from_slice(b"RTPS\x02\x03\x00\x00");
        frame.extend_from_slice(&[7u8; 12]);
        frame.extend_from_slice(&[0x81, 0x01, 0x04, 0x00]);
        frame.extend_from_slice(&60_000u32.to_le_bytes());
        frame.extend_from_slice(&[0u8; 100]);
        partial.write_all(&frame).unwrap();
        partial
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let idle_closed = closed_by_driver(partial.read(&mut b));
        // More connections than the limit: the surplus is closed at once.
        let many: Vec<TcpStream> = (0..8).map(|_| connect()).collect();
        let mut refused = 0;
        for mut s in many {
            s.set_read_timeout(Some(Duration::from_millis(300)))
                .unwrap();
            match s.read(&mut b) {
                Ok(0) => refused += 1,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => refused += 1,
                _ => {}
            }
        }
        (closed, idle_closed, refused)
    });
    let end = Instant::now() + Duration::from_secs(30);
    let mut peak = 0;
    driver
        .run(&mut engine, |d, e| {
            while e.poll_event().is_some() {}
            peak = peak.max(d.stats().tcp.buffered_bytes);
            if client.is_finished() || Instant::now() >= end {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(Some(Instant::now() + Duration::from_millis(20)))
            }
        })
        .unwrap();
    let (closed, idle_closed, refused) = client.join().unwrap();
    let stats = driver.stats().clone();
    assert!(closed, "garbage connection left open: {stats:?}");
    assert_eq!(stats.tcp.stream_errors, 1, "{stats:?}");
    assert!(idle_closed, "silent connection left open: {stats:?}");
    assert!(stats.tcp.idle_timeouts >= 1, "{stats:?}");
    assert!(refused >= 4, "{refused} refused; {stats:?}");
    assert!(stats.tcp.refused >= 4, "{stats:?}");
    assert!(peak < 70_000, "{peak} buffered; {stats:?}");
}
