//! vizcast streams in Foxglove's own schemas, for Lichtblick and Foxglove.
//!
//! The translation knows no sockets and no files: a [`Translator`] takes the decoded messages of
//! each accepted frame once, in order, and returns Foxglove messages (JSON text) per channel,
//! which a writer puts in an MCAP file (`vizcast export --foxglove`) or a server sends to any
//! number of clients. Every channel has message encoding `json` and a `jsonschema` schema that
//! the apps turn into datatypes:
//!
//! | vizcast | channel | schema |
//! | --- | --- | --- |
//! | scalars (`value`, `values`, other numeric fields) | `/<stream>`, one message per sample, a `number` field per series (`value`, `ax`, `battery.volts`) and `timestamp` | `vizcast.Scalars/<stream>` |
//! | `points` | `/<stream>` | `foxglove.PointCloud`: x, y, z `float32` (+ red, green, blue, alpha `uint8`), frame `world` |
//! | `line` (and `append`) | `/<stream>` | `foxglove.SceneUpdate`: one entity (the stream) with the whole strip as one `LINE_STRIP` |
//! | `text` | `/<stream>` | `foxglove.Log` |
//! | `clear` | the channels at or below it | a deletion of each line entity, an empty cloud |
//!
//! A stream's first kind of data takes `/<stream>`; a further kind on the same stream gets
//! `/<stream>/scalars`, `/points`, `/line` or `/log`. What does not carry over is in
//! `docs/interop.md`.
//!
//! ```
//! use vizcast_foxglove::{Translator, TranslatorOptions};
//! use vizcast_protocol::{Limits, parse_frame};
//!
//! let mut translator = Translator::new(TranslatorOptions::default());
//! let text = r#"{"stream": "robot", "t": 2.5, "battery": {"volts": 12.1}}"#;
//! let frame = parse_frame(text, &Limits::default()).unwrap();
//! let out = translator.translate(text, &frame, 2_500_000_000);
//! let channel = translator.channel(out[0].channel).unwrap();
//! assert_eq!(channel.topic, "/robot");
//! assert_eq!(channel.schema_name, "vizcast.Scalars/robot");
//! assert_eq!(out[0].payload, r#"{"timestamp":{"sec":2,"nsec":500000000},"battery":{"volts":12.1}}"#);
//! ```
//!
//! # Layout
//!
//! - `translate`: the [`Translator`] and its per-stream state (channels, scalar fields, line
//!   strips); what each message becomes.
//! - `channel`: [`Channel`] (topic, encodings, schema; serialized as a Foxglove WebSocket
//!   `advertise` lists it), [`ChannelId`], [`ChannelKind`], [`ChannelChange`].
//! - [`schema`]: Foxglove's schema names and our JSON Schemas of them (`schemas/*.json`).
//! - `scalars`: a stream's series as nested fields, and their schema.
//! - [`payload`]: the message bodies with Foxglove's field names and enum values; the packing of
//!   points.

mod channel;
pub mod payload;
mod scalars;
pub mod schema;
mod translate;

pub use channel::{Channel, ChannelChange, ChannelId, ChannelKind};
pub use translate::{
    DEFAULT_LINE_COLOR, DEFAULT_LINE_WIDTH, Translated, Translator, TranslatorOptions,
};

/// The message encoding of every channel.
pub const MESSAGE_ENCODING: &str = "json";

/// The schema encoding of every channel.
pub const SCHEMA_ENCODING: &str = "jsonschema";

/// The frame of reference of every cloud and line: vizcast has one, the world.
pub const FRAME_ID: &str = "world";

#[cfg(test)]
mod tests;
