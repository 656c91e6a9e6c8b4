//! A fast path for the large number arrays of `points` and `line` given as JSON text.
//!
//! The serde pass costs about 65 ns a point (`[x, y, z]`): a visitor call, a sequence access and
//! a number parse per coordinate. Before that pass, [`prepare`] walks the message's top-level keys
//! up to the first `points` or `line` (skipping every other value without looking inside), decodes
//! its array of plain numbers with a tight loop of its own, and hands serde the message with that
//! array replaced by a one-byte placeholder. The visitors then take the decoded array instead.
//!
//! The fast path gives up (returns `None`) at anything it does not handle exactly: a key with an
//! escape, a number with more than 18 digits or a power of ten beyond 10^22, a point that is not
//! three numbers, more points than `--max-points`, any syntax error. The message then goes through
//! the serde visitors alone, which remain the reference: what they accept, reject and report is
//! what the fast path must give, number for number (property-tested against them), because each
//! number is built exactly as serde_json builds it (integer significand, one multiplication or
//! division by an exact power of ten) and then narrowed to `f32`.
//!
//! Nothing the fast path skipped is taken on trust: those bytes reach serde unchanged and are
//! validated there; only the decoded arrays are replaced, and they were validated here.

use std::cell::RefCell;
use std::ops::Range;
use std::sync::LazyLock;

/// Messages shorter than this go straight to serde: the walk would cost more than it saves.
const MIN_MESSAGE_BYTES: usize = 512;

/// Points a thread keeps its scratch buffer for between messages (768 KiB).
const SCRATCH_KEEP: usize = 1 << 16;

thread_local! {
    /// Where arrays are decoded before one exact-sized copy: growing the result itself would
    /// reallocate it a dozen times for a large cloud, and fresh memory costs page faults.
    static SCRATCH: RefCell<Vec<[f32; 3]>> = const { RefCell::new(Vec::new()) };
}

/// What replaces a decoded array in the text given to serde.
pub(crate) const PLACEHOLDER: &str = "0";

/// Digits a number may have on the fast path: 18 always fit an `i64`, whose conversion to `f64`
/// is one instruction (the same value as serde_json's `u64` conversion).
const MAX_DIGITS: usize = 18;

/// Exact powers of ten in `f64`, as serde_json's table starts.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Which field the fast path decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Field {
    /// `points`.
    Points,
    /// `line`.
    Line,
}

/// The array decoded ahead of serde, and the message text serde should read instead.
pub(crate) struct Prepared {
    /// The message with the decoded array replaced by [`PLACEHOLDER`].
    pub text: String,
    /// The field whose array was decoded.
    pub field: Field,
    /// The decoded array.
    pub array: Vec<[f32; 3]>,
    /// Where the decoded array was in the original message.
    replaced: Range<usize>,
}

impl Prepared {
    /// Maps a byte offset in [`Prepared::text`] back to the original message.
    pub fn original_offset(&self, offset: usize) -> usize {
        if offset > self.replaced.start {
            offset + self.replaced.len() - PLACEHOLDER.len()
        } else {
            offset
        }
    }
}

/// `"points"` and `"line"` as they appear before a key's colon.
static KEYS: LazyLock<[memchr::memmem::Finder<'static>; 2]> = LazyLock::new(|| {
    [
        memchr::memmem::Finder::new(b"\"points\""),
        memchr::memmem::Finder::new(b"\"line\""),
    ]
});

/// Decodes the message's `points` or `line` array ahead of serde, when it is worth it and the
/// message is plain enough to do so exactly; `None` leaves the whole message to serde.
///
/// A message has one shape, so only the first of the two keys is looked at (a message with both
/// is refused by the visitors, with or without the fast path); the walk stops there.
pub(crate) fn prepare(message: &str, max_points: usize) -> Option<Prepared> {
    let b = message.as_bytes();
    if b.len() < MIN_MESSAGE_BYTES || KEYS.iter().all(|key| key.find(b).is_none()) {
        return None;
    }
    let mut i = ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i = ws(b, i + 1);
    loop {
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let key_end = plain_string_end(b, i)?;
        let key = &b[i + 1..key_end - 1];
        i = ws(b, key_end);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i = ws(b, i + 1);
        let field = match key {
            b"points" => Field::Points,
            b"line" => Field::Line,
            _ => {
                i = ws(b, skip_value(b, i)?);
                match b.get(i) {
                    Some(b',') => i = ws(b, i + 1),
                    _ => return None,
                }
                continue;
            }
        };
        if b.get(i) != Some(&b'[') {
            return None;
        }
        let (end, array) = SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            scratch.clear();
            let end = vec3_array(b, i, max_points, &mut scratch);
            let array = end.map(|_| scratch.to_vec());
            if scratch.capacity() > SCRATCH_KEEP {
                *scratch = Vec::new();
            }
            (end, array)
        });
        let (end, array) = (end?, array?);
        let mut text = String::with_capacity(b.len() - (end - i) + PLACEHOLDER.len());
        text.push_str(&message[..i]);
        text.push_str(PLACEHOLDER);
        text.push_str(&message[end..]);
        return Some(Prepared {
            text,
            field,
            array,
            replaced: i..end,
        });
    }
}

/// Skips JSON whitespace from `i`.
#[inline(always)]
fn ws(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\n' | b'\t' | b'\r') = b.get(i) {
        i += 1;
    }
    i
}

/// The end (past the closing quote) of the string opening at `open`, if it holds no escape.
fn plain_string_end(b: &[u8], open: usize) -> Option<usize> {
    let k = memchr::memchr2(b'"', b'\\', &b[open + 1..])?;
    (b[open + 1 + k] == b'"').then_some(open + k + 2)
}

/// The end of the value starting at `i`, without validating it (serde will).
fn skip_value(b: &[u8], i: usize) -> Option<usize> {
    match *b.get(i)? {
        b'"' => skip_string(b, i),
        b'[' | b'{' => {
            let mut depth = 0usize;
            let mut k = i;
            loop {
                match *b.get(k)? {
                    b'"' => {
                        k = skip_string(b, k)?;
                        continue;
                    }
                    b'[' | b'{' => depth += 1,
                    b']' | b'}' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(k + 1);
                        }
                    }
                    _ => {}
                }
                k += 1;
            }
        }
        _ => {
            let len = b[i..]
                .iter()
                .position(|c| matches!(c, b',' | b'}' | b']' | b' ' | b'\n' | b'\t' | b'\r'))
                .unwrap_or(b.len() - i);
            (len > 0).then_some(i + len)
        }
    }
}

/// The end of the string opening at `open`, escapes included.
fn skip_string(b: &[u8], open: usize) -> Option<usize> {
    let mut i = open + 1;
    loop {
        let k = memchr::memchr2(b'"', b'\\', b.get(i..)?)?;
        if b[i + k] == b'"' {
            return Some(i + k + 1);
        }
        i += k + 2;
    }
}

/// Decodes `[[x, y, z], …]` starting at `open` into `out`; returns the end of the array.
fn vec3_array(b: &[u8], open: usize, max_points: usize, out: &mut Vec<[f32; 3]>) -> Option<usize> {
    let mut i = ws(b, open + 1);
    if b.get(i) == Some(&b']') {
        return Some(i + 1);
    }
    loop {
        if b.get(i) != Some(&b'[') {
            return None;
        }
        let mut p = [0f32; 3];
        i += 1;
        for (k, slot) in p.iter_mut().enumerate() {
            i = ws(b, i);
            let (v, end) = number(b, i)?;
            let v = v as f32;
            if !v.is_finite() {
                return None;
            }
            *slot = v;
            i = ws(b, end);
            let separator = if k == 2 { b']' } else { b',' };
            if b.get(i) != Some(&separator) {
                return None;
            }
            i += 1;
        }
        if out.len() == max_points {
            return None;
        }
        out.push(p);
        i = ws(b, i);
        match b.get(i) {
            Some(b',') => i = ws(b, i + 1),
            Some(b']') => return Some(i + 1),
            _ => return None,
        }
    }
}

/// One JSON number at `i`, built as serde_json builds it; `None` where that would take its slow
/// paths (beyond 18 digits, so the significand converts as an `i64`, a power of ten beyond 10^22) or on a syntax error.
#[inline(always)]
fn number(b: &[u8], mut i: usize) -> Option<(f64, usize)> {
    let negative = b.get(i) == Some(&b'-');
    if negative {
        i += 1;
    }
    let mut significand: u64 = 0;
    let mut digits = 0usize;
    match *b.get(i)? {
        b'0' => i += 1,
        b'1'..=b'9' => i = accumulate(b, i, &mut significand, &mut digits)?,
        _ => return None,
    }
    let mut exponent = 0i32;
    let mut integer = true;
    if b.get(i) == Some(&b'.') {
        integer = false;
        i += 1;
        let start = i;
        i = accumulate(b, i, &mut significand, &mut digits)?;
        if i == start {
            return None;
        }
        exponent = -i32::try_from(i - start).ok()?;
    }
    if let Some(b'e' | b'E') = b.get(i) {
        integer = false;
        i += 1;
        let positive = match b.get(i) {
            Some(b'+') => {
                i += 1;
                true
            }
            Some(b'-') => {
                i += 1;
                false
            }
            _ => true,
        };
        let start = i;
        let mut e = 0i32;
        while let Some(&c @ b'0'..=b'9') = b.get(i) {
            if i - start == 3 {
                return None;
            }
            e = e * 10 + i32::from(c - b'0');
            i += 1;
        }
        if i == start {
            return None;
        }
        exponent += if positive { e } else { -e };
    }
    let value = if integer {
        // serde_json hands integers over as u64, as i64 (the same value once widened to f64), or
        // for `-0` as the float -0.0.
        if negative {
            -(significand as i64 as f64)
        } else {
            significand as i64 as f64
        }
    } else {
        let pow = POW10.get(exponent.unsigned_abs() as usize)?;
        let f = significand as i64 as f64;
        let f = if exponent >= 0 { f * pow } else { f / pow };
        if negative { -f } else { f }
    };
    Some((value, i))
}

/// Adds the digits from `i` to `significand`; `None` past [`MAX_DIGITS`] digits in all.
#[inline(always)]
fn accumulate(b: &[u8], mut i: usize, significand: &mut u64, digits: &mut usize) -> Option<usize> {
    while let Some(&c @ b'0'..=b'9') = b.get(i) {
        if *digits == MAX_DIGITS {
            return None;
        }
        *significand = *significand * 10 + u64::from(c - b'0');
        *digits += 1;
        i += 1;
    }
    Some(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Option<f64> {
        let (v, end) = number(s.as_bytes(), 0)?;
        (end == s.len()).then_some(v)
    }

    #[test]
    fn numbers_are_built_as_serde_json_builds_them() {
        for s in [
            "0",
            "-0",
            "1",
            "-1",
            "0.5",
            "-0.5",
            "1.2345",
            "123456789.123456789",
            "1e5",
            "1E+5",
            "1e-5",
            "-2.5e-3",
            "0.0001",
            "9007199254740993",
            "-0.0",
            "3.4028235e29",
            "1e22",
            "123456789012345678",
            "-0.123456789012345678",
        ] {
            let reference: f64 = serde_json::from_str(s).unwrap();
            let fast = parse(s).unwrap_or_else(|| panic!("{s} takes the fast path"));
            assert_eq!(fast.to_bits(), reference.to_bits(), "{s}");
        }
    }

    #[test]
    fn anything_unusual_is_left_to_serde() {
        for s in [
            "",
            "-",
            "01",
            "1.",
            ".5",
            "1e",
            "1e+",
            "+1",
            "1.2.3",
            "1234567890123456789",
            "0.1234567890123456789",
            "1e23",
            "1e-23",
            "3.4028235e38",
            "1e1000",
            "0x10",
            "NaN",
            "Infinity",
            "1_000",
        ] {
            assert!(parse(s).is_none(), "{s} must go to serde");
        }
    }

    #[test]
    fn the_walk_gives_up_on_escaped_keys_and_bad_structure() {
        let points = "[0.5,1,2],".repeat(60);
        let points = points.trim_end_matches(',');
        let ok = format!(r#"{{"stream":"a","points":[{points}]}}"#);
        let prepared = prepare(&ok, 1_000_000).expect("plain message");
        assert_eq!(prepared.text, r#"{"stream":"a","points":0}"#);
        assert_eq!((prepared.field, prepared.array.len()), (Field::Points, 60));
        assert_eq!(prepared.original_offset(24), ok.len() - 1);
        for bad in [
            format!(r#"{{"stream":"a","poin\u0074s":[{points}]}}"#),
            format!(r#"{{"stream":"a" "points":[{points}]}}"#),
            format!(r#"{{"stream":"a","points":[{points},[1,2]]}}"#),
            format!(r#"{{"stream":"a","points":[{points},]}}"#),
            format!(r#"["stream","points",[{points}]]"#),
        ] {
            assert!(prepare(&bad, 1_000_000).is_none(), "{bad}");
        }
        assert!(
            prepare(&ok, 59).is_none(),
            "over --max-points goes to serde"
        );
    }
}
