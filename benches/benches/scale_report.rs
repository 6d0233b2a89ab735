//! Scale figures criterion does not give directly, printed as ratios measured in this run.
//!
//! `pairs`: the per-sample cost of the engine pair of `benches/engine.rs` with each engine
//! holding the large idle domain (`pollen_benches::domain`), divided by the same without it.
//! Both pairs live in this process and are timed in alternating blocks of about 10 ms of
//! thread CPU time (ABBA order), so that the two see the same machine; the ratio of each block
//! pair is collected and the median and quartiles are printed. Criterion's `engine_pair` and
//! `engine_pair_idle` groups time the same iterations one after the other instead.
//!
//! `discovery`: SimNet (`pollen_tests::SimNet`, perfect links) discovery of N participants
//! with 20 endpoints each (10 writers, 10 readers on topics of their own), in the topology of
//! `tests/tests/scale.rs` (`one_writer_among`): one observer hears multicast and learns
//! everyone; the others are unicast-only with the observer as their only peer, so each learns
//! only the observer. The thread CPU time from the start until the observer holds all N
//! participants and 20·N endpoints is divided by N: with a flat cost per participant the
//! figure does not grow with N. The time includes SimNet itself and the N other engines.
//!
//! `memory`: what an engine allocates on the heap (`Engine::new`, the `alloc` tables): the
//! live heap bytes after creating one with `Capacities::MICRO` and with `Capacities::HOST`, and
//! after a `HOST`-sized bench engine learnt the idle domain; beside each, how much of it was
//! asked for zeroed (`alloc_zeroed`: the payload pool, which the operating system maps only as
//! it is used) and the growth of this process's VmRSS (what was touched). A counting global
//! allocator keeps the figures; it costs an atomic add per allocation, and the message path
//! does not allocate. Run it first in its process: memory the allocator recycles is not
//! growth (glibc raises its mmap threshold once a 16 MiB pool is freed, and may then serve the
//! next pool from its heap, zeroed by memset, resident at once).
//!
//! Run: `cargo bench -p pollen-benches --bench scale_report [-- pairs|discovery|memory]`;
//! `SCALE_SIZES=100,300,1000` and `SCALE_REPEAT=3` choose the discovery sizes and repetitions.

use pollen_benches::domain;
use pollen_benches::pair::{payload, Pair};
use pollen_engine::wire::Locator;
use pollen_engine::{
    Capacities, Engine, Instant, Peer, ReaderQos, Reliability, TopicSpec, WriterQos,
};
use pollen_tests::{Link, SimNet};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

/// The system allocator, counting live bytes and bytes asked for zeroed.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static ZEROED: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to `System` unchanged; the counters only observe.
// A counting allocator needs `unsafe` (the trait is unsafe to implement).
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size(), Relaxed);
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size(), Relaxed);
        ZEROED.fetch_add(l.size(), Relaxed);
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Relaxed);
        // SAFETY: `p` was allocated by `System` with `l`.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new, Relaxed);
        LIVE.fetch_sub(l.size(), Relaxed);
        // SAFETY: `p` was allocated by `System` with `l`.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// This process's VmRSS in bytes.
fn rss() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse::<usize>().ok()
        })
        .map_or(0, |kib| kib * 1024)
}

/// Runs `f`, keeping what it returns alive; returns it with the (live heap, of which zeroed,
/// VmRSS) growth.
fn measure<T>(f: impl FnOnce() -> T) -> (T, usize, usize, usize) {
    let (l0, z0, r0) = (LIVE.load(Relaxed), ZEROED.load(Relaxed), rss());
    let t = f();
    let (l1, z1, r1) = (LIVE.load(Relaxed), ZEROED.load(Relaxed), rss());
    (
        t,
        l1.saturating_sub(l0),
        z1.saturating_sub(z0),
        r1.saturating_sub(r0),
    )
}

fn memory() {
    let mib = |b: usize| format!("{:.2} MiB", b as f64 / (1 << 20) as f64);
    println!("memory: heap an engine holds (alloc feature), and this process's VmRSS growth");
    println!(
        "{:<44} {:>12} {:>18} {:>12} {:>10}",
        "engine", "live heap", "of which zeroed", "VmRSS growth", "create"
    );
    let row = |name: &str, (live, zeroed, grown): (usize, usize, usize), took: Option<f64>| {
        let took = took.map_or(String::new(), |t| format!("{t:.0} µs"));
        println!(
            "{name:<44} {:>12} {:>18} {:>12} {took:>10}",
            mib(live),
            mib(zeroed),
            mib(grown)
        );
    };
    let new = |caps: Capacities| {
        let mut c = domain::config(9);
        c.capacities = caps;
        let t = std::time::Instant::now();
        let e = Box::new(Engine::new(c, Instant(0)).expect("valid config"));
        (e, t.elapsed().as_secs_f64() * 1e6)
    };
    // The first engines of this process (the allocator has freed nothing large yet).
    let ((micro, t), l, z, g) = measure(|| new(Capacities::MICRO));
    row("Engine::new, Capacities::MICRO", (l, z, g), Some(t));
    let ((host, t), l, z, g) = measure(|| new(Capacities::HOST));
    row("Engine::new, Capacities::HOST", (l, z, g), Some(t));
    let ((idle, _), l, z, g) = measure(|| domain::idle_engine(1, true));
    row("HOST-sized engine holding the idle domain", (l, z, g), None);
    let (p, r, m) = idle.table_use();
    println!("  ({p} participants, {r} remote endpoints, {m} matches, 100 local writers)");
    drop((micro, host, idle));
}

/// CPU time of this thread (`CLOCK_THREAD_CPUTIME_ID`, precise to the nanosecond; the
/// schedstat file of /proc only moves at scheduler ticks).
#[allow(unsafe_code)] // one FFI call
fn cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn quartiles(v: &mut [f64]) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    (at(0.25), at(0.5), at(0.75))
}

fn time_rounds(p: &mut Pair, data: &[u8], batch: usize, m: usize) -> Duration {
    let t = cpu();
    for _ in 0..m {
        std::hint::black_box(p.round(data, batch));
    }
    cpu() - t
}

fn pairs() {
    println!("pairs: per-sample CPU time with the idle domain / without, alternating blocks");
    println!(
        "{:<14} {:>12} {:>12} {:>8} {:>17}",
        "case", "empty/sample", "idle/sample", "ratio", "ratio q1..q3"
    );
    const BLOCKS: usize = 61;
    for (name, batch) in [("one", 1usize), ("batch32", 32)] {
        for size in [64usize, 1024] {
            let data = payload(size);
            let mut empty = Pair::new(false);
            let mut idle = Pair::new(true);
            for p in [&mut empty, &mut idle] {
                for _ in 0..2000 / batch {
                    p.round(&data, batch);
                }
            }
            // Rounds per block: about 10 ms on the empty pair.
            let probe = time_rounds(&mut empty, &data, batch, 200 / batch + 1);
            let per = probe.as_secs_f64() / (200 / batch + 1) as f64;
            let m = ((0.010 / per.max(1e-9)) as usize).max(10);
            let (mut te, mut ti, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
            for k in 0..BLOCKS {
                let (e, i) = if k % 2 == 0 {
                    let e = time_rounds(&mut empty, &data, batch, m);
                    (e, time_rounds(&mut idle, &data, batch, m))
                } else {
                    let i = time_rounds(&mut idle, &data, batch, m);
                    (time_rounds(&mut empty, &data, batch, m), i)
                };
                let samples = (m * batch) as f64;
                te.push(e.as_secs_f64() * 1e9 / samples);
                ti.push(i.as_secs_f64() * 1e9 / samples);
                ratios.push(i.as_secs_f64() / e.as_secs_f64());
            }
            let (_, e50, _) = quartiles(&mut te);
            let (_, i50, _) = quartiles(&mut ti);
            let (q1, r50, q3) = quartiles(&mut ratios);
            println!(
                "{:<14} {:>9.0} ns {:>9.0} ns {:>8.3} {:>8.3}..{:.3}",
                format!("{name}/{size}"),
                e50,
                i50,
                r50,
                q1,
                q3
            );
        }
    }
}

const PER: usize = 20;

/// One SimNet discovery of `n` participants; returns (setup CPU, discovery CPU, virtual µs,
/// datagrams sent).
fn discovery(n: usize, seed: u64) -> (Duration, Duration, u64, u64) {
    let t0 = cpu();
    let mut net = SimNet::new(seed, Link::perfect());
    let mut c = net.config(true);
    c.capacities = domain::CAPACITIES;
    let observer_address = c.unicast_address;
    let observer = net.add(c);
    let writer = WriterQos {
        reliability: Reliability::Reliable,
        ..WriterQos::default()
    };
    let reader = ReaderQos {
        reliability: Reliability::Reliable,
        ..ReaderQos::default()
    };
    // The background participants carry no user data: a small payload pool each (HOST's is
    // 16 MiB, a thousand of them would be 16 GiB of address space, and once the allocator
    // recycles freed pools it zeroes them page by page).
    let small = Capacities {
        pool_blocks: 256,
        ..Capacities::HOST
    };
    let mut background = Vec::with_capacity(n);
    for i in 0..n {
        let mut c = net.config(false);
        c.capacities = small;
        c.add_peer(Peer {
            address: observer_address,
            port: Some(7410),
        });
        let id = net.add(c);
        background.push(id);
        let now = net.now();
        for j in 0..PER {
            let name = format!("disc/{i}/{j}");
            let t = TopicSpec::new(&name, "Disc");
            if j % 2 == 0 {
                net.engine(id).create_writer(now, &t, &writer).unwrap();
            } else {
                net.engine(id).create_reader(now, &t, &reader).unwrap();
            }
        }
    }
    let start = net.now().0;
    let t1 = cpu();
    let ok = net.run_until(
        |net| {
            let (p, r, _) = net.engine(observer).table_use();
            p == n && r == n * PER
        },
        300_000_000,
    );
    let t2 = cpu();
    let (p, r, _) = net.engine(observer).table_use();
    assert!(
        ok,
        "{n}: the observer holds {p} participants, {r} endpoints"
    );
    assert_eq!(net.engine(observer).stats().dropped_table_full, 0);
    for id in background {
        assert_eq!(
            net.engine(id).participants().count(),
            1,
            "knows the observer"
        );
    }
    (t1 - t0, t2 - t1, net.now().0 - start, net.sent)
}

/// The observer alone: a fresh engine (`domain::config`) fed the synthetic discovery
/// traffic of `n` participants of `pollen_benches::domain` (20 endpoints each, built before
/// timing), draining what it sends, then their acknowledgements; returns its CPU time.
fn observer_alone(n: usize) -> Duration {
    let own = Locator::udpv4([10, 0, 0, 1], 7410);
    let mut buf = vec![0u8; 64 * 1024];
    let mut learn = Vec::with_capacity(n);
    let mut acks = Vec::with_capacity(n);
    for i in 0..n {
        let r = domain::Remote::new(i);
        let mut one = Vec::new();
        let k = r.spdp(&mut buf);
        one.push((domain::SPDP_MULTICAST, buf[..k].to_vec()));
        let k = r.sedp(true, domain::WRITERS_PER_PARTICIPANT, &mut buf);
        one.push((own, buf[..k].to_vec()));
        let k = r.sedp(false, domain::READERS_PER_PARTICIPANT, &mut buf);
        one.push((own, buf[..k].to_vec()));
        let k = r.pmd_heartbeat(&mut buf);
        one.push((own, buf[..k].to_vec()));
        learn.push((r.metatraffic(), one));
        let k = r.acknowledge_all(1, &mut buf);
        acks.push((r.metatraffic(), buf[..k].to_vec()));
    }
    let mut e = Engine::new(domain::config(1), Instant(0)).expect("valid config");
    let now = Instant(0);
    let t = cpu();
    for (i, (src, one)) in learn.iter().enumerate() {
        for (dst, d) in one {
            e.handle_datagram(now, *src, *dst, d);
        }
        if i % 50 == 49 {
            domain::drain(&mut e, now, &mut buf, |_, _| {});
        }
    }
    domain::drain(&mut e, now, &mut buf, |_, _| {});
    for (src, d) in &acks {
        e.handle_datagram(now, *src, own, d);
    }
    domain::drain(&mut e, now, &mut buf, |_, _| {});
    let spent = cpu() - t;
    domain::assert_holds(&e, n, n * PER, 0);
    spent
}

fn discoveries() {
    let sizes: Vec<usize> = std::env::var("SCALE_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![100, 300, 1000]);
    let repeat: usize = std::env::var("SCALE_REPEAT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    println!(
        "discovery: SimNet, {PER} endpoints per participant, medians of {repeat} runs (thread CPU)"
    );
    println!(
        "{:>6} {:>14} {:>17} {:>14} {:>12} {:>16}   per participant vs",
        "N", "setup/partic.", "discovery/partic.", "virtual time", "datagrams", "spread"
    );
    let mut first = None;
    for &n in &sizes {
        let mut setup = Vec::new();
        let mut run = Vec::new();
        let mut last = (0, 0);
        for k in 0..repeat {
            let (s, r, v, d) = discovery(n, 1 + k as u64);
            setup.push(s.as_secs_f64() * 1e6 / n as f64);
            run.push(r.as_secs_f64() * 1e6 / n as f64);
            last = (v, d);
        }
        let (_, s50, _) = quartiles(&mut setup);
        let (_, r50, _) = quartiles(&mut run);
        let base = *first.get_or_insert((n, r50));
        println!(
            "{n:>6} {s50:>11.1} µs {r50:>14.1} µs {:>11.1} ms {:>12} {:>6.1}..{:.1} µs   {:.2}× N={}",
            last.0 as f64 / 1e3,
            last.1,
            run[0],
            run[run.len() - 1],
            r50 / base.1,
            base.0
        );
    }
    println!(
        "discovery, the observer engine alone (synthetic traffic built before timing), medians of {repeat} runs"
    );
    println!(
        "{:>6} {:>17} {:>16}   per participant vs",
        "N", "discovery/partic.", "spread"
    );
    let mut first = None;
    for &n in &sizes {
        let mut run: Vec<f64> = (0..repeat)
            .map(|_| observer_alone(n).as_secs_f64() * 1e6 / n as f64)
            .collect();
        let (_, r50, _) = quartiles(&mut run);
        let base = *first.get_or_insert((n, r50));
        println!(
            "{n:>6} {r50:>14.1} µs {:>7.1}..{:.1} µs   {:.2}× N={}",
            run[0],
            run[run.len() - 1],
            r50 / base.1,
            base.0
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let want = |what: &str| args.is_empty() || args.iter().any(|a| what.contains(a.as_str()));
    if want("memory") {
        memory();
    }
    if want("pairs") {
        pairs();
    }
    if want("discovery") {
        discoveries();
    }
}
