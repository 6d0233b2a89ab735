//! One datagram per hop: in a reliable ping/pong, an ACKNACK a reader owes for the sample it
//! just received (its heartbeat asked for one) rides in the datagram that carries its
//! application's reply, when the driver lets the application run before it drains the engine
//! (as `pollen-mio` does).

use pollen_engine::wire::{Locator, Message, SubmessageRepr};
use pollen_engine::{Destination, Engine, ReaderHandle, TopicSpec, WriterHandle};
use pollen_tests::{reliable_reader, reliable_writer, Link, SimNet};

/// Every datagram `e` owes now: (destination, bytes).
fn drain(e: &mut Engine<'static>, now: pollen_engine::Instant) -> Vec<(Locator, Vec<u8>)> {
    let mut buf = vec![0u8; 65536];
    let mut out = Vec::new();
    while let Some(t) = e.poll_transmit(now, &mut buf) {
        let Destination::Udp(to) = t.destination else {
            panic!("a UDP participant sent on a stream");
        };
        out.push((to, buf[..t.len].to_vec()));
    }
    out
}

/// The submessage kinds of a datagram, in order (ACKNACK `A`, DATA `D`, HEARTBEAT `H`, INFO_DST
/// `>`, INFO_TS `t`).
fn kinds(data: &[u8]) -> String {
    let msg = Message::parse(data).expect("our datagram parses");
    msg.submessages()
        .map(
            |s| match s.expect("a submessage").parse().expect("parses") {
                SubmessageRepr::AckNack(_) => 'A',
                SubmessageRepr::Data(_) => 'D',
                SubmessageRepr::Heartbeat(_) => 'H',
                SubmessageRepr::InfoDst(_) => '>',
                SubmessageRepr::InfoTs(_) => 't',
                _ => '?',
            },
        )
        .collect()
}

struct Side {
    node: usize,
    writer: WriterHandle,
    reader: ReaderHandle,
}

/// Delivers `datagrams` from node `from` to node `to`.
fn deliver(net: &mut SimNet, from: usize, to: usize, datagrams: &[(Locator, Vec<u8>)]) {
    let now = net.now();
    let src = Locator::udpv4(net.nodes[from].address, 7411);
    for (dst, d) in datagrams {
        net.engine(to).handle_datagram(now, src, *dst, d);
    }
}

/// Takes every sample of `s` and writes each back on its writer; returns how many.
fn answer(net: &mut SimNet, s: &Side) -> usize {
    let now = net.now();
    let mut buf = [0u8; 64];
    let mut n = 0;
    while let Ok(Some(info)) = net.engine(s.node).take(s.reader, &mut buf) {
        let ts = info
            .source_timestamp
            .unwrap_or(pollen_engine::wire::Time::ZERO);
        net.engine(s.node)
            .write(now, s.writer, &buf[..info.len], ts)
            .expect("room in the history");
        n += 1;
    }
    n
}

#[test]
fn reliable_ping_pong_sends_one_datagram_per_hop() {
    let mut net = SimNet::new(11, Link::perfect());
    let ids = net.add_multicast_nodes(2);
    let now = net.now();
    let (ping, pong) = (TopicSpec::new("ping", "T"), TopicSpec::new("pong", "T"));
    let make = |net: &mut SimNet, node: usize, out: &TopicSpec<'_>, inp: &TopicSpec<'_>| {
        let writer = net
            .engine(node)
            .create_writer(now, out, &reliable_writer())
            .unwrap();
        let reader = net
            .engine(node)
            .create_reader(now, inp, &reliable_reader())
            .unwrap();
        Side {
            node,
            writer,
            reader,
        }
    };
    let a = make(&mut net, ids[0], &ping, &pong);
    let b = make(&mut net, ids[1], &pong, &ping);
    assert!(net.run_until(
        |n| n.engine(a.node).matched_readers(a.writer) == 1
            && n.engine(b.node).matched_writers(b.reader) == 1
            && n.engine(b.node).matched_readers(b.writer) == 1
            && n.engine(a.node).matched_writers(a.reader) == 1,
        10_000_000
    ));
    // Let the first heartbeats and acknowledgements settle.
    net.run_for(2_000_000);

    let now = net.now();
    let sample = [0, 1, 0, 0, 7, 7, 7, 7];
    net.engine(a.node)
        .write(now, a.writer, &sample, pollen_engine::wire::Time::ZERO)
        .unwrap();
    let mut hop = drain(net.engine(a.node), now);
    let (mut from, mut to) = (&a, &b);
    let mut acknowledged = 0;
    for round in 0..200 {
        assert_eq!(
            hop.len(),
            1,
            "hop {round}: one datagram ({:?})",
            hop.iter().map(|d| kinds(&d.1)).collect::<Vec<_>>()
        );
        deliver(&mut net, from.node, to.node, &hop);
        // The application runs before the driver drains the engine.
        assert_eq!(answer(&mut net, to), 1, "hop {round}: the sample arrived");
        hop = drain(net.engine(to.node), now);
        // When the heartbeat riding on the sample asked for an acknowledgement (once half the
        // window is unacknowledged), the reply carries the ACKNACK too.
        let k = hop.first().map(|d| kinds(&d.1)).unwrap_or_default();
        assert!(k.contains('D'), "hop {round}: {k}");
        if k.contains('A') {
            acknowledged += 1;
        }
        (from, to) = (to, from);
    }
    assert!(
        acknowledged > 0,
        "no heartbeat asked for an acknowledgement"
    );
}
