//! The 20-octet RTPS message header (rtps-wire.md §1.1).

use super::{Error, GuidPrefix, ProtocolVersion, Result, VendorId};

/// Length of the RTPS message header.
pub const HEADER_LEN: usize = 20;
/// The protocol id at the start of every message.
pub const PROTOCOL_RTPS: [u8; 4] = *b"RTPS";

/// A read-only view of an RTPS header at the start of a buffer.
#[derive(Debug, Clone, Copy)]
pub struct Header<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Header<T> {
    /// Wraps a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> Self {
        Header { buffer }
    }

    /// Wraps a buffer, checking its length and magic.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let h = Header { buffer };
        h.check()?;
        Ok(h)
    }

    /// Checks the length, the magic and the major version.
    pub fn check(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        if b.len() >= 4 && b[..4] != PROTOCOL_RTPS {
            return Err(Error::NotRtps);
        }
        if b.len() < HEADER_LEN {
            return Err(if b.len() >= 4 || PROTOCOL_RTPS.starts_with(b) {
                Error::Truncated
            } else {
                Error::NotRtps
            });
        }
        if b[4] != 2 {
            return Err(Error::UnsupportedVersion);
        }
        Ok(())
    }

    /// Protocol version.
    pub fn version(&self) -> ProtocolVersion {
        let b = self.buffer.as_ref();
        ProtocolVersion {
            major: b[4],
            minor: b[5],
        }
    }

    /// Sender's vendor.
    pub fn vendor_id(&self) -> VendorId {
        let b = self.buffer.as_ref();
        VendorId([b[6], b[7]])
    }

    /// Sender's participant prefix.
    pub fn guid_prefix(&self) -> GuidPrefix {
        let mut p = [0u8; 12];
        p.copy_from_slice(&self.buffer.as_ref()[8..20]);
        GuidPrefix(p)
    }

    /// The bytes after the header: the submessages.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }
}

/// A parsed RTPS header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HeaderRepr {
    /// Protocol version.
    pub version: ProtocolVersion,
    /// Sender's vendor.
    pub vendor_id: VendorId,
    /// Sender's participant prefix.
    pub guid_prefix: GuidPrefix,
}

impl HeaderRepr {
    /// A header with Pollen's version and vendor.
    pub const fn new(guid_prefix: GuidPrefix) -> Self {
        HeaderRepr {
            version: ProtocolVersion::V2_3,
            vendor_id: VendorId::POLLEN,
            guid_prefix,
        }
    }

    /// Parses a checked view.
    pub fn parse<T: AsRef<[u8]>>(h: &Header<T>) -> Result<Self> {
        h.check()?;
        Ok(HeaderRepr {
            version: h.version(),
            vendor_id: h.vendor_id(),
            guid_prefix: h.guid_prefix(),
        })
    }

    /// Encoded length.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header into the first 20 bytes of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let b = buf.get_mut(..HEADER_LEN).ok_or(Error::BufferTooSmall)?;
        b[..4].copy_from_slice(&PROTOCOL_RTPS);
        b[4] = self.version.major;
        b[5] = self.version.minor;
        b[6..8].copy_from_slice(&self.vendor_id.0);
        b[8..20].copy_from_slice(&self.guid_prefix.0);
        Ok(HEADER_LEN)
    }
}
