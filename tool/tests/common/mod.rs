//! Process helpers for the network tests: every child is killed when its guard drops (also
//! when an assertion fails), every wait is bounded, every participant is pinned to loopback.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

/// A domain id of its own for each test (`slot` < 20, unique across the test files, which
/// nextest may run at once) and each test process, so that parallel tests, repeated runs and
/// other DDS programs on the host (domain 0) do not hear each other.
pub fn domain(slot: u32) -> u32 {
    assert!(slot < 20);
    20 + (std::process::id() % 10) * 20 + slot
}

/// The `pollen` binary, pinned to loopback.
pub fn pollen(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pollen"));
    c.args(args)
        .args(["--interface", "127.0.0.1"])
        .env("POLLEN_INTERFACE", "127.0.0.1");
    c
}

/// A Cyclone DDS configuration that keeps Cyclone (0.10 and 11) on `lo` with unicast
/// discovery on the well-known ports (shared/PEERS.md).
pub fn cyclone_uri() -> String {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join("cyclone-lo.xml");
    let xml = r#"<CycloneDDS xmlns="https://cdds.io/config"><Domain id="any">
  <General><Interfaces><NetworkInterface name="lo"/></Interfaces><AllowMulticast>false</AllowMulticast></General>
  <Discovery><ParticipantIndex>auto</ParticipantIndex><Peers><Peer address="127.0.0.1"/></Peers></Discovery>
</Domain></CycloneDDS>
"#;
    std::fs::write(&path, xml).expect("write the Cyclone configuration");
    format!("file://{}", path.display())
}

/// A running child: killed and reaped on drop. Its stdout and stderr lines are collected by
/// threads.
pub struct Proc {
    pub name: String,
    child: Child,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
    pub out: Vec<String>,
    pub err: Vec<String>,
    status: Option<ExitStatus>,
}

fn lines(r: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(r).lines() {
            let Ok(l) = l else { break };
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    rx
}

impl Proc {
    /// Starts `cmd` with piped stdin, stdout and stderr.
    pub fn spawn(name: &str, mut cmd: Command) -> Proc {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let stdout = lines(child.stdout.take().unwrap());
        let stderr = lines(child.stderr.take().unwrap());
        Proc {
            name: name.to_string(),
            child,
            stdout,
            stderr,
            out: Vec::new(),
            err: Vec::new(),
            status: None,
        }
    }

    /// The child's process id (for signals).
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Writes to the child's stdin; `close` ends it.
    pub fn feed(&mut self, text: &str, close: bool) {
        if let Some(stdin) = self.child.stdin.as_mut() {
            stdin.write_all(text.as_bytes()).expect("write stdin");
        }
        if close {
            drop(self.child.stdin.take());
        }
    }

    fn collect(&mut self) {
        self.out.extend(self.stdout.try_iter());
        self.err.extend(self.stderr.try_iter());
    }

    /// Waits for the exit, at most `limit`; None if it is still running (it is then killed).
    pub fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + limit;
        loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                self.status = Some(s);
                // Let the reader threads drain the pipes.
                std::thread::sleep(Duration::from_millis(50));
                self.collect();
                return Some(s);
            }
            if Instant::now() >= end {
                self.kill();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Like [`Proc::wait_for_line`], on standard error.
    pub fn wait_for_err_line(&mut self, limit: Duration, f: impl Fn(&str) -> bool) -> bool {
        let end = Instant::now() + limit;
        loop {
            self.collect();
            if self.err.iter().any(|l| f(l)) {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until a stdout line satisfies `f`, at most `limit`.
    pub fn wait_for_line(&mut self, limit: Duration, f: impl Fn(&str) -> bool) -> bool {
        let end = Instant::now() + limit;
        loop {
            self.collect();
            if self.out.iter().any(|l| f(l)) {
                return true;
            }
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            if let Ok(l) = self
                .stdout
                .recv_timeout(left.min(Duration::from_millis(100)))
            {
                self.out.push(l);
            }
        }
    }

    /// Kills the child (if running) and collects its output.
    pub fn kill(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
        std::thread::sleep(Duration::from_millis(50));
        self.collect();
    }

    /// Everything it printed, for assertion messages.
    pub fn transcript(&mut self) -> String {
        self.collect();
        format!(
            "--- {} stdout ---\n{}\n--- {} stderr ---\n{}\n",
            self.name,
            self.out.join("\n"),
            self.name,
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

/// Whether an executable exists; if not, says loudly that the test is skipped.
pub fn have(path: &str, what: &str) -> bool {
    if std::path::Path::new(path).exists() {
        return true;
    }
    pollen_tests::skip(&format!(
        "{what} not found at {path}; install it to run this test (shared/PEERS.md)"
    ));
    false
}

/// The Python with the `cyclonedds` package: $POLLEN_PEERS_PYTHON or `.venv-peers` at the
/// workspace root.
pub fn peers_python() -> String {
    std::env::var("POLLEN_PEERS_PYTHON").unwrap_or_else(|_| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        root.join(".venv-peers/bin/python").display().to_string()
    })
}

/// Builds (once per test process) or finds the Fast DDS peer (tests/peers/fastdds_peer.cpp):
/// $POLLEN_FASTDDS_PEER, else target/peers/fastdds_peer, built with g++ when missing or older
/// than its source. None, with a SKIPPED message, without g++ or the Fast DDS headers.
pub fn fastdds_peer() -> Option<PathBuf> {
    static PEER: OnceLock<Option<PathBuf>> = OnceLock::new();
    PEER.get_or_init(|| {
        if let Ok(p) = std::env::var("POLLEN_FASTDDS_PEER") {
            let p = PathBuf::from(p);
            if p.exists() {
                return Some(p);
            }
            eprintln!("POLLEN_FASTDDS_PEER={} does not exist", p.display());
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let src = root.join("tests/peers/fastdds_peer.cpp");
        let out = root.join("target/peers/fastdds_peer");
        let fresh = |o: &Path| {
            let m = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
            matches!((m(o), m(&src)), (Some(a), Some(b)) if a >= b)
        };
        if fresh(&out) {
            return Some(out);
        }
        if !Path::new("/usr/include/fastdds/dds/domain/DomainParticipant.hpp").exists() {
            pollen_tests::skip("Fast DDS headers not installed (libfastrtps-dev, shared/PEERS.md)");
            return None;
        }
        std::fs::create_dir_all(out.parent()?).ok()?;
        // Build beside the target and rename, so that parallel test processes never run a
        // half-written binary.
        let tmp = out.with_extension(format!("tmp{}", std::process::id()));
        let built = Command::new("g++")
            .args(["-std=c++17", "-O1"])
            .arg(&src)
            .arg("-o")
            .arg(&tmp)
            .args(["-lfastrtps", "-lfastcdr"])
            .status();
        match built {
            Ok(s) if s.success() => {
                std::fs::rename(&tmp, &out).ok()?;
                Some(out)
            }
            other => {
                let _ = std::fs::remove_file(&tmp);
                pollen_tests::skip(&format!(
                    "cannot build the Fast DDS peer with g++: {other:?}"
                ));
                None
            }
        }
    })
    .clone()
}

/// Whether the tests run as root (network namespaces need it).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// Runs a command to completion (`args[0]` is the program); panics with its stderr if it fails.
pub fn run(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const IP: &str = "ip";

/// A network namespace whose only interface is `lo` (up, with multicast as a LAN has it);
/// deleted on drop, also when the test fails. Declare it before the processes that run in it,
/// so that they are killed (dropped) first.
pub struct Netns {
    pub name: String,
}

pub fn ip(args: &[&str]) {
    let out = Command::new(IP)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run `{IP}` (iproute2, needed for network namespaces): {e}")
        });
    assert!(
        out.status.success(),
        "`ip {}` failed ({}): {} (the namespace tests need root and iproute2)",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

impl Netns {
    pub fn new(tag: &str) -> Netns {
        let name = format!("pollen-{}-{tag}", std::process::id());
        // A namespace left by an earlier, killed, run of this very process id.
        let _ = Command::new(IP)
            .args(["netns", "del", &name])
            .stderr(Stdio::null())
            .status();
        ip(&["netns", "add", &name]);
        let ns = Netns { name };
        ip(&["-n", &ns.name, "link", "set", "lo", "up"]);
        ip(&["-n", &ns.name, "link", "set", "lo", "multicast", "on"]);
        ip(&["-n", &ns.name, "route", "add", "224.0.0.0/4", "dev", "lo"]);
        ns
    }

    /// `program args` inside the namespace, with no DDS configuration from our environment.
    pub fn command(&self, program: &str, args: &[&str]) -> Command {
        let mut c = Command::new(IP);
        c.args(["netns", "exec", &self.name, program])
            .args(args)
            .env_remove("CYCLONEDDS_URI")
            .env_remove("POLLEN_INTERFACE")
            .env_remove("ROS_DOMAIN_ID");
        c
    }

    /// `pollen args` inside the namespace: its defaults, no interface or peer flags.
    pub fn pollen(&self, args: &[&str]) -> Command {
        self.command(env!("CARGO_BIN_EXE_pollen"), args)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new(IP)
            .args(["netns", "del", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}
