//! The payload pool: fixed-size blocks shared by every writer history and reader queue.
//!
//! A stored payload is a chain of blocks linked through `next`. Allocation and release are O(n)
//! in the blocks of one payload and never touch the heap; a full pool refuses. A payload can
//! also grow at its end ([`Pool::grow`]), so a sample being reassembled holds blocks only up to
//! the furthest fragment received, not its whole announced size.
// Without the `frag` feature the fragment paths here are never called (and not linked).
#![cfg_attr(not(feature = "frag"), allow(dead_code))]

use crate::storage::{filled, Slots};
use crate::wire::copy_small;

const END: u32 = u32::MAX;

/// A payload stored in the pool. Not `Clone`: exactly one owner frees it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Bytes {
    first: u32,
    len: u32,
}

impl Bytes {
    pub(crate) fn len(&self) -> usize {
        self.len as usize
    }
}

/// Blocks of `block` bytes in one run (the caller's, or one zeroed heap allocation made at
/// creation, which the operating system maps only as it is used) linked through `next`.
pub(crate) struct Pool<'a> {
    bytes: Slots<'a, u8>,
    next: Slots<'a, u32>,
    block: usize,
    blocks: usize,
    free_head: u32,
    free_count: usize,
}

impl<'a> Pool<'a> {
    /// A pool of `blocks` blocks of `block` bytes, in the caller's runs (cut to what both
    /// hold) or on the heap.
    pub(crate) fn new(
        block: usize,
        blocks: usize,
        bytes: Option<&'a mut [u8]>,
        links: Option<&'a mut [u32]>,
    ) -> Self {
        let block = block.max(1);
        let bytes = match bytes {
            Some(b) => Slots::Borrowed(b),
            None => filled(None, block * blocks, 0u8),
        };
        let next = filled(links, blocks, END);
        let blocks = blocks.min(bytes.len() / block).min(next.len());
        let mut p = Pool {
            bytes,
            next,
            block,
            blocks,
            free_head: 0,
            free_count: 0,
        };
        p.reset();
        p
    }

    /// Frees every block at once (the contents are left as they are).
    pub(crate) fn reset(&mut self) {
        let n = self.blocks;
        for (i, x) in self.next[..n].iter_mut().enumerate() {
            *x = if i + 1 < n { (i + 1) as u32 } else { END };
        }
        self.free_head = if n == 0 { END } else { 0 };
        self.free_count = n;
    }

    pub(crate) fn blocks_for(&self, len: usize) -> usize {
        // Most payloads fit one block: no division for them.
        if len <= self.block {
            1
        } else {
            len.div_ceil(self.block)
        }
    }

    pub(crate) fn free_blocks(&self) -> usize {
        self.free_count
    }

    /// Blocks in the pool.
    pub(crate) fn blocks(&self) -> usize {
        self.blocks
    }

    /// The last block of a payload (O(blocks of the payload); callers that grow a payload
    /// keep it).
    pub(crate) fn last_block(&self, b: &Bytes) -> u32 {
        let mut last = b.first;
        for _ in 1..self.blocks_for(b.len()) {
            last = self.next[last as usize];
        }
        last
    }

    /// Extends payload `b`, whose last block is `*last`, to `len` bytes (the new bytes are
    /// whatever the blocks held) and moves `*last` to its new last block; O(blocks added).
    /// False, with `b` unchanged, when the pool lacks the blocks or `len` is not longer.
    pub(crate) fn grow(&mut self, b: &mut Bytes, last: &mut u32, len: usize) -> bool {
        if len <= b.len() || len > u32::MAX as usize {
            return false;
        }
        let need = self.blocks_for(len) - self.blocks_for(b.len());
        if need > self.free_count {
            return false;
        }
        if need > 0 {
            let first = self.free_head;
            let mut end = first;
            for _ in 1..need {
                end = self.next[end as usize];
            }
            self.free_head = self.next[end as usize];
            self.next[end as usize] = END;
            self.next[*last as usize] = first;
            self.free_count -= need;
            *last = end;
        }
        b.len = len as u32;
        true
    }

    /// Stores the concatenation of `parts`; `None` when the pool lacks room.
    pub(crate) fn store(&mut self, parts: &[&[u8]]) -> Option<Bytes> {
        if let [p] = parts {
            if let Some(b) = self.store_small(p) {
                return Some(b);
            }
        }
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let b = self.reserve(len)?;
        if len <= self.block {
            // One block (most samples): copied in place, no walk of the block chain.
            let mut at = b.first as usize * self.block;
            for part in parts {
                self.bytes[at..at + part.len()].copy_from_slice(part);
                at += part.len();
            }
            return Some(b);
        }
        let mut at = 0;
        for part in parts {
            self.write_at(&b, at, part);
            at += part.len();
        }
        Some(b)
    }

    /// Stores `p` when it fits one block (most samples): the receive path of every small
    /// sample, without the walk over parts and block chain of [`Pool::store`]. `None` when it
    /// is longer than a block or the pool is empty (the caller then takes the general path).
    #[inline]
    pub(crate) fn store_small(&mut self, p: &[u8]) -> Option<Bytes> {
        if p.len() > self.block || self.free_count == 0 {
            return None;
        }
        let first = self.free_head;
        let at = first as usize * self.block;
        copy_small(self.bytes.get_mut(at..at + p.len())?, p);
        let link = self.next.get_mut(first as usize)?;
        self.free_head = core::mem::replace(link, END);
        self.free_count -= 1;
        Some(Bytes {
            first,
            len: p.len() as u32,
        })
    }

    /// Reserves `len` bytes whose content the caller fills with [`Pool::write_at`].
    pub(crate) fn reserve(&mut self, len: usize) -> Option<Bytes> {
        let need = self.blocks_for(len);
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

    /// Where the last block of a payload of `len` bytes starts in it.
    pub(crate) fn last_block_start(&self, len: usize) -> usize {
        (self.blocks_for(len) - 1) * self.block
    }

    fn block_at(&self, b: &Bytes, offset: usize) -> u32 {
        let mut block = b.first;
        for _ in 0..offset / self.block {
            block = self.next[block as usize];
        }
        block
    }

    /// Copies `data` into a payload at `offset`; bytes beyond the payload's end are ignored.
    pub(crate) fn write_at(&mut self, b: &Bytes, offset: usize, data: &[u8]) {
        self.write_from(b, (b.first, 0), offset, data)
    }

    /// Like [`Pool::write_at`], walking from `from`: a block of `b` and the offset in `b` at
    /// which it starts (a multiple of the block size at most `offset`), so that writing near
    /// the end of a long payload does not walk it from its start.
    pub(crate) fn write_from(&mut self, b: &Bytes, from: (u32, usize), offset: usize, data: &[u8]) {
        let end = (offset + data.len()).min(b.len());
        if offset >= end {
            return;
        }
        let mut src = &data[..end - offset];
        let (mut block, start) = if from.1 <= offset && from.1 % self.block == 0 {
            from
        } else {
            (b.first, 0)
        };
        for _ in 0..(offset - start) / self.block {
            block = self.next[block as usize];
        }
        let mut off = offset % self.block;
        while !src.is_empty() && block != END {
            let n = src.len().min(self.block - off);
            let at = block as usize * self.block + off;
            self.bytes[at..at + n].copy_from_slice(&src[..n]);
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
        let mut off = offset % self.block;
        let mut pos = 0;
        while pos < total && block != END {
            let n = (total - pos).min(self.block - off);
            let at = block as usize * self.block + off;
            out[pos..pos + n].copy_from_slice(&self.bytes[at..at + n]);
            pos += n;
            off = 0;
            block = self.next[block as usize];
        }
        pos
    }

    /// The bytes of a payload held in one block (most samples), to copy straight out;
    /// `None` for a longer one.
    #[inline]
    pub(crate) fn small(&self, b: &Bytes) -> Option<&[u8]> {
        if b.len() > self.block {
            return None;
        }
        let at = b.first as usize * self.block;
        self.bytes.get(at..at + b.len())
    }

    /// Copies a payload into `out` (which must hold `b.len()` bytes); returns the length.
    pub(crate) fn read(&self, b: &Bytes, out: &mut [u8]) -> usize {
        if b.len() <= out.len() {
            if let Some(src) = self.small(b) {
                // One block: one copy, no walk of the block chain.
                copy_small(&mut out[..src.len()], src);
                return src.len();
            }
        }
        let mut left = b.len();
        let mut block = b.first;
        let mut pos = 0;
        while left > 0 && block != END {
            let n = left.min(self.block).min(out.len() - pos);
            let at = block as usize * self.block;
            out[pos..pos + n].copy_from_slice(&self.bytes[at..at + n]);
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
        let need = self.blocks_for(b.len());
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

    const BLOCK: usize = 256;
    const BLOCKS: usize = 64;

    fn with_pool(f: impl FnOnce(&mut Pool<'_>)) {
        let mut bytes = [0u8; BLOCK * BLOCKS];
        let mut links = [0u32; BLOCKS];
        let mut p = Pool::new(BLOCK, BLOCKS, Some(&mut bytes), Some(&mut links));
        f(&mut p)
    }

    #[test]
    fn store_read_free() {
        with_pool(|p| {
            let a = [7u8; 600];
            let b = p.store(&[&a[..10], &a[10..]]).unwrap();
            assert_eq!(p.free_blocks(), BLOCKS - p.blocks_for(600));
            let mut out = [0u8; 600];
            assert_eq!(p.read(&b, &mut out), 600);
            assert_eq!(out, a);
            p.free(b);
            assert_eq!(p.free_blocks(), BLOCKS);
            let e = p.store(&[]).unwrap();
            assert_eq!(e.len(), 0);
            p.free(e);
            assert_eq!(p.free_blocks(), BLOCKS);
        })
    }

    /// The one-block paths (`store_small`, and `read` of one block) agree with the general
    /// ones, refuse what they cannot hold, and free like any payload.
    #[test]
    fn small_payloads() {
        with_pool(|p| {
            let a: [u8; 16] = core::array::from_fn(|i| i as u8);
            let b = p.store_small(&a).unwrap();
            assert_eq!(p.free_blocks(), BLOCKS - 1);
            let mut out = [0u8; 16];
            assert_eq!(p.read(&b, &mut out), 16);
            assert_eq!(out, a);
            let mut short = [0u8; 10];
            assert_eq!(p.read(&b, &mut short), 10, "a short buffer gets what fits");
            assert_eq!(short, a[..10]);
            assert!(
                p.store_small(&[0u8; BLOCK + 1]).is_none(),
                "more than a block"
            );
            let full = p.store_small(&[1u8; BLOCK]).unwrap();
            p.free(b);
            p.free(full);
            assert_eq!(p.free_blocks(), BLOCKS);
            let mut held = [const { None }; BLOCKS];
            for slot in held.iter_mut() {
                *slot = p.store_small(&a);
            }
            assert!(held.iter().all(Option::is_some));
            assert!(p.store_small(&a).is_none(), "an empty pool refuses");
            for h in held.iter_mut() {
                if let Some(b) = h.take() {
                    p.free(b);
                }
            }
            assert_eq!(p.free_blocks(), BLOCKS);
        })
    }

    #[test]
    fn random_access() {
        with_pool(|p| {
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
            assert_eq!(p.free_blocks(), BLOCKS);
        })
    }

    /// A payload grown piece by piece holds the blocks of its length only, reads back what
    /// was written anywhere in it, and frees whole.
    #[test]
    fn grows_at_its_end() {
        with_pool(|p| {
            let mut b = p.reserve(100).unwrap();
            let mut last = p.last_block(&b);
            assert_eq!(p.free_blocks(), BLOCKS - 1);
            let src: [u8; 3000] = core::array::from_fn(|i| (i * 7) as u8);
            p.write_at(&b, 0, &src[..100]);
            for end in [200, 256, 257, 1000, 3000] {
                let start = b.len();
                let from = (last, p.last_block_start(start));
                assert!(p.grow(&mut b, &mut last, end));
                assert_eq!(p.free_blocks(), BLOCKS - p.blocks_for(end));
                assert_eq!(last, p.last_block(&b));
                p.write_from(&b, from, start, &src[start..end]);
            }
            assert!(!p.grow(&mut b, &mut last, 3000));
            assert!(!p.grow(&mut b, &mut last, BLOCK * (BLOCKS + 1)));
            assert_eq!(b.len(), 3000);
            let mut out = [0u8; 3000];
            assert_eq!(p.read(&b, &mut out), 3000);
            assert_eq!(out, src);
            p.free(b);
            assert_eq!(p.free_blocks(), BLOCKS);
        })
    }

    #[test]
    fn refuses_when_full() {
        with_pool(|p| {
            let big = [0u8; BLOCK * 10];
            let mut held = [const { None }; BLOCKS / 10 + 1];
            for slot in held.iter_mut() {
                *slot = p.store(&[&big]);
            }
            assert!(held.iter().any(|h| h.is_none()));
            for h in held.iter_mut() {
                if let Some(b) = h.take() {
                    p.free(b);
                }
            }
            assert_eq!(p.free_blocks(), BLOCKS);
        })
    }
}
