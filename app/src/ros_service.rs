//! `pollen call` and `pollen serve`: ROS 2 services, as rmw_fastrtps maps them onto DDS.
//!
//! A service `/name` of type `pkg/srv/Type` is two topics: requests on `rq/nameRequest`
//! (`pkg::srv::dds_::Type_Request_`) and replies on `rr/nameReply`
//! (`pkg::srv::dds_::Type_Response_`), reliable, volatile, keep last 10 (the services
//! profile). A request names the client's reply reader in inline QoS
//! (`PID_RELATED_SAMPLE_IDENTITY`, SN unknown), as rmw_fastrtps does, so that a server knows
//! where the reply goes; the reply names the request the same way, by that reader (or the
//! request's writer, when the request named no reader) and the request's SN. (rmw_cyclonedds puts the identity in the payload instead; that mapping is not built.)

use std::ops::ControlFlow;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::host::{Host, Platform};
use pollen_engine::wire::{Guid, SampleIdentity, SequenceNumber, Time};
use pollen_engine::{
    Durability, History, ReaderHandle, ReaderQos, Reliability, TopicSpec, WriterHandle, WriterQos,
};
use serde_json::{json, Value};

use crate::cli::{parse_seconds, NetArgs};
use crate::pubsub::{fail, start};
use crate::ros_graph::NodeArgs;
use crate::ros_msg::{dds_name, Registry};
use crate::ros_value::{decode, encode, parse_yaml, to_yaml};

/// What `pollen call` and `pollen serve` both take.
#[derive(Debug, clap::Args)]
pub struct ServiceArgs {
    /// The service, for example /talker/get_parameters.
    pub service: String,
    /// Its type, for example rcl_interfaces/srv/GetParameters.
    #[arg(value_name = "TYPE")]
    pub ty: String,
    /// Print JSON instead of YAML (the response; for `serve`, each request).
    #[arg(long)]
    pub json: bool,
    /// Where ROS 2 definitions are, besides `AMENT_PREFIX_PATH`; repeatable.
    #[arg(long, value_name = "DIR")]
    pub msg_path: Vec<std::path::PathBuf>,
    #[command(flatten)]
    pub node: NodeArgs,
    #[command(flatten)]
    pub net: NetArgs,
}

/// Arguments of `pollen call`.
#[derive(Debug, clap::Args)]
pub struct CallArgs {
    #[command(flatten)]
    pub s: ServiceArgs,
    /// The request's fields as YAML (fields left out are zero). Default `{}`.
    pub request: Option<String>,
    /// Give up (status 1) after this many seconds.
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = parse_seconds)]
    pub timeout: Duration,
}

/// Arguments of `pollen serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub s: ServiceArgs,
    /// The response's fields as YAML, the same for every request (fields left out are zero).
    #[arg(long, value_name = "YAML")]
    pub reply: Option<String>,
    /// Exit after answering this many requests.
    #[arg(long, short = 'n', value_name = "N")]
    pub count: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub timeout: Option<Duration>,
}

/// A service's definitions and DDS names.
pub struct Service {
    reg: Registry,
    request: String,
    response: String,
    request_topic: String,
    reply_topic: String,
}

impl Service {
    fn load(name: &str, ty: &str, paths: &[std::path::PathBuf]) -> Result<Service, String> {
        Service::with(name, ty, Registry::from_env(paths))
    }

    /// Service `name` of type `ty`, its definitions from `reg` (loaded there if needed).
    pub fn with(name: &str, ty: &str, mut reg: Registry) -> Result<Service, String> {
        let name = name.trim_start_matches('/');
        if name.is_empty() {
            return Err("a service needs a name".into());
        }
        let full = match ty.split('/').collect::<Vec<_>>().as_slice() {
            [pkg, "srv", t] | [pkg, t] => format!("{pkg}/srv/{t}"),
            _ => return Err(format!("{ty:?} is not a ROS 2 service type (pkg/srv/Name)")),
        };
        let (request, response) = reg.load_service(&full)?;
        Ok(Service {
            reg,
            request,
            response,
            request_topic: format!("rq/{name}Request"),
            reply_topic: format!("rr/{name}Reply"),
        })
    }

    /// A request of this service from its YAML/JSON value.
    pub fn request(&self, v: &Value) -> Result<Vec<u8>, String> {
        encode(&self.reg, self.def(&self.request), v)
    }

    fn def(&self, which: &str) -> &crate::ros_msg::MsgDef {
        self.reg.get(which).expect("loaded")
    }
}

/// The services profile: reliable, volatile, keep last 10.
fn writer_qos() -> WriterQos {
    WriterQos {
        reliability: Reliability::Reliable,
        durability: Durability::Volatile,
        history: History::KeepLast(10),
        ..WriterQos::default()
    }
}

fn reader_qos() -> ReaderQos {
    ReaderQos {
        reliability: Reliability::Reliable,
        durability: Durability::Volatile,
        history: History::KeepLast(10),
        ..ReaderQos::default()
    }
}

/// The request writer and reply reader of a client, or the request reader and reply writer
/// of a server.
fn endpoints(
    d: &mut dyn Host,
    s: &Service,
    server: bool,
) -> Result<(WriterHandle, ReaderHandle), String> {
    let (w_topic, w_type, r_topic, r_type) = if server {
        (&s.reply_topic, &s.response, &s.request_topic, &s.request)
    } else {
        (&s.request_topic, &s.request, &s.reply_topic, &s.response)
    };
    let now = d.now();
    let (wt, rt) = (dds_name(w_type), dds_name(r_type));
    let w = d
        .engine_mut()
        .create_writer(now, &TopicSpec::new(w_topic, &wt), &writer_qos())
        .map_err(|e| format!("cannot create the writer on {w_topic}: {e}"))?;
    let r = d
        .engine_mut()
        .create_reader(now, &TopicSpec::new(r_topic, &rt), &reader_qos())
        .map_err(|e| format!("cannot create the reader on {r_topic}: {e}"))?;
    Ok((w, r))
}

/// Takes the next sample of `r` into `buf` (grown as needed).
fn take(d: &mut dyn Host, r: ReaderHandle, buf: &mut Vec<u8>) -> Option<pollen_engine::SampleInfo> {
    crate::take(d.engine_mut(), r, buf).ok().flatten()
}

fn show(v: &Value, json: bool) -> String {
    if json {
        v.to_string()
    } else {
        to_yaml(v)
    }
}

/// A call in progress: the client's endpoints, and the request once sent.
pub struct Client {
    w: WriterHandle,
    r: ReaderHandle,
    request: Vec<u8>,
    sent: Option<SampleIdentity>,
    buf: Vec<u8>,
}

impl Client {
    /// Creates the client's endpoints; the request goes out once a server is there.
    pub fn new(d: &mut dyn Host, s: &Service, request: Vec<u8>) -> Result<Client, String> {
        let (w, r) = endpoints(d, s, false)?;
        Ok(Client {
            w,
            r,
            request,
            sent: None,
            buf: vec![0u8; 4096],
        })
    }

    /// Whether the request went out.
    pub fn sent(&self) -> bool {
        self.sent.is_some()
    }

    /// Sends the request when a server is there; the response once it came.
    pub fn poll(&mut self, d: &mut dyn Host, s: &Service) -> Option<Result<Value, String>> {
        let (w, r) = (self.w, self.r);
        if self.sent.is_none() {
            // The server's request reader acknowledged us and its reply writer matched ours:
            // the request will not be lost, nor its reply.
            if d.engine().ready_readers(w) > 0 && d.engine().matched_writers(r) > 0 {
                let reply_reader = d.engine().reader_guid(r)?;
                let now = d.now();
                // As rmw_fastrtps: the request names our reply reader (SN unknown).
                let to = SampleIdentity {
                    writer: reply_reader,
                    sn: SequenceNumber(-1 << 32),
                };
                match d
                    .engine_mut()
                    .write_related(now, w, &self.request, to, Time::ZERO)
                {
                    Ok(sn) => {
                        let writer: Guid = d.engine().writer_guid(w)?;
                        self.sent = Some(SampleIdentity { writer, sn });
                    }
                    Err(e) => return Some(Err(format!("cannot send the request: {e}"))),
                }
            }
        }
        let reader = d.engine().reader_guid(r);
        while let Some(info) = take(d, r, &mut self.buf) {
            // Replies to other clients' requests come to every client: ours names ours, by
            // our request writer or (as rmw_fastrtps servers answer) our reply reader, and
            // the request's SN.
            let ours = match (self.sent, info.related) {
                (Some(s), Some(rel)) => {
                    rel.sn == s.sn && (rel.writer == s.writer || Some(rel.writer) == reader)
                }
                _ => false,
            };
            if ours {
                let payload = &self.buf[..info.len];
                return Some(
                    decode(&s.reg, s.def(&s.response), payload)
                        .map_err(|e| format!("the response does not decode: {e}")),
                );
            }
        }
        None
    }

    /// Deletes the client's endpoints.
    pub fn close(self, d: &mut dyn Host) {
        let now = d.now();
        let _ = d.engine_mut().delete_writer(now, self.w);
        let _ = d.engine_mut().delete_reader(now, self.r);
    }
}

/// Runs `pollen call`.
pub fn run_call(p: &dyn Platform, args: &CallArgs) -> ExitCode {
    let s = match Service::load(&args.s.service, &args.s.ty, &args.s.msg_path) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let request =
        match parse_yaml(args.request.as_deref().unwrap_or("")).and_then(|v| s.request(&v)) {
            Ok(p) => p,
            Err(e) => return fail(e),
        };
    let mut host = match start(p, &args.s.net, true) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let mut client = match Client::new(host.as_mut(), &s, request) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let mut graph = match args.s.node.join(host.as_mut(), true, "call", p.pid()) {
        Ok(g) => g,
        Err(e) => return fail(e),
    };
    if let Some(g) = graph.as_mut() {
        if let Err(e) = g.set_endpoints(host.as_mut(), &[client.r], &[client.w]) {
            eprintln!("pollen: {e}");
        }
    }
    let deadline = Instant::now() + args.timeout;
    let result = crate::host::run(host.as_mut(), |d| {
        while let Some(ev) = d.engine_mut().poll_event() {
            crate::pubsub::report_refusal(&ev);
        }
        if let Some(g) = graph.as_mut() {
            g.poll(d);
        }
        match client.poll(d, &s) {
            Some(Ok(v)) => {
                println!("{}", show(&v, args.s.json));
                return ControlFlow::Break(ExitCode::SUCCESS);
            }
            Some(Err(e)) => {
                eprintln!("pollen: {e}");
                return ControlFlow::Break(ExitCode::from(1));
            }
            None => {}
        }
        if Instant::now() >= deadline {
            eprintln!(
                "pollen: no response from {} within {:?} ({})",
                args.s.service,
                args.timeout,
                if client.sent() {
                    "the request was sent"
                } else {
                    "no server found"
                }
            );
            return ControlFlow::Break(ExitCode::from(1));
        }
        ControlFlow::Continue(Some(
            deadline.min(Instant::now() + Duration::from_millis(100)),
        ))
    });
    let code = match result {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    host.shutdown(Duration::from_millis(100));
    code
}

/// Runs `pollen serve`.
pub fn run_serve(p: &dyn Platform, args: &ServeArgs) -> ExitCode {
    let s = match Service::load(&args.s.service, &args.s.ty, &args.s.msg_path) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let reply = match parse_yaml(args.reply.as_deref().unwrap_or(""))
        .and_then(|v| encode(&s.reg, s.def(&s.response), &v))
    {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    let mut host = match start(p, &args.s.net, true) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let (w, r) = match endpoints(host.as_mut(), &s, true) {
        Ok(e) => e,
        Err(e) => return fail(e),
    };
    let mut graph = match args.s.node.join(host.as_mut(), true, "serve", p.pid()) {
        Ok(g) => g,
        Err(e) => return fail(e),
    };
    if let Some(g) = graph.as_mut() {
        if let Err(e) = g.set_endpoints(host.as_mut(), &[r], &[w]) {
            eprintln!("pollen: {e}");
        }
    }
    let deadline = args.timeout.map(|t| Instant::now() + t);
    let mut answered = 0u64;
    let mut buf = vec![0u8; 4096];
    // Requests taken whose reply waits for the client's reply reader to match ours
    // (discovery is not symmetric in time): (the request's identity, where the reply goes).
    let mut waiting: Vec<(SampleIdentity, Option<Guid>, Instant)> = Vec::new();
    // When the last of `--count` replies was written.
    let mut done: Option<Instant> = None;
    let result = crate::host::run(host.as_mut(), |d| {
        while let Some(ev) = d.engine_mut().poll_event() {
            crate::pubsub::report_refusal(&ev);
        }
        if let Some(g) = graph.as_mut() {
            g.poll(d);
        }
        while let Some(info) = take(d, r, &mut buf).filter(|_| done.is_none()) {
            let payload = &buf[..info.len];
            match decode(&s.reg, s.def(&s.request), payload) {
                Ok(v) => {
                    let line = if args.s.json {
                        json!({"client": info.writer.to_string(), "sn": info.sn.0, "request": v})
                            .to_string()
                    } else {
                        to_yaml(&v)
                    };
                    println!("{line}");
                }
                Err(e) => eprintln!("pollen: a request does not decode: {e}"),
            }
            // The reply names this request by its SN and, as rmw_fastrtps servers do, by the
            // client's reply reader when the request named it (else its writer); it goes out
            // once that reader is matched (else once any is).
            let to = SampleIdentity {
                writer: info.related.map_or(info.writer, |r| r.writer),
                sn: info.sn,
            };
            waiting.push((to, info.related.map(|r| r.writer), Instant::now()));
        }
        let mut i = 0;
        while i < waiting.len() {
            let (to, reader, since) = waiting[i];
            let ready = match reader {
                Some(g) => d.engine().is_ready_for(w, g),
                None => d.engine().ready_readers(w) > 0,
            };
            if !ready {
                if since.elapsed() > Duration::from_secs(10) {
                    eprintln!(
                        "pollen: the client of request {} never matched; not answered",
                        to.sn.0
                    );
                    waiting.swap_remove(i);
                } else {
                    i += 1;
                }
                continue;
            }
            waiting.swap_remove(i);
            let now = d.now();
            if let Err(e) = d.engine_mut().write_related(now, w, &reply, to, Time::ZERO) {
                eprintln!("pollen: cannot reply: {e}");
                continue;
            }
            answered += 1;
            if args.count.is_some_and(|n| answered >= n) {
                done = Some(Instant::now());
            }
        }
        if let Some(at) = done {
            // The last reply acknowledged (or given up on after a while) before leaving:
            // a reply still queued when the goodbye goes out is lost.
            if d.engine().is_acknowledged(w) || at.elapsed() > Duration::from_secs(2) {
                return ControlFlow::Break(ExitCode::SUCCESS);
            }
            return ControlFlow::Continue(Some(Instant::now() + Duration::from_millis(20)));
        }
        if !waiting.is_empty() {
            return ControlFlow::Continue(Some(Instant::now() + Duration::from_millis(20)));
        }
        match deadline {
            Some(t) if Instant::now() >= t => ControlFlow::Break(ExitCode::SUCCESS),
            _ => ControlFlow::Continue(
                deadline.or(Some(Instant::now() + Duration::from_millis(200))),
            ),
        }
    });
    let code = match result {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    // Let the last reply be acknowledged before leaving.
    host.shutdown(Duration::from_millis(300));
    code
}
