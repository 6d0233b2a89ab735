//! Real-system size in SimNet: hundreds of participants with dozens of endpoints each, a
//! reader that must still find its one writer among them and get every sample, and tables
//! that refuse or evict by their policies and recover.

use pollen_engine::wire::Time;
use pollen_engine::{Capacities, Event, Instant, Table, TopicSpec};
use pollen_tests::{reliable_reader, reliable_writer, Link, SimNet};

const SECOND: u64 = 1_000_000;

/// `n` background participants with `per` endpoints each on topics of their own, plus one
/// writer node and one reader node on `chatter`; the reader gets all 50 samples. Background
/// participants keep only a few remote endpoints (they match nothing), so the cost is the
/// observer's: it learns every participant and every endpoint.
fn one_writer_among(n: usize, per: usize, seed: u64) {
    let mut net = SimNet::new(seed, Link::lossy(0.02));
    // The observer (the reader's node) and the writer's node discover each other and everyone
    // by multicast; the background participants are unicast-only with the observer as their
    // peer, so the observer learns all of them while they learn only the observer: the cost
    // of the scenario is the observer's, not n².
    let c = net.config(true);
    let observer = c.unicast_address;
    let rn = net.add(c);
    let c = net.config(true);
    let wn = net.add(c);
    let background = Capacities {
        remote_endpoints: 8,
        ..Capacities::HOST
    };
    for i in 0..n {
        let mut c = net.config(false);
        c.capacities = background;
        c.add_peer(pollen_engine::Peer {
            address: observer,
            port: Some(7410),
        });
        let id = net.add(c);
        let now = net.now();
        for j in 0..per {
            let name = format!("unrelated_{i}_{j}");
            let t = TopicSpec::new(&name, "Unrelated");
            if j % 2 == 0 {
                net.engine(id)
                    .create_writer(now, &t, &reliable_writer())
                    .unwrap();
            } else {
                net.engine(id)
                    .create_reader(now, &t, &reliable_reader())
                    .unwrap();
            }
        }
    }
    let topic = TopicSpec::new("chatter", "String");
    let now = net.now();
    let w = net
        .engine(wn)
        .create_writer(now, &topic, &reliable_writer())
        .unwrap();
    let r = net
        .engine(rn)
        .create_reader(now, &topic, &reliable_reader())
        .unwrap();
    let ok = net.run_until(
        |net| net.engine(wn).ready_readers(w) == 1 && net.engine(rn).matched_writers(r) == 1,
        60 * SECOND,
    );
    assert!(
        ok,
        "the reader never matched its writer among {n} participants"
    );
    let mut got = Vec::new();
    for i in 0..50u32 {
        let now = net.now();
        let mut payload = [0u8; 8];
        payload[..4].copy_from_slice(&[0, 1, 0, 0]);
        payload[4..].copy_from_slice(&i.to_le_bytes());
        net.engine(wn).write(now, w, &payload, Time::ZERO).unwrap();
        net.run_for(SECOND / 100);
        let mut buf = [0u8; 64];
        while let Some(s) = net.engine(rn).take(r, &mut buf).unwrap() {
            got.push(u32::from_le_bytes(buf[4..8].try_into().unwrap()));
            assert_eq!(s.len, 8);
        }
    }
    let done = net.run_until(
        |net| {
            let mut buf = [0u8; 64];
            while let Ok(Some(_)) = net.engine(rn).take(r, &mut buf) {
                got.push(u32::from_le_bytes(buf[4..8].try_into().unwrap()));
            }
            got.len() >= 50
        },
        30 * SECOND,
    );
    assert!(done, "got {} of 50", got.len());
    assert_eq!(got, (0..50).collect::<Vec<_>>());
    // The observer learns every participant and every endpoint.
    let all = net.run_until(
        |net| net.engine(rn).remote_endpoints().count() == n * per + 1,
        30 * SECOND,
    );
    let e = net.engine(rn);
    assert!(
        all,
        "{} of {} endpoints",
        e.remote_endpoints().count(),
        n * per + 1
    );
    assert_eq!(e.participants().count(), n + 1);
    assert_eq!(e.stats().dropped_table_full, 0);
}

#[test]
fn three_hundred_participants_of_thirty_endpoints() {
    one_writer_among(300, 30, 1);
}

/// A reader whose remote-endpoint table holds 16 entries, in a domain of 10 participants with
/// 10 unrelated endpoints each: unrelated endpoints are refused or make way, the writer on its
/// topic still matches, and the refusal is reported once.
#[test]
fn full_endpoint_table_keeps_what_matches() {
    let mut net = SimNet::new(7, Link::lossy(0.0));
    let small = Capacities {
        remote_endpoints: 16,
        ..Capacities::HOST
    };
    let mut c = net.config(true);
    c.capacities = small;
    let rn = net.add(c);
    let topic = TopicSpec::new("chatter", "String");
    let now = net.now();
    let r = net
        .engine(rn)
        .create_reader(now, &topic, &reliable_reader())
        .unwrap();
    for i in 0..10 {
        let c = net.config(true);
        let id = net.add(c);
        for j in 0..10 {
            let name = format!("other_{i}_{j}");
            let now = net.now();
            net.engine(id)
                .create_writer(now, &TopicSpec::new(&name, "T"), &reliable_writer())
                .unwrap();
        }
    }
    net.run_for(5 * SECOND);
    let c = net.config(true);
    let wn = net.add(c);
    let now = net.now();
    let w = net
        .engine(wn)
        .create_writer(now, &topic, &reliable_writer())
        .unwrap();
    let ok = net.run_until(
        |net| net.engine(wn).ready_readers(w) == 1 && net.engine(rn).matched_writers(r) == 1,
        30 * SECOND,
    );
    assert!(
        ok,
        "the writer never matched the reader behind a full table"
    );
    let e = net.engine(rn);
    assert!(e.remote_endpoints().count() <= 16);
    assert!(e.stats().dropped_table_full > 0);
    let refused = net.nodes[rn]
        .events
        .iter()
        .filter(|ev| {
            matches!(
                ev,
                Event::Refused {
                    table: Table::RemoteEndpoints,
                    ..
                }
            )
        })
        .count();
    let _ = Instant::ZERO;
    assert_eq!(
        refused, 1,
        "a full table is reported once until it has room"
    );
}

/// A matched endpoint that leaves a full table must not take the list of eviction candidates
/// with it: a relevant newcomer afterwards still evicts one that matches nothing. (The list's
/// head and tail were reset when a matched endpoint, which is not on it, was removed.)
#[test]
fn eviction_still_works_after_a_matched_endpoint_leaves() {
    let mut net = SimNet::new(9, Link::lossy(0.0));
    let mut c = net.config(true);
    c.capacities = Capacities {
        remote_endpoints: 4,
        ..Capacities::HOST
    };
    let rn = net.add(c);
    let topic = TopicSpec::new("chatter", "String");
    let now = net.now();
    let r = net
        .engine(rn)
        .create_reader(now, &topic, &reliable_reader())
        .unwrap();
    let c = net.config(true);
    let other = net.add(c);
    let now = net.now();
    let first = net
        .engine(other)
        .create_writer(now, &topic, &reliable_writer())
        .unwrap();
    for j in 0..3 {
        let name = format!("unrelated_{j}");
        net.engine(other)
            .create_writer(now, &TopicSpec::new(&name, "T"), &reliable_writer())
            .unwrap();
    }
    assert!(net.run_until(|net| net.engine(rn).matched_writers(r) == 1, 10 * SECOND));
    assert_eq!(net.engine(rn).remote_endpoints().count(), 4);
    // The matched writer leaves; another unrelated one fills its slot.
    let now = net.now();
    assert!(net.engine(other).delete_writer(now, first));
    net.engine(other)
        .create_writer(now, &TopicSpec::new("unrelated_3", "T"), &reliable_writer())
        .unwrap();
    assert!(net.run_until(|net| net.engine(rn).matched_writers(r) == 0, 10 * SECOND));
    net.run_for(2 * SECOND);
    assert_eq!(net.engine(rn).remote_endpoints().count(), 4);
    // Two new writers on the reader's topic must each evict an unrelated endpoint and match.
    let now = net.now();
    for _ in 0..2 {
        net.engine(other)
            .create_writer(now, &topic, &reliable_writer())
            .unwrap();
    }
    let ok = net.run_until(|net| net.engine(rn).matched_writers(r) == 2, 10 * SECOND);
    let stats = *net.engine(rn).stats();
    assert!(
        ok,
        "the relevant newcomer was refused: evicted {}, refused {}",
        stats.evicted, stats.dropped_table_full
    );
}
