//! The serialized-payload encapsulation header (rtps-wire.md §6.1).

use super::{Endian, Error, Result};
use core::fmt;

/// The representation identifier of a serialized payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EncapsulationKind {
    /// 0x0000 XCDR1 plain, big-endian.
    CdrBe,
    /// 0x0001 XCDR1 plain, little-endian.
    CdrLe,
    /// 0x0002 XCDR1 parameter list, big-endian (SPDP/SEDP).
    PlCdrBe,
    /// 0x0003 XCDR1 parameter list, little-endian (SPDP/SEDP).
    PlCdrLe,
    /// 0x0006 XCDR2 plain, big-endian.
    Cdr2Be,
    /// 0x0007 XCDR2 plain, little-endian.
    Cdr2Le,
    /// 0x0008 XCDR2 delimited, big-endian.
    DCdr2Be,
    /// 0x0009 XCDR2 delimited, little-endian.
    DCdr2Le,
    /// 0x000a XCDR2 parameter list, big-endian.
    PlCdr2Be,
    /// 0x000b XCDR2 parameter list, little-endian.
    PlCdr2Le,
    /// Anything else (vendor or reserved identifiers).
    Other(u16),
}

impl EncapsulationKind {
    /// From the big-endian identifier.
    pub fn from_u16(v: u16) -> Self {
        match v {
            0x0000 => Self::CdrBe,
            0x0001 => Self::CdrLe,
            0x0002 => Self::PlCdrBe,
            0x0003 => Self::PlCdrLe,
            0x0006 => Self::Cdr2Be,
            0x0007 => Self::Cdr2Le,
            0x0008 => Self::DCdr2Be,
            0x0009 => Self::DCdr2Le,
            0x000a => Self::PlCdr2Be,
            0x000b => Self::PlCdr2Le,
            o => Self::Other(o),
        }
    }

    /// The identifier.
    pub fn to_u16(self) -> u16 {
        match self {
            Self::CdrBe => 0x0000,
            Self::CdrLe => 0x0001,
            Self::PlCdrBe => 0x0002,
            Self::PlCdrLe => 0x0003,
            Self::Cdr2Be => 0x0006,
            Self::Cdr2Le => 0x0007,
            Self::DCdr2Be => 0x0008,
            Self::DCdr2Le => 0x0009,
            Self::PlCdr2Be => 0x000a,
            Self::PlCdr2Le => 0x000b,
            Self::Other(o) => o,
        }
    }

    /// The byte order of the data, for the standard identifiers.
    pub fn endian(self) -> Option<Endian> {
        match self {
            Self::Other(_) => None,
            k if k.to_u16() & 1 == 1 => Some(Endian::Little),
            _ => Some(Endian::Big),
        }
    }

    /// Whether the data is a parameter list (PL_CDR or PL_CDR2).
    pub fn is_parameter_list(self) -> bool {
        matches!(
            self,
            Self::PlCdrBe | Self::PlCdrLe | Self::PlCdr2Be | Self::PlCdr2Le
        )
    }

    /// Whether the data is XCDR2.
    pub fn is_xcdr2(self) -> bool {
        matches!(
            self,
            Self::Cdr2Be
                | Self::Cdr2Le
                | Self::DCdr2Be
                | Self::DCdr2Le
                | Self::PlCdr2Be
                | Self::PlCdr2Le
        )
    }

    /// The spec's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::CdrBe => "CDR_BE",
            Self::CdrLe => "CDR_LE",
            Self::PlCdrBe => "PL_CDR_BE",
            Self::PlCdrLe => "PL_CDR_LE",
            Self::Cdr2Be => "CDR2_BE",
            Self::Cdr2Le => "CDR2_LE",
            Self::DCdr2Be => "D_CDR2_BE",
            Self::DCdr2Le => "D_CDR2_LE",
            Self::PlCdr2Be => "PL_CDR2_BE",
            Self::PlCdr2Le => "PL_CDR2_LE",
            Self::Other(_) => "OTHER",
        }
    }
}

impl fmt::Display for EncapsulationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Other(o) => write!(f, "{:#06x}", o),
            k => f.write_str(k.name()),
        }
    }
}

/// The 4-byte encapsulation header: identifier and options, both big-endian always.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Encapsulation {
    /// The representation.
    pub kind: EncapsulationKind,
    /// Options; the low two bits count padding bytes at the end of the data.
    pub options: u16,
}

impl Encapsulation {
    /// Encoded length.
    pub const LEN: usize = 4;

    /// Number of padding bytes at the end of the data, from the options.
    pub fn padding(&self) -> usize {
        (self.options & 3) as usize
    }

    /// Parses the first 4 bytes.
    pub fn parse(b: &[u8]) -> Result<Self> {
        let h = b.get(..4).ok_or(Error::Truncated)?;
        Ok(Encapsulation {
            kind: EncapsulationKind::from_u16(u16::from_be_bytes([h[0], h[1]])),
            options: u16::from_be_bytes([h[2], h[3]]),
        })
    }

    /// Writes the 4 bytes.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let h = buf.get_mut(..4).ok_or(Error::BufferTooSmall)?;
        h[..2].copy_from_slice(&self.kind.to_u16().to_be_bytes());
        h[2..].copy_from_slice(&self.options.to_be_bytes());
        Ok(4)
    }
}

/// A serialized payload: its encapsulation and the data after the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SerializedPayload<'a> {
    /// The encapsulation header.
    pub encapsulation: Encapsulation,
    /// The data after the header, padding included.
    pub data: &'a [u8],
}

impl<'a> SerializedPayload<'a> {
    /// Splits a payload into header and data.
    pub fn parse(b: &'a [u8]) -> Result<Self> {
        Ok(SerializedPayload {
            encapsulation: Encapsulation::parse(b)?,
            data: &b[4..],
        })
    }

    /// The data without the padding announced in the options (never below empty).
    pub fn unpadded(&self) -> &'a [u8] {
        let pad = self.encapsulation.padding().min(self.data.len());
        &self.data[..self.data.len() - pad]
    }
}
