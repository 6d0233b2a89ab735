//! Pollen's WASI preview-2 driver: sockets, clocks and readiness for the Sans-IO engine inside
//! a WebAssembly component.
//!
//! On `wasm32-wasip2` the `Driver` binds the engine's unicast locators with
//! `wasi:sockets/udp` (and, for `--transport tcp`, a `wasi:sockets/tcp` listener plus one
//! connection per peer), sleeps in `wasi:io/poll` on the socket pollables and a
//! `wasi:clocks/monotonic-clock` pollable for the engine deadline, reads `wasi:clocks` for
//! time and `wasi:random` for the GUID prefix. WASI has no multicast: participants are found
//! through unicast initial peers.
//!
//! The engine is the application's: `Driver::new` binds the sockets and returns the engine
//! configured for them, and every driver call that feeds or drains the engine borrows it, with
//! the same names and meaning as `pollen_mio::Driver` (and as close to `pollen_smoltcp`'s
//! `poll` as a blocking host allows). One event loop (it builds only on `wasm32-wasip2`):
//!
//! ```ignore
//! use pollen_wasi::{source_time, Driver, Options};
//! use pollen_wasi::pollen_engine::{TopicSpec, WriterQos};
//! use std::time::Duration;
//!
//! let (mut driver, mut engine) = Driver::new(Options::default())?;
//! let topic = TopicSpec::new("chatter", "std_msgs::msg::dds_::String_");
//! let writer = engine
//!     .create_writer(driver.now(), &topic, &WriterQos::default())
//!     .expect("a writer slot");
//! let mut sent = 0u32;
//! while sent < 10 {
//!     // Sends what the engine owes, sleeps in wasi:io/poll up to the engine's deadline or
//!     // 100 ms, feeds the engine what arrived and runs its timers.
//!     driver.poll(&mut engine, Some(Duration::from_millis(100)))?;
//!     while let Some(event) = engine.poll_event() {
//!         println!("{event:?}");
//!     }
//!     if engine.matched_readers(writer) > 0 {
//!         let payload = [0, 1, 0, 0, 2, 0, 0, 0, b'!', 0];
//!         let _ = engine.write(driver.now(), writer, &payload, source_time());
//!         sent += 1;
//!     }
//! }
//! driver.shutdown(&mut engine, Duration::from_millis(50))?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! `Driver::run` is the same loop with a callback. What does not touch WASI (time and address
//! conversion) builds and is tested on any host; the driver exists only on `wasm32-wasip2`.
//! The runnable component, `pollen-wasi`, is the `pollen-component` package: the
//! application's commands (`pollen_app`) on this driver.

pub mod clock;
pub mod net;

#[cfg(all(target_os = "wasi", target_env = "p2"))]
mod driver;

#[cfg(all(target_os = "wasi", target_env = "p2"))]
pub use driver::{random_guid_prefix, source_time, Driver, DriverStats, Error, Options};
pub use net::Transport;

pub use pollen_engine;
