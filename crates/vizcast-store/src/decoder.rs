//! The image decoding thread: JPEG, PNG and raw pixels to RGBA off the UI thread, latest wins.
//!
//! The UI submits a stream's image when its version changed; a submission for a stream that is
//! still waiting replaces the waiting one (a 30 Hz camera never queues up behind a slow decode),
//! and at most [`ImageDecoder::MAX_QUEUED`] images wait or lie decoded and not yet taken, so the
//! work and the memory are bounded whatever the producers send. One thread, named
//! `vizcast-decode`, decodes them one at a time, turns each into what the caller draws (e.g. an
//! egui image) and calls back so the UI repaints.

use std::collections::{BTreeMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::{Decoded, StreamImage, decode_image};

/// A decoded image, handed back to the UI.
#[derive(Debug)]
pub struct Done<T> {
    /// The image that was decoded.
    pub image: StreamImage,
    /// What the conversion made of its pixels, or why it could not be decoded.
    pub result: Result<T, String>,
    /// The time spent decoding and converting it.
    pub elapsed: Duration,
}

/// A submitted image waiting for the thread.
struct Job {
    name: String,
    image: StreamImage,
    max_side: u32,
}

struct State<T> {
    /// Waiting, oldest first; at most one per stream.
    queue: VecDeque<Job>,
    /// Decoded and not yet taken, by stream.
    done: BTreeMap<String, Done<T>>,
    /// An image is being decoded.
    busy: bool,
    closed: bool,
}

type Callback = Mutex<Option<Box<dyn Fn() + Send>>>;

struct Shared<T> {
    state: Mutex<State<T>>,
    wake: Condvar,
    on_done: Callback,
}

/// The decoding thread and its bounded, latest-wins queue. `T` is what the caller draws: the
/// thread converts each [`Decoded`] image into it, so that the UI only uploads.
pub struct ImageDecoder<T> {
    shared: Arc<Shared<T>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl<T> std::fmt::Debug for ImageDecoder<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageDecoder").finish_non_exhaustive()
    }
}

impl<T: Send + 'static> ImageDecoder<T> {
    /// Most images waiting, being decoded, or decoded and not yet taken, all streams together.
    pub const MAX_QUEUED: usize = 32;

    /// Starts the thread; `convert` turns each decoded image into what the caller draws.
    pub fn start(convert: impl Fn(Decoded) -> T + Send + 'static) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                done: BTreeMap::new(),
                busy: false,
                closed: false,
            }),
            wake: Condvar::new(),
            on_done: Mutex::new(None),
        });
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("vizcast-decode".to_owned())
                .spawn(move || run(&shared, &convert))?
        };
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    /// Called (from the thread) after each image is decoded: e.g. to request a repaint.
    pub fn on_done(&self, callback: impl Fn() + Send + 'static) {
        *self.shared.on_done.lock() = Some(Box::new(callback));
    }

    /// Asks for `image` of stream `name`, at most `max_side` pixels a side (larger images keep
    /// every n-th pixel). Replaces the stream's image if one is still waiting. Returns `false`
    /// when [`Self::MAX_QUEUED`] images wait already: submit again later.
    pub fn submit(&self, name: &str, image: StreamImage, max_side: u32) -> bool {
        let mut state = self.shared.state.lock();
        if let Some(job) = state.queue.iter_mut().find(|job| job.name == name) {
            job.image = image;
            job.max_side = max_side;
            return true;
        }
        if state.queue.len() + usize::from(state.busy) + state.done.len() >= Self::MAX_QUEUED {
            return false;
        }
        state.queue.push_back(Job {
            name: name.to_owned(),
            image,
            max_side,
        });
        drop(state);
        self.shared.wake.notify_one();
        true
    }

    /// The images decoded since the last call, by stream (the latest of each).
    pub fn take(&self) -> Vec<(String, Done<T>)> {
        std::mem::take(&mut self.shared.state.lock().done)
            .into_iter()
            .collect()
    }

    /// Images waiting to be decoded.
    pub fn waiting(&self) -> usize {
        self.shared.state.lock().queue.len()
    }
}

impl<T> Drop for ImageDecoder<T> {
    fn drop(&mut self) {
        self.shared.state.lock().closed = true;
        self.shared.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            thread.join().ok();
        }
    }
}

fn run<T>(shared: &Shared<T>, convert: &dyn Fn(Decoded) -> T) {
    loop {
        let job = {
            let mut state = shared.state.lock();
            loop {
                if state.closed {
                    return;
                }
                if let Some(job) = state.queue.pop_front() {
                    state.busy = true;
                    break job;
                }
                shared.wake.wait(&mut state);
            }
        };
        let started = Instant::now();
        // The decoders are not ours: should one panic on a hostile file, that image fails,
        // not the thread.
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
            decode_image(&job.image, job.max_side).map(convert)
        }))
        .unwrap_or_else(|_| Err("the decoder failed on this image".to_owned()));
        let done = Done {
            image: job.image,
            result,
            elapsed: started.elapsed(),
        };
        {
            let mut state = shared.state.lock();
            state.done.insert(job.name, done);
            state.busy = false;
        }
        if let Some(callback) = &*shared.on_done.lock() {
            callback();
        }
    }
}

#[cfg(test)]
mod tests {
    use vizcast_protocol::{ImageEncoding, PixelType};

    use super::*;

    fn mono(version: u64, value: u8) -> StreamImage {
        StreamImage {
            encoding: ImageEncoding::Raw(PixelType::U8),
            width: 2,
            height: 2,
            channels: 1,
            data: Arc::new(vec![value; 4]),
            colormap: None,
            range: None,
            t: 0.0,
            received: 0.0,
            version,
        }
    }

    /// Takes until `n` streams came back (the thread is asynchronous).
    fn take_all<T: Send + 'static>(decoder: &ImageDecoder<T>, n: usize) -> Vec<(String, Done<T>)> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut all = Vec::new();
        while all.len() < n {
            assert!(Instant::now() < deadline, "decoded in time");
            all.extend(decoder.take());
            std::thread::sleep(Duration::from_millis(2));
        }
        all
    }

    #[test]
    fn images_are_decoded_off_the_caller_and_converted() {
        let decoder = ImageDecoder::start(|d: Decoded| (d.width, d.rgba)).unwrap();
        let (tx, rx) = std::sync::mpsc::sync_channel(64);
        decoder.on_done(move || {
            tx.try_send(()).ok();
        });
        assert!(decoder.submit("a", mono(1, 9), 4096));
        let done = take_all(&decoder, 1);
        assert_eq!(done[0].0, "a");
        assert_eq!(done[0].1.image.version, 1);
        assert_eq!(
            done[0].1.result.as_ref().unwrap(),
            &(2, [9, 9, 9, 255].repeat(4))
        );
        assert!(
            rx.recv_timeout(Duration::from_secs(20)).is_ok(),
            "the callback ran"
        );
        // Errors come back as messages.
        let mut bad = mono(2, 0);
        bad.channels = 2;
        bad.data = Arc::new(vec![0; 8]);
        assert!(decoder.submit("a", bad, 4096));
        let done = take_all(&decoder, 1);
        assert!(
            done[0]
                .1
                .result
                .as_ref()
                .unwrap_err()
                .contains("2 channels")
        );
    }

    #[test]
    fn the_latest_image_of_a_stream_wins_and_the_queue_is_bounded() {
        // A conversion that waits for the test, so that submissions pile up behind it. (The
        // guard is dropped before the decoder, whose drop waits for the thread.)
        let gate = Arc::new(Mutex::new(()));
        let decoder = {
            let gate = gate.clone();
            ImageDecoder::start(move |d: Decoded| {
                drop(gate.lock());
                d.rgba[0]
            })
            .unwrap()
        };
        let held = gate.lock();
        assert!(decoder.submit("busy", mono(1, 1), 4096));
        let deadline = Instant::now() + Duration::from_secs(20);
        while decoder.waiting() > 0 {
            assert!(Instant::now() < deadline, "the thread takes the first job");
            std::thread::sleep(Duration::from_millis(1));
        }
        // A camera at 30 Hz while the thread is busy: one waiting job, the newest.
        for version in 2..100 {
            assert!(decoder.submit("cam", mono(version, version as u8), 4096));
        }
        assert_eq!(decoder.waiting(), 1);
        // Other streams fill the queue up to its bound (the image being decoded counts), then
        // are refused.
        let max = ImageDecoder::<u8>::MAX_QUEUED;
        for i in 0..max - 2 {
            assert!(decoder.submit(&format!("s{i}"), mono(1, 0), 4096));
        }
        assert!(!decoder.submit("one-too-many", mono(1, 0), 4096));
        assert!(
            decoder.submit("cam", mono(100, 100), 4096),
            "replacing is always taken"
        );
        drop(held);
        let done = take_all(&decoder, max);
        let cam = &done.iter().find(|(name, _)| name == "cam").unwrap().1;
        assert_eq!(cam.image.version, 100);
        assert_eq!(cam.result, Ok(100));
        assert!(done.iter().all(|(name, _)| name != "one-too-many"));
    }
}
