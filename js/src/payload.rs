//! The serialized form of the string type Pollen speaks everywhere, with the 4-byte
//! encapsulation header the engine carries in front of every payload.
//!
//! `struct { string data; }` in XCDR1 little-endian: header `00 01 00 0p`, a u32 length that
//! counts the terminating NUL, the UTF-8 bytes, the NUL, then `p` zero bytes so the payload is
//! a multiple of 4 long (XTypes 1.3 §7.6.3.1.2 puts the pad count in the low bits of the
//! options). That is ROS 2's `std_msgs/msg/String` (`std_msgs::msg::dds_::String_`) and the DDS
//! built-in `DDS::String`: the same bytes under two type names. Decoding also takes
//! big-endian XCDR1 and (delimited) XCDR2, as peers may send either.

/// ROS 2's std_msgs/msg/String as DDS names it.
pub const ROS_STRING: &str = "std_msgs::msg::dds_::String_";
/// The DDS built-in string type.
pub const DDS_STRING: &str = "DDS::String";

/// Serializes a string sample.
pub fn encode_string(s: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(s.len() + 12);
    v.extend_from_slice(&[0, 1, 0, 0]);
    // A string longer than 4 GiB cannot be written; the engine refuses far smaller samples.
    let n = u32::try_from(s.len() + 1).unwrap_or(u32::MAX);
    v.extend_from_slice(&n.to_le_bytes());
    v.extend_from_slice(s.as_bytes());
    v.push(0);
    let pad = v.len().wrapping_neg() % 4;
    v.resize(v.len() + pad, 0);
    v[3] = pad as u8;
    v
}

/// Decodes a string sample; `None` when the payload is not one (too short, an unknown
/// encapsulation, a length past the end). Invalid UTF-8 is replaced, never refused.
pub fn decode_string(payload: &[u8]) -> Option<String> {
    let (head, body) = payload.split_at_checked(4)?;
    let (little, delimited) = match u16::from_be_bytes([head[0], head[1]]) {
        // CDR_BE, PL_CDR_BE is not a plain struct; CDR_LE; XCDR2 plain BE/LE; delimited BE/LE.
        0x0000 | 0x0006 => (false, false),
        0x0001 | 0x0007 => (true, false),
        0x0008 => (false, true),
        0x0009 => (true, true),
        _ => return None,
    };
    let u32_at = |at: usize| -> Option<u32> {
        let b: [u8; 4] = body.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(if little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    };
    let start = if delimited { 4 } else { 0 };
    let n = usize::try_from(u32_at(start)?).ok()?;
    let from = start + 4;
    let s = body.get(from..from.checked_add(n)?)?;
    Some(String::from_utf8_lossy(s.strip_suffix(&[0]).unwrap_or(s)).into_owned())
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
