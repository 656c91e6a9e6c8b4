//! Start-up, read-only viewers, and graceful shutdown.

use std::process::Command;

use crate::support::{Event, PATIENCE, Vizcast};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_every_connection_with_1001_and_exits_cleanly() {
    let mut vizcast = Vizcast::start(&[]).await;
    let mut viewer = vizcast.viewer().await;
    let mut producer = vizcast.producer().await;
    producer.send(r#"{"stream":"a","value":1}"#).await;
    viewer.data(1).await;

    let pid = vizcast.child.id().unwrap();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );

    for event in [viewer.next().await, producer.next().await] {
        match event {
            Event::Close(code, reason) => {
                assert_eq!(code, 1001);
                assert_eq!(reason, "vizcast is shutting down");
            }
            other => panic!("expected close 1001, got {other:?}"),
        }
    }
    let status = tokio::time::timeout(PATIENCE, vizcast.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
    assert!(vizcast.stderr.lock().contains("shutting down"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_are_read_only() {
    let vizcast = Vizcast::start(&[]).await;
    let mut writer = vizcast.viewer().await;
    let mut other = vizcast.viewer().await;
    use futures_util::SinkExt as _;
    writer
        .socket
        .send(tokio_tungstenite::tungstenite::Message::text(
            r#"{"stream":"injected","value":1}"#,
        ))
        .await
        .unwrap();
    // The writer is told why; nothing reaches anyone else.
    let error = writer.control("error").await;
    assert_eq!(error["code"], "invalid", "{error}");
    let mut producer = vizcast.producer().await;
    producer.send(r#"{"stream":"real","value":1}"#).await;
    assert_eq!(other.data(1).await[0], r#"{"stream":"real","value":1}"#);
    assert_eq!(writer.data(1).await[0], r#"{"stream":"real","value":1}"#);
    let stats = vizcast.stats().await;
    assert_eq!(stats["ingest"]["frames"], 1);
}

#[test]
fn invalid_flags_are_refused_with_the_flag_named() {
    let output = Command::new(env!("CARGO_BIN_EXE_vizcast"))
        .args([
            "--headless",
            "--listen",
            "127.0.0.1:0",
            "--max-depth",
            "1000",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--max-depth must be between 5 and 100"),
        "{stderr}"
    );

    let output = Command::new(env!("CARGO_BIN_EXE_vizcast"))
        .args(["--headless", "--max-frame-bytes", "12 parsecs"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown size unit"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn it_says_where_it_listens_and_how_to_connect() {
    let vizcast = Vizcast::start(&[]).await;
    let (status, body) = vizcast.get("/healthz", &[]).await;
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let (status, page) = vizcast.get("/", &[]).await;
    assert_eq!(status, 200);
    assert!(page.contains("<title>vizcast"), "{page}");
    let stdout = vizcast.stdout.lock().join("\n");
    assert!(
        stdout.contains(&format!("producers: ws://{}/ingest", vizcast.addr)),
        "{stdout}"
    );
}
