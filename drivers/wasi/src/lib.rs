//! Pollen's WASI preview-2 driver: the Sans-IO engine inside a WebAssembly component.
//!
//! On `wasm32-wasip2` the `Driver` binds the engine's unicast locators with
//! `wasi:sockets/udp` (and, for `--transport tcp`, a `wasi:sockets/tcp` listener plus one
//! connection per peer), sleeps in `wasi:io/poll` on the socket pollables and a
//! `wasi:clocks/monotonic-clock` pollable for the engine deadline, reads `wasi:clocks` for
//! time and `wasi:random` for the GUID prefix. WASI has no multicast: participants are found
//! through unicast initial peers.
//!
//! What does not touch WASI (time and address conversion) builds and is tested on any host;
//! the driver exists only on `wasm32-wasip2`. The runnable component, `pollen-wasi`, is the
//! `pollen-component` package: the application's commands (`pollen_app`) on this driver.

pub mod clock;
pub mod net;

#[cfg(all(target_os = "wasi", target_env = "p2"))]
mod driver;

#[cfg(all(target_os = "wasi", target_env = "p2"))]
pub use driver::{random_guid_prefix, source_time, Driver, DriverStats, Error, Options};
pub use net::Transport;

pub use pollen_engine;
