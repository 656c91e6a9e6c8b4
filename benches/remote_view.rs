//! The window on a remote hub (`vizcast view URL`) next to the same window fed locally.
//!
//! The window is this process: a hub, the desktop store fed from it, and the app stepped at 60
//! frames a second (the egui pass and its tessellation, as in `desktop_load`; the GPU's part is in
//! `benches/desktop.rs`). It is fed three ways, for the same time each:
//!
//! 1. **local**: the demo (1 kHz scalars, the 30 Hz cloud, the camera and the heatmap) runs in this
//!    process, into this hub, as `vizcast --demo` does;
//! 2. **view, loopback**: `vizcast --headless --demo` runs as its own process (release), and this
//!    hub takes it through the remote view over loopback;
//! 3. **view, 4 MB/s**: the same through a TCP proxy whose remote-to-view direction is a token
//!    bucket of 4 MB/s (a Wi-Fi or a VPN), so the remote conflates what the link cannot carry.
//!
//! For each: what the store took in (frames, scalar samples, bytes of the link), the window's
//! frames per second, this process's CPU, and for the views the remote's CPU and what it skipped.
//!
//! `cargo bench --bench remote_view` (`-- --quick`: 6 s per run instead of 20).

#![allow(missing_docs, clippy::unwrap_used, clippy::print_stdout)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use vizcast_app::{App, AppOptions, Clock, Links, Session};
use vizcast_hub::{Hub, HubConfig, StatsSource as _};
use vizcast_remote::{Remote, RemoteOptions};
use vizcast_store::{StoreConfig, StoreFeed};

#[path = "support/link.rs"]
mod link;
#[path = "support/process.rs"]
mod process;

/// The binary's allocator, so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How the window is fed.
#[derive(Clone, Copy)]
enum Feed {
    Local,
    View { rate: Option<f64> },
}

impl Feed {
    fn name(self) -> String {
        match self {
            Self::Local => "local (--demo in this process)".to_owned(),
            Self::View { rate: None } => "view over loopback".to_owned(),
            Self::View { rate: Some(r) } => format!("view over a {:.0} MB/s link", r / 1e6),
        }
    }
}

/// A proxy on a free port to `upstream`, whose upstream-to-client direction carries at most
/// `rate` bytes a second.
async fn throttled_proxy(upstream: u16, rate: f64) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(up) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await else {
                    return;
                };
                let mut up = link::Link::new(up, Some(rate), Arc::new(AtomicU64::new(0)));
                let _ = tokio::io::copy_bidirectional(&mut client, &mut up).await;
            });
        }
    });
    port
}

/// Scalar samples the hub accepted so far (what the window's plots get; clouds, lines and
/// images not counted).
fn scalar_samples(hub: &Hub) -> u64 {
    hub.streams()
        .into_iter()
        .filter(|s| s.kinds.contains(&"scalar"))
        .map(|s| s.samples)
        .sum()
}

fn run(runtime: &tokio::runtime::Runtime, feed: Feed, remote_port: u16, seconds: f64) {
    let hub = Hub::new(HubConfig::default()).unwrap();
    let store_feed = StoreFeed::start(&hub, StoreConfig::default()).unwrap();
    let store = store_feed.store().clone();
    let session = Session::new(hub.clone(), store_feed, Links::default());
    let options = AppOptions {
        msaa_samples: 1,
        clock: Clock::System,
        output_dir: std::env::temp_dir(),
        persist: false,
    };
    let mut harness = Harness::builder()
        .with_size(egui::Vec2::new(1280.0, 800.0))
        .build_eframe(|cc| App::new(cc, session, options));
    let (remote, producer) = match feed {
        Feed::Local => (None, Some(runtime.spawn(vizcast_demo::run(hub.clone())))),
        Feed::View { rate } => {
            let port = match rate {
                Some(rate) => runtime.block_on(throttled_proxy(remote_port, rate)),
                None => remote_port,
            };
            let options = RemoteOptions {
                url: format!("http://127.0.0.1:{port}/"),
                tls_ca: None,
                restore_timeout: Duration::from_secs(10),
            };
            let _guard = runtime.enter();
            let (remote, _task) = Remote::start(&hub, &options).unwrap();
            let deadline = Instant::now() + Duration::from_secs(20);
            while !remote.counters.connected.load(Ordering::Relaxed) {
                assert!(Instant::now() < deadline, "{:?}", remote.last_error());
                std::thread::sleep(Duration::from_millis(20));
            }
            (Some(remote), None)
        }
    };
    // Warm up: the join snapshot, the first frames, the pipelines.
    let warm = Instant::now();
    while warm.elapsed() < Duration::from_secs(2) {
        harness.step();
        std::thread::sleep(Duration::from_millis(16));
    }
    let pid = std::process::id();
    let frames0 = store.read().frames;
    let samples0 = scalar_samples(&hub);
    let bytes0 = remote
        .as_ref()
        .map_or(0, |r| r.counters.bytes.load(Ordering::Relaxed));
    let skipped0 = remote.as_ref().map_or(0, |r| {
        r.counters.conflated_frames.load(Ordering::Relaxed)
            + r.counters.lagged_frames.load(Ordering::Relaxed)
    });
    let cpu0 = process::cpu_seconds(pid).unwrap();
    let started = Instant::now();
    let period = Duration::from_secs_f64(1.0 / 60.0);
    let mut next = Instant::now();
    let mut steps = 0u64;
    while started.elapsed().as_secs_f64() < seconds {
        harness.step();
        steps += 1;
        next += period;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        } else {
            next = Instant::now();
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = process::cpu_seconds(pid).unwrap() - cpu0;
    let frames = store.read().frames - frames0;
    let samples = scalar_samples(&hub) - samples0;
    let mut line = format!(
        "| {} | {:.0} | {:.0} k | {:.0} | {:.0} % |",
        feed.name(),
        frames as f64 / elapsed,
        samples as f64 / elapsed / 1e3,
        steps as f64 / elapsed,
        cpu / elapsed * 100.0,
    );
    if let Some(remote) = &remote {
        let bytes = remote.counters.bytes.load(Ordering::Relaxed) - bytes0;
        let skipped = remote.counters.conflated_frames.load(Ordering::Relaxed)
            + remote.counters.lagged_frames.load(Ordering::Relaxed)
            - skipped0;
        let stats = remote.stats();
        line.push_str(&format!(
            " {:.2} MB/s | {:.0} | {} |",
            bytes as f64 / elapsed / 1e6,
            skipped as f64 / elapsed,
            stats["lagged"]
        ));
    } else {
        line.push_str(" – | – | – |");
    }
    println!("{line}");
    if let Some(producer) = producer {
        producer.abort();
    }
    hub.shutdown();
    drop(harness);
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let seconds = if quick { 6.0 } else { 20.0 };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let remote = runtime.block_on(async {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_vizcast"));
        command.args(["--headless", "--demo", "--listen", "127.0.0.1:0"]);
        process::spawn(command).await
    });
    let remote_pid = remote.child.id().unwrap();
    println!(
        "the window fed three ways, {seconds:.0} s each (store intake, window frames/s at a 60 Hz pace, CPU of this process; for views, the link and what the remote skipped):"
    );
    println!(
        "| fed by | store frames/s | scalar samples/s | window frames/s | CPU (window process) | link | skipped frames/s | lagged |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for feed in [
        Feed::Local,
        Feed::View { rate: None },
        Feed::View { rate: Some(4e6) },
    ] {
        let before = process::cpu_seconds(remote_pid).unwrap();
        let started = Instant::now();
        run(&runtime, feed, remote.port, seconds);
        if matches!(feed, Feed::View { .. }) {
            let cpu = process::cpu_seconds(remote_pid).unwrap() - before;
            println!(
                "  (the remote `vizcast --headless --demo` meanwhile: {:.0} % CPU)",
                cpu / started.elapsed().as_secs_f64() * 100.0
            );
        }
    }
    drop(remote);
}
