//! One producer's connection on `/ingest`, and the per-connection error log shared with the
//! JSON-lines sources.
//!
//! Each text frame is validated and accepted on its own: a rejected frame gets an `error` message
//! back (with its number on this connection and the byte offset of the problem) and the connection
//! keeps going. Only what breaks the WebSocket itself ends it: a frame over `--max-frame-bytes`
//! (close 1009: its payload is never read), invalid UTF-8 in a text frame (close 1007, as RFC 6455
//! requires), or a protocol violation (close 1002).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio_tungstenite::tungstenite;
use vizcast_protocol::{Control, FrameError};

use crate::hub::{Client, ClientGuard, Hub, IngestError, Role};

/// Frames larger than this are parsed off the async worker (they take milliseconds).
const LARGE_FRAME: usize = 256 * 1024;

/// Runs a producer's session to its end.
pub(crate) async fn run(hub: Arc<Hub>, socket: WebSocket, guard: ClientGuard) {
    let client = guard.client().clone();
    let (mut sink, mut stream) = socket.split();
    let shutdown = hub.shutdown_token();
    let mut errors = ErrorLog::new(&client.addr);
    let mut frame_no = 0u64;
    let hello = Message::Text(hub.hello(Role::Producer).to_json().into());
    if sink.send(hello).await.is_err() {
        return;
    }
    loop {
        let next = tokio::select! {
            next = stream.next() => next,
            () = shutdown.cancelled() => {
                close(&mut sink, 1001, "vizcast is shutting down").await;
                return;
            }
        };
        let refusal: Option<Control> = match next {
            None | Some(Ok(Message::Close(_))) => {
                tokio::time::timeout(Duration::from_millis(500), sink.close())
                    .await
                    .ok();
                return;
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => None,
            Some(Ok(Message::Text(text))) => {
                frame_no += 1;
                match ingest(&hub, &client, text) {
                    Ok(()) => None,
                    Err(err) => {
                        errors.log(frame_no, &err.to_string());
                        Some(err.to_control(Some(frame_no)))
                    }
                }
            }
            Some(Ok(Message::Binary(_))) => {
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
            Some(Err(err)) => {
                let (code, reason) = close_reason(err, hub.config().limits.max_frame_bytes);
                hub.count_rejected();
                client.dropped_frames.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(producer = %client.addr, frame = frame_no + 1, "closing the connection ({code}): {reason}");
                close(&mut sink, code, &reason).await;
                if code == 1009 {
                    // The oversized payload is still arriving: closing the socket now would reset
                    // the connection before the producer reads why. Give it a moment.
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                return;
            }
        };
        if let Some(refusal) = refusal {
            let reply = Message::Text(refusal.to_json().into());
            if sink.send(reply).await.is_err() {
                return;
            }
        }
    }
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

/// The close code and reason for a WebSocket error while reading.
fn close_reason(err: axum::Error, max_frame_bytes: usize) -> (u16, String) {
    let inner = err.into_inner();
    match inner.downcast_ref::<tungstenite::Error>() {
        Some(tungstenite::Error::Capacity(tungstenite::error::CapacityError::MessageTooLong {
            size,
            ..
        })) => (1009, FrameError::too_large(*size, max_frame_bytes).message),
        Some(tungstenite::Error::Utf8(_)) => (1007, "text frame is not valid UTF-8".to_owned()),
        Some(other) => (1002, format!("WebSocket protocol error: {other}")),
        None => (1011, format!("connection error: {inner}")),
    }
}

async fn close(
    sink: &mut futures_util::stream::SplitSink<WebSocket, Message>,
    code: u16,
    reason: &str,
) {
    // A close reason is at most 123 bytes.
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let frame = CloseFrame {
        code,
        reason: Utf8Bytes::from(&reason[..end]),
    };
    tokio::time::timeout(
        Duration::from_secs(1),
        sink.send(Message::Close(Some(frame))),
    )
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
