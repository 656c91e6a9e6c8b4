//! The hub's state: what every accepted frame updates, under one lock.
//!
//! - the [`LiveLog`] that viewers read live frames from;
//! - the late-joiner history: recent frames within a byte budget, minus frames whose every message
//!   was superseded (a point cloud replaced by a newer one, a line replaced by a new base), so that
//!   heavy 3D streams do not push the scalar history out of the budget;
//! - pins: the frame holding the latest state of each stream (latest value of every series, latest
//!   cloud, line base and latest append, latest text, latest clear) is never evicted by age, so a
//!   late joiner or a resynced viewer always sees the current state of everything;
//! - the stream table: per-stream statistics and the `--max-streams` limit.
//!
//! Frames are identified by their sequence number, which is the order the hub accepted them in.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::ops::Bound;
use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use vizcast_protocol::{Kind, Message, Shape, Subscription};

use crate::log::{LiveLog, LogFrame, Streams};

/// Why an otherwise valid frame was refused by the hub.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AdmitError {
    /// Accepting the frame would create more streams than allowed.
    #[error("stream limit reached: {max} streams (--max-streams); \"{name}\" would be a new one")]
    TooManyStreams {
        /// The limit.
        max: usize,
        /// The first new stream name of the frame.
        name: String,
    },
}

/// The latest frame of each kind of state of one stream.
#[derive(Debug, Default)]
struct Slots {
    scalar: Option<u64>,
    points: Option<u64>,
    image: Option<u64>,
    line_base: Option<u64>,
    line_last: Option<u64>,
    text: Option<u64>,
    clear: Option<u64>,
    /// Line appends since the base, oldest first: superseded together by a new base or a clear.
    appends: VecDeque<u64>,
}

/// Statistics of one stream (a scalar series, a cloud, a line, a text log).
#[derive(Debug, Default)]
pub struct StreamStats {
    /// Kinds of data seen on this name.
    pub kinds: Vec<Kind>,
    /// Messages that touched it.
    pub messages: u64,
    /// Samples (scalar samples, points, vertices, texts).
    pub samples: u64,
    /// Time of the latest data, seconds (the message's `t`, or its receive time).
    pub last_t: f64,
    /// Latest scalar value.
    pub last_value: Option<f64>,
    /// Messages per second over the last tick.
    pub message_rate: f64,
    /// Samples per second over the last tick.
    pub sample_rate: f64,
    prev_messages: u64,
    prev_samples: u64,
}

impl StreamStats {
    fn record(&mut self, kind: Kind, samples: usize, t: f64, value: Option<f64>) {
        if !self.kinds.contains(&kind) {
            self.kinds.push(kind);
            self.kinds.sort();
        }
        self.messages += 1;
        self.samples += samples as u64;
        if t >= self.last_t || self.last_t == 0.0 {
            self.last_t = t;
        }
        if value.is_some() {
            self.last_value = value;
        }
    }
}

#[derive(Debug, Default)]
struct Stream {
    stats: StreamStats,
    slots: Slots,
}

/// A frame kept for late joiners.
#[derive(Debug)]
struct HistFrame {
    text: Utf8Bytes,
    streams: Streams,
    /// Parts of the frame not superseded yet; the frame is dropped at 0.
    live: u32,
    /// Slots pointing at this frame; it is not evicted by age while > 0.
    pins: u32,
}

/// Counters of the late-joiner history.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HistoryStats {
    /// Frames kept.
    pub frames: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Frames holding the latest state of some stream.
    pub pinned_frames: u64,
    /// Their bytes.
    pub pinned_bytes: u64,
    /// The byte budget (`--history-bytes`).
    pub budget_bytes: u64,
    /// Pinned frames evicted because the latest state alone exceeded the budget.
    pub forced_evictions: u64,
}

/// Running totals of accepted input.
#[derive(Clone, Copy, Debug, Default)]
pub struct Totals {
    /// Frames accepted.
    pub frames: u64,
    /// Messages in them.
    pub messages: u64,
    /// Bytes of them.
    pub bytes: u64,
    /// Samples in them.
    pub samples: u64,
}

/// Pin bookkeeping over `$state`'s history, borrowing only the fields it needs (so a stream's slots
/// can be borrowed at the same time).
macro_rules! hist {
    ($state:ident) => {
        Hist {
            frames: &mut $state.frames,
            log: &mut $state.log,
            evictable: &mut $state.evictable,
            bytes: &mut $state.history_bytes,
            pinned_bytes: &mut $state.pinned_bytes,
        }
    };
}

/// The hub's state. See the module docs.
#[derive(Debug)]
pub struct State {
    /// Live frames for viewers.
    pub log: LiveLog,
    frames: BTreeMap<u64, HistFrame>,
    evictable: BTreeSet<u64>,
    history_bytes: usize,
    pinned_bytes: usize,
    budget: usize,
    forced_evictions: u64,
    streams: BTreeMap<Box<str>, Stream>,
    max_streams: usize,
    /// Running totals.
    pub totals: Totals,
    /// Reused to build series names without allocating.
    scratch: String,
    /// Message stream names, shared by the log's and the history's frames (bounded: emptied when
    /// it outgrows `4 × max_streams`).
    names: HashMap<Box<str>, Arc<str>>,
}

impl State {
    /// Empty state with the given limits; the live log releases superseded frames once they are
    /// `release_after` old (see [`LiveLog`]).
    pub fn new(
        log_frames: usize,
        log_bytes: usize,
        release_after: Option<std::time::Duration>,
        history_budget: usize,
        max_streams: usize,
    ) -> Self {
        Self {
            log: LiveLog::new(log_frames, log_bytes, release_after),
            frames: BTreeMap::new(),
            evictable: BTreeSet::new(),
            history_bytes: 0,
            pinned_bytes: 0,
            budget: history_budget,
            forced_evictions: 0,
            streams: BTreeMap::new(),
            max_streams,
            totals: Totals::default(),
            scratch: String::new(),
            names: HashMap::new(),
        }
    }

    /// Forgets the history and the streams (a replay seeked or looped): what comes next is a new
    /// state. The live log and the totals go on.
    pub fn reset(&mut self) {
        self.frames.clear();
        self.evictable.clear();
        self.history_bytes = 0;
        self.pinned_bytes = 0;
        self.streams.clear();
        self.names.clear();
    }

    /// The shared name of a message stream.
    fn intern(&mut self, name: &str) -> Arc<str> {
        if let Some(shared) = self.names.get(name) {
            return shared.clone();
        }
        if self.names.len() >= 4 * self.max_streams {
            self.names.clear();
        }
        let shared: Arc<str> = name.into();
        self.names.insert(name.into(), shared.clone());
        shared
    }

    /// The streams of a frame's messages, each once.
    fn frame_streams(&mut self, messages: &[Message]) -> Streams {
        let first = messages.first().map_or("", |m| &*m.stream);
        if messages.iter().all(|m| &*m.stream == first) {
            return Streams::One(self.intern(first));
        }
        // Interned, equal names share one allocation: dedup by address, in O(n log n) for a batch
        // of many streams.
        let mut names: Vec<Arc<str>> = messages.iter().map(|m| self.intern(&m.stream)).collect();
        names.sort_unstable_by_key(|name| Arc::as_ptr(name).cast::<u8>() as usize);
        names.dedup_by(|a, b| Arc::ptr_eq(a, b));
        Streams::Many(names.into())
    }

    /// Sequence number of the newest frame (0 before the first).
    #[cfg(test)]
    pub fn head(&self) -> u64 {
        self.log.next_seq() - 1
    }

    /// Accepts a parsed frame: assigns its sequence number, appends it to the live log, updates the
    /// history, pins and stream statistics. `now` is the receive time (Unix seconds). Returns the
    /// sequence number and how many pinned frames had to be evicted to keep the budget.
    pub fn apply(
        &mut self,
        text: Utf8Bytes,
        messages: &[Message],
        now: f64,
    ) -> Result<(u64, u64), AdmitError> {
        self.admit(messages)?;
        let seq = self.log.next_seq();
        let streams = self.frame_streams(messages);
        // Only clouds, lines and images are ever superseded: a frame with anything else is never
        // skipped.
        let supersedable = messages
            .iter()
            .all(|m| {
                m.scalars.is_empty()
                    && matches!(
                        m.shape,
                        Some(Shape::Points(_) | Shape::Line(_) | Shape::Image(_))
                    )
            })
            .then_some(messages.len() as u32)
            .filter(|&n| n > 0);
        self.log.push(LogFrame {
            text: text.clone(),
            streams: streams.clone(),
            supersedable,
        });
        self.totals.frames += 1;
        self.totals.messages += messages.len() as u64;
        self.totals.bytes += text.len() as u64;

        let units: u32 = messages
            .iter()
            .map(|m| u32::from(!m.scalars.is_empty()) + u32::from(m.shape.is_some()))
            .sum();
        self.history_bytes += text.len();
        self.frames.insert(
            seq,
            HistFrame {
                text,
                streams,
                live: units.max(1),
                pins: 0,
            },
        );
        self.evictable.insert(seq);

        for message in messages {
            let t = message.time.last().unwrap_or(now);
            self.totals.samples += message.sample_count() as u64;
            for scalar in &message.scalars {
                let mut name = std::mem::take(&mut self.scratch);
                name.clear();
                name.push_str(&message.stream);
                if !scalar.path.is_empty() {
                    name.push('/');
                    name.push_str(&scalar.path);
                }
                let Stream { stats, slots } = stream_entry(&mut self.streams, &name);
                stats.record(Kind::Scalar, scalar.samples.len(), t, scalar.samples.last());
                hist!(self).set(&mut slots.scalar, seq);
                self.scratch = name;
            }
            let Some(shape) = &message.shape else {
                continue;
            };
            let samples = match shape {
                Shape::Points(p) => p.positions.len(),
                Shape::Line(l) => l.positions.len(),
                Shape::Text(_) | Shape::Clear | Shape::Image(_) => 1,
            };
            if let Shape::Clear = shape {
                self.clear(&message.stream, seq);
                stream_entry(&mut self.streams, &message.stream)
                    .stats
                    .record(Kind::Clear, 1, t, None);
                continue;
            }
            let Stream { stats, slots } = stream_entry(&mut self.streams, &message.stream);
            stats.record(shape.kind(), samples, t, None);
            let mut h = hist!(self);
            match shape {
                Shape::Points(_) => h.replace(&mut slots.points, seq),
                // An image replaces the stream's image, as a cloud its cloud.
                Shape::Image(_) => h.replace(&mut slots.image, seq),
                Shape::Line(line) if !line.append => {
                    h.replace(&mut slots.line_base, seq);
                    for old in slots.appends.drain(..) {
                        h.supersede(old);
                    }
                    if let Some(last) = slots.line_last.take() {
                        h.unpin(last);
                    }
                }
                Shape::Line(_) => {
                    if slots.appends.back() != Some(&seq) {
                        slots.appends.push_back(seq);
                    }
                    // Appends that aged out of the history and the live log no longer need
                    // superseding.
                    while slots
                        .appends
                        .front()
                        .is_some_and(|s| !h.frames.contains_key(s) && !h.log.contains(*s))
                    {
                        slots.appends.pop_front();
                    }
                    if slots.appends.len() > 2 * (h.frames.len() + h.log.len().0) + 64 {
                        slots
                            .appends
                            .retain(|s| h.frames.contains_key(s) || h.log.contains(*s));
                    }
                    h.set(&mut slots.line_last, seq);
                }
                Shape::Text(_) => h.set(&mut slots.text, seq),
                Shape::Clear => {}
            }
        }
        let forced = self.enforce_budget();
        Ok((seq, forced))
    }

    /// Refuses a frame that would create more streams than allowed, before anything changes.
    fn admit(&self, messages: &[Message]) -> Result<(), AdmitError> {
        let upper: usize = messages.iter().map(|m| m.scalars.len() + 1).sum();
        if self.streams.len() + upper <= self.max_streams {
            return Ok(());
        }
        let mut new: Vec<String> = Vec::new();
        for message in messages {
            let mut names: Vec<String> = message
                .scalars
                .iter()
                .map(|s| message.series_name(s))
                .collect();
            if message.shape.is_some() {
                names.push(message.stream.to_string());
            }
            for name in names {
                if !self.streams.contains_key(name.as_str()) && !new.contains(&name) {
                    new.push(name);
                    if self.streams.len() + new.len() > self.max_streams {
                        return Err(AdmitError::TooManyStreams {
                            max: self.max_streams,
                            name: new.swap_remove(new.len() - 1),
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// Clears `prefix` and everything below it: their state is no longer pinned, their clouds and
    /// lines are superseded, and the clear itself is pinned (late joiners replay it after whatever
    /// older frames of those streams are still in the history).
    fn clear(&mut self, prefix: &str, seq: u64) {
        let mut h = hist!(self);
        let child_start = format!("{prefix}/");
        let child_end = format!("{prefix}0"); // '0' is the byte after '/'
        let range = (
            Bound::Included(child_start.as_str()),
            Bound::Excluded(child_end.as_str()),
        );
        if let Some(own) = self.streams.get_mut(prefix) {
            h.clear(&mut own.slots);
        }
        for (_, stream) in self.streams.range_mut::<str, _>(range) {
            h.clear(&mut stream.slots);
        }
        let stream = stream_entry(&mut self.streams, prefix);
        let mut h = hist!(self);
        h.set(&mut stream.slots.clear, seq);
    }

    /// Evicts the oldest unpinned frames while over budget; if pinned frames alone exceed it, the
    /// oldest of those go too (returns how many).
    fn enforce_budget(&mut self) -> u64 {
        let mut forced = 0;
        while self.history_bytes > self.budget {
            let victim = match self.evictable.pop_first() {
                Some(seq) => seq,
                None => match self.frames.keys().next() {
                    Some(&seq) => {
                        forced += 1;
                        seq
                    }
                    None => break,
                },
            };
            if let Some(frame) = self.frames.remove(&victim) {
                self.history_bytes -= frame.text.len();
                if frame.pins > 0 {
                    self.pinned_bytes -= frame.text.len();
                }
            }
        }
        self.forced_evictions += forced;
        forced
    }

    /// Everything a new viewer with `subscription` needs, in order: the history (with pinned
    /// state), and the sequence number of the first live frame after it.
    pub fn snapshot(&self, subscription: &Subscription, out: &mut Vec<Utf8Bytes>) -> u64 {
        out.extend(
            self.frames
                .values()
                .filter(|f| f.streams.wanted(subscription))
                .map(|f| f.text.clone()),
        );
        self.log.next_seq()
    }

    /// For a viewer at `cursor` that changed its subscription from `old` to `new`: the history
    /// before `cursor` that `new` wants and `old` did not (what it has not been sent), in order.
    pub fn snapshot_added(
        &self,
        cursor: u64,
        old: &Subscription,
        new: &Subscription,
        out: &mut Vec<Utf8Bytes>,
    ) {
        out.extend(
            self.frames
                .range(..cursor)
                .filter(|(_, f)| f.streams.wanted(new) && !f.streams.wanted(old))
                .map(|(_, f)| f.text.clone()),
        );
    }

    /// The latest state among frames with sequence numbers in `from..to` (those a lagging viewer
    /// skipped) that `subscription` wants, in order.
    pub fn pinned_between(
        &self,
        from: u64,
        to: u64,
        subscription: &Subscription,
        out: &mut Vec<Utf8Bytes>,
    ) {
        if from >= to {
            return;
        }
        out.extend(
            self.frames
                .range(from..to)
                .filter(|(_, f)| f.pins > 0 && f.streams.wanted(subscription))
                .map(|(_, f)| f.text.clone()),
        );
    }

    /// History counters.
    pub fn history_stats(&self) -> HistoryStats {
        HistoryStats {
            frames: self.frames.len() as u64,
            bytes: self.history_bytes as u64,
            pinned_frames: (self.frames.len() - self.evictable.len()) as u64,
            pinned_bytes: self.pinned_bytes as u64,
            budget_bytes: self.budget as u64,
            forced_evictions: self.forced_evictions,
        }
    }

    /// Number of known streams.
    pub fn stream_count(&self) -> usize {
        self.streams.len()
    }

    /// Streams and their statistics, by name (streams that were only ever cleared are left out).
    pub fn streams(&self) -> impl Iterator<Item = (&str, &StreamStats)> {
        self.streams
            .iter()
            .filter(|(_, s)| s.stats.kinds.iter().any(|k| *k != Kind::Clear))
            .map(|(name, s)| (&**name, &s.stats))
    }

    /// Updates per-stream rates from the counts since the last tick, `elapsed` seconds ago.
    pub fn tick(&mut self, elapsed: f64) {
        if elapsed <= 0.0 {
            return;
        }
        for stream in self.streams.values_mut() {
            let s = &mut stream.stats;
            s.message_rate = (s.messages - s.prev_messages) as f64 / elapsed;
            s.sample_rate = (s.samples - s.prev_samples) as f64 / elapsed;
            s.prev_messages = s.messages;
            s.prev_samples = s.samples;
        }
    }
}

fn stream_entry<'a>(streams: &'a mut BTreeMap<Box<str>, Stream>, name: &str) -> &'a mut Stream {
    if !streams.contains_key(name) {
        streams.insert(name.into(), Stream::default());
    }
    streams.get_mut(name).expect("inserted above")
}

/// Pin bookkeeping over the history's frames.
struct Hist<'a> {
    frames: &'a mut BTreeMap<u64, HistFrame>,
    log: &'a mut LiveLog,
    evictable: &'a mut BTreeSet<u64>,
    bytes: &'a mut usize,
    pinned_bytes: &'a mut usize,
}

impl Hist<'_> {
    fn pin(&mut self, seq: u64) {
        if let Some(frame) = self.frames.get_mut(&seq) {
            frame.pins += 1;
            if frame.pins == 1 {
                self.evictable.remove(&seq);
                *self.pinned_bytes += frame.text.len();
            }
        }
    }

    fn unpin(&mut self, seq: u64) {
        if let Some(frame) = self.frames.get_mut(&seq) {
            frame.pins = frame.pins.saturating_sub(1);
            if frame.pins == 0 {
                self.evictable.insert(seq);
                *self.pinned_bytes -= frame.text.len();
            }
        }
    }

    /// Points `slot` at `seq`, moving its pin.
    fn set(&mut self, slot: &mut Option<u64>, seq: u64) {
        match *slot {
            Some(old) if old == seq => {}
            old => {
                if let Some(old) = old {
                    self.unpin(old);
                }
                self.pin(seq);
                *slot = Some(seq);
            }
        }
    }

    /// Points `slot` at `seq` and supersedes the part of the frame it pointed at before.
    fn replace(&mut self, slot: &mut Option<u64>, seq: u64) {
        let old = *slot;
        self.set(slot, seq);
        if let Some(old) = old {
            self.supersede(old);
        }
    }

    /// Empties a stream's slots: nothing of it is current any more.
    fn clear(&mut self, slots: &mut Slots) {
        for slot in [
            &mut slots.scalar,
            &mut slots.line_last,
            &mut slots.text,
            &mut slots.clear,
        ] {
            if let Some(old) = slot.take() {
                self.unpin(old);
            }
        }
        for slot in [&mut slots.points, &mut slots.image, &mut slots.line_base] {
            if let Some(old) = slot.take() {
                self.unpin(old);
                self.supersede(old);
            }
        }
        for old in slots.appends.drain(..) {
            self.supersede(old);
        }
    }

    /// One part of frame `seq` is superseded; the frame leaves the history when none is left,
    /// and viewers that are behind skip it.
    fn supersede(&mut self, seq: u64) {
        self.log.supersede(seq);
        let Some(frame) = self.frames.get_mut(&seq) else {
            return;
        };
        frame.live = frame.live.saturating_sub(1);
        if frame.live == 0 {
            // A fully superseded frame holds no latest state, so it has no pins.
            self.evictable.remove(&seq);
            if let Some(frame) = self.frames.remove(&seq) {
                *self.bytes -= frame.text.len();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use vizcast_protocol::{Limits, parse_frame};

    use super::*;

    fn state(budget: usize) -> State {
        State::new(1000, 1 << 20, None, budget, 100)
    }

    fn push(state: &mut State, text: &str) -> u64 {
        let messages = parse_frame(text, &Limits::default()).unwrap();
        state
            .apply(Utf8Bytes::from(text), &messages, 1.0)
            .unwrap()
            .0
    }

    fn snapshot(state: &State) -> Vec<String> {
        let mut out = Vec::new();
        state.snapshot(&Subscription::all(), &mut out);
        out.iter().map(|f| f.as_str().to_owned()).collect()
    }

    #[test]
    fn replaced_clouds_leave_the_history_but_scalars_stay() {
        let mut s = state(1 << 20);
        push(&mut s, r#"{"stream":"a","value":1}"#);
        push(&mut s, r#"{"stream":"c","points":[[0,0,0]]}"#);
        push(&mut s, r#"{"stream":"a","value":2}"#);
        push(&mut s, r#"{"stream":"c","points":[[1,1,1]]}"#);
        assert_eq!(
            snapshot(&s),
            [
                r#"{"stream":"a","value":1}"#,
                r#"{"stream":"a","value":2}"#,
                r#"{"stream":"c","points":[[1,1,1]]}"#
            ]
        );
    }

    #[test]
    fn superseded_frames_give_their_bytes_back() {
        let mut s = state(1 << 20);
        for i in 0..100 {
            push(&mut s, &format!(r#"{{"stream":"c","points":[[{i},0,0]]}}"#));
        }
        let last = r#"{"stream":"c","points":[[99,0,0]]}"#;
        let stats = s.history_stats();
        assert_eq!(
            (stats.frames, stats.bytes, stats.pinned_bytes),
            (1, last.len() as u64, last.len() as u64)
        );
    }

    #[test]
    fn a_batch_survives_while_any_part_of_it_is_current() {
        let mut s = state(1 << 20);
        let batch = r#"[{"stream":"c","points":[[0,0,0]]},{"stream":"d","points":[]}]"#;
        push(&mut s, batch);
        push(&mut s, r#"{"stream":"c","points":[]}"#);
        assert_eq!(snapshot(&s), [batch, r#"{"stream":"c","points":[]}"#]);
        push(&mut s, r#"{"stream":"d","points":[]}"#);
        assert_eq!(
            snapshot(&s),
            [
                r#"{"stream":"c","points":[]}"#,
                r#"{"stream":"d","points":[]}"#
            ]
        );
    }

    #[test]
    fn the_budget_evicts_old_history_but_never_the_latest_state() {
        let mut s = state(200);
        push(&mut s, r#"{"stream":"cloud","points":[[0,0,0]]}"#);
        push(&mut s, r#"{"stream":"slow","value":42}"#);
        for i in 0..50 {
            push(&mut s, &format!(r#"{{"stream":"fast","value":{i}}}"#));
        }
        let snap = snapshot(&s);
        assert_eq!(snap[0], r#"{"stream":"cloud","points":[[0,0,0]]}"#);
        assert_eq!(snap[1], r#"{"stream":"slow","value":42}"#);
        assert_eq!(snap.last().unwrap(), r#"{"stream":"fast","value":49}"#);
        assert!(snap.len() < 12, "{snap:?}");
        let stats = s.history_stats();
        assert!(stats.bytes <= 200, "{stats:?}");
        assert_eq!(stats.pinned_frames, 3);
        assert_eq!(stats.forced_evictions, 0);
    }

    #[test]
    fn latest_state_over_budget_is_evicted_oldest_first_and_counted() {
        let mut s = state(60);
        push(&mut s, r#"{"stream":"a","value":1}"#);
        push(&mut s, r#"{"stream":"b","value":1}"#);
        push(&mut s, r#"{"stream":"c","value":1}"#);
        let stats = s.history_stats();
        assert!(stats.bytes <= 60);
        assert_eq!(stats.forced_evictions, 1);
        assert_eq!(
            snapshot(&s),
            [r#"{"stream":"b","value":1}"#, r#"{"stream":"c","value":1}"#]
        );
    }

    #[test]
    fn a_new_line_base_supersedes_the_old_line_and_its_appends() {
        let mut s = state(1 << 20);
        push(&mut s, r#"{"stream":"p","line":[[0,0,0]]}"#);
        push(&mut s, r#"{"stream":"p","line":[[1,0,0]],"append":true}"#);
        push(&mut s, r#"{"stream":"p","line":[[2,0,0]],"append":true}"#);
        assert_eq!(snapshot(&s).len(), 3);
        push(&mut s, r#"{"stream":"p","line":[[9,9,9]]}"#);
        assert_eq!(snapshot(&s), [r#"{"stream":"p","line":[[9,9,9]]}"#]);
    }

    #[test]
    fn clear_unpins_the_subtree_and_is_itself_kept() {
        let mut s = state(1 << 20);
        push(&mut s, r#"{"stream":"robot/cloud","points":[[0,0,0]]}"#);
        push(&mut s, r#"{"stream":"robot/x","value":1}"#);
        push(&mut s, r#"{"stream":"robotic","value":1}"#);
        push(&mut s, r#"{"stream":"robot","clear":true}"#);
        // The cloud is gone (superseded); the scalar stays in history (replayed before the clear);
        // "robotic" is not below "robot" and stays pinned.
        assert_eq!(
            snapshot(&s),
            [
                r#"{"stream":"robot/x","value":1}"#,
                r#"{"stream":"robotic","value":1}"#,
                r#"{"stream":"robot","clear":true}"#
            ]
        );
        assert_eq!(s.history_stats().pinned_frames, 2);
        let names: Vec<&str> = s.streams().map(|(n, _)| n).collect();
        assert_eq!(names, ["robot/cloud", "robot/x", "robotic"]);
    }

    #[test]
    fn a_lagging_viewer_gets_the_latest_state_among_what_it_skipped() {
        let mut s = state(1 << 20);
        let first = push(&mut s, r#"{"stream":"c","points":[[0,0,0]]}"#);
        push(&mut s, r#"{"stream":"a","value":1}"#);
        push(&mut s, r#"{"stream":"a","value":2}"#);
        push(&mut s, r#"{"stream":"c","points":[[1,1,1]]}"#);
        let last = push(&mut s, r#"{"stream":"a","value":3}"#);
        let mut out = Vec::new();
        s.pinned_between(first, last, &Subscription::all(), &mut out);
        let out: Vec<&str> = out.iter().map(Utf8Bytes::as_str).collect();
        assert_eq!(out, [r#"{"stream":"c","points":[[1,1,1]]}"#]);
    }

    /// Reads everything from `cursor` as a viewer that is behind, with `subscription`.
    fn read_behind(s: &State, cursor: u64, subscription: &[&str]) -> (Vec<String>, Vec<String>) {
        let subscription = Subscription::new(subscription, &Limits::default()).unwrap();
        let options = crate::log::ReadOptions {
            subscription: &subscription,
            conflate_after: Some(std::time::Duration::ZERO),
            max_frames: 1000,
            max_bytes: 1 << 20,
            until: u64::MAX,
        };
        let mut out = Vec::new();
        let outcome = s.log.read(cursor, &options, &mut out).unwrap();
        let sent = out.iter().map(|f| f.as_str().to_owned()).collect();
        let conflated = outcome
            .conflated
            .iter()
            .flat_map(|(streams, _)| streams.iter().map(ToString::to_string))
            .collect();
        (sent, conflated)
    }

    #[test]
    fn a_viewer_behind_skips_only_superseded_clouds_and_lines() {
        let mut s = state(1 << 20);
        let frames = [
            r#"{"stream":"c","points":[[0,0,0]]}"#,
            r#"{"stream":"a","value":1}"#,
            r#"{"stream":"p","line":[[0,0,0]]}"#,
            r#"{"stream":"p","line":[[1,0,0]],"append":true}"#,
            r#"[{"stream":"c","points":[[1,1,1]]},{"stream":"d","points":[]}]"#,
            r#"{"stream":"e","text":"hi"}"#,
            r#"{"stream":"c","points":[[2,2,2]],"v":3}"#,
            r#"{"stream":"p","line":[[5,5,5]]}"#,
            r#"{"stream":"c","points":[[3,3,3]]}"#,
            r#"{"stream":"a","value":2}"#,
        ];
        let first = push(&mut s, frames[0]);
        for frame in &frames[1..] {
            push(&mut s, frame);
        }
        let (sent, conflated) = read_behind(&s, first, &["*"]);
        // The first cloud, the old line base and its append are superseded. The batch is kept
        // (its "d" part is current); so is the cloud with a scalar in it.
        assert_eq!(
            sent,
            [
                frames[1], frames[4], frames[5], frames[6], frames[7], frames[8], frames[9]
            ]
        );
        assert_eq!(conflated, ["c", "p", "p"]);
        // A viewer that keeps up gets everything.
        let mut out = Vec::new();
        s.log.read_from(first, 1000, 1 << 20, &mut out).unwrap();
        assert_eq!(out.len(), frames.len());
        // Subscriptions filter whole frames, by any of their messages' streams.
        let (sent, _) = read_behind(&s, first, &["d", "e"]);
        assert_eq!(sent, [frames[4], frames[5]]);
        let (sent, _) = read_behind(&s, first, &["!c"]);
        assert_eq!(
            sent,
            [frames[1], frames[4], frames[5], frames[7], frames[9]]
        );
    }

    #[test]
    fn clouds_superseded_after_leaving_the_history_are_still_skipped_live() {
        // A history too small for two clouds: the old one leaves it by budget, not by supersede.
        let mut s = State::new(1000, 1 << 20, None, 40, 100);
        let first = push(&mut s, r#"{"stream":"c","points":[[0,0,0]]}"#);
        push(&mut s, r#"{"stream":"a","value":1}"#);
        push(&mut s, r#"{"stream":"c","points":[[1,1,1]]}"#);
        let (sent, conflated) = read_behind(&s, first, &["*"]);
        assert_eq!(
            sent,
            [
                r#"{"stream":"a","value":1}"#,
                r#"{"stream":"c","points":[[1,1,1]]}"#
            ]
        );
        assert_eq!(conflated, ["c"]);
    }

    #[test]
    fn the_stream_limit_refuses_the_whole_frame() {
        let mut s = State::new(100, 1 << 20, None, 1 << 20, 3);
        push(&mut s, r#"{"stream":"a","values":{"x":1,"y":2}}"#);
        let messages = parse_frame(r#"[{"stream":"a","values":{"x":3}},{"stream":"b","value":1},{"stream":"c","value":1}]"#, &Limits::default()).unwrap();
        let err = s.apply(Utf8Bytes::from("x"), &messages, 0.0).unwrap_err();
        assert_eq!(
            err,
            AdmitError::TooManyStreams {
                max: 3,
                name: "c".into()
            }
        );
        assert_eq!(s.head(), 1);
        assert_eq!(s.totals.frames, 1);
        // Known streams are still accepted at the limit.
        push(&mut s, r#"{"stream":"a","values":{"x":3}}"#);
    }

    #[test]
    fn reset_forgets_history_and_streams_but_not_the_order() {
        let mut s = state(1 << 20);
        push(&mut s, r#"{"stream":"a","value":1}"#);
        s.reset();
        assert!(snapshot(&s).is_empty());
        assert_eq!(s.stream_count(), 0);
        assert_eq!(push(&mut s, r#"{"stream":"b","value":1}"#), 2);
        assert_eq!(snapshot(&s), [r#"{"stream":"b","value":1}"#]);
    }

    #[test]
    fn stream_statistics_and_rates() {
        let mut s = state(1 << 20);
        push(&mut s, r#"{"stream":"sig","t":[1,2,3],"value":[4,5,6]}"#);
        push(&mut s, r#"{"stream":"sig","t":4,"value":7,"temp":20}"#);
        s.tick(2.0);
        let sig = s.streams().find(|(n, _)| *n == "sig").unwrap().1;
        assert_eq!(
            (sig.messages, sig.samples, sig.last_t, sig.last_value),
            (2, 4, 4.0, Some(7.0))
        );
        assert_eq!(sig.sample_rate, 2.0);
        assert!(s.streams().any(|(n, _)| n == "sig/temp"));
    }
}
