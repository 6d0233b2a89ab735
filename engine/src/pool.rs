//! The payload pool: fixed-size blocks shared by every writer history and reader queue.
//!
//! A stored payload is a chain of blocks linked through `next`. Allocation and release are O(n)
//! in the blocks of one payload and never touch the heap; a full pool refuses.

use crate::limits::{POOL_BLOCK, POOL_BLOCKS};

const END: u16 = u16::MAX;

/// A payload stored in the pool. Not `Clone`: exactly one owner frees it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Bytes {
    first: u16,
    len: u32,
}

impl Bytes {
    pub(crate) fn len(&self) -> usize {
        self.len as usize
    }
}

/// The blocks live inline in the engine without `alloc`, and in one heap allocation made at
/// creation with it (so a large pool never passes through the stack).
#[cfg(not(feature = "alloc"))]
type Blocks = [[u8; POOL_BLOCK]; POOL_BLOCKS];
#[cfg(feature = "alloc")]
type Blocks = alloc::boxed::Box<[[u8; POOL_BLOCK]]>;

#[cfg(not(feature = "alloc"))]
const fn new_blocks() -> Blocks {
    [[0; POOL_BLOCK]; POOL_BLOCKS]
}

#[cfg(feature = "alloc")]
fn new_blocks() -> Blocks {
    alloc::vec![[0u8; POOL_BLOCK]; POOL_BLOCKS].into_boxed_slice()
}

pub(crate) struct Pool {
    blocks: Blocks,
    next: [u16; POOL_BLOCKS],
    free_head: u16,
    free_count: usize,
}

/// The free list of a fresh pool: every block, in order.
const fn fresh_links() -> [u16; POOL_BLOCKS] {
    let mut next = [END; POOL_BLOCKS];
    let mut i = 0;
    while i + 1 < POOL_BLOCKS {
        next[i] = (i + 1) as u16;
        i += 1;
    }
    next
}

impl Pool {
    /// A pool with every block free (a `const fn` when the blocks live inline).
    #[cfg(not(feature = "alloc"))]
    pub(crate) const fn new() -> Self {
        Pool {
            blocks: new_blocks(),
            next: fresh_links(),
            free_head: 0,
            free_count: POOL_BLOCKS,
        }
    }

    /// A pool with every block free, its blocks in one heap allocation.
    #[cfg(feature = "alloc")]
    pub(crate) fn new() -> Self {
        Pool {
            blocks: new_blocks(),
            next: fresh_links(),
            free_head: 0,
            free_count: POOL_BLOCKS,
        }
    }

    /// Frees every block at once (the contents are left as they are).
    pub(crate) fn reset(&mut self) {
        for (i, n) in self.next.iter_mut().enumerate() {
            *n = if i + 1 < POOL_BLOCKS {
                (i + 1) as u16
            } else {
                END
            };
        }
        self.free_head = 0;
        self.free_count = POOL_BLOCKS;
    }

    pub(crate) fn blocks_for(len: usize) -> usize {
        len.div_ceil(POOL_BLOCK).max(1)
    }

    pub(crate) fn free_blocks(&self) -> usize {
        self.free_count
    }

    /// Stores the concatenation of `parts`; `None` when the pool lacks room.
    pub(crate) fn store(&mut self, parts: &[&[u8]]) -> Option<Bytes> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let b = self.reserve(len)?;
        let mut at = 0;
        for part in parts {
            self.write_at(&b, at, part);
            at += part.len();
        }
        Some(b)
    }

    /// Reserves `len` bytes whose content the caller fills with [`Pool::write_at`].
    pub(crate) fn reserve(&mut self, len: usize) -> Option<Bytes> {
        let need = Self::blocks_for(len);
        if need > self.free_count || len > u32::MAX as usize {
            return None;
        }
        let first = self.free_head;
        let mut last = first;
        for _ in 1..need {
            last = self.next[last as usize];
        }
        self.free_head = self.next[last as usize];
        self.next[last as usize] = END;
        self.free_count -= need;
        Some(Bytes {
            first,
            len: len as u32,
        })
    }

    fn block_at(&self, b: &Bytes, offset: usize) -> u16 {
        let mut block = b.first;
        for _ in 0..offset / POOL_BLOCK {
            block = self.next[block as usize];
        }
        block
    }

    /// Copies `data` into a payload at `offset`; bytes beyond the payload's end are ignored.
    pub(crate) fn write_at(&mut self, b: &Bytes, offset: usize, data: &[u8]) {
        let end = (offset + data.len()).min(b.len());
        if offset >= end {
            return;
        }
        let mut src = &data[..end - offset];
        let mut block = self.block_at(b, offset);
        let mut off = offset % POOL_BLOCK;
        while !src.is_empty() && block != END {
            let n = src.len().min(POOL_BLOCK - off);
            self.blocks[block as usize][off..off + n].copy_from_slice(&src[..n]);
            src = &src[n..];
            off = 0;
            block = self.next[block as usize];
        }
    }

    /// Copies `out.len()` bytes of a payload starting at `offset` (fewer at its end); returns
    /// how many.
    pub(crate) fn read_at(&self, b: &Bytes, offset: usize, out: &mut [u8]) -> usize {
        let end = (offset + out.len()).min(b.len());
        if offset >= end {
            return 0;
        }
        let total = end - offset;
        let mut block = self.block_at(b, offset);
        let mut off = offset % POOL_BLOCK;
        let mut pos = 0;
        while pos < total && block != END {
            let n = (total - pos).min(POOL_BLOCK - off);
            out[pos..pos + n].copy_from_slice(&self.blocks[block as usize][off..off + n]);
            pos += n;
            off = 0;
            block = self.next[block as usize];
        }
        pos
    }

    /// Copies a payload into `out` (which must hold `b.len()` bytes); returns the length.
    pub(crate) fn read(&self, b: &Bytes, out: &mut [u8]) -> usize {
        let mut left = b.len();
        let mut block = b.first;
        let mut pos = 0;
        while left > 0 && block != END {
            let n = left.min(POOL_BLOCK).min(out.len() - pos);
            out[pos..pos + n].copy_from_slice(&self.blocks[block as usize][..n]);
            pos += n;
            left -= n;
            block = self.next[block as usize];
            if pos == out.len() {
                break;
            }
        }
        pos
    }

    /// Returns a payload's blocks to the free list.
    pub(crate) fn free(&mut self, b: Bytes) {
        let need = Self::blocks_for(b.len());
        let mut last = b.first;
        for _ in 1..need {
            last = self.next[last as usize];
        }
        self.next[last as usize] = self.free_head;
        self.free_head = b.first;
        self.free_count += need;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_read_free() {
        let mut p = Pool::new();
        let a = [7u8; 600];
        let b = p.store(&[&a[..10], &a[10..]]).unwrap();
        assert_eq!(p.free_blocks(), POOL_BLOCKS - Pool::blocks_for(600));
        let mut out = [0u8; 600];
        assert_eq!(p.read(&b, &mut out), 600);
        assert_eq!(out, a);
        p.free(b);
        assert_eq!(p.free_blocks(), POOL_BLOCKS);
        let e = p.store(&[]).unwrap();
        assert_eq!(e.len(), 0);
        p.free(e);
        assert_eq!(p.free_blocks(), POOL_BLOCKS);
    }

    #[test]
    fn random_access() {
        let mut p = Pool::new();
        let b = p.reserve(1000).unwrap();
        let src: [u8; 1000] = core::array::from_fn(|i| i as u8);
        for chunk in (0..1000).step_by(300).rev() {
            let end = (chunk + 300).min(1000);
            p.write_at(&b, chunk, &src[chunk..end]);
        }
        let mut out = [0u8; 1000];
        assert_eq!(p.read(&b, &mut out), 1000);
        assert_eq!(out, src);
        let mut part = [0u8; 100];
        assert_eq!(p.read_at(&b, 950, &mut part), 50);
        assert_eq!(part[..50], src[950..]);
        p.free(b);
        assert_eq!(p.free_blocks(), POOL_BLOCKS);
    }

    #[test]
    fn refuses_when_full() {
        let mut p = Pool::new();
        let big = [0u8; POOL_BLOCK * 100];
        let mut held = [const { None }; POOL_BLOCKS / 100 + 1];
        for slot in held.iter_mut() {
            *slot = p.store(&[&big]);
        }
        assert!(held.iter().any(|h| h.is_none()));
        for h in held.iter_mut() {
            if let Some(b) = h.take() {
                p.free(b);
            }
        }
        assert_eq!(p.free_blocks(), POOL_BLOCKS);
    }
}
