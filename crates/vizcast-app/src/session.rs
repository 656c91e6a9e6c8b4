//! What the app shows and controls: the hub, the store fed from it, the links browsers and
//! producers use, the recorder and the replay.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};
use parking_lot::RwLock;
use vizcast_hub::{Hub, Links};
use vizcast_record::{
    RecordError, Recorder, RecorderOptions, Recording, RecordingSummary, Replay, ReplayOptions,
};
use vizcast_store::{Store, StoreFeed};

/// A replay opened in the app.
#[derive(Debug)]
pub(crate) struct OpenReplay {
    pub replay: Replay,
    pub path: PathBuf,
    pub duration: f64,
}

/// The outcome of a recording finished in the background.
pub(crate) type Finished = (PathBuf, Result<RecordingSummary, RecordError>);

/// Everything the app works with. Built by the binary (or a test) and handed to [`crate::App`].
pub struct Session {
    /// The hub: stats, clients, status; replays and recordings attach to it.
    pub hub: Arc<Hub>,
    store: Arc<RwLock<Store>>,
    feed: Option<StoreFeed>,
    /// What the share panel shows.
    pub links: Links,
    recorder: Option<(Recorder, PathBuf)>,
    /// How recordings started from the app are written.
    pub record_options: RecorderOptions,
    replay: Option<OpenReplay>,
    /// Stops the live sources that would mix with a replay (the demo), once.
    stop_live: Option<Box<dyn FnOnce() + Send>>,
    finished_tx: Sender<Finished>,
    finished_rx: Receiver<Finished>,
    /// Told what the window hides, when that changes (a remote view's subscription).
    exclusions: Option<Exclusions>,
}

/// Where the streams the window hides are told, and what was told last.
struct Exclusions {
    hook: Box<dyn Fn(Vec<String>) + Send>,
    told: Option<Vec<String>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("links", &self.links)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A session whose store is kept up to date from `hub` by `feed` (off the UI thread).
    pub fn new(hub: Arc<Hub>, feed: StoreFeed, links: Links) -> Self {
        let store = feed.store().clone();
        let mut session = Self::with_store(hub, store, links);
        session.feed = Some(feed);
        session
    }

    /// A session over a store its owner fills (tests and benchmarks apply frames themselves, so
    /// that what is drawn does not depend on a thread's timing).
    pub fn with_store(hub: Arc<Hub>, store: Arc<RwLock<Store>>, links: Links) -> Self {
        let (finished_tx, finished_rx) = crossbeam_channel::bounded(4);
        Self {
            hub,
            store,
            feed: None,
            links,
            recorder: None,
            record_options: RecorderOptions::default(),
            replay: None,
            stop_live: None,
            finished_tx,
            finished_rx,
            exclusions: None,
        }
    }

    /// Tells `hook` the streams the window hides whenever that changes (at most four times a
    /// second): a remote view excludes them from what the remote sends it.
    pub fn with_exclusions(mut self, hook: impl Fn(Vec<String>) + Send + 'static) -> Self {
        self.exclusions = Some(Exclusions {
            hook: Box::new(hook),
            told: None,
        });
        self
    }

    /// Whether someone is told what the window hides.
    pub(crate) fn wants_exclusions(&self) -> bool {
        self.exclusions.is_some()
    }

    /// Tells the hook `streams`, if they differ from what it was told last.
    pub(crate) fn exclude(&mut self, streams: Vec<String>) {
        let Some(exclusions) = &mut self.exclusions else {
            return;
        };
        if exclusions.told.as_ref() != Some(&streams) {
            (exclusions.hook)(streams.clone());
            exclusions.told = Some(streams);
        }
    }

    /// Hands over a recorder started elsewhere (`--record`): the app shows and can stop it.
    pub fn with_recorder(mut self, recorder: Recorder, path: PathBuf) -> Self {
        self.recorder = Some((recorder, path));
        self
    }

    /// Hands over a replay started elsewhere (`vizcast replay FILE`): the app shows its timeline.
    pub fn with_replay(mut self, replay: Replay, path: PathBuf, duration: f64) -> Self {
        self.replay = Some(OpenReplay {
            replay,
            path,
            duration,
        });
        self
    }

    /// What to call to stop live sources (the demo) when a recording is opened in the app.
    pub fn with_stop_live(mut self, stop: impl FnOnce() + Send + 'static) -> Self {
        self.stop_live = Some(Box::new(stop));
        self
    }

    /// Stops feeding the store (the window could not be opened: nothing will draw it).
    pub fn detach_store(&mut self) {
        self.feed = None;
    }

    /// The store the app draws from.
    pub fn store(&self) -> &Arc<RwLock<Store>> {
        &self.store
    }

    /// Frames the desktop view missed because the store's queue was full.
    pub fn dropped(&self) -> u64 {
        self.feed.as_ref().map_or(0, StoreFeed::dropped)
    }

    /// Calls `callback` whenever the store has new data (to request a repaint).
    pub fn on_change(&self, callback: impl Fn() + Send + 'static) {
        if let Some(feed) = &self.feed {
            feed.on_change(callback);
        }
    }

    /// Where the current recording goes, if recording.
    pub fn recording_path(&self) -> Option<&Path> {
        self.recorder.as_ref().map(|(_, path)| path.as_path())
    }

    /// Starts recording to `path`.
    pub fn start_recording(&mut self, path: &Path) -> Result<(), RecordError> {
        if self.recorder.is_some() {
            return Ok(());
        }
        let recorder = Recorder::start(self.hub.clone(), path, self.record_options.clone())?;
        self.recorder = Some((recorder, path.to_owned()));
        Ok(())
    }

    /// Stops recording; the file is finished on a thread of its own (it may have seconds of
    /// queued frames to write) and the outcome comes back through [`Session::finished`].
    pub fn stop_recording(&mut self) {
        let Some((recorder, path)) = self.recorder.take() else {
            return;
        };
        let tx = self.finished_tx.clone();
        let spawned = std::thread::Builder::new()
            .name("vizcast-record-finish".to_owned())
            .spawn(move || {
                let result = recorder.finish();
                tx.send((path, result)).ok();
            });
        if let Err(err) = spawned {
            tracing::error!("cannot finish the recording: {err}");
        }
    }

    /// Recordings finished since the last call.
    pub(crate) fn finished(&self) -> Vec<Finished> {
        self.finished_rx.try_iter().collect()
    }

    /// Opens `path` and replays it from the start, replacing the current view (and any replay).
    pub fn open_replay(&mut self, path: &Path, options: ReplayOptions) -> Result<(), RecordError> {
        let recording = Recording::open(path)?;
        let duration = recording.info().duration();
        // Stop the old replay before the new one resets the hub.
        self.close_replay();
        if let Some(stop) = self.stop_live.take() {
            stop();
        }
        self.hub.reset();
        let replay = Replay::start(self.hub.clone(), recording, options)?;
        self.replay = Some(OpenReplay {
            replay,
            path: path.to_owned(),
            duration,
        });
        Ok(())
    }

    /// Stops the replay (what it showed stays on screen).
    pub fn close_replay(&mut self) {
        if let Some(open) = self.replay.take() {
            open.replay.stop();
        }
    }

    pub(crate) fn replay(&self) -> Option<&OpenReplay> {
        self.replay.as_ref()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.close_replay();
        if let Some((recorder, path)) = self.recorder.take() {
            match recorder.finish() {
                Ok(summary) if summary.unrecorded_frames > 0 => tracing::warn!(
                    file = %path.display(),
                    unrecorded_frames = summary.unrecorded_frames,
                    unrecorded_bytes = summary.unrecorded_bytes,
                    "recording finished with gaps (listed in its vizcast.gap metadata)"
                ),
                Ok(summary) => tracing::info!(
                    file = %path.display(),
                    messages = summary.messages,
                    "recording finished"
                ),
                Err(err) => tracing::error!("finishing the recording: {err}"),
            }
        }
    }
}
