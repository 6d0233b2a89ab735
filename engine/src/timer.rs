//! The engine's deadlines: an indexed binary min-heap over a dense space of timer ids, each id
//! one reason (the SPDP announcement, liveliness, one writer's heartbeat, one reader's
//! pre-emptive ACKNACKs, one participant's lease, one reader's partial-sample expiry). The earliest deadline is read in O(1);
//! setting or clearing one costs O(log n). Storage is sized for every id at creation, so nothing
//! allocates afterwards.

use crate::storage::{filled, Slots, NONE};
use crate::time::Instant;

/// Why the engine must wake up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timer {
    /// The periodic SPDP announcement.
    Announce,
    /// The participant-message liveliness assertion.
    Liveliness,
    /// Heartbeats of builtin writer `i` (0..3).
    BuiltinHeartbeat(u32),
    /// Pre-emptive ACKNACKs of builtin reader `i` (0..3).
    BuiltinReader(u32),
    /// Heartbeats of user writer slot `i`.
    Heartbeat(u32),
    /// Pre-emptive ACKNACKs of user reader slot `i`.
    Reader(u32),
    /// The lease of remote participant slot `i`.
    Lease(u32),
    /// Expiry of the partial samples of builtin reader `i` (0..3).
    BuiltinReassembly(u32),
    /// Expiry of the partial samples of user reader slot `i`.
    Reassembly(u32),
}

/// One heap entry; public so that a caller without `alloc` can provide them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerSlot {
    at: u64,
    id: u32,
}

impl TimerSlot {
    /// An unused entry.
    pub const EMPTY: TimerSlot = TimerSlot { at: 0, id: NONE };

    /// An unused entry, made at run time (see
    /// [`ParticipantSlot::vacant`](crate::ParticipantSlot::vacant)).
    #[inline]
    pub fn vacant() -> TimerSlot {
        TimerSlot { at: 0, id: NONE }
    }
}

/// Maps [`Timer`] to dense ids and back.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Layout {
    writers: u32,
    readers: u32,
    participants: u32,
}

impl Layout {
    pub(crate) const fn new(writers: usize, readers: usize, participants: usize) -> Self {
        Layout {
            writers: writers as u32,
            readers: readers as u32,
            participants: participants as u32,
        }
    }

    /// How many ids there are.
    pub(crate) const fn ids(&self) -> usize {
        11 + self.writers as usize + 2 * self.readers as usize + self.participants as usize
    }

    /// The first id after the participants' leases: builtin reassembly expiry, then user.
    const fn reassembly_base(&self) -> u32 {
        8 + self.writers + self.readers + self.participants
    }

    fn id(&self, t: Timer) -> u32 {
        match t {
            Timer::Announce => 0,
            Timer::Liveliness => 1,
            Timer::BuiltinHeartbeat(i) => 2 + i,
            Timer::BuiltinReader(i) => 5 + i,
            Timer::Heartbeat(i) => 8 + i,
            Timer::Reader(i) => 8 + self.writers + i,
            Timer::Lease(i) => 8 + self.writers + self.readers + i,
            Timer::BuiltinReassembly(i) => self.reassembly_base() + i,
            Timer::Reassembly(i) => self.reassembly_base() + 3 + i,
        }
    }

    fn timer(&self, id: u32) -> Timer {
        let w = 8 + self.writers;
        let r = w + self.readers;
        let b = self.reassembly_base();
        match id {
            0 => Timer::Announce,
            1 => Timer::Liveliness,
            2..=4 => Timer::BuiltinHeartbeat(id - 2),
            5..=7 => Timer::BuiltinReader(id - 5),
            _ if id < w => Timer::Heartbeat(id - 8),
            _ if id < r => Timer::Reader(id - w),
            _ if id < b => Timer::Lease(id - r),
            _ if id < b + 3 => Timer::BuiltinReassembly(id - b),
            _ => Timer::Reassembly(id - b - 3),
        }
    }
}

pub(crate) struct Timers<'a> {
    layout: Layout,
    heap: Slots<'a, TimerSlot>,
    /// Position in `heap` of each id, or NONE.
    pos: Slots<'a, u32>,
    len: usize,
}

impl<'a> Timers<'a> {
    /// Timers for `layout`, in the caller's runs (each at least `layout.ids()` long) or on the
    /// heap.
    pub(crate) fn new(
        layout: Layout,
        heap: Option<&'a mut [TimerSlot]>,
        pos: Option<&'a mut [u32]>,
    ) -> Self {
        let n = layout.ids();
        Timers {
            layout,
            heap: filled(heap, n, TimerSlot::EMPTY),
            pos: filled(pos, n, NONE),
            len: 0,
        }
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        (self.len > 0).then(|| Instant(self.heap[0].at))
    }

    /// The earliest timer due at `now`, removed.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Timer> {
        if self.len == 0 || self.heap[0].at > now.0 {
            return None;
        }
        let id = self.heap[0].id;
        self.remove_at(0);
        Some(self.layout.timer(id))
    }

    /// When `t` is set to fire.
    pub(crate) fn get(&self, t: Timer) -> Option<Instant> {
        let id = self.layout.id(t) as usize;
        match self.pos.get(id) {
            Some(&p) if p != NONE => Some(Instant(self.heap[p as usize].at)),
            _ => None,
        }
    }

    /// Sets `t` to fire at `at` (replacing any earlier setting).
    pub(crate) fn set(&mut self, t: Timer, at: Instant) {
        let id = self.layout.id(t);
        let Some(&p) = self.pos.get(id as usize) else {
            return;
        };
        if p == NONE {
            if self.len >= self.heap.len() {
                return;
            }
            let i = self.len;
            self.heap[i] = TimerSlot { at: at.0, id };
            self.pos[id as usize] = i as u32;
            self.len += 1;
            self.up(i);
        } else {
            let i = p as usize;
            let old = self.heap[i].at;
            if at.0 == old {
                // Unchanged (a writer re-arms its heartbeat on every write): nothing moves.
                return;
            }
            self.heap[i].at = at.0;
            if at.0 < old {
                self.up(i);
            } else {
                self.down(i);
            }
        }
    }

    /// Sets `t` to `at` unless it is already due earlier.
    pub(crate) fn set_earliest(&mut self, t: Timer, at: Instant) {
        match self.get(t) {
            Some(cur) if cur <= at => {}
            _ => self.set(t, at),
        }
    }

    pub(crate) fn clear(&mut self, t: Timer) {
        let id = self.layout.id(t) as usize;
        if let Some(&p) = self.pos.get(id) {
            if p != NONE {
                self.remove_at(p as usize);
            }
        }
    }

    pub(crate) fn clear_all(&mut self) {
        for p in self.pos.iter_mut() {
            *p = NONE;
        }
        self.len = 0;
    }

    fn remove_at(&mut self, i: usize) {
        let id = self.heap[i].id as usize;
        self.pos[id] = NONE;
        self.len -= 1;
        if i == self.len {
            return;
        }
        self.heap[i] = self.heap[self.len];
        self.pos[self.heap[i].id as usize] = i as u32;
        self.up(i);
        self.down(i);
    }

    fn swap(&mut self, a: usize, b: usize) {
        self.heap.swap(a, b);
        self.pos[self.heap[a].id as usize] = a as u32;
        self.pos[self.heap[b].id as usize] = b as u32;
    }

    fn up(&mut self, mut i: usize) {
        while i > 0 {
            let parent = (i - 1) / 2;
            if self.heap[parent].at <= self.heap[i].at {
                break;
            }
            self.swap(parent, i);
            i = parent;
        }
    }

    fn down(&mut self, mut i: usize) {
        loop {
            let l = 2 * i + 1;
            let r = l + 1;
            let mut m = i;
            if l < self.len && self.heap[l].at < self.heap[m].at {
                m = l;
            }
            if r < self.len && self.heap[r].at < self.heap[m].at {
                m = r;
            }
            if m == i {
                break;
            }
            self.swap(i, m);
            i = m;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_first_with_updates_and_clears() {
        let layout = Layout::new(4, 4, 16);
        assert_eq!(layout.ids(), 11 + 4 + 2 * 4 + 16);
        for id in 0..layout.ids() as u32 {
            assert_eq!(layout.id(layout.timer(id)), id);
        }
        assert_eq!(layout.timer(8 + 24), Timer::BuiltinReassembly(0));
        assert_eq!(layout.timer(8 + 24 + 3), Timer::Reassembly(0));
        let mut heap = [TimerSlot::EMPTY; 32];
        let mut pos = [0u32; 32];
        let mut t = Timers::new(layout, Some(&mut heap), Some(&mut pos));
        assert_eq!(t.next(), None);
        for i in 0..16 {
            t.set(Timer::Lease(i), Instant(1000 - i as u64 * 10));
        }
        t.set(Timer::Announce, Instant(500));
        t.set(Timer::Heartbeat(3), Instant(5));
        t.set(Timer::Heartbeat(3), Instant(2000));
        t.clear(Timer::Lease(15));
        t.set_earliest(Timer::Lease(0), Instant(3000));
        assert_eq!(t.next(), Some(Instant(500)));
        let mut order = [const { None }; 20];
        let mut n = 0;
        while let Some(x) = t.pop_due(Instant(u64::MAX)) {
            order[n] = Some(x);
            n += 1;
        }
        assert_eq!(n, 17);
        assert_eq!(order[0], Some(Timer::Announce));
        assert_eq!(order[1], Some(Timer::Lease(14)));
        assert_eq!(order[14], Some(Timer::Lease(1)));
        assert_eq!(order[15], Some(Timer::Lease(0)));
        assert_eq!(order[16], Some(Timer::Heartbeat(3)));
    }
}
