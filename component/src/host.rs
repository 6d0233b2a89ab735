//! The WASI platform: `pollen_app`'s commands on `pollen_wasi::Driver`.

use core::ops::ControlFlow;
use pollen_app::cli::{NetArgs, TransportArg};
use pollen_app::host::{Host, Platform, Refusals, Step, Wake};
use pollen_engine::{Engine, Instant, Span};
use pollen_wasi::{Driver, Options, Transport};
use std::io;
use std::net::Ipv4Addr;
use std::time::Duration;

/// Opens participants on the WASI driver (loopback only, unicast discovery).
pub struct Wasi;

impl Platform for Wasi {
    fn open(&self, net: &NetArgs, user_data: Vec<u8>) -> Result<Box<dyn Host>, String> {
        if let Some(i) = net.interface.as_deref() {
            if i != "127.0.0.1" && i != "lo" {
                return Err(format!(
                    "--interface {i}: the component binds loopback (127.0.0.1) only"
                ));
            }
        }
        let opts = Options {
            domain_id: net.domain,
            peers: net.initial_peers(true)?,
            transport: match net.transport {
                TransportArg::Udp => Transport::Udp,
                TransportArg::Tcp => Transport::Tcp,
            },
            participant_id: net.participant_id,
            user_data,
            ..Options::default()
        };
        let driver = Driver::new(opts).map_err(|e| format!("cannot open sockets: {e}"))?;
        Ok(Box::new(Participant::new(driver)))
    }

    fn pid(&self) -> u32 {
        // WASI has no process id; a random one, the same for the whole run, tells our ddsperf
        // peers and ROS 2 nodes apart.
        static PID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
        *PID.get_or_init(|| (wasi::random::random::get_random_u64() % 1_000_000) as u32)
    }

    fn hostname(&self) -> String {
        // A component does not know its host; ddsperf shows it as `wasm:<pid>`.
        "wasm".into()
    }
}

/// One participant, with the time read at its last wake-up.
struct Participant {
    driver: Driver,
    now: Instant,
    wake: std::time::Instant,
}

impl Participant {
    fn new(driver: Driver) -> Participant {
        let now = driver.now();
        Participant {
            driver,
            now,
            wake: std::time::Instant::now(),
        }
    }

    fn tick(&mut self) {
        self.now = self.driver.now();
        self.wake = std::time::Instant::now();
    }
}

impl Host for Participant {
    fn engine(&self) -> &Engine<'static> {
        self.driver.engine()
    }

    fn engine_mut(&mut self) -> &mut Engine<'static> {
        self.driver.engine_mut()
    }

    fn now(&self) -> Instant {
        self.now
    }

    fn wake_time(&self) -> std::time::Instant {
        self.wake
    }

    fn interface(&self) -> Ipv4Addr {
        Ipv4Addr::LOCALHOST
    }

    fn refusals(&self) -> Refusals {
        let s = self.driver.stats();
        Refusals {
            datagrams_received: s.datagrams_received,
            off_loopback: s.refused_off_loopback,
            ..Refusals::default()
        }
    }

    fn counters(&self) -> String {
        format!("{:?}", self.driver.stats())
    }

    fn run_step(&mut self, step: &mut Step<'_>) -> io::Result<()> {
        // `Driver::run`'s loop (timers, the step, one flush, wait), with the step given the
        // whole participant rather than the bare driver.
        loop {
            self.tick();
            self.driver.handle_timeout();
            let wake = match step(self) {
                ControlFlow::Break(()) => {
                    self.driver.flush();
                    return Ok(());
                }
                ControlFlow::Continue(w) => w,
            };
            self.driver.flush();
            // The step's deadline on the engine's clock.
            let wake = wake.map(|t| {
                let left = t.saturating_duration_since(std::time::Instant::now());
                self.driver.now() + Span::from_micros(left.as_micros().min(u64::MAX as u128) as u64)
            });
            let deadline = match (self.driver.engine().poll_timeout(), wake) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            self.driver.wait(deadline);
        }
    }

    fn waker(&mut self) -> io::Result<Wake> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "a component has no threads to read standard input with: give the message as an \
             argument or use --size",
        ))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.driver.flush();
        Ok(())
    }

    fn shutdown(&mut self, linger: Duration) {
        self.driver
            .shutdown(linger.as_micros().min(u64::MAX as u128) as u64);
    }
}
