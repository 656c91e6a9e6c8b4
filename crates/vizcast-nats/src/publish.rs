//! `--nats-publish`: every frame this instance accepts goes to the broker, as it arrived.
//!
//! The [`Publisher`] is a hub [`FrameSink`]. Its `offer` (under the hub's state lock, so in
//! acceptance order) works out the frame's subjects and numbers and hands it to a bounded queue
//! with `try_send`: it never waits, so a slow or absent broker never reaches ingest, viewers or
//! the recording. One task drains the queue into the NATS client.
//!
//! - **One message per subject of the frame**, its payload the producer's bytes unchanged. A
//!   frame of one stream is one message. A batch spanning several streams is published once
//!   on each of its streams' subjects (the same bytes, the same `Vizcast-Frame`): so the
//!   broker's last messages of every subject hold that stream's latest state, whichever frame
//!   carried it, and an edge filtering by subject still gets every frame of its streams. Edges
//!   take the first copy and drop the others by their frame number (`Vizcast-Parts` says a
//!   message is one of several copies). The cost: a batch of k
//!   streams is k messages on the broker; producers of high rates through NATS should send one
//!   stream per frame (columnar batches are one stream).
//! - A message whose stream's part replaces its state (a cloud, a line base) carries
//!   `Nats-Rollup: sub` (see [`crate::jetstream`]): the broker then drops that subject's earlier
//!   messages, also for an edge that is behind and has not read them yet. That edge skips
//!   superseded clouds as a lagging viewer does (counted as `superseded`, not as a gap).
//! - **Frames that came from the broker are not published again** (an instance that both
//!   publishes and subscribes does not echo): the edge marks its thread while it ingests, and
//!   the sink skips what is offered under that mark.
//! - **At the limit** (`queue_frames` frames or `queue_bytes` bytes waiting, the broker slow or
//!   gone): the frame being offered is dropped, counted (`/api/stats`, the status), logged at
//!   most every 10 s, and its numbers are used up anyway, so edges see the gap. Frames already
//!   queued go first when the broker is back, then newer ones: order is kept. A frame larger than
//!   the whole queue is still taken when the queue is empty.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_nats::{Client, HeaderMap, Subject};
use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::mpsc;
use vizcast_hub::{Accepted, FrameSink, Hub};
use vizcast_protocol::Shape;

use crate::jetstream::{self, ROLLUP, StreamLimits};
use crate::link::Link;
use crate::sequence::{MAX_SUBJECTS, Stamp};
use crate::subject::stream_to_subject;

/// Streams of one frame found by a linear search; a batch with more uses a map (no quadratic cost).
const LINEAR_PARTS: usize = 16;

thread_local! {
    /// Set while this thread ingests a frame that came from the broker.
    static FROM_BROKER: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` (a `Hub::ingest` of a frame from the broker) with this thread marked, so that the
/// publisher of the same process does not send the frame back.
pub(crate) fn from_broker<T>(f: impl FnOnce() -> T) -> T {
    FROM_BROKER.set(true);
    let result = f();
    FROM_BROKER.set(false);
    result
}

/// One subject a frame is published on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Part {
    /// Shared with the subject table: a clone is a reference count, not a copy.
    pub subject: Subject,
    pub seq: u64,
    pub rollup: bool,
}

/// A frame waiting to be published.
#[derive(Debug)]
struct Outgoing {
    payload: Bytes,
    frame: u64,
    parts: Vec<Part>,
}

/// Bounds of the queue between the hub and the broker.
#[derive(Clone, Copy, Debug)]
pub struct QueueLimits {
    /// Frames.
    pub frames: usize,
    /// Bytes.
    pub bytes: usize,
}

impl Default for QueueLimits {
    fn default() -> Self {
        Self {
            frames: 16_384,
            bytes: 64 << 20,
        }
    }
}

/// Counters of the publisher (atomics: written by the sink and the task, read by `/api/stats`).
#[derive(Debug, Default)]
pub struct PublishCounters {
    /// Frames handed to the NATS client.
    pub frames: AtomicU64,
    /// NATS messages (a batch of k streams is k).
    pub messages: AtomicU64,
    /// Payload bytes of those frames (once per frame).
    pub bytes: AtomicU64,
    /// Frames dropped at the queue's limit.
    pub dropped_frames: AtomicU64,
    /// Their bytes.
    pub dropped_bytes: AtomicU64,
    /// Messages the client refused (over the broker's `max_payload`, or closed).
    pub failed: AtomicU64,
    /// Frames not published because they came from the broker.
    pub not_republished: AtomicU64,
    /// Frames waiting now.
    pub queued_frames: AtomicUsize,
    /// Their bytes.
    pub queued_bytes: AtomicUsize,
}

/// Log lines without flooding: the first [`Throttle::BURST`] of each 10 s, then one line saying
/// how many were held back.
#[derive(Debug, Default)]
pub(crate) struct Throttle {
    /// When the current window started, and the lines logged in it.
    window: Mutex<Option<(Instant, u32)>>,
    held: AtomicU64,
}

impl Throttle {
    const EVERY: Duration = Duration::from_secs(10);
    const BURST: u32 = 10;

    /// `Some(held back since the last line)` when a line may be logged now.
    pub fn allow(&self) -> Option<u64> {
        let mut window = self.window.lock();
        match &mut *window {
            Some((start, logged)) if start.elapsed() < Self::EVERY => {
                if *logged >= Self::BURST {
                    self.held.fetch_add(1, Ordering::Relaxed);
                    return None;
                }
                *logged += 1;
            }
            _ => *window = Some((Instant::now(), 1)),
        }
        Some(self.held.swap(0, Ordering::Relaxed))
    }
}

/// The hub side of `--nats-publish`. See the module docs.
pub struct Publisher {
    tx: mpsc::Sender<Outgoing>,
    limits: QueueLimits,
    prefix: String,
    /// Stream name → (its subject, the last number used on it).
    subjects: Mutex<HashMap<Box<str>, (Subject, u64)>>,
    /// The counters.
    pub counters: PublishCounters,
    link: Arc<Link>,
    dropped_log: Throttle,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("server", &self.link.server)
            .finish_non_exhaustive()
    }
}

/// What [`Publisher::start`] needs.
#[derive(Clone, Debug)]
pub struct PublishOptions {
    /// Subjects start with this.
    pub prefix: String,
    /// `Vizcast-Origin`.
    pub name: String,
    /// The queue's bounds.
    pub queue: QueueLimits,
    /// The JetStream stream's bounds, if this publisher creates it.
    pub stream: StreamLimits,
}

impl Publisher {
    /// A publisher whose queue no task drains (tests of the sink).
    fn new(
        prefix: &str,
        limits: QueueLimits,
        link: Arc<Link>,
    ) -> (Arc<Self>, mpsc::Receiver<Outgoing>) {
        let (tx, rx) = mpsc::channel(limits.frames.max(1));
        let publisher = Arc::new(Self {
            tx,
            limits,
            prefix: prefix.to_owned(),
            subjects: Mutex::new(HashMap::new()),
            counters: PublishCounters::default(),
            link,
            dropped_log: Throttle::default(),
        });
        (publisher, rx)
    }

    /// Starts publishing what `hub` accepts from now on through `client`; returns the sink (added
    /// to the hub) and the task, which ends when the hub shuts down, after handing what is
    /// queued to the client.
    pub fn start(
        hub: &Arc<Hub>,
        client: Client,
        link: Arc<Link>,
        options: &PublishOptions,
    ) -> (Arc<Self>, tokio::task::JoinHandle<()>) {
        let (publisher, rx) = Self::new(&options.prefix, options.queue, link.clone());
        hub.add_sink(publisher.clone());
        let stream_config = jetstream::config(&options.prefix, options.stream);
        let js = async_nats::jetstream::new(client.clone());
        let shutdown = hub.shutdown_token();
        tokio::spawn(keep_stream(js, link, stream_config, shutdown.clone()));
        let task = tokio::spawn(drain(
            publisher.clone(),
            client,
            rx,
            options.name.clone(),
            hub.session().to_owned(),
            shutdown,
        ));
        (publisher, task)
    }

    /// The connection.
    pub fn link(&self) -> &Link {
        &self.link
    }

    /// The queue's bounds.
    pub fn limits(&self) -> QueueLimits {
        self.limits
    }

    /// The subjects of `frame` and their numbers (module docs), numbering them.
    fn parts(&self, frame: &Accepted) -> Vec<Part> {
        let mut parts: Vec<(&str, bool)> = Vec::with_capacity(1);
        // Where each stream is in `parts`, once a batch has too many for a linear search.
        let mut index: HashMap<&str, usize> = HashMap::new();
        for message in &frame.messages {
            // Not `clear`: the broker would purge the stream's earlier frames before an edge
            // that is behind has read them, and a `clear` supersedes nothing a viewer must skip.
            let replaces = match &message.shape {
                // An image replaces its stream's image, as a cloud its cloud: the broker keeps
                // the latest only.
                Some(Shape::Points(_) | Shape::Image(_)) => true,
                Some(Shape::Line(line)) => !line.append,
                Some(Shape::Text(_) | Shape::Clear) | None => false,
            };
            let stream = &*message.stream;
            let at = if parts.len() <= LINEAR_PARTS {
                parts.iter().position(|(s, _)| *s == stream)
            } else {
                if index.is_empty() {
                    index.extend(parts.iter().enumerate().map(|(i, (s, _))| (*s, i)));
                }
                index.get(stream).copied()
            };
            match at {
                Some(i) => parts[i].1 &= replaces,
                None => {
                    if !index.is_empty() {
                        index.insert(stream, parts.len());
                    }
                    parts.push((stream, replaces));
                }
            }
        }
        let mut subjects = self.subjects.lock();
        parts
            .into_iter()
            .map(|(stream, rollup)| {
                if !subjects.contains_key(stream) && subjects.len() >= MAX_SUBJECTS {
                    // Numbers start over at 1, which edges take as a new start, not a gap.
                    subjects.clear();
                }
                // A known stream costs no allocation: this runs under the hub's lock.
                if !subjects.contains_key(stream) {
                    let subject = Subject::from(stream_to_subject(&self.prefix, stream));
                    subjects.insert(stream.into(), (subject, 0));
                }
                let entry = subjects.get_mut(stream).expect("inserted above");
                entry.1 += 1;
                Part {
                    subject: entry.0.clone(),
                    seq: entry.1,
                    rollup,
                }
            })
            .collect()
    }

    fn drop_frame(&self, frame: &Accepted) {
        let bytes = frame.text.len() as u64;
        self.counters.dropped_frames.fetch_add(1, Ordering::Relaxed);
        self.counters
            .dropped_bytes
            .fetch_add(bytes, Ordering::Relaxed);
        self.link.record_missed(1);
        if let Some(held) = self.dropped_log.allow() {
            tracing::warn!(
                "NATS (publish): the queue to {} is full ({} frames or {} bytes): frame {} is not published ({} dropped so far{}); local viewers and the recording are not affected",
                self.link.server,
                self.limits.frames,
                self.limits.bytes,
                frame.seq,
                self.counters.dropped_frames.load(Ordering::Relaxed),
                if held > 0 {
                    format!(", {held} since the last line")
                } else {
                    String::new()
                },
            );
        }
    }
}

impl FrameSink for Publisher {
    fn offer(&self, frame: &Arc<Accepted>) {
        if FROM_BROKER.get() {
            self.counters
                .not_republished
                .fetch_add(1, Ordering::Relaxed);
            return;
        }
        let parts = self.parts(frame);
        let bytes = frame.text.len();
        let queued = self
            .counters
            .queued_bytes
            .fetch_add(bytes, Ordering::Relaxed);
        if queued > 0 && queued + bytes > self.limits.bytes {
            self.counters
                .queued_bytes
                .fetch_sub(bytes, Ordering::Relaxed);
            self.drop_frame(frame);
            return;
        }
        let outgoing = Outgoing {
            payload: Bytes::from(frame.text.clone()),
            frame: frame.seq,
            parts,
        };
        match self.tx.try_send(outgoing) {
            Ok(()) => {
                self.counters.queued_frames.fetch_add(1, Ordering::Relaxed);
            }
            Err(_full_or_closed) => {
                self.counters
                    .queued_bytes
                    .fetch_sub(bytes, Ordering::Relaxed);
                self.drop_frame(frame);
            }
        }
    }
}

/// Publishes what the sink queued, until the hub shuts down; then hands what is left to the
/// client and flushes it (the caller bounds how long that may take).
async fn drain(
    publisher: Arc<Publisher>,
    client: Client,
    mut rx: mpsc::Receiver<Outgoing>,
    origin: String,
    session: String,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let failed_log = Throttle::default();
    // Once the hub shuts down, what is still queued goes out, and nothing waits for more.
    let mut stopping = false;
    loop {
        let outgoing = if stopping {
            match rx.try_recv() {
                Ok(outgoing) => outgoing,
                Err(_empty_or_closed) => break,
            }
        } else {
            tokio::select! {
                biased;
                outgoing = rx.recv() => match outgoing {
                    Some(outgoing) => outgoing,
                    None => return,
                },
                () = shutdown.cancelled() => {
                    stopping = true;
                    continue;
                }
            }
        };
        publish(
            &publisher,
            &client,
            outgoing,
            &origin,
            &session,
            &failed_log,
        )
        .await;
    }
    if let Err(err) = client.flush().await {
        tracing::warn!("NATS (publish): the last frames may not have reached the broker: {err}");
    }
}

async fn publish(
    publisher: &Publisher,
    client: &Client,
    outgoing: Outgoing,
    origin: &str,
    session: &str,
    failed_log: &Throttle,
) {
    let counters = &publisher.counters;
    let len = outgoing.payload.len();
    let parts = outgoing.parts.len() as u64;
    for part in outgoing.parts {
        let mut headers = HeaderMap::new();
        Stamp {
            origin: origin.to_owned(),
            session: session.to_owned(),
            frame: outgoing.frame,
            seq: part.seq,
            parts,
        }
        .write(&mut headers);
        if part.rollup {
            headers.insert(ROLLUP, "sub");
        }
        match client
            .publish_with_headers(part.subject.clone(), headers, outgoing.payload.clone())
            .await
        {
            Ok(()) => {
                counters.messages.fetch_add(1, Ordering::Relaxed);
            }
            Err(err) => {
                counters.failed.fetch_add(1, Ordering::Relaxed);
                publisher.link.record_missed(1);
                if let Some(held) = failed_log.allow() {
                    tracing::warn!(
                        "NATS (publish): frame {} ({len} bytes) was not published on {}: {err} (raise the broker's max_payload for large frames){}",
                        outgoing.frame,
                        part.subject,
                        if held > 0 {
                            format!("; {held} more since the last line")
                        } else {
                            String::new()
                        },
                    );
                }
            }
        }
    }
    counters.frames.fetch_add(1, Ordering::Relaxed);
    counters.bytes.fetch_add(len as u64, Ordering::Relaxed);
    counters.queued_frames.fetch_sub(1, Ordering::Relaxed);
    counters.queued_bytes.fetch_sub(len, Ordering::Relaxed);
}

/// Creates the JetStream stream on each (re)connection, so that a broker that lost it (memory
/// storage, a new machine) gets it back; says so when the broker has no JetStream.
async fn keep_stream(
    js: async_nats::jetstream::Context,
    link: Arc<Link>,
    config: async_nats::jetstream::stream::Config,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut seen = 0;
    loop {
        seen = tokio::select! {
            n = link.wait_connection(seen) => n,
            () = shutdown.cancelled() => return,
        };
        link.check_server(&js.client());
        loop {
            match jetstream::ensure(&js, &config).await {
                Ok(_) => {
                    link.set_jetstream(true, None);
                    break;
                }
                Err(err) if jetstream::unavailable(&err) => {
                    tracing::warn!(
                        "NATS (publish): {} has no JetStream: frames go to edges that are connected, but edges that start late or reconnect get no history",
                        link.server
                    );
                    link.set_jetstream(
                        false,
                        Some("the broker has no JetStream: no history for late edges".to_owned()),
                    );
                    break;
                }
                Err(err) => {
                    tracing::warn!(
                        "NATS (publish): cannot set up the JetStream stream {}: {err}; trying again",
                        config.name
                    );
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                        () = shutdown.cancelled() => return,
                    }
                    if !link.is_connected() {
                        break;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use vizcast_hub::{HubConfig, Utf8Bytes};

    use super::*;
    use crate::link::{Board, Role};

    fn hub() -> Arc<Hub> {
        Hub::new(HubConfig::default()).unwrap()
    }

    fn accept(hub: &Hub, text: &str) -> Arc<Accepted> {
        hub.ingest(Utf8Bytes::from(text.to_owned())).unwrap()
    }

    #[test]
    fn a_batch_goes_to_each_of_its_streams_and_replacing_parts_roll_up() {
        let hub = hub();
        let link = Link::new(Role::Publish, "nats://127.0.0.1:1", &Board::new(&hub));
        let (publisher, _rx) = Publisher::new("vizcast", QueueLimits::default(), link);
        let frame = accept(
            &hub,
            r#"[{"stream":"a","value":1},{"stream":"lidar","points":[[0,0,0]]},{"stream":"a","value":2},{"stream":"path","line":[[0,0,0]],"append":true}]"#,
        );
        let parts = publisher.parts(&frame);
        let subjects: Vec<(&str, u64, bool)> = parts
            .iter()
            .map(|p| (p.subject.as_str(), p.seq, p.rollup))
            .collect();
        assert_eq!(
            subjects,
            [
                ("vizcast.a", 1, false),
                ("vizcast.lidar", 1, true),
                ("vizcast.path", 1, false)
            ]
        );
        let frame = accept(&hub, r#"{"stream":"a","value":3}"#);
        assert_eq!(publisher.parts(&frame)[0].seq, 2);
        let frame = accept(&hub, r#"{"stream":"path","line":[[0,0,0]]}"#);
        assert!(publisher.parts(&frame)[0].rollup);
        let frame = accept(&hub, r#"{"stream":"path","clear":true}"#);
        assert!(!publisher.parts(&frame)[0].rollup);
    }

    #[test]
    fn a_batch_of_many_streams_is_one_part_per_stream_in_first_order() {
        let hub = hub();
        let link = Link::new(Role::Publish, "nats://127.0.0.1:1", &Board::new(&hub));
        let (publisher, _rx) = Publisher::new("vizcast", QueueLimits::default(), link);
        // 40 streams, each twice, past the linear search: one part each, in first-seen order.
        let messages: Vec<String> = (0..80)
            .map(|i| format!(r#"{{"stream":"s{}","value":{i}}}"#, i % 40))
            .collect();
        let frame = accept(&hub, &format!("[{}]", messages.join(",")));
        let parts = publisher.parts(&frame);
        let subjects: Vec<String> = parts.iter().map(|p| p.subject.to_string()).collect();
        let expected: Vec<String> = (0..40).map(|i| format!("vizcast.s{i}")).collect();
        assert_eq!(subjects, expected);
        assert!(parts.iter().all(|p| p.seq == 1 && !p.rollup));
    }

    #[test]
    fn at_the_limit_the_offered_frame_is_dropped_counted_and_numbered() {
        let hub = hub();
        let link = Link::new(Role::Publish, "nats://127.0.0.1:1", &Board::new(&hub));
        let (publisher, mut rx) = Publisher::new(
            "vizcast",
            QueueLimits {
                frames: 2,
                bytes: 1 << 20,
            },
            link.clone(),
        );
        hub.add_sink(publisher.clone());
        for i in 0..5 {
            accept(&hub, &format!(r#"{{"stream":"s","value":{i}}}"#));
        }
        let c = &publisher.counters;
        assert_eq!(c.queued_frames.load(Ordering::Relaxed), 2);
        assert_eq!(c.dropped_frames.load(Ordering::Relaxed), 3);
        assert_eq!(link.missed_frames.load(Ordering::Relaxed), 3);
        // The two queued are the oldest, in order; the numbers of the dropped ones were used.
        assert_eq!(rx.try_recv().unwrap().parts[0].seq, 1);
        assert_eq!(rx.try_recv().unwrap().parts[0].seq, 2);
        let frame = accept(&hub, r#"{"stream":"s","value":9}"#);
        assert_eq!(frame.seq, 6);
        assert_eq!(rx.try_recv().unwrap().parts[0].seq, 6);
    }

    #[test]
    fn the_byte_limit_holds_but_one_frame_always_fits() {
        let hub = hub();
        let link = Link::new(Role::Publish, "nats://127.0.0.1:1", &Board::new(&hub));
        let (publisher, _rx) = Publisher::new(
            "vizcast",
            QueueLimits {
                frames: 100,
                bytes: 10,
            },
            link,
        );
        hub.add_sink(publisher.clone());
        accept(&hub, r#"{"stream":"s","value":1234567890}"#);
        accept(&hub, r#"{"stream":"s","value":1}"#);
        let c = &publisher.counters;
        assert_eq!(c.queued_frames.load(Ordering::Relaxed), 1);
        assert_eq!(c.dropped_frames.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn frames_from_the_broker_are_not_published_again() {
        let hub = hub();
        let link = Link::new(Role::Publish, "nats://127.0.0.1:1", &Board::new(&hub));
        let (publisher, mut rx) = Publisher::new("vizcast", QueueLimits::default(), link);
        hub.add_sink(publisher.clone());
        from_broker(|| accept(&hub, r#"{"stream":"s","value":1}"#));
        accept(&hub, r#"{"stream":"s","value":2}"#);
        assert_eq!(
            publisher.counters.not_republished.load(Ordering::Relaxed),
            1
        );
        assert_eq!(rx.try_recv().unwrap().frame, 2);
        assert!(rx.try_recv().is_err());
    }
}
