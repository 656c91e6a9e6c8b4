//! `vizcast view URL` and `--view URL`: a vizcast fed by another one's `/ws`, re-serving what it
//! receives to its own viewers and recording; reconnection, a restarted remote, refusals and TLS.

use std::time::Duration;

use serde_json::Value;

use crate::support::{PATIENCE, Vizcast, frames_of_every_kind};

fn numbered(stream: &str, range: std::ops::Range<u64>) -> Vec<String> {
    range
        .map(|i| format!(r#"{{"stream":"{stream}","t":{i},"value":{i}}}"#))
        .collect()
}

/// `http://ADDR/`: the page URL, as a user copies it.
fn page(vizcast: &Vizcast) -> String {
    format!("http://{}/", vizcast.addr)
}

async fn wait_connected(view: &Vizcast) -> Value {
    view.wait_for_stats("the view to be connected", |s| {
        s["remote"]["connected"] == true
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_re_serves_the_remote_byte_for_byte_to_its_own_viewers() {
    let a = Vizcast::start(&[]).await;
    let mut producer = a.producer().await;
    let before = frames_of_every_kind();
    producer.send_all(&before).await;
    let mut on_a = a.viewer().await;

    let b = Vizcast::start(&["view", &page(&a)]).await;
    let stats = wait_connected(&b).await;
    let hello_a = a.stats().await;
    assert_eq!(stats["remote"]["session"], hello_a["session"], "{stats:#}");
    assert!(
        b.stdout.lock().iter().any(|l| l.contains("viewing:")),
        "B prints what it views"
    );
    // A viewer of B joins with A's state: the same frames, byte for byte, in the same order.
    let mut joined_b = crate::support::Viewer::connect(&b.ws_url("/ws"), &[])
        .await
        .unwrap();
    let snapshot_b = joined_b.join().await;
    let mut joined_a = crate::support::Viewer::connect(&a.ws_url("/ws"), &[])
        .await
        .unwrap();
    assert_eq!(snapshot_b, joined_a.join().await, "B's state is A's");
    assert_eq!(snapshot_b.len(), before.len());

    // Live frames reach B's viewer as they reach A's, byte for byte, in order.
    let live: Vec<String> = numbered("imu/ax", 0..2000)
        .into_iter()
        .chain(frames_of_every_kind())
        .collect();
    producer.send_all(&live).await;
    assert_eq!(on_a.data_conflated(live.len()).await.len(), live.len());
    let got = joined_b.data_conflated(live.len()).await;
    assert!(
        got == live,
        "B's viewer gets A's frames byte for byte, in order"
    );
    let stats = b.stats().await;
    assert_eq!(stats["remote"]["rejected"], 0, "{stats:#}");
    assert_eq!(stats["remote"]["reconnects"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_remote_resets_the_view_and_the_view_follows_its_new_session() {
    let mut a = Vizcast::start(&[]).await;
    let port = a.addr.port().to_string();
    let listen = format!("127.0.0.1:{port}");
    let mut producer = a.producer().await;
    producer.send_all(&numbered("old", 0..5)).await;
    let b = Vizcast::start(&["view", &page(&a), "--listen", "127.0.0.1:0"]).await;
    let first = wait_connected(&b).await;
    let mut on_b = b.viewer().await;

    drop(producer);
    assert!(a.stop().await);
    b.wait_for_log("connecting again").await;
    let a = Vizcast::start(&["--listen", &listen]).await;
    let mut producer = a.producer().await;
    let new = numbered("new", 0..3);
    producer.send_all(&new).await;
    let stats = b
        .wait_for_stats("the view to follow the new session", |s| {
            s["remote"]["connected"] == true && s["remote"]["session"] != first["remote"]["session"]
        })
        .await;
    assert!(
        stats["remote"]["reconnects"].as_u64().unwrap() >= 1,
        "{stats:#}"
    );
    b.wait_for_log("restarted (session").await;

    // B's viewer is told to start over: a reset snapshot with the new session's state only
    // (what A's new session had when B joined it, and the rest live).
    let mut seen = Vec::new();
    loop {
        let text = on_b.text().await;
        if text.starts_with(r#"{"vizcast":"snapshot_begin""#) {
            let begin: Value = serde_json::from_str(&text).unwrap();
            if begin["reason"] == "reset" {
                seen.clear();
            }
            continue;
        }
        if vizcast_protocol::is_control(&text) {
            continue;
        }
        assert!(
            !text.contains("\"old\""),
            "no frame of the old session after the reset: {text}"
        );
        seen.push(text);
        if seen.len() == new.len() {
            break;
        }
    }
    assert_eq!(seen, new);
    let (_, streams) = b.get("/api/streams", &[]).await;
    assert!(
        !streams.contains("\"old\""),
        "the old session's streams are gone: {streams}"
    );
}

/// A server that answers every request with HTTP 404.
async fn not_vizcast() -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = socket.read(&mut buf).await;
            let _ = socket
                .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
                .await;
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_token_a_foreign_server_and_a_bad_url_are_each_said_clearly() {
    let a = Vizcast::start(&["--share", "--token", "right-token"]).await;
    let port = a.addr.port();
    let wrong = Vizcast::start(&[
        "view",
        &format!("http://127.0.0.1:{port}/?token=wrong-token"),
    ])
    .await;
    wrong
        .wait_for_log("the remote refused the token (HTTP 401)")
        .await;
    // No retry storm: the pause before each new attempt doubles.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let pauses = loop {
        let pauses: Vec<f64> = wrong
            .stderr
            .lock()
            .lines()
            .filter_map(|l| l.split("connecting again in ").nth(1))
            .filter_map(|rest| rest.trim_end_matches(" s").trim().parse().ok())
            .collect();
        if pauses.len() >= 3 {
            break pauses;
        }
        assert!(tokio::time::Instant::now() < deadline, "three attempts");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        pauses.windows(2).all(|w| w[1] > w[0]),
        "each pause longer than the last: {pauses:?}"
    );
    let stats = wrong
        .wait_for_stats("the reason in the stats", |s| {
            s["remote"]["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("token"))
        })
        .await;
    assert_eq!(stats["remote"]["connected"], false);
    // The token never appears in what is logged or shown.
    assert!(!wrong.stderr.lock().contains("wrong-token"));
    assert_eq!(
        stats["remote"]["url"],
        format!("ws://127.0.0.1:{port}/ws?token=…")
    );

    let right = Vizcast::start(&[
        "view",
        &format!("http://127.0.0.1:{port}/?token=right-token"),
    ])
    .await;
    wait_connected(&right).await;

    let foreign = not_vizcast().await;
    let lost = Vizcast::start(&["view", &format!("http://{foreign}/")]).await;
    lost.wait_for_log("not a vizcast hub").await;

    // A URL that cannot be one stops vizcast at once, with the reason.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_vizcast"))
        .args(["view", "nats://127.0.0.1:4222", "--headless"])
        .output();
    let output = tokio::time::timeout(PATIENCE, output)
        .await
        .unwrap()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("scheme nats://"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wss_needs_a_certificate_that_verifies_and_tls_ca_gives_one() {
    let cert = crate::tls::make_cert();
    let (cert_path, key_path) = (
        cert.cert.to_str().unwrap().to_owned(),
        cert.key.to_str().unwrap().to_owned(),
    );
    let a = Vizcast::start(&["--tls-cert", &cert_path, "--tls-key", &key_path]).await;
    let url = format!("https://localhost:{}/", a.addr.port());
    let untrusted = Vizcast::start(&["view", &url]).await;
    untrusted
        .wait_for_log("the remote's certificate does not verify")
        .await;
    assert!(untrusted.stderr.lock().contains("--tls-ca"));
    assert_eq!(untrusted.stats().await["remote"]["connected"], false);

    let trusted = Vizcast::start(&["view", &url, "--tls-ca", &cert_path]).await;
    wait_connected(&trusted).await;
    let mut on_b = trusted.viewer().await;
    let mut producer = crate::tls::tls_producer(&a, &cert).await;
    let frames = numbered("secure", 0..50);
    producer.send_all(&frames).await;
    assert_eq!(on_b.data_conflated(frames.len()).await, frames);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_headless_view_records_the_remote_to_a_file_that_replays() {
    let a = Vizcast::start(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("remote.mcap");
    let mut b = Vizcast::start(&["view", &page(&a), "--record", file.to_str().unwrap()]).await;
    wait_connected(&b).await;
    let mut producer = a.producer().await;
    let frames: Vec<String> = frames_of_every_kind()
        .into_iter()
        .chain(numbered("tick", 0..500))
        .collect();
    producer.send_all(&frames).await;
    b.wait_for_stats("B to take every frame", |s| {
        s["remote"]["frames"] == frames.len()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(b.stop().await);
    let recording = vizcast_record::Recording::open(&file).unwrap();
    let recorded: Vec<String> = recording
        .frames_from(0)
        .unwrap()
        .map(|f| f.unwrap().text)
        .collect();
    // A recording keeps each frame's bytes, without the whitespace around it.
    // The file says it is a remote view, of which hub, and what the remote skipped for it.
    let header = crate::record::metadata_record(&file, "vizcast").unwrap();
    let source: Value = serde_json::from_str(&header["source.remote"]).unwrap();
    assert_eq!(source["url"], format!("ws://{}/ws", a.addr), "{header:?}");
    let end = crate::record::metadata_record(&file, "vizcast.sources").unwrap();
    let end: Value = serde_json::from_str(&end["remote"]).unwrap();
    assert_eq!(end["session"], a.stats().await["session"]);
    assert_eq!(end["frames"], frames.len());
    assert!(
        end["conflated_frames"].is_u64() && end["lagged_frames"].is_u64(),
        "{end:#}"
    );
    let first_difference = recorded
        .iter()
        .zip(&frames)
        .position(|(r, f)| r != f.trim());
    assert_eq!(
        (recorded.len(), first_difference),
        (frames.len(), None),
        "every frame, byte for byte, in order"
    );
}
