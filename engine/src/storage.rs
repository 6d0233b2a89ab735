//! Where the engine's tables live: caller-provided slices (no `alloc`) or heap vectors that grow
//! up to a maximum (with `alloc`), behind one slab type.
//!
//! A [`Slab`] hands out stable `u32` indices; freed entries go on a free list and are reused
//! first, and iteration only ever visits the entries used so far (the high-water mark), never
//! the whole capacity.

#[cfg(feature = "alloc")]
use alloc::vec::Vec;
use core::ops::{Deref, DerefMut};

/// No index.
pub(crate) const NONE: u32 = u32::MAX;

/// A run of `T`: borrowed from the caller, or owned.
pub(crate) enum Slots<'a, T> {
    Borrowed(&'a mut [T]),
    #[cfg(feature = "alloc")]
    Owned(Vec<T>),
}

impl<T> Slots<'_, T> {
    /// An empty run.
    pub(crate) fn empty() -> Self {
        Slots::Borrowed(&mut [])
    }

    /// Whether more can be pushed (owned runs grow; borrowed ones are fixed).
    fn can_grow(&self) -> bool {
        match self {
            Slots::Borrowed(_) => false,
            #[cfg(feature = "alloc")]
            Slots::Owned(_) => true,
        }
    }

    fn push(&mut self, _v: T) {
        match self {
            Slots::Borrowed(_) => {}
            #[cfg(feature = "alloc")]
            Slots::Owned(v) => v.push(_v),
        }
    }
}

impl<T> Deref for Slots<'_, T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        match self {
            Slots::Borrowed(s) => s,
            #[cfg(feature = "alloc")]
            Slots::Owned(v) => v,
        }
    }
}

impl<T> DerefMut for Slots<'_, T> {
    fn deref_mut(&mut self) -> &mut [T] {
        match self {
            Slots::Borrowed(s) => s,
            #[cfg(feature = "alloc")]
            Slots::Owned(v) => v,
        }
    }
}

/// A source of runs for per-endpoint tables: the rest of a caller's slice, or the heap.
pub(crate) enum Arena<'a, T> {
    Borrowed(&'a mut [T]),
    #[cfg(feature = "alloc")]
    Heap,
}

impl<'a, T> Arena<'a, T> {
    /// A run of `n` entries made by `fill`: carved off the caller's slice (which must hold
    /// them; already-filled entries are reset with `fill`), or a new vector (empty, growing up
    /// to `n` as the table fills).
    pub(crate) fn carve(&mut self, n: usize, fill: impl Fn() -> T) -> Option<Slots<'a, T>> {
        match self {
            Arena::Borrowed(rest) => {
                if rest.len() < n {
                    return None;
                }
                let all = core::mem::take(rest);
                let (mine, left) = all.split_at_mut(n);
                *rest = left;
                for s in mine.iter_mut() {
                    *s = fill();
                }
                Some(Slots::Borrowed(mine))
            }
            #[cfg(feature = "alloc")]
            Arena::Heap => Some(Slots::Owned(Vec::new())),
        }
    }

    /// Entries still available to carve (`usize::MAX` on the heap).
    pub(crate) fn available(&self) -> usize {
        match self {
            Arena::Borrowed(rest) => rest.len(),
            #[cfg(feature = "alloc")]
            Arena::Heap => usize::MAX,
        }
    }
}

/// One entry of a slab.
#[derive(Debug)]
pub(crate) enum Entry<T> {
    Vacant(u32),
    Occupied(T),
}

/// A slab entry type: public newtypes around [`Entry`] so that a caller without `alloc` can
/// provide runs of them.
pub(crate) trait Slot {
    type T;
    fn wrap(e: Entry<Self::T>) -> Self;
    fn entry(&self) -> &Entry<Self::T>;
    fn entry_mut(&mut self) -> &mut Entry<Self::T>;
}

impl<T> Slot for Entry<T> {
    type T = T;
    fn wrap(e: Entry<T>) -> Self {
        e
    }
    fn entry(&self) -> &Entry<T> {
        self
    }
    fn entry_mut(&mut self) -> &mut Entry<T> {
        self
    }
}

/// Declares a public slot type for caller-provided storage.
macro_rules! slot_type {
    ($(#[$doc:meta])* $name:ident, $inner:ty) => {
        $(#[$doc])*
        pub struct $name(pub(crate) $crate::storage::Entry<$inner>);

        impl $name {
            /// An unused slot.
            pub const EMPTY: $name = $name($crate::storage::Entry::Vacant($crate::storage::NONE));

            /// An unused slot, made at run time: filling a run with it stores the slot's tag
            /// and free link only, where copying [`Self::EMPTY`] copies the whole slot from a
            /// constant in flash.
            #[inline]
            pub fn vacant() -> $name {
                $name($crate::storage::Entry::Vacant($crate::storage::NONE))
            }
        }

        impl $crate::storage::Slot for $name {
            type T = $inner;
            fn wrap(e: $crate::storage::Entry<$inner>) -> Self {
                $name(e)
            }
            fn entry(&self) -> &$crate::storage::Entry<$inner> {
                &self.0
            }
            fn entry_mut(&mut self) -> &mut $crate::storage::Entry<$inner> {
                &mut self.0
            }
        }

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(match self.0 {
                    $crate::storage::Entry::Vacant(_) => "vacant",
                    $crate::storage::Entry::Occupied(_) => "occupied",
                })
            }
        }
    };
}
pub(crate) use slot_type;

/// A table with stable indices, a free list and a maximum.
pub(crate) struct Slab<'a, S: Slot> {
    slots: Slots<'a, S>,
    max: usize,
    used: usize,
    free: u32,
    count: usize,
}

impl<'a, S: Slot> Slab<'a, S> {
    /// A slab over `slots`, holding at most `max` entries (a borrowed run also holds at most
    /// its length). Entries already in a borrowed run are discarded.
    pub(crate) fn new(mut slots: Slots<'a, S>, max: usize) -> Self {
        let max = if slots.can_grow() {
            max
        } else {
            for s in slots.iter_mut() {
                *s = S::wrap(Entry::Vacant(NONE));
            }
            max.min(slots.len())
        };
        Slab {
            slots,
            max,
            used: 0,
            free: NONE,
            count: 0,
        }
    }

    /// An empty slab that holds nothing.
    pub(crate) fn none() -> Self {
        Slab::new(Slots::empty(), 0)
    }

    pub(crate) fn len(&self) -> usize {
        self.count
    }

    pub(crate) fn capacity(&self) -> usize {
        self.max
    }

    pub(crate) fn is_full(&self) -> bool {
        self.count >= self.max
    }

    /// Where the next insert will go, if there is room.
    pub(crate) fn next_index(&self) -> Option<u32> {
        if self.free != NONE {
            Some(self.free)
        } else if self.used < self.max {
            Some(self.used as u32)
        } else {
            None
        }
    }

    /// Stores `v`; gives it back when the slab is full.
    // One store of `v` (and one move back when full): the value is as large as a slot, and
    // every slot type has its own copy of this.
    pub(crate) fn insert(&mut self, v: S::T) -> Result<u32, S::T> {
        let Some(i) = self.claim() else {
            return Err(v);
        };
        *self.slots[i as usize].entry_mut() = Entry::Occupied(v);
        Ok(i)
    }

    /// Takes the index the next insert goes to off the free list or the high-water mark
    /// (growing an owned run by a vacant slot), counted as occupied; `None` when full.
    fn claim(&mut self) -> Option<u32> {
        let i = self.next_index()?;
        if i == self.free {
            self.free = match self.slots[i as usize].entry() {
                Entry::Vacant(n) => *n,
                Entry::Occupied(_) => NONE,
            };
        } else {
            if i as usize >= self.slots.len() {
                self.slots.push(S::wrap(Entry::Vacant(NONE)));
            }
            self.used += 1;
        }
        self.count += 1;
        Some(i)
    }

    pub(crate) fn remove(&mut self, i: u32) -> Option<S::T> {
        let (slot, next) = self.vacate(i)?;
        match core::mem::replace(slot, Entry::Vacant(next)) {
            Entry::Occupied(v) => Some(v),
            Entry::Vacant(_) => None,
        }
    }

    /// Removes entry `i` without handing it back (dropped in place): no room for a copy of a
    /// large record in the caller's frame. False if `i` held nothing.
    pub(crate) fn discard(&mut self, i: u32) -> bool {
        match self.vacate(i) {
            Some((slot, next)) => {
                *slot = Entry::Vacant(next);
                true
            }
            None => false,
        }
    }

    /// Puts occupied entry `i` on the free list and uncounts it; hands back its slot, still
    /// holding the entry, and the free-list link the caller stores in it. `None` if `i` holds
    /// nothing.
    fn vacate(&mut self, i: u32) -> Option<(&mut Entry<S::T>, u32)> {
        let occupied = (i as usize) < self.used
            && matches!(
                self.slots.get(i as usize).map(|s| s.entry()),
                Some(Entry::Occupied(_))
            );
        if !occupied {
            return None;
        }
        let next = core::mem::replace(&mut self.free, i);
        self.count -= 1;
        Some((self.slots[i as usize].entry_mut(), next))
    }

    pub(crate) fn get(&self, i: u32) -> Option<&S::T> {
        match self.slots.get(i as usize).map(|s| s.entry()) {
            Some(Entry::Occupied(v)) if (i as usize) < self.used => Some(v),
            _ => None,
        }
    }

    pub(crate) fn get_mut(&mut self, i: u32) -> Option<&mut S::T> {
        let used = self.used;
        match self.slots.get_mut(i as usize).map(|s| s.entry_mut()) {
            Some(Entry::Occupied(v)) if (i as usize) < used => Some(v),
            _ => None,
        }
    }

    /// Every entry with its index, in index order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, &S::T)> + '_ {
        self.slots[..self.used]
            .iter()
            .enumerate()
            .filter_map(|(i, e)| match e.entry() {
                Entry::Occupied(v) => Some((i as u32, v)),
                Entry::Vacant(_) => None,
            })
    }

    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (u32, &mut S::T)> + '_ {
        let used = self.used;
        self.slots[..used]
            .iter_mut()
            .enumerate()
            .filter_map(|(i, e)| match e.entry_mut() {
                Entry::Occupied(v) => Some((i as u32, v)),
                Entry::Vacant(_) => None,
            })
    }

    /// Reserves heap room for `n` entries (a caller's run is what it is).
    pub(crate) fn reserve(&mut self, _n: usize) {
        #[cfg(feature = "alloc")]
        if let Slots::Owned(v) = &mut self.slots {
            v.reserve(_n.min(self.max).saturating_sub(v.len()));
        }
    }

    /// The run, for reuse by a later table.
    pub(crate) fn into_slots(self) -> Slots<'a, S> {
        self.slots
    }

    /// Slot `i` itself, whatever it holds (for data kept beside a vacant entry).
    pub(crate) fn slot_mut(&mut self, i: u32) -> Option<&mut S> {
        self.slots.get_mut(i as usize)
    }

    /// One past the highest index used so far.
    pub(crate) fn high_water(&self) -> usize {
        self.used
    }

    /// Removes everything, handing each entry to `f`.
    pub(crate) fn clear_with(&mut self, mut f: impl FnMut(S::T)) {
        for s in self.slots[..self.used].iter_mut() {
            if let Entry::Occupied(v) = core::mem::replace(s.entry_mut(), Entry::Vacant(NONE)) {
                f(v);
            }
        }
        self.used = 0;
        self.free = NONE;
        self.count = 0;
    }
}

/// Fills a borrowed run with `v`, or makes an owned run of `n` copies.
pub(crate) fn filled<'a, T: Clone>(run: Option<&'a mut [T]>, n: usize, v: T) -> Slots<'a, T> {
    match run {
        Some(s) => {
            for x in s.iter_mut() {
                *x = v.clone();
            }
            Slots::Borrowed(s)
        }
        #[cfg(feature = "alloc")]
        None => Slots::Owned(alloc::vec![v; n]),
        #[cfg(not(feature = "alloc"))]
        None => {
            let _ = (n, v);
            Slots::empty()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slab_reuses_and_bounds() {
        let mut store = [const { Entry::Vacant(NONE) }; 3];
        let mut s: Slab<'_, Entry<u32>> = Slab::new(Slots::Borrowed(&mut store), 10);
        assert_eq!(s.capacity(), 3);
        let a = s.insert(1).unwrap();
        let b = s.insert(2).unwrap();
        let c = s.insert(3).unwrap();
        assert_eq!(s.insert(4), Err(4));
        assert_eq!(s.remove(b), Some(2));
        assert_eq!(s.remove(b), None);
        assert_eq!(s.next_index(), Some(b));
        assert_eq!(s.insert(5), Ok(b));
        assert_eq!(s.iter().map(|(_, v)| *v).sum::<u32>(), 9);
        assert_eq!((a, c), (0, 2));
        s.clear_with(|_| {});
        assert_eq!(s.len(), 0);
        assert_eq!(s.insert(7), Ok(0));
    }

    #[test]
    fn discard_frees_like_remove() {
        let mut store = [const { Entry::Vacant(NONE) }; 2];
        let mut s: Slab<'_, Entry<u32>> = Slab::new(Slots::Borrowed(&mut store), 2);
        let a = s.insert(1).unwrap();
        let b = s.insert(2).unwrap();
        assert!(s.discard(a));
        assert!(!s.discard(a), "a vacant slot is not discarded twice");
        assert!(!s.discard(7), "nor one past the high-water mark");
        assert_eq!((s.len(), s.get(a), s.get(b)), (1, None, Some(&2)));
        // The freed slot is on the free list: the next insert takes it.
        assert_eq!(s.insert(3), Ok(a));
        assert!(s.is_full());
    }

    #[cfg(feature = "alloc")]
    #[test]
    fn owned_slab_grows_to_its_maximum() {
        let mut s: Slab<'_, Entry<u8>> = Slab::new(Slots::Owned(Vec::new()), 2);
        assert!(s.insert(1).is_ok());
        assert!(s.insert(2).is_ok());
        assert_eq!(s.insert(3), Err(3));
        assert!(s.is_full());
    }
}
