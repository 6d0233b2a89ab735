//! The `Driver` inside somebody else's mio loop: two participants registered in one `Poll`
//! with their own token ranges, a reliable writer and reader, loopback only.

use mio::{Events, Poll, Token};
use pollen_engine::{Durability, History};
use pollen_engine::{Event, Peer, ReaderQos, Reliability, TopicSpec, WriterQos};
use pollen_mio::{Clock, Driver, Options};
use std::time::{Duration, Instant};

/// A domain of its own (the tool's tests, `tool/tests/common`, use slots 0-19 of the same
/// scheme), so that parallel tests and repeated runs do not hear each other.
fn domain(slot: u32) -> u32 {
    20 + (std::process::id() % 10) * 20 + slot
}

fn options(domain: u32) -> Options {
    Options {
        domain_id: domain,
        multicast: false,
        peers: vec![Peer {
            address: [127, 0, 0, 1],
            port: None,
        }],
        ..Options::default()
    }
}

#[test]
fn two_drivers_in_one_foreign_poll() {
    let domain = domain(16);
    let (mut a, mut ea) = Driver::new(options(domain)).expect("driver a");
    let (mut b, mut eb) = Driver::new(options(domain)).expect("driver b");
    assert_ne!(a.participant_id(), b.participant_id());
    assert_eq!(a.interface(), std::net::Ipv4Addr::LOCALHOST);

    let mut poll = Poll::new().unwrap();
    // The application owns tokens 0..10; the drivers get ranges after it.
    let (a_first, b_first) = (Token(10), Token(10 + a.token_count()));
    a.register(poll.registry(), a_first).unwrap();
    b.register(poll.registry(), b_first).unwrap();

    let topic = TopicSpec::new("driver/test", "DDS::String");
    let wq = WriterQos {
        reliability: Reliability::Reliable,
        durability: Durability::Volatile,
        history: History::KeepAll,
        ..WriterQos::default()
    };
    let rq = ReaderQos {
        reliability: Reliability::Reliable,
        history: History::KeepAll,
        ..ReaderQos::default()
    };
    let now = a.now();
    let w = ea.create_writer(now, &topic, &wq).unwrap();
    let now = b.now();
    let r = eb.create_reader(now, &topic, &rq).unwrap();
    a.flush(&mut ea).unwrap();
    b.flush(&mut eb).unwrap();

    const N: u32 = 300;
    let mut written = 0u32;
    let mut got = Vec::new();
    let mut events = Events::with_capacity(16);
    let end = Instant::now() + Duration::from_secs(20);
    let mut buf = [0u8; 256];
    while got.len() < N as usize {
        assert!(
            Instant::now() < end,
            "timed out: {written} written, {} taken",
            got.len()
        );
        if ea.matched_readers(w) > 0 {
            while written < N {
                let mut payload = vec![0, 1, 0, 0];
                payload.extend_from_slice(&written.to_le_bytes());
                let now = a.now();
                match ea.write(now, w, &payload, Clock::wall_time()) {
                    Ok(_) => written += 1,
                    Err(_) => break, // history full: wait for acknowledgements
                }
            }
        }
        a.flush(&mut ea).unwrap();
        while let Some(info) = eb.take(r, &mut buf).unwrap() {
            got.push(u32::from_le_bytes(buf[4..8].try_into().unwrap()));
            assert_eq!(info.len, 8);
        }
        b.flush(&mut eb).unwrap();
        while eb.poll_event().is_some() {}
        while let Some(e) = ea.poll_event() {
            if let Event::IncompatibleQos { .. } = e {
                panic!("{e:?}");
            }
        }
        let deadline = [a.next_deadline(&ea), b.next_deadline(&eb)]
            .into_iter()
            .flatten()
            .min();
        let timeout = deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
            .unwrap_or(Duration::from_millis(100))
            .min(Duration::from_millis(100));
        poll.poll(&mut events, Some(timeout)).unwrap();
        // One wake-up: the clock once, every event, the timers; the application (above, at
        // the top of the loop) then answers before the flush.
        a.tick();
        b.tick();
        for ev in events.iter() {
            let mine = a.handle_ready(&mut ea, ev.token()) || b.handle_ready(&mut eb, ev.token());
            assert!(mine, "token {:?} belongs to neither driver", ev.token());
        }
        a.handle_timeout(&mut ea);
        b.handle_timeout(&mut eb);
    }
    // The own poll is gone once the sockets live in a foreign one.
    assert!(a.poll(&mut ea, Some(Duration::ZERO)).is_err());
    assert!(a.waker().is_err());
    assert_eq!(got, (0..N).collect::<Vec<_>>());
    assert_eq!(a.stats().refused_off_loopback, 0);
    assert_eq!(a.stats().send_errors, 0, "{:?}", a.stats());
    a.shutdown(&mut ea, Duration::from_millis(50)).unwrap();
    b.shutdown(&mut eb, Duration::from_millis(50)).unwrap();
}

#[test]
fn fixed_participant_id_in_use_is_refused() {
    let domain = domain(17);
    let a = Driver::new(Options {
        participant_id: Some(40),
        ..options(domain)
    })
    .expect("first");
    let err = Driver::new(Options {
        participant_id: Some(40),
        ..options(domain)
    })
    .expect_err("the ports are taken");
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    drop(a);
}

/// The ping/pong loop of `pollen pong` in miniature, on [`Driver::run`]: after its warm-up,
/// the ponger sends one datagram per pong (the ACKNACK for the ping rides in the pong's
/// datagram, because `poll` lets the application answer before it flushes). Counted in datagrams,
/// with room for the periodic discovery traffic of the window.
#[test]
fn run_sends_one_datagram_per_pong() {
    one_datagram_per_pong(16, None);
}

/// The same with busy polling on both sides: the spin returns as soon as the socket is
/// readable, and what follows (read, answer, flush) is the same wake-up.
#[test]
fn run_sends_one_datagram_per_pong_busy_polling() {
    one_datagram_per_pong(17, Some(Duration::from_micros(200)));
}

fn one_datagram_per_pong(slot: u32, busy_poll: Option<Duration>) {
    use std::ops::ControlFlow;
    const WARM: u64 = 50;
    const N: u64 = 400;
    let domain = domain(slot);
    let options = move |domain| Options {
        busy_poll,
        ..options(domain)
    };
    let wq = WriterQos {
        reliability: Reliability::Reliable,
        durability: Durability::Volatile,
        history: History::KeepAll,
        ..WriterQos::default()
    };
    let rq = ReaderQos {
        reliability: Reliability::Reliable,
        history: History::KeepAll,
        ..ReaderQos::default()
    };
    let (ping, pong) = (
        TopicSpec::new("driver/hop/ping", "T"),
        TopicSpec::new("driver/hop/pong", "T"),
    );
    let started = Instant::now();
    let ponger = {
        std::thread::spawn(move || {
            let (mut driver, mut engine) = Driver::new(options(domain)).unwrap();
            let now = driver.now();
            let r = engine.create_reader(now, &ping, &rq).unwrap();
            let w = engine.create_writer(now, &pong, &wq).unwrap();
            let (mut pongs, mut sent_at_warm) = (0u64, 0u64);
            let mut buf = [0u8; 64];
            driver
                .run(&mut engine, |d, e| {
                    while e.poll_event().is_some() {}
                    while let Some(info) = e.take(r, &mut buf).unwrap() {
                        e.write(d.now(), w, &buf[..info.len], Clock::wall_time())
                            .unwrap();
                        pongs += 1;
                        if pongs == WARM {
                            sent_at_warm = d.stats().datagrams_sent;
                        }
                    }
                    if pongs >= N || started.elapsed() > Duration::from_secs(30) {
                        // Counted after the last pong went out (`run` flushes on Break).
                        ControlFlow::Break(())
                    } else {
                        ControlFlow::Continue(Some(d.wake_time() + Duration::from_millis(100)))
                    }
                })
                .unwrap();
            assert_eq!(engine.stats().time_went_backwards, 0);
            // A ping comes back within microseconds of the pong: with busy polling the spin,
            // not a sleep, must have caught some of them; without it, none.
            let hits = driver.stats().busy_poll_hits;
            match busy_poll {
                Some(_) => assert!(hits > 0, "no wake-up came from the spin"),
                None => assert_eq!(hits, 0),
            }
            (pongs, sent_at_warm, driver.stats().datagrams_sent)
        })
    };
    let (mut driver, mut engine) = Driver::new(options(domain)).unwrap();
    let now = driver.now();
    let w = engine.create_writer(now, &ping, &wq).unwrap();
    let r = engine.create_reader(now, &pong, &rq).unwrap();
    let (mut pinged, mut answered) = (0u64, 0u64);
    let mut buf = [0u8; 64];
    driver
        .run(&mut engine, |d, e| {
            while e.poll_event().is_some() {}
            while e.take(r, &mut buf).unwrap().is_some() {
                answered += 1;
            }
            let ready = e.matched_readers(w) > 0 && e.matched_writers(r) > 0;
            if ready && answered == pinged && pinged < N {
                let payload = [0, 1, 0, 0, pinged as u8, 0, 0, 0];
                e.write(d.now(), w, &payload, Clock::wall_time()).unwrap();
                pinged += 1;
            }
            if answered >= N || started.elapsed() > Duration::from_secs(30) {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(Some(d.wake_time() + Duration::from_millis(100)))
            }
        })
        .unwrap();
    let (pongs, at_warm, at_end) = ponger.join().unwrap();
    assert_eq!((pongs, answered), (N, N), "every ping answered");
    let per_pong = (at_end - at_warm) as f64 / (N - WARM) as f64;
    // Two datagrams per pong before (the ACKNACK went out alone, before the pong).
    assert!(
        at_end - at_warm <= (N - WARM) + (N - WARM) / 4 + 20,
        "{per_pong:.2} datagrams per pong"
    );
}
