//! RTPS over TCP: the listener, connections opened on demand, and every bound that keeps a
//! slow or hostile peer from making the driver's memory grow.
//!
//! The engine frames and deframes (Cyclone DDS's framing, `pollen_engine::stream`); this module
//! only moves bytes:
//! - **Sending.** A `Destination::Tcp(locator)` goes to an open connection whose remote address
//!   is that locator (one we opened, or one a peer opened from that address), else a new
//!   non-blocking connection is opened and the frame waits in its send buffer until the
//!   connection completes. Bytes the kernel does not take stay in a per-connection buffer of at
//!   most [`TcpOptions::max_send_buffer`] bytes; a frame that does not fit is refused with
//!   [`Send::Blocked`] and the driver keeps the engine's transmit parked until the connection
//!   drains. Nothing is dropped silently: frames to an address in back-off, above the
//!   connection limit, or buffered on a connection that then fails are counted in [`TcpStats`]
//!   (the reliable protocol repairs them, like datagrams lost on the wire).
//! - **Failures.** A refused or failed connection puts its address in back-off (doubling from
//!   [`TcpOptions::backoff_min`] to [`TcpOptions::backoff_max`]); frames for it are dropped until
//!   then, and the next one after that reconnects. A connection whose send buffer makes no
//!   progress for [`TcpOptions::write_timeout`] (a reader that stopped reading) is closed, as is
//!   one with no traffic either way for [`TcpOptions::idle_timeout`] and one still connecting
//!   after [`TcpOptions::connect_timeout`].
//! - **Slow senders.** A frame must be complete [`TcpOptions::frame_timeout`] after its first
//!   byte arrived, else the connection is closed: a peer dribbling a byte now and then (a
//!   "slowloris") keeps the idle timer fresh but cannot hold a slot past that deadline. An
//!   idle connection between whole frames only answers to the idle timeout. One source address
//!   holds at most [`TcpOptions::max_inbound_per_source`] inbound connections, so one host
//!   cannot take every slot; and a participant pinned to an interface closes connections from
//!   sources off that interface at once (`iface::SourceFilter`).
//! - **Receiving.** Bytes are offered to `Engine::handle_stream`, which consumes whole frames
//!   only; the remainder (less than one frame, at most 65 KiB + 1 KiB) is kept with the
//!   connection and offered again with the next read. A connection the engine finds not to
//!   carry framed RTPS is closed at once. So each connection holds at most
//!   `max_send_buffer + 2 × 64 KiB` (plus one frame) and there are at most
//!   `max_inbound + max_outbound` of them.

use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};
use pollen_engine::stream::StreamId;
use pollen_engine::Engine;
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use crate::clock::Clock;
use crate::iface::SourceFilter;

/// Bytes read from a socket at a time.
const READ_CHUNK: usize = 64 * 1024;
/// Addresses remembered in back-off at most (expired entries are pruned first).
const MAX_BACKOFF_ENTRIES: usize = 1024;

/// Limits and timers of the TCP transport.
#[derive(Debug, Clone)]
pub struct TcpOptions {
    /// Connections peers may open to us at once; more are accepted and closed at once.
    pub max_inbound: usize,
    /// Connections we open at once; frames for further addresses are dropped and counted.
    pub max_outbound: usize,
    /// Bytes buffered per connection for sending (raised to at least 128 KiB, so that any
    /// frame fits an empty buffer).
    pub max_send_buffer: usize,
    /// A connection whose buffered bytes make no progress this long is closed.
    pub write_timeout: Duration,
    /// A connection with no traffic in either direction this long is closed.
    pub idle_timeout: Duration,
    /// A connection attempt not completed this long is abandoned.
    pub connect_timeout: Duration,
    /// First delay before reconnecting to an address after a failure.
    pub backoff_min: Duration,
    /// Longest such delay (it doubles after each consecutive failure).
    pub backoff_max: Duration,
    /// Inbound connections one source IPv4 address may hold at once; more are accepted and
    /// closed at once. Every same-host peer connects from 127.0.0.1, so on loopback this is the
    /// number of TCP peers on the host; the default, half of the default `max_inbound`, lets 16
    /// of them in while keeping the other half of the slots for everyone else.
    pub max_inbound_per_source: usize,
    /// A connection holding an incomplete frame this long after the frame's first byte is
    /// closed. The default, 10 s, lets the largest frame (64 KiB) through at ~52 kbit/s.
    pub frame_timeout: Duration,
}

impl Default for TcpOptions {
    fn default() -> Self {
        TcpOptions {
            max_inbound: 32,
            max_outbound: 32,
            max_send_buffer: 1 << 20,
            write_timeout: Duration::from_secs(5),
            // SPDP announces every 3 s, so a live peer is never idle this long.
            idle_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            max_inbound_per_source: 16,
            frame_timeout: Duration::from_secs(10),
        }
    }
}

/// What the TCP transport counts.
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
    /// Frames handed to a connection (written or buffered).
    pub frames_sent: u64,
    /// Bytes the kernel took.
    pub bytes_sent: u64,
    /// Bytes received.
    pub bytes_received: u64,
    /// Frames not sent: their address was in back-off, the outbound limit was reached, or
    /// the connection could not be opened.
    pub frames_dropped: u64,
    /// Buffered bytes lost with a connection that closed before sending them.
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

/// What became of a frame handed to [`Tcp::send`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Send {
    /// Written or buffered.
    Sent,
    /// Not taken: the connection's buffer is full. Retry after it drains.
    Blocked,
    /// Not sent and not retried (counted).
    Dropped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Connecting { since: Instant },
    Open,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Why {
    /// The peer closed or reset it, or a socket error.
    Ended,
    /// The connection attempt failed.
    ConnectFailed,
    WriteTimeout,
    Idle,
    StreamError,
    FrameTimeout,
}

struct Conn {
    id: StreamId,
    stream: TcpStream,
    peer: SocketAddrV4,
    outgoing: bool,
    state: State,
    rx: Vec<u8>,
    tx: Vec<u8>,
    tx_off: usize,
    last_activity: Instant,
    /// When the send buffer last moved (or became non-empty).
    last_progress: Instant,
    /// Whether the socket may take bytes (cleared on WouldBlock, set by readiness).
    writable: bool,
    /// When the first byte of the incomplete frame held in `rx` arrived (None: `rx` is empty).
    partial_since: Option<Instant>,
}

impl Conn {
    fn unsent(&self) -> usize {
        self.tx.len() - self.tx_off
    }

    fn buffer(&mut self, bytes: &[u8], now: Instant) {
        if self.unsent() == 0 {
            self.tx.clear();
            self.tx_off = 0;
            self.last_progress = now;
        } else if self.tx_off > self.tx.len() / 2 {
            self.tx.drain(..self.tx_off);
            self.tx_off = 0;
        }
        self.tx.extend_from_slice(bytes);
    }

    /// When the frame timer, the write timer, the idle timer or the connect timer runs out,
    /// whichever is first, and which it is.
    fn deadline(&self, opts: &TcpOptions) -> (Instant, Why) {
        let mut d = (self.last_activity + opts.idle_timeout, Why::Idle);
        let mut earlier = |t: Instant, why: Why| {
            if t < d.0 {
                d = (t, why);
            }
        };
        match self.state {
            State::Connecting { since } => {
                earlier(since + opts.connect_timeout, Why::ConnectFailed)
            }
            State::Open => {
                if self.unsent() > 0 {
                    earlier(self.last_progress + opts.write_timeout, Why::WriteTimeout);
                }
                if let Some(t) = self.partial_since {
                    earlier(t + opts.frame_timeout, Why::FrameTimeout);
                }
            }
        }
        d
    }

    /// Writes buffered bytes until done or the socket would block.
    fn drain(&mut self, now: Instant, stats: &mut TcpStats) -> io::Result<()> {
        while self.unsent() > 0 && self.writable {
            match self.stream.write(&self.tx[self.tx_off..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.tx_off += n;
                    stats.bytes_sent += n as u64;
                    self.last_progress = now;
                    self.last_activity = now;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.writable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.unsent() == 0 {
            self.tx.clear();
            self.tx_off = 0;
            if self.tx.capacity() > 4 * READ_CHUNK {
                self.tx.shrink_to(READ_CHUNK);
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
struct Backoff {
    until: Instant,
    delay: Duration,
}

/// The TCP side of a driver.
pub(crate) struct Tcp {
    opts: TcpOptions,
    listener: Option<TcpListener>,
    conns: Vec<Option<Conn>>,
    /// Connections in `conns`: with none, the driver does no TCP work at all.
    open: usize,
    next_id: u32,
    backoff: HashMap<SocketAddrV4, Backoff>,
    registry: Option<Registry>,
    /// The listener's token; connection slot `i` has `first + 1 + i`.
    first: Option<Token>,
    filter: SourceFilter,
    scratch: Vec<u8>,
    pub(crate) stats: TcpStats,
}

fn v4(a: SocketAddr) -> Option<SocketAddrV4> {
    match a {
        SocketAddr::V4(a) => Some(a),
        SocketAddr::V6(_) => None,
    }
}

impl Tcp {
    pub(crate) fn new(
        mut opts: TcpOptions,
        listener: Option<std::net::TcpListener>,
        filter: SourceFilter,
    ) -> Tcp {
        opts.max_send_buffer = opts.max_send_buffer.max(2 * READ_CHUNK);
        let slots = opts.max_inbound + opts.max_outbound;
        Tcp {
            opts,
            listener: listener.map(TcpListener::from_std),
            conns: (0..slots).map(|_| None).collect(),
            open: 0,
            next_id: 0,
            backoff: HashMap::new(),
            registry: None,
            first: None,
            filter,
            scratch: Vec::new(),
            stats: TcpStats::default(),
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
        1 + self.conns.len()
    }

    pub(crate) fn register(&mut self, registry: &Registry, first: Token) -> io::Result<()> {
        if let Some(l) = self.listener.as_mut() {
            registry.register(l, first, Interest::READABLE)?;
        }
        for (i, c) in self.conns.iter_mut().enumerate() {
            if let Some(c) = c {
                registry.register(
                    &mut c.stream,
                    Token(first.0 + 1 + i),
                    Interest::READABLE | Interest::WRITABLE,
                )?;
                // Readiness that happened before registration may not be reported.
                c.writable = true;
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
        for c in self.conns.iter_mut().flatten() {
            registry.deregister(&mut c.stream)?;
        }
        self.registry = None;
        self.first = None;
        Ok(())
    }

    /// Handles readiness of `token`; false when it is not one of ours.
    pub(crate) fn handle_token(
        &mut self,
        token: Token,
        engine: &mut Engine,
        clock: &Clock,
    ) -> bool {
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
            self.accept(engine, clock);
        } else if self.conns[i - 1].is_some() {
            if let Some(c) = self.conns[i - 1].as_mut() {
                c.writable = true;
            }
            self.service(i - 1, engine, clock);
        }
        self.update_gauges();
        true
    }

    /// Accepts, reads and writes everything that is ready, without readiness events.
    pub(crate) fn poll_all(&mut self, engine: &mut Engine, clock: &Clock) {
        self.accept(engine, clock);
        for i in 0..self.conns.len() {
            if let Some(c) = self.conns[i].as_mut() {
                c.writable = true;
                self.service(i, engine, clock);
            }
        }
        self.update_gauges();
    }

    /// Writes what connections have buffered, where the socket may take it.
    pub(crate) fn drain_all(&mut self, engine: &mut Engine, clock: &Clock) {
        let unregistered = self.registry.is_none();
        for i in 0..self.conns.len() {
            let Some(c) = self.conns[i].as_mut() else {
                continue;
            };
            if c.unsent() == 0 {
                continue;
            }
            if unregistered {
                c.writable = true;
                self.service(i, engine, clock);
            } else if c.writable && c.state == State::Open {
                if let Err(_e) = c.drain(Instant::now(), &mut self.stats) {
                    self.close(i, Why::Ended, engine, clock);
                }
            }
        }
        self.update_gauges();
    }

    fn accept(&mut self, engine: &mut Engine, clock: &Clock) {
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
                    self.stats.refused_off_interface += 1;
                    continue;
                }
            };
            let (mut inbound, mut same_source) = (0, 0);
            for c in self.conns.iter().flatten().filter(|c| !c.outgoing) {
                inbound += 1;
                same_source += usize::from(c.peer.ip() == peer.ip());
            }
            if inbound >= self.opts.max_inbound {
                self.stats.refused += 1;
                continue;
            }
            if same_source >= self.opts.max_inbound_per_source {
                self.stats.refused_per_source += 1;
                continue;
            }
            self.stats.accepted += 1;
            if let Some(i) = self.insert(stream, peer, false, State::Open) {
                // Bytes may have arrived before registration.
                self.service(i, engine, clock);
            }
        }
    }

    /// Puts a connection in a free slot and registers it.
    fn insert(
        &mut self,
        mut stream: TcpStream,
        peer: SocketAddrV4,
        outgoing: bool,
        state: State,
    ) -> Option<usize> {
        let i = self.conns.iter().position(|c| c.is_none())?;
        let _ = stream.set_nodelay(true);
        if let (Some(r), Some(first)) = (&self.registry, self.first) {
            if r.register(
                &mut stream,
                Token(first.0 + 1 + i),
                Interest::READABLE | Interest::WRITABLE,
            )
            .is_err()
            {
                return None;
            }
        }
        let now = Instant::now();
        self.next_id = self.next_id.wrapping_add(1);
        if self.conns[i].is_none() {
            self.open += 1;
        }
        self.conns[i] = Some(Conn {
            id: StreamId(self.next_id),
            stream,
            peer,
            outgoing,
            state,
            rx: Vec::new(),
            tx: Vec::new(),
            tx_off: 0,
            last_activity: now,
            last_progress: now,
            writable: false,
            partial_since: None,
        });
        Some(i)
    }

    /// Completes a connection attempt, writes what is buffered, reads what arrived.
    fn service(&mut self, i: usize, engine: &mut Engine, clock: &Clock) {
        let now = Instant::now();
        let Some(c) = self.conns[i].as_mut() else {
            return;
        };
        if let State::Connecting { .. } = c.state {
            match c.stream.take_error() {
                Ok(None) => {}
                Ok(Some(_)) | Err(_) => return self.close(i, Why::ConnectFailed, engine, clock),
            }
            match c.stream.peer_addr() {
                Ok(_) => {
                    c.state = State::Open;
                    c.last_activity = now;
                    c.last_progress = now;
                    self.backoff.remove(&c.peer);
                }
                Err(e)
                    if e.kind() == io::ErrorKind::NotConnected
                        || e.kind() == io::ErrorKind::WouldBlock =>
                {
                    return; // still connecting
                }
                Err(_) => return self.close(i, Why::ConnectFailed, engine, clock),
            }
        }
        if c.drain(now, &mut self.stats).is_err() {
            return self.close(i, Why::Ended, engine, clock);
        }
        self.read(i, engine, clock);
    }

    fn read(&mut self, i: usize, engine: &mut Engine, clock: &Clock) {
        if self.scratch.len() < READ_CHUNK {
            self.scratch = vec![0; READ_CHUNK];
        }
        loop {
            let Some(c) = self.conns[i].as_mut() else {
                return;
            };
            let n = match c.stream.read(&mut self.scratch) {
                Ok(0) => return self.close(i, Why::Ended, engine, clock),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return self.close(i, Why::Ended, engine, clock),
            };
            self.stats.bytes_received += n as u64;
            c.last_activity = Instant::now();
            let bad_before = engine.stats().dropped_bad_stream;
            let now = clock.now();
            let used = if c.rx.is_empty() {
                // The common case: whole frames straight from the read buffer.
                let used = engine.handle_stream(now, c.id, &self.scratch[..n]);
                c.rx.extend_from_slice(&self.scratch[used..n]);
                used
            } else {
                c.rx.extend_from_slice(&self.scratch[..n]);
                let used = engine.handle_stream(now, c.id, &c.rx);
                c.rx.drain(..used);
                used
            };
            // The frame timer starts with a frame's first byte: now, if a frame was completed
            // (what is left started in this read), else when the held bytes began.
            if c.rx.is_empty() {
                c.partial_since = None;
            } else if used > 0 || c.partial_since.is_none() {
                c.partial_since = Some(c.last_activity);
            }
            if engine.stats().dropped_bad_stream != bad_before {
                // The engine raised Event::StreamError for this connection.
                return self.close(i, Why::StreamError, engine, clock);
            }
            if c.rx.is_empty() && c.rx.capacity() > 2 * READ_CHUNK {
                c.rx.shrink_to(READ_CHUNK);
            }
        }
    }

    fn close(&mut self, i: usize, why: Why, engine: &mut Engine, clock: &Clock) {
        let Some(mut c) = self.conns[i].take() else {
            return;
        };
        self.open -= 1;
        if let Some(r) = &self.registry {
            let _ = r.deregister(&mut c.stream);
        }
        let _ = c.stream.shutdown(std::net::Shutdown::Both);
        self.stats.closed += 1;
        self.stats.bytes_dropped += c.unsent() as u64;
        match why {
            Why::ConnectFailed => self.stats.connect_failures += 1,
            Why::WriteTimeout => self.stats.write_timeouts += 1,
            Why::Idle => self.stats.idle_timeouts += 1,
            Why::StreamError => self.stats.stream_errors += 1,
            Why::FrameTimeout => self.stats.frame_timeouts += 1,
            Why::Ended => {}
        }
        if c.outgoing {
            let now = Instant::now();
            let failed = matches!(why, Why::ConnectFailed | Why::WriteTimeout);
            let delay = match (self.backoff.get(&c.peer), failed) {
                (Some(b), true) => (b.delay * 2).min(self.opts.backoff_max),
                _ => self.opts.backoff_min,
            };
            if self.backoff.len() >= MAX_BACKOFF_ENTRIES {
                self.backoff.retain(|_, b| b.until > now);
            }
            if self.backoff.len() < MAX_BACKOFF_ENTRIES {
                self.backoff.insert(
                    c.peer,
                    Backoff {
                        until: now + delay,
                        delay,
                    },
                );
            }
        }
        engine.handle_stream_closed(clock.now(), c.id);
    }

    /// Sends one framed message to the connection to `to`, opening it if needed.
    pub(crate) fn send(
        &mut self,
        to: SocketAddrV4,
        frame: &[u8],
        engine: &mut Engine,
        clock: &Clock,
    ) -> Send {
        let now = Instant::now();
        let found = self
            .conns
            .iter()
            .position(|c| c.as_ref().is_some_and(|c| c.peer == to && c.outgoing))
            .or_else(|| {
                self.conns
                    .iter()
                    .position(|c| c.as_ref().is_some_and(|c| c.peer == to))
            });
        let result = match found {
            Some(i) => self.send_on(i, frame, now, engine, clock),
            None => self.open(to, frame, now),
        };
        self.update_gauges();
        result
    }

    fn send_on(
        &mut self,
        i: usize,
        frame: &[u8],
        now: Instant,
        engine: &mut Engine,
        clock: &Clock,
    ) -> Send {
        let Some(c) = self.conns[i].as_mut() else {
            return Send::Dropped;
        };
        if c.unsent() > 0 && c.unsent() + frame.len() > self.opts.max_send_buffer {
            // Try once more: readiness may not have been reported yet.
            if c.writable && c.state == State::Open && c.drain(now, &mut self.stats).is_err() {
                self.close(i, Why::Ended, engine, clock);
                self.stats.frames_dropped += 1;
                return Send::Dropped;
            }
            if c.unsent() + frame.len() > self.opts.max_send_buffer {
                self.stats.send_blocked += 1;
                return Send::Blocked;
            }
        }
        c.buffer(frame, now);
        self.stats.frames_sent += 1;
        if c.state == State::Open && c.drain(now, &mut self.stats).is_err() {
            self.close(i, Why::Ended, engine, clock);
        }
        Send::Sent
    }

    fn open(&mut self, to: SocketAddrV4, frame: &[u8], now: Instant) -> Send {
        if self.backoff.get(&to).is_some_and(|b| b.until > now) {
            self.stats.frames_dropped += 1;
            return Send::Dropped;
        }
        let outbound = self.conns.iter().flatten().filter(|c| c.outgoing).count();
        if outbound >= self.opts.max_outbound
            || (self.filter.loopback_only() && !to.ip().is_loopback())
        {
            self.stats.frames_dropped += 1;
            return Send::Dropped;
        }
        self.stats.connects += 1;
        let stream = match TcpStream::connect(SocketAddr::V4(to)) {
            Ok(s) => s,
            Err(_) => {
                self.stats.connect_failures += 1;
                self.stats.frames_dropped += 1;
                let delay = self.opts.backoff_min;
                self.backoff.insert(
                    to,
                    Backoff {
                        until: now + delay,
                        delay,
                    },
                );
                return Send::Dropped;
            }
        };
        let Some(i) = self.insert(stream, to, true, State::Connecting { since: now }) else {
            self.stats.frames_dropped += 1;
            return Send::Dropped;
        };
        let c = self.conns[i].as_mut().expect("just inserted");
        c.buffer(frame, now);
        self.stats.frames_sent += 1;
        Send::Sent
    }

    /// Whether any connection is open (or being opened).
    pub(crate) fn has_connections(&self) -> bool {
        self.open > 0
    }

    /// Whether the counters can move: a connection is open or inbound ones may come.
    pub(crate) fn is_active(&self) -> bool {
        self.open > 0 || self.listener.is_some()
    }

    /// Closes connections whose timers ran out.
    pub(crate) fn handle_timeouts(&mut self, engine: &mut Engine, clock: &Clock) {
        if self.open == 0 {
            return;
        }
        let now = Instant::now();
        for i in 0..self.conns.len() {
            let Some(c) = self.conns[i].as_ref() else {
                continue;
            };
            let (at, why) = c.deadline(&self.opts);
            if now >= at {
                self.close(i, why, engine, clock);
            }
        }
        self.update_gauges();
    }

    /// When [`Tcp::handle_timeouts`] must run next.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        if self.open == 0 {
            return None;
        }
        self.conns
            .iter()
            .flatten()
            .map(|c| c.deadline(&self.opts).0)
            .min()
    }

    /// Bytes waiting to be sent on any connection.
    pub(crate) fn unsent(&self) -> usize {
        if self.open == 0 {
            return 0;
        }
        self.conns.iter().flatten().map(Conn::unsent).sum()
    }

    fn update_gauges(&mut self) {
        let mut buffered = 0;
        let mut open = 0;
        for c in self.conns.iter().flatten() {
            buffered += c.unsent() + c.rx.len();
            open += 1;
        }
        self.stats.buffered_bytes = buffered;
        self.stats.peak_buffered_bytes = self.stats.peak_buffered_bytes.max(buffered);
        self.stats.open_connections = open;
    }
}
