//! Every capacity of the engine, in one place.
//!
//! The engine's memory is `size_of::<Engine>()` and nothing else: these constants fix it at
//! build time. A full table refuses new entries (an error for application calls, a counted drop
//! for remote input); it never grows. The README lists each with what it costs.

/// Remote participants tracked at once. A new one beyond this is dropped and counted until a
/// lease expires.
pub const MAX_PARTICIPANTS: usize = 32;
/// Local user writers.
pub const MAX_WRITERS: usize = 8;
/// Local user readers.
pub const MAX_READERS: usize = 8;
/// Remote user endpoints (writers and readers together) remembered from SEDP.
pub const MAX_REMOTE_ENDPOINTS: usize = 64;
/// Matched remote endpoints per local endpoint (reader proxies of a writer, writer proxies of a
/// reader). Builtin SEDP endpoints have one per remote participant.
pub const MAX_MATCHED: usize = MAX_PARTICIPANTS;
/// Samples a writer's history can hold (the upper bound of KEEP_LAST depth and KEEP_ALL).
pub const MAX_HISTORY: usize = 64;
/// Samples a reader holds for `take`, plus out-of-order samples waiting for a gap to fill.
pub const MAX_READER_SAMPLES: usize = 64;
/// Initial unicast peers.
pub const MAX_PEERS: usize = 8;
/// For a peer without a port: participant ids probed (metatraffic ports 7410 + 2i).
pub const PEER_PARTICIPANT_IDS: u16 = 10;
/// Partitions per local endpoint.
pub const MAX_PARTITIONS: usize = 4;
/// Bytes of a topic or type name (longer names are refused or, from remote, dropped).
pub const MAX_NAME: usize = 128;
/// Bytes of a partition name.
pub const MAX_PARTITION_NAME: usize = 64;
/// Bytes of user data per participant or endpoint.
pub const MAX_USER_DATA: usize = 64;
/// Bytes of one payload-pool block.
pub const POOL_BLOCK: usize = if cfg!(feature = "large") { 1024 } else { 256 };
/// Blocks in the payload pool shared by all histories, reader queues and reassembly buffers:
/// 256 KiB by default, 8 MiB with the `large` feature (for 1 MiB samples on hosts).
pub const POOL_BLOCKS: usize = if cfg!(feature = "large") { 8192 } else { 1024 };
/// Largest sample the engine sends or reassembles, including the 4-byte encapsulation header:
/// 64 KiB by default, 4 MiB with the `large` feature. Samples larger than a fragment travel as
/// DATA_FRAG.
pub const MAX_SAMPLE: usize = if cfg!(feature = "large") {
    4 << 20
} else {
    64 << 10
};
/// Largest discovery payload (SPDP/SEDP parameter list) the engine processes.
pub const MAX_DISCOVERY_DATA: usize = 8192;
/// Fragments of one sample a reader tracks (bounds the reassembly bitmap).
pub const MAX_FRAGMENTS: usize = 4096;
/// Partially received samples held per reader; beyond that the one with the highest sequence
/// number is evicted (it will be repaired) or the newcomer is dropped.
pub const MAX_REASSEMBLIES: usize = 4;
/// Pending application events; beyond this, events are dropped and counted.
pub const MAX_EVENTS: usize = 64;
/// Remote participants a new one is announced to by directed SPDP at once.
pub const MAX_DIRECTED_SPDP: usize = 4;
/// Bytes a writer may have sent to one reliable reader without acknowledgement before it
/// waits (flow control; the sample being sent always completes).
pub const MAX_IN_FLIGHT: usize = if cfg!(feature = "large") {
    2 << 20
} else {
    128 << 10
};
