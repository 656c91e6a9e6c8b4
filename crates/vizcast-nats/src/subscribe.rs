//! `--nats-subscribe`: an edge, fed by the broker as by one more producer.
//!
//! Every message is a frame, validated by [`Hub::ingest`] as from any producer, so producers may
//! publish straight to NATS; a frame the hub refuses is logged with its subject and counted, and
//! nothing else is affected. The edge serves its own browsers, desktop and recording from there.
//!
//! **With JetStream** (the broker keeps the stream of [`crate::jetstream`]), the edge reads
//! through one ordered consumer, first everything the stream retains (the latest state of every
//! stream and its recent history, oldest first, as the hub would have accepted it), then live
//! messages as they are stored: the broker hands over from the one to the other, so there is no
//! gap and no duplicate at the seam. When the consumer is lost (a broker restart, a stalled
//! edge) it is made again from the next stream sequence, so nothing the broker still holds is
//! missed. A consumer that delivers nothing for twice [`STALL_CHECK`] while the broker holds newer
//! messages of the filter is replaced the same way (`consumer_stalls` in the status): a broker
//! can keep such a consumer's heartbeats going, so the client would wait on it for ever.
//!
//! Until it has read what the stream retained, the edge holds the hub's joins (at most
//! `--nats-restore-timeout`), so that a viewer joining meanwhile gets the restored state in its
//! join snapshot, not an empty snapshot followed by the restore as live frames; `/readyz` says
//! 503 meanwhile, and the `nats` status says `restoring`.
//!
//! **Without JetStream**, the edge takes a plain subscription: live only (late edges get no
//! history, and what a stall or a restart loses is not recoverable); its status says so.
//!
//! Either way the publishers' numbers ([`crate::sequence`]) tell an edge what it did not get: a
//! publisher's full queue, messages the stream no longer held when a stalled edge came back, a
//! slow subscription. Each gap is logged and counted, and viewers are told in the `nats` part of
//! the `status` message (`missed_frames`, `gaps`, `last_gap`). The latest state of that stream
//! is restored by the messages that follow: what the stream holds is read in order, and the
//! newest message of a subject is the last one it evicts.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use async_nats::{Client, HeaderMap};
use bytes::Bytes;
use futures_util::StreamExt as _;
use vizcast_hub::{ClientGuard, Hub, JoinHold, Role, Utf8Bytes};

use crate::jetstream::{self, ROLLUP, StreamLimits};
use crate::link::Link;
use crate::publish::{Throttle, from_broker};
use crate::sequence::{Stamp, Tracker, Verdict};
use crate::subject::subject_to_stream;

/// Frames larger than this are ingested off the async worker (they take milliseconds to parse).
const LARGE_FRAME: usize = 256 * 1024;
/// Most messages the broker sends an edge per pull request: with `--max-frame-bytes` each, the
/// bound of what is in flight to this edge.
pub const PULL_BATCH: i64 = 256;
/// The longest a pull request waits; idle heartbeats come at half of it, and a consumer that
/// misses two is made again: how soon an edge notices a broker that came back.
pub const PULL_EXPIRES: Duration = Duration::from_secs(4);
/// A consumer that delivers nothing for two of these in a row makes the edge ask the broker
/// whether it holds newer messages (then the consumer has stalled and is replaced; see
/// [`check_stall`]).
pub const STALL_CHECK: Duration = Duration::from_secs(4);

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

/// Counters of an edge (atomics: written by its task, read by `/api/stats`).
#[derive(Debug, Default)]
pub struct EdgeCounters {
    /// Messages received.
    pub received: AtomicU64,
    /// Frames the hub accepted.
    pub accepted: AtomicU64,
    /// Frames the hub (or the headers check) refused.
    pub rejected: AtomicU64,
    /// Copies of frames taken already (batches on several subjects, redeliveries).
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
    /// The JetStream stream sequence of the latest message read.
    pub stream_sequence: AtomicU64,
    /// Times the per-subject numbers were forgotten at their bound.
    pub tracking_resets: AtomicU64,
    /// Times a consumer delivered nothing while the broker held newer messages, and was
    /// replaced by a new one from the next stream sequence.
    pub stalls: AtomicU64,
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
    /// The client reconnected to the broker: read again at once (a restarted broker has
    /// forgotten the consumer, and waiting for the client to notice costs seconds of messages).
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

/// Takes messages into the hub.
struct Ingest {
    hub: Arc<Hub>,
    edge: Arc<Edge>,
    prefix: String,
    tracker: Tracker,
    guard: ClientGuard,
    rejected_log: Throttle,
    gap_log: Throttle,
    /// Holds the hub's joins until the restore is done.
    hold: Option<JoinHold>,
}

impl Ingest {
    /// The retained state is read (or there is none to read): viewers may join.
    fn restored(&mut self) {
        if self.hold.take().is_some() {
            self.edge.link.set_restoring(false);
        }
    }

    fn take(&mut self, subject: &str, headers: Option<&HeaderMap>, payload: Bytes) {
        let counters = &self.edge.counters;
        counters.received.fetch_add(1, Ordering::Relaxed);
        let stamp = match Stamp::from_headers(headers) {
            Ok(stamp) => stamp,
            Err(why) => {
                self.hub.count_rejected();
                self.reject(subject, None, &why);
                return;
            }
        };
        let rollup = headers.is_some_and(|h| h.get(ROLLUP).is_some());
        if let Some(stamp) = &stamp {
            let verdict = self.tracker.judge(subject, stamp);
            counters
                .tracking_resets
                .store(self.tracker.tracking_resets, Ordering::Relaxed);
            match verdict {
                Verdict::Own => {
                    counters.own.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Verdict::Duplicate(gap) => {
                    if let Some(gap) = gap {
                        self.gap(&gap, rollup);
                    }
                    counters.duplicates.fetch_add(1, Ordering::Relaxed);
                    return;
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
            return;
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
            }
            Err(err) => self.reject(subject, stamp.as_ref(), &err.to_string()),
        }
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

fn held_note(held: u64) -> String {
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
                read_jetstream(&mut ingest, &stream, &options.filter).await
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
                read_core(&mut ingest, &client, &options.filter).await
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

/// An ordered consumer opened after a stream sequence, with what it had to deliver then.
struct Opened {
    messages: pull::Ordered,
    pending: u64,
    name: String,
}

/// Opens an ordered consumer of `filter` from the stream sequence after `after` (the start when
/// `after` is 0).
async fn open(
    stream: &async_nats::jetstream::stream::Stream,
    filter: &str,
    after: u64,
) -> Result<Opened, String> {
    let deliver_policy = if after == 0 {
        DeliverPolicy::All
    } else {
        DeliverPolicy::ByStartSequence {
            start_sequence: after + 1,
        }
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
    let probe = open(stream, filter, after).await?;
    if probe.pending > 0 {
        return Ok(Some(probe));
    }
    // Not a stall: nothing of ours is waiting. The probe goes (it would expire by itself).
    drop(probe.messages);
    let _ = stream.delete_consumer(&probe.name).await;
    Ok(None)
}

/// Reads the stream through an ordered consumer from where this edge left off (the start, the
/// first time).
async fn read_jetstream(
    ingest: &mut Ingest,
    stream: &async_nats::jetstream::stream::Stream,
    filter: &str,
) -> Stop {
    let counters = &ingest.edge.counters;
    let connection = ingest.edge.link.connection();
    let mut after = counters.stream_sequence.load(Ordering::Relaxed);
    // A stream whose sequence went back (a broker that lost what it had not written to disk, a
    // stream made again) is read from its start: waiting for it to pass the old number would
    // read nothing for as long.
    if after > 0
        && let Ok(info) = stream.get_info().await
        && info.state.last_sequence < after
    {
        tracing::warn!(
            "NATS (subscribe): the stream's last sequence ({}) is below the last one this edge read ({after}): the broker lost messages or the stream was made again; reading it from its start (what was read already is skipped)",
            info.state.last_sequence
        );
        after = 0;
        counters.stream_sequence.store(0, Ordering::Relaxed);
    }
    let opened = match open(stream, filter, after).await {
        Ok(opened) => opened,
        Err(why) => return Stop::Retry(why),
    };
    let pending = opened.pending;
    let restoring = !counters.live.load(Ordering::Relaxed);
    if restoring {
        tracing::info!(
            "NATS (subscribe): restoring {pending} retained messages of {filter} from JetStream, then live"
        );
    } else {
        tracing::info!(
            "NATS (subscribe): reading {filter} from JetStream again after stream sequence {after} ({pending} messages to catch up)"
        );
    }
    if pending == 0 && restoring {
        went_live(counters);
        ingest.restored();
    }
    let mut messages = opened.messages;
    let mut consumer = opened.name;
    // The stream sequence at the end of a silent period, if the consumer was silent then.
    let mut suspect: Option<u64> = None;
    let shutdown = ingest.hub.shutdown_token();
    loop {
        let message = tokio::select! {
            message = tokio::time::timeout(STALL_CHECK, messages.next()) => message,
            _ = ingest.edge.link.wait_connection(connection) => return Stop::Reconnected,
            () = shutdown.cancelled() => return Stop::Shutdown,
        };
        let message = match message {
            Ok(Some(Ok(message))) => message,
            Ok(Some(Err(err))) => {
                return Stop::Retry(format!("the JetStream consumer failed: {err}"));
            }
            Ok(None) => return Stop::Retry("the JetStream consumer ended".to_owned()),
            Err(_silent) => {
                let counters = &ingest.edge.counters;
                let after = counters.stream_sequence.load(Ordering::Relaxed);
                // Silent twice in a row: a process that was stopped (SIGSTOP, a suspended
                // laptop) finds its timer expired before it has read what waits in its socket,
                // so one silent period alone proves nothing.
                if suspect != Some(after) {
                    suspect = Some(after);
                    continue;
                }
                match check_stall(stream, filter, after).await {
                    Ok(None) => {}
                    Ok(Some(fresh)) => {
                        counters.stalls.fetch_add(1, Ordering::Relaxed);
                        suspect = None;
                        tracing::warn!(
                            "NATS (subscribe): the JetStream consumer {consumer} delivered nothing for {} s while the broker holds {} newer messages of {filter}; reading on through a new consumer from stream sequence {}",
                            2 * STALL_CHECK.as_secs(),
                            fresh.pending,
                            after + 1
                        );
                        let _ = stream.delete_consumer(&consumer).await;
                        messages = fresh.messages;
                        consumer = fresh.name;
                    }
                    Err(why) => return Stop::Retry(why),
                }
                continue;
            }
        };
        suspect = None;
        let (sequence, pending) = match message.info() {
            Ok(info) => (info.stream_sequence, info.pending),
            Err(err) => return Stop::Retry(format!("a JetStream message without its info: {err}")),
        };
        let counters = &ingest.edge.counters;
        counters.stream_sequence.store(sequence, Ordering::Relaxed);
        let live = counters.live.load(Ordering::Relaxed);
        if !live {
            counters.restored_frames.fetch_add(1, Ordering::Relaxed);
            counters
                .restored_bytes
                .fetch_add(message.payload.len() as u64, Ordering::Relaxed);
        }
        let message = message.message;
        ingest.take(
            message.subject.as_str(),
            message.headers.as_ref(),
            message.payload,
        );
        if !live && pending == 0 {
            went_live(&ingest.edge.counters);
            ingest.restored();
        }
    }
}

fn went_live(counters: &EdgeCounters) {
    counters.live.store(true, Ordering::Relaxed);
    tracing::info!(
        "NATS (subscribe): restored {} frames ({} bytes) from JetStream; live",
        counters.restored_frames.load(Ordering::Relaxed),
        counters.restored_bytes.load(Ordering::Relaxed)
    );
}

/// Reads a plain subscription (a broker without JetStream): live only. The client subscribes
/// again by itself after a reconnection.
async fn read_core(ingest: &mut Ingest, client: &Client, filter: &str) -> Stop {
    let mut subscription = match client.subscribe(filter.to_owned()).await {
        Ok(subscription) => subscription,
        Err(err) => return Stop::Retry(format!("cannot subscribe to {filter}: {err}")),
    };
    let shutdown = ingest.hub.shutdown_token();
    loop {
        let message = tokio::select! {
            message = subscription.next() => message,
            () = shutdown.cancelled() => return Stop::Shutdown,
        };
        let Some(message) = message else {
            return Stop::Retry(format!("the subscription to {filter} ended"));
        };
        ingest.take(
            message.subject.as_str(),
            message.headers.as_ref(),
            message.payload,
        );
    }
}
