//! RTPS over TCP: the listener and the sockets of the engine's connection table.
//!
//! The policy is the engine's (`pollen_engine::stream::conn`): which connection a frame goes
//! to, when to open one, back-off, the connect, idle, write and frame timeouts, the inbound,
//! outbound and per-source limits, the partial frame of each connection and its send queue,
//! all on the engine's clock. This module only moves bytes between sockets and the engine:
//! it accepts (and asks the engine whether to keep the connection), reads into
//! `Engine::handle_stream_data`, connects, writes and closes as `Engine::poll_stream_command`
//! says, and reports what the sockets did. A socket's slot is its connection's
//! [`StreamId::slot`], so a readiness token names its connection directly.
//!
//! The driver's own rule: a participant pinned to an interface closes connections from
//! sources off that interface at once (`iface::SourceFilter`), counted here.

use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};
use pollen_engine::stream::StreamId;
use pollen_engine::wire::Locator;
use pollen_engine::{Engine, Instant, StreamCommand};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, SocketAddrV4};

use crate::iface::SourceFilter;

/// Bytes read from a socket at a time.
const READ_CHUNK: usize = 64 * 1024;

/// Limits and timers of the TCP transport: the engine's [`pollen_engine::StreamConfig`].
pub type TcpOptions = pollen_engine::StreamConfig;

/// What the TCP transport counts (from the engine's [`pollen_engine::Stats`] and
/// [`pollen_engine::StreamUsage`], and the driver's own refusals).
#[derive(Debug, Clone, Default)]
pub struct TcpStats {
    /// Connections we opened (attempts).
    pub connects: u64,
    /// Connection attempts that failed (refused, unreachable, timed out).
    pub connect_failures: u64,
    /// Connections peers opened to us.
    pub accepted: u64,
    /// Inbound connections closed at once because `max_inbound` were open.
    pub refused: u64,
    /// Connections closed, for any reason.
    pub closed: u64,
    /// Connections closed because their send buffer made no progress for `write_timeout`.
    pub write_timeouts: u64,
    /// Connections closed after `idle_timeout` without traffic.
    pub idle_timeouts: u64,
    /// Connections closed because they did not carry framed RTPS.
    pub stream_errors: u64,
    /// Frames handed to a connection (queued).
    pub frames_sent: u64,
    /// Bytes the kernel took.
    pub bytes_sent: u64,
    /// Bytes received.
    pub bytes_received: u64,
    /// Frames not sent: their address was in back-off, the outbound limit was reached, or
    /// they were addressed to our own listener.
    pub frames_dropped: u64,
    /// Queued bytes lost with a connection that closed before sending them.
    pub bytes_dropped: u64,
    /// Times a frame did not fit a full send buffer (the engine's transmit stayed parked).
    pub send_blocked: u64,
    /// Bytes buffered now, both directions, all connections.
    pub buffered_bytes: usize,
    /// The most ever buffered at once.
    pub peak_buffered_bytes: usize,
    /// Connections open (or opening) now.
    pub open_connections: usize,
    /// Inbound connections closed at once because their source is not on the interface the
    /// participant is pinned to (see `DriverStats::refused_off_interface`).
    pub refused_off_interface: u64,
    /// Inbound connections closed at once because their source address already held
    /// `max_inbound_per_source`.
    pub refused_per_source: u64,
    /// Connections closed because a frame was still incomplete `frame_timeout` after its
    /// first byte.
    pub frame_timeouts: u64,
}

struct Sock {
    id: StreamId,
    stream: TcpStream,
    connecting: bool,
}

/// The TCP side of a driver.
pub(crate) struct Tcp {
    listener: Option<TcpListener>,
    /// Indexed by [`StreamId::slot`].
    socks: Vec<Option<Sock>>,
    /// Sockets in `socks`: with none, the driver does no TCP work at all.
    open: usize,
    registry: Option<Registry>,
    /// The listener's token; slot `i` has `first + 1 + i`.
    first: Option<Token>,
    filter: SourceFilter,
    scratch: Vec<u8>,
    refused_off_interface: u64,
}

fn v4(a: SocketAddr) -> Option<SocketAddrV4> {
    match a {
        SocketAddr::V4(a) => Some(a),
        SocketAddr::V6(_) => None,
    }
}

impl Tcp {
    pub(crate) fn new(
        opts: &TcpOptions,
        listener: Option<std::net::TcpListener>,
        filter: SourceFilter,
    ) -> Tcp {
        let slots = (opts.max_inbound + opts.max_outbound).min(0xffff);
        Tcp {
            listener: listener.map(TcpListener::from_std),
            socks: (0..slots).map(|_| None).collect(),
            open: 0,
            registry: None,
            first: None,
            filter,
            scratch: Vec::new(),
            refused_off_interface: 0,
        }
    }

    /// The port we listen on, if any.
    pub(crate) fn listen_port(&self) -> Option<u16> {
        self.listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
            .map(|a| a.port())
    }

    pub(crate) fn token_count(&self) -> usize {
        1 + self.socks.len()
    }

    pub(crate) fn register(&mut self, registry: &Registry, first: Token) -> io::Result<()> {
        if let Some(l) = self.listener.as_mut() {
            registry.register(l, first, Interest::READABLE)?;
        }
        for (i, s) in self.socks.iter_mut().enumerate() {
            if let Some(s) = s {
                registry.register(
                    &mut s.stream,
                    Token(first.0 + 1 + i),
                    Interest::READABLE | Interest::WRITABLE,
                )?;
            }
        }
        self.registry = Some(registry.try_clone()?);
        self.first = Some(first);
        Ok(())
    }

    pub(crate) fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        if let Some(l) = self.listener.as_mut() {
            registry.deregister(l)?;
        }
        for s in self.socks.iter_mut().flatten() {
            registry.deregister(&mut s.stream)?;
        }
        self.registry = None;
        self.first = None;
        Ok(())
    }

    /// Handles readiness of `token`; false when it is not one of ours.
    pub(crate) fn handle_token(&mut self, token: Token, engine: &mut Engine, now: Instant) -> bool {
        let Some(first) = self.first else {
            return false;
        };
        let Some(i) = token
            .0
            .checked_sub(first.0)
            .filter(|i| *i < self.token_count())
        else {
            return false;
        };
        if i == 0 {
            self.accept(engine, now);
        } else {
            self.service(i - 1, engine, now);
        }
        true
    }

    /// Accepts and services every socket, without readiness events.
    pub(crate) fn poll_all(&mut self, engine: &mut Engine, now: Instant) {
        self.accept(engine, now);
        if self.open == 0 {
            return;
        }
        for i in 0..self.socks.len() {
            self.service(i, engine, now);
        }
    }

    fn accept(&mut self, engine: &mut Engine, now: Instant) {
        loop {
            let Some(l) = self.listener.as_ref() else {
                return;
            };
            let (stream, addr) = match l.accept() {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // ECONNABORTED, EMFILE, ...: try again on the next readiness.
                Err(_) => return,
            };
            // Dropping a refused stream closes it.
            let peer = match v4(addr) {
                Some(p) if self.filter.accepts(*p.ip()) => p,
                _ => {
                    self.refused_off_interface += 1;
                    continue;
                }
            };
            let remote = Locator::tcpv4(peer.ip().octets(), peer.port());
            let Ok(id) = engine.handle_stream_accepted(now, remote) else {
                continue; // refused and counted by the engine
            };
            if self.insert(id, stream, false, engine, now) {
                // Bytes may have arrived before registration.
                self.service(id.slot(), engine, now);
            }
        }
    }

    /// Puts the socket of `id` in its slot and registers it; false (the engine told) when it
    /// cannot be.
    fn insert(
        &mut self,
        id: StreamId,
        mut stream: TcpStream,
        connecting: bool,
        engine: &mut Engine,
        now: Instant,
    ) -> bool {
        let i = id.slot();
        if i >= self.socks.len() {
            engine.handle_stream_failed(now, id);
            return false;
        }
        let registered = match (&self.registry, self.first) {
            (Some(r), Some(first)) => r
                .register(
                    &mut stream,
                    Token(first.0 + 1 + i),
                    Interest::READABLE | Interest::WRITABLE,
                )
                .is_ok(),
            _ => true,
        };
        if !registered {
            engine.handle_stream_failed(now, id);
            return false;
        }
        let _ = stream.set_nodelay(true);
        if let Some(old) = self.socks[i].take() {
            // Cannot happen (the engine frees a slot only once the driver knows); closed all
            // the same.
            self.drop_sock(old);
        } else {
            self.open += 1;
        }
        self.socks[i] = Some(Sock {
            id,
            stream,
            connecting,
        });
        true
    }

    fn drop_sock(&mut self, mut s: Sock) {
        if let Some(r) = &self.registry {
            let _ = r.deregister(&mut s.stream);
        }
        let _ = s.stream.shutdown(std::net::Shutdown::Both);
    }

    /// Removes slot `i`'s socket (the engine knows already, or is told by the caller).
    fn remove(&mut self, i: usize) -> Option<StreamId> {
        let s = self.socks.get_mut(i)?.take()?;
        self.open -= 1;
        let id = s.id;
        self.drop_sock(s);
        Some(id)
    }

    /// Completes a connection attempt, reads what arrived, and tells the engine the socket
    /// may take bytes.
    fn service(&mut self, i: usize, engine: &mut Engine, now: Instant) {
        let Some(s) = self.socks.get_mut(i).and_then(Option::as_mut) else {
            return;
        };
        let id = s.id;
        if s.connecting {
            match s.stream.take_error() {
                Ok(None) => {}
                Ok(Some(_)) | Err(_) => return self.fail(i, engine, now),
            }
            match s.stream.peer_addr() {
                Ok(_) => {
                    s.connecting = false;
                    engine.handle_stream_connected(now, id);
                }
                Err(e)
                    if e.kind() == io::ErrorKind::NotConnected
                        || e.kind() == io::ErrorKind::WouldBlock =>
                {
                    return; // still connecting
                }
                Err(_) => return self.fail(i, engine, now),
            }
        }
        engine.handle_stream_writable(now, id);
        self.read(i, engine, now);
    }

    fn fail(&mut self, i: usize, engine: &mut Engine, now: Instant) {
        if let Some(id) = self.remove(i) {
            engine.handle_stream_failed(now, id);
        }
    }

    fn read(&mut self, i: usize, engine: &mut Engine, now: Instant) {
        if self.scratch.len() < READ_CHUNK {
            self.scratch = vec![0; READ_CHUNK];
        }
        loop {
            let Some(s) = self.socks[i].as_mut() else {
                return;
            };
            let n = match s.stream.read(&mut self.scratch) {
                Ok(0) => {
                    if let Some(id) = self.remove(i) {
                        engine.handle_stream_closed(now, id);
                    }
                    return;
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return self.fail(i, engine, now),
            };
            if !engine.handle_stream_data(now, s.id, &self.scratch[..n]) {
                // Closing (not framed RTPS): the Close command follows.
                return;
            }
        }
    }

    /// Carries out what the engine's connection table asks: connect, write, close.
    pub(crate) fn run_commands(&mut self, engine: &mut Engine, now: Instant, loopback_only: bool) {
        while let Some(cmd) = engine.poll_stream_command(now) {
            match cmd {
                StreamCommand::Open { conn, remote } => {
                    let to = remote
                        .ipv4()
                        .map(|(ip, port)| SocketAddrV4::new(ip.into(), port))
                        .filter(|to| !loopback_only || to.ip().is_loopback());
                    match to.map(|to| TcpStream::connect(SocketAddr::V4(to))) {
                        Some(Ok(stream)) => {
                            self.insert(conn, stream, true, engine, now);
                        }
                        _ => engine.handle_stream_failed(now, conn),
                    }
                }
                StreamCommand::Send { conn, bytes } => {
                    let Some(s) = self.socks.get_mut(conn.slot()).and_then(Option::as_mut) else {
                        engine.handle_stream_failed(now, conn);
                        continue;
                    };
                    let written = loop {
                        match s.stream.write(bytes) {
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            r => break r,
                        }
                    };
                    match written {
                        Ok(0) => self.fail(conn.slot(), engine, now),
                        Ok(n) => engine.handle_stream_written(now, conn, n),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            engine.handle_stream_written(now, conn, 0)
                        }
                        Err(_) => self.fail(conn.slot(), engine, now),
                    }
                }
                StreamCommand::Close { conn, .. } => {
                    if self
                        .socks
                        .get(conn.slot())
                        .is_some_and(|s| s.as_ref().is_some_and(|s| s.id == conn))
                    {
                        self.remove(conn.slot());
                    }
                }
            }
        }
    }

    /// Whether any socket is open (or being opened).
    pub(crate) fn has_connections(&self) -> bool {
        self.open > 0
    }

    /// Whether the counters can move: a connection is open or inbound ones may come.
    pub(crate) fn is_active(&self) -> bool {
        self.open > 0 || self.listener.is_some()
    }

    /// The counters, from the engine's and the driver's.
    pub(crate) fn stats(&self, engine: &Engine) -> TcpStats {
        let s = engine.stats();
        let u = engine.stream_usage();
        TcpStats {
            connects: s.streams_opened,
            connect_failures: s.stream_connect_failures,
            accepted: s.streams_accepted,
            refused: s.streams_refused_full,
            closed: s.streams_closed,
            write_timeouts: s.stream_write_timeouts,
            idle_timeouts: s.stream_idle_timeouts,
            stream_errors: s.dropped_bad_stream,
            frames_sent: s.stream_frames_queued,
            bytes_sent: s.stream_bytes_out,
            bytes_received: s.stream_bytes_in,
            frames_dropped: s.stream_dropped_backoff
                + s.stream_dropped_limit
                + s.stream_dropped_unroutable,
            bytes_dropped: s.stream_bytes_dropped,
            send_blocked: s.stream_send_blocked,
            buffered_bytes: u.buffered,
            peak_buffered_bytes: u.peak_buffered,
            open_connections: self.open,
            refused_off_interface: self.refused_off_interface,
            refused_per_source: s.streams_refused_per_source,
            frame_timeouts: s.stream_frame_timeouts,
        }
    }
}
