//! Engine scenarios in the simulated network.

use pollen_engine::wire::Time;
use pollen_engine::{
    Durability, Event, History, ReaderHandle, ReaderQos, Reliability, TopicSpec, WriterHandle,
    WriterQos,
};
use pollen_tests::{Link, SimNet};

const SECOND: u64 = 1_000_000;

fn topic() -> TopicSpec<'static> {
    TopicSpec::new("sim/topic", "Counter")
}

fn sample(i: u32) -> [u8; 12] {
    let mut b = [0u8; 12];
    b[..4].copy_from_slice(&[0, 1, 0, 0]);
    b[4..8].copy_from_slice(&i.to_le_bytes());
    b[8..].copy_from_slice(&(!i).to_le_bytes());
    b
}

fn value(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[4], b[5], b[6], b[7]])
}

fn reliable_writer(depth: History, durability: Durability) -> WriterQos {
    WriterQos {
        reliability: Reliability::Reliable,
        durability,
        history: depth,
        ..WriterQos::default()
    }
}

fn reliable_reader(durability: Durability) -> ReaderQos {
    ReaderQos {
        reliability: Reliability::Reliable,
        durability,
        history: History::KeepAll,
        ..ReaderQos::default()
    }
}

fn matched(net: &SimNet, node: usize) -> bool {
    net.nodes[node]
        .events
        .iter()
        .any(|e| matches!(e, Event::Matched { .. }))
}

/// Takes everything available from `r` into `got`.
fn drain(net: &mut SimNet, node: usize, r: ReaderHandle, got: &mut Vec<u32>) {
    let mut buf = [0u8; 64];
    while let Some(info) = net.engine(node).take(r, &mut buf).expect("take") {
        got.push(value(&buf[..info.len]));
    }
}

#[test]
fn two_participants_discover_by_multicast() {
    let mut net = SimNet::new(1, Link::perfect());
    net.add_multicast_nodes(2);
    assert!(net.run_until(|n| n.fully_discovered(), 5 * SECOND));
}

#[test]
fn twenty_participants_discover_by_multicast() {
    let mut net = SimNet::new(2, Link::lossy(0.1));
    net.add_multicast_nodes(20);
    assert!(net.run_until(|n| n.fully_discovered(), 10 * SECOND));
}

#[test]
fn participants_discover_by_unicast_peers_only() {
    let mut net = SimNet::new(3, Link::lossy(0.1));
    net.add_unicast_nodes(pollen_engine::limits::MAX_PEERS + 1);
    assert!(net.run_until(|n| n.fully_discovered(), 10 * SECOND));
}

/// Writes `count` samples as fast as the history allows and checks exactly-once, in-order
/// delivery.
fn reliable_transfer(seed: u64, link: Link, count: u32) -> (u64, Vec<u32>) {
    let mut net = SimNet::new(seed, link);
    let ids = net.add_multicast_nodes(2);
    transfer_between(&mut net, ids[0], ids[1], seed, count)
}

fn transfer_between(
    net: &mut SimNet,
    a: usize,
    b: usize,
    seed: u64,
    count: u32,
) -> (u64, Vec<u32>) {
    let now = net.now();
    let w = net
        .engine(a)
        .create_writer(
            now,
            &topic(),
            &reliable_writer(History::KeepAll, Durability::Volatile),
        )
        .unwrap();
    let r = net
        .engine(b)
        .create_reader(now, &topic(), &reliable_reader(Durability::Volatile))
        .unwrap();
    assert!(
        net.run_until(|n| matched(n, a) && matched(n, b), 30 * SECOND),
        "seed {seed}: endpoints never matched"
    );
    let mut got = Vec::new();
    let mut next = 0u32;
    let deadline = net.now().0 + 600 * SECOND;
    while got.len() < count as usize && net.now().0 < deadline {
        let now = net.now();
        while next < count {
            match net.engine(a).write(now, w, &sample(next), Time::ZERO) {
                Ok(_) => next += 1,
                Err(_) => break,
            }
        }
        net.run_for(20_000);
        drain(net, b, r, &mut got);
    }
    (net.digest(), got)
}

#[test]
fn tcp_only_discovery_and_reliable_delivery_over_streams() {
    let mut net = SimNet::new(21, Link::perfect());
    let ids = net.add_tcp_nodes(3);
    assert!(net.run_until(|n| n.fully_discovered(), 10 * SECOND));
    let (_, got) = transfer_between(&mut net, ids[0], ids[2], 21, 1000);
    assert_eq!(got, (0..1000).collect::<Vec<_>>());
    let streamed: u64 = ids
        .iter()
        .map(|&i| net.engine(i).stats().stream_messages_in)
        .sum();
    let datagrams: u64 = ids
        .iter()
        .map(|&i| net.engine(i).stats().datagrams_in)
        .sum();
    assert!(streamed > 0);
    assert_eq!(datagrams, 0, "TCP-only nodes received UDP");
}

/// One unicast port for metatraffic and user data (`Config::unicast_ports` with both the same,
/// as Cyclone DDS announces): the engine asks for one unicast socket, announces that port in
/// both locators, and reliable data still flows both ways over a lossy link.
#[test]
fn one_unicast_port_for_metatraffic_and_user_data() {
    for shared_writes in [true, false] {
        let mut net = SimNet::new(31, Link::lossy(0.2));
        let mut c = net.config(true);
        c.unicast_ports = Some((9000, 9000));
        let shared = net.add(c);
        let other = net.add_multicast_nodes(1)[0];
        let listen: Vec<_> = net.engine(shared).listen_locators().collect();
        assert_eq!(
            listen.len(),
            2,
            "multicast and one unicast socket: {listen:?}"
        );
        assert!(listen
            .iter()
            .any(|l| !l.multicast && l.locator.ipv4().unwrap().1 == 9000));
        let (a, b) = if shared_writes {
            (shared, other)
        } else {
            (other, shared)
        };
        let (_, got) = transfer_between(&mut net, a, b, 31, 300);
        assert_eq!(
            got,
            (0..300).collect::<Vec<_>>(),
            "from node {a} to node {b}"
        );
    }
}

#[test]
fn reliable_delivery_on_a_perfect_link() {
    let (_, got) = reliable_transfer(3, Link::perfect(), 1000);
    assert_eq!(got, (0..1000).collect::<Vec<_>>());
}

#[test]
fn reliable_delivery_under_loss_duplication_and_reordering() {
    for seed in 0..100 {
        let (_, got) = reliable_transfer(1000 + seed, Link::lossy(0.3), 1000);
        assert_eq!(got.len(), 1000, "seed {seed}: got {} samples", got.len());
        assert!(
            got.iter().copied().eq(0..1000),
            "seed {seed}: out of order or duplicated"
        );
    }
}

#[test]
fn same_seed_same_trace() {
    let a = reliable_transfer(77, Link::lossy(0.2), 200);
    let b = reliable_transfer(77, Link::lossy(0.2), 200);
    let c = reliable_transfer(78, Link::lossy(0.2), 200);
    assert_eq!(a, b);
    assert_ne!(a.0, c.0);
}

#[test]
fn best_effort_never_duplicates() {
    let mut net = SimNet::new(5, Link::lossy(0.2));
    let ids = net.add_multicast_nodes(2);
    let now = net.now();
    let qos = WriterQos {
        reliability: Reliability::BestEffort,
        ..WriterQos::default()
    };
    let w = net
        .engine(ids[0])
        .create_writer(now, &topic(), &qos)
        .unwrap();
    let r = net
        .engine(ids[1])
        .create_reader(now, &topic(), &ReaderQos::default())
        .unwrap();
    assert!(net.run_until(|n| matched(n, ids[0]) && matched(n, ids[1]), 30 * SECOND));
    let mut got = Vec::new();
    for i in 0..500 {
        let now = net.now();
        net.engine(ids[0])
            .write(now, w, &sample(i), Time::ZERO)
            .unwrap();
        net.run_for(2_000);
        drain(&mut net, ids[1], r, &mut got);
    }
    net.run_for(SECOND);
    drain(&mut net, ids[1], r, &mut got);
    assert!(got.len() > 300, "best effort lost too much: {}", got.len());
    assert!(
        got.windows(2).all(|w| w[0] < w[1]),
        "duplicated or reordered"
    );
}

fn late_joiner(history: History, written: u32) -> Vec<u32> {
    let mut net = SimNet::new(6, Link::lossy(0.1));
    let ids = net.add_multicast_nodes(2);
    let now = net.now();
    let w: WriterHandle = net
        .engine(ids[0])
        .create_writer(
            now,
            &topic(),
            &reliable_writer(history, Durability::TransientLocal),
        )
        .unwrap();
    for i in 0..written {
        let now = net.now();
        net.engine(ids[0])
            .write(now, w, &sample(i), Time::ZERO)
            .unwrap();
    }
    net.run_for(2 * SECOND);
    let now = net.now();
    let r = net
        .engine(ids[1])
        .create_reader(now, &topic(), &reliable_reader(Durability::TransientLocal))
        .unwrap();
    net.run_for(10 * SECOND);
    let mut got = Vec::new();
    drain(&mut net, ids[1], r, &mut got);
    got
}

#[test]
fn late_joiner_gets_transient_local_history() {
    assert_eq!(
        late_joiner(History::KeepLast(10), 10),
        (0..10).collect::<Vec<_>>()
    );
}

#[test]
fn keep_last_depth_is_honoured() {
    assert_eq!(
        late_joiner(History::KeepLast(5), 20),
        (15..20).collect::<Vec<_>>()
    );
}

#[test]
fn partitioned_participant_is_lost_then_found() {
    let mut net = SimNet::new(8, Link::perfect());
    let ids = net.add_multicast_nodes(2);
    assert!(net.run_until(|n| n.fully_discovered(), 5 * SECOND));
    net.partition(ids[0], ids[1], true);
    net.run_for(12 * SECOND);
    let lost = |n: &SimNet, i: usize| {
        n.nodes[i]
            .events
            .iter()
            .any(|e| matches!(e, Event::ParticipantLost(_)))
    };
    assert!(lost(&net, ids[0]) && lost(&net, ids[1]));
    assert!(!net.fully_discovered());
    net.partition(ids[0], ids[1], false);
    assert!(net.run_until(|n| n.fully_discovered(), 10 * SECOND));
}

#[test]
fn restarted_participant_is_found_and_the_old_one_expires() {
    let mut net = SimNet::new(9, Link::perfect());
    let ids = net.add_multicast_nodes(2);
    assert!(net.run_until(|n| n.fully_discovered(), 5 * SECOND));
    let old = net.engine(ids[1]).guid_prefix();
    net.crash(ids[1]);
    net.restart(ids[1]);
    let new = net.engine(ids[1]).guid_prefix();
    assert_ne!(old, new);
    assert!(net.run_until(|n| n.fully_discovered(), 5 * SECOND));
    net.run_for(12 * SECOND);
    let known: Vec<_> = net
        .engine(ids[0])
        .participants()
        .map(|p| p.guid_prefix)
        .collect();
    assert_eq!(known, vec![new]);
}

#[test]
fn corrupted_datagrams_never_panic_and_are_counted() {
    let link = Link {
        corrupt: 0.1,
        ..Link::lossy(0.1)
    };
    let mut net = SimNet::new(11, link);
    let ids = net.add_multicast_nodes(2);
    let (_, got) = transfer_between(&mut net, ids[0], ids[1], 11, 300);
    // Corruption may hit payload bytes (no checksum in RTPS), so only completeness is checked
    // for the samples; corrupted headers and submessages are refused and counted.
    assert_eq!(got.len(), 300);
    let dropped: u64 = ids
        .iter()
        .map(|&i| net.engine(i).stats().dropped_total())
        .sum();
    assert!(
        dropped > 0,
        "corrupted datagrams were dropped without a count"
    );
}

fn keyed_topic() -> TopicSpec<'static> {
    TopicSpec {
        keyed: true,
        ..TopicSpec::new("sim/keyed", "Keyed")
    }
}

fn key(k: u8) -> [u8; 16] {
    let mut h = [0u8; 16];
    h[3] = k;
    h
}

#[test]
fn keyed_keep_last_is_per_instance_and_dispose_reaches_the_reader() {
    let mut net = SimNet::new(12, Link::lossy(0.1));
    let ids = net.add_multicast_nodes(2);
    let now = net.now();
    let w = net
        .engine(ids[0])
        .create_writer(
            now,
            &keyed_topic(),
            &reliable_writer(History::KeepLast(2), Durability::TransientLocal),
        )
        .unwrap();
    // Three instances, five samples each: the history keeps the last two of each.
    for i in 0..15u32 {
        let now = net.now();
        net.engine(ids[0])
            .write_keyed(now, w, &sample(i), key((i % 3) as u8), Time::ZERO)
            .unwrap();
    }
    let now = net.now();
    net.engine(ids[0])
        .dispose(now, w, &[], key(1), Time::ZERO)
        .unwrap();
    let r = net
        .engine(ids[1])
        .create_reader(
            now,
            &keyed_topic(),
            &reliable_reader(Durability::TransientLocal),
        )
        .unwrap();
    net.run_for(10 * SECOND);
    let mut buf = [0u8; 64];
    let mut alive = Vec::new();
    let mut disposed = Vec::new();
    while let Some(info) = net.engine(ids[1]).take(r, &mut buf).unwrap() {
        match info.state {
            pollen_engine::InstanceState::Alive => alive.push(value(&buf[..info.len])),
            pollen_engine::InstanceState::Disposed => disposed.push(info.key_hash),
            s => panic!("unexpected state {s:?}"),
        }
    }
    // Instance 1 keeps its last two changes: sample 13 and the dispose (10 was replaced).
    assert_eq!(alive, vec![9, 11, 12, 13, 14]);
    assert_eq!(disposed, vec![Some(key(1))]);
}

#[test]
fn incompatible_qos_is_reported_with_the_policy() {
    let mut net = SimNet::new(13, Link::perfect());
    let ids = net.add_multicast_nodes(2);
    let now = net.now();
    let best_effort = WriterQos {
        reliability: Reliability::BestEffort,
        ..WriterQos::default()
    };
    net.engine(ids[0])
        .create_writer(now, &topic(), &best_effort)
        .unwrap();
    net.engine(ids[1])
        .create_reader(now, &topic(), &reliable_reader(Durability::Volatile))
        .unwrap();
    net.run_for(3 * SECOND);
    for i in ids {
        assert!(
            net.nodes[i].events.iter().any(|e| matches!(
                e,
                Event::IncompatibleQos {
                    policy: pollen_engine::QosPolicy::Reliability,
                    ..
                }
            )),
            "node {i}: {:?}",
            net.nodes[i].events
        );
        assert!(!matched(&net, i));
    }
}

#[test]
fn shutdown_is_seen_at_once_not_after_the_lease() {
    let mut net = SimNet::new(14, Link::perfect());
    let ids = net.add_multicast_nodes(2);
    assert!(net.run_until(|n| n.fully_discovered(), 5 * SECOND));
    let now = net.now();
    net.engine(ids[1]).shutdown(now);
    net.run_for(SECOND / 10);
    assert!(net.nodes[ids[0]]
        .events
        .iter()
        .any(|e| matches!(e, Event::ParticipantLost(_))));
}

#[test]
fn corruption_is_counted() {
    let link = Link {
        corrupt: 0.1,
        ..Link::lossy(0.1)
    };
    let mut net = SimNet::new(15, link);
    net.add_multicast_nodes(3);
    net.run_for(30 * SECOND);
    let dropped: u64 = (0..3).map(|i| net.engine(i).stats().dropped_total()).sum();
    assert!(dropped > 0, "corrupted datagrams were not counted");
}

fn big_sample(i: u32, len: usize) -> Vec<u8> {
    let mut b = vec![0u8; len];
    b[..4].copy_from_slice(&[0, 1, 0, 0]);
    b[4..8].copy_from_slice(&i.to_le_bytes());
    for (j, x) in b[8..].iter_mut().enumerate() {
        *x = (j as u32).wrapping_mul(31).wrapping_add(i) as u8;
    }
    b
}

/// Large samples travel as DATA_FRAG and arrive whole, exactly once, in order, under loss.
fn fragmented_transfer(seed: u64, loss: f64, len: usize, count: u32) {
    let mut net = SimNet::new(seed, Link::lossy(loss));
    let ids = net.add_multicast_nodes(2);
    let (a, b) = (ids[0], ids[1]);
    let now = net.now();
    let w = net
        .engine(a)
        .create_writer(
            now,
            &topic(),
            &reliable_writer(History::KeepAll, Durability::Volatile),
        )
        .unwrap();
    let r = net
        .engine(b)
        .create_reader(now, &topic(), &reliable_reader(Durability::Volatile))
        .unwrap();
    assert!(net.run_until(|n| matched(n, a) && matched(n, b), 30 * SECOND));
    let mut out = vec![0u8; len];
    let mut got = 0u32;
    let mut next = 0u32;
    let deadline = net.now().0 + 300 * SECOND;
    while got < count && net.now().0 < deadline {
        let now = net.now();
        while next < count {
            match net
                .engine(a)
                .write(now, w, &big_sample(next, len), Time::ZERO)
            {
                Ok(_) => next += 1,
                Err(_) => break,
            }
        }
        net.run_for(50_000);
        while let Some(info) = net.engine(b).take(r, &mut out).unwrap() {
            assert_eq!(info.len, len);
            assert!(
                out == big_sample(got, len),
                "seed {seed}: sample {got} corrupted"
            );
            got += 1;
        }
    }
    assert_eq!(
        got, count,
        "seed {seed}: only {got} of {count} large samples arrived"
    );
    assert!(net.engine(b).stats().samples_delivered >= count as u64);
}

#[test]
fn fragmented_samples_arrive_whole_under_loss() {
    for seed in 0..5 {
        fragmented_transfer(2000 + seed, 0.2, 100_000, 10);
    }
}

#[test]
fn one_mebibyte_samples_arrive_under_twenty_percent_loss() {
    fragmented_transfer(3000, 0.2, 1 << 20, 3);
}

#[test]
fn remote_participant_user_data_is_remembered() {
    let mut net = SimNet::new(31, Link::perfect());
    let mut a = net.config(true);
    assert!(a.set_user_data(b"DDSPerf:0:42:host"));
    let a = net.add(a);
    let b = net.config(true);
    let b = net.add(b);
    assert!(net.run_until(|n| n.fully_discovered(), 5 * SECOND));
    let seen: Vec<Vec<u8>> = net
        .engine(b)
        .participants()
        .map(|p| p.user_data().to_vec())
        .collect();
    assert_eq!(seen, vec![b"DDSPerf:0:42:host".to_vec()]);
    let seen_by_a: Vec<usize> = net
        .engine(a)
        .participants()
        .map(|p| p.user_data().len())
        .collect();
    assert_eq!(seen_by_a, vec![0]);
}
