//! End-to-end load benchmark: one producer, N viewers, over loopback WebSockets.
//!
//! Measures producer → viewer latency (p50, p99, max), delivered messages per second (summed over
//! viewers), loss for viewers that keep up, and the server's CPU time per delivered message, at a
//! fixed rate (default 1 kHz) and at the maximum rate, for 1, 10 and 100 viewers.
//!
//! ```text
//! cargo bench --bench e2e_load                                  # spawns vizcast (release)
//! cargo bench --bench e2e_load -- --relay                       # spawns benches/peers/relay.py
//! cargo bench --bench e2e_load -- --ingest ws://H:P/ingest --subscribe ws://H:P/ws [--pid PID]
//! options: --viewers 1,10,100  --rate 1000  --seconds 5  --only-rate | --only-max
//!          --payload scalar | cloud-text | cloud-f32   --points 10000   (clouds: use --rate 30)
//!          --foxglove   (viewers on vizcast's /foxglove, the Foxglove WebSocket protocol)
//! ```
//! Loopback only; every scenario is bounded in time. The clients run on the same machine as the
//! server: on a 2-core machine they compete with it for CPU, which the figures include.

#![allow(missing_docs, clippy::unwrap_used, clippy::print_stdout)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

#[path = "support/process.rs"]
mod process;

use process::{Spawned, cpu_seconds};

struct Options {
    ingest: Option<String>,
    subscribe: Option<String>,
    pid: Option<u32>,
    relay: bool,
    viewers: Vec<usize>,
    rate: u64,
    seconds: f64,
    fixed: bool,
    max: bool,
    payload: Payload,
    points: usize,
    foxglove: bool,
}

/// What the producer sends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Payload {
    /// One scalar sample a frame.
    Scalar,
    /// A point cloud a frame, its points as JSON number arrays.
    CloudText,
    /// A point cloud a frame, its points as base64 little-endian `f32`.
    CloudF32,
}

fn options() -> Options {
    let mut o = Options {
        ingest: None,
        subscribe: None,
        pid: None,
        relay: false,
        viewers: vec![1, 10, 100],
        rate: 1000,
        seconds: 5.0,
        fixed: true,
        max: true,
        payload: Payload::Scalar,
        points: 10_000,
        foxglove: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--ingest" => o.ingest = args.next(),
            "--subscribe" => o.subscribe = args.next(),
            "--pid" => o.pid = args.next().and_then(|p| p.parse().ok()),
            "--relay" => o.relay = true,
            "--viewers" => {
                o.viewers = args
                    .next()
                    .unwrap()
                    .split(',')
                    .map(|v| v.parse().unwrap())
                    .collect();
            }
            "--rate" => o.rate = args.next().unwrap().parse().unwrap(),
            "--seconds" => o.seconds = args.next().unwrap().parse().unwrap(),
            "--payload" => {
                o.payload = match args.next().as_deref() {
                    Some("scalar") => Payload::Scalar,
                    Some("cloud-text") => Payload::CloudText,
                    Some("cloud-f32") => Payload::CloudF32,
                    other => panic!("--payload scalar|cloud-text|cloud-f32, not {other:?}"),
                }
            }
            "--points" => o.points = args.next().unwrap().parse().unwrap(),
            "--foxglove" => o.foxglove = true,
            "--only-rate" => o.max = false,
            "--only-max" => o.fixed = false,
            _ => {} // cargo passes --bench; ignore what is not ours
        }
    }
    o
}

async fn spawn(relay: bool) -> Spawned {
    let command = if relay {
        let port = free_port();
        let mut c = tokio::process::Command::new("python3");
        c.arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/benches/peers/relay.py"
        ))
        .arg(port.to_string());
        c
    } else {
        let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_vizcast"));
        c.args(["--headless", "--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "warn");
        c
    };
    process::spawn(command).await
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Outcome {
    sent: u64,
    received: Vec<u64>,
    latencies_us: Vec<u32>,
    lagged: u64,
    seconds: f64,
    cpu: Option<f64>,
}

/// The body of a frame between the stream name and the `sent` stamp: `,"value":N` for scalars,
/// `,"points":…` for clouds (made once, reused by every frame).
fn body(payload: Payload, points: usize) -> String {
    let coords: Vec<f32> = (0..points * 3)
        .map(|i| ((i as f32) * 0.618_034).fract() * 20.0 - 10.0)
        .collect();
    match payload {
        Payload::Scalar => String::new(),
        Payload::CloudText => {
            let mut text = String::from(r#","points":["#);
            for (i, p) in coords.chunks(3).enumerate() {
                if i > 0 {
                    text.push(',');
                }
                text.push_str(&format!("[{:.3},{:.3},{:.3}]", p[0], p[1], p[2]));
            }
            text.push(']');
            text
        }
        Payload::CloudF32 => format!(
            r#","points":{{"f32":"{}"}}"#,
            vizcast_protocol::f32_base64(&coords)
        ),
    }
}

/// Runs one scenario: `viewers` viewers, a producer at `rate` msgs/s (None: as fast as possible).
/// Its frames go to stream `tag`; viewers count only those (a reused server may replay others).
#[allow(clippy::too_many_arguments)]
async fn scenario(
    ingest: &str,
    subscribe: &str,
    pid: Option<u32>,
    tag: &str,
    viewers: usize,
    rate: Option<u64>,
    seconds: f64,
    body: &str,
) -> Outcome {
    let marker = format!("{{\"stream\":\"{tag}\"");
    let epoch = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let lagged = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(viewers.max(1));
    // Foxglove clients subscribe to the stream's channel, which exists once a frame of it was
    // translated: send one (not counted: it has no `sent`) before they connect.
    let foxglove = subscribe.ends_with("/foxglove");
    if foxglove {
        let (mut warm, _) = tokio_tungstenite::connect_async_with_config(ingest, None, true)
            .await
            .expect("producer connects");
        warm.send(Message::text(format!(r#"{{"stream":"{tag}","value":-1}}"#)))
            .await
            .unwrap();
        warm.close(None).await.ok();
    }
    for _ in 0..viewers {
        let mut request = subscribe.into_client_request().unwrap();
        if foxglove {
            request.headers_mut().insert(
                "Sec-WebSocket-Protocol",
                "foxglove.websocket.v1".parse().unwrap(),
            );
        }
        let (mut ws, _) = tokio_tungstenite::connect_async_with_config(request, None, true)
            .await
            .expect("viewer connects");
        let stop = stop.clone();
        let lagged = lagged.clone();
        let ready = ready_tx.clone();
        let marker = marker.clone();
        let topic = format!("\"topic\":\"/{tag}\"");
        tasks.push(tokio::spawn(async move {
            let mut received = 0u64;
            let mut latencies = Vec::with_capacity(1 << 16);
            if !foxglove {
                ready.send(()).await.ok();
            }
            loop {
                let next = tokio::time::timeout(Duration::from_millis(200), ws.next()).await;
                let text = match next {
                    Ok(Some(Ok(Message::Text(text)))) => text,
                    // A Foxglove MessageData: opcode 1, subscription id, log time, payload.
                    Ok(Some(Ok(Message::Binary(data)))) if foxglove && data.len() > 13 => {
                        let now = epoch.elapsed().as_micros() as u64;
                        let payload = std::str::from_utf8(&data[13..]).unwrap_or_default();
                        if let Some(sent) = payload.rfind("\"sent\":").and_then(|at| {
                            payload[at + 7..].split([',', '}']).next()?.parse::<f64>().ok()
                        }) {
                            received += 1;
                            latencies.push(now.saturating_sub(sent as u64).min(u64::from(u32::MAX)) as u32);
                        }
                        continue;
                    }
                    Ok(Some(Ok(_))) => continue,
                    Ok(None | Some(Err(_))) => break,
                    Err(_) if stop.load(Ordering::Relaxed) => break,
                    Err(_) => continue,
                };
                let now = epoch.elapsed().as_micros() as u64;
                let text = text.as_str();
                if foxglove {
                    // Subscribe to the stream's channel when it is advertised.
                    if text.contains("\"op\":\"advertise\"") && let Some(at) = text.find(&topic) {
                        let before = &text[..at];
                        let id = before.rfind("\"id\":").and_then(|i| {
                            before[i + 5..].split(|c: char| !c.is_ascii_digit()).next()?.parse::<u32>().ok()
                        });
                        if let Some(id) = id {
                            let request = format!(r#"{{"op":"subscribe","subscriptions":[{{"id":1,"channelId":{id}}}]}}"#);
                            ws.send(Message::text(request)).await.unwrap();
                            ready.send(()).await.ok();
                        }
                    }
                    if text.contains("\"status\"") && text.contains("fell behind") {
                        lagged.fetch_add(1, Ordering::Relaxed);
                    }
                    continue;
                }
                if text.starts_with("{\"vizcast\":") {
                    if text.contains("\"lagged\"") {
                        lagged.fetch_add(1, Ordering::Relaxed);
                    }
                    continue;
                }
                if !text.starts_with(&marker) {
                    continue;
                }
                if let Some(sent) = text
                    .rfind("\"sent\":")
                    .and_then(|at| text[at + 7..].trim_end_matches('}').parse::<u64>().ok())
                {
                    received += 1;
                    latencies.push(now.saturating_sub(sent).min(u64::from(u32::MAX)) as u32);
                }
            }
            (received, latencies)
        }));
    }
    drop(ready_tx);
    for _ in 0..viewers {
        ready_rx.recv().await;
    }
    // Let every viewer finish its join snapshot.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let (mut producer, _) = tokio_tungstenite::connect_async_with_config(ingest, None, true)
        .await
        .expect("producer connects");
    let cpu_before = pid.and_then(cpu_seconds);
    let start = Instant::now();
    let mut sent = 0u64;
    let duration = Duration::from_secs_f64(seconds);
    while start.elapsed() < duration {
        let due = match rate {
            Some(rate) => {
                ((start.elapsed().as_secs_f64() * rate as f64) as u64).saturating_sub(sent)
            }
            None => 64,
        };
        for _ in 0..due {
            let now = epoch.elapsed().as_micros();
            let frame = if body.is_empty() {
                format!(r#"{{"stream":"{tag}","value":{sent},"sent":{now}}}"#)
            } else {
                format!(r#"{{"stream":"{tag}"{body},"sent":{now}}}"#)
            };
            producer.feed(Message::text(frame)).await.unwrap();
            sent += 1;
        }
        producer.flush().await.unwrap();
        if rate.is_some() {
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    // Let the viewers drain, at most 3 s.
    let drain_until = Instant::now() + Duration::from_secs(3);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let cpu = match (pid.and_then(cpu_seconds), cpu_before) {
        (Some(after), Some(before)) => Some(after - before),
        _ => None,
    };
    while Instant::now() < drain_until {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if tasks.iter().all(tokio::task::JoinHandle::is_finished) {
            break;
        }
        // Viewers stop after 200 ms without data once `stop` is set.
        stop.store(true, Ordering::Relaxed);
    }
    stop.store(true, Ordering::Relaxed);
    producer.close(None).await.ok();
    let mut received = Vec::new();
    let mut latencies_us = Vec::new();
    for task in tasks {
        let (count, mut lat) = task.await.unwrap();
        received.push(count);
        latencies_us.append(&mut lat);
    }
    Outcome {
        sent,
        received,
        latencies_us,
        lagged: lagged.load(Ordering::Relaxed),
        seconds: elapsed,
        cpu,
    }
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[index]) / 1000.0
}

fn main() {
    let o = options();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let external = o.ingest.is_some();
        let name = if o.relay { "python asyncio relay" } else if external { "external server" } else { "vizcast" };
        let body = body(o.payload, o.points);
        let what = match o.payload {
            Payload::Scalar => "scalar frames".to_owned(),
            Payload::CloudText => format!("{}-point clouds as JSON text ({} KB a frame)", o.points, body.len() / 1000),
            Payload::CloudF32 => format!("{}-point clouds as base64 f32 ({} KB a frame)", o.points, body.len() / 1000),
        };
        println!("\n{name}, {what}: a fresh server per scenario (unless external), {} s per scenario", o.seconds);
        println!("| viewers | rate | sent | delivered/s | p50 ms | p99 ms | max ms | lost | lagged | server CPU | CPU µs/delivery | CPU ms/delivered MB |");
        println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        let mut runs: Vec<Option<u64>> = Vec::new();
        if o.fixed {
            runs.push(Some(o.rate));
        }
        if o.max {
            runs.push(None);
        }
        let scenarios: Vec<(Option<u64>, usize)> = runs.into_iter().flat_map(|r| o.viewers.iter().map(move |v| (r, *v))).collect();
        for (index, (rate, viewers)) in scenarios.into_iter().enumerate() {
            {
                let spawned = if external { None } else { Some(spawn(o.relay).await) };
                let (ingest, subscribe, pid) = match &spawned {
                    Some(s) => (
                        format!("ws://127.0.0.1:{}/ingest", s.port),
                        format!("ws://127.0.0.1:{}/{}", s.port, if o.foxglove { "foxglove" } else { "ws" }),
                        s.child.id(),
                    ),
                    None => (o.ingest.clone().unwrap(), o.subscribe.clone().expect("--subscribe URL"), o.pid),
                };
                let tag = format!("load/{}/{index}", std::process::id());
                let out = scenario(&ingest, &subscribe, pid, &tag, viewers, rate, o.seconds, &body).await;
                drop(spawned);
                let mut lat = out.latencies_us;
                lat.sort_unstable();
                let delivered: u64 = out.received.iter().sum();
                let lost: u64 = out.received.iter().map(|r| out.sent.saturating_sub(*r)).sum();
                let cpu = out.cpu.map_or("n/a".to_owned(), |c| format!("{:.0} %", 100.0 * c / out.seconds));
                let per = out.cpu.map_or("n/a".to_owned(), |c| format!("{:.2}", c * 1e6 / delivered.max(1) as f64));
                let frame_bytes = (tag.len() + body.len() + 40) as f64;
                let per_mb = out.cpu.map_or("n/a".to_owned(), |c| format!("{:.2}", c * 1e3 / (delivered.max(1) as f64 * frame_bytes / 1e6)));
                println!(
                    "| {viewers} | {} | {} | {:.0} | {:.3} | {:.3} | {:.3} | {lost} | {} | {cpu} | {per} | {per_mb} |",
                    rate.map_or("max".to_owned(), |r| format!("{r}/s")),
                    out.sent,
                    delivered as f64 / out.seconds,
                    percentile(&lat, 0.5),
                    percentile(&lat, 0.99),
                    percentile(&lat, 1.0),
                    out.lagged,
                );
            }
        }
    });
}
