//! One viewer's connection on `/ws`: hello, the late-joiner snapshot, then live frames.
//!
//! The viewer's queue is its cursor into the shared live log (see [`crate::log`]). Its task copies
//! a batch of frame handles out of the log, writes them with one flush, and repeats; when idle it
//! waits for the next frame. When it falls a whole queue behind it is told (`lagged`), skipped to
//! the live edge and sent the latest state of every stream among what it skipped (a `resync`
//! snapshot), so it never shows stale state. A viewer that neither accepts writes nor answers pings
//! for `ping_timeout` is closed. What a viewer sends is ignored: viewers are read-only.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt as _, StreamExt as _};
use vizcast_protocol::Control;

use crate::hub::{Client, ClientGuard, Hub, Role};

type Sink = SplitSink<WebSocket, Message>;

/// How a viewer's session ended.
#[derive(Debug)]
enum End {
    /// The viewer closed or the connection dropped.
    Gone,
    /// The hub is shutting down.
    Shutdown,
    /// The viewer stopped accepting data or answering pings.
    Stalled(&'static str),
}

/// Runs a viewer's session to its end.
pub(crate) async fn run(hub: Arc<Hub>, socket: WebSocket, guard: ClientGuard) {
    let client = guard.client().clone();
    let (mut sink, stream) = socket.split();
    let epoch = Instant::now();
    let heard = Arc::new(AtomicU64::new(0));
    // The reader runs in its own task so that it is polled only when the viewer sends something,
    // not each time the writer wakes up (a read attempt is not free: the WebSocket library clears
    // its read buffer first).
    let mut reader = AbortOnDrop(tokio::spawn(read_loop(stream, heard.clone(), epoch)));
    let end = tokio::select! {
        end = write_loop(&hub, &mut sink, &client, &heard, epoch) => end,
        _ = &mut reader.0 => End::Gone,
    };
    drop(reader);
    match end {
        End::Shutdown => {
            let close = CloseFrame {
                code: 1001,
                reason: Utf8Bytes::from_static("vizcast is shutting down"),
            };
            let bye = sink.send(Message::Close(Some(close)));
            tokio::time::timeout(std::time::Duration::from_secs(1), bye)
                .await
                .ok();
        }
        End::Stalled(why) => {
            tracing::info!(viewer = %client.addr, "closing a stalled viewer: {why}");
        }
        End::Gone => {
            // Flush the reply to the viewer's close frame, if any.
            tokio::time::timeout(std::time::Duration::from_millis(500), sink.close())
                .await
                .ok();
        }
    }
    tracing::debug!(viewer = %client.addr, frames = client.frames.load(Ordering::Relaxed), "viewer disconnected");
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Reads what the viewer sends: pongs and other frames only prove it is alive. Ends when it closes.
async fn read_loop(mut stream: SplitStream<WebSocket>, heard: Arc<AtomicU64>, epoch: Instant) {
    while let Some(Ok(message)) = stream.next().await {
        heard.store(epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
        if let Message::Close(_) = message {
            break;
        }
    }
}

async fn write_loop(
    hub: &Hub,
    sink: &mut Sink,
    client: &Client,
    heard: &AtomicU64,
    epoch: Instant,
) -> End {
    let config = hub.config();
    let shutdown = hub.shutdown_token();
    let mut head = hub.watch_head();
    let mut batch = Vec::new();

    let hello = Message::Text(hub.hello(Role::Viewer).to_json().into());
    if let Err(end) = write(sink, config.ping_timeout, std::iter::once(hello)).await {
        return end;
    }
    let mut status = hub.watch_status();
    let current = status.borrow_and_update().clone();
    if let Some(text) = current {
        let message = std::iter::once(Message::Text(text));
        if let Err(end) = write(sink, config.ping_timeout, message).await {
            return end;
        }
    }
    let (mut cursor, mut offset, mut generation) = hub.join(&mut batch);
    if let Err(end) = send_snapshot(sink, config.ping_timeout, "join", &batch).await {
        return end;
    }
    client
        .frames
        .fetch_add(batch.len() as u64, Ordering::Relaxed);
    client.cursor.store(cursor, Ordering::Relaxed);

    let mut next_ping = tokio::time::Instant::now() + config.ping_interval;
    loop {
        head.borrow_and_update();
        batch.clear();
        if status.has_changed().unwrap_or(false) {
            let current = status.borrow_and_update().clone();
            if let Some(text) = current
                && let Err(end) = write(
                    sink,
                    config.ping_timeout,
                    std::iter::once(Message::Text(text)),
                )
                .await
            {
                return end;
            }
        }
        if hub.epoch() != generation {
            // The hub started a new state (a replay seeked or looped). First deliver what was
            // accepted before the reset, then restate everything from scratch.
            let reset_at = hub.reset_at();
            if cursor < reset_at
                && hub.read_until(cursor, reset_at, &mut batch).is_ok()
                && !batch.is_empty()
            {
                let count = batch.len() as u64;
                let bytes: u64 = batch.iter().map(|f| f.len() as u64).sum();
                let frames = batch.drain(..).map(Message::Text);
                if let Err(end) = write(sink, config.ping_timeout, frames).await {
                    return end;
                }
                cursor += count;
                offset += bytes;
                continue;
            }
            batch.clear();
            (cursor, offset, generation) = hub.join(&mut batch);
            if let Err(end) = send_snapshot(sink, config.ping_timeout, "reset", &batch).await {
                return end;
            }
            client
                .frames
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
            client.cursor.store(cursor, Ordering::Relaxed);
            continue;
        }
        match hub.read(cursor, &mut batch) {
            Ok(()) if !batch.is_empty() => {
                let count = batch.len() as u64;
                let bytes: u64 = batch.iter().map(|f| f.len() as u64).sum();
                if let Err(end) = write(
                    sink,
                    config.ping_timeout,
                    batch.drain(..).map(Message::Text),
                )
                .await
                {
                    return end;
                }
                cursor += count;
                offset += bytes;
                client.frames.fetch_add(count, Ordering::Relaxed);
                client.bytes.fetch_add(bytes, Ordering::Relaxed);
                client.cursor.store(cursor, Ordering::Relaxed);
            }
            Ok(()) => {
                tokio::select! {
                    changed = head.changed() => if changed.is_err() { return End::Shutdown },
                    _ = status.changed() => {}
                    () = tokio::time::sleep_until(next_ping) => {}
                    () = shutdown.cancelled() => return End::Shutdown,
                }
            }
            Err(_lagged) => {
                let resync = hub.resync(cursor, offset, &mut batch);
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
                let lagged = Message::Text(lagged.to_json().into());
                if let Err(end) = write(sink, config.ping_timeout, std::iter::once(lagged)).await {
                    return end;
                }
                if let Err(end) = send_snapshot(sink, config.ping_timeout, "resync", &batch).await {
                    return end;
                }
                client
                    .frames
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                client.bytes.fetch_add(resent_bytes, Ordering::Relaxed);
                cursor = resync.cursor;
                offset = resync.offset;
                client.cursor.store(cursor, Ordering::Relaxed);
            }
        }
        if shutdown.is_cancelled() {
            return End::Shutdown;
        }
        let now = tokio::time::Instant::now();
        if now >= next_ping {
            let silent = epoch.elapsed().as_millis() as u64 - heard.load(Ordering::Relaxed);
            if silent > config.ping_timeout.as_millis() as u64 {
                return End::Stalled("no answer to pings");
            }
            let ping = Message::Ping(bytes::Bytes::new());
            if let Err(end) = write(sink, config.ping_timeout, std::iter::once(ping)).await {
                return end;
            }
            next_ping = now + config.ping_interval;
        }
    }
}

/// Sends a snapshot: `snapshot_begin`, the frames, `snapshot_end`.
async fn send_snapshot(
    sink: &mut Sink,
    timeout: std::time::Duration,
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
    write(
        sink,
        timeout,
        std::iter::once(Message::Text(begin.to_json().into())),
    )
    .await?;
    for chunk in frames.chunks(crate::hub::BATCH_FRAMES) {
        write(sink, timeout, chunk.iter().cloned().map(Message::Text)).await?;
    }
    write(
        sink,
        timeout,
        std::iter::once(Message::Text(end.to_json().into())),
    )
    .await
}

/// Writes messages with one flush, giving up when the socket does not take them within `timeout`.
async fn write(
    sink: &mut Sink,
    timeout: std::time::Duration,
    messages: impl Iterator<Item = Message>,
) -> Result<(), End> {
    let work = async {
        for message in messages {
            sink.feed(message).await?;
        }
        sink.flush().await
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(End::Gone),
        Err(_) => Err(End::Stalled(
            "the socket accepted nothing for the ping timeout",
        )),
    }
}
