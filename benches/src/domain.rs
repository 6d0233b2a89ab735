//! A large idle domain around an engine, built from synthetic discovery traffic.
//!
//! [`populate`] feeds an engine, for each of [`PARTICIPANTS`] synthetic remote participants,
//! what a real one would send: its SPDP announcement (by multicast, with an infinite lease and
//! the full builtin endpoint set), then from its SEDP publications writer (entity 0x000003c2)
//! and subscriptions writer (0x000004c2) one DATA per endpoint with increasing sequence
//! numbers and a final HEARTBEAT, and a final HEARTBEAT of its (empty) participant-message
//! writer. The endpoints are on topics of their own (`idle/<participant>/w<n>` and `r<n>`), so
//! they match nothing. Once the engine has sent everything it owes them (its directed SPDP replies and
//! its SEDP announcements, drained and discarded), each synthetic participant acknowledges
//! everything of the engine's three builtin writers. Then nothing is owed: no heartbeat to an
//! unanswering reader, no pre-emptive ACKNACK, and no unicast copy of the announcements (the
//! synthetic participants' SPDP came by multicast, so the engine counts them as hearing it).
//!
//! What stays periodic: the SPDP announcement (one multicast datagram per
//! `announce_period`) and the participant-message liveliness assertion every half lease, which
//! owes a sample to every remote participant. The bench engines use a lease of [`LEASE`] so
//! that no liveliness assertion falls inside a run; the synthetic participants would not
//! acknowledge it, and the builtin writer would then heartbeat a thousand silent readers.

use pollen_engine::wire::{
    AckNackRepr, BuiltinEndpointSet, Count, DataRepr, DurabilityKind, Duration, Endian,
    EndpointData, EntityId, Guid, GuidPrefix, HeaderRepr, HeartbeatRepr, InlineQos, Locator,
    LocatorList, MessageBuilder, ParticipantData, ProtocolVersion, ReliabilityKind, ReliabilityQos,
    SequenceNumber, SequenceNumberSet, SubmessageRepr, VendorId,
};
use pollen_engine::{
    Capacities, Config, Destination, Engine, Instant, Span, TopicSpec, WriterHandle, WriterQos,
};

/// Synthetic remote participants.
pub const PARTICIPANTS: usize = 1000;
/// Writers (SEDP publications) of each synthetic participant.
pub const WRITERS_PER_PARTICIPANT: usize = 10;
/// Readers (SEDP subscriptions) of each synthetic participant.
pub const READERS_PER_PARTICIPANT: usize = 10;
/// Synthetic remote endpoints in all.
pub const ENDPOINTS: usize = PARTICIPANTS * (WRITERS_PER_PARTICIPANT + READERS_PER_PARTICIPANT);
/// Local writers on topics of their own that [`add_local_writers`] creates.
pub const LOCAL_WRITERS: usize = 100;

/// The capacities of every bench engine, with or without the idle domain: `HOST` with room
/// for the synthetic participants and endpoints plus a real peer and its endpoints (`HOST` has
/// exactly 1000 and 20 000).
pub const CAPACITIES: Capacities = Capacities {
    participants: 1100,
    remote_endpoints: 21_000,
    ..Capacities::HOST
};

/// The lease of the bench engines: long enough (about 116 days of virtual time) that no
/// liveliness assertion (every half lease) falls inside a run.
pub const LEASE: Span = Span::from_secs(2_000_000_000);

/// The SPDP multicast locator of domain 0.
pub const SPDP_MULTICAST: Locator = Locator::udpv4([239, 255, 0, 1], 7400);

/// The configuration of bench engine `n` (1, 2, ...): address 10.0.0.n, GUID prefix [n; 12],
/// [`CAPACITIES`], [`LEASE`], default timings otherwise.
pub fn config(n: u8) -> Config {
    let mut c = Config::new(GuidPrefix([n; 12]));
    c.unicast_address = [10, 0, 0, n];
    c.capacities = CAPACITIES;
    c.lease_duration = LEASE;
    c
}

/// Whether `dst` is an address of the synthetic domain (10.1.0.0/16).
pub fn is_synthetic(dst: &Locator) -> bool {
    dst.ipv4().is_some_and(|(ip, _)| ip[0] == 10 && ip[1] == 1)
}

/// One synthetic remote participant.
#[derive(Debug, Clone, Copy)]
pub struct Remote {
    /// Its GUID prefix.
    pub prefix: GuidPrefix,
    /// Its address (10.1.x.y; metatraffic port 7410, user traffic 7411).
    pub address: [u8; 4],
    index: usize,
}

impl Remote {
    /// Synthetic participant `i` (0..65535).
    pub fn new(i: usize) -> Remote {
        let i16 = i as u16;
        let [hi, lo] = i16.to_be_bytes();
        Remote {
            prefix: GuidPrefix([0xee, 0xd0, 0x4a, 0x1e, 0, 0, 0, 0, 0, 0, hi, lo]),
            address: [10, 1, (i / 250) as u8, (i % 250 + 1) as u8],
            index: i,
        }
    }

    /// Its metatraffic unicast locator.
    pub fn metatraffic(&self) -> Locator {
        Locator::udpv4(self.address, 7410)
    }

    fn header(&self) -> HeaderRepr {
        HeaderRepr {
            version: ProtocolVersion::V2_3,
            vendor_id: VendorId::ECLIPSE,
            guid_prefix: self.prefix,
        }
    }

    /// Its SPDP announcement; returns the length written into `buf`.
    pub fn spdp(&self, buf: &mut [u8]) -> usize {
        let guid = Guid::new(self.prefix, EntityId::PARTICIPANT);
        let mut d = ParticipantData::new(guid, BuiltinEndpointSet::POLLEN);
        d.protocol_version = Some(ProtocolVersion::V2_3);
        d.vendor_id = Some(VendorId::ECLIPSE);
        d.domain_id = Some(0);
        d.lease_duration = Some(Duration::INFINITE);
        d.metatraffic_unicast = LocatorList::from_iter([self.metatraffic()]);
        d.default_unicast = LocatorList::from_iter([Locator::udpv4(self.address, 7411)]);
        d.metatraffic_multicast = LocatorList::from_iter([SPDP_MULTICAST]);
        let mut payload = [0u8; 512];
        let plen = d.emit(&mut payload).expect("SPDP payload fits");
        let mut qos = [0u8; 64];
        let qlen = InlineQos {
            key_hash: Some(guid.to_bytes()),
            status_info: None,
            related: None,
        }
        .emit(&mut qos, Endian::Little)
        .expect("inline QoS fits");
        let mut b = MessageBuilder::new(buf, &self.header()).expect("room for a header");
        b.push(&SubmessageRepr::Data(DataRepr {
            endian: Endian::Little,
            reader_id: EntityId::SPDP_READER,
            writer_id: EntityId::SPDP_WRITER,
            writer_sn: SequenceNumber(1),
            inline_qos: Some(&qos[..qlen]),
            payload: Some(&payload[..plen]),
            key_flag: false,
            non_standard: false,
        }))
        .expect("SPDP fits");
        b.finish()
    }

    /// Its SEDP publications (`writers`) or subscriptions, `n` of them: one DATA each with
    /// sequence numbers 1..=n, then a final HEARTBEAT announcing exactly those; returns the
    /// length.
    pub fn sedp(&self, writers: bool, n: usize, buf: &mut [u8]) -> usize {
        let (writer_id, reader_id, kind) = if writers {
            (EntityId::SEDP_PUB_WRITER, EntityId::SEDP_PUB_READER, 0x03)
        } else {
            (EntityId::SEDP_SUB_WRITER, EntityId::SEDP_SUB_READER, 0x04)
        };
        let mut b = MessageBuilder::new(buf, &self.header()).expect("room for a header");
        for j in 0..n {
            // Entity keys 1..: writers first, then readers, so every GUID differs.
            let key = 1 + j as u32 + if writers { 0 } else { 0x100 };
            let guid = Guid::new(self.prefix, EntityId::new(key, kind));
            let topic = format!(
                "idle/{}/{}{}",
                self.index,
                if writers { "w" } else { "r" },
                j
            );
            let mut d = EndpointData::new(guid, &topic, "Idle");
            d.participant_guid = Some(Guid::new(self.prefix, EntityId::PARTICIPANT));
            d.protocol_version = Some(ProtocolVersion::V2_3);
            d.vendor_id = Some(VendorId::ECLIPSE);
            d.reliability = Some(ReliabilityQos {
                kind: ReliabilityKind::Reliable,
                max_blocking_time: Duration::from_micros(100_000),
            });
            d.durability = Some(DurabilityKind::Volatile);
            let mut payload = [0u8; 1024];
            let plen = d.emit(&mut payload).expect("SEDP payload fits");
            let mut qos = [0u8; 64];
            let qlen = InlineQos {
                key_hash: Some(guid.to_bytes()),
                status_info: None,
                related: None,
            }
            .emit(&mut qos, Endian::Little)
            .expect("inline QoS fits");
            b.push(&SubmessageRepr::Data(DataRepr {
                endian: Endian::Little,
                reader_id,
                writer_id,
                writer_sn: SequenceNumber(1 + j as i64),
                inline_qos: Some(&qos[..qlen]),
                payload: Some(&payload[..plen]),
                key_flag: false,
                non_standard: false,
            }))
            .expect("SEDP fits");
        }
        b.push(&SubmessageRepr::Heartbeat(HeartbeatRepr {
            final_flag: true,
            liveliness_flag: false,
            reader_id: EntityId::UNKNOWN,
            writer_id,
            first_sn: SequenceNumber(1),
            last_sn: SequenceNumber(n as i64),
            count: Count(1),
        }))
        .expect("HEARTBEAT fits");
        b.finish()
    }

    /// A final HEARTBEAT of its participant-message writer, which has sent nothing.
    pub fn pmd_heartbeat(&self, buf: &mut [u8]) -> usize {
        let mut b = MessageBuilder::new(buf, &self.header()).expect("room for a header");
        b.push(&SubmessageRepr::Heartbeat(HeartbeatRepr {
            final_flag: true,
            liveliness_flag: false,
            reader_id: EntityId::UNKNOWN,
            writer_id: EntityId::PMD_WRITER,
            first_sn: SequenceNumber(1),
            last_sn: SequenceNumber(0),
            count: Count(1),
        }))
        .expect("HEARTBEAT fits");
        b.finish()
    }

    /// Final ACKNACKs of its three builtin readers acknowledging everything the engine's
    /// builtin writers ever wrote (a base far beyond any sequence number they use), with
    /// ACKNACK count `count` (1 for the first, then increasing).
    pub fn acknowledge_all(&self, count: u32, buf: &mut [u8]) -> usize {
        let mut b = MessageBuilder::new(buf, &self.header()).expect("room for a header");
        for (reader_id, writer_id) in [
            (EntityId::SEDP_PUB_READER, EntityId::SEDP_PUB_WRITER),
            (EntityId::SEDP_SUB_READER, EntityId::SEDP_SUB_WRITER),
            (EntityId::PMD_READER, EntityId::PMD_WRITER),
        ] {
            b.push(&SubmessageRepr::AckNack(AckNackRepr {
                final_flag: true,
                reader_id,
                writer_id,
                reader_sn_state: SequenceNumberSet::new(SequenceNumber(1 << 30), 0),
                count: Count(count),
            }))
            .expect("ACKNACK fits");
        }
        b.finish()
    }
}

/// Creates [`LOCAL_WRITERS`] writers on topics of their own (`local/<tag>/<n>`, default QoS).
pub fn add_local_writers(e: &mut Engine<'_>, now: Instant, tag: u8) -> Vec<WriterHandle> {
    (0..LOCAL_WRITERS)
        .map(|k| {
            let name = format!("local/{tag}/{k}");
            e.create_writer(now, &TopicSpec::new(&name, "Local"), &WriterQos::default())
                .expect("local writer")
        })
        .collect()
}

/// Drains every transmit and event of `e`; returns (datagrams, of which to the synthetic
/// domain). `deliver` gets every datagram not addressed to the synthetic domain.
pub fn drain(
    e: &mut Engine<'_>,
    now: Instant,
    buf: &mut [u8],
    mut deliver: impl FnMut(Locator, &[u8]),
) -> (usize, usize) {
    let (mut all, mut synthetic) = (0, 0);
    while let Some(t) = e.poll_transmit(now, buf) {
        all += 1;
        let dst = match t.destination {
            Destination::Udp(l) | Destination::Tcp(l) => l,
        };
        if is_synthetic(&dst) {
            synthetic += 1;
        } else {
            deliver(dst, &buf[..t.len]);
        }
    }
    while e.poll_event().is_some() {}
    (all, synthetic)
}

/// What [`populate`] did.
#[derive(Debug, Clone, Copy)]
pub struct Populated {
    /// Datagrams fed to the engine.
    pub fed: usize,
    /// Datagrams the engine sent while learning the domain (all discarded).
    pub sent: usize,
    /// Datagrams the engine sent to the synthetic participants after they acknowledged
    /// everything and timers ran for `settle` (must be 0: the domain is idle).
    pub owed_after_ack: usize,
}

/// Feeds the idle domain to `e` at `now` (see the module documentation), drains what `e`
/// sends (other destinations than the synthetic domain are discarded too), has every synthetic
/// participant acknowledge everything, then runs `e`'s timers for `settle` of virtual time in
/// 100 ms steps, counting what `e` still sends to the synthetic domain. Returns the time
/// reached.
pub fn populate(e: &mut Engine<'_>, now: Instant, settle: Span) -> (Instant, Populated) {
    populate_with(e, now, settle, true)
}

/// [`populate`], with the synthetic participants' endpoints or without (`endpoints` false:
/// their SEDP writers announce nothing, so the engine holds 1000 participants and no remote
/// endpoint).
pub fn populate_with(
    e: &mut Engine<'_>,
    now: Instant,
    settle: Span,
    endpoints: bool,
) -> (Instant, Populated) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = vec![0u8; 64 * 1024];
    let own = Locator::udpv4(e.config().unicast_address, 7410);
    let mut done = Populated {
        fed: 0,
        sent: 0,
        owed_after_ack: 0,
    };
    for i in 0..PARTICIPANTS {
        let r = Remote::new(i);
        let src = r.metatraffic();
        let n = r.spdp(&mut buf);
        e.handle_datagram(now, src, SPDP_MULTICAST, &buf[..n]);
        for (writers, per) in [
            (true, WRITERS_PER_PARTICIPANT),
            (false, READERS_PER_PARTICIPANT),
        ] {
            let n = r.sedp(writers, if endpoints { per } else { 0 }, &mut buf);
            e.handle_datagram(now, src, own, &buf[..n]);
        }
        let n = r.pmd_heartbeat(&mut buf);
        e.handle_datagram(now, src, own, &buf[..n]);
        done.fed += 4;
        if i % 50 == 49 {
            done.sent += drain(e, now, &mut out, |_, _| {}).0;
        }
    }
    done.sent += drain(e, now, &mut out, |_, _| {}).0;
    for i in 0..PARTICIPANTS {
        let r = Remote::new(i);
        let n = r.acknowledge_all(1, &mut buf);
        e.handle_datagram(now, r.metatraffic(), own, &buf[..n]);
        done.fed += 1;
    }
    done.sent += drain(e, now, &mut out, |_, _| {}).0;
    let mut t = now;
    let end = Instant(now.0 + settle.micros());
    while t < end {
        t = Instant(t.0 + 100_000);
        if e.poll_timeout().is_some_and(|d| d <= t) {
            e.handle_timeout(t);
        }
        let (all, synthetic) = drain(e, t, &mut out, |_, _| {});
        done.sent += all;
        done.owed_after_ack += synthetic;
    }
    (t, done)
}

/// Checks that `e` holds exactly `participants` remote participants, `endpoints` remote
/// endpoints and `matches` matches, and refused nothing; panics otherwise.
pub fn assert_holds(e: &Engine<'_>, participants: usize, endpoints: usize, matches: usize) {
    let p = e.participants().count();
    let r = e.remote_endpoints().count();
    assert_eq!(p, participants, "participants held ({r} remote endpoints)");
    assert_eq!(r, endpoints, "remote endpoints held");
    assert_eq!(e.table_use().2, matches, "matches");
    assert_eq!(e.stats().dropped_table_full, 0, "nothing refused");
}

/// One engine ([`config`] `n`) holding the idle domain (with or without its remote
/// endpoints) and [`LOCAL_WRITERS`] local writers, drained and checked: nothing owed.
/// Returns it and its clock.
pub fn idle_engine(n: u8, endpoints: bool) -> (Box<Engine<'static>>, Instant) {
    let mut e = Box::new(Engine::new(config(n), Instant(0)).expect("valid config"));
    add_local_writers(&mut e, Instant(0), n);
    let (now, done) = populate_with(&mut e, Instant(0), Span::from_secs(5), endpoints);
    assert_eq!(done.owed_after_ack, 0, "the idle domain is owed nothing");
    let held = if endpoints { ENDPOINTS } else { 0 };
    assert_holds(&e, PARTICIPANTS, held, 0);
    (e, now)
}

/// One engine ([`config`] `n`) with nothing in its tables, its first announcements drained.
pub fn empty_engine(n: u8) -> (Box<Engine<'static>>, Instant) {
    let mut e = Box::new(Engine::new(config(n), Instant(0)).expect("valid config"));
    let mut buf = vec![0u8; 64 * 1024];
    drain(&mut e, Instant(0), &mut buf, |_, _| {});
    assert_holds(&e, 0, 0, 0);
    (e, Instant(0))
}
