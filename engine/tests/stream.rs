//! The stream deframer under quickcheck: any split of a valid stream yields the same messages;
//! garbage is an error, never a panic or a hang.

use pollen_engine::stream::{CycloneFraming, Deframe, Framing};
use quickcheck::{quickcheck, TestResult};

fn message(body: &[u8]) -> Vec<u8> {
    let mut m = b"RTPS\x02\x03\x00\x00".to_vec();
    m.extend_from_slice(&[7; 12]);
    // Keep bodies 4-aligned like real submessages (not required by the framing).
    m.extend_from_slice(body);
    m
}

/// Frames each message and concatenates them.
fn stream(bodies: &[Vec<u8>]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let f = CycloneFraming::new();
    let mut out = Vec::new();
    let mut framed = Vec::new();
    for b in bodies {
        let mut m = message(&b[..b.len().min(2000)]);
        let len = m.len();
        m.resize(len + CycloneFraming::OVERHEAD, 0);
        let n = f.frame(&mut m, len).expect("frame");
        m.truncate(n);
        out.extend_from_slice(&m);
        framed.push(m);
    }
    (out, framed)
}

/// Feeds `data` in pieces whose sizes come from `cuts`, as a driver does: append to a buffer,
/// take every whole frame from its front.
fn deframe_in_pieces(data: &[u8], cuts: &[u8]) -> Result<Vec<Vec<u8>>, ()> {
    let f = CycloneFraming::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    let mut at = 0;
    let mut i = 0;
    while at < data.len() {
        let step = 1 + *cuts.get(i % cuts.len().max(1)).unwrap_or(&200) as usize * 7;
        i += 1;
        let end = (at + step).min(data.len());
        buf.extend_from_slice(&data[at..end]);
        at = end;
        loop {
            match f.deframe(&buf) {
                Deframe::Frame(n) => {
                    out.push(buf[..n].to_vec());
                    buf.drain(..n);
                }
                Deframe::Need(n) => {
                    assert!(n > buf.len());
                    break;
                }
                Deframe::Bad(_) => return Err(()),
            }
            if buf.is_empty() {
                break;
            }
        }
    }
    if buf.is_empty() {
        Ok(out)
    } else {
        Err(())
    }
}

quickcheck! {
    fn any_split_yields_the_same_messages(bodies: Vec<Vec<u8>>, cuts: Vec<u8>) -> bool {
        let (data, framed) = stream(&bodies);
        deframe_in_pieces(&data, &cuts) == Ok(framed)
    }

    fn garbage_is_refused(junk: Vec<u8>, cuts: Vec<u8>) -> TestResult {
        if junk.len() < 4 || junk.starts_with(b"RTPS") {
            return TestResult::discard();
        }
        TestResult::from_bool(deframe_in_pieces(&junk, &cuts).is_err())
    }

    fn arbitrary_bytes_never_panic(data: Vec<u8>) -> bool {
        let f = CycloneFraming::new();
        matches!(f.deframe(&data), Deframe::Frame(_) | Deframe::Need(_) | Deframe::Bad(_))
    }
}

#[test]
fn a_frame_of_garbage_after_good_ones_stops_the_stream() {
    let (mut data, framed) = stream(&[vec![1; 8], vec![2; 12]]);
    data.extend_from_slice(b"RTPS\x02\x01\x00\x00garbage-garbage-garbage");
    assert_eq!(
        deframe_in_pieces(&data[..framed[0].len() + framed[1].len()], &[3]),
        Ok(framed)
    );
    assert!(deframe_in_pieces(&data, &[3]).is_err());
}
