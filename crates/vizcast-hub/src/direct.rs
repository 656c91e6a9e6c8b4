//! Write-through: small frames written to caught-up viewers straight from the ingest path.
//!
//! A viewer's task normally waits for a frame, wakes, reads it from the live log and writes it.
//! At low rates that is one task wake-up per viewer per frame, which on a busy machine costs more
//! than the `send` itself and is most of the latency's tail. So a viewer on plain TCP that has
//! caught up, has nothing queued and receives every stream *parks* at its cursor, and the ingest
//! path writes the next frame to its socket itself with one non-blocking `send`, the way a
//! single-threaded relay does, and moves its cursor on. The task stays asleep.
//!
//! The ingest path never waits on a viewer. Whenever it cannot write a frame whole it hands the
//! viewer back to its task and wakes it:
//! - the socket took only part of the frame: the rest is kept ([`Unparked::rest`]) and the task
//!   writes it before anything else;
//! - the socket took nothing (`WouldBlock`), the connection failed, or the viewer is not at the
//!   frame's sequence number (another producer's frame came first): the task reads the log as usual.
//!
//! Which path writes is decided under the viewer's lock: the ingest path writes only while the
//! viewer is parked, and the task writes only after it has unparked, so the two never interleave
//! on the socket and every viewer receives frames in the log's order.
//!
//! The hub writes through only frames of at most [`WRITE_THROUGH_BYTES`], and for each frame only
//! for a quarter of the mean time between frames (at most [`WRITE_THROUGH_NS`]): a viewer is
//! written to only while the mean cost of one write still fits in that budget. The other viewers'
//! tasks are woken as before. So at low rates and few viewers no task wakes at all; with
//! many viewers the ingest path serves what its budget allows and the tasks, on every core, the
//! rest; at high rates the tasks take over entirely and batch many frames per `send`. One
//! producer is never held up by hundreds of sockets.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::hub::Client;
use crate::socket::SocketWriter;

/// Largest frame the ingest path writes through (larger ones are written by viewers' tasks, which
/// run in parallel).
pub(crate) const WRITE_THROUGH_BYTES: usize = 8 * 1024;
/// Longest the ingest path spends writing one frame through, in nanoseconds; past it, the
/// remaining viewers' tasks are woken to write it.
pub(crate) const WRITE_THROUGH_NS: u64 = 250_000;
/// What one write-through is assumed to cost, in nanoseconds, until the hub has measured it.
pub(crate) const WRITE_COST_NS: u64 = 10_000;

/// A viewer that the ingest path may write to. See the module docs.
#[derive(Debug)]
pub(crate) struct Direct {
    writer: SocketWriter,
    client: Arc<Client>,
    /// Whether the task is parked or waiting to be woken; lets the ingest path skip busy viewers
    /// without taking their lock.
    armed: AtomicBool,
    state: Mutex<State>,
    wake: Notify,
}

#[derive(Debug, Default)]
struct State {
    /// Where the viewer is, while the ingest path may write to it.
    parked: Option<Position>,
    /// The end of a frame that the socket took only part of.
    rest: Option<Bytes>,
}

/// A viewer's place in the live log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Position {
    /// The sequence number of the next frame it needs.
    pub cursor: u64,
    /// The byte offset of that frame.
    pub offset: u64,
    /// The hub's reset epoch it is in.
    pub epoch: u64,
}

/// What the task finds when it wakes.
#[derive(Debug, Default)]
pub(crate) struct Unparked {
    /// Where it is now, if it was parked (the ingest path may have moved it on).
    pub position: Option<Position>,
    /// Bytes to write before anything else: the end of a frame the socket took part of.
    pub rest: Option<Bytes>,
}

impl Direct {
    /// A viewer writing to `writer`, counting into `client`.
    pub(crate) fn new(writer: SocketWriter, client: Arc<Client>) -> Self {
        Self {
            writer,
            client,
            armed: AtomicBool::new(false),
            state: Mutex::new(State::default()),
            wake: Notify::new(),
        }
    }

    /// The task is about to wait: the ingest path wakes it for the next frame, and, when
    /// `position` is given (it has caught up and nothing is queued), writes to it first.
    ///
    /// The caller must check for frames newer than its cursor *after* this, and not wait if
    /// there are: a frame accepted in between may have found the viewer not yet armed.
    pub(crate) fn arm(&self, position: Option<Position>) {
        let mut state = self.state.lock();
        state.parked = position;
        self.armed.store(true, Ordering::SeqCst);
    }

    /// The task is awake and writes again itself: where it is, and what it must write first.
    pub(crate) fn unpark(&self) -> Unparked {
        let mut state = self.state.lock();
        self.armed.store(false, Ordering::SeqCst);
        Unparked {
            position: state.parked.take(),
            rest: state.rest.take(),
        }
    }

    /// Waits until the ingest path (or [`Direct::wake`]) wakes the task.
    pub(crate) async fn woken(&self) {
        self.wake.notified().await;
    }

    /// Whether the task is parked or waiting (a hint: the lock decides).
    pub(crate) fn armed(&self) -> bool {
        self.armed.load(Ordering::SeqCst)
    }

    /// Hands the viewer back to its task, if it was armed, and wakes it.
    pub(crate) fn wake(&self) {
        if !self.armed() {
            return;
        }
        let mut state = self.state.lock();
        self.hand_back(&mut state);
    }

    /// Disarms and wakes the task; called under the viewer's lock (`_locked`), so that no write
    /// of the ingest path is in progress. `parked` stays for the task to read.
    fn hand_back(&self, _locked: &mut State) {
        if self.armed.swap(false, Ordering::SeqCst) {
            self.wake.notify_one();
        }
    }

    /// The ingest path offers frame `seq` of the hub's `epoch`: `encoded` is its whole WebSocket
    /// frame, `len` its payload's length. Writes it if the viewer is parked at `seq`, or else
    /// wakes its task. Returns whether it wrote the whole frame.
    pub(crate) fn offer(&self, seq: u64, epoch: u64, encoded: &Bytes, len: usize) -> bool {
        if !self.armed() {
            return false;
        }
        let mut state = self.state.lock();
        let at = match state.parked {
            Some(at) if at.cursor == seq && at.epoch == epoch && self.armed() => at,
            _ => {
                self.hand_back(&mut state);
                return false;
            }
        };
        let written = match self.writer.try_write(encoded) {
            Ok(written) => written,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => 0,
            // The task meets the error on its own next write, and ends the session.
            Err(_) => 0,
        };
        if written == 0 {
            self.hand_back(&mut state);
            return false;
        }
        let next = Position {
            cursor: seq + 1,
            offset: at.offset + len as u64,
            epoch,
        };
        state.parked = Some(next);
        let client = &self.client;
        client.frames.fetch_add(1, Ordering::Relaxed);
        client.bytes.fetch_add(len as u64, Ordering::Relaxed);
        client.written_through.fetch_add(1, Ordering::Relaxed);
        client.cursor.store(next.cursor, Ordering::Relaxed);
        if written < encoded.len() {
            state.rest = Some(encoded.slice(written..));
            self.hand_back(&mut state);
            return false;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::{Hub, Role};
    use crate::socket::SharedTcp;
    use crate::websocket::{self, Kind};
    use crate::{ClientGuard, HubConfig};
    use tokio::io::AsyncReadExt;
    use tokio::net::{TcpListener, TcpStream};

    /// A connected pair: the hub's side (as the listener wraps it) and the viewer's.
    async fn pair() -> (SharedTcp, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (viewer, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        (SharedTcp::new(accepted.unwrap().0), viewer.unwrap())
    }

    fn viewer() -> (Arc<Hub>, ClientGuard) {
        let hub = Hub::new(HubConfig::default()).unwrap();
        let guard = hub.register(Role::Viewer, "test".to_owned()).unwrap();
        (hub, guard)
    }

    /// Unmasked server frames' payloads, as a WebSocket client reads them.
    fn payloads(mut bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while !bytes.is_empty() {
            assert_eq!(bytes[0], 0x81, "a final text frame");
            let (len, header) = match bytes[1] {
                126 => (u16::from_be_bytes([bytes[2], bytes[3]]) as usize, 4),
                n if n < 126 => (n as usize, 2),
                n => panic!("unexpected length byte {n}"),
            };
            out.push(bytes[header..header + len].to_vec());
            bytes = &bytes[header + len..];
        }
        out
    }

    fn at(cursor: u64) -> Position {
        Position {
            cursor,
            offset: 0,
            epoch: 0,
        }
    }

    #[tokio::test]
    async fn a_parked_viewer_is_written_to_and_handed_back_at_the_first_frame_out_of_order() {
        let (_hub, guard) = viewer();
        let (tcp, mut peer) = pair().await;
        let direct = Direct::new(tcp.writer(), guard.client().clone());
        let frame = |text: &str| websocket::encode(Kind::Text, text.as_bytes());

        // Not armed: the ingest path leaves the viewer to its task.
        assert!(!direct.offer(1, 0, &frame("a"), 1));
        direct.arm(Some(at(1)));
        assert!(direct.offer(1, 0, &frame("a"), 1));
        assert!(direct.offer(2, 0, &frame("bc"), 2));
        // Frame 4 before 3 (another producer's frame came first): handed back, not written.
        assert!(!direct.offer(4, 0, &frame("d"), 1));
        assert!(!direct.armed());
        // The task was woken, and finds the viewer where the ingest path left it.
        tokio::time::timeout(std::time::Duration::from_secs(5), direct.woken())
            .await
            .expect("the task is woken");
        let unparked = direct.unpark();
        assert_eq!(
            unparked.position,
            Some(Position {
                cursor: 3,
                offset: 3,
                epoch: 0
            })
        );
        assert!(unparked.rest.is_none());
        assert_eq!(guard.client().written_through.load(Ordering::Relaxed), 2);
        assert_eq!(guard.client().bytes.load(Ordering::Relaxed), 3);
        // A frame of another epoch (after a reset) is not written either.
        direct.arm(Some(at(3)));
        assert!(!direct.offer(3, 1, &frame("x"), 1));

        drop(tcp);
        drop(direct);
        let mut got = Vec::new();
        peer.read_to_end(&mut got).await.unwrap();
        assert_eq!(payloads(&got), vec![b"a".to_vec(), b"bc".to_vec()]);
    }

    #[tokio::test]
    async fn the_task_writes_the_end_of_a_frame_the_socket_took_part_of() {
        let (_hub, guard) = viewer();
        let (tcp, mut peer) = pair().await;
        let direct = Direct::new(tcp.writer(), guard.client().clone());
        let text = |seq: u64| format!("{seq:07}").repeat(1000);
        let (mut sent, mut got) = (Vec::new(), Vec::new());
        let mut seq = 1;
        // Write frames through until the socket takes only part of one; when it takes nothing,
        // the viewer reads a little and the same frame is offered again.
        let rest = loop {
            assert!(seq < 10_000, "the socket never took part of a frame");
            direct.arm(Some(at(seq)));
            let payload = text(seq);
            let encoded = websocket::encode(Kind::Text, payload.as_bytes());
            if direct.offer(seq, 0, &encoded, payload.len()) {
                sent.push(payload.into_bytes());
                seq += 1;
                continue;
            }
            let unparked = direct.unpark();
            if let Some(rest) = unparked.rest {
                assert_eq!(unparked.position.unwrap().cursor, seq + 1);
                sent.push(payload.into_bytes());
                break rest;
            }
            assert_eq!(unparked.position.unwrap().cursor, seq);
            let mut buf = vec![0; 1000];
            let n = peer.read(&mut buf).await.unwrap();
            got.extend_from_slice(&buf[..n]);
        };
        // The task writes the rest, then frames of its own.
        let mut writer = websocket::FrameWriter::new(tcp.writer());
        writer.push_encoded(rest);
        writer.push(Kind::Text, Bytes::from("after"));
        sent.push(b"after".to_vec());
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            peer.read_to_end(&mut got).await.unwrap();
            got
        });
        writer.flush().await.unwrap();
        drop((writer, tcp, direct));
        got.extend(reader.await.unwrap());
        assert_eq!(payloads(&got), sent);
    }
}
