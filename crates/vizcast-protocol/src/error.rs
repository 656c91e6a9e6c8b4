//! Why a frame was rejected.

use crate::limits::human_bytes;

/// A rejected frame: what is wrong and where. The whole frame is rejected; nothing of it is forwarded.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct FrameError {
    /// What is wrong, with its JSON path first (`[2].points[3]: expected 3 numbers, got 2`).
    pub message: String,
    /// Byte offset in the frame near the problem, when known.
    pub offset: Option<usize>,
    /// What kind of problem this is.
    pub kind: FrameErrorKind,
}

/// The class of a [`FrameError`], for counters and close codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameErrorKind {
    /// The frame is larger than `--max-frame-bytes`.
    TooLarge,
    /// Not valid JSON, or not valid UTF-8.
    Syntax,
    /// Valid JSON that breaks the protocol (missing or wrong-typed fields, reserved key...).
    Invalid,
    /// A configured limit other than the frame size (nesting depth, points, fields, name length).
    Limit,
}

impl FrameErrorKind {
    /// Short machine-readable name, used in error control messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TooLarge => "too_large",
            Self::Syntax => "syntax",
            Self::Invalid => "invalid",
            Self::Limit => "limit",
        }
    }
}

impl FrameError {
    pub(crate) fn new(kind: FrameErrorKind, message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            offset: None,
            kind,
        }
    }

    /// The error for a frame of `size` bytes over the `max` limit.
    pub fn too_large(size: usize, max: usize) -> Self {
        Self::new(
            FrameErrorKind::TooLarge,
            format!(
                "frame of {} exceeds --max-frame-bytes ({})",
                human_bytes(size as u64),
                human_bytes(max as u64)
            ),
        )
    }

    /// The error for a frame that is not valid UTF-8.
    pub fn not_utf8(valid_up_to: usize) -> Self {
        Self {
            message: format!("frame is not valid UTF-8 (first bad byte at offset {valid_up_to})"),
            offset: Some(valid_up_to),
            kind: FrameErrorKind::Syntax,
        }
    }

    pub(crate) fn at(mut self, offset: usize) -> Self {
        self.offset = Some(offset);
        self
    }
}
