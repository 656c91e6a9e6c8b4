//! The live log: the most recent frames, shared by every viewer.
//!
//! Each viewer keeps a cursor (the sequence number of the next frame it needs) into one shared ring
//! instead of owning a queue: a frame is stored once however many viewers there are, and appending
//! costs the same with 1 viewer or 1,000. The ring holds at most `max_frames` frames and `max_bytes`
//! bytes, which is exactly each viewer's queue limit: a viewer whose cursor has fallen off the front
//! of the ring is more than a whole queue behind, and is [`Lagged`].

use std::collections::VecDeque;

use axum::extract::ws::Utf8Bytes;

/// A viewer asked for frames that are no longer in the ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lagged {
    /// Oldest sequence number still in the ring (the viewer missed everything before it).
    pub first_available: u64,
}

/// A ring of recent frames, addressed by sequence number.
#[derive(Debug)]
pub struct LiveLog {
    /// Frames with the running total of bytes up to and including each.
    entries: VecDeque<(Utf8Bytes, u64)>,
    /// Sequence number of `entries[0]`.
    first_seq: u64,
    /// Bytes in `entries`.
    bytes: usize,
    max_frames: usize,
    max_bytes: usize,
    /// Running total of bytes ever appended.
    total_bytes: u64,
}

impl LiveLog {
    /// A log holding at most `max_frames` frames and `max_bytes` bytes (but always the newest frame).
    pub fn new(max_frames: usize, max_bytes: usize) -> Self {
        Self {
            entries: VecDeque::new(),
            first_seq: 1,
            bytes: 0,
            max_frames: max_frames.max(1),
            max_bytes,
            total_bytes: 0,
        }
    }

    /// Sequence number the next frame will get.
    pub fn next_seq(&self) -> u64 {
        self.first_seq + self.entries.len() as u64
    }

    /// Appends a frame (it gets [`LiveLog::next_seq`]) and evicts the oldest beyond the limits.
    pub fn push(&mut self, frame: Utf8Bytes) {
        self.total_bytes += frame.len() as u64;
        self.bytes += frame.len();
        self.entries.push_back((frame, self.total_bytes));
        while self.entries.len() > 1
            && (self.entries.len() > self.max_frames || self.bytes > self.max_bytes)
        {
            if let Some((old, _)) = self.entries.pop_front() {
                self.bytes -= old.len();
                self.first_seq += 1;
            }
        }
    }

    /// Frames from `cursor` on, at most `max_frames` of them and, past the first, `max_bytes` in all.
    pub fn read_from(
        &self,
        cursor: u64,
        max_frames: usize,
        max_bytes: usize,
        out: &mut Vec<Utf8Bytes>,
    ) -> Result<(), Lagged> {
        if cursor < self.first_seq {
            return Err(Lagged {
                first_available: self.first_seq,
            });
        }
        let start = (cursor - self.first_seq) as usize;
        let mut bytes = 0;
        for (frame, _) in self.entries.iter().skip(start).take(max_frames) {
            if !out.is_empty() && bytes + frame.len() > max_bytes {
                break;
            }
            bytes += frame.len();
            out.push(frame.clone());
        }
        Ok(())
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
            let index = (cursor - self.first_seq) as usize;
            let (frame, end) = &self.entries[index];
            self.total_bytes - (end - frame.len() as u64)
        };
        (frames, bytes)
    }

    /// Bytes ever appended: the byte offset of the next frame.
    pub fn total_bytes(&self) -> u64 {
        self.total_bytes
    }

    /// Frames and bytes in the ring.
    pub fn len(&self) -> (usize, usize) {
        (self.entries.len(), self.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(n: usize) -> Utf8Bytes {
        Utf8Bytes::from("x".repeat(n))
    }

    #[test]
    fn cursors_read_in_order_and_fall_off_the_front_when_too_far_behind() {
        let mut log = LiveLog::new(4, 1000);
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
        let mut log = LiveLog::new(100, 25);
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
}
