//! The server side of vizcast's WebSockets (`/ws`, `/foxglove`, `/ingest`): the upgrade, a frame
//! writer that sends shared payloads from where they lie, and a reader of the client's frames.
//!
//! A frame the hub mirrors is one reference-counted buffer shared by every viewer. The WebSocket
//! library copies each message into a per-connection write buffer and shifts that buffer after each
//! partial write: with 10 k-point clouds at 100 viewers those copies were 29 % of the hub's CPU
//! time. Here a batch is sent with vectored writes of the small frame headers and the shared
//! payloads, so the only copies left are the kernel's. Payloads up to [`INLINE`] bytes are copied
//! next to their header instead: for a scalar frame a copy is cheaper than a slice of its own.
//!
//! Headers are formatted and parsed by the WebSocket library's own [`FrameHeader`]; what is here
//! is the RFC 6455 rules around them: the handshake's accept key, client frames masked, control
//! frames short and final, fragmented messages reassembled within a size limit, no extensions.

use std::io::{self, Cursor, IoSlice};

use axum::extract::ws::Utf8Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::{Buf as _, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::FrameHeader;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Control, Data, OpCode};

/// Payloads up to this many bytes are copied next to their header; larger ones are written in
/// place.
pub(crate) const INLINE: usize = 1024;
/// Most slices one vectored write passes to the kernel (which takes at most 1,024).
const MAX_SLICES: usize = 512;
/// How much a reader asks the socket for at a time, unless told otherwise.
const READ_CHUNK: usize = 4 * 1024;

/// Checks a WebSocket upgrade request and returns the `101 Switching Protocols` response for it
/// (naming `protocol` as the subprotocol agreed, if any), or the response that refuses it.
pub(crate) fn accept(
    headers: &HeaderMap,
    protocol: Option<&'static str>,
) -> Result<Response, Box<Response>> {
    let has_token = |name: header::HeaderName, token: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    if !has_token(header::CONNECTION, "upgrade") || !has_token(header::UPGRADE, "websocket") {
        return Err(Box::new(
            (
                StatusCode::UPGRADE_REQUIRED,
                [(header::UPGRADE, "websocket")],
                "this endpoint speaks WebSocket only\n",
            )
                .into_response(),
        ));
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_none_or(|v| v.as_bytes() != b"13")
    {
        return Err(Box::new(
            (
                StatusCode::BAD_REQUEST,
                [(header::SEC_WEBSOCKET_VERSION, "13")],
                "only WebSocket version 13 is supported\n",
            )
                .into_response(),
        ));
    }
    let Some(key) = headers.get(header::SEC_WEBSOCKET_KEY) else {
        return Err(Box::new(
            (
                StatusCode::BAD_REQUEST,
                "the upgrade has no Sec-WebSocket-Key\n",
            )
                .into_response(),
        ));
    };
    let accept =
        HeaderValue::from_str(&derive_accept_key(key.as_bytes())).expect("an accept key is base64");
    let mut response = (
        StatusCode::SWITCHING_PROTOCOLS,
        [
            (header::CONNECTION, HeaderValue::from_static("upgrade")),
            (header::UPGRADE, HeaderValue::from_static("websocket")),
            (header::SEC_WEBSOCKET_ACCEPT, accept),
        ],
    )
        .into_response();
    if let Some(protocol) = protocol {
        response.headers_mut().insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static(protocol),
        );
    }
    Ok(response)
}

/// What the hub sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A text message (a frame, a control message).
    Text,
    /// A binary message (the Foxglove protocol's message data).
    Binary,
    /// A ping (any reply proves the viewer alive).
    Ping,
    /// The reply to the client's ping.
    Pong,
    /// The closing handshake.
    Close,
}

impl Kind {
    fn opcode(self) -> OpCode {
        match self {
            Self::Text => OpCode::Data(Data::Text),
            Self::Binary => OpCode::Data(Data::Binary),
            Self::Ping => OpCode::Control(Control::Ping),
            Self::Pong => OpCode::Control(Control::Pong),
            Self::Close => OpCode::Control(Control::Close),
        }
    }
}

/// A queued part of the output: bytes of `inline` (headers and small payloads), or a shared
/// payload.
#[derive(Debug)]
enum Segment {
    Inline(usize, usize),
    Shared(Bytes),
}

impl Segment {
    fn bytes<'a>(&'a self, inline: &'a [u8]) -> &'a [u8] {
        match self {
            Self::Inline(start, end) => &inline[*start..*end],
            Self::Shared(payload) => payload,
        }
    }
}

/// Writes WebSocket messages: [`FrameWriter::push`] queues them, [`FrameWriter::flush`] writes
/// all that is queued and flushes the stream.
///
/// What is queued is bounded by the caller (a viewer queues one batch, at most
/// `BATCH_FRAMES` frames / `BATCH_BYTES` past the first, before it flushes).
///
/// A flush may be cancelled (a timeout, the session ending while the socket is full): the writer
/// remembers how far it got, and the next flush goes on from exactly there. So a frame once
/// started is always finished before any other byte, or the connection is dropped with nothing
/// more written; never is a frame restarted or abandoned halfway (RFC 6455 has no way to tell
/// the client that happened).
#[derive(Debug)]
pub(crate) struct FrameWriter<W> {
    io: W,
    inline: Vec<u8>,
    segments: Vec<Segment>,
    /// The first segment not yet written in full, and how many of its bytes were.
    written: (usize, usize),
}

impl<W: AsyncWrite + Unpin> FrameWriter<W> {
    /// A writer onto `io`.
    pub(crate) fn new(io: W) -> Self {
        Self {
            io,
            inline: Vec::new(),
            segments: Vec::new(),
            written: (0, 0),
        }
    }

    /// Queues one message (a single final frame, unmasked as a server's are).
    pub(crate) fn push(&mut self, kind: Kind, payload: Bytes) {
        self.push_prefixed(kind, &[], payload);
    }

    /// Queues one message made of a small `prefix` of its own and a shared `payload`.
    pub(crate) fn push_prefixed(&mut self, kind: Kind, prefix: &[u8], payload: Bytes) {
        let start = self.inline.len();
        format_header(kind, prefix.len() + payload.len(), &mut self.inline);
        self.inline.extend_from_slice(prefix);
        let shared = payload.len() > INLINE;
        if !shared {
            self.inline.extend_from_slice(&payload);
        }
        let end = self.inline.len();
        match self.segments.last_mut() {
            // Headers and small payloads queued one after another are one slice.
            Some(Segment::Inline(_, last)) if *last == start => *last = end,
            _ => self.segments.push(Segment::Inline(start, end)),
        }
        if shared {
            self.segments.push(Segment::Shared(payload));
        }
    }

    /// Queues bytes that are already WebSocket framing (the end of a frame that another writer
    /// began, see `direct.rs`).
    pub(crate) fn push_encoded(&mut self, bytes: Bytes) {
        self.segments.push(Segment::Shared(bytes));
    }

    /// Queues a close frame with `code` and `reason` (cut to fit a control frame).
    pub(crate) fn push_close(&mut self, code: u16, reason: &str) {
        let mut end = reason.len().min(123);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        let mut payload = Vec::with_capacity(2 + end);
        payload.extend_from_slice(&code.to_be_bytes());
        payload.extend_from_slice(&reason.as_bytes()[..end]);
        self.push(Kind::Close, payload.into());
    }

    /// Bytes queued and not yet written.
    #[cfg(test)]
    fn queued(&self) -> usize {
        let (first, done) = self.written;
        self.segments[first.min(self.segments.len())..]
            .iter()
            .map(|s| s.bytes(&self.inline).len())
            .sum::<usize>()
            - done
    }

    /// Writes everything queued, with as few vectored writes as the socket allows, and flushes.
    ///
    /// Cancel-safe: dropped before it completes, it leaves the writer where the socket stopped
    /// taking bytes, and the next flush resumes there.
    pub(crate) async fn flush(&mut self) -> io::Result<()> {
        let Self {
            io,
            inline,
            segments,
            written: progress,
        } = self;
        while progress.0 < segments.len() {
            let (first, done) = *progress;
            let slices: Vec<IoSlice<'_>> = segments[first..]
                .iter()
                .take(MAX_SLICES)
                .enumerate()
                .map(|(i, s)| {
                    let bytes = s.bytes(inline);
                    IoSlice::new(if i == 0 { &bytes[done..] } else { bytes })
                })
                .collect();
            let mut written = io.write_vectored(&slices).await?;
            if written == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            // Record what the socket took before anything else can be cancelled.
            while written > 0 {
                let left = segments[progress.0].bytes(inline).len() - progress.1;
                if written >= left {
                    written -= left;
                    *progress = (progress.0 + 1, 0);
                } else {
                    progress.1 += written;
                    written = 0;
                }
            }
        }
        segments.clear();
        inline.clear();
        *progress = (0, 0);
        io.flush().await
    }

    /// Ends the connection: what is queued, a close frame with `code` and `reason`, then the end
    /// of the stream.
    pub(crate) async fn close(&mut self, code: u16, reason: &str) -> io::Result<()> {
        self.push_close(code, reason);
        self.flush().await?;
        self.io.shutdown().await
    }
}

/// One whole message (a single final frame, unmasked) in one buffer: its header and `payload`.
pub(crate) fn encode(kind: Kind, payload: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(payload.len() + 14);
    format_header(kind, payload.len(), &mut out);
    out.extend_from_slice(payload);
    out.into()
}

/// Appends the header of a single final, unmasked frame of `kind` with a `len`-byte payload.
fn format_header(kind: Kind, len: usize, out: &mut Vec<u8>) {
    let header = FrameHeader {
        opcode: kind.opcode(),
        ..FrameHeader::default()
    };
    header
        .format(len as u64, out)
        .expect("a Vec takes every write");
}

/// Undoes a client frame's `mask` on its payload, eight bytes at a time.
fn unmask(payload: &mut [u8], mask: [u8; 4]) {
    let wide = u64::from_ne_bytes([
        mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3],
    ]);
    let mut words = payload.chunks_exact_mut(8);
    for word in &mut words {
        let value = u64::from_ne_bytes(word.try_into().expect("8 bytes")) ^ wide;
        word.copy_from_slice(&value.to_ne_bytes());
    }
    for (i, byte) in words.into_remainder().iter_mut().enumerate() {
        *byte ^= mask[i & 3];
    }
}

/// A message from the client.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Incoming {
    /// A text message.
    Text(Utf8Bytes),
    /// A binary message (its payload is not needed).
    Binary,
    /// A ping, to be answered with a pong of the same payload.
    Ping(Bytes),
    /// A pong.
    Pong,
    /// The client closes.
    Close,
}

/// Why the client's stream cannot be read on.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    /// The connection failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The client broke the protocol (close code 1002).
    #[error("protocol error: {0}")]
    Protocol(&'static str),
    /// A message longer than the limit (close code 1009): its length so far (or declared), and
    /// the limit.
    #[error("a message of {size} bytes or more, over the limit of {max} bytes")]
    TooBig {
        /// The message's length, at least.
        size: u64,
        /// The limit.
        max: usize,
    },
    /// A text message that is not UTF-8 (close code 1007).
    #[error("a text message that is not UTF-8")]
    NotUtf8,
}

impl ReadError {
    /// The close code that tells the client what it did.
    pub(crate) fn close_code(&self) -> Option<u16> {
        match self {
            Self::Io(_) => None,
            Self::Protocol(_) => Some(1002),
            Self::TooBig { .. } => Some(1009),
            Self::NotUtf8 => Some(1007),
        }
    }
}

/// Reads the client's messages, reassembling fragments, with at most `max_message` bytes each.
#[derive(Debug)]
pub(crate) struct FrameReader<R> {
    io: R,
    buf: BytesMut,
    max_message: usize,
    /// How much to ask the socket for at a time.
    chunk: usize,
    /// A fragmented message in progress: whether it is text, and its bytes so far.
    partial: Option<(bool, BytesMut)>,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// A reader of `io` that refuses messages longer than `max_message`.
    pub(crate) fn new(io: R, max_message: usize) -> Self {
        Self {
            io,
            buf: BytesMut::new(),
            max_message,
            chunk: READ_CHUNK,
            partial: None,
        }
    }

    /// Asks the socket for up to `chunk` bytes at a time (a producer's stream: fewer reads).
    pub(crate) fn with_chunk(mut self, chunk: usize) -> Self {
        self.chunk = chunk;
        self
    }

    /// The next message, or `None` when the client closed the connection without a close frame.
    pub(crate) async fn next(&mut self) -> Result<Option<Incoming>, ReadError> {
        loop {
            if let Some((header, len, at)) = self.header()? {
                if self.buf.len() - at >= len {
                    self.buf.advance(at);
                    let mut payload = self.buf.split_to(len);
                    unmask(&mut payload, header.mask.expect("checked by header()"));
                    if let Some(message) = self.take(&header, payload)? {
                        return Ok(Some(message));
                    }
                    continue;
                }
                self.buf.reserve(at + len - self.buf.len());
            }
            self.buf.reserve(self.chunk);
            if self.io.read_buf(&mut self.buf).await? == 0 {
                return Ok(None);
            }
        }
    }

    /// The next frame's header, its payload's length and where the payload starts, once the
    /// buffer holds the whole header; checked against the rules and the size limit.
    fn header(&self) -> Result<Option<(FrameHeader, usize, usize)>, ReadError> {
        let mut cursor = Cursor::new(&self.buf[..]);
        let Some((header, len)) = FrameHeader::parse(&mut cursor)
            .map_err(|_bad| ReadError::Protocol("a bad frame header"))?
        else {
            return Ok(None);
        };
        if header.rsv1 || header.rsv2 || header.rsv3 {
            return Err(ReadError::Protocol(
                "reserved bits set (no extension was agreed)",
            ));
        }
        if header.mask.is_none() {
            return Err(ReadError::Protocol("an unmasked frame from a client"));
        }
        match header.opcode {
            OpCode::Control(Control::Reserved(_)) | OpCode::Data(Data::Reserved(_)) => {
                return Err(ReadError::Protocol("a reserved opcode"));
            }
            OpCode::Control(_) if len > 125 || !header.is_final => {
                return Err(ReadError::Protocol(
                    "a control frame longer than 125 bytes or fragmented",
                ));
            }
            OpCode::Control(_) => {}
            OpCode::Data(_) => {
                let so_far = self.partial.as_ref().map_or(0, |(_, b)| b.len()) as u64;
                let size = so_far.saturating_add(len);
                if size > self.max_message as u64 {
                    return Err(ReadError::TooBig {
                        size,
                        max: self.max_message,
                    });
                }
            }
        }
        Ok(Some((header, len as usize, cursor.position() as usize)))
    }

    /// Takes one unmasked frame: a whole message, or a fragment of one (`None`).
    fn take(
        &mut self,
        header: &FrameHeader,
        payload: BytesMut,
    ) -> Result<Option<Incoming>, ReadError> {
        let (text, bytes) = match header.opcode {
            OpCode::Control(Control::Ping) => return Ok(Some(Incoming::Ping(payload.freeze()))),
            OpCode::Control(Control::Pong) => return Ok(Some(Incoming::Pong)),
            OpCode::Control(Control::Close) => return Ok(Some(Incoming::Close)),
            OpCode::Data(Data::Continue) => {
                let Some((text, mut bytes)) = self.partial.take() else {
                    return Err(ReadError::Protocol("a continuation frame with no message"));
                };
                bytes.extend_from_slice(&payload);
                if !header.is_final {
                    self.partial = Some((text, bytes));
                    return Ok(None);
                }
                (text, bytes)
            }
            OpCode::Data(data) => {
                if self.partial.is_some() {
                    return Err(ReadError::Protocol(
                        "a new message before the last one ended",
                    ));
                }
                let text = data == Data::Text;
                if !header.is_final {
                    self.partial = Some((text, payload));
                    return Ok(None);
                }
                (text, payload)
            }
            OpCode::Control(Control::Reserved(_)) => unreachable!("refused by header()"),
        };
        if !text {
            return Ok(Some(Incoming::Binary));
        }
        let text = Utf8Bytes::try_from(bytes.freeze()).map_err(|_not_utf8| ReadError::NotUtf8)?;
        Ok(Some(Incoming::Text(text)))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A client's frame: masked, with `first` as its first byte.
    pub(crate) fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [0x12, 0x34, 0x56, 0x78];
        let mut out = vec![first];
        match payload.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n if n <= 0xffff => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    async fn read_all(input: Vec<u8>, max: usize) -> (Vec<Incoming>, Option<ReadError>) {
        let mut reader = FrameReader::new(&input[..], max);
        let mut got = Vec::new();
        loop {
            match reader.next().await {
                Ok(Some(message)) => got.push(message),
                Ok(None) => return (got, None),
                Err(err) => return (got, Some(err)),
            }
        }
    }

    #[tokio::test]
    async fn writes_headers_and_shared_payloads_in_order() {
        let big = Bytes::from(vec![b'x'; 70_000]);
        let mid = Bytes::from(vec![b'y'; 2_000]);
        let mut out = Vec::new();
        let mut writer = FrameWriter::new(&mut out);
        writer.push(Kind::Text, Bytes::from_static(b"{\"a\":1}"));
        writer.push(Kind::Text, big.clone());
        writer.push(Kind::Text, mid.clone());
        writer.push(Kind::Ping, Bytes::new());
        writer.push_close(1001, "bye");
        // Small payloads share their header's slice: [small + big header] [big] [mid header] [mid] [ping + close].
        assert_eq!(writer.segments.len(), 5);
        let queued = writer.queued();
        writer.flush().await.unwrap();
        assert_eq!(out.len(), queued);

        let mut expected = vec![0x81, 7];
        expected.extend_from_slice(b"{\"a\":1}");
        expected.extend_from_slice(&[0x81, 127]);
        expected.extend_from_slice(&70_000u64.to_be_bytes());
        expected.extend_from_slice(&big);
        expected.extend_from_slice(&[0x81, 126]);
        expected.extend_from_slice(&2_000u16.to_be_bytes());
        expected.extend_from_slice(&mid);
        expected.extend_from_slice(&[0x89, 0, 0x88, 5, 0x03, 0xe9]);
        expected.extend_from_slice(b"bye");
        assert_eq!(out, expected);
    }

    #[tokio::test]
    async fn a_prefixed_message_is_one_frame_of_prefix_and_payload() {
        let big = Bytes::from(vec![7u8; 5_000]);
        let mut out = Vec::new();
        let mut writer = FrameWriter::new(&mut out);
        writer.push_prefixed(Kind::Binary, &[1, 2, 3], Bytes::from_static(b"ab"));
        writer.push_prefixed(Kind::Binary, &[9; 13], big.clone());
        writer.flush().await.unwrap();
        let mut expected = vec![0x82, 5, 1, 2, 3, b'a', b'b', 0x82, 126];
        expected.extend_from_slice(&5_013u16.to_be_bytes());
        expected.extend_from_slice(&[9; 13]);
        expected.extend_from_slice(&big);
        assert_eq!(out, expected);
    }

    /// A stream that takes at most a few bytes per write, as a full socket does.
    struct Trickle {
        out: Vec<u8>,
        step: usize,
    }

    impl AsyncWrite for Trickle {
        fn poll_write(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<io::Result<usize>> {
            let this = self.get_mut();
            let n = buf.len().min(this.step);
            this.out.extend_from_slice(&buf[..n]);
            std::task::Poll::Ready(Ok(n))
        }

        fn poll_write_vectored(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> std::task::Poll<io::Result<usize>> {
            let this = self.get_mut();
            let mut n = 0;
            for buf in bufs {
                let take = buf.len().min(this.step - n);
                this.out.extend_from_slice(&buf[..take]);
                n += take;
                if n == this.step {
                    break;
                }
            }
            std::task::Poll::Ready(Ok(n))
        }

        fn is_write_vectored(&self) -> bool {
            true
        }

        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }

        fn poll_shutdown(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn partial_writes_resume_where_they_stopped() {
        let payloads: Vec<Bytes> = (0..40u8)
            .map(|i| Bytes::from(vec![i; 100 + 97 * i as usize]))
            .collect();
        let mut whole = Vec::new();
        let mut writer = FrameWriter::new(&mut whole);
        for p in &payloads {
            writer.push(Kind::Text, p.clone());
        }
        writer.flush().await.unwrap();
        for step in [1, 7, 1000, 4096] {
            let mut writer = FrameWriter::new(Trickle {
                out: Vec::new(),
                step,
            });
            for p in &payloads {
                writer.push(Kind::Text, p.clone());
            }
            writer.flush().await.unwrap();
            assert_eq!(writer.io.out, whole, "step {step}");
            // The writer is empty and reusable after a flush.
            writer.push(Kind::Pong, Bytes::from_static(b"p"));
            writer.flush().await.unwrap();
            assert_eq!(&writer.io.out[whole.len()..], &[0x8a, 1, b'p']);
        }
    }

    #[tokio::test]
    async fn reads_messages_fragments_and_control_frames() {
        let mut input = client_frame(0x81, b"{\"vizcast\":\"subscribe\"}");
        input.extend(client_frame(0x01, b"hel"));
        // A ping may come between the fragments of a message.
        input.extend(client_frame(0x89, b"p1"));
        input.extend(client_frame(0x00, b"lo "));
        input.extend(client_frame(0x80, "wörld".as_bytes()));
        input.extend(client_frame(0x82, &[0, 1, 2]));
        input.extend(client_frame(0x8a, b""));
        input.extend(client_frame(0x81, &vec![b'z'; 70_000]));
        input.extend(client_frame(0x88, &[0x03, 0xe8]));
        let (got, err) = read_all(input, 1 << 20).await;
        assert!(err.is_none(), "{err:?}");
        assert_eq!(
            got,
            vec![
                Incoming::Text(Utf8Bytes::from_static("{\"vizcast\":\"subscribe\"}")),
                Incoming::Ping(Bytes::from_static(b"p1")),
                Incoming::Text(Utf8Bytes::from_static("hello wörld")),
                Incoming::Binary,
                Incoming::Pong,
                Incoming::Text("z".repeat(70_000).into()),
                Incoming::Close,
            ]
        );
    }

    #[tokio::test]
    async fn refuses_what_breaks_the_rules() {
        let unmasked = vec![0x81, 2, b'h', b'i'];
        let cases: Vec<(Vec<u8>, u16)> = vec![
            (unmasked, 1002),
            (client_frame(0xc1, b"x"), 1002), // rsv1: no extension agreed
            (client_frame(0x83, b"x"), 1002), // reserved opcode
            (client_frame(0x09, b"x"), 1002), // a fragmented ping
            (client_frame(0x89, &[0; 126]), 1002), // a long ping
            (client_frame(0x80, b"x"), 1002), // a continuation of nothing
            (
                [client_frame(0x01, b"a"), client_frame(0x81, b"b")].concat(),
                1002,
            ), // a new message inside another
            (client_frame(0x81, &[0xff, 0xfe]), 1007), // not UTF-8
            (client_frame(0x82, &[0; 2000]), 1009), // over the limit
            (
                [
                    client_frame(0x01, &[b'a'; 600]),
                    client_frame(0x80, &[b'a'; 600]),
                ]
                .concat(),
                1009,
            ), // over the limit only in all
        ];
        for (i, (input, code)) in cases.into_iter().enumerate() {
            let (got, err) = read_all(input, 1000).await;
            assert!(got.is_empty(), "case {i}: {got:?}");
            let err = err.unwrap_or_else(|| panic!("case {i} was accepted"));
            assert_eq!(err.close_code(), Some(code), "case {i}: {err}");
        }
    }

    #[tokio::test]
    async fn a_huge_declared_length_is_refused_before_anything_is_buffered() {
        let mut input = vec![0x82, 0x80 | 127];
        input.extend_from_slice(&u64::MAX.to_be_bytes());
        input.extend_from_slice(&[1, 2, 3, 4]);
        let (_, err) = read_all(input, 1 << 20).await;
        assert!(matches!(
            err,
            Some(ReadError::TooBig { .. }) | Some(ReadError::Protocol(_))
        ));
    }

    #[tokio::test]
    async fn a_connection_cut_mid_frame_is_the_end_not_a_message() {
        let mut input = client_frame(0x81, b"hello");
        input.truncate(input.len() - 2);
        let (got, err) = read_all(input, 1000).await;
        assert!(got.is_empty() && err.is_none());
    }

    #[test]
    fn unmasking_a_word_at_a_time_is_the_byte_by_byte_rule() {
        let mask = [0x9a, 0x01, 0xfe, 0x37];
        for len in 0..40 {
            let original: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let mut fast = original.clone();
            unmask(&mut fast, mask);
            let slow: Vec<u8> = original
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ mask[i % 4])
                .collect();
            assert_eq!(fast, slow, "length {len}");
        }
    }

    #[test]
    fn the_handshake_needs_a_websocket_upgrade_with_a_key() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONNECTION, "keep-alive, Upgrade".parse().unwrap());
        headers.insert(header::UPGRADE, "websocket".parse().unwrap());
        headers.insert(header::SEC_WEBSOCKET_VERSION, "13".parse().unwrap());
        assert_eq!(
            accept(&headers, None).unwrap_err().status(),
            StatusCode::BAD_REQUEST
        );
        headers.insert(
            header::SEC_WEBSOCKET_KEY,
            "dGhlIHNhbXBsZSBub25jZQ==".parse().unwrap(),
        );
        let ok = accept(&headers, None).unwrap();
        assert_eq!(ok.status(), StatusCode::SWITCHING_PROTOCOLS);
        // RFC 6455's own example.
        assert_eq!(
            ok.headers()[header::SEC_WEBSOCKET_ACCEPT],
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert!(!ok.headers().contains_key(header::SEC_WEBSOCKET_PROTOCOL));
        let with = accept(&headers, Some("foxglove.websocket.v1")).unwrap();
        assert_eq!(
            with.headers()[header::SEC_WEBSOCKET_PROTOCOL],
            "foxglove.websocket.v1"
        );
        headers.insert(header::SEC_WEBSOCKET_VERSION, "8".parse().unwrap());
        assert_eq!(
            accept(&headers, None).unwrap_err().status(),
            StatusCode::BAD_REQUEST
        );
        headers.insert(header::UPGRADE, "h2c".parse().unwrap());
        assert_eq!(
            accept(&headers, None).unwrap_err().status(),
            StatusCode::UPGRADE_REQUIRED
        );
    }
}
