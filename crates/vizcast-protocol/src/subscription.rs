//! Viewer subscriptions: which streams a viewer wants.
//!
//! A viewer sends `{"vizcast":"subscribe","streams":["imu","robot/arm","cam*"]}` (or opens
//! `/ws?streams=imu,robot/arm`). Each entry is a **pattern**:
//! - a name, `robot/arm`: that stream, every stream below it (`robot/arm/joint1`), and the streams
//!   above it (`robot`), whose messages may carry it (a series `robot/arm` flattened from the
//!   `values` of stream `robot`, a `clear` of `robot`);
//! - a name ending in `*`, `cam*`: every stream whose name starts with `cam`, and the streams above
//!   that prefix;
//! - `*` alone: everything;
//! - `!` before a name or a prefix, `!lidar`: not that stream nor those below it (its ancestors
//!   are not excluded: their messages may carry other series). A subscription of exclusions only
//!   means everything else.
//!
//! A frame is sent to a viewer when any of its messages matches: frames are never cut, so a batch
//! or a `values` message arrives whole, with its other streams.

use crate::Limits;

/// Most patterns in one subscription.
pub const MAX_PATTERNS: usize = 1024;
/// Most bytes of one `subscribe` request.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// One subscription pattern. See the module docs.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Pattern {
    /// Everything.
    All,
    /// A stream, its subtree and its ancestors.
    Name(Box<str>),
    /// Streams starting with this prefix, and the ancestors of the prefix.
    Prefix(Box<str>),
}

/// The streams a viewer wants. See the module docs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    patterns: Vec<Pattern>,
    exclude: Vec<Pattern>,
}

/// Why a subscription was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("subscribe: {0}")]
pub struct SubscriptionError(String);

impl Subscription {
    /// Every stream (what a viewer gets until it subscribes).
    pub fn all() -> Self {
        Self {
            patterns: vec![Pattern::All],
            exclude: Vec::new(),
        }
    }

    /// A subscription from its patterns, checked against `limits` (pattern count, name length).
    pub fn new<S: AsRef<str>>(patterns: &[S], limits: &Limits) -> Result<Self, SubscriptionError> {
        if patterns.len() > MAX_PATTERNS {
            return Err(SubscriptionError(format!(
                "{} patterns, at most {MAX_PATTERNS} are allowed",
                patterns.len()
            )));
        }
        let mut out = Vec::with_capacity(patterns.len());
        let mut exclude = Vec::new();
        for (i, pattern) in patterns.iter().enumerate() {
            let pattern = pattern.as_ref();
            let (negated, pattern) = match pattern.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, pattern),
            };
            let name = pattern.strip_suffix('*').unwrap_or(pattern);
            if name.len() > limits.max_stream_name_bytes {
                return Err(SubscriptionError(format!(
                    "streams[{i}]: {} bytes, longer than the longest stream name ({} bytes)",
                    name.len(),
                    limits.max_stream_name_bytes
                )));
            }
            if pattern.is_empty() {
                return Err(SubscriptionError(format!(
                    "streams[{i}]: an empty pattern (use \"*\" for everything)"
                )));
            }
            if name.contains('*') {
                return Err(SubscriptionError(format!(
                    "streams[{i}]: \"*\" may only end a pattern"
                )));
            }
            let parsed = match (name.is_empty(), pattern.ends_with('*')) {
                (true, _) => Pattern::All,
                (false, true) => Pattern::Prefix(name.into()),
                (false, false) => Pattern::Name(name.into()),
            };
            if negated {
                exclude.push(parsed);
            } else {
                out.push(parsed);
            }
        }
        if out.is_empty() && !exclude.is_empty() {
            out.push(Pattern::All);
        }
        Ok(Self {
            patterns: out,
            exclude,
        })
    }

    /// Parses a `subscribe` request sent by a viewer:
    /// `{"vizcast":"subscribe","streams":[...]}`.
    pub fn from_request(text: &str, limits: &Limits) -> Result<Self, SubscriptionError> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Request {
            vizcast: String,
            streams: Vec<String>,
        }
        if text.len() > MAX_REQUEST_BYTES {
            return Err(SubscriptionError(format!(
                "the request is {} bytes, at most {MAX_REQUEST_BYTES} are allowed",
                text.len()
            )));
        }
        let request: Request = serde_json::from_str(text).map_err(|e| {
            SubscriptionError(format!(
                "expected {{\"vizcast\":\"subscribe\",\"streams\":[names...]}}: {e}"
            ))
        })?;
        if request.vizcast != "subscribe" {
            return Err(SubscriptionError(format!(
                "unknown request \"{}\" (viewers may only send \"subscribe\")",
                request.vizcast
            )));
        }
        Self::new(&request.streams, limits)
    }

    /// Parses the `streams` query parameter of `/ws`: patterns separated by commas.
    pub fn from_query(query: &str, limits: &Limits) -> Result<Self, SubscriptionError> {
        let patterns: Vec<&str> = query.split(',').filter(|p| !p.is_empty()).collect();
        Self::new(&patterns, limits)
    }

    /// Whether this is everything.
    pub fn is_all(&self) -> bool {
        self.exclude.is_empty() && self.patterns.contains(&Pattern::All)
    }

    /// The patterns (exclusions after a `!`).
    pub fn patterns(&self) -> Vec<String> {
        let show = |p: &Pattern| match p {
            Pattern::All => "*".to_owned(),
            Pattern::Name(name) => name.to_string(),
            Pattern::Prefix(prefix) => format!("{prefix}*"),
        };
        let positive = self.patterns.iter().map(show);
        positive
            .chain(self.exclude.iter().map(|p| format!("!{}", show(p))))
            .collect()
    }

    /// Whether a message of `stream` is wanted.
    pub fn matches(&self, stream: &str) -> bool {
        let included = self.patterns.iter().any(|p| match p {
            Pattern::All => true,
            Pattern::Name(name) => {
                stream == &**name || is_below(stream, name) || is_below(name, stream)
            }
            Pattern::Prefix(prefix) => stream.starts_with(&**prefix) || is_below(prefix, stream),
        });
        included
            && !self.exclude.iter().any(|p| match p {
                Pattern::All => true,
                Pattern::Name(name) => stream == &**name || is_below(stream, name),
                Pattern::Prefix(prefix) => stream.starts_with(&**prefix),
            })
    }
}

/// Whether `name` is strictly below `ancestor` in the `/` hierarchy.
fn is_below(name: &str, ancestor: &str) -> bool {
    name.len() > ancestor.len()
        && name.as_bytes()[ancestor.len()] == b'/'
        && name.starts_with(ancestor)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(patterns: &[&str]) -> Subscription {
        Subscription::new(patterns, &Limits::default()).unwrap()
    }

    #[test]
    fn names_match_their_subtree_and_their_ancestors_only() {
        let s = sub(&["robot/arm"]);
        for yes in ["robot/arm", "robot/arm/joint1", "robot"] {
            assert!(s.matches(yes), "{yes}");
        }
        for no in ["robot/armor", "robot/leg", "robo", "arm", "robot/ar"] {
            assert!(!s.matches(no), "{no}");
        }
    }

    #[test]
    fn prefixes_and_everything() {
        let s = sub(&["cam*"]);
        assert!(s.matches("cam") && s.matches("camera/left") && !s.matches("lidar"));
        let s = sub(&["robot/ca*"]);
        assert!(s.matches("robot/cam") && s.matches("robot") && !s.matches("robot/arm"));
        assert!(sub(&["*"]).matches("anything") && sub(&["*"]).is_all());
        assert!(!sub(&[]).matches("anything"));
        assert_eq!(sub(&["a", "b*", "*"]).patterns(), ["a", "b*", "*"]);
    }

    #[test]
    fn exclusions_remove_a_subtree_but_not_its_ancestors() {
        let s = sub(&["!lidar", "!robot/cam*"]);
        assert!(!s.is_all());
        assert!(s.matches("imu") && s.matches("robot") && s.matches("robot/arm"));
        assert!(!s.matches("lidar") && !s.matches("lidar/front") && !s.matches("robot/camera"));
        assert!(s.matches("lidar2"));
        let s = sub(&["robot", "!robot/cam"]);
        assert!(s.matches("robot/arm") && !s.matches("robot/cam/left") && !s.matches("imu"));
        assert_eq!(s.patterns(), ["robot", "!robot/cam"]);
    }

    #[test]
    fn requests_are_checked_and_explained() {
        let limits = Limits::default();
        let ok = Subscription::from_request(
            r#"{"vizcast":"subscribe","streams":["imu","cam*"]}"#,
            &limits,
        )
        .unwrap();
        assert!(ok.matches("imu/ax") && ok.matches("cam0"));
        for (bad, why) in [
            ("not json", "expected {\"vizcast\":\"subscribe\""),
            (r#"{"vizcast":"subscribe","streams":"imu"}"#, "invalid type"),
            (r#"{"vizcast":"subscribe","streams":[1]}"#, "invalid type"),
            (
                r#"{"vizcast":"subscribe","streams":[],"x":1}"#,
                "unknown field",
            ),
            (
                r#"{"vizcast":"publish","streams":[]}"#,
                "unknown request \"publish\"",
            ),
            (
                r#"{"vizcast":"subscribe","streams":[""]}"#,
                "streams[0]: an empty",
            ),
            (
                r#"{"vizcast":"subscribe","streams":["a*b"]}"#,
                "may only end",
            ),
        ] {
            let err = Subscription::from_request(bad, &limits)
                .unwrap_err()
                .to_string();
            assert!(err.contains(why), "{bad}: {err}");
        }
        let long = format!(
            r#"{{"vizcast":"subscribe","streams":["{}"]}}"#,
            "x".repeat(limits.max_stream_name_bytes + 1)
        );
        let err = Subscription::from_request(&long, &limits)
            .unwrap_err()
            .to_string();
        assert!(err.contains("longer than the longest stream name"), "{err}");
        let many: Vec<String> = (0..=MAX_PATTERNS).map(|i| i.to_string()).collect();
        assert!(Subscription::new(&many, &limits).is_err());
        let huge = format!(
            r#"{{"vizcast":"subscribe","streams":["{}"]}}"#,
            "x".repeat(MAX_REQUEST_BYTES)
        );
        let err = Subscription::from_request(&huge, &limits)
            .unwrap_err()
            .to_string();
        assert!(err.contains("at most 65536"), "{err}");
    }

    #[test]
    fn queries_are_comma_separated() {
        let s = Subscription::from_query("imu,,robot/arm", &Limits::default()).unwrap();
        assert_eq!(s.patterns(), ["imu", "robot/arm"]);
    }
}
