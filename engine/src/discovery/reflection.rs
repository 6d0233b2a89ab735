//! Bounded reflection: a forged SPDP names any locator, a third party's included, so traffic
//! to a remote participant that never answered is held back.
//!
//! A participant has answered once it sent us something other than SPDP (an SEDP DATA,
//! HEARTBEAT or ACKNACK, a liveliness message...) from one of the addresses it announced (or
//! from a source that cannot be forged from afar: loopback, a stream). Until then:
//! - the DATA and HEARTBEATs of our writers (SEDP announcements, liveliness, user data) wait
//!   for the answer altogether, and go as soon as it comes;
//! - the rest (the directed SPDP that greets it, our ACKNACKs to its writers, unicast copies
//!   of our SPDP) goes in rounds: what is owed within [`ROUND`] of a round's start is that
//!   round; after round `n` the next waits [`FIRST_HOLD`]` · 2^(n-1)`, and after
//!   [`MAX_ROUNDS`] nothing more goes until it answers, except that each announcement it
//!   sends once its rounds are spent earns one more (so a unicast-only peer that lost our
//!   first greeting still learns us: one datagram back per datagram in).
//!
//! A real peer answers within a round trip (with its own SEDP, or the HEARTBEAT our ACKNACK
//! asks for), so it never sees the backoff; a forgery costs its victim a few small datagrams
//! in all. Deciding costs one index lookup per datagram.

use crate::engine::Engine;
use crate::schedule::{Local, Work};
use crate::storage::NONE;
use crate::time::{Instant, Span};
use crate::wire::GuidPrefix;

/// How long one round stays open (a driver may call `poll_transmit` with advancing clocks).
pub(crate) const ROUND: Span = Span::from_millis(10);
/// The hold after the first round; it doubles after each.
pub(crate) const FIRST_HOLD: Span = Span::from_millis(250);
/// Rounds sent to a participant that never answers.
pub(crate) const MAX_ROUNDS: u8 = 4;

impl<'a> Engine<'a> {
    /// A message from `prefix`, received from `from`, carried something other than SPDP.
    pub(crate) fn note_answer(&mut self, prefix: GuidPrefix, from: Option<[u8; 4]>) {
        let Some(i) = self.participant_slot(prefix) else {
            return;
        };
        let Some(p) = self.participants.get_mut(i) else {
            return;
        };
        if p.answered || !p.sent_from(from) {
            return;
        }
        p.answered = true;
        // What our builtin writers held back for it goes now.
        let bw = p.bw;
        for (k, &pi) in bw.iter().enumerate() {
            if pi != NONE {
                self.queue(Work {
                    local: Local::BuiltinWriter(k as u32),
                    index: pi,
                });
            }
        }
    }

    /// Participant slot `i` announced itself again. One that never answered and whose rounds
    /// are spent (or held) earns one more round, greeted by a directed SPDP: a unicast-only
    /// peer that lost our first greeting learns us from it. A forger gets one datagram back per
    /// announcement it sends, no more.
    pub(crate) fn reannounced(&mut self, i: u32) {
        let now = self.now;
        let Some(p) = self.participants.get_mut(i) else {
            return;
        };
        if p.answered || (p.rounds < MAX_ROUNDS && now < p.hold_until) {
            return;
        }
        p.rounds = p.rounds.min(MAX_ROUNDS - 1);
        p.hold_until = now;
        p.directed_spdp_owed = 1;
        self.reserve_work();
        self.queue(Work {
            local: Local::Spdp,
            index: i,
        });
    }

    /// Whether a datagram to participant slot `i` may go at `now`; `writer`: the DATA or
    /// HEARTBEAT of one of our writers. Counts what is held back.
    pub(crate) fn may_send(&mut self, i: u32, now: Instant, writer: bool) -> bool {
        let Some(p) = self.participants.get_mut(i) else {
            return true;
        };
        if p.answered {
            return true;
        }
        let ok = if writer {
            false
        } else if p.rounds > 0 && now < p.round_at + ROUND {
            true
        } else if p.rounds >= MAX_ROUNDS || now < p.hold_until {
            false
        } else {
            p.rounds += 1;
            p.round_at = now;
            p.hold_until = now + Span::from_micros(FIRST_HOLD.micros() << (p.rounds - 1));
            true
        };
        if !ok {
            self.stats.reflection_held += 1;
        }
        ok
    }

    /// [`Engine::may_send`] for the participant of GUID prefix `prefix` (true when unknown).
    pub(crate) fn may_send_to(&mut self, prefix: GuidPrefix, now: Instant, writer: bool) -> bool {
        match self.participant_slot(prefix) {
            Some(i) => self.may_send(i, now, writer),
            None => true,
        }
    }
}
