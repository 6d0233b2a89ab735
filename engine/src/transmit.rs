//! Building datagrams in the caller's buffer: what a writer owes one reader, and the
//! submessages every datagram shares.

use crate::pool::Pool;
use crate::wire::{
    flags, submessage_id, BuildError, Count, Endian, EntityId, GapRepr, GuidPrefix, HeaderRepr,
    HeartbeatRepr, InfoDstRepr, InfoTsRepr, InlineQos, Locator, MessageBuilder, SequenceNumber,
    SequenceNumberSet, SubmessageRepr,
};
use crate::writer::{Change, ReaderProxy, Writer};

/// Where a datagram goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// One UDP locator (unicast or multicast).
    Udp(Locator),
}

/// A datagram the engine wrote into the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// Where to send it.
    pub destination: Destination,
    /// Its length at the start of the buffer.
    pub len: usize,
}

/// Bytes of the fixed DATA fields after the submessage header.
const DATA_FIXED: usize = 20;
/// Room for inline QoS with a key hash and status info.
const MAX_INLINE_QOS: usize = 4 + 16 + 4 + 4 + 4;

/// Upper bound of a datagram carrying one DATA of `payload` bytes with INFO_DST and INFO_TS.
pub(crate) const fn datagram_overhead() -> usize {
    20 + 16 + 12 + 4 + DATA_FIXED + MAX_INLINE_QOS
}

fn inline_qos(c: &Change, builtin: bool, buf: &mut [u8; MAX_INLINE_QOS]) -> Option<usize> {
    if c.status.0 == 0 && c.key_hash.is_none() && !builtin {
        return None;
    }
    let q = InlineQos {
        key_hash: c.key_hash,
        status_info: if c.status.0 != 0 {
            Some(c.status)
        } else {
            None
        },
    };
    q.emit(buf, Endian::Little).ok()
}

/// Appends INFO_TS (when the change has a timestamp) and DATA for `c`.
pub(crate) fn push_data(
    b: &mut MessageBuilder<'_>,
    pool: &Pool,
    writer_id: EntityId,
    reader_id: EntityId,
    c: &Change,
    builtin: bool,
) -> Result<(), BuildError> {
    let mut qbuf = [0u8; MAX_INLINE_QOS];
    let qlen = inline_qos(c, builtin, &mut qbuf);
    let body = DATA_FIXED + qlen.unwrap_or(0) + c.data.len();
    let ts_len = if c.timestamp.is_some() { 12 } else { 0 };
    if ts_len + 4 + ((body + 3) & !3) > b.remaining() {
        return Err(BuildError::Full);
    }
    if let Some(ts) = c.timestamp {
        b.push(&SubmessageRepr::InfoTs(InfoTsRepr {
            timestamp: Some(ts),
        }))?;
    }
    let mut fl = 0;
    if qlen.is_some() {
        fl |= flags::DATA_INLINE_QOS;
    }
    if c.data.len() > 0 {
        fl |= if c.status.0 != 0 {
            flags::DATA_KEY
        } else {
            flags::DATA_DATA
        };
    }
    b.push_with(submessage_id::DATA, fl, body, |out| {
        out[0..2].copy_from_slice(&0u16.to_le_bytes());
        out[2..4].copy_from_slice(&16u16.to_le_bytes());
        out[4..8].copy_from_slice(&reader_id.0);
        out[8..12].copy_from_slice(&writer_id.0);
        out[12..16].copy_from_slice(&((c.sn >> 32) as i32).to_le_bytes());
        out[16..20].copy_from_slice(&(c.sn as u32).to_le_bytes());
        let mut at = DATA_FIXED;
        if let Some(n) = qlen {
            out[at..at + n].copy_from_slice(&qbuf[..n]);
            at += n;
        }
        let n = pool.read(&c.data, &mut out[at..]);
        // The builder pads the submessage to 4 bytes; say so in the encapsulation options
        // (their low two bits count padding), as Cyclone does, so XCDR2 readers see the true
        // end of the data.
        let pad = (4 - n % 4) % 4;
        if pad > 0 && n >= 4 && c.status.0 == 0 && out[at + 3] & 3 == 0 {
            out[at + 3] |= pad as u8;
        }
    })
}

fn push_gap(
    b: &mut MessageBuilder<'_>,
    writer_id: EntityId,
    reader_id: EntityId,
    from: i64,
    to_exclusive: i64,
) -> Result<(), BuildError> {
    b.push(&SubmessageRepr::Gap(GapRepr {
        reader_id,
        writer_id,
        gap_start: SequenceNumber(from),
        gap_list: SequenceNumberSet::new(SequenceNumber(to_exclusive), 0),
    }))
}

fn heartbeat(w: &Writer, p: &ReaderProxy, count: u32) -> SubmessageRepr<'static> {
    let last = w.last_sn();
    let first = w.first_sn().max(p.start).min(last + 1);
    SubmessageRepr::Heartbeat(HeartbeatRepr {
        final_flag: p.acked >= last,
        liveliness_flag: false,
        reader_id: p.guid.entity,
        writer_id: w.guid.entity,
        first_sn: SequenceNumber(first),
        last_sn: SequenceNumber(last),
        count: Count(count),
    })
}

/// What one call packed for a proxy.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Packed {
    pub data: u32,
    pub repairs: u32,
    pub gaps: u32,
    pub heartbeats: u32,
}

/// Builds the next datagram a writer owes proxy `pi`: repairs first, then new samples, then a
/// heartbeat. Returns `None` when nothing is owed.
pub(crate) fn writer_datagram(
    w: &mut Writer,
    pi: usize,
    pool: &Pool,
    own: GuidPrefix,
    builtin: bool,
    buf: &mut [u8],
) -> Option<(usize, Locator, Packed)> {
    let p = w.proxies[pi]?;
    let last = w.last_sn();
    let owes_data = p.next_unsent <= last || p.has_repairs();
    if !owes_data && !p.heartbeat_owed {
        return None;
    }
    let mut b = MessageBuilder::new(buf, &HeaderRepr::new(own)).ok()?;
    b.push(&SubmessageRepr::InfoDst(InfoDstRepr {
        guid_prefix: p.guid.prefix,
    }))
    .ok()?;
    let mut packed = Packed::default();
    let mut proxy = p;
    let first = w.first_sn();
    // Repairs, lowest first; what is gone becomes a GAP.
    if proxy.has_repairs() {
        let mut left = proxy.requested;
        for sn in proxy.requested.iter() {
            let r = if sn.0 < proxy.start || sn.0 < first {
                push_gap(&mut b, w.guid.entity, p.guid.entity, sn.0, sn.0 + 1).map(|_| 1)
            } else {
                match w.change(sn.0) {
                    Some(c) => {
                        push_data(&mut b, pool, w.guid.entity, p.guid.entity, c, builtin).map(|_| 0)
                    }
                    None => {
                        push_gap(&mut b, w.guid.entity, p.guid.entity, sn.0, sn.0 + 1).map(|_| 1)
                    }
                }
            };
            match r {
                Ok(gap) => {
                    clear(&mut left, sn);
                    if gap == 1 {
                        packed.gaps += 1;
                    } else {
                        packed.repairs += 1;
                    }
                }
                Err(_) => break,
            }
        }
        proxy.requested = left;
    }
    // First-time sends.
    if !proxy.has_repairs() {
        if proxy.next_unsent < first && proxy.next_unsent <= last {
            let to = first.min(last + 1);
            if push_gap(
                &mut b,
                w.guid.entity,
                EntityId::UNKNOWN,
                proxy.next_unsent,
                to,
            )
            .is_ok()
            {
                proxy.next_unsent = to;
                packed.gaps += 1;
            }
        }
        while proxy.next_unsent <= last {
            let sn = proxy.next_unsent;
            let r = match w.change(sn) {
                Some(c) => push_data(&mut b, pool, w.guid.entity, EntityId::UNKNOWN, c, builtin)
                    .map(|_| false),
                None => {
                    push_gap(&mut b, w.guid.entity, EntityId::UNKNOWN, sn, sn + 1).map(|_| true)
                }
            };
            match r {
                Ok(gap) => {
                    proxy.next_unsent += 1;
                    if gap {
                        packed.gaps += 1;
                    } else {
                        packed.data += 1;
                    }
                }
                Err(_) => break,
            }
        }
    }
    // A heartbeat closes reliable datagrams that carried data, and answers what is owed.
    let sent_something = packed.data + packed.repairs + packed.gaps > 0;
    if proxy.reliable && (sent_something || proxy.heartbeat_owed) {
        let hb = heartbeat(w, &proxy, w.heartbeat_count.wrapping_add(1));
        if b.push(&hb).is_ok() {
            w.heartbeat_count = w.heartbeat_count.wrapping_add(1);
            proxy.heartbeat_owed = false;
            packed.heartbeats += 1;
        }
    } else if !proxy.reliable {
        proxy.heartbeat_owed = false;
    }
    if b.submessage_count() <= 1 {
        // Only INFO_DST: nothing fitted (cannot happen for samples sized at write time).
        w.proxies[pi] = Some(proxy);
        return None;
    }
    w.proxies[pi] = Some(proxy);
    Some((b.finish(), p.locator, packed))
}

fn clear(set: &mut SequenceNumberSet, sn: SequenceNumber) {
    let d = (sn.0 - set.base.0) as u32;
    if d < set.num_bits {
        set.bitmap[(d / 32) as usize] &= !(0x8000_0000 >> (d % 32));
    }
}
