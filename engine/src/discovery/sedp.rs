//! SEDP: announcing local endpoints, learning remote ones, and matching the two.
//!
//! Every match is a proxy in its local endpoint's table, an entry in the match index
//! (local endpoint, remote GUID) -> proxy, and a link in its remote endpoint's chain of
//! matches, so an incoming submessage reaches exactly the local endpoints matched with its
//! sender.
//!
//! When the remote-endpoint table is full, an endpoint that matches a local one takes the slot
//! of the oldest endpoint that matches nothing; an endpoint that matches nothing is refused.
//! Either way the participant that lost one is marked (so is one whose match the match table
//! refused), and once there is room (an endpoint or a match gone, or a new local endpoint that
//! may want what was refused) its SEDP writers are asked for their whole history again by an
//! ACKNACK from sequence number 1, repeated until a HEARTBEAT answers.

use crate::discovery::{check_match, EndpointInfo, MatchResult, RemoteEndpoint, RemoteParticipant};
use crate::engine::{Engine, SEDP_PUB, SEDP_SUB};
use crate::event::{Endpoint, Event, ReaderHandle, Table, WriterHandle};
use crate::limits::MAX_PARTITIONS;
use crate::map;
use crate::qos::{Durability, History, Reliability};
use crate::schedule::{Local, Work};
use crate::storage::NONE;
use crate::time::Instant;
use crate::wire::{
    self, DataRepresentations, Duration, EndpointData, EntityId, Guid, Locator, LocatorList,
    ProtocolVersion, StatusInfo, StringSeq, VendorId,
};

/// What a match keeps of the remote endpoint's record (see `Engine::pairing`).
struct RemoteSide {
    guid: Guid,
    reliable: bool,
    durability: Durability,
}

/// Endpoints of the participant holding the most matches looked at for one to give up.
const HOG_SEARCH: usize = 64;

/// The ENDPOINT_GUID of serialized SEDP data or of its key alone: Cyclone DDS withdraws an
/// endpoint with a key payload that holds nothing else (no topic or type name, no KEY_HASH).
fn endpoint_guid_of(payload: &[u8]) -> Option<Guid> {
    let sp = wire::SerializedPayload::parse(payload).ok()?;
    let endian = match sp.encapsulation.kind {
        wire::EncapsulationKind::PlCdrLe => wire::Endian::Little,
        wire::EncapsulationKind::PlCdrBe => wire::Endian::Big,
        _ => return None,
    };
    wire::ParameterListIter::new(sp.data, endian)
        .map_while(Result::ok)
        .find(|p| p.id == wire::pid::ENDPOINT_GUID)
        .and_then(|p| p.as_guid().ok())
}

impl<'a> Engine<'a> {
    // Not inlined: its parsed records would otherwise sit in `handle_message`'s frame under
    // every handler it calls (a microcontroller's stack peaks there).
    #[inline(never)]
    pub(crate) fn process_builtin_samples(&mut self, now: Instant) {
        for i in [SEDP_PUB, SEDP_SUB] {
            while let Some(s) = self.builtin_readers[i].pop() {
                let Some(data) = s.data else { continue };
                let n = self.pool.read(&data, &mut self.scratch);
                self.pool.free(data);
                if s.status.disposed() || s.status.unregistered() {
                    let guid = match s.key_hash {
                        Some(k) => Some(Guid::from_bytes(k)),
                        None => endpoint_guid_of(&self.scratch[..n]),
                    };
                    match guid {
                        Some(g) if g.prefix == s.writer.prefix => self.remove_remote_endpoint(g),
                        _ => self.stats.dropped_bad_discovery += 1,
                    }
                    continue;
                }
                self.take_endpoint(now, n, i == SEDP_PUB, s.writer.prefix);
            }
        }
        // Participant messages only matter as traffic (the lease is refreshed on receipt).
        while let Some(s) = self.builtin_readers[crate::engine::PMD].pop() {
            if let Some(d) = s.data {
                self.pool.free(d);
            }
        }
        self.resync_if_due(now);
    }

    /// Adds the endpoint announced in the first `n` bytes of the scratch buffer by participant
    /// `from`, or counts why not. Not inlined: the endpoint's record is in its frame only, not
    /// in `process_builtin_samples`'s under everything else.
    #[inline(never)]
    fn take_endpoint(&mut self, now: Instant, n: usize, is_writer: bool, from: wire::GuidPrefix) {
        // Matched by reference: a binding by value would be one more copy of the record.
        match &self.endpoint_info(n, is_writer, from) {
            Some(Ok(info)) => self.add_remote_endpoint(now, info),
            Some(Err(_)) => self.stats.dropped_table_full += 1,
            None => self.stats.dropped_bad_discovery += 1,
        }
    }

    /// The endpoint announced in the first `n` bytes of the scratch buffer by participant
    /// `from` (none when it does not parse or names another participant's endpoint). Not
    /// inlined: the parsed announcement is gone before the endpoint is added and matched.
    #[inline(never)]
    fn endpoint_info(
        &self,
        n: usize,
        is_writer: bool,
        from: crate::wire::GuidPrefix,
    ) -> Option<Result<EndpointInfo, crate::discovery::EndpointRefused>> {
        EndpointData::parse(&self.scratch[..n])
            .ok()
            .filter(|d| d.endpoint_guid.prefix == from)
            .map(|d| EndpointInfo::from_data(&d, is_writer, self.cfg.prefer_tcp))
    }

    /// Runs a resync that room appearing asked for, at most once per announcement period (a
    /// peer that keeps creating and withdrawing endpoints must not make us ask everyone for
    /// everything again and again); a later call, or the announcement timer, runs a deferred
    /// one.
    pub(crate) fn resync_if_due(&mut self, now: Instant) {
        if self.resync_wanted && now >= self.next_resync {
            self.resync_wanted = false;
            self.next_resync = now + self.cfg.announce_period;
            self.resync_incomplete(now, false);
        }
    }

    fn remote_locator(&self, info: &EndpointInfo) -> Option<Locator> {
        info.locator.or_else(|| {
            self.participant(info.guid.prefix)
                .and_then(|p| p.default_unicast)
        })
    }

    /// Whether some local endpoint would match (or report incompatible QoS with) `info`:
    /// only the local endpoints on its topic are looked at.
    fn relevant(&self, info: &EndpointInfo) -> bool {
        let mut at = self
            .local_topics
            .get(&map::topic_key(info.topic.as_str()))
            .unwrap_or(NONE);
        while let Some(l) = Local::from_key(at) {
            let (mine, next) = match l {
                Local::Writer(i) => match self.writers.get(i) {
                    Some(lw) => (lw.info, lw.next_topic),
                    None => break,
                },
                Local::Reader(i) => match self.readers.get(i) {
                    Some(lr) => (lr.info, lr.next_topic),
                    None => break,
                },
                _ => break,
            };
            if mine.is_writer != info.is_writer {
                let r = if mine.is_writer {
                    check_match(&mine, info)
                } else {
                    check_match(info, &mine)
                };
                if r != MatchResult::Unrelated {
                    return true;
                }
            }
            at = next;
        }
        false
    }

    fn local_topic_links(&self, l: Local) -> Option<(u32, u32)> {
        match l {
            Local::Writer(i) => self.writers.get(i).map(|x| (x.prev_topic, x.next_topic)),
            Local::Reader(i) => self.readers.get(i).map(|x| (x.prev_topic, x.next_topic)),
            _ => None,
        }
    }

    fn set_local_topic_links(&mut self, l: Local, prev: Option<u32>, next: Option<u32>) {
        let links = match l {
            Local::Writer(i) => self
                .writers
                .get_mut(i)
                .map(|x| (&mut x.prev_topic, &mut x.next_topic)),
            Local::Reader(i) => self
                .readers
                .get_mut(i)
                .map(|x| (&mut x.prev_topic, &mut x.next_topic)),
            _ => None,
        };
        if let Some((p, n)) = links {
            if let Some(v) = prev {
                *p = v;
            }
            if let Some(v) = next {
                *n = v;
            }
        }
    }

    /// Puts a new local endpoint at the head of its topic's chain.
    pub(crate) fn link_local_topic(&mut self, l: Local) {
        let Some(info) = self.local_endpoint_info(l) else {
            return;
        };
        let key = map::topic_key(info.topic.as_str());
        let head = self.local_topics.get(&key).unwrap_or(NONE);
        self.set_local_topic_links(l, Some(NONE), Some(head));
        if let Some(h) = Local::from_key(head) {
            self.set_local_topic_links(h, Some(l.key()), None);
        }
        self.local_topics.insert(&key, l.key());
    }

    pub(crate) fn unlink_local_topic(&mut self, l: Local) {
        let (Some(info), Some((prev, next))) =
            (self.local_endpoint_info(l), self.local_topic_links(l))
        else {
            return;
        };
        let key = map::topic_key(info.topic.as_str());
        match Local::from_key(prev) {
            Some(p) => self.set_local_topic_links(p, None, Some(next)),
            None if next == NONE => {
                self.local_topics.remove(&key);
            }
            None => {
                self.local_topics.insert(&key, next);
            }
        }
        if let Some(n) = Local::from_key(next) {
            self.set_local_topic_links(n, Some(prev), None);
        }
        self.set_local_topic_links(l, Some(NONE), Some(NONE));
    }

    /// Links remote endpoint `ri` into its topic's chain and its participant's.
    fn link_remote(&mut self, ri: u32, owner: u32) {
        let Some(info) = self.remote.get(ri).map(|r| r.info) else {
            return;
        };
        let key = map::topic_key(info.topic.as_str());
        let head = self.remote_topics.get(&key).unwrap_or(NONE);
        let owned = self
            .participants
            .get(owner)
            .map_or(NONE, |p| p.first_endpoint);
        if let Some(r) = self.remote.get_mut(ri) {
            r.prev_topic = NONE;
            r.next_topic = head;
            r.prev_owned = NONE;
            r.next_owned = owned;
        }
        if let Some(h) = self.remote.get_mut(head) {
            h.prev_topic = ri;
        }
        if let Some(o) = self.remote.get_mut(owned) {
            o.prev_owned = ri;
        }
        let mut held = 0;
        if let Some(p) = self.participants.get_mut(owner) {
            p.first_endpoint = ri;
            p.endpoints += 1;
            held = p.endpoints;
        }
        let hog = self
            .participants
            .get(self.endpoint_hog)
            .map_or(0, |h| h.endpoints);
        if held > hog {
            self.endpoint_hog = owner;
        }
        self.remote_topics.insert(&key, ri);
    }

    fn unlink_remote(&mut self, ri: u32) {
        let Some(r) = self.remote.get(ri).copied() else {
            return;
        };
        let key = map::topic_key(r.info.topic.as_str());
        match self.remote.get_mut(r.prev_topic) {
            Some(p) => p.next_topic = r.next_topic,
            None if r.next_topic == NONE => {
                self.remote_topics.remove(&key);
            }
            None => {
                self.remote_topics.insert(&key, r.next_topic);
            }
        }
        if let Some(n) = self.remote.get_mut(r.next_topic) {
            n.prev_topic = r.prev_topic;
        }
        let owner = self
            .participant_slot(r.info.guid.prefix)
            .and_then(|i| self.participants.get_mut(i));
        if let Some(p) = owner {
            p.endpoints = p.endpoints.saturating_sub(1);
            if r.prev_owned == NONE {
                p.first_endpoint = r.next_owned;
            }
        }
        if let Some(p) = self.remote.get_mut(r.prev_owned) {
            p.next_owned = r.next_owned;
        }
        if let Some(n) = self.remote.get_mut(r.next_owned) {
            n.prev_owned = r.prev_owned;
        }
    }

    fn mark_incomplete(&mut self, prefix: wire::GuidPrefix) {
        if let Some(i) = self.participant_slot(prefix) {
            if let Some(p) = self.participants.get_mut(i) {
                if !p.sedp_incomplete {
                    p.sedp_incomplete = true;
                    self.incomplete += 1;
                }
            }
        }
    }

    /// Adds (or updates) remote endpoint `info` and matches it. Not inlined: its frame is
    /// then not under the parsing of the next announcement (see `process_builtin_samples`).
    #[inline(never)]
    pub(crate) fn add_remote_endpoint(&mut self, now: Instant, info: &EndpointInfo) {
        let Some(owner) = self.participant_slot(info.guid.prefix) else {
            self.stats.dropped_unknown_endpoint += 1;
            return;
        };
        let ri = match self.remote_index.get(&map::guid_key(&info.guid)) {
            Some(ri) => {
                // An update: take the new locator; QoS changes take effect on re-match.
                let moved = self
                    .remote
                    .get(ri)
                    .is_some_and(|r| r.info.topic != info.topic);
                if moved {
                    self.unlink_remote(ri);
                }
                if let Some(r) = self.remote.get_mut(ri) {
                    r.info = *info;
                }
                if moved {
                    self.link_remote(ri, owner);
                }
                ri
            }
            None => {
                if self.remote.is_full()
                    && (!self.relevant(info)
                        || !(self.evict_unmatched_endpoint() || self.evict_hog_endpoint(owner)))
                {
                    self.mark_incomplete(info.guid.prefix);
                    self.refuse(Table::RemoteEndpoints, info.guid);
                    return;
                }
                let Ok(ri) = self.remote.insert(RemoteEndpoint::new(*info)) else {
                    self.refuse(Table::RemoteEndpoints, info.guid);
                    return;
                };
                if !self.remote_index.insert(&map::guid_key(&info.guid), ri) {
                    self.remote.remove(ri);
                    self.mark_incomplete(info.guid.prefix);
                    self.refuse(Table::RemoteEndpoints, info.guid);
                    return;
                }
                self.link_unmatched(ri);
                self.link_remote(ri, owner);
                ri
            }
        };
        if self.remote_locator(info).is_none() {
            self.stats.dropped_bad_discovery += 1;
            return;
        }
        // Only the local endpoints on its topic can match it.
        let mut at = self
            .local_topics
            .get(&map::topic_key(info.topic.as_str()))
            .unwrap_or(NONE);
        while let Some(l) = Local::from_key(at) {
            at = self.local_topic_links(l).map_or(NONE, |(_, n)| n);
            self.match_pair(now, l, ri);
        }
    }

    /// Forgets the oldest remote endpoint that matches nothing; false when there is none.
    fn evict_unmatched_endpoint(&mut self) -> bool {
        let ri = self.unmatched.0;
        let Some(guid) = self.remote.get(ri).map(|r| r.info.guid) else {
            return false;
        };
        self.mark_incomplete(guid.prefix);
        self.remove_remote_endpoint(guid);
        self.stats.evicted += 1;
        self.emit(Event::Evicted {
            table: Table::RemoteEndpoints,
            guid,
        });
        true
    }

    /// Whether participant slot `hog` holds at least two more than slot `owner` of what `count`
    /// counts (so that one given up still leaves it at least as many).
    fn holds_more(&self, hog: u32, owner: u32, count: fn(&RemoteParticipant) -> u32) -> bool {
        let held = |i| self.participants.get(i).map(count);
        match (held(hog), held(owner)) {
            (Some(h), Some(o)) => hog != owner && h > o.saturating_add(1),
            _ => false,
        }
    }

    /// A full table is shared: forgets the newest endpoint of the participant holding the most
    /// (a forged participant announcing endpoints by the thousand) for participant slot
    /// `owner`, when that holds at least two more; false otherwise.
    fn evict_hog_endpoint(&mut self, owner: u32) -> bool {
        let hog = self.endpoint_hog;
        if !self.holds_more(hog, owner, |p| p.endpoints) {
            return false;
        }
        let first = self
            .participants
            .get(hog)
            .map_or(NONE, |p| p.first_endpoint);
        let Some(guid) = self.remote.get(first).map(|r| r.info.guid) else {
            return false;
        };
        self.mark_incomplete(guid.prefix);
        self.remove_remote_endpoint(guid);
        self.stats.evicted += 1;
        self.stats.fair_share_evictions += 1;
        self.emit(Event::Evicted {
            table: Table::RemoteEndpoints,
            guid,
        });
        true
    }

    /// The same for a full match table: ends one match of the participant holding the most.
    /// Looks at a bounded number of its endpoints (newest first) for one with a match.
    fn evict_hog_match(&mut self, owner: u32) -> bool {
        let hog = self.match_hog;
        if !self.holds_more(hog, owner, |p| p.matched) {
            return false;
        }
        let mut ri = self
            .participants
            .get(hog)
            .map_or(NONE, |p| p.first_endpoint);
        for _ in 0..HOG_SEARCH {
            let Some(r) = self.remote.get(ri).copied() else {
                return false;
            };
            if let Some(w) = Work::unpack(r.first_match) {
                self.mark_incomplete(r.info.guid.prefix);
                self.end_match(w.local, w.index, ri, true);
                self.stats.evicted += 1;
                self.stats.fair_share_evictions += 1;
                self.emit(Event::Evicted {
                    table: Table::Matches,
                    guid: r.info.guid,
                });
                return true;
            }
            ri = r.next_owned;
        }
        false
    }

    fn link_unmatched(&mut self, ri: u32) {
        let tail = self.unmatched.1;
        if let Some(r) = self.remote.get_mut(ri) {
            r.prev_unmatched = tail;
            r.next_unmatched = NONE;
        }
        match self.remote.get_mut(tail) {
            Some(t) => t.next_unmatched = ri,
            None => self.unmatched.0 = ri,
        }
        self.unmatched.1 = ri;
    }

    fn unlink_unmatched(&mut self, ri: u32) {
        let Some((prev, next)) = self
            .remote
            .get(ri)
            .map(|r| (r.prev_unmatched, r.next_unmatched))
        else {
            return;
        };
        if prev == NONE && self.unmatched.0 != ri {
            // Not on the list (it has matches).
            return;
        }
        match self.remote.get_mut(prev) {
            Some(p) => p.next_unmatched = next,
            None => self.unmatched.0 = next,
        }
        match self.remote.get_mut(next) {
            Some(n) => n.prev_unmatched = prev,
            None => self.unmatched.1 = prev,
        }
        if let Some(r) = self.remote.get_mut(ri) {
            r.prev_unmatched = NONE;
            r.next_unmatched = NONE;
        }
    }

    /// Borrowed, not copied: an endpoint record is a few hundred bytes, and a copy in the
    /// frames of matching sits on a small device's deepest stack.
    fn local_endpoint_info(&self, local: Local) -> Option<&EndpointInfo> {
        match local {
            Local::Writer(i) => self.writers.get(i).map(|lw| &lw.info),
            Local::Reader(i) => self.readers.get(i).map(|lr| &lr.info),
            _ => None,
        }
    }

    fn handle_of(&self, local: Local) -> Option<Endpoint> {
        match local {
            Local::Writer(i) => self
                .writers
                .get(i)
                .map(|lw| Endpoint::Writer(WriterHandle(lw.key))),
            Local::Reader(i) => self
                .readers
                .get(i)
                .map(|lr| Endpoint::Reader(ReaderHandle(lr.key))),
            _ => None,
        }
    }

    /// Matches local endpoint `local` with remote endpoint `ri` if they fit (or re-points an
    /// existing match at the remote's current locator).
    fn match_pair(&mut self, now: Instant, local: Local, ri: u32) {
        let Some((result, remote, loc)) = self.pairing(local, ri) else {
            return;
        };
        let key = map::match_key(local.key(), &remote.guid);
        if let Some(pi) = self.match_index.get(&key) {
            // Already matched: an update may have moved it.
            match local {
                Local::Writer(_) => {
                    if let Some(p) = self.writer_at(local).and_then(|w| w.proxy_mut(pi)) {
                        p.locator = loc;
                    }
                }
                _ => {
                    if let Some(p) = self.reader_at(local).and_then(|r| r.proxy_mut(pi)) {
                        p.locator = loc;
                    }
                }
            }
            return;
        }
        let Some(handle) = self.handle_of(local) else {
            return;
        };
        match result {
            MatchResult::Unrelated => {}
            MatchResult::Incompatible(policy) => self.emit(Event::IncompatibleQos {
                local: handle,
                remote: remote.guid,
                policy,
            }),
            MatchResult::Match => {
                let owner = self.participant_slot(remote.guid.prefix).unwrap_or(NONE);
                if self.user_matches >= self.caps.matches && !self.evict_hog_match(owner) {
                    self.mark_incomplete(remote.guid.prefix);
                    self.refuse(Table::Matches, remote.guid);
                    return;
                }
                let reliable = remote.reliable;
                let first = self.remote.get(ri).map_or(u64::MAX, |r| r.first_match);
                let pi = match local {
                    Local::Writer(_) => self.writer_at(local).and_then(|w| {
                        let pi = w.add_proxy(now, remote.guid, loc, reliable, remote.durability)?;
                        if let Some(p) = w.proxy_mut(pi) {
                            p.next_of_remote = first;
                        }
                        Some(pi)
                    }),
                    _ => self.reader_at(local).and_then(|r| {
                        let pi = r.add_proxy(now, remote.guid, loc, reliable)?;
                        if let Some(p) = r.proxy_mut(pi) {
                            p.next_of_remote = first;
                        }
                        Some(pi)
                    }),
                };
                let Some(pi) = pi else {
                    self.mark_incomplete(remote.guid.prefix);
                    self.refuse(Table::Matches, remote.guid);
                    return;
                };
                if !self.match_index.insert(&key, pi) {
                    self.drop_proxy(local, pi);
                    self.mark_incomplete(remote.guid.prefix);
                    self.refuse(Table::Matches, remote.guid);
                    return;
                }
                let was_unmatched = self.remote.get(ri).is_some_and(|r| r.matched == 0);
                if was_unmatched {
                    self.unlink_unmatched(ri);
                }
                if let Some(r) = self.remote.get_mut(ri) {
                    r.first_match = Work { local, index: pi }.pack();
                    r.matched += 1;
                }
                let mut held = 0;
                if let Some(p) = self.participants.get_mut(owner) {
                    p.matched += 1;
                    held = p.matched;
                }
                if held
                    > self
                        .participants
                        .get(self.match_hog)
                        .map_or(0, |h| h.matched)
                {
                    self.match_hog = owner;
                }
                self.user_matches += 1;
                self.reserve_work();
                self.queue(Work { local, index: pi });
                match local {
                    Local::Writer(_) => self.sync_writer_timer(local),
                    _ => self.arm_reader_timer(local, now + crate::reader::PREEMPTIVE_PERIOD),
                }
                self.emit(Event::Matched {
                    local: handle,
                    remote: remote.guid,
                });
            }
        }
    }

    /// What pairing local endpoint `local` with remote endpoint `ri` comes to, and where the
    /// remote one is; None when they cannot pair (both writers or both readers, or the
    /// remote one has no locator). Not inlined: both endpoints' records are copied in its
    /// frame only, not under what a match then does.
    #[inline(never)]
    fn pairing(&self, local: Local, ri: u32) -> Option<(MatchResult, RemoteSide, Locator)> {
        let mine = self.local_endpoint_info(local)?;
        let remote = &self.remote.get(ri)?.info;
        if mine.is_writer == remote.is_writer {
            return None;
        }
        let loc = self.remote_locator(remote)?;
        let result = if mine.is_writer {
            check_match(mine, remote)
        } else {
            check_match(remote, mine)
        };
        let side = RemoteSide {
            guid: remote.guid,
            reliable: remote.reliability == Reliability::Reliable,
            durability: remote.durability,
        };
        Some((result, side, loc))
    }

    fn drop_proxy(&mut self, local: Local, pi: u32) {
        self.unqueue(Work { local, index: pi });
        match local {
            Local::Writer(i) => {
                if let Some(lw) = self.writers.get_mut(i) {
                    lw.writer.remove_proxy(pi, &mut self.pool);
                }
            }
            _ => {
                let pool = &mut self.pool;
                let r = match local {
                    Local::Reader(i) => self.readers.get_mut(i).map(|lr| &mut lr.reader),
                    _ => None,
                };
                if let Some(r) = r {
                    r.remove_proxy(pi, pool);
                }
            }
        }
    }

    /// Ends the match of `local`'s proxy `pi` with remote endpoint `ri` (the chain link is
    /// removed by the caller or here when `unlink`).
    fn end_match(&mut self, local: Local, pi: u32, ri: u32, unlink: bool) {
        let next = match local {
            Local::Writer(_) => self
                .writer_at(local)
                .and_then(|w| w.proxy(pi))
                .map(|p| (p.guid, p.next_of_remote)),
            _ => self
                .reader_at(local)
                .and_then(|r| r.proxy(pi))
                .map(|p| (p.guid, p.next_of_remote)),
        };
        let Some((guid, next)) = next else { return };
        if unlink {
            let me = Work { local, index: pi }.pack();
            let mut at = self.remote.get(ri).map_or(u64::MAX, |r| r.first_match);
            if at == me {
                if let Some(r) = self.remote.get_mut(ri) {
                    r.first_match = next;
                }
            } else {
                while let Some(w) = Work::unpack(at) {
                    let after = self.next_of(w);
                    if after == me {
                        self.set_next_of(w, next);
                        break;
                    }
                    at = after;
                }
            }
        }
        self.drop_proxy(local, pi);
        self.match_index.remove(&map::match_key(local.key(), &guid));
        self.user_matches = self.user_matches.saturating_sub(1);
        self.refused_reported[2] = false;
        // A match refused for want of room may be formed now.
        if self.incomplete > 0 {
            self.resync_wanted = true;
        }
        let now_unmatched = match self.remote.get_mut(ri) {
            Some(r) => {
                r.matched = r.matched.saturating_sub(1);
                r.matched == 0
            }
            None => false,
        };
        if now_unmatched && unlink {
            self.link_unmatched(ri);
        }
        if let Some(p) = self
            .participant_slot(guid.prefix)
            .and_then(|i| self.participants.get_mut(i))
        {
            p.matched = p.matched.saturating_sub(1);
        }
        if let Some(handle) = self.handle_of(local) {
            self.emit(Event::Unmatched {
                local: handle,
                remote: guid,
            });
        }
        // A lagging reader gone may leave everything acknowledged.
        if let Local::Writer(i) = local {
            let fire = self.writers.get_mut(i).and_then(|lw| {
                (lw.writer.reliable && lw.writer.take_all_acknowledged()).then_some(lw.key)
            });
            if let Some(key) = fire {
                self.emit(Event::AllAcknowledged(WriterHandle(key)));
            }
        }
    }

    fn next_of(&mut self, w: Work) -> u64 {
        match w.local {
            Local::Writer(_) => self
                .writer_at(w.local)
                .and_then(|x| x.proxy(w.index))
                .map_or(u64::MAX, |p| p.next_of_remote),
            _ => self
                .reader_at(w.local)
                .and_then(|x| x.proxy(w.index))
                .map_or(u64::MAX, |p| p.next_of_remote),
        }
    }

    fn set_next_of(&mut self, w: Work, next: u64) {
        match w.local {
            Local::Writer(_) => {
                if let Some(p) = self.writer_at(w.local).and_then(|x| x.proxy_mut(w.index)) {
                    p.next_of_remote = next;
                }
            }
            _ => {
                if let Some(p) = self.reader_at(w.local).and_then(|x| x.proxy_mut(w.index)) {
                    p.next_of_remote = next;
                }
            }
        }
    }

    pub(crate) fn remove_remote_endpoint(&mut self, guid: Guid) {
        let Some(ri) = self.remote_index.get(&map::guid_key(&guid)) else {
            return;
        };
        let mut at = self.remote.get(ri).map_or(u64::MAX, |r| r.first_match);
        while let Some(w) = Work::unpack(at) {
            at = self.next_of(w);
            self.end_match(w.local, w.index, ri, false);
        }
        let matched = self.remote.get(ri).is_some_and(|r| r.matched > 0);
        if !matched {
            self.unlink_unmatched(ri);
        }
        self.unlink_remote(ri);
        self.remote.discard(ri);
        self.remote_index.remove(&map::guid_key(&guid));
        self.refused_reported[1] = false;
        if self.incomplete > 0 {
            self.resync_wanted = true;
        }
    }

    /// Ends every match of a local endpoint being deleted.
    pub(crate) fn unmatch_local(&mut self, local: Local) {
        let n = match local {
            Local::Writer(_) => self.writer_at(local).map_or(0, |w| w.proxies.high_water()),
            _ => self.reader_at(local).map_or(0, |r| r.proxies.high_water()),
        };
        for pi in 0..n as u32 {
            let guid = match local {
                Local::Writer(_) => self
                    .writer_at(local)
                    .and_then(|w| w.proxy(pi))
                    .map(|p| p.guid),
                _ => self
                    .reader_at(local)
                    .and_then(|r| r.proxy(pi))
                    .map(|p| p.guid),
            };
            let Some(guid) = guid else { continue };
            match self.remote_index.get(&map::guid_key(&guid)) {
                Some(ri) => self.end_match(local, pi, ri, true),
                None => self.drop_proxy(local, pi),
            }
        }
    }

    /// Asks the SEDP writers of every participant that lost endpoints to a full table for
    /// their whole history again. A full table is asked again only for a new local endpoint
    /// (`new_local`) and while it holds endpoints that match nothing: what it refused may be
    /// relevant now, and then takes the place of one of those.
    pub(crate) fn resync_incomplete(&mut self, now: Instant, new_local: bool) {
        let evictable = self.remote.get(self.unmatched.0).is_some();
        if self.incomplete == 0 || (self.remote.is_full() && !(new_local && evictable)) {
            return;
        }
        let n = self.participants.high_water() as u32;
        for i in 0..n {
            let Some(p) = self.participants.get_mut(i) else {
                continue;
            };
            if !p.sedp_incomplete {
                continue;
            }
            p.sedp_incomplete = false;
            self.incomplete = self.incomplete.saturating_sub(1);
            let br = p.br;
            for k in [SEDP_PUB, SEDP_SUB] {
                if br[k] == NONE {
                    continue;
                }
                if let Some(proxy) = self.builtin_readers[k].proxy_mut(br[k]) {
                    proxy.next = 1;
                    proxy.ack_owed = true;
                    // Asked again until a HEARTBEAT answers (the ACKNACK may be lost).
                    proxy.heartbeat_seen = false;
                    proxy.next_preemptive = crate::time::MaybeInstant::new(Some(
                        now + crate::reader::PREEMPTIVE_PERIOD,
                    ));
                }
                self.arm_reader_timer(
                    Local::BuiltinReader(k as u32),
                    now + crate::reader::PREEMPTIVE_PERIOD,
                );
                self.queue(Work {
                    local: Local::BuiltinReader(k as u32),
                    index: br[k],
                });
            }
        }
        self.stats.sedp_resyncs += 1;
    }

    /// Publishes (or with `dispose`, withdraws) a local endpoint in SEDP; false when the
    /// announcement could not be stored (its record does not fit a datagram's worth, or the
    /// pool is full: counted in `dropped_no_space`).
    pub(crate) fn announce_endpoint(
        &mut self,
        info: &EndpointInfo,
        history: History,
        dispose: bool,
    ) -> bool {
        let which = if info.is_writer { SEDP_PUB } else { SEDP_SUB };
        let key = info.guid.to_bytes();
        self.builtin_writers[which].remove_instance(&key, &mut self.pool);
        // Serialized in the scratch buffer, which holds nothing between calls (a 1 KiB buffer
        // on the stack was most of the peak of a device creating its endpoints): at most
        // 1 KiB as before, at most `discovery_data` bytes when that is less.
        let room = self.scratch.len().min(1024);
        let (len, status) = if dispose {
            (
                0,
                StatusInfo(StatusInfo::DISPOSED | StatusInfo::UNREGISTERED),
            )
        } else {
            let mut parts = [""; MAX_PARTITIONS];
            let mut np = 0;
            for (slot, p) in parts.iter_mut().zip(info.partitions.iter()) {
                *slot = p;
                np += 1;
            }
            let reps: &[i16] = if info.is_writer {
                &[DataRepresentations::XCDR1]
            } else {
                &[DataRepresentations::XCDR1, DataRepresentations::XCDR2]
            };
            let mut d = EndpointData::new(info.guid, info.topic.as_str(), info.type_name.as_str());
            d.participant_guid = Some(Guid::new(self.cfg.guid_prefix, EntityId::PARTICIPANT));
            d.protocol_version = Some(ProtocolVersion::V2_3);
            d.vendor_id = Some(VendorId::POLLEN);
            d.reliability = Some(wire::ReliabilityQos {
                kind: match info.reliability {
                    Reliability::Reliable => wire::ReliabilityKind::Reliable,
                    Reliability::BestEffort => wire::ReliabilityKind::BestEffort,
                },
                max_blocking_time: Duration::from_micros(100_000),
            });
            d.durability = Some(match info.durability {
                Durability::Volatile => wire::DurabilityKind::Volatile,
                Durability::TransientLocal => wire::DurabilityKind::TransientLocal,
            });
            d.history = Some(match history {
                History::KeepLast(n) => wire::HistoryQos {
                    keep_all: false,
                    depth: n as i32,
                },
                History::KeepAll => wire::HistoryQos {
                    keep_all: true,
                    depth: 1,
                },
            });
            if info.deadline_us != u64::MAX {
                d.deadline = Some(Duration::from_micros(info.deadline_us));
            }
            if info.liveliness_us != u64::MAX {
                d.liveliness = Some(wire::Liveliness {
                    kind: wire::LivelinessKind::Automatic,
                    lease_duration: Duration::from_micros(info.liveliness_us),
                });
            }
            if np > 0 {
                d.partition = Some(StringSeq::List(&parts[..np]));
            }
            d.data_representation = Some(DataRepresentations::new(reps));
            d.unicast_locators = LocatorList::from_iter(
                Some(self.user_locator())
                    .into_iter()
                    .chain(self.tcp_locator()),
            );
            match d.emit(&mut self.scratch[..room]) {
                Ok(n) => (n, StatusInfo(0)),
                Err(_) => {
                    self.stats.dropped_no_space += 1;
                    return false;
                }
            }
        };
        // Without the `frag` feature an announcement must fit one DATA, or it could never be
        // sent: refused like one the pool cannot hold.
        #[cfg(not(feature = "frag"))]
        if len > self.fragment_size() {
            self.stats.dropped_too_large += 1;
            return false;
        }
        let now = self.now;
        let w = &mut self.builtin_writers[which];
        let stored = w
            .add(
                now,
                &mut self.pool,
                &[&self.scratch[..len]],
                None,
                Some(key),
                status,
            )
            .is_ok();
        if !stored {
            self.stats.dropped_no_space += 1;
        }
        self.queue_all_proxies(Local::BuiltinWriter(which as u32));
        self.sync_writer_timer(Local::BuiltinWriter(which as u32));
        stored
    }

    /// Matches a new local endpoint (already announced) with the remote endpoints of the
    /// other direction already known.
    pub(crate) fn match_new_local(&mut self, now: Instant, local: Local, info: &EndpointInfo) {
        // Only the remote endpoints on its topic can match it.
        let mut ri = self
            .remote_topics
            .get(&map::topic_key(info.topic.as_str()))
            .unwrap_or(NONE);
        while let Some(r) = self.remote.get(ri).copied() {
            if r.info.is_writer != info.is_writer {
                self.match_pair(now, local, ri);
            }
            ri = r.next_topic;
        }
        // What a full table refused may matter now.
        self.resync_incomplete(now, true);
    }
}

#[cfg(test)]
mod tests {
    use super::endpoint_guid_of;
    use crate::wire::{EntityId, Guid, GuidPrefix};

    /// Cyclone DDS 11 withdraws an endpoint with a DATA whose key payload is a parameter list
    /// holding only its ENDPOINT_GUID (no KEY_HASH inline QoS): as captured.
    #[test]
    fn cyclone_key_only_withdrawal() {
        let prefix = [
            0x01, 0x10, 0x6e, 0x05, 0x69, 0x48, 0x49, 0x2f, 0x2e, 0x3e, 0x58, 0x99,
        ];
        let mut key = [0u8; 28];
        key[..8].copy_from_slice(&[0x00, 0x03, 0x00, 0x00, 0x5a, 0x00, 0x10, 0x00]);
        key[8..20].copy_from_slice(&prefix);
        key[20..].copy_from_slice(&[0x00, 0x00, 0x02, 0x03, 0x01, 0x00, 0x00, 0x00]);
        assert_eq!(
            endpoint_guid_of(&key),
            Some(Guid::new(GuidPrefix(prefix), EntityId([0, 0, 2, 3])))
        );
        assert_eq!(endpoint_guid_of(&key[..6]), None);
    }
}
