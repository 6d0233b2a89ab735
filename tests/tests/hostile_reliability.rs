//! Attacks on the reliability protocol, each played by a forger against a legit reliable
//! KEEP_ALL pair in the simulated network: counts poisoned far ahead, ranges claimed beyond
//! what the writer sent, acknowledgements of samples never sent, a fake reader that never
//! acknowledges (head-of-line blocking), heartbeats to a reader that never answers, and an
//! ACKNACK storm that asks for repairs toward a locator nobody owns.
//!
//! Every test failed before the defence it checks (see the commit that added them).

use pollen_engine::wire::{Duration, EntityId, Guid, GuidPrefix, Locator, Time};
use pollen_engine::{Event, ReaderHandle, TopicSpec, WriterHandle};
use pollen_tests::{adversary, reliable_reader, reliable_writer, Link, SimNet};

const SECOND: u64 = 1_000_000;
const MS: u64 = 1_000;
/// KEEP_ALL history of a HOST writer ([`pollen_engine::Capacities::HOST`]).
const HISTORY: u32 = 64;

fn topic() -> TopicSpec<'static> {
    TopicSpec::new("hostile/topic", "Counter")
}

fn sample(i: u32, len: usize) -> Vec<u8> {
    let mut b = vec![0u8; len.max(8)];
    b[..4].copy_from_slice(&[0, 1, 0, 0]);
    b[4..8].copy_from_slice(&i.to_le_bytes());
    b
}

fn value(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[4], b[5], b[6], b[7]])
}

/// A matched reliable KEEP_ALL pair: node `a` writes, node `b` reads.
struct Pair {
    net: SimNet,
    a: usize,
    b: usize,
    w: WriterHandle,
    r: ReaderHandle,
    writer: Guid,
    reader: Guid,
}

impl Pair {
    fn new(seed: u64, link: Link) -> Pair {
        Pair::with(seed, link, |_, _, _, _| {})
    }

    /// A pair like [`Pair::new`], calling `at_match` with the writer's GUID and the writer's
    /// and reader's nodes the moment the reader has matched the writer (before it heard any
    /// HEARTBEAT from it).
    fn with(seed: u64, link: Link, at_match: impl FnOnce(&mut SimNet, Guid, usize, usize)) -> Pair {
        let mut net = SimNet::new(seed, link);
        let ids = net.add_multicast_nodes(2);
        let (a, b) = (ids[0], ids[1]);
        let now = net.now();
        let w = net
            .engine(a)
            .create_writer(now, &topic(), &reliable_writer())
            .unwrap();
        let r = net
            .engine(b)
            .create_reader(now, &topic(), &reliable_reader())
            .unwrap();
        assert!(net.run_until(|n| n.engine(b).matched_writers(r) == 1, 30 * SECOND));
        let writer = net.engine(a).writer_guid(w).unwrap();
        at_match(&mut net, writer, a, b);
        assert!(net.run_until(
            |n| n.engine(a).matched_readers(w) == 1 && n.engine(b).matched_writers(r) == 1,
            30 * SECOND
        ));
        let writer = net.engine(a).writer_guid(w).unwrap();
        let reader = net.engine(b).reader_guid(r).unwrap();
        // Let the pair settle (first heartbeats and acknowledgements).
        net.run_for(500 * MS);
        Pair {
            net,
            a,
            b,
            w,
            r,
            writer,
            reader,
        }
    }

    fn loc(&self, node: usize) -> Locator {
        Locator::udpv4(self.net.nodes[node].address, 7411)
    }

    /// A forged datagram to the writer's node, as if from the reader's.
    fn forge_to_writer(&mut self, delay_us: u64, data: Vec<u8>) {
        let (src, dst) = (self.loc(self.b), self.loc(self.a));
        self.net.inject(self.a, delay_us, src, dst, data);
    }

    /// A forged datagram to the reader's node, as if from the writer's.
    fn forge_to_reader(&mut self, delay_us: u64, data: Vec<u8>) {
        let (src, dst) = (self.loc(self.a), self.loc(self.b));
        self.net.inject(self.b, delay_us, src, dst, data);
    }

    fn drain(&mut self, got: &mut Vec<u32>) {
        let mut buf = vec![0u8; 64 << 10];
        let (b, r) = (self.b, self.r);
        while let Some(info) = self.net.engine(b).take(r, &mut buf).expect("take") {
            got.push(value(&buf[..info.len]));
        }
    }

    /// Writes `count` samples of `len` bytes as fast as the history allows for at most
    /// `within_us`, taking what arrives; returns what the reader got.
    fn transfer(&mut self, count: u32, len: usize, within_us: u64) -> Vec<u32> {
        let mut got = Vec::new();
        let mut next = 0;
        let end = self.net.now().0 + within_us;
        while got.len() < count as usize && self.net.now().0 < end {
            let now = self.net.now();
            while next < count {
                let (a, w) = (self.a, self.w);
                match self
                    .net
                    .engine(a)
                    .write(now, w, &sample(next, len), Time::ZERO)
                {
                    Ok(_) => next += 1,
                    Err(_) => break,
                }
            }
            self.net.run_for(20 * MS);
            self.drain(&mut got);
        }
        got
    }
}

fn all(count: u32) -> Vec<u32> {
    (0..count).collect()
}

/// One ACKNACK posing as the matched reader with a count 2^30 ahead: the writer must not
/// believe every later, real ACKNACK stale (a KEEP_ALL writer stalled forever).
#[test]
fn acknack_count_poisoning_does_not_stall_the_writer() {
    let mut p = Pair::new(1, Link::perfect());
    let poison = adversary::acknack(p.reader, p.writer, 1, &[], 1 << 30);
    p.forge_to_writer(0, poison);
    p.net.run_for(10 * MS);
    let got = p.transfer(4 * HISTORY, 16, 30 * SECOND);
    assert_eq!(got, all(4 * HISTORY));
    let s = p.net.engine(p.a).stats();
    assert!(s.counts_reset + s.stale_acknacks_used > 0);
}

/// The same poison again every 200 ms, for a minute, each count ahead of the last: a real
/// ACKNACK got through only once per reset (500 ms), the writer marked the live reader
/// unresponsive, sent it nothing new, and it could never catch up again.
#[test]
fn sustained_count_poisoning_does_not_stall_the_writer() {
    let mut p = Pair::new(3, Link::lossy(0.05));
    for i in 0..300u32 {
        let poison = adversary::acknack(p.reader, p.writer, 1, &[], (1 << 30) + i * 1000);
        p.forge_to_writer(u64::from(i) * 200 * MS, poison);
    }
    let got = p.transfer(8 * HISTORY, 16, 60 * SECOND);
    assert_eq!(got, all(8 * HISTORY));
}

/// One HEARTBEAT posing as the writer with a count 2^30 ahead: the reader must not ignore
/// every later, real HEARTBEAT (it never acknowledged again, and the writer stalled).
#[test]
fn heartbeat_count_poisoning_does_not_deafen_the_reader() {
    let mut p = Pair::new(2, Link::perfect());
    let poison = adversary::heartbeat(p.writer, 1, 0, 1 << 30);
    p.forge_to_reader(0, poison);
    p.net.run_for(10 * MS);
    let got = p.transfer(4 * HISTORY, 16, 30 * SECOND);
    assert_eq!(got, all(4 * HISTORY));
    assert!(p.net.engine(p.b).stats().counts_reset > 0);
}

/// One NACK_FRAG posing as the reader with a count 2^30 ahead, on a lossy link with
/// fragmented samples: the reader's real NACK_FRAGs must still get lost fragments resent
/// (the sample missing a fragment was never completed, and the writer stalled).
#[test]
fn nack_frag_count_poisoning_does_not_stop_fragment_repairs() {
    let mut p = Pair::new(3, Link::lossy(0.2));
    let poison = adversary::nack_frag(p.reader, p.writer, 1, &[1], 1 << 30);
    p.forge_to_writer(0, poison);
    p.net.run_for(10 * MS);
    let got = p.transfer(2 * HISTORY, 5000, 120 * SECOND);
    assert_eq!(got, all(2 * HISTORY));
}

/// A GAP posing as the writer that declares everything up to 2^40 irrelevant: the reader
/// must not skip the samples the writer has not even written yet.
#[test]
fn implausible_gap_is_ignored() {
    let mut p = Pair::new(4, Link::perfect());
    assert_eq!(p.transfer(5, 16, 5 * SECOND), all(5));
    let forged = adversary::gap(p.writer, 1, 1 << 40);
    p.forge_to_reader(0, forged);
    p.net.run_for(10 * MS);
    // (`transfer` numbers its samples from 0 again.)
    assert_eq!(p.transfer(20, 16, 10 * SECOND), all(20));
    assert!(p.net.engine(p.b).stats().dropped_implausible > 0);
}

/// A HEARTBEAT posing as the writer that claims it holds only 2^40 onwards: the reader must
/// not skip to 2^40 (it then took every real sample for a duplicate).
#[test]
fn implausible_heartbeat_range_is_not_believed() {
    let mut p = Pair::new(5, Link::perfect());
    assert_eq!(p.transfer(5, 16, 5 * SECOND), all(5));
    let forged = adversary::heartbeat(p.writer, 1 << 40, 1 << 40, 1 << 20);
    p.forge_to_reader(0, forged);
    p.net.run_for(10 * MS);
    assert_eq!(p.transfer(20, 16, 10 * SECOND), all(20));
    assert!(p.net.engine(p.b).stats().dropped_implausible > 0);
}

/// A HEARTBEAT posing as the writer that claims it wrote up to 2^40, arriving the moment the
/// reader matched the writer (before any real HEARTBEAT gave it a reference), then a GAP
/// declaring all that irrelevant: the reader must not skip to 2^40 (it believed the first
/// HEARTBEAT's lastSN whole, which made the GAP plausible, and took every real sample for a
/// duplicate).
#[test]
fn heartbeat_before_the_first_real_one_does_not_make_a_far_gap_plausible() {
    let mut p = Pair::with(10, Link::perfect(), |net, writer, a, b| {
        let loc = |n: usize| Locator::udpv4(net.nodes[n].address, 7411);
        let (src, dst) = (loc(a), loc(b));
        net.inject(
            b,
            0,
            src,
            dst,
            adversary::heartbeat(writer, 1, 1 << 40, 1 << 30),
        );
        net.inject(b, 1000, src, dst, adversary::gap(writer, 1, 1 << 40));
    });
    assert_eq!(p.transfer(20, 16, 10 * SECOND), all(20));
    assert!(p.net.engine(p.b).stats().dropped_implausible > 0);
}

/// An ACKNACK posing as the reader that acknowledges far more than was ever written, sent
/// while the reader is cut off: the writer must not take it for delivered (it released the
/// samples and the reader never got them).
#[test]
fn acknowledgement_of_unsent_samples_is_ignored() {
    let mut p = Pair::new(6, Link::perfect());
    let (a, b) = (p.a, p.b);
    p.net.partition(a, b, true);
    let now = p.net.now();
    for i in 0..5 {
        p.net
            .engine(a)
            .write(now, p.w, &sample(i, 16), Time::ZERO)
            .unwrap();
    }
    p.net.run_for(50 * MS);
    let forged = adversary::acknack(p.reader, p.writer, 1 << 20, &[], 1 << 20);
    p.forge_to_writer(0, forged);
    p.net.run_for(50 * MS);
    p.net.partition(a, b, false);
    let mut got = Vec::new();
    let done = p.net.run_until(
        |n| {
            let mut buf = [0u8; 64];
            while let Some(info) = n.engine(b).take(p.r, &mut buf).expect("take") {
                got.push(value(&buf[..info.len]));
            }
            got.len() == 5
        },
        10 * SECOND,
    );
    assert!(done, "reader got {got:?}");
    assert_eq!(got, all(5));
    assert!(p.net.engine(a).stats().dropped_unsent_ack > 0);
}

/// Where the fake reader of [`fake_reader`] wants its data: nobody owns it.
const FAKE_DATA: ([u8; 4], u16) = ([10, 66, 0, 2], 7411);

/// Forges a participant with an infinite lease and a reliable reader of the pair's topic in
/// it, both announced to the writer's node; returns the reader's GUID and the bytes injected.
fn fake_reader(p: &mut Pair) -> (Guid, u64) {
    let prefix = GuidPrefix([0xfa; 12]);
    let meta = Locator::udpv4([10, 66, 0, 1], 7410);
    let data = Locator::udpv4(FAKE_DATA.0, FAKE_DATA.1);
    let reader = Guid::new(prefix, EntityId::new(0x99, 0x04));
    let spdp = adversary::spdp(prefix, meta, Duration::INFINITE, 0);
    let sedp = adversary::sedp_reader(reader, "hostile/topic", "Counter", true, data, 1);
    let injected = (spdp.len() + sedp.len()) as u64;
    let dst = Locator::udpv4([239, 255, 0, 1], 7400);
    p.net.inject(p.a, 0, meta, dst, spdp);
    let uni = p.loc(p.a);
    p.net.inject(p.a, 1000, meta, uni, sedp);
    let (a, w) = (p.a, p.w);
    assert!(
        p.net
            .run_until(|n| n.engine(a).matched_readers(w) == 2, 5 * SECOND),
        "the fake reader never matched"
    );
    (reader, injected)
}

/// A fake reliable reader whose participant never expires and which never acknowledges
/// anything: a KEEP_ALL writer must not be blocked by it forever. Once it has made no
/// progress for `unresponsive_reader_timeout` it holds the history no more, and the writer
/// says so.
#[test]
fn fake_reader_with_infinite_lease_does_not_block_keep_all_writer() {
    let mut p = Pair::new(7, Link::perfect());
    let (fake, _) = fake_reader(&mut p);
    let timeout = p
        .net
        .engine(p.a)
        .config()
        .unresponsive_reader_timeout
        .micros();
    let got = p.transfer(4 * HISTORY, 16, timeout + 30 * SECOND);
    assert_eq!(got, all(4 * HISTORY));
    let a = p.a;
    assert!(p.net.nodes[a].events.iter().any(|e| matches!(
        e,
        Event::ReaderUnresponsive { reader, .. } if *reader == fake
    )));
    assert!(p.net.engine(a).stats().readers_unresponsive > 0);
}

/// Heartbeats to a reliable reader that never answers back off: a fake reader costs a few
/// datagrams a minute, not ten a second.
#[test]
fn heartbeats_to_a_silent_reader_back_off() {
    let mut p = Pair::new(8, Link::perfect());
    fake_reader(&mut p);
    // One sample the fake reader will never acknowledge.
    assert_eq!(p.transfer(1, 16, 5 * SECOND), all(1));
    p.net.run_for(30 * SECOND);
    let before = p.net.stray.get(&FAKE_DATA).map_or(0, |s| s.0);
    p.net.run_for(60 * SECOND);
    let after = p.net.stray.get(&FAKE_DATA).map_or(0, |s| s.0);
    let per_minute = after - before;
    eprintln!("datagrams to the silent reader in a minute: {per_minute}");
    assert!(per_minute <= 20, "{per_minute} datagrams in a minute");
}

/// A fake reliable reader plus a storm of ACKNACKs asking for everything again, toward a
/// locator nobody owns: what the victim sends there stays within 10x what was injected.
#[test]
fn acknack_storm_amplification_is_bounded() {
    let mut p = Pair::new(9, Link::perfect());
    let (fake, mut injected) = fake_reader(&mut p);
    assert_eq!(p.transfer(32, 200, 5 * SECOND), all(32));
    let sent = p.net.engine(p.a).writer_guid(p.w).unwrap();
    let nacked: Vec<i64> = (1..=32).collect();
    for k in 0..600u64 {
        let storm = adversary::acknack_nonfinal(fake, sent, 1, &nacked, 100 + k as u32);
        injected += storm.len() as u64;
        let (src, dst) = (Locator::udpv4(FAKE_DATA.0, FAKE_DATA.1), p.loc(p.a));
        p.net.inject(p.a, k * 100 * MS, src, dst, storm);
    }
    p.net.run_for(61 * SECOND);
    let out = p.net.stray_bytes(FAKE_DATA.0, FAKE_DATA.1);
    let ratio = out as f64 / injected as f64;
    eprintln!("ACKNACK storm: {out} bytes out / {injected} bytes in = {ratio:.1}x");
    assert!(ratio <= 10.0, "amplification {ratio:.1}x");
}
