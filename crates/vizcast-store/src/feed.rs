//! Feeding the store from the hub, off the UI thread.
//!
//! A [`vizcast_hub::FrameSink`] hands each accepted frame (already decoded) to a
//! [`FrameQueue`], bounded in frames and in the memory they hold (text and parsed messages); a
//! thread of its own applies them to the store in batches under one write lock. Ingest never waits
//! for the store: if the queue is full the frame is dropped from the desktop view (counted, shown
//! in the status bar); browsers and the recorder are not affected. The UI reads the store under a
//! read lock once per frame.
//!
//! A hub reset (a replay starting, seeking or looping) bumps an epoch instead of queueing a
//! marker, so it is never lost to a full queue: frames carry the epoch they were offered in, the
//! thread resets the store when it sees a newer one and skips frames of older ones.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use vizcast_hub::{Accepted, FrameQueue, FrameSink, Hub, QueueBounds, Refused, Taken};

use crate::{Store, StoreConfig};

/// Frames that may wait for the store thread, and the memory they may hold.
const QUEUE: QueueBounds = QueueBounds {
    frames: 4096,
    bytes: 64 << 20,
};
/// Most frames applied under one write lock.
const BATCH: usize = 512;
/// Most bytes of frames ([`Accepted::footprint`], about twice their text) applied under one
/// write lock: a few milliseconds of work at most, so the UI's read of the store never waits long.
const BATCH_BYTES: usize = 512 << 10;

/// What to call when new data was applied.
type ChangeCallback = Mutex<Option<Box<dyn Fn() + Send>>>;

/// A queued frame and the epoch it was offered in.
type Item = (u64, Arc<Accepted>);

struct Sink {
    queue: Arc<FrameQueue<Item>>,
    dropped: Arc<AtomicU64>,
    epoch: Arc<AtomicU64>,
}

impl FrameSink for Sink {
    fn offer(&self, frame: &Arc<Accepted>) {
        let epoch = self.epoch.load(Ordering::Relaxed);
        if let Err(Refused::Full | Refused::Closed) =
            self.queue.push((epoch, frame.clone()), frame.footprint())
        {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn reset(&self) {
        self.epoch.fetch_add(1, Ordering::Relaxed);
    }
}

/// A store kept up to date from a hub.
pub struct StoreFeed {
    store: Arc<RwLock<Store>>,
    dropped: Arc<AtomicU64>,
    on_change: Arc<ChangeCallback>,
    hub: Arc<Hub>,
    sink: Arc<dyn FrameSink>,
    queue: Arc<FrameQueue<Item>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for StoreFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreFeed").finish_non_exhaustive()
    }
}

impl StoreFeed {
    /// Starts feeding a new store from every frame `hub` accepts from now on.
    pub fn start(hub: &Arc<Hub>, config: StoreConfig) -> std::io::Result<Self> {
        let store = Arc::new(RwLock::new(Store::new(config)));
        let queue = Arc::new(FrameQueue::new(QUEUE));
        let dropped = Arc::new(AtomicU64::new(0));
        let epoch = Arc::new(AtomicU64::new(0));
        let on_change: Arc<ChangeCallback> = Arc::new(Mutex::new(None));
        let thread = {
            let store = store.clone();
            let on_change = on_change.clone();
            let epoch = epoch.clone();
            let queue = queue.clone();
            std::thread::Builder::new()
                .name("vizcast-store".to_owned())
                .spawn(move || run(&queue, &epoch, &store, &on_change))?
        };
        let sink: Arc<dyn FrameSink> = Arc::new(Sink {
            queue: queue.clone(),
            dropped: dropped.clone(),
            epoch,
        });
        hub.add_sink(sink.clone());
        Ok(Self {
            store,
            dropped,
            on_change,
            hub: hub.clone(),
            sink,
            queue,
            thread: Some(thread),
        })
    }

    /// The store (read it once per UI frame).
    pub fn store(&self) -> &Arc<RwLock<Store>> {
        &self.store
    }

    /// Frames the desktop view missed because its queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Called (from the store thread) after new data was applied: e.g. to request a repaint.
    pub fn on_change(&self, callback: impl Fn() + Send + 'static) {
        *self.on_change.lock() = Some(Box::new(callback));
    }
}

impl Drop for StoreFeed {
    fn drop(&mut self) {
        // Once removed, the hub offers nothing more; the thread applies what is queued and ends.
        self.hub.remove_sink(&self.sink);
        self.queue.close();
        if let Some(thread) = self.thread.take() {
            thread.join().ok();
        }
    }
}

fn run(
    queue: &FrameQueue<Item>,
    epoch: &AtomicU64,
    store: &RwLock<Store>,
    on_change: &Mutex<Option<Box<dyn Fn() + Send>>>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut last_tick = Instant::now();
    let mut applied_epoch = 0;
    loop {
        match queue.take(&mut batch, BATCH, BATCH_BYTES, Duration::from_millis(250)) {
            Taken::Items(_) | Taken::Idle => {}
            Taken::Closed => return,
        }
        let tick = last_tick.elapsed() >= Duration::from_secs(1);
        let current = epoch.load(Ordering::Relaxed);
        if !batch.is_empty() || tick || current > applied_epoch {
            let mut store = store.write();
            if current > applied_epoch {
                store.reset();
                applied_epoch = current;
            }
            for (frame_epoch, frame) in batch.drain(..) {
                if frame_epoch > applied_epoch {
                    // A reset happened after `current` was read.
                    store.reset();
                    applied_epoch = frame_epoch;
                }
                if frame_epoch == applied_epoch {
                    store.apply(&frame);
                }
            }
            if tick {
                store.tick(last_tick.elapsed().as_secs_f64());
                last_tick = Instant::now();
            }
            drop(store);
            if let Some(callback) = &*on_change.lock() {
                callback();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use vizcast_hub::{HubConfig, Utf8Bytes};

    use super::*;

    #[test]
    fn the_hubs_frames_reach_the_store() {
        let hub = Hub::new(HubConfig::default()).unwrap();
        let feed = StoreFeed::start(&hub, StoreConfig::default()).unwrap();
        for i in 0..1000 {
            hub.ingest(Utf8Bytes::from(format!(
                r#"{{"stream":"a","t":{i},"value":{i}}}"#
            )))
            .unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while feed.store().read().frames < 1000 {
            assert!(
                Instant::now() < deadline,
                "the store thread applies the frames"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(feed.store().read().series["a"].last(), Some((999.0, 999.0)));
        assert_eq!(feed.dropped(), 0);
    }

    #[test]
    fn a_hub_reset_replaces_the_stores_state() {
        let hub = Hub::new(HubConfig::default()).unwrap();
        let feed = StoreFeed::start(&hub, StoreConfig::default()).unwrap();
        hub.ingest(Utf8Bytes::from(r#"{"stream":"old","t":1,"value":1}"#))
            .unwrap();
        hub.reset_to(vec![Utf8Bytes::from(r#"{"stream":"new","t":2,"value":2}"#)]);
        hub.ingest(Utf8Bytes::from(r#"{"stream":"new","t":3,"value":3}"#))
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            {
                let store = feed.store().read();
                if store.series.get("new").is_some_and(|s| s.len() == 2) {
                    assert!(!store.series.contains_key("old"), "the old state is gone");
                    assert_eq!(store.generation, 1);
                    break;
                }
            }
            assert!(Instant::now() < deadline, "the reset reaches the store");
            std::thread::sleep(Duration::from_millis(5));
        }
        // A reset with nothing after it still empties the store.
        hub.reset();
        while !feed.store().read().series.is_empty() {
            assert!(
                Instant::now() < deadline,
                "an empty reset reaches the store"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
