//! Telling the user what the driver refused: off-interface datagrams and TCP connections
//! closed by a limit. The driver only counts ([`Refusals`]); the tool prints the first refusal
//! of each kind on stderr, so that a participant that hears nothing from a peer it was refusing
//! says why, and a verbose run prints the totals at the end.

use crate::host::{Host, Refusals};
use serde_json::{json, Value};

/// Which refusals were already reported.
#[derive(Debug, Default)]
pub struct Notices {
    udp: bool,
    tcp_interface: bool,
    tcp_full: bool,
    tcp_per_source: bool,
    tcp_frame: bool,
}

impl Notices {
    /// Prints, once each, the kinds of refusal that happened since the last call.
    pub fn check(&mut self, d: &dyn Host) {
        let s = d.refusals();
        let iface = d.interface();
        let once = |flag: &mut bool, n: u64, what: &dyn Fn() -> String| {
            if n > 0 && !*flag {
                *flag = true;
                eprintln!("pollen: {}", what());
            }
        };
        once(&mut self.udp, s.off_interface, &|| {
            let from = s
                .last_off_interface
                .map_or_else(|| "elsewhere".to_string(), |a| a.to_string());
            format!(
                "refused a datagram from {from}, which is not on interface {iface} (the \
                 participant hears only there; choose another with --interface)"
            )
        });
        once(&mut self.tcp_interface, s.tcp_off_interface, &|| {
            format!("closed a TCP connection from off interface {iface}")
        });
        once(&mut self.tcp_full, s.tcp_full, &|| {
            "closed a TCP connection: every inbound slot is taken".to_string()
        });
        once(&mut self.tcp_per_source, s.tcp_per_source, &|| {
            "closed a TCP connection: its source address holds the most connections one \
             address may"
                .to_string()
        });
        once(&mut self.tcp_frame, s.tcp_frame_timeouts, &|| {
            "closed a TCP connection that did not complete a frame in time".to_string()
        });
    }
}

/// The refusal counters, for `--json` output.
pub fn refusals_json(s: &Refusals) -> Value {
    json!({
        "datagrams_received": s.datagrams_received,
        "refused_off_interface": s.off_interface,
        "refused_off_loopback": s.off_loopback,
        "tcp_refused": s.tcp_full,
        "tcp_refused_off_interface": s.tcp_off_interface,
        "tcp_refused_per_source": s.tcp_per_source,
        "tcp_frame_timeouts": s.tcp_frame_timeouts,
    })
}

/// The refusal counters in one line (for verbose runs), or None when nothing was refused.
pub fn refusals_line(s: &Refusals) -> Option<String> {
    (s.total() > 0).then(|| format!("pollen: refused {}", refusals_json(s)))
}
