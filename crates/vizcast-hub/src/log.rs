//! The live log: the most recent frames, shared by every viewer.
//!
//! Each viewer keeps a cursor (the sequence number of the next frame it needs) into one shared ring
//! instead of owning a queue: a frame is stored once however many viewers there are, and appending
//! costs the same with 1 viewer or 1,000. The ring holds at most `max_frames` frames and `max_bytes`
//! bytes, which is exactly each viewer's queue limit: a viewer whose cursor has fallen off the front
//! of the ring is more than a whole queue behind, and is [`Lagged`].
//!
//! The byte limit counts only what a viewer may still be sent. A frame that newer frames wholly
//! superseded (an old cloud, an old line) is skipped by every viewer that is behind, and a viewer
//! whose oldest unsent frame is older than `release_after` (`--conflate-after`) is behind. So once
//! such a frame is that old, no viewer will ever be sent it: the ring lets go of its text and
//! stops counting its bytes, and keeps only its place (a few dozen bytes, within `max_frames`).
//! A viewer that stalls beside a 30 MB/s cloud stream therefore falls a queue behind only after
//! `max_bytes` of *scalars*, events and current clouds, not after a second of clouds nobody needs.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::Utf8Bytes;
use vizcast_protocol::Subscription;

/// A viewer asked for frames that are no longer in the ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lagged {
    /// Oldest sequence number still in the ring (the viewer missed everything before it).
    pub first_available: u64,
}

/// The streams a frame's messages are about (names shared with the hub's stream table).
#[derive(Clone, Debug)]
pub enum Streams {
    /// A single message, or a batch about one stream.
    One(Arc<str>),
    /// A batch about several streams, each once.
    Many(Arc<[Arc<str>]>),
}

impl Streams {
    /// The names, each once.
    pub fn iter(&self) -> std::slice::Iter<'_, Arc<str>> {
        match self {
            Self::One(name) => std::slice::from_ref(name).iter(),
            Self::Many(names) => names.iter(),
        }
    }

    /// Whether a viewer with `subscription` wants the frame (any of its streams matches).
    pub fn wanted(&self, subscription: &Subscription) -> bool {
        subscription.is_all() || self.iter().any(|name| subscription.matches(name))
    }
}

/// A frame as the log receives it.
#[derive(Debug)]
pub struct LogFrame {
    /// The frame, byte for byte.
    pub text: Utf8Bytes,
    /// Its streams.
    pub streams: Streams,
    /// How many of its parts newer frames may supersede (clouds, line bases and appends), or
    /// `None` when some part of it never is (scalar samples, text, `clear`).
    pub supersedable: Option<u32>,
}

/// A frame in the ring.
#[derive(Debug)]
struct Entry {
    /// The frame; `None` once released (superseded, and too old for any viewer to be sent it).
    text: Option<Utf8Bytes>,
    /// Its length in bytes.
    len: usize,
    /// Running total of bytes up to and including this frame.
    end: u64,
    /// When it was appended.
    at: Instant,
    streams: Streams,
    /// Parts not superseded yet; [`NEVER`] for frames that are never skipped.
    live: u32,
}

/// [`Entry::live`] of a frame that conflation never skips.
const NEVER: u32 = u32::MAX;

/// Most entries one read looks at (sent, conflated or not subscribed), so that a read lock is
/// held for a bounded time.
const SCAN_LIMIT: usize = 4096;

/// How a viewer reads: what it wants, and whether it may skip superseded frames.
#[derive(Clone, Copy, Debug)]
pub struct ReadOptions<'a> {
    /// Its subscription.
    pub subscription: &'a Subscription,
    /// When the oldest frame it has yet to receive is older than this, it is behind, and skips
    /// frames that newer frames of the same streams superseded. `None`: never.
    pub conflate_after: Option<Duration>,
    /// Most frames to return.
    pub max_frames: usize,
    /// Most bytes to return (past the first frame).
    pub max_bytes: usize,
    /// Read no frame at or past this sequence number.
    pub until: u64,
}

/// What one read did, besides the frames it returned.
#[derive(Debug, Default)]
pub struct ReadOutcome {
    /// The cursor after the read: every frame before it was sent, conflated or not subscribed.
    pub cursor: u64,
    /// Bytes of all frames the cursor moved past.
    pub scanned_bytes: u64,
    /// Frames not sent because the viewer does not subscribe to them, and their bytes.
    pub filtered: (u64, u64),
    /// Frames skipped as superseded: their streams and sizes.
    pub conflated: Vec<(Streams, u64)>,
}

/// A ring of recent frames, addressed by sequence number.
#[derive(Debug)]
pub struct LiveLog {
    entries: VecDeque<Entry>,
    /// Sequence number of `entries[0]`.
    first_seq: u64,
    /// Bytes of the frames held (not released) in `entries`.
    bytes: usize,
    max_frames: usize,
    max_bytes: usize,
    /// Running total of bytes ever appended.
    total_bytes: u64,
    /// Superseded frames are released once this old (`None`: never; conflation is off).
    release_after: Option<Duration>,
    /// Frames wholly superseded and not yet released, in the order they were superseded: at most
    /// `2 × max_frames` (each frame in the ring once, and some already evicted).
    superseded: VecDeque<u64>,
}

impl LiveLog {
    /// A log holding at most `max_frames` frames and `max_bytes` bytes (but always the newest
    /// frame), that releases superseded frames once they are `release_after` old (see the module
    /// docs; `None`: never).
    pub fn new(max_frames: usize, max_bytes: usize, release_after: Option<Duration>) -> Self {
        Self {
            entries: VecDeque::new(),
            first_seq: 1,
            bytes: 0,
            max_frames: max_frames.max(1),
            max_bytes,
            total_bytes: 0,
            release_after,
            superseded: VecDeque::new(),
        }
    }

    /// Sequence number the next frame will get.
    pub fn next_seq(&self) -> u64 {
        self.first_seq + self.entries.len() as u64
    }

    /// Appends a frame (it gets [`LiveLog::next_seq`]), releases superseded frames old enough,
    /// and evicts the oldest beyond the limits.
    pub fn push(&mut self, frame: LogFrame) {
        let now = Instant::now();
        let len = frame.text.len();
        self.total_bytes += len as u64;
        self.bytes += len;
        self.entries.push_back(Entry {
            end: self.total_bytes,
            at: now,
            live: frame.supersedable.map_or(NEVER, |n| n.min(NEVER - 1)),
            text: Some(frame.text),
            len,
            streams: frame.streams,
        });
        self.release(now);
        while self.entries.len() > 1
            && (self.entries.len() > self.max_frames || self.bytes > self.max_bytes)
        {
            if let Some(old) = self.entries.pop_front() {
                if old.text.is_some() {
                    self.bytes -= old.len;
                }
                self.first_seq += 1;
            }
        }
    }

    /// Lets go of the superseded frames that are at least `release_after` old at `now`.
    fn release(&mut self, now: Instant) {
        let Some(after) = self.release_after else {
            return;
        };
        while let Some(&seq) = self.superseded.front() {
            if let Some(index) = seq.checked_sub(self.first_seq)
                && let Some(entry) = self.entries.get_mut(index as usize)
            {
                if now.saturating_duration_since(entry.at) < after {
                    return;
                }
                if entry.text.take().is_some() {
                    self.bytes -= entry.len;
                }
            }
            self.superseded.pop_front();
        }
    }

    /// Whether frame `seq` is still in the ring.
    pub fn contains(&self, seq: u64) -> bool {
        seq >= self.first_seq && seq < self.next_seq()
    }

    /// One part of frame `seq` was superseded by a newer frame; at none left, viewers that are
    /// behind skip it.
    pub fn supersede(&mut self, seq: u64) {
        let Some(index) = seq.checked_sub(self.first_seq) else {
            return;
        };
        if let Some(entry) = self.entries.get_mut(index as usize)
            && entry.live != NEVER
            && entry.live > 0
        {
            entry.live -= 1;
            if entry.live == 0 && self.release_after.is_some() {
                self.superseded.push_back(seq);
                // Evicted frames wait behind a young one only within `release_after`; with a long
                // one, forget them here, so that the queue stays within the ring's size.
                if self.superseded.len() > 2 * self.max_frames {
                    let first = self.first_seq;
                    self.superseded.retain(|&s| s >= first);
                }
            }
        }
    }

    /// Frames from `cursor` on, at most `max_frames` of them and, past the first, `max_bytes` in
    /// all (every frame: no subscription, no conflation).
    #[cfg(test)]
    pub fn read_from(
        &self,
        cursor: u64,
        max_frames: usize,
        max_bytes: usize,
        out: &mut Vec<Utf8Bytes>,
    ) -> Result<(), Lagged> {
        let all = Subscription::all();
        let options = ReadOptions {
            subscription: &all,
            conflate_after: None,
            max_frames,
            max_bytes,
            until: u64::MAX,
        };
        self.read(cursor, &options, out).map(drop)
    }

    /// Frames from `cursor` on that the viewer wants, as `options` say; see [`ReadOutcome`].
    pub fn read(
        &self,
        cursor: u64,
        options: &ReadOptions<'_>,
        out: &mut Vec<Utf8Bytes>,
    ) -> Result<ReadOutcome, Lagged> {
        if cursor < self.first_seq {
            return Err(Lagged {
                first_available: self.first_seq,
            });
        }
        let start = (cursor - self.first_seq) as usize;
        let mut outcome = ReadOutcome {
            cursor,
            ..ReadOutcome::default()
        };
        let behind = options.conflate_after.is_some_and(|after| {
            self.entries
                .get(start)
                .is_some_and(|e| e.at.elapsed() >= after)
        });
        let all = options.subscription.is_all();
        let (mut frames, mut bytes) = (0, 0);
        for entry in self.entries.iter().skip(start).take(SCAN_LIMIT) {
            if outcome.cursor >= options.until {
                break;
            }
            let len = entry.len;
            if !all && !entry.streams.wanted(options.subscription) {
                outcome.filtered.0 += 1;
                outcome.filtered.1 += len as u64;
            } else if entry.live == 0 && (behind || entry.text.is_none()) {
                // A released frame is conflated by whoever reaches it: a viewer that does is
                // behind by construction (it is older than `release_after`).
                outcome.conflated.push((entry.streams.clone(), len as u64));
            } else if entry.live == 0 && options.conflate_after.is_some() && outcome.cursor > cursor
            {
                // A superseded frame of a viewer that is not behind: the next read judges it
                // when it is the oldest unsent frame, so it is sent only while it is fresh.
                break;
            } else {
                if frames == options.max_frames || (frames > 0 && bytes + len > options.max_bytes) {
                    break;
                }
                frames += 1;
                bytes += len;
                out.extend(entry.text.clone());
            }
            outcome.cursor += 1;
            outcome.scanned_bytes += len as u64;
        }
        Ok(outcome)
    }

    /// How far behind a viewer at `cursor` is: (frames, bytes) it has yet to receive.
    pub fn behind(&self, cursor: u64) -> (u64, u64) {
        let next = self.next_seq();
        if cursor >= next {
            return (0, 0);
        }
        let frames = next - cursor;
        let bytes = if cursor < self.first_seq {
            // Off the ring: at least everything that is in it.
            self.bytes as u64
        } else {
            let entry = &self.entries[(cursor - self.first_seq) as usize];
            self.total_bytes - (entry.end - entry.len as u64)
        };
        (frames, bytes)
    }

    /// Bytes ever appended: the byte offset of the next frame.
    pub fn total_bytes(&self) -> u64 {
        self.total_bytes
    }

    /// Frames in the ring, and the bytes of those it holds (not released).
    pub fn len(&self) -> (usize, usize) {
        (self.entries.len(), self.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(n: usize) -> LogFrame {
        LogFrame {
            text: Utf8Bytes::from("x".repeat(n)),
            streams: Streams::One("s".into()),
            supersedable: None,
        }
    }

    #[test]
    fn cursors_read_in_order_and_fall_off_the_front_when_too_far_behind() {
        let mut log = LiveLog::new(4, 1000, None);
        for _ in 0..3 {
            log.push(frame(10));
        }
        let mut out = Vec::new();
        log.read_from(1, 10, 1000, &mut out).unwrap();
        assert_eq!(out.len(), 3);
        assert_eq!(log.behind(2), (2, 20));
        for _ in 0..3 {
            log.push(frame(10));
        }
        // 6 frames pushed, 4 kept: seq 3..=6.
        assert_eq!(
            log.read_from(1, 10, 1000, &mut Vec::new()),
            Err(Lagged { first_available: 3 })
        );
        let mut out = Vec::new();
        log.read_from(3, 2, 1000, &mut out).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(log.behind(1), (6, 40));
    }

    #[test]
    fn the_byte_limit_evicts_but_keeps_the_newest_frame() {
        let mut log = LiveLog::new(100, 25, None);
        log.push(frame(10));
        log.push(frame(10));
        log.push(frame(10));
        assert_eq!(log.len(), (2, 20));
        log.push(frame(100));
        assert_eq!(log.len(), (1, 100));
        assert_eq!(log.next_seq(), 5);
        // A batch read stops at the byte budget but always returns at least one frame.
        let mut out = Vec::new();
        log.read_from(4, 10, 10, &mut out).unwrap();
        assert_eq!(out.len(), 1);
    }

    fn cloud(n: usize) -> LogFrame {
        LogFrame {
            text: Utf8Bytes::from("c".repeat(n)),
            streams: Streams::One("cloud".into()),
            supersedable: Some(1),
        }
    }

    /// Pushes `rounds` of (one 400-byte cloud superseding the previous one, one scalar frame).
    fn clouds_and_scalars(log: &mut LiveLog, rounds: usize) {
        for _ in 0..rounds {
            let seq = log.next_seq();
            log.push(cloud(400));
            if seq > 1 {
                log.supersede(seq - 2);
            }
            log.push(frame(10));
        }
    }

    #[test]
    fn superseded_frames_old_enough_are_released_and_not_counted() {
        // Without release, 20 clouds of 400 bytes run a 1,000-byte log past a viewer at 1.
        let mut kept = LiveLog::new(1000, 1000, None);
        clouds_and_scalars(&mut kept, 20);
        assert!(kept.read_from(1, 1000, 1 << 20, &mut Vec::new()).is_err());

        // Released as soon as superseded (`--conflate-after 0`): only the current cloud counts.
        let mut log = LiveLog::new(1000, 1000, Some(Duration::ZERO));
        clouds_and_scalars(&mut log, 20);
        let (frames, bytes) = log.len();
        assert_eq!(frames, 40, "nothing was evicted");
        assert!(bytes <= 2 * 400 + 20 * 10, "{bytes} bytes held");
        let all = Subscription::all();
        let options = ReadOptions {
            subscription: &all,
            conflate_after: Some(Duration::ZERO),
            max_frames: 1000,
            max_bytes: 1 << 20,
            until: u64::MAX,
        };
        let mut out = Vec::new();
        let outcome = log.read(1, &options, &mut out).unwrap();
        // Every scalar frame and the current cloud; the 19 superseded clouds conflated.
        assert_eq!(out.len(), 21);
        assert_eq!(outcome.conflated.len(), 19);
        assert_eq!(outcome.cursor, log.next_seq());
        assert_eq!(outcome.scanned_bytes, log.total_bytes());
        assert_eq!(log.behind(1), (40, 20 * 410));
    }

    #[test]
    fn superseded_frames_are_kept_while_a_viewer_may_still_be_sent_them() {
        let mut log = LiveLog::new(1000, 1 << 20, Some(Duration::from_secs(3600)));
        clouds_and_scalars(&mut log, 5);
        assert_eq!(log.len(), (10, 5 * 410));
        // A viewer that is not behind gets every frame, superseded or not, while they are fresh.
        let mut out = Vec::new();
        log.read_from(1, 1000, 1 << 20, &mut out).unwrap();
        assert_eq!(out.len(), 10);
        // Evicted frames leave the release queue as well.
        let mut small = LiveLog::new(4, 1 << 20, Some(Duration::from_secs(3600)));
        clouds_and_scalars(&mut small, 1000);
        assert!(small.superseded.len() <= 8, "{}", small.superseded.len());
    }
}
