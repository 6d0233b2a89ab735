//! The data types `pollen pub` and `pollen sub` know: how each is named, serialized and shown.
//!
//! * `string`: a struct with one string member, XCDR1 little-endian: encapsulation
//!   `00 01 00 0p`, u32 length including the NUL, the bytes, the NUL, then `p` zero bytes of
//!   padding to a multiple of 4 (the low bits of the options say how many, as XTypes 1.3
//!   §7.6.3.1.2 asks). With `--ros` the type is `std_msgs::msg::dds_::String_` (ROS 2's
//!   `std_msgs/msg/String`); without it `DDS::String`, the name of the DDS built-in string type
//!   (RTI's `DDS::String`, the same bytes on the wire). `--type-name` overrides either.
//! * `keyedseq`: Cyclone ddsperf's `KeyedSeq { u32 seq; @key u32 keyval; sequence<octet>
//!   baggage; }`, type name `KeyedSeq`, keyed.
//! * `raw`: any type; the whole serialized payload (encapsulation header included) as hex. The
//!   type name comes from `--type-name` or, when absent, from the first remote endpoint seen on
//!   the topic.

use pollen_engine::wire::{EncapsulationKind, Endian};
#[cfg(feature = "commands")]
use serde_json::{json, Value};
use std::fmt::Write as _;

/// A data type on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "commands", derive(clap::ValueEnum))]
pub enum DataType {
    /// A single CDR string (std_msgs/String with --ros).
    String,
    /// Cyclone ddsperf's KeyedSeq (keyed).
    Keyedseq,
    /// Any type, shown and given as hex of the serialized payload.
    Raw,
}

/// ROS 2's std_msgs/msg/String as DDS names it.
pub const ROS_STRING: &str = "std_msgs::msg::dds_::String_";
/// The DDS built-in string type.
pub const DDS_STRING: &str = "DDS::String";
/// ddsperf's keyed sequence type.
pub const KEYED_SEQ: &str = "KeyedSeq";

impl DataType {
    /// The default type name (`None` for raw: learnt from the network).
    pub fn type_name(self, ros: bool) -> Option<&'static str> {
        match self {
            DataType::String if ros => Some(ROS_STRING),
            DataType::String => Some(DDS_STRING),
            DataType::Keyedseq => Some(KEYED_SEQ),
            DataType::Raw => None,
        }
    }

    /// Whether the type has a key.
    pub fn keyed(self) -> Option<bool> {
        match self {
            DataType::String => Some(false),
            DataType::Keyedseq => Some(true),
            DataType::Raw => None,
        }
    }
}

/// The encapsulation header of an XCDR1 little-endian sample whose last `pad` bytes are
/// padding (XTypes 1.3 §7.6.3.1.2 puts the count in the low bits of the options).
pub fn cdr_le_header(pad: usize) -> [u8; 4] {
    let [a, b] = EncapsulationKind::CdrLe.to_u16().to_be_bytes();
    [a, b, 0x00, pad as u8]
}

/// The byte order of a plain CDR sample (XCDR1, XCDR2 or delimited XCDR2) and where its
/// first member starts, or `None` for any other encapsulation.
pub fn plain_body(payload: &[u8]) -> Option<(Endian, usize)> {
    let kind =
        EncapsulationKind::from_u16(u16::from_be_bytes([*payload.first()?, *payload.get(1)?]));
    let at = match kind {
        EncapsulationKind::CdrBe
        | EncapsulationKind::CdrLe
        | EncapsulationKind::Cdr2Be
        | EncapsulationKind::Cdr2Le => 4,
        // A DHEADER (the body's length) comes first.
        EncapsulationKind::DCdr2Be | EncapsulationKind::DCdr2Le => 8,
        _ => return None,
    };
    Some((kind.endian()?, at))
}

/// The byte order of an XCDR1 plain sample (what ROS 2 and rmw_dds_common write), or `None`.
pub fn xcdr1_endian(payload: &[u8]) -> Option<Endian> {
    let kind =
        EncapsulationKind::from_u16(u16::from_be_bytes([*payload.first()?, *payload.get(1)?]));
    match kind {
        EncapsulationKind::CdrLe | EncapsulationKind::CdrBe => kind.endian(),
        _ => None,
    }
}

fn pad_to_4(v: &mut Vec<u8>) {
    let pad = (4 - v.len() % 4) % 4;
    v.resize(v.len() + pad, 0);
    v[3] = pad as u8;
}

/// Serializes a string sample.
pub fn encode_string(s: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(s.len() + 12);
    v.extend_from_slice(&cdr_le_header(0));
    // A string longer than 4 GiB cannot be written (the engine refuses far smaller samples).
    let n = u32::try_from(s.len() + 1).unwrap_or(u32::MAX);
    v.extend_from_slice(&n.to_le_bytes());
    v.extend_from_slice(s.as_bytes());
    v.push(0);
    pad_to_4(&mut v);
    v
}

/// Serializes a KeyedSeq sample.
pub fn encode_keyed_seq(seq: u32, keyval: u32, baggage: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(baggage.len() + 16);
    v.extend_from_slice(&cdr_le_header(0));
    v.extend_from_slice(&seq.to_le_bytes());
    v.extend_from_slice(&keyval.to_le_bytes());
    v.extend_from_slice(&(baggage.len() as u32).to_le_bytes());
    v.extend_from_slice(baggage);
    pad_to_4(&mut v);
    v
}

/// A CDR body after its encapsulation header: byte order and where the data starts.
struct Body<'a> {
    data: &'a [u8],
    little: bool,
    pos: usize,
}

impl<'a> Body<'a> {
    /// Accepts XCDR1 and XCDR2 plain encodings (and skips the DHEADER of delimited XCDR2).
    fn new(payload: &'a [u8]) -> Option<Body<'a>> {
        let (endian, at) = plain_body(payload)?;
        Some(Body {
            data: payload.get(at..)?,
            little: endian == Endian::Little,
            pos: 0,
        })
    }

    fn u32(&mut self) -> Option<u32> {
        self.pos = self.pos.next_multiple_of(4);
        let b: [u8; 4] = self.data.get(self.pos..self.pos + 4)?.try_into().ok()?;
        self.pos += 4;
        Some(if self.little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    }

    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let b = self.data.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(b)
    }
}

/// Decodes a string sample.
pub fn decode_string(payload: &[u8]) -> Option<String> {
    let mut b = Body::new(payload)?;
    let n = b.u32()? as usize;
    let s = b.bytes(n)?;
    let s = s.strip_suffix(&[0]).unwrap_or(s);
    Some(String::from_utf8_lossy(s).into_owned())
}

/// A decoded KeyedSeq sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyedSeq {
    /// Sequence number chosen by the writer.
    pub seq: u32,
    /// The key.
    pub keyval: u32,
    /// The baggage.
    pub baggage: Vec<u8>,
}

/// A KeyedSeq sample's seq, keyval and baggage length, read in place (no copy: ddsperf's
/// throughput path).
pub fn keyed_seq_fields(payload: &[u8]) -> Option<(u32, u32, u32)> {
    let mut b = Body::new(payload)?;
    Some((b.u32()?, b.u32()?, b.u32()?))
}

/// Decodes a KeyedSeq sample (or, for a dispose, just its key).
pub fn decode_keyed_seq(payload: &[u8]) -> Option<KeyedSeq> {
    let mut b = Body::new(payload)?;
    let seq = b.u32()?;
    let keyval = b.u32()?;
    let n = b.u32()? as usize;
    let baggage = b.bytes(n)?.to_vec();
    Some(KeyedSeq {
        seq,
        keyval,
        baggage,
    })
}

/// Lowercase hex.
pub fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

/// Parses hex, ignoring whitespace.
pub fn parse_hex(s: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
    if digits.len() % 2 != 0 {
        return None;
    }
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).ok()?, 16).ok())
        .collect()
}

#[cfg(feature = "commands")]
/// How a sample is shown: a text line and a JSON value.
pub fn show(ty: DataType, payload: &[u8]) -> (String, Value) {
    match ty {
        DataType::String => match decode_string(payload) {
            Some(s) => (s.clone(), Value::String(s)),
            None => bad(payload),
        },
        DataType::Keyedseq => match decode_keyed_seq(payload) {
            Some(k) => (
                format!(
                    "seq={} keyval={} baggage={} bytes",
                    k.seq,
                    k.keyval,
                    k.baggage.len()
                ),
                json!({"seq": k.seq, "keyval": k.keyval, "baggage_len": k.baggage.len()}),
            ),
            None => bad(payload),
        },
        DataType::Raw => (hex(payload), Value::String(hex(payload))),
    }
}

#[cfg(feature = "commands")]
/// How the key of a dispose or unregister is shown: the serialized key (KeyedSeq's keyval)
/// when the writer sent one, else the key hash.
pub fn show_key(ty: DataType, payload: &[u8], key_hash: Option<[u8; 16]>) -> (String, Value) {
    if ty == DataType::Keyedseq {
        let keyval = Body::new(payload).and_then(|mut b| b.u32());
        if let Some(k) = keyval {
            return (format!("keyval={k}"), json!({ "keyval": k }));
        }
    }
    let key = match key_hash {
        Some(k) if payload.len() <= 4 => hex(&k),
        _ => hex(payload),
    };
    (format!("key {key}"), json!({ "key": key }))
}

#[cfg(feature = "commands")]
fn bad(payload: &[u8]) -> (String, Value) {
    let h = hex(payload);
    (format!("(undecodable) {h}"), json!({ "undecodable": h }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_layout_and_round_trip() {
        assert_eq!(
            encode_string("hi"),
            [0, 1, 0, 1, 3, 0, 0, 0, b'h', b'i', 0, 0]
        );
        assert_eq!(
            encode_string("abc"),
            [0, 1, 0, 0, 4, 0, 0, 0, b'a', b'b', b'c', 0]
        );
        for s in ["", "a", "hello world", "ünïcödé"] {
            assert_eq!(decode_string(&encode_string(s)).as_deref(), Some(s));
        }
        // Big-endian XCDR1 and delimited XCDR2 little-endian.
        assert_eq!(
            decode_string(&[0, 0, 0, 0, 0, 0, 0, 2, b'x', 0]).as_deref(),
            Some("x")
        );
        assert_eq!(
            decode_string(&[0, 9, 0, 0, 6, 0, 0, 0, 2, 0, 0, 0, b'y', 0]).as_deref(),
            Some("y")
        );
        assert_eq!(decode_string(&[0, 1, 0, 0, 9, 0, 0, 0, b'x']), None);
    }

    #[test]
    fn keyed_seq_round_trip() {
        let v = encode_keyed_seq(7, 3, b"abcde");
        assert_eq!(v.len() % 4, 0);
        assert_eq!(&v[..16], &[0, 1, 0, 3, 7, 0, 0, 0, 3, 0, 0, 0, 5, 0, 0, 0]);
        let k = decode_keyed_seq(&v).unwrap();
        assert_eq!((k.seq, k.keyval, &k.baggage[..]), (7, 3, &b"abcde"[..]));
    }

    #[test]
    fn every_plain_encoding_is_read_and_parameter_lists_are_not() {
        // seq 7, keyval 3, an empty baggage: big-endian XCDR1, XCDR2, and delimited XCDR2
        // (whose DHEADER of 12 comes first).
        let be = [0, 0, 0, 7, 0, 0, 0, 3, 0, 0, 0, 0];
        for (kind, dheader) in [(0x0000u16, false), (0x0006, false), (0x0008, true)] {
            let mut p = kind.to_be_bytes().to_vec();
            p.extend_from_slice(&[0, 0]);
            if dheader {
                p.extend_from_slice(&12u32.to_be_bytes());
            }
            p.extend_from_slice(&be);
            assert_eq!(keyed_seq_fields(&p), Some((7, 3, 0)), "kind {kind:#06x}");
        }
        let le = encode_keyed_seq(7, 3, b"");
        assert_eq!(keyed_seq_fields(&le), Some((7, 3, 0)));
        assert_eq!(xcdr1_endian(&le), Some(Endian::Little));
        // PL_CDR (discovery data) and vendor encapsulations are not plain samples.
        for kind in [0x0002u16, 0x0003, 0x000a, 0x8001] {
            let mut p = kind.to_be_bytes().to_vec();
            p.extend_from_slice(&[0, 0]);
            p.extend_from_slice(&be);
            assert_eq!(keyed_seq_fields(&p), None, "kind {kind:#06x}");
        }
        assert_eq!(xcdr1_endian(&[0, 7, 0, 0]), None);
        assert_eq!(keyed_seq_fields(&[0]), None);
    }

    #[test]
    fn hex_round_trip() {
        assert_eq!(parse_hex("00 01 ab"), Some(vec![0, 1, 0xab]));
        assert_eq!(parse_hex("0"), None);
        assert_eq!(hex(&[0, 0xff]), "00ff");
    }

    // The JavaScript package's cases, from when it had a codec of its own.
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
        for s in ["", "x", "hello, node", "ünï", &"y".repeat(5000)] {
            assert_eq!(decode_string(&encode_string(s)).as_deref(), Some(s));
        }
    }

    #[test]
    fn other_encodings() {
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
        assert_eq!(
            decode_string(&[0, 1, 0, 0, 3, 0, 0, 0, 0xff, b'a', 0, 0]).as_deref(),
            Some("\u{fffd}a"),
            "invalid UTF-8 is replaced"
        );
    }

    #[test]
    fn garbage_is_refused() {
        assert_eq!(decode_string(&[0, 1, 0, 0, 9, 0, 0, 0, b'x']), None);
        assert_eq!(decode_string(&[0, 1]), None);
        assert_eq!(decode_string(&[]), None);
        assert_eq!(decode_string(&[0, 2, 0, 0, 1, 0, 0, 0, 0]), None);
        assert_eq!(decode_string(&[0, 1, 0, 0, 0xff, 0xff, 0xff, 0xff]), None);
        assert_eq!(decode_string(&[0, 9, 0, 0, 4, 0, 0, 0]), None);
    }
}
