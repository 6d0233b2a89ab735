//! Choosing the network interface (loopback unless the user names another), and which
//! sources a participant pinned to it hears.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// The environment variable that names the interface when no command-line flag does.
pub const INTERFACE_ENV: &str = "POLLEN_INTERFACE";

/// Why an interface name could not be resolved.
#[derive(Debug)]
pub enum InterfaceError {
    /// The interface list could not be read.
    Io(std::io::Error),
    /// No interface of that name has an IPv4 address.
    NotFound(String),
}

impl fmt::Display for InterfaceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InterfaceError::Io(e) => write!(f, "reading the interface list: {e}"),
            InterfaceError::NotFound(n) => {
                write!(f, "no interface named {n:?} with an IPv4 address")
            }
        }
    }
}

impl std::error::Error for InterfaceError {}

/// Resolves an interface given as an IPv4 address or a name (`lo`, `eth0`, ...) to the IPv4
/// address the participant announces and sends multicast through. `None` consults
/// [`INTERFACE_ENV`] and otherwise means loopback (127.0.0.1).
pub fn resolve_interface(spec: Option<&str>) -> Result<Ipv4Addr, InterfaceError> {
    let env = std::env::var(INTERFACE_ENV).ok();
    let spec = spec.or(env.as_deref()).map(str::trim).unwrap_or("");
    if spec.is_empty() {
        return Ok(Ipv4Addr::LOCALHOST);
    }
    if let Ok(a) = spec.parse::<Ipv4Addr>() {
        return Ok(a);
    }
    let ifaces = if_addrs::get_if_addrs().map_err(InterfaceError::Io)?;
    ifaces
        .iter()
        .filter(|i| i.name == spec)
        .find_map(|i| match i.ip() {
            std::net::IpAddr::V4(a) => Some(a),
            std::net::IpAddr::V6(_) => None,
        })
        .ok_or_else(|| InterfaceError::NotFound(spec.to_string()))
}

/// Which source addresses a participant pinned to an interface takes datagrams and TCP
/// connections from. The sockets bind INADDR_ANY (a port held on any address must make the
/// participant id probe move on, and a same-host peer must reach us on 127.0.0.1 whatever the
/// interface, see `socket.rs`), so the kernel delivers traffic from every interface; this
/// filter keeps the pin a pin for receiving too. Refused traffic is counted by the caller,
/// never handed to the engine.
///
/// Accepted sources:
/// - loopback (127/8) and this host's own addresses: the same host. Linux drops a packet that
///   arrives on another interface with such a source as a martian (unless `accept_local` or
///   `route_localnet` is set), so neither can be forged from off the host;
/// - pinned to another interface than loopback: its subnet (the addresses reachable on it
///   directly) and the addresses of the configured unicast peers (which may sit behind a
///   router).
///
/// A source-address test rather than the arrival interface (`IP_PKTINFO`): it needs no
/// ancillary data, and on a host with the default martian filter it is equivalent for loopback.
#[derive(Debug, Clone)]
pub(crate) struct SourceFilter {
    interface: Ipv4Addr,
    netmask: Ipv4Addr,
    host: Vec<Ipv4Addr>,
    peers: Vec<Ipv4Addr>,
}

impl SourceFilter {
    /// The filter for `interface`, with the host's addresses and netmasks read now (an
    /// address added later is refused and counted until the participant restarts).
    pub(crate) fn new(interface: Ipv4Addr, peers: &[Ipv4Addr]) -> SourceFilter {
        let mut host = Vec::new();
        let mut netmask = Ipv4Addr::BROADCAST;
        for i in if_addrs::get_if_addrs().unwrap_or_default() {
            if let if_addrs::IfAddr::V4(a) = i.addr {
                if a.ip == interface {
                    netmask = a.netmask;
                }
                if !a.ip.is_loopback() && !host.contains(&a.ip) {
                    host.push(a.ip);
                }
            }
        }
        SourceFilter::with(interface, netmask, host, peers.to_vec())
    }

    /// The filter from explicit parts (for tests).
    pub(crate) fn with(
        interface: Ipv4Addr,
        netmask: Ipv4Addr,
        host: Vec<Ipv4Addr>,
        peers: Vec<Ipv4Addr>,
    ) -> SourceFilter {
        SourceFilter {
            interface,
            netmask,
            host,
            peers,
        }
    }

    /// Whether the participant is pinned to loopback.
    pub(crate) fn loopback_only(&self) -> bool {
        self.interface.is_loopback()
    }

    /// Whether traffic from `src` is taken.
    pub(crate) fn accepts(&self, src: Ipv4Addr) -> bool {
        if src.is_loopback() || self.host.contains(&src) {
            return true;
        }
        if self.loopback_only() || src.is_unspecified() || src.is_broadcast() {
            return false;
        }
        let mask = u32::from(self.netmask);
        (u32::from(src) & mask) == (u32::from(self.interface) & mask) || self.peers.contains(&src)
    }

    /// [`SourceFilter::accepts`] for a socket address (IPv6 is never ours).
    pub(crate) fn accepts_addr(&self, src: SocketAddr) -> bool {
        match src.ip() {
            IpAddr::V4(a) => self.accepts(a),
            IpAddr::V6(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn loopback_pin_hears_only_this_host() {
        let f = SourceFilter::with(
            Ipv4Addr::LOCALHOST,
            ip("255.0.0.0"),
            vec![ip("10.0.0.5")],
            vec![ip("10.0.0.9")],
        );
        assert!(f.accepts(ip("127.0.0.1")));
        assert!(f.accepts(ip("127.1.2.3")));
        assert!(f.accepts(ip("10.0.0.5")), "a host address is the same host");
        assert!(!f.accepts(ip("10.0.0.6")));
        assert!(
            !f.accepts(ip("10.0.0.9")),
            "peers do not widen a loopback pin"
        );
        assert!(!f.accepts_addr("[::1]:7400".parse().unwrap()));
    }

    #[test]
    fn interface_pin_hears_its_subnet_loopback_and_peers() {
        let f = SourceFilter::with(
            ip("10.0.0.5"),
            ip("255.255.255.0"),
            vec![ip("10.0.0.5"), ip("192.168.1.2")],
            vec![ip("172.16.0.1")],
        );
        // Fast DDS on this host sends to 127.0.0.1 what we announce on 10.0.0.5.
        assert!(f.accepts(ip("127.0.0.1")));
        assert!(f.accepts(ip("10.0.0.77")));
        assert!(f.accepts(ip("192.168.1.2")));
        assert!(f.accepts(ip("172.16.0.1")));
        assert!(!f.accepts(ip("10.0.1.77")));
        assert!(!f.accepts(ip("192.168.1.3")));
        assert!(!f.accepts(ip("0.0.0.0")));
    }

    #[test]
    fn addresses_and_loopback_name_resolve() {
        assert_eq!(
            resolve_interface(Some("127.0.0.1")).unwrap(),
            Ipv4Addr::LOCALHOST
        );
        assert_eq!(resolve_interface(Some("lo")).unwrap(), Ipv4Addr::LOCALHOST);
        assert!(matches!(
            resolve_interface(Some("no-such-interface0")),
            Err(InterfaceError::NotFound(_))
        ));
    }
}
