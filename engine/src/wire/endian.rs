//! Byte order and a bounds-checked cursor over a submessage body.

use super::{Error, Result};

/// The byte order of a submessage body or a parameter list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endian {
    /// Most significant byte first (E flag clear, `*_BE` encapsulations).
    Big,
    /// Least significant byte first (E flag set, `*_LE` encapsulations).
    Little,
}

impl Endian {
    /// The byte order selected by a submessage's flags (bit 0 = E).
    #[inline]
    pub const fn from_flags(flags: u8) -> Endian {
        if flags & 0x01 != 0 {
            Endian::Little
        } else {
            Endian::Big
        }
    }

    /// The E flag bit for this order.
    #[inline]
    pub const fn flag(self) -> u8 {
        match self {
            Endian::Big => 0,
            Endian::Little => 1,
        }
    }

    #[inline]
    pub(crate) fn u16(self, b: [u8; 2]) -> u16 {
        match self {
            Endian::Big => u16::from_be_bytes(b),
            Endian::Little => u16::from_le_bytes(b),
        }
    }

    #[inline]
    pub(crate) fn u32(self, b: [u8; 4]) -> u32 {
        match self {
            Endian::Big => u32::from_be_bytes(b),
            Endian::Little => u32::from_le_bytes(b),
        }
    }

    #[inline]
    pub(crate) fn u16_bytes(self, v: u16) -> [u8; 2] {
        match self {
            Endian::Big => v.to_be_bytes(),
            Endian::Little => v.to_le_bytes(),
        }
    }

    #[inline]
    pub(crate) fn u32_bytes(self, v: u32) -> [u8; 4] {
        match self {
            Endian::Big => v.to_be_bytes(),
            Endian::Little => v.to_le_bytes(),
        }
    }
}

/// A forward-only reader over a byte slice; every read is bounds-checked.
#[derive(Debug, Clone)]
pub(crate) struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
    pub(crate) endian: Endian,
}

impl<'a> Cursor<'a> {
    #[inline]
    pub(crate) fn new(data: &'a [u8], endian: Endian) -> Self {
        Cursor {
            data,
            pos: 0,
            endian,
        }
    }

    #[inline]
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    #[inline]
    pub(crate) fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    #[inline]
    pub(crate) fn rest(&self) -> &'a [u8] {
        &self.data[self.pos..]
    }

    #[inline]
    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.remaining() < n {
            return Err(Error::Truncated);
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    #[inline]
    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let s = self.bytes(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    #[inline]
    pub(crate) fn u16(&mut self) -> Result<u16> {
        let b = self.array()?;
        Ok(self.endian.u16(b))
    }

    #[inline]
    pub(crate) fn u32(&mut self) -> Result<u32> {
        let b = self.array()?;
        Ok(self.endian.u32(b))
    }

    #[inline]
    pub(crate) fn i32(&mut self) -> Result<i32> {
        Ok(self.u32()? as i32)
    }

    /// Skips to the next multiple of `n` (relative to the start of the cursor's slice).
    pub(crate) fn align(&mut self, n: usize) -> Result<()> {
        let pad = (n - self.pos % n) % n;
        self.bytes(pad).map(|_| ())
    }
}

/// A forward-only writer into a byte slice, little-endian unless told otherwise.
pub(crate) struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
    pub(crate) endian: Endian,
}

impl<'a> Writer<'a> {
    #[inline]
    pub(crate) fn new(buf: &'a mut [u8], endian: Endian) -> Self {
        Writer {
            buf,
            pos: 0,
            endian,
        }
    }

    #[inline]
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    // Inlined for speed with `fast-paths`; one copy for every field of every submessage
    // without (about 500 bytes of flash less on a microcontroller).
    #[cfg_attr(feature = "fast-paths", inline)]
    #[cfg_attr(not(feature = "fast-paths"), inline(never))]
    pub(crate) fn bytes(&mut self, b: &[u8]) -> Result<()> {
        let end = self.pos.checked_add(b.len()).ok_or(Error::BufferTooSmall)?;
        let dst = self
            .buf
            .get_mut(self.pos..end)
            .ok_or(Error::BufferTooSmall)?;
        dst.copy_from_slice(b);
        self.pos = end;
        Ok(())
    }

    pub(crate) fn zeros(&mut self, n: usize) -> Result<()> {
        let end = self.pos.checked_add(n).ok_or(Error::BufferTooSmall)?;
        let dst = self
            .buf
            .get_mut(self.pos..end)
            .ok_or(Error::BufferTooSmall)?;
        dst.fill(0);
        self.pos = end;
        Ok(())
    }

    pub(crate) fn u8(&mut self, v: u8) -> Result<()> {
        self.bytes(&[v])
    }

    #[inline]
    pub(crate) fn u16(&mut self, v: u16) -> Result<()> {
        let b = self.endian.u16_bytes(v);
        self.bytes(&b)
    }

    #[inline]
    pub(crate) fn u32(&mut self, v: u32) -> Result<()> {
        let b = self.endian.u32_bytes(v);
        self.bytes(&b)
    }

    #[inline]
    pub(crate) fn i32(&mut self, v: i32) -> Result<()> {
        self.u32(v as u32)
    }

    /// Writes a u16 at an earlier position (for lengths known only afterwards).
    pub(crate) fn patch_u16(&mut self, at: usize, v: u16) {
        let b = self.endian.u16_bytes(v);
        self.buf[at..at + 2].copy_from_slice(&b);
    }

    /// Pads with zeros to the next multiple of `n` relative to the start of the writer.
    pub(crate) fn align(&mut self, n: usize) -> Result<()> {
        let pad = (n - self.pos % n) % n;
        self.zeros(pad)
    }
}
