//! Engine benchmarks: samples through two engines connected in memory.
//!
//! Engine A has a reliable KEEP_ALL writer, engine B a reliable KEEP_ALL reader on the same
//! topic; they discover each other and match before timing starts. One iteration writes
//! samples on A, moves every datagram between the two until both are quiet (DATA, HEARTBEAT,
//! ACKNACK, and whatever timers fell due), and takes the samples on B. Time is virtual and
//! advances 100 µs per iteration, so periodic heartbeats and announcements happen at the rate
//! they would at 10 000 iterations per second.
//!
//! - `engine_pair/one/<size>`: one sample per iteration (one datagram each way).
//! - `engine_pair/batch32/<size>`: 32 writes, then one exchange, then 32 takes: shows what
//!   packing several DATA per datagram saves.
//!
//! Throughput is in samples (`Throughput::Elements`), so criterion prints samples per second;
//! the time per iteration divided by the batch size is the CPU time per sample, both engines
//! together.
//!
//! Run: `cargo bench -p pollen-benches --bench engine`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use pollen_engine::wire::{GuidPrefix, Locator, Time};
use pollen_engine::{
    Config, Destination, Engine, History, Instant, ReaderHandle, ReaderQos, Reliability, TopicSpec,
    WriterHandle, WriterQos,
};
use std::hint::black_box;
use std::time::Duration;

const STEP_US: u64 = 100;

struct Pair {
    a: Box<Engine<'static>>,
    b: Box<Engine<'static>>,
    w: WriterHandle,
    r: ReaderHandle,
    now: Instant,
    buf: Vec<u8>,
    out: Vec<u8>,
}

fn engine(n: u8) -> Box<Engine<'static>> {
    let mut c = Config::new(GuidPrefix([n; 12]));
    c.unicast_address = [10, 0, 0, n];
    Box::new(Engine::new(c, Instant(0)).expect("valid config"))
}

impl Pair {
    fn new() -> Pair {
        let topic = TopicSpec::new("bench/engine", "Blob");
        let wq = WriterQos {
            reliability: Reliability::Reliable,
            history: History::KeepAll,
            ..WriterQos::default()
        };
        let rq = ReaderQos {
            reliability: Reliability::Reliable,
            history: History::KeepAll,
            ..ReaderQos::default()
        };
        let now = Instant(0);
        let mut a = engine(1);
        let mut b = engine(2);
        let w = a.create_writer(now, &topic, &wq).expect("writer");
        let r = b.create_reader(now, &topic, &rq).expect("reader");
        let mut p = Pair {
            a,
            b,
            w,
            r,
            now,
            buf: vec![0u8; 64 * 1024],
            out: vec![0u8; 64 * 1024],
        };
        while p.a.matched_readers(p.w) == 0 || p.b.matched_writers(p.r) == 0 {
            p.now = Instant(p.now.0 + 10_000);
            assert!(p.now.0 < 10_000_000, "the bench pair never matched");
            p.tick();
            p.pump();
        }
        p
    }

    fn tick(&mut self) {
        let now = self.now;
        for e in [&mut self.a, &mut self.b] {
            if e.poll_timeout().is_some_and(|t| t <= now) {
                e.handle_timeout(now);
            }
        }
    }

    /// Moves every owed datagram between the two engines until both are quiet.
    fn pump(&mut self) {
        let now = self.now;
        let src = Locator::udpv4([10, 0, 0, 1], 7411);
        loop {
            let mut moved = false;
            while let Some(t) = self.a.poll_transmit(now, &mut self.buf) {
                if let Destination::Udp(_) = t.destination {
                    self.b.handle_datagram(now, src, src, &self.buf[..t.len]);
                }
                moved = true;
            }
            while let Some(t) = self.b.poll_transmit(now, &mut self.buf) {
                if let Destination::Udp(_) = t.destination {
                    self.a.handle_datagram(now, src, src, &self.buf[..t.len]);
                }
                moved = true;
            }
            while self.a.poll_event().is_some() {}
            while self.b.poll_event().is_some() {}
            if !moved {
                return;
            }
        }
    }

    /// Writes `n` samples, exchanges until quiet, takes them all; returns the bytes taken.
    fn round(&mut self, payload: &[u8], n: usize) -> usize {
        self.now = Instant(self.now.0 + STEP_US);
        for _ in 0..n {
            self.a
                .write(self.now, self.w, payload, Time::ZERO)
                .expect("write");
        }
        self.tick();
        self.pump();
        let mut taken = 0;
        let mut bytes = 0;
        while let Some(info) = self.b.take(self.r, &mut self.out).expect("take") {
            taken += 1;
            bytes += info.len;
        }
        assert_eq!(taken, n, "every sample arrives in the same round");
        bytes
    }
}

fn payload(size: usize) -> Vec<u8> {
    let mut p = vec![0x5a; size];
    p[..4].copy_from_slice(&[0, 1, 0, 0]);
    p
}

fn engine_pair(c: &mut Criterion) {
    let mut g = c.benchmark_group("engine_pair");
    for (name, batch) in [("one", 1usize), ("batch32", 32)] {
        for size in [64usize, 1024] {
            let data = payload(size);
            let mut pair = Pair::new();
            // Warm up past the first heartbeats and acknowledgements.
            for _ in 0..100 {
                pair.round(&data, batch);
            }
            g.throughput(Throughput::Elements(batch as u64));
            g.bench_with_input(BenchmarkId::new(name, size), &data, |b, data| {
                b.iter(|| black_box(pair.round(black_box(data), batch)))
            });
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = engine_pair
}
criterion_main!(benches);
