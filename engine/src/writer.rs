//! The writer state machine: history cache, reader proxies, first sends, repairs, heartbeats.
//!
//! One type serves the builtin SEDP/PMD writers and user writers: the difference is only in
//! what the engine does with it. The writer never builds datagrams itself; it answers "what is
//! owed to this proxy" and the engine packs the answer.

use crate::limits::{MAX_HISTORY, MAX_MATCHED};
use crate::pool::{Bytes, Pool};
use crate::qos::{Durability, History};
use crate::time::{Instant, Span};
use crate::wire::{
    AckNackRepr, Count, FragmentNumberSet, Guid, Locator, NackFragRepr, SequenceNumber,
    SequenceNumberSet, StatusInfo, Time, MAX_SET_BITS,
};

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
}

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
    /// SNs the reader asked for again.
    pub requested: SequenceNumberSet,
    pub last_ack_count: Option<Count>,
    pub last_nack_frag_count: Option<Count>,
    /// Next fragment (1-based) of `next_unsent` when it is sent as DATA_FRAG.
    pub frag_next: u32,
    /// The fragmented sample being repaired whole, and its next fragment.
    pub repair_frag: (i64, u32),
    /// Fragments a reader asked for by NACK_FRAG.
    pub nack_frag: Option<(i64, FragmentNumberSet)>,
    /// A HEARTBEAT is owed to this reader (after a non-final ACKNACK or at match time).
    pub heartbeat_owed: bool,
}

impl ReaderProxy {
    pub(crate) fn has_repairs(&self) -> bool {
        // (a NACK_FRAG is tracked separately in `nack_frag`)
        self.requested.num_bits > 0 && self.requested.bitmap.iter().any(|w| *w != 0)
    }
}

pub(crate) struct Writer {
    pub guid: Guid,
    pub reliable: bool,
    pub durability: Durability,
    pub history: History,
    pub max_samples: usize,
    /// Ordered by SN; `len` entries from `head`, possibly with holes (None) left by KEEP_LAST
    /// per-instance replacement.
    cache: [Option<Change>; MAX_HISTORY],
    head: usize,
    len: usize,
    /// The SN the next write gets.
    pub next_sn: i64,
    pub proxies: [Option<ReaderProxy>; MAX_MATCHED],
    pub heartbeat_count: u32,
    pub next_heartbeat: Option<Instant>,
    pub heartbeat_period: Span,
    /// Set when all reliable proxies have acknowledged everything (for AllAcknowledged).
    pub all_acked_reported: bool,
}

/// Why a sample was not added to a history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AddError {
    /// KEEP_ALL and the history holds `max_samples` unacknowledged samples.
    Full,
    /// The payload pool has no room even after evicting what KEEP_LAST allows.
    NoSpace,
}

impl Writer {
    pub(crate) const fn new(
        guid: Guid,
        reliable: bool,
        durability: Durability,
        history: History,
        max_samples: usize,
        heartbeat_period: Span,
    ) -> Self {
        Writer {
            guid,
            reliable,
            durability,
            history,
            max_samples: crate::limits::clamp(max_samples, 1, MAX_HISTORY),
            cache: [const { None }; MAX_HISTORY],
            head: 0,
            len: 0,
            next_sn: 1,
            proxies: [None; MAX_MATCHED],
            heartbeat_count: 0,
            next_heartbeat: None,
            heartbeat_period,
            all_acked_reported: true,
        }
    }

    fn slot(&self, i: usize) -> usize {
        (self.head + i) % MAX_HISTORY
    }

    /// Iterates the changes held, oldest first.
    pub(crate) fn changes(&self) -> impl Iterator<Item = &Change> + '_ {
        (0..self.len).filter_map(move |i| self.cache[self.slot(i)].as_ref())
    }

    pub(crate) fn change(&self, sn: i64) -> Option<&Change> {
        // Binary search over the ring by SN (holes make a linear scan simpler and MAX_HISTORY
        // is small).
        self.changes().find(|c| c.sn == sn)
    }

    /// Lowest SN still held (next_sn when empty).
    pub(crate) fn first_sn(&self) -> i64 {
        self.changes().next().map_or(self.next_sn, |c| c.sn)
    }

    pub(crate) fn last_sn(&self) -> i64 {
        self.next_sn - 1
    }

    pub(crate) fn held(&self) -> usize {
        self.changes().count()
    }

    fn drop_oldest(&mut self, pool: &mut Pool) {
        while self.len > 0 {
            let s = self.slot(0);
            let c = self.cache[s].take();
            self.head = (self.head + 1) % MAX_HISTORY;
            self.len -= 1;
            if let Some(c) = c {
                pool.free(c.data);
                break;
            }
        }
        self.trim_front();
    }

    /// Moves the changes down over the holes, keeping their order.
    fn compact(&mut self) {
        let mut kept = 0;
        for i in 0..self.len {
            let from = self.slot(i);
            if let Some(c) = self.cache[from].take() {
                let to = self.slot(kept);
                self.cache[to] = Some(c);
                kept += 1;
            }
        }
        self.len = kept;
    }

    /// Makes room in a full KEEP_LAST history: the oldest dispose/unregister goes first (a
    /// withdrawn instance matters less than a live one), else the oldest sample.
    fn evict(&mut self, pool: &mut Pool) {
        let withdrawn = (0..self.len)
            .map(|i| self.slot(i))
            .find(|&s| self.cache[s].as_ref().is_some_and(|c| c.status.0 != 0));
        match withdrawn {
            Some(s) => {
                if let Some(c) = self.cache[s].take() {
                    pool.free(c.data);
                }
                // The ring stays full until the hole is closed.
                self.compact();
            }
            None => self.drop_oldest(pool),
        }
    }

    fn trim_front(&mut self) {
        while self.len > 0 && self.cache[self.slot(0)].is_none() {
            self.head = (self.head + 1) % MAX_HISTORY;
            self.len -= 1;
        }
    }

    fn instance_count(&self, key: &[u8; 16]) -> usize {
        self.changes()
            .filter(|c| c.key_hash.as_ref() == Some(key))
            .count()
    }

    /// How many instances' worth of samples the history may hold: keyed KEEP_LAST keeps
    /// `depth` per instance (bounded by `MAX_HISTORY` overall); otherwise one.
    fn instances_bound(&self, key: Option<[u8; 16]>) -> usize {
        match (self.history, key) {
            (History::KeepLast(_), Some(_)) => MAX_HISTORY,
            _ => 1,
        }
    }

    fn remove_oldest_of(&mut self, key: &[u8; 16], pool: &mut Pool) {
        for i in 0..self.len {
            let s = self.slot(i);
            if self.cache[s]
                .as_ref()
                .is_some_and(|c| c.key_hash.as_ref() == Some(key))
            {
                if let Some(c) = self.cache[s].take() {
                    pool.free(c.data);
                }
                break;
            }
        }
        self.trim_front();
    }

    /// Removes the change with key hash `key` (KEEP_LAST 1 per instance for builtin data).
    pub(crate) fn remove_instance(&mut self, key: &[u8; 16], pool: &mut Pool) {
        for i in 0..self.len {
            let s = self.slot(i);
            if self.cache[s]
                .as_ref()
                .is_some_and(|c| c.key_hash.as_ref() == Some(key))
            {
                if let Some(c) = self.cache[s].take() {
                    pool.free(c.data);
                }
            }
        }
        self.trim_front();
    }

    /// Whether every reliable proxy acknowledged `sn` and every best-effort proxy was sent it
    /// (a best-effort reader never acknowledges, but must not lose a sample before its first
    /// send).
    fn acked_by_all(&self, sn: i64) -> bool {
        self.proxies.iter().flatten().all(|p| {
            if p.reliable {
                p.acked >= sn
            } else {
                p.next_unsent > sn
            }
        })
    }

    /// Drops what is no longer needed: for a volatile KEEP_ALL writer, samples every reliable
    /// reader acknowledged.
    pub(crate) fn release_acknowledged(&mut self, pool: &mut Pool) {
        if self.durability != Durability::Volatile || self.history != History::KeepAll {
            return;
        }
        loop {
            let oldest = self.changes().next().map(|c| c.sn);
            match oldest {
                Some(sn) if self.acked_by_all(sn) => self.drop_oldest(pool),
                _ => break,
            }
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
        let depth = match self.history {
            History::KeepLast(n) => (n as usize).clamp(1, MAX_HISTORY),
            History::KeepAll => self.max_samples,
        };
        self.release_acknowledged(pool);
        if let (History::KeepLast(_), Some(key)) = (self.history, key_hash) {
            // KEEP_LAST counts per instance: replace the oldest sample of this one.
            if self.instance_count(&key) >= depth {
                self.remove_oldest_of(&key, pool);
            }
        }
        if self.len == MAX_HISTORY {
            // Replaced instances leave holes: close them before giving anything up.
            self.compact();
        }
        if self.held() >= depth * self.instances_bound(key_hash) || self.len == MAX_HISTORY {
            match self.history {
                History::KeepLast(_) => self.evict(pool),
                History::KeepAll => return Err(AddError::Full),
            }
        }
        let need = Pool::blocks_for(parts.iter().map(|p| p.len()).sum());
        while pool.free_blocks() < need && self.len > 0 {
            if self.history == History::KeepAll {
                return Err(AddError::NoSpace);
            }
            self.drop_oldest(pool);
        }
        let data = pool.store(parts).ok_or(AddError::NoSpace)?;
        let sn = self.next_sn;
        self.next_sn += 1;
        let s = self.slot(self.len);
        self.cache[s] = Some(Change {
            sn,
            data,
            timestamp,
            key_hash,
            status,
        });
        self.len += 1;
        if self.reliable && self.proxies.iter().flatten().any(|p| p.reliable) {
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

    /// Adds a matched reader. A transient-local writer gives a transient-local reader its
    /// history; otherwise the reader starts with the next sample written.
    pub(crate) fn add_proxy(
        &mut self,
        now: Instant,
        guid: Guid,
        locator: Locator,
        reliable: bool,
        reader_durability: Durability,
    ) -> bool {
        if let Some(p) = self.proxies.iter_mut().flatten().find(|p| p.guid == guid) {
            p.locator = locator;
            return true;
        }
        let start = if self.durability == Durability::TransientLocal
            && reader_durability == Durability::TransientLocal
        {
            self.first_sn()
        } else {
            self.next_sn
        };
        let Some(slot) = self.proxies.iter_mut().find(|p| p.is_none()) else {
            return false;
        };
        let reliable = reliable && self.reliable;
        *slot = Some(ReaderProxy {
            guid,
            locator,
            reliable,
            start,
            acked: start - 1,
            next_unsent: start,
            requested: SequenceNumberSet::new(SequenceNumber(start), 0),
            last_ack_count: None,
            last_nack_frag_count: None,
            frag_next: 1,
            repair_frag: (0, 1),
            nack_frag: None,
            heartbeat_owed: reliable,
        });
        if reliable {
            self.schedule_heartbeat(now);
        }
        true
    }

    pub(crate) fn remove_proxy(&mut self, guid: Guid) -> bool {
        for p in self.proxies.iter_mut() {
            if p.is_some_and(|p| p.guid == guid) {
                *p = None;
                return true;
            }
        }
        false
    }

    pub(crate) fn proxy_mut(&mut self, guid: Guid) -> Option<&mut ReaderProxy> {
        self.proxies.iter_mut().flatten().find(|p| p.guid == guid)
    }

    /// Whether any reliable reader still misses something.
    pub(crate) fn unacknowledged(&self) -> bool {
        let last = self.last_sn();
        self.proxies
            .iter()
            .flatten()
            .any(|p| p.reliable && p.acked < last)
    }

    pub(crate) fn schedule_heartbeat(&mut self, now: Instant) {
        if self.next_heartbeat.is_none() {
            self.next_heartbeat = Some(now + self.heartbeat_period);
        }
    }

    /// Timer: owe a heartbeat to every reliable reader that misses data, and to every one that
    /// never acknowledged: the heartbeat owed at matching is lost when it reaches the reader
    /// before the reader knows the writer, and only an ACKNACK tells us it does now.
    pub(crate) fn on_timeout(&mut self, now: Instant) {
        let Some(t) = self.next_heartbeat else { return };
        if now < t {
            return;
        }
        self.next_heartbeat = None;
        let last = self.last_sn();
        let mut any = false;
        for p in self.proxies.iter_mut().flatten() {
            if p.reliable && (p.acked < last || p.last_ack_count.is_none()) {
                p.heartbeat_owed = true;
                any = true;
            }
        }
        if any {
            self.next_heartbeat = Some(now + self.heartbeat_period);
        }
    }

    /// Applies an ACKNACK from a matched reader; returns false if it was stale or unknown.
    pub(crate) fn on_acknack(&mut self, now: Instant, reader: Guid, a: &AckNackRepr) -> bool {
        let last = self.last_sn();
        let Some(p) = self.proxy_mut(reader) else {
            return false;
        };
        if !p.reliable {
            return false;
        }
        if let Some(prev) = p.last_ack_count {
            if !a.count.is_newer_than(prev) {
                return false;
            }
        }
        p.last_ack_count = Some(a.count);
        // Base 0 is the pre-emptive ACKNACK of some vendors: read it as base 1.
        let base = a.reader_sn_state.base.0.max(1);
        let acked = (base - 1).min(last);
        let advanced = acked > p.acked;
        if advanced {
            p.acked = acked;
        }
        // A reader that acknowledges more than we sent for the first time has it already.
        if p.next_unsent <= p.acked {
            p.next_unsent = p.acked + 1;
            p.frag_next = 1;
        }
        // Keep the requests for SNs that exist; the rest are bogus.
        // (SNs not sent for the first time yet will come anyway: no repair for them.)
        let sent = last.min(p.next_unsent - 1);
        let mut req = SequenceNumberSet::new(a.reader_sn_state.base, a.reader_sn_state.num_bits);
        for sn in a.reader_sn_state.iter().filter(|s| s.0 >= 1 && s.0 <= sent) {
            req.insert(sn);
        }
        p.requested = req;
        // Answer at once when asked to, or when the reader moved on but still lacks what it did
        // not ask for (its news may be stale). A final ACKNACK that moves nothing gets no
        // immediate answer: a reader that cannot take more (a full KEEP_ALL queue) would
        // otherwise ping-pong with us; the periodic heartbeat covers it.
        if !a.final_flag || (advanced && p.acked < sent && !p.has_repairs()) {
            p.heartbeat_owed = true;
        }
        if p.acked < last {
            self.schedule_heartbeat(now);
        }
        true
    }

    /// Applies a NACK_FRAG; returns false if it was stale or unknown.
    pub(crate) fn on_nack_frag(&mut self, reader: Guid, n: &NackFragRepr) -> bool {
        let held = self.change(n.writer_sn.0).is_some();
        let Some(p) = self.proxy_mut(reader) else {
            return false;
        };
        if !p.reliable {
            return false;
        }
        if let Some(prev) = p.last_nack_frag_count {
            if !n.count.is_newer_than(prev) {
                return false;
            }
        }
        p.last_nack_frag_count = Some(n.count);
        if n.writer_sn.0 >= p.next_unsent {
            // Still being sent for the first time: its fragments are on their way.
            return true;
        }
        if n.writer_sn.0 < p.start || !held {
            // Gone: the repair path answers with a GAP. Added to what an ACKNACK in the same
            // message asked for, not in its place.
            let d = n.writer_sn.0 - p.requested.base.0;
            if p.requested.num_bits == 0 || !(0..MAX_SET_BITS as i64).contains(&d) {
                if !p.has_repairs() {
                    p.requested = SequenceNumberSet::new(n.writer_sn, 1);
                }
            } else if d as u32 >= p.requested.num_bits {
                p.requested.num_bits = d as u32 + 1;
            }
            p.requested.insert(n.writer_sn);
        } else {
            p.nack_frag = Some((n.writer_sn.0, n.fragment_number_state));
        }
        true
    }

    /// Whether everything written was acknowledged by every reliable reader (and there is one).
    pub(crate) fn take_all_acknowledged(&mut self) -> bool {
        if self.all_acked_reported || self.unacknowledged() {
            return false;
        }
        self.all_acked_reported = true;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{EntityId, GuidPrefix};

    /// SEDP-style history (KEEP_LAST per instance): many endpoints created and deleted around
    /// a long-lived one never push the long-lived announcement out.
    #[test]
    fn churn_never_evicts_a_live_instance() {
        let mut pool = Pool::new();
        let mut w = Writer::new(
            Guid::new(GuidPrefix([1; 12]), EntityId::SEDP_PUB_WRITER),
            true,
            Durability::TransientLocal,
            History::KeepLast(1),
            MAX_HISTORY,
            Span::from_millis(100),
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
        assert!(w.held() <= MAX_HISTORY);
    }

    #[test]
    fn best_effort_keep_all_keeps_samples_until_sent() {
        let mut pool = Pool::new();
        let prefix = GuidPrefix([1; 12]);
        let mut w = Writer::new(
            Guid::new(prefix, EntityId::new(1, 0x03)),
            false,
            Durability::Volatile,
            History::KeepAll,
            MAX_HISTORY,
            Span::from_millis(100),
        );
        let reader = Guid::new(GuidPrefix([2; 12]), EntityId::new(1, 0x04));
        let loc = Locator::udpv4([127, 0, 0, 1], 7411);
        assert!(w.add_proxy(Instant::ZERO, reader, loc, false, Durability::Volatile));
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
        assert_eq!(w.held(), 3);
        // Once sent, a best-effort reader needs them no more.
        let next = w.next_sn;
        if let Some(p) = w.proxy_mut(reader) {
            p.next_unsent = next;
        }
        w.release_acknowledged(&mut pool);
        assert_eq!(w.held(), 0);
    }

    #[test]
    fn heartbeats_until_a_reliable_reader_acknowledges() {
        let prefix = GuidPrefix([1; 12]);
        let mut w = Writer::new(
            Guid::new(prefix, EntityId::new(1, 0x03)),
            true,
            Durability::Volatile,
            History::KeepAll,
            MAX_HISTORY,
            Span::from_millis(100),
        );
        let reader = Guid::new(GuidPrefix([2; 12]), EntityId::new(1, 0x04));
        let loc = Locator::udpv4([127, 0, 0, 1], 7411);
        assert!(w.add_proxy(Instant::ZERO, reader, loc, true, Durability::Volatile));
        // The heartbeat owed at matching went out (and was lost): with nothing written, the
        // timer still owes another until the reader answers.
        w.proxy_mut(reader).unwrap().heartbeat_owed = false;
        let mut t = Instant::ZERO;
        for _ in 0..3 {
            t = w.next_heartbeat.expect("heartbeat scheduled");
            w.on_timeout(t);
            assert!(w.proxy_mut(reader).unwrap().heartbeat_owed);
            w.proxy_mut(reader).unwrap().heartbeat_owed = false;
        }
        let ack = AckNackRepr {
            reader_id: reader.entity,
            writer_id: w.guid.entity,
            reader_sn_state: SequenceNumberSet::new(SequenceNumber(1), 0),
            count: Count(1),
            final_flag: true,
        };
        assert!(w.on_acknack(t, reader, &ack));
        w.proxy_mut(reader).unwrap().heartbeat_owed = false;
        if let Some(t) = w.next_heartbeat {
            w.on_timeout(t);
        }
        assert!(!w.proxy_mut(reader).unwrap().heartbeat_owed);
        assert_eq!(w.next_heartbeat, None);
    }
}
