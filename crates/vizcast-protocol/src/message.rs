//! The decoded form of a validated message: what the desktop store and the recorder consume.

use std::ops::Range;

pub use crate::image::{Colormap, Image, ImageEncoding, PixelType};

/// One validated message of a frame.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    /// Where this message's bytes are in its frame: the whole frame for a single message, the element
    /// for a batch. The recorder stores exactly these bytes.
    pub span: Range<usize>,
    /// The stream this message is about (`robot/arm/joint1`).
    pub stream: Box<str>,
    /// When it happened, in seconds.
    pub time: Time,
    /// Scalar series: `value` (empty path), `values` leaves and other numeric fields, by path.
    pub scalars: Vec<Scalar>,
    /// The 3D, text or clear payload, if any.
    pub shape: Option<Shape>,
}

impl Message {
    /// The full name of one of this message's scalar series: the stream, or `stream/path`.
    pub fn series_name(&self, scalar: &Scalar) -> String {
        series_name(&self.stream, &scalar.path)
    }

    /// Number of samples this message carries (scalar samples, points, vertices; text and clear count 1).
    pub fn sample_count(&self) -> usize {
        let scalars: usize = self.scalars.iter().map(|s| s.samples.len()).sum();
        let shape = match &self.shape {
            Some(Shape::Points(points)) => points.positions.len(),
            Some(Shape::Line(line)) => line.positions.len(),
            Some(Shape::Text(_) | Shape::Clear | Shape::Image(_)) => 1,
            None => 0,
        };
        scalars + shape
    }

    /// Bytes of memory this message holds: itself and what it owns on the heap (by capacity).
    /// Queues of parsed frames bound themselves by this, beside the frame's text.
    pub fn footprint(&self) -> usize {
        let time = match &self.time {
            Time::Columns(ts) => ts.capacity() * size_of::<f64>(),
            Time::Receive | Time::At(_) => 0,
        };
        let scalars: usize = self
            .scalars
            .iter()
            .map(|s| {
                s.path.len()
                    + match &s.samples {
                        Samples::Columns(values) => values.capacity() * size_of::<f64>(),
                        Samples::One(_) => 0,
                    }
            })
            .sum();
        let shape = match &self.shape {
            Some(Shape::Points(points)) => {
                points.positions.capacity() * size_of::<[f32; 3]>() + points.colors.footprint()
            }
            Some(Shape::Line(line)) => {
                line.positions.capacity() * size_of::<[f32; 3]>() + line.colors.footprint()
            }
            Some(Shape::Text(text)) => text.text.len(),
            // The pixels stay in the frame's text, which is counted with it.
            Some(Shape::Clear | Shape::Image(_)) | None => 0,
        };
        size_of::<Self>()
            + self.stream.len()
            + time
            + self.scalars.capacity() * size_of::<Scalar>()
            + scalars
            + shape
    }
}

/// Joins a stream name and a series path (`imu` + `ax` → `imu/ax`; an empty path is the stream itself).
pub fn series_name(stream: &str, path: &str) -> String {
    if path.is_empty() {
        stream.to_owned()
    } else {
        let mut name = String::with_capacity(stream.len() + 1 + path.len());
        name.push_str(stream);
        name.push('/');
        name.push_str(path);
        name
    }
}

/// The time of a message.
#[derive(Clone, Debug, PartialEq)]
pub enum Time {
    /// No `t` was given: the receiver's clock applies.
    Receive,
    /// One time, in seconds.
    At(f64),
    /// A columnar batch: one time per sample, in seconds.
    Columns(Vec<f64>),
}

impl Time {
    /// The latest time given, if any (the last of a columnar batch).
    pub fn last(&self) -> Option<f64> {
        match self {
            Self::Receive => None,
            Self::At(t) => Some(*t),
            Self::Columns(ts) => ts.last().copied(),
        }
    }
}

/// One scalar series of a message.
#[derive(Clone, Debug, PartialEq)]
pub struct Scalar {
    /// Path below the message's stream, `/`-separated; empty for the stream's own `value`.
    pub path: Box<str>,
    /// The sample(s).
    pub samples: Samples,
}

/// Scalar samples: one value, or one per entry of a columnar `t`.
#[derive(Clone, Debug, PartialEq)]
pub enum Samples {
    /// A single sample at the message's time.
    One(f64),
    /// One sample per time of [`Time::Columns`].
    Columns(Vec<f64>),
}

impl Samples {
    /// Number of samples.
    pub fn len(&self) -> usize {
        match self {
            Self::One(_) => 1,
            Self::Columns(values) => values.len(),
        }
    }

    /// Whether there are no samples (an empty column).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The last sample, if any.
    pub fn last(&self) -> Option<f64> {
        match self {
            Self::One(v) => Some(*v),
            Self::Columns(values) => values.last().copied(),
        }
    }
}

/// The non-scalar payload of a message.
#[derive(Clone, Debug, PartialEq)]
pub enum Shape {
    /// A 3D point cloud that replaces the stream's current cloud.
    Points(Points),
    /// A 3D line strip, replacing or extending the stream's line.
    Line(Line),
    /// A text event.
    Text(Text),
    /// Clears the stream and every stream below it (`a` clears `a` and `a/…`).
    Clear,
    /// An image (a camera frame, a heatmap) that replaces the stream's current image.
    Image(Image),
}

impl Shape {
    /// The kind of this payload.
    pub fn kind(&self) -> Kind {
        match self {
            Self::Points(_) => Kind::Points,
            Self::Line(_) => Kind::Line,
            Self::Text(_) => Kind::Text,
            Self::Clear => Kind::Clear,
            Self::Image(_) => Kind::Image,
        }
    }
}

/// What kind of data a message or a stream carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Scalar time series.
    Scalar,
    /// 3D point cloud.
    Points,
    /// 3D line strip.
    Line,
    /// Text events.
    Text,
    /// A clear command.
    Clear,
    /// Images.
    Image,
}

impl Kind {
    /// The kind's name as used in the JSON status endpoints.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scalar => "scalar",
            Self::Points => "points",
            Self::Line => "line",
            Self::Text => "text",
            Self::Clear => "clear",
            Self::Image => "image",
        }
    }
}

/// A 3D point cloud.
#[derive(Clone, Debug, PartialEq)]
pub struct Points {
    /// Positions, in world units.
    pub positions: Vec<[f32; 3]>,
    /// Colours, if given.
    pub colors: Colors,
    /// Point radius in world units, if given.
    pub radius: Option<f32>,
}

/// A 3D line strip.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    /// Vertices, in world units.
    pub positions: Vec<[f32; 3]>,
    /// `true`: extend the stream's line; `false`: replace it.
    pub append: bool,
    /// Colours, if given.
    pub colors: Colors,
    /// Line width in pixels, if given.
    pub width: Option<f32>,
}

/// Colours of points or line vertices, as 8-bit sRGB.
#[derive(Clone, Debug, PartialEq)]
pub enum Colors {
    /// None given: the viewer picks (a colour map by height).
    Default,
    /// One colour for all (`color`).
    Uniform([u8; 3]),
    /// One colour per point (`colors`), as many as points.
    PerPoint(Vec<[u8; 3]>),
}

impl Colors {
    /// Bytes these colours hold on the heap.
    fn footprint(&self) -> usize {
        match self {
            Self::PerPoint(colors) => colors.capacity() * size_of::<[u8; 3]>(),
            Self::Default | Self::Uniform(_) => 0,
        }
    }
}

/// A text event.
#[derive(Clone, Debug, PartialEq)]
pub struct Text {
    /// The text.
    pub text: Box<str>,
    /// Its severity.
    pub level: Level,
}

/// Severity of a text event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Level {
    /// Verbose detail.
    Debug,
    /// Ordinary event (the default).
    #[default]
    Info,
    /// Something to look at.
    Warn,
    /// Something went wrong.
    Error,
}

impl Level {
    /// Parses the `level` field.
    pub fn parse(level: &str) -> Option<Self> {
        Some(match level {
            "debug" => Self::Debug,
            "info" => Self::Info,
            "warn" | "warning" => Self::Warn,
            "error" => Self::Error,
            _ => return None,
        })
    }
}
