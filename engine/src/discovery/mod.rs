//! Discovery state: remote participants (SPDP), remote endpoints (SEDP) and matching.

mod lease;
mod matching;
mod reflection;
pub(crate) mod sedp;
pub(crate) mod spdp;

use crate::storage::NONE;
pub(crate) use matching::{check_match, MatchResult};

use crate::limits::{MAX_NAME, MAX_PARTITIONS, MAX_PARTITION_NAME, MAX_USER_DATA};
use crate::qos::{Durability, Reliability};
use crate::time::{Instant, Span};
use crate::wire::{
    self, BuiltinEndpointSet, DataRepresentations, EndpointData, Guid, GuidPrefix, Locator,
    LocatorKind, ParticipantData, ProtocolVersion, ReliabilityKind, VendorId,
};

/// A string stored inline with a fixed capacity.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Name<const N: usize> {
    bytes: [u8; N],
    len: u16,
}

impl<const N: usize> Name<N> {
    pub(crate) const fn empty() -> Self {
        Name {
            bytes: [0; N],
            len: 0,
        }
    }

    /// `None` when `s` is longer than `N` bytes.
    pub(crate) fn new(s: &str) -> Option<Self> {
        if s.len() > N {
            return None;
        }
        let mut n = Self::empty();
        n.bytes[..s.len()].copy_from_slice(s.as_bytes());
        n.len = s.len() as u16;
        Some(n)
    }

    pub(crate) fn as_str(&self) -> &str {
        // Only ever filled from a &str, so the bytes are valid UTF-8.
        core::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("")
    }
}

impl<const N: usize> core::fmt::Debug for Name<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

/// A bounded list of partition names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Partitions {
    names: [Name<MAX_PARTITION_NAME>; MAX_PARTITIONS],
    len: u8,
}

impl Partitions {
    pub(crate) const fn empty() -> Self {
        Partitions {
            names: [Name::empty(); MAX_PARTITIONS],
            len: 0,
        }
    }

    /// `None` when there are too many or one is too long.
    pub(crate) fn from_iter<'a>(it: impl Iterator<Item = &'a str>) -> Option<Self> {
        let mut p = Self::empty();
        for s in it {
            if p.len as usize == MAX_PARTITIONS {
                return None;
            }
            p.names[p.len as usize] = Name::new(s)?;
            p.len += 1;
        }
        Some(p)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        self.names[..self.len as usize].iter().map(|n| n.as_str())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// A remote participant learnt from SPDP.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RemoteParticipant {
    pub prefix: GuidPrefix,
    pub vendor: VendorId,
    pub version: ProtocolVersion,
    pub builtin: BuiltinEndpointSet,
    pub lease: Span,
    pub last_seen: Instant,
    pub metatraffic: Option<Locator>,
    pub default_unicast: Option<Locator>,
    /// Directed SPDP announcements still owed to it (a prompt reply to a newcomer).
    pub directed_spdp_owed: u8,
    /// Its USER_DATA (empty when absent or longer than `MAX_USER_DATA`).
    pub user_data: [u8; MAX_USER_DATA],
    /// Bytes of `user_data` in use.
    pub user_data_len: u8,
    /// Proxy index of its builtin reader `i` in our builtin writer `i` (NONE if absent).
    pub bw: [u32; 3],
    /// Proxy index of its builtin writer `i` in our builtin reader `i` (NONE if absent).
    pub br: [u32; 3],
    /// Matches between its user endpoints and ours.
    pub matched: u32,
    /// Its announcements reach us by multicast (so it hears ours there too).
    pub multicast: bool,
    /// Some of its endpoints were refused or evicted: ask its SEDP writers again when there
    /// is room.
    pub sedp_incomplete: bool,
    /// A directed SPDP is queued for it.
    pub queued: bool,
    /// The first of its user endpoints in the remote-endpoint table, or NONE.
    pub first_endpoint: u32,
    /// Its user endpoints in the remote-endpoint table (for the fair share of a full table).
    pub endpoints: u32,
    /// The IPv4 addresses of the unicast locators it announced (the first [`MAX_ADDRESSES`]):
    /// traffic from elsewhere does not refresh its lease nor count as an answer.
    pub addresses: [[u8; 4]; MAX_ADDRESSES],
    /// Entries of `addresses` in use.
    pub addresses_len: u8,
    /// It sent us something other than SPDP from one of its addresses: it is reachable where
    /// it says, so traffic to it is no longer held back (see `reflection.rs`).
    pub answered: bool,
    /// Rounds of traffic sent to it while it never answered.
    pub rounds: u8,
    /// When the current round started (everything owed at that instant goes out together).
    pub round_at: Instant,
    /// No new round before this.
    pub hold_until: Instant,
}

/// Announced unicast addresses kept per remote participant (Fast DDS announces one per
/// interface; Cyclone one).
pub(crate) const MAX_ADDRESSES: usize = 4;

crate::storage::slot_type!(
    /// One remote participant; public so that a caller without `alloc` can provide them.
    ParticipantSlot,
    RemoteParticipant
);

/// A remote user endpoint learnt from SEDP, with its matches.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RemoteEndpoint {
    pub info: EndpointInfo,
    /// The first of its matches (a chain through the proxies), or NONE.
    pub first_match: u64,
    /// Matches with local endpoints.
    pub matched: u32,
    /// Neighbours in the list of endpoints that match nothing (eviction candidates).
    pub prev_unmatched: u32,
    pub next_unmatched: u32,
    /// Neighbours among the remote endpoints on the same topic (by name hash).
    pub prev_topic: u32,
    pub next_topic: u32,
    /// Neighbours among the endpoints of the same participant.
    pub prev_owned: u32,
    pub next_owned: u32,
}

impl RemoteEndpoint {
    pub(crate) fn new(info: EndpointInfo) -> Self {
        RemoteEndpoint {
            info,
            first_match: u64::MAX,
            matched: 0,
            prev_unmatched: NONE,
            next_unmatched: NONE,
            prev_topic: NONE,
            next_topic: NONE,
            prev_owned: NONE,
            next_owned: NONE,
        }
    }
}

crate::storage::slot_type!(
    /// One remote endpoint; public so that a caller without `alloc` can provide them.
    RemoteEndpointSlot,
    RemoteEndpoint
);

/// Picks the first UDPv4 or TCPv4 locator of a list, the preferred kind first.
pub(crate) fn pick_locator(list: &[Locator], prefer_tcp: bool) -> Option<Locator> {
    let (first, second) = if prefer_tcp {
        (LocatorKind::TcpV4, LocatorKind::UdpV4)
    } else {
        (LocatorKind::UdpV4, LocatorKind::TcpV4)
    };
    let of = |k| {
        list.iter()
            .copied()
            .find(move |l| l.kind() == k && l.ipv4().is_some())
    };
    of(first).or_else(|| of(second))
}

impl RemoteParticipant {
    /// Its state from announcement `d`; its lease is clamped to `max_lease` (the flag says
    /// whether it was).
    pub(crate) fn from_data(
        d: &ParticipantData<'_>,
        vendor: VendorId,
        now: Instant,
        prefer_tcp: bool,
        max_lease: Span,
    ) -> (Self, bool) {
        let announced = d.lease().to_micros();
        let clamped = announced.is_none_or(|us| us > max_lease.micros());
        let lease = match announced {
            Some(us) if !clamped => Span::from_micros(us),
            _ => max_lease,
        };
        let mut addresses = [[0u8; 4]; MAX_ADDRESSES];
        let mut addresses_len = 0u8;
        let announced_locators = d
            .metatraffic_unicast
            .as_slice()
            .iter()
            .chain(d.default_unicast.as_slice());
        for (ip, _) in announced_locators.filter_map(|l| l.ipv4()) {
            let known = &addresses[..addresses_len as usize];
            if ip != [0; 4] && !known.contains(&ip) && (addresses_len as usize) < MAX_ADDRESSES {
                addresses[addresses_len as usize] = ip;
                addresses_len += 1;
            }
        }
        let metatraffic = pick_locator(d.metatraffic_unicast.as_slice(), prefer_tcp);
        let default_unicast = pick_locator(d.default_unicast.as_slice(), prefer_tcp);
        let mut user_data = [0; MAX_USER_DATA];
        let user_data_len = match d.user_data {
            Some(u) if u.len() <= MAX_USER_DATA => {
                user_data[..u.len()].copy_from_slice(u);
                u.len() as u8
            }
            _ => 0,
        };
        let p = RemoteParticipant {
            prefix: d.guid.prefix,
            vendor,
            version: d.protocol_version.unwrap_or(ProtocolVersion::V2_1),
            builtin: d.builtin_endpoints,
            lease,
            last_seen: now,
            metatraffic: metatraffic.or(default_unicast),
            default_unicast: default_unicast.or(metatraffic),
            directed_spdp_owed: 0,
            user_data,
            user_data_len,
            bw: [NONE; 3],
            br: [NONE; 3],
            matched: 0,
            multicast: false,
            sedp_incomplete: false,
            queued: false,
            first_endpoint: NONE,
            endpoints: 0,
            addresses,
            addresses_len,
            answered: false,
            rounds: 0,
            round_at: now,
            hold_until: now,
        };
        (p, clamped)
    }

    /// Whether a datagram from `from` may be its own: from one of its announced addresses, or
    /// from a source that cannot be forged from afar or that the driver did not tell (`None`:
    /// a stream, loopback, our own address, an unknown source).
    pub(crate) fn sent_from(&self, from: Option<[u8; 4]>) -> bool {
        from.is_none_or(|ip| self.addresses[..self.addresses_len as usize].contains(&ip))
    }
}

/// A user endpoint as matching sees it: a remote one learnt from SEDP or a local one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EndpointInfo {
    pub guid: Guid,
    pub is_writer: bool,
    pub keyed: bool,
    pub topic: Name<MAX_NAME>,
    pub type_name: Name<MAX_NAME>,
    pub partitions: Partitions,
    pub reliability: Reliability,
    pub durability: Durability,
    /// Deadline period in µs (`u64::MAX` = infinite).
    pub deadline_us: u64,
    /// Liveliness lease in µs (`u64::MAX` = infinite).
    pub liveliness_us: u64,
    pub exclusive_ownership: bool,
    pub data_representation: DataRepresentations,
    pub has_data_representation: bool,
    pub locator: Option<Locator>,
    /// The ROS 2 type hash announced in USER_DATA (feature `ros`).
    #[cfg(feature = "ros")]
    pub type_hash: Option<[u8; 32]>,
}

/// The ROS 2 type hash in an endpoint's USER_DATA: `typehash=RIHS01_` and 64 hex digits, up to
/// the next `;` (what rmw writes from Jazzy on); `None` when absent or malformed.
#[cfg(feature = "ros")]
pub(crate) fn ros_type_hash(user_data: &[u8]) -> Option<[u8; 32]> {
    const KEY: &[u8] = b"typehash=RIHS01_";
    let at = user_data.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let hex = user_data.get(at..at + 64)?;
    if user_data.get(at + 64).is_some_and(|&c| c != b';') {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = (digit(hex[2 * i])? << 4) | digit(hex[2 * i + 1])?;
    }
    Some(out)
}

/// Why SEDP data was not turned into a remote endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EndpointRefused {
    /// Names or partitions exceed the fixed capacities.
    TooLarge,
    /// The endpoint's kind does not fit the SEDP writer it came from.
    WrongKind,
}

impl EndpointInfo {
    #[inline(never)]
    pub(crate) fn from_data(
        d: &EndpointData<'_>,
        is_writer: bool,
        prefer_tcp: bool,
    ) -> Result<Self, EndpointRefused> {
        let e = d.endpoint_guid.entity;
        if (is_writer && !e.is_writer()) || (!is_writer && !e.is_reader()) {
            return Err(EndpointRefused::WrongKind);
        }
        let partitions = match &d.partition {
            Some(p) => Partitions::from_iter(p.iter()).ok_or(EndpointRefused::TooLarge)?,
            None => Partitions::empty(),
        };
        // DDSI defaults: writers reliable, readers best effort; volatile.
        let reliability = match d.reliability.map(|r| r.kind) {
            Some(ReliabilityKind::Reliable) => Reliability::Reliable,
            Some(ReliabilityKind::BestEffort) => Reliability::BestEffort,
            None if is_writer => Reliability::Reliable,
            None => Reliability::BestEffort,
        };
        let durability = match d.durability {
            Some(wire::DurabilityKind::Volatile) | None => Durability::Volatile,
            Some(_) => Durability::TransientLocal,
        };
        let us = |x: Option<wire::Duration>| x.and_then(|d| d.to_micros()).unwrap_or(u64::MAX);
        Ok(EndpointInfo {
            guid: d.endpoint_guid,
            is_writer,
            keyed: e.is_keyed(),
            topic: Name::new(d.topic_name).ok_or(EndpointRefused::TooLarge)?,
            type_name: Name::new(d.type_name).ok_or(EndpointRefused::TooLarge)?,
            partitions,
            reliability,
            durability,
            deadline_us: us(d.deadline),
            liveliness_us: us(d.liveliness.map(|l| l.lease_duration)),
            exclusive_ownership: d.ownership == Some(wire::Ownership::Exclusive),
            data_representation: d.data_representation.unwrap_or_default(),
            has_data_representation: d.data_representation.is_some(),
            locator: pick_locator(d.unicast_locators.as_slice(), prefer_tcp),
            #[cfg(feature = "ros")]
            type_hash: d.user_data.and_then(ros_type_hash),
        })
    }
}

#[cfg(all(test, feature = "ros"))]
mod ros_tests {
    extern crate std;
    use super::ros_type_hash;
    use std::format;

    #[test]
    fn type_hash_from_user_data() {
        let hex = "ab".repeat(32);
        let ud = format!("typehash=RIHS01_{hex};");
        assert_eq!(ros_type_hash(ud.as_bytes()), Some([0xab; 32]));
        let before = format!("enclave=/;typehash=RIHS01_{hex}");
        assert_eq!(ros_type_hash(before.as_bytes()), Some([0xab; 32]));
        assert_eq!(ros_type_hash(b"typehash=RIHS01_abc;"), None, "short");
        let bad = format!("typehash=RIHS01_{}zz;", "ab".repeat(31));
        assert_eq!(ros_type_hash(bad.as_bytes()), None, "not hex");
        let long = format!("typehash=RIHS01_{hex}00;");
        assert_eq!(ros_type_hash(long.as_bytes()), None, "too long");
        assert_eq!(ros_type_hash(b"enclave=/;"), None);
    }
}
