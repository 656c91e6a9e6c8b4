//! Time-series plots: one plot per group of related series (same parent path), x axes linked,
//! fed with decimated data so a frame costs what its pixels cost, following the live edge or
//! paused for scrolling back.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use eframe::egui::{self, Color32, Id, RichText, Sense, Stroke, TextStyle, Ui, Vec2, Vec2b};
use egui_plot::{HoverPosition, Line, Plot, PlotPoint, PlotPoints, uniform_grid_spacer};
use vizcast_store::{Decimator, Store};

use crate::format;
use crate::settings::{Settings, TimeWindow};

/// Series colours, shared with the browser viewer (by creation order).
pub const PALETTE: [Color32; 10] = [
    Color32::from_rgb(0x38, 0xbd, 0xf8),
    Color32::from_rgb(0xf9, 0x73, 0x16),
    Color32::from_rgb(0xa3, 0xe6, 0x35),
    Color32::from_rgb(0xf4, 0x72, 0xb6),
    Color32::from_rgb(0xfa, 0xcc, 0x15),
    Color32::from_rgb(0x81, 0x8c, 0xf8),
    Color32::from_rgb(0x2d, 0xd4, 0xbf),
    Color32::from_rgb(0xfb, 0x71, 0x85),
    Color32::from_rgb(0xc0, 0x84, 0xfc),
    Color32::from_rgb(0x94, 0xa3, 0xb8),
];

/// The colour of the series created `index`-th.
pub fn series_color(index: usize) -> Color32 {
    PALETTE[index % PALETTE.len()]
}

/// The group a series plots in: its parent path (or itself at the top level).
pub fn group_of(name: &str) -> &str {
    match name.rfind('/') {
        Some(i) if i > 0 => &name[..i],
        _ => name,
    }
}

/// Plot height when they do not all fit.
const MIN_HEIGHT: f32 = 96.0;
/// Between plots.
const GAP: f32 = 6.0;

/// The plots' state between frames.
#[derive(Debug)]
pub(crate) struct Plots {
    decimators: HashMap<String, Decimator>,
    generation: u64,
    /// Following the live edge (else paused: the user's range stays).
    pub follow: bool,
    /// A range to apply once (a window preset picked while paused).
    pending: Option<(f64, f64)>,
    /// Groups of visible series, rebuilt when streams or visibility change.
    groups: Vec<(String, Vec<String>)>,
    built_for: Option<(u64, u64, u64)>,
    /// Points drawn in the last frame (for the status bar and benchmarks).
    pub points_drawn: usize,
    /// The x range shown in the last frame.
    pub shown: Option<(f64, f64)>,
}

impl Default for Plots {
    fn default() -> Self {
        Self {
            decimators: HashMap::new(),
            generation: 0,
            follow: true,
            pending: None,
            groups: Vec::new(),
            built_for: None,
            points_drawn: 0,
            shown: None,
        }
    }
}

/// What the user did to the plots this frame.
#[derive(Debug, Default)]
pub(crate) struct PlotInput {
    /// Dragged, scrolled or zoomed: pause.
    pub interacted: bool,
    /// Double-clicked: follow live again.
    pub resume: bool,
}

impl Plots {
    /// Pauses, keeping the current range.
    pub fn pause(&mut self) {
        self.follow = false;
    }

    /// Follows the live edge again.
    pub fn resume(&mut self) {
        self.follow = true;
        self.pending = None;
    }

    /// A window preset was picked: when paused, apply it once around the current right edge.
    pub fn window_changed(&mut self, store: &Store, settings: &Settings) {
        if self.follow {
            return;
        }
        let right = self
            .shown
            .map_or_else(|| latest(store, settings), |(_, right)| right);
        self.pending = Some(range(store, settings, settings.window, right));
    }

    /// Number of plots (groups) shown.
    pub fn group_count(&self) -> usize {
        self.groups.len()
    }

    fn update_groups(&mut self, store: &Store, settings: &Settings) {
        let hidden_key = {
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            settings.hidden.hash(&mut hasher);
            hasher.finish()
        };
        let key = (store.generation, store.structure_version, hidden_key);
        if self.generation != store.generation {
            self.decimators.clear();
            self.generation = store.generation;
        }
        if self.built_for == Some(key) {
            return;
        }
        self.built_for = Some(key);
        let mut groups: Vec<(String, Vec<String>)> = Vec::new();
        for name in store.series.keys() {
            if settings.is_hidden(name) {
                continue;
            }
            let group = group_of(name);
            match groups.iter_mut().find(|(g, _)| g == group) {
                Some((_, names)) => names.push(name.clone()),
                None => groups.push((group.to_owned(), vec![name.clone()])),
            }
        }
        self.decimators
            .retain(|name, _| store.series.contains_key(name) && !settings.is_hidden(name));
        self.groups = groups;
    }

    /// Draws every group's plot in the space left.
    pub fn show(&mut self, ui: &mut Ui, store: &Store, settings: &Settings) -> PlotInput {
        self.update_groups(store, settings);
        let mut input = PlotInput::default();
        self.points_drawn = 0;
        if self.groups.is_empty() {
            ui.centered_and_justified(|ui| {
                ui.label(RichText::new("No time series yet").weak());
            });
            return input;
        }
        let mut forced = if self.follow {
            Some(range(
                store,
                settings,
                settings.window,
                latest(store, settings),
            ))
        } else {
            self.pending.take()
        };
        let n = self.groups.len() as f32;
        // Each plot takes its title line (a row: at least the interaction height), the spacing
        // after it, its height and a gap.
        let title = ui
            .text_style_height(&TextStyle::Small)
            .max(ui.spacing().interact_size.y)
            + ui.spacing().item_spacing.y;
        // The gap after a plot comes with the item spacing before and after it.
        let gap = GAP + 2.0 * ui.spacing().item_spacing.y;
        let height = ((ui.available_height() - n * (title + gap)) / n).max(MIN_HEIGHT - title);
        let ppp = ui.pixels_per_point();
        let link = Id::unique("vizcast-plots-x");
        let Self {
            groups,
            decimators,
            points_drawn,
            shown,
            ..
        } = self;
        egui::ScrollArea::vertical()
            .auto_shrink(false)
            .show_viewport(ui, |ui, viewport| {
                let width = ui.available_width();
                for (i, (group, names)) in groups.iter().enumerate() {
                    let top = i as f32 * (height + title + gap);
                    let bottom = top + height + title;
                    if bottom < viewport.min.y || top > viewport.max.y {
                        // Off screen: keep its space, skip its work.
                        ui.allocate_space(Vec2::new(width, height + title));
                    } else {
                        header(ui, group, names, store);
                        let (drawn, range) = plot_group(
                            ui, group, names, store, decimators, forced, height, ppp, link,
                            &mut input,
                        );
                        *points_drawn += drawn;
                        *shown = Some(range);
                        if input.interacted {
                            // The user moves this plot: the ones after it follow it through
                            // the link, not the live edge.
                            forced = None;
                        }
                    }
                    ui.add_space(GAP);
                }
            });
        input
    }
}

/// A plot's title line: the group, then each series' colour and name, as its legend. Outside the
/// plot, a legend never covers data however small the plot; what does not fit the line is counted.
fn header(ui: &mut Ui, group: &str, names: &[String], store: &Store) {
    ui.horizontal(|ui| {
        ui.label(RichText::new(group).small().strong());
        ui.add_space(8.0);
        let font = TextStyle::Small.resolve(ui.style());
        let color = ui.visuals().text_color();
        for (k, name) in names.iter().enumerate() {
            let Some(series) = store.series.get(name) else {
                continue;
            };
            let label = short_label(group, name);
            let galley = ui
                .painter()
                .layout_no_wrap(label.to_owned(), font.clone(), color);
            let needed = 14.0 + galley.size().x + ui.spacing().item_spacing.x * 2.0;
            let more = names.len() - k;
            if (more > 1 && ui.available_width() < needed + 28.0) || ui.available_width() < needed {
                ui.label(RichText::new(format!("+{more}")).small().weak());
                break;
            }
            let (rect, _) =
                ui.allocate_exact_size(Vec2::new(12.0, galley.size().y), Sense::hover());
            ui.painter().line_segment(
                [rect.left_center(), rect.right_center()],
                Stroke::new(2.0, series_color(series.index)),
            );
            ui.label(RichText::new(label).small());
        }
    });
}

/// A series' name within its group (`robot/battery/volts` in `robot/battery`: `volts`).
fn short_label<'a>(group: &str, name: &'a str) -> &'a str {
    name.strip_prefix(group)
        .and_then(|rest| rest.strip_prefix('/'))
        .unwrap_or(name)
}

/// The newest sample time of the visible series.
fn latest(store: &Store, settings: &Settings) -> f64 {
    let t = store
        .series
        .iter()
        .filter(|(name, _)| !settings.is_hidden(name))
        .filter_map(|(_, s)| s.last().map(|(t, _)| t))
        .fold(f64::NEG_INFINITY, f64::max);
    if t.is_finite() { t } else { 0.0 }
}

/// The x range for `window` ending at `right`.
fn range(store: &Store, settings: &Settings, window: TimeWindow, right: f64) -> (f64, f64) {
    match window.seconds() {
        Some(span) => (right - span, right),
        None => {
            let first = store
                .series
                .iter()
                .filter(|(name, _)| !settings.is_hidden(name))
                .filter_map(|(_, s)| s.first().map(|(t, _)| t))
                .fold(f64::INFINITY, f64::min);
            if first.is_finite() && first < right {
                (first, right)
            } else {
                (right - 1.0, right)
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn plot_group(
    ui: &mut Ui,
    group: &str,
    names: &[String],
    store: &Store,
    decimators: &mut HashMap<String, Decimator>,
    forced: Option<(f64, f64)>,
    height: f32,
    ppp: f32,
    link: Id,
    input: &mut PlotInput,
) -> (usize, (f64, f64)) {
    let mut drawn = 0;
    let mut shown = forced.unwrap_or_default();
    let response = Plot::new(("vizcast-plot", group))
        .height(height)
        .link_axis(link, Vec2b::new(true, false))
        .link_cursor(link, Vec2b::new(true, false))
        .allow_drag(Vec2b::new(true, false))
        .allow_zoom(Vec2b::new(true, false))
        .allow_scroll(Vec2b::new(true, false))
        .allow_boxed_zoom(false)
        .allow_double_click_reset(false)
        .y_axis_min_width(44.0)
        .x_grid_spacer(uniform_grid_spacer(|input| {
            format::time_steps(input.base_step_size)
        }))
        .x_axis_formatter(|mark, _| format::time(mark.value, mark.step_size))
        .label_formatter(|position| match position {
            HoverPosition::NearDataPoint {
                plot_name,
                position,
                ..
            } => Some(format!(
                "{plot_name}\n{}\n{}",
                format::timestamp(position.x),
                format::value(position.y)
            )),
            HoverPosition::Elsewhere { position } => Some(format::timestamp(position.x)),
        })
        .show(ui, |plot_ui| {
            if let Some((t0, t1)) = forced {
                plot_ui.set_plot_bounds_x(t0..=t1);
            }
            plot_ui.set_auto_bounds(Vec2b::new(false, true));
            let (t0, t1) = forced.unwrap_or_else(|| {
                let b = plot_ui.plot_bounds();
                (b.min()[0], b.max()[0])
            });
            shown = (t0, t1);
            let width = (plot_ui.response().rect.width() * ppp).max(1.0) as usize;
            for name in names {
                let Some(series) = store.series.get(name) else {
                    continue;
                };
                let decimator = decimators.entry(name.clone()).or_default();
                let points: Vec<PlotPoint> = decimator
                    .points(series, t0, t1, width)
                    .iter()
                    .map(|&[x, y]| PlotPoint { x, y })
                    .collect();
                drawn += points.len();
                plot_ui.line(
                    Line::new(short_label(group, name), PlotPoints::Owned(points))
                        .color(series_color(series.index))
                        .width(1.5),
                );
            }
        });
    let r = &response.response;
    if r.double_clicked() {
        input.resume = true;
    } else if r.dragged() {
        input.interacted = true;
    } else if r.hovered() {
        let (scroll, zoom) = ui.input(|i| (i.smooth_scroll_delta, i.zoom_delta()));
        if scroll.x != 0.0 || zoom != 1.0 {
            input.interacted = true;
        }
    }
    (drawn, shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_group_by_parent_path() {
        assert_eq!(group_of("demo/signal/sine"), "demo/signal");
        assert_eq!(group_of("imu/ax"), "imu");
        assert_eq!(group_of("alone"), "alone");
        assert_eq!(group_of("/odd"), "/odd");
    }
}
