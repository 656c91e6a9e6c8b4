//! Recording and replay of vizcast sessions.
//!
//! - [`Recorder`]: a [`vizcast_hub::FrameSink`] that writes every accepted message to an MCAP file
//!   (one channel per stream, JSON messages without a schema, the producer's bytes as they were),
//!   on a thread of its own behind a bounded queue. It never slows ingest; what it cannot write is
//!   reported exactly, in the log, in the status viewers see, and in the file itself (a
//!   `vizcast.gap` metadata record).
//! - [`Recording`]: opens an MCAP file (indexed, or cut short by a crash) or a JSON-lines file and
//!   yields its frames in order, from any time, and the state at any time (for seeking).
//! - [`Replay`]: feeds a recording into a hub in real time (or faster, or slower), with pause,
//!   seek and loop; viewers see it exactly as live.
//! - [`recover`]: rewrites a file cut short with a proper summary and index.
//! - [`export_jsonl`]: converts a recording to JSON lines.
//! - [`export_foxglove`]: converts a recording to MCAP in Foxglove's own schemas
//!   (`foxglove.PointCloud`, `foxglove.SceneUpdate`, `foxglove.Log`, and one for each stream's
//!   scalars), translated by `vizcast-foxglove`, so that the apps' 3D, Log and Plot panels show it.
//! - [`apps`]: the rules Lichtblick and Foxglove apply to a channel's schema, as a checker
//!   ([`apps::check_channel`]): what lets our recordings open in them, channel by channel.

pub mod apps;
mod error;
mod foxglove;
mod jsonl;
mod recorder;
mod recording;
mod recover;
mod replay;

pub use error::RecordError;
pub use foxglove::{FoxgloveExport, export_foxglove};
pub use jsonl::export_jsonl;
pub use recorder::{Compression, Recorder, RecorderOptions, RecordingSummary};
pub use recording::{Recording, RecordingInfo, ReplayFrame};
pub use recover::{RecoverReport, recover};
pub use replay::{Replay, ReplayOptions};

/// The JSON Schema of a message: the producers' contract (`assets/message.schema.json`).
///
/// Recordings name it in their `vizcast` metadata record ([`MESSAGE_SCHEMA_ID`]) but do not carry
/// it as a channel schema: Lichtblick and Foxglove cannot turn it into datatypes (see [`apps`]).
pub const MESSAGE_SCHEMA: &str = include_str!("../../../assets/message.schema.json");

/// The `$id` of [`MESSAGE_SCHEMA`], written as `message_schema` in a recording's `vizcast`
/// metadata record.
pub const MESSAGE_SCHEMA_ID: &str = "vizcast/message/v1";

/// Nanoseconds since the Unix epoch from seconds.
pub(crate) fn nanos(seconds: f64) -> u64 {
    if seconds.is_finite() && seconds > 0.0 {
        (seconds * 1e9) as u64
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_schema_id_is_the_schema_files() {
        let schema: serde_json::Value = serde_json::from_str(super::MESSAGE_SCHEMA).unwrap();
        assert_eq!(schema["$id"], super::MESSAGE_SCHEMA_ID);
    }
}
