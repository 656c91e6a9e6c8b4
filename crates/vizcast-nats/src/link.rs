//! One connection to a broker and what viewers and `/api/stats` are told about it.
//!
//! The NATS client reconnects by itself, forever, with a delay growing from 100 ms to 0.5 s. Its
//! events update the [`Link`] (logged once per change) and the status message of the hub; the
//! [`Board`] gathers the links of a process into the `nats` part of that status.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use async_nats::{Client, ConnectOptions, Event};
use parking_lot::Mutex;
use tokio::sync::watch;
use vizcast_hub::Hub;
use vizcast_protocol::{NatsLink, NatsStatus};

/// Messages the client buffers per subscription before it drops them (a slow consumer), on a
/// publishing link (which subscribes only to JetStream's answers).
pub const SUBSCRIPTION_CAPACITY: usize = 256;
/// The same on an edge's link. Its live subscription is drained at once into the edge's
/// byte-bounded queue, so this holds only what arrives while that task waits for a core: a
/// publisher's backlog after a broker restart comes in one burst (up to 16,384 frames, the
/// publisher's default queue), which a smaller buffer dropped. JetStream reads pull at most
/// [`crate::subscribe::PULL_BATCH`] at a time, so they never fill it.
pub const EDGE_SUBSCRIPTION_CAPACITY: usize = 16_384;
/// Commands (publishes) the client buffers for its connection; a publisher waits beyond that.
pub const CLIENT_CAPACITY: usize = 256;

/// The longest wait between two attempts to reach the broker again (from 100 ms, doubling). Short:
/// after a broker restart, what a publisher sends before an edge is back reaches that edge only
/// from JetStream, within `--nats-history`; an attempt at a broker that is down costs a refused
/// connection.
pub const RECONNECT_DELAY_MAX: Duration = Duration::from_millis(500);

/// Which way a link carries frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// `--nats-publish`.
    Publish,
    /// `--nats-subscribe`.
    Subscribe,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Self::Publish => "publish",
            Self::Subscribe => "subscribe",
        }
    }
}

/// One connection's state, shared by its tasks and the client's event callback.
#[derive(Debug)]
pub struct Link {
    /// Which way.
    pub role: Role,
    /// The broker's URL as given.
    pub server: String,
    connected: AtomicBool,
    ever_connected: AtomicBool,
    /// Whether the failure to reach the broker was logged since the connection was last up: the
    /// client retries every [`RECONNECT_DELAY_MAX`] at most, and each retry's error would be a log
    /// line.
    told_unreachable: AtomicBool,
    /// Times the connection came back.
    pub reconnects: AtomicU64,
    /// Times it was lost.
    pub disconnects: AtomicU64,
    /// Times the client dropped messages of a subscription that was read too slowly.
    pub slow_consumer: AtomicU64,
    slow_log: crate::publish::Throttle,
    /// Bumped each time the connection is (re)established: tasks that set things up on the
    /// broker (the JetStream stream) wait on it.
    connections: watch::Sender<u64>,
    /// Whether the broker has the JetStream stream; `None` until known.
    jetstream: Mutex<Option<bool>>,
    /// What is missing or wrong, for people.
    note: Mutex<Option<String>>,
    /// Subscribe: the edge is still reading what the broker retained.
    restoring: AtomicBool,
    /// The broker's version, once connected, and what is wrong with it (see
    /// [`Link::check_server`]).
    server_version: Mutex<Option<(String, Option<String>)>>,
    /// Frames not published (publish) or never received (subscribe, gaps).
    pub missed_frames: AtomicU64,
    /// Gaps detected (subscribe).
    pub gaps: AtomicU64,
    last_gap: Mutex<Option<String>>,
    board: Arc<Board>,
}

impl Link {
    /// A link of `role` to `server`, reporting to `board`.
    pub fn new(role: Role, server: &str, board: &Arc<Board>) -> Arc<Self> {
        let link = Arc::new(Self {
            role,
            server: server.to_owned(),
            connected: AtomicBool::new(false),
            ever_connected: AtomicBool::new(false),
            told_unreachable: AtomicBool::new(false),
            reconnects: AtomicU64::new(0),
            disconnects: AtomicU64::new(0),
            slow_consumer: AtomicU64::new(0),
            slow_log: crate::publish::Throttle::default(),
            connections: watch::Sender::new(0),
            jetstream: Mutex::new(None),
            note: Mutex::new(Some("connecting".to_owned())),
            restoring: AtomicBool::new(false),
            server_version: Mutex::new(None),
            missed_frames: AtomicU64::new(0),
            gaps: AtomicU64::new(0),
            last_gap: Mutex::new(None),
            board: board.clone(),
        });
        board.links.lock().push(link.clone());
        board.refresh();
        link
    }

    /// Connects to the broker; the client keeps reconnecting by itself from then on. Fails only
    /// on an unusable URL.
    pub async fn connect(self: &Arc<Self>, name: &str) -> Result<Client, async_nats::ConnectError> {
        let link = self.clone();
        ConnectOptions::new()
            .name(format!("vizcast {name} ({})", self.role.as_str()))
            .retry_on_initial_connect()
            .max_reconnects(None)
            .reconnect_delay_callback(|attempt| {
                let shift = u32::try_from(attempt.min(5)).unwrap_or(5);
                Duration::from_millis(100 << shift).min(RECONNECT_DELAY_MAX)
            })
            .connection_timeout(Duration::from_secs(2))
            .subscription_capacity(match self.role {
                Role::Publish => SUBSCRIPTION_CAPACITY,
                Role::Subscribe => EDGE_SUBSCRIPTION_CAPACITY,
            })
            .client_capacity(CLIENT_CAPACITY)
            .event_callback(move |event| {
                let link = link.clone();
                async move { link.on_event(&event) }
            })
            .connect(self.server.as_str())
            .await
    }

    fn on_event(&self, event: &Event) {
        let role = self.role.as_str();
        let server = &self.server;
        match event {
            Event::Connected => {
                self.connected.store(true, Ordering::Relaxed);
                self.told_unreachable.store(false, Ordering::Relaxed);
                if self.ever_connected.swap(true, Ordering::Relaxed) {
                    self.reconnects.fetch_add(1, Ordering::Relaxed);
                    tracing::info!("NATS ({role}): reconnected to {server}");
                } else {
                    tracing::info!("NATS ({role}): connected to {server}");
                }
                self.set_note(None);
                self.connections.send_modify(|n| *n += 1);
            }
            Event::Disconnected => {
                self.connected.store(false, Ordering::Relaxed);
                self.told_unreachable.store(true, Ordering::Relaxed);
                self.disconnects.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    "NATS ({role}): lost the broker at {server}; reconnecting by itself (local viewers are not affected)"
                );
                self.set_note(Some("the broker is unreachable; reconnecting".to_owned()));
            }
            Event::SlowConsumer(sid) => {
                self.slow_consumer.fetch_add(1, Ordering::Relaxed);
                if let Some(held) = self.slow_log.allow() {
                    tracing::warn!(
                        "NATS ({role}): this edge reads too slowly, the client dropped messages of subscription {sid} (read back from JetStream where the stream holds them, else reported as gaps){}",
                        crate::subscribe::held_note(held)
                    );
                }
            }
            Event::LameDuckMode => {
                tracing::warn!("NATS ({role}): {server} is shutting down (lame duck mode)");
            }
            Event::ServerError(err) => tracing::warn!("NATS ({role}): {server}: {err}"),
            Event::ClientError(err) if !self.is_connected() => {
                // Once until the connection is up: the retries fail the same way.
                if !self.told_unreachable.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        "NATS ({role}): cannot reach the broker at {server} ({err}); retrying by itself every 0.5 s at most (local viewers are not affected)"
                    );
                } else {
                    tracing::debug!("NATS ({role}): {server}: {err}");
                }
                self.set_note(Some("the broker is unreachable; retrying".to_owned()));
            }
            Event::ClientError(err) => tracing::warn!("NATS ({role}): {err}"),
            Event::Draining | Event::Closed => {}
        }
        self.board.refresh();
    }

    /// Whether the connection is up.
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    /// The number of the latest connection (0 before the first).
    pub fn connection(&self) -> u64 {
        *self.connections.borrow()
    }

    /// Waits until the connection is up and newer than `seen` (0 at first); returns its number.
    pub async fn wait_connection(&self, seen: u64) -> u64 {
        let mut rx = self.connections.subscribe();
        let result = rx
            .wait_for(|n| *n > seen && self.is_connected())
            .await
            .map(|n| *n);
        match result {
            Ok(n) => n,
            // The sender lives as long as the link: unreachable, but do not spin.
            Err(_) => std::future::pending().await,
        }
    }

    /// Sets whether the broker has the JetStream stream, and why not.
    pub fn set_jetstream(&self, jetstream: bool, note: Option<String>) {
        *self.jetstream.lock() = Some(jetstream);
        self.set_note(note);
        self.board.refresh();
    }

    /// Checks the version of the broker `client` is connected to, once per version: a broker
    /// older than [`MIN_SERVER`] gets a warning in the log and in the status, which stays.
    pub fn check_server(&self, client: &Client) {
        let Some(info) = client.try_server_info() else {
            return;
        };
        let version = info.version;
        if self
            .server_version
            .lock()
            .as_ref()
            .is_some_and(|(seen, _)| *seen == version)
        {
            return;
        }
        let warning = server_warning(&version);
        let (role, server) = (self.role.as_str(), &self.server);
        match &warning {
            Some(warning) => tracing::warn!("NATS ({role}): {server}: {warning}"),
            None => tracing::info!("NATS ({role}): {server} is nats-server {version}"),
        }
        *self.server_version.lock() = Some((version, warning));
        self.board.refresh();
    }

    /// The broker's version, once known.
    pub fn server_version(&self) -> Option<String> {
        self.server_version.lock().as_ref().map(|(v, _)| v.clone())
    }

    /// Sets whether the edge is still restoring what the broker retained.
    pub fn set_restoring(&self, restoring: bool) {
        self.restoring.store(restoring, Ordering::Relaxed);
        self.board.refresh();
    }

    /// Whether the broker has the JetStream stream, if known.
    pub fn jetstream(&self) -> Option<bool> {
        *self.jetstream.lock()
    }

    fn set_note(&self, note: Option<String>) {
        let mut current = self.note.lock();
        // A missing JetStream stays said while connected.
        if note.is_none() && *self.jetstream.lock() == Some(false) {
            return;
        }
        *current = note;
    }

    /// The note, if any, and what is wrong with the broker's version.
    pub fn note(&self) -> Option<String> {
        let note = self.note.lock().clone();
        let warning = self
            .server_version
            .lock()
            .as_ref()
            .and_then(|(_, w)| w.clone());
        match (note, warning) {
            (Some(note), Some(warning)) => Some(format!("{note}; {warning}")),
            (note, warning) => note.or(warning),
        }
    }

    /// Counts a gap and makes it the latest one viewers are told of (at the board's pace).
    pub fn record_gap(&self, missed: u64, description: String) {
        self.gaps.fetch_add(1, Ordering::Relaxed);
        self.missed_frames.fetch_add(missed, Ordering::Relaxed);
        *self.last_gap.lock() = Some(description);
        self.board.mark_dirty();
    }

    /// Counts frames that could not be published (at the board's pace).
    pub fn record_missed(&self, frames: u64) {
        self.missed_frames.fetch_add(frames, Ordering::Relaxed);
        self.board.mark_dirty();
    }

    /// The latest gap, for people.
    pub fn last_gap(&self) -> Option<String> {
        self.last_gap.lock().clone()
    }

    fn status(&self) -> NatsLink {
        NatsLink {
            server: self.server.clone(),
            connected: self.is_connected(),
            reconnects: self.reconnects.load(Ordering::Relaxed),
            jetstream: self.jetstream(),
            missed_frames: self.missed_frames.load(Ordering::Relaxed),
            gaps: self.gaps.load(Ordering::Relaxed),
            last_gap: self.last_gap(),
            note: self.note(),
            restoring: self.restoring.load(Ordering::Relaxed),
        }
    }
}

/// The oldest nats-server vizcast is tested with. Older ones (Debian 12's 2.9.10) stall every
/// subscriber behind one that stops reading until `write_deadline` cuts it, and an edge was seen
/// to miss frames through one: they work, with a warning.
pub const MIN_SERVER: (u64, u64) = (2, 10);

/// What is wrong with nats-server `version` (`2.9.10`), if anything.
pub fn server_warning(version: &str) -> Option<String> {
    let mut parts = version
        .trim_start_matches('v')
        .split(['.', '-'])
        .map(|p| p.parse::<u64>().ok());
    let (Some(Some(major)), Some(Some(minor))) = (parts.next(), parts.next()) else {
        return Some(format!(
            "cannot tell the version of nats-server \"{version}\"; vizcast is tested with {}.{} and newer",
            MIN_SERVER.0, MIN_SERVER.1
        ));
    };
    ((major, minor) < MIN_SERVER).then(|| {
        format!(
            "nats-server {version} is older than {}.{}: one subscriber that stops reading stalls the others, and edges may miss frames (reported as gaps when later frames show them); use nats-server {}.{} or newer",
            MIN_SERVER.0, MIN_SERVER.1, MIN_SERVER.0, MIN_SERVER.1
        )
    })
}

#[cfg(test)]
mod tests {
    use super::server_warning;

    #[test]
    fn brokers_older_than_2_10_are_warned_about() {
        assert!(
            server_warning("2.9.10")
                .unwrap()
                .contains("older than 2.10")
        );
        assert!(server_warning("1.4.1").is_some());
        assert!(server_warning("2.10.0").is_none());
        assert!(server_warning("2.15.1").is_none());
        assert!(server_warning("3.0.0-beta").is_none());
        assert!(server_warning("nonsense").unwrap().contains("cannot tell"));
    }
}

/// The links of one process, and the hub whose viewers hear about them.
#[derive(Debug)]
pub struct Board {
    hub: Arc<Hub>,
    links: Mutex<Vec<Arc<Link>>>,
    dirty: AtomicBool,
}

/// How often counters that change with traffic (missed frames, gaps) reach viewers at most.
pub const STATUS_INTERVAL: Duration = Duration::from_millis(250);

impl Board {
    /// A board for `hub`; [`Board::run`] keeps viewers up to date.
    pub fn new(hub: &Arc<Hub>) -> Arc<Self> {
        Arc::new(Self {
            hub: hub.clone(),
            links: Mutex::new(Vec::new()),
            dirty: AtomicBool::new(false),
        })
    }

    /// Publishes the status now (connection changes: rare, and worth telling at once).
    pub fn refresh(&self) {
        let mut status = NatsStatus::default();
        for link in self.links.lock().iter() {
            match link.role {
                Role::Publish => status.publish = Some(link.status()),
                Role::Subscribe => status.subscribe = Some(link.status()),
            }
        }
        self.hub.set_nats_status(Some(status));
    }

    /// Asks for the status to be published at the next tick.
    pub fn mark_dirty(&self) {
        self.dirty.store(true, Ordering::Relaxed);
    }

    /// Publishes the status when it changed, every [`STATUS_INTERVAL`], until the hub shuts down.
    pub async fn run(self: Arc<Self>) {
        let shutdown = self.hub.shutdown_token();
        let mut tick = tokio::time::interval(STATUS_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = shutdown.cancelled() => return,
            }
            if self.dirty.swap(false, Ordering::Relaxed) {
                self.refresh();
            }
        }
    }
}
