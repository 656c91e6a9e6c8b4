//! Stream names ↔ NATS subjects.
//!
//! A stream `robot/arm/joint1` is published on `PREFIX.robot.arm.joint1` (`PREFIX` is
//! `--nats-prefix`, `vizcast` by default): each `/`-separated segment of the name becomes one
//! subject token, so NATS wildcards follow the stream hierarchy (`vizcast.robot.>` is the robot and
//! everything below it).
//!
//! Within a segment, the characters NATS gives a meaning to, and the escape character itself, are
//! written as `%` and two upper-case hex digits per UTF-8 byte:
//!
//! | character | written |
//! | --- | --- |
//! | `.` (token separator) | `%2E` |
//! | `*` (one-token wildcard) | `%2A` |
//! | `>` (tail wildcard) | `%3E` |
//! | `%` (the escape) | `%25` |
//! | whitespace (space, tab, no-break space, …) | its UTF-8 bytes, e.g. `%20`, `%C2%A0` |
//!
//! Everything else (letters of any script, digits, `-`, `_`, `$`, …) is kept as is. The protocol
//! already refuses empty segments and control characters, so every token is non-empty and the
//! mapping is reversible: [`subject_to_stream`] gives back the name, and refuses what
//! [`stream_to_subject`] cannot have written.

use std::fmt::Write as _;

/// Whether `c` is written escaped in a subject token.
fn escaped(c: char) -> bool {
    matches!(c, '.' | '*' | '>' | '%') || c.is_whitespace() || c.is_control()
}

/// Appends one stream-name segment to `out` as a subject token.
fn push_token(out: &mut String, segment: &str) {
    for c in segment.chars() {
        if escaped(c) {
            let mut buf = [0u8; 4];
            for byte in c.encode_utf8(&mut buf).bytes() {
                // Writing to a String cannot fail.
                write!(out, "%{byte:02X}").ok();
            }
        } else {
            out.push(c);
        }
    }
}

/// The subject a stream is published on: `PREFIX.` then its segments as tokens (module docs).
pub fn stream_to_subject(prefix: &str, stream: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 1 + stream.len() + 8);
    out.push_str(prefix);
    for segment in stream.split('/') {
        out.push('.');
        push_token(&mut out, segment);
    }
    out
}

/// The stream a subject carries, or `None` when the subject is not under `PREFIX.` or is not one
/// [`stream_to_subject`] could have written (an empty token, a bad escape, a raw reserved
/// character).
pub fn subject_to_stream(prefix: &str, subject: &str) -> Option<String> {
    let rest = subject.strip_prefix(prefix)?.strip_prefix('.')?;
    let mut name = String::with_capacity(rest.len());
    for (i, token) in rest.split('.').enumerate() {
        if token.is_empty() {
            return None;
        }
        if i > 0 {
            name.push('/');
        }
        let bytes = token.as_bytes();
        let mut decoded = Vec::with_capacity(bytes.len());
        let mut at = 0;
        while at < bytes.len() {
            if bytes[at] == b'%' {
                let hex = token.get(at + 1..at + 3)?;
                if hex.bytes().any(|b| b.is_ascii_lowercase()) {
                    return None;
                }
                decoded.push(u8::from_str_radix(hex, 16).ok()?);
                at += 3;
            } else {
                decoded.push(bytes[at]);
                at += 1;
            }
        }
        let segment = String::from_utf8(decoded).ok()?;
        // Only what the writer escapes may have been escaped, and all of it must have been:
        // otherwise two subjects would name one stream.
        let mut canonical = String::with_capacity(token.len());
        push_token(&mut canonical, &segment);
        if canonical != token {
            return None;
        }
        name.push_str(&segment);
    }
    Some(name)
}

/// The NATS subject filter of a `--nats-streams` pattern: a stream name whose segments may be
/// `*` (any one segment) or, last, `>` (one or more segments), as in NATS. `>` alone is
/// everything; `robot/>` the streams below `robot`; `*/imu` every `imu` one level down.
pub fn pattern_to_filter(prefix: &str, pattern: &str) -> Result<String, String> {
    let pattern = pattern.trim();
    if pattern.is_empty() {
        return Err("the stream pattern is empty (use > for every stream)".to_owned());
    }
    let segments: Vec<&str> = pattern.split('/').collect();
    let mut out = String::from(prefix);
    for (i, segment) in segments.iter().enumerate() {
        out.push('.');
        match *segment {
            "" => {
                return Err(format!(
                    "\"{pattern}\" has an empty segment (no leading, trailing or double '/')"
                ));
            }
            "*" => out.push('*'),
            ">" if i + 1 == segments.len() => out.push('>'),
            ">" => return Err(format!("\"{pattern}\": '>' may only be the last segment")),
            literal => push_token(&mut out, literal),
        }
    }
    Ok(out)
}

/// Whether `prefix` can start subjects: non-empty NATS tokens without wildcards or whitespace.
pub fn valid_prefix(prefix: &str) -> bool {
    !prefix.is_empty()
        && prefix.split('.').all(|token| {
            !token.is_empty()
                && !token
                    .chars()
                    .any(|c| matches!(c, '*' | '>') || c.is_whitespace() || c.is_control())
        })
}

/// The JetStream stream that keeps the subjects under `prefix`: its tokens in upper case, joined
/// by `_` (`vizcast` → `VIZCAST`, `lab.vizcast` → `LAB_VIZCAST`).
pub fn jetstream_name(prefix: &str) -> String {
    prefix
        .chars()
        .map(|c| match c {
            '.' => '_',
            c if c.is_ascii_alphanumeric() || c == '-' || c == '_' => c.to_ascii_uppercase(),
            _ => '_',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_hierarchical_subjects() {
        assert_eq!(
            stream_to_subject("vizcast", "robot/arm/joint1"),
            "vizcast.robot.arm.joint1"
        );
        assert_eq!(stream_to_subject("vizcast", "imu"), "vizcast.imu");
        assert_eq!(stream_to_subject("lab.v", "a"), "lab.v.a");
    }

    #[test]
    fn reserved_characters_are_escaped() {
        assert_eq!(stream_to_subject("v", "a.b"), "v.a%2Eb");
        assert_eq!(stream_to_subject("v", "*"), "v.%2A");
        assert_eq!(stream_to_subject("v", ">/x"), "v.%3E.x");
        assert_eq!(stream_to_subject("v", "100%"), "v.100%25");
        assert_eq!(stream_to_subject("v", "left arm"), "v.left%20arm");
        assert_eq!(stream_to_subject("v", "tab\there"), "v.tab%09here");
        assert_eq!(stream_to_subject("v", "nb\u{a0}sp"), "v.nb%C2%A0sp");
        assert_eq!(stream_to_subject("v", "été/☃"), "v.été.☃");
    }

    #[test]
    fn hostile_names_round_trip() {
        for name in [
            "robot/arm/joint1",
            "a.b.c",
            "*/>/*",
            ">",
            "%",
            "%25",
            "%2E",
            "spaces in/every part",
            "\u{2003}em space",
            "$JS/API",
            "x/y.z/ä ö/日本/🙂",
            "a..b",
            "..",
            "-_~!@#^&()[]{}\"'\\",
        ] {
            let subject = stream_to_subject("vizcast", name);
            assert!(
                !subject.contains(char::is_whitespace),
                "{subject:?} has whitespace"
            );
            let tokens: Vec<&str> = subject.split('.').collect();
            assert!(tokens.iter().all(|t| !t.is_empty()), "{subject:?}");
            assert!(
                tokens[1..].iter().all(|t| !t.contains(['*', '>'])),
                "{subject:?} has a wildcard"
            );
            assert_eq!(
                subject_to_stream("vizcast", &subject).as_deref(),
                Some(name),
                "{subject}"
            );
        }
    }

    #[test]
    fn subjects_not_written_by_the_mapping_are_refused() {
        for subject in [
            "other.robot",
            "vizcast",
            "vizcast.",
            "vizcast..a",
            "vizcast.a.",
            "vizcast.%2",
            "vizcast.%zz",
            "vizcast.%2e",
            // An escape of a character that is written as is: two subjects for one name.
            "vizcast.%41",
            "vizcast.%FF",
            "vizcastx.a",
        ] {
            assert_eq!(subject_to_stream("vizcast", subject), None, "{subject}");
        }
        assert_eq!(
            subject_to_stream("vizcast", "vizcast.robot.arm").as_deref(),
            Some("robot/arm")
        );
    }

    #[test]
    fn patterns_become_subject_filters() {
        assert_eq!(pattern_to_filter("vizcast", ">").unwrap(), "vizcast.>");
        assert_eq!(
            pattern_to_filter("vizcast", "robot/>").unwrap(),
            "vizcast.robot.>"
        );
        assert_eq!(
            pattern_to_filter("vizcast", "*/imu").unwrap(),
            "vizcast.*.imu"
        );
        assert_eq!(
            pattern_to_filter("vizcast", "a.b/c d").unwrap(),
            "vizcast.a%2Eb.c%20d"
        );
        assert!(pattern_to_filter("vizcast", "").is_err());
        assert!(pattern_to_filter("vizcast", "a//b").is_err());
        assert!(pattern_to_filter("vizcast", ">/a").is_err());
    }

    #[test]
    fn prefixes_and_stream_names() {
        assert!(valid_prefix("vizcast"));
        assert!(valid_prefix("lab.vizcast"));
        assert!(!valid_prefix(""));
        assert!(!valid_prefix("a..b"));
        assert!(!valid_prefix("a.*"));
        assert!(!valid_prefix("a b"));
        assert_eq!(jetstream_name("vizcast"), "VIZCAST");
        assert_eq!(jetstream_name("lab.viz-cast"), "LAB_VIZ-CAST");
    }
}
