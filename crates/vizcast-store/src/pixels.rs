//! Images to pixels: JPEG and PNG files decoded, raw pixels converted, one-channel values coloured
//! through a colormap, and what a pixel holds (for the hover readout). Pure functions: the
//! [`crate::ImageDecoder`] thread runs them, never the UI thread.
//!
//! Nothing here panics on bad data: a file that does not decode, or data whose length does not
//! match its size, is an error message to show in the image's place.

use std::fmt;
use std::io::Cursor;

use image::{ImageFormat, ImageReader};
use vizcast_protocol::{Colormap, ImageEncoding, PixelType};

use crate::StreamImage;

/// An image decoded to RGBA (8 bits per channel, not premultiplied, rows top first).
#[derive(Clone, Debug, PartialEq)]
pub struct Decoded {
    /// Width in pixels of `rgba`.
    pub width: u32,
    /// Height in pixels of `rgba`.
    pub height: u32,
    /// Image pixels per decoded pixel along each axis: 1, unless the image was larger than the
    /// side asked for and every `step`-th pixel was kept.
    pub step: u32,
    /// The pixels, `width × height × 4` bytes.
    pub rgba: Vec<u8>,
    /// How values became colours, for a heatmap (its colour bar).
    pub scale: Option<Scale>,
}

/// How a heatmap's values map to colours: what its colour bar shows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scale {
    /// The colormap.
    pub colormap: Colormap,
    /// The values at the colormap's two ends: the message's `range`, else the smallest and
    /// largest finite value of the image.
    pub range: [f32; 2],
}

/// What one pixel holds, as sent.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PixelValue {
    /// A `u8` or `u16` value (or the grey level of a one-channel JPEG or PNG).
    Int(u32),
    /// An `f32` value.
    Float(f32),
    /// A colour.
    Rgb([u8; 3]),
    /// A colour with alpha.
    Rgba([u8; 4]),
}

impl PixelValue {
    /// The value of a decoded JPEG or PNG pixel, shown as its `channels` say.
    pub fn from_decoded(channels: u8, [r, g, b, a]: [u8; 4]) -> Self {
        match channels {
            1 => Self::Int(u32::from(r)),
            3 => Self::Rgb([r, g, b]),
            _ => Self::Rgba([r, g, b, a]),
        }
    }
}

impl fmt::Display for PixelValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Int(v) => write!(f, "{v}"),
            Self::Float(v) => write!(f, "{v}"),
            Self::Rgb([r, g, b]) => write!(f, "RGB {r} {g} {b}"),
            Self::Rgba([r, g, b, a]) => write!(f, "RGBA {r} {g} {b} {a}"),
        }
    }
}

/// The 256 colours of a colormap, from its low end to its high end (8-bit sRGB).
pub fn colormap_lut(colormap: Colormap) -> &'static [[u8; 3]; 256] {
    match colormap {
        Colormap::Gray => &GRAY,
        Colormap::Viridis => &VIRIDIS,
        Colormap::Turbo => &TURBO,
    }
}

/// The colour of `t` (0: the low end, 1: the high end; clamped) in a colormap.
pub fn colormap_color(colormap: Colormap, t: f32) -> [u8; 3] {
    colormap_lut(colormap)[lut_index(t)]
}

/// The LUT entry nearest to `t` in [0, 1] (clamped; NaN gives the low end).
fn lut_index(t: f32) -> usize {
    // `as` saturates: NaN becomes 0.
    (t.clamp(0.0, 1.0) * 255.0 + 0.5) as usize
}

/// Decodes `image` to RGBA. An image with a side longer than `max_side` (the GPU's largest
/// texture) keeps every `step`-th pixel along each axis so that it fits.
pub fn decode_image(image: &StreamImage, max_side: u32) -> Result<Decoded, String> {
    let step = image
        .width
        .max(image.height)
        .div_ceil(max_side.max(1))
        .max(1);
    match image.encoding {
        ImageEncoding::Jpeg => decode_file(image, ImageFormat::Jpeg, step),
        ImageEncoding::Png => decode_file(image, ImageFormat::Png, step),
        ImageEncoding::Raw(pixel) => decode_raw(image, pixel, step),
    }
}

/// What the pixel at (`x`, `y`) of a raw image holds (`None` for a JPEG or PNG, whose values
/// are in its decoded pixels, or outside the image).
pub fn raw_value(image: &StreamImage, x: u32, y: u32) -> Option<PixelValue> {
    let ImageEncoding::Raw(pixel) = image.encoding else {
        return None;
    };
    if x >= image.width || y >= image.height {
        return None;
    }
    let channels = usize::from(image.channels);
    let index = (y as usize * image.width as usize + x as usize) * channels;
    let at = index * pixel.size();
    let bytes = image.data.get(at..at + channels * pixel.size())?;
    Some(match (pixel, channels) {
        (PixelType::U8, 1) => PixelValue::Int(u32::from(bytes[0])),
        (PixelType::U8, 3) => PixelValue::Rgb([bytes[0], bytes[1], bytes[2]]),
        (PixelType::U8, 4) => PixelValue::Rgba([bytes[0], bytes[1], bytes[2], bytes[3]]),
        (PixelType::U16, 1) => PixelValue::Int(u32::from(u16::from_le_bytes([bytes[0], bytes[1]]))),
        (PixelType::F32, 1) => {
            PixelValue::Float(f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
        }
        _ => return None,
    })
}

fn decode_file(image: &StreamImage, format: ImageFormat, step: u32) -> Result<Decoded, String> {
    let name = if format == ImageFormat::Jpeg {
        "JPEG"
    } else {
        "PNG"
    };
    if image.data.is_empty() {
        return Err(format!("the {name}'s data did not decode from base64"));
    }
    let mut reader = ImageReader::with_format(Cursor::new(image.data.as_slice()), format);
    // No larger than the header the hub read and checked against its pixel limit.
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(image.width);
    limits.max_image_height = Some(image.height);
    reader.limits(limits);
    let decoded = reader
        .decode()
        .map_err(|err| format!("cannot decode the {name}: {err}"))?;
    let rgba = decoded.into_rgba8();
    let (width, height) = rgba.dimensions();
    if width == 0 || height == 0 {
        return Err(format!("the {name} has no pixels ({width}×{height})"));
    }
    Ok(subsample(width, height, rgba.into_raw(), step))
}

/// Keeps every `step`-th pixel of RGBA pixels along each axis.
fn subsample(width: u32, height: u32, rgba: Vec<u8>, step: u32) -> Decoded {
    if step <= 1 {
        return Decoded {
            width,
            height,
            step: 1,
            rgba,
            scale: None,
        };
    }
    let (w, s) = (width as usize, step as usize);
    let mut out =
        Vec::with_capacity(width.div_ceil(step) as usize * height.div_ceil(step) as usize * 4);
    for row in rgba.chunks_exact(w * 4).step_by(s) {
        for pixel in row.chunks_exact(4).step_by(s) {
            out.extend_from_slice(pixel);
        }
    }
    Decoded {
        width: width.div_ceil(step),
        height: height.div_ceil(step),
        step,
        rgba: out,
        scale: None,
    }
}

fn decode_raw(image: &StreamImage, pixel: PixelType, step: u32) -> Result<Decoded, String> {
    let (w, h, c) = (
        image.width as usize,
        image.height as usize,
        usize::from(image.channels),
    );
    let key = pixel.as_str();
    let expected = w
        .checked_mul(h)
        .and_then(|n| n.checked_mul(c * pixel.size()))
        .ok_or_else(|| format!("a {w}×{h} image is too large"))?;
    let data = image.data.as_slice();
    if data.len() != expected {
        return Err(format!(
            "{} bytes of {key} data, but {w}×{h}×{c} needs {expected}",
            data.len()
        ));
    }
    let s = step as usize;
    let (out_w, out_h) = (w.div_ceil(s), h.div_ceil(s));
    let mut rgba = Vec::with_capacity(out_w * out_h * 4);
    // Indices of the pixels kept, row by row.
    let kept = (0..h)
        .step_by(s)
        .flat_map(|y| (0..w).step_by(s).map(move |x| y * w + x));
    let mut scale = None;
    if image.is_heatmap() {
        let values: Vec<f32> = match pixel {
            PixelType::U8 => data.iter().map(|&v| f32::from(v)).collect(),
            PixelType::U16 => data
                .chunks_exact(2)
                .map(|b| f32::from(u16::from_le_bytes([b[0], b[1]])))
                .collect(),
            PixelType::F32 => data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        };
        let colormap = image.colormap.unwrap_or_default();
        let range = image.range.unwrap_or_else(|| finite_range(&values));
        let lut = colormap_lut(colormap);
        let [lo, hi] = range;
        let span = hi - lo;
        for i in kept {
            let v = values[i];
            if v.is_nan() {
                // No value: transparent, the panel shows through.
                rgba.extend_from_slice(&[0, 0, 0, 0]);
                continue;
            }
            let t = if span != 0.0 && span.is_finite() {
                (v - lo) / span
            } else {
                0.5
            };
            let [r, g, b] = lut[lut_index(t)];
            rgba.extend_from_slice(&[r, g, b, 255]);
        }
        scale = Some(Scale { colormap, range });
    } else {
        match (pixel, c) {
            (PixelType::U8, 1) => {
                for i in kept {
                    let v = data[i];
                    rgba.extend_from_slice(&[v, v, v, 255]);
                }
            }
            (PixelType::U8, 3) => {
                for i in kept {
                    rgba.extend_from_slice(&data[i * 3..i * 3 + 3]);
                    rgba.push(255);
                }
            }
            (PixelType::U8, 4) => {
                for i in kept {
                    rgba.extend_from_slice(&data[i * 4..i * 4 + 4]);
                }
            }
            _ => {
                return Err(format!(
                    "{c} channels of {key} (shown: 1, 3 or 4 of u8, 1 of u16 or f32)"
                ));
            }
        }
    }
    Ok(Decoded {
        width: out_w as u32,
        height: out_h as u32,
        step,
        rgba,
        scale,
    })
}

/// The smallest and largest finite value (`[0, 1]` when there is none).
fn finite_range(values: &[f32]) -> [f32; 2] {
    let (lo, hi) = values
        .iter()
        .filter(|v| v.is_finite())
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    if lo <= hi { [lo, hi] } else { [0.0, 1.0] }
}

/// Black to white.
const GRAY: [[u8; 3]; 256] = {
    let mut lut = [[0u8; 3]; 256];
    let mut i = 0;
    while i < 256 {
        lut[i] = [i as u8; 3];
        i += 1;
    }
    lut
};

/// Matplotlib's viridis (Stéfan van der Walt and Nathaniel Smith, CC0), its 256 entries rounded
/// to 8 bits: #440154 to #fde725.
#[rustfmt::skip]
const VIRIDIS: [[u8; 3]; 256] = [
    [68, 1, 84], [68, 2, 86], [69, 4, 87], [69, 5, 89], [70, 7, 90], [70, 8, 92], [70, 10, 93], [70, 11, 94],
    [71, 13, 96], [71, 14, 97], [71, 16, 99], [71, 17, 100], [71, 19, 101], [72, 20, 103], [72, 22, 104], [72, 23, 105],
    [72, 24, 106], [72, 26, 108], [72, 27, 109], [72, 28, 110], [72, 29, 111], [72, 31, 112], [72, 32, 113], [72, 33, 115],
    [72, 35, 116], [72, 36, 117], [72, 37, 118], [72, 38, 119], [72, 40, 120], [72, 41, 121], [71, 42, 122], [71, 44, 122],
    [71, 45, 123], [71, 46, 124], [71, 47, 125], [70, 48, 126], [70, 50, 126], [70, 51, 127], [70, 52, 128], [69, 53, 129],
    [69, 55, 129], [69, 56, 130], [68, 57, 131], [68, 58, 131], [68, 59, 132], [67, 61, 132], [67, 62, 133], [66, 63, 133],
    [66, 64, 134], [66, 65, 134], [65, 66, 135], [65, 68, 135], [64, 69, 136], [64, 70, 136], [63, 71, 136], [63, 72, 137],
    [62, 73, 137], [62, 74, 137], [62, 76, 138], [61, 77, 138], [61, 78, 138], [60, 79, 138], [60, 80, 139], [59, 81, 139],
    [59, 82, 139], [58, 83, 139], [58, 84, 140], [57, 85, 140], [57, 86, 140], [56, 88, 140], [56, 89, 140], [55, 90, 140],
    [55, 91, 141], [54, 92, 141], [54, 93, 141], [53, 94, 141], [53, 95, 141], [52, 96, 141], [52, 97, 141], [51, 98, 141],
    [51, 99, 141], [50, 100, 142], [50, 101, 142], [49, 102, 142], [49, 103, 142], [49, 104, 142], [48, 105, 142], [48, 106, 142],
    [47, 107, 142], [47, 108, 142], [46, 109, 142], [46, 110, 142], [46, 111, 142], [45, 112, 142], [45, 113, 142], [44, 113, 142],
    [44, 114, 142], [44, 115, 142], [43, 116, 142], [43, 117, 142], [42, 118, 142], [42, 119, 142], [42, 120, 142], [41, 121, 142],
    [41, 122, 142], [41, 123, 142], [40, 124, 142], [40, 125, 142], [39, 126, 142], [39, 127, 142], [39, 128, 142], [38, 129, 142],
    [38, 130, 142], [38, 130, 142], [37, 131, 142], [37, 132, 142], [37, 133, 142], [36, 134, 142], [36, 135, 142], [35, 136, 142],
    [35, 137, 142], [35, 138, 141], [34, 139, 141], [34, 140, 141], [34, 141, 141], [33, 142, 141], [33, 143, 141], [33, 144, 141],
    [33, 145, 140], [32, 146, 140], [32, 146, 140], [32, 147, 140], [31, 148, 140], [31, 149, 139], [31, 150, 139], [31, 151, 139],
    [31, 152, 139], [31, 153, 138], [31, 154, 138], [30, 155, 138], [30, 156, 137], [30, 157, 137], [31, 158, 137], [31, 159, 136],
    [31, 160, 136], [31, 161, 136], [31, 161, 135], [31, 162, 135], [32, 163, 134], [32, 164, 134], [33, 165, 133], [33, 166, 133],
    [34, 167, 133], [34, 168, 132], [35, 169, 131], [36, 170, 131], [37, 171, 130], [37, 172, 130], [38, 173, 129], [39, 173, 129],
    [40, 174, 128], [41, 175, 127], [42, 176, 127], [44, 177, 126], [45, 178, 125], [46, 179, 124], [47, 180, 124], [49, 181, 123],
    [50, 182, 122], [52, 182, 121], [53, 183, 121], [55, 184, 120], [56, 185, 119], [58, 186, 118], [59, 187, 117], [61, 188, 116],
    [63, 188, 115], [64, 189, 114], [66, 190, 113], [68, 191, 112], [70, 192, 111], [72, 193, 110], [74, 193, 109], [76, 194, 108],
    [78, 195, 107], [80, 196, 106], [82, 197, 105], [84, 197, 104], [86, 198, 103], [88, 199, 101], [90, 200, 100], [92, 200, 99],
    [94, 201, 98], [96, 202, 96], [99, 203, 95], [101, 203, 94], [103, 204, 92], [105, 205, 91], [108, 205, 90], [110, 206, 88],
    [112, 207, 87], [115, 208, 86], [117, 208, 84], [119, 209, 83], [122, 209, 81], [124, 210, 80], [127, 211, 78], [129, 211, 77],
    [132, 212, 75], [134, 213, 73], [137, 213, 72], [139, 214, 70], [142, 214, 69], [144, 215, 67], [147, 215, 65], [149, 216, 64],
    [152, 216, 62], [155, 217, 60], [157, 217, 59], [160, 218, 57], [162, 218, 55], [165, 219, 54], [168, 219, 52], [170, 220, 50],
    [173, 220, 48], [176, 221, 47], [178, 221, 45], [181, 222, 43], [184, 222, 41], [186, 222, 40], [189, 223, 38], [192, 223, 37],
    [194, 223, 35], [197, 224, 33], [200, 224, 32], [202, 225, 31], [205, 225, 29], [208, 225, 28], [210, 226, 27], [213, 226, 26],
    [216, 226, 25], [218, 227, 25], [221, 227, 24], [223, 227, 24], [226, 228, 24], [229, 228, 25], [231, 228, 25], [234, 229, 26],
    [236, 229, 27], [239, 229, 28], [241, 229, 29], [244, 230, 30], [246, 230, 32], [248, 230, 33], [251, 231, 35], [253, 231, 37],
];

/// Google's turbo (Anton Mikhailov, Apache-2.0), its published 256-entry table rounded to 8
/// bits: #30123b to #7a0403.
#[rustfmt::skip]
const TURBO: [[u8; 3]; 256] = [
    [48, 18, 59], [50, 21, 67], [51, 24, 74], [52, 27, 81], [53, 30, 88], [54, 33, 95], [55, 36, 102], [56, 39, 109],
    [57, 42, 115], [58, 45, 121], [59, 47, 128], [60, 50, 134], [61, 53, 139], [62, 56, 145], [63, 59, 151], [63, 62, 156],
    [64, 64, 162], [65, 67, 167], [65, 70, 172], [66, 73, 177], [66, 75, 181], [67, 78, 186], [68, 81, 191], [68, 84, 195],
    [68, 86, 199], [69, 89, 203], [69, 92, 207], [69, 94, 211], [70, 97, 214], [70, 100, 218], [70, 102, 221], [70, 105, 224],
    [70, 107, 227], [71, 110, 230], [71, 113, 233], [71, 115, 235], [71, 118, 238], [71, 120, 240], [71, 123, 242], [70, 125, 244],
    [70, 128, 246], [70, 130, 248], [70, 133, 250], [70, 135, 251], [69, 138, 252], [69, 140, 253], [68, 143, 254], [67, 145, 254],
    [66, 148, 255], [65, 150, 255], [64, 153, 255], [62, 155, 254], [61, 158, 254], [59, 160, 253], [58, 163, 252], [56, 165, 251],
    [55, 168, 250], [53, 171, 248], [51, 173, 247], [49, 175, 245], [47, 178, 244], [46, 180, 242], [44, 183, 240], [42, 185, 238],
    [40, 188, 235], [39, 190, 233], [37, 192, 231], [35, 195, 228], [34, 197, 226], [32, 199, 223], [31, 201, 221], [30, 203, 218],
    [28, 205, 216], [27, 208, 213], [26, 210, 210], [26, 212, 208], [25, 213, 205], [24, 215, 202], [24, 217, 200], [24, 219, 197],
    [24, 221, 194], [24, 222, 192], [24, 224, 189], [25, 226, 187], [25, 227, 185], [26, 228, 182], [28, 230, 180], [29, 231, 178],
    [31, 233, 175], [32, 234, 172], [34, 235, 170], [37, 236, 167], [39, 238, 164], [42, 239, 161], [44, 240, 158], [47, 241, 155],
    [50, 242, 152], [53, 243, 148], [56, 244, 145], [60, 245, 142], [63, 246, 138], [67, 247, 135], [70, 248, 132], [74, 248, 128],
    [78, 249, 125], [82, 250, 122], [85, 250, 118], [89, 251, 115], [93, 252, 111], [97, 252, 108], [101, 253, 105], [105, 253, 102],
    [109, 254, 98], [113, 254, 95], [117, 254, 92], [121, 254, 89], [125, 255, 86], [128, 255, 83], [132, 255, 81], [136, 255, 78],
    [139, 255, 75], [143, 255, 73], [146, 255, 71], [150, 254, 68], [153, 254, 66], [156, 254, 64], [159, 253, 63], [161, 253, 61],
    [164, 252, 60], [167, 252, 58], [169, 251, 57], [172, 251, 56], [175, 250, 55], [177, 249, 54], [180, 248, 54], [183, 247, 53],
    [185, 246, 53], [188, 245, 52], [190, 244, 52], [193, 243, 52], [195, 241, 52], [198, 240, 52], [200, 239, 52], [203, 237, 52],
    [205, 236, 52], [208, 234, 52], [210, 233, 53], [212, 231, 53], [215, 229, 53], [217, 228, 54], [219, 226, 54], [221, 224, 55],
    [223, 223, 55], [225, 221, 55], [227, 219, 56], [229, 217, 56], [231, 215, 57], [233, 213, 57], [235, 211, 57], [236, 209, 58],
    [238, 207, 58], [239, 205, 58], [241, 203, 58], [242, 201, 58], [244, 199, 58], [245, 197, 58], [246, 195, 58], [247, 193, 58],
    [248, 190, 57], [249, 188, 57], [250, 186, 57], [251, 184, 56], [251, 182, 55], [252, 179, 54], [252, 177, 54], [253, 174, 53],
    [253, 172, 52], [254, 169, 51], [254, 167, 50], [254, 164, 49], [254, 161, 48], [254, 158, 47], [254, 155, 45], [254, 153, 44],
    [254, 150, 43], [254, 147, 42], [254, 144, 41], [253, 141, 39], [253, 138, 38], [252, 135, 37], [252, 132, 35], [251, 129, 34],
    [251, 126, 33], [250, 123, 31], [249, 120, 30], [249, 117, 29], [248, 114, 28], [247, 111, 26], [246, 108, 25], [245, 105, 24],
    [244, 102, 23], [243, 99, 21], [242, 96, 20], [241, 93, 19], [240, 91, 18], [239, 88, 17], [237, 85, 16], [236, 83, 15],
    [235, 80, 14], [234, 78, 13], [232, 75, 12], [231, 73, 12], [229, 71, 11], [228, 69, 10], [226, 67, 10], [225, 65, 9],
    [223, 63, 8], [221, 61, 8], [220, 59, 7], [218, 57, 7], [216, 55, 6], [214, 53, 6], [212, 51, 5], [210, 49, 5],
    [208, 47, 5], [206, 45, 4], [204, 43, 4], [202, 42, 4], [200, 40, 3], [197, 38, 3], [195, 37, 3], [193, 35, 2],
    [190, 33, 2], [188, 32, 2], [185, 30, 2], [183, 29, 2], [180, 27, 1], [178, 26, 1], [175, 24, 1], [172, 23, 1],
    [169, 22, 1], [167, 20, 1], [164, 19, 1], [161, 18, 1], [158, 16, 1], [155, 15, 1], [152, 14, 1], [149, 13, 1],
    [146, 11, 1], [142, 10, 1], [139, 9, 2], [136, 8, 2], [133, 7, 2], [129, 6, 2], [126, 5, 2], [122, 4, 3],
];

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;

    use image::{ExtendedColorType, ImageEncoder};

    use super::*;

    /// A JPEG of `w`×`h` pixels: a red left half, a blue right half.
    pub(crate) fn jpeg(w: u32, h: u32) -> Vec<u8> {
        let mut rgb = Vec::new();
        for _ in 0..h {
            for x in 0..w {
                rgb.extend_from_slice(if x < w / 2 {
                    &[220, 30, 30]
                } else {
                    &[30, 30, 220]
                });
            }
        }
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 95)
            .encode(&rgb, w, h, ExtendedColorType::Rgb8)
            .unwrap();
        out
    }

    /// A PNG of RGBA pixels.
    pub(crate) fn png(w: u32, h: u32, rgba: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        image::codecs::png::PngEncoder::new(&mut out)
            .write_image(rgba, w, h, ExtendedColorType::Rgba8)
            .unwrap();
        out
    }

    fn image(encoding: ImageEncoding, w: u32, h: u32, channels: u8, data: Vec<u8>) -> StreamImage {
        StreamImage {
            encoding,
            width: w,
            height: h,
            channels,
            data: Arc::new(data),
            colormap: None,
            range: None,
            t: 0.0,
            received: 0.0,
            version: 1,
        }
    }

    fn f32s(values: &[f32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    fn pixel(decoded: &Decoded, x: u32, y: u32) -> [u8; 4] {
        let i = ((y * decoded.width + x) * 4) as usize;
        decoded.rgba[i..i + 4].try_into().unwrap()
    }

    #[test]
    fn colormaps_end_where_they_are_published() {
        let hex = |c: [u8; 3]| format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2]);
        let ends = |m| (hex(colormap_color(m, 0.0)), hex(colormap_color(m, 1.0)));
        assert_eq!(ends(Colormap::Gray), ("#000000".into(), "#ffffff".into()));
        assert_eq!(
            ends(Colormap::Viridis),
            ("#440154".into(), "#fde725".into())
        );
        assert_eq!(ends(Colormap::Turbo), ("#30123b".into(), "#7a0403".into()));
        // Out of range clamps; NaN is the low end; the middle of viridis is its teal.
        assert_eq!(colormap_color(Colormap::Viridis, 7.0), [253, 231, 37]);
        assert_eq!(colormap_color(Colormap::Viridis, f32::NAN), [68, 1, 84]);
        assert_eq!(colormap_color(Colormap::Viridis, 0.5), [33, 145, 140]);
        // No jumps: neighbouring entries are close (a mistyped entry would stand out).
        for map in Colormap::ALL {
            for pair in colormap_lut(map).windows(2) {
                let step = (0..3)
                    .map(|k| pair[0][k].abs_diff(pair[1][k]))
                    .max()
                    .unwrap();
                assert!(step <= 8, "{map:?}: {pair:?}");
            }
        }
    }

    #[test]
    fn raw_u8_converts_straight_to_rgba() {
        let mono = image(ImageEncoding::Raw(PixelType::U8), 2, 1, 1, vec![0, 200]);
        let decoded = decode_image(&mono, 4096).unwrap();
        assert_eq!(decoded.rgba, [0, 0, 0, 255, 200, 200, 200, 255]);
        assert_eq!(decoded.scale, None);
        let rgb = image(
            ImageEncoding::Raw(PixelType::U8),
            1,
            2,
            3,
            vec![1, 2, 3, 4, 5, 6],
        );
        let decoded = decode_image(&rgb, 4096).unwrap();
        assert_eq!((decoded.width, decoded.height), (1, 2));
        assert_eq!(decoded.rgba, [1, 2, 3, 255, 4, 5, 6, 255]);
        assert_eq!(raw_value(&rgb, 0, 1), Some(PixelValue::Rgb([4, 5, 6])));
        assert_eq!(raw_value(&rgb, 0, 2), None);
        let rgba = image(ImageEncoding::Raw(PixelType::U8), 1, 1, 4, vec![9, 8, 7, 6]);
        assert_eq!(decode_image(&rgba, 4096).unwrap().rgba, [9, 8, 7, 6]);
        assert_eq!(raw_value(&rgba, 0, 0).unwrap().to_string(), "RGBA 9 8 7 6");
        // A u8 mono image with a colormap is a heatmap.
        let mut colored = mono.clone();
        colored.colormap = Some(Colormap::Turbo);
        let decoded = decode_image(&colored, 4096).unwrap();
        assert_eq!(pixel(&decoded, 1, 0), [122, 4, 3, 255]);
        assert_eq!(
            decoded.scale,
            Some(Scale {
                colormap: Colormap::Turbo,
                range: [0.0, 200.0]
            })
        );
    }

    #[test]
    fn heatmaps_go_through_the_colormap_and_range() {
        let mut heat = image(
            ImageEncoding::Raw(PixelType::F32),
            4,
            1,
            1,
            f32s(&[-1.0, 0.5, 2.0, f32::NAN]),
        );
        heat.colormap = Some(Colormap::Viridis);
        heat.range = Some([0.0, 1.0]);
        let decoded = decode_image(&heat, 4096).unwrap();
        assert_eq!(
            pixel(&decoded, 0, 0),
            [68, 1, 84, 255],
            "below the range: low end"
        );
        assert_eq!(pixel(&decoded, 1, 0), [33, 145, 140, 255]);
        assert_eq!(
            pixel(&decoded, 2, 0),
            [253, 231, 37, 255],
            "above: high end"
        );
        assert_eq!(pixel(&decoded, 3, 0)[3], 0, "NaN: transparent");
        assert_eq!(raw_value(&heat, 1, 0), Some(PixelValue::Float(0.5)));
        assert_eq!(raw_value(&heat, 1, 0).unwrap().to_string(), "0.5");

        // No range: the finite min and max; no colormap: gray.
        heat.range = None;
        heat.colormap = None;
        let decoded = decode_image(&heat, 4096).unwrap();
        assert_eq!(
            decoded.scale,
            Some(Scale {
                colormap: Colormap::Gray,
                range: [-1.0, 2.0]
            })
        );
        assert_eq!(pixel(&decoded, 0, 0), [0, 0, 0, 255]);
        assert_eq!(pixel(&decoded, 2, 0), [255, 255, 255, 255]);

        // u16 (depth): integers; a flat image takes the middle colour.
        let depth: Vec<u8> = [1000u16, 1000]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let depth = image(ImageEncoding::Raw(PixelType::U16), 2, 1, 1, depth);
        let decoded = decode_image(&depth, 4096).unwrap();
        assert_eq!(pixel(&decoded, 0, 0), [128, 128, 128, 255]);
        assert_eq!(decoded.scale.unwrap().range, [1000.0, 1000.0]);
        assert_eq!(raw_value(&depth, 1, 0), Some(PixelValue::Int(1000)));
    }

    #[test]
    fn bad_data_is_an_error_not_a_panic() {
        let short = image(ImageEncoding::Raw(PixelType::F32), 4, 4, 1, vec![0; 10]);
        assert!(decode_image(&short, 4096).unwrap_err().contains("10 bytes"));
        let two = image(ImageEncoding::Raw(PixelType::U8), 1, 1, 2, vec![0; 2]);
        assert!(decode_image(&two, 4096).unwrap_err().contains("2 channels"));
        let mut cut = jpeg(16, 16);
        cut.truncate(cut.len() / 2);
        let cut = image(ImageEncoding::Jpeg, 16, 16, 3, cut);
        let err = decode_image(&cut, 4096).unwrap_err();
        assert!(err.starts_with("cannot decode the JPEG"), "{err}");
        let garbage = image(ImageEncoding::Png, 4, 4, 4, b"\x89PNG\r\n\x1a\nxx".to_vec());
        assert!(decode_image(&garbage, 4096).unwrap_err().contains("PNG"));
        let empty = image(ImageEncoding::Png, 4, 4, 4, Vec::new());
        assert!(decode_image(&empty, 4096).unwrap_err().contains("base64"));
        // A file larger than its header said is refused by the decoder's limits.
        let big = image(ImageEncoding::Jpeg, 8, 8, 3, jpeg(64, 64));
        assert!(decode_image(&big, 4096).is_err());
    }

    #[test]
    fn a_real_jpeg_and_png_decode() {
        let cam = image(ImageEncoding::Jpeg, 32, 16, 3, jpeg(32, 16));
        let decoded = decode_image(&cam, 4096).unwrap();
        assert_eq!((decoded.width, decoded.height, decoded.step), (32, 16, 1));
        let [r, g, b, a] = pixel(&decoded, 4, 8);
        assert!(r > 180 && g < 70 && b < 70 && a == 255, "red: {r} {g} {b}");
        let [r, _, b, _] = pixel(&decoded, 28, 8);
        assert!(b > 180 && r < 70, "blue: {r} {b}");

        let rgba = [
            [255, 0, 0, 255],
            [0, 255, 0, 128],
            [0, 0, 255, 255],
            [10, 20, 30, 0],
        ]
        .concat();
        let png = image(ImageEncoding::Png, 2, 2, 4, png(2, 2, &rgba));
        let decoded = decode_image(&png, 4096).unwrap();
        assert_eq!(decoded.rgba, rgba, "PNG is lossless, alpha included");
        assert_eq!(
            PixelValue::from_decoded(4, pixel(&decoded, 1, 0)).to_string(),
            "RGBA 0 255 0 128"
        );
        assert_eq!(
            PixelValue::from_decoded(1, [7, 7, 7, 255]),
            PixelValue::Int(7)
        );
    }

    #[test]
    fn an_image_larger_than_a_texture_keeps_every_nth_pixel() {
        let values: Vec<u8> = (0..50u8).collect();
        let mono = image(ImageEncoding::Raw(PixelType::U8), 10, 5, 1, values);
        let decoded = decode_image(&mono, 4).unwrap();
        assert_eq!((decoded.width, decoded.height, decoded.step), (4, 2, 3));
        assert_eq!(pixel(&decoded, 1, 1), [33, 33, 33, 255], "row 3, column 3");
        let cam = image(ImageEncoding::Jpeg, 32, 16, 3, jpeg(32, 16));
        let decoded = decode_image(&cam, 8).unwrap();
        assert_eq!((decoded.width, decoded.height, decoded.step), (8, 4, 4));
        assert_eq!(decoded.rgba.len(), 8 * 4 * 4);
    }
}
