//! Images through the real binary: JPEG, PNG and raw pixels mirrored byte for byte, a late joiner
//! that gets only the latest image of each stream, hostile images refused with the reason while
//! everything else flows, a subscription without the cameras that costs no image byte, and a
//! viewer on a 4 MB/s link beside a 30 Hz camera that keeps every scalar sample and gets fresh
//! images, told what it skipped.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use parking_lot::Mutex;
use serde_json::Value;
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::Message;

use crate::link;
use crate::support::{Io, Producer, Viewer, Vizcast};

/// An 8×8 JPEG (red and blue halves) made by Chromium: a real file.
const JPEG_8X8: &str = "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDABALDA4MChAODQ4SERATGCgaGBYWGDEjJR0oOjM9PDkzODdASFxOQERXRTc4UG1RV19iZ2hnPk1xeXBkeFxlZ2P/2wBDARESEhgVGC8aGi9jQjhCY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2P/wAARCAAIAAgDASIAAhEBAxEB/8QAFQABAQAAAAAAAAAAAAAAAAAAAAb/xAAYEAEAAwEAAAAAAAAAAAAAAAAABEOBwf/EABUBAQEAAAAAAAAAAAAAAAAAAAQG/8QAGhEAAAcAAAAAAAAAAAAAAAAAAAECBTSBsf/aAAwDAQACEQMRAD8AmZ9e8AVDPCRemEOstdYQ/9k=";
/// A 2×1 PNG (red, blue).
const PNG_2X1: &str = "iVBORw0KGgoAAAANSUhEUgAAAAIAAAABCAIAAAB7QOjdAAAADUlEQVR4nGP4zwAE/wEHAAH/4iOeWQAAAABJRU5ErkJggg==";

fn b64(bytes: &[u8]) -> String {
    vizcast_protocol::u8_base64(bytes)
}

/// A JPEG the hub accepts (markers, a 1920×1080 frame header, the end marker) of about `size`
/// bytes: comment segments stand for the compressed data, which the hub never decodes.
fn jpeg_like(size: usize, seed: u8) -> Vec<u8> {
    let mut out = vec![0xff, 0xd8];
    while out.len() + 4 + 21 < size {
        let len = (size - out.len() - 4 - 21).clamp(1, 65_533);
        out.extend_from_slice(&[0xff, 0xfe]);
        out.extend_from_slice(&(len as u16 + 2).to_be_bytes());
        out.extend((0..len as u32).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)));
    }
    out.extend_from_slice(&[
        0xff, 0xc0, 0, 17, 8, 0x04, 0x38, 0x07, 0x80, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1,
    ]);
    out.extend_from_slice(&[0xff, 0xd9]);
    out
}

fn image_frames() -> Vec<String> {
    let f32s: Vec<f32> = (0..12).map(|i| i as f32 / 11.0).collect();
    vec![
        format!(r#"{{"stream":"cam/front","t":1.5,"image":{{"jpeg":"{JPEG_8X8}"}}}}"#),
        format!(r#"{{"stream":"cam/png", "image": {{"png": "{PNG_2X1}"}}, "exposure": 0.01}}"#),
        format!(
            r#"{{"stream":"cam/rgb","image":{{"shape":[2,2,3],"u8":"{}"}}}}"#,
            b64(&[255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255])
        ),
        format!(
            r#"{{"stream":"cam/depth","image":{{"u16":"{}","shape":[2,2]}}}}"#,
            b64(&[0, 0, 0xe8, 0x03, 0xd0, 0x07, 0xff, 0xff])
        ),
        format!(
            r#"{{"stream":"sim/heat","image":{{"shape":[3,4],"f32":"{}","colormap":"viridis","range":[0,1]}}}}"#,
            vizcast_protocol::f32_base64(&f32s)
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_are_mirrored_byte_for_byte_and_late_joiners_get_only_the_latest() {
    let vizcast = Vizcast::start(&[]).await;
    let mut early = vizcast.viewer().await;
    let mut producer = vizcast.producer().await;
    let frames = image_frames();
    producer.send_all(&frames).await;
    assert!(early.data(frames.len()).await == frames, "byte for byte");

    // Three newer images of cam/front: the history keeps only the last.
    let newer: Vec<String> = (0..3u8)
        .map(|i| {
            format!(
                r#"{{"stream":"cam/front","t":{},"image":{{"jpeg":"{}"}}}}"#,
                2 + i,
                b64(&jpeg_like(100_000, i))
            )
        })
        .collect();
    producer.send_all(&newer).await;
    assert!(early.data(newer.len()).await == newer);
    let mut late = vizcast.viewer().await;
    let snapshot = {
        // `viewer()` read the snapshot already: join again to look at it.
        let mut again = Viewer::connect(&vizcast.ws_url("/ws"), &[]).await.unwrap();
        again.join().await
    };
    let cams: Vec<&String> = snapshot
        .iter()
        .filter(|f| f.contains(r#""stream":"cam/front""#))
        .collect();
    assert_eq!(cams, [newer.last().unwrap()], "only the latest image");
    for frame in &frames[1..] {
        assert!(snapshot.contains(frame), "the other streams' images");
    }
    producer.send(r#"{"stream":"s","value":1}"#).await;
    assert_eq!(late.data(1).await, [r#"{"stream":"s","value":1}"#]);

    let (status, body) = vizcast.get("/api/streams", &[]).await;
    assert_eq!(status, 200);
    let streams: Value = serde_json::from_str(&body).unwrap();
    let heat = streams
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "sim/heat")
        .unwrap();
    assert_eq!(heat["kinds"], serde_json::json!(["image"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_images_get_a_clear_error_and_nothing_else_is_lost() {
    let vizcast = Vizcast::start(&["--max-image-pixels", "1000000"]).await;
    let mut viewer = vizcast.viewer().await;
    let mut producer = vizcast.producer().await;
    let real = vizcast_protocol::u8_base64(&{
        let mut jpeg = jpeg_like(2_000, 1);
        jpeg.truncate(jpeg.len() - 2);
        jpeg
    });
    let mut lying_png = [
        &[0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a][..],
        &[
            0, 0, 0, 13, b'I', b'H', b'D', b'R', 0, 0, 0x10, 0, 0, 0, 0x10, 0, 8, 2, 0, 0, 0,
        ],
        &[0, 0, 0, 0],
    ]
    .concat();
    // The header says 4096×4096, and its CRC does not match it.
    lying_png.extend_from_slice(&[0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xae, 0x42, 0x60, 0x82]);
    let cases = [
        (
            format!(r#"{{"stream":"cam","image":{{"jpeg":"{real}"}}}}"#),
            "EOI marker",
        ),
        (
            format!(
                r#"{{"stream":"cam","image":{{"png":"{}"}}}}"#,
                b64(&lying_png)
            ),
            "fails its CRC",
        ),
        (
            format!(
                r#"{{"stream":"cam","image":{{"shape":[4,4],"u8":"{}"}}}}"#,
                b64(&[0; 15])
            ),
            "15 bytes, but shape [4, 4] of u8 needs 16",
        ),
        (
            r#"{"stream":"cam","image":{"shape":[0,4],"u8":""}}"#.to_owned(),
            "0 pixels",
        ),
        (
            format!(
                r#"{{"stream":"cam","image":{{"jpeg":"{}"}}}}"#,
                b64(&jpeg_like(1_000, 2))
            ),
            "--max-image-pixels",
        ),
        (
            r#"{"stream":"cam","image":{"jpeg":"%%% not base64 %%%"}}"#.to_owned(),
            "invalid base64",
        ),
        (
            r#"{"stream":"cam","image":{"webp":"UklGRg=="}}"#.to_owned(),
            "unknown field \"webp\"",
        ),
        (
            r#"{"stream":"cam","image":{"shape":[2,2],"f32":"AAAA","colormap":"rainbow"}}"#
                .to_owned(),
            "unknown colormap",
        ),
    ];
    for (i, (frame, reason)) in cases.iter().enumerate() {
        producer.send(frame).await;
        let error = producer.error().await;
        let message = error["message"].as_str().unwrap();
        let reason = reason.replace("0 pixels", "4×0 pixels");
        assert!(message.contains(&reason), "case {i}: {message}");
        // The connection goes on, and a good frame after it arrives.
        let good = format!(r#"{{"stream":"s","value":{i}}}"#);
        producer.send(&good).await;
        assert_eq!(viewer.data(1).await, [good]);
    }
    let stats = vizcast.stats().await;
    assert_eq!(stats["ingest"]["rejected"], cases.len(), "{stats:#}");
    vizcast.wait_for_log("EOI marker").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_without_the_cameras_costs_no_image_byte() {
    let vizcast = Vizcast::start(&[]).await;
    let mut scalars_only = Viewer::connect(&vizcast.ws_url("/ws?streams=!cam/*"), &[])
        .await
        .unwrap();
    scalars_only.join().await;
    let mut producer = vizcast.producer().await;
    for i in 0..20u8 {
        producer
            .send_all(&[
                format!(
                    r#"{{"stream":"cam/front","image":{{"jpeg":"{}"}}}}"#,
                    b64(&jpeg_like(50_000, i))
                ),
                format!(r#"{{"stream":"s","value":{i}}}"#),
            ])
            .await;
    }
    let got = scalars_only.data(20).await;
    assert!(got.iter().all(|f| f.starts_with(r#"{"stream":"s""#)));
    let stats = vizcast.stats().await;
    let viewer = &stats["viewers"][0];
    assert_eq!(viewer["frames"], 20, "{stats:#}");
    assert!(
        viewer["filtered_bytes"].as_u64().unwrap() > 20 * 50_000,
        "{stats:#}"
    );
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// What a slow viewer received.
#[derive(Debug, Default)]
struct Seen {
    values: Vec<u64>,
    /// Age on arrival of each image, seconds.
    ages: Vec<f64>,
    image_bytes: u64,
    conflated_images: u64,
    lagged: u64,
}

/// Sends for `duration`: 10 samples of `s` every 10 ms (1 kHz, consecutive values) and a 1080p
/// JPEG of about 300 KB on `cam` at 30 Hz (9 MB/s); returns the samples and images sent.
async fn produce(mut producer: Producer, duration: Duration) -> (u64, u64) {
    let jpegs: Vec<String> = (0..8u8).map(|i| b64(&jpeg_like(300_000, i))).collect();
    let start = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let (mut next, mut images) = (0u64, 0u64);
    while start.elapsed() < duration {
        tick.tick().await;
        let values: Vec<String> = (next..next + 10).map(|v| v.to_string()).collect();
        let times: Vec<String> = (0..10)
            .map(|i| format!("{}", unix_now() + i as f64 * 1e-4))
            .collect();
        next += 10;
        let mut frames = vec![format!(
            r#"{{"stream":"s","t":[{}],"value":[{}]}}"#,
            times.join(","),
            values.join(",")
        )];
        if start.elapsed().as_secs_f64() * 30.0 >= images as f64 {
            frames.push(format!(
                r#"{{"stream":"cam","t":{},"image":{{"jpeg":"{}"}}}}"#,
                unix_now(),
                jpegs[images as usize % jpegs.len()]
            ));
            images += 1;
        }
        producer.send_all(&frames).await;
    }
    (next, images)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_on_a_4_mb_link_keeps_every_sample_and_gets_fresh_images() {
    let vizcast = Vizcast::start(&["--ping-timeout", "60"]).await;
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(64 * 1024).unwrap();
    let stream = socket.connect(vizcast.addr).await.unwrap();
    let io: Box<dyn Io> = Box::new(link::Link::new(stream, Some(4e6), Arc::default()));
    let (socket, _) = tokio_tungstenite::client_async(vizcast.ws_url("/ws"), io)
        .await
        .unwrap();
    let mut viewer = Viewer { socket };
    viewer.join().await;
    let producer = vizcast.producer().await;
    let run = Duration::from_secs(8);
    let deadline = Instant::now() + run + Duration::from_secs(3);
    let seen = Arc::new(Mutex::new(Seen::default()));
    let watcher = tokio::spawn({
        let seen = seen.clone();
        async move {
            while let Ok(Some(message)) =
                tokio::time::timeout_at(deadline.into(), viewer.socket.next()).await
            {
                let Message::Text(text) = message.unwrap() else {
                    continue;
                };
                let value: Value = serde_json::from_str(text.as_str()).unwrap();
                let mut seen = seen.lock();
                match value["vizcast"].as_str() {
                    Some("conflated") => {
                        seen.conflated_images += value["streams"]["cam"].as_u64().unwrap_or(0);
                    }
                    Some("lagged") => seen.lagged += 1,
                    Some(_) => {}
                    None if value["stream"] == "s" => {
                        let values = value["value"].as_array().unwrap();
                        seen.values
                            .extend(values.iter().map(|v| v.as_u64().unwrap()));
                    }
                    None => {
                        seen.ages.push(unix_now() - value["t"].as_f64().unwrap());
                        seen.image_bytes += text.len() as u64;
                    }
                }
            }
            viewer
        }
    });
    let (samples, images) = produce(producer, run).await;
    let _viewer = watcher.await.unwrap();
    let seen = std::mem::take(&mut *seen.lock());
    let mut ages = seen.ages.clone();
    ages.sort_by(f64::total_cmp);
    println!(
        "sent {samples} samples and {images} images; the 4 MB/s viewer got {} samples, {} images \
         ({} bytes), ages p50 {:.3} s max {:.3} s; {} reported skipped",
        seen.values.len(),
        seen.ages.len(),
        seen.image_bytes,
        ages.get(ages.len() / 2).copied().unwrap_or_default(),
        ages.last().copied().unwrap_or_default(),
        seen.conflated_images
    );
    assert_eq!(seen.lagged, 0, "conflated, never lagged");
    for (i, v) in seen.values.iter().enumerate() {
        assert_eq!(*v, i as u64, "sample {i}: a gap or a duplicate");
    }
    assert_eq!(seen.values.len() as u64, samples, "every scalar sample");
    assert!(
        (seen.ages.len() as u64) < images,
        "the link could not carry every image"
    );
    assert!(!seen.ages.is_empty(), "images came through");
    // The bound of the cloud test; the measured ages are printed above (about 0.1–0.5 s here).
    assert!(
        ages.last().is_some_and(|&age| age <= 2.0),
        "an image {ages:?} s old on arrival"
    );
    assert_eq!(
        seen.conflated_images + seen.ages.len() as u64,
        images,
        "every image was delivered or reported skipped"
    );
    let stats = vizcast.stats().await;
    let slow = &stats["viewers"][0];
    assert_eq!(
        slow["conflated_by_stream"]["cam"], seen.conflated_images,
        "{stats:#}"
    );
}
