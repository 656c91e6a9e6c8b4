//! The headers a publishing instance puts on each message, and what an edge makes of them:
//! its own frames coming back, copies of a batch already taken, and gaps.
//!
//! Headers (all ASCII):
//! - `Vizcast-Origin`: the publishing instance's name (`--nats-name`);
//! - `Vizcast-Session`: its run's random session id (as in its `hello`);
//! - `Vizcast-Frame`: the frame's sequence number in that run (the order it accepted frames);
//! - `Vizcast-Seq`: the message's number on its subject, counted by that run from 1 with no
//!   holes: the frames it could not publish are counted too, so an edge sees a gap for them. An
//!   edge that takes only some subjects (`--nats-streams`) still sees every number of those.
//!
//! Messages without them (a producer publishing straight to NATS) are taken as they are.

use std::collections::HashMap;

use async_nats::HeaderMap;

/// The publishing instance's name.
pub const ORIGIN: &str = "Vizcast-Origin";
/// The publishing run's session id.
pub const SESSION: &str = "Vizcast-Session";
/// The frame's sequence number in that run.
pub const FRAME: &str = "Vizcast-Frame";
/// The message's number on its subject in that run.
pub const SEQ: &str = "Vizcast-Seq";

/// Most publishing runs an edge keeps track of; past that, the one heard from least recently
/// is forgotten (a frame of it that comes again would then be taken again).
pub const MAX_ORIGINS: usize = 1024;
/// Most (run, subject) pairs an edge keeps the last number of; past that, it forgets them all
/// and starts over (a gap spanning that moment goes unnoticed; counted in `tracking_resets`).
pub const MAX_SUBJECTS: usize = 65_536;

/// What the headers of a message say about where it comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// `Vizcast-Origin`.
    pub origin: String,
    /// `Vizcast-Session`.
    pub session: String,
    /// `Vizcast-Frame`.
    pub frame: u64,
    /// `Vizcast-Seq`.
    pub seq: u64,
}

impl Stamp {
    /// The stamp in `headers`, if they have one; `Err` says what is wrong with a broken one.
    pub fn from_headers(headers: Option<&HeaderMap>) -> Result<Option<Self>, String> {
        let Some(headers) = headers else {
            return Ok(None);
        };
        let Some(session) = headers.get(SESSION) else {
            return Ok(None);
        };
        let number = |name: &str| -> Result<u64, String> {
            let value = headers
                .get(name)
                .ok_or_else(|| format!("header {SESSION} without {name}"))?;
            value
                .as_str()
                .trim()
                .parse()
                .map_err(|_not_a_number| format!("header {name} is not a number: {value}"))
        };
        Ok(Some(Self {
            origin: headers
                .get(ORIGIN)
                .map(|v| v.as_str().to_owned())
                .unwrap_or_default(),
            session: session.as_str().to_owned(),
            frame: number(FRAME)?,
            seq: number(SEQ)?,
        }))
    }

    /// Puts the stamp into `headers`.
    pub fn write(&self, headers: &mut HeaderMap) {
        headers.insert(ORIGIN, self.origin.as_str());
        headers.insert(SESSION, self.session.as_str());
        headers.insert(FRAME, self.frame.to_string().as_str());
        headers.insert(SEQ, self.seq.to_string().as_str());
    }
}

/// Messages of one publishing run, on one subject, that an edge never received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gap {
    /// The publishing instance.
    pub origin: String,
    /// The subject.
    pub subject: String,
    /// The first missing number.
    pub first: u64,
    /// How many are missing.
    pub missed: u64,
}

/// What to do with a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Take it (and report the gap before it, if any).
    Take(Option<Gap>),
    /// This instance published it: it is in the hub already.
    Own,
    /// Its frame was taken already (another copy of a batch, or a redelivery).
    Duplicate(Option<Gap>),
}

/// An edge's memory of the publishing runs it hears: their last frame and, per subject, their
/// last message number. Bounded by [`MAX_ORIGINS`] and [`MAX_SUBJECTS`].
#[derive(Debug)]
pub struct Tracker {
    own_session: String,
    /// Session → (last frame taken, when last heard of, in messages judged).
    origins: HashMap<String, (u64, u64)>,
    /// "session subject" → last message number.
    subjects: HashMap<String, u64>,
    judged: u64,
    /// Times `subjects` was forgotten at its limit.
    pub tracking_resets: u64,
}

impl Tracker {
    /// A tracker for an instance whose own session is `own_session`.
    pub fn new(own_session: &str) -> Self {
        Self {
            own_session: own_session.to_owned(),
            origins: HashMap::new(),
            subjects: HashMap::new(),
            judged: 0,
            tracking_resets: 0,
        }
    }

    /// Judges a message of `subject` stamped `stamp`.
    pub fn judge(&mut self, subject: &str, stamp: &Stamp) -> Verdict {
        if stamp.session == self.own_session {
            return Verdict::Own;
        }
        self.judged += 1;
        // The subject's numbers first: a copy of a batch taken on another subject still moves
        // this subject's number on.
        if self.subjects.len() >= MAX_SUBJECTS {
            self.subjects.clear();
            self.tracking_resets += 1;
        }
        let key = format!("{} {subject}", stamp.session);
        let gap = match self.subjects.insert(key, stamp.seq) {
            Some(last) if stamp.seq > last + 1 => Some(Gap {
                origin: if stamp.origin.is_empty() {
                    stamp.session.clone()
                } else {
                    stamp.origin.clone()
                },
                subject: subject.to_owned(),
                first: last + 1,
                missed: stamp.seq - last - 1,
            }),
            // The first number heard of (a late join starts mid-way), the next one, or the
            // publisher started its numbers over: nothing missed that can be told.
            _ => None,
        };
        if !self.origins.contains_key(&stamp.session) && self.origins.len() >= MAX_ORIGINS {
            let stalest = self
                .origins
                .iter()
                .min_by_key(|(_, (_, heard))| *heard)
                .map(|(session, _)| session.clone());
            if let Some(session) = stalest {
                self.origins.remove(&session);
            }
        }
        let judged = self.judged;
        let entry = self
            .origins
            .entry(stamp.session.clone())
            .or_insert((0, judged));
        entry.1 = judged;
        if stamp.frame <= entry.0 {
            return Verdict::Duplicate(gap);
        }
        entry.0 = stamp.frame;
        Verdict::Take(gap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(session: &str, frame: u64, seq: u64) -> Stamp {
        Stamp {
            origin: format!("host-{session}"),
            session: session.to_owned(),
            frame,
            seq,
        }
    }

    #[test]
    fn headers_round_trip() {
        let s = stamp("abc", 7, 3);
        let mut headers = HeaderMap::new();
        s.write(&mut headers);
        assert_eq!(Stamp::from_headers(Some(&headers)), Ok(Some(s)));
        assert_eq!(Stamp::from_headers(None), Ok(None));
        assert_eq!(Stamp::from_headers(Some(&HeaderMap::new())), Ok(None));
        let mut broken = HeaderMap::new();
        broken.insert(SESSION, "abc");
        broken.insert(FRAME, "x");
        broken.insert(SEQ, "1");
        assert!(Stamp::from_headers(Some(&broken)).is_err());
    }

    #[test]
    fn own_frames_duplicates_and_gaps() {
        let mut t = Tracker::new("me");
        assert_eq!(t.judge("v.a", &stamp("me", 1, 1)), Verdict::Own);
        assert_eq!(t.judge("v.a", &stamp("x", 1, 1)), Verdict::Take(None));
        // A batch of a and b, published on both subjects: the second copy is a duplicate.
        assert_eq!(t.judge("v.a", &stamp("x", 2, 2)), Verdict::Take(None));
        assert_eq!(t.judge("v.b", &stamp("x", 2, 1)), Verdict::Duplicate(None));
        // Numbers 3 and 4 of v.a never came.
        let gap = Gap {
            origin: "host-x".to_owned(),
            subject: "v.a".to_owned(),
            first: 3,
            missed: 2,
        };
        assert_eq!(t.judge("v.a", &stamp("x", 5, 5)), Verdict::Take(Some(gap)));
        assert_eq!(t.judge("v.b", &stamp("x", 6, 2)), Verdict::Take(None));
        // Another run of the same instance is tracked apart.
        assert_eq!(t.judge("v.a", &stamp("y", 1, 1)), Verdict::Take(None));
        // A late join starts mid-way: no gap.
        assert_eq!(t.judge("v.c", &stamp("x", 9, 500)), Verdict::Take(None));
    }

    #[test]
    fn memory_is_bounded() {
        let mut t = Tracker::new("me");
        for i in 0..(MAX_ORIGINS as u64 + 10) {
            t.judge("v.a", &stamp(&format!("s{i}"), 1, 1));
        }
        assert!(t.origins.len() <= MAX_ORIGINS);
        // The most recent ones are kept.
        assert!(t.origins.contains_key(&format!("s{}", MAX_ORIGINS + 9)));
        let mut t = Tracker::new("me");
        for i in 0..(MAX_SUBJECTS as u64 + 1) {
            t.judge(&format!("v.{i}"), &stamp("x", i + 1, 1));
        }
        assert!(t.subjects.len() <= MAX_SUBJECTS);
        assert_eq!(t.tracking_resets, 1);
    }
}
