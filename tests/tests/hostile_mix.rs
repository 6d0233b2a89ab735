//! Every hostile-network attack at once: an adversary node in SimNet mixes forged datagrams of
//! every kind the single-attack tests use (`hostile_*.rs`) while a legit pair exchanges
//! reliable KEEP_ALL samples, small and fragmented, over a lossy link. Over many seeds the
//! legit flow stays exact (every sample, once, in order), every table stays within its
//! capacity, the pool is whole again a minute after the attack, and what the victims send to
//! the third party the adversary names stays within ten times what it injected. (What they
//! send to the adversary's own address is not reflection: a fake reader that answers from its
//! address is a subscriber, and gets the data until it is found unresponsive.)

use pollen_engine::wire::{Duration, EntityId, Guid, GuidPrefix, Locator, Time};
use pollen_engine::{Capacities, TopicSpec};
use pollen_tests::{adversary, match_reliable, Link, Rng, SimNet};

const SECOND: u64 = 1_000_000;
const MS: u64 = 1_000;
const SAMPLES: u32 = 120;
/// Where the adversary sits (nobody owns it) and the third party it points victims at.
const ADVERSARY: [u8; 4] = [10, 0, 9, 9];
const THIRD_PARTY: [u8; 4] = [10, 0, 9, 10];

fn topic() -> TopicSpec<'static> {
    TopicSpec::new("hostile/mix", "Blob")
}

/// Sample `i`: every seventh one is fragmented (40 KB), the rest are 16 bytes.
fn sample(i: u32) -> Vec<u8> {
    let len = if i % 7 == 3 { 40_000 } else { 16 };
    let mut b = vec![(i % 251) as u8; len];
    b[..4].copy_from_slice(&[0, 1, 0, 0]);
    b[4..8].copy_from_slice(&i.to_le_bytes());
    b
}

/// The adversary: it knows the legit GUIDs and addresses (as anyone on the network does) and
/// can put any source address on a datagram.
struct Adversary {
    rng: Rng,
    writer: Guid,
    reader: Guid,
    writer_node: usize,
    reader_node: usize,
    writer_meta: Locator,
    reader_meta: Locator,
    injected: u64,
    forged: u32,
}

impl Adversary {
    fn prefix(&mut self) -> GuidPrefix {
        self.forged += 1;
        let mut p = [0xad; 12];
        p[8..].copy_from_slice(&self.forged.to_be_bytes());
        GuidPrefix(p)
    }

    /// One attack, chosen at random, delivered now.
    fn strike(&mut self, net: &mut SimNet) {
        let me = Locator::udpv4(ADVERSARY, 7410);
        let group = Locator::udpv4([239, 255, 0, 1], 7400);
        let third = Locator::udpv4(THIRD_PARTY, 7000 + self.rng.below(8) as u16);
        let count = 0x4000_0000 + self.rng.below(1 << 20) as u32;
        let (to, dst, data) = match self.rng.below(9) {
            // Count poisoning of the writer, posing as the reader.
            0 => (
                self.writer_node,
                self.writer_meta,
                adversary::acknack(self.reader, self.writer, 1, &[], count),
            ),
            // A HEARTBEAT and a GAP far beyond anything written, posing as the writer.
            1 => (
                self.reader_node,
                self.reader_meta,
                adversary::heartbeat(self.writer, 1, 1 << 40, count),
            ),
            2 => (
                self.reader_node,
                self.reader_meta,
                adversary::gap(self.writer, 1, 1 << 40),
            ),
            // Participants with infinite leases, filling the tables.
            3 => {
                let p = self.prefix();
                (
                    self.rng.below(2) as usize,
                    group,
                    adversary::spdp(p, me, Duration::INFINITE, 0),
                )
            }
            // A reflection toward a third party.
            4 => {
                let p = self.prefix();
                (
                    self.writer_node,
                    group,
                    adversary::spdp(p, third, Duration::INFINITE, 0),
                )
            }
            // Huge first fragments to the builtin readers and to the legit reader.
            5 => {
                let fake = Guid::new(self.writer.prefix, EntityId([0, 0, 0x77, 0x02]));
                let reader_id = if self.rng.chance(0.5) {
                    EntityId::SEDP_PUB_READER
                } else {
                    self.reader.entity
                };
                let w = if reader_id == EntityId::SEDP_PUB_READER {
                    fake
                } else {
                    self.writer
                };
                (
                    self.reader_node,
                    self.reader_meta,
                    adversary::first_fragment(
                        w,
                        reader_id,
                        1 + self.rng.below(1 << 16) as i64,
                        4 << 20,
                        1024,
                    ),
                )
            }
            // A fake reliable reader that never acknowledges (its participant first).
            6 => {
                let p = self.prefix();
                net.inject(
                    self.writer_node,
                    0,
                    me,
                    group,
                    adversary::spdp(p, me, Duration::INFINITE, 0),
                );
                self.injected += 200;
                let fake = Guid::new(p, EntityId([0, 0, 1, 0x04]));
                (
                    self.writer_node,
                    self.writer_meta,
                    adversary::sedp_reader(fake, topic().name, topic().type_name, true, me, 1),
                )
            }
            // An ACKNACK storm asking for everything again.
            7 => {
                let nacked: Vec<i64> = (1..=64).collect();
                (
                    self.writer_node,
                    self.writer_meta,
                    adversary::acknack_nonfinal(self.reader, self.writer, 1, &nacked, count),
                )
            }
            // NACK_FRAG for many fragments with a count far ahead.
            _ => {
                let frags: Vec<u32> = (1..=40).collect();
                (
                    self.writer_node,
                    self.writer_meta,
                    adversary::nack_frag(self.reader, self.writer, 4, &frags, count),
                )
            }
        };
        self.injected += data.len() as u64;
        net.inject(to, 0, me, dst, data);
    }
}

/// One run: the pair exchanges [`SAMPLES`] samples under a mixed attack every 20 ms.
fn run(seed: u64) {
    let mut net = SimNet::new(seed, Link::lossy(0.05));
    let ids = net.add_multicast_nodes(2);
    let (a, b) = (ids[0], ids[1]);
    let (w, r) = match_reliable(&mut net, a, b, &topic(), 30 * SECOND);
    let meta = |net: &SimNet, n: usize| Locator::udpv4(net.nodes[n].address, 7410);
    let mut adv = Adversary {
        rng: Rng::new(seed ^ 0x5eed),
        writer: net.engine(a).writer_guid(w).unwrap(),
        reader: net.engine(b).reader_guid(r).unwrap(),
        writer_node: a,
        reader_node: b,
        writer_meta: meta(&net, a),
        reader_meta: meta(&net, b),
        injected: 0,
        forged: 0,
    };
    let pool = [
        net.engine(a).pool_available(),
        net.engine(b).pool_available(),
    ];
    let mut next = 0u32;
    let mut got = Vec::new();
    let mut out = vec![0u8; 64 * 1024];
    let deadline = net.now().0 + 300 * SECOND;
    while got.len() < SAMPLES as usize {
        assert!(
            net.now().0 < deadline,
            "seed {seed}: {} of {SAMPLES} samples after 300 s under attack",
            got.len()
        );
        adv.strike(&mut net);
        if next < SAMPLES {
            let now = net.now();
            if net
                .engine(a)
                .write(now, w, &sample(next), Time::ZERO)
                .is_ok()
            {
                next += 1;
            }
        }
        net.run_for(20 * MS);
        while let Ok(Some(info)) = net.engine(b).take(r, &mut out) {
            if info.writer == adv.writer {
                got.push(out[..info.len].to_vec());
            }
        }
    }
    for (i, s) in got.iter().enumerate() {
        assert!(
            *s == sample(i as u32),
            "seed {seed}: sample {i} is not the one written"
        );
    }
    for n in [a, b] {
        let e = net.engine(n);
        let (participants, endpoints, matches) = e.table_use();
        let c: &Capacities = e.capacities();
        assert!(participants <= c.participants && endpoints <= c.remote_endpoints);
        assert!(matches <= c.matches);
    }
    // The attack stops; within a minute every partial sample has expired or been completed
    // and every sample was acknowledged, so the pools are whole again.
    net.run_for(60 * SECOND);
    assert_eq!(
        [
            net.engine(a).pool_available(),
            net.engine(b).pool_available()
        ],
        pool,
        "seed {seed}: pool bytes still held a minute after the attack"
    );
    let reflected: u64 = net
        .stray
        .iter()
        .filter(|((ip, _), _)| *ip == THIRD_PARTY)
        .map(|(_, s)| s.1)
        .sum();
    assert!(
        reflected <= 10 * adv.injected,
        "seed {seed}: {reflected} bytes reflected to the third party for {} injected",
        adv.injected
    );
}

#[test]
fn legit_flow_stays_exact_under_every_attack_at_once() {
    for seed in 0..12 {
        run(seed);
    }
}
