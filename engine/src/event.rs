//! Events for the application, queued in a bounded ring.

use crate::limits::MAX_EVENTS;
use crate::stream::{FrameError, StreamId};
use crate::wire::{Guid, GuidPrefix};

/// A local writer, as returned by `create_writer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WriterHandle(pub(crate) u8);

/// A local reader, as returned by `create_reader`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReaderHandle(pub(crate) u8);

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
    /// A stream carried bytes that are not framed RTPS: the driver must close it.
    StreamError {
        /// The connection.
        conn: StreamId,
        /// What was wrong.
        error: FrameError,
    },
}

/// Bounded FIFO of events; overflow drops the newest and is counted by the caller.
#[derive(Debug)]
pub(crate) struct EventQueue {
    ring: [Option<Event>; MAX_EVENTS],
    head: usize,
    len: usize,
}

impl EventQueue {
    pub(crate) const fn new() -> Self {
        EventQueue {
            ring: [None; MAX_EVENTS],
            head: 0,
            len: 0,
        }
    }

    /// Returns false when full.
    pub(crate) fn push(&mut self, e: Event) -> bool {
        if self.len == MAX_EVENTS {
            return false;
        }
        self.ring[(self.head + self.len) % MAX_EVENTS] = Some(e);
        self.len += 1;
        true
    }

    pub(crate) fn pop(&mut self) -> Option<Event> {
        if self.len == 0 {
            return None;
        }
        let e = self.ring[self.head].take();
        self.head = (self.head + 1) % MAX_EVENTS;
        self.len -= 1;
        e
    }
}
