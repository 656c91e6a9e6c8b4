//! Drawing the 3D view inside egui through its paint callback.

use std::sync::Arc;

use eframe::egui_wgpu::{self, CallbackResources, CallbackTrait, ScreenDescriptor, wgpu};

use crate::{OrbitCamera, Scene, SceneRenderer};

/// Puts a [`SceneRenderer`] in egui's callback resources. `msaa_samples` is the sample count egui
/// renders with (what the app configured: the render state does not tell).
pub fn install(render_state: &egui_wgpu::RenderState, msaa_samples: u32) {
    let renderer = SceneRenderer::new(
        &render_state.device,
        Some((render_state.target_format, msaa_samples)),
    );
    render_state
        .renderer
        .write()
        .callback_resources
        .insert(renderer);
}

/// One frame of the 3D view: the scene, the camera, and the widget's size in pixels.
pub struct SceneCallback {
    /// What to draw.
    pub scene: Arc<Scene>,
    /// From where.
    pub camera: OrbitCamera,
    /// The widget's size in physical pixels.
    pub size_px: [u32; 2],
}

impl CallbackTrait for SceneCallback {
    fn prepare(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        _screen: &ScreenDescriptor,
        encoder: &mut wgpu::CommandEncoder,
        resources: &mut CallbackResources,
    ) -> Vec<wgpu::CommandBuffer> {
        if let Some(renderer) = resources.get_mut::<SceneRenderer>() {
            renderer.prepare(device, queue, &self.scene);
            renderer.render(device, queue, encoder, &self.camera, self.size_px);
        }
        Vec::new()
    }

    fn paint(
        &self,
        _info: eframe::egui::PaintCallbackInfo,
        pass: &mut wgpu::RenderPass<'static>,
        resources: &CallbackResources,
    ) {
        if let Some(renderer) = resources.get::<SceneRenderer>() {
            renderer.blit(pass);
        }
    }
}
