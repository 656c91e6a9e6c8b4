//! Every recording kept in `tests/data/` still opens, replays completely and is accepted by a hub.

#![allow(missing_docs, clippy::unwrap_used)]

use std::path::PathBuf;

use vizcast_hub::{Hub, HubConfig, Utf8Bytes};
use vizcast_record::Recording;

fn data_files() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("mcap" | "jsonl")
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_committed_recording_replays_into_a_hub() {
    let files = data_files();
    assert!(files.len() >= 4, "{files:?}");
    for file in files {
        let recording =
            Recording::open(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let info = recording.info().clone();
        let hub = Hub::new(HubConfig::default()).unwrap();
        let mut frames = 0u64;
        let mut last = 0;
        let mut cut = None;
        for frame in recording.frames_from(0).unwrap() {
            match frame {
                Ok(frame) => {
                    assert!(
                        frame.log_time >= last,
                        "{}: frames in order",
                        file.display()
                    );
                    last = frame.log_time;
                    hub.ingest(Utf8Bytes::from(frame.text.as_str()))
                        .unwrap_or_else(|e| {
                            panic!("{}: a recorded frame is refused: {e}", file.display())
                        });
                    frames += 1;
                }
                Err(err) => {
                    cut = Some(err.to_string());
                    break;
                }
            }
        }
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        assert!(frames > 20, "{name}: {frames} frames");
        if name.starts_with("cut-short") {
            assert!(!info.indexed && info.problem.is_some(), "{name}: {info:?}");
            assert!(cut.is_some(), "{name} ends mid-chunk");
        } else {
            assert!(cut.is_none(), "{name}: {cut:?}");
            assert!(info.duration() > 1.0, "{name}: {info:?}");
        }
        if name.ends_with(".mcap") && info.indexed {
            assert_eq!(
                hub.stats().totals.messages,
                info.messages,
                "{name}: every message replayed"
            );
            // Seeking to the middle restores some state from the index.
            let middle = info.start + (info.end - info.start) / 2;
            assert!(
                !recording.state_before(middle, 1 << 20).unwrap().is_empty(),
                "{name}"
            );
        }
    }
}
