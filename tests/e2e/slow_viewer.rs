//! A viewer that stops reading must not slow ingest or the other viewers, must hold only bounded
//! memory, and must be resynced (or closed) rather than served stale data.

use std::time::{Duration, Instant};

use tokio::net::TcpSocket;

use crate::support::{Event, Producer, Socket, Viewer, Vizcast};

fn round(round: u32, n: usize) -> Vec<String> {
    let pad = "x".repeat(2000);
    (0..n)
        .map(|i| format!(r#"{{"stream":"s","value":{i},"round":{round},"pad":"{pad}"}}"#))
        .collect()
}

/// A `/ws` client whose socket has a 4 KiB receive buffer (it has read nothing yet).
async fn tiny_buffer_viewer(vizcast: &Vizcast) -> Socket {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(vizcast.addr).await.unwrap();
    let (socket, _) = tokio_tungstenite::client_async(
        vizcast.ws_url("/ws"),
        Box::new(stream) as Box<dyn crate::support::Io>,
    )
    .await
    .unwrap();
    socket
}

/// Sends `frames` in chunks, each once every good viewer received the previous one (so they keep
/// up by construction), and checks they receive everything in order; returns the time taken.
async fn deliver(producer: &mut Producer, viewers: &mut [Viewer], frames: &[String]) -> Duration {
    let start = Instant::now();
    for chunk in frames.chunks(200) {
        producer.send_all(chunk).await;
        let received =
            futures_util::future::join_all(viewers.iter_mut().map(|v| v.data(chunk.len()))).await;
        for got in received {
            assert!(
                got == chunk,
                "a viewer that keeps up must receive every frame, in order"
            );
        }
    }
    start.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_that_never_reads_slows_nobody_and_is_resynced_when_it_resumes() {
    let vizcast = Vizcast::start(&[
        "--max-frame-bytes",
        "64KiB",
        "--viewer-queue-bytes",
        "2MiB",
        "--history-bytes",
        "1MiB",
        "--ping-interval",
        "60",
        "--ping-timeout",
        "120",
    ])
    .await;
    let mut good = vec![vizcast.viewer().await, vizcast.viewer().await];
    let mut producer = vizcast.producer().await;
    let n = 6000; // about 12 MB a round: more than the queue and the stalled socket's buffers

    let without = deliver(&mut producer, &mut good, &round(1, n)).await;

    // A viewer with a tiny receive buffer that never reads.
    let stalled = tiny_buffer_viewer(&vizcast).await;
    vizcast
        .wait_for_stats("three viewers", |s| {
            s["viewers"].as_array().unwrap().len() == 3
        })
        .await;

    let frames = round(2, n);
    let with = deliver(&mut producer, &mut good, &frames).await;
    println!(
        "delivery of {n} frames to 2 viewers: {without:?} alone, {with:?} beside a stalled viewer"
    );
    assert!(
        with < without * 5 + Duration::from_secs(1),
        "a stalled viewer slowed delivery to the others: {without:?} → {with:?}"
    );

    // The stalled viewer is far behind, but the hub holds only one bounded log for it.
    let stats = vizcast.stats().await;
    assert!(
        stats["live_log"]["bytes"].as_u64().unwrap() <= 2 * 1024 * 1024,
        "{stats:#}"
    );
    let behind = stats["viewers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["queue_frames"].as_u64().unwrap())
        .max()
        .unwrap();
    assert!(
        behind > 100,
        "the stalled viewer should be behind: {stats:#}"
    );

    // It resumes: whatever its socket held, then `lagged`, the latest state, and live frames.
    let mut stalled = Viewer { socket: stalled };
    stalled.join().await;
    let lagged = loop {
        let text = stalled.text().await;
        if text.starts_with(r#"{"vizcast":"lagged""#) {
            break serde_json::from_str::<serde_json::Value>(&text).unwrap();
        }
        assert!(!vizcast_protocol::is_control(&text), "unexpected {text}");
    };
    assert!(lagged["dropped_frames"].as_u64().unwrap() > 0, "{lagged}");
    let resync = stalled.snapshot("resync").await;
    assert_eq!(
        resync.last(),
        frames.last(),
        "the resync carries the latest state"
    );
    producer.send(r#"{"stream":"s","value":-1}"#).await;
    assert_eq!(stalled.data(1).await[0], r#"{"stream":"s","value":-1}"#);
    let stats = vizcast.stats().await;
    let lagged_viewers = stats["viewers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["lagged"].as_u64().unwrap() > 0)
        .count();
    assert_eq!(
        lagged_viewers, 1,
        "only the stalled viewer lagged: {stats:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_that_answers_no_pings_is_closed() {
    let vizcast = Vizcast::start(&["--ping-interval", "0.2", "--ping-timeout", "1"]).await;
    let socket = TcpSocket::new_v4().unwrap();
    let stream = socket.connect(vizcast.addr).await.unwrap();
    let (silent, _) = tokio_tungstenite::client_async(vizcast.ws_url("/ws"), stream)
        .await
        .unwrap();
    let mut good = vizcast.viewer().await;
    vizcast
        .wait_for_stats("two viewers", |s| {
            s["viewers"].as_array().unwrap().len() == 2
        })
        .await;
    // The good viewer answers pings (its client replies while reading); keep it reading.
    let reader = tokio::spawn(async move {
        loop {
            if let Event::End | Event::Close(..) = good.next().await {
                return;
            }
        }
    });
    vizcast
        .wait_for_stats("the silent viewer closed", |s| {
            s["viewers"].as_array().unwrap().len() == 1
        })
        .await;
    vizcast.wait_for_log("closing a stalled viewer").await;
    drop(silent);
    reader.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_beyond_the_limit_are_refused_with_a_reason() {
    let vizcast = Vizcast::start(&["--max-viewers", "2"]).await;
    let _a = vizcast.viewer().await;
    let _b = vizcast.viewer().await;
    let mut third = Viewer::connect(&vizcast.ws_url("/ws"), &[]).await.unwrap();
    let error = third.control("error").await;
    assert_eq!(error["code"], "refused");
    match third.next().await {
        Event::Close(code, reason) => {
            assert_eq!(code, 1013);
            assert_eq!(reason, "too many viewers (2, --max-viewers)");
        }
        other => panic!("expected a close, got {other:?}"),
    }
    // The refusal freed nothing it did not take: the two viewers are still there.
    vizcast
        .wait_for_stats("two viewers", |s| {
            s["viewers"].as_array().unwrap().len() == 2
        })
        .await;
}

/// A viewer that reads slowly through a tiny receive buffer, while small frames arrive paced (so
/// the ingest path writes them through and often fills its socket mid-frame): every frame arrives
/// whole and in order, beside a fast viewer that gets the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_of_written_through_frames_gets_each_frame_whole_and_in_order() {
    let vizcast = Vizcast::start(&[]).await;
    let mut fast = vizcast.viewer().await;
    let mut slow = Viewer {
        socket: tiny_buffer_viewer(&vizcast).await,
    };
    slow.join().await;
    let mut producer = vizcast.producer().await;
    // 3 KB frames, 2 ms apart, read at 200 a second: the slow viewer's socket fills, often
    // mid-frame, and its task takes over from the ingest path.
    let pad = "y".repeat(3000);
    let frames: Vec<String> = (0..400)
        .map(|i| format!(r#"{{"stream":"s","value":{i},"pad":"{pad}"}}"#))
        .collect();
    let send = async {
        for frame in &frames {
            producer.send(frame).await;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    };
    let read_slowly = async {
        let mut got = Vec::with_capacity(frames.len());
        while got.len() < frames.len() {
            got.extend(slow.data(8).await);
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
        got
    };
    let ((), got_fast, got_slow) = tokio::join!(send, fast.data(frames.len()), read_slowly);
    assert_eq!(got_fast, frames);
    assert_eq!(got_slow, frames, "the slow viewer's frames differ");
    let stats = vizcast.stats().await;
    let through: Vec<u64> = stats["viewers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["written_through"].as_u64().unwrap())
        .collect();
    assert!(
        through.iter().all(|&n| n > 0),
        "both viewers were written through: {through:?}"
    );
}
