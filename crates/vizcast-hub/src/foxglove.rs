//! `/foxglove`: the Foxglove WebSocket protocol (`foxglove.websocket.v1`, and `foxglove.sdk.v1`),
//! so that Foxglove and Lichtblick connect live to vizcast.
//!
//! Streams are translated **once per frame**, not once per client: on the first connection a
//! [`FrameSink`] starts feeding accepted frames, through a bounded queue, to one translation thread
//! (`vizcast-foxglove`, which knows no sockets). It appends each translated message to one shared
//! ring and keeps the latest message of every channel, for late subscribers. Each client, like a
//! viewer on `/ws`, is a cursor into that ring: it sends what its subscriptions want with one flush
//! per batch, and a client that falls off the ring skips to the live edge, is told (`status`), and
//! gets the latest message of each channel it subscribes to. The same access rules as `/ws` apply
//! (token, `Origin`, `--max-viewers`), and clients are read-only: all they may send is `subscribe`
//! and `unsubscribe`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use bytes::Bytes;
use parking_lot::RwLock;
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use vizcast_foxglove::{ChannelChange, Translator, TranslatorOptions};
use vizcast_protocol::{Limits, parse_frame};

use crate::hub::{Accepted, Client, ClientGuard, FrameSink, Hub};
use crate::queue::{FrameQueue, QueueBounds, Refused, Taken};
use crate::socket::SocketWriter;
use crate::viewer::{AbortOnDrop, End, Input, Io, MAX_REQUEST, Writer};
use crate::websocket::{FrameReader, FrameWriter, Incoming, Kind};

/// The `cursor` of a Foxglove client in its [`Client`] record: it reads another log.
pub(crate) const FOXGLOVE_CURSOR: u64 = u64::MAX;
/// The subprotocols spoken, preferred first.
pub(crate) const SUBPROTOCOLS: [&str; 2] = ["foxglove.sdk.v1", "foxglove.websocket.v1"];
/// Frames waiting for translation, and the memory they may hold (text and parsed messages);
/// beyond, frames are not translated (counted, logged).
const QUEUE: QueueBounds = QueueBounds {
    frames: 4096,
    bytes: 64 * 1024 * 1024,
};
/// Most frames the translation thread takes from its queue at once.
const TAKE_FRAMES: usize = 64;
/// Most bytes of translated messages kept for clients that are behind.
const LOG_BYTES: usize = 32 * 1024 * 1024;
/// Most translated messages kept.
const LOG_MESSAGES: usize = 65_536;
/// Most bytes one client takes from the ring at once (past the first message).
const BATCH_BYTES: usize = 1024 * 1024;
/// `status` levels of the protocol.
const WARNING: u8 = 1;
const ERROR: u8 = 2;

/// One translated message, shared by every client.
#[derive(Debug)]
struct Translated {
    /// Its place in the ring.
    seq: u64,
    channel: u32,
    log_time_ns: u64,
    payload: Bytes,
}

/// What the translation thread produced.
#[derive(Debug, Default)]
struct Shared {
    /// Recent messages; `first_seq` is the sequence number of the first.
    log: VecDeque<Arc<Translated>>,
    first_seq: u64,
    bytes: usize,
    /// The latest message of each channel.
    latest: HashMap<u32, Arc<Translated>>,
    /// Each channel as `advertise` lists it.
    channels: BTreeMap<u32, Arc<Value>>,
    /// Bumped when the hub starts a new state (a replay seeked or looped): every channel is
    /// unadvertised and the channels start over.
    generation: u64,
    /// Bumped when a channel is added or its schema changes.
    channels_version: u64,
}

impl Shared {
    fn next_seq(&self) -> u64 {
        self.first_seq + self.log.len() as u64
    }

    fn push(&mut self, channel: u32, log_time_ns: u64, payload: Bytes) {
        let message = Arc::new(Translated {
            seq: self.next_seq(),
            channel,
            log_time_ns,
            payload,
        });
        self.bytes += message.payload.len();
        self.latest.insert(message.channel, message.clone());
        self.log.push_back(message);
        while self.log.len() > 1 && (self.log.len() > LOG_MESSAGES || self.bytes > LOG_BYTES) {
            if let Some(old) = self.log.pop_front() {
                self.bytes -= old.payload.len();
                self.first_seq += 1;
            }
        }
    }
}

/// The endpoint's shared state. See the module docs.
#[derive(Debug)]
pub(crate) struct Foxglove {
    shared: RwLock<Shared>,
    /// Bumped on every change: clients wait on it.
    changed: watch::Sender<u64>,
    /// Frames the translation thread could not take in time (not translated).
    dropped: AtomicU64,
    /// Bumped by every hub reset; frames carry the value at their offer.
    epoch: AtomicU64,
    session: String,
}

/// A frame for the translation thread, with the reset epoch it belongs to.
type Job = (u64, Arc<Accepted>);

/// Hands accepted frames to the translation thread.
struct Feed {
    foxglove: Arc<Foxglove>,
    queue: Arc<FrameQueue<Job>>,
}

impl Drop for Feed {
    /// The hub is gone: the translation thread finishes what is queued and ends.
    fn drop(&mut self) {
        self.queue.close();
    }
}

impl FrameSink for Feed {
    fn offer(&self, frame: &Arc<Accepted>) {
        let epoch = self.foxglove.epoch.load(Ordering::Relaxed);
        match self.queue.push((epoch, frame.clone()), frame.footprint()) {
            Ok(()) => {}
            Err(Refused::Full) => {
                let dropped = self.foxglove.dropped.fetch_add(1, Ordering::Relaxed);
                if dropped.is_power_of_two() {
                    tracing::warn!(
                        dropped = dropped + 1,
                        "the Foxglove translation cannot keep up: frames are not sent to Foxglove clients"
                    );
                }
            }
            Err(Refused::Closed) => {}
        }
    }

    fn reset(&self) {
        self.foxglove.epoch.fetch_add(1, Ordering::Relaxed);
    }
}

impl Foxglove {
    /// Starts translating: the hub's history first, then every frame it accepts.
    pub(crate) fn start(hub: &Arc<Hub>) -> Arc<Self> {
        let foxglove = Arc::new(Self {
            shared: RwLock::new(Shared::default()),
            changed: watch::Sender::new(0),
            dropped: AtomicU64::new(0),
            epoch: AtomicU64::new(0),
            session: hub.session().to_owned(),
        });
        let jobs = Arc::new(FrameQueue::new(QUEUE));
        let history = hub.add_sink_after_history(Arc::new(Feed {
            foxglove: foxglove.clone(),
            queue: jobs.clone(),
        }));
        let limits = hub.config().limits.clone();
        let worker = foxglove.clone();
        let spawned = std::thread::Builder::new()
            .name("vizcast-foxglove".to_owned())
            .spawn(move || worker.translate(&history, &limits, &jobs));
        if let Err(err) = spawned {
            tracing::error!("cannot start the Foxglove translation thread: {err}");
        }
        foxglove
    }

    /// The translation thread: the history, then frames as they come, until the hub is gone.
    fn translate(&self, history: &[Utf8Bytes], limits: &Limits, jobs: &FrameQueue<Job>) {
        let mut translator = Translator::new(TranslatorOptions::default());
        let mut epoch = self.epoch.load(Ordering::Relaxed);
        let now_ns = (crate::unix_now() * 1e9) as u64;
        for frame in history {
            if let Ok(messages) = parse_frame(frame.as_str(), limits) {
                self.apply(&mut translator, frame.as_str(), &messages, now_ns);
            }
        }
        let mut batch = Vec::with_capacity(TAKE_FRAMES);
        loop {
            match jobs.take(&mut batch, TAKE_FRAMES, usize::MAX, Duration::from_secs(60)) {
                Taken::Items(_) => {}
                Taken::Idle => continue,
                Taken::Closed => return,
            }
            for (frame_epoch, frame) in batch.drain(..) {
                self.translate_one(&mut translator, &mut epoch, frame_epoch, &frame);
            }
        }
    }

    /// Translates one queued frame, starting over first if the hub was reset since the last.
    fn translate_one(
        &self,
        translator: &mut Translator,
        epoch: &mut u64,
        frame_epoch: u64,
        frame: &Accepted,
    ) {
        if frame_epoch != *epoch {
            *epoch = frame_epoch;
            *translator = Translator::new(TranslatorOptions::default());
            let mut shared = self.shared.write();
            shared.latest.clear();
            shared.channels.clear();
            shared.generation += 1;
            shared.channels_version += 1;
        }
        self.apply(
            translator,
            frame.text.as_str(),
            &frame.messages,
            (frame.received * 1e9) as u64,
        );
    }

    fn apply(
        &self,
        translator: &mut Translator,
        text: &str,
        messages: &[vizcast_protocol::Message],
        log_time_ns: u64,
    ) {
        let out = translator.translate(text, messages, log_time_ns);
        let changes = translator.take_changes();
        if out.is_empty() && changes.is_empty() {
            return;
        }
        let mut shared = self.shared.write();
        for change in changes {
            let (ChannelChange::Added(id) | ChannelChange::SchemaChanged(id)) = change;
            if let Some(channel) = translator.channel(id) {
                let advertised = serde_json::to_value(channel).unwrap_or(Value::Null);
                shared.channels.insert(id.0, Arc::new(advertised));
                shared.channels_version += 1;
            }
        }
        for message in out {
            shared.push(
                message.channel.0,
                message.log_time_ns,
                Bytes::from(message.payload),
            );
        }
        drop(shared);
        self.changed.send_modify(|n| *n += 1);
    }
}

/// What a client asked for.
#[derive(Debug)]
enum Request {
    Subscribe(Vec<(u32, u32)>),
    Unsubscribe(Vec<u32>),
    Reply(Value),
    Pong(Bytes),
}

/// What a client is sent: a JSON message, a channel's message as MessageData, or a pong.
enum Out {
    Text(String),
    Data(u32, Arc<Translated>),
    Pong(Bytes),
}

fn status(level: u8, message: &str) -> Value {
    json!({"op": "status", "level": level, "message": message})
}

/// Runs one Foxglove client's session to its end.
pub(crate) async fn run(hub: Arc<Hub>, io: Io, socket: Option<SocketWriter>, guard: ClientGuard) {
    let client = guard.client().clone();
    // Not a cursor into `/ws`'s log: `/api/stats` lists it without a queue.
    client.cursor.store(FOXGLOVE_CURSOR, Ordering::Relaxed);
    let foxglove = hub.foxglove();
    let (read, write) = crate::viewer::split(io, socket);
    let mut writer = FrameWriter::new(write);
    let (requests_tx, requests) = mpsc::channel(4);
    let mut reader = AbortOnDrop(tokio::spawn(read_loop(
        FrameReader::new(read, MAX_REQUEST),
        requests_tx,
    )));
    let session = session(&hub, &foxglove, &mut writer, &client, requests);
    let (end, close) = crate::viewer::until_end(session, &mut reader).await;
    drop(reader);
    crate::viewer::close(&mut writer, &end, close).await;
    tracing::debug!(client = %client.addr, ?end, "Foxglove client disconnected");
}

/// Reads what the client sends: `subscribe` and `unsubscribe`; anything else gets a `status`.
/// Ends when the client closes, with the close code to send it.
async fn read_loop(
    mut reader: FrameReader<Input>,
    requests: mpsc::Sender<Request>,
) -> Option<(u16, &'static str)> {
    loop {
        let request = match reader.next().await {
            Ok(Some(Incoming::Close)) => return Some((1000, "")),
            Ok(Some(Incoming::Pong)) => continue,
            Ok(Some(Incoming::Ping(payload))) => Request::Pong(payload),
            Ok(Some(Incoming::Binary)) => Request::Reply(status(
                ERROR,
                "vizcast's Foxglove endpoint is read-only: it takes only subscribe and unsubscribe",
            )),
            Ok(Some(Incoming::Text(text))) => parse_request(text.as_str()),
            Ok(None) => return None,
            Err(err) => {
                tracing::info!(
                    "closing a Foxglove client that broke the WebSocket protocol: {err}"
                );
                return err
                    .close_code()
                    .map(|code| (code, "WebSocket protocol error"));
            }
        };
        if requests.send(request).await.is_err() {
            return None;
        }
    }
}

fn parse_request(text: &str) -> Request {
    let refuse = |why: &str| Request::Reply(status(ERROR, why));
    if text.len() > 64 * 1024 {
        return refuse(&format!("a request of {} bytes: at most 65536", text.len()));
    }
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        return refuse("a request that is not JSON");
    };
    let op = value["op"].as_str().unwrap_or_default();
    let ids = |list: &Value, field: &str| -> Option<Vec<u32>> {
        list.as_array()?
            .iter()
            .map(|item| {
                let n = if field.is_empty() { item } else { &item[field] };
                n.as_u64().and_then(|n| u32::try_from(n).ok())
            })
            .collect()
    };
    match op {
        "subscribe" => {
            let list = &value["subscriptions"];
            match (ids(list, "id"), ids(list, "channelId")) {
                (Some(subs), Some(channels)) if list.as_array().map_or(0, Vec::len) <= 4096 => {
                    Request::Subscribe(subs.into_iter().zip(channels).collect())
                }
                _ => refuse(
                    "subscribe: expected {\"op\":\"subscribe\",\"subscriptions\":[{\"id\":N,\"channelId\":N}...]} (at most 4096)",
                ),
            }
        }
        "unsubscribe" => match ids(&value["subscriptionIds"], "") {
            Some(ids) => Request::Unsubscribe(ids),
            None => {
                refuse("unsubscribe: expected {\"op\":\"unsubscribe\",\"subscriptionIds\":[N...]}")
            }
        },
        other => refuse(&format!(
            "unsupported operation \"{other}\": vizcast's Foxglove endpoint takes only subscribe and unsubscribe"
        )),
    }
}

/// The start of a MessageData frame: opcode 1, subscription id (u32), log time (u64, ns); the
/// payload follows.
fn message_data_prefix(subscription: u32, message: &Translated) -> [u8; 13] {
    let mut prefix = [1; 13];
    prefix[1..5].copy_from_slice(&subscription.to_le_bytes());
    prefix[5..].copy_from_slice(&message.log_time_ns.to_le_bytes());
    prefix
}

fn message_data(subscription: u32, message: &Arc<Translated>) -> Out {
    Out::Data(subscription, message.clone())
}

fn text(value: &Value) -> Out {
    Out::Text(value.to_string())
}

/// The client's writing side.
async fn session(
    hub: &Hub,
    foxglove: &Foxglove,
    writer: &mut Writer,
    client: &Client,
    mut requests: mpsc::Receiver<Request>,
) -> End {
    let timeout = hub.config().ping_timeout;
    let shutdown = hub.shutdown_token();
    // A source restoring state (an edge) holds joins: the channels and their latest messages
    // are then complete when the client first hears of them.
    if !hub.joinable().await {
        tracing::info!(client = %client.addr, "a Foxglove client joins before the state is restored: {}", hub.not_ready().unwrap_or_default());
    }
    let mut changed = foxglove.changed.subscribe();
    let info = json!({
        "op": "serverInfo",
        "name": "vizcast",
        "capabilities": [],
        "supportedEncodings": [],
        "metadata": {"version": env!("CARGO_PKG_VERSION")},
        "sessionId": foxglove.session,
    });
    if let Err(end) = write(writer, timeout, std::iter::once(text(&info))).await {
        return end;
    }
    // Subscriptions by channel, and the channels this client was told about.
    let mut subscriptions: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    let mut advertised: HashMap<u32, Arc<Value>> = HashMap::new();
    let (mut generation, mut version, mut cursor) = {
        let shared = foxglove.shared.read();
        (u64::MAX, u64::MAX, shared.next_seq())
    };
    let mut next_ping = tokio::time::Instant::now() + hub.config().ping_interval;
    let mut out: Vec<Out> = Vec::new();
    loop {
        changed.borrow_and_update();
        // Channels: unadvertise everything after a reset; advertise what is new or changed.
        {
            let shared = foxglove.shared.read();
            if shared.generation != generation && !advertised.is_empty() {
                let ids: Vec<u32> = advertised.drain().map(|(id, _)| id).collect();
                subscriptions.clear();
                out.push(text(&json!({"op": "unadvertise", "channelIds": ids})));
            }
            generation = shared.generation;
            if shared.channels_version != version {
                version = shared.channels_version;
                let mut fresh: Vec<Value> = Vec::new();
                for (id, channel) in &shared.channels {
                    if advertised
                        .get(id)
                        .is_none_or(|seen| !Arc::ptr_eq(seen, channel))
                    {
                        advertised.insert(*id, channel.clone());
                        fresh.push((**channel).clone());
                    }
                }
                if !fresh.is_empty() {
                    out.push(text(&json!({"op": "advertise", "channels": fresh})));
                }
            }
        }
        while let Ok(request) = requests.try_recv() {
            handle(
                request,
                foxglove,
                cursor,
                &advertised,
                &mut subscriptions,
                &mut out,
            );
        }
        // Messages of subscribed channels, from the cursor.
        // Under the lock only reference counts are taken; the frames are built after it.
        let mut lagged = None;
        let mut picked: Vec<Arc<Translated>> = Vec::new();
        {
            let shared = foxglove.shared.read();
            if cursor < shared.first_seq {
                lagged = Some(shared.first_seq - cursor);
                cursor = shared.next_seq();
                picked.extend(
                    subscriptions
                        .keys()
                        .filter_map(|channel| shared.latest.get(channel).cloned()),
                );
            }
            let start = (cursor - shared.first_seq) as usize;
            let mut bytes = 0;
            for message in shared.log.iter().skip(start).take(4096) {
                if bytes > BATCH_BYTES {
                    break;
                }
                cursor += 1;
                if subscriptions.contains_key(&message.channel) {
                    bytes += message.payload.len();
                    picked.push(message.clone());
                }
            }
        }
        for message in &picked {
            if let Some(subs) = subscriptions.get(&message.channel) {
                out.extend(subs.iter().map(|sub| message_data(*sub, message)));
            }
        }
        if let Some(skipped) = lagged {
            client.lagged.fetch_add(1, Ordering::Relaxed);
            client.dropped_frames.fetch_add(skipped, Ordering::Relaxed);
            let warning = status(
                WARNING,
                &format!(
                    "this client fell behind: {skipped} messages were skipped; the latest of each subscribed channel follows"
                ),
            );
            out.insert(0, text(&warning));
        }
        if !out.is_empty() {
            let count = out.len() as u64;
            let bytes: u64 = out
                .iter()
                .map(|m| match m {
                    Out::Text(t) => t.len() as u64,
                    Out::Data(_, message) => 13 + message.payload.len() as u64,
                    Out::Pong(_) => 0,
                })
                .sum();
            if let Err(end) = write(writer, timeout, out.drain(..)).await {
                return end;
            }
            client.frames.fetch_add(count, Ordering::Relaxed);
            client.bytes.fetch_add(bytes, Ordering::Relaxed);
            continue;
        }
        let caught_up = cursor >= foxglove.shared.read().next_seq();
        if caught_up {
            tokio::select! {
                result = changed.changed() => if result.is_err() { return End::Shutdown },
                request = requests.recv() => match request {
                    Some(request) => handle(request, foxglove, cursor, &advertised, &mut subscriptions, &mut out),
                    None => return End::Gone,
                },
                () = tokio::time::sleep_until(next_ping) => {}
                () = shutdown.cancelled() => return End::Shutdown,
            }
        }
        if shutdown.is_cancelled() {
            return End::Shutdown;
        }
        let now = tokio::time::Instant::now();
        if now >= next_ping {
            writer.push(Kind::Ping, Bytes::new());
            if let Err(end) = crate::viewer::flush(writer, timeout).await {
                return end;
            }
            next_ping = now + hub.config().ping_interval;
        }
    }
}

/// Applies a request of a client whose cursor is at `cursor`; what to send goes to `out`.
fn handle(
    request: Request,
    foxglove: &Foxglove,
    cursor: u64,
    advertised: &HashMap<u32, Arc<Value>>,
    subscriptions: &mut BTreeMap<u32, Vec<u32>>,
    out: &mut Vec<Out>,
) {
    match request {
        Request::Reply(reply) => out.push(text(&reply)),
        Request::Pong(payload) => out.push(Out::Pong(payload)),
        Request::Subscribe(list) => {
            let shared = foxglove.shared.read();
            for (sub, channel) in list {
                if subscriptions.values().any(|subs| subs.contains(&sub)) {
                    out.push(text(&status(
                        ERROR,
                        &format!("subscription id {sub} is already in use"),
                    )));
                } else if !advertised.contains_key(&channel) {
                    out.push(text(&status(
                        ERROR,
                        &format!("channel {channel} is unknown (not advertised)"),
                    )));
                } else {
                    subscriptions.entry(channel).or_default().push(sub);
                    // A late subscriber gets the channel's current state at once (unless the
                    // client is still to read it from the ring).
                    if let Some(latest) = shared.latest.get(&channel).filter(|m| m.seq < cursor) {
                        out.push(message_data(sub, latest));
                    }
                }
            }
        }
        Request::Unsubscribe(ids) => {
            for subs in subscriptions.values_mut() {
                subs.retain(|sub| !ids.contains(sub));
            }
            subscriptions.retain(|_, subs| !subs.is_empty());
        }
    }
}

/// Writes messages with one flush, giving up when the socket does not take them within `timeout`.
async fn write(
    writer: &mut Writer,
    timeout: Duration,
    messages: impl Iterator<Item = Out>,
) -> Result<(), End> {
    for message in messages {
        match message {
            Out::Text(text) => writer.push(Kind::Text, text.into()),
            Out::Data(subscription, message) => writer.push_prefixed(
                Kind::Binary,
                &message_data_prefix(subscription, &message),
                message.payload.clone(),
            ),
            Out::Pong(payload) => writer.push(Kind::Pong, payload),
        }
    }
    crate::viewer::flush(writer, timeout).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_parsed_and_bad_ones_explained() {
        match parse_request(r#"{"op":"subscribe","subscriptions":[{"id":7,"channelId":3}]}"#) {
            Request::Subscribe(list) => assert_eq!(list, [(7, 3)]),
            other => panic!("{other:?}"),
        }
        match parse_request(r#"{"op":"unsubscribe","subscriptionIds":[7,8]}"#) {
            Request::Unsubscribe(ids) => assert_eq!(ids, [7, 8]),
            other => panic!("{other:?}"),
        }
        for (bad, why) in [
            ("nope", "not JSON"),
            (
                r#"{"op":"subscribe","subscriptions":[{"id":-1,"channelId":3}]}"#,
                "subscribe: expected",
            ),
            (
                r#"{"op":"subscribe","subscriptions":{"id":1}}"#,
                "subscribe: expected",
            ),
            (
                r#"{"op":"unsubscribe","subscriptionIds":["a"]}"#,
                "unsubscribe: expected",
            ),
            (
                r#"{"op":"advertise","channels":[]}"#,
                "unsupported operation \"advertise\"",
            ),
        ] {
            match parse_request(bad) {
                Request::Reply(reply) => {
                    assert_eq!(reply["level"], ERROR, "{bad}");
                    let message = reply["message"].as_str().unwrap_or_default();
                    assert!(message.contains(why), "{bad}: {message}");
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
        let huge = format!(r#"{{"op":"subscribe","x":"{}"}}"#, "x".repeat(70_000));
        assert!(matches!(parse_request(&huge), Request::Reply(_)));
    }

    #[test]
    fn message_data_starts_with_opcode_subscription_and_time() {
        let message = Translated {
            seq: 0,
            channel: 3,
            log_time_ns: 0x0102_0304_0506_0708,
            payload: Bytes::from_static(b"{}"),
        };
        assert_eq!(
            message_data_prefix(0x0A0B_0C0D, &message),
            [1, 0x0D, 0x0C, 0x0B, 0x0A, 8, 7, 6, 5, 4, 3, 2, 1]
        );
    }
}
