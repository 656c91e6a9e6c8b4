//! Limits that bound what one frame may cost, with their documented defaults.

/// What one frame may contain. Every limit has a clear error when exceeded (see `docs/protocol.md`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted frame, in bytes (`--max-frame-bytes`).
    pub max_frame_bytes: usize,
    /// Deepest accepted JSON nesting, counted from the frame's outermost value (`--max-depth`).
    pub max_depth: usize,
    /// Most 3D points (or line vertices) in one message (`--max-points`).
    pub max_points: usize,
    /// Longest stream name in bytes, flattened names included (`--max-stream-name`).
    pub max_stream_name_bytes: usize,
    /// Most scalar series one message may name (`value`, `values` leaves and other numeric fields).
    pub max_fields: usize,
    /// Most pixels in one image, encoded or raw (`--max-image-pixels`).
    pub max_image_pixels: u64,
}

impl Limits {
    /// Default for [`Limits::max_frame_bytes`]: 16 MiB.
    pub const DEFAULT_MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;
    /// Default for [`Limits::max_depth`].
    pub const DEFAULT_MAX_DEPTH: usize = 64;
    /// Highest value [`Limits::max_depth`] may take (the JSON parser's own recursion guard sits above it).
    pub const MAX_DEPTH_CEILING: usize = 100;
    /// Lowest value [`Limits::max_depth`] may take: the deepest well-formed message needs 5 levels.
    pub const MAX_DEPTH_FLOOR: usize = 5;
    /// Default for [`Limits::max_points`].
    pub const DEFAULT_MAX_POINTS: usize = 1_000_000;
    /// Default for [`Limits::max_stream_name_bytes`].
    pub const DEFAULT_MAX_STREAM_NAME_BYTES: usize = 256;
    /// Default for [`Limits::max_fields`].
    pub const DEFAULT_MAX_FIELDS: usize = 1024;
    /// Default for [`Limits::max_image_pixels`]: 8K UHD, 7680 × 4320.
    pub const DEFAULT_MAX_IMAGE_PIXELS: u64 = 7680 * 4320;

    /// Checks that the limits are usable, naming the first one that is not.
    pub fn validate(&self) -> Result<(), String> {
        if !(Self::MAX_DEPTH_FLOOR..=Self::MAX_DEPTH_CEILING).contains(&self.max_depth) {
            return Err(format!(
                "--max-depth must be between {} and {} (got {})",
                Self::MAX_DEPTH_FLOOR,
                Self::MAX_DEPTH_CEILING,
                self.max_depth
            ));
        }
        if self.max_frame_bytes < 64 {
            return Err(format!(
                "--max-frame-bytes must be at least 64 (got {})",
                self.max_frame_bytes
            ));
        }
        if self.max_stream_name_bytes == 0
            || self.max_points == 0
            || self.max_fields == 0
            || self.max_image_pixels == 0
        {
            return Err(
                "--max-stream-name, --max-points, --max-fields and --max-image-pixels must be positive"
                    .to_owned(),
            );
        }
        Ok(())
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_frame_bytes: Self::DEFAULT_MAX_FRAME_BYTES,
            max_depth: Self::DEFAULT_MAX_DEPTH,
            max_points: Self::DEFAULT_MAX_POINTS,
            max_stream_name_bytes: Self::DEFAULT_MAX_STREAM_NAME_BYTES,
            max_fields: Self::DEFAULT_MAX_FIELDS,
            max_image_pixels: Self::DEFAULT_MAX_IMAGE_PIXELS,
        }
    }
}

/// Formats a byte count for people: `512 B`, `3.5 KiB`, `16 MiB`, `1.2 GiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if value.fract() == 0.0 {
        format!("{} {}", value.round(), UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_bytes_reads_well() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(16 * 1024 * 1024), "16 MiB");
        assert_eq!(human_bytes(20 * 1024 * 1024), "20 MiB");
        assert_eq!(human_bytes(3584), "3.5 KiB");
    }

    #[test]
    fn defaults_are_valid_and_bad_depth_is_named() {
        assert!(Limits::default().validate().is_ok());
        let err = Limits {
            max_depth: 1000,
            ..Limits::default()
        }
        .validate()
        .unwrap_err();
        assert!(err.contains("--max-depth"), "{err}");
    }
}
