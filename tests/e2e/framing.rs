//! Every client sees whole WebSocket frames on every path: a frame once started is finished before
//! any other byte, or the connection ends with no other byte.
//!
//! Checked with a strict frame parser written here, not the WebSocket library the other tests
//! use, against `/ws` and `/foxglove`: a client that closes while the hub's socket to it is full
//! (mid-frame), one that is lagged and resynced while pings go out, one the ingest path writes
//! through to, and a hub that shuts down while a client is behind. The parser fails on reserved
//! bits, unknown opcodes, masked or badly sized server frames, control frames that are long or
//! fragmented, text that is not UTF-8, bad close payloads and any byte after the close frame.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};

use crate::support::{PATIENCE, Vizcast};

/// A message the strict client read: a data message (reassembled) or a control frame.
#[derive(Debug)]
enum Got {
    Text(String),
    Binary,
    Ping,
    Pong,
    /// The server's close frame: its code (1005 when it has none).
    Close(u16),
}

/// How a stream ended.
#[derive(Debug, PartialEq, Eq)]
enum Ending {
    /// The server's close frame with this code, then the end of the stream and no other byte.
    Closed(u16),
    /// The end of the stream without a close frame; `mid_frame` when it cut a frame short (the
    /// connection was dropped without another byte, which the invariant allows).
    Cut { mid_frame: bool },
}

/// A WebSocket client on a raw TCP socket with a 4 KiB receive buffer, so that the hub's socket
/// to it fills (often mid-frame) as soon as it stops reading.
struct StrictClient {
    stream: TcpStream,
    buf: Vec<u8>,
    /// Bytes of the stream parsed so far (for the failure messages).
    offset: usize,
    /// A fragmented data message in progress: whether it is text, and its bytes so far.
    partial: Option<(bool, Vec<u8>)>,
}

impl StrictClient {
    /// Connects and upgrades `path`, offering `protocol`.
    async fn connect(vizcast: &Vizcast, path: &str, protocol: Option<&str>) -> Self {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut stream = socket.connect(vizcast.addr).await.unwrap();
        let mut request = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
            vizcast.addr
        );
        if let Some(protocol) = protocol {
            request.push_str(&format!("Sec-WebSocket-Protocol: {protocol}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        let head_end = loop {
            if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            let mut chunk = [0u8; 1024];
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "the hub closed during the upgrade");
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        assert!(head.starts_with("HTTP/1.1 101"), "upgrade refused: {head}");
        buf.drain(..head_end);
        Self {
            stream,
            buf,
            offset: 0,
            partial: None,
        }
    }

    /// A `/ws` client that has read its hello and join snapshot.
    async fn joined(vizcast: &Vizcast) -> Self {
        let mut client = Self::connect(vizcast, "/ws", None).await;
        client
            .until_text("the join snapshot", |t| {
                t.starts_with(r#"{"vizcast":"snapshot_end""#)
            })
            .await;
        client
    }

    /// Sends one masked frame.
    async fn send(&mut self, opcode: u8, payload: &[u8]) {
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        let mut frame = vec![0x80 | opcode];
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
        }
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.stream.write_all(&frame).await.unwrap();
    }

    async fn send_text(&mut self, text: &str) {
        self.send(0x1, text.as_bytes()).await;
    }

    async fn send_close(&mut self, code: u16) {
        self.send(0x8, &code.to_be_bytes()).await;
    }

    /// Reads more of the stream; false at its end.
    async fn fill(&mut self) -> bool {
        let mut chunk = vec![0u8; 64 * 1024];
        let n = tokio::time::timeout(PATIENCE, self.stream.read(&mut chunk))
            .await
            .expect("the hub sent nothing for too long")
            .unwrap_or(0);
        self.buf.extend_from_slice(&chunk[..n]);
        n > 0
    }

    /// Fails the test on a broken rule, saying where.
    fn broken(&self, rule: &str) -> ! {
        panic!(
            "malformed WebSocket stream at byte {}: {rule} (next bytes: {:02x?})",
            self.offset,
            &self.buf[..self.buf.len().min(16)]
        )
    }

    /// The next message, checked strictly; `Err` with how the stream ended when it ends.
    async fn next(&mut self) -> Result<Got, Ending> {
        loop {
            let Some((fin, opcode, start, len)) = self.header() else {
                let mid_frame = !self.buf.is_empty() || self.partial.is_some();
                if !self.fill().await {
                    return Err(Ending::Cut { mid_frame });
                }
                continue;
            };
            while self.buf.len() < start + len {
                if !self.fill().await {
                    return Err(Ending::Cut { mid_frame: true });
                }
            }
            let payload: Vec<u8> = self.buf[start..start + len].to_vec();
            self.buf.drain(..start + len);
            self.offset += start + len;
            let (text, whole) = match opcode {
                0x8 => return Ok(Got::Close(self.close_code(&payload))),
                0x9 => return Ok(Got::Ping),
                0xa => return Ok(Got::Pong),
                0x0 => {
                    let Some((text, mut bytes)) = self.partial.take() else {
                        self.broken("a continuation frame with no message");
                    };
                    bytes.extend_from_slice(&payload);
                    if !fin {
                        self.partial = Some((text, bytes));
                        continue;
                    }
                    (text, bytes)
                }
                _ => {
                    if self.partial.is_some() {
                        self.broken("a new message before the last one ended");
                    }
                    if !fin {
                        self.partial = Some((opcode == 0x1, payload));
                        continue;
                    }
                    (opcode == 0x1, payload)
                }
            };
            if !text {
                return Ok(Got::Binary);
            }
            return match String::from_utf8(whole) {
                Ok(text) => Ok(Got::Text(text)),
                Err(_) => self.broken("a text message that is not UTF-8"),
            };
        }
    }

    /// The next frame's header once the buffer holds it: FIN, opcode, where the payload starts
    /// and its length. Checks every rule a header can break.
    fn header(&self) -> Option<(bool, u8, usize, usize)> {
        let buf = &self.buf;
        if buf.len() < 2 {
            return None;
        }
        let (fin, rsv, opcode) = (buf[0] & 0x80 != 0, buf[0] & 0x70, buf[0] & 0x0f);
        if rsv != 0 {
            self.broken("reserved bits set");
        }
        if !matches!(opcode, 0x0 | 0x1 | 0x2 | 0x8 | 0x9 | 0xa) {
            self.broken("a reserved opcode");
        }
        if buf[1] & 0x80 != 0 {
            self.broken("a masked frame from the server");
        }
        let (start, len) = match buf[1] & 0x7f {
            126 => {
                if buf.len() < 4 {
                    return None;
                }
                let len = u16::from_be_bytes([buf[2], buf[3]]) as usize;
                if len < 126 {
                    self.broken("a 16-bit length that fits in 7 bits");
                }
                (4, len)
            }
            127 => {
                if buf.len() < 10 {
                    return None;
                }
                let len = u64::from_be_bytes(buf[2..10].try_into().unwrap());
                if len >> 63 != 0 || len <= 0xffff {
                    self.broken("a 64-bit length that is not minimal or has its top bit set");
                }
                if len > 64 << 20 {
                    self.broken("a frame longer than anything the hub sends");
                }
                (10, len as usize)
            }
            n => (2, n as usize),
        };
        if opcode >= 0x8 && (!fin || len > 125) {
            self.broken("a control frame that is fragmented or longer than 125 bytes");
        }
        Some((fin, opcode, start, len))
    }

    /// A close frame's code, checking its payload.
    fn close_code(&self, payload: &[u8]) -> u16 {
        match payload.len() {
            0 => 1005,
            1 => self.broken("a close frame with a 1-byte payload"),
            _ => {
                if std::str::from_utf8(&payload[2..]).is_err() {
                    self.broken("a close reason that is not UTF-8");
                }
                let code = u16::from_be_bytes([payload[0], payload[1]]);
                if !(1000..5000).contains(&code) || matches!(code, 1004..=1006 | 1015) {
                    self.broken("a close code a server may not send");
                }
                code
            }
        }
    }

    /// Reads text messages until one satisfies `check`; returns it.
    async fn until_text(&mut self, what: &str, check: impl Fn(&str) -> bool) -> String {
        loop {
            match self.next().await {
                Ok(Got::Text(text)) if check(&text) => return text,
                Ok(_) => {}
                Err(ending) => panic!("the stream ended ({ending:?}) before {what}"),
            }
        }
    }

    /// Reads the rest of the stream, strictly: how it ended, and the messages before.
    async fn read_to_end(&mut self) -> (Vec<Got>, Ending) {
        let mut got = Vec::new();
        loop {
            match self.next().await {
                Ok(Got::Close(code)) => {
                    // Nothing may follow the server's close frame.
                    if !self.buf.is_empty() || self.fill().await {
                        self.broken("bytes after the close frame");
                    }
                    return (got, Ending::Closed(code));
                }
                Ok(message) => got.push(message),
                Err(ending) => return (got, ending),
            }
        }
    }
}

/// A point cloud of `points` points as a compact frame (about 16 bytes a point).
fn cloud(stream: &str, points: usize, i: usize) -> String {
    let xyz: Vec<f32> = (0..points * 3).map(|k| ((k + i) % 977) as f32).collect();
    format!(
        r#"{{"stream":"{stream}","points":{{"f32":"{}"}}}}"#,
        vizcast_protocol::f32_base64(&xyz)
    )
}

/// Sends frames until dropped: `make(i)` every `every`.
struct Feed {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Feed {
    async fn start(
        vizcast: &Vizcast,
        every: Duration,
        make: impl Fn(usize) -> String + Send + 'static,
    ) -> Self {
        let mut producer = vizcast.producer().await;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let mut i = 0;
            while !flag.load(Ordering::Relaxed) {
                producer.send(&make(i)).await;
                i += 1;
                tokio::time::sleep(every).await;
            }
        });
        Self { stop, task }
    }
}

impl Feed {
    /// Scalar frames of stream `s` padded to about `pad` bytes, every `every`.
    async fn padded(vizcast: &Vizcast, pad: usize, every: Duration) -> Self {
        let pad = "p".repeat(pad);
        Self::start(vizcast, every, move |i| {
            format!(r#"{{"stream":"s","value":{i},"pad":"{pad}"}}"#)
        })
        .await
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.task.abort();
    }
}

/// Clouds of about 1 MB at 10 Hz and a scalar at 200 Hz: a socket with a 4 KiB buffer that stops
/// reading fills at once, in the middle of a cloud.
async fn heavy_feed(vizcast: &Vizcast) -> (Feed, Feed) {
    let clouds = Feed::start(vizcast, Duration::from_millis(100), |i| {
        cloud("lidar", 60_000, i)
    })
    .await;
    let scalars = Feed::start(vizcast, Duration::from_millis(5), |i| {
        format!(r#"{{"stream":"imu/ax","value":{i}}}"#)
    })
    .await;
    (clouds, scalars)
}

/// Waits until the hub's socket to the client is full: the client is behind by frames it has
/// not been sent.
async fn wait_until_behind(vizcast: &Vizcast) {
    vizcast
        .wait_for_stats("a viewer behind", |s| {
            s["viewers"]
                .as_array()
                .unwrap()
                .iter()
                .any(|v| v["queue_frames"].as_u64().unwrap_or(0) > 20)
        })
        .await;
}

/// A `/foxglove` client subscribed to every channel, once the cloud's is advertised, that has
/// received message data.
async fn foxglove_subscribed(vizcast: &Vizcast) -> StrictClient {
    let mut client =
        StrictClient::connect(vizcast, "/foxglove", Some("foxglove.websocket.v1")).await;
    let mut channels = Vec::new();
    while !channels
        .iter()
        .any(|c: &Value| c["schemaName"] == "foxglove.PointCloud")
    {
        let text = client
            .until_text("an advertise", |t| t.contains(r#""op":"advertise""#))
            .await;
        let advertise: Value = serde_json::from_str(&text).unwrap();
        channels.extend(advertise["channels"].as_array().unwrap().iter().cloned());
    }
    let subscriptions: Vec<Value> = channels
        .iter()
        .enumerate()
        .map(|(i, c)| serde_json::json!({"id": i, "channelId": c["id"]}))
        .collect();
    let request = serde_json::json!({"op": "subscribe", "subscriptions": subscriptions});
    client.send_text(&request.to_string()).await;
    loop {
        match client.next().await {
            Ok(Got::Binary) => return client,
            Ok(_) => {}
            Err(ending) => panic!("ended before any message data: {ending:?}"),
        }
    }
}

/// A client that sends its close frame while the hub is in the middle of writing it a frame, then
/// reads on: every frame before the hub's close frame is whole.
async fn close_while_behind(client: &mut StrictClient) {
    tokio::time::sleep(Duration::from_millis(1500)).await;
    client.send_close(1000).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Every byte read on is checked by the strict parser; the stream then ends with the hub's
    // close frame, or, when the client did not drain the rest of its frame within the hub's
    // close timeout (1 s; a loaded machine), with no other byte: both keep the invariant.
    let (got, ending) = client.read_to_end().await;
    println!("read on: {} messages, then {ending:?}", got.len());
    assert!(
        matches!(ending, Ending::Closed(1000) | Ending::Cut { .. }),
        "{ending:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ws_viewer_that_closes_while_behind_gets_whole_frames_then_the_close() {
    let vizcast = Vizcast::start(&[]).await;
    let _feeds = heavy_feed(&vizcast).await;
    let mut client = StrictClient::joined(&vizcast).await;
    wait_until_behind(&vizcast).await;
    close_while_behind(&mut client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foxglove_client_that_closes_while_behind_gets_whole_frames_then_the_close() {
    let vizcast = Vizcast::start(&[]).await;
    let _feeds = heavy_feed(&vizcast).await;
    let mut client = foxglove_subscribed(&vizcast).await;
    close_while_behind(&mut client).await;
}

/// Paced small frames, which the ingest path writes through while the client keeps up: the client
/// stops reading (its socket fills, often mid-frame, and the task takes over), then closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_written_through_viewer_that_closes_while_behind_gets_whole_frames() {
    let vizcast = Vizcast::start(&[]).await;
    let _feed = Feed::padded(&vizcast, 3000, Duration::from_millis(2)).await;
    let mut client = StrictClient::joined(&vizcast).await;
    // Keep up for a while, so that frames are written through.
    for _ in 0..200 {
        client.next().await.unwrap();
    }
    vizcast
        .wait_for_stats("frames written through", |s| {
            s["viewers"]
                .as_array()
                .unwrap()
                .iter()
                .any(|v| v["written_through"].as_u64().unwrap_or(0) > 0)
        })
        .await;
    wait_until_behind(&vizcast).await;
    close_while_behind(&mut client).await;
}

/// A client far enough behind to be lagged, with pings due meanwhile: it reads whole frames, the
/// `lagged` notice, the resync snapshot, pings and live frames, then closes cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagged_viewer_gets_whole_frames_through_the_resync_and_pings() {
    let vizcast = Vizcast::start(&[
        "--max-frame-bytes",
        "64KiB",
        "--viewer-queue-bytes",
        "1MiB",
        "--ping-interval",
        "0.2",
        "--ping-timeout",
        "60",
    ])
    .await;
    let _feed = Feed::padded(&vizcast, 2000, Duration::from_micros(200)).await;
    let mut client = StrictClient::joined(&vizcast).await;
    // Stall until the log has run a whole queue past the client.
    tokio::time::sleep(Duration::from_secs(2)).await;
    client
        .until_text("lagged", |t| t.starts_with(r#"{"vizcast":"lagged""#))
        .await;
    client
        .until_text("the resync snapshot", |t| {
            t.starts_with(r#"{"vizcast":"snapshot_end""#)
        })
        .await;
    let (mut pings, mut data) = (0, 0);
    while pings < 2 || data < 100 {
        match client.next().await {
            Ok(Got::Ping) => pings += 1,
            Ok(Got::Text(text)) if !text.starts_with(r#"{"vizcast""#) => data += 1,
            Ok(_) => {}
            Err(ending) => panic!("the stream ended: {ending:?}"),
        }
    }
    client.send_close(1000).await;
    let (_, ending) = client.read_to_end().await;
    assert_eq!(ending, Ending::Closed(1000));
}

/// The hub shuts down while a `/ws` and a `/foxglove` client are behind: each reads whole frames
/// and then the close (1001), or the connection ends with no other byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_behind_at_shutdown_get_whole_frames() {
    let mut vizcast = Vizcast::start(&[]).await;
    let feeds = heavy_feed(&vizcast).await;
    let mut viewer = StrictClient::joined(&vizcast).await;
    let mut foxglove = foxglove_subscribed(&vizcast).await;
    wait_until_behind(&vizcast).await;
    // Read on while the hub stops, as a client that resumes just then would.
    let read = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (_, viewer_ending) = viewer.read_to_end().await;
        let (_, foxglove_ending) = foxglove.read_to_end().await;
        (viewer_ending, foxglove_ending)
    });
    assert!(vizcast.stop().await, "vizcast exits cleanly");
    drop(feeds);
    let (viewer_ending, foxglove_ending) = read.await.unwrap();
    for ending in [viewer_ending, foxglove_ending] {
        assert!(
            matches!(ending, Ending::Closed(1001) | Ending::Cut { .. }),
            "{ending:?}"
        );
    }
}
