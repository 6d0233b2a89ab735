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

pub(crate) struct Pool {
    blocks: [[u8; POOL_BLOCK]; POOL_BLOCKS],
    next: [u16; POOL_BLOCKS],
    free_head: u16,
    free_count: usize,
}

impl Pool {
    pub(crate) fn new() -> Self {
        let mut next = [END; POOL_BLOCKS];
        for (i, n) in next.iter_mut().enumerate().take(POOL_BLOCKS - 1) {
            *n = (i + 1) as u16;
        }
        Pool {
            blocks: [[0; POOL_BLOCK]; POOL_BLOCKS],
            next,
            free_head: 0,
            free_count: POOL_BLOCKS,
        }
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
        let need = Self::blocks_for(len);
        if need > self.free_count || len > u32::MAX as usize {
            return None;
        }
        // Detach `need` blocks from the free list.
        let first = self.free_head;
        let mut last = first;
        for _ in 1..need {
            last = self.next[last as usize];
        }
        self.free_head = self.next[last as usize];
        self.next[last as usize] = END;
        self.free_count -= need;
        // Copy the parts in.
        let mut block = first;
        let mut off = 0;
        for part in parts {
            let mut src = *part;
            while !src.is_empty() {
                if off == POOL_BLOCK {
                    block = self.next[block as usize];
                    off = 0;
                }
                let n = src.len().min(POOL_BLOCK - off);
                self.blocks[block as usize][off..off + n].copy_from_slice(&src[..n]);
                off += n;
                src = &src[n..];
            }
        }
        Some(Bytes {
            first,
            len: len as u32,
        })
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
        assert_eq!(p.free_blocks(), POOL_BLOCKS - 3);
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
