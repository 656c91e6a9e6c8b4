//! The demo's images: a camera (a moving synthetic scene as JPEG) and a heatmap (a 2D field
//! evolving in time, raw `f32` through a colormap).
//!
//! The camera must not cost the demo a core: a loop of [`CAMERA_FRAMES`] frames is drawn and
//! encoded once, off the async workers, and then replayed in a loop (each frame's base64 is kept,
//! so sending one costs a copy). The heatmap is 64×64 floats, computed when due.

use image::codecs::jpeg::JpegEncoder;
use image::{ExtendedColorType, ImageEncoder as _};
use vizcast_protocol::{f32_base64, u8_base64};

/// Camera frame size.
pub const CAMERA_WIDTH: u32 = 320;
/// Camera frame height.
pub const CAMERA_HEIGHT: u32 = 240;
/// Frames in the camera's loop (2 s at 30 Hz).
pub const CAMERA_FRAMES: usize = 60;
/// The camera's rate, Hz.
pub const CAMERA_HZ: f64 = 30.0;
/// Heatmap size (square).
pub const HEAT_SIZE: usize = 64;
/// The heatmap's rate, Hz.
pub const HEAT_HZ: f64 = 10.0;

/// The camera's loop: each frame as base64 of a JPEG, drawn and encoded now (tens of
/// milliseconds a frame in an optimized build).
pub fn camera_loop() -> Vec<String> {
    (0..CAMERA_FRAMES)
        .map(|i| {
            let rgb = camera_frame(i as f64 / CAMERA_FRAMES as f64);
            let mut jpeg = Vec::with_capacity(16 * 1024);
            // Writing into a Vec cannot fail; an encoder error would be a bug in the sizes.
            if let Err(err) = JpegEncoder::new_with_quality(&mut jpeg, 80).write_image(
                &rgb,
                CAMERA_WIDTH,
                CAMERA_HEIGHT,
                ExtendedColorType::Rgb8,
            ) {
                tracing::warn!("the demo camera's frame {i} could not be encoded: {err}");
            }
            u8_base64(&jpeg)
        })
        .collect()
}

/// One camera frame at `phase` (0–1 over the loop), RGB: a sky over a ground grid scrolling
/// towards the viewer, a ball bouncing across, and a bar turning in the corner.
fn camera_frame(phase: f64) -> Vec<u8> {
    let (w, h) = (CAMERA_WIDTH as usize, CAMERA_HEIGHT as usize);
    let tau = std::f64::consts::TAU;
    let horizon = h * 5 / 12;
    let ball_x = w as f64 * (0.5 + 0.38 * (tau * phase).sin());
    let ball_y = horizon as f64 + 20.0 - 70.0 * (tau * 2.0 * phase).sin().abs();
    let radius = 22.0;
    let (bar_sin, bar_cos) = (tau * phase).sin_cos();
    let mut rgb = vec![0u8; w * h * 3];
    for y in 0..h {
        for x in 0..w {
            let mut color = if y < horizon {
                // Sky: light blue at the horizon to deep blue above.
                let k = y as f64 / horizon as f64;
                [
                    (40.0 + 120.0 * k) as u8,
                    (90.0 + 110.0 * k) as u8,
                    (170.0 + 70.0 * k) as u8,
                ]
            } else {
                // Ground: a perspective grid moving towards the camera.
                let depth = 40.0 / ((y - horizon) as f64 + 1.0);
                let gx = ((x as f64 - w as f64 / 2.0) * depth / 8.0).rem_euclid(4.0) < 0.25;
                let gz = (depth * 6.0 + phase * 4.0).rem_euclid(1.0) < 0.12;
                if gx || gz {
                    [230, 230, 220]
                } else {
                    [70, 110, 60]
                }
            };
            let (dx, dy) = (x as f64 - ball_x, y as f64 - ball_y);
            if dx * dx + dy * dy < radius * radius {
                let shade = 1.0 - 0.5 * ((dx + dy) / (2.0 * radius)).clamp(-1.0, 1.0);
                color = [
                    (240.0 * shade) as u8,
                    (90.0 * shade) as u8,
                    (30.0 * shade) as u8,
                ];
            }
            // A bar turning about (40, 40).
            let (bx, by) = (x as f64 - 40.0, y as f64 - 40.0);
            let along = bx * bar_cos + by * bar_sin;
            let across = -bx * bar_sin + by * bar_cos;
            if along.abs() < 28.0 && across.abs() < 4.0 {
                color = [250, 210, 40];
            }
            rgb[(y * w + x) * 3..(y * w + x) * 3 + 3].copy_from_slice(&color);
        }
    }
    rgb
}

/// The camera frame due at demo time `t`, as a frame of stream `demo/camera`.
pub fn camera_message(camera: &[String], epoch: f64, t: f64) -> Option<String> {
    let index = ((t * CAMERA_HZ).round() as usize) % camera.len().max(1);
    let jpeg = camera.get(index)?;
    Some(format!(
        r#"{{"stream":"demo/camera","t":{:.3},"image":{{"jpeg":"{jpeg}"}}}}"#,
        epoch + t
    ))
}

/// The heatmap at demo time `t`, as a frame of stream `demo/heatmap`: two warm sources orbiting
/// in a field of travelling waves, through the turbo colormap over a fixed range.
pub fn heatmap_message(epoch: f64, t: f64) -> String {
    let n = HEAT_SIZE;
    let sources = [
        (
            0.5 + 0.3 * (0.7 * t).cos(),
            0.5 + 0.3 * (0.7 * t).sin(),
            1.0,
        ),
        (
            0.5 + 0.25 * (1.3 * t + 2.0).cos(),
            0.5 - 0.2 * (0.9 * t).sin(),
            0.7,
        ),
    ];
    let field: Vec<f32> = (0..n * n)
        .map(|i| {
            let (x, y) = ((i % n) as f64 / n as f64, (i / n) as f64 / n as f64);
            let waves = 0.15 * ((x * 9.0 + t * 1.7).sin() * (y * 7.0 - t * 1.1).cos());
            let heat: f64 = sources
                .iter()
                .map(|(sx, sy, a)| a * (-((x - sx).powi(2) + (y - sy).powi(2)) / 0.02).exp())
                .sum();
            (heat + waves) as f32
        })
        .collect();
    format!(
        r#"{{"stream":"demo/heatmap","t":{:.3},"image":{{"shape":[{n},{n}],"f32":"{}","colormap":"turbo","range":[-0.2,1.2]}}}}"#,
        epoch + t,
        f32_base64(&field)
    )
}

#[cfg(test)]
mod tests {
    use vizcast_protocol::{ImageEncoding, Limits, Shape, parse_frame};

    use super::*;

    #[test]
    fn the_camera_and_the_heatmap_are_valid_images() {
        let camera = camera_loop();
        assert_eq!(camera.len(), CAMERA_FRAMES);
        assert_ne!(camera[0], camera[1], "the scene moves");
        let frame = camera_message(&camera, 100.0, 0.5).unwrap();
        let messages = parse_frame(&frame, &Limits::default()).unwrap();
        let Some(Shape::Image(image)) = &messages[0].shape else {
            panic!("not an image");
        };
        assert_eq!(image.encoding, ImageEncoding::Jpeg);
        assert_eq!((image.width, image.height), (CAMERA_WIDTH, CAMERA_HEIGHT));
        let heat = heatmap_message(100.0, 3.0);
        let messages = parse_frame(&heat, &Limits::default()).unwrap();
        let Some(Shape::Image(image)) = &messages[0].shape else {
            panic!("not an image");
        };
        assert_eq!((image.width, image.height, image.channels), (64, 64, 1));
        assert_ne!(heat, heatmap_message(100.0, 3.1), "the field evolves");
    }
}
