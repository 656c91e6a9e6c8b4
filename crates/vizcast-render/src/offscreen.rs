//! Rendering the 3D view without a window: for screenshots, tests and benchmarks.

use eframe::egui_wgpu::wgpu;

use crate::{OrbitCamera, RenderError, Scene, SceneRenderer};

/// A GPU device of its own and a renderer, for drawing scenes to images.
pub struct Offscreen {
    device: wgpu::Device,
    queue: wgpu::Queue,
    renderer: SceneRenderer,
    /// The adapter's name and backend (e.g. "llvmpipe (Vulkan)").
    pub adapter: String,
}

impl std::fmt::Debug for Offscreen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Offscreen")
            .field("adapter", &self.adapter)
            .finish_non_exhaustive()
    }
}

impl Offscreen {
    /// Opens a device (`WGPU_BACKEND` picks the backend; any adapter will do, software included).
    pub fn new() -> Result<Self, RenderError> {
        pollster::block_on(async {
            let instance = wgpu::Instance::new(
                wgpu::InstanceDescriptor::new_without_display_handle_from_env(),
            );
            let adapter = instance
                .request_adapter(&wgpu::RequestAdapterOptions {
                    power_preference: wgpu::PowerPreference::HighPerformance,
                    force_fallback_adapter: false,
                    compatible_surface: None,
                    apply_limit_buckets: false,
                })
                .await
                .map_err(|e| RenderError::NoAdapter(e.to_string()))?;
            let info = adapter.get_info();
            let (device, queue) = adapter
                .request_device(&wgpu::DeviceDescriptor {
                    label: Some("vizcast offscreen"),
                    required_limits: adapter.limits(),
                    ..wgpu::DeviceDescriptor::default()
                })
                .await
                .map_err(|e| RenderError::NoAdapter(e.to_string()))?;
            let renderer = SceneRenderer::new(&device, None);
            Ok(Self {
                device,
                queue,
                renderer,
                adapter: format!("{} ({:?})", info.name, info.backend),
            })
        })
    }

    /// Draws `scene` from `camera` into an RGBA image of `width × height`.
    pub fn render_rgba(
        &mut self,
        scene: &Scene,
        camera: &OrbitCamera,
        width: u32,
        height: u32,
    ) -> Result<Vec<u8>, RenderError> {
        self.renderer
            .render_to_rgba(&self.device, &self.queue, scene, camera, [width, height])
    }

    /// Draws `scene` and waits until the GPU is done, without reading the image back (what a
    /// frame of the window costs, for benchmarks).
    pub fn render_frame(
        &mut self,
        scene: &Scene,
        camera: &OrbitCamera,
        width: u32,
        height: u32,
    ) -> Result<(), RenderError> {
        let encoder =
            self.renderer
                .encode_frame(&self.device, &self.queue, scene, camera, [width, height]);
        let submission = self.queue.submit([encoder.finish()]);
        self.device
            .poll(wgpu::PollType::Wait {
                submission_index: Some(submission),
                timeout: Some(std::time::Duration::from_secs(60)),
            })
            .map(|_| ())
            .map_err(|e| RenderError::Readback(e.to_string()))
    }

    /// Draws `scene` into a PNG file's bytes.
    pub fn render_png(
        &mut self,
        scene: &Scene,
        camera: &OrbitCamera,
        width: u32,
        height: u32,
    ) -> Result<Vec<u8>, RenderError> {
        let rgba = self.render_rgba(scene, camera, width, height)?;
        encode_png(&rgba, width, height)
    }
}

/// PNG bytes of an RGBA image.
pub fn encode_png(rgba: &[u8], width: u32, height: u32) -> Result<Vec<u8>, RenderError> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder
            .write_header()
            .map_err(|e| RenderError::Png(e.to_string()))?;
        writer
            .write_image_data(rgba)
            .map_err(|e| RenderError::Png(e.to_string()))?;
    }
    Ok(out)
}
