//! One viewer's connection on `/ws`: hello, the late-joiner snapshot, then live frames.
//!
//! The viewer's queue is its cursor into the shared live log (see [`crate::log`]). Its task copies
//! a batch of frame handles out of the log, writes them with one flush, and repeats; when idle it
//! waits for the next frame. When it falls a whole queue behind it is told (`lagged`), skipped to
//! the live edge and sent the latest state of every stream among what it skipped (a `resync`
//! snapshot), so it never shows stale state. A viewer that neither accepts writes nor answers pings
//! for `ping_timeout` is closed.
//!
//! A viewer that is behind (its oldest unsent frame older than `--conflate-after`) skips frames
//! that newer frames of the same streams superseded, and is told so about once a second
//! (`conflated`, with counts per stream): it keeps every scalar sample while its 3D thins to what
//! its link carries.
//!
//! Viewers are read-only for data: the only thing a viewer may send is a `subscribe` request,
//! which changes what this viewer receives and nothing else. Anything else gets an `error`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::ws::Utf8Bytes;
use bytes::Bytes;
use hyper_util::rt::TokioIo;
use tokio::io::{ReadHalf, WriteHalf};
use tokio::sync::{mpsc, watch};
use tokio_util::either::Either;
use vizcast_protocol::{Control, Limits, Subscription};

use crate::direct::{Direct, Position};
use crate::hub::{Client, ClientGuard, Hub, Role};
use crate::log::ReadOutcome;
use crate::socket::SocketWriter;
use crate::websocket::{FrameReader, FrameWriter, Incoming, Kind};

/// How often a viewer that is being conflated is told so.
const CONFLATED_EVERY: Duration = Duration::from_secs(1);
/// The longest message a viewer may send. Requests over 64 KiB get a clear error; what is longer
/// than this closes the connection (1009).
pub(crate) const MAX_REQUEST: usize = 1 << 20;

/// A viewer's connection, once upgraded.
pub(crate) type Io = TokioIo<hyper::upgrade::Upgraded>;
/// The reading side of a watcher's connection: all of it, when writes go straight to the socket.
pub(crate) type Input = Either<Io, ReadHalf<Io>>;
/// The writing side: the plain TCP socket itself, or the upgraded connection's half (TLS).
pub(crate) type Output = Either<SocketWriter, WriteHalf<Io>>;
/// Writes a watcher's messages.
pub(crate) type Writer = FrameWriter<Output>;

/// Splits an upgraded connection into its reading and writing sides: on plain TCP (`socket`),
/// writes go straight to the socket, and the upgraded connection is only read.
pub(crate) fn split(io: Io, socket: Option<SocketWriter>) -> (Input, Output) {
    match socket {
        Some(socket) => (Either::Left(io), Either::Left(socket)),
        None => {
            let (read, write) = tokio::io::split(io);
            (Either::Right(read), Either::Right(write))
        }
    }
}

/// What the reader hands the writer: a new subscription, or a reply to send.
#[derive(Debug)]
enum Request {
    Subscribe(Subscription),
    Reply(Control),
    Pong(Bytes),
}

/// How a viewer's session ended.
#[derive(Debug)]
pub(crate) enum End {
    /// The viewer closed or the connection dropped.
    Gone,
    /// The hub is shutting down.
    Shutdown,
    /// The viewer stopped accepting data or answering pings.
    Stalled(&'static str),
}

/// Runs a viewer's session to its end. `subscription` is what it asked for in its URL; on plain
/// TCP, `socket` is the connection's writing side, which the ingest path then writes through to
/// while the viewer is caught up (see `direct.rs`).
pub(crate) async fn run(
    hub: Arc<Hub>,
    io: Io,
    socket: Option<SocketWriter>,
    guard: ClientGuard,
    subscription: Subscription,
) {
    let client = guard.client().clone();
    let direct = socket
        .clone()
        .map(|socket| DirectGuard::new(&hub, Direct::new(socket, client.clone())));
    let (read, write) = split(io, socket);
    let mut writer = FrameWriter::new(write);
    let epoch = Instant::now();
    let heard = Arc::new(AtomicU64::new(0));
    // Bounded: a viewer that floods requests waits on its own socket.
    let (requests_tx, requests) = mpsc::channel(4);
    // The reader runs in its own task so that it is polled only when the viewer sends something,
    // not each time the writer wakes up.
    let limits = hub.config().limits.clone();
    let mut reader = AbortOnDrop(tokio::spawn(read_loop(
        FrameReader::new(read, MAX_REQUEST),
        heard.clone(),
        epoch,
        limits,
        requests_tx,
    )));
    let mut session = Session {
        hub: &hub,
        direct: direct.as_ref().map(|d| &*d.0),
        writer: &mut writer,
        client: &client,
        subscription,
        requests,
        conflated: BTreeMap::new(),
        conflated_frames: 0,
        conflated_bytes: 0,
        last_conflated: None,
    };
    let (end, close_code) = until_end(session.write_loop(&heard, epoch), &mut reader).await;
    drop(reader);
    // The ingest path writes to this socket no more; the session may have ended while it was
    // parked, in the middle of a frame.
    if let Some(rest) = direct.as_ref().and_then(DirectGuard::finish) {
        writer.push_encoded(rest);
    }
    drop(direct);
    if let End::Stalled(why) = &end {
        tracing::info!(viewer = %client.addr, "closing a stalled viewer: {why}");
    }
    close(&mut writer, &end, close_code).await;
    tracing::debug!(viewer = %client.addr, frames = client.frames.load(Ordering::Relaxed), "viewer disconnected");
}

/// Ends a watcher's connection: a close frame saying why (`close`: the reply to the client's close
/// frame, or why its stream was refused), then the end of the stream. A stalled client is not
/// written to again.
pub(crate) async fn close(writer: &mut Writer, end: &End, close: Option<(u16, &'static str)>) {
    let (code, reason) = match end {
        End::Stalled(_) => return,
        End::Shutdown => (1001, "vizcast is shutting down"),
        End::Gone => close.unwrap_or((1000, "")),
    };
    tokio::time::timeout(Duration::from_secs(1), writer.close(code, reason))
        .await
        .ok();
}

/// What a watcher's reader task ends with: the close code and reason to send the client, or
/// `None` when the connection is gone.
pub(crate) type Reader = AbortOnDrop<Option<(u16, &'static str)>>;

/// Runs a watcher's writing `session` until it or the `reader` ends; returns how, and the close
/// code the reader asks for.
pub(crate) async fn until_end(
    session: impl Future<Output = End>,
    reader: &mut Reader,
) -> (End, Option<(u16, &'static str)>) {
    tokio::select! {
        end = session => match end {
            // The reader ended (its requests channel closed): how, it is about to say.
            End::Gone => {
                let close = tokio::time::timeout(Duration::from_millis(100), &mut reader.0).await;
                (End::Gone, close.ok().and_then(Result::ok).flatten())
            }
            end => (end, None),
        },
        close = &mut reader.0 => (End::Gone, close.ok().flatten()),
    }
}

/// Lets the ingest path write to a viewer while it lives (see `direct.rs`).
struct DirectGuard<'a>(Arc<Direct>, &'a Hub);

impl<'a> DirectGuard<'a> {
    fn new(hub: &'a Hub, direct: Direct) -> Self {
        let direct = Arc::new(direct);
        hub.add_direct(direct.clone());
        Self(direct, hub)
    }
}

impl DirectGuard<'_> {
    /// Ends the ingest path's writes to the viewer: the end of a frame the socket took only part
    /// of, which must be written before anything else.
    fn finish(&self) -> Option<Bytes> {
        // Once removed, no write of the ingest path is in progress or starts.
        self.1.remove_direct(&self.0);
        self.0.unpark().rest
    }
}

impl Drop for DirectGuard<'_> {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Aborts a task when dropped.
pub(crate) struct AbortOnDrop<T = ()>(pub(crate) tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Reads what the viewer sends: anything proves it is alive; a `subscribe` request goes to the
/// writer, a ping is answered, anything else gets an error. Ends when the viewer closes, with the
/// close code and reason to send it (`None` when the connection is gone).
async fn read_loop(
    mut reader: FrameReader<Input>,
    heard: Arc<AtomicU64>,
    epoch: Instant,
    limits: Limits,
    requests: mpsc::Sender<Request>,
) -> Option<(u16, &'static str)> {
    loop {
        let message = match reader.next().await {
            Ok(Some(message)) => message,
            Ok(None) => return None,
            Err(err) => {
                tracing::info!("closing a viewer that broke the WebSocket protocol: {err}");
                return err
                    .close_code()
                    .map(|code| (code, "WebSocket protocol error"));
            }
        };
        heard.store(epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
        let request = match message {
            Incoming::Close => return Some((1000, "")),
            Incoming::Pong => continue,
            Incoming::Ping(payload) => Request::Pong(payload),
            Incoming::Text(text) => match Subscription::from_request(text.as_str(), &limits) {
                Ok(subscription) => Request::Subscribe(subscription),
                Err(err) => {
                    tracing::info!("refused a viewer's request: {err}");
                    Request::Reply(Control::Error {
                        code: "invalid".to_owned(),
                        message: err.to_string(),
                        frame: None,
                        offset: None,
                    })
                }
            },
            Incoming::Binary => Request::Reply(Control::Error {
                code: "read_only".to_owned(),
                message: "viewers are read-only: the only request a viewer may send is a `subscribe` text message".to_owned(),
                frame: None,
                offset: None,
            }),
        };
        if requests.send(request).await.is_err() {
            return None;
        }
    }
}

/// The writing side of a viewer's session.
struct Session<'a> {
    hub: &'a Hub,
    /// When the ingest path may write to this viewer (plain TCP).
    direct: Option<&'a Direct>,
    writer: &'a mut Writer,
    client: &'a Client,
    subscription: Subscription,
    requests: mpsc::Receiver<Request>,
    /// Frames conflated since the last `conflated` message, by stream.
    conflated: BTreeMap<Arc<str>, u64>,
    conflated_frames: u64,
    conflated_bytes: u64,
    /// When the last `conflated` message was sent.
    last_conflated: Option<Instant>,
}

impl Session<'_> {
    /// Sends text messages with one flush.
    async fn send(&mut self, texts: impl Iterator<Item = Utf8Bytes>) -> Result<(), End> {
        for text in texts {
            self.writer.push(Kind::Text, text.into());
        }
        flush(self.writer, self.hub.config().ping_timeout).await
    }

    async fn send_control(&mut self, control: &Control) -> Result<(), End> {
        self.send(std::iter::once(control.to_json().into())).await
    }

    /// Sends a snapshot and counts it.
    async fn snapshot(&mut self, reason: &str, frames: &[Utf8Bytes]) -> Result<(), End> {
        send_snapshot(self.writer, self.hub.config().ping_timeout, reason, frames).await?;
        let bytes: u64 = frames.iter().map(|f| f.len() as u64).sum();
        self.client
            .frames
            .fetch_add(frames.len() as u64, Ordering::Relaxed);
        self.client.bytes.fetch_add(bytes, Ordering::Relaxed);
        Ok(())
    }

    /// Counts what a read skipped; tells the viewer what was conflated, at most once a second,
    /// and once more when it has caught up (`idle`), so that no count is left untold.
    async fn account(&mut self, outcome: &mut ReadOutcome, idle: bool) -> Result<(), End> {
        let client = self.client;
        if outcome.filtered.0 > 0 {
            client
                .filtered_frames
                .fetch_add(outcome.filtered.0, Ordering::Relaxed);
            client
                .filtered_bytes
                .fetch_add(outcome.filtered.1, Ordering::Relaxed);
        }
        if !outcome.conflated.is_empty() {
            let mut by_stream = client.conflated_streams.lock();
            for (streams, bytes) in outcome.conflated.drain(..) {
                self.conflated_frames += 1;
                self.conflated_bytes += bytes;
                client.conflated_frames.fetch_add(1, Ordering::Relaxed);
                client.conflated_bytes.fetch_add(bytes, Ordering::Relaxed);
                for name in streams.iter() {
                    *self.conflated.entry(name.clone()).or_default() += 1;
                    if let Some(n) = by_stream.get_mut(name) {
                        *n += 1;
                    } else if by_stream.len() < self.hub.config().max_streams {
                        by_stream.insert(name.clone(), 1);
                    }
                }
            }
        }
        if self.conflated_frames > 0
            && (idle
                || self
                    .last_conflated
                    .is_none_or(|at| at.elapsed() >= CONFLATED_EVERY))
        {
            let report = Control::Conflated {
                frames: std::mem::take(&mut self.conflated_frames),
                bytes: std::mem::take(&mut self.conflated_bytes),
                streams: std::mem::take(&mut self.conflated)
                    .into_iter()
                    .map(|(name, n)| (name.to_string(), n))
                    .collect(),
                total_frames: client.conflated_frames.load(Ordering::Relaxed),
            };
            self.last_conflated = Some(Instant::now());
            self.send_control(&report).await?;
        }
        Ok(())
    }

    /// Applies a request from the reader, for a viewer whose cursor is at `cursor`.
    async fn handle(&mut self, request: Request, cursor: u64) -> Result<(), End> {
        match request {
            Request::Reply(control) => self.send_control(&control).await,
            Request::Pong(payload) => {
                self.writer.push(Kind::Pong, payload);
                flush(self.writer, self.hub.config().ping_timeout).await
            }
            Request::Subscribe(subscription) => {
                let mut added = Vec::new();
                self.hub
                    .snapshot_added(cursor, &self.subscription, &subscription, &mut added);
                let patterns = subscription.patterns();
                tracing::debug!(viewer = %self.client.addr, ?patterns, "viewer subscribed");
                *self.client.subscription.lock() = patterns.clone();
                self.subscription = subscription;
                self.send_control(&Control::Subscribed { streams: patterns })
                    .await?;
                self.snapshot("subscribe", &added).await
            }
        }
    }

    /// Waits for what comes first: a frame (its `wakeup`), a status, a request, the next ping or
    /// shutdown. A viewer written through that receives every stream is parked at `at` meanwhile,
    /// and the ingest path may write frames to it; the second value says where it left it.
    async fn wait(
        &mut self,
        wakeup: &mut Wakeup<'_>,
        at: Position,
        status: &mut watch::Receiver<Option<Utf8Bytes>>,
        next_ping: tokio::time::Instant,
    ) -> Result<(Woke, Option<Position>), End> {
        let direct = match wakeup {
            Wakeup::Direct(direct) => Some(*direct),
            Wakeup::Head(_) => None,
        };
        if let Some(direct) = direct {
            direct.arm(self.subscription.is_all().then_some(at));
        }
        // A frame accepted before the viewer was armed did not wake it: do not wait for it.
        let woke = if direct.is_some() && self.hub.newest() >= at.cursor {
            Woke::Nothing
        } else {
            let shutdown = self.hub.shutdown_token();
            tokio::select! {
                frame = wakeup.frame() => match frame {
                    Ok(()) => Woke::Nothing,
                    Err(end) => Woke::End(end),
                },
                // `changed` marks the status seen: mark it again, so that the top of the loop
                // sends it (a status that changes while no frame arrives, a NATS link's, was
                // otherwise not sent).
                _ = status.changed() => {
                    status.mark_changed();
                    Woke::Nothing
                }
                request = self.requests.recv() => match request {
                    Some(request) => Woke::Request(request),
                    None => Woke::End(End::Gone),
                },
                () = tokio::time::sleep_until(next_ping) => Woke::Nothing,
                () = shutdown.cancelled() => Woke::End(End::Shutdown),
            }
        };
        let moved = match direct {
            Some(direct) => self.resume(direct).await?,
            None => None,
        };
        Ok((woke, moved))
    }

    /// Takes the viewer back from the ingest path: writes the end of a frame the socket took only
    /// part of, and returns where the ingest path left the viewer, if it was parked.
    async fn resume(&mut self, direct: &Direct) -> Result<Option<Position>, End> {
        let unparked = direct.unpark();
        if let Some(rest) = unparked.rest {
            self.writer.push_encoded(rest);
            flush(self.writer, self.hub.config().ping_timeout).await?;
        }
        Ok(unparked.position)
    }

    async fn write_loop(&mut self, heard: &AtomicU64, epoch: Instant) -> End {
        match self.run(heard, epoch).await {
            Ok(never) => match never {},
            Err(end) => end,
        }
    }

    async fn run(
        &mut self,
        heard: &AtomicU64,
        epoch: Instant,
    ) -> Result<std::convert::Infallible, End> {
        let hub = self.hub;
        let client = self.client;
        let config = hub.config();
        let shutdown = hub.shutdown_token();
        // Viewers the ingest path writes to are woken by it; the others watch the head.
        let mut wakeup = match self.direct {
            Some(direct) => Wakeup::Direct(direct),
            None => Wakeup::Head(hub.watch_head()),
        };
        let mut batch = Vec::new();

        self.send_control(&hub.hello(Role::Viewer)).await?;
        let mut status = hub.watch_status();
        let current = status.borrow_and_update().clone();
        if let Some(text) = current {
            self.send(std::iter::once(text)).await?;
        }
        *client.subscription.lock() = self.subscription.patterns();
        // A source restoring state (an edge) holds joins, so that this snapshot has it.
        if !hub.joinable().await {
            tracing::info!(viewer = %client.addr, "a viewer joins before the state is restored: {}", hub.not_ready().unwrap_or_default());
        }
        let (mut cursor, mut offset, mut generation) = hub.join(&self.subscription, &mut batch);
        self.snapshot("join", &batch).await?;
        client.cursor.store(cursor, Ordering::Relaxed);

        let mut next_ping = tokio::time::Instant::now() + config.ping_interval;
        loop {
            if let Wakeup::Head(head) = &mut wakeup {
                head.borrow_and_update();
            }
            batch.clear();
            if status.has_changed().unwrap_or(false) {
                let current = status.borrow_and_update().clone();
                if let Some(text) = current {
                    self.send(std::iter::once(text)).await?;
                }
            }
            while let Ok(request) = self.requests.try_recv() {
                self.handle(request, cursor).await?;
            }
            let reset = hub.epoch() != generation;
            // Before a reset, deliver what was accepted before it; then restate from scratch.
            let until = if reset { hub.reset_at() } else { u64::MAX };
            if reset && cursor >= until {
                batch.clear();
                (cursor, offset, generation) = hub.join(&self.subscription, &mut batch);
                self.snapshot("reset", &batch).await?;
                client.cursor.store(cursor, Ordering::Relaxed);
                continue;
            }
            match hub.read(cursor, until, &self.subscription, &mut batch) {
                Ok(mut outcome) => {
                    let moved = outcome.cursor > cursor;
                    if !batch.is_empty() {
                        let count = batch.len() as u64;
                        let bytes: u64 = batch.iter().map(|f| f.len() as u64).sum();
                        self.send(batch.drain(..)).await?;
                        client.frames.fetch_add(count, Ordering::Relaxed);
                        client.bytes.fetch_add(bytes, Ordering::Relaxed);
                    }
                    cursor = outcome.cursor;
                    offset += outcome.scanned_bytes;
                    client.cursor.store(cursor, Ordering::Relaxed);
                    self.account(&mut outcome, !moved).await?;
                    if !moved && !reset {
                        let at = Position {
                            cursor,
                            offset,
                            epoch: generation,
                        };
                        let (woke, moved) =
                            self.wait(&mut wakeup, at, &mut status, next_ping).await?;
                        // The ingest path may have written frames meanwhile.
                        if let Some(at) = moved {
                            (cursor, offset) = (at.cursor, at.offset);
                        }
                        let woke = match woke {
                            Woke::Nothing => None,
                            Woke::Request(request) => Some(request),
                            Woke::End(end) => return Err(end),
                        };
                        if let Some(request) = woke {
                            self.handle(request, cursor).await?;
                        }
                    }
                }
                Err(_lagged) if reset => {
                    // What was accepted before the reset is gone: the reset restates it all.
                    cursor = until;
                }
                Err(_lagged) => {
                    let resync = hub.resync(cursor, offset, &self.subscription, &mut batch);
                    let resent_bytes: u64 = batch.iter().map(|f| f.len() as u64).sum();
                    let dropped_frames = resync.skipped_frames.saturating_sub(batch.len() as u64);
                    let dropped_bytes = resync.skipped_bytes.saturating_sub(resent_bytes);
                    let total = client
                        .dropped_frames
                        .fetch_add(dropped_frames, Ordering::Relaxed)
                        + dropped_frames;
                    client
                        .dropped_bytes
                        .fetch_add(dropped_bytes, Ordering::Relaxed);
                    client.lagged.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(viewer = %client.addr, dropped_frames, dropped_bytes, "viewer lagged a whole queue: resyncing");
                    let lagged = Control::Lagged {
                        dropped_frames,
                        dropped_bytes,
                        total_dropped_frames: total,
                    };
                    self.send_control(&lagged).await?;
                    let frames = std::mem::take(&mut batch);
                    self.snapshot("resync", &frames).await?;
                    batch = frames;
                    cursor = resync.cursor;
                    offset = resync.offset;
                    client.cursor.store(cursor, Ordering::Relaxed);
                }
            }
            if shutdown.is_cancelled() {
                return Err(End::Shutdown);
            }
            let now = tokio::time::Instant::now();
            if now >= next_ping {
                let silent = epoch.elapsed().as_millis() as u64 - heard.load(Ordering::Relaxed);
                if silent > config.ping_timeout.as_millis() as u64 {
                    return Err(End::Stalled("no answer to pings"));
                }
                self.writer.push(Kind::Ping, Bytes::new());
                flush(self.writer, config.ping_timeout).await?;
                next_ping = now + config.ping_interval;
            }
        }
    }
}

/// How a viewer's task learns of new frames.
enum Wakeup<'a> {
    /// The ingest path writes to it, and wakes it for what it cannot write.
    Direct(&'a Direct),
    /// It watches the hub's head.
    Head(watch::Receiver<()>),
}

impl Wakeup<'_> {
    /// Waits for a frame the task must write itself.
    async fn frame(&mut self) -> Result<(), End> {
        match self {
            Self::Direct(direct) => {
                direct.woken().await;
                Ok(())
            }
            Self::Head(head) => head.changed().await.map_err(|_closed| End::Shutdown),
        }
    }
}

/// Why a viewer's task stopped waiting.
enum Woke {
    /// A frame, a status, the time to ping: the loop looks at everything.
    Nothing,
    /// A request from the viewer.
    Request(Request),
    /// The session ends.
    End(End),
}

/// Sends a snapshot: `snapshot_begin`, the frames, `snapshot_end`.
async fn send_snapshot(
    writer: &mut Writer,
    timeout: Duration,
    reason: &str,
    frames: &[Utf8Bytes],
) -> Result<(), End> {
    let bytes: u64 = frames.iter().map(|f| f.len() as u64).sum();
    let begin = Control::SnapshotBegin {
        reason: reason.to_owned(),
        frames: frames.len() as u64,
        bytes,
    };
    let end = Control::SnapshotEnd {
        frames: frames.len() as u64,
    };
    writer.push(Kind::Text, begin.to_json().into());
    for chunk in frames.chunks(crate::hub::BATCH_FRAMES) {
        for frame in chunk {
            writer.push(Kind::Text, frame.clone().into());
        }
        flush(writer, timeout).await?;
    }
    writer.push(Kind::Text, end.to_json().into());
    flush(writer, timeout).await
}

/// Writes what is queued, giving up when the socket does not take it within `timeout`.
pub(crate) async fn flush(writer: &mut Writer, timeout: Duration) -> Result<(), End> {
    match tokio::time::timeout(timeout, writer.flush()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(End::Gone),
        Err(_) => Err(End::Stalled(
            "the socket accepted nothing for the ping timeout",
        )),
    }
}
