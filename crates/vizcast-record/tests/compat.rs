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

/// Every message of an MCAP file read from the start: (topic, payload).
fn messages(path: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let bytes = std::fs::read(path).unwrap();
    mcap::MessageStream::new(&bytes)
        .unwrap()
        .map_while(Result::ok)
        .map(|m| (m.channel.topic.clone(), m.data.into_owned()))
        .collect()
}

#[test]
fn recovering_an_old_recording_drops_the_schema_the_apps_cannot_parse() {
    let old =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/cut-short-v0.1.mcap");
    // Old recordings carry the full protocol schema on every channel: the apps fail on it.
    let bytes = std::fs::read(&old).unwrap();
    let channels: Vec<_> = mcap::MessageStream::new(&bytes)
        .unwrap()
        .map_while(Result::ok)
        .map(|m| m.channel)
        .collect();
    assert!(channels.iter().all(|c| {
        let schema = c.schema.as_deref().map(|s| (s.encoding.as_str(), &*s.data));
        vizcast_record::apps::check_channel(&c.message_encoding, schema).is_err()
    }));

    let dir = std::env::temp_dir().join(format!("vizcast-compat-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fixed = dir.join("recovered.mcap");
    let report = vizcast_record::recover(&old, &fixed).unwrap();
    assert!(report.cut.is_some(), "the old file ends mid-chunk");

    let bytes = std::fs::read(&fixed).unwrap();
    let summary = mcap::Summary::read(&bytes).unwrap().expect("a summary");
    assert!(summary.schemas.is_empty(), "{:?}", summary.schemas);
    assert!(!summary.channels.is_empty());
    for channel in summary.channels.values() {
        assert!(channel.schema.is_none(), "{}", channel.topic);
        vizcast_record::apps::check_channel(&channel.message_encoding, None).unwrap();
        assert!(
            channel.metadata.contains_key("vizcast.kind"),
            "{}",
            channel.topic
        );
    }
    let index = summary
        .metadata_indexes
        .iter()
        .find(|m| m.name == "vizcast.recovered")
        .unwrap();
    let recovered = mcap::read::metadata(&bytes, index).unwrap().metadata;
    assert_eq!(recovered["dropped_schemas"], "vizcast.message");
    // The messages are the same bytes, and the recovered file replays.
    let copied = messages(&fixed);
    assert_eq!(copied.len() as u64, report.messages);
    assert_eq!(copied, messages(&old)[..copied.len()]);
    let frames = |path: &std::path::Path| -> Vec<String> {
        Recording::open(path)
            .unwrap()
            .frames_from(0)
            .unwrap()
            .map_while(Result::ok)
            .map(|f| f.text)
            .collect()
    };
    assert!(Recording::open(&fixed).unwrap().info().indexed);
    assert_eq!(frames(&fixed), frames(&old), "the same frames replay");
    std::fs::remove_dir_all(dir).ok();
}
