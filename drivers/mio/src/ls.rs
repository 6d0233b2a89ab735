//! `pollen ls`: who is on the domain.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use pollen_engine::{Durability, Reliability};
use pollen_mio::{Driver, Runner};
use serde_json::{json, Value};

use crate::cli::{parse_seconds, NetArgs};

/// Arguments of `pollen ls`.
#[derive(Debug, clap::Args)]
pub struct LsArgs {
    /// How long to listen, in seconds.
    #[arg(long, value_name = "SECONDS", default_value = "3", value_parser = parse_seconds)]
    pub duration: Duration,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub net: NetArgs,
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
}

impl Seen {
    fn collect(&mut self, d: &Driver) {
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
                json!({"name": name, "type": ty, "writers": w, "readers": r})
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
            let _ = writeln!(s, "  {name}  [{ty}]  {w} writer(s), {r} reader(s)");
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
pub fn run(args: &LsArgs) -> ExitCode {
    let opts = match args.net.options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("pollen: {e}");
            return ExitCode::from(2);
        }
    };
    let mut runner = match Driver::new(opts).and_then(Runner::new) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("pollen: cannot open sockets: {e}");
            return ExitCode::from(2);
        }
    };
    let end = Instant::now() + args.duration;
    let mut seen = Seen::default();
    let mut notices = crate::notices::Notices::default();
    let r = runner.run(|d| {
        while let Some(ev) = d.engine_mut().poll_event() {
            crate::pubsub::report_refusal(&ev);
        }
        notices.check(d);
        seen.collect(d);
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
    let _ = runner.driver().shutdown(Duration::from_millis(100));
    if args.json {
        let mut v = seen.json();
        v["driver"] = crate::notices::refusals_json(runner.driver().stats());
        println!("{v}");
    } else {
        print!("{}", seen.text());
        if let Some(l) = crate::notices::refusals_line(runner.driver().stats()) {
            eprintln!("{l}");
        }
    }
    ExitCode::SUCCESS
}
