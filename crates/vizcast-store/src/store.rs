//! Everything the desktop app draws, bounded by one memory budget.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use vizcast_hub::Accepted;
use vizcast_protocol::{
    Colormap, Colors, Image, ImageEncoding, Level, PixelType, Samples, Shape, Time, series_name,
};

use crate::series::Series;

/// Limits of the store.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// Memory budget for samples, clouds, lines and images (`--memory-limit`).
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

/// The latest image of a stream, as sent: its data base64-decoded (a JPEG or PNG file, or raw
/// pixels), not yet decoded to pixels (that is [`crate::decode_image`]'s work, off the UI
/// thread). Data is shared: the UI and the decoder take it without copying.
#[derive(Clone, Debug)]
pub struct StreamImage {
    /// How the pixels are given.
    pub encoding: ImageEncoding,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Channels per pixel (1, 3 or 4; 2 for a PNG's grey with alpha).
    pub channels: u8,
    /// The file's bytes, or the raw pixels (little-endian, row-major, channels interleaved).
    /// Empty if the base64 could not be decoded (the hub checked it, so only in theory).
    pub data: Arc<Vec<u8>>,
    /// The colormap of one-channel raw pixels, if the message named one.
    pub colormap: Option<Colormap>,
    /// The values at the colormap's ends, if the message gave them.
    pub range: Option<[f32; 2]>,
    /// When, in seconds (the message's time, else its receive time).
    pub t: f64,
    /// When the hub received it (Unix seconds).
    pub received: f64,
    /// Bumped on every new image, store-wide: a version is never seen twice, even after a
    /// `clear` or a reset (viewers re-decode and re-upload when it changes).
    pub version: u64,
}

impl StreamImage {
    /// Whether its pixels go through a colormap (one-channel raw pixels: `u16`, `f32`, and `u8`
    /// with a colormap or a range).
    pub fn is_heatmap(&self) -> bool {
        match self.encoding {
            ImageEncoding::Raw(PixelType::U8) => {
                self.channels == 1 && (self.colormap.is_some() || self.range.is_some())
            }
            ImageEncoding::Raw(_) => self.channels == 1,
            ImageEncoding::Jpeg | ImageEncoding::Png => false,
        }
    }

    /// Bytes it holds against the memory budget.
    pub fn bytes(&self) -> usize {
        self.data.len()
    }

    fn new(image: &Image, text: &str, t: f64, received: f64, version: u64) -> Self {
        // `Image::data_in`, without its panic should the place not be in this text.
        let base64 = text.get(image.data.clone()).unwrap_or_default().as_bytes();
        // Padding is optional in the protocol, as for encoded arrays.
        let engine = if base64.len().is_multiple_of(4) {
            base64_simd::STANDARD
        } else {
            base64_simd::STANDARD_NO_PAD
        };
        let data = engine.decode_to_vec(base64).unwrap_or_else(|err| {
            tracing::warn!("an image's base64 the hub accepted does not decode: {err}");
            Vec::new()
        });
        Self {
            encoding: image.encoding,
            width: image.width,
            height: image.height,
            channels: image.channels,
            data: Arc::new(data),
            colormap: image.colormap,
            range: image.range,
            t,
            received,
            version,
        }
    }
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
    /// An image.
    pub image: bool,
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
    /// Latest image per stream.
    pub images: BTreeMap<String, StreamImage>,
    /// The last [`StreamImage::version`] given (never reset).
    image_versions: u64,
    /// Text events, newest first.
    pub events: VecDeque<TextEvent>,
    text_streams: BTreeSet<String>,
    config: StoreConfig,
    /// Bytes used by samples, clouds, lines and images.
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
            images: BTreeMap::new(),
            image_versions: 0,
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
                Some(Shape::Image(image)) => {
                    self.image_versions += 1;
                    let image = StreamImage::new(
                        image,
                        frame.text.as_str(),
                        t,
                        receive,
                        self.image_versions,
                    );
                    self.bytes += image.bytes();
                    match self.images.insert(message.stream.to_string(), image) {
                        Some(old) => self.bytes -= old.bytes(),
                        None => self.structure_version += 1,
                    }
                    self.samples += 1;
                }
                Some(Shape::Clear) | None => {}
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
        let images: Vec<String> = self.images.keys().filter(|n| below(n)).cloned().collect();
        for name in images {
            if let Some(image) = self.images.remove(&name) {
                self.bytes -= image.bytes();
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
        self.images.clear();
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
        for name in self.images.keys() {
            names.entry(name).or_default().image = true;
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

    /// A raw `f32` image message of `h`×`w` values.
    fn heat(stream: &str, t: f64, h: usize, w: usize, value: f32) -> String {
        let values = vec![value; h * w];
        format!(
            r#"{{"stream":"{stream}","t":{t},"image":{{"shape":[{h},{w}],"f32":"{}","colormap":"viridis"}}}}"#,
            vizcast_protocol::f32_base64(&values)
        )
    }

    #[test]
    fn an_image_replaces_the_streams_image_and_is_counted() {
        let mut store = Store::new(StoreConfig::default());
        store.apply(&frame(&heat("cam/heat", 5.0, 4, 8, 1.5), 10.0));
        let first = store.images["cam/heat"].clone();
        assert_eq!((first.width, first.height, first.channels), (8, 4, 1));
        assert_eq!(first.data.len(), 4 * 8 * 4, "base64-decoded");
        assert_eq!(first.t, 5.0);
        assert_eq!(first.received, 10.0);
        assert_eq!(first.colormap, Some(Colormap::Viridis));
        assert!(first.is_heatmap());
        assert_eq!(
            crate::raw_value(&first, 7, 3),
            Some(crate::PixelValue::Float(1.5))
        );
        assert_eq!(store.memory().0, 128);
        assert!(store.names()["cam/heat"].image);
        let structure = store.structure_version;

        // A new image replaces it: one image, its bytes, a new version, no new stream.
        store.apply(&frame(&heat("cam/heat", 6.0, 2, 2, 0.0), 11.0));
        let second = &store.images["cam/heat"];
        assert_eq!((second.width, second.height), (2, 2));
        assert!(second.version > first.version);
        assert_eq!(store.images.len(), 1);
        assert_eq!(store.memory().0, 16);
        assert_eq!(store.structure_version, structure);

        // No t: the receive time.
        let jpeg = crate::pixels::tests::jpeg(16, 8);
        store.apply(&frame(
            &format!(
                r#"{{"stream":"cam/rgb","image":{{"jpeg":"{}"}}}}"#,
                vizcast_protocol::u8_base64(&jpeg)
            ),
            12.0,
        ));
        let rgb = &store.images["cam/rgb"];
        assert_eq!(rgb.t, 12.0);
        assert_eq!(*rgb.data, jpeg);
        assert!(!rgb.is_heatmap());
        assert_eq!(store.memory().0, 16 + jpeg.len());
    }

    #[test]
    fn a_clear_removes_the_images_below_it_and_a_reset_all() {
        let mut store = Store::new(StoreConfig::default());
        store.apply(&frame(&heat("a/heat", 1.0, 2, 2, 1.0), 1.0));
        store.apply(&frame(&heat("a/b/heat", 1.0, 2, 2, 1.0), 1.0));
        store.apply(&frame(&heat("ab", 1.0, 2, 2, 1.0), 1.0));
        let version = store.images["a/heat"].version;
        store.apply(&frame(r#"{"stream":"a","clear":true}"#, 2.0));
        assert_eq!(
            store.images.keys().collect::<Vec<_>>(),
            ["ab"],
            "a clears a/… but not ab"
        );
        assert_eq!(store.memory().0, 16);
        assert!(!store.names().contains_key("a/heat"));
        // After a clear, a new image of the same stream has a version never seen before.
        store.apply(&frame(&heat("a/heat", 3.0, 2, 2, 1.0), 3.0));
        assert!(store.images["a/heat"].version > version);
        store.reset();
        assert!(store.images.is_empty());
        assert_eq!(store.memory().0, 0);
        store.apply(&frame(&heat("a/heat", 3.0, 2, 2, 1.0), 3.0));
        assert!(store.images["a/heat"].version > version + 1, "never reused");
    }

    #[test]
    fn images_count_against_the_memory_budget() {
        // Two blocks of samples and two images fit; the third image pushes samples out.
        let budget = 2 * BLOCK * SAMPLE_BYTES + 64 * 64 * 4 * 2;
        let mut store = Store::new(StoreConfig {
            memory_limit: budget,
            ..StoreConfig::default()
        });
        let times: Vec<String> = (0..BLOCK + 10).map(|i| i.to_string()).collect();
        let values = vec!["1"; BLOCK + 10];
        store.apply(&frame(
            &format!(
                r#"{{"stream":"s","t":[{}],"value":[{}]}}"#,
                times.join(","),
                values.join(",")
            ),
            0.0,
        ));
        assert_eq!(store.evicted_samples, 0);
        for (i, name) in ["h1", "h2", "h3"].into_iter().enumerate() {
            store.apply(&frame(&heat(name, 1e6 + i as f64, 64, 64, 0.5), 0.0));
        }
        let (used, limit) = store.memory();
        assert!(used <= limit, "{used} > {limit}");
        assert!(store.evicted_samples > 0, "the oldest samples went");
        assert_eq!(store.images.len(), 3, "the latest images stay");
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
