//! A mutation fuzzer, on the stable toolchain, for the two parsers that take bytes from the
//! network: `parse_frame` (every frame a producer sends) and [`FrameReader`] (every byte a
//! WebSocket client sends).
//!
//! Each case is a seed from the corpus (`fuzz/parse`, `fuzz/reader`), mutated: bit flips, JSON and
//! WebSocket tokens inserted or replaced, ranges deleted, duplicated, or spliced from another seed,
//! lengths that lie. A case fails when the parser panics, takes more than [`HANG`], or allocates
//! more than its bound (a counting allocator measures the peak live bytes of the case). Feedback
//! instead of coverage: an input whose outcome (the message kinds accepted, or the error's kind and
//! wording with its numbers blanked) is new joins the working corpus. Failing inputs are written
//! to `fuzz/crashers/`, and every file there and in the corpus is replayed by a test in CI.
//!
//! - CI: the corpus, the crashers, and 20,000 mutated cases of each parser with a fixed seed.
//! - Outside CI (`docs/reliability.md` has the figures):
//!   `VIZCAST_FUZZ_CASES=10000000 cargo test --release -p vizcast-hub --lib fuzz::long -- --ignored --nocapture`

#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::HashSet;
use std::future::Future as _;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, ReadBuf};
use vizcast_protocol::{Limits, parse_frame};

use crate::websocket::{FrameReader, Incoming, ReadError};

/// A case that takes longer than this has hung.
const HANG: Duration = Duration::from_secs(1);
/// The largest mutated input.
const MAX_INPUT: usize = 256 * 1024;
/// The largest message the fuzzed reader accepts.
const READER_MAX_MESSAGE: usize = 64 * 1024;
/// The working corpus's bound; beyond it a new input replaces a random one.
const MAX_CORPUS: usize = 4096;

// ---- the counting allocator: peak live bytes of the current thread while armed -------------

struct Counting;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn track(delta: isize) {
    let _ = ARMED.try_with(|armed| {
        if armed.get() {
            let live = LIVE.with(|l| {
                let v = l.get() + delta;
                l.set(v);
                v
            });
            PEAK.with(|p| p.set(p.get().max(live)));
        }
    });
}

// SAFETY: every call is passed to the system allocator unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            track(layout.size() as isize);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            track(layout.size() as isize);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) };
        track(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            track(new_size as isize - layout.size() as isize);
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` and returns its result and the peak bytes it held at once.
fn measured<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LIVE.with(|l| l.set(0));
    PEAK.with(|p| p.set(0));
    ARMED.with(|a| a.set(true));
    let out = f();
    ARMED.with(|a| a.set(false));
    (out, PEAK.with(Cell::get).max(0) as usize)
}

// ---- randomness and mutation --------------------------------------------------------------

/// xorshift64*: fast and reproducible from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

/// Tokens that mean something to the frame parser.
const JSON_TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "\"",
    "\\",
    ":",
    ",",
    "-",
    "0",
    "-0",
    "1e400",
    "-1e400",
    "1e-400",
    "1.7976931348623157e308",
    "NaN",
    "Infinity",
    "null",
    "true",
    "false",
    "\"stream\"",
    "\"t\"",
    "\"value\"",
    "\"values\"",
    "\"points\"",
    "\"colors\"",
    "\"radius\"",
    "\"line\"",
    "\"append\"",
    "\"text\"",
    "\"level\"",
    "\"clear\"",
    "\"image\"",
    "\"jpeg\"",
    "\"png\"",
    "\"shape\"",
    "\"u8\"",
    "\"u16\"",
    "\"f32\"",
    "\"f64\"",
    "\"colormap\"",
    "\"range\"",
    "\"viridis\"",
    "\"vizcast\"",
    "\"AAAA\"",
    "\"////\"",
    "\"=\"",
    "\"/9j/\"",
    "\"iVBORw0KGgo=\"",
    "\\u0000",
    "\\ud800",
    "\\udc00",
    "\\uffff",
    "\u{0}",
    "\u{feff}",
    "é",
    "\u{10ffff}",
    "[[[[[[[[",
    "]]]]]]]]",
    "{\"a\":{\"b\":{\"c\":",
    "1,2,3",
    "[0,0,0]",
    "4294967296",
    "18446744073709551616",
    "9007199254740993",
    "\"robot/arm/joint1\"",
    "\"a//b\"",
    "\"/\"",
    "\"\"",
    " ",
    "\n",
    "\t",
];

/// Bytes that mean something to the frame reader: opcodes with FIN and RSV bits, length forms,
/// a mask bit.
const WS_TOKENS: &[&[u8]] = &[
    &[0x81],
    &[0x01],
    &[0x80],
    &[0x00],
    &[0x82],
    &[0x02],
    &[0x88],
    &[0x89],
    &[0x8a],
    &[0x83],
    &[0x8b],
    &[0xc1],
    &[0xa1],
    &[0x91],
    &[0x7e],
    &[0x7f],
    &[0xfe],
    &[0xff],
    &[0x80, 0x00],
    &[0xfe, 0xff, 0xff],
    &[0xff, 0, 0, 0, 0, 0, 0, 0, 0],
    &[0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
    &[0xff, 0, 0, 0, 0, 0, 1, 0, 0],
    &[0x03, 0xe8],
    &[0x03, 0xed],
    &[0x0b, 0xb8],
    &[0xc3, 0x28],
    &[0xed, 0xa0, 0x80],
    &[0xf4, 0x90, 0x80, 0x80],
    &[0xe2, 0x82],
];

/// One mutation of `input`, using `other` for splices and `tokens` for insertions.
fn mutate(rng: &mut Rng, input: &mut Vec<u8>, other: &[u8], tokens: &[&[u8]]) {
    let len = input.len();
    match rng.below(9) {
        0 if len > 0 => {
            let i = rng.below(len);
            input[i] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let i = rng.below(len);
            input[i] = rng.next() as u8;
        }
        2 => {
            let token = tokens[rng.below(tokens.len())];
            let at = rng.below(len + 1);
            input.splice(at..at, token.iter().copied());
        }
        3 if len > 0 => {
            // Replace a range with a token.
            let token = tokens[rng.below(tokens.len())];
            let at = rng.below(len);
            let end = (at + 1 + rng.below(8)).min(len);
            input.splice(at..end, token.iter().copied());
        }
        4 if len > 1 => {
            let at = rng.below(len);
            let end = (at + 1 + rng.below(len - at)).min(len);
            input.drain(at..end);
        }
        5 if len > 0 => {
            // Duplicate a range, possibly many times (deep nesting, long arrays).
            let at = rng.below(len);
            let end = (at + 1 + rng.below(64)).min(len);
            let piece = input[at..end].to_vec();
            let times = 1 + if rng.chance(8) {
                rng.below(2000)
            } else {
                rng.below(4)
            };
            let insert = rng.below(len + 1);
            let repeated: Vec<u8> = piece
                .iter()
                .copied()
                .cycle()
                .take(piece.len() * times)
                .collect();
            input.splice(insert..insert, repeated);
        }
        6 if !other.is_empty() => {
            // Splice a piece of another seed.
            let at = rng.below(other.len());
            let end = (at + 1 + rng.below(other.len() - at)).min(other.len());
            let insert = rng.below(len + 1);
            input.splice(insert..insert, other[at..end].iter().copied());
        }
        7 if len > 0 => input.truncate(rng.below(len)),
        _ => {
            let insert = rng.below(len + 1);
            let random: Vec<u8> = (0..1 + rng.below(8)).map(|_| rng.next() as u8).collect();
            input.splice(insert..insert, random);
        }
    }
    input.truncate(MAX_INPUT);
}

// ---- the two targets -----------------------------------------------------------------------

/// What happened to one input: its outcome's signature (for feedback), and why it failed.
struct Outcome {
    signature: String,
    failure: Option<String>,
    peak: usize,
    took: Duration,
}

/// The wording of an error without what it quotes of the input: the words after its last
/// `: ` (the path before it holds the input's own keys) that are plain words and do not occur in
/// `input`, at most eight.
fn wording(message: &str, input: &str) -> String {
    let message = message.rsplit_once(": ").map_or(message, |(_, rest)| rest);
    message
        .split_whitespace()
        .filter(|w| {
            w.len() <= 12
                && w.chars()
                    .all(|c| c.is_ascii_lowercase() || "`,():".contains(c))
                && !input.contains(w.trim_matches(|c: char| !c.is_ascii_lowercase()))
        })
        .take(8)
        .collect::<Vec<_>>()
        .join(" ")
}

fn limits() -> Limits {
    Limits::default()
}

/// Parses `input` as a frame (its UTF-8 part: the hub checks UTF-8 before it parses).
fn run_parse(input: &[u8], limits: &Limits) -> Outcome {
    let text = String::from_utf8_lossy(input);
    let started = Instant::now();
    let (result, peak) = measured(|| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| parse_frame(&text, limits)))
    });
    let took = started.elapsed();
    // The bound: what the frame can decode to (numbers become f32 or f64, names are bounded by
    // the limits), with room for vectors that double as they grow.
    let bound = 32 * text.len() + (1 << 20);
    let (signature, mut failure) = match result {
        Err(panic) => (
            "panic".to_owned(),
            Some(format!("panicked: {}", panic_text(&panic))),
        ),
        Ok(Ok(messages)) => (format!("ok {}", messages.len().min(4)), None),
        Ok(Err(err)) => (
            format!("{:?} {}", err.kind, wording(&err.message, &text)),
            None,
        ),
    };
    if failure.is_none() && took > HANG {
        failure = Some(format!("took {took:?} for {} bytes", text.len()));
    }
    if failure.is_none() && peak > bound {
        failure = Some(format!(
            "held {peak} bytes at once for a {}-byte frame (bound {bound})",
            text.len()
        ));
    }
    Outcome {
        signature,
        failure,
        peak,
        took,
    }
}

/// A reader over bytes that are all there, handing them out in pieces of the given sizes.
struct Pieces<'a> {
    data: &'a [u8],
    at: usize,
    sizes: &'a [usize],
    next: usize,
}

impl AsyncRead for Pieces<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let size = if self.sizes.is_empty() {
            usize::MAX
        } else {
            self.sizes[self.next % self.sizes.len()]
        };
        self.next += 1;
        let n = size.min(self.data.len() - self.at).min(buf.remaining());
        let at = self.at;
        buf.put_slice(&self.data[at..at + n]);
        self.at += n;
        Poll::Ready(Ok(()))
    }
}

/// Reads `input` as a client's byte stream, in pieces of `sizes`, until it ends or fails.
fn run_reader(input: &[u8], sizes: &[usize]) -> Outcome {
    let started = Instant::now();
    let (result, peak) = measured(|| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let pieces = Pieces {
                data: input,
                at: 0,
                sizes,
                next: 0,
            };
            let mut reader = FrameReader::new(pieces, READER_MAX_MESSAGE).with_chunk(4096);
            let mut signature = String::new();
            let mut cx = Context::from_waker(Waker::noop());
            // Every frame needs at least two bytes: more messages than that is a loop.
            for _ in 0..=input.len() / 2 + 1 {
                let mut next = std::pin::pin!(reader.next());
                let Poll::Ready(result) = next.as_mut().poll(&mut cx) else {
                    return Err("waited on bytes that were all there".to_owned());
                };
                match result {
                    Ok(Some(Incoming::Text(text))) => {
                        // What the reader hands on is UTF-8 and within the limit.
                        if std::str::from_utf8(text.as_bytes()).is_err() {
                            return Err("a text message that is not UTF-8".to_owned());
                        }
                        if text.len() > READER_MAX_MESSAGE {
                            return Err(format!(
                                "a message of {} bytes, over the limit",
                                text.len()
                            ));
                        }
                        signature.push('T');
                    }
                    Ok(Some(Incoming::Binary)) => signature.push('B'),
                    Ok(Some(Incoming::Ping(payload))) => {
                        if payload.len() > 125 {
                            return Err("a ping payload over 125 bytes".to_owned());
                        }
                        signature.push('P');
                    }
                    Ok(Some(Incoming::Pong)) => signature.push('p'),
                    Ok(Some(Incoming::Close)) => {
                        signature.push('C');
                        return Ok(signature);
                    }
                    Ok(None) => {
                        signature.push('.');
                        return Ok(signature);
                    }
                    Err(err) => {
                        let kind = match &err {
                            ReadError::Io(_) => "io".to_owned(),
                            ReadError::Protocol(why) => format!("protocol {why}"),
                            ReadError::TooBig { .. } => "too big".to_owned(),
                            ReadError::NotUtf8 => "not utf-8".to_owned(),
                        };
                        signature.push_str(&format!(" {kind}"));
                        return Ok(signature);
                    }
                }
                // The kinds seen, not their sequence: a signature per kind of stream, not per
                // input.
                let mut kinds: Vec<char> = signature.chars().collect();
                kinds.sort_unstable();
                kinds.dedup();
                signature = kinds.into_iter().collect();
            }
            Err("more messages than its bytes can hold".to_owned())
        }))
    });
    let took = started.elapsed();
    let bound = 2 * READER_MAX_MESSAGE + input.len() + (1 << 20);
    let (signature, mut failure) = match result {
        Err(panic) => (
            "panic".to_owned(),
            Some(format!("panicked: {}", panic_text(&panic))),
        ),
        Ok(Ok(signature)) => (signature, None),
        Ok(Err(why)) => ("wrong".to_owned(), Some(why)),
    };
    if failure.is_none() && took > HANG {
        failure = Some(format!("took {took:?} for {} bytes", input.len()));
    }
    if failure.is_none() && peak > bound {
        failure = Some(format!(
            "held {peak} bytes at once for {} input bytes (bound {bound})",
            input.len()
        ));
    }
    Outcome {
        signature,
        failure,
        peak,
        took,
    }
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

// ---- corpus, seeds, and the campaign -------------------------------------------------------

fn dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(name)
}

fn read_dir(path: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(path) else {
        return Vec::new();
    };
    let mut files: Vec<(PathBuf, Vec<u8>)> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    files.sort();
    files
}

/// A client frame: FIN, opcode, masked payload.
fn ws_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    crate::websocket::tests::client_frame(u8::from(fin) << 7 | opcode, payload)
}

/// Client byte streams to start from: every opcode, fragments, each length form, a close.
fn reader_seeds() -> Vec<Vec<u8>> {
    let text = br#"{"stream":"a","value":1}"#;
    let long = vec![b'x'; 300];
    let huge_declared = {
        let mut f = vec![0x81, 0x80 | 127];
        f.extend_from_slice(&(1u64 << 40).to_be_bytes());
        f.extend_from_slice(&[1, 2, 3, 4]);
        f
    };
    let mut close = vec![0x03, 0xe8];
    close.extend_from_slice(b"bye");
    vec![
        ws_frame(true, 1, text),
        [ws_frame(true, 1, text), ws_frame(true, 1, "é✓".as_bytes())].concat(),
        [
            ws_frame(false, 1, b"{\"stream\":"),
            ws_frame(true, 0, b"\"a\",\"value\":2}"),
        ]
        .concat(),
        [
            ws_frame(false, 1, b"ab"),
            ws_frame(true, 9, b"ping"),
            ws_frame(true, 0, b"cd"),
        ]
        .concat(),
        ws_frame(true, 2, &[0, 1, 2, 3]),
        ws_frame(true, 9, b"are you there"),
        ws_frame(true, 10, b""),
        ws_frame(true, 1, &long),
        ws_frame(true, 1, &vec![b'y'; 70_000]),
        ws_frame(true, 8, &close),
        huge_declared,
        [ws_frame(true, 1, text), ws_frame(true, 8, &[0x03, 0xe8])].concat(),
    ]
}

/// Frames to start from when there is no corpus on disk: one of every kind.
fn parse_seeds() -> Vec<Vec<u8>> {
    let frames = [
        r#"{"stream": "robot/arm/joint1", "t": 1732406400.125, "value": 0.53}"#,
        r#"{"stream":"imu","values":{"ax":0.1,"ay":-9.8,"az":0.02}}"#,
        r#"{"stream": "signal", "t": [0.0, 0.001, 0.002], "value": [1.0, 1.2, 0.9]}"#,
        r##"{"stream": "lidar", "points": [[0.1, 2.0, 0.5], [0.2, 2.1, 0.4]], "colors": [[1, 0, 0], "#00ff00"], "radius": 0.02}"##,
        r#"{"stream":"lidar/compact","points":{"f32":"AADgwAAA2MAAANDA"}}"#,
        r#"{"stream": "path", "line": [[0, 0, 0], [1, 0, 0], [1, 1, 0]]}"#,
        r#"{"stream": "path", "line": [[1, 1, 1]], "append": true}"#,
        r#"{"stream": "events", "text": "calibration done \u00e9\u2603 \"quoted\" ✓", "level": "info"}"#,
        "  \n{\"stream\":\"spacey\",\n \"value\" : 1e-3 }\n ",
        r#"[{"stream":"batch/a","value":1},{"stream":"batch/b","text":"two"},{"stream":"batch/c","points":[]}]"#,
        r#"{"stream":"robot","battery":{"volts":12.1,"cells":[3.1,3.0]},"ok":true,"name":"r2"}"#,
        r#"{"stream": "events", "clear": true}"#,
        r#"{"stream":"cam","image":{"shape":[2,2],"u8":"AAEC/w=="}}"#,
        r#"{"stream":"depth","image":{"shape":[1,2],"f32":"AACAPwAAAEA=","colormap":"turbo","range":[0,2]}}"#,
        r#"{"stream":"rgb","image":{"shape":[1,1,3],"u8":"/wAA"}}"#,
        r#"{"stream":"cam/jpeg","image":{"jpeg":"/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0aHBwgJC4nICIsIxwcKDcpLDAxNDQ0Hyc5PTgyPC4zNDL/wAALCAABAAEBAREA/8QAFAABAAAAAAAAAAAAAAAAAAAACf/EABQQAQAAAAAAAAAAAAAAAAAAAAD/2gAIAQEAAD8AKp//2Q=="}}"#,
        r#"{"stream":"cam/png","image":{"png":"iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="}}"#,
        r#"{"stream":"signal","t":{"f64":"AAAAAAAA8D8="},"value":{"f32":"AACAPw=="}}"#,
    ];
    frames.iter().map(|f| f.as_bytes().to_vec()).collect()
}

/// What a campaign found.
#[derive(Default)]
struct Report {
    cases: u64,
    failures: Vec<(String, Vec<u8>)>,
    signatures: usize,
    slowest: Duration,
    peak: usize,
    new_inputs: Vec<Vec<u8>>,
}

/// Mutates and runs `cases` inputs from `seeds`; `run` is the target.
fn campaign(
    seeds: Vec<Vec<u8>>,
    tokens: &[&[u8]],
    cases: u64,
    seed: u64,
    run: &dyn Fn(&[u8], &mut Rng) -> Outcome,
) -> Report {
    let mut rng = Rng(seed | 1);
    let mut corpus = seeds;
    let mut seen: HashSet<String> = HashSet::new();
    let mut report = Report::default();
    for input in &corpus {
        seen.insert(run(input, &mut rng).signature);
    }
    for _ in 0..cases {
        let mut input = corpus[rng.below(corpus.len())].clone();
        let other = corpus[rng.below(corpus.len())].clone();
        for _ in 0..1 + rng.below(4) {
            mutate(&mut rng, &mut input, &other, tokens);
        }
        let outcome = run(&input, &mut rng);
        report.cases += 1;
        report.slowest = report.slowest.max(outcome.took);
        report.peak = report.peak.max(outcome.peak);
        if let Some(why) = outcome.failure {
            if report.failures.len() < 32 {
                report.failures.push((why, input));
            }
            continue;
        }
        if seen.insert(outcome.signature) {
            report.new_inputs.push(input.clone());
            if corpus.len() < MAX_CORPUS {
                corpus.push(input);
            } else {
                let i = rng.below(corpus.len());
                corpus[i] = input;
            }
        }
    }
    report.signatures = seen.len();
    report
}

fn parse_target(limits: &Limits) -> impl Fn(&[u8], &mut Rng) -> Outcome + '_ {
    move |input, _| run_parse(input, limits)
}

fn reader_target(input: &[u8], rng: &mut Rng) -> Outcome {
    // Some cases arrive whole, others a few bytes at a time, as a socket may hand them over.
    let sizes: Vec<usize> = if rng.chance(2) {
        Vec::new()
    } else {
        (0..1 + rng.below(4)).map(|_| 1 + rng.below(300)).collect()
    };
    run_reader(input, &sizes)
}

fn parse_corpus() -> Vec<Vec<u8>> {
    let mut seeds = parse_seeds();
    seeds.extend(read_dir(&dir("parse")).into_iter().map(|(_, b)| b));
    seeds
}

fn reader_corpus() -> Vec<Vec<u8>> {
    let mut seeds = reader_seeds();
    seeds.extend(read_dir(&dir("reader")).into_iter().map(|(_, b)| b));
    seeds
}

/// Writes failing inputs to `fuzz/crashers/` (named by target and a hash) and says why.
fn save_failures(target: &str, report: &Report) -> Vec<String> {
    let crashers = dir("crashers");
    let _ = std::fs::create_dir_all(&crashers);
    report
        .failures
        .iter()
        .map(|(why, input)| {
            let hash = input.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
            });
            let path = crashers.join(format!("{target}-{hash:016x}"));
            let _ = std::fs::write(&path, input);
            format!("{target}: {why} (saved as {})", path.display())
        })
        .collect()
}

fn json_tokens() -> Vec<&'static [u8]> {
    JSON_TOKENS.iter().map(|t| t.as_bytes()).collect()
}

#[test]
fn the_corpus_and_every_crasher_replay_cleanly() {
    let limits = limits();
    let mut rng = Rng(7);
    let mut failures = Vec::new();
    let mut count = 0;
    for input in parse_corpus() {
        count += 1;
        if let Some(why) = run_parse(&input, &limits).failure {
            failures.push(format!("parse: {why}"));
        }
    }
    for input in reader_corpus() {
        count += 1;
        if let Some(why) = reader_target(&input, &mut rng).failure {
            failures.push(format!("reader: {why}"));
        }
    }
    for (path, input) in read_dir(&dir("crashers")) {
        count += 1;
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let failure = if name.starts_with("reader") {
            run_reader(&input, &[]).failure
        } else {
            run_parse(&input, &limits).failure
        };
        if let Some(why) = failure {
            failures.push(format!("{name}: {why}"));
        }
    }
    assert!(count > 30, "the corpus is there ({count} inputs)");
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn twenty_thousand_mutated_cases_of_each_parser_find_nothing() {
    let limits = limits();
    let parse = campaign(
        parse_corpus(),
        &json_tokens(),
        20_000,
        0x5eed,
        &parse_target(&limits),
    );
    let reader = campaign(reader_corpus(), WS_TOKENS, 20_000, 0x5eed, &reader_target);
    // The mutations reach many outcomes, not one error over and over.
    assert!(
        parse.signatures > 100,
        "{} parse outcomes",
        parse.signatures
    );
    assert!(
        reader.signatures > 10,
        "{} reader outcomes",
        reader.signatures
    );
    let failures: Vec<String> = parse
        .failures
        .iter()
        .map(|(why, _)| format!("parse: {why}"))
        .chain(
            reader
                .failures
                .iter()
                .map(|(why, _)| format!("reader: {why}")),
        )
        .collect();
    assert!(failures.is_empty(), "{failures:#?}");
}

/// The long campaign, outside CI (see the module docs). `VIZCAST_FUZZ_CASES` cases of each
/// parser (10 million by default), `VIZCAST_FUZZ_SEED` (the clock by default);
/// `VIZCAST_FUZZ_SAVE=1` adds the inputs with new outcomes to the corpus (at most 100 a parser,
/// of at most 4 KiB each).
#[test]
#[ignore = "minutes: run outside CI"]
fn long() {
    let cases: u64 = std::env::var("VIZCAST_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let seed: u64 = std::env::var("VIZCAST_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    let save = std::env::var("VIZCAST_FUZZ_SAVE").is_ok_and(|v| v == "1");
    let limits = limits();
    let mut failures = Vec::new();
    for target in ["parse", "reader"] {
        let started = Instant::now();
        let report = if target == "parse" {
            campaign(
                parse_corpus(),
                &json_tokens(),
                cases,
                seed,
                &parse_target(&limits),
            )
        } else {
            campaign(reader_corpus(), WS_TOKENS, cases, seed, &reader_target)
        };
        let took = started.elapsed().as_secs_f64();
        println!(
            "{target}: {} cases in {took:.0} s ({:.0} k/s), seed {seed}: {} failures, {} distinct outcomes, slowest case {:.2} ms, largest peak {} KiB",
            report.cases,
            report.cases as f64 / took / 1e3,
            report.failures.len(),
            report.signatures,
            report.slowest.as_secs_f64() * 1e3,
            report.peak / 1024,
        );
        failures.extend(save_failures(target, &report));
        if save {
            let corpus = dir(target);
            std::fs::create_dir_all(&corpus).unwrap();
            // Small inputs only: the corpus stays a few hundred KiB in the repository.
            let small = report.new_inputs.iter().filter(|i| i.len() <= 4096);
            for (i, input) in small.take(100).enumerate() {
                let extension = if target == "parse" { "json" } else { "bin" };
                std::fs::write(corpus.join(format!("{seed:x}-{i}.{extension}")), input).unwrap();
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
