//! Hostile discovery: an attacker who forges SPDP and SEDP (any prefix, any announced locator,
//! any source address) must not lock Pollen's tables, keep its own forgeries alive without
//! announcing them, or turn Pollen into a reflector towards a third party. A legitimate peer
//! must notice none of the defences.
//!
//! - a table of matched spoofed participants (infinite leases, forged SEDP from a foreign
//!   address) still lets a newcomer in, which then matches;
//! - forged non-SPDP traffic from an address the participant did not announce does not refresh
//!   its lease (the same traffic from its own address does);
//! - an infinite announced lease is clamped to `Config::max_remote_lease`;
//! - one spoofed participant announcing many endpoints on a legitimate topic cannot fill the
//!   remote-endpoint or the match table against a legitimate match;
//! - one spoofed SPDP pointing at a third party yields at most 10x its bytes there over 60 s;
//! - a legitimate peer is discovered and matched as fast as ever.

use pollen_engine::wire::{Duration, EntityId, Guid, GuidPrefix, Locator, Time};
use pollen_engine::{Capacities, Event, ReaderHandle, Span, TopicSpec, WriterHandle};
use pollen_tests::{adversary, reliable_reader, reliable_writer, Link, SimNet};

const SECOND: u64 = 1_000_000;

/// The victim's metatraffic unicast port (domain 0, participant 0).
const META: u16 = 7410;

fn node(net: &mut SimNet, caps: Option<Capacities>) -> usize {
    let mut c = net.config(true);
    if let Some(caps) = caps {
        c.capacities = caps;
    }
    net.add(c)
}

fn writer(net: &mut SimNet, n: usize, topic: &str) -> WriterHandle {
    let now = net.now();
    net.engine(n)
        .create_writer(now, &TopicSpec::new(topic, "T"), &reliable_writer())
        .unwrap()
}

fn reader(net: &mut SimNet, n: usize, topic: &str) -> ReaderHandle {
    let now = net.now();
    net.engine(n)
        .create_reader(now, &TopicSpec::new(topic, "T"), &reliable_reader())
        .unwrap()
}

fn knows(net: &mut SimNet, n: usize, p: GuidPrefix) -> bool {
    net.engine(n).participants().any(|s| s.guid_prefix == p)
}

/// The victim's own unicast metatraffic locator.
fn meta_of(net: &SimNet, n: usize) -> Locator {
    Locator::udpv4(net.nodes[n].address, META)
}

fn spoof_prefix(i: u32) -> GuidPrefix {
    let mut p = [0xee; 12];
    p[8..].copy_from_slice(&i.to_be_bytes());
    GuidPrefix(p)
}

/// Writes ten samples and checks reader `r` gets them all.
fn delivers(net: &mut SimNet, (wn, w): (usize, WriterHandle), (rn, r): (usize, ReaderHandle)) {
    for i in 0..10u32 {
        let now = net.now();
        let mut p = [0u8; 8];
        p[..4].copy_from_slice(&[0, 1, 0, 0]);
        p[4..].copy_from_slice(&i.to_le_bytes());
        net.engine(wn).write(now, w, &p, Time::ZERO).unwrap();
        net.run_for(SECOND / 50);
    }
    let mut got = 0;
    let mut buf = [0u8; 64];
    let done = net.run_until(
        |net| {
            while net.engine(rn).take(r, &mut buf).unwrap().is_some() {
                got += 1;
            }
            got >= 10
        },
        10 * SECOND,
    );
    assert!(done, "got {got} of 10");
}

/// Attack 3: a participant table of four full of spoofed participants with infinite leases,
/// each with a forged writer on the victim's topic (sent from the attacker's own address, not
/// the one the participant announced), refreshed by SPDP every second. They are matched, which
/// the old policy never evicted, so a legitimate newcomer was refused for good. Now a
/// participant that never answered from its own address ranks below one that did: the
/// newcomer takes a spoofed one's slot, keeps it, and matches.
#[test]
fn spoofed_matched_participants_do_not_lock_the_table() {
    let mut net = SimNet::new(41, Link::perfect());
    let v = node(
        &mut net,
        Some(Capacities {
            participants: 4,
            ..Capacities::HOST
        }),
    );
    let r = reader(&mut net, v, "chatter");
    let dst = meta_of(&net, v);
    let attacker = Locator::udpv4([10, 99, 0, 1], 40000);
    let spoof = |i: u32| {
        let at = Locator::udpv4([10, 66, 0, i as u8 + 1], 7410);
        adversary::spdp(spoof_prefix(i), at, Duration::INFINITE, 0)
    };
    // 40 s of the flood: every spoofed participant re-announced each second, and its forged
    // writer right after.
    for t in 0..40u64 {
        for i in 0..4u32 {
            let at = Locator::udpv4([10, 66, 0, i as u8 + 1], 7410);
            net.inject(v, t * SECOND + i as u64 * 10, at, dst, spoof(i));
            let w = Guid::new(spoof_prefix(i), EntityId([0, 0, 1, 0x03]));
            let sedp = adversary::sedp_endpoint(w, "chatter", "T", at, 1);
            net.inject(v, t * SECOND + i as u64 * 10 + 5, attacker, dst, sedp);
        }
    }
    net.run_for(2 * SECOND);
    assert_eq!(net.engine(v).participants().count(), 4);
    assert_eq!(
        net.engine(v).matched_writers(r),
        4,
        "the forgeries were believed"
    );
    let l = node(&mut net, None);
    let wl = writer(&mut net, l, "chatter");
    let pl = net.engine(l).guid_prefix();
    let ok = net.run_until(
        |net| knows(net, v, pl) && net.engine(l).ready_readers(wl) == 1,
        10 * SECOND,
    );
    assert!(
        ok,
        "the newcomer was locked out: {:?}",
        net.nodes[v].events.iter().rev().take(8).collect::<Vec<_>>()
    );
    // It stays while the flood goes on, and delivers.
    net.run_for(10 * SECOND);
    assert!(knows(&mut net, v, pl), "the newcomer was evicted again");
    delivers(&mut net, (l, wl), (v, r));
    assert!(net.engine(v).participants().count() <= 4);
}

/// Forged HEARTBEATs with a spoofed participant's prefix, from an address it did not announce,
/// do not keep it alive past its lease; the same forgeries from its announced address do (they
/// are indistinguishable from its own traffic).
#[test]
fn foreign_traffic_does_not_refresh_a_lease() {
    for (from_own, survives) in [(false, false), (true, true)] {
        let mut net = SimNet::new(42, Link::perfect());
        let v = node(&mut net, None);
        let dst = meta_of(&net, v);
        let fake = spoof_prefix(1);
        let announced = Locator::udpv4([10, 9, 9, 9], 7777);
        let spdp = adversary::spdp(fake, announced, Duration::from_secs(5), 0);
        net.inject(v, 0, announced, dst, spdp);
        let from = if from_own {
            Locator::udpv4([10, 9, 9, 9], 45678)
        } else {
            Locator::udpv4([10, 6, 6, 6], 7410)
        };
        let w = Guid::new(fake, EntityId::SEDP_PUB_WRITER);
        for t in 1..20u64 {
            let hb = adversary::heartbeat(w, 1, 0, t as u32);
            net.inject(v, t * SECOND, from, dst, hb);
        }
        net.run_for(SECOND);
        assert!(knows(&mut net, v, fake));
        net.run_for(15 * SECOND);
        assert_eq!(
            knows(&mut net, v, fake),
            survives,
            "heartbeats from {from:?} (own address: {from_own})"
        );
        if !from_own {
            assert!(net.engine(v).stats().lease_refresh_refused >= 5);
        }
    }
}

/// An announced infinite lease is clamped to `Config::max_remote_lease` (300 s by default),
/// and counted: a spoofed participant announced once is forgotten after that.
#[test]
fn infinite_lease_is_clamped() {
    let mut net = SimNet::new(43, Link::perfect());
    let v = node(&mut net, None);
    let dst = meta_of(&net, v);
    let fake = spoof_prefix(2);
    let announced = Locator::udpv4([10, 9, 9, 9], 7777);
    let spdp = adversary::spdp(fake, announced, Duration::INFINITE, 0);
    net.inject(v, 0, announced, dst, spdp);
    net.run_for(SECOND);
    let lease = net
        .engine(v)
        .participants()
        .find(|p| p.guid_prefix == fake)
        .map(|p| p.lease);
    assert_eq!(lease, Some(Span::from_secs(300)));
    assert_eq!(net.engine(v).stats().leases_clamped, 1);
    net.run_for(298 * SECOND);
    assert!(knows(&mut net, v, fake));
    net.run_for(2 * SECOND);
    assert!(
        !knows(&mut net, v, fake),
        "the clamped lease did not expire"
    );
    assert!(net.nodes[v].events.contains(&Event::ParticipantLost(fake)));

    // A shorter cap from the configuration.
    let mut net = SimNet::new(44, Link::perfect());
    let mut c = net.config(true);
    c.max_remote_lease = Span::from_secs(20);
    let v = net.add(c);
    let dst = meta_of(&net, v);
    let spdp = adversary::spdp(fake, announced, Duration::from_secs(3600), 0);
    net.inject(v, 0, announced, dst, spdp);
    net.run_for(19 * SECOND);
    assert!(knows(&mut net, v, fake));
    net.run_for(2 * SECOND);
    assert!(!knows(&mut net, v, fake));
}

/// Which table the flood is aimed at.
#[derive(Clone, Copy, Debug)]
enum Flooded {
    RemoteEndpoints,
    Matches,
}

/// One spoofed participant announces sixteen writers on the victim's topic (from its announced
/// address, so it even looks answered): they match and fill the remote-endpoint table (or the
/// match table) with matched entries, which the old policy never evicted. A legitimate writer
/// must still be matched: a full table is shared, and the participant holding the most gives
/// way to one holding fewer.
fn flood(which: Flooded) {
    let mut net = SimNet::new(45, Link::perfect());
    let caps = match which {
        Flooded::RemoteEndpoints => Capacities {
            remote_endpoints: 8,
            ..Capacities::HOST
        },
        Flooded::Matches => Capacities {
            matches: 8,
            ..Capacities::HOST
        },
    };
    let v = node(&mut net, Some(caps));
    let r = reader(&mut net, v, "chatter");
    let dst = meta_of(&net, v);
    let fake = spoof_prefix(3);
    let at = Locator::udpv4([10, 66, 1, 1], 7410);
    net.inject(
        v,
        0,
        at,
        dst,
        adversary::spdp(fake, at, Duration::from_secs(300), 0),
    );
    for i in 0..16u8 {
        let w = Guid::new(fake, EntityId([0, 0, i + 1, 0x03]));
        let sedp = adversary::sedp_endpoint(w, "chatter", "T", at, i as i64 + 1);
        net.inject(v, 1000 + i as u64 * 10, at, dst, sedp);
    }
    net.run_for(SECOND);
    let e = net.engine(v);
    match which {
        Flooded::RemoteEndpoints => assert_eq!(e.remote_endpoints().count(), 8),
        Flooded::Matches => assert_eq!(e.table_use().2, 8),
    }
    assert_eq!(
        e.matched_writers(r),
        8,
        "{which:?}: the forgeries were believed"
    );
    let l = node(&mut net, None);
    let wl = writer(&mut net, l, "chatter");
    let gl = net.engine(l).writer_guid(wl).unwrap();
    let ok = net.run_until(|net| net.engine(l).ready_readers(wl) == 1, 10 * SECOND);
    assert!(
        ok,
        "{which:?}: the legitimate writer was refused: {:?}",
        net.nodes[v]
            .events
            .iter()
            .filter(|e| matches!(e, Event::Refused { .. }))
            .collect::<Vec<_>>()
    );
    assert!(net.engine(v).remote_endpoints().any(|e| e.guid == gl));
    assert!(net.engine(v).stats().evicted >= 1);
    assert!(net.engine(v).stats().fair_share_evictions >= 1);
    delivers(&mut net, (l, wl), (v, r));
    // The spoofed participant re-announcing everything does not take it back.
    for i in 0..16u8 {
        let w = Guid::new(fake, EntityId([0, 0, i + 1, 0x03]));
        let sedp = adversary::sedp_endpoint(w, "chatter", "T", at, i as i64 + 1);
        net.inject(v, i as u64 * 10, at, dst, sedp);
    }
    net.run_for(2 * SECOND);
    assert!(net.engine(v).remote_endpoints().any(|e| e.guid == gl));
    delivers(&mut net, (l, wl), (v, r));
}

#[test]
fn one_participant_cannot_fill_the_remote_endpoints() {
    flood(Flooded::RemoteEndpoints);
}

#[test]
fn one_participant_cannot_fill_the_matches() {
    flood(Flooded::Matches);
}

/// Attack 5: one spoofed SPDP naming a third party's locator (nobody owns it), sent to the
/// victim's unicast port from that address. Over 60 s of virtual time the victim (with a writer
/// and a reader, so it has SEDP to offer) sends at most ten times the forgery's bytes there:
/// until a participant answers, SEDP, ACKNACKs and unicast SPDP to it back off and stop.
#[test]
fn reflection_to_a_third_party_is_bounded() {
    for unicast in [true, false] {
        let mut net = SimNet::new(46, Link::perfect());
        let v = node(&mut net, None);
        let _w = writer(&mut net, v, "chatter");
        let _r = reader(&mut net, v, "chatter");
        net.run_for(SECOND);
        let third = Locator::udpv4([10, 9, 9, 9], 7777);
        let spdp = adversary::spdp(spoof_prefix(4), third, Duration::INFINITE, 0);
        let sent = spdp.len() as u64;
        let dst = if unicast {
            meta_of(&net, v)
        } else {
            Locator::udpv4([239, 255, 0, 1], 7400)
        };
        net.inject(v, 0, third, dst, spdp);
        net.run_for(60 * SECOND);
        let out = net.stray_bytes([10, 9, 9, 9], 7777);
        let ratio = out as f64 / sent as f64;
        println!(
            "reflection ({}): {sent} B in, {out} B out in 60 s: {ratio:.1}x, held {}",
            if unicast { "unicast" } else { "multicast" },
            net.engine(v).stats().reflection_held
        );
        assert!(out > 0, "the forgery was not believed");
        assert!(ratio <= 10.0, "{ratio:.1}x reflected");
        // Later, nothing at all.
        net.run_for(60 * SECOND);
        assert_eq!(net.stray_bytes([10, 9, 9, 9], 7777), out);
    }
}

/// A legitimate peer answers at once, so it never waits for the backoff: two nodes are
/// discovered and matched within one link hop of the time it took without the defences (our
/// SEDP waits for the peer's first answer), over multicast and over unicast peers, and nothing
/// is held back once they answered.
#[test]
fn legitimate_peer_is_matched_at_full_speed() {
    for unicast in [true, false] {
        let mut net = SimNet::new(47, Link::perfect());
        let nodes = if unicast {
            net.add_unicast_nodes(2)
        } else {
            net.add_multicast_nodes(2)
        };
        let (a, b) = (nodes[0], nodes[1]);
        let w = writer(&mut net, a, "chatter");
        let r = reader(&mut net, b, "chatter");
        let start = net.now().0;
        assert!(net.run_until(
            |net| net.engine(a).ready_readers(w) == 1 && net.engine(b).matched_writers(r) == 1,
            10 * SECOND
        ));
        let took = net.now().0 - start;
        println!("matched after {took} µs (unicast {unicast})");
        // 300 µs without the defences (three 100 µs hops); at most one hop more now (our SEDP
        // waits for the peer's first answer).
        assert!(took <= 400, "matched after {took} µs (unicast {unicast})");
        // Once it answered, nothing more is held back.
        let held = |net: &mut SimNet| {
            net.engine(a).stats().reflection_held + net.engine(b).stats().reflection_held
        };
        let before = held(&mut net);
        delivers(&mut net, (a, w), (b, r));
        net.run_for(10 * SECOND);
        assert_eq!(held(&mut net), before);
    }
}
