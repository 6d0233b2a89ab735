//! What the application needs from a driver, and nothing more: the engine, the time, and a loop
//! that feeds the engine and calls the application after every wake-up.
//!
//! Each driver's front end implements [`Host`] in a few lines, holding the engine and the
//! driver side by side: the native tool for `pollen_mio::Driver`, the Wasm component for
//! `pollen_wasi::Driver`. Every command in this crate (`pub`, `sub`, `ls`, `ping`, `pong`,
//! `perf`, `call`, `serve`) is written once against `&mut dyn Host`, and its loop is [`run`].

use crate::cli::NetArgs;
use core::ops::ControlFlow;
use pollen_engine::wire::Time;
use pollen_engine::{Engine, Instant};
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

/// Something that can make a blocked [`Host::poll`] return, so that [`run`] calls the
/// application again, from another thread (a line read from standard input, for example).
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
    /// What the driver itself refused: datagrams and connections from off the pinned
    /// interface, transmits that would have left loopback. The engine's own refusals (its
    /// connection table's) are added by [`Host::refusals`].
    fn driver_refusals(&self) -> Refusals;
    /// Everything refused that the user should hear of: the driver's, and the TCP connections
    /// the engine's connection table refused or closed, whichever driver moves the bytes.
    fn refusals(&self) -> Refusals {
        let s = self.engine().stats();
        Refusals {
            tcp_full: s.streams_refused_full,
            tcp_per_source: s.streams_refused_per_source,
            tcp_frame_timeouts: s.stream_frame_timeouts,
            ..self.driver_refusals()
        }
    }
    /// All the driver's counters, for a verbose run's last words.
    fn counters(&self) -> String;
    /// One wake-up: sends what the engine owes, waits until input, the engine's deadline or
    /// `timeout` (`None`: the engine's deadline only), feeds the engine what arrived and runs
    /// its timers. It does not send afterwards: the application's reply goes with the next
    /// `poll` or [`Host::flush`], and what the engine owes for the input (an ACKNACK) with it.
    fn poll(&mut self, timeout: Option<Duration>) -> io::Result<()>;
    /// A handle another thread can call to wake [`Host::poll`]; an error where the host has
    /// no threads.
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

/// Runs `step` on `host` at once and after every wake-up ([`Host::poll`]) until it breaks
/// with a value, then sends what it left. The engine has been fed what arrived and its timers
/// run before each call, and sends only after it, so that what the engine owes for the input
/// (an ACKNACK) rides in the datagram of the application's reply.
pub fn run<T>(
    host: &mut dyn Host,
    mut step: impl FnMut(&mut dyn Host) -> ControlFlow<T, Option<std::time::Instant>>,
) -> io::Result<T> {
    let mut timeout = Some(Duration::ZERO);
    loop {
        host.poll(timeout)?;
        match step(host) {
            ControlFlow::Break(t) => {
                host.flush()?;
                return Ok(t);
            }
            ControlFlow::Continue(w) => {
                timeout = w.map(|t| t.saturating_duration_since(std::time::Instant::now()));
            }
        }
    }
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

/// The [`Host`] methods of a participant kept as two fields, `engine` (a
/// `Box<Engine<'static>>`) and `driver`, whose driver has the common shape of Pollen's drivers
/// (`now`, `wake_time`, `interface`, `stats`, `poll`, `flush`, `shutdown`, each borrowing the
/// engine where it needs it). A front end's `impl Host` is this plus `refusals` and `waker`,
/// the two things that differ between platforms.
#[macro_export]
macro_rules! forward_to_driver {
    () => {
        fn engine(&self) -> &$crate::pollen_engine::Engine<'static> {
            &self.engine
        }
        fn engine_mut(&mut self) -> &mut $crate::pollen_engine::Engine<'static> {
            &mut self.engine
        }
        fn now(&self) -> $crate::pollen_engine::Instant {
            self.driver.now()
        }
        fn wake_time(&self) -> ::std::time::Instant {
            self.driver.wake_time()
        }
        fn interface(&self) -> ::std::net::Ipv4Addr {
            self.driver.interface()
        }
        fn counters(&self) -> ::std::string::String {
            ::std::format!("{:?}", self.driver.stats())
        }
        fn poll(
            &mut self,
            timeout: ::core::option::Option<::std::time::Duration>,
        ) -> ::std::io::Result<()> {
            self.driver.poll(&mut self.engine, timeout)
        }
        fn flush(&mut self) -> ::std::io::Result<()> {
            self.driver.flush(&mut self.engine)
        }
        fn shutdown(&mut self, linger: ::std::time::Duration) {
            let _ = self.driver.shutdown(&mut self.engine, linger);
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use pollen_engine::wire::{GuidPrefix, Locator};
    use pollen_engine::Config;

    /// A host whose driver refused nothing, around a real engine.
    struct Bare(Box<Engine<'static>>);

    impl Host for Bare {
        fn engine(&self) -> &Engine<'static> {
            &self.0
        }
        fn engine_mut(&mut self) -> &mut Engine<'static> {
            &mut self.0
        }
        fn now(&self) -> Instant {
            Instant::from_micros(0)
        }
        fn wake_time(&self) -> std::time::Instant {
            std::time::Instant::now()
        }
        fn interface(&self) -> Ipv4Addr {
            Ipv4Addr::LOCALHOST
        }
        fn driver_refusals(&self) -> Refusals {
            Refusals::default()
        }
        fn counters(&self) -> String {
            String::new()
        }
        fn poll(&mut self, _: Option<Duration>) -> io::Result<()> {
            Ok(())
        }
        fn waker(&mut self) -> io::Result<Wake> {
            Err(io::Error::other("none"))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
        fn shutdown(&mut self, _: Duration) {}
    }

    /// The engine's connection table refuses, whichever driver moves the bytes: the user
    /// hears of it on every platform (the WASI front end reported none of these).
    #[test]
    fn the_engines_stream_refusals_are_reported_for_every_driver() {
        let mut cfg = Config::new(GuidPrefix([1; 12]));
        cfg.stream.max_inbound = 1;
        let t = Instant::from_micros(0);
        let mut h = Bare(Box::new(Engine::new(cfg, t).expect("engine")));
        let peer = |port| Locator::udpv4([127, 0, 0, 1], port);
        assert!(h.engine_mut().handle_stream_accepted(t, peer(5000)).is_ok());
        assert!(h
            .engine_mut()
            .handle_stream_accepted(t, peer(5001))
            .is_err());
        let r = h.refusals();
        assert_eq!(r.tcp_full, 1);
        assert_eq!(r.total(), 1);
    }
}
