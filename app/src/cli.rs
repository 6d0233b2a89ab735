//! Flags shared by `pub`, `sub` and `ls`, and what they turn into.

use pollen_engine::{Durability, History, Peer, ReaderQos, Reliability, WriterQos};
use std::net::Ipv4Addr;
use std::time::Duration;

/// Where the participant lives on the network.
#[derive(Debug, Clone, clap::Args)]
pub struct NetArgs {
    /// DDS domain id.
    #[arg(long, short = 'd', default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=232))]
    pub domain: u32,
    /// Interface name or IPv4 address to announce and send multicast through [default:
    /// $POLLEN_INTERFACE, else loopback 127.0.0.1].
    #[arg(long, short = 'i', value_name = "NAME|ADDR")]
    pub interface: Option<String>,
    /// Initial unicast peer, repeatable. Without a port the participant ids 0..9 of that
    /// address are probed (metatraffic ports 7410 + 250·domain + 2·id). On loopback with no
    /// --peer, 127.0.0.1 is the peer: Cyclone DDS 0.10 does not use multicast on `lo`, and
    /// it and Fast DDS announce to those ports.
    /// $POLLEN_PEERS (commas between peers) stands for --peer flags when none is given.
    #[arg(long = "peer", value_name = "ADDR[:PORT]", value_parser = parse_peer, env = "POLLEN_PEERS", value_delimiter = ',')]
    pub peers: Vec<Peer>,
    /// A fixed participant id (its ports must be free) instead of the first free one.
    #[arg(long, value_name = "N")]
    pub participant_id: Option<u16>,
    /// No SPDP multicast: discover through --peer only.
    #[arg(long)]
    pub no_multicast: bool,
    /// Discover by SPDP multicast only: no implicit 127.0.0.1 peer on loopback.
    #[arg(long, conflicts_with_all = ["peers", "no_multicast"])]
    pub multicast_only: bool,
    /// Transport to peers. `tcp`: RTPS over TCP (Cyclone DDS framing) only, no multicast;
    /// listens on TCP port 7410 + 250·domain + 2·id (the metatraffic port number) and --peer
    /// addresses are TCP peers (without a port, the TCP ports of ids 0..9 are probed).
    #[arg(long, value_enum, default_value = "udp")]
    pub transport: TransportArg,
    /// Remote participants tracked at once.
    #[arg(long, value_name = "N", default_value_t = pollen_engine::Capacities::HOST.participants)]
    pub max_participants: usize,
    /// Remote endpoints remembered from SEDP.
    #[arg(long, value_name = "N", default_value_t = pollen_engine::Capacities::HOST.remote_endpoints)]
    pub max_remote_endpoints: usize,
    /// Matches between local and remote endpoints.
    #[arg(long, value_name = "N", default_value_t = pollen_engine::Capacities::HOST.matches)]
    pub max_matches: usize,
    /// Busy polling: before sleeping, check the sockets without blocking for up to this many
    /// microseconds. Lower latency (a reply within that time skips a sleep and a wake-up),
    /// at the price of a core kept busy while waiting. Native hosts only.
    #[arg(long, value_name = "MICROS")]
    pub busy_poll: Option<u64>,
}

/// The command-line flag that raises the limit of a table.
pub fn flag_for(table: pollen_engine::Table) -> &'static str {
    match table {
        pollen_engine::Table::Participants => "--max-participants",
        pollen_engine::Table::RemoteEndpoints => "--max-remote-endpoints",
        pollen_engine::Table::Matches => "--max-matches",
        _ => "--help (the --max-* flags)",
    }
}

/// `--transport`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TransportArg {
    /// UDP unicast and multicast.
    Udp,
    /// TCP connections only.
    Tcp,
}

pub fn parse_peer(s: &str) -> Result<Peer, String> {
    let (addr, port) = match s.rsplit_once(':') {
        Some((a, p)) => (
            a,
            Some(
                p.parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| format!("bad port {p:?}"))?,
            ),
        ),
        None => (s, None),
    };
    let ip = if addr == "localhost" {
        Ipv4Addr::LOCALHOST
    } else {
        addr.parse::<Ipv4Addr>()
            .map_err(|_| format!("{addr:?} is not an IPv4 address"))?
    };
    Ok(Peer {
        address: ip.octets(),
        port,
    })
}

impl NetArgs {
    /// The initial peers: the `--peer` flags, else 127.0.0.1 when the participant lives on
    /// loopback and may use unicast (Cyclone DDS 0.10 does not use multicast on `lo`).
    pub fn initial_peers(&self, on_loopback: bool) -> Result<Vec<Peer>, String> {
        if self.peers.len() > pollen_engine::limits::MAX_PEERS {
            return Err(format!(
                "at most {} --peer flags",
                pollen_engine::limits::MAX_PEERS
            ));
        }
        let mut peers = self.peers.clone();
        if peers.is_empty() && on_loopback && !self.multicast_only {
            peers.push(Peer {
                address: [127, 0, 0, 1],
                port: None,
            });
        }
        Ok(peers)
    }

    /// Whether SPDP goes out by multicast.
    pub fn multicast(&self) -> bool {
        !self.no_multicast && self.transport == TransportArg::Udp
    }

    /// The engine's table sizes for these flags.
    pub fn capacities(&self) -> pollen_engine::Capacities {
        pollen_engine::Capacities {
            participants: self.max_participants,
            remote_endpoints: self.max_remote_endpoints,
            matches: self.max_matches,
            ..pollen_engine::Capacities::HOST
        }
    }
}

/// Durability on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DurabilityArg {
    /// Only samples written after the match.
    Volatile,
    /// Late joiners get the writer's history.
    TransientLocal,
}

/// The deepest KEEP_LAST history the tool's engine keeps (its history capacity).
const MAX_DEPTH: u16 = pollen_engine::Capacities::HOST.history as u16;

/// A ROS 2 QoS profile, as rmw names them (`rmw_qos_profile_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum QosProfile {
    /// Best effort, volatile, keep last 5 (`rmw_qos_profile_sensor_data`).
    #[value(name = "sensor_data", alias = "sensor-data")]
    SensorData,
    /// Reliable, volatile, keep last 10 (`rmw_qos_profile_default`).
    Default,
    /// Reliable, volatile, keep last 10 (`rmw_qos_profile_services_default`).
    Services,
    /// Reliable, volatile, keep last 1000 (`rmw_qos_profile_parameters`).
    Parameters,
    /// The DDS defaults (`rmw_qos_profile_system_default`): a reliable writer and a
    /// best-effort reader, volatile, keep last 1.
    #[value(name = "system_default", alias = "system-default")]
    SystemDefault,
}

impl QosProfile {
    /// (writer reliability, reader reliability, durability, history).
    fn policies(self) -> (Reliability, Reliability, Durability, History) {
        use Reliability::{BestEffort, Reliable};
        let v = Durability::Volatile;
        match self {
            QosProfile::SensorData => (BestEffort, BestEffort, v, History::KeepLast(5)),
            QosProfile::Default | QosProfile::Services => {
                (Reliable, Reliable, v, History::KeepLast(10))
            }
            QosProfile::Parameters => (Reliable, Reliable, v, History::KeepLast(1000)),
            QosProfile::SystemDefault => (Reliable, BestEffort, v, History::KeepLast(1)),
        }
    }
}

/// Endpoint QoS. Defaults: reliable, volatile, KEEP_ALL (bounded by the engine's history
/// limits), the default partition. KEEP_ALL because a newcomer expects `pub` | `sub` to lose
/// nothing: a KEEP_LAST 1 writer would overwrite unacknowledged samples when writing fast.
/// `--qos PROFILE` starts from a ROS 2 profile instead; the other flags override its parts.
#[derive(Debug, Clone, clap::Args)]
pub struct QosArgs {
    /// Start from a ROS 2 QoS profile (the flags below override its parts).
    #[arg(long = "qos", value_enum, value_name = "PROFILE")]
    pub profile: Option<QosProfile>,
    /// Reliable (the default).
    #[arg(long, conflicts_with = "best_effort")]
    pub reliable: bool,
    /// Best effort.
    #[arg(long)]
    pub best_effort: bool,
    /// Durability (default volatile).
    #[arg(long, value_enum)]
    pub durability: Option<DurabilityArg>,
    /// KEEP_LAST history of this depth instead of KEEP_ALL (at most the engine's history
    /// capacity is kept).
    #[arg(long, value_name = "N", conflicts_with = "keep_all")]
    pub keep_last: Option<u16>,
    /// KEEP_ALL history (the default).
    #[arg(long)]
    pub keep_all: bool,
    /// Partition, repeatable (none = the default partition).
    #[arg(long = "partition", value_name = "P")]
    pub partitions: Vec<String>,
}

impl QosArgs {
    fn reliability(&self, writer: bool) -> Reliability {
        if self.best_effort {
            Reliability::BestEffort
        } else if self.reliable {
            Reliability::Reliable
        } else {
            match self.profile.map(QosProfile::policies) {
                Some((w, _, _, _)) if writer => w,
                Some((_, r, _, _)) => r,
                None => Reliability::Reliable,
            }
        }
    }

    fn durability(&self) -> Durability {
        match (self.durability, self.profile) {
            (Some(DurabilityArg::Volatile), _) => Durability::Volatile,
            (Some(DurabilityArg::TransientLocal), _) => Durability::TransientLocal,
            (None, Some(p)) => p.policies().2,
            (None, None) => Durability::Volatile,
        }
    }

    fn history(&self) -> History {
        match (self.keep_last, self.keep_all, self.profile) {
            (Some(n), _, _) => History::KeepLast(n),
            (None, true, _) => History::KeepAll,
            (None, false, Some(p)) => match p.policies().3 {
                History::KeepLast(n) => History::KeepLast(n.min(MAX_DEPTH)),
                h => h,
            },
            (None, false, None) => History::KeepAll,
        }
    }

    /// What the tool says before it starts: a profile deeper than the history it can keep.
    pub fn note(&self) -> Option<String> {
        let p = self.profile?;
        match p.policies().3 {
            History::KeepLast(n) if n > MAX_DEPTH && self.keep_last.is_none() && !self.keep_all => {
                Some(format!(
                    "--qos {}: keeping the last {MAX_DEPTH} samples, not {n} (the history \
                     capacity of a writer and a reader)",
                    clap::ValueEnum::to_possible_value(&p)
                        .map_or(String::new(), |v| v.get_name().to_string())
                ))
            }
            _ => None,
        }
    }

    /// Writer QoS.
    pub fn writer(&self) -> WriterQos {
        WriterQos {
            reliability: self.reliability(true),
            durability: self.durability(),
            history: self.history(),
            ..WriterQos::default()
        }
    }

    /// Reader QoS.
    pub fn reader(&self) -> ReaderQos {
        ReaderQos {
            reliability: self.reliability(false),
            durability: self.durability(),
            history: self.history(),
            ..ReaderQos::default()
        }
    }

    /// Whether this side's endpoint (a writer or not) is reliable.
    pub fn is_reliable(&self, writer: bool) -> bool {
        self.reliability(writer) == Reliability::Reliable
    }
}

/// Parses seconds (fractions allowed) into a duration.
pub fn parse_seconds(s: &str) -> Result<Duration, String> {
    let v: f64 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if !(0.0..=1e9).contains(&v) {
        return Err(format!("{s} is out of range"));
    }
    Ok(Duration::from_secs_f64(v))
}

/// The DDS topic name for a user topic: ROS 2 topics live under `rt/`.
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
    use clap::Parser;

    #[derive(Parser)]
    struct Q {
        #[command(flatten)]
        qos: QosArgs,
    }

    fn qos(args: &[&str]) -> QosArgs {
        Q::try_parse_from(std::iter::once("q").chain(args.iter().copied()))
            .expect("flags parse")
            .qos
    }

    #[test]
    fn ros_profiles_and_their_overrides() {
        let sensor = qos(&["--qos", "sensor_data"]);
        assert_eq!(sensor.writer().reliability, Reliability::BestEffort);
        assert_eq!(sensor.reader().history, History::KeepLast(5));
        assert_eq!(sensor.note(), None);
        let d = qos(&["--qos", "default"]);
        assert_eq!(d.reader().reliability, Reliability::Reliable);
        assert_eq!(d.writer().history, History::KeepLast(10));
        // The explicit flags win over the profile's parts.
        let o = qos(&[
            "--qos",
            "sensor-data",
            "--reliable",
            "--durability",
            "transient-local",
        ]);
        assert_eq!(o.writer().reliability, Reliability::Reliable);
        assert_eq!(o.reader().durability, Durability::TransientLocal);
        assert_eq!(o.reader().history, History::KeepLast(5));
        assert_eq!(
            qos(&["--qos", "default", "--keep-all"]).writer().history,
            History::KeepAll
        );
        // DDS defaults: a reliable writer, a best-effort reader.
        let s = qos(&["--qos", "system_default"]);
        assert_eq!(s.writer().reliability, Reliability::Reliable);
        assert_eq!(s.reader().reliability, Reliability::BestEffort);
        // Deeper than the engine keeps: clamped, and said.
        let p = qos(&["--qos", "parameters"]);
        assert_eq!(p.writer().history, History::KeepLast(MAX_DEPTH));
        assert!(p.note().is_some_and(|n| n.contains("parameters")));
        // No profile: reliable, volatile, KEEP_ALL as before.
        let none = qos(&[]);
        assert_eq!(none.writer().reliability, Reliability::Reliable);
        assert_eq!(none.reader().history, History::KeepAll);
        assert_eq!(none.writer().durability, Durability::Volatile);
    }

    #[test]
    fn peers_parse() {
        assert_eq!(
            parse_peer("127.0.0.1").unwrap(),
            Peer {
                address: [127, 0, 0, 1],
                port: None
            }
        );
        assert_eq!(parse_peer("localhost:7412").unwrap().port, Some(7412));
        assert!(parse_peer("127.0.0.1:0").is_err());
        assert!(parse_peer("host.example").is_err());
    }

    #[test]
    fn ros_topics() {
        assert_eq!(dds_topic("/chatter", true), "rt/chatter");
        assert_eq!(dds_topic("chatter", true), "rt/chatter");
        assert_eq!(dds_topic("chatter", false), "chatter");
    }
}
