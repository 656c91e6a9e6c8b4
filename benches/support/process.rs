//! Starting a server for a benchmark and reading its CPU time. Shared by the benchmarks that spawn
//! one (included with `#[path]`).

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, BufReader};

/// A server process a benchmark started (killed on drop).
pub struct Spawned {
    /// The process.
    pub child: tokio::process::Child,
    /// The port it listens on.
    pub port: u16,
}

/// Starts `command` and waits (at most 20 s) for the line that says `listening on [http://]HOST:PORT`.
pub async fn spawn(mut command: tokio::process::Command) -> Spawned {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("the server starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let port = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(addr) = line.split("listening on ").nth(1) {
                let addr = addr.trim().trim_start_matches("http://");
                return addr.rsplit(':').next().unwrap().parse::<u16>().unwrap();
            }
        }
        panic!("the server exited before listening");
    })
    .await
    .expect("the server listens within 20 s");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Spawned { child, port }
}

/// CPU seconds (user + system) a process has used, from /proc.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}
