//! An in-memory Ethernet cable between two smoltcp interfaces: a fixed ring of frame slots each
//! way, with optional seeded loss. No heap, no `unsafe`; the frames live in buffers the caller
//! provides ([`LinkBuffers`], or [`LinkStorage`] for owned ones), so a `Link` itself is small
//! and can live on the stack or in a `static` (behind a mutex of the caller's choice). Used by
//! the tests and the firmware example; handy to run two participants on one microcontroller.

use core::cell::RefCell;
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

/// One direction of a [`Link`]: frames in flight, oldest first.
struct Ring<'b, const SLOTS: usize, const FRAME: usize> {
    frames: &'b mut [[u8; FRAME]; SLOTS],
    lens: [usize; SLOTS],
    head: usize,
    len: usize,
    /// Per mille of frames lost.
    loss: u32,
    rng: u64,
    counters: LinkCounters,
    /// Where frames that do not fit are written, then forgotten.
    discard: &'b mut [u8; FRAME],
}

/// The frame buffers of a [`Link`], one set per direction: `SLOTS` frames of up to `FRAME`
/// bytes in flight, and one frame where lost and overflowing frames are written, then
/// forgotten.
pub struct LinkBuffers<'b, const SLOTS: usize, const FRAME: usize> {
    /// `frames[i]` holds the frames sent by end `i`.
    pub frames: [&'b mut [[u8; FRAME]; SLOTS]; 2],
    /// `discard[i]` takes the frames of end `i` that are lost or find the ring full.
    pub discard: [&'b mut [u8; FRAME]; 2],
}

/// Owned buffers for a [`Link`]; `const` so they can live in a `static`.
pub struct LinkStorage<const SLOTS: usize, const FRAME: usize> {
    frames: [[[u8; FRAME]; SLOTS]; 2],
    discard: [[u8; FRAME]; 2],
}

impl<const SLOTS: usize, const FRAME: usize> LinkStorage<SLOTS, FRAME> {
    /// Zeroed buffers.
    pub const fn new() -> Self {
        LinkStorage {
            frames: [[[0; FRAME]; SLOTS]; 2],
            discard: [[0; FRAME]; 2],
        }
    }

    /// The buffers, borrowed for the link's lifetime.
    pub fn buffers(&mut self) -> LinkBuffers<'_, SLOTS, FRAME> {
        let [f0, f1] = &mut self.frames;
        let [d0, d1] = &mut self.discard;
        LinkBuffers {
            frames: [f0, f1],
            discard: [d0, d1],
        }
    }
}

impl<const SLOTS: usize, const FRAME: usize> Default for LinkStorage<SLOTS, FRAME> {
    fn default() -> Self {
        Self::new()
    }
}

/// What one direction of a link saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkCounters {
    /// Frames queued for the other side.
    pub delivered: u64,
    /// Frames thrown away by the seeded loss.
    pub lost: u64,
    /// Frames dropped because the ring was full.
    pub overflowed: u64,
}

impl<'b, const SLOTS: usize, const FRAME: usize> Ring<'b, SLOTS, FRAME> {
    const fn new(
        frames: &'b mut [[u8; FRAME]; SLOTS],
        discard: &'b mut [u8; FRAME],
        loss: u32,
        seed: u64,
    ) -> Self {
        Ring {
            frames,
            lens: [0; SLOTS],
            head: 0,
            len: 0,
            loss,
            rng: seed | 1,
            counters: LinkCounters {
                delivered: 0,
                lost: 0,
                overflowed: 0,
            },
            discard,
        }
    }

    /// xorshift64*: deterministic per seed.
    fn roll(&mut self) -> u32 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as u32 % 1000
    }

    fn push<R>(&mut self, len: usize, f: impl FnOnce(&mut [u8]) -> R) -> R {
        let len = len.min(FRAME);
        if self.len == SLOTS {
            self.counters.overflowed += 1;
            return f(&mut self.discard[..len]);
        }
        if self.loss > 0 && self.roll() < self.loss {
            self.counters.lost += 1;
            return f(&mut self.discard[..len]);
        }
        let i = (self.head + self.len) % SLOTS;
        self.lens[i] = len;
        self.len += 1;
        self.counters.delivered += 1;
        f(&mut self.frames[i][..len])
    }

    fn pop<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> R {
        let i = self.head;
        self.head = (self.head + 1) % SLOTS;
        self.len -= 1;
        f(&self.frames[i][..self.lens[i]])
    }
}

/// Two rings of `SLOTS` frames of up to `FRAME` bytes (Ethernet header included), one each
/// way, in the caller's buffers. [`Link::port`] gives the device of each end.
pub struct Link<'b, const SLOTS: usize, const FRAME: usize> {
    /// `rings[i]` carries frames sent by end `i`.
    rings: [RefCell<Ring<'b, SLOTS, FRAME>>; 2],
}

impl<'b, const SLOTS: usize, const FRAME: usize> Link<'b, SLOTS, FRAME> {
    /// A lossless link.
    pub const fn new(buffers: LinkBuffers<'b, SLOTS, FRAME>) -> Self {
        Self::lossy(buffers, 0, 0)
    }

    /// A link losing `per_mille` of the frames each way, decided by a generator seeded with
    /// `seed` (the same seed loses the same frames).
    pub const fn lossy(buffers: LinkBuffers<'b, SLOTS, FRAME>, per_mille: u32, seed: u64) -> Self {
        let LinkBuffers {
            frames: [f0, f1],
            discard: [d0, d1],
        } = buffers;
        Link {
            rings: [
                RefCell::new(Ring::new(f0, d0, per_mille, seed)),
                RefCell::new(Ring::new(f1, d1, per_mille, seed ^ 0x9e37_79b9_7f4a_7c15)),
            ],
        }
    }

    /// The device of end `end` (0 or 1).
    pub fn port(&self, end: usize) -> Port<'_, 'b, SLOTS, FRAME> {
        assert!(end < 2, "a link has two ends");
        Port { link: self, end }
    }

    /// Changes the loss of both directions.
    pub fn set_loss(&self, per_mille: u32) {
        for r in &self.rings {
            r.borrow_mut().loss = per_mille;
        }
    }

    /// What the frames sent by end `end` went through.
    pub fn counters(&self, end: usize) -> LinkCounters {
        self.rings[end].borrow().counters
    }
}

/// One end of a [`Link`]: a smoltcp Ethernet device.
pub struct Port<'a, 'b, const SLOTS: usize, const FRAME: usize> {
    link: &'a Link<'b, SLOTS, FRAME>,
    end: usize,
}

/// A received frame.
pub struct RxToken<'a, 'b, const SLOTS: usize, const FRAME: usize> {
    ring: &'a RefCell<Ring<'b, SLOTS, FRAME>>,
}

/// Room for one frame to send.
pub struct TxToken<'a, 'b, const SLOTS: usize, const FRAME: usize> {
    ring: &'a RefCell<Ring<'b, SLOTS, FRAME>>,
}

impl<const SLOTS: usize, const FRAME: usize> phy::RxToken for RxToken<'_, '_, SLOTS, FRAME> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        self.ring.borrow_mut().pop(f)
    }
}

impl<const SLOTS: usize, const FRAME: usize> phy::TxToken for TxToken<'_, '_, SLOTS, FRAME> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        self.ring.borrow_mut().push(len, f)
    }
}

impl<'b, const SLOTS: usize, const FRAME: usize> Device for Port<'_, 'b, SLOTS, FRAME> {
    type RxToken<'t>
        = RxToken<'t, 'b, SLOTS, FRAME>
    where
        Self: 't;
    type TxToken<'t>
        = TxToken<'t, 'b, SLOTS, FRAME>
    where
        Self: 't;

    fn receive(&mut self, _: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let incoming = &self.link.rings[1 - self.end];
        if incoming.borrow().len == 0 {
            return None;
        }
        // A reply sent while the frame is processed goes into the other ring (a full ring
        // drops it, as a NIC would).
        Some((
            RxToken { ring: incoming },
            TxToken {
                ring: &self.link.rings[self.end],
            },
        ))
    }

    fn transmit(&mut self, _: Instant) -> Option<Self::TxToken<'_>> {
        let outgoing = &self.link.rings[self.end];
        if outgoing.borrow().len == SLOTS {
            return None;
        }
        Some(TxToken { ring: outgoing })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = FRAME;
        caps
    }
}
