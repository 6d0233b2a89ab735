//! RTPS over byte streams (TCP): how messages are delimited.
//!
//! No standard exists; each vendor frames differently (rtps-wire.md §9). Pollen speaks Cyclone
//! DDS's framing: every message is the 20-byte RTPS header immediately followed by the vendor
//! submessage 0x81 (ADLINK_MSG_LEN, 4-byte body) holding the total message length. Receivers
//! that do not know 0x81 skip it, so a framed message is also a valid datagram.
//!
//! A [`Framing`] only looks at bytes; it never buffers. Two ways to drive streams:
//! - **The engine's connection table** (with `alloc`, see [`conn`]): the driver reports what
//!   its sockets did (`Engine::handle_stream_accepted`, `handle_stream_data`, ...) and carries
//!   out what `Engine::poll_stream_command` says (open, send, close); back-off, timeouts,
//!   limits and partial frames are the engine's, on its clock.
//! - **Raw** (`Engine::handle_stream`): the driver numbers its connections, keeps unconsumed
//!   bytes and offers them again with more, so frames may be split anywhere; the policy is its
//!   own (the smoltcp driver, whose sockets bound everything already).

use crate::time::Span;
use crate::wire::{submessage_id, HEADER_LEN, PROTOCOL_RTPS};
use core::fmt;

#[cfg(feature = "alloc")]
pub mod conn;

/// A stream connection: numbered by the engine's connection table (the same id in both
/// directions), or by the driver when it feeds [`Engine::handle_stream`](crate::Engine) itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId(pub u32);

impl StreamId {
    /// For an id the connection table gave: its slot, below `max_inbound + max_outbound` of
    /// [`StreamConfig`], reused once the connection is gone. A driver can index its sockets
    /// with it.
    pub const fn slot(self) -> usize {
        (self.0 & 0xffff) as usize
    }
}

/// The limits and timers of the engine's stream connections (RTPS over TCP), all on the
/// engine's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamConfig {
    /// Connections peers may open to us at once; more are refused (and counted).
    pub max_inbound: usize,
    /// Connections we open at once; frames for further addresses are dropped and counted.
    pub max_outbound: usize,
    /// Bytes queued per connection for sending. A frame that does not fit is refused
    /// (`StreamSend::Blocked`: the driver keeps its transmit and retries once bytes are
    /// written); an empty queue always takes one frame, so a connection holds at most this
    /// plus one frame.
    pub max_send_buffer: usize,
    /// A connection whose queued bytes make no progress this long is closed (a reader that
    /// stopped reading).
    pub write_timeout: Span,
    /// A connection with no traffic in either direction this long is closed.
    pub idle_timeout: Span,
    /// A connection attempt not completed this long is abandoned.
    pub connect_timeout: Span,
    /// First delay before connecting again to an address whose connection closed (after a
    /// failure it doubles, up to `backoff_max`; a connection that completes resets it).
    pub backoff_min: Span,
    /// Longest such delay.
    pub backoff_max: Span,
    /// Inbound connections one source IPv4 address may hold at once; more are refused. Every
    /// same-host peer connects from 127.0.0.1, so on loopback this is the number of TCP peers
    /// on the host; the default, half of the default `max_inbound`, lets 16 of them in while
    /// keeping the other half of the slots for everyone else.
    pub max_inbound_per_source: usize,
    /// A connection holding an incomplete frame this long after the frame's first byte is
    /// closed, so that a peer dribbling a byte now and then (a "slowloris") cannot hold a slot
    /// by keeping the idle timer fresh. The default, 10 s, lets the largest frame (64 KiB)
    /// through at about 52 kbit/s.
    pub frame_timeout: Span,
    /// Addresses remembered in back-off at most (the expired first, then the soonest to
    /// expire make way).
    pub max_backoff_entries: usize,
}

impl StreamConfig {
    /// The defaults: 32 inbound and 32 outbound connections, 16 per source, 1 MiB send queues,
    /// 5 s write and connect timeouts, 30 s idle timeout, 10 s frame timeout, back-off from
    /// 100 ms to 5 s.
    pub const DEFAULT: StreamConfig = StreamConfig {
        max_inbound: 32,
        max_outbound: 32,
        max_send_buffer: 1 << 20,
        write_timeout: Span::from_secs(5),
        // SPDP announces every 3 s, so a live peer is never idle this long.
        idle_timeout: Span::from_secs(30),
        connect_timeout: Span::from_secs(5),
        backoff_min: Span::from_millis(100),
        backoff_max: Span::from_secs(5),
        max_inbound_per_source: 16,
        frame_timeout: Span::from_secs(10),
        max_backoff_entries: 1024,
    };

    /// Whether every timeout is non-zero and the table fits the ids (65 535 slots).
    pub(crate) fn is_valid(&self) -> bool {
        self.write_timeout.micros() > 0
            && self.idle_timeout.micros() > 0
            && self.connect_timeout.micros() > 0
            && self.frame_timeout.micros() > 0
            && self.max_inbound.saturating_add(self.max_outbound) <= 0xffff
    }
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig::DEFAULT
    }
}

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
