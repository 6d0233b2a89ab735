//! `pollen ping`, `pollen pong`, `pollen perf pub` and `pollen perf sub`: latency and throughput
//! measurements that interoperate with Cyclone DDS's `ddsperf` (rtps-wire.md §10).
//!
//! Every mode is one participant shaped like a ddsperf process, so that either side can be
//! ddsperf:
//! * USER_DATA `DDSPerf:<H>:<pid>:<hostname>`, H = 1 when it subscribes to data;
//! * a ping writer and a ping reader on `DDSPerfRPingKS` (reliable, KEEP_LAST 1, default
//!   partition);
//! * a pong reader on `DDSPerfRPongKS` in the partition named after its own participant GUID;
//! * for every ddsperf-style peer (a participant carrying that USER_DATA), a pong writer in the
//!   partition named after the PEER's GUID (reliable, KEEP_LAST 1);
//! * a data writer on `DDSPerfRDataKS` (reliable, KEEP_ALL) and, for `perf sub`, a data reader.
//!
//! Every mode answers pings, as ddsperf does: the ping sample goes back on the pong writer of the
//! pinger's participant with the ping's INFO_TS time copied verbatim. A data sample whose source
//! timestamp has its lowest bit set is a ping embedded in the data stream (`ddsperf pub ping
//! X%`) and is answered with that time minus 1 ns. `ping` stamps its pings with the wall clock
//! with the lowest bit set, and takes the wall clock minus the echoed time, halved, as the
//! latency; without `--rate` it pings again as soon as every known peer answered, or after 1 s.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::ops::ControlFlow;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::host::{Host, Platform};
use pollen_engine::wire::{EntityId, Guid, GuidPrefix, Time};
use pollen_engine::{
    Durability, Event, History, ReaderHandle, ReaderQos, Reliability, TopicSpec, WriteError,
    WriterHandle, WriterQos,
};
use serde_json::json;

use crate::cli::{parse_seconds, NetArgs};

/// ddsperf's ping topic (reliable, KeyedSeq).
pub const PING_TOPIC: &str = "DDSPerfRPingKS";
/// ddsperf's pong topic.
pub const PONG_TOPIC: &str = "DDSPerfRPongKS";
/// ddsperf's data topic.
pub const DATA_TOPIC: &str = "DDSPerfRDataKS";
/// The type of all three.
const TYPE_NAME: &str = crate::payload::KEYED_SEQ;
/// The fixed part of a KeyedSeq sample as ddsperf counts it (seq, keyval, baggage length).
const FIXED_SIZE: usize = 12;
/// Latency samples kept for percentiles (4 bytes each); later ones are counted only.
const MAX_LATENCIES: usize = 16 << 20;
/// ddsperf pings again after this long without every expected pong.
const PING_TIMEOUT: Duration = Duration::from_secs(1);
/// How often the periodic lines are printed.
const REPORT_PERIOD: Duration = Duration::from_secs(1);

/// Flags shared by every mode.
#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    /// Stop after this many seconds [default: run until interrupted].
    #[arg(long, short = 'D', value_name = "SECONDS", value_parser = parse_seconds)]
    pub duration: Option<Duration>,
    /// Print the final summary as one JSON object on stdout (the periodic lines then go to
    /// stderr).
    #[arg(long)]
    pub json: bool,
    /// Report matching on stderr.
    #[arg(long, short = 'v')]
    pub verbose: bool,
    #[command(flatten)]
    pub net: NetArgs,
}

/// Arguments of `pollen ping`.
#[derive(Debug, clap::Args)]
pub struct PingArgs {
    /// Pings per second [default: the next ping as soon as every peer answered, or after 1 s].
    #[arg(long, value_name = "HZ")]
    pub rate: Option<f64>,
    /// Baggage bytes per ping (ddsperf's `size S` is 12 + baggage).
    #[arg(long, value_name = "BYTES", default_value_t = 0)]
    pub size: usize,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Arguments of `pollen pong`.
#[derive(Debug, clap::Args)]
pub struct PongArgs {
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Arguments of `pollen perf`.
#[derive(Debug, clap::Args)]
pub struct PerfArgs {
    #[command(subcommand)]
    pub mode: PerfMode,
}

/// `pollen perf pub` or `pollen perf sub`.
#[derive(Debug, clap::Subcommand)]
pub enum PerfMode {
    /// Write DDSPerfRDataKS as fast as acknowledgements allow (or at --rate).
    Pub(PerfPubArgs),
    /// Read DDSPerfRDataKS: samples, lost samples (by seq per writer) and throughput.
    Sub(PerfSubArgs),
}

/// Arguments of `pollen perf pub`.
#[derive(Debug, clap::Args)]
pub struct PerfPubArgs {
    /// Samples per second [default: as fast as the readers acknowledge].
    #[arg(long, value_name = "HZ")]
    pub rate: Option<f64>,
    /// Baggage bytes per sample (ddsperf's `size S` is 12 + baggage).
    #[arg(long, value_name = "BYTES", default_value_t = 0)]
    pub size: usize,
    /// Matched readers to wait for before writing.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub wait_readers: usize,
    /// Stay in the domain this many seconds after the last sample was acknowledged, before
    /// saying goodbye: ddsperf forgets acknowledged samples it has not yet taken when their
    /// writer leaves.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub linger: Option<Duration>,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Arguments of `pollen perf sub`.
#[derive(Debug, clap::Args)]
pub struct PerfSubArgs {
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Runs `pollen ping`.
pub fn run_ping(p: &dyn Platform, args: &PingArgs) -> ExitCode {
    if args.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
        return fail("--rate must be positive");
    }
    run(
        p,
        Mode::Ping {
            period: args.rate.map(|r| Duration::from_secs_f64(1.0 / r)),
        },
        args.size,
        &args.common,
    )
}

/// Runs `pollen pong`.
pub fn run_pong(p: &dyn Platform, args: &PongArgs) -> ExitCode {
    run(p, Mode::Pong, 0, &args.common)
}

/// Runs `pollen perf pub|sub`.
pub fn run_perf(p: &dyn Platform, args: &PerfArgs) -> ExitCode {
    match &args.mode {
        PerfMode::Pub(a) => {
            if a.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
                return fail("--rate must be positive");
            }
            run(
                p,
                Mode::Pub {
                    period: a.rate.map(|r| Duration::from_secs_f64(1.0 / r)),
                    wait_readers: a.wait_readers,
                    linger: a.linger,
                },
                a.size,
                &a.common,
            )
        }
        PerfMode::Sub(a) => run(p, Mode::Sub, 0, &a.common),
    }
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("pollen: {msg}");
    ExitCode::from(2)
}

#[derive(Debug, Clone, Copy)]
enum Mode {
    Ping {
        period: Option<Duration>,
    },
    Pong,
    Pub {
        period: Option<Duration>,
        wait_readers: usize,
        linger: Option<Duration>,
    },
    Sub,
}

/// ddsperf's name for a participant: its GUID (prefix + the participant entity id) as
/// lowercase hex, four groups of eight digits joined by `_`.
pub fn guid_partition(prefix: GuidPrefix) -> String {
    let mut b = [0u8; 16];
    b[..12].copy_from_slice(&prefix.0);
    b[12..].copy_from_slice(&EntityId::PARTICIPANT.0);
    let mut s = String::with_capacity(35);
    for (i, chunk) in b.chunks(4).enumerate() {
        if i > 0 {
            s.push('_');
        }
        for x in chunk {
            let _ = write!(s, "{x:02x}");
        }
    }
    s
}

/// A peer's ddsperf USER_DATA: `DDSPerf:<H>:<pid>:<hostname>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PerfUserData {
    /// It subscribes to data.
    pub has_reader: bool,
    /// Its process id.
    pub pid: u64,
    /// Its host name.
    pub hostname: String,
}

impl PerfUserData {
    /// Parses USER_DATA; `None` unless it is ddsperf's.
    pub fn parse(data: &[u8]) -> Option<PerfUserData> {
        let s = std::str::from_utf8(data).ok()?.strip_prefix("DDSPerf:")?;
        let (h, rest) = s.split_once(':')?;
        let (pid, hostname) = rest.split_once(':')?;
        let digits = |x: &str| !x.is_empty() && x.bytes().all(|c| c.is_ascii_digit());
        if !digits(h) || !digits(pid) || hostname.contains('\0') {
            return None;
        }
        Some(PerfUserData {
            has_reader: h.parse::<u64>().ok()? != 0,
            pid: pid.parse().ok()?,
            hostname: hostname.to_string(),
        })
    }

    /// Serializes it (no terminating NUL: ddsperf checks the length), shortening the host
    /// name to fit `max` bytes.
    pub fn encode(&self, max: usize) -> Vec<u8> {
        let head = format!("DDSPerf:{}:{}:", u8::from(self.has_reader), self.pid);
        let mut host = self.hostname.as_str();
        while head.len() + host.len() > max && !host.is_empty() {
            let mut cut = host.len() - 1;
            while !host.is_char_boundary(cut) {
                cut -= 1;
            }
            host = &host[..cut];
        }
        let mut v = head.into_bytes();
        v.extend_from_slice(host.as_bytes());
        v
    }
}

/// The host's name as the kernel has it (else `$HOSTNAME`, else `?`).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "?".to_string())
}

/// A KeyedSeq payload (XCDR1 little-endian) whose seq is patched in place for each write.
struct Sample {
    bytes: Vec<u8>,
}

impl Sample {
    fn new(baggage: usize) -> Sample {
        Sample {
            bytes: crate::payload::encode_keyed_seq(0, 0, &vec![0xee; baggage]),
        }
    }

    fn with_seq(&mut self, seq: u32) -> &[u8] {
        self.bytes[4..8].copy_from_slice(&seq.to_le_bytes());
        &self.bytes
    }
}

fn topic<'a>(name: &'a str, partitions: &'a [&'a str]) -> TopicSpec<'a> {
    TopicSpec {
        name,
        type_name: TYPE_NAME,
        keyed: true,
        partitions,
    }
}

fn writer_qos(history: History) -> WriterQos {
    WriterQos {
        reliability: Reliability::Reliable,
        durability: Durability::Volatile,
        history,
        ..WriterQos::default()
    }
}

fn reader_qos(history: History) -> ReaderQos {
    ReaderQos {
        reliability: Reliability::Reliable,
        durability: Durability::Volatile,
        history,
        ..ReaderQos::default()
    }
}

/// A ddsperf-style peer and the pong writer made for it.
struct Peer {
    prefix: GuidPrefix,
    name: String,
    pong_writer: WriterHandle,
}

/// Latency samples of one interval or of the whole run, in nanoseconds.
#[derive(Default)]
struct Latencies {
    raw: Vec<u32>,
    count: u64,
    sum: u64,
    max: u64,
}

impl Latencies {
    fn record(&mut self, ns: u64) {
        self.count += 1;
        self.sum += ns;
        self.max = self.max.max(ns);
        if self.raw.len() < MAX_LATENCIES {
            self.raw.push(ns.min(u32::MAX as u64) as u32);
        }
    }

    /// Sorts and returns (min, p50, p90, p99) in ns, picked as ddsperf picks them.
    fn percentiles(&mut self) -> Option<(u64, u64, u64, u64)> {
        let n = self.raw.len();
        if n == 0 {
            return None;
        }
        self.raw.sort_unstable();
        let at = |k: usize| self.raw[n - n.div_ceil(k)] as u64;
        Some((self.raw[0] as u64, at(2), at(10), at(100)))
    }
}

/// Per data writer: the next expected seq per key, counters.
#[derive(Default)]
struct WriterCount {
    next: HashMap<u32, u32>,
    received: u64,
    lost: u64,
    bytes: u64,
}

/// Sub-side counters over the whole run.
#[derive(Default)]
struct SubTotals {
    samples: u64,
    lost: u64,
    bytes: u64,
    first: Option<Instant>,
    last: Option<Instant>,
    last_size: usize,
}

/// One ddsperf-compatible participant and what its mode measures.
struct Node {
    mode: Mode,
    pid: u32,
    started: Instant,
    json: bool,
    verbose: bool,
    ping_writer: WriterHandle,
    ping_reader: ReaderHandle,
    pong_reader: ReaderHandle,
    data_writer: WriterHandle,
    data_reader: Option<ReaderHandle>,
    peers: Vec<Peer>,
    buf: Vec<u8>,
    sample: Sample,
    // ping
    ping_seq: u32,
    ping_sent: Option<Instant>,
    pongs_seen: usize,
    ping_timeouts: u64,
    next_ping: Option<Instant>,
    latency_total: Latencies,
    latency_interval: HashMap<GuidPrefix, Latencies>,
    // pong
    pongs_sent: u64,
    pongs_reported: u64,
    // pub
    written: u64,
    written_reported: u64,
    writing_since: Option<Instant>,
    next_write: Option<Instant>,
    // sub
    writers: HashMap<Guid, WriterCount>,
    totals: SubTotals,
    reported: (u64, u64, u64),
    // reporting
    next_report: Instant,
    last_report: Instant,
}

/// The line prefix ddsperf uses: `[pid] seconds-since-start`.
fn prefix(pid: u32, started: Instant, now: Instant) -> String {
    format!("[{pid}] {:.3} ", now.duration_since(started).as_secs_f64())
}

impl Node {
    fn create(
        d: &mut dyn Host,
        mode: Mode,
        size: usize,
        common: &CommonArgs,
        pid: u32,
    ) -> Result<Node, String> {
        let own = guid_partition(d.engine().guid_prefix());
        let now = d.now();
        let e = d.engine_mut();
        let err =
            |what: &str, e: pollen_engine::CreateError| format!("cannot create the {what}: {e}");
        let ping_writer = e
            .create_writer(
                now,
                &topic(PING_TOPIC, &[]),
                &writer_qos(History::KeepLast(1)),
            )
            .map_err(|x| err("ping writer", x))?;
        let ping_reader = e
            .create_reader(
                now,
                &topic(PING_TOPIC, &[]),
                &reader_qos(History::KeepLast(1)),
            )
            .map_err(|x| err("ping reader", x))?;
        let own_parts = [own.as_str()];
        let pong_reader = e
            .create_reader(
                now,
                &topic(PONG_TOPIC, &own_parts),
                &reader_qos(History::KeepAll),
            )
            .map_err(|x| err("pong reader", x))?;
        let data_writer = e
            .create_writer(now, &topic(DATA_TOPIC, &[]), &writer_qos(History::KeepAll))
            .map_err(|x| err("data writer", x))?;
        let data_reader = match mode {
            Mode::Sub => Some(
                e.create_reader(now, &topic(DATA_TOPIC, &[]), &reader_qos(History::KeepAll))
                    .map_err(|x| err("data reader", x))?,
            ),
            _ => None,
        };
        let started = Instant::now();
        Ok(Node {
            mode,
            pid,
            started,
            json: common.json,
            verbose: common.verbose,
            ping_writer,
            ping_reader,
            pong_reader,
            data_writer,
            data_reader,
            peers: Vec::new(),
            buf: vec![0; 65_536],
            sample: Sample::new(size),
            ping_seq: 0,
            ping_sent: None,
            pongs_seen: 0,
            ping_timeouts: 0,
            next_ping: None,
            latency_total: Latencies::default(),
            latency_interval: HashMap::new(),
            pongs_sent: 0,
            pongs_reported: 0,
            written: 0,
            written_reported: 0,
            writing_since: None,
            next_write: None,
            writers: HashMap::new(),
            totals: SubTotals::default(),
            reported: (0, 0, 0),
            next_report: started + REPORT_PERIOD,
            last_report: started,
        })
    }

    /// A periodic line: stdout, or stderr when stdout carries the JSON summary.
    fn say(&self, line: &str) {
        if self.json {
            eprintln!("{line}");
        } else {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    }

    fn size(&self) -> usize {
        self.sample.bytes.len().saturating_sub(4).max(FIXED_SIZE)
    }

    /// Makes a pong writer for each new ddsperf-style participant; drops those of the gone.
    fn sync_peers(&mut self, d: &mut dyn Host) {
        let now = Instant::now();
        let known: Vec<(GuidPrefix, PerfUserData)> = d
            .engine()
            .participants()
            .filter_map(|p| Some((p.guid_prefix, PerfUserData::parse(p.user_data())?)))
            .collect();
        let mut i = 0;
        while i < self.peers.len() {
            if known.iter().any(|(p, _)| *p == self.peers[i].prefix) {
                i += 1;
                continue;
            }
            let gone = self.peers.swap_remove(i);
            let t = d.now();
            d.engine_mut().delete_writer(t, gone.pong_writer);
            self.latency_interval.remove(&gone.prefix);
            self.say(&format!(
                "{}participant {}: gone",
                prefix(self.pid, self.started, now),
                gone.name
            ));
        }
        for (p, ud) in known {
            if self.peers.iter().any(|x| x.prefix == p) {
                continue;
            }
            let part = guid_partition(p);
            let parts = [part.as_str()];
            let t = d.now();
            let name = format!("{}:{}", ud.hostname, ud.pid);
            match d.engine_mut().create_writer(
                t,
                &topic(PONG_TOPIC, &parts),
                &writer_qos(History::KeepLast(1)),
            ) {
                Ok(w) => {
                    self.say(&format!(
                        "{}participant {name}: new",
                        prefix(self.pid, self.started, now)
                    ));
                    self.peers.push(Peer {
                        prefix: p,
                        name,
                        pong_writer: w,
                    });
                }
                Err(e) => {
                    // Out of writer slots: this peer gets no pongs; say so once per attempt.
                    eprintln!("pollen: no pong writer for {name}: {e}");
                }
            }
        }
    }

    fn pong_writer_for(&self, p: GuidPrefix) -> Option<WriterHandle> {
        self.peers
            .iter()
            .find(|x| x.prefix == p)
            .map(|x| x.pong_writer)
    }

    /// Takes the next sample of `r` into `buf`.
    fn take(&mut self, d: &mut dyn Host, r: ReaderHandle) -> Option<pollen_engine::SampleInfo> {
        crate::take(d.engine_mut(), r, &mut self.buf).ok().flatten()
    }

    /// Answers every queued ping on the pinger's pong writer, with its time verbatim.
    fn answer_pings(&mut self, d: &mut dyn Host) {
        while let Some(info) = self.take(d, self.ping_reader) {
            if info.state != pollen_engine::InstanceState::Alive {
                continue;
            }
            let (Some(ts), Some(w)) = (
                info.source_timestamp,
                self.pong_writer_for(info.writer.prefix),
            ) else {
                continue;
            };
            let t = d.now();
            if d.engine_mut()
                .write(t, w, &self.buf[..info.len], ts)
                .is_ok()
            {
                self.pongs_sent += 1;
            }
        }
    }

    /// Sends the next ping.
    fn ping(&mut self, d: &mut dyn Host, now: Instant) {
        self.ping_seq = self.ping_seq.wrapping_add(1);
        self.pongs_seen = 0;
        self.ping_sent = Some(now);
        let ts = Time::from_nanos(crate::host::wall_time().to_nanos() | 1);
        let t = d.now();
        let payload = self.sample.with_seq(self.ping_seq);
        // KEEP_LAST 1: a write never finds the history full.
        let _ = d.engine_mut().write(t, self.ping_writer, payload, ts);
    }

    /// Ready to ping: a peer answers, our ping writer matched a reader and a pong writer
    /// matched our pong reader. (A first ping the reader skips, because it had not heard a
    /// HEARTBEAT yet, is simply repeated after the timeout, as ddsperf does.)
    fn can_ping(&self, d: &dyn Host) -> bool {
        !self.peers.is_empty()
            && d.engine().matched_readers(self.ping_writer) > 0
            && d.engine().matched_writers(self.pong_reader) > 0
    }

    fn take_pongs(&mut self, d: &mut dyn Host) -> bool {
        let mut round_done = false;
        while let Some(info) = self.take(d, self.pong_reader) {
            let Some(ts) = info.source_timestamp else {
                continue;
            };
            if info.state != pollen_engine::InstanceState::Alive {
                continue;
            }
            let now_ns = crate::host::wall_time().to_nanos();
            let half = now_ns.saturating_sub(ts.to_nanos()) / 2;
            self.latency_total.record(half);
            self.latency_interval
                .entry(info.writer.prefix)
                .or_default()
                .record(half);
            let is_ping = ts.to_nanos() & 1 == 1;
            let seq = crate::payload::keyed_seq_fields(&self.buf[..info.len]).map(|f| f.0);
            if is_ping && seq == Some(self.ping_seq) {
                self.pongs_seen += 1;
                if self.pongs_seen >= self.peers.len() {
                    round_done = true;
                }
            }
        }
        round_done
    }

    fn take_data(&mut self, d: &mut dyn Host, r: ReaderHandle) {
        // The time of this wake-up: the clock is read once per wake-up, not per sample.
        let now = d.wake_time();
        while let Some(info) = self.take(d, r) {
            if info.state != pollen_engine::InstanceState::Alive {
                continue;
            }
            let Some((seq, keyval, baggage)) =
                crate::payload::keyed_seq_fields(&self.buf[..info.len])
            else {
                continue;
            };
            let size = FIXED_SIZE + baggage as usize;
            let w = self.writers.entry(info.writer).or_default();
            let expected = *w.next.get(&keyval).unwrap_or(&seq);
            let gap = seq.wrapping_sub(expected);
            if gap != 0 && gap < 1 << 31 {
                w.lost += gap as u64;
                self.totals.lost += gap as u64;
            }
            w.next.insert(keyval, seq.wrapping_add(1));
            w.received += 1;
            w.bytes += size as u64;
            self.totals.samples += 1;
            self.totals.bytes += size as u64;
            self.totals.first.get_or_insert(now);
            self.totals.last = Some(now);
            self.totals.last_size = size;
            // A ping embedded in the data: answer with the time minus 1 ns (lowest bit clear).
            if let Some(ts) = info.source_timestamp.filter(|t| t.to_nanos() & 1 == 1) {
                if let Some(pw) = self.pong_writer_for(info.writer.prefix) {
                    let t = d.now();
                    let echo = Time::from_nanos(ts.to_nanos() - 1);
                    let _ = d.engine_mut().write(t, pw, &self.buf[..info.len], echo);
                }
            }
        }
    }

    /// Writes data until the history is full, a burst is done or the rate says wait.
    /// Returns when to be called again (`None`: on the next I/O, an acknowledgement).
    fn write_data(
        &mut self,
        d: &mut dyn Host,
        now: Instant,
        period: Option<Duration>,
    ) -> Option<Instant> {
        for _ in 0..256 {
            if let (Some(p), Some(next)) = (period, self.next_write) {
                if now < next {
                    return Some(next);
                }
                self.next_write = Some(next + p);
            }
            let t = d.now();
            let seq = self.written as u32;
            let payload = self.sample.with_seq(seq);
            match d
                .engine_mut()
                .write(t, self.data_writer, payload, source_time())
            {
                Ok(_) => self.written += 1,
                Err(WriteError::HistoryFull) | Err(WriteError::OutOfMemory) => {
                    if let (Some(p), Some(next)) = (period, self.next_write) {
                        self.next_write = Some(next - p);
                    }
                    return None;
                }
                Err(e) => {
                    eprintln!("pollen: write: {e}");
                    return None;
                }
            }
        }
        Some(now)
    }

    fn report(&mut self, now: Instant) {
        let pre = prefix(self.pid, self.started, now);
        let dt = now.duration_since(self.last_report).as_secs_f64().max(1e-9);
        self.last_report = now;
        match self.mode {
            Mode::Ping { .. } => {
                let size = self.size();
                let mut lines = Vec::new();
                for p in &self.peers {
                    if let Some(l) = self.latency_interval.get_mut(&p.prefix) {
                        if let Some((min, p50, p90, p99)) = l.percentiles() {
                            lines.push(format!(
                                "{pre} {} size {size} mean {:.3}us min {:.3}us 50% {:.3}us 90% {:.3}us 99% {:.3}us max {:.3}us cnt {}",
                                p.name,
                                l.sum as f64 / l.count as f64 / 1e3,
                                us(min),
                                us(p50),
                                us(p90),
                                us(p99),
                                us(l.max),
                                l.count
                            ));
                        }
                        *l = Latencies::default();
                    }
                }
                for l in lines {
                    self.say(&l);
                }
            }
            Mode::Pong => {
                if self.pongs_sent > self.pongs_reported {
                    self.say(&format!(
                        "{pre}pong total {} delta {}",
                        self.pongs_sent,
                        self.pongs_sent - self.pongs_reported
                    ));
                    self.pongs_reported = self.pongs_sent;
                }
            }
            Mode::Pub { .. } => {
                let delta = self.written - self.written_reported;
                if self.written > 0 {
                    let bytes = delta * self.size() as u64;
                    self.say(&format!(
                        "{pre}pub size {} total {} delta {delta} rate {:.2} kS/s {:.2} Mb/s",
                        self.size(),
                        self.written,
                        delta as f64 / dt / 1e3,
                        bytes as f64 * 8.0 / dt / 1e6
                    ));
                }
                self.written_reported = self.written;
            }
            Mode::Sub => {
                let t = &self.totals;
                let (s0, l0, b0) = self.reported;
                let delta = t.samples - s0;
                if delta > 0 {
                    self.say(&format!(
                        "{pre}size {} total {} lost {} delta {delta} lost {} rate {:.2} kS/s {:.2} Mb/s",
                        t.last_size,
                        t.samples,
                        t.lost,
                        t.lost - l0,
                        delta as f64 / dt / 1e3,
                        (t.bytes - b0) as f64 * 8.0 / dt / 1e6
                    ));
                }
                self.reported = (t.samples, t.lost, t.bytes);
            }
        }
    }

    /// One turn of the loop; `Break` with the exit code at the end.
    fn step(&mut self, d: &mut dyn Host, end: Option<Instant>) -> ControlFlow<(), Option<Instant>> {
        let mut peers_changed = false;
        while let Some(ev) = d.engine_mut().poll_event() {
            crate::pubsub::report_refusal(&ev);
            match ev {
                Event::ParticipantDiscovered(_) | Event::ParticipantLost(_) => peers_changed = true,
                Event::Matched { remote, .. } if self.verbose => {
                    eprintln!("pollen: matched {remote}")
                }
                Event::IncompatibleQos { remote, policy, .. } => {
                    eprintln!("pollen: {remote} has incompatible QoS ({policy:?})")
                }
                _ => {}
            }
        }
        if peers_changed {
            self.sync_peers(d);
        }
        self.answer_pings(d);
        let now = d.wake_time();
        let mut wake = self.next_report;
        match self.mode {
            Mode::Ping { period } => {
                let round_done = self.take_pongs(d);
                let due = match (period, self.ping_sent) {
                    (_, None) => self.can_ping(d),
                    (None, Some(sent)) => round_done || now >= sent + PING_TIMEOUT,
                    (Some(_), Some(_)) => self.next_ping.is_some_and(|t| now >= t),
                };
                if due {
                    if let Some(sent) = self.ping_sent {
                        if self.pongs_seen < self.peers.len() && now >= sent + PING_TIMEOUT {
                            self.ping_timeouts += 1;
                        }
                    }
                    if !self.peers.is_empty() {
                        self.ping(d, now);
                        if let Some(p) = period {
                            let next = self.next_ping.map_or(now + p, |t| (t + p).max(now));
                            self.next_ping = Some(next);
                        }
                    }
                }
                match (period, self.ping_sent) {
                    (_, None) => wake = wake.min(now + Duration::from_millis(20)),
                    (None, Some(sent)) => wake = wake.min(sent + PING_TIMEOUT),
                    (Some(_), Some(_)) => {
                        if let Some(t) = self.next_ping {
                            wake = wake.min(t);
                        }
                    }
                }
            }
            Mode::Pong => {}
            Mode::Pub {
                period,
                wait_readers,
                ..
            } => {
                if self.writing_since.is_none()
                    && d.engine().matched_readers(self.data_writer) >= wait_readers.max(1)
                {
                    self.writing_since = Some(now);
                    self.next_write = period.map(|_| now);
                }
                if self.writing_since.is_some() && end.is_none_or(|e| now < e) {
                    if let Some(t) = self.write_data(d, now, period) {
                        wake = wake.min(t);
                    }
                } else {
                    wake = wake.min(now + Duration::from_millis(20));
                }
            }
            Mode::Sub => {
                if let Some(r) = self.data_reader {
                    self.take_data(d, r);
                }
            }
        }
        if now >= self.next_report {
            self.report(now);
            self.next_report += REPORT_PERIOD;
            if self.next_report <= now {
                self.next_report = now + REPORT_PERIOD;
            }
            wake = wake.min(self.next_report);
        }
        if let Some(e) = end {
            if now >= e {
                return ControlFlow::Break(());
            }
            wake = wake.min(e);
        }
        ControlFlow::Continue(Some(wake))
    }

    /// The final summary: a line, or JSON on stdout. Returns the exit code.
    fn summary(&mut self, d: &dyn Host) -> ExitCode {
        let (line, value, ok) = match self.mode {
            Mode::Ping { .. } => {
                let size = self.size();
                let l = &mut self.latency_total;
                let (min, p50, p90, p99) = l.percentiles().unwrap_or_default();
                let mean = if l.count > 0 {
                    l.sum as f64 / l.count as f64 / 1e3
                } else {
                    0.0
                };
                (
                    format!(
                        "ping: {} samples, half round trip mean {mean:.3}us min {:.3}us 50% {:.3}us 90% {:.3}us 99% {:.3}us max {:.3}us, {} timeouts",
                        l.count,
                        us(min),
                        us(p50),
                        us(p90),
                        us(p99),
                        us(l.max),
                        self.ping_timeouts
                    ),
                    json!({
                        "samples": l.count,
                        "mean_us": round3(mean),
                        "min_us": round3(us(min)),
                        "p50_us": round3(us(p50)),
                        "p90_us": round3(us(p90)),
                        "p99_us": round3(us(p99)),
                        "max_us": round3(us(l.max)),
                        "size": size,
                        "timeouts": self.ping_timeouts,
                        "peers": self.peers.len(),
                    }),
                    l.count > 0,
                )
            }
            Mode::Pong => (
                format!("pong: {} pongs sent", self.pongs_sent),
                json!({ "pongs": self.pongs_sent, "peers": self.peers.len() }),
                true,
            ),
            Mode::Pub { .. } => {
                let secs = self
                    .writing_since
                    .map_or(0.0, |t| t.elapsed().as_secs_f64())
                    .max(1e-9);
                let acked = d.engine().is_acknowledged(self.data_writer);
                let rate = self.written as f64 / secs;
                let mbit = rate * self.size() as f64 * 8.0 / 1e6;
                (
                    format!(
                        "perf pub: {} samples in {secs:.3}s, {rate:.0} samples/s, {mbit:.2} Mbit/s, acknowledged: {acked}",
                        self.written
                    ),
                    json!({
                        "samples": self.written,
                        "samples_per_s": rate.round(),
                        "mbit_per_s": round3(mbit),
                        "size": self.size(),
                        "acknowledged": acked,
                    }),
                    self.written > 0,
                )
            }
            Mode::Sub => {
                let t = &self.totals;
                let secs = match (t.first, t.last) {
                    (Some(a), Some(b)) if b > a => b.duration_since(a).as_secs_f64(),
                    _ => 0.0,
                };
                let rate = if secs > 0.0 {
                    t.samples.saturating_sub(1) as f64 / secs
                } else {
                    0.0
                };
                let mbit = if secs > 0.0 {
                    t.bytes as f64 * 8.0 / secs / 1e6
                } else {
                    0.0
                };
                (
                    format!(
                        "perf sub: {} samples, {} lost, {rate:.0} samples/s, {mbit:.2} Mbit/s, from {} writers",
                        t.samples,
                        t.lost,
                        self.writers.len()
                    ),
                    json!({
                        "samples": t.samples,
                        "lost": t.lost,
                        "samples_per_s": rate.round(),
                        "mbit_per_s": round3(mbit),
                        "writers": self.writers.len(),
                        "seconds": round3(secs),
                    }),
                    t.samples > 0 && t.lost == 0,
                )
            }
        };
        let mut out = std::io::stdout().lock();
        let _ = if self.json {
            writeln!(out, "{value}")
        } else {
            writeln!(out, "{line}")
        };
        let _ = out.flush();
        if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        }
    }
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1e3
}

fn round3(x: f64) -> f64 {
    (x * 1e3).round() / 1e3
}

/// A data sample's source timestamp: the wall clock with the lowest bit clear (set means "a
/// ping, answer it").
fn source_time() -> Time {
    Time::from_nanos(crate::host::wall_time().to_nanos() & !1)
}

fn run(p: &dyn Platform, mode: Mode, size: usize, common: &CommonArgs) -> ExitCode {
    if size > pollen_engine::Capacities::HOST.max_sample - 16 {
        return fail(format!(
            "--size is at most {}",
            pollen_engine::Capacities::HOST.max_sample - 16
        ));
    }
    let user_data = PerfUserData {
        has_reader: matches!(mode, Mode::Sub),
        pid: p.pid() as u64,
        hostname: p.hostname(),
    }
    .encode(pollen_engine::limits::MAX_USER_DATA);
    let mut host = match p.open(&common.net, user_data) {
        Ok(h) => h,
        Err(e) => return fail(e),
    };
    let mut node = match Node::create(host.as_mut(), mode, size, common, p.pid()) {
        Ok(n) => n,
        Err(e) => return fail(e),
    };
    let _ = host.as_mut().flush();
    let end = common.duration.map(|d| node.started + d);
    let mut notices = crate::notices::Notices::default();
    if let Err(e) = crate::host::run(host.as_mut(), |d| {
        notices.check(d);
        node.step(d, end)
    }) {
        return fail(e);
    }
    if let Mode::Pub { .. } = mode {
        // Give the readers the last samples: wait (bounded) for their acknowledgements.
        let limit = Instant::now() + Duration::from_secs(5);
        let _ = crate::host::run(host.as_mut(), |d| {
            while let Some(ev) = d.engine_mut().poll_event() {
                crate::pubsub::report_refusal(&ev);
            }
            if d.engine().is_acknowledged(node.data_writer) || Instant::now() >= limit {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(Some(Instant::now() + Duration::from_millis(10)))
            }
        });
    }
    let code = node.summary(host.as_mut());
    if let Mode::Pub {
        linger: Some(linger),
        ..
    } = mode
    {
        // Still answer heartbeats and discovery while the readers take the last samples.
        let end = Instant::now() + linger;
        let _ = crate::host::run(host.as_mut(), |d| {
            while let Some(ev) = d.engine_mut().poll_event() {
                crate::pubsub::report_refusal(&ev);
            }
            if Instant::now() >= end {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(Some(end))
            }
        });
    }
    host.shutdown(Duration::from_millis(100));
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_names_follow_ddsperf() {
        let p = GuidPrefix([
            0x01, 0x10, 0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6, 0x07, 0x18, 0x29, 0x30,
        ]);
        assert_eq!(guid_partition(p), "0110a1b2_c3d4e5f6_07182930_000001c1");
    }

    #[test]
    fn user_data_round_trip_and_refusals() {
        let u = PerfUserData {
            has_reader: true,
            pid: 1234,
            hostname: "box".into(),
        };
        assert_eq!(u.encode(64), b"DDSPerf:1:1234:box");
        assert_eq!(PerfUserData::parse(b"DDSPerf:1:1234:box"), Some(u.clone()));
        assert_eq!(
            PerfUserData::parse(b"DDSPerf:0:7:a:b").map(|u| u.hostname),
            Some("a:b".into())
        );
        assert_eq!(PerfUserData::parse(b"enclave=/;"), None);
        assert_eq!(PerfUserData::parse(b"DDSPerf:x:7:h"), None);
        assert_eq!(PerfUserData::parse(b"DDSPerf:0:7:h\0"), None);
        let long = PerfUserData {
            hostname: "h".repeat(100),
            ..u
        };
        assert_eq!(long.encode(32).len(), 32);
    }

    #[test]
    fn keyed_seq_fields_in_place() {
        let p = crate::payload::encode_keyed_seq(7, 3, &[1, 2, 3, 4, 5]);
        assert_eq!(crate::payload::keyed_seq_fields(&p), Some((7, 3, 5)));
        let be = [0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 1, 0, 0, 0, 0];
        assert_eq!(crate::payload::keyed_seq_fields(&be), Some((9, 1, 0)));
        assert_eq!(crate::payload::keyed_seq_fields(&[0, 1, 0, 0, 1]), None);
    }

    #[test]
    fn percentiles_pick_like_ddsperf() {
        let mut l = Latencies::default();
        for x in 1..=100 {
            l.record(x * 1000);
        }
        assert_eq!(l.percentiles(), Some((1000, 51_000, 91_000, 100_000)));
    }
}
