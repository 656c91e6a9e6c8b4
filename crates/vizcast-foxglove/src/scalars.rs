//! A stream's scalar series as the fields of one JSON object per sample, and the JSON Schema
//! that declares them.
//!
//! A series' path below its stream becomes a path of nested objects: `value` (the empty path,
//! the stream's own `value`), `ax` (`values/ax`), `battery.volts` (`battery/volts`),
//! `cells.0` (`cells/0`), so that the apps' message paths reach it: `/demo/robot.battery.volts`.
//! Their paths accept only `[A-Za-z0-9_]` in a field name, so any other character of a segment
//! becomes `_`. Two series that would then land on the same field, or a series whose field is
//! already an object of other series (or the other way round), get the next free name with a
//! `_2`, `_3`… suffix: every series keeps a field of its own, assigned once and never changed.
//! `timestamp` is reserved for the sample's time.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

/// The field of a sample's time.
pub const TIMESTAMP_FIELD: &str = "timestamp";

/// The field of the stream's own `value` (the empty path).
pub const VALUE_FIELD: &str = "value";

/// One level of the field tree.
#[derive(Clone, Debug, Default)]
struct Object {
    /// Fields in the order they were first seen.
    fields: Vec<(String, Node)>,
}

#[derive(Clone, Debug)]
enum Node {
    /// The sample's time (only at the top level).
    Time,
    /// A series; the text is its full name, for the schema's description.
    Series(String),
    /// Fields below.
    Object(Object),
}

impl Object {
    fn position(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|(n, _)| n == name)
    }
}

/// The fields of one stream's scalars: which field each series path got, and the schema.
#[derive(Clone, Debug)]
pub struct Fields {
    stream: Box<str>,
    root: Object,
    /// Series path (as in [`vizcast_protocol::Scalar::path`]) → its index in `names`.
    by_path: HashMap<Box<str>, usize>,
    /// Each series' field names from the top, in the order series were declared.
    names: Vec<Box<[String]>>,
}

impl Fields {
    /// No series yet: only `timestamp`.
    pub fn new(stream: &str) -> Self {
        Self {
            stream: stream.into(),
            root: Object {
                fields: vec![(TIMESTAMP_FIELD.to_owned(), Node::Time)],
            },
            by_path: HashMap::new(),
            names: Vec::new(),
        }
    }

    /// The index of series `path` (for [`Fields::names`]), declaring it when new; `true` with it
    /// when it was.
    pub fn field(&mut self, path: &str) -> (usize, bool) {
        if let Some(&index) = self.by_path.get(path) {
            return (index, false);
        }
        let names = self.declare(path);
        let index = self.names.len();
        self.names.push(names.into());
        self.by_path.insert(path.into(), index);
        (index, true)
    }

    /// The field names, from the top, of the series with this index.
    pub fn names(&self, index: usize) -> &[String] {
        self.names.get(index).map_or(&[], |names| &names[..])
    }

    fn declare(&mut self, path: &str) -> Vec<String> {
        let segments: Vec<String> = if path.is_empty() {
            vec![VALUE_FIELD.to_owned()]
        } else {
            path.split('/').map(sanitize).collect()
        };
        let full_name = vizcast_protocol::series_name(&self.stream, path);
        let mut names = Vec::with_capacity(segments.len());
        let mut object = &mut self.root;
        let last = segments.len() - 1;
        for (i, segment) in segments.iter().enumerate() {
            let leaf = i == last;
            let mut name = segment.clone();
            let mut n = 1;
            let index = loop {
                match object.position(&name) {
                    None => {
                        let node = if leaf {
                            Node::Series(full_name.clone())
                        } else {
                            Node::Object(Object::default())
                        };
                        object.fields.push((name.clone(), node));
                        break object.fields.len() - 1;
                    }
                    // An object of other series: this series goes inside it.
                    Some(index) if !leaf && matches!(object.fields[index].1, Node::Object(_)) => {
                        break index;
                    }
                    // Taken by another series, by an object where a series goes, or by the time.
                    Some(_) => {
                        n += 1;
                        name = format!("{segment}_{n}");
                    }
                }
            };
            names.push(name);
            if leaf {
                break;
            }
            // The loop above stops at an object for inner segments.
            let Node::Object(inner) = &mut object.fields[index].1 else {
                break;
            };
            object = inner;
        }
        names
    }

    /// The JSON Schema of the stream's samples, titled `name`: `timestamp` (Foxglove's `time`)
    /// and a `number` per series, nested as the fields are. Every property has one plain type,
    /// which is what the apps turn into datatypes.
    pub fn schema(&self, name: &str) -> String {
        let mut schema = object_schema(&self.root);
        if let Value::Object(map) = &mut schema {
            map.insert("title".to_owned(), Value::from(name));
            // Every message has its time; a series' field is left out of a message whose sample
            // is not finite, so only the time is required.
            map.insert("required".to_owned(), json!([TIMESTAMP_FIELD]));
            map.insert(
                "description".to_owned(),
                Value::from(format!(
                    "The scalar series of vizcast stream \"{}\", one message per sample",
                    self.stream
                )),
            );
        }
        schema.to_string()
    }
}

fn object_schema(object: &Object) -> Value {
    let properties: Map<String, Value> = object
        .fields
        .iter()
        .map(|(name, node)| {
            let schema = match node {
                Node::Time => time_schema("When the sample was taken"),
                Node::Series(series) => json!({ "type": "number", "description": series }),
                Node::Object(inner) => object_schema(inner),
            };
            (name.clone(), schema)
        })
        .collect();
    json!({ "type": "object", "properties": properties })
}

/// Foxglove's `time` as a JSON Schema.
pub fn time_schema(description: &str) -> Value {
    json!({
        "title": "time",
        "description": description,
        "type": "object",
        "properties": {
            "sec": { "type": "integer", "minimum": 0 },
            "nsec": { "type": "integer", "minimum": 0, "maximum": 999_999_999 },
        },
        "required": ["sec", "nsec"],
    })
}

/// A path segment as a field name the apps' message paths accept.
fn sanitize(segment: &str) -> String {
    if segment.is_empty() {
        return "_".to_owned();
    }
    segment
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Sets `value` at the field `names` of `message`, creating the objects on the way.
pub fn set(message: &mut Map<String, Value>, names: &[String], value: f64) {
    // JSON has no NaN or infinity: a non-finite sample is left out of its message.
    let Some(number) = serde_json::Number::from_f64(value) else {
        return;
    };
    let Some((leaf, path)) = names.split_last() else {
        return;
    };
    let mut object = message;
    for name in path {
        let entry = object
            .entry(name.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        // Always an object: field names are unique (above). Otherwise the sample is left out.
        let Value::Object(inner) = entry else {
            return;
        };
        object = inner;
    }
    object.insert(leaf.clone(), Value::Number(number));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(fields: &mut Fields, path: &str) -> Vec<String> {
        let (index, _) = fields.field(path);
        fields.names(index).to_vec()
    }

    #[test]
    fn paths_become_nested_fields_the_apps_can_address() {
        let mut fields = Fields::new("robot");
        assert_eq!(names(&mut fields, ""), ["value"]);
        assert_eq!(names(&mut fields, "battery/volts"), ["battery", "volts"]);
        assert_eq!(names(&mut fields, "battery/amps"), ["battery", "amps"]);
        assert_eq!(names(&mut fields, "cells/0"), ["cells", "0"]);
        assert_eq!(names(&mut fields, "arm-1/joint.2"), ["arm_1", "joint_2"]);
        assert_eq!(fields.names.len(), 5);
        // Declared once: the same names again, not added.
        let (index, added) = fields.field("battery/volts");
        assert_eq!(fields.names(index), ["battery", "volts"]);
        assert!(!added);
    }

    #[test]
    fn clashes_get_a_field_of_their_own() {
        let mut fields = Fields::new("s");
        assert_eq!(names(&mut fields, "a-b"), ["a_b"]);
        assert_eq!(
            names(&mut fields, "a_b"),
            ["a_b_2"],
            "same field after sanitizing"
        );
        assert_eq!(
            names(&mut fields, "a-b/c"),
            ["a_b_3", "c"],
            "a series is not an object"
        );
        assert_eq!(names(&mut fields, "x/y"), ["x", "y"]);
        assert_eq!(
            names(&mut fields, "x"),
            ["x_2"],
            "an object is not a series"
        );
        assert_eq!(names(&mut fields, "timestamp"), ["timestamp_2"], "reserved");
        assert_eq!(names(&mut fields, "value"), ["value"]);
        assert_eq!(
            names(&mut fields, ""),
            ["value_2"],
            "the stream's own value"
        );
    }

    #[test]
    fn the_schema_types_every_field() {
        let mut fields = Fields::new("robot");
        fields.field("battery/volts");
        fields.field("");
        let schema: Value = serde_json::from_str(&fields.schema("vizcast.Scalars/robot")).unwrap();
        assert_eq!(schema["title"], "vizcast.Scalars/robot");
        assert_eq!(schema["type"], "object");
        let properties = schema["properties"].as_object().unwrap();
        assert_eq!(properties["timestamp"]["type"], "object");
        assert_eq!(
            properties["timestamp"]["properties"]["nsec"]["type"],
            "integer"
        );
        assert_eq!(properties["value"]["type"], "number");
        assert_eq!(properties["value"]["description"], "robot");
        let battery = &properties["battery"];
        assert_eq!(battery["type"], "object");
        assert_eq!(battery["properties"]["volts"]["type"], "number");
        assert_eq!(
            battery["properties"]["volts"]["description"],
            "robot/battery/volts"
        );
    }

    #[test]
    fn samples_are_set_at_their_fields_and_non_finite_ones_left_out() {
        let mut message = Map::new();
        set(&mut message, &["value".to_owned()], 1.5);
        set(
            &mut message,
            &["battery".to_owned(), "volts".to_owned()],
            12.0,
        );
        set(
            &mut message,
            &["battery".to_owned(), "amps".to_owned()],
            f64::NAN,
        );
        set(&mut message, &["hot".to_owned()], f64::INFINITY);
        assert_eq!(
            Value::Object(message),
            json!({ "value": 1.5, "battery": { "volts": 12.0 } })
        );
    }
}
