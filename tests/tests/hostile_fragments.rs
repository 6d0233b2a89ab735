//! Pool exhaustion through fragments (hostile networks, item 1): an attacker that can forge
//! SPDP, SEDP and DATA_FRAG, beside a legitimate reliable writer and reader exchanging large
//! (fragmented) and small samples. Each defence of the reader's reassembly has its own test;
//! in every one the legitimate samples arrive exactly, in order, once.

use pollen_engine::wire::{Duration, EntityId, Guid, GuidPrefix, Locator, Time};
use pollen_engine::{Engine, ReaderHandle, TopicSpec, WriterHandle};
use pollen_tests::{adversary, match_reliable, Link, SimNet};

const SECOND: u64 = 1_000_000;
const TOPIC: &str = "hostile/fragments";
const TYPE: &str = "Blob";
/// Where the forged participant says it lives: nobody owns it.
const THIRD: [u8; 4] = [10, 9, 9, 9];
/// The sizes the legitimate writer sends, in turn: fragmented and whole.
const SIZES: [usize; 6] = [1 << 20, 12, 300_000, 40, 1 << 20, 2000];

fn topic() -> TopicSpec<'static> {
    TopicSpec::new(TOPIC, TYPE)
}

fn sample(i: u32, len: usize) -> Vec<u8> {
    let mut b = vec![0u8; len.max(8)];
    b[..4].copy_from_slice(&[0, 1, 0, 0]);
    b[4..8].copy_from_slice(&i.to_le_bytes());
    for (j, x) in b[8..].iter_mut().enumerate() {
        *x = (j as u32).wrapping_mul(131).wrapping_add(i) as u8;
    }
    b
}

/// A legitimate writer on node `a` matched with a reader on node `b`.
struct Flow {
    net: SimNet,
    a: usize,
    b: usize,
    w: WriterHandle,
    r: ReaderHandle,
    writer: Guid,
}

/// The flow, the reader's node holding `reassemblies` partial samples per reader.
fn flow(seed: u64, reassemblies: usize) -> Flow {
    let mut net = SimNet::new(seed, Link::perfect());
    let a = net.add_multicast_nodes(1)[0];
    let mut c = net.config(true);
    c.capacities.reassemblies = reassemblies;
    let b = net.add(c);
    let (w, r) = match_reliable(&mut net, a, b, &topic(), 10 * SECOND);
    net.run_for(SECOND);
    let writer = net.engine(a).writer_guid(w).unwrap();
    Flow {
        net,
        a,
        b,
        w,
        r,
        writer,
    }
}

fn unicast(net: &mut SimNet, node: usize, user: bool) -> Locator {
    let address = net.nodes[node].address;
    Locator::udpv4(address, if user { 7411 } else { 7410 })
}

/// A forged participant `prefix`, announced to node `to`.
fn forge_participant(net: &mut SimNet, to: usize, prefix: GuidPrefix) {
    let third = Locator::udpv4(THIRD, 7777);
    let spdp = adversary::spdp(prefix, third, Duration::INFINITE, 0);
    let dst = Locator::udpv4([239, 255, 0, 1], 7400);
    net.inject(to, 0, third, dst, spdp);
}

/// Forged writers of the legitimate topic (entity keys 1..=n of participant `prefix`),
/// announced to node `to` and matched there by the reader.
fn forge_writers(flow: &mut Flow, prefix: GuidPrefix, n: u32) -> Vec<Guid> {
    let b = flow.b;
    forge_participant(&mut flow.net, b, prefix);
    flow.net.run_for(100_000);
    let third = Locator::udpv4(THIRD, 7777);
    let dst = unicast(&mut flow.net, b, false);
    let writers: Vec<Guid> = (1..=n)
        .map(|k| Guid::new(prefix, EntityId::new(k, 0x03)))
        .collect();
    for (k, w) in writers.iter().enumerate() {
        let sedp = adversary::publication(*w, TOPIC, TYPE, third, k as i64 + 1);
        flow.net.inject(b, 0, third, dst, sedp);
    }
    flow.net.run_for(100_000);
    let r = flow.r;
    assert_eq!(
        flow.net.engine(b).matched_writers(r),
        1 + n as usize,
        "the forged writers are matched"
    );
    writers
}

/// Injects a forged datagram into node `to` now.
fn inject(net: &mut SimNet, to: usize, data: Vec<u8>) {
    let third = Locator::udpv4(THIRD, 7777);
    let dst = unicast(net, to, true);
    net.inject(to, 0, third, dst, data);
}

/// The legitimate writer sends `count` samples of [`SIZES`] in turn while `attack` runs each
/// 50 ms round; every sample must arrive exactly, in order, from the legitimate writer. Returns
/// the rounds it took.
fn exchange(flow: &mut Flow, count: u32, mut attack: impl FnMut(&mut SimNet, u32)) -> u32 {
    let (a, b, w, r) = (flow.a, flow.b, flow.w, flow.r);
    let mut out = vec![0u8; 1 << 20];
    let (mut next, mut got, mut round) = (0u32, 0u32, 0u32);
    let deadline = flow.net.now().0 + 120 * SECOND;
    while got < count && flow.net.now().0 < deadline {
        attack(&mut flow.net, round);
        round += 1;
        let now = flow.net.now();
        while next < count {
            let s = sample(next, SIZES[next as usize % SIZES.len()]);
            match flow.net.engine(a).write(now, w, &s, Time::ZERO) {
                Ok(_) => next += 1,
                Err(_) => break,
            }
        }
        flow.net.run_for(50_000);
        while let Some(info) = flow.net.engine(b).take(r, &mut out).unwrap() {
            assert_eq!(
                info.writer, flow.writer,
                "only the legitimate writer delivers"
            );
            let want = sample(got, SIZES[got as usize % SIZES.len()]);
            assert!(out[..info.len] == want[..], "sample {got} differs");
            got += 1;
        }
    }
    let s = *flow.net.engine(b).stats();
    assert_eq!(got, count, "only {got} of {count} samples arrived: {s:?}");
    round
}

fn stats(net: &mut SimNet, node: usize) -> pollen_engine::Stats {
    *net.engine(node).stats()
}

fn pool_bytes(e: &mut Engine<'static>) -> usize {
    let c = e.config().capacities;
    c.pool_block * c.pool_blocks
}

/// The measured attack: a spoofed participant sends first fragments announcing 4 MiB
/// samples to the builtin SEDP readers of both processes, again and again. They are refused at once and counted; both keep their pools and the legitimate
/// flow is exact.
#[test]
fn first_fragments_to_builtin_readers_are_refused_and_counted() {
    let mut f = flow(1, 4);
    let fake = GuidPrefix([0xe1; 12]);
    let (a, b) = (f.a, f.b);
    forge_participant(&mut f.net, a, fake);
    forge_participant(&mut f.net, b, fake);
    f.net.run_for(100_000);
    let before = [a, b].map(|n| f.net.engine(n).pool_available());
    let builtin = [
        (EntityId::SEDP_PUB_WRITER, EntityId::SEDP_PUB_READER),
        (EntityId::SEDP_SUB_WRITER, EntityId::SEDP_SUB_READER),
    ];
    let sent = std::cell::Cell::new(0u64);
    // Thirteen first fragments to each process (as measured), then more every round.
    let attack = |net: &mut SimNet, round: u32| {
        for node in [a, b] {
            for sn in 0..if round == 0 { 13 } else { 2 } {
                let (w, r) = builtin[sn % 2];
                let sn = 1 + sn as i64 + 13 * round as i64;
                let frag = adversary::first_fragment(Guid::new(fake, w), r, sn, 4 << 20, 1024);
                let third = Locator::udpv4(THIRD, 7777);
                let dst = unicast(net, node, false);
                net.inject(node, 0, third, dst, frag);
                sent.set(sent.get() + 1);
            }
        }
    };
    attack(&mut f.net, 0);
    f.net.run_for(100_000);
    assert_eq!(
        [a, b].map(|n| f.net.engine(n).pool_available()),
        before,
        "nothing of them is held"
    );
    exchange(&mut f, 12, |net, round| attack(net, round + 1));
    let sent = sent.get();
    for (i, node) in [a, b].into_iter().enumerate() {
        let s = stats(&mut f.net, node);
        assert_eq!(
            s.dropped_discovery_too_large,
            sent / 2,
            "node {node}: {s:?}"
        );
        assert_eq!(s.reassemblies_evicted + s.reassemblies_expired, 0);
        assert_eq!(s.dropped_unknown_endpoint, 0);
        if node == b {
            // Everything was taken: the reader's pool is as it was.
            assert_eq!(f.net.engine(node).pool_available(), before[i]);
        }
    }
}

/// Whole DATA beyond the discovery limit sent to a builtin reader out of order (SN 1 never
/// comes) would be buffered, up to a quarter of a thousand of them (about 15 MiB of 60 KiB
/// samples): they are refused and counted, and the pool is untouched.
#[test]
fn oversized_discovery_data_is_never_buffered() {
    let mut f = flow(2, 4);
    let fake = GuidPrefix([0xe2; 12]);
    let b = f.b;
    forge_participant(&mut f.net, b, fake);
    f.net.run_for(100_000);
    let before = f.net.engine(b).pool_available();
    let writer = Guid::new(fake, EntityId::SEDP_PUB_WRITER);
    let junk = vec![0x55u8; 60 << 10];
    for sn in 2..=300 {
        let d = adversary::data(writer, EntityId::SEDP_PUB_READER, sn, &junk);
        let third = Locator::udpv4(THIRD, 7777);
        let dst = unicast(&mut f.net, b, false);
        f.net.inject(b, 0, third, dst, d);
    }
    f.net.run_for(100_000);
    assert_eq!(f.net.engine(b).pool_available(), before);
    let s = stats(&mut f.net, b);
    assert_eq!(s.dropped_discovery_too_large, 299, "{s:?}");
    exchange(&mut f, 12, |_, _| {});
}

/// Partial samples that stop making progress expire: a forged writer leaves three 1 MiB
/// samples with only their last fragment (each holding 1 MiB of pool) and goes quiet. After
/// the reassembly timeout their blocks are back, with no traffic needed to reclaim them.
#[test]
fn stalled_partial_samples_expire() {
    let mut f = flow(3, 4);
    let b = f.b;
    let before = f.net.engine(b).pool_available();
    let evil = forge_writers(&mut f, GuidPrefix([0xe3; 12]), 1)[0];
    let size = 1u32 << 20;
    let last = size.div_ceil(1024);
    for sn in 1..=3 {
        inject(
            &mut f.net,
            b,
            adversary::fragment(evil, EntityId::UNKNOWN, sn, size, 1024, last, 0xee),
        );
    }
    f.net.run_for(10_000);
    let held = before - f.net.engine(b).pool_available();
    assert!(
        held >= 3 << 20,
        "the forged partial samples hold their bytes: {held}"
    );
    // Small samples only, so no reassembly slot is contended: only expiry reclaims them.
    let timeout = f.net.engine(b).config().reassembly_timeout.micros();
    let mut out = vec![0u8; 64];
    let mut got = 0;
    for i in 0..10 {
        let now = f.net.now();
        let (a, w) = (f.a, f.w);
        f.net
            .engine(a)
            .write(now, w, &sample(i, 12), Time::ZERO)
            .unwrap();
        f.net.run_for(timeout / 8);
        while let Some(info) = f.net.engine(b).take(f.r, &mut out).unwrap() {
            assert_eq!(out[..info.len], sample(got, 12)[..]);
            got += 1;
        }
    }
    assert_eq!(got, 10);
    let s = stats(&mut f.net, b);
    assert_eq!(s.reassemblies_expired, 3, "{s:?}");
    assert_eq!(f.net.engine(b).pool_available(), before);
}

/// Four forged writers keep four almost-4 MiB partial samples alive (one last fragment each, then a
/// new fragment every round so they never expire): together they hold the whole 16 MiB pool.
/// Complete samples and the legitimate writer's partial samples evict them (the writer holding
/// the most goes first) rather than being refused.
#[test]
fn pool_pressure_evicts_the_biggest_partial_samples() {
    // Eight reassembly slots: the forged samples leave four free, so it is the pool, not the
    // slots, that runs short.
    let mut f = flow(4, 8);
    let b = f.b;
    let evil = forge_writers(&mut f, GuidPrefix([0xe4; 12]), 4);
    // A little under 4 MiB each, so that all four fit in the pool beside discovery data.
    let size = (4u32 << 20) - (64 << 10);
    let last = size.div_ceil(1024);
    let mut attack = |net: &mut SimNet, round: u32| {
        for w in &evil {
            inject(
                net,
                b,
                adversary::fragment(*w, EntityId::UNKNOWN, 1, size, 1024, last, 0xee),
            );
            inject(
                net,
                b,
                adversary::fragment(*w, EntityId::UNKNOWN, 1, size, 1024, 1 + round, 0xee),
            );
        }
    };
    attack(&mut f.net, 0);
    f.net.run_for(10_000);
    let pool = pool_bytes(f.net.engine(b));
    let free = f.net.engine(b).pool_available();
    let s = stats(&mut f.net, b);
    assert!(
        free < pool / 16,
        "the forged partial samples hold the pool: {free} of {pool} free, {s:?}"
    );
    exchange(&mut f, 12, &mut attack);
    let s = stats(&mut f.net, b);
    assert!(s.reassemblies_evicted > 0, "{s:?}");
    assert_eq!(
        s.reassemblies_expired, 0,
        "expiry is not what saved the flow"
    );
}

/// One forged writer tries to hold four 4 MiB partial samples: its share is a quarter of the
/// pool (one largest sample), so the other three are refused and counted, and three quarters
/// of the pool stay free for everyone else.
#[test]
fn one_writer_holds_at_most_its_share() {
    let mut f = flow(5, 4);
    let b = f.b;
    let before = f.net.engine(b).pool_available();
    let evil = forge_writers(&mut f, GuidPrefix([0xe5; 12]), 1)[0];
    let size = 4u32 << 20;
    let last = size.div_ceil(1024);
    let mut attack = |net: &mut SimNet, round: u32| {
        if round < 3 {
            for sn in 1..=4 {
                inject(
                    net,
                    b,
                    adversary::fragment(evil, EntityId::UNKNOWN, sn, size, 1024, last, 0xee),
                );
            }
        }
    };
    attack(&mut f.net, 0);
    f.net.run_for(10_000);
    let pool = pool_bytes(f.net.engine(b));
    let held = before - f.net.engine(b).pool_available();
    assert!(held <= pool / 4, "one writer holds {held} of {pool}");
    let s = stats(&mut f.net, b);
    assert_eq!(s.dropped_fragment_share, 3, "{s:?}");
    exchange(&mut f, 12, &mut attack);
    let s = stats(&mut f.net, b);
    assert_eq!(
        s.reassemblies_evicted, 0,
        "the share alone bounded it: {s:?}"
    );
}

/// Four forged writers each keep one cheap partial sample alive (a new fragment every round,
/// so none expires) in all four reassembly slots of the reader. A new partial sample takes the
/// slot of the stalest one, so the legitimate fragmented samples still get through.
#[test]
fn full_reassembly_slots_make_way_for_the_stalest() {
    let mut f = flow(6, 4);
    let b = f.b;
    let evil = forge_writers(&mut f, GuidPrefix([0xe6; 12]), 4);
    let size = 1u32 << 20;
    let attack = |net: &mut SimNet, round: u32| {
        for w in &evil {
            let frag = adversary::fragment(*w, EntityId::UNKNOWN, 1, size, 1024, 1 + round, 0xee);
            inject(net, b, frag);
        }
    };
    attack(&mut f.net, 0);
    f.net.run_for(10_000);
    exchange(&mut f, 12, |net, round| attack(net, round + 1));
    let s = stats(&mut f.net, b);
    assert!(s.reassemblies_evicted > 0, "{s:?}");
    assert_eq!(
        s.reassemblies_expired, 0,
        "expiry is not what saved the flow"
    );
}
