//! The [`Translator`]: decoded vizcast messages in, Foxglove messages out, per channel.
//!
//! It is fed every accepted frame once, in acceptance order, and keeps what Foxglove's messages
//! need beyond one frame: the channels (topics, schemas), the fields of each stream's scalars,
//! the line strip of each line stream (appends extend it; every `foxglove.SceneUpdate` carries the
//! whole strip, so the latest message of a topic is its state: a seek in the apps, or a client
//! that joins late, needs nothing older), and whether each cloud stream has colours (for the empty
//! cloud that a `clear` sends). The messages it returns are JSON text, ready to be written to a
//! file or sent to any number of clients.

use std::collections::{HashMap, HashSet};

use base64_simd::STANDARD;
use serde::Serialize;
use serde_json::{Map, Value};
use vizcast_protocol::{
    Colors, Image, ImageEncoding, Line, Message, PixelType, Points, Samples, Shape, Text, Time,
};

use crate::channel::{Channel, ChannelChange, ChannelId, ChannelKind};
use crate::payload::{
    self, Color, DELETE_MATCHING_ID, IDENTITY, LINE_STRIP, LinePrimitive, Log, PointCloud,
    SceneEntity, SceneEntityDeletion, SceneUpdate, Stamp, Vector3,
};
use crate::scalars::{self, Fields};
use crate::schema;

/// A line's colour when none is given, as vizcast's own viewers draw it.
pub const DEFAULT_LINE_COLOR: [u8; 3] = [249, 115, 22];

/// A line's width in pixels when none is given.
pub const DEFAULT_LINE_WIDTH: f32 = 2.0;

/// How a [`Translator`] bounds what it keeps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TranslatorOptions {
    /// Most vertices kept in one stream's line strip; beyond it the oldest eighth goes (as in the
    /// desktop store).
    pub max_line_vertices: usize,
}

impl Default for TranslatorOptions {
    fn default() -> Self {
        Self {
            max_line_vertices: 1 << 20,
        }
    }
}

/// One Foxglove message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Translated {
    /// Its channel ([`Translator::channel`]).
    pub channel: ChannelId,
    /// When it was received, ns since the Unix epoch: the frame's log time, except for the
    /// samples of a columnar batch before its last, which are placed earlier by their distance
    /// in `t` from the last (the batch arrived when its last sample was taken).
    pub log_time_ns: u64,
    /// The time it carries in its `timestamp` (its `t`, or the log time without one), ns.
    pub time_ns: u64,
    /// The message, JSON of the channel's schema.
    pub payload: String,
}

/// What a channel keeps between frames.
#[derive(Debug)]
enum State {
    Scalars(Fields),
    /// Whether the latest cloud had colours.
    Cloud {
        colored: bool,
    },
    Line(Strip),
    Log,
    Image,
}

#[derive(Debug)]
struct Slot {
    channel: Channel,
    state: State,
}

/// A stream's line strip.
#[derive(Debug, Default)]
struct Strip {
    positions: Vec<[f32; 3]>,
    /// One per position.
    colors: Vec<[u8; 3]>,
    width: Option<f32>,
}

impl Strip {
    fn apply(&mut self, line: &Line, max_vertices: usize) {
        if !line.append {
            self.positions.clear();
            self.colors.clear();
            self.width = None;
        }
        if line.width.is_some() {
            self.width = line.width;
        }
        self.positions.extend_from_slice(&line.positions);
        match &line.colors {
            Colors::Default => self.colors.extend(std::iter::repeat_n(
                DEFAULT_LINE_COLOR,
                line.positions.len(),
            )),
            Colors::Uniform(rgb) => self
                .colors
                .extend(std::iter::repeat_n(*rgb, line.positions.len())),
            Colors::PerPoint(rgb) => {
                self.colors.extend(
                    (0..line.positions.len()).map(|i| rgb.get(i).copied().unwrap_or_default()),
                );
            }
        }
        if self.positions.len() > max_vertices {
            // Drop at least an eighth at once, so a strip at its bound does not move every vertex
            // for every append.
            let excess = self.positions.len() - max_vertices;
            let drop = excess.max(max_vertices / 8).min(self.positions.len());
            self.positions.drain(..drop);
            self.colors.drain(..drop);
        }
    }

    fn clear(&mut self) {
        *self = Self::default();
    }

    /// The strip as one `LINE_STRIP`, without its non-finite vertices (vizcast's viewers skip
    /// them too); one `color` when every vertex has the same, otherwise one per vertex.
    fn primitive(&self) -> LinePrimitive {
        let mut points = Vec::with_capacity(self.positions.len());
        let mut colors = Vec::with_capacity(self.positions.len());
        for (p, rgb) in self.positions.iter().zip(&self.colors) {
            if p.iter().all(|v| v.is_finite()) {
                points.push(Vector3 {
                    x: p[0],
                    y: p[1],
                    z: p[2],
                });
                colors.push(*rgb);
            }
        }
        let first = colors.first().copied().unwrap_or(DEFAULT_LINE_COLOR);
        let colors = if colors.iter().all(|c| *c == first) {
            Vec::new()
        } else {
            colors.into_iter().map(Color::from_rgb8).collect()
        };
        LinePrimitive {
            kind: LINE_STRIP,
            pose: IDENTITY,
            thickness: self.width.unwrap_or(DEFAULT_LINE_WIDTH),
            scale_invariant: true,
            points,
            color: Color::from_rgb8(first),
            colors,
            indices: &[],
        }
    }
}

/// Translates vizcast messages into Foxglove messages, channel by channel (see the module docs).
#[derive(Debug, Default)]
pub struct Translator {
    options: TranslatorOptions,
    slots: Vec<Slot>,
    /// Each stream's channels, by kind (see [`kind_index`]).
    by_stream: HashMap<Box<str>, [Option<ChannelId>; 6]>,
    topics: HashSet<String>,
    changes: Vec<ChannelChange>,
}

fn kind_index(kind: ChannelKind) -> usize {
    match kind {
        ChannelKind::Scalars => 0,
        ChannelKind::PointCloud => 1,
        ChannelKind::SceneUpdate => 2,
        ChannelKind::Log => 3,
        ChannelKind::CompressedImage => 4,
        ChannelKind::RawImage => 5,
    }
}

impl Translator {
    /// A translator with no channels yet.
    pub fn new(options: TranslatorOptions) -> Self {
        Self {
            options,
            ..Self::default()
        }
    }

    /// Every channel so far, in the order they appeared (their ids are their positions).
    pub fn channels(&self) -> impl ExactSizeIterator<Item = &Channel> {
        self.slots.iter().map(|slot| &slot.channel)
    }

    /// One channel.
    pub fn channel(&self, id: ChannelId) -> Option<&Channel> {
        self.slots.get(id.0 as usize).map(|slot| &slot.channel)
    }

    /// What changed among the channels since the last call: channels added, scalar schemas that
    /// grew. A live server advertises these before sending the messages of the same
    /// [`Translator::translate`]; [`Translator::channel`] has their current schema.
    pub fn take_changes(&mut self) -> Vec<ChannelChange> {
        std::mem::take(&mut self.changes)
    }

    /// Declares the channels and scalar fields `messages` need, without translating them. A
    /// writer that must fix every channel's schema before its first message (an MCAP file) surveys
    /// all frames first; the channels then get the same ids and topics as when translating.
    pub fn survey(&mut self, messages: &[Message]) {
        for message in messages {
            if let Some(kind) = message.shape.as_ref().and_then(shape_kind) {
                self.channel_for(&message.stream, kind);
            }
            if !message.scalars.is_empty() {
                self.declare_scalars(message);
            }
        }
    }

    /// Translates the messages of one frame (`frame`, its text; `messages`, what it parsed into)
    /// received at `log_time_ns` (ns since the Unix epoch).
    ///
    /// Per message, in order: its shape (a cloud → `foxglove.PointCloud`, a line → the whole
    /// strip as a `foxglove.SceneUpdate`, a text → `foxglove.Log`, a JPEG or PNG →
    /// `foxglove.CompressedImage` and raw pixels → `foxglove.RawImage`, both with the frame's
    /// base64 as it is, a clear → a deletion of each line and an empty cloud for each cloud
    /// stream at or below it), then its scalars (one object per sample). New channels and grown
    /// schemas are in [`Translator::take_changes`].
    pub fn translate(
        &mut self,
        frame: &str,
        messages: &[Message],
        log_time_ns: u64,
    ) -> Vec<Translated> {
        let mut out = Vec::new();
        for message in messages {
            let time_ns = message.time.last().and_then(nanos).unwrap_or(log_time_ns);
            let at = |channel: ChannelId, payload: Option<String>| {
                payload.map(|payload| Translated {
                    channel,
                    log_time_ns,
                    time_ns,
                    payload,
                })
            };
            let stamp = Stamp::from_nanos(time_ns);
            match &message.shape {
                Some(Shape::Points(points)) => {
                    let id = self.channel_for(&message.stream, ChannelKind::PointCloud);
                    out.extend(at(id, self.cloud(id, points, stamp)));
                }
                Some(Shape::Line(line)) => {
                    let id = self.channel_for(&message.stream, ChannelKind::SceneUpdate);
                    out.extend(at(id, self.line(id, line, stamp)));
                }
                Some(Shape::Text(text)) => {
                    let id = self.channel_for(&message.stream, ChannelKind::Log);
                    out.extend(at(id, log(&message.stream, text, stamp)));
                }
                Some(Shape::Image(image)) => {
                    let id = self.channel_for(&message.stream, image_kind(image));
                    out.extend(at(id, translate_image(frame, image, stamp)));
                }
                Some(Shape::Clear) => {
                    for (id, payload) in self.clear(&message.stream, stamp) {
                        out.extend(at(id, Some(payload)));
                    }
                }
                None => {}
            }
            if !message.scalars.is_empty() {
                self.scalars(message, log_time_ns, &mut out);
            }
        }
        out
    }

    /// The channel of `stream` and `kind`, added when new: `/<stream>` for the stream's first
    /// channel, `/<stream>/<suffix>` for further kinds, with `~2`, `~3`… when that topic is taken.
    fn channel_for(&mut self, stream: &str, kind: ChannelKind) -> ChannelId {
        let kinds = self.by_stream.get(stream);
        if let Some(id) = kinds.and_then(|kinds| kinds[kind_index(kind)]) {
            return id;
        }
        let base = if kinds.is_some() {
            format!("/{stream}/{}", kind.topic_suffix())
        } else {
            format!("/{stream}")
        };
        let mut topic = base.clone();
        let mut n = 1;
        while self.topics.contains(&topic) {
            n += 1;
            topic = format!("{base}~{n}");
        }
        self.topics.insert(topic.clone());
        let id = ChannelId(self.slots.len() as u32);
        let (schema, state) = match kind {
            ChannelKind::Scalars => {
                let fields = Fields::new(stream);
                (
                    fields.schema(&kind.schema_name(stream)),
                    State::Scalars(fields),
                )
            }
            ChannelKind::PointCloud => (
                schema::POINT_CLOUD_SCHEMA.to_owned(),
                State::Cloud { colored: false },
            ),
            ChannelKind::SceneUpdate => (
                schema::SCENE_UPDATE_SCHEMA.to_owned(),
                State::Line(Strip::default()),
            ),
            ChannelKind::Log => (schema::LOG_SCHEMA.to_owned(), State::Log),
            ChannelKind::CompressedImage => {
                (schema::COMPRESSED_IMAGE_SCHEMA.to_owned(), State::Image)
            }
            ChannelKind::RawImage => (schema::RAW_IMAGE_SCHEMA.to_owned(), State::Image),
        };
        self.slots.push(Slot {
            channel: Channel::new(id, topic, stream, kind, schema),
            state,
        });
        self.by_stream.entry(stream.into()).or_default()[kind_index(kind)] = Some(id);
        self.changes.push(ChannelChange::Added(id));
        id
    }

    /// Declares the series of `message` on its stream's scalar channel; returns the channel and
    /// each scalar's field index.
    fn declare_scalars(&mut self, message: &Message) -> (ChannelId, Vec<usize>) {
        let id = self.channel_for(&message.stream, ChannelKind::Scalars);
        let slot = &mut self.slots[id.0 as usize];
        let State::Scalars(fields) = &mut slot.state else {
            return (id, Vec::new());
        };
        let mut grew = false;
        let indices = message
            .scalars
            .iter()
            .map(|scalar| {
                let (index, added) = fields.field(&scalar.path);
                grew |= added;
                index
            })
            .collect();
        if grew {
            slot.channel.schema = fields.schema(&slot.channel.schema_name);
            let change = ChannelChange::SchemaChanged(id);
            if !self.changes.contains(&ChannelChange::Added(id)) && !self.changes.contains(&change)
            {
                self.changes.push(change);
            }
        }
        (id, indices)
    }

    /// One message per sample: a columnar batch gives one per entry of its `t` (fields that are
    /// not columns go with the last), anything else one.
    fn scalars(&mut self, message: &Message, log_time_ns: u64, out: &mut Vec<Translated>) {
        let (id, indices) = self.declare_scalars(message);
        let State::Scalars(fields) = &self.slots[id.0 as usize].state else {
            return;
        };
        let sample = |i: Option<usize>, time_ns: u64| {
            let mut object = Map::new();
            for (scalar, &index) in message.scalars.iter().zip(&indices) {
                let value = match (&scalar.samples, i) {
                    (Samples::One(v), None) => Some(*v),
                    (Samples::One(v), Some(_)) => Some(*v).filter(|_| i == last_index(message)),
                    (Samples::Columns(vs), Some(i)) => vs.get(i).copied(),
                    (Samples::Columns(vs), None) => vs.last().copied(),
                };
                if let Some(value) = value {
                    scalars::set(&mut object, fields.names(index), value);
                }
            }
            // `timestamp` first (the map sorts its keys), then the series.
            let stamp = Stamp::from_nanos(time_ns);
            let fields = Value::Object(object).to_string();
            let rest = fields.strip_prefix('{').unwrap_or("}");
            let comma = if rest == "}" { "" } else { "," };
            format!(
                r#"{{"{}":{{"sec":{},"nsec":{}}}{comma}{rest}"#,
                scalars::TIMESTAMP_FIELD,
                stamp.sec,
                stamp.nsec
            )
        };
        match &message.time {
            Time::Columns(ts) if !ts.is_empty() => {
                let last_t = ts[ts.len() - 1];
                for (i, t) in ts.iter().enumerate() {
                    let time_ns = nanos(*t).unwrap_or(log_time_ns);
                    let before = last_t - t;
                    let log_time_ns = if before.is_finite() && before > 0.0 {
                        log_time_ns.saturating_sub((before * 1e9).round() as u64)
                    } else {
                        log_time_ns
                    };
                    out.push(Translated {
                        channel: id,
                        log_time_ns,
                        time_ns,
                        payload: sample(Some(i), time_ns),
                    });
                }
            }
            // An empty columnar batch has no sample, unless fields that are not columns go with it.
            Time::Columns(_)
                if message
                    .scalars
                    .iter()
                    .all(|s| matches!(s.samples, Samples::Columns(_))) => {}
            time => {
                let time_ns = time.last().and_then(nanos).unwrap_or(log_time_ns);
                out.push(Translated {
                    channel: id,
                    log_time_ns,
                    time_ns,
                    payload: sample(None, time_ns),
                });
            }
        }
    }

    fn cloud(&mut self, id: ChannelId, points: &Points, stamp: Stamp) -> Option<String> {
        let (bytes, colored) = payload::pack_points(&points.positions, &points.colors);
        if let State::Cloud { colored: c } = &mut self.slots[id.0 as usize].state {
            *c = colored;
        }
        let data = STANDARD.encode_to_string(&bytes);
        json(&PointCloud::new(stamp, colored, &data))
    }

    fn line(&mut self, id: ChannelId, line: &Line, stamp: Stamp) -> Option<String> {
        let max = self.options.max_line_vertices;
        let slot = &mut self.slots[id.0 as usize];
        let State::Line(strip) = &mut slot.state else {
            return None;
        };
        strip.apply(line, max);
        json(&SceneUpdate {
            deletions: Vec::new(),
            entities: vec![SceneEntity::new(
                stamp,
                &slot.channel.stream,
                vec![strip.primitive()],
            )],
        })
    }

    /// A `clear` of `stream`: for every channel at or below it, what clears it in the apps.
    fn clear(&mut self, stream: &str, stamp: Stamp) -> Vec<(ChannelId, String)> {
        let mut out = Vec::new();
        for slot in &mut self.slots {
            if !slot.channel.is_at_or_below(stream) {
                continue;
            }
            let payload = match &mut slot.state {
                State::Line(strip) => {
                    strip.clear();
                    json(&SceneUpdate {
                        deletions: vec![SceneEntityDeletion {
                            timestamp: stamp,
                            kind: DELETE_MATCHING_ID,
                            id: &slot.channel.stream,
                        }],
                        entities: Vec::new(),
                    })
                }
                State::Cloud { colored } => json(&PointCloud::new(stamp, *colored, "")),
                // Plots, logs and images keep their past: there is nothing to clear them with.
                State::Scalars(_) | State::Log | State::Image => None,
            };
            if let Some(payload) = payload {
                out.push((slot.channel.id, payload));
            }
        }
        out
    }
}

/// The index of the last sample of a columnar message.
fn last_index(message: &Message) -> Option<usize> {
    match &message.time {
        Time::Columns(ts) => ts.len().checked_sub(1),
        _ => None,
    }
}

fn shape_kind(shape: &Shape) -> Option<ChannelKind> {
    match shape {
        Shape::Points(_) => Some(ChannelKind::PointCloud),
        Shape::Line(_) => Some(ChannelKind::SceneUpdate),
        Shape::Text(_) => Some(ChannelKind::Log),
        Shape::Image(image) => Some(image_kind(image)),
        Shape::Clear => None,
    }
}

/// The channel kind of an image: compressed (JPEG, PNG) or raw.
fn image_kind(image: &Image) -> ChannelKind {
    match image.encoding {
        ImageEncoding::Jpeg | ImageEncoding::Png => ChannelKind::CompressedImage,
        ImageEncoding::Raw(_) => ChannelKind::RawImage,
    }
}

/// An image as `foxglove.CompressedImage` or `foxglove.RawImage`, its data the base64 of `frame`
/// as the producer wrote it (no decoding, no copy but into the message).
fn translate_image(frame: &str, image: &Image, stamp: Stamp) -> Option<String> {
    let data = frame.get(image.data.clone())?;
    match image.encoding {
        // The data is checked base64, which JSON never escapes: written around it in one copy
        // (serde checks every byte for escapes: 8.6 ms for a 4K image).
        ImageEncoding::Jpeg | ImageEncoding::Png => Some(format!(
            r#"{{"timestamp":{{"sec":{},"nsec":{}}},"frame_id":"{}","data":"{data}","format":"{}"}}"#,
            stamp.sec,
            stamp.nsec,
            crate::FRAME_ID,
            image.encoding.as_str()
        )),
        ImageEncoding::Raw(pixel) => {
            let encoding = match (pixel, image.channels) {
                (PixelType::U8, 1) => "mono8",
                (PixelType::U8, 3) => "rgb8",
                (PixelType::U8, 4) => "rgba8",
                (PixelType::U16, 1) => "mono16",
                (PixelType::F32, 1) => "32FC1",
                // The protocol accepts no other: nothing Foxglove could show.
                _ => return None,
            };
            let step = image.width * u32::from(image.channels) * pixel.size() as u32;
            Some(format!(
                r#"{{"timestamp":{{"sec":{},"nsec":{}}},"frame_id":"{}","width":{},"height":{},"encoding":"{encoding}","step":{step},"data":"{data}"}}"#,
                stamp.sec,
                stamp.nsec,
                crate::FRAME_ID,
                image.width,
                image.height
            ))
        }
    }
}

fn log(stream: &str, text: &Text, stamp: Stamp) -> Option<String> {
    json(&Log {
        timestamp: stamp,
        level: payload::log_level(text.level),
        message: &text.text,
        name: stream,
        file: "",
        line: 0,
    })
}

/// Nanoseconds since the epoch of a time in seconds; `None` for a negative or non-finite one
/// (Foxglove's `time` has no sign). Whole seconds and the fraction are converted apart: `t * 1e9`
/// of a Unix time would round to 256 ns (`1732406400.125` to `…124999936`).
fn nanos(seconds: f64) -> Option<u64> {
    if !seconds.is_finite() || seconds < 0.0 {
        return None;
    }
    let whole = seconds.floor();
    let fraction = ((seconds - whole) * 1e9).round() as u64;
    Some(
        (whole as u64)
            .saturating_mul(1_000_000_000)
            .saturating_add(fraction),
    )
}

/// Serializes a message body (our bodies always serialize; `None` would drop the message).
fn json(body: &impl Serialize) -> Option<String> {
    serde_json::to_string(body).ok()
}
