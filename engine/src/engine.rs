//! The engine: one participant's whole state and the contract of DESIGN.md §2.
//!
//! This file holds the state, construction, the dispatch of every input to its handler and the
//! application calls. Discovery lives in `discovery/` (SPDP, SEDP, leases, matching), the
//! order of owed work in `schedule.rs`, deadlines in `timer.rs`.

use crate::capacity::{Capacities, CapacityError};
use crate::config::{ports, Config, ConfigError};
use crate::discovery::{EndpointInfo, Name, ParticipantSlot, Partitions, RemoteEndpointSlot};
use crate::event::{Event, EventQueue, EventSlot, ReaderHandle, WriterHandle};
use crate::limits::*;
use crate::map::{self, IndexMap, MapSlot};
use crate::pool::Pool;
use crate::qos::{Durability, History, ReaderQos, Reliability, TopicSpec, WriterQos};
use crate::reader::{
    Claims, Incoming, Payload, Reader, ReaderStorage, ReassemblySlot, Received, SampleSlot,
    WriterProxySlot,
};
use crate::schedule::{Local, Work, WorkQueue};
use crate::stats::Stats;
use crate::storage::{filled, Arena, Entry, Slab, Slots, NONE};
use crate::stream::{CycloneFraming, Deframe, Framing, StreamId};
use crate::time::{Instant, Span};
use crate::timer::{Layout, Timer, TimerSlot, Timers};
use crate::transmit::{self, Destination, Transmit};
use crate::wire::{
    AckNackRepr, DataFragRepr, DataRepr, DataRepresentations, EntityId, Error as WireError,
    GapRepr, Guid, GuidPrefix, HeaderRepr, HeartbeatRepr, InfoDstRepr, InlineQos, Locator,
    LocatorKind, Message, MessageBuilder, NackFragRepr, ProtocolVersion, SampleIdentity,
    SequenceNumber, StatusInfo, SubmessageRepr, Time, VendorId,
};
use crate::writer::{AckNote, AddError, HistorySlot, ReaderProxySlot, Tick, Writer, WriterStorage};
#[cfg(feature = "frag")]
use crate::{reader::IncomingFrag, wire::ParameterListIter};
use core::fmt;

/// Bytes a datagram must still have free for the next queued work to ride in it: the largest
/// INFO_DST (16), ACKNACK (60, a full 256-bit set) and NACK_FRAG (64) together.
const BUNDLE_ROOM: usize = 16 + 60 + 64;

pub(crate) const SEDP_PUB: usize = 0;
pub(crate) const SEDP_SUB: usize = 1;
pub(crate) const PMD: usize = 2;
/// The kinds of builtin endpoints in use (each a writer and a reader, indexed as above): the
/// SEDP pair, and the participant-message one with the `liveliness` feature. Without it the
/// participant-message writer and reader stay idle, with no tables.
pub(crate) const BUILTIN_KINDS: usize = if cfg!(feature = "liveliness") { 3 } else { 2 };
pub(crate) const BUILTIN_WRITER_IDS: [EntityId; 3] = [
    EntityId::SEDP_PUB_WRITER,
    EntityId::SEDP_SUB_WRITER,
    EntityId::PMD_WRITER,
];
pub(crate) const BUILTIN_READER_IDS: [EntityId; 3] = [
    EntityId::SEDP_PUB_READER,
    EntityId::SEDP_SUB_READER,
    EntityId::PMD_READER,
];

/// Why `write`, `dispose` or `unregister` failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WriteError {
    /// No such writer.
    UnknownWriter,
    /// Larger than `Capacities::max_sample`.
    TooLarge,
    /// KEEP_ALL history full of unacknowledged samples: retry after acknowledgements.
    HistoryFull,
    /// The payload pool is full.
    OutOfMemory,
    /// Dispose/unregister on a keyless topic.
    NotKeyed,
    /// A related sample identity without the engine's `rpc` feature.
    Unsupported,
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WriteError::UnknownWriter => "unknown writer",
            WriteError::TooLarge => "sample too large",
            WriteError::HistoryFull => "history full of unacknowledged samples",
            WriteError::OutOfMemory => "payload pool full",
            WriteError::NotKeyed => "dispose and unregister need a keyed topic",
            WriteError::Unsupported => "related sample identities need the `rpc` feature",
        })
    }
}

impl core::error::Error for WriteError {}

/// Why `create_writer` or `create_reader` failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CreateError {
    /// All writer or reader slots are in use.
    TooManyEndpoints,
    /// A name or partition list exceeds the fixed capacities.
    TooLarge,
    /// A history depth of 0, or above `Capacities::history` (writers) or
    /// `Capacities::reader_samples` (readers).
    BadQos,
    /// The endpoint's SEDP announcement does not fit the payload pool (or, built without the
    /// `frag` feature, one datagram):
    /// without it no remote participant could ever match the endpoint.
    NoAnnouncementSpace,
}

impl fmt::Display for CreateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CreateError::TooManyEndpoints => "no free endpoint slot",
            CreateError::TooLarge => "topic, type or partition names too long or too many",
            CreateError::BadQos => "history depth must be at least 1 and within the capacities",
            CreateError::NoAnnouncementSpace => {
                "no room in the payload pool for the endpoint's discovery announcement"
            }
        })
    }
}

impl core::error::Error for CreateError {}

/// Why `take` failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TakeError {
    /// No such reader.
    UnknownReader,
    /// The next sample needs `needed` bytes; it stays queued.
    BufferTooSmall {
        /// Bytes required.
        needed: usize,
    },
}

impl fmt::Display for TakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TakeError::UnknownReader => f.write_str("unknown reader"),
            TakeError::BufferTooSmall { needed } => {
                write!(f, "buffer too small: {} bytes needed", needed)
            }
        }
    }
}

impl core::error::Error for TakeError {}

/// The state of the instance a sample belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceState {
    /// A normal sample.
    Alive,
    /// The writer disposed the instance.
    Disposed,
    /// The writer unregistered the instance.
    Unregistered,
}

/// What `take` says about the sample it copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleInfo {
    /// The writer.
    pub writer: Guid,
    /// Its sequence number.
    pub sn: SequenceNumber,
    /// The writer's source timestamp (INFO_TS).
    pub source_timestamp: Option<Time>,
    /// Bytes copied (the serialized payload with its encapsulation header, or for a dispose
    /// or unregister the serialized key, possibly empty).
    pub len: usize,
    /// Instance state carried by the sample.
    pub state: InstanceState,
    /// Key hash, when the writer sent one.
    pub key_hash: Option<[u8; 16]>,
    /// The request this sample answers, when the writer sent one (a reply of a ROS 2 service
    /// over Fast DDS names its request so; a request names the client's reply reader). Always
    /// `None` without the `rpc` feature.
    pub related: Option<SampleIdentity>,
}

/// A remote participant as `Engine::participants` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParticipantSummary {
    /// Its GUID prefix.
    pub guid_prefix: GuidPrefix,
    /// Its vendor.
    pub vendor: VendorId,
    /// Its protocol version.
    pub version: ProtocolVersion,
    /// Its lease.
    pub lease: Span,
    user_data: [u8; MAX_USER_DATA],
    user_data_len: u8,
}

impl ParticipantSummary {
    /// Its USER_DATA (empty when it sent none or more than `MAX_USER_DATA` bytes). Tools use
    /// it to recognise peers: ddsperf announces `DDSPerf:<H>:<pid>:<host>`, ROS 2
    /// `enclave=/;`.
    pub fn user_data(&self) -> &[u8] {
        &self.user_data[..self.user_data_len as usize]
    }
}

/// A remote user endpoint as `Engine::remote_endpoints` reports it.
#[derive(Debug, Clone, Copy)]
pub struct EndpointSummary<'a> {
    /// Its GUID.
    pub guid: Guid,
    /// A writer (publication) or a reader (subscription).
    pub is_writer: bool,
    /// Topic name.
    pub topic: &'a str,
    /// Type name.
    pub type_name: &'a str,
    /// Keyed (from its entity kind).
    pub keyed: bool,
    /// Reliability (DDSI defaults applied when it did not say).
    pub reliability: Reliability,
    /// Durability.
    pub durability: Durability,
    /// The ROS 2 type hash it announced (`typehash=RIHS01_…` in USER_DATA); always `None`
    /// without the `ros` feature.
    pub type_hash: Option<[u8; 32]>,
    /// Number of partitions (see `partitions`).
    partitions: &'a crate::discovery::Partitions,
}

impl<'a> EndpointSummary<'a> {
    /// Its partitions; empty means the default partition.
    pub fn partitions(&self) -> impl Iterator<Item = &'a str> + 'a {
        self.partitions.iter()
    }
}

/// What a driver must open: a socket per entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenLocator {
    /// Address and port (for multicast, the group and port).
    pub locator: Locator,
    /// A multicast group to join.
    pub multicast: bool,
    /// Discovery traffic (true) or user data (false).
    pub metatraffic: bool,
}

pub(crate) struct LocalWriter<'a> {
    pub info: EndpointInfo,
    pub writer: Writer<'a>,
    /// The entity key: its slot and a generation.
    pub key: u32,
    /// Neighbours among the local endpoints on the same topic (by name hash), as
    /// [`Local`] keys.
    pub prev_topic: u32,
    pub next_topic: u32,
}

pub(crate) struct LocalReader<'a> {
    pub info: EndpointInfo,
    pub reader: Reader<'a>,
    pub key: u32,
    pub prev_topic: u32,
    pub next_topic: u32,
}

/// One local writer; public so that a caller without `alloc` can provide them. A vacant slot
/// keeps the caller-storage runs of the writer that had it, for the next one.
pub struct WriterSlot<'a>(
    pub(crate) Entry<LocalWriter<'a>>,
    pub(crate) Option<(Slots<'a, HistorySlot>, Slots<'a, ReaderProxySlot>)>,
);
/// One local reader; public so that a caller without `alloc` can provide them (see
/// [`WriterSlot`]).
pub struct ReaderSlot<'a>(
    pub(crate) Entry<LocalReader<'a>>,
    pub(crate) Option<crate::reader::ReaderRuns<'a>>,
);

macro_rules! local_slot {
    ($name:ident, $inner:ident) => {
        impl $name<'_> {
            /// An unused slot.
            pub const EMPTY: Self = $name(Entry::Vacant(NONE), None);

            /// An unused slot, made at run time (see
            /// [`ParticipantSlot::vacant`](crate::ParticipantSlot::vacant)).
            #[inline]
            pub fn vacant() -> Self {
                $name(Entry::Vacant(NONE), None)
            }
        }
        impl<'a> crate::storage::Slot for $name<'a> {
            type T = $inner<'a>;
            fn wrap(e: Entry<$inner<'a>>) -> Self {
                $name(e, None)
            }
            fn entry(&self) -> &Entry<$inner<'a>> {
                &self.0
            }
            fn entry_mut(&mut self) -> &mut Entry<$inner<'a>> {
                &mut self.0
            }
        }
    };
}
local_slot!(WriterSlot, LocalWriter);
local_slot!(ReaderSlot, LocalReader);

/// Per-message receiver state (rtps-wire.md §1.5).
pub(crate) struct Receiver {
    pub source: GuidPrefix,
    pub vendor: VendorId,
    pub for_us: bool,
    pub timestamp: Option<Time>,
    pub multicast: bool,
}

/// Where the last DATA of a message went: a user writer matched with exactly one local reader
/// (the common case), and the reader slot and proxy index it was delivered through. The DATA
/// of one message almost always come from one writer, so the next one from the same writer
/// (with the same `reader_id`) goes straight there instead of through the remote-endpoint
/// index and the chain of its matches (`Engine::deliver`).
///
/// Valid only while no match can change: `handle_message` keeps it across user DATA and the
/// INFO_TS / INFO_DST between them and forgets it at anything else (builtin DATA can
/// change matches; so can the discovery work after the message, which outlives it anyway).
/// The DATA that follow the route leave the reader's `notify` set: its DataAvailable is
/// raised once when the route ends (`Engine::end_route`), not for every sample.
#[derive(Clone, Copy)]
pub(crate) struct DataRoute {
    writer: Guid,
    reader_id: EntityId,
    slot: u32,
    pi: u32,
}

/// What the engine carves per-endpoint tables from.
pub(crate) struct Arenas<'a> {
    pub reader_proxies: Arena<'a, ReaderProxySlot>,
    pub writer_proxies: Arena<'a, WriterProxySlot>,
    pub history: Arena<'a, HistorySlot>,
    pub samples: Arena<'a, SampleSlot>,
    pub reassemblies: Arena<'a, ReassemblySlot>,
    pub bits: Arena<'a, u32>,
}

/// Storage for an engine without `alloc`: one run per table, each at least as long as
/// [`StorageSizes::of`] says for the capacities in the configuration. Make each run from the
/// type's `EMPTY` value (for example `[ParticipantSlot::EMPTY; N]` in a `static` handed out
/// once), or fill it at run time with the type's `vacant()` (as the firmware does: a copy of
/// `EMPTY` per slot would copy a whole slot-sized constant out of flash).
pub struct Storage<'a> {
    /// Remote participants.
    pub participants: &'a mut [ParticipantSlot],
    /// Remote endpoints.
    pub remote_endpoints: &'a mut [RemoteEndpointSlot],
    /// Local writers.
    pub writers: &'a mut [WriterSlot<'a>],
    /// Local readers.
    pub readers: &'a mut [ReaderSlot<'a>],
    /// Matched readers of every writer, builtin ones included.
    pub reader_proxies: &'a mut [ReaderProxySlot],
    /// Matched writers of every reader, builtin ones included.
    pub writer_proxies: &'a mut [WriterProxySlot],
    /// Histories of every writer.
    pub history: &'a mut [HistorySlot],
    /// Sample slots of every reader.
    pub samples: &'a mut [SampleSlot],
    /// Partial samples of every reader.
    pub reassemblies: &'a mut [ReassemblySlot],
    /// Fragment bitmaps of every partial sample.
    pub fragment_bits: &'a mut [u32],
    /// The payload pool's bytes.
    pub pool: &'a mut [u8],
    /// The payload pool's block links.
    pub pool_links: &'a mut [u32],
    /// Queued events.
    pub events: &'a mut [EventSlot],
    /// The five hash indexes (participants, remote endpoints, matches, local topics, remote
    /// topics), in one run.
    pub index: &'a mut [MapSlot],
    /// The owed-work queue.
    pub work: &'a mut [u64],
    /// Deadlines, and the position of each in the heap.
    pub timers: &'a mut [TimerSlot],
    /// Positions of the deadlines.
    pub timer_positions: &'a mut [u32],
    /// Room to parse one discovery sample.
    pub scratch: &'a mut [u8],
}

#[cfg(feature = "alloc")]
impl Storage<'static> {
    /// Runs of exactly the lengths [`StorageSizes::of`] `c` gives, allocated once and never
    /// freed: for a host that wants an engine with no allocation after its creation, and for
    /// tests of the caller-storage path.
    pub fn leaked(c: &Capacities) -> Storage<'static> {
        fn run<T>(n: usize, f: impl Fn() -> T) -> &'static mut [T] {
            alloc::vec::Vec::leak((0..n).map(|_| f()).collect())
        }
        let s = StorageSizes::of(c);
        Storage {
            participants: run(s.participants, || ParticipantSlot::EMPTY),
            remote_endpoints: run(s.remote_endpoints, || RemoteEndpointSlot::EMPTY),
            writers: run(s.writers, || WriterSlot::EMPTY),
            readers: run(s.readers, || ReaderSlot::EMPTY),
            reader_proxies: run(s.reader_proxies, || ReaderProxySlot::EMPTY),
            writer_proxies: run(s.writer_proxies, || WriterProxySlot::EMPTY),
            history: run(s.history, || HistorySlot::EMPTY),
            samples: run(s.samples, || SampleSlot::EMPTY),
            reassemblies: run(s.reassemblies, || ReassemblySlot::EMPTY),
            fragment_bits: run(s.fragment_bits, || 0),
            pool: run(s.pool, || 0),
            pool_links: run(s.pool_links, || 0),
            events: run(s.events, || EventSlot::EMPTY),
            index: run(s.index, || MapSlot::EMPTY),
            work: run(s.work, || 0),
            timers: run(s.timers, || TimerSlot::EMPTY),
            timer_positions: run(s.timers, || 0),
            scratch: run(s.scratch, || 0),
        }
    }
}

impl Storage<'_> {
    /// The length of each run, in the order of [`StorageSizes::runs`].
    fn lengths(&self) -> [usize; 18] {
        [
            self.participants.len(),
            self.remote_endpoints.len(),
            self.writers.len(),
            self.readers.len(),
            self.reader_proxies.len(),
            self.writer_proxies.len(),
            self.history.len(),
            self.samples.len(),
            self.reassemblies.len(),
            self.fragment_bits.len(),
            self.pool.len(),
            self.pool_links.len(),
            self.events.len(),
            self.index.len(),
            self.work.len(),
            self.timers.len(),
            self.timer_positions.len(),
            self.scratch.len(),
        ]
    }
}

/// The names of the runs of a [`Storage`], in the order of its fields.
const RUN_NAMES: [&str; 18] = [
    "participants",
    "remote_endpoints",
    "writers",
    "readers",
    "reader_proxies",
    "writer_proxies",
    "history",
    "samples",
    "reassemblies",
    "fragment_bits",
    "pool",
    "pool_links",
    "events",
    "index",
    "work",
    "timers",
    "timer_positions",
    "scratch",
];

/// How long each run of a [`Storage`] must be for some [`Capacities`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageSizes {
    /// [`Storage::participants`].
    pub participants: usize,
    /// [`Storage::remote_endpoints`].
    pub remote_endpoints: usize,
    /// [`Storage::writers`].
    pub writers: usize,
    /// [`Storage::readers`].
    pub readers: usize,
    /// [`Storage::reader_proxies`].
    pub reader_proxies: usize,
    /// [`Storage::writer_proxies`].
    pub writer_proxies: usize,
    /// [`Storage::history`].
    pub history: usize,
    /// [`Storage::samples`].
    pub samples: usize,
    /// [`Storage::reassemblies`].
    pub reassemblies: usize,
    /// [`Storage::fragment_bits`].
    pub fragment_bits: usize,
    /// [`Storage::pool`].
    pub pool: usize,
    /// [`Storage::pool_links`].
    pub pool_links: usize,
    /// [`Storage::events`].
    pub events: usize,
    /// Slots of each of the five indexes (participants, remote endpoints, matches, local
    /// topics, remote topics), each a power of two; [`Storage::index`] holds them in turn.
    pub indexes: [usize; 5],
    /// [`Storage::index`].
    pub index: usize,
    /// [`Storage::work`].
    pub work: usize,
    /// [`Storage::timers`] and [`Storage::timer_positions`].
    pub timers: usize,
    /// [`Storage::scratch`].
    pub scratch: usize,
}

/// Builtin reader reassembly: one partial discovery sample each.
/// Bitmap words of a builtin reader's one partial discovery sample.
const fn builtin_frag_words(c: &Capacities) -> usize {
    c.discovery_data
        .div_ceil(crate::capacity::MIN_FRAGMENT)
        .div_ceil(32)
}

impl StorageSizes {
    /// The runs an engine with capacities `c` needs.
    pub const fn of(c: &Capacities) -> StorageSizes {
        let p = c.participants;
        let share = Self::share(c);
        let indexes = Self::index_lengths(c);
        StorageSizes {
            participants: p,
            remote_endpoints: c.remote_endpoints,
            writers: c.writers,
            readers: c.readers,
            reader_proxies: BUILTIN_KINDS * p + c.writers * share,
            writer_proxies: BUILTIN_KINDS * p + c.readers * share,
            // The participant-message writer keeps one sample, its reader a few.
            history: c.sedp_history(c.writers)
                + c.sedp_history(c.readers)
                + (BUILTIN_KINDS - 2)
                + c.writers * c.history,
            samples: 2 * c.builtin_reader_samples()
                + (BUILTIN_KINDS - 2) * c.pmd_reader_samples()
                + c.readers * c.reader_samples,
            // Without the `frag` feature nothing is reassembled.
            reassemblies: if cfg!(feature = "frag") {
                BUILTIN_KINDS + c.readers * c.reassemblies
            } else {
                0
            },
            fragment_bits: if cfg!(feature = "frag") {
                BUILTIN_KINDS * builtin_frag_words(c)
                    + c.readers * c.reassemblies * c.fragment_words()
            } else {
                0
            },
            pool: c.pool_blocks * c.pool_block,
            pool_links: c.pool_blocks,
            events: c.events,
            indexes,
            index: indexes[0] + indexes[1] + indexes[2] + indexes[3] + indexes[4],
            work: Self::work_length(c),
            timers: Layout::new(c.writers, c.readers, p).ids(),
            scratch: c.discovery_data,
        }
    }

    /// The lengths of the five indexes ([`StorageSizes::indexes`]).
    const fn index_lengths(c: &Capacities) -> [usize; 5] {
        // At least twice the entries, a power of two: probes stay short (half full at most)
        // and one slot is always free.
        const fn twice(n: usize) -> usize {
            let n = if n == 0 { 1 } else { n };
            (2 * n).next_power_of_two()
        }
        [
            twice(c.participants),
            twice(c.remote_endpoints),
            twice(c.matches),
            twice(c.writers + c.readers),
            twice(c.remote_endpoints),
        ]
    }

    /// The length of the work queue ([`StorageSizes::work`]).
    const fn work_length(c: &Capacities) -> usize {
        7 * c.participants + c.matches + 8
    }

    /// Each run's name and length, in the order of the fields of [`Storage`].
    pub const fn runs(&self) -> [(&'static str, usize); 18] {
        let lengths = self.lengths();
        let mut runs = [("", 0); 18];
        let mut i = 0;
        while i < runs.len() {
            runs[i] = (RUN_NAMES[i], lengths[i]);
            i += 1;
        }
        runs
    }

    /// Each run's length, in the order of [`RUN_NAMES`].
    const fn lengths(&self) -> [usize; 18] {
        [
            self.participants,
            self.remote_endpoints,
            self.writers,
            self.readers,
            self.reader_proxies,
            self.writer_proxies,
            self.history,
            self.samples,
            self.reassemblies,
            self.fragment_bits,
            self.pool,
            self.pool_links,
            self.events,
            self.index,
            self.work,
            self.timers,
            self.timers,
            self.scratch,
        ]
    }

    /// Bytes of all the runs together: what caller storage for these sizes costs.
    pub const fn bytes(&self) -> usize {
        use core::mem::size_of;
        self.participants * size_of::<ParticipantSlot>()
            + self.remote_endpoints * size_of::<RemoteEndpointSlot>()
            + self.writers * size_of::<WriterSlot<'static>>()
            + self.readers * size_of::<ReaderSlot<'static>>()
            + self.reader_proxies * size_of::<ReaderProxySlot>()
            + self.writer_proxies * size_of::<WriterProxySlot>()
            + self.history * size_of::<HistorySlot>()
            + self.samples * size_of::<SampleSlot>()
            + self.reassemblies * size_of::<ReassemblySlot>()
            + self.fragment_bits * size_of::<u32>()
            + self.pool
            + self.pool_links * size_of::<u32>()
            + self.events * size_of::<EventSlot>()
            + self.index * size_of::<MapSlot>()
            + self.work * size_of::<u64>()
            + self.timers * (size_of::<TimerSlot>() + size_of::<u32>())
            + self.scratch
    }

    /// Proxies each local endpoint gets from caller storage: an even share of the matches.
    pub const fn share(c: &Capacities) -> usize {
        let n = c.writers + c.readers;
        let s = match c.matches.checked_div(n) {
            Some(s) => s,
            None => c.matches,
        };
        if s == 0 {
            1
        } else {
            s
        }
    }
}

/// A DDS participant as a Sans-IO state machine. See DESIGN.md §2 for the contract.
///
/// `'a` is the lifetime of caller-provided [`Storage`]; an engine that allocates its own (with
/// the `alloc` feature, `Engine::new`) is an `Engine<'static>`.
pub struct Engine<'a> {
    // First: the firmware's code is 484 B smaller than with them after the tables (field order
    // within one alignment is the layout's).
    pub(crate) builtin_writers: [Writer<'a>; 3],
    pub(crate) builtin_readers: [Reader<'a>; 3],
    pub(crate) cfg: Config,
    pub(crate) caps: Capacities,
    pub(crate) now: Instant,
    pub(crate) stats: Stats,
    pub(crate) events: EventQueue<'a>,
    pub(crate) pool: Pool<'a>,
    pub(crate) participants: Slab<'a, ParticipantSlot>,
    pub(crate) participant_index: IndexMap<'a>,
    pub(crate) remote: Slab<'a, RemoteEndpointSlot>,
    pub(crate) remote_index: IndexMap<'a>,
    /// (local endpoint key, remote GUID) -> proxy index, for user endpoints.
    pub(crate) match_index: IndexMap<'a>,
    /// Topic name -> the first local endpoint on it (a [`Local`] key).
    pub(crate) local_topics: IndexMap<'a>,
    /// Topic name -> the first remote endpoint on it.
    pub(crate) remote_topics: IndexMap<'a>,
    /// Remote endpoints that match nothing, oldest first (eviction candidates).
    pub(crate) unmatched: (u32, u32),
    pub(crate) user_matches: usize,
    pub(crate) writers: Slab<'a, WriterSlot<'a>>,
    pub(crate) readers: Slab<'a, ReaderSlot<'a>>,
    /// Storage of deleted endpoints, kept for the next ones (caller storage only).
    pub(crate) arenas: Arenas<'a>,
    pub(crate) timers: Timers<'a>,
    pub(crate) work: WorkQueue<'a>,
    pub(crate) generation: u32,
    pub(crate) spdp_sn: i64,
    /// Next SPDP destination index of the announcement in progress.
    pub(crate) announce_cursor: Option<usize>,
    pub(crate) shutting_down: bool,
    pub(crate) framing: CycloneFraming,
    /// The stream connections the engine keeps (see [`crate::stream::conn`]).
    #[cfg(feature = "alloc")]
    pub(crate) streams: crate::stream::conn::Connections,
    pub(crate) scratch: Slots<'a, u8>,
    /// A refusal event was already raised for this table (each is raised once until the
    /// table has room again).
    pub(crate) refused_reported: [bool; 3],
    /// Participants whose SEDP lost something to a full table.
    pub(crate) incomplete: usize,
    /// Room appeared while some are incomplete: ask them again after this message.
    pub(crate) resync_wanted: bool,
    /// Remote participants whose announcements never came by multicast (they get a unicast
    /// copy of ours).
    pub(crate) unicast_only: usize,
    /// When a resync asked for by room appearing may run next.
    pub(crate) next_resync: Instant,
    /// The participant slot holding the most remote endpoints, as far as known (NONE): it
    /// gives way first when the table is full (see `sedp.rs`).
    pub(crate) endpoint_hog: u32,
    /// The same for matches.
    pub(crate) match_hog: u32,
}

/// The runs of a [`Storage`] that the engine keeps whole (the rest become arenas).
type Rest<'a> = (
    &'a mut [ParticipantSlot],
    &'a mut [RemoteEndpointSlot],
    &'a mut [WriterSlot<'a>],
    &'a mut [ReaderSlot<'a>],
    (&'a mut [u8], &'a mut [u32]),
    &'a mut [EventSlot],
    (
        &'a mut [MapSlot],
        &'a mut [MapSlot],
        &'a mut [MapSlot],
        &'a mut [MapSlot],
        &'a mut [MapSlot],
    ),
    &'a mut [u64],
    (&'a mut [TimerSlot], &'a mut [u32]),
    &'a mut [u8],
);

/// The reader behind `local` (builtin or user) and the timer of its reassembly expiry.
fn reassembler<'r, 'a>(
    builtin: &'r mut [Reader<'a>; 3],
    readers: &'r mut Slab<'a, ReaderSlot<'a>>,
    local: Local,
) -> Option<(&'r mut Reader<'a>, Timer)> {
    match local {
        Local::BuiltinReader(i) => {
            Some((builtin.get_mut(i as usize)?, Timer::BuiltinReassembly(i)))
        }
        Local::Reader(i) => Some((&mut readers.get_mut(i)?.reader, Timer::Reassembly(i))),
        _ => None,
    }
}

fn mix_seed(p: &GuidPrefix) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&p.0[4..12]);
    u64::from_le_bytes(w) ^ 0x5157_4e0a_11e7_aa55
}

impl<'a> Engine<'a> {
    /// Creates a participant with storage allocated on the heap as it is needed, up to the
    /// capacities in `cfg`. It announces itself on the first `poll_transmit`.
    #[cfg(feature = "alloc")]
    pub fn new(cfg: Config, now: Instant) -> Result<Engine<'static>, ConfigError> {
        Engine::build(cfg, now, None)
    }

    /// Creates a participant in caller-provided storage (no allocation at all); each run must
    /// be at least as long as [`StorageSizes::of`] the capacities in `cfg` says.
    // Not inlined: the caller's destination is then the place the engine is returned in, not
    // one more engine-sized temporary on its stack (where a microcontroller's stack peaks).
    #[inline(never)]
    pub fn with_storage(
        cfg: Config,
        storage: Storage<'a>,
        now: Instant,
    ) -> Result<Engine<'a>, ConfigError> {
        check_lengths(&cfg.capacities, &storage)?;
        Engine::build(cfg, now, Some(storage))
    }

    /// [`Engine::with_storage`] made in `slot`, for a device with little stack: nothing
    /// engine-sized is built on the stack first but the engine itself, without its builtin
    /// endpoints (they are made in place after it). Returns the engine in `slot`.
    // Not inlined, for the reason `with_storage` is not.
    #[inline(never)]
    pub fn with_storage_in<'s>(
        slot: &'s mut core::mem::MaybeUninit<Engine<'a>>,
        cfg: Config,
        storage: Storage<'a>,
        now: Instant,
    ) -> Result<&'s mut Engine<'a>, ConfigError> {
        check_lengths(&cfg.capacities, &storage)?;
        cfg.validate()?;
        let (arenas, layout, rest) = Engine::parts(&cfg, Some(storage))?;
        let e = slot.write(Engine::blank(cfg, now, arenas, layout, rest));
        e.start_builtins(now);
        Ok(e)
    }

    fn build(
        cfg: Config,
        now: Instant,
        storage: Option<Storage<'a>>,
    ) -> Result<Engine<'a>, ConfigError> {
        cfg.validate()?;
        let (arenas, layout, rest) = Engine::parts(&cfg, storage)?;
        let mut e = Engine::blank(cfg, now, arenas, layout, rest);
        e.start_builtins(now);
        Ok(e)
    }

    /// The arenas and runs of `storage` (the heap's without it), and the timers' layout.
    #[allow(clippy::type_complexity)]
    fn parts(
        cfg: &Config,
        storage: Option<Storage<'a>>,
    ) -> Result<(Arenas<'a>, Layout, Option<Rest<'a>>), ConfigError> {
        let c = cfg.capacities;
        let layout = Layout::new(c.writers, c.readers, c.participants);
        let (arenas, rest) = match storage {
            Some(s) => {
                let [n0, n1, n2, n3, n4] = StorageSizes::index_lengths(&c);
                let (i0, rest) = s.index.split_at_mut(n0);
                let (i1, rest) = rest.split_at_mut(n1);
                let (i2, rest) = rest.split_at_mut(n2);
                let (i3, i4) = rest.split_at_mut(n3);
                (
                    Arenas {
                        reader_proxies: Arena::Borrowed(s.reader_proxies),
                        writer_proxies: Arena::Borrowed(s.writer_proxies),
                        history: Arena::Borrowed(s.history),
                        samples: Arena::Borrowed(s.samples),
                        reassemblies: Arena::Borrowed(s.reassemblies),
                        bits: Arena::Borrowed(s.fragment_bits),
                    },
                    Some((
                        s.participants,
                        s.remote_endpoints,
                        s.writers,
                        s.readers,
                        (s.pool, s.pool_links),
                        s.events,
                        (i0, i1, i2, i3, &mut i4[..n4]),
                        s.work,
                        (s.timers, s.timer_positions),
                        s.scratch,
                    )),
                )
            }
            #[cfg(feature = "alloc")]
            None => (
                Arenas {
                    reader_proxies: Arena::Heap,
                    writer_proxies: Arena::Heap,
                    history: Arena::Heap,
                    samples: Arena::Heap,
                    reassemblies: Arena::Heap,
                    bits: Arena::Heap,
                },
                None,
            ),
            #[cfg(not(feature = "alloc"))]
            None => return Err(ConfigError::Capacity(CapacityError::Storage("all"))),
        };
        Ok((arenas, layout, rest))
    }

    /// Makes the builtin endpoints, in place, in the order their tables are carved from the
    /// arenas: the SEDP writers, the participant-message writer (with the first liveliness
    /// message), the three builtin readers. [`Engine::blank`] leaves idle ones.
    fn start_builtins(&mut self, now: Instant) {
        let Engine {
            cfg,
            arenas,
            pool,
            timers,
            builtin_writers,
            builtin_readers,
            stats,
            ..
        } = self;
        builtin_writers[SEDP_PUB] = builtin_writer(cfg, SEDP_PUB, arenas);
        builtin_writers[SEDP_SUB] = builtin_writer(cfg, SEDP_SUB, arenas);
        #[cfg(feature = "liveliness")]
        {
            let mut no_space = false;
            builtin_writers[PMD] = liveliness_writer(cfg, now, arenas, pool, timers, &mut no_space);
            stats.dropped_no_space = no_space as u64;
        }
        #[cfg(not(feature = "liveliness"))]
        let _ = (now, pool, timers, stats);
        for (i, r) in builtin_readers.iter_mut().enumerate().take(BUILTIN_KINDS) {
            *r = builtin_reader(cfg, i, arenas);
        }
    }

    /// Everything empty, in the caller's runs when given, else on the heap; started at `now`:
    /// the first announcement scheduled. The builtin endpoints are idle ones, without tables:
    /// [`Engine::start_builtins`] makes them, in place (made here, they would be built on the
    /// stack and copied, where a microcontroller's stack peaks). Every field is made before
    /// the engine is put together and nothing borrows it after, so it is built in the place it
    /// is returned in.
    #[inline(always)]
    fn blank(
        cfg: Config,
        now: Instant,
        arenas: Arenas<'a>,
        layout: Layout,
        runs: Option<Rest<'a>>,
    ) -> Engine<'a> {
        let c = cfg.capacities;
        let seed = cfg.hash_seed.unwrap_or_else(|| mix_seed(&cfg.guid_prefix));
        let (parts, remote, writers, readers, pool, events, index, work, timers, scratch) =
            match runs {
                Some((p, r, w, rd, (pb, pl), e, (i0, i1, i2, i3, i4), wk, (t0, t1), sc)) => (
                    Slots::Borrowed(p),
                    Slots::Borrowed(r),
                    Slots::Borrowed(w),
                    Slots::Borrowed(rd),
                    (Some(pb), Some(pl)),
                    Some(e),
                    [Some(i0), Some(i1), Some(i2), Some(i3), Some(i4)],
                    Some(wk),
                    (Some(t0), Some(t1)),
                    Some(sc),
                ),
                None => (
                    heap_run(),
                    heap_run(),
                    heap_run(),
                    heap_run(),
                    (None, None),
                    None,
                    [None, None, None, None, None],
                    None,
                    (None, None),
                    None,
                ),
            };
        let [i0, i1, i2, i3, i4] = index;
        let work_len = if work.is_some() {
            StorageSizes::work_length(&c)
        } else {
            64
        };
        let pool = Pool::new(c.pool_block, c.pool_blocks, pool.0, pool.1);
        let mut timers = Timers::new(layout, timers.0, timers.1);
        let mut work = WorkQueue::new(work, work_len);
        Engine::start_schedule(&cfg, now, &mut timers, &mut work);
        let events = EventQueue::new(events, c.events);
        let participants = Slab::new(parts, c.participants);
        let remote = Slab::new(remote, c.remote_endpoints);
        let writers = Slab::new(writers, c.writers);
        let readers = Slab::new(readers, c.readers);
        let indexes = [
            IndexMap::new(i0, seed),
            IndexMap::new(i1, seed ^ 1),
            IndexMap::new(i2, seed ^ 2),
            IndexMap::new(i3, seed ^ 3),
            IndexMap::new(i4, seed ^ 4),
        ];
        let scratch = filled(scratch, c.discovery_data, 0);
        let [participant_index, remote_index, match_index, local_topics, remote_topics] = indexes;
        Engine {
            builtin_writers: [idle_writer(), idle_writer(), idle_writer()],
            builtin_readers: [idle_reader(), idle_reader(), idle_reader()],
            caps: c,
            now,
            stats: Stats::ZERO,
            events,
            pool,
            participants,
            participant_index,
            remote,
            remote_index,
            match_index,
            local_topics,
            remote_topics,
            unmatched: (NONE, NONE),
            user_matches: 0,
            writers,
            readers,
            arenas,
            timers,
            work,
            generation: 1,
            spdp_sn: 1,
            announce_cursor: Some(0),
            shutting_down: false,
            framing: CycloneFraming::new(),
            #[cfg(feature = "alloc")]
            streams: crate::stream::conn::Connections::new(cfg.stream),
            scratch,
            refused_reported: [false; 3],
            incomplete: 0,
            resync_wanted: false,
            unicast_only: 0,
            next_resync: Instant(0),
            endpoint_hog: NONE,
            match_hog: NONE,
            cfg,
        }
    }

    /// What starting at `now` schedules beside the first liveliness message (which
    /// [`liveliness_writer`] writes): the first announcement (`announce_cursor` at 0), and room
    /// in the work queue.
    fn start_schedule(cfg: &Config, now: Instant, timers: &mut Timers<'_>, work: &mut WorkQueue) {
        timers.set(Timer::Announce, now + cfg.announce_period);
        work.reserve(64);
    }

    /// This participant's GUID prefix.
    pub fn guid_prefix(&self) -> GuidPrefix {
        self.cfg.guid_prefix
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Bytes of the payload pool free now (whole blocks): what histories, reader queues and
    /// partial samples have left.
    pub fn pool_available(&self) -> usize {
        self.pool.free_blocks() * self.caps.pool_block
    }

    #[cfg_attr(not(feature = "fast-paths"), inline(never))]
    pub(crate) fn tick(&mut self, now: Instant) -> Instant {
        if now < self.now {
            self.stats.time_went_backwards += 1;
        } else {
            self.now = now;
        }
        self.now
    }

    pub(crate) fn emit(&mut self, e: Event) {
        if !self.events.push(e) {
            self.stats.events_dropped += 1;
        }
    }

    pub(crate) fn metatraffic_locator(&self) -> Locator {
        let port = match self.cfg.unicast_ports {
            Some((m, _)) => m,
            None => ports::metatraffic_unicast(self.cfg.domain_id, self.cfg.participant_id) as u16,
        };
        Locator::udpv4(self.cfg.unicast_address, port)
    }

    pub(crate) fn user_locator(&self) -> Locator {
        let port = match self.cfg.unicast_ports {
            Some((_, u)) => u,
            None => ports::user_unicast(self.cfg.domain_id, self.cfg.participant_id) as u16,
        };
        Locator::udpv4(self.cfg.unicast_address, port)
    }

    #[cfg_attr(not(feature = "fast-paths"), inline(never))]
    pub(crate) fn tcp_locator(&self) -> Option<Locator> {
        self.cfg
            .tcp_port
            .map(|port| Locator::tcpv4(self.cfg.unicast_address, port))
    }

    pub(crate) fn spdp_multicast_locator(&self) -> Locator {
        Locator::udpv4(
            ports::SPDP_MULTICAST_GROUP,
            ports::spdp_multicast(self.cfg.domain_id) as u16,
        )
    }

    /// The sockets a driver must open: SPDP multicast (when enabled), metatraffic unicast and
    /// user-data unicast (unless it is the metatraffic port, [`Config::unicast_ports`]).
    pub fn listen_locators(&self) -> impl Iterator<Item = ListenLocator> + '_ {
        let mc = ListenLocator {
            locator: self.spdp_multicast_locator(),
            multicast: true,
            metatraffic: true,
        };
        let meta = ListenLocator {
            locator: self.metatraffic_locator(),
            multicast: false,
            metatraffic: true,
        };
        let user = ListenLocator {
            locator: self.user_locator(),
            multicast: false,
            metatraffic: false,
        };
        let tcp = self.tcp_locator().map(|locator| ListenLocator {
            locator,
            multicast: false,
            metatraffic: true,
        });
        let multicast = self.cfg.multicast;
        let shared = user.locator == meta.locator;
        [mc, meta, user]
            .into_iter()
            .filter(move |l| (multicast || !l.multicast) && (!shared || l.metatraffic))
            .chain(tcp)
    }

    // ----------------------------------------------------------------------------------------
    // Inputs

    /// Feeds one received UDP datagram. Never fails: bad input is dropped and counted. `dst`
    /// tells whether it came by multicast (its address is a multicast group).
    pub fn handle_datagram(&mut self, now: Instant, src: Locator, dst: Locator, data: &[u8]) {
        let now = self.tick(now);
        self.stats.datagrams_in += 1;
        let multicast = dst.ipv4().is_some_and(|a| (224..240).contains(&a.0[0]));
        // The source address, when it could be forged from afar (see
        // `RemoteParticipant::sent_from`): not loopback, our own address or unknown.
        let from = src
            .ipv4()
            .map(|(ip, _)| ip)
            .filter(|ip| ip[0] != 127 && *ip != [0; 4] && *ip != self.cfg.unicast_address);
        self.handle_message(now, data, multicast, from);
    }

    /// Feeds bytes received on stream connection `conn` (TCP); returns how many it consumed:
    /// every whole framed message at the front of `data`. The driver keeps the rest and offers
    /// it again with more, so messages may be split anywhere. A malformed or oversized frame
    /// consumes everything and raises [`Event::StreamError`]: the driver must close `conn`.
    ///
    /// This is the raw entry, for a driver that numbers its connections and keeps their
    /// bytes itself; with `alloc` the engine's connection table does both
    /// ([`Engine::handle_stream_data`], [`crate::stream::conn`]).
    pub fn handle_stream(&mut self, now: Instant, conn: StreamId, data: &[u8]) -> usize {
        let now = self.tick(now);
        match self.deframe(now, conn, data) {
            Ok(used) => used,
            Err(error) => {
                self.stats.dropped_bad_stream += 1;
                self.emit(Event::StreamError { conn, error });
                data.len()
            }
        }
    }

    /// Handles every whole framed message at the front of `data`; how many bytes they took.
    pub(crate) fn deframe(
        &mut self,
        now: Instant,
        conn: StreamId,
        data: &[u8],
    ) -> Result<usize, crate::stream::FrameError> {
        let _ = conn;
        let mut used = 0;
        while used < data.len() {
            match self.framing.deframe(&data[used..]) {
                Deframe::Frame(n) => {
                    self.stats.stream_messages_in += 1;
                    self.handle_message(now, &data[used..used + n], false, None);
                    used += n;
                }
                Deframe::Need(_) => break,
                Deframe::Bad(error) => return Err(error),
            }
        }
        Ok(used)
    }

    /// A stream connection ended (closed by the peer or by the driver). A connection of the
    /// engine's table leaves it (its queued bytes are dropped and counted; one we opened puts
    /// its address in back-off for `StreamConfig::backoff_min`); there is no Close command
    /// for it. Later transmits to the peer's TCP locator connect again.
    pub fn handle_stream_closed(&mut self, now: Instant, conn: StreamId) {
        let now = self.tick(now);
        #[cfg(feature = "alloc")]
        if self.stream_ended(now, conn) {
            return;
        }
        let _ = (now, conn);
        self.stats.streams_closed += 1;
    }

    /// One RTPS message, from a datagram or a stream frame: its submessages, then the
    /// discovery samples they completed.
    pub(crate) fn handle_message(
        &mut self,
        now: Instant,
        data: &[u8],
        multicast: bool,
        from: Option<[u8; 4]>,
    ) {
        self.handle_submessages(now, data, multicast, from);
        self.process_builtin_samples(now);
    }

    /// The submessages of one message. Not inlined: its frame (the parsed submessages and
    /// every handler inlined here) is gone before discovery records are parsed and matched,
    /// the deepest path on a small device's stack.
    #[inline(never)]
    fn handle_submessages(
        &mut self,
        now: Instant,
        data: &[u8],
        multicast: bool,
        from: Option<[u8; 4]>,
    ) {
        let msg = match Message::parse(data) {
            Ok(m) => m,
            Err(WireError::UnsupportedVersion) => {
                self.stats.dropped_version += 1;
                return;
            }
            Err(_) => {
                self.stats.dropped_not_rtps += 1;
                return;
            }
        };
        if msg.header.guid_prefix == self.cfg.guid_prefix {
            self.stats.dropped_own += 1;
            return;
        }
        let mut rx = Receiver {
            source: msg.header.guid_prefix,
            vendor: msg.header.vendor_id,
            for_us: true,
            timestamp: None,
            multicast,
        };
        self.refresh_lease(rx.source, now, from);
        // Whether rx.source answered in this message already (one lookup per source).
        let mut answered = false;
        let mut route = None;
        for raw in msg.submessages() {
            #[cfg(feature = "fast-paths")]
            if let Ok(r) = &raw {
                if r.id == crate::wire::submessage_id::DATA {
                    // Every sample's submessage: parsed on its own, not as the enum of all.
                    let Ok(d) = DataRepr::parse(r) else {
                        self.stats.dropped_malformed += 1;
                        break;
                    };
                    if !rx.for_us {
                        self.stats.dropped_not_for_us += 1;
                        continue;
                    }
                    if !answered && Self::data_answers(d.writer_id) {
                        answered = true;
                        self.note_answer(rx.source, from);
                    }
                    if route.is_some_and(|rt| self.data_on_route(&rx, &d, rt)) {
                        continue;
                    }
                    self.on_data(now, &rx, &d, &mut route);
                    continue;
                }
            }
            let sub = match raw.and_then(|r| r.parse()) {
                Ok(s) => s,
                Err(_) => {
                    self.stats.dropped_malformed += 1;
                    break;
                }
            };
            if !answered && rx.for_us && Self::is_answer(&sub) {
                answered = true;
                self.note_answer(rx.source, from);
            }
            if !matches!(sub, SubmessageRepr::InfoTs(_) | SubmessageRepr::InfoDst(_)) {
                // Anything else may change matches (see `DataRoute`).
                self.end_route(&mut route);
            }
            match sub {
                SubmessageRepr::InfoTs(t) => rx.timestamp = t.timestamp,
                SubmessageRepr::InfoSrc(s) => {
                    rx.source = s.guid_prefix;
                    rx.vendor = s.vendor_id;
                    rx.timestamp = None;
                    self.refresh_lease(rx.source, now, from);
                    answered = false;
                }
                SubmessageRepr::InfoDst(InfoDstRepr { guid_prefix }) => {
                    rx.for_us =
                        guid_prefix == self.cfg.guid_prefix || guid_prefix == GuidPrefix::UNKNOWN;
                }
                SubmessageRepr::Data(d) if rx.for_us => self.on_data(now, &rx, &d, &mut None),
                SubmessageRepr::Heartbeat(h) if rx.for_us => self.on_heartbeat(now, &rx, &h),
                SubmessageRepr::Gap(g) if rx.for_us => self.on_gap(&rx, &g),
                SubmessageRepr::AckNack(a) if rx.for_us => self.on_acknack(now, &rx, &a),
                SubmessageRepr::NackFrag(n) if rx.for_us => self.on_nack_frag(&rx, &n),
                SubmessageRepr::Data(_)
                | SubmessageRepr::Heartbeat(_)
                | SubmessageRepr::Gap(_)
                | SubmessageRepr::AckNack(_)
                | SubmessageRepr::DataFrag(_)
                | SubmessageRepr::NackFrag(_)
                | SubmessageRepr::HeartbeatFrag(_)
                    if !rx.for_us =>
                {
                    self.stats.dropped_not_for_us += 1
                }
                SubmessageRepr::DataFrag(d) if rx.for_us => self.on_data_frag(&rx, &d),
                _ => {}
            }
        }
        self.end_route(&mut route);
    }

    /// A DATA on the message's route (see [`DataRoute`]) in the common layout (no inline
    /// QoS) that its reader takes in order at once ([`Reader::on_plain_data`]): handed
    /// straight there, with none of the general path's lookups and copies, and counted as
    /// delivered. False, nothing changed, for anything else: the caller takes the general
    /// path ([`Engine::on_data`]), which judges it in full.
    #[cfg(feature = "fast-paths")]
    #[inline]
    fn data_on_route(&mut self, rx: &Receiver, d: &DataRepr<'_>, rt: DataRoute) -> bool {
        if d.inline_qos.is_some()
            || d.writer_sn.0 < 1
            || d.writer_id != rt.writer.entity
            || d.reader_id != rt.reader_id
            || rx.source != rt.writer.prefix
        {
            return false;
        }
        let payload = d.payload.unwrap_or(&[]);
        if payload.len() > self.caps.max_sample {
            return false;
        }
        let Some(lr) = self.readers.get_mut(rt.slot) else {
            return false;
        };
        let delivered = lr.reader.on_plain_data(
            rt.pi,
            &mut self.pool,
            rt.writer,
            d.writer_sn.0,
            payload,
            rx.timestamp,
        );
        if delivered {
            self.stats.samples_delivered += 1;
        }
        delivered
    }

    /// Forgets the message's route (see [`DataRoute`]), first raising the DataAvailable the
    /// DATA it carried deferred.
    fn end_route(&mut self, route: &mut Option<DataRoute>) {
        let Some(rt) = route.take() else { return };
        if let Some(lr) = self.readers.get_mut(rt.slot) {
            if core::mem::take(&mut lr.reader.notify) {
                let h = ReaderHandle(lr.key);
                self.emit(Event::DataAvailable(h));
            }
        }
    }

    /// Whether a submessage shows its sender is where it said (see `reflection.rs`): anything
    /// but SPDP, which anyone can forge naming anyone.
    fn is_answer(sub: &SubmessageRepr<'_>) -> bool {
        match sub {
            SubmessageRepr::Data(d) => Self::data_answers(d.writer_id),
            SubmessageRepr::DataFrag(d) => Self::data_answers(d.writer_id),
            SubmessageRepr::Heartbeat(_)
            | SubmessageRepr::Gap(_)
            | SubmessageRepr::AckNack(_)
            | SubmessageRepr::NackFrag(_)
            | SubmessageRepr::HeartbeatFrag(_) => true,
            _ => false,
        }
    }

    /// Whether DATA or DATA_FRAG of `writer` is an answer (see [`Self::is_answer`]).
    fn data_answers(writer: EntityId) -> bool {
        writer != EntityId::SPDP_WRITER
    }

    /// Advances time: announcements, heartbeats, lease expiry.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.tick(now);
        #[cfg(feature = "alloc")]
        self.expire_streams(now);
        while let Some(t) = self.timers.pop_due(now) {
            match t {
                Timer::Announce => {
                    self.resync_if_due(now);
                    self.announce_cursor = Some(0);
                    self.timers
                        .set(Timer::Announce, now + self.cfg.announce_period);
                }
                // Never armed without the participant-message writer.
                Timer::Liveliness =>
                {
                    #[cfg(feature = "liveliness")]
                    if !self.shutting_down {
                        self.assert_liveliness(now);
                    }
                }
                Timer::Lease(i) => self.check_lease(now, i),
                Timer::BuiltinHeartbeat(i) => {
                    let mut owed = WorkBatch::new();
                    let timeout = self.cfg.unresponsive_reader_timeout;
                    let bw = &mut self.builtin_writers[i as usize];
                    let tick = bw.on_timeout(now, timeout, &mut |pi| owed.add(pi), &mut |_| {});
                    if tick.unresponsive > 0 {
                        bw.release_acknowledged(&mut self.pool);
                    }
                    self.count_tick(tick);
                    self.queue_batch(Local::BuiltinWriter(i), &owed, now);
                    self.sync_writer_timer(Local::BuiltinWriter(i));
                }
                Timer::Heartbeat(i) => {
                    let mut owed = WorkBatch::new();
                    let mut lost = WorkBatch::new();
                    let timeout = self.cfg.unresponsive_reader_timeout;
                    if let Some(lw) = self.writers.get_mut(i) {
                        let tick =
                            lw.writer
                                .on_timeout(now, timeout, &mut |pi| owed.add(pi), &mut |pi| {
                                    lost.add(pi)
                                });
                        if tick.unresponsive > 0 {
                            // What only the readers now unresponsive held may go.
                            lw.writer.release_acknowledged(&mut self.pool);
                        }
                        self.count_tick(tick);
                    }
                    self.report_unresponsive(i, &lost);
                    self.queue_batch(Local::Writer(i), &owed, now);
                    self.sync_writer_timer(Local::Writer(i));
                }
                Timer::BuiltinReader(i) => {
                    let mut owed = WorkBatch::new();
                    let next =
                        self.builtin_readers[i as usize].preemptive_due(now, |pi| owed.add(pi));
                    self.queue_batch(Local::BuiltinReader(i), &owed, now);
                    if let Some(t) = next {
                        self.timers.set_earliest(Timer::BuiltinReader(i), t);
                    }
                }
                Timer::BuiltinReassembly(i) => {
                    self.expire_reassemblies(now, Local::BuiltinReader(i))
                }
                Timer::Reassembly(i) => self.expire_reassemblies(now, Local::Reader(i)),
                Timer::Reader(i) => {
                    let mut owed = WorkBatch::new();
                    let next = self
                        .readers
                        .get(i)
                        .and_then(|lr| lr.reader.preemptive_due(now, |pi| owed.add(pi)));
                    self.queue_batch(Local::Reader(i), &owed, now);
                    if let Some(t) = next {
                        self.timers.set_earliest(Timer::Reader(i), t);
                    }
                }
            }
        }
    }

    fn count_tick(&mut self, t: Tick) {
        self.stats.heartbeats_backed_off += t.backed_off as u64;
        self.stats.readers_unresponsive += t.unresponsive as u64;
    }

    /// Raises [`Event::ReaderUnresponsive`] for the proxies of writer `slot` in `lost` (more
    /// than a batch at once: the rest are only counted, as dropped events).
    fn report_unresponsive(&mut self, slot: u32, lost: &WorkBatch) {
        let Some(lw) = self.writers.get(slot) else {
            return;
        };
        let key = lw.key;
        let mut guids = [None::<Guid>; 16];
        for (g, &pi) in guids.iter_mut().zip(&lost.items[..lost.len]) {
            *g = lw.writer.proxy(pi).map(|p| p.guid);
        }
        for reader in guids.iter().flatten() {
            self.emit(Event::ReaderUnresponsive {
                writer: WriterHandle(key),
                reader: *reader,
            });
        }
        if lost.overflow {
            self.stats.events_dropped += 1;
        }
    }

    /// Puts the heartbeat deadline of a writer into the timer table.
    pub(crate) fn sync_writer_timer(&mut self, local: Local) {
        let (timer, next) = match local {
            Local::BuiltinWriter(i) => (
                Timer::BuiltinHeartbeat(i),
                self.builtin_writers[i as usize].next_heartbeat,
            ),
            Local::Writer(i) => (
                Timer::Heartbeat(i),
                self.writers.get(i).and_then(|lw| lw.writer.next_heartbeat),
            ),
            _ => return,
        };
        match next {
            Some(t) => self.timers.set(timer, t),
            None => self.timers.clear(timer),
        }
    }

    /// Arms the pre-emptive ACKNACK deadline of a reader that just got a proxy.
    pub(crate) fn arm_reader_timer(&mut self, local: Local, at: Instant) {
        match local {
            Local::BuiltinReader(i) => self.timers.set_earliest(Timer::BuiltinReader(i), at),
            Local::Reader(i) => self.timers.set_earliest(Timer::Reader(i), at),
            _ => {}
        }
    }

    fn inline_qos(&mut self, d: &DataRepr<'_>) -> Option<InlineQos> {
        match d.inline_qos_params().map(InlineQos::parse) {
            None => Some(InlineQos::default()),
            Some(Ok(q)) => Some(q),
            Some(Err(_)) => {
                self.stats.dropped_malformed += 1;
                None
            }
        }
    }

    fn on_data(
        &mut self,
        now: Instant,
        rx: &Receiver,
        d: &DataRepr<'_>,
        route: &mut Option<DataRoute>,
    ) {
        let Some(q) = self.inline_qos(d) else { return };
        if d.writer_sn.0 < 1 {
            self.stats.dropped_invalid += 1;
            return;
        }
        if d.writer_id == EntityId::SPDP_WRITER {
            self.end_route(route);
            self.on_spdp(now, rx, d, &q);
            return;
        }
        let writer = Guid::new(rx.source, d.writer_id);
        let payload = d.payload.unwrap_or(&[]);
        if payload.len() > self.caps.max_sample {
            self.stats.dropped_too_large += 1;
            return;
        }
        let incoming = || Incoming {
            writer,
            sn: d.writer_sn.0,
            payload: Payload::Slice(payload),
            timestamp: rx.timestamp,
            status: q.status_info.unwrap_or_default(),
            key_hash: q.key_hash,
            related: crate::rpc::Related::new(q.related),
        };
        self.deliver(writer, d.reader_id, route, |r, pi, pool, replaced| {
            r.on_data(pi, pool, incoming(), replaced)
        });
    }

    /// The builtin reader and proxy index of a builtin remote writer.
    fn builtin_proxy_of_writer(&self, writer: Guid) -> Option<(usize, u32)> {
        let i = BUILTIN_WRITER_IDS
            .iter()
            .position(|id| *id == writer.entity)?;
        let p = self.participant_slot(writer.prefix)?;
        let pi = self.participants.get(p)?.br[i];
        (pi != NONE).then_some((i, pi))
    }

    /// Hands something from `writer` to every local reader matched with it (or the builtin
    /// reader for a builtin writer), honouring a specific `reader_id`, and counts the outcome.
    /// `route` is where the previous DATA of the message went (see [`DataRoute`]): used when
    /// it names this writer and `reader_id`, and set when this one went to a single reader.
    fn deliver(
        &mut self,
        writer: Guid,
        reader_id: EntityId,
        route: &mut Option<DataRoute>,
        mut f: impl FnMut(&mut Reader<'a>, u32, &mut Pool<'a>, &mut u64) -> Received,
    ) {
        let mut replaced = 0;
        let mut outcome = Received::Unknown;
        if let Some(rt) = route.filter(|rt| rt.writer == writer && rt.reader_id == reader_id) {
            // The previous DATA's reader and proxy; checked again, as cheap as it is.
            if let Some(lr) = self
                .readers
                .get_mut(rt.slot)
                .filter(|lr| lr.reader.proxy(rt.pi).is_some_and(|p| p.guid == writer))
            {
                outcome = f(&mut lr.reader, rt.pi, &mut self.pool, &mut replaced);
                // `notify` stays set: the DataAvailable waits for the end of the route
                // (`end_route`), one for the run of DATA rather than one per sample.
                if lr.reader.reassembly_news() {
                    self.after_reassembly(Local::Reader(rt.slot));
                }
                self.stats.samples_replaced += replaced;
                self.count_received(outcome);
                return;
            }
        }
        self.end_route(route);
        if BUILTIN_WRITER_IDS.contains(&writer.entity) {
            if let Some((i, pi)) = self.builtin_proxy_of_writer(writer) {
                outcome = f(
                    &mut self.builtin_readers[i],
                    pi,
                    &mut self.pool,
                    &mut replaced,
                );
                self.after_reassembly(Local::BuiltinReader(i as u32));
                if outcome == Received::TooLarge {
                    // Beyond `Capacities::discovery_data`: never reassembled nor buffered.
                    self.stats.dropped_discovery_too_large += 1;
                    return;
                }
            }
        } else if let Some(ri) = self.remote_index.get(&map::guid_key(&writer)) {
            let mut at = self.remote.get(ri).map_or(u64::MAX, |r| r.first_match);
            // The only match of the writer, when it has one and took this DATA.
            let mut single = at != u64::MAX;
            while let Some(w) = Work::unpack(at) {
                let Local::Reader(slot) = w.local else { break };
                let Some(lr) = self.readers.get_mut(slot) else {
                    break;
                };
                at = lr
                    .reader
                    .proxy(w.index)
                    .map_or(u64::MAX, |p| p.next_of_remote);
                if reader_id != EntityId::UNKNOWN && reader_id != lr.reader.entity() {
                    single = false;
                    continue;
                }
                if single && at == u64::MAX {
                    *route = Some(DataRoute {
                        writer,
                        reader_id,
                        slot,
                        pi: w.index,
                    });
                }
                single = false;
                let r = f(&mut lr.reader, w.index, &mut self.pool, &mut replaced);
                if outcome == Received::Unknown || matches!(r, Received::Accepted { .. }) {
                    outcome = r;
                }
                if lr.reader.notify {
                    lr.reader.notify = false;
                    let h = ReaderHandle(lr.key);
                    self.emit(Event::DataAvailable(h));
                }
                self.after_reassembly(Local::Reader(slot));
            }
        }
        self.stats.samples_replaced += replaced;
        self.count_received(outcome);
    }

    /// Without the `frag` feature a fragmented sample is dropped and counted: none of the
    /// reassembly code is in the image.
    #[cfg(not(feature = "frag"))]
    fn on_data_frag(&mut self, _rx: &Receiver, _d: &DataFragRepr<'_>) {
        self.stats.dropped_fragmented += 1;
    }

    #[cfg(feature = "frag")]
    fn on_data_frag(&mut self, rx: &Receiver, d: &DataFragRepr<'_>) {
        let q = match d
            .inline_qos
            .map(|q| InlineQos::parse(ParameterListIter::new(q, d.endian)))
        {
            None => InlineQos::default(),
            Some(Ok(q)) => q,
            Some(Err(_)) => {
                self.stats.dropped_malformed += 1;
                return;
            }
        };
        if d.writer_sn.0 < 1 {
            self.stats.dropped_invalid += 1;
            return;
        }
        let writer = Guid::new(rx.source, d.writer_id);
        let frag = IncomingFrag {
            writer,
            sn: d.writer_sn.0,
            sample_size: d.sample_size,
            fragment_size: d.fragment_size,
            first: d.fragment_starting_num,
            count: d.fragments_in_submessage,
            data: d.data,
            timestamp: rx.timestamp,
            status: q.status_info.unwrap_or_default(),
            key_hash: q.key_hash,
            now: self.now,
        };
        self.deliver(writer, d.reader_id, &mut None, |r, pi, pool, replaced| {
            r.on_data_frag(pi, pool, &frag, replaced)
        });
    }

    fn count_received(&mut self, r: Received) {
        match r {
            Received::Accepted { delivered } => self.stats.samples_delivered += delivered as u64,
            Received::Duplicate => self.stats.dropped_duplicate += 1,
            Received::NoSpace => self.stats.dropped_no_space += 1,
            Received::Unknown => self.stats.dropped_unknown_endpoint += 1,
            Received::Invalid => self.stats.dropped_invalid += 1,
            Received::TooLarge => self.stats.dropped_too_large += 1,
            Received::OverShare => self.stats.dropped_fragment_share += 1,
        }
    }

    /// After a reader took in data: counts the partial samples it evicted and arms its
    /// reassembly expiry when it started one.
    fn after_reassembly(&mut self, local: Local) {
        if !cfg!(feature = "frag") {
            return;
        }
        let Some((r, timer)) = reassembler(&mut self.builtin_readers, &mut self.readers, local)
        else {
            return;
        };
        self.stats.reassemblies_evicted += r.take_evicted() as u64;
        if core::mem::take(&mut r.arm_expiry) {
            let at = self.now + self.cfg.reassembly_timeout;
            self.timers.set_earliest(timer, at);
        }
    }

    /// Timer: drops a reader's partial samples that made no progress for the reassembly
    /// timeout, and re-arms for the next.
    fn expire_reassemblies(&mut self, now: Instant, local: Local) {
        if !cfg!(feature = "frag") {
            // Nothing is reassembled: no timer is armed, no code for it in the image.
            return;
        }
        let timeout = self.cfg.reassembly_timeout;
        let Some((r, timer)) = reassembler(&mut self.builtin_readers, &mut self.readers, local)
        else {
            return;
        };
        let (n, next) = r.expire(&mut self.pool, now, timeout);
        self.stats.reassemblies_expired += n as u64;
        if let Some(t) = next {
            self.timers.set_earliest(timer, t);
        }
    }

    fn on_heartbeat(&mut self, now: Instant, rx: &Receiver, h: &HeartbeatRepr) {
        if !h.is_valid() {
            self.stats.dropped_invalid += 1;
            return;
        }
        let writer = Guid::new(rx.source, h.writer_id);
        let mut claims = Claims::default();
        self.tell_readers(now, writer, h.reader_id, &mut |r, pi, pool, replaced| {
            r.on_heartbeat(now, pi, pool, h, replaced, &mut claims)
        });
        self.count_claims(claims);
    }

    fn count_claims(&mut self, c: Claims) {
        self.stats.dropped_stale_count += c.stale;
        self.stats.counts_reset += c.reset;
        self.stats.dropped_implausible += c.implausible;
    }

    fn on_gap(&mut self, rx: &Receiver, g: &GapRepr) {
        if g.gap_start.0 < 1 || g.gap_list.base.0 < 1 {
            self.stats.dropped_invalid += 1;
            return;
        }
        let writer = Guid::new(rx.source, g.writer_id);
        let now = self.now;
        let mut claims = Claims::default();
        self.tell_readers(now, writer, g.reader_id, &mut |r, pi, pool, replaced| {
            r.on_gap(pi, pool, g, replaced, &mut claims)
        });
        self.count_claims(claims);
    }

    /// Hands a writer's HEARTBEAT or GAP to the readers matched with it (`f` returns how many
    /// samples became deliverable, or `None` when that reader does not know the writer),
    /// queues the ACKNACKs it makes owed and counts the outcome.
    fn tell_readers(
        &mut self,
        now: Instant,
        writer: Guid,
        reader_id: EntityId,
        // A `dyn`, not generic: one copy of this walk serves HEARTBEAT and GAP (flash on a
        // small device), and the indirect call is off the data path.
        f: &mut dyn FnMut(&mut Reader<'a>, u32, &mut Pool<'a>, &mut u64) -> Option<usize>,
    ) {
        let mut replaced = 0;
        let mut delivered = None;
        if BUILTIN_WRITER_IDS.contains(&writer.entity) {
            if let Some((i, pi)) = self.builtin_proxy_of_writer(writer) {
                let r = &mut self.builtin_readers[i];
                delivered = f(r, pi, &mut self.pool, &mut replaced);
                if r.acknack_owed(pi, now) {
                    self.queue(Work {
                        local: Local::BuiltinReader(i as u32),
                        index: pi,
                    });
                }
            }
        } else if let Some(ri) = self.remote_index.get(&map::guid_key(&writer)) {
            let mut at = self.remote.get(ri).map_or(u64::MAX, |r| r.first_match);
            while let Some(w) = Work::unpack(at) {
                let Local::Reader(slot) = w.local else { break };
                let Some(lr) = self.readers.get_mut(slot) else {
                    break;
                };
                at = lr
                    .reader
                    .proxy(w.index)
                    .map_or(u64::MAX, |p| p.next_of_remote);
                if reader_id != EntityId::UNKNOWN && reader_id != lr.reader.entity() {
                    continue;
                }
                if let Some(n) = f(&mut lr.reader, w.index, &mut self.pool, &mut replaced) {
                    delivered = Some(delivered.unwrap_or(0) + n);
                }
                let ack = lr.reader.acknack_owed(w.index, now);
                let notify = core::mem::take(&mut lr.reader.notify).then_some(lr.key);
                // Queued here, for every reader matched with the writer (however many).
                if ack {
                    self.queue(w);
                }
                if let Some(key) = notify {
                    self.emit(Event::DataAvailable(ReaderHandle(key)));
                }
            }
        }
        self.stats.samples_replaced += replaced;
        match delivered {
            Some(n) => self.stats.samples_delivered += n as u64,
            None => self.stats.dropped_unknown_endpoint += 1,
        }
    }

    /// The local writer and proxy an ACKNACK or NACK_FRAG from `reader` to `writer_id` is for.
    fn acked_proxy(&self, writer_id: EntityId, reader: Guid) -> Option<(Local, u32)> {
        if let Some(i) = BUILTIN_WRITER_IDS.iter().position(|id| *id == writer_id) {
            let p = self.participant_slot(reader.prefix)?;
            let pi = self.participants.get(p)?.bw[i];
            return (pi != NONE).then_some((Local::BuiltinWriter(i as u32), pi));
        }
        let slot = self.writer_slot_of(writer_id)?;
        let pi = self
            .match_index
            .get(&map::match_key(Local::Writer(slot).key(), &reader))?;
        Some((Local::Writer(slot), pi))
    }

    /// The slot of the user writer with entity id `id`.
    fn writer_slot_of(&self, id: EntityId) -> Option<u32> {
        let key = id.key();
        let slot = (key & 0xffff).checked_sub(1)?;
        let lw = self.writers.get(slot)?;
        (lw.writer.guid.entity == id).then_some(slot)
    }

    pub(crate) fn writer_at(&mut self, local: Local) -> Option<&mut Writer<'a>> {
        match local {
            Local::BuiltinWriter(i) => self.builtin_writers.get_mut(i as usize),
            Local::Writer(i) => self.writers.get_mut(i).map(|lw| &mut lw.writer),
            _ => None,
        }
    }

    pub(crate) fn reader_at(&mut self, local: Local) -> Option<&mut Reader<'a>> {
        match local {
            Local::BuiltinReader(i) => self.builtin_readers.get_mut(i as usize),
            Local::Reader(i) => self.readers.get_mut(i).map(|lr| &mut lr.reader),
            _ => None,
        }
    }

    fn on_acknack(&mut self, now: Instant, rx: &Receiver, a: &AckNackRepr) {
        let reader = Guid::new(rx.source, a.reader_id);
        let Some((local, pi)) = self.acked_proxy(a.writer_id, reader) else {
            self.stats.dropped_unknown_endpoint += 1;
            return;
        };
        let pool = &mut self.pool;
        let (w, extra) = match local {
            Local::BuiltinWriter(i) => (&mut self.builtin_writers[i as usize], None),
            Local::Writer(i) => match self.writers.get_mut(i) {
                Some(lw) => {
                    let key = lw.key;
                    (&mut lw.writer, Some(key))
                }
                None => return,
            },
            _ => return,
        };
        let note = w.on_acknack(now, pi, a);
        // What every reliable reader has now acknowledged may go (volatile KEEP_ALL).
        w.release_acknowledged(pool);
        let owes = w.owes(pi);
        let all_acked = extra.is_some() && w.reliable && w.take_all_acknowledged();
        let reader = w.proxy(pi).map(|p| p.guid);
        self.count_ack_note(note, local, reader);
        if owes {
            self.queue(Work { local, index: pi });
        }
        self.sync_writer_timer(local);
        if let (true, Some(key)) = (all_acked, extra) {
            self.emit(Event::AllAcknowledged(WriterHandle(key)));
        }
    }

    /// Counts what an ACKNACK or NACK_FRAG was found to be, and reports a reader that
    /// acknowledged again after being unresponsive.
    fn count_ack_note(&mut self, n: AckNote, local: Local, reader: Option<Guid>) {
        let s = &mut self.stats;
        s.dropped_unknown_endpoint += u64::from(!n.known);
        s.dropped_stale_count += u64::from(n.stale);
        s.counts_reset += u64::from(n.reset);
        s.stale_acknacks_used += u64::from(n.stale_used);
        s.dropped_unsent_ack += u64::from(n.unsent);
        s.nacks_throttled += u64::from(n.throttled);
        if n.recovered {
            s.readers_recovered += 1;
            if let (Local::Writer(i), Some(reader)) = (local, reader) {
                if let Some(key) = self.writers.get(i).map(|lw| lw.key) {
                    self.emit(Event::ReaderRecovered {
                        writer: WriterHandle(key),
                        reader,
                    });
                }
            }
        }
    }

    /// Without the `frag` feature nothing is sent in fragments, so there is nothing to repair.
    #[cfg(not(feature = "frag"))]
    fn on_nack_frag(&mut self, _rx: &Receiver, _n: &NackFragRepr) {
        self.stats.dropped_fragmented += 1;
    }

    #[cfg(feature = "frag")]
    fn on_nack_frag(&mut self, rx: &Receiver, n: &NackFragRepr) {
        if n.writer_sn.0 < 1 {
            self.stats.dropped_invalid += 1;
            return;
        }
        let reader = Guid::new(rx.source, n.reader_id);
        let Some((local, pi)) = self.acked_proxy(n.writer_id, reader) else {
            self.stats.dropped_unknown_endpoint += 1;
            return;
        };
        let now = self.now;
        let (note, owes) = match self.writer_at(local) {
            Some(w) => (w.on_nack_frag(now, pi, n), w.owes(pi)),
            None => (AckNote::default(), false),
        };
        self.count_ack_note(note, local, None);
        if owes {
            self.queue(Work { local, index: pi });
        }
    }

    // ----------------------------------------------------------------------------------------
    // The schedule

    /// Queues owed work for a proxy (or a participant's directed SPDP) unless it is queued.
    pub(crate) fn queue(&mut self, w: Work) {
        let flag: Option<&mut bool> = match w.local {
            Local::Spdp => self.participants.get_mut(w.index).map(|p| &mut p.queued),
            Local::BuiltinWriter(_) | Local::Writer(_) => self
                .writer_at(w.local)
                .and_then(|wr| wr.proxy_mut(w.index))
                .map(|p| &mut p.queued),
            Local::BuiltinReader(_) | Local::Reader(_) => self
                .reader_at(w.local)
                .and_then(|r| r.proxy_mut(w.index))
                .map(|p| &mut p.queued),
        };
        let Some(flag) = flag else { return };
        if *flag {
            return;
        }
        *flag = true;
        if !self.work.push(w) {
            // Cannot happen while the queue is reserved for every proxy; counted if it does
            // (the periodic heartbeat and pre-emptive ACKNACK timers find the work again).
            self.stats.dropped_no_space += 1;
            self.clear_queued(w);
        }
    }

    /// Takes `w` out of the queue if it is there: its proxy (or participant) is going away.
    pub(crate) fn unqueue(&mut self, w: Work) {
        let queued = match w.local {
            Local::Spdp => self.participants.get(w.index).is_some_and(|p| p.queued),
            Local::BuiltinWriter(_) | Local::Writer(_) => self
                .writer_at(w.local)
                .and_then(|x| x.proxy(w.index))
                .is_some_and(|p| p.queued),
            _ => self
                .reader_at(w.local)
                .and_then(|x| x.proxy(w.index))
                .is_some_and(|p| p.queued),
        };
        if queued {
            self.work.forget(w);
        }
    }

    fn clear_queued(&mut self, w: Work) {
        match w.local {
            Local::Spdp => {
                if let Some(p) = self.participants.get_mut(w.index) {
                    p.queued = false;
                }
            }
            Local::BuiltinWriter(_) | Local::Writer(_) => {
                if let Some(p) = self.writer_at(w.local).and_then(|x| x.proxy_mut(w.index)) {
                    p.queued = false;
                }
            }
            _ => {
                if let Some(p) = self.reader_at(w.local).and_then(|x| x.proxy_mut(w.index)) {
                    p.queued = false;
                }
            }
        }
    }

    fn queue_batch(&mut self, local: Local, b: &WorkBatch, now: Instant) {
        if b.overflow {
            // More than a batch holds: queue every proxy that owes (rare: many at once).
            let n = match local {
                Local::BuiltinWriter(_) | Local::Writer(_) => {
                    self.writer_at(local).map_or(0, |w| w.proxies.high_water())
                }
                _ => self.reader_at(local).map_or(0, |r| r.proxies.high_water()),
            };
            for index in 0..n as u32 {
                let owes = match local {
                    Local::BuiltinWriter(_) | Local::Writer(_) => {
                        self.writer_at(local).is_some_and(|w| w.owes(index))
                    }
                    _ => self
                        .reader_at(local)
                        .is_some_and(|r| r.acknack_owed(index, now)),
                };
                if owes {
                    self.queue(Work { local, index });
                }
            }
            return;
        }
        for &index in &b.items[..b.len] {
            self.queue(Work { local, index });
        }
    }

    /// Queues every proxy of a writer (new data for all).
    pub(crate) fn queue_all_proxies(&mut self, local: Local) {
        let n = self.writer_at(local).map_or(0, |w| w.proxies.high_water());
        for index in 0..n as u32 {
            // A proxy queued already (every write after the first of a burst finds them so)
            // costs one look, not `queue`'s second one.
            if self
                .writer_at(local)
                .and_then(|w| w.proxy(index))
                .is_some_and(|p| !p.queued)
            {
                self.queue(Work { local, index });
            }
        }
    }

    /// Makes sure the work queue holds an item for every proxy and participant.
    pub(crate) fn reserve_work(&mut self) {
        let n = 7 * self.participants.high_water() + self.user_matches + 64;
        self.work.reserve(n);
    }

    // ----------------------------------------------------------------------------------------
    // Application commands

    fn next_key(&mut self, slot: u32) -> u32 {
        self.generation = self.generation.wrapping_add(1);
        ((self.generation & 0xff) << 16) | (slot + 1)
    }

    /// `qos` = (reliability, durability, deadline, liveliness lease).
    fn local_info(
        &self,
        guid: Guid,
        topic: &TopicSpec<'_>,
        is_writer: bool,
        qos: (Reliability, Durability, Option<Span>, Option<Span>),
    ) -> Result<EndpointInfo, CreateError> {
        let (reliability, durability, deadline, liveliness) = qos;
        if !topic.fits() {
            return Err(CreateError::TooLarge);
        }
        let reps: &[i16] = if is_writer {
            &[DataRepresentations::XCDR1]
        } else {
            &[DataRepresentations::XCDR1, DataRepresentations::XCDR2]
        };
        Ok(EndpointInfo {
            guid,
            is_writer,
            keyed: topic.keyed,
            topic: Name::new(topic.name).ok_or(CreateError::TooLarge)?,
            type_name: Name::new(topic.type_name).ok_or(CreateError::TooLarge)?,
            partitions: Partitions::from_iter(topic.partitions.iter().copied())
                .ok_or(CreateError::TooLarge)?,
            reliability,
            durability,
            deadline_us: deadline.map_or(u64::MAX, |d| d.micros()),
            liveliness_us: liveliness.map_or(u64::MAX, |d| d.micros()),
            exclusive_ownership: false,
            data_representation: DataRepresentations::new(reps),
            has_data_representation: true,
            locator: Some(self.user_locator()),
            #[cfg(feature = "ros")]
            type_hash: None,
        })
    }

    fn check_history(&self, h: History, max: usize) -> Result<(), CreateError> {
        match h {
            History::KeepLast(n) if n == 0 || n as usize > max => Err(CreateError::BadQos),
            _ => Ok(()),
        }
    }

    /// Proxies a new local endpoint may hold.
    fn proxy_share(&self) -> usize {
        match self.arenas.reader_proxies.available() {
            usize::MAX => self.caps.matches,
            _ => StorageSizes::share(&self.caps),
        }
    }

    /// Creates a writer, announces it in SEDP and matches it with known readers.
    pub fn create_writer(
        &mut self,
        now: Instant,
        topic: &TopicSpec<'_>,
        qos: &WriterQos,
    ) -> Result<WriterHandle, CreateError> {
        let now = self.tick(now);
        self.check_history(qos.history, self.caps.history)?;
        let slot = self
            .writers
            .next_index()
            .ok_or(CreateError::TooManyEndpoints)?;
        let key = self.next_key(slot);
        let kind = if topic.keyed { 0x02 } else { 0x03 };
        let guid = Guid::new(self.cfg.guid_prefix, EntityId::new(key, kind));
        let info = self.local_info(
            guid,
            topic,
            true,
            (
                qos.reliability,
                qos.durability,
                qos.deadline,
                qos.liveliness_lease,
            ),
        )?;
        // Keyed KEEP_LAST keeps `n` per instance, so its ring is as large as allowed.
        let depth = match qos.history {
            History::KeepLast(n) if !topic.keyed => n as usize,
            _ => (qos.max_samples as usize).clamp(1, self.caps.history),
        };
        let share = self.proxy_share();
        // In caller storage every writer gets runs of the largest size, kept in its slot when
        // it is deleted and reused by the next writer there.
        let borrowed = self.arenas.history.available() != usize::MAX;
        let ring = if borrowed { self.caps.history } else { depth };
        let spare = self.writers.slot_mut(slot).and_then(|s| s.1.take());
        let (history, proxies) = match spare {
            Some((h, p)) if h.len() >= ring && p.len() >= share => (h, Slab::new(p, share)),
            _ => (
                carve_history(&mut self.arenas, ring),
                carve_slab(&mut self.arenas.reader_proxies, share),
            ),
        };
        let short = history.len() < ring || proxies.capacity() == 0;
        // Announced before it exists, so that a refusal leaves nothing behind: an endpoint
        // that was never announced could never be matched.
        let announced = !short && self.announce_endpoint(&info, qos.history, false);
        if !announced {
            if let Some(s) = self.writers.slot_mut(slot) {
                s.1 = Some((history, proxies.into_slots()));
            }
            return Err(if short {
                CreateError::TooManyEndpoints
            } else {
                CreateError::NoAnnouncementSpace
            });
        }
        let storage = WriterStorage { history, proxies };
        let mut writer = Writer::new(
            guid,
            qos.reliability == Reliability::Reliable,
            qos.durability,
            qos.history,
            self.cfg.heartbeat_period,
            self.caps.in_flight,
            storage,
        );
        writer.max_samples = writer.max_samples.min(depth);
        let lw = LocalWriter {
            info,
            writer,
            key,
            prev_topic: NONE,
            next_topic: NONE,
        };
        let got = self
            .writers
            .insert(lw)
            .map_err(|_| CreateError::TooManyEndpoints)?;
        debug_assert_eq!(got, slot);
        self.link_local_topic(Local::Writer(slot));
        self.match_new_local(now, Local::Writer(slot), &info);
        Ok(WriterHandle(key))
    }

    /// Creates a reader, announces it in SEDP and matches it with known writers.
    pub fn create_reader(
        &mut self,
        now: Instant,
        topic: &TopicSpec<'_>,
        qos: &ReaderQos,
    ) -> Result<ReaderHandle, CreateError> {
        let now = self.tick(now);
        self.check_history(qos.history, self.caps.reader_samples)?;
        let slot = self
            .readers
            .next_index()
            .ok_or(CreateError::TooManyEndpoints)?;
        let key = self.next_key(slot);
        let kind = if topic.keyed { 0x07 } else { 0x04 };
        let guid = Guid::new(self.cfg.guid_prefix, EntityId::new(key, kind));
        let info = self.local_info(
            guid,
            topic,
            false,
            (
                qos.reliability,
                qos.durability,
                qos.deadline,
                qos.liveliness_lease,
            ),
        )?;
        let c = self.caps;
        let n = (qos.max_samples as usize).clamp(1, c.reader_samples);
        let share = self.proxy_share();
        let words = c.fragment_words();
        // As for writers: caller storage gives every reader runs of the largest size, kept in
        // its slot for the next reader there.
        let borrowed = self.arenas.samples.available() != usize::MAX;
        let slots = if borrowed { c.reader_samples } else { n };
        // Without the `frag` feature no reassembly slots are carved (`StorageSizes`).
        let reassemblies = if cfg!(feature = "frag") {
            c.reassemblies
        } else {
            0
        };
        let spare = self.readers.slot_mut(slot).and_then(|s| s.1.take());
        let (proxies, samples, frags, bits) = match spare {
            Some((p, sm, f, b))
                if p.len() >= share
                    && sm.len() >= slots
                    && f.len() >= reassemblies
                    && b.len() >= reassemblies * words =>
            {
                let mut samples = Slab::new(sm, slots);
                samples.reserve(slots);
                (Slab::new(p, share), samples, f, b)
            }
            _ => (
                carve_slab(&mut self.arenas.writer_proxies, share),
                carve_slab_reserved(&mut self.arenas.samples, slots),
                carve_fill(&mut self.arenas.reassemblies, reassemblies, || {
                    ReassemblySlot::vacant()
                }),
                carve_fill(&mut self.arenas.bits, reassemblies * words, || 0),
            ),
        };
        let short = samples.capacity() < slots || proxies.capacity() == 0;
        // Announced before it exists, so that a refusal leaves nothing behind: an endpoint
        // that was never announced could never be matched.
        let announced = !short && self.announce_endpoint(&info, qos.history, false);
        if !announced {
            if let Some(s) = self.readers.slot_mut(slot) {
                s.1 = Some((proxies.into_slots(), samples.into_slots(), frags, bits));
            }
            return Err(if short {
                CreateError::TooManyEndpoints
            } else {
                CreateError::NoAnnouncementSpace
            });
        }
        let storage = ReaderStorage {
            proxies,
            samples,
            frags,
            bits,
            max_sample: c.max_sample,
        };
        let reader = Reader::new(
            guid,
            qos.reliability == Reliability::Reliable,
            qos.history,
            n,
            storage,
        );
        let lr = LocalReader {
            info,
            reader,
            key,
            prev_topic: NONE,
            next_topic: NONE,
        };
        self.readers
            .insert(lr)
            .map_err(|_| CreateError::TooManyEndpoints)?;
        self.link_local_topic(Local::Reader(slot));
        self.match_new_local(now, Local::Reader(slot), &info);
        Ok(ReaderHandle(key))
    }

    fn writer_slot(&self, w: WriterHandle) -> Option<u32> {
        let slot = (w.0 & 0xffff).checked_sub(1)?;
        (self.writers.get(slot)?.key == w.0).then_some(slot)
    }

    fn reader_slot(&self, r: ReaderHandle) -> Option<u32> {
        let slot = (r.0 & 0xffff).checked_sub(1)?;
        (self.readers.get(slot)?.key == r.0).then_some(slot)
    }

    /// Deletes a writer: withdrawn from SEDP, its history freed. Returns false if unknown.
    pub fn delete_writer(&mut self, now: Instant, w: WriterHandle) -> bool {
        self.tick(now);
        let Some(slot) = self.writer_slot(w) else {
            return false;
        };
        self.unmatch_local(Local::Writer(slot));
        self.unlink_local_topic(Local::Writer(slot));
        self.timers.clear(Timer::Heartbeat(slot));
        let Some(mut lw) = self.writers.remove(slot) else {
            return false;
        };
        lw.writer.clear(&mut self.pool);
        self.announce_endpoint(&lw.info, History::KeepLast(1), true);
        let runs = lw.writer.into_runs();
        if matches!(runs.0, Slots::Borrowed(_)) {
            if let Some(s) = self.writers.slot_mut(slot) {
                s.1 = Some(runs);
            }
        }
        true
    }

    /// Deletes a reader: withdrawn from SEDP, its samples freed. Returns false if unknown.
    pub fn delete_reader(&mut self, now: Instant, r: ReaderHandle) -> bool {
        self.tick(now);
        let Some(slot) = self.reader_slot(r) else {
            return false;
        };
        self.unmatch_local(Local::Reader(slot));
        self.unlink_local_topic(Local::Reader(slot));
        self.timers.clear(Timer::Reader(slot));
        self.timers.clear(Timer::Reassembly(slot));
        let Some(mut lr) = self.readers.remove(slot) else {
            return false;
        };
        lr.reader.clear(&mut self.pool);
        self.announce_endpoint(&lr.info, History::KeepLast(1), true);
        let runs = lr.reader.into_runs();
        if matches!(runs.1, Slots::Borrowed(_)) {
            if let Some(s) = self.readers.slot_mut(slot) {
                s.1 = Some(runs);
            }
        }
        true
    }

    #[allow(clippy::too_many_arguments)]
    fn write_change(
        &mut self,
        now: Instant,
        w: WriterHandle,
        payload: &[u8],
        source_time: Time,
        key_hash: Option<[u8; 16]>,
        status: StatusInfo,
        related: Option<SampleIdentity>,
    ) -> Result<SequenceNumber, WriteError> {
        let now = self.tick(now);
        #[cfg(not(feature = "rpc"))]
        if related.is_some() {
            return Err(WriteError::Unsupported);
        }
        if payload.len() > self.caps.max_sample {
            return Err(WriteError::TooLarge);
        }
        // Without the `frag` feature a sample must fit one DATA.
        #[cfg(not(feature = "frag"))]
        if payload.len() > self.fragment_size() {
            return Err(WriteError::TooLarge);
        }
        let slot = self.writer_slot(w).ok_or(WriteError::UnknownWriter)?;
        let lw = self
            .writers
            .get_mut(slot)
            .ok_or(WriteError::UnknownWriter)?;
        if (status.0 != 0 || key_hash.is_some()) && !lw.info.keyed {
            return Err(WriteError::NotKeyed);
        }
        let sn = lw
            .writer
            .add_related(
                now,
                &mut self.pool,
                &[payload],
                Some(source_time),
                key_hash,
                status,
                crate::rpc::Related::new(related),
            )
            .map_err(|e| match e {
                AddError::Full => WriteError::HistoryFull,
                AddError::NoSpace => WriteError::OutOfMemory,
            })?;
        self.stats.samples_written += 1;
        self.queue_all_proxies(Local::Writer(slot));
        self.sync_writer_timer(Local::Writer(slot));
        Ok(SequenceNumber(sn))
    }

    /// Writes one sample: `payload` is the serialized data including its 4-byte encapsulation
    /// header (for example `00 01 00 00` + CDR little-endian).
    pub fn write(
        &mut self,
        now: Instant,
        w: WriterHandle,
        payload: &[u8],
        source_time: Time,
    ) -> Result<SequenceNumber, WriteError> {
        self.write_change(now, w, payload, source_time, None, StatusInfo(0), None)
    }

    /// Writes one sample that names the sample it relates to (DDS-RPC's related sample
    /// identity, sent as inline QoS): a service reply names the request it answers, a ROS 2
    /// request over Fast DDS the client's reply reader. [`WriteError::Unsupported`] without
    /// the `rpc` feature.
    pub fn write_related(
        &mut self,
        now: Instant,
        w: WriterHandle,
        payload: &[u8],
        related: SampleIdentity,
        source_time: Time,
    ) -> Result<SequenceNumber, WriteError> {
        self.write_change(
            now,
            w,
            payload,
            source_time,
            None,
            StatusInfo(0),
            Some(related),
        )
    }

    /// Writes one sample of a keyed topic with its 16-byte key hash: KEEP_LAST then keeps the
    /// newest samples per instance, and the hash travels as inline QoS.
    pub fn write_keyed(
        &mut self,
        now: Instant,
        w: WriterHandle,
        payload: &[u8],
        key_hash: [u8; 16],
        source_time: Time,
    ) -> Result<SequenceNumber, WriteError> {
        self.write_change(
            now,
            w,
            payload,
            source_time,
            Some(key_hash),
            StatusInfo(0),
            None,
        )
    }

    /// Disposes an instance of a keyed topic. `key` is the serialized key (encapsulation header
    /// included) or empty, `key_hash` its 16-byte hash.
    pub fn dispose(
        &mut self,
        now: Instant,
        w: WriterHandle,
        key: &[u8],
        key_hash: [u8; 16],
        source_time: Time,
    ) -> Result<SequenceNumber, WriteError> {
        self.write_change(
            now,
            w,
            key,
            source_time,
            Some(key_hash),
            StatusInfo(StatusInfo::DISPOSED),
            None,
        )
    }

    /// Unregisters an instance of a keyed topic (see [`Engine::dispose`]).
    pub fn unregister(
        &mut self,
        now: Instant,
        w: WriterHandle,
        key: &[u8],
        key_hash: [u8; 16],
        source_time: Time,
    ) -> Result<SequenceNumber, WriteError> {
        self.write_change(
            now,
            w,
            key,
            source_time,
            Some(key_hash),
            StatusInfo(StatusInfo::UNREGISTERED),
            None,
        )
    }

    /// Copies the oldest available sample of reader `r` into `out`.
    pub fn take(
        &mut self,
        r: ReaderHandle,
        out: &mut [u8],
    ) -> Result<Option<SampleInfo>, TakeError> {
        let slot = self.reader_slot(r).ok_or(TakeError::UnknownReader)?;
        let lr = self.readers.get_mut(slot).ok_or(TakeError::UnknownReader)?;
        let Some(next) = lr.reader.peek() else {
            return Ok(None);
        };
        let needed = next.data.as_ref().map_or(0, |d| d.len());
        if needed > out.len() {
            return Err(TakeError::BufferTooSmall { needed });
        }
        let Some(s) = lr.reader.pop() else {
            return Ok(None);
        };
        let len = match s.data {
            Some(d) => {
                let n = self.pool.read(&d, out);
                self.pool.free(d);
                n
            }
            None => 0,
        };
        let state = if s.status.disposed() {
            InstanceState::Disposed
        } else if s.status.unregistered() {
            InstanceState::Unregistered
        } else {
            InstanceState::Alive
        };
        Ok(Some(SampleInfo {
            writer: s.writer,
            sn: SequenceNumber(s.sn),
            source_timestamp: s.timestamp,
            len,
            state,
            key_hash: s.key_hash,
            related: s.related.get(),
        }))
    }

    /// Number of remote endpoints matched with writer `w`.
    pub fn matched_readers(&self, w: WriterHandle) -> usize {
        self.writer_slot(w)
            .and_then(|s| self.writers.get(s))
            .map_or(0, |lw| lw.writer.proxies.len())
    }

    /// Matched readers known to have matched writer `w` in turn: reliable ones that sent an
    /// ACKNACK (a reader only acknowledges a writer it knows), plus best-effort ones, which give
    /// no sign. Writing before a volatile reader is ready can lose samples for it: some stacks
    /// (Cyclone DDS) skip what was written before their first HEARTBEAT from the writer.
    pub fn ready_readers(&self, w: WriterHandle) -> usize {
        self.writer_slot(w)
            .and_then(|s| self.writers.get(s))
            .map_or(0, |lw| {
                lw.writer
                    .proxies
                    .iter()
                    .filter(|(_, p)| !p.reliable || p.ack_guard.seen())
                    .count()
            })
    }

    /// Whether writer `w` is matched with the remote reader `reader` and it is ready (as
    /// [`Engine::ready_readers`] counts them): a service replies once the client's reply
    /// reader is there, or the reply would be lost.
    pub fn is_ready_for(&self, w: WriterHandle, reader: Guid) -> bool {
        self.writer_slot(w)
            .and_then(|s| self.writers.get(s))
            .is_some_and(|lw| {
                lw.writer
                    .proxies
                    .iter()
                    .any(|(_, p)| p.guid == reader && (!p.reliable || p.ack_guard.seen()))
            })
    }

    /// Number of remote endpoints matched with reader `r`.
    pub fn matched_writers(&self, r: ReaderHandle) -> usize {
        self.reader_slot(r)
            .and_then(|s| self.readers.get(s))
            .map_or(0, |lr| lr.reader.proxies.len())
    }

    /// Whether every sample of writer `w` was acknowledged by every matched reliable reader.
    pub fn is_acknowledged(&self, w: WriterHandle) -> bool {
        self.writer_slot(w)
            .and_then(|s| self.writers.get(s))
            .is_some_and(|lw| !lw.writer.unacknowledged_now())
    }

    /// The remote participants currently known.
    pub fn participants(&self) -> impl Iterator<Item = ParticipantSummary> + '_ {
        self.participants.iter().map(|(_, p)| ParticipantSummary {
            guid_prefix: p.prefix,
            vendor: p.vendor,
            version: p.version,
            lease: p.lease,
            user_data: p.user_data,
            user_data_len: p.user_data_len,
        })
    }

    /// The remote user endpoints currently known from SEDP.
    pub fn remote_endpoints(&self) -> impl Iterator<Item = EndpointSummary<'_>> + '_ {
        self.remote.iter().map(|(_, r)| {
            let r = &r.info;
            EndpointSummary {
                guid: r.guid,
                is_writer: r.is_writer,
                topic: r.topic.as_str(),
                type_name: r.type_name.as_str(),
                keyed: r.keyed,
                reliability: r.reliability,
                durability: r.durability,
                #[cfg(feature = "ros")]
                type_hash: r.type_hash,
                #[cfg(not(feature = "ros"))]
                type_hash: None,
                partitions: &r.partitions,
            }
        })
    }

    /// The GUID of a local writer.
    pub fn writer_guid(&self, w: WriterHandle) -> Option<Guid> {
        self.writer_slot(w)
            .and_then(|s| self.writers.get(s))
            .map(|lw| lw.writer.guid)
    }

    /// The GUID of a local reader.
    pub fn reader_guid(&self, r: ReaderHandle) -> Option<Guid> {
        self.reader_slot(r)
            .and_then(|s| self.readers.get(s))
            .map(|lr| lr.reader.guid)
    }

    /// The capacities in force.
    pub fn capacities(&self) -> &Capacities {
        &self.caps
    }

    /// How full each table is: (participants, remote endpoints, matches).
    pub fn table_use(&self) -> (usize, usize, usize) {
        (
            self.participants.len(),
            self.remote.len(),
            self.user_matches,
        )
    }

    // ----------------------------------------------------------------------------------------
    // Outputs

    /// Writes the next owed datagram into `buf` (which should hold `Config::mtu` bytes).
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        let now = self.tick(now);
        let mtu = self.cfg.mtu.min(buf.len());
        // Leave room to frame the message for a stream.
        let build = mtu.saturating_sub(CycloneFraming::OVERHEAD);
        let mut t = self.next_transmit(now, &mut buf[..build])?;
        if let Destination::Udp(loc) = t.destination {
            if loc.kind() == LocatorKind::TcpV4 {
                let Some(len) = self.framing.frame(&mut buf[..mtu], t.len) else {
                    // Cannot happen with the room reserved above; counted if it ever does
                    // (reliable data is repaired, best-effort data is lost).
                    self.stats.dropped_unframeable += 1;
                    return None;
                };
                t.len = len;
                t.destination = Destination::Tcp(loc);
            }
        }
        self.stats.datagrams_out += 1;
        self.stats.bytes_out += t.len as u64;
        Some(t)
    }

    fn next_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        if let Some(t) = self.next_announcement(buf) {
            return Some(t);
        }
        let own = self.cfg.guid_prefix;
        while let Some(w) = self.work.pop() {
            self.clear_queued(w);
            match w.local {
                Local::Spdp if !self.shutting_down && !self.may_send(w.index, now, false) => {
                    // Owed no more: a participant that never answered gets no second greeting.
                    if let Some(p) = self.participants.get_mut(w.index) {
                        p.directed_spdp_owed = 0;
                    }
                }
                Local::Spdp => {
                    if let Some(t) = self.directed_spdp(w.index, buf) {
                        return Some(t);
                    }
                }
                _ if self.shutting_down => {}
                _ => {
                    let Ok(mut b) = MessageBuilder::new(&mut *buf, &HeaderRepr::new(own)) else {
                        continue;
                    };
                    let Some((to, mut dst)) = self.push_work(now, w, &mut b, None) else {
                        continue;
                    };
                    // The work queued next rides in the same datagram while it goes to the
                    // same locator and fits: the ACKNACK a reader owes beside the reply its
                    // application just wrote, say. Only the head of the queue is looked at.
                    while let Some(next) = self.work.peek() {
                        // Room for the largest INFO_DST, ACKNACK and NACK_FRAG: an ACKNACK
                        // taken from its reader is sent or lost, so it is taken only when it
                        // fits; a writer that finds no room stays owed and queued.
                        if next == w
                            || b.remaining() < BUNDLE_ROOM
                            || self.work_locator(next) != Some(to)
                        {
                            break;
                        }
                        let _ = self.work.pop();
                        self.clear_queued(next);
                        match self.push_work(now, next, &mut b, Some(dst)) {
                            Some((_, d)) => dst = d,
                            None => break,
                        }
                    }
                    return Some(Transmit {
                        destination: Destination::Udp(to),
                        len: b.finish(),
                    });
                }
            }
        }
        None
    }

    /// Where the datagrams of queued work `w` go (`None` for a directed SPDP or a proxy gone).
    fn work_locator(&mut self, w: Work) -> Option<Locator> {
        match w.local {
            Local::BuiltinWriter(_) | Local::Writer(_) => {
                self.writer_at(w.local)?.proxy(w.index).map(|p| p.locator)
            }
            Local::BuiltinReader(_) | Local::Reader(_) => {
                self.reader_at(w.local)?.proxy(w.index).map(|p| p.locator)
            }
            Local::Spdp => None,
        }
    }

    /// Appends what writer or reader proxy `w` owes to `b` (whose INFO_DST in effect names
    /// `dst`). Returns the locator it goes to and the participant the INFO_DST in effect
    /// names, or `None` when nothing was added.
    fn push_work(
        &mut self,
        now: Instant,
        w: Work,
        b: &mut MessageBuilder<'_>,
        dst: Option<GuidPrefix>,
    ) -> Option<(Locator, GuidPrefix)> {
        match w.local {
            Local::BuiltinWriter(_) | Local::Writer(_) => {
                let to = self.writer_at(w.local)?.proxy(w.index)?.guid.prefix;
                if !self.may_send_to(to, now, true) {
                    // Left owed: it goes when the participant answers.
                    return None;
                }
                let builtin = matches!(w.local, Local::BuiltinWriter(_));
                let fragment_size = self.fragment_size();
                let pool = &self.pool;
                let wr = match w.local {
                    Local::BuiltinWriter(i) => self.builtin_writers.get_mut(i as usize),
                    Local::Writer(i) => self.writers.get_mut(i).map(|lw| &mut lw.writer),
                    _ => None,
                }?;
                let r = transmit::push_writer(wr, w.index, pool, builtin, fragment_size, b, dst);
                let again = wr.owes(w.index);
                if again {
                    self.queue(w);
                }
                let (loc, packed) = r?;
                self.count_packed(packed);
                Some((loc, to))
            }
            Local::BuiltinReader(_) | Local::Reader(_) => {
                let to = self.reader_at(w.local)?.proxy(w.index)?.guid.prefix;
                // Built either way, as if lost when held: the reader's own timer asks again.
                let start = b.mark();
                let loc = self.push_acknack(now, w, b, dst)?;
                if !self.may_send_to(to, now, false) {
                    self.stats.acknacks_sent = self.stats.acknacks_sent.saturating_sub(1);
                    b.rewind(start);
                    return None;
                }
                Some((loc, to))
            }
            Local::Spdp => None,
        }
    }

    /// Appends the ACKNACK (and NACK_FRAG) reader proxy `w` owes to `b`, after an INFO_DST
    /// unless `dst` already names the writer's participant; returns where it goes.
    fn push_acknack(
        &mut self,
        now: Instant,
        w: Work,
        b: &mut MessageBuilder<'_>,
        dst: Option<GuidPrefix>,
    ) -> Option<Locator> {
        let reader = self.reader_at(w.local)?;
        let p = *reader.proxy(w.index)?;
        let a = reader.take_acknack(w.index, now)?;
        let nf = if a.final_flag {
            // After a HEARTBEAT: ask for the fragments of a partial sample too.
            reader.nack_frag(w.index)
        } else {
            None
        };
        let start = b.mark();
        if dst != Some(p.guid.prefix) {
            b.push(&SubmessageRepr::InfoDst(InfoDstRepr {
                guid_prefix: p.guid.prefix,
            }))
            .ok()?;
        }
        if b.push(&SubmessageRepr::AckNack(a)).is_err() {
            // Lost as if on the wire: the reader's timer asks again.
            b.rewind(start);
            return None;
        }
        if let Some(nf) = nf {
            let _ = b.push(&SubmessageRepr::NackFrag(nf));
        }
        self.stats.acknacks_sent += 1;
        if !p.heartbeat_seen {
            // Pre-emptive: the next one in a period unless a HEARTBEAT comes first.
            self.arm_reader_timer(w.local, now + crate::reader::PREEMPTIVE_PERIOD);
        }
        Some(p.locator)
    }

    /// Bytes per DATA_FRAG fragment: the configured size, shrunk to what one datagram of the
    /// MTU can carry, a multiple of 4.
    pub(crate) fn fragment_size(&self) -> usize {
        let fit = self.cfg.mtu.saturating_sub(transmit::fragment_overhead());
        (self.cfg.fragment_size.min(fit) & !3).max(4)
    }

    fn count_packed(&mut self, p: transmit::Packed) {
        self.stats.retransmits += p.repairs as u64;
        self.stats.gaps_sent += p.gaps as u64;
        self.stats.heartbeats_sent += p.heartbeats as u64;
    }

    /// The next application event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop()
    }

    /// When `handle_timeout` must be called next (after draining transmits and events).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let next = self.timers.next();
        #[cfg(feature = "alloc")]
        let next = match (next, self.stream_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        next
    }
}

/// The proxies of one endpoint that a timer made owe something, collected while the endpoint
/// is borrowed and queued after; beyond sixteen, [`Engine::queue_batch`] looks at them all.
pub(crate) struct WorkBatch {
    items: [u32; 16],
    len: usize,
    overflow: bool,
}

impl WorkBatch {
    pub(crate) fn new() -> Self {
        WorkBatch {
            items: [0; 16],
            len: 0,
            overflow: false,
        }
    }

    pub(crate) fn add(&mut self, index: u32) {
        if self.len == self.items.len() {
            self.overflow = true;
            return;
        }
        self.items[self.len] = index;
        self.len += 1;
    }
}

/// A heap run for a slab (an empty borrowed run without `alloc`, never used then).
fn heap_run<'a, S>() -> Slots<'a, S> {
    #[cfg(feature = "alloc")]
    {
        Slots::Owned(alloc::vec::Vec::new())
    }
    #[cfg(not(feature = "alloc"))]
    {
        Slots::empty()
    }
}

/// A slab of at most `n` entries carved from `arena` (or on the heap).
pub(crate) fn carve_slab<'a, S: crate::storage::Slot>(
    arena: &mut Arena<'a, S>,
    n: usize,
) -> Slab<'a, S> {
    match arena.carve(n, || S::wrap(Entry::Vacant(NONE))) {
        Some(run) => Slab::new(run, n),
        None => Slab::none(),
    }
}

/// [`carve_slab`] for a table the message path fills (a reader's samples): on the heap its
/// room is reserved at once, so that filling it never allocates.
pub(crate) fn carve_slab_reserved<'a, S: crate::storage::Slot>(
    arena: &mut Arena<'a, S>,
    n: usize,
) -> Slab<'a, S> {
    let mut slab = carve_slab(arena, n);
    slab.reserve(n);
    slab
}

/// A run of exactly `n` entries made by `fill`, carved from `arena` or on the heap.
pub(crate) fn carve_fill<'a, T>(
    arena: &mut Arena<'a, T>,
    n: usize,
    fill: impl Fn() -> T,
) -> Slots<'a, T> {
    match arena.carve(n, &fill) {
        Some(Slots::Borrowed(s)) => Slots::Borrowed(s),
        #[cfg(feature = "alloc")]
        Some(Slots::Owned(_)) => Slots::Owned((0..n).map(|_| fill()).collect()),
        None => Slots::empty(),
    }
}

/// Whether every run of `storage` is as long as capacities `c` need. Not inlined: its
/// arrays are off the stack before the engine is built.
#[inline(never)]
fn check_lengths(c: &Capacities, storage: &Storage<'_>) -> Result<(), ConfigError> {
    let need = StorageSizes::of(c).lengths();
    let have = storage.lengths();
    for i in 0..need.len() {
        if have[i] < need[i] {
            return Err(ConfigError::Capacity(CapacityError::Storage(RUN_NAMES[i])));
        }
    }
    Ok(())
}

/// Builtin writer `i` ([`BUILTIN_WRITER_IDS`]), its tables carved from `arenas`.
#[inline(never)]
fn builtin_writer<'a>(cfg: &Config, i: usize, arenas: &mut Arenas<'a>) -> Writer<'a> {
    let c = &cfg.capacities;
    let n = match i {
        SEDP_PUB => c.sedp_history(c.writers),
        SEDP_SUB => c.sedp_history(c.readers),
        _ => 1,
    };
    // One sample per instance: an announcement per endpoint, one liveliness message.
    let storage = WriterStorage {
        history: carve_history(arenas, n),
        proxies: carve_slab(&mut arenas.reader_proxies, c.participants),
    };
    let mut w = Writer::new(
        Guid::new(cfg.guid_prefix, BUILTIN_WRITER_IDS[i]),
        true,
        Durability::TransientLocal,
        History::KeepLast(1),
        cfg.heartbeat_period,
        usize::MAX,
        storage,
    );
    w.keep_instances = i != PMD;
    w.believe_rewind = i != PMD;
    w
}

/// A builtin writer's stand-in until [`Engine::start_builtins`] makes it: no tables.
#[inline(always)]
fn idle_writer<'a>() -> Writer<'a> {
    let storage = WriterStorage {
        history: Slots::empty(),
        proxies: Slab::new(Slots::empty(), 0),
    };
    let guid = Guid::new(GuidPrefix::UNKNOWN, EntityId::UNKNOWN);
    let idle = Span::from_micros(0);
    Writer::new(
        guid,
        true,
        Durability::Volatile,
        History::KeepAll,
        idle,
        0,
        storage,
    )
}

/// A builtin reader's stand-in until [`Engine::start_builtins`] makes it: no tables.
#[inline(always)]
fn idle_reader<'a>() -> Reader<'a> {
    let storage = ReaderStorage {
        proxies: Slab::new(Slots::empty(), 0),
        samples: Slab::new(Slots::empty(), 0),
        frags: Slots::empty(),
        bits: Slots::empty(),
        max_sample: 0,
    };
    let guid = Guid::new(GuidPrefix::UNKNOWN, EntityId::UNKNOWN);
    Reader::new(guid, true, History::KeepAll, 0, storage)
}

#[cfg(feature = "liveliness")]
/// The participant-message writer with the first liveliness message in it (see
/// [`Engine::assert_liveliness`]; no reader is matched yet).
#[inline(never)]
fn liveliness_writer<'a>(
    cfg: &Config,
    now: Instant,
    arenas: &mut Arenas<'a>,
    pool: &mut Pool<'a>,
    timers: &mut Timers<'_>,
    no_space: &mut bool,
) -> Writer<'a> {
    let mut w = builtin_writer(cfg, PMD, arenas);
    *no_space = !crate::discovery::spdp::write_liveliness(cfg, now, &mut w, pool, timers);
    w
}

/// Builtin reader `i` ([`BUILTIN_READER_IDS`]), its tables carved from `arenas`.
#[inline(never)]
fn builtin_reader<'a>(cfg: &Config, i: usize, arenas: &mut Arenas<'a>) -> Reader<'a> {
    let c = &cfg.capacities;
    let samples = if i == PMD {
        c.pmd_reader_samples()
    } else {
        c.builtin_reader_samples()
    };
    let storage = ReaderStorage {
        proxies: carve_slab(&mut arenas.writer_proxies, c.participants),
        samples: carve_slab_reserved(&mut arenas.samples, samples),
        frags: carve_fill(&mut arenas.reassemblies, 1, ReassemblySlot::vacant),
        bits: carve_fill(&mut arenas.bits, builtin_frag_words(c), || 0),
        max_sample: c.discovery_data,
    };
    Reader::new(
        Guid::new(cfg.guid_prefix, BUILTIN_READER_IDS[i]),
        true,
        History::KeepAll,
        samples,
        storage,
    )
}

/// A history ring of `n` samples.
fn carve_history<'a>(arenas: &mut Arenas<'a>, n: usize) -> Slots<'a, HistorySlot> {
    carve_fill(&mut arenas.history, n, HistorySlot::vacant)
}

impl fmt::Debug for Engine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("guid_prefix", &self.cfg.guid_prefix)
            .field("participants", &self.participants.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}
