//! When a writer asks for acknowledgements: a heartbeat riding on new data asks only once half
//! the window is unacknowledged (half a KEEP_ALL history, or half of the bytes in flight), so a
//! trickle of small samples costs its reader no ACKNACK each (as with Cyclone DDS), while a
//! stream still gets its acknowledgements back before the window closes. What is left
//! unacknowledged is asked for by the periodic heartbeat.

use pollen_engine::wire::Time;
use pollen_engine::{TopicSpec, WriteError};
use pollen_tests::{match_reliable, Link, SimNet};

/// A matched reliable KEEP_ALL pair (history 64) on nodes 0 → 1, settled past its first
/// acknowledgements.
fn settled_pair() -> (
    SimNet,
    pollen_engine::WriterHandle,
    pollen_engine::ReaderHandle,
) {
    let mut net = SimNet::new(11, Link::perfect());
    net.add_multicast_nodes(2);
    let (w, r) = match_reliable(&mut net, 0, 1, &TopicSpec::new("window", "T"), 10_000_000);
    net.run_for(1_000_000);
    (net, w, r)
}

fn take_all(net: &mut SimNet, r: pollen_engine::ReaderHandle) -> usize {
    let mut out = [0u8; 64];
    let mut n = 0;
    while let Ok(Some(_)) = net.engine(1).take(r, &mut out) {
        n += 1;
    }
    n
}

#[test]
fn a_trickle_of_samples_costs_the_reader_no_acknack_each() {
    let (mut net, w, r) = settled_pair();
    let before = net.engine(1).stats().acknacks_sent;
    let mut got = 0;
    // 20 samples 1 ms apart: well under half the history, and faster than the 100 ms
    // heartbeat period.
    for i in 0..20u8 {
        let now = net.now();
        net.engine(0)
            .write(now, w, &[0, 1, 0, 0, i, 0, 0, 0], Time::ZERO)
            .expect("room in the history");
        net.run_for(1_000);
        got += take_all(&mut net, r);
    }
    assert_eq!(got, 20, "every sample arrives");
    assert_eq!(
        net.engine(1).stats().acknacks_sent - before,
        0,
        "the reader missed nothing and was not asked: it sends no ACKNACK"
    );
    // The periodic heartbeat asks for the rest: the writer learns everything arrived.
    net.run_for(300_000);
    assert!(net.engine(1).stats().acknacks_sent > before);
    assert!(
        net.nodes[0]
            .events
            .iter()
            .any(|e| matches!(e, pollen_engine::Event::AllAcknowledged(h) if *h == w)),
        "the writer heard that all its samples arrived"
    );
}

#[test]
fn a_stream_is_acknowledged_before_its_window_closes() {
    let (mut net, w, r) = settled_pair();
    let before = net.engine(1).stats().acknacks_sent;
    let mut got = 0;
    // 300 samples 100 µs apart through a history of 64: 30 ms in all, so the periodic
    // heartbeat (100 ms) cannot be what keeps the history from filling.
    for i in 0..300u32 {
        let now = net.now();
        let b = i.to_le_bytes();
        match net
            .engine(0)
            .write(now, w, &[0, 1, 0, 0, b[0], b[1], b[2], b[3]], Time::ZERO)
        {
            Ok(_) => {}
            Err(WriteError::HistoryFull) => panic!("the history filled at sample {i}"),
            Err(e) => panic!("write: {e:?}"),
        }
        net.run_for(100);
        got += take_all(&mut net, r);
    }
    net.run_for(10_000);
    got += take_all(&mut net, r);
    assert_eq!(got, 300, "every sample arrives");
    let acks = net.engine(1).stats().acknacks_sent - before;
    assert!(
        (1..300).contains(&acks),
        "acknowledged along the way, not once per sample: {acks} ACKNACKs"
    );
}
