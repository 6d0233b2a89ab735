//! Real Ethernet frames: a network namespace of our own with a TAP device in it; smoltcp (in
//! this process) drives the TAP, native peers run inside the namespace on the Linux side of
//! it. Pollen on smoltcp then talks to the native `pollen` tool and to Cyclone DDS's `ddsperf`
//! (0.10): discovery by multicast and data both ways, reliable, nothing lost.
//!
//! Nothing leaves the namespace: it holds only `lo` and the TAP, and every native peer is
//! pinned to the TAP's address. The namespace is deleted when the test ends, also on failure
//! (a Drop guard). Skipped, with a message, only when not root or when `ip` is missing.

// geteuid(2) and setns(2): FFI calls, nothing else.
#![allow(unsafe_code)]

use pollen_engine::wire::{GuidPrefix, Time};
use pollen_engine::{
    Config, Engine, History, Instant, ReaderHandle, ReaderQos, Reliability, TopicSpec, WriteError,
    WriterHandle, WriterQos,
};
use pollen_smoltcp::smoltcp::iface::SocketStorage;
use pollen_smoltcp::smoltcp::phy::{self, Medium, TunTapInterface};
use pollen_smoltcp::{Driver, Memory, NetConfig, TcpStorage, UdpStorage};
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The Linux end of the TAP (where native peers live) and smoltcp's end.
const LINUX_ADDR: &str = "10.213.7.1";
const SMOLTCP_ADDR: [u8; 4] = [10, 213, 7, 2];
const TAP: &str = "ptap0";
const TCP: usize = 2;

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(tool))
            .find(|p| p.is_file())
    })
}

/// Why this machine cannot run the test, if it cannot.
fn cannot_run() -> Option<&'static str> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root (creating a network namespace and a TAP device needs root)");
    }
    if which("ip").is_none() {
        return Some("the `ip` tool (iproute2) is missing");
    }
    None
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A network namespace holding a TAP device with the Linux-side address; deleted on drop.
struct Namespace {
    name: String,
}

impl Namespace {
    fn create(slot: &str) -> Namespace {
        let name = format!("pollen-smoltcp-{}-{slot}", std::process::id());
        // A namespace left by a killed earlier run of this process id: remove it first.
        let _ = Command::new("ip")
            .args(["netns", "del", &name])
            .stderr(Stdio::null())
            .status();
        ip(&["netns", "add", &name]);
        let ns = Namespace { name };
        ns.exec_ok(&["ip", "link", "set", "lo", "up"]);
        ns.exec_ok(&["ip", "tuntap", "add", "dev", TAP, "mode", "tap"]);
        ns.exec_ok(&["ip", "addr", "add", &format!("{LINUX_ADDR}/24"), "dev", TAP]);
        ns.exec_ok(&["ip", "link", "set", TAP, "up"]);
        ns
    }

    /// A command run inside the namespace.
    fn exec(&self, argv: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).args(argv);
        c
    }

    fn exec_ok(&self, argv: &[&str]) {
        let out = self.exec(argv).output().expect("run ip netns exec");
        assert!(
            out.status.success(),
            "{}: {}",
            argv.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Opens the TAP from this process: the calling thread enters the namespace (setns only
    /// moves the calling thread), attaches to the device, and returns to where it was.
    fn open_tap(&self) -> TunTapInterface {
        let here = File::open("/proc/thread-self/ns/net").expect("open own namespace");
        let there = File::open(format!("/run/netns/{}", self.name)).expect("open namespace");
        // SAFETY: setns with a namespace fd we hold open; it only affects this thread.
        let r = unsafe { libc::setns(there.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(r, 0, "setns: {}", io::Error::last_os_error());
        let tap = TunTapInterface::new(TAP, Medium::Ethernet);
        // SAFETY: as above, back to the namespace this thread started in.
        let r = unsafe { libc::setns(here.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(r, 0, "setns back: {}", io::Error::last_os_error());
        tap.expect("attach to the TAP device")
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        // Deleting the namespace destroys the TAP inside it.
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// A child process: killed on drop; its output is collected by threads.
struct Proc {
    name: String,
    child: Child,
    lines: mpsc::Receiver<String>,
    out: Vec<String>,
}

impl Proc {
    fn spawn(name: &str, mut cmd: Command) -> Proc {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let (tx, lines) = mpsc::channel();
        let read = |r: Box<dyn io::Read + Send>, tag: &'static str| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for l in BufReader::new(r).lines().map_while(Result::ok) {
                    if tx.send(format!("{tag}{l}")).is_err() {
                        break;
                    }
                }
            });
        };
        read(Box::new(child.stdout.take().unwrap()), "");
        read(Box::new(child.stderr.take().unwrap()), "stderr: ");
        Proc {
            name: name.to_string(),
            child,
            lines,
            out: Vec::new(),
        }
    }

    fn collect(&mut self) -> &[String] {
        self.out.extend(self.lines.try_iter());
        &self.out
    }

    fn exited(&mut self) -> Option<bool> {
        self.child
            .try_wait()
            .expect("try_wait")
            .map(|s| s.success())
    }

    fn transcript(&mut self) -> String {
        std::thread::sleep(Duration::from_millis(50));
        self.collect();
        format!("--- {} ---\n{}\n", self.name, self.out.join("\n"))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The native `pollen` tool: next to this test binary when the workspace was built (cargo
/// test --workspace builds it), else built now.
fn pollen_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join("pollen");
    if !bin.is_file() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "pollen-tool", "--bin", "pollen"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cannot build the pollen tool");
    }
    assert!(bin.is_file(), "no pollen binary at {}", bin.display());
    bin
}

/// XCDR1 little-endian encoding of a one-string struct.
fn cdr_string(s: &str) -> Vec<u8> {
    let mut v = vec![0, 1, 0, 0];
    v.extend_from_slice(&(s.len() as u32 + 1).to_le_bytes());
    v.extend_from_slice(s.as_bytes());
    v.push(0);
    let pad = (4 - v.len() % 4) % 4;
    v.resize(v.len() + pad, 0);
    v[3] = pad as u8;
    v
}

fn decode_cdr_string(p: &[u8]) -> Option<String> {
    let n = u32::from_le_bytes(p.get(4..8)?.try_into().ok()?) as usize;
    let s = p.get(8..8 + n.checked_sub(1)?)?;
    String::from_utf8(s.to_vec()).ok()
}

/// ddsperf's KeyedSeq { u32 seq; @key u32 keyval; sequence<octet> baggage; }.
fn keyed_seq(seq: u32, keyval: u32, baggage: usize) -> Vec<u8> {
    let mut v = vec![0, 1, 0, 0];
    v.extend_from_slice(&seq.to_le_bytes());
    v.extend_from_slice(&keyval.to_le_bytes());
    v.extend_from_slice(&(baggage as u32).to_le_bytes());
    v.resize(v.len() + baggage, 0xab);
    let pad = (4 - v.len() % 4) % 4;
    v.resize(v.len() + pad, 0);
    v[3] = pad as u8;
    v
}

/// Pollen on smoltcp on the TAP, with one writer and one reader.
struct Participant {
    engine: Box<Engine<'static>>,
    driver: Driver<'static, TunTapInterface, TCP>,
    fd: RawFd,
    start: std::time::Instant,
    writer: WriterHandle,
    reader: ReaderHandle,
}

fn leak<T>(v: T) -> &'static mut T {
    Box::leak(Box::new(v))
}

impl Participant {
    fn new(
        tap: TunTapInterface,
        write: &TopicSpec<'_>,
        read: &TopicSpec<'_>,
        prefix: u8,
    ) -> Participant {
        let mut c = Config::new(GuidPrefix([
            0x50, 0x4f, 0x4c, prefix, 1, 2, 3, 4, 5, 6, 7, 8,
        ]));
        c.unicast_address = SMOLTCP_ADDR;
        let start = std::time::Instant::now();
        let mut engine = Box::new(Engine::new(c, Instant(0)).expect("config"));
        let udp = || leak(UdpStorage::<32, 65_536, 65_536>::new()).buffers();
        let memory = Memory {
            sockets: leak([SocketStorage::EMPTY; 3 + TCP]),
            multicast: udp(),
            metatraffic: udp(),
            user: udp(),
            tcp: core::array::from_fn(|_| leak(TcpStorage::<4096, 4096, 4096>::new()).buffers()),
            transmit: Box::leak(vec![0u8; 1472].into_boxed_slice()),
        };
        let net = NetConfig {
            mac: [0x02, 0x50, 0x4f, 0x4c, 0, prefix],
            prefix_len: 24,
            gateway: None,
            random_seed: std::process::id() as u64,
        };
        let fd = tap.as_raw_fd();
        let driver = Driver::new(tap, net, &engine, memory, Instant(0)).expect("driver");
        let wq = WriterQos {
            reliability: Reliability::Reliable,
            history: History::KeepAll,
            ..WriterQos::default()
        };
        let rq = ReaderQos {
            reliability: Reliability::Reliable,
            history: History::KeepAll,
            ..ReaderQos::default()
        };
        let writer = engine.create_writer(Instant(0), write, &wq).unwrap();
        let reader = engine.create_reader(Instant(0), read, &rq).unwrap();
        Participant {
            engine,
            driver,
            fd,
            start,
            writer,
            reader,
        }
    }

    fn now(&self) -> Instant {
        Instant(self.start.elapsed().as_micros() as u64)
    }

    /// One turn of the loop: poll, drop events, then sleep until the deadline or a frame.
    fn turn(&mut self) {
        let now = self.now();
        let deadline = self.driver.poll(now, &mut self.engine);
        while self.driver.poll_event(&mut self.engine).is_some() {}
        let wait = deadline.map_or(20_000, |d| d.0.saturating_sub(now.0).min(20_000));
        if wait > 0 {
            let _ = phy::wait(self.fd, Some(Duration::from_micros(wait).into()));
        }
    }

    /// Writes what `payload(i)` gives for i in `*written..count` while the history takes it.
    /// Only the first sample goes out as soon as a reader matched; the others wait until a
    /// reader acknowledged it (Cyclone skips what a volatile writer wrote before Cyclone
    /// matched it in turn, and an empty writer's final HEARTBEAT draws no ACKNACK).
    fn write_some(&mut self, written: &mut u32, count: u32, payload: impl Fn(u32) -> Vec<u8>) {
        while *written < count
            && self.engine.matched_readers(self.writer) > 0
            && (*written == 0 || self.engine.ready_readers(self.writer) > 0)
        {
            let now = self.now();
            match self
                .engine
                .write(now, self.writer, &payload(*written), Time::ZERO)
            {
                Ok(_) => *written += 1,
                Err(WriteError::HistoryFull | WriteError::OutOfMemory) => break,
                Err(e) => panic!("write: {e}"),
            }
        }
    }

    fn take_all(&mut self, into: &mut Vec<Vec<u8>>) {
        let mut buf = [0u8; 4096];
        while let Some(info) = self.engine.take(self.reader, &mut buf).unwrap() {
            into.push(buf[..info.len].to_vec());
        }
    }

    fn report(&self) -> String {
        format!(
            "smoltcp driver {:?}\nengine {:?}\n",
            self.driver.stats(),
            self.engine.stats()
        )
    }
}

#[test]
fn pollen_native_through_tap() {
    if let Some(why) = cannot_run() {
        pollen_tests::skip(why);
        return;
    }
    let pollen = pollen_binary();
    let ns = Namespace::create("native");
    let tap = ns.open_tap();
    const N: u32 = 20;
    let to_native = TopicSpec::new("smoltcp/to-native", "DDS::String");
    let to_smoltcp = TopicSpec::new("smoltcp/to-smoltcp", "DDS::String");
    let mut p = Participant::new(tap, &to_native, &to_smoltcp, 1);

    let native = |args: &[&str]| {
        let mut argv = vec![pollen.to_str().unwrap()];
        argv.extend_from_slice(args);
        argv.extend_from_slice(&["--interface", LINUX_ADDR, "--timeout", "25"]);
        ns.exec(&argv)
    };
    let n = N.to_string();
    let mut sub = Proc::spawn(
        "pollen sub (native)",
        native(&["sub", "smoltcp/to-native", "--count", &n, "-v"]),
    );
    let mut publ = Proc::spawn(
        "pollen pub (native)",
        native(&[
            "pub",
            "smoltcp/to-smoltcp",
            "from native",
            "--count",
            &n,
            "--linger",
            "1",
            "-v",
        ]),
    );

    let mut written = 0;
    let mut received = Vec::new();
    let end = std::time::Instant::now() + Duration::from_secs(30);
    let (mut sub_ok, mut pub_ok) = (None, None);
    while std::time::Instant::now() < end {
        p.turn();
        p.write_some(&mut written, N, |i| cdr_string(&format!("hello {i}")));
        p.take_all(&mut received);
        sub_ok = sub_ok.or_else(|| sub.exited());
        pub_ok = pub_ok.or_else(|| publ.exited());
        if sub_ok.is_some() && pub_ok.is_some() && received.len() >= N as usize {
            break;
        }
    }
    let log = format!("{}{}{}", sub.transcript(), publ.transcript(), p.report());
    assert_eq!(sub_ok, Some(true), "native subscriber failed\n{log}");
    assert_eq!(pub_ok, Some(true), "native publisher failed\n{log}");
    let got: Vec<&String> = sub.out.iter().filter(|l| l.contains("hello")).collect();
    assert_eq!(got.len(), N as usize, "{log}");
    for (i, l) in got.iter().enumerate() {
        assert!(l.contains(&format!("hello {i}")), "sample {i}: {l}\n{log}");
    }
    assert_eq!(received.len(), N as usize, "{log}");
    for r in &received {
        assert_eq!(
            decode_cdr_string(r).as_deref(),
            Some("from native"),
            "{log}"
        );
    }
    assert!(p.driver.stats().datagrams_received > 0);
}

/// The largest "total N" ddsperf's subscriber reported, with its "lost" counter.
fn ddsperf_totals(lines: &[String]) -> Option<(u64, u64)> {
    lines
        .iter()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let total = w.iter().position(|x| *x == "total")?;
            let n = w.get(total + 1)?.parse().ok()?;
            let lost = w.get(total + 3)?.parse().ok()?;
            (w.get(total + 2) == Some(&"lost")).then_some((n, lost))
        })
        .max()
}

#[test]
fn cyclone_ddsperf_through_tap() {
    if let Some(why) = cannot_run() {
        pollen_tests::skip(why);
        return;
    }
    let Some(ddsperf) = which("ddsperf") else {
        pollen_tests::skip("Cyclone DDS ddsperf not installed (apt-get install cyclonedds-tools)");
        return;
    };
    let ns = Namespace::create("cyclone");
    let tap = ns.open_tap();
    let config = std::env::temp_dir().join(format!("pollen-smoltcp-{}.xml", std::process::id()));
    std::fs::write(
        &config,
        format!(
            r#"<CycloneDDS xmlns="https://cdds.io/config"><Domain id="any">
  <General><Interfaces><NetworkInterface address="{LINUX_ADDR}"/></Interfaces><AllowMulticast>spdp</AllowMulticast></General>
  <Discovery><ParticipantIndex>auto</ParticipantIndex></Discovery>
</Domain></CycloneDDS>
"#
        ),
    )
    .expect("write the Cyclone configuration");
    let uri = format!("file://{}", config.display());
    let perf = |args: &[&str]| {
        let mut argv = vec![ddsperf.to_str().unwrap()];
        argv.extend_from_slice(args);
        let mut c = ns.exec(&argv);
        c.env("CYCLONEDDS_URI", &uri);
        c
    };
    // ddsperf's data topic, reliable KEEP_ALL: `pub` writes it, `sub` reads it. Both run
    // against us in turn (both at once would also match each other).
    let topic = TopicSpec {
        keyed: true,
        ..TopicSpec::new("DDSPerfRDataKS", "KeyedSeq")
    };
    let mut p = Participant::new(tap, &topic, &topic, 2);

    // ddsperf pub -> Pollen on smoltcp.
    let mut publ = Proc::spawn("ddsperf pub", perf(&["-D", "20", "pub", "100Hz"]));
    let mut received = Vec::new();
    let end = std::time::Instant::now() + Duration::from_secs(20);
    while received.len() < 50 && std::time::Instant::now() < end {
        p.turn();
        p.take_all(&mut received);
    }
    let log = format!("{}{}", publ.transcript(), p.report());
    drop(publ);
    assert!(
        received.len() >= 50,
        "{} samples from ddsperf\n{log}",
        received.len()
    );
    let seqs: Vec<u32> = received
        .iter()
        .map(|s| u32::from_le_bytes(s[4..8].try_into().unwrap()))
        .collect();
    for w in seqs.windows(2) {
        assert_eq!(
            w[1],
            w[0] + 1,
            "ddsperf samples not consecutive: {seqs:?}\n{log}"
        );
    }

    // Pollen on smoltcp -> ddsperf sub.
    let mut sub = Proc::spawn("ddsperf sub", perf(&["-D", "20", "sub"]));
    const N: u32 = 300;
    let mut written = 0;
    let end = std::time::Instant::now() + Duration::from_secs(20);
    let mut done = false;
    while !done && std::time::Instant::now() < end {
        p.turn();
        p.take_all(&mut Vec::new());
        p.write_some(&mut written, N, |i| keyed_seq(i, 0, 100));
        done = ddsperf_totals(sub.collect()).is_some_and(|(n, _)| n >= N as u64 - 1);
    }
    let log = format!("{}{}", sub.transcript(), p.report());
    // The first sample may have been skipped (see write_some); none after it.
    assert!(
        done,
        "ddsperf did not report {N} samples (written {written})\n{log}"
    );
    let (total, lost) = ddsperf_totals(&sub.out).unwrap();
    assert!(
        (total == N as u64 || total == N as u64 - 1) && lost == 0,
        "{log}"
    );
    let _ = std::fs::remove_file(&config);
}
