//! The 3D view: the store's point clouds and line strips drawn by `vizcast-render` inside egui,
//! with an orbit camera (drag to orbit, right or middle drag to pan, scroll to zoom, double-click
//! to frame the data again).

use std::collections::HashMap;
use std::sync::Arc;

use eframe::egui::{self, Align2, Color32, FontId, PointerButton, Rect, Sense, Ui};
use eframe::egui_wgpu;
use vizcast_render::{
    OrbitCamera, RenderError, Scene, SceneCallback, SceneColors, SceneItem, SceneRenderer,
};
use vizcast_store::Store;

use crate::settings::{SavedCamera, Settings};

/// A line's colour when none is given (as in the browser viewer).
const LINE_COLOR: [u8; 3] = [249, 115, 22];

/// The 3D view's state between frames.
#[derive(Debug)]
pub(crate) struct View3d {
    /// From where the scene is seen.
    pub camera: OrbitCamera,
    /// The user moved the camera: it no longer frames the data by itself.
    pub user_moved: bool,
    /// The union of the bounds of everything shown since the last reset (auto-framing grows
    /// with the data instead of jittering with a rotating cloud).
    seen: Option<([f32; 3], [f32; 3])>,
    measured: HashMap<String, u64>,
    generation: u64,
    /// The renderer was installed in egui's paint-callback resources.
    pub available: bool,
    offscreen: Option<SceneRenderer>,
    /// The view's size in physical pixels in the last frame.
    pub size_px: [u32; 2],
    /// Where the view was drawn in the last frame.
    pub rect: Option<Rect>,
}

impl View3d {
    /// A view; `available` tells whether the renderer is installed (a wgpu render state exists).
    pub fn new(available: bool, saved: Option<SavedCamera>) -> Self {
        let mut camera = OrbitCamera::default();
        if let Some(saved) = saved {
            camera.target = saved.target.into();
            camera.distance = saved.distance;
            camera.yaw = saved.yaw;
            camera.pitch = saved.pitch;
        }
        Self {
            camera,
            user_moved: saved.is_some(),
            seen: None,
            measured: HashMap::new(),
            generation: 0,
            available,
            offscreen: None,
            size_px: [0, 0],
            rect: None,
        }
    }

    /// The camera to save, once the user placed it.
    pub fn saved_camera(&self) -> Option<SavedCamera> {
        self.user_moved.then(|| SavedCamera {
            target: self.camera.target.into(),
            distance: self.camera.distance,
            yaw: self.camera.yaw,
            pitch: self.camera.pitch,
        })
    }

    /// Frames the data again (and keeps doing so until the user moves the camera).
    pub fn reset(&mut self) {
        self.user_moved = false;
        self.seen = None;
        self.measured.clear();
        self.camera = OrbitCamera::default();
    }

    /// This frame's scene: the visible clouds and lines (data shared with the store, not copied).
    pub fn scene(&mut self, store: &Store, settings: &Settings) -> Arc<Scene> {
        if store.generation != self.generation {
            self.generation = store.generation;
            self.seen = None;
            self.measured.clear();
        }
        // Versions are per stream; a reset starts them over, so the generation goes in too.
        let version = |v: u64| (store.generation << 40) | v;
        let default_radius = self.seen.map_or(0.02, |(min, max)| {
            let d = [max[0] - min[0], max[1] - min[1], max[2] - min[2]];
            ((d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt() * 0.003).max(1e-4)
        });
        let mut items = Vec::with_capacity(store.clouds.len() + store.lines.len());
        for (name, cloud) in &store.clouds {
            if settings.is_hidden(name) {
                continue;
            }
            let colors = match (&cloud.colors, cloud.color) {
                (Some(colors), _) => SceneColors::PerPoint(colors.clone()),
                (None, Some(color)) => SceneColors::Uniform(color),
                (None, None) => SceneColors::ByHeight,
            };
            items.push(SceneItem::Points {
                name: name.clone(),
                positions: cloud.positions.clone(),
                colors,
                radius: cloud.radius.unwrap_or(default_radius),
                version: version(cloud.version),
            });
        }
        for (name, line) in &store.lines {
            if settings.is_hidden(name) || line.positions.is_empty() {
                continue;
            }
            let colors = if line.colors.is_empty() {
                SceneColors::Uniform(line.color.unwrap_or(LINE_COLOR))
            } else {
                SceneColors::PerPoint(line.colors.clone())
            };
            items.push(SceneItem::Line {
                name: name.clone(),
                positions: line.positions.clone(),
                colors,
                version: version(line.version),
            });
        }
        let scene = Scene {
            items,
            grid: settings.grid,
            point_scale: settings.point_scale,
        };
        self.measure(&scene);
        Arc::new(scene)
    }

    /// Grows the seen bounds by the items that changed.
    fn measure(&mut self, scene: &Scene) {
        if self.user_moved {
            return;
        }
        for item in &scene.items {
            let (name, version) = match item {
                SceneItem::Points { name, version, .. } | SceneItem::Line { name, version, .. } => {
                    (name, *version)
                }
            };
            if self.measured.get(name) == Some(&version) {
                continue;
            }
            self.measured.insert(name.clone(), version);
            let one = Scene {
                items: vec![item.clone()],
                ..Scene::default()
            };
            if let Some((min, max)) = one.bounds() {
                self.seen = Some(match self.seen {
                    Some((a, b)) => (
                        [a[0].min(min[0]), a[1].min(min[1]), a[2].min(min[2])],
                        [b[0].max(max[0]), b[1].max(max[1]), b[2].max(max[2])],
                    ),
                    None => (min, max),
                });
            }
        }
    }

    /// Draws the view in the space left and handles the camera controls.
    pub fn show(&mut self, ui: &mut Ui, scene: &Arc<Scene>) {
        let (rect, response) = ui.allocate_exact_size(ui.available_size(), Sense::click_and_drag());
        self.rect = Some(rect);
        let ppp = ui.pixels_per_point();
        let shift = ui.input(|i| i.modifiers.shift);
        let delta = response.drag_delta() * ppp;
        let height = rect.height() * ppp;
        if response.dragged_by(PointerButton::Primary) && !shift {
            self.camera.orbit(delta.x, delta.y);
            self.user_moved = true;
        } else if response.dragged_by(PointerButton::Secondary)
            || response.dragged_by(PointerButton::Middle)
            || (response.dragged_by(PointerButton::Primary) && shift)
        {
            self.camera.pan(delta.x, delta.y, height);
            self.user_moved = true;
        }
        if response.hovered() {
            let (scroll, zoom) = ui.input(|i| (i.smooth_scroll_delta.y, i.zoom_delta()));
            if scroll != 0.0 {
                self.camera.zoom(scroll / 60.0);
                self.user_moved = true;
            }
            if zoom != 1.0 {
                self.camera.zoom(zoom.ln() / 0.15);
                self.user_moved = true;
            }
        }
        if response.double_clicked() {
            self.reset();
        }
        if !self.user_moved
            && let Some((min, max)) = self.seen
        {
            self.camera.fit(min.into(), max.into());
        }
        self.size_px = [
            (rect.width() * ppp).round().max(1.0) as u32,
            (rect.height() * ppp).round().max(1.0) as u32,
        ];
        let painter = ui.painter_at(rect);
        if self.available {
            painter.add(egui_wgpu::Callback::new_paint_callback(
                rect,
                SceneCallback {
                    scene: scene.clone(),
                    camera: self.camera,
                    size_px: self.size_px,
                },
            ));
        } else {
            painter.rect_filled(rect, 0.0, Color32::from_gray(20));
            centered(
                &painter,
                rect,
                "The 3D view needs the wgpu renderer (no GPU device was found).",
            );
        }
        if scene.items.is_empty() && self.available {
            centered(&painter, rect, "No 3D streams yet");
        }
        painter.text(
            rect.left_bottom() + egui::vec2(8.0, -6.0),
            Align2::LEFT_BOTTOM,
            "drag: orbit · right-drag: pan · scroll: zoom · double-click: frame data",
            FontId::proportional(11.0),
            Color32::from_white_alpha(110),
        );
        response.on_hover_cursor(egui::CursorIcon::Grab);
    }

    /// Renders `scene` offscreen at `size` with the current camera: RGBA8 rows, top first.
    pub fn screenshot(
        &mut self,
        render_state: &egui_wgpu::RenderState,
        scene: &Scene,
        size: [u32; 2],
    ) -> Result<Vec<u8>, RenderError> {
        let renderer = self
            .offscreen
            .get_or_insert_with(|| SceneRenderer::new(&render_state.device, None));
        renderer.render_to_rgba(
            &render_state.device,
            &render_state.queue,
            scene,
            &self.camera,
            size,
        )
    }
}

fn centered(painter: &egui::Painter, rect: Rect, text: &str) {
    painter.text(
        rect.center(),
        Align2::CENTER_CENTER,
        text,
        FontId::proportional(14.0),
        Color32::from_white_alpha(140),
    );
}
