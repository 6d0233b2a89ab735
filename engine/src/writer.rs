//! The writer state machine: history cache, reader proxies, first sends, repairs, heartbeats.
//!
//! One type serves the builtin SEDP/PMD writers and user writers: the difference is only in
//! what the engine does with it. The writer never builds datagrams itself; it answers "what is
//! owed to this proxy" and the engine packs the answer.
//!
//! The history is a ring ordered by sequence number without holes (a sample removed from the
//! middle closes its gap at once), so a sample is found by binary search, the oldest is the
//! ring's head and the bytes between two sequence numbers are a subtraction of running totals.
//! The lowest acknowledgement over all proxies is cached and recomputed only when the proxies
//! that held it have all moved on.
//!
//! A remote reader is not trusted to behave (see `tests/tests/hostile_reliability.rs`):
//! - its ACKNACK and NACK_FRAG counts are judged by [`CountGuard`], so one forged far ahead
//!   does not make its later real ones stale;
//! - an acknowledgement of, or a request for, a sample never sent to it is not acted upon;
//! - a sample (or fragment) it asks for again after it was repaired once is sent again at
//!   once only if the reader's acknowledgements progressed meanwhile, or if it is the sample
//!   the reader waits for and the last round went to other requests (a forger posing as the
//!   reader must not take every round); otherwise after a heartbeat period, doubling up to
//!   2^6 periods while there is no progress. A storm of ACKNACKs (perhaps with a forged
//!   source) thus cannot make the writer send much more than it receives, while a live
//!   reader, whose acknowledgements move, is repaired as fast as it asks;
//! - heartbeats to a reader that answers none back off exponentially;
//! - a reader that makes no acknowledgement progress for the unresponsive timeout while it
//!   has been sent data is marked unresponsive: it no longer holds the history (a KEEP_ALL
//!   writer is not blocked by it), gets no new data, and is served again when it acknowledges
//!   something new.
// Without the `frag` feature the fragment paths here are never called (and not linked).
#![cfg_attr(not(feature = "frag"), allow(dead_code))]

use crate::freshness::{CountGuard, Freshness};
use crate::pool::{Bytes, Pool};
use crate::qos::{Durability, History};
use crate::rpc::Related;
use crate::storage::{Entry, Slab, Slots};
use crate::time::{Instant, MaybeInstant, Span};
use crate::wire::{AckNackRepr, Guid, Locator, SequenceNumber, StatusInfo, Time};
#[cfg(feature = "frag")]
use crate::wire::{FragmentNumberSet, NackFragRepr};

/// One sample in a writer's history.
#[derive(Debug)]
pub(crate) struct Change {
    pub sn: i64,
    pub data: Bytes,
    pub timestamp: Option<Time>,
    /// Key hash sent as inline QoS (state changes, builtin data).
    pub key_hash: Option<[u8; 16]>,
    /// Non-zero for dispose/unregister; the payload is then the serialized key (may be empty).
    pub status: StatusInfo,
    /// Bytes written by this writer before this sample.
    pub offset: u64,
    /// The request this sample answers (a reply), sent as inline QoS.
    pub related: Related,
}

crate::storage::slot_type!(
    /// One sample of a writer's history; public so that a caller without `alloc` can provide
    /// them.
    HistorySlot,
    Change
);

/// What a writer knows about one matched remote reader.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReaderProxy {
    pub guid: Guid,
    pub locator: Locator,
    pub reliable: bool,
    /// The first SN this reader is entitled to (later for volatile matches).
    pub start: i64,
    /// Every SN up to and including this is acknowledged.
    pub acked: i64,
    /// The first SN not yet sent for the first time.
    pub next_unsent: i64,
    /// SNs the reader asked for again (a window of [`RepairSet::WINDOW`]).
    pub requested: RepairSet,
    /// The last ACKNACK and NACK_FRAG counts accepted.
    pub ack_guard: CountGuard,
    #[cfg(feature = "frag")]
    pub nack_frag_guard: CountGuard,
    /// The highest `acked` ever (`acked` itself goes back when a reader asks for everything
    /// again): progress is measured against it.
    pub best_acked: i64,
    /// Liveness checkpoint: at `check_at` the writer held up to `check_sn` and this reader had
    /// not acknowledged it; it must, within the unresponsive timeout (0: nothing owed).
    pub check_sn: i64,
    pub check_at: Instant,
    /// No acknowledgement progress for the unresponsive timeout: holds no history (it counts
    /// in neither lowest), gets no new data; still heartbeats and (throttled) repairs.
    pub unresponsive: bool,
    /// Heartbeats the timer owed it since it last sent an acceptable ACKNACK.
    pub unanswered: u8,
    /// Heartbeat timer ticks still to skip for it (backoff).
    /// (At most 2^[`BACKOFF_MAX_SHIFT`] - 1; a byte, so the proxy is 8 bytes smaller.)
    pub hb_skip: u8,
    /// Repeated repairs (see [`ReaderProxy::repeat_due`]): when the last round of them went,
    /// `best_acked` then, the backoff exponent, and whether that round repaired the reader's
    /// head (the SN after `best_acked`).
    pub repeat_at: MaybeInstant,
    pub repeat_best: i64,
    pub repeat_shift: u8,
    pub repeat_head: bool,
    /// Every SN up to this was repaired (or asked for) once already.
    pub repaired_upto: i64,
    /// Likewise for fragments: every fragment up to `.1` of sample `.0`, and every fragment
    /// of earlier samples.
    #[cfg(feature = "frag")]
    pub frag_repaired: (i64, u32),
    /// Next fragment (1-based) of `next_unsent` when it is sent as DATA_FRAG.
    #[cfg(feature = "frag")]
    pub frag_next: u32,
    /// The fragmented sample being repaired whole, and its next fragment.
    #[cfg(feature = "frag")]
    pub repair_frag: (i64, u32),
    /// Fragments a reader asked for by NACK_FRAG.
    #[cfg(feature = "frag")]
    pub nack_frag: Option<(i64, FragmentNumberSet)>,
    /// A HEARTBEAT is owed to this reader (after a non-final ACKNACK or at match time).
    pub heartbeat_owed: bool,
    /// In the engine's queue of owed work.
    pub queued: bool,
    /// The next match of the same remote endpoint (engine bookkeeping).
    pub next_of_remote: u64,
}

/// The SNs a reader asked for again: a window of [`RepairSet::WINDOW`] SNs from the lowest, 16
/// bytes in every reader proxy (the wire's set spans 256 SNs in 44 bytes). A request beyond
/// the window is not kept: it is not counted as repaired either, so when the reader asks
/// again (the answer to the ACKNACK ends with a HEARTBEAT, which it answers with what it
/// still lacks) it is a first request, repaired at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RepairSet {
    /// The SN of bit 0 (meaningless when empty).
    base: i64,
    /// Bit `i`: SN `base + i` is asked for.
    bits: u64,
}

impl RepairSet {
    /// SNs the set spans.
    pub const WINDOW: i64 = 64;
    pub const EMPTY: RepairSet = RepairSet { base: 0, bits: 0 };

    pub fn is_empty(&self) -> bool {
        self.bits == 0
    }

    /// Adds `sn`; false, and the set unchanged, when it is below the lowest SN asked for or
    /// [`RepairSet::WINDOW`] or more above it (an ACKNACK's SNs come lowest first; a NACK_FRAG's
    /// gone sample below them is asked for again later, like the rest).
    pub fn insert(&mut self, sn: i64) -> bool {
        if self.bits == 0 {
            *self = RepairSet { base: sn, bits: 1 };
            return true;
        }
        match sn.checked_sub(self.base) {
            Some(d) if (0..Self::WINDOW).contains(&d) => {
                self.bits |= 1 << d;
                true
            }
            _ => false,
        }
    }

    pub fn remove(&mut self, sn: i64) {
        // A difference that wraps names a bit above `i64::MAX - base`, which no SN sets.
        let d = sn.wrapping_sub(self.base) as u64;
        if d < Self::WINDOW as u64 {
            self.bits &= !(1 << d);
        }
    }

    /// The SNs, lowest first.
    pub fn iter(&self) -> impl Iterator<Item = SequenceNumber> {
        let (base, mut bits) = (self.base, self.bits);
        core::iter::from_fn(move || {
            if bits == 0 {
                return None;
            }
            let d = bits.trailing_zeros();
            bits &= bits - 1;
            Some(SequenceNumber(base + d as i64))
        })
    }
}

impl ReaderProxy {
    /// The next fragment (1-based) of `next_unsent` when it is being sent as DATA_FRAG; 1
    /// (none started) without the `frag` feature.
    pub(crate) fn frag_next(&self) -> u32 {
        #[cfg(feature = "frag")]
        return self.frag_next;
        #[cfg(not(feature = "frag"))]
        1
    }

    pub(crate) fn set_frag_next(&mut self, _next: u32) {
        #[cfg(feature = "frag")]
        {
            self.frag_next = _next;
        }
    }

    /// Where the repair of sample `sn` resumes: its next fragment when it is the sample being
    /// repaired in fragments, else 1.
    pub(crate) fn repair_cursor(&self, _sn: i64) -> u32 {
        #[cfg(feature = "frag")]
        if self.repair_frag.0 == _sn {
            return self.repair_frag.1;
        }
        1
    }

    /// Records where the repair of sample `sn` resumes (`(0, 1)`: none in progress).
    pub(crate) fn set_repair_cursor(&mut self, _sn: i64, _next: u32) {
        #[cfg(feature = "frag")]
        {
            self.repair_frag = (_sn, _next);
        }
    }

    /// Fragments asked for by NACK_FRAG are waiting (never without the `frag` feature).
    pub(crate) fn nack_frag_pending(&self) -> bool {
        #[cfg(feature = "frag")]
        return self.nack_frag.is_some();
        #[cfg(not(feature = "frag"))]
        false
    }

    pub(crate) fn has_repairs(&self) -> bool {
        // (a NACK_FRAG is tracked separately in `nack_frag`)
        !self.requested.is_empty()
    }

    /// The SN below which this reader needs nothing more from the history (an unresponsive
    /// reader holds nothing).
    fn floor(&self) -> i64 {
        if self.unresponsive {
            i64::MAX
        } else if self.reliable {
            self.acked
        } else {
            self.next_unsent - 1
        }
    }

    /// Its acknowledgement as the lowest-acknowledged cache sees it (an unresponsive reader
    /// holds nothing back).
    fn held_ack(&self) -> i64 {
        if self.unresponsive {
            i64::MAX
        } else {
            self.acked
        }
    }

    /// The last SN sent to it for the first time (what it may acknowledge or ask for).
    fn sent(&self, last: i64) -> i64 {
        last.min(self.next_unsent - 1)
    }

    /// Whether repairs asked for again may go out at `now`; if so a round of them starts.
    /// They may at once if the reader's acknowledgements progressed since the last round (it
    /// is alive and lost the repair), else one `period` after it, doubling each round without
    /// progress up to 2^[`REPEAT_MAX_SHIFT`] periods. Requests at the same instant (an
    /// ACKNACK and a NACK_FRAG in one message) share a round.
    ///
    /// Fragments (`grow` false) wait one period and no more: a reader's progress inside a
    /// large sample does not show in its acknowledgement, so a live one may legitimately ask
    /// for repeats round after round; that costs at most one round of fragments per period.
    ///
    /// A request for the reader's `head` (the SN after `best_acked`, which a live reader that
    /// lost a repair waits for) may also go at once when the last round did not repair it: a
    /// forger posing as the reader that asks again and again for what the reader already
    /// acknowledged would otherwise take every round and keep the reader from its head until
    /// it is found unresponsive. That at most doubles the rounds a forger gets, and what those
    /// extra rounds repair is what the real reader needs.
    fn repeat_due(&mut self, now: Instant, period: Span, grow: bool, head: bool) -> bool {
        let progress = self.best_acked > self.repeat_best;
        let reclaim = head && !self.repeat_head;
        if let Some(t) = self.repeat_at.get() {
            if t == now {
                self.repeat_head |= head;
                return true;
            }
            let shift = if grow { self.repeat_shift } else { 0 };
            // Half a period: a live reader asks again after each periodic heartbeat, a little
            // more or less than a period after the last round.
            let wait = Span((period.0 / 2).saturating_mul(1 << shift));
            if !progress && !reclaim && now < t + wait {
                return false;
            }
            if grow && (progress || !reclaim) {
                self.repeat_shift = if progress {
                    0
                } else {
                    (self.repeat_shift + 1).min(REPEAT_MAX_SHIFT)
                };
            }
        }
        self.repeat_at = MaybeInstant::new(Some(now));
        self.repeat_best = self.best_acked;
        self.repeat_head = head;
        true
    }
}

/// The longest wait between rounds of repeated repairs to a reader that makes no progress.
const REPEAT_MAX_SHIFT: u8 = 6;

/// What became of an ACKNACK or NACK_FRAG, for the engine's counters and events.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct AckNote {
    /// From a matched reliable reader.
    pub known: bool,
    /// Its count was not newer (dropped).
    pub stale: bool,
    /// Its count was not newer but accepted after [`crate::freshness::COUNT_RESET`].
    pub reset: bool,
    /// It acknowledged or asked for something never sent to the reader (that part ignored).
    pub unsent: bool,
    /// Some of its repair requests were dropped (see [`ReaderProxy::repeat_due`]), or cut to
    /// one because the reader is unresponsive.
    pub throttled: bool,
    /// The reader was unresponsive and acknowledged something new.
    pub recovered: bool,
    /// Its count was not newer, but it was used (never to step back).
    pub stale_used: bool,
}

/// Heartbeats owed by the timer at full rate (2 s at the default 100 ms period) before
/// backing off for a reader that answers none: a live reader on a link losing 30% each way
/// fails to answer 20 in a row about once in 10^6 times, so backoff (which slows its
/// recovery, and may let it reach the unresponsive timeout) is for readers that are not there.
const BACKOFF_AFTER: u8 = 20;
/// The longest interval between heartbeats to a silent reader: 2^6 periods (6.4 s at the
/// default 100 ms; Cyclone's ceiling is 8 s).
const BACKOFF_MAX_SHIFT: u8 = 6;
// `ReaderProxy::hb_skip` holds 2^BACKOFF_MAX_SHIFT - 1 in a byte.
const _: () = assert!(BACKOFF_MAX_SHIFT < 8);

/// What a heartbeat timer tick found.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Tick {
    /// Heartbeats not owed because of backoff.
    pub backed_off: u32,
    /// Readers newly marked unresponsive.
    pub unresponsive: u32,
}

crate::storage::slot_type!(
    /// One matched remote reader of a local writer; public so that a caller without `alloc`
    /// can provide them.
    ReaderProxySlot,
    ReaderProxy
);

/// The lowest of a value over the proxies, recomputed only when every proxy that held it moved.
#[derive(Debug, Clone, Copy)]
struct Lowest {
    value: i64,
    holders: u32,
    stale: bool,
}

impl Lowest {
    const STALE: Lowest = Lowest {
        value: 0,
        holders: 0,
        stale: true,
    };

    fn moved(&mut self, old: i64, new: i64) {
        if self.stale || old == new {
            return;
        }
        if new < self.value {
            self.stale = true;
        } else if old == self.value {
            self.holders = self.holders.saturating_sub(1);
            if self.holders == 0 {
                self.stale = true;
            }
        }
    }

    fn get(&mut self, values: impl Iterator<Item = i64>) -> Option<i64> {
        if self.stale {
            let mut min = None::<i64>;
            let mut n = 0;
            for v in values {
                match min {
                    Some(m) if v > m => {}
                    Some(m) if v == m => n += 1,
                    _ => {
                        min = Some(v);
                        n = 1;
                    }
                }
            }
            self.value = min.unwrap_or(i64::MAX);
            self.holders = n;
            self.stale = false;
        }
        (self.value != i64::MAX).then_some(self.value)
    }
}

/// Where a writer keeps its history and its proxies.
pub(crate) struct WriterStorage<'a> {
    pub history: Slots<'a, HistorySlot>,
    pub proxies: Slab<'a, ReaderProxySlot>,
}

pub(crate) struct Writer<'a> {
    pub guid: Guid,
    pub reliable: bool,
    pub durability: Durability,
    pub history: History,
    pub max_samples: usize,
    /// Never make room by dropping another instance's live sample (the SEDP writers: each
    /// instance is a live endpoint's announcement, which late joiners must still get); only
    /// withdrawn instances give way, else the new sample is refused.
    pub keep_instances: bool,
    /// Believe a reader that acknowledges less than before (it lost what it had, and asks
    /// for the whole history again). The SEDP writers do (Pollen's own builtin readers rewind
    /// after refusing endpoints to a full table); a user writer does not: a forged
    /// acknowledgement of nothing would otherwise close its window again and again.
    pub believe_rewind: bool,
    /// Ordered by SN without holes; `len` entries from `head`.
    cache: Slots<'a, HistorySlot>,
    head: usize,
    len: usize,
    /// The SN the next write gets.
    pub next_sn: i64,
    /// Bytes of every sample written so far.
    written: u64,
    pub proxies: Slab<'a, ReaderProxySlot>,
    reliable_proxies: usize,
    /// Lowest `floor` over all proxies, and lowest `acked` over reliable ones.
    lowest_floor: Lowest,
    lowest_acked: Lowest,
    pub heartbeat_count: u32,
    pub next_heartbeat: Option<Instant>,
    pub heartbeat_period: Span,
    /// Set when all reliable proxies have acknowledged everything (for AllAcknowledged).
    pub all_acked_reported: bool,
    /// Bytes a reliable reader may have unacknowledged.
    pub in_flight_limit: usize,
}

/// Why a sample was not added to a history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AddError {
    /// KEEP_ALL and the history holds `max_samples` unacknowledged samples.
    Full,
    /// The payload pool has no room even after evicting what KEEP_LAST allows.
    NoSpace,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(
        guid: Guid,
        reliable: bool,
        durability: Durability,
        history: History,
        heartbeat_period: Span,
        in_flight_limit: usize,
        storage: WriterStorage<'a>,
    ) -> Self {
        let WriterStorage {
            history: mut cache,
            proxies,
        } = storage;
        let max = cache.len().max(1);
        for s in cache.iter_mut() {
            *s = HistorySlot::EMPTY;
        }
        Writer {
            guid,
            reliable,
            durability,
            history,
            max_samples: max,
            keep_instances: false,
            believe_rewind: false,
            cache,
            head: 0,
            len: 0,
            next_sn: 1,
            written: 0,
            proxies,
            reliable_proxies: 0,
            lowest_floor: Lowest::STALE,
            lowest_acked: Lowest::STALE,
            heartbeat_count: 0,
            next_heartbeat: None,
            heartbeat_period,
            all_acked_reported: true,
            in_flight_limit,
        }
    }

    fn cap(&self) -> usize {
        self.cache.len()
    }

    /// Its history and proxy runs, for a later writer (the samples must be freed first).
    pub(crate) fn into_runs(self) -> (Slots<'a, HistorySlot>, Slots<'a, ReaderProxySlot>) {
        (self.cache, self.proxies.into_slots())
    }

    /// The ring slot of position `i` (at most the capacity): a compare, not a division, on
    /// the per-sample path.
    fn slot(&self, i: usize) -> usize {
        let j = self.head + i;
        if j >= self.cap() {
            j - self.cap()
        } else {
            j
        }
    }

    /// The change at position `i`; `None` past the last one (where the ring's next slot may
    /// hold the first).
    fn at(&self, i: usize) -> Option<&Change> {
        if i >= self.len {
            return None;
        }
        match self.cache.get(self.slot(i)).map(|s| &s.0) {
            Some(Entry::Occupied(c)) => Some(c),
            _ => None,
        }
    }

    fn take_at(&mut self, i: usize) -> Option<Change> {
        let s = self.slot(i);
        match core::mem::replace(&mut self.cache[s], HistorySlot::EMPTY).0 {
            Entry::Occupied(c) => Some(c),
            Entry::Vacant(_) => None,
        }
    }

    /// Iterates the changes held, oldest first.
    pub(crate) fn changes(&self) -> impl Iterator<Item = &Change> + '_ {
        (0..self.len).filter_map(move |i| self.at(i))
    }

    /// Position of the first change with SN >= `sn` (binary search).
    fn position(&self, sn: i64) -> usize {
        // While no sample was removed from the middle (a keyed KEEP_LAST writer does that),
        // the held SNs are consecutive and the position is a subtraction.
        let last = self.len.checked_sub(1).and_then(|i| self.at(i));
        if let (Some(first), Some(last)) = (self.at(0), last) {
            if last.sn.checked_sub(first.sn) == Some(self.len as i64 - 1) {
                return sn.saturating_sub(first.sn).clamp(0, self.len as i64) as usize;
            }
        }
        let (mut lo, mut hi) = (0, self.len);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if self.at(mid).is_some_and(|c| c.sn < sn) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    pub(crate) fn change(&self, sn: i64) -> Option<&Change> {
        self.at(self.position(sn)).filter(|c| c.sn == sn)
    }

    /// Where [`Writer::next_change`] starts a walk up the SNs from `sn`.
    pub(crate) fn cursor(&self, sn: i64) -> usize {
        self.position(sn)
    }

    /// [`Writer::change`] of `sn` for a walk up consecutive SNs, without a search per SN:
    /// `*pos` is the position of the first change with SN >= `sn` ([`Writer::cursor`] of the
    /// walk's first SN, then what the previous call left). Held SNs rise, so the first change
    /// with SN >= `sn + 1` is the next position when `sn` is held, and the same one when not.
    pub(crate) fn next_change(&self, pos: &mut usize, sn: i64) -> Option<&Change> {
        let c = self.at(*pos).filter(|c| c.sn == sn)?;
        *pos += 1;
        Some(c)
    }

    /// Bytes written before the first held sample with SN >= `sn`.
    fn bytes_before(&self, sn: i64) -> u64 {
        self.at(self.position(sn))
            .map_or(self.written, |c| c.offset)
    }

    /// Lowest SN still held (next_sn when empty).
    pub(crate) fn first_sn(&self) -> i64 {
        self.at(0).map_or(self.next_sn, |c| c.sn)
    }

    pub(crate) fn last_sn(&self) -> i64 {
        self.next_sn - 1
    }

    fn drop_oldest(&mut self, pool: &mut Pool) {
        if self.len == 0 {
            return;
        }
        if let Some(c) = self.take_at(0) {
            pool.free(c.data);
        }
        self.head = self.slot(1);
        self.len -= 1;
    }

    /// Removes the change at position `i`, closing the gap.
    fn remove_at(&mut self, i: usize, pool: &mut Pool) {
        if let Some(c) = self.take_at(i) {
            pool.free(c.data);
        }
        // Shift the older part up by one (cheaper from whichever end is nearer).
        if i < self.len / 2 {
            for k in (0..i).rev() {
                let from = self.slot(k);
                let to = self.slot(k + 1);
                self.cache.swap(from, to);
            }
            self.head = self.slot(1);
        } else {
            for k in i..self.len - 1 {
                let from = self.slot(k + 1);
                let to = self.slot(k);
                self.cache.swap(from, to);
            }
        }
        self.len -= 1;
    }

    /// Makes room in a full KEEP_LAST history: the oldest dispose/unregister goes first (a
    /// withdrawn instance matters less than a live one), else the oldest sample.
    fn evict(&mut self, pool: &mut Pool) {
        if !self.evict_withdrawn(pool) {
            self.drop_oldest(pool);
        }
    }

    /// Drops the oldest withdrawn (disposed or unregistered) sample; false if there is none.
    fn evict_withdrawn(&mut self, pool: &mut Pool) -> bool {
        let withdrawn = (0..self.len).find(|&i| self.at(i).is_some_and(|c| c.status.0 != 0));
        match withdrawn {
            Some(i) => {
                self.remove_at(i, pool);
                true
            }
            None => false,
        }
    }

    fn instance_count(&self, key: &[u8; 16]) -> usize {
        self.changes()
            .filter(|c| c.key_hash.as_ref() == Some(key))
            .count()
    }

    /// How many instances' worth of samples the history may hold: keyed KEEP_LAST keeps
    /// `depth` per instance (bounded by the history's size overall); otherwise one.
    fn instances_bound(&self, key: Option<[u8; 16]>) -> usize {
        match (self.history, key) {
            (History::KeepLast(_), Some(_)) => self.cap(),
            _ => 1,
        }
    }

    fn remove_oldest_of(&mut self, key: &[u8; 16], pool: &mut Pool) {
        if let Some(i) =
            (0..self.len).find(|&i| self.at(i).is_some_and(|c| c.key_hash.as_ref() == Some(key)))
        {
            self.remove_at(i, pool);
        }
    }

    /// Removes the changes with key hash `key` (KEEP_LAST 1 per instance for builtin data).
    pub(crate) fn remove_instance(&mut self, key: &[u8; 16], pool: &mut Pool) {
        let mut i = 0;
        while i < self.len {
            if self.at(i).is_some_and(|c| c.key_hash.as_ref() == Some(key)) {
                self.remove_at(i, pool);
            } else {
                i += 1;
            }
        }
    }

    /// Drops what is no longer needed: for a volatile KEEP_ALL writer, samples every reliable
    /// reader acknowledged and every best-effort reader was sent.
    pub(crate) fn release_acknowledged(&mut self, pool: &mut Pool) {
        if self.durability != Durability::Volatile || self.history != History::KeepAll {
            return;
        }
        let floor = {
            let proxies = &self.proxies;
            self.lowest_floor
                .get(proxies.iter().map(|(_, p)| p.floor()))
        };
        // No reader at all: a volatile history owes nobody anything.
        let floor = floor.unwrap_or(i64::MAX);
        // Counted first, then dropped in one pass (an acknowledgement releases a whole round
        // of samples at once): the ring's head moves once.
        let mut n = 0;
        while self.at(n).is_some_and(|c| c.sn <= floor) {
            n += 1;
        }
        for i in 0..n {
            if let Some(c) = self.take_at(i) {
                pool.free(c.data);
            }
        }
        if n > 0 {
            self.head = self.slot(n);
            self.len -= n;
        }
    }

    /// Adds a sample with the next SN. KEEP_LAST evicts the oldest; KEEP_ALL refuses when full.
    pub(crate) fn add(
        &mut self,
        now: Instant,
        pool: &mut Pool,
        parts: &[&[u8]],
        timestamp: Option<Time>,
        key_hash: Option<[u8; 16]>,
        status: StatusInfo,
    ) -> Result<i64, AddError> {
        self.add_related(now, pool, parts, timestamp, key_hash, status, Related::NONE)
    }

    /// [`Writer::add`] of a sample that carries a related sample identity (a reply).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn add_related(
        &mut self,
        now: Instant,
        pool: &mut Pool,
        parts: &[&[u8]],
        timestamp: Option<Time>,
        key_hash: Option<[u8; 16]>,
        status: StatusInfo,
        related: Related,
    ) -> Result<i64, AddError> {
        let depth = match self.history {
            History::KeepLast(n) => (n as usize).clamp(1, self.cap()),
            History::KeepAll => self.max_samples,
        };
        self.release_acknowledged(pool);
        if let (History::KeepLast(_), Some(key)) = (self.history, key_hash) {
            // KEEP_LAST counts per instance: replace the oldest sample of this one.
            if self.instance_count(&key) >= depth {
                self.remove_oldest_of(&key, pool);
            }
        }
        if self.len >= depth * self.instances_bound(key_hash) || self.len == self.cap() {
            match self.history {
                History::KeepLast(_) if !self.keep_instances => self.evict(pool),
                History::KeepLast(_) => {
                    if !self.evict_withdrawn(pool) {
                        return Err(AddError::Full);
                    }
                }
                History::KeepAll => return Err(AddError::Full),
            }
        }
        let size: usize = parts.iter().map(|p| p.len()).sum();
        let need = pool.blocks_for(size);
        while pool.free_blocks() < need && self.len > 0 {
            if self.history == History::KeepAll {
                return Err(AddError::NoSpace);
            }
            if !self.keep_instances {
                self.drop_oldest(pool);
            } else if !self.evict_withdrawn(pool) {
                return Err(AddError::NoSpace);
            }
        }
        // One part of one pool block (a small sample): stored without the general walk.
        let small = match parts {
            [p] => pool.store_small(p),
            _ => None,
        };
        let data = match small {
            Some(b) => b,
            None => pool.store(parts).ok_or(AddError::NoSpace)?,
        };
        let sn = self.next_sn;
        self.next_sn += 1;
        let s = self.slot(self.len);
        self.cache[s] = HistorySlot(Entry::Occupied(Change {
            sn,
            data,
            timestamp,
            key_hash,
            status,
            offset: self.written,
            related,
        }));
        self.written += size as u64;
        self.len += 1;
        if self.reliable && self.reliable_proxies > 0 {
            self.all_acked_reported = false;
            // If the first send is lost, the periodic heartbeat makes the reader ask again.
            self.schedule_heartbeat(now);
        }
        Ok(sn)
    }

    /// Frees every sample (the writer is being deleted).
    pub(crate) fn clear(&mut self, pool: &mut Pool) {
        while self.len > 0 {
            self.drop_oldest(pool);
        }
    }

    /// Adds a matched reader and returns its index. A transient-local writer gives a
    /// transient-local reader its history; otherwise the reader starts with the next sample
    /// written. `None` when the proxy table is full.
    pub(crate) fn add_proxy(
        &mut self,
        now: Instant,
        guid: Guid,
        locator: Locator,
        reliable: bool,
        reader_durability: Durability,
    ) -> Option<u32> {
        let start = if self.durability == Durability::TransientLocal
            && reader_durability == Durability::TransientLocal
        {
            self.first_sn()
        } else {
            self.next_sn
        };
        let reliable = reliable && self.reliable;
        let i = self
            .proxies
            .insert(ReaderProxy {
                guid,
                locator,
                reliable,
                start,
                acked: start - 1,
                next_unsent: start,
                requested: RepairSet::EMPTY,
                ack_guard: CountGuard::NEW,
                #[cfg(feature = "frag")]
                nack_frag_guard: CountGuard::NEW,
                best_acked: start - 1,
                check_sn: 0,
                check_at: now,
                unresponsive: false,
                unanswered: 0,
                hb_skip: 0,
                repeat_at: MaybeInstant::NONE,
                repeat_best: start - 1,
                repeat_shift: 0,
                repeat_head: false,
                repaired_upto: start - 1,
                #[cfg(feature = "frag")]
                frag_repaired: (0, 0),
                #[cfg(feature = "frag")]
                frag_next: 1,
                #[cfg(feature = "frag")]
                repair_frag: (0, 1),
                #[cfg(feature = "frag")]
                nack_frag: None,
                heartbeat_owed: reliable,
                queued: false,
                next_of_remote: u64::MAX,
            })
            .ok()?;
        self.lowest_floor.stale = true;
        self.lowest_acked.stale = true;
        if reliable {
            self.reliable_proxies += 1;
            self.schedule_heartbeat(now);
        }
        Some(i)
    }

    /// Forgets reader proxy `pi`; what only it still held is released.
    pub(crate) fn remove_proxy(&mut self, pi: u32, pool: &mut Pool) -> Option<ReaderProxy> {
        let p = self.proxies.remove(pi)?;
        if p.reliable {
            self.reliable_proxies -= 1;
        }
        self.lowest_floor.stale = true;
        self.lowest_acked.stale = true;
        self.release_acknowledged(pool);
        Some(p)
    }

    pub(crate) fn proxy(&self, pi: u32) -> Option<&ReaderProxy> {
        self.proxies.get(pi)
    }

    pub(crate) fn proxy_mut(&mut self, pi: u32) -> Option<&mut ReaderProxy> {
        self.proxies.get_mut(pi)
    }

    /// Tells the caches that proxy `pi` sent or acknowledged up to a new point, or changed
    /// its unresponsive state (`old` was its [`Writer::proxy_marks`] before).
    pub(crate) fn proxy_moved(&mut self, pi: u32, old: (i64, i64)) {
        if let Some(p) = self.proxies.get(pi) {
            let (acked, floor) = (p.held_ack(), p.floor());
            if p.reliable {
                self.lowest_acked.moved(old.0, acked);
            }
            self.lowest_floor.moved(old.1, floor);
        }
    }

    /// The `(acked, floor)` of proxy `pi`, to hand to [`Writer::proxy_moved`] after a change.
    pub(crate) fn proxy_marks(&self, pi: u32) -> (i64, i64) {
        self.proxies
            .get(pi)
            .map_or((0, 0), |p| (p.held_ack(), p.floor()))
    }

    /// Whether any reliable reader still misses something.
    pub(crate) fn unacknowledged(&mut self) -> bool {
        if self.reliable_proxies == 0 {
            return false;
        }
        let last = self.last_sn();
        let proxies = &self.proxies;
        self.lowest_acked
            .get(
                proxies
                    .iter()
                    .filter(|(_, p)| p.reliable)
                    .map(|(_, p)| p.held_ack()),
            )
            .is_some_and(|a| a < last)
    }

    /// [`Writer::unacknowledged`] without updating the cache.
    pub(crate) fn unacknowledged_now(&self) -> bool {
        let last = self.last_sn();
        if !self.lowest_acked.stale {
            return self.reliable_proxies > 0 && self.lowest_acked.value < last;
        }
        self.proxies
            .iter()
            .any(|(_, p)| p.reliable && !p.unresponsive && p.acked < last)
    }

    /// Bytes of samples sent to reader `p` and not yet acknowledged (the sample being sent
    /// counts in full once started).
    pub(crate) fn in_flight(&self, p: &ReaderProxy) -> usize {
        let sent = if p.frag_next() > 1 {
            self.bytes_before(p.next_unsent + 1)
        } else {
            self.bytes_before(p.next_unsent)
        };
        sent.saturating_sub(self.bytes_before(p.acked + 1)) as usize
    }

    /// Whether a heartbeat riding on new data for `p` should ask for an acknowledgement: once
    /// half the window is unacknowledged (half a KEEP_ALL history of samples, or half of
    /// `in_flight_limit` bytes), so that the answer is back before the window closes and a
    /// stream is not held up by its round trip. Below that the periodic heartbeat asks, as
    /// Cyclone DDS's writers do: a ping, or a trickle of small samples, costs its reader no
    /// ACKNACK each.
    pub(crate) fn ack_wanted(&self, p: &ReaderProxy) -> bool {
        let unacked = (p.next_unsent - 1).saturating_sub(p.acked);
        if self.history == History::KeepAll && unacked.saturating_mul(2) >= self.max_samples as i64
        {
            return true;
        }
        self.in_flight(p).saturating_mul(2) >= self.in_flight_limit
    }

    #[cfg_attr(not(feature = "fast-paths"), inline(never))]
    pub(crate) fn schedule_heartbeat(&mut self, now: Instant) {
        if self.next_heartbeat.is_none() {
            self.next_heartbeat = Some(now + self.heartbeat_period);
        }
    }

    /// Timer: owe a heartbeat to every reliable reader that misses data, and to every one that
    /// never acknowledged: the heartbeat owed at matching is lost when it reaches the reader
    /// before the reader knows the writer, and only an ACKNACK tells us it does now. `owe` is
    /// told each proxy that now owes one. Heartbeats to a reader that answered none of the
    /// last [`BACKOFF_AFTER`] back off (the interval doubles up to 2^[`BACKOFF_MAX_SHIFT`]
    /// periods). A reader that left unacknowledged for `timeout` what it had been sent is
    /// marked unresponsive and `lost` is told.
    pub(crate) fn on_timeout(
        &mut self,
        now: Instant,
        timeout: Span,
        // `dyn`, not generic: one copy for builtin and user writers (flash on a small device).
        owe: &mut dyn FnMut(u32),
        lost: &mut dyn FnMut(u32),
    ) -> Tick {
        let mut tick = Tick::default();
        let Some(t) = self.next_heartbeat else {
            return tick;
        };
        if now < t {
            return tick;
        }
        self.next_heartbeat = None;
        let last = self.last_sn();
        let mut any = false;
        let Writer {
            proxies,
            lowest_floor,
            lowest_acked,
            ..
        } = self;
        for (i, p) in proxies.iter_mut() {
            if !p.reliable {
                continue;
            }
            // What it owes is everything held, sent to it or not: a reader never sent anything
            // (its participant never answered, so the discovery gate holds its traffic) must
            // not hold the history for longer than the timeout either.
            if p.best_acked >= p.check_sn {
                // Checkpoint reached: a new one for what is outstanding now, if anything.
                (p.check_sn, p.check_at) = if p.acked < last {
                    (last, now)
                } else {
                    (0, now)
                };
            } else if !p.unresponsive && now.saturating_since(p.check_at) >= timeout {
                let old = (p.held_ack(), p.floor());
                p.unresponsive = true;
                lowest_acked.moved(old.0, p.held_ack());
                lowest_floor.moved(old.1, p.floor());
                tick.unresponsive += 1;
                lost(i);
            }
            if p.acked < last || !p.ack_guard.seen() {
                any = true;
                if p.hb_skip > 0 {
                    p.hb_skip -= 1;
                    tick.backed_off += 1;
                    continue;
                }
                p.heartbeat_owed = true;
                owe(i);
                p.unanswered = p.unanswered.saturating_add(1);
                let k = p
                    .unanswered
                    .saturating_sub(BACKOFF_AFTER)
                    .min(BACKOFF_MAX_SHIFT);
                p.hb_skip = (1u8 << k) - 1;
            }
        }
        if any {
            self.next_heartbeat = Some(now + self.heartbeat_period);
        }
        tick
    }

    /// Applies an ACKNACK from matched reader `pi` (see [`AckNote`] for what it may be).
    pub(crate) fn on_acknack(&mut self, now: Instant, pi: u32, a: &AckNackRepr) -> AckNote {
        let mut note = AckNote::default();
        let last = self.last_sn();
        let period = self.heartbeat_period;
        let marks = self.proxy_marks(pi);
        // What the history no longer holds was announced gone (HEARTBEAT firstSN, GAP): a
        // reader may acknowledge it although it was never sent to it as DATA (an unresponsive
        // reader's history is released under it).
        let released = self.first_sn() - 1;
        let Some(p) = self.proxies.get_mut(pi) else {
            return note;
        };
        if !p.reliable {
            return note;
        }
        note.known = true;
        let fresh = p.ack_guard.check(a.count, now);
        // Base 0 is the pre-emptive ACKNACK of some vendors: read it as base 1.
        let base = a.reader_sn_state.base.0.max(1);
        let sent = p.sent(last).max(released.min(last));
        let acked = base - 1;
        // A stale count is still used, but never to step back. A forger that keeps
        // poisoning the count would otherwise keep a live reader's acknowledgements and
        // requests out for good (its lost samples never repaired, itself marked unresponsive);
        // the forger gains nothing from this, since it can always send a newer count itself,
        // and repeated requests are throttled whatever their count (see `repeat_due`).
        let stale = fresh == Freshness::Stale;
        if acked > sent {
            // It acknowledges what it was never sent: forged, or confused. Believing it would
            // drop samples the reader never got; its count is not recorded either.
            if stale {
                note.stale = true;
            } else {
                note.unsent = true;
            }
            return note;
        }
        if !stale {
            p.ack_guard.accept(a.count, now);
        }
        note.reset = fresh == Freshness::Reset;
        p.unanswered = 0;
        p.hb_skip = 0;
        let advanced = acked > p.acked;
        if advanced {
            p.acked = acked;
        } else if self.believe_rewind
            && !stale
            && a.reader_sn_state.base.0 >= 1
            && acked < p.acked
            && acked >= p.start - 1
        {
            // The reader lost what it acknowledged (it asks for its whole history again, as an
            // engine does after refusing endpoints to a full table): believe it, so that the
            // heartbeats go on until it has everything again, and lost repairs are asked again.
            p.acked = acked;
        }
        // An unresponsive reader is served again once it acknowledges anything new, or
        // everything it ever did (it may have been sent nothing new since it was marked).
        let caught_up = p.acked >= p.best_acked;
        if p.acked > p.best_acked {
            p.best_acked = p.acked;
        }
        if caught_up {
            if p.unresponsive {
                p.unresponsive = false;
                note.recovered = true;
            }
            if p.best_acked >= p.check_sn {
                (p.check_sn, p.check_at) = if p.acked < last {
                    (last, now)
                } else {
                    (0, now)
                };
            }
        }
        note.stale_used = stale;
        // Keep the requests for SNs sent; the rest are bogus (SNs not sent for the first time
        // yet will come anyway: no repair for them). SNs repaired before are repeats.
        let (mut repeats, mut head) = (false, false);
        for sn in a.reader_sn_state.iter() {
            if sn.0 > sent {
                note.unsent = true;
            } else if sn.0 >= 1 && sn.0 <= p.repaired_upto {
                repeats = true;
                head |= sn.0 == p.best_acked.saturating_add(1);
            }
        }
        let repeat_ok = repeats && p.repeat_due(now, period, true, head);
        note.throttled = repeats && !repeat_ok;
        let mut req = RepairSet::EMPTY;
        for sn in a.reader_sn_state.iter() {
            if sn.0 >= 1 && sn.0 <= sent && (repeat_ok || sn.0 > p.repaired_upto) {
                if !req.insert(sn.0) {
                    // Beyond the window (the rest too, they come in order): asked for again
                    // after the HEARTBEAT that follows the repairs, as a first request since
                    // `repaired_upto` stays below it.
                    p.heartbeat_owed = true;
                    break;
                }
                if p.unresponsive {
                    // Until it acknowledges again, only what its acknowledgement waits for.
                    note.throttled |= a.reader_sn_state.iter().nth(1).is_some();
                    break;
                }
            }
        }
        if let Some(top) = req.iter().last() {
            p.repaired_upto = p.repaired_upto.max(top.0);
        }
        p.requested = req;
        // Answer at once when asked to, or when the reader moved on but still lacks what it did
        // not ask for (its news may be stale). A final ACKNACK that moves nothing gets no
        // immediate answer: a reader that cannot take more (a full KEEP_ALL queue) would
        // otherwise ping-pong with us; the periodic heartbeat covers it.
        if !a.final_flag || (advanced && p.acked < sent && !p.has_repairs()) {
            p.heartbeat_owed = true;
        }
        let lagging = p.acked < last;
        self.proxy_moved(pi, marks);
        if lagging {
            self.schedule_heartbeat(now);
        }
        note
    }

    /// Applies a NACK_FRAG from reader `pi` (see [`AckNote`]).
    #[cfg(feature = "frag")]
    pub(crate) fn on_nack_frag(&mut self, now: Instant, pi: u32, n: &NackFragRepr) -> AckNote {
        let mut note = AckNote::default();
        let held = self.change(n.writer_sn.0).is_some();
        let last = self.last_sn();
        let period = self.heartbeat_period;
        let Some(p) = self.proxies.get_mut(pi) else {
            return note;
        };
        if !p.reliable {
            return note;
        }
        note.known = true;
        let fresh = p.nack_frag_guard.check(n.count, now);
        if fresh == Freshness::Stale {
            note.stale = true;
            return note;
        }
        let sn = n.writer_sn.0;
        // The sample being fragmented for the first time may be asked about: its fragments
        // are on their way. Anything later was never sent.
        let partial = sn == p.next_unsent && p.frag_next > 1 && sn <= last;
        if sn > p.sent(last) && !partial {
            note.unsent = true;
            return note;
        }
        p.nack_frag_guard.accept(n.count, now);
        note.reset = fresh == Freshness::Reset;
        if partial {
            return note;
        }
        if sn < p.start || !held {
            // Gone: the repair path answers with a GAP. Added to what an ACKNACK in the same
            // message asked for, not in its place.
            // Beyond the window of what it asked for already: it asks again once those are
            // repaired (nothing marks this one repaired).
            if !p.requested.insert(sn) {
                p.heartbeat_owed = true;
            }
        } else {
            // Fragments repaired before are repeats, as for whole samples.
            let (msn, mf) = p.frag_repaired;
            let repeat = |f: u32| sn < msn || (sn == msn && f <= mf);
            let set = n.fragment_number_state;
            let repeats = set.iter().any(repeat);
            let head = sn == p.best_acked.saturating_add(1);
            let repeat_ok = repeats && p.repeat_due(now, period, false, head);
            note.throttled = repeats && !repeat_ok;
            let mut cut = FragmentNumberSet::new(set.base, set.num_bits);
            for f in set.iter().filter(|&f| repeat_ok || !repeat(f)) {
                cut.insert(f);
                if p.unresponsive {
                    note.throttled |= set.iter().nth(1).is_some();
                    break;
                }
            }
            if let Some(top) = cut.iter().last() {
                p.frag_repaired = match p.frag_repaired {
                    (m, f) if m == sn => (sn, f.max(top)),
                    (m, _) if m < sn => (sn, top),
                    old => old,
                };
            }
            p.nack_frag = cut.iter().next().is_some().then_some((sn, cut));
        }
        note
    }

    /// Whether everything written was acknowledged by every reliable reader (and there is one).
    pub(crate) fn take_all_acknowledged(&mut self) -> bool {
        if self.all_acked_reported || self.unacknowledged() {
            return false;
        }
        self.all_acked_reported = true;
        true
    }

    /// Whether proxy `pi` is owed anything a datagram can carry now.
    pub(crate) fn owes(&self, pi: u32) -> bool {
        let Some(p) = self.proxies.get(pi) else {
            return false;
        };
        let new_data = p.next_unsent <= self.last_sn() && !p.unresponsive;
        let window_open = new_data
            && (!p.reliable || p.frag_next() > 1 || self.in_flight(p) < self.in_flight_limit);
        window_open || p.heartbeat_owed || p.nack_frag_pending() || p.has_repairs()
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::wire::{Count, EntityId, GuidPrefix, SequenceNumberSet};
    use std::vec::Vec;

    const MAX_HISTORY: usize = 64;

    /// A pool and a writer on leaked test storage.
    fn pool() -> Pool<'static> {
        let bytes: &'static mut [u8] = Vec::leak(std::vec![0u8; 256 * 1024]);
        let links: &'static mut [u32] = Vec::leak(std::vec![0u32; 1024]);
        Pool::new(256, 1024, Some(bytes), Some(links))
    }

    /// A volatile KEEP_ALL writer (reliable or best effort) with one matched reader proxy.
    fn keep_all_with_reader(reliable: bool) -> (Writer<'static>, u32, Guid) {
        let mut w = writer(
            Guid::new(GuidPrefix([1; 12]), EntityId::new(1, 0x03)),
            reliable,
            Durability::Volatile,
            History::KeepAll,
        );
        let reader = Guid::new(GuidPrefix([2; 12]), EntityId::new(1, 0x04));
        let loc = Locator::udpv4([127, 0, 0, 1], 7411);
        let pi = w
            .add_proxy(Instant::ZERO, reader, loc, reliable, Durability::Volatile)
            .unwrap();
        (w, pi, reader)
    }

    /// With the history full and everything sent, every byte written is in flight: the
    /// position past the last change is not the first one (the ring wraps there).
    #[test]
    fn in_flight_counts_a_full_history_sent_whole() {
        let mut pool = pool();
        let (mut w, pi, _) = keep_all_with_reader(true);
        for _ in 0..MAX_HISTORY {
            w.add(
                Instant::ZERO,
                &mut pool,
                &[&[0, 1, 0, 0, 9, 9, 9, 9]],
                None,
                None,
                StatusInfo(0),
            )
            .unwrap();
        }
        let p = w.proxy_mut(pi).unwrap();
        p.next_unsent = MAX_HISTORY as i64 + 1;
        let p = *p;
        assert_eq!(w.in_flight(&p), 8 * MAX_HISTORY);
    }

    fn writer(
        guid: Guid,
        reliable: bool,
        durability: Durability,
        history: History,
    ) -> Writer<'static> {
        let h: &'static mut [HistorySlot] =
            Vec::leak((0..MAX_HISTORY).map(|_| HistorySlot::EMPTY).collect());
        let p: &'static mut [ReaderProxySlot] =
            Vec::leak((0..8).map(|_| ReaderProxySlot::EMPTY).collect());
        Writer::new(
            guid,
            reliable,
            durability,
            history,
            Span::from_millis(100),
            128 << 10,
            WriterStorage {
                history: Slots::Borrowed(h),
                proxies: Slab::new(Slots::Borrowed(p), 8),
            },
        )
    }

    /// SEDP-style history (KEEP_LAST per instance): many endpoints created and deleted around
    /// a long-lived one never push the long-lived announcement out.
    #[test]
    fn churn_never_evicts_a_live_instance() {
        let mut pool = pool();
        let mut w = writer(
            Guid::new(GuidPrefix([1; 12]), EntityId::SEDP_PUB_WRITER),
            true,
            Durability::TransientLocal,
            History::KeepLast(1),
        );
        let key = |k: u32| {
            let mut h = [0u8; 16];
            h[..4].copy_from_slice(&k.to_le_bytes());
            h
        };
        let body: &[u8] = &[0, 3, 0, 0, 1, 0, 0, 0];
        let t = Instant::ZERO;
        w.add(t, &mut pool, &[body], None, Some(key(0)), StatusInfo(0))
            .unwrap();
        for k in 1..(4 * MAX_HISTORY as u32) {
            w.add(t, &mut pool, &[body], None, Some(key(k)), StatusInfo(0))
                .unwrap();
            w.remove_instance(&key(k), &mut pool);
            w.add(
                t,
                &mut pool,
                &[],
                None,
                Some(key(k)),
                StatusInfo(StatusInfo::DISPOSED),
            )
            .unwrap();
        }
        assert!(w
            .changes()
            .any(|c| c.key_hash == Some(key(0)) && c.status.0 == 0));
        assert!(w.changes().count() <= MAX_HISTORY);
    }

    #[test]
    fn best_effort_keep_all_keeps_samples_until_sent() {
        let mut pool = pool();
        let (mut w, pi, _) = keep_all_with_reader(false);
        for _ in 0..3 {
            let r = w.add(
                Instant::ZERO,
                &mut pool,
                &[&[0, 1, 0, 0]],
                None,
                None,
                StatusInfo(0),
            );
            assert!(r.is_ok());
        }
        // Nothing was sent yet: all three must still be there for the first send.
        assert_eq!(w.changes().count(), 3);
        // Once sent, a best-effort reader needs them no more.
        let next = w.next_sn;
        let marks = w.proxy_marks(pi);
        if let Some(p) = w.proxy_mut(pi) {
            p.next_unsent = next;
        }
        w.proxy_moved(pi, marks);
        w.release_acknowledged(&mut pool);
        assert_eq!(w.changes().count(), 0);
    }

    /// Sequence numbers at the ends of the range in an ACKNACK and a NACK_FRAG never overflow
    /// (a hostile NACK_FRAG with SN i64::MIN after an ACKNACK based near i64::MAX panicked in
    /// a debug build).
    #[test]
    #[cfg(feature = "frag")]
    fn extreme_sequence_numbers_are_harmless() {
        let mut pool = pool();
        let (mut w, pi, reader) = keep_all_with_reader(true);
        w.add(
            Instant::ZERO,
            &mut pool,
            &[&[0, 1, 0, 0]],
            None,
            None,
            StatusInfo(0),
        )
        .unwrap();
        let ack = AckNackRepr {
            reader_id: reader.entity,
            writer_id: w.guid.entity,
            reader_sn_state: SequenceNumberSet::new(SequenceNumber(i64::MAX - 2), 10),
            count: Count(1),
            final_flag: false,
        };
        w.on_acknack(Instant::ZERO, pi, &ack);
        let nf = NackFragRepr {
            reader_id: reader.entity,
            writer_id: w.guid.entity,
            writer_sn: SequenceNumber(i64::MIN),
            fragment_number_state: FragmentNumberSet::new(1, 1),
            count: Count(1),
        };
        w.on_nack_frag(Instant::ZERO, pi, &nf);
        let mut buf = [0u8; 1500];
        let _ = crate::transmit::writer_datagram(
            &mut w,
            pi,
            &pool,
            GuidPrefix([1; 12]),
            false,
            1344,
            &mut buf,
        );
    }

    /// A volatile KEEP_ALL writer whose readers all left keeps accepting writes (it used to
    /// fill up: with no proxy the lowest acknowledgement was unknown, so nothing was released).
    #[test]
    fn keep_all_without_readers_never_fills() {
        let mut pool = pool();
        let mut w = writer(
            Guid::new(GuidPrefix([1; 12]), EntityId::new(1, 0x03)),
            true,
            Durability::Volatile,
            History::KeepAll,
        );
        for _ in 0..3 * MAX_HISTORY {
            let r = w.add(
                Instant::ZERO,
                &mut pool,
                &[&[0, 1, 0, 0]],
                None,
                None,
                StatusInfo(0),
            );
            assert!(r.is_ok(), "{r:?}");
        }
    }

    #[test]
    fn heartbeats_until_a_reliable_reader_acknowledges() {
        let (mut w, pi, reader) = keep_all_with_reader(true);
        // The heartbeat owed at matching went out (and was lost): with nothing written, the
        // timer still owes another until the reader answers.
        w.proxy_mut(pi).unwrap().heartbeat_owed = false;
        let mut t = Instant::ZERO;
        for _ in 0..3 {
            t = w.next_heartbeat.expect("heartbeat scheduled");
            w.on_timeout(t, Span::from_secs(20), &mut |_| {}, &mut |_| {});
            assert!(w.proxy_mut(pi).unwrap().heartbeat_owed);
            w.proxy_mut(pi).unwrap().heartbeat_owed = false;
        }
        let ack = AckNackRepr {
            reader_id: reader.entity,
            writer_id: w.guid.entity,
            reader_sn_state: SequenceNumberSet::new(SequenceNumber(1), 0),
            count: Count(1),
            final_flag: true,
        };
        assert!(w.on_acknack(t, pi, &ack).known);
        w.proxy_mut(pi).unwrap().heartbeat_owed = false;
        if let Some(t) = w.next_heartbeat {
            w.on_timeout(t, Span::from_secs(20), &mut |_| {}, &mut |_| {});
        }
        assert!(!w.proxy_mut(pi).unwrap().heartbeat_owed);
        assert_eq!(w.next_heartbeat, None);
    }

    /// The repair set keeps a window of 64 SNs from its lowest: anything below the lowest or
    /// 64 or more above it is refused (the set left unchanged), never silently dropped or
    /// wrapped.
    #[test]
    fn repair_set_window() {
        let mut r = RepairSet::EMPTY;
        assert!(r.is_empty() && r.iter().next().is_none());
        assert!(r.insert(100));
        assert!(r.insert(163));
        assert!(!r.insert(164), "65 SNs from 100");
        assert!(r.insert(130));
        assert!(!r.insert(99), "below the lowest");
        assert!(r.insert(130), "twice");
        let all: Vec<i64> = r.iter().map(|sn| sn.0).collect();
        assert_eq!(all, [100, 130, 163]);
        r.remove(163);
        r.remove(1);
        r.remove(i64::MAX);
        r.remove(i64::MIN);
        assert_eq!(r.iter().map(|sn| sn.0).collect::<Vec<_>>(), [100, 130]);
        r.remove(100);
        r.remove(130);
        assert!(r.is_empty());
        // Emptied, it starts again anywhere.
        assert!(r.insert(7) && r.iter().eq([SequenceNumber(7)]));
        // Near the ends of the SN range.
        let mut r = RepairSet::EMPTY;
        assert!(r.insert(i64::MAX - 63) && r.insert(i64::MAX) && !r.insert(1));
        assert_eq!(r.iter().count(), 2);
        let mut r = RepairSet::EMPTY;
        assert!(r.insert(1) && !r.insert(i64::MAX) && !r.insert(i64::MIN));
        // A removal whose difference wraps touches nothing.
        let mut r = RepairSet::EMPTY;
        assert!(r.insert(i64::MAX - 1) && r.insert(i64::MAX));
        r.remove(i64::MIN);
        r.remove(i64::MIN + 1);
        assert_eq!(r.iter().count(), 2);
        r.remove(i64::MAX);
        assert!(r.iter().eq([SequenceNumber(i64::MAX - 1)]));
    }

    /// An ACKNACK asking for more than the repair window holds (every other SN of 1..=164,
    /// the first 100 gone from the history, so GAPs): the lowest 64 SNs' worth are kept, the
    /// rest are not marked repaired, a HEARTBEAT is owed so the reader asks again, and the
    /// next ACKNACK for the rest is repaired at once, not throttled as a repeat. Nothing asked
    /// for is lost.
    #[test]
    fn a_nack_wider_than_the_repair_window_is_repaired_in_rounds() {
        let mut pool = pool();
        let (mut w, pi, reader) = keep_all_with_reader(true);
        w.next_sn = 101;
        for _ in 0..MAX_HISTORY {
            w.add(
                Instant::ZERO,
                &mut pool,
                &[&[0, 1, 0, 0]],
                None,
                None,
                StatusInfo(0),
            )
            .unwrap();
        }
        let n = 100 + MAX_HISTORY as i64;
        let p = w.proxy_mut(pi).unwrap();
        p.next_unsent = n + 1;
        p.heartbeat_owed = false;
        let mut missing: Vec<i64> = (1..=n).step_by(2).collect();
        let mut count = 0;
        let mut rounds = 0;
        while !missing.is_empty() {
            rounds += 1;
            assert!(rounds <= 4, "still missing {missing:?}");
            count += 1;
            let mut set = SequenceNumberSet::new(SequenceNumber(missing[0]), 256);
            for &sn in &missing {
                set.insert(SequenceNumber(sn));
            }
            let a = AckNackRepr {
                reader_id: reader.entity,
                writer_id: w.guid.entity,
                reader_sn_state: set,
                count: Count(count),
                final_flag: true,
            };
            let note = w.on_acknack(Instant::from_millis(count as u64), pi, &a);
            assert!(
                !note.throttled,
                "round {rounds}: a first request is not a repeat"
            );
            let p = w.proxy_mut(pi).unwrap();
            let repaired: Vec<i64> = p.requested.iter().map(|sn| sn.0).collect();
            assert!(!repaired.is_empty(), "round {rounds} repairs something");
            assert!(repaired.iter().all(|sn| missing.contains(sn)));
            assert_eq!(repaired[0], missing[0], "the lowest first");
            missing.retain(|sn| !repaired.contains(sn));
            // What is left is owed a HEARTBEAT, which the reader answers with what it lacks.
            assert_eq!(p.heartbeat_owed, !missing.is_empty(), "round {rounds}");
            p.heartbeat_owed = false;
            p.requested = RepairSet::EMPTY;
        }
        assert_eq!(rounds, 3, "82 SNs over 164");
    }

    /// A forger posing as a reader that asks again and again for samples the reader
    /// acknowledged long ago takes a round of repeated repairs as soon as one is due; the
    /// real reader, which lost the repair of its next sample, must still get one after each
    /// forged round. Before, the forged rounds (each growing the wait) took every round, the
    /// reader never got its sample, was found unresponsive, and the writer dropped the sample
    /// for it (`hostile_mix`, seeds 2 and 3).
    #[test]
    fn forged_repeat_requests_do_not_take_the_readers_head_repairs() {
        let mut pool = pool();
        let (mut w, pi, reader) = keep_all_with_reader(true);
        for _ in 0..12 {
            w.add(
                Instant::ZERO,
                &mut pool,
                &[&[0, 1, 0, 0]],
                None,
                None,
                StatusInfo(0),
            )
            .unwrap();
        }
        w.proxy_mut(pi).unwrap().next_unsent = 13;
        let mut count = 0;
        let mut ack = |w: &mut Writer, at: u64, base: i64, nacked: &[i64]| {
            count += 1;
            let mut set = SequenceNumberSet::new(SequenceNumber(base), 32);
            for &sn in nacked {
                set.insert(SequenceNumber(sn));
            }
            let a = AckNackRepr {
                reader_id: reader.entity,
                writer_id: w.guid.entity,
                reader_sn_state: set,
                count: Count(count),
                final_flag: false,
            };
            let note = w.on_acknack(Instant::from_millis(at), pi, &a);
            let p = w.proxy_mut(pi).unwrap();
            let asked = p.requested.iter().any(|sn| nacked.contains(&sn.0));
            p.requested = RepairSet::EMPTY;
            (asked, note.throttled)
        };
        // The reader has 1..=10 and asks for 11 (repaired once, and lost again).
        assert_eq!(ack(&mut w, 0, 11, &[11]), (true, false));
        // A forged request every 10 ms, the real one every 130 ms.
        let forged: Vec<i64> = (1..=8).collect();
        let (mut forged_rounds, mut taken) = (0, false);
        for t in (100..20_000).step_by(10) {
            if ack(&mut w, t, 1, &forged).0 {
                forged_rounds += 1;
                taken = true;
            }
            if t % 130 == 0 {
                let served = ack(&mut w, t + 5, 11, &[11]).0;
                assert!(
                    served || !taken,
                    "at {t} ms the forger took the reader's round"
                );
                taken = false;
            }
        }
        assert!(forged_rounds >= 10, "{forged_rounds} forged rounds");
    }
}
