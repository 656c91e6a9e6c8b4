//! The desktop app's hot paths: decimation throughput, one frame's plot data for 100 series of
//! 1 k against 1 M samples each, and the 3D renderer drawing 100 k and 1 M points offscreen.
//!
//! `cargo bench --bench desktop` (the 100 × 1 M case holds 1.6 GB of samples). On a machine
//! without a GPU the renderer runs on Mesa's lavapipe: compare those figures with each other,
//! not with a GPU's.

#![allow(missing_docs, clippy::unwrap_used, clippy::print_stdout)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use vizcast_render::{Offscreen, OrbitCamera, Scene, SceneColors, SceneItem};
use vizcast_store::{Decimator, Series};

/// The binary's allocator, so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Plot width in physical pixels.
const WIDTH: usize = 1000;

/// `n` samples at 1 kHz: a sine with noise and a rare spike, as sensors look.
fn series(index: usize, n: usize) -> Series {
    let mut s = Series::new(index);
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64 ^ index as u64;
    for i in 0..n {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let noise = (seed >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
        let t = 1.7e9 + i as f64 * 1e-3;
        let spike = if i % 100_003 == 7 { 25.0 } else { 0.0 };
        s.push(t, (t * 0.5 + index as f64).sin() * 10.0 + noise + spike);
    }
    s
}

fn decimation(c: &mut Criterion) {
    let n = 1_000_000;
    let s = series(0, n);
    let (t0, t1) = (s.first().unwrap().0, s.last().unwrap().0);
    let mut group = c.benchmark_group("decimate");
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function("1M samples to 1000 px, cold", |b| {
        b.iter(|| {
            let mut d = Decimator::default();
            black_box(d.points(&s, t0, t1, WIDTH).len())
        });
    });
    group.finish();

    // Following live at 1 kHz and 60 frames/s: ~17 new samples per frame, 10 s in view.
    let mut group = c.benchmark_group("decimate");
    group.throughput(Throughput::Elements(17));
    let mut live = series(0, 60_000);
    let mut d = Decimator::default();
    let mut i = 60_000u64;
    group.bench_function("follow live, +17 samples per frame", |b| {
        b.iter(|| {
            for _ in 0..17 {
                let t = 1.7e9 + i as f64 * 1e-3;
                live.push(t, (t * 0.5).sin());
                i += 1;
            }
            let t1 = live.last().unwrap().0;
            black_box(d.points(&live, t1 - 10.0, t1, WIDTH).len())
        });
    });
    group.finish();
}

/// One frame's plot data for 100 series: every series decimated for its view and copied out as
/// the plot's points, decimators warm (as from frame to frame). "Live": 17 new samples per series
/// per frame (1 kHz at 60 frames/s), the view following them; "unchanged": a paused view.
fn plot_frame(c: &mut Criterion) {
    let mut group = c.benchmark_group("plot frame, 100 series");
    group.sample_size(20);
    for n in [1_000usize, 1_000_000] {
        let mut all: Vec<Series> = (0..100).map(|i| series(i, n)).collect();
        let span = n as f64 * 1e-3;
        let mut decimators: Vec<Decimator> = (0..100).map(|_| Decimator::default()).collect();
        let mut out: Vec<[f64; 2]> = Vec::new();
        let mut frame = |all: &[Series], decimators: &mut [Decimator]| {
            let mut points = 0;
            for (s, d) in all.iter().zip(decimators.iter_mut()) {
                let t1 = s.last().unwrap().0;
                out.clear();
                out.extend_from_slice(d.points(s, t1 - span, t1, WIDTH));
                points += out.len();
            }
            points
        };
        // Outside the routine: criterion calls it more than once, and time must only go on.
        let mut i = n as u64;
        group.bench_with_input(BenchmarkId::new("live, samples in view", n), &n, |b, _| {
            b.iter(|| {
                for s in &mut all {
                    for k in 0..17 {
                        let t = 1.7e9 + (i + k) as f64 * 1e-3;
                        s.push(t, t.sin());
                    }
                }
                i += 17;
                black_box(frame(&all, &mut decimators))
            });
        });
        group.bench_with_input(
            BenchmarkId::new("unchanged, samples in view", n),
            &n,
            |b, _| {
                b.iter(|| black_box(frame(&all, &mut decimators)));
            },
        );
    }
    group.finish();
}

fn sphere(n: usize) -> Vec<[f32; 3]> {
    let golden = std::f32::consts::PI * (3.0 - 5f32.sqrt());
    (0..n)
        .map(|i| {
            let y = 1.0 - 2.0 * (i as f32 + 0.5) / n as f32;
            let r = (1.0 - y * y).sqrt();
            let a = golden * i as f32;
            [r * a.cos(), r * a.sin(), 1.0 + y]
        })
        .collect()
}

fn render(c: &mut Criterion) {
    let mut gpu = match Offscreen::new() {
        Ok(gpu) => gpu,
        Err(err) => {
            println!("render benchmarks skipped: {err}");
            return;
        }
    };
    println!("render: {}", gpu.adapter);
    let mut group = c.benchmark_group(format!("render 1024x768 on {}", gpu.adapter));
    group.sample_size(10);
    for n in [100_000usize, 1_000_000] {
        let positions = Arc::new(sphere(n));
        let scene = |version| Scene {
            items: vec![SceneItem::Points {
                name: "cloud".into(),
                positions: positions.clone(),
                colors: SceneColors::ByHeight,
                radius: 0.004,
                version,
            }],
            grid: true,
            point_scale: 1.0,
        };
        let mut camera = OrbitCamera::default();
        camera.fit([-1.0, -1.0, 0.0].into(), [1.0, 1.0, 2.0].into());
        group.throughput(Throughput::Elements(n as u64));
        // The same data, the camera moving: no upload.
        let still = scene(1);
        gpu.render_frame(&still, &camera, 1024, 768).unwrap();
        group.bench_with_input(BenchmarkId::new("points, same data", n), &n, |b, _| {
            b.iter(|| {
                camera.orbit(1.0, 0.0);
                gpu.render_frame(&still, &camera, 1024, 768).unwrap();
            });
        });
        // A new cloud every frame: upload and draw.
        let mut version = 2;
        group.bench_with_input(BenchmarkId::new("points, new data", n), &n, |b, _| {
            b.iter(|| {
                version += 1;
                gpu.render_frame(&scene(version), &camera, 1024, 768)
                    .unwrap();
            });
        });
    }
    group.finish();
}

criterion_group!(benches, decimation, plot_frame, render);
criterion_main!(benches);
