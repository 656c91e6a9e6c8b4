//! Reading recordings: MCAP (indexed, or cut short and read linearly) and JSON lines.
//!
//! A recording yields **frames** in log-time order: the messages the hub accepted as one frame
//! (they share an MCAP sequence number and log time) are regrouped, a single message as it was
//! sent, several as a batch `[m1,m2,…]` of their exact bytes.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufRead as _, BufReader, Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};

use mcap::records::{MessageHeader, Record};
use mcap::sans_io::indexed_reader::{IndexedReadEvent, IndexedReader, IndexedReaderOptions};
use mcap::sans_io::linear_reader::{LinearReadEvent, LinearReader};
use mcap::sans_io::summary_reader::{SummaryReadEvent, SummaryReader};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::{RecordError, nanos};

/// The magic bytes an MCAP file starts with.
const MCAP_MAGIC: &[u8] = b"\x89MCAP0\r\n";

/// One frame to replay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayFrame {
    /// When the hub received it, nanoseconds since the Unix epoch.
    pub log_time: u64,
    /// The frame.
    pub text: String,
}

/// What a recording holds.
#[derive(Clone, Debug, Default)]
pub struct RecordingInfo {
    /// Log time of the first message, ns.
    pub start: u64,
    /// Log time of the last message, ns.
    pub end: u64,
    /// Number of messages.
    pub messages: u64,
    /// The streams (MCAP topics), sorted.
    pub streams: Vec<String>,
    /// Whether the file has an index (seeking uses it).
    pub indexed: bool,
    /// What is wrong with the file, when something is (it was cut short...).
    pub problem: Option<String>,
    /// Ranges of frames the recorder could not write (`vizcast.gap` records), as text.
    pub gaps: Vec<String>,
}

impl RecordingInfo {
    /// Length in seconds.
    pub fn duration(&self) -> f64 {
        self.end.saturating_sub(self.start) as f64 / 1e9
    }
}

enum Format {
    /// MCAP with a summary (indexed).
    Indexed(Box<mcap::Summary>),
    /// MCAP without one (cut short): read from the start.
    Linear,
    /// JSON lines.
    Jsonl,
}

/// An open recording.
pub struct Recording {
    path: PathBuf,
    format: Format,
    info: RecordingInfo,
}

impl std::fmt::Debug for Recording {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recording")
            .field("path", &self.path)
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

type Messages<'a> = Box<dyn Iterator<Item = Result<(MessageHeader, Vec<u8>), RecordError>> + 'a>;

impl Recording {
    /// Opens an MCAP or JSON-lines recording, with a clear error when it is neither.
    pub fn open(path: &Path) -> Result<Self, RecordError> {
        let mut file = File::open(path).map_err(|e| RecordError::io(path, e))?;
        let mut head = [0u8; 8];
        let read = read_up_to(&mut file, &mut head).map_err(|e| RecordError::io(path, e))?;
        if read == 8 && head == *MCAP_MAGIC {
            return Self::open_mcap(path, file);
        }
        if MCAP_MAGIC.starts_with(&head[..read]) && read > 0 {
            return Err(RecordError::format(
                path,
                "the MCAP header is cut short: this file holds no data",
            ));
        }
        let first = head[..read].iter().find(|b| !b.is_ascii_whitespace());
        if matches!(first, Some(b'{' | b'[')) {
            let mut recording = Self {
                path: path.to_owned(),
                format: Format::Jsonl,
                info: RecordingInfo::default(),
            };
            recording.info = recording.scan()?;
            return Ok(recording);
        }
        Err(RecordError::format(
            path,
            "not a recording: expected an MCAP file or JSON lines (one frame per line)",
        ))
    }

    fn open_mcap(path: &Path, mut file: File) -> Result<Self, RecordError> {
        file.seek(SeekFrom::Start(0))
            .map_err(|e| RecordError::io(path, e))?;
        match read_summary(&mut file) {
            Ok(Some(summary))
                if !summary.chunk_indexes.is_empty()
                    || summary.stats.as_ref().is_some_and(|s| s.message_count == 0) =>
            {
                let mut streams: Vec<String> =
                    summary.channels.values().map(|c| c.topic.clone()).collect();
                streams.sort();
                let stats = summary.stats.clone().unwrap_or_default();
                let mut info = RecordingInfo {
                    start: stats.message_start_time,
                    end: stats.message_end_time,
                    messages: stats.message_count,
                    streams,
                    indexed: true,
                    problem: None,
                    gaps: Vec::new(),
                };
                let mut recording = Self {
                    path: path.to_owned(),
                    format: Format::Indexed(Box::new(summary)),
                    info: RecordingInfo::default(),
                };
                if !recording.metadata_gaps()?.is_empty() {
                    info.gaps = recording.metadata_gaps()?;
                }
                recording.info = info;
                Ok(recording)
            }
            _ => {
                let mut recording = Self {
                    path: path.to_owned(),
                    format: Format::Linear,
                    info: RecordingInfo::default(),
                };
                recording.info = recording.scan()?;
                Ok(recording)
            }
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the recording holds.
    pub fn info(&self) -> &RecordingInfo {
        &self.info
    }

    /// Reads the whole file once to learn its extent (files without an index, JSON lines).
    fn scan(&self) -> Result<RecordingInfo, RecordError> {
        let mut info = RecordingInfo {
            start: u64::MAX,
            ..RecordingInfo::default()
        };
        let mut streams = BTreeSet::new();
        match self.format {
            Format::Jsonl => {
                for frame in jsonl_frames(&self.path)? {
                    match frame {
                        Ok(frame) => {
                            info.start = info.start.min(frame.log_time);
                            info.end = info.end.max(frame.log_time);
                            info.messages += 1;
                        }
                        Err(err) => {
                            info.problem = Some(err.to_string());
                            break;
                        }
                    }
                }
            }
            _ => {
                let mut reader = LinearMessages::open(&self.path)?;
                for message in &mut reader {
                    match message {
                        Ok((header, _)) => {
                            info.start = info.start.min(header.log_time);
                            info.end = info.end.max(header.log_time);
                            info.messages += 1;
                        }
                        Err(err) => {
                            info.problem = Some(format!(
                                "{err}: the file was cut short (a crash?); {} messages before that can be replayed. `vizcast recover` rewrites it with an index",
                                info.messages
                            ));
                            break;
                        }
                    }
                }
                streams.extend(reader.topics.into_iter().map(|(_, topic)| topic));
                if info.problem.is_none() {
                    info.problem = Some("the file has no index (it was not closed properly): seeking reads it from the start; `vizcast recover` adds one".to_owned());
                }
            }
        }
        if info.start == u64::MAX {
            info.start = 0;
        }
        info.streams = streams.into_iter().collect();
        Ok(info)
    }

    /// The `vizcast.gap` records of an indexed file, as text.
    fn metadata_gaps(&self) -> Result<Vec<String>, RecordError> {
        let Format::Indexed(summary) = &self.format else {
            return Ok(Vec::new());
        };
        let mut file = File::open(&self.path).map_err(|e| RecordError::io(&self.path, e))?;
        let mut gaps = Vec::new();
        for index in summary
            .metadata_indexes
            .iter()
            .filter(|m| m.name == "vizcast.gap")
        {
            let mut buf = vec![0u8; usize::try_from(index.length).unwrap_or(0)];
            file.seek(SeekFrom::Start(index.offset))
                .map_err(|e| RecordError::io(&self.path, e))?;
            file.read_exact(&mut buf)
                .map_err(|e| RecordError::io(&self.path, e))?;
            // The index points at the record: opcode (1 byte) and length (8 bytes) first.
            if let Some(body) = buf.get(9..)
                && let Ok(Record::Metadata(m)) =
                    mcap::parse_record(mcap::records::op::METADATA, body)
            {
                let get = |k: &str| m.metadata.get(k).cloned().unwrap_or_default();
                gaps.push(format!(
                    "frames {} to {} ({} frames, {} bytes) were not recorded: {}",
                    get("first_frame"),
                    get("last_frame"),
                    get("frames"),
                    get("bytes"),
                    get("reason")
                ));
            }
        }
        Ok(gaps)
    }

    /// The frames with log time at or after `from` (ns), in order.
    pub fn frames_from(
        &self,
        from: u64,
    ) -> Result<Box<dyn Iterator<Item = Result<ReplayFrame, RecordError>> + '_>, RecordError> {
        let messages: Messages<'_> = match &self.format {
            Format::Indexed(summary) => Box::new(IndexedMessages::open(
                &self.path,
                summary,
                IndexedReaderOptions::new().starting_at(from),
            )?),
            Format::Linear => Box::new(
                LinearMessages::open(&self.path)?
                    .filter(move |m| m.as_ref().map_or(true, |(h, _)| h.log_time >= from)),
            ),
            Format::Jsonl => {
                return Ok(Box::new(
                    jsonl_frames(&self.path)?
                        .filter(move |f| f.as_ref().map_or(true, |f| f.log_time >= from)),
                ));
            }
        };
        Ok(Box::new(Frames {
            messages,
            pending: None,
            path: self.path.clone(),
        }))
    }

    /// The frames that restore the state at `at` (ns), in order, for a seek: the latest message of
    /// every stream before `at`, and recent history before `at`, read from at most `budget` bytes
    /// of chunks besides one chunk per stream. Files without an index are read from the start.
    pub fn state_before(&self, at: u64, budget: u64) -> Result<Vec<ReplayFrame>, RecordError> {
        let Format::Indexed(summary) = &self.format else {
            let mut out = Vec::new();
            for frame in self.frames_from(0)? {
                let frame = frame?;
                if frame.log_time >= at {
                    break;
                }
                out.push(frame);
            }
            return Ok(out);
        };
        let mut chunks: Vec<&mcap::records::ChunkIndex> = summary
            .chunk_indexes
            .iter()
            .filter(|c| c.message_start_time < at)
            .collect();
        chunks.sort_by_key(|c| c.message_start_time);
        let mut selected = BTreeSet::new();
        // The latest chunk holding each channel.
        for channel in summary.channels.keys() {
            if let Some(i) = chunks
                .iter()
                .rposition(|c| c.message_index_offsets.contains_key(channel))
            {
                selected.insert(i);
            }
        }
        // Recent history, newest first, within the budget.
        let mut spent = 0;
        for (i, chunk) in chunks.iter().enumerate().rev() {
            if spent > 0 && spent + chunk.compressed_size > budget {
                break;
            }
            spent += chunk.compressed_size;
            selected.insert(i);
        }
        let mut partial = summary.clone();
        partial.chunk_indexes = selected.into_iter().map(|i| chunks[i].clone()).collect();
        let messages = IndexedMessages::open(
            &self.path,
            &partial,
            IndexedReaderOptions::new().ending_before(at),
        )?;
        Frames {
            messages: Box::new(messages),
            pending: None,
            path: self.path.clone(),
        }
        .collect()
    }
}

fn read_up_to(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut read = 0;
    while read < buf.len() {
        let n = file.read(&mut buf[read..])?;
        if n == 0 {
            break;
        }
        read += n;
    }
    Ok(read)
}

fn read_summary(file: &mut File) -> mcap::McapResult<Option<mcap::Summary>> {
    let mut reader = SummaryReader::new();
    while let Some(event) = reader.next_event() {
        match event? {
            SummaryReadEvent::ReadRequest(need) => {
                let written = file.read(reader.insert(need))?;
                reader.notify_read(written);
            }
            SummaryReadEvent::SeekRequest(to) => {
                let position = file.seek(to)?;
                reader.notify_seeked(position);
            }
        }
    }
    Ok(reader.finish())
}

/// Groups consecutive messages of one frame (same sequence and log time).
struct Frames<'a> {
    messages: Messages<'a>,
    pending: Option<(MessageHeader, Vec<u8>)>,
    path: PathBuf,
}

impl Iterator for Frames<'_> {
    type Item = Result<ReplayFrame, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (first, data) = match self.pending.take() {
            Some(p) => p,
            None => match self.messages.next()? {
                Ok(m) => m,
                Err(err) => return Some(Err(err)),
            },
        };
        let mut parts = vec![data];
        loop {
            match self.messages.next() {
                Some(Ok((header, data)))
                    if header.sequence == first.sequence && header.log_time == first.log_time =>
                {
                    parts.push(data);
                }
                Some(Ok(next)) => {
                    self.pending = Some(next);
                    break;
                }
                Some(Err(err)) => {
                    // Replay what came before; the error ends the stream next time.
                    self.messages = Box::new(std::iter::once(Err(err)));
                    break;
                }
                None => break,
            }
        }
        let bytes = if parts.len() == 1 {
            parts.remove(0)
        } else {
            let mut batch =
                Vec::with_capacity(parts.iter().map(Vec::len).sum::<usize>() + parts.len() + 1);
            batch.push(b'[');
            for (i, part) in parts.iter().enumerate() {
                if i > 0 {
                    batch.push(b',');
                }
                batch.extend_from_slice(part);
            }
            batch.push(b']');
            batch
        };
        Some(
            String::from_utf8(bytes)
                .map(|text| ReplayFrame {
                    log_time: first.log_time,
                    text,
                })
                .map_err(|_not_utf8| {
                    RecordError::format(&self.path, "a recorded message is not UTF-8 text")
                }),
        )
    }
}

/// Messages of an indexed MCAP file, in log-time order.
struct IndexedMessages {
    file: File,
    path: PathBuf,
    reader: IndexedReader,
    buf: Vec<u8>,
    done: bool,
}

impl IndexedMessages {
    fn open(
        path: &Path,
        summary: &mcap::Summary,
        options: IndexedReaderOptions,
    ) -> Result<Self, RecordError> {
        let file = File::open(path).map_err(|e| RecordError::io(path, e))?;
        let reader = IndexedReader::new_with_options(summary, options)
            .map_err(|e| RecordError::mcap(path, e))?;
        Ok(Self {
            file,
            path: path.to_owned(),
            reader,
            buf: Vec::new(),
            done: false,
        })
    }

    fn load(&mut self, offset: u64, length: usize) -> Result<(), RecordError> {
        self.file
            .seek(SeekFrom::Start(offset))
            .map_err(|e| RecordError::io(&self.path, e))?;
        self.buf.resize(length, 0);
        self.file
            .read_exact(&mut self.buf)
            .map_err(|e| RecordError::io(&self.path, e))?;
        self.reader
            .insert_chunk_record_data(offset, &self.buf)
            .map_err(|e| RecordError::mcap(&self.path, e))
    }
}

impl Iterator for IndexedMessages {
    type Item = Result<(MessageHeader, Vec<u8>), RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        loop {
            let request = match self.reader.next_event()? {
                Err(err) => {
                    self.done = true;
                    return Some(Err(RecordError::mcap(&self.path, err)));
                }
                Ok(IndexedReadEvent::Message { header, data }) => {
                    return Some(Ok((header, data.to_vec())));
                }
                Ok(IndexedReadEvent::ReadChunkRequest { offset, length }) => (offset, length),
            };
            if let Err(err) = self.load(request.0, request.1) {
                self.done = true;
                return Some(Err(err));
            }
        }
    }
}

/// Messages of an MCAP file read from the start (works on files cut short, up to the cut).
pub(crate) struct LinearMessages {
    file: File,
    path: PathBuf,
    reader: LinearReader,
    done: bool,
    /// Channel id → topic, as channel records are met.
    pub(crate) topics: Vec<(u16, String)>,
    /// Every record met, for `recover` (schemas, channels, metadata) when asked for.
    pub(crate) keep_records: bool,
    pub(crate) records: Vec<Record<'static>>,
}

impl LinearMessages {
    pub(crate) fn open(path: &Path) -> Result<Self, RecordError> {
        let file = File::open(path).map_err(|e| RecordError::io(path, e))?;
        Ok(Self {
            file,
            path: path.to_owned(),
            reader: LinearReader::new(),
            done: false,
            topics: Vec::new(),
            keep_records: false,
            records: Vec::new(),
        })
    }
}

impl Iterator for LinearMessages {
    type Item = Result<(MessageHeader, Vec<u8>), RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        loop {
            let need = match self.reader.next_event() {
                None => return None,
                Some(Err(err)) => {
                    self.done = true;
                    return Some(Err(RecordError::mcap(&self.path, err)));
                }
                Some(Ok(LinearReadEvent::ReadRequest(need))) => need,
                Some(Ok(LinearReadEvent::Record { data, opcode })) => {
                    match mcap::parse_record(opcode, data) {
                        Ok(Record::Message { header, data }) => {
                            return Some(Ok((header, data.into_owned())));
                        }
                        Ok(record) => {
                            if let Record::Channel(channel) = &record {
                                self.topics.push((channel.id, channel.topic.clone()));
                            }
                            if self.keep_records {
                                self.records.push(record.into_owned());
                            }
                            continue;
                        }
                        Err(err) => {
                            self.done = true;
                            return Some(Err(RecordError::mcap(&self.path, err)));
                        }
                    }
                }
            };
            let buffer = self.reader.insert(need);
            match self.file.read(buffer) {
                Ok(n) => self.reader.notify_read(n),
                Err(err) => {
                    self.done = true;
                    return Some(Err(RecordError::io(&self.path, err)));
                }
            }
        }
    }
}

/// A line of an exported JSON-lines recording.
#[derive(Deserialize)]
struct JsonlRecord<'a> {
    vizcast: &'a str,
    log_time: f64,
    #[serde(borrow)]
    frame: &'a RawValue,
}

/// Frames of a JSON-lines file: exported records (`{"vizcast":"record","log_time":…,"frame":…}`) or
/// bare frames (timed by their first message's `t`, or sent right after the previous one).
fn jsonl_frames(
    path: &Path,
) -> Result<impl Iterator<Item = Result<ReplayFrame, RecordError>>, RecordError> {
    let file = File::open(path).map_err(|e| RecordError::io(path, e))?;
    let path = path.to_owned();
    let mut last = 0u64;
    let lines = BufReader::with_capacity(1 << 20, file).lines();
    Ok(lines.filter_map(move |line| {
        let line = match line {
            Ok(line) => line,
            Err(err) => return Some(Err(RecordError::io(&path, err))),
        };
        let trimmed = line.trim();
        if trimmed.is_empty() {
            return None;
        }
        if trimmed.starts_with("{\"vizcast\":") {
            return Some(match serde_json::from_str::<JsonlRecord<'_>>(trimmed) {
                Ok(record) if record.vizcast == "record" => {
                    last = nanos(record.log_time);
                    Ok(ReplayFrame {
                        log_time: last,
                        text: record.frame.get().to_owned(),
                    })
                }
                _ => Err(RecordError::format(
                    &path,
                    format!("not a vizcast record line: {:.120}", trimmed),
                )),
            });
        }
        let t = vizcast_protocol::parse_frame(trimmed, &vizcast_protocol::Limits::default())
            .ok()
            .and_then(|messages| messages.iter().find_map(|m| m.time.last()));
        if let Some(t) = t.filter(|t| *t > 0.0) {
            last = last.max(nanos(t));
        }
        Some(Ok(ReplayFrame {
            log_time: last,
            text: trimmed.to_owned(),
        }))
    }))
}
