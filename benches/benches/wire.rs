//! Wire-layer micro-benchmarks.
//!
//! Each benchmark group times one wire operation on a real captured datagram (or a message
//! Pollen builds) and, in the same run, a plain `copy_from_slice` of the same number of bytes.
//! The memcpy line is the yardstick: BENCHMARKS.md reports each operation as a multiple of it,
//! which is less sensitive to the machine than the absolute numbers.
//!
//! Run: `cargo bench -p pollen-benches --bench wire`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pollen_engine::wire::{
    Count, DataRepr, DataTemplate, EndpointData, EntityId, GuidPrefix, HeaderRepr, HeartbeatRepr,
    InfoTsRepr, Message, MessageBuilder, ParticipantData, SequenceNumber, SubmessageRepr, Time,
};
use std::hint::black_box;
use std::time::Duration;

/// Cyclone DDS 0.10 SPDP announcement: INFO_TS + DATA(p) (364 bytes).
const SPDP: &[u8] = include_bytes!("../../vectors/cyclone/spdp-cyclone-0.bin");
/// Cyclone DDS 0.10 user data from ddsperf: INFO_TS + DATA + HEARTBEAT (156 bytes).
const USER_DATA: &[u8] = include_bytes!("../../vectors/cyclone/data-cyclone-0.bin");
/// Cyclone DDS 0.10 SEDP publication: INFO_TS + DATA(w) (312 bytes).
const SEDP_PUB: &[u8] = include_bytes!("../../vectors/cyclone/sedp-pub-cyclone-0.bin");

/// Times `copy_from_slice` of `src` into a buffer of the same size.
fn memcpy(c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>, src: &[u8]) {
    let mut dst = vec![0u8; src.len()];
    c.bench_function("memcpy", |b| {
        b.iter(|| {
            dst.copy_from_slice(black_box(src));
            black_box(&mut dst);
        })
    });
}

/// The first DATA of a datagram.
fn first_data(datagram: &[u8]) -> DataRepr<'_> {
    let msg = Message::parse(datagram).expect("vector parses");
    msg.submessages()
        .filter_map(|r| r.ok()?.parse().ok())
        .find_map(|s| match s {
            SubmessageRepr::Data(d) => Some(d),
            _ => None,
        })
        .expect("vector has a DATA")
}

/// Header, every submessage, and the participant data in the SPDP DATA.
fn parse_spdp(datagram: &[u8]) -> Option<ParticipantData<'_>> {
    let msg = Message::parse(datagram).ok()?;
    let mut found = None;
    for raw in msg.submessages() {
        if let Ok(SubmessageRepr::Data(d)) = raw.ok()?.parse() {
            if d.writer_id == EntityId::SPDP_WRITER {
                found = Some(ParticipantData::parse(d.payload?).ok()?);
            }
        }
    }
    found
}

/// Header and every submessage; returns the user DATA.
fn parse_user_data(datagram: &[u8]) -> Option<DataRepr<'_>> {
    let msg = Message::parse(datagram).ok()?;
    let mut found = None;
    for raw in msg.submessages() {
        match raw.ok()?.parse().ok()? {
            SubmessageRepr::Data(d) => found = Some(d),
            other => {
                black_box(other);
            }
        }
    }
    found
}

/// INFO_TS + DATA(64-byte payload) + HEARTBEAT, the shape of a best-effort-to-reliable write.
fn emit_data(buf: &mut [u8], payload: &[u8], sn: i64) -> usize {
    let writer_id = EntityId::new(0x0000_0001, 0x02);
    let mut b = MessageBuilder::new(buf, &HeaderRepr::new(GuidPrefix([7; 12]))).unwrap();
    b.push(&SubmessageRepr::InfoTs(InfoTsRepr {
        timestamp: Some(Time {
            seconds: 1_700_000_000,
            fraction: 0x8000_0000,
        }),
    }))
    .unwrap();
    b.push(&SubmessageRepr::Data(DataRepr {
        endian: pollen_engine::wire::Endian::Little,
        reader_id: EntityId::UNKNOWN,
        writer_id,
        writer_sn: SequenceNumber(sn),
        inline_qos: None,
        payload: Some(payload),
        key_flag: false,
        non_standard: false,
    }))
    .unwrap();
    b.push(&SubmessageRepr::Heartbeat(HeartbeatRepr {
        final_flag: false,
        liveliness_flag: false,
        reader_id: EntityId::UNKNOWN,
        writer_id,
        first_sn: SequenceNumber(1),
        last_sn: SequenceNumber(sn),
        count: Count(sn as u32),
    }))
    .unwrap();
    b.finish()
}

/// Samples per datagram in the `small_data_*` groups (a 1372-byte datagram: about what one
/// of 1472 bytes holds at 16 bytes each).
const SMALL_SAMPLES: usize = 32;
/// A small sample: 4 bytes of encapsulation header and 12 bytes of data (ddsperf's KeyedSeq).
const SMALL: [u8; 16] = [0, 1, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];

/// INFO_TS, then [`SMALL_SAMPLES`] DATA of [`SMALL`] from SN `sn` on, then HEARTBEAT: the
/// shape of a reliable stream of small samples.
fn emit_small_stream(buf: &mut [u8], sn: i64) -> usize {
    let writer_id = EntityId::new(0x0000_0001, 0x02);
    let mut b = MessageBuilder::new(buf, &HeaderRepr::new(GuidPrefix([7; 12]))).unwrap();
    b.push(&SubmessageRepr::InfoTs(InfoTsRepr {
        timestamp: Some(Time {
            seconds: 1_700_000_000,
            fraction: 0x8000_0000,
        }),
    }))
    .unwrap();
    for k in 0..SMALL_SAMPLES as i64 {
        b.push(&SubmessageRepr::Data(DataRepr {
            endian: pollen_engine::wire::Endian::Little,
            reader_id: EntityId::UNKNOWN,
            writer_id,
            writer_sn: SequenceNumber(sn + k),
            inline_qos: None,
            payload: Some(&SMALL),
            key_flag: false,
            non_standard: false,
        }))
        .unwrap();
    }
    b.push(&SubmessageRepr::Heartbeat(HeartbeatRepr {
        final_flag: false,
        liveliness_flag: false,
        reader_id: EntityId::UNKNOWN,
        writer_id,
        first_sn: SequenceNumber(1),
        last_sn: SequenceNumber(sn + SMALL_SAMPLES as i64 - 1),
        count: Count(sn as u32),
    }))
    .unwrap();
    b.finish()
}

/// The same datagram as [`emit_small_stream`] (byte for byte: [`SMALL`] needs no padding),
/// built as the engine's writers build theirs: each DATA from the writer's
/// [`DataTemplate`], made once, with [`MessageBuilder::push_sample`].
fn emit_small_stream_template(buf: &mut [u8], sn: i64) -> usize {
    let writer_id = EntityId::new(0x0000_0001, 0x02);
    let t = DataTemplate::new(
        pollen_engine::wire::Endian::Little,
        EntityId::UNKNOWN,
        writer_id,
    );
    let mut b = MessageBuilder::new(buf, &HeaderRepr::new(GuidPrefix([7; 12]))).unwrap();
    b.push(&SubmessageRepr::InfoTs(InfoTsRepr {
        timestamp: Some(Time {
            seconds: 1_700_000_000,
            fraction: 0x8000_0000,
        }),
    }))
    .unwrap();
    for k in 0..SMALL_SAMPLES as i64 {
        b.push_sample(&t, SequenceNumber(sn + k), &SMALL).unwrap();
    }
    b.push(&SubmessageRepr::Heartbeat(HeartbeatRepr {
        final_flag: false,
        liveliness_flag: false,
        reader_id: EntityId::UNKNOWN,
        writer_id,
        first_sn: SequenceNumber(1),
        last_sn: SequenceNumber(sn + SMALL_SAMPLES as i64 - 1),
        count: Count(sn as u32),
    }))
    .unwrap();
    b.finish()
}

/// What a receiver does with such a datagram: the header, every submessage framed, each
/// DATA parsed (as the engine does, [`DataRepr::parse`]) and the rest through
/// [`SubmessageRepr::parse`]; returns the sum of the SNs and payload bytes seen.
fn parse_small_stream(datagram: &[u8]) -> i64 {
    let msg = Message::parse(datagram).unwrap();
    let mut sum = 0;
    for raw in msg.submessages() {
        let raw = raw.unwrap();
        if raw.id == pollen_engine::wire::submessage_id::DATA {
            let d = DataRepr::parse(&raw).unwrap();
            sum += d.writer_sn.0 + d.payload.map_or(0, |p| p.len() as i64);
        } else {
            black_box(raw.parse().unwrap());
        }
    }
    sum
}

fn wire(c: &mut Criterion) {
    {
        let mut buf = [0u8; 1500];
        let len = emit_small_stream(&mut buf, 1);
        let n = SMALL_SAMPLES as i64;
        assert_eq!(parse_small_stream(&buf[..len]), n * (n + 1) / 2 + 16 * n);
        println!(
            "small_data: {SMALL_SAMPLES} samples of {} bytes in a {len}-byte datagram",
            SMALL.len()
        );
        let mut g = c.benchmark_group("small_data_parse");
        g.throughput(Throughput::Elements(SMALL_SAMPLES as u64));
        let datagram = buf[..len].to_vec();
        g.bench_function("pollen", |b| {
            b.iter(|| parse_small_stream(black_box(&datagram)))
        });
        memcpy(&mut g, &datagram);
        g.finish();
        let mut other = [0u8; 1500];
        assert_eq!(emit_small_stream_template(&mut other, 1), len);
        assert_eq!(
            other[..len],
            buf[..len],
            "the template builds the same datagram"
        );
        let mut g = c.benchmark_group("small_data_emit");
        g.throughput(Throughput::Elements(SMALL_SAMPLES as u64));
        let mut sn = 1;
        g.bench_function("pollen", |b| {
            b.iter(|| {
                sn += SMALL_SAMPLES as i64;
                black_box(emit_small_stream(black_box(&mut buf), sn))
            })
        });
        g.bench_function("pollen_template", |b| {
            b.iter(|| {
                sn += SMALL_SAMPLES as i64;
                black_box(emit_small_stream_template(black_box(&mut buf), sn))
            })
        });
        memcpy(&mut g, &datagram);
        g.finish();
    }
    {
        assert!(parse_spdp(SPDP).is_some());
        let mut g = c.benchmark_group("spdp_parse");
        g.throughput(Throughput::Bytes(SPDP.len() as u64));
        g.bench_function("pollen", |b| b.iter(|| parse_spdp(black_box(SPDP))));
        memcpy(&mut g, SPDP);
        g.finish();
    }
    {
        assert!(parse_user_data(USER_DATA).is_some());
        let mut g = c.benchmark_group("data_parse");
        g.throughput(Throughput::Bytes(USER_DATA.len() as u64));
        g.bench_function("pollen", |b| {
            b.iter(|| parse_user_data(black_box(USER_DATA)))
        });
        memcpy(&mut g, USER_DATA);
        g.finish();
    }
    {
        let payload = first_data(SEDP_PUB)
            .payload
            .expect("SEDP DATA has a payload");
        assert!(EndpointData::parse(payload).is_ok());
        let mut g = c.benchmark_group("sedp_endpoint_parse");
        g.throughput(Throughput::Bytes(payload.len() as u64));
        g.bench_function("pollen", |b| {
            b.iter(|| EndpointData::parse(black_box(payload)))
        });
        memcpy(&mut g, payload);
        g.finish();
    }
    {
        let mut payload = [0u8; 64];
        payload[..4].copy_from_slice(&[0x00, 0x01, 0x00, 0x00]); // CDR_LE
        for (i, b) in payload[4..].iter_mut().enumerate() {
            *b = i as u8;
        }
        let mut buf = [0u8; 1500];
        let len = emit_data(&mut buf, &payload, 42);
        assert!(Message::parse(&buf[..len]).is_ok());
        let mut g = c.benchmark_group("emit_ts_data64_heartbeat");
        g.throughput(Throughput::Bytes(len as u64));
        let mut sn = 1;
        g.bench_function("pollen", |b| {
            b.iter(|| {
                sn += 1;
                black_box(emit_data(black_box(&mut buf), black_box(&payload), sn))
            })
        });
        let copy = buf[..len].to_vec();
        memcpy(&mut g, &copy);
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = wire
}
criterion_main!(benches);
