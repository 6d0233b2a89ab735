//! The engine as the JavaScript side drives it, in plain Rust (tested on the host): numbers
//! for handles and times, JSON for the rare structured values, byte buffers kept here and
//! reused, so the message path allocates nothing but the bytes handed to JavaScript.
//!
//! Time comes in as microseconds of a monotonic clock the caller picks (`performance.now()`
//! × 1000) and source timestamps as wall-clock milliseconds (`Date.now()`); randomness (the
//! GUID prefix and the hash seed) comes in with the options.

use crate::json::{self, Object};
use pollen_engine::config::ports;
use pollen_engine::wire::{GuidPrefix, Locator, Time, VendorId};
use pollen_engine::{
    Config, Destination, Durability, Endpoint, Engine, Event, History, InstanceState, Instant,
    Peer, ReaderHandle, ReaderQos, Reliability, SampleInfo, TopicSpec, WriteError, WriterHandle,
    WriterQos,
};
use std::collections::HashMap;

/// How a participant starts.
#[derive(Debug, Clone)]
pub struct Options {
    /// DDS domain id (0..=232).
    pub domain_id: u32,
    /// The participant id whose ports the transport bound.
    pub participant_id: u16,
    /// Explicit (metatraffic, user) unicast ports announced instead of the participant id's
    /// (a relay's allocation).
    pub unicast_ports: Option<(u16, u16)>,
    /// The IPv4 address announced in our locators.
    pub address: [u8; 4],
    /// SPDP over the multicast group (the transport joined it).
    pub multicast: bool,
    /// Initial unicast peers.
    pub peers: Vec<Peer>,
    /// Our GUID prefix.
    pub guid_prefix: GuidPrefix,
    /// The key of the engine's hash indexes (random, from the caller).
    pub hash_seed: u64,
    /// Participant USER_DATA.
    pub user_data: Vec<u8>,
    /// Largest datagram; `None`: 16384 on loopback, 1472 elsewhere (as the native tool).
    pub mtu: Option<usize>,
}

/// A GUID prefix in Pollen's layout from ten random bytes: vendor id in octets 0-1.
pub fn guid_prefix_from_random(random: &[u8]) -> Option<GuidPrefix> {
    let r: [u8; 10] = random.get(..10)?.try_into().ok()?;
    let mut p = [0u8; 12];
    p[..2].copy_from_slice(&VendorId::POLLEN.0);
    p[2..].copy_from_slice(&r);
    if r == [0; 10] {
        p[11] = 1; // the all-zero prefix is GUIDPREFIX_UNKNOWN
    }
    Some(GuidPrefix(p))
}

/// An engine instant from JavaScript microseconds (negative, NaN or infinite clamp to the
/// ends; the engine clamps and counts time that goes backwards).
pub fn instant(us: f64) -> Instant {
    if us.is_nan() || us <= 0.0 {
        Instant::ZERO
    } else {
        Instant::from_micros(us as u64)
    }
}

/// A source timestamp from wall-clock milliseconds since the Unix epoch, with the nanosecond
/// LSB cleared (Cyclone's ddsperf takes a sample with an odd timestamp for an embedded ping).
pub fn source_time(ms: f64) -> Time {
    let ns = if ms.is_nan() || ms <= 0.0 {
        0
    } else {
        (ms * 1e6) as u64
    };
    Time::from_nanos(ns & !1)
}

/// Milliseconds since the Unix epoch of a source timestamp.
pub fn time_ms(t: Time) -> f64 {
    t.to_nanos() as f64 / 1e6
}

/// QoS of a writer or reader as numbers from JavaScript.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Qos {
    /// Reliable (or best effort).
    pub reliable: bool,
    /// Transient-local (or volatile).
    pub transient_local: bool,
    /// KEEP_LAST depth; 0 for KEEP_ALL.
    pub depth: u16,
}

/// What the driver layer counts (the engine counts the protocol).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DriverStats {
    /// Datagrams handed to the engine.
    pub datagrams_received: u64,
    /// Datagrams handed to the transport.
    pub datagrams_sent: u64,
    /// Transmits not sent because they would have left loopback.
    pub refused_off_loopback: u64,
    /// Transmits to TCP locators or other kinds the JavaScript transports do not have.
    pub unsupported_destinations: u64,
    /// Samples taken.
    pub samples_taken: u64,
}

/// Why `write` failed, as a number for the JavaScript side (which names it).
pub fn write_error_code(e: WriteError) -> i32 {
    match e {
        WriteError::UnknownWriter => 1,
        WriteError::TooLarge => 2,
        WriteError::HistoryFull => 3,
        WriteError::OutOfMemory => 4,
        WriteError::NotKeyed => 5,
        WriteError::Unsupported => 6,
        // A kind this package does not know yet (the engine's errors grow): still an error
        // (never 0, which the JavaScript side would read as sequence number 0).
        _ => 99,
    }
}

/// Whether a transmit may go to `to` from a participant announcing `local`: one on loopback
/// sends only to loopback and to multicast groups (whose egress the transport pins to the
/// loopback interface), so nothing it says leaves the machine.
pub fn may_send(local: [u8; 4], to: [u8; 4]) -> bool {
    local[0] != 127 || to[0] == 127 || (224..=239).contains(&to[0])
}

/// One participant's engine and the buffers the JavaScript calls reuse.
pub struct Core {
    engine: Box<Engine<'static>>,
    address: [u8; 4],
    tx: Vec<u8>,
    rx: Vec<u8>,
    writers: Vec<Option<WriterHandle>>,
    readers: Vec<Option<ReaderHandle>>,
    writer_ids: HashMap<WriterHandle, u32>,
    reader_ids: HashMap<ReaderHandle, u32>,
    sample: Option<SampleInfo>,
    stats: DriverStats,
}

/// A transmit the engine wrote into [`Core::transmit_bytes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Out {
    /// Destination address.
    pub ip: [u8; 4],
    /// Destination port.
    pub port: u16,
    /// Bytes.
    pub len: usize,
}

impl Core {
    /// Creates the engine.
    pub fn new(opts: &Options, now: Instant) -> Result<Core, String> {
        let mut cfg = Config::new(opts.guid_prefix);
        cfg.hash_seed = Some(opts.hash_seed);
        cfg.domain_id = opts.domain_id;
        cfg.participant_id = opts.participant_id;
        cfg.unicast_ports = opts.unicast_ports;
        cfg.unicast_address = opts.address;
        cfg.multicast = opts.multicast;
        cfg.mtu = opts
            .mtu
            .unwrap_or(if opts.address[0] == 127 { 16_384 } else { 1472 });
        if opts.peers.len() > pollen_engine::limits::MAX_PEERS {
            return Err(format!(
                "at most {} peers",
                pollen_engine::limits::MAX_PEERS
            ));
        }
        for p in &opts.peers {
            cfg.add_peer(*p);
        }
        if !cfg.set_user_data(&opts.user_data) {
            return Err(format!(
                "participant user data longer than {} bytes",
                pollen_engine::limits::MAX_USER_DATA
            ));
        }
        let mtu = cfg.mtu;
        let engine = Engine::new(cfg, now)
            .map(Box::new)
            .map_err(|e| format!("configuration refused: {e}"))?;
        Ok(Core {
            engine,
            address: opts.address,
            tx: vec![0; mtu],
            rx: vec![0; 64 << 10],
            writers: Vec::new(),
            readers: Vec::new(),
            writer_ids: HashMap::new(),
            reader_ids: HashMap::new(),
            sample: None,
            stats: DriverStats::default(),
        })
    }

    /// The engine.
    pub fn engine(&self) -> &Engine<'static> {
        &self.engine
    }

    /// The driver counters.
    pub fn driver_stats(&self) -> &DriverStats {
        &self.stats
    }

    // -----------------------------------------------------------------------------------
    // Inputs

    /// One received datagram (never fails: the engine drops and counts bad input).
    pub fn handle_datagram(&mut self, now: Instant, src: Locator, dst: Locator, data: &[u8]) {
        self.stats.datagrams_received += 1;
        self.engine.handle_datagram(now, src, dst, data);
    }

    /// Runs the timers that are due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.engine.poll_timeout().is_some_and(|t| t <= now) {
            self.engine.handle_timeout(now);
        }
    }

    /// Says goodbye (SPDP dispose); the next transmits carry it.
    pub fn shutdown(&mut self, now: Instant) {
        self.engine.shutdown(now);
    }

    // -----------------------------------------------------------------------------------
    // Outputs

    /// The next datagram for the transport: its destination, its bytes in
    /// [`Core::transmit_bytes`]. Transmits that cannot go (off loopback, TCP) are skipped and
    /// counted.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Out> {
        loop {
            let t = self.engine.poll_transmit(now, &mut self.tx)?;
            let Destination::Udp(l) = t.destination else {
                self.stats.unsupported_destinations += 1;
                continue;
            };
            let Some((ip, port)) = l.ipv4() else {
                self.stats.unsupported_destinations += 1;
                continue;
            };
            if !may_send(self.address, ip) {
                self.stats.refused_off_loopback += 1;
                continue;
            }
            self.stats.datagrams_sent += 1;
            return Some(Out {
                ip,
                port,
                len: t.len,
            });
        }
    }

    /// The bytes of the last transmit.
    pub fn transmit_bytes(&self, out: &Out) -> &[u8] {
        &self.tx[..out.len.min(self.tx.len())]
    }

    /// The next event as a JSON object (`type` names it; endpoints by their ids here).
    pub fn poll_event(&mut self) -> Option<String> {
        let ev = self.engine.poll_event()?;
        Some(self.event_json(ev))
    }

    fn endpoint(&self, o: Object, e: Endpoint) -> Object {
        match e {
            Endpoint::Writer(w) => o.num(
                "writer",
                self.writer_ids.get(&w).copied().map_or(u64::MAX, u64::from),
            ),
            Endpoint::Reader(r) => o.num(
                "reader",
                self.reader_ids.get(&r).copied().map_or(u64::MAX, u64::from),
            ),
        }
    }

    fn event_json(&self, ev: Event) -> String {
        let o = Object::new();
        match ev {
            Event::ParticipantDiscovered(p) => o
                .str("type", "participantDiscovered")
                .str("guidPrefix", &p.to_string()),
            Event::ParticipantLost(p) => o
                .str("type", "participantLost")
                .str("guidPrefix", &p.to_string()),
            Event::Matched { local, remote } => self
                .endpoint(o.str("type", "matched"), local)
                .str("remote", &remote.to_string()),
            Event::Unmatched { local, remote } => self
                .endpoint(o.str("type", "unmatched"), local)
                .str("remote", &remote.to_string()),
            Event::IncompatibleQos {
                local,
                remote,
                policy,
            } => self
                .endpoint(o.str("type", "incompatibleQos"), local)
                .str("remote", &remote.to_string())
                .str("policy", &format!("{policy:?}")),
            Event::DataAvailable(r) => {
                self.endpoint(o.str("type", "dataAvailable"), Endpoint::Reader(r))
            }
            Event::AllAcknowledged(w) => {
                self.endpoint(o.str("type", "allAcknowledged"), Endpoint::Writer(w))
            }
            Event::Refused { table, guid } => o
                .str("type", "refused")
                .str("table", table.capacity_field())
                .str("guid", &guid.to_string()),
            Event::Evicted { table, guid } => o
                .str("type", "evicted")
                .str("table", table.capacity_field())
                .str("guid", &guid.to_string()),
            Event::StreamError { conn, error } => o
                .str("type", "streamError")
                .num("conn", u64::from(conn.0))
                .str("error", &format!("{error:?}")),
            Event::ReaderUnresponsive { writer, reader } => self
                .endpoint(
                    o.str("type", "readerUnresponsive"),
                    Endpoint::Writer(writer),
                )
                .str("remote", &reader.to_string()),
            Event::ReaderRecovered { writer, reader } => self
                .endpoint(o.str("type", "readerRecovered"), Endpoint::Writer(writer))
                .str("remote", &reader.to_string()),
            // An event this package does not know yet (the engine's events grow).
            other => o.str("type", "other").str("debug", &format!("{other:?}")),
        }
        .end()
    }

    /// The earliest engine deadline, in microseconds.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.engine.poll_timeout().map(|t| t.micros())
    }

    // -----------------------------------------------------------------------------------
    // Endpoints

    fn spec<'a>(
        topic: &'a str,
        type_name: &'a str,
        keyed: bool,
        partitions: &'a [&'a str],
    ) -> TopicSpec<'a> {
        TopicSpec {
            keyed,
            partitions,
            ..TopicSpec::new(topic, type_name)
        }
    }

    fn history(depth: u16) -> History {
        if depth == 0 {
            History::KeepAll
        } else {
            History::KeepLast(depth)
        }
    }

    fn reliability(q: Qos) -> Reliability {
        if q.reliable {
            Reliability::Reliable
        } else {
            Reliability::BestEffort
        }
    }

    fn durability(q: Qos) -> Durability {
        if q.transient_local {
            Durability::TransientLocal
        } else {
            Durability::Volatile
        }
    }

    /// Creates a writer; its id.
    pub fn create_writer(
        &mut self,
        now: Instant,
        topic: &str,
        type_name: &str,
        keyed: bool,
        partitions: &[&str],
        q: Qos,
    ) -> Result<u32, String> {
        let qos = WriterQos {
            reliability: Self::reliability(q),
            durability: Self::durability(q),
            history: Self::history(q.depth),
            ..WriterQos::default()
        };
        let spec = Self::spec(topic, type_name, keyed, partitions);
        let w = self
            .engine
            .create_writer(now, &spec, &qos)
            .map_err(|e| format!("cannot create the writer: {e}"))?;
        let id = u32::try_from(self.writers.len()).map_err(|_| "too many writers".to_string())?;
        self.writers.push(Some(w));
        self.writer_ids.insert(w, id);
        Ok(id)
    }

    /// Creates a reader; its id.
    pub fn create_reader(
        &mut self,
        now: Instant,
        topic: &str,
        type_name: &str,
        keyed: bool,
        partitions: &[&str],
        q: Qos,
    ) -> Result<u32, String> {
        let qos = ReaderQos {
            reliability: Self::reliability(q),
            durability: Self::durability(q),
            history: Self::history(q.depth),
            ..ReaderQos::default()
        };
        let spec = Self::spec(topic, type_name, keyed, partitions);
        let r = self
            .engine
            .create_reader(now, &spec, &qos)
            .map_err(|e| format!("cannot create the reader: {e}"))?;
        let id = u32::try_from(self.readers.len()).map_err(|_| "too many readers".to_string())?;
        self.readers.push(Some(r));
        self.reader_ids.insert(r, id);
        Ok(id)
    }

    fn writer(&self, id: u32) -> Option<WriterHandle> {
        self.writers.get(id as usize).copied().flatten()
    }

    fn reader(&self, id: u32) -> Option<ReaderHandle> {
        self.readers.get(id as usize).copied().flatten()
    }

    /// Deletes a writer (ids are never reused); false when unknown.
    pub fn delete_writer(&mut self, now: Instant, id: u32) -> bool {
        let Some(w) = self.writer(id) else {
            return false;
        };
        self.writers[id as usize] = None;
        self.writer_ids.remove(&w);
        self.engine.delete_writer(now, w)
    }

    /// Deletes a reader; false when unknown.
    pub fn delete_reader(&mut self, now: Instant, id: u32) -> bool {
        let Some(r) = self.reader(id) else {
            return false;
        };
        self.readers[id as usize] = None;
        self.reader_ids.remove(&r);
        self.engine.delete_reader(now, r)
    }

    /// Writes one serialized sample (encapsulation header included); its sequence number.
    pub fn write(
        &mut self,
        now: Instant,
        id: u32,
        payload: &[u8],
        source_time: Time,
    ) -> Result<i64, WriteError> {
        let w = self.writer(id).ok_or(WriteError::UnknownWriter)?;
        self.engine
            .write(now, w, payload, source_time)
            .map(|sn| sn.0)
    }

    /// Takes the next sample of reader `id` into [`Core::sample_bytes`]; false when there is
    /// none (or no such reader).
    pub fn take(&mut self, id: u32) -> bool {
        self.sample = None;
        let Some(r) = self.reader(id) else {
            return false;
        };
        match pollen_app::take(&mut self.engine, r, &mut self.rx) {
            Ok(Some(info)) => {
                self.stats.samples_taken += 1;
                self.sample = Some(info);
                true
            }
            _ => false,
        }
    }

    /// The last taken sample.
    pub fn sample(&self) -> Option<&SampleInfo> {
        self.sample.as_ref()
    }

    /// The bytes of the last taken sample.
    pub fn sample_bytes(&self) -> &[u8] {
        match &self.sample {
            Some(s) => &self.rx[..s.len.min(self.rx.len())],
            None => &[],
        }
    }

    /// The instance state of the last taken sample, as the JavaScript side names it.
    pub fn sample_state(&self) -> &'static str {
        match self.sample.map(|s| s.state) {
            Some(InstanceState::Alive) | None => "alive",
            Some(InstanceState::Disposed) => "disposed",
            Some(InstanceState::Unregistered) => "unregistered",
        }
    }

    /// Remote readers matched with writer `id`.
    pub fn matched_readers(&self, id: u32) -> usize {
        self.writer(id)
            .map_or(0, |w| self.engine.matched_readers(w))
    }

    /// Matched readers known to have matched writer `id` in turn.
    pub fn ready_readers(&self, id: u32) -> usize {
        self.writer(id).map_or(0, |w| self.engine.ready_readers(w))
    }

    /// Remote writers matched with reader `id`.
    pub fn matched_writers(&self, id: u32) -> usize {
        self.reader(id)
            .map_or(0, |r| self.engine.matched_writers(r))
    }

    /// Whether every sample of writer `id` was acknowledged by its reliable readers.
    pub fn is_acknowledged(&self, id: u32) -> bool {
        self.writer(id)
            .is_some_and(|w| self.engine.is_acknowledged(w))
    }

    /// The GUID of writer `id`.
    pub fn writer_guid(&self, id: u32) -> Option<String> {
        self.writer(id)
            .and_then(|w| self.engine.writer_guid(w))
            .map(|g| g.to_string())
    }

    /// The GUID of reader `id`.
    pub fn reader_guid(&self, id: u32) -> Option<String> {
        self.reader(id)
            .and_then(|r| self.engine.reader_guid(r))
            .map(|g| g.to_string())
    }

    // -----------------------------------------------------------------------------------
    // Tables and counters

    /// The remote participants, as a JSON array.
    pub fn participants_json(&self) -> String {
        json::array(self.engine.participants().map(|p| {
            Object::new()
                .str("guidPrefix", &p.guid_prefix.to_string())
                .str(
                    "vendor",
                    &format!("{:02x}{:02x}", p.vendor.0[0], p.vendor.0[1]),
                )
                .str("vendorName", p.vendor.name().unwrap_or(""))
                .num("leaseMs", p.lease.micros() / 1000)
                .str("userData", &String::from_utf8_lossy(p.user_data()))
                .end()
        }))
    }

    /// The remote user endpoints, as a JSON array.
    pub fn endpoints_json(&self) -> String {
        json::array(self.engine.remote_endpoints().map(|e| {
            let parts = json::array(e.partitions().map(|p| {
                let mut s = String::new();
                json::string(&mut s, p);
                s
            }));
            Object::new()
                .str("guid", &e.guid.to_string())
                .str("kind", if e.is_writer { "writer" } else { "reader" })
                .str("topic", e.topic)
                .str("typeName", e.type_name)
                .bool("keyed", e.keyed)
                .bool("reliable", e.reliability == Reliability::Reliable)
                .bool("transientLocal", e.durability == Durability::TransientLocal)
                .raw("partitions", &parts)
                .end()
        }))
    }

    /// Every engine counter and the driver's, as a JSON object `{engine, driver}`.
    pub fn stats_json(&self) -> String {
        let mut e = Object::new();
        for (name, v) in self.engine.stats().counters() {
            e = e.num(name, v);
        }
        let s = &self.stats;
        let d = Object::new()
            .num("datagramsReceived", s.datagrams_received)
            .num("datagramsSent", s.datagrams_sent)
            .num("refusedOffLoopback", s.refused_off_loopback)
            .num("unsupportedDestinations", s.unsupported_destinations)
            .num("samplesTaken", s.samples_taken)
            .end();
        Object::new()
            .raw("engine", &e.end())
            .raw("driver", &d)
            .end()
    }

    /// The sockets the transport must have: a JSON array of `{address, port, multicast,
    /// metatraffic}`.
    pub fn listen_locators_json(&self) -> String {
        json::array(self.engine.listen_locators().filter_map(|l| {
            let (ip, port) = l.locator.ipv4()?;
            Some(
                Object::new()
                    .str("address", &ip_string(ip))
                    .num("port", u64::from(port))
                    .bool("multicast", l.multicast)
                    .bool("metatraffic", l.metatraffic)
                    .end(),
            )
        }))
    }
}

/// Dotted quad.
pub fn ip_string(ip: [u8; 4]) -> String {
    let [a, b, c, d] = ip;
    format!("{a}.{b}.{c}.{d}")
}

/// The (metatraffic, user) unicast ports of participant `id` in `domain`; `None` past 65535
/// or for a domain above 232.
pub fn participant_ports(domain: u32, id: u16) -> Option<(u16, u16)> {
    if domain > 232 {
        return None;
    }
    let meta = u16::try_from(ports::metatraffic_unicast(domain, id)).ok()?;
    let user = u16::try_from(ports::user_unicast(domain, id)).ok()?;
    Some((meta, user))
}

/// The SPDP multicast port of `domain` (`None` above 232).
pub fn spdp_multicast_port(domain: u32) -> Option<u16> {
    if domain > 232 {
        return None;
    }
    u16::try_from(ports::spdp_multicast(domain)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload;

    fn opts(id: u16, prefix: u8) -> Options {
        Options {
            domain_id: 7,
            participant_id: id,
            unicast_ports: None,
            address: [127, 0, 0, 1],
            multicast: false,
            peers: vec![Peer {
                address: [127, 0, 0, 1],
                port: None,
            }],
            guid_prefix: guid_prefix_from_random(&[prefix; 10]).unwrap(),
            hash_seed: u64::from(prefix),
            user_data: Vec::new(),
            mtu: None,
        }
    }

    /// Delivers every transmit of `from` addressed to one of `to`'s ports.
    fn deliver(now: Instant, from: &mut Core, from_port: u16, to: &mut Core, to_ports: [u16; 2]) {
        while let Some(o) = from.poll_transmit(now) {
            if o.ip == [127, 0, 0, 1] && to_ports.contains(&o.port) {
                let bytes = from.transmit_bytes(&o).to_vec();
                to.handle_datagram(
                    now,
                    Locator::udpv4([127, 0, 0, 1], from_port),
                    Locator::udpv4(o.ip, o.port),
                    &bytes,
                );
            }
        }
    }

    #[test]
    fn two_cores_exchange_strings() {
        let mut t = Instant::ZERO;
        let mut a = Core::new(&opts(0, 1), t).unwrap();
        let mut b = Core::new(&opts(1, 2), t).unwrap();
        let pa = participant_ports(7, 0).unwrap();
        let pb = participant_ports(7, 1).unwrap();
        let q = Qos {
            reliable: true,
            transient_local: false,
            depth: 0,
        };
        let w = a
            .create_writer(t, "rt/chatter", payload::ROS_STRING, false, &[], q)
            .unwrap();
        let r = b
            .create_reader(t, "rt/chatter", payload::ROS_STRING, false, &[], q)
            .unwrap();
        let mut got = Vec::new();
        let mut written = 0;
        for _ in 0..400 {
            t = Instant::from_micros(t.micros() + 10_000);
            a.handle_timeout(t);
            b.handle_timeout(t);
            if a.ready_readers(w) > 0 && written < 5 {
                let p = payload::encode_string(&format!("hello {written}"));
                a.write(t, w, &p, source_time(1.7e12)).unwrap();
                written += 1;
            }
            deliver(t, &mut a, pa.0, &mut b, [pb.0, pb.1]);
            deliver(t, &mut b, pb.0, &mut a, [pa.0, pa.1]);
            while b.take(r) {
                got.push(payload::decode_string(b.sample_bytes()).unwrap());
                assert_eq!(b.sample_state(), "alive");
            }
            while let Some(e) = a.poll_event() {
                assert!(e.starts_with("{\"type\":"), "{e}");
            }
            while b.poll_event().is_some() {}
            if got.len() == 5 && a.is_acknowledged(w) {
                break;
            }
        }
        assert_eq!(got, ["hello 0", "hello 1", "hello 2", "hello 3", "hello 4"]);
        assert!(a.is_acknowledged(w));
        assert_eq!(a.matched_readers(w), 1);
        assert_eq!(b.matched_writers(r), 1);
        assert!(b.stats_json().contains("\"samplesTaken\":5"));
        assert!(a
            .participants_json()
            .contains(&format!("{}", b.engine().guid_prefix())));
        assert!(a.endpoints_json().contains("\"topic\":\"rt/chatter\""));
        assert!(a.writer_guid(w).is_some() && a.writer_guid(w + 1).is_none());
        assert!(a.delete_writer(t, w));
        assert!(!a.delete_writer(t, w), "an id is never reused");
        assert_eq!(
            a.write(t, w, &[0, 1, 0, 0], Time::ZERO),
            Err(WriteError::UnknownWriter)
        );
    }

    #[test]
    fn garbage_and_bad_ids_never_panic() {
        let t = Instant::from_micros(5);
        let mut a = Core::new(&opts(0, 3), t).unwrap();
        for data in [
            &[][..],
            &[0u8; 3],
            b"RTPS\x02\x01\x00\x00garbage",
            &[0xff; 100],
        ] {
            a.handle_datagram(t, Locator::INVALID, Locator::INVALID, data);
        }
        assert!(!a.take(7));
        assert_eq!(a.matched_readers(9), 0);
        assert!(!a.delete_reader(t, 1));
        assert!(a.stats_json().contains("\"datagramsReceived\":4"));
        assert!(a.listen_locators_json().contains("\"port\":9160"));
        // A relay's ports are announced instead of the participant id's; bad ones are refused.
        let relayed = Core::new(
            &Options {
                unicast_ports: Some((40_000, 40_001)),
                ..opts(0, 5)
            },
            t,
        )
        .unwrap();
        let l = relayed.listen_locators_json();
        assert!(
            l.contains("\"port\":40000") && l.contains("\"port\":40001"),
            "{l}"
        );
        assert!(!l.contains("\"port\":7410"), "{l}");
        assert!(Core::new(
            &Options {
                unicast_ports: Some((0, 40_001)),
                ..opts(0, 6)
            },
            t
        )
        .is_err());
        assert!(Core::new(
            &Options {
                domain_id: 300,
                ..opts(0, 4)
            },
            t
        )
        .is_err());
    }

    #[test]
    fn loopback_stays_on_loopback() {
        let lo = [127, 0, 0, 1];
        assert!(!may_send(lo, [10, 0, 0, 1]));
        assert!(may_send(lo, [127, 0, 0, 2]));
        assert!(may_send(lo, [239, 255, 0, 1]));
        assert!(may_send([10, 0, 0, 2], [10, 0, 0, 1]));
    }

    #[test]
    fn conversions() {
        assert_eq!(instant(-3.0), Instant::ZERO);
        assert_eq!(instant(f64::NAN), Instant::ZERO);
        assert_eq!(instant(1.5e6), Instant::from_micros(1_500_000));
        assert_eq!(instant(f64::INFINITY), Instant::from_micros(u64::MAX));
        assert_eq!(source_time(1.0).to_nanos(), 1_000_000);
        assert_eq!(source_time(f64::NAN), Time::from_nanos(0));
        assert_eq!(time_ms(source_time(1.7e12)), 1.7e12);
        assert_eq!(participant_ports(0, 0), Some((7410, 7411)));
        assert_eq!(participant_ports(1, 2), Some((7664, 7665)));
        assert_eq!(participant_ports(232, 119), None);
        assert_eq!(spdp_multicast_port(1), Some(7650));
        let p = guid_prefix_from_random(&[0; 10]).unwrap();
        assert_ne!(p, GuidPrefix::UNKNOWN);
        assert!(guid_prefix_from_random(&[1; 4]).is_none());
    }
}
