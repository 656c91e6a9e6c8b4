//! Exporting a recording to JSON lines.
//!
//! One line a frame: `{"vizcast":"record","log_time":<Unix seconds>,"frame":<the frame>}`, which
//! `vizcast replay` reads back. A frame's line breaks (JSON whitespace only: inside strings they
//! are always escaped) become spaces so it fits on one line; nothing else changes.

use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::Path;

use crate::{RecordError, Recording};

/// Writes every frame of `recording` to `out` as JSON lines; returns how many.
pub fn export_jsonl(recording: &Recording, out: &Path) -> Result<u64, RecordError> {
    let file = File::create(out).map_err(|e| RecordError::io(out, e))?;
    let mut writer = BufWriter::with_capacity(1 << 20, file);
    let mut count = 0;
    for frame in recording.frames_from(0)? {
        let frame = frame?;
        let text = frame.text.replace(['\n', '\r'], " ");
        writeln!(
            writer,
            "{{\"vizcast\":\"record\",\"log_time\":{:.9},\"frame\":{text}}}",
            frame.log_time as f64 / 1e9
        )
        .map_err(|e| RecordError::io(out, e))?;
        count += 1;
    }
    writer.flush().map_err(|e| RecordError::io(out, e))?;
    Ok(count)
}
