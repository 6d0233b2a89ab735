//! Addresses: engine locators, the IPv4 socket addresses WASI speaks, and the loopback rule.

use pollen_engine::config::ports;
use pollen_engine::wire::{Locator, LocatorKind};

/// An IPv4 socket address, as `wasi:sockets` spells one (`ipv4-socket-address`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketV4 {
    /// Address octets.
    pub ip: [u8; 4],
    /// Port.
    pub port: u16,
}

impl SocketV4 {
    /// From a UDPv4 or TCPv4 locator.
    pub fn from_locator(l: &Locator) -> Option<SocketV4> {
        l.ipv4().map(|(ip, port)| SocketV4 { ip, port })
    }

    /// As a UDPv4 locator.
    pub const fn udp(self) -> Locator {
        Locator::udpv4(self.ip, self.port)
    }

    /// As a TCPv4 locator.
    pub const fn tcp(self) -> Locator {
        Locator::tcpv4(self.ip, self.port)
    }

    /// In 127.0.0.0/8.
    pub const fn is_loopback(self) -> bool {
        self.ip[0] == 127
    }
}

impl core::fmt::Display for SocketV4 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let [a, b, c, d] = self.ip;
        write!(f, "{a}.{b}.{c}.{d}:{}", self.port)
    }
}

/// Whether a transmit may go to `to` from a participant bound to `local`: a participant on
/// loopback sends only to loopback, so nothing it says leaves the machine.
pub const fn may_send(local: [u8; 4], to: SocketV4) -> bool {
    local[0] != 127 || to.is_loopback()
}

/// Whether a locator is TCPv4.
pub fn is_tcp(l: &Locator) -> bool {
    l.kind() == LocatorKind::TcpV4
}

/// The three ports of participant `id` in `domain`: metatraffic unicast, user unicast, and the
/// TCP listener (on the metatraffic port number, where peers without a port probe). `None`
/// when they do not fit in 16 bits.
pub fn participant_ports(domain: u32, id: u16) -> Option<(u16, u16, u16)> {
    let meta = u16::try_from(ports::metatraffic_unicast(domain, id)).ok()?;
    let user = u16::try_from(ports::user_unicast(domain, id)).ok()?;
    Some((meta, user, meta))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locators() {
        let s = SocketV4 {
            ip: [127, 0, 0, 1],
            port: 7410,
        };
        assert_eq!(SocketV4::from_locator(&s.udp()), Some(s));
        assert_eq!(SocketV4::from_locator(&s.tcp()), Some(s));
        assert!(is_tcp(&s.tcp()) && !is_tcp(&s.udp()));
        assert_eq!(SocketV4::from_locator(&Locator::INVALID), None);
        assert_eq!(s.to_string(), "127.0.0.1:7410");
    }

    #[test]
    fn loopback_stays_on_loopback() {
        let lo = [127, 0, 0, 1];
        let out = SocketV4 {
            ip: [10, 0, 0, 1],
            port: 7410,
        };
        let lo2 = SocketV4 {
            ip: [127, 0, 0, 2],
            port: 7410,
        };
        assert!(!may_send(lo, out));
        assert!(may_send(lo, lo2));
        assert!(may_send([10, 0, 0, 2], out));
    }

    #[test]
    fn ports() {
        assert_eq!(participant_ports(0, 0), Some((7410, 7411, 7410)));
        assert_eq!(participant_ports(1, 2), Some((7664, 7665, 7664)));
        assert_eq!(participant_ports(232, 119), None);
    }
}

/// Transport for discovery and user data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// UDP unicast.
    Udp,
    /// TCP with Cyclone DDS's framing (a listener on the metatraffic port number).
    Tcp,
}
