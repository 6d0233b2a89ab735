//! TCP peers that hold inbound slots without using them (hostile-networks item 7).
//!
//! A "slowloris" connection sends a byte now and then, never completing a frame: before the
//! fix each byte refreshed the idle timer, so a handful of them filled every inbound slot for
//! good and a real peer was refused. Now a frame must be complete `frame_timeout` after its
//! first byte, while a connection idle between whole frames keeps only the idle timeout; and
//! one source address may hold at most `max_inbound_per_source` inbound connections.
//!
//! Everything is on 127.0.0.1 (Pollen pinned to loopback, its listener bound there). Domain 232
//! is apart from the other test files' 20..231.

mod common;

use common::{pollen, Proc};
use pollen_engine::stream::{CycloneFraming, Framing};
use pollen_engine::wire::{EntityId, Guid, GuidPrefix};
use pollen_engine::{History, ReaderQos, Reliability, Span, TopicSpec};
use pollen_mio::{Driver, Options, TcpOptions, Transport};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, SocketAddrV4, TcpStream};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const DOMAIN: u32 = 232;

/// A TCP-only participant on loopback with no peers: it only accepts.
fn listener_options(tcp: TcpOptions) -> Options {
    Options {
        domain_id: DOMAIN,
        transport: Transport::Tcp,
        tcp,
        ..Options::default()
    }
}

/// Whether the driver closed `s` (its end reads EOF or a reset), without waiting.
fn closed_by_peer(s: &mut TcpStream) -> bool {
    s.set_nonblocking(true).unwrap();
    let mut b = [0u8; 64];
    let r = s.read(&mut b);
    s.set_nonblocking(false).unwrap();
    match r {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) if e.kind() == ErrorKind::WouldBlock => false,
        Err(_) => true,
    }
}

/// One whole, valid frame: a HEARTBEAT of a writer nobody knows, in Cyclone's framing.
fn whole_frame() -> Vec<u8> {
    let writer = Guid::new(
        GuidPrefix([0x5a; 12]),
        EntityId([0, 0, 1, 0x02]), // a user writer with key
    );
    let mut m = pollen_tests::adversary::heartbeat(writer, 1, 1, 1);
    let len = m.len();
    m.resize(len + CycloneFraming::OVERHEAD, 0);
    let n = CycloneFraming::new().frame(&mut m, len).expect("frames");
    m.truncate(n);
    m
}

/// Three slowloris connections and one that sent a whole frame and went quiet fill the four
/// inbound slots; a `pollen pub` over TCP then tries to deliver 20 samples. The slowloris ones
/// are closed by the frame deadline (the idle timeout, 30 s, never fires: they keep sending), the
/// framed one stays open, and the newcomer gets in and delivers every sample.
#[test]
fn slowloris_connections_are_closed_and_a_newcomer_gets_in() {
    let (mut driver, mut engine) = Driver::new(listener_options(TcpOptions {
        max_inbound: 4,
        frame_timeout: Span::from_secs(1),
        ..TcpOptions::default()
    }))
    .expect("driver");
    let port = driver.tcp_port().expect("TCP port");
    let to = SocketAddr::V4(SocketAddrV4::new([127, 0, 0, 1].into(), port));

    let mut framed = TcpStream::connect(to).expect("connect");
    framed.write_all(&whole_frame()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let dribbler = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            // An RTPS header and a length submessage announcing 60 000 bytes, a byte at a time.
            let mut head = b"RTPS\x02\x03\x00\x00".to_vec();
            head.extend_from_slice(&[7u8; 12]);
            head.extend_from_slice(&[0x81, 0x01, 0x04, 0x00]);
            head.extend_from_slice(&60_000u32.to_le_bytes());
            let mut conns: Vec<(TcpStream, bool)> = (0..3)
                .map(|_| (TcpStream::connect(to).expect("connect"), true))
                .collect();
            let mut sent = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let byte = head.get(sent).copied().unwrap_or(0);
                for (s, open) in conns.iter_mut().filter(|(_, open)| *open) {
                    if s.write_all(&[byte]).is_err() || closed_by_peer(s) {
                        *open = false;
                    }
                }
                sent += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            conns.iter().filter(|(_, open)| !open).count()
        })
    };
    let topic = TopicSpec::new("hostile/slowloris", "DDS::String");
    let rq = ReaderQos {
        reliability: Reliability::Reliable,
        history: History::KeepAll,
        ..ReaderQos::default()
    };
    let now = driver.now();
    let reader = engine.create_reader(now, &topic, &rq).unwrap();
    let mut publ: Option<Proc> = None;
    let mut buf = vec![0u8; 4096];
    let mut taken = 0;
    let end = Instant::now() + Duration::from_secs(30);
    let outcome = driver
        .run(&mut engine, |d, e| {
            while e.poll_event().is_some() {}
            while let Ok(Some(_)) = e.take(reader, &mut buf) {
                taken += 1;
            }
            if taken >= 20 {
                return ControlFlow::Break(Ok(()));
            }
            if Instant::now() >= end {
                return ControlFlow::Break(Err("timed out"));
            }
            // Once the four hold every slot, the newcomer comes.
            let s = &d.stats().tcp;
            if publ.is_none() && s.accepted >= 4 && s.open_connections >= 4 {
                let tcp_peer = format!("127.0.0.1:{port}");
                publ = Some(Proc::spawn(
                    "pollen pub",
                    pollen(&[
                        "pub",
                        "hostile/slowloris",
                        "hello",
                        "--count",
                        "20",
                        "--wait-readers",
                        "1",
                        "--timeout",
                        "30",
                        "--transport",
                        "tcp",
                        "--domain",
                        &DOMAIN.to_string(),
                        "--peer",
                        &tcp_peer,
                    ]),
                ));
            }
            ControlFlow::Continue(Some(Instant::now() + Duration::from_millis(20)))
        })
        .unwrap();
    stop.store(true, Ordering::Relaxed);
    let slowloris_closed = dribbler.join().unwrap();
    let framed_closed = closed_by_peer(&mut framed);
    let stats = driver.stats().clone();
    let log = publ.as_mut().map(Proc::transcript).unwrap_or_default();
    assert!(
        outcome.is_ok(),
        "{outcome:?}: {taken} taken\n{stats:?}\n{log}"
    );
    assert_eq!(stats.tcp.frame_timeouts, 3, "{stats:?}");
    assert_eq!(slowloris_closed, 3, "{stats:?}");
    assert_eq!(stats.tcp.idle_timeouts, 0, "{stats:?}");
    assert!(
        !framed_closed,
        "an idle connection between frames was closed: {stats:?}"
    );
}

/// Two connections from 127.0.0.1 fit a limit of two per source, the third is closed at once
/// and counted; a connection from another loopback address (127.0.0.2) still gets in.
#[test]
fn per_source_limit_refuses_the_extra_connection() {
    let (mut driver, mut engine) = Driver::new(listener_options(TcpOptions {
        max_inbound: 8,
        max_inbound_per_source: 2,
        ..TcpOptions::default()
    }))
    .expect("driver");
    let port = driver.tcp_port().expect("TCP port");
    let to = SocketAddrV4::new([127, 0, 0, 1].into(), port);
    // The kernel completes these from its backlog; the driver accepts them in this order.
    let mut same: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(to).expect("connect"))
        .collect();
    let other = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    other
        .bind(&SocketAddrV4::new([127, 0, 0, 2].into(), 0).into())
        .unwrap();
    other.connect(&to.into()).unwrap();
    let mut other: TcpStream = other.into();
    let end = Instant::now() + Duration::from_secs(10);
    driver
        .run(&mut engine, |d, _| {
            let s = &d.stats().tcp;
            if s.accepted + s.refused_per_source >= 4 || Instant::now() >= end {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(Some(Instant::now() + Duration::from_millis(10)))
            }
        })
        .unwrap();
    let stats = driver.stats().clone();
    let closed: Vec<bool> = same.iter_mut().map(closed_by_peer).collect();
    assert_eq!(stats.tcp.refused_per_source, 1, "{stats:?}");
    assert_eq!(stats.tcp.accepted, 3, "{stats:?}");
    assert_eq!(closed, [false, false, true], "{stats:?}");
    assert!(!closed_by_peer(&mut other), "{stats:?}");
}
