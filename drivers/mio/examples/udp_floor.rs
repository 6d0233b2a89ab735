//! The floor under any DDS latency on this machine: a bare UDP ping-pong over loopback with
//! blocking `std::net` sockets, no protocol at all. `scripts/bench-e2e.sh` runs it next to
//! `pollen ping`/`pong` and `ddsperf ping`/`pong`.
//!
//! ```text
//! udp_floor pong PORT SECONDS          echo every datagram back to its sender
//! udp_floor ping PORT SIZE SECONDS     send SIZE-byte datagrams back to back
//! ```
//!
//! `ping` prints one line a second in ddsperf's shape (half the round trip: `50% Xus 90% Yus
//! 99% Zus cnt N`).

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::process::ExitCode;
use std::time::{Duration, Instant};

fn usage() -> ExitCode {
    eprintln!("usage: udp_floor pong PORT SECONDS | udp_floor ping PORT SIZE SECONDS");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize| args.get(i).and_then(|s| s.parse::<f64>().ok());
    let result = match (args.first().map(String::as_str), args.len()) {
        (Some("pong"), 3) => match (num(1), num(2)) {
            (Some(port), Some(secs)) => pong(port as u16, secs),
            _ => return usage(),
        },
        (Some("ping"), 4) => match (num(1), num(2), num(3)) {
            (Some(port), Some(size), Some(secs)) => ping(port as u16, size as usize, secs),
            _ => return usage(),
        },
        _ => return usage(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("udp_floor: {e}");
            ExitCode::FAILURE
        }
    }
}

fn pong(port: u16, secs: f64) -> std::io::Result<()> {
    let s = UdpSocket::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port))?;
    s.set_read_timeout(Some(Duration::from_millis(100)))?;
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let mut buf = vec![0u8; 65_536];
    while Instant::now() < end {
        match s.recv_from(&mut buf) {
            Ok((n, from)) => {
                s.send_to(&buf[..n], from)?;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn ping(port: u16, size: usize, secs: f64) -> std::io::Result<()> {
    let s = UdpSocket::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))?;
    s.connect(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port))?;
    s.set_read_timeout(Some(Duration::from_secs(1)))?;
    let payload = vec![0xeeu8; size];
    let mut buf = vec![0u8; 65_536];
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(secs);
    let mut next_report = start + Duration::from_secs(1);
    let mut half_ns: Vec<u64> = Vec::new();
    while Instant::now() < end {
        let t0 = Instant::now();
        s.send(&payload)?;
        match s.recv(&mut buf) {
            Ok(_) => half_ns.push(t0.elapsed().as_nanos() as u64 / 2),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            // The ponger is not there yet.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(e) => return Err(e),
        }
        let now = Instant::now();
        if now >= next_report {
            report(start, now, size, &mut half_ns);
            next_report += Duration::from_secs(1);
        }
    }
    Ok(())
}

/// Prints and clears one interval, percentiles picked as ddsperf picks them.
fn report(start: Instant, now: Instant, size: usize, v: &mut Vec<u64>) {
    let n = v.len();
    if n == 0 {
        return;
    }
    v.sort_unstable();
    let at = |k: usize| v[n - n.div_ceil(k)] as f64 / 1e3;
    let mean = v.iter().sum::<u64>() as f64 / n as f64 / 1e3;
    println!(
        "[{}] {:.3}  udp size {size} mean {mean:.3}us min {:.3}us 50% {:.3}us 90% {:.3}us 99% {:.3}us max {:.3}us cnt {n}",
        std::process::id(),
        now.duration_since(start).as_secs_f64(),
        v[0] as f64 / 1e3,
        at(2),
        at(10),
        at(100),
        v[n - 1] as f64 / 1e3,
    );
    v.clear();
}
