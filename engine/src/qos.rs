//! What the application asks for when it creates an endpoint.

use crate::limits::{MAX_NAME, MAX_PARTITIONS, MAX_PARTITION_NAME};
use crate::time::Span;

/// RELIABILITY as the application sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reliability {
    /// Samples may be lost.
    BestEffort,
    /// Samples are repaired with HEARTBEAT/ACKNACK.
    Reliable,
}

/// DURABILITY as the application sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Durability {
    /// Only readers present at write time get the sample.
    Volatile,
    /// Late-joining readers get the writer's history.
    TransientLocal,
}

/// HISTORY.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum History {
    /// Keep the newest `n` samples (per instance for keyed topics), `1..=Capacities::history`.
    KeepLast(u16),
    /// Keep every sample until acknowledged by all reliable readers, up to the resource limit.
    KeepAll,
}

/// Topic identity: name, type, key-ness and partitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicSpec<'a> {
    /// Topic name.
    pub name: &'a str,
    /// Type name.
    pub type_name: &'a str,
    /// Whether the type has a key (picks the entity kind and enables dispose/unregister).
    pub keyed: bool,
    /// Partitions; empty means the default "" partition.
    pub partitions: &'a [&'a str],
}

impl<'a> TopicSpec<'a> {
    /// A keyless topic in the default partition.
    pub const fn new(name: &'a str, type_name: &'a str) -> Self {
        TopicSpec {
            name,
            type_name,
            keyed: false,
            partitions: &[],
        }
    }

    pub(crate) fn fits(&self) -> bool {
        self.name.len() <= MAX_NAME
            && self.type_name.len() <= MAX_NAME
            && self.partitions.len() <= MAX_PARTITIONS
            && self
                .partitions
                .iter()
                .all(|p| p.len() <= MAX_PARTITION_NAME)
    }
}

/// QoS of a writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterQos {
    /// Reliability.
    pub reliability: Reliability,
    /// Durability.
    pub durability: Durability,
    /// History.
    pub history: History,
    /// Most samples kept in total (KEEP_ALL) before `write` refuses.
    pub max_samples: u16,
    /// Offered deadline; `None` = infinite.
    pub deadline: Option<Span>,
    /// Offered automatic liveliness lease; `None` = infinite.
    pub liveliness_lease: Option<Span>,
}

impl Default for WriterQos {
    fn default() -> Self {
        WriterQos {
            reliability: Reliability::Reliable,
            durability: Durability::Volatile,
            history: History::KeepLast(1),
            max_samples: crate::Capacities::HOST.history as u16,
            deadline: None,
            liveliness_lease: None,
        }
    }
}

/// QoS of a reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReaderQos {
    /// Reliability.
    pub reliability: Reliability,
    /// Durability.
    pub durability: Durability,
    /// History of samples waiting for `take`.
    pub history: History,
    /// Most samples held for `take` (KEEP_ALL); beyond it a reliable reader stops acknowledging.
    pub max_samples: u16,
    /// Requested deadline; `None` = infinite.
    pub deadline: Option<Span>,
    /// Requested liveliness lease; `None` = infinite.
    pub liveliness_lease: Option<Span>,
}

impl Default for ReaderQos {
    fn default() -> Self {
        ReaderQos {
            reliability: Reliability::BestEffort,
            durability: Durability::Volatile,
            history: History::KeepLast(1),
            max_samples: crate::Capacities::HOST.reader_samples as u16,
            deadline: None,
            liveliness_lease: None,
        }
    }
}
