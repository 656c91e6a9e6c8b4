//! What the app's tests share.

use eframe::egui;

/// Pixels of `rect` (points) in an RGBA image `width` pixels wide that are not the 3D background.
pub fn drawn_pixels(rgba: &[u8], width: u32, rect: egui::Rect, ppp: f32) -> usize {
    let height = rgba.len() as u32 / 4 / width;
    let background = vizcast_render::BACKGROUND.map(i32::from);
    let (x0, y0) = ((rect.min.x * ppp) as u32, (rect.min.y * ppp) as u32);
    let (x1, y1) = (
        ((rect.max.x * ppp) as u32).min(width),
        ((rect.max.y * ppp) as u32).min(height),
    );
    let mut n = 0;
    for y in y0..y1 {
        for x in x0..x1 {
            let i = ((y * width + x) * 4) as usize;
            let d = (0..3)
                .map(|k| (i32::from(rgba[i + k]) - background[k]).abs())
                .max()
                .unwrap();
            if d > 40 {
                n += 1;
            }
        }
    }
    n
}
