#!/usr/bin/env python3
"""Reads a vizcast recording with an independent MCAP reader: the Python `mcap` package.

Usage: read_mcap.py RECORDING [--expect EXPECTED.jsonl] [--deps DIR]

Checks, and exits non-zero with the reason when one fails:
- every chunk's CRC (the seeking reader, `make_reader(f, validate_crcs=True)`), and the data
  section's CRC (a second, linear pass with `NonSeekingReader(f, validate_crcs=True)`), which
  yields the same messages;
- every channel has message encoding `json` and no schema (schema id 0), and the file holds no
  schema: what Lichtblick and Foxglove open channel by channel;
- every message is UTF-8 JSON of an object whose `stream` is its channel's topic;
- with --expect (one `{"topic": ..., "payload": ...}` line per message, in the order written): the
  messages are exactly those, the producer's bytes unchanged.

The `mcap` package is used from the environment, or from DIR (--deps) where it is installed with
pip when missing (`pip install --target`, which leaves the system's packages alone).
"""

import argparse
import fcntl
import importlib
import json
import os
import subprocess
import sys


def import_mcap(deps):
    """Imports the mcap package, installing it into `deps` first when it is missing."""
    if deps:
        os.makedirs(deps, exist_ok=True)
        sys.path.insert(0, deps)
    try:
        return importlib.import_module("mcap.reader")
    except ImportError:
        if not deps:
            raise
    # Tests run in parallel: one installs, the others wait and then find it.
    with open(os.path.join(deps, ".install.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        importlib.invalidate_caches()
        try:
            return importlib.import_module("mcap.reader")
        except ImportError:
            pass
        print(f"installing the Python mcap package into {deps}", file=sys.stderr)
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--upgrade", "--target", deps, "mcap"],
            check=True,
        )
        importlib.invalidate_caches()
        return importlib.import_module("mcap.reader")


def fail(message):
    print(f"read_mcap.py: {message}", file=sys.stderr)
    sys.exit(1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recording")
    parser.add_argument("--expect", help="JSON lines of {topic, payload}, one per message")
    parser.add_argument("--deps", help="where to find, or install, the mcap package")
    args = parser.parse_args()
    reader_module = import_mcap(args.deps)

    with open(args.recording, "rb") as f:
        reader = reader_module.make_reader(f, validate_crcs=True)
        summary = reader.get_summary()
        if summary is None:
            fail("no summary: the recording was not closed properly")
        if summary.schemas:
            names = sorted(s.name for s in summary.schemas.values())
            fail(f"the file holds schemas {names}: channels should have none")
        for channel in summary.channels.values():
            if channel.schema_id != 0 or channel.message_encoding != "json":
                fail(
                    f"channel {channel.topic!r}: schema id {channel.schema_id}, "
                    f"message encoding {channel.message_encoding!r} (expected 0 and json)"
                )
        messages = []
        for schema, channel, message in reader.iter_messages(log_time_order=False):
            if schema is not None:
                fail(f"channel {channel.topic!r} has a schema")
            messages.append((channel.topic, bytes(message.data)))
        metadata = {m.name: dict(m.metadata) for m in reader.iter_metadata()}

    # A second, linear pass: checks the data section's CRC too, and reads the same messages.
    with open(args.recording, "rb") as f:
        linear = reader_module.NonSeekingReader(f, validate_crcs=True)
        linear_messages = [
            (channel.topic, bytes(message.data))
            for _, channel, message in linear.iter_messages(log_time_order=False)
        ]
    if linear_messages != messages:
        fail("the linear read and the indexed read disagree")

    count = summary.statistics.message_count if summary.statistics else None
    if count != len(messages):
        fail(f"{len(messages)} messages read, the statistics say {count}")
    for i, (topic, data) in enumerate(messages):
        try:
            value = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            fail(f"message {i} on {topic!r} is not JSON: {err}")
        if not isinstance(value, dict) or value.get("stream") != topic:
            fail(f"message {i} on {topic!r} is not a message of that stream: {data[:120]!r}")

    if args.expect:
        with open(args.expect, encoding="utf-8") as f:
            expected = [json.loads(line) for line in f if line.strip()]
        expected = [(e["topic"], e["payload"].encode("utf-8")) for e in expected]
        if len(expected) != len(messages):
            fail(f"{len(messages)} messages, expected {len(expected)}")
        for i, (got, want) in enumerate(zip(messages, expected)):
            if got != want:
                fail(f"message {i} differs: got {got!r}, expected {want!r}")

    vizcast = metadata.get("vizcast", {})
    print(
        f"read {len(messages)} messages on {len(summary.channels)} channels with valid CRCs; "
        f"message_schema={vizcast.get('message_schema')}"
    )


if __name__ == "__main__":
    main()
