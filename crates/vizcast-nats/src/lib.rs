//! The NATS bridge: a hub sink that publishes every accepted frame to a broker, and a hub source
//! that feeds an edge from it, so that many vizcast instances share one live session
//! (`docs/scaling.md`).
//!
//! It knows the hub only through its public API ([`Hub::ingest`], [`vizcast_hub::FrameSink`],
//! the status and stats hooks): no HTTP, no UI, no MCAP (checked by `scripts/test.sh`).
//!
//! # Layout
//! - [`subject`]: stream names ↔ subjects (the escaping), `--nats-streams` patterns.
//! - [`sequence`]: the headers of a published message; an edge's [`Tracker`] of its own frames,
//!   batch copies and gaps.
//! - [`jetstream`]: the JetStream stream that lets edges join late.
//! - [`publish`]: the [`Publisher`] sink and the task that drains its bounded queue.
//! - [`subscribe`]: the [`Edge`] task: a plain subscription for live frames, JetStream for the
//!   restore, repairs and resyncs.
//! - [`link`]: a connection, its reconnections, and the `nats` part of the viewers' status.
//! - [`Bridge`] (here): starts what the flags ask for and reports it in `/api/stats`.

pub mod jetstream;
pub mod link;
pub mod publish;
pub mod sequence;
pub mod subject;
pub mod subscribe;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use vizcast_hub::{Hub, StatsSource};

pub use jetstream::StreamLimits;
pub use link::{Board, Link, Role};
pub use publish::{PublishOptions, Publisher, QueueLimits};
pub use sequence::{Stamp, Tracker, Verdict};
pub use subscribe::{Edge, EdgeOptions};

/// What to bridge.
#[derive(Clone, Debug)]
pub struct BridgeOptions {
    /// `--nats-publish`: the broker to publish accepted frames to.
    pub publish: Option<String>,
    /// `--nats-subscribe`: the broker to take frames from.
    pub subscribe: Option<String>,
    /// `--nats-streams`: which streams an edge takes (see [`subject::pattern_to_filter`]).
    pub streams: String,
    /// `--nats-prefix`: the first token(s) of every subject.
    pub prefix: String,
    /// `--nats-name`: this instance's name in the `Vizcast-Origin` header.
    pub name: String,
    /// The publisher's queue.
    pub queue: QueueLimits,
    /// The JetStream stream's bounds, when this instance creates it.
    pub stream: StreamLimits,
    /// How long an edge holds joins while it restores (`--nats-restore-timeout`).
    pub restore_timeout: Duration,
}

impl BridgeOptions {
    /// The default prefix of subjects.
    pub const DEFAULT_PREFIX: &str = "vizcast";
}

/// Why the bridge cannot start.
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    /// `--nats-prefix` cannot start subjects.
    #[error(
        "--nats-prefix \"{0}\": use NATS tokens without wildcards or whitespace (like vizcast or lab.vizcast)"
    )]
    Prefix(String),
    /// `--nats-streams` is not a pattern.
    #[error("--nats-streams: {0}")]
    Pattern(String),
    /// The URL is not one of a NATS server.
    #[error("NATS server {url}: {source}")]
    Connect {
        /// The URL.
        url: String,
        /// Why.
        source: async_nats::ConnectError,
    },
}

/// The running bridge: what it started, for `/api/stats` and shutdown.
#[derive(Debug)]
pub struct Bridge {
    publisher: Option<Arc<Publisher>>,
    edge: Option<Arc<Edge>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Bridge {
    /// Connects and starts what `options` asks for (nothing if neither URL is set). Must run
    /// inside the tokio runtime. A broker that cannot be reached is not an error: the links
    /// retry by themselves, and say so.
    pub async fn start(hub: &Arc<Hub>, options: &BridgeOptions) -> Result<Self, BridgeError> {
        if !subject::valid_prefix(&options.prefix) {
            return Err(BridgeError::Prefix(options.prefix.clone()));
        }
        let filter = subject::pattern_to_filter(&options.prefix, &options.streams)
            .map_err(BridgeError::Pattern)?;
        let board = Board::new(hub);
        let mut bridge = Self {
            publisher: None,
            edge: None,
            tasks: Vec::new(),
        };
        if options.publish.is_none() && options.subscribe.is_none() {
            return Ok(bridge);
        }
        if let Some(url) = &options.publish {
            let (link, client) = connect(Role::Publish, url, &options.name, &board).await?;
            let (publisher, task) = Publisher::start(
                hub,
                client,
                link,
                &PublishOptions {
                    prefix: options.prefix.clone(),
                    name: options.name.clone(),
                    queue: options.queue,
                    stream: options.stream,
                },
            );
            bridge.publisher = Some(publisher);
            bridge.tasks.push(task);
        }
        if let Some(url) = &options.subscribe {
            let (link, client) = connect(Role::Subscribe, url, &options.name, &board).await?;
            let (edge, task) = Edge::start(
                hub,
                client,
                link,
                EdgeOptions {
                    prefix: options.prefix.clone(),
                    filter,
                    stream: options.stream,
                    restore_timeout: options.restore_timeout,
                },
            );
            bridge.edge = Some(edge);
            bridge.tasks.push(task);
        }
        tokio::spawn(board.run());
        hub.add_stats_source(Arc::new(BridgeStats {
            publisher: bridge.publisher.clone(),
            edge: bridge.edge.clone(),
        }));
        Ok(bridge)
    }

    /// Whether anything is bridged.
    pub fn is_active(&self) -> bool {
        self.publisher.is_some() || self.edge.is_some()
    }

    /// After the hub shut down: waits at most `timeout` for the publisher to hand what it queued
    /// to the broker. Returns whether everything finished in time.
    pub async fn finish(self, timeout: Duration) -> bool {
        let all = futures_util::future::join_all(self.tasks);
        tokio::time::timeout(timeout, all).await.is_ok()
    }
}

/// A link of `role` to the broker at `url`, connected (it reconnects by itself from then on).
async fn connect(
    role: Role,
    url: &str,
    name: &str,
    board: &Arc<Board>,
) -> Result<(Arc<Link>, async_nats::Client), BridgeError> {
    let link = Link::new(role, url, board);
    let client = link
        .connect(name)
        .await
        .map_err(|source| BridgeError::Connect {
            url: url.to_owned(),
            source,
        })?;
    Ok((link, client))
}

/// The `nats` object of `/api/stats`.
struct BridgeStats {
    publisher: Option<Arc<Publisher>>,
    edge: Option<Arc<Edge>>,
}

fn link_json(link: &Link) -> serde_json::Value {
    serde_json::json!({
        "server": link.server,
        "server_version": link.server_version(),
        "connected": link.is_connected(),
        "reconnects": link.reconnects.load(Ordering::Relaxed),
        "disconnects": link.disconnects.load(Ordering::Relaxed),
        "jetstream": link.jetstream(),
        "note": link.note(),
    })
}

impl StatsSource for BridgeStats {
    fn name(&self) -> &str {
        "nats"
    }

    fn stats(&self) -> serde_json::Value {
        let mut out = serde_json::Map::new();
        if let Some(p) = &self.publisher {
            let c = &p.counters;
            let mut json = link_json(p.link());
            json["published_frames"] = c.frames.load(Ordering::Relaxed).into();
            json["published_messages"] = c.messages.load(Ordering::Relaxed).into();
            json["published_bytes"] = c.bytes.load(Ordering::Relaxed).into();
            json["dropped_frames"] = c.dropped_frames.load(Ordering::Relaxed).into();
            json["dropped_bytes"] = c.dropped_bytes.load(Ordering::Relaxed).into();
            json["failed_messages"] = c.failed.load(Ordering::Relaxed).into();
            json["not_republished"] = c.not_republished.load(Ordering::Relaxed).into();
            json["queue_frames"] = c.queued_frames.load(Ordering::Relaxed).into();
            json["queue_bytes"] = c.queued_bytes.load(Ordering::Relaxed).into();
            json["queue_limit_frames"] = p.limits().frames.into();
            json["queue_limit_bytes"] = p.limits().bytes.into();
            out.insert("publish".to_owned(), json);
        }
        if let Some(e) = &self.edge {
            let c = &e.counters;
            let mut json = link_json(&e.link);
            json["filter"] = e.filter.clone().into();
            json["received"] = c.received.load(Ordering::Relaxed).into();
            json["accepted"] = c.accepted.load(Ordering::Relaxed).into();
            json["rejected"] = c.rejected.load(Ordering::Relaxed).into();
            json["duplicates"] = c.duplicates.load(Ordering::Relaxed).into();
            json["superseded"] = c.superseded.load(Ordering::Relaxed).into();
            json["own"] = c.own.load(Ordering::Relaxed).into();
            json["restored_frames"] = c.restored_frames.load(Ordering::Relaxed).into();
            json["restored_bytes"] = c.restored_bytes.load(Ordering::Relaxed).into();
            json["live"] = c.live.load(Ordering::Relaxed).into();
            json["stream_sequence"] = c.stream_sequence.load(Ordering::Relaxed).into();
            json["gaps"] = e.link.gaps.load(Ordering::Relaxed).into();
            json["missed_frames"] = e.link.missed_frames.load(Ordering::Relaxed).into();
            json["last_gap"] = e.link.last_gap().into();
            json["tracking_resets"] = c.tracking_resets.load(Ordering::Relaxed).into();
            json["consumer_stalls"] = c.stalls.load(Ordering::Relaxed).into();
            json["live_dropped"] = c.live_dropped.load(Ordering::Relaxed).into();
            json["live_queued"] = c.queued.load(Ordering::Relaxed).into();
            json["repairs"] = c.repairs.load(Ordering::Relaxed).into();
            json["resyncs"] = c.resyncs.load(Ordering::Relaxed).into();
            json["repaired_frames"] = c.repaired.load(Ordering::Relaxed).into();
            out.insert("subscribe".to_owned(), json);
        }
        out.into()
    }
}
