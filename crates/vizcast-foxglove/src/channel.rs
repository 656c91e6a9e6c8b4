//! Channels: one per stream and kind of data, each with its topic, schema and encodings, as a
//! Foxglove client is told of them (an MCAP channel, or a WebSocket `advertise`).

use serde::Serialize;

use crate::{MESSAGE_ENCODING, SCHEMA_ENCODING, schema};

/// A channel's number, dense from 0 in the order channels appear.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ChannelId(pub u32);

/// What a channel carries, and so its schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChannelKind {
    /// A stream's scalar series: one object per sample ([`schema::SCALARS_PREFIX`]).
    Scalars,
    /// A stream's clouds: `foxglove.PointCloud`.
    PointCloud,
    /// A stream's line strip: `foxglove.SceneUpdate`.
    SceneUpdate,
    /// A stream's text events: `foxglove.Log`.
    Log,
    /// A stream's JPEG and PNG images: `foxglove.CompressedImage`.
    CompressedImage,
    /// A stream's raw images: `foxglove.RawImage`.
    RawImage,
}

impl ChannelKind {
    /// The schema name; scalar channels add their stream to [`schema::SCALARS_PREFIX`].
    pub fn schema_name(self, stream: &str) -> String {
        match self {
            Self::Scalars => format!("{}{stream}", schema::SCALARS_PREFIX),
            Self::PointCloud => schema::POINT_CLOUD.to_owned(),
            Self::SceneUpdate => schema::SCENE_UPDATE.to_owned(),
            Self::Log => schema::LOG.to_owned(),
            Self::CompressedImage => schema::COMPRESSED_IMAGE.to_owned(),
            Self::RawImage => schema::RAW_IMAGE.to_owned(),
        }
    }

    /// What the topic of this kind ends with when another kind of the same stream came first and
    /// took `/<stream>` (`/robot/scalars`).
    pub fn topic_suffix(self) -> &'static str {
        match self {
            Self::Scalars => "scalars",
            Self::PointCloud => "points",
            Self::SceneUpdate => "line",
            Self::Log => "log",
            Self::CompressedImage => "image",
            Self::RawImage => "raw",
        }
    }
}

/// One channel, serialized as a Foxglove WebSocket `advertise` lists it (`id`, `topic`,
/// `encoding`, `schemaName`, `schema`, `schemaEncoding`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Channel {
    /// Its number.
    pub id: ChannelId,
    /// The topic: `/<stream>` (see [`ChannelKind::topic_suffix`] for a stream's further kinds).
    pub topic: String,
    /// Message encoding: always [`MESSAGE_ENCODING`] (`json`).
    pub encoding: &'static str,
    /// The schema's name (`foxglove.PointCloud`, `vizcast.Scalars/<stream>`…).
    pub schema_name: String,
    /// The JSON Schema, as text.
    pub schema: String,
    /// Schema encoding: always [`SCHEMA_ENCODING`] (`jsonschema`).
    pub schema_encoding: &'static str,
    /// The vizcast stream it carries.
    #[serde(skip)]
    pub stream: Box<str>,
    /// What it carries.
    #[serde(skip)]
    pub kind: ChannelKind,
}

impl Channel {
    pub(crate) fn new(
        id: ChannelId,
        topic: String,
        stream: &str,
        kind: ChannelKind,
        schema: String,
    ) -> Self {
        Self {
            id,
            topic,
            encoding: MESSAGE_ENCODING,
            schema_name: kind.schema_name(stream),
            schema,
            schema_encoding: SCHEMA_ENCODING,
            stream: stream.into(),
            kind,
        }
    }

    /// Whether this channel's stream is `stream` or below it (what a `clear` of `stream` clears).
    pub fn is_at_or_below(&self, stream: &str) -> bool {
        self.stream
            .strip_prefix(stream)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }
}

/// What changed among the channels: tell clients before sending them messages of the channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelChange {
    /// A new channel.
    Added(ChannelId),
    /// A scalar channel's schema grew (a series it had not carried): advertise it again.
    SchemaChanged(ChannelId),
}
