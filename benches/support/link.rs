//! A bounded link, seen from the reader: a TCP socket read through a token bucket. Shared by the
//! `link_rate` benchmark and the end-to-end conflation tests (included with `#[path]`).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A TCP socket read through a token bucket of `rate` bytes a second (`None`: unlimited): a
/// bounded link, seen from the reader. Counts the bytes read in `read`.
pub struct Link {
    inner: TcpStream,
    rate: Option<f64>,
    /// Bytes the link may deliver now, at most `burst`.
    tokens: f64,
    burst: f64,
    refilled: Instant,
    read: Arc<AtomicU64>,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Link {
    /// A link of `rate` bytes a second over `inner`, counting what it delivers in `read`.
    pub fn new(inner: TcpStream, rate: Option<f64>, read: Arc<AtomicU64>) -> Self {
        // What the link carries in 20 ms, at least 64 KiB (the receive buffer, which a real link
        // fills while the reader is busy): coarse timers and a busy machine do not lower the rate.
        let burst = rate.map_or(0.0, |r| (r * 0.020).max(64.0 * 1024.0));
        Self {
            inner,
            rate,
            tokens: 0.0,
            burst,
            refilled: Instant::now(),
            read,
            sleep: None,
        }
    }
}

impl AsyncRead for Link {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let Some(rate) = this.rate else {
            let before = buf.filled().len();
            let poll = Pin::new(&mut this.inner).poll_read(cx, buf);
            let n = buf.filled().len() - before;
            this.read.fetch_add(n as u64, Ordering::Relaxed);
            return poll;
        };
        loop {
            if let Some(sleep) = this.sleep.as_mut() {
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.sleep = None;
            }
            let now = Instant::now();
            let elapsed = now.duration_since(this.refilled).as_secs_f64();
            this.tokens = (this.tokens + elapsed * rate).min(this.burst);
            this.refilled = now;
            // Wait for a useful read's worth (16 KiB, or what the burst allows).
            let chunk = (16.0 * 1024.0f64).min(this.burst);
            if this.tokens < chunk {
                let wait = Duration::from_secs_f64((chunk - this.tokens) / rate);
                this.sleep = Some(Box::pin(tokio::time::sleep(wait)));
                continue;
            }
            let take = (this.tokens as usize).min(buf.remaining());
            let mut limited = ReadBuf::new(buf.initialize_unfilled_to(take));
            match Pin::new(&mut this.inner).poll_read(cx, &mut limited) {
                Poll::Ready(Ok(())) => {
                    let n = limited.filled().len();
                    buf.advance(n);
                    this.tokens -= n as f64;
                    this.read.fetch_add(n as u64, Ordering::Relaxed);
                    return Poll::Ready(Ok(()));
                }
                other => return other,
            }
        }
    }
}

impl AsyncWrite for Link {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
