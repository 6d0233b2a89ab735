//! The transmit schedule: a FIFO of owed work, so that `poll_transmit` finds the next datagram
//! to build in O(1) and returns `None` at once when nothing is owed.
//!
//! Work is queued where it arises: a write queues every proxy of its writer, an ACKNACK or
//! NACK_FRAG its proxy, a HEARTBEAT the reader proxy that must answer, a timer the proxies it
//! makes owe, a match the new proxy, a newcomer its directed SPDP reply. Each proxy (and
//! participant) is in the queue at most once, marked by its `queued` flag.

use crate::storage::{filled, Slots};
#[cfg(feature = "alloc")]
use alloc::vec::Vec;

/// A local endpoint, as a queue item or a match names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Local {
    /// Builtin writer 0..3 (SEDP publications, SEDP subscriptions, participant message).
    BuiltinWriter(u32),
    /// Builtin reader 0..3.
    BuiltinReader(u32),
    /// User writer slot.
    Writer(u32),
    /// User reader slot.
    Reader(u32),
    /// Not an endpoint: the directed SPDP owed to participant slot `i` (queue items only).
    Spdp,
}

impl Local {
    pub(crate) const fn key(self) -> u32 {
        match self {
            Local::BuiltinWriter(i) => (1 << 24) | i,
            Local::BuiltinReader(i) => (2 << 24) | i,
            Local::Writer(i) => (3 << 24) | i,
            Local::Reader(i) => (4 << 24) | i,
            Local::Spdp => 5 << 24,
        }
    }

    pub(crate) const fn from_key(k: u32) -> Option<Local> {
        let i = k & 0x00ff_ffff;
        match k >> 24 {
            1 => Some(Local::BuiltinWriter(i)),
            2 => Some(Local::BuiltinReader(i)),
            3 => Some(Local::Writer(i)),
            4 => Some(Local::Reader(i)),
            5 => Some(Local::Spdp),
            _ => None,
        }
    }
}

/// A local endpoint and one of its proxies (or, for [`Local::Spdp`], a participant slot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Work {
    pub local: Local,
    pub index: u32,
}

impl Work {
    pub(crate) const NONE: u64 = u64::MAX;

    pub(crate) const fn pack(self) -> u64 {
        ((self.local.key() as u64) << 32) | self.index as u64
    }

    pub(crate) const fn unpack(v: u64) -> Option<Work> {
        if v == Self::NONE {
            return None;
        }
        match Local::from_key((v >> 32) as u32) {
            Some(local) => Some(Work {
                local,
                index: v as u32,
            }),
            None => None,
        }
    }
}

/// A ring of packed [`Work`] items.
pub(crate) struct WorkQueue<'a> {
    ring: Slots<'a, u64>,
    head: usize,
    len: usize,
}

impl<'a> WorkQueue<'a> {
    pub(crate) fn new(run: Option<&'a mut [u64]>, n: usize) -> Self {
        WorkQueue {
            ring: filled(run, n, Work::NONE),
            head: 0,
            len: 0,
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Makes room for `n` items in all (on the heap; a caller's ring is what it is). Called
    /// when proxies are created, so that pushing never allocates.
    pub(crate) fn reserve(&mut self, _n: usize) {
        #[cfg(feature = "alloc")]
        if let Slots::Owned(v) = &mut self.ring {
            if v.len() >= _n {
                return;
            }
            let cap = v.len();
            let mut grown = Vec::with_capacity(_n.next_power_of_two());
            for k in 0..self.len {
                grown.push(v[(self.head + k) % cap]);
            }
            grown.resize(_n.next_power_of_two(), Work::NONE);
            *v = grown;
            self.head = 0;
        }
    }

    /// Appends an item; false when the ring is full (the caller then leaves the proxy
    /// unmarked, and the owed work is found again by its timer).
    pub(crate) fn push(&mut self, w: Work) -> bool {
        let cap = self.ring.len();
        if self.len >= cap {
            // Full, perhaps of forgotten items: close their gaps first.
            self.compact();
            if self.len >= cap {
                return false;
            }
        }
        self.ring[(self.head + self.len) % cap] = w.pack();
        self.len += 1;
        true
    }

    /// The item [`WorkQueue::pop`] would return, left in place.
    pub(crate) fn peek(&mut self) -> Option<Work> {
        while self.len > 0 {
            if let Some(w) = Work::unpack(self.ring[self.head]) {
                return Some(w);
            }
            // A forgotten item: dropped as `pop` would.
            let cap = self.ring.len();
            self.head = (self.head + 1) % cap;
            self.len -= 1;
        }
        None
    }

    pub(crate) fn pop(&mut self) -> Option<Work> {
        while self.len > 0 {
            let cap = self.ring.len();
            let v = core::mem::replace(&mut self.ring[self.head], Work::NONE);
            self.head = (self.head + 1) % cap;
            self.len -= 1;
            if let Some(w) = Work::unpack(v) {
                return Some(w);
            }
        }
        None
    }

    /// Drops the forgotten items, keeping the order of the others.
    fn compact(&mut self) {
        let cap = self.ring.len();
        let mut kept = 0;
        for k in 0..self.len {
            let v = self.ring[(self.head + k) % cap];
            if v != Work::NONE {
                self.ring[(self.head + kept) % cap] = v;
                kept += 1;
            }
        }
        for k in kept..self.len {
            self.ring[(self.head + k) % cap] = Work::NONE;
        }
        self.len = kept;
    }

    /// Removes `w` wherever it waits (its proxy or participant is going away, and its slot may
    /// be reused). O(queued items); only called when the item is known to be queued.
    pub(crate) fn forget(&mut self, w: Work) {
        let cap = self.ring.len();
        let packed = w.pack();
        for k in 0..self.len {
            let i = (self.head + k) % cap;
            if self.ring[i] == packed {
                self.ring[i] = Work::NONE;
            }
        }
    }

    pub(crate) fn clear(&mut self) {
        while self.pop().is_some() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_round_trip() {
        let mut ring = [0u64; 4];
        let mut q = WorkQueue::new(Some(&mut ring), 4);
        let items = [
            Work {
                local: Local::Writer(3),
                index: 7,
            },
            Work {
                local: Local::BuiltinReader(2),
                index: 999,
            },
            Work {
                local: Local::Spdp,
                index: 0,
            },
        ];
        for w in items {
            assert!(q.push(w));
        }
        assert_eq!(q.pop(), Some(items[0]));
        for w in [items[0], items[0]] {
            assert!(q.push(w));
        }
        assert!(!q.push(items[0]));
        assert_eq!(q.pop(), Some(items[1]));
        assert_eq!(q.pop(), Some(items[2]));
        assert_eq!(q.len(), 2);
    }

    /// `peek` shows what `pop` returns next, past forgotten items, and leaves it queued.
    #[test]
    fn peek_skips_forgotten_items() {
        let mut ring = [0u64; 4];
        let mut q = WorkQueue::new(Some(&mut ring), 4);
        let w = |i| Work {
            local: Local::Writer(0),
            index: i,
        };
        assert_eq!(q.peek(), None);
        for i in 0..3 {
            assert!(q.push(w(i)));
        }
        q.forget(w(0));
        assert_eq!(q.peek(), Some(w(1)));
        assert_eq!(q.peek(), Some(w(1)));
        assert_eq!(q.len(), 2);
        assert_eq!(q.pop(), Some(w(1)));
        assert_eq!(q.pop(), Some(w(2)));
        assert_eq!(q.peek(), None);
    }

    /// Forgotten items do not hold their room: a full ring of them takes new work.
    #[test]
    fn forgotten_items_make_room() {
        let mut ring = [0u64; 3];
        let mut q = WorkQueue::new(Some(&mut ring), 3);
        let w = |i| Work {
            local: Local::Reader(0),
            index: i,
        };
        for i in 0..3 {
            assert!(q.push(w(i)));
        }
        q.forget(w(0));
        q.forget(w(2));
        assert!(q.push(w(7)));
        assert!(q.push(w(8)));
        assert!(!q.push(w(9)));
        assert_eq!(q.pop(), Some(w(1)));
        assert_eq!(q.pop(), Some(w(7)));
        assert_eq!(q.pop(), Some(w(8)));
        assert_eq!(q.pop(), None);
    }
}
