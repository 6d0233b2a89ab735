//! Reading datagrams from files: raw UDP payloads (one per file, like `vectors/*.bin`) and
//! pcap/pcapng captures of UDP over IPv4.
//!
//! A capture is read whole into memory and unpacked link layer by link layer; frames that are
//! not UDP over IPv4 on a supported link type are skipped and counted by reason, never an error.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::panic::{self, AssertUnwindSafe};

use pcap_file::pcap::PcapParser;
use pcap_file::pcapng::{Block, PcapNgParser};
use pcap_file::PcapError;

/// What kind of file the bytes were.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// One datagram, the whole file.
    Raw,
    /// libpcap format.
    Pcap,
    /// pcapng format.
    PcapNg,
}

impl FileKind {
    /// A short name.
    pub fn name(self) -> &'static str {
        match self {
            FileKind::Raw => "raw datagram",
            FileKind::Pcap => "pcap",
            FileKind::PcapNg => "pcapng",
        }
    }
}

/// One UDP payload and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    /// 1-based frame number in the capture (as Wireshark counts); `None` for raw files.
    pub frame: Option<usize>,
    /// Source address, for captures.
    pub src: Option<SocketAddrV4>,
    /// Destination address, for captures.
    pub dst: Option<SocketAddrV4>,
    /// The UDP payload.
    pub data: Vec<u8>,
}

/// The datagrams of one file.
#[derive(Debug, Clone, Default)]
pub struct Capture {
    /// The file's format (`None` only when nothing could be read).
    pub kind: Option<FileKind>,
    /// The UDP payloads, in file order.
    pub datagrams: Vec<Datagram>,
    /// Frames that were not UDP over IPv4 on a supported link, by reason.
    pub skipped: BTreeMap<&'static str, usize>,
    /// A problem that stopped reading the capture early (datagrams before it are kept).
    pub error: Option<String>,
}

impl Capture {
    fn skip(&mut self, why: &'static str) {
        *self.skipped.entry(why).or_default() += 1;
    }

    /// Total number of frames skipped.
    pub fn skipped_total(&self) -> usize {
        self.skipped.values().sum()
    }
}

const PCAP_MAGICS: [[u8; 4]; 4] = [
    [0xa1, 0xb2, 0xc3, 0xd4],
    [0xd4, 0xc3, 0xb2, 0xa1],
    [0xa1, 0xb2, 0x3c, 0x4d],
    [0x4d, 0x3c, 0xb2, 0xa1],
];
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

/// Detects the format by its magic number.
pub fn detect(bytes: &[u8]) -> FileKind {
    match bytes.get(..4) {
        Some(m) if PCAP_MAGICS.iter().any(|x| x == m) => FileKind::Pcap,
        Some(m) if m == PCAPNG_MAGIC => FileKind::PcapNg,
        _ => FileKind::Raw,
    }
}

/// Unpacks the datagrams of a file's contents.
///
/// Never panics: the capture parsers are third-party code, so a panic inside them is caught and
/// reported as a read error.
pub fn load(bytes: &[u8]) -> Capture {
    let kind = detect(bytes);
    let mut cap = Capture {
        kind: Some(kind),
        ..Capture::default()
    };
    match kind {
        FileKind::Raw => cap.datagrams.push(Datagram {
            frame: None,
            src: None,
            dst: None,
            data: bytes.to_vec(),
        }),
        FileKind::Pcap | FileKind::PcapNg => {
            let prev_hook = panic::take_hook();
            panic::set_hook(Box::new(|_| {}));
            let result = panic::catch_unwind(AssertUnwindSafe(|| {
                if kind == FileKind::Pcap {
                    read_pcap(bytes, &mut cap)
                } else {
                    read_pcapng(bytes, &mut cap)
                }
            }));
            panic::set_hook(prev_hook);
            match result {
                Ok(Ok(())) => {}
                Ok(Err(e)) => cap.error = Some(e),
                Err(_) => cap.error = Some("capture parser panicked on malformed input".into()),
            }
        }
    }
    cap
}

fn pcap_error(frame: usize, e: PcapError) -> String {
    match e {
        PcapError::IncompleteBuffer => format!("capture truncated after frame {}", frame),
        e => format!("bad capture at frame {}: {}", frame + 1, e),
    }
}

fn read_pcap(bytes: &[u8], cap: &mut Capture) -> Result<(), String> {
    let (mut rest, parser) = PcapParser::new(bytes).map_err(|e| pcap_error(0, e))?;
    let link = u32::from(parser.header().datalink);
    let mut frame = 0;
    while !rest.is_empty() {
        let (r, pkt) = parser.next_packet(rest).map_err(|e| pcap_error(frame, e))?;
        rest = r;
        frame += 1;
        add_frame(cap, frame, link, &pkt.data);
    }
    Ok(())
}

fn read_pcapng(bytes: &[u8], cap: &mut Capture) -> Result<(), String> {
    let (mut rest, mut parser) = PcapNgParser::new(bytes).map_err(|e| pcap_error(0, e))?;
    let mut frame = 0;
    while !rest.is_empty() {
        let (r, block) = parser.next_block(rest).map_err(|e| pcap_error(frame, e))?;
        rest = r;
        match block {
            Block::EnhancedPacket(p) => {
                frame += 1;
                match parser.packet_interface(&p) {
                    Some(ifc) => {
                        let link = u32::from(ifc.linktype);
                        add_frame(cap, frame, link, &p.data)
                    }
                    None => cap.skip("packet on an undescribed interface"),
                }
            }
            Block::SimplePacket(p) => {
                frame += 1;
                match parser.interfaces().first() {
                    Some(ifc) => {
                        let link = u32::from(ifc.linktype);
                        add_frame(cap, frame, link, &p.data)
                    }
                    None => cap.skip("packet on an undescribed interface"),
                }
            }
            Block::Packet(p) => {
                frame += 1;
                match parser.interfaces().get(p.interface_id as usize) {
                    Some(ifc) => {
                        let link = u32::from(ifc.linktype);
                        add_frame(cap, frame, link, &p.data)
                    }
                    None => cap.skip("packet on an undescribed interface"),
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Link types understood (tcpdump.org LINKTYPE_* values).
mod link {
    pub const NULL: u32 = 0;
    pub const ETHERNET: u32 = 1;
    pub const RAW: u32 = 101;
    pub const LOOP: u32 = 108;
    pub const LINUX_SLL: u32 = 113;
    pub const IPV4: u32 = 228;
    pub const LINUX_SLL2: u32 = 276;
}

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_VLAN: [u16; 2] = [0x8100, 0x88a8];
const AF_INET: u32 = 2;

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

/// Strips the link layer; `Ok(ipv4 packet)` or the reason to skip.
fn link_payload(link: u32, data: &[u8]) -> Result<&[u8], &'static str> {
    let short = "frame shorter than its link header";
    match link {
        link::ETHERNET => {
            let mut at = 12;
            let mut ty = be16(data, at).ok_or(short)?;
            while ETHERTYPE_VLAN.contains(&ty) {
                at += 4;
                ty = be16(data, at).ok_or(short)?;
            }
            if ty != ETHERTYPE_IPV4 {
                return Err("not IPv4");
            }
            data.get(at + 2..).ok_or(short)
        }
        link::NULL | link::LOOP => {
            let h: [u8; 4] = data.get(..4).ok_or(short)?.try_into().map_err(|_| short)?;
            // NULL stores the family in the capturing host's order, LOOP in network order.
            let family_ok = u32::from_be_bytes(h) == AF_INET
                || (link == link::NULL && u32::from_le_bytes(h) == AF_INET);
            if !family_ok {
                return Err("not IPv4");
            }
            Ok(&data[4..])
        }
        link::LINUX_SLL => {
            if be16(data, 14).ok_or(short)? != ETHERTYPE_IPV4 {
                return Err("not IPv4");
            }
            data.get(16..).ok_or(short)
        }
        link::LINUX_SLL2 => {
            if be16(data, 0).ok_or(short)? != ETHERTYPE_IPV4 {
                return Err("not IPv4");
            }
            data.get(20..).ok_or(short)
        }
        link::RAW | link::IPV4 => Ok(data),
        _ => Err("unsupported link type"),
    }
}

/// Parses IPv4 + UDP; `Ok((src, dst, payload))` or the reason to skip.
fn udp_payload(ip: &[u8]) -> Result<(SocketAddrV4, SocketAddrV4, &[u8]), &'static str> {
    let first = *ip.first().ok_or("truncated IPv4 header")?;
    if first >> 4 != 4 {
        return Err("not IPv4");
    }
    let ihl = (first & 0x0f) as usize * 4;
    if ihl < 20 || ip.len() < ihl {
        return Err("truncated IPv4 header");
    }
    let total = be16(ip, 2).ok_or("truncated IPv4 header")? as usize;
    // A capture may cut the packet short (snaplen) or pad it (Ethernet minimum frame size).
    let ip = &ip[..total.clamp(ihl, ip.len())];
    let frag = be16(ip, 6).ok_or("truncated IPv4 header")?;
    if frag & 0x3fff != 0 {
        return Err("IPv4 fragment (not reassembled)");
    }
    if ip[9] != 17 {
        return Err("not UDP");
    }
    let addr = |at: usize| Ipv4Addr::new(ip[at], ip[at + 1], ip[at + 2], ip[at + 3]);
    let (src_ip, dst_ip) = (addr(12), addr(16));
    let udp = &ip[ihl..];
    let sport = be16(udp, 0).ok_or("truncated UDP header")?;
    let dport = be16(udp, 2).ok_or("truncated UDP header")?;
    let ulen = be16(udp, 4).ok_or("truncated UDP header")? as usize;
    if ulen < 8 || udp.len() < 8 {
        return Err("truncated UDP header");
    }
    if ulen > udp.len() {
        return Err("UDP datagram cut short by the capture");
    }
    Ok((
        SocketAddrV4::new(src_ip, sport),
        SocketAddrV4::new(dst_ip, dport),
        &udp[8..ulen],
    ))
}

fn add_frame(cap: &mut Capture, frame: usize, link: u32, data: &[u8]) {
    match link_payload(link, data).and_then(udp_payload) {
        Ok((src, dst, payload)) => cap.datagrams.push(Datagram {
            frame: Some(frame),
            src: Some(src),
            dst: Some(dst),
            data: payload.to_vec(),
        }),
        Err(why) => cap.skip(why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv4_udp(payload: &[u8]) -> Vec<u8> {
        let mut p = vec![
            0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        let total = (20 + 8 + payload.len()) as u16;
        p[2..4].copy_from_slice(&total.to_be_bytes());
        p.extend_from_slice(&7400u16.to_be_bytes());
        p.extend_from_slice(&7410u16.to_be_bytes());
        p.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        p.extend_from_slice(&[0, 0]);
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn link_layers() {
        let ip = ipv4_udp(b"hello");
        let mut eth = vec![0u8; 12];
        eth.extend_from_slice(&[0x81, 0x00, 0, 1, 0x08, 0x00]);
        eth.extend_from_slice(&ip);
        let mut null = 2u32.to_le_bytes().to_vec();
        null.extend_from_slice(&ip);
        let mut lo = 2u32.to_be_bytes().to_vec();
        lo.extend_from_slice(&ip);
        let mut sll = vec![0u8; 14];
        sll.extend_from_slice(&[0x08, 0x00]);
        sll.extend_from_slice(&ip);
        for (l, d) in [
            (link::ETHERNET, &eth),
            (link::NULL, &null),
            (link::LOOP, &lo),
            (link::LINUX_SLL, &sll),
            (link::RAW, &ip),
            (link::IPV4, &ip),
        ] {
            let (s, d, p) = link_payload(l, d).and_then(udp_payload).unwrap();
            assert_eq!(s.to_string(), "10.0.0.1:7400");
            assert_eq!(d.to_string(), "10.0.0.2:7410");
            assert_eq!(p, b"hello");
        }
        assert_eq!(link_payload(147, &ip), Err("unsupported link type"));
    }

    #[test]
    fn garbage_is_skipped_not_fatal() {
        for n in 0..40 {
            let junk: Vec<u8> = (0..n).map(|i| (i * 37 + 11) as u8).collect();
            for l in [0, 1, 101, 108, 113, 228, 276] {
                let _ = link_payload(l, &junk).and_then(udp_payload);
            }
        }
        let cap = load(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0]);
        assert!(cap.error.is_some());
    }
}
