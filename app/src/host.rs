//! What the application needs from a driver, and nothing more: the engine, the time, and a loop
//! that feeds the engine and calls the application after every wake-up.
//!
//! Each driver's front end implements [`Host`] in a few lines: the native tool for
//! `pollen_mio::Runner`, the Wasm component for `pollen_wasi::Driver`. Every command in this
//! crate (`pub`, `sub`, `ls`, `ping`, `pong`, `perf`, `call`, `serve`) is written once against
//! `&mut dyn Host`.

use crate::cli::NetArgs;
use core::ops::ControlFlow;
use pollen_engine::wire::Time;
use pollen_engine::{Engine, Instant};
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

/// The application's step: called after every wake-up (input, a timer, the waker); returns
/// `Continue(Some(t))` to be called again no later than `t`, `Continue(None)` to wait for the
/// next wake-up, or `Break(())` to stop.
pub type Step<'a> = dyn FnMut(&mut dyn Host) -> ControlFlow<(), Option<std::time::Instant>> + 'a;

/// Something that can make a blocked [`Host::run_step`] call the application again, from
/// another thread (a line read from standard input, for example).
pub type Wake = Box<dyn Fn() + Send>;

/// A driver seen from the application.
pub trait Host {
    /// The engine.
    fn engine(&self) -> &Engine<'static>;
    /// The engine, to write, take or create endpoints. Whatever the engine then has to send
    /// goes out when the current step returns.
    fn engine_mut(&mut self) -> &mut Engine<'static>;
    /// The engine's time, read once at this wake-up.
    fn now(&self) -> Instant;
    /// The same moment on the host's monotonic clock, for the application's own deadlines.
    fn wake_time(&self) -> std::time::Instant;
    /// The IPv4 interface the participant is pinned to.
    fn interface(&self) -> Ipv4Addr;
    /// What the driver refused (it counts; the application tells the user).
    fn refusals(&self) -> Refusals;
    /// All the driver's counters, for a verbose run's last words.
    fn counters(&self) -> String;
    /// Runs `step` after every wake-up until it breaks. The driver has fed the engine what
    /// arrived and run its timers before each call, and sends once after it, so that what the
    /// engine owes for the input (an ACKNACK) rides in the datagram of the application's reply.
    fn run_step(&mut self, step: &mut Step<'_>) -> io::Result<()>;
    /// A handle another thread can call to wake [`Host::run_step`]; an error where the host
    /// has no threads.
    fn waker(&mut self) -> io::Result<Wake>;
    /// Sends what the engine has queued now.
    fn flush(&mut self) -> io::Result<()>;
    /// Says goodbye to the domain and keeps sending for at most `linger`.
    fn shutdown(&mut self, linger: Duration);
}

/// Opens participants: what a front end gives every command.
pub trait Platform {
    /// A participant for `net` that announces `user_data` in its SPDP.
    fn open(&self, net: &NetArgs, user_data: Vec<u8>) -> Result<Box<dyn Host>, String>;
    /// This process's id, for ddsperf's USER_DATA (a random one where there are no processes).
    fn pid(&self) -> u32;
    /// The host's name, for ddsperf's USER_DATA (which names a participant `host:pid`).
    fn hostname(&self) -> String;
}

/// The wall clock, for source timestamps.
pub fn wall_time() -> Time {
    let ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos().min(u64::MAX as u128) as u64);
    Time::from_nanos(ns)
}

/// Runs `step` on `host` until it breaks with a value.
pub fn run<T>(
    host: &mut dyn Host,
    mut step: impl FnMut(&mut dyn Host) -> ControlFlow<T, Option<std::time::Instant>>,
) -> io::Result<T> {
    let mut out = None;
    host.run_step(&mut |h| match step(h) {
        ControlFlow::Break(t) => {
            out = Some(t);
            ControlFlow::Break(())
        }
        ControlFlow::Continue(w) => ControlFlow::Continue(w),
    })?;
    out.ok_or_else(|| io::Error::other("the host stopped the loop"))
}

/// What a driver refused, for the user: datagrams and connections from off the pinned
/// interface, and connections closed by a limit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Refusals {
    /// Datagrams received.
    pub datagrams_received: u64,
    /// Datagrams dropped because their source is not on the pinned interface.
    pub off_interface: u64,
    /// The source of the last of those.
    pub last_off_interface: Option<SocketAddr>,
    /// Transmits not sent because they would have left loopback.
    pub off_loopback: u64,
    /// TCP connections refused: every inbound slot was taken.
    pub tcp_full: u64,
    /// TCP connections refused from off the pinned interface.
    pub tcp_off_interface: u64,
    /// TCP connections refused: their source held the most one address may.
    pub tcp_per_source: u64,
    /// TCP connections closed for not completing a frame in time.
    pub tcp_frame_timeouts: u64,
}

impl Refusals {
    /// Everything refused, in one number.
    pub fn total(&self) -> u64 {
        self.off_interface
            + self.tcp_full
            + self.tcp_off_interface
            + self.tcp_per_source
            + self.tcp_frame_timeouts
    }
}
