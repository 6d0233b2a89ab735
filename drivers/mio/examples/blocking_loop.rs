//! The bare engine in a plain blocking `std::net` loop, without mio or the `Driver`.
//!
//! `cargo run --example blocking_loop -- pub` writes "hello N" once a second on topic
//! `blocking`; without `pub` it prints what arrives. It talks to `pollen sub blocking` and
//! `pollen pub blocking` too. Discovery is unicast to 127.0.0.1 only: nothing leaves loopback.

use pollen_engine::config::ports;
use pollen_engine::wire::{GuidPrefix, Locator, Time};
use pollen_engine::{Config, Destination, Engine, Event, Instant, Peer, ReaderQos, TopicSpec};
use pollen_engine::{History, Reliability, WriterQos};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn main() -> std::io::Result<()> {
    let publish = std::env::args().nth(1).as_deref() == Some("pub");
    let origin = std::time::Instant::now();
    let now = || Instant::from_micros(origin.elapsed().as_micros() as u64);

    // One socket per unicast port, on the first participant id whose two ports are free.
    let (id, meta, user) = (0u16..10)
        .find_map(|id| {
            let bind = |p: u32| UdpSocket::bind((Ipv4Addr::LOCALHOST, p as u16)).ok();
            Some((
                id,
                bind(ports::metatraffic_unicast(0, id))?,
                bind(ports::user_unicast(0, id))?,
            ))
        })
        .expect("no free participant id");

    // A GUID prefix that is unique enough for an example: vendor 0x0000, then time and pid.
    let mut prefix = [0u8; 12];
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    prefix[2..10].copy_from_slice(&t.to_le_bytes());
    prefix[10..].copy_from_slice(&(std::process::id() as u16).to_le_bytes());
    let mut cfg = Config::new(GuidPrefix(prefix));
    cfg.participant_id = id;
    cfg.multicast = false;
    cfg.add_peer(Peer {
        address: [127, 0, 0, 1],
        port: None,
    });
    let mut engine = Engine::new(cfg, now()).expect("valid configuration");

    let topic = TopicSpec::new("blocking", "DDS::String");
    let reliable = Reliability::Reliable;
    let writer = publish.then(|| {
        let qos = WriterQos {
            reliability: reliable,
            ..WriterQos::default()
        };
        engine.create_writer(now(), &topic, &qos).expect("writer")
    });
    let reader = (!publish).then(|| {
        let qos = ReaderQos {
            reliability: reliable,
            history: History::KeepAll,
            ..ReaderQos::default()
        };
        engine.create_reader(now(), &topic, &qos).expect("reader")
    });

    // A thread per socket turns blocking receives into one queue the loop can wait on.
    let (post, inbox) = std::sync::mpsc::channel::<(Vec<u8>, Locator, Locator)>();
    for sock in [&meta, &user] {
        let (sock, post) = (sock.try_clone()?, post.clone());
        let dst = Locator::udpv4([127, 0, 0, 1], sock.local_addr()?.port());
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65_536];
            while let Ok((len, SocketAddr::V4(a))) = sock.recv_from(&mut buf) {
                let src = Locator::udpv4(a.ip().octets(), a.port());
                if post.send((buf[..len].to_vec(), src, dst)).is_err() {
                    break;
                }
            }
        });
    }
    let (mut tx, mut rx) = (vec![0u8; 1472], vec![0u8; 65_536]);
    let mut next_write = now();
    let mut n = 0u32;
    loop {
        // 1. Application work: write when due, take what arrived, read events.
        if let (Some(w), true) = (writer, now() >= next_write) {
            let text = format!("hello {n}\0");
            let mut payload = vec![0, 1, 0, 0];
            payload.extend_from_slice(&(text.len() as u32).to_le_bytes());
            payload.extend_from_slice(text.as_bytes());
            let ns = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            let _ = engine.write(now(), w, &payload, Time::from_nanos(ns as u64));
            n += 1;
            next_write = now() + pollen_engine::Span::from_secs(1);
        }
        if let Some(r) = reader {
            while let Ok(Some(info)) = engine.take(r, &mut rx) {
                let text = rx.get(8..info.len).unwrap_or_default();
                println!("{}", String::from_utf8_lossy(text).trim_end_matches('\0'));
            }
        }
        while let Some(ev) = engine.poll_event() {
            if let Event::Matched { remote, .. } = ev {
                eprintln!("matched {remote}");
            }
        }
        // 2. Send everything owed, from the metatraffic socket.
        while let Some(t) = engine.poll_transmit(now(), &mut tx) {
            let Destination::Udp(loc) = t.destination else {
                continue; // a TCP peer: this example speaks UDP only
            };
            if let Some((ip, port)) = loc.ipv4() {
                meta.send_to(&tx[..t.len], (Ipv4Addr::from(ip), port))?;
            }
        }
        // 3. Sleep until the engine's deadline (or the next write) or a datagram arrives.
        let mut wake = engine
            .poll_timeout()
            .unwrap_or(now() + pollen_engine::Span::from_secs(1));
        if writer.is_some() {
            wake = wake.min(next_write);
        }
        let wait = Duration::from_micros(wake.micros().saturating_sub(now().micros()));
        if let Ok(first) = inbox.recv_timeout(wait) {
            for (data, src, dst) in std::iter::once(first).chain(inbox.try_iter()) {
                engine.handle_datagram(now(), src, dst, &data);
            }
        }
        // 4. Timers.
        if engine.poll_timeout().is_some_and(|t| t <= now()) {
            engine.handle_timeout(now());
        }
    }
}
