//! What to draw: a description of the 3D content, cheap to build every frame (data is shared).

use std::sync::Arc;

/// Colours of points or vertices.
#[derive(Clone, Debug)]
pub enum SceneColors {
    /// A colour map by height (z).
    ByHeight,
    /// One colour for all.
    Uniform([u8; 3]),
    /// One per point.
    PerPoint(Arc<Vec<[u8; 3]>>),
}

/// One thing to draw.
#[derive(Clone, Debug)]
pub enum SceneItem {
    /// A point cloud.
    Points {
        /// Its stream.
        name: String,
        /// Positions.
        positions: Arc<Vec<[f32; 3]>>,
        /// Colours.
        colors: SceneColors,
        /// Radius in world units.
        radius: f32,
        /// Changes whenever the data changes (the GPU copy is refreshed then).
        version: u64,
    },
    /// A line strip.
    Line {
        /// Its stream.
        name: String,
        /// Vertices.
        positions: Arc<Vec<[f32; 3]>>,
        /// Colours.
        colors: SceneColors,
        /// Changes whenever the data changes.
        version: u64,
    },
}

impl SceneItem {
    /// The stream it shows.
    pub fn name(&self) -> &str {
        match self {
            Self::Points { name, .. } | Self::Line { name, .. } => name,
        }
    }

    pub(crate) fn version(&self) -> u64 {
        match self {
            Self::Points { version, .. } | Self::Line { version, .. } => *version,
        }
    }

    fn positions(&self) -> &[[f32; 3]] {
        match self {
            Self::Points { positions, .. } | Self::Line { positions, .. } => positions,
        }
    }
}

/// Everything to draw.
#[derive(Clone, Debug, Default)]
pub struct Scene {
    /// The items, drawn in order.
    pub items: Vec<SceneItem>,
    /// Draw the ground grid and the axes.
    pub grid: bool,
    /// Multiplies every point radius.
    pub point_scale: f32,
}

impl Scene {
    /// The bounding box of every finite position, if any.
    pub fn bounds(&self) -> Option<([f32; 3], [f32; 3])> {
        let mut min = [f32::INFINITY; 3];
        let mut max = [f32::NEG_INFINITY; 3];
        let mut any = false;
        for item in &self.items {
            for p in item.positions() {
                if p.iter().all(|c| c.is_finite()) {
                    any = true;
                    for k in 0..3 {
                        min[k] = min[k].min(p[k]);
                        max[k] = max[k].max(p[k]);
                    }
                }
            }
        }
        any.then_some((min, max))
    }
}

/// A perceptual blue → green → yellow ramp (the colour map by height).
pub fn ramp(x: f32) -> [u8; 3] {
    const STOPS: [[f32; 3]; 4] = [
        [68.0, 1.0, 84.0],
        [49.0, 104.0, 142.0],
        [53.0, 183.0, 121.0],
        [253.0, 231.0, 37.0],
    ];
    let x = if x.is_finite() {
        x.clamp(0.0, 1.0) * 3.0
    } else {
        0.0
    };
    let i = (x.floor() as usize).min(2);
    let f = x - i as f32;
    let lerp = |k: usize| (STOPS[i][k] + (STOPS[i + 1][k] - STOPS[i][k]) * f).round() as u8;
    [lerp(0), lerp(1), lerp(2)]
}
