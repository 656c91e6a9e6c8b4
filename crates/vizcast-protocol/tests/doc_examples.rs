//! The protocol document and the JSON Schema are the contract: their examples must hold.

#![allow(missing_docs, clippy::unwrap_used)]

use std::path::Path;

use vizcast_protocol::{Limits, parse_frame};

fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The fenced blocks of `lang` in a markdown text.
fn blocks<'a>(markdown: &'a str, lang: &str) -> Vec<&'a str> {
    let fence = format!("```{lang}\n");
    markdown
        .split(&fence)
        .skip(1)
        .map(|rest| rest.split("\n```").next().unwrap())
        .collect()
}

#[test]
fn every_example_in_the_protocol_document_parses() {
    let doc = read("docs/protocol.md");
    let examples = blocks(&doc, "json");
    assert!(
        examples.len() >= 15,
        "found only {} examples",
        examples.len()
    );
    for example in examples {
        parse_frame(example, &Limits::default()).unwrap_or_else(|e| panic!("{example}\n→ {e}"));
    }
}

#[test]
fn every_rejected_example_gives_the_documented_error() {
    let doc = read("docs/protocol.md");
    let examples = blocks(&doc, "rejected");
    assert!(
        examples.len() >= 10,
        "found only {} rejected examples",
        examples.len()
    );
    for example in examples {
        let (frame, expected) = example.split_once("\n→ ").unwrap();
        let err = parse_frame(frame, &Limits::default())
            .err()
            .unwrap_or_else(|| panic!("accepted: {frame}"));
        assert_eq!(err.message, expected, "for {frame}");
    }
}

#[test]
fn the_schema_names_exactly_the_fields_the_parser_knows() {
    let schema: serde_json::Value =
        serde_json::from_str(&read("assets/message.schema.json")).unwrap();
    let mut fields: Vec<&str> = schema["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    let mut known = vec![
        "stream", "t", "value", "values", "points", "line", "append", "colors", "color", "radius",
        "width", "text", "level", "clear", "image", "vizcast",
    ];
    known.sort_unstable();
    assert_eq!(fields, known);
    // Every known field changes how a message parses: a bogus value for it is rejected, while an
    // unknown field with the same value is not.
    for field in known.iter().filter(|f| **f != "stream") {
        let frame = format!(r#"{{"stream":"x","value":1,"{field}":{{"bogus":"x"}}}}"#);
        assert!(
            parse_frame(&frame, &Limits::default()).is_err(),
            "{field} is not treated as a known field"
        );
    }
    assert!(
        parse_frame(
            r#"{"stream":"x","value":1,"other":{"bogus":"x"}}"#,
            &Limits::default()
        )
        .is_ok()
    );
}
