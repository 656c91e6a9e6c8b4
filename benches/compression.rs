//! Would compressing what goes to remote viewers pay? Deflate, as permessage-deflate would run it
//! (one compressor per connection, the window kept across messages, a sync flush per message), on
//! the kinds of frames viewers get: 1 kHz scalar frames, 10k-point clouds as JSON text, and as
//! base64 `f32`. Prints the compressed size of each kind, and measures the CPU it costs per MB.
//!
//! `cargo bench --bench compression`. Figures go to `docs/performance.md`.

#![allow(missing_docs, clippy::unwrap_used, clippy::print_stdout)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flate2::{Compress, Compression, FlushCompress};
use vizcast_protocol::f32_base64;

/// 1,000 scalar frames as the demo sends them: a few series, a timestamp each.
fn scalar_frames() -> Vec<String> {
    (0..1000)
        .map(|i| {
            let t = 1_796_150_000.0 + f64::from(i) * 0.001;
            format!(
                r#"{{"stream":"demo/signal","t":{t:.6},"values":{{"sine":{:.6},"noise":{:.6}}}}}"#,
                (t * 6.0).sin(),
                ((f64::from(i) * 12.9898).sin() * 43758.5453).fract() - 0.5
            )
        })
        .collect()
}

fn cloud_points(n: usize, frame: usize) -> Vec<[f32; 3]> {
    (0..n)
        .map(|i| {
            let a = i as f32 * 0.013 + frame as f32 * 0.02;
            let r = 2.0 + (i as f32 * 0.37).sin() * 0.3;
            [r * a.cos(), r * a.sin(), (i as f32 * 0.001).sin()]
        })
        .collect()
}

/// Ten 10k-point clouds as JSON text.
fn text_clouds() -> Vec<String> {
    (0..10)
        .map(|f| {
            let points: Vec<String> = cloud_points(10_000, f)
                .iter()
                .map(|[x, y, z]| format!("[{x:.4},{y:.4},{z:.4}]"))
                .collect();
            format!(r#"{{"stream":"lidar","points":[{}]}}"#, points.join(","))
        })
        .collect()
}

/// Ten 10k-point clouds as base64 `f32`.
fn f32_clouds() -> Vec<String> {
    (0..10)
        .map(|f| {
            let flat: Vec<f32> = cloud_points(10_000, f).into_iter().flatten().collect();
            format!(
                r#"{{"stream":"lidar","points":{{"f32":"{}"}}}}"#,
                f32_base64(&flat)
            )
        })
        .collect()
}

/// Compresses `frames` as one permessage-deflate connection would; returns the compressed bytes.
fn deflate(compress: &mut Compress, frames: &[String], out: &mut Vec<u8>) -> usize {
    let mut total = 0;
    for frame in frames {
        out.clear();
        out.reserve(frame.len() + 64);
        let before = compress.total_out();
        compress
            .compress_vec(frame.as_bytes(), out, FlushCompress::Sync)
            .unwrap();
        total += (compress.total_out() - before) as usize;
    }
    total
}

fn bench(c: &mut Criterion) {
    let kinds = [
        ("scalar frames", scalar_frames()),
        ("10k-point clouds, JSON text", text_clouds()),
        ("10k-point clouds, base64 f32", f32_clouds()),
    ];
    for level in [1, 6] {
        let mut group = c.benchmark_group(format!("deflate level {level}"));
        for (name, frames) in &kinds {
            let bytes: usize = frames.iter().map(String::len).sum();
            let mut out = Vec::new();
            let mut compress = Compress::new(Compression::new(level), false);
            let compressed = deflate(&mut compress, frames, &mut out);
            println!(
                "deflate level {level}, {name}: {bytes} B -> {compressed} B ({:.0} % of the size)",
                100.0 * compressed as f64 / bytes as f64
            );
            group.throughput(Throughput::Bytes(bytes as u64));
            group.bench_function(*name, |b| {
                b.iter(|| deflate(&mut compress, frames, &mut out));
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench
}
criterion_main!(benches);
