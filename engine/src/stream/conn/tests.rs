//! The connection policy on the engine's clock: no socket, no sleeping; every instant is
//! chosen by the test.

use super::*;
use crate::stream::CycloneFraming;
use crate::wire::GuidPrefix;
use crate::Config;
use alloc::vec;

const MS: u64 = 1000;

fn at(ms: u64) -> Instant {
    Instant(ms * MS)
}

fn engine_with(stream: StreamConfig) -> Engine<'static> {
    let mut cfg = Config::new(GuidPrefix([1; 12]));
    cfg.multicast = false;
    cfg.tcp_port = Some(7410);
    cfg.stream = stream;
    Engine::new(cfg, Instant(0)).expect("valid config")
}

fn engine() -> Engine<'static> {
    engine_with(StreamConfig::DEFAULT)
}

/// A framed RTPS message of another participant, `body` bytes after the header.
fn frame(body: usize) -> Vec<u8> {
    let mut m = b"RTPS\x02\x03\x00\x00".to_vec();
    m.extend_from_slice(&[7; 12]);
    m.resize(20 + body + CycloneFraming::OVERHEAD, 0);
    let n = CycloneFraming::new()
        .frame(&mut m, 20 + body)
        .expect("frames");
    m.truncate(n);
    m
}

fn peer(last: u8, port: u16) -> Locator {
    Locator::tcpv4([127, 0, 0, last], port)
}

/// Drains every command; Sends are answered as `write` says (None: not answered).
fn drain(e: &mut Engine<'_>, now: Instant) -> Vec<Cmd> {
    let mut out = Vec::new();
    while let Some(c) = e.poll_stream_command(now) {
        out.push(match c {
            StreamCommand::Open { conn, remote } => Cmd::Open(conn, remote),
            StreamCommand::Send { conn, bytes } => Cmd::Send(conn, bytes.to_vec()),
            StreamCommand::Close { conn, reason } => Cmd::Close(conn, reason),
        });
        assert!(out.len() < 1000, "commands without end: {out:?}");
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Cmd {
    Open(StreamId, Locator),
    Send(StreamId, Vec<u8>),
    Close(StreamId, CloseReason),
}

/// Opens an outbound connection to `to` with `f` and completes it; the id.
fn connect(e: &mut Engine<'_>, now: Instant, to: Locator, f: &[u8]) -> StreamId {
    let StreamSend::Queued(id) = e.send_stream(now, to, f) else {
        panic!("not queued");
    };
    assert_eq!(drain(e, now), [Cmd::Open(id, to)]);
    e.handle_stream_connected(now, id);
    id
}

/// The table's byte count agrees with what its connections hold.
fn check_buffered(e: &Engine<'_>) {
    let held: usize = e.streams.slots.iter().flatten().map(Conn::held).sum();
    assert_eq!(e.streams.buffered, held);
    for c in e.streams.slots.iter().flatten() {
        assert!(c.rx.len() < e.framing.max_message, "{} held", c.rx.len());
    }
}

#[test]
fn inbound_limits_refuse_and_count() {
    let mut e = engine_with(StreamConfig {
        max_inbound: 3,
        max_inbound_per_source: 2,
        ..StreamConfig::DEFAULT
    });
    let a = e.handle_stream_accepted(at(0), peer(1, 5000)).unwrap();
    let b = e.handle_stream_accepted(at(0), peer(1, 5001)).unwrap();
    assert_ne!(a, b);
    assert_eq!(
        e.handle_stream_accepted(at(0), peer(1, 5002)),
        Err(Refused::PerSource)
    );
    let c = e.handle_stream_accepted(at(0), peer(2, 5000)).unwrap();
    assert_eq!(
        e.handle_stream_accepted(at(0), peer(3, 5000)),
        Err(Refused::Full)
    );
    assert_eq!(
        e.handle_stream_accepted(at(0), Locator::INVALID),
        Err(Refused::Address)
    );
    let s = *e.stats();
    assert_eq!(s.streams_accepted, 3);
    assert_eq!(s.streams_refused_per_source, 1);
    assert_eq!(s.streams_refused_full, 1);
    assert_eq!(s.streams_refused_address, 1);
    assert_eq!(s.dropped_total(), 3);
    assert_eq!(e.stream_usage().inbound, 3);
    // A slot freed is taken again under a new id; the old id is gone.
    e.handle_stream_closed(at(1), c);
    let d = e.handle_stream_accepted(at(1), peer(3, 5000)).unwrap();
    assert_eq!(d.slot(), c.slot());
    assert_ne!(d, c);
    e.handle_stream_data(at(1), c, &frame(8));
    assert_eq!(e.stats().stream_unknown, 1);
    assert_eq!(e.stats().stream_messages_in, 0);
    // Outbound connections do not take inbound room.
    connect(&mut e, at(1), peer(9, 7000), &frame(8));
    assert_eq!(e.stream_usage().inbound, 3);
    assert_eq!(e.stream_usage().outbound, 1);
}

#[test]
fn frames_wait_for_the_connection_then_go_as_the_socket_takes_them() {
    let mut e = engine();
    let to = peer(2, 7410);
    let f1 = frame(40);
    let StreamSend::Queued(id) = e.send_stream(at(0), to, &f1) else {
        panic!()
    };
    let f2 = frame(12);
    assert_eq!(e.send_stream(at(0), to, &f2), StreamSend::Queued(id));
    assert_eq!(e.stats().streams_opened, 1);
    assert_eq!(e.stats().stream_frames_queued, 2);
    // One Open, no Send before the connection completes.
    assert_eq!(drain(&mut e, at(0)), [Cmd::Open(id, to)]);
    assert_eq!(drain(&mut e, at(1)), []);
    e.handle_stream_connected(at(2), id);
    let both: Vec<u8> = [f1.clone(), f2.clone()].concat();
    assert_eq!(
        e.poll_stream_command(at(2)),
        Some(StreamCommand::Send {
            conn: id,
            bytes: &both
        })
    );
    // An unanswered Send is not offered again.
    assert_eq!(e.poll_stream_command(at(2)), None);
    e.handle_stream_written(at(2), id, 10);
    assert_eq!(drain(&mut e, at(2)), [Cmd::Send(id, both[10..].to_vec())]);
    // Full socket: nothing until it is writable.
    e.handle_stream_written(at(3), id, 0);
    assert_eq!(drain(&mut e, at(3)), []);
    e.handle_stream_writable(at(4), id);
    assert_eq!(drain(&mut e, at(4)), [Cmd::Send(id, both[10..].to_vec())]);
    // More than offered is clamped.
    e.handle_stream_written(at(4), id, usize::MAX);
    assert_eq!(drain(&mut e, at(4)), []);
    assert_eq!(e.stats().stream_bytes_out, both.len() as u64);
    assert_eq!(e.stream_unsent(), 0);
    check_buffered(&e);
}

#[test]
fn transmits_resolve_to_one_connection_per_locator() {
    let mut e = engine();
    let f = frame(8);
    // A peer connected to us from 127.0.0.2:7420 (its listening port, as Pollen's outbound
    // connections are not; an exact address is needed).
    let inbound = e.handle_stream_accepted(at(0), peer(2, 7420)).unwrap();
    assert_eq!(
        e.send_stream(at(0), peer(2, 7420), &f),
        StreamSend::Queued(inbound)
    );
    // Same host, another port: a connection of its own.
    let StreamSend::Queued(other) = e.send_stream(at(0), peer(2, 7422), &f) else {
        panic!()
    };
    assert_ne!(other, inbound);
    let _ = drain(&mut e, at(0));
    // A connection we opened is preferred over an inbound one from the same address.
    let ours = connect(&mut e, at(0), peer(3, 7410), &f);
    let theirs = e.handle_stream_accepted(at(0), peer(3, 7410)).unwrap();
    assert_ne!(ours, theirs);
    assert_eq!(
        e.send_stream(at(0), peer(3, 7410), &f),
        StreamSend::Queued(ours)
    );
    // Our own listener and non-TCP locators go nowhere.
    assert_eq!(e.send_stream(at(0), peer(1, 7410), &f), StreamSend::Dropped);
    assert_eq!(
        e.send_stream(at(0), Locator::tcpv4([127, 0, 0, 1], 7410), &f),
        StreamSend::Dropped
    );
    assert_eq!(
        e.send_stream(at(0), Locator::udpv4([127, 0, 0, 2], 7410), &f),
        StreamSend::Dropped
    );
    assert_eq!(e.stats().stream_dropped_unroutable, 3);
    assert_eq!(e.stream_remote(theirs), Some(peer(3, 7410)));
}

#[test]
fn outbound_limit_drops_and_counts() {
    let mut e = engine_with(StreamConfig {
        max_outbound: 2,
        ..StreamConfig::DEFAULT
    });
    let f = frame(8);
    assert!(matches!(
        e.send_stream(at(0), peer(2, 1), &f),
        StreamSend::Queued(_)
    ));
    assert!(matches!(
        e.send_stream(at(0), peer(3, 1), &f),
        StreamSend::Queued(_)
    ));
    assert_eq!(e.send_stream(at(0), peer(4, 1), &f), StreamSend::Dropped);
    assert_eq!(e.stats().stream_dropped_limit, 1);
    // Inbound connections do not count against it.
    let inbound = e.handle_stream_accepted(at(0), peer(5, 1)).unwrap();
    assert_eq!(
        e.send_stream(at(0), peer(5, 1), &f),
        StreamSend::Queued(inbound)
    );
    assert_eq!(e.stream_usage().outbound, 2);
}

#[test]
fn a_full_send_queue_blocks_until_bytes_are_written() {
    let mut e = engine_with(StreamConfig {
        max_send_buffer: 1000,
        ..StreamConfig::DEFAULT
    });
    let to = peer(2, 1);
    // An empty queue takes a frame larger than the bound.
    let big = frame(1500);
    let id = connect(&mut e, at(0), to, &big);
    assert_eq!(e.send_stream(at(0), to, &frame(8)), StreamSend::Blocked(id));
    assert_eq!(e.stats().stream_send_blocked, 1);
    let Some(StreamCommand::Send { bytes, .. }) = e.poll_stream_command(at(0)) else {
        panic!()
    };
    let n = bytes.len() - 500;
    e.handle_stream_written(at(1), id, n);
    // 500 left: 500 + 28 + 400 fits, another does not.
    assert_eq!(
        e.send_stream(at(1), to, &frame(400)),
        StreamSend::Queued(id)
    );
    assert_eq!(
        e.send_stream(at(1), to, &frame(400)),
        StreamSend::Blocked(id)
    );
    assert!(e.stream_usage().buffered <= 1000 + big.len());
    assert_eq!(e.stream_usage().peak_buffered, big.len());
    check_buffered(&e);
}

#[test]
fn backoff_doubles_from_min_to_max_and_resets_on_success() {
    let mut e = engine_with(StreamConfig {
        backoff_min: Span::from_millis(100),
        backoff_max: Span::from_millis(400),
        ..StreamConfig::DEFAULT
    });
    let to = peer(2, 7410);
    let f = frame(8);
    let mut t = 0;
    // Each failure at the instant of the attempt; the delays 100, 200, 400, 400.
    for delay in [100, 200, 400, 400] {
        let StreamSend::Queued(id) = e.send_stream(at(t), to, &f) else {
            panic!("not reopened at {t} ms")
        };
        assert!(matches!(drain(&mut e, at(t))[..], [Cmd::Open(..)]));
        e.handle_stream_failed(at(t), id);
        assert_eq!(
            e.send_stream(at(t + delay - 1), to, &f),
            StreamSend::Dropped,
            "{t}+{delay}"
        );
        t += delay;
    }
    let s = *e.stats();
    assert_eq!(s.stream_connect_failures, 4);
    assert_eq!(s.stream_dropped_backoff, 4);
    // A connection that completes clears it; when it then ends, only the minimum applies.
    let id = connect(&mut e, at(t), to, &f);
    e.handle_stream_closed(at(t), id);
    assert_eq!(e.send_stream(at(t + 99), to, &f), StreamSend::Dropped);
    assert!(matches!(
        e.send_stream(at(t + 100), to, &f),
        StreamSend::Queued(_)
    ));
    // Another address is not held back.
    assert!(matches!(
        e.send_stream(at(t), peer(3, 7410), &f),
        StreamSend::Queued(_)
    ));
}

#[test]
fn backoff_table_is_bounded() {
    let mut e = engine_with(StreamConfig {
        max_backoff_entries: 4,
        max_outbound: 64,
        ..StreamConfig::DEFAULT
    });
    let f = frame(8);
    for port in 1..=10u16 {
        let StreamSend::Queued(id) = e.send_stream(at(u64::from(port)), peer(2, port), &f) else {
            panic!()
        };
        let _ = drain(&mut e, at(u64::from(port)));
        e.handle_stream_failed(at(u64::from(port)), id);
        assert!(e.streams.backoff.len() <= 4);
    }
    // The latest failures are remembered.
    assert_eq!(e.send_stream(at(10), peer(2, 10), &f), StreamSend::Dropped);
}

#[test]
fn connect_timeout_closes_and_backs_off() {
    let mut e = engine();
    let to = peer(2, 7410);
    let StreamSend::Queued(id) = e.send_stream(at(0), to, &frame(8)) else {
        panic!()
    };
    let _ = drain(&mut e, at(10));
    // The timer runs from the Open command.
    assert!(e.poll_timeout().is_some_and(|t| t <= at(5010)));
    assert_eq!(e.stream_deadline(), Some(at(5010)));
    e.handle_timeout(at(5009));
    assert_eq!(drain(&mut e, at(5009)), []);
    e.handle_timeout(at(5010));
    assert_eq!(
        drain(&mut e, at(5010)),
        [Cmd::Close(id, CloseReason::ConnectTimeout)]
    );
    let s = *e.stats();
    assert_eq!(
        (s.stream_connect_timeouts, s.stream_connect_failures),
        (1, 1)
    );
    assert_eq!(s.stream_bytes_dropped, frame(8).len() as u64);
    assert_eq!(e.send_stream(at(5010), to, &frame(8)), StreamSend::Dropped);
    // Reports for the id closed are ignored.
    e.handle_stream_connected(at(5011), id);
    e.handle_stream_closed(at(5011), id);
    assert_eq!(e.stats().streams_closed, 2);
    assert_eq!(e.stream_deadline(), None);
}

#[test]
fn idle_timeout_counts_traffic_either_way() {
    let mut e = engine_with(StreamConfig {
        idle_timeout: Span::from_secs(1),
        ..StreamConfig::DEFAULT
    });
    let id = e.handle_stream_accepted(at(0), peer(2, 1)).unwrap();
    e.handle_stream_data(at(900), id, &frame(8));
    assert_eq!(e.stream_deadline(), Some(at(1900)));
    // Writing keeps it alive too.
    assert_eq!(
        e.send_stream(at(1800), peer(2, 1), &frame(8)),
        StreamSend::Queued(id)
    );
    let _ = drain(&mut e, at(1800));
    e.handle_stream_written(at(1800), id, frame(8).len());
    e.handle_timeout(at(2799));
    assert_eq!(drain(&mut e, at(2799)), []);
    e.handle_timeout(at(2800));
    assert_eq!(
        drain(&mut e, at(2800)),
        [Cmd::Close(id, CloseReason::IdleTimeout)]
    );
    assert_eq!(e.stats().stream_idle_timeouts, 1);
    // Inbound connections leave no back-off.
    assert!(matches!(
        e.send_stream(at(2800), peer(2, 1), &frame(8)),
        StreamSend::Queued(_)
    ));
}

#[test]
fn write_timeout_closes_a_peer_that_stopped_reading() {
    let mut e = engine_with(StreamConfig {
        write_timeout: Span::from_secs(2),
        ..StreamConfig::DEFAULT
    });
    let to = peer(2, 1);
    let f = frame(100);
    let id = connect(&mut e, at(0), to, &f);
    let _ = drain(&mut e, at(0));
    e.handle_stream_written(at(1000), id, 50);
    // Progress moved the timer: due 2 s after the last write, not after the first byte queued.
    assert_eq!(e.stream_deadline(), Some(at(3000)));
    let _ = drain(&mut e, at(1000));
    e.handle_stream_written(at(1000), id, 0);
    // Bytes received do not help a stuck writer.
    e.handle_stream_data(at(2500), id, &frame(8));
    e.handle_timeout(at(3000));
    assert_eq!(
        drain(&mut e, at(3000)),
        [Cmd::Close(id, CloseReason::WriteTimeout)]
    );
    let s = *e.stats();
    assert_eq!(s.stream_write_timeouts, 1);
    assert_eq!(s.stream_bytes_dropped, (f.len() - 50) as u64);
    // The address is in back-off (a first failure: the minimum, 100 ms).
    assert_eq!(e.send_stream(at(3099), to, &f), StreamSend::Dropped);
    assert!(matches!(
        e.send_stream(at(3100), to, &f),
        StreamSend::Queued(_)
    ));
    check_buffered(&e);
}

#[test]
fn slowloris_is_closed_by_the_frame_deadline_not_the_idle_timer() {
    let mut e = engine_with(StreamConfig {
        frame_timeout: Span::from_secs(1),
        idle_timeout: Span::from_secs(30),
        ..StreamConfig::DEFAULT
    });
    let slow = e.handle_stream_accepted(at(0), peer(2, 1)).unwrap();
    let quiet = e.handle_stream_accepted(at(0), peer(3, 1)).unwrap();
    // A whole frame, then silence: only the idle timer.
    e.handle_stream_data(at(0), quiet, &frame(8));
    // A frame announced, a byte every 100 ms from 500 ms on.
    let f = frame(60_000);
    for (k, b) in f.iter().take(20).enumerate() {
        let t = 500 + 100 * k as u64;
        e.handle_timeout(at(t));
        assert_eq!(drain(&mut e, at(t)), [], "{t} ms");
        e.handle_stream_data(at(t), slow, &[*b]);
        if t >= 1400 {
            break;
        }
    }
    e.handle_timeout(at(1499));
    assert_eq!(drain(&mut e, at(1499)), []);
    e.handle_timeout(at(1500));
    assert_eq!(
        drain(&mut e, at(1500)),
        [Cmd::Close(slow, CloseReason::FrameTimeout)]
    );
    let s = *e.stats();
    assert_eq!((s.stream_frame_timeouts, s.stream_idle_timeouts), (1, 0));
    assert_eq!(s.dropped_total(), 1);
    assert_eq!(e.stream_usage().inbound, 1);
    assert_eq!(e.stream_deadline(), Some(at(30_000)));
}

#[test]
fn the_frame_timer_restarts_with_each_frame() {
    let mut e = engine_with(StreamConfig {
        frame_timeout: Span::from_secs(1),
        ..StreamConfig::DEFAULT
    });
    let id = e.handle_stream_accepted(at(0), peer(2, 1)).unwrap();
    // Each read completes one frame and starts the next: a steady stream, never too slow.
    let f = frame(100);
    let two = [f.clone(), f.clone()].concat();
    e.handle_stream_data(at(0), id, &f[..60]);
    for k in 1..10u64 {
        e.handle_stream_data(at(900 * k), id, &two[60..60 + f.len()]);
        e.handle_timeout(at(900 * k + 1));
        assert_eq!(drain(&mut e, at(900 * k + 1)), [], "{k}");
    }
    assert_eq!(e.stats().stream_messages_in, 9);
}

#[test]
fn frames_split_anywhere_are_each_handled_once() {
    let mut e = engine();
    let id = e.handle_stream_accepted(at(0), peer(2, 1)).unwrap();
    let f = frame(300);
    let stream: Vec<u8> = [f.clone(), frame(4), f.clone()].concat();
    let mut want = 0;
    for cut in 0..stream.len() {
        for piece in [&stream[..cut], &stream[cut..]] {
            e.handle_stream_data(at(1), id, piece);
            check_buffered(&e);
        }
        want += 3;
        assert_eq!(e.stats().stream_messages_in, want, "cut at {cut}");
        assert_eq!(e.stream_usage().buffered, 0);
    }
    // Byte by byte.
    for b in &stream {
        e.handle_stream_data(at(2), id, core::slice::from_ref(b));
    }
    assert_eq!(e.stats().stream_messages_in, want + 3);
    assert_eq!(e.stats().dropped_bad_stream, 0);
}

#[test]
fn at_most_one_partial_frame_is_held() {
    let mut e = engine();
    let id = e.handle_stream_accepted(at(0), peer(2, 1)).unwrap();
    let f = frame(60_000);
    // One frame and a half in one read: the half is held.
    let data: Vec<u8> = [f.clone(), f[..30_000].to_vec()].concat();
    e.handle_stream_data(at(0), id, &data);
    assert_eq!(e.stream_usage().buffered, 30_000);
    // The rest of it and two whole frames and a bit in one read: the top-up takes only what
    // completes the held frame, the whole frames go straight through.
    let data: Vec<u8> = [&f[30_000..], &f[..], &f[..], &f[..5]].concat();
    e.handle_stream_data(at(1), id, &data);
    assert_eq!(e.stats().stream_messages_in, 4);
    assert_eq!(e.stream_usage().buffered, 5);
    assert!(e.stream_usage().peak_buffered <= f.len());
    check_buffered(&e);
}

#[test]
fn a_stream_that_is_not_rtps_is_closed() {
    let mut e = engine();
    let id = e.handle_stream_accepted(at(0), peer(2, 1)).unwrap();
    e.handle_stream_data(at(0), id, &frame(8)[..10]);
    e.handle_stream_data(at(0), id, b"GET / HTTP/1.1\r\n\r\n");
    assert!(matches!(
        e.poll_event(),
        Some(Event::StreamError { conn, .. }) if conn == id
    ));
    assert_eq!(
        drain(&mut e, at(0)),
        [Cmd::Close(id, CloseReason::BadFrame)]
    );
    assert_eq!(e.stats().dropped_bad_stream, 1);
    assert_eq!(
        (e.stream_usage().inbound, e.stream_usage().buffered),
        (0, 0)
    );
    // An announced length over the maximum, straight from an empty buffer.
    let id = e.handle_stream_accepted(at(0), peer(2, 1)).unwrap();
    let mut bad = frame(8);
    bad[24..28].copy_from_slice(&u32::MAX.to_le_bytes());
    e.handle_stream_data(at(0), id, &bad);
    assert_eq!(
        drain(&mut e, at(0)),
        [Cmd::Close(id, CloseReason::BadFrame)]
    );
    assert_eq!(e.stats().dropped_bad_stream, 2);
}

#[test]
fn the_peer_closing_frees_the_slot_without_a_command() {
    let mut e = engine_with(StreamConfig {
        max_inbound: 1,
        ..StreamConfig::DEFAULT
    });
    let to = peer(2, 1);
    let id = connect(&mut e, at(0), to, &frame(50));
    e.handle_stream_closed(at(1), id);
    assert_eq!(drain(&mut e, at(1)), []);
    assert_eq!(e.stats().stream_bytes_dropped, frame(50).len() as u64);
    assert_eq!(e.stats().streams_closed, 1);
    let a = e.handle_stream_accepted(at(1), to).unwrap();
    e.handle_stream_failed(at(2), a);
    assert_eq!(e.stats().stream_failures, 1);
    assert!(e.handle_stream_accepted(at(2), to).is_ok());
    check_buffered(&e);
}

#[test]
fn ids_never_given_or_gone_are_counted_not_trusted() {
    let mut e = engine();
    for raw in [0, 1, 0xffff, 0x1_0000, u32::MAX] {
        let id = StreamId(raw);
        e.handle_stream_connected(at(0), id);
        e.handle_stream_data(at(0), id, &frame(8));
        e.handle_stream_written(at(0), id, 5);
        e.handle_stream_writable(at(0), id);
    }
    assert_eq!(e.stats().stream_unknown, 20);
    assert_eq!(e.stats().stream_messages_in, 0);
    // A driver numbering its own connections (the raw entry) still counts its closes.
    e.handle_stream_closed(at(0), StreamId(3));
    e.handle_stream_failed(at(0), StreamId(4));
    assert_eq!(e.stats().streams_closed, 2);
    assert_eq!(drain(&mut e, at(0)), []);
}

#[test]
fn a_zero_timeout_or_too_many_slots_is_refused() {
    let mut cfg = Config::new(GuidPrefix([1; 12]));
    cfg.stream.idle_timeout = Span(0);
    assert!(Engine::new(cfg.clone(), Instant(0)).is_err());
    cfg.stream = StreamConfig {
        max_inbound: 0xffff,
        max_outbound: 1,
        ..StreamConfig::DEFAULT
    };
    assert!(Engine::new(cfg, Instant(0)).is_err());
}

/// Any sequence of driver reports and transmits, at any instants: no panic, the limits and
/// the byte count hold, every command names a live connection.
#[test]
fn any_driver_behaviour_keeps_the_table_sound() {
    fn run(ops: Vec<(u8, u8, u16)>) -> bool {
        let cfg = StreamConfig {
            max_inbound: 3,
            max_outbound: 2,
            max_inbound_per_source: 2,
            max_send_buffer: 300,
            idle_timeout: Span::from_millis(50),
            write_timeout: Span::from_millis(30),
            connect_timeout: Span::from_millis(20),
            frame_timeout: Span::from_millis(10),
            backoff_min: Span::from_millis(5),
            backoff_max: Span::from_millis(40),
            max_backoff_entries: 3,
        };
        let mut e = engine_with(cfg);
        let frames = [frame(8), frame(120), frame(400)];
        let stream: Vec<u8> = frames.concat();
        let mut t = 0u64;
        let mut ids: Vec<StreamId> = vec![StreamId(0)];
        for (op, a, b) in ops {
            t += u64::from(b % 16) * MS / 2;
            let now = Instant(t);
            let id = ids[usize::from(a) % ids.len()];
            let remote = peer(1 + a % 3, 1 + b % 3);
            match op % 10 {
                0 => {
                    if let Ok(id) = e.handle_stream_accepted(now, remote) {
                        ids.push(id);
                    }
                }
                1 => {
                    if let StreamSend::Queued(id) | StreamSend::Blocked(id) =
                        e.send_stream(now, remote, &frames[usize::from(b) % 3])
                    {
                        ids.push(id);
                    }
                }
                2 => e.handle_stream_connected(now, id),
                3 => {
                    let from = usize::from(b) % stream.len();
                    let to = (from + usize::from(a)).min(stream.len());
                    e.handle_stream_data(now, id, &stream[from..to]);
                }
                4 => e.handle_stream_written(now, id, usize::from(b) % 200),
                5 => e.handle_stream_writable(now, id),
                6 => e.handle_stream_closed(now, id),
                7 => e.handle_stream_failed(now, id),
                _ => e.handle_timeout(now),
            }
            while let Some(c) = e.poll_stream_command(now) {
                let (conn, close, send) = match c {
                    StreamCommand::Open { conn, .. } => (conn, false, false),
                    StreamCommand::Send { conn, .. } => (conn, false, true),
                    StreamCommand::Close { conn, .. } => (conn, true, false),
                };
                if e.streams.find(conn).is_some() == close {
                    return false;
                }
                if send {
                    e.handle_stream_written(now, conn, usize::from(a));
                }
            }
            while e.poll_event().is_some() {}
            check_buffered(&e);
            let u = e.stream_usage();
            if u.inbound > 3 || u.outbound > 2 {
                return false;
            }
            for c in e.streams.slots.iter().flatten() {
                if c.unsent() > 300 + 428 {
                    return false;
                }
            }
            if e.streams.backoff.len() > 3 {
                return false;
            }
            if let Some(d) = e.stream_deadline() {
                // Timers run when due: nothing is left overdue after handle_timeout.
                if d < now && op % 10 > 7 {
                    return false;
                }
            }
        }
        true
    }
    quickcheck::QuickCheck::new()
        .tests(300)
        .quickcheck(run as fn(Vec<(u8, u8, u16)>) -> bool);
}
