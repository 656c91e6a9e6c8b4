//! Replaying a recording into a hub, on a thread of its own.
//!
//! Replay is one more source: frames go through [`Hub::ingest`] like any producer's, so the desktop
//! and every browser see a replay exactly as they saw it live. Frames are sent at their recorded
//! log times scaled by the speed (0: as fast as possible). A seek (or a loop back) resets the hub
//! (viewers get a `reset` snapshot), restores the state at the target time from the file's index,
//! and goes on from there.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use vizcast_hub::{Hub, Utf8Bytes};
use vizcast_protocol::ReplayStatus;

use crate::{RecordError, Recording, ReplayFrame};

/// Bytes of chunks read for recent history when seeking (besides one chunk per stream).
const SEEK_HISTORY_BYTES: u64 = 16 << 20;

/// How to replay.
#[derive(Clone, Copy, Debug)]
pub struct ReplayOptions {
    /// Speed factor: 1 is real time, 10 ten times faster; 0 as fast as possible.
    pub speed: f64,
    /// Start over at the end.
    pub looping: bool,
    /// Where to start, seconds from the recording's start.
    pub start: f64,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        Self {
            speed: 1.0,
            looping: false,
            start: 0.0,
        }
    }
}

enum Command {
    Pause,
    Resume,
    Speed(f64),
    Looping(bool),
    Seek(f64),
    Stop,
}

/// A replay in progress; dropping it stops it.
pub struct Replay {
    tx: Sender<Command>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Replay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replay").finish_non_exhaustive()
    }
}

impl Replay {
    /// Starts replaying `recording` into `hub`.
    pub fn start(
        hub: Arc<Hub>,
        recording: Recording,
        options: ReplayOptions,
    ) -> Result<Self, RecordError> {
        let (tx, rx) = crossbeam_channel::bounded(16);
        let path = recording.path().to_owned();
        if let Some(problem) = &recording.info().problem {
            tracing::warn!(file = %path.display(), "{problem}");
        }
        for gap in &recording.info().gaps {
            tracing::warn!(file = %path.display(), "{gap}");
        }
        let mut player = Player {
            hub,
            recording: Arc::new(recording),
            options,
            speed: options.speed,
            rx,
            rejected: 0,
            last_status: None,
        };
        let thread = std::thread::Builder::new()
            .name("vizcast-replay".to_owned())
            .spawn(move || player.run())
            .map_err(|e| RecordError::io(&path, e))?;
        Ok(Self {
            tx,
            thread: Some(thread),
        })
    }

    /// Pauses.
    pub fn pause(&self) {
        self.tx.try_send(Command::Pause).ok();
    }

    /// Resumes after a pause.
    pub fn resume(&self) {
        self.tx.try_send(Command::Resume).ok();
    }

    /// Changes the speed (0: as fast as possible).
    pub fn set_speed(&self, speed: f64) {
        self.tx.try_send(Command::Speed(speed)).ok();
    }

    /// Turns looping on or off.
    pub fn set_looping(&self, looping: bool) {
        self.tx.try_send(Command::Looping(looping)).ok();
    }

    /// Jumps to `seconds` from the recording's start.
    pub fn seek(&self, seconds: f64) {
        self.tx.try_send(Command::Seek(seconds)).ok();
    }

    /// Stops and waits for the replay thread.
    pub fn stop(mut self) {
        self.halt();
    }

    /// Waits until the replay ends by itself (not looping) or the hub shuts down.
    pub fn join(mut self) {
        if let Some(thread) = self.thread.take() {
            thread.join().ok();
        }
    }

    fn halt(&mut self) {
        self.tx.try_send(Command::Stop).ok();
        if let Some(thread) = self.thread.take() {
            thread.join().ok();
        }
    }
}

impl Drop for Replay {
    fn drop(&mut self) {
        self.halt();
    }
}

/// What the replay thread does next.
enum Next {
    /// Play from this log time (ns); `restore` when the hub's state must be rebuilt first.
    Play {
        from: u64,
        restore: bool,
    },
    Stop,
}

struct Player {
    hub: Arc<Hub>,
    recording: Arc<Recording>,
    options: ReplayOptions,
    speed: f64,
    rx: Receiver<Command>,
    rejected: u64,
    last_status: Option<Instant>,
}

impl Player {
    fn start_ns(&self) -> u64 {
        self.recording.info().start
    }

    fn at(&self, seconds: f64) -> u64 {
        let info = self.recording.info();
        let offset = (seconds.max(0.0) * 1e9) as u64;
        (info.start + offset).min(info.end)
    }

    fn run(&mut self) {
        let mut next = Next::Play {
            from: self.at(self.options.start),
            restore: self.options.start > 0.0,
        };
        loop {
            next = match next {
                Next::Stop => break,
                Next::Play { from, restore } => self.play(from, restore),
            };
        }
        self.hub.set_replay_status(None);
    }

    /// Plays from `from` to the end (or the next seek); returns what comes next.
    fn play(&mut self, from: u64, restore: bool) -> Next {
        if restore {
            let frames = match self.recording.state_before(from, SEEK_HISTORY_BYTES) {
                Ok(frames) => frames
                    .into_iter()
                    .map(|f| Utf8Bytes::from(f.text))
                    .collect(),
                Err(err) => {
                    tracing::warn!("restoring the state at the seek target: {err}");
                    Vec::new()
                }
            };
            let refused = self.hub.reset_to(frames);
            if refused > 0 {
                tracing::warn!(
                    refused,
                    "recorded frames were refused while restoring the state at the seek target"
                );
            }
        }
        let recording = self.recording.clone();
        let frames = match recording.frames_from(from) {
            Ok(frames) => frames,
            Err(err) => {
                tracing::error!("replay: {err}");
                return Next::Stop;
            }
        };
        let mut anchor = (Instant::now(), from);
        let mut position = from;
        let mut paused = false;
        for frame in frames {
            let frame = match frame {
                Ok(frame) => frame,
                Err(err) => {
                    tracing::warn!("replay stops early: {err}");
                    break;
                }
            };
            // Wait until the frame is due, obeying commands meanwhile.
            loop {
                if self.hub.shutdown_token().is_cancelled() {
                    return Next::Stop;
                }
                let due = if self.speed > 0.0 {
                    let offset = frame.log_time.saturating_sub(anchor.1) as f64 / 1e9 / self.speed;
                    anchor.0 + Duration::from_secs_f64(offset)
                } else {
                    Instant::now()
                };
                let now = Instant::now();
                if !paused && now >= due {
                    break;
                }
                let wait = if paused {
                    Duration::from_millis(100)
                } else {
                    (due - now).min(Duration::from_millis(100))
                };
                self.publish(if paused { "paused" } else { "playing" }, position, false);
                match self.rx.recv_timeout(wait) {
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) | Ok(Command::Stop) => return Next::Stop,
                    Ok(Command::Pause) => {
                        paused = true;
                        self.publish("paused", position, true);
                    }
                    Ok(Command::Resume) => {
                        paused = false;
                        anchor = (Instant::now(), position);
                        self.publish("playing", position, true);
                    }
                    Ok(Command::Speed(speed)) => {
                        self.speed = speed.max(0.0);
                        anchor = (Instant::now(), position);
                        self.publish(if paused { "paused" } else { "playing" }, position, true);
                    }
                    Ok(Command::Looping(looping)) => {
                        self.options.looping = looping;
                        self.publish(if paused { "paused" } else { "playing" }, position, true);
                    }
                    Ok(Command::Seek(seconds)) => {
                        return Next::Play {
                            from: self.at(seconds),
                            restore: true,
                        };
                    }
                }
            }
            self.ingest(&frame);
            position = frame.log_time;
            self.publish("playing", position, false);
        }
        if self.options.looping {
            return Next::Play {
                from: self.at(self.options.start),
                restore: true,
            };
        }
        self.publish("ended", self.recording.info().end, true);
        if self.rejected > 0 {
            tracing::warn!(
                refused = self.rejected,
                "replay ended; recorded frames were refused (a damaged file, or limits below those it was recorded with)"
            );
        } else {
            tracing::info!(file = %self.recording.path().display(), "replay ended");
        }
        // Ended: wait for a seek, a play (from the start), a stop, or shutdown.
        loop {
            if self.hub.shutdown_token().is_cancelled() {
                return Next::Stop;
            }
            match self.rx.recv_timeout(Duration::from_millis(100)) {
                Ok(Command::Seek(seconds)) => {
                    return Next::Play {
                        from: self.at(seconds),
                        restore: true,
                    };
                }
                Ok(Command::Resume) => {
                    return Next::Play {
                        from: self.at(0.0),
                        restore: true,
                    };
                }
                Ok(Command::Stop) | Err(RecvTimeoutError::Disconnected) => return Next::Stop,
                Ok(Command::Speed(speed)) => {
                    self.speed = speed.max(0.0);
                    let end = self.recording.info().end;
                    self.publish("ended", end, true);
                }
                Ok(Command::Looping(looping)) => {
                    self.options.looping = looping;
                    let end = self.recording.info().end;
                    self.publish("ended", end, true);
                }
                Ok(Command::Pause) | Err(RecvTimeoutError::Timeout) => {}
            }
        }
    }

    fn ingest(&mut self, frame: &ReplayFrame) {
        if let Err(err) = self.hub.ingest(Utf8Bytes::from(frame.text.as_str())) {
            self.rejected += 1;
            if self.rejected <= 10 {
                tracing::warn!("a recorded frame was refused on replay: {err}");
            }
        }
    }

    /// Publishes the replay's status, at most 4 times a second unless `now`.
    fn publish(&mut self, state: &str, position: u64, now: bool) {
        if !now
            && self
                .last_status
                .is_some_and(|t| t.elapsed() < Duration::from_millis(250))
        {
            return;
        }
        self.last_status = Some(Instant::now());
        let info = self.recording.info();
        self.hub.set_replay_status(Some(ReplayStatus {
            file: self.recording.path().display().to_string(),
            state: state.to_owned(),
            position: position.saturating_sub(self.start_ns()) as f64 / 1e9,
            duration: info.duration(),
            speed: self.speed,
            looping: self.options.looping,
        }));
    }
}
