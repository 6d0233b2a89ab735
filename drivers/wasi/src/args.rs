//! The command line of the `pollen-wasi` component, parsed by hand: a component is shipped as
//! one file and every dependency costs bytes, so there is no argument-parsing crate here.
//!
//! ```text
//! pollen-wasi pub TOPIC [MESSAGE] [--count N] [--size BYTES] [--rate HZ] [--wait-readers N]
//!                                 [--linger SECONDS] [--keyval K] [common options]
//! pollen-wasi sub TOPIC [--count N] [--quiet] [common options]
//! pollen-wasi pong [common options]
//! common: --type string|keyedseq  --ros  --reliable|--best-effort  --timeout SECONDS
//!         --peer ADDR[:PORT] (repeatable; default $POLLEN_PEERS, else 127.0.0.1)
//!         --domain N  --transport udp|tcp  --participant-id N  --verbose
//! ```

use core::fmt;
use core::time::Duration;
use pollen_engine::Peer;

/// Environment variable with initial peers (`ADDR[:PORT]`, separated by commas or spaces),
/// used when no `--peer` is given.
pub const PEERS_ENV: &str = "POLLEN_PEERS";

/// The usage text.
pub const USAGE: &str = "\
usage: pollen-wasi pub TOPIC [MESSAGE] [options]
       pollen-wasi sub TOPIC [options]
       pollen-wasi pong [options]

A Pollen DDS participant in a WebAssembly component. No multicast: peers are found through
unicast initial peers (--peer, else $POLLEN_PEERS, else 127.0.0.1 on the well-known ports).
The participant binds and announces 127.0.0.1 and sends to loopback addresses only.
Run it with `wasmtime run -S inherit-network pollen-wasi.wasm ...` (pass the environment
variable with `--env POLLEN_PEERS=...`).

common options:
  --type string|keyedseq   data type (default string: DDS::String, or ROS 2 std_msgs/String)
  --ros                    ROS 2 naming: topic rt/TOPIC, type std_msgs::msg::dds_::String_
  --reliable               reliable endpoints (the default)
  --best-effort            best-effort endpoints
  -n, --count N            pub: samples to write (default 1); sub: exit 0 after N samples
  --timeout SECONDS        give up (status 1) after this long
  --peer ADDR[:PORT]       initial unicast peer, repeatable; without a port the metatraffic
                           ports of participant ids 0..9 are probed
  -d, --domain N           DDS domain id (default 0)
  --transport udp|tcp      user and discovery traffic over UDP (default) or TCP
  --participant-id N       fixed participant id (default: the first with free ports)
  -v, --verbose            report discovery and matching on stderr
pub options:
  --size BYTES             generate samples of this many bytes instead of MESSAGE
  --rate HZ                samples per second (default: as fast as readers acknowledge)
  --wait-readers N         matched readers to wait for before writing (default 1)
  --linger SECONDS         stay this long after the last sample was acknowledged
  --keyval K               the key of keyedseq samples (default 0)
sub options:
  -q, --quiet              print no samples, only a summary line (count, seconds, rate)

pong answers the pings of Cyclone's `ddsperf ping` and of `pollen ping` (DDSPerfRPingKS,
echoed on DDSPerfRPongKS in the pinger's partition) until --timeout passes.
";

/// The data types the component knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataType {
    /// One CDR string (`DDS::String`, or `std_msgs::msg::dds_::String_` with `--ros`).
    String,
    /// Cyclone ddsperf's `KeyedSeq`.
    KeyedSeq,
}

/// Transport for discovery and user data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// UDP unicast.
    Udp,
    /// TCP with Cyclone DDS's framing (a listener on the metatraffic port number).
    Tcp,
}

/// Options shared by `pub` and `sub`.
#[derive(Debug, Clone, PartialEq)]
pub struct Common {
    /// Topic as given.
    pub topic: String,
    /// Data type.
    pub ty: DataType,
    /// ROS 2 naming.
    pub ros: bool,
    /// Reliable (true, the default) or best effort.
    pub reliable: bool,
    /// `--count`.
    pub count: Option<u64>,
    /// `--timeout`.
    pub timeout: Option<Duration>,
    /// `--peer` flags (empty: the environment or the default applies).
    pub peers: Vec<Peer>,
    /// DDS domain.
    pub domain: u32,
    /// Transport.
    pub transport: Transport,
    /// A fixed participant id.
    pub participant_id: Option<u16>,
    /// `--verbose`.
    pub verbose: bool,
}

/// `pub` options.
#[derive(Debug, Clone, PartialEq)]
pub struct PubArgs {
    /// Shared options.
    pub common: Common,
    /// The message.
    pub message: Option<String>,
    /// Generated sample size.
    pub size: Option<usize>,
    /// Samples per second.
    pub rate: Option<f64>,
    /// Readers to wait for.
    pub wait_readers: usize,
    /// Time to stay after the last acknowledgement.
    pub linger: Option<Duration>,
    /// KeyedSeq key.
    pub keyval: u32,
}

/// `sub` options.
#[derive(Debug, Clone, PartialEq)]
pub struct SubArgs {
    /// Shared options.
    pub common: Common,
    /// Only a summary line.
    pub quiet: bool,
}

/// A parsed command line.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `pub`.
    Pub(PubArgs),
    /// `sub`.
    Sub(SubArgs),
    /// `pong` (its `topic` is empty).
    Pong(Common),
    /// `help`, `-h`, `--help`.
    Help,
}

/// A command line that does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgError(pub String);

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ArgError {}

fn err<T>(msg: impl Into<String>) -> Result<T, ArgError> {
    Err(ArgError(msg.into()))
}

/// Parses `ADDR[:PORT]` (an IPv4 address or `localhost`).
pub fn parse_peer(s: &str) -> Result<Peer, ArgError> {
    let (addr, port) = match s.rsplit_once(':') {
        Some((a, p)) => match p.parse::<u16>() {
            Ok(p) if p != 0 => (a, Some(p)),
            _ => return err(format!("bad port in peer {s:?}")),
        },
        None => (s, None),
    };
    let address = if addr == "localhost" {
        [127, 0, 0, 1]
    } else {
        parse_ipv4(addr).ok_or_else(|| ArgError(format!("{addr:?} is not an IPv4 address")))?
    };
    Ok(Peer { address, port })
}

fn parse_ipv4(s: &str) -> Option<[u8; 4]> {
    let mut out = [0u8; 4];
    let mut parts = s.split('.');
    for o in out.iter_mut() {
        let p = parts.next()?;
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        *o = p.parse().ok()?;
    }
    parts.next().is_none().then_some(out)
}

/// Parses the peers of `$POLLEN_PEERS`: `ADDR[:PORT]` separated by commas or whitespace.
pub fn parse_peer_list(s: &str) -> Result<Vec<Peer>, ArgError> {
    s.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|p| !p.is_empty())
        .map(parse_peer)
        .collect()
}

/// Parses seconds, fractions allowed.
pub fn parse_seconds(s: &str) -> Result<Duration, ArgError> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=1e9).contains(&v) => Ok(Duration::from_secs_f64(v)),
        _ => err(format!("{s:?} is not a number of seconds")),
    }
}

fn number<T: core::str::FromStr>(flag: &str, v: &str) -> Result<T, ArgError> {
    v.parse()
        .map_err(|_| ArgError(format!("{flag}: {v:?} is not a valid number")))
}

/// Parses the arguments after the program name. `env_peers` is the value of
/// [`PEERS_ENV`], used when no `--peer` is given.
pub fn parse<S: AsRef<str>>(args: &[S], env_peers: Option<&str>) -> Result<Command, ArgError> {
    let mut it = args.iter().map(|s| s.as_ref());
    let cmd = match it.next() {
        None | Some("help" | "-h" | "--help") => return Ok(Command::Help),
        Some(c @ ("pub" | "sub" | "pong")) => c,
        Some(other) => return err(format!("unknown command {other:?} (try --help)")),
    };
    let mut positional: Vec<&str> = Vec::new();
    let mut common = Common {
        topic: String::new(),
        ty: DataType::String,
        ros: false,
        reliable: true,
        count: None,
        timeout: None,
        peers: Vec::new(),
        domain: 0,
        transport: Transport::Udp,
        participant_id: None,
        verbose: false,
    };
    let (mut size, mut rate, mut wait_readers, mut linger, mut keyval, mut quiet) =
        (None, None, 1usize, None, 0u32, false);
    let (mut saw_reliable, mut saw_best_effort) = (false, false);
    let is_pub = cmd == "pub";
    let is_sub = cmd == "sub";
    while let Some(a) = it.next() {
        if !a.starts_with('-') || a == "-" {
            positional.push(a);
            continue;
        }
        // `--flag=value` or `--flag value`.
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v)),
            _ => (a, None),
        };
        let mut value = || -> Result<&str, ArgError> {
            match inline {
                Some(v) => Ok(v),
                None => it
                    .next()
                    .ok_or_else(|| ArgError(format!("{flag} needs a value"))),
            }
        };
        match flag {
            "-h" | "--help" => return Ok(Command::Help),
            "--type" => {
                common.ty = match value()? {
                    "string" => DataType::String,
                    "keyedseq" => DataType::KeyedSeq,
                    v => return err(format!("--type: {v:?} is not string or keyedseq")),
                }
            }
            "--ros" => common.ros = true,
            "--reliable" => saw_reliable = true,
            "--best-effort" => saw_best_effort = true,
            "-n" | "--count" => common.count = Some(number(flag, value()?)?),
            "--timeout" => common.timeout = Some(parse_seconds(value()?)?),
            "--peer" => common.peers.push(parse_peer(value()?)?),
            "-d" | "--domain" => {
                let d: u32 = number(flag, value()?)?;
                if d > 232 {
                    return err("--domain must be at most 232");
                }
                common.domain = d;
            }
            "--transport" => {
                common.transport = match value()? {
                    "udp" => Transport::Udp,
                    "tcp" => Transport::Tcp,
                    v => return err(format!("--transport: {v:?} is not udp or tcp")),
                }
            }
            "--participant-id" => common.participant_id = Some(number(flag, value()?)?),
            "-v" | "--verbose" => common.verbose = true,
            "--size" if is_pub => size = Some(number(flag, value()?)?),
            "--rate" if is_pub => {
                let r: f64 = number(flag, value()?)?;
                if !(r > 0.0 && r.is_finite()) {
                    return err("--rate must be positive");
                }
                rate = Some(r);
            }
            "--wait-readers" if is_pub => wait_readers = number(flag, value()?)?,
            "--linger" if is_pub => linger = Some(parse_seconds(value()?)?),
            "--keyval" if is_pub => keyval = number(flag, value()?)?,
            "-q" | "--quiet" if is_sub => quiet = true,
            _ => return err(format!("unknown option {flag:?} for {cmd} (try --help)")),
        }
    }
    if saw_reliable && saw_best_effort {
        return err("--reliable and --best-effort exclude each other");
    }
    common.reliable = !saw_best_effort;
    if common.peers.is_empty() {
        if let Some(env) = env_peers.filter(|s| !s.trim().is_empty()) {
            common.peers =
                parse_peer_list(env).map_err(|e| ArgError(format!("{PEERS_ENV}: {e}")))?;
        }
    }
    if common.peers.len() > pollen_engine::limits::MAX_PEERS {
        return err(format!(
            "at most {} peers",
            pollen_engine::limits::MAX_PEERS
        ));
    }
    let mut pos = positional.into_iter();
    if cmd == "pong" {
        if let Some(extra) = pos.next() {
            return err(format!("unexpected argument {extra:?}"));
        }
        return Ok(Command::Pong(common));
    }
    common.topic = match pos.next() {
        Some(t) => t.to_string(),
        None => return err(format!("{cmd} needs a TOPIC")),
    };
    let message = if is_pub {
        pos.next().map(str::to_string)
    } else {
        None
    };
    if let Some(extra) = pos.next() {
        return err(format!("unexpected argument {extra:?}"));
    }
    Ok(if is_pub {
        Command::Pub(PubArgs {
            common,
            message,
            size,
            rate,
            wait_readers,
            linger,
            keyval,
        })
    } else {
        Command::Sub(SubArgs { common, quiet })
    })
}

/// The DDS topic name: ROS 2 topics live under `rt/`.
pub fn dds_topic(topic: &str, ros: bool) -> String {
    if ros {
        format!("rt/{}", topic.trim_start_matches('/'))
    } else {
        topic.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(args: &[&str]) -> Command {
        parse(args, None).unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    #[test]
    fn sub_with_everything() {
        let Command::Sub(s) = parse_ok(&[
            "sub",
            "chatter",
            "--type=keyedseq",
            "--ros",
            "-n",
            "10",
            "--timeout",
            "2.5",
            "--peer",
            "127.0.0.1",
            "--peer",
            "localhost:7412",
            "-d",
            "7",
            "--transport",
            "tcp",
            "-q",
            "-v",
        ]) else {
            panic!("not sub")
        };
        let c = &s.common;
        assert_eq!(c.topic, "chatter");
        assert_eq!(c.ty, DataType::KeyedSeq);
        assert!(c.ros && c.reliable && c.verbose && s.quiet);
        assert_eq!(c.count, Some(10));
        assert_eq!(c.timeout, Some(Duration::from_millis(2500)));
        assert_eq!(
            c.peers,
            [
                Peer {
                    address: [127, 0, 0, 1],
                    port: None
                },
                Peer {
                    address: [127, 0, 0, 1],
                    port: Some(7412)
                }
            ]
        );
        assert_eq!((c.domain, c.transport), (7, Transport::Tcp));
    }

    #[test]
    fn pub_defaults_and_message() {
        let Command::Pub(p) = parse_ok(&["pub", "t", "hello world", "--best-effort"]) else {
            panic!("not pub")
        };
        assert_eq!(p.message.as_deref(), Some("hello world"));
        assert!(!p.common.reliable);
        assert_eq!(p.wait_readers, 1);
        assert_eq!(p.common.transport, Transport::Udp);
        assert!(p.common.peers.is_empty());
        let Command::Pub(p) = parse_ok(&["pub", "t", "--size", "1024", "--rate=100"]) else {
            panic!("not pub")
        };
        assert_eq!((p.size, p.rate), (Some(1024), Some(100.0)));
    }

    #[test]
    fn peers_from_the_environment_unless_given() {
        let Command::Sub(s) = parse(&["sub", "t"], Some("127.0.0.2:7410, 127.0.0.3")).unwrap()
        else {
            panic!()
        };
        assert_eq!(s.common.peers.len(), 2);
        assert_eq!(s.common.peers[0].port, Some(7410));
        let Command::Sub(s) =
            parse(&["sub", "t", "--peer", "127.0.0.9"], Some("10.0.0.1")).unwrap()
        else {
            panic!()
        };
        assert_eq!(s.common.peers[0].address, [127, 0, 0, 9]);
        assert!(parse(&["sub", "t"], Some("nonsense")).is_err());
    }

    #[test]
    fn refusals() {
        for bad in [
            &["sub"][..],
            &["frob", "t"],
            &["sub", "t", "--size", "3"],
            &["pub", "t", "--quiet"],
            &["sub", "t", "--peer"],
            &["sub", "t", "--peer", "127.0.0.1:0"],
            &["sub", "t", "--peer", "256.0.0.1"],
            &["sub", "t", "--peer", "1.2.3"],
            &["sub", "t", "--domain", "233"],
            &["sub", "t", "--transport", "quic"],
            &["sub", "t", "--reliable", "--best-effort"],
            &["pub", "t", "m", "extra"],
            &["pub", "t", "--rate", "0"],
        ] {
            assert!(parse(bad, None).is_err(), "{bad:?} parsed");
        }
        assert_eq!(parse::<&str>(&[], None), Ok(Command::Help));
        assert!(parse(&["pong", "topic"], None).is_err());
        assert!(parse(&["pong", "-q"], None).is_err());
        assert!(matches!(
            parse(&["pong", "--timeout", "3", "-d", "4"], None),
            Ok(Command::Pong(Common { domain: 4, .. }))
        ));
        assert_eq!(parse(&["pub", "t", "--help"], None), Ok(Command::Help));
    }

    #[test]
    fn ros_topics() {
        assert_eq!(dds_topic("/chatter", true), "rt/chatter");
        assert_eq!(dds_topic("chatter", false), "chatter");
    }
}
