//! Pollen: a Sans-IO DDSI-RTPS protocol engine.
//!
//! The engine consumes datagrams, stream bytes and timestamps and emits transmit commands; it
//! never touches a socket, a clock or an allocator. This crate is `no_std` and allocates nothing
//! in its default build. See [`Engine`] for the contract.
//!
//! Every table is sized by [`Capacities`] (in [`Config::capacities`]), chosen when the engine is
//! created: [`Engine::with_storage`] builds it in caller-provided [`Storage`] (runs as long as
//! [`StorageSizes::of`] says), and with the `alloc` feature `Engine::new` allocates each table
//! as it grows, on discovery and endpoint creation only. The work of each call is proportional
//! to what it does, never to a capacity: owed transmits wait in a queue, deadlines in a heap,
//! and submessages find their endpoints through hash and topic indexes.
//!
//! Features: `alloc`, `std` and `fuzzing` are opt-in. Two are on by default, a deviation from
//! DESIGN.md (whose default build has no features) so that hosts keep everything without
//! asking: `long-names` (topic and type names up to 128 bytes, four partitions of 64 bytes in
//! every endpoint record; without it 64 bytes and two of 32) and `frag` (DATA_FRAG and
//! NACK_FRAG; without it a sample must fit one datagram and fragments received are dropped and
//! counted in [`Stats::dropped_fragmented`]). A microcontroller turns both off
//! (`default-features = false`): about 320 bytes less per endpoint record, about 100 bytes less
//! per matched reader, and several kilobytes of flash.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod capacity;
pub mod config;
mod discovery;
mod engine;
mod event;
mod freshness;
pub mod limits;
mod map;
mod pool;
mod qos;
mod reader;
mod rpc;
mod schedule;
mod stats;
mod storage;
pub mod stream;
mod time;
mod timer;
mod transmit;
pub mod wire;
mod writer;

#[cfg(feature = "fuzzing")]
pub mod fuzzing;

pub use capacity::{Capacities, CapacityError};
pub use config::{Config, ConfigError, Peer};
pub use discovery::{ParticipantSlot, RemoteEndpointSlot};
pub use engine::{
    CreateError, EndpointSummary, Engine, InstanceState, ListenLocator, ParticipantSummary,
    ReaderSlot, SampleInfo, Storage, StorageSizes, TakeError, WriteError, WriterSlot,
};
pub use event::{Endpoint, Event, EventSlot, QosPolicy, ReaderHandle, Table, WriterHandle};
pub use map::MapSlot;
pub use qos::{Durability, History, ReaderQos, Reliability, TopicSpec, WriterQos};
pub use reader::{ReassemblySlot, SampleSlot, WriterProxySlot};
pub use stats::Stats;
#[cfg(feature = "alloc")]
pub use stream::conn::{CloseReason, Refused, StreamCommand, StreamSend, StreamUsage};
pub use stream::{StreamConfig, StreamId};
pub use time::{Instant, Span};
pub use timer::TimerSlot;
pub use transmit::{Destination, Transmit};
pub use writer::{HistorySlot, ReaderProxySlot};
