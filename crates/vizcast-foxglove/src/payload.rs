//! The JSON bodies of Foxglove's messages, as serde structures with Foxglove's field names, and
//! the packing of a cloud's points into `foxglove.PointCloud`'s `data`.
//!
//! Field names, nesting and enum values follow the JSON Schemas Foxglove publishes for these
//! messages (`foxglove.PointCloud`, `foxglove.SceneUpdate`, `foxglove.Log`), copied into
//! `schemas/`, and every body has every field they require: a `foxglove.SceneEntity` has all its
//! lists of primitives, empty but for its lines. Every body is built from borrowed data and
//! serialized once.

use serde::ser::SerializeSeq;
use serde::{Serialize, Serializer};
use vizcast_protocol::{Colors, Level};

use crate::FRAME_ID;

/// `foxglove.NumericType` of a packed field: `UINT8`.
pub const NUMERIC_UINT8: u8 = 1;
/// `foxglove.NumericType` of a packed field: `FLOAT32`.
pub const NUMERIC_FLOAT32: u8 = 7;
/// `foxglove.LineType`: `LINE_STRIP` (0-1, 1-2, …).
pub const LINE_STRIP: u8 = 0;
/// `foxglove.SceneEntityDeletionType`: `MATCHING_ID` (the entity with the given id).
pub const DELETE_MATCHING_ID: u8 = 0;

/// A point of a cloud without colours: x, y, z as little-endian `f32`.
pub const POINT_STRIDE: u32 = 12;
/// A point of a coloured cloud: x, y, z (`f32`), then red, green, blue, alpha (`u8`).
pub const COLORED_POINT_STRIDE: u32 = 16;

/// Foxglove's `time`: seconds and nanoseconds since the epoch of the data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Stamp {
    /// Whole seconds.
    pub sec: u64,
    /// Nanoseconds within the second, below 1,000,000,000.
    pub nsec: u32,
}

impl Stamp {
    /// The time `ns` nanoseconds after the epoch.
    pub fn from_nanos(ns: u64) -> Self {
        Self {
            sec: ns / 1_000_000_000,
            nsec: (ns % 1_000_000_000) as u32,
        }
    }
}

/// `foxglove.Vector3` and `foxglove.Point3`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Vector3 {
    /// x.
    pub x: f32,
    /// y.
    pub y: f32,
    /// z.
    pub z: f32,
}

/// `foxglove.Quaternion`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Quaternion {
    /// x.
    pub x: f32,
    /// y.
    pub y: f32,
    /// z.
    pub z: f32,
    /// w.
    pub w: f32,
}

/// `foxglove.Pose`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Pose {
    /// Position.
    pub position: Vector3,
    /// Orientation.
    pub orientation: Quaternion,
}

/// The identity pose: vizcast's coordinates are the world's.
pub const IDENTITY: Pose = Pose {
    position: Vector3 {
        x: 0.0,
        y: 0.0,
        z: 0.0,
    },
    orientation: Quaternion {
        x: 0.0,
        y: 0.0,
        z: 0.0,
        w: 1.0,
    },
};

/// `foxglove.Color`, components in 0–1.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Color {
    /// Red.
    pub r: f32,
    /// Green.
    pub g: f32,
    /// Blue.
    pub b: f32,
    /// Alpha (vizcast's colours are opaque).
    pub a: f32,
}

impl Color {
    /// An opaque colour from 8-bit sRGB.
    pub fn from_rgb8([r, g, b]: [u8; 3]) -> Self {
        Self {
            r: f32::from(r) / 255.0,
            g: f32::from(g) / 255.0,
            b: f32::from(b) / 255.0,
            a: 1.0,
        }
    }
}

/// `foxglove.PackedElementField`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct PackedElementField {
    /// Field name (`x`, `red`…).
    pub name: &'static str,
    /// Byte offset within a point.
    pub offset: u32,
    /// `foxglove.NumericType`.
    #[serde(rename = "type")]
    pub kind: u8,
}

/// The fields of a cloud without colours.
pub const XYZ_FIELDS: [PackedElementField; 3] = [
    field("x", 0, NUMERIC_FLOAT32),
    field("y", 4, NUMERIC_FLOAT32),
    field("z", 8, NUMERIC_FLOAT32),
];

/// The fields of a coloured cloud.
pub const XYZ_RGBA_FIELDS: [PackedElementField; 7] = [
    field("x", 0, NUMERIC_FLOAT32),
    field("y", 4, NUMERIC_FLOAT32),
    field("z", 8, NUMERIC_FLOAT32),
    field("red", 12, NUMERIC_UINT8),
    field("green", 13, NUMERIC_UINT8),
    field("blue", 14, NUMERIC_UINT8),
    field("alpha", 15, NUMERIC_UINT8),
];

const fn field(name: &'static str, offset: u32, kind: u8) -> PackedElementField {
    PackedElementField { name, offset, kind }
}

/// `foxglove.PointCloud`.
#[derive(Debug, Serialize)]
pub struct PointCloud<'a> {
    /// When the cloud was taken.
    pub timestamp: Stamp,
    /// Always [`FRAME_ID`].
    pub frame_id: &'static str,
    /// Always [`IDENTITY`].
    pub pose: Pose,
    /// Bytes per point.
    pub point_stride: u32,
    /// The layout of a point.
    pub fields: &'a [PackedElementField],
    /// Base64 of the packed points.
    pub data: &'a str,
}

impl<'a> PointCloud<'a> {
    /// A cloud in the world frame, at the identity pose.
    pub fn new(timestamp: Stamp, colored: bool, data: &'a str) -> Self {
        let (point_stride, fields): (u32, &[PackedElementField]) = if colored {
            (COLORED_POINT_STRIDE, &XYZ_RGBA_FIELDS)
        } else {
            (POINT_STRIDE, &XYZ_FIELDS)
        };
        Self {
            timestamp,
            frame_id: FRAME_ID,
            pose: IDENTITY,
            point_stride,
            fields,
            data,
        }
    }
}

/// Packs `positions` (and `colors`, when they are not [`Colors::Default`]) as
/// [`XYZ_FIELDS`] / [`XYZ_RGBA_FIELDS`] say: little-endian `f32` x, y, z, then red, green, blue
/// and an opaque alpha. Returns the bytes and whether they hold colours.
pub fn pack_points(positions: &[[f32; 3]], colors: &Colors) -> (Vec<u8>, bool) {
    let colored = !matches!(colors, Colors::Default);
    let stride = if colored {
        COLORED_POINT_STRIDE
    } else {
        POINT_STRIDE
    } as usize;
    let mut data = Vec::with_capacity(positions.len() * stride);
    for (i, point) in positions.iter().enumerate() {
        for v in point {
            data.extend_from_slice(&v.to_le_bytes());
        }
        let rgb = match colors {
            Colors::Default => continue,
            Colors::Uniform(rgb) => *rgb,
            // The protocol guarantees one colour per point; a short list would leave the rest
            // black rather than misalign the buffer.
            Colors::PerPoint(rgb) => rgb.get(i).copied().unwrap_or_default(),
        };
        data.extend_from_slice(&[rgb[0], rgb[1], rgb[2], u8::MAX]);
    }
    (data, colored)
}

/// `foxglove.SceneUpdate`.
#[derive(Debug, Serialize)]
pub struct SceneUpdate<'a> {
    /// Entities removed.
    pub deletions: Vec<SceneEntityDeletion<'a>>,
    /// Entities added or replaced.
    pub entities: Vec<SceneEntity<'a>>,
}

/// `foxglove.SceneEntityDeletion`.
#[derive(Debug, Serialize)]
pub struct SceneEntityDeletion<'a> {
    /// When.
    pub timestamp: Stamp,
    /// `foxglove.SceneEntityDeletionType`.
    #[serde(rename = "type")]
    pub kind: u8,
    /// The entity (with [`DELETE_MATCHING_ID`]).
    pub id: &'a str,
}

/// `foxglove.SceneEntity`, with line primitives only. The schema requires every list of
/// primitives, so the others are there, empty ([`Empty`]).
#[derive(Debug, Serialize)]
pub struct SceneEntity<'a> {
    /// When it last changed.
    pub timestamp: Stamp,
    /// Always [`FRAME_ID`].
    pub frame_id: &'static str,
    /// Its id: the stream.
    pub id: &'a str,
    /// Zero: it stays until replaced or deleted.
    pub lifetime: Stamp,
    /// Whether it follows its frame.
    pub frame_locked: bool,
    /// Key-value pairs about it.
    pub metadata: &'a [KeyValuePair<'a>],
    /// Arrows: none.
    pub arrows: Empty,
    /// Cubes: none.
    pub cubes: Empty,
    /// Spheres: none.
    pub spheres: Empty,
    /// Cylinders: none.
    pub cylinders: Empty,
    /// Its lines.
    pub lines: Vec<LinePrimitive>,
    /// Triangle lists: none.
    pub triangles: Empty,
    /// Texts: none.
    pub texts: Empty,
    /// Models: none.
    pub models: Empty,
}

impl<'a> SceneEntity<'a> {
    /// The entity `id` at `timestamp` holding `lines`: in the world frame, not frame-locked, no
    /// metadata, no lifetime (it stays until replaced or deleted) and no other primitives.
    pub fn new(timestamp: Stamp, id: &'a str, lines: Vec<LinePrimitive>) -> Self {
        Self {
            timestamp,
            frame_id: FRAME_ID,
            id,
            lifetime: Stamp { sec: 0, nsec: 0 },
            frame_locked: false,
            metadata: &[],
            arrows: Empty,
            cubes: Empty,
            spheres: Empty,
            cylinders: Empty,
            lines,
            triangles: Empty,
            texts: Empty,
            models: Empty,
        }
    }
}

/// A list of primitives vizcast never sends: always an empty array (`[]`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Empty;

impl Serialize for Empty {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_seq(Some(0))?.end()
    }
}

/// `foxglove.KeyValuePair`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct KeyValuePair<'a> {
    /// Key.
    pub key: &'a str,
    /// Value.
    pub value: &'a str,
}

/// `foxglove.LinePrimitive`.
#[derive(Debug, Serialize)]
pub struct LinePrimitive {
    /// `foxglove.LineType`.
    #[serde(rename = "type")]
    pub kind: u8,
    /// Always [`IDENTITY`].
    pub pose: Pose,
    /// Width.
    pub thickness: f32,
    /// Whether `thickness` is in pixels.
    pub scale_invariant: bool,
    /// Vertices.
    pub points: Vec<Vector3>,
    /// One colour for all.
    pub color: Color,
    /// One colour per vertex, or none.
    pub colors: Vec<Color>,
    /// Indices into `points` (empty: the points in order).
    pub indices: &'static [u32],
}

/// `foxglove.Log`.
#[derive(Debug, Serialize)]
pub struct Log<'a> {
    /// When.
    pub timestamp: Stamp,
    /// `foxglove.LogLevel`.
    pub level: u8,
    /// The text.
    pub message: &'a str,
    /// Where it came from: the stream.
    pub name: &'a str,
    /// Source file: none.
    pub file: &'static str,
    /// Source line: none (0).
    pub line: u32,
}

/// `foxglove.LogLevel` of a vizcast level: DEBUG 1, INFO 2, WARNING 3, ERROR 4 (vizcast has no
/// FATAL, 5, nor UNKNOWN, 0).
pub fn log_level(level: Level) -> u8 {
    match level {
        Level::Debug => 1,
        Level::Info => 2,
        Level::Warn => 3,
        Level::Error => 4,
    }
}
