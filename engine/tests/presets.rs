//! Two engines in caller-provided storage (no allocator involved in the engine), under every
//! capacity preset: they discover each other and move reliable samples exactly once and in
//! order through a lossy exchange. Under `MICRO` this is the configuration of a bare-metal
//! device. (Caller storage is made with `Storage::leaked`, hence the `alloc` feature.)
#![cfg(feature = "alloc")]

use pollen_engine::wire::{GuidPrefix, Locator, Time};
use pollen_engine::{
    Capacities, Config, CreateError, Destination, Durability, Engine, History, Instant, Peer,
    ReaderQos, Reliability, Storage, TopicSpec, WriterQos,
};

/// Runs of exactly the lengths `StorageSizes::of` asks for (leaked: the test's engines live
/// to its end).
fn storage(c: &Capacities) -> Storage<'static> {
    Storage::leaked(c)
}

fn engine(c: &Capacities, i: u8) -> Engine<'static> {
    let mut cfg = Config::new(GuidPrefix([i; 12]));
    cfg.capacities = *c;
    cfg.multicast = false;
    cfg.participant_id = i as u16;
    cfg.add_peer(Peer {
        address: [127, 0, 0, 1],
        port: None,
    });
    Engine::with_storage(cfg, storage(c), Instant(0)).expect("storage of the right size")
}

/// Moves every datagram of `from` to `to`, dropping every `lose`-th one (0: none).
fn pump(
    from: &mut Engine<'static>,
    to: &mut Engine<'static>,
    now: Instant,
    n: &mut u64,
    lose: u64,
) {
    let mut buf = vec![0u8; 65536];
    while let Some(t) = from.poll_transmit(now, &mut buf) {
        *n += 1;
        if lose > 0 && *n % lose == 0 {
            continue;
        }
        let Destination::Udp(dst) = t.destination else {
            continue;
        };
        to.handle_datagram(
            now,
            Locator::udpv4([127, 0, 0, 1], 7410),
            dst,
            &buf[..t.len],
        );
    }
    while from.poll_event().is_some() {}
}

/// Handles the timeouts due at `now` on both engines, then moves every datagram both ways,
/// dropping every `lose`-th one (0: none).
fn step(a: &mut Engine<'static>, b: &mut Engine<'static>, now: Instant, n: &mut u64, lose: u64) {
    for e in [&mut *a, &mut *b] {
        if e.poll_timeout().is_some_and(|t| t <= now) {
            e.handle_timeout(now);
        }
    }
    pump(a, b, now, n, lose);
    pump(b, a, now, n, lose);
}

/// `steps` steps of 10 ms from `now`; returns the time reached.
fn run(
    a: &mut Engine<'static>,
    b: &mut Engine<'static>,
    mut now: Instant,
    steps: usize,
) -> Instant {
    let mut n = 0;
    for _ in 0..steps {
        now = Instant(now.0 + 10_000);
        step(a, b, now, &mut n, 0);
    }
    now
}

fn exchange(c: Capacities) {
    let mut a = engine(&c, 1);
    let mut b = engine(&c, 2);
    let topic = TopicSpec::new("presets", "T");
    let wq = WriterQos {
        reliability: Reliability::Reliable,
        durability: Durability::Volatile,
        history: History::KeepAll,
        max_samples: c.history as u16,
        ..WriterQos::default()
    };
    let rq = ReaderQos {
        reliability: Reliability::Reliable,
        history: History::KeepAll,
        max_samples: c.reader_samples as u16,
        ..ReaderQos::default()
    };
    let w = a.create_writer(Instant(0), &topic, &wq).unwrap();
    let r = b.create_reader(Instant(0), &topic, &rq).unwrap();
    let mut now = Instant(0);
    let mut sent = 0u64;
    let mut got = Vec::new();
    let mut written = 0u32;
    let mut buf = vec![0u8; 64];
    for _ in 0..20_000 {
        now = Instant(now.0 + 5_000);
        if a.ready_readers(w) == 1 && written < 200 {
            let mut payload = [0u8; 8];
            payload[..4].copy_from_slice(&[0, 1, 0, 0]);
            payload[4..].copy_from_slice(&written.to_le_bytes());
            if a.write(now, w, &payload, Time::ZERO).is_ok() {
                written += 1;
            }
        }
        step(&mut a, &mut b, now, &mut sent, 7);
        while let Some(s) = b.take(r, &mut buf).unwrap() {
            assert_eq!(s.len, 8);
            got.push(u32::from_le_bytes(buf[4..8].try_into().unwrap()));
        }
        if got.len() == 200 {
            break;
        }
    }
    assert_eq!(got, (0..200).collect::<Vec<_>>(), "{c:?}");
}

#[test]
fn micro_in_caller_storage() {
    exchange(Capacities::MICRO);
}

#[test]
fn host_in_caller_storage() {
    exchange(Capacities::HOST);
}

#[test]
fn short_storage_is_refused() {
    let c = Capacities::MICRO;
    let mut s = storage(&c);
    s.history = &mut [];
    let mut cfg = Config::new(GuidPrefix([3; 12]));
    cfg.capacities = c;
    let e = Engine::with_storage(cfg, s, Instant(0));
    assert!(
        matches!(
            e,
            Err(pollen_engine::ConfigError::Capacity(
                pollen_engine::CapacityError::Storage("history")
            ))
        ),
        "{:?}",
        e.err()
    );
}

/// One HEARTBEAT to every reader (reader id UNKNOWN, as Cyclone sends them) of a writer matched
/// with twenty local readers is answered by twenty ACKNACKs (only sixteen were queued: the
/// others never asked for repairs).
#[test]
fn heartbeat_to_many_readers_is_answered_by_all() {
    use pollen_engine::wire::{
        Count, EntityId, HeaderRepr, HeartbeatRepr, MessageBuilder, SequenceNumber, SubmessageRepr,
    };
    let c = Capacities {
        readers: 24,
        writers: 1,
        matches: 500,
        participants: 4,
        remote_endpoints: 40,
        // Twenty SEDP announcements of about 200 B each live in the pool.
        pool_blocks: 128,
        ..Capacities::MICRO
    };
    let mut a = engine(&c, 1);
    let mut b = engine(&c, 2);
    let topic = TopicSpec::new("many", "T");
    let rq = ReaderQos {
        reliability: Reliability::Reliable,
        ..ReaderQos::default()
    };
    let w = a
        .create_writer(Instant(0), &topic, &WriterQos::default())
        .unwrap();
    let readers: Vec<_> = (0..20)
        .map(|_| b.create_reader(Instant(0), &topic, &rq).unwrap())
        .collect();
    let now = run(&mut a, &mut b, Instant(0), 200);
    assert_eq!(a.matched_readers(w), 20);
    for r in &readers {
        assert_eq!(b.matched_writers(*r), 1);
    }
    let mut buf = vec![0u8; 1500];
    let mut m = MessageBuilder::new(&mut buf, &HeaderRepr::new(GuidPrefix([1; 12]))).unwrap();
    m.push(&SubmessageRepr::Heartbeat(HeartbeatRepr {
        final_flag: false,
        liveliness_flag: false,
        reader_id: EntityId::UNKNOWN,
        writer_id: a.writer_guid(w).unwrap().entity,
        first_sn: SequenceNumber(1),
        last_sn: SequenceNumber(3),
        count: Count(100_000),
    }))
    .unwrap();
    let len = m.finish();
    let src = Locator::udpv4([127, 0, 0, 1], 7410);
    b.handle_datagram(now, src, Locator::udpv4([127, 0, 0, 1], 7411), &buf[..len]);
    let mut out = vec![0u8; 65536];
    let mut acks = 0;
    while let Some(t) = b.poll_transmit(now, &mut out) {
        let msg = pollen_engine::wire::Message::parse(&out[..t.len]).unwrap();
        for s in msg.submessages() {
            if let Ok(SubmessageRepr::AckNack(_)) = s.unwrap().parse() {
                acks += 1;
            }
        }
    }
    assert_eq!(acks, 20, "ACKNACKs answering one HEARTBEAT to 20 readers");
}

/// In caller storage, endpoints deleted and created again reuse their slot's runs: a reader
/// created after one was deleted works, and so does a writer (the second one could not match:
/// the first had used up the proxies, which were never given back).
#[test]
fn deleted_endpoints_give_their_storage_back() {
    let c = Capacities::MICRO;
    let mut a = engine(&c, 1);
    let mut b = engine(&c, 2);
    let topic = TopicSpec::new("again", "T");
    for _ in 0..5 {
        let w = a
            .create_writer(Instant(0), &topic, &WriterQos::default())
            .unwrap();
        assert!(a.delete_writer(Instant(0), w));
        let r = b
            .create_reader(Instant(0), &topic, &ReaderQos::default())
            .unwrap();
        assert!(b.delete_reader(Instant(0), r));
    }
    let w = a
        .create_writer(Instant(0), &topic, &WriterQos::default())
        .unwrap();
    let r = b
        .create_reader(Instant(0), &topic, &ReaderQos::default())
        .unwrap();
    run(&mut a, &mut b, Instant(0), 300);
    assert_eq!(a.matched_readers(w), 1);
    assert_eq!(b.matched_writers(r), 1);
}

/// Every local writer deleted and replaced before the remote side hears of it: each
/// withdrawal waits in the SEDP history beside the new announcements until it is acknowledged
/// (the room for withdrawals is as large as the table up to 8, see `sedp_history`), so the
/// remote reader ends up matched with the new writers only. Were the room one short, a new
/// announcement would push out the oldest withdrawal, and the remote reader would keep the
/// deleted writer matched.
#[test]
fn every_writer_replaced_at_once_is_withdrawn() {
    for writers in [1, 2] {
        let c = Capacities {
            writers,
            remote_endpoints: 8,
            matches: 8,
            ..Capacities::MICRO
        };
        let mut a = engine(&c, 1);
        let mut b = engine(&c, 2);
        let topic = TopicSpec::new("replaced", "T");
        let wq = WriterQos::default();
        let r = b
            .create_reader(Instant(0), &topic, &ReaderQos::default())
            .unwrap();
        let old: Vec<_> = (0..writers)
            .map(|_| a.create_writer(Instant(0), &topic, &wq).unwrap())
            .collect();
        let now = run(&mut a, &mut b, Instant(0), 300);
        assert_eq!(b.matched_writers(r), writers);
        for w in old {
            assert!(a.delete_writer(now, w));
        }
        for _ in 0..writers {
            a.create_writer(now, &topic, &wq).unwrap();
        }
        run(&mut a, &mut b, now, 300);
        assert_eq!(b.matched_writers(r), writers, "{writers} writers replaced");
    }
}

/// A local endpoint's SEDP announcement is serialized in the `discovery_data` scratch buffer:
/// one that does not fit is refused (and nothing is left behind), one that fits is announced
/// and matched, and the buffer's use for announcements does not spoil what it holds for
/// received ones (both sides create endpoints while discovery runs).
#[test]
fn announcements_are_bounded_by_discovery_data() {
    let small = Capacities {
        discovery_data: 64,
        ..Capacities::MICRO
    };
    let mut e = engine(&small, 1);
    let topic = TopicSpec::new("bounded", "T");
    assert_eq!(
        e.create_writer(Instant(0), &topic, &WriterQos::default()),
        Err(CreateError::NoAnnouncementSpace)
    );
    assert_eq!(
        e.create_reader(Instant(0), &topic, &ReaderQos::default()),
        Err(CreateError::NoAnnouncementSpace)
    );
    let c = Capacities {
        writers: 2,
        readers: 2,
        ..Capacities::MICRO
    };
    let mut a = engine(&c, 1);
    let mut b = engine(&c, 2);
    let w = a
        .create_writer(Instant(0), &topic, &WriterQos::default())
        .unwrap();
    let r = b
        .create_reader(Instant(0), &topic, &ReaderQos::default())
        .unwrap();
    let mut now = Instant(0);
    for _ in 0..20 {
        now = run(&mut a, &mut b, now, 1);
    }
    // Created while the other side's announcements arrive.
    let w2 = a.create_writer(now, &topic, &WriterQos::default()).unwrap();
    let r2 = b.create_reader(now, &topic, &ReaderQos::default()).unwrap();
    run(&mut a, &mut b, now, 300);
    assert_eq!(a.matched_readers(w), 2);
    assert_eq!(a.matched_readers(w2), 2);
    assert_eq!(b.matched_writers(r), 2);
    assert_eq!(b.matched_writers(r2), 2);
}

/// An endpoint whose SEDP announcement the pool cannot hold is refused with an error, and the
/// endpoints created before it are untouched (the twenty-first reader of a 4 KiB pool used to
/// be created, silently never announced, so never matched by anyone).
#[test]
fn an_endpoint_that_cannot_be_announced_is_refused() {
    let c = Capacities {
        readers: 24,
        matches: 64,
        remote_endpoints: 40,
        ..Capacities::MICRO
    };
    let mut e = engine(&c, 1);
    let topic = TopicSpec::new("many", "T");
    let mut created = 0;
    let mut refused = None;
    for _ in 0..24 {
        match e.create_reader(Instant(0), &topic, &ReaderQos::default()) {
            Ok(_) => created += 1,
            Err(err) => {
                refused = Some(err);
                break;
            }
        }
    }
    assert_eq!(refused, Some(CreateError::NoAnnouncementSpace));
    assert!(created >= 1, "the first reader fits");
    assert!(e.stats().dropped_no_space >= 1);
}

/// Built without `frag`, an endpoint whose announcement does not fit one DATA is refused:
/// it used to be created and its announcement skipped at every send, so it was never matched.
#[cfg(not(feature = "frag"))]
#[test]
fn without_frag_an_announcement_larger_than_a_datagram_is_refused() {
    let mut cfg = Config::new(GuidPrefix([9; 12]));
    cfg.capacities = Capacities::MICRO;
    cfg.fragment_size = 64;
    let mut e = Engine::with_storage(cfg, storage(&Capacities::MICRO), Instant(0)).unwrap();
    let r = e.create_reader(
        Instant(0),
        &TopicSpec::new("a/topic", "T"),
        &ReaderQos::default(),
    );
    assert_eq!(r, Err(CreateError::NoAnnouncementSpace));
    assert!(e.stats().dropped_too_large >= 1);
}

/// The participant-message endpoints exist with the `liveliness` feature only: the engine's
/// SPDP announces them with it and not without. Both ways the engines discover each other and
/// move samples (`micro_in_caller_storage`, run with and without the feature).
#[test]
fn participant_message_endpoints_follow_the_liveliness_feature() {
    use pollen_engine::wire::{
        BuiltinEndpointSet, EntityId, Message, ParticipantData, SubmessageRepr,
    };
    let mut a = engine(&Capacities::MICRO, 1);
    let mut buf = vec![0u8; 65536];
    let mut announced = None;
    while let Some(t) = a.poll_transmit(Instant(0), &mut buf) {
        let msg = Message::parse(&buf[..t.len]).expect("our own datagram parses");
        for sub in msg.submessages() {
            if let Ok(SubmessageRepr::Data(d)) = sub.and_then(|r| r.parse()) {
                if d.writer_id == EntityId::SPDP_WRITER {
                    let pd = ParticipantData::parse(d.payload.unwrap()).unwrap();
                    announced = Some(pd.builtin_endpoints);
                }
            }
        }
    }
    let set = announced.expect("an SPDP announcement at start");
    let pmd = BuiltinEndpointSet::PARTICIPANT_MESSAGE_READER
        | BuiltinEndpointSet::PARTICIPANT_MESSAGE_WRITER;
    assert!(set.has(BuiltinEndpointSet::PUBLICATIONS_ANNOUNCER));
    assert_eq!(set.0 & pmd != 0, cfg!(feature = "liveliness"), "{set:?}");
}

/// A remote participant is dropped once silent for its lease, or, without the `liveliness`
/// feature (its liveliness messages no longer come), for twice its lease: one lost SPDP of an
/// idle peer that announces every lease less 2 s, as Cyclone DDS does, is survived.
#[test]
fn a_silent_participant_expires_after_its_allowance() {
    let mut a = engine(&Capacities::MICRO, 1);
    let mut b = engine(&Capacities::MICRO, 2);
    let mut n = 0;
    pump(&mut b, &mut a, Instant(0), &mut n, 0);
    assert_eq!(a.stats().participants_discovered, 1);
    let lease = Config::new(GuidPrefix([2; 12])).lease_duration.micros();
    // B falls silent: only A's timers run.
    let at = |a: &mut Engine<'static>, t: u64| {
        while let Some(due) = a.poll_timeout().filter(|d| d.0 <= t) {
            a.handle_timeout(due);
            let mut buf = vec![0u8; 65536];
            while a.poll_transmit(due, &mut buf).is_some() {}
        }
        a.stats().participants_lost
    };
    let survives = if cfg!(feature = "liveliness") { 0 } else { 1 };
    assert_eq!(1 - at(&mut a, lease * 3 / 2), survives, "at 1.5 leases");
    assert_eq!(at(&mut a, lease * 2 + 1_000_000), 1, "past twice the lease");
}
