//! The `pollen-wasi` component under Wasmtime, on loopback, against real peers: the native
//! `pollen` over UDP unicast peers (both ways) and over TCP, and Cyclone DDS 11 (Python
//! `cyclonedds`, ROS 2 std_msgs/String) both ways. Reliable topics, nothing lost, bounded in
//! time; every child process is killed when its guard drops.
//!
//! Needs `wasmtime` ($WASMTIME, ~/.cargo/bin or PATH) and the `wasm32-wasip2` target; without
//! either the tests print SKIPPED and pass (scripts/test.sh installs both). The component is
//! built once per run into `target/wasi-build`, a target directory of its own so that the
//! build does not wait on the lock of the one running the tests.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

/// A skipped test says so in the output of a plain `cargo test` (past the harness's capture),
/// and fails where the tools are required (`pollen_tests::skip`).
macro_rules! skip {
    ($($arg:tt)*) => {{
        let why = format!($($arg)*);
        pollen_tests::skip(why.trim_start_matches("SKIPPED: "));
    }};
}

/// Samples per direction.
const N: usize = 200;

/// A domain of its own per test and test process; the slots (7, 8, 9, 18, 19 of the 20 the
/// interop tests share) are not used by the other test files.
fn domain(slot: u32) -> u32 {
    20 + (std::process::id() % 10) * 20 + slot
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The cargo target directory of this test binary (`<target>/debug/deps/<test>`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| workspace().join("target"))
}

fn wasmtime() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("WASMTIME") {
        return Some(PathBuf::from(p));
    }
    let home = std::env::var("HOME").unwrap_or_default();
    let cargo_bin = Path::new(&home).join(".cargo/bin/wasmtime");
    if cargo_bin.exists() {
        return Some(cargo_bin);
    }
    let path = std::env::var("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("wasmtime"))
        .find(|p| p.exists())
}

fn have_wasm_target() -> bool {
    let out = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .ok();
    out.is_some_and(|o| {
        let root = String::from_utf8_lossy(&o.stdout).trim().to_string();
        Path::new(&root).join("lib/rustlib/wasm32-wasip2").exists()
    })
}

/// The component, built once; `None` (after a SKIPPED line) when the tools are missing.
fn component() -> Option<&'static (PathBuf, PathBuf)> {
    static BUILT: OnceLock<Option<(PathBuf, PathBuf)>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let Some(wasmtime) = wasmtime() else {
                skip!(
                    "SKIPPED: wasmtime not found ($WASMTIME, ~/.cargo/bin, PATH); \
                     install it with `cargo install wasmtime-cli@48.0.8 --locked`"
                );
                return None;
            };
            if !have_wasm_target() {
                skip!(
                    "SKIPPED: the wasm32-wasip2 target is not installed; \
                     `rustup target add wasm32-wasip2`"
                );
                return None;
            }
            let dir = target_dir().join("wasi-build");
            let out = Command::new(env!("CARGO"))
                .current_dir(workspace())
                .env("CARGO_TARGET_DIR", &dir)
                .args([
                    "build",
                    "-p",
                    "pollen-component",
                    "--target",
                    "wasm32-wasip2",
                    "--release",
                ])
                .output()
                .expect("run cargo");
            assert!(
                out.status.success(),
                "building the component failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let wasm = dir.join("wasm32-wasip2/release/pollen-wasi.wasm");
            assert!(wasm.exists(), "no component at {}", wasm.display());
            Some((wasmtime, wasm))
        })
        .as_ref()
}

/// The native `pollen`: the workspace build's, else built into `target/wasi-build`.
fn native_pollen() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let existing = target_dir().join("debug/pollen");
        if existing.exists() {
            return existing;
        }
        let dir = target_dir().join("wasi-build");
        let st = Command::new(env!("CARGO"))
            .current_dir(workspace())
            .env("CARGO_TARGET_DIR", &dir)
            .args(["build", "-p", "pollen-tool", "--bin", "pollen"])
            .status()
            .expect("run cargo");
        assert!(st.success(), "building pollen failed");
        dir.join("debug/pollen")
    })
    .clone()
}

/// `wasmtime run` of the component with the network (all of it: the component itself stays
/// on loopback, binding 127.0.0.1 and refusing other destinations).
fn wasm(args: &[&str]) -> Option<Command> {
    let (wasmtime, component) = component()?;
    let mut c = Command::new(wasmtime);
    c.args(["run", "-S", "inherit-network", "-S", "allow-ip-name-lookup"])
        .arg(component)
        .args(args);
    Some(c)
}

/// The native `pollen`, pinned to loopback.
fn pollen(args: &[&str]) -> Command {
    let mut c = Command::new(native_pollen());
    c.args(args)
        .args(["--interface", "127.0.0.1"])
        .env("POLLEN_INTERFACE", "127.0.0.1");
    c
}

/// A Cyclone DDS configuration that keeps Cyclone on `lo` with unicast discovery on the
/// well-known ports (shared/PEERS.md).
fn cyclone_uri() -> String {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cyclone-lo-wasi.xml");
    let xml = r#"<CycloneDDS xmlns="https://cdds.io/config"><Domain id="any">
  <General><Interfaces><NetworkInterface name="lo"/></Interfaces><AllowMulticast>false</AllowMulticast></General>
  <Discovery><ParticipantIndex>auto</ParticipantIndex><Peers><Peer address="127.0.0.1"/></Peers></Discovery>
</Domain></CycloneDDS>
"#;
    std::fs::write(&path, xml).expect("write the Cyclone configuration");
    format!("file://{}", path.display())
}

fn peers_python() -> PathBuf {
    std::env::var("POLLEN_PEERS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace().join(".venv-peers/bin/python"))
}

/// A child process, killed and reaped on drop; its output is collected by threads.
struct Proc {
    name: String,
    child: Child,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
    out: Vec<String>,
    err: Vec<String>,
    status: Option<ExitStatus>,
}

fn lines(r: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(r).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    rx
}

impl Proc {
    fn spawn(name: &str, mut cmd: Command) -> Proc {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc {
            name: name.to_string(),
            stdout: lines(child.stdout.take().expect("stdout")),
            stderr: lines(child.stderr.take().expect("stderr")),
            child,
            out: Vec::new(),
            err: Vec::new(),
            status: None,
        }
    }

    fn feed(&mut self, text: &str) {
        use std::io::Write;
        if let Some(mut stdin) = self.child.stdin.take() {
            stdin.write_all(text.as_bytes()).expect("write stdin");
        }
    }

    fn collect(&mut self) {
        self.out.extend(self.stdout.try_iter());
        self.err.extend(self.stderr.try_iter());
    }

    /// Waits at most `limit` for the exit; kills the child and returns None when it is late.
    fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + limit;
        loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                self.status = Some(s);
                std::thread::sleep(Duration::from_millis(50));
                self.collect();
                return Some(s);
            }
            if Instant::now() >= end {
                let _ = self.child.kill();
                self.status = self.child.wait().ok();
                std::thread::sleep(Duration::from_millis(50));
                self.collect();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn transcript(&mut self) -> String {
        self.collect();
        format!(
            "--- {0} stdout ---\n{1}\n--- {0} stderr ---\n{2}\n",
            self.name,
            self.out.join("\n"),
            self.err.join("\n")
        )
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs a reader and a writer to completion (at most `limit` each) and returns the reader's
/// output lines; panics with both transcripts when either fails.
fn exchange(reader: Proc, writer: Proc, limit: Duration) -> Vec<String> {
    exchange_logs(reader, writer, limit).0
}

/// Like [`exchange`], and also the stderr lines of the reader and of the writer.
fn exchange_logs(
    mut reader: Proc,
    mut writer: Proc,
    limit: Duration,
) -> (Vec<String>, Vec<String>, Vec<String>) {
    let w = writer.wait(limit);
    let r = reader.wait(limit);
    let log = format!("{}{}", writer.transcript(), reader.transcript());
    assert!(w.is_some_and(|s| s.success()), "writer: {w:?}\n{log}");
    assert!(r.is_some_and(|s| s.success()), "reader: {r:?}\n{log}");
    (reader.out.clone(), reader.err.clone(), writer.err.clone())
}

/// Asserts that a component's `-v` statistics show traffic over TCP and none over UDP.
fn assert_tcp_only(stderr: &[String]) {
    let stats = stderr
        .iter()
        .find(|l| l.contains("DriverStats"))
        .unwrap_or_else(|| panic!("no statistics in\n{}", stderr.join("\n")));
    assert!(
        stats.contains("datagrams_received: 0,") && stats.contains("datagrams_sent: 0,"),
        "UDP was used: {stats}"
    );
    assert!(
        !stats.contains("stream_bytes_received: 0,") && !stats.contains("stream_bytes_sent: 0,"),
        "no TCP traffic: {stats}"
    );
}

fn keyed_lines(n: usize, baggage: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("seq={i} keyval=0 baggage={baggage} bytes"))
        .collect()
}

const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn udp_both_ways_with_native_pollen() {
    let Some(_) = component() else { return };
    let d = domain(18).to_string();
    let n = N.to_string();

    // Native pollen → component: N distinct strings from stdin.
    let sub = Proc::spawn(
        "wasm sub",
        wasm(&["sub", "lines", "-n", &n, "--timeout", "50", "-d", &d]).expect("component"),
    );
    let mut publ = Proc::spawn(
        "pollen pub",
        pollen(&[
            "pub",
            "lines",
            "--timeout",
            "50",
            "--no-multicast",
            "-d",
            &d,
        ]),
    );
    let input: String = (0..N).map(|i| format!("line {i}\n")).collect();
    publ.feed(&input);
    let got = exchange(sub, publ, LIMIT);
    let expected: Vec<String> = (0..N).map(|i| format!("line {i}")).collect();
    assert_eq!(got, expected);

    // Component → native pollen: KeyedSeq, whose sequence field shows order and loss.
    let sub = Proc::spawn(
        "pollen sub",
        pollen(&[
            "sub",
            "keyed",
            "--type",
            "keyedseq",
            "-n",
            &n,
            "--timeout",
            "50",
            "--no-multicast",
            "-d",
            &d,
        ]),
    );
    let publ = Proc::spawn(
        "wasm pub",
        wasm(&[
            "pub",
            "keyed",
            "--type",
            "keyedseq",
            "--size",
            "100",
            "-n",
            &n,
            "--timeout",
            "50",
            "-d",
            &d,
        ])
        .expect("component"),
    );
    assert_eq!(exchange(sub, publ, LIMIT), keyed_lines(N, 100));
}

#[test]
fn ros_string_both_ways_with_cyclone_python() {
    let Some(_) = component() else { return };
    let python = peers_python();
    if !python.exists() {
        skip!(
            "SKIPPED: no Python with cyclonedds at {} (scripts/test.sh stage peers)",
            python.display()
        );
        return;
    }
    let script = workspace().join("tool/tests/peers/ros_string.py");
    let d = domain(19).to_string();
    let py = |args: &[&str]| {
        let mut c = Command::new(&python);
        c.arg(&script)
            .args(args)
            .env("CYCLONEDDS_URI", cyclone_uri())
            .env("DOMAIN", &d);
        c
    };
    let count = 50;
    let n = count.to_string();

    // Cyclone → component.
    let sub = Proc::spawn(
        "wasm sub --ros",
        wasm(&[
            "sub",
            "chatter",
            "--ros",
            "-n",
            &n,
            "--timeout",
            "50",
            "-d",
            &d,
        ])
        .expect("component"),
    );
    let publ = Proc::spawn("cyclone pub", py(&["pub", "rt/chatter", &n, "50"]));
    let expected: Vec<String> = (0..count).map(|i| format!("msg {i}")).collect();
    assert_eq!(exchange(sub, publ, LIMIT), expected);

    // Component → Cyclone.
    let sub = Proc::spawn("cyclone sub", py(&["sub", "rt/chatter", &n, "50"]));
    let publ = Proc::spawn(
        "wasm pub --ros",
        wasm(&[
            "pub",
            "chatter",
            "hello from wasm",
            "--ros",
            "-n",
            &n,
            "--timeout",
            "50",
            "-d",
            &d,
        ])
        .expect("component"),
    );
    assert_eq!(
        exchange(sub, publ, LIMIT),
        vec!["hello from wasm".to_string(); count]
    );
}

/// Whether the native `pollen` has `--transport` (TCP support in the mio driver).
fn native_has_tcp() -> bool {
    Command::new(native_pollen())
        .args(["sub", "--help"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("--transport"))
}

#[test]
fn tcp_both_ways() {
    let Some(_) = component() else { return };
    let d = domain(9).to_string();
    let n = N.to_string();
    let native = native_has_tcp();
    if !native {
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "NOTE: the native pollen has no --transport yet; testing component <-> component over TCP"
        );
    }
    let tcp_sub = |topic: &str| -> Proc {
        let args = [
            "sub",
            topic,
            "--type",
            "keyedseq",
            "-n",
            &n,
            "--timeout",
            "50",
            "-d",
            &d,
            "--transport",
            "tcp",
            "-v",
        ];
        if native {
            Proc::spawn("pollen sub tcp", pollen(&args))
        } else {
            Proc::spawn("wasm sub tcp", wasm(&args).expect("component"))
        }
    };
    let wasm_pub = |topic: &str| {
        Proc::spawn(
            "wasm pub tcp",
            wasm(&[
                "pub",
                topic,
                "--type",
                "keyedseq",
                "--size",
                "64",
                "-n",
                &n,
                "--timeout",
                "50",
                "-d",
                &d,
                "--transport",
                "tcp",
                "-v",
            ])
            .expect("component"),
        )
    };
    // Component → peer.
    let sub = tcp_sub("tcp-a");
    let publ = wasm_pub("tcp-a");
    let (got, _, pub_err) = exchange_logs(sub, publ, LIMIT);
    assert_eq!(got, keyed_lines(N, 64));
    assert_tcp_only(&pub_err);

    // Peer → component.
    let sub = Proc::spawn(
        "wasm sub tcp",
        wasm(&[
            "sub",
            "tcp-b",
            "--type",
            "keyedseq",
            "-n",
            &n,
            "--timeout",
            "50",
            "-d",
            &d,
            "--transport",
            "tcp",
            "-v",
        ])
        .expect("component"),
    );
    let publ = if native {
        Proc::spawn(
            "pollen pub tcp",
            pollen(&[
                "pub",
                "tcp-b",
                "--type",
                "keyedseq",
                "--size",
                "64",
                "-n",
                &n,
                "--timeout",
                "50",
                "-d",
                &d,
                "--transport",
                "tcp",
            ]),
        )
    } else {
        wasm_pub("tcp-b")
    };
    let (got, sub_err, _) = exchange_logs(sub, publ, LIMIT);
    assert_eq!(got, keyed_lines(N, 64));
    assert_tcp_only(&sub_err);
}

#[test]
fn ddsperf_ping_against_the_component_pong() {
    let Some(_) = component() else { return };
    const DDSPERF: &str = "/usr/bin/ddsperf";
    if !Path::new(DDSPERF).exists() {
        skip!("SKIPPED: Cyclone DDS ddsperf not found at {DDSPERF} (scripts/test.sh stage peers)");
        return;
    }
    let d = domain(8).to_string();
    let mut pong = Proc::spawn(
        "wasm pong",
        wasm(&["pong", "-D", "30", "-d", &d, "-v"]).expect("component"),
    );
    let mut ping = Command::new(DDSPERF);
    ping.env("CYCLONEDDS_URI", cyclone_uri())
        .args(["-i", &d, "-D", "8", "ping"]);
    let mut ping = Proc::spawn("ddsperf ping", ping);
    let status = ping.wait(Duration::from_secs(25));
    pong.wait(Duration::from_millis(100));
    let log = format!("{}{}", ping.transcript(), pong.transcript());
    assert!(
        status.is_some_and(|s| s.success()),
        "ddsperf: {status:?}\n{log}"
    );
    // ddsperf names the component after its USER_DATA (`wasm:<pid>`) and prints a latency
    // line per second with the count of pongs; it reports endpoints that did not match.
    assert!(
        ping.out
            .iter()
            .any(|l| l.contains("wasm:") && l.contains("cnt") && !l.contains("cnt 0")),
        "no pongs measured\n{log}"
    );
    assert!(
        !ping
            .out
            .iter()
            .chain(&ping.err)
            .any(|l| l.contains("error")),
        "{log}"
    );
}
