//! Recording accepted frames to MCAP on a thread of its own.
//!
//! The hub offers every accepted frame to the [`Recorder`]'s sink under its state lock, in order.
//! The sink queues it (a [`FrameQueue`] bounded by the memory its frames hold, their text and
//! their parsed messages: `--record-buffer`) and returns at once: ingest never waits for the
//! disk. A frame that does not fit (the disk is too slow, or the recording failed) is not silently
//! lost: it is counted, and the range of frames not recorded is logged, reported in the status
//! every viewer sees, and written into the file as a `vizcast.gap` metadata record, so anyone
//! reading the file knows exactly where it has holes.
//!
//! The writer thread writes one MCAP message per protocol message, on the channel of its stream
//! (topic = stream name, message encoding `json`, no schema): the payload is the message's bytes
//! exactly as the producer sent them, the log time is the hub's receive time, the
//! publish time is the message's `t` (its first for columnar batches), and the sequence number is
//! the hub's frame number, shared by the messages of one frame (a replay regroups them). It closes
//! a chunk and flushes at least every `flush_interval` (250 ms), so a crash loses at most that.
//!
//! Channels have no schema (schema id 0) because the apps MCAP files are opened in, Lichtblick and
//! Foxglove, turn a `jsonschema` schema into datatypes and fail the whole channel on what they
//! cannot type: our protocol schema, whose fields have several shapes (`oneOf`,
//! `$ref`), is such a schema, and a schema restricted to what they type could declare almost
//! nothing (`value` is a number, a list or an encoded array; `values` has any keys). Without one,
//! they parse each message as JSON and plot any path in it. The protocol schema is named in the
//! `vizcast` metadata record instead (see [`crate::apps`]).

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mcap::records::{MessageHeader, Metadata};
use parking_lot::Mutex;
use vizcast_hub::{Accepted, FrameQueue, FrameSink, Hub, QueueBounds, Taken, unix_now};
use vizcast_protocol::{RecordingStatus, Time, human_bytes};

use crate::{MESSAGE_SCHEMA_ID, RecordError, nanos};

/// How chunks are compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// zstd: the default (see `docs/performance.md` for the measurement).
    Zstd,
    /// lz4: faster, larger.
    Lz4,
    /// None.
    None,
}

impl Compression {
    fn mcap(self) -> Option<mcap::Compression> {
        match self {
            Self::Zstd => Some(mcap::Compression::Zstd),
            Self::Lz4 => Some(mcap::Compression::Lz4),
            Self::None => None,
        }
    }
}

/// How a recording is written.
#[derive(Clone, Debug)]
pub struct RecorderOptions {
    /// Chunk compression.
    pub compression: Compression,
    /// Target size of a chunk before compression.
    pub chunk_bytes: u64,
    /// A chunk is closed and written at least this often.
    pub flush_interval: Duration,
    /// Most bytes of memory the frames waiting to be written may hold (their text and their
    /// parsed messages, [`Accepted::footprint`]); beyond that, frames are reported as not recorded.
    pub queue_bytes: usize,
}

impl Default for RecorderOptions {
    fn default() -> Self {
        Self {
            compression: Compression::Zstd,
            chunk_bytes: 1 << 20,
            flush_interval: Duration::from_millis(250),
            queue_bytes: 256 << 20,
        }
    }
}

/// What a finished recording holds.
#[derive(Clone, Debug, Default)]
pub struct RecordingSummary {
    /// Messages written.
    pub messages: u64,
    /// Frames written.
    pub frames: u64,
    /// Size of the file.
    pub bytes: u64,
    /// Frames that could not be recorded.
    pub unrecorded_frames: u64,
    /// Their bytes.
    pub unrecorded_bytes: u64,
}

/// A run of consecutive frames that could not be recorded.
#[derive(Clone, Debug)]
struct Gap {
    first_seq: u64,
    last_seq: u64,
    frames: u64,
    bytes: u64,
    first_time: f64,
    last_time: f64,
}

/// How often a recorder whose file failed tells the viewers its count of frames not recorded.
const STATUS_AFTER_FAILURE: Duration = Duration::from_millis(250);

/// Most frames, and bytes of them, the writer takes from the queue at once.
const TAKE_FRAMES: usize = 1024;
const TAKE_BYTES: usize = 4 << 20;

/// The part the hub talks to.
struct Sink {
    /// Closed when recording stops, or when the writer failed: everything offered after is not
    /// recorded.
    queue: FrameQueue<Arc<Accepted>>,
    gaps: Mutex<Vec<Gap>>,
    unrecorded_frames: AtomicU64,
    unrecorded_bytes: AtomicU64,
    /// Set when recording stops: a writer that failed stops reporting.
    stopping: AtomicBool,
}

impl Sink {
    fn not_recorded(&self, frame: &Accepted) {
        self.not_recorded_run(Gap {
            first_seq: frame.seq,
            last_seq: frame.seq,
            frames: 1,
            bytes: frame.text.len() as u64,
            first_time: frame.received,
            last_time: frame.received,
        });
    }

    /// Counts a run of frames as not recorded, joining the last run when it follows it.
    fn not_recorded_run(&self, run: Gap) {
        self.unrecorded_frames
            .fetch_add(run.frames, Ordering::Relaxed);
        self.unrecorded_bytes
            .fetch_add(run.bytes, Ordering::Relaxed);
        let mut gaps = self.gaps.lock();
        match gaps.last_mut() {
            Some(gap) if gap.last_seq + 1 == run.first_seq => {
                gap.last_seq = run.last_seq;
                gap.frames += run.frames;
                gap.bytes += run.bytes;
                gap.last_time = run.last_time;
            }
            _ => gaps.push(run),
        }
    }
}

impl Gap {
    /// The frames written since the file was last flushed to the disk, extended by `frame`.
    fn extend(run: &mut Option<Self>, frame: &Accepted) {
        let bytes = frame.text.len() as u64;
        match run {
            Some(gap) => {
                gap.last_seq = frame.seq;
                gap.frames += 1;
                gap.bytes += bytes;
                gap.last_time = frame.received;
            }
            None => {
                *run = Some(Self {
                    first_seq: frame.seq,
                    last_seq: frame.seq,
                    frames: 1,
                    bytes,
                    first_time: frame.received,
                    last_time: frame.received,
                });
            }
        }
    }
}

impl FrameSink for Sink {
    fn offer(&self, frame: &Arc<Accepted>) {
        if self.queue.push(frame.clone(), frame.footprint()).is_err() {
            self.not_recorded(frame);
        }
    }
}

/// Records a hub's frames to a file until [`Recorder::finish`].
pub struct Recorder {
    hub: Arc<Hub>,
    sink: Arc<Sink>,
    sink_handle: Arc<dyn FrameSink>,
    thread: Option<std::thread::JoinHandle<Result<RecordingSummary, RecordError>>>,
    path: PathBuf,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Recorder {
    /// Creates `path` (replacing it) and records every frame `hub` accepts from now on.
    pub fn start(
        hub: Arc<Hub>,
        path: &Path,
        options: RecorderOptions,
    ) -> Result<Self, RecordError> {
        let file = File::create(path).map_err(|e| RecordError::io(path, e))?;
        let size_probe = file.try_clone().map_err(|e| RecordError::io(path, e))?;
        let writer = mcap::WriteOptions::new()
            .compression(options.compression.mcap())
            // Compress on the recorder's own thread only: ingest keeps the other cores.
            .compression_threads(0)
            .chunk_size(Some(options.chunk_bytes))
            .profile("")
            .library(concat!("vizcast ", env!("CARGO_PKG_VERSION")))
            .create(BufWriter::with_capacity(1 << 20, file))
            .map_err(|e| RecordError::mcap(path, e))?;
        let sink = Arc::new(Sink {
            // Bounded by bytes alone: each frame's footprint counts its own overhead.
            queue: FrameQueue::new(QueueBounds {
                frames: usize::MAX,
                bytes: options.queue_bytes,
            }),
            gaps: Mutex::new(Vec::new()),
            unrecorded_frames: AtomicU64::new(0),
            unrecorded_bytes: AtomicU64::new(0),
            stopping: AtomicBool::new(false),
        });
        let mut thread_state = WriterThread {
            writer,
            channels: HashMap::new(),
            path: path.to_owned(),
            size_probe,
            sink: sink.clone(),
            hub: hub.clone(),
            options,
            started: Instant::now(),
            summary: RecordingSummary::default(),
            unflushed: None,
            unflushed_messages: 0,
        };
        thread_state.begin()?;
        thread_state.publish(None);
        let thread = std::thread::Builder::new()
            .name("vizcast-recorder".to_owned())
            .spawn(move || thread_state.run())
            .map_err(|e| RecordError::io(path, e))?;
        let sink_handle: Arc<dyn FrameSink> = sink.clone();
        hub.add_sink(sink_handle.clone());
        tracing::info!(file = %path.display(), "recording");
        Ok(Self {
            hub,
            sink,
            sink_handle,
            thread: Some(thread),
            path: path.to_owned(),
        })
    }

    /// Frames that could not be recorded so far.
    pub fn unrecorded_frames(&self) -> u64 {
        self.sink.unrecorded_frames.load(Ordering::Relaxed)
    }

    /// Stops recording: writes what is queued, the summary and the index, and closes the file.
    pub fn finish(mut self) -> Result<RecordingSummary, RecordError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<RecordingSummary, RecordError> {
        // Once removed, the hub offers nothing more (offers happen under the lock removal takes).
        self.hub.remove_sink(&self.sink_handle);
        // The writer writes what is queued, then sees the queue closed and finishes (a writer
        // that failed sees `stopping`).
        self.sink.stopping.store(true, Ordering::Relaxed);
        self.sink.queue.close();
        match self.thread.take() {
            Some(thread) => {
                thread.thread().unpark();
                thread.join().unwrap_or_else(|_| {
                    Err(RecordError::format(
                        &self.path,
                        "the recorder thread panicked",
                    ))
                })
            }
            None => Ok(RecordingSummary::default()),
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if self.thread.is_some()
            && let Err(err) = self.stop()
        {
            tracing::error!("recording: {err}");
        }
    }
}

/// The writer thread's state.
struct WriterThread {
    writer: mcap::Writer<BufWriter<File>>,
    channels: HashMap<Box<str>, u16>,
    path: PathBuf,
    size_probe: File,
    sink: Arc<Sink>,
    hub: Arc<Hub>,
    options: RecorderOptions,
    started: Instant,
    summary: RecordingSummary,
    /// The frames written since the file was last flushed: a failure loses them with the chunk
    /// they are in, so they are counted as not recorded then.
    unflushed: Option<Gap>,
    /// The messages of those frames.
    unflushed_messages: u64,
}

impl WriterThread {
    fn begin(&mut self) -> Result<(), RecordError> {
        let path = self.path.clone();
        let mcap_err = |e| RecordError::mcap(&path, e);
        let mut metadata = BTreeMap::from([
            ("version".to_owned(), env!("CARGO_PKG_VERSION").to_owned()),
            ("session".to_owned(), self.hub.session().to_owned()),
            ("started".to_owned(), format!("{:.6}", unix_now())),
            // The messages' contract, named rather than stored as a channel schema (above).
            ("message_schema".to_owned(), MESSAGE_SCHEMA_ID.to_owned()),
        ]);
        // Where the frames come from besides producers (a remote view, a NATS edge), as their
        // `/api/stats` parts say at the start.
        for (name, value) in self.hub.stats().extra {
            metadata.insert(format!("source.{name}"), value.to_string());
        }
        self.writer
            .write_metadata(&Metadata {
                name: "vizcast".to_owned(),
                metadata,
            })
            .map_err(mcap_err)?;
        Ok(())
    }

    fn run(mut self) -> Result<RecordingSummary, RecordError> {
        if let Err(err) = self.write_all() {
            // Loud, and nothing is silently lost: the frames of the chunk the failure cut, and
            // everything still queued or offered later, are counted as not recorded.
            let queue = &self.sink.queue;
            queue.close();
            tracing::error!(
                "recording stopped: {err}; the file holds what was flushed before (replay it, or run `vizcast recover` on it); every frame from here on is counted as not recorded"
            );
            let mut rest = Vec::new();
            while let Taken::Items(_) =
                queue.take(&mut rest, TAKE_FRAMES, TAKE_BYTES, Duration::ZERO)
            {
                for frame in rest.drain(..) {
                    self.sink.not_recorded(&frame);
                }
            }
            // Until the recording is stopped, the hub still offers frames (each refused by the
            // closed queue and counted): keep the status true to the count.
            let error = err.to_string();
            let mut told = u64::MAX;
            while !self.sink.stopping.load(Ordering::Relaxed) {
                let count = self.sink.unrecorded_frames.load(Ordering::Relaxed);
                if count != told {
                    self.publish(Some(error.clone()));
                    told = count;
                }
                std::thread::park_timeout(STATUS_AFTER_FAILURE);
            }
            self.summary.unrecorded_frames = self.sink.unrecorded_frames.load(Ordering::Relaxed);
            self.summary.unrecorded_bytes = self.sink.unrecorded_bytes.load(Ordering::Relaxed);
            return Err(err);
        }
        let path = self.path.clone();
        let ended = self
            .write_gaps()
            .and_then(|()| self.write_sources())
            .and_then(|()| {
                self.writer
                    .finish()
                    .map_err(|e| RecordError::mcap(&path, e))
            });
        if let Err(err) = ended {
            // The last chunk never reached the disk.
            self.lost_unflushed();
            self.summary.unrecorded_frames = self.sink.unrecorded_frames.load(Ordering::Relaxed);
            self.summary.unrecorded_bytes = self.sink.unrecorded_bytes.load(Ordering::Relaxed);
            tracing::error!("recording: could not finish the file: {err}");
            self.publish(Some(err.to_string()));
            return Err(err);
        }
        let mut file = self.writer.into_inner();
        file.flush().map_err(|e| RecordError::io(&self.path, e))?;
        self.size_probe.sync_all().ok();
        self.summary.bytes = self.size_probe.metadata().map_or(0, |m| m.len());
        self.summary.unrecorded_frames = self.sink.unrecorded_frames.load(Ordering::Relaxed);
        self.summary.unrecorded_bytes = self.sink.unrecorded_bytes.load(Ordering::Relaxed);
        self.hub.set_recording_status(None);
        tracing::info!(
            file = %self.path.display(),
            messages = self.summary.messages,
            size = %human_bytes(self.summary.bytes),
            not_recorded = self.summary.unrecorded_frames,
            "recording finished"
        );
        Ok(self.summary.clone())
    }

    fn write_all(&mut self) -> Result<(), RecordError> {
        let mut next_flush = Instant::now() + self.options.flush_interval;
        let mut next_status = Instant::now();
        let mut dirty = false;
        let mut batch = Vec::with_capacity(TAKE_FRAMES);
        loop {
            let wait = next_flush.saturating_duration_since(Instant::now());
            match self
                .sink
                .queue
                .take(&mut batch, TAKE_FRAMES, TAKE_BYTES, wait)
            {
                Taken::Items(_) => {
                    let mut frames = batch.drain(..);
                    while let Some(frame) = frames.next() {
                        if let Err(err) = self.write_frame(&frame) {
                            // The frames since the last flush went down with their chunk;
                            // this frame and the rest of the batch are not in the file either.
                            self.lost_unflushed();
                            for frame in std::iter::once(frame).chain(frames) {
                                self.sink.not_recorded(&frame);
                            }
                            return Err(err);
                        }
                        Gap::extend(&mut self.unflushed, &frame);
                        self.unflushed_messages += frame.messages.len() as u64;
                    }
                    dirty = true;
                }
                Taken::Idle => {}
                // Stopped, and everything queued before is written.
                Taken::Closed => return Ok(()),
            }
            let now = Instant::now();
            if now >= next_flush {
                if dirty {
                    if let Err(err) = self.writer.flush() {
                        self.lost_unflushed();
                        return Err(RecordError::mcap(&self.path, err));
                    }
                    self.unflushed = None;
                    self.unflushed_messages = 0;
                    dirty = false;
                }
                self.write_gaps()?;
                next_flush = now + self.options.flush_interval;
            }
            if now >= next_status {
                self.publish(None);
                next_status = now + Duration::from_secs(1);
            }
        }
    }

    /// The frames written since the last flush are not in the file after all (their chunk was
    /// never completed on the disk): they are not recorded, and no longer count as written.
    fn lost_unflushed(&mut self) {
        if let Some(run) = self.unflushed.take() {
            self.summary.frames = self.summary.frames.saturating_sub(run.frames);
            self.summary.messages = self
                .summary
                .messages
                .saturating_sub(std::mem::take(&mut self.unflushed_messages));
            self.sink.not_recorded_run(run);
        }
    }

    fn write_frame(&mut self, frame: &Accepted) -> Result<(), RecordError> {
        let log_time = nanos(frame.received);
        let bytes = frame.text.as_bytes();
        for message in &frame.messages {
            let channel = match self.channels.get(&*message.stream) {
                Some(&id) => id,
                None => {
                    let kind = message
                        .shape
                        .as_ref()
                        .map_or("scalar", |s| s.kind().as_str());
                    let metadata = BTreeMap::from([("vizcast.kind".to_owned(), kind.to_owned())]);
                    // Schema id 0: no schema (see the module docs).
                    let id = self
                        .writer
                        .add_channel(0, &message.stream, "json", &metadata)
                        .map_err(|e| RecordError::mcap(&self.path, e))?;
                    self.channels.insert(message.stream.clone(), id);
                    id
                }
            };
            let publish_time = match &message.time {
                Time::At(t) => nanos(*t),
                Time::Columns(ts) => ts.first().map_or(0, |t| nanos(*t)),
                Time::Receive => 0,
            };
            let header = MessageHeader {
                channel_id: channel,
                sequence: frame.seq as u32,
                log_time,
                publish_time: if publish_time == 0 {
                    log_time
                } else {
                    publish_time
                },
            };
            self.writer
                .write_to_known_channel(&header, &bytes[message.span.clone()])
                .map_err(|e| RecordError::mcap(&self.path, e))?;
            self.summary.messages += 1;
        }
        self.summary.frames += 1;
        Ok(())
    }

    /// Writes what the hub's other sources (a remote view, a NATS edge) say at the end, as a
    /// `vizcast.sources` metadata record: e.g. the frames a remote skipped for this view, which
    /// are not in the file.
    fn write_sources(&mut self) -> Result<(), RecordError> {
        let extra = self.hub.stats().extra;
        if extra.is_empty() {
            return Ok(());
        }
        let metadata = extra
            .into_iter()
            .map(|(name, value)| (name, value.to_string()))
            .collect();
        self.writer
            .write_metadata(&Metadata {
                name: "vizcast.sources".to_owned(),
                metadata,
            })
            .map_err(|e| RecordError::mcap(&self.path, e))
    }

    /// Writes the ranges of frames that could not be recorded into the file, and says so.
    fn write_gaps(&mut self) -> Result<(), RecordError> {
        let gaps = std::mem::take(&mut *self.sink.gaps.lock());
        for gap in gaps {
            tracing::warn!(
                first_frame = gap.first_seq,
                last_frame = gap.last_seq,
                frames = gap.frames,
                bytes = gap.bytes,
                "NOT RECORDED: the disk could not keep up (--record-buffer is full); these frames are missing from {}",
                self.path.display()
            );
            let metadata = BTreeMap::from([
                ("first_frame".to_owned(), gap.first_seq.to_string()),
                ("last_frame".to_owned(), gap.last_seq.to_string()),
                ("frames".to_owned(), gap.frames.to_string()),
                ("bytes".to_owned(), gap.bytes.to_string()),
                ("from".to_owned(), format!("{:.6}", gap.first_time)),
                ("to".to_owned(), format!("{:.6}", gap.last_time)),
                (
                    "reason".to_owned(),
                    "the disk could not keep up: the recorder's queue was full".to_owned(),
                ),
            ]);
            self.writer
                .write_metadata(&Metadata {
                    name: "vizcast.gap".to_owned(),
                    metadata,
                })
                .map_err(|e| RecordError::mcap(&self.path, e))?;
        }
        Ok(())
    }

    fn publish(&self, error: Option<String>) {
        self.hub.set_recording_status(Some(RecordingStatus {
            file: self.path.display().to_string(),
            bytes: self.size_probe.metadata().map_or(0, |m| m.len()),
            messages: self.summary.messages,
            seconds: self.started.elapsed().as_secs_f64(),
            unrecorded_frames: self.sink.unrecorded_frames.load(Ordering::Relaxed),
            unrecorded_bytes: self.sink.unrecorded_bytes.load(Ordering::Relaxed),
            error,
        }));
    }
}

#[cfg(test)]
mod tests {
    use vizcast_hub::Utf8Bytes;
    use vizcast_protocol::{Limits, parse_frame};

    use super::*;

    #[test]
    fn the_queue_bound_counts_parsed_frames_not_only_their_text() {
        let points: Vec<String> = (0..1000).map(|i| format!("[{i},0,0]")).collect();
        let text = format!(r#"{{"stream":"lidar","points":[{}]}}"#, points.join(","));
        let messages = parse_frame(&text, &Limits::default()).unwrap();
        let text_bytes = text.len();
        // Room for ten frames' text; no consumer, so nothing leaves the queue.
        let sink = Sink {
            queue: FrameQueue::new(QueueBounds {
                frames: usize::MAX,
                bytes: 10 * text_bytes,
            }),
            gaps: Mutex::new(Vec::new()),
            unrecorded_frames: AtomicU64::new(0),
            unrecorded_bytes: AtomicU64::new(0),
            stopping: AtomicBool::new(false),
        };
        for seq in 1..=10 {
            let frame = Accepted::new(seq, 0.0, Utf8Bytes::from(text.as_str()), messages.clone());
            sink.offer(&Arc::new(frame));
        }
        let queued = sink.queue.len() as u64;
        assert!(
            (1..10).contains(&queued),
            "ten frames' text fits, their parsed points do not: {queued} queued"
        );
        assert!(sink.queue.bytes() <= 10 * text_bytes);
        // The rest is reported, as one run of frames.
        assert_eq!(sink.unrecorded_frames.load(Ordering::Relaxed), 10 - queued);
        let gaps = sink.gaps.lock();
        assert_eq!(gaps.len(), 1);
        assert_eq!((gaps[0].first_seq, gaps[0].last_seq), (queued + 1, 10));
    }
}
