//! Starting the real `vizcast` binary and talking to it over real sockets.

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use parking_lot::Mutex;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};

/// How long any single expected event may take before the test fails (generous: CI is shared).
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A running `vizcast`, killed when dropped.
pub struct Vizcast {
    pub child: Child,
    pub addr: SocketAddr,
    /// Everything it printed on stdout so far.
    pub stdout: Arc<Mutex<Vec<String>>>,
    /// Everything it logged on stderr so far.
    pub stderr: Arc<Mutex<String>>,
}

impl Vizcast {
    /// Starts `vizcast --headless --listen 127.0.0.1:0 ARGS…` and waits until it listens.
    pub async fn start(args: &[&str]) -> Self {
        Self::start_with(args, |_| {}).await
    }

    /// Like [`Vizcast::start`], letting the caller adjust the command (stdin, environment).
    pub async fn start_with(args: &[&str], adjust: impl FnOnce(&mut Command)) -> Self {
        Self::launch(args, true, adjust).await
    }

    /// Starts `vizcast --listen 127.0.0.1:0 ARGS…` without `--headless`: it opens its window
    /// where `adjust` gives it a display.
    pub async fn start_windowed(args: &[&str], adjust: impl FnOnce(&mut Command)) -> Self {
        Self::launch(args, false, adjust).await
    }

    /// Like [`Vizcast::start`], run by a bash `script` that ends with `exec "$@"` (a limit set
    /// with `ulimit`, a signal ignored with `trap`).
    pub async fn start_under(script: &str, args: &[&str]) -> Self {
        Self::launch_with(Some(script), args, true, |_| {}).await
    }

    async fn launch(args: &[&str], headless: bool, adjust: impl FnOnce(&mut Command)) -> Self {
        Self::launch_with(None, args, headless, adjust).await
    }

    async fn launch_with(
        script: Option<&str>,
        args: &[&str],
        headless: bool,
        adjust: impl FnOnce(&mut Command),
    ) -> Self {
        let binary = env!("CARGO_BIN_EXE_vizcast");
        let mut command = match script {
            Some(script) => {
                let mut bash = Command::new("bash");
                bash.args(["-c", script, "vizcast", binary]);
                bash
            }
            None => Command::new(binary),
        };
        // A subcommand (`replay FILE`, `view URL`) comes before the serving options.
        let (subcommand, args) = if matches!(args.first(), Some(&"replay" | &"view")) {
            args.split_at(2)
        } else {
            (&[][..], args)
        };
        command.args(subcommand);
        if headless {
            command.arg("--headless");
        }
        if !args.contains(&"--listen") {
            command.args(["--listen", "127.0.0.1:0"]);
        }
        command
            .args(args)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        adjust(&mut command);
        let mut child = command.spawn().expect("vizcast starts");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, mut rx) = tokio::sync::mpsc::channel::<SocketAddr>(1);
        {
            let stdout = stdout.clone();
            let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
            tokio::spawn(async move {
                while let Ok(Some(line)) = lines.next_line().await {
                    let listening = line.split("listening on ").nth(1).map(|rest| {
                        let rest = rest.trim();
                        let rest = rest.strip_prefix("https://").unwrap_or(rest);
                        let rest = rest.strip_prefix("http://").unwrap_or(rest);
                        rest.parse().unwrap()
                    });
                    stdout.lock().push(line);
                    if let Some(addr) = listening {
                        tx.send(addr).await.ok();
                    }
                }
            });
        }
        {
            let stderr = stderr.clone();
            let mut err = child.stderr.take().unwrap();
            tokio::spawn(async move {
                let mut buf = [0u8; 8192];
                while let Ok(n) = err.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    stderr.lock().push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            });
        }
        let Ok(Some(addr)) = tokio::time::timeout(PATIENCE, rx.recv()).await else {
            panic!(
                "vizcast did not start listening; stderr:\n{}",
                stderr.lock()
            );
        };
        Self {
            child,
            addr,
            stdout,
            stderr,
        }
    }

    /// Stops it with SIGTERM and waits for it to exit; returns whether it exited cleanly.
    pub async fn stop(&mut self) -> bool {
        let pid = self.child.id().unwrap();
        std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        let status = tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .unwrap()
            .unwrap();
        status.success()
    }

    /// `ws://ADDR/PATH`.
    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    /// A connected viewer that has read its hello and join snapshot.
    pub async fn viewer(&self) -> Viewer {
        let mut viewer = Viewer::connect(&self.ws_url("/ws"), &[])
            .await
            .expect("viewer connects");
        viewer.join().await;
        viewer
    }

    /// A connected producer that has read its hello.
    pub async fn producer(&self) -> Producer {
        Producer::connect(&self.ws_url("/ingest"), &[])
            .await
            .expect("producer connects")
    }

    /// GETs `path` with extra headers; returns the status and body.
    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
        http_get(self.addr, path, headers).await
    }

    /// `/api/stats` as JSON.
    pub async fn stats(&self) -> Value {
        let (status, body) = self.get("/api/stats", &[]).await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    /// Waits until `check(stats)` holds, polling `/api/stats`.
    pub async fn wait_for_stats(&self, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let stats = self.stats().await;
            if check(&stats) {
                return stats;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}; stats: {stats:#}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until stderr contains `needle`.
    pub async fn wait_for_log(&self, needle: &str) -> String {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let log = self.stderr.lock().clone();
            if log.contains(needle) {
                return log;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for log {needle:?}; stderr:\n{log}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A minimal HTTP/1.1 GET, enough for the JSON endpoints and the page.
pub async fn http_get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut request = format!("GET {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("host"))
    {
        request.push_str(&format!("Host: {addr}\r\n"));
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut response))
        .await
        .unwrap()
        .unwrap();
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    // Bodies of JSON endpoints may be chunked; de-chunk simply.
    let body = if response
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(&body)
    } else {
        body
    };
    (status, body)
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 {
            break;
        }
        out.push_str(&tail[..size]);
        rest = &tail[size + 2..];
    }
    out
}

/// A byte stream a WebSocket can run over (TCP, TLS, a throttled link).
pub trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin> Io for T {}

/// A client WebSocket over any [`Io`].
pub type Socket = WebSocketStream<Box<dyn Io>>;

/// What a client saw next.
#[derive(Debug)]
pub enum Event {
    Text(String),
    Close(u16, String),
    /// The connection ended without a close frame.
    End,
}

async fn connect(url: &str, headers: &[(&str, &str)]) -> Result<Socket, tungstenite::Error> {
    let mut request = url.into_client_request()?;
    for (name, value) in headers {
        request.headers_mut().insert(
            tungstenite::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    let uri = request.uri();
    let addr = format!(
        "{}:{}",
        uri.host().unwrap_or("127.0.0.1").trim_matches(['[', ']']),
        uri.port_u16().unwrap_or(80)
    );
    let handshake = async {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let io: Box<dyn Io> = Box::new(tcp);
        tokio_tungstenite::client_async(request, io).await
    };
    let (socket, _) = tokio::time::timeout(PATIENCE, handshake)
        .await
        .unwrap_or_else(|_| panic!("no WebSocket handshake within {PATIENCE:?}"))?;
    Ok(socket)
}

async fn next_event(socket: &mut Socket) -> Event {
    // One deadline for the whole wait: pings, which are skipped, must not extend it.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        match tokio::time::timeout_at(deadline, socket.next()).await {
            Err(_) => panic!("no message within {PATIENCE:?}"),
            Ok(None | Some(Err(_))) => return Event::End,
            Ok(Some(Ok(Message::Text(text)))) => return Event::Text(text.as_str().to_owned()),
            Ok(Some(Ok(Message::Close(frame)))) => {
                let (code, reason) = frame.map_or((1005, String::new()), |f: CloseFrame| {
                    (u16::from(f.code), f.reason.as_str().to_owned())
                });
                return Event::Close(code, reason);
            }
            Ok(Some(Ok(_))) => {}
        }
    }
}

/// A viewer on `/ws`.
pub struct Viewer {
    pub socket: Socket,
}

impl Viewer {
    /// Connects without reading anything.
    pub async fn connect(url: &str, headers: &[(&str, &str)]) -> Result<Self, tungstenite::Error> {
        Ok(Self {
            socket: connect(url, headers).await?,
        })
    }

    /// Sends a text message (a request).
    pub async fn send(&mut self, text: &str) {
        tokio::time::timeout(PATIENCE, self.socket.send(Message::text(text)))
            .await
            .expect("the viewer's send went through")
            .unwrap();
    }

    /// The next event.
    pub async fn next(&mut self) -> Event {
        next_event(&mut self.socket).await
    }

    /// The next text frame, which must come.
    pub async fn text(&mut self) -> String {
        match self.next().await {
            Event::Text(text) => text,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    /// The next text frame, which must be a control message of type `kind`.
    pub async fn control(&mut self, kind: &str) -> Value {
        let text = self.text().await;
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["vizcast"], kind, "expected {kind}, got {text}");
        value
    }

    /// Reads hello and the join snapshot; returns the snapshot's frames.
    pub async fn join(&mut self) -> Vec<String> {
        let hello = self.control("hello").await;
        assert_eq!(hello["role"], "viewer");
        self.snapshot("join").await
    }

    /// Reads a snapshot (`snapshot_begin` … `snapshot_end`); returns its frames.
    pub async fn snapshot(&mut self, reason: &str) -> Vec<String> {
        let begin = self.control("snapshot_begin").await;
        assert_eq!(begin["reason"], reason);
        let count = begin["frames"].as_u64().unwrap();
        let mut frames = Vec::new();
        for _ in 0..count {
            frames.push(self.text().await);
        }
        let end = self.control("snapshot_end").await;
        assert_eq!(end["frames"], count);
        frames
    }

    /// The next `n` data frames, past any `conflated` reports (a viewer on a busy machine may fall
    /// behind and be conflated, as designed); fails on any other control message.
    pub async fn data_conflated(&mut self, n: usize) -> Vec<String> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let text = self.text().await;
            if !vizcast_protocol::is_control(&text) {
                out.push(text);
                continue;
            }
            let value: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(
                value["vizcast"], "conflated",
                "unexpected control message {text}"
            );
        }
        out
    }

    /// The next `n` data frames; fails on any control message.
    pub async fn data(&mut self, n: usize) -> Vec<String> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let text = self.text().await;
            assert!(
                !vizcast_protocol::is_control(&text),
                "unexpected control message {text} after {} frames",
                out.len()
            );
            out.push(text);
        }
        out
    }
}

/// A producer on `/ingest`.
pub struct Producer {
    pub socket: Socket,
}

impl Producer {
    /// Connects and reads the hello.
    pub async fn connect(url: &str, headers: &[(&str, &str)]) -> Result<Self, tungstenite::Error> {
        Ok(Self::from_socket(connect(url, headers).await?).await)
    }

    /// A producer over an upgraded socket; reads the hello.
    pub async fn from_socket(mut socket: Socket) -> Self {
        match next_event(&mut socket).await {
            Event::Text(text) => assert!(text.contains("\"hello\""), "{text}"),
            other => panic!("expected hello, got {other:?}"),
        }
        Self { socket }
    }

    /// Sends one text frame.
    pub async fn send(&mut self, frame: &str) {
        tokio::time::timeout(PATIENCE, self.socket.send(Message::text(frame)))
            .await
            .expect("the producer's send went through")
            .unwrap();
    }

    /// Sends frames with one flush.
    pub async fn send_all(&mut self, frames: &[String]) {
        for frame in frames {
            self.socket
                .feed(Message::text(frame.as_str()))
                .await
                .unwrap();
        }
        self.socket.flush().await.unwrap();
    }

    /// The next event.
    pub async fn next(&mut self) -> Event {
        next_event(&mut self.socket).await
    }

    /// The next message, which must be an error control message; returns it.
    pub async fn error(&mut self) -> Value {
        match self.next().await {
            Event::Text(text) => {
                let value: Value = serde_json::from_str(&text).unwrap();
                assert_eq!(value["vizcast"], "error", "{text}");
                value
            }
            other => panic!("expected an error message, got {other:?}"),
        }
    }
}

/// One message of every kind, as producers would send them (odd spacing and escapes included).
pub fn frames_of_every_kind() -> Vec<String> {
    let cloud: Vec<f32> = (0..300).map(|i| i as f32 * 0.25 - 7.0).collect();
    vec![
        r#"{"stream": "robot/arm/joint1", "t": 1732406400.125, "value": 0.53}"#.to_owned(),
        r#"{"stream":"imu","values":{"ax":0.1,"ay":-9.8,"az":0.02}}"#.to_owned(),
        r#"{"stream": "signal", "t": [0.0, 0.001, 0.002], "value": [1.0, 1.2, 0.9]}"#.to_owned(),
        r##"{"stream": "lidar", "points": [[0.1, 2.0, 0.5], [0.2, 2.1, 0.4]], "colors": [[1, 0, 0], "#00ff00"], "radius": 0.02}"##.to_owned(),
        format!(r#"{{"stream":"lidar/compact","points":{{"f32":"{}"}}}}"#, vizcast_protocol::f32_base64(&cloud)),
        r#"{"stream": "path", "line": [[0, 0, 0], [1, 0, 0], [1, 1, 0]]}"#.to_owned(),
        r#"{"stream": "path", "line": [[1, 1, 1]], "append": true}"#.to_owned(),
        r#"{"stream": "events", "text": "calibration done \u00e9\u2603 \"quoted\" ✓", "level": "info"}"#.to_owned(),
        "  \n{\"stream\":\"spacey\",\n \"value\" : 1e-3 }\n ".to_owned(),
        r#"[{"stream":"batch/a","value":1},{"stream":"batch/b","text":"two"},{"stream":"batch/c","points":[]}]"#.to_owned(),
        r#"{"stream":"robot","battery":{"volts":12.1,"cells":[3.1,3.0]},"ok":true,"name":"r2"}"#.to_owned(),
        r#"{"stream": "events", "clear": true}"#.to_owned(),
    ]
}

pub use crate::xvfb::Xvfb;
