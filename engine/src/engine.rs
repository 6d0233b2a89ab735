//! The engine: one participant's whole state and the contract of DESIGN.md §2.

use crate::config::{ports, Config, ConfigError};
use crate::discovery::{
    check_match, EndpointInfo, MatchResult, Name, Partitions, RemoteParticipant,
};
use crate::event::{Endpoint, Event, EventQueue, ReaderHandle, WriterHandle};
use crate::limits::*;
use crate::pool::Pool;
use crate::qos::{Durability, History, ReaderQos, Reliability, TopicSpec, WriterQos};
use crate::reader::{Incoming, IncomingFrag, Payload, Reader, Received};
use crate::stats::Stats;
use crate::stream::{CycloneFraming, Deframe, Framing, StreamId};
use crate::time::{Instant, Span};
use crate::transmit::{self, Destination, Transmit};
use crate::wire::{
    self, AckNackRepr, BuiltinEndpointSet, DataFragRepr, DataRepr, DataRepresentations, Duration,
    EndpointData, EntityId, Error as WireError, GapRepr, Guid, GuidPrefix, HeaderRepr,
    HeartbeatRepr, InfoDstRepr, InlineQos, Locator, LocatorKind, LocatorList, Message,
    MessageBuilder, NackFragRepr, ParameterListIter, ParticipantData, ProtocolVersion,
    SequenceNumber, StatusInfo, StringSeq, SubmessageRepr, Time, VendorId,
};
use crate::writer::{AddError, Writer};
use core::fmt;

const SEDP_PUB: usize = 0;
const SEDP_SUB: usize = 1;
const PMD: usize = 2;
const BUILTIN_WRITER_IDS: [EntityId; 3] = [
    EntityId::SEDP_PUB_WRITER,
    EntityId::SEDP_SUB_WRITER,
    EntityId::PMD_WRITER,
];
const BUILTIN_READER_IDS: [EntityId; 3] = [
    EntityId::SEDP_PUB_READER,
    EntityId::SEDP_SUB_READER,
    EntityId::PMD_READER,
];

/// Builtin writer `i` (SEDP publications, SEDP subscriptions, participant message) before
/// the prefix is known: reliable, transient-local; SEDP keeps one announcement per local
/// endpoint, the participant message one message.
const fn builtin_writer(i: usize) -> Writer {
    let history = if i == PMD {
        History::KeepLast(1)
    } else {
        History::KeepLast(MAX_HISTORY as u16)
    };
    Writer::new(
        Guid::new(GuidPrefix::UNKNOWN, BUILTIN_WRITER_IDS[i]),
        true,
        Durability::TransientLocal,
        history,
        MAX_HISTORY,
        Span::from_millis(100),
    )
}

/// Builtin reader `i`, matching [`builtin_writer`].
const fn builtin_reader(i: usize) -> Reader {
    Reader::new(
        Guid::new(GuidPrefix::UNKNOWN, BUILTIN_READER_IDS[i]),
        true,
        History::KeepAll,
        MAX_READER_SAMPLES,
    )
}

/// The local writer (builtin or user) with entity id `id`.
fn writer_mut<'a>(
    builtin: &'a mut [Writer; 3],
    user: &'a mut [Option<LocalWriter>; MAX_WRITERS],
    id: EntityId,
) -> Option<&'a mut Writer> {
    match BUILTIN_WRITER_IDS.iter().position(|b| *b == id) {
        Some(i) => Some(&mut builtin[i]),
        None => user
            .iter_mut()
            .flatten()
            .map(|lw| &mut lw.writer)
            .find(|w| w.guid.entity == id),
    }
}

/// Why `write`, `dispose` or `unregister` failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteError {
    /// No such writer.
    UnknownWriter,
    /// Larger than `MAX_SAMPLE`.
    TooLarge,
    /// KEEP_ALL history full of unacknowledged samples: retry after acknowledgements.
    HistoryFull,
    /// The payload pool is full.
    OutOfMemory,
    /// Dispose/unregister on a keyless topic.
    NotKeyed,
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WriteError::UnknownWriter => "unknown writer",
            WriteError::TooLarge => "sample too large",
            WriteError::HistoryFull => "history full of unacknowledged samples",
            WriteError::OutOfMemory => "payload pool full",
            WriteError::NotKeyed => "dispose and unregister need a keyed topic",
        })
    }
}

impl core::error::Error for WriteError {}

/// Why `create_writer` or `create_reader` failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateError {
    /// All writer or reader slots are in use.
    TooManyEndpoints,
    /// A name or partition list exceeds the fixed capacities.
    TooLarge,
    /// A history depth of 0 or above `MAX_HISTORY`.
    BadQos,
}

impl fmt::Display for CreateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CreateError::TooManyEndpoints => "no free endpoint slot",
            CreateError::TooLarge => "topic, type or partition names too long or too many",
            CreateError::BadQos => "history depth must be within 1..=MAX_HISTORY",
        })
    }
}

impl core::error::Error for CreateError {}

/// Why `take` failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TakeError {
    /// No such reader.
    UnknownReader,
    /// The next sample needs `needed` bytes; it stays queued.
    BufferTooSmall {
        /// Bytes required.
        needed: usize,
    },
}

impl fmt::Display for TakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TakeError::UnknownReader => f.write_str("unknown reader"),
            TakeError::BufferTooSmall { needed } => {
                write!(f, "buffer too small: {} bytes needed", needed)
            }
        }
    }
}

impl core::error::Error for TakeError {}

/// The state of the instance a sample belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceState {
    /// A normal sample.
    Alive,
    /// The writer disposed the instance.
    Disposed,
    /// The writer unregistered the instance.
    Unregistered,
}

/// What `take` says about the sample it copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleInfo {
    /// The writer.
    pub writer: Guid,
    /// Its sequence number.
    pub sn: SequenceNumber,
    /// The writer's source timestamp (INFO_TS).
    pub source_timestamp: Option<Time>,
    /// Bytes copied (the serialized payload with its encapsulation header, or for a dispose
    /// or unregister the serialized key, possibly empty).
    pub len: usize,
    /// Instance state carried by the sample.
    pub state: InstanceState,
    /// Key hash, when the writer sent one.
    pub key_hash: Option<[u8; 16]>,
}

/// A remote participant as `Engine::participants` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParticipantSummary {
    /// Its GUID prefix.
    pub guid_prefix: GuidPrefix,
    /// Its vendor.
    pub vendor: VendorId,
    /// Its protocol version.
    pub version: ProtocolVersion,
    /// Its lease.
    pub lease: Span,
    user_data: [u8; MAX_USER_DATA],
    user_data_len: u8,
}

impl ParticipantSummary {
    /// Its USER_DATA (empty when it sent none or more than `MAX_USER_DATA` bytes). Tools use
    /// it to recognise peers: ddsperf announces `DDSPerf:<H>:<pid>:<host>`, ROS 2
    /// `enclave=/;`.
    pub fn user_data(&self) -> &[u8] {
        &self.user_data[..self.user_data_len as usize]
    }
}

/// A remote user endpoint as `Engine::remote_endpoints` reports it.
#[derive(Debug, Clone, Copy)]
pub struct EndpointSummary<'a> {
    /// Its GUID.
    pub guid: Guid,
    /// A writer (publication) or a reader (subscription).
    pub is_writer: bool,
    /// Topic name.
    pub topic: &'a str,
    /// Type name.
    pub type_name: &'a str,
    /// Keyed (from its entity kind).
    pub keyed: bool,
    /// Reliability (DDSI defaults applied when it did not say).
    pub reliability: Reliability,
    /// Durability.
    pub durability: Durability,
    /// Number of partitions (see `partitions`).
    partitions: &'a crate::discovery::Partitions,
}

impl<'a> EndpointSummary<'a> {
    /// Its partitions; empty means the default partition.
    pub fn partitions(&self) -> impl Iterator<Item = &'a str> + 'a {
        self.partitions.iter()
    }
}

/// What a driver must open: a socket per entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenLocator {
    /// Address and port (for multicast, the group and port).
    pub locator: Locator,
    /// A multicast group to join.
    pub multicast: bool,
    /// Discovery traffic (true) or user data (false).
    pub metatraffic: bool,
}

struct LocalWriter {
    info: EndpointInfo,
    writer: Writer,
}

struct LocalReader {
    info: EndpointInfo,
    reader: Reader,
}

/// Per-message receiver state (rtps-wire.md §1.5).
struct Receiver {
    source: GuidPrefix,
    vendor: VendorId,
    for_us: bool,
    timestamp: Option<Time>,
}

/// A DDS participant as a Sans-IO state machine. See DESIGN.md §2 for the contract.
pub struct Engine {
    cfg: Config,
    now: Instant,
    stats: Stats,
    events: EventQueue,
    pool: Pool,
    participants: [Option<RemoteParticipant>; MAX_PARTICIPANTS],
    remote: [Option<EndpointInfo>; MAX_REMOTE_ENDPOINTS],
    builtin_writers: [Writer; 3],
    builtin_readers: [Reader; 3],
    writers: [Option<LocalWriter>; MAX_WRITERS],
    readers: [Option<LocalReader>; MAX_READERS],
    next_entity_key: u32,
    spdp_sn: i64,
    next_announce: Instant,
    /// Next SPDP destination index of the announcement in progress.
    announce_cursor: Option<usize>,
    next_liveliness: Instant,
    shutting_down: bool,
    framing: CycloneFraming,
    scratch: [u8; MAX_DISCOVERY_DATA],
}

impl Engine {
    /// Creates a participant. It announces itself on the first `poll_transmit`.
    ///
    /// The engine is returned by value; on a small stack (a microcontroller) use
    /// `Engine::idle` (without the `alloc` feature) in a `static` and [`Engine::init`] instead,
    /// which build nothing large on the stack.
    pub fn new(cfg: Config, now: Instant) -> Result<Engine, ConfigError> {
        cfg.validate()?;
        let mut e = Engine::blank(Pool::new());
        e.start(cfg, now);
        Ok(e)
    }

    /// An engine that does nothing until [`Engine::init`]: a `const` value, so it can be the
    /// initial value of a `static` (available when the payload pool lives inline, that is
    /// without the `alloc` feature).
    #[cfg(not(feature = "alloc"))]
    pub const fn idle() -> Engine {
        Engine::blank(Pool::new())
    }

    /// (Re)starts this engine in place with a new configuration, forgetting everything it
    /// knew (endpoints, peers, samples). Nothing large passes through the stack.
    pub fn init(&mut self, cfg: Config, now: Instant) -> Result<(), ConfigError> {
        cfg.validate()?;
        self.pool.reset();
        self.stats = Stats::ZERO;
        self.events = EventQueue::new();
        for p in self.participants.iter_mut() {
            *p = None;
        }
        for r in self.remote.iter_mut() {
            *r = None;
        }
        for w in self.writers.iter_mut() {
            *w = None;
        }
        for r in self.readers.iter_mut() {
            *r = None;
        }
        for (i, w) in self.builtin_writers.iter_mut().enumerate() {
            *w = builtin_writer(i);
        }
        for (i, r) in self.builtin_readers.iter_mut().enumerate() {
            *r = builtin_reader(i);
        }
        self.next_entity_key = 1;
        self.spdp_sn = 1;
        self.shutting_down = false;
        self.start(cfg, now);
        Ok(())
    }

    /// Everything empty, nothing scheduled, the zero configuration.
    const fn blank(pool: Pool) -> Engine {
        Engine {
            now: Instant(0),
            stats: Stats::ZERO,
            events: EventQueue::new(),
            pool,
            participants: [None; MAX_PARTICIPANTS],
            remote: [None; MAX_REMOTE_ENDPOINTS],
            builtin_writers: [builtin_writer(0), builtin_writer(1), builtin_writer(2)],
            builtin_readers: [builtin_reader(0), builtin_reader(1), builtin_reader(2)],
            writers: [const { None }; MAX_WRITERS],
            readers: [const { None }; MAX_READERS],
            next_entity_key: 1,
            spdp_sn: 1,
            next_announce: Instant(u64::MAX),
            announce_cursor: None,
            next_liveliness: Instant(u64::MAX),
            shutting_down: false,
            framing: CycloneFraming::new(),
            scratch: [0; MAX_DISCOVERY_DATA],
            cfg: Config::new(GuidPrefix::UNKNOWN),
        }
    }

    /// Takes the configuration and schedules the first announcement and liveliness message.
    fn start(&mut self, cfg: Config, now: Instant) {
        for w in self.builtin_writers.iter_mut() {
            w.guid.prefix = cfg.guid_prefix;
            w.heartbeat_period = cfg.heartbeat_period;
        }
        for r in self.builtin_readers.iter_mut() {
            r.guid.prefix = cfg.guid_prefix;
        }
        self.now = now;
        self.next_announce = now + cfg.announce_period;
        self.announce_cursor = Some(0);
        self.cfg = cfg;
        self.assert_liveliness(now);
    }

    /// This participant's GUID prefix.
    pub fn guid_prefix(&self) -> GuidPrefix {
        self.cfg.guid_prefix
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    fn tick(&mut self, now: Instant) -> Instant {
        if now < self.now {
            self.stats.time_went_backwards += 1;
        } else {
            self.now = now;
        }
        self.now
    }

    fn emit(&mut self, e: Event) {
        if !self.events.push(e) {
            self.stats.events_dropped += 1;
        }
    }

    fn metatraffic_locator(&self) -> Locator {
        let port = ports::metatraffic_unicast(self.cfg.domain_id, self.cfg.participant_id);
        Locator::udpv4(self.cfg.unicast_address, port as u16)
    }

    fn user_locator(&self) -> Locator {
        let port = ports::user_unicast(self.cfg.domain_id, self.cfg.participant_id);
        Locator::udpv4(self.cfg.unicast_address, port as u16)
    }

    fn tcp_locator(&self) -> Option<Locator> {
        self.cfg
            .tcp_port
            .map(|port| Locator::tcpv4(self.cfg.unicast_address, port))
    }

    fn spdp_multicast_locator(&self) -> Locator {
        Locator::udpv4(
            ports::SPDP_MULTICAST_GROUP,
            ports::spdp_multicast(self.cfg.domain_id) as u16,
        )
    }

    /// The sockets a driver must open: SPDP multicast (when enabled), metatraffic unicast and
    /// user-data unicast.
    pub fn listen_locators(&self) -> impl Iterator<Item = ListenLocator> + '_ {
        let mc = ListenLocator {
            locator: self.spdp_multicast_locator(),
            multicast: true,
            metatraffic: true,
        };
        let meta = ListenLocator {
            locator: self.metatraffic_locator(),
            multicast: false,
            metatraffic: true,
        };
        let user = ListenLocator {
            locator: self.user_locator(),
            multicast: false,
            metatraffic: false,
        };
        let tcp = self.tcp_locator().map(|locator| ListenLocator {
            locator,
            multicast: false,
            metatraffic: true,
        });
        let multicast = self.cfg.multicast;
        [mc, meta, user]
            .into_iter()
            .filter(move |l| multicast || !l.multicast)
            .chain(tcp)
    }

    // ----------------------------------------------------------------------------------------
    // Inputs

    /// Feeds one received UDP datagram. Never fails: bad input is dropped and counted.
    pub fn handle_datagram(&mut self, now: Instant, src: Locator, dst: Locator, data: &[u8]) {
        let _ = (src, dst);
        let now = self.tick(now);
        self.stats.datagrams_in += 1;
        self.handle_message(now, data);
    }

    /// Feeds bytes received on stream connection `conn` (TCP); returns how many it consumed:
    /// every whole framed message at the front of `data`. The driver keeps the rest and offers
    /// it again with more, so messages may be split anywhere. A malformed or oversized frame
    /// consumes everything and raises [`Event::StreamError`]: the driver must close `conn`.
    pub fn handle_stream(&mut self, now: Instant, conn: StreamId, data: &[u8]) -> usize {
        let now = self.tick(now);
        let mut used = 0;
        while used < data.len() {
            match self.framing.deframe(&data[used..]) {
                Deframe::Frame(n) => {
                    self.stats.stream_messages_in += 1;
                    self.handle_message(now, &data[used..used + n]);
                    used += n;
                }
                Deframe::Need(_) => break,
                Deframe::Bad(error) => {
                    self.stats.dropped_bad_stream += 1;
                    self.emit(Event::StreamError { conn, error });
                    return data.len();
                }
            }
        }
        used
    }

    /// A stream connection ended (closed by the peer, by an error or by the driver). The engine
    /// keeps no per-connection state: later transmits to the peer's TCP locator make the
    /// driver connect again.
    pub fn handle_stream_closed(&mut self, now: Instant, conn: StreamId) {
        let _ = conn;
        self.tick(now);
        self.stats.streams_closed += 1;
    }

    /// One RTPS message, from a datagram or a stream frame.
    fn handle_message(&mut self, now: Instant, data: &[u8]) {
        let msg = match Message::parse(data) {
            Ok(m) => m,
            Err(WireError::UnsupportedVersion) => {
                self.stats.dropped_version += 1;
                return;
            }
            Err(_) => {
                self.stats.dropped_not_rtps += 1;
                return;
            }
        };
        if msg.header.guid_prefix == self.cfg.guid_prefix {
            self.stats.dropped_own += 1;
            return;
        }
        let mut rx = Receiver {
            source: msg.header.guid_prefix,
            vendor: msg.header.vendor_id,
            for_us: true,
            timestamp: None,
        };
        self.refresh_lease(rx.source, now);
        for raw in msg.submessages() {
            let sub = match raw.and_then(|r| r.parse()) {
                Ok(s) => s,
                Err(_) => {
                    self.stats.dropped_malformed += 1;
                    break;
                }
            };
            match sub {
                SubmessageRepr::InfoTs(t) => rx.timestamp = t.timestamp,
                SubmessageRepr::InfoSrc(s) => {
                    rx.source = s.guid_prefix;
                    rx.vendor = s.vendor_id;
                    rx.timestamp = None;
                    self.refresh_lease(rx.source, now);
                }
                SubmessageRepr::InfoDst(InfoDstRepr { guid_prefix }) => {
                    rx.for_us =
                        guid_prefix == self.cfg.guid_prefix || guid_prefix == GuidPrefix::UNKNOWN;
                }
                SubmessageRepr::Data(d) if rx.for_us => self.on_data(now, &rx, &d),
                SubmessageRepr::Heartbeat(h) if rx.for_us => self.on_heartbeat(&rx, &h),
                SubmessageRepr::Gap(g) if rx.for_us => self.on_gap(&rx, &g),
                SubmessageRepr::AckNack(a) if rx.for_us => self.on_acknack(now, &rx, &a),
                SubmessageRepr::NackFrag(n) if rx.for_us => self.on_nack_frag(&rx, &n),
                SubmessageRepr::Data(_)
                | SubmessageRepr::Heartbeat(_)
                | SubmessageRepr::Gap(_)
                | SubmessageRepr::AckNack(_)
                | SubmessageRepr::DataFrag(_)
                | SubmessageRepr::NackFrag(_)
                | SubmessageRepr::HeartbeatFrag(_)
                    if !rx.for_us =>
                {
                    self.stats.dropped_not_for_us += 1
                }
                SubmessageRepr::DataFrag(d) if rx.for_us => self.on_data_frag(&rx, &d),
                _ => {}
            }
        }
        self.process_builtin_samples(now);
        self.report_acknowledged();
    }

    /// Advances time: announcements, heartbeats, lease expiry.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.tick(now);
        if now >= self.next_announce {
            self.announce_cursor = Some(0);
            self.next_announce = now + self.cfg.announce_period;
        }
        if now >= self.next_liveliness && !self.shutting_down {
            self.assert_liveliness(now);
        }
        self.expire_leases(now);
        for w in self.builtin_writers.iter_mut() {
            w.on_timeout(now);
        }
        for lw in self.writers.iter_mut().flatten() {
            lw.writer.on_timeout(now);
        }
    }

    fn refresh_lease(&mut self, prefix: GuidPrefix, now: Instant) {
        if let Some(p) = self.participant_mut(prefix) {
            p.last_seen = now;
        }
    }

    fn participant(&self, prefix: GuidPrefix) -> Option<&RemoteParticipant> {
        self.participants
            .iter()
            .flatten()
            .find(|p| p.prefix == prefix)
    }

    fn participant_mut(&mut self, prefix: GuidPrefix) -> Option<&mut RemoteParticipant> {
        self.participants
            .iter_mut()
            .flatten()
            .find(|p| p.prefix == prefix)
    }

    fn expire_leases(&mut self, now: Instant) {
        for i in 0..MAX_PARTICIPANTS {
            let expired =
                self.participants[i].is_some_and(|p| now.saturating_since(p.last_seen) > p.lease);
            if expired {
                if let Some(p) = self.participants[i] {
                    self.remove_participant(p.prefix);
                }
            }
        }
    }

    fn inline_qos(&mut self, d: &DataRepr<'_>) -> Option<InlineQos> {
        match d.inline_qos_params().map(InlineQos::parse) {
            None => Some(InlineQos::default()),
            Some(Ok(q)) => Some(q),
            Some(Err(_)) => {
                self.stats.dropped_malformed += 1;
                None
            }
        }
    }

    fn on_data(&mut self, now: Instant, rx: &Receiver, d: &DataRepr<'_>) {
        let Some(q) = self.inline_qos(d) else { return };
        if d.writer_sn.0 < 1 {
            self.stats.dropped_invalid += 1;
            return;
        }
        if d.writer_id == EntityId::SPDP_WRITER {
            self.on_spdp(now, rx, d, &q);
            return;
        }
        let writer = Guid::new(rx.source, d.writer_id);
        let payload = d.payload.unwrap_or(&[]);
        if payload.len() > MAX_SAMPLE {
            self.stats.dropped_too_large += 1;
            return;
        }
        let incoming = || Incoming {
            writer,
            sn: d.writer_sn.0,
            payload: Payload::Slice(payload),
            timestamp: rx.timestamp,
            status: q.status_info.unwrap_or_default(),
            key_hash: q.key_hash,
        };
        self.deliver(writer, d.reader_id, |r, pool, replaced| {
            r.on_data(pool, incoming(), replaced)
        });
    }

    /// Hands something from `writer` to every local reader matched with it (or the builtin
    /// reader for a builtin writer), honouring a specific `reader_id`, and counts the outcome.
    fn deliver(
        &mut self,
        writer: Guid,
        reader_id: EntityId,
        mut f: impl FnMut(&mut Reader, &mut Pool, &mut u64) -> Received,
    ) {
        let mut replaced = 0;
        let mut outcome = Received::Unknown;
        if let Some(i) = BUILTIN_WRITER_IDS
            .iter()
            .position(|id| *id == writer.entity)
        {
            outcome = f(&mut self.builtin_readers[i], &mut self.pool, &mut replaced);
        } else {
            for lr in self.readers.iter_mut().flatten() {
                if reader_id != EntityId::UNKNOWN && reader_id != lr.reader.entity() {
                    continue;
                }
                if lr.reader.proxy(writer).is_none() {
                    continue;
                }
                let r = f(&mut lr.reader, &mut self.pool, &mut replaced);
                if outcome == Received::Unknown || matches!(r, Received::Accepted { .. }) {
                    outcome = r;
                }
            }
        }
        self.stats.samples_replaced += replaced;
        self.count_received(outcome);
        self.notify_readers();
    }

    fn on_data_frag(&mut self, rx: &Receiver, d: &DataFragRepr<'_>) {
        let q = match d
            .inline_qos
            .map(|q| InlineQos::parse(ParameterListIter::new(q, d.endian)))
        {
            None => InlineQos::default(),
            Some(Ok(q)) => q,
            Some(Err(_)) => {
                self.stats.dropped_malformed += 1;
                return;
            }
        };
        if d.writer_sn.0 < 1 {
            self.stats.dropped_invalid += 1;
            return;
        }
        let writer = Guid::new(rx.source, d.writer_id);
        let frag = IncomingFrag {
            writer,
            sn: d.writer_sn.0,
            sample_size: d.sample_size,
            fragment_size: d.fragment_size,
            first: d.fragment_starting_num,
            count: d.fragments_in_submessage,
            data: d.data,
            timestamp: rx.timestamp,
            status: q.status_info.unwrap_or_default(),
            key_hash: q.key_hash,
        };
        self.deliver(writer, d.reader_id, |r, pool, replaced| {
            r.on_data_frag(pool, &frag, replaced)
        });
    }

    fn count_received(&mut self, r: Received) {
        match r {
            Received::Accepted { delivered } => self.stats.samples_delivered += delivered as u64,
            Received::Duplicate => self.stats.dropped_duplicate += 1,
            Received::NoSpace => self.stats.dropped_no_space += 1,
            Received::Unknown => self.stats.dropped_unknown_endpoint += 1,
            Received::Invalid => self.stats.dropped_invalid += 1,
        }
    }

    fn notify_readers(&mut self) {
        for i in 0..MAX_READERS {
            let fire = match self.readers[i].as_mut() {
                Some(lr) if lr.reader.notify => {
                    lr.reader.notify = false;
                    true
                }
                _ => false,
            };
            if fire {
                self.emit(Event::DataAvailable(ReaderHandle(i as u8)));
            }
        }
    }

    fn on_heartbeat(&mut self, rx: &Receiver, h: &HeartbeatRepr) {
        if !h.is_valid() {
            self.stats.dropped_invalid += 1;
            return;
        }
        let writer = Guid::new(rx.source, h.writer_id);
        self.tell_readers(writer, h.reader_id, |r, pool, replaced| {
            r.on_heartbeat(pool, writer, h, replaced)
        });
    }

    fn on_gap(&mut self, rx: &Receiver, g: &GapRepr) {
        if g.gap_start.0 < 1 || g.gap_list.base.0 < 1 {
            self.stats.dropped_invalid += 1;
            return;
        }
        let writer = Guid::new(rx.source, g.writer_id);
        self.tell_readers(writer, g.reader_id, |r, pool, replaced| {
            r.on_gap(pool, writer, g, replaced)
        });
    }

    /// Hands a writer's HEARTBEAT or GAP to the readers matched with it (`f` returns how many
    /// samples became deliverable, or `None` when that reader does not know the writer) and
    /// counts the outcome.
    fn tell_readers(
        &mut self,
        writer: Guid,
        reader_id: EntityId,
        mut f: impl FnMut(&mut Reader, &mut Pool, &mut u64) -> Option<usize>,
    ) {
        let mut replaced = 0;
        let mut delivered = None;
        if let Some(i) = BUILTIN_WRITER_IDS
            .iter()
            .position(|id| *id == writer.entity)
        {
            delivered = f(&mut self.builtin_readers[i], &mut self.pool, &mut replaced);
        } else {
            for lr in self.readers.iter_mut().flatten() {
                if reader_id != EntityId::UNKNOWN && reader_id != lr.reader.entity() {
                    continue;
                }
                if let Some(n) = f(&mut lr.reader, &mut self.pool, &mut replaced) {
                    delivered = Some(delivered.unwrap_or(0) + n);
                }
            }
        }
        self.stats.samples_replaced += replaced;
        match delivered {
            Some(n) => self.stats.samples_delivered += n as u64,
            None => self.stats.dropped_unknown_endpoint += 1,
        }
        self.notify_readers();
    }

    fn on_acknack(&mut self, now: Instant, rx: &Receiver, a: &AckNackRepr) {
        let reader = Guid::new(rx.source, a.reader_id);
        let Some(w) = writer_mut(&mut self.builtin_writers, &mut self.writers, a.writer_id) else {
            self.stats.dropped_unknown_endpoint += 1;
            return;
        };
        let known = w.on_acknack(now, reader, a);
        // What every reliable reader has now acknowledged may go (volatile KEEP_ALL).
        w.release_acknowledged(&mut self.pool);
        if !known {
            self.stats.dropped_unknown_endpoint += 1;
        }
    }

    fn on_nack_frag(&mut self, rx: &Receiver, n: &NackFragRepr) {
        let reader = Guid::new(rx.source, n.reader_id);
        let known = writer_mut(&mut self.builtin_writers, &mut self.writers, n.writer_id)
            .is_some_and(|w| w.on_nack_frag(reader, n));
        if !known {
            self.stats.dropped_unknown_endpoint += 1;
        }
    }

    fn report_acknowledged(&mut self) {
        for i in 0..MAX_WRITERS {
            let fire = self.writers[i]
                .as_mut()
                .is_some_and(|lw| lw.writer.reliable && lw.writer.take_all_acknowledged());
            if fire {
                self.emit(Event::AllAcknowledged(WriterHandle(i as u8)));
            }
        }
    }

    // ----------------------------------------------------------------------------------------
    // SPDP

    fn on_spdp(&mut self, now: Instant, rx: &Receiver, d: &DataRepr<'_>, q: &InlineQos) {
        if let Some(s) = q.status_info {
            if s.disposed() || s.unregistered() {
                let prefix = match q.key_hash {
                    Some(k) => Guid::from_bytes(k).prefix,
                    None => rx.source,
                };
                if prefix == rx.source {
                    self.remove_participant(prefix);
                }
                return;
            }
        }
        let Some(payload) = d.payload else {
            self.stats.dropped_bad_discovery += 1;
            return;
        };
        let pd = match ParticipantData::parse(payload) {
            Ok(pd) => pd,
            Err(_) => {
                self.stats.dropped_bad_discovery += 1;
                return;
            }
        };
        if pd.guid.prefix != rx.source {
            self.stats.dropped_bad_discovery += 1;
            return;
        }
        if pd.domain_id.is_some_and(|dom| dom != self.cfg.domain_id) {
            self.stats.dropped_foreign_domain += 1;
            return;
        }
        if pd.domain_tag.is_some_and(|t| !t.is_empty()) {
            // We have no domain tag, so a tagged participant is in another domain.
            self.stats.dropped_foreign_domain += 1;
            return;
        }
        let fresh = RemoteParticipant::from_data(&pd, rx.vendor, now, self.cfg.prefer_tcp);
        if fresh.metatraffic.is_none() {
            self.stats.dropped_bad_discovery += 1;
            return;
        }
        if let Some(p) = self.participant_mut(pd.guid.prefix) {
            let owed = p.directed_spdp_owed;
            let moved = p.metatraffic != fresh.metatraffic;
            *p = fresh;
            p.directed_spdp_owed = owed;
            if moved {
                // Point the builtin proxies at the new address (add_proxy refreshes locators).
                self.match_builtin(now, &fresh);
            }
            return;
        }
        let Some(slot) = self.participants.iter_mut().find(|p| p.is_none()) else {
            self.stats.dropped_table_full += 1;
            return;
        };
        let mut p = fresh;
        p.directed_spdp_owed = 1;
        *slot = Some(p);
        self.stats.participants_discovered += 1;
        self.emit(Event::ParticipantDiscovered(p.prefix));
        self.match_builtin(now, &p);
    }

    fn match_builtin(&mut self, now: Instant, p: &RemoteParticipant) {
        let Some(loc) = p.metatraffic else { return };
        let bes = p.builtin;
        let pairs = [
            (
                BuiltinEndpointSet::PUBLICATIONS_DETECTOR,
                BuiltinEndpointSet::PUBLICATIONS_ANNOUNCER,
            ),
            (
                BuiltinEndpointSet::SUBSCRIPTIONS_DETECTOR,
                BuiltinEndpointSet::SUBSCRIPTIONS_ANNOUNCER,
            ),
            (
                BuiltinEndpointSet::PARTICIPANT_MESSAGE_READER,
                BuiltinEndpointSet::PARTICIPANT_MESSAGE_WRITER,
            ),
        ];
        for (i, (detector, announcer)) in pairs.iter().enumerate() {
            if bes.has(*detector) {
                let reader = Guid::new(p.prefix, BUILTIN_READER_IDS[i]);
                self.builtin_writers[i].add_proxy(
                    now,
                    reader,
                    loc,
                    true,
                    Durability::TransientLocal,
                );
            }
            if bes.has(*announcer) {
                let writer = Guid::new(p.prefix, BUILTIN_WRITER_IDS[i]);
                self.builtin_readers[i].add_proxy(now, writer, loc, true);
            }
        }
    }

    fn remove_participant(&mut self, prefix: GuidPrefix) {
        let Some(slot) = self
            .participants
            .iter_mut()
            .find(|p| p.is_some_and(|p| p.prefix == prefix))
        else {
            return;
        };
        *slot = None;
        for i in 0..3 {
            self.builtin_writers[i].remove_proxy(Guid::new(prefix, BUILTIN_READER_IDS[i]));
            self.builtin_readers[i]
                .remove_proxy(Guid::new(prefix, BUILTIN_WRITER_IDS[i]), &mut self.pool);
        }
        for i in 0..MAX_REMOTE_ENDPOINTS {
            if let Some(r) = self.remote[i] {
                if r.guid.prefix == prefix {
                    self.remove_remote_endpoint(r.guid);
                }
            }
        }
        self.stats.participants_lost += 1;
        self.emit(Event::ParticipantLost(prefix));
    }

    fn configured_destination_count(&self) -> usize {
        let mut n = self.cfg.multicast as usize;
        for p in self
            .cfg
            .peers
            .iter()
            .chain(self.cfg.tcp_peers.iter())
            .flatten()
        {
            n += if p.port.is_some() {
                1
            } else {
                PEER_PARTICIPANT_IDS as usize
            };
        }
        n
    }

    /// Multicast, the initial peers, then every known participant's metatraffic locator that
    /// the first two do not already cover (so unicast-only peers keep hearing from us).
    fn spdp_destination_count(&self) -> usize {
        self.configured_destination_count() + MAX_PARTICIPANTS
    }

    fn spdp_destination(&self, i: usize) -> Option<Locator> {
        let configured = self.configured_destination_count();
        if i < configured {
            return self.configured_destination(i);
        }
        let loc = self
            .participants
            .get(i - configured)?
            .as_ref()?
            .metatraffic?;
        let covered = (0..configured).any(|j| self.configured_destination(j) == Some(loc));
        if covered {
            None
        } else {
            Some(loc)
        }
    }

    fn configured_destination(&self, mut i: usize) -> Option<Locator> {
        if self.cfg.multicast {
            if i == 0 {
                return Some(self.spdp_multicast_locator());
            }
            i -= 1;
        }
        let udp = self.cfg.peers.iter().flatten().map(|p| (p, false));
        let tcp = self.cfg.tcp_peers.iter().flatten().map(|p| (p, true));
        for (p, is_tcp) in udp.chain(tcp) {
            let port = match p.port {
                Some(port) if i == 0 => port,
                Some(_) => {
                    i -= 1;
                    continue;
                }
                None if i < PEER_PARTICIPANT_IDS as usize => {
                    ports::metatraffic_unicast(self.cfg.domain_id, i as u16) as u16
                }
                None => {
                    i -= PEER_PARTICIPANT_IDS as usize;
                    continue;
                }
            };
            return Some(if is_tcp {
                Locator::tcpv4(p.address, port)
            } else {
                Locator::udpv4(p.address, port)
            });
        }
        None
    }

    fn participant_data(&self) -> ParticipantData<'_> {
        let guid = Guid::new(self.cfg.guid_prefix, EntityId::PARTICIPANT);
        let mut d = ParticipantData::new(guid, BuiltinEndpointSet::POLLEN);
        d.protocol_version = Some(ProtocolVersion::V2_3);
        d.vendor_id = Some(VendorId::POLLEN);
        d.domain_id = Some(self.cfg.domain_id);
        d.lease_duration = Some(Duration::from_micros(self.cfg.lease_duration.micros()));
        let tcp = self.tcp_locator();
        d.metatraffic_unicast =
            LocatorList::from_iter(Some(self.metatraffic_locator()).into_iter().chain(tcp));
        d.default_unicast =
            LocatorList::from_iter(Some(self.user_locator()).into_iter().chain(tcp));
        if self.cfg.multicast {
            d.metatraffic_multicast = LocatorList::from_iter([self.spdp_multicast_locator()]);
        }
        if self.cfg.user_data_len > 0 {
            d.user_data = Some(&self.cfg.user_data[..self.cfg.user_data_len]);
        }
        d
    }

    /// Writes our SPDP DATA (or its dispose) into `buf`, optionally directed.
    fn spdp_datagram(&mut self, buf: &mut [u8], to: Option<GuidPrefix>) -> Option<usize> {
        let guid = Guid::new(self.cfg.guid_prefix, EntityId::PARTICIPANT);
        let mut payload = [0u8; 512];
        let plen = if self.shutting_down {
            0
        } else {
            self.participant_data().emit(&mut payload).ok()?
        };
        let mut qbuf = [0u8; 64];
        let q = InlineQos {
            key_hash: Some(guid.to_bytes()),
            status_info: if self.shutting_down {
                Some(StatusInfo(StatusInfo::DISPOSED | StatusInfo::UNREGISTERED))
            } else {
                None
            },
        };
        let qlen = q.emit(&mut qbuf, wire::Endian::Little).ok()?;
        let mut b = MessageBuilder::new(buf, &HeaderRepr::new(self.cfg.guid_prefix)).ok()?;
        let reader_id = match to {
            Some(prefix) => {
                b.push(&SubmessageRepr::InfoDst(InfoDstRepr {
                    guid_prefix: prefix,
                }))
                .ok()?;
                EntityId::SPDP_READER
            }
            None => EntityId::UNKNOWN,
        };
        let data = DataRepr {
            endian: wire::Endian::Little,
            reader_id,
            writer_id: EntityId::SPDP_WRITER,
            writer_sn: SequenceNumber(self.spdp_sn),
            inline_qos: Some(&qbuf[..qlen]),
            payload: if plen > 0 {
                Some(&payload[..plen])
            } else {
                None
            },
            key_flag: false,
            non_standard: false,
        };
        b.push(&SubmessageRepr::Data(data)).ok()?;
        Some(b.finish())
    }

    /// Says goodbye: the following `poll_transmit` calls announce our SPDP dispose to every
    /// destination and every known participant.
    pub fn shutdown(&mut self, now: Instant) {
        self.tick(now);
        self.shutting_down = true;
        self.spdp_sn += 1;
        self.announce_cursor = Some(0);
        for p in self.participants.iter_mut().flatten() {
            p.directed_spdp_owed = 1;
        }
    }

    fn assert_liveliness(&mut self, now: Instant) {
        // ParticipantMessageData: prefix, kind AUTOMATIC (00 00 00 01), one-byte sequence.
        let mut body = [0u8; 28];
        body[..4].copy_from_slice(&[0, 1, 0, 0]);
        body[4..16].copy_from_slice(&self.cfg.guid_prefix.0);
        body[16..20].copy_from_slice(&[0, 0, 0, 1]);
        body[20..24].copy_from_slice(&1u32.to_le_bytes());
        let mut key = [0u8; 16];
        key[..12].copy_from_slice(&self.cfg.guid_prefix.0);
        key[12..].copy_from_slice(&[0, 0, 0, 1]);
        let w = &mut self.builtin_writers[PMD];
        if w.add(
            now,
            &mut self.pool,
            &[&body],
            None,
            Some(key),
            StatusInfo(0),
        )
        .is_err()
        {
            self.stats.dropped_no_space += 1;
        }
        let period = Span::from_micros((self.cfg.lease_duration.micros() / 2).max(500_000));
        self.next_liveliness = now + period;
    }

    // ----------------------------------------------------------------------------------------
    // SEDP

    fn process_builtin_samples(&mut self, now: Instant) {
        for i in [SEDP_PUB, SEDP_SUB] {
            while let Some(s) = self.builtin_readers[i].pop() {
                let Some(data) = s.data else { continue };
                let n = self.pool.read(&data, &mut self.scratch);
                self.pool.free(data);
                if s.status.disposed() || s.status.unregistered() {
                    let guid = match s.key_hash {
                        Some(k) => Some(Guid::from_bytes(k)),
                        None => EndpointData::parse(&self.scratch[..n])
                            .ok()
                            .map(|d| d.endpoint_guid),
                    };
                    match guid {
                        Some(g) if g.prefix == s.writer.prefix => self.remove_remote_endpoint(g),
                        _ => self.stats.dropped_bad_discovery += 1,
                    }
                    continue;
                }
                let info = EndpointData::parse(&self.scratch[..n])
                    .ok()
                    .filter(|d| d.endpoint_guid.prefix == s.writer.prefix)
                    .map(|d| EndpointInfo::from_data(&d, i == SEDP_PUB, self.cfg.prefer_tcp));
                match info {
                    Some(Ok(info)) => self.add_remote_endpoint(now, info),
                    Some(Err(_)) => self.stats.dropped_table_full += 1,
                    None => self.stats.dropped_bad_discovery += 1,
                }
            }
        }
        // Participant messages only matter as traffic (the lease is refreshed on receipt).
        while let Some(s) = self.builtin_readers[PMD].pop() {
            if let Some(d) = s.data {
                self.pool.free(d);
            }
        }
    }

    fn remote_locator(&self, info: &EndpointInfo) -> Option<Locator> {
        info.locator.or_else(|| {
            self.participant(info.guid.prefix)
                .and_then(|p| p.default_unicast)
        })
    }

    fn add_remote_endpoint(&mut self, now: Instant, info: EndpointInfo) {
        if self.participant(info.guid.prefix).is_none() {
            self.stats.dropped_unknown_endpoint += 1;
            return;
        }
        if let Some(r) = self
            .remote
            .iter_mut()
            .flatten()
            .find(|r| r.guid == info.guid)
        {
            // An update: refresh the locator; QoS changes take effect on re-match.
            *r = info;
        } else {
            let Some(slot) = self.remote.iter_mut().find(|r| r.is_none()) else {
                self.stats.dropped_table_full += 1;
                return;
            };
            *slot = Some(info);
        }
        let Some(loc) = self.remote_locator(&info) else {
            self.stats.dropped_bad_discovery += 1;
            return;
        };
        if info.is_writer {
            for i in 0..MAX_READERS {
                self.match_reader(now, i, &info, loc);
            }
        } else {
            for i in 0..MAX_WRITERS {
                self.match_writer(now, i, &info, loc);
            }
        }
    }

    fn match_writer(&mut self, now: Instant, i: usize, remote: &EndpointInfo, loc: Locator) {
        let Some(lw) = self.writers[i].as_mut() else {
            return;
        };
        if let Some(p) = lw.writer.proxy_mut(remote.guid) {
            // Already matched: an update may have moved the reader.
            p.locator = loc;
            return;
        }
        let ev = match check_match(&lw.info, remote) {
            MatchResult::Unrelated => return,
            MatchResult::Incompatible(policy) => Event::IncompatibleQos {
                local: Endpoint::Writer(WriterHandle(i as u8)),
                remote: remote.guid,
                policy,
            },
            MatchResult::Match => {
                let reliable = remote.reliability == Reliability::Reliable;
                if !lw
                    .writer
                    .add_proxy(now, remote.guid, loc, reliable, remote.durability)
                {
                    self.stats.dropped_table_full += 1;
                    return;
                }
                Event::Matched {
                    local: Endpoint::Writer(WriterHandle(i as u8)),
                    remote: remote.guid,
                }
            }
        };
        self.emit(ev);
    }

    fn match_reader(&mut self, now: Instant, i: usize, remote: &EndpointInfo, loc: Locator) {
        let Some(lr) = self.readers[i].as_mut() else {
            return;
        };
        if lr.reader.proxy(remote.guid).is_some() {
            // Already matched: an update may have moved the writer (add_proxy refreshes it).
            lr.reader.add_proxy(now, remote.guid, loc, true);
            return;
        }
        let ev = match check_match(remote, &lr.info) {
            MatchResult::Unrelated => return,
            MatchResult::Incompatible(policy) => Event::IncompatibleQos {
                local: Endpoint::Reader(ReaderHandle(i as u8)),
                remote: remote.guid,
                policy,
            },
            MatchResult::Match => {
                let reliable = remote.reliability == Reliability::Reliable;
                if !lr.reader.add_proxy(now, remote.guid, loc, reliable) {
                    self.stats.dropped_table_full += 1;
                    return;
                }
                Event::Matched {
                    local: Endpoint::Reader(ReaderHandle(i as u8)),
                    remote: remote.guid,
                }
            }
        };
        self.emit(ev);
    }

    fn remove_remote_endpoint(&mut self, guid: Guid) {
        for r in self.remote.iter_mut() {
            if r.is_some_and(|r| r.guid == guid) {
                *r = None;
            }
        }
        for i in 0..MAX_WRITERS {
            let hit = self.writers[i]
                .as_mut()
                .is_some_and(|lw| lw.writer.remove_proxy(guid));
            if hit {
                self.emit(Event::Unmatched {
                    local: Endpoint::Writer(WriterHandle(i as u8)),
                    remote: guid,
                });
            }
        }
        for i in 0..MAX_READERS {
            let hit = match self.readers[i].as_mut() {
                Some(lr) => lr.reader.remove_proxy(guid, &mut self.pool),
                None => false,
            };
            if hit {
                self.emit(Event::Unmatched {
                    local: Endpoint::Reader(ReaderHandle(i as u8)),
                    remote: guid,
                });
            }
        }
    }

    /// Publishes (or with `dispose`, withdraws) a local endpoint in SEDP.
    fn announce_endpoint(&mut self, info: &EndpointInfo, history: History, dispose: bool) {
        let which = if info.is_writer { SEDP_PUB } else { SEDP_SUB };
        let key = info.guid.to_bytes();
        self.builtin_writers[which].remove_instance(&key, &mut self.pool);
        let mut buf = [0u8; 1024];
        let (len, status) = if dispose {
            (
                0,
                StatusInfo(StatusInfo::DISPOSED | StatusInfo::UNREGISTERED),
            )
        } else {
            let mut parts = [""; MAX_PARTITIONS];
            let mut np = 0;
            for (slot, p) in parts.iter_mut().zip(info.partitions.iter()) {
                *slot = p;
                np += 1;
            }
            let reps: &[i16] = if info.is_writer {
                &[DataRepresentations::XCDR1]
            } else {
                &[DataRepresentations::XCDR1, DataRepresentations::XCDR2]
            };
            let mut d = EndpointData::new(info.guid, info.topic.as_str(), info.type_name.as_str());
            d.participant_guid = Some(Guid::new(self.cfg.guid_prefix, EntityId::PARTICIPANT));
            d.protocol_version = Some(ProtocolVersion::V2_3);
            d.vendor_id = Some(VendorId::POLLEN);
            d.reliability = Some(wire::Reliability {
                kind: match info.reliability {
                    Reliability::Reliable => wire::ReliabilityKind::Reliable,
                    Reliability::BestEffort => wire::ReliabilityKind::BestEffort,
                },
                max_blocking_time: Duration::from_micros(100_000),
            });
            d.durability = Some(match info.durability {
                Durability::Volatile => wire::Durability::Volatile,
                Durability::TransientLocal => wire::Durability::TransientLocal,
            });
            d.history = Some(match history {
                History::KeepLast(n) => wire::History {
                    keep_all: false,
                    depth: n as i32,
                },
                History::KeepAll => wire::History {
                    keep_all: true,
                    depth: 1,
                },
            });
            if info.deadline_us != u64::MAX {
                d.deadline = Some(Duration::from_micros(info.deadline_us));
            }
            if info.liveliness_us != u64::MAX {
                d.liveliness = Some(wire::Liveliness {
                    kind: wire::LivelinessKind::Automatic,
                    lease_duration: Duration::from_micros(info.liveliness_us),
                });
            }
            if np > 0 {
                d.partition = Some(StringSeq::List(&parts[..np]));
            }
            d.data_representation = Some(DataRepresentations::new(reps));
            d.unicast_locators = LocatorList::from_iter(
                Some(self.user_locator())
                    .into_iter()
                    .chain(self.tcp_locator()),
            );
            match d.emit(&mut buf) {
                Ok(n) => (n, StatusInfo(0)),
                Err(_) => return,
            }
        };
        let w = &mut self.builtin_writers[which];
        if w.add(
            self.now,
            &mut self.pool,
            &[&buf[..len]],
            None,
            Some(key),
            status,
        )
        .is_err()
        {
            self.stats.dropped_no_space += 1;
        }
    }

    // ----------------------------------------------------------------------------------------
    // Application commands

    fn next_entity(&mut self, kind: u8) -> EntityId {
        let id = EntityId::new(self.next_entity_key, kind);
        self.next_entity_key = (self.next_entity_key + 1) & 0x00ff_ffff;
        id
    }

    /// `qos` = (reliability, durability, deadline, liveliness lease).
    fn local_info(
        &self,
        guid: Guid,
        topic: &TopicSpec<'_>,
        is_writer: bool,
        qos: (Reliability, Durability, Option<Span>, Option<Span>),
    ) -> Result<EndpointInfo, CreateError> {
        let (reliability, durability, deadline, liveliness) = qos;
        if !topic.fits() {
            return Err(CreateError::TooLarge);
        }
        let reps: &[i16] = if is_writer {
            &[DataRepresentations::XCDR1]
        } else {
            &[DataRepresentations::XCDR1, DataRepresentations::XCDR2]
        };
        Ok(EndpointInfo {
            guid,
            is_writer,
            keyed: topic.keyed,
            topic: Name::new(topic.name).ok_or(CreateError::TooLarge)?,
            type_name: Name::new(topic.type_name).ok_or(CreateError::TooLarge)?,
            partitions: Partitions::from_iter(topic.partitions.iter().copied())
                .ok_or(CreateError::TooLarge)?,
            reliability,
            durability,
            deadline_us: deadline.map_or(u64::MAX, |d| d.micros()),
            liveliness_us: liveliness.map_or(u64::MAX, |d| d.micros()),
            exclusive_ownership: false,
            data_representation: DataRepresentations::new(reps),
            has_data_representation: true,
            locator: Some(self.user_locator()),
        })
    }

    fn check_history(h: History) -> Result<(), CreateError> {
        match h {
            History::KeepLast(n) if n == 0 || n as usize > MAX_HISTORY => Err(CreateError::BadQos),
            _ => Ok(()),
        }
    }

    /// Announces the new local endpoint in `slot` in SEDP and matches it with the remote
    /// endpoints of the other direction already known.
    fn publish_and_match(&mut self, now: Instant, slot: usize, info: &EndpointInfo, h: History) {
        self.announce_endpoint(info, h, false);
        for r in 0..MAX_REMOTE_ENDPOINTS {
            let Some(remote) = self.remote[r].filter(|r| r.is_writer != info.is_writer) else {
                continue;
            };
            if let Some(loc) = self.remote_locator(&remote) {
                if info.is_writer {
                    self.match_writer(now, slot, &remote, loc);
                } else {
                    self.match_reader(now, slot, &remote, loc);
                }
            }
        }
    }

    /// Creates a writer, announces it in SEDP and matches it with known readers.
    pub fn create_writer(
        &mut self,
        now: Instant,
        topic: &TopicSpec<'_>,
        qos: &WriterQos,
    ) -> Result<WriterHandle, CreateError> {
        let now = self.tick(now);
        Self::check_history(qos.history)?;
        let slot = self
            .writers
            .iter()
            .position(|w| w.is_none())
            .ok_or(CreateError::TooManyEndpoints)?;
        let kind = if topic.keyed { 0x02 } else { 0x03 };
        let guid = Guid::new(self.cfg.guid_prefix, self.next_entity(kind));
        let info = self.local_info(
            guid,
            topic,
            true,
            (
                qos.reliability,
                qos.durability,
                qos.deadline,
                qos.liveliness_lease,
            ),
        )?;
        let writer = Writer::new(
            guid,
            qos.reliability == Reliability::Reliable,
            qos.durability,
            qos.history,
            qos.max_samples as usize,
            self.cfg.heartbeat_period,
        );
        self.writers[slot] = Some(LocalWriter { info, writer });
        self.publish_and_match(now, slot, &info, qos.history);
        Ok(WriterHandle(slot as u8))
    }

    /// Creates a reader, announces it in SEDP and matches it with known writers.
    pub fn create_reader(
        &mut self,
        now: Instant,
        topic: &TopicSpec<'_>,
        qos: &ReaderQos,
    ) -> Result<ReaderHandle, CreateError> {
        let now = self.tick(now);
        Self::check_history(qos.history)?;
        let slot = self
            .readers
            .iter()
            .position(|r| r.is_none())
            .ok_or(CreateError::TooManyEndpoints)?;
        let kind = if topic.keyed { 0x07 } else { 0x04 };
        let guid = Guid::new(self.cfg.guid_prefix, self.next_entity(kind));
        let info = self.local_info(
            guid,
            topic,
            false,
            (
                qos.reliability,
                qos.durability,
                qos.deadline,
                qos.liveliness_lease,
            ),
        )?;
        let reader = Reader::new(
            guid,
            qos.reliability == Reliability::Reliable,
            qos.history,
            qos.max_samples as usize,
        );
        self.readers[slot] = Some(LocalReader { info, reader });
        self.publish_and_match(now, slot, &info, qos.history);
        Ok(ReaderHandle(slot as u8))
    }

    /// Deletes a writer: withdrawn from SEDP, its history freed. Returns false if unknown.
    pub fn delete_writer(&mut self, now: Instant, w: WriterHandle) -> bool {
        self.tick(now);
        let Some(mut lw) = self.writers.get_mut(w.0 as usize).and_then(|s| s.take()) else {
            return false;
        };
        lw.writer.clear(&mut self.pool);
        self.announce_endpoint(&lw.info, History::KeepLast(1), true);
        true
    }

    /// Deletes a reader: withdrawn from SEDP, its samples freed. Returns false if unknown.
    pub fn delete_reader(&mut self, now: Instant, r: ReaderHandle) -> bool {
        self.tick(now);
        let Some(mut lr) = self.readers.get_mut(r.0 as usize).and_then(|s| s.take()) else {
            return false;
        };
        lr.reader.clear(&mut self.pool);
        self.announce_endpoint(&lr.info, History::KeepLast(1), true);
        true
    }

    fn write_change(
        &mut self,
        now: Instant,
        w: WriterHandle,
        payload: &[u8],
        source_time: Time,
        key_hash: Option<[u8; 16]>,
        status: StatusInfo,
    ) -> Result<SequenceNumber, WriteError> {
        let now = self.tick(now);
        if payload.len() > MAX_SAMPLE {
            return Err(WriteError::TooLarge);
        }
        let lw = self
            .writers
            .get_mut(w.0 as usize)
            .and_then(|s| s.as_mut())
            .ok_or(WriteError::UnknownWriter)?;
        if (status.0 != 0 || key_hash.is_some()) && !lw.info.keyed {
            return Err(WriteError::NotKeyed);
        }
        let sn = lw
            .writer
            .add(
                now,
                &mut self.pool,
                &[payload],
                Some(source_time),
                key_hash,
                status,
            )
            .map_err(|e| match e {
                AddError::Full => WriteError::HistoryFull,
                AddError::NoSpace => WriteError::OutOfMemory,
            })?;
        self.stats.samples_written += 1;
        Ok(SequenceNumber(sn))
    }

    /// Writes one sample: `payload` is the serialized data including its 4-byte encapsulation
    /// header (for example `00 01 00 00` + CDR little-endian).
    pub fn write(
        &mut self,
        now: Instant,
        w: WriterHandle,
        payload: &[u8],
        source_time: Time,
    ) -> Result<SequenceNumber, WriteError> {
        self.write_change(now, w, payload, source_time, None, StatusInfo(0))
    }

    /// Writes one sample of a keyed topic with its 16-byte key hash: KEEP_LAST then keeps the
    /// newest samples per instance, and the hash travels as inline QoS.
    pub fn write_keyed(
        &mut self,
        now: Instant,
        w: WriterHandle,
        payload: &[u8],
        key_hash: [u8; 16],
        source_time: Time,
    ) -> Result<SequenceNumber, WriteError> {
        self.write_change(now, w, payload, source_time, Some(key_hash), StatusInfo(0))
    }

    /// Disposes an instance of a keyed topic. `key` is the serialized key (encapsulation header
    /// included) or empty, `key_hash` its 16-byte hash.
    pub fn dispose(
        &mut self,
        now: Instant,
        w: WriterHandle,
        key: &[u8],
        key_hash: [u8; 16],
        source_time: Time,
    ) -> Result<SequenceNumber, WriteError> {
        self.write_change(
            now,
            w,
            key,
            source_time,
            Some(key_hash),
            StatusInfo(StatusInfo::DISPOSED),
        )
    }

    /// Unregisters an instance of a keyed topic (see [`Engine::dispose`]).
    pub fn unregister(
        &mut self,
        now: Instant,
        w: WriterHandle,
        key: &[u8],
        key_hash: [u8; 16],
        source_time: Time,
    ) -> Result<SequenceNumber, WriteError> {
        self.write_change(
            now,
            w,
            key,
            source_time,
            Some(key_hash),
            StatusInfo(StatusInfo::UNREGISTERED),
        )
    }

    /// Copies the oldest available sample of reader `r` into `out`.
    pub fn take(
        &mut self,
        r: ReaderHandle,
        out: &mut [u8],
    ) -> Result<Option<SampleInfo>, TakeError> {
        let lr = self
            .readers
            .get_mut(r.0 as usize)
            .and_then(|s| s.as_mut())
            .ok_or(TakeError::UnknownReader)?;
        let Some(next) = lr.reader.peek() else {
            return Ok(None);
        };
        let needed = next.data.as_ref().map_or(0, |d| d.len());
        if needed > out.len() {
            return Err(TakeError::BufferTooSmall { needed });
        }
        let Some(s) = lr.reader.pop() else {
            return Ok(None);
        };
        let len = match s.data {
            Some(d) => {
                let n = self.pool.read(&d, out);
                self.pool.free(d);
                n
            }
            None => 0,
        };
        let state = if s.status.disposed() {
            InstanceState::Disposed
        } else if s.status.unregistered() {
            InstanceState::Unregistered
        } else {
            InstanceState::Alive
        };
        Ok(Some(SampleInfo {
            writer: s.writer,
            sn: SequenceNumber(s.sn),
            source_timestamp: s.timestamp,
            len,
            state,
            key_hash: s.key_hash,
        }))
    }

    /// Number of remote endpoints matched with writer `w`.
    pub fn matched_readers(&self, w: WriterHandle) -> usize {
        self.writers
            .get(w.0 as usize)
            .and_then(|s| s.as_ref())
            .map_or(0, |lw| lw.writer.proxies.iter().flatten().count())
    }

    /// Matched readers known to have matched writer `w` in turn: reliable ones that sent an
    /// ACKNACK (a reader only acknowledges a writer it knows), plus best-effort ones, which give
    /// no sign. Writing before a volatile reader is ready can lose samples for it: some stacks
    /// (Cyclone DDS) skip what was written before their first HEARTBEAT from the writer.
    pub fn ready_readers(&self, w: WriterHandle) -> usize {
        self.writers
            .get(w.0 as usize)
            .and_then(|s| s.as_ref())
            .map_or(0, |lw| {
                lw.writer
                    .proxies
                    .iter()
                    .flatten()
                    .filter(|p| !p.reliable || p.last_ack_count.is_some())
                    .count()
            })
    }

    /// Number of remote endpoints matched with reader `r`.
    pub fn matched_writers(&self, r: ReaderHandle) -> usize {
        self.readers
            .get(r.0 as usize)
            .and_then(|s| s.as_ref())
            .map_or(0, |lr| lr.reader.proxies.iter().flatten().count())
    }

    /// Whether every sample of writer `w` was acknowledged by every matched reliable reader.
    pub fn is_acknowledged(&self, w: WriterHandle) -> bool {
        self.writers
            .get(w.0 as usize)
            .and_then(|s| s.as_ref())
            .is_some_and(|lw| !lw.writer.unacknowledged())
    }

    /// The remote participants currently known.
    pub fn participants(&self) -> impl Iterator<Item = ParticipantSummary> + '_ {
        self.participants
            .iter()
            .flatten()
            .map(|p| ParticipantSummary {
                guid_prefix: p.prefix,
                vendor: p.vendor,
                version: p.version,
                lease: p.lease,
                user_data: p.user_data,
                user_data_len: p.user_data_len,
            })
    }

    /// The remote user endpoints currently known from SEDP.
    pub fn remote_endpoints(&self) -> impl Iterator<Item = EndpointSummary<'_>> + '_ {
        self.remote.iter().flatten().map(|r| EndpointSummary {
            guid: r.guid,
            is_writer: r.is_writer,
            topic: r.topic.as_str(),
            type_name: r.type_name.as_str(),
            keyed: r.keyed,
            reliability: r.reliability,
            durability: r.durability,
            partitions: &r.partitions,
        })
    }

    /// The GUID of a local writer.
    pub fn writer_guid(&self, w: WriterHandle) -> Option<Guid> {
        self.writers
            .get(w.0 as usize)
            .and_then(|s| s.as_ref())
            .map(|lw| lw.writer.guid)
    }

    /// The GUID of a local reader.
    pub fn reader_guid(&self, r: ReaderHandle) -> Option<Guid> {
        self.readers
            .get(r.0 as usize)
            .and_then(|s| s.as_ref())
            .map(|lr| lr.reader.guid)
    }

    // ----------------------------------------------------------------------------------------
    // Outputs

    /// Writes the next owed datagram into `buf` (which should hold `Config::mtu` bytes).
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        let now = self.tick(now);
        let mtu = self.cfg.mtu.min(buf.len());
        // Leave room to frame the message for a stream.
        let build = mtu.saturating_sub(CycloneFraming::OVERHEAD);
        let mut t = self.next_transmit(now, &mut buf[..build])?;
        if let Destination::Udp(loc) = t.destination {
            if loc.kind() == LocatorKind::TcpV4 {
                let Some(len) = self.framing.frame(&mut buf[..mtu], t.len) else {
                    // Cannot happen with the room reserved above; counted if it ever does
                    // (reliable data is repaired, best-effort data is lost).
                    self.stats.dropped_unframeable += 1;
                    return None;
                };
                t.len = len;
                t.destination = Destination::Tcp(loc);
            }
        }
        self.stats.datagrams_out += 1;
        self.stats.bytes_out += t.len as u64;
        Some(t)
    }

    fn next_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        // SPDP: the periodic announcement, one destination per call.
        while let Some(i) = self.announce_cursor {
            if i >= self.spdp_destination_count() {
                self.announce_cursor = None;
                break;
            }
            self.announce_cursor = Some(i + 1);
            let Some(dst) = self.spdp_destination(i) else {
                continue;
            };
            // Not to ourselves (a peer list that probes our own ports, UDP or TCP).
            if dst == self.metatraffic_locator() || Some(dst) == self.tcp_locator() {
                continue;
            }
            if let Some(len) = self.spdp_datagram(buf, None) {
                return Some(Transmit {
                    destination: Destination::Udp(dst),
                    len,
                });
            }
        }
        // SPDP: a prompt directed reply to newcomers.
        for i in 0..MAX_PARTICIPANTS {
            let Some(p) = self.participants[i] else {
                continue;
            };
            if p.directed_spdp_owed == 0 {
                continue;
            }
            if let Some(pp) = self.participants[i].as_mut() {
                pp.directed_spdp_owed -= 1;
            }
            if let (Some(dst), Some(len)) = (p.metatraffic, self.spdp_datagram(buf, Some(p.prefix)))
            {
                return Some(Transmit {
                    destination: Destination::Udp(dst),
                    len,
                });
            }
        }
        if self.shutting_down {
            return None;
        }
        let own = self.cfg.guid_prefix;
        let fragment_size = self.fragment_size();
        // Writers: repairs, new data, heartbeats.
        for i in 0..3 {
            for pi in 0..MAX_MATCHED {
                let w = &mut self.builtin_writers[i];
                if let Some((len, dst, packed)) =
                    transmit::writer_datagram(w, pi, &self.pool, own, true, fragment_size, buf)
                {
                    self.count_packed(packed);
                    return Some(Transmit {
                        destination: Destination::Udp(dst),
                        len,
                    });
                }
            }
        }
        for wi in 0..MAX_WRITERS {
            for pi in 0..MAX_MATCHED {
                let Some(lw) = self.writers[wi].as_mut() else {
                    break;
                };
                if let Some((len, dst, packed)) = transmit::writer_datagram(
                    &mut lw.writer,
                    pi,
                    &self.pool,
                    own,
                    false,
                    fragment_size,
                    buf,
                ) {
                    self.count_packed(packed);
                    return Some(Transmit {
                        destination: Destination::Udp(dst),
                        len,
                    });
                }
            }
        }
        // Readers: ACKNACKs owed.
        for i in 0..3 + MAX_READERS {
            let reader = if i < 3 {
                Some(&mut self.builtin_readers[i])
            } else {
                self.readers[i - 3].as_mut().map(|lr| &mut lr.reader)
            };
            let Some(reader) = reader else { continue };
            if !reader.acknack_owed(now) {
                continue;
            }
            for pi in 0..MAX_MATCHED {
                let Some(p) = reader.proxies[pi] else {
                    continue;
                };
                let Some(a) = reader.take_acknack(now, p.guid) else {
                    continue;
                };
                let mut b = MessageBuilder::new(buf, &HeaderRepr::new(own)).ok()?;
                b.push(&SubmessageRepr::InfoDst(InfoDstRepr {
                    guid_prefix: p.guid.prefix,
                }))
                .ok()?;
                b.push(&SubmessageRepr::AckNack(a)).ok()?;
                self.stats.acknacks_sent += 1;
                if a.final_flag {
                    // After a HEARTBEAT: ask for the fragments of a partial sample too.
                    if let Some(nf) = reader.nack_frag(p.guid) {
                        let _ = b.push(&SubmessageRepr::NackFrag(nf));
                    }
                }
                return Some(Transmit {
                    destination: Destination::Udp(p.locator),
                    len: b.finish(),
                });
            }
        }
        None
    }

    /// Bytes per DATA_FRAG fragment: the configured size, shrunk to what one datagram of the
    /// MTU can carry, a multiple of 4.
    fn fragment_size(&self) -> usize {
        let fit = self.cfg.mtu.saturating_sub(transmit::fragment_overhead());
        (self.cfg.fragment_size.min(fit) & !3).max(4)
    }

    fn count_packed(&mut self, p: transmit::Packed) {
        self.stats.retransmits += p.repairs as u64;
        self.stats.gaps_sent += p.gaps as u64;
        self.stats.heartbeats_sent += p.heartbeats as u64;
    }

    /// The next application event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop()
    }

    /// When `handle_timeout` must be called next (after draining transmits and events).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t = if self.shutting_down {
            None
        } else {
            Some(self.next_announce.min(self.next_liveliness))
        };
        let mut consider = |x: Option<Instant>| {
            if let Some(x) = x {
                t = Some(t.map_or(x, |t: Instant| t.min(x)));
            }
        };
        for p in self.participants.iter().flatten() {
            consider(Some(p.last_seen + p.lease + Span::from_micros(1)));
        }
        for w in self.builtin_writers.iter() {
            consider(w.next_heartbeat);
        }
        for lw in self.writers.iter().flatten() {
            consider(lw.writer.next_heartbeat);
        }
        for r in self.builtin_readers.iter() {
            consider(r.next_deadline());
        }
        for lr in self.readers.iter().flatten() {
            consider(lr.reader.next_deadline());
        }
        t
    }
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("guid_prefix", &self.cfg.guid_prefix)
            .field("participants", &self.participants.iter().flatten().count())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(not(feature = "alloc"))]
    fn drain(e: &mut Engine, now: Instant) -> ([u8; 2048], usize, usize) {
        let mut first = [0u8; 2048];
        let mut first_len = 0;
        let mut n = 0;
        let mut buf = [0u8; 2048];
        while let Some(t) = e.poll_transmit(now, &mut buf) {
            if n == 0 {
                first[..t.len].copy_from_slice(&buf[..t.len]);
                first_len = t.len;
            }
            n += 1;
        }
        (first, first_len, n)
    }

    /// An engine built in place (`idle` + `init`, as a `static` on a microcontroller would be)
    /// behaves exactly like one from `new`, and `init` again forgets everything.
    #[cfg(not(feature = "alloc"))]
    #[test]
    fn init_in_place_is_new() {
        extern crate std;
        use std::boxed::Box;
        let mut cfg = Config::new(GuidPrefix([3; 12]));
        cfg.multicast = false;
        cfg.add_peer(crate::Peer {
            address: [127, 0, 0, 1],
            port: Some(7412),
        });
        let now = Instant(5);
        let mut a = Box::new(Engine::new(cfg.clone(), now).unwrap());
        let mut b = Box::new(Engine::idle());
        assert_eq!(b.poll_transmit(now, &mut [0u8; 1500]), None);
        b.init(cfg.clone(), now).unwrap();
        let (fa, la, na) = drain(&mut a, now);
        let (fb, lb, nb) = drain(&mut b, now);
        assert_eq!((na, la), (nb, lb));
        assert_eq!(fa[..la], fb[..lb]);
        let topic = TopicSpec::new("t", "T");
        b.create_writer(now, &topic, &WriterQos::default()).unwrap();
        b.init(cfg, now).unwrap();
        assert!(b.writers.iter().all(|w| w.is_none()));
        assert_eq!(b.pool.free_blocks(), a.pool.free_blocks());
        let (fc, lc, _) = drain(&mut b, now);
        assert_eq!(fa[..la], fc[..lc]);
    }

    /// Prints what each capacity costs (`cargo test -p pollen-engine sizes -- --nocapture`);
    /// the README's table comes from here.
    #[test]
    fn sizes() {
        extern crate std;
        use core::mem::size_of;
        let rows = [
            ("Engine", size_of::<super::Engine>()),
            ("payload pool", size_of::<crate::pool::Pool>()),
            ("remote participant", size_of::<Option<RemoteParticipant>>()),
            ("remote endpoint", size_of::<Option<EndpointInfo>>()),
            (
                "writer (with its history and proxies)",
                size_of::<Option<LocalWriter>>(),
            ),
            (
                "reader (with its slots and proxies)",
                size_of::<Option<LocalReader>>(),
            ),
            ("history entry", size_of::<Option<crate::writer::Change>>()),
            (
                "reader proxy",
                size_of::<Option<crate::writer::ReaderProxy>>(),
            ),
            (
                "reader sample slot",
                size_of::<Option<crate::reader::Sample>>(),
            ),
            (
                "writer proxy",
                size_of::<Option<crate::reader::WriterProxy>>(),
            ),
            ("event", size_of::<Option<Event>>()),
        ];
        for (name, size) in rows {
            std::println!("{name}: {size} bytes");
        }
        assert!(size_of::<super::Engine>() > size_of::<crate::pool::Pool>());
    }
}
