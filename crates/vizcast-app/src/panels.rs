//! The panels around the plots and the 3D view: top bar (menus, live/pause, time window, record,
//! share), status bar, replay timeline, event log, share and open windows, drag-and-drop, and
//! the messages shown at the top right.

use std::path::{Path, PathBuf};

use eframe::egui::{
    self, Align, Align2, Color32, Layout, RichText, Slider, TextEdit, Ui, Vec2, ViewportCommand,
};
use vizcast_hub::Role;
use vizcast_protocol::Level;
use vizcast_record::ReplayOptions;
use vizcast_store::Store;

use crate::app::{App, Clock};
use crate::format;
use crate::settings::{Settings, TimeWindow};
use crate::view3d::View3d;

const RED: Color32 = Color32::from_rgb(0xf8, 0x71, 0x71);
const AMBER: Color32 = Color32::from_rgb(0xfb, 0xbf, 0x24);
const GREEN: Color32 = Color32::from_rgb(0x4a, 0xde, 0x80);

/// Replay speeds offered (0: as fast as possible).
const SPEEDS: [f64; 8] = [0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 0.0];

/// The "Open recording" window's state.
#[derive(Debug, Default)]
pub(crate) struct OpenDialog {
    pub open: bool,
    pub path: String,
    pub error: Option<String>,
    /// The timeline position being dragged (seek on release).
    pub seek_drag: Option<f64>,
}

#[derive(Debug)]
struct Toast {
    text: String,
    error: bool,
    shown_at: Option<f64>,
}

/// Short messages at the top right that go away by themselves.
#[derive(Debug, Default)]
pub(crate) struct Toasts {
    items: Vec<Toast>,
}

impl Toasts {
    pub fn info(&mut self, text: String) {
        tracing::info!("{text}");
        self.push(text, false);
    }

    pub fn error(&mut self, text: String) {
        tracing::error!("{text}");
        self.push(text, true);
    }

    fn push(&mut self, text: String, error: bool) {
        self.items.push(Toast {
            text,
            error,
            shown_at: None,
        });
        if self.items.len() > 5 {
            self.items.remove(0);
        }
    }

    pub fn texts(&self) -> Vec<String> {
        self.items.iter().map(|t| t.text.clone()).collect()
    }

    pub fn show(&mut self, ui: &Ui, time: f64) {
        self.items.retain(|t| {
            let life = if t.error { 12.0 } else { 6.0 };
            t.shown_at.is_none_or(|at| time - at < life)
        });
        if self.items.is_empty() {
            return;
        }
        egui::Area::new(egui::Id::unique("vizcast-toasts"))
            .anchor(Align2::RIGHT_TOP, Vec2::new(-12.0, 44.0))
            .order(egui::Order::Foreground)
            .interactable(false)
            .show(ui.ctx(), |ui| {
                for toast in &mut self.items {
                    toast.shown_at.get_or_insert(time);
                    egui::Frame::popup(ui.style()).show(ui, |ui| {
                        ui.set_max_width(420.0);
                        let color = if toast.error {
                            RED
                        } else {
                            ui.visuals().text_color()
                        };
                        ui.label(RichText::new(&toast.text).color(color));
                    });
                }
            });
    }
}

/// Menus, live/pause, the time window, record and share.
pub(crate) fn top_bar(app: &mut App, ui: &mut Ui) {
    egui::Panel::top("vizcast-top").show(ui, |ui| {
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button("File", |ui| {
                if ui.button("Open recording…").clicked() {
                    app.open_dialog.open = true;
                }
                match app.session.recording_path() {
                    None => {
                        if ui.button("Start recording").clicked() {
                            start_recording(app);
                        }
                    }
                    Some(_) => {
                        if ui.button("Stop recording").clicked() {
                            app.session.stop_recording();
                        }
                    }
                }
                ui.separator();
                if ui.button("Quit").clicked() {
                    ui.ctx().send_viewport_cmd(ViewportCommand::Close);
                }
            });
            ui.menu_button("View", |ui| {
                ui.checkbox(&mut app.settings.show_tree, "Stream tree");
                ui.checkbox(&mut app.settings.show_3d, "3D view");
                ui.checkbox(&mut app.settings.show_images, "Images");
                ui.checkbox(&mut app.settings.show_events, "Event log");
                ui.separator();
                if ui.button("Show every stream").clicked() {
                    app.settings.hidden.clear();
                }
            });
            ui.separator();
            let label = if app.plots.follow {
                RichText::new("⏸ Pause")
            } else {
                RichText::new("▶ Follow live").color(AMBER)
            };
            if ui
                .button(label)
                .on_hover_text("Space: pause or follow the live edge (dragging a plot pauses too)")
                .clicked()
            {
                if app.plots.follow {
                    app.plots.pause();
                } else {
                    app.plots.resume();
                }
            }
            ui.label(RichText::new("Window").weak());
            for window in TimeWindow::ALL {
                if ui
                    .selectable_label(app.settings.window == window, window.label())
                    .clicked()
                {
                    app.set_window(window);
                }
            }
            ui.separator();
            record_button(app, ui);
            ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
                ui.label(RichText::new(concat!("vizcast ", env!("CARGO_PKG_VERSION"))).weak());
                let viewers = viewer_count(app);
                let text = if viewers > 0 {
                    format!("Share · {viewers}")
                } else {
                    "Share".to_owned()
                };
                ui.toggle_value(&mut app.share_open, text)
                    .on_hover_text("The viewer URL for browsers, and who is connected");
            });
        });
    });
}

fn viewer_count(app: &App) -> usize {
    app.hub_stats.as_ref().map_or(0, |s| {
        s.clients.iter().filter(|c| c.role == Role::Viewer).count()
    })
}

fn record_button(app: &mut App, ui: &mut Ui) {
    if app.session.recording_path().is_some() {
        let (recording, _) = app.session.hub.status_parts();
        let text = match &recording {
            Some(r) => format!(
                "⏹ Stop recording · {} · {}",
                format::bytes(r.bytes as f64),
                format::duration(r.seconds)
            ),
            None => "⏹ Stop recording".to_owned(),
        };
        let mut hover = app
            .session
            .recording_path()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        if let Some(r) = &recording
            && r.unrecorded_frames > 0
        {
            hover.push_str(&format!(
                "\n{} frames could not be recorded (the disk is too slow)",
                r.unrecorded_frames
            ));
        }
        if ui
            .button(RichText::new(text).color(RED))
            .on_hover_text(hover)
            .clicked()
        {
            app.session.stop_recording();
        }
    } else if ui
        .button("⏺ Record")
        .on_hover_text(format!(
            "Record everything received to an MCAP file in {}",
            app.options.output_dir.display()
        ))
        .clicked()
    {
        start_recording(app);
    }
}

fn start_recording(app: &mut App) {
    let path = app.options.output_dir.join(format!(
        "vizcast-{}.mcap",
        format::file_stamp(vizcast_hub::unix_now())
    ));
    match app.session.start_recording(&path) {
        Ok(()) => app.toasts.info(format!("recording to {}", path.display())),
        Err(err) => app.toasts.error(format!("cannot record: {err}")),
    }
}

/// Ingest, browsers, drops, frame rate, memory, recording.
pub(crate) fn status_bar(app: &mut App, ui: &mut Ui) {
    egui::Panel::bottom("vizcast-status").show(ui, |ui| {
        ui.horizontal(|ui| {
            let weak = ui.visuals().weak_text_color();
            if app.plots.follow {
                ui.label(RichText::new("⏺ live").color(GREEN));
            } else {
                ui.label(RichText::new("⏸ paused").color(AMBER));
            }
            ui.separator();
            let (messages, bytes, rejected, viewers, lagged) = match &app.hub_stats {
                Some(s) => {
                    let viewers: Vec<_> = s
                        .clients
                        .iter()
                        .filter(|c| c.role == Role::Viewer)
                        .collect();
                    let lagged: u64 = viewers
                        .iter()
                        .map(|c| c.dropped_frames.load(std::sync::atomic::Ordering::Relaxed))
                        .sum();
                    (
                        s.rates.messages,
                        s.rates.bytes,
                        s.rejected,
                        viewers.len(),
                        lagged,
                    )
                }
                None => (0.0, 0.0, 0, 0, 0),
            };
            ui.label(format!(
                "ingest {} msg/s · {}/s",
                format::si(messages),
                format::bytes(bytes)
            ));
            ui.separator();
            ui.label(format!("browsers {viewers}"));
            ui.separator();
            let desktop = app.session.dropped();
            let drops = format!(
                "dropped: {} to browsers · {} desktop · {} rejected",
                format::si(lagged as f64),
                format::si(desktop as f64),
                format::si(rejected as f64)
            );
            let color = if lagged + desktop + rejected > 0 {
                AMBER
            } else {
                weak
            };
            ui.label(RichText::new(drops).color(color)).on_hover_text(
                "to browsers: frames slow browsers skipped (they were resynced)\n\
                 desktop: frames this window skipped because it fell behind\n\
                 rejected: invalid frames refused at ingest",
            );
            if let (Some(r), _) = app.session.hub.status_parts() {
                ui.separator();
                let mut text = format!(
                    "⏺ REC {} · {}",
                    format::bytes(r.bytes as f64),
                    format::duration(r.seconds)
                );
                if r.unrecorded_frames > 0 {
                    text.push_str(&format!(" · {} NOT RECORDED", r.unrecorded_frames));
                }
                ui.label(RichText::new(text).color(RED).strong());
            }
            if let Some(nats) = app.session.hub.nats_status() {
                let links = [("to broker", nats.publish), ("edge of", nats.subscribe)];
                for (role, link) in links {
                    let Some(link) = link else { continue };
                    ui.separator();
                    let (text, trouble, details) = nats_label(role, &link);
                    let color = if trouble { AMBER } else { GREEN };
                    ui.label(RichText::new(text).color(color))
                        .on_hover_text(details);
                }
            }
            let remote = app.hub_stats.as_ref().and_then(|s| {
                s.extra
                    .iter()
                    .find(|(name, _)| name == "remote")
                    .map(|(_, value)| remote_label(value))
            });
            if let Some((text, trouble, details)) = remote {
                ui.separator();
                let color = if trouble { AMBER } else { GREEN };
                ui.label(RichText::new(text).color(color))
                    .on_hover_text(details);
            }
            ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
                let (used, budget) = app.session.store().read().memory();
                let fraction = if budget > 0 {
                    used as f32 / budget as f32
                } else {
                    0.0
                };
                ui.add(
                    egui::ProgressBar::new(fraction.min(1.0))
                        .desired_width(70.0)
                        .desired_height(10.0),
                );
                ui.label(format!(
                    "memory {} / {}",
                    format::bytes(used as f64),
                    format::bytes(budget as f64)
                ))
                .on_hover_text(
                    "Samples, clouds, lines and images kept for the plots, the 3D view and the \
                     image panel, against --memory-limit; over it, the oldest samples go first",
                );
                ui.separator();
                let fps = app.frames.fps();
                let text = match app.frames.cpu_ms() {
                    Some(ms) => format!("{fps:.0} fps · {ms:.1} ms"),
                    None => format!("{fps:.0} fps"),
                };
                ui.label(text)
                    .on_hover_text("frames per second · CPU time to build a frame");
            });
        });
    });
}

/// Play, pause, seek, speed and loop for the open replay.
pub(crate) fn timeline(app: &mut App, ui: &mut Ui) {
    egui::Panel::bottom("vizcast-timeline").show(ui, |ui| {
        let Some(open) = app.session.replay() else {
            return;
        };
        let (_, status) = app.session.hub.status_parts();
        let status = status.unwrap_or_default();
        let duration = if status.duration > 0.0 {
            status.duration
        } else {
            open.duration
        };
        let mut close = false;
        ui.horizontal(|ui| {
            let playing = status.state == "playing";
            let button = if playing {
                "⏸ Pause replay"
            } else {
                "▶ Play replay"
            };
            if ui
                .button(button)
                .on_hover_text("Pause or play the replay (at the end: from the start)")
                .clicked()
            {
                if playing {
                    open.replay.pause();
                } else {
                    open.replay.resume();
                }
            }
            let mut position = app.open_dialog.seek_drag.unwrap_or(status.position);
            let label = ui.label(
                RichText::new(format!(
                    "{} / {}",
                    format::duration(position),
                    format::duration(duration)
                ))
                .monospace(),
            );
            let rest = 360.0;
            ui.spacing_mut().slider_width = (ui.available_width() - rest).max(120.0);
            let response = ui
                .add(
                    Slider::new(&mut position, 0.0..=duration.max(1e-3))
                        .show_value(false)
                        .trailing_fill(true),
                )
                .labelled_by(label.id);
            if response.dragged() {
                app.open_dialog.seek_drag = Some(position);
            }
            if response.drag_stopped() || (response.changed() && !response.dragged()) {
                open.replay.seek(position);
                app.open_dialog.seek_drag = None;
            }
            let mut speed = status.speed;
            egui::ComboBox::from_id_salt("vizcast-speed")
                .width(70.0)
                .selected_text(speed_label(speed))
                .show_ui(ui, |ui| {
                    for s in SPEEDS {
                        if ui.selectable_value(&mut speed, s, speed_label(s)).clicked() {
                            open.replay.set_speed(s);
                        }
                    }
                });
            let mut looping = status.looping;
            if ui.checkbox(&mut looping, "Loop").changed() {
                open.replay.set_looping(looping);
            }
            let name = Path::new(&open.path).file_name().map_or_else(
                || open.path.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            ui.label(RichText::new(name).weak())
                .on_hover_text(open.path.display().to_string());
            if ui
                .button("Close")
                .on_hover_text("Stop the replay (what it showed stays)")
                .clicked()
            {
                close = true;
            }
        });
        if close {
            app.session.close_replay();
        }
    });
}

fn speed_label(speed: f64) -> String {
    if speed <= 0.0 {
        "max".to_owned()
    } else {
        format!("{speed}×")
    }
}

/// The text event log, newest first, with a filter.
pub(crate) fn events(ui: &mut Ui, store: &Store, settings: &Settings, filter: &mut String) {
    let needle = filter.to_lowercase();
    let shown: Vec<_> = store
        .events
        .iter()
        .filter(|e| !settings.is_hidden(&e.stream))
        .filter(|e| {
            needle.is_empty()
                || e.text.to_lowercase().contains(&needle)
                || e.stream.to_lowercase().contains(&needle)
        })
        .collect();
    ui.horizontal(|ui| {
        ui.heading("Events");
        ui.add(
            TextEdit::singleline(filter)
                .hint_text("filter")
                .desired_width(200.0),
        );
        ui.label(RichText::new(format!("{} of {}", shown.len(), store.events.len())).weak());
    });
    let row = ui.text_style_height(&egui::TextStyle::Monospace) + ui.spacing().item_spacing.y;
    egui::ScrollArea::vertical()
        .auto_shrink(false)
        .show_rows(ui, row, shown.len(), |ui, rows| {
            for event in &shown[rows] {
                ui.horizontal(|ui| {
                    ui.monospace(format::timestamp(event.t));
                    let (text, color) = match event.level {
                        Level::Error => ("ERROR", RED),
                        Level::Warn => ("WARN ", AMBER),
                        _ => ("INFO ", ui.visuals().weak_text_color()),
                    };
                    ui.label(RichText::new(text).monospace().color(color));
                    ui.label(RichText::new(&event.stream).weak());
                    ui.label(&event.text);
                });
            }
        });
}

/// The 3D view's controls; returns whether a screenshot was asked for.
pub(crate) fn view3d_toolbar(ui: &mut Ui, settings: &mut Settings, view: &mut View3d) -> bool {
    let mut shot = false;
    ui.horizontal(|ui| {
        ui.strong("3D");
        if ui
            .button("Reset view")
            .on_hover_text("Frame the data again (Home, or double-click the view)")
            .clicked()
        {
            view.reset();
        }
        let label = ui.label("Point size");
        ui.add(
            Slider::new(&mut settings.point_scale, 0.1..=10.0)
                .logarithmic(true)
                .show_value(false),
        )
        .labelled_by(label.id);
        ui.checkbox(&mut settings.grid, "Grid");
        shot = ui
            .add_enabled(view.available, egui::Button::new("Screenshot"))
            .on_hover_text("Save the 3D view as a PNG")
            .clicked();
    });
    shot
}

/// The viewer URL, who is connected, where producers send.
pub(crate) fn share_window(app: &mut App, ui: &Ui) {
    let mut open = app.share_open;
    let links = app.session.links.clone();
    let mut copied = None;
    egui::Window::new("Share")
        .open(&mut open)
        .default_width(480.0)
        .resizable(false)
        .collapsible(false)
        .show(ui.ctx(), |ui| {
            match &links.share {
                Some(share) => {
                    ui.label("Anyone on your network with this link can watch:");
                    if let Some(url) = url_row(ui, "share-url", share) {
                        copied = Some(url);
                    }
                    ui.label(RichText::new("On this machine:").weak());
                    if let Some(url) = url_row(ui, "viewer-url", &links.viewer) {
                        copied = Some(url);
                    }
                }
                None => {
                    ui.label("Browsers on this machine can watch at:");
                    if let Some(url) = url_row(ui, "viewer-url", &links.viewer) {
                        copied = Some(url);
                    }
                    ui.label(
                        RichText::new(
                            "vizcast listens on this machine only. Start it with --share to let \
                             other machines watch (the link then carries a token).",
                        )
                        .weak()
                        .small(),
                    );
                }
            }
            ui.add_space(4.0);
            ui.label("Producers send to:");
            if let Some(url) = url_row(ui, "producer-url", &links.producers) {
                copied = Some(url);
            }
            ui.separator();
            clients(ui, app, Role::Viewer);
            ui.add_space(6.0);
            clients(ui, app, Role::Producer);
        });
    app.share_open = open;
    if let Some(url) = copied {
        ui.ctx().copy_text(url.clone());
        app.toasts.info(format!("copied {url}"));
    }
}

/// A read-only URL with a copy button; returns the URL when copied.
fn url_row(ui: &mut Ui, id: &str, url: &str) -> Option<String> {
    let mut copied = None;
    ui.horizontal(|ui| {
        let mut text = url;
        ui.add(
            TextEdit::singleline(&mut text)
                .id_salt(id)
                .desired_width(360.0)
                .font(egui::TextStyle::Monospace),
        );
        if ui.button("Copy").clicked() {
            copied = Some(url.to_owned());
        }
    });
    copied
}

fn clients(ui: &mut Ui, app: &App, role: Role) {
    let list: Vec<_> = app
        .hub_stats
        .as_ref()
        .map(|s| s.clients.iter().filter(|c| c.role == role).collect())
        .unwrap_or_default();
    let title = match role {
        Role::Viewer => "Browsers connected",
        Role::Producer => "Producers connected",
    };
    ui.strong(format!("{title}: {}", list.len()));
    if list.is_empty() {
        return;
    }
    let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    egui::Grid::new(("vizcast-clients", title))
        .striped(true)
        .num_columns(if role == Role::Viewer { 6 } else { 4 })
        .show(ui, |ui| {
            ui.label(RichText::new("address").weak());
            ui.label(RichText::new("for").weak());
            ui.label(RichText::new("frames").weak());
            ui.label(
                RichText::new(match role {
                    Role::Viewer => "dropped (lags)",
                    Role::Producer => "rejected",
                })
                .weak(),
            );
            if role == Role::Viewer {
                ui.label(RichText::new("link").weak())
                    .on_hover_text("bytes sent per second over the last second");
                ui.label(RichText::new("3D thinned").weak()).on_hover_text(
                    "superseded clouds and lines skipped because this browser's link is slower than the data",
                );
            }
            ui.end_row();
            for client in list.iter().take(200) {
                ui.monospace(&client.addr);
                match app.options.clock {
                    Clock::System => {
                        ui.label(format::duration(client.connected.elapsed().as_secs_f64()))
                    }
                    Clock::Fixed => ui.label("–"),
                };
                ui.label(format::si(load(&client.frames) as f64));
                match role {
                    Role::Viewer => ui.label(format!(
                        "{} ({})",
                        format::si(load(&client.dropped_frames) as f64),
                        load(&client.lagged)
                    )),
                    Role::Producer => ui.label(format::si(load(&client.dropped_frames) as f64)),
                };
                if role == Role::Viewer {
                    ui.label(format!("{}/s", format::bytes(client.send_rate())));
                    ui.label(thinned(client));
                }
                ui.end_row();
            }
        });
    if list.len() > 200 {
        ui.label(RichText::new(format!("and {} more", list.len() - 200)).weak());
    }
}

/// What conflation skipped for a browser: `12 frames: lidar 10, path 2`.
fn thinned(client: &vizcast_hub::Client) -> String {
    let total = client
        .conflated_frames
        .load(std::sync::atomic::Ordering::Relaxed);
    if total == 0 {
        return "–".to_owned();
    }
    let by_stream = client.conflated_by_stream();
    let mut parts: Vec<String> = by_stream
        .iter()
        .take(3)
        .map(|(name, n)| format!("{name} {}", format::si(*n as f64)))
        .collect();
    if by_stream.len() > 3 {
        parts.push("…".to_owned());
    }
    format!("{} frames: {}", format::si(total as f64), parts.join(", "))
}

/// The "Open recording" window.
pub(crate) fn open_window(app: &mut App, ui: &Ui) {
    if !app.open_dialog.open {
        return;
    }
    let mut open = true;
    let mut chosen: Option<PathBuf> = None;
    egui::Window::new("Open recording")
        .open(&mut open)
        .default_width(520.0)
        .collapsible(false)
        .show(ui.ctx(), |ui| {
            ui.label("An MCAP recording or a JSON-lines file (or drop one on the window):");
            ui.horizontal(|ui| {
                let response = ui.add(
                    TextEdit::singleline(&mut app.open_dialog.path)
                        .hint_text("/path/to/session.mcap")
                        .desired_width(380.0),
                );
                let enter = response.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                if (ui.button("Open").clicked() || enter) && !app.open_dialog.path.trim().is_empty()
                {
                    chosen = Some(PathBuf::from(app.open_dialog.path.trim()));
                }
            });
            if let Some(error) = &app.open_dialog.error {
                ui.label(RichText::new(error).color(RED));
            }
            if !app.settings.recent.is_empty() {
                ui.separator();
                ui.label(RichText::new("Recent").weak());
                for path in &app.settings.recent {
                    if ui.link(path).clicked() {
                        chosen = Some(PathBuf::from(path));
                    }
                }
            }
        });
    app.open_dialog.open = open;
    if let Some(path) = chosen {
        open_recording(app, &path);
    }
}

/// Opens a recording dropped on the window; shows where to drop while hovering.
pub(crate) fn drop_files(app: &mut App, ui: &Ui) {
    let (hovering, dropped) = ui.input(|i| {
        (
            !i.raw.hovered_files.is_empty(),
            i.raw.dropped_files.iter().find_map(|f| {
                let path = f.path();
                (!path.as_os_str().is_empty()).then(|| path.to_path_buf())
            }),
        )
    });
    if hovering {
        let rect = ui.ctx().content_rect();
        let painter = ui.ctx().layer_painter(egui::LayerId::new(
            egui::Order::Foreground,
            egui::Id::unique("vizcast-drop"),
        ));
        painter.rect_filled(rect, 0.0, Color32::from_black_alpha(170));
        painter.text(
            rect.center(),
            Align2::CENTER_CENTER,
            "Drop a recording (.mcap or .jsonl) to replay it",
            egui::FontId::proportional(22.0),
            Color32::WHITE,
        );
    }
    if let Some(path) = dropped {
        open_recording(app, &path);
    }
}

/// Replays `path` in place of what is shown.
pub(crate) fn open_recording(app: &mut App, path: &Path) {
    match app.session.open_replay(path, ReplayOptions::default()) {
        Ok(()) => {
            let shown = path.display().to_string();
            app.settings.add_recent(&shown);
            app.open_dialog.open = false;
            app.open_dialog.error = None;
            app.plots.resume();
            app.view3d.reset();
            app.toasts.info(format!("replaying {shown}"));
        }
        Err(err) => {
            app.open_dialog.error = Some(err.to_string());
            app.toasts
                .error(format!("cannot open {}: {err}", path.display()));
        }
    }
}

/// A NATS link in the status bar: its label, whether something is wrong (disconnected, frames
/// missed, a note), and the details on hover.
fn nats_label(role: &str, link: &vizcast_protocol::NatsLink) -> (String, bool, String) {
    let mut text = format!("NATS {role}");
    if !link.connected {
        text.push_str(" (disconnected)");
    }
    if link.restoring {
        text.push_str(" (restoring)");
    }
    if link.missed_frames > 0 {
        text.push_str(&format!(
            " · {} missed",
            format::si(link.missed_frames as f64)
        ));
    }
    let mut details = format!(
        "{}: {}",
        link.server,
        if link.connected {
            "connected"
        } else {
            "not connected"
        }
    );
    if link.reconnects > 0 {
        details.push_str(&format!(", reconnected {} times", link.reconnects));
    }
    for line in [&link.note, &link.last_gap].into_iter().flatten() {
        details.push('\n');
        details.push_str(line);
    }
    let trouble =
        !link.connected || link.restoring || link.missed_frames > 0 || link.note.is_some();
    (text, trouble, details)
}

/// The remote view (`vizcast view URL`) in the status bar, from its `/api/stats` part: its label
/// (the remote, connected or reconnecting, link rate, what conflation skipped), whether something
/// is wrong, and the details on hover (URL, session, the last error, the remote's own status).
fn remote_label(remote: &serde_json::Value) -> (String, bool, String) {
    let url = remote["url"].as_str().unwrap_or("?");
    let host = url
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or(url);
    let connected = remote["connected"].as_bool().unwrap_or(false);
    let mut text = format!("🔗 viewing {host}");
    if connected {
        let rate = remote["bytes_per_s"].as_f64().unwrap_or(0.0);
        text.push_str(&format!(" · {}/s", format::bytes(rate)));
    } else {
        text.push_str(" (reconnecting)");
    }
    let skipped = remote["conflated_frames"].as_u64().unwrap_or(0)
        + remote["lagged_frames"].as_u64().unwrap_or(0);
    if skipped > 0 {
        text.push_str(&format!(" · {} skipped", format::si(skipped as f64)));
    }
    let mut details = format!(
        "{url}: {}",
        if connected {
            "connected"
        } else {
            "not connected"
        }
    );
    if let Some(session) = remote["session"].as_str() {
        details.push_str(&format!(", session {session}"));
    }
    let reconnects = remote["reconnects"].as_u64().unwrap_or(0);
    if reconnects > 0 {
        details.push_str(&format!(", reconnected {reconnects} times"));
    }
    if skipped > 0 {
        details.push_str(&format!(
            "\nskipped by the remote because this view was behind: {} superseded frames, {} after a lag",
            remote["conflated_frames"], remote["lagged_frames"]
        ));
    }
    let rejected = remote["rejected"].as_u64().unwrap_or(0);
    if rejected > 0 {
        details.push_str(&format!(
            "\n{rejected} frames refused by this vizcast's limits"
        ));
    }
    if let Some(error) = remote["last_error"].as_str() {
        details.push_str(&format!("\nlast error: {error}"));
    }
    let status = &remote["remote_status"];
    if let Some(r) = status.get("recording") {
        details.push_str(&format!("\nthe remote records to {}", r["file"]));
    }
    if let Some(r) = status.get("replay") {
        details.push_str(&format!("\nthe remote replays {}", r["file"]));
    }
    if status.get("nats").is_some() {
        details.push_str("\nthe remote is linked through NATS");
    }
    let trouble = !connected || rejected > 0 || remote["last_error"].is_string();
    (text, trouble, details)
}

#[cfg(test)]
mod remote_tests {
    use super::remote_label;

    #[test]
    fn the_remote_view_says_where_it_is_and_what_is_wrong() {
        let mut remote = serde_json::json!({
            "url": "wss://robot-7:9000/ws?token=…",
            "connected": true,
            "session": "5e6a5c729b403ab3",
            "bytes_per_s": 2_500_000.0,
            "conflated_frames": 0,
            "lagged_frames": 0,
            "reconnects": 0,
            "rejected": 0,
            "last_error": null,
            "remote_status": {"recording": {"file": "run.mcap"}},
        });
        let (text, trouble, details) = remote_label(&remote);
        assert!(text.starts_with("🔗 viewing robot-7:9000 · "), "{text}");
        assert!(!trouble);
        assert!(details.contains("session 5e6a5c729b403ab3"), "{details}");
        assert!(details.contains("records to \"run.mcap\""), "{details}");

        remote["connected"] = false.into();
        remote["conflated_frames"] = 1500.into();
        remote["reconnects"] = 2.into();
        remote["last_error"] = "the remote refused the token (HTTP 401)".into();
        let (text, trouble, details) = remote_label(&remote);
        assert!(
            text.contains("(reconnecting)") && text.contains("skipped"),
            "{text}"
        );
        assert!(trouble);
        assert!(details.contains("reconnected 2 times") && details.contains("HTTP 401"));
    }
}

#[cfg(test)]
mod nats_tests {
    use super::nats_label;

    #[test]
    fn a_nats_link_says_what_is_wrong() {
        let mut link = vizcast_protocol::NatsLink {
            server: "nats://10.0.0.1:4222".to_owned(),
            connected: true,
            ..Default::default()
        };
        let (text, trouble, details) = nats_label("edge of", &link);
        assert_eq!(text, "NATS edge of");
        assert!(!trouble);
        assert_eq!(details, "nats://10.0.0.1:4222: connected");

        link.connected = false;
        link.missed_frames = 1694;
        link.reconnects = 2;
        link.note = Some("the broker is unreachable; retrying".to_owned());
        link.last_gap = Some("1694 frames of tick from edge-a never arrived".to_owned());
        let (text, trouble, details) = nats_label("edge of", &link);
        assert!(text.starts_with("NATS edge of (disconnected) · "), "{text}");
        assert!(text.ends_with(" missed"), "{text}");
        assert!(trouble);
        assert!(details.contains("reconnected 2 times"), "{details}");
        assert!(details.contains("unreachable") && details.contains("1694 frames of tick"));
    }
}
