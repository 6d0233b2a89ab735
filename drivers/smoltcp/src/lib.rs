//! Pollen on [smoltcp]: a DDS participant on a bare-metal network interface, without a heap.
//!
//! [`Driver`] binds one [`Engine`] to one [`smoltcp::phy::Device`] through a smoltcp
//! [`Interface`] and a [`SocketSet`] whose storage, socket buffers included, the caller
//! provides (statics on a microcontroller; see [`UdpStorage`], [`TcpStorage`] and
//! [`Memory`]). It opens what [`Engine::listen_locators`] asks for:
//!
//! * a UDP socket on the SPDP multicast port, with the group 239.255.0.1 joined on the
//!   interface (IGMP), when the engine's config has `multicast`;
//! * UDP sockets on the participant's unicast metatraffic and user-data ports (one socket when
//!   the engine announces one port for both);
//! * with a `tcp_port`, TCP sockets: one listening, the others free for accepted and outgoing
//!   connections (RTPS over TCP with Cyclone DDS framing, as the engine speaks it).
//!
//! TCP is the `tcp` feature (on by default). A UDP-only device turns it off
//! (`default-features = false`): smoltcp is then built without TCP sockets and the image is
//! kilobytes smaller (the firmware does this). Without it, a driver given TCP buffers refuses
//! to start ([`Error::NoTcp`]), and transmits to TCP locators are dropped and counted
//! (`dropped_no_tcp_socket`).
//!
//! The driver asks nothing of the engine's features: the application picks them where it
//! depends on `pollen-engine` (a host keeps the defaults, `long-names` and `frag`; the
//! firmware turns them off for smaller endpoint records and no DATA_FRAG code).
//!
//! The engine is not owned by the driver: [`Driver::poll`] borrows it, so the application keeps
//! calling `write`, `take` and `create_*` on it directly. One loop:
//!
//! ```text
//! loop {
//!     let now = clock.now();                        // pollen_engine::Instant, microseconds
//!     let deadline = driver.poll(now, &mut engine); // receive, timers, transmit
//!     while let Some(event) = driver.poll_event(&mut engine) { /* ... */ }
//!     sleep_until(deadline);                        // or until the NIC interrupts
//! }
//! ```
//!
//! Back-pressure: when a socket buffer is full the driver keeps the one transmit in hand and
//! retries it on the next poll, before asking the engine for more. It drops a transmit only
//! when it can never be sent (larger than the socket buffer, an unaddressable destination, no
//! TCP socket free, a connection that failed) and counts each in [`DriverStats`]; reliable
//! writers repair what was dropped.
//!
//! [smoltcp]: https://docs.rs/smoltcp
#![no_std]
#![warn(missing_docs)]
#![forbid(unsafe_code)]

use pollen_engine::wire::{Locator, LocatorKind};
#[cfg(feature = "tcp")]
use pollen_engine::StreamId;
use pollen_engine::{Destination, Engine, Event, Instant, Transmit};
use smoltcp::iface::{
    Config as IfaceConfig, Interface, PollIngressSingleResult, SocketHandle, SocketSet,
    SocketStorage,
};
use smoltcp::phy::Device;
#[cfg(feature = "tcp")]
use smoltcp::socket::tcp;
use smoltcp::socket::udp;
#[cfg(feature = "tcp")]
use smoltcp::time::Duration;
use smoltcp::time::Instant as SmolInstant;
use smoltcp::wire::{
    EthernetAddress, HardwareAddress, IpAddress, IpCidr, IpEndpoint, IpListenEndpoint, Ipv4Address,
    Ipv4Cidr,
};

pub mod link;

pub use smoltcp;

/// Metadata slots of a UDP packet buffer.
pub type UdpPacketMetadata = udp::PacketMetadata;

/// The buffers of one UDP socket: packet metadata slots and payload bytes, each way.
pub struct UdpBuffers<'a> {
    /// One slot per received datagram held.
    pub rx_meta: &'a mut [UdpPacketMetadata],
    /// Received payload bytes.
    pub rx_payload: &'a mut [u8],
    /// One slot per datagram waiting to go out.
    pub tx_meta: &'a mut [UdpPacketMetadata],
    /// Outgoing payload bytes.
    pub tx_payload: &'a mut [u8],
}

/// Owned storage for one UDP socket: `PACKETS` datagrams and `RX` payload bytes received,
/// `PACKETS` datagrams and `TX` bytes to send; `const` so it can live in a `static`. A socket
/// that only receives may have `TX = 0`.
pub struct UdpStorage<const PACKETS: usize, const RX: usize, const TX: usize> {
    rx_meta: [UdpPacketMetadata; PACKETS],
    rx_payload: [u8; RX],
    tx_meta: [UdpPacketMetadata; PACKETS],
    tx_payload: [u8; TX],
}

impl<const PACKETS: usize, const RX: usize, const TX: usize> UdpStorage<PACKETS, RX, TX> {
    /// Zeroed storage.
    pub const fn new() -> Self {
        UdpStorage {
            rx_meta: [UdpPacketMetadata::EMPTY; PACKETS],
            rx_payload: [0; RX],
            tx_meta: [UdpPacketMetadata::EMPTY; PACKETS],
            tx_payload: [0; TX],
        }
    }

    /// The buffers, borrowed for the driver's lifetime.
    pub fn buffers(&mut self) -> UdpBuffers<'_> {
        UdpBuffers {
            rx_meta: &mut self.rx_meta,
            rx_payload: &mut self.rx_payload,
            tx_meta: &mut self.tx_meta,
            tx_payload: &mut self.tx_payload,
        }
    }
}

impl<const PACKETS: usize, const RX: usize, const TX: usize> Default
    for UdpStorage<PACKETS, RX, TX>
{
    fn default() -> Self {
        Self::new()
    }
}

/// The buffers of one TCP socket: smoltcp's receive and send rings, and a staging buffer where
/// received bytes wait until they form a whole RTPS message (it bounds the largest message
/// accepted over this connection).
pub struct TcpBuffers<'a> {
    /// Receive ring (the advertised window).
    pub rx: &'a mut [u8],
    /// Send ring; a framed message larger than this cannot be sent on the connection.
    pub tx: &'a mut [u8],
    /// Reassembly of messages split across segments.
    pub stage: &'a mut [u8],
}

/// Owned storage for one TCP socket; `const` so it can live in a `static`.
pub struct TcpStorage<const RX: usize, const TX: usize, const STAGE: usize> {
    rx: [u8; RX],
    tx: [u8; TX],
    stage: [u8; STAGE],
}

impl<const RX: usize, const TX: usize, const STAGE: usize> TcpStorage<RX, TX, STAGE> {
    /// Zeroed storage.
    pub const fn new() -> Self {
        TcpStorage {
            rx: [0; RX],
            tx: [0; TX],
            stage: [0; STAGE],
        }
    }

    /// The buffers, borrowed for the driver's lifetime.
    pub fn buffers(&mut self) -> TcpBuffers<'_> {
        TcpBuffers {
            rx: &mut self.rx,
            tx: &mut self.tx,
            stage: &mut self.stage,
        }
    }
}

impl<const RX: usize, const TX: usize, const STAGE: usize> Default for TcpStorage<RX, TX, STAGE> {
    fn default() -> Self {
        Self::new()
    }
}

/// Everything the driver keeps in the caller's memory.
pub struct Memory<'a, const TCP: usize> {
    /// Socket slots: one per UDP socket the engine asks for (multicast when enabled,
    /// metatraffic, and user data unless its port is the metatraffic port: 1 to 3), then `TCP`
    /// more.
    pub sockets: &'a mut [SocketStorage<'a>],
    /// The SPDP multicast socket (unused when the engine's config has no multicast). Each
    /// received datagram goes to the engine before the next frame is taken from the device,
    /// so a receive buffer of one largest datagram (one packet's metadata) is enough for every
    /// socket.
    pub multicast: UdpBuffers<'a>,
    /// The unicast metatraffic socket; every UDP transmit leaves through it, so its send
    /// buffer should hold a few datagrams of the engine's MTU.
    pub metatraffic: UdpBuffers<'a>,
    /// The unicast user-data socket (it only receives: its send buffer may be tiny). Unused,
    /// so its buffers may be empty, when the engine announces one unicast port for both
    /// (`Config::unicast_ports` with the same port twice).
    pub user: UdpBuffers<'a>,
    /// TCP sockets (only used when the engine's config has a `tcp_port` or TCP peers).
    pub tcp: [TcpBuffers<'a>; TCP],
    /// Where the engine writes each transmit: at least the engine's MTU.
    pub transmit: &'a mut [u8],
}

/// The interface: its link-layer address and the IPv4 network around the engine's
/// `unicast_address`.
#[derive(Debug, Clone, Copy)]
pub struct NetConfig {
    /// The Ethernet (MAC) address.
    pub mac: [u8; 6],
    /// Prefix length of the engine's `unicast_address` on the link (24 for a /24).
    pub prefix_len: u8,
    /// A default gateway, if any.
    pub gateway: Option<[u8; 4]>,
    /// Seed of smoltcp's TCP sequence numbers and ephemeral ports; make it differ per boot.
    pub random_seed: u64,
}

/// Why the driver could not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Fewer socket slots than the engine's UDP sockets (see [`Memory::sockets`]) + TCP.
    TooFewSockets,
    /// The transmit buffer is smaller than the engine's MTU.
    TransmitBufferTooSmall,
    /// A listen locator is not UDPv4 or TCPv4, or its port is out of range.
    BadListenLocator,
    /// smoltcp refused to bind a UDP socket or listen on the TCP port.
    Bind,
    /// The multicast group could not be joined (too many groups for smoltcp's build).
    MulticastJoin,
    /// The prefix length is above 32.
    BadPrefix,
    /// TCP buffers were given, but the driver was built without the `tcp` feature.
    NoTcp,
    /// A socket the engine asks for was given no receive buffer (no packet metadata or no
    /// payload bytes): everything sent to it would be dropped.
    NoReceiveBuffer,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Error::TooFewSockets => {
                "fewer socket slots than the engine's UDP sockets + TCP sockets"
            }
            Error::TransmitBufferTooSmall => "transmit buffer smaller than the engine's MTU",
            Error::BadListenLocator => "the engine asked for a locator smoltcp cannot open",
            Error::Bind => "a UDP socket could not be bound or the TCP socket could not listen",
            Error::MulticastJoin => "the SPDP multicast group could not be joined",
            Error::BadPrefix => "prefix length above 32",
            Error::NoTcp => "TCP buffers given to a driver built without the `tcp` feature",
            Error::NoReceiveBuffer => "a socket the engine asks for has no receive buffer",
        })
    }
}

impl core::error::Error for Error {}

/// What the driver counts (the protocol is counted by `Engine::stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DriverStats {
    /// UDP datagrams fed to the engine.
    pub datagrams_received: u64,
    /// UDP datagrams queued on a socket.
    pub datagrams_sent: u64,
    /// Framed messages queued on a TCP connection.
    pub stream_messages_sent: u64,
    /// Bytes read from TCP connections.
    pub stream_bytes_received: u64,
    /// Times a transmit met a full buffer (or a connection still opening) and was kept for
    /// the next poll.
    pub parked: u64,
    /// Transmits dropped because they are larger than the socket's send buffer.
    pub dropped_too_large: u64,
    /// Transmits dropped because smoltcp cannot address the destination (no route, not IPv4).
    pub dropped_unaddressable: u64,
    /// TCP transmits dropped because no TCP socket was free (or the driver has none).
    pub dropped_no_tcp_socket: u64,
    /// TCP transmits dropped because their connection failed (refused, reset, timed out).
    pub dropped_connect_failed: u64,
    /// TCP connections accepted.
    pub streams_accepted: u64,
    /// TCP connections opened by us.
    pub streams_connected: u64,
    /// TCP connections ended (either side, errors included).
    pub streams_closed: u64,
    /// Connections closed because a message did not fit the staging buffer.
    pub stream_overflows: u64,
    /// Connections closed because the engine found the stream malformed.
    pub stream_errors: u64,
}

/// Which engine socket a UDP socket serves.
#[derive(Debug, Clone, Copy)]
struct UdpSlot {
    handle: SocketHandle,
    /// The locator it listens on (the group for multicast): the `dst` of received datagrams.
    local: Locator,
}

#[cfg(feature = "tcp")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Conn {
    /// Free for an outgoing connection or a listener.
    Idle,
    /// Listening on the engine's TCP port.
    Listening,
    /// Opening or open.
    Open {
        id: StreamId,
        /// For connections we opened: the remote TCP locator transmits go to.
        peer: Option<Locator>,
        /// Whether it ever reached ESTABLISHED.
        established: bool,
    },
}

#[cfg(feature = "tcp")]
struct TcpSlot<'a> {
    handle: SocketHandle,
    stage: &'a mut [u8],
    staged: usize,
    conn: Conn,
}

/// What happened to one transmit.
enum Sent {
    Yes,
    /// Buffer full or connection opening: keep it.
    Later,
    /// Cannot ever be sent; the stats say why.
    Dropped,
}

/// Aborts a connection that sends nothing back for this long (also bounds connection setup).
#[cfg(feature = "tcp")]
const TCP_TIMEOUT: Duration = Duration::from_secs(5);
/// First local port of outgoing TCP connections.
#[cfg(feature = "tcp")]
const EPHEMERAL_FIRST: u16 = 49152;
/// Drain/flush rounds per poll (each moves at least one transmit or stops).
const MAX_ROUNDS: usize = 8;

/// Converts the engine's clock to smoltcp's.
pub fn smol_instant(now: Instant) -> SmolInstant {
    SmolInstant::from_micros(now.0.min(i64::MAX as u64) as i64)
}

fn v4(ip: [u8; 4]) -> Ipv4Address {
    Ipv4Address::new(ip[0], ip[1], ip[2], ip[3])
}

/// The engine's timeouts due at `now`. Not inlined: what handling them takes is then on the
/// stack only while they run, not under every datagram [`Driver::poll`] hands the engine.
#[inline(never)]
fn timeouts(now: Instant, engine: &mut Engine) {
    if engine.poll_timeout().is_some_and(|t| t <= now) {
        engine.handle_timeout(now);
    }
}

fn endpoint_locator(kind: LocatorKind, e: IpEndpoint) -> Locator {
    let IpAddress::Ipv4(a) = e.addr;
    match kind {
        LocatorKind::TcpV4 => Locator::tcpv4(a.octets(), e.port),
        _ => Locator::udpv4(a.octets(), e.port),
    }
}

/// A Pollen participant's sockets on a smoltcp interface. `TCP` is the number of TCP sockets
/// (0 for a UDP-only device).
pub struct Driver<'a, D: Device, const TCP: usize> {
    device: D,
    iface: Interface,
    sockets: SocketSet<'a>,
    /// Multicast, metatraffic, user.
    udp: [Option<UdpSlot>; 3],
    sender: SocketHandle,
    #[cfg(feature = "tcp")]
    tcp: [TcpSlot<'a>; TCP],
    #[cfg(feature = "tcp")]
    tcp_port: Option<u16>,
    transmit: &'a mut [u8],
    /// The transmit in hand: its bytes are `transmit[..len]`.
    parked: Option<Transmit>,
    #[cfg(feature = "tcp")]
    next_stream: u32,
    #[cfg(feature = "tcp")]
    next_port: u16,
    stats: DriverStats,
}

impl<'a, D: Device, const TCP: usize> Driver<'a, D, TCP> {
    /// Brings up the interface with the engine's `unicast_address` and opens the engine's
    /// listen locators.
    pub fn new(
        mut device: D,
        net: NetConfig,
        engine: &Engine,
        memory: Memory<'a, TCP>,
        now: Instant,
    ) -> Result<Self, Error> {
        let Memory {
            sockets: storage,
            multicast,
            metatraffic,
            user,
            tcp,
            transmit,
        } = memory;
        let udp_sockets = engine
            .listen_locators()
            .filter(|l| l.locator.kind() != LocatorKind::TcpV4)
            .count()
            .max(1);
        if storage.len() < udp_sockets + TCP {
            return Err(Error::TooFewSockets);
        }
        if transmit.len() < engine.config().mtu {
            return Err(Error::TransmitBufferTooSmall);
        }
        if net.prefix_len > 32 {
            return Err(Error::BadPrefix);
        }
        #[cfg(not(feature = "tcp"))]
        if TCP > 0 {
            return Err(Error::NoTcp);
        }
        let address = v4(engine.config().unicast_address);
        let mut config = IfaceConfig::new(HardwareAddress::Ethernet(EthernetAddress(net.mac)));
        config.random_seed = net.random_seed;
        let mut iface = Interface::new(config, &mut device, smol_instant(now));
        iface.update_ip_addrs(|addrs| {
            // A fresh interface has room for at least one address.
            let _ = addrs.push(IpCidr::Ipv4(Ipv4Cidr::new(address, net.prefix_len)));
        });
        if let Some(gw) = net.gateway {
            let _ = iface.routes_mut().add_default_ipv4_route(v4(gw));
        }

        let mut sockets = SocketSet::new(storage);
        let udp_socket = |b: UdpBuffers<'a>| {
            udp::Socket::new(
                udp::PacketBuffer::new(b.rx_meta, b.rx_payload),
                udp::PacketBuffer::new(b.tx_meta, b.tx_payload),
            )
        };
        let mut udp = [None; 3];
        let mut bufs = [Some(multicast), Some(metatraffic), Some(user)];
        for l in engine.listen_locators() {
            let Some((ip, port)) = l.locator.ipv4() else {
                return Err(Error::BadListenLocator);
            };
            match l.locator.kind() {
                LocatorKind::UdpV4 => {}
                LocatorKind::TcpV4 => continue,
                _ => return Err(Error::BadListenLocator),
            }
            let index = match (l.multicast, l.metatraffic) {
                (true, _) => 0,
                (false, true) => 1,
                (false, false) => 2,
            };
            let Some(b) = bufs[index].take() else {
                return Err(Error::BadListenLocator);
            };
            if b.rx_meta.is_empty() || b.rx_payload.is_empty() {
                return Err(Error::NoReceiveBuffer);
            }
            let mut s = udp_socket(b);
            let endpoint = if l.multicast {
                iface
                    .join_multicast_group(IpAddress::Ipv4(v4(ip)))
                    .map_err(|_| Error::MulticastJoin)?;
                IpListenEndpoint { addr: None, port }
            } else {
                IpListenEndpoint {
                    addr: Some(IpAddress::Ipv4(v4(ip))),
                    port,
                }
            };
            s.bind(endpoint).map_err(|_| Error::Bind)?;
            udp[index] = Some(UdpSlot {
                handle: sockets.add(s),
                local: l.locator,
            });
        }
        // Every UDP transmit leaves from the metatraffic socket, which the engine always asks
        // for.
        let sender = udp[1].ok_or(Error::BadListenLocator)?.handle;

        #[cfg(not(feature = "tcp"))]
        let _ = tcp;
        #[cfg(feature = "tcp")]
        let tcp = tcp.map(|b| {
            let mut s =
                tcp::Socket::new(tcp::SocketBuffer::new(b.rx), tcp::SocketBuffer::new(b.tx));
            s.set_timeout(Some(TCP_TIMEOUT));
            s.set_nagle_enabled(false);
            TcpSlot {
                handle: sockets.add(s),
                stage: b.stage,
                staged: 0,
                conn: Conn::Idle,
            }
        });
        #[cfg(feature = "tcp")]
        let tcp_port = engine.listen_locators().find_map(|l| {
            (l.locator.kind() == LocatorKind::TcpV4)
                .then(|| l.locator.ipv4().map(|(_, port)| port))
                .flatten()
        });
        #[cfg_attr(not(feature = "tcp"), allow(unused_mut))]
        let mut d = Driver {
            device,
            iface,
            sockets,
            udp,
            sender,
            #[cfg(feature = "tcp")]
            tcp,
            #[cfg(feature = "tcp")]
            tcp_port,
            transmit,
            parked: None,
            #[cfg(feature = "tcp")]
            next_stream: 1,
            #[cfg(feature = "tcp")]
            next_port: EPHEMERAL_FIRST + (net.random_seed % 8192) as u16,
            stats: DriverStats::default(),
        };
        #[cfg(feature = "tcp")]
        if d.tcp_port.is_some() && TCP > 0 && !d.listen() {
            return Err(Error::Bind);
        }
        Ok(d)
    }

    /// Puts a free TCP socket in LISTEN on the engine's port; false if none is free.
    #[cfg(feature = "tcp")]
    fn listen(&mut self) -> bool {
        let Some(port) = self.tcp_port else {
            return true;
        };
        if self.tcp.iter().any(|s| s.conn == Conn::Listening) {
            return true;
        }
        let Some(slot) = self.tcp.iter_mut().find(|s| s.conn == Conn::Idle) else {
            return false;
        };
        let s = self.sockets.get_mut::<tcp::Socket>(slot.handle);
        if s.listen(port).is_err() {
            return false;
        }
        slot.conn = Conn::Listening;
        true
    }

    /// Runs everything that is due: smoltcp's ingress and egress, received datagrams and stream
    /// bytes into the engine, the engine's timers, and the engine's transmits into the sockets.
    /// Returns when to call again at the latest (the earliest of the engine's deadline and
    /// smoltcp's), or `None` when only incoming traffic can create work.
    pub fn poll(&mut self, now: Instant, engine: &mut Engine) -> Option<Instant> {
        let ts = smol_instant(now);
        // One frame at a time, its datagram into the engine before the next frame is taken:
        // a socket's receive buffer holds one datagram at a time, not all that queued in the
        // device since the last poll. smoltcp's egress runs below, after the engine's.
        loop {
            match self.ingress(ts) {
                PollIngressSingleResult::None => break,
                PollIngressSingleResult::PacketProcessed => {}
                PollIngressSingleResult::SocketStateChanged => self.receive(now, engine),
            }
        }
        // Stream bytes an earlier poll left in a socket.
        self.receive(now, engine);
        #[cfg(feature = "tcp")]
        self.tcp_housekeeping(now, engine);
        timeouts(now, engine);
        for _ in 0..MAX_ROUNDS {
            let moved = self.drain(now, engine);
            self.egress(ts);
            if self.parked.is_none() || moved == 0 {
                break;
            }
        }
        self.deadline(now, engine)
    }

    /// One frame from the device into smoltcp. Not inlined (nor is [`Driver::egress`]):
    /// smoltcp's frame handling then takes stack only while it runs, not under the engine.
    #[inline(never)]
    fn ingress(&mut self, ts: SmolInstant) -> PollIngressSingleResult {
        self.iface
            .poll_ingress_single(ts, &mut self.device, &mut self.sockets)
    }

    /// smoltcp's egress: queued datagrams, ARP and IGMP to the device.
    #[inline(never)]
    fn egress(&mut self, ts: SmolInstant) {
        self.iface
            .poll_egress(ts, &mut self.device, &mut self.sockets);
    }

    /// When the next `poll` is due (see [`Driver::poll`]).
    pub fn deadline(&mut self, now: Instant, engine: &Engine) -> Option<Instant> {
        let smol = self
            .iface
            .poll_delay(smol_instant(now), &self.sockets)
            .map(|d| Instant(now.0.saturating_add(d.total_micros())));
        match (engine.poll_timeout(), smol) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The engine's next event. Use this rather than `Engine::poll_event`: the driver closes
    /// the connection of an [`Event::StreamError`] (the event is still returned).
    pub fn poll_event(&mut self, engine: &mut Engine) -> Option<Event> {
        let e = engine.poll_event()?;
        #[cfg(feature = "tcp")]
        if let Event::StreamError { conn, .. } = e {
            if let Some(i) = self
                .tcp
                .iter()
                .position(|s| matches!(s.conn, Conn::Open { id, .. } if id == conn))
            {
                self.stats.stream_errors += 1;
                self.sockets
                    .get_mut::<tcp::Socket>(self.tcp[i].handle)
                    .abort();
            }
        }
        Some(e)
    }

    /// Received UDP datagrams and TCP bytes into the engine.
    fn receive(&mut self, now: Instant, engine: &mut Engine) {
        for slot in self.udp.iter().flatten() {
            let s = self.sockets.get_mut::<udp::Socket>(slot.handle);
            while let Ok((data, meta)) = s.recv() {
                let src = endpoint_locator(LocatorKind::UdpV4, meta.endpoint);
                // The socket's own locator (the group, for the multicast socket).
                let dst = slot.local;
                self.stats.datagrams_received += 1;
                engine.handle_datagram(now, src, dst, data);
            }
        }
        #[cfg(feature = "tcp")]
        for slot in self.tcp.iter_mut() {
            let Conn::Open { id, .. } = slot.conn else {
                continue;
            };
            let s = self.sockets.get_mut::<tcp::Socket>(slot.handle);
            while s.can_recv() {
                if slot.staged == slot.stage.len() {
                    // A message larger than the staging buffer: this connection is unusable.
                    self.stats.stream_overflows += 1;
                    s.abort();
                    break;
                }
                let n = s.recv_slice(&mut slot.stage[slot.staged..]).unwrap_or(0);
                if n == 0 {
                    break;
                }
                self.stats.stream_bytes_received += n as u64;
                slot.staged += n;
                let used = engine
                    .handle_stream(now, id, &slot.stage[..slot.staged])
                    .min(slot.staged);
                slot.stage.copy_within(used..slot.staged, 0);
                slot.staged -= used;
            }
        }
    }

    /// Accepted connections get an id, ended ones are reported, and a socket listens.
    #[cfg(feature = "tcp")]
    fn tcp_housekeeping(&mut self, now: Instant, engine: &mut Engine) {
        for slot in self.tcp.iter_mut() {
            let s = self.sockets.get_mut::<tcp::Socket>(slot.handle);
            match slot.conn {
                Conn::Idle => {}
                Conn::Listening => {
                    if s.state() != tcp::State::Listen {
                        // A peer connected (SYN-RECEIVED or later).
                        slot.conn = Conn::Open {
                            id: StreamId(self.next_stream),
                            peer: None,
                            established: false,
                        };
                        self.next_stream = self.next_stream.wrapping_add(1);
                        self.stats.streams_accepted += 1;
                    }
                }
                Conn::Open { .. } => {}
            }
            let Conn::Open {
                id,
                peer,
                ref mut established,
            } = slot.conn
            else {
                continue;
            };
            match s.state() {
                tcp::State::Established => {
                    *established = true;
                    continue;
                }
                tcp::State::SynSent
                | tcp::State::SynReceived
                | tcp::State::FinWait1
                | tcp::State::FinWait2
                | tcp::State::Closing
                | tcp::State::LastAck => continue,
                tcp::State::CloseWait if s.can_recv() => continue,
                // The peer closed (we have read everything), reset, or never answered.
                tcp::State::CloseWait
                | tcp::State::Closed
                | tcp::State::TimeWait
                | tcp::State::Listen => {}
            }
            let failed = !*established;
            slot.conn = Conn::Idle;
            slot.staged = 0;
            s.abort();
            self.stats.streams_closed += 1;
            engine.handle_stream_closed(now, id);
            if let (true, Some(peer), Some(p)) = (failed, peer, self.parked) {
                if p.destination == Destination::Tcp(peer) {
                    // The connection this transmit waited for never opened.
                    self.parked = None;
                    self.stats.dropped_connect_failed += 1;
                }
            }
        }
        self.listen();
    }

    /// Moves transmits from the engine into the sockets until one must wait or none is owed;
    /// returns how many were queued. Not inlined: the engine's transmit path then takes stack
    /// only while it runs, not under its receive path.
    #[inline(never)]
    fn drain(&mut self, now: Instant, engine: &mut Engine) -> usize {
        let mut moved = 0;
        loop {
            let t = match self.parked.take() {
                Some(t) => t,
                None => match engine.poll_transmit(now, self.transmit) {
                    Some(t) => t,
                    None => return moved,
                },
            };
            match self.send(t) {
                Sent::Yes => moved += 1,
                Sent::Later => {
                    self.stats.parked += 1;
                    self.parked = Some(t);
                    return moved;
                }
                Sent::Dropped => {}
            }
        }
    }

    fn send(&mut self, t: Transmit) -> Sent {
        let data = &self.transmit[..t.len];
        match t.destination {
            Destination::Udp(loc) => {
                let Some((ip, port)) = loc.ipv4().filter(|_| loc.kind() == LocatorKind::UdpV4)
                else {
                    self.stats.dropped_unaddressable += 1;
                    return Sent::Dropped;
                };
                let s = self.sockets.get_mut::<udp::Socket>(self.sender);
                if data.len() > s.payload_send_capacity() || s.packet_send_capacity() == 0 {
                    self.stats.dropped_too_large += 1;
                    return Sent::Dropped;
                }
                let to = IpEndpoint::new(IpAddress::Ipv4(v4(ip)), port);
                match s.send_slice(data, to) {
                    Ok(()) => {
                        self.stats.datagrams_sent += 1;
                        Sent::Yes
                    }
                    Err(udp::SendError::BufferFull) => Sent::Later,
                    Err(udp::SendError::Unaddressable) => {
                        self.stats.dropped_unaddressable += 1;
                        Sent::Dropped
                    }
                }
            }
            #[cfg(feature = "tcp")]
            Destination::Tcp(loc) => self.send_tcp(loc, t.len),
            #[cfg(not(feature = "tcp"))]
            Destination::Tcp(_) => {
                self.stats.dropped_no_tcp_socket += 1;
                Sent::Dropped
            }
        }
    }

    #[cfg(feature = "tcp")]
    fn send_tcp(&mut self, peer: Locator, len: usize) -> Sent {
        let Some((ip, port)) = peer.ipv4() else {
            self.stats.dropped_unaddressable += 1;
            return Sent::Dropped;
        };
        let existing = self
            .tcp
            .iter()
            .position(|s| matches!(s.conn, Conn::Open { peer: Some(p), .. } if p == peer));
        let Some(i) = existing else {
            // Open a connection; the transmit waits for it.
            let Some(slot) = self.tcp.iter_mut().find(|s| s.conn == Conn::Idle) else {
                self.stats.dropped_no_tcp_socket += 1;
                return Sent::Dropped;
            };
            let s = self.sockets.get_mut::<tcp::Socket>(slot.handle);
            let local = self.next_port;
            self.next_port = if local == u16::MAX {
                EPHEMERAL_FIRST
            } else {
                local + 1
            };
            let remote = IpEndpoint::new(IpAddress::Ipv4(v4(ip)), port);
            if s.connect(self.iface.context(), remote, local).is_err() {
                self.stats.dropped_unaddressable += 1;
                return Sent::Dropped;
            }
            slot.conn = Conn::Open {
                id: StreamId(self.next_stream),
                peer: Some(peer),
                established: false,
            };
            slot.staged = 0;
            self.next_stream = self.next_stream.wrapping_add(1);
            self.stats.streams_connected += 1;
            return Sent::Later;
        };
        let s = self.sockets.get_mut::<tcp::Socket>(self.tcp[i].handle);
        match s.state() {
            tcp::State::SynSent | tcp::State::SynReceived => Sent::Later,
            tcp::State::Established | tcp::State::CloseWait => {
                if len > s.send_capacity() {
                    self.stats.dropped_too_large += 1;
                    return Sent::Dropped;
                }
                if s.send_capacity() - s.send_queue() < len {
                    return Sent::Later;
                }
                // Fits whole: a framed message is never split by a full buffer.
                let _ = s.send_slice(&self.transmit[..len]);
                self.stats.stream_messages_sent += 1;
                Sent::Yes
            }
            _ => {
                self.stats.dropped_connect_failed += 1;
                Sent::Dropped
            }
        }
    }

    /// What the driver counted.
    pub fn stats(&self) -> &DriverStats {
        &self.stats
    }

    /// Whether a transmit is waiting for buffer space.
    pub fn has_parked_transmit(&self) -> bool {
        self.parked.is_some()
    }

    /// The smoltcp interface (addresses, routes, multicast groups).
    pub fn interface(&mut self) -> &mut Interface {
        &mut self.iface
    }

    /// The device.
    pub fn device(&mut self) -> &mut D {
        &mut self.device
    }

    /// The sockets (for the application's own sockets beside Pollen's, if it gave the set
    /// spare slots).
    pub fn sockets(&mut self) -> &mut SocketSet<'a> {
        &mut self.sockets
    }
}
