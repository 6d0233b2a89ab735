//! The driver proper: one participant's `wasi:sockets` UDP and TCP sockets, woken by
//! `wasi:io/poll`; the engine is the application's and every call that feeds or drains it
//! borrows it.
//!
//! Loop (DESIGN.md §5): drain outputs, parking the one transmit the host will not take yet;
//! sleep in `poll` on the socket pollables and a monotonic-clock pollable for the earliest of
//! the engine deadline and the application's; convert time; feed inputs; run the timers.
//!
//! Resources: every pollable is a child of the socket or stream it was subscribed from and must
//! be dropped first; the structs below declare pollables before their parents, and Rust drops
//! fields in declaration order.

use crate::clock::{self, Clock};
use crate::net::{self, SocketV4, Transport};
use core::ops::ControlFlow;
use pollen_engine::wire::{GuidPrefix, Locator, Time, VendorId};
use pollen_engine::{
    Config, Destination, Engine, Instant, Peer, Span, StreamCommand, StreamId, StreamSend,
};
use std::fmt;
use std::io;
use std::net::Ipv4Addr;
use std::time::Duration;
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

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        let kind = match e.code {
            Some(ErrorCode::AddressInUse) => io::ErrorKind::AddrInUse,
            Some(ErrorCode::WouldBlock) => io::ErrorKind::WouldBlock,
            Some(ErrorCode::AccessDenied) => io::ErrorKind::PermissionDenied,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}

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

/// One participant's WASI sockets, clock and readiness; the [`Engine`] is the application's
/// (see [`Driver::new`]) and every call that feeds or drains it borrows it.
///
/// [`Driver::poll`] flushes what the engine owes, waits in `wasi:io/poll`, reads everything
/// that is ready into the engine and runs its timers; the application then takes and writes,
/// and the next `poll` (or [`Driver::flush`]) sends. What the engine owes for the input (an
/// ACKNACK) therefore rides in the datagram of the application's reply. The same methods, with
/// the same meaning, as `pollen_mio::Driver`.
pub struct Driver {
    clock: Clock,
    /// The engine instant of this wake-up, and the same moment on the std clock.
    now: Instant,
    wake: std::time::Instant,
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
    /// Binds the sockets of the first free participant id and creates the engine for them.
    ///
    /// The engine is the application's: every driver call that feeds or drains it takes it as
    /// an argument, and it must be this one. It is boxed (a few kilobytes; its tables live on
    /// the heap and grow as they fill).
    pub fn new(opts: Options) -> Result<(Driver, Box<Engine<'static>>), Error> {
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
        let now = clock.to_engine(monotonic_clock::now());
        let engine = Engine::new(cfg, now)
            .map(Box::new)
            .map_err(|e| Error::new(format!("configuration refused: {e}"), None))?;
        // The engine's listen locators are exactly the sockets bound above (no multicast).
        debug_assert!(engine.listen_locators().all(|l| {
            l.locator == bound.meta.locator
                || l.locator == bound.user.locator
                || bound.tcp.as_ref().is_some_and(|t| t.locator == l.locator)
        }));
        let driver = Driver {
            clock,
            now,
            wake: std::time::Instant::now(),
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
        };
        Ok((driver, engine))
    }

    /// The engine instant of the current wake-up: the clock is read once as the driver wakes
    /// ([`Driver::poll`]) or at [`Driver::tick`].
    pub fn now(&self) -> Instant {
        self.now
    }

    /// [`Driver::now`] on the std monotonic clock, for the application's own deadlines.
    pub fn wake_time(&self) -> std::time::Instant {
        self.wake
    }

    /// Reads the clock: what [`Driver::now`] returns until the next wake-up.
    pub fn tick(&mut self) -> Instant {
        self.now = self.clock_now();
        self.wake = std::time::Instant::now();
        self.now
    }

    /// The clock now (one host call).
    fn clock_now(&self) -> Instant {
        self.clock.to_engine(monotonic_clock::now())
    }

    /// The address the participant is bound to.
    pub fn interface(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.address)
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

    fn error(&mut self, what: String) {
        self.stats.last_error = Some(what);
    }

    // ---------------------------------------------------------------------------------------
    // Inputs

    fn receive_udp(&mut self, engine: &mut Engine<'_>, i: usize) {
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
                let now = self.now;
                engine.handle_datagram(now, src, dst, &d.data);
            }
            if (batch.len() as u64) < RECEIVE_BATCH {
                return;
            }
        }
    }

    fn accept(&mut self, engine: &mut Engine<'_>) {
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
                    let now = self.now;
                    let Ok(id) = engine.handle_stream_accepted(now, remote) else {
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

    fn connected(&mut self, engine: &mut Engine<'_>, id: StreamId) {
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
                let now = self.now;
                engine.handle_stream_connected(now, id);
            }
            Err(ErrorCode::WouldBlock) => {}
            Err(e) => self.fail(engine, i, &format!("connect: {}", e.name())),
        }
    }

    fn read_conn(&mut self, engine: &mut Engine<'_>, id: StreamId) {
        let Some(i) = self.find(id) else { return };
        loop {
            let Some(open) = &self.conns[i].open else {
                return;
            };
            match open.input.read(READ_CHUNK) {
                Ok(bytes) if bytes.is_empty() => return,
                Ok(bytes) => {
                    self.stats.stream_bytes_received += bytes.len() as u64;
                    let now = self.now;
                    if !engine.handle_stream_data(now, id, &bytes) {
                        return; // closing: the Close command follows
                    }
                }
                Err(StreamError::Closed) => {
                    self.remove(i, "closed by the peer");
                    let now = self.now;
                    engine.handle_stream_closed(now, id);
                    return;
                }
                Err(StreamError::LastOperationFailed(e)) => {
                    self.fail(engine, i, &format!("read: {}", e.to_debug_string()));
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
    fn fail(&mut self, engine: &mut Engine<'_>, i: usize, why: &str) {
        let id = self.conns[i].id;
        self.remove(i, why);
        let now = self.now;
        engine.handle_stream_failed(now, id);
    }

    /// Carries out what the engine's connection table asks: connect, write, close.
    fn run_commands(&mut self, engine: &mut Engine<'_>) {
        let now = self.now;
        while let Some(cmd) = engine.poll_stream_command(now) {
            match cmd {
                StreamCommand::Open { conn, remote } => {
                    let to = SocketV4::from_locator(&remote);
                    match to.map(|to| self.connect(conn, to)) {
                        Some(Ok(())) => {}
                        Some(Err(e)) => {
                            self.stats.last_error =
                                Some(format!("connect to {remote}: {}", e.name()));
                            engine.handle_stream_failed(now, conn);
                        }
                        None => engine.handle_stream_failed(now, conn),
                    }
                }
                StreamCommand::Send { conn, bytes } => {
                    let Some(i) = self.conns.iter().position(|c| c.id == conn) else {
                        engine.handle_stream_failed(now, conn);
                        continue;
                    };
                    let c = &mut self.conns[i];
                    let Some(open) = &c.open else {
                        engine.handle_stream_written(now, conn, 0);
                        continue;
                    };
                    let n = match open.output.check_write() {
                        Ok(n) => (n as usize).min(bytes.len()),
                        Err(_) => {
                            self.fail(engine, i, "write refused");
                            continue;
                        }
                    };
                    if n > 0 && open.output.write(&bytes[..n]).is_err() {
                        self.fail(engine, i, "write failed");
                        continue;
                    }
                    c.blocked = n == 0;
                    self.stats.stream_bytes_sent += n as u64;
                    engine.handle_stream_written(now, conn, n);
                }
                StreamCommand::Close { conn, reason } => {
                    if let Some(i) = self.conns.iter().position(|c| c.id == conn) {
                        self.remove(i, &reason.to_string());
                    }
                }
            }
        }
        let s = engine.stats();
        self.stats.connections_opened = s.streams_opened;
        self.stats.connections_accepted = s.streams_accepted;
        self.stats.connections_closed = s.streams_closed;
        self.stats.stream_would_block = s.stream_send_blocked;
        self.stats.stream_transmits_dropped = s.stream_dropped_backoff + s.stream_dropped_limit;
    }

    /// Runs the engine's timers that are due at this wake-up ([`Driver::now`]); it neither
    /// reads the clock nor flushes.
    pub fn handle_timeout(&mut self, engine: &mut Engine<'_>) {
        let now = self.now;
        if engine.poll_timeout().is_some_and(|t| t <= now) {
            engine.handle_timeout(now);
        }
    }

    // ---------------------------------------------------------------------------------------
    // Outputs

    /// Whether transmits wait for the host.
    pub fn is_blocked(&self) -> bool {
        self.queued > 0 || self.pending.is_some()
    }

    /// Sends what the engine owes. What the host does not take yet (UDP datagrams gathered
    /// for one batch, or one stream transmit whose connection queue is full) is kept and
    /// retried on the next call; the engine is not asked for more meanwhile. Never fails
    /// (what the host refuses is counted in [`DriverStats`]); the `io::Result` is
    /// `pollen_mio::Driver::flush`'s signature.
    pub fn flush(&mut self, engine: &mut Engine<'_>) -> io::Result<()> {
        loop {
            self.flush_transmits(engine);
            // Connections to open, queues to write, connections to close. A stream transmit
            // parked on a full queue is offered again as long as writing empties queues.
            let before = engine.stream_unsent();
            self.run_commands(engine);
            if self.pending.is_none() || engine.stream_unsent() >= before {
                return Ok(());
            }
        }
    }

    fn flush_transmits(&mut self, engine: &mut Engine<'_>) {
        loop {
            if self.queued > 0 && !self.send_queued() {
                break;
            }
            if let Some(p) = self.pending {
                if !self.deliver_tcp(engine, p) {
                    break;
                }
                self.pending = None;
            }
            if !self.gather(engine) {
                break;
            }
        }
    }

    /// Polls the engine until a UDP batch is full, a stream transmit must wait, or nothing is
    /// owed; false when there is nothing more to do.
    fn gather(&mut self, engine: &mut Engine<'_>) -> bool {
        while self.queued < SEND_BATCH {
            let now = self.now;
            let Some(t) = engine.poll_transmit(now, &mut self.tx) else {
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
                if !self.deliver_tcp(engine, p) {
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
    fn deliver_tcp(&mut self, engine: &mut Engine<'_>, p: Pending) -> bool {
        let now = self.now;
        !matches!(
            engine.send_stream(now, p.to.tcp(), &self.tx[..p.len]),
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

    /// One wake-up: flushes what `engine` owes, sleeps in `wasi:io/poll` until a socket is
    /// ready, the engine's deadline or `timeout` (whichever is first; `None`: the engine's
    /// deadline only), reads the clock once, feeds the engine everything that is ready and runs
    /// the engine's due timers. It does not flush afterwards: the application takes and writes
    /// first, and the next `poll` or [`Driver::flush`] sends it all, so that what the engine
    /// owes for the input (an ACKNACK) rides in the datagram of the application's reply.
    /// Never fails today; the `io::Result` is `pollen_mio::Driver::poll`'s signature.
    pub fn poll(&mut self, engine: &mut Engine<'_>, timeout: Option<Duration>) -> io::Result<()> {
        self.flush(engine)?;
        let start = self.clock_now();
        let wake =
            timeout.map(|t| start + Span::from_micros(t.as_micros().min(u64::MAX as u128) as u64));
        let until = [engine.poll_timeout(), wake].into_iter().flatten().min();
        self.wait(engine, until);
        self.handle_timeout(engine);
        Ok(())
    }

    /// Sleeps until a socket is ready or `until` (engine time) passes, reads the clock
    /// ([`Driver::tick`]), then feeds the engine what is ready.
    fn wait(&mut self, engine: &mut Engine<'_>, until: Option<Instant>) {
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
        // The clock is read once per wake-up: every input of this wake-up, the timers, the
        // application's writes and the transmits of the next flush share this instant (each
        // read is a host call).
        self.tick();
        for r in ready {
            match what[r as usize] {
                Ready::UdpIn(i) => self.receive_udp(engine, i),
                Ready::UdpOut => {}
                Ready::Accept => self.accept(engine),
                Ready::Connected(id) => self.connected(engine, id),
                Ready::Readable(id) => self.read_conn(engine, id),
                Ready::Writable(id) => {
                    if let Some(i) = self.find(id) {
                        self.conns[i].blocked = false;
                        let now = self.now;
                        engine.handle_stream_writable(now, id);
                    }
                }
                Ready::Timer => {}
            }
        }
    }

    /// A convenience loop over [`Driver::poll`]: calls `app` at once and after every wake-up
    /// (input, a timer) to drain events, take samples and write, until it breaks; `app`
    /// returns `Continue(Some(t))` to be called again no later than `t`, or `Continue(None)` to
    /// wait for the next wake-up. Flushes once more after the break.
    pub fn run<T>(
        &mut self,
        engine: &mut Engine<'_>,
        mut app: impl FnMut(&mut Driver, &mut Engine<'_>) -> ControlFlow<T, Option<std::time::Instant>>,
    ) -> io::Result<T> {
        let mut timeout = Some(Duration::ZERO);
        loop {
            self.poll(engine, timeout)?;
            match app(self, engine) {
                ControlFlow::Break(t) => {
                    self.flush(engine)?;
                    return Ok(t);
                }
                ControlFlow::Continue(w) => {
                    timeout = w.map(|t| t.saturating_duration_since(std::time::Instant::now()));
                }
            }
        }
    }

    /// Says goodbye (SPDP dispose to everyone) and flushes for at most `linger`.
    pub fn shutdown(&mut self, engine: &mut Engine<'_>, linger: Duration) -> io::Result<()> {
        let now = self.tick();
        engine.shutdown(now);
        let end = now + Span::from_micros(linger.as_micros().min(u64::MAX as u128) as u64);
        loop {
            self.flush(engine)?;
            let queued = engine.stream_unsent() > 0;
            if (!self.is_blocked() && !queued) || self.clock_now() >= end {
                return Ok(());
            }
            self.wait(engine, Some(end));
        }
    }
}

impl fmt::Debug for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Driver")
            .field("participant_id", &self.participant_id)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}
