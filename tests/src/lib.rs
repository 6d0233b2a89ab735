//! SimNet: a deterministic simulated network for Pollen engines.
//!
//! A virtual clock, seeded per-link loss, delay, jitter, duplication, corruption and
//! partitions, and a multicast group. Each node is one [`Engine`] at its own IPv4 address;
//! datagrams go to the node owning the destination address and port, multicast to every other
//! node. The same seed always gives the same trace (see [`SimNet::digest`]).

use pollen_engine::wire::{GuidPrefix, Locator};
use pollen_engine::{Config, Destination, Engine, Event, Instant, Peer};
use std::collections::{BTreeMap, BinaryHeap};

pub mod adversary;

/// A small deterministic PRNG (xorshift64*), so traces do not depend on any crate's version.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeds the generator (0 is remapped).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

/// How a link mistreats datagrams.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Link {
    /// Probability a datagram is lost.
    pub loss: f64,
    /// Fixed delay in µs.
    pub delay_us: u64,
    /// Extra uniform random delay in µs (reorders datagrams).
    pub jitter_us: u64,
    /// Probability a datagram is delivered twice.
    pub duplicate: f64,
    /// Probability a datagram has random bytes flipped.
    pub corrupt: f64,
}

impl Link {
    /// A perfect link with 100 µs latency.
    pub const fn perfect() -> Link {
        Link {
            loss: 0.0,
            delay_us: 100,
            jitter_us: 0,
            duplicate: 0.0,
            corrupt: 0.0,
        }
    }

    /// A lossy link: `loss`, duplication, 1 ms jitter that reorders.
    pub const fn lossy(loss: f64) -> Link {
        Link {
            loss,
            delay_us: 200,
            jitter_us: 1000,
            duplicate: 0.05,
            corrupt: 0.0,
        }
    }
}

/// One simulated participant.
pub struct Node {
    /// The engine, `None` while crashed.
    pub engine: Option<Box<Engine<'static>>>,
    /// Its address.
    pub address: [u8; 4],
    /// Events the engine produced, in order.
    pub events: Vec<Event>,
    config: Config,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct InFlight {
    at: u64,
    seq: u64,
    to: usize,
    /// Bytes of a stream from node `from` (ordered, never lost while the link is up).
    stream_from: Option<usize>,
    src: Locator,
    dst: Locator,
    data: Vec<u8>,
}

/// The simulated network.
pub struct SimNet {
    now: u64,
    rng: Rng,
    /// Nodes by index.
    pub nodes: Vec<Node>,
    default_link: Link,
    links: BTreeMap<(usize, usize), Link>,
    blocked: BTreeMap<(usize, usize), bool>,
    queue: BinaryHeap<std::cmp::Reverse<InFlight>>,
    seq: u64,
    digest: u64,
    /// Datagrams sent by all nodes.
    pub sent: u64,
    /// Datagrams dropped by loss or partitions.
    pub lost: u64,
    /// Bytes received on each stream (from, to) and not yet consumed by the engine.
    streams: BTreeMap<(usize, usize), Vec<u8>>,
    /// Datagrams and bytes sent to unicast addresses no node owns (a third party, or a
    /// forged locator), by destination address and port.
    pub stray: BTreeMap<([u8; 4], u16), (u64, u64)>,
    buf: Vec<u8>,
}

fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}

impl SimNet {
    /// An empty network with a seed and a default link.
    pub fn new(seed: u64, default_link: Link) -> SimNet {
        SimNet {
            now: 1_000_000,
            rng: Rng::new(seed),
            nodes: Vec::new(),
            default_link,
            links: BTreeMap::new(),
            blocked: BTreeMap::new(),
            queue: BinaryHeap::new(),
            seq: 0,
            digest: 0xcbf2_9ce4_8422_2325,
            sent: 0,
            lost: 0,
            streams: BTreeMap::new(),
            stray: BTreeMap::new(),
            buf: vec![0; 65536],
        }
    }

    /// The virtual clock.
    pub fn now(&self) -> Instant {
        Instant(self.now)
    }

    /// A configuration for a new node: its address, a seeded GUID prefix, loopback-free
    /// simulated addressing. `multicast` selects SPDP multicast; without it every other node is
    /// an initial peer.
    pub fn config(&mut self, multicast: bool) -> Config {
        let i = self.nodes.len();
        let address = [10, 0, (i / 250) as u8, (i % 250 + 1) as u8];
        let mut prefix = [0u8; 12];
        prefix[..8].copy_from_slice(&self.rng.next_u64().to_le_bytes());
        prefix[8..].copy_from_slice(&(i as u32).to_be_bytes());
        let mut c = Config::new(GuidPrefix(prefix));
        c.unicast_address = address;
        c.multicast = multicast;
        c
    }

    /// Adds a node; without multicast, pass peers in its config.
    pub fn add(&mut self, config: Config) -> usize {
        let engine = Engine::new(config.clone(), Instant(self.now)).expect("valid config");
        self.nodes.push(Node {
            engine: Some(Box::new(engine)),
            address: config.unicast_address,
            events: Vec::new(),
            config,
        });
        self.nodes.len() - 1
    }

    /// Adds `n` nodes that discover each other by multicast.
    pub fn add_multicast_nodes(&mut self, n: usize) -> Vec<usize> {
        (0..n)
            .map(|_| {
                let c = self.config(true);
                self.add(c)
            })
            .collect()
    }

    /// Adds `n` nodes that talk only over TCP (Cyclone framing), discovering each other through
    /// TCP peers.
    pub fn add_tcp_nodes(&mut self, n: usize) -> Vec<usize> {
        let first = self.nodes.len();
        (0..n)
            .map(|_| {
                let mut c = self.config(false);
                c.tcp_port = Some(7500);
                c.prefer_tcp = true;
                for j in first..first + n {
                    let addr = [10, 0, (j / 250) as u8, (j % 250 + 1) as u8];
                    if addr != c.unicast_address {
                        let added = c.add_tcp_peer(Peer {
                            address: addr,
                            port: Some(7500),
                        });
                        assert!(added, "more TCP nodes than MAX_PEERS + 1");
                    }
                }
                self.add(c)
            })
            .collect()
    }

    /// Adds `n` nodes that discover each other through unicast peers only.
    pub fn add_unicast_nodes(&mut self, n: usize) -> Vec<usize> {
        let first = self.nodes.len();
        (0..n)
            .map(|_| {
                let mut c = self.config(false);
                for j in first..first + n {
                    let addr = [10, 0, (j / 250) as u8, (j % 250 + 1) as u8];
                    if addr != c.unicast_address {
                        let added = c.add_peer(Peer {
                            address: addr,
                            port: None,
                        });
                        assert!(added, "more unicast nodes than MAX_PEERS + 1");
                    }
                }
                self.add(c)
            })
            .collect()
    }

    /// The engine of node `i` (panics if crashed: a test bug).
    pub fn engine(&mut self, i: usize) -> &mut Engine<'static> {
        self.nodes[i].engine.as_mut().expect("node is up")
    }

    /// Sets the link from `a` to `b`.
    pub fn set_link(&mut self, a: usize, b: usize, link: Link) {
        self.links.insert((a, b), link);
    }

    /// Cuts (or with `false`, heals) both directions between `a` and `b`.
    pub fn partition(&mut self, a: usize, b: usize, cut: bool) {
        self.blocked.insert((a, b), cut);
        self.blocked.insert((b, a), cut);
    }

    /// Stops node `i` without a goodbye; its in-flight datagrams are still delivered.
    pub fn crash(&mut self, i: usize) {
        self.nodes[i].engine = None;
    }

    /// Restarts node `i` with a fresh GUID prefix.
    pub fn restart(&mut self, i: usize) {
        let mut c = self.nodes[i].config.clone();
        let mut prefix = c.guid_prefix.0;
        prefix[..8].copy_from_slice(&self.rng.next_u64().to_le_bytes());
        c.guid_prefix = GuidPrefix(prefix);
        self.nodes[i].engine = Some(Box::new(
            Engine::new(c.clone(), Instant(self.now)).expect("valid config"),
        ));
        self.nodes[i].config = c;
    }

    /// A digest of every datagram sent so far, with its time, sender and destination.
    pub fn digest(&self) -> u64 {
        self.digest
    }

    fn owner(&self, dst: &Locator) -> Vec<usize> {
        let Some((ip, port)) = dst.ipv4() else {
            return Vec::new();
        };
        if dst.kind() == pollen_engine::wire::LocatorKind::TcpV4 {
            return self
                .nodes
                .iter()
                .enumerate()
                .filter(|(_, n)| {
                    n.engine
                        .as_ref()
                        .is_some_and(|e| e.listen_locators().any(|l| l.locator == *dst))
                })
                .map(|(i, _)| i)
                .collect();
        }
        if ip[0] >= 224 && ip[0] < 240 {
            return self
                .nodes
                .iter()
                .enumerate()
                .filter(|(_, n)| {
                    n.engine.as_ref().is_some_and(|e| {
                        e.listen_locators()
                            .any(|l| l.multicast && l.locator.ipv4() == Some((ip, port)))
                    })
                })
                .map(|(i, _)| i)
                .collect();
        }
        self.nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| {
                n.address == ip
                    && n.engine.as_ref().is_some_and(|e| {
                        e.listen_locators()
                            .any(|l| !l.multicast && l.locator.ipv4() == Some((ip, port)))
                    })
            })
            .map(|(i, _)| i)
            .collect()
    }

    fn send(&mut self, from: usize, dst: Locator, len: usize) {
        self.sent += 1;
        let data = self.buf[..len].to_vec();
        self.digest = fnv(self.digest, &self.now.to_le_bytes());
        self.digest = fnv(self.digest, &(from as u64).to_le_bytes());
        self.digest = fnv(self.digest, &dst.address);
        self.digest = fnv(self.digest, &data);
        let src = Locator::udpv4(self.nodes[from].address, 7410);
        let owners = self.owner(&dst);
        if owners.is_empty() {
            if let Some((ip, port)) = dst.ipv4().filter(|(ip, _)| !(224..240).contains(&ip[0])) {
                let s = self.stray.entry((ip, port)).or_default();
                s.0 += 1;
                s.1 += len as u64;
            }
        }
        for to in owners {
            if to == from {
                continue;
            }
            if self.blocked.get(&(from, to)).copied().unwrap_or(false) {
                self.lost += 1;
                continue;
            }
            let link = self
                .links
                .get(&(from, to))
                .copied()
                .unwrap_or(self.default_link);
            if self.rng.chance(link.loss) {
                self.lost += 1;
                continue;
            }
            let copies = if self.rng.chance(link.duplicate) {
                2
            } else {
                1
            };
            for _ in 0..copies {
                let mut d = data.clone();
                if self.rng.chance(link.corrupt) && !d.is_empty() {
                    for _ in 0..1 + self.rng.below(3) {
                        let at = self.rng.below(d.len() as u64) as usize;
                        d[at] ^= 1 << self.rng.below(8);
                    }
                }
                let jitter = if link.jitter_us > 0 {
                    self.rng.below(link.jitter_us)
                } else {
                    0
                };
                self.seq += 1;
                self.queue.push(std::cmp::Reverse(InFlight {
                    at: self.now + link.delay_us + jitter,
                    seq: self.seq,
                    to,
                    stream_from: None,
                    src,
                    dst,
                    data: d,
                }));
            }
        }
    }

    /// Delivers a forged datagram to node `to` after `delay_us`, as if it came from `src`: the
    /// attacker's way in, untouched by links, loss or partitions.
    pub fn inject(&mut self, to: usize, delay_us: u64, src: Locator, dst: Locator, data: Vec<u8>) {
        self.seq += 1;
        self.queue.push(std::cmp::Reverse(InFlight {
            at: self.now + delay_us,
            seq: self.seq,
            to,
            stream_from: None,
            src,
            dst,
            data,
        }));
    }

    /// Bytes sent so far to the unicast `ip:port` no node owns.
    pub fn stray_bytes(&self, ip: [u8; 4], port: u16) -> u64 {
        self.stray.get(&(ip, port)).map_or(0, |s| s.1)
    }

    /// A framed message on the stream to the node listening at `dst`: delivered in order after
    /// the link delay; a partition drops whole messages (as a broken connection would).
    fn send_stream(&mut self, from: usize, dst: Locator, len: usize) {
        self.sent += 1;
        let data = self.buf[..len].to_vec();
        self.digest = fnv(self.digest, &self.now.to_le_bytes());
        self.digest = fnv(self.digest, &data);
        let src = Locator::tcpv4(self.nodes[from].address, 0);
        for to in self.owner(&dst) {
            if to == from || self.blocked.get(&(from, to)).copied().unwrap_or(false) {
                self.lost += 1;
                continue;
            }
            let link = self
                .links
                .get(&(from, to))
                .copied()
                .unwrap_or(self.default_link);
            self.seq += 1;
            self.queue.push(std::cmp::Reverse(InFlight {
                at: self.now + link.delay_us,
                seq: self.seq,
                to,
                stream_from: Some(from),
                src,
                dst,
                data: data.clone(),
            }));
        }
    }

    /// Hands stream bytes to the engine in pieces of random size, keeping what it does not
    /// consume, as a driver reading a socket would.
    fn feed_stream(&mut self, from: usize, to: usize, bytes: Vec<u8>) {
        let now = Instant(self.now);
        let mut pending = self.streams.remove(&(from, to)).unwrap_or_default();
        pending.extend_from_slice(&bytes);
        let mut offered = 0;
        while offered < pending.len() {
            offered =
                (offered + 1 + self.rng.below(pending.len() as u64) as usize).min(pending.len());
            let Some(e) = self.nodes[to].engine.as_mut() else {
                return;
            };
            let used = e.handle_stream(
                now,
                pollen_engine::StreamId(from as u32),
                &pending[..offered],
            );
            pending.drain(..used);
            offered -= used;
        }
        self.streams.insert((from, to), pending);
    }

    /// Drains every node's transmits and events.
    fn drain(&mut self) {
        let now = Instant(self.now);
        for i in 0..self.nodes.len() {
            loop {
                let mut buf = std::mem::take(&mut self.buf);
                let t = match self.nodes[i].engine.as_mut() {
                    Some(e) => e.poll_transmit(now, &mut buf),
                    None => None,
                };
                self.buf = buf;
                let Some(t) = t else { break };
                match t.destination {
                    Destination::Udp(dst) => self.send(i, dst, t.len),
                    Destination::Tcp(dst) => self.send_stream(i, dst, t.len),
                }
            }
            let node = &mut self.nodes[i];
            if let Some(e) = node.engine.as_mut() {
                while let Some(ev) = e.poll_event() {
                    node.events.push(ev);
                }
            }
        }
    }

    /// Runs the network for `us` microseconds of virtual time.
    pub fn run_for(&mut self, us: u64) {
        self.run_until(|_| false, us);
    }

    /// Runs until `done` returns true (checked after each step) or `within_us` microseconds of
    /// virtual time have passed. Returns whether `done` became true.
    pub fn run_until(&mut self, mut done: impl FnMut(&mut SimNet) -> bool, within_us: u64) -> bool {
        let end = self.now + within_us;
        loop {
            self.drain();
            if done(self) {
                return true;
            }
            let next_packet = self.queue.peek().map(|r| r.0.at);
            let next_timer = self
                .nodes
                .iter()
                .filter_map(|n| n.engine.as_ref().and_then(|e| e.poll_timeout()))
                .map(|t| t.0)
                .min();
            let next = match (next_packet, next_timer) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => a.or(b).unwrap_or(end),
            }
            .max(self.now);
            if next > end {
                self.now = end;
                return false;
            }
            self.now = next;
            let now = Instant(self.now);
            while self.queue.peek().is_some_and(|r| r.0.at <= self.now) {
                let p = self.queue.pop().expect("peeked").0;
                if let Some(from) = p.stream_from {
                    self.feed_stream(from, p.to, p.data);
                } else if let Some(e) = self.nodes[p.to].engine.as_mut() {
                    e.handle_datagram(now, p.src, p.dst, &p.data);
                }
            }
            for n in self.nodes.iter_mut() {
                if let Some(e) = n.engine.as_mut() {
                    if e.poll_timeout().is_some_and(|t| t <= now) {
                        e.handle_timeout(now);
                    }
                }
            }
        }
    }

    /// Whether every live node knows every other live node.
    pub fn fully_discovered(&self) -> bool {
        let live: Vec<GuidPrefix> = self
            .nodes
            .iter()
            .filter_map(|n| n.engine.as_ref().map(|e| e.guid_prefix()))
            .collect();
        self.nodes
            .iter()
            .filter_map(|n| n.engine.as_ref())
            .all(|e| {
                live.iter()
                    .filter(|p| **p != e.guid_prefix())
                    .all(|p| e.participants().any(|s| s.guid_prefix == *p))
            })
    }
}

/// Reliable, volatile, KEEP_ALL: the writer QoS of the scale and table scenarios.
pub fn reliable_writer() -> pollen_engine::WriterQos {
    pollen_engine::WriterQos {
        reliability: pollen_engine::Reliability::Reliable,
        durability: pollen_engine::Durability::Volatile,
        history: pollen_engine::History::KeepAll,
        ..pollen_engine::WriterQos::default()
    }
}

/// The reader counterpart of [`reliable_writer`].
pub fn reliable_reader() -> pollen_engine::ReaderQos {
    pollen_engine::ReaderQos {
        reliability: pollen_engine::Reliability::Reliable,
        durability: pollen_engine::Durability::Volatile,
        history: pollen_engine::History::KeepAll,
        ..pollen_engine::ReaderQos::default()
    }
}

/// Whether the tests that need a peer program, root or a system tool must run here: always,
/// unless the developer opts out with `POLLEN_ALLOW_SKIP=1` for a machine without the peers;
/// never under CI (`CI` set to anything but `false`) or `POLLEN_REQUIRE_PEERS`, whatever else
/// is set. A missing peer then fails the test instead of passing it silently.
pub fn peers_required() -> bool {
    let set = |v: &str| std::env::var(v).is_ok_and(|s| !s.is_empty() && s != "0" && s != "false");
    set("CI") || set("POLLEN_REQUIRE_PEERS") || !set("POLLEN_ALLOW_SKIP")
}

/// Says that a test cannot run here, and why. Where [`peers_required`] (the default), a panic,
/// so that the run fails; where skipping was allowed, `SKIPPED: why` in a banner on stderr, so
/// that a skipped test cannot be mistaken for a passed one.
pub fn skip(why: &str) {
    assert!(
        !peers_required(),
        "{why} (shared/PEERS.md says how to install it; scripts/test.sh installs everything; \
         POLLEN_ALLOW_SKIP=1 skips such tests outside CI)"
    );
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "\n******** SKIPPED (POLLEN_ALLOW_SKIP): {why} ********\n"
    );
}

/// Creates a reliable KEEP_ALL writer ([`reliable_writer`]) on node `a` and reader
/// ([`reliable_reader`]) on node `b`, both on `topic`, and runs until each has matched the
/// other (panics if that takes more than `within_us` of virtual time).
pub fn match_reliable(
    net: &mut SimNet,
    a: usize,
    b: usize,
    topic: &pollen_engine::TopicSpec<'_>,
    within_us: u64,
) -> (pollen_engine::WriterHandle, pollen_engine::ReaderHandle) {
    let now = net.now();
    let w = net
        .engine(a)
        .create_writer(now, topic, &reliable_writer())
        .expect("a writer slot");
    let r = net
        .engine(b)
        .create_reader(now, topic, &reliable_reader())
        .expect("a reader slot");
    assert!(
        net.run_until(
            |n| n.engine(a).matched_readers(w) == 1 && n.engine(b).matched_writers(r) == 1,
            within_us
        ),
        "the reliable pair did not match"
    );
    (w, r)
}
