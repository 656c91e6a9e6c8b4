//! Parse + validate throughput of the wire protocol (one core): messages/s and points/s.
//!
//! `cargo bench --bench protocol`. Figures go to `docs/performance.md`.

#![allow(missing_docs, clippy::unwrap_used)]

use std::fmt::Write as _;

/// The binary's allocator, so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use vizcast_protocol::{Limits, f32_base64, parse_frame, u8_base64};

fn scalar_message() -> String {
    r#"{"stream": "robot/arm/joint1", "t": 1732406400.125, "value": 0.53}"#.to_owned()
}

fn scalar_batch(n: usize) -> String {
    let mut s = String::from("[");
    for i in 0..n {
        if i > 0 {
            s.push(',');
        }
        write!(
            s,
            r#"{{"stream":"robot/joint{}","t":{:.3},"value":{:.6}}}"#,
            i % 8,
            1732406400.0 + i as f64 * 0.001,
            (i as f64).sin()
        )
        .unwrap();
    }
    s.push(']');
    s
}

fn columnar(n: usize) -> String {
    let t: Vec<String> = (0..n)
        .map(|i| format!("{:.3}", 1732406400.0 + i as f64 * 0.001))
        .collect();
    let v: Vec<String> = (0..n)
        .map(|i| format!("{:.6}", (i as f64 * 0.01).sin()))
        .collect();
    format!(
        r#"{{"stream":"signal","t":[{}],"value":[{}]}}"#,
        t.join(","),
        v.join(",")
    )
}

fn cloud_points(n: usize) -> Vec<[f32; 3]> {
    (0..n)
        .map(|i| {
            let a = i as f32 * 0.013;
            [
                a.cos() * 2.0 + 0.123_456,
                a.sin() * 2.0 - 1.234_567,
                (i % 100) as f32 * 0.01 + 0.000_1,
            ]
        })
        .collect()
}

fn cloud_text(n: usize) -> String {
    let mut s = String::from(r#"{"stream":"lidar","points":["#);
    for (i, p) in cloud_points(n).iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        write!(s, "[{:.4},{:.4},{:.4}]", p[0], p[1], p[2]).unwrap();
    }
    s.push_str("]}");
    s
}

fn cloud_base64(n: usize) -> String {
    let flat: Vec<f32> = cloud_points(n).into_iter().flatten().collect();
    let colors: Vec<u8> = (0..n * 3).map(|i| (i % 251) as u8).collect();
    format!(
        r#"{{"stream":"lidar","points":{{"f32":"{}"}},"colors":{{"u8":"{}"}}}}"#,
        f32_base64(&flat),
        u8_base64(&colors)
    )
}

fn bench(c: &mut Criterion) {
    let limits = Limits::default();
    let mut group = c.benchmark_group("parse");

    let frame = scalar_message();
    group.throughput(Throughput::Elements(1));
    group.bench_function("scalar message (msgs/s)", |b| {
        b.iter(|| parse_frame(&frame, &limits).unwrap());
    });

    let frame = scalar_batch(1000);
    group.throughput(Throughput::Elements(1000));
    group.bench_function("batch of 1000 scalar messages (msgs/s)", |b| {
        b.iter(|| parse_frame(&frame, &limits).unwrap());
    });

    let frame = columnar(1000);
    group.throughput(Throughput::Elements(1000));
    group.bench_function("columnar 1000 samples (samples/s)", |b| {
        b.iter(|| parse_frame(&frame, &limits).unwrap());
    });

    let frame = cloud_text(10_000);
    group.throughput(Throughput::Elements(10_000));
    group.bench_function("cloud 10k points, JSON text (points/s)", |b| {
        b.iter(|| parse_frame(&frame, &limits).unwrap());
    });

    let frame = cloud_base64(10_000);
    group.throughput(Throughput::Elements(10_000));
    group.bench_function("cloud 10k points + colours, base64 (points/s)", |b| {
        b.iter(|| parse_frame(&frame, &limits).unwrap());
    });

    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(2)).sample_size(30);
    targets = bench
}
criterion_main!(benches);
