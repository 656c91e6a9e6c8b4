//! A viewer on a slow link beside a heavy cloud stream: it keeps every scalar sample while its
//! clouds thin to what the link carries (conflation), a viewer beside it that keeps up gets every
//! frame, and subscriptions cut what a viewer does not want.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use parking_lot::Mutex;
use serde_json::Value;
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::Message;

use crate::link;
use crate::support::{Io, Producer, Viewer, Vizcast};

/// A 20,000-point cloud as base64 `f32` (about 320 KB a frame).
fn cloud_payload() -> String {
    let points: Vec<f32> = (0..60_000).map(|i| (i % 977) as f32 * 0.01).collect();
    vizcast_protocol::f32_base64(&points)
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// What the producer sent: every frame, in order.
type Sent = Arc<Mutex<Vec<String>>>;

/// Sends, for `duration`: a cloud on `cloud` at 30 Hz (its `t` is when it was sent, its `n` a
/// string counter) and 10 scalar samples of `s` every 10 ms, with consecutive values.
async fn produce(mut producer: Producer, duration: Duration, sent: Sent) -> u64 {
    let payload = cloud_payload();
    let start = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let (mut next_value, mut clouds) = (0u64, 0u64);
    while start.elapsed() < duration {
        tick.tick().await;
        let values: Vec<String> = (next_value..next_value + 10)
            .map(|v| v.to_string())
            .collect();
        next_value += 10;
        let times: Vec<String> = (0..10)
            .map(|i| format!("{}", unix_now() + i as f64 * 1e-4))
            .collect();
        let mut frames = vec![format!(
            r#"{{"stream":"s","t":[{}],"value":[{}]}}"#,
            times.join(","),
            values.join(",")
        )];
        if start.elapsed().as_secs_f64() * 30.0 >= clouds as f64 {
            clouds += 1;
            frames.push(format!(
                r#"{{"stream":"cloud","t":{},"n":"{clouds}","points":{{"f32":"{payload}"}}}}"#,
                unix_now()
            ));
        }
        sent.lock().extend(frames.iter().cloned());
        producer.send_all(&frames).await;
    }
    next_value
}

/// What a viewer received.
#[derive(Debug, Default)]
struct Seen {
    /// Scalar values of `s`, in order of arrival.
    values: Vec<u64>,
    /// Arrival time and age (arrival minus `t`) of each cloud.
    clouds: Vec<(f64, f64)>,
    /// Bytes of cloud frames.
    cloud_bytes: u64,
    conflated: Vec<Value>,
    lagged: u64,
}

impl Seen {
    fn take(&mut self, text: &str) {
        let value: Value = serde_json::from_str(text).unwrap();
        match value["vizcast"].as_str() {
            Some("conflated") => self.conflated.push(value),
            Some("lagged") => self.lagged += 1,
            Some(_) => {}
            None if value["stream"] == "s" => self.values.extend(
                value["value"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_u64().unwrap()),
            ),
            None => {
                assert_eq!(value["stream"], "cloud", "{text:.200}");
                let now = unix_now();
                self.clouds.push((now, now - value["t"].as_f64().unwrap()));
                self.cloud_bytes += text.len() as u64;
            }
        }
    }
}

/// Connects a viewer to `path` whose link carries `rate` bytes a second.
async fn slow_viewer(vizcast: &Vizcast, path: &str, rate: f64) -> Viewer {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(64 * 1024).unwrap();
    let stream = socket.connect(vizcast.addr).await.unwrap();
    let io: Box<dyn Io> = Box::new(link::Link::new(stream, Some(rate), Arc::default()));
    let (socket, _) = tokio_tungstenite::client_async(vizcast.ws_url(path), io)
        .await
        .unwrap();
    Viewer { socket }
}

/// Reads a viewer until `deadline`, taking every frame into a [`Seen`]; the viewer stays
/// connected.
async fn watch(mut viewer: Viewer, deadline: Instant) -> (Seen, Viewer) {
    let mut seen = Seen::default();
    viewer.join().await;
    while let Ok(Some(message)) =
        tokio::time::timeout_at(deadline.into(), viewer.socket.next()).await
    {
        if let Message::Text(text) = message.unwrap() {
            seen.take(text.as_str());
        }
    }
    (seen, viewer)
}

fn assert_every_sample(values: &[u64], sent: u64, who: &str) {
    for (i, v) in values.iter().enumerate() {
        assert_eq!(
            *v, i as u64,
            "{who}: sample {i} is {v}: a gap or a duplicate"
        );
    }
    assert!(values.len() as u64 <= sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_viewer_keeps_every_sample_and_fresh_clouds_while_a_fast_one_gets_everything() {
    let vizcast = Vizcast::start(&["--conflate-after", "0.25", "--ping-timeout", "60"]).await;
    let run = Duration::from_secs(8);
    let slow = slow_viewer(&vizcast, "/ws", 1.5e6).await;
    let mut fast = vizcast.viewer().await;
    let producer = vizcast.producer().await;
    let sent: Sent = Arc::default();

    let deadline = Instant::now() + run + Duration::from_secs(3);
    let slow = tokio::spawn(watch(slow, deadline));
    let fast_sent = sent.clone();
    let fast = tokio::spawn(async move {
        // Every frame the producer sent, byte for byte and in order.
        let mut next = 0;
        while let Ok(Some(message)) =
            tokio::time::timeout_at(deadline.into(), fast.socket.next()).await
        {
            let Message::Text(text) = message.unwrap() else {
                continue;
            };
            assert!(
                !vizcast_protocol::is_control(text.as_str()),
                "the fast viewer got {text}"
            );
            let expected = fast_sent.lock()[next].clone();
            assert!(expected == text.as_str(), "frame {next} differs");
            next += 1;
        }
        (next, fast)
    });
    let samples = produce(producer, run, sent.clone()).await;
    let (slow, _slow_viewer) = slow.await.unwrap();
    let (fast_frames, _fast_viewer) = fast.await.unwrap();
    let stats = vizcast.stats().await;

    let clouds_sent = sent
        .lock()
        .iter()
        .filter(|f| f.contains("\"cloud\""))
        .count();
    println!(
        "sent {samples} samples, {clouds_sent} clouds; the slow viewer got {} samples, {} clouds \
         ({} bytes), ages {:?}; conflated {:?}",
        slow.values.len(),
        slow.clouds.len(),
        slow.cloud_bytes,
        slow.clouds
            .iter()
            .map(|c| (c.1 * 1000.0) as u64)
            .collect::<Vec<_>>(),
        slow.conflated
            .iter()
            .map(|c| c["frames"].clone())
            .collect::<Vec<_>>(),
    );
    assert_eq!(
        fast_frames,
        sent.lock().len(),
        "the fast viewer missed frames"
    );

    assert_eq!(
        slow.lagged, 0,
        "the slow viewer was lagged instead of conflated"
    );
    assert_every_sample(&slow.values, samples, "the slow viewer");
    assert_eq!(
        slow.values.len() as u64,
        samples,
        "the slow viewer lost samples"
    );
    assert!(
        slow.clouds.len() < clouds_sent,
        "the slow viewer got every cloud: its link was not slow"
    );
    for window in slow.clouds.windows(2) {
        assert!(
            window[1].0 - window[0].0 <= 2.0,
            "no cloud for {:.2} s",
            window[1].0 - window[0].0
        );
    }
    for (_, age) in &slow.clouds {
        assert!(*age <= 2.0, "a cloud {age:.2} s old on arrival");
    }
    assert!(!slow.conflated.is_empty(), "the slow viewer was not told");
    let told: u64 = slow
        .conflated
        .iter()
        .map(|c| c["streams"]["cloud"].as_u64().unwrap())
        .sum();
    assert!(told > 0);
    assert_eq!(
        told + slow.clouds.len() as u64,
        clouds_sent as u64,
        "every cloud was either delivered or reported as conflated"
    );

    let viewers = stats["viewers"].as_array().unwrap();
    let conflated: Vec<u64> = viewers
        .iter()
        .map(|v| v["conflated_frames"].as_u64().unwrap())
        .collect();
    assert_eq!(
        conflated.iter().filter(|&&n| n == 0).count(),
        1,
        "{stats:#}"
    );
    let slow_stats = viewers
        .iter()
        .find(|v| v["conflated_frames"].as_u64() > Some(0))
        .unwrap();
    assert_eq!(
        slow_stats["conflated_by_stream"]["cloud"], told,
        "{stats:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_subscribed_to_scalars_gets_no_cloud_bytes() {
    let vizcast = Vizcast::start(&["--conflate-after", "0.25"]).await;
    let slow = slow_viewer(&vizcast, "/ws?streams=s", 0.5e6).await;
    let producer = vizcast.producer().await;
    let run = Duration::from_secs(3);
    let deadline = Instant::now() + run + Duration::from_secs(2);
    let slow = tokio::spawn(watch(slow, deadline));
    let samples = produce(producer, run, Sent::default()).await;
    let (slow, _viewer) = slow.await.unwrap();
    assert_eq!(slow.cloud_bytes, 0);
    assert!(slow.conflated.is_empty());
    assert_every_sample(&slow.values, samples, "the subscribed viewer");
    assert_eq!(slow.values.len() as u64, samples);
    let stats = vizcast.stats().await;
    let viewer = &stats["viewers"][0];
    assert_eq!(
        viewer["subscription"],
        serde_json::json!(["s"]),
        "{stats:#}"
    );
    assert!(viewer["filtered_frames"].as_u64().unwrap() > 0, "{stats:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_change_what_one_viewer_gets_and_bad_ones_change_nothing() {
    let vizcast = Vizcast::start(&[]).await;
    let mut producer = vizcast.producer().await;
    producer.send(r#"{"stream":"a","value":1}"#).await;
    producer.send(r#"{"stream":"b","value":1}"#).await;
    vizcast
        .wait_for_stats("both frames accepted", |s| s["ingest"]["frames"] == 2)
        .await;
    let mut viewer = Viewer::connect(&vizcast.ws_url("/ws?streams=a"), &[])
        .await
        .unwrap();
    assert_eq!(viewer.join().await, [r#"{"stream":"a","value":1}"#]);
    let mut other = Viewer::connect(&vizcast.ws_url("/ws"), &[]).await.unwrap();
    assert_eq!(other.join().await.len(), 2);

    // Malformed, wrong-typed, oversized and unknown requests: an error each, nothing changes.
    let huge = format!(
        r#"{{"vizcast":"subscribe","streams":["{}"]}}"#,
        "x".repeat(70_000)
    );
    for bad in [
        "not json",
        r#"{"vizcast":"subscribe","streams":"b"}"#,
        r#"{"vizcast":"subscribe","streams":[{"deep":[[[[1]]]]}]}"#,
        r#"{"stream":"b","value":666}"#,
        huge.as_str(),
    ] {
        viewer.send(bad).await;
        let error = viewer.control("error").await;
        assert_eq!(error["code"], "invalid", "{error}");
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .starts_with("subscribe: "),
            "{error}"
        );
    }
    producer.send(r#"{"stream":"b","value":2}"#).await;
    producer.send(r#"{"stream":"a","value":2}"#).await;
    assert_eq!(viewer.data(1).await, [r#"{"stream":"a","value":2}"#]);
    // Nothing a viewer sent reached another client.
    assert_eq!(
        other.data(2).await,
        [r#"{"stream":"b","value":2}"#, r#"{"stream":"a","value":2}"#]
    );

    // Subscribing to b as well: the history of b it never had, then b live.
    viewer
        .send(r#"{"vizcast":"subscribe","streams":["a","b"]}"#)
        .await;
    let subscribed = viewer.control("subscribed").await;
    assert_eq!(subscribed["streams"], serde_json::json!(["a", "b"]));
    assert_eq!(
        viewer.snapshot("subscribe").await,
        [r#"{"stream":"b","value":1}"#, r#"{"stream":"b","value":2}"#]
    );
    producer.send(r#"{"stream":"b","value":3}"#).await;
    assert_eq!(viewer.data(1).await, [r#"{"stream":"b","value":3}"#]);

    // Everything but a.
    viewer
        .send(r#"{"vizcast":"subscribe","streams":["!a"]}"#)
        .await;
    viewer.control("subscribed").await;
    assert!(viewer.snapshot("subscribe").await.is_empty());
    producer.send(r#"{"stream":"a","value":4}"#).await;
    producer.send(r#"{"stream":"c","value":4}"#).await;
    assert_eq!(viewer.data(1).await, [r#"{"stream":"c","value":4}"#]);

    // A bad query is refused before the upgrade, with the reason.
    match Viewer::connect(&vizcast.ws_url("/ws?streams=a*b"), &[]).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 400);
            let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default());
            assert!(body.contains("may only end a pattern"), "{body}");
        }
        Err(other) => panic!("expected an HTTP refusal, got {other}"),
        Ok(_) => panic!("a bad subscription query was accepted"),
    }
}
