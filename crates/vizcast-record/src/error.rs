//! Why a recording could not be written or read.

use std::path::PathBuf;

/// A recording or replay error, with the file it is about.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The file could not be opened, read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The file is not a recording vizcast can read.
    #[error("{path}: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The MCAP library refused the data.
    #[error("{path}: {source}")]
    Mcap {
        /// The file.
        path: PathBuf,
        /// What the library said.
        source: mcap::McapError,
    },
}

impl RecordError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_owned(),
            source,
        }
    }

    pub(crate) fn format(path: &std::path::Path, reason: impl Into<String>) -> Self {
        Self::Format {
            path: path.to_owned(),
            reason: reason.into(),
        }
    }

    pub(crate) fn mcap(path: &std::path::Path, source: mcap::McapError) -> Self {
        Self::Mcap {
            path: path.to_owned(),
            source,
        }
    }
}
