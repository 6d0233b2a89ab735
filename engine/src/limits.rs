//! Fixed bounds of the wire-facing records: name lengths, partitions, user data, peers. They
//! size inline fields, so they are constants; every table size is a run-time value in
//! [`crate::Capacities`].

pub use crate::wire::MAX_SET_BITS;

/// Initial unicast peers.
pub const MAX_PEERS: usize = 8;
/// For a peer without a port: participant ids probed (metatraffic ports 7410 + 2i).
pub const PEER_PARTICIPANT_IDS: u16 = 10;
/// Partitions per endpoint (two without the `long-names` feature).
#[cfg(feature = "long-names")]
pub const MAX_PARTITIONS: usize = 4;
/// Partitions per endpoint (four with the `long-names` feature).
#[cfg(not(feature = "long-names"))]
pub const MAX_PARTITIONS: usize = 2;
/// Bytes of a topic or type name (longer names are refused or, from remote, dropped and
/// counted); 64 without the `long-names` feature.
#[cfg(feature = "long-names")]
pub const MAX_NAME: usize = 128;
/// Bytes of a topic or type name (longer names are refused or, from remote, dropped and
/// counted); 128 with the `long-names` feature.
#[cfg(not(feature = "long-names"))]
pub const MAX_NAME: usize = 64;
/// Bytes of a partition name (32 without the `long-names` feature).
#[cfg(feature = "long-names")]
pub const MAX_PARTITION_NAME: usize = 64;
/// Bytes of a partition name (64 with the `long-names` feature).
#[cfg(not(feature = "long-names"))]
pub const MAX_PARTITION_NAME: usize = 32;
/// Bytes of USER_DATA of this participant, and remembered per remote participant (longer
/// remote user data is not kept).
pub const MAX_USER_DATA: usize = 64;
/// The largest [`crate::Capacities::discovery_data`]: SPDP/SEDP parameter lists beyond it are
/// never processed.
pub const MAX_DISCOVERY_DATA: usize = 8192;
