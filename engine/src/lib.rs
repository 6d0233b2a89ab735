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
//! # The event loop
//!
//! A driver's whole job, here with two engines and a "network" that hands every transmit of
//! one to the other (a real driver reads sockets and a clock instead):
//!
//! ```
//! # #[cfg(feature = "alloc")] fn main() {
//! use pollen_engine::wire::{GuidPrefix, Locator, Time};
//! use pollen_engine::{Config, Destination, Engine, History, Instant, Peer, ReaderQos};
//! use pollen_engine::{Reliability, Span, TopicSpec, WriterQos};
//!
//! // Two participants on loopback that find each other by unicast SPDP.
//! let config = |id: u16| {
//!     let mut c = Config::new(GuidPrefix([0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, id as u8 + 1]));
//!     c.participant_id = id;
//!     c.multicast = false;
//!     c.add_peer(Peer { address: [127, 0, 0, 1], port: None });
//!     c
//! };
//! let mut now = Instant::from_micros(0);
//! let mut a = Engine::new(config(0), now).unwrap();
//! let mut b = Engine::new(config(1), now).unwrap();
//!
//! let topic = TopicSpec::new("hello", "DDS::String");
//! let reliable = Reliability::Reliable;
//! let wqos = WriterQos { reliability: reliable, ..WriterQos::default() };
//! let rqos = ReaderQos { reliability: reliable, history: History::KeepAll, ..ReaderQos::default() };
//! let w = a.create_writer(now, &topic, &wqos).unwrap();
//! let r = b.create_reader(now, &topic, &rqos).unwrap();
//!
//! // Everything `from` has to send, handed to `to` as if it had crossed the wire.
//! fn deliver(now: Instant, from: &mut Engine<'_>, to: &mut Engine<'_>) {
//!     let mut buf = [0u8; 1472];
//!     while let Some(t) = from.poll_transmit(now, &mut buf) {
//!         if let Destination::Udp(dst) = t.destination {
//!             let src = Locator::udpv4([127, 0, 0, 1], 50_000);
//!             to.handle_datagram(now, src, dst, &buf[..t.len]);
//!         }
//!     }
//! }
//!
//! // "hi" as a CDR string: encapsulation, length with the NUL, the bytes, one byte of padding.
//! let sample = [0, 1, 0, 1, 3, 0, 0, 0, b'h', b'i', 0, 0];
//! let (mut written, mut received) = (false, Vec::new());
//! let mut buf = [0u8; 64];
//! while received.is_empty() && now < Instant::from_micros(10_000_000) {
//!     // The application: write once a reader matched, take what arrived.
//!     if !written && a.matched_readers(w) > 0 {
//!         a.write(now, w, &sample, Time::ZERO).unwrap();
//!         written = true;
//!     }
//!     if let Ok(Some(info)) = b.take(r, &mut buf) {
//!         received = buf[..info.len].to_vec();
//!     }
//!     // The driver: transmits out, datagrams in, timers when due, then sleep until the
//!     // earlier deadline (here: jump there).
//!     deliver(now, &mut a, &mut b);
//!     deliver(now, &mut b, &mut a);
//!     let next = [a.poll_timeout(), b.poll_timeout()].into_iter().flatten().min();
//!     now = next.unwrap_or(now + Span::from_millis(10)).max(now + Span::from_micros(1));
//!     a.handle_timeout(now);
//!     b.handle_timeout(now);
//! }
//! assert_eq!(received, sample);
//! # }
//! # #[cfg(not(feature = "alloc"))] fn main() {}
//! ```
//!
//! Features: `alloc`, `std` and `fuzzing` are opt-in. The rest are on by default, a deviation
//! from DESIGN.md (whose default build has no features) so that hosts keep everything without
//! asking: `long-names` (topic and type names up to 128 bytes, four partitions of 64 bytes in
//! every endpoint record; without it 64 bytes and two of 32), `frag` (DATA_FRAG and
//! NACK_FRAG; without it a sample must fit one datagram and fragments received are dropped and
//! counted in [`Stats::dropped_fragmented`]), `rpc`, `ros` (see Cargo.toml) and `fast-paths`
//! (the receive route and the send template beside the general paths, which give the same
//! samples; without it one DataAvailable per sample instead of one per run; it also inlines
//! the field writer and time arithmetic) and `liveliness` (the participant-message writer and
//! reader; without them SPDP alone renews the leases peers keep). A microcontroller turns them
//! off (`default-features = false`): about 320 bytes less per endpoint record, about 100 bytes
//! less per matched reader, two proxies less per remote participant, and several kilobytes of
//! flash.
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
