//! Two engines connected in memory, matched on a reliable KEEP_ALL topic, optionally each
//! holding the idle domain of [`crate::domain`]: what `benches/engine.rs` times and
//! `benches/scale_report.rs` compares.

use crate::domain;
use pollen_engine::wire::{Locator, Time};
use pollen_engine::{
    Config, Destination, Engine, History, Instant, ReaderHandle, ReaderQos, Reliability, Span,
    TopicSpec, WriterHandle, WriterQos,
};

/// Virtual time per iteration.
pub const STEP_US: u64 = 100;

/// Engine A (writer `w`) and engine B (reader `r`).
pub struct Pair {
    /// The writing engine (10.0.0.1).
    pub a: Box<Engine<'static>>,
    /// The reading engine (10.0.0.2).
    pub b: Box<Engine<'static>>,
    /// A's reliable KEEP_ALL writer.
    pub w: WriterHandle,
    /// B's reliable KEEP_ALL reader.
    pub r: ReaderHandle,
    /// The virtual clock.
    pub now: Instant,
    buf: Vec<u8>,
    out: Vec<u8>,
    /// Iterations run (to report datagrams per iteration).
    pub rounds: u64,
}

/// The writer's QoS of [`Pair::new`]: reliable, KEEP_ALL, default limits.
pub fn writer_qos() -> WriterQos {
    WriterQos {
        reliability: Reliability::Reliable,
        history: History::KeepAll,
        ..WriterQos::default()
    }
}

/// The reader's QoS of [`Pair::new`]: reliable, KEEP_ALL, default limits.
pub fn reader_qos() -> ReaderQos {
    ReaderQos {
        reliability: Reliability::Reliable,
        history: History::KeepAll,
        ..ReaderQos::default()
    }
}

impl Pair {
    /// The pair, matched; with `idle`, each engine holds the idle domain.
    pub fn new(idle: bool) -> Pair {
        Pair::with(idle, domain::config, &writer_qos(), &reader_qos())
    }

    /// The pair, matched, with engine `n`'s configuration from `config(n)` (A is 1, B is 2;
    /// [`domain::config`] for [`Pair::new`]) and the given endpoint QoS; with `idle`, each
    /// engine holds the idle domain (which needs [`domain::CAPACITIES`] or more).
    pub fn with(idle: bool, config: impl Fn(u8) -> Config, wq: &WriterQos, rq: &ReaderQos) -> Pair {
        let topic = TopicSpec::new("bench/engine", "Blob");
        let engine = |n| Box::new(Engine::new(config(n), Instant(0)).expect("valid config"));
        let now = Instant(0);
        let mut a = engine(1);
        let mut b = engine(2);
        let w = a.create_writer(now, &topic, wq).expect("writer");
        let r = b.create_reader(now, &topic, rq).expect("reader");
        let mut now = now;
        if idle {
            for (e, tag) in [(&mut a, 1), (&mut b, 2)] {
                domain::add_local_writers(e, now, tag);
                let (t, done) = domain::populate(e, now, Span::from_secs(5));
                assert_eq!(done.owed_after_ack, 0, "the idle domain is owed nothing");
                now = t;
            }
        }
        let mut p = Pair {
            a,
            b,
            w,
            r,
            now,
            buf: vec![0u8; 64 * 1024],
            out: vec![0u8; 64 * 1024],
            rounds: 0,
        };
        let start = now.0;
        while p.a.matched_readers(p.w) == 0 || p.b.matched_writers(p.r) == 0 {
            p.now = Instant(p.now.0 + 10_000);
            assert!(p.now.0 < start + 10_000_000, "the bench pair never matched");
            p.tick();
            p.pump();
        }
        if idle {
            p.settle();
            // Each holds the domain, the other engine, and the other's endpoints (its bench
            // endpoint and its local writers); only the bench endpoints match.
            for e in [&p.a, &p.b] {
                domain::assert_holds(
                    e,
                    domain::PARTICIPANTS + 1,
                    domain::ENDPOINTS + 1 + domain::LOCAL_WRITERS,
                    1,
                );
            }
        }
        p
    }

    /// Runs the clock for 10 s of virtual time in 10 ms steps, moving datagrams between the
    /// two and counting those to the idle domain: there must be none.
    fn settle(&mut self) {
        let end = self.now.0 + 10_000_000;
        let mut synthetic = 0;
        while self.now.0 < end {
            self.now = Instant(self.now.0 + 10_000);
            self.tick();
            let now = self.now;
            let src = Locator::udpv4([10, 0, 0, 1], 7411);
            loop {
                let mut inbox: Vec<(bool, Vec<u8>)> = Vec::new();
                for (to_b, e) in [(true, &mut self.a), (false, &mut self.b)] {
                    let (_, s) =
                        domain::drain(e, now, &mut self.buf, |_, d| inbox.push((to_b, d.to_vec())));
                    synthetic += s;
                }
                if inbox.is_empty() {
                    break;
                }
                for (to_b, d) in inbox {
                    let e = if to_b { &mut self.b } else { &mut self.a };
                    e.handle_datagram(now, src, src, &d);
                }
            }
        }
        assert_eq!(synthetic, 0, "datagrams to the idle domain while settling");
    }

    /// Runs the timers that are due.
    pub fn tick(&mut self) {
        let now = self.now;
        for e in [&mut self.a, &mut self.b] {
            if e.poll_timeout().is_some_and(|t| t <= now) {
                e.handle_timeout(now);
            }
        }
    }

    /// Moves every owed datagram between the two engines until both are quiet.
    pub fn pump(&mut self) {
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

    /// Datagrams both engines sent so far.
    pub fn datagrams(&self) -> u64 {
        self.a.stats().datagrams_out + self.b.stats().datagrams_out
    }

    /// Writes `n` samples, exchanges until quiet, takes them all; returns the bytes taken.
    pub fn round(&mut self, payload: &[u8], n: usize) -> usize {
        self.rounds += 1;
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

/// A serialized payload of `size` bytes (CDR little-endian header, then filler).
pub fn payload(size: usize) -> Vec<u8> {
    let mut p = vec![0x5a; size];
    p[..4].copy_from_slice(&[0, 1, 0, 0]);
    p
}
