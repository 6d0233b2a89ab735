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
//! Each runs twice, with the same configuration of the two engines
//! (`pollen_benches::domain::config`: `HOST` capacities with room for the idle domain, a lease
//! of about 116 days so that no liveliness assertion falls inside a run):
//!
//! - `engine_pair/...`: nothing else in the tables;
//! - `engine_pair_idle/...`: each of the two engines also holds a large idle domain
//!   (`pollen_benches::domain`): 1000 remote participants with 20 000 remote endpoints on
//!   topics of their own (fed as synthetic SPDP and SEDP, then acknowledged, so that nothing is
//!   owed to them), and 100 local writers on topics of their own. The setup asserts that both
//!   engines hold them and that nothing is sent to the idle domain while the clock runs.
//!
//! The goal of the scale work is `engine_pair_idle` within 10 % of `engine_pair`. After each
//! benchmark the datagrams per iteration (both engines) are printed: they must be the same
//! with and without the idle domain.
//!
//! Run: `cargo bench -p pollen-benches --bench engine`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use pollen_benches::pair::{payload, Pair};
use std::hint::black_box;
use std::time::Duration;

fn engine_pair(c: &mut Criterion) {
    for (group, idle) in [("engine_pair", false), ("engine_pair_idle", true)] {
        let mut g = c.benchmark_group(group);
        for (name, batch) in [("one", 1usize), ("batch32", 32)] {
            for size in [64usize, 1024] {
                let data = payload(size);
                // Built on first use, so that a filter skips the setup of what it skips.
                let mut pair: Option<(Pair, u64)> = None;
                g.throughput(Throughput::Elements(batch as u64));
                g.bench_with_input(BenchmarkId::new(name, size), &data, |b, data| {
                    let (pair, _) = pair.get_or_insert_with(|| {
                        let t = std::time::Instant::now();
                        let mut pair = Pair::new(idle);
                        // Warm up past the first heartbeats and acknowledgements.
                        for _ in 0..100 {
                            pair.round(data, batch);
                        }
                        if idle {
                            println!("{group}: setup {:.2?}", t.elapsed());
                        }
                        pair.rounds = 0;
                        let before = pair.datagrams();
                        (pair, before)
                    });
                    b.iter(|| black_box(pair.round(black_box(data), batch)))
                });
                if let Some((pair, before)) = pair {
                    println!(
                        "{group}/{name}/{size}: {:.3} datagrams per iteration over {} iterations",
                        (pair.datagrams() - before) as f64 / pair.rounds.max(1) as f64,
                        pair.rounds
                    );
                }
            }
        }
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = engine_pair
}
criterion_main!(benches);
