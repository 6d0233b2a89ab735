//! `pollen decode` end to end: the built binary over the captured vectors (checked against the
//! MANIFEST.tsv rows and tshark's decodes), over pcap/pcapng files built here, and over
//! corrupted input.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionBlock;
use pcap_file::pcapng::{PcapNgBlock, PcapNgWriter};
use pcap_file::DataLink;
use serde_json::Value;

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../vectors")
}

fn pollen(args: &[&str], files: &[impl AsRef<std::ffi::OsStr>]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pollen"))
        .args(args)
        .args(files)
        .output()
        .expect("run pollen")
}

fn json_lines(out: &Output) -> Vec<Value> {
    String::from_utf8(out.stdout.clone())
        .expect("utf-8 output")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l}: {e}")))
        .collect()
}

fn no_panic(out: &Output) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "pollen panicked: {err}");
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "status {:?}",
        out.status
    );
}

/// A fresh directory under the system temp dir, unique to this process and test.
fn temp_dir(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pollen-decode-{}-{}", std::process::id(), test));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

fn bins(folder: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "bin"))
        .collect();
    v.sort();
    v
}

fn folders() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(vectors())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("MANIFEST.tsv").exists())
        .collect();
    v.sort();
    assert!(v.len() >= 3, "vector folders missing: {v:?}");
    v
}

fn base(v: &Value) -> String {
    let f = v["file"].as_str().unwrap();
    Path::new(f)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// Decodes every vector of a folder in one run; returns the datagrams by file name.
fn decode_folder(folder: &Path) -> BTreeMap<String, Value> {
    let files = bins(folder);
    let out = pollen(&["decode", "--json"], &files);
    no_panic(&out);
    assert!(
        out.status.success(),
        "decode failed in {}: {}",
        folder.display(),
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.contains("\"errors\":[]"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let lines = json_lines(&out);
    assert_eq!(lines.len(), files.len(), "one datagram per .bin");
    lines.into_iter().map(|v| (base(&v), v)).collect()
}

/// The submessage list as MANIFEST.tsv writes it: `INFO_TS,DATA[wr=000100c2],VENDOR_80`.
fn manifest_submessages(v: &Value) -> String {
    let subs = v["submessages"].as_array().expect("submessages");
    let items: Vec<String> = subs
        .iter()
        .map(|s| {
            let kind = s["kind"].as_str().unwrap();
            match (kind, s.get("writer_id")) {
                ("VENDOR", _) => format!("VENDOR_{}", &s["id"].as_str().unwrap()[2..]),
                (_, Some(Value::String(w))) => format!("{kind}[wr={w}]"),
                _ => kind.to_string(),
            }
        })
        .collect();
    items.join(",")
}

#[test]
fn vectors_agree_with_manifest() {
    let mut checked = 0;
    for folder in folders() {
        let decoded = decode_folder(&folder);
        let manifest = fs::read_to_string(folder.join("MANIFEST.tsv")).unwrap();
        let mut rows = BTreeSet::new();
        for line in manifest.lines().skip(1).filter(|l| !l.is_empty()) {
            let c: Vec<&str> = line.split('\t').collect();
            assert!(c.len() >= 10, "short manifest row {line}");
            let (file, version, vendor, prefix, subs) = (c[0], c[6], c[7], c[8], c[9]);
            let v = decoded
                .get(file)
                .unwrap_or_else(|| panic!("{file} listed but not decoded"));
            assert_eq!(v["index"], 0, "{file}");
            assert_eq!(v["rtps"], true, "{file}");
            assert_eq!(v["errors"], serde_json::json!([]), "{file}");
            assert_eq!(v["version"], version, "{file}");
            assert_eq!(v["vendor"], vendor, "{file}");
            assert_eq!(v["guid_prefix"], prefix, "{file}");
            assert_eq!(manifest_submessages(v), subs, "{file}");
            rows.insert(file.to_string());
            checked += 1;
        }
        // Vectors without a manifest row (the reassembly sets) still decode cleanly.
        for (file, v) in &decoded {
            if !rows.contains(file) {
                assert_eq!(v["rtps"], true, "{file}");
                assert_eq!(v["errors"], serde_json::json!([]), "{file}");
                assert!(!v["submessages"].as_array().unwrap().is_empty(), "{file}");
            }
        }
    }
    assert!(checked > 150, "only {checked} manifest rows checked");
}

/// `topic:` / `typeName:` lines of a tshark decode (not the bracketed, inferred ones).
fn tshark_values(txt: &str, key: &str) -> Vec<String> {
    txt.lines()
        .filter_map(|l| l.trim_start().strip_prefix(key))
        .map(|s| s.trim().to_string())
        .collect()
}

fn param_values(v: &Value, name: &str) -> Vec<String> {
    let mut out = Vec::new();
    for s in v["submessages"].as_array().unwrap() {
        for p in s
            .get("parameters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if p["name"] == name {
                out.push(p["value"].as_str().unwrap().to_string());
            }
        }
    }
    out
}

#[test]
fn sedp_vectors_name_their_topics() {
    let mut with_topics = 0;
    for folder in folders() {
        let decoded = decode_folder(&folder);
        for (file, v) in &decoded {
            if !file.starts_with("sedp-") {
                continue;
            }
            let txt = folder.join(file.replace(".bin", ".txt"));
            let Ok(txt) = fs::read_to_string(&txt) else {
                continue;
            };
            let topics = tshark_values(&txt, "topic:");
            let types = tshark_values(&txt, "typeName:");
            assert_eq!(param_values(v, "TOPIC_NAME"), topics, "{file}");
            assert_eq!(param_values(v, "TYPE_NAME"), types, "{file}");
            // The typed SEDP view agrees with the raw parameters.
            let mut typed = Vec::new();
            for s in v["submessages"].as_array().unwrap() {
                if let Some(e) = s.get("endpoint") {
                    typed.push((
                        e["topic_name"].as_str().unwrap().to_string(),
                        e["type_name"].as_str().unwrap().to_string(),
                    ));
                    assert!(e["endpoint_guid"].as_str().unwrap().len() == 33, "{file}");
                }
            }
            let raw: Vec<(String, String)> = topics.into_iter().zip(types).collect();
            assert_eq!(typed, raw, "{file}");
            if !raw.is_empty() {
                with_topics += 1;
            }
        }
    }
    assert!(
        with_topics >= 20,
        "only {with_topics} SEDP vectors with topics"
    );
}

#[test]
fn spdp_vectors_have_participant_data() {
    for folder in folders() {
        for (file, v) in decode_folder(&folder) {
            if !file.starts_with("spdp-") || file.starts_with("spdp-dispose") {
                continue;
            }
            let p = v["submessages"]
                .as_array()
                .unwrap()
                .iter()
                .find_map(|s| s.get("participant"))
                .unwrap_or_else(|| panic!("{file}: no participant"));
            let prefix = v["guid_prefix"].as_str().unwrap();
            assert_eq!(p["guid"], format!("{prefix}:000001c1"), "{file}");
            let loc = p["metatraffic_unicast"][0].as_str().unwrap();
            assert!(loc.starts_with("udp/127.0.0.1:"), "{file}: {loc}");
        }
    }
}

/// Ethernet + IPv4 + UDP around a payload.
fn ethernet_udp(src: ([u8; 4], u16), dst: ([u8; 4], u16), payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&[0x08, 0x00]);
    let total = (20 + 8 + payload.len()) as u16;
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&[0, 1, 0x40, 0, 64, 17, 0, 0]);
    f.extend_from_slice(&src.0);
    f.extend_from_slice(&dst.0);
    f.extend_from_slice(&src.1.to_be_bytes());
    f.extend_from_slice(&dst.1.to_be_bytes());
    f.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(payload);
    f
}

fn capture_frames() -> Vec<Vec<u8>> {
    let spdp = fs::read(vectors().join("cyclone/spdp-cyclone-0.bin")).unwrap();
    let sedp = fs::read(vectors().join("fastdds/sedp-pub-fastdds-1.bin")).unwrap();
    let mut arp = vec![0u8; 12];
    arp.extend_from_slice(&[0x08, 0x06]);
    arp.extend_from_slice(&[0u8; 28]);
    vec![
        ethernet_udp(([127, 0, 0, 1], 39252), ([239, 255, 0, 1], 7400), &spdp),
        arp,
        ethernet_udp(([10, 1, 2, 3], 43216), ([10, 1, 2, 4], 7410), &sedp),
        ethernet_udp(([127, 0, 0, 1], 39252), ([127, 0, 0, 1], 7410), &[0x01]),
    ]
}

fn check_capture_decode(path: &Path) {
    let out = pollen(&["decode", "--json"], &[path.to_path_buf()]);
    no_panic(&out);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let v = json_lines(&out);
    assert_eq!(v.len(), 3, "three UDP datagrams, the ARP frame skipped");
    assert_eq!(v[0]["src"], "127.0.0.1:39252");
    assert_eq!(v[0]["dst"], "239.255.0.1:7400");
    assert_eq!(v[0]["frame"], 1);
    assert_eq!(v[0]["index"], 0);
    assert_eq!(v[0]["rtps"], true);
    assert_eq!(v[0]["guid_prefix"], "01108552e8d4db6badc99845");
    assert_eq!(v[0]["vendor"], "0110");
    assert_eq!(v[1]["src"], "10.1.2.3:43216");
    assert_eq!(v[1]["dst"], "10.1.2.4:7410");
    assert_eq!(v[1]["frame"], 3);
    assert_eq!(v[1]["index"], 1);
    assert_eq!(v[1]["vendor"], "010f");
    assert_eq!(v[1]["version"], "2.3");
    assert_eq!(v[2]["rtps"], false);
    assert_eq!(v[2]["index"], 2);
    assert_eq!(v[2]["errors"], serde_json::json!([]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("1 frames skipped (1 not IPv4)"),
        "summary: {err}"
    );

    let text = pollen(&["decode"], &[path.to_path_buf()]);
    assert!(text.status.success());
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("127.0.0.1:39252 -> 239.255.0.1:7400"),
        "{text}"
    );
    assert!(text.contains("not RTPS: 0x01"), "{text}");
    assert!(text.contains("udp/127.0.0.1:7410"), "{text}");
}

#[test]
fn pcap_and_pcapng_captures() {
    let dir = temp_dir("pcap");
    let frames = capture_frames();

    let pcap = dir.join("two.pcap");
    let mut w = PcapWriter::with_header(
        fs::File::create(&pcap).unwrap(),
        PcapHeader {
            datalink: DataLink::ETHERNET,
            ..PcapHeader::default()
        },
    )
    .unwrap();
    for (i, f) in frames.iter().enumerate() {
        let ts = Duration::from_millis(1000 + i as u64);
        w.write_packet(&PcapPacket::new(ts, f.len() as u32, f))
            .unwrap();
    }
    drop(w);
    check_capture_decode(&pcap);

    let pcapng = dir.join("two.pcapng");
    let mut w = PcapNgWriter::new(fs::File::create(&pcapng).unwrap()).unwrap();
    let idb = InterfaceDescriptionBlock {
        linktype: DataLink::ETHERNET,
        snaplen: 0xffff,
        options: vec![],
    };
    w.write_block(&idb.into_block()).unwrap();
    for (i, f) in frames.iter().enumerate() {
        let epb = EnhancedPacketBlock {
            interface_id: 0,
            timestamp: Duration::from_millis(1000 + i as u64),
            original_len: f.len() as u32,
            data: Cow::Borrowed(f),
            options: vec![],
        };
        w.write_block(&epb.into_block()).unwrap();
    }
    drop(w);
    check_capture_decode(&pcapng);

    // A capture cut in the middle of a packet: the frames before it still decode, exit 1.
    let bytes = fs::read(&pcap).unwrap();
    let cut = dir.join("cut.pcap");
    fs::write(&cut, &bytes[..bytes.len() - 5]).unwrap();
    let out = pollen(&["decode", "--json"], &[cut]);
    no_panic(&out);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json_lines(&out).len(), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("truncated"));

    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn corrupted_datagrams_fail_cleanly() {
    let dir = temp_dir("corrupt");
    let spdp = fs::read(vectors().join("cyclone/spdp-cyclone-0.bin")).unwrap();
    // INFO_TS (12 bytes at 20) then DATA at 32.
    assert_eq!(&spdp[20..24], &[0x09, 0x01, 8, 0]);

    let truncated = dir.join("truncated.bin");
    fs::write(&truncated, &spdp[..200]).unwrap();
    let out = pollen(&["decode", "--json"], &[&truncated]);
    no_panic(&out);
    assert_eq!(out.status.code(), Some(1));
    let v = &json_lines(&out)[0];
    let errors = v["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let e = errors[0].as_str().unwrap();
    assert!(
        e.contains("offset 32") && e.contains("octetsToNextHeader"),
        "{e}"
    );
    assert_eq!(
        v["submessages"][0]["kind"], "INFO_TS",
        "what precedes is kept"
    );

    let mut broken = spdp.clone();
    broken[22] = 6; // INFO_TS octetsToNextHeader 8 -> 6: not a multiple of 4
    let broken_path = dir.join("broken-otnh.bin");
    fs::write(&broken_path, &broken).unwrap();
    let out = pollen(&["decode", "--json"], &[&broken_path]);
    no_panic(&out);
    assert_eq!(out.status.code(), Some(1));
    let v = &json_lines(&out)[0];
    let e = v["errors"][0].as_str().unwrap();
    assert!(
        e.contains("offset 20") && e.contains("bad octetsToNextHeader"),
        "{e}"
    );

    // A bad parameter list: the first parameter's length runs past the payload.
    let mut bad_pl = spdp.clone();
    let first_param = 32 + 4 + 20 + 4; // DATA header, fixed fields, encapsulation
    bad_pl[first_param + 2..first_param + 4].copy_from_slice(&0x4000u16.to_le_bytes());
    let bad_pl_path = dir.join("bad-pl.bin");
    fs::write(&bad_pl_path, &bad_pl).unwrap();
    let out = pollen(&["decode", "--json"], &[bad_pl_path]);
    no_panic(&out);
    assert_eq!(out.status.code(), Some(1));
    let e = json_lines(&out)[0]["errors"][0]
        .as_str()
        .unwrap()
        .to_string();
    assert!(e.contains("malformed parameter list"), "{e}");

    // A short header.
    let short = dir.join("short.bin");
    fs::write(&short, &spdp[..10]).unwrap();
    let out = pollen(&["decode", "--json"], &[short]);
    no_panic(&out);
    assert_eq!(out.status.code(), Some(1));
    let e = json_lines(&out)[0]["errors"][0]
        .as_str()
        .unwrap()
        .to_string();
    assert!(e.contains("header") && e.contains("truncated"), "{e}");

    // The text output names the reason too; a good file beside bad ones still prints.
    let good = vectors().join("cyclone/spdp-cyclone-0.bin");
    let out = pollen(&["decode"], &[good, truncated, broken_path]);
    no_panic(&out);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.matches("ERROR: ").count(), 2, "{text}");
    assert!(text.contains("bad octetsToNextHeader"), "{text}");
    assert!(text.contains("PARTICIPANT_GUID"), "{text}");

    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn non_rtps_datagrams_are_not_errors() {
    let dir = temp_dir("nonrtps");
    let wake = dir.join("wake.bin");
    fs::write(&wake, [0x01]).unwrap();
    let empty = dir.join("empty.bin");
    fs::write(&empty, []).unwrap();
    let out = pollen(&["decode", "--json"], &[wake, empty]);
    no_panic(&out);
    assert!(out.status.success());
    for v in json_lines(&out) {
        assert_eq!(v["rtps"], false);
        assert_eq!(v["errors"], serde_json::json!([]));
    }
    let _ = fs::remove_dir_all(&dir);
}

/// Deterministic mutations of real vectors: whatever the bytes, no panic and status 0 or 1.
#[test]
fn mutated_vectors_never_panic() {
    let dir = temp_dir("mutate");
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut files = Vec::new();
    for folder in folders() {
        for (i, bin) in bins(&folder).iter().enumerate().step_by(3) {
            let mut b = fs::read(bin).unwrap();
            for _ in 0..1 + next() % 6 {
                let at = (next() as usize) % b.len();
                match next() % 3 {
                    0 => b[at] = next() as u8,
                    1 => b[at] ^= 1 << (next() % 8),
                    _ => b.truncate(at.max(1)),
                }
            }
            let p = dir.join(format!(
                "{}-{i}.bin",
                folder.file_name().unwrap().to_string_lossy()
            ));
            fs::write(&p, &b).unwrap();
            files.push(p);
        }
    }
    let out = pollen(&["decode", "--json"], &files);
    no_panic(&out);
    assert_eq!(json_lines(&out).len(), files.len());
    let out = pollen(&["decode"], &files);
    no_panic(&out);
    let _ = fs::remove_dir_all(&dir);
}
