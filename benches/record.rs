//! Recording and replay: write throughput per compression, the live path's cost with a recorder,
//! seek time into a 1 GB recording, and replay at full speed.
//!
//! `cargo bench --bench record` (add `-- --quick` to skip the 1 GB file, `-- --live` for the live
//! path's cost alone). Temporary files go to the system's temp folder and are removed.

#![allow(missing_docs, clippy::unwrap_used, clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use vizcast_hub::{Hub, HubConfig, Utf8Bytes};
use vizcast_protocol::f32_base64;
use vizcast_record::{Compression, Recorder, RecorderOptions, Recording};

/// The binary's allocator, so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Workload {
    name: &'static str,
    frames: Vec<String>,
    messages: u64,
}

fn scalars(n: usize) -> Workload {
    let frames = (0..n)
        .map(|i| {
            format!(
                r#"{{"stream":"robot/joint{}","t":{:.6},"value":{:.6}}}"#,
                i % 16,
                1.7e9 + i as f64 * 1e-3,
                (i as f64).sin()
            )
        })
        .collect();
    Workload {
        name: "scalar messages (~70 B)",
        frames,
        messages: n as u64,
    }
}

fn clouds(n: usize, points: usize) -> Workload {
    let frames = (0..n)
        .map(|i| {
            let flat: Vec<f32> = (0..points * 3)
                .map(|k| ((k * 7 + i * 13) as f32 * 0.001).sin())
                .collect();
            format!(
                r#"{{"stream":"lidar","t":{:.3},"points":{{"f32":"{}"}}}}"#,
                1.7e9 + i as f64 * 0.033,
                f32_base64(&flat)
            )
        })
        .collect();
    Workload {
        name: "10k-point clouds (~160 kB)",
        frames,
        messages: n as u64,
    }
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("vizcast-bench-{}-{name}", std::process::id()))
}

fn hub() -> std::sync::Arc<Hub> {
    Hub::new(HubConfig {
        history_bytes: 16 << 20,
        ..HubConfig::default()
    })
    .unwrap()
}

/// Ingests the workload (through validation) with a recorder attached, until the file is closed.
fn record(workload: &Workload, compression: Compression, path: &Path) -> (Duration, u64, u64) {
    let hub = hub();
    let options = RecorderOptions {
        compression,
        queue_bytes: 2 << 30,
        ..RecorderOptions::default()
    };
    let start = Instant::now();
    let recorder = Recorder::start(hub.clone(), path, options).unwrap();
    for frame in &workload.frames {
        hub.ingest(Utf8Bytes::from(frame.as_str())).unwrap();
    }
    let summary = recorder.finish().unwrap();
    assert_eq!(summary.unrecorded_frames, 0);
    (start.elapsed(), summary.bytes, summary.messages)
}

/// Time to ingest the workload, with or without a recorder (not waiting for it to finish).
/// How long ingesting the workload took, and the ingesting thread's CPU time for it.
fn ingest_time(workload: &Workload, recording: Option<&Path>) -> (Duration, Duration) {
    let hub = hub();
    let recorder = recording.map(|path| {
        Recorder::start(
            hub.clone(),
            path,
            RecorderOptions {
                queue_bytes: 2 << 30,
                ..RecorderOptions::default()
            },
        )
        .unwrap()
    });
    let (start, cpu) = (Instant::now(), thread_cpu());
    for frame in &workload.frames {
        hub.ingest(Utf8Bytes::from(frame.as_str())).unwrap();
    }
    let (elapsed, cpu) = (start.elapsed(), thread_cpu() - cpu);
    if let Some(recorder) = recorder {
        assert_eq!(recorder.finish().unwrap().unrecorded_frames, 0);
    }
    (elapsed, cpu)
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let live_only = std::env::args().any(|a| a == "--live");
    let workloads = [scalars(400_000), clouds(300, 10_000)];
    if live_only {
        live_path(&workloads);
        return;
    }

    println!(
        "\n## Recording: write throughput (ingest + validation + record, until the file is closed)\n"
    );
    println!("| workload | compression | input MB | file MB | ratio | MB/s | messages/s |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for workload in &workloads {
        let input: u64 = workload.frames.iter().map(|f| f.len() as u64).sum();
        for (name, compression) in [
            ("zstd", Compression::Zstd),
            ("lz4", Compression::Lz4),
            ("none", Compression::None),
        ] {
            let path = temp("write.mcap");
            let (elapsed, bytes, messages) = record(workload, compression, &path);
            assert_eq!(messages, workload.messages);
            let s = elapsed.as_secs_f64();
            println!(
                "| {} | {name} | {:.1} | {:.1} | {:.2} | {:.0} | {:.0} |",
                workload.name,
                mb(input),
                mb(bytes),
                bytes as f64 / input as f64,
                mb(input) / s,
                messages as f64 / s
            );
            std::fs::remove_file(&path).ok();
        }
    }

    live_path(&workloads);

    println!("\n## Replay at full speed\n");
    println!("| workload | read + regroup frames/s | + validate and accept (hub) messages/s |");
    println!("|---|---:|---:|");
    for workload in &workloads {
        let path = temp("replay.mcap");
        record(workload, Compression::Zstd, &path);
        let recording = Recording::open(&path).unwrap();
        let start = Instant::now();
        let mut frames = 0usize;
        for frame in recording.frames_from(0).unwrap() {
            frame.unwrap();
            frames += 1;
        }
        let read = start.elapsed();
        let hub = hub();
        let start = Instant::now();
        for frame in recording.frames_from(0).unwrap() {
            hub.ingest(Utf8Bytes::from(frame.unwrap().text)).unwrap();
        }
        let with_hub = start.elapsed();
        println!(
            "| {} | {:.0} | {:.0} |",
            workload.name,
            frames as f64 / read.as_secs_f64(),
            workload.messages as f64 / with_hub.as_secs_f64()
        );
        std::fs::remove_file(&path).ok();
    }

    if quick {
        return;
    }
    println!("\n## Seeking into a 1 GB recording\n");
    // 1 GB of 10k-point clouds (hardly compressible) with a scalar stream beside them.
    let path = temp("seek.mcap");
    let hub = hub();
    let recorder = Recorder::start(
        hub.clone(),
        &path,
        RecorderOptions {
            queue_bytes: 2 << 30,
            ..RecorderOptions::default()
        },
    )
    .unwrap();
    let cloud = clouds(64, 10_000).frames;
    let mut i = 0u64;
    let start = Instant::now();
    loop {
        let t = 1.7e9 + i as f64 * 0.01;
        hub.ingest(Utf8Bytes::from(cloud[(i % 64) as usize].replacen(
            "\"t\":",
            &format!("\"t\":{t:.3},\"x\":"),
            1,
        )))
        .unwrap();
        hub.ingest(Utf8Bytes::from(format!(
            r#"{{"stream":"scalar","t":{t:.3},"value":{i}}}"#
        )))
        .unwrap();
        i += 1;
        if i.is_multiple_of(512) && std::fs::metadata(&path).map_or(0, |m| m.len()) > 1_000_000_000
        {
            break;
        }
    }
    let summary = recorder.finish().unwrap();
    println!(
        "wrote {:.2} GB ({} messages) in {:.1} s",
        summary.bytes as f64 / 1e9,
        summary.messages,
        start.elapsed().as_secs_f64()
    );
    let open_start = Instant::now();
    let recording = Recording::open(&path).unwrap();
    let open = open_start.elapsed();
    let info = recording.info().clone();
    let mut times = Vec::new();
    for k in 1..=20u64 {
        let target = info.start + (info.end - info.start) * k / 21;
        let start = Instant::now();
        let state = recording.state_before(target, 16 << 20).unwrap();
        let first = recording
            .frames_from(target)
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        times.push(start.elapsed());
        assert!(!state.is_empty() && first.log_time >= target);
    }
    times.sort();
    println!(
        "| open (read the index) | seek median | seek max | chunks of state read |\n|---:|---:|---:|---|\n| {:.1} ms | {:.1} ms | {:.1} ms | one per stream + 16 MiB of recent history |",
        open.as_secs_f64() * 1e3,
        times[times.len() / 2].as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3
    );
    std::fs::remove_file(&path).ok();
}

/// The live path's cost of a recorder: ingest time with and without one, best of 3 each.
/// CPU time this thread has run (the kernel's scheduler statistics, in nanoseconds).
fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap();
    Duration::from_nanos(stat.split_whitespace().next().unwrap().parse().unwrap())
}

/// The live path's cost of a recorder: the ingesting thread's time and CPU time with and without
/// one, best of 5 each. CPU time is the cost proper (what the hand-off adds under the hub's lock);
/// wall time also counts the cores the recorder's thread takes from everything else.
fn live_path(workloads: &[Workload]) {
    println!("\n## The live path with and without recording (the ingesting thread; best of 5)\n");
    println!(
        "| workload | without: wall / CPU | with recorder (zstd): wall / CPU | cost: wall / CPU |"
    );
    println!("|---|---:|---:|---:|");
    for workload in workloads {
        let best = |recording: bool| {
            let runs: Vec<(Duration, Duration)> = (0..5)
                .map(|_| {
                    let path = temp("live.mcap");
                    let times = ingest_time(workload, recording.then_some(path.as_path()));
                    std::fs::remove_file(&path).ok();
                    times
                })
                .collect();
            (
                runs.iter().map(|r| r.0).min().unwrap(),
                runs.iter().map(|r| r.1).min().unwrap(),
            )
        };
        let (without, with) = (best(false), best(true));
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let cost = |a: Duration, b: Duration| (b.as_secs_f64() / a.as_secs_f64() - 1.0) * 100.0;
        println!(
            "| {} | {:.0} / {:.0} ms | {:.0} / {:.0} ms | {:+.1} % / {:+.1} % |",
            workload.name,
            ms(without.0),
            ms(without.1),
            ms(with.0),
            ms(with.1),
            cost(without.0, with.0),
            cost(without.1, with.1),
        );
    }
}
