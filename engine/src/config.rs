//! Participant configuration.

use crate::capacity::{Capacities, CapacityError};
use crate::limits::{MAX_PEERS, MAX_USER_DATA};
use crate::stream::StreamConfig;
use crate::time::Span;
use crate::wire::GuidPrefix;
use core::fmt;

/// An initial unicast peer: an IPv4 address and, optionally, one port. Without a port the
/// engine announces to the metatraffic ports of participant ids `0..PEER_PARTICIPANT_IDS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Peer {
    /// IPv4 address.
    pub address: [u8; 4],
    /// A fixed port, or `None` to probe the well-known metatraffic ports.
    pub port: Option<u16>,
}

/// Everything a participant needs to start. Randomness (the GUID prefix) and addresses come from
/// the driver; the engine reads nothing from the world itself.
#[derive(Debug, Clone)]
pub struct Config {
    /// DDS domain id (0..=232).
    pub domain_id: u32,
    /// Participant id: picks the unicast ports (7410 + 250·d + 2·id and +1).
    pub participant_id: u16,
    /// Explicit metatraffic and user unicast ports announced instead of the participant id's
    /// (a relay's allocation, as `pollen relay` gives a browser); `None`: from the id. Both
    /// may be the same port, as Cyclone DDS announces by default: the driver then opens one
    /// unicast socket, not two (a microcontroller saves a socket's receive buffer).
    pub unicast_ports: Option<(u16, u16)>,
    /// This participant's GUID prefix; must be unique in the domain.
    pub guid_prefix: GuidPrefix,
    /// The IPv4 address announced in our locators (loopback by default).
    pub unicast_address: [u8; 4],
    /// Lease announced in SPDP; peers drop us if they hear nothing for this long.
    pub lease_duration: Span,
    /// Period of SPDP announcements.
    pub announce_period: Span,
    /// Period of HEARTBEATs while data is unacknowledged.
    pub heartbeat_period: Span,
    /// Initial unicast peers.
    pub peers: [Option<Peer>; MAX_PEERS],
    /// Announce to and listen on the SPDP multicast group.
    pub multicast: bool,
    /// Listen for RTPS over TCP (Cyclone DDS framing) on this port and announce TCPv4 locators
    /// beside the UDP ones.
    pub tcp_port: Option<u16>,
    /// Initial peers reached over TCP (a peer without a port probes the metatraffic ports).
    pub tcp_peers: [Option<Peer>; MAX_PEERS],
    /// When a remote announces both, send over TCP rather than UDP.
    pub prefer_tcp: bool,
    /// Largest datagram the engine emits.
    pub mtu: usize,
    /// Bytes per DATA_FRAG fragment for samples larger than that (shrunk to fit the MTU).
    pub fragment_size: usize,
    /// Participant USER_DATA.
    pub user_data: [u8; MAX_USER_DATA],
    /// Bytes of `user_data` in use.
    pub user_data_len: usize,
    /// The size of every table ([`Capacities::HOST`] unless changed).
    pub capacities: Capacities,
    /// The longest lease believed from a remote participant: an announced infinite or longer
    /// lease is clamped to this (and counted in `Stats::leases_clamped`), so a forged
    /// announcement occupies a table slot for at most this long unless renewed.
    pub max_remote_lease: Span,
    /// How long a reliable reader may make no acknowledgement progress, while a writer has
    /// sent it data it has not acknowledged, before that writer stops holding its history
    /// for it (a KEEP_ALL write is then no longer blocked by it), stops sending it new data
    /// and raises [`crate::Event::ReaderUnresponsive`]. It is served again as soon as it
    /// acknowledges something new.
    ///
    /// 20 s by default: twice the default lease, so a reader that went away with its
    /// participant is normally forgotten by its lease first, and far beyond the response
    /// time of any live reader (Cyclone's slowest heartbeat period is 8 s). What it costs is
    /// a reader whose application takes nothing from a full KEEP_ALL queue for this long: it
    /// no longer holds the writer back.
    pub unresponsive_reader_timeout: Span,
    /// A partially received (fragmented) sample that gets no new fragment for this long is
    /// dropped and its pool blocks freed; a reliable writer sends it again.
    pub reassembly_timeout: Span,
    /// The secret that keys the engine's hash indexes (participants, endpoints, matches,
    /// topics). Drivers fill it from the OS's random source, so that an attacker who knows
    /// our GUID prefix (it is in every datagram we send) cannot choose prefixes and GUIDs
    /// that collide in the indexes and make each lookup walk them. `None` derives it from the
    /// GUID prefix (deterministic, as SimNet and the tests want).
    pub hash_seed: Option<u64>,
    /// Limits and timers of stream connections (RTPS over TCP) kept by the engine's
    /// connection table (with `alloc`; see [`crate::stream::conn`]).
    pub stream: StreamConfig,
}

impl Config {
    /// Domain 0, loopback, multicast on, default timings.
    pub const fn new(guid_prefix: GuidPrefix) -> Config {
        Config {
            domain_id: 0,
            participant_id: 0,
            unicast_ports: None,
            guid_prefix,
            unicast_address: [127, 0, 0, 1],
            lease_duration: Span::from_secs(10),
            announce_period: Span::from_secs(3),
            heartbeat_period: Span::from_millis(100),
            peers: [None; MAX_PEERS],
            multicast: true,
            tcp_port: None,
            tcp_peers: [None; MAX_PEERS],
            prefer_tcp: false,
            mtu: 1472,
            fragment_size: 1344,
            user_data: [0; MAX_USER_DATA],
            user_data_len: 0,
            capacities: Capacities::HOST,
            max_remote_lease: Span::from_secs(300),
            unresponsive_reader_timeout: Span::from_secs(20),
            reassembly_timeout: Span::from_secs(5),
            hash_seed: None,
            stream: StreamConfig::DEFAULT,
        }
    }

    /// Adds an initial peer; false when the list is full.
    pub fn add_peer(&mut self, peer: Peer) -> bool {
        match self.peers.iter_mut().find(|p| p.is_none()) {
            Some(slot) => {
                *slot = Some(peer);
                true
            }
            None => false,
        }
    }

    /// Adds an initial peer reached over TCP; false when the list is full.
    pub fn add_tcp_peer(&mut self, peer: Peer) -> bool {
        match self.tcp_peers.iter_mut().find(|p| p.is_none()) {
            Some(slot) => {
                *slot = Some(peer);
                true
            }
            None => false,
        }
    }

    /// Sets the participant USER_DATA; false when it is too long.
    pub fn set_user_data(&mut self, data: &[u8]) -> bool {
        if data.len() > MAX_USER_DATA {
            return false;
        }
        self.user_data[..data.len()].copy_from_slice(data);
        self.user_data_len = data.len();
        true
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.domain_id > 232 {
            return Err(ConfigError::DomainId);
        }
        let top = ports::user_unicast(self.domain_id, self.participant_id);
        if top > u16::MAX as u32 {
            return Err(ConfigError::ParticipantId);
        }
        if matches!(self.unicast_ports, Some((m, u)) if m == 0 || u == 0) {
            return Err(ConfigError::ParticipantId);
        }
        if self.mtu < 512 || self.mtu > 65_507 {
            return Err(ConfigError::Mtu);
        }
        if self.guid_prefix == GuidPrefix::UNKNOWN {
            return Err(ConfigError::GuidPrefix);
        }
        if self.lease_duration.micros() < 1_000_000 || self.announce_period.micros() == 0 {
            return Err(ConfigError::Timing);
        }
        if self.heartbeat_period.micros() == 0
            || self.max_remote_lease.micros() < 1_000_000
            || self.unresponsive_reader_timeout.micros() == 0
            || self.reassembly_timeout.micros() == 0
            || !self.stream.is_valid()
        {
            return Err(ConfigError::Timing);
        }
        self.capacities.validate().map_err(ConfigError::Capacity)?;
        Ok(())
    }
}

/// Why a configuration was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// Domain id above 232.
    DomainId,
    /// Participant id puts the ports above 65535.
    ParticipantId,
    /// MTU outside 512..=65507.
    Mtu,
    /// GUID prefix all zero.
    GuidPrefix,
    /// A zero period or timeout, a lease or `max_remote_lease` under one second, or more than
    /// 65 535 stream connections.
    Timing,
    /// Unusable capacities, or caller storage too short for them.
    Capacity(CapacityError),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let ConfigError::Capacity(e) = self {
            return e.fmt(f);
        }
        f.write_str(match self {
            ConfigError::DomainId => "domain id must be at most 232",
            ConfigError::ParticipantId => {
                "participant id puts the ports above 65535 (or explicit unicast ports are 0 or equal)"
            },
            ConfigError::Mtu => "mtu must be within 512..=65507",
            ConfigError::GuidPrefix => "guid prefix must not be all zero",
            ConfigError::Timing => "periods must be non-zero and the lease at least 1 s",
            ConfigError::Capacity(_) => "capacities",
        })
    }
}

impl core::error::Error for ConfigError {}

/// The RTPS port mapping (PB 7400, DG 250, PG 2, d0 0, d1 10, d2 1, d3 11).
pub mod ports {
    /// SPDP multicast group 239.255.0.1.
    pub const SPDP_MULTICAST_GROUP: [u8; 4] = [239, 255, 0, 1];

    /// Multicast metatraffic (SPDP) port.
    pub const fn spdp_multicast(domain: u32) -> u32 {
        7400 + 250 * domain
    }

    /// Unicast metatraffic port of a participant.
    pub const fn metatraffic_unicast(domain: u32, participant: u16) -> u32 {
        7400 + 250 * domain + 10 + 2 * participant as u32
    }

    /// Unicast user-data port of a participant.
    pub const fn user_unicast(domain: u32, participant: u16) -> u32 {
        7400 + 250 * domain + 11 + 2 * participant as u32
    }
}
