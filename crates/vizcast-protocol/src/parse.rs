//! Parsing and validation of one frame, in a single pass over its bytes.
//!
//! A frame is one JSON object (a message) or a JSON array of objects (a batch). Each message is
//! deserialized straight into its decoded form ([`Message`]) by hand-written serde visitors: no
//! intermediate `serde_json::Value`, no second pass. Errors carry a JSON path relative to the value
//! being visited (`[3]: expected 3 numbers, got 2`); every enclosing level prepends its own segment,
//! so the frame's error reads `points[3]: expected 3 numbers, got 2` or, in a batch,
//! `[2].points[3]: …`. Large `points` and `line` arrays written as JSON text are decoded ahead of
//! the visitors by the fast path of [`crate::fast`], which gives exactly what they would.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::ops::Range;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::error::{FrameError, FrameErrorKind};
use crate::fast;
use crate::image::{Colormap, Image, ImageEncoding, PixelType, jpeg_header, png_header};
use crate::limits::Limits;
use crate::message::{
    Colors, Level, Line, Message, Points, Samples, Scalar, Shape, Text, Time, series_name,
};

/// Parses and validates one frame. On success every message is decoded; on error nothing is.
pub fn parse_frame(text: &str, limits: &Limits) -> Result<Vec<Message>, FrameError> {
    if text.len() > limits.max_frame_bytes {
        return Err(FrameError::too_large(text.len(), limits.max_frame_bytes));
    }
    let bytes = text.as_bytes();
    let start = bytes.iter().position(|b| !is_ws(*b)).unwrap_or(bytes.len());
    match bytes.get(start) {
        Some(b'{') => {
            let end = trimmed_end(bytes, start);
            let message = parse_message(text, start..end, 1, limits).map_err(|(err, _)| err)?;
            Ok(vec![message])
        }
        Some(b'[') => {
            let spans = split_batch(bytes, start, limits.max_depth)?;
            if spans.is_empty() {
                return Err(FrameError::new(
                    FrameErrorKind::Invalid,
                    "empty batch: a batch holds at least one message",
                )
                .at(start));
            }
            let mut messages = Vec::with_capacity(spans.len());
            for (index, span) in spans.into_iter().enumerate() {
                let message =
                    parse_message(text, span, 2, limits).map_err(|(mut err, qualified)| {
                        let sep = if qualified { "." } else { ": " };
                        err.message = format!("[{index}]{sep}{}", err.message);
                        err
                    })?;
                messages.push(message);
            }
            Ok(messages)
        }
        Some(_) => Err(FrameError::new(
            FrameErrorKind::Invalid,
            "expected a JSON object (a message) or an array of objects (a batch)",
        )
        .at(start)),
        None => Err(FrameError::new(FrameErrorKind::Invalid, "empty frame")),
    }
}

/// JSON's four whitespace bytes.
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

fn trimmed_end(bytes: &[u8], start: usize) -> usize {
    let mut end = bytes.len();
    while end > start && is_ws(bytes[end - 1]) {
        end -= 1;
    }
    end
}

/// Shared state of one message's visitors: the limits, and what class of error was raised.
struct Ctx<'l> {
    limits: &'l Limits,
    kind: Cell<FrameErrorKind>,
    /// Whether the error's message starts with a field path (so a batch index joins it with `.`).
    qualified: Cell<bool>,
    /// `points` decoded by the fast path; its place in the text holds a placeholder.
    fast_points: Cell<Option<Vec<[f32; 3]>>>,
    /// `line` decoded by the fast path; its place in the text holds a placeholder.
    fast_line: Cell<Option<Vec<[f32; 3]>>>,
    /// Where the text serde reads starts in memory: borrowed strings' places in it are their
    /// address less this (an image's data).
    base: usize,
    /// Reused to decode a JPEG's or PNG's base64 for its header checks.
    scratch: RefCell<Vec<u8>>,
}

impl Ctx<'_> {
    fn limit_error<E: de::Error>(&self, message: impl fmt::Display) -> E {
        self.kind.set(FrameErrorKind::Limit);
        E::custom(message)
    }
}

/// Parses one message at `span` of `text`; on error also says whether the message is path-qualified.
fn parse_message(
    text: &str,
    span: Range<usize>,
    depth: usize,
    limits: &Limits,
) -> Result<Message, (FrameError, bool)> {
    let slice = &text[span.clone()];
    let mut prepared = if FAST_PATH.with(Cell::get) {
        fast::prepare(slice, limits.max_points)
    } else {
        None
    };
    let ctx = Ctx {
        limits,
        kind: Cell::new(FrameErrorKind::Invalid),
        qualified: Cell::new(false),
        fast_points: Cell::new(None),
        fast_line: Cell::new(None),
        base: 0,
        scratch: RefCell::new(Vec::new()),
    };
    if let Some(p) = prepared.as_mut() {
        let array = Some(std::mem::take(&mut p.array));
        match p.field {
            fast::Field::Points => ctx.fast_points.set(array),
            fast::Field::Line => ctx.fast_line.set(array),
        }
    }
    let serde_text = prepared.as_ref().map_or(slice, |p| p.text.as_str());
    let ctx = Ctx {
        base: serde_text.as_ptr() as usize,
        ..ctx
    };
    let mut de = serde_json::Deserializer::from_str(serde_text);
    let result = MessageSeed {
        ctx: &ctx,
        depth,
        span: span.clone(),
    }
    .deserialize(&mut de)
    .and_then(|message| de.end().map(|()| message));
    let to_frame = |offset: usize| {
        span.start
            + prepared
                .as_ref()
                .map_or(offset, |p| p.original_offset(offset))
    };
    match result {
        Ok(mut message) => {
            // An image's data was found in the text serde read: give its place in the frame.
            if let Some(Shape::Image(image)) = &mut message.shape {
                image.data = to_frame(image.data.start)..to_frame(image.data.end);
            }
            Ok(message)
        }
        Err(err) => Err((
            convert_error(&err, serde_text, to_frame, &ctx),
            ctx.qualified.get(),
        )),
    }
}

thread_local! {
    /// Whether [`fast::prepare`] runs: tests turn it off to compare with the serde visitors alone.
    static FAST_PATH: Cell<bool> = const { Cell::new(true) };
}

/// Parses `text` with the number-array fast path on or off (the reference), for tests.
#[cfg(test)]
pub(crate) fn parse_frame_with_fast_path(
    text: &str,
    limits: &Limits,
    fast: bool,
) -> Result<Vec<Message>, FrameError> {
    let before = FAST_PATH.with(|f| f.replace(fast));
    let result = parse_frame(text, limits);
    FAST_PATH.with(|f| f.set(before));
    result
}

/// Turns a serde_json error into a [`FrameError`]; `to_frame` maps a byte offset in `slice` (the
/// text serde read) to one in the frame.
fn convert_error(
    err: &serde_json::Error,
    slice: &str,
    to_frame: impl Fn(usize) -> usize,
    ctx: &Ctx<'_>,
) -> FrameError {
    let full = err.to_string();
    let (message, offset) = if err.line() > 0 {
        let suffix = format!(" at line {} column {}", err.line(), err.column());
        let message = full
            .strip_suffix(&suffix)
            .map(str::to_owned)
            .unwrap_or(full);
        (
            message,
            Some(to_frame(offset_of(slice, err.line(), err.column()))),
        )
    } else {
        (full, None)
    };
    FrameError {
        message,
        offset,
        kind: ctx.kind.get(),
    }
}

/// Byte offset of a 1-based (line, column) position in `text`.
fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let line_start = if line <= 1 {
        0
    } else {
        memchr::memchr_iter(b'\n', text.as_bytes())
            .nth(line - 2)
            .map_or(text.len(), |i| i + 1)
    };
    (line_start + column.saturating_sub(1)).min(text.len())
}

/// Splits a top-level JSON array into its elements' byte ranges (trimmed), checking nesting depth.
///
/// Only the top-level structure is checked here; each element is then parsed (and so validated)
/// on its own, which together validates the whole frame.
fn split_batch(
    bytes: &[u8],
    open: usize,
    max_depth: usize,
) -> Result<Vec<Range<usize>>, FrameError> {
    let mut spans = Vec::new();
    let mut depth = 1usize;
    let mut i = open + 1;
    let mut element_start = i;
    let push = |spans: &mut Vec<Range<usize>>, from: usize, to: usize| -> Result<(), FrameError> {
        let start = (from..to).find(|&k| !is_ws(bytes[k])).unwrap_or(to);
        let end = trimmed_end(bytes, start).min(to);
        let end = (start..end)
            .rev()
            .find(|&k| !is_ws(bytes[k]))
            .map_or(start, |k| k + 1);
        if start == end {
            return Err(
                FrameError::new(FrameErrorKind::Invalid, "empty element in batch").at(from),
            );
        }
        spans.push(start..end);
        Ok(())
    };
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i = skip_string(bytes, i)?;
                continue;
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > max_depth {
                    return Err(FrameError::new(
                        FrameErrorKind::Limit,
                        format!("nesting deeper than {max_depth}"),
                    )
                    .at(i));
                }
            }
            b']' | b'}' => {
                depth -= 1;
                if depth == 0 {
                    if bytes[i] != b']' {
                        return Err(FrameError::new(
                            FrameErrorKind::Invalid,
                            "batch array closed with `}`",
                        )
                        .at(i));
                    }
                    let only_ws = (element_start..i).all(|k| is_ws(bytes[k]));
                    if !(only_ws && spans.is_empty()) {
                        push(&mut spans, element_start, i)?;
                    }
                    if let Some(k) = (i + 1..bytes.len()).find(|&k| !is_ws(bytes[k])) {
                        return Err(FrameError::new(
                            FrameErrorKind::Invalid,
                            "trailing characters after the batch",
                        )
                        .at(k));
                    }
                    return Ok(spans);
                }
            }
            b',' if depth == 1 => {
                push(&mut spans, element_start, i)?;
                element_start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    Err(FrameError::new(
        FrameErrorKind::Invalid,
        "unexpected end of frame inside the batch",
    )
    .at(bytes.len()))
}

/// Returns the index just past the string starting at `open` (a `"`).
fn skip_string(bytes: &[u8], open: usize) -> Result<usize, FrameError> {
    let mut i = open + 1;
    loop {
        match memchr::memchr2(b'"', b'\\', &bytes[i.min(bytes.len())..]) {
            Some(k) if bytes[i + k] == b'"' => return Ok(i + k + 1),
            Some(k) => i += k + 2,
            None => {
                return Err(
                    FrameError::new(FrameErrorKind::Invalid, "unterminated string").at(open),
                );
            }
        }
    }
}

/// Prepends a path segment to an error coming from a nested value.
///
/// Messages from nested visitors start with `[i]` or `.key` when they name a place, or with plain
/// text otherwise; `segment` is joined directly to the former and with `": "` to the latter.
fn join<E: de::Error>(segment: &str, inner: &E) -> E {
    let inner = inner.to_string();
    // A nesting error would otherwise carry one segment per level (`deep[0][0][0]…`): it keeps only
    // the field it is in.
    if inner.starts_with(NESTING) && (segment.starts_with('[') || segment.starts_with('.')) {
        return E::custom(inner);
    }
    if inner.starts_with('[') || inner.starts_with('.') {
        E::custom(format_args!("{segment}{inner}"))
    } else {
        E::custom(format_args!("{segment}: {inner}"))
    }
}

/// How nesting errors start (see [`join`]).
const NESTING: &str = "nesting deeper than";

/// A string that borrows from the frame when it has no escapes.
struct CowStr<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for CowStr<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CowStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(V)
    }
}

/// A JSON number, with a readable error for anything else.
struct Number(f64);

impl<'de> de::Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Number;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Number, E> {
                Ok(Number(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Number, E> {
                Ok(Number(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Number, E> {
                Ok(Number(v as f64))
            }
        }
        deserializer.deserialize_f64(V)
    }
}

/// The known fields of a message.
enum Key<'de> {
    Stream,
    T,
    Value,
    Values,
    Points,
    Colors,
    Color,
    Radius,
    Line,
    Append,
    Width,
    Text,
    Level,
    Clear,
    Image,
    Reserved,
    Other(Cow<'de, str>),
}

impl Key<'_> {
    fn name(&self) -> &str {
        match self {
            Self::Stream => "stream",
            Self::T => "t",
            Self::Value => "value",
            Self::Values => "values",
            Self::Points => "points",
            Self::Colors => "colors",
            Self::Color => "color",
            Self::Radius => "radius",
            Self::Line => "line",
            Self::Append => "append",
            Self::Width => "width",
            Self::Text => "text",
            Self::Level => "level",
            Self::Clear => "clear",
            Self::Image => "image",
            Self::Reserved => "vizcast",
            Self::Other(name) => name,
        }
    }
}

struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        let CowStr(name) = CowStr::deserialize(deserializer)?;
        Ok(match &*name {
            "stream" => Key::Stream,
            "t" => Key::T,
            "value" => Key::Value,
            "values" => Key::Values,
            "points" => Key::Points,
            "colors" => Key::Colors,
            "color" => Key::Color,
            "radius" => Key::Radius,
            "line" => Key::Line,
            "append" => Key::Append,
            "width" => Key::Width,
            "text" => Key::Text,
            "level" => Key::Level,
            "clear" => Key::Clear,
            "image" => Key::Image,
            "vizcast" => Key::Reserved,
            _ => Key::Other(name),
        })
    }
}

use serde::de::Deserialize as _;

/// Deserializes one message object.
struct MessageSeed<'c, 'l> {
    ctx: &'c Ctx<'l>,
    /// Nesting level of the message object (1 for a single message, 2 inside a batch).
    depth: usize,
    span: Range<usize>,
}

impl<'de> DeserializeSeed<'de> for MessageSeed<'_, '_> {
    type Value = Message;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

/// A number, an array of numbers or an encoded array: the forms of `t` and `value`.
enum Numbers {
    One(f64),
    Many(Vec<f64>),
}

/// Fields gathered while visiting a message, checked together at its end.
#[derive(Default)]
struct Fields {
    stream: Option<Box<str>>,
    t: Option<Numbers>,
    value: Option<Numbers>,
    /// `values` leaves (scalars or columns) and other numeric fields, in the order given.
    scalars: Vec<Scalar>,
    points: Option<Vec<[f32; 3]>>,
    line: Option<Vec<[f32; 3]>>,
    colors: Option<Vec<[u8; 3]>>,
    color: Option<[u8; 3]>,
    radius: Option<f32>,
    width: Option<f32>,
    append: Option<bool>,
    text: Option<Box<str>>,
    level: Option<Level>,
    clear: bool,
    image: Option<Image>,
}

impl<'de> Visitor<'de> for MessageSeed<'_, '_> {
    type Value = Message;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a message object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Message, A::Error> {
        let ctx = self.ctx;
        let mut f = Fields::default();
        let mut seen = 0u32;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let bit = match key {
                Key::Other(_) => 0,
                Key::Reserved => {
                    return Err(de::Error::custom(
                        "\"vizcast\" is reserved for vizcast's own messages",
                    ));
                }
                ref known => 1u32 << (known_index(known)),
            };
            if seen & bit != 0 {
                return Err(de::Error::custom(format_args!(
                    "duplicate field \"{}\"",
                    key.name()
                )));
            }
            seen |= bit;
            // Errors of one field are prefixed with its name; the frame error is then qualified.
            let qualify = |err: A::Error| {
                ctx.qualified.set(true);
                join(key.name(), &err)
            };
            match &key {
                Key::Stream => {
                    let CowStr(stream) = map.next_value().map_err(qualify)?;
                    f.stream = Some(stream.into_owned().into_boxed_str());
                }
                Key::T => {
                    f.t = Some(
                        map.next_value_seed(NumbersSeed {
                            ctx,
                            encodings: F64_OR_F32,
                        })
                        .map_err(qualify)?,
                    );
                }
                Key::Value => {
                    f.value = Some(
                        map.next_value_seed(NumbersSeed {
                            ctx,
                            encodings: F64_OR_F32,
                        })
                        .map_err(qualify)?,
                    );
                }
                Key::Values => {
                    let mut path = String::new();
                    map.next_value_seed(Walker {
                        ctx,
                        mode: WalkMode::Values,
                        depth: self.depth + 1,
                        path: &mut path,
                        out: &mut f.scalars,
                    })
                    .map_err(qualify)?;
                }
                Key::Points => {
                    f.points = Some(match ctx.fast_points.take() {
                        Some(points) => {
                            map.next_value::<IgnoredAny>()?;
                            points
                        }
                        None => map.next_value_seed(Vec3Seed { ctx }).map_err(qualify)?,
                    });
                }
                Key::Line => {
                    f.line = Some(match ctx.fast_line.take() {
                        Some(line) => {
                            map.next_value::<IgnoredAny>()?;
                            line
                        }
                        None => map.next_value_seed(Vec3Seed { ctx }).map_err(qualify)?,
                    });
                }
                Key::Colors => {
                    f.colors = Some(map.next_value_seed(ColorsSeed { ctx }).map_err(qualify)?);
                }
                Key::Color => f.color = Some(map.next_value_seed(ColorSeed).map_err(qualify)?),
                Key::Radius => {
                    f.radius = Some(
                        positive(map.next_value::<Number>().map_err(qualify)?.0)
                            .map_err(qualify)?,
                    );
                }
                Key::Width => {
                    f.width = Some(
                        positive(map.next_value::<Number>().map_err(qualify)?.0)
                            .map_err(qualify)?,
                    );
                }
                Key::Append => f.append = Some(map.next_value::<bool>().map_err(qualify)?),
                Key::Text => {
                    let CowStr(text) = map.next_value().map_err(qualify)?;
                    f.text = Some(text.into_owned().into_boxed_str());
                }
                Key::Level => {
                    let CowStr(level) = map.next_value().map_err(qualify)?;
                    f.level = Some(Level::parse(&level).ok_or_else(|| {
                        qualify(de::Error::custom(format_args!(
                            "expected \"debug\", \"info\", \"warn\" or \"error\", got \"{level}\""
                        )))
                    })?);
                }
                Key::Image => {
                    f.image = Some(map.next_value_seed(ImageSeed { ctx }).map_err(qualify)?);
                }
                Key::Clear => {
                    if !map.next_value::<bool>().map_err(qualify)? {
                        return Err(qualify(de::Error::custom("must be true (or left out)")));
                    }
                    f.clear = true;
                }
                Key::Other(name) => {
                    let mut path = String::new();
                    push_segment(&mut path, name).map_err(qualify)?;
                    map.next_value_seed(Walker {
                        ctx,
                        mode: WalkMode::Extra,
                        depth: self.depth + 1,
                        path: &mut path,
                        out: &mut f.scalars,
                    })
                    .map_err(qualify)?;
                }
                Key::Reserved => {}
            }
            if f.scalars.len() > ctx.limits.max_fields {
                return Err(ctx.limit_error(format_args!(
                    "more than {} scalar fields in one message (--max-fields)",
                    ctx.limits.max_fields
                )));
            }
        }
        f.finish(ctx, self.span)
    }
}

fn known_index(key: &Key<'_>) -> u32 {
    match key {
        Key::Stream => 1,
        Key::T => 2,
        Key::Value => 3,
        Key::Values => 4,
        Key::Points => 5,
        Key::Colors => 6,
        Key::Color => 7,
        Key::Radius => 8,
        Key::Line => 9,
        Key::Append => 10,
        Key::Width => 11,
        Key::Text => 12,
        Key::Level => 13,
        Key::Clear => 14,
        Key::Image => 15,
        Key::Reserved | Key::Other(_) => 0,
    }
}

fn positive<E: de::Error>(v: f64) -> Result<f32, E> {
    let narrowed = v as f32;
    if v > 0.0 && narrowed.is_finite() {
        Ok(narrowed)
    } else {
        Err(E::custom(format_args!(
            "expected a positive number, got {v}"
        )))
    }
}

impl Fields {
    /// Cross-field checks, then the decoded message.
    fn finish<E: de::Error>(self, ctx: &Ctx<'_>, span: Range<usize>) -> Result<Message, E> {
        let Some(stream) = self.stream else {
            return Err(E::custom("missing \"stream\""));
        };
        check_stream_name(ctx, &stream)?;

        let shapes: Vec<&str> = [
            (self.points.is_some(), "points"),
            (self.line.is_some(), "line"),
            (self.text.is_some(), "text"),
            (self.clear, "clear"),
            (self.image.is_some(), "image"),
        ]
        .into_iter()
        .filter_map(|(present, name)| present.then_some(name))
        .collect();
        if shapes.len() > 1 {
            return Err(E::custom(format_args!(
                "{} cannot be combined in one message: send them as separate messages",
                shapes.join(" and ")
            )));
        }
        if self.clear && (self.value.is_some() || !self.scalars.is_empty() || self.t.is_some()) {
            return Err(E::custom(
                "clear cannot be combined with data: send the data in its own message",
            ));
        }
        let needs = |present: bool, field: &str, owners: &str, ok: bool| -> Result<(), E> {
            if present && !ok {
                Err(E::custom(format_args!(
                    "{field} needs {owners} in the same message"
                )))
            } else {
                Ok(())
            }
        };
        let shaped = self.points.is_some() || self.line.is_some();
        needs(self.colors.is_some(), "colors", "points or line", shaped)?;
        needs(self.color.is_some(), "color", "points or line", shaped)?;
        needs(
            self.radius.is_some(),
            "radius",
            "points",
            self.points.is_some(),
        )?;
        needs(self.width.is_some(), "width", "line", self.line.is_some())?;
        needs(self.append.is_some(), "append", "line", self.line.is_some())?;
        needs(self.level.is_some(), "level", "text", self.text.is_some())?;
        if self.colors.is_some() && self.color.is_some() {
            return Err(E::custom(
                "give either color (one for all) or colors (one per point), not both",
            ));
        }

        // Time and scalar columns.
        let time = match self.t {
            None => Time::Receive,
            Some(Numbers::One(t)) => Time::At(t),
            Some(Numbers::Many(ts)) => Time::Columns(ts),
        };
        let mut scalars = self.scalars;
        if let Some(value) = self.value {
            let samples = match value {
                Numbers::One(v) => Samples::One(v),
                Numbers::Many(vs) => Samples::Columns(vs),
            };
            scalars.insert(
                0,
                Scalar {
                    path: Box::from(""),
                    samples,
                },
            );
        }
        if let Time::Columns(ts) = &time {
            if shaped || self.text.is_some() || self.image.is_some() {
                return Err(E::custom(
                    "t must be a single time for points, line, text and image messages",
                ));
            }
            let n = ts.len();
            let mut columns = 0;
            for scalar in &scalars {
                match &scalar.samples {
                    Samples::Columns(vs) => {
                        columns += 1;
                        if vs.len() != n {
                            let what = if scalar.path.is_empty() {
                                "value".to_owned()
                            } else {
                                format!("values \"{}\"", scalar.path)
                            };
                            return Err(E::custom(format_args!(
                                "t and {what} have different lengths ({n} vs {})",
                                vs.len()
                            )));
                        }
                    }
                    Samples::One(_) => {}
                }
            }
            if columns == 0 {
                return Err(E::custom(
                    "t is an array but no value or values array goes with it (columnar batches need both)",
                ));
            }
        } else if let Some(scalar) = scalars
            .iter()
            .find(|s| matches!(s.samples, Samples::Columns(_)))
        {
            let what = if scalar.path.is_empty() {
                "value".to_owned()
            } else {
                format!("values \"{}\"", scalar.path)
            };
            return Err(E::custom(format_args!(
                "{what} is an array: columnar batches need t as an array of the same length"
            )));
        }

        for scalar in &scalars {
            if !scalar.path.is_empty()
                && stream.len() + 1 + scalar.path.len() > ctx.limits.max_stream_name_bytes
            {
                return Err(ctx.limit_error(format_args!(
                    "stream name \"{}\" is longer than {} bytes (--max-stream-name)",
                    series_name(&stream, &scalar.path),
                    ctx.limits.max_stream_name_bytes
                )));
            }
        }

        let colors = |count: usize,
                      colors: Option<Vec<[u8; 3]>>,
                      color: Option<[u8; 3]>|
         -> Result<Colors, E> {
            match (colors, color) {
                (Some(colors), _) if colors.len() != count => Err(E::custom(format_args!(
                    "colors has {} entries but there are {count} points",
                    colors.len()
                ))),
                (Some(colors), _) => Ok(Colors::PerPoint(colors)),
                (None, Some(color)) => Ok(Colors::Uniform(color)),
                (None, None) => Ok(Colors::Default),
            }
        };
        let shape = if let Some(positions) = self.points {
            let colors = colors(positions.len(), self.colors, self.color)?;
            Some(Shape::Points(Points {
                positions,
                colors,
                radius: self.radius,
            }))
        } else if let Some(positions) = self.line {
            let colors = colors(positions.len(), self.colors, self.color)?;
            Some(Shape::Line(Line {
                positions,
                append: self.append.unwrap_or(false),
                colors,
                width: self.width,
            }))
        } else if let Some(text) = self.text {
            Some(Shape::Text(Text {
                text,
                level: self.level.unwrap_or_default(),
            }))
        } else if self.clear {
            Some(Shape::Clear)
        } else {
            self.image.map(Shape::Image)
        };
        if shape.is_none() && scalars.is_empty() {
            return Err(E::custom(
                "message has no data: expected value, values, points, line, text, image, clear or other numeric fields",
            ));
        }
        Ok(Message {
            span,
            stream,
            time,
            scalars,
            shape,
        })
    }
}

/// Checks a stream name: not empty, not too long, `/`-separated non-empty segments, no control characters.
fn check_stream_name<E: de::Error>(ctx: &Ctx<'_>, name: &str) -> Result<(), E> {
    if name.len() > ctx.limits.max_stream_name_bytes {
        let cut = name.char_indices().nth(40).map_or(name.len(), |(i, _)| i);
        return Err(ctx.limit_error(format_args!(
            "stream name \"{}…\" is longer than {} bytes (--max-stream-name)",
            &name[..cut],
            ctx.limits.max_stream_name_bytes
        )));
    }
    if name.is_empty() {
        return Err(E::custom("stream: must not be empty"));
    }
    if name.split('/').any(str::is_empty) {
        return Err(E::custom(format_args!(
            "stream: \"{name}\" has an empty path segment (no leading, trailing or double '/')"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(E::custom("stream: must not contain control characters"));
    }
    Ok(())
}

/// Appends a field name to a series path.
fn push_segment<E: de::Error>(path: &mut String, name: &str) -> Result<(), E> {
    if name.is_empty() {
        return Err(E::custom("empty field name"));
    }
    if name.chars().any(char::is_control) {
        return Err(E::custom("field names must not contain control characters"));
    }
    if !path.is_empty() {
        path.push('/');
    }
    path.push_str(name);
    Ok(())
}

/// Which encodings an encoded array may use.
#[derive(Clone, Copy)]
struct Encodings {
    f64: bool,
    f32: bool,
    u8: bool,
}

const F64_OR_F32: Encodings = Encodings {
    f64: true,
    f32: true,
    u8: false,
};
const F32_ONLY: Encodings = Encodings {
    f64: false,
    f32: true,
    u8: false,
};
const F32_OR_U8: Encodings = Encodings {
    f64: false,
    f32: true,
    u8: true,
};

/// Reads the rest of an encoded-array object whose first key, the encoding, was `key`: returns the
/// base64 text after checking the encoding is one of `allowed` and the object has no other key.
fn read_encoded<'de, A: MapAccess<'de>>(
    map: &mut A,
    key: &str,
    allowed: Encodings,
) -> Result<Cow<'de, str>, A::Error> {
    let ok = match key {
        "f64" => allowed.f64,
        "f32" => allowed.f32,
        "u8" => allowed.u8,
        _ => false,
    };
    if !ok {
        let names: Vec<&str> = [
            (allowed.f64, "\"f64\""),
            (allowed.f32, "\"f32\""),
            (allowed.u8, "\"u8\""),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect();
        return Err(de::Error::custom(format_args!(
            "unknown encoding \"{key}\": expected {}",
            names.join(" or ")
        )));
    }
    let CowStr(b64) = map.next_value().map_err(|e| join(&format!(".{key}"), &e))?;
    if map.next_key::<IgnoredAny>()?.is_some() {
        return Err(de::Error::custom(
            "an encoded array is an object with exactly one key",
        ));
    }
    Ok(b64)
}

/// Decodes base64 of little-endian values straight into a vector of `T` (`f64`, `f32`, `[f32; 3]`,
/// `[u8; 3]`...), refusing more than `max` items before decoding anything. `what` names the items
/// in errors (`[x, y, z] points`).
fn decode_array<T: bytemuck::Pod, E: de::Error>(
    b64: &str,
    key: &str,
    what: &str,
    max: usize,
    ctx: &Ctx<'_>,
) -> Result<Vec<T>, E> {
    // Padding is optional: a length that is a multiple of 4 is padded (or needs none).
    let engine = if b64.len().is_multiple_of(4) {
        base64_simd::STANDARD
    } else {
        base64_simd::STANDARD_NO_PAD
    };
    let invalid = |e: base64_simd::Error| E::custom(format_args!(".{key}: invalid base64 ({e})"));
    let bytes = engine.decoded_length(b64.as_bytes()).map_err(invalid)?;
    let size = size_of::<T>();
    if bytes % size != 0 {
        return Err(E::custom(format_args!(
            ".{key}: {bytes} bytes is not a whole number of {what} ({size} bytes each)"
        )));
    }
    if bytes / size > max {
        return Err(ctx.limit_error(format_args!(
            "more than {max} {what} in one message (--max-points)"
        )));
    }
    let mut out = vec![T::zeroed(); bytes / size];
    engine
        .decode(
            b64.as_bytes(),
            base64_simd::Out::from_slice(bytemuck::cast_slice_mut(&mut out)),
        )
        .map_err(invalid)?;
    Ok(out)
}

/// `image`: an encoded image (`jpeg`, `png`) or raw pixels (`shape` with `u8`, `u16` or `f32`),
/// with `colormap` and `range` for one-channel raw pixels. See [`crate::image`].
struct ImageSeed<'c, 'l> {
    ctx: &'c Ctx<'l>,
}

impl<'de> DeserializeSeed<'de> for ImageSeed<'_, '_> {
    type Value = Image;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

/// The fields of an image object, gathered before they are checked together.
#[derive(Default)]
struct ImageFields<'de> {
    /// The data's field and its base64 text.
    data: Option<(ImageEncoding, Cow<'de, str>)>,
    shape: Option<Vec<u64>>,
    colormap: Option<Colormap>,
    range: Option<[f32; 2]>,
}

impl<'de> Visitor<'de> for ImageSeed<'_, '_> {
    type Value = Image;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "an image object: {\"jpeg\": base64}, {\"png\": base64} or {\"shape\": [h, w], \"u8\" | \"u16\" | \"f32\": base64}",
        )
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Image, A::Error> {
        let mut f = ImageFields::default();
        while let Some(CowStr(key)) = map.next_key::<CowStr<'de>>()? {
            let field = |e: A::Error| join(&format!(".{key}"), &e);
            let encoding = match &*key {
                "jpeg" => Some(ImageEncoding::Jpeg),
                "png" => Some(ImageEncoding::Png),
                "u8" => Some(ImageEncoding::Raw(PixelType::U8)),
                "u16" => Some(ImageEncoding::Raw(PixelType::U16)),
                "f32" => Some(ImageEncoding::Raw(PixelType::F32)),
                _ => None,
            };
            if let Some(encoding) = encoding {
                if let Some((first, _)) = &f.data {
                    return Err(de::Error::custom(format_args!(
                        "both \"{}\" and \"{key}\": an image has one kind of data",
                        first.as_str()
                    )));
                }
                let CowStr(text) = map.next_value().map_err(field)?;
                f.data = Some((encoding, text));
                continue;
            }
            match &*key {
                "shape" => {
                    let shape: Vec<u64> = map.next_value().map_err(|_wrong: A::Error| {
                        field(de::Error::custom(
                            "expected [height, width] or [height, width, channels] in whole numbers",
                        ))
                    })?;
                    f.shape = Some(shape);
                }
                "colormap" => {
                    let CowStr(name) = map.next_value().map_err(field)?;
                    f.colormap = Some(Colormap::parse(&name).ok_or_else(|| {
                        field(de::Error::custom(format_args!(
                            "unknown colormap \"{name}\": expected \"gray\", \"viridis\" or \"turbo\""
                        )))
                    })?);
                }
                "range" => {
                    let [Number(lo), Number(hi)]: [Number; 2] =
                        map.next_value().map_err(|_wrong: A::Error| {
                            field(de::Error::custom("expected [min, max]"))
                        })?;
                    let (lo32, hi32) = (lo as f32, hi as f32);
                    if !(lo32.is_finite() && hi32.is_finite() && lo32 < hi32) {
                        return Err(field(de::Error::custom(format_args!(
                            "expected [min, max] with min < max, got [{lo}, {hi}]"
                        ))));
                    }
                    f.range = Some([lo32, hi32]);
                }
                other => {
                    return Err(de::Error::custom(format_args!(
                        "unknown field \"{other}\" in an image: expected jpeg, png, or shape with u8, u16 or f32, and colormap and range"
                    )));
                }
            }
        }
        f.finish(self.ctx)
    }
}

impl ImageFields<'_> {
    fn finish<E: de::Error>(self, ctx: &Ctx<'_>) -> Result<Image, E> {
        let Some((encoding, text)) = self.data else {
            return Err(E::custom(
                "an image needs its data: \"jpeg\", \"png\", or \"shape\" with \"u8\", \"u16\" or \"f32\"",
            ));
        };
        let key = encoding.as_str();
        let Cow::Borrowed(b64) = text else {
            return Err(E::custom(format_args!(
                ".{key}: image data must be plain base64 text, without JSON escapes (such as \\/)"
            )));
        };
        let start = b64.as_ptr() as usize - ctx.base;
        let data = start..start + b64.len();
        // Padding is optional, as for encoded arrays.
        let engine = if b64.len().is_multiple_of(4) {
            base64_simd::STANDARD
        } else {
            base64_simd::STANDARD_NO_PAD
        };
        let invalid =
            |e: base64_simd::Error| E::custom(format_args!(".{key}: invalid base64 ({e})"));
        let bytes = engine.decoded_length(b64.as_bytes()).map_err(invalid)?;
        let (width, height, channels) = match encoding {
            ImageEncoding::Jpeg | ImageEncoding::Png => {
                if self.shape.is_some() {
                    return Err(E::custom(format_args!(
                        "shape is for raw pixels: a {} says its own size",
                        key.to_uppercase()
                    )));
                }
                let mut scratch = ctx.scratch.borrow_mut();
                scratch.clear();
                scratch.resize(bytes, 0);
                engine
                    .decode(b64.as_bytes(), base64_simd::Out::from_slice(&mut scratch))
                    .map_err(invalid)?;
                let header = if encoding == ImageEncoding::Jpeg {
                    jpeg_header(&scratch)
                } else {
                    png_header(&scratch)
                }
                .map_err(|why| E::custom(format_args!(".{key}: {why}")))?;
                (header.width, header.height, header.channels)
            }
            ImageEncoding::Raw(pixel) => {
                let Some(shape) = self.shape else {
                    return Err(E::custom(format_args!(
                        "raw pixels ({key}) need \"shape\": [height, width] or [height, width, channels]"
                    )));
                };
                let (height, width, channels) = match shape[..] {
                    [h, w] => (h, w, 1),
                    [h, w, c] => (h, w, c),
                    _ => {
                        return Err(E::custom(format_args!(
                            ".shape: expected [height, width] or [height, width, channels], got {} numbers",
                            shape.len()
                        )));
                    }
                };
                let allowed: &[u64] = match pixel {
                    PixelType::U8 => &[1, 3, 4],
                    PixelType::U16 | PixelType::F32 => &[1],
                };
                if !allowed.contains(&channels) {
                    return Err(E::custom(format_args!(
                        ".shape: {channels} channels of {key} (expected {})",
                        if allowed.len() == 1 {
                            "1: mono".to_owned()
                        } else {
                            "1, 3 or 4: mono, RGB or RGBA".to_owned()
                        }
                    )));
                }
                let (Ok(w32), Ok(h32)) = (u32::try_from(width), u32::try_from(height)) else {
                    return Err(ctx.limit_error(format_args!(
                        "an image of {width}×{height} pixels, more than --max-image-pixels ({})",
                        ctx.limits.max_image_pixels
                    )));
                };
                if width == 0 || height == 0 {
                    return Err(E::custom(format_args!(
                        ".shape: an image of {width}×{height} pixels"
                    )));
                }
                // Checked against the limit before any product can overflow.
                if width.saturating_mul(height) <= ctx.limits.max_image_pixels {
                    let expected = width * height * channels * pixel.size() as u64;
                    if bytes as u64 != expected {
                        return Err(E::custom(format_args!(
                            ".{key}: {bytes} bytes, but shape [{height}, {width}{}] of {key} needs {expected}",
                            if shape.len() == 3 {
                                format!(", {channels}")
                            } else {
                                String::new()
                            }
                        )));
                    }
                    if engine.check(b64.as_bytes()).is_err() {
                        return Err(E::custom(format_args!(".{key}: invalid base64")));
                    }
                }
                (w32, h32, channels as u8)
            }
        };
        if width == 0 || height == 0 {
            return Err(E::custom(format_args!(
                ".{key}: an image of {width}×{height} pixels"
            )));
        }
        let pixels = u64::from(width) * u64::from(height);
        if pixels > ctx.limits.max_image_pixels {
            return Err(ctx.limit_error(format_args!(
                "an image of {width}×{height} pixels, more than --max-image-pixels ({})",
                ctx.limits.max_image_pixels
            )));
        }
        let raw_mono = matches!(encoding, ImageEncoding::Raw(_)) && channels == 1;
        if (self.colormap.is_some() || self.range.is_some()) && !raw_mono {
            return Err(E::custom(
                "colormap and range are for one-channel raw pixels (shape [height, width])",
            ));
        }
        Ok(Image {
            encoding,
            width,
            height,
            channels,
            data,
            bytes,
            colormap: self.colormap,
            range: self.range,
        })
    }
}

/// `t`, `value` and `values` columns: a number, an array of numbers, or an encoded array.
struct NumbersSeed<'c, 'l> {
    ctx: &'c Ctx<'l>,
    encodings: Encodings,
}

impl<'de> DeserializeSeed<'de> for NumbersSeed<'_, '_> {
    type Value = Numbers;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NumbersSeed<'_, '_> {
    type Value = Numbers;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number, an array of numbers or an encoded array ({\"f64\": \"<base64>\"})")
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Numbers, E> {
        Ok(Numbers::One(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Numbers, E> {
        Ok(Numbers::One(v as f64))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Numbers, E> {
        Ok(Numbers::One(v as f64))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Numbers, A::Error> {
        read_numbers(seq, self.ctx).map(Numbers::Many)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Numbers, A::Error> {
        let Some(CowStr(key)) = map.next_key()? else {
            return Err(de::Error::custom(
                "expected an encoded array ({\"f64\": \"<base64>\"}), got {}",
            ));
        };
        let b64 = read_encoded(&mut map, &key, self.encodings)?;
        decode_numbers(&b64, &key, self.ctx).map(Numbers::Many)
    }
}

/// Decodes an `f64` or `f32` encoded array of samples.
fn decode_numbers<E: de::Error>(b64: &str, key: &str, ctx: &Ctx<'_>) -> Result<Vec<f64>, E> {
    let max = ctx.limits.max_points;
    if key == "f64" {
        decode_array::<f64, E>(b64, key, "samples", max, ctx)
    } else {
        Ok(decode_array::<f32, E>(b64, key, "samples", max, ctx)?
            .into_iter()
            .map(f64::from)
            .collect())
    }
}

thread_local! {
    static SCRATCH_F64: RefCell<Vec<f64>> = const { RefCell::new(Vec::new()) };
    static SCRATCH_VEC3: RefCell<Vec<[f32; 3]>> = const { RefCell::new(Vec::new()) };
    static SCRATCH_RGB: RefCell<Vec<[u8; 3]>> = const { RefCell::new(Vec::new()) };
}

/// Most elements a per-thread scratch vector keeps between frames (about 1 MiB of points).
const SCRATCH_KEEP: usize = 1 << 16;

/// Collects an array of unknown length in this thread's scratch vector, then returns it as an
/// exact-size vector: one copy instead of a chain of doublings (reallocations that copy).
fn collect_with_scratch<T: Copy + 'static, R>(
    scratch: &'static std::thread::LocalKey<RefCell<Vec<T>>>,
    fill: impl FnOnce(&mut Vec<T>) -> Result<(), R>,
) -> Result<Vec<T>, R> {
    scratch.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buffer) => {
            buffer.clear();
            let result = fill(&mut buffer).map(|()| buffer.to_vec());
            if buffer.capacity() > SCRATCH_KEEP {
                *buffer = Vec::new();
            }
            result
        }
        // Only reachable if the same kind of array nests, which the protocol does not have.
        Err(_) => {
            let mut fresh = Vec::new();
            fill(&mut fresh).map(|()| fresh)
        }
    })
}

/// Reads an array of numbers, up to `--max-points` of them.
fn read_numbers<'de, A: SeqAccess<'de>>(mut seq: A, ctx: &Ctx<'_>) -> Result<Vec<f64>, A::Error> {
    collect_with_scratch(&SCRATCH_F64, |out| {
        loop {
            let index = out.len();
            match seq.next_element::<Number>() {
                Ok(Some(Number(v))) => out.push(v),
                Ok(None) => return Ok(()),
                Err(e) => return Err(join(&format!("[{index}]"), &e)),
            }
            if out.len() > ctx.limits.max_points {
                return Err(ctx.limit_error(format_args!(
                    "more than {} samples in one message (--max-points)",
                    ctx.limits.max_points
                )));
            }
        }
    })
}

/// `points` and `line`: `[[x, y, z], …]` or `{"f32": "<base64>"}`.
struct Vec3Seed<'c, 'l> {
    ctx: &'c Ctx<'l>,
}

impl<'de> DeserializeSeed<'de> for Vec3Seed<'_, '_> {
    type Value = Vec<[f32; 3]>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Vec3Seed<'_, '_> {
    type Value = Vec<[f32; 3]>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of [x, y, z] or an encoded array ({\"f32\": \"<base64>\"})")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let ctx = self.ctx;
        collect_with_scratch(&SCRATCH_VEC3, |out| {
            loop {
                let index = out.len();
                match seq.next_element_seed(Point3Seed) {
                    Ok(Some(p)) => out.push(p),
                    Ok(None) => return Ok(()),
                    Err(e) => return Err(join(&format!("[{index}]"), &e)),
                }
                if out.len() > ctx.limits.max_points {
                    return Err(ctx.limit_error(format_args!(
                        "more than {} points in one message (--max-points)",
                        ctx.limits.max_points
                    )));
                }
            }
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let Some(CowStr(key)) = map.next_key()? else {
            return Err(de::Error::custom(
                "expected an encoded array ({\"f32\": \"<base64>\"}), got {}",
            ));
        };
        let b64 = read_encoded(&mut map, &key, F32_ONLY)?;
        decode_array(&b64, &key, "points", self.ctx.limits.max_points, self.ctx)
    }
}

/// One `[x, y, z]`.
struct Point3Seed;

impl<'de> DeserializeSeed<'de> for Point3Seed {
    type Value = [f32; 3];

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Point3Seed {
    type Value = [f32; 3];

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[x, y, z]")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut p = [0f32; 3];
        for (i, slot) in p.iter_mut().enumerate() {
            let Some(Number(v)) = seq.next_element::<Number>()? else {
                return Err(de::Error::custom(format_args!(
                    "expected 3 numbers, got {i}"
                )));
            };
            *slot = v as f32;
            if !slot.is_finite() {
                return Err(de::Error::custom(format_args!(
                    "{v} is outside the range of f32"
                )));
            }
        }
        let mut extra = 0;
        while seq.next_element::<IgnoredAny>()?.is_some() {
            extra += 1;
        }
        if extra > 0 {
            return Err(de::Error::custom(format_args!(
                "expected 3 numbers, got {}",
                3 + extra
            )));
        }
        Ok(p)
    }
}

/// `colors`: one colour per point, or an encoded array of RGB triples.
struct ColorsSeed<'c, 'l> {
    ctx: &'c Ctx<'l>,
}

impl<'de> DeserializeSeed<'de> for ColorsSeed<'_, '_> {
    type Value = Vec<[u8; 3]>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ColorsSeed<'_, '_> {
    type Value = Vec<[u8; 3]>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of colours or an encoded array ({\"u8\": \"<base64>\"})")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let ctx = self.ctx;
        collect_with_scratch(&SCRATCH_RGB, |out| {
            loop {
                let index = out.len();
                match seq.next_element_seed(ColorSeed) {
                    Ok(Some(c)) => out.push(c),
                    Ok(None) => return Ok(()),
                    Err(e) => return Err(join(&format!("[{index}]"), &e)),
                }
                if out.len() > ctx.limits.max_points {
                    return Err(ctx.limit_error(format_args!(
                        "more than {} colours in one message (--max-points)",
                        ctx.limits.max_points
                    )));
                }
            }
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let Some(CowStr(key)) = map.next_key()? else {
            return Err(de::Error::custom(
                "expected an encoded array ({\"u8\": \"<base64>\"}), got {}",
            ));
        };
        let b64 = read_encoded(&mut map, &key, F32_OR_U8)?;
        let max = self.ctx.limits.max_points;
        if key == "u8" {
            return decode_array(&b64, &key, "RGB colours", max, self.ctx);
        }
        let floats: Vec<[f32; 3]> = decode_array(&b64, &key, "RGB colours", max, self.ctx)?;
        floats
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let mut rgb = [0u8; 3];
                for (slot, &v) in rgb.iter_mut().zip(c) {
                    *slot = unit_to_u8(f64::from(v))
                        .map_err(|e: A::Error| join(&format!(".f32[{i}]"), &e))?;
                }
                Ok(rgb)
            })
            .collect()
    }
}

/// Converts a colour component in 0–1 to 8 bits.
fn unit_to_u8<E: de::Error>(v: f64) -> Result<u8, E> {
    if (0.0..=1.0).contains(&v) {
        Ok((v * 255.0).round() as u8)
    } else {
        Err(E::custom(format_args!(
            "colour component {v} is outside 0..1 (for 8-bit colours use \"#rrggbb\" or {{\"u8\": \"<base64>\"}})"
        )))
    }
}

/// One colour: `"#rrggbb"` or `[r, g, b]` in 0–1.
struct ColorSeed;

impl<'de> DeserializeSeed<'de> for ColorSeed {
    type Value = [u8; 3];

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ColorSeed {
    type Value = [u8; 3];

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a colour: \"#rrggbb\" or [r, g, b] in 0..1")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        parse_hex_color(v).ok_or_else(|| {
            E::custom(format_args!(
                "\"{v}\" is not a colour: expected \"#rrggbb\""
            ))
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut rgb = [0u8; 3];
        for (i, slot) in rgb.iter_mut().enumerate() {
            let Some(Number(v)) = seq.next_element::<Number>()? else {
                return Err(de::Error::custom(format_args!(
                    "expected 3 colour components, got {i}"
                )));
            };
            *slot = unit_to_u8(v)?;
        }
        if seq.next_element::<IgnoredAny>()?.is_some() {
            return Err(de::Error::custom("expected 3 colour components, got more"));
        }
        Ok(rgb)
    }
}

/// Parses `#rrggbb`.
fn parse_hex_color(s: &str) -> Option<[u8; 3]> {
    let hex = s.strip_prefix('#')?;
    if hex.len() != 6 || !hex.is_ascii() {
        return None;
    }
    let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
    Some([byte(0)?, byte(2)?, byte(4)?])
}

/// How [`Walker`] treats what it meets.
#[derive(Clone, Copy, PartialEq, Eq)]
enum WalkMode {
    /// `values`: leaves must be numbers, number arrays (columns) or encoded arrays; objects nest.
    Values,
    /// Any other field: numbers and booleans become series, arrays and objects are walked by index
    /// and key, strings and nulls are ignored.
    Extra,
}

/// Walks a JSON value, flattening its numeric leaves into series named by path.
struct Walker<'c, 'l, 'o> {
    ctx: &'c Ctx<'l>,
    mode: WalkMode,
    /// Nesting level of the value being walked.
    depth: usize,
    path: &'o mut String,
    out: &'o mut Vec<Scalar>,
}

impl Walker<'_, '_, '_> {
    fn leaf<E: de::Error>(self, samples: Samples) -> Result<(), E> {
        if self.out.len() >= self.ctx.limits.max_fields {
            return Err(self.ctx.limit_error(format_args!(
                "more than {} scalar fields in one message (--max-fields)",
                self.ctx.limits.max_fields
            )));
        }
        self.out.push(Scalar {
            path: self.path.as_str().into(),
            samples,
        });
        Ok(())
    }

    fn enter<E: de::Error>(&self) -> Result<(), E> {
        if self.depth > self.ctx.limits.max_depth {
            Err(self
                .ctx
                .limit_error(format_args!("{NESTING} {}", self.ctx.limits.max_depth)))
        } else {
            Ok(())
        }
    }
}

impl<'de> DeserializeSeed<'de> for Walker<'_, '_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walker<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.mode {
            WalkMode::Values => f.write_str("a number, an array of numbers or an object of them"),
            WalkMode::Extra => f.write_str("any JSON value"),
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.leaf(Samples::One(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.leaf(Samples::One(v as f64))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.leaf(Samples::One(v as f64))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        match self.mode {
            WalkMode::Extra => self.leaf(Samples::One(if v { 1.0 } else { 0.0 })),
            WalkMode::Values => Err(E::invalid_type(de::Unexpected::Bool(v), &self)),
        }
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        match self.mode {
            WalkMode::Extra => Ok(()),
            WalkMode::Values => Err(E::invalid_type(de::Unexpected::Str(v), &self)),
        }
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        match self.mode {
            WalkMode::Extra => Ok(()),
            WalkMode::Values => Err(E::invalid_type(de::Unexpected::Unit, &self)),
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.enter()?;
        match self.mode {
            WalkMode::Values => {
                let column = read_numbers(seq, self.ctx)?;
                self.leaf(Samples::Columns(column))
            }
            WalkMode::Extra => {
                let base = self.path.len();
                let mut index = 0usize;
                loop {
                    self.path.truncate(base);
                    if !self.path.is_empty() {
                        self.path.push('/');
                    }
                    self.path.push_str(itoa_usize(index).as_str());
                    let walker = Walker {
                        ctx: self.ctx,
                        mode: self.mode,
                        depth: self.depth + 1,
                        path: &mut *self.path,
                        out: &mut *self.out,
                    };
                    match seq.next_element_seed(walker) {
                        Ok(Some(())) => index += 1,
                        Ok(None) => break,
                        Err(e) => return Err(join(&format!("[{index}]"), &e)),
                    }
                }
                self.path.truncate(base);
                Ok(())
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.enter()?;
        let base = self.path.len();
        let mut first = true;
        while let Some(CowStr(key)) = map.next_key()? {
            if first && self.mode == WalkMode::Values && matches!(&*key, "f32" | "f64") {
                let b64 = read_encoded(&mut map, &key, F64_OR_F32)?;
                let values = decode_numbers(&b64, &key, self.ctx)?;
                return self.leaf(Samples::Columns(values));
            }
            first = false;
            self.path.truncate(base);
            push_segment(self.path, &key).map_err(|e: A::Error| join(&format!(".{key}"), &e))?;
            let walker = Walker {
                ctx: self.ctx,
                mode: self.mode,
                depth: self.depth + 1,
                path: &mut *self.path,
                out: &mut *self.out,
            };
            map.next_value_seed(walker)
                .map_err(|e| join(&format!(".{key}"), &e))?;
        }
        self.path.truncate(base);
        Ok(())
    }
}

/// Formats an index without allocating.
fn itoa_usize(mut n: usize) -> SmallStr {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    SmallStr { buf, start: i }
}

/// A short ASCII string on the stack.
struct SmallStr {
    buf: [u8; 20],
    start: usize,
}

impl SmallStr {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[self.start..]).unwrap_or("")
    }
}
