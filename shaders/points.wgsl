// Point clouds as camera-facing discs: one instanced triangle per point, sized in world units, with
// a little sphere shading and depth. Colours are 8-bit sRGB written as they are (the targets are
// not sRGB: egui works in gamma space).

struct Camera {
    view_proj: mat4x4<f32>,
    // Camera right and up in world space (w unused).
    right: vec4<f32>,
    up: vec4<f32>,
};

struct Cloud {
    // Point radius in world units (x); the rest is padding.
    radius: vec4<f32>,
};

@group(0) @binding(0) var<uniform> camera: Camera;
@group(1) @binding(0) var<uniform> cloud: Cloud;

struct Instance {
    @location(0) position: vec3<f32>,
    @location(1) color: vec4<f32>,
};

struct VsOut {
    @builtin(position) clip: vec4<f32>,
    @location(0) corner: vec2<f32>,
    @location(1) color: vec4<f32>,
};

// One triangle per point, circumscribing the unit disc: half the triangles and vertices of a
// quad, for ~30 % more (discarded) fragments; tiny points are bound by triangles, not fragments.
var<private> CORNERS: array<vec2<f32>, 3> = array<vec2<f32>, 3>(
    vec2<f32>(0.0, 2.0), vec2<f32>(-1.7320508, -1.0), vec2<f32>(1.7320508, -1.0),
);

@vertex
fn vs_main(@builtin(vertex_index) vertex: u32, instance: Instance) -> VsOut {
    let corner = CORNERS[vertex % 3u];
    let offset = (camera.right.xyz * corner.x + camera.up.xyz * corner.y) * cloud.radius.x;
    var out: VsOut;
    out.clip = camera.view_proj * vec4<f32>(instance.position + offset, 1.0);
    out.corner = corner;
    out.color = instance.color;
    return out;
}

@fragment
fn fs_main(in: VsOut) -> @location(0) vec4<f32> {
    let r2 = dot(in.corner, in.corner);
    if (r2 > 1.0) {
        discard;
    }
    let shade = 0.7 + 0.3 * sqrt(1.0 - r2);
    return vec4<f32>(in.color.rgb * shade, 1.0);
}
