//! Pollen's WASI preview-2 driver: the Sans-IO engine inside a WebAssembly component.
//!
//! On `wasm32-wasip2` the `Driver` binds the engine's unicast locators with
//! `wasi:sockets/udp` (and, for `--transport tcp`, a `wasi:sockets/tcp` listener plus one
//! connection per peer), sleeps in `wasi:io/poll` on the socket pollables and a
//! `wasi:clocks/monotonic-clock` pollable for the engine deadline, reads `wasi:clocks` for
//! time and `wasi:random` for the GUID prefix. WASI has no multicast: participants are found
//! through unicast initial peers.
//!
//! Everything that does not touch WASI (argument parsing, time and address conversion, sample
//! encoding) builds and is tested on any host; the driver and the `pub`/`sub` commands exist
//! only on `wasm32-wasip2`. The `pollen-wasi` binary is the runnable component:
//!
//! ```text
//! cargo build -p pollen-wasi --target wasm32-wasip2 --release
//! wasmtime run -S inherit-network -S allow-ip-name-lookup \
//!     target/wasm32-wasip2/release/pollen-wasi.wasm sub chatter --peer 127.0.0.1
//! ```

pub mod args;
pub mod clock;
pub mod net;
pub mod payload;
pub mod perf;

#[cfg(all(target_os = "wasi", target_env = "p2"))]
pub mod app;
#[cfg(all(target_os = "wasi", target_env = "p2"))]
mod driver;

#[cfg(all(target_os = "wasi", target_env = "p2"))]
pub use driver::{random_guid_prefix, source_time, Driver, DriverStats, Error, Options};

pub use pollen_engine;
