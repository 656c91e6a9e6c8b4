//! `vizcast export --foxglove`: a recording of the demo in Foxglove's schemas, checked here and
//! read back by an independent reader (the Python `mcap` package, `tests/interop/read_foxglove.py`).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use vizcast_protocol::{Colors, Limits, Shape, Time, f32_base64, parse_frame, u8_base64};

use crate::support::Vizcast;

/// The demo's message streams, and the schema each becomes.
const DEMO: [(&str, &str); 10] = [
    ("/demo/signal/sine", "vizcast.Scalars/demo/signal/sine"),
    ("/demo/signal/noise", "vizcast.Scalars/demo/signal/noise"),
    ("/demo/control", "vizcast.Scalars/demo/control"),
    ("/demo/imu", "vizcast.Scalars/demo/imu"),
    ("/demo/robot", "vizcast.Scalars/demo/robot"),
    ("/demo/cloud", "foxglove.PointCloud"),
    ("/demo/trajectory", "foxglove.SceneUpdate"),
    ("/demo/events", "foxglove.Log"),
    ("/demo/camera", "foxglove.CompressedImage"),
    ("/demo/heatmap", "foxglove.RawImage"),
];

/// What the export of `recording` should hold, by rules stated independently of the translator:
/// per topic `/<stream>`, one message per cloud, line and text, and one per scalar sample (a
/// columnar batch has one per entry of its `t`). Also the first cloud of `demo/cloud`: its log
/// time, its points (base64 of little-endian f32) and colours (base64 of bytes).
fn expected(recording: &Path) -> (BTreeMap<String, u64>, Value) {
    let bytes = std::fs::read(recording).unwrap();
    let mut counts = BTreeMap::new();
    let mut cloud = Value::Null;
    for message in mcap::MessageStream::new(&bytes).unwrap() {
        let message = message.unwrap();
        let text = std::str::from_utf8(&message.data).unwrap();
        let decoded = parse_frame(text, &Limits::default()).unwrap();
        assert_eq!(decoded.len(), 1, "one protocol message per MCAP message");
        let m = &decoded[0];
        let topic = format!("/{}", m.stream);
        assert!(
            m.shape.is_none() || m.scalars.is_empty(),
            "the demo has no stream of two kinds"
        );
        let n = match (&m.shape, &m.time) {
            (Some(_), _) => 1,
            (None, Time::Columns(ts)) => ts.len() as u64,
            (None, _) => 1,
        };
        *counts.entry(topic.clone()).or_insert(0) += n;
        if let (Some(Shape::Points(points)), Value::Null) = (&m.shape, &cloud) {
            let flat: Vec<f32> = points.positions.iter().flatten().copied().collect();
            let Colors::PerPoint(colors) = &points.colors else {
                panic!("the demo cloud has a colour per point");
            };
            let colors: Vec<u8> = colors.iter().flatten().copied().collect();
            cloud = serde_json::json!({
                "topic": topic,
                "log_time": message.log_time,
                "points": f32_base64(&flat),
                "colors": u8_base64(&colors),
            });
        }
    }
    (counts, cloud)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_demo_recording_exports_in_foxgloves_schemas_that_an_independent_reader_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let recording = dir.path().join("demo.mcap");
    let export = dir.path().join("demo.foxglove.mcap");
    let mut vizcast = Vizcast::start(&["--demo", "--record", recording.to_str().unwrap()]).await;
    // Until every stream is there (the camera starts once its loop is encoded), with two events
    // (one every 2.5 s) and a growing trajectory.
    let deadline = tokio::time::Instant::now() + crate::support::PATIENCE;
    loop {
        let (_, body) = vizcast.get("/api/streams", &[]).await;
        let streams: Value = serde_json::from_str(&body).unwrap();
        let messages = |name: &str| {
            streams
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["name"] == name)
                .and_then(|s| s["messages"].as_u64())
        };
        if messages("demo/events") >= Some(2) && messages("demo/camera") >= Some(2) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the demo: {streams}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        vizcast.stop().await,
        "vizcast exits cleanly after recording"
    );

    let (counts, cloud) = expected(&recording);
    for (topic, _) in DEMO {
        assert!(counts.contains_key(topic), "{topic} recorded: {counts:?}");
    }
    assert!(counts["/demo/events"] >= 2, "{counts:?}");

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_vizcast"))
        .args([
            "export",
            recording.to_str().unwrap(),
            "--foxglove",
            export.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let total: u64 = counts.values().sum();
    assert!(
        stdout.contains(&format!(
            "wrote {total} messages on {} channels",
            DEMO.len()
        )),
        "{stdout} (expected {total} messages)"
    );

    // Here: chunked, indexed, and every channel opens in the apps (their schema parser's rules).
    let bytes = std::fs::read(&export).unwrap();
    let summary = mcap::Summary::read(&bytes).unwrap().expect("a summary");
    assert!(!summary.chunk_indexes.is_empty());
    for channel in summary.channels.values() {
        let schema = channel
            .schema
            .as_deref()
            .expect("a schema on every channel");
        assert_eq!(schema.encoding, "jsonschema");
        vizcast_record::apps::check_channel(
            &channel.message_encoding,
            Some((&schema.encoding, &schema.data)),
        )
        .unwrap_or_else(|p| {
            panic!(
                "{}: Lichtblick and Foxglove would refuse it: {p}",
                channel.topic
            )
        });
    }

    // And by the independent reader, with CRC checks: schemas, counts, and one cloud decoded.
    let expected_cloud = dir.path().join("cloud.json");
    std::fs::write(&expected_cloud, cloud.to_string()).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = std::process::Command::new("python3")
        .arg(root.join("tests/interop/read_foxglove.py"))
        .arg(&export)
        .arg("--cloud")
        .arg(&expected_cloud)
        .arg("--deps")
        .arg(Path::new(env!("CARGO_TARGET_TMPDIR")).join("python-mcap"))
        .output()
        .expect("python3 runs (it reads the export with the Python mcap package)");
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the Python mcap reader refused the export:\n{printed}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let read: Value = serde_json::from_str(printed.lines().last().unwrap()).unwrap();
    assert_eq!(read["messages"], total);
    let channels = read["channels"].as_object().unwrap();
    assert_eq!(channels.len(), DEMO.len(), "{read}");
    for (topic, schema) in DEMO {
        assert_eq!(channels[topic]["schema"], schema, "{topic}");
        assert_eq!(channels[topic]["messages"], counts[topic], "{topic}");
    }
    let points = vizcast_demo::CLOUD_POINTS as u64;
    assert_eq!(read["cloud"]["points"], points);
    assert_eq!(read["cloud"]["point_stride"], 16);
    assert_eq!(read["cloud"]["data_bytes"], points * 16);
}
