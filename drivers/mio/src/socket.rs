//! Opening the UDP sockets and the TCP listener the engine asks for.
//!
//! Unicast sockets bind INADDR_ANY without address reuse, so a port held by another process is
//! refused and the participant id probe moves on (Fast DDS rewrites a peer locator equal to one
//! of its own addresses to 127.0.0.1, so a same-host peer must be reachable on loopback too).
//! The SPDP multicast socket is shared by every participant on the host: SO_REUSEADDR and
//! SO_REUSEPORT, bound to 0.0.0.0:port and joined to the group on the chosen interface only.
//! Every socket that may send has IP_MULTICAST_IF set to the interface, so multicast never
//! follows the default route.
//!
//! Binding INADDR_ANY means the kernel delivers unicast from every interface, also to a
//! participant pinned to loopback; the driver drops and counts what does not come from the
//! pinned interface (`iface::SourceFilter`, `DriverStats::refused_off_interface`). Multicast
//! is already filtered by the kernel: the group is joined on the pinned interface only and
//! IP_MULTICAST_ALL is off.

use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};

/// Receive buffer asked of the kernel: bursts of repairs and 64 KiB datagrams must fit.
const RECV_BUFFER: usize = 4 << 20;

fn udp() -> io::Result<Socket> {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_nonblocking(true)?;
    // Best effort: the kernel caps it at net.core.rmem_max.
    let _ = s.set_recv_buffer_size(RECV_BUFFER);
    Ok(s)
}

/// Multicast egress pinned to `interface`, looped back to local listeners, one hop at most.
fn pin_multicast(s: &Socket, interface: Ipv4Addr) -> io::Result<()> {
    s.set_multicast_if_v4(&interface)?;
    s.set_multicast_loop_v4(true)?;
    s.set_multicast_ttl_v4(1)
}

/// A unicast socket on INADDR_ANY:`port` (0 = ephemeral); fails if the port is taken.
pub(crate) fn bind_unicast(port: u16, interface: Ipv4Addr) -> io::Result<UdpSocket> {
    let s = udp()?;
    pin_multicast(&s, interface)?;
    s.bind(&SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port).into())?;
    Ok(s.into())
}

/// The shared SPDP socket: 0.0.0.0:`port`, reusable, joined to `group` on `interface`.
pub(crate) fn bind_multicast(
    group: Ipv4Addr,
    port: u16,
    interface: Ipv4Addr,
) -> io::Result<UdpSocket> {
    let s = udp()?;
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    pin_multicast(&s, interface)?;
    s.bind(&SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port).into())?;
    s.join_multicast_v4(&group, &interface)?;
    // Only the groups this socket joined, not every group some socket on the host joined.
    #[cfg(target_os = "linux")]
    s.set_multicast_all_v4(false)?;
    Ok(s.into())
}

/// A TCP listener on `port`: on 127.0.0.1 when the participant is pinned to loopback (so
/// nothing off the host can even connect), else on INADDR_ANY like the UDP sockets (inbound
/// connections from off the interface are then closed and counted by `tcp.rs`). Address
/// reuse lets a restarted participant listen again while old connections linger in
/// TIME_WAIT; it does not let two listeners share a port.
pub(crate) fn bind_tcp_listener(
    port: u16,
    interface: Ipv4Addr,
) -> io::Result<std::net::TcpListener> {
    let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    s.set_nonblocking(true)?;
    s.set_reuse_address(true)?;
    let ip = if interface.is_loopback() {
        Ipv4Addr::LOCALHOST
    } else {
        Ipv4Addr::UNSPECIFIED
    };
    s.bind(&SocketAddrV4::new(ip, port).into())?;
    s.listen(128)?;
    Ok(s.into())
}
