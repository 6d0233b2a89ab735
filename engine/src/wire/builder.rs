//! Packs submessages into a caller's buffer behind an RTPS header.

use super::{
    align4, submessage_id, DataRepr, Endian, Error, HeaderRepr, SubmessageRepr, Time, HEADER_LEN,
    SUBMESSAGE_HEADER_LEN,
};
use core::fmt;

/// Why a submessage was not added to a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// The submessage does not fit in the space left; the message so far is intact.
    Full,
    /// The submessage cannot be encoded at all (for example a body above 65535 bytes).
    Invalid(Error),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Full => f.write_str("message full"),
            BuildError::Invalid(e) => write!(f, "cannot encode submessage: {}", e),
        }
    }
}

impl core::error::Error for BuildError {}

/// Writes an RTPS header, then submessages one after the other until the next would not fit.
///
/// ```
/// use pollen_engine::wire::*;
/// let mut buf = [0u8; 64];
/// let mut b = MessageBuilder::new(&mut buf, &HeaderRepr::new(GuidPrefix([1; 12]))).unwrap();
/// b.push(&SubmessageRepr::InfoTs(InfoTsRepr { timestamp: Some(Time::ZERO) })).unwrap();
/// assert_eq!(b.len(), 20 + 12);
/// ```
pub struct MessageBuilder<'a> {
    buf: &'a mut [u8],
    len: usize,
    count: usize,
    /// The source timestamp the submessages pushed next carry, as the last INFO_TS pushed
    /// set it (`None`: none, invalidated, or written in place by [`MessageBuilder::push_with`]).
    timestamp: Option<Time>,
}

/// The bytes every DATA of one writer to one reader starts with, built once per writer
/// (and reader id) instead of for every sample: the submessage header (its length left to
/// fill), extraFlags, octetsToInlineQos, the reader and writer ids, in one byte order.
/// [`MessageBuilder::push_sample`] writes a DATA from it: the common layout of a sample, with
/// no inline QoS and a serialized payload (D flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataTemplate {
    head: [u8; 16],
    endian: Endian,
}

impl DataTemplate {
    /// The template of the DATA `writer_id` sends `reader_id` (UNKNOWN: every reader).
    pub const fn new(
        endian: Endian,
        reader_id: super::EntityId,
        writer_id: super::EntityId,
    ) -> Self {
        let e = match endian {
            Endian::Little => 0x01,
            Endian::Big => 0x00,
        };
        // Little-endian 16 (octetsToInlineQos: the ids and the SN) or big-endian.
        let (q0, q1) = match endian {
            Endian::Little => (16, 0),
            Endian::Big => (0, 16),
        };
        let (r, w) = (reader_id.0, writer_id.0);
        DataTemplate {
            head: [
                submessage_id::DATA,
                e | super::flags::DATA_DATA,
                0,
                0,
                0,
                0,
                q0,
                q1,
                r[0],
                r[1],
                r[2],
                r[3],
                w[0],
                w[1],
                w[2],
                w[3],
            ],
            endian,
        }
    }
}

/// A point in a message being built, to go back to ([`MessageBuilder::rewind`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mark {
    len: usize,
    count: usize,
    timestamp: Option<Time>,
}

impl<'a> MessageBuilder<'a> {
    /// Starts a message in `buf` (which must hold at least the 20-byte header).
    pub fn new(buf: &'a mut [u8], header: &HeaderRepr) -> Result<Self, Error> {
        let len = header.emit(buf)?;
        Ok(MessageBuilder {
            buf,
            len,
            count: 0,
            timestamp: None,
        })
    }

    /// Appends a submessage if it fits.
    ///
    /// Every submessage is kept 4-aligned: a body whose length is not a multiple of 4 (a DATA
    /// payload, a DATA_FRAG tail, PAD or an opaque body) is followed by zero bytes counted in
    /// its `octetsToNextHeader`, as Fast DDS does; otherwise receivers reject everything after
    /// it. A DATA payload thus arrives with up to 3 trailing zero bytes.
    pub fn push(&mut self, sub: &SubmessageRepr<'_>) -> Result<(), BuildError> {
        if let SubmessageRepr::Data(d) = sub {
            return self.push_data(d);
        }
        let need = sub.buffer_len();
        let padded = align4(need);
        if padded > u16::MAX as usize + 4 {
            return Err(BuildError::Invalid(Error::TooLarge));
        }
        if padded > self.remaining() {
            return Err(BuildError::Full);
        }
        let n = sub
            .emit(&mut self.buf[self.len..])
            .map_err(BuildError::Invalid)?;
        if padded != n {
            let start = self.len;
            self.buf[start + n..start + padded].fill(0);
            let otnh = (padded - SUBMESSAGE_HEADER_LEN) as u16;
            let b = Endian::from_flags(self.buf[start + 1]).u16_bytes(otnh);
            self.buf[start + 2..start + 4].copy_from_slice(&b);
        }
        self.len += padded;
        self.count += 1;
        if let SubmessageRepr::InfoTs(ts) = sub {
            self.timestamp = ts.timestamp;
        }
        Ok(())
    }

    /// Appends a DATA, the submessage of every sample, written at fixed offsets: the same
    /// bytes as [`MessageBuilder::push`] of [`SubmessageRepr::Data`] (which comes here), in
    /// the DATA's own byte order, padded to 4 bytes.
    pub fn push_data(&mut self, d: &DataRepr<'_>) -> Result<(), BuildError> {
        let body = d.body_len();
        let padded = align4(body);
        let otnh = u16::try_from(padded).map_err(|_| BuildError::Invalid(Error::TooLarge))?;
        if SUBMESSAGE_HEADER_LEN + padded > self.remaining() {
            return Err(BuildError::Full);
        }
        let e = d.endian;
        let out = &mut self.buf[self.len..self.len + SUBMESSAGE_HEADER_LEN + padded];
        out[0] = submessage_id::DATA;
        out[1] = d.flags();
        out[2..4].copy_from_slice(&e.u16_bytes(otnh));
        // extraFlags, then octetsToInlineQos: the 16 bytes of ids and SN.
        out[4..6].copy_from_slice(&[0, 0]);
        out[6..8].copy_from_slice(&e.u16_bytes(16));
        out[8..12].copy_from_slice(&d.reader_id.0);
        out[12..16].copy_from_slice(&d.writer_id.0);
        out[16..20].copy_from_slice(&e.u32_bytes((d.writer_sn.0 >> 32) as u32));
        out[20..24].copy_from_slice(&e.u32_bytes(d.writer_sn.0 as u32));
        let mut at = 24;
        if let Some(q) = d.inline_qos {
            out[at..at + q.len()].copy_from_slice(q);
            at += q.len();
        }
        if let Some(p) = d.payload {
            out[at..at + p.len()].copy_from_slice(p);
            at += p.len();
        }
        // At most 3 bytes of padding.
        for b in &mut out[at..] {
            *b = 0;
        }
        self.len += SUBMESSAGE_HEADER_LEN + padded;
        self.count += 1;
        Ok(())
    }

    /// Appends the DATA of `t` for sample `sn` with serialized payload `payload`
    /// (encapsulation header included): the fast path of every small sample, the same bytes as
    /// [`MessageBuilder::push_data`] of the same DATA but for one thing: when the payload is a
    /// standard encapsulation whose options' low two bits are clear, they are set to the
    /// padding the builder adds (as Cyclone DDS does, so that XCDR2 readers see where the data
    /// ends). One length check for the whole submessage; the fixed fields are the template's
    /// 16 bytes and the SN.
    #[inline]
    pub fn push_sample(
        &mut self,
        t: &DataTemplate,
        sn: super::SequenceNumber,
        payload: &[u8],
    ) -> Result<(), BuildError> {
        let n = payload.len();
        let padded = align4(20 + n);
        let Ok(otnh) = u16::try_from(padded) else {
            return Err(BuildError::Invalid(Error::TooLarge));
        };
        let start = self.len;
        let Some(out) = self
            .buf
            .get_mut(start..start + SUBMESSAGE_HEADER_LEN + padded)
        else {
            return Err(BuildError::Full);
        };
        let (fixed, rest) = out.split_at_mut(24);
        fixed[..16].copy_from_slice(&t.head);
        fixed[2..4].copy_from_slice(&t.endian.u16_bytes(otnh));
        fixed[16..20].copy_from_slice(&t.endian.u32_bytes((sn.0 >> 32) as u32));
        fixed[20..24].copy_from_slice(&t.endian.u32_bytes(sn.0 as u32));
        let (data, pad) = rest.split_at_mut(n);
        super::copy_small(data, payload);
        // At most 3 bytes of padding.
        for b in pad.iter_mut() {
            *b = 0;
        }
        if !pad.is_empty() && n >= 4 && data[3] & 3 == 0 {
            data[3] |= pad.len() as u8;
        }
        if n == 0 {
            // No payload: no D flag.
            fixed[1] &= !super::flags::DATA_DATA;
        }
        self.len = start + SUBMESSAGE_HEADER_LEN + padded;
        self.count += 1;
        Ok(())
    }

    /// The source timestamp in effect for the next submessage: an INFO_TS holds for the rest
    /// of the message, so a sender need not repeat an equal one.
    pub fn timestamp(&self) -> Option<Time> {
        self.timestamp
    }

    /// Appends a submessage whose body the caller writes in place: `write` gets exactly
    /// `body_len` bytes. The header uses little-endian and the given id and flags. The body is
    /// zero-padded to a multiple of 4 like in [`MessageBuilder::push`]; an empty body is
    /// refused except for PAD and INFO_TS (for other ids `octetsToNextHeader` = 0 means "to
    /// the end of the message").
    pub fn push_with(
        &mut self,
        id: u8,
        flags: u8,
        body_len: usize,
        write: impl FnOnce(&mut [u8]),
    ) -> Result<(), BuildError> {
        if body_len == 0 && id != submessage_id::PAD && id != submessage_id::INFO_TS {
            return Err(BuildError::Invalid(Error::BadSubmessageLength));
        }
        let padded = align4(body_len);
        let otnh = u16::try_from(padded).map_err(|_| BuildError::Invalid(Error::TooLarge))?;
        if 4 + padded > self.remaining() {
            return Err(BuildError::Full);
        }
        let out = &mut self.buf[self.len..self.len + 4 + padded];
        out[0] = id;
        out[1] = flags | 0x01;
        out[2..4].copy_from_slice(&otnh.to_le_bytes());
        out[4 + body_len..].fill(0);
        write(&mut out[4..4 + body_len]);
        self.len += 4 + padded;
        self.count += 1;
        if id == submessage_id::INFO_TS {
            self.timestamp = None;
        }
        Ok(())
    }

    /// Bytes still free.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.len
    }

    /// Bytes written so far (header included).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no submessage has been added yet.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Number of submessages added.
    pub fn submessage_count(&self) -> usize {
        self.count
    }

    /// Where the message stands now, for [`MessageBuilder::rewind`].
    pub(crate) fn mark(&self) -> Mark {
        Mark {
            len: self.len,
            count: self.count,
            timestamp: self.timestamp,
        }
    }

    /// Forgets every submessage pushed since `m` was taken (the bytes after it are left as
    /// they are and overwritten by what is pushed next).
    pub(crate) fn rewind(&mut self, m: Mark) {
        if m.len <= self.len {
            self.len = m.len;
            self.count = m.count;
            self.timestamp = m.timestamp;
        }
    }

    /// Ends the message; returns its length.
    pub fn finish(self) -> usize {
        debug_assert!(self.len >= HEADER_LEN);
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{EntityId, GuidPrefix, Message, SequenceNumber};

    /// `push_sample` writes what `push_data` writes for a DATA without inline QoS (D flag,
    /// or no payload), except for the padding count in the encapsulation options; in both
    /// byte orders, for lengths that need 0 to 3 bytes of padding; and refuses what does not
    /// fit, leaving the message as it was.
    #[test]
    fn push_sample_matches_push_data() {
        let payloads: [&[u8]; 6] = [
            &[0, 1, 0, 0],
            &[0, 1, 0, 0, 9],
            &[0, 1, 0, 0, 9, 9],
            &[0, 1, 0, 0, 9, 9, 9],
            &[0, 1, 0, 2, 9],
            &[],
        ];
        for endian in [Endian::Little, Endian::Big] {
            let (reader_id, writer_id) = (EntityId::new(7, 0x04), EntityId::new(8, 0x03));
            let t = DataTemplate::new(endian, reader_id, writer_id);
            for p in payloads {
                let sn = SequenceNumber((3 << 32) | 0x1234_5678);
                let d = DataRepr {
                    endian,
                    reader_id,
                    writer_id,
                    writer_sn: sn,
                    inline_qos: None,
                    payload: (!p.is_empty()).then_some(p),
                    key_flag: false,
                    non_standard: false,
                };
                let header = HeaderRepr::new(GuidPrefix([1; 12]));
                let mut fast = [0u8; 128];
                let mut b = MessageBuilder::new(&mut fast, &header).unwrap();
                b.push_sample(&t, sn, p).unwrap();
                let n = b.finish();
                let mut slow = [0u8; 128];
                let mut b = MessageBuilder::new(&mut slow, &header).unwrap();
                b.push_data(&d).unwrap();
                assert_eq!(b.finish(), n);
                let pad = (4 - p.len() % 4) % 4;
                if pad > 0 && p.len() >= 4 && p[3] & 3 == 0 {
                    // The options count the padding.
                    slow[HEADER_LEN + 24 + 3] |= pad as u8;
                }
                assert_eq!(&fast[..n], &slow[..n], "{d:?}");
                let parsed = Message::parse(&fast[..n]).unwrap();
                let sub = parsed.submessages().next().unwrap().unwrap();
                let back = DataRepr::parse(&sub).unwrap();
                assert_eq!((back.writer_sn, back.reader_id), (sn, reader_id));
                // The payload runs to the submessage's end: its padding included.
                assert_eq!(back.payload.map_or(0, <[u8]>::len), align4(p.len()));
                assert_eq!(
                    &back.payload.unwrap_or(&[])[4.min(p.len())..p.len()],
                    &p[4.min(p.len())..]
                );
            }
            let mut small = [0u8; HEADER_LEN + 24 + 3];
            let mut b =
                MessageBuilder::new(&mut small, &HeaderRepr::new(GuidPrefix([1; 12]))).unwrap();
            assert_eq!(
                b.push_sample(&t, SequenceNumber(1), &[0, 1, 0, 0]),
                Err(BuildError::Full)
            );
            assert!(b.is_empty());
            assert_eq!(b.finish(), HEADER_LEN);
        }
    }

    /// `push_data` writes what the generic `SubmessageRepr::emit` writes, padded as `push`
    /// pads every other submessage: for each byte order, with and without inline QoS, for data
    /// and key payloads, no payload, and lengths that need 0 to 3 bytes of padding.
    #[test]
    fn push_data_matches_the_generic_emit() {
        let qos: &[u8] = &[0x70, 0, 4, 0, 1, 2, 3, 4, 1, 0, 0, 0];
        let payloads: [&[u8]; 5] = [
            &[0, 1, 0, 0],
            &[0, 1, 0, 0, 9],
            &[0, 1, 0, 0, 9, 9],
            &[0, 1, 0, 0, 9, 9, 9],
            &[],
        ];
        for endian in [Endian::Little, Endian::Big] {
            for inline_qos in [None, Some(qos)] {
                for (i, p) in payloads.iter().enumerate() {
                    let d = DataRepr {
                        endian,
                        reader_id: EntityId::new(7, 0x04),
                        writer_id: EntityId::new(8, 0x03),
                        writer_sn: SequenceNumber((3 << 32) | 0x1234_5678),
                        inline_qos,
                        payload: (!p.is_empty()).then_some(*p),
                        key_flag: i == 1,
                        non_standard: i == 2,
                    };
                    let mut fast = [0u8; 128];
                    let mut b =
                        MessageBuilder::new(&mut fast, &HeaderRepr::new(GuidPrefix([1; 12])))
                            .unwrap();
                    b.push_data(&d).unwrap();
                    let n = b.finish();
                    let sub = SubmessageRepr::Data(d);
                    let mut slow = [0u8; 128];
                    let len = sub.emit(&mut slow).unwrap();
                    let padded = align4(len);
                    let otnh = endian.u16_bytes((padded - SUBMESSAGE_HEADER_LEN) as u16);
                    slow[2..4].copy_from_slice(&otnh);
                    assert_eq!(n, HEADER_LEN + padded);
                    assert_eq!(&fast[HEADER_LEN..n], &slow[..padded], "{d:?}");
                }
            }
        }
    }
}
