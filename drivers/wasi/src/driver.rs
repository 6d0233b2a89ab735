//! The driver proper: one engine bound to `wasi:sockets` UDP and TCP, woken by `wasi:io/poll`.
//!
//! Loop (DESIGN.md §5): convert time; feed inputs; drain outputs, parking the one transmit the
//! host will not take yet; sleep in `poll` on the socket pollables and a monotonic-clock
//! pollable for the earliest of the engine deadline and the application's.
//!
//! Resources: every pollable is a child of the socket or stream it was subscribed from and must
//! be dropped first; the structs below declare pollables before their parents, and Rust drops
//! fields in declaration order.

use crate::clock::{self, Clock};
use crate::net::{self, SocketV4, Transport};
use core::ops::ControlFlow;
use pollen_engine::wire::{GuidPrefix, Locator, Time, VendorId};
use pollen_engine::{
    Config, Destination, Engine, Event, Instant, Peer, StreamCommand, StreamId, StreamSend,
};
use std::fmt;
use wasi::clocks::{monotonic_clock, wall_clock};
use wasi::io::poll::{poll, Pollable};
use wasi::io::streams::{InputStream, OutputStream, StreamError};
use wasi::sockets::instance_network::instance_network;
use wasi::sockets::network::{
    ErrorCode, IpAddressFamily, IpSocketAddress, Ipv4SocketAddress, Network,
};
use wasi::sockets::tcp::TcpSocket;
use wasi::sockets::tcp_create_socket::create_tcp_socket;
use wasi::sockets::udp::{
    IncomingDatagramStream, OutgoingDatagram, OutgoingDatagramStream, UdpSocket,
};
use wasi::sockets::udp_create_socket::create_udp_socket;

/// Participant ids tried when none is given (ports up to 7410 + 2·119 in domain 0).
const MAX_PROBED_PARTICIPANT_ID: u16 = 119;
/// Datagrams taken from one socket per `receive` call.
const RECEIVE_BATCH: u64 = 64;
/// Bytes read from a stream per call.
const READ_CHUNK: u64 = 64 << 10;
/// UDP transmits gathered for one `send`.
const SEND_BATCH: usize = 16;
/// Receive buffer asked of the host for UDP sockets (best effort).
const UDP_RECEIVE_BUFFER: u64 = 4 << 20;

/// A WASI call that failed, with what the driver was doing.
#[derive(Debug, Clone)]
pub struct Error {
    /// What the driver was doing.
    pub context: String,
    /// The WASI error code.
    pub code: Option<ErrorCode>,
}

impl Error {
    fn new(context: impl Into<String>, code: Option<ErrorCode>) -> Error {
        Error {
            context: context.into(),
            code,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.code {
            Some(c) => write!(f, "{}: {} ({})", self.context, c.name(), c.message()),
            None => f.write_str(&self.context),
        }
    }
}

impl std::error::Error for Error {}

/// How to start a participant.
#[derive(Debug, Clone)]
pub struct Options {
    /// DDS domain id.
    pub domain_id: u32,
    /// The address to bind and announce (loopback by default).
    pub address: [u8; 4],
    /// Initial unicast peers (at most `MAX_PEERS`); empty means 127.0.0.1 on the well-known
    /// ports.
    pub peers: Vec<Peer>,
    /// UDP, or TCP for discovery and data (UDP sockets are still bound: the engine announces
    /// them).
    pub transport: Transport,
    /// A fixed participant id, or `None` for the first whose ports are free.
    pub participant_id: Option<u16>,
    /// A fixed GUID prefix, or `None` for one from `wasi:random`.
    pub guid_prefix: Option<GuidPrefix>,
    /// Participant USER_DATA.
    pub user_data: Vec<u8>,
    /// Largest datagram the engine emits (default 16384 on loopback, 1472 elsewhere).
    pub mtu: Option<usize>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            domain_id: 0,
            address: [127, 0, 0, 1],
            peers: Vec::new(),
            transport: Transport::Udp,
            participant_id: None,
            guid_prefix: None,
            user_data: Vec::new(),
            mtu: None,
        }
    }
}

/// What the driver counts (the engine counts the protocol).
#[derive(Debug, Clone, Default)]
pub struct DriverStats {
    /// Datagrams received.
    pub datagrams_received: u64,
    /// Datagrams handed to the host.
    pub datagrams_sent: u64,
    /// Times `check-send` or `send` took nothing (the datagram was kept and retried).
    pub send_would_block: u64,
    /// Datagrams the host refused with an error (lost like on the wire; reliable writers
    /// repair them).
    pub send_errors: u64,
    /// Transmits not sent because they would have left loopback.
    pub refused_off_loopback: u64,
    /// Stream bytes received.
    pub stream_bytes_received: u64,
    /// Stream bytes handed to the host.
    pub stream_bytes_sent: u64,
    /// Times a connection's queue was full (the transmit was kept and retried): the engine's
    /// `Stats::stream_send_blocked`.
    pub stream_would_block: u64,
    /// Connections opened by us (`Stats::streams_opened`).
    pub connections_opened: u64,
    /// Connections accepted (`Stats::streams_accepted`).
    pub connections_accepted: u64,
    /// Connections that failed or closed (`Stats::streams_closed`).
    pub connections_closed: u64,
    /// Stream transmits dropped because their address was in back-off or the outbound limit
    /// was reached (the engine's `Stats::stream_dropped_backoff` and `stream_dropped_limit`;
    /// bytes lost with a closing connection are `Stats::stream_bytes_dropped`).
    pub stream_transmits_dropped: u64,
    /// Receive errors.
    pub receive_errors: u64,
    /// The last error, for diagnostics.
    pub last_error: Option<String>,
}

fn ip_socket(s: SocketV4) -> IpSocketAddress {
    let [a, b, c, d] = s.ip;
    IpSocketAddress::Ipv4(Ipv4SocketAddress {
        port: s.port,
        address: (a, b, c, d),
    })
}

fn socket_v4(a: &IpSocketAddress) -> Option<SocketV4> {
    match a {
        IpSocketAddress::Ipv4(v4) => {
            let (a, b, c, d) = v4.address;
            Some(SocketV4 {
                ip: [a, b, c, d],
                port: v4.port,
            })
        }
        IpSocketAddress::Ipv6(_) => None,
    }
}

/// A UDP socket and its datagram streams.
struct Udp {
    readable: Pollable,
    writable: Pollable,
    incoming: IncomingDatagramStream,
    outgoing: OutgoingDatagramStream,
    _socket: UdpSocket,
    locator: Locator,
}

/// The TCP listener.
struct Listener {
    ready: Pollable,
    socket: TcpSocket,
    locator: Locator,
}

/// The streams of an established connection.
struct Open {
    readable: Pollable,
    writable: Pollable,
    input: InputStream,
    output: OutputStream,
}

/// A TCP connection's sockets: opened by us (as the engine's Open command said), or accepted.
struct Conn {
    open: Option<Open>,
    ready: Pollable,
    socket: TcpSocket,
    /// Its name in the engine's connection table (which keeps its bytes and timers).
    id: StreamId,
    /// The output stream took nothing: wait for its writability.
    blocked: bool,
}

/// A stream transmit in hand that its connection's queue cannot take yet: its bytes are at
/// the start of `Driver::tx`.
#[derive(Debug, Clone, Copy)]
struct Pending {
    len: usize,
    to: SocketV4,
}

/// One participant bound to WASI sockets.
///
/// Call [`Driver::flush`] after engine commands made through [`Driver::engine_mut`];
/// [`Driver::run`] does so around the application callback.
pub struct Driver {
    engine: Box<Engine<'static>>,
    clock: Clock,
    address: [u8; 4],
    participant_id: u16,
    // Streams and sockets; the network handle outlives them.
    conns: Vec<Conn>,
    listener: Option<Listener>,
    udp: Vec<Udp>,
    network: Network,
    sender: usize,
    tx: Vec<u8>,
    /// UDP transmits in hand: the first `queued` entries, sent as one batch when
    /// `check-send` permits (each `send` must follow its own `check-send`). Entries past
    /// `queued` keep their buffers for reuse.
    out: Vec<OutgoingDatagram>,
    queued: usize,
    pending: Option<Pending>,
    stats: DriverStats,
}

/// A fresh GUID prefix in Pollen's layout: vendor id 0x0000 in octets 0-1, ten octets from
/// `wasi:random/random`.
pub fn random_guid_prefix() -> GuidPrefix {
    let mut p = [0u8; 12];
    p[..2].copy_from_slice(&VendorId::POLLEN.0);
    let r = wasi::random::random::get_random_bytes(10);
    p[2..].copy_from_slice(&r[..10]);
    if p[2..] == [0; 10] {
        p[11] = 1; // the all-zero prefix is GUIDPREFIX_UNKNOWN
    }
    GuidPrefix(p)
}

/// The wall clock as a source timestamp (see [`clock::source_time`]).
pub fn source_time() -> Time {
    let now = wall_clock::now();
    clock::source_time(now.seconds, now.nanoseconds)
}

/// Waits for a socket's pending bind, listen or connect to complete.
fn finish<T>(
    socket_ready: impl Fn() -> Pollable,
    mut attempt: impl FnMut() -> Result<T, ErrorCode>,
) -> Result<T, ErrorCode> {
    loop {
        match attempt() {
            Err(ErrorCode::WouldBlock) => socket_ready().block(),
            other => return other,
        }
    }
}

fn bind_udp(network: &Network, at: SocketV4) -> Result<Udp, ErrorCode> {
    let socket = create_udp_socket(IpAddressFamily::Ipv4)?;
    socket.start_bind(network, ip_socket(at))?;
    finish(|| socket.subscribe(), || socket.finish_bind())?;
    let _ = socket.set_receive_buffer_size(UDP_RECEIVE_BUFFER);
    let (incoming, outgoing) = socket.stream(None)?;
    Ok(Udp {
        readable: incoming.subscribe(),
        writable: outgoing.subscribe(),
        incoming,
        outgoing,
        _socket: socket,
        locator: at.udp(),
    })
}

fn listen_tcp(network: &Network, at: SocketV4) -> Result<Listener, ErrorCode> {
    let socket = create_tcp_socket(IpAddressFamily::Ipv4)?;
    socket.start_bind(network, ip_socket(at))?;
    finish(|| socket.subscribe(), || socket.finish_bind())?;
    socket.start_listen()?;
    finish(|| socket.subscribe(), || socket.finish_listen())?;
    Ok(Listener {
        ready: socket.subscribe(),
        socket,
        locator: at.tcp(),
    })
}

/// The sockets of one participant id.
struct Bound {
    id: u16,
    meta: Udp,
    user: Udp,
    tcp: Option<Listener>,
}

fn bind_participant(network: &Network, opts: &Options) -> Result<Bound, Error> {
    let ids = match opts.participant_id {
        Some(id) => id..=id,
        None => 0..=MAX_PROBED_PARTICIPANT_ID,
    };
    let in_use = |code: &ErrorCode| *code == ErrorCode::AddressInUse;
    for id in ids {
        let Some((meta_port, user_port, tcp_port)) = net::participant_ports(opts.domain_id, id)
        else {
            break;
        };
        let at = |port| SocketV4 {
            ip: opts.address,
            port,
        };
        let meta = match bind_udp(network, at(meta_port)) {
            Ok(s) => s,
            Err(e) if in_use(&e) => continue,
            Err(e) => return Err(Error::new(format!("bind udp {}", at(meta_port)), Some(e))),
        };
        let user = match bind_udp(network, at(user_port)) {
            Ok(s) => s,
            Err(e) if in_use(&e) => continue,
            Err(e) => return Err(Error::new(format!("bind udp {}", at(user_port)), Some(e))),
        };
        let tcp = if opts.transport == Transport::Tcp {
            match listen_tcp(network, at(tcp_port)) {
                Ok(l) => Some(l),
                Err(e) if in_use(&e) => continue,
                Err(e) => {
                    return Err(Error::new(
                        format!("listen on tcp {}", at(tcp_port)),
                        Some(e),
                    ))
                }
            }
        } else {
            None
        };
        return Ok(Bound {
            id,
            meta,
            user,
            tcp,
        });
    }
    Err(Error::new(
        "no participant id with free ports",
        Some(ErrorCode::AddressInUse),
    ))
}

/// What became ready in one `poll`.
#[derive(Debug, Clone, Copy)]
enum Ready {
    UdpIn(usize),
    UdpOut,
    Accept,
    Connected(StreamId),
    Readable(StreamId),
    Writable(StreamId),
    Timer,
}

impl Driver {
    /// Binds the sockets of the first free participant id and creates the engine.
    pub fn new(opts: Options) -> Result<Driver, Error> {
        let clock = Clock::new(monotonic_clock::now());
        if opts.peers.len() > pollen_engine::limits::MAX_PEERS {
            return Err(Error::new(
                format!("at most {} peers", pollen_engine::limits::MAX_PEERS),
                None,
            ));
        }
        let network = instance_network();
        let bound = bind_participant(&network, &opts)?;
        let mut cfg = Config::new(opts.guid_prefix.unwrap_or_else(random_guid_prefix));
        cfg.hash_seed = Some(wasi::random::random::get_random_u64());
        cfg.domain_id = opts.domain_id;
        cfg.participant_id = bound.id;
        cfg.unicast_address = opts.address;
        // WASI has no multicast: discovery goes through the initial peers.
        cfg.multicast = false;
        cfg.mtu = opts
            .mtu
            .unwrap_or(if opts.address[0] == 127 { 16_384 } else { 1472 });
        let mut peers = opts.peers.clone();
        if peers.is_empty() {
            peers.push(Peer {
                address: [127, 0, 0, 1],
                port: None,
            });
        }
        for p in peers {
            if opts.transport == Transport::Tcp {
                cfg.add_tcp_peer(p);
            } else {
                cfg.add_peer(p);
            }
        }
        if let Some(l) = &bound.tcp {
            cfg.tcp_port = l.locator.ipv4().map(|(_, port)| port);
            cfg.prefer_tcp = true;
        }
        if !cfg.set_user_data(&opts.user_data) {
            return Err(Error::new("participant user data too long", None));
        }
        let mtu = cfg.mtu;
        let engine = Engine::new(cfg, clock.to_engine(monotonic_clock::now()))
            .map(Box::new)
            .map_err(|e| Error::new(format!("configuration refused: {e}"), None))?;
        // The engine's listen locators are exactly the sockets bound above (no multicast).
        debug_assert!(engine.listen_locators().all(|l| {
            l.locator == bound.meta.locator
                || l.locator == bound.user.locator
                || bound.tcp.as_ref().is_some_and(|t| t.locator == l.locator)
        }));
        Ok(Driver {
            engine,
            clock,
            address: opts.address,
            participant_id: bound.id,
            conns: Vec::new(),
            listener: bound.tcp,
            udp: vec![bound.meta, bound.user],
            network,
            sender: 0,
            tx: vec![0; mtu],
            out: Vec::with_capacity(SEND_BATCH),
            queued: 0,
            pending: None,
            stats: DriverStats::default(),
        })
    }

    /// The engine, for queries.
    pub fn engine(&self) -> &Engine<'static> {
        &self.engine
    }

    /// The engine, for commands; call [`Driver::flush`] afterwards.
    pub fn engine_mut(&mut self) -> &mut Engine<'static> {
        &mut self.engine
    }

    /// The current engine instant.
    pub fn now(&self) -> Instant {
        self.clock.to_engine(monotonic_clock::now())
    }

    /// The participant id whose ports were bound.
    pub fn participant_id(&self) -> u16 {
        self.participant_id
    }

    /// The driver's counters.
    pub fn stats(&self) -> &DriverStats {
        &self.stats
    }

    /// Open TCP connections (opened and accepted).
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// The next engine event. (A connection that raised [`Event::StreamError`] is closed by
    /// the engine's connection table: its Close command follows.)
    pub fn poll_event(&mut self) -> Option<Event> {
        self.engine.poll_event()
    }

    fn error(&mut self, what: String) {
        self.stats.last_error = Some(what);
    }

    // ---------------------------------------------------------------------------------------
    // Inputs

    fn receive_udp(&mut self, i: usize) {
        loop {
            let batch = match self.udp[i].incoming.receive(RECEIVE_BATCH) {
                Ok(b) => b,
                Err(ErrorCode::WouldBlock) => return,
                Err(e) => {
                    // An ICMP error from an earlier send surfaces here on some hosts.
                    self.stats.receive_errors += 1;
                    self.error(format!("receive: {}", e.name()));
                    return;
                }
            };
            if batch.is_empty() {
                return;
            }
            let dst = self.udp[i].locator;
            for d in &batch {
                self.stats.datagrams_received += 1;
                let src = socket_v4(&d.remote_address).map_or(Locator::INVALID, |s| s.udp());
                let now = self.now();
                self.engine.handle_datagram(now, src, dst, &d.data);
            }
            if (batch.len() as u64) < RECEIVE_BATCH {
                return;
            }
        }
    }

    fn accept(&mut self) {
        let Some(l) = &self.listener else { return };
        loop {
            match l.socket.accept() {
                Ok((socket, input, output)) => {
                    let remote = socket
                        .remote_address()
                        .ok()
                        .as_ref()
                        .and_then(socket_v4)
                        .map_or(Locator::INVALID, |s| s.tcp());
                    let now = self.clock.to_engine(monotonic_clock::now());
                    let Ok(id) = self.engine.handle_stream_accepted(now, remote) else {
                        // Refused and counted by the engine; the streams go before the socket.
                        drop((input, output));
                        drop(socket);
                        continue;
                    };
                    self.conns.push(Conn {
                        open: Some(Open {
                            readable: input.subscribe(),
                            writable: output.subscribe(),
                            input,
                            output,
                        }),
                        ready: socket.subscribe(),
                        socket,
                        id,
                        blocked: false,
                    });
                }
                Err(ErrorCode::WouldBlock) => return,
                Err(e) => {
                    self.stats.receive_errors += 1;
                    self.stats.last_error = Some(format!("accept: {}", e.name()));
                    return;
                }
            }
        }
    }

    fn find(&self, id: StreamId) -> Option<usize> {
        self.conns.iter().position(|c| c.id == id)
    }

    fn connected(&mut self, id: StreamId) {
        let Some(i) = self.find(id) else { return };
        let c = &mut self.conns[i];
        if c.open.is_some() {
            return;
        }
        match c.socket.finish_connect() {
            Ok((input, output)) => {
                c.open = Some(Open {
                    readable: input.subscribe(),
                    writable: output.subscribe(),
                    input,
                    output,
                });
                let now = self.now();
                self.engine.handle_stream_connected(now, id);
            }
            Err(ErrorCode::WouldBlock) => {}
            Err(e) => self.fail(i, &format!("connect: {}", e.name())),
        }
    }

    fn read_conn(&mut self, id: StreamId) {
        let Some(i) = self.find(id) else { return };
        loop {
            let Some(open) = &self.conns[i].open else {
                return;
            };
            match open.input.read(READ_CHUNK) {
                Ok(bytes) if bytes.is_empty() => return,
                Ok(bytes) => {
                    self.stats.stream_bytes_received += bytes.len() as u64;
                    let now = self.clock.to_engine(monotonic_clock::now());
                    if !self.engine.handle_stream_data(now, id, &bytes) {
                        return; // closing: the Close command follows
                    }
                }
                Err(StreamError::Closed) => {
                    self.remove(i, "closed by the peer");
                    let now = self.now();
                    self.engine.handle_stream_closed(now, id);
                    return;
                }
                Err(StreamError::LastOperationFailed(e)) => {
                    self.fail(i, &format!("read: {}", e.to_debug_string()));
                    return;
                }
            }
        }
    }

    /// Drops connection `i`'s sockets (the engine is told by the caller, or told us).
    fn remove(&mut self, i: usize, why: &str) {
        let c = self.conns.remove(i);
        self.stats.last_error = Some(format!("connection {}: {why}", c.id.0));
    }

    /// Connection `i` failed: dropped, and the engine told.
    fn fail(&mut self, i: usize, why: &str) {
        let id = self.conns[i].id;
        self.remove(i, why);
        let now = self.now();
        self.engine.handle_stream_failed(now, id);
    }

    /// Carries out what the engine's connection table asks: connect, write, close.
    fn run_commands(&mut self) {
        let now = self.now();
        while let Some(cmd) = self.engine.poll_stream_command(now) {
            match cmd {
                StreamCommand::Open { conn, remote } => {
                    let to = SocketV4::from_locator(&remote);
                    match to.map(|to| self.connect(conn, to)) {
                        Some(Ok(())) => {}
                        Some(Err(e)) => {
                            self.stats.last_error =
                                Some(format!("connect to {remote}: {}", e.name()));
                            self.engine.handle_stream_failed(now, conn);
                        }
                        None => self.engine.handle_stream_failed(now, conn),
                    }
                }
                StreamCommand::Send { conn, bytes } => {
                    let Some(i) = self.conns.iter().position(|c| c.id == conn) else {
                        self.engine.handle_stream_failed(now, conn);
                        continue;
                    };
                    let c = &mut self.conns[i];
                    let Some(open) = &c.open else {
                        self.engine.handle_stream_written(now, conn, 0);
                        continue;
                    };
                    let n = match open.output.check_write() {
                        Ok(n) => (n as usize).min(bytes.len()),
                        Err(_) => {
                            self.fail(i, "write refused");
                            continue;
                        }
                    };
                    if n > 0 && open.output.write(&bytes[..n]).is_err() {
                        self.fail(i, "write failed");
                        continue;
                    }
                    c.blocked = n == 0;
                    self.stats.stream_bytes_sent += n as u64;
                    self.engine.handle_stream_written(now, conn, n);
                }
                StreamCommand::Close { conn, reason } => {
                    if let Some(i) = self.conns.iter().position(|c| c.id == conn) {
                        self.remove(i, &reason.to_string());
                    }
                }
            }
        }
        let s = self.engine.stats();
        self.stats.connections_opened = s.streams_opened;
        self.stats.connections_accepted = s.streams_accepted;
        self.stats.connections_closed = s.streams_closed;
        self.stats.stream_would_block = s.stream_send_blocked;
        self.stats.stream_transmits_dropped = s.stream_dropped_backoff + s.stream_dropped_limit;
    }

    /// Runs the engine's timers if due, then flushes.
    pub fn handle_timeout(&mut self) {
        let now = self.now();
        if self.engine.poll_timeout().is_some_and(|t| t <= now) {
            self.engine.handle_timeout(now);
        }
        self.flush();
    }

    // ---------------------------------------------------------------------------------------
    // Outputs

    /// Whether transmits wait for the host.
    pub fn is_blocked(&self) -> bool {
        self.queued > 0 || self.pending.is_some()
    }

    /// Sends what the engine owes. What the host does not take yet (UDP datagrams gathered
    /// for one batch, or one stream transmit whose connection queue is full) is kept and
    /// retried on the next call; the engine is not asked for more meanwhile.
    pub fn flush(&mut self) {
        loop {
            self.flush_transmits();
            // Connections to open, queues to write, connections to close. A stream transmit
            // parked on a full queue is offered again as long as writing empties queues.
            let before = self.engine.stream_unsent();
            self.run_commands();
            if self.pending.is_none() || self.engine.stream_unsent() >= before {
                return;
            }
        }
    }

    fn flush_transmits(&mut self) {
        loop {
            if self.queued > 0 && !self.send_queued() {
                break;
            }
            if let Some(p) = self.pending {
                if !self.deliver_tcp(p) {
                    break;
                }
                self.pending = None;
            }
            if !self.gather() {
                break;
            }
        }
    }

    /// Polls the engine until a UDP batch is full, a stream transmit must wait, or nothing is
    /// owed; false when there is nothing more to do.
    fn gather(&mut self) -> bool {
        while self.queued < SEND_BATCH {
            let now = self.now();
            let Some(t) = self.engine.poll_transmit(now, &mut self.tx) else {
                return self.queued > 0;
            };
            let (loc, tcp) = match t.destination {
                Destination::Udp(l) => (l, false),
                Destination::Tcp(l) => (l, true),
            };
            let Some(to) = SocketV4::from_locator(&loc) else {
                self.stats.send_errors += 1;
                self.error(format!("cannot send to {loc}"));
                continue;
            };
            if !net::may_send(self.address, to) {
                self.stats.refused_off_loopback += 1;
                continue;
            }
            if tcp {
                let p = Pending { len: t.len, to };
                if !self.deliver_tcp(p) {
                    self.pending = Some(p);
                    return true;
                }
                continue;
            }
            if self.out.len() == self.queued {
                self.out.push(OutgoingDatagram {
                    data: Vec::with_capacity(t.len),
                    remote_address: None,
                });
            }
            let d = &mut self.out[self.queued];
            d.data.clear();
            d.data.extend_from_slice(&self.tx[..t.len]);
            d.remote_address = Some(ip_socket(to));
            self.queued += 1;
        }
        true
    }

    /// Sends the queued datagrams the host permits; true when all went.
    fn send_queued(&mut self) -> bool {
        let out = &self.udp[self.sender].outgoing;
        while self.queued > 0 {
            let permitted = match out.check_send() {
                Ok(0) => {
                    self.stats.send_would_block += 1;
                    return false;
                }
                Ok(n) => (n as usize).min(self.queued),
                Err(e) => {
                    // The socket itself failed: nothing will go; count what is in hand.
                    self.stats.send_errors += self.queued as u64;
                    self.stats.last_error = Some(format!("check-send: {}", e.name()));
                    self.queued = 0;
                    return true;
                }
            };
            let done = match out.send(&self.out[..permitted]) {
                Ok(n) => {
                    let n = n as usize;
                    self.stats.datagrams_sent += n as u64;
                    if n < permitted {
                        self.stats.send_would_block += 1;
                    }
                    n
                }
                Err(e) => {
                    // The first datagram was refused (an unreachable port and the like): lost
                    // like on the wire, counted; reliable writers repair.
                    self.stats.send_errors += 1;
                    let to = self.out[0].remote_address.as_ref().and_then(socket_v4);
                    self.stats.last_error = Some(format!("send to {to:?}: {}", e.name()));
                    1
                }
            };
            self.out[..self.queued].rotate_left(done);
            self.queued -= done;
            if done < permitted {
                return self.queued == 0;
            }
        }
        true
    }

    /// Hands a stream transmit to the engine's connection table; false when its connection's
    /// queue is full (keep it).
    fn deliver_tcp(&mut self, p: Pending) -> bool {
        let now = self.now();
        !matches!(
            self.engine.send_stream(now, p.to.tcp(), &self.tx[..p.len]),
            StreamSend::Blocked(_)
        )
    }

    fn connect(&mut self, id: StreamId, to: SocketV4) -> Result<(), ErrorCode> {
        let socket = create_tcp_socket(IpAddressFamily::Ipv4)?;
        socket.start_connect(&self.network, ip_socket(to))?;
        self.conns.push(Conn {
            open: None,
            ready: socket.subscribe(),
            socket,
            id,
            blocked: false,
        });
        Ok(())
    }

    // ---------------------------------------------------------------------------------------
    // Waiting

    /// Sleeps until a socket is ready or `until` (engine time) passes, then handles what is
    /// ready and flushes.
    pub fn wait(&mut self, until: Option<Instant>) {
        let timer = until.map(|t| monotonic_clock::subscribe_instant(self.clock.to_monotonic(t)));
        let mut list: Vec<&Pollable> = Vec::with_capacity(8 + 3 * self.conns.len());
        let mut what: Vec<Ready> = Vec::with_capacity(list.capacity());
        for (i, u) in self.udp.iter().enumerate() {
            list.push(&u.readable);
            what.push(Ready::UdpIn(i));
        }
        if self.queued > 0 {
            list.push(&self.udp[self.sender].writable);
            what.push(Ready::UdpOut);
        }
        if let Some(l) = &self.listener {
            list.push(&l.ready);
            what.push(Ready::Accept);
        }
        for c in &self.conns {
            match &c.open {
                None => {
                    list.push(&c.ready);
                    what.push(Ready::Connected(c.id));
                }
                Some(o) => {
                    list.push(&o.readable);
                    what.push(Ready::Readable(c.id));
                    if c.blocked {
                        list.push(&o.writable);
                        what.push(Ready::Writable(c.id));
                    }
                }
            }
        }
        if let Some(t) = &timer {
            list.push(t);
            what.push(Ready::Timer);
        }
        let ready = poll(&list);
        drop(list);
        drop(timer);
        for r in ready {
            match what[r as usize] {
                Ready::UdpIn(i) => self.receive_udp(i),
                Ready::UdpOut => {}
                Ready::Accept => self.accept(),
                Ready::Connected(id) => self.connected(id),
                Ready::Readable(id) => self.read_conn(id),
                Ready::Writable(id) => {
                    if let Some(i) = self.find(id) {
                        self.conns[i].blocked = false;
                        let now = self.now();
                        self.engine.handle_stream_writable(now, id);
                    }
                }
                Ready::Timer => {}
            }
        }
        self.flush();
    }

    /// Runs until `app` breaks. `app` is called after every wake-up to drain events, take and
    /// write; it returns `Continue(Some(t))` to be called again no later than `t` (engine
    /// time), or `Continue(None)` to wait for I/O or the engine's own deadline.
    pub fn run<T>(
        &mut self,
        mut app: impl FnMut(&mut Driver) -> ControlFlow<T, Option<Instant>>,
    ) -> T {
        loop {
            self.handle_timeout();
            let wake = match app(self) {
                ControlFlow::Break(t) => return t,
                ControlFlow::Continue(w) => w,
            };
            self.flush();
            let deadline = match (self.engine.poll_timeout(), wake) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            self.wait(deadline);
        }
    }

    /// Says goodbye (SPDP dispose) and keeps flushing for at most `linger_us` microseconds.
    pub fn shutdown(&mut self, linger_us: u64) {
        let now = self.now();
        self.engine.shutdown(now);
        let end = now + pollen_engine::Span::from_micros(linger_us);
        loop {
            self.flush();
            let queued = self.engine.stream_unsent() > 0;
            if (!self.is_blocked() && !queued) || self.now() >= end {
                return;
            }
            self.wait(Some(end));
        }
    }
}

impl fmt::Debug for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Driver")
            .field("guid_prefix", &self.engine.guid_prefix())
            .field("participant_id", &self.participant_id)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}
