//! The desktop window, on the main thread, beside the hub (the `desktop` feature).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use parking_lot::Mutex;
use vizcast_app::{AppOptions, Session};
use vizcast_hub::{Hub, Links};
use vizcast_record::{Recorder, RecorderOptions, Replay};
use vizcast_store::{StoreConfig, StoreFeed};

/// What the window starts with.
pub(crate) struct Start<'a> {
    pub hub: &'a Arc<Hub>,
    pub links: &'a Links,
    /// Stops the demo (a recording opened in the window replaces it).
    pub demo: Option<&'a tokio::task::AbortHandle>,
    /// The desktop store's budget (`--memory-limit`).
    pub store_memory: usize,
    /// How recordings started from the window are written.
    pub record_options: RecorderOptions,
    /// The recording of `--record`, and its file: the window shows and can stop it.
    pub recorder: Option<(Recorder, PathBuf)>,
    /// The replay being played, its file and its duration.
    pub replay: Option<(Replay, PathBuf, f64)>,
    /// The remote view: it leaves out what the window hides.
    pub remote: Option<Arc<vizcast_remote::Remote>>,
}

/// How the window ended.
pub(crate) enum Closed {
    /// It was closed: vizcast stops.
    Window,
    /// It could not open: the session (its recording, its replay) goes on headless.
    NeverOpened(Box<Session>),
    /// It failed after opening.
    Failed(anyhow::Error),
}

/// Runs the window until it is closed (or cannot open).
pub(crate) fn run(start: Start<'_>) -> anyhow::Result<Closed> {
    let feed = StoreFeed::start(
        start.hub,
        StoreConfig {
            memory_limit: start.store_memory,
            ..StoreConfig::default()
        },
    )
    .context("starting the desktop store")?;
    let mut session = Session::new(start.hub.clone(), feed, start.links.clone());
    session.record_options = start.record_options;
    if let Some((recorder, path)) = start.recorder {
        session = session.with_recorder(recorder, path);
    }
    if let Some((replay, path, duration)) = start.replay {
        session = session.with_replay(replay, path, duration);
    }
    if let Some(demo) = start.demo.cloned() {
        session = session.with_stop_live(move || demo.abort());
    }
    if let Some(remote) = start.remote {
        session = session.with_exclusions(move |streams| remote.set_excluded(streams));
    }
    let slot = Arc::new(Mutex::new(Some(session)));
    let result = vizcast_app::run_window(slot.clone(), AppOptions::default());
    let left = slot.lock().take();
    Ok(match (result, left) {
        (Ok(()), _) => {
            tracing::info!("the window was closed");
            Closed::Window
        }
        (Err(err), Some(mut session)) => {
            // The window never opened: serve browsers without it.
            println!("cannot open a window ({err}): running headless");
            session.detach_store();
            Closed::NeverOpened(Box::new(session))
        }
        (Err(err), None) => Closed::Failed(anyhow::anyhow!("the desktop window failed: {err}")),
    })
}
