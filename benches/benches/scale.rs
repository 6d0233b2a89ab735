//! Scale micro-benchmarks: what an engine costs when it has nothing to do, and the periodic
//! and occasional work, with empty tables and with the large idle domain of
//! `pollen_benches::domain` (1000 remote participants, 20 000 remote endpoints on topics of
//! their own, 100 local writers; everything acknowledged, so nothing is owed).
//!
//! - `idle_poll/call` and `idle_poll/memcpy64`: the yardsticks, in the same run: a call of a
//!   function that is not inlined, and `copy_from_slice` of 64 bytes.
//! - `idle_poll/poll_transmit/{empty,idle_domain}`: `poll_transmit` with nothing owed (checked:
//!   it returns `None`), at a fixed time.
//! - `idle_poll/poll_timeout/{empty,idle_domain}`: `poll_timeout` (the top of the timer heap).
//! - `periodic/announce/{empty,idle_domain}`: one SPDP announcement period: the clock advances
//!   by `announce_period`, `handle_timeout`, then `poll_transmit` until `None` (one multicast
//!   datagram: the synthetic participants listen to multicast, so none is owed a unicast
//!   copy; checked).
//! - `create_writer/{empty,participants_only,idle_domain}`: `create_writer` on a new topic
//!   (timed alone; the writers are deleted and the transmits drained between batches,
//!   untimed). `participants_only` holds the 1000 participants without any remote endpoint, to
//!   tell the cost of the participants (an SEDP announcement owed to each) from the cost of
//!   the remote endpoints.
//!
//! Run: `cargo bench -p pollen-benches --bench scale`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use pollen_benches::domain;
use pollen_engine::{Engine, Instant, TopicSpec, WriterQos};
use std::hint::black_box;
use std::time::Duration;

#[inline(never)]
fn trivial(x: u64) -> u64 {
    x.wrapping_mul(3).wrapping_add(1)
}

type Built = (Box<Engine<'static>>, Instant);

fn build(which: &str) -> Built {
    match which {
        "empty" => domain::empty_engine(1),
        "participants_only" => domain::idle_engine(1, false),
        _ => domain::idle_engine(1, true),
    }
}

fn idle_poll(c: &mut Criterion) {
    let mut g = c.benchmark_group("idle_poll");
    g.bench_function("call", |b| {
        let mut x = 0u64;
        b.iter(|| {
            x = black_box(trivial(black_box(x)));
        })
    });
    let src = [0x5au8; 64];
    let mut dst = [0u8; 64];
    g.bench_function("memcpy64", |b| {
        b.iter(|| {
            dst.copy_from_slice(black_box(&src));
            black_box(&mut dst);
        })
    });
    for which in ["empty", "idle_domain"] {
        let mut built: Option<Built> = None;
        let mut buf = vec![0u8; 64 * 1024];
        g.bench_function(BenchmarkId::new("poll_transmit", which), |b| {
            let (e, now) = built.get_or_insert_with(|| build(which));
            let now = *now;
            assert!(e.poll_transmit(now, &mut buf).is_none(), "nothing owed");
            b.iter(|| black_box(e.poll_transmit(black_box(now), &mut buf)))
        });
        if let Some((e, now)) = built.as_mut() {
            assert!(
                e.poll_transmit(*now, &mut buf).is_none(),
                "still nothing owed"
            );
        }
        g.bench_function(BenchmarkId::new("poll_timeout", which), |b| {
            let (e, _) = built.get_or_insert_with(|| build(which));
            b.iter(|| black_box(e.poll_timeout()))
        });
    }
    g.finish();
}

fn periodic(c: &mut Criterion) {
    let mut g = c.benchmark_group("periodic");
    for which in ["empty", "idle_domain"] {
        let mut built: Option<Built> = None;
        let mut buf = vec![0u8; 64 * 1024];
        let mut sent = (0u64, 0u64);
        g.bench_function(BenchmarkId::new("announce", which), |b| {
            let (e, now) = built.get_or_insert_with(|| build(which));
            let period = e.config().announce_period.micros();
            b.iter(|| {
                *now = Instant(now.0 + period);
                e.handle_timeout(*now);
                while e.poll_transmit(*now, &mut buf).is_some() {
                    sent.0 += 1;
                }
                sent.1 += 1;
            })
        });
        assert_eq!(sent.0, sent.1, "{which}: one datagram per announcement");
    }
    g.finish();
}

fn create_writer(c: &mut Criterion) {
    let mut g = c.benchmark_group("create_writer");
    g.sample_size(20);
    for which in ["empty", "participants_only", "idle_domain"] {
        let mut built: Option<Built> = None;
        let mut buf = vec![0u8; 64 * 1024];
        let mut serial = 0u64;
        g.bench_function(which, |b| {
            let (e, now) = built.get_or_insert_with(|| build(which));
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let n = left.min(200);
                    left -= n;
                    let names: Vec<String> = (0..n)
                        .map(|_| {
                            serial += 1;
                            format!("bench/create/{serial}")
                        })
                        .collect();
                    let mut made = Vec::with_capacity(n as usize);
                    let t = std::time::Instant::now();
                    for name in &names {
                        let w = e
                            .create_writer(
                                *now,
                                &TopicSpec::new(name, "Blob"),
                                &WriterQos::default(),
                            )
                            .expect("writer");
                        made.push(w);
                    }
                    total += t.elapsed();
                    for w in made {
                        e.delete_writer(*now, w);
                    }
                    domain::drain(e, *now, &mut buf, |_, _| {});
                }
                total
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = idle_poll, periodic, create_writer
}
criterion_main!(benches);
