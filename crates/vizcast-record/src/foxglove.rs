//! Exporting a recording in Foxglove's own schemas: an MCAP file whose clouds, lines and text
//! events the 3D and Log panels of Lichtblick and Foxglove show, and whose scalars they plot.
//!
//! Every frame is decoded and translated once by a [`vizcast_foxglove::Translator`]. An MCAP
//! channel's schema is fixed when the channel is written, and a stream's scalar schema grows with
//! each series first seen, so the recording is read twice: a survey of every frame fixes the
//! channels and their schemas, then the frames are translated and written. Channels are JSON
//! (`json`) with `jsonschema` schemas, which [`apps::check_channel`](crate::apps::check_channel)
//! accepts; chunks are zstd-compressed and the file is indexed. A message's log time is its
//! frame's log time in the recording (the samples of a columnar batch before its last are placed
//! earlier by their distance in `t`, see [`vizcast_foxglove::Translated::log_time_ns`]); its
//! publish time is the time it carries; its sequence number is its frame's number in the file.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use mcap::records::{MessageHeader, Metadata};
use vizcast_foxglove::{ChannelId, Translator, TranslatorOptions};
use vizcast_protocol::{Limits, Message, parse_frame};

use crate::{RecordError, Recording};

/// What [`export_foxglove`] wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FoxgloveExport {
    /// Frames read and translated.
    pub frames: u64,
    /// Messages written.
    pub messages: u64,
    /// Channels written.
    pub channels: usize,
    /// Frames that are not valid vizcast frames (skipped).
    pub invalid_frames: u64,
    /// The first invalid frame's error, if any.
    pub first_invalid: Option<String>,
    /// Why reading stopped before the end of the recording, if it did (a file cut short).
    pub cut: Option<String>,
}

/// Frames in a recording were validated when they were accepted, under the limits of that hub,
/// which may have been raised: read them back under the widest limits.
fn limits() -> Limits {
    Limits {
        max_frame_bytes: usize::MAX,
        max_depth: Limits::MAX_DEPTH_CEILING,
        max_points: usize::MAX,
        max_stream_name_bytes: usize::MAX,
        max_fields: usize::MAX,
        max_image_pixels: u64::MAX,
    }
}

/// Reads every frame of `recording` in order: its decoded messages and log time, or why it is
/// not a valid frame. Stops at the first frame that cannot be read (the reason is returned).
fn for_each_frame(
    recording: &Recording,
    mut each: impl FnMut(Result<(&str, &[Message], u64), String>) -> Result<(), RecordError>,
) -> Result<Option<String>, RecordError> {
    let limits = limits();
    for frame in recording.frames_from(0)? {
        let frame = match frame {
            Ok(frame) => frame,
            Err(err) => return Ok(Some(err.to_string())),
        };
        match parse_frame(&frame.text, &limits) {
            Ok(messages) => each(Ok((&frame.text, &messages, frame.log_time)))?,
            Err(err) => each(Err(err.to_string()))?,
        }
    }
    Ok(None)
}

/// Writes `recording` to `out` (replacing it) as MCAP in Foxglove's schemas; see the module docs.
pub fn export_foxglove(recording: &Recording, out: &Path) -> Result<FoxgloveExport, RecordError> {
    let mut translator = Translator::new(TranslatorOptions::default());
    for_each_frame(recording, |frame| {
        if let Ok((_, messages, _)) = frame {
            translator.survey(messages);
        }
        Ok(())
    })?;
    translator.take_changes();

    let file = File::create(out).map_err(|e| RecordError::io(out, e))?;
    let mcap_err = |e| RecordError::mcap(out, e);
    let mut writer = mcap::WriteOptions::new()
        .compression(Some(mcap::Compression::Zstd))
        .chunk_size(Some(1 << 20))
        .profile("")
        .library(concat!("vizcast ", env!("CARGO_PKG_VERSION")))
        .create(BufWriter::with_capacity(1 << 20, file))
        .map_err(mcap_err)?;
    let source = recording
        .path()
        .file_name()
        .map_or_else(String::new, |name| name.to_string_lossy().into_owned());
    writer
        .write_metadata(&Metadata {
            name: "vizcast.foxglove".to_owned(),
            metadata: BTreeMap::from([
                ("version".to_owned(), env!("CARGO_PKG_VERSION").to_owned()),
                ("source".to_owned(), source),
            ]),
        })
        .map_err(mcap_err)?;

    let mut report = FoxgloveExport::default();
    // Translator channel → MCAP channel, written with the first message of each.
    let mut channels: HashMap<ChannelId, u16> = HashMap::new();
    report.cut = for_each_frame(recording, |frame| {
        let (text, messages, log_time) = match frame {
            Ok(frame) => frame,
            Err(err) => {
                report.invalid_frames += 1;
                report.first_invalid.get_or_insert(err);
                return Ok(());
            }
        };
        let sequence = report.frames as u32;
        report.frames += 1;
        for message in translator.translate(text, messages, log_time) {
            let channel = match channels.get(&message.channel) {
                Some(&id) => id,
                None => {
                    let Some(channel) = translator.channel(message.channel) else {
                        continue;
                    };
                    let schema = writer
                        .add_schema(
                            &channel.schema_name,
                            channel.schema_encoding,
                            channel.schema.as_bytes(),
                        )
                        .map_err(mcap_err)?;
                    let metadata =
                        BTreeMap::from([("vizcast.stream".to_owned(), channel.stream.to_string())]);
                    let id = writer
                        .add_channel(schema, &channel.topic, channel.encoding, &metadata)
                        .map_err(mcap_err)?;
                    channels.insert(message.channel, id);
                    id
                }
            };
            writer
                .write_to_known_channel(
                    &MessageHeader {
                        channel_id: channel,
                        sequence,
                        log_time: message.log_time_ns,
                        publish_time: message.time_ns,
                    },
                    message.payload.as_bytes(),
                )
                .map_err(mcap_err)?;
            report.messages += 1;
        }
        Ok(())
    })?;
    writer.finish().map_err(mcap_err)?;
    report.channels = channels.len();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use super::*;
    use crate::apps;

    fn data(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/data")
            .join(name)
    }

    /// Exports `name` from `tests/data` and reads the result back: (schema name, messages) by topic.
    fn export(name: &str) -> (FoxgloveExport, BTreeMap<String, (String, u64)>, Vec<u8>) {
        let dir = std::env::temp_dir().join(format!(
            "vizcast-foxglove-export-{}-{name}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("out.mcap");
        let recording = Recording::open(&data(name)).unwrap();
        let report = export_foxglove(&recording, &out).unwrap();
        let bytes = std::fs::read(&out).unwrap();
        std::fs::remove_dir_all(&dir).ok();
        let summary = mcap::Summary::read(&bytes).unwrap().expect("a summary");
        assert!(!summary.chunk_indexes.is_empty(), "chunked and indexed");
        let mut topics = BTreeMap::new();
        for channel in summary.channels.values() {
            let schema = channel.schema.as_ref().expect("every channel has a schema");
            apps::check_channel(
                &channel.message_encoding,
                Some((&schema.encoding, &schema.data)),
            )
            .unwrap_or_else(|p| panic!("{}: the apps would refuse it: {p}", channel.topic));
            topics.insert(channel.topic.clone(), (schema.name.clone(), 0));
        }
        for message in mcap::MessageStream::new(&bytes).unwrap() {
            let message = message.unwrap();
            let body: serde_json::Value = serde_json::from_slice(&message.data).unwrap();
            assert!(body.is_object());
            topics.get_mut(&message.channel.topic).unwrap().1 += 1;
        }
        assert_eq!(summary.stats.unwrap().message_count, report.messages);
        (report, topics, bytes)
    }

    #[test]
    fn every_kind_becomes_foxgloves_schema_on_its_streams_topic() {
        for name in ["every-kind-v0.1.mcap", "every-kind-v0.1.jsonl"] {
            let (report, topics, _) = export(name);
            assert_eq!(report.invalid_frames, 0, "{name}: {report:?}");
            assert_eq!(report.cut, None);
            assert_eq!(report.channels, topics.len());
            let schema = |topic: &str| topics.get(topic).map(|(s, _)| s.as_str());
            assert_eq!(schema("/lidar"), Some("foxglove.PointCloud"), "{topics:?}");
            assert_eq!(schema("/lidar/plain"), Some("foxglove.PointCloud"));
            assert_eq!(schema("/path"), Some("foxglove.SceneUpdate"));
            assert_eq!(schema("/events"), Some("foxglove.Log"));
            assert_eq!(schema("/batch/b"), Some("foxglove.Log"));
            assert_eq!(schema("/imu"), Some("vizcast.Scalars/imu"));
            assert_eq!(schema("/robot"), Some("vizcast.Scalars/robot"));
            assert_eq!(schema("/signal"), Some("vizcast.Scalars/signal"));
            assert!(topics.values().all(|(_, n)| *n > 0), "{topics:?}");
        }
    }

    #[test]
    fn a_recording_cut_short_is_exported_as_far_as_it_is_intact() {
        let (report, topics, _) = export("cut-short-v0.1.mcap");
        assert!(report.frames > 0 && report.messages > 0, "{report:?}");
        assert!(report.cut.is_some(), "it ends mid-chunk: {report:?}");
        assert!(!topics.is_empty());
    }
}
