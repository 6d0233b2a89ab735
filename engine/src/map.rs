//! A hash index from a key (a GUID, a GUID prefix, or a local endpoint with a remote GUID) to a
//! table index: open addressing with linear probing and backward-shift deletion, over
//! caller-provided slots or a heap table that doubles (only on insert, that is on discovery and
//! matching).

use crate::storage::{Slots, NONE};
#[cfg(feature = "alloc")]
use alloc::vec::Vec;

/// Bytes of a key.
pub(crate) const KEY: usize = 20;

/// One slot of the engine's hash indexes; public so that a caller without `alloc` can provide
/// them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapSlot {
    key: [u8; KEY],
    index: u32,
}

impl MapSlot {
    /// An empty slot.
    pub const EMPTY: MapSlot = MapSlot {
        key: [0; KEY],
        index: NONE,
    };

    /// An empty slot, made at run time (see
    /// [`ParticipantSlot::vacant`](crate::ParticipantSlot::vacant)).
    #[inline]
    pub fn vacant() -> MapSlot {
        MapSlot {
            key: [0; KEY],
            index: NONE,
        }
    }
}

pub(crate) struct IndexMap<'a> {
    slots: Slots<'a, MapSlot>,
    len: usize,
    seed: u64,
}

fn hash(seed: u64, key: &[u8; KEY]) -> u64 {
    let mut h = seed ^ 0x243f_6a88_85a3_08d3;
    for chunk in key.chunks(8) {
        let mut w = [0u8; 8];
        w[..chunk.len()].copy_from_slice(chunk);
        h = (h ^ u64::from_le_bytes(w)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        h ^= h >> 29;
    }
    h ^ (h >> 32)
}

impl<'a> IndexMap<'a> {
    /// A map over `slots` (its length must be a power of two, or it is cut down to one). With
    /// `alloc` and no slots, a heap table that grows.
    pub(crate) fn new(slots: Option<&'a mut [MapSlot]>, seed: u64) -> Self {
        let slots = match slots {
            Some(s) => {
                let n = if s.is_empty() {
                    0
                } else {
                    1usize << (usize::BITS - 1 - s.len().leading_zeros())
                };
                let s = &mut s[..n];
                for x in s.iter_mut() {
                    *x = MapSlot::EMPTY;
                }
                Slots::Borrowed(s)
            }
            #[cfg(feature = "alloc")]
            None => Slots::Owned(Vec::new()),
            #[cfg(not(feature = "alloc"))]
            None => Slots::empty(),
        };
        IndexMap {
            slots,
            len: 0,
            seed,
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    fn mask(&self) -> usize {
        self.slots.len().wrapping_sub(1)
    }

    pub(crate) fn get(&self, key: &[u8; KEY]) -> Option<u32> {
        if self.slots.is_empty() {
            return None;
        }
        let mut i = hash(self.seed, key) as usize & self.mask();
        loop {
            let s = &self.slots[i];
            if s.index == NONE {
                return None;
            }
            if s.key == *key {
                return Some(s.index);
            }
            i = (i + 1) & self.mask();
        }
    }

    /// Inserts or replaces; false when there is no room (a full caller-provided table).
    pub(crate) fn insert(&mut self, key: &[u8; KEY], index: u32) -> bool {
        if (self.len + 1) * 4 > self.slots.len() * 3 && !self.grow() {
            // A fixed table may fill to all but one slot (probing needs an empty one).
            if self.len + 1 >= self.slots.len() {
                return false;
            }
        }
        let mut i = hash(self.seed, key) as usize & self.mask();
        loop {
            let s = &mut self.slots[i];
            if s.index == NONE {
                *s = MapSlot { key: *key, index };
                self.len += 1;
                return true;
            }
            if s.key == *key {
                s.index = index;
                return true;
            }
            i = (i + 1) & self.mask();
        }
    }

    #[cfg(feature = "alloc")]
    fn grow(&mut self) -> bool {
        let Slots::Owned(v) = &mut self.slots else {
            return false;
        };
        let n = (v.len() * 2).max(16);
        let old = core::mem::replace(v, alloc::vec![MapSlot::EMPTY; n]);
        self.len = 0;
        for s in old.into_iter().filter(|s| s.index != NONE) {
            self.insert(&s.key, s.index);
        }
        true
    }

    #[cfg(not(feature = "alloc"))]
    fn grow(&mut self) -> bool {
        false
    }

    pub(crate) fn remove(&mut self, key: &[u8; KEY]) -> Option<u32> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.mask();
        let mut i = hash(self.seed, key) as usize & mask;
        loop {
            let s = self.slots[i];
            if s.index == NONE {
                return None;
            }
            if s.key == *key {
                break;
            }
            i = (i + 1) & mask;
        }
        let found = self.slots[i].index;
        // Backward-shift: pull later entries of the probe run into the hole.
        let mut hole = i;
        let mut j = (i + 1) & mask;
        loop {
            let s = self.slots[j];
            if s.index == NONE {
                break;
            }
            let home = hash(self.seed, &s.key) as usize & mask;
            // Move s into the hole if its home is not within (hole, j].
            let dist_home = j.wrapping_sub(home) & mask;
            let dist_hole = j.wrapping_sub(hole) & mask;
            if dist_home >= dist_hole {
                self.slots[hole] = s;
                hole = j;
            }
            j = (j + 1) & mask;
        }
        self.slots[hole] = MapSlot::EMPTY;
        self.len -= 1;
        Some(found)
    }
}

/// The key of a GUID prefix.
#[cfg_attr(not(feature = "fast-paths"), inline(never))]
pub(crate) fn prefix_key(p: &crate::wire::GuidPrefix) -> [u8; KEY] {
    let mut k = [0u8; KEY];
    k[..12].copy_from_slice(&p.0);
    k[19] = 1;
    k
}

/// The key of a GUID.
pub(crate) fn guid_key(g: &crate::wire::Guid) -> [u8; KEY] {
    let mut k = [0u8; KEY];
    k[..16].copy_from_slice(&g.to_bytes());
    k[19] = 2;
    k
}

/// The key of a topic name: two independent hashes of it and its length.
pub(crate) fn topic_key(name: &str) -> [u8; KEY] {
    let mut a = 0xcbf2_9ce4_8422_2325u64;
    let mut b = 0x6c62_272e_07bb_0142u64;
    for &c in name.as_bytes() {
        a = (a ^ c as u64).wrapping_mul(0x0000_0100_0000_01b3);
        b = (b ^ c as u64)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(17);
    }
    let mut k = [0u8; KEY];
    k[..8].copy_from_slice(&a.to_le_bytes());
    k[8..16].copy_from_slice(&b.to_le_bytes());
    k[16..18].copy_from_slice(&(name.len() as u16).to_le_bytes());
    k[19] = 4;
    k
}

/// The key of a match: a local endpoint (its entity key) and a remote GUID.
pub(crate) fn match_key(local: u32, g: &crate::wire::Guid) -> [u8; KEY] {
    let mut k = [0u8; KEY];
    k[..16].copy_from_slice(&g.to_bytes());
    k[16..19].copy_from_slice(&local.to_le_bytes()[..3]);
    k[19] = 3 | ((local >> 24) as u8) << 2;
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u32) -> [u8; KEY] {
        let mut k = [0u8; KEY];
        k[..4].copy_from_slice(&i.to_le_bytes());
        k
    }

    #[test]
    fn insert_get_remove_with_collisions() {
        let mut store = [MapSlot::EMPTY; 64];
        let mut m = IndexMap::new(Some(&mut store), 7);
        for i in 0..40 {
            assert!(m.insert(&key(i), i * 10));
        }
        for i in 0..40 {
            assert_eq!(m.get(&key(i)), Some(i * 10));
        }
        for i in (0..40).step_by(3) {
            assert_eq!(m.remove(&key(i)), Some(i * 10));
        }
        for i in 0..40 {
            let want = if i % 3 == 0 { None } else { Some(i * 10) };
            assert_eq!(m.get(&key(i)), want, "{i}");
        }
        assert_eq!(m.len(), 26);
        // A fixed table refuses before it has no empty slot left.
        let mut n = 0;
        while m.insert(&key(1000 + n), n) {
            n += 1;
        }
        assert_eq!(m.len(), 63);
        assert_eq!(m.get(&key(1)), Some(10));
    }

    #[cfg(feature = "alloc")]
    #[test]
    fn heap_map_grows() {
        let mut m = IndexMap::new(None, 1);
        for i in 0..5000 {
            assert!(m.insert(&key(i), i));
        }
        for i in 0..5000 {
            assert_eq!(m.get(&key(i)), Some(i));
        }
    }
}
