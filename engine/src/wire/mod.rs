//! The RTPS wire layer: zero-copy views and parsed `*Repr` values for every element of a
//! DDSI-RTPS 2.x message, and a [`MessageBuilder`] that packs submessages into a caller's buffer.
//!
//! Two levels, after smoltcp: a view (`Header<T>`, [`SubmessageIter`], [`ParameterListIter`])
//! reads fields in place; a `Repr` is parsed from a view and emitted back into `&mut [u8]`.
//! Every submessage carries its own byte order (the E flag), so parsing honours both orders while
//! emitting always writes little-endian. Nothing in this module allocates or panics on input.

mod builder;
mod discovery;
mod endian;
mod header;
mod parameter;
mod payload;
mod primitives;
mod submessage;

pub use builder::{BuildError, DataTemplate, MessageBuilder};
pub use discovery::{
    BuiltinEndpointSet, DataRepresentations, DurabilityKind, EndpointData, HistoryQos, InlineQos,
    Liveliness, LivelinessKind, LocatorList, Ownership, ParticipantData, ReliabilityKind,
    ReliabilityQos, ResourceLimits, SampleIdentity, StatusInfo, StringSeq, StringSeqIter,
    MAX_DATA_REPRESENTATIONS, MAX_LOCATORS,
};
pub use endian::Endian;
pub use header::{Header, HeaderRepr, HEADER_LEN, PROTOCOL_RTPS};
pub use parameter::{pid, pid_name, Parameter, ParameterListIter, ParameterListWriter};
pub use payload::{Encapsulation, EncapsulationKind, SerializedPayload};
pub use primitives::{
    Count, Duration, EntityId, EntityKind, FragmentNumberSet, Guid, GuidPrefix, Locator,
    LocatorKind, ProtocolVersion, SequenceNumber, SequenceNumberSet, Time, VendorId, MAX_SET_BITS,
};
pub use submessage::{
    flags, submessage_id, submessage_name, AckNackRepr, DataFragRepr, DataRepr, GapRepr,
    HeartbeatFragRepr, HeartbeatRepr, InfoDstRepr, InfoReplyIp4Repr, InfoReplyRepr, InfoSrcRepr,
    InfoTsRepr, LocatorSeq, Message, NackFragRepr, RawSubmessage, SubmessageIter, SubmessageRepr,
    SUBMESSAGE_HEADER_LEN,
};

use core::fmt;

/// Why a piece of wire data could not be parsed or emitted.
///
/// Small and `Copy`, so the engine can count drops by reason without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// The data ends before a field it must contain.
    Truncated,
    /// The message does not start with `RTPS`.
    NotRtps,
    /// The protocol major version is not 2.
    UnsupportedVersion,
    /// `octetsToNextHeader` is not a multiple of 4 (and does not end the message) or runs past it.
    BadSubmessageLength,
    /// `octetsToInlineQos` points outside the submessage or is not a multiple of 4.
    BadInlineQosOffset,
    /// A sequence- or fragment-number set has more than 256 bits or a negative/zero base.
    BadNumberSet,
    /// DATA with both the data and the key flag set.
    DataAndKeyFlags,
    /// A DATA_FRAG whose fragment fields are inconsistent.
    BadFragment,
    /// A parameter list without PID_SENTINEL, or a parameter running past its end.
    BadParameterList,
    /// A parameter whose value is shorter than its type requires, or holds an invalid value.
    BadParameter(u16),
    /// A parameter with the must-understand bit (0x4000) that this implementation does not know.
    MustUnderstand(u16),
    /// A parameter that may appear once appeared twice.
    DuplicateParameter(u16),
    /// A parameter required in this context is missing.
    MissingParameter(u16),
    /// A CDR string without its terminating NUL or not valid UTF-8.
    BadString,
    /// A locator that is not well formed (UDPv4 with a non-zero prefix, port 0 or above 65535).
    BadLocator,
    /// The output buffer is too small.
    BufferTooSmall,
    /// A value that does not fit its wire field (for example a body above 65535 bytes).
    TooLarge,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Truncated => f.write_str("truncated"),
            Error::NotRtps => f.write_str("not an RTPS message (no RTPS magic)"),
            Error::UnsupportedVersion => f.write_str("unsupported protocol major version"),
            Error::BadSubmessageLength => f.write_str("bad octetsToNextHeader"),
            Error::BadInlineQosOffset => f.write_str("bad octetsToInlineQos"),
            Error::BadNumberSet => f.write_str("bad sequence or fragment number set"),
            Error::DataAndKeyFlags => f.write_str("DATA with both data and key flags"),
            Error::BadFragment => f.write_str("inconsistent DATA_FRAG fragment fields"),
            Error::BadParameterList => f.write_str("malformed parameter list"),
            Error::BadParameter(p) => write!(f, "bad value for parameter {:#06x}", p),
            Error::MustUnderstand(p) => {
                write!(f, "unknown must-understand parameter {:#06x}", p)
            }
            Error::DuplicateParameter(p) => write!(f, "duplicate parameter {:#06x}", p),
            Error::MissingParameter(p) => write!(f, "missing parameter {:#06x}", p),
            Error::BadString => f.write_str("malformed CDR string"),
            Error::BadLocator => f.write_str("malformed locator"),
            Error::BufferTooSmall => f.write_str("output buffer too small"),
            Error::TooLarge => f.write_str("value too large for its wire field"),
        }
    }
}

impl core::error::Error for Error {}

/// Result of a wire operation.
pub type Result<T> = core::result::Result<T, Error>;

/// `dst.copy_from_slice(src)` (the lengths must agree), inline for a small sample's 8 to 16
/// bytes: two overlapping 8-byte moves instead of a call to the C library's `memcpy`, which
/// for so few bytes costs more than the copy (every sample is copied four times between a
/// writer and a reader: into the history, into the datagram, into the reader's pool, out to
/// the application).
#[inline(always)]
pub(crate) fn copy_small(dst: &mut [u8], src: &[u8]) {
    let n = src.len();
    if (8..=16).contains(&n) && dst.len() == n {
        let (a, b) = (&src[..8], &src[n - 8..]);
        let (a, b) = (
            u64::from_ne_bytes([a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]]),
            u64::from_ne_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
        );
        dst[n - 8..].copy_from_slice(&b.to_ne_bytes());
        dst[..8].copy_from_slice(&a.to_ne_bytes());
    } else {
        dst.copy_from_slice(src);
    }
}

/// Rounds up to a multiple of 4.
#[inline]
pub(crate) const fn align4(n: usize) -> usize {
    (n + 3) & !3
}

#[cfg(test)]
mod copy_tests {
    /// `copy_small` copies exactly, at every length around its fast range.
    #[test]
    fn copy_small_copies_every_length() {
        let src: [u8; 40] = core::array::from_fn(|i| i as u8 + 1);
        for n in 0..=40 {
            let mut dst = [0u8; 40];
            super::copy_small(&mut dst[..n], &src[..n]);
            assert_eq!(dst[..n], src[..n]);
            assert!(dst[n..].iter().all(|&b| b == 0));
        }
    }
}
