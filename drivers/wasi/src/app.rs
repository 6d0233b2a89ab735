//! The `pub` and `sub` commands of the component, on top of [`Driver::run`].

use crate::args::{dds_topic, Common, DataType, PubArgs, SubArgs};
use crate::{payload, perf};
use crate::{source_time, Driver, Options};
use core::ops::ControlFlow;
use pollen_engine::{
    Durability, Event, History, InstanceState, Instant, ReaderQos, Reliability, Span, TakeError,
    TopicSpec, WriteError, WriterQos,
};
use std::io::Write;
use std::process::ExitCode;

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("pollen-wasi: {msg}");
    ExitCode::from(2)
}

fn start(c: &Common) -> Result<Driver, String> {
    let user_data = if c.ros {
        b"enclave=/;".to_vec()
    } else {
        Vec::new()
    };
    start_with(c, user_data)
}

fn start_with(c: &Common, user_data: Vec<u8>) -> Result<Driver, String> {
    let opts = Options {
        domain_id: c.domain,
        peers: c.peers.clone(),
        transport: c.transport,
        participant_id: c.participant_id,
        user_data,
        ..Options::default()
    };
    let d = Driver::new(opts).map_err(|e| format!("cannot open sockets: {e}"))?;
    if c.verbose {
        eprintln!(
            "pollen-wasi: participant {} (id {}) in domain {}",
            d.engine().guid_prefix(),
            d.participant_id(),
            c.domain
        );
    }
    Ok(d)
}

fn reliability(c: &Common) -> Reliability {
    if c.reliable {
        Reliability::Reliable
    } else {
        Reliability::BestEffort
    }
}

fn report(d: &mut Driver, verbose: bool) {
    while let Some(ev) = d.poll_event() {
        // A full table is never silent (the engine raises it once until there is room again).
        if let Event::Refused { table, guid } = ev {
            eprintln!(
                "pollen-wasi: the {} table is full; refused {guid}",
                table.capacity_field()
            );
            continue;
        }
        if !verbose {
            continue;
        }
        match ev {
            Event::ParticipantDiscovered(p) => eprintln!("pollen-wasi: participant {p} discovered"),
            Event::ParticipantLost(p) => eprintln!("pollen-wasi: participant {p} lost"),
            Event::Matched { remote, .. } => eprintln!("pollen-wasi: matched {remote}"),
            Event::Unmatched { remote, .. } => eprintln!("pollen-wasi: unmatched {remote}"),
            Event::IncompatibleQos { remote, policy, .. } => {
                eprintln!("pollen-wasi: {remote} has incompatible QoS ({policy:?})")
            }
            Event::StreamError { conn, error } => {
                eprintln!("pollen-wasi: stream {conn:?} closed: {error:?}")
            }
            Event::Evicted { table, guid } => eprintln!(
                "pollen-wasi: the {} table is full; forgot {guid}, which matches nothing here",
                table.capacity_field()
            ),
            _ => {}
        }
    }
}

fn seconds(s: Span) -> f64 {
    s.micros() as f64 / 1e6
}

/// Runs `sub`: prints one line per sample (or, with `--quiet`, a summary line at the end).
pub fn run_sub(args: &SubArgs) -> ExitCode {
    let c = &args.common;
    let mut d = match start(c) {
        Ok(d) => d,
        Err(e) => return fail(e),
    };
    let topic = dds_topic(&c.topic, c.ros);
    let (type_name, keyed) = payload::type_of(c.ty, c.ros);
    let qos = ReaderQos {
        reliability: reliability(c),
        durability: Durability::Volatile,
        history: History::KeepAll,
        ..ReaderQos::default()
    };
    let spec = TopicSpec {
        keyed,
        ..TopicSpec::new(&topic, type_name)
    };
    let now = d.now();
    let reader = match d.engine_mut().create_reader(now, &spec, &qos) {
        Ok(r) => r,
        Err(e) => return fail(format!("cannot create the reader: {e}")),
    };
    let deadline = c
        .timeout
        .map(|t| now + Span::from_micros(t.as_micros() as u64));
    let mut buf = vec![0u8; 64 << 10];
    let mut received = 0u64;
    let mut first: Option<Instant> = None;
    let mut last = now;
    let stdout = std::io::stdout();
    let code = d.run(|d| {
        report(d, c.verbose);
        loop {
            let info = match d.engine_mut().take(reader, &mut buf) {
                Ok(Some(info)) => info,
                Ok(None) => break,
                Err(TakeError::BufferTooSmall { needed }) => {
                    buf.resize(needed, 0);
                    continue;
                }
                Err(e) => {
                    eprintln!("pollen-wasi: take: {e}");
                    return ControlFlow::Break(ExitCode::from(2));
                }
            };
            let t = d.now();
            first.get_or_insert(t);
            last = t;
            if !args.quiet {
                let text = match info.state {
                    InstanceState::Alive => payload::show(c.ty, &buf[..info.len]),
                    InstanceState::Disposed => "[disposed]".to_string(),
                    InstanceState::Unregistered => "[unregistered]".to_string(),
                };
                let mut out = stdout.lock();
                if writeln!(out, "{text}").and_then(|_| out.flush()).is_err() {
                    return ControlFlow::Break(ExitCode::SUCCESS);
                }
            }
            received += 1;
            if c.count.is_some_and(|n| received >= n) {
                return ControlFlow::Break(ExitCode::SUCCESS);
            }
        }
        let now = d.now();
        match deadline {
            Some(t) if now >= t => match c.count {
                Some(n) => {
                    eprintln!(
                        "pollen-wasi: timed out with {received} of {n} samples (matched writers: {})",
                        d.engine().matched_writers(reader)
                    );
                    ControlFlow::Break(ExitCode::from(1))
                }
                None => ControlFlow::Break(ExitCode::SUCCESS),
            },
            _ => ControlFlow::Continue(Some(
                deadline.map_or(now + Span::from_millis(200), |t| t.min(now + Span::from_millis(200))),
            )),
        }
    });
    if args.quiet || c.verbose {
        let span = first.map_or(Span::default(), |f| last.saturating_since(f));
        let rate = if span.micros() > 0 {
            received.saturating_sub(1) as f64 / seconds(span)
        } else {
            0.0
        };
        let line = format!(
            "received {received} samples in {:.3} s ({rate:.0} samples/s)",
            seconds(span)
        );
        // The summary is the output of --quiet; otherwise stdout carries only samples.
        if args.quiet {
            println!("{line}");
        } else {
            eprintln!("pollen-wasi: {line}");
        }
    }
    if c.verbose {
        eprintln!("pollen-wasi: {:?}", d.stats());
    }
    d.shutdown(100_000);
    code
}

fn encode(args: &PubArgs, text: &str, index: u64) -> Vec<u8> {
    match args.common.ty {
        DataType::String => payload::encode_string(text),
        DataType::KeyedSeq => payload::encode_keyed_seq(index as u32, args.keyval, text.as_bytes()),
    }
}

/// How long a best-effort writer waits after its readers matched before the first write, so
/// that they have matched it too (nothing is repaired).
const BEST_EFFORT_SETTLE: Span = Span::from_millis(250);

/// Runs `pub`: waits for readers, writes `--count` samples (at `--rate`, or as fast as they
/// are acknowledged), waits for the acknowledgements of reliable readers.
pub fn run_pub(args: &PubArgs) -> ExitCode {
    let c = &args.common;
    let text = match (&args.message, args.size) {
        (Some(m), _) => m.clone(),
        (None, Some(n)) => match c.ty {
            DataType::String => "x".repeat(n),
            DataType::KeyedSeq => "\0".repeat(n),
        },
        (None, None) => return fail("pub needs a MESSAGE or --size (see --help)"),
    };
    let mut d = match start(c) {
        Ok(d) => d,
        Err(e) => return fail(e),
    };
    let topic = dds_topic(&c.topic, c.ros);
    let (type_name, keyed) = payload::type_of(c.ty, c.ros);
    let qos = WriterQos {
        reliability: reliability(c),
        durability: Durability::Volatile,
        history: History::KeepAll,
        ..WriterQos::default()
    };
    let spec = TopicSpec {
        keyed,
        ..TopicSpec::new(&topic, type_name)
    };
    let started = d.now();
    let w = match d.engine_mut().create_writer(started, &spec, &qos) {
        Ok(w) => w,
        Err(e) => return fail(format!("cannot create the writer: {e}")),
    };
    let limit = c.count.unwrap_or(1);
    let deadline = c
        .timeout
        .map(|t| started + Span::from_micros(t.as_micros() as u64));
    let period = args.rate.map(|r| Span::from_micros((1e6 / r) as u64));
    let mut written = 0u64;
    let mut ready = false;
    let mut next_write = started;
    let mut first_write: Option<Instant> = None;
    let mut finished: Option<Instant> = None;
    let mut held: Option<Vec<u8>> = None;
    let code = d.run(|d| {
        report(d, c.verbose);
        let now = d.now();
        if deadline.is_some_and(|t| now >= t) {
            let matched = d.engine().matched_readers(w);
            if ready {
                eprintln!(
                    "pollen-wasi: timed out after {written} of {limit} samples ({matched} readers)"
                );
            } else {
                eprintln!(
                    "pollen-wasi: timed out waiting for {} reader(s) on {topic:?} ({matched} matched)",
                    args.wait_readers
                );
            }
            return ControlFlow::Break(ExitCode::from(1));
        }
        if !ready {
            if d.engine().matched_readers(w) < args.wait_readers {
                return ControlFlow::Continue(Some(now + Span::from_millis(100)));
            }
            ready = true;
            next_write = if c.reliable {
                now
            } else {
                now + BEST_EFFORT_SETTLE
            };
        }
        let mut burst = 0;
        while finished.is_none() {
            if written >= limit {
                finished = Some(now);
                break;
            }
            if d.now() < next_write {
                return ControlFlow::Continue(Some(next_write));
            }
            let p = held.get_or_insert_with(|| encode(args, &text, written));
            let t = d.now();
            match d.engine_mut().write(t, w, p, source_time()) {
                Ok(_) => {
                    held = None;
                    first_write.get_or_insert(t);
                    written += 1;
                    if let Some(period) = period {
                        next_write = next_write + period;
                    }
                    burst += 1;
                    if burst >= 64 {
                        // Let the loop flush and read acknowledgements.
                        return ControlFlow::Continue(Some(d.now()));
                    }
                }
                Err(WriteError::HistoryFull) | Err(WriteError::OutOfMemory) => {
                    // Acknowledgements wake the loop; look again soon in any case.
                    return ControlFlow::Continue(Some(d.now() + Span::from_millis(10)));
                }
                Err(e) => {
                    eprintln!("pollen-wasi: write: {e}");
                    return ControlFlow::Break(ExitCode::from(2));
                }
            }
        }
        let done = finished.unwrap_or(now);
        if c.reliable {
            if d.engine().is_acknowledged(w) {
                return ControlFlow::Break(ExitCode::SUCCESS);
            }
            ControlFlow::Continue(Some(now + Span::from_millis(50)))
        } else if now >= done + Span::from_millis(50) {
            ControlFlow::Break(ExitCode::SUCCESS)
        } else {
            ControlFlow::Continue(Some(done + Span::from_millis(50)))
        }
    });
    let acked = d.now();
    if c.verbose {
        let span = first_write.map_or(Span::default(), |f| acked.saturating_since(f));
        let rate = if span.micros() > 0 {
            written as f64 / seconds(span)
        } else {
            0.0
        };
        eprintln!(
            "pollen-wasi: wrote {written} samples in {:.3} s ({rate:.0} samples/s, acknowledged)",
            seconds(span)
        );
        eprintln!("pollen-wasi: {:?}", d.stats());
    }
    if let (Some(linger), true) = (args.linger, code == ExitCode::SUCCESS) {
        let end = d.now() + Span::from_micros(linger.as_micros() as u64);
        d.run(|d| {
            report(d, c.verbose);
            if d.now() >= end {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(Some(end))
            }
        });
    }
    d.shutdown(100_000);
    code
}

/// A KeyedSeq topic in `partitions`.
fn keyed<'a>(name: &'a str, partitions: &'a [&'a str]) -> TopicSpec<'a> {
    TopicSpec {
        name,
        type_name: payload::KEYED_SEQ,
        keyed: true,
        partitions,
    }
}

/// Runs `pong`: answers every ping on `DDSPerfRPingKS` with the same sample and source
/// timestamp on `DDSPerfRPongKS`, in the partition named after the pinger's participant, until
/// `--timeout` passes (or forever).
pub fn run_pong(c: &Common) -> ExitCode {
    // WASI has no process id; a random one tells our ddsperf peers apart.
    let pid = (wasi::random::random::get_random_u64() % 1_000_000) as u32;
    let mut d = match start_with(c, perf::user_data(pid, "wasm")) {
        Ok(d) => d,
        Err(e) => return fail(e),
    };
    let reliable_last_1 = ReaderQos {
        reliability: Reliability::Reliable,
        history: History::KeepLast(1),
        ..ReaderQos::default()
    };
    let now = d.now();
    let ping_reader =
        match d
            .engine_mut()
            .create_reader(now, &keyed(perf::PING_TOPIC, &[]), &reliable_last_1)
        {
            Ok(r) => r,
            Err(e) => return fail(format!("cannot create the ping reader: {e}")),
        };
    // ddsperf checks that its peers' ping writer and pong reader match too (we never ping).
    let own = perf::guid_partition(d.engine().guid_prefix());
    let ping_writer = WriterQos {
        reliability: Reliability::Reliable,
        history: History::KeepLast(1),
        ..WriterQos::default()
    };
    let pong_reader = ReaderQos {
        history: History::KeepAll,
        ..reliable_last_1
    };
    let e = d.engine_mut();
    if let Err(e) = e
        .create_writer(now, &keyed(perf::PING_TOPIC, &[]), &ping_writer)
        .and_then(|_| e.create_reader(now, &keyed(perf::PONG_TOPIC, &[&own]), &pong_reader))
    {
        return fail(format!("cannot create the ddsperf endpoints: {e}"));
    }
    let deadline = c
        .timeout
        .map(|t| now + Span::from_micros(t.as_micros() as u64));
    // Pong writers per pinging participant, made when it is discovered.
    let mut pongers: Vec<(pollen_engine::wire::GuidPrefix, pollen_engine::WriterHandle)> =
        Vec::new();
    let mut buf = vec![0u8; 64 << 10];
    let mut answered = 0u64;
    d.run(|d| {
        report(d, c.verbose);
        let peers: Vec<_> = d
            .engine()
            .participants()
            .filter(|p| perf::is_ddsperf(p.user_data()))
            .map(|p| p.guid_prefix)
            .collect();
        for p in peers {
            if pongers.iter().any(|(q, _)| *q == p) {
                continue;
            }
            let part = perf::guid_partition(p);
            let parts = [part.as_str()];
            let qos = WriterQos {
                reliability: Reliability::Reliable,
                history: History::KeepLast(1),
                ..WriterQos::default()
            };
            let t = d.now();
            match d
                .engine_mut()
                .create_writer(t, &keyed(perf::PONG_TOPIC, &parts), &qos)
            {
                Ok(w) => pongers.push((p, w)),
                Err(e) => eprintln!("pollen-wasi: no pong writer for {p}: {e}"),
            }
        }
        loop {
            let info = match d.engine_mut().take(ping_reader, &mut buf) {
                Ok(Some(info)) => info,
                Ok(None) => break,
                Err(TakeError::BufferTooSmall { needed }) => {
                    buf.resize(needed, 0);
                    continue;
                }
                Err(_) => break,
            };
            let Some(ts) = info.source_timestamp else {
                continue;
            };
            if info.state != InstanceState::Alive {
                continue;
            }
            let Some(&(_, w)) = pongers.iter().find(|(p, _)| *p == info.writer.prefix) else {
                continue;
            };
            let t = d.now();
            if d.engine_mut().write(t, w, &buf[..info.len], ts).is_ok() {
                answered += 1;
            }
        }
        let now = d.now();
        match deadline {
            Some(t) if now >= t => ControlFlow::Break(()),
            _ => ControlFlow::Continue(Some(deadline.map_or(now + Span::from_millis(500), |t| {
                t.min(now + Span::from_millis(500))
            }))),
        }
    });
    if c.verbose {
        eprintln!("pollen-wasi: answered {answered} pings; {:?}", d.stats());
    }
    d.shutdown(100_000);
    ExitCode::SUCCESS
}
