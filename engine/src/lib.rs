//! Pollen: a Sans-IO DDSI-RTPS protocol engine.
//!
//! The engine consumes datagrams, stream bytes and timestamps and emits transmit commands; it
//! never touches a socket, a clock or an allocator. This crate is `no_std` and allocates nothing
//! in its default build.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod wire;

#[cfg(feature = "fuzzing")]
pub mod fuzzing;
