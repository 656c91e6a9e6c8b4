//! The desktop app under load, measured through the whole app (egui frames built and tessellated
//! on the CPU; the GPU's part is in `benches/desktop.rs`):
//!
//! 1. hub → store: samples per second absorbed while the window keeps drawing, and what the
//!    window's frames cost meanwhile;
//! 2. one window frame with 100 series of 1 k samples against 100 series of 1 M samples each,
//!    everything in view (the decimation target: within 1.5×);
//! 3. cameras: one 1080p JPEG through the store's decoder (decode and convert to RGBA), then four
//!    1080p cameras at 30 Hz each while the window draws (its frames include handing the decoded
//!    pixels to egui's textures).
//!
//! `cargo bench --bench desktop_load` (add `-- --quick` for shorter runs; part 2 holds 1.6 GB of
//! samples).

#![allow(missing_docs, clippy::unwrap_used, clippy::print_stdout)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use parking_lot::RwLock;
use vizcast_app::{App, AppOptions, Clock, Links, Session};
use vizcast_hub::{Hub, HubConfig, Utf8Bytes};
use vizcast_protocol::{f32_base64, f64_base64};
use vizcast_store::{Store, StoreConfig, StoreFeed};

/// The binary's allocator, so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn options() -> AppOptions {
    AppOptions {
        msaa_samples: 1,
        clock: Clock::System,
        output_dir: std::env::temp_dir(),
        persist: false,
    }
}

/// One step of the window: the egui pass and its tessellation (what the CPU does per frame).
fn frame(harness: &mut Harness<'_, App>) -> Duration {
    let started = Instant::now();
    harness.step();
    let output = harness.output().clone();
    let ctx = harness.ctx.clone();
    std::hint::black_box(ctx.tessellate(output.shapes, output.pixels_per_point));
    started.elapsed()
}

fn stats(mut times: Vec<Duration>) -> (f64, f64) {
    times.sort();
    let mean = times.iter().sum::<Duration>().as_secs_f64() / times.len() as f64;
    let p95 = times[(times.len() * 95 / 100).min(times.len() - 1)].as_secs_f64();
    (mean * 1e3, p95 * 1e3)
}

/// Producers push columnar batches (1,000 samples, times as f64 and values as f32 base64) for 16
/// streams as fast as they can while the window draws.
fn hub_to_store(seconds: f64) {
    let hub = Hub::new(HubConfig::default()).unwrap();
    let feed = StoreFeed::start(&hub, StoreConfig::default()).unwrap();
    let store = feed.store().clone();
    let session = Session::new(hub.clone(), feed, Links::default());
    let mut harness = Harness::builder()
        .with_size(egui::Vec2::new(1280.0, 800.0))
        .build_eframe(|cc| App::new(cc, session, options()));
    let stop = Arc::new(AtomicBool::new(false));
    let ingested = Arc::new(AtomicU64::new(0));
    let producer = {
        let (hub, stop, ingested) = (hub.clone(), stop.clone(), ingested.clone());
        std::thread::Builder::new()
            .name("bench-producer".to_owned())
            .spawn(move || {
                let mut next = [0u64; 16];
                let values: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.01).sin()).collect();
                let values = f32_base64(&values);
                let mut i = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let k = i % 16;
                    let times: Vec<f64> = (0..1000)
                        .map(|j| 1.7e9 + (next[k] + j) as f64 * 1e-6)
                        .collect();
                    next[k] += 1000;
                    let text = format!(
                        r#"{{"stream":"load/s{k}","t":{{"f64":"{}"}},"value":{{"f32":"{values}"}}}}"#,
                        f64_base64(&times)
                    );
                    hub.ingest(Utf8Bytes::from(text)).unwrap();
                    ingested.fetch_add(1000, Ordering::Relaxed);
                    i += 1;
                }
            })
            .unwrap()
    };
    let started = Instant::now();
    let applied_before = store.read().samples;
    let mut frames = Vec::new();
    // At 60 frames/s, as a window with vsync draws.
    let period = Duration::from_secs_f64(1.0 / 60.0);
    let mut next = Instant::now();
    while started.elapsed().as_secs_f64() < seconds {
        frames.push(frame(&mut harness));
        next += period;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        } else {
            next = Instant::now();
        }
    }
    stop.store(true, Ordering::Relaxed);
    producer.join().unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    let applied = store.read().samples - applied_before;
    let dropped = harness.state().session().dropped();
    let sent = ingested.load(Ordering::Relaxed);
    let (mean, p95) = stats(frames.clone());
    println!(
        "hub → store with the window drawing at 60 frames/s ({seconds:.0} s, 16 streams × 1,000-sample batches):"
    );
    println!(
        "  ingested {:.1} M samples/s, store absorbed {:.1} M samples/s, {} frames dropped from the desktop view",
        sent as f64 / elapsed / 1e6,
        applied as f64 / elapsed / 1e6,
        dropped
    );
    let (used, budget) = store.read().memory();
    println!(
        "  window: {:.0} frames/s, frame CPU mean {mean:.2} ms, p95 {p95:.2} ms; store holds {:.0} of {:.0} MiB",
        frames.len() as f64 / elapsed,
        used as f64 / 1048576.0,
        budget as f64 / 1048576.0
    );
}

/// 100 series (10 plots of 10) of `n` samples each, all in view.
fn frame_cost(n: usize, steps: usize) -> (f64, f64, usize) {
    let hub = Hub::new(HubConfig::default()).unwrap();
    let mut store = Store::new(StoreConfig {
        memory_limit: usize::MAX,
        ..StoreConfig::default()
    });
    let chunk = 10_000.min(n);
    for series in 0..100 {
        let stream = format!("plot{}/s{}", series / 10, series % 10);
        let mut done = 0;
        while done < n {
            let len = chunk.min(n - done);
            let times: Vec<f64> = (done..done + len)
                .map(|i| 1.7e9 + i as f64 * 1e-3)
                .collect();
            let values: Vec<f32> = (done..done + len)
                .map(|i| ((i as f32) * 0.001 + series as f32).sin() * 10.0)
                .collect();
            let text = format!(
                r#"{{"stream":"{stream}","t":{{"f64":"{}"}},"value":{{"f32":"{}"}}}}"#,
                f64_base64(&times),
                f32_base64(&values)
            );
            let accepted = hub.ingest(Utf8Bytes::from(text)).unwrap();
            store.apply(&accepted);
            done += len;
        }
    }
    let session = Session::with_store(hub, Arc::new(RwLock::new(store)), Links::default());
    // Tall enough that all ten plots are on screen (off-screen plots are skipped).
    let mut harness = Harness::builder()
        .with_size(egui::Vec2::new(1600.0, 2400.0))
        .build_eframe(|cc| App::new(cc, session, options()));
    harness.step();
    harness.get_by_label("all").click();
    for _ in 0..5 {
        frame(&mut harness);
    }
    let times: Vec<Duration> = (0..steps).map(|_| frame(&mut harness)).collect();
    let (mean, p95) = stats(times);
    (mean, p95, harness.state().points_drawn())
}

/// A 1080p camera frame (quality 80, a gradient with a moving square), as a frame of `stream`.
fn camera_frame(stream: &str, k: u32) -> String {
    let image = image::RgbImage::from_fn(1920, 1080, |x, y| {
        if (x + 80 * k) % 1920 < 240 && y / 240 == 2 {
            image::Rgb([250, 250, 250])
        } else {
            image::Rgb([
                ((x + 30 * k) % 256) as u8,
                ((y + 10 * k) % 256) as u8,
                ((x / 8 + y / 8) % 256) as u8,
            ])
        }
    });
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 80)
        .encode_image(&image)
        .unwrap();
    format!(
        r#"{{"stream":"{stream}","image":{{"jpeg":"{}"}}}}"#,
        vizcast_protocol::u8_base64(&jpeg)
    )
}

/// Part 3: the decoder alone, then four cameras into the window.
fn cameras(seconds: f64) {
    // One image through the store's decoder, as its thread does.
    let hub = Hub::new(HubConfig::default()).unwrap();
    let mut store = Store::new(StoreConfig::default());
    let accepted = hub
        .ingest(Utf8Bytes::from(camera_frame("probe", 0)))
        .unwrap();
    store.apply(&accepted);
    let image = store.images["probe"].clone();
    let mut decodes: Vec<Duration> = (0..20)
        .map(|_| {
            let started = Instant::now();
            std::hint::black_box(vizcast_store::decode_image(&image, 4096).unwrap());
            started.elapsed()
        })
        .collect();
    decodes.sort();
    println!(
        "cameras: one 1080p JPEG ({} KB) decoded and converted to RGBA: median {:.1} ms, min {:.1} ms",
        image.bytes() / 1000,
        decodes[decodes.len() / 2].as_secs_f64() * 1e3,
        decodes[0].as_secs_f64() * 1e3
    );

    let hub = Hub::new(HubConfig::default()).unwrap();
    let feed = StoreFeed::start(&hub, StoreConfig::default()).unwrap();
    let session = Session::new(hub.clone(), feed, Links::default());
    let mut harness = Harness::builder()
        .with_size(egui::Vec2::new(1280.0, 800.0))
        .build_eframe(|cc| App::new(cc, session, options()));
    let frames: Vec<Vec<String>> = (0..4)
        .map(|c| {
            (0..4)
                .map(|k| camera_frame(&format!("cam/{c}"), k + c))
                .collect()
        })
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let producer = {
        let (hub, stop) = (hub.clone(), stop.clone());
        std::thread::Builder::new()
            .name("bench-cameras".to_owned())
            .spawn(move || {
                let period = Duration::from_secs_f64(1.0 / 30.0);
                let mut next = Instant::now();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    for camera in &frames {
                        hub.ingest(Utf8Bytes::from(camera[i % camera.len()].clone()))
                            .unwrap();
                    }
                    i += 1;
                    next += period;
                    if let Some(wait) = next.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                }
                i
            })
            .unwrap()
    };
    let period = Duration::from_secs_f64(1.0 / 60.0);
    let started = Instant::now();
    let mut next = Instant::now();
    let mut times = Vec::new();
    let mut decoded: Vec<Duration> = Vec::new();
    while started.elapsed().as_secs_f64() < seconds {
        times.push(frame(&mut harness));
        if let Some(d) = harness.state().last_image_decode()
            && decoded.last() != Some(&d)
        {
            decoded.push(d);
        }
        next += period;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        } else {
            next = Instant::now();
        }
    }
    stop.store(true, Ordering::Relaxed);
    let sent = producer.join().unwrap() * 4;
    let elapsed = started.elapsed().as_secs_f64();
    let textures = harness.state().image_textures();
    let (mean, p95) = stats(times.clone());
    decoded.sort();
    println!(
        "  four 1080p cameras at 30 Hz ({:.0} images/s sent) while the window draws at a 60 Hz pace: {:.0} frames/s, frame CPU mean {mean:.2} ms, p95 {p95:.2} ms; {} textures; decodes seen: {}, median {:.1} ms",
        sent as f64 / elapsed,
        times.len() as f64 / elapsed,
        textures,
        decoded.len(),
        decoded
            .get(decoded.len() / 2)
            .map_or(0.0, |d| d.as_secs_f64() * 1e3),
    );
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    if std::env::args().any(|a| a == "--cameras") {
        cameras(if quick { 3.0 } else { 10.0 });
        return;
    }
    hub_to_store(if quick { 3.0 } else { 10.0 });
    let steps = if quick { 10 } else { 40 };
    let (small, small_p95, small_points) = frame_cost(1_000, steps);
    let (large, large_p95, large_points) = frame_cost(1_000_000, steps);
    println!("one window frame, 100 series, everything in view (egui pass + tessellation):");
    println!(
        "  100 × 1 k samples: mean {small:.2} ms, p95 {small_p95:.2} ms, {small_points} points drawn"
    );
    println!(
        "  100 × 1 M samples: mean {large:.2} ms, p95 {large_p95:.2} ms, {large_points} points drawn"
    );
    println!("  ratio {:.2}× (target ≤ 1.5×)", large / small);
    cameras(if quick { 3.0 } else { 10.0 });
}
