//! RTPS over byte streams (TCP): how messages are delimited.
//!
//! No standard exists; each vendor frames differently (rtps-wire.md §9). Pollen speaks Cyclone
//! DDS's framing: every message is the 20-byte RTPS header immediately followed by the vendor
//! submessage 0x81 (ADLINK_MSG_LEN, 4-byte body) holding the total message length. Receivers
//! that do not know 0x81 skip it, so a framed message is also a valid datagram.
//!
//! A [`Framing`] only looks at bytes; it never buffers. The driver keeps unconsumed bytes and
//! offers them again with more (see `Engine::handle_stream`), so frames may be split anywhere.

use crate::wire::{submessage_id, HEADER_LEN, PROTOCOL_RTPS};
use core::fmt;

/// A stream connection, numbered by the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId(pub u32);

/// Why a stream was found unusable (the driver must close it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// The bytes do not start with an RTPS header.
    NotRtps,
    /// The header is not followed by the length submessage.
    NoLength,
    /// The announced length is below the framing overhead or above the maximum.
    BadLength(u32),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::NotRtps => f.write_str("stream does not carry RTPS messages"),
            FrameError::NoLength => f.write_str("RTPS header not followed by a length submessage"),
            FrameError::BadLength(n) => write!(f, "framed message length {} out of range", n),
        }
    }
}

impl core::error::Error for FrameError {}

/// What the front of a stream holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deframe {
    /// A whole message of this many bytes (framing included) starts the buffer.
    Frame(usize),
    /// Not enough bytes yet; at least this many are needed in total.
    Need(usize),
    /// The stream is broken.
    Bad(FrameError),
}

/// A stream dialect: how to find message boundaries and how to frame an outgoing message.
pub trait Framing {
    /// Extra bytes framing adds to a message.
    const OVERHEAD: usize;

    /// Looks at the front of `buf`.
    fn deframe(&self, buf: &[u8]) -> Deframe;

    /// Frames the message in `buf[..len]` in place; `buf` must have `OVERHEAD` spare bytes.
    /// Returns the framed length.
    fn frame(&self, buf: &mut [u8], len: usize) -> Option<usize>;
}

/// Cyclone DDS's framing: RTPS header, then submessage 0x81 with the total length.
#[derive(Debug, Clone, Copy, Default)]
pub struct CycloneFraming {
    /// Largest message accepted (Cyclone closes the connection above 64 KiB).
    pub max_message: usize,
}

impl CycloneFraming {
    /// The framing with Cyclone's 64 KiB limit.
    pub const fn new() -> Self {
        CycloneFraming {
            max_message: 65_536 + 1024,
        }
    }
}

const MSG_LEN_SUBMESSAGE: usize = 8;

impl Framing for CycloneFraming {
    const OVERHEAD: usize = MSG_LEN_SUBMESSAGE;

    fn deframe(&self, buf: &[u8]) -> Deframe {
        let need = HEADER_LEN + MSG_LEN_SUBMESSAGE;
        let head = buf.len().min(4);
        if buf[..head] != PROTOCOL_RTPS[..head] {
            return Deframe::Bad(FrameError::NotRtps);
        }
        if buf.len() < need {
            return Deframe::Need(need);
        }
        let sub = &buf[HEADER_LEN..need];
        if sub[0] != submessage_id::ADLINK_MSG_LEN {
            return Deframe::Bad(FrameError::NoLength);
        }
        let v = [sub[4], sub[5], sub[6], sub[7]];
        let len = if sub[1] & 1 != 0 {
            u32::from_le_bytes(v)
        } else {
            u32::from_be_bytes(v)
        };
        if (len as usize) < need || len as usize > self.max_message {
            return Deframe::Bad(FrameError::BadLength(len));
        }
        if buf.len() < len as usize {
            Deframe::Need(len as usize)
        } else {
            Deframe::Frame(len as usize)
        }
    }

    fn frame(&self, buf: &mut [u8], len: usize) -> Option<usize> {
        let total = len.checked_add(MSG_LEN_SUBMESSAGE)?;
        if len < HEADER_LEN || buf.len() < total || total > self.max_message {
            return None;
        }
        buf.copy_within(HEADER_LEN..len, HEADER_LEN + MSG_LEN_SUBMESSAGE);
        let sub = &mut buf[HEADER_LEN..HEADER_LEN + MSG_LEN_SUBMESSAGE];
        sub[0] = submessage_id::ADLINK_MSG_LEN;
        sub[1] = 0x01;
        sub[2..4].copy_from_slice(&4u16.to_le_bytes());
        sub[4..8].copy_from_slice(&(total as u32).to_le_bytes());
        Some(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(body: usize) -> ([u8; 256], usize) {
        let mut b = [0u8; 256];
        b[..4].copy_from_slice(b"RTPS");
        b[4] = 2;
        b[5] = 1;
        for (i, x) in b[20..20 + body].iter_mut().enumerate() {
            *x = i as u8;
        }
        (b, 20 + body)
    }

    #[test]
    fn frame_then_deframe_at_every_split() {
        let f = CycloneFraming::new();
        let (mut b, len) = message(40);
        let total = f.frame(&mut b, len).unwrap();
        assert_eq!(total, len + 8);
        assert_eq!(f.deframe(&b[..total]), Deframe::Frame(total));
        for cut in 0..total {
            match f.deframe(&b[..cut]) {
                Deframe::Need(n) => assert!(n > cut),
                other => panic!("cut {cut}: {other:?}"),
            }
        }
        assert_eq!(b[28], 0);
        assert_eq!(b[28 + 39], 39);
    }

    #[test]
    fn garbage_and_bad_lengths_are_errors() {
        let f = CycloneFraming::new();
        assert_eq!(
            f.deframe(b"GET / HTTP/1.1"),
            Deframe::Bad(FrameError::NotRtps)
        );
        let (mut b, len) = message(8);
        let total = f.frame(&mut b, len).unwrap();
        b[20] = 0x15;
        assert_eq!(f.deframe(&b[..total]), Deframe::Bad(FrameError::NoLength));
        b[20] = 0x81;
        b[24..28].copy_from_slice(&3u32.to_le_bytes());
        assert_eq!(
            f.deframe(&b[..total]),
            Deframe::Bad(FrameError::BadLength(3))
        );
        b[24..28].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            f.deframe(&b[..total]),
            Deframe::Bad(FrameError::BadLength(_))
        ));
    }
}
