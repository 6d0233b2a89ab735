//! Monotonic time as the driver tells it.

use core::ops::{Add, Sub};

/// A monotonic instant in microseconds since a driver-chosen origin.
///
/// The engine never reads a clock: every input carries `now`. Time that goes backwards is
/// clamped to the latest instant seen and counted in [`Stats`](crate::Stats).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(pub u64);

/// A span of monotonic time in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Span(pub u64);

/// An optional instant in 8 bytes (an `Option<Instant>` takes 16, the `u64` leaving no niche
/// for its tag), for the deadlines kept in every proxy: `u64::MAX`, an instant no engine
/// reaches (half a million years of microseconds), is none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MaybeInstant(u64);

impl MaybeInstant {
    pub(crate) const NONE: MaybeInstant = MaybeInstant(u64::MAX);

    pub(crate) fn new(t: Option<Instant>) -> Self {
        match t {
            Some(t) => MaybeInstant(t.0.min(u64::MAX - 1)),
            None => Self::NONE,
        }
    }

    pub(crate) fn get(self) -> Option<Instant> {
        (self.0 != u64::MAX).then_some(Instant(self.0))
    }
}

impl Instant {
    /// The origin.
    pub const ZERO: Instant = Instant(0);

    /// From microseconds.
    pub const fn from_micros(us: u64) -> Instant {
        Instant(us)
    }

    /// From milliseconds.
    pub const fn from_millis(ms: u64) -> Instant {
        Instant(ms * 1000)
    }

    /// Microseconds since the origin.
    pub const fn micros(self) -> u64 {
        self.0
    }

    /// `self - earlier`, or zero.
    pub fn saturating_since(self, earlier: Instant) -> Span {
        Span(self.0.saturating_sub(earlier.0))
    }
}

impl Span {
    /// From microseconds.
    pub const fn from_micros(us: u64) -> Span {
        Span(us)
    }

    /// From milliseconds.
    pub const fn from_millis(ms: u64) -> Span {
        Span(ms * 1000)
    }

    /// From seconds.
    pub const fn from_secs(s: u64) -> Span {
        Span(s * 1_000_000)
    }

    /// Microseconds.
    pub const fn micros(self) -> u64 {
        self.0
    }
}

impl Add<Span> for Instant {
    type Output = Instant;
    // 64-bit saturating arithmetic is a dozen instructions on a 32-bit core: one copy there.
    #[cfg_attr(not(feature = "fast-paths"), inline(never))]
    fn add(self, d: Span) -> Instant {
        Instant(self.0.saturating_add(d.0))
    }
}

impl Sub<Span> for Instant {
    type Output = Instant;
    fn sub(self, d: Span) -> Instant {
        Instant(self.0.saturating_sub(d.0))
    }
}
