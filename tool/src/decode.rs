//! `pollen decode`: prints RTPS datagrams from raw datagram files and pcap/pcapng captures,
//! readably or as one JSON object per datagram.
//!
//! Each datagram is decoded once into a JSON value (the `--json` output); the human output is
//! rendered from that same value, so the two never disagree.

use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use pollen_engine::wire::{
    flags, submessage_id as id, submessage_name, EncapsulationKind, Endian, EndpointData, EntityId,
    Error, FragmentNumberSet, Message, ParameterListIter, ParticipantData, RawSubmessage,
    SequenceNumberSet, SerializedPayload, SubmessageRepr, VendorId,
};
use serde_json::{Map, Value};

use crate::capture::{self, Capture, Datagram};
use crate::params::{self, hex, octets, time_str, vendor_str};

/// Arguments of `pollen decode`.
#[derive(Debug, clap::Args)]
pub struct DecodeArgs {
    /// Print one JSON object per datagram (one line each) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Raw datagram files (one UDP payload each) or pcap/pcapng captures.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

/// Runs the command; exit status 1 if any file or datagram failed to decode.
pub fn run(args: &DecodeArgs) -> ExitCode {
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut failed = false;
    for path in &args.files {
        let name = path.display().to_string();
        let bytes = match fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("pollen: {}: {}", name, e);
                failed = true;
                continue;
            }
        };
        let cap = capture::load(&bytes);
        match write_capture(&mut out, &name, &cap, args.json) {
            Ok(ok) => failed |= !ok,
            // stdout closed (e.g. piped into `head`): stop quietly.
            Err(_) => return ExitCode::from(if failed { 1 } else { 0 }),
        }
    }
    if out.flush().is_err() {
        return ExitCode::from(1);
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Writes every datagram of one file; returns whether all of them decoded cleanly.
fn write_capture(out: &mut impl Write, name: &str, cap: &Capture, json: bool) -> io::Result<bool> {
    let mut ok = cap.error.is_none();
    let (mut rtps, mut other, mut bad) = (0usize, 0usize, 0usize);
    for (index, dg) in cap.datagrams.iter().enumerate() {
        let v = datagram_json(name, index, dg);
        match v.get("rtps") {
            Some(Value::Bool(false)) => other += 1,
            _ => rtps += 1,
        }
        if v["errors"].as_array().is_some_and(|e| !e.is_empty()) {
            bad += 1;
            ok = false;
        }
        if json {
            writeln!(out, "{}", v)?;
        } else {
            write_human(out, &v)?;
        }
    }
    let is_capture = cap.kind != Some(capture::FileKind::Raw);
    if is_capture || cap.error.is_some() {
        let mut line = format!(
            "{}: {}, {} UDP datagrams ({} RTPS, {} not RTPS, {} with errors)",
            name,
            cap.kind.map_or("unreadable", |k| k.name()),
            cap.datagrams.len(),
            rtps,
            other,
            bad
        );
        if cap.skipped_total() > 0 {
            let reasons: Vec<String> = cap
                .skipped
                .iter()
                .map(|(why, n)| format!("{} {}", n, why))
                .collect();
            line += &format!(
                ", {} frames skipped ({})",
                cap.skipped_total(),
                reasons.join(", ")
            );
        }
        if let Some(e) = &cap.error {
            line += &format!("; error: {}", e);
        }
        if json {
            // Keep stdout one JSON object per datagram; the summary goes to stderr.
            eprintln!("{}", line);
        } else {
            writeln!(out, "{}", line)?;
            writeln!(out)?;
        }
    }
    Ok(ok)
}

/// The JSON object describing one datagram.
pub fn datagram_json(file: &str, index: usize, dg: &Datagram) -> Value {
    let mut m = Map::new();
    m.insert("file".into(), file.into());
    m.insert("index".into(), index.into());
    if let Some(f) = dg.frame {
        m.insert("frame".into(), f.into());
    }
    if let Some(s) = dg.src {
        m.insert("src".into(), s.to_string().into());
    }
    if let Some(d) = dg.dst {
        m.insert("dst".into(), d.to_string().into());
    }
    m.insert("length".into(), dg.data.len().into());
    decode_message(&dg.data, &mut m);
    Value::Object(m)
}

/// Decodes an RTPS message (or reports that it is not one) into `m`.
fn decode_message(data: &[u8], m: &mut Map<String, Value>) {
    let mut errors = Vec::new();
    if !data.starts_with(b"RTPS") {
        m.insert("rtps".into(), false.into());
        m.insert("hex".into(), hex(&data[..data.len().min(64)]).into());
        m.insert("errors".into(), Value::Array(Vec::new()));
        return;
    }
    m.insert("rtps".into(), true.into());
    let msg = match Message::parse(data) {
        Ok(msg) => msg,
        Err(e) => {
            errors.push(format!("header: {}", e));
            m.insert("errors".into(), errors.into());
            return;
        }
    };
    let h = msg.header;
    m.insert("version".into(), h.version.to_string().into());
    m.insert("vendor".into(), h.vendor_id.to_string().into());
    if let Some(n) = h.vendor_id.name() {
        m.insert("vendor_name".into(), n.into());
    }
    m.insert("guid_prefix".into(), h.guid_prefix.to_string().into());
    let mut subs = Vec::new();
    let mut offset = pollen_engine::wire::HEADER_LEN;
    for raw in msg.submessages() {
        match raw {
            Ok(raw) => {
                offset = raw.offset + 4 + raw.body.len();
                subs.push(submessage_json(&raw, &mut errors));
            }
            Err(e) => {
                let detail = match data.get(offset..offset + 4) {
                    Some(b) => format!(
                        " ({} with octetsToNextHeader {}, {} bytes left)",
                        submessage_name(b[0]),
                        read_u16([b[2], b[3]], Endian::from_flags(b[1])),
                        data.len() - offset - 4
                    ),
                    None => format!(" ({} bytes left)", data.len() - offset),
                };
                errors.push(format!("submessage at offset {}: {}{}", offset, e, detail));
            }
        }
    }
    m.insert("submessages".into(), Value::Array(subs));
    m.insert("errors".into(), errors.into());
}

fn read_u16(b: [u8; 2], e: Endian) -> u16 {
    match e {
        Endian::Little => u16::from_le_bytes(b),
        Endian::Big => u16::from_be_bytes(b),
    }
}

/// The names of the flags set in a submessage of kind `sid`.
fn flag_names(sid: u8, f: u8) -> Vec<Value> {
    let named: &[(u8, &str)] = match sid {
        id::ACKNACK => &[(flags::ACKNACK_FINAL, "F")],
        id::HEARTBEAT => &[
            (flags::HEARTBEAT_FINAL, "F"),
            (flags::HEARTBEAT_LIVELINESS, "L"),
        ],
        id::HEARTBEAT_FRAG | id::NACK_FRAG | id::GAP | id::INFO_SRC | id::INFO_DST | id::PAD => &[],
        id::INFO_TS => &[(flags::INFO_TS_INVALIDATE, "I")],
        id::INFO_REPLY | id::INFO_REPLY_IP4 => &[(flags::INFO_REPLY_MULTICAST, "M")],
        id::DATA => &[
            (flags::DATA_INLINE_QOS, "Q"),
            (flags::DATA_DATA, "D"),
            (flags::DATA_KEY, "K"),
            (flags::DATA_NON_STANDARD, "N"),
        ],
        id::DATA_FRAG => &[
            (flags::DATA_FRAG_INLINE_QOS, "Q"),
            (flags::DATA_FRAG_KEY, "K"),
            (flags::DATA_FRAG_NON_STANDARD, "N"),
        ],
        _ => &[],
    };
    let mut out = Vec::new();
    if f & flags::ENDIANNESS != 0 {
        out.push("E".into());
    }
    let mut rest = f & !flags::ENDIANNESS;
    for &(bit, name) in named {
        if f & bit != 0 {
            out.push(name.into());
            rest &= !bit;
        }
    }
    if rest != 0 {
        out.push(format!("{:#04x}", rest).into());
    }
    out
}

fn eid(e: EntityId) -> Value {
    e.to_string().into()
}

fn sn_set(m: &mut Map<String, Value>, s: &SequenceNumberSet) {
    m.insert("bitmap_base".into(), s.base.0.into());
    m.insert("num_bits".into(), s.num_bits.into());
    m.insert(
        "set".into(),
        Value::Array(s.iter().map(|x| x.0.into()).collect()),
    );
}

fn frag_set(m: &mut Map<String, Value>, s: &FragmentNumberSet) {
    m.insert("bitmap_base".into(), s.base.into());
    m.insert("num_bits".into(), s.num_bits.into());
    m.insert(
        "set".into(),
        Value::Array(s.iter().map(Value::from).collect()),
    );
}

fn ip4_str(addr: u32, port: u32) -> String {
    let a = addr.to_be_bytes();
    format!("{}.{}.{}.{}:{}", a[0], a[1], a[2], a[3], port)
}

/// The name of a vendor-specific submessage in its vendor's context.
fn vendor_submessage_name(vendor: VendorId, sid: u8) -> Option<&'static str> {
    match (vendor, sid) {
        (VendorId::ECLIPSE, id::ADLINK_MSG_LEN) => Some("ADLINK_MSG_LEN"),
        _ => None,
    }
}

/// The JSON of one submessage; problems are appended to `errors`.
fn submessage_json(raw: &RawSubmessage<'_>, errors: &mut Vec<String>) -> Value {
    let mut m = Map::new();
    let kind = submessage_name(raw.id);
    m.insert("kind".into(), kind.into());
    m.insert("offset".into(), raw.offset.into());
    m.insert("flags".into(), Value::Array(flag_names(raw.id, raw.flags)));
    m.insert("length".into(), raw.body.len().into());
    let context = format!("{} at offset {}", kind, raw.offset);
    let repr = match raw.parse() {
        Ok(r) => r,
        Err(e) => {
            errors.push(format!("{}: {}", context, e));
            m.insert("error".into(), e.to_string().into());
            return Value::Object(m);
        }
    };
    match repr {
        SubmessageRepr::Pad { .. } => {}
        SubmessageRepr::AckNack(a) => {
            m.insert("reader_id".into(), eid(a.reader_id));
            m.insert("writer_id".into(), eid(a.writer_id));
            sn_set(&mut m, &a.reader_sn_state);
            m.insert("count".into(), a.count.0.into());
        }
        SubmessageRepr::Heartbeat(h) => {
            m.insert("reader_id".into(), eid(h.reader_id));
            m.insert("writer_id".into(), eid(h.writer_id));
            m.insert("first_sn".into(), h.first_sn.0.into());
            m.insert("last_sn".into(), h.last_sn.0.into());
            m.insert("count".into(), h.count.0.into());
        }
        SubmessageRepr::Gap(g) => {
            m.insert("reader_id".into(), eid(g.reader_id));
            m.insert("writer_id".into(), eid(g.writer_id));
            m.insert("gap_start".into(), g.gap_start.0.into());
            sn_set(&mut m, &g.gap_list);
        }
        SubmessageRepr::InfoTs(t) => match t.timestamp {
            Some(ts) => {
                m.insert("timestamp".into(), time_str(ts).into());
            }
            None => {
                m.insert("invalidate".into(), true.into());
            }
        },
        SubmessageRepr::InfoSrc(s) => {
            m.insert("version".into(), s.version.to_string().into());
            m.insert("vendor".into(), s.vendor_id.to_string().into());
            m.insert("guid_prefix".into(), s.guid_prefix.to_string().into());
        }
        SubmessageRepr::InfoReplyIp4(r) => {
            m.insert("unicast".into(), ip4_str(r.unicast.0, r.unicast.1).into());
            if let Some((a, p)) = r.multicast {
                m.insert("multicast".into(), ip4_str(a, p).into());
            }
        }
        SubmessageRepr::InfoDst(d) => {
            m.insert("guid_prefix".into(), d.guid_prefix.to_string().into());
        }
        SubmessageRepr::InfoReply(r) => {
            let list = |s: pollen_engine::wire::LocatorSeq<'_>| {
                Value::Array(s.iter().map(|l| l.to_string().into()).collect())
            };
            m.insert("unicast_locators".into(), list(r.unicast));
            if let Some(mc) = r.multicast {
                m.insert("multicast_locators".into(), list(mc));
            }
        }
        SubmessageRepr::NackFrag(n) => {
            m.insert("reader_id".into(), eid(n.reader_id));
            m.insert("writer_id".into(), eid(n.writer_id));
            m.insert("writer_sn".into(), n.writer_sn.0.into());
            frag_set(&mut m, &n.fragment_number_state);
            m.insert("count".into(), n.count.0.into());
        }
        SubmessageRepr::HeartbeatFrag(h) => {
            m.insert("reader_id".into(), eid(h.reader_id));
            m.insert("writer_id".into(), eid(h.writer_id));
            m.insert("writer_sn".into(), h.writer_sn.0.into());
            m.insert("last_fragment_num".into(), h.last_fragment_num.into());
            m.insert("count".into(), h.count.0.into());
        }
        SubmessageRepr::Data(d) => {
            m.insert("reader_id".into(), eid(d.reader_id));
            m.insert("writer_id".into(), eid(d.writer_id));
            m.insert("writer_sn".into(), d.writer_sn.0.into());
            if let Some(q) = d.inline_qos_params() {
                let ctx = format!("{} inline QoS", context);
                let v = params::parameter_list(q, raw.vendor, &ctx, errors);
                m.insert("inline_qos".into(), v);
            }
            if let Some(p) = d.payload {
                data_payload(
                    &mut m,
                    p,
                    d.key_flag,
                    d.non_standard,
                    d.writer_id,
                    raw,
                    errors,
                );
            }
        }
        SubmessageRepr::DataFrag(d) => {
            m.insert("reader_id".into(), eid(d.reader_id));
            m.insert("writer_id".into(), eid(d.writer_id));
            m.insert("writer_sn".into(), d.writer_sn.0.into());
            m.insert(
                "fragment_starting_num".into(),
                d.fragment_starting_num.into(),
            );
            m.insert(
                "fragments_in_submessage".into(),
                d.fragments_in_submessage.into(),
            );
            m.insert("fragment_size".into(), d.fragment_size.into());
            m.insert("sample_size".into(), d.sample_size.into());
            if let Some(q) = d.inline_qos {
                let ctx = format!("{} inline QoS", context);
                let list = ParameterListIter::new(q, d.endian);
                let v = params::parameter_list(list, raw.vendor, &ctx, errors);
                m.insert("inline_qos".into(), v);
            }
            match d.fragment_bytes() {
                Some((start, bytes)) => {
                    m.insert("sample_offset".into(), start.into());
                    m.insert("data_length".into(), bytes.len().into());
                    if start == 0 && !d.non_standard {
                        if let Ok(sp) = SerializedPayload::parse(bytes) {
                            m.insert(
                                "encapsulation".into(),
                                sp.encapsulation.kind.to_string().into(),
                            );
                        }
                    }
                }
                None => {
                    let e = "fragment fields inconsistent with the data carried";
                    errors.push(format!("{}: {}", context, e));
                    m.insert("error".into(), e.into());
                }
            }
        }
        SubmessageRepr::Vendor {
            vendor, id, body, ..
        } => {
            m.insert("id".into(), format!("{:#04x}", id).into());
            m.insert("vendor".into(), vendor.to_string().into());
            if let Some(n) = vendor_submessage_name(vendor, id) {
                m.insert("name".into(), n.into());
            }
            m.insert("body".into(), hex(body).into());
        }
        SubmessageRepr::HeaderExtension { body, .. } => {
            m.insert("body".into(), hex(body).into());
        }
        SubmessageRepr::Unknown { id, body, .. } => {
            m.insert("id".into(), format!("{:#04x}", id).into());
            m.insert("body".into(), hex(body).into());
        }
    }
    Value::Object(m)
}

/// Bytes of a non-parameter-list payload shown in the output.
const PREVIEW: usize = 64;

/// The serialized payload of a DATA: encapsulation, length and, for PL_CDR, the parameters and
/// (from the SPDP/SEDP writers) the typed discovery data.
fn data_payload(
    m: &mut Map<String, Value>,
    payload: &[u8],
    key: bool,
    non_standard: bool,
    writer: EntityId,
    raw: &RawSubmessage<'_>,
    errors: &mut Vec<String>,
) {
    let what = if key { "key" } else { "payload" };
    let mut p = Map::new();
    if non_standard {
        p.insert("non_standard".into(), true.into());
        p.insert("length".into(), payload.len().into());
        p.insert(
            "preview".into(),
            hex(&payload[..payload.len().min(PREVIEW)]).into(),
        );
        m.insert(what.into(), Value::Object(p));
        return;
    }
    let sp = match SerializedPayload::parse(payload) {
        Ok(sp) => sp,
        Err(e) => {
            errors.push(format!(
                "DATA at offset {}: {} shorter than its encapsulation header ({})",
                raw.offset, what, e
            ));
            m.insert(what.into(), Value::Object(p));
            return;
        }
    };
    let kind = sp.encapsulation.kind;
    p.insert("encapsulation".into(), kind.to_string().into());
    p.insert(
        "options".into(),
        format!("{:#06x}", sp.encapsulation.options).into(),
    );
    p.insert("length".into(), sp.data.len().into());
    let endian = match kind {
        EncapsulationKind::PlCdrLe => Some(Endian::Little),
        EncapsulationKind::PlCdrBe => Some(Endian::Big),
        _ => None,
    };
    let Some(endian) = endian else {
        let data = sp.unpadded();
        p.insert("preview".into(), octets(&data[..data.len().min(PREVIEW)]));
        m.insert(what.into(), Value::Object(p));
        return;
    };
    m.insert(what.into(), Value::Object(p));
    let ctx = format!("DATA at offset {} {}", raw.offset, what);
    let before = errors.len();
    let list = ParameterListIter::new(sp.data, endian);
    m.insert(
        "parameters".into(),
        params::parameter_list(list, raw.vendor, &ctx, errors),
    );
    if errors.len() != before || key {
        return;
    }
    let typed = if writer == EntityId::SPDP_WRITER {
        Some((
            "participant",
            ParticipantData::parse(payload).map(|d| params::participant(&d)),
        ))
    } else if writer == EntityId::SEDP_PUB_WRITER || writer == EntityId::SEDP_SUB_WRITER {
        Some((
            "endpoint",
            EndpointData::parse(payload).map(|d| params::endpoint(&d)),
        ))
    } else {
        None
    };
    match typed {
        Some((k, Ok(v))) => {
            m.insert(k.into(), v);
        }
        Some((k, Err(e))) => {
            // A dispose carries only the key, so this is a note rather than an error.
            m.insert(format!("{}_error", k), typed_error(e).into());
        }
        None => {}
    }
}

fn typed_error(e: Error) -> String {
    match e {
        Error::MissingParameter(p) | Error::BadParameter(p) | Error::DuplicateParameter(p) => {
            let name = pollen_engine::wire::pid_name(p, VendorId::UNKNOWN).unwrap_or("unknown");
            format!("{} ({})", e, name)
        }
        e => e.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Human-readable output, rendered from the JSON value.

/// Keys of a submessage that are printed on their own lines rather than inline.
const BLOCK_KEYS: [&str; 7] = [
    "inline_qos",
    "payload",
    "key",
    "parameters",
    "participant",
    "endpoint",
    "error",
];
/// Keys of a submessage that are already in its first line's prefix.
const HEAD_KEYS: [&str; 4] = ["kind", "offset", "flags", "length"];

/// Bytes of hex shown inline before eliding.
const HUMAN_HEX_BYTES: usize = 48;

fn short_hex(h: &str) -> String {
    if h.len() > 2 * HUMAN_HEX_BYTES {
        format!("{}… ({} bytes)", &h[..2 * HUMAN_HEX_BYTES], h.len() / 2)
    } else {
        h.to_string()
    }
}

/// A value on one line. Strings are quoted when `quote` (parameter values) so that empty and
/// odd strings stay visible.
fn inline(v: &Value, quote: bool) -> String {
    match v {
        Value::String(s) if quote => Value::String(s.clone()).to_string(),
        Value::String(s) => s.clone(),
        Value::Array(a) => {
            let items: Vec<String> = a.iter().map(|x| inline(x, quote)).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(o) if o.contains_key("hex") && o.len() <= 2 => {
            let h = o["hex"].as_str().unwrap_or_default();
            let mut s = if h.is_empty() {
                "(empty)".to_string()
            } else {
                format!("0x{}", short_hex(h))
            };
            if let Some(t) = o.get("text") {
                s += &format!(" {}", Value::to_string(t));
            }
            s
        }
        Value::Object(o) => {
            let items: Vec<String> = o
                .iter()
                .map(|(k, x)| format!("{}={}", k, inline(x, quote)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        other => other.to_string(),
    }
}

fn write_params(out: &mut impl Write, indent: &str, list: &Value) -> io::Result<()> {
    for p in list.as_array().into_iter().flatten() {
        let pid = p["pid"].as_str().unwrap_or("?");
        let name = p["name"].as_str().unwrap_or("(unknown)");
        let mut line = format!(
            "{}{} ({}): {}",
            indent,
            name,
            pid,
            inline(&p["value"], true)
        );
        if let Some(e) = p.get("error") {
            line += &format!("  [error: {}]", inline(e, false));
        }
        writeln!(out, "{}", line)?;
    }
    Ok(())
}

fn write_human(out: &mut impl Write, v: &Value) -> io::Result<()> {
    let mut head = format!("{} #{}", v["file"].as_str().unwrap_or("?"), v["index"]);
    if let Some(f) = v.get("frame") {
        head += &format!(" frame {}", f);
    }
    if let (Some(s), Some(d)) = (v.get("src"), v.get("dst")) {
        head += &format!(" {} -> {}", inline(s, false), inline(d, false));
    }
    head += &format!(", {} bytes", v["length"]);
    writeln!(out, "{}", head)?;
    if v["rtps"] == Value::Bool(false) {
        writeln!(
            out,
            "  not RTPS: 0x{}",
            short_hex(v["hex"].as_str().unwrap_or(""))
        )?;
    } else if let Some(p) = v.get("guid_prefix") {
        let vendor = v["vendor"].as_str().unwrap_or("?");
        let vendor = match v.get("vendor_name").and_then(Value::as_str) {
            Some(n) => format!("{} ({})", vendor, n),
            None => vendor.to_string(),
        };
        writeln!(
            out,
            "  RTPS {} vendor {} guid prefix {}",
            inline(&v["version"], false),
            vendor,
            inline(p, false)
        )?;
    }
    for s in v["submessages"].as_array().into_iter().flatten() {
        let Some(o) = s.as_object() else { continue };
        let flags = inline(&o["flags"], false);
        let mut line = format!(
            "  [{:>4}] {} {} len {}",
            o["offset"],
            inline(&o["kind"], false),
            flags,
            o["length"]
        );
        for (k, x) in o {
            if HEAD_KEYS.contains(&k.as_str()) || BLOCK_KEYS.contains(&k.as_str()) {
                continue;
            }
            let shown = match (k.as_str(), x) {
                ("vendor", Value::String(s)) => {
                    let b = u16::from_str_radix(s, 16).unwrap_or(0).to_be_bytes();
                    vendor_str(VendorId(b))
                }
                ("body", Value::String(h)) => format!("0x{}", short_hex(h)),
                _ => inline(x, false),
            };
            line += &format!(" {}={}", k, shown);
        }
        writeln!(out, "{}", line)?;
        if let Some(q) = o.get("inline_qos") {
            writeln!(out, "         inline QoS:")?;
            write_params(out, "           ", q)?;
        }
        for what in ["payload", "key"] {
            if let Some(p) = o.get(what).and_then(Value::as_object) {
                let mut line = format!("         {}:", what);
                for (k, x) in p {
                    line += &format!(" {}={}", k, inline(x, false));
                }
                writeln!(out, "{}", line)?;
            }
        }
        if let Some(q) = o.get("parameters") {
            write_params(out, "           ", q)?;
        }
        for what in ["participant", "endpoint"] {
            if let Some(d) = o.get(what).and_then(Value::as_object) {
                writeln!(out, "         {}:", what)?;
                for (k, x) in d {
                    writeln!(out, "           {}: {}", k, inline(x, false))?;
                }
            }
        }
    }
    for e in v["errors"].as_array().into_iter().flatten() {
        writeln!(out, "  ERROR: {}", inline(e, false))?;
    }
    writeln!(out)
}
