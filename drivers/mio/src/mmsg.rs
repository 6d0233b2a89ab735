//! Batched UDP I/O: `recvmmsg` and `sendmmsg` on Linux, one datagram per call elsewhere.
//!
//! Why a wrapper of our own: mio and socket2 have no batched calls, rustix has `sendmmsg` but
//! not `recvmmsg`, and nix's `MultiHeaders` keeps raw pointers between calls (the driver would
//! no longer be `Send`) or must be allocated at every call. The `unsafe` here is the two FFI
//! calls and the zeroing of `msghdr` (a plain C struct with private padding on some libcs);
//! every pointer handed to the kernel points into an array on this function's stack or into
//! the caller's buffer, both borrowed for the duration of the call, with the lengths of those
//! arrays.
//!
//! [`recv`] also says whether the socket is drained: on Linux a batch shorter than asked means
//! the kernel found the queue empty (`recvmmsg` stops at the first `EAGAIN`). That is enough
//! for mio's edge-triggered epoll, because epoll signals every datagram that arrives later
//! (epoll(7): "multiple events can be generated upon receipt of multiple chunks of data"), so
//! a short batch saves the `recvfrom` that would only return `EAGAIN`. `recvmmsg` also stops
//! early on an error other than `EAGAIN`, but an unconnected UDP socket without `IP_RECVERR`
//! (ours) has none to report: ICMP errors are not queued on it.

use std::io;
use std::net::SocketAddrV4;

/// Datagrams moved per call at most.
pub(crate) const BATCH: usize = 8;

/// One received datagram: its length at the start of its slot, and its source.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Received {
    pub len: usize,
    /// `None` when the source is not IPv4 (not on our IPv4 sockets).
    pub from: Option<SocketAddrV4>,
    /// The datagram was larger than its slot (the tail is lost).
    pub truncated: bool,
}

impl Received {
    pub(crate) const EMPTY: Received = Received {
        len: 0,
        from: None,
        truncated: false,
    };
}

/// Receives up to [`BATCH`] datagrams into consecutive `slot`-byte slots of `bufs`, one per
/// slot. Returns how many, and whether the socket is known to be drained (no need to call
/// again until the next readiness event). `Err(WouldBlock)` when none was queued.
#[cfg(target_os = "linux")]
pub(crate) fn recv(
    sock: &mio::net::UdpSocket,
    bufs: &mut [u8],
    slot: usize,
    out: &mut [Received; BATCH],
) -> io::Result<(usize, bool)> {
    use std::os::fd::AsRawFd;
    let n = (bufs.len() / slot.max(1)).min(BATCH);
    let mut iov = [libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    }; BATCH];
    for (v, chunk) in iov.iter_mut().zip(bufs.chunks_exact_mut(slot)) {
        v.iov_base = chunk.as_mut_ptr().cast();
        v.iov_len = chunk.len();
    }
    let mut names = [sockaddr_in(None); BATCH];
    // SAFETY: mmsghdr is a C struct of integers and pointers, for which all zeroes is valid.
    let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
    for ((h, v), name) in hdrs.iter_mut().zip(iov.iter_mut()).zip(names.iter_mut()) {
        h.msg_hdr.msg_iov = v;
        h.msg_hdr.msg_iovlen = 1;
        h.msg_hdr.msg_name = (name as *mut libc::sockaddr_in).cast();
        h.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    }
    // SAFETY: `hdrs[..n]` point to `iov` and `names` on this stack frame and through `iov` to
    // `n` disjoint slots of `bufs`, all alive and not otherwise borrowed during the call.
    let r = unsafe {
        libc::recvmmsg(
            sock.as_raw_fd(),
            hdrs.as_mut_ptr(),
            n as libc::c_uint,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    let got = (r as usize).min(n);
    for k in 0..got {
        let h = &hdrs[k].msg_hdr;
        let ipv4 = h.msg_namelen as usize >= std::mem::size_of::<libc::sockaddr_in>()
            && names[k].sin_family == libc::AF_INET as libc::sa_family_t;
        out[k] = Received {
            len: (hdrs[k].msg_len as usize).min(slot),
            from: ipv4.then(|| {
                SocketAddrV4::new(
                    u32::from_be(names[k].sin_addr.s_addr).into(),
                    u16::from_be(names[k].sin_port),
                )
            }),
            truncated: h.msg_flags & libc::MSG_TRUNC != 0,
        };
    }
    Ok((got, got < n))
}

/// One datagram per call where there is no `recvmmsg`; drained only at `WouldBlock`.
#[cfg(not(target_os = "linux"))]
pub(crate) fn recv(
    sock: &mio::net::UdpSocket,
    bufs: &mut [u8],
    slot: usize,
    out: &mut [Received; BATCH],
) -> io::Result<(usize, bool)> {
    let (len, from) = sock.recv_from(&mut bufs[..slot])?;
    out[0] = Received {
        len,
        from: match from {
            std::net::SocketAddr::V4(a) => Some(a),
            std::net::SocketAddr::V6(_) => None,
        },
        truncated: false,
    };
    Ok((1, false))
}

#[cfg(target_os = "linux")]
fn sockaddr_in(a: Option<SocketAddrV4>) -> libc::sockaddr_in {
    let (ip, port) = a.map_or((0, 0), |a| (u32::from(*a.ip()), a.port()));
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr { s_addr: ip.to_be() },
        sin_zero: [0; 8],
    }
}

/// Sends datagrams `msgs` (each a length at the start of its `slot`-byte slot of `bufs`, and a
/// destination) in one call, in order. Returns how many the kernel took (at least one unless
/// `msgs` is empty), or the error of the first (`WouldBlock` when the socket buffer is full).
#[cfg(target_os = "linux")]
pub(crate) fn send(
    sock: &mio::net::UdpSocket,
    bufs: &[u8],
    slot: usize,
    msgs: &[(usize, usize, SocketAddrV4)],
) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    let n = msgs.len().min(BATCH);
    let mut iov = [libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    }; BATCH];
    let mut names = [sockaddr_in(None); BATCH];
    for ((v, name), &(at, len, to)) in iov.iter_mut().zip(names.iter_mut()).zip(&msgs[..n]) {
        let bytes = &bufs[at * slot..at * slot + len.min(slot)];
        v.iov_base = bytes.as_ptr().cast_mut().cast();
        v.iov_len = bytes.len();
        *name = sockaddr_in(Some(to));
    }
    // SAFETY: as in `recv`; mmsghdr is valid all zeroes.
    let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
    for ((h, v), name) in hdrs.iter_mut().zip(iov.iter_mut()).zip(names.iter_mut()) {
        h.msg_hdr.msg_iov = v;
        h.msg_hdr.msg_iovlen = 1;
        h.msg_hdr.msg_name = (name as *mut libc::sockaddr_in).cast();
        h.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    }
    // SAFETY: `hdrs[..n]` point to `iov` and `names` on this stack frame and through `iov` into
    // `bufs`, which the kernel only reads; all alive during the call.
    let r = unsafe {
        libc::sendmmsg(
            sock.as_raw_fd(),
            hdrs.as_mut_ptr(),
            n as libc::c_uint,
            libc::MSG_DONTWAIT,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    if r == 0 && n > 0 {
        // Not documented to happen; taken as a full buffer, so nothing is counted as sent.
        return Err(io::ErrorKind::WouldBlock.into());
    }
    Ok((r as usize).min(n))
}

/// One datagram per call where there is no `sendmmsg`.
#[cfg(not(target_os = "linux"))]
pub(crate) fn send(
    sock: &mio::net::UdpSocket,
    bufs: &[u8],
    slot: usize,
    msgs: &[(usize, usize, SocketAddrV4)],
) -> io::Result<usize> {
    let Some(&(at, len, to)) = msgs.first() else {
        return Ok(0);
    };
    sock.send_to(
        &bufs[at * slot..at * slot + len],
        std::net::SocketAddr::V4(to),
    )?;
    Ok(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn pair() -> (mio::net::UdpSocket, mio::net::UdpSocket) {
        let any = |_| {
            mio::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0).into()).expect("loopback socket")
        };
        (any(0), any(1))
    }

    fn recv_all(s: &mio::net::UdpSocket, slot: usize) -> Vec<(Vec<u8>, bool)> {
        let mut bufs = vec![0u8; BATCH * slot];
        let mut out = [Received::EMPTY; BATCH];
        let mut got = Vec::new();
        for _ in 0..1000 {
            match recv(s, &mut bufs, slot, &mut out) {
                Ok((n, drained)) => {
                    for (k, r) in out[..n].iter().enumerate() {
                        got.push((bufs[k * slot..k * slot + r.len].to_vec(), r.truncated));
                    }
                    if drained {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if !got.is_empty() {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                Err(e) => panic!("recv: {e}"),
            }
        }
        got
    }

    /// More datagrams than a batch, sent in batches, arrive whole, in order, with their source.
    #[test]
    fn batches_round_trip_in_order() {
        let (a, b) = pair();
        let to = match b.local_addr().unwrap() {
            std::net::SocketAddr::V4(v) => v,
            _ => unreachable!(),
        };
        let slot = 64;
        let mut bufs = vec![0u8; BATCH * slot];
        let mut sent = 0;
        for round in 0..3u8 {
            let mut msgs = Vec::new();
            for k in 0..BATCH {
                let len = 1 + k * 3;
                bufs[k * slot..k * slot + len].fill(round * 16 + k as u8);
                msgs.push((k, len, to));
            }
            let mut at = 0;
            while at < msgs.len() {
                at += send(&a, &bufs, slot, &msgs[at..]).expect("loopback takes it");
            }
            sent += msgs.len();
        }
        let mut got = Vec::new();
        while got.len() < sent {
            let more = recv_all(&b, slot);
            assert!(!more.is_empty(), "datagrams lost on loopback");
            got.extend(more);
        }
        assert_eq!(got.len(), sent);
        for (i, (d, truncated)) in got.iter().enumerate() {
            let (round, k) = (i / BATCH, i % BATCH);
            assert!(!truncated);
            assert_eq!(d.len(), 1 + k * 3);
            assert!(d.iter().all(|x| *x == (round * 16 + k) as u8));
        }
    }

    /// A datagram larger than its slot is flagged, not mistaken for a whole one.
    #[cfg(target_os = "linux")]
    #[test]
    fn truncation_is_flagged() {
        let (a, b) = pair();
        let to = b.local_addr().unwrap();
        a.send_to(&[9u8; 100], to).unwrap();
        let got = recv_all(&b, 32);
        assert_eq!(got.len(), 1);
        assert!(got[0].1, "flagged as truncated");
    }
}
