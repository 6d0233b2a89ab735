//! Pollen's native driver: the Sans-IO engine bound to UDP sockets and TCP connections with
//! [`mio`].
//!
//! [`Driver`] owns one [`Engine`](pollen_engine::Engine), its sockets and a monotonic clock. It
//! can live inside an application's own mio loop (register its sockets with a
//! [`Registry`](mio::Registry), forward readiness with [`Driver::handle_readable`], call
//! [`Driver::handle_timeout`] at [`Driver::next_deadline`]) or run on its own with [`Runner`].
//!
//! Everything defaults to loopback: unless told otherwise the participant announces
//! 127.0.0.1, joins the SPDP group on 127.0.0.1 and sends multicast only through it.
//!
//! ```no_run
//! use pollen_mio::{Driver, Options, Runner};
//! use std::ops::ControlFlow;
//!
//! let driver = Driver::new(Options::default())?;
//! let mut runner = Runner::new(driver)?;
//! let found = runner.run(|d| {
//!     if d.engine().participants().next().is_some() {
//!         ControlFlow::Break(true)
//!     } else {
//!         ControlFlow::Continue(None)
//!     }
//! })?;
//! # let _ = found;
//! # Ok::<(), std::io::Error>(())
//! ```

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
pub use driver::{Driver, DriverStats, Options, Runner, Transport};
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
