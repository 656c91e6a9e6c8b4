//! JSON lines on stdin and TCP, and the demo, all reach viewers.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt as _;

use crate::support::Vizcast;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdin_lines_reach_viewers_and_bad_lines_are_logged_and_skipped() {
    let mut vizcast = Vizcast::start_with(&["--stdin", "--max-frame-bytes", "1KiB"], |c| {
        c.stdin(Stdio::piped());
    })
    .await;
    let mut viewer = vizcast.viewer().await;
    let mut stdin = vizcast.child.stdin.take().unwrap();
    let mut input = Vec::new();
    input.extend_from_slice(b"{\"stream\":\"a\",\"value\":1}\n");
    input.extend_from_slice(b"{\"stream\":\"a\",\"value\":\n");
    input.extend_from_slice(b"\n");
    input.extend_from_slice(b"{\"stream\":\"a\",\"value\":2}\r\n");
    input.extend_from_slice(
        format!("{{\"stream\":\"a\",\"text\":\"{}\"}}\n", "x".repeat(5000)).as_bytes(),
    );
    input.extend_from_slice(b"{\"stream\":\"a\",\"text\":\"\xff\"}\n");
    input.extend_from_slice(b"{\"stream\":\"a\",\"value\":3}\n");
    stdin.write_all(&input).await.unwrap();
    stdin.flush().await.unwrap();
    assert_eq!(
        viewer.data(3).await,
        [
            r#"{"stream":"a","value":1}"#,
            r#"{"stream":"a","value":2}"#,
            r#"{"stream":"a","value":3}"#
        ]
    );
    let log = vizcast.wait_for_log("not valid UTF-8").await;
    assert!(
        log.contains("frame=2") && log.contains("EOF while parsing"),
        "{log}"
    );
    assert!(log.contains("exceeds --max-frame-bytes (1 KiB)"), "{log}");
    drop(stdin);
    vizcast.wait_for_log("standard input closed").await;
    // vizcast keeps serving after stdin closes.
    assert_eq!(vizcast.get("/healthz", &[]).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_json_lines_reach_viewers() {
    let vizcast = Vizcast::start(&["--tcp-ingest", "127.0.0.1:0"]).await;
    let tcp_addr = {
        let stdout = vizcast.stdout.lock().join("\n");
        stdout
            .split("tcp ingest: ")
            .nth(1)
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .trim()
            .to_owned()
    };
    let mut viewer = vizcast.viewer().await;
    let mut tcp = tokio::net::TcpStream::connect(&tcp_addr).await.unwrap();
    let lines: Vec<String> = (0..100)
        .map(|i| format!(r#"{{"stream":"tcp","t":{i},"value":{i}}}"#))
        .collect();
    tcp.write_all((lines.join("\n") + "\nnot json\n").as_bytes())
        .await
        .unwrap();
    assert_eq!(viewer.data(100).await, lines);
    vizcast.wait_for_log("expected a JSON object").await;
    let stats = vizcast
        .wait_for_stats("the TCP producer listed", |s| {
            s["producers"].as_array().unwrap().len() == 1
        })
        .await;
    assert_eq!(stats["producers"][0]["frames"], 100);
    assert_eq!(stats["producers"][0]["rejected"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_streams_every_kind() {
    let vizcast = Vizcast::start(&["--demo"]).await;
    let mut viewer = vizcast.viewer().await;
    let mut seen = std::collections::BTreeSet::new();
    let wanted = [
        "demo/signal/sine",
        "demo/control",
        "demo/imu",
        "demo/cloud",
        "demo/trajectory",
        "demo/events",
    ];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !wanted.iter().all(|w| seen.contains(*w)) {
        assert!(tokio::time::Instant::now() < deadline, "saw only {seen:?}");
        let frame = viewer.text().await;
        if vizcast_protocol::is_control(&frame) {
            continue;
        }
        for message in
            vizcast_protocol::parse_frame(&frame, &vizcast_protocol::Limits::default()).unwrap()
        {
            seen.insert(message.stream.to_string());
        }
    }
    let (_, streams) = vizcast.get("/api/streams", &[]).await;
    let streams: serde_json::Value = serde_json::from_str(&streams).unwrap();
    let cloud = streams
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "demo/cloud")
        .unwrap();
    assert_eq!(cloud["kinds"], serde_json::json!(["points"]));
}
