//! The steady-state message path allocates nothing: write → DATA → deliver → take, with
//! HEARTBEAT/ACKNACK, measured with a counting global allocator over 10 000 reliable samples.
//!
//! This file holds a single test so that no other test thread allocates while it counts.

use pollen_engine::wire::{GuidPrefix, Locator, Time};
use pollen_engine::{
    Config, Engine, History, Instant, ReaderQos, Reliability, TopicSpec, WriterQos,
};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call unchanged to the system allocator; only counts.
// A counting allocator needs `unsafe` (the trait is unsafe to implement).
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn engine(n: u8) -> Box<Engine<'static>> {
    let mut c = Config::new(GuidPrefix([n; 12]));
    c.unicast_address = [10, 0, 0, n];
    Box::new(Engine::new(c, Instant(0)).unwrap())
}

/// Moves every owed datagram between the two engines until both are quiet.
fn pump(a: &mut Engine, b: &mut Engine, now: Instant, buf: &mut [u8]) {
    let src = Locator::udpv4([10, 0, 0, 1], 7410);
    loop {
        let mut moved = false;
        while let Some(t) = a.poll_transmit(now, buf) {
            b.handle_datagram(now, src, src, &buf[..t.len]);
            moved = true;
        }
        while let Some(t) = b.poll_transmit(now, buf) {
            a.handle_datagram(now, src, src, &buf[..t.len]);
            moved = true;
        }
        while a.poll_event().is_some() {}
        while b.poll_event().is_some() {}
        if !moved {
            return;
        }
    }
}

fn tick(a: &mut Engine<'static>, b: &mut Engine<'static>, now: Instant) {
    for e in [a, b] {
        if e.poll_timeout().is_some_and(|t| t <= now) {
            e.handle_timeout(now);
        }
    }
}

#[test]
fn reliable_steady_state_allocates_nothing() {
    // An engine in caller storage allocates nothing at all, even with `alloc` enabled: not to
    // be created, not to create endpoints (it used to build heap tables and drop them).
    let c = pollen_engine::Capacities::MICRO;
    let st = pollen_engine::Storage::leaked(&c);
    let mut cfg = Config::new(GuidPrefix([9; 12]));
    cfg.capacities = c;
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let mut e = Engine::with_storage(cfg, st, Instant(0)).unwrap();
    let w = e
        .create_writer(Instant(0), &TopicSpec::new("t", "T"), &WriterQos::default())
        .unwrap();
    e.write(Instant(1), w, &[0, 1, 0, 0], Time::ZERO).unwrap();
    let mut small = [0u8; 1472];
    while e.poll_transmit(Instant(1), &mut small).is_some() {}
    assert_eq!(
        ALLOCATIONS.load(Ordering::Relaxed) - before,
        0,
        "allocations by an engine in caller storage"
    );
    drop(e);

    let mut a = engine(1);
    let mut b = engine(2);
    let mut buf = vec![0u8; 1472];
    let topic = TopicSpec::new("alloc/test", "Counter");
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
    let mut now = Instant(0);
    let w = a.create_writer(now, &topic, &wq).unwrap();
    let r = b.create_reader(now, &topic, &rq).unwrap();
    while a.matched_readers(w) == 0 || b.matched_writers(r) == 0 {
        now = Instant(now.0 + 10_000);
        assert!(now.0 < 10_000_000, "never matched");
        tick(&mut a, &mut b, now);
        pump(&mut a, &mut b, now, &mut buf);
    }
    let mut out = [0u8; 64];
    let mut expect = 0u32;
    let mut sent = 0u32;
    let mut run =
        |a: &mut Engine<'static>, b: &mut Engine<'static>, now: &mut Instant, count: u32| {
            for _ in 0..count {
                let mut payload = [0u8; 64];
                payload[..4].copy_from_slice(&[0, 1, 0, 0]);
                payload[4..8].copy_from_slice(&sent.to_le_bytes());
                sent += 1;
                *now = Instant(now.0 + 100);
                a.write(*now, w, &payload, Time::ZERO).unwrap();
                tick(a, b, *now);
                pump(a, b, *now, &mut buf);
                while let Some(info) = b.take(r, &mut out).unwrap() {
                    let v = u32::from_le_bytes(out[4..8].try_into().unwrap());
                    assert_eq!(v, expect, "sample {:?}", info.sn);
                    expect += 1;
                }
            }
        };
    // No warm-up: once matched, even the first samples, heartbeats and acknowledgements find
    // their room reserved (tables grow only on discovery and endpoint creation).
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    run(&mut a, &mut b, &mut now, 11_000);
    let after = ALLOCATIONS.load(Ordering::Relaxed);
    assert_eq!(expect, 11_000);
    assert_eq!(after - before, 0, "allocations on the message path");
}
