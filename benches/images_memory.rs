//! Memory over time with cameras at full rate: three 1080p JPEG cameras at 30 Hz each (real
//! JPEGs, encoded here once, eight variants per camera), sent to `vizcast` (release) for a number
//! of minutes, while its resident memory is sampled every 10 s.
//!
//! Two runs: the hub alone (`--headless`, with one browser-like viewer that reads everything),
//! and the desktop window (under Xvfb, rendered by Mesa's lavapipe), which decodes and uploads
//! every camera it can. The peers' users report memory that grows with camera streams until the
//! machine runs out; the point here is the curve: flat after warm-up.
//!
//! `cargo bench --bench images_memory` (`-- --minutes 10`, the default; `--headless-only`).

#![allow(missing_docs, clippy::unwrap_used, clippy::print_stdout)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use tokio_tungstenite::tungstenite::Message;

#[path = "support/process.rs"]
mod process;
#[path = "support/xvfb.rs"]
mod xvfb;

const CAMERAS: usize = 3;
const HZ: f64 = 30.0;
const WIDTH: u32 = 1920;
const HEIGHT: u32 = 1080;

/// Eight 1080p JPEGs of a moving gradient with a bright square (quality 80: about the size a
/// real camera sends), as the frames of one camera.
fn camera_frames(camera: usize) -> Vec<String> {
    (0..8)
        .map(|k| {
            let image = image::RgbImage::from_fn(WIDTH, HEIGHT, |x, y| {
                let shift = (k * 40 + camera * 90) as u32;
                let square =
                    (x + 400 * camera as u32 + 60 * k as u32) % WIDTH < 200 && y / 200 == 2;
                if square {
                    image::Rgb([250, 250, 250])
                } else {
                    image::Rgb([
                        ((x + shift) % 256) as u8,
                        ((y + shift / 2) % 256) as u8,
                        ((x / 8 + y / 8) % 256) as u8,
                    ])
                }
            });
            let mut jpeg = Vec::new();
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 80)
                .encode_image(&image)
                .unwrap();
            let data = vizcast_protocol::u8_base64(&jpeg);
            format!(r#"{{"stream":"cam/{camera}","image":{{"jpeg":"{data}"}}}}"#)
        })
        .collect()
}

/// Resident memory of `pid`, in MiB.
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

async fn run(window: bool, minutes: f64, frames: &Arc<Vec<Vec<String>>>) {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_vizcast"));
    command.args(["--listen", "127.0.0.1:0"]);
    let display = if window {
        let xvfb = xvfb::Xvfb::start();
        command
            .env("DISPLAY", &xvfb.display)
            .env_remove("WAYLAND_DISPLAY");
        Some(xvfb)
    } else {
        command.arg("--headless");
        None
    };
    let server = process::spawn(command).await;
    let pid = server.child.id().unwrap();
    let port = server.port;
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for camera in 0..CAMERAS {
        let (frames, stop, sent) = (frames.clone(), stop.clone(), sent.clone());
        tasks.push(tokio::spawn(async move {
            let url = format!("ws://127.0.0.1:{port}/ingest");
            let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
            let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / HZ));
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                let frame = frames[camera][i % frames[camera].len()].clone();
                socket.send(Message::text(frame)).await.unwrap();
                sent.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
        }));
    }
    // A viewer that reads everything (the hub's own memory with a client attached).
    let viewer_stop = stop.clone();
    let received = Arc::new(AtomicU64::new(0));
    let viewer_received = received.clone();
    tasks.push(tokio::spawn(async move {
        let url = format!("ws://127.0.0.1:{port}/ws");
        let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        while !viewer_stop.load(Ordering::Relaxed) {
            match tokio::time::timeout(Duration::from_millis(200), socket.next()).await {
                Ok(Some(Ok(_))) => {
                    viewer_received.fetch_add(1, Ordering::Relaxed);
                }
                Ok(_) => break,
                Err(_) => {}
            }
        }
    }));
    let what = if window {
        "the desktop window (Xvfb, lavapipe)"
    } else {
        "the hub alone (--headless)"
    };
    println!(
        "{what}: {CAMERAS} cameras, 1080p JPEG ({} KB) at {HZ:.0} Hz each, {minutes:.0} min",
        frames[0][0].len() / 1000
    );
    println!("| minute | RSS (MiB) | frames sent | viewer frames |");
    println!("| ---: | ---: | ---: | ---: |");
    let started = Instant::now();
    let cpu_before = process::cpu_seconds(pid).unwrap_or(0.0);
    let mut peak: f64 = 0.0;
    let mut after_warmup: Vec<f64> = Vec::new();
    while started.elapsed().as_secs_f64() < minutes * 60.0 {
        tokio::time::sleep(Duration::from_secs(10)).await;
        let rss = rss_mib(pid);
        peak = peak.max(rss);
        let minute = started.elapsed().as_secs_f64() / 60.0;
        if minute >= 1.0 {
            after_warmup.push(rss);
        }
        println!(
            "| {minute:.1} | {rss:.0} | {} | {} |",
            sent.load(Ordering::Relaxed),
            received.load(Ordering::Relaxed)
        );
    }
    let cpu = process::cpu_seconds(pid).unwrap_or(0.0) - cpu_before;
    let cpu_share = cpu / started.elapsed().as_secs_f64() * 100.0;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        let _ = task.await;
    }
    let (low, high) = after_warmup
        .iter()
        .fold((f64::MAX, 0.0_f64), |(l, h), &r| (l.min(r), h.max(r)));
    println!(
        "{what}: peak {peak:.0} MiB; after the first minute between {low:.0} and {high:.0} MiB; vizcast's CPU {cpu_share:.0} % of a core\n"
    );
    drop(server);
    drop(display);
}

fn main() {
    let mut minutes = 10.0;
    let mut headless_only = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--minutes" => minutes = args.next().unwrap().parse().unwrap(),
            "--headless-only" => headless_only = true,
            _ => {}
        }
    }
    let frames = Arc::new((0..CAMERAS).map(camera_frames).collect::<Vec<_>>());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(false, minutes, &frames));
    if !headless_only {
        runtime.block_on(run(true, minutes, &frames));
    }
}
