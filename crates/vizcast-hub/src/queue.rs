//! The queue between the hub and a consumer on a thread of its own (the recorder, the desktop
//! store, the Foxglove translation).
//!
//! A [`FrameSink`](crate::FrameSink) pushes under the hub's lock and must never wait, so a push
//! either fits or is refused at once, and the sink accounts for the refused frame (the recorder
//! reports it as not recorded, the others count it). The queue is bounded twice:
//!
//! - in **frames**, and
//! - in **bytes of memory** its items hold, as the pusher weighs them: for accepted frames,
//!   [`Accepted::footprint`](crate::Accepted::footprint), the text *and* the parsed messages. The
//!   text alone under-counts what a parsed frame keeps alive two- to fourfold.
//!
//! An empty queue takes any one item, however heavy, so a frame above the byte bound is queued
//! alone rather than refused for ever; the memory held is thus at most the byte bound or one
//! frame, whichever is larger. The consumer takes items in batches bounded the same two ways, and
//! an item's weight leaves the queue's count when the consumer takes it: the consumer's batch is
//! its own, bounded by what it asked for.
//!
//! A consumer that finds the queue empty looks again for a few microseconds before it sleeps
//! (crossbeam's `Backoff`, as crossbeam's channels do): in a burst the next frame comes within that time, and a sleeping
//! consumer costs every push a wake-up (a system call on the hub's ingest path, which doubled the
//! recorder's cost on small frames). Pushes wake the consumer only when it sleeps.
//!
//! Storage grows with what is queued (a `VecDeque`, not a preallocated ring), so a generous frame
//! bound costs nothing until it is used, and it shrinks back once drained.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crossbeam_utils::Backoff;
use parking_lot::{Condvar, Mutex};

/// A queue's bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueBounds {
    /// Most items waiting.
    pub frames: usize,
    /// Most bytes of memory the waiting items hold, as weighed by the pusher.
    pub bytes: usize,
}

/// Why [`FrameQueue::push`] did not take an item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// A bound is reached.
    Full,
    /// The queue was closed.
    Closed,
}

/// What [`FrameQueue::take`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Taken {
    /// This many items were moved into the batch.
    Items(usize),
    /// Nothing arrived before the timeout.
    Idle,
    /// The queue is closed and empty: nothing more will come.
    Closed,
}

/// A bounded multi-producer, single-consumer queue of weighed items. See the module docs.
#[derive(Debug)]
pub struct FrameQueue<T> {
    state: Mutex<State<T>>,
    ready: Condvar,
    bounds: QueueBounds,
    /// Items waiting, mirrored outside the lock: the consumer looks at it before it sleeps
    /// without taking the lock the producer needs.
    waiting: AtomicUsize,
}

#[derive(Debug)]
struct State<T> {
    items: VecDeque<(T, usize)>,
    bytes: usize,
    closed: bool,
    /// The consumer sleeps on `ready`.
    asleep: bool,
}

/// Capacity kept when the queue drains; above it, the storage is given back.
const KEEP: usize = 1024;

impl<T> FrameQueue<T> {
    /// An empty queue with these bounds.
    pub fn new(bounds: QueueBounds) -> Self {
        Self {
            state: Mutex::new(State {
                items: VecDeque::new(),
                bytes: 0,
                closed: false,
                asleep: false,
            }),
            ready: Condvar::new(),
            bounds,
            waiting: AtomicUsize::new(0),
        }
    }

    /// Queues `item`, which holds `bytes` of memory; never waits.
    pub fn push(&self, item: T, bytes: usize) -> Result<(), Refused> {
        let mut state = self.state.lock();
        if state.closed {
            return Err(Refused::Closed);
        }
        if !state.items.is_empty()
            && (state.items.len() >= self.bounds.frames
                || state.bytes.saturating_add(bytes) > self.bounds.bytes)
        {
            return Err(Refused::Full);
        }
        state.bytes += bytes;
        state.items.push_back((item, bytes));
        self.waiting.store(state.items.len(), Ordering::Release);
        let asleep = std::mem::take(&mut state.asleep);
        drop(state);
        if asleep {
            self.ready.notify_one();
        }
        Ok(())
    }

    /// Moves waiting items into `batch`, oldest first: at least one, then more while the batch
    /// stays within `max_items` and `max_bytes`. Waits up to `timeout` for the first.
    pub fn take(
        &self,
        batch: &mut Vec<T>,
        max_items: usize,
        max_bytes: usize,
        timeout: Duration,
    ) -> Taken {
        let deadline = Instant::now() + timeout;
        if !timeout.is_zero() {
            let backoff = Backoff::new();
            while self.waiting.load(Ordering::Acquire) == 0 && !backoff.is_completed() {
                backoff.snooze();
            }
        }
        let mut state = self.state.lock();
        while state.items.is_empty() {
            if state.closed {
                return Taken::Closed;
            }
            state.asleep = true;
            let timed_out = self.ready.wait_until(&mut state, deadline).timed_out();
            state.asleep = false;
            if timed_out && state.items.is_empty() {
                return if state.closed {
                    Taken::Closed
                } else {
                    Taken::Idle
                };
            }
        }
        let mut taken = 0;
        let mut bytes = 0;
        while let Some(&(_, weight)) = state.items.front() {
            if taken > 0 && (taken >= max_items || bytes + weight > max_bytes) {
                break;
            }
            let Some((item, weight)) = state.items.pop_front() else {
                break;
            };
            state.bytes -= weight;
            bytes += weight;
            taken += 1;
            batch.push(item);
        }
        self.waiting.store(state.items.len(), Ordering::Release);
        if state.items.is_empty() && state.items.capacity() > KEEP {
            state.items.shrink_to(KEEP);
        }
        Taken::Items(taken)
    }

    /// Refuses every later push; the consumer still takes what is queued, then sees
    /// [`Taken::Closed`].
    pub fn close(&self) {
        self.state.lock().closed = true;
        self.ready.notify_all();
    }

    /// Items waiting.
    pub fn len(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes the waiting items hold.
    pub fn bytes(&self) -> usize {
        self.state.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn queue(frames: usize, bytes: usize) -> FrameQueue<u32> {
        FrameQueue::new(QueueBounds { frames, bytes })
    }

    fn take_all(queue: &FrameQueue<u32>) -> Vec<u32> {
        let mut batch = Vec::new();
        while let Taken::Items(_) = queue.take(&mut batch, usize::MAX, usize::MAX, Duration::ZERO) {
        }
        batch
    }

    #[test]
    fn both_bounds_refuse_and_taking_makes_room() {
        let by_frames = queue(2, usize::MAX);
        assert_eq!(by_frames.push(1, 10), Ok(()));
        assert_eq!(by_frames.push(2, 10), Ok(()));
        assert_eq!(by_frames.push(3, 10), Err(Refused::Full));

        let by_bytes = queue(usize::MAX, 100);
        assert_eq!(by_bytes.push(1, 60), Ok(()));
        assert_eq!(by_bytes.push(2, 40), Ok(()));
        assert_eq!(by_bytes.push(3, 1), Err(Refused::Full));
        assert_eq!(by_bytes.bytes(), 100);
        let mut batch = Vec::new();
        assert_eq!(
            by_bytes.take(&mut batch, 1, usize::MAX, Duration::ZERO),
            Taken::Items(1)
        );
        assert_eq!(batch, [1]);
        assert_eq!(by_bytes.bytes(), 40);
        assert_eq!(by_bytes.push(3, 60), Ok(()));
        assert_eq!(by_bytes.push(4, 1), Err(Refused::Full));
        assert_eq!(take_all(&by_bytes), [2, 3]);
    }

    #[test]
    fn an_empty_queue_takes_one_item_heavier_than_its_bound_and_only_one() {
        let queue = queue(10, 100);
        assert_eq!(queue.push(1, 1000), Ok(()));
        assert_eq!(queue.push(2, 1), Err(Refused::Full));
        assert_eq!(take_all(&queue), [1]);
        assert_eq!(queue.bytes(), 0);
        assert_eq!(queue.push(2, 1), Ok(()));
    }

    #[test]
    fn a_batch_is_bounded_by_items_and_bytes_but_always_takes_one() {
        let queue = queue(100, usize::MAX);
        for (item, weight) in [(1, 50), (2, 50), (3, 50), (4, 500), (5, 1)] {
            queue.push(item, weight).unwrap();
        }
        let mut batch = Vec::new();
        assert_eq!(
            queue.take(&mut batch, 2, usize::MAX, Duration::ZERO),
            Taken::Items(2)
        );
        assert_eq!(
            queue.take(&mut batch, 10, 120, Duration::ZERO),
            Taken::Items(1)
        );
        assert_eq!(
            queue.take(&mut batch, 10, 120, Duration::ZERO),
            Taken::Items(1),
            "a heavy item still comes, alone"
        );
        assert_eq!(batch, [1, 2, 3, 4]);
        assert_eq!(
            queue.take(&mut batch, 10, 120, Duration::ZERO),
            Taken::Items(1)
        );
        assert_eq!(
            queue.take(&mut batch, 10, 120, Duration::from_millis(1)),
            Taken::Idle
        );
    }

    #[test]
    fn closing_refuses_pushes_and_the_consumer_drains_then_sees_the_end() {
        let queue = queue(10, usize::MAX);
        queue.push(1, 1).unwrap();
        queue.close();
        assert_eq!(queue.push(2, 1), Err(Refused::Closed));
        let mut batch = Vec::new();
        assert_eq!(
            queue.take(&mut batch, 10, usize::MAX, Duration::from_secs(60)),
            Taken::Items(1)
        );
        assert_eq!(
            queue.take(&mut batch, 10, usize::MAX, Duration::from_secs(60)),
            Taken::Closed
        );
    }

    #[test]
    fn a_waiting_consumer_wakes_for_a_push_and_for_close() {
        let queue = Arc::new(queue(10, usize::MAX));
        let consumer = {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name("consumer".to_owned())
                .spawn(move || {
                    let mut batch = Vec::new();
                    let mut ends = Vec::new();
                    loop {
                        let taken = queue.take(&mut batch, 10, usize::MAX, Duration::from_secs(60));
                        ends.push(taken);
                        if taken == Taken::Closed {
                            return (batch, ends);
                        }
                    }
                })
                .unwrap()
        };
        // Whether the consumer is already waiting or not, it gets both items and then the end,
        // long before its 60 s timeout could say Idle.
        queue.push(7, 1).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        queue.push(8, 1).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        queue.close();
        let (batch, ends) = consumer.join().unwrap();
        assert_eq!(batch, [7, 8]);
        assert_eq!(ends.last(), Some(&Taken::Closed));
        assert!(!ends.contains(&Taken::Idle), "{ends:?}");
    }

    #[test]
    fn an_accepted_frame_weighs_its_text_and_its_parsed_messages() {
        use vizcast_protocol::{Limits, parse_frame};

        use crate::{Accepted, Utf8Bytes};

        let accept = |text: String| {
            let messages = parse_frame(&text, &Limits::default()).unwrap();
            Accepted::new(1, 0.0, Utf8Bytes::from(text), messages)
        };
        let points: Vec<String> = (0..10_000).map(|i| format!("[{i},1,2]")).collect();
        let cloud = accept(format!(
            r#"{{"stream":"lidar","points":[{}]}}"#,
            points.join(",")
        ));
        // 10,000 positions of 12 bytes beside the text: the text alone says less than half.
        assert!(
            cloud.footprint() >= cloud.text.len() + 120_000,
            "{}",
            cloud.footprint()
        );
        assert!(
            cloud.footprint() < cloud.text.len() + 200_000,
            "{}",
            cloud.footprint()
        );
        let scalar = accept(r#"{"stream":"a","t":1,"value":2}"#.to_owned());
        // A small frame is mostly its parsed message and its own overhead.
        assert!(
            scalar.footprint() > 3 * scalar.text.len(),
            "{} for {} bytes of text",
            scalar.footprint(),
            scalar.text.len()
        );
    }

    #[test]
    fn storage_is_given_back_once_drained() {
        let queue = queue(usize::MAX, usize::MAX);
        for i in 0..100_000 {
            queue.push(i, 1).unwrap();
        }
        assert_eq!(take_all(&queue).len(), 100_000);
        assert!(queue.state.lock().items.capacity() <= KEEP);
    }
}
