//! The whole-engine fuzz target: two engines in memory, the input drives engine A.
//!
//! [`fuzz_engine`] builds two participants, A and B, with fixed GUID prefixes, lets them
//! discover each other and match reliable endpoints on three topics, then reads the input as
//! a sequence of [`EngineOp`]s. Most of them act on A: datagrams fed to it (raw bytes from the
//! input, or a datagram B really sent with some bytes overwritten, which reaches deep states
//! without the fuzzer having to invent an RTPS message), time going forward or backward,
//! writes, takes, disposes, endpoints recreated. The rest keep the pair talking: writes on B,
//! pumping every owed datagram between the two (optionally losing some of them), letting the
//! clock run so heartbeats and repairs happen.
//!
//! After every operation, for both engines:
//!
//! - nothing panicked (a panic is the fuzzer's crash);
//! - every datagram `poll_transmit` produced is at most `Config::mtu` bytes, parses as an RTPS
//!   message with the engine's own GUID prefix, and each of its submessages frames and parses;
//! - a drain of `poll_transmit` ends (the engine goes quiet at a fixed `now`), and so does the
//!   exchange between the two;
//! - after timeouts were handled and transmits drained, `poll_timeout` is not in the past;
//! - every counter in `Stats` is monotonic, and `datagrams_in` counts each datagram once;
//! - `take` never reports more bytes than the buffer holds, and the reliable KEEP_ALL reader on
//!   A delivers each writer's samples in strictly increasing sequence numbers while matched;
//! - once the input is over, the pair recovers: within a minute of lossless running a sample
//!   written on each side's reliable writer reaches the other side (no input, forged or not,
//!   stalls a reliable flow for good).
//!
//! ## Input format
//!
//! A sequence of operations until the input runs out; each starts with one byte whose value
//! modulo [`OPS`] picks the operation, followed by its arguments (multi-byte integers little
//! endian). An operation cut short by the end of the input is not run. [`EngineOp::encode`]
//! writes this format, so seed generators need not know it.

use crate::stream::{CycloneFraming, Deframe, Framing};
use crate::wire::{Guid, GuidPrefix, Locator, Message, Time};
use crate::{
    Config, Destination, Durability, Engine, Event, History, Instant, ReaderHandle, ReaderQos,
    Reliability, Stats, TakeError, TopicSpec, WriterHandle, WriterQos,
};
use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;

/// A's GUID prefix.
pub const PREFIX_A: GuidPrefix = GuidPrefix([0x01, 0x0f, 0xaa, 0xaa, 1, 2, 3, 4, 5, 6, 7, 8]);
/// B's GUID prefix.
pub const PREFIX_B: GuidPrefix = GuidPrefix([0x01, 0x0f, 0xbb, 0xbb, 1, 2, 3, 4, 5, 6, 7, 8]);
/// A's MTU: smaller than B's so that A's packing limits are exercised.
pub const MTU_A: usize = 1024;

/// Number of operation codes (the first byte of an operation is taken modulo this).
pub const OPS: u8 = 14;

/// Most datagrams of B kept for splicing: the first [`KEPT_SETUP`] (discovery) stay, the rest
/// rotate.
const CAPTURED: usize = 64;
const KEPT_SETUP: usize = 32;
/// Datagrams one drain may produce at one instant before the engine counts as never quiet.
const MAX_DRAIN: usize = 4096;
/// Exchanges between the two engines before the pair counts as never quiet.
const MAX_ROUNDS: usize = 256;
/// Time steps while discovering before the setup counts as failed.
const MAX_SETUP_STEPS: usize = 1000;
/// The step of [`EngineOp::Advance`] and [`EngineOp::Run`].
const TICK_UNIT_US: u64 = 256;
const RUN_STEP_US: u64 = 10_000;
/// The length unit of large writes: 255 units make a 16 KiB sample.
const BIG_UNIT: usize = 64;
/// The recovery check: steps of 100 ms (a minute in all), a marker sample rewritten every
/// [`REWRITE_STEPS`] until it arrives, and the marker's fill byte and payload length.
const RECOVERY_STEPS: usize = 600;
const REWRITE_STEPS: usize = 50;
const MARK_FILL: u8 = 0xe7;
const MARK_LEN: u8 = 36;

/// The unkeyed topic A writes and B reads (reliable, KEEP_ALL).
const TOPIC_A2B: TopicSpec<'static> = TopicSpec::new("fuzz/a2b", "Blob");
/// The unkeyed topic B writes and A reads (reliable, KEEP_ALL).
const TOPIC_B2A: TopicSpec<'static> = TopicSpec::new("fuzz/b2a", "Blob");
/// The keyed topic both write and both read (reliable, transient local, KEEP_LAST).
const TOPIC_KEYED: TopicSpec<'static> = TopicSpec {
    name: "fuzz/keyed",
    type_name: "Keyed",
    keyed: true,
    partitions: &[],
};

/// One step of the whole-engine target, as decoded from (or encoded to) the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineOp<'a> {
    /// Feeds these bytes to A as one datagram (length: u16).
    Datagram(&'a [u8]),
    /// Takes captured datagram `from` of B (modulo the number captured), overwrites `bytes`
    /// at `offset` (modulo its length; the datagram grows if they run past its end) and feeds
    /// it to A. With no bytes, replays B's datagram unchanged.
    Splice {
        /// Which captured datagram.
        from: u8,
        /// Where to write.
        offset: u16,
        /// What to write (length: u8).
        bytes: &'a [u8],
    },
    /// Feeds A the first `len` bytes (modulo its length + 1) of captured datagram `from`.
    Truncate {
        /// Which captured datagram.
        from: u8,
        /// How many bytes to keep.
        len: u16,
    },
    /// Moves the clock forward by `units` × 256 µs and handles the timeouts that are due
    /// (always on A, when due on B). Nothing is exchanged.
    Advance {
        /// Steps of 256 µs.
        units: u16,
    },
    /// Calls A's `handle_timeout` with a time `ms` milliseconds in the past.
    Backwards {
        /// Milliseconds.
        ms: u8,
    },
    /// Writes a sample on A: `sel` even = the unkeyed writer, odd = the keyed one (key
    /// `sel / 2 % 64`); `len` payload bytes (×64 when `sel & 0x80`, which makes samples larger
    /// than a datagram, sent as DATA_FRAG), all `fill`.
    WriteA {
        /// Writer and key.
        sel: u8,
        /// Payload length code.
        len: u8,
        /// Payload byte.
        fill: u8,
    },
    /// Writes a sample on B, as [`EngineOp::WriteA`].
    WriteB {
        /// Writer and key.
        sel: u8,
        /// Payload length code.
        len: u8,
        /// Payload byte.
        fill: u8,
    },
    /// Disposes (bit 1 clear) or unregisters (bit 1 set) key `sel >> 2` on the keyed writer
    /// of A (bit 0 clear) or B (bit 0 set).
    Dispose {
        /// Engine, kind and key.
        sel: u8,
    },
    /// Takes every available sample from reader `sel % 2` of A (0 = from B's unkeyed writer,
    /// 1 = keyed); with `sel & 2`, into an 8-byte buffer that is usually too small.
    Take {
        /// Reader and buffer.
        sel: u8,
    },
    /// Exchanges datagrams until both engines are quiet; bit i of `loss` drops the i-th
    /// datagram of the exchange (so at most the first 8 are lost).
    Pump {
        /// Loss mask.
        loss: u8,
    },
    /// Lets the pair run for `steps % 32 + 1` steps of 10 ms: time forward, timeouts, a
    /// lossless exchange.
    Run {
        /// Number of steps.
        steps: u8,
    },
    /// Drops every datagram owed by A (`sel` bit 0 clear) or B (set).
    Drop {
        /// Engine.
        sel: u8,
    },
    /// Deletes and recreates A's keyed reader (`sel` even) or keyed writer (odd).
    Recreate {
        /// Endpoint.
        sel: u8,
    },
    /// Feeds A a datagram an attacker forged with B's identity or a made-up one: the moves of
    /// the hostile-network tests (see [`Forgery`]), with two arguments each.
    Forge {
        /// Which forgery ([`Forgery::from_code`]).
        kind: u8,
        /// First argument.
        x: u16,
        /// Second argument.
        y: u16,
    },
}

/// The forgeries of [`EngineOp::Forge`], each aimed at A's reliable flows with B.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forgery {
    /// An ACKNACK from B's reader with a count about 2^30 ahead (count poisoning).
    CountJump,
    /// An ACKNACK from B's reader acknowledging far more than A ever wrote.
    AckUnsent,
    /// A HEARTBEAT from B's writer claiming about 2^40 samples.
    HeartbeatFar,
    /// A GAP from B's writer covering everything up to about 2^40.
    GapFar,
    /// A NACK_FRAG from B's reader for many fragments, with a count far ahead.
    NackFrag,
    /// SPDP of a made-up participant with an infinite lease and a locator nobody owns.
    Spdp,
    /// A first DATA_FRAG to A's SEDP publications reader announcing a sample of up to 256 MiB.
    BigFirstFragment,
    /// Sixteen ACKNACKs from B's reader in a row, each requesting everything again.
    AckStorm,
}

impl Forgery {
    /// The forgery of an operation code (taken modulo the number of forgeries).
    pub fn from_code(kind: u8) -> Forgery {
        match kind % 8 {
            0 => Forgery::CountJump,
            1 => Forgery::AckUnsent,
            2 => Forgery::HeartbeatFar,
            3 => Forgery::GapFar,
            4 => Forgery::NackFrag,
            5 => Forgery::Spdp,
            6 => Forgery::BigFirstFragment,
            _ => Forgery::AckStorm,
        }
    }
}

impl<'a> EngineOp<'a> {
    /// Appends this operation in the input format.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match *self {
            EngineOp::Datagram(d) => {
                let d = &d[..d.len().min(u16::MAX as usize)];
                out.push(0);
                out.extend_from_slice(&(d.len() as u16).to_le_bytes());
                out.extend_from_slice(d);
            }
            EngineOp::Splice {
                from,
                offset,
                bytes,
            } => {
                let bytes = &bytes[..bytes.len().min(255)];
                out.extend_from_slice(&[1, from]);
                out.extend_from_slice(&offset.to_le_bytes());
                out.push(bytes.len() as u8);
                out.extend_from_slice(bytes);
            }
            EngineOp::Truncate { from, len } => {
                out.extend_from_slice(&[2, from]);
                out.extend_from_slice(&len.to_le_bytes());
            }
            EngineOp::Advance { units } => {
                out.push(3);
                out.extend_from_slice(&units.to_le_bytes());
            }
            EngineOp::Backwards { ms } => out.extend_from_slice(&[4, ms]),
            EngineOp::WriteA { sel, len, fill } => out.extend_from_slice(&[5, sel, len, fill]),
            EngineOp::WriteB { sel, len, fill } => out.extend_from_slice(&[6, sel, len, fill]),
            EngineOp::Dispose { sel } => out.extend_from_slice(&[7, sel]),
            EngineOp::Take { sel } => out.extend_from_slice(&[8, sel]),
            EngineOp::Pump { loss } => out.extend_from_slice(&[9, loss]),
            EngineOp::Run { steps } => out.extend_from_slice(&[10, steps]),
            EngineOp::Drop { sel } => out.extend_from_slice(&[11, sel]),
            EngineOp::Recreate { sel } => out.extend_from_slice(&[12, sel]),
            EngineOp::Forge { kind, x, y } => {
                out.extend_from_slice(&[13, kind]);
                out.extend_from_slice(&x.to_le_bytes());
                out.extend_from_slice(&y.to_le_bytes());
            }
        }
    }

    /// Decodes the next operation; `None` at the end of the input or when it is cut short.
    pub fn decode(input: &mut &'a [u8]) -> Option<EngineOp<'a>> {
        let mut r = Reader(input);
        let op = r.byte()? % OPS;
        let decoded = match op {
            0 => {
                let n = r.u16()? as usize;
                let rest = r.0.len();
                EngineOp::Datagram(r.bytes(n.min(rest))?)
            }
            1 => {
                let from = r.byte()?;
                let offset = r.u16()?;
                let n = r.byte()? as usize;
                EngineOp::Splice {
                    from,
                    offset,
                    bytes: r.bytes(n)?,
                }
            }
            2 => EngineOp::Truncate {
                from: r.byte()?,
                len: r.u16()?,
            },
            3 => EngineOp::Advance { units: r.u16()? },
            4 => EngineOp::Backwards { ms: r.byte()? },
            5 => EngineOp::WriteA {
                sel: r.byte()?,
                len: r.byte()?,
                fill: r.byte()?,
            },
            6 => EngineOp::WriteB {
                sel: r.byte()?,
                len: r.byte()?,
                fill: r.byte()?,
            },
            7 => EngineOp::Dispose { sel: r.byte()? },
            8 => EngineOp::Take { sel: r.byte()? },
            9 => EngineOp::Pump { loss: r.byte()? },
            10 => EngineOp::Run { steps: r.byte()? },
            11 => EngineOp::Drop { sel: r.byte()? },
            12 => EngineOp::Recreate { sel: r.byte()? },
            _ => EngineOp::Forge {
                kind: r.byte()?,
                x: r.u16()?,
                y: r.u16()?,
            },
        };
        *input = r.0;
        Some(decoded)
    }
}

/// A cursor over the remaining input.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }

    fn byte(&mut self) -> Option<u8> {
        self.bytes(1).map(|b| b[0])
    }

    fn u16(&mut self) -> Option<u16> {
        self.bytes(2).map(|b| u16::from_le_bytes([b[0], b[1]]))
    }
}

fn check_monotonic(who: &str, before: &Stats, after: &Stats) {
    for ((name, b), (_, a)) in before.counters().zip(after.counters()) {
        assert!(a >= b, "{}: counter {} went from {} to {}", who, name, b, a);
    }
}

/// Checks one datagram an engine produced: size, header, every submessage.
fn check_datagram(who: &str, own: GuidPrefix, mtu: usize, data: &[u8]) {
    assert!(
        data.len() <= mtu,
        "{}: {}-byte datagram exceeds the {}-byte MTU",
        who,
        data.len(),
        mtu
    );
    let msg = match Message::parse(data) {
        Ok(m) => m,
        Err(e) => panic!("{}: emitted datagram does not parse: {}", who, e),
    };
    assert_eq!(
        msg.header.guid_prefix, own,
        "{}: emitted header prefix",
        who
    );
    let mut count = 0usize;
    for raw in msg.submessages() {
        let raw = match raw {
            Ok(r) => r,
            Err(e) => panic!(
                "{}: emitted submessage {} does not frame: {}",
                who, count, e
            ),
        };
        if let Err(e) = raw.parse() {
            panic!(
                "{}: emitted submessage {} (id {:#04x}) does not parse: {}",
                who, count, raw.id, e
            );
        }
        count += 1;
    }
    assert!(
        count > 0,
        "{}: emitted an RTPS message without submessages",
        who
    );
}

/// Which engine.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    A,
    B,
}

/// One participant and its endpoints.
struct Participant {
    engine: Box<Engine<'static>>,
    name: &'static str,
    plain_writer: WriterHandle,
    plain_reader: ReaderHandle,
    /// The keyed endpoints, unless the capacity profile allows one writer and one reader
    /// only (`small`): then the operations on them do nothing.
    keyed_writer: Option<WriterHandle>,
    keyed_reader: Option<ReaderHandle>,
}

fn writer_qos(history: History, durability: Durability) -> WriterQos {
    WriterQos {
        reliability: Reliability::Reliable,
        durability,
        history,
        ..WriterQos::default()
    }
}

fn reader_qos(history: History, durability: Durability) -> ReaderQos {
    ReaderQos {
        reliability: Reliability::Reliable,
        durability,
        history,
        ..ReaderQos::default()
    }
}

const KEYED_WRITER_HISTORY: History = History::KeepLast(2);
const KEYED_READER_HISTORY: History = History::KeepLast(4);

impl Participant {
    fn new(
        name: &'static str,
        prefix: GuidPrefix,
        address: u8,
        mtu: usize,
        a: bool,
        capacities: crate::Capacities,
    ) -> Participant {
        let mut cfg = Config::new(prefix);
        cfg.unicast_address = [10, 0, 0, address];
        cfg.mtu = mtu;
        cfg.capacities = capacities;
        let now = Instant::ZERO;
        let mut engine = Box::new(Engine::new(cfg, now).expect("fuzz config is valid"));
        let keep_all = History::KeepAll;
        let vol = Durability::Volatile;
        let tl = Durability::TransientLocal;
        let (out_topic, in_topic) = if a {
            (TOPIC_A2B, TOPIC_B2A)
        } else {
            (TOPIC_B2A, TOPIC_A2B)
        };
        let plain_writer = engine
            .create_writer(now, &out_topic, &writer_qos(keep_all, vol))
            .expect("writer");
        let plain_reader = engine
            .create_reader(now, &in_topic, &reader_qos(keep_all, vol))
            .expect("reader");
        let (keyed_writer, keyed_reader) =
            if engine.capacities().writers >= 2 && engine.capacities().readers >= 2 {
                let w = engine
                    .create_writer(now, &TOPIC_KEYED, &writer_qos(KEYED_WRITER_HISTORY, tl))
                    .expect("keyed writer");
                let r = engine
                    .create_reader(now, &TOPIC_KEYED, &reader_qos(KEYED_READER_HISTORY, tl))
                    .expect("keyed reader");
                (Some(w), Some(r))
            } else {
                (None, None)
            };
        Participant {
            engine,
            name,
            plain_writer,
            plain_reader,
            keyed_writer,
            keyed_reader,
        }
    }

    fn matched(&self) -> bool {
        let e = &self.engine;
        e.matched_readers(self.plain_writer) > 0
            && e.matched_writers(self.plain_reader) > 0
            && self.keyed_writer.is_none_or(|w| e.matched_readers(w) > 0)
            && self.keyed_reader.is_none_or(|r| e.matched_writers(r) > 0)
    }
}

/// Per-writer delivery order on A's reliable KEEP_ALL reader.
#[derive(Default)]
struct Order {
    last: Option<(Guid, i64)>,
}

/// The two engines, the clock and what B has said.
struct Pair {
    a: Participant,
    b: Participant,
    now: Instant,
    buf: Vec<u8>,
    captured: Vec<Vec<u8>>,
    captured_total: usize,
    order: Order,
    /// Set when A loses a match or a participant: its readers may start over.
    a_reset: bool,
    /// Every datagram B emitted, when a seed generator asks for them.
    log: Option<Vec<Vec<u8>>>,
    /// Scratch for payloads written and samples taken.
    payload: Vec<u8>,
    out: Vec<u8>,
}

const SRC_A: Locator = Locator::udpv4([10, 0, 0, 1], 7411);
const SRC_B: Locator = Locator::udpv4([10, 0, 0, 2], 7411);

impl Pair {
    fn new(log: bool, capacities: crate::Capacities) -> Pair {
        let a = Participant::new("A", PREFIX_A, 1, MTU_A, true, capacities);
        let b = Participant::new("B", PREFIX_B, 2, 1472, false, capacities);
        let mut pair = Pair {
            a,
            b,
            now: Instant::ZERO,
            buf: vec![0u8; 64 * 1024],
            captured: Vec::new(),
            captured_total: 0,
            order: Order::default(),
            a_reset: false,
            log: if log { Some(Vec::new()) } else { None },
            payload: vec![0u8; 4 + 255 * BIG_UNIT],
            out: vec![0u8; 4 + 255 * BIG_UNIT],
        };
        let mut steps = 0;
        while !(pair.a.matched() && pair.b.matched()) {
            steps += 1;
            assert!(steps < MAX_SETUP_STEPS, "the fuzz pair never matched");
            pair.step(RUN_STEP_US);
        }
        // Let the first heartbeats and acknowledgements settle.
        for _ in 0..5 {
            pair.step(RUN_STEP_US);
        }
        pair
    }

    fn peer(&mut self, side: Side) -> &mut Participant {
        match side {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }

    fn record(&mut self, len: usize) {
        let d = self.buf[..len].to_vec();
        if let Some(log) = self.log.as_mut() {
            log.push(d.clone());
        }
        if self.captured.len() < CAPTURED {
            self.captured.push(d);
        } else {
            let slot = KEPT_SETUP + self.captured_total % (CAPTURED - KEPT_SETUP);
            self.captured[slot] = d;
        }
        self.captured_total += 1;
    }

    /// The next transmit `side` owes, checked: its length in `self.buf` and whether it goes
    /// over UDP (the pair has no TCP link: a stream transmit is checked and dropped).
    fn poll(&mut self, side: Side) -> Option<(usize, bool)> {
        let now = self.now;
        let (engine, name) = match side {
            Side::A => (&mut self.a.engine, self.a.name),
            Side::B => (&mut self.b.engine, self.b.name),
        };
        let before = engine.stats().datagrams_out;
        let t = engine.poll_transmit(now, &mut self.buf)?;
        let (dst, udp) = match t.destination {
            Destination::Udp(l) => (l, true),
            Destination::Tcp(l) => (l, false),
        };
        assert!(dst.port != 0, "{}: transmit to port 0", name);
        if !udp {
            // A framed message is itself an RTPS message (its first submessage carries the
            // length); it must deframe as exactly one frame.
            assert_eq!(
                CycloneFraming::new().deframe(&self.buf[..t.len]),
                Deframe::Frame(t.len),
                "{}: stream transmit does not deframe",
                name
            );
        }
        assert!(
            t.len <= self.buf.len(),
            "{}: transmit longer than buffer",
            name
        );
        let cfg = engine.config();
        check_datagram(name, cfg.guid_prefix, cfg.mtu, &self.buf[..t.len]);
        assert_eq!(
            engine.stats().datagrams_out,
            before + 1,
            "{}: datagrams_out counts each transmit",
            name
        );
        if side == Side::B && udp {
            self.record(t.len);
        }
        Some((t.len, udp))
    }

    /// Hands the datagram in `self.buf[..len]` to `to`.
    fn deliver(&mut self, to: Side, len: usize) {
        let now = self.now;
        let (peer, src, dst) = match to {
            Side::A => (&mut self.a, SRC_B, SRC_A),
            Side::B => (&mut self.b, SRC_A, SRC_B),
        };
        let before = peer.engine.stats().datagrams_in;
        peer.engine.handle_datagram(now, src, dst, &self.buf[..len]);
        assert_eq!(
            peer.engine.stats().datagrams_in,
            before + 1,
            "{}: datagrams_in counts each datagram",
            peer.name
        );
    }

    fn feed_a(&mut self, data: &[u8]) {
        let before = self.a.engine.stats().datagrams_in;
        self.a.engine.handle_datagram(self.now, SRC_B, SRC_A, data);
        assert_eq!(self.a.engine.stats().datagrams_in, before + 1);
    }

    fn drain_events(&mut self) {
        while let Some(e) = self.a.engine.poll_event() {
            if matches!(e, Event::Unmatched { .. } | Event::ParticipantLost(_)) {
                self.a_reset = true;
            }
        }
        while self.b.engine.poll_event().is_some() {}
    }

    /// Moves datagrams both ways until both engines are quiet; bit i of `loss` drops the
    /// i-th datagram.
    fn pump(&mut self, loss: u8) {
        let mut n = 0u32;
        for _ in 0..MAX_ROUNDS {
            let mut moved = false;
            for (from, to) in [(Side::A, Side::B), (Side::B, Side::A)] {
                let mut drained = 0;
                while let Some((len, udp)) = self.poll(from) {
                    drained += 1;
                    assert!(drained < MAX_DRAIN, "{}: never quiet", self.peer(from).name);
                    let lost = n < 8 && loss & (1 << n) != 0;
                    n = n.saturating_add(1);
                    if !lost && udp {
                        self.deliver(to, len);
                    }
                    moved = true;
                }
            }
            self.drain_events();
            if !moved {
                return;
            }
        }
        panic!("the pair never went quiet");
    }

    /// Discards every datagram `side` owes.
    fn drop_owed(&mut self, side: Side) {
        let mut drained = 0;
        while self.poll(side).is_some() {
            drained += 1;
            assert!(drained < MAX_DRAIN, "never quiet");
        }
        self.drain_events();
    }

    fn timeouts(&mut self, a_always: bool) {
        let now = self.now;
        for side in [Side::A, Side::B] {
            let force = a_always && side == Side::A;
            let e = &mut self.peer(side).engine;
            if force || e.poll_timeout().is_some_and(|t| t <= now) {
                e.handle_timeout(now);
            }
        }
    }

    /// Time forward by `us`, timeouts, a lossless exchange; then no timeout may be overdue.
    fn step(&mut self, us: u64) {
        self.now = Instant(self.now.0 + us);
        self.timeouts(false);
        self.pump(0);
        let now = self.now;
        for side in [Side::A, Side::B] {
            let p = self.peer(side);
            if let Some(t) = p.engine.poll_timeout() {
                assert!(
                    t > now,
                    "{}: poll_timeout {:?} is not after now {:?} once timeouts were handled \
                     and transmits drained",
                    p.name,
                    t,
                    now
                );
            }
        }
    }

    fn write(&mut self, side: Side, sel: u8, len: u8, fill: u8) {
        let now = self.now;
        let len = if sel & 0x80 != 0 {
            len as usize * BIG_UNIT
        } else {
            len as usize
        };
        let payload = &mut self.payload[..4 + len];
        payload.fill(fill);
        payload[..4].copy_from_slice(&[0, 1, 0, 0]);
        let payload = &self.payload[..4 + len];
        let p = match side {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        };
        let before = p.engine.stats().samples_written;
        let result = match (sel & 1 == 1, p.keyed_writer) {
            (true, Some(w)) => {
                let key = [(sel >> 1) & 0x3f; 16];
                p.engine.write_keyed(now, w, payload, key, Time::ZERO)
            }
            (true, None) => return,
            (false, _) => p.engine.write(now, p.plain_writer, payload, Time::ZERO),
        };
        let after = p.engine.stats().samples_written;
        match result {
            Ok(_) => assert_eq!(after, before + 1, "{}: samples_written", p.name),
            Err(_) => assert_eq!(after, before, "{}: a refused write counted", p.name),
        }
    }

    fn dispose(&mut self, sel: u8) {
        let now = self.now;
        let side = if sel & 1 == 0 { Side::A } else { Side::B };
        let key_hash = [(sel >> 2) & 0x3f; 16];
        let key = [0, 1, 0, 0, (sel >> 2) & 0x3f, 0, 0, 0];
        let p = self.peer(side);
        let Some(w) = p.keyed_writer else { return };
        let _ = if sel & 2 == 0 {
            p.engine.dispose(now, w, &key, key_hash, Time::ZERO)
        } else {
            p.engine.unregister(now, w, &key, key_hash, Time::ZERO)
        };
    }

    fn take(&mut self, sel: u8) {
        let out: &mut [u8] = if sel & 2 != 0 {
            &mut self.out[..8]
        } else {
            &mut self.out
        };
        let (r, keyed) = match self.a.keyed_reader {
            Some(r) if sel & 1 == 1 => (r, true),
            _ => (self.a.plain_reader, false),
        };
        if self.a_reset {
            self.order = Order::default();
            self.a_reset = false;
        }
        for _ in 0..4 * crate::Capacities::HOST.reader_samples {
            match self.a.engine.take(r, out) {
                Ok(Some(info)) => {
                    assert!(info.len <= out.len(), "take reports more than it copied");
                    if !keyed {
                        if let Some((w, sn)) = self.order.last {
                            if w == info.writer {
                                assert!(
                                    info.sn.0 > sn,
                                    "reliable KEEP_ALL reader delivered {:?} after {}",
                                    info.sn,
                                    sn
                                );
                            }
                        }
                        self.order.last = Some((info.writer, info.sn.0));
                    }
                }
                Ok(None) => return,
                Err(TakeError::BufferTooSmall { needed }) => {
                    assert!(needed > out.len(), "BufferTooSmall for a sample that fits");
                    return;
                }
                Err(e) => panic!("take on a live reader: {}", e),
            }
        }
        panic!("take never ran out of samples");
    }

    fn recreate(&mut self, sel: u8) {
        let now = self.now;
        let e = &mut self.a.engine;
        let (Some(kw), Some(kr)) = (self.a.keyed_writer, self.a.keyed_reader) else {
            return;
        };
        if sel & 1 == 0 {
            assert!(e.delete_reader(now, kr));
            let q = reader_qos(KEYED_READER_HISTORY, Durability::TransientLocal);
            let r = e.create_reader(now, &TOPIC_KEYED, &q);
            self.a.keyed_reader = Some(r.expect("recreating a reader in the slot just freed"));
        } else {
            assert!(e.delete_writer(now, kw));
            let q = writer_qos(KEYED_WRITER_HISTORY, Durability::TransientLocal);
            let w = e.create_writer(now, &TOPIC_KEYED, &q);
            self.a.keyed_writer = Some(w.expect("recreating a writer in the slot just freed"));
        }
    }

    /// Builds the forgery and feeds it to A.
    fn forge(&mut self, kind: Forgery, x: u16, y: u16) {
        use crate::wire::{
            AckNackRepr, BuiltinEndpointSet, Count, DataFragRepr, DataRepr, Duration, Endian,
            EntityId, FragmentNumberSet, GapRepr, HeaderRepr, HeartbeatRepr, InfoDstRepr,
            MessageBuilder, ParticipantData, SequenceNumber, SequenceNumberSet, SubmessageRepr,
        };
        let (Some(a_writer), Some(b_writer), Some(b_reader)) = (
            self.a.engine.writer_guid(self.a.plain_writer),
            self.b.engine.writer_guid(self.b.plain_writer),
            self.b.engine.reader_guid(self.b.plain_reader),
        ) else {
            return;
        };
        let far = (1i64 << 40) + x as i64;
        let acknack = |base: i64, nacked: u32, count: u32| {
            let mut set = SequenceNumberSet::new(SequenceNumber(base), nacked);
            for i in 0..set.num_bits {
                set.insert(SequenceNumber(base + i as i64));
            }
            SubmessageRepr::AckNack(AckNackRepr {
                final_flag: false,
                reader_id: b_reader.entity,
                writer_id: a_writer.entity,
                reader_sn_state: set,
                count: Count(count),
            })
        };
        let mut payload = vec![0u8; 1024];
        let mut subs: Vec<SubmessageRepr<'_>> = vec![SubmessageRepr::InfoDst(InfoDstRepr {
            guid_prefix: PREFIX_A,
        })];
        let mut prefix = PREFIX_B;
        match kind {
            Forgery::CountJump => subs.push(acknack(1, 0, 0x4000_0000 + y as u32)),
            Forgery::AckUnsent => subs.push(acknack(far, 0, y as u32)),
            Forgery::HeartbeatFar => subs.push(SubmessageRepr::Heartbeat(HeartbeatRepr {
                final_flag: false,
                liveliness_flag: false,
                reader_id: EntityId::UNKNOWN,
                writer_id: b_writer.entity,
                first_sn: SequenceNumber(1 + y as i64),
                last_sn: SequenceNumber(far),
                count: Count(0x4000_0000),
            })),
            Forgery::GapFar => subs.push(SubmessageRepr::Gap(GapRepr {
                reader_id: EntityId::UNKNOWN,
                writer_id: b_writer.entity,
                gap_start: SequenceNumber(1 + y as i64),
                gap_list: SequenceNumberSet::new(SequenceNumber(far), 0),
            })),
            Forgery::NackFrag => {
                let mut set = FragmentNumberSet::new(1, 1 + y as u32 % 256);
                for f in 1..=set.num_bits {
                    set.insert(f);
                }
                subs.push(SubmessageRepr::NackFrag(crate::wire::NackFragRepr {
                    reader_id: b_reader.entity,
                    writer_id: a_writer.entity,
                    writer_sn: SequenceNumber(1 + x as i64),
                    fragment_number_state: set,
                    count: Count(0x4000_0000 + y as u32),
                }))
            }
            Forgery::Spdp => {
                prefix = GuidPrefix([0xf0, 0x0f, x as u8, (x >> 8) as u8, 1, 2, 3, 4, 5, 6, 7, 8]);
                let mut d = ParticipantData::new(
                    Guid::new(prefix, EntityId::PARTICIPANT),
                    BuiltinEndpointSet(0x3f),
                );
                d.lease_duration = Some(Duration::INFINITE);
                let stray = Locator::udpv4([10, 0, 9, y as u8], 7000 + (y >> 8));
                d.metatraffic_unicast.push(stray);
                d.default_unicast.push(stray);
                let Ok(n) = d.emit(&mut payload) else { return };
                subs.clear();
                subs.push(SubmessageRepr::Data(DataRepr {
                    endian: Endian::Little,
                    reader_id: EntityId::SPDP_READER,
                    writer_id: EntityId::SPDP_WRITER,
                    writer_sn: SequenceNumber(1),
                    inline_qos: None,
                    payload: Some(&payload[..n]),
                    key_flag: false,
                    non_standard: false,
                }));
            }
            Forgery::BigFirstFragment => {
                payload[..4].copy_from_slice(&[0, 3, 0, 0]);
                subs.push(SubmessageRepr::DataFrag(DataFragRepr {
                    endian: Endian::Little,
                    reader_id: EntityId::SEDP_PUB_READER,
                    writer_id: EntityId::SEDP_PUB_WRITER,
                    writer_sn: SequenceNumber(1 + y as i64),
                    fragment_starting_num: 1,
                    fragments_in_submessage: 1,
                    fragment_size: 512,
                    sample_size: ((x as u32) << 12).max(1024),
                    inline_qos: None,
                    data: &payload[..512],
                    key_flag: false,
                    non_standard: false,
                }));
            }
            Forgery::AckStorm => {
                for i in 0..16 {
                    subs.push(acknack(1, 256, 0x10_0000 + y as u32 * 16 + i));
                }
            }
        }
        let mut buf = vec![0u8; 8192];
        let Ok(mut m) = MessageBuilder::new(&mut buf, &HeaderRepr::new(prefix)) else {
            return;
        };
        for sub in &subs {
            if m.push(sub).is_err() {
                break;
            }
        }
        let len = m.finish();
        self.feed_a(&buf[..len]);
    }

    fn captured(&self, from: u8) -> &[u8] {
        &self.captured[from as usize % self.captured.len()]
    }

    fn run(&mut self, op: EngineOp<'_>) {
        match op {
            EngineOp::Datagram(d) => self.feed_a(d),
            EngineOp::Splice {
                from,
                offset,
                bytes,
            } => {
                let mut d = self.captured(from).to_vec();
                let at = offset as usize % d.len().max(1);
                if d.len() < at + bytes.len() {
                    d.resize(at + bytes.len(), 0);
                }
                d[at..at + bytes.len()].copy_from_slice(bytes);
                self.feed_a(&d);
            }
            EngineOp::Truncate { from, len } => {
                let d = self.captured(from).to_vec();
                let n = len as usize % (d.len() + 1);
                self.feed_a(&d[..n]);
            }
            EngineOp::Advance { units } => {
                self.now = Instant(self.now.0 + units as u64 * TICK_UNIT_US);
                self.timeouts(true);
            }
            EngineOp::Backwards { ms } => {
                let past = Instant(self.now.0.saturating_sub(ms as u64 * 1000));
                self.a.engine.handle_timeout(past);
            }
            EngineOp::WriteA { sel, len, fill } => self.write(Side::A, sel, len, fill),
            EngineOp::WriteB { sel, len, fill } => self.write(Side::B, sel, len, fill),
            EngineOp::Dispose { sel } => self.dispose(sel),
            EngineOp::Take { sel } => self.take(sel),
            EngineOp::Pump { loss } => self.pump(loss),
            EngineOp::Run { steps } => {
                for _ in 0..steps % 32 + 1 {
                    self.step(RUN_STEP_US);
                }
            }
            EngineOp::Drop { sel } => self.drop_owed(if sel & 1 == 0 { Side::A } else { Side::B }),
            EngineOp::Recreate { sel } => self.recreate(sel),
            EngineOp::Forge { kind, x, y } => self.forge(Forgery::from_code(kind), x, y),
        }
        self.drain_events();
    }
}

impl Pair {
    /// Takes everything from `side`'s unkeyed reader; whether the marker sample was among it.
    fn take_marker(&mut self, side: Side) -> bool {
        let (engine, r) = match side {
            Side::A => (&mut self.a.engine, self.a.plain_reader),
            Side::B => (&mut self.b.engine, self.b.plain_reader),
        };
        let mut seen = false;
        for _ in 0..4 * crate::Capacities::HOST.reader_samples {
            match engine.take(r, &mut self.out) {
                Ok(Some(info)) => {
                    let body = &self.out[4.min(info.len)..info.len];
                    seen |= body.len() == MARK_LEN as usize && body.iter().all(|b| *b == MARK_FILL);
                }
                Ok(None) | Err(_) => break,
            }
        }
        // A's delivery order starts over: these takes bypassed it.
        self.order = Order::default();
        seen
    }

    /// Whether `side`'s unkeyed writer and the other side's unkeyed reader match each other.
    fn flow_matched(&self, side: Side) -> bool {
        let (from, to) = match side {
            Side::A => (&self.a, &self.b),
            Side::B => (&self.b, &self.a),
        };
        from.engine.matched_readers(from.plain_writer) > 0
            && to.engine.matched_writers(to.plain_reader) > 0
    }

    /// The recovery invariant of the module documentation: on each side, a marker sample
    /// arrives at the other side and is acknowledged (a writer whose acknowledgements were
    /// poisoned would deliver it and still never release it).
    fn check_recovery(&mut self) {
        let mut seen = [false; 2];
        let mut sent = [false; 2];
        let mut payload = [MARK_FILL; 4 + MARK_LEN as usize];
        payload[..4].copy_from_slice(&[0, 1, 0, 0]);
        for step in 0..RECOVERY_STEPS {
            let mut done = true;
            for (i, side) in [Side::A, Side::B].into_iter().enumerate() {
                let other = if side == Side::A { Side::B } else { Side::A };
                seen[i] |= self.take_marker(other);
                let now = self.now;
                let p = self.peer(side);
                let acked = sent[i] && p.engine.is_acknowledged(p.plain_writer);
                if seen[i] && acked {
                    continue;
                }
                done = false;
                if step % REWRITE_STEPS == 0 && self.flow_matched(side) {
                    let p = self.peer(side);
                    sent[i] |= p
                        .engine
                        .write(now, p.plain_writer, &payload, Time::ZERO)
                        .is_ok();
                }
            }
            if done {
                return;
            }
            self.step(10 * RUN_STEP_US);
        }
        panic!(
            "no recovery: a minute after the input, A to B seen {} sent {}, B to A seen {} sent {}",
            seen[0], sent[0], seen[1], sent[1]
        );
    }
}

/// Runs the operations of `data` on a freshly discovered pair, then checks it recovers;
/// returns every datagram B emitted, setup included, when `log` (for seed generators), else
/// nothing.
fn drive(mut data: &[u8], log: bool, capacities: crate::Capacities) -> Vec<Vec<u8>> {
    let mut pair = Pair::new(log, capacities);
    while let Some(op) = EngineOp::decode(&mut data) {
        let sa = *pair.a.engine.stats();
        let sb = *pair.b.engine.stats();
        pair.run(op);
        check_monotonic("A", &sa, pair.a.engine.stats());
        check_monotonic("B", &sb, pair.b.engine.stats());
    }
    let log = pair.log.take().unwrap_or_default();
    pair.check_recovery();
    log
}

/// The whole-engine fuzz target (see the module documentation for the input format and the
/// invariants checked).
pub fn fuzz_engine(data: &[u8]) {
    drive(data, false, crate::Capacities::HOST);
}

/// [`fuzz_engine`] with other capacities (the seeds are replayed under every preset).
pub fn fuzz_engine_with(data: &[u8], capacities: crate::Capacities) {
    drive(data, false, capacities);
}

/// Runs `data` like [`fuzz_engine`] and returns the datagrams B emitted, in order, starting
/// with the discovery exchange of the setup (the first of them are what [`EngineOp::Splice`]
/// index 0, 1, ... refers to). For seed generators.
pub fn engine_traffic(data: &[u8]) -> Vec<Vec<u8>> {
    drive(data, true, crate::Capacities::HOST)
}
