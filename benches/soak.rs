//! The soak: `vizcast --headless --demo --record FILE` (release) for `--minutes` (60 by default)
//! with everything a busy session has, sampled every 10 s.
//!
//! - **10 churning viewers** on `/ws`, each in a loop: connect, read for 1–4 s, stop reading for
//!   0–3 s (the hub's socket to it fills), read for 1 s more, close.
//! - **1 slow viewer** on a 4 MB/s link (a token bucket on its socket, `support/link.rs`), which
//!   checks that it keeps every `demo/signal` sample: each batch starts a millisecond after the
//!   previous one ends, and it is never lagged.
//! - **1 Foxglove client** on `/foxglove` (`foxglove.websocket.v1`), subscribed to every channel.
//! - Recording on, to a temporary directory (deleted at the end; the demo writes about 19 MB/s,
//!   70 GB an hour). So that an hour fits a smaller disk, the soak frees the recording's written
//!   past every 10 s (`fallocate --punch-hole` on all but its last 512 MiB): the server's writes
//!   are unchanged and the file keeps its length, but its start reads as zeros afterwards.
//!
//! Every 10 s: the server's resident memory, file descriptors and threads (from /proc), its live
//! log (frames, bytes), history bytes, viewers, the recording's size and frames not recorded,
//! and what the clients saw. `--csv FILE` writes the samples for a plot.
//!
//! `cargo bench --no-default-features --bench soak -- --minutes 60 --csv soak.csv`

#![allow(missing_docs, clippy::unwrap_used, clippy::print_stdout)]

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

#[path = "support/link.rs"]
mod link;
#[path = "support/process.rs"]
mod process;

/// What the clients saw, shared with the sampler.
#[derive(Default)]
struct Seen {
    churn_sessions: AtomicU64,
    churn_errors: AtomicU64,
    slow_batches: AtomicU64,
    slow_gaps: AtomicU64,
    slow_lagged: AtomicU64,
    slow_conflated_clouds: AtomicU64,
    foxglove_messages: AtomicU64,
    foxglove_errors: AtomicU64,
}

fn proc_status(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next().and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count)
}

/// A small deterministic generator for the churners' timings.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

async fn churner(port: u16, id: u64, stop: Arc<AtomicBool>, seen: Arc<Seen>) {
    let mut rng = 0x9e37_79b9_7f4a_7c15_u64 ^ (id + 1);
    while !stop.load(Ordering::Relaxed) {
        let url = format!("ws://127.0.0.1:{port}/ws");
        let Ok((mut socket, _)) = tokio_tungstenite::connect_async(url).await else {
            seen.churn_errors.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        let read_for = |ms: u64| tokio::time::Instant::now() + Duration::from_millis(ms);
        let mut ok = true;
        for (read_ms, stall_ms) in [
            (1000 + next(&mut rng) % 3000, next(&mut rng) % 3000),
            (1000, 0),
        ] {
            let until = read_for(read_ms);
            while tokio::time::Instant::now() < until {
                match tokio::time::timeout_at(until, socket.next()).await {
                    Ok(Some(Ok(_))) | Err(_) => {}
                    Ok(_) => {
                        ok = false;
                        break;
                    }
                }
            }
            if !ok {
                break;
            }
            tokio::time::sleep(Duration::from_millis(stall_ms)).await;
        }
        if !ok {
            seen.churn_errors.fetch_add(1, Ordering::Relaxed);
        }
        let _ = socket.close(None).await;
        seen.churn_sessions.fetch_add(1, Ordering::Relaxed);
    }
}

async fn slow_viewer(port: u16, stop: Arc<AtomicBool>, seen: Arc<Seen>) {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let link = link::Link::new(tcp, Some(4e6), Arc::new(AtomicU64::new(0)));
    let request = format!("ws://127.0.0.1:{port}/ws")
        .into_client_request()
        .unwrap();
    let (mut socket, _) = tokio_tungstenite::client_async(request, link)
        .await
        .unwrap();
    let mut last_ms: Option<i64> = None;
    while !stop.load(Ordering::Relaxed) {
        let Ok(Some(Ok(Message::Text(text)))) =
            tokio::time::timeout(Duration::from_secs(1), socket.next()).await
        else {
            continue;
        };
        if text.starts_with(r#"{"vizcast""#) {
            let control: Value = serde_json::from_str(&text).unwrap();
            match control["vizcast"].as_str().unwrap_or("") {
                "lagged" => {
                    seen.slow_lagged.fetch_add(1, Ordering::Relaxed);
                }
                "conflated" => {
                    let clouds = control["streams"]["demo/cloud"].as_u64().unwrap_or(0);
                    seen.slow_conflated_clouds
                        .fetch_add(clouds, Ordering::Relaxed);
                }
                _ => {}
            }
            continue;
        }
        if !text.starts_with(r#"[{"stream":"demo/signal/sine""#) {
            continue;
        }
        let batch: Value = serde_json::from_str(&text).unwrap();
        let times = batch[0]["t"].as_array().unwrap();
        let ms = |t: &Value| (t.as_f64().unwrap() * 1000.0).round() as i64;
        let (first, last) = (ms(&times[0]), ms(times.last().unwrap()));
        if last_ms.is_some_and(|l| first != l + 1) {
            seen.slow_gaps.fetch_add(1, Ordering::Relaxed);
        }
        last_ms = Some(last);
        seen.slow_batches.fetch_add(1, Ordering::Relaxed);
    }
}

async fn foxglove_client(port: u16, stop: Arc<AtomicBool>, seen: Arc<Seen>) {
    let mut request = format!("ws://127.0.0.1:{port}/foxglove")
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "foxglove.websocket.v1".parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let mut next_id = 0u64;
    while !stop.load(Ordering::Relaxed) {
        match tokio::time::timeout(Duration::from_secs(1), socket.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => {
                let message: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                if message["op"] == "advertise" {
                    let subscriptions: Vec<Value> = message["channels"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|c| {
                            next_id += 1;
                            serde_json::json!({"id": next_id, "channelId": c["id"]})
                        })
                        .collect();
                    let request =
                        serde_json::json!({"op": "subscribe", "subscriptions": subscriptions});
                    let _ = socket.send(Message::text(request.to_string())).await;
                }
            }
            Ok(Some(Ok(Message::Binary(_)))) => {
                seen.foxglove_messages.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Some(Ok(_))) | Err(_) => {}
            Ok(_) => {
                seen.foxglove_errors.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
    }
}

/// The server's `/api/stats`, or null when it does not answer.
async fn stats(port: u16) -> Value {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return Value::Null;
    };
    let request = "GET /api/stats HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if stream.write_all(request.as_bytes()).await.is_err() {
        return Value::Null;
    }
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let response = String::from_utf8_lossy(&response);
    response
        .split_once("\r\n\r\n")
        .and_then(|(_, body)| serde_json::from_str(body).ok())
        .unwrap_or(Value::Null)
}

/// Frees the disk blocks of the recording's written past, all but its last 512 MiB, and returns
/// how far it is freed. The recorder only appends, so it never reads or rewrites that part.
fn punch_written_past(file: &std::path::Path, punched: u64) -> u64 {
    const KEEP: u64 = 512 << 20;
    let len = std::fs::metadata(file).map_or(0, |m| m.len());
    let until = len.saturating_sub(KEEP) & !0xfff;
    if until <= punched {
        return punched;
    }
    let status = std::process::Command::new("fallocate")
        .args(["--punch-hole", "--offset", &punched.to_string()])
        .args(["--length", &(until - punched).to_string()])
        .arg(file)
        .status();
    match status {
        Ok(s) if s.success() => until,
        _ => {
            eprintln!("fallocate --punch-hole failed; the recording keeps its disk");
            punched
        }
    }
}

fn main() {
    let mut minutes = 60.0;
    let mut csv: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--minutes" => minutes = args.next().unwrap().parse().unwrap(),
            "--csv" => csv = args.next(),
            _ => {}
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("vizcast-soak-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("soak.mcap");
    runtime.block_on(async {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_vizcast"));
        command.args(["--headless", "--demo", "--listen", "127.0.0.1:0", "--record"]);
        command.arg(&file);
        let server = process::spawn(command).await;
        let (pid, port) = (server.child.id().unwrap(), server.port);
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Seen::default());
        let mut tasks = Vec::new();
        for id in 0..10 {
            tasks.push(tokio::spawn(churner(port, id, stop.clone(), seen.clone())));
        }
        tasks.push(tokio::spawn(slow_viewer(port, stop.clone(), seen.clone())));
        tasks.push(tokio::spawn(foxglove_client(port, stop.clone(), seen.clone())));
        let mut out = csv.as_ref().map(|path| std::fs::File::create(path).unwrap());
        let header = "minute,rss_mib,fds,threads,log_frames,log_mib,history_mib,viewers,recorded_mib,unrecorded_frames,churn_sessions,churn_errors,slow_batches,slow_gaps,slow_lagged,foxglove_messages";
        if let Some(out) = &mut out {
            writeln!(out, "{header}").unwrap();
        }
        println!("| minute | RSS MiB | fds | threads | log frames | log MiB | history MiB | viewers | recorded MiB | not recorded | churned | slow: batches, gaps, lagged | Foxglove msgs |");
        println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        let started = Instant::now();
        let mut rss_after_warmup: Vec<u64> = Vec::new();
        let mut punched = 0_u64;
        let cpu0 = process::cpu_seconds(pid).unwrap_or(0.0);
        while started.elapsed().as_secs_f64() < minutes * 60.0 {
            tokio::time::sleep(Duration::from_secs(10)).await;
            let s = stats(port).await;
            punched = punch_written_past(&file, punched);
            let minute = started.elapsed().as_secs_f64() / 60.0;
            let rss = proc_status(pid, "VmRSS:") / 1024;
            if minute > 2.0 {
                rss_after_warmup.push(rss);
            }
            let row = [
                format!("{minute:.2}"),
                rss.to_string(),
                fds(pid).to_string(),
                proc_status(pid, "Threads:").to_string(),
                s["live_log"]["frames"].to_string(),
                format!("{:.1}", s["live_log"]["bytes"].as_f64().unwrap_or(0.0) / 1048576.0),
                format!("{:.1}", s["history"]["bytes"].as_f64().unwrap_or(0.0) / 1048576.0),
                s["viewers"].as_array().map_or(0, Vec::len).to_string(),
                format!("{:.0}", s["recording"]["bytes"].as_f64().unwrap_or(0.0) / 1048576.0),
                s["recording"]["unrecorded_frames"].to_string(),
                seen.churn_sessions.load(Ordering::Relaxed).to_string(),
                seen.churn_errors.load(Ordering::Relaxed).to_string(),
                seen.slow_batches.load(Ordering::Relaxed).to_string(),
                seen.slow_gaps.load(Ordering::Relaxed).to_string(),
                seen.slow_lagged.load(Ordering::Relaxed).to_string(),
                seen.foxglove_messages.load(Ordering::Relaxed).to_string(),
            ];
            if let Some(out) = &mut out {
                writeln!(out, "{}", row.join(",")).unwrap();
            }
            println!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} ({} errors) | {}, {}, {} | {} |",
                row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8], row[9],
                row[10], row[11], row[12], row[13], row[14], row[15]
            );
        }
        let cpu = process::cpu_seconds(pid).unwrap_or(0.0) - cpu0;
        stop.store(true, Ordering::Relaxed);
        for task in tasks {
            let _ = task.await;
        }
        let (low, high) = rss_after_warmup
            .iter()
            .fold((u64::MAX, 0), |(l, h), &r| (l.min(r), h.max(r)));
        println!(
            "after the first 2 minutes RSS stayed between {low} and {high} MiB; vizcast used {:.0} % of a core; slow viewer: {} gaps in demo/signal, lagged {} times, {} superseded clouds skipped; Foxglove client: {} messages, {} errors",
            cpu / started.elapsed().as_secs_f64() * 100.0,
            seen.slow_gaps.load(Ordering::Relaxed),
            seen.slow_lagged.load(Ordering::Relaxed),
            seen.slow_conflated_clouds.load(Ordering::Relaxed),
            seen.foxglove_messages.load(Ordering::Relaxed),
            seen.foxglove_errors.load(Ordering::Relaxed),
        );
        drop(server);
    });
    let _ = std::fs::remove_dir_all(&dir);
}
