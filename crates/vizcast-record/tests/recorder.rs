//! The recorder never blocks ingest, and accounts exactly for what it could not write.

#![allow(missing_docs, clippy::unwrap_used)]

use vizcast_hub::{Hub, HubConfig, Utf8Bytes};
use vizcast_record::{Compression, Recorder, RecorderOptions, Recording};

#[test]
fn frames_that_do_not_fit_the_queue_are_reported_in_the_file_and_the_summary() {
    let dir = tempfile_dir();
    let path = dir.join("gaps.mcap");
    let hub = Hub::new(HubConfig::default()).unwrap();
    // A queue of 16 KiB (4 frames) and an 8 MiB burst: much of it cannot be queued in time.
    let options = RecorderOptions {
        queue_bytes: 16 * 1024,
        compression: Compression::Zstd,
        ..RecorderOptions::default()
    };
    let recorder = Recorder::start(hub.clone(), &path, options).unwrap();
    let pad = "p".repeat(4000);
    let total = 2000u64;
    for i in 0..total {
        hub.ingest(Utf8Bytes::from(format!(
            r#"{{"stream":"burst","value":{i},"pad":"{pad}"}}"#
        )))
        .unwrap();
    }
    let summary = recorder.finish().unwrap();
    assert!(
        summary.unrecorded_frames > 0,
        "the burst should overflow a 16 KiB queue: {summary:?}"
    );
    assert_eq!(
        summary.frames + summary.unrecorded_frames,
        total,
        "every frame is either written or counted: {summary:?}"
    );

    let recording = Recording::open(&path).unwrap();
    let info = recording.info();
    assert_eq!(info.messages, summary.messages);
    assert!(!info.gaps.is_empty(), "the gaps are written into the file");
    let listed: u64 = info
        .gaps
        .iter()
        .map(|g| {
            g.split(" (")
                .nth(1)
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .parse::<u64>()
                .unwrap()
        })
        .sum();
    assert_eq!(listed, summary.unrecorded_frames, "{:?}", info.gaps);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn with_room_in_the_queue_nothing_is_lost() {
    let dir = tempfile_dir();
    let path = dir.join("full.mcap");
    let hub = Hub::new(HubConfig::default()).unwrap();
    let recorder = Recorder::start(hub.clone(), &path, RecorderOptions::default()).unwrap();
    for i in 0..5000 {
        hub.ingest(Utf8Bytes::from(format!(
            r#"[{{"stream":"a","value":{i}}},{{"stream":"b","text":"{i}"}}]"#
        )))
        .unwrap();
    }
    let summary = recorder.finish().unwrap();
    assert_eq!(
        (summary.frames, summary.messages, summary.unrecorded_frames),
        (5000, 10000, 0)
    );
    let recording = Recording::open(&path).unwrap();
    let frames: Vec<String> = recording
        .frames_from(0)
        .unwrap()
        .map(|f| f.unwrap().text)
        .collect();
    assert_eq!(frames.len(), 5000);
    assert_eq!(
        frames[7],
        r#"[{"stream":"a","value":7},{"stream":"b","text":"7"}]"#
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn channels_carry_no_schema_and_the_metadata_names_the_protocols() {
    let dir = tempfile_dir();
    let path = dir.join("apps.mcap");
    let hub = Hub::new(HubConfig::default()).unwrap();
    let recorder = Recorder::start(hub.clone(), &path, RecorderOptions::default()).unwrap();
    for frame in [
        r#"{"stream":"s","t":[1,2],"value":[0.5,0.25]}"#,
        r##"{"stream":"c","points":[[0,0,0]],"colors":["#ff0000"]}"##,
        r#"{"stream":"l","line":[[0,0,0],[1,1,1]]}"#,
        r#"{"stream":"e","text":"hi","level":"info"}"#,
    ] {
        hub.ingest(Utf8Bytes::from(frame)).unwrap();
    }
    recorder.finish().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let summary = mcap::Summary::read(&bytes).unwrap().unwrap();
    assert!(summary.schemas.is_empty());
    assert_eq!(summary.channels.len(), 4);
    for channel in summary.channels.values() {
        assert!(channel.schema.is_none(), "{}", channel.topic);
        vizcast_record::apps::check_channel(&channel.message_encoding, None).unwrap();
    }
    let index = summary
        .metadata_indexes
        .iter()
        .find(|m| m.name == "vizcast")
        .unwrap();
    let metadata = mcap::read::metadata(&bytes, index).unwrap().metadata;
    assert_eq!(
        metadata["message_schema"],
        vizcast_record::MESSAGE_SCHEMA_ID
    );
    std::fs::remove_dir_all(dir).ok();
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "vizcast-record-test-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}
