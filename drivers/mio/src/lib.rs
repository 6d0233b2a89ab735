//! Pollen's native driver: UDP sockets, TCP connections, a monotonic clock and readiness with
//! [`mio`], for the Sans-IO engine.
//!
//! The [`Engine`](pollen_engine::Engine) is the application's: [`Driver::new`] binds the
//! sockets and returns the engine configured for them, and every driver call that feeds or
//! drains the engine borrows it, as `pollen-smoltcp`'s and `pollen-wasi`'s do.
//! [`Driver::poll`] sends what the engine owes, waits for readiness up to the engine's
//! deadline (or the application's `timeout`), reads everything that is ready into the engine
//! and runs its timers. The application then takes and writes on the engine directly; the
//! next `poll` sends it, so what the engine owes for the input (an ACKNACK) rides in the
//! datagram of the application's reply.
//!
//! ```no_run
//! use pollen_mio::{Clock, Driver, Options};
//! use pollen_mio::pollen_engine::{TopicSpec, WriterQos};
//! use std::time::Duration;
//!
//! let (mut driver, mut engine) = Driver::new(Options::default())?;
//! let topic = TopicSpec::new("chatter", "std_msgs::msg::dds_::String_");
//! let writer = engine
//!     .create_writer(driver.now(), &topic, &WriterQos::default())
//!     .expect("a writer slot");
//! let mut sent = 0u32;
//! while sent < 10 {
//!     driver.poll(&mut engine, Some(Duration::from_millis(100)))?;
//!     while let Some(event) = engine.poll_event() {
//!         println!("{event:?}");
//!     }
//!     if engine.matched_readers(writer) > 0 {
//!         let payload = [0, 1, 0, 0, 2, 0, 0, 0, b'!', 0];
//!         let _ = engine.write(driver.now(), writer, &payload, Clock::wall_time());
//!         sent += 1;
//!     }
//! }
//! driver.shutdown(&mut engine, Duration::from_millis(50))?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Inside an application's own mio loop, [`Driver::register`] moves the sockets to its
//! [`Registry`](mio::Registry); per wake-up the loop calls [`Driver::tick`],
//! [`Driver::handle_ready`] for every event of the driver's tokens, [`Driver::handle_timeout`]
//! (it waits no longer than [`Driver::next_deadline`]), then the application, then
//! [`Driver::flush`]. [`Driver::run`] is the convenience loop over `poll` with a callback.
//!
//! Everything defaults to loopback: unless told otherwise the participant announces
//! 127.0.0.1, joins the SPDP group on 127.0.0.1 and sends multicast only through it.

mod clock;
mod driver;
mod iface;
// The one module with `unsafe` (two FFI calls; its header says why), allowed against the
// workspace's `unsafe_code = "deny"`.
#[allow(unsafe_code)]
mod mmsg;
mod socket;
mod tcp;

pub use clock::Clock;
pub use driver::{Driver, DriverStats, Options, Transport};
pub use iface::{resolve_interface, InterfaceError, INTERFACE_ENV};
pub use tcp::{TcpOptions, TcpStats};

pub use pollen_engine;

use pollen_engine::wire::{GuidPrefix, VendorId};

/// A fresh random GUID prefix in Pollen's layout: octets 0-1 carry Pollen's vendor id (0x0000,
/// "unknown", until one is assigned: we never borrow another vendor's), octets 2-11 come from
/// the operating system's random source. Ten random octets make a collision in one domain
/// vanishingly unlikely without tying the prefix to a host, a process or a clock.
pub fn random_guid_prefix() -> std::io::Result<GuidPrefix> {
    let mut p = [0u8; 12];
    p[..2].copy_from_slice(&VendorId::POLLEN.0);
    getrandom::fill(&mut p[2..]).map_err(std::io::Error::other)?;
    if p[2..] == [0; 10] {
        p[11] = 1; // the all-zero prefix is GUIDPREFIX_UNKNOWN
    }
    Ok(GuidPrefix(p))
}
