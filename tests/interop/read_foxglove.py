#!/usr/bin/env python3
"""Reads a `vizcast export --foxglove` file with an independent MCAP reader: the Python `mcap` package.

Usage: read_foxglove.py EXPORT [--cloud EXPECTED.json] [--deps DIR]

Checks, and exits non-zero with the reason when one fails:
- every chunk's CRC (the seeking reader) and the data section's CRC (a second, linear pass), which
  yields the same messages;
- every channel has message encoding `json` and a `jsonschema` schema named `foxglove.PointCloud`,
  `foxglove.SceneUpdate`, `foxglove.Log`, `foxglove.CompressedImage`, `foxglove.RawImage` or
  `vizcast.Scalars/<stream>`, whose data is a JSON Schema of an object titled with that name;
- every message is JSON of an object shaped as its schema says: a cloud's `data` is whole points
  of `point_stride` bytes with x, y, z float32 fields; a scene update's entities hold line strips in
  the `world` frame; a log's level is one of Foxglove's; a compressed image is a whole JPEG or PNG
  (its signature and end marker); a raw image's data is `step` × `height` bytes, a row `width`
  pixels of its encoding; a scalar sample has its `timestamp`;
- with --cloud (a JSON object: `topic`, `log_time`, `points` as base64 of little-endian float32
  x, y, z, and `colors` as base64 of r, g, b bytes or null): the cloud on that topic at that log
  time holds exactly those points (and colours, opaque), found through its `fields`.

Prints one JSON line: {"messages": N, "channels": {topic: {"schema": name, "messages": n}},
"cloud": {"points": n, "point_stride": s, "data_bytes": b}} (cloud only with --cloud).

The `mcap` package comes from the environment or from DIR, as for read_mcap.py.
"""

import argparse
import base64
import hashlib
import json
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from read_mcap import fail, import_mcap  # noqa: E402

FOXGLOVE_SCHEMAS = {
    "foxglove.PointCloud",
    "foxglove.SceneUpdate",
    "foxglove.Log",
    "foxglove.CompressedImage",
    "foxglove.RawImage",
}
# Bytes per pixel of the RawImage encodings vizcast writes.
RAW_PIXEL_BYTES = {"mono8": 1, "rgb8": 3, "rgba8": 4, "mono16": 2, "32FC1": 4}
SCALARS_PREFIX = "vizcast.Scalars/"
# foxglove.NumericType
UINT8, FLOAT32 = 1, 7


def check_schema(channel, schema):
    if channel.message_encoding != "json":
        fail(f"channel {channel.topic!r}: message encoding {channel.message_encoding!r}")
    if schema is None:
        fail(f"channel {channel.topic!r} has no schema")
    if schema.encoding != "jsonschema":
        fail(f"channel {channel.topic!r}: schema encoding {schema.encoding!r}")
    if schema.name not in FOXGLOVE_SCHEMAS and not schema.name.startswith(SCALARS_PREFIX):
        fail(f"channel {channel.topic!r}: unexpected schema {schema.name!r}")
    try:
        text = json.loads(schema.data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        fail(f"schema {schema.name!r} is not JSON: {err}")
    if text.get("type") != "object" or text.get("title") != schema.name:
        fail(f"schema {schema.name!r}: not an object schema titled with its name")


def field_offsets(cloud):
    return {f["name"]: (f["offset"], f["type"]) for f in cloud["fields"]}


def check_cloud(topic, cloud):
    stride = cloud["point_stride"]
    data = base64.b64decode(cloud["data"])
    fields = field_offsets(cloud)
    for axis in "xyz":
        if fields.get(axis, (None, None))[1] != FLOAT32:
            fail(f"{topic}: no float32 {axis} field: {cloud['fields']}")
    if stride <= 0 or len(data) % stride:
        fail(f"{topic}: {len(data)} bytes is not whole points of {stride}")
    if cloud["frame_id"] != "world" or cloud["pose"]["orientation"]["w"] != 1:
        fail(f"{topic}: frame {cloud['frame_id']!r}, pose {cloud['pose']}")
    return data


def check_message(schema, topic, body):
    if not isinstance(body, dict):
        fail(f"a message on {topic} is not an object")
    if schema == "foxglove.PointCloud":
        check_cloud(topic, body)
    elif schema == "foxglove.SceneUpdate":
        for entity in body["entities"]:
            if entity["frame_id"] != "world":
                fail(f"{topic}: entity in frame {entity['frame_id']!r}")
            for line in entity["lines"]:
                if line["type"] != 0:
                    fail(f"{topic}: line type {line['type']} (LINE_STRIP is 0)")
                if line["colors"] and len(line["colors"]) != len(line["points"]):
                    fail(f"{topic}: {len(line['colors'])} colours for {len(line['points'])} points")
        if not body["entities"] and not body["deletions"]:
            fail(f"{topic}: a scene update that changes nothing")
    elif schema == "foxglove.Log":
        if body["level"] not in range(6) or not isinstance(body["message"], str):
            fail(f"{topic}: not a log message: {body}")
    elif schema == "foxglove.CompressedImage":
        data = base64.b64decode(body["data"], validate=True)
        whole = {
            "jpeg": data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9",
            "png": data[:8] == b"\x89PNG\r\n\x1a\n" and data[-8:-4] == b"IEND",
        }
        if not whole.get(body["format"]):
            fail(f"{topic}: not a whole {body['format']!r} image")
    elif schema == "foxglove.RawImage":
        data = base64.b64decode(body["data"], validate=True)
        pixel = RAW_PIXEL_BYTES.get(body["encoding"])
        if pixel is None:
            fail(f"{topic}: unexpected encoding {body['encoding']!r}")
        if body["step"] != body["width"] * pixel or len(data) != body["step"] * body["height"]:
            fail(f"{topic}: {len(data)} bytes for {body['width']}x{body['height']} {body['encoding']}, step {body['step']}")
    else:
        stamp = body.get("timestamp")
        if not isinstance(stamp, dict) or set(stamp) != {"sec", "nsec"}:
            fail(f"{topic}: a sample without its timestamp: {body}")


def check_expected_cloud(expected, messages):
    found = [
        body
        for topic, log_time, schema, body in messages
        if topic == expected["topic"] and log_time == expected["log_time"]
    ]
    if len(found) != 1:
        fail(f"{len(found)} clouds on {expected['topic']} at log time {expected['log_time']}")
    cloud = found[0]
    data = check_cloud(expected["topic"], cloud)
    stride = cloud["point_stride"]
    want = base64.b64decode(expected["points"])
    count = len(want) // 12
    if len(data) != count * stride:
        fail(f"{len(data)} bytes of data for {count} points of {stride} bytes")
    fields = field_offsets(cloud)
    colors = base64.b64decode(expected["colors"]) if expected.get("colors") else None
    for i in range(count):
        point = data[i * stride:(i + 1) * stride]
        got = b"".join(point[fields[a][0]:fields[a][0] + 4] for a in "xyz")
        if got != want[i * 12:(i + 1) * 12]:
            fail(f"point {i}: {struct.unpack('<3f', got)} != {struct.unpack('<3f', want[i * 12:(i + 1) * 12])}")
        if colors is not None:
            rgba = bytes(point[fields[c][0]] for c in ("red", "green", "blue", "alpha"))
            if rgba != colors[i * 3:i * 3 + 3] + b"\xff":
                fail(f"point {i}: colour {list(rgba)} != {list(colors[i * 3:i * 3 + 3])} + 255")
    return {"points": count, "point_stride": stride, "data_bytes": len(data)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export")
    parser.add_argument("--cloud", help="JSON of the cloud expected at one log time")
    parser.add_argument("--deps", help="where to find, or install, the mcap package")
    args = parser.parse_args()
    reader_module = import_mcap(args.deps)

    channels = {}
    messages = []
    digest = hashlib.sha256()
    with open(args.export, "rb") as f:
        reader = reader_module.make_reader(f, validate_crcs=True)
        summary = reader.get_summary()
        if summary is None:
            fail("no summary: the export was not closed properly")
        if not summary.chunk_indexes:
            fail("no chunk index")
        for channel in summary.channels.values():
            check_schema(channel, summary.schemas.get(channel.schema_id))
        for schema, channel, message in reader.iter_messages(log_time_order=False):
            digest.update(channel.topic.encode() + b"\0" + bytes(message.data))
            try:
                body = json.loads(bytes(message.data).decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as err:
                fail(f"a message on {channel.topic!r} is not JSON: {err}")
            check_message(schema.name, channel.topic, body)
            entry = channels.setdefault(channel.topic, {"schema": schema.name, "messages": 0})
            entry["messages"] += 1
            messages.append((channel.topic, message.log_time, schema.name, body))

    with open(args.export, "rb") as f:
        linear = reader_module.NonSeekingReader(f, validate_crcs=True)
        again = hashlib.sha256()
        for _, channel, message in linear.iter_messages(log_time_order=False):
            again.update(channel.topic.encode() + b"\0" + bytes(message.data))
    if again.digest() != digest.digest():
        fail("the linear read and the indexed read disagree")

    count = summary.statistics.message_count if summary.statistics else None
    if count != len(messages):
        fail(f"{len(messages)} messages read, the statistics say {count}")
    result = {"messages": len(messages), "channels": channels}
    if args.cloud:
        with open(args.cloud, encoding="utf-8") as f:
            result["cloud"] = check_expected_cloud(json.load(f), messages)
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
