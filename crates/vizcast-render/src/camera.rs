//! The orbit camera of the 3D view: Z is up.

use glam::Vec3;

/// An orbit camera around a target point.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OrbitCamera {
    /// The point orbited.
    pub target: Vec3,
    /// Distance from the target.
    pub distance: f32,
    /// Angle around the Z axis, radians.
    pub yaw: f32,
    /// Angle above the XY plane, radians.
    pub pitch: f32,
    /// Vertical field of view, radians.
    pub fov_y: f32,
}

impl Default for OrbitCamera {
    fn default() -> Self {
        Self {
            target: Vec3::new(0.0, 0.0, 0.5),
            distance: 7.0,
            yaw: -0.9,
            pitch: 0.45,
            fov_y: 50f32.to_radians(),
        }
    }
}

/// What the shaders need of the camera.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct CameraUniform {
    /// Projection × view.
    pub view_proj: [[f32; 4]; 4],
    /// Camera right, world space.
    pub right: [f32; 4],
    /// Camera up, world space.
    pub up: [f32; 4],
}

impl OrbitCamera {
    /// Where the camera is.
    pub fn eye(&self) -> Vec3 {
        let (sy, cy) = self.yaw.sin_cos();
        let (sp, cp) = self.pitch.sin_cos();
        self.target + Vec3::new(cp * cy, cp * sy, sp) * self.distance
    }

    /// The shader uniform for a viewport of `aspect` (width / height).
    pub fn uniform(&self, aspect: f32) -> CameraUniform {
        let eye = self.eye();
        let view = glam::camera::rh::view::look_at_mat4(eye, self.target, Vec3::Z);
        let near = (self.distance * 0.001).max(1e-4);
        let far = self.distance * 100.0 + 100.0;
        // wgpu's clip space: y up, depth 0..1 (the DirectX convention).
        let proj =
            glam::camera::rh::proj::directx::perspective(self.fov_y, aspect.max(1e-3), near, far);
        let forward = (self.target - eye).normalize_or_zero();
        let right = forward.cross(Vec3::Z).normalize_or(Vec3::X);
        let up = right.cross(forward).normalize_or(Vec3::Z);
        CameraUniform {
            view_proj: (proj * view).to_cols_array_2d(),
            right: right.extend(0.0).to_array(),
            up: up.extend(0.0).to_array(),
        }
    }

    /// Orbits by a drag of `dx`, `dy` pixels.
    pub fn orbit(&mut self, dx: f32, dy: f32) {
        self.yaw -= dx * 0.008;
        self.pitch = (self.pitch + dy * 0.008).clamp(-1.55, 1.55);
    }

    /// Pans by a drag of `dx`, `dy` pixels in a view `height` pixels tall.
    pub fn pan(&mut self, dx: f32, dy: f32, height: f32) {
        let forward = (self.target - self.eye()).normalize_or_zero();
        let right = forward.cross(Vec3::Z).normalize_or(Vec3::X);
        let up = right.cross(forward);
        let scale = 2.0 * self.distance * (self.fov_y * 0.5).tan() / height.max(1.0);
        self.target += (-right * dx + up * dy) * scale;
    }

    /// Zooms by `steps` (positive: closer).
    pub fn zoom(&mut self, steps: f32) {
        self.distance = (self.distance * (-steps * 0.15).exp()).clamp(1e-3, 1e6);
    }

    /// Frames the box `min`..`max`, keeping the viewing direction.
    pub fn fit(&mut self, min: Vec3, max: Vec3) {
        let center = (min + max) * 0.5;
        let radius = ((max - min).length() * 0.5).max(0.05);
        self.target = center;
        self.distance = radius / (self.fov_y * 0.5).sin() * 1.1;
    }
}
