//! Images: what an `image` message carries, and the checks the hub can afford without decoding a
//! pixel.
//!
//! An image is either **encoded** (`{"jpeg": "<base64>"}`, `{"png": "<base64>"}`) or **raw**
//! (`{"shape": [h, w] | [h, w, c], "u8" | "u16" | "f32": "<base64>"}`). The hub checks:
//! - the base64 (every character; the decoded length of raw pixels against their shape);
//! - a JPEG's markers up to its frame header (its size and components) and its end marker, so a
//!   truncated file is refused;
//! - a PNG's signature, its chunk structure and every chunk's CRC up to `IEND`, and its header's
//!   size, bit depth and colour type, so a cut or altered file is refused;
//! - the pixel count against [`crate::Limits::max_image_pixels`].
//!
//! It never decompresses: the pixels are the viewers' business. The base64 text stays where it is
//! in the frame ([`Image::data`] is its place), so the frame is mirrored and recorded byte for
//! byte and a translation can copy it as it is (Foxglove's `CompressedImage` takes the same
//! base64).

use std::ops::Range;

/// How an image's pixels are given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ImageEncoding {
    /// A JPEG file.
    Jpeg,
    /// A PNG file.
    Png,
    /// Raw pixels, row by row, channels interleaved, little-endian.
    Raw(PixelType),
}

impl ImageEncoding {
    /// The field that carries the data: `jpeg`, `png`, `u8`, `u16` or `f32`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jpeg => "jpeg",
            Self::Png => "png",
            Self::Raw(pixel) => pixel.as_str(),
        }
    }
}

/// The type of one channel of a raw pixel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PixelType {
    /// 8-bit unsigned (mono, RGB, RGBA).
    U8,
    /// 16-bit unsigned (mono: depth in millimetres, thermal counts).
    U16,
    /// 32-bit float (mono: a 2D scalar field).
    F32,
}

impl PixelType {
    /// The field name: `u8`, `u16`, `f32`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::U8 => "u8",
            Self::U16 => "u16",
            Self::F32 => "f32",
        }
    }

    /// Bytes per channel.
    pub fn size(self) -> usize {
        match self {
            Self::U8 => 1,
            Self::U16 => 2,
            Self::F32 => 4,
        }
    }
}

/// How one-channel raw pixels map to colours.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Colormap {
    /// Black to white.
    #[default]
    Gray,
    /// Matplotlib's viridis (dark blue to yellow).
    Viridis,
    /// Google's turbo (dark blue through green to dark red).
    Turbo,
}

impl Colormap {
    /// Every colormap, in the order of [`Colormap::as_str`]'s names.
    pub const ALL: [Self; 3] = [Self::Gray, Self::Viridis, Self::Turbo];

    /// The name: `gray`, `viridis`, `turbo`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gray => "gray",
            Self::Viridis => "viridis",
            Self::Turbo => "turbo",
        }
    }

    /// The colormap of a name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

/// An image message's payload.
#[derive(Clone, Debug, PartialEq)]
pub struct Image {
    /// How the pixels are given.
    pub encoding: ImageEncoding,
    /// Width in pixels (from the shape, or the JPEG's or PNG's header).
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Channels per pixel: 1 (mono), 3 (RGB) or 4 (RGBA; a JPEG's CMYK); for a PNG, 2 is grey
    /// with alpha.
    pub channels: u8,
    /// Where the base64 text of the data is in the frame (the characters between the quotes).
    pub data: Range<usize>,
    /// Its decoded length in bytes.
    pub bytes: usize,
    /// How one-channel raw pixels are coloured (`colormap`; gray when not given).
    pub colormap: Option<Colormap>,
    /// The values at the two ends of the colormap (`range`); from the data when not given.
    pub range: Option<[f32; 2]>,
}

impl Image {
    /// Pixels in the image.
    pub fn pixels(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }

    /// The base64 text of the data, from the frame the message came in.
    pub fn data_in<'a>(&self, frame: &'a str) -> &'a str {
        &frame[self.data.clone()]
    }
}

/// Size and channels read from an encoded image's header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub width: u32,
    pub height: u32,
    pub channels: u8,
}

/// Reads a JPEG's size and components from its frame header, checking the markers on the way and
/// that the file ends with its end-of-image marker.
pub(crate) fn jpeg_header(data: &[u8]) -> Result<Header, String> {
    if data.len() < 4 || data[0] != 0xff || data[1] != 0xd8 {
        return Err("not a JPEG (it does not start with the SOI marker FF D8)".to_owned());
    }
    if data[data.len() - 2..] != [0xff, 0xd9] {
        return Err("a JPEG that does not end with its EOI marker (FF D9): cut short?".to_owned());
    }
    let mut at = 2;
    loop {
        // Markers may be padded with any number of FF bytes.
        while data.get(at) == Some(&0xff) && data.get(at + 1) == Some(&0xff) {
            at += 1;
        }
        let (Some(&0xff), Some(&marker)) = (data.get(at), data.get(at + 1)) else {
            return Err(format!(
                "a JPEG with no frame header (SOF) before byte {at}"
            ));
        };
        at += 2;
        match marker {
            // Markers without a length.
            0x01 | 0xd0..=0xd7 => continue,
            0xd9 | 0xda => {
                return Err("a JPEG with no frame header (SOF) before its scan".to_owned());
            }
            _ => {}
        }
        let Some(len) = data
            .get(at..at + 2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
        else {
            return Err("a JPEG cut short in a marker segment".to_owned());
        };
        if len < 2 || at + len > data.len() {
            return Err(format!(
                "a JPEG marker segment of {len} bytes at byte {at} runs past the end"
            ));
        }
        // Start-of-frame markers: every C0–CF but DHT (C4), JPG (C8) and DAC (CC).
        if matches!(marker, 0xc0..=0xcf) && !matches!(marker, 0xc4 | 0xc8 | 0xcc) {
            let segment = &data[at + 2..at + len];
            if segment.len() < 6 {
                return Err("a JPEG frame header too short for its size".to_owned());
            }
            let height = u32::from(u16::from_be_bytes([segment[1], segment[2]]));
            let width = u32::from(u16::from_be_bytes([segment[3], segment[4]]));
            let channels = segment[5];
            if !matches!(channels, 1 | 3 | 4) {
                return Err(format!(
                    "a JPEG with {channels} components (1, 3 or 4 are shown)"
                ));
            }
            if segment.len() < 6 + 3 * usize::from(channels) {
                return Err("a JPEG frame header shorter than its components".to_owned());
            }
            return Ok(Header {
                width,
                height,
                channels,
            });
        }
        at += len;
    }
}

/// The PNG file signature.
const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];

/// Reads a PNG's size and channels from its header, checking the signature, that the chunks run
/// from `IHDR` to `IEND` with nothing after, and every chunk's CRC.
pub(crate) fn png_header(data: &[u8]) -> Result<Header, String> {
    if !data.starts_with(&PNG_SIGNATURE) {
        return Err("not a PNG (it does not start with the PNG signature)".to_owned());
    }
    let mut at = PNG_SIGNATURE.len();
    let mut header = None;
    let mut index = 0;
    loop {
        let Some(chunk) = data.get(at..at + 8) else {
            return Err(format!(
                "a PNG cut short at byte {at}, before its IEND chunk"
            ));
        };
        let len = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) as usize;
        let kind = [chunk[4], chunk[5], chunk[6], chunk[7]];
        let end = at
            .checked_add(12)
            .and_then(|n| n.checked_add(len))
            .filter(|&end| end <= data.len())
            .ok_or_else(|| {
                format!(
                    "a PNG chunk {} of {len} bytes at byte {at} runs past the end of the file",
                    String::from_utf8_lossy(&kind)
                )
            })?;
        let body = &data[at + 8..at + 8 + len];
        let crc = u32::from_be_bytes([data[end - 4], data[end - 3], data[end - 2], data[end - 1]]);
        if crc32(&data[at + 4..at + 8 + len]) != crc {
            return Err(format!(
                "a PNG chunk {} at byte {at} fails its CRC: altered or damaged",
                String::from_utf8_lossy(&kind)
            ));
        }
        if index == 0 && &kind != b"IHDR" {
            return Err("a PNG whose first chunk is not IHDR".to_owned());
        }
        match &kind {
            b"IHDR" if index == 0 => {
                if len != 13 {
                    return Err(format!("a PNG header (IHDR) of {len} bytes, not 13"));
                }
                let width = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
                let height = u32::from_be_bytes([body[4], body[5], body[6], body[7]]);
                let (depth, color) = (body[8], body[9]);
                let channels = match (color, depth) {
                    (0, 1 | 2 | 4 | 8 | 16) => 1,
                    (2, 8 | 16) => 3,
                    (3, 1 | 2 | 4 | 8) => 3,
                    (4, 8 | 16) => 2,
                    (6, 8 | 16) => 4,
                    _ => {
                        return Err(format!(
                            "a PNG with colour type {color} and bit depth {depth}, which PNG does not define"
                        ));
                    }
                };
                if width == 0 || height == 0 || width > i32::MAX as u32 || height > i32::MAX as u32
                {
                    return Err(format!("a PNG of {width}×{height} pixels"));
                }
                header = Some(Header {
                    width,
                    height,
                    channels,
                });
            }
            b"IHDR" => return Err("a PNG with a second IHDR chunk".to_owned()),
            b"IEND" => {
                if end != data.len() {
                    return Err(format!(
                        "{} bytes after the PNG's IEND chunk",
                        data.len() - end
                    ));
                }
                return header.ok_or_else(|| "a PNG without its IHDR chunk".to_owned());
            }
            _ => {}
        }
        at = end;
        index += 1;
    }
}

/// CRC-32 (ISO-HDLC, PNG's), a byte at a time from a table built at compile time.
fn crc32(bytes: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut n = 0;
        while n < 256 {
            let mut c = n as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    0xedb8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            table[n] = c;
            n += 1;
        }
        table
    };
    let mut crc = 0xffff_ffffu32;
    for &b in bytes {
        crc = TABLE[((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8);
    }
    crc ^ 0xffff_ffff
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal baseline JPEG header: SOI, an APP0 segment, SOF0 of `w`×`h` with `c`
    /// components, then EOI.
    pub(crate) fn jpeg(w: u16, h: u16, c: u8) -> Vec<u8> {
        let mut out = vec![0xff, 0xd8, 0xff, 0xe0, 0x00, 0x04, 0x00, 0x00];
        let len = 8 + 3 * u16::from(c);
        out.extend_from_slice(&[0xff, 0xc0]);
        out.extend_from_slice(&len.to_be_bytes());
        out.push(8);
        out.extend_from_slice(&h.to_be_bytes());
        out.extend_from_slice(&w.to_be_bytes());
        out.push(c);
        for i in 0..c {
            out.extend_from_slice(&[i + 1, 0x11, 0]);
        }
        out.extend_from_slice(&[0xff, 0xd9]);
        out
    }

    fn chunk(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut out = (body.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(body);
        let mut crc_input = kind.to_vec();
        crc_input.extend_from_slice(body);
        out.extend_from_slice(&crc32(&crc_input).to_be_bytes());
        out
    }

    /// A PNG's structure (the IDAT need not be valid deflate: the hub does not inflate).
    pub(crate) fn png(w: u32, h: u32, color: u8) -> Vec<u8> {
        let mut ihdr = w.to_be_bytes().to_vec();
        ihdr.extend_from_slice(&h.to_be_bytes());
        ihdr.extend_from_slice(&[8, color, 0, 0, 0]);
        let mut out = PNG_SIGNATURE.to_vec();
        out.extend(chunk(b"IHDR", &ihdr));
        out.extend(chunk(b"IDAT", &[1, 2, 3]));
        out.extend(chunk(b"IEND", &[]));
        out
    }

    #[test]
    fn crc32_is_pngs() {
        // The CRC of the IEND chunk's type, in every PNG.
        assert_eq!(crc32(b"IEND"), 0xae42_6082);
    }

    #[test]
    fn jpeg_headers_give_size_and_components_and_refuse_the_broken() {
        assert_eq!(
            jpeg_header(&jpeg(640, 480, 3)),
            Ok(Header {
                width: 640,
                height: 480,
                channels: 3
            })
        );
        assert_eq!(jpeg_header(&jpeg(8, 2, 1)).unwrap().channels, 1);
        let whole = jpeg(640, 480, 3);
        assert!(
            jpeg_header(&whole[..whole.len() - 1])
                .unwrap_err()
                .contains("EOI")
        );
        assert!(jpeg_header(b"GIF89a").unwrap_err().contains("not a JPEG"));
        // A segment whose length runs past the end.
        let mut long = whole.clone();
        long[5] = 0xff;
        assert!(jpeg_header(&long).unwrap_err().contains("runs past"));
        // No frame header before the scan.
        assert!(
            jpeg_header(&[0xff, 0xd8, 0xff, 0xda, 0, 2, 0xff, 0xd9])
                .unwrap_err()
                .contains("no frame header")
        );
        assert!(
            jpeg_header(&jpeg(4, 4, 2))
                .unwrap_err()
                .contains("components")
        );
    }

    #[test]
    fn png_headers_give_size_and_channels_and_refuse_the_broken() {
        assert_eq!(
            png_header(&png(3, 2, 6)),
            Ok(Header {
                width: 3,
                height: 2,
                channels: 4
            })
        );
        assert_eq!(png_header(&png(3, 2, 0)).unwrap().channels, 1);
        assert_eq!(png_header(&png(3, 2, 2)).unwrap().channels, 3);
        let whole = png(64, 64, 2);
        assert!(
            png_header(&whole[..whole.len() - 3])
                .unwrap_err()
                .contains("runs past")
        );
        assert!(png_header(&whole[..40]).unwrap_err().contains("cut short"));
        // A header that lies about its size fails its CRC.
        let mut lying = whole.clone();
        lying[19] = 0xff;
        assert!(png_header(&lying).unwrap_err().contains("CRC"));
        let mut trailing = whole.clone();
        trailing.push(0);
        assert!(
            png_header(&trailing)
                .unwrap_err()
                .contains("after the PNG's IEND")
        );
        assert!(png_header(&png(0, 5, 2)).unwrap_err().contains("0×5"));
        assert!(
            png_header(&png(4, 4, 5))
                .unwrap_err()
                .contains("colour type 5")
        );
        assert!(png_header(b"\x89PNX").unwrap_err().contains("not a PNG"));
    }
}
