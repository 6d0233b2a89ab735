//! Events for the application, queued in a bounded ring.

use crate::storage::{filled, Slots};
use crate::stream::{FrameError, StreamId};
use crate::wire::{Guid, GuidPrefix};

/// A local writer, as returned by `create_writer`: its entity key (a slot and a generation),
/// so a handle of a deleted writer never reaches a later one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WriterHandle(pub(crate) u32);

/// A local reader, as returned by `create_reader` (see [`WriterHandle`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReaderHandle(pub(crate) u32);

/// A table of the engine, as named by [`Event::Refused`] and [`Event::Evicted`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Table {
    /// Remote participants ([`crate::Capacities::participants`]).
    Participants,
    /// Remote endpoints from SEDP ([`crate::Capacities::remote_endpoints`]).
    RemoteEndpoints,
    /// Matched pairs of local and remote endpoints ([`crate::Capacities::matches`]).
    Matches,
}

impl Table {
    /// The [`crate::Capacities`] field that sizes this table.
    pub fn capacity_field(&self) -> &'static str {
        match self {
            Table::Participants => "participants",
            Table::RemoteEndpoints => "remote_endpoints",
            Table::Matches => "matches",
        }
    }
}

/// A local endpoint of either direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// A writer.
    Writer(WriterHandle),
    /// A reader.
    Reader(ReaderHandle),
}

/// The QoS policy that made a match fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum QosPolicy {
    /// Reader asks for reliable, writer offers best effort.
    Reliability,
    /// Reader asks for more durability than the writer offers.
    Durability,
    /// Reader's deadline is shorter than the writer's.
    Deadline,
    /// Reader's liveliness lease is shorter than the writer's, or kinds are incompatible.
    Liveliness,
    /// Ownership kinds differ.
    Ownership,
    /// The writer's data representation is not accepted by the reader.
    DataRepresentation,
    /// Keyed and keyless endpoints on the same topic.
    TopicKind,
}

/// Something the application may want to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A remote participant appeared.
    ParticipantDiscovered(GuidPrefix),
    /// A remote participant's lease expired or it said goodbye.
    ParticipantLost(GuidPrefix),
    /// A local endpoint matched a remote one.
    Matched {
        /// The local endpoint.
        local: Endpoint,
        /// The remote endpoint.
        remote: Guid,
    },
    /// A match ended (remote endpoint or participant gone).
    Unmatched {
        /// The local endpoint.
        local: Endpoint,
        /// The remote endpoint.
        remote: Guid,
    },
    /// Same topic and type, but QoS incompatible.
    IncompatibleQos {
        /// The local endpoint.
        local: Endpoint,
        /// The remote endpoint.
        remote: Guid,
        /// The first policy that failed.
        policy: QosPolicy,
    },
    /// A reader has samples to take.
    DataAvailable(ReaderHandle),
    /// Every sample a reliable writer has written was acknowledged by all its matched readers.
    AllAcknowledged(WriterHandle),
    /// A full table refused something: a participant (its GUID with the participant entity
    /// id), a remote endpoint or a match. The engine learns it again once there is room
    /// (participants from their next announcement, endpoints by asking their SEDP writer
    /// again).
    Refused {
        /// The table.
        table: Table,
        /// What it refused.
        guid: Guid,
    },
    /// A full table made room for something more relevant by forgetting this entry (see the
    /// policies in [`crate::Capacities`]).
    Evicted {
        /// The table.
        table: Table,
        /// What was forgotten.
        guid: Guid,
    },
    /// A stream carried bytes that are not framed RTPS: the driver must close it.
    StreamError {
        /// The connection.
        conn: StreamId,
        /// What was wrong.
        error: FrameError,
    },
    /// A matched reliable reader made no acknowledgement progress for
    /// [`crate::Config::unresponsive_reader_timeout`] while the writer had sent it data: the
    /// writer no longer holds its history for it nor sends it new data (it still heartbeats
    /// it, less and less often).
    ReaderUnresponsive {
        /// The local writer.
        writer: WriterHandle,
        /// The remote reader.
        reader: Guid,
    },
    /// A reader reported by [`Event::ReaderUnresponsive`] acknowledged again and is served
    /// as before.
    ReaderRecovered {
        /// The local writer.
        writer: WriterHandle,
        /// The remote reader.
        reader: Guid,
    },
}

/// One queued event; public so that a caller without `alloc` can provide them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventSlot(Option<Event>);

impl EventSlot {
    /// An empty slot.
    pub const EMPTY: EventSlot = EventSlot(None);

    /// An empty slot, made at run time (see
    /// [`ParticipantSlot::vacant`](crate::ParticipantSlot::vacant)).
    #[inline]
    pub fn vacant() -> EventSlot {
        EventSlot(None)
    }
}

/// Bounded FIFO of events; overflow drops the newest and is counted by the caller.
pub(crate) struct EventQueue<'a> {
    ring: Slots<'a, EventSlot>,
    head: usize,
    len: usize,
}

impl<'a> EventQueue<'a> {
    pub(crate) fn new(run: Option<&'a mut [EventSlot]>, n: usize) -> Self {
        EventQueue {
            ring: filled(run, n, EventSlot::EMPTY),
            head: 0,
            len: 0,
        }
    }

    /// Returns false when full.
    pub(crate) fn push(&mut self, e: Event) -> bool {
        let cap = self.ring.len();
        if self.len == cap {
            return false;
        }
        self.ring[(self.head + self.len) % cap] = EventSlot(Some(e));
        self.len += 1;
        true
    }

    pub(crate) fn pop(&mut self) -> Option<Event> {
        if self.len == 0 {
            return None;
        }
        let e = self.ring[self.head].0.take();
        self.head = (self.head + 1) % self.ring.len();
        self.len -= 1;
        e
    }
}
