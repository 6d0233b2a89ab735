//! Remote participants' leases, and the participant table's policy when it is full.
//!
//! A lease is what the participant announced, clamped to `Config::max_remote_lease` (a forged
//! announcement with an infinite lease would otherwise hold its slot for good). It is refreshed
//! by the participant's SPDP, and by any other datagram carrying its prefix that comes from one
//! of the addresses it announced (or from loopback, our own address, a stream, or a source the
//! driver did not tell): source ports are not compared, as Fast DDS sends from ephemeral ones.
//! Forged traffic from elsewhere is counted (`Stats::lease_refresh_refused`) and refreshes
//! nothing. Each check is one index lookup; the lease timer is set lazily: when it fires, a
//! participant heard from since is re-armed rather than dropped.
//!
//! When the table is full, a newcomer takes the slot of the participant that has been quiet
//! longest among, first, those that never answered (sent nothing but SPDP from their own
//! addresses: forgeries look like this, matched or not), then those with no endpoint matched to
//! ours. A participant that answered and has matched endpoints is never evicted. When every
//! participant is such, the newcomer is refused with [`crate::Event::Refused`] and learnt from
//! its next announcement once there is room.

use crate::discovery::RemoteParticipant;
use crate::engine::Engine;
use crate::event::{Event, Table};
use crate::map;
use crate::time::{Instant, Span};
use crate::timer::Timer;
use crate::wire::{EntityId, Guid, GuidPrefix};

impl<'a> Engine<'a> {
    /// The slot of the participant with prefix `prefix`.
    pub(crate) fn participant_slot(&self, prefix: GuidPrefix) -> Option<u32> {
        self.participant_index.get(&map::prefix_key(&prefix))
    }

    pub(crate) fn participant(&self, prefix: GuidPrefix) -> Option<&RemoteParticipant> {
        self.participants.get(self.participant_slot(prefix)?)
    }

    /// A datagram carrying `prefix` came from `from` (see [`RemoteParticipant::sent_from`]).
    pub(crate) fn refresh_lease(
        &mut self,
        prefix: GuidPrefix,
        now: Instant,
        from: Option<[u8; 4]>,
    ) {
        if let Some(i) = self.participant_slot(prefix) {
            if let Some(p) = self.participants.get_mut(i) {
                if p.sent_from(from) {
                    p.last_seen = now;
                } else {
                    self.stats.lease_refresh_refused += 1;
                }
            }
        }
    }

    /// Sets the lease timer of slot `i` from its last sign of life.
    pub(crate) fn arm_lease(&mut self, i: u32) {
        if let Some(p) = self.participants.get(i) {
            let at = p.last_seen + allowance(p.lease) + Span::from_micros(1);
            self.timers.set(Timer::Lease(i), at);
        }
    }

    /// The lease timer of slot `i` fired.
    pub(crate) fn check_lease(&mut self, now: Instant, i: u32) {
        let Some(p) = self.participants.get(i).copied() else {
            return;
        };
        if now.saturating_since(p.last_seen) > allowance(p.lease) {
            self.remove_participant(p.prefix);
        } else {
            self.arm_lease(i);
        }
    }

    /// Stores a new participant, evicting by the policy above when the table is full. Not
    /// inlined, and given the record by reference: inlined in `on_spdp`, its copies of the
    /// record (the slab's give-back included) were in the deepest frame of a running device.
    #[inline(never)]
    pub(crate) fn insert_participant(&mut self, p: &RemoteParticipant) -> Option<u32> {
        if self.participants.is_full() {
            let victim = self
                .participants
                .iter()
                .filter(|(_, q)| !q.answered || q.matched == 0)
                .min_by_key(|(_, q)| (q.answered, q.last_seen))
                .map(|(_, q)| q.prefix);
            match victim {
                Some(v) => {
                    self.remove_participant(v);
                    self.emit(Event::Evicted {
                        table: Table::Participants,
                        guid: Guid::new(v, EntityId::PARTICIPANT),
                    });
                    self.stats.evicted += 1;
                }
                None => {
                    self.refuse(
                        Table::Participants,
                        Guid::new(p.prefix, EntityId::PARTICIPANT),
                    );
                    return None;
                }
            }
        }
        let i = self.participants.insert(*p).ok()?;
        if !self
            .participant_index
            .insert(&map::prefix_key(&p.prefix), i)
        {
            self.participants.remove(i);
            self.refuse(
                Table::Participants,
                Guid::new(p.prefix, EntityId::PARTICIPANT),
            );
            return None;
        }
        self.arm_lease(i);
        Some(i)
    }

    /// Counts a refusal and raises its event once until the table has room again.
    pub(crate) fn refuse(&mut self, table: Table, guid: Guid) {
        self.stats.dropped_table_full += 1;
        let k = match table {
            Table::Participants => 0,
            Table::RemoteEndpoints => 1,
            Table::Matches => 2,
        };
        if !self.refused_reported[k] {
            self.refused_reported[k] = true;
            self.emit(Event::Refused { table, guid });
        }
    }
}

/// How long a remote participant may stay silent before it is dropped: its lease. Without the
/// `liveliness` feature its participant-message writer no longer renews the lease (it sends us
/// nothing, since we announce no reader), only its SPDP and any other traffic do; Cyclone DDS
/// announces every lease less 2 s (8 s of a 10 s lease), so one lost announcement of an idle
/// peer would expire it. It then gets twice its lease: one lost announcement is survived, and
/// a peer that is gone is noticed one lease later.
pub(crate) fn allowance(lease: Span) -> Span {
    if cfg!(feature = "liveliness") {
        lease
    } else {
        Span::from_micros(lease.micros().saturating_mul(2))
    }
}
