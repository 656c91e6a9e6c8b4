//! The hub: one per process, shared by every connection and source.
//!
//! [`Hub::ingest`] validates a frame (outside any lock), then appends it to the [`State`] under a
//! short write lock and wakes the viewers. Viewers never block ingest: they copy shared frame
//! handles out of the state under a read lock and write them to their sockets on their own time.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::ws::Utf8Bytes;
use parking_lot::{Mutex, RwLock};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use vizcast_protocol::{
    Control, FrameError, Message, NatsStatus, PROTOCOL_VERSION, RecordingStatus, ReplayStatus,
    Subscription, parse_frame,
};

use crate::config::{HubConfig, random_hex};
use crate::direct::{Direct, WRITE_COST_NS, WRITE_THROUGH_BYTES, WRITE_THROUGH_NS};
use crate::log::{Lagged, ReadOptions, ReadOutcome};
use crate::ready::{JoinHold, Readiness};
use crate::state::{AdmitError, HistoryStats, State, StreamStats, Totals};
use crate::websocket::{self, Kind};

/// Most frames a viewer takes from the log at once (one socket flush).
pub(crate) const BATCH_FRAMES: usize = 1024;
/// Most bytes a viewer takes from the log at once (past the first frame).
pub(crate) const BATCH_BYTES: usize = 1 << 20;

/// Why a frame was not accepted.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum IngestError {
    /// The frame breaks the protocol or a limit.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The frame is valid but the hub cannot take it.
    #[error(transparent)]
    Admit(#[from] AdmitError),
}

impl IngestError {
    /// Short machine-readable class, as in [`Control::Error`].
    pub fn code(&self) -> &'static str {
        match self {
            Self::Frame(e) => e.kind.as_str(),
            Self::Admit(_) => "limit",
        }
    }

    /// The error message to send to the producer of the `frame`-th frame of its connection.
    pub fn to_control(&self, frame: Option<u64>) -> Control {
        Control::Error {
            code: self.code().to_owned(),
            message: self.to_string(),
            frame,
            offset: match self {
                Self::Frame(e) => e.offset,
                Self::Admit(_) => None,
            },
        }
    }
}

/// A frame the hub accepted, as handed to [`FrameSink`]s.
#[derive(Debug)]
pub struct Accepted {
    /// Its sequence number: the order of acceptance, starting at 1.
    pub seq: u64,
    /// When the hub received it, Unix seconds.
    pub received: f64,
    /// The frame, byte for byte.
    pub text: Utf8Bytes,
    /// Its decoded messages (their `span`s index into `text`).
    pub messages: Vec<Message>,
    /// Bytes of memory it holds ([`Accepted::footprint`]).
    footprint: usize,
}

impl Accepted {
    /// An accepted frame: its number, receive time, text and the messages parsed from it.
    pub fn new(seq: u64, received: f64, text: Utf8Bytes, messages: Vec<Message>) -> Self {
        // The allocation behind the `Arc` it is shared in: two counts, then the frame.
        let own = 2 * size_of::<usize>() + size_of::<Self>();
        let footprint = own
            + text.len()
            + (messages.capacity() - messages.len()) * size_of::<Message>()
            + messages.iter().map(Message::footprint).sum::<usize>();
        Self {
            seq,
            received,
            text,
            messages,
            footprint,
        }
    }

    /// Bytes of memory this frame holds: its text, its parsed messages and itself. What a queue
    /// of frames bounds (the text alone under-counts a parsed frame two- to fourfold).
    pub fn footprint(&self) -> usize {
        self.footprint
    }
}

/// Something that wants every accepted frame, in order (the recorder, the desktop store).
///
/// [`FrameSink::offer`] is called under the hub's state lock, in acceptance order: it must not
/// block (hand the frame to a bounded queue and return; what cannot be queued is the sink's to
/// account for).
pub trait FrameSink: Send + Sync {
    /// Takes one accepted frame.
    fn offer(&self, frame: &Arc<Accepted>);

    /// The hub starts a new state ([`Hub::reset_to`]): what was offered before is superseded.
    /// Called under the same lock as [`FrameSink::offer`], before the new state's frames.
    fn reset(&self) {}
}

/// A part of the hub that reports its own counters in `/api/stats` (the NATS bridge), under
/// [`StatsSource::name`]. Called by the stats endpoint, outside the hub's locks.
pub trait StatsSource: Send + Sync {
    /// The key of its object in `/api/stats`.
    fn name(&self) -> &str;

    /// Its counters, as JSON.
    fn stats(&self) -> serde_json::Value;
}

/// The parts of the status message every viewer is sent.
#[derive(Clone, Debug, Default)]
struct StatusParts {
    recording: Option<RecordingStatus>,
    replay: Option<ReplayStatus>,
    nats: Option<NatsStatus>,
}

/// Whether a client watches or feeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Receives the mirror on `/ws`.
    Viewer,
    /// Sends frames (`/ingest`, TCP, stdin).
    Producer,
}

/// A connected client and its counters (atomics: updated by its own task, read by `/api/stats`).
#[derive(Debug)]
pub struct Client {
    /// Unique for this run.
    pub id: u64,
    /// Viewer or producer.
    pub role: Role,
    /// Peer address or source name.
    pub addr: String,
    /// When it connected.
    pub connected: Instant,
    /// Viewer: frames delivered. Producer: frames accepted.
    pub frames: AtomicU64,
    /// Bytes of those frames.
    pub bytes: AtomicU64,
    /// Viewer: frames dropped by lag. Producer: frames rejected.
    pub dropped_frames: AtomicU64,
    /// Viewer: bytes dropped by lag.
    pub dropped_bytes: AtomicU64,
    /// Viewer: times it lagged.
    pub lagged: AtomicU64,
    /// Viewer: sequence number of the next frame it needs.
    pub cursor: AtomicU64,
    /// Viewer: frames skipped because newer frames of their streams superseded them.
    pub conflated_frames: AtomicU64,
    /// Viewer: their bytes.
    pub conflated_bytes: AtomicU64,
    /// Viewer: frames not sent because it does not subscribe to their streams.
    pub filtered_frames: AtomicU64,
    /// Viewer: their bytes.
    pub filtered_bytes: AtomicU64,
    /// Viewer: frames the ingest path wrote to it itself (write-through, see `direct.rs`).
    pub written_through: AtomicU64,
    /// Viewer: bytes sent per second over the last tick (`f64` bits).
    pub bytes_per_s: AtomicU64,
    /// `bytes` at the last tick.
    prev_bytes: AtomicU64,
    /// Viewer: frames conflated, by stream (at most `--max-streams` entries).
    pub conflated_streams: Mutex<BTreeMap<Arc<str>, u64>>,
    /// Viewer: its subscription's patterns (`*`: everything).
    pub subscription: Mutex<Vec<String>>,
}

impl Client {
    /// Bytes sent per second over the last second.
    pub fn send_rate(&self) -> f64 {
        f64::from_bits(self.bytes_per_s.load(Ordering::Relaxed))
    }

    /// Frames conflated by stream, most first.
    pub fn conflated_by_stream(&self) -> Vec<(String, u64)> {
        let mut out: Vec<(String, u64)> = self
            .conflated_streams
            .lock()
            .iter()
            .map(|(name, n)| (name.to_string(), *n))
            .collect();
        out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        out
    }
}

/// Removes a client from the registry when its connection ends.
pub struct ClientGuard {
    hub: Arc<Hub>,
    client: Arc<Client>,
}

impl ClientGuard {
    /// The client's counters.
    pub fn client(&self) -> &Arc<Client> {
        &self.client
    }
}

impl Drop for ClientGuard {
    fn drop(&mut self) {
        self.hub.clients.lock().remove(&self.client.id);
        let count = match self.client.role {
            Role::Viewer => &self.hub.viewer_count,
            Role::Producer => &self.hub.producer_count,
        };
        count.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Ingest rates over the last tick.
#[derive(Clone, Copy, Debug, Default)]
pub struct Rates {
    /// Frames per second.
    pub frames: f64,
    /// Messages per second.
    pub messages: f64,
    /// Bytes per second.
    pub bytes: f64,
    /// Samples per second.
    pub samples: f64,
    last: Totals,
    at: Option<Instant>,
}

/// The hub. See the module docs.
pub struct Hub {
    config: HubConfig,
    state: RwLock<State>,
    /// Changes with every new frame: viewers that are not written through wait on it.
    head: watch::Sender<()>,
    /// Sequence number of the newest frame (viewers written through check it, see `direct.rs`).
    newest: AtomicU64,
    /// Viewers that the ingest path may write to.
    direct: RwLock<Vec<Arc<Direct>>>,
    /// When the latest frame was accepted (nanoseconds since `started`).
    last_frame_ns: AtomicU64,
    /// The mean time between frames, in nanoseconds.
    frame_gap_ns: AtomicU64,
    /// The mean time one write-through to one viewer takes, in nanoseconds.
    write_cost_ns: AtomicU64,
    session: String,
    started: Instant,
    rejected: AtomicU64,
    clients: Mutex<BTreeMap<u64, Arc<Client>>>,
    next_client: AtomicU64,
    viewer_count: AtomicUsize,
    producer_count: AtomicUsize,
    rates: Mutex<Rates>,
    sinks: RwLock<Vec<Arc<dyn FrameSink>>>,
    /// Bumped by every [`Hub::reset`]; viewers resend their snapshot when it changes.
    epoch: AtomicU64,
    /// Where the latest reset happened (a sequence number).
    reset_at: AtomicU64,
    /// The latest status message (recording, replay) for viewers.
    status: watch::Sender<Option<Utf8Bytes>>,
    /// Holds on joins while a source restores state (see `ready.rs`).
    ready: Arc<Readiness>,
    status_parts: Mutex<StatusParts>,
    /// Parts of the process that add their counters to `/api/stats`.
    stats_sources: RwLock<Vec<Arc<dyn StatsSource>>>,
    /// When the "latest state exceeds the history budget" warning was last logged.
    warn_forced: Mutex<Option<Instant>>,
    /// The `/foxglove` endpoint's translated messages, once a Foxglove client connected.
    foxglove: std::sync::OnceLock<Arc<crate::foxglove::Foxglove>>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

/// Unix time in seconds.
pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl Hub {
    /// A hub with `config`, or the reason the configuration is unusable.
    pub fn new(config: HubConfig) -> Result<Arc<Self>, String> {
        config.validate()?;
        let state = State::new(
            config.viewer_queue_frames,
            config.viewer_queue_bytes,
            config.conflate_after,
            config.history_bytes,
            config.max_streams,
        );
        Ok(Arc::new(Self {
            config,
            state: RwLock::new(state),
            head: watch::Sender::new(()),
            newest: AtomicU64::new(0),
            direct: RwLock::new(Vec::new()),
            last_frame_ns: AtomicU64::new(0),
            frame_gap_ns: AtomicU64::new(0),
            write_cost_ns: AtomicU64::new(WRITE_COST_NS),
            session: random_hex(8),
            started: Instant::now(),
            rejected: AtomicU64::new(0),
            clients: Mutex::new(BTreeMap::new()),
            next_client: AtomicU64::new(1),
            viewer_count: AtomicUsize::new(0),
            producer_count: AtomicUsize::new(0),
            rates: Mutex::new(Rates::default()),
            sinks: RwLock::new(Vec::new()),
            epoch: AtomicU64::new(0),
            reset_at: AtomicU64::new(0),
            status: watch::Sender::new(None),
            ready: Arc::new(Readiness::new()),
            status_parts: Mutex::new(StatusParts::default()),
            stats_sources: RwLock::new(Vec::new()),
            warn_forced: Mutex::new(None),
            foxglove: std::sync::OnceLock::new(),
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
        }))
    }

    /// The configuration.
    pub fn config(&self) -> &HubConfig {
        &self.config
    }

    /// Random id of this run.
    pub fn session(&self) -> &str {
        &self.session
    }

    /// Validates and accepts one frame. Safe to call from any thread; never waits on viewers.
    pub fn ingest(&self, text: Utf8Bytes) -> Result<Arc<Accepted>, IngestError> {
        let messages = match parse_frame(text.as_str(), &self.config.limits) {
            Ok(messages) => messages,
            Err(err) => {
                self.rejected.fetch_add(1, Ordering::Relaxed);
                return Err(err.into());
            }
        };
        let received = unix_now();
        let (accepted, forced, epoch) = {
            let mut state = self.state.write();
            let applied = state.apply(text.clone(), &messages, received);
            let (seq, forced) = applied.inspect_err(|_| {
                self.rejected.fetch_add(1, Ordering::Relaxed);
            })?;
            let accepted = Arc::new(Accepted::new(seq, received, text, messages));
            // Under the lock, so that sinks see frames in acceptance order.
            for sink in self.sinks.read().iter() {
                sink.offer(&accepted);
            }
            (accepted, forced, self.epoch())
        };
        let seq = accepted.seq;
        if forced > 0
            && self
                .warn_forced
                .lock()
                .is_none_or(|at| at.elapsed() >= Duration::from_secs(10))
        {
            *self.warn_forced.lock() = Some(Instant::now());
            tracing::warn!(
                evicted = forced,
                "the latest state of all streams exceeds --history-bytes ({} bytes): late joiners will miss some of it",
                self.config.history_bytes
            );
        }
        // Only viewers that are not written through watch the head (a notification costs a few
        // locks even with nobody waiting).
        self.newest.fetch_max(seq, Ordering::SeqCst);
        if self.head.receiver_count() > 0 {
            self.head.send_replace(());
        }
        self.write_through(seq, epoch, &accepted.text);
        Ok(accepted)
    }

    /// Offers frame `seq` to the viewers that the ingest path writes to (see `direct.rs`): when
    /// it is small, writes it to those parked at it, for at most a quarter of the mean time between
    /// frames (and [`WRITE_THROUGH_NS`]), and wakes the others, whose tasks run on every
    /// core. Which viewers come first rotates with `seq`.
    fn write_through(&self, seq: u64, epoch: u64, text: &Utf8Bytes) {
        let direct = self.direct.read();
        if direct.is_empty() {
            return;
        }
        let started = Instant::now();
        let now = started.duration_since(self.started).as_nanos() as u64;
        // The mean time between frames (a moving average over about 8 frames): a producer's
        // frames often come in pairs, and the rate, not one gap, is what the budget is for.
        let gap = now
            .saturating_sub(self.last_frame_ns.swap(now, Ordering::Relaxed))
            .min(1_000_000_000);
        let mean = self.frame_gap_ns.load(Ordering::Relaxed);
        let mean = (mean * 7 + gap) / 8;
        self.frame_gap_ns.store(mean, Ordering::Relaxed);
        let budget = (mean / 4).min(WRITE_THROUGH_NS);
        // What one write costs (a moving average): a viewer is written to only if its write
        // fits in what is left of the budget, so at high rates nobody is, and viewers' tasks
        // batch.
        let cost = self.write_cost_ns.load(Ordering::Relaxed);
        let small = text.len() <= WRITE_THROUGH_BYTES;
        if small && cost > budget {
            // The estimate decays while nothing is written through, so that one slow write (the
            // thread preempted) does not turn write-through off for good.
            self.write_cost_ns.store(cost - cost / 8, Ordering::Relaxed);
        }
        let mut encoded =
            (small && cost <= budget).then(|| websocket::encode(Kind::Text, text.as_bytes()));
        let first = (seq % direct.len() as u64) as usize;
        let (later, earlier) = direct.split_at(first);
        let mut written = 0u64;
        for viewer in earlier.iter().chain(later) {
            if encoded.is_some() && started.elapsed().as_nanos() as u64 + cost > budget {
                encoded = None;
            }
            match &encoded {
                Some(encoded) => {
                    viewer.offer(seq, epoch, encoded, text.len());
                    written += 1;
                }
                None => viewer.wake(),
            }
        }
        if let Some(took) = (started.elapsed().as_nanos() as u64).checked_div(written) {
            self.write_cost_ns
                .store((cost * 7 + took) / 8, Ordering::Relaxed);
        }
    }

    /// Lets the ingest path write to `viewer` (see `direct.rs`) until [`Hub::remove_direct`].
    pub(crate) fn add_direct(&self, viewer: Arc<Direct>) {
        self.direct.write().push(viewer);
    }

    /// Undoes [`Hub::add_direct`].
    pub(crate) fn remove_direct(&self, viewer: &Arc<Direct>) {
        self.direct.write().retain(|v| !Arc::ptr_eq(v, viewer));
    }

    /// Sequence number of the newest frame, for viewers that the ingest path writes to: read it
    /// after [`Direct::arm`], and do not wait if it is at or past the cursor.
    pub(crate) fn newest(&self) -> u64 {
        self.newest.load(Ordering::SeqCst)
    }

    /// Adds a sink that gets every frame accepted from now on.
    pub fn add_sink(&self, sink: Arc<dyn FrameSink>) {
        self.sinks.write().push(sink);
    }

    /// Adds a sink and returns the history it starts after, atomically: the sink gets every frame
    /// accepted after the last frame of the history, none twice.
    pub(crate) fn add_sink_after_history(&self, sink: Arc<dyn FrameSink>) -> Vec<Utf8Bytes> {
        let state = self.state.read();
        let mut history = Vec::new();
        state.snapshot(&Subscription::all(), &mut history);
        // Ingest holds the state lock to write while it offers frames to sinks: none can be
        // accepted between the snapshot and this.
        self.sinks.write().push(sink);
        drop(state);
        history
    }

    /// The Foxglove WebSocket endpoint's shared state, started on first use.
    pub(crate) fn foxglove(self: &Arc<Self>) -> Arc<crate::foxglove::Foxglove> {
        self.foxglove
            .get_or_init(|| crate::foxglove::Foxglove::start(self))
            .clone()
    }

    /// Removes a sink added with [`Hub::add_sink`].
    pub fn remove_sink(&self, sink: &Arc<dyn FrameSink>) {
        self.sinks.write().retain(|s| !Arc::ptr_eq(s, sink));
    }

    /// Starts a new state (a replay seeked or looped): the history and the streams are forgotten,
    /// and every viewer is sent a `reset` snapshot of what comes next.
    pub fn reset(&self) {
        self.reset_to(Vec::new());
    }

    /// Starts a new state made of `frames` (the state at a replay's seek target): they are
    /// validated first, then the reset and all of them are applied under one lock, so viewers get
    /// the restored state in one `reset` snapshot, never a half-restored one. Returns how many
    /// frames were refused.
    pub fn reset_to(&self, frames: Vec<Utf8Bytes>) -> usize {
        let mut refused = 0;
        let parsed: Vec<(Utf8Bytes, Vec<Message>)> = frames
            .into_iter()
            .filter_map(
                |text| match parse_frame(text.as_str(), &self.config.limits) {
                    Ok(messages) => Some((text, messages)),
                    Err(_) => {
                        refused += 1;
                        None
                    }
                },
            )
            .collect();
        let mut state = self.state.write();
        state.reset();
        // Viewers deliver what was accepted before this point, then restate.
        self.reset_at.store(state.log.next_seq(), Ordering::Relaxed);
        let sinks = self.sinks.read();
        for sink in sinks.iter() {
            sink.reset();
        }
        for (text, messages) in parsed {
            let received = unix_now();
            match state.apply(text.clone(), &messages, received) {
                Ok((seq, _)) => {
                    let accepted = Arc::new(Accepted::new(seq, received, text, messages));
                    for sink in sinks.iter() {
                        sink.offer(&accepted);
                    }
                }
                Err(_) => refused += 1,
            }
        }
        drop(sinks);
        self.epoch.fetch_add(1, Ordering::Relaxed);
        let newest = state.log.next_seq() - 1;
        drop(state);
        // Wake every viewer so it notices.
        self.newest.fetch_max(newest, Ordering::SeqCst);
        self.head.send_replace(());
        for viewer in self.direct.read().iter() {
            viewer.wake();
        }
        refused
    }

    /// Bumped by [`Hub::reset`].
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Relaxed)
    }

    /// Sequence number of the first frame after the latest [`Hub::reset`].
    pub(crate) fn reset_at(&self) -> u64 {
        self.reset_at.load(Ordering::Relaxed)
    }

    /// Sets (or clears) the recording part of the status every viewer is sent.
    pub fn set_recording_status(&self, recording: Option<RecordingStatus>) {
        let mut parts = self.status_parts.lock();
        parts.recording = recording;
        self.publish_status(&parts);
    }

    /// Sets (or clears) the replay part of the status every viewer is sent.
    pub fn set_replay_status(&self, replay: Option<ReplayStatus>) {
        let mut parts = self.status_parts.lock();
        parts.replay = replay;
        self.publish_status(&parts);
    }

    /// Sets (or clears) the NATS part of the status every viewer is sent. Unchanged parts are
    /// not sent again.
    pub fn set_nats_status(&self, nats: Option<NatsStatus>) {
        let mut parts = self.status_parts.lock();
        if parts.nats == nats {
            return;
        }
        parts.nats = nats;
        self.publish_status(&parts);
    }

    fn publish_status(&self, parts: &StatusParts) {
        let status = Control::Status {
            recording: parts.recording.clone(),
            replay: parts.replay.clone(),
            nats: parts.nats.clone().map(Box::new),
        };
        self.status
            .send_replace(Some(Utf8Bytes::from(status.to_json())));
    }

    /// The recording and replay status.
    pub fn status_parts(&self) -> (Option<RecordingStatus>, Option<ReplayStatus>) {
        let parts = self.status_parts.lock();
        (parts.recording.clone(), parts.replay.clone())
    }

    /// The NATS part of the status.
    pub fn nats_status(&self) -> Option<NatsStatus> {
        self.status_parts.lock().nats.clone()
    }

    /// Adds counters to `/api/stats` (see [`StatsSource`]).
    pub fn add_stats_source(&self, source: Arc<dyn StatsSource>) {
        self.stats_sources.write().push(source);
    }

    /// The current status message, if any.
    pub fn status(&self) -> Option<Utf8Bytes> {
        self.status.borrow().clone()
    }

    /// Wakes up when the status changes.
    pub(crate) fn watch_status(&self) -> watch::Receiver<Option<Utf8Bytes>> {
        self.status.subscribe()
    }

    /// Counts a frame rejected before it reached [`Hub::ingest`] (too large, not UTF-8, binary).
    pub fn count_rejected(&self) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }

    /// The hello message for a new connection.
    pub fn hello(&self, role: Role) -> Control {
        Control::Hello {
            protocol: PROTOCOL_VERSION,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            session: self.session.clone(),
            server_time: unix_now(),
            role: match role {
                Role::Viewer => "viewer",
                Role::Producer => "producer",
            }
            .to_owned(),
        }
    }

    /// Registers a client, unless `max` of its role are connected already.
    pub fn register(self: &Arc<Self>, role: Role, addr: String) -> Option<ClientGuard> {
        let (count, max) = match role {
            Role::Viewer => (&self.viewer_count, self.config.max_viewers),
            Role::Producer => (&self.producer_count, self.config.max_producers),
        };
        if count.fetch_add(1, Ordering::Relaxed) >= max {
            count.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        let client = Arc::new(Client {
            id: self.next_client.fetch_add(1, Ordering::Relaxed),
            role,
            addr,
            connected: Instant::now(),
            frames: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            dropped_frames: AtomicU64::new(0),
            dropped_bytes: AtomicU64::new(0),
            lagged: AtomicU64::new(0),
            cursor: AtomicU64::new(0),
            conflated_frames: AtomicU64::new(0),
            written_through: AtomicU64::new(0),
            conflated_bytes: AtomicU64::new(0),
            filtered_frames: AtomicU64::new(0),
            filtered_bytes: AtomicU64::new(0),
            bytes_per_s: AtomicU64::new(0),
            prev_bytes: AtomicU64::new(0),
            conflated_streams: Mutex::new(BTreeMap::new()),
            subscription: Mutex::new(vec!["*".to_owned()]),
        });
        self.clients.lock().insert(client.id, client.clone());
        Some(ClientGuard {
            hub: self.clone(),
            client,
        })
    }

    /// Wakes up when a new frame is accepted.
    pub(crate) fn watch_head(&self) -> watch::Receiver<()> {
        self.head.subscribe()
    }

    /// Holds joins (new `/ws` viewers and Foxglove clients wait before their snapshot) until the
    /// returned hold is dropped, or for at most `timeout`: for a source that restores state, so
    /// that viewers joining meanwhile get it in their snapshot. `why` is what `/readyz` says.
    pub fn hold_joins(&self, why: impl Into<String>, timeout: Duration) -> JoinHold {
        JoinHold::new(self.ready.clone(), why.into(), timeout)
    }

    /// What holds joins now, if anything (see [`Hub::hold_joins`]).
    pub fn not_ready(&self) -> Option<String> {
        self.ready.waiting_for().map(|(why, _)| why)
    }

    /// Waits until no hold is in force (or the hub shuts down); false when a hold's deadline
    /// ended the wait.
    pub(crate) async fn joinable(&self) -> bool {
        tokio::select! {
            ready = self.ready.wait() => ready,
            () = self.shutdown.cancelled() => true,
        }
    }

    /// A new viewer's snapshot of what `subscription` wants: the history, then the cursor and
    /// byte offset live frames start at, and the epoch it belongs to.
    pub(crate) fn join(
        &self,
        subscription: &Subscription,
        out: &mut Vec<Utf8Bytes>,
    ) -> (u64, u64, u64) {
        let state = self.state.read();
        let cursor = state.snapshot(subscription, out);
        (cursor, state.log.total_bytes(), self.epoch())
    }

    /// The history before `cursor` that a viewer changing its subscription from `old` to `new`
    /// has not been sent.
    pub(crate) fn snapshot_added(
        &self,
        cursor: u64,
        old: &Subscription,
        new: &Subscription,
        out: &mut Vec<Utf8Bytes>,
    ) {
        self.state.read().snapshot_added(cursor, old, new, out);
    }

    /// Live frames from `cursor` on (a socket's worth, before `until`), as `subscription` and
    /// conflation allow.
    pub(crate) fn read(
        &self,
        cursor: u64,
        until: u64,
        subscription: &Subscription,
        out: &mut Vec<Utf8Bytes>,
    ) -> Result<ReadOutcome, Lagged> {
        let options = ReadOptions {
            subscription,
            conflate_after: self.config.conflate_after,
            max_frames: BATCH_FRAMES,
            max_bytes: BATCH_BYTES,
            until,
        };
        self.state.read().log.read(cursor, &options, out)
    }

    /// For a viewer that lagged at `cursor` (byte offset `offset`): skips it to the live edge and
    /// puts the latest state among the skipped frames that `subscription` wants in `out`.
    pub(crate) fn resync(
        &self,
        cursor: u64,
        offset: u64,
        subscription: &Subscription,
        out: &mut Vec<Utf8Bytes>,
    ) -> Resync {
        let state = self.state.read();
        let next = state.log.next_seq();
        state.pinned_between(cursor, next, subscription, out);
        Resync {
            cursor: next,
            offset: state.log.total_bytes(),
            skipped_frames: next - cursor,
            skipped_bytes: state.log.total_bytes() - offset,
        }
    }

    /// How far a viewer at `cursor` is behind: frames and bytes.
    pub(crate) fn behind(&self, cursor: u64) -> (u64, u64) {
        self.state.read().log.behind(cursor)
    }

    /// Cancelled when the hub shuts down.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Starts a graceful shutdown: connections close with 1001, sources stop.
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }

    /// Tracks connection tasks so shutdown can wait for them.
    pub fn tasks(&self) -> &TaskTracker {
        &self.tasks
    }

    /// Waits for connection tasks to finish (after [`Hub::shutdown`]), at most `timeout`.
    pub async fn wait_closed(&self, timeout: Duration) -> bool {
        self.tasks.close();
        tokio::time::timeout(timeout, self.tasks.wait())
            .await
            .is_ok()
    }

    /// Updates rates; call about once a second.
    pub fn tick(&self) {
        let now = Instant::now();
        let mut state = self.state.write();
        let totals = state.totals;
        let mut rates = self.rates.lock();
        if let Some(at) = rates.at {
            let dt = now.duration_since(at).as_secs_f64();
            if dt > 0.0 {
                rates.frames = (totals.frames - rates.last.frames) as f64 / dt;
                rates.messages = (totals.messages - rates.last.messages) as f64 / dt;
                rates.bytes = (totals.bytes - rates.last.bytes) as f64 / dt;
                rates.samples = (totals.samples - rates.last.samples) as f64 / dt;
                state.tick(dt);
            }
        }
        if let Some(at) = rates.at {
            let dt = now.duration_since(at).as_secs_f64();
            if dt > 0.0 {
                for client in self.clients.lock().values() {
                    let bytes = client.bytes.load(Ordering::Relaxed);
                    let prev = client.prev_bytes.swap(bytes, Ordering::Relaxed);
                    let rate = bytes.saturating_sub(prev) as f64 / dt;
                    client.bytes_per_s.store(rate.to_bits(), Ordering::Relaxed);
                }
            }
        }
        rates.last = totals;
        rates.at = Some(now);
    }

    /// A consistent view of the hub's counters, for `/api/stats` and the desktop status bar.
    pub fn stats(&self) -> HubStats {
        let (totals, history, streams, log) = {
            let state = self.state.read();
            (
                state.totals,
                state.history_stats(),
                state.stream_count(),
                state.log.len(),
            )
        };
        let clients: Vec<Arc<Client>> = self.clients.lock().values().cloned().collect();
        let sources: Vec<Arc<dyn StatsSource>> = self.stats_sources.read().clone();
        let extra = sources
            .iter()
            .map(|source| (source.name().to_owned(), source.stats()))
            .collect();
        HubStats {
            session: self.session.clone(),
            uptime: self.started.elapsed(),
            totals,
            rates: *self.rates.lock(),
            rejected: self.rejected.load(Ordering::Relaxed),
            history,
            streams,
            log_frames: log.0,
            log_bytes: log.1,
            clients,
            extra,
        }
    }

    /// Streams and their statistics, by name.
    pub fn streams(&self) -> Vec<StreamSummary> {
        let state = self.state.read();
        state
            .streams()
            .map(|(name, stats)| StreamSummary::new(name, stats))
            .collect()
    }
}

/// A lagging viewer's jump to the live edge.
#[derive(Debug)]
pub(crate) struct Resync {
    pub cursor: u64,
    pub offset: u64,
    pub skipped_frames: u64,
    pub skipped_bytes: u64,
}

/// Counters of the whole hub at one moment.
#[derive(Debug)]
pub struct HubStats {
    /// Random id of this run.
    pub session: String,
    /// Time since start.
    pub uptime: Duration,
    /// Accepted input so far.
    pub totals: Totals,
    /// Ingest rates over the last second.
    pub rates: Rates,
    /// Frames refused.
    pub rejected: u64,
    /// Late-joiner history.
    pub history: HistoryStats,
    /// Known streams.
    pub streams: usize,
    /// Frames in the live log.
    pub log_frames: usize,
    /// Bytes in the live log.
    pub log_bytes: usize,
    /// Connected clients.
    pub clients: Vec<Arc<Client>>,
    /// Counters of [`StatsSource`]s, by name.
    pub extra: Vec<(String, serde_json::Value)>,
}

/// One stream's statistics.
#[derive(Clone, Debug, serde::Serialize)]
pub struct StreamSummary {
    /// The stream's name.
    pub name: String,
    /// Kinds of data seen.
    pub kinds: Vec<&'static str>,
    /// Messages so far.
    pub messages: u64,
    /// Samples so far.
    pub samples: u64,
    /// Messages per second.
    pub message_rate: f64,
    /// Samples per second.
    pub sample_rate: f64,
    /// Time of the latest data (Unix seconds or the producer's clock).
    pub last_t: f64,
    /// Latest scalar value.
    pub last_value: Option<f64>,
}

impl StreamSummary {
    fn new(name: &str, s: &StreamStats) -> Self {
        Self {
            name: name.to_owned(),
            kinds: s.kinds.iter().map(|k| k.as_str()).collect(),
            messages: s.messages,
            samples: s.samples,
            message_rate: s.message_rate,
            sample_rate: s.sample_rate,
            last_t: s.last_t,
            last_value: s.last_value,
        }
    }
}
