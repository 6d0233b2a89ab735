//! One INFO_TS per datagram while the samples' source timestamps agree (it holds for the rest
//! of the message): samples written with one timestamp share one, and a reader still sees
//! each sample's own timestamp when they differ.

use pollen_engine::wire::{Message, SubmessageRepr, Time};
use pollen_engine::{Destination, TopicSpec};
use pollen_tests::{match_reliable, Link, SimNet};

/// Writes samples stamped `stamps` at one instant, counts the INFO_TS submessages in the
/// datagram carrying them, and returns that count with the timestamps the reader got.
fn stamps_through(stamps: &[Time]) -> (usize, Vec<Option<Time>>) {
    let mut net = SimNet::new(7, Link::perfect());
    let ids = net.add_multicast_nodes(2);
    let (a, b) = (ids[0], ids[1]);
    let (w, r) = match_reliable(&mut net, a, b, &TopicSpec::new("ts", "T"), 10_000_000);
    net.run_for(500_000);
    let now = net.now();
    for t in stamps {
        net.engine(a)
            .write(now, w, &[0, 1, 0, 0, 1, 2, 3, 4], *t)
            .unwrap();
    }
    let mut buf = vec![0u8; 65536];
    let t = net
        .engine(a)
        .poll_transmit(now, &mut buf)
        .expect("the samples go out");
    assert!(matches!(t.destination, Destination::Udp(_)));
    let msg = Message::parse(&buf[..t.len]).unwrap();
    let mut info_ts = 0;
    let mut data = 0;
    for s in msg.submessages() {
        match s.unwrap().parse().unwrap() {
            SubmessageRepr::InfoTs(_) => info_ts += 1,
            SubmessageRepr::Data(_) => data += 1,
            _ => {}
        }
    }
    assert_eq!(data, stamps.len(), "every sample in one datagram");
    let src = pollen_engine::wire::Locator::udpv4(net.nodes[a].address, 7410);
    let dst = pollen_engine::wire::Locator::udpv4(net.nodes[b].address, 7411);
    net.engine(b).handle_datagram(now, src, dst, &buf[..t.len]);
    let mut out = vec![0u8; 256];
    let mut got = Vec::new();
    while let Ok(Some(info)) = net.engine(b).take(r, &mut out) {
        got.push(info.source_timestamp);
    }
    (info_ts, got)
}

#[test]
fn equal_timestamps_share_one_info_ts() {
    let t = Time {
        seconds: 1_700_000_000,
        fraction: 42,
    };
    let (info_ts, got) = stamps_through(&[t, t, t, t]);
    assert_eq!(info_ts, 1, "one INFO_TS for four samples of one timestamp");
    assert_eq!(got, vec![Some(t); 4]);
}

#[test]
fn a_new_timestamp_gets_its_own_info_ts() {
    let t = |s| Time {
        seconds: s,
        fraction: 0,
    };
    let (info_ts, got) = stamps_through(&[t(10), t(10), t(11), t(10)]);
    assert_eq!(info_ts, 3);
    assert_eq!(
        got,
        vec![Some(t(10)), Some(t(10)), Some(t(11)), Some(t(10))]
    );
}
