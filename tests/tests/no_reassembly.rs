//! A reader without reassembly slots (`Capacities::reassemblies == 0`, and what an engine built
//! without the `frag` feature carves for every reader) still receives every sample that
//! arrives whole in one DATA. It used to bound its largest sample by its fragment bitmap, which
//! is empty without reassembly slots, so it refused every sample as too large.

use pollen_engine::wire::Time;
use pollen_engine::{Capacities, Event, TopicSpec};
use pollen_tests::{reliable_reader, reliable_writer, Link, SimNet};

const SECOND: u64 = 1_000_000;

#[test]
fn a_reader_without_reassembly_slots_receives_whole_samples() {
    let mut net = SimNet::new(7, Link::perfect());
    let ca = net.config(true);
    let a = net.add(ca);
    let mut c = net.config(true);
    c.capacities = Capacities {
        reassemblies: 0,
        ..Capacities::HOST
    };
    let b = net.add(c);
    let now = net.now();
    let topic = TopicSpec::new("whole/samples", "T");
    let w = net
        .engine(a)
        .create_writer(now, &topic, &reliable_writer())
        .unwrap();
    let r = net
        .engine(b)
        .create_reader(now, &topic, &reliable_reader())
        .unwrap();
    let matched = |n: &SimNet, i: usize| {
        n.nodes[i]
            .events
            .iter()
            .any(|e| matches!(e, Event::Matched { .. }))
    };
    assert!(net.run_until(|n| matched(n, a) && matched(n, b), 30 * SECOND));
    let now = net.now();
    for i in 0..5u8 {
        net.engine(a)
            .write(now, w, &[0, 1, 0, 0, i], Time::ZERO)
            .unwrap();
    }
    net.run_for(2 * SECOND);
    let mut buf = [0u8; 16];
    let mut got = Vec::new();
    while let Some(info) = net.engine(b).take(r, &mut buf).unwrap() {
        assert!(info.len >= 5);
        got.push(buf[4]);
    }
    assert_eq!(got, [0, 1, 2, 3, 4]);
    assert_eq!(net.engine(b).stats().dropped_too_large, 0);
}
