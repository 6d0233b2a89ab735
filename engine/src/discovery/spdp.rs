//! SPDP: announcing this participant, learning remote ones, and the builtin endpoints that
//! follow from them; the participant-message liveliness assertion.

use crate::config::ports;
use crate::discovery::RemoteParticipant;
#[cfg(feature = "liveliness")]
use crate::engine::PMD;
use crate::engine::{Engine, Receiver, BUILTIN_KINDS, BUILTIN_READER_IDS, BUILTIN_WRITER_IDS};
use crate::event::Event;
use crate::limits::PEER_PARTICIPANT_IDS;
use crate::map;
use crate::qos::Durability;
use crate::schedule::{Local, Work};
use crate::storage::NONE;
use crate::time::Instant;
use crate::timer::Timer;
use crate::transmit::{Destination, Transmit};
use crate::wire::{
    self, BuiltinEndpointSet, DataRepr, Duration, EntityId, Guid, GuidPrefix, HeaderRepr,
    InfoDstRepr, InlineQos, Locator, LocatorList, MessageBuilder, ParticipantData, ProtocolVersion,
    SequenceNumber, StatusInfo, SubmessageRepr, VendorId,
};

impl<'a> Engine<'a> {
    // Not inlined, as `process_builtin_samples`: the parsed announcement stays out of the
    // frames of the user-data path.
    #[inline(never)]
    pub(crate) fn on_spdp(&mut self, now: Instant, rx: &Receiver, d: &DataRepr<'_>, q: &InlineQos) {
        if let Some(s) = q.status_info {
            if s.disposed() || s.unregistered() {
                let prefix = match q.key_hash {
                    Some(k) => Guid::from_bytes(k).prefix,
                    None => rx.source,
                };
                if prefix == rx.source {
                    self.remove_participant(prefix);
                }
                return;
            }
        }
        let Some((mut fresh, clamped)) = self.spdp_participant(now, rx, d) else {
            return;
        };
        if let Some(i) = self.participant_slot(fresh.prefix) {
            let Some(p) = self.participants.get_mut(i) else {
                return;
            };
            let moved = p.metatraffic != fresh.metatraffic;
            // Keep what we learnt about it; take what it announces now.
            fresh.directed_spdp_owed = p.directed_spdp_owed;
            fresh.bw = p.bw;
            fresh.br = p.br;
            fresh.matched = p.matched;
            fresh.multicast = p.multicast || rx.multicast;
            let heard = !p.multicast && fresh.multicast;
            fresh.sedp_incomplete = p.sedp_incomplete;
            fresh.queued = p.queued;
            fresh.first_endpoint = p.first_endpoint;
            fresh.endpoints = p.endpoints;
            fresh.answered = p.answered;
            fresh.rounds = p.rounds;
            fresh.round_at = p.round_at;
            fresh.hold_until = p.hold_until;
            let newly_clamped = clamped && p.lease != fresh.lease;
            *p = fresh;
            if newly_clamped {
                self.stats.leases_clamped += 1;
            }
            if heard {
                self.unicast_only = self.unicast_only.saturating_sub(1);
            }
            self.arm_lease(i);
            self.reannounced(i);
            if moved {
                // Point the builtin proxies at the new address.
                self.match_builtin(now, i);
            }
            return;
        }
        fresh.directed_spdp_owed = 1;
        fresh.multicast = rx.multicast;
        let Some(i) = self.insert_participant(&fresh) else {
            return;
        };
        if clamped {
            self.stats.leases_clamped += 1;
        }
        if !fresh.multicast {
            self.unicast_only += 1;
        }
        self.stats.participants_discovered += 1;
        self.emit(Event::ParticipantDiscovered(fresh.prefix));
        self.match_builtin(now, i);
        self.queue(Work {
            local: Local::Spdp,
            index: i,
        });
    }

    /// The participant that SPDP sample `d` announces, and whether its lease was clamped; None
    /// (counted) when it is malformed, not from its sender, or of another domain. Not inlined:
    /// the parsed announcement is large, and its frame is gone before the tables change.
    #[inline(never)]
    fn spdp_participant(
        &mut self,
        now: Instant,
        rx: &Receiver,
        d: &DataRepr<'_>,
    ) -> Option<(RemoteParticipant, bool)> {
        // Parsed in place: a `Result` would be a second copy of the announcement in this
        // frame, the deepest of a running engine.
        let mut pd = ParticipantData::new(Guid::default(), BuiltinEndpointSet(0));
        let parsed = d
            .payload
            .is_some_and(|p| ParticipantData::parse_into(p, &mut pd).is_ok());
        if !parsed {
            self.stats.dropped_bad_discovery += 1;
            return None;
        }
        if pd.guid.prefix != rx.source {
            self.stats.dropped_bad_discovery += 1;
            return None;
        }
        // With a domain tag, as we have none, it is in another domain.
        if pd.domain_id.is_some_and(|dom| dom != self.cfg.domain_id)
            || pd.domain_tag.is_some_and(|t| !t.is_empty())
        {
            self.stats.dropped_foreign_domain += 1;
            return None;
        }
        let (fresh, clamped) = RemoteParticipant::from_data(
            &pd,
            rx.vendor,
            now,
            self.cfg.prefer_tcp,
            self.cfg.max_remote_lease,
        );
        if fresh.metatraffic.is_none() {
            self.stats.dropped_bad_discovery += 1;
            return None;
        }
        Some((fresh, clamped))
    }

    /// Matches (or re-points) the builtin endpoints of participant slot `i`.
    pub(crate) fn match_builtin(&mut self, now: Instant, i: u32) {
        let Some(p) = self.participants.get(i).copied() else {
            return;
        };
        let Some(loc) = p.metatraffic else { return };
        let pairs = [
            (
                BuiltinEndpointSet::PUBLICATIONS_DETECTOR,
                BuiltinEndpointSet::PUBLICATIONS_ANNOUNCER,
            ),
            (
                BuiltinEndpointSet::SUBSCRIPTIONS_DETECTOR,
                BuiltinEndpointSet::SUBSCRIPTIONS_ANNOUNCER,
            ),
            (
                BuiltinEndpointSet::PARTICIPANT_MESSAGE_READER,
                BuiltinEndpointSet::PARTICIPANT_MESSAGE_WRITER,
            ),
        ];
        for (k, (detector, announcer)) in pairs.iter().enumerate().take(BUILTIN_KINDS) {
            if p.builtin.has(*detector) {
                let w = &mut self.builtin_writers[k];
                let pi = match w.proxy_mut(p.bw[k]) {
                    Some(proxy) => {
                        proxy.locator = loc;
                        p.bw[k]
                    }
                    None => {
                        let reader = Guid::new(p.prefix, BUILTIN_READER_IDS[k]);
                        w.add_proxy(now, reader, loc, true, Durability::TransientLocal)
                            .unwrap_or(NONE)
                    }
                };
                if let Some(pp) = self.participants.get_mut(i) {
                    pp.bw[k] = pi;
                }
                if pi != NONE && p.bw[k] == NONE {
                    self.reserve_work();
                    self.queue(Work {
                        local: Local::BuiltinWriter(k as u32),
                        index: pi,
                    });
                    self.sync_writer_timer(Local::BuiltinWriter(k as u32));
                }
            }
            if p.builtin.has(*announcer) {
                let r = &mut self.builtin_readers[k];
                let pi = match r.proxy_mut(p.br[k]) {
                    Some(proxy) => {
                        proxy.locator = loc;
                        p.br[k]
                    }
                    None => {
                        let writer = Guid::new(p.prefix, BUILTIN_WRITER_IDS[k]);
                        r.add_proxy(now, writer, loc, true).unwrap_or(NONE)
                    }
                };
                if let Some(pp) = self.participants.get_mut(i) {
                    pp.br[k] = pi;
                }
                if pi != NONE && p.br[k] == NONE {
                    self.reserve_work();
                    self.queue(Work {
                        local: Local::BuiltinReader(k as u32),
                        index: pi,
                    });
                    self.arm_reader_timer(
                        Local::BuiltinReader(k as u32),
                        now + crate::reader::PREEMPTIVE_PERIOD,
                    );
                }
            }
        }
    }

    pub(crate) fn remove_participant(&mut self, prefix: GuidPrefix) {
        let Some(i) = self.participant_slot(prefix) else {
            return;
        };
        // What the removal needs, not the whole record (a copy of it sat in every frame of an
        // eviction, the deepest path of a device).
        let Some((bw, br, multicast)) = self.participants.get(i).map(|p| (p.bw, p.br, p.multicast))
        else {
            return;
        };
        self.unqueue(Work {
            local: Local::Spdp,
            index: i,
        });
        for k in 0..3 {
            if bw[k] != NONE {
                self.unqueue(Work {
                    local: Local::BuiltinWriter(k as u32),
                    index: bw[k],
                });
                self.builtin_writers[k].remove_proxy(bw[k], &mut self.pool);
            }
            if br[k] != NONE {
                self.unqueue(Work {
                    local: Local::BuiltinReader(k as u32),
                    index: br[k],
                });
                self.builtin_readers[k].remove_proxy(br[k], &mut self.pool);
            }
        }
        // Its user endpoints, through its own chain.
        loop {
            let first = self.participants.get(i).map_or(NONE, |p| p.first_endpoint);
            let Some(g) = self.remote.get(first).map(|r| r.info.guid) else {
                break;
            };
            self.remove_remote_endpoint(g);
        }
        if !multicast {
            self.unicast_only = self.unicast_only.saturating_sub(1);
        }
        // Nothing more to ask it for.
        if self.participants.get(i).is_some_and(|p| p.sedp_incomplete) {
            self.incomplete = self.incomplete.saturating_sub(1);
        }
        self.participants.discard(i);
        self.participant_index.remove(&map::prefix_key(&prefix));
        if self.endpoint_hog == i {
            self.endpoint_hog = NONE;
        }
        if self.match_hog == i {
            self.match_hog = NONE;
        }
        self.timers.clear(Timer::Lease(i));
        self.refused_reported[0] = false;
        self.stats.participants_lost += 1;
        self.emit(Event::ParticipantLost(prefix));
    }

    fn configured_destination_count(&self) -> usize {
        let mut n = self.cfg.multicast as usize;
        for p in self
            .cfg
            .peers
            .iter()
            .chain(self.cfg.tcp_peers.iter())
            .flatten()
        {
            n += if p.port.is_some() {
                1
            } else {
                PEER_PARTICIPANT_IDS as usize
            };
        }
        n
    }

    /// Multicast, the initial peers, then every known participant's metatraffic locator that
    /// the first two do not already cover and that does not hear our multicast (so
    /// unicast-only peers keep hearing from us).
    fn spdp_destination_count(&self) -> usize {
        // When every participant hears our multicast, none needs a unicast copy: skip them.
        let each = self.unicast_only > 0 || !self.cfg.multicast || self.shutting_down;
        self.configured_destination_count()
            + if each {
                self.participants.high_water()
            } else {
                0
            }
    }

    fn spdp_destination(&self, i: usize) -> Option<Locator> {
        let configured = self.configured_destination_count();
        if i < configured {
            return self.configured_destination(i);
        }
        let p = self.participants.get((i - configured) as u32)?;
        if p.multicast && self.cfg.multicast && !self.shutting_down {
            return None;
        }
        let loc = p.metatraffic?;
        let covered = (0..configured).any(|j| self.configured_destination(j) == Some(loc));
        if covered {
            None
        } else {
            Some(loc)
        }
    }

    fn configured_destination(&self, mut i: usize) -> Option<Locator> {
        if self.cfg.multicast {
            if i == 0 {
                return Some(self.spdp_multicast_locator());
            }
            i -= 1;
        }
        let udp = self.cfg.peers.iter().flatten().map(|p| (p, false));
        let tcp = self.cfg.tcp_peers.iter().flatten().map(|p| (p, true));
        for (p, is_tcp) in udp.chain(tcp) {
            let port = match p.port {
                Some(port) if i == 0 => port,
                Some(_) => {
                    i -= 1;
                    continue;
                }
                None if i < PEER_PARTICIPANT_IDS as usize => {
                    ports::metatraffic_unicast(self.cfg.domain_id, i as u16) as u16
                }
                None => {
                    i -= PEER_PARTICIPANT_IDS as usize;
                    continue;
                }
            };
            return Some(if is_tcp {
                Locator::tcpv4(p.address, port)
            } else {
                Locator::udpv4(p.address, port)
            });
        }
        None
    }

    /// The periodic announcement: one destination per call.
    pub(crate) fn next_announcement(&mut self, buf: &mut [u8]) -> Option<Transmit> {
        while let Some(i) = self.announce_cursor {
            if i >= self.spdp_destination_count() {
                self.announce_cursor = None;
                break;
            }
            self.announce_cursor = Some(i + 1);
            let Some(dst) = self.spdp_destination(i) else {
                continue;
            };
            // Not to ourselves (a peer list that probes our own ports, UDP or TCP).
            if dst == self.metatraffic_locator() || Some(dst) == self.tcp_locator() {
                continue;
            }
            // A known participant's own copy: held back while it never answered (a goodbye
            // always goes).
            let configured = self.configured_destination_count();
            if i >= configured
                && !self.shutting_down
                && !self.may_send((i - configured) as u32, self.now, false)
            {
                continue;
            }
            if let Some(len) = self.spdp_datagram(buf, None) {
                return Some(Transmit {
                    destination: Destination::Udp(dst),
                    len,
                });
            }
        }
        None
    }

    /// The directed SPDP owed to participant slot `i` (a prompt reply to a newcomer).
    pub(crate) fn directed_spdp(&mut self, i: u32, buf: &mut [u8]) -> Option<Transmit> {
        let p = self.participants.get_mut(i)?;
        if p.directed_spdp_owed == 0 {
            return None;
        }
        p.directed_spdp_owed -= 1;
        let (dst, prefix) = (p.metatraffic?, p.prefix);
        let len = self.spdp_datagram(buf, Some(prefix))?;
        Some(Transmit {
            destination: Destination::Udp(dst),
            len,
        })
    }

    fn participant_data(&self) -> ParticipantData<'_> {
        let guid = Guid::new(self.cfg.guid_prefix, EntityId::PARTICIPANT);
        // Without `liveliness`, no participant-message endpoints to announce.
        let pmd = BuiltinEndpointSet::PARTICIPANT_MESSAGE_READER
            | BuiltinEndpointSet::PARTICIPANT_MESSAGE_WRITER;
        let builtin = if cfg!(feature = "liveliness") {
            BuiltinEndpointSet::POLLEN
        } else {
            BuiltinEndpointSet(BuiltinEndpointSet::POLLEN.0 & !pmd)
        };
        let mut d = ParticipantData::new(guid, builtin);
        d.protocol_version = Some(ProtocolVersion::V2_3);
        d.vendor_id = Some(VendorId::POLLEN);
        d.domain_id = Some(self.cfg.domain_id);
        d.lease_duration = Some(Duration::from_micros(self.cfg.lease_duration.micros()));
        let tcp = self.tcp_locator();
        d.metatraffic_unicast =
            LocatorList::from_iter(Some(self.metatraffic_locator()).into_iter().chain(tcp));
        d.default_unicast =
            LocatorList::from_iter(Some(self.user_locator()).into_iter().chain(tcp));
        if self.cfg.multicast {
            d.metatraffic_multicast = LocatorList::from_iter([self.spdp_multicast_locator()]);
        }
        if self.cfg.user_data_len > 0 {
            d.user_data = Some(&self.cfg.user_data[..self.cfg.user_data_len]);
        }
        d
    }

    /// Writes our SPDP DATA (or its dispose) into `buf`, optionally directed.
    fn spdp_datagram(&mut self, buf: &mut [u8], to: Option<GuidPrefix>) -> Option<usize> {
        let guid = Guid::new(self.cfg.guid_prefix, EntityId::PARTICIPANT);
        let mut payload = [0u8; 512];
        let plen = if self.shutting_down {
            0
        } else {
            self.participant_data().emit(&mut payload).ok()?
        };
        let mut qbuf = [0u8; 64];
        let q = InlineQos {
            key_hash: Some(guid.to_bytes()),
            status_info: if self.shutting_down {
                Some(StatusInfo(StatusInfo::DISPOSED | StatusInfo::UNREGISTERED))
            } else {
                None
            },
            related: None,
        };
        let qlen = q.emit(&mut qbuf, wire::Endian::Little).ok()?;
        let mut b = MessageBuilder::new(buf, &HeaderRepr::new(self.cfg.guid_prefix)).ok()?;
        let reader_id = match to {
            Some(prefix) => {
                b.push(&SubmessageRepr::InfoDst(InfoDstRepr {
                    guid_prefix: prefix,
                }))
                .ok()?;
                EntityId::SPDP_READER
            }
            None => EntityId::UNKNOWN,
        };
        let data = DataRepr {
            endian: wire::Endian::Little,
            reader_id,
            writer_id: EntityId::SPDP_WRITER,
            writer_sn: SequenceNumber(self.spdp_sn),
            inline_qos: Some(&qbuf[..qlen]),
            payload: if plen > 0 {
                Some(&payload[..plen])
            } else {
                None
            },
            key_flag: false,
            non_standard: false,
        };
        b.push(&SubmessageRepr::Data(data)).ok()?;
        Some(b.finish())
    }

    /// Says goodbye: the following `poll_transmit` calls announce our SPDP dispose to every
    /// destination and every known participant.
    pub fn shutdown(&mut self, now: Instant) {
        self.tick(now);
        self.shutting_down = true;
        self.spdp_sn += 1;
        self.announce_cursor = Some(0);
        self.work.clear();
        let n = self.participants.high_water() as u32;
        for i in 0..n {
            if let Some(p) = self.participants.get_mut(i) {
                p.directed_spdp_owed = 1;
                p.queued = false;
            }
        }
        self.clear_all_queued();
        for i in 0..n {
            self.queue(Work {
                local: Local::Spdp,
                index: i,
            });
        }
        self.timers.clear_all();
    }

    #[cfg(feature = "liveliness")]
    pub(crate) fn assert_liveliness(&mut self, now: Instant) {
        let w = &mut self.builtin_writers[PMD];
        if !write_liveliness(&self.cfg, now, w, &mut self.pool, &mut self.timers) {
            self.stats.dropped_no_space += 1;
        }
        self.queue_all_proxies(Local::BuiltinWriter(PMD as u32));
    }

    /// Forgets every `queued` mark (the queue was emptied).
    fn clear_all_queued(&mut self) {
        for w in self.builtin_writers.iter_mut() {
            for (_, p) in w.proxies.iter_mut() {
                p.queued = false;
            }
        }
        for r in self.builtin_readers.iter_mut() {
            for (_, p) in r.proxies.iter_mut() {
                p.queued = false;
            }
        }
        for (_, lw) in self.writers.iter_mut() {
            for (_, p) in lw.writer.proxies.iter_mut() {
                p.queued = false;
            }
        }
        for (_, lr) in self.readers.iter_mut() {
            for (_, p) in lr.reader.proxies.iter_mut() {
                p.queued = false;
            }
        }
    }
}

/// Writes the participant's liveliness message (ParticipantMessageData: prefix, kind AUTOMATIC
/// (00 00 00 01), one-byte sequence) into `w`, the participant-message writer, and arms its
/// heartbeat and the next liveliness timer; false when the pool had no room for it. The
/// caller queues the writer's proxies (at creation it has none).
#[cfg(feature = "liveliness")]
pub(crate) fn write_liveliness(
    cfg: &crate::config::Config,
    now: Instant,
    w: &mut crate::writer::Writer<'_>,
    pool: &mut crate::pool::Pool<'_>,
    timers: &mut crate::timer::Timers<'_>,
) -> bool {
    let prefix = &cfg.guid_prefix;
    let mut body = [0u8; 28];
    body[..4].copy_from_slice(&[0, 1, 0, 0]);
    body[4..16].copy_from_slice(&prefix.0);
    body[16..20].copy_from_slice(&[0, 0, 0, 1]);
    body[20..24].copy_from_slice(&1u32.to_le_bytes());
    let mut key = [0u8; 16];
    key[..12].copy_from_slice(&prefix.0);
    key[12..].copy_from_slice(&[0, 0, 0, 1]);
    let written = w
        .add(now, pool, &[&body], None, Some(key), StatusInfo(0))
        .is_ok();
    let timer = Timer::BuiltinHeartbeat(PMD as u32);
    match w.next_heartbeat {
        Some(t) => timers.set(timer, t),
        None => timers.clear(timer),
    }
    timers.set(Timer::Liveliness, now + liveliness_period(cfg));
    written
}

/// How often the liveliness message is written again: half the lease, at least 0.5 s.
#[cfg(feature = "liveliness")]
pub(crate) fn liveliness_period(cfg: &crate::config::Config) -> crate::time::Span {
    crate::time::Span::from_micros((cfg.lease_duration.micros() / 2).max(500_000))
}
