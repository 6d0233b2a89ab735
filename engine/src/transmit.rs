//! Building datagrams in the caller's buffer: what a writer owes one reader, and the
//! submessages every datagram shares.
// Without the `frag` feature the fragment paths here are never called (and not linked).
#![cfg_attr(not(feature = "frag"), allow(dead_code))]

use crate::pool::Pool;
use crate::stream::{CycloneFraming, Framing};
use crate::wire::{
    flags, submessage_id, BuildError, Count, DataTemplate, Endian, EntityId, FragmentNumberSet,
    GapRepr, GuidPrefix, HeartbeatRepr, InfoDstRepr, InfoTsRepr, InlineQos, Locator,
    MessageBuilder, SequenceNumber, SequenceNumberSet, SubmessageRepr,
};
use crate::writer::{Change, ReaderProxy, Writer};

/// Where a datagram goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// One UDP locator (unicast or multicast).
    Udp(Locator),
    /// The stream connection to this TCPv4 locator: the driver uses the connection it has to
    /// it or opens one. The bytes are already framed.
    Tcp(Locator),
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
/// Key hash, status info, the related sample identity under both its ids, the sentinel.
const MAX_INLINE_QOS: usize = 4 + 16 + 4 + 4 + 2 * (4 + 24) + 4;

/// Bytes of a datagram around the fragment data of one DATA_FRAG: header, INFO_DST, INFO_TS,
/// the DATA_FRAG header and inline QoS, and a closing HEARTBEAT.
pub(crate) const fn fragment_overhead() -> usize {
    20 + 16 + 12 + 4 + 32 + MAX_INLINE_QOS + 32 + CycloneFraming::OVERHEAD
}

fn inline_qos(c: &Change, builtin: bool, buf: &mut [u8; MAX_INLINE_QOS]) -> Option<usize> {
    let related = c.related.get();
    if c.status.0 == 0 && c.key_hash.is_none() && related.is_none() && !builtin {
        return None;
    }
    let q = InlineQos {
        key_hash: c.key_hash,
        status_info: if c.status.0 != 0 {
            Some(c.status)
        } else {
            None
        },
        related,
    };
    q.emit(buf, Endian::Little).ok()
}

/// Appends INFO_TS (when the change has a timestamp) and DATA for `c`.
/// `t` is the template of DATA from `writer_id` to `reader_id`, made once per datagram.
pub(crate) fn push_data(
    b: &mut MessageBuilder<'_>,
    pool: &Pool<'_>,
    t: &DataTemplate,
    writer_id: EntityId,
    reader_id: EntityId,
    c: &Change,
    builtin: bool,
) -> Result<(), BuildError> {
    if cfg!(feature = "fast-paths")
        && c.status.0 == 0
        && c.key_hash.is_none()
        && !builtin
        && c.related.get().is_none()
    {
        // The common layout (no inline QoS, a serialized payload): when the payload is in one
        // pool block, the builder writes the DATA from the template and copies it straight
        // out of the pool.
        if let Some(p) = pool.small(&c.data) {
            // One INFO_TS per datagram while the timestamps agree: it holds for the rest of it.
            let ts = c.timestamp.filter(|t| b.timestamp() != Some(*t));
            if ts.is_some() && 12 + 4 + DATA_FIXED + ((p.len() + 3) & !3) > b.remaining() {
                // Not the INFO_TS without its DATA.
                return Err(BuildError::Full);
            }
            if let Some(ts) = ts {
                b.push(&SubmessageRepr::InfoTs(InfoTsRepr {
                    timestamp: Some(ts),
                }))?;
            }
            return b.push_sample(t, SequenceNumber(c.sn), p);
        }
    }
    let mut qbuf = [0u8; MAX_INLINE_QOS];
    let qlen = inline_qos(c, builtin, &mut qbuf);
    let body = DATA_FIXED + qlen.unwrap_or(0) + c.data.len();
    // One INFO_TS per datagram while the timestamps agree: it holds for the rest of it.
    let ts = c.timestamp.filter(|t| b.timestamp() != Some(*t));
    let ts_len = if ts.is_some() { 12 } else { 0 };
    if ts_len + 4 + ((body + 3) & !3) > b.remaining() {
        return Err(BuildError::Full);
    }
    if let Some(ts) = ts {
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

/// `ask`: whether the reader must answer even though it misses nothing it was announced.
fn heartbeat(w: &Writer<'_>, p: &ReaderProxy, count: u32, ask: bool) -> SubmessageRepr<'static> {
    // Announce only what this reader was sent: a sample still waiting (flow control) or still
    // being fragmented would otherwise be NACKed and resent beside its first sending.
    let last = w.last_sn().min(p.next_unsent - 1);
    let first = w.first_sn().max(p.start).min(last + 1);
    SubmessageRepr::Heartbeat(HeartbeatRepr {
        // FINAL tells the reader it need not answer: only once it has acknowledged everything.
        // A reader that never answered must (Fast DDS sends nothing to a FINAL heartbeat of an
        // empty writer, so the writer would never learn it is known and ready).
        // Below half the window a heartbeat riding on new data need not be answered either
        // (`Writer::ack_wanted`): a reader that misses nothing stays silent, one that misses
        // something answers anyway, and the periodic heartbeat asks for the rest.
        final_flag: (p.acked >= last || !ask) && p.ack_guard.seen(),
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

/// Appends INFO_TS (when the change has a timestamp) and one DATA_FRAG carrying as many whole
/// fragments from `first` as fit (at most `max`); returns how many it carried.
#[allow(clippy::too_many_arguments)]
fn push_data_frag(
    b: &mut MessageBuilder<'_>,
    pool: &Pool<'_>,
    writer_id: EntityId,
    reader_id: EntityId,
    c: &Change,
    fragment_size: usize,
    first: u32,
    max: u32,
    builtin: bool,
) -> Result<u32, BuildError> {
    let len = c.data.len();
    let total = len.div_ceil(fragment_size) as u32;
    if first == 0 || first > total {
        return Err(BuildError::Full);
    }
    let mut qbuf = [0u8; MAX_INLINE_QOS];
    // Inline QoS travels with the first fragment only.
    let qlen = if first == 1 {
        inline_qos(c, builtin, &mut qbuf)
    } else {
        None
    };
    let ts = c.timestamp.filter(|t| b.timestamp() != Some(*t));
    let ts_len = if ts.is_some() { 12 } else { 0 };
    let fixed = 4 + 32 + qlen.unwrap_or(0) + ts_len;
    let space = b.remaining().saturating_sub(fixed);
    let offset = (first as usize - 1) * fragment_size;
    let bytes_for = |k: u32| (k as usize * fragment_size).min(len - offset);
    let mut k = max.min(total - first + 1);
    while k > 0 && (bytes_for(k) + 3) & !3 > space {
        k -= 1;
    }
    if k == 0 {
        return Err(BuildError::Full);
    }
    let bytes = bytes_for(k);
    if let Some(ts) = ts {
        b.push(&SubmessageRepr::InfoTs(InfoTsRepr {
            timestamp: Some(ts),
        }))?;
    }
    let mut fl = 0;
    if qlen.is_some() {
        fl |= flags::DATA_FRAG_INLINE_QOS;
    }
    if c.status.0 != 0 {
        fl |= flags::DATA_FRAG_KEY;
    }
    let body = 32 + qlen.unwrap_or(0) + bytes;
    b.push_with(submessage_id::DATA_FRAG, fl, body, |out| {
        out[0..2].copy_from_slice(&0u16.to_le_bytes());
        out[2..4].copy_from_slice(&28u16.to_le_bytes());
        out[4..8].copy_from_slice(&reader_id.0);
        out[8..12].copy_from_slice(&writer_id.0);
        out[12..16].copy_from_slice(&((c.sn >> 32) as i32).to_le_bytes());
        out[16..20].copy_from_slice(&(c.sn as u32).to_le_bytes());
        out[20..24].copy_from_slice(&first.to_le_bytes());
        out[24..26].copy_from_slice(&(k as u16).to_le_bytes());
        out[26..28].copy_from_slice(&(fragment_size as u16).to_le_bytes());
        out[28..32].copy_from_slice(&(len as u32).to_le_bytes());
        let mut at = 32;
        if let Some(n) = qlen {
            out[at..at + n].copy_from_slice(&qbuf[..n]);
            at += n;
        }
        pool.read_at(&c.data, offset, &mut out[at..at + bytes]);
    })?;
    Ok(k)
}

/// Sends a whole sample: as one DATA when it fits a fragment, else as DATA_FRAGs from
/// `*cursor` (the next fragment number, 1-based) on. Returns whether the sample is complete;
/// `Err` when nothing fitted.
#[allow(clippy::too_many_arguments)]
fn push_sample(
    b: &mut MessageBuilder<'_>,
    pool: &Pool<'_>,
    t: &DataTemplate,
    writer_id: EntityId,
    reader_id: EntityId,
    c: &Change,
    fragment_size: usize,
    cursor: &mut u32,
    builtin: bool,
) -> Result<bool, BuildError> {
    if c.data.len() <= fragment_size {
        push_data(b, pool, t, writer_id, reader_id, c, builtin)?;
        return Ok(true);
    }
    // Without the `frag` feature only a builtin announcement can be this large (user samples
    // are refused by `write`); it is skipped, as a datagram could not carry it.
    #[cfg(not(feature = "frag"))]
    {
        let _ = cursor;
        Ok(true)
    }
    #[cfg(feature = "frag")]
    {
        let total = c.data.len().div_ceil(fragment_size) as u32;
        let mut progress = false;
        while (*cursor).max(1) <= total {
            let from = (*cursor).max(1);
            match push_data_frag(
                b,
                pool,
                writer_id,
                reader_id,
                c,
                fragment_size,
                from,
                u32::MAX,
                builtin,
            ) {
                Ok(k) => {
                    *cursor = from + k;
                    progress = true;
                }
                Err(e) if !progress => return Err(e),
                Err(_) => return Ok(false),
            }
        }
        *cursor = 1;
        Ok(true)
    }
}

/// Builds the next datagram a writer owes proxy `pi`: fragment repairs, sample repairs, then
/// new samples (within the flow-control window), then a heartbeat. Returns `None` when
/// nothing is owed.
#[cfg(test)]
pub(crate) fn writer_datagram(
    w: &mut Writer<'_>,
    pi: u32,
    pool: &Pool<'_>,
    own: GuidPrefix,
    builtin: bool,
    fragment_size: usize,
    buf: &mut [u8],
) -> Option<(usize, Locator, Packed)> {
    let mut b = MessageBuilder::new(buf, &crate::wire::HeaderRepr::new(own)).ok()?;
    let (to, packed) = push_writer(w, pi, pool, builtin, fragment_size, &mut b, None)?;
    Some((b.finish(), to, packed))
}

/// Appends to `b` what a writer owes proxy `pi`: fragment repairs, sample repairs, then new
/// samples (within the flow-control window), then a heartbeat; after an INFO_DST unless
/// `dst` (the INFO_DST in effect in `b`) already names the proxy's participant. Returns where
/// the datagram goes, or `None` when nothing is owed or nothing fitted (`b` is then as it
/// was).
pub(crate) fn push_writer(
    w: &mut Writer<'_>,
    pi: u32,
    pool: &Pool<'_>,
    builtin: bool,
    fragment_size: usize,
    b: &mut MessageBuilder<'_>,
    dst: Option<GuidPrefix>,
) -> Option<(Locator, Packed)> {
    let p = *w.proxy(pi)?;
    let marks = w.proxy_marks(pi);
    let last = w.last_sn();
    let new_data = p.next_unsent <= last;
    if !new_data && !p.heartbeat_owed && !p.nack_frag_pending() && !p.has_repairs() {
        return None;
    }
    // The window costs a walk of the history: only when there is something new to send.
    // A sample already started always finishes, whatever its size against the window.
    // An unresponsive reader gets no new data until it acknowledges again.
    let window_open = new_data
        && !p.unresponsive
        && (!p.reliable || p.frag_next() > 1 || w.in_flight(&p) < w.in_flight_limit);
    let owes_data = window_open || p.has_repairs() || p.nack_frag_pending();
    if !owes_data && !p.heartbeat_owed {
        return None;
    }
    let start = b.mark();
    let before = b.submessage_count();
    if dst != Some(p.guid.prefix) {
        b.push(&SubmessageRepr::InfoDst(InfoDstRepr {
            guid_prefix: p.guid.prefix,
        }))
        .ok()?;
    }
    let dst_len = b.submessage_count() - before;
    let b = &mut *b;
    let mut packed = Packed::default();
    let mut proxy = p;
    let first = w.first_sn();
    let (wid, rid) = (w.guid.entity, p.guid.entity);
    let mut full = false;
    // Fragments a reader asked for by NACK_FRAG.
    #[cfg(feature = "frag")]
    if let Some((sn, mut set)) = proxy.nack_frag {
        match w.change(sn) {
            Some(c) if c.data.len() > fragment_size => {
                let asked = set;
                let total = c.data.len().div_ceil(fragment_size) as u32;
                for n in asked.iter() {
                    if n == 0 || n > total {
                        // Not a fragment of this sample: nothing to send, forget the request.
                        clear_fragment(&mut set, n);
                        continue;
                    }
                    match push_data_frag(b, pool, wid, rid, c, fragment_size, n, 1, builtin) {
                        Ok(_) => {
                            clear_fragment(&mut set, n);
                            packed.repairs += 1;
                        }
                        Err(_) => {
                            full = true;
                            break;
                        }
                    }
                }
                proxy.nack_frag = if set.iter().next().is_some() {
                    Some((sn, set))
                } else {
                    None
                };
            }
            _ => proxy.nack_frag = None,
        }
    }
    // Samples a reader asked for again, lowest first; what is gone becomes a GAP.
    if !full && proxy.has_repairs() {
        let t = DataTemplate::new(Endian::Little, rid, wid);
        let mut left = proxy.requested;
        let asked = proxy.requested;
        for sn in asked.iter() {
            let change = if sn.0 < proxy.start || sn.0 < first {
                None
            } else {
                w.change(sn.0)
            };
            let r = match change {
                Some(c) => {
                    let mut cursor = proxy.repair_cursor(sn.0);
                    let r = push_sample(
                        b,
                        pool,
                        &t,
                        wid,
                        rid,
                        c,
                        fragment_size,
                        &mut cursor,
                        builtin,
                    );
                    proxy.set_repair_cursor(sn.0, cursor);
                    r.map(|done| (done, false))
                }
                None => push_gap(b, wid, rid, sn.0, sn.0 + 1).map(|_| (true, true)),
            };
            match r {
                Ok((true, gap)) => {
                    left.remove(sn.0);
                    proxy.set_repair_cursor(0, 1);
                    if gap {
                        packed.gaps += 1;
                    } else {
                        packed.repairs += 1;
                    }
                }
                Ok((false, _)) | Err(_) => {
                    full = true;
                    break;
                }
            }
        }
        proxy.requested = left;
    }
    // First-time sends.
    let gaps_repaired = packed.gaps;
    if !full && !proxy.has_repairs() && window_open {
        if proxy.next_unsent < first && proxy.next_unsent <= last {
            let to = first.min(last + 1);
            if push_gap(b, wid, EntityId::UNKNOWN, proxy.next_unsent, to).is_ok() {
                proxy.next_unsent = to;
                packed.gaps += 1;
            }
        }
        // Bytes in flight, counted once and then grown by each sample sent whole (what
        // `Writer::in_flight` would say again before every sample).
        // Every new sample goes to every reader of the writer (reader id UNKNOWN).
        let t = DataTemplate::new(Endian::Little, EntityId::UNKNOWN, wid);
        let mut flight = if proxy.reliable {
            w.in_flight(&proxy)
        } else {
            0
        };
        // The history is walked once, not searched for every SN (`Writer::next_change`).
        let mut pos = w.cursor(proxy.next_unsent);
        while proxy.next_unsent <= last {
            if proxy.reliable && proxy.frag_next() <= 1 && flight >= w.in_flight_limit {
                break;
            }
            let sn = proxy.next_unsent;
            let mut cursor = proxy.frag_next();
            let mut size = 0;
            let r = match w.next_change(&mut pos, sn) {
                Some(c) => {
                    // A sample already started is in `flight` already.
                    if cursor <= 1 {
                        size = c.data.len();
                    }
                    push_sample(
                        b,
                        pool,
                        &t,
                        wid,
                        EntityId::UNKNOWN,
                        c,
                        fragment_size,
                        &mut cursor,
                        builtin,
                    )
                    .map(|done| (done, false))
                }
                None => push_gap(b, wid, EntityId::UNKNOWN, sn, sn + 1).map(|_| (true, true)),
            };
            proxy.set_frag_next(cursor);
            match r {
                Ok((true, gap)) => {
                    proxy.next_unsent += 1;
                    proxy.set_frag_next(1);
                    flight += size;
                    if gap {
                        packed.gaps += 1;
                    } else {
                        packed.data += 1;
                    }
                }
                Ok((false, _)) => {
                    packed.data += 1;
                    break;
                }
                Err(_) => break,
            }
        }
    }
    // A heartbeat closes reliable datagrams that carried new samples (or GAPs for them), and
    // answers what is owed. Repairs alone carry none: the reader answers a heartbeat at once,
    // so a reader that cannot keep the repaired sample (a full KEEP_ALL queue) would ask for it
    // again and again, as fast as the round trip. The periodic heartbeat covers lost repairs.
    let sent_new = packed.data > 0 || packed.gaps > gaps_repaired;
    if proxy.reliable && (sent_new || proxy.heartbeat_owed) {
        // An owed heartbeat (timer, match, request) always asks; the SEDP writers always ask,
        // as the peers' discovery expects.
        let ask = proxy.heartbeat_owed || builtin || w.ack_wanted(&proxy);
        let hb = heartbeat(w, &proxy, w.heartbeat_count.wrapping_add(1), ask);
        if b.push(&hb).is_ok() {
            w.heartbeat_count = w.heartbeat_count.wrapping_add(1);
            proxy.heartbeat_owed = false;
            packed.heartbeats += 1;
        }
    } else if !proxy.reliable {
        proxy.heartbeat_owed = false;
    }
    if let Some(slot) = w.proxy_mut(pi) {
        *slot = proxy;
    }
    w.proxy_moved(pi, marks);
    if b.submessage_count() <= before + dst_len {
        // At most an INFO_DST: nothing fitted.
        b.rewind(start);
        return None;
    }
    Some((p.locator, packed))
}

fn clear_fragment(set: &mut FragmentNumberSet, n: u32) {
    let d = n.wrapping_sub(set.base);
    if d < set.num_bits {
        set.bitmap[(d / 32) as usize] &= !(0x8000_0000 >> (d % 32));
    }
}
