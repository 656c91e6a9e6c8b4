//! The renderer on a real wgpu device (Mesa's lavapipe here, a GPU elsewhere), read back.

#![allow(missing_docs, clippy::unwrap_used)]

use std::sync::Arc;

use vizcast_render::{BACKGROUND, Offscreen, OrbitCamera, Scene, SceneColors, SceneItem};

fn count(rgba: &[u8], matches: impl Fn([u8; 3]) -> bool) -> usize {
    rgba.chunks_exact(4)
        .filter(|p| matches([p[0], p[1], p[2]]))
        .count()
}

fn sphere(n: usize, center: [f32; 3], radius: f32) -> Vec<[f32; 3]> {
    let golden = std::f32::consts::PI * (3.0 - 5f32.sqrt());
    (0..n)
        .map(|i| {
            let y = 1.0 - 2.0 * (i as f32 + 0.5) / n as f32;
            let r = (1.0 - y * y).sqrt();
            let a = golden * i as f32;
            [
                center[0] + radius * r * a.cos(),
                center[1] + radius * r * a.sin(),
                center[2] + radius * y,
            ]
        })
        .collect()
}

#[test]
fn points_lines_grid_and_depth_are_drawn() {
    let mut gpu =
        Offscreen::new().expect("a wgpu device (install mesa-vulkan-drivers for lavapipe)");
    let mut positions = sphere(20_000, [0.0, 0.0, 1.0], 1.0);
    positions.push([f32::NAN, 0.0, 0.0]);
    let scene = Scene {
        items: vec![
            SceneItem::Points {
                name: "cloud".into(),
                positions: Arc::new(positions),
                colors: SceneColors::ByHeight,
                radius: 0.02,
                version: 1,
            },
            SceneItem::Points {
                name: "near".into(),
                positions: Arc::new(vec![[1.6, -1.6, 1.0]]),
                colors: SceneColors::Uniform([255, 0, 0]),
                radius: 0.3,
                version: 1,
            },
            // Drawn after the cloud but behind it (seen from the camera): depth keeps it behind.
            SceneItem::Points {
                name: "far".into(),
                positions: Arc::new(vec![[-3.0, 3.0, 1.0]]),
                colors: SceneColors::Uniform([0, 0, 255]),
                radius: 2.0,
                version: 1,
            },
            SceneItem::Line {
                name: "path".into(),
                positions: Arc::new(vec![[-2.0, -2.0, 0.2], [2.0, -2.0, 0.2], [2.0, 2.0, 0.2]]),
                colors: SceneColors::Uniform([0, 255, 0]),
                version: 1,
            },
        ],
        grid: true,
        point_scale: 1.0,
    };
    let mut camera = OrbitCamera::default();
    let (min, max) = scene.bounds().unwrap();
    camera.fit(min.into(), max.into());
    let (w, h) = (320, 240);
    let rgba = gpu.render_rgba(&scene, &camera, w, h).unwrap();
    assert_eq!(rgba.len(), (w * h * 4) as usize);
    let png = vizcast_render::encode_png(&rgba, w, h).unwrap();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("render-offscreen.png"), png).unwrap();

    let background = count(&rgba, |p| p == BACKGROUND);
    let cloud = count(&rgba, |p| p[1] > 60 && p[2] > 60 && p[0] < 120);
    let red = count(&rgba, |p| p[0] > 150 && p[1] < 60 && p[2] < 60);
    let blue = count(&rgba, |p| p[2] > 150 && p[0] < 60 && p[1] < 60);
    let green = count(&rgba, |p| p[1] > 150 && p[0] < 60 && p[2] < 60);
    println!(
        "{} — background {background}, cloud {cloud}, red {red}, blue {blue}, green {green}",
        gpu.adapter
    );
    assert!(background > (w * h / 10) as usize, "the background shows");
    assert!(cloud > 2000, "the cloud is drawn ({cloud} px)");
    assert!(red > 300, "the near disc is drawn ({red} px)");
    assert!(blue > 300, "the far disc is drawn ({blue} px)");
    assert!(green > 20, "the line is drawn ({green} px)");
    // At the cloud's centre the far disc, drawn later, stays hidden behind the cloud.
    let [x, y] = project(&camera, [0.0, 0.0, 1.0], w, h);
    let at = ((y * w + x) * 4) as usize;
    let pixel = [rgba[at], rgba[at + 1], rgba[at + 2]];
    assert!(
        !(pixel[2] > 150 && pixel[0] < 60 && pixel[1] < 60),
        "depth: the far disc covers the cloud at its centre {pixel:?}"
    );
}

/// Pixel of a world position.
fn project(camera: &OrbitCamera, p: [f32; 3], w: u32, h: u32) -> [u32; 2] {
    let m = camera.uniform(w as f32 / h as f32).view_proj;
    let clip: Vec<f32> = (0..4)
        .map(|r| m[0][r] * p[0] + m[1][r] * p[1] + m[2][r] * p[2] + m[3][r])
        .collect();
    let (nx, ny) = (clip[0] / clip[3], clip[1] / clip[3]);
    [
        ((nx * 0.5 + 0.5) * w as f32) as u32,
        ((0.5 - ny * 0.5) * h as f32) as u32,
    ]
}

#[test]
fn an_empty_scene_is_the_background_and_the_grid() {
    let mut gpu = Offscreen::new().unwrap();
    let rgba = gpu
        .render_rgba(
            &Scene {
                items: vec![],
                grid: true,
                point_scale: 1.0,
            },
            &OrbitCamera::default(),
            128,
            96,
        )
        .unwrap();
    let background = count(&rgba, |p| p == BACKGROUND);
    assert!(background > 128 * 96 / 2);
    assert!(background < 128 * 96, "the grid is drawn");
}
