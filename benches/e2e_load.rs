//! End-to-end load benchmark: one producer, N viewers, over loopback WebSockets.
//!
//! Measures producer → viewer latency (p50, p99, max), delivered messages per second (summed over
//! viewers), loss for viewers that keep up, and the server's CPU time per delivered message, at a
//! fixed rate (default 1 kHz) and at the maximum rate, for 1, 10 and 100 viewers.
//!
//! ```text
//! cargo bench --bench e2e_load                                  # spawns vizcast (release)
//! cargo bench --bench e2e_load -- --relay                       # spawns benches/peers/relay.py
//! cargo bench --bench e2e_load -- --foxglove-sdk                # spawns the Foxglove SDK's server
//! cargo bench --bench e2e_load -- --ingest ws://H:P/ingest --subscribe ws://H:P/ws [--pid PID]
//! options: --viewers 1,10,100  --rate 1000  --seconds 5  --only-rate | --only-max
//!          --payload scalar | cloud-text | cloud-f32   --points 10000   (clouds: use --rate 30)
//!          --payload jpeg   --width 1920 --height 1080 --jpeg-bytes 300000   (use --rate 30)
//!          --foxglove   (viewers on vizcast's /foxglove, the Foxglove WebSocket protocol)
//! ```
//!
//! `--payload jpeg` sends `{"stream":TAG,"image":{"jpeg":"<base64>"},"sent":N}` with a JPEG the
//! hub accepts without decoding it: SOI, comment segments of pseudo-random bytes up to
//! `--jpeg-bytes`, a baseline frame header (SOF0, `--width`×`--height`, 3 components), EOI; 8 such
//! files, which differ in their comments, are sent in turn. Presets: 1080p (the defaults) at
//! `--rate 30`; 4K with `--width 3840 --height 2160 --jpeg-bytes 1200000 --rate 10`.
//!
//! `--foxglove-sdk` compares with the Foxglove SDK's own server: the peer
//! `benches/peers/foxglove_sdk_images.py` (run, as `relay.py` is, by `$VIZCAST_PEER_PYTHON`,
//! default `python3`; it needs the Python packages `foxglove-sdk` and `websockets`) takes the
//! producer's frames on `/ingest` and logs each image as a `foxglove.CompressedImage` (with the
//! frame's `sent`) on the channel `/TAG`; the viewers are Foxglove clients of the SDK's server.
//! Its CPU is the whole process's (Python and the SDK's threads); the Python thread's share is
//! printed under the table.
//!
//! Foxglove clients offer `foxglove.sdk.v1, foxglove.websocket.v1` and read a delivery's latency
//! from the `"sent"` in its payload. vizcast's `/foxglove` translates an image without it (the
//! frame's `sent` goes to the stream's scalars channel, `/TAG/scalars`, not subscribed), so for
//! `--foxglove --payload jpeg` deliveries and CPU are measured, latency is not ("n/a").
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
    width: u16,
    height: u16,
    jpeg_bytes: usize,
    foxglove: bool,
    foxglove_sdk: bool,
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
    /// A JPEG image a frame (markers and a frame header, no pixels to decode).
    Jpeg,
}

/// The server the scenarios run against (unless `--ingest` names an external one).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Peer {
    Vizcast,
    /// `benches/peers/relay.py`.
    Relay,
    /// `benches/peers/foxglove_sdk_images.py`: the Foxglove SDK's server.
    FoxgloveSdk,
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
        width: 1920,
        height: 1080,
        jpeg_bytes: 300_000,
        foxglove: false,
        foxglove_sdk: false,
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
                    Some("jpeg") => Payload::Jpeg,
                    other => panic!("--payload scalar|cloud-text|cloud-f32|jpeg, not {other:?}"),
                }
            }
            "--points" => o.points = args.next().unwrap().parse().unwrap(),
            "--width" => o.width = args.next().unwrap().parse().unwrap(),
            "--height" => o.height = args.next().unwrap().parse().unwrap(),
            "--jpeg-bytes" => o.jpeg_bytes = args.next().unwrap().parse().unwrap(),
            "--foxglove" => o.foxglove = true,
            "--foxglove-sdk" => o.foxglove_sdk = true,
            "--only-rate" => o.max = false,
            "--only-max" => o.fixed = false,
            _ => {} // cargo passes --bench; ignore what is not ours
        }
    }
    o
}

/// Starts `peer`; returns it, its ingest URL and the URL its viewers connect to.
async fn spawn(peer: Peer, foxglove: bool) -> (Spawned, String, String) {
    let mut foxglove_port = None;
    let command = match peer {
        Peer::Relay => {
            let port = free_port();
            let mut c = tokio::process::Command::new(peer_python());
            c.arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/benches/peers/relay.py"
            ))
            .arg(port.to_string());
            c
        }
        Peer::FoxgloveSdk => {
            let (port, viewers) = (free_port(), free_port());
            foxglove_port = Some(viewers);
            let mut c = tokio::process::Command::new(peer_python());
            c.arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/benches/peers/foxglove_sdk_images.py"
            ))
            .args([port.to_string(), viewers.to_string()]);
            c
        }
        Peer::Vizcast => {
            let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_vizcast"));
            c.args(["--headless", "--listen", "127.0.0.1:0"])
                .env("RUST_LOG", "warn");
            c
        }
    };
    // The SDK peer prints its `listening on` line once both of its servers listen.
    let spawned = process::spawn(command).await;
    let ingest = format!("ws://127.0.0.1:{}/ingest", spawned.port);
    let subscribe = match foxglove_port {
        Some(port) => format!("ws://127.0.0.1:{port}/"),
        None if foxglove => format!("ws://127.0.0.1:{}/foxglove", spawned.port),
        None => format!("ws://127.0.0.1:{}/ws", spawned.port),
    };
    (spawned, ingest, subscribe)
}

/// The Python that runs the peers: `$VIZCAST_PEER_PYTHON`, or `python3`.
fn peer_python() -> String {
    std::env::var("VIZCAST_PEER_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

/// CPU seconds (user + system) used by the main thread of a process, from /proc.
fn main_thread_cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
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
    /// CPU of the server's main thread (the Python thread of a Python peer).
    main_thread_cpu: Option<f64>,
}

/// The bodies of frames between the stream name and the `sent` stamp: `,"value":N` for scalars
/// (empty here: the value is the frame's number), `,"points":…` for clouds, `,"image":…` for
/// images (made once; frames take them in turn).
fn bodies(o: &Options) -> Vec<String> {
    if o.payload == Payload::Jpeg {
        return (0..JPEG_VARIANTS)
            .map(|variant| {
                let file = jpeg(o.width, o.height, o.jpeg_bytes, variant);
                format!(
                    r#","image":{{"jpeg":"{}"}}"#,
                    vizcast_protocol::u8_base64(&file)
                )
            })
            .collect();
    }
    vec![body(o.payload, o.points)]
}

/// How many different JPEG files the producer sends in turn.
const JPEG_VARIANTS: u64 = 8;

/// A JPEG file of `bytes` bytes (at least 23) that the hub accepts without decoding pixels: SOI,
/// comment segments (`FF FE`) of pseudo-random bytes, seeded by `variant`, a baseline frame header
/// (SOF0) of `width`×`height` with 3 components, EOI.
fn jpeg(width: u16, height: u16, bytes: usize, variant: u64) -> Vec<u8> {
    const SOF0: usize = 2 + 17;
    const MAX_SEGMENT: usize = 2 + 0xffff;
    let mut file = Vec::with_capacity(bytes.max(2 + SOF0 + 2));
    file.extend_from_slice(&[0xff, 0xd8]);
    let fill = bytes.saturating_sub(2 + SOF0 + 2);
    if fill >= 4 {
        // Segments of equal size, each at least 4 bytes (marker and length).
        let segments = fill.div_ceil(MAX_SEGMENT);
        let mut state = 0x9e37_79b9_7f4a_7c15_u64 ^ variant.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        for index in 0..segments {
            let size = fill / segments + usize::from(index < fill % segments);
            let length = u16::try_from(size - 2).unwrap();
            file.extend_from_slice(&[0xff, 0xfe]);
            file.extend_from_slice(&length.to_be_bytes());
            for _ in 0..size - 4 {
                // xorshift64: incompressible, different for every variant.
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                file.push(state as u8);
            }
        }
    }
    // SOF0: length 17, precision 8, height, width, 3 components (id, sampling, table).
    file.extend_from_slice(&[0xff, 0xc0, 0x00, 0x11, 0x08]);
    file.extend_from_slice(&height.to_be_bytes());
    file.extend_from_slice(&width.to_be_bytes());
    file.extend_from_slice(&[0x03, 0x01, 0x22, 0x00, 0x02, 0x11, 0x01, 0x03, 0x11, 0x01]);
    file.extend_from_slice(&[0xff, 0xd9]);
    file
}

/// The body of a scalar or cloud frame.
fn body(payload: Payload, points: usize) -> String {
    let coords: Vec<f32> = (0..points * 3)
        .map(|i| ((i as f32) * 0.618_034).fract() * 20.0 - 10.0)
        .collect();
    match payload {
        Payload::Scalar | Payload::Jpeg => String::new(),
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
/// `foxglove`: the viewers are Foxglove clients.
#[allow(clippy::too_many_arguments)]
async fn scenario(
    ingest: &str,
    subscribe: &str,
    foxglove: bool,
    pid: Option<u32>,
    tag: &str,
    viewers: usize,
    rate: Option<u64>,
    seconds: f64,
    bodies: &[String],
) -> Outcome {
    let marker = format!("{{\"stream\":\"{tag}\"");
    let epoch = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let started = Arc::new(AtomicBool::new(false));
    let lagged = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(viewers.max(1));
    // Foxglove clients subscribe to the stream's channel, which exists once a frame of it was
    // translated: send one (not counted: it has no `sent`) before they connect. For images, an
    // image, so that the stream's first channel, `/TAG`, is its image channel.
    if foxglove {
        let (mut warm, _) = tokio_tungstenite::connect_async_with_config(ingest, None, true)
            .await
            .expect("producer connects");
        let warm_up = match bodies.first() {
            Some(body) if body.starts_with(r#","image":"#) => {
                format!(r#"{{"stream":"{tag}"{body}}}"#)
            }
            _ => format!(r#"{{"stream":"{tag}","value":-1}}"#),
        };
        warm.send(Message::text(warm_up)).await.unwrap();
        // Finish the close handshake: a socket dropped with vizcast's hello unread is reset, and
        // the reset discards what the server has not read yet (a large warm-up frame).
        warm.close(None).await.ok();
        tokio::time::timeout(Duration::from_secs(2), async {
            while let Some(Ok(_)) = warm.next().await {}
        })
        .await
        .ok();
    }
    for _ in 0..viewers {
        let mut request = subscribe.into_client_request().unwrap();
        if foxglove {
            // The SDK's server refuses clients that offer only `foxglove.websocket.v1`.
            request.headers_mut().insert(
                "Sec-WebSocket-Protocol",
                "foxglove.sdk.v1, foxglove.websocket.v1".parse().unwrap(),
            );
        }
        let (mut ws, _) = tokio_tungstenite::connect_async_with_config(request, None, true)
            .await
            .expect("viewer connects");
        let stop = stop.clone();
        let started = started.clone();
        let lagged = lagged.clone();
        let ready = ready_tx.clone();
        let marker = marker.clone();
        let topic = format!("\"topic\":\"/{tag}\"");
        tasks.push(tokio::spawn(async move {
            let mut received = 0u64;
            let mut latencies = Vec::with_capacity(1 << 16);
            // Once: a server may advertise the channel again with others (vizcast lists every
            // channel when one is added), and the `ready` queue holds one message per viewer.
            let mut subscribed = false;
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
                        } else if started.load(Ordering::Relaxed) {
                            // Without `sent` (vizcast's CompressedImage): counted, not timed.
                            received += 1;
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
                    if !subscribed && text.contains("\"op\":\"advertise\"") && let Some(at) = text.find(&topic) {
                        let before = &text[..at];
                        let id = before.rfind("\"id\":").and_then(|i| {
                            before[i + 5..].split(|c: char| !c.is_ascii_digit()).next()?.parse::<u32>().ok()
                        });
                        if let Some(id) = id {
                            let request = format!(r#"{{"op":"subscribe","subscriptions":[{{"id":1,"channelId":{id}}}]}}"#);
                            ws.send(Message::text(request)).await.unwrap();
                            subscribed = true;
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
            ws.close(None).await.ok();
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
    let main_before = pid.and_then(main_thread_cpu_seconds);
    started.store(true, Ordering::Relaxed);
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
            let body = &bodies[(sent % bodies.len() as u64) as usize];
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
    let main_thread_cpu = match (pid.and_then(main_thread_cpu_seconds), main_before) {
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
    tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(Ok(_)) = producer.next().await {}
    })
    .await
    .ok();
    // Time for a peer to see the close (foxglove_sdk_images.py then prints its own figures).
    tokio::time::sleep(Duration::from_millis(100)).await;
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
        main_thread_cpu,
    }
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[index]) / 1000.0
}

/// A latency for the table: "n/a" where none was measured.
fn milliseconds(ms: f64) -> String {
    if ms.is_nan() {
        "n/a".to_owned()
    } else {
        format!("{ms:.3}")
    }
}

fn main() {
    let o = options();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let external = o.ingest.is_some();
        let peer = if o.foxglove_sdk { Peer::FoxgloveSdk } else if o.relay { Peer::Relay } else { Peer::Vizcast };
        let foxglove = o.foxglove || o.foxglove_sdk;
        let name = match peer {
            _ if external => "external server",
            Peer::Relay => "python asyncio relay",
            Peer::FoxgloveSdk => "Foxglove SDK (foxglove_sdk_images.py)",
            Peer::Vizcast if foxglove => "vizcast /foxglove",
            Peer::Vizcast => "vizcast /ws",
        };
        let bodies = bodies(&o);
        let body = &bodies[0];
        let what = match o.payload {
            Payload::Scalar => "scalar frames".to_owned(),
            Payload::CloudText => format!("{}-point clouds as JSON text ({} KB a frame)", o.points, body.len() / 1000),
            Payload::CloudF32 => format!("{}-point clouds as base64 f32 ({} KB a frame)", o.points, body.len() / 1000),
            Payload::Jpeg => format!(
                "{}×{} JPEGs of {} KB ({} KB of base64 a frame, {JPEG_VARIANTS} files in turn)",
                o.width, o.height, o.jpeg_bytes / 1000, body.len() / 1000
            ),
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
        let mut notes = Vec::new();
        for (index, (rate, viewers)) in scenarios.into_iter().enumerate() {
            {
                let spawned = if external { None } else { Some(spawn(peer, o.foxglove).await) };
                let (ingest, subscribe, pid) = match &spawned {
                    Some((s, ingest, subscribe)) => (ingest.clone(), subscribe.clone(), s.child.id()),
                    None => (o.ingest.clone().unwrap(), o.subscribe.clone().expect("--subscribe URL"), o.pid),
                };
                let foxglove = foxglove || subscribe.ends_with("/foxglove");
                let tag = format!("load/{}/{index}", std::process::id());
                let out = scenario(&ingest, &subscribe, foxglove, pid, &tag, viewers, rate, o.seconds, &bodies).await;
                if peer == Peer::FoxgloveSdk && !external && let (Some(all), Some(main)) = (out.cpu, out.main_thread_cpu) {
                    notes.push(format!(
                        "{viewers} viewers: of the peer's {:.0} % CPU, its Python thread (ingest, building each message, channel.log) used {:.0} %",
                        100.0 * all / out.seconds,
                        100.0 * main / out.seconds,
                    ));
                }
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
                    "| {viewers} | {} | {} | {:.0} | {} | {} | {} | {lost} | {} | {cpu} | {per} | {per_mb} |",
                    rate.map_or("max".to_owned(), |r| format!("{r}/s")),
                    out.sent,
                    delivered as f64 / out.seconds,
                    milliseconds(percentile(&lat, 0.5)),
                    milliseconds(percentile(&lat, 0.99)),
                    milliseconds(percentile(&lat, 1.0)),
                    out.lagged,
                );
            }
        }
        for note in notes {
            println!("\n{note}");
        }
    });
}
