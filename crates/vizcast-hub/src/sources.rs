//! JSON-lines sources: a TCP listener (`--tcp-ingest`) and standard input (`--stdin`).
//!
//! One frame per line (`\n` or `\r\n`; blank lines are skipped). A line over `--max-frame-bytes` is
//! skipped without being buffered (the reader discards up to the next newline), and every rejected
//! line is logged with its line number; the source then goes on with the next line.
//! Producers on non-loopback addresses must open with `{"vizcast": "auth", "token": "…"}`.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt as _};
use tokio::net::{TcpListener, TcpStream};
use vizcast_protocol::FrameError;

use crate::hub::{ClientGuard, Hub, Role};
use crate::producer::ErrorLog;

/// Accepts JSON-lines producers on `listener` until the hub shuts down.
pub async fn serve_tcp(hub: Arc<Hub>, listener: TcpListener) {
    let shutdown = hub.shutdown_token();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.cancelled() => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                stream.set_nodelay(true).ok();
                let hub2 = hub.clone();
                hub.tasks()
                    .spawn(async move { tcp_connection(hub2, stream, peer).await });
            }
            Err(err) => {
                tracing::warn!("TCP ingest accept failed: {err}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

async fn tcp_connection(hub: Arc<Hub>, stream: TcpStream, peer: SocketAddr) {
    let Some(guard) = hub.register(Role::Producer, format!("tcp {peer}")) else {
        tracing::warn!(%peer, "refused a TCP producer: too many producers (--max-producers)");
        return;
    };
    let mut lines = LineReader::new(stream, hub.config().limits.max_frame_bytes);
    if !peer.ip().is_loopback() {
        let first = match lines.next_line().await {
            Ok(Some(Line::Frame(bytes))) => String::from_utf8_lossy(&bytes).into_owned(),
            _ => String::new(),
        };
        if let Err(why) = hub.config().access.check_tcp_auth(&first) {
            tracing::warn!(%peer, "refused a TCP producer: {why}");
            return;
        }
    }
    tracing::info!(%peer, "TCP producer connected");
    ingest_lines(&hub, lines, &guard).await;
    tracing::info!(%peer, "TCP producer disconnected");
}

/// Reads JSON lines from standard input until it closes or the hub shuts down.
pub async fn serve_stdin(hub: Arc<Hub>) {
    let Some(guard) = hub.register(Role::Producer, "stdin".to_owned()) else {
        return;
    };
    let lines = LineReader::new(tokio::io::stdin(), hub.config().limits.max_frame_bytes);
    ingest_lines(&hub, lines, &guard).await;
    tracing::info!("standard input closed");
}

/// Feeds every line of `lines` to the hub.
pub async fn ingest_lines<R: AsyncRead + Unpin>(
    hub: &Hub,
    mut lines: LineReader<R>,
    guard: &ClientGuard,
) {
    let client = guard.client();
    let shutdown = hub.shutdown_token();
    let mut errors = ErrorLog::new(&client.addr);
    let mut line_no = 0u64;
    loop {
        let line = tokio::select! {
            line = lines.next_line() => line,
            () = shutdown.cancelled() => return,
        };
        let bytes = match line {
            Ok(Some(Line::Frame(bytes))) => bytes,
            Ok(Some(Line::TooLong(size))) => {
                line_no += 1;
                hub.count_rejected();
                client
                    .dropped_frames
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                errors.log(
                    line_no,
                    &FrameError::too_large(size, hub.config().limits.max_frame_bytes).message,
                );
                continue;
            }
            Ok(None) => return,
            Err(err) => {
                tracing::warn!(producer = %client.addr, "read error: {err}");
                return;
            }
        };
        line_no += 1;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let len = bytes.len() as u64;
        let Ok(text) = Utf8Bytes::try_from(bytes.clone()) else {
            let valid_up_to = std::str::from_utf8(&bytes)
                .err()
                .map_or(0, |e| e.valid_up_to());
            hub.count_rejected();
            client
                .dropped_frames
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            errors.log(line_no, &FrameError::not_utf8(valid_up_to).message);
            continue;
        };
        match hub.ingest(text) {
            Ok(_) => {
                client
                    .frames
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                client
                    .bytes
                    .fetch_add(len, std::sync::atomic::Ordering::Relaxed);
            }
            Err(err) => {
                client
                    .dropped_frames
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                errors.log(line_no, &err.to_string());
            }
        }
    }
}

/// One line read by [`LineReader`].
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A line, without its line ending.
    Frame(Bytes),
    /// A line longer than the limit was skipped; this is its length.
    TooLong(usize),
}

/// Splits a byte stream into lines of bounded length without copying them.
pub struct LineReader<R> {
    inner: R,
    buf: BytesMut,
    /// Bytes of `buf` already searched for a newline.
    scanned: usize,
    max: usize,
    /// Bytes discarded from the current over-long line.
    discarding: Option<usize>,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    /// A reader of lines of at most `max` bytes.
    pub fn new(inner: R, max: usize) -> Self {
        Self {
            inner,
            buf: BytesMut::with_capacity(64 * 1024),
            scanned: 0,
            max,
            discarding: None,
        }
    }

    /// The next line, `None` at the end of the stream.
    pub async fn next_line(&mut self) -> io::Result<Option<Line>> {
        loop {
            if let Some(pos) = memchr::memchr(b'\n', &self.buf[self.scanned..]) {
                let end = self.scanned + pos;
                let mut line = self.buf.split_to(end + 1);
                self.scanned = 0;
                if let Some(discarded) = self.discarding.take() {
                    return Ok(Some(Line::TooLong(discarded + end)));
                }
                line.truncate(end);
                if line.last() == Some(&b'\r') {
                    line.truncate(end - 1);
                }
                if line.len() > self.max {
                    return Ok(Some(Line::TooLong(line.len())));
                }
                return Ok(Some(Line::Frame(line.freeze())));
            }
            self.scanned = self.buf.len();
            if self.buf.len() > self.max {
                *self.discarding.get_or_insert(0) += self.buf.len();
                self.buf.clear();
                self.scanned = 0;
            }
            self.buf.reserve(64 * 1024);
            if self.inner.read_buf(&mut self.buf).await? == 0 {
                self.scanned = 0;
                if let Some(discarded) = self.discarding.take() {
                    self.buf.clear();
                    return Ok(Some(Line::TooLong(discarded)));
                }
                if self.buf.is_empty() {
                    return Ok(None);
                }
                let line = self.buf.split();
                if line.len() > self.max {
                    return Ok(Some(Line::TooLong(line.len())));
                }
                return Ok(Some(Line::Frame(line.freeze())));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_are_split_and_over_long_ones_skipped_without_buffering() {
        let input = format!("a\r\n\n{}\nb\n{}", "x".repeat(300_000), "tail");
        let mut reader = LineReader::new(input.as_bytes(), 100_000);
        assert_eq!(
            reader.next_line().await.unwrap(),
            Some(Line::Frame(Bytes::from("a")))
        );
        assert_eq!(
            reader.next_line().await.unwrap(),
            Some(Line::Frame(Bytes::new()))
        );
        assert_eq!(
            reader.next_line().await.unwrap(),
            Some(Line::TooLong(300_000))
        );
        assert!(reader.buf.capacity() < 400_000);
        assert_eq!(
            reader.next_line().await.unwrap(),
            Some(Line::Frame(Bytes::from("b")))
        );
        assert_eq!(
            reader.next_line().await.unwrap(),
            Some(Line::Frame(Bytes::from("tail")))
        );
        assert_eq!(reader.next_line().await.unwrap(), None);
    }
}
