//! The schemas: Foxglove's names, and the JSON Schemas Foxglove publishes (`@foxglove/schemas`),
//! word for word, in `schemas/`: every message the translation writes validates against them,
//! `required` lists included (the Node tests check it with ajv, live and exported).
//!
//! Lichtblick and Foxglove turn a `jsonschema` schema into datatypes and fail the channel when
//! they cannot: every property has one plain `type`, or is an enum written as a `oneOf` of
//! numeric `const`s (Foxglove's own way, which their parser reads as `uint32` constants); a
//! base64 string (`contentEncoding: base64`) is decoded into bytes, which is how
//! `foxglove.PointCloud`'s `data` reaches the 3D panel as bytes. The apps pick a panel for a
//! topic by its schema name, so the names are Foxglove's exactly.

/// The schema name of clouds.
pub const POINT_CLOUD: &str = "foxglove.PointCloud";
/// The schema name of line strips.
pub const SCENE_UPDATE: &str = "foxglove.SceneUpdate";
/// The schema name of text events.
pub const LOG: &str = "foxglove.Log";
/// The schema name of JPEG and PNG images.
pub const COMPRESSED_IMAGE: &str = "foxglove.CompressedImage";
/// The schema name of raw images.
pub const RAW_IMAGE: &str = "foxglove.RawImage";
/// The schema name of a stream's scalars is this followed by the stream: `vizcast.Scalars/imu`.
///
/// One name per stream because the apps keep datatypes by schema name: two streams with different
/// series under one name would overwrite each other's.
pub const SCALARS_PREFIX: &str = "vizcast.Scalars/";

/// The JSON Schema of `foxglove.PointCloud`.
pub const POINT_CLOUD_SCHEMA: &str = include_str!("../schemas/PointCloud.json");
/// The JSON Schema of `foxglove.SceneUpdate`, for line strips: deletions, and entities with their
/// line primitives (every other list of primitives is sent, empty, as the schema requires).
pub const SCENE_UPDATE_SCHEMA: &str = include_str!("../schemas/SceneUpdate.json");
/// The JSON Schema of `foxglove.Log`.
pub const LOG_SCHEMA: &str = include_str!("../schemas/Log.json");
/// The JSON Schema of `foxglove.CompressedImage`.
pub const COMPRESSED_IMAGE_SCHEMA: &str = include_str!("../schemas/CompressedImage.json");
/// The JSON Schema of `foxglove.RawImage`.
pub const RAW_IMAGE_SCHEMA: &str = include_str!("../schemas/RawImage.json");

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    fn parse(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn each_schema_is_titled_with_its_name() {
        for (name, text) in [
            (POINT_CLOUD, POINT_CLOUD_SCHEMA),
            (SCENE_UPDATE, SCENE_UPDATE_SCHEMA),
            (LOG, LOG_SCHEMA),
        ] {
            let schema = parse(text);
            assert_eq!(schema["title"], name);
            assert_eq!(schema["type"], "object");
        }
    }

    #[test]
    fn the_point_cloud_schema_has_foxgloves_fields_and_numeric_types() {
        let schema = parse(POINT_CLOUD_SCHEMA);
        let p = &schema["properties"];
        let names: Vec<&str> = p.as_object().unwrap().keys().map(String::as_str).collect();
        for name in [
            "timestamp",
            "frame_id",
            "pose",
            "point_stride",
            "fields",
            "data",
        ] {
            assert!(names.contains(&name), "{name}: {names:?}");
        }
        assert_eq!(p["data"]["contentEncoding"], "base64");
        assert_eq!(p["point_stride"]["type"], "integer");
        let types = &p["fields"]["items"]["properties"]["type"]["oneOf"];
        let constant = |title: &str| {
            types
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["title"] == title)
                .map(|t| t["const"].clone())
        };
        assert_eq!(constant("UINT8"), Some(1.into()));
        assert_eq!(constant("FLOAT32"), Some(7.into()));
        assert_eq!(
            p["pose"]["properties"]["orientation"]["properties"]["w"]["type"],
            "number"
        );
    }

    #[test]
    fn the_scene_update_and_log_schemas_have_foxgloves_enums() {
        let schema = parse(SCENE_UPDATE_SCHEMA);
        let line = &schema["properties"]["entities"]["items"]["properties"]["lines"]["items"];
        assert_eq!(line["title"], "foxglove.LinePrimitive");
        assert_eq!(
            line["properties"]["type"]["oneOf"][0]["title"],
            "LINE_STRIP"
        );
        assert_eq!(line["properties"]["type"]["oneOf"][0]["const"], 0);
        assert_eq!(
            line["properties"]["points"]["items"]["title"],
            "foxglove.Point3"
        );
        let deletion = &schema["properties"]["deletions"]["items"]["properties"]["type"];
        assert_eq!(deletion["oneOf"][0]["title"], "MATCHING_ID");
        assert_eq!(deletion["oneOf"][1]["title"], "ALL");
        assert_eq!(deletion["oneOf"][1]["const"], 1);

        let log = parse(LOG_SCHEMA);
        let levels: Vec<(String, u64)> = log["properties"]["level"]["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["title"].as_str().unwrap().to_owned(),
                    l["const"].as_u64().unwrap(),
                )
            })
            .collect();
        let expected = ["UNKNOWN", "DEBUG", "INFO", "WARNING", "ERROR", "FATAL"]
            .iter()
            .zip(0..)
            .map(|(t, v)| ((*t).to_owned(), v))
            .collect::<Vec<_>>();
        assert_eq!(levels, expected);
    }
}
