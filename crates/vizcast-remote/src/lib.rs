//! The remote view (`vizcast view URL`, `--view URL`): this vizcast fed by another one's `/ws`.
//!
//! A hub source, as the NATS edge is: it connects to the remote hub as a browser does (`hello`,
//! the join snapshot, live frames, `conflated`, `lagged` and its `resync`, `status`), and feeds
//! what it receives, byte for byte, to this hub, which serves its window, its own browsers,
//! `/foxglove` and its recording from there.
//!
//! - **The state.** A join snapshot (and a `reset` one: the remote replay seeked) restates this
//!   hub's state with [`Hub::reset_to`], so local viewers get one consistent `reset` snapshot;
//!   `resync` and `subscribe` snapshots and live frames are ingested as from a producer. Until the
//!   first snapshot is in, joins are held (at most [`RemoteOptions::restore_timeout`]).
//! - **Reconnection.** A connection that ends is made again with backoff (0.25 s doubling to
//!   10 s); each new connection restates the state from its join snapshot, and a new remote session
//!   (the remote restarted) is logged as such.
//! - **What cannot work** is said, in the log and in `/api/stats` (`remote.last_error`): a refused
//!   token or origin (the remote's own reason), a URL that is not a vizcast hub, a certificate that
//!   does not verify (with the `--tls-ca` hint).
//! - **Subscription.** [`Remote::set_excluded`] (the streams the window hides) becomes a
//!   `subscribe` request that excludes them, sent again after each reconnection: a hidden stream
//!   costs the link nothing.
//! - **Bounds.** Frames are at most the local `--max-frame-bytes` (larger ones end the connection,
//!   with the reason); a snapshot is collected up to twice the local `--history-bytes`, and the
//!   rest of it is ingested as live frames; a frame this hub refuses is counted and logged, and
//!   nothing else is lost.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{self, ClientConfig, pki_types::ServerName};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use vizcast_hub::{Hub, JoinHold, Role, StatsSource, Utf8Bytes};
use vizcast_protocol::{Control, PROTOCOL_VERSION, is_control};

mod target;

pub use target::{Target, tls_config};

/// Frames larger than this are ingested off the async worker (they take milliseconds to parse).
const LARGE_FRAME: usize = 256 * 1024;
/// The first pause before connecting again; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// The longest pause before connecting again.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// How long connecting (TCP, TLS, the upgrade) and the `hello` may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the remote is pinged.
const PING_EVERY: Duration = Duration::from_secs(10);
/// A remote from which nothing (not even a pong) arrived for this long is given up on.
const SILENCE: Duration = Duration::from_secs(30);

/// What [`Remote::start`] needs.
#[derive(Clone, Debug)]
pub struct RemoteOptions {
    /// The URL the user gave (see [`Target::parse`]).
    pub url: String,
    /// `--tls-ca`: PEM certificates to trust besides the platform's.
    pub tls_ca: Option<PathBuf>,
    /// The longest this hub holds its first viewers while the first snapshot comes in.
    pub restore_timeout: Duration,
}

/// Counters of the remote view (atomics: written by its task, read by `/api/stats`).
#[derive(Debug, Default)]
pub struct RemoteCounters {
    /// Whether a connection is up (after `hello`).
    pub connected: AtomicBool,
    /// Connections made after the first.
    pub reconnects: AtomicU64,
    /// Frames received (snapshots and live, not the control messages).
    pub frames: AtomicU64,
    /// Their bytes.
    pub bytes: AtomicU64,
    /// Frames this hub refused (its limits are stricter than the remote's, or the frame is bad).
    pub rejected: AtomicU64,
    /// Frames the remote skipped for this view because newer ones superseded them (`conflated`).
    pub conflated_frames: AtomicU64,
    /// Times the remote said this view fell a whole queue behind (`lagged`).
    pub lagged: AtomicU64,
    /// Frames it skipped then.
    pub lagged_frames: AtomicU64,
    /// Snapshots that restated the state (joins and remote resets).
    pub restates: AtomicU64,
}

/// What changes rarely, for the status.
#[derive(Debug, Default)]
struct Shared {
    /// The remote's session (from its `hello`).
    session: Option<String>,
    /// The remote's vizcast version.
    version: Option<String>,
    /// Why the latest connection failed or ended, if it did.
    last_error: Option<String>,
    /// The remote's latest `status` (its recording, replay and NATS state), without `vizcast`.
    remote_status: Option<serde_json::Value>,
}

/// The remote view. See the module docs.
#[derive(Debug)]
pub struct Remote {
    /// The remote hub.
    pub target: Target,
    /// The counters.
    pub counters: RemoteCounters,
    shared: Mutex<Shared>,
    /// The streams this view excludes from its subscription (what its window hides).
    excluded: tokio::sync::watch::Sender<Vec<String>>,
    /// Its entry among the hub's producers (frames, bytes and their rate).
    client: Arc<vizcast_hub::Client>,
}

impl Remote {
    /// Checks the URL and the TLS configuration (a bad one is an error here, before anything
    /// runs), then starts feeding `hub` from the remote; the task ends when the hub shuts down.
    pub fn start(
        hub: &Arc<Hub>,
        options: &RemoteOptions,
    ) -> Result<(Arc<Self>, tokio::task::JoinHandle<()>), String> {
        let target = Target::parse(&options.url)?;
        let tls = if target.tls || options.tls_ca.is_some() {
            Some(tls_config(options.tls_ca.as_deref())?)
        } else {
            None
        };
        let guard = hub
            .register(Role::Producer, format!("remote {}", target.shown))
            .ok_or("too many producers (--max-producers): the remote view cannot be added")?;
        let remote = Arc::new(Self {
            target,
            counters: RemoteCounters::default(),
            shared: Mutex::new(Shared::default()),
            excluded: tokio::sync::watch::Sender::new(Vec::new()),
            client: guard.client().clone(),
        });
        hub.add_stats_source(remote.clone());
        let hold = hub.hold_joins(
            "the remote view is reading the remote hub's state",
            options.restore_timeout,
        );
        let task = tokio::spawn(run(remote.clone(), hub.clone(), guard, tls, hold));
        Ok((remote, task))
    }

    /// The remote's session, once connected.
    pub fn session(&self) -> Option<String> {
        self.shared.lock().session.clone()
    }

    /// Why the latest connection failed or ended, if it did.
    pub fn last_error(&self) -> Option<String> {
        self.shared.lock().last_error.clone()
    }

    /// Excludes these streams (and those below them) from what the remote sends this view, from
    /// now on and on every reconnection: what the window hides costs the link nothing. An empty
    /// list takes everything again; the remote then sends the history of what comes back.
    pub fn set_excluded(&self, streams: Vec<String>) {
        self.excluded.send_if_modified(|current| {
            if *current == streams {
                return false;
            }
            *current = streams;
            true
        });
    }

    /// The streams this view excludes (see [`Remote::set_excluded`]).
    pub fn excluded(&self) -> Vec<String> {
        self.excluded.borrow().clone()
    }

    /// The `subscribe` request for the current exclusions.
    fn subscription(excluded: &[String]) -> String {
        let patterns: Vec<String> = if excluded.is_empty() {
            vec!["*".to_owned()]
        } else {
            excluded.iter().map(|s| format!("!{s}")).collect()
        };
        serde_json::json!({"vizcast": "subscribe", "streams": patterns}).to_string()
    }

    fn set_error(&self, why: Option<String>) {
        self.shared.lock().last_error = why;
    }
}

impl StatsSource for Remote {
    fn name(&self) -> &str {
        "remote"
    }

    fn stats(&self) -> serde_json::Value {
        let c = &self.counters;
        let bytes = c.bytes.load(Ordering::Relaxed);
        let shared = self.shared.lock();
        // The hub's own once-a-second rate of what this view took in (its producer entry).
        let rate = self.client.send_rate();
        serde_json::json!({
            "url": self.target.shown,
            "connected": c.connected.load(Ordering::Relaxed),
            "session": shared.session,
            "version": shared.version,
            "reconnects": c.reconnects.load(Ordering::Relaxed),
            "frames": c.frames.load(Ordering::Relaxed),
            "bytes": bytes,
            "bytes_per_s": rate,
            "rejected": c.rejected.load(Ordering::Relaxed),
            "conflated_frames": c.conflated_frames.load(Ordering::Relaxed),
            "lagged": c.lagged.load(Ordering::Relaxed),
            "lagged_frames": c.lagged_frames.load(Ordering::Relaxed),
            "restates": c.restates.load(Ordering::Relaxed),
            "last_error": shared.last_error,
            "remote_status": shared.remote_status,
        })
    }
}

/// A byte stream, plain or TLS.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

type Socket = WebSocketStream<Box<dyn Io>>;

/// Why a connection could not be made or ended.
#[derive(Debug)]
struct Ended {
    /// For people.
    why: String,
    /// Whether it got as far as the remote's `hello` (the backoff starts over).
    greeted: bool,
}

impl Ended {
    fn before_hello(why: impl Into<String>) -> Self {
        Self {
            why: why.into(),
            greeted: false,
        }
    }

    fn after_hello(why: impl Into<String>) -> Self {
        Self {
            why: why.into(),
            greeted: true,
        }
    }
}

async fn run(
    remote: Arc<Remote>,
    hub: Arc<Hub>,
    guard: vizcast_hub::ClientGuard,
    tls: Option<Arc<ClientConfig>>,
    hold: JoinHold,
) {
    let shutdown = hub.shutdown_token();
    let mut feed = Feed {
        hub: hub.clone(),
        remote: remote.clone(),
        guard,
        hold: Some(hold),
        rejected_logged: None,
    };
    let mut backoff = FIRST_BACKOFF;
    let mut attempts = 0_u64;
    loop {
        let ended = tokio::select! {
            ended = connect_and_read(&mut feed, tls.clone(), attempts) => ended,
            () = shutdown.cancelled() => return,
        };
        attempts += 1;
        remote.counters.connected.store(false, Ordering::Relaxed);
        if ended.greeted {
            backoff = FIRST_BACKOFF;
        }
        tracing::warn!(
            "remote view: {}: {}; connecting again in {:.1} s",
            remote.target.shown,
            ended.why,
            backoff.as_secs_f64()
        );
        remote.set_error(Some(ended.why));
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = shutdown.cancelled() => return,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Connects, then reads until the connection ends.
async fn connect_and_read(feed: &mut Feed, tls: Option<Arc<ClientConfig>>, attempt: u64) -> Ended {
    let max_frame = feed.hub.config().limits.max_frame_bytes;
    let socket = match tokio::time::timeout(
        CONNECT_TIMEOUT,
        connect(&feed.remote.target, tls, max_frame),
    )
    .await
    {
        Ok(Ok(socket)) => socket,
        Ok(Err(why)) => return Ended::before_hello(why),
        Err(_) => {
            return Ended::before_hello(format!(
                "no answer within {} s",
                CONNECT_TIMEOUT.as_secs()
            ));
        }
    };
    let (mut sink, mut stream) = socket.split();
    let hello = match tokio::time::timeout(CONNECT_TIMEOUT, stream.next()).await {
        Ok(Some(Ok(Message::Text(text)))) => text,
        Ok(Some(Ok(other))) => {
            return Ended::before_hello(format!(
                "not a vizcast hub: its first message is a {} frame, not hello",
                frame_kind(&other)
            ));
        }
        Ok(Some(Err(err))) => return Ended::before_hello(read_error(&err)),
        Ok(None) => return Ended::before_hello("the connection closed before hello"),
        Err(_) => {
            return Ended::before_hello(format!(
                "not a vizcast hub: no hello within {} s",
                CONNECT_TIMEOUT.as_secs()
            ));
        }
    };
    match serde_json::from_str::<Control>(hello.as_str()) {
        Ok(Control::Hello {
            protocol,
            version,
            session,
            role,
            ..
        }) => {
            if protocol != PROTOCOL_VERSION {
                return Ended::before_hello(format!(
                    "the remote speaks protocol {protocol} (vizcast {version}); this vizcast speaks {PROTOCOL_VERSION}"
                ));
            }
            if role != "viewer" {
                return Ended::before_hello(format!(
                    "the remote took this connection as a {role}, not a viewer: give the URL of its page or its /ws"
                ));
            }
            feed.greeted(attempt, session, version);
        }
        Ok(Control::Error { code, message, .. }) => {
            return Ended::before_hello(format!(
                "the remote refused this view ({code}): {message}"
            ));
        }
        _ => {
            let start: String = hello.as_str().chars().take(80).collect();
            return Ended::before_hello(format!(
                "not a vizcast hub: its first message is not hello ({start:?})"
            ));
        }
    }

    // What the window hides is excluded from the start (the join snapshot comes before the
    // remote reads this, so that one is whole).
    let mut excluded = feed.remote.excluded.subscribe();
    if !excluded.borrow_and_update().is_empty() {
        excluded.mark_changed();
    }
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.reset();
    let mut heard = Instant::now();
    let mut snapshot: Option<Snapshot> = None;
    loop {
        let message = tokio::select! {
            message = stream.next() => message,
            Ok(()) = excluded.changed() => {
                let request = Remote::subscription(&excluded.borrow_and_update());
                if let Err(err) = sink.send(Message::text(request)).await {
                    return Ended::after_hello(read_error(&err));
                }
                continue;
            }
            _ = ping.tick() => {
                if heard.elapsed() > SILENCE {
                    return Ended::after_hello(format!("nothing from the remote for {} s", SILENCE.as_secs()));
                }
                if let Err(err) = sink.send(Message::Ping(bytes::Bytes::new())).await {
                    return Ended::after_hello(read_error(&err));
                }
                continue;
            }
        };
        heard = Instant::now();
        let text = match message {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(frame))) => {
                let why = frame.map_or_else(
                    || "the remote closed the connection".to_owned(),
                    |f| {
                        format!(
                            "the remote closed the connection ({}: {})",
                            f.code, f.reason
                        )
                    },
                );
                return Ended::after_hello(why);
            }
            Some(Ok(Message::Binary(_))) => {
                return Ended::after_hello("the remote sent a binary frame: not a vizcast hub");
            }
            Some(Ok(_)) => continue,
            Some(Err(err)) => return Ended::after_hello(read_error(&err)),
            None => return Ended::after_hello("the connection ended"),
        };
        let text: Utf8Bytes = match Utf8Bytes::try_from(bytes::Bytes::from(text)) {
            Ok(text) => text,
            Err(_) => return Ended::after_hello("a text frame that is not UTF-8"),
        };
        if is_control(text.as_str()) {
            if let Err(why) = feed.control(text.as_str(), &mut snapshot) {
                return Ended::after_hello(why);
            }
            continue;
        }
        feed.frame(text, &mut snapshot);
    }
}

/// TCP, TLS if asked for, and the WebSocket upgrade; errors for people.
async fn connect(
    target: &Target,
    tls: Option<Arc<ClientConfig>>,
    max_frame: usize,
) -> Result<Socket, String> {
    let tcp = TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|e| format!("cannot connect to {}:{}: {e}", target.host, target.port))?;
    let _ = tcp.set_nodelay(true);
    let io: Box<dyn Io> = match (target.tls, tls) {
        (true, Some(config)) => {
            let name = ServerName::try_from(target.host.clone())
                .map_err(|e| format!("{}: not a TLS server name: {e}", target.host))?;
            let stream = TlsConnector::from(config)
                .connect(name, tcp)
                .await
                .map_err(|e| tls_error(&e))?;
            Box::new(stream)
        }
        _ => Box::new(tcp),
    };
    let request = target
        .ws_url
        .as_str()
        .into_client_request()
        .map_err(|e| format!("{}: {e}", target.shown))?;
    // A frame may be as large as this hub accepts, plus the room of a control message.
    let config = WebSocketConfig::default()
        .max_message_size(Some(max_frame + 64 * 1024))
        .max_frame_size(Some(max_frame + 64 * 1024));
    match tokio_tungstenite::client_async_with_config(request, io, Some(config)).await {
        Ok((socket, _)) => Ok(socket),
        Err(tungstenite::Error::Http(response)) => {
            let status = response.status();
            let body = response
                .body()
                .as_deref()
                .map(|b| String::from_utf8_lossy(b).trim().to_owned())
                .filter(|b| !b.is_empty());
            let said = body.map_or_else(String::new, |b| format!(": {b}"));
            Err(match status.as_u16() {
                401 => format!("the remote refused the token (HTTP 401){said}"),
                403 => format!("the remote refused this connection (HTTP 403){said}"),
                404 => format!(
                    "not a vizcast hub: {} answers HTTP 404 for /ws",
                    target.shown
                ),
                _ => format!("not a vizcast hub: HTTP {status} for /ws{said}"),
            })
        }
        Err(err) => Err(format!(
            "the WebSocket upgrade failed: {}",
            read_error(&err)
        )),
    }
}

/// A TLS handshake's failure, with the remedy when it is the certificate.
fn tls_error(err: &std::io::Error) -> String {
    let inner = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>());
    match inner {
        Some(rustls::Error::InvalidCertificate(why)) => format!(
            "the remote's certificate does not verify ({why:?}): refused. If it is self-signed or from a private CA, pass that certificate with --tls-ca FILE"
        ),
        Some(other) => format!("TLS: {other}"),
        None => format!("TLS: {err}"),
    }
}

fn read_error(err: &tungstenite::Error) -> String {
    match err {
        tungstenite::Error::Capacity(why) => format!(
            "the remote sent a frame larger than this vizcast accepts ({why}): raise --max-frame-bytes"
        ),
        other => other.to_string(),
    }
}

fn frame_kind(message: &Message) -> &'static str {
    match message {
        Message::Text(_) => "text",
        Message::Binary(_) => "binary",
        Message::Ping(_) => "ping",
        Message::Pong(_) => "pong",
        Message::Close(_) => "close",
        Message::Frame(_) => "raw",
    }
}

/// Runs `f`, which may take milliseconds, telling a multi-threaded runtime to move its other
/// tasks off this worker meanwhile.
fn off_worker<T>(f: impl FnOnce() -> T) -> T {
    let multi_thread = matches!(
        tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()),
        Ok(tokio::runtime::RuntimeFlavor::MultiThread)
    );
    if multi_thread {
        tokio::task::block_in_place(f)
    } else {
        f()
    }
}

/// A snapshot coming in.
struct Snapshot {
    /// Whether it restates the state (`join`, `reset`) or adds to it (`resync`, `subscribe`).
    restates: bool,
    /// Frames still to come, as announced.
    left: u64,
    /// Frames collected (restating snapshots only).
    frames: VecDeque<Utf8Bytes>,
    /// Their bytes.
    bytes: usize,
    /// Whether the collected part was applied already (it grew past its bound).
    applied: bool,
}

/// Feeds the hub.
struct Feed {
    hub: Arc<Hub>,
    remote: Arc<Remote>,
    guard: vizcast_hub::ClientGuard,
    hold: Option<JoinHold>,
    /// When a refused frame was last logged (at most one line a second).
    rejected_logged: Option<Instant>,
}

impl Feed {
    fn greeted(&mut self, attempt: u64, session: String, version: String) {
        let remote = &self.remote;
        if attempt > 0 {
            remote.counters.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        remote.counters.connected.store(true, Ordering::Relaxed);
        let mut shared = remote.shared.lock();
        match &shared.session {
            Some(old) if *old != session => tracing::info!(
                "remote view: {} restarted (session {old} → {session}): the view starts over",
                remote.target.shown
            ),
            _ => tracing::info!(
                "remote view: connected to {} (vizcast {version}, session {session})",
                remote.target.shown
            ),
        }
        shared.session = Some(session);
        shared.version = Some(version);
        shared.last_error = None;
    }

    /// A control message from the remote.
    fn control(&mut self, text: &str, snapshot: &mut Option<Snapshot>) -> Result<(), String> {
        // A newer remote's message this one does not know is not an error.
        let Ok(control) = serde_json::from_str::<Control>(text) else {
            tracing::debug!("remote view: a message this vizcast does not know: {text}");
            return Ok(());
        };
        let counters = &self.remote.counters;
        match control {
            Control::SnapshotBegin { reason, frames, .. } => {
                let restates = matches!(reason.as_str(), "join" | "reset");
                let begun = Snapshot {
                    restates,
                    left: frames,
                    frames: VecDeque::new(),
                    bytes: 0,
                    applied: false,
                };
                *snapshot = Some(begun);
                if frames == 0 {
                    self.end_snapshot(snapshot);
                }
            }
            Control::SnapshotEnd { .. } => {
                if snapshot.is_some() {
                    self.end_snapshot(snapshot);
                }
            }
            Control::Lagged { dropped_frames, .. } => {
                counters.lagged.fetch_add(1, Ordering::Relaxed);
                counters
                    .lagged_frames
                    .fetch_add(dropped_frames, Ordering::Relaxed);
                tracing::warn!(
                    "remote view: this view fell a whole queue behind {}: it skipped {dropped_frames} frames, and gets the latest state of their streams",
                    self.remote.target.shown
                );
            }
            Control::Conflated { frames, .. } => {
                counters
                    .conflated_frames
                    .fetch_add(frames, Ordering::Relaxed);
            }
            Control::Status { .. } => {
                let mut value: serde_json::Value =
                    serde_json::from_str(text).map_err(|e| e.to_string())?;
                if let Some(object) = value.as_object_mut() {
                    object.remove("vizcast");
                }
                self.remote.shared.lock().remote_status = Some(value);
            }
            Control::Error { code, message, .. } => {
                tracing::warn!("remote view: the remote says ({code}): {message}");
                self.remote.set_error(Some(format!("{code}: {message}")));
            }
            Control::Hello { .. } => {
                return Err("the remote said hello again".to_owned());
            }
            Control::Subscribed { streams } => {
                tracing::debug!("remote view: the remote sends {streams:?}");
            }
        }
        Ok(())
    }

    /// A data frame: part of a snapshot, or live.
    fn frame(&mut self, text: Utf8Bytes, snapshot: &mut Option<Snapshot>) {
        let counters = &self.remote.counters;
        counters.frames.fetch_add(1, Ordering::Relaxed);
        counters
            .bytes
            .fetch_add(text.len() as u64, Ordering::Relaxed);
        let Some(current) = snapshot.as_mut() else {
            self.ingest(&text);
            return;
        };
        current.left = current.left.saturating_sub(1);
        if !current.restates || current.applied {
            self.ingest(&text);
        } else {
            current.bytes += text.len();
            current.frames.push_back(text);
            // Bounded: past twice the local history budget, what is collected is applied now
            // and the rest of the snapshot follows as live frames.
            if current.bytes > 2 * self.hub.config().history_bytes.max(1 << 20) {
                let frames = std::mem::take(&mut current.frames).into();
                current.applied = true;
                self.restate(frames);
            }
        }
    }

    fn end_snapshot(&mut self, snapshot: &mut Option<Snapshot>) {
        let Some(done) = snapshot.take() else {
            return;
        };
        if done.restates && !done.applied {
            self.restate(done.frames.into());
        }
        // The first snapshot is in: this hub's viewers may join.
        self.hold.take();
    }

    fn restate(&self, frames: Vec<Utf8Bytes>) {
        self.remote
            .counters
            .restates
            .fetch_add(1, Ordering::Relaxed);
        let count = frames.len() as u64;
        let bytes: usize = frames.iter().map(|f| f.len()).sum();
        let hub = &self.hub;
        let refused = off_worker(|| hub.reset_to(frames)) as u64;
        let client = self.guard.client();
        client.frames.fetch_add(count - refused, Ordering::Relaxed);
        client.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        if refused > 0 {
            self.remote
                .counters
                .rejected
                .fetch_add(refused, Ordering::Relaxed);
            tracing::warn!(
                "remote view: this vizcast refused {refused} of the {count} frames of the remote's state (its limits are stricter than the remote's?)"
            );
        }
    }

    fn ingest(&mut self, text: &Utf8Bytes) {
        let len = text.len();
        let hub = &self.hub;
        let result = if len > LARGE_FRAME {
            off_worker(|| hub.ingest(text.clone()))
        } else {
            hub.ingest(text.clone())
        };
        match result {
            Ok(_) => {
                let client = self.guard.client();
                client.frames.fetch_add(1, Ordering::Relaxed);
                client.bytes.fetch_add(len as u64, Ordering::Relaxed);
            }
            Err(err) => {
                self.remote
                    .counters
                    .rejected
                    .fetch_add(1, Ordering::Relaxed);
                self.guard
                    .client()
                    .dropped_frames
                    .fetch_add(1, Ordering::Relaxed);
                let now = Instant::now();
                if self
                    .rejected_logged
                    .is_none_or(|at| now.duration_since(at) >= Duration::from_secs(1))
                {
                    self.rejected_logged = Some(now);
                    let start: String = text.as_str().chars().take(80).collect();
                    tracing::warn!(
                        "remote view: this vizcast refused a frame of the remote ({err}): {start}…"
                    );
                }
            }
        }
    }
}
