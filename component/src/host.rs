//! The WASI platform: `pollen_app`'s commands on `pollen_wasi::Driver`.

use pollen_app::cli::{NetArgs, TransportArg};
use pollen_app::host::{Host, Platform, Refusals, Wake};
use pollen_engine::Engine;
use pollen_wasi::{Driver, Options, Transport};
use std::io;

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
        if net.busy_poll.is_some() {
            return Err(
                "--busy-poll: the component waits in wasi:io/poll, which cannot spin".into(),
            );
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
        let (driver, engine) =
            Driver::new(opts).map_err(|e| format!("cannot open sockets: {e}"))?;
        Ok(Box::new(Participant { engine, driver }))
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
            off_loopback: s.refused_off_loopback,
            ..Refusals::default()
        }
    }

    fn waker(&mut self) -> io::Result<Wake> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "a component has no threads to read standard input with: give the message as an \
             argument or use --size",
        ))
    }
}
