//! vizcast's 3D renderer: point clouds (camera-facing discs sized in world units), line strips, a
//! ground grid and axes, drawn with wgpu (the one eframe re-exports) and WGSL from `shaders/`.
//!
//! - [`Scene`]: what to draw, built each frame from the store (data is shared, not copied).
//! - [`SceneRenderer`]: pipelines and per-stream GPU buffers, refreshed only when data changes.
//! - [`SceneCallback`] / [`install`]: inside egui, through `egui_wgpu::CallbackTrait`.
//! - [`Offscreen`]: without a window, for screenshots, tests and benchmarks.
//! - [`OrbitCamera`]: orbit, pan, zoom, fit; Z is up.

mod callback;
mod camera;
mod offscreen;
mod renderer;
mod scene;

pub use callback::{SceneCallback, install};
pub use camera::{CameraUniform, OrbitCamera};
pub use offscreen::{Offscreen, encode_png};
pub use renderer::{BACKGROUND, SCENE_SAMPLES, SceneRenderer};
pub use scene::{Scene, SceneColors, SceneItem, ramp};

/// Why rendering failed.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// No GPU adapter or device could be opened.
    #[error("no GPU device: {0} (install a Vulkan driver; Mesa's lavapipe works without a GPU)")]
    NoAdapter(String),
    /// Reading the image back failed.
    #[error("reading the rendered image back: {0}")]
    Readback(String),
    /// PNG encoding failed.
    #[error("encoding the PNG: {0}")]
    Png(String),
}
