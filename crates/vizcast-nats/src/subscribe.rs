//! `--nats-subscribe`: an edge, fed by the broker as by one more producer.
//!
//! Every message is a frame, validated by [`Hub::ingest`] as from any producer, so producers may
//! publish straight to NATS; a frame the hub refuses is logged with its subject and counted, and
//! nothing else is affected. The edge serves its own browsers, desktop and recording from there.
//!
//! **Live frames come through a plain subscription**: the broker pushes each message as it is
//! published, with no pull round trips and no consumer state. One task drains the subscription
//! into a queue bounded by bytes and messages ([`LIVE_QUEUE_BYTES`], [`LIVE_QUEUE_MESSAGES`]),
//! so that the client's own small buffer never overflows while the edge is busy (a restore, a
//! repair, a large cloud); at the bound the arriving message is dropped and counted
//! (`live_dropped`), and the edge repairs what it lost as below.
//!
//! **With JetStream** (the broker keeps the stream of [`crate::jetstream`]):
//! - **The restore.** The edge subscribes first, then reads everything the stream retains (the
//!   latest state of every stream and its recent history, oldest first) through an ordered
//!   consumer, then takes the live messages queued meanwhile. The seam is exact by the
//!   publishers' numbers ([`crate::sequence`]): a live message the restore read already is a copy.
//!   Until the restore is read, the edge holds the hub's joins (at most
//!   `--nats-restore-timeout`), so that a viewer joining meanwhile gets the restored state in
//!   its join snapshot; `/readyz` says 503 meanwhile, and the `nats` status says `restoring`.
//! - **Repairs.** A live message whose subject's number skips (the edge's queue was full, the
//!   broker cut it as a slow consumer) is held while the edge reads that subject's retained
//!   messages from JetStream and takes those it lacks before it, in order; then the held message
//!   and the rest of the queue. What the stream no longer holds is a gap (below). After a repair
//!   that found nothing, the subject is not repaired again for [`REPAIR_INTERVAL`]: a publisher
//!   that drops frames makes gaps no repair can fill.
//! - **Resyncs.** After a reconnection, or when the queue or the client dropped messages, the
//!   edge reads, once its queue is empty, the newest retained message of every subject. One it
//!   lacks is normally still on its way live; if it has not come [`CHECK_GRACE`] later (and
//!   nothing is queued), its subject is repaired up to it. So a stream whose last message was
//!   lost still gets it, and a stream first published while the edge was away gets what the
//!   stream retains of it.
//! - A JetStream consumer that delivers nothing for twice [`STALL_CHECK`] while the broker
//!   holds newer messages of it is replaced (`consumer_stalls` in the status): a broker can keep
//!   such a consumer's heartbeats going, so the client would wait on it for ever.
//!
//! **Without JetStream**, the edge is live only (late edges get no history, and what a stall or
//! a restart loses is not recoverable); its status says so.
//!
//! Either way the publishers' numbers tell an edge what it did not get: a publisher's full
//! queue, messages the stream no longer held. Each gap is logged and counted, and viewers are
//! told in the `nats` part of the `status` message (`missed_frames`, `gaps`, `last_gap`). A gap
//! before a message that replaced its stream's state on the broker (a rollup) is counted as
//! `superseded` instead: the newest state is what the stream keeps.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use async_nats::{Client, HeaderMap, Message};
use bytes::Bytes;
use futures_util::StreamExt as _;
use parking_lot::Mutex;
use tokio::sync::Notify;
use vizcast_hub::{ClientGuard, Hub, JoinHold, Role, Utf8Bytes};

use crate::jetstream::{self, ROLLUP, StreamLimits};
use crate::link::Link;
use crate::publish::{Throttle, from_broker};
use crate::sequence::{Stamp, Tracker, Verdict};
use crate::subject::subject_to_stream;

/// Frames larger than this are ingested off the async worker (they take milliseconds to parse).
const LARGE_FRAME: usize = 256 * 1024;
/// Most messages the broker sends an edge per pull request while it reads JetStream (a restore,
/// a repair): with `--max-frame-bytes` each, the bound of what is in flight to this edge.
pub const PULL_BATCH: i64 = 256;
/// The longest a pull request waits; idle heartbeats come at half of it, and a consumer that
/// misses two is made again: how soon an edge notices a broker that came back.
pub const PULL_EXPIRES: Duration = Duration::from_secs(4);
/// A consumer that delivers nothing for two of these in a row makes the edge ask the broker
/// whether it holds newer messages (then the consumer has stalled and is replaced; see
/// `check_stall`).
pub const STALL_CHECK: Duration = Duration::from_secs(4);
/// Most bytes of live messages the edge holds while it is busy (each its bytes on the wire plus
/// [`MESSAGE_OVERHEAD`]); past it the arriving message is dropped and read back from JetStream
/// later.
pub const LIVE_QUEUE_BYTES: usize = 64 << 20;
/// Most live messages the edge holds while it is busy.
pub const LIVE_QUEUE_MESSAGES: usize = 1 << 20;
/// What a queued message costs beside its bytes on the wire (its parsed headers' map, its
/// allocations and the queue's bookkeeping).
pub const MESSAGE_OVERHEAD: usize = 512;
/// After a repair that found nothing, the subject is not repaired again for this long (gaps in
/// between are reported as they are).
pub const REPAIR_INTERVAL: Duration = Duration::from_secs(1);
/// How long after a resync a subject's newest message, lacking then, may still come live before
/// the subject is repaired up to it (and only once nothing is queued).
pub const CHECK_GRACE: Duration = Duration::from_secs(1);
/// Most such checks waiting; past it, the oldest is dropped.
const MAX_CHECKS: usize = 65_536;
/// Most subjects whose last repair time is remembered; past it, all are forgotten.
const REPAIR_MEMORY: usize = 4096;
/// Most subjects whose dropped messages the queue remembers; past it, every subject is resynced.
const DROPPED_SUBJECTS: usize = 4096;
/// Live messages taken from the queue at a time.
const POP_BATCH: usize = 512;

/// What [`Edge::start`] needs.
#[derive(Clone, Debug)]
pub struct EdgeOptions {
    /// Subjects start with this.
    pub prefix: String,
    /// The subject filter (`--nats-streams`, see [`crate::subject::pattern_to_filter`]).
    pub filter: String,
    /// The JetStream stream's bounds, if this edge creates it.
    pub stream: StreamLimits,
    /// The longest the edge holds the hub's joins while it restores (see [`Hub::hold_joins`]).
    pub restore_timeout: Duration,
}

/// Counters of an edge (atomics: written by its tasks, read by `/api/stats`).
#[derive(Debug, Default)]
pub struct EdgeCounters {
    /// Messages received.
    pub received: AtomicU64,
    /// Frames the hub accepted.
    pub accepted: AtomicU64,
    /// Frames the hub (or the headers check) refused.
    pub rejected: AtomicU64,
    /// Copies of frames taken already (batches on several subjects, what a restore or a repair
    /// read that also came live).
    pub duplicates: AtomicU64,
    /// Frames this edge never got because a newer cloud or line of their stream replaced them
    /// on the broker before it read them (a rollup): skipped, as by a lagging viewer.
    pub superseded: AtomicU64,
    /// This instance's own frames, back from the broker.
    pub own: AtomicU64,
    /// Frames read from what JetStream retained, before going live.
    pub restored_frames: AtomicU64,
    /// Their bytes.
    pub restored_bytes: AtomicU64,
    /// Whether the edge is live (the retained messages are read).
    pub live: AtomicBool,
    /// The JetStream stream sequence of the latest message read from JetStream.
    pub stream_sequence: AtomicU64,
    /// Times the per-subject numbers were forgotten at their bound.
    pub tracking_resets: AtomicU64,
    /// Times a consumer delivered nothing while the broker held newer messages, and was
    /// replaced by a new one from the next stream sequence.
    pub stalls: AtomicU64,
    /// Live messages dropped at the bound of the edge's queue (repaired from JetStream where
    /// the stream still holds them).
    pub live_dropped: AtomicU64,
    /// Repairs: a subject's retained messages read because a live message skipped numbers.
    pub repairs: AtomicU64,
    /// Resyncs: the newest message of every subject read after a reconnection or a full queue.
    pub resyncs: AtomicU64,
    /// Frames taken from JetStream by repairs and resyncs (what the live path had lost).
    pub repaired: AtomicU64,
    /// Live messages waiting in the edge's queue.
    pub queued: AtomicU64,
}

/// The broker side of `--nats-subscribe`. See the module docs.
#[derive(Debug)]
pub struct Edge {
    /// The counters.
    pub counters: EdgeCounters,
    /// The connection.
    pub link: Arc<Link>,
    /// The subject filter.
    pub filter: String,
}

/// Why reading stopped.
enum Stop {
    /// The hub shuts down.
    Shutdown,
    /// Something failed; read again after a pause.
    Retry(String),
    /// The client reconnected while JetStream was being read: read again at once (a restarted
    /// broker has forgotten the consumer, and waiting costs seconds of messages).
    Reconnected,
}

impl Edge {
    /// Starts feeding `hub` from `client`; the task ends when the hub shuts down.
    pub fn start(
        hub: &Arc<Hub>,
        client: Client,
        link: Arc<Link>,
        options: EdgeOptions,
    ) -> (Arc<Self>, tokio::task::JoinHandle<()>) {
        let edge = Arc::new(Self {
            counters: EdgeCounters::default(),
            link,
            filter: options.filter.clone(),
        });
        // Held from before the first frame: the first viewers wait for the restore.
        let hold = hub.hold_joins(
            "the edge is restoring what the NATS broker retained",
            options.restore_timeout,
        );
        edge.link.set_restoring(true);
        let task = tokio::spawn(run(edge.clone(), hub.clone(), client, options, hold));
        (edge, task)
    }
}

/// The live messages waiting to be taken, bounded by bytes and messages.
struct LiveQueue {
    state: Mutex<QueueState>,
    /// Wakes the taker when a message comes or the subscription ends.
    ready: Notify,
}

#[derive(Default)]
struct QueueState {
    messages: VecDeque<Message>,
    bytes: usize,
    /// The subscription ended.
    closed: bool,
    /// Subjects of messages dropped at the bound since the taker last asked, and whether more
    /// than [`DROPPED_SUBJECTS`] were.
    dropped: HashSet<String>,
    dropped_many: bool,
}

/// What a queued message counts against [`LIVE_QUEUE_BYTES`]: its subject, headers and payload
/// as they came, and [`MESSAGE_OVERHEAD`].
fn queued_size(message: &Message) -> usize {
    message.length.max(message.payload.len()) + MESSAGE_OVERHEAD
}

impl LiveQueue {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(QueueState::default()),
            ready: Notify::new(),
        })
    }

    /// Queues a live message; at the bound drops it instead, and remembers its subject.
    fn push(&self, message: Message, counters: &EdgeCounters) {
        let size = queued_size(&message);
        let mut state = self.state.lock();
        if !state.messages.is_empty()
            && (state.bytes + size > LIVE_QUEUE_BYTES
                || state.messages.len() >= LIVE_QUEUE_MESSAGES)
        {
            counters.live_dropped.fetch_add(1, Ordering::Relaxed);
            if state.dropped.len() < DROPPED_SUBJECTS {
                state.dropped.insert(message.subject.to_string());
            } else {
                state.dropped_many = true;
            }
            return;
        }
        state.bytes += size;
        state.messages.push_back(message);
        counters
            .queued
            .store(state.messages.len() as u64, Ordering::Relaxed);
        drop(state);
        self.ready.notify_one();
    }

    /// How many messages are queued.
    fn len(&self) -> usize {
        self.state.lock().messages.len()
    }

    fn close(&self) {
        self.state.lock().closed = true;
        self.ready.notify_one();
    }

    /// Moves up to [`POP_BATCH`] messages into `into`, waiting for one; false once the
    /// subscription ended and everything is taken.
    async fn pop(&self, into: &mut Vec<Message>, counters: &EdgeCounters) -> bool {
        loop {
            let notified = self.ready.notified();
            {
                let mut state = self.state.lock();
                let n = state.messages.len().min(POP_BATCH);
                if n > 0 {
                    let mut taken = 0;
                    for message in state.messages.drain(..n) {
                        taken += queued_size(&message);
                        into.push(message);
                    }
                    state.bytes -= taken;
                    counters
                        .queued
                        .store(state.messages.len() as u64, Ordering::Relaxed);
                    return true;
                }
                if state.closed {
                    return false;
                }
            }
            notified.await;
        }
    }

    /// The subjects of the messages dropped since the last call (`None` for all of them, when
    /// too many to remember), or nothing when none was.
    fn take_dropped(&self) -> Option<Option<HashSet<String>>> {
        let mut state = self.state.lock();
        if std::mem::take(&mut state.dropped_many) {
            state.dropped.clear();
            return Some(None);
        }
        if state.dropped.is_empty() {
            return None;
        }
        Some(Some(std::mem::take(&mut state.dropped)))
    }
}

/// Drains the subscription into the queue until it ends.
async fn pump(mut subscription: async_nats::Subscriber, queue: Arc<LiveQueue>, edge: Arc<Edge>) {
    while let Some(message) = subscription.next().await {
        queue.push(message, &edge.counters);
    }
    queue.close();
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Takes messages into the hub.
struct Ingest {
    hub: Arc<Hub>,
    edge: Arc<Edge>,
    prefix: String,
    tracker: Tracker,
    guard: ClientGuard,
    rejected_log: Throttle,
    gap_log: Throttle,
    repair_log: Throttle,
    /// When each subject was last repaired, and whether that repair found anything.
    repaired_at: HashMap<String, (Instant, bool)>,
    /// Holds the hub's joins until the restore is done.
    hold: Option<JoinHold>,
}

/// A message's stamp, read once: `Err` is what is wrong with its headers.
type Stamped = Result<Option<Stamp>, String>;

impl Ingest {
    /// The retained state is read (or there is none to read): viewers may join.
    fn restored(&mut self) {
        if self.hold.take().is_some() {
            self.edge.link.set_restoring(false);
        }
    }

    /// Takes a message; true if the hub took it as a new frame.
    fn take(&mut self, subject: &str, headers: Option<&HeaderMap>, payload: Bytes) -> bool {
        self.take_stamped(
            subject,
            Stamp::from_headers(headers),
            is_rollup(headers),
            payload,
        )
    }

    fn take_stamped(
        &mut self,
        subject: &str,
        stamp: Stamped,
        rollup: bool,
        payload: Bytes,
    ) -> bool {
        let counters = &self.edge.counters;
        counters.received.fetch_add(1, Ordering::Relaxed);
        let stamp = match stamp {
            Ok(stamp) => stamp,
            Err(why) => {
                self.hub.count_rejected();
                self.reject(subject, None, &why);
                return false;
            }
        };
        if let Some(stamp) = &stamp {
            let verdict = self.tracker.judge(subject, stamp);
            counters
                .tracking_resets
                .store(self.tracker.tracking_resets, Ordering::Relaxed);
            match verdict {
                Verdict::Own => {
                    counters.own.fetch_add(1, Ordering::Relaxed);
                    return false;
                }
                Verdict::Duplicate(gap) => {
                    if let Some(gap) = gap {
                        self.gap(&gap, rollup);
                    }
                    counters.duplicates.fetch_add(1, Ordering::Relaxed);
                    return false;
                }
                Verdict::Take(gap) => {
                    if let Some(gap) = gap {
                        self.gap(&gap, rollup);
                    }
                }
            }
        }
        let len = payload.len();
        let Ok(text) = Utf8Bytes::try_from(payload) else {
            self.hub.count_rejected();
            self.reject(subject, stamp.as_ref(), "the payload is not UTF-8");
            return false;
        };
        let multi_thread = matches!(
            tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()),
            Ok(tokio::runtime::RuntimeFlavor::MultiThread)
        );
        let hub = &self.hub;
        let result = if multi_thread && len > LARGE_FRAME {
            tokio::task::block_in_place(|| from_broker(|| hub.ingest(text)))
        } else {
            from_broker(|| hub.ingest(text))
        };
        match result {
            Ok(_) => {
                counters.accepted.fetch_add(1, Ordering::Relaxed);
                let client = self.guard.client();
                client.frames.fetch_add(1, Ordering::Relaxed);
                client.bytes.fetch_add(len as u64, Ordering::Relaxed);
                true
            }
            Err(err) => {
                self.reject(subject, stamp.as_ref(), &err.to_string());
                false
            }
        }
    }

    /// Whether a live message's subject should be repaired before it is taken: its number skips,
    /// it does not replace its stream's state, and the subject was not repaired just now.
    fn wants_repair(&mut self, subject: &str, stamp: &Stamped, rollup: bool) -> bool {
        let Ok(Some(stamp)) = stamp else {
            return false;
        };
        if rollup || !self.lacks_before(subject, stamp) {
            return false;
        }
        self.may_repair(subject)
    }

    /// Whether JetStream may hold messages of `subject` before this one that the edge lacks:
    /// its number skips, or (once the restore is read) it is the first heard of a subject that
    /// started before it, a new stream or a restarted publisher, while the edge was away or
    /// dropping.
    fn lacks_before(&self, subject: &str, stamp: &Stamp) -> bool {
        if stamp.session == self.hub.session() {
            return false;
        }
        match self.tracker.last(&stamp.session, subject) {
            Some(last) => stamp.seq > last + 1,
            None => stamp.seq > 1 && self.hold.is_none() && self.tracker.tracking_resets == 0,
        }
    }

    /// Whether `subject` may be repaired now (not within [`REPAIR_INTERVAL`] of a repair that
    /// found nothing); if so, notes it.
    fn may_repair(&mut self, subject: &str) -> bool {
        let now = Instant::now();
        if let Some((at, found)) = self.repaired_at.get(subject)
            && !found
            && now.duration_since(*at) < REPAIR_INTERVAL
        {
            return false;
        }
        if self.repaired_at.len() >= REPAIR_MEMORY {
            self.repaired_at.clear();
        }
        self.repaired_at.insert(subject.to_owned(), (now, false));
        true
    }

    fn reject(&self, subject: &str, stamp: Option<&Stamp>, why: &str) {
        self.edge.counters.rejected.fetch_add(1, Ordering::Relaxed);
        self.guard
            .client()
            .dropped_frames
            .fetch_add(1, Ordering::Relaxed);
        if let Some(held) = self.rejected_log.allow() {
            let from = stamp.map_or_else(String::new, |s| {
                format!(" (frame {} of {} {})", s.frame, s.origin, s.session)
            });
            tracing::warn!(
                "NATS (subscribe): rejected a frame on subject {subject}{from}: {why}{}",
                held_note(held)
            );
        }
    }

    /// A gap before a message that replaced its stream's state on the broker (`rollup`) is what
    /// it superseded; any other is a loss.
    fn gap(&self, gap: &crate::sequence::Gap, rollup: bool) {
        if rollup {
            self.edge
                .counters
                .superseded
                .fetch_add(gap.missed, Ordering::Relaxed);
            return;
        }
        let stream = subject_to_stream(&self.prefix, &gap.subject).unwrap_or(gap.subject.clone());
        let last = gap.first + gap.missed - 1;
        let description = format!(
            "{} frames of {stream} from {} (their numbers {}–{last}) never arrived",
            gap.missed, gap.origin, gap.first
        );
        if let Some(held) = self.gap_log.allow() {
            tracing::warn!(
                "NATS (subscribe): missed {description}; the stream goes on from the next one{}",
                held_note(held)
            );
        }
        self.edge.link.record_gap(gap.missed, description);
    }
}

/// Whether a message replaced its stream's state on the broker (`Nats-Rollup`).
fn is_rollup(headers: Option<&HeaderMap>) -> bool {
    headers.is_some_and(|h| h.get(ROLLUP).is_some())
}

/// What a throttled log line adds about the lines held back since the last one.
pub(crate) fn held_note(held: u64) -> String {
    if held > 0 {
        format!(" ({held} more since the last such line)")
    } else {
        String::new()
    }
}

async fn run(edge: Arc<Edge>, hub: Arc<Hub>, client: Client, options: EdgeOptions, hold: JoinHold) {
    let link = edge.link.clone();
    let Some(guard) = hub.register(Role::Producer, format!("nats {}", link.server)) else {
        tracing::error!(
            "NATS (subscribe): too many producers (--max-producers): this edge takes nothing from {}",
            link.server
        );
        return;
    };
    let shutdown = hub.shutdown_token();
    let mut ingest = Ingest {
        hub: hub.clone(),
        edge: edge.clone(),
        prefix: options.prefix.clone(),
        tracker: Tracker::new(hub.session()),
        guard,
        rejected_log: Throttle::default(),
        gap_log: Throttle::default(),
        repair_log: Throttle::default(),
        repaired_at: HashMap::new(),
        hold: Some(hold),
    };
    let js = async_nats::jetstream::new(client.clone());
    let config = jetstream::config(&options.prefix, options.stream);
    loop {
        tokio::select! {
            _ = link.wait_connection(0) => {}
            () = shutdown.cancelled() => return,
        }
        link.check_server(&client);
        let stop = match jetstream::ensure(&js, &config).await {
            Ok(stream) => {
                link.set_jetstream(true, None);
                read(&mut ingest, &client, Some(&stream), &options.filter).await
            }
            Err(err) if jetstream::unavailable(&err) => {
                tracing::warn!(
                    "NATS (subscribe): {} has no JetStream: this edge is live only (no history when it starts or reconnects, and what it misses is lost)",
                    link.server
                );
                link.set_jetstream(
                    false,
                    Some("the broker has no JetStream: live only, no history, no recovery of missed frames".to_owned()),
                );
                edge.counters.live.store(true, Ordering::Relaxed);
                ingest.restored();
                read(&mut ingest, &client, None, &options.filter).await
            }
            Err(err) => Stop::Retry(format!(
                "cannot open the JetStream stream {}: {err}",
                config.name
            )),
        };
        match stop {
            Stop::Shutdown => return,
            Stop::Reconnected => {}
            Stop::Retry(why) => {
                tracing::warn!("NATS (subscribe): {why}; trying again");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    () = shutdown.cancelled() => return,
                }
            }
        }
    }
}

/// Subscribes, catches up from JetStream (the restore the first time, a resync after), then
/// takes live messages until the hub shuts down or something fails. A reconnection while live
/// is followed by a resync on the same subscription (the client subscribes again by itself).
async fn read(
    ingest: &mut Ingest,
    client: &Client,
    stream: Option<&async_nats::jetstream::stream::Stream>,
    filter: &str,
) -> Stop {
    let connection = ingest.edge.link.connection();
    let subscription = match client.subscribe(filter.to_owned()).await {
        Ok(subscription) => subscription,
        Err(err) => return Stop::Retry(format!("cannot subscribe to {filter}: {err}")),
    };
    // The broker has the subscription before JetStream is read: nothing falls between the two
    // (the consumer is asked for later on the same connection).
    let shutdown = ingest.hub.shutdown_token();
    tokio::select! {
        flushed = tokio::time::timeout(PULL_EXPIRES, client.flush()) => match flushed {
            Ok(Ok(())) => {}
            Ok(Err(err)) => return Stop::Retry(format!("cannot subscribe to {filter}: {err}")),
            Err(_) => return Stop::Retry(format!("cannot subscribe to {filter}: the broker did not answer")),
        },
        () = shutdown.cancelled() => return Stop::Shutdown,
    }
    let queue = LiveQueue::new();
    let _pump = AbortOnDrop(tokio::spawn(pump(
        subscription,
        queue.clone(),
        ingest.edge.clone(),
    )));
    let mut reader = Reader {
        stream,
        filter,
        connection,
    };
    // A resync to make (of every subject, or of these), once nothing is held in the queue; its
    // checks are run only then too: a repair up to a subject's newest message while older live
    // messages wait would skip them, and count those the stream no longer holds as missed.
    let mut resync_due: Option<Option<HashSet<String>>> = None;
    // What resyncs found lacking, to repair if live messages have not brought it in time.
    let mut checks = VecDeque::new();
    if stream.is_some() {
        if ingest.edge.counters.live.load(Ordering::Relaxed) {
            resync_due = Some(None);
        } else if let Err(stop) = restore(ingest, &reader).await {
            return stop;
        }
    }
    let mut batch = Vec::with_capacity(POP_BATCH);
    let mut slow = ingest.edge.link.slow_consumer.load(Ordering::Relaxed);
    // After a reconnection: how many queued messages (those received before it) are still to be
    // taken before the edge resyncs. The client subscribes again by itself as it reconnects, so
    // the queue goes on.
    let mut before_resync: Option<usize> = None;
    loop {
        if before_resync == Some(0) {
            before_resync = None;
            reader.connection = ingest.edge.link.connection();
            resync_due = Some(None);
        }
        if stream.is_some() {
            // Messages were dropped (by the queue at its bound, or by the client's own buffer):
            // a subject may have lost its last one, which no later message reveals.
            let client_dropped = ingest.edge.link.slow_consumer.load(Ordering::Relaxed);
            if client_dropped != slow {
                slow = client_dropped;
                resync_due = Some(None);
            }
            if let Some(dropped) = queue.take_dropped() {
                resync_due = match (resync_due, dropped) {
                    (Some(None), _) | (_, None) => Some(None),
                    (Some(Some(mut due)), Some(dropped)) => {
                        due.extend(dropped);
                        Some(Some(due))
                    }
                    (None, Some(dropped)) => Some(Some(dropped)),
                };
            }
            if queue.len() == 0 {
                if resync_due.is_some() {
                    let only = resync_due.take().flatten();
                    if let Err(stop) = reader.resync(ingest, only.as_ref(), &mut checks).await {
                        return stop;
                    }
                }
                if let Err(stop) = reader.run_checks(ingest, &mut checks).await {
                    return stop;
                }
            }
        }
        let next_check = checks.front().map(|check| check.due);
        let more = tokio::select! {
            more = queue.pop(&mut batch, &ingest.edge.counters) => more,
            () = tokio::time::sleep_until(next_check.unwrap_or_else(Instant::now).into()), if next_check.is_some() => continue,
            _ = ingest.edge.link.wait_connection(reader.connection), if before_resync.is_none() => {
                before_resync = Some(queue.len());
                continue;
            }
            () = shutdown.cancelled() => return Stop::Shutdown,
        };
        if !more {
            return Stop::Retry(format!("the subscription to {filter} ended"));
        }
        if let Some(left) = &mut before_resync {
            *left = left.saturating_sub(batch.len());
        }
        for message in batch.drain(..) {
            let subject = message.subject.as_str();
            let stamp = Stamp::from_headers(message.headers.as_ref());
            let rollup = is_rollup(message.headers.as_ref());
            if stream.is_some()
                && ingest.wants_repair(subject, &stamp, rollup)
                && let Ok(Some(held)) = &stamp
                && let Err(stop) = reader
                    .repair(
                        ingest,
                        subject,
                        Until {
                            session: &held.session,
                            seq: held.seq,
                            inclusive: false,
                        },
                    )
                    .await
            {
                return stop;
            }
            ingest.take_stamped(subject, stamp, rollup, message.payload);
        }
    }
}

/// Reads the stream's retained messages before going live.
async fn restore(ingest: &mut Ingest, reader: &Reader<'_>) -> Result<(), Stop> {
    let edge = ingest.edge.clone();
    let counters = &edge.counters;
    tracing::info!(
        "NATS (subscribe): restoring what JetStream retains of {}, then live",
        reader.filter
    );
    reader
        .read_stored(ingest, reader.filter, Start::First, |ingest, message| {
            let counters = &ingest.edge.counters;
            counters.restored_frames.fetch_add(1, Ordering::Relaxed);
            counters
                .restored_bytes
                .fetch_add(message.payload.len() as u64, Ordering::Relaxed);
            ingest.take(
                message.subject.as_str(),
                message.headers.as_ref(),
                message.payload,
            );
            true
        })
        .await?;
    counters.live.store(true, Ordering::Relaxed);
    tracing::info!(
        "NATS (subscribe): restored {} frames ({} bytes) from JetStream; live",
        counters.restored_frames.load(Ordering::Relaxed),
        counters.restored_bytes.load(Ordering::Relaxed)
    );
    ingest.restored();
    Ok(())
}

/// Where a read of JetStream starts.
#[derive(Clone, Copy)]
enum Start {
    /// The oldest retained message.
    First,
    /// The newest retained message of each subject.
    LastPerSubject,
    /// The message after this stream sequence.
    After(u64),
}

/// Reads JetStream for one connection of the edge.
struct Reader<'a> {
    stream: Option<&'a async_nats::jetstream::stream::Stream>,
    filter: &'a str,
    connection: u64,
}

impl Reader<'_> {
    /// Reads what the stream holds of `filter` from `start`, up to what it held when the read
    /// began, handing each message to `each` (which returns false to stop early). A consumer
    /// that stalls is replaced (see [`check_stall`]).
    async fn read_stored(
        &self,
        ingest: &mut Ingest,
        filter: &str,
        start: Start,
        mut each: impl FnMut(&mut Ingest, Message) -> bool,
    ) -> Result<(), Stop> {
        let Some(stream) = self.stream else {
            return Ok(());
        };
        let mut opened = open(stream, filter, start).await.map_err(Stop::Retry)?;
        // Messages stored after the consumer was made also came live.
        let mut remaining = opened.pending;
        let mut last_sequence = match start {
            Start::After(after) => after,
            Start::First | Start::LastPerSubject => 0,
        };
        // The stream sequence at the end of a silent period, if the consumer was silent then.
        let mut suspect: Option<u64> = None;
        let shutdown = ingest.hub.shutdown_token();
        let result = loop {
            if remaining == 0 {
                break Ok(());
            }
            let message = tokio::select! {
                message = tokio::time::timeout(STALL_CHECK, opened.messages.next()) => message,
                _ = ingest.edge.link.wait_connection(self.connection) => break Err(Stop::Reconnected),
                () = shutdown.cancelled() => break Err(Stop::Shutdown),
            };
            let message = match message {
                Ok(Some(Ok(message))) => message,
                Ok(Some(Err(err))) => {
                    break Err(Stop::Retry(format!("the JetStream consumer failed: {err}")));
                }
                Ok(None) => break Err(Stop::Retry("the JetStream consumer ended".to_owned())),
                Err(_silent) => {
                    // Silent twice in a row: a process that was stopped (SIGSTOP, a suspended
                    // laptop) finds its timer expired before it has read what waits in its
                    // socket, so one silent period alone proves nothing.
                    if suspect != Some(last_sequence) {
                        suspect = Some(last_sequence);
                        continue;
                    }
                    if matches!(start, Start::LastPerSubject) {
                        // What is left of a scan of newest messages cannot be read on from a
                        // sequence; live messages reveal what it would have found.
                        break Ok(());
                    }
                    match check_stall(stream, filter, last_sequence).await {
                        Ok(None) => break Ok(()),
                        Ok(Some(fresh)) => {
                            ingest.edge.counters.stalls.fetch_add(1, Ordering::Relaxed);
                            suspect = None;
                            tracing::warn!(
                                "NATS (subscribe): the JetStream consumer {} delivered nothing for {} s while the broker holds {} newer messages of {filter}; reading on through a new consumer from stream sequence {}",
                                opened.name,
                                2 * STALL_CHECK.as_secs(),
                                fresh.pending,
                                last_sequence + 1
                            );
                            let _ = stream.delete_consumer(&opened.name).await;
                            remaining = remaining.min(fresh.pending);
                            opened = fresh;
                        }
                        Err(why) => break Err(Stop::Retry(why)),
                    }
                    continue;
                }
            };
            suspect = None;
            let (sequence, pending) = match message.info() {
                Ok(info) => (info.stream_sequence, info.pending),
                Err(err) => {
                    break Err(Stop::Retry(format!(
                        "a JetStream message without its info: {err}"
                    )));
                }
            };
            last_sequence = sequence;
            ingest
                .edge
                .counters
                .stream_sequence
                .fetch_max(sequence, Ordering::Relaxed);
            if !each(ingest, message.message) {
                break Ok(());
            }
            remaining = remaining.saturating_sub(1).min(pending);
        };
        // Done with it: the broker need not keep it until it expires.
        drop(opened.messages);
        let _ = stream.delete_consumer(&opened.name).await;
        result
    }

    /// Reads `subject`'s retained messages of one publishing run and takes those the edge lacks,
    /// in order, up to `until`: never past a live message the edge holds, so that nothing queued
    /// is skipped.
    async fn repair(
        &self,
        ingest: &mut Ingest,
        subject: &str,
        until: Until<'_>,
    ) -> Result<(), Stop> {
        ingest.edge.counters.repairs.fetch_add(1, Ordering::Relaxed);
        let before = ingest.edge.counters.accepted.load(Ordering::Relaxed);
        let read = self
            .read_stored(ingest, subject, Start::First, |ingest, message| {
                // Messages without numbers (published straight to NATS) cannot be told from
                // what came live, nor can broken ones: a repair leaves them.
                let Ok(Some(stamp)) = Stamp::from_headers(message.headers.as_ref()) else {
                    return true;
                };
                if stamp.session != until.session {
                    return true;
                }
                if stamp.seq > until.seq || (stamp.seq == until.seq && !until.inclusive) {
                    // The gap is filled as far as the stream could.
                    return false;
                }
                let subject = message.subject.as_str();
                // Taken already (most of what a subject retains): not a copy worth counting.
                if ingest
                    .tracker
                    .last(&stamp.session, subject)
                    .is_some_and(|last| stamp.seq <= last)
                {
                    return true;
                }
                let rollup = is_rollup(message.headers.as_ref());
                ingest.take_stamped(subject, Ok(Some(stamp)), rollup, message.payload);
                true
            })
            .await;
        let taken = ingest.edge.counters.accepted.load(Ordering::Relaxed) - before;
        if taken > 0
            && let Some((_, found)) = ingest.repaired_at.get_mut(subject)
        {
            *found = true;
        }
        ingest
            .edge
            .counters
            .repaired
            .fetch_add(taken, Ordering::Relaxed);
        if let Some(held) = ingest.repair_log.allow() {
            tracing::info!(
                "NATS (subscribe): {subject} skipped numbers; read {taken} frames of it back from JetStream{}",
                held_note(held)
            );
        }
        read
    }

    /// Reads the newest retained message of every subject of the filter (of `only`, if given)
    /// and notes, as a [`Check`], each one the edge lacks. The live subscription normally brings
    /// it (a resync cannot tell a message lost from one still on its way); a check still due
    /// [`CHECK_GRACE`] later repairs its subject up to it. After a reconnection or a drop, this
    /// finds what was lost even where nothing followed it.
    async fn resync(
        &self,
        ingest: &mut Ingest,
        only: Option<&HashSet<String>>,
        checks: &mut VecDeque<Check>,
    ) -> Result<(), Stop> {
        ingest.edge.counters.resyncs.fetch_add(1, Ordering::Relaxed);
        let due = Instant::now() + CHECK_GRACE;
        self.read_stored(
            ingest,
            self.filter,
            Start::LastPerSubject,
            |ingest, message| {
                let subject = message.subject.as_str();
                if only.is_some_and(|only| !only.contains(subject)) {
                    return true;
                }
                // Messages without numbers (published straight to NATS) cannot be told from what
                // came live: a resync leaves them.
                let Ok(Some(stamp)) = Stamp::from_headers(message.headers.as_ref()) else {
                    return true;
                };
                if stamp.session == ingest.hub.session()
                    || ingest
                        .tracker
                        .last(&stamp.session, subject)
                        .is_some_and(|last| stamp.seq <= last)
                {
                    return true;
                }
                if checks.len() >= MAX_CHECKS {
                    checks.pop_front();
                }
                checks.push_back(Check {
                    due,
                    subject: subject.to_owned(),
                    session: stamp.session,
                    seq: stamp.seq,
                });
                true
            },
        )
        .await
    }

    /// Repairs the subjects of the checks that are due and still lacking.
    async fn run_checks(
        &self,
        ingest: &mut Ingest,
        checks: &mut VecDeque<Check>,
    ) -> Result<(), Stop> {
        let now = Instant::now();
        while checks.front().is_some_and(|check| check.due <= now) {
            let Some(check) = checks.pop_front() else {
                break;
            };
            if ingest
                .tracker
                .last(&check.session, &check.subject)
                .is_some_and(|last| check.seq <= last)
            {
                continue;
            }
            let until = Until {
                session: &check.session,
                seq: check.seq,
                inclusive: true,
            };
            self.repair(ingest, &check.subject, until).await?;
        }
        Ok(())
    }
}

/// How far a repair reads: a publishing run's messages up to this number.
#[derive(Clone, Copy)]
struct Until<'a> {
    session: &'a str,
    seq: u64,
    /// Whether the message numbered `seq` is taken too (a resync's check), or held by the caller
    /// (a live message that revealed the gap).
    inclusive: bool,
}

/// A subject's newest retained message that the edge lacked at a resync.
#[derive(Debug)]
struct Check {
    due: Instant,
    subject: String,
    session: String,
    seq: u64,
}

/// An ordered consumer, with what it had to deliver when it was made.
struct Opened {
    messages: pull::Ordered,
    pending: u64,
    name: String,
}

/// Opens an ordered consumer of `filter` from `start`.
async fn open(
    stream: &async_nats::jetstream::stream::Stream,
    filter: &str,
    start: Start,
) -> Result<Opened, String> {
    let deliver_policy = match start {
        Start::First | Start::After(0) => DeliverPolicy::All,
        Start::LastPerSubject => DeliverPolicy::LastPerSubject,
        Start::After(after) => DeliverPolicy::ByStartSequence {
            start_sequence: after + 1,
        },
    };
    let consumer = stream
        .create_consumer(pull::OrderedConfig {
            filter_subject: filter.to_owned(),
            deliver_policy,
            max_batch: PULL_BATCH,
            max_expires: PULL_EXPIRES,
            ..pull::OrderedConfig::default()
        })
        .await
        .map_err(|err| format!("cannot make a JetStream consumer: {err}"))?;
    let pending = consumer.cached_info().num_pending;
    let name = consumer.cached_info().name.clone();
    let messages = consumer
        .messages()
        .await
        .map_err(|err| format!("cannot read the JetStream consumer: {err}"))?;
    Ok(Opened {
        messages,
        pending,
        name,
    })
}

/// Whether the consumer has stalled: it delivered nothing for twice [`STALL_CHECK`] while the broker
/// holds messages of `filter` after `after`. If so, the fresh consumer that replaces it is
/// returned. A broker can keep a consumer's heartbeats going while it delivers nothing (a paused
/// consumer, a lost pull), which the client's own recovery does not notice; this does.
async fn check_stall(
    stream: &async_nats::jetstream::stream::Stream,
    filter: &str,
    after: u64,
) -> Result<Option<Opened>, String> {
    let info = stream
        .get_info()
        .await
        .map_err(|err| format!("cannot read the JetStream stream's state: {err}"))?;
    if info.state.last_sequence <= after {
        return Ok(None);
    }
    // Newer messages are stored; whether any is ours (the filter may be narrower than the
    // stream) only a consumer of the filter can say.
    let probe = open(stream, filter, Start::After(after)).await?;
    if probe.pending > 0 {
        return Ok(Some(probe));
    }
    // Not a stall: nothing of ours is waiting. The probe goes (it would expire by itself).
    drop(probe.messages);
    let _ = stream.delete_consumer(&probe.name).await;
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(subject: &str, bytes: usize) -> Message {
        Message {
            subject: subject.into(),
            reply: None,
            payload: Bytes::from(vec![b'x'; bytes]),
            headers: None,
            status: None,
            description: None,
            length: bytes,
        }
    }

    #[tokio::test]
    async fn the_live_queue_drops_at_its_byte_bound_and_remembers_what_it_dropped() {
        let queue = LiveQueue::new();
        let counters = EdgeCounters::default();
        // A message larger than the whole bound is still taken into an empty queue.
        queue.push(message("v.big", LIVE_QUEUE_BYTES * 2), &counters);
        queue.push(message("v.a", 10), &counters);
        queue.push(message("v.b", 10), &counters);
        assert_eq!(counters.live_dropped.load(Ordering::Relaxed), 2);
        let mut batch = Vec::new();
        assert!(queue.pop(&mut batch, &counters).await);
        assert_eq!(batch.len(), 1);
        let dropped = queue.take_dropped().unwrap().unwrap();
        assert_eq!(dropped, HashSet::from(["v.a".to_owned(), "v.b".to_owned()]));
        assert!(queue.take_dropped().is_none(), "asked once");
        // Emptied, it takes messages up to its bound again, in order.
        let each = LIVE_QUEUE_BYTES / 4;
        for i in 0..6 {
            queue.push(
                message(&format!("v.{i}"), each - MESSAGE_OVERHEAD),
                &counters,
            );
        }
        assert_eq!(counters.live_dropped.load(Ordering::Relaxed), 4);
        assert_eq!(counters.queued.load(Ordering::Relaxed), 4);
        batch.clear();
        assert!(queue.pop(&mut batch, &counters).await);
        let subjects: Vec<&str> = batch.iter().map(|m| m.subject.as_str()).collect();
        assert_eq!(subjects, ["v.0", "v.1", "v.2", "v.3"]);
        assert_eq!(queue.state.lock().bytes, 0);
        // Too many dropped subjects to remember: every subject is resynced.
        queue.push(message("v.fill", LIVE_QUEUE_BYTES), &counters);
        for i in 0..=DROPPED_SUBJECTS {
            queue.push(message(&format!("v.d{i}"), 1), &counters);
        }
        assert_eq!(queue.take_dropped(), Some(None));
        // The subscription ends: what is queued is still taken, then the taker hears of it.
        queue.close();
        batch.clear();
        assert!(queue.pop(&mut batch, &counters).await);
        batch.clear();
        assert!(!queue.pop(&mut batch, &counters).await);
    }
}
