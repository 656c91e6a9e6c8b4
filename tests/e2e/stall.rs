//! A viewer that stops reading for seconds (a busy tab, garbage collection, a Wi-Fi roam) beside
//! the demo's 30 MB/s of clouds resumes with every scalar sample and the latest cloud, and is
//! not lagged: the live log counts only what a viewer that is behind would still be sent, so the
//! superseded clouds of the stall do not run it a queue past the viewer.

use std::time::Duration;

use serde_json::Value;

use crate::support::{Event, Viewer, Vizcast};

/// What a viewer read of the demo.
#[derive(Default)]
struct Seen {
    /// The first and last sample time of each `demo/signal` batch, in milliseconds.
    batches: Vec<(i64, i64)>,
    /// Clouds received after the stall.
    clouds_after_stall: usize,
    /// `conflated` notices, and the clouds they counted.
    conflated_clouds: u64,
    /// Control messages that must not come (`lagged`, a `resync` snapshot).
    lost: Vec<String>,
}

impl Seen {
    /// Reads one message; returns the last sample time (Unix seconds) of a signal batch.
    async fn read(&mut self, viewer: &mut Viewer, stalled: bool) -> Option<f64> {
        let text = match viewer.next().await {
            Event::Text(text) => text,
            other => panic!("the viewer's stream ended: {other:?}"),
        };
        if text.starts_with(r#"{"vizcast""#) {
            let control: Value = serde_json::from_str(&text).unwrap();
            match control["vizcast"].as_str().unwrap() {
                "conflated" => {
                    self.conflated_clouds += control["streams"]["demo/cloud"].as_u64().unwrap_or(0);
                }
                "lagged" => self.lost.push(text),
                "snapshot_begin" if control["reason"] == "resync" => self.lost.push(text),
                _ => {}
            }
            return None;
        }
        if text.starts_with(r#"{"stream":"demo/cloud""#) && stalled {
            self.clouds_after_stall += 1;
        }
        if !text.starts_with(r#"[{"stream":"demo/signal/sine""#) {
            return None;
        }
        let batch: Value = serde_json::from_str(&text).unwrap();
        let times = batch[0]["t"].as_array().unwrap();
        let ms = |t: &Value| (t.as_f64().unwrap() * 1000.0).round() as i64;
        let (first, last) = (ms(&times[0]), ms(times.last().unwrap()));
        self.batches.push((first, last));
        Some(last as f64 / 1000.0)
    }
}

/// Joins the demo, reads for a second, stops reading for `stall`, then reads until it has caught
/// up with what was sent a second after it resumed.
async fn stall_beside_the_demo(stall: Duration) {
    // Half the default queue: a debug build's demo makes its clouds at about 12 MB/s (a release
    // build at 30 MB/s), and the queue must be well short of the stall's clouds for the test to
    // mean anything.
    let vizcast = Vizcast::start(&["--demo", "--viewer-queue-bytes", "16MiB"]).await;
    let mut viewer = vizcast.viewer().await;
    let mut seen = Seen::default();
    let reading = tokio::time::Instant::now() + Duration::from_secs(1);
    while tokio::time::Instant::now() < reading {
        seen.read(&mut viewer, false).await;
    }
    // The hub's socket to the viewer fills within milliseconds; the log runs on.
    tokio::time::sleep(stall).await;
    let resumed = vizcast_hub::unix_now();
    loop {
        if seen
            .read(&mut viewer, true)
            .await
            .is_some_and(|t| t > resumed + 1.0)
        {
            break;
        }
    }
    assert!(
        seen.lost.is_empty(),
        "a viewer stalled for {stall:?} lost frames: {:?}",
        seen.lost
    );
    // Every sample: each batch starts a millisecond after the one before ends.
    let gaps: Vec<_> = seen
        .batches
        .windows(2)
        .filter(|w| w[1].0 != w[0].1 + 1)
        .map(|w| (w[0].1, w[1].0))
        .collect();
    assert!(
        gaps.is_empty(),
        "gaps in demo/signal after a {stall:?} stall (last ms, next first ms): {gaps:?}"
    );
    let covered = (seen.batches.last().unwrap().1 - seen.batches[0].0) as f64 / 1000.0;
    assert!(
        covered > stall.as_secs_f64() + 1.5,
        "the samples cover the stall ({covered} s)"
    );
    // The stall's clouds were skipped as superseded, and said so: the notice comes at most once
    // a second, so it may follow the last sample read above.
    let told = tokio::time::Instant::now() + Duration::from_secs(10);
    while seen.conflated_clouds == 0 && tokio::time::Instant::now() < told {
        seen.read(&mut viewer, true).await;
    }
    assert!(seen.conflated_clouds > 0, "clouds were conflated");
    assert!(seen.clouds_after_stall > 0, "a cloud after the stall");
    let stats = vizcast.stats().await;
    let viewer_stats = &stats["viewers"][0];
    assert_eq!(viewer_stats["lagged"], 0, "{stats:#}");
    assert!(
        stats["live_log"]["bytes"].as_u64().unwrap()
            <= stats["limits"]["viewer_queue_bytes"].as_u64().unwrap(),
        "{stats:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_that_stalls_for_3_s_keeps_every_sample() {
    stall_beside_the_demo(Duration::from_secs(3)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_that_stalls_for_10_s_keeps_every_sample() {
    stall_beside_the_demo(Duration::from_secs(10)).await;
}
