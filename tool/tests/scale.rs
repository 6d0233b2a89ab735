//! Pollen in a DDS system of realistic size, against real Cyclone DDS 11 (Python `cyclonedds`):
//! dozens of remote participants and hundreds of remote endpoints, most of them on topics
//! Pollen does not care about, and the one writer or the many readers it does care about
//! among them.
//!
//! Each test runs everything in a network namespace of its own whose only interface is `lo`
//! (shared/PEERS.md): nothing in it can leave the machine, so Cyclone runs with its default
//! configuration (no CYCLONEDDS_URI) and `pollen` with no network flags at all, as on an
//! unconfigured robot. The Cyclone side is tests/peers/scale.py.
//!
//! These tests need root (for `ip netns`), `ip` and the Python with cyclonedds 11
//! ($POLLEN_PEERS_PYTHON or .venv-peers): without them they FAIL, they never skip.

mod common;

use common::{peers_python, Netns, Proc};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::{Duration, Instant};

impl Netns {
    /// `pollen sub --ros chatter` inside the namespace on domain `dom`, expecting `SAMPLES`
    /// samples within 30 s (as JSON lines), with `extra` flags.
    fn chatter_sub(&self, dom: u32, extra: &[&str]) -> Proc {
        let (d, n) = (dom.to_string(), SAMPLES.to_string());
        let mut args = vec![
            "sub",
            "chatter",
            "--ros",
            "--count",
            &n,
            "--timeout",
            "30",
            "--json",
            "--domain",
            &d,
        ];
        args.extend_from_slice(extra);
        Proc::spawn("pollen sub", self.pollen(&args))
    }

    /// tests/peers/scale.py inside the namespace, on domain `dom`.
    fn cyclone(&self, dom: u32, args: &[&str]) -> Command {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/scale.py");
        let python = peers_python();
        let mut all = vec![script, "domain"];
        all.extend_from_slice(args);
        let mut c = self.command(&python, &all);
        c.env("DOMAIN", dom.to_string());
        c
    }
}

/// Fails the test (never skips it) when the Python with cyclonedds 11 is missing.
fn require_cyclone_python() {
    let python = peers_python();
    // Imports only: no participant is created out here.
    let out = Command::new(&python)
        .args([
            "-c",
            "import importlib.metadata as m, cyclonedds.domain; print(m.version('cyclonedds'))",
        ])
        .env_remove("CYCLONEDDS_URI")
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "the Python with cyclonedds==11.0.1 is missing ({python}: {e}); set \
                 POLLEN_PEERS_PYTHON or create .venv-peers (shared/PEERS.md)"
            )
        });
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        out.status.success() && version.starts_with("11."),
        "{python} has no cyclonedds 11 (got {version:?}, {}): install cyclonedds==11.0.1 \
         (shared/PEERS.md)\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A transcript with its long lines (scale.py's ENTITIES, a RESULT, ls --json) cut short, for
/// assertion messages.
fn brief(p: &mut Proc) -> String {
    p.transcript()
        .lines()
        .map(|l| match l.char_indices().nth(400) {
            Some((i, _)) => format!("{} ... ({} bytes)", &l[..i], l.len()),
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// What a scale.py process created, from its `ENTITIES` line.
struct Entities {
    participants: Vec<String>,
    /// guid → (topic, kind)
    endpoints: BTreeMap<String, (String, String)>,
}

/// Waits for scale.py's `READY` and reads its `ENTITIES` line.
fn ready(py: &mut Proc, limit: Duration) -> Entities {
    let ok = py.wait_for_line(limit, |l| l.starts_with("READY"));
    assert!(ok, "Cyclone did not get ready\n{}", brief(py));
    let line = py
        .out
        .iter()
        .find_map(|l| l.strip_prefix("ENTITIES "))
        .map(str::to_string);
    let line = line.unwrap_or_else(|| panic!("no ENTITIES line\n{}", brief(py)));
    let v: Value = serde_json::from_str(&line).expect("ENTITIES JSON");
    let participants = v["participants"]
        .as_array()
        .expect("participants")
        .iter()
        .map(|p| p.as_str().expect("prefix").to_string())
        .collect();
    let endpoints = v["endpoints"]
        .as_array()
        .expect("endpoints")
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().expect(k).to_string();
            (s("guid"), (s("topic"), s("kind")))
        })
        .collect();
    Entities {
        participants,
        endpoints,
    }
}

/// The GUID of scale.py's rt/chatter writer, from its `CHATTER` line.
fn chatter_writer(py: &mut Proc) -> Option<String> {
    py.wait_for_line(Duration::from_secs(1), |l| l.starts_with("CHATTER "));
    let line = py.out.iter().find_map(|l| l.strip_prefix("CHATTER "))?;
    let v: Value = serde_json::from_str(line).ok()?;
    Some(v["guid"].as_str()?.to_string())
}

/// Waits for `pollen sub --ros chatter --json` and checks that it printed "hello 0" ..
/// "hello {count-1}", each exactly once, in order, from scale.py's chatter writer, with
/// consecutive sequence numbers; then stops scale.py.
fn check_chatter_sub(sub: &mut Proc, py: &mut Proc, count: usize, what: &str) {
    let status = sub.wait(Duration::from_secs(35));
    let writer = chatter_writer(py);
    py.feed("", true);
    let _ = py.wait(Duration::from_secs(5));
    let log = format!("{}{}", sub.transcript(), brief(py));
    let got: Vec<Value> = sub
        .out
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}\n{log}")))
        .collect();
    let texts: Vec<&str> = got.iter().filter_map(|v| v["value"].as_str()).collect();
    let expected: Vec<String> = (0..count).map(|i| format!("hello {i}")).collect();
    assert_eq!(
        texts, expected,
        "{what}: pollen sub did not print the {count} samples exactly once and in order \
         (exit {status:?})\n{log}"
    );
    assert!(
        status.is_some_and(|s| s.success()),
        "{what}: {status:?}\n{log}"
    );
    let writer = writer.unwrap_or_else(|| panic!("{what}: no CHATTER line\n{log}"));
    for v in &got {
        assert_eq!(v["writer"].as_str(), Some(writer.as_str()), "{what}\n{log}");
        assert_eq!(v["state"].as_str(), Some("alive"), "{what}\n{log}");
    }
    for pair in got.windows(2) {
        let (a, b) = (pair[0]["sn"].as_i64(), pair[1]["sn"].as_i64());
        assert_eq!(b, a.map(|s| s + 1), "{what}: sequence numbers\n{log}");
    }
}

const SAMPLES: usize = 20;

/// A running domain of 40 Cyclone participants with 400 endpoints on unrelated topics; Pollen
/// joins it, and 2 s later (a node starting after the tool) a 41st participant with one
/// reliable rt/chatter writer: Pollen must get every one of its samples.
#[test]
fn many_participants_one_writer() {
    require_cyclone_python();
    let t0 = Instant::now();
    let ns = Netns::new("many");
    let dom = 1;
    let n = SAMPLES.to_string();
    let mut py = Proc::spawn(
        "cyclone (40 + 1 participants)",
        ns.cyclone(
            dom,
            &[
                "--participants",
                "40",
                "--endpoints",
                "10",
                "--chatter",
                "writer",
                "--chatter-on",
                "new",
                "--chatter-delay",
                "2",
                "--count",
                &n,
                "--timeout",
                "45",
            ],
        ),
    );
    let e = ready(&mut py, Duration::from_secs(20));
    assert_eq!((e.participants.len(), e.endpoints.len()), (40, 400));
    let mut sub = ns.chatter_sub(dom, &[]);
    check_chatter_sub(&mut sub, &mut py, SAMPLES, "41 participants, 401 endpoints");
    eprintln!("many_participants_one_writer: {:?}", t0.elapsed());
}

/// Pollen first; then 4 Cyclone participants with 32 endpoints each on unrelated topics (128),
/// and 2 s later the rt/chatter writer on the last of them: Pollen must get every sample.
#[test]
fn unrelated_endpoints_one_writer() {
    require_cyclone_python();
    let t0 = Instant::now();
    let ns = Netns::new("unrelated");
    let dom = 2;
    let n = SAMPLES.to_string();
    let mut sub = ns.chatter_sub(dom, &[]);
    let mut py = Proc::spawn(
        "cyclone (4 participants)",
        ns.cyclone(
            dom,
            &[
                "--participants",
                "4",
                "--endpoints",
                "32",
                "--chatter",
                "writer",
                "--chatter-on",
                "last",
                "--chatter-delay",
                "2",
                "--count",
                &n,
                "--timeout",
                "45",
            ],
        ),
    );
    let e = ready(&mut py, Duration::from_secs(20));
    assert_eq!((e.participants.len(), e.endpoints.len()), (4, 128));
    check_chatter_sub(&mut sub, &mut py, SAMPLES, "4 participants, 129 endpoints");
    eprintln!("unrelated_endpoints_one_writer: {:?}", t0.elapsed());
}

/// `pollen pub` to 40 Cyclone participants in two processes (so two sets of locators), each
/// participant with a reliable rt/chatter reader and 4 unrelated endpoints: every reader must
/// get every sample, once, in order.
#[test]
fn pollen_writer_many_cyclone_readers() {
    require_cyclone_python();
    let t0 = Instant::now();
    let ns = Netns::new("readers");
    let dom = 3;
    let d = dom.to_string();
    let n = SAMPLES.to_string();
    let mut pys: Vec<Proc> = ["0", "20"]
        .iter()
        .map(|first| {
            Proc::spawn(
                &format!("cyclone readers from {first}"),
                ns.cyclone(
                    dom,
                    &[
                        "--participants",
                        "20",
                        "--endpoints",
                        "4",
                        "--first-index",
                        first,
                        "--chatter",
                        "readers",
                        "--count",
                        &n,
                        "--timeout",
                        "45",
                    ],
                ),
            )
        })
        .collect();
    let mut readers = 0;
    for py in &mut pys {
        let e = ready(py, Duration::from_secs(20));
        readers += e
            .endpoints
            .values()
            .filter(|(t, k)| t == "rt/chatter" && k == "reader")
            .count();
    }
    assert_eq!(readers, 40);
    let mut publ = Proc::spawn(
        "pollen pub",
        ns.pollen(&[
            "pub",
            "chatter",
            "--ros",
            "--wait-readers",
            "40",
            "--timeout",
            "30",
            "--domain",
            &d,
        ]),
    );
    let input: String = (0..SAMPLES).map(|i| format!("hello {i}\n")).collect();
    publ.feed(&input, true);
    let ps = publ.wait(Duration::from_secs(35));
    let mut log = publ.transcript();
    // Complete readers report by themselves; the others once told to stop.
    let patience = Duration::from_secs(if ps.is_some_and(|s| s.success()) {
        5
    } else {
        0
    });
    let mut results = Vec::new();
    for py in &mut pys {
        if !py.wait_for_line(patience, |l| l.starts_with("RESULT ")) {
            py.feed("", true);
        }
        let _ = py.wait(Duration::from_secs(5));
        log += &brief(py);
        let r = py
            .out
            .iter()
            .find_map(|l| l.strip_prefix("RESULT "))
            .map(|l| serde_json::from_str::<Value>(l).expect("RESULT JSON"));
        results.push(r);
    }
    let expected: Vec<String> = (0..SAMPLES).map(|i| format!("hello {i}")).collect();
    let mut counts = Vec::new();
    let mut complete = 0;
    for r in &results {
        let r = r
            .as_ref()
            .unwrap_or_else(|| panic!("a Cyclone process printed no RESULT\n{log}"));
        for s in r["samples"].as_array().expect("samples") {
            let got: Vec<&str> = s
                .as_array()
                .expect("one reader's samples")
                .iter()
                .map(|x| x.as_str().expect("a string"))
                .collect();
            counts.push(got.len());
            complete += usize::from(got == expected);
        }
    }
    assert_eq!(counts.len(), 40, "{log}");
    assert_eq!(
        complete, 40,
        "not every Cyclone reader got the {SAMPLES} samples exactly once in order; samples per \
         reader: {counts:?}\n{log}"
    );
    assert!(ps.is_some_and(|s| s.success()), "pollen pub: {ps:?}\n{log}");
    eprintln!("pollen_writer_many_cyclone_readers: {:?}", t0.elapsed());
}

/// With a domain like that of `many_participants_one_writer` running (40 Cyclone
/// participants, 400 endpoints on unrelated topics and the rt/chatter writer on the last
/// participant), a late-joining `pollen ls` lists all 40 participants and all 401 endpoints,
/// with their topics, types and kinds.
#[test]
fn pollen_ls_lists_everything() {
    require_cyclone_python();
    let t0 = Instant::now();
    let ns = Netns::new("ls");
    let dom = 4;
    let d = dom.to_string();
    let mut py = Proc::spawn(
        "cyclone (40 participants)",
        ns.cyclone(
            dom,
            &[
                "--participants",
                "40",
                "--endpoints",
                "10",
                "--chatter",
                "writer",
                "--hold",
                "30",
                "--timeout",
                "40",
            ],
        ),
    );
    let e = ready(&mut py, Duration::from_secs(20));
    assert_eq!(e.participants.len(), 40);
    assert_eq!(e.endpoints.len(), 401);
    let mut ls = Proc::spawn(
        "pollen ls",
        ns.pollen(&["ls", "--json", "--duration", "5", "--domain", &d]),
    );
    let status = ls.wait(Duration::from_secs(20));
    py.feed("", true);
    let _ = py.wait(Duration::from_secs(5));
    let log = format!("{}{}", brief(&mut ls), brief(&mut py));
    assert!(status.is_some_and(|s| s.success()), "{status:?}\n{log}");
    let v: Value = serde_json::from_str(&ls.out.join("\n"))
        .unwrap_or_else(|err| panic!("pollen ls --json: {err}\n{log}"));
    let listed: BTreeSet<&str> = v["participants"]
        .as_array()
        .expect("participants")
        .iter()
        .map(|p| p["guid_prefix"].as_str().expect("guid_prefix"))
        .collect();
    let missing: Vec<&String> = e
        .participants
        .iter()
        .filter(|p| !listed.contains(p.as_str()))
        .collect();
    // Brief summary first: the full listing is long.
    let summary = format!(
        "pollen ls listed {} participants, {} endpoints, {} topics",
        listed.len(),
        v["endpoints"].as_array().map_or(0, Vec::len),
        v["topics"].as_array().map_or(0, Vec::len)
    );
    assert!(
        missing.is_empty(),
        "{summary}; {} of the 40 Cyclone participants missing: {missing:?}\n{log}",
        missing.len()
    );
    let mut endpoints: BTreeMap<&str, (&str, &str, &str)> = BTreeMap::new();
    for x in v["endpoints"].as_array().expect("endpoints") {
        let s = |k: &str| x[k].as_str().unwrap_or_default();
        endpoints.insert(s("guid"), (s("topic"), s("kind"), s("type")));
    }
    let missing: Vec<&String> = e
        .endpoints
        .keys()
        .filter(|g| !endpoints.contains_key(g.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "{summary}; {} of the 401 Cyclone endpoints missing, e.g. {:?}\n{log}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert_eq!(endpoints.len(), 401, "{summary}: nothing else runs\n{log}");
    for (guid, (topic, kind)) in &e.endpoints {
        let (t, k, ty) = endpoints[guid.as_str()];
        assert_eq!((t, k), (topic.as_str(), kind.as_str()), "{guid}\n{log}");
        let want = if topic == "rt/chatter" {
            "std_msgs::msg::dds_::String_"
        } else {
            "scale::msg::Unrelated"
        };
        assert_eq!(ty, want, "{guid}\n{log}");
    }
    // A few topics by name, with their writer and reader counts.
    let topics: BTreeMap<&str, (&str, u64, u64)> = v["topics"]
        .as_array()
        .expect("topics")
        .iter()
        .map(|t| {
            let name = t["name"].as_str().unwrap_or_default();
            let ty = t["type"].as_str().unwrap_or_default();
            let w = t["writers"].as_u64().unwrap_or_default();
            let r = t["readers"].as_u64().unwrap_or_default();
            (name, (ty, w, r))
        })
        .collect();
    assert_eq!(topics.len(), 401, "{summary}\n{log}");
    let unrelated = "scale::msg::Unrelated";
    assert_eq!(
        topics.get("rt/chatter"),
        Some(&("std_msgs::msg::dds_::String_", 1, 0))
    );
    assert_eq!(topics.get("unrelated_0_0"), Some(&(unrelated, 1, 0)));
    assert_eq!(topics.get("unrelated_0_1"), Some(&(unrelated, 0, 1)));
    assert_eq!(topics.get("unrelated_39_8"), Some(&(unrelated, 1, 0)));
    assert_eq!(topics.get("unrelated_39_9"), Some(&(unrelated, 0, 1)));
    eprintln!("pollen_ls_lists_everything: {:?}", t0.elapsed());
}

/// The GUIDs in `pollen`'s refusal lines for `table` (a `Capacities` field), in order; panics
/// on a refusal line of another table, or one without the flag that raises it.
fn refusals(sub: &Proc, table: &str, flag: &str) -> Vec<String> {
    let mut guids = Vec::new();
    for l in &sub.err {
        let Some(rest) = l.strip_prefix("pollen: the ") else {
            continue;
        };
        let Some((t, rest)) = rest.split_once(" table is full; refused ") else {
            continue;
        };
        assert_eq!(t, table, "a refusal by another table: {l}");
        let (guid, tail) = rest.split_once(' ').unwrap_or((rest, ""));
        assert_eq!(tail, format!("(raise it with {flag})"), "{l}");
        guids.push(guid.to_string());
    }
    guids
}

/// The GUIDs scale.py deleted with --delete-after, from its `DELETED` line.
fn deleted(py: &Proc) -> Option<Vec<String>> {
    let line = py.out.iter().find_map(|l| l.strip_prefix("DELETED "))?;
    let v: Vec<Value> = serde_json::from_str(line).ok()?;
    v.iter().map(|g| g.as_str().map(str::to_string)).collect()
}

/// `pollen sub --max-remote-endpoints 8` first; then 6 Cyclone participants with 10 endpoints
/// each on unrelated topics (60, far beyond the table), and 2 s later the rt/chatter writer on
/// the last of them, whose other endpoints were all refused. The writer is relevant, so it
/// takes the place of an endpoint that matches nothing: every sample arrives, and the full
/// table is reported on stderr exactly once (the refusals are never silent, and never a flood).
#[test]
fn full_endpoint_table_keeps_the_writer() {
    require_cyclone_python();
    let t0 = Instant::now();
    let ns = Netns::new("evict");
    let dom = 5;
    let n = SAMPLES.to_string();
    let mut sub = ns.chatter_sub(dom, &["--max-remote-endpoints", "8"]);
    let mut py = Proc::spawn(
        "cyclone (6 participants)",
        ns.cyclone(
            dom,
            &[
                "--participants",
                "6",
                "--endpoints",
                "10",
                "--chatter",
                "writer",
                "--chatter-on",
                "last",
                "--chatter-delay",
                "2",
                "--count",
                &n,
                "--timeout",
                "45",
            ],
        ),
    );
    let e = ready(&mut py, Duration::from_secs(20));
    assert_eq!((e.participants.len(), e.endpoints.len()), (6, 60));
    check_chatter_sub(
        &mut sub,
        &mut py,
        SAMPLES,
        "a table of 8 among 61 endpoints",
    );
    let log = format!("{}{}", sub.transcript(), brief(&mut py));
    let refused = refusals(&sub, "remote_endpoints", "--max-remote-endpoints");
    assert_eq!(
        refused.len(),
        1,
        "the full table must be reported once: {refused:?}\n{log}"
    );
    assert!(
        e.endpoints.contains_key(&refused[0]),
        "refused something Cyclone did not create: {refused:?}\n{log}"
    );
    eprintln!("full_endpoint_table_keeps_the_writer: {:?}", t0.elapsed());
}

/// SEDP resync with Cyclone when room appears. `pollen sub --max-remote-endpoints 8` first;
/// 6 Cyclone participants with 10 unrelated endpoints each: Pollen keeps 8 and refuses the
/// rest (reported once), marking those participants incomplete. 3 s after READY Cyclone
/// deletes half of every participant's endpoints (Cyclone withdraws them with a key-only
/// DATA: the ENDPOINT_GUID alone), which makes room, so Pollen asks the SEDP writers of every
/// incomplete participant for their whole history again (a non-final ACKNACK from sequence
/// number 1, below what it acknowledged before, then the NACKs of the HEARTBEAT's range).
/// Cyclone answers by resending what it still has (and GAPs for the rest), so the table fills
/// again and overflows with endpoints that Cyclone announced before the deletion and never
/// since: new refusal lines prove that the ACKNACK was answered. 6 s after READY the
/// rt/chatter writer appears on the last participant, whose SEDP was truncated: every sample
/// arrives.
#[test]
fn full_endpoint_table_asks_again_when_room_appears() {
    require_cyclone_python();
    let t0 = Instant::now();
    let ns = Netns::new("resync");
    let dom = 6;
    let n = SAMPLES.to_string();
    let mut sub = ns.chatter_sub(dom, &["--max-remote-endpoints", "8"]);
    let mut py = Proc::spawn(
        "cyclone (6 participants, half deleted)",
        ns.cyclone(
            dom,
            &[
                "--participants",
                "6",
                "--endpoints",
                "10",
                "--delete-after",
                "3",
                "--chatter",
                "writer",
                "--chatter-on",
                "last",
                "--chatter-delay",
                "6",
                "--count",
                &n,
                "--timeout",
                "45",
            ],
        ),
    );
    let e = ready(&mut py, Duration::from_secs(20));
    assert_eq!((e.participants.len(), e.endpoints.len()), (6, 60));
    check_chatter_sub(
        &mut sub,
        &mut py,
        SAMPLES,
        "a table of 8, half of 60 deleted",
    );
    let log = format!("{}{}", sub.transcript(), brief(&mut py));
    let gone = deleted(&py).unwrap_or_else(|| panic!("no DELETED line\n{log}"));
    assert_eq!(gone.len(), 30, "{log}");
    let refused = refusals(&sub, "remote_endpoints", "--max-remote-endpoints");
    assert!(
        refused.iter().all(|g| e.endpoints.contains_key(g)),
        "refused something Cyclone did not create: {refused:?}\n{log}"
    );
    // The first refusal came with the first announcements; the table was full of unrelated
    // endpoints until the deletion, so any later one came after room appeared, about an
    // endpoint Cyclone had announced before and only sent again because Pollen asked.
    let again: Vec<&String> = refused[1.min(refused.len())..]
        .iter()
        .filter(|g| !gone.contains(g))
        .collect();
    assert!(
        !again.is_empty(),
        "after the deletion nothing was refused again: Pollen did not ask Cyclone's SEDP \
         writers for their history again, or Cyclone did not answer ({refused:?})\n{log}"
    );
    eprintln!(
        "full_endpoint_table_asks_again_when_room_appears: {:?}",
        t0.elapsed()
    );
}

/// SEDP resync with Cyclone for a refused match. `pollen sub --max-matches 1`; Cyclone has a
/// decoy rt/chatter writer (which never writes) when Pollen starts, so the one match is taken;
/// 2 s after READY the real rt/chatter writer appears on a participant of its own and its
/// match is refused (reported once, naming it). 4 s after READY the decoy is deleted: the
/// match ends, and Pollen asks the real writer's participant for its SEDP history again;
/// Cyclone resends the writer's announcement, the match is formed, and every sample (written
/// 6 s after READY) arrives.
#[test]
fn full_match_table_asks_again_when_a_match_ends() {
    require_cyclone_python();
    let t0 = Instant::now();
    let ns = Netns::new("matches");
    let dom = 7;
    let n = SAMPLES.to_string();
    let mut sub = ns.chatter_sub(dom, &["--max-matches", "1"]);
    let mut py = Proc::spawn(
        "cyclone (decoy and writer)",
        ns.cyclone(
            dom,
            &[
                "--participants",
                "1",
                "--endpoints",
                "0",
                "--decoy",
                "--decoy-delete",
                "4",
                "--chatter",
                "writer",
                "--chatter-on",
                "new",
                "--chatter-delay",
                "2",
                "--write-after",
                "6",
                "--count",
                &n,
                "--timeout",
                "45",
            ],
        ),
    );
    let e = ready(&mut py, Duration::from_secs(20));
    assert_eq!((e.participants.len(), e.endpoints.len()), (1, 1));
    check_chatter_sub(&mut sub, &mut py, SAMPLES, "a match table of 1");
    let log = format!("{}{}", sub.transcript(), brief(&mut py));
    assert!(
        py.out.iter().any(|l| l == "DECOY-DELETED"),
        "the decoy was not deleted\n{log}"
    );
    let writer = chatter_writer(&mut py).unwrap_or_else(|| panic!("no CHATTER line\n{log}"));
    let refused = refusals(&sub, "matches", "--max-matches");
    assert_eq!(
        refused,
        vec![writer],
        "the real writer's match must be refused, once\n{log}"
    );
    eprintln!(
        "full_match_table_asks_again_when_a_match_ends: {:?}",
        t0.elapsed()
    );
}
