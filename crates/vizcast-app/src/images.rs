//! The image panel: the latest image of each visible image stream (camera frames, heatmaps) in a
//! grid, each with its name, size and age; heatmaps with a colour bar; hovering a pixel shows
//! its coordinates and value.
//!
//! Pixels never get decoded on the UI thread: a stream whose image version changed is submitted
//! to the store crate's [`ImageDecoder`] (one thread, latest image per stream wins, bounded),
//! which decodes it and converts it to an egui [`ColorImage`]; the UI thread only uploads it
//! (`TextureHandle::set`), once per new version. A texture lives while its stream is in the
//! store and visible: hiding, clearing or a reset drops it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use eframe::egui::{
    self, Align, Color32, ColorImage, Label, Layout, Mesh, Rect, RichText, Sense, Stroke,
    StrokeKind, TextStyle, TextureFilter, TextureHandle, TextureOptions, TextureWrapMode, Ui,
    UiBuilder, Vec2, pos2, vec2,
};
use vizcast_protocol::{ImageEncoding, PixelType};
use vizcast_store::{
    Decoded, ImageDecoder, PixelValue, Scale, Store, StreamImage, colormap_lut, raw_value,
};

use crate::app::Clock;
use crate::format;
use crate::settings::Settings;

/// Magnified pixels stay square (a heatmap's cells, a zoomed camera); reduced images are
/// smoothed.
const TEXTURE: TextureOptions = TextureOptions {
    magnification: TextureFilter::Nearest,
    minification: TextureFilter::Linear,
    wrap_mode: TextureWrapMode::ClampToEdge,
    mipmap_mode: None,
};
/// Between cells.
const GAP: f32 = 6.0;
/// A row is never lower than this (more rows scroll).
const MIN_ROW: f32 = 120.0;
/// The colour bar's width.
const BAR: f32 = 12.0;
/// Room for the colour bar, its labels and the gap before it.
const BAR_SPACE: f32 = 74.0;
/// Behind an image (its transparent pixels) and in an empty cell.
const BACKDROP: Color32 = Color32::from_gray(24);

/// What the decoding thread hands over: pixels ready to upload.
pub(crate) struct Ready {
    pixels: Arc<ColorImage>,
    step: u32,
    scale: Option<Scale>,
}

/// Runs on the decoding thread: RGBA to egui's premultiplied colours.
fn ready(decoded: Decoded) -> Ready {
    let Decoded {
        width,
        height,
        step,
        rgba,
        scale,
    } = decoded;
    let size = [width as usize, height as usize];
    Ready {
        pixels: Arc::new(ColorImage::from_rgba_unmultiplied(size, &rgba)),
        step,
        scale,
    }
}

/// The image on screen for a stream.
struct Shown {
    /// The version shown (its data answers the hover readout of raw images).
    image: StreamImage,
    texture: TextureHandle,
    /// The uploaded pixels (the hover readout of JPEGs and PNGs).
    pixels: Arc<ColorImage>,
    step: u32,
    scale: Option<Scale>,
}

/// A visible image stream's state between frames.
struct Slot {
    /// Results older than this are from before the slot existed (a reset, hidden then shown).
    floor: u64,
    /// The version last handed to the decoder.
    requested: u64,
    shown: Option<Shown>,
    /// Why the latest image could not be shown.
    error: Option<String>,
    /// Where the picture was drawn in the last frame.
    picture: Option<Rect>,
}

/// The image panel's state between frames.
pub(crate) struct Images {
    decoder: Result<ImageDecoder<Ready>, String>,
    slots: BTreeMap<String, Slot>,
    generation: u64,
    /// The hover readout of the last frame (`cam (12, 3): RGB 200 10 10`).
    pub hover: Option<String>,
    /// The time the last image took to decode and convert (off the UI thread).
    pub last_decode: Option<Duration>,
}

impl std::fmt::Debug for Images {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Images")
            .field("slots", &self.slots.len())
            .finish_non_exhaustive()
    }
}

impl Images {
    /// Starts the decoding thread; `repaint` is called whenever an image is ready.
    pub fn new(repaint: impl Fn() + Send + 'static) -> Self {
        let decoder = match ImageDecoder::start(ready) {
            Ok(decoder) => {
                decoder.on_done(repaint);
                Ok(decoder)
            }
            Err(err) => {
                tracing::error!("cannot start the image decoding thread: {err}");
                Err(format!(
                    "images cannot be shown: no decoding thread ({err})"
                ))
            }
        };
        Self {
            decoder,
            slots: BTreeMap::new(),
            generation: 0,
            hover: None,
            last_decode: None,
        }
    }

    /// Streams whose current image is on screen, with its version.
    pub fn shown(&self) -> Vec<(String, u64)> {
        self.slots
            .iter()
            .filter_map(|(name, slot)| Some((name.clone(), slot.shown.as_ref()?.image.version)))
            .collect()
    }

    /// Where the picture of `name` was drawn in the last frame.
    pub fn picture(&self, name: &str) -> Option<Rect> {
        self.slots.get(name)?.picture
    }

    /// Textures held.
    pub fn textures(&self) -> usize {
        self.slots.values().filter(|s| s.shown.is_some()).count()
    }

    /// Whether any image stream is visible (the panel is shown).
    pub fn any_visible(store: &Store, settings: &Settings) -> bool {
        store.images.keys().any(|name| !settings.is_hidden(name))
    }

    /// Once per frame: uploads what the decoder finished, drops what is gone or hidden (all of
    /// it while the panel is off), and submits the visible images whose version changed.
    pub fn update(&mut self, ctx: &egui::Context, store: &Store, settings: &Settings) {
        if store.generation != self.generation || !settings.show_images {
            self.generation = store.generation;
            self.slots.clear();
        }
        self.slots
            .retain(|name, _| store.images.contains_key(name) && !settings.is_hidden(name));
        if !settings.show_images {
            return;
        }
        let Ok(decoder) = &self.decoder else {
            return;
        };
        for (name, done) in decoder.take() {
            let Some(slot) = self.slots.get_mut(&name) else {
                continue;
            };
            let version = done.image.version;
            let current = slot.shown.as_ref().map_or(0, |s| s.image.version);
            if version < slot.floor || version <= current {
                continue;
            }
            self.last_decode = Some(done.elapsed);
            match done.result {
                Ok(ready) => {
                    slot.error = None;
                    match &mut slot.shown {
                        Some(shown) => {
                            shown.texture.set(ready.pixels.clone(), TEXTURE);
                            shown.image = done.image;
                            shown.pixels = ready.pixels;
                            shown.step = ready.step;
                            shown.scale = ready.scale;
                        }
                        None => {
                            let texture = ctx.load_texture(
                                format!("vizcast-image/{name}"),
                                ready.pixels.clone(),
                                TEXTURE,
                            );
                            slot.shown = Some(Shown {
                                image: done.image,
                                texture,
                                pixels: ready.pixels,
                                step: ready.step,
                                scale: ready.scale,
                            });
                        }
                    }
                }
                Err(err) => {
                    slot.shown = None;
                    slot.error = Some(err);
                }
            }
        }
        let max_side = u32::try_from(ctx.input(|i| i.max_texture_side)).unwrap_or(u32::MAX);
        for (name, image) in &store.images {
            if settings.is_hidden(name) {
                continue;
            }
            let slot = self.slots.entry(name.clone()).or_insert_with(|| Slot {
                floor: image.version,
                requested: 0,
                shown: None,
                error: None,
                picture: None,
            });
            // Refused when the decoder's queue is full: asked again next frame.
            if slot.requested != image.version && decoder.submit(name, image.clone(), max_side) {
                slot.requested = image.version;
            }
        }
    }

    /// Draws the visible images in a grid filling the space left.
    pub fn show(&mut self, ui: &mut Ui, store: &Store, settings: &Settings, clock: Clock) {
        self.hover = None;
        if let Err(err) = &self.decoder {
            ui.label(RichText::new(err).color(ui.visuals().error_fg_color));
            return;
        }
        let images: Vec<(&String, &StreamImage)> = store
            .images
            .iter()
            .filter(|(name, _)| !settings.is_hidden(name))
            .collect();
        if images.is_empty() {
            return;
        }
        let header = ui.text_style_height(&TextStyle::Body) + 4.0;
        let sizes: Vec<[f32; 3]> = images
            .iter()
            .map(|(_, image)| {
                let bar = if image.is_heatmap() { BAR_SPACE } else { 0.0 };
                [image.width as f32, image.height as f32, bar]
            })
            .collect();
        let (columns, row) = grid(&sizes, ui.available_size(), header);
        egui::ScrollArea::vertical()
            .auto_shrink(false)
            .show(ui, |ui| {
                let width = ui.available_width();
                let cell_width = (width - GAP * (columns - 1) as f32) / columns as f32;
                for chunk in images.chunks(columns) {
                    let (rect, _) = ui.allocate_exact_size(vec2(width, row), Sense::hover());
                    for (i, (name, image)) in chunk.iter().enumerate() {
                        let x = rect.min.x + i as f32 * (cell_width + GAP);
                        let cell = Rect::from_min_size(pos2(x, rect.min.y), vec2(cell_width, row));
                        let age = match clock {
                            Clock::System => vizcast_hub::unix_now() - image.received,
                            Clock::Fixed => store.latest_t - image.t,
                        };
                        let (picture, hover) =
                            show_cell(ui, cell, header, name, image, age, self.slots.get(*name));
                        if let Some(slot) = self.slots.get_mut(*name) {
                            slot.picture = picture;
                        }
                        if hover.is_some() {
                            self.hover = hover;
                        }
                    }
                    ui.add_space(GAP);
                }
            });
    }
}

/// One image: its header, the picture at its aspect ratio, the colour bar of a heatmap. Returns
/// where the picture was drawn and the hover readout.
fn show_cell(
    ui: &mut Ui,
    rect: Rect,
    header: f32,
    name: &str,
    image: &StreamImage,
    age: f64,
    slot: Option<&Slot>,
) -> (Option<Rect>, Option<String>) {
    let head = Rect::from_min_size(rect.min, vec2(rect.width(), header));
    let details = format!(
        "{}×{} {} · age {}",
        image.width,
        image.height,
        kind(image),
        format_age(age)
    );
    // Children placed in the cell, not allocated in the grid's layout (whose rows are).
    let mut header_ui = ui.new_child(
        UiBuilder::new()
            .max_rect(head)
            .layout(Layout::right_to_left(Align::Center)),
    );
    header_ui.label(RichText::new(details).small().weak());
    header_ui.with_layout(Layout::left_to_right(Align::Center), |ui| {
        ui.add(Label::new(RichText::new(name).strong()).truncate());
    });
    let mut area = Rect::from_min_max(pos2(rect.min.x, head.max.y), rect.max);
    let shown = slot.and_then(|s| s.shown.as_ref());
    let scale = shown.and_then(|s| s.scale);
    if scale.is_some() {
        area.max.x -= BAR_SPACE;
    }
    let painter = ui.painter_at(rect);
    let Some(shown) = shown else {
        painter.rect_filled(area, 2.0, BACKDROP);
        let (text, color) = match slot.and_then(|s| s.error.as_deref()) {
            Some(err) => (err, ui.visuals().error_fg_color),
            None => ("decoding…", ui.visuals().weak_text_color()),
        };
        ui.new_child(
            UiBuilder::new()
                .max_rect(area.shrink(8.0))
                .layout(Layout::top_down(Align::Center)),
        )
        .label(RichText::new(text).color(color));
        return (None, None);
    };
    let (w, h) = (shown.image.width as f32, shown.image.height as f32);
    let zoom = (area.width() / w).min(area.height() / h).max(0.0);
    // Under its header, centred across.
    let size = vec2(w * zoom, h * zoom);
    let picture = Rect::from_min_size(pos2(area.center().x - size.x / 2.0, area.min.y), size);
    painter.rect_filled(picture, 0.0, BACKDROP);
    painter.image(
        shown.texture.id(),
        picture,
        Rect::from_min_max(pos2(0.0, 0.0), pos2(1.0, 1.0)),
        Color32::WHITE,
    );
    if let Some(scale) = scale {
        let bar = Rect::from_min_max(
            pos2(area.max.x + GAP + 4.0, picture.min.y.max(area.min.y)),
            pos2(area.max.x + GAP + 4.0 + BAR, picture.max.y.min(area.max.y)),
        );
        colour_bar(ui, bar, scale);
    }
    let response = ui.interact(
        picture,
        egui::Id::unique(("vizcast-image", name)),
        Sense::hover(),
    );
    let Some(pointer) = response.hover_pos() else {
        return (Some(picture), None);
    };
    let (iw, ih) = (shown.image.width, shown.image.height);
    let x = (((pointer.x - picture.min.x) / picture.width()) * w).floor() as u32;
    let y = (((pointer.y - picture.min.y) / picture.height()) * h).floor() as u32;
    let (x, y) = (x.min(iw.saturating_sub(1)), y.min(ih.saturating_sub(1)));
    let value = match shown.image.encoding {
        ImageEncoding::Raw(_) => raw_value(&shown.image, x, y),
        ImageEncoding::Jpeg | ImageEncoding::Png => {
            let [pw, _] = shown.pixels.size;
            let (px, py) = ((x / shown.step) as usize, (y / shown.step) as usize);
            shown.pixels.pixels.get(py * pw + px).map(|color| {
                PixelValue::from_decoded(shown.image.channels, color.to_srgba_unmultiplied())
            })
        }
    };
    let Some(value) = value else {
        return (Some(picture), None);
    };
    if zoom >= 6.0 {
        let cell = Rect::from_min_size(
            picture.min + vec2(x as f32 * zoom, y as f32 * zoom),
            Vec2::splat(zoom),
        );
        painter.rect_stroke(
            cell,
            0.0,
            Stroke::new(1.0, Color32::WHITE),
            StrokeKind::Inside,
        );
    }
    let text = format!("({x}, {y}): {value}");
    let hover = format!("{name} {text}");
    response.on_hover_text_at_pointer(text);
    (Some(picture), Some(hover))
}

/// Columns and row height for images of `[width, height, extra width]` in `area`: the layout
/// that shows the most image area (rows past the area scroll, so what is out of view counts
/// less).
fn grid(sizes: &[[f32; 3]], area: Vec2, header: f32) -> (usize, f32) {
    let n = sizes.len().max(1);
    let mut best = (1, MIN_ROW, f32::NEG_INFINITY);
    for columns in 1..=n {
        let rows = n.div_ceil(columns);
        let cell = (area.x - GAP * (columns - 1) as f32) / columns as f32;
        let row = ((area.y - GAP * rows as f32) / rows as f32).max(MIN_ROW);
        let shown: f32 = sizes
            .iter()
            .map(|&[w, h, extra]| {
                let zoom = ((cell - extra) / w).min((row - header) / h).max(0.0);
                zoom * zoom * w * h
            })
            .sum();
        let total = rows as f32 * (row + GAP);
        let score = shown * (area.y / total).min(1.0);
        if score > best.2 {
            best = (columns, row, score);
        }
    }
    (best.0, best.1)
}

/// The colormap from its low end (bottom) to its high end (top), with the range's numbers.
fn colour_bar(ui: &mut Ui, rect: Rect, scale: Scale) {
    let lut = colormap_lut(scale.colormap);
    let mut mesh = Mesh::default();
    let step = rect.height() / lut.len() as f32;
    for (i, &[r, g, b]) in lut.iter().enumerate() {
        let bottom = rect.max.y - i as f32 * step;
        let band = Rect::from_min_max(pos2(rect.min.x, bottom - step), pos2(rect.max.x, bottom));
        mesh.add_colored_rect(band, Color32::from_rgb(r, g, b));
    }
    let painter = ui.painter();
    painter.add(mesh);
    painter.rect_stroke(
        rect,
        0.0,
        Stroke::new(1.0, ui.visuals().weak_text_color()),
        StrokeKind::Outside,
    );
    let [lo, hi] = scale.range;
    let labels = Rect::from_min_max(
        pos2(rect.max.x + 4.0, rect.min.y),
        pos2(rect.max.x + 64.0, rect.max.y),
    );
    let mut labels_ui = ui.new_child(
        UiBuilder::new()
            .max_rect(labels)
            .layout(Layout::top_down(Align::Min)),
    );
    labels_ui.label(RichText::new(format::value(f64::from(hi))).small());
    labels_ui.with_layout(Layout::bottom_up(Align::Min), |ui| {
        ui.label(RichText::new(format::value(f64::from(lo))).small());
    });
}

/// `JPEG`, `PNG`, `f32`, `u16`, `u8`, `RGB u8`, `RGBA u8`.
fn kind(image: &StreamImage) -> String {
    match (image.encoding, image.channels) {
        (ImageEncoding::Jpeg, _) => "JPEG".to_owned(),
        (ImageEncoding::Png, _) => "PNG".to_owned(),
        (ImageEncoding::Raw(PixelType::U8), 3) => "RGB u8".to_owned(),
        (ImageEncoding::Raw(PixelType::U8), 4) => "RGBA u8".to_owned(),
        (ImageEncoding::Raw(pixel), _) => pixel.as_str().to_owned(),
    }
}

/// `0.3 s`, `12 s`, `1:05`.
fn format_age(seconds: f64) -> String {
    let s = seconds.max(0.0);
    if s < 10.0 {
        format!("{s:.1} s")
    } else if s < 60.0 {
        format!("{s:.0} s")
    } else {
        format::duration(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grid_fits_the_images_to_the_panel() {
        // Two 4:3 cameras in a tall panel: one above the other; in a wide one: side by side.
        let cams = [[640.0, 480.0, 0.0]; 2];
        assert_eq!(grid(&cams, vec2(300.0, 800.0), 20.0).0, 1);
        assert_eq!(grid(&cams, vec2(1200.0, 400.0), 20.0).0, 2);
        // Many images never make rows lower than the minimum: they scroll.
        let many = [[64.0, 64.0, 0.0]; 40];
        let (columns, row) = grid(&many, vec2(400.0, 300.0), 20.0);
        assert!(row >= MIN_ROW && columns > 1, "{columns} {row}");
        assert_eq!(format_age(0.04), "0.0 s");
        assert_eq!(format_age(42.0), "42 s");
        assert_eq!(format_age(65.0), "1:05");
    }
}
