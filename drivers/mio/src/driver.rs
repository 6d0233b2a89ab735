//! The driver: one participant's sockets, its clock and its readiness; the engine is the
//! application's, and every call that feeds or drains it borrows it.

use crate::clock::Clock;
use crate::iface::SourceFilter;
use crate::mmsg::{self, Received, BATCH};
use crate::socket;
use crate::tcp::{self, Tcp, TcpOptions};
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Registry, Token, Waker};
use pollen_engine::config::ports;
use pollen_engine::limits::MAX_PEERS;
use pollen_engine::wire::{GuidPrefix, Locator, LocatorKind};
use pollen_engine::StreamSend;
use pollen_engine::{Config, Destination, Engine, Instant, Peer};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

/// Largest datagram a socket can deliver.
const MAX_DATAGRAM: usize = 65_536;
/// Participant ids tried when none is given (ports up to 7410 + 2·119 in domain 0).
const MAX_PROBED_PARTICIPANT_ID: u16 = 119;

/// How to start a participant.
#[derive(Debug, Clone)]
pub struct Options {
    /// DDS domain id.
    pub domain_id: u32,
    /// The interface address: announced in our locators and used for multicast.
    pub interface: Ipv4Addr,
    /// Initial unicast peers (at most `MAX_PEERS`).
    pub peers: Vec<Peer>,
    /// SPDP over multicast (239.255.0.1) besides the unicast peers.
    pub multicast: bool,
    /// A fixed participant id, or `None` for the first whose two unicast ports are free.
    pub participant_id: Option<u16>,
    /// A fixed GUID prefix, or `None` for a random one ([`crate::random_guid_prefix`]).
    pub guid_prefix: Option<GuidPrefix>,
    /// Participant USER_DATA.
    pub user_data: Vec<u8>,
    /// Largest datagram the engine emits; `None` picks 16384 on loopback, 1472 elsewhere.
    pub mtu: Option<usize>,
    /// How to reach peers: UDP (the default) or TCP.
    pub transport: Transport,
    /// Limits and timers of TCP connections (used with [`Transport::Tcp`], and for TCP
    /// locators a peer announces without UDP ones).
    pub tcp: TcpOptions,
    /// The size of every engine table.
    pub capacities: pollen_engine::Capacities,
    /// Busy polling: before [`Driver::poll`] sleeps, it asks for readiness without blocking
    /// for up to this long. A reply that comes back within it is handled without the sleep
    /// and wake-up in between (several microseconds each on loopback), at the price of a core
    /// kept busy while waiting. `None` (the default): sleep at once.
    pub busy_poll: Option<Duration>,
}

/// The transport a participant uses to reach its peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transport {
    /// UDP unicast and (unless turned off) SPDP multicast.
    #[default]
    Udp,
    /// RTPS over TCP with Cyclone DDS's framing, no multicast. The participant listens on the
    /// TCP port numbered like its metatraffic UDP port (7410 + 250·domain + 2·id; TCP and UDP
    /// ports are separate name spaces, and the participant id is chosen so that all three are
    /// free), announces that TCPv4 locator beside its UDP ones and prefers remote TCP
    /// locators. [`Options::peers`] are reached over TCP: a peer without a port is probed on
    /// the TCP ports of participant ids 0..9, which is where other Pollen participants listen.
    Tcp,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            domain_id: 0,
            interface: Ipv4Addr::LOCALHOST,
            peers: Vec::new(),
            multicast: true,
            participant_id: None,
            guid_prefix: None,
            user_data: Vec::new(),
            mtu: None,
            transport: Transport::Udp,
            tcp: TcpOptions::default(),
            capacities: pollen_engine::Capacities::HOST,
            busy_poll: None,
        }
    }
}

/// What the driver itself counts (the engine counts the protocol in `Engine::stats`).
#[derive(Debug, Clone, Default)]
pub struct DriverStats {
    /// Datagrams received from the sockets.
    pub datagrams_received: u64,
    /// Datagrams handed to the kernel.
    pub datagrams_sent: u64,
    /// Times a send met a full socket buffer (the datagram was kept and retried).
    pub send_would_block: u64,
    /// Datagrams the kernel refused with an error other than WouldBlock (dropped; reliable
    /// writers repair them).
    pub send_errors: u64,
    /// Datagrams not sent because their destination was outside loopback while the driver is
    /// pinned to loopback.
    pub refused_off_loopback: u64,
    /// Transmits to a destination the driver cannot reach (a TCP locator that is not IPv4),
    /// skipped.
    pub unsupported_destination: u64,
    /// Receive errors other than WouldBlock.
    pub receive_errors: u64,
    /// The last send or receive error, for diagnostics.
    pub last_error: Option<String>,
    /// The TCP transport's counters.
    pub tcp: tcp::TcpStats,
    /// Datagrams received (and counted in `datagrams_received`) but dropped unread because
    /// their source is not on the interface the participant is pinned to: off the host when
    /// pinned to loopback, else outside the interface's subnet and not a configured peer
    /// (loopback and this host's addresses are always heard).
    pub refused_off_interface: u64,
    /// The source of the last such datagram, for diagnostics.
    pub last_refused_source: Option<SocketAddr>,
    /// Wake-ups whose readiness came while [`Options::busy_poll`] was spinning, without a
    /// sleep.
    pub busy_poll_hits: u64,
}

struct Sock {
    socket: UdpSocket,
    locator: Locator,
}

/// A transmit built into slot `slot` of `tx`, waiting to be handed to the kernel (UDP) or a
/// connection buffer (TCP).
#[derive(Debug, Clone, Copy)]
struct Out {
    slot: usize,
    len: usize,
    to: SocketAddrV4,
    tcp: bool,
}

/// One participant's sockets, clock and readiness; the [`Engine`] is the application's (see
/// [`Driver::new`]) and every call that feeds or drains it borrows it.
///
/// [`Driver::poll`] flushes what the engine owes, waits for readiness, reads everything that
/// is ready into the engine and runs its timers; the application then takes and writes, and
/// the next `poll` (or [`Driver::flush`]) sends. What the engine owes for the input (an
/// ACKNACK) therefore rides in the datagram of the application's reply.
pub struct Driver {
    clock: Clock,
    /// The engine instant of this wake-up: the clock is read once per wake-up.
    now: Instant,
    interface: Ipv4Addr,
    participant_id: u16,
    sockets: Vec<Sock>,
    sender: usize,
    first_token: Option<Token>,
    /// Kept to ask for writability of the sending socket only while a send would block.
    registry: Option<Registry>,
    write_interest: bool,
    /// `BATCH` slots of `mtu` bytes: the transmits of one `sendmmsg`.
    tx: Vec<u8>,
    mtu: usize,
    /// `BATCH` slots of `MAX_DATAGRAM` bytes: the datagrams of one `recvmmsg`.
    rx: Vec<u8>,
    /// Transmits built and not yet sent, from `out_head` on (after a send would block).
    out: Vec<Out>,
    out_head: usize,
    tcp: Tcp,
    filter: SourceFilter,
    stats: DriverStats,
    /// The driver's own poll, while its sockets are registered there (not in a foreign one).
    own: Option<OwnPoll>,
    /// [`Options::busy_poll`]; zero: off.
    busy_poll: Duration,
}

/// The driver's own mio poll, for [`Driver::poll`].
struct OwnPoll {
    poll: Poll,
    events: Events,
    waker: Option<Arc<Waker>>,
}

impl OwnPoll {
    /// Waits for readiness for at most `left` (`None`: without limit), first spinning on
    /// non-blocking polls for up to `spin` of it; counts in `hits` a wait the spin ended.
    fn wait(&mut self, left: Option<Duration>, spin: Duration, hits: &mut u64) -> io::Result<()> {
        let spin = left.map_or(spin, |l| spin.min(l));
        if spin.is_zero() {
            return self.poll.poll(&mut self.events, left);
        }
        let start = std::time::Instant::now();
        loop {
            match self.poll.poll(&mut self.events, Some(Duration::ZERO)) {
                Ok(()) if !self.events.is_empty() => {
                    *hits += 1;
                    return Ok(());
                }
                Err(e) if e.kind() != io::ErrorKind::Interrupted => return Err(e),
                _ => {}
            }
            if start.elapsed() >= spin {
                break;
            }
            std::hint::spin_loop();
        }
        let left = left.map(|l| l.saturating_sub(start.elapsed()));
        self.poll.poll(&mut self.events, left)
    }
}

/// The token of the own poll's waker (the driver's sockets start at 0).
const WAKER: Token = Token(usize::MAX);

fn to_locator(a: SocketAddr) -> Locator {
    match a {
        SocketAddr::V4(v4) => Locator::udpv4(v4.ip().octets(), v4.port()),
        SocketAddr::V6(v6) => {
            let mut l = Locator::INVALID;
            l.kind = 2;
            l.port = v6.port() as u32;
            l.address = v6.ip().octets();
            l
        }
    }
}

/// Creates the engine: a small value whose tables live on the heap and grow as they fill.
fn new_engine(cfg: Config, now: Instant) -> io::Result<Box<Engine<'static>>> {
    Engine::new(cfg, now)
        .map(Box::new)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))
}

impl Driver {
    /// Opens the sockets and creates the engine for them, registered with the driver's own
    /// poll ([`Driver::poll`]; [`Driver::register`] moves them to a foreign one).
    ///
    /// The engine is the application's: every driver call that feeds or drains it takes it as
    /// an argument, and it must be this one. It is boxed: a few kilobytes whose tables live on
    /// the heap and grow as they fill.
    pub fn new(opts: Options) -> io::Result<(Driver, Box<Engine<'static>>)> {
        let clock = Clock::new();
        if opts.peers.len() > MAX_PEERS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("at most {MAX_PEERS} peers"),
            ));
        }
        let tcp_mode = opts.transport == Transport::Tcp;
        let (participant_id, meta, user, listener) = Self::bind_unicast_pair(&opts)?;
        let tcp_port = listener
            .as_ref()
            .map(|l| l.local_addr().map(|a| a.port()))
            .transpose()?;
        let prefix = match opts.guid_prefix {
            Some(p) => p,
            None => crate::random_guid_prefix()?,
        };
        let mut cfg = Config::new(prefix);
        let mut seed = [0u8; 8];
        getrandom::fill(&mut seed).map_err(std::io::Error::other)?;
        cfg.hash_seed = Some(u64::from_le_bytes(seed));
        cfg.domain_id = opts.domain_id;
        cfg.participant_id = participant_id;
        cfg.unicast_address = opts.interface.octets();
        cfg.multicast = opts.multicast && !tcp_mode;
        cfg.tcp_port = tcp_port;
        cfg.prefer_tcp = tcp_mode;
        cfg.capacities = opts.capacities;
        cfg.stream = opts.tcp;
        cfg.mtu = opts.mtu.unwrap_or(if opts.interface.is_loopback() {
            16_384
        } else {
            1472
        });
        for p in &opts.peers {
            if tcp_mode {
                cfg.add_tcp_peer(*p);
            } else {
                cfg.add_peer(*p);
            }
        }
        if !cfg.set_user_data(&opts.user_data) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "participant user data too long",
            ));
        }
        let mtu = cfg.mtu;
        let now = clock.now();
        let engine = new_engine(cfg, now)?;

        let mut meta = Some(meta);
        let mut user = Some(user);
        let mut sockets = Vec::new();
        let mut sender = None;
        for l in engine.listen_locators() {
            // The TCP listener is already bound (it is part of the participant id probe).
            if l.locator.kind() != LocatorKind::UdpV4 {
                continue;
            }
            let Some((ip, port)) = l.locator.ipv4() else {
                continue;
            };
            let std_socket = if l.multicast {
                socket::bind_multicast(Ipv4Addr::from(ip), port, opts.interface)?
            } else if l.metatraffic {
                sender = Some(sockets.len());
                meta.take()
                    .ok_or_else(|| io::Error::other("two metatraffic sockets"))?
            } else {
                user.take()
                    .ok_or_else(|| io::Error::other("two user sockets"))?
            };
            sockets.push(Sock {
                socket: UdpSocket::from_std(std_socket),
                locator: l.locator,
            });
        }
        let sender =
            sender.ok_or_else(|| io::Error::other("engine asked for no unicast socket"))?;
        let peers: Vec<Ipv4Addr> = opts.peers.iter().map(|p| p.address.into()).collect();
        let filter = SourceFilter::new(opts.interface, &peers);
        let tcp = Tcp::new(&opts.tcp, listener, filter.clone());
        let mut driver = Driver {
            clock,
            now,
            interface: opts.interface,
            participant_id,
            sockets,
            sender,
            first_token: None,
            registry: None,
            write_interest: false,
            // Zeroed allocations: the kernel maps pages as datagrams first touch them.
            tx: vec![0; BATCH * mtu],
            mtu,
            rx: vec![0; BATCH * MAX_DATAGRAM],
            out: Vec::with_capacity(BATCH),
            out_head: 0,
            tcp,
            filter,
            stats: DriverStats::default(),
            own: None,
            busy_poll: opts.busy_poll.unwrap_or(Duration::ZERO),
        };
        let poll = Poll::new()?;
        driver.register(poll.registry(), Token(0))?;
        driver.own = Some(OwnPoll {
            poll,
            events: Events::with_capacity(64),
            waker: None,
        });
        Ok((driver, engine))
    }

    /// Binds the metatraffic and user unicast ports of the first free participant id, and with
    /// TCP the listener on the metatraffic port number.
    #[allow(clippy::type_complexity)]
    fn bind_unicast_pair(
        opts: &Options,
    ) -> io::Result<(
        u16,
        std::net::UdpSocket,
        std::net::UdpSocket,
        Option<std::net::TcpListener>,
    )> {
        let ids = match opts.participant_id {
            Some(id) => id..=id,
            None => 0..=MAX_PROBED_PARTICIPANT_ID,
        };
        let mut last = None;
        for id in ids {
            let meta_port = ports::metatraffic_unicast(opts.domain_id, id);
            let user_port = ports::user_unicast(opts.domain_id, id);
            if user_port > u16::MAX as u32 {
                break;
            }
            let meta = match socket::bind_unicast(meta_port as u16, opts.interface) {
                Ok(s) => s,
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                    last = Some(e);
                    continue;
                }
                Err(e) => return Err(e),
            };
            let user = match socket::bind_unicast(user_port as u16, opts.interface) {
                Ok(user) => user,
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                    last = Some(e);
                    continue;
                }
                Err(e) => return Err(e),
            };
            if opts.transport == Transport::Udp {
                return Ok((id, meta, user, None));
            }
            match socket::bind_tcp_listener(meta_port as u16, opts.interface) {
                Ok(l) => return Ok((id, meta, user, Some(l))),
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last
            .unwrap_or_else(|| io::Error::new(io::ErrorKind::AddrInUse, "no free participant id")))
    }

    /// The engine instant of the current wake-up: the clock is read once as the driver wakes
    /// ([`Driver::poll`]) or at [`Driver::tick`].
    pub fn now(&self) -> Instant {
        self.now
    }

    /// [`Driver::now`] as a std instant (microsecond precision).
    pub fn wake_time(&self) -> std::time::Instant {
        self.clock.to_std(self.now)
    }

    /// Reads the clock: what [`Driver::now`] returns until the next wake-up.
    pub fn tick(&mut self) -> Instant {
        self.now = self.clock.now();
        self.now
    }

    /// The driver's clock.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The participant id whose ports were bound.
    pub fn participant_id(&self) -> u16 {
        self.participant_id
    }

    /// The interface address.
    pub fn interface(&self) -> Ipv4Addr {
        self.interface
    }

    /// The driver's counters.
    pub fn stats(&self) -> &DriverStats {
        &self.stats
    }

    /// The TCP port the participant listens on ([`Transport::Tcp`]).
    pub fn tcp_port(&self) -> Option<u16> {
        self.tcp.listen_port()
    }

    /// How many tokens [`Driver::register`] uses: the UDP sockets, the TCP listener and one per
    /// possible TCP connection.
    pub fn token_count(&self) -> usize {
        self.sockets.len() + self.tcp.token_count()
    }

    /// Registers the sockets with a foreign `registry` as tokens `first .. first +
    /// token_count()`, taking them out of the driver's own poll ([`Driver::poll`] and
    /// [`Driver::waker`] then refuse). The driver keeps a clone of `registry` to register the
    /// TCP connections it opens or accepts later.
    ///
    /// The loop is then the application's: per wake-up [`Driver::tick`], [`Driver::handle_ready`]
    /// for every event, [`Driver::handle_timeout`] at [`Driver::next_deadline`], the
    /// application, and one [`Driver::flush`].
    pub fn register(&mut self, registry: &Registry, first: Token) -> io::Result<()> {
        if let Some(own) = self.own.take() {
            self.deregister(own.poll.registry())?;
        }
        // Writability is asked for only while a send would block (`set_write_interest`).
        self.write_interest = self.is_blocked();
        for (i, s) in self.sockets.iter_mut().enumerate() {
            let interest = if i == self.sender && self.write_interest {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            registry.register(&mut s.socket, Token(first.0 + i), interest)?;
        }
        self.tcp
            .register(registry, Token(first.0 + self.sockets.len()))?;
        self.registry = Some(registry.try_clone()?);
        self.first_token = Some(first);
        Ok(())
    }

    /// Removes the sockets from `registry`.
    pub fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        for s in self.sockets.iter_mut() {
            registry.deregister(&mut s.socket)?;
        }
        self.tcp.deregister(registry)?;
        self.registry = None;
        self.first_token = None;
        Ok(())
    }

    /// Asks for (or stops asking for) writability of the sending socket.
    fn set_write_interest(&mut self, on: bool) -> io::Result<()> {
        if self.write_interest == on {
            return Ok(());
        }
        let (Some(registry), Some(first)) = (&self.registry, self.first_token) else {
            return Ok(());
        };
        let interest = if on {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        let s = &mut self.sockets[self.sender];
        registry.reregister(&mut s.socket, Token(first.0 + self.sender), interest)?;
        self.write_interest = on;
        Ok(())
    }

    /// Feeds `engine` what `token`'s readiness (of any kind) brought: reads every queued
    /// datagram or stream byte, accepts connections, writes buffered stream bytes. It neither
    /// reads the clock ([`Driver::tick`]) nor flushes; false when the token is not one of ours.
    ///
    /// For one datagram per hop in a loop of your own: [`Driver::tick`] once per wake-up,
    /// `handle_ready` for every event, then let the application take and write, then
    /// [`Driver::flush`] once: what the engine owes for the input (an ACKNACK) then rides in
    /// the datagram of the application's reply. [`Driver::poll`] does exactly that.
    pub fn handle_ready(&mut self, engine: &mut Engine<'_>, token: Token) -> bool {
        let Some(first) = self.first_token else {
            return false;
        };
        match token.0.checked_sub(first.0) {
            Some(i) if i < self.sockets.len() => {
                self.receive(engine, i);
                true
            }
            Some(_) => self.tcp.handle_token(token, engine, self.now),
            None => false,
        }
    }

    /// Reads socket `i` until it is drained: in batches of `BATCH` datagrams, and on Linux
    /// without the last call that would only say `EAGAIN` (see `mmsg`).
    fn receive(&mut self, engine: &mut Engine<'_>, i: usize) {
        let mut errors = 0;
        let mut got = [Received::EMPTY; BATCH];
        loop {
            let s = &self.sockets[i];
            match mmsg::recv(&s.socket, &mut self.rx, MAX_DATAGRAM, &mut got) {
                Ok((n, drained)) => {
                    let dst = s.locator;
                    for (k, r) in got[..n].iter().enumerate() {
                        self.stats.datagrams_received += 1;
                        let Some(src) = r.from.filter(|_| !r.truncated) else {
                            self.stats.receive_errors += 1;
                            self.stats.last_error =
                                Some("truncated or non-IPv4 datagram".to_string());
                            continue;
                        };
                        let src = SocketAddr::V4(src);
                        if !self.filter.accepts_addr(src) {
                            self.stats.refused_off_interface += 1;
                            self.stats.last_refused_source = Some(src);
                            continue;
                        }
                        let data = &self.rx[k * MAX_DATAGRAM..k * MAX_DATAGRAM + r.len];
                        engine.handle_datagram(self.now, to_locator(src), dst, data);
                    }
                    if drained {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.stats.receive_errors += 1;
                    self.stats.last_error = Some(e.to_string());
                    errors += 1;
                    if errors > 64 {
                        break;
                    }
                }
            }
        }
    }

    /// Runs the engine's timers (the TCP connections' among them) that are due at this
    /// wake-up ([`Driver::now`]); it neither reads the clock nor flushes.
    pub fn handle_timeout(&mut self, engine: &mut Engine<'_>) {
        let now = self.now;
        if engine.poll_timeout().is_some_and(|t| t <= now) {
            engine.handle_timeout(now);
        }
    }

    /// When [`Driver::handle_timeout`] must run next.
    pub fn next_deadline(&self, engine: &Engine<'_>) -> Option<std::time::Instant> {
        engine.poll_timeout().map(|t| self.clock.to_std(t))
    }

    /// One wake-up: flushes what `engine` owes, waits in the driver's own poll until a socket
    /// is ready, the engine's deadline or `timeout` (whichever is first; `None`: the engine's
    /// deadline only), reads the clock, feeds the engine everything that is ready and runs
    /// its due timers. It does not flush afterwards: the application takes and writes first,
    /// and the next `poll` or [`Driver::flush`] sends it all, so that what the engine owes for
    /// the input (an ACKNACK) rides in the datagram of the application's reply. Returns early,
    /// with nothing read, when the [`Driver::waker`] is woken.
    ///
    /// An error if the sockets were moved to a foreign poll with [`Driver::register`].
    pub fn poll(&mut self, engine: &mut Engine<'_>, timeout: Option<Duration>) -> io::Result<()> {
        self.flush(engine)?;
        let Some(mut own) = self.own.take() else {
            return Err(io::Error::other(
                "the driver is registered with a foreign poll: use handle_ready",
            ));
        };
        let start = std::time::Instant::now();
        let left = [
            self.next_deadline(engine)
                .map(|d| d.saturating_duration_since(start)),
            timeout,
        ]
        .into_iter()
        .flatten()
        .min()
        // Round up so that a deadline a few microseconds away does not spin.
        .map(|left| left + Duration::from_micros(if left.is_zero() { 0 } else { 500 }));
        let polled = own.wait(left, self.busy_poll, &mut self.stats.busy_poll_hits);
        self.tick();
        if polled.is_ok() {
            for ev in own.events.iter() {
                if ev.token() != WAKER {
                    self.handle_ready(engine, ev.token());
                }
            }
        }
        self.own = Some(own);
        match polled {
            Err(e) if e.kind() != io::ErrorKind::Interrupted => return Err(e),
            _ => {}
        }
        self.handle_timeout(engine);
        Ok(())
    }

    /// A waker other threads can use to make a blocked [`Driver::poll`] return; an error when
    /// the sockets were moved to a foreign poll.
    pub fn waker(&mut self) -> io::Result<Arc<Waker>> {
        let own = self
            .own
            .as_mut()
            .ok_or_else(|| io::Error::other("the driver is registered with a foreign poll"))?;
        if let Some(w) = &own.waker {
            return Ok(w.clone());
        }
        let w = Arc::new(Waker::new(own.poll.registry(), WAKER)?);
        own.waker = Some(w.clone());
        Ok(w)
    }

    /// A convenience loop over [`Driver::poll`]: calls `app` at once and after every wake-up
    /// (input, a timer, the waker) to drain events, take samples and write, until it breaks;
    /// `app` returns `Continue(Some(t))` to be called again no later than `t`, or
    /// `Continue(None)` to wait for the next wake-up. Flushes once more after the break.
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

    /// Whether a transmit waits for a socket to become writable or a connection to drain.
    pub fn is_blocked(&self) -> bool {
        self.out_head < self.out.len()
    }

    /// Sends everything the engine owes, in batches of up to `BATCH` datagrams per
    /// `sendmmsg`. On a full socket buffer the datagrams in hand are kept and retried on the
    /// next call, and only then is the sending socket registered for writability.
    pub fn flush(&mut self, engine: &mut Engine<'_>) -> io::Result<()> {
        let loopback = self.interface.is_loopback();
        if self.tcp.has_connections() {
            self.tcp.run_commands(engine, self.now, loopback);
        }
        let result = loop {
            let result = self.flush_transmits(engine);
            // The transmits may have opened connections or queued bytes; a transmit parked on
            // a full queue is offered again as long as writing empties queues.
            let before = engine.stream_unsent();
            self.tcp.run_commands(engine, self.now, loopback);
            if result.is_err() || !self.is_blocked() || engine.stream_unsent() >= before {
                break result;
            }
        };
        if self.tcp.is_active() || self.stats.tcp.open_connections > 0 {
            self.stats.tcp = self.tcp.stats(engine);
        }
        result
    }

    fn flush_transmits(&mut self, engine: &mut Engine<'_>) -> io::Result<()> {
        if !self.send_out(engine)? {
            return Ok(());
        }
        loop {
            self.out.clear();
            self.out_head = 0;
            while self.out.len() < BATCH {
                let slot = self.out.len();
                let buf = &mut self.tx[slot * self.mtu..(slot + 1) * self.mtu];
                let Some(t) = engine.poll_transmit(self.now, buf) else {
                    break;
                };
                let (loc, tcp) = match t.destination {
                    Destination::Udp(loc) => (loc, false),
                    Destination::Tcp(loc) => (loc, true),
                };
                let Some((ip, port)) = loc.ipv4() else {
                    if tcp {
                        self.stats.unsupported_destination += 1;
                    } else {
                        self.stats.send_errors += 1;
                    }
                    self.stats.last_error = Some(format!("cannot send to {loc}"));
                    continue;
                };
                let ip = Ipv4Addr::from(ip);
                if self.interface.is_loopback() && !ip.is_loopback() && !ip.is_multicast() {
                    self.stats.refused_off_loopback += 1;
                    continue;
                }
                self.out.push(Out {
                    slot,
                    len: t.len,
                    to: SocketAddrV4::new(ip, port),
                    tcp,
                });
            }
            if self.out.is_empty() {
                return Ok(());
            }
            let more = self.out.len() == BATCH;
            if !self.send_out(engine)? || !more {
                return Ok(());
            }
        }
    }

    /// Sends the transmits from `out_head` on; false when one would block (it and those after
    /// it are kept).
    fn send_out(&mut self, engine: &mut Engine<'_>) -> io::Result<bool> {
        while self.out_head < self.out.len() {
            let o = self.out[self.out_head];
            if o.tcp {
                let bytes = &self.tx[o.slot * self.mtu..o.slot * self.mtu + o.len];
                let to = Locator::tcpv4(o.to.ip().octets(), o.to.port());
                if let StreamSend::Blocked(_) = engine.send_stream(self.now, to, bytes) {
                    // Kept until the connection's queue drains (see `flush`).
                    return Ok(false);
                }
                self.out_head += 1;
                continue;
            }
            // The UDP run up to the next TCP transmit, in one call.
            let run = self.out[self.out_head..]
                .iter()
                .take_while(|o| !o.tcp)
                .count();
            let mut msgs = [(0, 0, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)); BATCH];
            for (m, o) in msgs
                .iter_mut()
                .zip(&self.out[self.out_head..self.out_head + run])
            {
                *m = (o.slot, o.len, o.to);
            }
            let s = &self.sockets[self.sender].socket;
            match mmsg::send(s, &self.tx, self.mtu, &msgs[..run]) {
                Ok(n) => {
                    self.stats.datagrams_sent += n as u64;
                    self.out_head += n;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.stats.send_would_block += 1;
                    self.set_write_interest(true)?;
                    return Ok(false);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // Unreachable networks, refused ports: the datagram is lost like on the
                    // wire; counted, and reliable writers repair.
                    self.stats.send_errors += 1;
                    self.stats.last_error = Some(format!("send to {}: {e}", o.to));
                    self.out_head += 1;
                }
            }
        }
        self.set_write_interest(false)?;
        Ok(true)
    }

    /// Says goodbye (SPDP dispose to everyone) and flushes for at most `linger`.
    pub fn shutdown(&mut self, engine: &mut Engine<'_>, linger: Duration) -> io::Result<()> {
        let now = self.tick();
        engine.shutdown(now);
        let end = std::time::Instant::now() + linger;
        loop {
            self.tick();
            self.tcp.poll_all(engine, self.now);
            self.flush(engine)?;
            let done = !self.is_blocked() && engine.stream_unsent() == 0;
            if done || std::time::Instant::now() >= end {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("participant_id", &self.participant_id)
            .field("interface", &self.interface)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}
