//! What persists between runs (through eframe's storage): view choices, not data.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// The time span the plots show.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TimeWindow {
    /// The last 10 seconds.
    #[default]
    Seconds10,
    /// The last minute.
    Minute1,
    /// The last 10 minutes.
    Minutes10,
    /// Everything kept.
    All,
}

impl TimeWindow {
    /// Every preset, in menu order.
    pub const ALL: [Self; 4] = [Self::Seconds10, Self::Minute1, Self::Minutes10, Self::All];

    /// Its span in seconds (`None`: everything).
    pub fn seconds(self) -> Option<f64> {
        match self {
            Self::Seconds10 => Some(10.0),
            Self::Minute1 => Some(60.0),
            Self::Minutes10 => Some(600.0),
            Self::All => None,
        }
    }

    /// Its button label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Seconds10 => "10 s",
            Self::Minute1 => "1 min",
            Self::Minutes10 => "10 min",
            Self::All => "all",
        }
    }
}

/// The camera, as saved.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedCamera {
    /// Orbit target.
    pub target: [f32; 3],
    /// Distance from it.
    pub distance: f32,
    /// Angle around Z.
    pub yaw: f32,
    /// Angle above the ground.
    pub pitch: f32,
}

/// Settings and layout choices kept between runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// The plots' time window.
    pub window: TimeWindow,
    /// Streams hidden from the plots, the image panel and the 3D view (full names).
    pub hidden: BTreeSet<String>,
    /// Multiplies every point's radius.
    pub point_scale: f32,
    /// Ground grid and axes in the 3D view.
    pub grid: bool,
    /// Panels shown.
    pub show_tree: bool,
    /// The event log.
    pub show_events: bool,
    /// The 3D view.
    pub show_3d: bool,
    /// The image panel (shown when an image stream is visible).
    pub show_images: bool,
    /// The camera once the user moved it (until then it frames the data).
    pub camera: Option<SavedCamera>,
    /// Recently opened recordings, newest first.
    pub recent: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            window: TimeWindow::default(),
            hidden: BTreeSet::new(),
            point_scale: 1.0,
            grid: true,
            show_tree: true,
            show_events: true,
            show_3d: true,
            show_images: true,
            camera: None,
            recent: Vec::new(),
        }
    }
}

impl Settings {
    /// Whether `name` is hidden.
    pub fn is_hidden(&self, name: &str) -> bool {
        self.hidden.contains(name)
    }

    /// Remembers a recording that was opened.
    pub fn add_recent(&mut self, path: &str) {
        self.recent.retain(|p| p != path);
        self.recent.insert(0, path.to_owned());
        self.recent.truncate(8);
    }
}
