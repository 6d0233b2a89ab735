//! `pollen ls`: who is on the domain.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::host::{Host, Platform};
use pollen_engine::{Durability, Reliability};
use serde_json::{json, Value};

use crate::cli::{parse_seconds, NetArgs};
use crate::ros_graph::{gid, ros_endpoint, RosEndpoint, RosGraph};

/// Arguments of `pollen ls`.
#[derive(Debug, clap::Args)]
pub struct LsArgs {
    /// How long to listen, in seconds.
    #[arg(long, value_name = "SECONDS", default_value = "3", value_parser = parse_seconds)]
    pub duration: Duration,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
    /// The ROS 2 graph instead: nodes with their publishers and subscribers (as `ros2 node
    /// list` and `ros2 node info`), topics and types in ROS names.
    #[arg(long)]
    pub ros: bool,
    #[command(flatten)]
    pub net: NetArgs,
}

/// One ROS 2 node as `ls --ros` shows it, each list of (name, type) in ROS names.
#[derive(Debug, Default)]
struct RosNode {
    publishers: Vec<(String, String)>,
    subscribers: Vec<(String, String)>,
    servers: Vec<(String, String)>,
    clients: Vec<(String, String)>,
}

/// A list of a node's endpoints with its title (text) and key (JSON).
type Listing<'a> = (&'static str, &'static str, &'a [(String, String)]);

/// The nodes by (namespace, name).
type Nodes = BTreeMap<(String, String), RosNode>;

/// The nodes of `graph`, their endpoints resolved through what SEDP announced (a GID whose
/// endpoint was not announced, or is not a ROS topic or service, is left out).
fn nodes(graph: &RosGraph, seen: &Seen) -> Nodes {
    let endpoint = |g: &[u8; 16]| {
        let e = seen.endpoints.get(seen.by_gid.get(g)?)?;
        ros_endpoint(&e.topic, &e.type_name)
    };
    let mut out = Nodes::new();
    for p in graph.peers.values() {
        for n in &p.nodes {
            let node = out
                .entry((n.namespace.clone(), n.name.clone()))
                .or_default();
            for (gids, writer) in [(&n.writers, true), (&n.readers, false)] {
                for e in gids.iter().filter_map(endpoint) {
                    let (list, entry) = match (e, writer) {
                        (RosEndpoint::Topic { name, ty }, true) => {
                            (&mut node.publishers, (name, ty))
                        }
                        (RosEndpoint::Topic { name, ty }, false) => {
                            (&mut node.subscribers, (name, ty))
                        }
                        (RosEndpoint::Service { name, ty }, false) => {
                            (&mut node.servers, (name, ty))
                        }
                        (RosEndpoint::Service { name, ty }, true) => {
                            (&mut node.clients, (name, ty))
                        }
                    };
                    list.push(entry);
                }
            }
            for list in [
                &mut node.publishers,
                &mut node.subscribers,
                &mut node.servers,
                &mut node.clients,
            ] {
                list.sort();
                list.dedup();
            }
        }
    }
    out
}

fn full_name(ns: &str, name: &str) -> String {
    if ns == "/" {
        format!("/{name}")
    } else {
        format!("{ns}/{name}")
    }
}

impl RosNode {
    /// Each list with its title (text) and key (JSON).
    fn lists(&self) -> [Listing<'_>; 4] {
        [
            ("Publishers", "publishers", &self.publishers),
            ("Subscribers", "subscribers", &self.subscribers),
            ("Service Servers", "service_servers", &self.servers),
            ("Service Clients", "service_clients", &self.clients),
        ]
    }
}

fn nodes_text(nodes: &Nodes) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "nodes ({}):", nodes.len());
    for ((ns, name), node) in nodes {
        let _ = writeln!(s, "  {}", full_name(ns, name));
        for (title, _, list) in node.lists() {
            let _ = writeln!(s, "    {title}:");
            for (t, ty) in list {
                let _ = writeln!(s, "      {t}: {ty}");
            }
        }
    }
    s
}

fn nodes_json(nodes: &Nodes) -> Value {
    let nodes: Vec<Value> = nodes
        .iter()
        .map(|((ns, name), node)| {
            let mut v = json!({
                "name": name,
                "namespace": ns,
                "full_name": full_name(ns, name),
            });
            for (_, key, list) in node.lists() {
                v[key] = list
                    .iter()
                    .map(|(t, ty)| json!({"name": t, "type": ty}))
                    .collect();
            }
            v
        })
        .collect();
    json!({ "nodes": nodes })
}

#[derive(Debug, Clone)]
struct Participant {
    vendor: String,
    vendor_name: Option<&'static str>,
    version: String,
    lease_s: f64,
}

#[derive(Debug, Clone)]
struct Endpoint {
    is_writer: bool,
    topic: String,
    type_name: String,
    keyed: bool,
    reliable: bool,
    transient_local: bool,
    partitions: Vec<String>,
}

#[derive(Default)]
struct Seen {
    participants: BTreeMap<String, Participant>,
    endpoints: BTreeMap<String, Endpoint>,
    /// The key in `endpoints` of each endpoint's GID (for the ROS graph).
    by_gid: BTreeMap<[u8; 16], String>,
}

impl Seen {
    fn collect(&mut self, d: &dyn Host) {
        for p in d.engine().participants() {
            self.participants.insert(
                p.guid_prefix.to_string(),
                Participant {
                    vendor: p.vendor.to_string(),
                    vendor_name: p.vendor.name(),
                    version: p.version.to_string(),
                    lease_s: p.lease.micros() as f64 / 1e6,
                },
            );
        }
        for e in d.engine().remote_endpoints() {
            self.by_gid.insert(gid(&e.guid), e.guid.to_string());
            self.endpoints.insert(
                e.guid.to_string(),
                Endpoint {
                    is_writer: e.is_writer,
                    topic: e.topic.to_string(),
                    type_name: e.type_name.to_string(),
                    keyed: e.keyed,
                    reliable: e.reliability == Reliability::Reliable,
                    transient_local: e.durability == Durability::TransientLocal,
                    partitions: e.partitions().map(str::to_string).collect(),
                },
            );
        }
    }

    /// Topics: (name, type) → (writers, readers).
    fn topics(&self) -> BTreeMap<(&str, &str), (usize, usize)> {
        let mut t: BTreeMap<(&str, &str), (usize, usize)> = BTreeMap::new();
        for e in self.endpoints.values() {
            let c = t.entry((&e.topic, &e.type_name)).or_default();
            if e.is_writer {
                c.0 += 1;
            } else {
                c.1 += 1;
            }
        }
        t
    }

    fn json(&self) -> Value {
        let participants: Vec<Value> = self
            .participants
            .iter()
            .map(|(prefix, p)| {
                json!({
                    "guid_prefix": prefix,
                    "vendor": p.vendor,
                    "vendor_name": p.vendor_name,
                    "version": p.version,
                    "lease_s": p.lease_s,
                })
            })
            .collect();
        let topics: Vec<Value> = self
            .topics()
            .iter()
            .map(|((name, ty), (w, r))| {
                let mut v = json!({"name": name, "type": ty, "writers": w, "readers": r});
                if let Some(RosEndpoint::Topic { name, ty } | RosEndpoint::Service { name, ty }) =
                    ros_endpoint(name, ty)
                {
                    v["ros_name"] = name.into();
                    v["ros_type"] = ty.into();
                }
                v
            })
            .collect();
        let endpoints: Vec<Value> = self
            .endpoints
            .iter()
            .map(|(guid, e)| {
                json!({
                    "guid": guid,
                    "kind": if e.is_writer { "writer" } else { "reader" },
                    "topic": e.topic,
                    "type": e.type_name,
                    "keyed": e.keyed,
                    "reliability": if e.reliable { "reliable" } else { "best-effort" },
                    "durability": if e.transient_local { "transient-local" } else { "volatile" },
                    "partitions": e.partitions,
                })
            })
            .collect();
        json!({"participants": participants, "topics": topics, "endpoints": endpoints})
    }

    fn text(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(s, "participants ({}):", self.participants.len());
        for (prefix, p) in &self.participants {
            let _ = writeln!(
                s,
                "  {prefix}  {} ({})  RTPS {}  lease {}s",
                p.vendor_name.unwrap_or("unknown vendor"),
                p.vendor,
                p.version,
                p.lease_s
            );
        }
        let topics = self.topics();
        let _ = writeln!(s, "topics ({}):", topics.len());
        for ((name, ty), (w, r)) in &topics {
            // ROS topics and services also under their ROS names.
            let ros = match ros_endpoint(name, ty) {
                Some(RosEndpoint::Topic { name, ty } | RosEndpoint::Service { name, ty }) => {
                    format!("  (ROS {name}: {ty})")
                }
                None => String::new(),
            };
            let _ = writeln!(s, "  {name}  [{ty}]  {w} writer(s), {r} reader(s){ros}");
        }
        let _ = writeln!(s, "endpoints ({}):", self.endpoints.len());
        for (guid, e) in &self.endpoints {
            let parts = if e.partitions.is_empty() {
                String::new()
            } else {
                format!("  partitions {:?}", e.partitions)
            };
            let _ = writeln!(
                s,
                "  {} {guid}  {}  [{}]{}  {}  {}{parts}",
                if e.is_writer { "W" } else { "R" },
                e.topic,
                e.type_name,
                if e.keyed { " keyed" } else { "" },
                if e.reliable {
                    "reliable"
                } else {
                    "best-effort"
                },
                if e.transient_local {
                    "transient-local"
                } else {
                    "volatile"
                },
            );
        }
        s
    }
}

/// Runs `pollen ls`.
pub fn run(p: &dyn Platform, args: &LsArgs) -> ExitCode {
    let mut host = match p.open(&args.net, Vec::new()) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("pollen: {e}");
            return ExitCode::from(2);
        }
    };
    // With --ros, read the graph topic (publishing nothing: `ls` is not a node itself).
    let mut graph = None;
    if args.ros {
        match RosGraph::new(host.as_mut(), "pollen_ls", "/") {
            Ok(g) => graph = Some(g),
            Err(e) => {
                eprintln!("pollen: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let end = Instant::now() + args.duration;
    let mut seen = Seen::default();
    let mut notices = crate::notices::Notices::default();
    let r = crate::host::run(host.as_mut(), |d| {
        while let Some(ev) = d.engine_mut().poll_event() {
            crate::pubsub::report_refusal(&ev);
        }
        notices.check(d);
        seen.collect(d);
        if let Some(g) = graph.as_mut() {
            g.poll(d);
        }
        if Instant::now() >= end {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(Some(end))
        }
    });
    if let Err(e) = r {
        eprintln!("pollen: {e}");
        return ExitCode::from(2);
    }
    host.shutdown(Duration::from_millis(100));
    if let Some(g) = &graph {
        let n = nodes(g, &seen);
        if args.json {
            println!("{}", nodes_json(&n));
        } else {
            print!("{}", nodes_text(&n));
        }
        if g.refused > 0 {
            eprintln!(
                "pollen: {} {} sample(s) refused ({})",
                g.refused,
                crate::ros_graph::TOPIC,
                g.first_refusal
                    .as_ref()
                    .map_or(String::new(), |e| e.to_string())
            );
        }
        return ExitCode::SUCCESS;
    }
    if args.json {
        let mut v = seen.json();
        v["driver"] = crate::notices::refusals_json(&host.refusals());
        println!("{v}");
    } else {
        print!("{}", seen.text());
        if let Some(l) = crate::notices::refusals_line(&host.refusals()) {
            eprintln!("{l}");
        }
    }
    ExitCode::SUCCESS
}
