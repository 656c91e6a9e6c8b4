//! The window: panels laid out around the plots and the 3D view, and the per-frame flow (read
//! the store once, draw, act on what the user did).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use eframe::egui::{self, Key, RichText, Ui};
use vizcast_hub::HubStats;

use crate::images::Images;
use crate::panels::{self, Toasts};
use crate::plots::Plots;
use crate::session::Session;
use crate::settings::{Settings, TimeWindow};
use crate::tree::{Rates, StreamTree};
use crate::view3d::View3d;

/// Where the app's sense of time comes from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Clock {
    /// The system clock: measured frame times, stats refreshed on a timer.
    #[default]
    System,
    /// egui's input time only (tests): nothing on screen depends on how fast the machine is.
    Fixed,
}

/// How the app is set up.
#[derive(Clone, Debug)]
pub struct AppOptions {
    /// The MSAA sample count the window renders with (the 3D pipelines must match it).
    pub msaa_samples: u32,
    /// See [`Clock`].
    pub clock: Clock,
    /// Where screenshots and recordings started from the app are written.
    pub output_dir: PathBuf,
    /// Read and write settings and layout through eframe's storage.
    pub persist: bool,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            msaa_samples: 4,
            clock: Clock::System,
            output_dir: PathBuf::from("."),
            persist: true,
        }
    }
}

/// Frame timing for the status bar.
#[derive(Debug, Default)]
pub(crate) struct FrameStats {
    /// egui input times of recent frames.
    times: VecDeque<f64>,
    /// CPU time of recent frames, seconds.
    cpu: VecDeque<f64>,
}

impl FrameStats {
    fn record(&mut self, time: f64, cpu: Option<f64>) {
        self.times.push_back(time);
        while self.times.len() > 2 && time - self.times[0] > 1.0 {
            self.times.pop_front();
        }
        if let Some(cpu) = cpu {
            self.cpu.push_back(cpu);
            if self.cpu.len() > 60 {
                self.cpu.pop_front();
            }
        }
    }

    /// Frames per second over the last second.
    pub fn fps(&self) -> f64 {
        match (self.times.front(), self.times.back()) {
            (Some(a), Some(b)) if b > a => (self.times.len() - 1) as f64 / (b - a),
            _ => 0.0,
        }
    }

    /// Mean CPU milliseconds per frame, if measured.
    pub fn cpu_ms(&self) -> Option<f64> {
        (!self.cpu.is_empty()).then(|| self.cpu.iter().sum::<f64>() / self.cpu.len() as f64 * 1e3)
    }
}

/// The vizcast desktop app.
pub struct App {
    pub(crate) session: Session,
    pub(crate) settings: Settings,
    pub(crate) options: AppOptions,
    pub(crate) tree: StreamTree,
    pub(crate) plots: Plots,
    pub(crate) view3d: View3d,
    pub(crate) images: Images,
    pub(crate) frames: FrameStats,
    /// Hub counters, refreshed a few times a second (they take the hub's lock).
    pub(crate) hub_stats: Option<HubStats>,
    pub(crate) stream_rates: Rates,
    stats_at: Option<Instant>,
    stats_time: f64,
    /// When the app was built (to log the time to the first frame).
    created: Option<Instant>,
    pub(crate) share_open: bool,
    pub(crate) open_dialog: panels::OpenDialog,
    pub(crate) event_filter: String,
    pub(crate) toasts: Toasts,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").finish_non_exhaustive()
    }
}

impl App {
    /// Builds the app: installs the 3D renderer in egui's render state, restores settings.
    pub fn new(cc: &eframe::CreationContext<'_>, session: Session, options: AppOptions) -> Self {
        let settings: Settings = if options.persist {
            cc.storage
                .and_then(|s| eframe::get_value(s, eframe::APP_KEY))
                .unwrap_or_default()
        } else {
            Settings::default()
        };
        let available = match &cc.wgpu_render_state {
            Some(render_state) => {
                vizcast_render::install(render_state, options.msaa_samples);
                let adapter = render_state.adapter.get_info();
                tracing::info!(
                    "desktop window open: {} ({:?}, {:?})",
                    adapter.name,
                    adapter.backend,
                    adapter.device_type
                );
                true
            }
            None => {
                tracing::warn!("no wgpu render state: the 3D view is off");
                false
            }
        };
        cc.egui_ctx.set_theme(egui::Theme::Dark);
        {
            let ctx = cc.egui_ctx.clone();
            session.on_change(move || ctx.request_repaint());
        }
        let images = {
            let ctx = cc.egui_ctx.clone();
            Images::new(move || ctx.request_repaint())
        };
        Self {
            images,
            view3d: View3d::new(available, settings.camera),
            session,
            settings,
            options,
            tree: StreamTree::default(),
            plots: Plots::default(),
            frames: FrameStats::default(),
            hub_stats: None,
            stream_rates: Rates::new(),
            stats_at: None,
            stats_time: f64::NEG_INFINITY,
            created: Some(Instant::now()),
            share_open: false,
            open_dialog: panels::OpenDialog::default(),
            event_filter: String::new(),
            toasts: Toasts::default(),
        }
    }

    /// The session the app works with.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The settings as they are now.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Whether the plots follow the live edge.
    pub fn following(&self) -> bool {
        self.plots.follow
    }

    /// Whether the share panel is open.
    pub fn share_open(&self) -> bool {
        self.share_open
    }

    /// Number of plots shown in the last frame.
    pub fn plot_count(&self) -> usize {
        self.plots.group_count()
    }

    /// Points handed to the plots in the last frame (after decimation).
    pub fn points_drawn(&self) -> usize {
        self.plots.points_drawn
    }

    /// The x range the plots showed in the last frame.
    pub fn shown_range(&self) -> Option<(f64, f64)> {
        self.plots.shown
    }

    /// Where the 3D view was drawn in the last frame (points, not pixels).
    pub fn view3d_rect(&self) -> Option<egui::Rect> {
        self.view3d.rect.filter(|_| self.settings.show_3d)
    }

    /// The image streams whose current image is on screen, with its version
    /// ([`vizcast_store::StreamImage::version`]); decoding is asynchronous, so a new image
    /// shows a frame or more after it reached the store.
    pub fn images_shown(&self) -> Vec<(String, u64)> {
        self.images.shown()
    }

    /// Where the image of stream `name` was drawn in the last frame (points).
    pub fn image_rect(&self, name: &str) -> Option<egui::Rect> {
        self.images.picture(name)
    }

    /// Image textures held (one per visible image stream at most).
    pub fn image_textures(&self) -> usize {
        self.images.textures()
    }

    /// What the hovered image pixel holds, as shown: `heat (3, 2): 0.25`.
    pub fn image_hover(&self) -> Option<&str> {
        self.images.hover.as_deref()
    }

    /// The time the last image took to decode and convert (on the decoding thread).
    pub fn last_image_decode(&self) -> Option<Duration> {
        self.images.last_decode
    }

    /// The messages shown at the top right, newest last.
    pub fn toasts(&self) -> Vec<String> {
        self.toasts.texts()
    }

    fn refresh_stats(&mut self, time: f64) {
        let due = match self.options.clock {
            Clock::System => self
                .stats_at
                .is_none_or(|at| at.elapsed() >= Duration::from_millis(250)),
            Clock::Fixed => time - self.stats_time >= 0.25,
        };
        if !due {
            return;
        }
        self.stats_at = Some(Instant::now());
        self.stats_time = time;
        self.hub_stats = Some(self.session.hub.stats());
        if self.session.wants_exclusions() {
            let excluded = {
                let store = self.session.store().read();
                crate::tree::exclusions(&self.settings.hidden, store.names().into_keys())
            };
            self.session.exclude(excluded);
        }
        self.stream_rates = self
            .session
            .hub
            .streams()
            .into_iter()
            .map(|s| (s.name, s.message_rate))
            .collect();
    }

    fn shortcuts(&mut self, ui: &Ui) {
        if ui.ctx().egui_wants_keyboard_input() {
            return;
        }
        let (space, home) = ui.input(|i| (i.key_pressed(Key::Space), i.key_pressed(Key::Home)));
        if space {
            if self.plots.follow {
                self.plots.pause();
            } else {
                self.plots.resume();
            }
        }
        if home {
            self.view3d.reset();
        }
    }

    fn body(&mut self, ui: &mut Ui, frame: &eframe::Frame) {
        let store_lock = self.session.store().clone();
        let store = store_lock.read();
        self.tree.update(&store);
        self.images.update(ui.ctx(), &store, &self.settings);
        if self.settings.show_tree {
            egui::Panel::left("vizcast-tree")
                .resizable(true)
                .default_size(290.0)
                .size_range(180.0..=600.0)
                .show(ui, |ui| {
                    ui.horizontal(|ui| {
                        ui.heading("Streams");
                        ui.label(RichText::new(format!("{}", self.tree.len())).weak());
                    });
                    ui.separator();
                    egui::ScrollArea::vertical()
                        .auto_shrink(false)
                        .show(ui, |ui| {
                            self.tree
                                .show(ui, &store, &self.stream_rates, &mut self.settings);
                        });
                });
        }
        if self.settings.show_events {
            egui::Panel::bottom("vizcast-events")
                .resizable(true)
                .default_size(150.0)
                .size_range(60.0..=600.0)
                .show(ui, |ui| {
                    panels::events(ui, &store, &self.settings, &mut self.event_filter);
                });
        }
        let scene = self.view3d.scene(&store, &self.settings);
        if self.settings.show_3d {
            egui::Panel::right("vizcast-3d")
                .resizable(true)
                .default_size(ui.available_width() * 0.45)
                .size_range(200.0..=f32::INFINITY)
                .show(ui, |ui| {
                    if panels::view3d_toolbar(ui, &mut self.settings, &mut self.view3d) {
                        self.screenshot(frame, &scene);
                    }
                    self.view3d.show(ui, &scene);
                });
        }
        if self.settings.show_images && Images::any_visible(&store, &self.settings) {
            egui::Panel::right("vizcast-images")
                .resizable(true)
                .default_size(ui.available_width() * 0.4)
                .size_range(160.0..=f32::INFINITY)
                .show(ui, |ui| {
                    self.images
                        .show(ui, &store, &self.settings, self.options.clock);
                });
        }
        egui::CentralPanel::default().show(ui, |ui| {
            let input = self.plots.show(ui, &store, &self.settings);
            if input.resume {
                self.plots.resume();
            } else if input.interacted {
                self.plots.pause();
            }
        });
    }

    fn screenshot(&mut self, frame: &eframe::Frame, scene: &vizcast_render::Scene) {
        let Some(render_state) = frame.wgpu_render_state() else {
            self.toasts
                .error("screenshots need the wgpu renderer".to_owned());
            return;
        };
        let size = self.view3d.size_px;
        let rgba = match self.view3d.screenshot(render_state, scene, size) {
            Ok(rgba) => rgba,
            Err(err) => {
                self.toasts.error(format!("screenshot failed: {err}"));
                return;
            }
        };
        let path = self.options.output_dir.join(format!(
            "vizcast-{}.png",
            crate::format::file_stamp(vizcast_hub::unix_now())
        ));
        let written = vizcast_render::encode_png(&rgba, size[0], size[1])
            .map_err(|e| e.to_string())
            .and_then(|png| std::fs::write(&path, png).map_err(|e| e.to_string()));
        match written {
            Ok(()) => self
                .toasts
                .info(format!("screenshot saved to {}", path.display())),
            Err(err) => self
                .toasts
                .error(format!("cannot save {}: {err}", path.display())),
        }
    }
}

impl eframe::App for App {
    fn ui(&mut self, ui: &mut Ui, frame: &mut eframe::Frame) {
        let started = Instant::now();
        let time = ui.input(|i| i.time);
        if self.session.hub.shutdown_token().is_cancelled() {
            ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
        }
        self.refresh_stats(time);
        for (path, result) in self.session.finished() {
            match result {
                Ok(summary) if summary.unrecorded_frames > 0 => self.toasts.error(format!(
                    "recording saved to {} with gaps: {} frames could not be written",
                    path.display(),
                    summary.unrecorded_frames
                )),
                Ok(summary) => self.toasts.info(format!(
                    "recording saved to {} ({} messages, {})",
                    path.display(),
                    summary.messages,
                    crate::format::bytes(summary.bytes as f64)
                )),
                Err(err) => self.toasts.error(format!("recording failed: {err}")),
            }
        }
        self.shortcuts(ui);
        panels::top_bar(self, ui);
        panels::status_bar(self, ui);
        if self.session.replay().is_some() {
            panels::timeline(self, ui);
        }
        self.body(ui, frame);
        panels::share_window(self, ui);
        panels::open_window(self, ui);
        panels::drop_files(self, ui);
        self.toasts.show(ui, time);
        let cpu = match self.options.clock {
            Clock::System => Some(started.elapsed().as_secs_f64()),
            Clock::Fixed => None,
        };
        self.frames.record(time, cpu);
        if let Some(created) = self.created.take() {
            tracing::info!(
                "desktop window: first frame built in {:.0} ms",
                created.elapsed().as_secs_f64() * 1e3
            );
        }
        // Stats and replay positions move without new data: look again soon.
        ui.ctx().request_repaint_after(Duration::from_millis(250));
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        if self.options.persist {
            self.settings.camera = self.view3d.saved_camera();
            eframe::set_value(storage, eframe::APP_KEY, &self.settings);
        }
    }
}

impl App {
    /// Picks a time window preset.
    pub(crate) fn set_window(&mut self, window: TimeWindow) {
        if self.settings.window == window {
            return;
        }
        self.settings.window = window;
        let store = self.session.store().read();
        self.plots.window_changed(&store, &self.settings);
    }
}
