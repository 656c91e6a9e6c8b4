//! The wgpu pipelines and buffers of the 3D view.
//!
//! The scene is drawn into its own targets (4× MSAA colour and a depth buffer, resolved into one
//! texture), so that points and lines occlude each other properly whatever egui's render pass is
//! configured with. Inside egui, [`SceneRenderer::blit`] then copies the result into egui's pass
//! with a pipeline made for egui's target format and sample count; offscreen, the resolved texture
//! is read back. GPU buffers are kept per stream and rewritten only when the stream's data changed
//! (its version), grown by doubling.

use std::collections::HashMap;

use eframe::egui_wgpu::wgpu;
use wgpu::util::DeviceExt as _;

use crate::camera::OrbitCamera;
use crate::scene::{Scene, SceneColors, SceneItem, ramp};

/// Format of the scene's colour target (gamma-space colours, like egui's).
pub const SCENE_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8Unorm;
/// Format of the scene's depth buffer.
pub const DEPTH_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Depth32Float;
/// Multisampling of the scene.
pub const SCENE_SAMPLES: u32 = 4;
/// Background of the 3D view (#0b1120).
pub const BACKGROUND: [u8; 3] = [0x0b, 0x11, 0x20];

/// One point or vertex as the GPU sees it.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
struct GpuVertex {
    position: [f32; 3],
    color: [u8; 4],
}

const VERTEX_LAYOUT: wgpu::VertexBufferLayout<'static> = wgpu::VertexBufferLayout {
    array_stride: 16,
    step_mode: wgpu::VertexStepMode::Vertex,
    attributes: &wgpu::vertex_attr_array![0 => Float32x3, 1 => Unorm8x4],
};

const INSTANCE_LAYOUT: wgpu::VertexBufferLayout<'static> = wgpu::VertexBufferLayout {
    array_stride: 16,
    step_mode: wgpu::VertexStepMode::Instance,
    attributes: &wgpu::vertex_attr_array![0 => Float32x3, 1 => Unorm8x4],
};

/// A vertex buffer of a stream.
struct GpuBuffer {
    buffer: wgpu::Buffer,
    capacity: usize,
    count: u32,
    version: u64,
    /// Per-cloud uniform (radius) and its bind group; lines have none.
    params: Option<(wgpu::Buffer, wgpu::BindGroup)>,
    /// Seen in the latest scene (others are freed).
    alive: bool,
}

struct Targets {
    size: [u32; 2],
    msaa: wgpu::TextureView,
    resolve: wgpu::Texture,
    resolve_view: wgpu::TextureView,
    depth: wgpu::TextureView,
}

struct Blit {
    pipeline: wgpu::RenderPipeline,
    layout: wgpu::BindGroupLayout,
    sampler: wgpu::Sampler,
    bind_group: Option<wgpu::BindGroup>,
}

/// The 3D renderer. See the module docs.
pub struct SceneRenderer {
    camera_buffer: wgpu::Buffer,
    camera_bind_group: wgpu::BindGroup,
    cloud_layout: wgpu::BindGroupLayout,
    points: wgpu::RenderPipeline,
    strips: wgpu::RenderPipeline,
    lists: wgpu::RenderPipeline,
    grid: wgpu::Buffer,
    grid_count: u32,
    buffers: HashMap<(bool, String), GpuBuffer>,
    /// Items to draw this frame: (is a cloud, name).
    order: Vec<(bool, String)>,
    draw_grid: bool,
    targets: Option<Targets>,
    blit: Option<Blit>,
}

impl std::fmt::Debug for SceneRenderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SceneRenderer")
            .field("streams", &self.buffers.len())
            .finish_non_exhaustive()
    }
}

fn shader(device: &wgpu::Device, label: &str, source: &str) -> wgpu::ShaderModule {
    device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(label),
        source: wgpu::ShaderSource::Wgsl(source.into()),
    })
}

impl SceneRenderer {
    /// Builds the pipelines. `egui_target` is egui's target format and MSAA sample count when the
    /// scene is shown inside egui (`None` offscreen).
    pub fn new(device: &wgpu::Device, egui_target: Option<(wgpu::TextureFormat, u32)>) -> Self {
        let points_shader = shader(
            device,
            "vizcast points",
            include_str!("../../../shaders/points.wgsl"),
        );
        let lines_shader = shader(
            device,
            "vizcast lines",
            include_str!("../../../shaders/lines.wgsl"),
        );
        let uniform_entry = |visibility| wgpu::BindGroupLayoutEntry {
            binding: 0,
            visibility,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Uniform,
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        };
        let camera_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("vizcast camera"),
            entries: &[uniform_entry(wgpu::ShaderStages::VERTEX)],
        });
        let cloud_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("vizcast cloud"),
            entries: &[uniform_entry(wgpu::ShaderStages::VERTEX)],
        });
        let camera_buffer = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("vizcast camera"),
            size: size_of::<crate::camera::CameraUniform>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let camera_bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("vizcast camera"),
            layout: &camera_layout,
            entries: &[wgpu::BindGroupEntry {
                binding: 0,
                resource: camera_buffer.as_entire_binding(),
            }],
        });
        let points_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("vizcast points"),
            bind_group_layouts: &[Some(&camera_layout), Some(&cloud_layout)],
            immediate_size: 0,
        });
        let lines_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("vizcast lines"),
            bind_group_layouts: &[Some(&camera_layout)],
            immediate_size: 0,
        });
        let depth = Some(wgpu::DepthStencilState {
            format: DEPTH_FORMAT,
            depth_write_enabled: Some(true),
            depth_compare: Some(wgpu::CompareFunction::Less),
            stencil: wgpu::StencilState::default(),
            bias: wgpu::DepthBiasState::default(),
        });
        let pipeline = |label,
                        layout: &wgpu::PipelineLayout,
                        module: &wgpu::ShaderModule,
                        buffer: wgpu::VertexBufferLayout<'static>,
                        topology| {
            device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
                label: Some(label),
                layout: Some(layout),
                vertex: wgpu::VertexState {
                    module,
                    entry_point: Some("vs_main"),
                    compilation_options: wgpu::PipelineCompilationOptions::default(),
                    buffers: &[Some(buffer)],
                },
                primitive: wgpu::PrimitiveState {
                    topology,
                    ..wgpu::PrimitiveState::default()
                },
                depth_stencil: depth.clone(),
                multisample: wgpu::MultisampleState {
                    count: SCENE_SAMPLES,
                    ..wgpu::MultisampleState::default()
                },
                fragment: Some(wgpu::FragmentState {
                    module,
                    entry_point: Some("fs_main"),
                    compilation_options: wgpu::PipelineCompilationOptions::default(),
                    targets: &[Some(wgpu::ColorTargetState {
                        format: SCENE_FORMAT,
                        blend: None,
                        write_mask: wgpu::ColorWrites::ALL,
                    })],
                }),
                multiview_mask: None,
                cache: None,
            })
        };
        let points = pipeline(
            "vizcast points",
            &points_layout,
            &points_shader,
            INSTANCE_LAYOUT,
            wgpu::PrimitiveTopology::TriangleList,
        );
        let strips = pipeline(
            "vizcast line strips",
            &lines_layout,
            &lines_shader,
            VERTEX_LAYOUT,
            wgpu::PrimitiveTopology::LineStrip,
        );
        let lists = pipeline(
            "vizcast grid",
            &lines_layout,
            &lines_shader,
            VERTEX_LAYOUT,
            wgpu::PrimitiveTopology::LineList,
        );
        let grid_vertices = grid_vertices();
        let grid = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("vizcast grid"),
            contents: bytemuck::cast_slice(&grid_vertices),
            usage: wgpu::BufferUsages::VERTEX,
        });
        let blit = egui_target.map(|(format, samples)| Blit::new(device, format, samples));
        Self {
            camera_buffer,
            camera_bind_group,
            cloud_layout,
            points,
            strips,
            lists,
            grid,
            grid_count: grid_vertices.len() as u32,
            buffers: HashMap::new(),
            order: Vec::new(),
            draw_grid: true,
            targets: None,
            blit,
        }
    }

    /// Uploads what changed in `scene` (by version) and frees what is gone.
    pub fn prepare(&mut self, device: &wgpu::Device, queue: &wgpu::Queue, scene: &Scene) {
        for buffer in self.buffers.values_mut() {
            buffer.alive = false;
        }
        self.order.clear();
        self.draw_grid = scene.grid;
        for item in &scene.items {
            let cloud = matches!(item, SceneItem::Points { .. });
            let key = (cloud, item.name().to_owned());
            let current = self.buffers.get(&key).map(|b| b.version);
            if current != Some(item.version()) {
                let vertices = vertices(item);
                self.upload(device, queue, &key, &vertices, item.version(), cloud);
            }
            if let (Some(buffer), SceneItem::Points { radius, .. }) =
                (self.buffers.get_mut(&key), item)
                && let Some((params, _)) = &buffer.params
            {
                let scale = if scene.point_scale > 0.0 {
                    scene.point_scale
                } else {
                    1.0
                };
                queue.write_buffer(
                    params,
                    0,
                    bytemuck::cast_slice(&[radius * scale, 0.0, 0.0, 0.0]),
                );
            }
            if let Some(buffer) = self.buffers.get_mut(&key) {
                buffer.alive = true;
            }
            self.order.push(key);
        }
        self.buffers.retain(|_, b| b.alive);
    }

    fn upload(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        key: &(bool, String),
        vertices: &[GpuVertex],
        version: u64,
        cloud: bool,
    ) {
        let needed = vertices.len().max(1);
        let fits = self.buffers.get(key).is_some_and(|b| b.capacity >= needed);
        if !fits {
            let capacity = needed.next_power_of_two().max(1024);
            let buffer = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(&key.1),
                size: (capacity * size_of::<GpuVertex>()) as u64,
                usage: wgpu::BufferUsages::VERTEX | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let params = cloud.then(|| {
                let params = device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("vizcast cloud params"),
                    size: 16,
                    usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                });
                let group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some("vizcast cloud params"),
                    layout: &self.cloud_layout,
                    entries: &[wgpu::BindGroupEntry {
                        binding: 0,
                        resource: params.as_entire_binding(),
                    }],
                });
                (params, group)
            });
            self.buffers.insert(
                key.clone(),
                GpuBuffer {
                    buffer,
                    capacity,
                    count: 0,
                    version,
                    params,
                    alive: true,
                },
            );
        }
        if let Some(target) = self.buffers.get_mut(key) {
            if !vertices.is_empty() {
                queue.write_buffer(&target.buffer, 0, bytemuck::cast_slice(vertices));
            }
            target.count = vertices.len() as u32;
            target.version = version;
        }
    }

    /// Makes sure the targets are `size` pixels.
    fn ensure_targets(&mut self, device: &wgpu::Device, size: [u32; 2]) {
        let size = [size[0].max(1), size[1].max(1)];
        if self.targets.as_ref().is_some_and(|t| t.size == size) {
            return;
        }
        let texture = |label, format, samples, usage| {
            device.create_texture(&wgpu::TextureDescriptor {
                label: Some(label),
                size: wgpu::Extent3d {
                    width: size[0],
                    height: size[1],
                    depth_or_array_layers: 1,
                },
                mip_level_count: 1,
                sample_count: samples,
                dimension: wgpu::TextureDimension::D2,
                format,
                usage,
                view_formats: &[],
            })
        };
        let msaa = texture(
            "vizcast scene msaa",
            SCENE_FORMAT,
            SCENE_SAMPLES,
            wgpu::TextureUsages::RENDER_ATTACHMENT,
        );
        let resolve = texture(
            "vizcast scene",
            SCENE_FORMAT,
            1,
            wgpu::TextureUsages::RENDER_ATTACHMENT
                | wgpu::TextureUsages::TEXTURE_BINDING
                | wgpu::TextureUsages::COPY_SRC,
        );
        let depth = texture(
            "vizcast depth",
            DEPTH_FORMAT,
            SCENE_SAMPLES,
            wgpu::TextureUsages::RENDER_ATTACHMENT,
        );
        let resolve_view = resolve.create_view(&wgpu::TextureViewDescriptor::default());
        if let Some(blit) = &mut self.blit {
            blit.bind(device, &resolve_view);
        }
        self.targets = Some(Targets {
            size,
            msaa: msaa.create_view(&wgpu::TextureViewDescriptor::default()),
            resolve,
            resolve_view,
            depth: depth.create_view(&wgpu::TextureViewDescriptor::default()),
        });
    }

    /// Records the scene's render pass into `encoder`, into targets of `size` pixels.
    pub fn render(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        encoder: &mut wgpu::CommandEncoder,
        camera: &OrbitCamera,
        size: [u32; 2],
    ) {
        self.ensure_targets(device, size);
        let Some(targets) = &self.targets else { return };
        let uniform = camera.uniform(targets.size[0] as f32 / targets.size[1] as f32);
        queue.write_buffer(&self.camera_buffer, 0, bytemuck::bytes_of(&uniform));
        let [r, g, b] = BACKGROUND.map(|c| f64::from(c) / 255.0);
        let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
            label: Some("vizcast scene"),
            color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                view: &targets.msaa,
                depth_slice: None,
                resolve_target: Some(&targets.resolve_view),
                ops: wgpu::Operations {
                    load: wgpu::LoadOp::Clear(wgpu::Color { r, g, b, a: 1.0 }),
                    store: wgpu::StoreOp::Discard,
                },
            })],
            depth_stencil_attachment: Some(wgpu::RenderPassDepthStencilAttachment {
                view: &targets.depth,
                depth_ops: Some(wgpu::Operations {
                    load: wgpu::LoadOp::Clear(1.0),
                    store: wgpu::StoreOp::Discard,
                }),
                stencil_ops: None,
            }),
            timestamp_writes: None,
            occlusion_query_set: None,
            multiview_mask: None,
        });
        pass.set_bind_group(0, &self.camera_bind_group, &[]);
        if self.draw_grid {
            pass.set_pipeline(&self.lists);
            pass.set_vertex_buffer(0, self.grid.slice(..));
            pass.draw(0..self.grid_count, 0..1);
        }
        for key in &self.order {
            let Some(buffer) = self.buffers.get(key) else {
                continue;
            };
            if buffer.count == 0 {
                continue;
            }
            let bytes = u64::from(buffer.count) * size_of::<GpuVertex>() as u64;
            pass.set_vertex_buffer(0, buffer.buffer.slice(..bytes));
            match &buffer.params {
                Some((_, group)) => {
                    pass.set_pipeline(&self.points);
                    pass.set_bind_group(1, group, &[]);
                    pass.draw(0..3, 0..buffer.count);
                }
                None => {
                    pass.set_pipeline(&self.strips);
                    pass.draw(0..buffer.count, 0..1);
                }
            }
        }
    }

    /// Copies the rendered scene into egui's render pass (the viewport egui set for the widget).
    pub fn blit(&self, pass: &mut wgpu::RenderPass<'static>) {
        if let Some(Blit {
            pipeline,
            bind_group: Some(group),
            ..
        }) = &self.blit
        {
            pass.set_pipeline(pipeline);
            pass.set_bind_group(0, group, &[]);
            pass.draw(0..3, 0..1);
        }
    }

    /// Uploads what changed in `scene` and records its drawing into a new command encoder.
    pub fn encode_frame(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        scene: &Scene,
        camera: &OrbitCamera,
        size: [u32; 2],
    ) -> wgpu::CommandEncoder {
        self.prepare(device, queue, scene);
        let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("vizcast offscreen"),
        });
        self.render(device, queue, &mut encoder, camera, size);
        encoder
    }

    /// Renders `scene` into fresh targets and reads the pixels back: RGBA, `width × height`, rows
    /// top to bottom. Blocks until the GPU is done.
    pub fn render_to_rgba(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        scene: &Scene,
        camera: &OrbitCamera,
        size: [u32; 2],
    ) -> Result<Vec<u8>, crate::RenderError> {
        let mut encoder = self.encode_frame(device, queue, scene, camera, size);
        let Some(targets) = &self.targets else {
            return Err(crate::RenderError::Readback("no target".to_owned()));
        };
        let [width, height] = targets.size;
        let row = (width * 4).div_ceil(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT)
            * wgpu::COPY_BYTES_PER_ROW_ALIGNMENT;
        let readback = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("vizcast readback"),
            size: u64::from(row) * u64::from(height),
            usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::MAP_READ,
            mapped_at_creation: false,
        });
        encoder.copy_texture_to_buffer(
            wgpu::TexelCopyTextureInfo {
                texture: &targets.resolve,
                mip_level: 0,
                origin: wgpu::Origin3d::ZERO,
                aspect: wgpu::TextureAspect::All,
            },
            wgpu::TexelCopyBufferInfo {
                buffer: &readback,
                layout: wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(row),
                    rows_per_image: Some(height),
                },
            },
            wgpu::Extent3d {
                width,
                height,
                depth_or_array_layers: 1,
            },
        );
        let submission = queue.submit([encoder.finish()]);
        let slice = readback.slice(..);
        slice.map_async(wgpu::MapMode::Read, |_| {});
        device
            .poll(wgpu::PollType::Wait {
                submission_index: Some(submission),
                timeout: Some(std::time::Duration::from_secs(60)),
            })
            .map_err(|e| crate::RenderError::Readback(e.to_string()))?;
        let data = slice
            .get_mapped_range()
            .map_err(|e| crate::RenderError::Readback(e.to_string()))?;
        let mut pixels = Vec::with_capacity((width * height * 4) as usize);
        for y in 0..height as usize {
            let start = y * row as usize;
            pixels.extend_from_slice(&data[start..start + width as usize * 4]);
        }
        drop(data);
        readback.unmap();
        Ok(pixels)
    }
}

impl Blit {
    fn new(device: &wgpu::Device, format: wgpu::TextureFormat, samples: u32) -> Self {
        let module = shader(
            device,
            "vizcast blit",
            include_str!("../../../shaders/blit.wgsl"),
        );
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("vizcast blit"),
            entries: &[
                wgpu::BindGroupLayoutEntry {
                    binding: 0,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Texture {
                        sample_type: wgpu::TextureSampleType::Float { filterable: true },
                        view_dimension: wgpu::TextureViewDimension::D2,
                        multisampled: false,
                    },
                    count: None,
                },
                wgpu::BindGroupLayoutEntry {
                    binding: 1,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
                    count: None,
                },
            ],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("vizcast blit"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
            label: Some("vizcast blit"),
            layout: Some(&pipeline_layout),
            vertex: wgpu::VertexState {
                module: &module,
                entry_point: Some("vs_main"),
                compilation_options: wgpu::PipelineCompilationOptions::default(),
                buffers: &[],
            },
            primitive: wgpu::PrimitiveState::default(),
            depth_stencil: None,
            multisample: wgpu::MultisampleState {
                count: samples.max(1),
                ..wgpu::MultisampleState::default()
            },
            fragment: Some(wgpu::FragmentState {
                module: &module,
                entry_point: Some("fs_main"),
                compilation_options: wgpu::PipelineCompilationOptions::default(),
                targets: &[Some(wgpu::ColorTargetState {
                    format,
                    blend: None,
                    write_mask: wgpu::ColorWrites::ALL,
                })],
            }),
            multiview_mask: None,
            cache: None,
        });
        let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some("vizcast blit"),
            mag_filter: wgpu::FilterMode::Linear,
            min_filter: wgpu::FilterMode::Linear,
            ..wgpu::SamplerDescriptor::default()
        });
        Self {
            pipeline,
            layout,
            sampler,
            bind_group: None,
        }
    }

    fn bind(&mut self, device: &wgpu::Device, view: &wgpu::TextureView) {
        self.bind_group = Some(device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("vizcast blit"),
            layout: &self.layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: wgpu::BindingResource::TextureView(view),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: wgpu::BindingResource::Sampler(&self.sampler),
                },
            ],
        }));
    }
}

/// The GPU form of an item: non-finite positions are left out, colours resolved.
fn vertices(item: &SceneItem) -> Vec<GpuVertex> {
    let (positions, colors) = match item {
        SceneItem::Points {
            positions, colors, ..
        }
        | SceneItem::Line {
            positions, colors, ..
        } => (positions, colors),
    };
    let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
    if matches!(colors, SceneColors::ByHeight) {
        for p in positions.iter().filter(|p| p[2].is_finite()) {
            lo = lo.min(p[2]);
            hi = hi.max(p[2]);
        }
    }
    let span = if hi > lo { hi - lo } else { 1.0 };
    positions
        .iter()
        .enumerate()
        .filter(|(_, p)| p.iter().all(|c| c.is_finite()))
        .map(|(i, p)| {
            let rgb = match colors {
                SceneColors::ByHeight => ramp((p[2] - lo) / span),
                SceneColors::Uniform(c) => *c,
                SceneColors::PerPoint(c) => c.get(i).copied().unwrap_or([200, 200, 200]),
            };
            GpuVertex {
                position: *p,
                color: [rgb[0], rgb[1], rgb[2], 255],
            }
        })
        .collect()
}

/// The ground grid (XY plane, 20 × 20 m, 1 m apart) and the axes (X red, Y green, Z blue).
fn grid_vertices() -> Vec<GpuVertex> {
    let mut v = Vec::new();
    let line = |v: &mut Vec<GpuVertex>, a: [f32; 3], b: [f32; 3], color: [u8; 4]| {
        v.push(GpuVertex { position: a, color });
        v.push(GpuVertex { position: b, color });
    };
    for i in -10..=10 {
        let c = i as f32;
        let color = if i == 0 {
            [71, 85, 105, 255]
        } else {
            [38, 48, 66, 255]
        };
        line(&mut v, [c, -10.0, 0.0], [c, 10.0, 0.0], color);
        line(&mut v, [-10.0, c, 0.0], [10.0, c, 0.0], color);
    }
    line(
        &mut v,
        [0.0, 0.0, 0.001],
        [1.0, 0.0, 0.001],
        [239, 68, 68, 255],
    );
    line(
        &mut v,
        [0.0, 0.0, 0.001],
        [0.0, 1.0, 0.001],
        [34, 197, 94, 255],
    );
    line(
        &mut v,
        [0.0, 0.0, 0.0],
        [0.0, 0.0, 1.0],
        [59, 130, 246, 255],
    );
    v
}
