//! The reader state machine: writer proxies, ordered exactly-once delivery, ACKNACK.
//!
//! Received samples live in the payload pool; a reader owns a bounded set of sample slots,
//! handed out from a free list, holding both samples delivered and waiting for `take` (a FIFO)
//! and out-of-order samples waiting for a hole to fill (a list per writer proxy, sorted by
//! sequence number). In-order delivery, `take` and KEEP_LAST eviction are O(1) per sample; an
//! out-of-order sample costs a walk of what is already buffered from its writer. A reliable
//! reader that has no room does not acknowledge, so the writer repairs later: nothing accepted
//! is ever lost.
//!
//! A remote writer is not trusted to tell the truth about its sequence numbers (see
//! `tests/tests/hostile_reliability.rs`): HEARTBEAT counts are judged by [`CountGuard`], and
//! GAP and HEARTBEAT ranges are believed only as far as is plausible (see [`PLAUSIBLE_LEAP`]),
//! so that one forged message cannot make a reader skip samples not even written yet.
//!
//! Reassembly is where a peer can make a reader hold memory it never delivers, so it is
//! bounded four ways (the hostile-networks defences):
//! - a partial sample holds pool blocks only up to the furthest fragment received
//!   ([`Pool::grow`]), not the size its first fragment announces;
//! - the partial samples of one matched writer hold at most its share of the pool: a quarter,
//!   but never less than one sample of the reader's largest size if the pool holds that much
//!   ([`Reader::share`]); beyond it the writer's own later partial samples make way, or the
//!   fragment is refused;
//! - when the pool runs short, a partial sample of the writer holding the most blocks (the
//!   stalest of its samples first) is evicted before anything is refused, and when every
//!   reassembly slot is taken the stalest partial sample makes way for a new one;
//! - a partial sample that made no progress for the configured reassembly timeout is dropped
//!   ([`Reader::expire`], driven by one engine timer per reader).
//!
//! A builtin reader's largest sample is the discovery limit, so announced sizes above it are
//! refused at the first fragment. A reliable writer repairs whatever was dropped.
// Without the `frag` feature the fragment paths here are never called (and not linked).
#![cfg_attr(not(feature = "frag"), allow(dead_code))]

use crate::freshness::{CountGuard, Freshness};
use crate::pool::{Bytes, Pool};
use crate::qos::History;
use crate::rpc::Related;
use crate::storage::{Entry, Slab, Slots, NONE};
use crate::time::{Instant, MaybeInstant, Span};
use crate::wire::{
    AckNackRepr, Count, EntityId, FragmentNumberSet, GapRepr, Guid, HeartbeatRepr, Locator,
    NackFragRepr, SequenceNumber, SequenceNumberSet, StatusInfo, Time, MAX_SET_BITS,
};

/// How far past the highest SN heard from a writer (`WriterProxy::heard`) one message may
/// plausibly reach.
///
/// "Heard" is the highest SN the writer showed it wrote: the SN of a DATA or DATA_FRAG, or the
/// lastSN of a HEARTBEAT. The first HEARTBEAT accepted from a writer is the reference: its
/// firstSN is believed (a reader joining a writer that wrote 10^9 samples must not crawl
/// there), and `heard` starts just below it. Only that firstSN: a lastSN believed whole
/// would make any GAP below it plausible, so a forged first HEARTBEAT claiming 2^40 followed
/// by a forged GAP would make the reader skip everything the writer will ever write. Then:
/// - a HEARTBEAT's lastSN and a DATA's SN raise `heard` by at most this much each (a
///   HEARTBEAT further ahead is believed up to there and counted as implausible; a DATA before
///   the first HEARTBEAT is judged from 0);
/// - a HEARTBEAT's firstSN, after the first, makes the reader skip only SNs up to `heard` as
///   it was before that HEARTBEAT (samples the reader never heard of are asked for, and a real
///   writer that no longer has them answers with a GAP, now plausible: one round trip more);
/// - a GAP reaching more than [`MAX_SET_BITS`] (the reader's window) past `heard` is ignored
///   and counted. Cyclone DDS and Fast DDS send GAPs for filtered or overwritten samples up
///   to their last SN, just before the DATA or HEARTBEAT that announces it: within the window
///   they pass; a longer one is asked again after the HEARTBEAT, and then passes.
///
/// A real writer moves `heard` with every DATA and every HEARTBEAT, so this bounds how far it
/// may run ahead between two of them that reach the reader: 4096 samples in one heartbeat
/// period (40 000 samples/s at the default 100 ms) are caught up at once, more over several
/// heartbeats. A forger gains at most this much per forged message instead of 2^63.
pub(crate) const PLAUSIBLE_LEAP: i64 = 4096;

/// What the HEARTBEATs and GAPs handed to readers were found to be, for the engine's counters.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Claims {
    /// HEARTBEAT counts not newer than the last one accepted (dropped).
    pub stale: u64,
    /// HEARTBEAT counts accepted after [`crate::freshness::COUNT_RESET`].
    pub reset: u64,
    /// Ranges beyond what the writer plausibly sent (ignored, or believed only as far as
    /// plausible).
    pub implausible: u64,
}

/// Period of pre-emptive ACKNACKs until the first HEARTBEAT.
pub(crate) const PREEMPTIVE_PERIOD: Span = Span::from_secs(1);

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
    /// The last HEARTBEAT count accepted; once one was (the reference), a HEARTBEAT's firstSN
    /// is judged against `heard` too, not only its lastSN.
    pub hb_guard: CountGuard,
    /// The highest SN this writer plausibly sent (see [`PLAUSIBLE_LEAP`]).
    pub heard: i64,
    pub heartbeat_seen: bool,
    pub ack_owed: bool,
    pub next_preemptive: MaybeInstant,
    /// First sample slot of the out-of-order samples, sorted by SN.
    pending: u32,
    /// In the engine's queue of owed work.
    pub queued: bool,
    /// Pool blocks held by this writer's partial samples in this reader.
    held: u32,
    /// The next match of the same remote endpoint (engine bookkeeping).
    pub next_of_remote: u64,
}

impl WriterProxy {
    /// A DATA or DATA_FRAG with SN `sn` came from this writer: it wrote that far (believed up
    /// to [`PLAUSIBLE_LEAP`] past what was heard).
    fn hear(&mut self, sn: i64) {
        self.heard = self.heard.max(sn.min(self.plausible_top()));
    }

    /// The highest SN a message from this writer may plausibly name.
    fn plausible_top(&self) -> i64 {
        self.heard.saturating_add(PLAUSIBLE_LEAP)
    }
}

crate::storage::slot_type!(
    /// One matched remote writer of a local reader; public so that a caller without `alloc`
    /// can provide them.
    WriterProxySlot,
    WriterProxy
);

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
    /// The request it answers (a reply).
    pub related: Related,
    /// The next slot of the list this sample is on (delivered FIFO or a proxy's pending list).
    next: u32,
}

crate::storage::slot_type!(
    /// One sample slot of a reader; public so that a caller without `alloc` can provide them.
    SampleSlot,
    Sample
);

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
    /// A sample larger than this reader accepts (for a builtin reader: the discovery limit).
    TooLarge,
    /// Fragments refused because their writer's partial samples hold its share of the pool.
    OverShare,
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
    pub related: Related,
}

impl Incoming<'_> {
    /// The sample slot for this sample, its payload held in the pool as `data`.
    fn sample(&self, data: Bytes) -> Sample {
        Sample {
            writer: self.writer,
            sn: self.sn,
            data: Some(data),
            timestamp: self.timestamp,
            status: self.status,
            key_hash: self.key_hash,
            related: self.related,
            next: NONE,
        }
    }

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
    /// When it arrived: a partial sample expires after a timeout without progress.
    pub now: Instant,
}

/// A sample being put back together from its fragments; its bitmap is the reader's words
/// `[slot * words, (slot + 1) * words)`.
pub(crate) struct Reassembly {
    writer: Guid,
    /// Index of the writer's proxy, whose `held` counts this sample's blocks.
    proxy: u32,
    sn: i64,
    sample_size: u32,
    fragment_size: u16,
    total: u32,
    received: u32,
    /// Blocks up to the furthest fragment received (the sample's size once complete).
    data: Bytes,
    /// The last block of `data`, where it grows.
    last: u32,
    /// When a fragment last added to it.
    touched: Instant,
    timestamp: Option<Time>,
    status: StatusInfo,
    key_hash: Option<[u8; 16]>,
}

crate::storage::slot_type!(
    /// One partially received sample of a reader; public so that a caller without `alloc`
    /// can provide them.
    ReassemblySlot,
    Reassembly
);

/// A deleted reader's runs: proxies, samples, partial samples, fragment bitmaps.
pub(crate) type ReaderRuns<'a> = (
    Slots<'a, WriterProxySlot>,
    Slots<'a, SampleSlot>,
    Slots<'a, ReassemblySlot>,
    Slots<'a, u32>,
);

/// Where a reader keeps its proxies, samples and partial samples.
pub(crate) struct ReaderStorage<'a> {
    pub proxies: Slab<'a, WriterProxySlot>,
    pub samples: Slab<'a, SampleSlot>,
    pub frags: Slots<'a, ReassemblySlot>,
    /// `frags.len() * words` bitmap words.
    pub bits: Slots<'a, u32>,
    /// Largest sample reassembled.
    pub max_sample: usize,
}

pub(crate) struct Reader<'a> {
    pub guid: Guid,
    pub reliable: bool,
    pub history: History,
    pub max_samples: usize,
    pub proxies: Slab<'a, WriterProxySlot>,
    samples: Slab<'a, SampleSlot>,
    /// Delivered samples, oldest first.
    head: u32,
    tail: u32,
    delivered: usize,
    frags: Slots<'a, ReassemblySlot>,
    /// Occupied slots of `frags`: with none, in-order delivery skips looking at them.
    partials: u32,
    bits: Slots<'a, u32>,
    words: usize,
    max_sample: usize,
    pub acknack_count: u32,
    nack_frag_count: u32,
    /// Set when samples were delivered since the application last emptied the queue.
    pub notify: bool,
    /// Partial samples evicted since the engine last looked ([`Reader::take_evicted`]).
    evicted: u32,
    /// Set when a partial sample was started: the engine arms this reader's expiry timer.
    pub arm_expiry: bool,
}

fn frag_of(s: &ReassemblySlot) -> Option<&Reassembly> {
    match &s.0 {
        Entry::Occupied(r) => Some(r),
        Entry::Vacant(_) => None,
    }
}

impl<'a> Reader<'a> {
    pub(crate) fn new(
        guid: Guid,
        reliable: bool,
        history: History,
        max_samples: usize,
        storage: ReaderStorage<'a>,
    ) -> Self {
        let ReaderStorage {
            proxies,
            samples,
            mut frags,
            bits,
            max_sample,
        } = storage;
        for f in frags.iter_mut() {
            *f = ReassemblySlot::vacant();
        }
        let words = if frags.is_empty() {
            0
        } else {
            bits.len() / frags.len()
        };
        Reader {
            guid,
            reliable,
            history,
            max_samples: max_samples.clamp(1, samples.capacity().max(1)),
            proxies,
            samples,
            head: NONE,
            tail: NONE,
            delivered: 0,
            frags,
            partials: 0,
            bits,
            words,
            // A sample is reassembled only as far as the bitmap reaches; without reassembly
            // slots (none are carved without the `frag` feature) it arrives whole or not at all.
            max_sample: if words == 0 {
                max_sample
            } else {
                max_sample.min(words * 32 * u16::MAX as usize)
            },
            acknack_count: 0,
            nack_frag_count: 0,
            notify: false,
            evicted: 0,
            arm_expiry: false,
        }
    }

    /// A reader with its own heap storage, outside an engine (fuzzing and tests).
    #[cfg(all(feature = "alloc", any(test, feature = "fuzzing")))]
    pub(crate) fn on_heap(
        guid: Guid,
        reliable: bool,
        history: History,
        max_samples: usize,
        reassemblies: usize,
        max_sample: usize,
    ) -> Reader<'static> {
        use alloc::vec::Vec;
        let words = max_sample
            .div_ceil(crate::capacity::MIN_FRAGMENT)
            .div_ceil(32);
        Reader::new(
            guid,
            reliable,
            history,
            max_samples,
            ReaderStorage {
                proxies: Slab::new(Slots::Owned(Vec::new()), 64),
                samples: Slab::new(Slots::Owned(Vec::new()), max_samples),
                frags: Slots::Owned((0..reassemblies).map(|_| ReassemblySlot::EMPTY).collect()),
                bits: Slots::Owned(alloc::vec![0; reassemblies * words]),
                max_sample,
            },
        )
    }

    /// Its runs, for a later reader (the samples must be freed first).
    pub(crate) fn into_runs(self) -> ReaderRuns<'a> {
        (
            self.proxies.into_slots(),
            self.samples.into_slots(),
            self.frags,
            self.bits,
        )
    }

    pub(crate) fn entity(&self) -> EntityId {
        self.guid.entity
    }

    /// Adds a matched writer and returns its index; `None` when the proxy table is full.
    pub(crate) fn add_proxy(
        &mut self,
        now: Instant,
        guid: Guid,
        locator: Locator,
        reliable: bool,
    ) -> Option<u32> {
        let reliable = reliable && self.reliable;
        self.proxies
            .insert(WriterProxy {
                guid,
                locator,
                reliable,
                next: 1,
                last_available: 0,
                hb_guard: CountGuard::NEW,
                heard: 0,
                heartbeat_seen: false,
                ack_owed: reliable,
                next_preemptive: MaybeInstant::new(reliable.then(|| now + PREEMPTIVE_PERIOD)),
                pending: NONE,
                queued: false,
                held: 0,
                next_of_remote: u64::MAX,
            })
            .ok()
    }

    /// Whether the engine has reassembly work from the last DATA: partial samples evicted to
    /// count, or an expiry timer to arm (`Engine::after_reassembly`).
    pub(crate) fn reassembly_news(&self) -> bool {
        self.evicted != 0 || self.arm_expiry
    }

    /// Removes writer proxy `pi` and the samples still waiting for order from it.
    pub(crate) fn remove_proxy(&mut self, pi: u32, pool: &mut Pool) -> Option<WriterProxy> {
        let p = *self.proxies.get(pi)?;
        self.drop_reassemblies_below(pool, p.guid, i64::MAX);
        let mut at = p.pending;
        while at != NONE {
            let s = self.samples.remove(at);
            at = s.as_ref().map_or(NONE, |s| s.next);
            if let Some(Sample { data: Some(d), .. }) = s {
                pool.free(d);
            }
        }
        self.proxies.remove(pi)
    }

    pub(crate) fn proxy(&self, pi: u32) -> Option<&WriterProxy> {
        self.proxies.get(pi)
    }

    pub(crate) fn proxy_mut(&mut self, pi: u32) -> Option<&mut WriterProxy> {
        self.proxies.get_mut(pi)
    }

    fn sample(&self, i: u32) -> Option<&Sample> {
        self.samples.get(i)
    }

    /// Whether SN `sn` of proxy `pi` waits in its pending list.
    fn is_pending(&self, pi: u32, sn: i64) -> bool {
        let mut at = self.proxies.get(pi).map_or(NONE, |p| p.pending);
        while let Some(s) = self.sample(at) {
            if s.sn >= sn {
                return s.sn == sn;
            }
            at = s.next;
        }
        false
    }

    /// Puts slot `i` (holding SN `sn`) into proxy `pi`'s pending list at its place; false if
    /// that SN is already there (the slot is then left alone).
    fn insert_pending(&mut self, pi: u32, i: u32, sn: i64) -> bool {
        let head = self.proxies.get(pi).map_or(NONE, |p| p.pending);
        let mut prev = NONE;
        let mut at = head;
        while let Some(s) = self.sample(at) {
            if s.sn == sn {
                return false;
            }
            if s.sn > sn {
                break;
            }
            prev = at;
            at = s.next;
        }
        if let Some(s) = self.samples.get_mut(i) {
            s.next = at;
        }
        if prev == NONE {
            if let Some(p) = self.proxies.get_mut(pi) {
                p.pending = i;
            }
        } else if let Some(s) = self.samples.get_mut(prev) {
            s.next = i;
        }
        true
    }

    /// Appends slot `i` to the delivered FIFO.
    fn push_delivered(&mut self, i: u32) {
        if let Some(s) = self.samples.get_mut(i) {
            s.next = NONE;
        }
        if self.tail == NONE {
            self.head = i;
        } else if let Some(t) = self.samples.get_mut(self.tail) {
            t.next = i;
        }
        self.tail = i;
        self.delivered += 1;
        self.notify = true;
    }

    /// The oldest delivered sample, unlinked from the FIFO and freed from its slot.
    fn pop_delivered(&mut self) -> Option<Sample> {
        if self.head == NONE {
            return None;
        }
        let s = self.samples.remove(self.head)?;
        self.head = s.next;
        if self.head == NONE {
            self.tail = NONE;
        }
        self.delivered -= 1;
        Some(s)
    }

    fn limit(&self) -> usize {
        match self.history {
            History::KeepLast(n) => (n as usize).clamp(1, self.max_samples),
            History::KeepAll => self.max_samples,
        }
    }

    /// Room for one more delivered sample? KEEP_LAST makes room by dropping the oldest.
    fn make_room(&mut self, pool: &mut Pool, replaced: &mut u64) -> bool {
        if self.delivered < self.limit() {
            return true;
        }
        if self.history == History::KeepAll {
            return false;
        }
        if let Some(s) = self.pop_delivered() {
            if let Some(d) = s.data {
                pool.free(d);
            }
            *replaced += 1;
        }
        true
    }

    /// Delivers buffered samples of proxy `pi` that are now in order; returns how many.
    fn drain_in_order(&mut self, pool: &mut Pool, pi: u32, replaced: &mut u64) -> usize {
        let mut n = 0;
        loop {
            let Some(p) = self.proxies.get(pi).copied() else {
                return n;
            };
            let Some(s) = self.sample(p.pending) else {
                break;
            };
            if s.sn > p.next {
                break;
            }
            let (i, sn, is_gap, next) = (p.pending, s.sn, s.data.is_none(), s.next);
            if sn == p.next && !is_gap && !self.make_room(pool, replaced) {
                break;
            }
            if let Some(p) = self.proxies.get_mut(pi) {
                p.pending = next;
                if sn == p.next {
                    p.next = p.next.saturating_add(1);
                }
            }
            if is_gap || sn < p.next {
                // A marker of an irrelevant SN, or something already behind us.
                if let Some(Sample { data: Some(d), .. }) = self.samples.remove(i) {
                    pool.free(d);
                }
            } else {
                self.push_delivered(i);
                n += 1;
            }
        }
        // Whatever was partial below the new `next` was delivered whole or declared gone.
        if let Some(p) = self.proxies.get(pi).copied() {
            self.drop_reassemblies_below(pool, p.guid, p.next);
        }
        n
    }

    /// Stores a sample in a free slot (copying a borrowed payload into the pool); gives it
    /// back when there is no slot or no pool space (the caller then discards it).
    fn store<'b>(
        &mut self,
        pool: &mut Pool,
        pi: u32,
        s: Incoming<'b>,
    ) -> Result<u32, Incoming<'b>> {
        if self.samples.is_full() {
            return Err(s);
        }
        let data = match s.payload {
            Payload::Stored(b) => b,
            Payload::Slice(p) => {
                // A complete sample is worth more than a partial one: make room first.
                let need = pool.blocks_for(p.len());
                while pool.free_blocks() < need && self.evict_under_pressure(pool, pi, s.sn, 0) {}
                match pool.store(&[p]) {
                    Some(b) => b,
                    None => return Err(s),
                }
            }
        };
        // Built field by field: `s.payload` was moved into `data` above.
        let sample = Sample {
            writer: s.writer,
            sn: s.sn,
            data: Some(data),
            timestamp: s.timestamp,
            status: s.status,
            key_hash: s.key_hash,
            related: s.related,
            next: NONE,
        };
        match self.samples.insert(sample) {
            Ok(i) => Ok(i),
            Err(sample) => {
                // Cannot happen (checked above); give the payload back to the pool.
                if let Some(d) = sample.data {
                    pool.free(d);
                }
                Err(Incoming {
                    writer: s.writer,
                    sn: s.sn,
                    payload: Payload::Slice(&[]),
                    timestamp: s.timestamp,
                    status: s.status,
                    key_hash: s.key_hash,
                    related: s.related,
                })
            }
        }
    }

    /// The steady state of a stream, reliable or not: SN `sn` of proxy `pi` is the next in
    /// order, nothing is buffered ahead of it nor partial, there is room to deliver it and its
    /// payload fits one pool block. Then it is stored and delivered at once, as the general
    /// path of [`Reader::on_data`] would, without its checks for the other cases, and this
    /// returns true; otherwise nothing changed and it returns false. `sample` makes the
    /// sample around its stored payload.
    #[inline(always)]
    fn try_in_order(
        &mut self,
        pi: u32,
        pool: &mut Pool,
        sn: i64,
        payload: &[u8],
        sample: impl FnOnce(Bytes) -> Sample,
    ) -> bool {
        let limit = self.limit();
        let Some(p) = self.proxies.get_mut(pi) else {
            return false;
        };
        if sn != p.next
            || p.pending != NONE
            || self.partials != 0
            || self.delivered >= limit
            || self.samples.is_full()
            || payload.len() > self.max_sample
        {
            return false;
        }
        let Some(data) = pool.store_small(payload) else {
            return false;
        };
        match self.samples.insert(sample(data)) {
            Ok(i) => {
                p.hear(sn);
                p.next = sn.saturating_add(1);
                self.push_delivered(i);
                true
            }
            Err(sample) => {
                // Cannot happen (checked above): give the payload back, change nothing.
                if let Some(d) = sample.data {
                    pool.free(d);
                }
                false
            }
        }
    }

    /// A DATA from `writer` (matched as proxy `pi`) with no inline QoS: delivered through
    /// [`Reader::try_in_order`] when that applies (true), else left for the general path
    /// ([`Reader::on_data`]), nothing changed (false).
    pub(crate) fn on_plain_data(
        &mut self,
        pi: u32,
        pool: &mut Pool,
        writer: Guid,
        sn: i64,
        payload: &[u8],
        timestamp: Option<Time>,
    ) -> bool {
        if self.proxies.get(pi).is_none_or(|p| p.guid != writer) {
            return false;
        }
        self.try_in_order(pi, pool, sn, payload, |data| Sample {
            writer,
            sn,
            data: Some(data),
            timestamp,
            status: StatusInfo::default(),
            key_hash: None,
            related: Related::NONE,
            next: NONE,
        })
    }

    /// Takes in a DATA (or a reassembled DATA_FRAG sample) from proxy `pi`.
    pub(crate) fn on_data(
        &mut self,
        pi: u32,
        pool: &mut Pool,
        s: Incoming<'_>,
        replaced: &mut u64,
    ) -> Received {
        if self.proxies.get(pi).is_none() {
            s.discard(pool);
            return Received::Unknown;
        }
        if matches!(s.payload, Payload::Slice(b) if b.len() > self.max_sample) {
            return Received::TooLarge;
        }
        if let Payload::Slice(b) = s.payload {
            let delivered = self.try_in_order(pi, pool, s.sn, b, |data| s.sample(data));
            if delivered {
                return Received::Accepted { delivered: 1 };
            }
        }
        let Some(p) = self.proxies.get_mut(pi) else {
            s.discard(pool);
            return Received::Unknown;
        };
        p.hear(s.sn);
        let p = *p;
        if s.sn < p.next || (p.reliable && self.is_pending(pi, s.sn)) {
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
            let i = match self.store(pool, pi, s) {
                Ok(i) => i,
                Err(s) => {
                    s.discard(pool);
                    return Received::NoSpace;
                }
            };
            self.push_delivered(i);
            if let Some(p) = self.proxies.get_mut(pi) {
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
        if s.sn == p.next && self.history == History::KeepAll && self.delivered >= self.limit() {
            // In order but no room to deliver: let the writer repair later.
            s.discard(pool);
            return Received::NoSpace;
        }
        let (writer, sn) = (s.writer, s.sn);
        let i = match self.store(pool, pi, s) {
            Ok(i) => i,
            Err(s) => {
                // The sample everything waits for must not be starved by samples buffered
                // ahead of it: give it the slot of the highest buffered one (which will be
                // repaired again).
                if sn != p.next || !self.evict_highest_pending(pool, pi) {
                    s.discard(pool);
                    return Received::NoSpace;
                }
                match self.store(pool, pi, s) {
                    Ok(i) => i,
                    Err(s) => {
                        s.discard(pool);
                        return Received::NoSpace;
                    }
                }
            }
        };
        if sn == p.next && self.proxies.get(pi).is_some_and(|q| q.pending == NONE) {
            // In order with nothing buffered ahead (the steady state): delivered at once, as
            // `drain_in_order` would (room was made above).
            self.push_delivered(i);
            if let Some(q) = self.proxies.get_mut(pi) {
                q.next = sn.saturating_add(1);
            }
            self.drop_reassemblies_below(pool, writer, sn.saturating_add(1));
            return Received::Accepted { delivered: 1 };
        }
        self.insert_pending(pi, i, sn);
        // The whole sample arrived as DATA (a resend): its partial copy is not needed.
        self.drop_reassembly(pool, writer, sn);
        let delivered = self.drain_in_order(pool, pi, replaced);
        Received::Accepted { delivered }
    }

    /// Frees the highest out-of-order sample, of proxy `pi` first, else of any proxy.
    fn evict_highest_pending(&mut self, pool: &mut Pool, pi: u32) -> bool {
        let mut victim = self.last_pending(pi);
        if victim.is_none() {
            let others: Option<u32> = self
                .proxies
                .iter()
                .find(|(_, p)| p.pending != NONE)
                .map(|(i, _)| i);
            victim = others.and_then(|o| self.last_pending(o));
        }
        let Some((owner, prev, i)) = victim else {
            return false;
        };
        if prev == NONE {
            if let Some(p) = self.proxies.get_mut(owner) {
                p.pending = NONE;
            }
        } else if let Some(s) = self.samples.get_mut(prev) {
            s.next = NONE;
        }
        if let Some(Sample { data: Some(d), .. }) = self.samples.remove(i) {
            pool.free(d);
        }
        true
    }

    /// The last pending slot of proxy `pi` and the one before it: (pi, prev, last).
    fn last_pending(&self, pi: u32) -> Option<(u32, u32, u32)> {
        let mut at = self.proxies.get(pi)?.pending;
        let mut prev = NONE;
        if at == NONE {
            return None;
        }
        while let Some(s) = self.sample(at) {
            if s.next == NONE {
                return Some((pi, prev, at));
            }
            prev = at;
            at = s.next;
        }
        None
    }

    /// Takes in some fragments of a sample from proxy `pi`; when the last one arrives the whole
    /// sample goes the way of a DATA.
    pub(crate) fn on_data_frag(
        &mut self,
        pi: u32,
        pool: &mut Pool,
        f: &IncomingFrag<'_>,
        replaced: &mut u64,
    ) -> Received {
        let Some(p) = self.proxies.get_mut(pi) else {
            return Received::Unknown;
        };
        p.hear(f.sn);
        let p = *p;
        if f.sn < p.next || (p.reliable && self.is_pending(pi, f.sn)) {
            return Received::Duplicate;
        }
        let size = f.sample_size as usize;
        let fs = f.fragment_size as usize;
        if fs == 0 || size == 0 {
            return Received::Invalid;
        }
        if size > self.max_sample {
            return Received::TooLarge;
        }
        if size.div_ceil(fs) > self.words * 32 {
            return Received::Invalid;
        }
        let total = size.div_ceil(fs) as u32;
        if f.first == 0 || f.first > total {
            return Received::Invalid;
        }
        if p.reliable && f.sn - p.next >= MAX_SET_BITS as i64 {
            return Received::NoSpace;
        }
        // The fragments carried whole: first..first + carried, ending at byte `end`.
        let mut carried = 0u32;
        let mut end = 0usize;
        for k in 0..f.count as u32 {
            let n = f.first + k;
            if n > total {
                break;
            }
            let off = (n as usize - 1) * fs;
            let len = fs.min(size - off);
            if f.data.len() < k as usize * fs + len {
                break;
            }
            carried += 1;
            end = off + len;
        }
        if carried == 0 {
            return Received::Invalid;
        }
        let ri = match self.reassembly(f.writer, f.sn) {
            Some(ri) => {
                let r = frag_of(&self.frags[ri]).map(|r| (r.sample_size, r.fragment_size));
                if r != Some((f.sample_size, f.fragment_size)) {
                    return Received::Invalid;
                }
                ri
            }
            None => match self.new_reassembly(pool, pi, f, total) {
                Ok(ri) => ri,
                Err(r) => return r,
            },
        };
        if let Err(r) = self.commit(pool, pi, ri, f.sn, end) {
            return r;
        }
        let words = self.words;
        let bits = &mut self.bits[ri * words..(ri + 1) * words];
        let Entry::Occupied(r) = &mut self.frags[ri].0 else {
            return Received::NoSpace;
        };
        let mut added = false;
        // Fragments arrive mostly in order: write from the block where the last one ended.
        let from = (r.last, pool.last_block_start(r.data.len()));
        for k in 0..carried {
            let n = f.first + k;
            let off = (n as usize - 1) * fs;
            let len = fs.min(size - off);
            let at = k as usize * fs;
            let bit = (n - 1) as usize;
            if bits[bit / 32] & (1 << (bit % 32)) != 0 {
                continue;
            }
            pool.write_from(&r.data, from, off, &f.data[at..at + len]);
            bits[bit / 32] |= 1 << (bit % 32);
            r.received += 1;
            added = true;
        }
        if added {
            r.touched = f.now;
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
        let Some(r) = self.take_reassembly(pool, ri) else {
            return Received::NoSpace;
        };
        self.on_data(
            pi,
            pool,
            Incoming {
                writer: r.writer,
                sn: r.sn,
                payload: Payload::Stored(r.data),
                timestamp: r.timestamp,
                status: r.status,
                key_hash: r.key_hash,
                // Not kept through reassembly: a reply fits one DATA.
                related: Related::NONE,
            },
            replaced,
        )
    }

    /// Partial samples being reassembled.
    #[cfg(feature = "fuzzing")]
    pub(crate) fn partial_samples(&self) -> usize {
        self.partial_count()
    }

    /// Pool blocks held by the partial samples of proxy `pi`.
    #[cfg(any(all(test, feature = "alloc"), feature = "fuzzing"))]
    pub(crate) fn held_by(&self, pi: u32) -> usize {
        self.proxies.get(pi).map_or(0, |p| p.held as usize)
    }

    #[cfg(any(all(test, feature = "alloc"), feature = "fuzzing"))]
    fn partial_count(&self) -> usize {
        self.frags.iter().filter(|f| frag_of(f).is_some()).count()
    }

    fn reassembly(&self, writer: Guid, sn: i64) -> Option<usize> {
        self.frags
            .iter()
            .position(|f| frag_of(f).is_some_and(|r| r.writer == writer && r.sn == sn))
    }

    /// Pool blocks the partial samples of one writer may hold: a quarter of the pool, but at
    /// least one sample of this reader's largest size when the pool holds that much (so a
    /// legitimate largest sample always fits while the others are bounded).
    pub(crate) fn share(&self, pool: &Pool) -> usize {
        let one = pool.blocks_for(self.max_sample).min(pool.blocks());
        (pool.blocks() / 4).max(one)
    }

    /// A free reassembly slot for a new partial sample of `f.sn` from proxy `pi`, holding one
    /// block so far. When every slot is taken the stalest partial sample makes way (a lower
    /// SN of the same writer never does: it is delivered first).
    fn new_reassembly(
        &mut self,
        pool: &mut Pool,
        pi: u32,
        f: &IncomingFrag<'_>,
        total: u32,
    ) -> Result<usize, Received> {
        if self.proxies.get(pi).map_or(0, |p| p.held as usize) >= self.share(pool) {
            self.yield_share(pool, pi, f.sn, 1);
        }
        if self.proxies.get(pi).map_or(0, |p| p.held as usize) >= self.share(pool) {
            return Err(Received::OverShare);
        }
        let ri = match self.frags.iter().position(|f| frag_of(f).is_none()) {
            Some(ri) => ri,
            None => {
                let (_, _, ri) = self
                    .frags
                    .iter()
                    .enumerate()
                    .filter_map(|(i, s)| frag_of(s).map(|r| (r, i)))
                    .filter(|(r, _)| r.proxy != pi || r.sn > f.sn)
                    .map(|(r, i)| (r.touched, pool.blocks_for(r.data.len()), i))
                    .min()
                    .ok_or(Received::NoSpace)?;
                self.free_reassembly(pool, ri);
                self.evicted += 1;
                ri
            }
        };
        let floor = self.proxies.get(pi).map_or(0, |p| p.held) + 1;
        while pool.free_blocks() == 0 && self.evict_under_pressure(pool, pi, f.sn, floor) {}
        let data = pool.reserve(0).ok_or(Received::NoSpace)?;
        let last = pool.last_block(&data);
        let words = self.words;
        for w in self.bits[ri * words..(ri + 1) * words].iter_mut() {
            *w = 0;
        }
        if frag_of(&self.frags[ri]).is_none() {
            self.partials += 1;
        }
        self.frags[ri] = ReassemblySlot(Entry::Occupied(Reassembly {
            writer: f.writer,
            proxy: pi,
            sn: f.sn,
            sample_size: f.sample_size,
            fragment_size: f.fragment_size,
            total,
            received: 0,
            data,
            last,
            touched: f.now,
            timestamp: None,
            status: StatusInfo(0),
            key_hash: None,
        }));
        if let Some(p) = self.proxies.get_mut(pi) {
            p.held += 1;
        }
        self.arm_expiry = true;
        Ok(ri)
    }

    /// Grows partial sample `ri` (SN `sn` of proxy `pi`) to hold `end` bytes: within the
    /// writer's share (its own later partial samples make way), and with pool room (the
    /// biggest holder's partial samples make way).
    fn commit(
        &mut self,
        pool: &mut Pool,
        pi: u32,
        ri: usize,
        sn: i64,
        end: usize,
    ) -> Result<(), Received> {
        let Some(len) = frag_of(&self.frags[ri]).map(|r| r.data.len()) else {
            return Err(Received::NoSpace);
        };
        if end <= len {
            return Ok(());
        }
        let need = pool.blocks_for(end) - pool.blocks_for(len);
        let held = |r: &Self| r.proxies.get(pi).map_or(0, |p| p.held as usize);
        if held(self) + need > self.share(pool) {
            self.yield_share(pool, pi, sn, need);
            if held(self) + need > self.share(pool) {
                return Err(Received::OverShare);
            }
        }
        let floor = (held(self) + need) as u32;
        while pool.free_blocks() < need && self.evict_under_pressure(pool, pi, sn, floor) {}
        let Entry::Occupied(r) = &mut self.frags[ri].0 else {
            return Err(Received::NoSpace);
        };
        if !pool.grow(&mut r.data, &mut r.last, end) {
            return Err(Received::NoSpace);
        }
        if let Some(p) = self.proxies.get_mut(pi) {
            p.held += need as u32;
        }
        Ok(())
    }

    /// Frees partial samples of proxy `pi` later than `sn`, highest first, until `need` more
    /// blocks fit in its share.
    fn yield_share(&mut self, pool: &mut Pool, pi: u32, sn: i64, need: usize) {
        let share = self.share(pool);
        while self.proxies.get(pi).map_or(0, |p| p.held as usize) + need > share {
            let victim = self
                .frags
                .iter()
                .enumerate()
                .filter_map(|(i, s)| frag_of(s).map(|r| (r, i)))
                .filter(|(r, _)| r.proxy == pi && r.sn > sn)
                .map(|(r, i)| (r.sn, i))
                .max();
            let Some((_, ri)) = victim else {
                return;
            };
            self.free_reassembly(pool, ri);
            self.evicted += 1;
        }
    }

    /// The pool runs short for SN `sn` of proxy `pi`: frees a partial sample of the writer
    /// holding the most blocks, its stalest first. Another writer's only when it holds more
    /// than `floor` blocks (a partial sample pushes out only bigger holders than it would be
    /// itself, so a cheap first fragment never evicts a sample far along; a complete sample
    /// passes 0), and never a partial sample of `pi` at or below `sn`. False when there is
    /// none to free.
    fn evict_under_pressure(&mut self, pool: &mut Pool, pi: u32, sn: i64, floor: u32) -> bool {
        if !cfg!(feature = "frag") {
            // Nothing is reassembled (no slots are carved): no code for it in the image.
            return false;
        }
        let victim = self
            .frags
            .iter()
            .enumerate()
            .filter_map(|(i, s)| frag_of(s).map(|r| (r, i)))
            .map(|(r, i)| {
                let held = self.proxies.get(r.proxy).map_or(0, |p| p.held);
                (r, i, held)
            })
            .filter(|(r, _, held)| {
                if r.proxy == pi {
                    r.sn > sn
                } else {
                    *held > floor
                }
            })
            .map(|(r, i, held)| (core::cmp::Reverse(held), r.touched, i))
            .min();
        let Some((_, _, ri)) = victim else {
            return false;
        };
        self.free_reassembly(pool, ri);
        self.evicted += 1;
        true
    }

    /// Partial samples evicted since the last call.
    pub(crate) fn take_evicted(&mut self) -> u32 {
        core::mem::take(&mut self.evicted)
    }

    /// Timer: drops the partial samples that made no progress for `timeout`; returns how many,
    /// and when the next one would expire. O(the reader's reassembly slots).
    pub(crate) fn expire(
        &mut self,
        pool: &mut Pool,
        now: Instant,
        timeout: Span,
    ) -> (usize, Option<Instant>) {
        if !cfg!(feature = "frag") {
            return (0, None);
        }
        let mut n = 0;
        let mut next = None::<Instant>;
        for ri in 0..self.frags.len() {
            let Some(due) = frag_of(&self.frags[ri]).map(|r| r.touched + timeout) else {
                continue;
            };
            if due <= now {
                self.free_reassembly(pool, ri);
                n += 1;
            } else {
                next = Some(next.map_or(due, |t| t.min(due)));
            }
        }
        (n, next)
    }

    /// Takes partial sample `ri` out of its slot, its blocks no longer counted against its
    /// writer.
    fn take_reassembly(&mut self, pool: &Pool, ri: usize) -> Option<Reassembly> {
        let Entry::Occupied(r) =
            core::mem::replace(&mut self.frags[ri], ReassemblySlot::vacant()).0
        else {
            return None;
        };
        self.partials -= 1;
        let blocks = pool.blocks_for(r.data.len()) as u32;
        if let Some(p) = self.proxies.get_mut(r.proxy) {
            p.held = p.held.saturating_sub(blocks);
        }
        Some(r)
    }

    fn free_reassembly(&mut self, pool: &mut Pool, ri: usize) {
        if let Some(old) = self.take_reassembly(pool, ri) {
            pool.free(old.data);
        }
    }

    /// Drops partial samples of `writer` below `upto` (a GAP or HEARTBEAT said they are gone,
    /// or a later sample was delivered best-effort).
    fn drop_reassemblies_below(&mut self, pool: &mut Pool, writer: Guid, upto: i64) {
        if !cfg!(feature = "frag") || self.partials == 0 {
            return;
        }
        for ri in 0..self.frags.len() {
            if frag_of(&self.frags[ri]).is_some_and(|r| r.writer == writer && r.sn < upto) {
                self.free_reassembly(pool, ri);
            }
        }
    }

    /// Drops the partial sample `sn` of `writer`, if any.
    fn drop_reassembly(&mut self, pool: &mut Pool, writer: Guid, sn: i64) {
        if !cfg!(feature = "frag") || self.partials == 0 {
            return;
        }
        if let Some(ri) = self.reassembly(writer, sn) {
            self.free_reassembly(pool, ri);
        }
    }

    fn frag_has(&self, ri: usize, n: u32) -> bool {
        let bit = (n - 1) as usize;
        self.bits[ri * self.words + bit / 32] & (1 << (bit % 32)) != 0
    }

    /// The NACK_FRAG owed for the lowest partial sample of proxy `pi` the writer has finished
    /// sending (its HEARTBEAT covers it): base = first missing fragment, up to 256 of them.
    pub(crate) fn nack_frag(&mut self, pi: u32) -> Option<NackFragRepr> {
        if !cfg!(feature = "frag") {
            return None;
        }
        let p = self.proxies.get(pi).copied()?;
        let (_, ri) = self
            .frags
            .iter()
            .enumerate()
            .filter_map(|(i, f)| frag_of(f).map(|r| (r, i)))
            .filter(|(r, _)| {
                r.writer == p.guid
                    && r.sn >= p.next
                    && r.sn <= p.last_available
                    && !self.is_pending(pi, r.sn)
            })
            .map(|(r, i)| (r.sn, i))
            .min()?;
        let (sn, total) = frag_of(&self.frags[ri]).map(|r| (r.sn, r.total))?;
        let first = (1..=total).find(|n| !self.frag_has(ri, *n))?;
        let span = (total - first + 1).min(MAX_SET_BITS);
        let mut set = FragmentNumberSet::new(first, span);
        for n in first..first + span {
            if !self.frag_has(ri, n) {
                set.insert(n);
            }
        }
        let reader_id = self.entity();
        self.nack_frag_count = self.nack_frag_count.wrapping_add(1);
        Some(NackFragRepr {
            reader_id,
            writer_id: p.guid.entity,
            writer_sn: SequenceNumber(sn),
            fragment_number_state: set,
            count: Count(self.nack_frag_count),
        })
    }

    /// Skips every SN below `upto` from proxy `pi`: delivers what is buffered, drops the rest.
    fn skip_below(&mut self, pool: &mut Pool, pi: u32, upto: i64, replaced: &mut u64) -> usize {
        let mut n = 0;
        loop {
            let Some(p) = self.proxies.get(pi).copied() else {
                return n;
            };
            if p.next >= upto {
                break;
            }
            // Deliver the lowest buffered SN below `upto`, or jump.
            match self.sample(p.pending).map(|s| s.sn).filter(|sn| *sn < upto) {
                Some(sn) => {
                    if let Some(p) = self.proxies.get_mut(pi) {
                        p.next = p.next.max(sn);
                    }
                    n += self.drain_in_order(pool, pi, replaced);
                    if self.proxies.get(pi).is_some_and(|p| p.next == sn) {
                        // No room to deliver: stop here, the rest stays buffered.
                        return n;
                    }
                }
                None => {
                    if let Some(p) = self.proxies.get_mut(pi) {
                        p.next = upto;
                    }
                }
            }
        }
        if let Some(g) = self.proxies.get(pi).map(|p| p.guid) {
            self.drop_reassemblies_below(pool, g, upto);
        }
        n + self.drain_in_order(pool, pi, replaced)
    }

    /// Applies a HEARTBEAT from proxy `pi`; returns delivered count or `None` if unknown.
    /// `claims` counts what was stale or implausible about it.
    pub(crate) fn on_heartbeat(
        &mut self,
        now: Instant,
        pi: u32,
        pool: &mut Pool,
        hb: &HeartbeatRepr,
        replaced: &mut u64,
        claims: &mut Claims,
    ) -> Option<usize> {
        let p = self.proxies.get_mut(pi)?;
        match p.hb_guard.check(hb.count, now) {
            Freshness::Stale => {
                claims.stale += 1;
                return Some(0);
            }
            Freshness::Reset => claims.reset += 1,
            Freshness::New => {}
        }
        let reference = p.hb_guard.seen();
        p.hb_guard.accept(hb.count, now);
        p.heartbeat_seen = true;
        p.next_preemptive = MaybeInstant::NONE;
        if !p.reliable {
            return Some(0);
        }
        let (mut first, mut last) = (hb.first_sn.0, hb.last_sn.0);
        if reference {
            // Skip only what was heard of before (see PLAUSIBLE_LEAP).
            first = first.min(p.heard.saturating_add(1));
        } else {
            // The reference: believe what it no longer has (firstSN), judge what it claims to
            // have written (lastSN) from there like any later claim.
            p.heard = p.heard.max(first.saturating_sub(1));
        }
        let top = p.plausible_top();
        if last > top {
            claims.implausible += 1;
            last = top;
        }
        p.heard = p.heard.max(last);
        p.last_available = p.last_available.max(last);
        let delivered = self.skip_below(pool, pi, first, replaced);
        let final_flag = hb.final_flag;
        let missing = self.missing(pi).num_bits > 0;
        if let Some(p) = self.proxies.get_mut(pi) {
            if !final_flag || missing {
                p.ack_owed = true;
            }
        }
        Some(delivered)
    }

    /// Applies a GAP from proxy `pi`; returns delivered count or `None` if unknown. A GAP
    /// reaching beyond what the writer plausibly sent is ignored (see [`PLAUSIBLE_LEAP`]) and
    /// counted in `claims`.
    pub(crate) fn on_gap(
        &mut self,
        pi: u32,
        pool: &mut Pool,
        gap: &GapRepr,
        replaced: &mut u64,
        claims: &mut Claims,
    ) -> Option<usize> {
        let p = self.proxies.get(pi).copied()?;
        if !p.reliable {
            return Some(0);
        }
        let list = &gap.gap_list;
        let top = if list.num_bits > 0 {
            list.base.0.saturating_add(list.num_bits as i64 - 1)
        } else {
            list.base.0.saturating_sub(1)
        };
        if top > p.heard.saturating_add(MAX_SET_BITS as i64) {
            claims.implausible += 1;
            return Some(0);
        }
        let mut delivered = 0;
        let start = gap.gap_start.0;
        let base = gap.gap_list.base.0;
        if start <= p.next && base > p.next {
            // The irrelevant interval covers our next SN: drop what is buffered inside it.
            while let Some(s) = self.sample(self.proxies.get(pi).map_or(NONE, |p| p.pending)) {
                if s.sn >= base {
                    break;
                }
                let (i, next) = (self.proxies.get(pi).map_or(NONE, |p| p.pending), s.next);
                if let Some(p) = self.proxies.get_mut(pi) {
                    p.pending = next;
                }
                if let Some(Sample { data: Some(d), .. }) = self.samples.remove(i) {
                    pool.free(d);
                }
            }
            if let Some(p) = self.proxies.get_mut(pi) {
                p.next = base;
            }
            self.drop_reassemblies_below(pool, p.guid, base);
        } else if start > p.next {
            // Out of order: remember each irrelevant SN inside the window as an empty slot.
            let end = base.min(p.next.saturating_add(MAX_SET_BITS as i64));
            let mut sn = start;
            while sn < end {
                self.mark_irrelevant(pool, pi, sn);
                sn += 1;
            }
        }
        for sn in gap.gap_list.iter() {
            let next = self.proxies.get(pi).map_or(i64::MAX, |p| p.next);
            if sn.0 == next {
                if let Some(p) = self.proxies.get_mut(pi) {
                    p.next = p.next.saturating_add(1);
                }
                delivered += self.drain_in_order(pool, pi, replaced);
            } else if sn.0 > next && sn.0 - next < MAX_SET_BITS as i64 {
                self.mark_irrelevant(pool, pi, sn.0);
            }
        }
        delivered += self.drain_in_order(pool, pi, replaced);
        Some(delivered)
    }

    fn mark_irrelevant(&mut self, pool: &mut Pool, pi: u32, sn: i64) {
        let Some(writer) = self.proxies.get(pi).map(|p| p.guid) else {
            return;
        };
        // A partial sample of an SN declared irrelevant will never complete.
        self.drop_reassembly(pool, writer, sn);
        if self.is_pending(pi, sn) {
            return;
        }
        let marker = Sample {
            writer,
            sn,
            data: None,
            timestamp: None,
            status: StatusInfo(0),
            key_hash: None,
            related: Related::NONE,
            next: NONE,
        };
        if let Ok(i) = self.samples.insert(marker) {
            self.insert_pending(pi, i, sn);
        }
    }

    /// The SNs from proxy `pi` that are known to exist and are missing here.
    pub(crate) fn missing(&self, pi: u32) -> SequenceNumberSet {
        let Some(p) = self.proxies.get(pi) else {
            return SequenceNumberSet::new(SequenceNumber(1), 0);
        };
        let base = p.next;
        let span = (p.last_available - base + 1).clamp(0, MAX_SET_BITS as i64) as u32;
        let mut set = SequenceNumberSet::new(SequenceNumber(base), span);
        let mut highest = 0u32;
        let mut at = p.pending;
        for i in 0..span {
            let sn = base + i as i64;
            while let Some(s) = self.sample(at).filter(|s| s.sn < sn) {
                at = s.next;
            }
            let buffered = self.sample(at).is_some_and(|s| s.sn == sn);
            // A partial sample is asked for by NACK_FRAG, not here.
            if !buffered && self.reassembly(p.guid, sn).is_none() {
                set.insert(SequenceNumber(sn));
                highest = i + 1;
            }
        }
        set.num_bits = highest;
        set
    }

    /// Whether an ACKNACK is owed to proxy `pi` now.
    pub(crate) fn acknack_owed(&self, pi: u32, now: Instant) -> bool {
        self.proxies.get(pi).is_some_and(|p| {
            p.reliable && (p.ack_owed || p.next_preemptive.get().is_some_and(|t| now >= t))
        })
    }

    /// The ACKNACK owed to proxy `pi`, if any; marks it sent.
    pub(crate) fn take_acknack(&mut self, pi: u32, now: Instant) -> Option<AckNackRepr> {
        let p = self.proxies.get(pi).copied()?;
        if !self.acknack_owed(pi, now) {
            return None;
        }
        let state = if p.heartbeat_seen {
            self.missing(pi)
        } else {
            SequenceNumberSet::new(SequenceNumber(p.next), 0)
        };
        self.acknack_count = self.acknack_count.wrapping_add(1);
        let count = Count(self.acknack_count);
        let reader_id = self.entity();
        if let Some(p) = self.proxies.get_mut(pi) {
            p.ack_owed = false;
            if !p.heartbeat_seen {
                p.next_preemptive = MaybeInstant::new(Some(now + PREEMPTIVE_PERIOD));
            }
        }
        Some(AckNackRepr {
            final_flag: p.heartbeat_seen,
            reader_id,
            writer_id: p.guid.entity,
            reader_sn_state: state,
            count,
        })
    }

    /// Timer: tells `owe` each proxy whose pre-emptive ACKNACK is due; returns the next such
    /// deadline.
    pub(crate) fn preemptive_due(&self, now: Instant, mut owe: impl FnMut(u32)) -> Option<Instant> {
        let mut next = None::<Instant>;
        for (i, p) in self.proxies.iter() {
            match p.next_preemptive.get() {
                Some(t) if t <= now => owe(i),
                Some(t) => next = Some(next.map_or(t, |n| n.min(t))),
                None => {}
            }
        }
        next
    }

    /// The oldest delivered sample, removed from the reader; `None` when empty.
    pub(crate) fn pop(&mut self) -> Option<Sample> {
        self.pop_delivered()
    }

    /// The oldest delivered sample, left in place.
    pub(crate) fn peek(&self) -> Option<&Sample> {
        self.sample(self.head)
    }

    /// Frees every sample (the reader is being deleted).
    pub(crate) fn clear(&mut self, pool: &mut Pool) {
        for ri in 0..self.frags.len() {
            self.free_reassembly(pool, ri);
        }
        self.samples.clear_with(|s| {
            if let Some(d) = s.data {
                pool.free(d);
            }
        });
        for (_, p) in self.proxies.iter_mut() {
            p.pending = NONE;
        }
        self.head = NONE;
        self.tail = NONE;
        self.delivered = 0;
    }
}

#[cfg(all(test, feature = "alloc"))]
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

    fn feed(
        r: &mut Reader,
        pi: u32,
        pool: &mut Pool,
        datagram: &[u8],
        replaced: &mut u64,
    ) -> usize {
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
                        now: Instant(0),
                    };
                    if let Received::Accepted { delivered: n } =
                        r.on_data_frag(pi, pool, &f, replaced)
                    {
                        delivered += n;
                    }
                }
                _ => {}
            }
        }
        delivered
    }

    const REASSEMBLIES: usize = 4;
    const MAX_SAMPLE: usize = 4 << 20;
    const POOL_BLOCKS: usize = 8192;

    fn pool() -> Pool<'static> {
        Pool::new(1024, POOL_BLOCKS, None, None)
    }

    fn reader_for(writer: Guid) -> (Reader<'static>, u32) {
        let own = Guid::new(GuidPrefix([9; 12]), EntityId::new(1, 0x07));
        let mut r = Reader::on_heap(own, false, History::KeepAll, 8, REASSEMBLIES, MAX_SAMPLE);
        let pi = r
            .add_proxy(
                Instant(0),
                writer,
                Locator::udpv4([127, 0, 0, 1], 7411),
                false,
            )
            .unwrap();
        (r, pi)
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
                let mut pool = pool();
                let (mut r, pi) = reader_for(writer);
                let mut replaced = 0;
                let mut delivered = 0;
                for i in order.iter().copied() {
                    delivered += feed(&mut r, pi, &mut pool, &files[i], &mut replaced);
                }
                assert_eq!(delivered, 1, "{stem} {order:?}");
                let s = r.pop().unwrap();
                let data = s.data.unwrap();
                let mut out = std::vec![0u8; data.len()];
                pool.read(&data, &mut out);
                assert!(out == sample, "{stem} {order:?}: bytes differ");
                pool.free(data);
                assert_eq!(pool.free_blocks(), POOL_BLOCKS);
            }
        }
    }

    /// Hostile fragments cost bounded memory, are refused or evicted, and never disturb a
    /// sample from another writer being reassembled at the same time.
    #[test]
    fn hostile_fragments_are_bounded_and_isolated() {
        let (files, sample, writer) = captured("cyclone", "datafrag-sample-cyclone-sn2", 8);
        let evil = Guid::new(GuidPrefix([6; 12]), EntityId::new(7, 0x02));
        let mut pool = pool();
        let (mut r, pi) = reader_for(writer);
        let ei = r
            .add_proxy(
                Instant(0),
                evil,
                Locator::udpv4([127, 0, 0, 1], 7411),
                false,
            )
            .unwrap();
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
            now: Instant(0),
        };
        feed(&mut r, pi, &mut pool, &files[0], &mut replaced);
        // A huge claimed size, tiny fragments, out-of-range numbers: refused.
        assert_eq!(
            r.on_data_frag(
                ei,
                &mut pool,
                &frag(5, u32::MAX, 1024, 1, 1, &junk[..]),
                &mut replaced
            ),
            Received::TooLarge
        );
        for f in [
            frag(5, 1 << 20, 1, 1, 1, &junk[..1]),
            frag(5, 4096, 1024, 9, 1, &junk[..]),
            frag(5, 4096, 0, 1, 1, &junk[..]),
        ] {
            assert_eq!(
                r.on_data_frag(ei, &mut pool, &f, &mut replaced),
                Received::Invalid
            );
        }
        // A flood of distinct sequence numbers: at most REASSEMBLIES partial samples.
        for sn in 10..10_000 {
            let _ = r.on_data_frag(
                ei,
                &mut pool,
                &frag(sn, 100_000, 1024, 1, 1, &junk[..]),
                &mut replaced,
            );
        }
        assert!(r.partial_count() <= REASSEMBLIES);
        assert_eq!(
            r.partials as usize,
            r.partial_count(),
            "occupied slots counted"
        );
        let held: usize = r
            .frags
            .iter()
            .filter_map(frag_of)
            .map(|f| f.data.len())
            .sum();
        assert!(held <= REASSEMBLIES * MAX_SAMPLE);
        // Overlapping fragments of the same SN with a different layout: refused.
        let first_evil = r
            .frags
            .iter()
            .filter_map(frag_of)
            .find(|f| f.writer == evil)
            .map(|f| f.sn);
        if let Some(sn) = first_evil {
            assert_eq!(
                r.on_data_frag(
                    ei,
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
            delivered += feed(&mut r, pi, &mut pool, f, &mut replaced);
        }
        if delivered == 0 {
            // Its partial sample may have been evicted by the flood (a higher SN is evicted
            // first, so only when the flood's SNs are lower): then it comes again whole.
            for f in &files {
                delivered += feed(&mut r, pi, &mut pool, f, &mut replaced);
            }
        }
        assert_eq!(delivered, 1);
        let s = r.pop().unwrap();
        let data = s.data.unwrap();
        let mut out = std::vec![0u8; data.len()];
        pool.read(&data, &mut out);
        assert!(out == sample);
    }
    /// The reassembly defences at the reader: a partial sample holds the blocks of what
    /// arrived, one writer stays within its share, a complete sample evicts a partial one when
    /// the pool runs short, and a partial sample without progress expires (without the `frag`
    /// feature none of that is compiled: nothing is reassembled).
    #[test]
    #[cfg(feature = "frag")]
    fn partial_samples_are_bounded_evicted_and_expire() {
        let evil = Guid::new(GuidPrefix([6; 12]), EntityId::new(7, 0x02));
        let honest = Guid::new(GuidPrefix([5; 12]), EntityId::new(8, 0x02));
        let mut pool = pool();
        let (mut r, ei) = reader_for(evil);
        let hi = r
            .add_proxy(
                Instant(0),
                honest,
                Locator::udpv4([127, 0, 0, 1], 7411),
                false,
            )
            .unwrap();
        let share = r.share(&pool);
        assert_eq!(
            share,
            MAX_SAMPLE / 1024,
            "one largest sample, above a quarter"
        );
        let mut replaced = 0;
        let junk = [0xAAu8; 1024];
        let size = MAX_SAMPLE as u32;
        let frag = |sn: i64, first: u32, now: u64| IncomingFrag {
            writer: evil,
            sn,
            sample_size: size,
            fragment_size: 1024,
            first,
            count: 1,
            data: &junk[..],
            timestamp: None,
            status: StatusInfo(0),
            key_hash: None,
            now: Instant(now),
        };
        let last = size / 1024;
        // A first fragment announcing 4 MiB holds one block, not 4 MiB.
        let got = r.on_data_frag(ei, &mut pool, &frag(1, 1, 0), &mut replaced);
        assert_eq!(got, Received::Accepted { delivered: 0 });
        assert_eq!((r.held_by(ei), pool.free_blocks()), (1, POOL_BLOCKS - 1));
        assert!(core::mem::take(&mut r.arm_expiry));
        // Its last fragment commits the whole sample: the writer's share is used up.
        r.on_data_frag(ei, &mut pool, &frag(1, last, 0), &mut replaced);
        assert_eq!(r.held_by(ei), share);
        let got = r.on_data_frag(ei, &mut pool, &frag(2, last, 0), &mut replaced);
        assert_eq!(got, Received::OverShare);
        assert_eq!(r.held_by(ei), share);
        // A complete sample that does not fit evicts the partial one rather than be refused.
        let filler = pool.reserve(1).unwrap();
        let big = std::vec![3u8; MAX_SAMPLE];
        assert!(pool.free_blocks() < big.len() / 1024);
        let s = Incoming {
            writer: honest,
            sn: 1,
            payload: Payload::Slice(&big),
            timestamp: None,
            status: StatusInfo(0),
            key_hash: None,
            related: Related::NONE,
        };
        assert_eq!(
            r.on_data(hi, &mut pool, s, &mut replaced),
            Received::Accepted { delivered: 1 }
        );
        assert_eq!(
            (r.take_evicted(), r.held_by(ei), r.partial_count()),
            (1, 0, 0)
        );
        let d = r.pop().unwrap().data.unwrap();
        assert_eq!(d.len(), big.len());
        pool.free(d);
        pool.free(filler);
        // A partial sample expires after the timeout without progress, not before.
        let timeout = Span::from_secs(5);
        r.on_data_frag(ei, &mut pool, &frag(3, 1, 0), &mut replaced);
        r.on_data_frag(ei, &mut pool, &frag(3, 2, 1_000_000), &mut replaced);
        r.on_data_frag(ei, &mut pool, &frag(3, 2, 2_000_000), &mut replaced);
        let due = Instant(1_000_000) + timeout;
        assert_eq!(
            r.expire(&mut pool, Instant(due.0 - 1), timeout),
            (0, Some(due))
        );
        assert_eq!(r.expire(&mut pool, due, timeout), (1, None));
        assert_eq!((r.held_by(ei), pool.free_blocks()), (0, POOL_BLOCKS));
    }
}
