//! The engine's stream connections: one table naming each connection in both directions, and
//! the policy every driver would otherwise write again: back-off, timeouts, limits, partial
//! frames. Everything runs on the engine's clock, so it is deterministic and tested without a
//! socket.
//!
//! A connection is a [`StreamId`] from the moment the table takes it until it is gone:
//! - **Inbound**: the driver accepts a socket and asks [`Engine::handle_stream_accepted`],
//!   which refuses (and counts) above `max_inbound` or `max_inbound_per_source`.
//! - **Outbound**: the driver hands a transmit to a TCP locator to [`Engine::send_stream`]. It
//!   goes to the connection we opened to that locator, else to one a peer opened from exactly
//!   that address, else a new connection is made and [`StreamCommand::Open`] asks the driver
//!   to connect; the frame waits in the send queue until [`Engine::handle_stream_connected`].
//!   An address in back-off, or the `max_outbound` limit, drops the frame (counted: reliable
//!   writers repair, as for a datagram lost on the wire).
//!
//! The driver then only moves bytes. Received bytes go to [`Engine::handle_stream_data`],
//! which deframes whole messages straight from them and keeps the remainder (less than one
//! frame) with the connection. Queued bytes come out as [`StreamCommand::Send`]; the driver
//! writes what the socket takes and reports it with [`Engine::handle_stream_written`] (zero:
//! the socket is full; the rest is offered again after [`Engine::handle_stream_writable`]).
//! A socket that ends or fails is reported with [`Engine::handle_stream_closed`] or
//! [`Engine::handle_stream_failed`]; a connection the table closes (a timeout, a bad frame)
//! comes out as [`StreamCommand::Close`]. After either, the id is gone (its slot is reused).
//!
//! Timers: `connect_timeout` from the Open command; on an open connection `idle_timeout`
//! from the last byte either way, `write_timeout` from the last write progress while bytes
//! are queued, and `frame_timeout` from the first byte of an incomplete frame (a slowloris
//! peer keeps the idle timer fresh, not this one). Their earliest deadline is part of
//! [`Engine::poll_timeout`] and [`Engine::handle_timeout`] runs them.
//!
//! Back-off is per remote address: an outbound connection that ends puts its address in
//! back-off for `backoff_min`; one that failed (the attempt failed or timed out, a write
//! timeout, a socket error) doubles the last delay up to `backoff_max`; one that completes
//! clears it.
//!
//! Memory: at most `max_inbound + max_outbound` connections, each holding at most one partial
//! frame received and `max_send_buffer` plus one frame to send; at most
//! `max_backoff_entries` addresses in back-off. Buffers grow to their high-water mark and are
//! reused, so the message path allocates nothing once a connection is warm.

use super::{Deframe, FrameError, Framing, StreamConfig, StreamId};
use crate::event::Event;
use crate::stats::Stats;
use crate::time::{Instant, Span};
use crate::wire::{Locator, LocatorKind};
use crate::Engine;
use alloc::vec::Vec;
use core::fmt;

/// Why the connection table closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The connection attempt did not complete within `connect_timeout`.
    ConnectTimeout,
    /// No traffic either way for `idle_timeout`.
    IdleTimeout,
    /// Queued bytes made no progress for `write_timeout`.
    WriteTimeout,
    /// A frame was incomplete `frame_timeout` after its first byte.
    FrameTimeout,
    /// The stream does not carry framed RTPS ([`Event::StreamError`] says how).
    BadFrame,
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CloseReason::ConnectTimeout => "connection attempt timed out",
            CloseReason::IdleTimeout => "idle timeout",
            CloseReason::WriteTimeout => "write timeout (the peer stopped reading)",
            CloseReason::FrameTimeout => "frame timeout (a frame left incomplete)",
            CloseReason::BadFrame => "not framed RTPS",
        })
    }
}

/// Why an inbound connection was refused (the driver closes the socket; counted in
/// [`Stats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// `max_inbound` connections are open.
    Full,
    /// The source address holds `max_inbound_per_source` connections.
    PerSource,
    /// The remote is not an IPv4 locator.
    Address,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refused::Full => "inbound connection limit reached",
            Refused::PerSource => "per-source connection limit reached",
            Refused::Address => "not an IPv4 address",
        })
    }
}

impl core::error::Error for Refused {}

/// What became of a frame handed to [`Engine::send_stream`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamSend {
    /// Queued on this connection (perhaps opened for it).
    Queued(StreamId),
    /// Not taken: this connection's send queue is full. Keep the transmit and offer it again
    /// once bytes were written.
    Blocked(StreamId),
    /// Not sent and not to be retried (back-off, the outbound limit, not a TCPv4 locator or
    /// our own listener; counted).
    Dropped,
}

/// What the connection table asks the driver to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamCommand<'a> {
    /// Connect to `remote` (a TCPv4 locator); report [`Engine::handle_stream_connected`] or
    /// [`Engine::handle_stream_failed`].
    Open {
        /// The new connection.
        conn: StreamId,
        /// Where to connect.
        remote: Locator,
    },
    /// Write `bytes` (or what the socket takes of them) and report how many with
    /// [`Engine::handle_stream_written`].
    Send {
        /// The connection.
        conn: StreamId,
        /// Queued bytes, framed.
        bytes: &'a [u8],
    },
    /// Close the socket; the id is gone.
    Close {
        /// The connection.
        conn: StreamId,
        /// Why.
        reason: CloseReason,
    },
}

/// How full the connection table is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamUsage {
    /// Connections peers opened, open now.
    pub inbound: usize,
    /// Connections we opened (or are opening), open now.
    pub outbound: usize,
    /// Bytes held now, received partial frames and queued sends, all connections.
    pub buffered: usize,
    /// The most ever held at once.
    pub peak_buffered: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Made for a frame; the Open command is not out yet.
    Opening,
    /// The driver is connecting (since the Open command).
    Connecting,
    Open,
    /// Closed by the table; the Close command is not out yet.
    Closing(CloseReason),
}

struct Conn {
    id: StreamId,
    remote: Locator,
    outbound: bool,
    state: State,
    /// When the Open command went out (or the connection was made).
    since: Instant,
    last_activity: Instant,
    /// When the send queue last moved (or became non-empty).
    last_progress: Instant,
    /// When the first byte of the partial frame in `rx` arrived.
    partial_since: Option<Instant>,
    /// Less than one frame received.
    rx: Vec<u8>,
    tx: Vec<u8>,
    tx_off: usize,
    /// A Send is out and not yet answered.
    offered: bool,
    /// The socket took nothing; wait for [`Engine::handle_stream_writable`].
    blocked: bool,
}

impl Conn {
    fn unsent(&self) -> usize {
        self.tx.len() - self.tx_off
    }

    fn held(&self) -> usize {
        self.unsent() + self.rx.len()
    }

    /// When a timer runs out first, and which.
    fn deadline(&self, cfg: &StreamConfig) -> Option<(Instant, CloseReason)> {
        match self.state {
            State::Opening | State::Connecting => Some((
                self.since + cfg.connect_timeout,
                CloseReason::ConnectTimeout,
            )),
            State::Closing(_) => None,
            State::Open => {
                let mut d = (
                    self.last_activity + cfg.idle_timeout,
                    CloseReason::IdleTimeout,
                );
                let mut earlier = |t: Instant, why| {
                    if t < d.0 {
                        d = (t, why);
                    }
                };
                if self.unsent() > 0 {
                    earlier(
                        self.last_progress + cfg.write_timeout,
                        CloseReason::WriteTimeout,
                    );
                }
                if let Some(t) = self.partial_since {
                    earlier(t + cfg.frame_timeout, CloseReason::FrameTimeout);
                }
                Some(d)
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Backoff {
    remote: Locator,
    until: Instant,
    delay: Span,
}

/// The connection table (see the module documentation).
pub(crate) struct Connections {
    cfg: StreamConfig,
    slots: Vec<Option<Conn>>,
    /// Connections in `slots`: with none, nothing is scanned.
    live: usize,
    generation: u16,
    /// Where the next command scan starts (fairness between connections).
    cursor: usize,
    backoff: Vec<Backoff>,
    buffered: usize,
    peak_buffered: usize,
}

impl Connections {
    pub(crate) fn new(cfg: StreamConfig) -> Self {
        Connections {
            cfg,
            slots: Vec::new(),
            live: 0,
            generation: 0,
            cursor: 0,
            backoff: Vec::new(),
            buffered: 0,
            peak_buffered: 0,
        }
    }

    fn capacity(&self) -> usize {
        (self.cfg.max_inbound + self.cfg.max_outbound).min(0xffff)
    }

    fn find(&self, id: StreamId) -> Option<usize> {
        let i = id.slot();
        match self.slots.get(i) {
            Some(Some(c)) if c.id == id => Some(i),
            _ => None,
        }
    }

    fn conn(&mut self, i: usize) -> &mut Conn {
        self.slots[i].as_mut().expect("a live slot")
    }

    fn grow(&mut self, by: usize, less: usize) {
        self.buffered = self.buffered + by - less;
        self.peak_buffered = self.peak_buffered.max(self.buffered);
    }

    fn count(&self, outbound: bool) -> usize {
        if self.live == 0 {
            return 0;
        }
        self.slots
            .iter()
            .flatten()
            .filter(|c| c.outbound == outbound && !matches!(c.state, State::Closing(_)))
            .count()
    }

    /// Puts a new connection in a free slot; `None` when none is free.
    fn insert(&mut self, now: Instant, remote: Locator, outbound: bool) -> Option<usize> {
        let i = match self.slots.iter().position(Option::is_none) {
            Some(i) => i,
            None if self.slots.len() < self.capacity() => {
                self.slots.push(None);
                self.slots.len() - 1
            }
            None => return None,
        };
        self.generation = self.generation.wrapping_add(1);
        let id = StreamId((u32::from(self.generation) << 16) | i as u32);
        self.slots[i] = Some(Conn {
            id,
            remote,
            outbound,
            state: if outbound {
                State::Opening
            } else {
                State::Open
            },
            since: now,
            last_activity: now,
            last_progress: now,
            partial_since: None,
            rx: Vec::new(),
            tx: Vec::new(),
            tx_off: 0,
            offered: false,
            blocked: false,
        });
        self.live += 1;
        Some(i)
    }

    /// Frees slot `i` (its held bytes are dropped and counted).
    fn remove(&mut self, i: usize, stats: &mut Stats) -> Option<Conn> {
        let c = self.slots[i].take()?;
        self.live -= 1;
        stats.stream_bytes_dropped += c.unsent() as u64;
        self.buffered -= c.held();
        Some(c)
    }

    fn backoff_until(&self, remote: &Locator, now: Instant) -> Option<Instant> {
        self.backoff
            .iter()
            .find(|b| b.remote == *remote && b.until > now)
            .map(|b| b.until)
    }

    /// An outbound connection to `remote` ended; `failed`: the delay doubles.
    fn back_off(&mut self, remote: Locator, failed: bool, now: Instant) {
        let (min, max) = (
            self.cfg.backoff_min,
            self.cfg.backoff_max.max(self.cfg.backoff_min),
        );
        if let Some(b) = self.backoff.iter_mut().find(|b| b.remote == remote) {
            b.delay = if failed {
                Span(b.delay.0.saturating_mul(2).clamp(min.0, max.0))
            } else {
                min
            };
            b.until = now + b.delay;
            return;
        }
        if self.cfg.max_backoff_entries == 0 {
            return;
        }
        if self.backoff.len() >= self.cfg.max_backoff_entries {
            self.backoff.retain(|b| b.until > now);
        }
        if self.backoff.len() >= self.cfg.max_backoff_entries {
            // The entry that would expire first makes way.
            if let Some(k) = (0..self.backoff.len()).min_by_key(|&k| self.backoff[k].until) {
                self.backoff.swap_remove(k);
            }
        }
        self.backoff.push(Backoff {
            remote,
            until: now + min,
            delay: min,
        });
    }

    /// The table closes connection `i`: counted now, the Close command goes out next.
    fn close(&mut self, i: usize, reason: CloseReason, now: Instant, stats: &mut Stats) {
        let c = self.conn(i);
        if matches!(c.state, State::Closing(_)) {
            return;
        }
        let was_connecting = matches!(c.state, State::Opening | State::Connecting);
        let (outbound, remote) = (c.outbound, c.remote);
        let held = c.held();
        stats.stream_bytes_dropped += c.unsent() as u64;
        c.state = State::Closing(reason);
        c.rx = Vec::new();
        c.tx = Vec::new();
        c.tx_off = 0;
        c.partial_since = None;
        self.buffered -= held;
        stats.streams_closed += 1;
        match reason {
            CloseReason::ConnectTimeout => {
                stats.stream_connect_timeouts += 1;
                stats.stream_connect_failures += 1;
            }
            CloseReason::IdleTimeout => stats.stream_idle_timeouts += 1,
            CloseReason::WriteTimeout => stats.stream_write_timeouts += 1,
            CloseReason::FrameTimeout => stats.stream_frame_timeouts += 1,
            CloseReason::BadFrame => {}
        }
        if outbound {
            let failed = was_connecting
                || matches!(
                    reason,
                    CloseReason::WriteTimeout | CloseReason::ConnectTimeout
                );
            self.back_off(remote, failed, now);
        }
    }

    /// The driver says connection `id` ended (`failed`: with an error); false when the table
    /// does not hold it.
    fn ended(&mut self, id: StreamId, failed: bool, now: Instant, stats: &mut Stats) -> bool {
        let Some(i) = self.find(id) else {
            return false;
        };
        let state = self.conn(i).state;
        let Some(c) = self.remove(i, stats) else {
            return false;
        };
        if let State::Closing(_) = state {
            // Closed by the table already (and counted); the driver need not hear it again.
            return true;
        }
        stats.streams_closed += 1;
        let connecting = matches!(state, State::Opening | State::Connecting);
        if connecting {
            stats.stream_connect_failures += 1;
        } else if failed {
            stats.stream_failures += 1;
        }
        if c.outbound {
            self.back_off(c.remote, failed || connecting, now);
        }
        true
    }

    /// Runs out the timers due at `now`.
    fn expire(&mut self, now: Instant, stats: &mut Stats) {
        if self.live == 0 {
            return;
        }
        for i in 0..self.slots.len() {
            let due = match &self.slots[i] {
                Some(c) => c.deadline(&self.cfg).filter(|(at, _)| *at <= now),
                None => None,
            };
            if let Some((_, why)) = due {
                self.close(i, why, now, stats);
            }
        }
    }

    /// The earliest timer of any connection.
    fn next_deadline(&self) -> Option<Instant> {
        if self.live == 0 {
            return None;
        }
        self.slots
            .iter()
            .flatten()
            .filter_map(|c| c.deadline(&self.cfg).map(|(at, _)| at))
            .min()
    }

    /// The connection a frame to `to` goes to: ours to it, else one a peer opened from it.
    fn route(&self, to: &Locator) -> Option<usize> {
        if self.live == 0 {
            return None;
        }
        let usable = |c: &Conn| c.remote == *to && !matches!(c.state, State::Closing(_));
        self.slots
            .iter()
            .position(|c| c.as_ref().is_some_and(|c| c.outbound && usable(c)))
            .or_else(|| {
                self.slots
                    .iter()
                    .position(|c| c.as_ref().is_some_and(usable))
            })
    }

    /// Appends a frame to connection `i`'s send queue.
    fn queue(&mut self, i: usize, frame: &[u8], now: Instant) {
        let c = self.conn(i);
        if c.unsent() == 0 {
            c.tx.clear();
            c.tx_off = 0;
            c.last_progress = now;
        } else if c.tx_off > c.tx.len() / 2 {
            c.tx.drain(..c.tx_off);
            c.tx_off = 0;
        }
        c.tx.extend_from_slice(frame);
        self.grow(frame.len(), 0);
    }

    fn usage(&self) -> StreamUsage {
        StreamUsage {
            inbound: self.count(false),
            outbound: self.count(true),
            buffered: self.buffered,
            peak_buffered: self.peak_buffered,
        }
    }
}

impl Engine<'_> {
    /// A peer connected to our listener from `remote` (its IPv4 address and port): the id of
    /// the new connection, or why it is refused (counted; close the socket).
    pub fn handle_stream_accepted(
        &mut self,
        now: Instant,
        remote: Locator,
    ) -> Result<StreamId, Refused> {
        let now = self.tick(now);
        let Some((ip, _)) = remote.ipv4() else {
            self.stats.streams_refused_address += 1;
            return Err(Refused::Address);
        };
        let t = &self.streams;
        let (mut inbound, mut same) = (0, 0);
        for c in t.slots.iter().flatten() {
            if !c.outbound && !matches!(c.state, State::Closing(_)) {
                inbound += 1;
                same += usize::from(c.remote.ipv4().map(|a| a.0) == Some(ip));
            }
        }
        if inbound >= t.cfg.max_inbound {
            self.stats.streams_refused_full += 1;
            return Err(Refused::Full);
        }
        if same >= t.cfg.max_inbound_per_source {
            self.stats.streams_refused_per_source += 1;
            return Err(Refused::PerSource);
        }
        let Some(i) = self.streams.insert(now, remote, false) else {
            // Every slot is held (some by connections still closing).
            self.stats.streams_refused_full += 1;
            return Err(Refused::Full);
        };
        self.stats.streams_accepted += 1;
        Ok(self.streams.conn(i).id)
    }

    /// The connection attempt of `conn` completed: queued frames may go.
    pub fn handle_stream_connected(&mut self, now: Instant, conn: StreamId) {
        let now = self.tick(now);
        let Some(i) = self.streams.find(conn) else {
            self.stats.stream_unknown += 1;
            return;
        };
        let c = self.streams.conn(i);
        if !matches!(c.state, State::Opening | State::Connecting) {
            return;
        }
        c.state = State::Open;
        c.last_activity = now;
        c.last_progress = now;
        let remote = c.remote;
        self.streams.backoff.retain(|b| b.remote != remote);
    }

    /// Bytes received on `conn`: whole messages are handled at once, the rest of a frame is
    /// kept (at most one frame) and completed by the next bytes. A stream that is not framed
    /// RTPS raises [`Event::StreamError`] and is closed ([`StreamCommand::Close`]). False when
    /// the connection is closing or unknown: reading more from it is pointless.
    pub fn handle_stream_data(&mut self, now: Instant, conn: StreamId, data: &[u8]) -> bool {
        let now = self.tick(now);
        let Some(i) = self.streams.find(conn) else {
            self.stats.stream_unknown += 1;
            return false;
        };
        match self.streams.conn(i).state {
            State::Closing(_) => return false,
            // Bytes prove the connection complete.
            State::Opening | State::Connecting => self.handle_stream_connected(now, conn),
            State::Open => {}
        }
        if data.is_empty() {
            return true;
        }
        self.stats.stream_bytes_in += data.len() as u64;
        let c = self.streams.conn(i);
        c.last_activity = now;
        let mut rx = core::mem::take(&mut c.rx);
        let before = rx.len();
        let result = self.consume(now, conn, &mut rx, data);
        let c = self.streams.conn(i);
        let after = rx.len();
        c.rx = rx;
        match result {
            Ok(completed) => {
                // The frame timer starts with a frame's first byte: now if a frame completed
                // (what is left began in these bytes), else when the held bytes began.
                if after == 0 {
                    c.partial_since = None;
                } else if completed || c.partial_since.is_none() {
                    c.partial_since = Some(now);
                }
                self.streams.grow(after, before);
                true
            }
            Err(error) => {
                self.streams.grow(after, before);
                self.stats.dropped_bad_stream += 1;
                self.emit(Event::StreamError { conn, error });
                self.streams
                    .close(i, CloseReason::BadFrame, now, &mut self.stats);
                false
            }
        }
    }

    /// Feeds `data` after the partial frame in `rx`: tops `rx` up to its frame (never more),
    /// then takes whole frames straight from `data` and keeps what is left in `rx`. Whether a
    /// frame completed.
    fn consume(
        &mut self,
        now: Instant,
        conn: StreamId,
        rx: &mut Vec<u8>,
        mut data: &[u8],
    ) -> Result<bool, FrameError> {
        let mut completed = false;
        while !rx.is_empty() {
            match self.framing.deframe(rx) {
                Deframe::Frame(n) => {
                    self.stats.stream_messages_in += 1;
                    self.handle_message(now, &rx[..n], false, None);
                    rx.drain(..n);
                    completed = true;
                }
                Deframe::Need(n) => {
                    if data.is_empty() {
                        return Ok(completed);
                    }
                    let take = n.saturating_sub(rx.len()).clamp(1, data.len());
                    rx.extend_from_slice(&data[..take]);
                    data = &data[take..];
                }
                Deframe::Bad(e) => {
                    rx.clear();
                    return Err(e);
                }
            }
        }
        let used = self.deframe(now, conn, data)?;
        completed |= used > 0;
        rx.extend_from_slice(&data[used..]);
        Ok(completed)
    }

    /// Hands a framed message (a transmit to `Destination::Tcp(to)`) to the connection to
    /// `to`, opening one if there is none (see the module documentation).
    pub fn send_stream(&mut self, now: Instant, to: Locator, frame: &[u8]) -> StreamSend {
        let now = self.tick(now);
        if to.kind() != LocatorKind::TcpV4 || Some(to) == self.tcp_locator() {
            self.stats.stream_dropped_unroutable += 1;
            return StreamSend::Dropped;
        }
        if let Some(i) = self.streams.route(&to) {
            let max = self.streams.cfg.max_send_buffer;
            let c = self.streams.conn(i);
            let id = c.id;
            if c.unsent() > 0 && c.unsent().saturating_add(frame.len()) > max {
                self.stats.stream_send_blocked += 1;
                return StreamSend::Blocked(id);
            }
            self.streams.queue(i, frame, now);
            self.stats.stream_frames_queued += 1;
            return StreamSend::Queued(id);
        }
        if self.streams.backoff_until(&to, now).is_some() {
            self.stats.stream_dropped_backoff += 1;
            return StreamSend::Dropped;
        }
        if self.streams.count(true) >= self.streams.cfg.max_outbound {
            self.stats.stream_dropped_limit += 1;
            return StreamSend::Dropped;
        }
        let Some(i) = self.streams.insert(now, to, true) else {
            self.stats.stream_dropped_limit += 1;
            return StreamSend::Dropped;
        };
        self.stats.streams_opened += 1;
        self.streams.queue(i, frame, now);
        self.stats.stream_frames_queued += 1;
        StreamSend::Queued(self.streams.conn(i).id)
    }

    /// The socket of `conn` took `n` of the bytes the last [`StreamCommand::Send`] offered
    /// (zero: it is full; the rest waits for [`Engine::handle_stream_writable`]).
    pub fn handle_stream_written(&mut self, now: Instant, conn: StreamId, n: usize) {
        let now = self.tick(now);
        let Some(i) = self.streams.find(conn) else {
            self.stats.stream_unknown += 1;
            return;
        };
        let c = self.streams.conn(i);
        c.offered = false;
        let n = n.min(c.unsent());
        if n == 0 {
            c.blocked = true;
            return;
        }
        c.tx_off += n;
        c.last_progress = now;
        c.last_activity = now;
        if c.unsent() == 0 {
            c.tx.clear();
            c.tx_off = 0;
            // A burst's buffer is given back; a steady flow stays below this.
            if c.tx.capacity() > 4 * self.framing.max_message {
                c.tx.shrink_to(self.framing.max_message);
            }
        }
        self.stats.stream_bytes_out += n as u64;
        self.streams.grow(0, n);
    }

    /// The socket of `conn` may take bytes again.
    pub fn handle_stream_writable(&mut self, now: Instant, conn: StreamId) {
        self.tick(now);
        match self.streams.find(conn) {
            Some(i) => self.streams.conn(i).blocked = false,
            None => self.stats.stream_unknown += 1,
        }
    }

    /// The socket of `conn` failed (a connection attempt refused, a socket error): like
    /// [`Engine::handle_stream_closed`], and an outbound connection's back-off doubles.
    pub fn handle_stream_failed(&mut self, now: Instant, conn: StreamId) {
        let now = self.tick(now);
        if !self.streams.ended(conn, true, now, &mut self.stats) {
            self.stats.streams_closed += 1;
        }
    }

    /// Table side of [`Engine::handle_stream_closed`]: false when the table does not hold
    /// `conn` (a driver numbering its own connections).
    pub(crate) fn stream_ended(&mut self, now: Instant, conn: StreamId) -> bool {
        self.streams.ended(conn, false, now, &mut self.stats)
    }

    /// Table side of [`Engine::handle_timeout`].
    pub(crate) fn expire_streams(&mut self, now: Instant) {
        self.streams.expire(now, &mut self.stats);
    }

    /// Table side of [`Engine::poll_timeout`].
    pub(crate) fn stream_deadline(&self) -> Option<Instant> {
        self.streams.next_deadline()
    }

    /// The next thing the driver must do with a socket: open, write or close. Drain it after
    /// every input, like [`Engine::poll_transmit`].
    #[must_use]
    pub fn poll_stream_command(&mut self, now: Instant) -> Option<StreamCommand<'_>> {
        let now = self.tick(now);
        let t = &mut self.streams;
        if t.live == 0 {
            return None;
        }
        let n = t.slots.len();
        for k in 0..n {
            let i = (t.cursor + k) % n;
            let Some(c) = t.slots[i].as_mut() else {
                continue;
            };
            let id = c.id;
            match c.state {
                State::Closing(reason) => {
                    t.cursor = (i + 1) % n;
                    t.remove(i, &mut self.stats);
                    return Some(StreamCommand::Close { conn: id, reason });
                }
                State::Opening => {
                    t.cursor = (i + 1) % n;
                    c.state = State::Connecting;
                    c.since = now;
                    let remote = c.remote;
                    return Some(StreamCommand::Open { conn: id, remote });
                }
                State::Open if c.unsent() > 0 && !c.blocked && !c.offered => {
                    t.cursor = (i + 1) % n;
                    c.offered = true;
                    let c = t.slots[i].as_ref().expect("a live slot");
                    return Some(StreamCommand::Send {
                        conn: id,
                        bytes: &c.tx[c.tx_off..],
                    });
                }
                _ => {}
            }
        }
        None
    }

    /// How full the connection table is.
    pub fn stream_usage(&self) -> StreamUsage {
        self.streams.usage()
    }

    /// The remote address of `conn`, while it is in the table.
    pub fn stream_remote(&self, conn: StreamId) -> Option<Locator> {
        let i = self.streams.find(conn)?;
        self.streams.slots[i].as_ref().map(|c| c.remote)
    }

    /// Bytes queued for sending on every connection.
    pub fn stream_unsent(&self) -> usize {
        if self.streams.live == 0 {
            return 0;
        }
        self.streams.slots.iter().flatten().map(Conn::unsent).sum()
    }
}

#[cfg(test)]
mod tests;
