//! Every capacity of the engine, in one place.
//!
//! The engine's memory is `size_of::<Engine>()` (plus, with `alloc`, the payload pool allocated
//! once at creation) and nothing else: these constants fix it at build time. A full table
//! refuses new entries (an error for application calls, a counted drop for remote input); it
//! never grows. The README lists each with what it costs.
//!
//! Three profiles, picked by cargo features: the default (a few hundred KiB: hosts and larger
//! devices), `small` (tens of KiB: microcontrollers, one writer and one reader) and `large`
//! (an 8 MiB pool for samples up to 4 MiB on hosts).

#[cfg(all(feature = "small", feature = "large"))]
compile_error!("the `small` and `large` capacity profiles exclude each other");

/// Picks a value per profile: (small, default, large).
const fn pick(small: usize, default: usize, large: usize) -> usize {
    if cfg!(feature = "small") {
        small
    } else if cfg!(feature = "large") {
        large
    } else {
        default
    }
}

/// Remote participants tracked at once. A new one beyond this is dropped and counted until a
/// lease expires.
pub const MAX_PARTICIPANTS: usize = pick(8, 32, 32);
/// Local user writers.
pub const MAX_WRITERS: usize = pick(1, 8, 8);
/// Local user readers.
pub const MAX_READERS: usize = pick(1, 8, 8);
/// Remote user endpoints (writers and readers together) remembered from SEDP.
pub const MAX_REMOTE_ENDPOINTS: usize = pick(8, 64, 64);
/// Matched remote endpoints per local endpoint (reader proxies of a writer, writer proxies of a
/// reader). Builtin SEDP endpoints have one per remote participant.
pub const MAX_MATCHED: usize = MAX_PARTICIPANTS;
/// Samples a writer's history can hold (the upper bound of KEEP_LAST depth and KEEP_ALL).
pub const MAX_HISTORY: usize = pick(8, 64, 64);
/// Samples a reader holds for `take`, plus out-of-order samples waiting for a gap to fill.
pub const MAX_READER_SAMPLES: usize = pick(8, 64, 64);
/// Initial unicast peers.
pub const MAX_PEERS: usize = pick(2, 8, 8);
/// For a peer without a port: participant ids probed (metatraffic ports 7410 + 2i).
pub const PEER_PARTICIPANT_IDS: u16 = 10;
/// Partitions per endpoint.
pub const MAX_PARTITIONS: usize = pick(1, 4, 4);
/// Bytes of a topic or type name (longer names are refused or, from remote, dropped).
pub const MAX_NAME: usize = pick(64, 128, 128);
/// Bytes of a partition name.
pub const MAX_PARTITION_NAME: usize = pick(32, 64, 64);
/// Bytes of USER_DATA of this participant, and remembered per remote participant (longer
/// remote user data is not kept).
pub const MAX_USER_DATA: usize = pick(32, 64, 64);
/// Bytes of one payload-pool block.
pub const POOL_BLOCK: usize = pick(128, 256, 1024);
/// Blocks in the payload pool shared by all histories, reader queues and reassembly buffers:
/// 16 KiB small, 256 KiB default, 8 MiB large.
pub const POOL_BLOCKS: usize = pick(128, 1024, 8192);
/// Largest sample the engine sends or reassembles, including the 4-byte encapsulation header.
/// Samples larger than a fragment travel as DATA_FRAG.
pub const MAX_SAMPLE: usize = pick(4 << 10, 64 << 10, 4 << 20);
/// Largest discovery payload (SPDP/SEDP parameter list) the engine processes.
pub const MAX_DISCOVERY_DATA: usize = pick(2048, 8192, 8192);
/// Fragments of one sample a reader tracks (bounds the reassembly bitmap).
pub const MAX_FRAGMENTS: usize = pick(64, 4096, 4096);
/// Partially received samples held per reader; beyond that the one with the highest sequence
/// number is evicted (it will be repaired) or the newcomer is dropped.
pub const MAX_REASSEMBLIES: usize = pick(1, 4, 4);
/// Pending application events; beyond this, events are dropped and counted.
pub const MAX_EVENTS: usize = pick(16, 64, 64);
/// Bytes a writer may have sent to one reliable reader without acknowledgement before it
/// waits (flow control; the sample being sent always completes).
pub const MAX_IN_FLIGHT: usize = pick(8 << 10, 128 << 10, 2 << 20);

/// `v` bounded to `lo..=hi`, usable in constants.
pub(crate) const fn clamp(v: usize, lo: usize, hi: usize) -> usize {
    if v < lo {
        lo
    } else if v > hi {
        hi
    } else {
        v
    }
}
