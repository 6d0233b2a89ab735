//! The reader state machine: writer proxies, ordered exactly-once delivery, ACKNACK.
//!
//! Received samples live in the payload pool; a reader owns a bounded set of slots holding
//! both samples delivered and waiting for `take` and out-of-order samples waiting for a hole to
//! fill. A reliable reader that has no room does not acknowledge, so the writer repairs later:
//! nothing accepted is ever lost.

use crate::limits::{MAX_FRAGMENTS, MAX_MATCHED, MAX_READER_SAMPLES, MAX_REASSEMBLIES, MAX_SAMPLE};
use crate::pool::{Bytes, Pool};
use crate::qos::History;
use crate::time::{Instant, Span};
use crate::wire::{
    AckNackRepr, Count, EntityId, FragmentNumberSet, GapRepr, Guid, HeartbeatRepr, Locator,
    NackFragRepr, SequenceNumber, SequenceNumberSet, StatusInfo, Time, MAX_SET_BITS,
};

/// Period of pre-emptive ACKNACKs until the first HEARTBEAT.
const PREEMPTIVE_PERIOD: Span = Span::from_secs(1);

/// What a reader knows about one matched remote writer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WriterProxy {
    pub guid: Guid,
    pub locator: Locator,
    pub reliable: bool,
    /// Every SN below this was delivered or is irrelevant.
    pub next: i64,
    /// Highest SN the writer said it has.
    pub last_available: i64,
    pub last_heartbeat_count: Option<Count>,
    pub heartbeat_seen: bool,
    pub ack_owed: bool,
    pub next_preemptive: Option<Instant>,
}

/// A received sample.
#[derive(Debug)]
pub(crate) struct Sample {
    pub writer: Guid,
    pub sn: i64,
    /// `None` for an SN a GAP declared irrelevant (kept only while out of order).
    pub data: Option<Bytes>,
    pub timestamp: Option<Time>,
    pub status: StatusInfo,
    pub key_hash: Option<[u8; 16]>,
    /// Delivery order; `None` while waiting for earlier SNs.
    pub order: Option<u64>,
}

/// What happened to a received DATA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Received {
    /// Stored; `delivered` samples became available to `take`.
    Accepted { delivered: usize },
    /// Already delivered or buffered.
    Duplicate,
    /// No room now; a reliable writer will repair it.
    NoSpace,
    /// Not from a matched writer.
    Unknown,
    /// Inconsistent fragment fields (sizes, numbers).
    Invalid,
}

/// Where a received payload is: still in the datagram, or already in the pool (a reassembled
/// sample).
pub(crate) enum Payload<'a> {
    Slice(&'a [u8]),
    Stored(Bytes),
}

/// A sample as handed to the engine by `on_data`.
pub(crate) struct Incoming<'a> {
    pub writer: Guid,
    pub sn: i64,
    pub payload: Payload<'a>,
    pub timestamp: Option<Time>,
    pub status: StatusInfo,
    pub key_hash: Option<[u8; 16]>,
}

impl Incoming<'_> {
    /// Returns a pool-held payload that was not kept.
    fn discard(self, pool: &mut Pool) {
        if let Payload::Stored(b) = self.payload {
            pool.free(b);
        }
    }
}

/// Some fragments of a sample, as handed to the engine by `on_data_frag`.
pub(crate) struct IncomingFrag<'a> {
    pub writer: Guid,
    pub sn: i64,
    pub sample_size: u32,
    pub fragment_size: u16,
    /// First fragment number carried (1-based).
    pub first: u32,
    pub count: u16,
    pub data: &'a [u8],
    pub timestamp: Option<Time>,
    pub status: StatusInfo,
    pub key_hash: Option<[u8; 16]>,
}

/// A sample being put back together from its fragments.
pub(crate) struct Reassembly {
    writer: Guid,
    sn: i64,
    sample_size: u32,
    fragment_size: u16,
    total: u32,
    received: u32,
    bits: [u32; MAX_FRAGMENTS / 32],
    data: Bytes,
    timestamp: Option<Time>,
    status: StatusInfo,
    key_hash: Option<[u8; 16]>,
}

impl Reassembly {
    fn has(&self, n: u32) -> bool {
        let i = (n - 1) as usize;
        self.bits[i / 32] & (1 << (i % 32)) != 0
    }

    fn set(&mut self, n: u32) {
        let i = (n - 1) as usize;
        self.bits[i / 32] |= 1 << (i % 32);
        self.received += 1;
    }
}

pub(crate) struct Reader {
    pub guid: Guid,
    pub reliable: bool,
    pub history: History,
    pub max_samples: usize,
    pub proxies: [Option<WriterProxy>; MAX_MATCHED],
    slots: [Option<Sample>; MAX_READER_SAMPLES],
    frags: [Option<Reassembly>; MAX_REASSEMBLIES],
    next_order: u64,
    pub acknack_count: u32,
    nack_frag_count: u32,
    /// Set when samples were delivered since the application last emptied the queue.
    pub notify: bool,
}

impl Reader {
    pub(crate) const fn new(
        guid: Guid,
        reliable: bool,
        history: History,
        max_samples: usize,
    ) -> Self {
        Reader {
            guid,
            reliable,
            history,
            max_samples: crate::limits::clamp(max_samples, 1, MAX_READER_SAMPLES),
            proxies: [None; MAX_MATCHED],
            slots: [const { None }; MAX_READER_SAMPLES],
            frags: [const { None }; MAX_REASSEMBLIES],
            next_order: 0,
            acknack_count: 0,
            nack_frag_count: 0,
            notify: false,
        }
    }

    pub(crate) fn entity(&self) -> EntityId {
        self.guid.entity
    }

    pub(crate) fn add_proxy(
        &mut self,
        now: Instant,
        guid: Guid,
        locator: Locator,
        reliable: bool,
    ) -> bool {
        if let Some(p) = self.proxies.iter_mut().flatten().find(|p| p.guid == guid) {
            p.locator = locator;
            return true;
        }
        let Some(slot) = self.proxies.iter_mut().find(|p| p.is_none()) else {
            return false;
        };
        let reliable = reliable && self.reliable;
        *slot = Some(WriterProxy {
            guid,
            locator,
            reliable,
            next: 1,
            last_available: 0,
            last_heartbeat_count: None,
            heartbeat_seen: false,
            ack_owed: reliable,
            next_preemptive: if reliable {
                Some(now + PREEMPTIVE_PERIOD)
            } else {
                None
            },
        });
        true
    }

    /// Removes a writer proxy and the samples still waiting for order from it.
    pub(crate) fn remove_proxy(&mut self, guid: Guid, pool: &mut Pool) -> bool {
        let mut found = false;
        for p in self.proxies.iter_mut() {
            if p.is_some_and(|p| p.guid == guid) {
                *p = None;
                found = true;
            }
        }
        self.drop_reassemblies_below(pool, guid, i64::MAX);
        for s in self.slots.iter_mut() {
            if s.as_ref()
                .is_some_and(|s| s.writer == guid && s.order.is_none())
            {
                if let Some(Sample { data: Some(d), .. }) = s.take() {
                    pool.free(d);
                }
            }
        }
        found
    }

    pub(crate) fn proxy(&self, guid: Guid) -> Option<&WriterProxy> {
        self.proxies.iter().flatten().find(|p| p.guid == guid)
    }

    fn proxy_mut(&mut self, guid: Guid) -> Option<&mut WriterProxy> {
        self.proxies.iter_mut().flatten().find(|p| p.guid == guid)
    }

    fn delivered_count(&self) -> usize {
        self.slots
            .iter()
            .flatten()
            .filter(|s| s.order.is_some())
            .count()
    }

    fn has_sample(&self, writer: Guid, sn: i64) -> bool {
        self.find_slot(writer, sn).is_some()
    }

    fn find_slot(&self, writer: Guid, sn: i64) -> Option<usize> {
        self.slots
            .iter()
            .position(|s| s.as_ref().is_some_and(|s| s.writer == writer && s.sn == sn))
    }

    /// Room for one more delivered sample? KEEP_LAST makes room by dropping the oldest.
    fn make_room(&mut self, pool: &mut Pool, replaced: &mut u64) -> bool {
        let limit = match self.history {
            History::KeepLast(n) => (n as usize).clamp(1, self.max_samples),
            History::KeepAll => self.max_samples,
        };
        if self.delivered_count() < limit {
            return true;
        }
        if self.history == History::KeepAll {
            return false;
        }
        if let Some(i) = self.oldest_delivered() {
            if let Some(Sample { data: Some(d), .. }) = self.slots[i].take() {
                pool.free(d);
            }
            *replaced += 1;
        }
        true
    }

    fn oldest_delivered(&self) -> Option<usize> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().and_then(|s| s.order).map(|o| (o, i)))
            .min()
            .map(|(_, i)| i)
    }

    fn mark_delivered(&mut self, i: usize) {
        if let Some(s) = self.slots[i].as_mut() {
            s.order = Some(self.next_order);
            self.next_order += 1;
            self.notify = true;
        }
    }

    /// Delivers buffered samples that are now in order; returns how many.
    fn drain_in_order(&mut self, pool: &mut Pool, writer: Guid, replaced: &mut u64) -> usize {
        let n = self.drain_in_order_inner(pool, writer, replaced);
        // Whatever was partial below the new `next` was delivered whole or declared gone.
        if let Some(next) = self.proxy(writer).map(|p| p.next) {
            self.drop_reassemblies_below(pool, writer, next);
        }
        n
    }

    fn drain_in_order_inner(&mut self, pool: &mut Pool, writer: Guid, replaced: &mut u64) -> usize {
        let mut n = 0;
        loop {
            let Some(next) = self.proxy(writer).map(|p| p.next) else {
                return n;
            };
            let Some(i) = self.find_slot(writer, next) else {
                return n;
            };
            let is_gap = self.slots[i].as_ref().is_some_and(|s| s.data.is_none());
            if is_gap {
                self.slots[i] = None;
            } else {
                if !self.make_room(pool, replaced) {
                    return n;
                }
                self.mark_delivered(i);
                n += 1;
            }
            if let Some(p) = self.proxy_mut(writer) {
                p.next = p.next.saturating_add(1);
            }
        }
    }

    /// Takes in a DATA (or a reassembled DATA_FRAG sample) from `s.writer`.
    pub(crate) fn on_data(
        &mut self,
        pool: &mut Pool,
        s: Incoming<'_>,
        replaced: &mut u64,
    ) -> Received {
        let Some(p) = self.proxy(s.writer).copied() else {
            s.discard(pool);
            return Received::Unknown;
        };
        if s.sn < p.next || (p.reliable && self.find_slot(s.writer, s.sn).is_some()) {
            s.discard(pool);
            return Received::Duplicate;
        }
        if !p.reliable {
            // Best effort: deliver anything newer, never anything twice.
            if !self.make_room(pool, replaced) {
                s.discard(pool);
                return Received::NoSpace;
            }
            let (writer, sn) = (s.writer, s.sn);
            let i = match self.store(pool, s) {
                Ok(i) => i,
                Err(s) => {
                    s.discard(pool);
                    return Received::NoSpace;
                }
            };
            self.mark_delivered(i);
            if let Some(p) = self.proxy_mut(writer) {
                p.next = sn.saturating_add(1);
            }
            self.drop_reassemblies_below(pool, writer, sn.saturating_add(1));
            return Received::Accepted { delivered: 1 };
        }
        if s.sn - p.next >= MAX_SET_BITS as i64 {
            // Too far ahead to track; the writer will send it again.
            s.discard(pool);
            return Received::NoSpace;
        }
        if s.sn == p.next && matches!(self.history, History::KeepLast(_)) {
            // KEEP_LAST never refuses the next sample: the oldest untaken one makes way.
            self.make_room(pool, replaced);
        }
        if s.sn == p.next {
            // In order: deliver only if there is room, else let the writer repair later.
            let limit = match self.history {
                History::KeepAll => self.max_samples,
                History::KeepLast(_) => usize::MAX,
            };
            if self.delivered_count() >= limit {
                s.discard(pool);
                return Received::NoSpace;
            }
        }
        let (writer, sn) = (s.writer, s.sn);
        if let Err(s) = self.store(pool, s) {
            // The sample everything waits for must not be starved by samples buffered ahead of
            // it: give it the slot of the highest buffered one (which will be repaired again).
            if sn != p.next || !self.evict_highest_pending(pool) {
                s.discard(pool);
                return Received::NoSpace;
            }
            if let Err(s) = self.store(pool, s) {
                s.discard(pool);
                return Received::NoSpace;
            }
        }
        // The whole sample arrived as DATA (a resend): its partial copy is not needed.
        self.drop_reassembly(pool, writer, sn);
        let delivered = self.drain_in_order(pool, writer, replaced);
        Received::Accepted { delivered }
    }

    fn evict_highest_pending(&mut self, pool: &mut Pool) -> bool {
        let victim = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|s| (s, i)))
            .filter(|(s, _)| s.order.is_none())
            .map(|(s, i)| (s.sn, i))
            .max();
        match victim {
            Some((_, i)) => {
                if let Some(Sample { data: Some(d), .. }) = self.slots[i].take() {
                    pool.free(d);
                }
                true
            }
            None => false,
        }
    }

    /// Puts a sample in a free slot (copying a borrowed payload into the pool); gives it back
    /// when there is no slot or no pool space (the caller then discards it).
    fn store<'a>(&mut self, pool: &mut Pool, s: Incoming<'a>) -> Result<usize, Incoming<'a>> {
        let Some(i) = self.slots.iter().position(|x| x.is_none()) else {
            return Err(s);
        };
        let data = match s.payload {
            Payload::Stored(b) => b,
            Payload::Slice(p) => match pool.store(&[p]) {
                Some(b) => b,
                None => return Err(s),
            },
        };
        self.slots[i] = Some(Sample {
            writer: s.writer,
            sn: s.sn,
            data: Some(data),
            timestamp: s.timestamp,
            status: s.status,
            key_hash: s.key_hash,
            order: None,
        });
        Ok(i)
    }

    /// Takes in some fragments of a sample; when the last one arrives the whole sample goes
    /// the way of a DATA.
    pub(crate) fn on_data_frag(
        &mut self,
        pool: &mut Pool,
        f: &IncomingFrag<'_>,
        replaced: &mut u64,
    ) -> Received {
        let Some(p) = self.proxy(f.writer).copied() else {
            return Received::Unknown;
        };
        if f.sn < p.next || (p.reliable && self.find_slot(f.writer, f.sn).is_some()) {
            return Received::Duplicate;
        }
        let size = f.sample_size as usize;
        let fs = f.fragment_size as usize;
        if fs == 0 || size == 0 || size > MAX_SAMPLE || size.div_ceil(fs) > MAX_FRAGMENTS {
            return Received::Invalid;
        }
        let total = size.div_ceil(fs) as u32;
        if f.first == 0 || f.first > total {
            return Received::Invalid;
        }
        if p.reliable && f.sn - p.next >= MAX_SET_BITS as i64 {
            return Received::NoSpace;
        }
        let ri = match self.reassembly(f.writer, f.sn) {
            Some(ri) => {
                let r = self.frags[ri]
                    .as_ref()
                    .map(|r| (r.sample_size, r.fragment_size));
                if r != Some((f.sample_size, f.fragment_size)) {
                    return Received::Invalid;
                }
                ri
            }
            None => match self.new_reassembly(pool, f, total) {
                Some(ri) => ri,
                None => return Received::NoSpace,
            },
        };
        let Some(r) = self.frags[ri].as_mut() else {
            return Received::NoSpace;
        };
        let mut added = false;
        for k in 0..f.count as u32 {
            let n = f.first + k;
            if n > total {
                break;
            }
            let off = (n as usize - 1) * fs;
            let len = fs.min(size - off);
            let at = k as usize * fs;
            let Some(bytes) = f.data.get(at..at + len) else {
                break;
            };
            if r.has(n) {
                continue;
            }
            pool.write_at(&r.data, off, bytes);
            r.set(n);
            added = true;
        }
        if f.timestamp.is_some() && r.timestamp.is_none() {
            r.timestamp = f.timestamp;
        }
        if f.key_hash.is_some() {
            r.key_hash = f.key_hash;
        }
        if f.status.0 != 0 {
            r.status = f.status;
        }
        if r.received < r.total {
            return if added {
                Received::Accepted { delivered: 0 }
            } else {
                Received::Duplicate
            };
        }
        let Some(r) = self.frags[ri].take() else {
            return Received::NoSpace;
        };
        self.on_data(
            pool,
            Incoming {
                writer: r.writer,
                sn: r.sn,
                payload: Payload::Stored(r.data),
                timestamp: r.timestamp,
                status: r.status,
                key_hash: r.key_hash,
            },
            replaced,
        )
    }

    /// Partial samples being reassembled.
    #[cfg(feature = "fuzzing")]
    pub(crate) fn partial_samples(&self) -> usize {
        self.frags.iter().flatten().count()
    }

    fn reassembly(&self, writer: Guid, sn: i64) -> Option<usize> {
        self.frags
            .iter()
            .position(|r| r.as_ref().is_some_and(|r| r.writer == writer && r.sn == sn))
    }

    /// A free reassembly slot with room for the sample, evicting the partial sample with the
    /// highest sequence number if it is later than this one.
    fn new_reassembly(
        &mut self,
        pool: &mut Pool,
        f: &IncomingFrag<'_>,
        total: u32,
    ) -> Option<usize> {
        let ri = match self.frags.iter().position(|r| r.is_none()) {
            Some(ri) => ri,
            None => {
                let (sn, ri) = self
                    .frags
                    .iter()
                    .enumerate()
                    .filter_map(|(i, r)| r.as_ref().map(|r| (r.sn, i)))
                    .max()?;
                if sn <= f.sn {
                    return None;
                }
                if let Some(old) = self.frags[ri].take() {
                    pool.free(old.data);
                }
                ri
            }
        };
        let data = pool.reserve(f.sample_size as usize)?;
        self.frags[ri] = Some(Reassembly {
            writer: f.writer,
            sn: f.sn,
            sample_size: f.sample_size,
            fragment_size: f.fragment_size,
            total,
            received: 0,
            bits: [0; MAX_FRAGMENTS / 32],
            data,
            timestamp: None,
            status: StatusInfo(0),
            key_hash: None,
        });
        Some(ri)
    }

    /// Drops partial samples of `writer` below `upto` (a GAP or HEARTBEAT said they are gone,
    /// or a later sample was delivered best-effort).
    fn drop_reassemblies_below(&mut self, pool: &mut Pool, writer: Guid, upto: i64) {
        for r in self.frags.iter_mut() {
            if r.as_ref()
                .is_some_and(|r| r.writer == writer && r.sn < upto)
            {
                if let Some(old) = r.take() {
                    pool.free(old.data);
                }
            }
        }
    }

    /// The NACK_FRAG owed for the lowest partial sample of `writer` the writer has finished
    /// sending (its HEARTBEAT covers it): base = first missing fragment, up to 256 of them.
    pub(crate) fn nack_frag(&mut self, writer: Guid) -> Option<NackFragRepr> {
        let p = self.proxy(writer).copied()?;
        let r = self
            .frags
            .iter()
            .flatten()
            .filter(|r| {
                r.writer == writer
                    && r.sn >= p.next
                    && r.sn <= p.last_available
                    && !self.has_sample(writer, r.sn)
            })
            .min_by_key(|r| r.sn)?;
        let first = (1..=r.total).find(|n| !r.has(*n))?;
        let span = (r.total - first + 1).min(MAX_SET_BITS);
        let mut set = FragmentNumberSet::new(first, span);
        for n in first..first + span {
            if !r.has(n) {
                set.insert(n);
            }
        }
        let (sn, reader_id) = (r.sn, self.entity());
        self.nack_frag_count = self.nack_frag_count.wrapping_add(1);
        Some(NackFragRepr {
            reader_id,
            writer_id: writer.entity,
            writer_sn: SequenceNumber(sn),
            fragment_number_state: set,
            count: Count(self.nack_frag_count),
        })
    }

    /// Skips every SN below `upto` from `writer`: delivers what is buffered, drops the rest.
    fn skip_below(
        &mut self,
        pool: &mut Pool,
        writer: Guid,
        upto: i64,
        replaced: &mut u64,
    ) -> usize {
        let mut n = 0;
        loop {
            let Some(p) = self.proxy(writer).copied() else {
                return n;
            };
            if p.next >= upto {
                break;
            }
            // Deliver the lowest buffered SN below `upto`, or jump.
            let lowest = self
                .slots
                .iter()
                .enumerate()
                .filter_map(|(i, s)| s.as_ref().map(|s| (s, i)))
                .filter(|(s, _)| s.writer == writer && s.order.is_none() && s.sn < upto)
                .map(|(s, i)| (s.sn, i))
                .min();
            match lowest {
                Some((sn, _)) => {
                    if let Some(p) = self.proxy_mut(writer) {
                        p.next = sn;
                    }
                    n += self.drain_in_order(pool, writer, replaced);
                    if self.proxy(writer).is_some_and(|p| p.next == sn) {
                        // No room to deliver: stop here, the rest stays buffered.
                        return n;
                    }
                }
                None => {
                    if let Some(p) = self.proxy_mut(writer) {
                        p.next = upto;
                    }
                }
            }
        }
        self.drop_reassemblies_below(pool, writer, upto);
        n + self.drain_in_order(pool, writer, replaced)
    }

    /// Applies a HEARTBEAT; returns delivered count or `None` if stale or unknown.
    pub(crate) fn on_heartbeat(
        &mut self,
        pool: &mut Pool,
        writer: Guid,
        hb: &HeartbeatRepr,
        replaced: &mut u64,
    ) -> Option<usize> {
        let p = self.proxy_mut(writer)?;
        if let Some(prev) = p.last_heartbeat_count {
            if !hb.count.is_newer_than(prev) {
                return None;
            }
        }
        p.last_heartbeat_count = Some(hb.count);
        p.heartbeat_seen = true;
        p.next_preemptive = None;
        if !p.reliable {
            return Some(0);
        }
        p.last_available = p.last_available.max(hb.last_sn.0);
        let first = hb.first_sn.0;
        let delivered = self.skip_below(pool, writer, first, replaced);
        let final_flag = hb.final_flag;
        let missing = self.missing(writer).num_bits > 0;
        if let Some(p) = self.proxy_mut(writer) {
            if !final_flag || missing {
                p.ack_owed = true;
            }
        }
        Some(delivered)
    }

    /// Applies a GAP; returns delivered count or `None` if unknown.
    pub(crate) fn on_gap(
        &mut self,
        pool: &mut Pool,
        writer: Guid,
        gap: &GapRepr,
        replaced: &mut u64,
    ) -> Option<usize> {
        let p = self.proxy(writer).copied()?;
        if !p.reliable {
            return Some(0);
        }
        let mut delivered = 0;
        let start = gap.gap_start.0;
        let base = gap.gap_list.base.0;
        if start <= p.next && base > p.next {
            // The irrelevant interval covers our next SN: drop what is buffered inside it.
            for s in self.slots.iter_mut() {
                if s.as_ref()
                    .is_some_and(|s| s.writer == writer && s.order.is_none() && s.sn < base)
                {
                    if let Some(Sample { data: Some(d), .. }) = s.take() {
                        pool.free(d);
                    }
                }
            }
            if let Some(p) = self.proxy_mut(writer) {
                p.next = base;
            }
            self.drop_reassemblies_below(pool, writer, base);
        } else if start > p.next {
            // Out of order: remember each irrelevant SN inside the window as an empty slot.
            let end = base.min(p.next.saturating_add(MAX_SET_BITS as i64));
            let mut sn = start;
            while sn < end {
                self.mark_irrelevant(pool, writer, sn);
                sn += 1;
            }
        }
        for sn in gap.gap_list.iter() {
            let next = self.proxy(writer).map_or(i64::MAX, |p| p.next);
            if sn.0 == next {
                if let Some(p) = self.proxy_mut(writer) {
                    p.next = p.next.saturating_add(1);
                }
                delivered += self.drain_in_order(pool, writer, replaced);
            } else if sn.0 > next && sn.0 - next < MAX_SET_BITS as i64 {
                self.mark_irrelevant(pool, writer, sn.0);
            }
        }
        delivered += self.drain_in_order(pool, writer, replaced);
        Some(delivered)
    }

    /// Drops the partial sample `sn` of `writer`, if any.
    fn drop_reassembly(&mut self, pool: &mut Pool, writer: Guid, sn: i64) {
        for r in self.frags.iter_mut() {
            if r.as_ref().is_some_and(|r| r.writer == writer && r.sn == sn) {
                if let Some(old) = r.take() {
                    pool.free(old.data);
                }
            }
        }
    }

    fn mark_irrelevant(&mut self, pool: &mut Pool, writer: Guid, sn: i64) {
        // A partial sample of an SN declared irrelevant will never complete.
        self.drop_reassembly(pool, writer, sn);
        if self.find_slot(writer, sn).is_some() {
            return;
        }
        if let Some(i) = self.slots.iter().position(|x| x.is_none()) {
            self.slots[i] = Some(Sample {
                writer,
                sn,
                data: None,
                timestamp: None,
                status: StatusInfo(0),
                key_hash: None,
                order: None,
            });
        }
    }

    /// The SNs from `writer` that are known to exist and are missing here.
    pub(crate) fn missing(&self, writer: Guid) -> SequenceNumberSet {
        let Some(p) = self.proxy(writer) else {
            return SequenceNumberSet::new(SequenceNumber(1), 0);
        };
        let base = p.next;
        let span = (p.last_available - base + 1).clamp(0, MAX_SET_BITS as i64) as u32;
        let mut set = SequenceNumberSet::new(SequenceNumber(base), span);
        let mut highest = 0u32;
        for i in 0..span {
            let sn = base + i as i64;
            // A partial sample is asked for by NACK_FRAG, not here.
            if self.find_slot(writer, sn).is_none() && self.reassembly(writer, sn).is_none() {
                set.insert(SequenceNumber(sn));
                highest = i + 1;
            }
        }
        set.num_bits = highest;
        set
    }

    /// The ACKNACK owed to `writer`, if any; marks it sent.
    pub(crate) fn take_acknack(&mut self, now: Instant, writer: Guid) -> Option<AckNackRepr> {
        let p = self.proxy(writer).copied()?;
        let preemptive_due = p.next_preemptive.is_some_and(|t| now >= t);
        if !p.reliable || !(p.ack_owed || preemptive_due) {
            return None;
        }
        let state = if p.heartbeat_seen {
            self.missing(writer)
        } else {
            SequenceNumberSet::new(SequenceNumber(p.next), 0)
        };
        self.acknack_count = self.acknack_count.wrapping_add(1);
        let count = Count(self.acknack_count);
        let reader_id = self.entity();
        if let Some(p) = self.proxy_mut(writer) {
            p.ack_owed = false;
            if !p.heartbeat_seen {
                p.next_preemptive = Some(now + PREEMPTIVE_PERIOD);
            }
        }
        Some(AckNackRepr {
            final_flag: p.heartbeat_seen,
            reader_id,
            writer_id: writer.entity,
            reader_sn_state: state,
            count,
        })
    }

    /// Earliest timer of this reader.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.proxies
            .iter()
            .flatten()
            .filter_map(|p| p.next_preemptive)
            .min()
    }

    /// Whether any ACKNACK is owed now.
    pub(crate) fn acknack_owed(&self, now: Instant) -> bool {
        self.proxies
            .iter()
            .flatten()
            .any(|p| p.reliable && (p.ack_owed || p.next_preemptive.is_some_and(|t| now >= t)))
    }

    /// The oldest delivered sample, removed from the reader; `None` when empty.
    pub(crate) fn pop(&mut self) -> Option<Sample> {
        let i = self.oldest_delivered()?;
        self.slots[i].take()
    }

    /// The oldest delivered sample, left in place.
    pub(crate) fn peek(&self) -> Option<&Sample> {
        self.oldest_delivered().and_then(|i| self.slots[i].as_ref())
    }

    /// Frees every sample (the reader is being deleted).
    pub(crate) fn clear(&mut self, pool: &mut Pool) {
        for r in self.frags.iter_mut() {
            if let Some(old) = r.take() {
                pool.free(old.data);
            }
        }
        for s in self.slots.iter_mut() {
            if let Some(Sample { data: Some(d), .. }) = s.take() {
                pool.free(d);
            }
        }
    }
}

#[cfg(all(test, feature = "large"))]
mod tests {
    extern crate std;
    use super::*;
    use crate::wire::{GuidPrefix, Message, SubmessageRepr};
    use std::vec::Vec;

    /// Every DATA_FRAG of one captured sample, as (datagram index, fragment), and the sample
    /// put together independently of the reader.
    fn captured(dir: &str, stem: &str, datagrams: usize) -> (Vec<Vec<u8>>, Vec<u8>, Guid) {
        let mut files = Vec::new();
        for k in 0..datagrams {
            let path = std::format!(
                "{}/../vectors/{dir}/{stem}-{k}.bin",
                env!("CARGO_MANIFEST_DIR")
            );
            files.push(std::fs::read(path).expect("vector"));
        }
        let mut sample = Vec::new();
        let mut writer = Guid::default();
        for f in &files {
            let m = Message::parse(f).unwrap();
            for s in m.submessages() {
                if let SubmessageRepr::DataFrag(d) = s.unwrap().parse().unwrap() {
                    writer = Guid::new(m.header.guid_prefix, d.writer_id);
                    sample.resize(d.sample_size as usize, 0);
                    let (off, bytes) = d.fragment_bytes().unwrap();
                    sample[off..off + bytes.len()].copy_from_slice(bytes);
                }
            }
        }
        (files, sample, writer)
    }

    fn feed(r: &mut Reader, pool: &mut Pool, datagram: &[u8], replaced: &mut u64) -> usize {
        let m = Message::parse(datagram).unwrap();
        let mut delivered = 0;
        let mut ts = None;
        for s in m.submessages() {
            match s.unwrap().parse().unwrap() {
                SubmessageRepr::InfoTs(t) => ts = t.timestamp,
                SubmessageRepr::DataFrag(d) => {
                    let f = IncomingFrag {
                        writer: Guid::new(m.header.guid_prefix, d.writer_id),
                        sn: d.writer_sn.0,
                        sample_size: d.sample_size,
                        fragment_size: d.fragment_size,
                        first: d.fragment_starting_num,
                        count: d.fragments_in_submessage,
                        data: d.data,
                        timestamp: ts,
                        status: StatusInfo(0),
                        key_hash: None,
                    };
                    if let Received::Accepted { delivered: n } = r.on_data_frag(pool, &f, replaced)
                    {
                        delivered += n;
                    }
                }
                _ => {}
            }
        }
        delivered
    }

    fn reader_for(writer: Guid) -> Reader {
        let own = Guid::new(GuidPrefix([9; 12]), EntityId::new(1, 0x07));
        let mut r = Reader::new(own, false, History::KeepAll, 8);
        r.add_proxy(
            Instant(0),
            writer,
            Locator::udpv4([127, 0, 0, 1], 7411),
            false,
        );
        r
    }

    /// The captured samples reassemble to exactly the sample, whatever the datagram order and
    /// with duplicates, and the pool is whole again once the sample is taken.
    #[test]
    fn captured_samples_reassemble_in_any_order() {
        let sets = [
            ("cyclone", "datafrag-sample-cyclone-sn2", 8),
            ("cyclone11", "datafrag-sample-cyclone11-sn1", 8),
            ("fastdds", "datafrag-sample-fastdds-sn1", 2),
        ];
        for (dir, stem, n) in sets {
            let (files, sample, writer) = captured(dir, stem, n);
            let orders: [Vec<usize>; 3] = [
                (0..n).collect(),
                (0..n).rev().collect(),
                (0..n).map(|i| (i * 5 + 3) % n).chain([0, n - 1]).collect(),
            ];
            for order in orders {
                let mut pool = Pool::new();
                let mut r = reader_for(writer);
                let mut replaced = 0;
                let mut delivered = 0;
                for i in order.iter().copied() {
                    delivered += feed(&mut r, &mut pool, &files[i], &mut replaced);
                }
                assert_eq!(delivered, 1, "{stem} {order:?}");
                let s = r.pop().unwrap();
                let data = s.data.unwrap();
                let mut out = std::vec![0u8; data.len()];
                pool.read(&data, &mut out);
                assert!(out == sample, "{stem} {order:?}: bytes differ");
                pool.free(data);
                assert_eq!(pool.free_blocks(), crate::limits::POOL_BLOCKS);
            }
        }
    }

    /// Hostile fragments cost bounded memory, are refused or evicted, and never disturb a
    /// sample from another writer being reassembled at the same time.
    #[test]
    fn hostile_fragments_are_bounded_and_isolated() {
        let (files, sample, writer) = captured("cyclone", "datafrag-sample-cyclone-sn2", 8);
        let evil = Guid::new(GuidPrefix([6; 12]), EntityId::new(7, 0x02));
        let mut pool = Pool::new();
        let mut r = reader_for(writer);
        r.add_proxy(
            Instant(0),
            evil,
            Locator::udpv4([127, 0, 0, 1], 7411),
            false,
        );
        let mut replaced = 0;
        let junk = [0xAAu8; 1024];
        let frag = |sn: i64, size: u32, fs: u16, first: u32, count: u16, data| IncomingFrag {
            writer: evil,
            sn,
            sample_size: size,
            fragment_size: fs,
            first,
            count,
            data,
            timestamp: None,
            status: StatusInfo(0),
            key_hash: None,
        };
        feed(&mut r, &mut pool, &files[0], &mut replaced);
        // A huge claimed size, tiny fragments, out-of-range numbers: refused.
        for f in [
            frag(5, u32::MAX, 1024, 1, 1, &junk[..]),
            frag(5, 1 << 20, 1, 1, 1, &junk[..1]),
            frag(5, 4096, 1024, 9, 1, &junk[..]),
            frag(5, 4096, 0, 1, 1, &junk[..]),
        ] {
            assert_eq!(
                r.on_data_frag(&mut pool, &f, &mut replaced),
                Received::Invalid
            );
        }
        // A flood of distinct sequence numbers: at most MAX_REASSEMBLIES partial samples.
        for sn in 10..10_000 {
            let _ = r.on_data_frag(
                &mut pool,
                &frag(sn, 100_000, 1024, 1, 1, &junk[..]),
                &mut replaced,
            );
        }
        assert!(r.frags.iter().flatten().count() <= MAX_REASSEMBLIES);
        let held: usize = r.frags.iter().flatten().map(|f| f.data.len()).sum();
        assert!(held <= MAX_REASSEMBLIES * MAX_SAMPLE);
        // Overlapping fragments of the same SN with a different layout: refused.
        let first_evil = r
            .frags
            .iter()
            .flatten()
            .find(|f| f.writer == evil)
            .map(|f| f.sn);
        if let Some(sn) = first_evil {
            assert_eq!(
                r.on_data_frag(
                    &mut pool,
                    &frag(sn, 50_000, 512, 1, 1, &junk[..]),
                    &mut replaced
                ),
                Received::Invalid
            );
        }
        // The honest sample still completes, byte for byte.
        let mut delivered = 0;
        for f in &files[1..] {
            delivered += feed(&mut r, &mut pool, f, &mut replaced);
        }
        if delivered == 0 {
            // Its partial sample may have been evicted by the flood (a higher SN is evicted
            // first, so only when the flood's SNs are lower): then it comes again whole.
            for f in &files {
                delivered += feed(&mut r, &mut pool, f, &mut replaced);
            }
        }
        assert_eq!(delivered, 1);
        let s = r.pop().unwrap();
        let data = s.data.unwrap();
        let mut out = std::vec![0u8; data.len()];
        pool.read(&data, &mut out);
        assert!(out == sample);
    }
}
