//! Engine stream benchmark: the writer side and the reader side of a reliable stream of small
//! samples, each timed on its own, next to two yardsticks measured in the same run.
//!
//! The engine pair of `benches/engine.rs` ([`Pair`]: two engines in memory, a reliable
//! KEEP_ALL writer on A and reader on B, matched before timing starts), with writer history
//! and reader queue of [`HISTORY`] samples, 16-byte payloads (4 of them the encapsulation
//! header) and `Config::mtu` of 1472 or 16 KiB. One round writes [`IN_FLIGHT`] samples on A
//! before anything moves, so all of them are unacknowledged at once; then the datagrams go
//! back and forth until both are quiet (DATA with HEARTBEAT one way, ACKNACK the other, and
//! whatever timers fell due: virtual time advances 100 µs a round), and B takes every sample.
//!
//! Each engine's calls are timed separately (`std::time::Instant` around each stretch of
//! calls on one engine, a handful per round):
//!
//! - writer side: A's due timers, the writes, every `poll_transmit` of A (building the DATA
//!   and HEARTBEAT datagrams), A's `handle_datagram` of B's ACKNACKs, and A's events;
//! - reader side: B's due timers, B's `handle_datagram` of A's datagrams, every `take` (into a
//!   caller buffer), every `poll_transmit` of B (its ACKNACKs), and B's events.
//!
//! `engine_stream/writer/<mtu>` reports the writer side's time, `engine_stream/reader/<mtu>`
//! the reader side's, both per sample (`Throughput::Elements`). The yardsticks work on the
//! datagrams of one round recorded after the warm-up (both directions), per sample of the
//! round too:
//!
//! - `engine_stream/memcpy/<mtu>`: `copy_from_slice` of each datagram into an MTU buffer;
//! - `engine_stream/wire_build_parse/<mtu>`: the wire layer alone, with no engine around it:
//!   each datagram built again with `MessageBuilder` from its parsed submessages (payloads
//!   copied in), then parsed with `Message::parse`, every submessage parsed
//!   (`RawSubmessage::parse`).
//!
//! A counting global allocator checks that nothing allocates while measuring: every measured
//! batch (criterion's `iter_custom` closure, outside criterion's own bookkeeping) panics if
//! the count moved, for the engines and the yardsticks alike.
//!
//! Run: `cargo bench -p pollen-benches --bench engine_stream`; after each MTU the datagrams
//! and bytes per round are printed.

use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, Throughput,
};
use pollen_benches::domain;
use pollen_benches::pair::{payload, reader_qos, writer_qos, Pair, STEP_US};
use pollen_engine::wire::{HeaderRepr, Locator, Message, MessageBuilder, SubmessageRepr, Time};
use pollen_engine::{Capacities, Config, Destination, Engine, Instant};
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// The system allocator, counting allocations.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is forwarded to `System` unchanged; the counter only observes.
// A counting allocator needs `unsafe` (the trait is unsafe to implement).
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Relaxed);
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Relaxed);
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: `p` was allocated by `System` with `l`.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Relaxed);
        // SAFETY: `p` was allocated by `System` with `l`.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` and panics if anything was allocated meanwhile.
fn no_alloc<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let before = ALLOCATIONS.load(Relaxed);
    let t = f();
    let n = ALLOCATIONS.load(Relaxed) - before;
    assert_eq!(n, 0, "{what}: {n} allocations in one measured batch");
    t
}

/// Samples written per round before any datagram moves: all unacknowledged at once.
const IN_FLIGHT: usize = 256;
/// Writer history and reader queue (samples): room for two rounds in flight.
const HISTORY: usize = 2 * IN_FLIGHT;
/// Bytes per sample, the encapsulation header included.
const PAYLOAD: usize = 16;
/// The MTUs measured.
const MTUS: [usize; 2] = [1472, 16 << 10];

/// Bench engine `n` (`domain::config`) with `HOST` capacities but [`HISTORY`] samples of
/// writer history and reader queue, and the given MTU.
fn config(mtu: usize) -> impl Fn(u8) -> Config {
    move |n| {
        let mut c = domain::config(n);
        c.mtu = mtu;
        c.capacities = Capacities {
            history: HISTORY,
            reader_samples: HISTORY,
            ..Capacities::HOST
        };
        // `in_flight` (2 MiB per reliable reader) is far above a round's bytes.
        assert!(c.capacities.in_flight >= IN_FLIGHT * 64);
        c
    }
}

/// Datagrams one engine sent, back to back in a buffer sized once: receiving them into it
/// allocates nothing.
struct Outbox {
    bytes: Vec<u8>,
    /// (offset, length, destination) of each datagram.
    sent: Vec<(usize, usize, Locator)>,
    mtu: usize,
}

impl Outbox {
    fn new(mtu: usize) -> Outbox {
        // Far more than a round needs (at 1472 about 10 datagrams one way).
        let max = 4 * IN_FLIGHT;
        Outbox {
            bytes: vec![0; 64 * IN_FLIGHT * 4 + mtu * 4],
            sent: Vec::with_capacity(max),
            mtu,
        }
    }

    fn clear(&mut self) {
        self.sent.clear();
    }

    fn is_empty(&self) -> bool {
        self.sent.is_empty()
    }

    /// Every datagram `e` owes, appended.
    fn drain(&mut self, e: &mut Engine<'static>, now: Instant) {
        loop {
            let off = self.sent.last().map_or(0, |&(o, l, _)| o + l);
            assert!(
                off + self.mtu <= self.bytes.len() && self.sent.len() < self.sent.capacity(),
                "outbox full: the round sends more than the bench expects"
            );
            let Some(t) = e.poll_transmit(now, &mut self.bytes[off..off + self.mtu]) else {
                return;
            };
            if let Destination::Udp(dst) = t.destination {
                self.sent.push((off, t.len, dst));
            }
        }
    }

    /// Hands every datagram to `e` as coming from `src`.
    fn deliver(&self, e: &mut Engine<'static>, now: Instant, src: Locator) {
        for &(off, len, dst) in &self.sent {
            e.handle_datagram(now, src, dst, &self.bytes[off..off + len]);
        }
    }

    fn datagrams(&self) -> impl Iterator<Item = &[u8]> {
        self.sent.iter().map(|&(o, l, _)| &self.bytes[o..o + l])
    }
}

/// Runs `e`'s timers if one is due.
fn tick(e: &mut Engine<'static>, now: Instant) {
    if e.poll_timeout().is_some_and(|t| t <= now) {
        e.handle_timeout(now);
    }
}

/// The stream: a [`Pair`] and the time each side spent.
struct Stream {
    pair: Pair,
    payload: Vec<u8>,
    to_b: Outbox,
    to_a: Outbox,
    out: Vec<u8>,
    writer: Duration,
    reader: Duration,
    rounds: u64,
    datagrams_to_b: u64,
    datagrams_to_a: u64,
    bytes: u64,
}

const A: Locator = Locator::udpv4([10, 0, 0, 1], 7411);
const B: Locator = Locator::udpv4([10, 0, 0, 2], 7411);

impl Stream {
    fn new(mtu: usize) -> Stream {
        let mut wq = writer_qos();
        wq.max_samples = HISTORY as u16;
        let mut rq = reader_qos();
        rq.max_samples = HISTORY as u16;
        let pair = Pair::with(false, config(mtu), &wq, &rq);
        let mut s = Stream {
            pair,
            payload: payload(PAYLOAD),
            to_b: Outbox::new(mtu),
            to_a: Outbox::new(mtu),
            out: vec![0; 64],
            writer: Duration::ZERO,
            reader: Duration::ZERO,
            rounds: 0,
            datagrams_to_b: 0,
            datagrams_to_a: 0,
            bytes: 0,
        };
        // Warm up past the first heartbeats and acknowledgements.
        for _ in 0..100 {
            s.round(None);
        }
        s.reset();
        s
    }

    fn reset(&mut self) {
        self.writer = Duration::ZERO;
        self.reader = Duration::ZERO;
        self.rounds = 0;
        self.datagrams_to_b = 0;
        self.datagrams_to_a = 0;
        self.bytes = 0;
    }

    /// One round: [`IN_FLIGHT`] writes, then the exchange until both are quiet, every sample
    /// taken. With `record`, a copy of every datagram (allocates: not for measured rounds).
    fn round(&mut self, mut record: Option<&mut Vec<Vec<u8>>>) {
        let p = &mut self.pair;
        p.now = Instant(p.now.0 + STEP_US);
        let now = p.now;
        let mut taken = 0;
        self.to_a.clear();
        self.to_b.clear();

        let t = std::time::Instant::now();
        tick(&mut p.a, now);
        for _ in 0..IN_FLIGHT {
            p.a.write(now, p.w, &self.payload, Time::ZERO)
                .expect("write: the history holds a round");
        }
        self.to_b.drain(&mut p.a, now);
        while p.a.poll_event().is_some() {}
        let mut t_w = t.elapsed();
        let mut t_r = Duration::ZERO;
        let mut first = true;
        while !self.to_b.is_empty() {
            self.datagrams_to_b += self.to_b.sent.len() as u64;
            if let Some(rec) = record.as_deref_mut() {
                rec.extend(self.to_b.datagrams().map(<[u8]>::to_vec));
            }
            self.bytes += self.to_b.datagrams().map(|d| d.len() as u64).sum::<u64>();

            let t = std::time::Instant::now();
            if first {
                tick(&mut p.b, now);
                first = false;
            }
            self.to_b.deliver(&mut p.b, now, A);
            while let Some(info) = p.b.take(p.r, &mut self.out).expect("take") {
                black_box(info);
                taken += 1;
            }
            self.to_a.clear();
            self.to_a.drain(&mut p.b, now);
            while p.b.poll_event().is_some() {}
            t_r += t.elapsed();

            if self.to_a.is_empty() {
                break;
            }
            self.datagrams_to_a += self.to_a.sent.len() as u64;
            if let Some(rec) = record.as_deref_mut() {
                rec.extend(self.to_a.datagrams().map(<[u8]>::to_vec));
            }
            self.bytes += self.to_a.datagrams().map(|d| d.len() as u64).sum::<u64>();

            let t = std::time::Instant::now();
            self.to_a.deliver(&mut p.a, now, B);
            self.to_b.clear();
            self.to_b.drain(&mut p.a, now);
            while p.a.poll_event().is_some() {}
            t_w += t.elapsed();
        }
        assert_eq!(taken, IN_FLIGHT, "every sample arrives in its round");
        self.writer += t_w;
        self.reader += t_r;
        self.rounds += 1;
    }
}

/// The datagrams of one round, parsed: what the wire yardstick builds again.
struct Parsed<'a> {
    header: HeaderRepr,
    subs: Vec<SubmessageRepr<'a>>,
    len: usize,
}

fn parse(d: &[u8]) -> Parsed<'_> {
    let m = Message::parse(d).expect("the engine's datagram parses");
    let subs = m
        .submessages()
        .map(|r| {
            r.and_then(|r| r.parse())
                .expect("the engine's submessage parses")
        })
        .collect();
    Parsed {
        header: m.header,
        subs,
        len: d.len(),
    }
}

/// Builds `p` into `buf`, then parses it back; returns the submessages parsed.
fn build_parse(p: &Parsed<'_>, buf: &mut [u8]) -> usize {
    let mut b = MessageBuilder::new(buf, &p.header).expect("header fits");
    for s in &p.subs {
        b.push(s).expect("submessage fits");
    }
    let len = b.finish();
    let m = Message::parse(&buf[..len]).expect("parses");
    let mut n = 0;
    for raw in m.submessages() {
        if let Ok(s) = raw.and_then(|r| r.parse()) {
            black_box(s);
            n += 1;
        }
    }
    n
}

type Group<'a> = BenchmarkGroup<'a, criterion::measurement::WallTime>;

fn side(g: &mut Group<'_>, s: &mut Stream, mtu: usize, name: &str, writer: bool) {
    g.bench_function(BenchmarkId::new(name, mtu), |b| {
        b.iter_custom(|iters| {
            let (w0, r0) = (s.writer, s.reader);
            no_alloc(name, || {
                for _ in 0..iters {
                    s.round(None);
                }
            });
            if writer {
                s.writer - w0
            } else {
                s.reader - r0
            }
        })
    });
}

fn engine_stream(c: &mut Criterion) {
    for mtu in MTUS {
        let mut g = c.benchmark_group("engine_stream");
        g.throughput(Throughput::Elements(IN_FLIGHT as u64));
        let mut s = Stream::new(mtu);

        // One round recorded for the yardsticks.
        let mut rec = Vec::new();
        s.round(Some(&mut rec));
        s.reset();

        side(&mut g, &mut s, mtu, "writer", true);
        side(&mut g, &mut s, mtu, "reader", false);
        println!(
            "engine_stream/{mtu}: per round of {IN_FLIGHT} samples over {} rounds: \
             {:.2} datagrams A→B, {:.2} B→A, {:.0} bytes; writer {:.1} ns/sample, \
             reader {:.1} ns/sample",
            s.rounds,
            s.datagrams_to_b as f64 / s.rounds.max(1) as f64,
            s.datagrams_to_a as f64 / s.rounds.max(1) as f64,
            s.bytes as f64 / s.rounds.max(1) as f64,
            s.writer.as_nanos() as f64 / (s.rounds.max(1) * IN_FLIGHT as u64) as f64,
            s.reader.as_nanos() as f64 / (s.rounds.max(1) * IN_FLIGHT as u64) as f64,
        );
        let lens: Vec<usize> = rec.iter().map(Vec::len).collect();
        println!(
            "engine_stream/{mtu}: recorded round: {} datagrams, {} bytes, lengths {lens:?}",
            rec.len(),
            lens.iter().sum::<usize>()
        );

        let mut dst = vec![0u8; mtu];
        g.bench_function(BenchmarkId::new("memcpy", mtu), |b| {
            b.iter_custom(|iters| {
                no_alloc("memcpy", || {
                    let t = std::time::Instant::now();
                    for _ in 0..iters {
                        for d in &rec {
                            dst[..d.len()].copy_from_slice(black_box(d));
                            black_box(&mut dst);
                        }
                    }
                    t.elapsed()
                })
            })
        });

        let parsed: Vec<Parsed<'_>> = rec.iter().map(|d| parse(d)).collect();
        for p in &parsed {
            let n = build_parse(p, &mut dst);
            assert_eq!(n, p.subs.len(), "the rebuilt datagram parses whole");
        }
        let rebuilt: usize = parsed
            .iter()
            .map(|p| {
                let mut b = MessageBuilder::new(&mut dst, &p.header).expect("header");
                for s in &p.subs {
                    b.push(s).expect("fits");
                }
                b.finish()
            })
            .sum();
        println!(
            "engine_stream/{mtu}: rebuilt by MessageBuilder: {rebuilt} bytes (engine: {})",
            parsed.iter().map(|p| p.len).sum::<usize>()
        );
        g.bench_function(BenchmarkId::new("wire_build_parse", mtu), |b| {
            b.iter_custom(|iters| {
                no_alloc("wire_build_parse", || {
                    let t = std::time::Instant::now();
                    for _ in 0..iters {
                        for p in &parsed {
                            black_box(build_parse(black_box(p), &mut dst));
                        }
                    }
                    t.elapsed()
                })
            })
        });
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    targets = engine_stream
}
criterion_main!(benches);
