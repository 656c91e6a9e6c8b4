//! Unit tests of frame parsing: every message kind, every error, hostile input.

use crate::*;

fn parse(text: &str) -> Vec<Message> {
    parse_frame(text, &Limits::default()).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn reject(text: &str) -> FrameError {
    match parse_frame(text, &Limits::default()) {
        Ok(m) => panic!("accepted {text}: {m:?}"),
        Err(e) => e,
    }
}

fn reject_with(text: &str, expected: &str) {
    let err = reject(text);
    assert!(
        err.message.contains(expected),
        "{text}\n  got:      {}\n  expected: {expected}",
        err.message
    );
}

#[test]
fn scalar_value() {
    let m = parse(r#"{"stream": "robot/arm/joint1", "t": 1732406400.125, "value": 0.53}"#);
    assert_eq!(m.len(), 1);
    assert_eq!(&*m[0].stream, "robot/arm/joint1");
    assert_eq!(m[0].time, Time::At(1732406400.125));
    assert_eq!(
        m[0].scalars,
        vec![Scalar {
            path: "".into(),
            samples: Samples::One(0.53)
        }]
    );
    assert_eq!(m[0].shape, None);
    assert_eq!(m[0].series_name(&m[0].scalars[0]), "robot/arm/joint1");
}

#[test]
fn integers_and_receive_time() {
    let m = parse(r#"{"stream":"a","value":-3}"#);
    assert_eq!(m[0].time, Time::Receive);
    assert_eq!(m[0].scalars[0].samples, Samples::One(-3.0));
}

#[test]
fn values_are_flattened_by_path() {
    let m = parse(r#"{"stream": "imu", "values": {"ax": 0.1, "ay": -9.8, "gyro": {"z": 2}}}"#);
    let names: Vec<String> = m[0].scalars.iter().map(|s| m[0].series_name(s)).collect();
    assert_eq!(names, ["imu/ax", "imu/ay", "imu/gyro/z"]);
    assert_eq!(m[0].scalars[1].samples, Samples::One(-9.8));
}

#[test]
fn columnar_batch() {
    let m = parse(r#"{"stream": "signal", "t": [0.0, 0.001, 0.002], "value": [1.0, 1.2, 0.9]}"#);
    assert_eq!(m[0].time, Time::Columns(vec![0.0, 0.001, 0.002]));
    assert_eq!(
        m[0].scalars[0].samples,
        Samples::Columns(vec![1.0, 1.2, 0.9])
    );
    assert_eq!(m[0].sample_count(), 3);
}

#[test]
fn columnar_values() {
    let m =
        parse(r#"{"stream":"imu","t":[1,2],"values":{"ax":[1,2],"ay":{"f32":"AACAPwAAAEA="}}}"#);
    assert_eq!(m[0].scalars[1].samples, Samples::Columns(vec![1.0, 2.0]));
}

#[test]
fn columnar_lengths_must_match() {
    let t: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
    let v: Vec<String> = (0..999).map(|i| i.to_string()).collect();
    let frame = format!(
        r#"{{"stream":"s","t":[{}],"value":[{}]}}"#,
        t.join(","),
        v.join(",")
    );
    reject_with(&frame, "t and value have different lengths (1000 vs 999)");
    reject_with(
        r#"{"stream":"s","value":[1,2]}"#,
        "value is an array: columnar batches need t",
    );
    reject_with(
        r#"{"stream":"s","t":[1,2],"value":3}"#,
        "t is an array but no value or values array",
    );
    reject_with(
        r#"{"stream":"s","t":[1],"values":{"a":[1,2]}}"#,
        "t and values \"a\" have different lengths (1 vs 2)",
    );
}

#[test]
fn point_cloud() {
    let m = parse(
        r##"{"stream": "lidar", "points": [[0.1, 2.0, 0.5], [0.2, 2.1, 0.4]], "colors": [[1, 0, 0], "#00ff00"], "radius": 0.02}"##,
    );
    let Some(Shape::Points(p)) = &m[0].shape else {
        panic!("{m:?}")
    };
    assert_eq!(p.positions, vec![[0.1, 2.0, 0.5], [0.2, 2.1, 0.4]]);
    assert_eq!(p.colors, Colors::PerPoint(vec![[255, 0, 0], [0, 255, 0]]));
    assert_eq!(p.radius, Some(0.02));
}

#[test]
fn encoded_point_cloud_and_colours() {
    let positions = [0.5f32, 1.0, 1.5, -2.0, 3.25, 4.0];
    let frame = format!(
        r#"{{"stream":"c","points":{{"f32":"{}"}},"colors":{{"u8":"{}"}}}}"#,
        f32_base64(&positions),
        u8_base64(&[1, 2, 3, 4, 5, 6])
    );
    let m = parse(&frame);
    let Some(Shape::Points(p)) = &m[0].shape else {
        panic!()
    };
    assert_eq!(p.positions, vec![[0.5, 1.0, 1.5], [-2.0, 3.25, 4.0]]);
    assert_eq!(p.colors, Colors::PerPoint(vec![[1, 2, 3], [4, 5, 6]]));

    let frame = format!(
        r#"{{"stream":"c","points":{{"f32":"{}"}},"colors":{{"f32":"{}"}}}}"#,
        f32_base64(&positions),
        f32_base64(&[1.0, 0.0, 0.5, 0.0, 1.0, 0.0])
    );
    let Some(Shape::Points(p)) = &parse(&frame)[0].shape else {
        panic!()
    };
    assert_eq!(p.colors, Colors::PerPoint(vec![[255, 0, 128], [0, 255, 0]]));
}

#[test]
fn encoded_times_and_values() {
    let frame = format!(
        r#"{{"stream":"s","t":{{"f64":"{}"}},"value":{{"f32":"{}"}}}}"#,
        f64_base64(&[1.0, 2.0]),
        f32_base64(&[3.0, 4.0])
    );
    let m = parse(&frame);
    assert_eq!(m[0].time, Time::Columns(vec![1.0, 2.0]));
    assert_eq!(m[0].scalars[0].samples, Samples::Columns(vec![3.0, 4.0]));
}

#[test]
fn encoded_array_errors() {
    reject_with(
        r#"{"stream":"c","points":{"f32":"%%%%%%%%%%%%%%%%"}}"#,
        "points.f32: invalid base64",
    );
    reject_with(
        r#"{"stream":"c","points":{"f64":"AAAA"}}"#,
        "points: unknown encoding \"f64\": expected \"f32\"",
    );
    let two_floats = f32_base64(&[1.0, 2.0]);
    reject_with(
        &format!(r#"{{"stream":"c","points":{{"f32":"{two_floats}"}}}}"#),
        "8 bytes is not a whole number of points (12 bytes each)",
    );
    reject_with(
        r#"{"stream":"c","points":{"f32":"AAAAAA==","x":1}}"#,
        "exactly one key",
    );
    reject_with(r#"{"stream":"c","points":{}}"#, "expected an encoded array");
}

#[test]
fn line_strip() {
    let m = parse(
        r##"{"stream": "path", "line": [[0, 0, 0], [1, 0, 0], [1, 1, 0]], "append": true, "color": "#ff8000", "width": 2}"##,
    );
    let Some(Shape::Line(l)) = &m[0].shape else {
        panic!()
    };
    assert_eq!(l.positions.len(), 3);
    assert!(l.append);
    assert_eq!(l.colors, Colors::Uniform([255, 128, 0]));
    assert_eq!(l.width, Some(2.0));
    let m = parse(r#"{"stream": "path", "line": [[0, 0, 0]]}"#);
    let Some(Shape::Line(l)) = &m[0].shape else {
        panic!()
    };
    assert!(!l.append);
}

#[test]
fn text_and_clear() {
    let m = parse(r#"{"stream": "events", "text": "calibration done", "level": "warn"}"#);
    assert_eq!(
        m[0].shape,
        Some(Shape::Text(Text {
            text: "calibration done".into(),
            level: Level::Warn
        }))
    );
    let m = parse(r#"{"stream": "events", "clear": true}"#);
    assert_eq!(m[0].shape, Some(Shape::Clear));
    reject_with(
        r#"{"stream": "events", "clear": false}"#,
        "clear: must be true",
    );
    reject_with(
        r#"{"stream": "e", "text": "x", "level": "loud"}"#,
        "level: expected \"debug\"",
    );
}

#[test]
fn other_numeric_fields_are_plotted_by_path() {
    let m = parse(
        r#"{"stream":"robot","points":[[0,0,0]],"battery":{"volts":12.1,"cells":[3.1,3.0]},"ok":true,"name":"r2","note":null}"#,
    );
    let names: Vec<String> = m[0].scalars.iter().map(|s| m[0].series_name(s)).collect();
    assert_eq!(
        names,
        [
            "robot/battery/volts",
            "robot/battery/cells/0",
            "robot/battery/cells/1",
            "robot/ok"
        ]
    );
    assert_eq!(m[0].scalars[3].samples, Samples::One(1.0));
    assert!(matches!(m[0].shape, Some(Shape::Points(_))));
}

#[test]
fn batches_keep_element_spans() {
    let text = r#" [ {"stream":"a","value":1} ,{"stream":"b","text":"hi"}] "#;
    let m = parse(text);
    assert_eq!(m.len(), 2);
    assert_eq!(&text[m[0].span.clone()], r#"{"stream":"a","value":1}"#);
    assert_eq!(&text[m[1].span.clone()], r#"{"stream":"b","text":"hi"}"#);
    let single = "\n{\"stream\":\"a\",\"value\":1}\r\n";
    assert_eq!(
        &single[parse(single)[0].span.clone()],
        "{\"stream\":\"a\",\"value\":1}"
    );
}

#[test]
fn strings_with_brackets_and_escapes_do_not_confuse_the_batch_splitter() {
    let text = r#"[{"stream":"a","text":"]},[{\"\\"},{"stream":"b","value":2}]"#;
    let m = parse(text);
    assert_eq!(m.len(), 2);
    assert_eq!(
        m[0].shape,
        Some(Shape::Text(Text {
            text: "]},[{\"\\".into(),
            level: Level::Info
        }))
    );
}

#[test]
fn the_errors_say_what_and_where() {
    reject_with(
        r#"{"stream":"l","points":[[0,0,0],[1,1,1],[2,2,2],[3,3]]}"#,
        "points[3]: expected 3 numbers, got 2",
    );
    reject_with(
        r#"{"stream":"l","points":[[0,0,0,0]]}"#,
        "points[0]: expected 3 numbers, got 4",
    );
    reject_with(
        r#"{"stream":"l","points":[[0,"x",0]]}"#,
        "points[0]: invalid type: string \"x\", expected a number",
    );
    reject_with(r#"{"t":1,"value":2}"#, "missing \"stream\"");
    reject_with(
        r#"{"stream":"x","vizcast":"hello","value":1}"#,
        "\"vizcast\" is reserved",
    );
    reject_with(
        r#"{"stream":5,"value":1}"#,
        "stream: invalid type: integer `5`, expected a string",
    );
    reject_with(
        r#"{"stream":"x","value":"high"}"#,
        "value: invalid type: string \"high\"",
    );
    reject_with(
        r#"{"stream":"x","values":{"a":"b"}}"#,
        "values.a: invalid type: string \"b\"",
    );
    reject_with(
        r#"{"stream":"x","value":1,"value":2}"#,
        "duplicate field \"value\"",
    );
    reject_with(r#"{"stream":"x"}"#, "message has no data");
    reject_with(
        r#"{"stream":"x","name":"only text"}"#,
        "message has no data",
    );
    reject_with(
        r#"{"stream":"x","points":[],"line":[]}"#,
        "points and line cannot be combined",
    );
    reject_with(
        r#"{"stream":"x","radius":1,"value":1}"#,
        "radius needs points",
    );
    reject_with(
        r#"{"stream":"x","points":[[0,0,0]],"colors":[]}"#,
        "colors has 0 entries but there are 1 points",
    );
    reject_with(
        r#"{"stream":"x","points":[[0,0,0]],"colors":[[2,0,0]]}"#,
        "colors[0]: colour component 2 is outside 0..1",
    );
    reject_with(
        r#"{"stream":"x","points":[[0,0,0]],"color":"red"}"#,
        "color: \"red\" is not a colour",
    );
    reject_with(
        r#"{"stream":"x","points":[[1e39,0,0]]}"#,
        "points[0]: 1000000000000000000000000000000000000000 is outside the range of f32",
    );
    reject_with(
        r#"{"stream":"x","radius":-1,"points":[]}"#,
        "radius: expected a positive number",
    );
    reject_with(r#"{"stream":"x//y","value":1}"#, "empty path segment");
    reject_with(r#"{"stream":"","value":1}"#, "stream: must not be empty");
    reject_with(
        r#"{"stream":"x","value":1} trailing"#,
        "trailing characters",
    );
    reject_with(r#"{"stream":"x","value":1"#, "EOF while parsing");
    reject_with(
        r#"[{"stream":"a","value":1},{"stream":"b","points":[[1]]}]"#,
        "[1].points[0]: expected 3 numbers, got 1",
    );
    reject_with(
        r#"[{"stream":"a","value":1},{"value":1}]"#,
        "[1]: missing \"stream\"",
    );
    reject_with(
        r#"[{"stream":"a","value":1},[1]]"#,
        "[1]: invalid type: sequence, expected a message object",
    );
    reject_with(r#"[]"#, "empty batch");
    reject_with(r#"[{"stream":"a","value":1},]"#, "empty element in batch");
    reject_with(
        r#"[{"stream":"a","value":1}] x"#,
        "trailing characters after the batch",
    );
    reject_with(r#"[{"stream":"a","value":1}"#, "unexpected end of frame");
    reject_with(r#""just a string""#, "expected a JSON object");
    reject_with("   ", "empty frame");
}

#[test]
fn error_offsets_point_into_the_frame() {
    let text = r#"[{"stream":"a","value":1},{"stream":"b","points":[[1,2]]}]"#;
    let err = reject(text);
    let offset = err.offset.expect("offset");
    assert!(offset > 26 && offset <= text.len(), "{offset}");
}

#[test]
fn oversized_frames_are_refused_before_parsing() {
    let limits = Limits {
        max_frame_bytes: 1024,
        ..Limits::default()
    };
    let frame = format!(r#"{{"stream":"a","text":"{}"}}"#, "x".repeat(2000));
    let err = parse_frame(&frame, &limits).unwrap_err();
    assert_eq!(err.kind, FrameErrorKind::TooLarge);
    assert_eq!(
        err.message,
        "frame of 2.0 KiB exceeds --max-frame-bytes (1 KiB)"
    );
    let err = FrameError::too_large(20 * 1024 * 1024, 16 * 1024 * 1024);
    assert_eq!(
        err.message,
        "frame of 20 MiB exceeds --max-frame-bytes (16 MiB)"
    );
}

#[test]
fn deep_nesting_is_refused_without_recursing() {
    let depth = 100_000;
    let batch = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let err = reject(&batch);
    assert_eq!(err.message, "nesting deeper than 64");
    assert_eq!(err.kind, FrameErrorKind::Limit);

    let field = format!(
        r#"{{"stream":"x","deep":{}1{}}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let err = reject(&field);
    assert!(
        err.message.ends_with("nesting deeper than 64"),
        "{}",
        err.message
    );
    assert!(err.message.starts_with("deep"), "{}", err.message);

    let objects = format!(
        r#"{{"stream":"x","values":{}1{}}}"#,
        r#"{"a":"#.repeat(depth),
        "}".repeat(depth)
    );
    assert_eq!(reject(&objects).message, "values: nesting deeper than 64");

    // Just under the limit is fine.
    let ok = format!(
        r#"{{"stream":"x","deep":{}1{}}}"#,
        "[".repeat(62),
        "]".repeat(62)
    );
    assert_eq!(parse(&ok)[0].scalars.len(), 1);
}

#[test]
fn limits_on_points_fields_and_names() {
    let limits = Limits {
        max_points: 2,
        max_fields: 3,
        max_stream_name_bytes: 10,
        ..Limits::default()
    };
    let err = parse_frame(
        r#"{"stream":"x","points":[[0,0,0],[0,0,0],[0,0,0]]}"#,
        &limits,
    )
    .unwrap_err();
    assert_eq!(
        err.message,
        "points: more than 2 points in one message (--max-points)"
    );
    assert_eq!(err.kind, FrameErrorKind::Limit);
    let err = parse_frame(r#"{"stream":"x","a":[1,2,3,4]}"#, &limits).unwrap_err();
    assert!(
        err.message.contains("more than 3 scalar fields"),
        "{}",
        err.message
    );
    let err = parse_frame(r#"{"stream":"abcdefghijk","value":1}"#, &limits).unwrap_err();
    assert!(
        err.message.contains("longer than 10 bytes"),
        "{}",
        err.message
    );
    let err = parse_frame(r#"{"stream":"abc","values":{"defghijk":1}}"#, &limits).unwrap_err();
    assert!(
        err.message
            .contains("\"abc/defghijk\" is longer than 10 bytes"),
        "{}",
        err.message
    );
    let big = f32_base64(&[0.0; 9]);
    let err = parse_frame(
        &format!(r#"{{"stream":"x","points":{{"f32":"{big}"}}}}"#),
        &limits,
    )
    .unwrap_err();
    assert!(
        err.message.contains("more than 2 points"),
        "{}",
        err.message
    );
}

#[test]
fn every_accepted_frame_is_valid_json_and_nothing_panics() {
    // A small deterministic fuzz: mutate valid frames byte by byte; the parser must never panic, and
    // whatever it accepts must be valid JSON (it is forwarded to browsers verbatim).
    let seeds = [
        r##"[{"stream":"a","t":[1,2],"value":[3,4]},{"stream":"b","points":[[0,1,2]],"colors":["#ff0000"]}]"##,
        r#"{"stream":"imu","values":{"ax":0.1,"g":{"z":[1,2]}},"x":[true,null,"s"]}"#,
        r#"{"stream":"p","line":{"f32":"AACAPwAAAEAAAEBA"},"append":true,"text2":"a\"b"}"#,
    ];
    let seeds = seeds.map(str::to_owned);
    let bytes = b"[]{},:\"\\ 0123456789.eE+-truefalsn#/ab";
    let mut accepted = 0;
    for (_, text) in mutated(&seeds, 20_000, bytes, 0x9e37_79b9_7f4a_7c15, 1) {
        let text = text.as_str();
        if parse_frame(text, &Limits::default()).is_ok() {
            accepted += 1;
            assert!(
                serde_json::from_str::<serde_json::Value>(text).is_ok(),
                "accepted invalid JSON: {text}"
            );
        }
    }
    assert!(
        accepted > 100,
        "the mutations should leave some frames valid ({accepted})"
    );
}

#[test]
fn the_number_array_fast_path_matches_the_serde_visitors() {
    // Frames large enough for the fast path, in the ways producers write numbers; each is mutated
    // byte by byte, and the fast path must give exactly what the serde visitors alone give:
    // the same messages, number for number, or the same error at the same offset.
    let mut points = String::new();
    let mut pretty = String::new();
    for i in 0..64 {
        let x = f64::from(i) * 0.37 - 11.0;
        let sep = if i > 0 { "," } else { "" };
        points.push_str(&format!("{sep}[{x:.4},{:.6},{}]", x * x * -0.01, i % 7));
        pretty.push_str(&format!(
            "{sep}\n    [ {x:e} , -{:.16} ,\t{}e-3 ]",
            f64::from(i) / 3.0,
            i * 11
        ));
    }
    let seeds = [
        format!(r#"{{"stream":"lidar","t":12.5,"points":[{points}],"radius":0.05}}"#),
        format!("{{\n  \"points\" : [{pretty}\n  ],\n  \"stream\" : \"p\\\"q\"\n}}"),
        format!(r#"{{"stream":"path","x":{{"a":[1,"]"]}},"line":[{points}],"append":false}}"#),
        format!(
            r#"[{{"stream":"a","points":[{points}],"line":[[0,0,0]]}},{{"stream":"b","line":[{points}]}}]"#
        ),
        format!(r#"{{"stream":"dup","points":[{points}],"points":[[1,2,3]]}}"#),
        format!(r#"{{"stream":"big","points":[{points},[1e22,-1e-22,12345678901234567890]]}}"#),
    ];
    for (i, seed) in seeds.iter().enumerate() {
        let fast = fast::prepare(seed, usize::MAX).is_some();
        // The batch goes message by message; the last seed has a 20-digit number: serde's alone.
        assert_eq!(fast, i != 3 && i != 5, "fast path taken for seed {i}");
    }
    let ours = Limits::default();
    let exact = Limits {
        max_points: 64,
        ..Limits::default()
    };
    let bytes = b"[]{},:\"\\ \n0123456789.eE+-#ab";
    let (mut accepted, mut rejected) = (0, 0);
    for (round, text) in mutated(&seeds, 6_000, bytes, 0x2545_f491_4f6c_dd1d, 0) {
        let text = text.as_str();
        let limits = if round % 5 == 0 { &exact } else { &ours };
        let fast = parse::parse_frame_with_fast_path(text, limits, true);
        let reference = parse::parse_frame_with_fast_path(text, limits, false);
        match (&fast, &reference) {
            (Ok(a), Ok(b)) => {
                accepted += 1;
                assert_eq!(format!("{a:?}"), format!("{b:?}"), "{text}");
            }
            (Err(a), Err(b)) => {
                rejected += 1;
                assert_eq!(
                    (&a.message, a.offset, a.kind),
                    (&b.message, b.offset, b.kind),
                    "{text}"
                );
            }
            _ => panic!("fast {fast:?}\nreference {reference:?}\n{text}"),
        }
    }
    assert!(
        accepted > 1_000 && rejected > 1_000,
        "{accepted} accepted, {rejected} rejected"
    );
}

/// Frames made from `seeds` by `edits(round)` random byte edits each (replace, remove, insert a
/// byte of `alphabet`), deterministic; frames that are no longer UTF-8 are left out.
fn mutated<'a>(
    seeds: &'a [String],
    rounds: usize,
    alphabet: &'a [u8],
    mut state: u64,
    min_edits: u64,
) -> impl Iterator<Item = (usize, String)> + 'a {
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..rounds).filter_map(move |round| {
        let mut frame = seeds[round % seeds.len()].as_bytes().to_vec();
        for _ in 0..min_edits + next() % 3 {
            let at = (next() as usize) % frame.len();
            match next() % 3 {
                0 => frame[at] = alphabet[(next() as usize) % alphabet.len()],
                1 => {
                    frame.remove(at);
                }
                _ => frame.insert(at, alphabet[(next() as usize) % alphabet.len()]),
            }
        }
        String::from_utf8(frame).ok().map(|text| (round, text))
    })
}

fn b64(bytes: &[u8]) -> String {
    u8_base64(bytes)
}

fn image_of(m: &[Message]) -> &Image {
    match &m[0].shape {
        Some(Shape::Image(image)) => image,
        other => panic!("not an image: {other:?}"),
    }
}

#[test]
fn encoded_images_give_their_size_and_the_place_of_their_base64() {
    let jpeg = image::tests::jpeg(1920, 1080, 3);
    let frame = format!(
        r#"{{"stream":"cam/front","t":2.5,"image":{{"jpeg":"{}"}}}}"#,
        b64(&jpeg)
    );
    let m = parse(&frame);
    let image = image_of(&m);
    assert_eq!(image.encoding, ImageEncoding::Jpeg);
    assert_eq!((image.width, image.height, image.channels), (1920, 1080, 3));
    assert_eq!(image.data_in(&frame), b64(&jpeg));
    assert_eq!(image.bytes, jpeg.len());
    assert_eq!(m[0].time, Time::At(2.5));
    assert_eq!(m[0].shape.as_ref().unwrap().kind(), Kind::Image);

    // In a batch, after a fast-path cloud, with spaces: the place is still the frame's.
    let png = image::tests::png(64, 48, 6);
    let cloud: Vec<String> = (0..40).map(|i| format!("[{i},0,0]")).collect();
    let frame = format!(
        r#"[{{"stream":"c","points":[{}]}}, {{ "stream" : "cam/png" , "image" : {{ "png" : "{}" }} }}]"#,
        cloud.join(","),
        b64(&png)
    );
    let m = parse(&frame);
    let image = match &m[1].shape {
        Some(Shape::Image(image)) => image,
        other => panic!("{other:?}"),
    };
    assert_eq!((image.width, image.height, image.channels), (64, 48, 4));
    assert_eq!(image.data_in(&frame), b64(&png));
}

#[test]
fn raw_images_and_heatmaps() {
    let pixels: Vec<f32> = (0..12).map(|i| i as f32).collect();
    let frame = format!(
        r#"{{"stream":"heat","image":{{"shape":[3,4],"f32":"{}","colormap":"turbo","range":[0,11]}}}}"#,
        f32_base64(&pixels)
    );
    let m = parse(&frame);
    let image = image_of(&m);
    assert_eq!(image.encoding, ImageEncoding::Raw(PixelType::F32));
    assert_eq!((image.width, image.height, image.channels), (4, 3, 1));
    assert_eq!(image.colormap, Some(Colormap::Turbo));
    assert_eq!(image.range, Some([0.0, 11.0]));
    assert_eq!(image.bytes, 48);

    let rgb = parse(&format!(
        r#"{{"stream":"c","image":{{"shape":[2,2,3],"u8":"{}"}}}}"#,
        b64(&[0; 12])
    ));
    assert_eq!(image_of(&rgb).channels, 3);
    let depth = parse(&format!(
        r#"{{"stream":"d","image":{{"u16":"{}","shape":[2,3]}}}}"#,
        b64(&[0; 12])
    ));
    assert_eq!(
        image_of(&depth).encoding,
        ImageEncoding::Raw(PixelType::U16)
    );
    assert_eq!(image_of(&depth).colormap, None);
}

#[test]
fn hostile_images_are_refused_with_the_reason() {
    let jpeg = image::tests::jpeg(640, 480, 3);
    let cut = &jpeg[..jpeg.len() - 2];
    reject_with(
        &format!(r#"{{"stream":"c","image":{{"jpeg":"{}"}}}}"#, b64(cut)),
        "image.jpeg: a JPEG that does not end with its EOI marker",
    );
    let mut lying = image::tests::png(64, 64, 2);
    lying[19] = 0x7f;
    reject_with(
        &format!(r#"{{"stream":"c","image":{{"png":"{}"}}}}"#, b64(&lying)),
        "fails its CRC",
    );
    reject_with(
        &format!(
            r#"{{"stream":"c","image":{{"shape":[4,4],"u8":"{}"}}}}"#,
            b64(&[0; 15])
        ),
        "image.u8: 15 bytes, but shape [4, 4] of u8 needs 16",
    );
    reject_with(
        r#"{"stream":"c","image":{"shape":[0,4],"u8":""}}"#,
        "an image of 4×0 pixels",
    );
    let huge = reject(r#"{"stream":"c","image":{"shape":[100000,100000],"u8":"AAAA"}}"#);
    assert_eq!(huge.kind, FrameErrorKind::Limit);
    assert!(
        huge.message.contains("--max-image-pixels"),
        "{}",
        huge.message
    );
    let huge_jpeg = image::tests::jpeg(65535, 65535, 3);
    let err = reject(&format!(
        r#"{{"stream":"c","image":{{"jpeg":"{}"}}}}"#,
        b64(&huge_jpeg)
    ));
    assert_eq!(err.kind, FrameErrorKind::Limit);
    reject_with(
        r#"{"stream":"c","image":{"jpeg":"not base64!"}}"#,
        "image.jpeg: invalid base64",
    );
    reject_with(
        r#"{"stream":"c","image":{"shape":[1,2],"u8":"A!A="}}"#,
        "image.u8: invalid base64",
    );
    reject_with(
        r#"{"stream":"c","image":{"gif":"R0lGODlh"}}"#,
        "unknown field \"gif\" in an image",
    );
    reject_with(
        &format!(r#"{{"stream":"c","image":{{"png":"{}"}}}}"#, b64(&jpeg)),
        "image.png: not a PNG",
    );
    reject_with(
        r#"{"stream":"c","image":{"shape":[1,1,3],"u16":"AAAAAAAA"}}"#,
        "3 channels of u16 (expected 1: mono)",
    );
    reject_with(
        r#"{"stream":"c","image":{"shape":[1,1],"u8":"AA==","colormap":"jet"}}"#,
        "unknown colormap \"jet\"",
    );
    reject_with(
        r#"{"stream":"c","image":{"shape":[1,1],"u8":"AA==","range":[1,1]}}"#,
        "min < max",
    );
    reject_with(
        r#"{"stream":"c","image":{"shape":[1,1,3],"u8":"AAAA","colormap":"gray"}}"#,
        "colormap and range are for one-channel raw pixels",
    );
    reject_with(
        r#"{"stream":"c","image":{"shape":[1,1]}}"#,
        "an image needs its data",
    );
    reject_with(
        r#"{"stream":"c","image":{"shape":[1,1],"u8":"AA==","f32":"AAAAAA=="}}"#,
        "an image has one kind of data",
    );
    reject_with(
        r#"{"stream":"c","image":{"u8":"AA=="}}"#,
        "raw pixels (u8) need \"shape\"",
    );
    reject_with(
        r#"{"stream":"c","image":{"shape":[1,1],"u8":"A\/=="}}"#,
        "without JSON escapes",
    );
    reject_with(
        r#"{"stream":"c","points":[[0,0,0]],"image":{"shape":[1,1],"u8":"AA=="}}"#,
        "points and image cannot be combined",
    );
    reject_with(r#"{"stream":"c","image":"abc"}"#, "image");
}

#[test]
fn the_pixel_limit_is_configurable() {
    let limits = Limits {
        max_image_pixels: 4,
        ..Limits::default()
    };
    let ok = format!(
        r#"{{"stream":"c","image":{{"shape":[2,2],"u8":"{}"}}}}"#,
        b64(&[0; 4])
    );
    assert!(parse_frame(&ok, &limits).is_ok());
    let over = format!(
        r#"{{"stream":"c","image":{{"shape":[1,5],"u8":"{}"}}}}"#,
        b64(&[0; 5])
    );
    let err = parse_frame(&over, &limits).unwrap_err();
    assert_eq!(err.kind, FrameErrorKind::Limit);
}
