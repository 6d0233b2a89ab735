//! The captured datagrams in `vectors/`: every one parses completely, agrees with Wireshark's
//! decode beside it (the `.txt`) and with its `MANIFEST.tsv` row, and re-emits byte for byte.

use pollen_engine::wire::*;
use std::collections::HashMap;
use std::fmt::Debug;
use std::fs;
use std::path::{Path, PathBuf};

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../vectors")
}

/// Every `.bin` under `vectors/`, sorted.
fn all_vectors() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![vectors_dir()];
    while let Some(d) = dirs.pop() {
        for e in fs::read_dir(&d).unwrap_or_else(|e| panic!("read {}: {e}", d.display())) {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "bin") {
                out.push(p);
            }
        }
    }
    out.sort();
    assert!(
        out.len() > 100,
        "expected the captured vectors, found {}",
        out.len()
    );
    out
}

// ------------------------------------------------------------------------------------------
// A reader for the parts of tshark's text decode that we compare against.

#[derive(Debug, Clone)]
struct Line {
    indent: usize,
    key: String,
    value: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Fixed,
    InlineQos,
    Payload,
}

#[derive(Debug)]
struct TxtParam {
    pid: u16,
    section: Section,
    lines: Vec<Line>,
}

impl TxtParam {
    fn all(&self, key: &str) -> Vec<&str> {
        self.lines
            .iter()
            .filter(|l| l.key == key)
            .filter_map(|l| l.value.as_deref())
            .collect()
    }

    fn one(&self, key: &str) -> Option<&str> {
        self.all(key).first().copied()
    }
}

#[derive(Debug)]
struct TxtSub {
    title: String,
    lines: Vec<Line>,
}

impl TxtSub {
    /// Values of the fixed-part fields named `key` (before any parameter list).
    fn fixed(&self, key: &str) -> Vec<&str> {
        let mut out = Vec::new();
        for l in &self.lines {
            if l.key == "inlineQos" || l.key == "serializedData" {
                break;
            }
            if l.key == key {
                if let Some(v) = &l.value {
                    out.push(v.as_str());
                }
            }
        }
        out
    }

    fn one(&self, key: &str) -> Option<&str> {
        self.fixed(key).first().copied()
    }

    /// The parameters of the inline QoS and of the payload, in order.
    fn params(&self) -> Vec<TxtParam> {
        let mut out = Vec::new();
        let mut section = Section::Fixed;
        let mut i = 0;
        while i < self.lines.len() {
            let l = &self.lines[i];
            if l.key == "inlineQos" {
                section = Section::InlineQos;
            } else if l.key == "serializedData" && l.value.is_none() {
                section = Section::Payload;
            }
            if l.key == "parameterId" && i > 0 {
                let header_indent = self.lines[i - 1].indent;
                let pid = last_paren_hex(l.value.as_deref().unwrap_or("")) as u16;
                let mut lines = Vec::new();
                let mut j = i + 1;
                while j < self.lines.len()
                    && self.lines[j].indent > header_indent
                    && self.lines[j].key != "parameterId"
                {
                    lines.push(self.lines[j].clone());
                    j += 1;
                }
                out.push(TxtParam {
                    pid,
                    section,
                    lines,
                });
                i = j;
                continue;
            }
            i += 1;
        }
        out
    }
}

#[derive(Debug)]
struct TxtDecode {
    guid_prefix: String,
    subs: Vec<TxtSub>,
}

fn is_bit_line(t: &str) -> bool {
    // "..1. = Final flag: Set", "0000 0000 0000 0000 = Extra flags: 0x0000"
    t.split(" = ").next().is_some_and(|b| {
        t.contains(" = ") && !b.is_empty() && b.chars().all(|c| matches!(c, '.' | '0' | '1' | ' '))
    })
}

fn parse_txt(text: &str) -> TxtDecode {
    let mut lines = text
        .lines()
        .skip_while(|l| l.trim() != "Real-Time Publish-Subscribe Wire Protocol")
        .skip(1);
    let mut guid_prefix = String::new();
    let mut subs: Vec<TxtSub> = Vec::new();
    for raw in lines.by_ref() {
        let t = raw.trim();
        if t.is_empty() || t.starts_with('[') || is_bit_line(t) {
            continue;
        }
        let indent = raw.len() - raw.trim_start().len();
        let (key, value) = match t.split_once(": ") {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (t.trim_end_matches(':').to_string(), None),
        };
        // tshark prints "serializedData:" (value on the following lines) for the parameter list
        // inside a payload; keep it distinct from the "serializedData" section title.
        let key = if t == "serializedData:" {
            "serializedData:".to_string()
        } else {
            key
        };
        if key == "submessageId" && indent == 4 {
            subs.push(TxtSub {
                title: value.unwrap_or_default(),
                lines: Vec::new(),
            });
            continue;
        }
        match subs.last_mut() {
            Some(s) => s.lines.push(Line { indent, key, value }),
            None => {
                if key == "guidPrefix" && guid_prefix.is_empty() {
                    guid_prefix = value.unwrap_or_default();
                }
            }
        }
    }
    TxtDecode { guid_prefix, subs }
}

/// The number inside the last `(0x...)` of a tshark value.
fn last_paren_hex(v: &str) -> u32 {
    let start = v
        .rfind("(0x")
        .unwrap_or_else(|| panic!("no (0x..) in {v:?}"))
        + 3;
    let end = v[start..].find(')').unwrap() + start;
    u32::from_str_radix(&v[start..end], 16).unwrap()
}

/// The first `0x` followed by 8 hex digits: an entity id in `readerEntityId:` lines, which
/// come as "ENTITYID_UNKNOWN (0x00000000)" or "0x00000b02 (Application-defined ...)".
fn entity_id_hex(v: &str) -> String {
    let mut rest = v;
    while let Some(i) = rest.find("0x") {
        let cand = &rest[i + 2..];
        if cand.len() >= 8 && cand[..8].chars().all(|c| c.is_ascii_hexdigit()) {
            return cand[..8].to_lowercase();
        }
        rest = &rest[i + 2..];
    }
    panic!("no entity id in {v:?}")
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// "010f78fd f5635414 00000000 000001c1" or "010f78fd:f5635414:..." -> plain hex.
fn squash_hex(v: &str) -> String {
    v.chars()
        .filter(|c| c.is_ascii_hexdigit())
        .collect::<String>()
        .to_lowercase()
}

fn num<T: std::str::FromStr>(v: &str) -> T
where
    T::Err: Debug,
{
    v.trim()
        .parse()
        .unwrap_or_else(|e| panic!("number {v:?}: {e:?}"))
}

fn tshark_name(id: u8) -> String {
    if id >= 0x80 {
        format!("Vendor-specific ({id:#04x})")
    } else {
        format!("{} ({id:#04x})", submessage_name(id))
    }
}

/// The (kind, port, address) triples of the locator parameters with this pid.
fn txt_locators(params: &[TxtParam], pid: u16) -> Vec<(i32, u32, String)> {
    params
        .iter()
        .filter(|p| p.pid == pid && p.section == Section::Payload)
        .map(|p| {
            (
                last_paren_hex(p.one("Kind").expect("locator Kind")) as i32,
                num(p.one("Port").expect("locator Port")),
                p.one("Address").expect("locator Address").to_string(),
            )
        })
        .collect()
}

fn our_locators(list: &[Locator]) -> Vec<(i32, u32, String)> {
    list.iter()
        .map(|l| {
            let (ip, _) = l.ipv4().expect("only IPv4 locators in the vectors");
            (
                l.kind,
                l.port,
                format!("{}.{}.{}.{}", ip[0], ip[1], ip[2], ip[3]),
            )
        })
        .collect()
}

// ------------------------------------------------------------------------------------------

struct Checker {
    ctx: String,
    errors: Vec<String>,
    /// How many times each named comparison ran, so a silently skipped check shows up.
    counts: HashMap<String, usize>,
}

impl Checker {
    fn eq<T: Debug + PartialEq>(&mut self, what: &str, ours: T, tshark: T) {
        let key = what.split(' ').take(2).collect::<Vec<_>>().join(" ");
        *self.counts.entry(key).or_default() += 1;
        if ours != tshark {
            self.errors.push(format!(
                "{}: {what}: ours {ours:?} != expected {tshark:?}",
                self.ctx
            ));
        }
    }

    fn fail(&mut self, what: impl std::fmt::Display) {
        self.errors.push(format!("{}: {what}", self.ctx));
    }
}

struct ManifestRow {
    bytes: usize,
    version: String,
    vendor: String,
    guid_prefix: String,
    submessages: String,
}

fn manifests() -> HashMap<PathBuf, ManifestRow> {
    let mut out = HashMap::new();
    for dir in ["cyclone", "cyclone11", "fastdds"] {
        let d = vectors_dir().join(dir);
        let text = fs::read_to_string(d.join("MANIFEST.tsv")).unwrap();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split('\t').collect();
            out.insert(
                d.join(f[0]),
                ManifestRow {
                    bytes: num(f[5]),
                    version: f[6].to_string(),
                    vendor: f[7].to_string(),
                    guid_prefix: f[8].to_string(),
                    submessages: f[9].to_string(),
                },
            );
        }
    }
    out
}

fn is_discovery_writer(w: EntityId) -> bool {
    w == EntityId::SPDP_WRITER || w == EntityId::SEDP_PUB_WRITER || w == EntityId::SEDP_SUB_WRITER
}

/// Parses and checks one datagram; returns the problems found.
fn check_vector(
    path: &Path,
    manifest: Option<&ManifestRow>,
    counts: &mut HashMap<String, usize>,
) -> Vec<String> {
    let name = path
        .strip_prefix(vectors_dir())
        .unwrap_or(path)
        .display()
        .to_string();
    let mut ck = Checker {
        ctx: name.clone(),
        errors: Vec::new(),
        counts: std::mem::take(counts),
    };
    check_vector_inner(&mut ck, &name, path, manifest);
    *counts = std::mem::take(&mut ck.counts);
    ck.errors
}

fn check_vector_inner(ck: &mut Checker, name: &str, path: &Path, manifest: Option<&ManifestRow>) {
    let data = fs::read(path).unwrap();
    let name = name.to_string();
    let msg = match Message::parse(&data) {
        Ok(m) => m,
        Err(e) => return ck.fail(format!("Message::parse: {e}")),
    };

    // The header re-emits exactly.
    let mut hdr = [0u8; HEADER_LEN];
    msg.header.emit(&mut hdr).unwrap();
    ck.eq("header bytes", &hdr[..], &data[..HEADER_LEN]);

    // Every submessage frames, parses and re-emits exactly.
    let mut raws = Vec::new();
    for r in msg.submessages() {
        match r {
            Ok(r) => raws.push(r),
            Err(e) => {
                ck.fail(format!(
                    "submessage framing after {} submessages: {e}",
                    raws.len()
                ));
                return;
            }
        }
    }
    let mut reprs = Vec::new();
    for raw in &raws {
        ck.ctx = format!("{name} @{} {}", raw.offset, submessage_name(raw.id));
        let repr = match SubmessageRepr::parse(raw) {
            Ok(r) => r,
            Err(e) => {
                ck.fail(format!("SubmessageRepr::parse: {e}"));
                continue;
            }
        };
        let original = &data[raw.offset..raw.offset + SUBMESSAGE_HEADER_LEN + raw.body.len()];
        let mut out = vec![0u8; repr.buffer_len()];
        match repr.emit(&mut out) {
            Ok(n) => {
                ck.eq("emit length", n, out.len());
                ck.eq("re-emitted submessage", hex(&out), hex(original));
            }
            Err(e) => ck.fail(format!("emit: {e}")),
        }
        reprs.push((*raw, repr));
    }
    ck.ctx = name.clone();
    if reprs.len() != raws.len() {
        return;
    }

    // The whole datagram rebuilt with the builder is identical.
    let mut buf = vec![0u8; data.len()];
    let mut b = MessageBuilder::new(&mut buf, &msg.header).unwrap();
    for (_, r) in &reprs {
        if let Err(e) = b.push(r) {
            ck.fail(format!("builder push: {e}"));
        }
    }
    let n = b.finish();
    ck.eq("rebuilt length", n, data.len());
    if buf != data {
        ck.fail("rebuilt datagram differs");
    }

    // The MANIFEST row.
    if let Some(m) = manifest {
        ck.eq("manifest bytes", data.len(), m.bytes);
        ck.eq(
            "manifest version",
            msg.header.version.to_string(),
            m.version.clone(),
        );
        ck.eq(
            "manifest vendor",
            msg.header.vendor_id.to_string(),
            m.vendor.clone(),
        );
        ck.eq(
            "manifest guidPrefix",
            msg.header.guid_prefix.to_string(),
            m.guid_prefix.clone(),
        );
        let ours: Vec<String> = reprs
            .iter()
            .map(|(raw, r)| {
                let base = if raw.id >= 0x80 {
                    format!("VENDOR_{:02X}", raw.id)
                } else {
                    submessage_name(raw.id).to_string()
                };
                let wr = match r {
                    SubmessageRepr::Data(d) => Some(d.writer_id),
                    SubmessageRepr::DataFrag(d) => Some(d.writer_id),
                    SubmessageRepr::Heartbeat(h) => Some(h.writer_id),
                    SubmessageRepr::HeartbeatFrag(h) => Some(h.writer_id),
                    SubmessageRepr::AckNack(a) => Some(a.writer_id),
                    SubmessageRepr::Gap(g) => Some(g.writer_id),
                    SubmessageRepr::NackFrag(nf) => Some(nf.writer_id),
                    _ => None,
                };
                match wr {
                    Some(w) => format!("{base}[wr={w}]"),
                    None => base,
                }
            })
            .collect();
        ck.eq(
            "manifest submessages",
            ours.join(","),
            m.submessages.clone(),
        );
    }

    // Wireshark's decode.
    let txt_path = path.with_extension("txt");
    let txt = fs::read_to_string(&txt_path).ok().map(|t| parse_txt(&t));
    if let Some(t) = &txt {
        ck.eq(
            "guidPrefix",
            msg.header.guid_prefix.to_string(),
            t.guid_prefix.clone(),
        );
        let ours: Vec<String> = raws.iter().map(|r| tshark_name(r.id)).collect();
        let theirs: Vec<String> = t.subs.iter().map(|s| s.title.clone()).collect();
        ck.eq("submessage list", ours, theirs);
    }

    for (i, (raw, repr)) in reprs.iter().enumerate() {
        ck.ctx = format!("{name} @{} {}", raw.offset, submessage_name(raw.id));
        let ts = txt.as_ref().and_then(|t| t.subs.get(i));
        check_submessage(ck, &msg, raw, repr, ts);
    }
}

fn check_ids(ck: &mut Checker, ts: &TxtSub, reader: EntityId, writer: EntityId) {
    if let Some(v) = ts.one("readerEntityId") {
        ck.eq("readerEntityId", reader.to_string(), entity_id_hex(v));
    } else {
        ck.fail("tshark shows no readerEntityId");
    }
    if let Some(v) = ts.one("writerEntityId") {
        ck.eq("writerEntityId", writer.to_string(), entity_id_hex(v));
    } else {
        ck.fail("tshark shows no writerEntityId");
    }
}

fn check_num(ck: &mut Checker, ts: &TxtSub, key: &str, ours: i64) {
    match ts.one(key) {
        Some(v) => ck.eq(key, ours, num::<i64>(v)),
        None => ck.fail(format!("tshark shows no {key}")),
    }
}

fn bits_string(num_bits: u32, contains: impl Fn(u32) -> bool) -> String {
    (0..num_bits)
        .map(|i| if contains(i) { '1' } else { '0' })
        .collect()
}

fn check_submessage(
    ck: &mut Checker,
    msg: &Message<'_>,
    raw: &RawSubmessage<'_>,
    repr: &SubmessageRepr<'_>,
    ts: Option<&TxtSub>,
) {
    match repr {
        SubmessageRepr::AckNack(a) => {
            if let Some(ts) = ts {
                check_ids(ck, ts, a.reader_id, a.writer_id);
                check_num(ck, ts, "bitmapBase", a.reader_sn_state.base.0);
                check_num(ck, ts, "numBits", a.reader_sn_state.num_bits as i64);
                check_num(ck, ts, "Count", a.count.0 as i64);
                let s = &a.reader_sn_state;
                let ours = bits_string(s.num_bits, |i| {
                    s.contains(SequenceNumber(s.base.0 + i as i64))
                });
                let theirs = ts.one("bitmap").unwrap_or("").to_string();
                ck.eq("bitmap", ours, theirs);
            }
        }
        SubmessageRepr::Heartbeat(h) => {
            if !h.is_valid() {
                ck.fail("HEARTBEAT from a real peer is not valid");
            }
            if let Some(ts) = ts {
                check_ids(ck, ts, h.reader_id, h.writer_id);
                check_num(ck, ts, "firstAvailableSeqNumber", h.first_sn.0);
                check_num(ck, ts, "lastSeqNumber", h.last_sn.0);
                check_num(ck, ts, "count", h.count.0 as i64);
            }
        }
        SubmessageRepr::Gap(g) => {
            if let Some(ts) = ts {
                check_ids(ck, ts, g.reader_id, g.writer_id);
                check_num(ck, ts, "gapStart", g.gap_start.0);
                check_num(ck, ts, "bitmapBase", g.gap_list.base.0);
                check_num(ck, ts, "numBits", g.gap_list.num_bits as i64);
            }
        }
        SubmessageRepr::InfoDst(d) => {
            if let Some(ts) = ts {
                let theirs = ts.one("guidPrefix").unwrap_or("").to_string();
                ck.eq("INFO_DST guidPrefix", d.guid_prefix.to_string(), theirs);
            }
        }
        SubmessageRepr::InfoTs(t) => {
            if let Some(ts) = ts {
                ck.eq(
                    "INFO_TS has a timestamp",
                    t.timestamp.is_some(),
                    ts.one("Timestamp").is_some(),
                );
            }
        }
        SubmessageRepr::HeartbeatFrag(h) => {
            if let Some(ts) = ts {
                check_ids(ck, ts, h.reader_id, h.writer_id);
                check_num(ck, ts, "writerSeqNumber", h.writer_sn.0);
                check_num(ck, ts, "lastFragmentNum", h.last_fragment_num as i64);
                check_num(ck, ts, "Count", h.count.0 as i64);
            }
        }
        SubmessageRepr::DataFrag(d) => {
            if d.fragment_bytes().is_none() {
                ck.fail("DATA_FRAG fragment_bytes() is None");
            }
            if let Some(q) = d.inline_qos {
                if let Err(e) = InlineQos::parse(ParameterListIter::new(q, d.endian)) {
                    ck.fail(format!("DATA_FRAG inline QoS: {e}"));
                }
            }
            if let Some(ts) = ts {
                check_ids(ck, ts, d.reader_id, d.writer_id);
                check_num(ck, ts, "writerSeqNumber", d.writer_sn.0);
                check_num(
                    ck,
                    ts,
                    "fragmentStartingNum",
                    d.fragment_starting_num as i64,
                );
                check_num(
                    ck,
                    ts,
                    "fragmentsInSubmessage",
                    d.fragments_in_submessage as i64,
                );
                check_num(ck, ts, "fragmentSize", d.fragment_size as i64);
                check_num(ck, ts, "sampleSize", d.sample_size as i64);
            }
        }
        SubmessageRepr::Data(d) => check_data(ck, d, ts),
        SubmessageRepr::Vendor { vendor, .. } => {
            ck.eq("vendor in force", *vendor, msg.header.vendor_id);
            ck.eq("raw vendor", raw.vendor, msg.header.vendor_id);
        }
        _ => {}
    }
}

fn check_data(ck: &mut Checker, d: &DataRepr<'_>, ts: Option<&TxtSub>) {
    let params = ts.map(|t| t.params()).unwrap_or_default();
    let mut qos = InlineQos::default();
    if let Some(q) = d.inline_qos {
        for p in ParameterListIter::new(q, d.endian) {
            if let Err(e) = p {
                ck.fail(format!("inline QoS list: {e}"));
            }
        }
        match InlineQos::parse(ParameterListIter::new(q, d.endian)) {
            Ok(v) => qos = v,
            Err(e) => ck.fail(format!("InlineQos::parse: {e}")),
        }
        // Emitting the typed inline QoS and parsing it again gives the same value.
        let mut buf = [0u8; 128];
        let n = qos.emit(&mut buf, d.endian).unwrap();
        ck.eq(
            "InlineQos round trip",
            InlineQos::parse(ParameterListIter::new(&buf[..n], d.endian)),
            Ok(qos),
        );
    }
    if let Some(ts) = ts {
        check_ids(ck, ts, d.reader_id, d.writer_id);
        check_num(ck, ts, "writerSeqNumber", d.writer_sn.0);
        let inline: Vec<&TxtParam> = params
            .iter()
            .filter(|p| p.section == Section::InlineQos)
            .collect();
        ck.eq(
            "inline QoS present",
            d.inline_qos.is_some(),
            !inline.is_empty(),
        );
        for p in inline {
            match p.pid {
                pid::STATUS_INFO => {
                    let v = p.one("Flags").unwrap_or("");
                    let theirs = u32::from_str_radix(
                        v.split(',').next().unwrap().trim_start_matches("0x"),
                        16,
                    )
                    .unwrap_or(u32::MAX);
                    ck.eq("STATUS_INFO", qos.status_info.map(|s| s.0), Some(theirs));
                }
                pid::KEY_HASH => {
                    let theirs = p.one("guid").map(squash_hex);
                    if theirs.is_some() {
                        ck.eq("KEY_HASH", qos.key_hash.map(|k| hex(&k)), theirs);
                    }
                }
                _ => {}
            }
        }
    }

    if !is_discovery_writer(d.writer_id) {
        return;
    }
    let dispose = d.key_flag
        || d.payload.is_none()
        || qos
            .status_info
            .is_some_and(|s| s.disposed() || s.unregistered());
    let Some(payload) = d.payload else {
        if !dispose {
            ck.fail("discovery DATA without payload");
        }
        return;
    };
    let sp = match SerializedPayload::parse(payload) {
        Ok(sp) => sp,
        Err(e) => return ck.fail(format!("SerializedPayload::parse: {e}")),
    };
    let endian = match sp.encapsulation.kind {
        EncapsulationKind::PlCdrLe => Endian::Little,
        EncapsulationKind::PlCdrBe => Endian::Big,
        k => return ck.fail(format!("discovery payload in {k}")),
    };
    let mut it = ParameterListIter::new(sp.data, endian);
    for p in it.by_ref() {
        if let Err(e) = p {
            ck.fail(format!("payload parameter list: {e}"));
        }
    }
    if it.consumed().is_none() {
        ck.fail("payload parameter list has no sentinel");
    }
    if dispose {
        return;
    }
    let payload_params: Vec<&TxtParam> = params
        .iter()
        .filter(|p| p.section == Section::Payload)
        .collect();
    let find = |pid: u16| payload_params.iter().find(|p| p.pid == pid).copied();

    if d.writer_id == EntityId::SPDP_WRITER {
        let pd = match ParticipantData::parse(payload) {
            Ok(pd) => pd,
            Err(e) => return ck.fail(format!("ParticipantData::parse: {e}")),
        };
        let mut buf = vec![0u8; 4096];
        let n = pd.emit(&mut buf).unwrap();
        ck.eq(
            "ParticipantData round trip",
            ParticipantData::parse(&buf[..n]),
            Ok(pd),
        );
        // In place, into a record left over from another announcement: the same result.
        let mut into = pd;
        into.domain_tag = Some("stale");
        into.user_data = Some(b"stale");
        into.metatraffic_multicast
            .push(Locator::udpv4([239, 255, 0, 1], 7400));
        ck.eq(
            "ParticipantData::parse_into",
            ParticipantData::parse_into(payload, &mut into).map(|()| into),
            Ok(pd),
        );
        if ts.is_none() {
            return;
        }
        match find(pid::PARTICIPANT_GUID).and_then(|p| p.one("Participant GUID")) {
            Some(g) => ck.eq("Participant GUID", hex(&pd.guid.to_bytes()), squash_hex(g)),
            None => ck.fail("tshark shows no Participant GUID"),
        }
        match find(pid::PARTICIPANT_LEASE_DURATION) {
            Some(p) => ck.eq(
                "lease duration",
                pd.lease_duration,
                Some(Duration {
                    seconds: num(p.one("seconds").unwrap_or("x")),
                    fraction: num(p.one("fraction").unwrap_or("x")),
                }),
            ),
            None => ck.eq("lease duration", pd.lease_duration, None),
        }
        for (id, list) in [
            (pid::METATRAFFIC_UNICAST_LOCATOR, &pd.metatraffic_unicast),
            (
                pid::METATRAFFIC_MULTICAST_LOCATOR,
                &pd.metatraffic_multicast,
            ),
            (pid::DEFAULT_UNICAST_LOCATOR, &pd.default_unicast),
            (pid::DEFAULT_MULTICAST_LOCATOR, &pd.default_multicast),
        ] {
            ck.eq(
                &format!("locators {}", pid_name(id, VendorId::UNKNOWN).unwrap()),
                our_locators(list.as_slice()),
                txt_locators(&params, id),
            );
        }
    } else {
        let ed = match EndpointData::parse(payload) {
            Ok(ed) => ed,
            Err(e) => return ck.fail(format!("EndpointData::parse: {e}")),
        };
        let kind_ok = if d.writer_id == EntityId::SEDP_PUB_WRITER {
            ed.endpoint_guid.entity.is_writer()
        } else {
            ed.endpoint_guid.entity.is_reader()
        };
        if !kind_ok {
            ck.fail(format!(
                "endpoint {} on the wrong SEDP writer",
                ed.endpoint_guid
            ));
        }
        let mut buf = vec![0u8; 4096];
        let n = ed.emit(&mut buf).unwrap();
        // TYPE_INFORMATION is only recorded as present, never re-emitted.
        let back = EndpointData::parse(&buf[..n]).map(|mut b| {
            b.has_type_information = ed.has_type_information;
            b
        });
        ck.eq("EndpointData round trip", back, Ok(ed));
        if ts.is_none() {
            return;
        }
        match find(pid::ENDPOINT_GUID).and_then(|p| p.one("Endpoint GUID")) {
            Some(g) => ck.eq(
                "Endpoint GUID",
                hex(&ed.endpoint_guid.to_bytes()),
                squash_hex(g),
            ),
            None => ck.fail("tshark shows no Endpoint GUID"),
        }
        ck.eq(
            "participant GUID",
            ed.participant_guid.map(|g| hex(&g.to_bytes())),
            find(pid::PARTICIPANT_GUID)
                .and_then(|p| p.one("Participant GUID"))
                .map(squash_hex),
        );
        ck.eq(
            "topic",
            Some(ed.topic_name),
            find(pid::TOPIC_NAME).and_then(|p| p.one("topic")),
        );
        ck.eq(
            "type name",
            Some(ed.type_name),
            find(pid::TYPE_NAME).and_then(|p| p.one("typeName")),
        );
        ck.eq(
            "unicast locators",
            our_locators(ed.unicast_locators.as_slice()),
            txt_locators(&params, pid::UNICAST_LOCATOR),
        );
        ck.eq(
            "multicast locators",
            our_locators(ed.multicast_locators.as_slice()),
            txt_locators(&params, pid::MULTICAST_LOCATOR),
        );
        ck.eq(
            "partition",
            ed.partition
                .map(|p| p.iter().map(String::from).collect::<Vec<_>>()),
            find(pid::PARTITION).map(|p| {
                p.lines
                    .iter()
                    .filter(|l| l.key.starts_with("name["))
                    .filter_map(|l| l.value.clone())
                    .collect()
            }),
        );
        ck.eq(
            "reliability kind",
            ed.reliability.map(|r| match r.kind {
                ReliabilityKind::BestEffort => 1,
                ReliabilityKind::Reliable => 2,
            }),
            find(pid::RELIABILITY)
                .and_then(|p| p.one("Kind"))
                .map(last_paren_hex),
        );
        ck.eq(
            "durability",
            ed.durability.map(|x| x as u32),
            find(pid::DURABILITY)
                .and_then(|p| p.one("Durability"))
                .map(last_paren_hex),
        );
        ck.eq(
            "liveliness lease",
            ed.liveliness.map(|l| l.lease_duration),
            find(pid::LIVELINESS).map(|p| Duration {
                seconds: num(p.one("seconds").unwrap_or("x")),
                fraction: num(p.one("fraction").unwrap_or("x")),
            }),
        );
    }
}

#[test]
fn every_vector_parses_agrees_with_tshark_and_reemits() {
    let manifests = manifests();
    let vectors = all_vectors();
    let mut errors = Vec::new();
    let mut with_txt = 0;
    let mut counts = HashMap::new();
    for v in &vectors {
        if v.with_extension("txt").exists() {
            with_txt += 1;
        }
        errors.extend(check_vector(v, manifests.get(v), &mut counts));
    }
    if !errors.is_empty() {
        panic!(
            "{} problems in {} vectors:\n{}",
            errors.len(),
            vectors.len(),
            errors.join("\n")
        );
    }
    // Each kind of comparison really ran (at least this often) over the captured set.
    for (what, min) in [
        ("re-emitted submessage", 600),
        ("rebuilt length", 215),
        ("manifest submessages", 190),
        ("submessage list", 190),
        ("readerEntityId", 300),
        ("writerSeqNumber", 170),
        ("firstAvailableSeqNumber", 100),
        ("lastSeqNumber", 100),
        ("count", 100),
        ("bitmapBase", 50),
        ("numBits", 50),
        ("bitmap", 50),
        ("Count", 55),
        ("gapStart", 2),
        ("fragmentStartingNum", 10),
        ("sampleSize", 10),
        ("lastFragmentNum", 7),
        ("INFO_DST guidPrefix", 100),
        ("STATUS_INFO", 40),
        ("KEY_HASH", 10),
        ("InlineQos round", 40),
        ("ParticipantData round", 20),
        ("Participant GUID", 20),
        ("lease duration", 20),
        ("locators METATRAFFIC_UNICAST_LOCATOR", 20),
        ("locators DEFAULT_UNICAST_LOCATOR", 20),
        ("EndpointData round", 50),
        ("Endpoint GUID", 50),
        ("topic", 50),
        ("type name", 50),
        ("unicast locators", 50),
        ("partition", 50),
        ("liveliness lease", 50),
        ("vendor in", 50),
    ] {
        let n = counts.get(what).copied().unwrap_or(0);
        assert!(
            n >= min,
            "comparison {what:?} ran {n} times, expected >= {min}"
        );
    }
    assert!(
        with_txt >= 190,
        "only {with_txt} vectors with a tshark decode"
    );
    assert_eq!(manifests.len(), with_txt, "MANIFEST rows vs .txt files");
}

/// The tshark reader itself sees what we expect it to see in one well-known file.
#[test]
fn txt_reader_sanity() {
    let t = fs::read_to_string(vectors_dir().join("cyclone/spdp-cyclone-0.txt")).unwrap();
    let t = parse_txt(&t);
    assert_eq!(t.guid_prefix, "01108552e8d4db6badc99845");
    let titles: Vec<&str> = t.subs.iter().map(|s| s.title.as_str()).collect();
    assert_eq!(titles, ["INFO_TS (0x09)", "DATA (0x15)"]);
    let params = t.subs[1].params();
    let pids: Vec<u16> = params.iter().map(|p| p.pid).collect();
    assert_eq!(
        pids,
        [0x2c, 0x59, 0x15, 0x16, 0x02, 0x50, 0x58, 0x0f, 0x31, 0x32, 0x8007, 0x8019, 0x01]
    );
    assert!(params.iter().all(|p| p.section == Section::Payload));
    assert_eq!(
        txt_locators(&params, pid::DEFAULT_UNICAST_LOCATOR),
        [(1, 7411, "127.0.0.1".to_string())]
    );
    assert_eq!(t.subs[1].one("writerSeqNumber"), Some("1"));
}

/// The DATA_FRAG datagrams of one sample reassemble into exactly `sample_size` bytes.
#[test]
fn fragmented_samples_reassemble() {
    for (prefix, datagrams, fragments, size) in [
        ("cyclone/datafrag-sample-cyclone-sn2-", 8, 77, 102404),
        ("cyclone11/datafrag-sample-cyclone11-sn1-", 8, 75, 100020),
        ("fastdds/datafrag-sample-fastdds-sn1-", 2, 2, 100009),
    ] {
        let mut sample: Vec<Option<u8>> = Vec::new();
        let mut frags = std::collections::BTreeSet::new();
        let mut sample_size = None;
        for k in 0..datagrams {
            let data = fs::read(vectors_dir().join(format!("{prefix}{k}.bin"))).unwrap();
            let msg = Message::parse(&data).unwrap();
            for raw in msg.submessages() {
                let raw = raw.unwrap();
                if let SubmessageRepr::DataFrag(d) = raw.parse().unwrap() {
                    let ss = *sample_size.get_or_insert(d.sample_size);
                    assert_eq!(ss, d.sample_size, "{prefix}{k}");
                    sample.resize(ss as usize, None);
                    let (start, bytes) = d.fragment_bytes().expect("consistent fragment");
                    for (i, b) in bytes.iter().enumerate() {
                        sample[start + i] = Some(*b);
                    }
                    for f in 0..d.fragments_in_submessage as u32 {
                        let n = d.fragment_starting_num + f;
                        if ((n - 1) as usize) * (d.fragment_size as usize) < ss as usize {
                            frags.insert(n);
                        }
                    }
                }
            }
        }
        assert_eq!(sample_size, Some(size), "{prefix}");
        assert_eq!(frags.len(), fragments, "{prefix}");
        assert_eq!(
            frags.iter().copied().max(),
            Some(fragments as u32),
            "{prefix}"
        );
        assert!(sample.iter().all(|b| b.is_some()), "{prefix}: holes");
        let bytes: Vec<u8> = sample.into_iter().map(Option::unwrap).collect();
        let sp = SerializedPayload::parse(&bytes).unwrap();
        assert!(
            matches!(
                sp.encapsulation.kind.to_u16(),
                0x0000 | 0x0001 | 0x0006..=0x0009
            ),
            "{prefix}: {}",
            sp.encapsulation.kind
        );
    }
}
