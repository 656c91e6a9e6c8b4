//! The stream tree: every stream by its `/` hierarchy, with its rate, latest value, colour and a
//! visibility toggle. Rebuilt only when streams appear or disappear.

use std::collections::HashMap;

use eframe::egui::{
    self, Align, Color32, Layout, RichText, Sense, Stroke, Ui, Vec2,
    collapsing_header::CollapsingState,
};
use vizcast_store::{Kinds, Store};

use crate::format;
use crate::plots::series_color;
use crate::settings::Settings;

/// One name in the tree.
#[derive(Debug, Default)]
struct Node {
    /// The last path segment.
    label: String,
    /// The full name.
    full: String,
    /// What data the full name carries, if any.
    kinds: Option<Kinds>,
    children: Vec<Node>,
    /// Every name with data at or below this node.
    leaves: Vec<String>,
}

impl Node {
    fn insert(&mut self, name: &str, kinds: Kinds) {
        let mut node = self;
        let mut full = String::new();
        node.leaves.push(name.to_owned());
        for segment in name.split('/') {
            if !full.is_empty() {
                full.push('/');
            }
            full.push_str(segment);
            let index = match node.children.iter().position(|c| c.label == segment) {
                Some(i) => i,
                None => {
                    node.children.push(Node {
                        label: segment.to_owned(),
                        full: full.clone(),
                        ..Node::default()
                    });
                    node.children.len() - 1
                }
            };
            node = &mut node.children[index];
            node.leaves.push(name.to_owned());
        }
        node.kinds = Some(kinds);
    }
}

/// The tree, cached between frames.
#[derive(Debug, Default)]
pub(crate) struct StreamTree {
    root: Node,
    built_for: Option<(u64, u64)>,
}

/// Per-stream message rates from the hub (for streams that are not scalar series).
pub(crate) type Rates = HashMap<String, f64>;

impl StreamTree {
    /// Rebuilds the tree if streams changed.
    pub fn update(&mut self, store: &Store) {
        let key = (store.generation, store.structure_version);
        if self.built_for == Some(key) {
            return;
        }
        self.built_for = Some(key);
        self.root = Node::default();
        for (name, kinds) in store.names() {
            self.root.insert(name, kinds);
        }
    }

    /// Number of names with data.
    pub fn len(&self) -> usize {
        self.root.leaves.len()
    }

    /// Draws the tree.
    pub fn show(&self, ui: &mut Ui, store: &Store, rates: &Rates, settings: &mut Settings) {
        if self.root.children.is_empty() {
            ui.add_space(8.0);
            ui.label(RichText::new("No streams yet.").weak());
            ui.label(
                RichText::new("Producers connect to /ingest, or start with --demo or --stdin.")
                    .weak()
                    .small(),
            );
            return;
        }
        for child in &self.root.children {
            show_node(ui, child, store, rates, settings);
        }
    }
}

fn show_node(ui: &mut Ui, node: &Node, store: &Store, rates: &Rates, settings: &mut Settings) {
    if node.children.is_empty() {
        leaf_row(ui, node, store, rates, settings);
        return;
    }
    let id = ui.make_persistent_id(("tree", &node.full));
    CollapsingState::load_with_default_open(ui.ctx(), id, true)
        .show_header(ui, |ui| {
            let hidden = node.leaves.iter().filter(|n| settings.is_hidden(n)).count();
            let mut visible = hidden < node.leaves.len();
            let response = ui.add(
                egui::Checkbox::new(&mut visible, node.label.as_str())
                    .indeterminate(hidden > 0 && hidden < node.leaves.len()),
            );
            if response.changed() {
                for name in &node.leaves {
                    if visible {
                        settings.hidden.remove(name);
                    } else {
                        settings.hidden.insert(name.clone());
                    }
                }
            }
            if node.kinds.is_some() {
                details(ui, node, store, rates);
            }
        })
        .body(|ui| {
            for child in &node.children {
                show_node(ui, child, store, rates, settings);
            }
        });
}

fn leaf_row(ui: &mut Ui, node: &Node, store: &Store, rates: &Rates, settings: &mut Settings) {
    ui.horizontal(|ui| {
        // Line up with the collapsing headers' icons.
        ui.add_space(ui.spacing().indent - ui.spacing().item_spacing.x);
        let mut visible = !settings.is_hidden(&node.full);
        let response = ui
            .checkbox(&mut visible, node.label.as_str())
            .on_hover_text(describe(node));
        if response.changed() {
            if visible {
                settings.hidden.remove(&node.full);
            } else {
                settings.hidden.insert(node.full.clone());
            }
        }
        details(ui, node, store, rates);
    });
}

/// Swatch, rate and latest value, right-aligned.
fn details(ui: &mut Ui, node: &Node, store: &Store, rates: &Rates) {
    let kinds = node.kinds.unwrap_or_default();
    ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
        let weak = ui.visuals().weak_text_color();
        if let Some(series) = store.series.get(&node.full) {
            if let Some((_, v)) = series.last() {
                ui.monospace(format::value(v));
            }
            ui.label(RichText::new(format!("{}Hz", format::si(series.rate()))).color(weak));
            swatch(ui, series_color(series.index), Kind::Scalar);
        } else if let Some(cloud) = store.clouds.get(&node.full) {
            ui.monospace(format!("{} pts", format::si(cloud.positions.len() as f64)));
            rate(ui, rates, &node.full, weak);
            let color = cloud
                .color
                .map_or(Color32::from_rgb(53, 183, 121), |[r, g, b]| {
                    Color32::from_rgb(r, g, b)
                });
            swatch(ui, color, Kind::Points);
        } else if let Some(image) = store.images.get(&node.full) {
            ui.monospace(format!("{}×{}", image.width, image.height));
            rate(ui, rates, &node.full, weak);
            swatch(ui, weak, Kind::Image);
        } else if let Some(line) = store.lines.get(&node.full) {
            ui.monospace(format!("{} vtx", format::si(line.positions.len() as f64)));
            rate(ui, rates, &node.full, weak);
            let [r, g, b] = line.color.unwrap_or([249, 115, 22]);
            swatch(ui, Color32::from_rgb(r, g, b), Kind::Line);
        } else if kinds.text {
            if let Some(event) = store.events.iter().find(|e| e.stream == node.full) {
                let mut text = event.text.clone();
                if text.chars().count() > 24 {
                    text = text.chars().take(23).collect::<String>() + "…";
                }
                ui.label(RichText::new(text).small());
            }
            rate(ui, rates, &node.full, weak);
            swatch(ui, weak, Kind::Text);
        }
    });
}

fn rate(ui: &mut Ui, rates: &Rates, name: &str, color: Color32) {
    if let Some(rate) = rates.get(name) {
        ui.label(RichText::new(format!("{}Hz", format::si(*rate))).color(color));
    }
}

fn describe(node: &Node) -> String {
    let kinds = node.kinds.unwrap_or_default();
    let mut what = Vec::new();
    if kinds.scalar {
        what.push("time series");
    }
    if kinds.points {
        what.push("point cloud");
    }
    if kinds.line {
        what.push("line strip");
    }
    if kinds.text {
        what.push("text events");
    }
    if kinds.image {
        what.push("image");
    }
    format!("{}\n{}", node.full, what.join(", "))
}

#[derive(Clone, Copy)]
enum Kind {
    Scalar,
    Points,
    Line,
    Text,
    Image,
}

/// A small coloured mark for the kind of data.
fn swatch(ui: &mut Ui, color: Color32, kind: Kind) {
    let (rect, _) = ui.allocate_exact_size(Vec2::splat(12.0), Sense::hover());
    let painter = ui.painter();
    let c = rect.center();
    match kind {
        Kind::Scalar => {
            painter.rect_filled(rect.shrink(2.0), 2.0, color);
        }
        Kind::Points => {
            for (dx, dy) in [
                (-3.0, -2.0),
                (2.5, -3.0),
                (0.0, 2.5),
                (3.5, 3.0),
                (-3.5, 3.5),
            ] {
                painter.circle_filled(c + Vec2::new(dx, dy), 1.6, color);
            }
        }
        Kind::Line => {
            painter.line(
                vec![
                    c + Vec2::new(-5.0, 4.0),
                    c + Vec2::new(-1.0, -3.0),
                    c + Vec2::new(2.0, 2.0),
                    c + Vec2::new(5.0, -4.0),
                ],
                Stroke::new(1.5, color),
            );
        }
        Kind::Text => {
            for dy in [-3.0, 0.0, 3.0] {
                painter.line_segment(
                    [c + Vec2::new(-4.0, dy), c + Vec2::new(4.0, dy)],
                    Stroke::new(1.0, color),
                );
            }
        }
        Kind::Image => {
            // A framed picture with a mountain.
            painter.rect_stroke(
                rect.shrink(1.5),
                1.0,
                Stroke::new(1.0, color),
                egui::StrokeKind::Inside,
            );
            painter.line(
                vec![
                    c + Vec2::new(-3.5, 3.0),
                    c + Vec2::new(-1.0, -0.5),
                    c + Vec2::new(1.0, 1.5),
                    c + Vec2::new(3.5, -2.0),
                ],
                Stroke::new(1.0, color),
            );
        }
    }
}

/// The hidden streams a subscription may leave out: those with no visible stream at or below
/// them among `known` (leaving out `a` leaves out `a/b` too), at most 1,024 (the protocol's
/// bound on patterns).
pub(crate) fn exclusions<'a>(
    hidden: &std::collections::BTreeSet<String>,
    known: impl Iterator<Item = &'a str>,
) -> Vec<String> {
    let mut visible: Vec<&str> = known.filter(|name| !hidden.contains(*name)).collect();
    visible.sort_unstable();
    // Sorted, the names below `h` are together, from `h/` on: two binary searches per name.
    let has = |name: &str| visible.binary_search(&name).is_ok();
    let has_below = |h: &str| {
        let below = format!("{h}/");
        let at = visible.partition_point(|v| *v < below.as_str());
        visible.get(at).is_some_and(|v| v.starts_with(&below))
    };
    hidden
        .iter()
        .filter(|h| !has(h) && !has_below(h))
        .take(1024)
        .cloned()
        .collect()
}

#[cfg(test)]
mod exclusion_tests {
    use super::exclusions;

    #[test]
    fn a_hidden_stream_is_left_out_unless_something_below_it_is_visible() {
        let hidden = ["lidar", "cam", "imu/ax", "gone"]
            .map(str::to_owned)
            .into_iter()
            .collect();
        let known = [
            "lidar",
            "lidar/compact",
            "cam",
            "imu/ax",
            "imu/ay",
            "camera",
        ];
        // lidar/compact is visible: leaving out lidar would leave it out too. camera is not
        // below cam. A hidden name no longer known is left out all the same.
        assert_eq!(
            exclusions(&hidden, known.into_iter()),
            ["cam", "gone", "imu/ax"]
        );
    }
}
