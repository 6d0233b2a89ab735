//! Counts of ACKNACK, HEARTBEAT and NACK_FRAG that a forger cannot poison.
//!
//! Each of these submessages carries a count that its sender increases by one per message, so
//! that a receiver can ignore duplicates and messages overtaken by later ones. A receiver that
//! only ever accepts counts newer than the last one accepted is at the mercy of a single
//! forged message: one count 2^30 ahead makes every real message look stale for the next 2^30
//! messages. So a count that is not newer is refused only for a short while after the last one
//! accepted; after that, whatever count comes next is believed again and becomes the new
//! reference (Cyclone DDS does the same after 500 ms). A forger must then keep forging to keep
//! a peer deaf, and even so one real message gets through every [`COUNT_RESET`].

use crate::time::{Instant, Span};
use crate::wire::Count;

/// How long after the last accepted count an older one is still refused.
pub(crate) const COUNT_RESET: Span = Span::from_millis(500);

/// The last count accepted from one sender, and when. Three fields rather than an
/// `Option<(Count, Instant)>`: 16 bytes instead of 24 in every proxy (the tuple leaves no niche
/// for the option's tag).
#[derive(Debug, Clone, Copy)]
pub(crate) struct CountGuard {
    last: Count,
    seen: bool,
    at: Instant,
}

/// How a count compares with the last one accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Freshness {
    /// Newer (or the first): accept.
    New,
    /// Not newer, but the last one accepted is older than [`COUNT_RESET`]: accept.
    Reset,
    /// Not newer: a duplicate or an overtaken message.
    Stale,
}

impl CountGuard {
    pub(crate) const NEW: CountGuard = CountGuard {
        last: Count(0),
        seen: false,
        at: Instant(0),
    };

    /// Judges `count` received at `now`, without recording it (a message that turns out to be
    /// unacceptable for another reason must not move the reference).
    pub(crate) fn check(&self, count: Count, now: Instant) -> Freshness {
        if !self.seen || count.is_newer_than(self.last) {
            Freshness::New
        } else if now.saturating_since(self.at) >= COUNT_RESET {
            Freshness::Reset
        } else {
            Freshness::Stale
        }
    }

    /// Records an accepted count.
    pub(crate) fn accept(&mut self, count: Count, now: Instant) {
        self.last = count;
        self.seen = true;
        self.at = now;
    }

    /// Whether any count was ever accepted.
    pub(crate) fn seen(&self) -> bool {
        self.seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poisoned_count_heals_after_the_reset_time() {
        let mut g = CountGuard::NEW;
        let t = Instant::from_millis(1000);
        assert_eq!(g.check(Count(1), t), Freshness::New);
        g.accept(Count(1), t);
        // Forged far ahead.
        g.accept(Count(1 << 30), t);
        assert_eq!(
            g.check(Count(2), t + Span::from_millis(100)),
            Freshness::Stale
        );
        let later = t + COUNT_RESET;
        assert_eq!(g.check(Count(3), later), Freshness::Reset);
        g.accept(Count(3), later);
        assert_eq!(g.check(Count(4), later), Freshness::New);
        assert_eq!(g.check(Count(3), later), Freshness::Stale);
    }
}
