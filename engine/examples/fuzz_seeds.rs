//! Writes the `parameter_list` fuzz seeds from the captured vectors.
//!
//! For every DATA and DATA_FRAG submessage in `vectors/*/*.bin` it extracts the inline QoS and,
//! for DATA from the SPDP/SEDP writers with a PL_CDR payload, the parameter list after the
//! encapsulation header. Each is written to `fuzz/seeds/parameter_list/` prefixed with the
//! endianness byte the `parameter_list` target expects (1 = little endian, 0 = big endian).
//! Identical lists are written once.
//!
//! Run from anywhere: `cargo run -p pollen-engine --example fuzz_seeds`.

use pollen_engine::wire::{
    DataRepr, EncapsulationKind, Endian, Message, SerializedPayload, SubmessageRepr,
};
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

const DISCOVERY_WRITERS: [[u8; 4]; 3] = [
    [0x00, 0x01, 0x00, 0xc2],
    [0x00, 0x00, 0x03, 0xc2],
    [0x00, 0x00, 0x04, 0xc2],
];

fn endian_byte(e: Endian) -> u8 {
    match e {
        Endian::Little => 1,
        Endian::Big => 0,
    }
}

fn discovery_list<'a>(d: &DataRepr<'a>) -> Option<(Endian, &'a [u8])> {
    if d.key_flag || !DISCOVERY_WRITERS.contains(&d.writer_id.0) {
        return None;
    }
    let sp = SerializedPayload::parse(d.payload?).ok()?;
    match sp.encapsulation.kind {
        EncapsulationKind::PlCdrLe => Some((Endian::Little, sp.data)),
        EncapsulationKind::PlCdrBe => Some((Endian::Big, sp.data)),
        _ => None,
    }
}

fn main() -> std::io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = root.join("fuzz/seeds/parameter_list");
    fs::create_dir_all(&out)?;
    let mut vectors: Vec<PathBuf> = Vec::new();
    for dir in fs::read_dir(root.join("vectors"))? {
        let dir = dir?.path();
        if !dir.is_dir() {
            continue;
        }
        for f in fs::read_dir(&dir)? {
            let f = f?.path();
            if f.extension().is_some_and(|e| e == "bin") {
                vectors.push(f);
            }
        }
    }
    vectors.sort();
    let mut seen: BTreeSet<Vec<u8>> = BTreeSet::new();
    let mut written = 0usize;
    for path in &vectors {
        let bytes = fs::read(path)?;
        let Ok(msg) = Message::parse(&bytes) else {
            continue;
        };
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        for (i, raw) in msg.submessages().enumerate() {
            let Ok(raw) = raw else { break };
            let mut lists: Vec<(&str, Endian, &[u8])> = Vec::new();
            match raw.parse() {
                Ok(SubmessageRepr::Data(d)) => {
                    if let Some(q) = d.inline_qos {
                        lists.push(("qos", d.endian, q));
                    }
                    if let Some((e, l)) = discovery_list(&d) {
                        lists.push(("pl", e, l));
                    }
                }
                Ok(SubmessageRepr::DataFrag(d)) => {
                    if let Some(q) = d.inline_qos {
                        lists.push(("qos", d.endian, q));
                    }
                }
                _ => {}
            }
            for (kind, e, list) in lists {
                let mut seed = Vec::with_capacity(list.len() + 1);
                seed.push(endian_byte(e));
                seed.extend_from_slice(list);
                if seen.insert(seed.clone()) {
                    fs::write(out.join(format!("{stem}-{i}-{kind}.bin")), &seed)?;
                    written += 1;
                }
            }
        }
    }
    println!(
        "{} vectors, {} distinct parameter lists written to {}",
        vectors.len(),
        written,
        out.display()
    );
    Ok(())
}
