//! Typed samples: serde values to CDR and back (`pollen_app::typed`, through the
//! `cdr-encoding` crate) next to copying the same serialized bytes, for a small message
//! (`geometry_msgs/msg/Twist`, 52 bytes) and a large one (a `sensor_msgs/msg/LaserScan` with
//! 720 ranges and 720 intensities, about 5.8 KB). BENCHMARKS.md reports each as a ratio to the
//! copy measured in the same run.
//!
//! Run: `cargo bench -p pollen-benches --bench typed`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pollen_app::typed::{from_sample, to_sample};
use serde::{Deserialize, Serialize};
use std::hint::black_box;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Vector3 {
    x: f64,
    y: f64,
    z: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Twist {
    linear: Vector3,
    angular: Vector3,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Time {
    sec: i32,
    nanosec: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Header {
    stamp: Time,
    frame_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct LaserScan {
    header: Header,
    angle_min: f32,
    angle_max: f32,
    angle_increment: f32,
    time_increment: f32,
    scan_time: f32,
    range_min: f32,
    range_max: f32,
    ranges: Vec<f32>,
    intensities: Vec<f32>,
}

fn group<T: Serialize + for<'de> Deserialize<'de> + PartialEq + std::fmt::Debug>(
    c: &mut Criterion,
    name: &str,
    value: &T,
) {
    let sample = to_sample(value).expect("serializes");
    assert_eq!(&from_sample::<T>(&sample).expect("deserializes"), value);
    println!("typed/{name}: {} bytes", sample.len());
    let mut g = c.benchmark_group(format!("typed/{name}"));
    g.throughput(Throughput::Bytes(sample.len() as u64));
    g.bench_function("encode", |b| {
        b.iter(|| to_sample(black_box(value)).unwrap())
    });
    g.bench_function("decode", |b| {
        b.iter(|| from_sample::<T>(black_box(&sample)).unwrap())
    });
    // The yardstick: the same bytes copied into a fresh buffer (what a raw-bytes writer or
    // reader does with a payload).
    g.bench_function("copy", |b| b.iter(|| black_box(&sample).to_vec()));
    g.finish();
}

fn typed(c: &mut Criterion) {
    let twist = Twist {
        linear: Vector3 {
            x: 0.5,
            y: 0.0,
            z: 0.0,
        },
        angular: Vector3 {
            x: 0.0,
            y: 0.0,
            z: 1.25,
        },
    };
    group(c, "twist", &twist);
    let scan = LaserScan {
        header: Header {
            stamp: Time { sec: 7, nanosec: 9 },
            frame_id: "laser".into(),
        },
        angle_min: -1.5,
        angle_max: 1.5,
        angle_increment: 3.0 / 720.0,
        time_increment: 0.0,
        scan_time: 0.1,
        range_min: 0.1,
        range_max: 30.0,
        ranges: (0..720).map(|i| i as f32 * 0.01).collect(),
        intensities: (0..720).map(|i| (i % 100) as f32).collect(),
    };
    group(c, "laser_scan", &scan);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    targets = typed
}
criterion_main!(benches);
