//! What Lichtblick and Foxglove can open: the rules their MCAP channel parser applies to a
//! channel's schema, written down as a checker.
//!
//! Both apps read a channel with message encoding `json` the same way (`parseChannel` and
//! `parseJsonSchema` of their `mcap-support` package):
//!
//! - **no schema** (schema id 0, or a schema with empty data): each message is parsed with
//!   `JSON.parse`, and the topic has no datatypes. Plots still work: they walk the parsed message
//!   along the path (`demo/signal/sine.value`), datatypes only feed the path editor's completion;
//! - **a `jsonschema` schema**: it is turned into datatypes, and when that fails (the parser
//!   throws) the channel fails and none of its messages show. It accepts only an object with
//!   `properties`, each with one `type` among boolean, string (optionally `contentEncoding:
//!   base64`), number, integer, object (again with `properties`) and array, whose `items` are typed
//!   the same way but for arrays. The one `oneOf` it reads is an enum: a property whose
//!   alternatives all have a numeric `const` (as in Foxglove's own schemas, `foxglove.Log`'s
//!   `level`), typed `uint32` with the alternatives' titles as constants; that is refused in array
//!   items. It does not follow any other `oneOf`, nor `anyOf`/`allOf` or `$ref`, nor `enum` or
//!   `const` without a `type`, and refuses `null`, lists of types and arrays of arrays.
//!
//! Recordings are written without a schema (see `docs/recording.md`), exports in Foxglove's
//! schemas ([`export_foxglove`](crate::export_foxglove)) with theirs; [`recover`](crate::recover)
//! uses [`check_channel`] to drop the schema of older recordings (the full protocol schema, which
//! the apps cannot parse) from the channels it rewrites.

use serde_json::{Map, Value};

/// Why a channel would fail to open in Lichtblick or Foxglove.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{at}: {reason}")]
pub struct SchemaProblem {
    /// Where in the message: the field path (`battery.volts`, `points[]`), or `the schema`.
    pub at: String,
    /// What the apps' parser would refuse there.
    pub reason: String,
}

impl SchemaProblem {
    fn new(at: &str, reason: impl Into<String>) -> Self {
        Self {
            at: if at.is_empty() {
                "the schema".to_owned()
            } else {
                at.to_owned()
            },
            reason: reason.into(),
        }
    }
}

/// Checks that a channel with `message_encoding` and `schema` (its encoding and data; `None` for
/// schema id 0) opens in Lichtblick and Foxglove: JSON messages with no schema, or with a
/// `jsonschema` schema that [`check_json_schema`] accepts.
pub fn check_channel(
    message_encoding: &str,
    schema: Option<(&str, &[u8])>,
) -> Result<(), SchemaProblem> {
    if message_encoding != "json" {
        return Err(SchemaProblem::new(
            "",
            format!("message encoding {message_encoding:?}: vizcast's channels are json"),
        ));
    }
    let Some((encoding, data)) = schema else {
        return Ok(());
    };
    if encoding != "jsonschema" {
        return Err(SchemaProblem::new(
            "",
            format!("json messages with a {encoding:?} schema (expected jsonschema or no schema)"),
        ));
    }
    if data.is_empty() {
        // The apps treat an empty schema as none.
        return Ok(());
    }
    let schema: Value = serde_json::from_slice(data)
        .map_err(|e| SchemaProblem::new("", format!("not JSON: {e}")))?;
    check_json_schema(&schema)
}

/// Checks a JSON Schema against what the apps turn into datatypes (see the module docs); returns
/// the first thing their parser would throw on.
pub fn check_json_schema(schema: &Value) -> Result<(), SchemaProblem> {
    check_object(schema, "")
}

/// The keywords the parser does not follow: a field described only through them has no type.
const NOT_FOLLOWED: [&str; 4] = ["oneOf", "anyOf", "allOf", "$ref"];

fn as_object<'a>(schema: &'a Value, at: &str) -> Result<&'a Map<String, Value>, SchemaProblem> {
    let object = schema.as_object().ok_or_else(|| {
        SchemaProblem::new(at, format!("{schema} is not a schema object with a `type`"))
    })?;
    if let Some(keyword) = NOT_FOLLOWED.iter().find(|k| object.contains_key(**k)) {
        return Err(SchemaProblem::new(
            at,
            format!("`{keyword}` is not followed by the apps"),
        ));
    }
    Ok(object)
}

/// An object schema: `type: object` and `properties`, each property a typed field.
fn check_object(schema: &Value, at: &str) -> Result<(), SchemaProblem> {
    let object = as_object(schema, at)?;
    if object.get("type") != Some(&Value::from("object")) {
        return Err(SchemaProblem::new(
            at,
            format!(
                "expected \"type\": \"object\", got {}",
                object.get("type").unwrap_or(&Value::Null)
            ),
        ));
    }
    let properties = object
        .get("properties")
        .and_then(Value::as_object)
        .ok_or_else(|| SchemaProblem::new(at, "an object needs `properties`"))?;
    for (name, field) in properties {
        let at = if at.is_empty() {
            name.clone()
        } else {
            format!("{at}.{name}")
        };
        check_field(field, &at)?;
    }
    Ok(())
}

/// The one `type` of a field or array item, refusing what the parser cannot type.
fn one_type<'a>(object: &'a Map<String, Value>, at: &str) -> Result<&'a str, SchemaProblem> {
    match object.get("type") {
        Some(Value::String(t)) if t == "null" => {
            Err(SchemaProblem::new(at, "the type null is not supported"))
        }
        Some(Value::String(t)) => Ok(t),
        Some(Value::Array(_)) => Err(SchemaProblem::new(
            at,
            "a list of types is not supported: give one type, or leave the field out",
        )),
        Some(other) => Err(SchemaProblem::new(
            at,
            format!("`type` {other} is not a type"),
        )),
        None if object.contains_key("enum") => Err(SchemaProblem::new(at, "`enum` without a type")),
        None if object.contains_key("const") => {
            Err(SchemaProblem::new(at, "`const` without a type"))
        }
        None => Err(SchemaProblem::new(at, "no `type`")),
    }
}

/// Whether `schema` is an enum the apps read: a `oneOf` whose alternatives all have a numeric
/// `const`.
fn is_numeric_enum(schema: &Value) -> bool {
    schema
        .get("oneOf")
        .and_then(Value::as_array)
        .is_some_and(|alternatives| {
            alternatives
                .iter()
                .all(|a| a.get("const").is_some_and(Value::is_number))
        })
}

fn check_field(schema: &Value, at: &str) -> Result<(), SchemaProblem> {
    if is_numeric_enum(schema) {
        return Ok(());
    }
    let object = as_object(schema, at)?;
    match one_type(object, at)? {
        "boolean" | "number" | "integer" => Ok(()),
        "string" => match object.get("contentEncoding") {
            None => Ok(()),
            Some(Value::String(e)) if e == "base64" => Ok(()),
            Some(other) => Err(SchemaProblem::new(
                at,
                format!("contentEncoding {other} (only base64 is supported)"),
            )),
        },
        "object" => check_object(schema, at),
        "array" => {
            let at = format!("{at}[]");
            let items = object
                .get("items")
                .ok_or_else(|| SchemaProblem::new(&at, "an array needs typed `items`"))?;
            let items_object = as_object(items, &at)?;
            match one_type(items_object, &at)? {
                "boolean" | "number" | "integer" => Ok(()),
                "string" if items_object.contains_key("contentEncoding") => Err(
                    SchemaProblem::new(&at, "contentEncoding is not supported in array items"),
                ),
                "string" => Ok(()),
                "object" => check_object(items, &at),
                "array" => Err(SchemaProblem::new(
                    &at,
                    "arrays of arrays are not supported",
                )),
                other => Err(SchemaProblem::new(
                    &at,
                    format!("unsupported array item type {other:?}"),
                )),
            }
        }
        other => Err(SchemaProblem::new(
            at,
            format!("unsupported type {other:?}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn problem(schema: &Value) -> String {
        check_json_schema(schema)
            .expect_err("the apps would refuse this schema")
            .to_string()
    }

    #[test]
    fn the_full_protocol_schema_is_refused() {
        check_channel(
            "json",
            Some(("jsonschema", crate::MESSAGE_SCHEMA.as_bytes())),
        )
        .expect_err("assets/message.schema.json cannot be a channel schema");
        // Property by property: every field with several shapes, or described by `$ref`, `enum`
        // or `const` alone, would make the apps throw.
        let schema: Value = serde_json::from_str(crate::MESSAGE_SCHEMA).unwrap();
        let mut refused: Vec<&str> = schema["properties"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(name, field)| {
                let alone = json!({ "type": "object", "properties": { *name: field } });
                check_json_schema(&alone).is_err()
            })
            .map(|(name, _)| name.as_str())
            .collect();
        refused.sort_unstable();
        assert_eq!(
            refused,
            [
                "clear", "color", "colors", "image", "level", "line", "points", "t", "value",
                "values", "vizcast"
            ]
        );
    }

    #[test]
    fn no_schema_or_an_empty_one_passes() {
        assert_eq!(check_channel("json", None), Ok(()));
        assert_eq!(check_channel("json", Some(("jsonschema", b""))), Ok(()));
        assert!(check_channel("protobuf", None).is_err());
        assert!(check_channel("json", Some(("protobuf", b"x"))).is_err());
        assert!(check_channel("json", Some(("jsonschema", b"{"))).is_err());
    }

    #[test]
    fn what_the_apps_parse_passes() {
        let schema = json!({
            "type": "object",
            "properties": {
                "stream": { "type": "string" },
                "value": { "type": "number", "description": "a sample" },
                "count": { "type": "integer" },
                "ok": { "type": "boolean" },
                "level": { "type": "string", "enum": ["info", "warn"] },
                "clear": { "type": "boolean", "const": true },
                "blob": { "type": "string", "contentEncoding": "base64" },
                "severity": {
                    "title": "foxglove.LogLevel",
                    "oneOf": [{ "title": "INFO", "const": 2 }, { "title": "ERROR", "const": 4 }]
                },
                "battery": { "type": "object", "properties": { "volts": { "type": "number" } } },
                "cells": { "type": "array", "items": { "type": "number" } },
                "names": { "type": "array", "items": { "type": "string" } },
                "parts": {
                    "type": "array",
                    "items": { "type": "object", "properties": { "x": { "type": "number" } } }
                },
            },
            // Ignored by the apps: undeclared fields still reach them as parsed JSON.
            "additionalProperties": true,
        });
        assert_eq!(check_json_schema(&schema), Ok(()));
        let bytes = serde_json::to_vec(&schema).unwrap();
        assert_eq!(check_channel("json", Some(("jsonschema", &bytes))), Ok(()));
    }

    #[test]
    fn what_the_apps_throw_on_is_refused() {
        let with = |field: Value| json!({ "type": "object", "properties": { "f": field } });
        let cases = [
            (
                with(json!({ "type": "array", "items": {} })),
                "f[]: no `type`",
            ),
            (
                json!({ "properties": {} }),
                "the schema: expected \"type\": \"object\"",
            ),
            (
                json!({ "type": "object" }),
                "the schema: an object needs `properties`",
            ),
            (with(json!({})), "f: no `type`"),
            (with(json!(true)), "f: true is not a schema object"),
            (
                with(json!({ "oneOf": [{ "type": "number" }] })),
                "f: `oneOf` is not followed",
            ),
            (
                with(json!({ "anyOf": [{ "type": "number" }] })),
                "f: `anyOf` is not followed",
            ),
            (
                with(json!({ "$ref": "#/$defs/x" })),
                "f: `$ref` is not followed",
            ),
            (
                with(json!({ "type": "number", "oneOf": [{ "minimum": 0 }] })),
                "f: `oneOf` is not followed",
            ),
            (
                with(json!({ "enum": ["a", "b"] })),
                "f: `enum` without a type",
            ),
            (
                with(json!({ "oneOf": [{ "const": 1 }, { "const": "two" }] })),
                "f: `oneOf` is not followed",
            ),
            (
                with(json!({ "type": "array", "items": { "oneOf": [{ "const": 1 }] } })),
                "f[]: `oneOf` is not followed",
            ),
            (with(json!({ "const": true })), "f: `const` without a type"),
            (with(json!({ "type": "null" })), "f: the type null"),
            (
                with(json!({ "type": ["number", "array"] })),
                "f: a list of types",
            ),
            (with(json!({ "type": "decimal" })), "f: unsupported type"),
            (
                with(json!({ "type": "string", "contentEncoding": "hex" })),
                "f: contentEncoding \"hex\"",
            ),
            (
                with(json!({ "type": "array" })),
                "f[]: an array needs typed `items`",
            ),
            (
                with(
                    json!({ "type": "array", "items": { "type": "array", "items": { "type": "number" } } }),
                ),
                "f[]: arrays of arrays",
            ),
            (
                with(json!({ "type": "array", "items": { "$ref": "#/$defs/color" } })),
                "f[]: `$ref` is not followed",
            ),
            (
                with(json!({ "type": "array", "items": { "type": ["number", "string"] } })),
                "f[]: a list of types",
            ),
            (
                with(
                    json!({ "type": "array", "items": { "type": "string", "contentEncoding": "base64" } }),
                ),
                "f[]: contentEncoding is not supported",
            ),
            (
                with(json!({ "type": "object" })),
                "f: an object needs `properties`",
            ),
            (
                with(json!({ "type": "object", "properties": { "g": { "type": "null" } } })),
                "f.g: the type null",
            ),
            (
                with(
                    json!({ "type": "array", "items": { "type": "object", "properties": { "g": {} } } }),
                ),
                "f[].g: no `type`",
            ),
        ];
        for (schema, expected) in cases {
            let got = problem(&schema);
            assert!(
                got.starts_with(expected),
                "{schema}: {got:?}, expected {expected:?}"
            );
        }
    }
}
