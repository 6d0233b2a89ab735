//! `pollen pub` and `pollen sub`.

use std::io::{self, BufRead, IsTerminal, Write};
use std::ops::ControlFlow;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::host::{Host, Platform};
use pollen_engine::wire::Time;
use pollen_engine::{
    Endpoint, Event, InstanceState, QosPolicy, ReaderHandle, TopicSpec, WriteError,
};
use serde_json::json;

use crate::cli::{dds_topic, parse_seconds, NetArgs, QosArgs};
use crate::payload::{self, DataType};
use crate::ros_graph::NodeArgs;
use crate::ros_typedesc::TypeFetch;
use crate::ros_value::RosType;

/// Arguments of `pollen sub`.
#[derive(Debug, clap::Args)]
pub struct SubArgs {
    /// Topic name (with --ros, or starting with `/`, the ROS name: `chatter` becomes
    /// `rt/chatter`).
    pub topic: String,
    /// Data type (default string). On a ROS topic without it, the type is learnt from the
    /// writers and any ROS 2 message type is printed as YAML (as `ros2 topic echo`; strings
    /// stay plain lines), from its installed definition.
    #[arg(long = "type", value_enum)]
    pub ty: Option<DataType>,
    /// Where ROS 2 message definitions are, besides `AMENT_PREFIX_PATH` (a prefix or its
    /// `share` directory); repeatable.
    #[arg(long, value_name = "DIR")]
    pub msg_path: Vec<std::path::PathBuf>,
    /// DDS type name to match instead of the type's default.
    #[arg(long, value_name = "NAME")]
    pub type_name: Option<String>,
    /// ROS 2 naming: topic `rt/TOPIC`, type `std_msgs::msg::dds_::String_`.
    #[arg(long)]
    pub ros: bool,
    /// Exit after this many samples (status 0), or with status 1 if --timeout passes first.
    #[arg(long, short = 'n', value_name = "N")]
    pub count: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub timeout: Option<Duration>,
    /// One JSON object per sample: writer, sn, source_timestamp (ns since the Unix epoch),
    /// state, value.
    #[arg(long)]
    pub json: bool,
    /// Print no samples, only a summary line at the end (count, seconds, rate).
    #[arg(long, short = 'q', conflicts_with = "json")]
    pub quiet: bool,
    /// Report discovery and matching on stderr.
    #[arg(long, short = 'v')]
    pub verbose: bool,
    #[command(flatten)]
    pub node: NodeArgs,
    #[command(flatten)]
    pub net: NetArgs,
    #[command(flatten)]
    pub qos: QosArgs,
}

/// Arguments of `pollen pub`.
#[derive(Debug, clap::Args)]
pub struct PubArgs {
    /// Topic name (with --ros, or starting with `/`, the ROS name: `chatter` becomes
    /// `rt/chatter`).
    pub topic: String,
    /// The message (hex of the whole serialized payload for --type raw, the baggage for
    /// keyedseq). Without it, and without --size, one sample per line of standard input. A
    /// ROS 2 message type instead (`pkg/msg/Name`), followed by VALUE, publishes that type, as
    /// `ros2 topic pub` does.
    pub message: Option<String>,
    /// With a ROS 2 type as MESSAGE: the message's fields as YAML (for example
    /// `'{linear: {x: 0.5}}'`); fields left out are zero. Default `{}`.
    pub value: Option<String>,
    /// Where ROS 2 message definitions are, besides `AMENT_PREFIX_PATH` (a prefix or its
    /// `share` directory); repeatable.
    #[arg(long, value_name = "DIR")]
    pub msg_path: Vec<std::path::PathBuf>,
    /// Data type.
    #[arg(long = "type", value_enum, default_value = "string")]
    pub ty: DataType,
    /// DDS type name to announce instead of the type's default.
    #[arg(long, value_name = "NAME")]
    pub type_name: Option<String>,
    /// ROS 2 naming: topic `rt/TOPIC`, type `std_msgs::msg::dds_::String_`.
    #[arg(long)]
    pub ros: bool,
    /// Samples to write (default 1 with a message or --size; with stdin, at most this many
    /// lines).
    #[arg(long, short = 'n', value_name = "N")]
    pub count: Option<u64>,
    /// Samples per second (default: as fast as the readers acknowledge).
    #[arg(long, value_name = "HZ")]
    pub rate: Option<f64>,
    /// Generate samples of this many bytes of string or baggage instead of a message.
    #[arg(long, value_name = "BYTES")]
    pub size: Option<usize>,
    /// The key of keyedseq samples.
    #[arg(long, default_value_t = 0)]
    pub keyval: u32,
    /// Matched readers to wait for before the first write.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub wait_readers: usize,
    /// Give up (status 1) after this many seconds.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub timeout: Option<Duration>,
    /// Stay in the domain this many seconds after the last sample was sent (and
    /// acknowledged), before saying goodbye: some readers (ddsperf) forget samples of a writer
    /// that left before they took them.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub linger: Option<Duration>,
    /// Report discovery and matching on stderr.
    #[arg(long, short = 'v')]
    pub verbose: bool,
    #[command(flatten)]
    pub node: NodeArgs,
    #[command(flatten)]
    pub net: NetArgs,
    #[command(flatten)]
    pub qos: QosArgs,
}

pub(crate) fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("pollen: {msg}");
    ExitCode::from(2)
}

/// A participant for `net`; with `ros`, with the USER_DATA ROS 2 participants carry.
pub(crate) fn start(p: &dyn Platform, net: &NetArgs, ros: bool) -> Result<Box<dyn Host>, String> {
    let user_data = if ros {
        b"enclave=/;".to_vec()
    } else {
        Vec::new()
    };
    p.open(net, user_data)
}

/// The type name and key-ness of a topic: given, or learnt from a remote endpoint.
fn topic_type(
    d: &dyn Host,
    topic: &str,
    ty: DataType,
    type_name: Option<&str>,
    ros: bool,
) -> Option<(String, bool)> {
    let learnt = || {
        d.engine()
            .remote_endpoints()
            .find(|e| e.topic == topic)
            .map(|e| (e.type_name.to_string(), e.keyed))
    };
    match (type_name.or(ty.type_name(ros)), ty.keyed()) {
        (Some(n), Some(k)) => Some((n.to_string(), k)),
        (Some(n), None) => Some((n.to_string(), learnt().is_some_and(|(_, k)| k))),
        (None, _) => learnt(),
    }
}

/// Prints a full table's refusal (never silent: the engine raises it once until there is room
/// again); true when `ev` was one.
pub(crate) fn report_refusal(ev: &Event) -> bool {
    if let Event::Refused { table, guid } = ev {
        eprintln!(
            "pollen: the {} table is full; refused {guid} (raise it with {})",
            table.capacity_field(),
            crate::cli::flag_for(*table)
        );
        return true;
    }
    false
}

/// Why a remote endpoint cannot match ours, in the words of `topic`'s users: ROS 2's (the
/// policy names rclcpp prints, "publisher"/"subscription") with `ros`, DDS's otherwise.
fn incompatible(local: &Endpoint, policy: QosPolicy, topic: &str, ros: bool) -> String {
    let we_write = matches!(local, Endpoint::Writer(_));
    let (them, us, what) = match (ros, we_write) {
        (true, true) => (
            "a subscription",
            "this publisher",
            "no messages will be sent to it",
        ),
        (true, false) => (
            "a publisher",
            "this subscription",
            "no messages will be received from it",
        ),
        (false, true) => ("a reader", "this writer", "it gets nothing from us"),
        (false, false) => ("a writer", "this reader", "we get nothing from it"),
    };
    let (name, why) = match policy {
        QosPolicy::Reliability => (
            "RELIABILITY",
            "reliable was requested and best effort offered (a best-effort publisher, such as \
             --qos sensor_data, cannot serve a reliable subscription)",
        ),
        QosPolicy::Durability => (
            "DURABILITY",
            "transient-local was requested and volatile offered",
        ),
        QosPolicy::Deadline => ("DEADLINE", "the requested deadline is shorter than offered"),
        QosPolicy::Liveliness => (
            "LIVELINESS",
            "the requested liveliness lease is shorter than offered, or the kinds differ",
        ),
        QosPolicy::Ownership => ("OWNERSHIP", "shared and exclusive ownership do not mix"),
        QosPolicy::DataRepresentation => (
            "DATA_REPRESENTATION",
            "the data representation offered is not one accepted",
        ),
        QosPolicy::TopicKind => ("TOPIC_KIND", "a keyed and a keyless type on one topic"),
        _ => ("A", "a policy this tool does not know by name differs"),
    };
    let topic = if ros {
        crate::ros_graph::ros_endpoint(topic, "")
            .map(|e| match e {
                crate::ros_graph::RosEndpoint::Topic { name, .. }
                | crate::ros_graph::RosEndpoint::Service { name, .. } => name,
            })
            .unwrap_or_else(|| topic.to_string())
    } else {
        topic.to_string()
    };
    let policy = if ros {
        format!("{name}_QOS_POLICY")
    } else {
        name.to_string()
    };
    format!("{them} on {topic:?} and {us} have incompatible QoS ({policy}: {why}); {what}")
}

fn report(ev: &Event, verbose: bool, topic: &str, ros: bool) {
    if report_refusal(ev) {
        return;
    }
    if let Event::IncompatibleQos {
        local,
        remote,
        policy,
    } = ev
    {
        // Never silent: nothing will flow between the two.
        eprintln!(
            "pollen: {} ({remote})",
            incompatible(local, *policy, topic, ros)
        );
        return;
    }
    match ev {
        Event::Evicted { table, guid } if verbose => {
            eprintln!(
                "pollen: the {} table is full; forgot {guid}, which matches nothing here (raise it with {})",
                table.capacity_field(),
                crate::cli::flag_for(*table)
            );
            return;
        }
        Event::ReaderUnresponsive { reader, .. } => {
            eprintln!("pollen: reader {reader} acknowledges nothing; no longer waiting for it");
            return;
        }
        Event::ReaderRecovered { reader, .. } => {
            eprintln!("pollen: reader {reader} acknowledges again");
            return;
        }
        _ => {}
    }
    if !verbose {
        return;
    }
    match ev {
        Event::ParticipantDiscovered(p) => eprintln!("pollen: participant {p} discovered"),
        Event::ParticipantLost(p) => eprintln!("pollen: participant {p} lost"),
        Event::Matched { remote, .. } => eprintln!("pollen: matched {remote}"),
        Event::Unmatched { remote, .. } => eprintln!("pollen: unmatched {remote}"),
        _ => {}
    }
}

/// Runs `pollen sub`.
pub fn run_sub(p: &dyn Platform, args: &SubArgs) -> ExitCode {
    let ros = args.node.ros(args.ros) || args.topic.starts_with('/');
    // A ROS topic named the ROS way (`/scan`) with no type given: the type is learnt from its
    // writers and decoded from its definition. (`--ros chatter` stays a String reader created
    // at once: a reader that exists keeps its writer in a full table, a type still to learn
    // does not.)
    let learn = ros && args.topic.starts_with('/') && args.ty.is_none() && args.type_name.is_none();
    let mut ty = args.ty.unwrap_or(DataType::String);
    let mut typed: Option<RosType> = None;
    // A ROS 2 type named with --type-name: decoded from its definition, the reader made at once.
    if let (true, None, Some(n)) = (ros, args.ty, args.type_name.as_deref()) {
        if n != payload::ROS_STRING && crate::ros_msg::full_name(n).is_some() {
            match RosType::load(n, &args.msg_path) {
                Ok(t) => {
                    typed = Some(t);
                    ty = DataType::Raw;
                }
                Err(e) => return fail(e),
            }
        }
    }
    // A type description being fetched from the network, with why the local lookup failed.
    let mut fetch: Option<(String, TypeFetch)> = None;
    if let Some(n) = args.qos.note() {
        eprintln!("pollen: {n}");
    }
    let mut host = match start(p, &args.net, ros) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let mut graph = match args.node.join(host.as_mut(), ros, "sub", p.pid()) {
        Ok(g) => g,
        Err(e) => return fail(e),
    };
    let topic = dds_topic(&args.topic, ros);
    let started = Instant::now();
    let deadline = args.timeout.map(|t| started + t);
    let mut reader: Option<ReaderHandle> = None;
    let mut received = 0u64;
    // The first and the last sample's arrival, for the summary.
    let mut span: Option<(Instant, Instant)> = None;
    let mut buf = vec![0u8; 65_536];
    let stdout = io::stdout();
    let mut notices = crate::notices::Notices::default();
    let result = crate::host::run(host.as_mut(), |d| {
        notices.check(d);
        if reader.is_none() {
            let found = if learn {
                topic_type(d, &topic, DataType::Raw, None, ros)
            } else {
                topic_type(d, &topic, ty, args.type_name.as_deref(), ros)
            };
            if let Some((type_name, keyed)) = found {
                if learn && type_name != payload::ROS_STRING {
                    let loaded = match &fetch {
                        None => RosType::load(&type_name, &args.msg_path),
                        Some((e, _)) => Err(e.clone()),
                    };
                    match loaded {
                        Ok(t) => typed = Some(t),
                        Err(e) => {
                            // No installed definition: ask the writer's node (ROS 2 Jazzy's
                            // type description service).
                            if fetch.is_none() {
                                if args.verbose {
                                    eprintln!("pollen: {e}; asking the writer's node");
                                }
                                match TypeFetch::new(&type_name) {
                                    Ok(f) => fetch = Some((e.clone(), f)),
                                    Err(e2) => {
                                        eprintln!("pollen: {topic:?} carries {type_name}: {e2}");
                                        return ControlFlow::Break(ExitCode::from(2));
                                    }
                                }
                            }
                            let (Some((_, f)), Some(g)) = (fetch.as_mut(), graph.as_mut()) else {
                                return ControlFlow::Break(ExitCode::from(2));
                            };
                            g.poll(d);
                            match f.poll(d, g, &topic) {
                                None => {
                                    return ControlFlow::Continue(Some(
                                        Instant::now() + Duration::from_millis(50),
                                    ))
                                }
                                Some(Ok(t)) => {
                                    if args.verbose {
                                        eprintln!(
                                            "pollen: {type_name} described by its writer's node"
                                        );
                                    }
                                    typed = Some(t);
                                }
                                Some(Err(e2)) => {
                                    eprintln!("pollen: {topic:?} carries {type_name}: {e}; {e2}");
                                    return ControlFlow::Break(ExitCode::from(2));
                                }
                            }
                        }
                    }
                    ty = DataType::Raw;
                }
                let spec_parts: Vec<&str> =
                    args.qos.partitions.iter().map(|s| s.as_str()).collect();
                let spec = TopicSpec {
                    name: &topic,
                    type_name: &type_name,
                    keyed,
                    partitions: &spec_parts,
                };
                let now = d.now();
                match d.engine_mut().create_reader(now, &spec, &args.qos.reader()) {
                    Ok(r) => {
                        reader = Some(r);
                        if args.verbose {
                            eprintln!("pollen: reading {topic:?} as {type_name:?}");
                        }
                        if let Some(g) = graph.as_mut() {
                            if let Err(e) = g.set_endpoints(d, &[r], &[]) {
                                eprintln!("pollen: {e}");
                            }
                        }
                    }
                    Err(e) => {
                        eprintln!("pollen: cannot create the reader: {e}");
                        return ControlFlow::Break(ExitCode::from(2));
                    }
                }
            }
        }
        while let Some(ev) = d.engine_mut().poll_event() {
            report(&ev, args.verbose, &topic, ros);
        }
        if let Some(g) = graph.as_mut() {
            g.poll(d);
        }
        if let Some(r) = reader {
            loop {
                let info = match crate::take(d.engine_mut(), r, &mut buf) {
                    Ok(Some(info)) => info,
                    Ok(None) => break,
                    Err(e) => {
                        eprintln!("pollen: take: {e}");
                        return ControlFlow::Break(ExitCode::from(2));
                    }
                };
                received += 1;
                let now = Instant::now();
                span.get_or_insert((now, now)).1 = now;
                if args.quiet {
                    if args.count.is_some_and(|n| received >= n) {
                        return ControlFlow::Break(ExitCode::SUCCESS);
                    }
                    continue;
                }
                let payload = &buf[..info.len];
                let state = match info.state {
                    InstanceState::Alive => "alive",
                    InstanceState::Disposed => "disposed",
                    InstanceState::Unregistered => "unregistered",
                };
                let (text, value) = match &typed {
                    Some(t) if info.state == InstanceState::Alive => match t.decode(payload) {
                        Ok(v) => (crate::ros_value::to_yaml(&v), v),
                        Err(e) => {
                            // Counted in the output, never fatal: the next sample may be fine.
                            let text = format!("# {e}: {}", payload::hex(payload));
                            (text, serde_json::Value::Null)
                        }
                    },
                    _ if info.state == InstanceState::Alive => payload::show(ty, payload),
                    _ => {
                        let (text, value) = payload::show_key(ty, payload, info.key_hash);
                        (format!("[{state}] {text}"), value)
                    }
                };
                let mut out = stdout.lock();
                let line = if args.json {
                    json!({
                        "writer": info.writer.to_string(),
                        "sn": info.sn.0,
                        "source_timestamp": info.source_timestamp.map(|t| t.to_nanos()),
                        "state": state,
                        "value": value,
                    })
                    .to_string()
                } else {
                    text
                };
                if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
                    // stdout closed: nobody is listening any more.
                    return ControlFlow::Break(ExitCode::SUCCESS);
                }
                if args.count.is_some_and(|n| received >= n) {
                    return ControlFlow::Break(ExitCode::SUCCESS);
                }
            }
        }
        match deadline {
            Some(t) if Instant::now() >= t => {
                if let Some(n) = args.count {
                    eprintln!(
                        "pollen: timed out with {received} of {n} samples (matched writers: {})",
                        reader.map_or(0, |r| d.engine().matched_writers(r))
                    );
                    ControlFlow::Break(ExitCode::from(1))
                } else {
                    ControlFlow::Break(ExitCode::SUCCESS)
                }
            }
            _ => ControlFlow::Continue(
                deadline.or(Some(Instant::now() + Duration::from_millis(200))),
            ),
        }
    });
    let code = match result {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    if args.quiet || args.verbose {
        let secs = span.map_or(0.0, |(a, b)| (b - a).as_secs_f64());
        let rate = if secs > 0.0 {
            received.saturating_sub(1) as f64 / secs
        } else {
            0.0
        };
        let line = format!("received {received} samples in {secs:.3} s ({rate:.0} samples/s)");
        // The summary is the output of --quiet; otherwise stdout carries only samples.
        if args.quiet {
            println!("{line}");
        } else {
            eprintln!("pollen: {line}");
        }
    }
    if args.verbose {
        if let Some(l) = crate::notices::refusals_line(&host.refusals()) {
            eprintln!("{l}");
        }
        eprintln!("pollen: driver {}", host.counters());
    }
    host.shutdown(Duration::from_millis(100));
    code
}

/// Where `pub` gets its samples.
enum Source {
    /// The same message (or generated text) `count` times.
    Repeat { text: String, count: u64 },
    /// One per line of standard input.
    Stdin(mpsc::Receiver<String>),
    /// The same serialized sample (a typed ROS 2 message) `count` times.
    Payload { payload: Vec<u8>, count: u64 },
}

fn encode(args: &PubArgs, text: &str, index: u64) -> Result<Vec<u8>, String> {
    Ok(match args.ty {
        DataType::String => payload::encode_string(text),
        DataType::Keyedseq => payload::encode_keyed_seq(index as u32, args.keyval, text.as_bytes()),
        DataType::Raw => {
            let p = payload::parse_hex(text).ok_or_else(|| format!("{text:?} is not hex"))?;
            if p.len() < 4 {
                return Err("a raw payload needs at least its 4-byte encapsulation header".into());
            }
            p
        }
    })
}

/// The source timestamp of a sample: the wall clock with the nanosecond LSB cleared, because
/// Cyclone's ddsperf takes a data sample with an odd timestamp for an embedded ping and tries
/// to answer it (rtps-wire.md §10.2).
fn source_time() -> Time {
    Time::from_nanos(crate::host::wall_time().to_nanos() & !1)
}

/// How long a best-effort `pub` waits after its readers matched before the first write, so
/// that they have matched it too (discovery is not symmetric in time and nothing is repaired).
const BEST_EFFORT_SETTLE: Duration = Duration::from_millis(250);

/// Runs `pollen pub`.
pub fn run_pub(p: &dyn Platform, args: &PubArgs) -> ExitCode {
    if args.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
        return fail("--rate must be positive");
    }
    // `pub TOPIC pkg/msg/Name [YAML]`: a ROS 2 message of that type.
    let typed = match (&args.message, &args.value) {
        (Some(t), Some(_)) => Some(t),
        (Some(t), None) if t.split('/').nth(1) == Some("msg") && t.split('/').count() == 3 => {
            Some(t)
        }
        _ => None,
    };
    let typed = match typed.map(|t| RosType::load(t, &args.msg_path)) {
        None => None,
        Some(Ok(t)) => match t.encode_yaml(args.value.as_deref().unwrap_or("")) {
            Ok(p) => Some((t, p)),
            Err(e) => return fail(e),
        },
        Some(Err(e)) => return fail(e),
    };
    let ros = args.node.ros(args.ros) || args.topic.starts_with('/') || typed.is_some();
    if let Some(n) = args.qos.note() {
        eprintln!("pollen: {n}");
    }
    let mut host = match start(p, &args.net, ros) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let mut graph = match args.node.join(host.as_mut(), ros, "pub", p.pid()) {
        Ok(g) => g,
        Err(e) => return fail(e),
    };
    let generated = args.size.map(|n| match args.ty {
        DataType::Raw => payload::hex(&[0, 1, 0, 0]) + &"00".repeat(n),
        DataType::Keyedseq => "\0".repeat(n),
        DataType::String => "x".repeat(n),
    });
    let mut source = match (&typed, args.message.clone().or(generated)) {
        (Some((_, payload)), _) => Source::Payload {
            payload: payload.clone(),
            count: args.count.unwrap_or(1),
        },
        (None, Some(text)) => match encode(args, &text, 0) {
            Ok(_) => Source::Repeat {
                text,
                count: args.count.unwrap_or(1),
            },
            Err(e) => return fail(e),
        },
        (None, None) => {
            if io::stdin().is_terminal() {
                eprintln!("pollen: one sample per line of standard input; Ctrl-D ends");
            }
            let (tx, rx) = mpsc::channel();
            let waker = match host.waker() {
                Ok(w) => w,
                Err(e) => return fail(e),
            };
            std::thread::spawn(move || {
                for line in io::stdin().lock().lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                    waker();
                }
                drop(tx);
                waker();
            });
            Source::Stdin(rx)
        }
    };
    let limit = args.count.unwrap_or(u64::MAX);
    let topic = dds_topic(&args.topic, ros);
    let started = Instant::now();
    let deadline = args.timeout.map(|t| started + t);
    let period = args.rate.map(|r| Duration::from_secs_f64(1.0 / r));
    let mut writer = None;
    let mut written = 0u64;
    let mut next_write = started;
    let mut ready = false;
    let mut told_waiting = false;
    let mut held: Option<Vec<u8>> = None;
    let mut finished_at: Option<Instant> = None;
    let reliable = args.qos.is_reliable(true);
    let mut notices = crate::notices::Notices::default();
    let result = crate::host::run(host.as_mut(), |d| {
        notices.check(d);
        let now = d.wake_time();
        while let Some(ev) = d.engine_mut().poll_event() {
            report(&ev, args.verbose, &topic, ros);
        }
        if writer.is_none() {
            let found = match &typed {
                Some((t, _)) => Some((t.dds_name(), false)),
                None => topic_type(d, &topic, args.ty, args.type_name.as_deref(), ros),
            };
            if let Some((type_name, keyed)) = found {
                let parts: Vec<&str> = args.qos.partitions.iter().map(|s| s.as_str()).collect();
                let spec = TopicSpec {
                    name: &topic,
                    type_name: &type_name,
                    keyed,
                    partitions: &parts,
                };
                let t = d.now();
                match d.engine_mut().create_writer(t, &spec, &args.qos.writer()) {
                    Ok(w) => {
                        writer = Some(w);
                        if let Some(g) = graph.as_mut() {
                            if let Err(e) = g.set_endpoints(d, &[], &[w]) {
                                eprintln!("pollen: {e}");
                            }
                        }
                    }
                    Err(e) => {
                        eprintln!("pollen: cannot create the writer: {e}");
                        return ControlFlow::Break(ExitCode::from(2));
                    }
                }
            }
        }
        if deadline.is_some_and(|t| now >= t) {
            let matched = writer.map_or(0, |w| d.engine().matched_readers(w));
            if !ready {
                eprintln!(
                    "pollen: timed out waiting for {} reader(s) on {topic:?} ({matched} matched)",
                    args.wait_readers
                );
            } else {
                eprintln!(
                    "pollen: timed out with {written} samples written, acknowledged: {}",
                    writer.is_some_and(|w| d.engine().is_acknowledged(w))
                );
            }
            return ControlFlow::Break(ExitCode::from(1));
        }
        let Some(w) = writer else {
            return ControlFlow::Continue(Some(now + Duration::from_millis(100)));
        };
        if !ready {
            // Readers that acknowledged the writer: a volatile Cyclone reader skips what was
            // written before it matched the writer in turn (over TCP that lost the first 64
            // samples to ddsperf sub).
            if d.engine().ready_readers(w) < args.wait_readers {
                if !told_waiting && now >= started + Duration::from_secs(2) {
                    told_waiting = true;
                    eprintln!(
                        "pollen: waiting for {} reader(s) on {topic:?}...",
                        args.wait_readers
                    );
                }
                return ControlFlow::Continue(Some(now + Duration::from_millis(100)));
            }
            ready = true;
            // Reliable readers have acknowledged the writer, so they know it; best-effort
            // ones give no sign and get nothing repaired: give them a moment.
            next_write = if reliable {
                now
            } else {
                now + BEST_EFFORT_SETTLE
            };
        }
        // Write what is due.
        let mut burst = 0;
        while finished_at.is_none() {
            if written >= limit {
                finished_at = Some(now);
                break;
            }
            if Instant::now() < next_write {
                return ControlFlow::Continue(Some(next_write));
            }
            if held.is_none() {
                held = match &mut source {
                    Source::Repeat { text, count } => {
                        if written >= *count {
                            finished_at = Some(now);
                            break;
                        }
                        encode(args, text, written).ok()
                    }
                    Source::Payload { payload, count } => {
                        if written >= *count {
                            finished_at = Some(now);
                            break;
                        }
                        Some(payload.clone())
                    }
                    Source::Stdin(rx) => match rx.try_recv() {
                        Ok(line) => match encode(args, &line, written) {
                            Ok(p) => Some(p),
                            Err(e) => {
                                eprintln!("pollen: {e}");
                                return ControlFlow::Break(ExitCode::from(2));
                            }
                        },
                        Err(mpsc::TryRecvError::Empty) => return ControlFlow::Continue(None),
                        Err(mpsc::TryRecvError::Disconnected) => {
                            finished_at = Some(now);
                            break;
                        }
                    },
                };
            }
            let Some(p) = held.as_deref() else { break };
            let t = d.now();
            match d.engine_mut().write(t, w, p, source_time()) {
                Ok(_) => {
                    held = None;
                    written += 1;
                    if let Some(period) = period {
                        next_write += period;
                    }
                    burst += 1;
                    if burst >= 16 {
                        // Let the runner flush and read acknowledgements.
                        return ControlFlow::Continue(Some(now));
                    }
                }
                Err(WriteError::HistoryFull) | Err(WriteError::OutOfMemory) => {
                    // Wait for acknowledgements (they wake the loop); poll now and then too.
                    return ControlFlow::Continue(Some(now + Duration::from_millis(10)));
                }
                Err(e) => {
                    eprintln!("pollen: write: {e}");
                    return ControlFlow::Break(ExitCode::from(2));
                }
            }
        }
        let done = finished_at.unwrap_or(now);
        if reliable {
            if d.engine().is_acknowledged(w) {
                return ControlFlow::Break(ExitCode::SUCCESS);
            }
            ControlFlow::Continue(Some(now + Duration::from_millis(50)))
        } else if now >= done + Duration::from_millis(50) {
            ControlFlow::Break(ExitCode::SUCCESS)
        } else {
            ControlFlow::Continue(Some(done + Duration::from_millis(50)))
        }
    });
    let code = match result {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    if args.verbose {
        eprintln!("pollen: {written} samples written");
        if let Some(l) = crate::notices::refusals_line(&host.refusals()) {
            eprintln!("{l}");
        }
        eprintln!("pollen: driver {}", host.counters());
    }
    if let (Some(linger), true) = (args.linger, code == ExitCode::SUCCESS) {
        let end = Instant::now() + linger;
        let r = crate::host::run(host.as_mut(), |d| {
            while d.engine_mut().poll_event().is_some() {}
            if Instant::now() >= end {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(Some(end))
            }
        });
        if let Err(e) = r {
            return fail(e);
        }
    }
    host.shutdown(Duration::from_millis(100));
    code
}
