//! Serialized samples of the two types the component speaks, XCDR1 little-endian with the
//! 4-byte encapsulation header the engine expects in front of every payload.
//!
//! * string: `struct { string data; }`: u32 length counting the NUL, the bytes, the NUL. Type
//!   name `DDS::String`, or `std_msgs::msg::dds_::String_` for ROS 2.
//! * keyedseq: Cyclone ddsperf's `KeyedSeq { u32 seq; @key u32 keyval; sequence<octet>
//!   baggage; }`.
//!
//! Either is padded to a multiple of 4 with the pad count in the low bits of the
//! encapsulation options (XTypes 1.3 §7.6.3.1.2). Both byte orders, and XCDR2, are read.

use crate::args::DataType;

/// ROS 2's std_msgs/msg/String as DDS names it.
pub const ROS_STRING: &str = "std_msgs::msg::dds_::String_";
/// The DDS built-in string type.
pub const DDS_STRING: &str = "DDS::String";
/// ddsperf's keyed sequence type.
pub const KEYED_SEQ: &str = "KeyedSeq";

/// The type name and key-ness of a data type.
pub fn type_of(ty: DataType, ros: bool) -> (&'static str, bool) {
    match ty {
        DataType::String if ros => (ROS_STRING, false),
        DataType::String => (DDS_STRING, false),
        DataType::KeyedSeq => (KEYED_SEQ, true),
    }
}

fn finish(mut v: Vec<u8>) -> Vec<u8> {
    let pad = v.len().wrapping_neg() % 4;
    v.resize(v.len() + pad, 0);
    v[3] = pad as u8;
    v
}

/// Serializes a string sample.
pub fn encode_string(s: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(s.len() + 12);
    v.extend_from_slice(&[0, 1, 0, 0]);
    v.extend_from_slice(&(s.len() as u32 + 1).to_le_bytes());
    v.extend_from_slice(s.as_bytes());
    v.push(0);
    finish(v)
}

/// Serializes a KeyedSeq sample.
pub fn encode_keyed_seq(seq: u32, keyval: u32, baggage: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(baggage.len() + 16);
    v.extend_from_slice(&[0, 1, 0, 0]);
    for x in [seq, keyval, baggage.len() as u32] {
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.extend_from_slice(baggage);
    finish(v)
}

/// A reader over a CDR body.
struct Cdr<'a> {
    body: &'a [u8],
    little: bool,
    at: usize,
}

impl<'a> Cdr<'a> {
    fn new(payload: &'a [u8]) -> Option<Cdr<'a>> {
        let (head, body) = payload.split_at_checked(4)?;
        let (little, delimited) = match u16::from_be_bytes([head[0], head[1]]) {
            0x0000 | 0x0006 => (false, false),
            0x0001 | 0x0007 => (true, false),
            0x0008 => (false, true),
            0x0009 => (true, true),
            _ => return None,
        };
        let mut c = Cdr {
            body,
            little,
            at: 0,
        };
        if delimited {
            c.u32()?;
        }
        Some(c)
    }

    fn u32(&mut self) -> Option<u32> {
        self.at = self.at.next_multiple_of(4);
        let b: [u8; 4] = self.body.get(self.at..self.at + 4)?.try_into().ok()?;
        self.at += 4;
        Some(if self.little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    }

    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let b = self.body.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(b)
    }
}

/// Decodes a string sample.
pub fn decode_string(payload: &[u8]) -> Option<String> {
    let mut c = Cdr::new(payload)?;
    let n = c.u32()? as usize;
    let s = c.bytes(n)?;
    Some(String::from_utf8_lossy(s.strip_suffix(&[0]).unwrap_or(s)).into_owned())
}

/// Decodes a KeyedSeq sample: (seq, keyval, baggage length).
pub fn decode_keyed_seq(payload: &[u8]) -> Option<(u32, u32, usize)> {
    let mut c = Cdr::new(payload)?;
    let (seq, keyval, n) = (c.u32()?, c.u32()?, c.u32()? as usize);
    c.bytes(n)?;
    Some((seq, keyval, n))
}

/// One line for a received sample.
pub fn show(ty: DataType, payload: &[u8]) -> String {
    let shown = match ty {
        DataType::String => decode_string(payload),
        DataType::KeyedSeq => decode_keyed_seq(payload)
            .map(|(s, k, n)| format!("seq={s} keyval={k} baggage={n} bytes")),
    };
    shown.unwrap_or_else(|| {
        let hex: String = payload.iter().map(|b| format!("{b:02x}")).collect();
        format!("(undecodable) {hex}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_bytes() {
        assert_eq!(
            encode_string("hi"),
            [0, 1, 0, 1, 3, 0, 0, 0, b'h', b'i', 0, 0]
        );
        assert_eq!(
            encode_string("abc"),
            [0, 1, 0, 0, 4, 0, 0, 0, b'a', b'b', b'c', 0]
        );
        for s in ["", "x", "hello, wasm", "ünï"] {
            assert_eq!(decode_string(&encode_string(s)).as_deref(), Some(s));
        }
        assert_eq!(
            decode_string(&[0, 0, 0, 0, 0, 0, 0, 2, b'x', 0]).as_deref(),
            Some("x"),
            "big-endian"
        );
        assert_eq!(
            decode_string(&[0, 9, 0, 0, 6, 0, 0, 0, 2, 0, 0, 0, b'y', 0]).as_deref(),
            Some("y"),
            "delimited XCDR2"
        );
        assert_eq!(decode_string(&[0, 1, 0, 0, 9, 0, 0, 0, b'x']), None);
        assert_eq!(decode_string(&[0, 1]), None);
    }

    #[test]
    fn keyed_seq_bytes() {
        let v = encode_keyed_seq(7, 3, b"abcde");
        assert_eq!(v.len() % 4, 0);
        assert_eq!(&v[..16], &[0, 1, 0, 3, 7, 0, 0, 0, 3, 0, 0, 0, 5, 0, 0, 0]);
        assert_eq!(decode_keyed_seq(&v), Some((7, 3, 5)));
        assert_eq!(
            show(DataType::KeyedSeq, &v),
            "seq=7 keyval=3 baggage=5 bytes"
        );
        assert_eq!(show(DataType::String, &[1, 2]), "(undecodable) 0102");
    }

    #[test]
    fn types() {
        assert_eq!(type_of(DataType::String, true), (ROS_STRING, false));
        assert_eq!(type_of(DataType::String, false), (DDS_STRING, false));
        assert_eq!(type_of(DataType::KeyedSeq, false), (KEYED_SEQ, true));
    }
}
