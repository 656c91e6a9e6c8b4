//! Byte-for-byte mirroring, order, batches and late joiners.

use std::time::Duration;

use crate::support::{Producer, Viewer, Vizcast, frames_of_every_kind};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_is_mirrored_byte_for_byte_and_in_order_to_three_viewers() {
    let vizcast = Vizcast::start(&[]).await;
    let mut viewers = vec![
        vizcast.viewer().await,
        vizcast.viewer().await,
        vizcast.viewer().await,
    ];
    let mut producer = vizcast.producer().await;

    let mut sent = frames_of_every_kind();
    sent.extend((0..2000).map(|i| format!(r#"{{"stream":"order","t":{i},"value":{i}}}"#)));
    producer.send_all(&sent).await;

    for viewer in &mut viewers {
        let received = viewer.data(sent.len()).await;
        for (i, (got, want)) in received.iter().zip(&sent).enumerate() {
            assert_eq!(got, want, "frame {i} differs");
        }
    }
    let stats = vizcast
        .wait_for_stats("all frames accepted", |s| {
            s["ingest"]["frames"] == sent.len()
        })
        .await;
    assert_eq!(stats["ingest"]["rejected"], 0);
    assert_eq!(stats["viewers"].as_array().unwrap().len(), 3);
}

/// The frames of `received` that are about stream `name`, in order.
fn of_stream(received: &[String], name: &str) -> Vec<String> {
    let quoted = format!("\"{name}\"");
    received
        .iter()
        .filter(|f| f.contains(&quoted))
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_producers_interleave_but_each_keeps_its_order() {
    let vizcast = Vizcast::start(&[]).await;
    let mut viewer = vizcast.viewer().await;
    let mut a = vizcast.producer().await;
    let mut b = vizcast.producer().await;
    let frames = |name: &str| -> Vec<String> {
        (0..500)
            .map(|i| format!(r#"{{"stream":"{name}","value":{i}}}"#))
            .collect()
    };
    let (fa, fb) = (frames("a"), frames("b"));
    tokio::join!(a.send_all(&fa), b.send_all(&fb));
    let received = viewer.data(1000).await;
    assert_eq!(of_stream(&received, "a"), fa);
    assert_eq!(of_stream(&received, "b"), fb);
}

/// Frames written to caught-up viewers by the ingest path itself (write-through) and frames
/// written by the viewers' own tasks (large frames, bursts, subscribed viewers) reach every viewer
/// in one order, the hub's, with nothing lost or doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn written_through_and_task_written_frames_reach_every_viewer_in_one_order() {
    let vizcast = Vizcast::start(&[]).await;
    let mut viewers = [
        vizcast.viewer().await,
        vizcast.viewer().await,
        vizcast.viewer().await,
    ];
    let mut subscribed = Viewer::connect(&vizcast.ws_url("/ws?streams=a"), &[])
        .await
        .unwrap();
    subscribed.join().await;
    let (mut a, mut b) = (vizcast.producer().await, vizcast.producer().await);
    let big = "7".repeat(20_000);
    // Each producer: paced small frames (written through), every tenth one 20 KB (written by the
    // tasks), and a burst of 200 in the middle.
    let frames = |name: &str| -> Vec<(String, bool)> {
        (0..300)
            .map(|i| {
                let value = if i % 10 == 9 { big.as_str() } else { "0" };
                let frame = format!(r#"{{"stream":"{name}","value":{i},"pad":"{value}"}}"#);
                (frame, !(100..200).contains(&i))
            })
            .collect()
    };
    let (fa, fb) = (frames("a"), frames("b"));
    async fn send(producer: &mut Producer, frames: Vec<(String, bool)>) {
        for (frame, paced) in frames {
            producer.send(&frame).await;
            if paced {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    }
    let [v1, v2, v3] = &mut viewers;
    let (_, _, first, second, third, only_a) = tokio::join!(
        send(&mut a, fa.clone()),
        send(&mut b, fb.clone()),
        v1.data(600),
        v2.data(600),
        v3.data(600),
        subscribed.data(300),
    );
    assert_eq!(second, first, "the viewers saw different orders");
    assert_eq!(third, first, "the viewers saw different orders");

    let stats = vizcast
        .wait_for_stats("every viewer's counts", |s| {
            s["viewers"].as_array().unwrap().iter().all(|v| {
                let all = v["subscription"][0] == "*";
                v["frames"] == if all { 600 } else { 300 }
            })
        })
        .await;
    for viewer in stats["viewers"].as_array().unwrap() {
        let through = viewer["written_through"].as_u64().unwrap();
        if viewer["subscription"][0] == "*" {
            // Both paths were taken: the small paced frames through, the 20 KB ones not.
            assert!(through > 0, "nothing was written through: {viewer}");
            assert!(
                through <= 540,
                "a 20 KB frame was written through: {viewer}"
            );
        } else {
            assert_eq!(
                through, 0,
                "a subscribed viewer is written by its task: {viewer}"
            );
        }
    }
    let texts = |frames: &[(String, bool)]| frames.iter().map(|f| f.0.clone()).collect::<Vec<_>>();
    assert_eq!(of_stream(&first, "a"), texts(&fa));
    assert_eq!(of_stream(&first, "b"), texts(&fb));
    assert_eq!(only_a, texts(&fa));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_joiner_gets_the_pinned_state_and_recent_history_then_live_frames_without_gap_or_duplicate()
 {
    let vizcast = Vizcast::start(&["--history-bytes", "8KiB"]).await;
    let mut producer = vizcast.producer().await;
    let cloud = r#"{"stream":"cloud","points":[[1,2,3]]}"#.to_owned();
    let slow = r#"{"stream":"slow","value":42}"#.to_owned();
    let old_cloud = r#"{"stream":"cloud","points":[[0,0,0]]}"#.to_owned();
    let mut first = vec![old_cloud, cloud.clone(), slow.clone()];
    first.extend((0..500).map(|i| format!(r#"{{"stream":"fast","value":{i}}}"#)));
    producer.send_all(&first).await;
    vizcast
        .wait_for_stats("history filled", |s| s["ingest"]["frames"] == first.len())
        .await;

    // A producer keeps streaming while a viewer joins: the seam between snapshot and live must
    // have no gap and no duplicate.
    let live: Vec<String> = (0..3000)
        .map(|i| format!(r#"{{"stream":"live","value":{i}}}"#))
        .collect();
    let sender = {
        let url = vizcast.ws_url("/ingest");
        let live = live.clone();
        tokio::spawn(async move {
            let mut producer = Producer::connect(&url, &[]).await.unwrap();
            for chunk in live.chunks(50) {
                producer.send_all(chunk).await;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(30)).await;
    let mut viewer = Viewer::connect(&vizcast.ws_url("/ws"), &[]).await.unwrap();
    let snapshot = viewer.join().await;

    // The pinned state comes first, the superseded cloud never, the history is within budget.
    assert_eq!(snapshot[0], cloud);
    assert_eq!(snapshot[1], slow);
    assert!(
        !snapshot.iter().any(|f| f.contains("[0,0,0]")),
        "a replaced cloud was sent"
    );
    assert!(snapshot.iter().map(String::len).sum::<usize>() <= 8 * 1024);
    let fast: Vec<&String> = snapshot.iter().filter(|f| f.contains("\"fast\"")).collect();
    assert_eq!(
        fast.last().unwrap().as_str(),
        r#"{"stream":"fast","value":499}"#
    );

    sender.await.unwrap();
    let index = |f: &str| -> Option<u64> {
        f.strip_prefix(r#"{"stream":"live","value":"#)
            .and_then(|r| r.trim_end_matches('}').parse().ok())
    };
    let mut seen: Vec<u64> = snapshot.iter().filter_map(|f| index(f)).collect();
    let first_seen = seen.first().copied();
    while seen.last().copied() != Some(2999) {
        let frame = viewer.data(1).await.remove(0);
        if let Some(i) = index(&frame) {
            seen.push(i);
        }
    }
    let start = first_seen.unwrap_or(seen[0]);
    let expected: Vec<u64> = (start..3000).collect();
    assert_eq!(
        seen, expected,
        "the live frames after the snapshot must continue it exactly"
    );
}
