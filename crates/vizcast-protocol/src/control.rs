//! The hub's own messages to viewers and producers.
//!
//! Every one is a JSON object whose first key is the reserved `"vizcast"`, naming the message type,
//! so a client can tell them from data by the prefix [`CONTROL_PREFIX`] without parsing. Producers'
//! frames can never start that way: the key is reserved.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Version of the wire protocol, sent in [`Control::Hello`].
pub const PROTOCOL_VERSION: u32 = 1;

/// Every control message, and no data frame, starts with these bytes.
pub const CONTROL_PREFIX: &str = "{\"vizcast\":";

/// Whether a frame received from the hub is one of its control messages.
pub fn is_control(frame: &str) -> bool {
    frame.starts_with(CONTROL_PREFIX)
}

/// A message from the hub.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "vizcast", rename_all = "snake_case")]
pub enum Control {
    /// First message on every connection.
    Hello {
        /// [`PROTOCOL_VERSION`].
        protocol: u32,
        /// vizcast's version.
        version: String,
        /// Random id of this run of the hub: a viewer that reconnects to another session resets its state.
        session: String,
        /// The hub's clock, Unix seconds.
        server_time: f64,
        /// `viewer` or `producer`.
        role: String,
    },
    /// The frames that follow, up to [`Control::SnapshotEnd`], are past state, not live data.
    SnapshotBegin {
        /// Why: `join` (history for a new viewer), `resync` (latest state after a lag), `reset` (a
        /// replay seeked or looped: start over) or `subscribe` (the history of streams newly
        /// subscribed to: add it, keep the rest).
        reason: String,
        /// Number of frames in the snapshot.
        frames: u64,
        /// Their total size.
        bytes: u64,
    },
    /// End of the snapshot: live frames follow.
    SnapshotEnd {
        /// Number of frames that were sent in the snapshot.
        frames: u64,
    },
    /// This viewer fell behind by a whole queue: frames were skipped, then the latest state of every
    /// stream among them is resent as a `resync` snapshot.
    Lagged {
        /// Frames this viewer will never see.
        dropped_frames: u64,
        /// Their size.
        dropped_bytes: u64,
        /// Total dropped for this viewer since it connected.
        total_dropped_frames: u64,
    },
    /// This viewer is behind, so the hub skipped frames that newer frames of the same streams had
    /// already replaced (older clouds, older line bases with their appends). Sent at most once a
    /// second while it lasts and once more when the viewer has caught up, counting what was
    /// skipped since the previous one. Scalar samples,
    /// events and `clear` are never skipped this way.
    Conflated {
        /// Frames skipped since the previous `conflated`.
        frames: u64,
        /// Their size.
        bytes: u64,
        /// Frames skipped since the previous `conflated`, by stream (a batch counts once for
        /// each of its streams).
        streams: BTreeMap<String, u64>,
        /// Frames skipped this way since the viewer connected.
        total_frames: u64,
    },
    /// The viewer's `subscribe` took effect: from now on it gets frames of these patterns only,
    /// after a `subscribe` snapshot of the history of the streams it newly asked for.
    Subscribed {
        /// The patterns (`*` is everything).
        streams: Vec<String>,
    },
    /// What the hub is doing besides mirroring: recording, replaying, sharing through NATS. Sent
    /// after `hello` when there is something to say, and whenever it changes (about once a second
    /// while recording).
    Status {
        /// The recording in progress, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        recording: Option<RecordingStatus>,
        /// The replay in progress, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        replay: Option<ReplayStatus>,
        /// The links to a NATS broker (`--nats-publish`, `--nats-subscribe`), if any (boxed: the
        /// largest part, rarely there).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        nats: Option<Box<NatsStatus>>,
    },
    /// Something this connection sent was refused, or the hub refuses the connection.
    Error {
        /// Class of error (`too_large`, `invalid`, `limit`, `read_only`, `rejected`...).
        code: String,
        /// What is wrong, for people.
        message: String,
        /// 1-based number of the refused frame on this connection, when it is about one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        frame: Option<u64>,
        /// Byte offset in that frame, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        offset: Option<usize>,
    },
}

/// A recording in progress.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RecordingStatus {
    /// The file being written.
    pub file: String,
    /// Bytes written so far.
    pub bytes: u64,
    /// Messages written so far.
    pub messages: u64,
    /// Seconds since the recording started.
    pub seconds: f64,
    /// Frames that could not be recorded (the disk was too slow, or the recording failed).
    pub unrecorded_frames: u64,
    /// Their bytes.
    pub unrecorded_bytes: u64,
    /// Why the recording stopped, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A replay in progress.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReplayStatus {
    /// The recording being replayed.
    pub file: String,
    /// `playing`, `paused` or `ended`.
    pub state: String,
    /// Seconds from the recording's start.
    pub position: f64,
    /// The recording's length in seconds.
    pub duration: f64,
    /// Playback speed; 0 means as fast as possible.
    pub speed: f64,
    /// Whether it starts over at the end.
    pub looping: bool,
}

/// The links of this hub to NATS brokers, as viewers are told (see `docs/scaling.md`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NatsStatus {
    /// `--nats-publish`: accepted frames go to the broker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish: Option<NatsLink>,
    /// `--nats-subscribe`: this hub is an edge fed by the broker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscribe: Option<NatsLink>,
}

/// One link to a NATS broker.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NatsLink {
    /// The broker's URL.
    pub server: String,
    /// Whether the connection is up now.
    pub connected: bool,
    /// Times it came back after being lost.
    pub reconnects: u64,
    /// Whether the broker keeps the vizcast JetStream stream (late-joining edges restore from it);
    /// unknown until connected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jetstream: Option<bool>,
    /// Publish: frames not sent to the broker (its queue was full). Subscribe: frames of other
    /// instances this edge never received (gaps in their sequence numbers).
    pub missed_frames: u64,
    /// Subscribe: gaps detected so far.
    pub gaps: u64,
    /// The latest gap, for people (which stream, from whom, how many frames).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_gap: Option<String>,
    /// What is missing or wrong, for people (no JetStream, the broker is gone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Subscribe: the edge is still restoring what the broker retained (viewers that joined now
    /// get the rest as live frames).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub restoring: bool,
}

impl Control {
    /// The message as JSON text.
    pub fn to_json(&self) -> String {
        // Serializing these plain structs cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_messages_start_with_the_prefix_and_round_trip() {
        let messages = [
            Control::Hello {
                protocol: PROTOCOL_VERSION,
                version: "0.1.0".into(),
                session: "abc".into(),
                server_time: 1.5,
                role: "viewer".into(),
            },
            Control::SnapshotBegin {
                reason: "join".into(),
                frames: 3,
                bytes: 10,
            },
            Control::SnapshotEnd { frames: 3 },
            Control::Lagged {
                dropped_frames: 1,
                dropped_bytes: 2,
                total_dropped_frames: 3,
            },
            Control::Conflated {
                frames: 2,
                bytes: 20,
                streams: BTreeMap::from([("lidar".to_owned(), 2)]),
                total_frames: 5,
            },
            Control::Subscribed {
                streams: vec!["imu".into()],
            },
            Control::Error {
                code: "invalid".into(),
                message: "x".into(),
                frame: Some(1),
                offset: None,
            },
        ];
        for message in messages {
            let json = message.to_json();
            assert!(is_control(&json), "{json}");
            assert_eq!(serde_json::from_str::<Control>(&json).unwrap(), message);
        }
    }
}
