//! One producer's connection on `/ingest`, and the per-connection error log shared with the
//! JSON-lines sources.
//!
//! Each text frame is validated and accepted on its own: a rejected frame gets an `error` message
//! back (with its number on this connection and the byte offset of the problem) and the connection
//! keeps going. Only what breaks the WebSocket itself ends it: a frame over `--max-frame-bytes`
//! (close 1009: its payload is never read), invalid UTF-8 in a text frame (close 1007, as RFC 6455
//! requires), or a protocol violation (close 1002).
//!
//! The connection is read and written with vizcast's own WebSocket framing (`websocket.rs`), as
//! viewers' are: a frame is unmasked in place and handed to the hub without a copy.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::extract::ws::Utf8Bytes;
use vizcast_protocol::{Control, FrameError};

use crate::hub::{Client, ClientGuard, Hub, IngestError, Role};
use crate::socket::SocketWriter;
use crate::viewer::{Io, Writer, split};
use crate::websocket::{FrameReader, FrameWriter, Incoming, Kind, ReadError};

/// Frames larger than this are parsed off the async worker (they take milliseconds).
const LARGE_FRAME: usize = 256 * 1024;
/// How much a producer's reader asks the socket for at a time: at high rates one read takes many
/// frames.
const READ_CHUNK: usize = 64 * 1024;
/// A producer's task yields to others after this many frames in a row. One read can hold
/// hundreds of frames, and a viewer task woken meanwhile waits on the same worker until the
/// producer's task yields: without this, at full speed it fell a whole queue behind.
const FRAMES_PER_YIELD: u32 = 1024;

/// Runs a producer's session to its end; on plain TCP, `socket` is the connection's writing side.
pub(crate) async fn run(hub: Arc<Hub>, io: Io, socket: Option<SocketWriter>, guard: ClientGuard) {
    let client = guard.client().clone();
    let (read, write) = split(io, socket);
    let mut reader =
        FrameReader::new(read, hub.config().limits.max_frame_bytes).with_chunk(READ_CHUNK);
    let mut writer = FrameWriter::new(write);
    let shutdown = hub.shutdown_token();
    let mut errors = ErrorLog::new(&client.addr);
    let mut frame_no = 0u64;
    if send(&mut writer, hub.hello(Role::Producer)).await.is_err() {
        return;
    }
    let mut since_yield = 0;
    loop {
        since_yield += 1;
        if since_yield == FRAMES_PER_YIELD {
            since_yield = 0;
            tokio::task::yield_now().await;
        }
        let next = tokio::select! {
            next = reader.next() => next,
            () = shutdown.cancelled() => {
                close(&mut writer, 1001, "vizcast is shutting down").await;
                return;
            }
        };
        let refusal: Option<Control> = match next {
            Ok(None) => return,
            Ok(Some(Incoming::Close)) => {
                close(&mut writer, 1000, "").await;
                return;
            }
            Ok(Some(Incoming::Pong)) => None,
            Ok(Some(Incoming::Ping(payload))) => {
                writer.push(Kind::Pong, payload);
                if writer.flush().await.is_err() {
                    return;
                }
                None
            }
            Ok(Some(Incoming::Text(text))) => {
                frame_no += 1;
                match ingest(&hub, &client, text) {
                    Ok(()) => None,
                    Err(err) => {
                        errors.log(frame_no, &err.to_string());
                        Some(err.to_control(Some(frame_no)))
                    }
                }
            }
            Ok(Some(Incoming::Binary)) => {
                frame_no += 1;
                hub.count_rejected();
                client.dropped_frames.fetch_add(1, Ordering::Relaxed);
                let message = "binary frames are not accepted: send JSON as text frames";
                errors.log(frame_no, message);
                Some(Control::Error {
                    code: "binary".to_owned(),
                    message: message.to_owned(),
                    frame: Some(frame_no),
                    offset: None,
                })
            }
            Err(ReadError::Io(err)) => {
                tracing::debug!(producer = %client.addr, "the connection failed: {err}");
                return;
            }
            Err(err) => {
                let code = err.close_code().unwrap_or(1002);
                let reason = close_reason(&err);
                hub.count_rejected();
                client.dropped_frames.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(producer = %client.addr, frame = frame_no + 1, "closing the connection ({code}): {reason}");
                close(&mut writer, code, &reason).await;
                if code == 1009 {
                    // The oversized payload is still arriving: closing the socket now would reset
                    // the connection before the producer reads why. Give it a moment.
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                return;
            }
        };
        if let Some(refusal) = refusal
            && send(&mut writer, refusal).await.is_err()
        {
            return;
        }
    }
}

/// Sends one control message.
async fn send(writer: &mut Writer, control: Control) -> std::io::Result<()> {
    writer.push(Kind::Text, control.to_json().into());
    writer.flush().await
}

/// Validates and accepts a frame, off the async worker when it is large.
fn ingest(hub: &Hub, client: &Client, text: Utf8Bytes) -> Result<(), IngestError> {
    let len = text.len() as u64;
    let multi_thread = matches!(
        tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()),
        Ok(tokio::runtime::RuntimeFlavor::MultiThread)
    );
    let result = if multi_thread && text.len() > LARGE_FRAME {
        tokio::task::block_in_place(|| hub.ingest(text))
    } else {
        hub.ingest(text)
    };
    match result {
        Ok(_) => {
            client.frames.fetch_add(1, Ordering::Relaxed);
            client.bytes.fetch_add(len, Ordering::Relaxed);
            Ok(())
        }
        Err(err) => {
            client.dropped_frames.fetch_add(1, Ordering::Relaxed);
            Err(err)
        }
    }
}

/// What the producer is told when its stream breaks the WebSocket protocol.
fn close_reason(err: &ReadError) -> String {
    match err {
        ReadError::TooBig { size, max } => {
            FrameError::too_large(usize::try_from(*size).unwrap_or(usize::MAX), *max).message
        }
        ReadError::NotUtf8 => "text frame is not valid UTF-8".to_owned(),
        ReadError::Protocol(why) => format!("WebSocket protocol error: {why}"),
        ReadError::Io(err) => format!("connection error: {err}"),
    }
}

/// Ends the connection with a close frame (`code`, `reason`), within a second.
async fn close(writer: &mut Writer, code: u16, reason: &str) {
    tokio::time::timeout(Duration::from_secs(1), writer.close(code, reason))
        .await
        .ok();
}

/// Logs a connection's rejected frames without flooding the log: the first few in full, then a
/// summary at most every 10 seconds.
pub(crate) struct ErrorLog {
    source: String,
    logged: u32,
    suppressed: u64,
    last_summary: Instant,
}

impl ErrorLog {
    const FULL: u32 = 10;
    const SUMMARY_EVERY: Duration = Duration::from_secs(10);

    pub(crate) fn new(source: &str) -> Self {
        Self {
            source: source.to_owned(),
            logged: 0,
            suppressed: 0,
            last_summary: Instant::now(),
        }
    }

    pub(crate) fn log(&mut self, frame: u64, error: &str) {
        if self.logged < Self::FULL {
            self.logged += 1;
            tracing::warn!(producer = %self.source, frame, "rejected frame: {error}");
            if self.logged == Self::FULL {
                tracing::warn!(producer = %self.source, "further rejections from this producer are summarized");
            }
            return;
        }
        self.suppressed += 1;
        if self.last_summary.elapsed() >= Self::SUMMARY_EVERY {
            tracing::warn!(producer = %self.source, rejected = self.suppressed, last_frame = frame, "rejected frames; latest: {error}");
            self.suppressed = 0;
            self.last_summary = Instant::now();
        }
    }
}
