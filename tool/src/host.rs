//! The native platform: `pollen_app`'s commands on the mio driver.

use pollen_app::cli::{NetArgs, TransportArg};
use pollen_app::host::{Host, Platform, Refusals, Step, Wake};
use pollen_engine::{Engine, Instant};
use pollen_mio::{Driver, DriverStats, Options, Runner, Transport};
use std::io;
use std::net::Ipv4Addr;
use std::time::Duration;

/// Opens participants on the mio driver, each in its own [`Runner`].
pub struct Native;

impl Platform for Native {
    fn open(&self, net: &NetArgs, user_data: Vec<u8>) -> Result<Box<dyn Host>, String> {
        let interface =
            pollen_mio::resolve_interface(net.interface.as_deref()).map_err(|e| e.to_string())?;
        let transport = match net.transport {
            TransportArg::Udp => Transport::Udp,
            TransportArg::Tcp => Transport::Tcp,
        };
        let opts = Options {
            domain_id: net.domain,
            interface,
            peers: net.initial_peers(interface.is_loopback())?,
            multicast: net.multicast(),
            transport,
            capacities: net.capacities(),
            participant_id: net.participant_id,
            user_data,
            ..Options::default()
        };
        let driver = Driver::new(opts).map_err(|e| format!("cannot open sockets: {e}"))?;
        let runner = Runner::new(driver).map_err(|e| e.to_string())?;
        Ok(Box::new(Native1(runner)))
    }

    fn pid(&self) -> u32 {
        std::process::id()
    }

    fn hostname(&self) -> String {
        pollen_app::perf::hostname()
    }
}

/// One participant and its event loop.
struct Native1(Runner);

/// The driver as the application sees it during one step of [`Runner::run`].
struct InStep<'a>(&'a mut Driver);

fn refusals(s: &DriverStats) -> Refusals {
    Refusals {
        datagrams_received: s.datagrams_received,
        off_interface: s.refused_off_interface,
        last_off_interface: s.last_refused_source,
        off_loopback: s.refused_off_loopback,
        tcp_full: s.tcp.refused,
        tcp_off_interface: s.tcp.refused_off_interface,
        tcp_per_source: s.tcp.refused_per_source,
        tcp_frame_timeouts: s.tcp.frame_timeouts,
    }
}

/// The `Host` methods that only read or command the driver, for both views of it.
macro_rules! driver_host {
    ($d:ident, $dm:ident) => {
        fn engine(&self) -> &Engine<'static> {
            self.$d().engine()
        }
        fn engine_mut(&mut self) -> &mut Engine<'static> {
            self.$dm().engine_mut()
        }
        fn now(&self) -> Instant {
            self.$d().now()
        }
        fn wake_time(&self) -> std::time::Instant {
            self.$d().wake_time()
        }
        fn interface(&self) -> Ipv4Addr {
            self.$d().interface()
        }
        fn refusals(&self) -> Refusals {
            refusals(self.$d().stats())
        }
        fn counters(&self) -> String {
            format!("{:?}", self.$d().stats())
        }
        fn flush(&mut self) -> io::Result<()> {
            self.$dm().flush()
        }
        fn shutdown(&mut self, linger: Duration) {
            let _ = self.$dm().shutdown(linger);
        }
    };
}

impl Native1 {
    fn d(&self) -> &Driver {
        self.0.driver_ref()
    }
    fn dm(&mut self) -> &mut Driver {
        self.0.driver()
    }
}

impl InStep<'_> {
    fn d(&self) -> &Driver {
        self.0
    }
    fn dm(&mut self) -> &mut Driver {
        self.0
    }
}

impl Host for Native1 {
    driver_host!(d, dm);

    fn run_step(&mut self, step: &mut Step<'_>) -> io::Result<()> {
        self.0.run(|d| step(&mut InStep(d)))
    }

    fn waker(&mut self) -> io::Result<Wake> {
        let w = self.0.waker()?;
        Ok(Box::new(move || {
            let _ = w.wake();
        }))
    }
}

impl Host for InStep<'_> {
    driver_host!(d, dm);

    fn run_step(&mut self, _: &mut Step<'_>) -> io::Result<()> {
        Err(io::Error::other("a step cannot run a loop of its own"))
    }

    fn waker(&mut self) -> io::Result<Wake> {
        Err(io::Error::other("ask for the waker before the loop runs"))
    }
}
