//! What each kind of vizcast message becomes, checked on the JSON the translator writes.

use base64_simd::STANDARD;
use serde_json::{Value, json};
use vizcast_protocol::{Limits, f32_base64, parse_frame, u8_base64};

use crate::payload::{COLORED_POINT_STRIDE, NUMERIC_FLOAT32, NUMERIC_UINT8, POINT_STRIDE};
use crate::{ChannelChange, ChannelId, ChannelKind, Translated, Translator, TranslatorOptions};

const LOG_TIME: u64 = 1_732_406_400_500_000_000;

fn translate(translator: &mut Translator, frame: &str) -> Vec<Translated> {
    let messages = parse_frame(frame, &Limits::default()).unwrap();
    translator.translate(frame, &messages, LOG_TIME)
}

fn body(message: &Translated) -> Value {
    serde_json::from_str(&message.payload).unwrap()
}

fn topic(translator: &Translator, message: &Translated) -> String {
    translator.channel(message.channel).unwrap().topic.clone()
}

/// The points of a `foxglove.PointCloud` body: (x, y, z, rgba) per point, read through its
/// `fields` and `point_stride` as a reader of the schema would.
fn decode_cloud(cloud: &Value) -> Vec<([f32; 3], Option<[u8; 4]>)> {
    let stride = cloud["point_stride"].as_u64().unwrap() as usize;
    let data = STANDARD
        .decode_to_vec(cloud["data"].as_str().unwrap())
        .unwrap();
    assert_eq!(data.len() % stride, 0, "whole points");
    let offset = |name: &str, kind: u8| {
        cloud["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .map(|f| {
                assert_eq!(f["type"], kind, "{name}");
                f["offset"].as_u64().unwrap() as usize
            })
    };
    let xyz = ["x", "y", "z"].map(|n| offset(n, NUMERIC_FLOAT32).unwrap());
    let rgba = ["red", "green", "blue", "alpha"].map(|n| offset(n, NUMERIC_UINT8));
    data.chunks_exact(stride)
        .map(|point| {
            let f = |o: usize| f32::from_le_bytes(point[o..o + 4].try_into().unwrap());
            let color = rgba
                .iter()
                .all(Option::is_some)
                .then(|| rgba.map(|o| point[o.unwrap()]));
            (xyz.map(f), color)
        })
        .collect()
}

#[test]
fn a_value_becomes_a_sample_with_its_time() {
    let mut translator = Translator::default();
    let out = translate(
        &mut translator,
        r#"{"stream": "robot/arm/joint1", "t": 1732406400.125, "value": 0.53}"#,
    );
    assert_eq!(out.len(), 1);
    assert_eq!(topic(&translator, &out[0]), "/robot/arm/joint1");
    assert_eq!(
        body(&out[0]),
        json!({ "timestamp": { "sec": 1_732_406_400_u64, "nsec": 125_000_000 }, "value": 0.53 })
    );
    assert_eq!(out[0].log_time_ns, LOG_TIME);
    assert_eq!(out[0].time_ns, 1_732_406_400_125_000_000);
    let channel = translator.channel(out[0].channel).unwrap();
    assert_eq!(channel.kind, ChannelKind::Scalars);
    assert_eq!(channel.schema_name, "vizcast.Scalars/robot/arm/joint1");
    assert_eq!(channel.encoding, "json");
    assert_eq!(channel.schema_encoding, "jsonschema");
    let schema: Value = serde_json::from_str(&channel.schema).unwrap();
    assert_eq!(schema["properties"]["value"]["type"], "number");

    // Without `t`, the log time.
    let out = translate(&mut translator, r#"{"stream": "temperature", "value": 21}"#);
    assert_eq!(out[0].time_ns, LOG_TIME);
    assert_eq!(
        body(&out[0])["timestamp"],
        json!({ "sec": 1_732_406_400_u64, "nsec": 500_000_000 })
    );
}

#[test]
fn values_and_other_fields_become_nested_numeric_fields() {
    let mut translator = Translator::default();
    let out = translate(
        &mut translator,
        r#"{"stream": "imu", "t": 1, "values": {"ax": 0.1, "ay": -9.8, "gyro": {"z": 0.5}}}"#,
    );
    assert_eq!(
        body(&out[0]),
        json!({
            "timestamp": { "sec": 1, "nsec": 0 },
            "ax": 0.1, "ay": -9.8, "gyro": { "z": 0.5 },
        })
    );
    let out = translate(
        &mut translator,
        r#"{"stream": "robot", "t": 2, "battery": {"volts": 12.1, "cells": [3.1, 3.0]}, "enabled": true, "name": "r2"}"#,
    );
    assert_eq!(
        body(&out[0]),
        json!({
            "timestamp": { "sec": 2, "nsec": 0 },
            "battery": { "volts": 12.1, "cells": { "0": 3.1, "1": 3.0 } },
            "enabled": 1.0,
        })
    );
    let channel = translator.channel(out[0].channel).unwrap();
    let schema: Value = serde_json::from_str(&channel.schema).unwrap();
    let battery = &schema["properties"]["battery"];
    assert_eq!(battery["properties"]["volts"]["type"], "number");
    assert_eq!(
        battery["properties"]["cells"]["properties"]["1"]["type"],
        "number"
    );
}

#[test]
fn a_columnar_batch_becomes_one_message_per_sample_spread_back_from_the_log_time() {
    let mut translator = Translator::default();
    let out = translate(
        &mut translator,
        r#"{"stream": "imu", "t": [10.0, 10.01, 10.02], "values": {"ax": [0.1, 0.2, 0.3]}, "temp": 20}"#,
    );
    assert_eq!(out.len(), 3);
    let bodies: Vec<Value> = out.iter().map(body).collect();
    assert_eq!(
        bodies[0],
        json!({ "timestamp": { "sec": 10, "nsec": 0 }, "ax": 0.1 })
    );
    assert_eq!(bodies[1]["ax"], 0.2);
    assert_eq!(
        bodies[2],
        json!({ "timestamp": { "sec": 10, "nsec": 20_000_000 }, "ax": 0.3, "temp": 20.0 }),
        "fields that are not columns take the batch's last time"
    );
    assert_eq!(out[2].log_time_ns, LOG_TIME);
    assert_eq!(out[1].log_time_ns, LOG_TIME - 10_000_000);
    assert_eq!(out[0].log_time_ns, LOG_TIME - 20_000_000);
    assert_eq!(out[1].time_ns, 10_010_000_000);

    // An empty batch has no sample.
    let out = translate(
        &mut translator,
        r#"{"stream": "imu", "t": [], "values": {"ax": []}}"#,
    );
    assert_eq!(out, []);

    // The f64 encoding, and non-finite samples left out (JSON has no NaN).
    let ts = vizcast_protocol::f64_base64(&[1.0, 2.0]);
    let vs = vizcast_protocol::f64_base64(&[f64::NAN, 4.0]);
    let out = translate(
        &mut translator,
        &format!(r#"{{"stream": "s", "t": {{"f64": "{ts}"}}, "value": {{"f64": "{vs}"}}}}"#),
    );
    assert_eq!(
        out.iter().map(body).collect::<Vec<_>>(),
        [
            json!({ "timestamp": { "sec": 1, "nsec": 0 } }),
            json!({ "timestamp": { "sec": 2, "nsec": 0 }, "value": 4.0 }),
        ]
    );
}

#[test]
fn a_series_seen_later_grows_the_schema_and_says_so() {
    let mut translator = Translator::default();
    translate(&mut translator, r#"{"stream": "imu", "values": {"ax": 1}}"#);
    let id = ChannelId(0);
    assert_eq!(translator.take_changes(), [ChannelChange::Added(id)]);
    translate(&mut translator, r#"{"stream": "imu", "values": {"ax": 2}}"#);
    assert_eq!(translator.take_changes(), []);
    translate(
        &mut translator,
        r#"{"stream": "imu", "values": {"ax": 3, "ay": 4}}"#,
    );
    assert_eq!(
        translator.take_changes(),
        [ChannelChange::SchemaChanged(id)]
    );
    let schema: Value = serde_json::from_str(&translator.channel(id).unwrap().schema).unwrap();
    assert_eq!(schema["properties"]["ay"]["type"], "number");
}

#[test]
fn a_cloud_becomes_a_point_cloud_with_the_same_points_exactly() {
    let mut translator = Translator::default();
    let points: Vec<f32> = vec![0.5, 1.0, 1.5, -2.0, 3.25, 4.0, f32::NAN, 1e-30, -0.0];
    let colors: Vec<u8> = vec![1, 2, 3, 4, 5, 6, 250, 251, 252];
    let out = translate(
        &mut translator,
        &format!(
            r#"{{"stream": "lidar", "t": 3.5, "points": {{"f32": "{}"}}, "colors": {{"u8": "{}"}}, "radius": 0.02}}"#,
            f32_base64(&points),
            u8_base64(&colors)
        ),
    );
    assert_eq!(out.len(), 1);
    assert_eq!(topic(&translator, &out[0]), "/lidar");
    let channel = translator.channel(out[0].channel).unwrap();
    assert_eq!(channel.schema_name, "foxglove.PointCloud");
    assert_eq!(channel.schema, crate::schema::POINT_CLOUD_SCHEMA);
    let cloud = body(&out[0]);
    assert_eq!(cloud["timestamp"], json!({ "sec": 3, "nsec": 500_000_000 }));
    assert_eq!(cloud["frame_id"], "world");
    assert_eq!(
        cloud["pose"],
        json!({ "position": { "x": 0.0, "y": 0.0, "z": 0.0 }, "orientation": { "x": 0.0, "y": 0.0, "z": 0.0, "w": 1.0 } })
    );
    assert_eq!(cloud["point_stride"], COLORED_POINT_STRIDE);
    let data = STANDARD
        .decode_to_vec(cloud["data"].as_str().unwrap())
        .unwrap();
    assert_eq!(data.len(), 3 * COLORED_POINT_STRIDE as usize);
    let decoded = decode_cloud(&cloud);
    assert_eq!(decoded.len(), 3);
    for (i, (xyz, rgba)) in decoded.iter().enumerate() {
        let want = &points[i * 3..i * 3 + 3];
        // Bit for bit: NaN and -0.0 included.
        assert_eq!(
            xyz.map(f32::to_bits),
            [want[0], want[1], want[2]].map(f32::to_bits),
            "point {i}"
        );
        assert_eq!(
            rgba.unwrap(),
            [colors[i * 3], colors[i * 3 + 1], colors[i * 3 + 2], 255]
        );
    }
}

#[test]
fn clouds_without_colours_have_xyz_only_and_one_colour_is_repeated() {
    let mut translator = Translator::default();
    let out = translate(
        &mut translator,
        r#"{"stream": "plain", "points": [[0.1, 2.0, 0.5], [0.2, 2.1, 0.4]]}"#,
    );
    let cloud = body(&out[0]);
    assert_eq!(cloud["point_stride"], POINT_STRIDE);
    assert_eq!(cloud["fields"].as_array().unwrap().len(), 3);
    let decoded = decode_cloud(&cloud);
    assert_eq!(
        decoded,
        [([0.1, 2.0, 0.5], None), ([0.2, 2.1, 0.4], None)],
        "f32 as parsed"
    );

    let out = translate(
        &mut translator,
        r##"{"stream": "obstacles", "points": [[1, 1, 0], [2, 1, 0]], "color": "#f97316"}"##,
    );
    let decoded = decode_cloud(&body(&out[0]));
    assert_eq!(
        decoded,
        [
            ([1.0, 1.0, 0.0], Some([0xf9, 0x73, 0x16, 255])),
            ([2.0, 1.0, 0.0], Some([0xf9, 0x73, 0x16, 255])),
        ]
    );

    let out = translate(&mut translator, r#"{"stream": "empty", "points": []}"#);
    let cloud = body(&out[0]);
    assert_eq!(cloud["data"], "");
    assert!(decode_cloud(&cloud).is_empty());
}

/// The one line primitive of a `foxglove.SceneUpdate` body.
fn strip(update: &Value) -> &Value {
    let entities = update["entities"].as_array().unwrap();
    assert_eq!(entities.len(), 1);
    let lines = entities[0]["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 1);
    &lines[0]
}

fn points_of(line: &Value) -> Vec<[f64; 3]> {
    line["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| ["x", "y", "z"].map(|c| p[c].as_f64().unwrap()))
        .collect()
}

#[test]
fn a_line_becomes_a_scene_update_with_the_whole_strip() {
    let mut translator = Translator::default();
    let out = translate(
        &mut translator,
        r##"{"stream": "path", "t": 1, "line": [[0, 0, 0], [1, 0, 0]], "color": "#ff0000", "width": 3}"##,
    );
    assert_eq!(topic(&translator, &out[0]), "/path");
    let channel = translator.channel(out[0].channel).unwrap();
    assert_eq!(channel.schema_name, "foxglove.SceneUpdate");
    let update = body(&out[0]);
    assert_eq!(update["deletions"], json!([]));
    let entity = &update["entities"][0];
    assert_eq!(entity["id"], "path");
    assert_eq!(entity["frame_id"], "world");
    assert_eq!(entity["timestamp"], json!({ "sec": 1, "nsec": 0 }));
    assert_eq!(entity["lifetime"], json!({ "sec": 0, "nsec": 0 }));
    let line = strip(&update);
    assert_eq!(line["type"], 0, "LINE_STRIP");
    assert_eq!(line["thickness"], 3.0);
    assert_eq!(
        line["scale_invariant"], true,
        "vizcast's width is in pixels"
    );
    assert_eq!(
        line["color"],
        json!({ "r": 1.0, "g": 0.0, "b": 0.0, "a": 1.0 })
    );
    assert_eq!(line["colors"], json!([]));
    assert_eq!(points_of(line), [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]);

    // An append extends the strip; every message holds all of it.
    let out = translate(
        &mut translator,
        r##"{"stream": "path", "t": 2, "line": [[1, 1, 0]], "append": true, "color": "#00ff00"}"##,
    );
    let update = body(&out[0]);
    let line = strip(&update);
    assert_eq!(
        points_of(line),
        [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0]]
    );
    assert_eq!(line["thickness"], 3.0, "the width stays");
    let colors: Vec<f64> = line["colors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["g"].as_f64().unwrap())
        .collect();
    assert_eq!(
        colors,
        [0.0, 0.0, 1.0],
        "one colour per vertex once they differ"
    );

    // A new base replaces it; without a colour, the viewers' orange; non-finite vertices skipped.
    let out = translate(
        &mut translator,
        r#"{"stream": "path", "line": {"f32": "AAAAPwAAgD8AAMA/AADAfwAAAAAAAAAA"}}"#,
    );
    let update = body(&out[0]);
    let line = strip(&update);
    assert_eq!(points_of(line), [[0.5, 1.0, 1.5]]);
    assert_eq!(line["thickness"], f64::from(crate::DEFAULT_LINE_WIDTH));
    let orange = crate::payload::Color::from_rgb8(crate::DEFAULT_LINE_COLOR);
    assert_eq!(line["color"]["r"].as_f64().unwrap() as f32, orange.r);
}

#[test]
fn a_strip_is_bounded_and_drops_its_oldest_vertices() {
    let mut translator = Translator::new(TranslatorOptions {
        max_line_vertices: 16,
    });
    for i in 0..20 {
        translate(
            &mut translator,
            &format!(r#"{{"stream": "p", "line": [[{i}, 0, 0]], "append": true}}"#),
        );
    }
    let out = translate(
        &mut translator,
        r#"{"stream": "p", "line": [[20, 0, 0]], "append": true}"#,
    );
    let update = body(&out[0]);
    let xs: Vec<f64> = points_of(strip(&update)).iter().map(|p| p[0]).collect();
    assert!(xs.len() <= 16 && xs.len() >= 14, "{xs:?}");
    assert_eq!(xs.last(), Some(&20.0), "the newest stay");
    assert!(
        xs.windows(2).all(|w| w[1] == w[0] + 1.0),
        "in order: {xs:?}"
    );
}

#[test]
fn a_text_becomes_a_log_with_foxgloves_levels() {
    let mut translator = Translator::default();
    let levels = [("debug", 1), ("info", 2), ("warn", 3), ("error", 4)];
    for (level, expected) in levels {
        let out = translate(
            &mut translator,
            &format!(
                r#"{{"stream": "events", "t": 7.25, "text": "é ☃ {level}", "level": "{level}"}}"#
            ),
        );
        assert_eq!(
            body(&out[0]),
            json!({
                "timestamp": { "sec": 7, "nsec": 250_000_000 },
                "level": expected,
                "message": format!("é ☃ {level}"),
                "name": "events",
                "file": "",
                "line": 0,
            })
        );
    }
    let out = translate(&mut translator, r#"{"stream": "events", "text": "plain"}"#);
    assert_eq!(body(&out[0])["level"], 2, "info by default");
    let channel = translator.channel(out[0].channel).unwrap();
    assert_eq!(channel.schema_name, "foxglove.Log");
    assert_eq!(channel.topic, "/events");
    assert_eq!(translator.channels().len(), 1);
}

#[test]
fn a_clear_deletes_the_lines_and_empties_the_clouds_at_and_below_its_stream() {
    let mut translator = Translator::default();
    translate(
        &mut translator,
        r#"[{"stream": "robot/path", "line": [[0, 0, 0], [1, 1, 1]]},
            {"stream": "robot/cloud", "points": [[0, 0, 0]], "colors": [[1, 0, 0]]},
            {"stream": "robot", "value": 1},
            {"stream": "robot/log", "text": "x"},
            {"stream": "robots/path", "line": [[0, 0, 0]]}]"#,
    );
    let out = translate(&mut translator, r#"{"stream": "robot", "clear": true}"#);
    let by_topic: Vec<(String, Value)> = out
        .iter()
        .map(|m| (topic(&translator, m), body(m)))
        .collect();
    assert_eq!(by_topic.len(), 2, "{by_topic:?}");
    assert_eq!(by_topic[0].0, "/robot/path");
    assert_eq!(
        by_topic[0].1,
        json!({
            "deletions": [{
                "timestamp": { "sec": 1_732_406_400_u64, "nsec": 500_000_000 },
                "type": 0,
                "id": "robot/path",
            }],
            "entities": [],
        })
    );
    assert_eq!(by_topic[1].0, "/robot/cloud");
    assert_eq!(by_topic[1].1["data"], "");
    assert_eq!(
        by_topic[1].1["point_stride"], COLORED_POINT_STRIDE,
        "the layout of the stream's clouds"
    );

    // The strip starts over after a clear.
    let out = translate(
        &mut translator,
        r#"{"stream": "robot/path", "line": [[5, 5, 5]], "append": true}"#,
    );
    assert_eq!(points_of(strip(&body(&out[0]))), [[5.0, 5.0, 5.0]]);
    // A clear of a stream without channels sends nothing.
    assert!(translate(&mut translator, r#"{"stream": "nothing", "clear": true}"#).is_empty());
}

#[test]
fn a_streams_further_kinds_get_topics_of_their_own() {
    let mut translator = Translator::default();
    let out = translate(
        &mut translator,
        r#"{"stream": "robot", "points": [[0, 0, 0]], "battery": 12}"#,
    );
    let topics: Vec<String> = out.iter().map(|m| topic(&translator, m)).collect();
    assert_eq!(topics, ["/robot", "/robot/scalars"]);
    // A stream of that name comes later: the topic is taken, so it gets the next one.
    let out = translate(
        &mut translator,
        r#"{"stream": "robot/scalars", "value": 1}"#,
    );
    assert_eq!(topic(&translator, &out[0]), "/robot/scalars~2");
    let out = translate(&mut translator, r#"{"stream": "robot", "text": "hi"}"#);
    assert_eq!(topic(&translator, &out[0]), "/robot/log");
    let topics: Vec<&str> = translator.channels().map(|c| c.topic.as_str()).collect();
    assert_eq!(
        topics,
        ["/robot", "/robot/scalars", "/robot/scalars~2", "/robot/log"]
    );
}

#[test]
fn a_survey_fixes_the_channels_and_schemas_that_translating_then_uses() {
    let frames = [
        r#"{"stream": "imu", "values": {"ax": 1}}"#,
        r#"{"stream": "cloud", "points": [[0, 0, 0]]}"#,
        r#"{"stream": "imu", "values": {"ax": 1, "ay": 2}}"#,
        r#"{"stream": "x", "clear": true}"#,
    ];
    let texts = frames;
    let frames: Vec<_> = texts
        .iter()
        .map(|f| parse_frame(f, &Limits::default()).unwrap())
        .collect();
    let mut surveyed = Translator::default();
    for frame in &frames {
        surveyed.survey(frame);
    }
    let fixed: Vec<_> = surveyed.channels().cloned().collect();
    assert_eq!(fixed.len(), 2);
    surveyed.take_changes();
    let mut plain = Translator::default();
    for (text, frame) in texts.iter().zip(&frames) {
        let a = surveyed.translate(text, frame, LOG_TIME);
        let b = plain.translate(text, frame, LOG_TIME);
        assert_eq!(a, b, "the same messages");
    }
    assert_eq!(surveyed.take_changes(), [], "nothing new after the survey");
    assert_eq!(surveyed.channels().cloned().collect::<Vec<_>>(), fixed);
    assert_eq!(
        plain.channels().cloned().collect::<Vec<_>>(),
        fixed,
        "same ids, topics and final schemas"
    );
}

#[test]
fn a_channel_serializes_as_a_foxglove_advertisement() {
    let mut translator = Translator::default();
    translate(&mut translator, r#"{"stream": "events", "text": "x"}"#);
    let channel = serde_json::to_value(translator.channel(ChannelId(0)).unwrap()).unwrap();
    assert_eq!(
        channel,
        json!({
            "id": 0,
            "topic": "/events",
            "encoding": "json",
            "schemaName": "foxglove.Log",
            "schema": crate::schema::LOG_SCHEMA,
            "schemaEncoding": "jsonschema",
        })
    );
}

#[test]
fn a_scene_entity_has_every_list_of_primitives_the_schema_requires() {
    let mut translator = Translator::default();
    let out = translate(
        &mut translator,
        r#"{"stream": "path", "line": [[0, 0, 0], [1, 0, 0]]}"#,
    );
    let update = body(&out[0]);
    let entity = &update["entities"][0];
    for list in [
        "metadata",
        "arrows",
        "cubes",
        "spheres",
        "cylinders",
        "triangles",
        "texts",
        "models",
    ] {
        assert_eq!(entity[list], json!([]), "{list}: {entity}");
    }
    assert_eq!(entity["lines"].as_array().map(Vec::len), Some(1));
    assert_eq!(entity["frame_locked"], false);
}

/// Checks `value` against `schema` with the keywords Foxglove's schemas and ours use: `type`,
/// `required`, `properties` (a field not declared is refused too: the apps would not type it),
/// `items`, a `oneOf` of `const`s, `minimum` and `maximum`. Returns the first problem.
fn conforms(schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    if let Some(alternatives) = schema.get("oneOf").and_then(Value::as_array)
        && !alternatives.iter().any(|a| a.get("const") == Some(value))
    {
        return Err(format!("{at}: {value} is none of the constants"));
    }
    let typed = match schema.get("type").and_then(Value::as_str) {
        None => true,
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some("string") => value.is_string(),
        Some("boolean") => value.is_boolean(),
        Some("number") => value.is_number(),
        Some("integer") => value.is_u64() || value.is_i64(),
        Some(other) => return Err(format!("{at}: unknown type {other}")),
    };
    if !typed {
        return Err(format!("{at}: {value} is not of type {}", schema["type"]));
    }
    let bound = |key: &str| schema.get(key).and_then(Value::as_f64);
    if let Some(v) = value.as_f64() {
        if bound("minimum").is_some_and(|m| v < m) {
            return Err(format!("{at}: {v} below the minimum"));
        }
        if bound("maximum").is_some_and(|m| v > m) {
            return Err(format!("{at}: {v} above the maximum"));
        }
    }
    if let Some(object) = value.as_object() {
        let required = schema.get("required").and_then(Value::as_array);
        for name in required.into_iter().flatten() {
            let name = name.as_str().unwrap();
            if !object.contains_key(name) {
                return Err(format!("{at}: `{name}` is required"));
            }
        }
        if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
            for (name, field) in object {
                let Some(field_schema) = properties.get(name) else {
                    return Err(format!("{at}: `{name}` is not declared"));
                };
                conforms(field_schema, field, &format!("{at}.{name}"))?;
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, item) in array.iter().enumerate() {
            conforms(items, item, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

#[test]
fn every_message_has_every_field_its_schema_requires() {
    let mut translator = Translator::default();
    let mut out = translate(
        &mut translator,
        r##"[{"stream": "lidar", "t": 3.5, "points": [[0, 0, 0], [1, 2, 3]], "colors": ["#ff8000", "#0040c0"]},
            {"stream": "plain", "points": [[0.1, 2.0, 0.5]]},
            {"stream": "path", "t": 1, "line": [[0, 0, 0], [1, 0, 0]], "color": "#ff0000", "width": 3},
            {"stream": "path", "line": [[1, 1, 0]], "append": true, "color": "#00ff00"},
            {"stream": "events", "t": 7.25, "text": "é ☃", "level": "warn"},
            {"stream": "imu", "t": [1, 2], "values": {"ax": [0.1, 0.2]}, "temp": 20},
            {"stream": "robot", "t": 2, "battery": {"volts": 12.1, "cells": [3.1, 3.0]}},
            {"stream": "cam", "image": {"png": "iVBORw0KGgoAAAANSUhEUgAAAAIAAAABCAIAAAB7QOjdAAAADUlEQVR4nGP4zwAE/wEHAAH/4iOeWQAAAABJRU5ErkJggg=="}},
            {"stream": "depth", "image": {"shape": [1, 2], "u16": "AQACAA=="}}]"##,
    );
    out.extend(translate(
        &mut translator,
        r#"[{"stream": "path", "clear": true}, {"stream": "lidar", "clear": true}]"#,
    ));
    let mut kinds = Vec::new();
    for message in &out {
        let channel = translator.channel(message.channel).unwrap();
        let schema: Value = serde_json::from_str(&channel.schema).unwrap();
        if let Err(problem) = conforms(&schema, &body(message), "") {
            panic!("{} ({}): {problem}", channel.topic, channel.schema_name);
        }
        kinds.push(channel.kind);
    }
    for kind in [
        ChannelKind::PointCloud,
        ChannelKind::SceneUpdate,
        ChannelKind::Log,
        ChannelKind::Scalars,
        ChannelKind::CompressedImage,
        ChannelKind::RawImage,
    ] {
        assert!(kinds.contains(&kind), "{kind:?} checked: {kinds:?}");
    }
    let deletions: usize = out
        .iter()
        .map(|m| body(m)["deletions"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(deletions, 1, "the clear's deletion checked");
}

#[test]
fn foxgloves_schemas_say_what_they_require() {
    use crate::schema::{
        COMPRESSED_IMAGE_SCHEMA, LOG_SCHEMA, POINT_CLOUD_SCHEMA, RAW_IMAGE_SCHEMA,
        SCENE_UPDATE_SCHEMA,
    };
    for text in [
        POINT_CLOUD_SCHEMA,
        SCENE_UPDATE_SCHEMA,
        LOG_SCHEMA,
        COMPRESSED_IMAGE_SCHEMA,
        RAW_IMAGE_SCHEMA,
    ] {
        let schema: Value = serde_json::from_str(text).unwrap();
        let mut properties: Vec<&str> = schema["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut required: Vec<&str> = schema["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|name| name.as_str().unwrap())
            .collect();
        properties.sort_unstable();
        required.sort_unstable();
        assert_eq!(required, properties, "{}", schema["title"]);
    }
    let schema: Value = serde_json::from_str(SCENE_UPDATE_SCHEMA).unwrap();
    let entity = &schema["properties"]["entities"]["items"]["required"];
    for list in [
        "metadata",
        "arrows",
        "cubes",
        "spheres",
        "cylinders",
        "lines",
        "triangles",
        "texts",
        "models",
    ] {
        assert!(
            entity.as_array().unwrap().contains(&Value::from(list)),
            "{list}: {entity}"
        );
    }
}

#[test]
fn images_become_compressed_and_raw_images_with_the_producers_base64() {
    let png = "iVBORw0KGgoAAAANSUhEUgAAAAIAAAABCAIAAAB7QOjdAAAADUlEQVR4nGP4zwAE/wEHAAH/4iOeWQAAAABJRU5ErkJggg==";
    let mut translator = Translator::default();
    let out = translate(
        &mut translator,
        &format!(r#"{{"stream": "cam/front", "t": 1.25, "image": {{"png": "{png}"}}}}"#),
    );
    assert_eq!(out.len(), 1);
    let channel = translator.channel(out[0].channel).unwrap();
    assert_eq!(channel.schema_name, "foxglove.CompressedImage");
    assert_eq!(channel.topic, "/cam/front");
    assert_eq!(
        body(&out[0]),
        json!({"timestamp": {"sec": 1, "nsec": 250_000_000}, "frame_id": "world", "data": png, "format": "png"})
    );

    // Raw pixels: the encoding and the bytes of a row, for each kind the protocol takes.
    let cases = [
        ("u8", "[2, 3]", 6, "mono8", 3),
        ("u8", "[2, 3, 3]", 18, "rgb8", 9),
        ("u8", "[2, 3, 4]", 24, "rgba8", 12),
        ("u16", "[2, 3]", 12, "mono16", 6),
        ("f32", "[2, 3]", 24, "32FC1", 12),
    ];
    for (field, shape, bytes, encoding, step) in cases {
        let data = STANDARD.encode_to_string(vec![7u8; bytes]);
        let frame =
            format!(r#"{{"stream": "raw", "image": {{"shape": {shape}, "{field}": "{data}"}}}}"#);
        let mut translator = Translator::default();
        let out = translate(&mut translator, &frame);
        let channel = translator.channel(out[0].channel).unwrap();
        assert_eq!(channel.schema_name, "foxglove.RawImage");
        let image = body(&out[0]);
        assert_eq!(image["encoding"], encoding, "{frame}");
        assert_eq!(image["step"], step, "{frame}");
        assert_eq!(
            (image["width"].as_u64(), image["height"].as_u64()),
            (Some(3), Some(2))
        );
        assert_eq!(
            image["data"],
            data.as_str(),
            "the producer's base64, as it is"
        );
    }

    // A stream that sends both kinds has two channels; a clear sends nothing to either.
    let mut translator = Translator::default();
    translate(
        &mut translator,
        &format!(r#"{{"stream": "cam", "image": {{"png": "{png}"}}}}"#),
    );
    translate(
        &mut translator,
        r#"{"stream": "cam", "image": {"shape": [1, 1], "u8": "AA=="}}"#,
    );
    let topics: Vec<&str> = translator.channels().map(|c| c.topic.as_str()).collect();
    assert_eq!(topics, ["/cam", "/cam/raw"]);
    assert!(translate(&mut translator, r#"{"stream": "cam", "clear": true}"#).is_empty());
}
