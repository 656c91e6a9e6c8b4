//! Recording to MCAP and replaying, through the binary.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use vizcast_protocol::{Limits, Time, parse_frame};

use crate::support::{Event, PATIENCE, Viewer, Vizcast, frames_of_every_kind};

/// Records `frames` (sent with `gap` between them) to `path`, then stops vizcast cleanly.
async fn record(path: &Path, frames: &[String], gap: Duration) {
    let mut vizcast = Vizcast::start(&["--record", path.to_str().unwrap()]).await;
    let mut producer = vizcast.producer().await;
    for frame in frames {
        producer.send(frame).await;
        if !gap.is_zero() {
            tokio::time::sleep(gap).await;
        }
    }
    vizcast
        .wait_for_stats("all frames accepted", |s| {
            s["ingest"]["frames"] == frames.len()
        })
        .await;
    assert!(
        vizcast.stop().await,
        "vizcast exits cleanly after recording"
    );
    assert!(vizcast.stderr.lock().contains("recording finished"));
}

/// Every message of an MCAP file: (topic, payload, log time, publish time, sequence).
fn read_mcap(path: &Path) -> Vec<(String, String, u64, u64, u32)> {
    let bytes = std::fs::read(path).unwrap();
    mcap::MessageStream::new(&bytes)
        .unwrap()
        .map(|m| {
            let m = m.unwrap();
            (
                m.channel.topic.clone(),
                String::from_utf8(m.data.to_vec()).unwrap(),
                m.log_time,
                m.publish_time,
                m.sequence,
            )
        })
        .collect()
}

/// The messages of `frames` as the recorder writes them: (topic, the producer's bytes, `t`).
fn messages_of(frames: &[String]) -> Vec<(String, String, Option<f64>)> {
    let mut messages = Vec::new();
    for frame in frames {
        for message in parse_frame(frame, &Limits::default()).unwrap() {
            let t = match &message.time {
                Time::At(t) => Some(*t),
                Time::Columns(ts) => ts.first().copied(),
                Time::Receive => None,
            };
            messages.push((
                message.stream.to_string(),
                frame[message.span.clone()].to_owned(),
                t,
            ));
        }
    }
    messages
}

/// Every frame kind, and a batch across streams.
fn every_kind_and_a_batch() -> Vec<String> {
    let mut sent = frames_of_every_kind();
    sent.push(r#"[{"stream":"b/1","t":5.5,"value":1},{"stream":"b/2","text":"x"}]"#.to_owned());
    sent
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_holds_every_message_byte_for_byte_on_its_streams_channel() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("session.mcap");
    let sent = every_kind_and_a_batch();
    record(&path, &sent, Duration::ZERO).await;

    let recorded = read_mcap(&path);
    let expected = messages_of(&sent);
    assert_eq!(recorded.len(), expected.len());
    let mut last_log_time = 0;
    for ((topic, data, log_time, publish_time, _), (stream, bytes, t)) in
        recorded.iter().zip(&expected)
    {
        assert_eq!(topic, stream);
        assert_eq!(data, bytes, "the payload is the producer's bytes");
        assert!(*log_time >= last_log_time, "in order");
        last_log_time = *log_time;
        match t {
            Some(t) if *t > 0.0 => assert_eq!(
                *publish_time,
                (t * 1e9) as u64,
                "publish time is the message's t"
            ),
            _ => assert_eq!(
                publish_time, log_time,
                "without t, publish time is the receive time"
            ),
        }
    }
    // The messages of one frame share its sequence number.
    let batch = &recorded[recorded.len() - 2..];
    assert_eq!(batch[0].4, batch[1].4);
    assert_ne!(recorded[0].4, recorded[1].4);
    // A finished recording has its summary and index.
    let bytes = std::fs::read(&path).unwrap();
    let summary = mcap::Summary::read(&bytes).unwrap().expect("a summary");
    assert_eq!(summary.stats.unwrap().message_count, expected.len() as u64);
    assert!(!summary.chunk_indexes.is_empty());
    // JSON messages without a schema, on every channel (see `vizcast_record::apps`).
    assert!(summary.schemas.is_empty(), "{:?}", summary.schemas);
    assert!(
        summary
            .channels
            .values()
            .all(|c| c.message_encoding == "json" && c.schema.is_none())
    );
}

/// Checks every channel of the finished recording at `path` as Lichtblick and Foxglove parse it
/// (`vizcast_record::apps::check_channel`); returns the channels' topics and `vizcast.kind`s.
fn check_channels_open_in_the_apps(path: &Path) -> (BTreeSet<String>, BTreeSet<String>) {
    let bytes = std::fs::read(path).unwrap();
    let summary = mcap::Summary::read(&bytes).unwrap().expect("a summary");
    assert!(!summary.channels.is_empty());
    let (mut topics, mut kinds) = (BTreeSet::new(), BTreeSet::new());
    for channel in summary.channels.values() {
        let schema = channel
            .schema
            .as_deref()
            .map(|s| (s.encoding.as_str(), &*s.data));
        if let Err(problem) = vizcast_record::apps::check_channel(&channel.message_encoding, schema)
        {
            panic!(
                "channel {:?} would fail in Lichtblick and Foxglove: {problem}",
                channel.topic
            );
        }
        topics.insert(channel.topic.clone());
        kinds.insert(channel.metadata["vizcast.kind"].clone());
    }
    (topics, kinds)
}

/// The `vizcast` metadata record of the recording at `path`.
fn vizcast_metadata(path: &Path) -> std::collections::BTreeMap<String, String> {
    metadata_record(path, "vizcast").expect("a vizcast metadata record")
}

/// The metadata record `name` of the recording at `path`, if it has one.
pub fn metadata_record(
    path: &Path,
    name: &str,
) -> Option<std::collections::BTreeMap<String, String>> {
    let bytes = std::fs::read(path).unwrap();
    let summary = mcap::Summary::read(&bytes).unwrap().expect("a summary");
    let index = summary.metadata_indexes.iter().find(|m| m.name == name)?;
    Some(mcap::read::metadata(&bytes, index).unwrap().metadata)
}

/// Reads the recording at `path` with the Python `mcap` package and CRC checks
/// (`tests/interop/read_mcap.py`, which installs the package into the target directory when
/// missing): every message JSON of its channel's stream, no schema, and with `expected`, exactly
/// those (topic, payload) in order. Returns what the script printed.
fn read_with_python(path: &Path, expected: Option<&[(String, String)]>) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut command = std::process::Command::new("python3");
    command
        .arg(root.join("tests/interop/read_mcap.py"))
        .arg(path)
        .arg("--deps")
        .arg(Path::new(env!("CARGO_TARGET_TMPDIR")).join("python-mcap"));
    if let Some(expected) = expected {
        let file = path.with_extension("expected.jsonl");
        let lines: String = expected
            .iter()
            .map(|(topic, payload)| {
                format!(
                    "{}\n",
                    serde_json::json!({ "topic": topic, "payload": payload })
                )
            })
            .collect();
        std::fs::write(&file, lines).unwrap();
        command.arg("--expect").arg(file);
    }
    let output = command
        .output()
        .expect("python3 runs (it reads recordings with the Python mcap package)");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "the Python mcap reader refused {}:\n{stdout}{}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_independent_reader_finds_the_producers_bytes_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("interop.mcap");
    let sent = every_kind_and_a_batch();
    record(&path, &sent, Duration::ZERO).await;
    let expected: Vec<(String, String)> = messages_of(&sent)
        .into_iter()
        .map(|(topic, payload, _)| (topic, payload))
        .collect();
    let printed = read_with_python(&path, Some(&expected));
    assert!(
        printed.contains(&format!("read {} messages", expected.len())),
        "{printed}"
    );
    assert!(
        printed.contains(&format!(
            "message_schema={}",
            vizcast_record::MESSAGE_SCHEMA_ID
        )),
        "{printed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_of_the_demo_opens_in_lichtblick_and_foxglove_channel_by_channel() {
    // The checker is not vacuous: the schema channels used to carry fails it.
    assert!(
        vizcast_record::apps::check_channel(
            "json",
            Some(("jsonschema", vizcast_record::MESSAGE_SCHEMA.as_bytes()))
        )
        .is_err()
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("demo.mcap");
    let mut vizcast = Vizcast::start(&["--demo", "--record", path.to_str().unwrap()]).await;
    // The demo's message streams (the recording's topics)...
    let wanted = [
        "demo/signal/sine",
        "demo/signal/noise",
        "demo/control",
        "demo/imu",
        "demo/robot",
        "demo/cloud",
        "demo/trajectory",
        "demo/events",
        "demo/camera",
        "demo/heatmap",
    ];
    // ...and the hub's name for one series of each (`values` and other fields are flattened).
    let series = |stream: &str| match stream {
        "demo/control" => "demo/control/setpoint".to_owned(),
        "demo/imu" => "demo/imu/ax".to_owned(),
        "demo/robot" => "demo/robot/temperature".to_owned(),
        other => other.to_owned(),
    };
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (_, streams) = vizcast.get("/api/streams", &[]).await;
        let streams: serde_json::Value = serde_json::from_str(&streams).unwrap();
        let names: BTreeSet<String> = streams
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s["name"].as_str().map(str::to_owned))
            .collect();
        if wanted.iter().all(|w| names.contains(&series(w))) {
            break;
        }
        assert!(Instant::now() < deadline, "the demo streams only {names:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        vizcast.stop().await,
        "vizcast exits cleanly after recording"
    );
    assert!(vizcast.stderr.lock().contains("recording finished"));

    let (topics, kinds) = check_channels_open_in_the_apps(&path);
    for topic in wanted {
        assert!(topics.contains(topic), "{topic} recorded: {topics:?}");
    }
    assert_eq!(
        kinds,
        BTreeSet::from(["image", "line", "points", "scalar", "text"].map(str::to_owned)),
        "every kind the demo sends"
    );
    // The protocol's schema is named in the file's metadata instead.
    assert_eq!(
        vizcast_metadata(&path)["message_schema"],
        vizcast_record::MESSAGE_SCHEMA_ID
    );
    let printed = read_with_python(&path, None);
    assert!(printed.starts_with("read "), "{printed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_see_that_vizcast_is_recording() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("status.mcap");
    let vizcast = Vizcast::start(&["--record", path.to_str().unwrap()]).await;
    let mut viewer = Viewer::connect(&vizcast.ws_url("/ws"), &[]).await.unwrap();
    viewer.control("hello").await;
    let status = viewer.control("status").await;
    assert!(
        status["recording"]["file"]
            .as_str()
            .unwrap()
            .ends_with("status.mcap"),
        "{status}"
    );
    assert_eq!(status["recording"]["unrecorded_frames"], 0);
    let stats = vizcast.stats().await;
    assert!(
        stats["recording"]["file"]
            .as_str()
            .unwrap()
            .ends_with("status.mcap")
    );
}

/// Replays `file` with `--loop` and `extra` options; collects `frames` frames of one pass (from a
/// loop's `reset` snapshot on) with each frame's arrival time.
async fn one_pass(file: &Path, extra: &[&str], frames: usize) -> Vec<(Instant, String)> {
    pass_until(file, extra, |pass| pass.len() >= frames).await
}

/// Like [`one_pass`], collecting until `done(frames so far)`.
async fn pass_until(
    file: &Path,
    extra: &[&str],
    done: impl Fn(&[(Instant, String)]) -> bool,
) -> Vec<(Instant, String)> {
    let mut args = vec!["replay", file.to_str().unwrap(), "--loop"];
    args.extend_from_slice(extra);
    let vizcast = Vizcast::start(&args).await;
    let mut viewer = Viewer::connect(&vizcast.ws_url("/ws"), &[]).await.unwrap();
    // Wait for the start of a pass.
    loop {
        let text = viewer.text().await;
        if text.starts_with(r#"{"vizcast":"snapshot_begin","reason":"reset""#) {
            break;
        }
    }
    let mut pass = Vec::new();
    while !done(&pass) {
        let text = viewer.text().await;
        if !vizcast_protocol::is_control(&text) {
            pass.push((Instant::now(), text));
        }
    }
    pass
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_keeps_the_recorded_timing_sends_the_same_bytes_and_loops() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("timed.mcap");
    let mut sent: Vec<String> = (0..10)
        .map(|i| format!(r#"{{"stream":"tick","value":{i}}}"#))
        .collect();
    sent.push(r#"[{"stream":"tick","value":10},{"stream":"tock","text":"batch"}]"#.to_owned());
    record(&path, &sent, Duration::from_millis(100)).await;

    let real_time = one_pass(&path, &[], sent.len()).await;
    let texts: Vec<&String> = real_time.iter().map(|(_, t)| t).collect();
    assert_eq!(
        texts,
        sent.iter().collect::<Vec<_>>(),
        "a replay sends what the producer sent, in order"
    );
    let span = |pass: &[(Instant, String)]| pass.last().unwrap().0 - pass[0].0;
    let one_x = span(&real_time);
    assert!(
        one_x >= Duration::from_millis(900),
        "1×: 1 s of recording took {one_x:?}"
    );

    let ten_x = span(&one_pass(&path, &["--speed", "10"], sent.len()).await);
    println!("one pass of 1 s: {one_x:?} at 1×, {ten_x:?} at 10×");
    assert!(
        ten_x * 4 < one_x,
        "10× should be about ten times denser: {one_x:?} vs {ten_x:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeking_restores_the_state_at_the_target_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seek.mcap");
    // 3 s: a cloud at the start, an event, a scalar every 100 ms, another cloud at 1.5 s.
    let mut frames = Vec::new();
    for i in 0..30 {
        if i == 0 {
            frames.push(r#"{"stream":"cloud","points":[[0,0,0]]}"#.to_owned());
        }
        if i == 5 {
            frames.push(r#"{"stream":"log","text":"half a second in"}"#.to_owned());
        }
        if i == 15 {
            frames.push(r#"{"stream":"cloud","points":[[1,1,1]]}"#.to_owned());
        }
        frames.push(format!(r#"{{"stream":"x","value":{i}}}"#));
    }
    let mut vizcast = Vizcast::start(&["--record", path.to_str().unwrap()]).await;
    let mut producer = vizcast.producer().await;
    for frame in &frames {
        producer.send(frame).await;
        if frame.starts_with(r#"{"stream":"x""#) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    vizcast
        .wait_for_stats("recorded", |s| s["ingest"]["frames"] == frames.len())
        .await;
    assert!(vizcast.stop().await);

    // Start 2.5 s in; each loop restarts there and restores the state.
    let pass = pass_until(&path, &["--start", "2.5"], |pass| {
        pass.iter().any(|(_, t)| t.ends_with(r#""value":29}"#))
    })
    .await;
    let texts: Vec<&str> = pass.iter().map(|(_, t)| t.as_str()).collect();
    assert!(
        texts.contains(&r#"{"stream":"cloud","points":[[1,1,1]]}"#),
        "the latest cloud: {texts:?}"
    );
    assert!(
        !texts.contains(&r#"{"stream":"cloud","points":[[0,0,0]]}"#),
        "not the superseded one: {texts:?}"
    );
    assert!(
        texts.contains(&r#"{"stream":"log","text":"half a second in"}"#),
        "the event: {texts:?}"
    );
    let xs: Vec<u32> = texts
        .iter()
        .filter_map(|t| {
            t.strip_prefix(r#"{"stream":"x","value":"#)
                .and_then(|r| r.trim_end_matches('}').parse().ok())
        })
        .collect();
    assert!(
        xs.first().is_some_and(|x| *x <= 24),
        "recent history before the target: {xs:?}"
    );
}

/// Runs `vizcast recover FILE --output OUT`, which must succeed; returns its output.
fn recover(file: &Path, out: &Path) -> std::process::Output {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_vizcast"))
        .args([
            "recover",
            file.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_killed_with_sigkill_replays_up_to_its_last_chunk_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("killed.mcap");
    let mut vizcast = Vizcast::start(&["--record", path.to_str().unwrap()]).await;
    let mut producer = vizcast.producer().await;
    let mut sent = 0;
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(1500) {
        producer
            .send(&format!(r#"{{"stream":"k","value":{sent}}}"#))
            .await;
        sent += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    vizcast
        .wait_for_stats("accepted", |s| s["ingest"]["frames"] == sent)
        .await;
    let pid = vizcast.child.id().unwrap();
    std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    vizcast.child.wait().await.unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert!(
        mcap::Summary::read(&bytes)
            .map(|s| s.is_none())
            .unwrap_or(true),
        "a killed recording has no summary"
    );

    // It replays up to its last complete chunk.
    let replay = Vizcast::start(&["replay", path.to_str().unwrap(), "--speed", "max"]).await;
    replay.wait_for_log("cut short").await;
    let replayed = replay
        .wait_for_stats("the replay ended", |s| s["replay"]["state"] == "ended")
        .await;
    let frames = replayed["ingest"]["frames"].as_u64().unwrap();
    assert!(frames > 0 && frames <= sent, "{frames} of {sent} frames");
    assert!(
        frames as f64 >= sent as f64 * 0.3,
        "flushed at least every 250 ms: {frames} of {sent}"
    );

    // And `vizcast recover` rewrites it whole, with an index.
    let fixed = dir.path().join("fixed.mcap");
    let output = recover(&path, &fixed);
    assert!(
        String::from_utf8_lossy(&output.stdout).contains(&format!("recovered {frames} messages"))
    );
    let summary = mcap::Summary::read(&std::fs::read(&fixed).unwrap())
        .unwrap()
        .expect("an index");
    assert_eq!(summary.stats.unwrap().message_count, frames);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_files_give_a_clear_error_and_no_panic() {
    let dir = tempfile::tempdir().unwrap();
    let replay_error = |name: &str, content: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_vizcast"))
            .args([
                "replay",
                path.to_str().unwrap(),
                "--headless",
                "--listen",
                "127.0.0.1:0",
            ])
            .output()
            .unwrap();
        assert!(!output.status.success(), "{name} should be refused");
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(!stderr.contains("panicked"), "{stderr}");
        stderr
    };
    assert!(replay_error("noise.mcap", &[7u8; 300]).contains("not a recording"));
    assert!(replay_error("cut.mcap", b"\x89MCA").contains("the MCAP header is cut short"));
    assert!(replay_error("empty.mcap", b"").contains("not a recording"));

    // A recording with a damaged chunk: nothing panics, and the damage is reported, either as a
    // chunk that cannot be read (the replay stops there) or as frames that fail validation.
    let path = dir.path().join("damaged.mcap");
    let frames: Vec<String> = (0..3000)
        .map(|i| {
            format!(
                r#"{{"stream":"d","value":{i},"pad":"{}"}}"#,
                "z".repeat(200)
            )
        })
        .collect();
    record(&path, &frames, Duration::ZERO).await;
    let mut bytes = std::fs::read(&path).unwrap();
    // The middle of the largest chunk's compressed records (not of the file, where the layout
    // decides what is hit: a message index, which replay does not read, is as likely).
    let summary = mcap::Summary::read(&bytes).unwrap().expect("a summary");
    let chunk = summary
        .chunk_indexes
        .iter()
        .max_by_key(|c| c.compressed_size)
        .unwrap();
    assert!(chunk.compressed_size > 1024, "{chunk:?}");
    let middle = usize::try_from(chunk.chunk_start_offset + chunk.chunk_length / 2).unwrap();
    for b in &mut bytes[middle..middle + 64] {
        *b ^= 0x5a;
    }
    std::fs::write(&path, &bytes).unwrap();
    let mut replay = Vizcast::start(&["replay", path.to_str().unwrap(), "--speed", "max"]).await;
    let log = replay.wait_for_log("replay").await;
    let deadline = Instant::now() + PATIENCE;
    while !replay.stderr.lock().contains("replay stops early")
        && !replay.stderr.lock().contains("replay ended")
    {
        assert!(Instant::now() < deadline, "{log}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(replay.stop().await);
    let log = replay.stderr.lock().clone();
    assert!(!log.contains("panicked"), "{log}");
    assert!(
        log.contains("replay stops early") || log.contains("were refused"),
        "the damage is reported: {log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exported_json_lines_file_replays_the_same_frames() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("session.mcap");
    let jsonl = dir.path().join("session.jsonl");
    let sent: Vec<String> = frames_of_every_kind()
        .into_iter()
        .filter(|f| !f.contains('\n'))
        .collect();
    record(&path, &sent, Duration::from_millis(5)).await;
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_vizcast"))
        .args([
            "export",
            path.to_str().unwrap(),
            "--jsonl",
            jsonl.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(output.status.success());
    assert_eq!(
        std::fs::read_to_string(&jsonl).unwrap().lines().count(),
        sent.len()
    );
    let pass = one_pass(&jsonl, &["--speed", "max"], sent.len()).await;
    let texts: Vec<String> = pass.into_iter().map(|(_, t)| t).collect();
    assert_eq!(texts, sent);
    // The viewer is told the replay's state.
    let replaying = Vizcast::start(&["replay", jsonl.to_str().unwrap()]).await;
    let mut viewer = Viewer::connect(&replaying.ws_url("/ws"), &[])
        .await
        .unwrap();
    let status = loop {
        match viewer.next().await {
            Event::Text(text) if text.starts_with(r#"{"vizcast":"status""#) => break text,
            Event::Text(_) => {}
            other => panic!("{other:?}"),
        }
    };
    assert!(status.contains(r#""replay":{"#), "{status}");
}

/// A disk that fills while recording (`RLIMIT_FSIZE` stands for it, with SIGXFSZ ignored so that
/// the write fails with EFBIG, as on a full disk; no root needed): the recording stops loudly,
/// viewers stay live, and the count is true: every frame accepted is either in the file or
/// counted as not recorded, the frames of the chunk the failure cut included, and the count
/// keeps growing in the status while frames keep coming.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_stops_the_recording_loudly_and_counts_every_frame_not_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("full.mcap");
    let vizcast = Vizcast::start_under(
        r#"trap '' XFSZ; ulimit -f 1024; exec "$@""#,
        &["--record", path.to_str().unwrap()],
    )
    .await;
    // A viewer: hello, the recording's status, the join snapshot.
    let mut viewer = Viewer::connect(&vizcast.ws_url("/ws"), &[]).await.unwrap();
    while !viewer
        .text()
        .await
        .starts_with(r#"{"vizcast":"snapshot_end""#)
    {}
    let mut producer = vizcast.producer().await;
    // About 1.5 KB a frame that zstd cannot shrink much: the 1 MiB file fills within 1,000.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut noise = || {
        (0..1500)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                char::from(b'a' + (state % 26) as u8)
            })
            .collect::<String>()
    };
    let mut sent = 0;
    while vizcast.stats().await["recording"]["error"].is_null() {
        let frames: Vec<String> = (0..100)
            .map(|_| {
                sent += 1;
                format!(r#"{{"stream":"k","value":{sent},"noise":"{}"}}"#, noise())
            })
            .collect();
        producer.send_all(&frames).await;
        assert!(
            sent < 20_000,
            "the file never filled: {:#}",
            vizcast.stats().await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    vizcast.wait_for_log("recording stopped").await;
    // Frames keep coming after the failure: each is counted, and viewers get them all.
    let after: Vec<String> = (0..300)
        .map(|i| format!(r#"{{"stream":"after","value":{i}}}"#))
        .collect();
    producer.send_all(&after).await;
    sent += after.len();
    let mut seen = 0;
    while seen < after.len() {
        let frame = viewer.text().await;
        if frame.starts_with(r#"{"stream":"after""#) {
            assert_eq!(frame, after[seen]);
            seen += 1;
        }
    }
    let stats = vizcast
        .wait_for_stats("every frame accounted for", |s| {
            let recording = &s["recording"];
            s["ingest"]["frames"] == sent
                && recording["messages"].as_u64().unwrap_or(0)
                    + recording["unrecorded_frames"].as_u64().unwrap_or(0)
                    == sent as u64
        })
        .await;
    let written = stats["recording"]["messages"].as_u64().unwrap();
    let unrecorded = stats["recording"]["unrecorded_frames"].as_u64().unwrap();
    assert!(
        unrecorded > after.len() as u64,
        "the frames after the failure and those of the cut chunk: {stats:#}"
    );
    // And the file holds exactly what the status says was written.
    let fixed = dir.path().join("fixed.mcap");
    recover(&path, &fixed);
    let recovered = mcap::Summary::read(&std::fs::read(&fixed).unwrap())
        .unwrap()
        .expect("an index")
        .stats
        .unwrap()
        .message_count;
    assert_eq!(
        recovered, written,
        "the file holds what the status counts as written ({written} written, {unrecorded} not)"
    );
}
