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
//! - `Vizcast-Parts`: on a frame published on several subjects (a batch of several streams), how
//!   many; absent means one.
//!
//! An edge judges each message by its subject's number alone, so that it may take a subject's
//! messages out of order with other subjects (a gap repaired from JetStream while the others
//! went on live): a number at or below the last one taken is a copy. The copies of a batch on
//! its other subjects are told apart by their frame number, remembered for the last
//! [`MAX_BATCHES`] batches.
//!
//! Messages without them (a producer publishing straight to NATS) are taken as they are.

use std::collections::{HashMap, HashSet, VecDeque};

use async_nats::HeaderMap;

/// The publishing instance's name.
pub const ORIGIN: &str = "Vizcast-Origin";
/// The publishing run's session id.
pub const SESSION: &str = "Vizcast-Session";
/// The frame's sequence number in that run.
pub const FRAME: &str = "Vizcast-Frame";
/// The message's number on its subject in that run.
pub const SEQ: &str = "Vizcast-Seq";
/// How many subjects the frame is published on, when more than one.
pub const PARTS: &str = "Vizcast-Parts";

/// Most batches (frames on several subjects) an edge remembers having taken; past that, the
/// oldest is forgotten (a copy of it that comes again would then be taken again).
pub const MAX_BATCHES: usize = 65_536;
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
    /// `Vizcast-Parts` (1 when absent).
    pub parts: u64,
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
        let parse = |name: &str, value: &async_nats::header::HeaderValue| -> Result<u64, String> {
            value
                .as_str()
                .trim()
                .parse()
                .map_err(|_not_a_number| format!("header {name} is not a number: {value}"))
        };
        let number = |name: &str| -> Result<u64, String> {
            let value = headers
                .get(name)
                .ok_or_else(|| format!("header {SESSION} without {name}"))?;
            parse(name, value)
        };
        Ok(Some(Self {
            origin: headers
                .get(ORIGIN)
                .map(|v| v.as_str().to_owned())
                .unwrap_or_default(),
            session: session.as_str().to_owned(),
            frame: number(FRAME)?,
            seq: number(SEQ)?,
            parts: headers
                .get(PARTS)
                .map_or(Ok(1), |value| parse(PARTS, value))?,
        }))
    }

    /// Puts the stamp into `headers`.
    pub fn write(&self, headers: &mut HeaderMap) {
        headers.insert(ORIGIN, self.origin.as_str());
        headers.insert(SESSION, self.session.as_str());
        headers.insert(FRAME, self.frame.to_string().as_str());
        headers.insert(SEQ, self.seq.to_string().as_str());
        if self.parts > 1 {
            headers.insert(PARTS, self.parts.to_string().as_str());
        }
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

/// An edge's memory of the publishing runs it hears: per subject, their last message number,
/// and the batches taken. Bounded by [`MAX_SUBJECTS`] and [`MAX_BATCHES`].
#[derive(Debug)]
pub struct Tracker {
    own_session: String,
    /// Session → subject → last message number.
    subjects: HashMap<String, HashMap<String, u64>>,
    /// How many (session, subject) pairs `subjects` holds.
    tracked: usize,
    /// (Session, frame) of the batches taken, and the order to forget them in.
    batches: HashSet<(String, u64)>,
    batch_order: VecDeque<(String, u64)>,
    /// Times `subjects` was forgotten at its limit.
    pub tracking_resets: u64,
}

impl Tracker {
    /// A tracker for an instance whose own session is `own_session`.
    pub fn new(own_session: &str) -> Self {
        Self {
            own_session: own_session.to_owned(),
            subjects: HashMap::new(),
            tracked: 0,
            batches: HashSet::new(),
            batch_order: VecDeque::new(),
            tracking_resets: 0,
        }
    }

    /// The last number taken on `subject` from `session`, if any.
    pub fn last(&self, session: &str, subject: &str) -> Option<u64> {
        self.subjects.get(session)?.get(subject).copied()
    }

    /// The gap a message of `subject` stamped `stamp` would reveal, without judging it: the
    /// edge repairs it from JetStream before it takes the message.
    pub fn gap_before(&self, subject: &str, stamp: &Stamp) -> Option<Gap> {
        if stamp.session == self.own_session {
            return None;
        }
        let last = self.last(&stamp.session, subject)?;
        gap_after(subject, stamp, last)
    }

    /// Judges a message of `subject` stamped `stamp`.
    pub fn judge(&mut self, subject: &str, stamp: &Stamp) -> Verdict {
        if stamp.session == self.own_session {
            return Verdict::Own;
        }
        // The subject's numbers first: a copy of a batch taken on another subject still moves
        // this subject's number on.
        let last = self.last(&stamp.session, subject);
        let gap = last.and_then(|last| gap_after(subject, stamp, last));
        match last {
            // A copy read again (a repair that overlapped what came live, a redelivery).
            Some(last) if stamp.seq <= last => return Verdict::Duplicate(None),
            Some(_) => {}
            None => {
                if self.tracked >= MAX_SUBJECTS {
                    self.subjects.clear();
                    self.tracked = 0;
                    self.tracking_resets += 1;
                }
                self.tracked += 1;
            }
        }
        // The first number heard of (a late join starts mid-way) or the next one: nothing
        // missed that can be told.
        match self.subjects.get_mut(&stamp.session) {
            Some(numbers) => match numbers.get_mut(subject) {
                Some(number) => *number = stamp.seq,
                None => {
                    numbers.insert(subject.to_owned(), stamp.seq);
                }
            },
            None => {
                let numbers = HashMap::from([(subject.to_owned(), stamp.seq)]);
                self.subjects.insert(stamp.session.clone(), numbers);
            }
        }
        if stamp.parts > 1 {
            let key = (stamp.session.clone(), stamp.frame);
            if self.batches.contains(&key) {
                return Verdict::Duplicate(gap);
            }
            if self.batch_order.len() >= MAX_BATCHES
                && let Some(oldest) = self.batch_order.pop_front()
            {
                self.batches.remove(&oldest);
            }
            self.batches.insert(key.clone());
            self.batch_order.push_back(key);
        }
        Verdict::Take(gap)
    }
}

/// The gap before `stamp` on `subject` when the last number taken there is `last`, if any.
fn gap_after(subject: &str, stamp: &Stamp, last: u64) -> Option<Gap> {
    (stamp.seq > last + 1).then(|| Gap {
        origin: if stamp.origin.is_empty() {
            stamp.session.clone()
        } else {
            stamp.origin.clone()
        },
        subject: subject.to_owned(),
        first: last + 1,
        missed: stamp.seq - last - 1,
    })
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
            parts: 1,
        }
    }

    fn batch(session: &str, frame: u64, seq: u64, parts: u64) -> Stamp {
        Stamp {
            parts,
            ..stamp(session, frame, seq)
        }
    }

    #[test]
    fn headers_round_trip() {
        for s in [stamp("abc", 7, 3), batch("abc", 8, 4, 3)] {
            let mut headers = HeaderMap::new();
            s.write(&mut headers);
            assert_eq!(Stamp::from_headers(Some(&headers)), Ok(Some(s)));
        }
        assert_eq!(Stamp::from_headers(None), Ok(None));
        assert_eq!(Stamp::from_headers(Some(&HeaderMap::new())), Ok(None));
        let mut broken = HeaderMap::new();
        broken.insert(SESSION, "abc");
        broken.insert(FRAME, "x");
        broken.insert(SEQ, "1");
        assert!(Stamp::from_headers(Some(&broken)).is_err());
        let mut lying = HeaderMap::new();
        stamp("abc", 1, 1).write(&mut lying);
        lying.insert(PARTS, "many");
        assert!(Stamp::from_headers(Some(&lying)).is_err());
    }

    #[test]
    fn own_frames_duplicates_and_gaps() {
        let mut t = Tracker::new("me");
        assert_eq!(t.judge("v.a", &stamp("me", 1, 1)), Verdict::Own);
        assert_eq!(t.judge("v.a", &stamp("x", 1, 1)), Verdict::Take(None));
        // A batch of a and b, published on both subjects: the second copy is a duplicate.
        assert_eq!(t.judge("v.a", &batch("x", 2, 2, 2)), Verdict::Take(None));
        assert_eq!(
            t.judge("v.b", &batch("x", 2, 1, 2)),
            Verdict::Duplicate(None)
        );
        // Numbers 3 and 4 of v.a never came.
        let gap = Gap {
            origin: "host-x".to_owned(),
            subject: "v.a".to_owned(),
            first: 3,
            missed: 2,
        };
        assert_eq!(t.gap_before("v.a", &stamp("x", 5, 5)), Some(gap.clone()));
        assert_eq!(t.judge("v.a", &stamp("x", 5, 5)), Verdict::Take(Some(gap)));
        assert_eq!(t.gap_before("v.a", &stamp("x", 6, 6)), None);
        assert_eq!(t.judge("v.b", &stamp("x", 6, 2)), Verdict::Take(None));
        // A message read again (a repair overlapping what came live) is a copy.
        assert_eq!(t.judge("v.a", &stamp("x", 4, 4)), Verdict::Duplicate(None));
        assert_eq!(t.judge("v.b", &stamp("x", 6, 2)), Verdict::Duplicate(None));
        // Another run of the same instance is tracked apart.
        assert_eq!(t.judge("v.a", &stamp("y", 1, 1)), Verdict::Take(None));
        // A late join starts mid-way: no gap.
        assert_eq!(t.gap_before("v.c", &stamp("x", 9, 500)), None);
        assert_eq!(t.judge("v.c", &stamp("x", 9, 500)), Verdict::Take(None));
    }

    #[test]
    fn a_subject_repaired_after_others_went_on_is_taken() {
        // Live: a1, then b1..b3; a2 and a3 were lost, a4 reveals the gap.
        let mut t = Tracker::new("me");
        assert_eq!(t.judge("v.a", &stamp("x", 1, 1)), Verdict::Take(None));
        for (frame, seq) in [(3, 1), (5, 2), (7, 3)] {
            assert_eq!(t.judge("v.b", &stamp("x", frame, seq)), Verdict::Take(None));
        }
        assert!(t.gap_before("v.a", &stamp("x", 8, 4)).is_some());
        // The repair reads a2 and a3 (older frames than b's last) and takes them, then a4.
        assert_eq!(t.judge("v.a", &stamp("x", 2, 2)), Verdict::Take(None));
        assert_eq!(t.judge("v.a", &stamp("x", 4, 3)), Verdict::Take(None));
        assert_eq!(t.judge("v.a", &stamp("x", 8, 4)), Verdict::Take(None));
        // A batch of a and b lost live on a but taken on b is not taken again from the repair.
        assert_eq!(t.judge("v.b", &batch("x", 9, 4, 2)), Verdict::Take(None));
        assert_eq!(
            t.judge("v.a", &batch("x", 9, 5, 2)),
            Verdict::Duplicate(None)
        );
    }

    #[test]
    fn memory_is_bounded() {
        let mut t = Tracker::new("me");
        for i in 0..(MAX_BATCHES as u64 + 10) {
            t.judge("v.a", &batch("x", i + 1, i + 1, 2));
        }
        assert_eq!(t.batches.len(), MAX_BATCHES);
        assert_eq!(t.batch_order.len(), MAX_BATCHES);
        // The most recent ones are kept.
        assert!(
            t.batches
                .contains(&("x".to_owned(), MAX_BATCHES as u64 + 10))
        );
        assert!(!t.batches.contains(&("x".to_owned(), 1)));
        let mut t = Tracker::new("me");
        for i in 0..(MAX_SUBJECTS as u64 + 1) {
            t.judge(&format!("v.{i}"), &stamp("x", i + 1, 1));
        }
        assert!(t.tracked <= MAX_SUBJECTS);
        assert_eq!(t.tracking_resets, 1);
    }
}
