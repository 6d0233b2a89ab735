//! The native platform: `pollen_app`'s commands on the mio driver.

use pollen_app::cli::{NetArgs, TransportArg};
use pollen_app::host::{Host, Platform, Refusals, Wake};
use pollen_engine::Engine;
use pollen_mio::{Driver, Options, Transport};
use std::io;

/// Opens participants on the mio driver.
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
            busy_poll: net.busy_poll.map(std::time::Duration::from_micros),
            ..Options::default()
        };
        let (driver, engine) =
            Driver::new(opts).map_err(|e| format!("cannot open sockets: {e}"))?;
        Ok(Box::new(Participant { engine, driver }))
    }

    fn pid(&self) -> u32 {
        std::process::id()
    }

    fn hostname(&self) -> String {
        pollen_app::perf::hostname()
    }
}

/// One participant: the engine and the driver side by side.
struct Participant {
    engine: Box<Engine<'static>>,
    driver: Driver,
}

impl Host for Participant {
    pollen_app::forward_to_driver!();

    fn driver_refusals(&self) -> Refusals {
        let s = self.driver.stats();
        Refusals {
            datagrams_received: s.datagrams_received,
            off_interface: s.refused_off_interface,
            last_off_interface: s.last_refused_source,
            off_loopback: s.refused_off_loopback,
            tcp_off_interface: s.tcp.refused_off_interface,
            ..Refusals::default()
        }
    }

    fn waker(&mut self) -> io::Result<Wake> {
        let w = self.driver.waker()?;
        Ok(Box::new(move || {
            let _ = w.wake();
        }))
    }
}
