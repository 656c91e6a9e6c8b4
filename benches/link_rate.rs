//! Viewers on bounded links beside the demo load, before and after conflation.
//!
//! One hub runs the built-in demo (a 50,000-point cloud at 30 Hz, about 30 MB/s, beside 1 kHz
//! scalar series). Two viewers follow it: a reference viewer that reads everything at full speed,
//! and a viewer whose socket is read at a fixed link rate (a token bucket over a TCP socket with a
//! 64 KiB receive buffer). For each link rate, with conflation off (`before`: `--conflate-after
//! never`) and on (`after`: the default), it measures over a window after a warm-up:
//!
//! - scalar samples kept by the slow viewer: distinct (series, `t`) with `t` in the window that it
//!   received (in the window or during a drain after it), as a share of the reference's;
//! - clouds per second it received, and their age on arrival (arrival minus the cloud's `t`, which
//!   the demo stamps with the wall clock), p50 and p99;
//! - `lagged` notices, frames reported in `conflated` notices, the link's bytes per second;
//! - the hub's CPU (user + system, from `/proc`) over the window.
//!
//! ```text
//! cargo bench --bench link_rate                       # spawns vizcast (release) per scenario
//! options: --rates 2,4,12,100 (MB/s)  --seconds 10  --modes before,after  --warmup 3  --drain 3
//! ```
//! Loopback only; every scenario is bounded in time. The viewers run on the same machine as the
//! hub: on a 2-core machine they compete with it for CPU, which the figures include.

#![allow(missing_docs, clippy::unwrap_used, clippy::print_stdout)]

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt as _;
use tokio::net::TcpSocket;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use vizcast_protocol::{Limits, Samples, Shape, Time, is_control, parse_frame};

#[path = "support/link.rs"]
mod link;
#[path = "support/process.rs"]
mod process;

use link::Link;
use process::{Spawned, cpu_seconds};

struct Options {
    rates: Vec<f64>,
    seconds: f64,
    warmup: f64,
    drain: f64,
    modes: Vec<Mode>,
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// `--conflate-after never`.
    Before,
    /// The default `--conflate-after`.
    After,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Self::Before => "before",
            Self::After => "after",
        }
    }
}

fn options() -> Options {
    let mut o = Options {
        rates: vec![2.0, 4.0, 12.0, 100.0],
        seconds: 10.0,
        warmup: 3.0,
        drain: 3.0,
        modes: vec![Mode::Before, Mode::After],
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--rates" => {
                o.rates = args
                    .next()
                    .unwrap()
                    .split(',')
                    .map(|r| r.parse().unwrap())
                    .collect();
            }
            "--seconds" => o.seconds = args.next().unwrap().parse().unwrap(),
            "--warmup" => o.warmup = args.next().unwrap().parse().unwrap(),
            "--drain" => o.drain = args.next().unwrap().parse().unwrap(),
            "--modes" => {
                o.modes = args
                    .next()
                    .unwrap()
                    .split(',')
                    .map(|m| match m {
                        "before" => Mode::Before,
                        "after" => Mode::After,
                        other => panic!("unknown mode {other:?}: before or after"),
                    })
                    .collect();
            }
            _ => {} // cargo passes --bench; ignore what is not ours
        }
    }
    o
}

async fn spawn(mode: Mode) -> Spawned {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_vizcast"));
    command
        .args(["--headless", "--demo", "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "error");
    if mode == Mode::Before {
        command.args(["--conflate-after", "never"]);
    }
    process::spawn(command).await
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Connects a viewer to the hub on `port` over a [`Link`] of `rate` bytes a second.
async fn viewer(port: u16, rate: Option<f64>, read: Arc<AtomicU64>) -> WebSocketStream<Link> {
    let socket = TcpSocket::new_v4().unwrap();
    if rate.is_some() {
        socket.set_recv_buffer_size(64 * 1024).unwrap();
    }
    let stream = socket
        .connect(([127, 0, 0, 1], port).into())
        .await
        .expect("viewer connects");
    let url = format!("ws://127.0.0.1:{port}/ws");
    let (ws, _) = tokio_tungstenite::client_async(url, Link::new(stream, rate, read))
        .await
        .expect("viewer upgrades");
    ws
}

/// The measured window, in Unix seconds.
#[derive(Clone, Copy)]
struct Window {
    from: f64,
    to: f64,
}

impl Window {
    fn holds(self, t: f64) -> bool {
        (self.from..self.to).contains(&t)
    }
}

/// What one viewer received.
#[derive(Default)]
struct Seen {
    /// Scalar samples with `t` in the window: (series, `t` in ms), whenever they arrived.
    samples: HashSet<(Arc<str>, i64)>,
    /// Ages on arrival (s) of the clouds that arrived in the window.
    cloud_ages: Vec<f64>,
    /// `lagged` notices that arrived in the window.
    lagged: u64,
    /// Frames reported by `conflated` notices that arrived in the window.
    conflated: u64,
    /// Frames the hub sent that did not parse (none expected).
    unparsed: u64,
    /// Series names, shared by the samples.
    names: HashSet<Arc<str>>,
}

impl Seen {
    fn take(&mut self, text: &str, window: Window, limits: &Limits) {
        let now = unix_now();
        if is_control(text) {
            if !window.holds(now) {
                return;
            }
            let value: serde_json::Value = serde_json::from_str(text).unwrap();
            match value["vizcast"].as_str() {
                Some("lagged") => self.lagged += 1,
                Some("conflated") => self.conflated += value["frames"].as_u64().unwrap_or(0),
                _ => {}
            }
            return;
        }
        let Ok(messages) = parse_frame(text, limits) else {
            self.unparsed += 1;
            return;
        };
        for message in &messages {
            if let (Some(Shape::Points(_)), Time::At(t)) = (&message.shape, &message.time)
                && window.holds(now)
            {
                self.cloud_ages.push(now - t);
            }
            for scalar in &message.scalars {
                let name = message.series_name(scalar);
                let name = match self.names.get(name.as_str()) {
                    Some(name) => name.clone(),
                    None => {
                        let name: Arc<str> = name.into();
                        self.names.insert(name.clone());
                        name
                    }
                };
                let mut add = |t: f64| {
                    if window.holds(t) {
                        self.samples
                            .insert((name.clone(), (t * 1000.0).round() as i64));
                    }
                };
                match (&scalar.samples, &message.time) {
                    (Samples::Columns(_), Time::Columns(ts)) => ts.iter().copied().for_each(add),
                    (Samples::One(_), Time::At(t)) => add(*t),
                    // Other fields of a columnar batch take its last time.
                    (Samples::One(_), Time::Columns(ts)) => {
                        if let Some(t) = ts.last() {
                            add(*t);
                        }
                    }
                    // No `t` (the receiver's clock): no identity to compare; the demo always has one.
                    _ => {}
                }
            }
        }
    }
}

/// Reads `ws` until `deadline`.
async fn watch(mut ws: WebSocketStream<Link>, window: Window, deadline: Instant) -> Seen {
    let limits = Limits::default();
    let mut seen = Seen::default();
    while let Ok(Some(message)) = tokio::time::timeout_at(deadline.into(), ws.next()).await {
        match message {
            Ok(Message::Text(text)) => seen.take(text.as_str(), window, &limits),
            Ok(_) => {}
            Err(err) => {
                eprintln!("a viewer's connection ended: {err}");
                break;
            }
        }
    }
    seen
}

struct Outcome {
    reference: Seen,
    slow: Seen,
    /// Bytes per second the slow viewer's link carried over the window.
    slow_link: f64,
    cpu: Option<f64>,
}

async fn scenario(o: &Options, mode: Mode, rate_mb: f64) -> Outcome {
    let hub = spawn(mode).await;
    let (reference_read, slow_read) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let reference = viewer(hub.port, None, reference_read).await;
    let slow = viewer(hub.port, Some(rate_mb * 1e6), slow_read.clone()).await;
    let (start, start_unix) = (Instant::now(), unix_now());
    let window = Window {
        from: start_unix + o.warmup,
        to: start_unix + o.warmup + o.seconds,
    };
    let window_start = start + Duration::from_secs_f64(o.warmup);
    let window_end = window_start + Duration::from_secs_f64(o.seconds);
    let deadline = window_end + Duration::from_secs_f64(o.drain);
    let reference = tokio::spawn(watch(reference, window, deadline));
    let slow = tokio::spawn(watch(slow, window, deadline));

    tokio::time::sleep_until(window_start.into()).await;
    let pid = hub.child.id();
    let (cpu_before, bytes_before) = (pid.and_then(cpu_seconds), slow_read.load(Ordering::Relaxed));
    tokio::time::sleep_until(window_end.into()).await;
    let (cpu_after, bytes_after) = (pid.and_then(cpu_seconds), slow_read.load(Ordering::Relaxed));
    let reference = reference.await.unwrap();
    let slow = slow.await.unwrap();
    drop(hub);
    Outcome {
        reference,
        slow,
        slow_link: (bytes_after - bytes_before) as f64 / o.seconds,
        cpu: cpu_after.zip(cpu_before).map(|(a, b)| a - b),
    }
}

/// The `p` quantile of `values` in milliseconds (nearest rank); "–" when there are none.
fn percentile_ms(values: &mut [f64], p: f64) -> String {
    if values.is_empty() {
        return "–".to_owned();
    }
    values.sort_unstable_by(f64::total_cmp);
    let index = ((values.len() as f64 - 1.0) * p).round() as usize;
    format!("{:.0}", values[index] * 1000.0)
}

fn main() {
    let o = options();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        println!(
            "\nvizcast --demo, a fresh hub per scenario: {} s warm-up, {} s measured, {} s drain",
            o.warmup, o.seconds, o.drain
        );
        println!(
            "| link | mode | scalar samples kept | clouds/s | cloud age p50 ms | p99 ms | lagged | conflated frames | link used | hub CPU | reference: samples, clouds/s, age p50 ms, lagged |"
        );
        println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
        for &rate in &o.rates {
            for &mode in &o.modes {
                let mut out = scenario(&o, mode, rate).await;
                let (reference, slow) = (&mut out.reference, &mut out.slow);
                let kept = slow.samples.intersection(&reference.samples).count();
                let extra = slow.samples.len() - kept;
                let produced = reference.samples.len();
                let share = 100.0 * kept as f64 / produced.max(1) as f64;
                let cpu = out
                    .cpu
                    .map_or("n/a".to_owned(), |c| format!("{:.0} %", 100.0 * c / o.seconds));
                println!(
                    "| {rate} MB/s | {} | {share:.1} % ({kept}){} | {:.1} | {} | {} | {} | {} | {:.1} MB/s | {cpu} | {produced}, {:.1}, {}, {} |",
                    mode.name(),
                    if extra > 0 { format!(" +{extra} not in the reference") } else { String::new() },
                    slow.cloud_ages.len() as f64 / o.seconds,
                    percentile_ms(&mut slow.cloud_ages, 0.5),
                    percentile_ms(&mut slow.cloud_ages, 0.99),
                    slow.lagged,
                    slow.conflated,
                    out.slow_link / 1e6,
                    reference.cloud_ages.len() as f64 / o.seconds,
                    percentile_ms(&mut reference.cloud_ages, 0.5),
                    reference.lagged,
                );
                if slow.unparsed + reference.unparsed > 0 {
                    println!(
                        "(frames that did not parse: slow {}, reference {})",
                        slow.unparsed, reference.unparsed
                    );
                }
            }
        }
    });
}
