//! The vizcast wire protocol.
//!
//! Producers send UTF-8 JSON frames: one message object, or an array of them (a batch). This crate
//! validates a frame once and decodes it ([`parse_frame`] → [`Message`]s), with errors that say what
//! is wrong and where ([`FrameError`]), under configurable [`Limits`]. The hub's own messages to its
//! clients are [`Control`] messages. The contract is `docs/protocol.md` and
//! `assets/message.schema.json`.
//!
//! ```
//! use vizcast_protocol::{Limits, parse_frame};
//! let messages = parse_frame(r#"{"stream": "robot/joint1", "t": 1.5, "value": 0.53}"#, &Limits::default()).unwrap();
//! assert_eq!(&*messages[0].stream, "robot/joint1");
//! ```

#[cfg(target_endian = "big")]
compile_error!(
    "encoded arrays are decoded in place as little-endian: vizcast needs a little-endian target"
);

mod control;
mod encode;
mod error;
mod fast;
pub mod image;
mod limits;
mod message;
mod parse;
mod subscription;

pub use control::{
    CONTROL_PREFIX, Control, NatsLink, NatsStatus, PROTOCOL_VERSION, RecordingStatus, ReplayStatus,
    is_control,
};
pub use encode::{f32_base64, f64_base64, u8_base64};
pub use error::{FrameError, FrameErrorKind};
pub use limits::{Limits, human_bytes};
pub use message::{
    Colormap, Colors, Image, ImageEncoding, Kind, Level, Line, Message, PixelType, Points, Samples,
    Scalar, Shape, Text, Time, series_name,
};
pub use parse::parse_frame;
pub use subscription::{MAX_PATTERNS, MAX_REQUEST_BYTES, Subscription, SubscriptionError};

#[cfg(test)]
mod tests;
