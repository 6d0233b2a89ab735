//! `pollen relay`: a WebSocket relay that makes a browser tab a real RTPS participant.
//!
//! Each WebSocket session gets a UDP port pair of its own on the relay host (metatraffic and
//! user unicast, a TURN-like allocation bound on the relay's interface, loopback by default).
//! The relay tells the browser those ports in a first text message, and the browser's engine
//! announces them as its locators, so DDS peers talk to it without any change on their side.
//!
//! # Protocol
//!
//! Connect to `ws://HOST:PORT/?token=TOKEN[&domain=D][&ports=M,U]`, or offer the
//! subprotocols `pollen-relay` and `pollen-token.TOKEN` instead of the `token` parameter.
//! `ports` asks for the ports of a previous session (a reconnect); the relay grants them when
//! they are free and allowed.
//!
//! The relay's first message is text, JSON:
//! `{"type":"hello","version":1,"session":N,"address":"127.0.0.1","metatraffic":M,"user":U,
//! "participantId":I|null,"domain":D,"multicast":true,"spdp":{"address":"239.255.0.1",
//! "port":P},"limits":{...}}`. Later text messages are `{"type":"error","code":...,
//! "message":...}` (each code once per session) before a refusal or a close.
//!
//! Every binary message, both ways, is one RTPS datagram behind an 8-byte header:
//!
//! ```text
//! 0: version (1)   1: channel   2-3: port (big-endian)   4-7: IPv4 address (big-endian)
//! ```
//!
//! From the browser, the address and port are the destination (channel 0). From the relay,
//! they are the source, and the channel is where the datagram arrived: 0 the metatraffic
//! port, 1 the user port, 2 the SPDP multicast group.
//!
//! # Limits
//!
//! Per session: datagrams per second and bytes per second from the browser (token buckets
//! with a one-second burst), a bounded WebSocket send buffer (datagrams for a browser that
//! does not keep up are dropped and counted), at most `--max-sessions` sessions. A session
//! is bound to the GUID prefix of its first SPDP message: datagrams before it, datagrams with
//! another prefix, with an INFO_SOURCE, or with the prefix another session holds are refused
//! and counted. Destinations are the SPDP group and unicast addresses on the relay's network
//! (loopback only when the relay is on loopback). Origins come from an allow-list (default:
//! none, or loopback pages); the token is always required.
//!
//! The binding is first come, first served: it stops a session from speaking for a
//! participant that announced itself through this relay, not from claiming a random prefix
//! nobody holds yet (prefixes are random; one is seen only after its owner announced it).
//!
//! # The page
//!
//! With `--web DIR` (the JavaScript package's directory, built), a plain GET serves a page at
//! `/` (`web/index.html` and the module it needs): a participant of its own through this relay,
//! listing participants and topics, a topic's samples and rate, and a box to publish a string.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket as StdUdpSocket};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use mio::net::{TcpListener, TcpStream, UdpSocket};
use mio::{Events, Interest, Poll, Token};
use serde_json::json;
use tungstenite::handshake::server::{Callback, ErrorResponse, Request, Response, ServerHandshake};
use tungstenite::handshake::{HandshakeError, MidHandshake};
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message, WebSocket};

/// The SPDP multicast group.
const SPDP_GROUP: Ipv4Addr = Ipv4Addr::new(239, 255, 0, 1);
/// The frame header before each datagram.
const HEADER: usize = 8;
/// Frame format version.
const VERSION: u8 = 1;
/// Largest UDP datagram.
const MAX_DATAGRAM: usize = 65_507;
/// Bytes a client may send before its handshake completes.
const HANDSHAKE_BUDGET: usize = 16 << 10;
/// Time a client has to complete its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Participant ids probed for a session's ports.
const MAX_PARTICIPANT_ID: u16 = 119;
/// Connections being handshaken beyond the session limit, at most.
const EXTRA_HANDSHAKES: usize = 8;

const LISTENER: Token = Token(0);
const MULTICAST: Token = Token(1);
const SESSION_BASE: usize = 16;

/// Arguments of `pollen relay`.
#[derive(Debug, Args)]
pub struct RelayArgs {
    /// Where the WebSocket server listens (loopback unless told otherwise; port 0 picks one).
    #[arg(long, default_value = "127.0.0.1:7480")]
    listen: SocketAddr,
    /// Interface (name or IPv4 address) of the sessions' UDP ports and of SPDP multicast.
    #[arg(long, short = 'i', env = "POLLEN_INTERFACE")]
    interface: Option<String>,
    /// DDS domain id of the sessions.
    #[arg(long, short = 'd', default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=232))]
    domain: u32,
    /// The token clients present (`?token=` or the subprotocol `pollen-token.TOKEN`); a random
    /// one is made and printed when none is given.
    #[arg(long, env = "POLLEN_RELAY_TOKEN")]
    token: Option<String>,
    /// An Origin allowed to connect (repeatable; `*` for any). Without one, only clients that
    /// send no Origin or a loopback one (http://127.0.0.1:..., http://localhost:...).
    #[arg(long = "allow-origin")]
    allow_origin: Vec<String>,
    /// Sessions at once.
    #[arg(long, default_value_t = 16)]
    max_sessions: usize,
    /// Datagrams per second a session may send.
    #[arg(long, default_value_t = 5000)]
    max_datagrams_per_sec: u32,
    /// Bytes per second a session may send.
    #[arg(long, default_value_t = 16 << 20)]
    max_bytes_per_sec: u64,
    /// Bytes queued towards one browser before datagrams for it are dropped.
    #[arg(long, default_value_t = 4 << 20)]
    max_buffer: usize,
    /// Sessions get ephemeral ports instead of those of the first free participant id (peers
    /// then find them by multicast or by their SPDP only).
    #[arg(long)]
    ephemeral_ports: bool,
    /// No SPDP multicast: nothing joined, nothing fanned out, nothing sent to the group.
    #[arg(long)]
    no_multicast: bool,
    /// Serve the web page from this directory (the JavaScript package: js/ with web/ and the
    /// built pkg/) at `/`: participants, topics, a topic's samples and rate, a box to publish.
    #[arg(long, value_name = "DIR")]
    web: Option<std::path::PathBuf>,
    /// Print sessions and the counters every second on stderr.
    #[arg(short, long)]
    verbose: bool,
}

/// The relay's counters (also printed on exit).
#[derive(Debug, Default, Clone, Copy)]
struct Counters {
    connections: u64,
    http_requests: u64,
    sessions_opened: u64,
    sessions_closed: u64,
    refused_token: u64,
    refused_origin: u64,
    refused_full: u64,
    refused_request: u64,
    handshake_failures: u64,
    protocol_errors: u64,
    port_allocation_failures: u64,
    datagrams_up: u64,
    bytes_up: u64,
    datagrams_down: u64,
    bytes_down: u64,
    multicast_fanned_out: u64,
    garbage: u64,
    text_ignored: u64,
    rate_limited: u64,
    unbound: u64,
    spoofed: u64,
    refused_destination: u64,
    refused_source: u64,
    dropped_backpressure: u64,
    udp_send_errors: u64,
}

impl Counters {
    fn json(&self) -> serde_json::Value {
        json!({
            "connections": self.connections,
            "httpRequests": self.http_requests,
            "sessionsOpened": self.sessions_opened,
            "sessionsClosed": self.sessions_closed,
            "refusedToken": self.refused_token,
            "refusedOrigin": self.refused_origin,
            "refusedFull": self.refused_full,
            "refusedRequest": self.refused_request,
            "handshakeFailures": self.handshake_failures,
            "protocolErrors": self.protocol_errors,
            "portAllocationFailures": self.port_allocation_failures,
            "datagramsUp": self.datagrams_up,
            "bytesUp": self.bytes_up,
            "datagramsDown": self.datagrams_down,
            "bytesDown": self.bytes_down,
            "multicastFannedOut": self.multicast_fanned_out,
            "garbage": self.garbage,
            "textIgnored": self.text_ignored,
            "rateLimited": self.rate_limited,
            "unbound": self.unbound,
            "spoofed": self.spoofed,
            "refusedDestination": self.refused_destination,
            "refusedSource": self.refused_source,
            "droppedBackpressure": self.dropped_backpressure,
            "udpSendErrors": self.udp_send_errors,
        })
    }
}

/// A TCP stream that refuses to read more than a budget (during the handshake), and first
/// gives back the request bytes already read to tell a WebSocket from a page request.
struct Conn {
    stream: TcpStream,
    budget: usize,
    pre: Vec<u8>,
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.pre.is_empty() {
            let n = buf.len().min(self.pre.len());
            buf[..n].copy_from_slice(&self.pre[..n]);
            self.pre.drain(..n);
            return Ok(n);
        }
        if self.budget == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request too large",
            ));
        }
        let n = buf.len().min(self.budget);
        let got = self.stream.read(&mut buf[..n])?;
        if self.budget != usize::MAX {
            self.budget -= got;
        }
        Ok(got)
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

/// Why a handshake was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    Token,
    Origin,
    Full,
    Request,
}

/// What the handshake callback decides with.
struct Policy {
    token: String,
    origins: Vec<String>,
    domain: u32,
}

/// The handshake check; it leaves its verdict and the asked ports in `outcome`.
struct Check {
    policy: Arc<Policy>,
    full: bool,
    outcome: std::rc::Rc<std::cell::RefCell<Outcome>>,
}

#[derive(Debug, Default, Clone)]
struct Outcome {
    refusal: Option<Refusal>,
    ports: Option<(u16, u16)>,
}

fn refuse(status: u16, msg: &str) -> ErrorResponse {
    let mut r = ErrorResponse::new(Some(format!("pollen relay: {msg}\n")));
    *r.status_mut() = tungstenite::http::StatusCode::from_u16(status)
        .unwrap_or(tungstenite::http::StatusCode::FORBIDDEN);
    r
}

fn query_param<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == key).then_some(v)
    })
}

/// Constant-time comparison of the token.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn origin_allowed(origins: &[String], origin: Option<&str>) -> bool {
    let Some(o) = origin else { return true };
    if origins.is_empty() {
        let rest = o
            .strip_prefix("http://")
            .or_else(|| o.strip_prefix("https://"));
        let host = rest.map(|r| {
            if let Some(v6) = r.strip_prefix('[') {
                v6.split(']').next().unwrap_or("")
            } else {
                r.split(':').next().unwrap_or("")
            }
        });
        return matches!(host, Some("127.0.0.1" | "localhost" | "::1"));
    }
    origins.iter().any(|a| a == "*" || a == o)
}

impl Callback for Check {
    fn on_request(self, req: &Request, mut resp: Response) -> Result<Response, ErrorResponse> {
        let mut out = self.outcome.borrow_mut();
        let query = req.uri().query().unwrap_or("");
        let origin = req.headers().get("origin").and_then(|v| v.to_str().ok());
        if !origin_allowed(&self.policy.origins, origin) {
            out.refusal = Some(Refusal::Origin);
            return Err(refuse(
                403,
                &format!(
                    "origin {:?} is not allowed (--allow-origin)",
                    origin.unwrap_or("")
                ),
            ));
        }
        let protocols: Vec<&str> = req
            .headers()
            .get_all("sec-websocket-protocol")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let presented = query_param(query, "token").or_else(|| {
            protocols
                .iter()
                .find_map(|p| p.strip_prefix("pollen-token."))
        });
        if !presented.is_some_and(|t| same(t.as_bytes(), self.policy.token.as_bytes())) {
            out.refusal = Some(Refusal::Token);
            return Err(refuse(
                401,
                "missing or wrong token (?token=... or the subprotocol pollen-token.TOKEN)",
            ));
        }
        if let Some(d) = query_param(query, "domain") {
            if d.parse::<u32>().ok() != Some(self.policy.domain) {
                out.refusal = Some(Refusal::Request);
                return Err(refuse(
                    400,
                    &format!("this relay serves domain {}, not {d}", self.policy.domain),
                ));
            }
        }
        if let Some(p) = query_param(query, "ports") {
            // The comma may come percent-encoded (URLSearchParams does that).
            let p = p.replace("%2C", ",").replace("%2c", ",");
            let parsed = p
                .split_once(',')
                .and_then(|(m, u)| Some((m.parse::<u16>().ok()?, u.parse::<u16>().ok()?)));
            match parsed {
                Some((m, u)) if m != 0 && u != 0 && m != u => out.ports = Some((m, u)),
                _ => {
                    out.refusal = Some(Refusal::Request);
                    return Err(refuse(400, "ports must be METATRAFFIC,USER"));
                }
            }
        }
        if self.full {
            out.refusal = Some(Refusal::Full);
            return Err(refuse(503, "too many sessions (--max-sessions)"));
        }
        let chosen = ["pollen-relay"]
            .into_iter()
            .chain(
                protocols
                    .iter()
                    .copied()
                    .filter(|p| p.starts_with("pollen-token.")),
            )
            .find(|p| protocols.contains(p));
        if let Some(p) = chosen {
            if let Ok(v) = p.parse() {
                resp.headers_mut().insert("sec-websocket-protocol", v);
            }
        }
        Ok(resp)
    }
}

/// A token bucket with a one-second burst.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    rate: f64,
    level: f64,
    at: Instant,
}

impl Bucket {
    fn new(rate: f64, now: Instant) -> Bucket {
        Bucket {
            rate,
            level: rate,
            at: now,
        }
    }
    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.at).as_secs_f64();
        self.level = (self.level + dt * self.rate).min(self.rate);
        self.at = now;
    }
}

enum Ws {
    /// Reading the request: a WebSocket upgrade or a page (`--web`).
    Sniffing(
        Option<Conn>,
        Option<Check>,
        std::rc::Rc<std::cell::RefCell<Outcome>>,
    ),
    /// Sending a page, then closing.
    Http(Conn, Vec<u8>),
    Handshaking(
        Option<Box<MidHandshake<ServerHandshake<Conn, Check>>>>,
        std::rc::Rc<std::cell::RefCell<Outcome>>,
    ),
    Open(Box<WebSocket<Conn>>),
}

struct Alloc {
    meta: UdpSocket,
    user: UdpSocket,
    ports: (u16, u16),
    participant_id: Option<u16>,
}

struct Session {
    serial: u64,
    peer: SocketAddr,
    ws: Ws,
    alloc: Option<Alloc>,
    prefix: Option<[u8; 12]>,
    datagrams: Bucket,
    bytes: Bucket,
    started: Instant,
    told: u32,
    closing: bool,
}

struct Relay {
    args: RelayArgs,
    iface: Ipv4Addr,
    netmask: Ipv4Addr,
    policy: Arc<Policy>,
    poll: Poll,
    listener: TcpListener,
    multicast: Option<UdpSocket>,
    spdp_port: u16,
    sessions: Vec<Option<Session>>,
    prefixes: HashMap<[u8; 12], usize>,
    counters: Counters,
    serial: u64,
    buf: Vec<u8>,
}

fn ws_config(max_buffer: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .write_buffer_size(0)
        .max_write_buffer_size(max_buffer.max(MAX_DATAGRAM + 64))
        .max_message_size(Some(MAX_DATAGRAM + HEADER))
        .max_frame_size(Some(MAX_DATAGRAM + HEADER))
}

fn netmask_of(ip: Ipv4Addr) -> Ipv4Addr {
    if ip.is_loopback() {
        return Ipv4Addr::new(255, 0, 0, 0);
    }
    if let Ok(list) = if_addrs::get_if_addrs() {
        for i in list {
            if let if_addrs::IfAddr::V4(a) = i.addr {
                if a.ip == ip {
                    return a.netmask;
                }
            }
        }
    }
    Ipv4Addr::new(255, 255, 255, 255)
}

fn multicast_socket(iface: Ipv4Addr, port: u16) -> io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_address(true)?;
    s.bind(&SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port).into())?;
    s.join_multicast_v4(&SPDP_GROUP, &iface)?;
    s.set_multicast_if_v4(&iface)?;
    s.set_multicast_loop_v4(true)?;
    s.set_multicast_ttl_v4(1)?;
    s.set_nonblocking(true)?;
    Ok(UdpSocket::from_std(s.into()))
}

fn bind_udp(ip: Ipv4Addr, port: u16) -> io::Result<UdpSocket> {
    let s = StdUdpSocket::bind(SocketAddrV4::new(ip, port))?;
    s.set_nonblocking(true)?;
    Ok(UdpSocket::from_std(s))
}

/// The unicast ports of participant `id` in `domain` (RTPS 9.6.1.1), when they fit in 16 bits.
fn ports_of(domain: u32, id: u16) -> Option<(u16, u16)> {
    let m = pollen_engine::config::ports::metatraffic_unicast(domain, id);
    let u = pollen_engine::config::ports::user_unicast(domain, id);
    Some((u16::try_from(m).ok()?, u16::try_from(u).ok()?))
}

/// What an RTPS datagram from a browser says about its sender: its header GUID prefix,
/// whether it carries SPDP data (writer 0x000100c2), and whether it has an INFO_SOURCE
/// (which would change the prefix mid-message). `None`: not RTPS, or framed so that a receiver
/// would stop trusting it part-way (the engine's own submessage framing decides, so the relay
/// sees exactly the submessages a receiver will).
fn inspect(d: &[u8]) -> Option<([u8; 12], bool, bool)> {
    use pollen_engine::wire::{submessage_id, EntityId, Message};
    let m = Message::parse(d).ok()?;
    let mut spdp = false;
    let mut info_src = false;
    for sub in m.submessages() {
        let sub = sub.ok()?;
        match sub.id {
            submessage_id::INFO_SRC => info_src = true,
            // DATA / DATA_FRAG: extraFlags(2) octetsToInlineQos(2) readerId(4) writerId(4)
            submessage_id::DATA | submessage_id::DATA_FRAG
                if sub.body.get(8..12) == Some(&EntityId::SPDP_WRITER.0[..]) =>
            {
                spdp = true
            }
            _ => {}
        }
    }
    Some((m.header.guid_prefix.0, spdp, info_src))
}

fn frame(channel: u8, ip: Ipv4Addr, port: u16, data: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(HEADER + data.len());
    f.push(VERSION);
    f.push(channel);
    f.extend_from_slice(&port.to_be_bytes());
    f.extend_from_slice(&ip.octets());
    f.extend_from_slice(data);
    f
}

fn token_of(slot: usize, kind: usize) -> Token {
    Token(SESSION_BASE + slot * 4 + kind)
}

fn random_token() -> String {
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        // Still unguessable enough for a loopback relay when the OS source fails: the clock.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        b = t.to_le_bytes();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Relay {
    fn log(&self, msg: &str) {
        if self.args.verbose {
            eprintln!("pollen relay: {msg}");
        }
    }

    fn open_count(&self) -> usize {
        self.sessions
            .iter()
            .flatten()
            .filter(|s| matches!(s.ws, Ws::Open(_)))
            .count()
    }

    fn accept(&mut self) {
        loop {
            let (stream, peer) = match self.listener.accept() {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    self.log(&format!("accept: {e}"));
                    return;
                }
            };
            self.counters.connections += 1;
            let live = self.sessions.iter().flatten().count();
            if live >= self.args.max_sessions + EXTRA_HANDSHAKES {
                self.counters.refused_full += 1;
                drop(stream);
                continue;
            }
            let _ = stream.set_nodelay(true);
            let slot = match self.sessions.iter().position(Option::is_none) {
                Some(i) => i,
                None => {
                    self.sessions.push(None);
                    self.sessions.len() - 1
                }
            };
            let mut conn = Conn {
                stream,
                budget: HANDSHAKE_BUDGET,
                pre: Vec::new(),
            };
            if let Err(e) = self.poll.registry().register(
                &mut conn.stream,
                token_of(slot, 0),
                Interest::READABLE | Interest::WRITABLE,
            ) {
                self.log(&format!("register: {e}"));
                continue;
            }
            let outcome = std::rc::Rc::new(std::cell::RefCell::new(Outcome::default()));
            let check = Check {
                policy: self.policy.clone(),
                full: self.open_count() >= self.args.max_sessions,
                outcome: outcome.clone(),
            };
            let now = Instant::now();
            self.serial += 1;
            self.sessions[slot] = Some(Session {
                serial: self.serial,
                peer,
                ws: Ws::Sniffing(Some(conn), Some(check), outcome),
                alloc: None,
                prefix: None,
                datagrams: Bucket::new(f64::from(self.args.max_datagrams_per_sec), now),
                bytes: Bucket::new(self.args.max_bytes_per_sec as f64, now),
                started: now,
                told: 0,
                closing: false,
            });
            self.drive(slot);
        }
    }

    /// Advances a session's WebSocket: handshake, reads, flush.
    fn drive(&mut self, slot: usize) {
        let Some(s) = self.sessions[slot].as_mut() else {
            return;
        };
        if let Ws::Sniffing(conn, check, outcome) = &mut s.ws {
            let Some(c) = conn.as_mut() else { return };
            let mut chunk = [0u8; 2048];
            let end = loop {
                if let Some(i) = c.pre.windows(4).position(|w| w == b"\r\n\r\n") {
                    break Some(i + 4);
                }
                if c.pre.len() >= HANDSHAKE_BUDGET {
                    break None;
                }
                match c.stream.read(&mut chunk) {
                    Ok(0) => break None,
                    Ok(n) => c.pre.extend_from_slice(&chunk[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                    Err(_) => break None,
                }
            };
            let Some(end) = end else {
                self.counters.handshake_failures += 1;
                self.remove(slot, None);
                return;
            };
            let head = String::from_utf8_lossy(&c.pre[..end]).to_ascii_lowercase();
            let upgrade = head
                .lines()
                .any(|l| l.starts_with("upgrade:") && l.contains("websocket"));
            let (Some(mut c), Some(check)) = (conn.take(), check.take()) else {
                return;
            };
            if upgrade {
                let hs = ServerHandshake::start(c, check, Some(ws_config(self.args.max_buffer)));
                s.ws = Ws::Handshaking(Some(Box::new(hs)), outcome.clone());
            } else {
                self.counters.http_requests += 1;
                let first = String::from_utf8_lossy(&c.pre[..end])
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string();
                c.pre.clear();
                let out = self.page(&first);
                if let Some(s) = self.sessions[slot].as_mut() {
                    s.ws = Ws::Http(c, out);
                }
                self.write_http(slot);
                return;
            }
        }
        let Some(s) = self.sessions[slot].as_mut() else {
            return;
        };
        if let Ws::Http(..) = s.ws {
            self.write_http(slot);
            return;
        }
        if let Ws::Handshaking(mid, outcome) = &mut s.ws {
            let Some(m) = mid.take() else { return };
            match (*m).handshake() {
                Ok(mut ws) => {
                    ws.get_mut().budget = usize::MAX;
                    let asked = outcome.borrow().ports;
                    s.ws = Ws::Open(Box::new(ws));
                    self.opened(slot, asked);
                }
                Err(HandshakeError::Interrupted(m)) => *mid = Some(Box::new(m)),
                Err(HandshakeError::Failure(e)) => {
                    match outcome.borrow().refusal {
                        Some(Refusal::Token) => self.counters.refused_token += 1,
                        Some(Refusal::Origin) => self.counters.refused_origin += 1,
                        Some(Refusal::Full) => self.counters.refused_full += 1,
                        Some(Refusal::Request) => self.counters.refused_request += 1,
                        None => self.counters.handshake_failures += 1,
                    }
                    let (serial, peer) = (s.serial, s.peer);
                    self.log(&format!("session {serial} from {peer} refused: {e}"));
                    self.remove(slot, None);
                }
            }
            return;
        }
        self.read_ws(slot);
    }

    fn opened(&mut self, slot: usize, asked: Option<(u16, u16)>) {
        match self.allocate(asked) {
            Ok(mut a) => {
                let reg = self.poll.registry();
                let ok = reg
                    .register(&mut a.meta, token_of(slot, 1), Interest::READABLE)
                    .is_ok()
                    && reg
                        .register(&mut a.user, token_of(slot, 2), Interest::READABLE)
                        .is_ok();
                let hello = json!({
                    "type": "hello",
                    "version": 1,
                    "session": self.sessions[slot].as_ref().map_or(0, |s| s.serial),
                    "address": self.iface.to_string(),
                    "metatraffic": a.ports.0,
                    "user": a.ports.1,
                    "participantId": a.participant_id,
                    "domain": self.args.domain,
                    "multicast": self.multicast.is_some(),
                    "spdp": { "address": SPDP_GROUP.to_string(), "port": self.spdp_port },
                    "limits": {
                        "datagramsPerSec": self.args.max_datagrams_per_sec,
                        "bytesPerSec": self.args.max_bytes_per_sec,
                        "maxDatagram": MAX_DATAGRAM,
                        "buffer": self.args.max_buffer,
                    },
                });
                self.counters.sessions_opened += 1;
                self.log_session(
                    slot,
                    &format!("open: ports {} and {}", a.ports.0, a.ports.1),
                );
                let Some(s) = self.sessions[slot].as_mut() else {
                    return;
                };
                s.alloc = Some(a);
                if !ok {
                    self.close_with(slot, "INTERNAL", "cannot register the session's sockets");
                    return;
                }
                self.send_text(slot, hello.to_string());
                self.read_ws(slot);
            }
            Err(e) => {
                self.counters.port_allocation_failures += 1;
                self.close_with(
                    slot,
                    "NO_PORTS",
                    &format!("no UDP ports for this session: {e}"),
                );
            }
        }
    }

    fn log_session(&self, slot: usize, msg: &str) {
        if let Some(s) = self.sessions[slot].as_ref() {
            self.log(&format!("session {} from {}: {msg}", s.serial, s.peer));
        }
    }

    fn allowed_ports(&self, (m, u): (u16, u16)) -> Option<Option<u16>> {
        if self.args.ephemeral_ports {
            return (m >= 1024 && u >= 1024).then_some(None);
        }
        (0..=MAX_PARTICIPANT_ID)
            .find(|&id| ports_of(self.args.domain, id) == Some((m, u)))
            .map(Some)
    }

    fn allocate(&self, asked: Option<(u16, u16)>) -> io::Result<Alloc> {
        let ip = self.iface;
        if let Some(p) = asked {
            if let Some(id) = self.allowed_ports(p) {
                if let (Ok(meta), Ok(user)) = (bind_udp(ip, p.0), bind_udp(ip, p.1)) {
                    return Ok(Alloc {
                        meta,
                        user,
                        ports: p,
                        participant_id: id,
                    });
                }
            }
        }
        if self.args.ephemeral_ports {
            let meta = bind_udp(ip, 0)?;
            let user = bind_udp(ip, 0)?;
            let ports = (meta.local_addr()?.port(), user.local_addr()?.port());
            return Ok(Alloc {
                meta,
                user,
                ports,
                participant_id: None,
            });
        }
        for id in 0..=MAX_PARTICIPANT_ID {
            let Some(p) = ports_of(self.args.domain, id) else {
                break;
            };
            let Ok(meta) = bind_udp(ip, p.0) else {
                continue;
            };
            let Ok(user) = bind_udp(ip, p.1) else {
                continue;
            };
            return Ok(Alloc {
                meta,
                user,
                ports: p,
                participant_id: Some(id),
            });
        }
        Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            "every participant id's ports are taken",
        ))
    }

    fn send_text(&mut self, slot: usize, text: String) {
        if let Some(Session {
            ws: Ws::Open(ws), ..
        }) = self.sessions[slot].as_mut()
        {
            let _ = ws.write(Message::text(text));
            let _ = ws.flush();
        }
    }

    /// Tells the browser an error (each code once per session).
    fn tell(&mut self, slot: usize, bit: u32, code: &str, message: &str) {
        let Some(s) = self.sessions[slot].as_mut() else {
            return;
        };
        if s.told & bit != 0 {
            return;
        }
        s.told |= bit;
        self.log_session(slot, &format!("{code}: {message}"));
        self.send_text(
            slot,
            json!({"type": "error", "code": code, "message": message}).to_string(),
        );
    }

    fn close_with(&mut self, slot: usize, code: &str, message: &str) {
        self.tell(slot, 1 << 31, code, message);
        if let Some(Session {
            ws: Ws::Open(ws),
            closing,
            ..
        }) = self.sessions[slot].as_mut()
        {
            *closing = true;
            let _ = ws.close(None);
            let _ = ws.flush();
        }
        self.remove(slot, Some(message));
    }

    fn remove(&mut self, slot: usize, why: Option<&str>) {
        let Some(mut s) = self.sessions[slot].take() else {
            return;
        };
        let reg = self.poll.registry();
        match &mut s.ws {
            Ws::Open(ws) => {
                let _ = reg.deregister(&mut ws.get_mut().stream);
                self.counters.sessions_closed += 1;
            }
            Ws::Handshaking(Some(m), _) => {
                let _ = reg.deregister(&mut m.get_mut().get_mut().stream);
            }
            Ws::Handshaking(None, _) => {}
            Ws::Sniffing(Some(c), ..) | Ws::Http(c, _) => {
                let _ = reg.deregister(&mut c.stream);
            }
            Ws::Sniffing(None, ..) => {}
        }
        if let Some(a) = s.alloc.as_mut() {
            let _ = reg.deregister(&mut a.meta);
            let _ = reg.deregister(&mut a.user);
        }
        if let Some(p) = s.prefix {
            if self.prefixes.get(&p) == Some(&slot) {
                self.prefixes.remove(&p);
            }
        }
        if matches!(s.ws, Ws::Open(_)) {
            self.log(&format!(
                "session {} from {} closed after {:.1} s{}",
                s.serial,
                s.peer,
                s.started.elapsed().as_secs_f64(),
                why.map(|w| format!(": {w}")).unwrap_or_default()
            ));
        }
    }

    fn read_ws(&mut self, slot: usize) {
        loop {
            let Some(Session {
                ws: Ws::Open(ws), ..
            }) = self.sessions[slot].as_mut()
            else {
                return;
            };
            match ws.read() {
                Ok(Message::Binary(b)) => self.upstream(slot, &b),
                Ok(Message::Text(_)) => self.counters.text_ignored += 1,
                Ok(_) => {}
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    let _ = ws.flush();
                    return;
                }
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    self.remove(slot, Some("closed by the client"));
                    return;
                }
                Err(tungstenite::Error::Io(e)) => {
                    let m = format!("connection: {e}");
                    self.remove(slot, Some(&m));
                    return;
                }
                Err(e) => {
                    self.counters.protocol_errors += 1;
                    let m = format!("WebSocket protocol error: {e}");
                    self.close_with(slot, "PROTOCOL", &m);
                    return;
                }
            }
        }
    }

    fn dest_allowed(&self, ip: Ipv4Addr) -> bool {
        if ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() {
            return false;
        }
        if self.iface.is_loopback() {
            return ip.is_loopback();
        }
        let m = u32::from(self.netmask);
        ip.is_loopback() || (u32::from(ip) & m) == (u32::from(self.iface) & m)
    }

    /// One binary message from a browser: a datagram to forward.
    fn upstream(&mut self, slot: usize, msg: &[u8]) {
        let now = Instant::now();
        let multicast_on = self.multicast.is_some();
        let spdp_port = self.spdp_port;
        let Some(s) = self.sessions[slot].as_mut() else {
            return;
        };
        if msg.len() < HEADER || msg[0] != VERSION {
            self.counters.garbage += 1;
            self.tell(
                slot,
                1,
                "GARBAGE",
                "a binary message is [1, 0, port(2), ipv4(4)] then one RTPS datagram",
            );
            return;
        }
        s.datagrams.refill(now);
        s.bytes.refill(now);
        let len = (msg.len() - HEADER) as f64;
        if s.datagrams.level < 1.0 || s.bytes.level < len {
            self.counters.rate_limited += 1;
            self.tell(
                slot,
                2,
                "RATE_LIMITED",
                "over the session's datagram or byte rate: dropped",
            );
            return;
        }
        s.datagrams.level -= 1.0;
        s.bytes.level -= len;
        let port = u16::from_be_bytes([msg[2], msg[3]]);
        let ip = Ipv4Addr::new(msg[4], msg[5], msg[6], msg[7]);
        let data = &msg[HEADER..];
        let Some((prefix, spdp, info_src)) = inspect(data) else {
            self.counters.garbage += 1;
            self.tell(slot, 1, "GARBAGE", "not an RTPS 2.x datagram");
            return;
        };
        if info_src {
            self.counters.spoofed += 1;
            self.tell(
                slot,
                4,
                "SPOOFED",
                "INFO_SOURCE is not relayed (it would change the sender's prefix)",
            );
            return;
        }
        match s.prefix {
            Some(p) if p == prefix => {}
            Some(_) => {
                self.counters.spoofed += 1;
                self.tell(
                    slot,
                    4,
                    "SPOOFED",
                    "a datagram with a GUID prefix other than the session's",
                );
                return;
            }
            None if !spdp => {
                self.counters.unbound += 1;
                self.tell(
                    slot,
                    8,
                    "UNBOUND",
                    "the first datagram must be the participant's SPDP announcement",
                );
                return;
            }
            None => {
                if self.prefixes.get(&prefix).is_some_and(|&o| o != slot) {
                    self.counters.spoofed += 1;
                    self.tell(
                        slot,
                        4,
                        "SPOOFED",
                        "that GUID prefix belongs to another session",
                    );
                    return;
                }
                s.prefix = Some(prefix);
                self.prefixes.insert(prefix, slot);
                let hex: String = prefix.iter().map(|b| format!("{b:02x}")).collect();
                self.log_session(slot, &format!("bound to GUID prefix {hex}"));
            }
        }
        let Some(s) = self.sessions[slot].as_ref() else {
            return;
        };
        let to = SocketAddr::V4(SocketAddrV4::new(ip, port));
        let socket = if ip == SPDP_GROUP && port == spdp_port && multicast_on {
            self.multicast.as_ref()
        } else if port != 0 && self.dest_allowed(ip) {
            s.alloc.as_ref().map(|a| &a.meta)
        } else {
            None
        };
        let Some(socket) = socket else {
            self.counters.refused_destination += 1;
            self.tell(
                slot,
                16,
                "DESTINATION",
                &format!("{to} is not a destination this relay sends to"),
            );
            return;
        };
        match socket.send_to(data, to) {
            Ok(_) => {
                self.counters.datagrams_up += 1;
                self.counters.bytes_up += data.len() as u64;
            }
            Err(_) => self.counters.udp_send_errors += 1,
        }
    }

    fn source_allowed(&self, ip: Ipv4Addr) -> bool {
        if self.iface.is_loopback() {
            return ip.is_loopback();
        }
        let m = u32::from(self.netmask);
        ip.is_loopback() || (u32::from(ip) & m) == (u32::from(self.iface) & m)
    }

    /// Delivers one datagram to a session's browser (bounded: dropped when its buffer is full).
    fn deliver(&mut self, slot: usize, f: Vec<u8>) -> bool {
        let Some(Session {
            ws: Ws::Open(ws), ..
        }) = self.sessions[slot].as_mut()
        else {
            return false;
        };
        let n = f.len() - HEADER;
        match ws.write(Message::binary(f)) {
            Ok(()) => {
                self.counters.datagrams_down += 1;
                self.counters.bytes_down += n as u64;
                true
            }
            Err(tungstenite::Error::WriteBufferFull(_)) => {
                self.counters.dropped_backpressure += 1;
                false
            }
            Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                // Queued in tungstenite's bounded buffer; flushed on the next writable event.
                self.counters.datagrams_down += 1;
                self.counters.bytes_down += n as u64;
                true
            }
            Err(_) => false,
        }
    }

    fn read_udp(&mut self, slot: usize, kind: usize) {
        loop {
            let Some(Session { alloc: Some(a), .. }) = self.sessions[slot].as_ref() else {
                return;
            };
            let socket = if kind == 1 { &a.meta } else { &a.user };
            let mut buf = std::mem::take(&mut self.buf);
            let got = socket.recv_from(&mut buf);
            let r = match got {
                Ok((n, SocketAddr::V4(from))) => {
                    if self.source_allowed(*from.ip()) {
                        let f = frame((kind - 1) as u8, *from.ip(), from.port(), &buf[..n]);
                        self.deliver(slot, f);
                    } else {
                        self.counters.refused_source += 1;
                    }
                    true
                }
                Ok(_) => true,
                Err(_) => false,
            };
            self.buf = buf;
            if !r {
                break;
            }
        }
        if let Some(Session {
            ws: Ws::Open(ws), ..
        }) = self.sessions[slot].as_mut()
        {
            let _ = ws.flush();
        }
    }

    fn read_multicast(&mut self) {
        loop {
            let Some(m) = self.multicast.as_ref() else {
                return;
            };
            let mut buf = std::mem::take(&mut self.buf);
            let got = m.recv_from(&mut buf);
            let more = match got {
                Ok((n, SocketAddr::V4(from))) => {
                    if self.source_allowed(*from.ip()) {
                        let owner = buf
                            .get(8..20)
                            .and_then(|p| <[u8; 12]>::try_from(p).ok())
                            .and_then(|p| self.prefixes.get(&p).copied());
                        let f = frame(2, *from.ip(), from.port(), &buf[..n]);
                        for slot in 0..self.sessions.len() {
                            if Some(slot) == owner {
                                continue;
                            }
                            if matches!(
                                self.sessions[slot],
                                Some(Session {
                                    ws: Ws::Open(_),
                                    alloc: Some(_),
                                    ..
                                })
                            ) && self.deliver(slot, f.clone())
                            {
                                self.counters.multicast_fanned_out += 1;
                            }
                        }
                    } else {
                        self.counters.refused_source += 1;
                    }
                    true
                }
                Ok(_) => true,
                Err(_) => false,
            };
            self.buf = buf;
            if !more {
                break;
            }
        }
        for s in self.sessions.iter_mut().flatten() {
            if let Ws::Open(ws) = &mut s.ws {
                let _ = ws.flush();
            }
        }
    }

    fn expire_handshakes(&mut self) {
        for slot in 0..self.sessions.len() {
            // A request or handshake within 5 s; a page sent within 30 s.
            let late = match &self.sessions[slot] {
                Some(s) => match s.ws {
                    Ws::Open(_) => false,
                    Ws::Http(..) => s.started.elapsed() > HANDSHAKE_TIMEOUT * 6,
                    _ => s.started.elapsed() > HANDSHAKE_TIMEOUT,
                },
                None => false,
            };
            if late {
                self.counters.handshake_failures += 1;
                self.log_session(slot, "handshake timed out");
                self.remove(slot, None);
            }
        }
    }

    /// The response to a page request (`--web`): a few known files, GET only.
    fn page(&self, first_line: &str) -> Vec<u8> {
        let mut parts = first_line.split(' ');
        let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let path = target.split('?').next().unwrap_or("");
        let reply = |status: &str, kind: &str, body: &[u8]| {
            let mut r = format!(
                "HTTP/1.1 {status}\r\ncontent-type: {kind}\r\ncontent-length: {}\r\ncache-control: no-store\r\nx-content-type-options: nosniff\r\nconnection: close\r\n\r\n",
                body.len()
            )
            .into_bytes();
            r.extend_from_slice(body);
            r
        };
        if method != "GET" {
            return reply(
                "405 Method Not Allowed",
                "text/plain",
                b"pollen relay: GET only\n",
            );
        }
        let Some(dir) = &self.args.web else {
            return reply(
                "404 Not Found",
                "text/plain",
                b"pollen relay: WebSocket sessions only (no --web page directory)\n",
            );
        };
        let (file, kind) = match path {
            "/" | "/index.html" => ("web/index.html", "text/html; charset=utf-8"),
            "/web/app.js" => ("web/app.js", "text/javascript"),
            "/index.js" => ("index.js", "text/javascript"),
            "/websocket.js" => ("websocket.js", "text/javascript"),
            "/pkg/pollen_js.js" => ("pkg/pollen_js.js", "text/javascript"),
            "/pkg/pollen_js_bg.wasm" => ("pkg/pollen_js_bg.wasm", "application/wasm"),
            _ => {
                return reply(
                    "404 Not Found",
                    "text/plain",
                    b"pollen relay: no such page\n",
                )
            }
        };
        match std::fs::read(dir.join(file)) {
            Ok(body) if body.len() <= 16 << 20 => reply("200 OK", kind, &body),
            _ => reply(
                "404 Not Found",
                "text/plain",
                format!("pollen relay: {file} is missing under --web (run js/build.sh)\n")
                    .as_bytes(),
            ),
        }
    }

    fn write_http(&mut self, slot: usize) {
        let Some(Session {
            ws: Ws::Http(c, out),
            ..
        }) = self.sessions[slot].as_mut()
        else {
            return;
        };
        while !out.is_empty() {
            match c.stream.write(out) {
                Ok(0) => break,
                Ok(n) => {
                    out.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => break,
            }
        }
        self.remove(slot, None);
    }

    fn stats_line(&self) -> String {
        let mut v = self.counters.json();
        v["sessions"] = json!(self.open_count());
        v.to_string()
    }
}

/// Runs `pollen relay` until SIGINT or SIGTERM.
pub fn run(args: RelayArgs) -> ExitCode {
    match run_inner(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pollen relay: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_inner(args: RelayArgs) -> Result<(), String> {
    let iface =
        pollen_mio::resolve_interface(args.interface.as_deref()).map_err(|e| e.to_string())?;
    if args.max_sessions == 0 {
        return Err("--max-sessions must be at least 1".into());
    }
    let token = match &args.token {
        Some(t)
            if t.is_empty()
                || !t
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            return Err("--token: letters, digits, '-' and '_' only (it travels in a URL and a subprotocol)".into());
        }
        Some(t) => t.clone(),
        None => random_token(),
    };
    let poll = Poll::new().map_err(|e| format!("poll: {e}"))?;
    let mut listener = TcpListener::bind(args.listen)
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)
        .map_err(|e| e.to_string())?;
    let spdp_port = u16::try_from(7400 + 250 * args.domain).map_err(|_| "domain too large")?;
    let mut multicast = None;
    if !args.no_multicast {
        let mut m = multicast_socket(iface, spdp_port)
            .map_err(|e| format!("SPDP multicast {SPDP_GROUP}:{spdp_port} on {iface}: {e} (--no-multicast to go without)"))?;
        poll.registry()
            .register(&mut m, MULTICAST, Interest::READABLE)
            .map_err(|e| e.to_string())?;
        multicast = Some(m);
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone()).map_err(|e| format!("signal: {e}"))?;
    }
    let policy = Arc::new(Policy {
        token: token.clone(),
        origins: args.allow_origin.clone(),
        domain: args.domain,
    });
    println!(
        "listening ws://{local}/ domain {} interface {iface}",
        args.domain
    );
    if args.token.is_none() {
        eprintln!("pollen relay: connect with ws://{local}/?token={token}");
    }
    let _ = io::stdout().flush();
    let mut relay = Relay {
        netmask: netmask_of(iface),
        iface,
        policy,
        poll,
        listener,
        multicast,
        spdp_port,
        sessions: Vec::new(),
        prefixes: HashMap::new(),
        counters: Counters::default(),
        serial: 0,
        buf: vec![0; MAX_DATAGRAM + 1],
        args,
    };
    let mut events = Events::with_capacity(256);
    let mut last_tick = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        match relay
            .poll
            .poll(&mut events, Some(Duration::from_millis(250)))
        {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("poll: {e}")),
        }
        for ev in events.iter() {
            match ev.token() {
                LISTENER => relay.accept(),
                MULTICAST => relay.read_multicast(),
                Token(t) if t >= SESSION_BASE => {
                    let slot = (t - SESSION_BASE) / 4;
                    match (t - SESSION_BASE) % 4 {
                        0 => relay.drive(slot),
                        k => relay.read_udp(slot, k),
                    }
                }
                _ => {}
            }
        }
        if last_tick.elapsed() >= Duration::from_secs(1) {
            last_tick = Instant::now();
            relay.expire_handshakes();
            if relay.args.verbose {
                eprintln!("pollen relay: counters {}", relay.stats_line());
            }
        }
    }
    for slot in 0..relay.sessions.len() {
        relay.close_with(slot, "SHUTDOWN", "the relay is stopping");
    }
    eprintln!("pollen relay: counters {}", relay.stats_line());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inspects_rtps() {
        assert!(inspect(b"garbage").is_none());
        let mut d = b"RTPS\x02\x03\x01\x0f".to_vec();
        d.extend_from_slice(&[7; 12]);
        // DATA, little endian, 20 bytes: flags, octets to QoS, reader, writer SPDP.
        d.extend_from_slice(&[0x15, 0x05, 20, 0, 0, 0, 16, 0, 0, 1, 0, 0xc7, 0, 1, 0, 0xc2]);
        d.extend_from_slice(&[0; 8]);
        let (p, spdp, info) = inspect(&d).unwrap();
        assert_eq!(p, [7; 12]);
        assert!(spdp && !info);
        d.extend_from_slice(&[0x0c, 0x01, 0, 0]);
        assert!(inspect(&d).unwrap().2);
        // Lengths past the end never panic, and such a message is refused.
        let mut e = d[..20].to_vec();
        e.extend_from_slice(&[0x15, 0x01, 0xff, 0xff, 1]);
        assert!(inspect(&e).is_none());
        // An INFO_TS with octetsToNextHeader 0 is empty, not "to the end": the INFO_SOURCE
        // after it is seen (a scanner that stopped at the first zero length let it through).
        let mut f = d[..20].to_vec();
        f.extend_from_slice(&[0x09, 0x03, 0, 0]);
        f.extend_from_slice(&[0x0c, 0x01, 20, 0]);
        f.extend_from_slice(&[0; 20]);
        assert!(inspect(&f).unwrap().2);
    }

    #[test]
    fn origins_and_queries() {
        assert!(origin_allowed(&[], None));
        assert!(origin_allowed(&[], Some("http://127.0.0.1:8080")));
        assert!(origin_allowed(&[], Some("http://localhost")));
        assert!(!origin_allowed(&[], Some("https://evil.example")));
        assert!(!origin_allowed(&[], Some("http://localhost.evil.example")));
        let list = vec!["https://app.example".to_string()];
        assert!(origin_allowed(&list, Some("https://app.example")));
        assert!(!origin_allowed(&list, Some("http://127.0.0.1")));
        assert_eq!(query_param("a=1&token=x", "token"), Some("x"));
        assert_eq!(query_param("tokens=1", "token"), None);
        assert!(same(b"abc", b"abc") && !same(b"abc", b"abd") && !same(b"ab", b"abc"));
        assert_eq!(ports_of(0, 0), Some((7410, 7411)));
    }
}
