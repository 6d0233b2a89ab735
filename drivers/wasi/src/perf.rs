//! What a ddsperf-shaped participant needs (rtps-wire.md §10): the ping and pong topics, the
//! partition named after a participant's GUID, and the `DDSPerf:` USER_DATA by which pingers
//! recognise a ponger.

use pollen_engine::wire::{EntityId, GuidPrefix};
use std::fmt::Write as _;

/// ddsperf's ping topic (reliable, KeyedSeq).
pub const PING_TOPIC: &str = "DDSPerfRPingKS";
/// ddsperf's pong topic, in the partition named after the pinger's GUID.
pub const PONG_TOPIC: &str = "DDSPerfRPongKS";

/// A participant's GUID (prefix and the participant entity id) as ddsperf names partitions:
/// lowercase hex, four groups of eight digits joined by `_`.
pub fn guid_partition(prefix: GuidPrefix) -> String {
    let mut b = [0u8; 16];
    b[..12].copy_from_slice(&prefix.0);
    b[12..].copy_from_slice(&EntityId::PARTICIPANT.0);
    let mut s = String::with_capacity(35);
    for (i, group) in b.chunks(4).enumerate() {
        if i > 0 {
            s.push('_');
        }
        for x in group {
            let _ = write!(s, "{x:02x}");
        }
    }
    s
}

/// USER_DATA of a ddsperf participant that reads no data: `DDSPerf:0:<pid>:<host>`, no NUL.
pub fn user_data(pid: u32, host: &str) -> Vec<u8> {
    format!("DDSPerf:0:{pid}:{host}").into_bytes()
}

/// Whether USER_DATA is ddsperf's (`DDSPerf:<digits>:<digits>:<host>`).
pub fn is_ddsperf(user_data: &[u8]) -> bool {
    let Some(rest) = user_data.strip_prefix(b"DDSPerf:") else {
        return false;
    };
    let mut parts = rest.splitn(3, |&c| c == b':');
    let digits =
        |x: Option<&[u8]>| x.is_some_and(|x| !x.is_empty() && x.iter().all(u8::is_ascii_digit));
    digits(parts.next()) && digits(parts.next()) && parts.next().is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_names() {
        let p = GuidPrefix([
            0x01, 0x10, 0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6, 0x07, 0x18, 0x29, 0x30,
        ]);
        assert_eq!(guid_partition(p), "0110a1b2_c3d4e5f6_07182930_000001c1");
    }

    #[test]
    fn ddsperf_user_data() {
        let u = user_data(42, "wasm");
        assert_eq!(u, b"DDSPerf:0:42:wasm");
        assert!(is_ddsperf(&u));
        assert!(is_ddsperf(b"DDSPerf:1:7:host.example"));
        assert!(!is_ddsperf(b"enclave=/;"));
        assert!(!is_ddsperf(b"DDSPerf:x:7:h"));
        assert!(!is_ddsperf(b"DDSPerf:1:7"));
    }
}
