//! Helpers for producers: the compact `{"f32": "<base64>"}` encoding of numeric arrays.

use base64_simd::STANDARD;

/// Base64 of little-endian `f32`s, for `{"f32": …}` (points, lines, colours, values).
pub fn f32_base64(values: &[f32]) -> String {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    STANDARD.encode_to_string(bytes)
}

/// Base64 of little-endian `f64`s, for `{"f64": …}` (times, values).
pub fn f64_base64(values: &[f64]) -> String {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    STANDARD.encode_to_string(bytes)
}

/// Base64 of bytes, for `{"u8": …}` (8-bit RGB colours).
pub fn u8_base64(bytes: &[u8]) -> String {
    STANDARD.encode_to_string(bytes)
}
