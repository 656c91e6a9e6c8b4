//! vizcast's desktop app on eframe (wgpu renderer): what one person at the machine sees while the
//! hub mirrors the same streams to browsers.
//!
//! - [`Session`] (`session.rs`): what the app shows and controls: the hub, the store fed from it,
//!   the viewer links, the recorder and the replay.
//! - [`App`] (`app.rs`): the window: stream tree (`tree.rs`), time-series plots (`plots.rs`), the
//!   image panel (`images.rs`), the 3D view (`view3d.rs`), the event log, the status bar, the
//!   share panel, the record button and the replay timeline (`panels.rs`). Layout and settings
//!   persist (`settings.rs`).
//!
//! The UI thread never parses and never waits on the network: each frame it reads the store
//! under a read lock, decimates what it plots (a frame costs what its pixels cost), hands the
//! 3D scene (shared data, no copies) to the renderer's paint callback and uploads the images a
//! thread of their own decoded.

mod app;
mod format;
mod images;
mod panels;
mod plots;
mod session;
mod settings;
mod tree;
mod view3d;

use std::sync::Arc;

use parking_lot::Mutex;

pub use app::{App, AppOptions, Clock};
pub use plots::{PALETTE, series_color};
pub use session::Session;
pub use settings::{Settings, TimeWindow};
pub use vizcast_hub::Links;

/// Opens the desktop window and runs until it is closed. Blocks the calling (main) thread.
///
/// The session is taken from `slot` once the window exists. If the window cannot be opened (no
/// display, no GPU driver), this returns the error and the session is still in `slot`, so the
/// caller can go on headless with it.
pub fn run_window(
    slot: Arc<Mutex<Option<Session>>>,
    options: AppOptions,
) -> Result<(), eframe::Error> {
    let native = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("vizcast")
            .with_app_id("vizcast")
            .with_inner_size([1440.0, 900.0])
            .with_min_inner_size([640.0, 400.0])
            .with_drag_and_drop(true),
        multisampling: u16::try_from(options.msaa_samples).unwrap_or(1),
        depth_buffer: 0,
        ..eframe::NativeOptions::default()
    };
    eframe::run_native(
        "vizcast",
        native,
        Box::new(move |cc| {
            let session = slot
                .lock()
                .take()
                .ok_or("the desktop session was already taken")?;
            Ok(Box::new(App::new(cc, session, options)))
        }),
    )
}
