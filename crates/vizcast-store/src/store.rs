//! Everything the desktop app draws, bounded by one memory budget.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use vizcast_hub::Accepted;
use vizcast_protocol::{Colors, Level, Samples, Shape, Time, series_name};

use crate::series::Series;

/// Limits of the store.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// Memory budget for samples, clouds and lines (`--memory-limit`).
    pub memory_limit: usize,
    /// Text events kept.
    pub max_events: usize,
    /// Vertices kept per line strip (the oldest go first).
    pub max_line_vertices: usize,
}

impl StoreConfig {
    /// Default for [`StoreConfig::memory_limit`]: 1 GiB.
    pub const DEFAULT_MEMORY_LIMIT: usize = 1 << 30;
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            memory_limit: Self::DEFAULT_MEMORY_LIMIT,
            max_events: 2_000,
            max_line_vertices: 1_000_000,
        }
    }
}

/// The latest point cloud of a stream. Data is shared: the UI takes it without copying.
#[derive(Clone, Debug)]
pub struct Cloud {
    /// Positions.
    pub positions: Arc<Vec<[f32; 3]>>,
    /// Per-point colours (same length as `positions`), if given.
    pub colors: Option<Arc<Vec<[u8; 3]>>>,
    /// One colour for all points, if given.
    pub color: Option<[u8; 3]>,
    /// Point radius in world units, if given.
    pub radius: Option<f32>,
    /// Bumped on every new cloud (renderers re-upload when it changes).
    pub version: u64,
}

/// The line strip of a stream. Data is shared with the UI's frame: an append copies it only if
/// a frame still holds it.
#[derive(Clone, Debug, Default)]
pub struct Polyline {
    /// Vertices.
    pub positions: Arc<Vec<[f32; 3]>>,
    /// Per-vertex colours (same length as `positions`), or empty for one colour.
    pub colors: Arc<Vec<[u8; 3]>>,
    /// The colour when there are no per-vertex colours.
    pub color: Option<[u8; 3]>,
    /// Bumped on every change.
    pub version: u64,
}

/// A text event.
#[derive(Clone, Debug)]
pub struct TextEvent {
    /// When, in seconds.
    pub t: f64,
    /// Its stream.
    pub stream: String,
    /// The text.
    pub text: String,
    /// Its level.
    pub level: Level,
}

/// What a name in the stream tree carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Kinds {
    /// A scalar series.
    pub scalar: bool,
    /// A point cloud.
    pub points: bool,
    /// A line strip.
    pub line: bool,
    /// Text events.
    pub text: bool,
}

/// The store. See the crate docs.
#[derive(Debug)]
pub struct Store {
    /// Scalar series by full name.
    pub series: BTreeMap<String, Series>,
    /// Latest cloud per stream.
    pub clouds: BTreeMap<String, Cloud>,
    /// Line strip per stream.
    pub lines: BTreeMap<String, Polyline>,
    /// Text events, newest first.
    pub events: VecDeque<TextEvent>,
    text_streams: BTreeSet<String>,
    config: StoreConfig,
    /// Bytes used by samples, clouds and lines.
    bytes: usize,
    /// Bumped on every change of data.
    pub version: u64,
    /// Bumped when streams appear or disappear.
    pub structure_version: u64,
    /// Bumped by [`Store::reset`]: series of the same name are new series.
    pub generation: u64,
    /// Latest time of any data, seconds.
    pub latest_t: f64,
    /// Frames applied.
    pub frames: u64,
    /// Samples (scalar samples, points, vertices, events) applied.
    pub samples: u64,
    /// Samples dropped to stay within the memory budget.
    pub evicted_samples: u64,
}

impl Store {
    /// An empty store.
    pub fn new(config: StoreConfig) -> Self {
        Self {
            series: BTreeMap::new(),
            clouds: BTreeMap::new(),
            lines: BTreeMap::new(),
            events: VecDeque::new(),
            text_streams: BTreeSet::new(),
            config,
            bytes: 0,
            version: 0,
            structure_version: 0,
            generation: 0,
            latest_t: f64::NEG_INFINITY,
            frames: 0,
            samples: 0,
            evicted_samples: 0,
        }
    }

    /// Memory used and the budget, in bytes.
    pub fn memory(&self) -> (usize, usize) {
        (self.bytes, self.config.memory_limit)
    }

    /// Applies an accepted frame (already validated and decoded: nothing is parsed here).
    pub fn apply(&mut self, frame: &Accepted) {
        self.frames += 1;
        self.version += 1;
        for message in &frame.messages {
            let receive = frame.received;
            let t = message.time.last().unwrap_or(receive);
            self.latest_t = self.latest_t.max(t);
            if let Some(Shape::Clear) = message.shape {
                self.clear(&message.stream);
                continue;
            }
            for scalar in &message.scalars {
                let name = series_name(&message.stream, &scalar.path);
                let series = match self.series.get_mut(&name) {
                    Some(series) => series,
                    None => {
                        let index = self.series.len();
                        self.structure_version += 1;
                        self.series
                            .entry(name)
                            .or_insert_with(|| Series::new(index))
                    }
                };
                let before = series.bytes();
                match (&scalar.samples, &message.time) {
                    (Samples::Columns(values), Time::Columns(times)) => {
                        series.extend(times, values);
                        self.samples += values.len() as u64;
                    }
                    (Samples::Columns(values), _) => {
                        // Not produced by the protocol (columns need a columnar t); kept simple.
                        for v in values {
                            series.push(t, *v);
                        }
                        self.samples += values.len() as u64;
                    }
                    (Samples::One(v), _) => {
                        series.push(t, *v);
                        self.samples += 1;
                    }
                }
                self.bytes = self.bytes + series.bytes() - before;
            }
            match &message.shape {
                Some(Shape::Points(points)) => {
                    let (colors, color) = match &points.colors {
                        Colors::PerPoint(c) => (Some(Arc::new(c.clone())), None),
                        Colors::Uniform(c) => (None, Some(*c)),
                        Colors::Default => (None, None),
                    };
                    let cloud = Cloud {
                        positions: Arc::new(points.positions.clone()),
                        colors,
                        color,
                        radius: points.radius,
                        version: 0,
                    };
                    let bytes = cloud_bytes(&cloud);
                    let previous = self.clouds.insert(message.stream.to_string(), cloud);
                    let version = match previous {
                        Some(old) => {
                            self.bytes -= cloud_bytes(&old);
                            old.version + 1
                        }
                        None => {
                            self.structure_version += 1;
                            1
                        }
                    };
                    if let Some(cloud) = self.clouds.get_mut(&*message.stream) {
                        cloud.version = version;
                    }
                    self.bytes += bytes;
                    self.samples += points.positions.len() as u64;
                }
                Some(Shape::Line(line)) => {
                    let max = self.config.max_line_vertices;
                    let entry = self.lines.entry(message.stream.to_string()).or_default();
                    if entry.version == 0 {
                        self.structure_version += 1;
                    }
                    let before = line_bytes(entry);
                    let positions = Arc::make_mut(&mut entry.positions);
                    let colors = Arc::make_mut(&mut entry.colors);
                    if !line.append {
                        positions.clear();
                        colors.clear();
                    }
                    let had_colors = !colors.is_empty();
                    positions.extend_from_slice(&line.positions);
                    match &line.colors {
                        Colors::PerPoint(new) => {
                            if !had_colors {
                                let fill = entry.color.unwrap_or(LINE_COLOR);
                                colors.resize(positions.len() - new.len(), fill);
                            }
                            colors.extend_from_slice(new);
                        }
                        Colors::Uniform(color) => {
                            if had_colors {
                                colors.resize(positions.len(), *color);
                            } else {
                                entry.color = Some(*color);
                            }
                        }
                        Colors::Default => {
                            if had_colors {
                                let fill = entry.color.unwrap_or(LINE_COLOR);
                                colors.resize(positions.len(), fill);
                            }
                        }
                    }
                    if positions.len() > max {
                        // Drop an eighth more than needed: trimming moves the whole strip, so it
                        // happens once per max/8 vertices, not on every append.
                        let excess = (positions.len() - max + max / 8).min(positions.len());
                        positions.drain(..excess);
                        if !colors.is_empty() {
                            colors.drain(..excess.min(colors.len()));
                        }
                    }
                    entry.version += 1;
                    self.bytes = self.bytes + line_bytes(entry) - before;
                    self.samples += line.positions.len() as u64;
                }
                Some(Shape::Text(text)) => {
                    if self.text_streams.insert(message.stream.to_string()) {
                        self.structure_version += 1;
                    }
                    self.events.push_front(TextEvent {
                        t,
                        stream: message.stream.to_string(),
                        text: text.text.to_string(),
                        level: text.level,
                    });
                    self.events.truncate(self.config.max_events);
                    self.samples += 1;
                }
                // Images reach the window in the next step (the desktop's image panel).
                Some(Shape::Image(_) | Shape::Clear) | None => {}
            }
        }
        self.enforce_budget();
    }

    /// Drops the oldest block of samples (of the series whose data is oldest) until within budget.
    fn enforce_budget(&mut self) {
        while self.bytes > self.config.memory_limit {
            let oldest = self
                .series
                .iter()
                .filter(|(_, s)| !s.is_empty())
                .min_by(|a, b| {
                    let ta = a.1.first().map_or(f64::INFINITY, |f| f.0);
                    let tb = b.1.first().map_or(f64::INFINITY, |f| f.0);
                    ta.total_cmp(&tb)
                })
                .map(|(name, _)| name.clone());
            let Some(name) = oldest else { break };
            if let Some(series) = self.series.get_mut(&name) {
                let len = series.len();
                let freed = series.drop_oldest_block();
                self.evicted_samples += (len - series.len()) as u64;
                self.bytes -= freed;
                if freed == 0 {
                    break;
                }
            }
        }
    }

    /// Clears `prefix` and everything below it (data, not names).
    pub fn clear(&mut self, prefix: &str) {
        let below = |name: &str| {
            name == prefix
                || name
                    .strip_prefix(prefix)
                    .is_some_and(|rest| rest.starts_with('/'))
        };
        for (name, series) in &mut self.series {
            if below(name) {
                self.bytes -= series.clear();
            }
        }
        let clouds: Vec<String> = self.clouds.keys().filter(|n| below(n)).cloned().collect();
        for name in clouds {
            if let Some(cloud) = self.clouds.remove(&name) {
                self.bytes -= cloud_bytes(&cloud);
            }
        }
        for (name, line) in &mut self.lines {
            if below(name) {
                self.bytes -= line_bytes(line);
                line.positions = Arc::default();
                line.colors = Arc::default();
                line.version += 1;
            }
        }
        self.events.retain(|e| !below(&e.stream));
        self.structure_version += 1;
    }

    /// Forgets everything: the hub started a new state (a replay began, seeked or looped).
    /// Counters go on; [`Store::generation`] tells caches to start over.
    pub fn reset(&mut self) {
        self.series.clear();
        self.clouds.clear();
        self.lines.clear();
        self.events.clear();
        self.text_streams.clear();
        self.bytes = 0;
        self.latest_t = f64::NEG_INFINITY;
        self.generation += 1;
        self.version += 1;
        self.structure_version += 1;
    }

    /// Every name with what it carries, sorted.
    pub fn names(&self) -> BTreeMap<&str, Kinds> {
        let mut names: BTreeMap<&str, Kinds> = BTreeMap::new();
        for name in self.series.keys() {
            names.entry(name).or_default().scalar = true;
        }
        for name in self.clouds.keys() {
            names.entry(name).or_default().points = true;
        }
        for name in self.lines.keys() {
            names.entry(name).or_default().line = true;
        }
        for name in &self.text_streams {
            names.entry(name).or_default().text = true;
        }
        names
    }

    /// Updates rates; call about once a second with the seconds elapsed.
    pub fn tick(&mut self, elapsed: f64) {
        for series in self.series.values_mut() {
            series.tick(elapsed);
        }
    }
}

/// A line's colour when none is given (the viewer's accent orange).
const LINE_COLOR: [u8; 3] = [249, 115, 22];

fn cloud_bytes(cloud: &Cloud) -> usize {
    cloud.positions.len() * 12 + cloud.colors.as_ref().map_or(0, |c| c.len() * 3)
}

fn line_bytes(line: &Polyline) -> usize {
    line.positions.len() * 12 + line.colors.len() * 3
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use vizcast_hub::Utf8Bytes;
    use vizcast_protocol::{Limits, parse_frame};

    use super::*;
    use crate::series::{BLOCK, SAMPLE_BYTES};

    fn frame(text: &str, received: f64) -> Arc<Accepted> {
        let messages = parse_frame(text, &Limits::default()).unwrap();
        Arc::new(Accepted::new(0, received, Utf8Bytes::from(text), messages))
    }

    #[test]
    fn every_kind_lands_where_it_belongs() {
        let mut store = Store::new(StoreConfig::default());
        store.apply(&frame(r#"{"stream":"a","t":1,"value":2}"#, 10.0));
        store.apply(&frame(
            r#"{"stream":"s","t":[1,2,3],"value":[4,5,6],"gain":7}"#,
            10.0,
        ));
        store.apply(&frame(r#"{"stream":"imu","values":{"ax":1}}"#, 10.0));
        store.apply(&frame(
            r##"{"stream":"c","points":[[0,0,0],[1,1,1]],"color":"#ff0000"}"##,
            10.0,
        ));
        store.apply(&frame(r#"{"stream":"p","line":[[0,0,0]]}"#, 10.0));
        store.apply(&frame(
            r#"{"stream":"p","line":[[1,0,0],[2,0,0]],"append":true}"#,
            10.0,
        ));
        store.apply(&frame(r#"{"stream":"e","text":"hi","level":"warn"}"#, 10.0));
        assert_eq!(store.series["s"].len(), 3);
        assert_eq!(store.series["s/gain"].last(), Some((3.0, 7.0)));
        assert_eq!(
            store.series["imu/ax"].last(),
            Some((10.0, 1.0)),
            "no t: the receive time"
        );
        assert_eq!(store.clouds["c"].positions.len(), 2);
        assert_eq!(store.lines["p"].positions.len(), 3);
        assert_eq!(store.events[0].text, "hi");
        let names = store.names();
        assert!(names["c"].points && names["p"].line && names["e"].text && names["a"].scalar);
        store.apply(&frame(r#"{"stream":"s","clear":true}"#, 11.0));
        assert!(store.series["s"].is_empty() && store.series["s/gain"].is_empty());
        assert_eq!(store.series["a"].len(), 1);
    }

    #[test]
    fn the_memory_budget_holds_under_an_endless_stream_and_drops_oldest_first() {
        let budget = 4 * BLOCK * SAMPLE_BYTES;
        let mut store = Store::new(StoreConfig {
            memory_limit: budget,
            ..StoreConfig::default()
        });
        let mut t = 0.0;
        for round in 0..60 {
            // Two series, one slower: the oldest data goes first, whichever series it is in.
            let mut values = Vec::new();
            let mut times = Vec::new();
            for _ in 0..20_000 {
                t += 0.001;
                times.push(t.to_string());
                values.push("1".to_owned());
            }
            let text = format!(
                r#"{{"stream":"fast","t":[{}],"value":[{}]}}"#,
                times.join(","),
                values.join(",")
            );
            store.apply(&frame(&text, 0.0));
            store.apply(&frame(
                &format!(r#"{{"stream":"slow","t":{t},"value":{round}}}"#),
                0.0,
            ));
            let (used, limit) = store.memory();
            assert!(used <= limit, "round {round}: {used} > {limit}");
        }
        assert!(store.evicted_samples > 0);
        let fast = &store.series["fast"];
        assert_eq!(fast.last().unwrap().0, t, "the newest data stays");
        assert!(fast.first().unwrap().0 > 1.0, "the oldest data went");
    }
}
