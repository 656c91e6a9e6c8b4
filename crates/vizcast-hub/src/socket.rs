//! A plain TCP connection whose writing side can be shared: the HTTP server reads and writes it as
//! usual, and once it is upgraded to a viewer's WebSocket, the viewer's task and the ingest path
//! (write-through, see [`crate::direct`]) both write to it through a [`SocketWriter`].
//!
//! Only one of them writes at a time: the ingest path writes only while the viewer's task is
//! parked, and the task writes only after it has unparked (both under the viewer's lock).

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// A plain TCP connection as the HTTP server sees it: its reading half, and a writing half that a
/// viewer's session can share (see the module docs).
#[derive(Debug)]
pub(crate) struct SharedTcp {
    read: OwnedReadHalf,
    write: SocketWriter,
}

impl SharedTcp {
    /// Wraps an accepted connection.
    pub(crate) fn new(tcp: TcpStream) -> Self {
        let (read, write) = tcp.into_split();
        Self {
            read,
            write: SocketWriter(Arc::new(write)),
        }
    }

    /// Another handle on the writing side.
    pub(crate) fn writer(&self) -> SocketWriter {
        self.write.clone()
    }
}

impl AsyncRead for SharedTcp {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.read).poll_read(cx, buf)
    }
}

impl AsyncWrite for SharedTcp {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.write).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.write).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.write).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.write).poll_shutdown(cx)
    }
}

/// A shareable handle on a connection's writing side: an async writer for tasks, and
/// [`SocketWriter::try_write`] for the ingest path, which never waits. The connection's sending
/// side is shut down when the last handle is dropped.
#[derive(Clone, Debug)]
pub(crate) struct SocketWriter(Arc<OwnedWriteHalf>);

impl SocketWriter {
    fn tcp(&self) -> &TcpStream {
        (*self.0).as_ref()
    }

    /// Writes what the socket takes now, without waiting: the bytes written, or `WouldBlock`.
    pub(crate) fn try_write(&self, bytes: &[u8]) -> io::Result<usize> {
        self.tcp().try_write(bytes)
    }
}

impl AsyncWrite for SocketWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.tcp().poll_write_ready(cx))?;
            match self.tcp().try_write_vectored(bufs) {
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                written => return Poll::Ready(written),
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Writes go straight to the socket.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(socket2::SockRef::from(self.tcp()).shutdown(std::net::Shutdown::Write))
    }
}
