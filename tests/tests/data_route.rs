//! The DATA of one message from one writer go straight to the reader and proxy the first of
//! them reached (the engine's per-message route): only while they name the same writer and
//! the same reader, and never past a DATA that names another reader.

use pollen_engine::wire::{EntityId, Locator, Message, MessageBuilder, SubmessageRepr};
use pollen_engine::TopicSpec;
use pollen_tests::{match_reliable, Link, SimNet};

/// A matched reliable pair (writer on node 0, reader on node 1); the datagram carrying
/// `n` samples the writer sent, parsed, with the reader's entity id.
fn setup(n: usize) -> (SimNet, pollen_engine::ReaderHandle, Vec<u8>, EntityId) {
    let mut net = SimNet::new(11, Link::perfect());
    let ids = net.add_multicast_nodes(2);
    let (a, b) = (ids[0], ids[1]);
    let (w, r) = match_reliable(&mut net, a, b, &TopicSpec::new("route", "T"), 10_000_000);
    net.run_for(500_000);
    let now = net.now();
    for i in 0..n {
        net.engine(a)
            .write(
                now,
                w,
                &[0, 1, 0, 0, i as u8, 2, 3, 4],
                pollen_engine::wire::Time::ZERO,
            )
            .unwrap();
    }
    let mut buf = vec![0u8; 65536];
    let t = net
        .engine(a)
        .poll_transmit(now, &mut buf)
        .expect("the samples go out");
    buf.truncate(t.len);
    let reader = net.engine(b).reader_guid(r).unwrap().entity;
    (net, r, buf, reader)
}

/// `d` rebuilt with each DATA's reader id replaced by `to(k)` for the k-th DATA.
fn readdress(d: &[u8], to: impl Fn(usize) -> EntityId) -> Vec<u8> {
    let m = Message::parse(d).unwrap();
    let mut subs: Vec<SubmessageRepr<'_>> = m
        .submessages()
        .map(|s| s.unwrap().parse().unwrap())
        .collect();
    let mut k = 0;
    for s in subs.iter_mut() {
        if let SubmessageRepr::Data(data) = s {
            data.reader_id = to(k);
            k += 1;
        }
    }
    let mut out = vec![0u8; 65536];
    let mut b = MessageBuilder::new(&mut out, &m.header).unwrap();
    for s in &subs {
        b.push(s).unwrap();
    }
    let len = b.finish();
    out.truncate(len);
    out
}

/// Delivers `d` to node 1 and returns the payloads' distinguishing bytes its reader takes.
fn deliver(net: &mut SimNet, r: pollen_engine::ReaderHandle, d: &[u8]) -> Vec<u8> {
    let now = net.now();
    let src = Locator::udpv4(net.nodes[0].address, 7410);
    let dst = Locator::udpv4(net.nodes[1].address, 7411);
    net.engine(1).handle_datagram(now, src, dst, d);
    let mut out = vec![0u8; 256];
    let mut got = Vec::new();
    while let Ok(Some(info)) = net.engine(1).take(r, &mut out) {
        assert_eq!(info.len, 8);
        got.push(out[4]);
    }
    got
}

#[test]
fn every_data_of_a_message_is_delivered() {
    let (mut net, r, d, _) = setup(6);
    assert_eq!(deliver(&mut net, r, &d), vec![0, 1, 2, 3, 4, 5]);
}

#[test]
fn a_data_for_another_reader_does_not_follow_the_route() {
    let (mut net, r, d, reader) = setup(4);
    let other = EntityId::new(reader.key() ^ 0x0100, reader.kind_octet());
    // The first two for the reader (the route), the third for a reader B does not have,
    // the fourth for the reader again: the third is dropped, so the fourth waits for it.
    let d = readdress(&d, |k| if k == 2 { other } else { reader });
    let unknown = net.engine(1).stats().dropped_unknown_endpoint;
    assert_eq!(deliver(&mut net, r, &d), vec![0, 1]);
    assert_eq!(net.engine(1).stats().dropped_unknown_endpoint, unknown + 1);
}

#[test]
fn a_data_for_every_reader_after_one_for_this_reader_is_delivered() {
    let (mut net, r, d, reader) = setup(4);
    let d = readdress(&d, |k| {
        if k % 2 == 0 {
            reader
        } else {
            EntityId::UNKNOWN
        }
    });
    assert_eq!(deliver(&mut net, r, &d), vec![0, 1, 2, 3]);
}

/// A run of DATA from one writer raises DataAvailable for its reader, but not once per
/// sample: the DATA that follow the route leave it to the end of the run.
#[test]
fn a_run_of_data_raises_data_available_once_or_twice() {
    let (mut net, r, d, _) = setup(6);
    while net.engine(1).poll_event().is_some() {}
    let now = net.now();
    let src = Locator::udpv4(net.nodes[0].address, 7410);
    let dst = Locator::udpv4(net.nodes[1].address, 7411);
    net.engine(1).handle_datagram(now, src, dst, &d);
    let mut available = 0;
    while let Some(e) = net.engine(1).poll_event() {
        if e == pollen_engine::Event::DataAvailable(r) {
            available += 1;
        }
    }
    // The first DATA (which found the route) and the end of the route.
    assert!(
        (1..=2).contains(&available),
        "{available} DataAvailable for 6 samples"
    );
    let mut out = vec![0u8; 256];
    let mut n = 0;
    while let Ok(Some(_)) = net.engine(1).take(r, &mut out) {
        n += 1;
    }
    assert_eq!(n, 6);
}
