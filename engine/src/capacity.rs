//! Every capacity of the engine, chosen when it is created.
//!
//! One [`Capacities`] value sizes every table. With the `alloc` feature the engine allocates
//! what it needs at creation and grows each table on demand up to its maximum, on discovery or
//! endpoint creation, never on the message path. Without `alloc` the caller hands the storage in
//! ([`crate::Storage`]), sized by the same value. A full table refuses by a documented policy and
//! says so with [`crate::Event::Refused`]; it never locks.
//!
//! What one entry costs is given per field (x86_64; `cargo test -p pollen-engine capacity_table
//! -- --nocapture` prints the exact figures, and the README's table is checked against them).

use crate::limits::MAX_SET_BITS;

/// The sizes of every table of one engine. Start from a preset ([`Capacities::MICRO`],
/// [`Capacities::HOST`]) and change what you need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacities {
    /// Remote participants tracked at once (about 360 B each with their three builtin writer
    /// proxies and three builtin reader proxies). When full, a newcomer takes the place of the
    /// quietest participant that never answered (sent nothing but SPDP from the addresses it
    /// announced: what a forged announcement looks like, matched or not), else of the quietest
    /// that has no matched endpoint; otherwise it is refused and learnt again from its next
    /// announcement. Leases are clamped to `Config::max_remote_lease`.
    pub participants: usize,
    /// Remote user endpoints remembered from SEDP (about 640 B each). When full, an endpoint
    /// that matches a local one takes the place of one that matches nothing, else of the newest
    /// endpoint of the participant holding the most when that holds at least two more than the
    /// newcomer's (one participant cannot fill the table against another); otherwise it is
    /// refused and requested again once there is room.
    pub remote_endpoints: usize,
    /// Local user writers (about 200 B each, plus their history and proxies).
    pub writers: usize,
    /// Local user readers (about 200 B each, plus their sample slots and proxies).
    pub readers: usize,
    /// Matched pairs of a local user endpoint and a remote one, over all local endpoints
    /// (about 170 B each). When full, a new match ends one of the participant holding the most
    /// matches when that holds at least two more than the newcomer's; otherwise it is refused
    /// and formed once a match ends.
    pub matches: usize,
    /// Largest history of one writer: the bound of KEEP_LAST depth and of KEEP_ALL
    /// `max_samples` (about 48 B a sample, plus its payload in the pool).
    pub history: usize,
    /// Largest sample queue of one reader, delivered and out-of-order samples together (about
    /// 64 B a slot, plus the payload in the pool).
    pub reader_samples: usize,
    /// Bytes of one payload-pool block.
    pub pool_block: usize,
    /// Blocks in the payload pool shared by every history, reader queue and reassembly (each
    /// costs `pool_block` + 4 B).
    pub pool_blocks: usize,
    /// Largest sample sent or reassembled, including its 4-byte encapsulation header.
    pub max_sample: usize,
    /// Partially received samples held per reader (each `max_sample / fragment_size / 8` B of
    /// bitmap plus 96 B, and pool blocks up to its furthest fragment received while it is
    /// incomplete). The partial samples of one remote writer hold at most a quarter of the
    /// pool (at least one `max_sample` when the pool holds it); when all are taken the stalest
    /// makes way, and one without progress for `Config::reassembly_timeout` is dropped.
    pub reassemblies: usize,
    /// Pending application events (24 B each); beyond this, events are dropped and counted.
    pub events: usize,
    /// Bytes a writer may have sent to one reliable reader without acknowledgement before it
    /// waits (flow control; the sample being sent always completes).
    pub in_flight: usize,
    /// Largest SPDP/SEDP sample processed (1 B each, once, to parse it; larger discovery data
    /// is dropped and counted). Real peers send 200 B to 2 KiB. The same buffer holds each
    /// SEDP announcement of a local endpoint while it is serialized (at most 1 KiB): an
    /// endpoint whose announcement does not fit is refused.
    pub discovery_data: usize,
}

impl Capacities {
    /// A microcontroller: one writer, one reader, eight remote participants, eight remote
    /// endpoints (those that match ours evict the others), a 4 KiB pool and samples up to
    /// 2 KiB (half the pool, so one can be sent or reassembled while the other half holds
    /// history and discovery).
    ///
    /// Built without the `frag` feature a sample must fit one datagram, so nothing larger
    /// than an MTU is ever sent or reassembled: the preset then has a 2 KiB pool and samples
    /// up to 1 KiB (still half the pool), 2 KiB of RAM less.
    pub const MICRO: Capacities = Capacities {
        participants: 8,
        remote_endpoints: 8,
        writers: 1,
        readers: 1,
        matches: 8,
        history: 8,
        reader_samples: 8,
        pool_block: 128,
        pool_blocks: if cfg!(feature = "frag") { 32 } else { 16 },
        max_sample: if cfg!(feature = "frag") {
            2 << 10
        } else {
            1 << 10
        },
        reassemblies: 1,
        events: 16,
        in_flight: 4 << 10,
        discovery_data: 2048,
    };

    /// A host in a large ROS 2 system: a thousand remote participants, twenty thousand remote
    /// endpoints, a thousand local writers and readers, a 16 MiB pool (allocated zeroed, so the
    /// operating system maps only the pages used) and samples up to 4 MiB. Tables start empty
    /// and grow as they fill.
    pub const HOST: Capacities = Capacities {
        participants: 1000,
        remote_endpoints: 20_000,
        writers: 1000,
        readers: 1000,
        matches: 20_000,
        history: 64,
        reader_samples: 64,
        pool_block: 1024,
        pool_blocks: 16 << 10,
        max_sample: 4 << 20,
        reassemblies: 4,
        events: 1024,
        in_flight: 2 << 20,
        discovery_data: crate::limits::MAX_DISCOVERY_DATA,
    };

    /// Fragments of one sample a reader tracks, for a given fragment size.
    pub(crate) const fn max_fragments(&self, fragment_size: usize) -> usize {
        let f = if fragment_size == 0 { 1 } else { fragment_size };
        self.max_sample.div_ceil(f)
    }

    /// Words of fragment bitmap per reassembly. Samples are split into fragments of at least
    /// [`MIN_FRAGMENT`] bytes, or refused.
    pub(crate) const fn fragment_words(&self) -> usize {
        self.max_fragments(MIN_FRAGMENT).div_ceil(32)
    }

    /// Sample slots of the participant-message reader: 2 whatever the tables. A remote
    /// participant's liveliness message comes every half lease and is consumed as it arrives,
    /// so the slots only hold one that arrives out of order; one that finds them full is
    /// repaired by its writer later (and SPDP keeps the participant alive meanwhile).
    pub(crate) const fn pmd_reader_samples(&self) -> usize {
        2
    }

    /// Samples the builtin SEDP writers keep: one announcement per local endpoint, and room for
    /// the withdrawals of deleted ones not acknowledged yet (a withdrawal replaces its
    /// endpoint's announcement; once the history is full the oldest withdrawal gives way).
    /// The room is proportional up to 8: as many withdrawals as there are endpoints (all of
    /// them deleted at once), at least 1, at most 8 (what it was for every table size, which
    /// a table of one or two endpoints paid for with 6 or 7 idle slots).
    pub(crate) const fn sedp_history(&self, endpoints: usize) -> usize {
        let room = if endpoints < 1 {
            1
        } else if endpoints > 8 {
            8
        } else {
            endpoints
        };
        endpoints + room
    }

    /// Sample slots of each builtin SEDP reader: SEDP samples are consumed as they arrive; the
    /// slots hold what arrives out of order.
    pub(crate) const fn builtin_reader_samples(&self) -> usize {
        let p = if self.participants < 8 {
            8
        } else {
            self.participants
        };
        if p > MAX_SET_BITS as usize {
            MAX_SET_BITS as usize
        } else {
            p
        }
    }

    /// Checks the values are usable.
    pub(crate) fn validate(&self) -> Result<(), CapacityError> {
        let zero = [
            (self.participants, "participants"),
            (self.writers + self.readers, "writers + readers"),
            (self.history, "history"),
            (self.reader_samples, "reader_samples"),
            (self.pool_block, "pool_block"),
            (self.pool_blocks, "pool_blocks"),
            (self.max_sample, "max_sample"),
            (self.events, "events"),
            (self.discovery_data, "discovery_data"),
        ];
        for (v, what) in zero {
            if v == 0 {
                return Err(CapacityError::Zero(what));
            }
        }
        if self.pool_blocks >= u32::MAX as usize
            || self.participants > MAX_INDEX
            || self.remote_endpoints > MAX_INDEX
            || self.matches > MAX_INDEX
            || self.writers > MAX_LOCAL
            || self.readers > MAX_LOCAL
            || self.history > u16::MAX as usize
            || self.reader_samples > u16::MAX as usize
            || self.max_sample > u32::MAX as usize / 2
            || self.discovery_data > crate::limits::MAX_DISCOVERY_DATA
        {
            return Err(CapacityError::TooLarge);
        }
        Ok(())
    }
}

impl Default for Capacities {
    fn default() -> Self {
        Capacities::HOST
    }
}

/// Smallest DATA_FRAG fragment a reader accepts: bounds its fragment bitmaps.
pub(crate) const MIN_FRAGMENT: usize = 512;
/// Largest index of a participant, remote endpoint or match table.
pub(crate) const MAX_INDEX: usize = 1 << 24;
/// Largest number of local writers or readers (entity keys carry the slot in 16 bits).
pub(crate) const MAX_LOCAL: usize = 0xfffe;

/// Why a [`Capacities`] value or a caller's storage was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CapacityError {
    /// A capacity that must be at least 1 is 0.
    Zero(&'static str),
    /// A capacity beyond what the engine's indices can address.
    TooLarge,
    /// The caller's storage for this table is shorter than the capacities need.
    Storage(&'static str),
}

impl core::fmt::Display for CapacityError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CapacityError::Zero(what) => write!(f, "capacity `{what}` must be at least 1"),
            CapacityError::TooLarge => f.write_str("a capacity is beyond what the engine indexes"),
            CapacityError::Storage(what) => {
                write!(f, "storage `{what}` is too short for the capacities")
            }
        }
    }
}

impl core::error::Error for CapacityError {}

/// The README's capacity table, produced from the presets and the sizes of the slot types
/// (without `alloc`: the figures of caller-provided storage; `scripts/test.sh` runs it so).
#[cfg(all(test, not(feature = "alloc")))]
pub(crate) mod table {
    extern crate std;
    use super::Capacities;
    use crate::engine::{Engine, ReaderSlot, StorageSizes, WriterSlot};
    use crate::{
        EventSlot, HistorySlot, ParticipantSlot, ReaderProxySlot, ReassemblySlot,
        RemoteEndpointSlot, SampleSlot, WriterProxySlot,
    };
    use core::mem::size_of;
    use std::format;
    use std::string::String;

    /// Bytes of the whole storage an engine with `c` needs at most.
    pub(crate) fn storage_bytes(c: &Capacities) -> usize {
        StorageSizes::of(c).bytes()
    }

    fn kib(n: usize) -> String {
        if n >= 10 << 20 {
            format!("{:.1} MiB", n as f64 / (1 << 20) as f64)
        } else {
            format!("{:.1} KiB", n as f64 / 1024.0)
        }
    }

    /// The markdown table.
    pub(crate) fn markdown() -> String {
        let m = Capacities::MICRO;
        let h = Capacities::HOST;
        let mut t = String::from("| capacity (`Capacities` field) | one entry | `MICRO` | `HOST` |\n|---|---:|---:|---:|\n");
        let rows: [(&str, usize, usize, usize); 11] = [
            (
                "remote participants (`participants`)",
                size_of::<ParticipantSlot>(),
                m.participants,
                h.participants,
            ),
            (
                "remote endpoints (`remote_endpoints`)",
                size_of::<RemoteEndpointSlot>(),
                m.remote_endpoints,
                h.remote_endpoints,
            ),
            (
                "local writers (`writers`)",
                size_of::<WriterSlot<'static>>(),
                m.writers,
                h.writers,
            ),
            (
                "local readers (`readers`)",
                size_of::<ReaderSlot<'static>>(),
                m.readers,
                h.readers,
            ),
            (
                "matched pairs (`matches`)",
                size_of::<ReaderProxySlot>().max(size_of::<WriterProxySlot>()),
                m.matches,
                h.matches,
            ),
            (
                "history per writer (`history`)",
                size_of::<HistorySlot>(),
                m.history,
                h.history,
            ),
            (
                "samples per reader (`reader_samples`)",
                size_of::<SampleSlot>(),
                m.reader_samples,
                h.reader_samples,
            ),
            (
                "pool blocks (`pool_blocks`)",
                4,
                m.pool_blocks,
                h.pool_blocks,
            ),
            (
                "pool block bytes (`pool_block`)",
                1,
                m.pool_block,
                h.pool_block,
            ),
            (
                "partial samples per reader (`reassemblies`)",
                size_of::<ReassemblySlot>(),
                m.reassemblies,
                h.reassemblies,
            ),
            (
                "queued events (`events`)",
                size_of::<EventSlot>(),
                m.events,
                h.events,
            ),
        ];
        for (name, one, a, b) in rows {
            t += &format!("| {name} | {one} B | {a} | {b} |\n");
        }
        t += &format!(
            "| largest sample (`max_sample`) | | {} | {} |\n",
            kib(m.max_sample),
            kib(h.max_sample)
        );
        t += &format!(
            "| unacknowledged bytes per reliable reader (`in_flight`) | | {} | {} |\n",
            kib(m.in_flight),
            kib(h.in_flight)
        );
        t += &format!(
            "| **every table full** (caller storage for `with_storage`) | | **{}** | **{}** |\n",
            kib(storage_bytes(&m)),
            kib(storage_bytes(&h))
        );
        t += &format!(
            "| `size_of::<Engine>()` (the tables live in the storage) | | {} B | {} B |\n",
            size_of::<Engine<'static>>(),
            size_of::<Engine<'static>>()
        );
        t
    }

    /// The README's table between its markers is exactly what the presets give.
    #[test]
    fn capacity_table() {
        let table = markdown();
        std::println!("{table}");
        let readme = include_str!("../../README.md");
        let start = "<!-- capacity-table:start -->\n";
        let end = "<!-- capacity-table:end -->";
        let a = readme
            .find(start)
            .expect("README has the capacity-table markers")
            + start.len();
        let b = readme[a..]
            .find(end)
            .expect("README closes the capacity table")
            + a;
        assert!(
            readme[a..b] == table,
            "README's capacity table is stale; replace it with:\n{table}"
        );
    }
}
