//! Every refusal and eviction path of the engine's bounded tables (the policies documented on
//! `Capacities`), and the recovery of what was refused or evicted, in SimNet: a node under test
//! with small capacities among ordinary nodes.
//!
//! - participants full of unmatched participants: the quietest makes way, a participant with
//!   a matched endpoint never does, and an evicted participant is learnt again;
//! - participants full of matched participants: the newcomer is refused (reported once) and
//!   learnt from its next announcement once one leaves (goodbye or lease expiry);
//! - remote endpoints: unrelated ones refused (reported once), a relevant one evicts the
//!   oldest unmatched one, and what was refused is asked for again (SEDP resync from sequence
//!   number 1) when room appears or a new local endpoint wants it;
//! - matches: refused beyond `Capacities::matches`, formed once a match ends.

use pollen_engine::wire::{EntityId, Guid, GuidPrefix, Time};
use pollen_engine::{Capacities, Event, ReaderHandle, Table, TopicSpec, WriterHandle};
use pollen_tests::{reliable_reader, reliable_writer, Link, SimNet};

const SECOND: u64 = 1_000_000;

/// A node on multicast with `caps` (HOST when `None`).
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

fn prefix(net: &mut SimNet, n: usize) -> GuidPrefix {
    net.engine(n).guid_prefix()
}

fn participant(p: GuidPrefix) -> Guid {
    Guid::new(p, EntityId::PARTICIPANT)
}

fn knows(net: &mut SimNet, n: usize, p: GuidPrefix) -> bool {
    net.engine(n).participants().any(|s| s.guid_prefix == p)
}

fn knows_endpoint(net: &mut SimNet, n: usize, g: Guid) -> bool {
    net.engine(n).remote_endpoints().any(|e| e.guid == g)
}

/// The `Refused` events of node `n` for `table`, in order.
fn refused(net: &SimNet, n: usize, table: Table) -> Vec<Guid> {
    net.nodes[n]
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Refused { table: t, guid } if *t == table => Some(*guid),
            _ => None,
        })
        .collect()
}

/// The `Evicted` events of node `n` for `table`, in order.
fn evicted(net: &SimNet, n: usize, table: Table) -> Vec<Guid> {
    net.nodes[n]
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Evicted { table: t, guid } if *t == table => Some(*guid),
            _ => None,
        })
        .collect()
}

fn lost(net: &SimNet, n: usize, p: GuidPrefix) -> bool {
    net.nodes[n].events.contains(&Event::ParticipantLost(p))
}

fn payload(i: u32) -> [u8; 8] {
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&[0, 1, 0, 0]);
    b[4..].copy_from_slice(&i.to_le_bytes());
    b
}

fn take_all(net: &mut SimNet, rn: usize, r: ReaderHandle, got: &mut Vec<u32>) {
    let mut buf = [0u8; 64];
    while let Some(s) = net.engine(rn).take(r, &mut buf).unwrap() {
        assert_eq!(s.len, 8);
        got.push(u32::from_le_bytes(buf[4..8].try_into().unwrap()));
    }
}

/// Runs until reliable writer `w` on `wn` and reader `r` on `rn` have matched each other.
fn wait_matched(net: &mut SimNet, wn: usize, w: WriterHandle, rn: usize, r: ReaderHandle) -> bool {
    net.run_until(
        |net| net.engine(wn).ready_readers(w) >= 1 && net.engine(rn).matched_writers(r) >= 1,
        20 * SECOND,
    )
}

/// Writes samples `from..to` on `w`, `gap_us` apart, while the network runs, and checks that
/// reader `r` gets exactly them, in order. `between` runs after every write (to assert what
/// must hold meanwhile).
fn exchange(
    net: &mut SimNet,
    (wn, w): (usize, WriterHandle),
    (rn, r): (usize, ReaderHandle),
    range: std::ops::Range<u32>,
    gap_us: u64,
    mut between: impl FnMut(&mut SimNet),
) {
    let mut got = Vec::new();
    for i in range.clone() {
        let now = net.now();
        net.engine(wn)
            .write(now, w, &payload(i), Time::ZERO)
            .unwrap();
        net.run_for(gap_us);
        take_all(net, rn, r, &mut got);
        between(net);
    }
    let n = range.len();
    let done = net.run_until(
        |net| {
            take_all(net, rn, r, &mut got);
            got.len() >= n
        },
        20 * SECOND,
    );
    assert!(done, "got {} of {n}: {got:?}", got.len());
    assert_eq!(got, range.collect::<Vec<_>>());
}

/// 1a. A participant table of three: one participant with a matched writer and two that
/// match nothing. A newcomer evicts the one quiet longest among the unmatched (not the matched
/// one, although it is quieter still); a flood of newcomers churns the unmatched slots but
/// never touches the matched participant, whose writer keeps delivering every sample; and once
/// the flood leaves, the participants evicted meanwhile are learnt again from their next
/// announcements.
#[test]
fn full_participants_evict_the_quietest_unmatched() {
    let mut net = SimNet::new(21, Link::perfect());
    let caps = Capacities {
        participants: 3,
        ..Capacities::HOST
    };
    let a = node(&mut net, Some(caps));
    let m = node(&mut net, None);
    let r = reader(&mut net, a, "chatter");
    let w = writer(&mut net, m, "chatter");
    assert!(
        wait_matched(&mut net, m, w, a, r),
        "{:?}",
        net.nodes[a].events
    );
    let u1 = node(&mut net, None);
    let u2 = node(&mut net, None);
    let (pm, p1, p2) = (
        prefix(&mut net, m),
        prefix(&mut net, u1),
        prefix(&mut net, u2),
    );
    assert!(net.run_until(|net| knows(net, a, p1) && knows(net, a, p2), 10 * SECOND));
    assert!(refused(&net, a, Table::Participants).is_empty());
    assert!(evicted(&net, a, Table::Participants).is_empty());
    // The matched participant goes quiet for 6 s, u1 for the last 4 of them (leases are 10 s;
    // announcements every 3 s keep u2 fresher).
    net.partition(a, m, true);
    net.run_for(2 * SECOND);
    net.partition(a, u1, true);
    net.run_for(4 * SECOND);
    let n1 = node(&mut net, None);
    let pn1 = prefix(&mut net, n1);
    assert!(net.run_until(|net| knows(net, a, pn1), 5 * SECOND));
    net.partition(a, m, false);
    net.partition(a, u1, false);
    assert_eq!(
        evicted(&net, a, Table::Participants),
        vec![participant(p1)],
        "the newcomer must take the slot of the quietest unmatched participant"
    );
    assert!(knows(&mut net, a, pm) && knows(&mut net, a, p2));
    assert!(refused(&net, a, Table::Participants).is_empty());
    // The matched pair recovers from the partition.
    assert!(wait_matched(&mut net, m, w, a, r));

    // A flood of newcomers while the matched writer keeps writing.
    let flood: Vec<usize> = (0..10).map(|_| node(&mut net, None)).collect();
    exchange(&mut net, (m, w), (a, r), 0..60, SECOND / 5, |net| {
        assert_eq!(net.engine(a).matched_writers(r), 1);
        assert!(knows(net, a, pm), "the matched participant was evicted");
    });
    let ev = evicted(&net, a, Table::Participants);
    assert!(
        ev.len() >= 10,
        "every newcomer evicts an unmatched participant: {ev:?}"
    );
    assert!(ev.contains(&participant(p2)), "{ev:?}");
    assert!(!ev.contains(&participant(pm)));
    assert!(!lost(&net, a, pm));
    assert!(refused(&net, a, Table::Participants).is_empty());
    assert!(net.engine(a).participants().count() <= 3);

    // The flood (and the first newcomer) leave: u1 and u2, evicted along the way, are learnt
    // again from their next announcements.
    let now = net.now();
    for &f in flood.iter().chain([&n1]) {
        net.engine(f).shutdown(now);
    }
    net.run_for(SECOND / 10);
    for &f in flood.iter().chain([&n1]) {
        net.crash(f);
    }
    assert!(
        net.run_until(
            |net| knows(net, a, p1) && knows(net, a, p2) && knows(net, a, pm),
            10 * SECOND
        ),
        "evicted participants were not learnt again: {:?}",
        net.engine(a).participants().collect::<Vec<_>>()
    );
    exchange(&mut net, (m, w), (a, r), 60..70, SECOND / 10, |_| {});
}

#[derive(Clone, Copy, Debug)]
enum Leave {
    Goodbye,
    Crash,
}

/// 1b. A participant table of two, both with matched writers: a newcomer (with a writer of
/// its own on the same topic) is refused, reported once however often it announces, and
/// learnt from its next announcement once one of the two leaves; it then matches and
/// delivers.
fn full_participants_all_matched(leave: Leave, seed: u64) {
    let mut net = SimNet::new(seed, Link::perfect());
    let caps = Capacities {
        participants: 2,
        ..Capacities::HOST
    };
    let a = node(&mut net, Some(caps));
    let r = reader(&mut net, a, "chatter");
    let m1 = node(&mut net, None);
    let w1 = writer(&mut net, m1, "chatter");
    let m2 = node(&mut net, None);
    let w2 = writer(&mut net, m2, "chatter");
    assert!(net.run_until(
        |net| net.engine(a).matched_writers(r) == 2
            && net.engine(m1).ready_readers(w1) == 1
            && net.engine(m2).ready_readers(w2) == 1,
        10 * SECOND
    ));
    let n = node(&mut net, None);
    let wn = writer(&mut net, n, "chatter");
    let pn = prefix(&mut net, n);
    // Four announcements of the newcomer.
    net.run_for(12 * SECOND);
    assert!(!knows(&mut net, a, pn));
    assert_eq!(
        refused(&net, a, Table::Participants),
        vec![participant(pn)],
        "refused exactly once until there is room"
    );
    assert!(net.engine(a).stats().dropped_table_full >= 4);
    assert!(evicted(&net, a, Table::Participants).is_empty());
    assert_eq!(net.engine(a).matched_writers(r), 2);
    assert_eq!(net.engine(n).ready_readers(wn), 0);

    let pm1 = prefix(&mut net, m1);
    let left = net.now();
    match leave {
        Leave::Goodbye => {
            net.engine(m1).shutdown(left);
            net.run_for(SECOND / 10);
            net.crash(m1);
        }
        Leave::Crash => net.crash(m1),
    }
    assert!(
        net.run_until(|net| knows(net, a, pn), 20 * SECOND),
        "{leave:?}: the newcomer was not learnt once there was room"
    );
    assert!(lost(&net, a, pm1));
    let took = net.now().0 - left.0;
    let bound = match leave {
        // its next announcement after the goodbye
        Leave::Goodbye => 3 * SECOND + SECOND / 2,
        // the 10 s lease, then its next announcement
        Leave::Crash => 13 * SECOND + SECOND / 2,
    };
    assert!(took <= bound, "{leave:?}: learnt after {took} µs");
    assert!(wait_matched(&mut net, n, wn, a, r));
    exchange(&mut net, (n, wn), (a, r), 0..10, SECOND / 20, |_| {});
    // Still refused only once: the room was taken by the newcomer itself.
    assert_eq!(refused(&net, a, Table::Participants).len(), 1);
    // Full again: the next newcomer is a new refusal, reported again.
    let n2 = node(&mut net, None);
    let pn2 = prefix(&mut net, n2);
    net.run_for(4 * SECOND);
    assert!(!knows(&mut net, a, pn2));
    assert_eq!(
        refused(&net, a, Table::Participants),
        vec![participant(pn), participant(pn2)]
    );
}

#[test]
fn full_participants_all_matched_refuse_until_a_goodbye() {
    full_participants_all_matched(Leave::Goodbye, 22);
}

#[test]
fn full_participants_all_matched_refuse_until_a_lease_expires() {
    full_participants_all_matched(Leave::Crash, 23);
}

/// 1c. A remote-endpoint table of six, on a node with one reader on `chatter`.
///
/// 1. Another node fills it with six unrelated writers, then adds two more and one on `late`:
///    the three are refused, and the refusal is reported once.
/// 2. It creates a writer on `chatter`: relevant, so it evicts the oldest unmatched endpoint,
///    matches and delivers.
/// 3. It deletes two of its unrelated writers: there is room, so the node asks that
///    participant's SEDP writer for its whole history again (an ACKNACK from sequence number
///    1, below what it acknowledged before): the endpoints refused or evicted come back as far
///    as there is room (the table is full again after it).
/// 4. The node under test creates a reader on `late`, whose writer was refused: with the table
///    full of endpoints that match nothing, it asks again, `late` evicts one of them, matches,
///    and delivers.
/// 5. The participant leaves while still incomplete: nothing is asked of it any more.
fn full_remote_endpoints(link: Link, seed: u64) {
    let mut net = SimNet::new(seed, link);
    let caps = Capacities {
        remote_endpoints: 6,
        ..Capacities::HOST
    };
    let a = node(&mut net, Some(caps));
    let r = reader(&mut net, a, "chatter");
    let b = node(&mut net, None);
    let u: Vec<WriterHandle> = (0..6)
        .map(|i| writer(&mut net, b, &format!("unrelated_{i}")))
        .collect();
    let guid = |net: &mut SimNet, w: WriterHandle| net.engine(b).writer_guid(w).unwrap();
    let ug: Vec<Guid> = u.iter().map(|&w| guid(&mut net, w)).collect();
    assert!(net.run_until(
        |net| net.engine(a).remote_endpoints().count() == 6,
        10 * SECOND
    ));
    assert!(refused(&net, a, Table::RemoteEndpoints).is_empty());

    // 1. Refused, reported once.
    let u6 = writer(&mut net, b, "unrelated_6");
    net.run_for(SECOND);
    let u7 = writer(&mut net, b, "unrelated_7");
    net.run_for(SECOND);
    let late = writer(&mut net, b, "late");
    net.run_for(3 * SECOND);
    let (g6, g7, glate) = (guid(&mut net, u6), guid(&mut net, u7), guid(&mut net, late));
    assert_eq!(
        refused(&net, a, Table::RemoteEndpoints),
        vec![g6],
        "the first refusal is reported, the later ones are not"
    );
    assert!(net.engine(a).stats().dropped_table_full >= 3);
    for g in [g6, g7, glate] {
        assert!(!knows_endpoint(&mut net, a, g));
    }
    assert_eq!(net.engine(a).remote_endpoints().count(), 6);

    // 2. A relevant endpoint evicts the oldest unmatched one.
    let wc = writer(&mut net, b, "chatter");
    assert!(wait_matched(&mut net, b, wc, a, r));
    assert_eq!(evicted(&net, a, Table::RemoteEndpoints), vec![ug[0]]);
    assert_eq!(net.engine(a).remote_endpoints().count(), 6);
    exchange(&mut net, (b, wc), (a, r), 0..10, SECOND / 20, |_| {});
    assert_eq!(refused(&net, a, Table::RemoteEndpoints).len(), 1);

    // 3. Room: the refused and evicted endpoints are asked for again.
    let resyncs = net.engine(a).stats().sedp_resyncs;
    let now = net.now();
    assert!(net.engine(b).delete_writer(now, u[1]));
    assert!(net.engine(b).delete_writer(now, u[2]));
    assert!(
        net.run_until(
            |net| knows_endpoint(net, a, ug[0]) && knows_endpoint(net, a, g6),
            10 * SECOND
        ),
        "the evicted and the first refused endpoint were not learnt again: {:?}",
        net.engine(a)
            .remote_endpoints()
            .map(|e| e.topic.to_string())
            .collect::<Vec<_>>()
    );
    net.run_for(SECOND);
    assert!(net.engine(a).stats().sedp_resyncs > resyncs);
    assert!(!knows_endpoint(&mut net, a, ug[1]) && !knows_endpoint(&mut net, a, ug[2]));
    assert_eq!(net.engine(a).remote_endpoints().count(), 6);
    assert!(!knows_endpoint(&mut net, a, g7) && !knows_endpoint(&mut net, a, glate));
    // A new episode of refusals, reported once.
    assert_eq!(refused(&net, a, Table::RemoteEndpoints).len(), 2);
    assert_eq!(net.engine(a).matched_writers(r), 1);

    // 4. A new local reader on `late`: its writer, refused before, is asked for again and
    // evicts an unmatched endpoint.
    let rl = reader(&mut net, a, "late");
    let ok = wait_matched(&mut net, b, late, a, rl);
    let e = net.engine(a);
    assert!(
        ok,
        "the reader on `late` never matched the writer refused earlier (resyncs {}): {:?}",
        e.stats().sedp_resyncs,
        e.remote_endpoints()
            .map(|e| e.topic.to_string())
            .collect::<Vec<_>>()
    );
    assert!(net.engine(a).remote_endpoints().count() <= 6);
    exchange(&mut net, (b, late), (a, rl), 0..10, SECOND / 20, |_| {});
    // The chatter match survived all of it.
    exchange(&mut net, (b, wc), (a, r), 10..15, SECOND / 20, |_| {});

    // 5. Nobody is left to ask again, so later room asks nobody.
    let pb = prefix(&mut net, b);
    let now = net.now();
    net.engine(b).shutdown(now);
    net.run_for(SECOND / 10);
    net.crash(b);
    assert!(lost(&net, a, pb));
    let resyncs = net.engine(a).stats().sedp_resyncs;
    let c = node(&mut net, None);
    let x = writer(&mut net, c, "unrelated_x");
    let gx = net.engine(c).writer_guid(x).unwrap();
    assert!(net.run_until(|net| knows_endpoint(net, a, gx), 10 * SECOND));
    let now = net.now();
    net.engine(c).delete_writer(now, x);
    assert!(net.run_until(|net| !knows_endpoint(net, a, gx), 10 * SECOND));
    net.run_for(SECOND);
    assert_eq!(
        net.engine(a).stats().sedp_resyncs,
        resyncs,
        "a resync for a participant that is gone"
    );
}

#[test]
fn full_remote_endpoints_refuse_evict_and_resync() {
    full_remote_endpoints(Link::lossy(0.0), 24);
}

/// The same with 10 % loss: the ACKNACK that asks for the whole history again, and the
/// repairs that answer it, may be lost and must be asked again (the reader repeats it until a
/// HEARTBEAT answers; the writer believes the lower acknowledgement, so heartbeats go on until
/// the reader has everything again).
#[test]
fn full_remote_endpoints_resync_survives_loss() {
    for seed in 0..32 {
        full_remote_endpoints(Link::lossy(0.1), 100 + seed);
    }
}

#[derive(Clone, Copy, Debug)]
enum End {
    RemoteWriterDeleted,
    LocalReaderDeleted,
}

/// 1d. A match table of two, held by a reader on `a` matched with writers on two other nodes.
/// A third writer on a third node (on `a`, or on `b` where a second local reader waits for it)
/// is known as an endpoint, but its match is refused (reported once). Once a match ends (the
/// remote writer is deleted, or the local reader holding both matches is), the refused match
/// is formed and delivers; filling the table again is a new refusal, reported again.
fn full_matches(end: End, seed: u64) {
    let mut net = SimNet::new(seed, Link::perfect());
    let caps = Capacities {
        matches: 2,
        ..Capacities::HOST
    };
    let a = node(&mut net, Some(caps));
    let ra = reader(&mut net, a, "a");
    let mut ws = Vec::new();
    for _ in 0..2 {
        let n = node(&mut net, None);
        let w = writer(&mut net, n, "a");
        assert!(wait_matched(&mut net, n, w, a, ra));
        ws.push((n, w));
    }
    assert!(refused(&net, a, Table::Matches).is_empty());
    // The one that does not fit: on `a` for the first case, on `b` (read by a reader created
    // now) for the second.
    let topic = match end {
        End::RemoteWriterDeleted => "a",
        End::LocalReaderDeleted => "b",
    };
    let rb = match end {
        End::RemoteWriterDeleted => ra,
        End::LocalReaderDeleted => reader(&mut net, a, "b"),
    };
    let n3 = node(&mut net, None);
    let w3 = writer(&mut net, n3, topic);
    net.run_for(8 * SECOND);
    let g3 = net.engine(n3).writer_guid(w3).unwrap();
    assert_eq!(
        refused(&net, a, Table::Matches),
        vec![g3],
        "{end:?}: the third match is refused, once"
    );
    assert!(net.engine(a).stats().dropped_table_full >= 1);
    assert_eq!(net.engine(a).table_use().2, 2);
    assert_eq!(net.engine(n3).ready_readers(w3), 0);
    // The remote endpoint itself is known: only the match was refused.
    assert!(knows_endpoint(&mut net, a, g3));
    assert_eq!(
        net.engine(a).matched_writers(rb),
        2 * (topic == "a") as usize
    );

    let now = net.now();
    match end {
        End::RemoteWriterDeleted => {
            let (n1, w1) = ws[0];
            assert!(net.engine(n1).delete_writer(now, w1));
        }
        End::LocalReaderDeleted => assert!(net.engine(a).delete_reader(now, ra)),
    }
    assert!(
        wait_matched(&mut net, n3, w3, a, rb),
        "{end:?}: the refused match was not formed once there was room ({:?})",
        net.engine(a).table_use()
    );
    assert!(net.engine(a).table_use().2 <= 2);
    exchange(&mut net, (n3, w3), (a, rb), 0..10, SECOND / 20, |_| {});
    if let End::RemoteWriterDeleted = end {
        exchange(&mut net, ws[1], (a, ra), 0..10, SECOND / 20, |_| {});
    }
    // Filled again: the next match beyond the room is a new refusal, reported again.
    let room = 2 - net.engine(a).table_use().2;
    let more: Vec<Guid> = (0..room + 1)
        .map(|_| {
            let n = node(&mut net, None);
            let w = writer(&mut net, n, topic);
            net.run_for(2 * SECOND);
            net.engine(n).writer_guid(w).unwrap()
        })
        .collect();
    net.run_for(4 * SECOND);
    assert_eq!(net.engine(a).table_use().2, 2);
    assert_eq!(refused(&net, a, Table::Matches), vec![g3, more[room]]);
}

#[test]
fn full_matches_recover_when_a_remote_writer_goes() {
    full_matches(End::RemoteWriterDeleted, 25);
}

#[test]
fn full_matches_recover_when_a_local_reader_goes() {
    full_matches(End::LocalReaderDeleted, 26);
}

/// A peer that keeps creating and withdrawing endpoints while our table is full makes room
/// again and again: the resync that room asks for runs at most once per announcement period,
/// not once per withdrawal.
#[test]
fn resyncs_are_rate_limited() {
    let mut net = SimNet::new(31, Link::lossy(0.0));
    let rn = node(
        &mut net,
        Some(Capacities {
            remote_endpoints: 2,
            ..Capacities::HOST
        }),
    );
    let _r = reader(&mut net, rn, "wanted");
    let pn = node(&mut net, None);
    let mut ws: Vec<WriterHandle> = (0..3)
        .map(|j| writer(&mut net, pn, &format!("unrelated_{j}")))
        .collect();
    net.run_for(2 * SECOND);
    assert!(!refused(&net, rn, Table::RemoteEndpoints).is_empty());
    let before = net.engine(rn).stats().sedp_resyncs;
    // Ten seconds of the peer replacing its three writers every 100 ms: each round frees
    // room in our full table and refills it.
    for k in 0..100 {
        let now = net.now();
        for w in ws.drain(..) {
            assert!(net.engine(pn).delete_writer(now, w));
        }
        net.run_for(SECOND / 20);
        ws = (0..3)
            .map(|j| writer(&mut net, pn, &format!("churn_{k}_{j}")))
            .collect();
        net.run_for(SECOND / 20);
    }
    let resyncs = net.engine(rn).stats().sedp_resyncs - before;
    let period = net.engine(rn).config().announce_period.micros();
    let bound = 10 * SECOND / period + 2;
    assert!(
        resyncs <= bound,
        "{resyncs} resyncs in 10 s (at most {bound} allowed)"
    );
}
