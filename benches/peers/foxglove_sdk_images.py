"""A peer for image fan-out: frames in over a WebSocket, out through the Foxglove SDK.

The producer connects to ws://127.0.0.1:PORT/ingest, as to vizcast or relay.py, and
sends `{"stream": S, "image": {"jpeg": "<base64>"}, "sent": N}`. Each such frame is
logged once on the JSON channel `/S`, whose schema is Foxglove's JSON Schema of
`foxglove.CompressedImage`, as
`{"timestamp": {...}, "frame_id": "", "format": "jpeg", "data": "<base64>", "sent": N}`
(the producer's base64 as it is). The SDK's own WebSocket server
(`foxglove.start_server`) fans it out to the Foxglove clients subscribed to it
(subprotocol `foxglove.sdk.v1`). A frame that is not an image (the benchmark's warm-up
`{"stream": S, "value": -1}`) only creates the channel.

The Python part is kept minimal, so that what is measured is the SDK's fan-out: frames
are read as bytes (no UTF-8 decoding) and the message is built by finding the base64
and the `sent` stamp in them and joining slices (no JSON parsing; stream names must be
plain, without escapes). When a producer disconnects, it prints to stderr the CPU time
its thread spent per image, building the message and in `channel.log`.

Usage: python foxglove_sdk_images.py PORT [FOXGLOVE_PORT]
(needs `pip install foxglove-sdk websockets`). It prints
`foxglove sdk server on 127.0.0.1:P` (P is FOXGLOVE_PORT, or one the system chose),
then, once both servers listen, `relay listening on 127.0.0.1:PORT`.
"""

import asyncio
import re
import sys
import time
from typing import Any

import foxglove
import websockets
from websockets.asyncio.server import ServerConnection

# Foxglove's JSON Schema of `foxglove.CompressedImage` (descriptions shortened).
COMPRESSED_IMAGE: dict[str, Any] = {
    "title": "foxglove.CompressedImage",
    "description": "A compressed image",
    "type": "object",
    "properties": {
        "timestamp": {
            "type": "object",
            "title": "time",
            "properties": {
                "sec": {"type": "integer", "minimum": 0},
                "nsec": {"type": "integer", "minimum": 0, "maximum": 999999999},
            },
            "description": "Timestamp of image",
        },
        "frame_id": {
            "type": "string",
            "description": "Frame of reference for the image",
        },
        "data": {
            "type": "string",
            "contentEncoding": "base64",
            "description": "Compressed image data",
        },
        "format": {"type": "string", "description": "Image format"},
    },
    "required": ["timestamp", "frame_id", "data", "format"],
}

CHANNELS: dict[bytes, foxglove.Channel] = {}
STREAM = b'"stream":"'
FORMATS = ((b'"jpeg":"', b"jpeg"), (b'"png":"', b"png"))
SENT = b'"sent":'
NUMBER = re.compile(rb"-?[0-9][0-9.eE+-]*")
HEAD = b'{"timestamp":{"sec":%d,"nsec":%d},"frame_id":"","format":"%s","data":"'


class Stats:
    """CPU time of this thread spent on images, printed at a producer's disconnect."""

    images = 0
    build_ns = 0
    log_ns = 0


def channel_of(frame: bytes) -> foxglove.Channel | None:
    """Return the channel of the frame's stream, created on its first frame."""
    at = frame.find(STREAM)
    if at < 0:
        return None
    at += len(STREAM)
    stream = frame[at : frame.find(b'"', at)]
    channel = CHANNELS.get(stream)
    if channel is None:
        channel = foxglove.Channel(
            "/" + stream.decode(), message_encoding="json", schema=COMPRESSED_IMAGE
        )
        CHANNELS[stream] = channel
    return channel


def image_of(frame: bytes) -> tuple[int, int, bytes] | None:
    """Return where the frame's image base64 starts and ends, and its format."""
    for key, format_name in FORMATS:
        at = frame.find(key)
        if at >= 0:
            at += len(key)
            return at, frame.find(b'"', at), format_name
    return None


def relay(frame: bytes) -> None:
    """Log the frame's image, if it has one, on its stream's channel."""
    started = time.thread_time_ns()
    channel = channel_of(frame)
    image = image_of(frame)
    if channel is None or image is None:
        return  # not an image: the channel exists now, and that is all
    start, end, format_name = image
    now = time.time_ns()
    head = HEAD % (now // 1_000_000_000, now % 1_000_000_000, format_name)
    sent_at = frame.rfind(SENT)
    sent = NUMBER.match(frame, sent_at + len(SENT)) if sent_at >= 0 else None
    tail = b'","sent":' + sent.group() + b"}" if sent is not None else b'"}'
    message = b"".join((head, memoryview(frame)[start:end], tail))
    built = time.thread_time_ns()
    channel.log(message)
    Stats.images += 1
    Stats.build_ns += built - started
    Stats.log_ns += time.thread_time_ns() - built


async def handler(ws: ServerConnection) -> None:
    """Relay a producer's frames; refuse other paths."""
    if ws.request is None or ws.request.path.split("?")[0] != "/ingest":
        await ws.close(1008, "unknown path: producers connect to /ingest")
        return
    before = (Stats.images, Stats.build_ns, Stats.log_ns)
    try:
        while True:
            frame = await ws.recv(decode=False)
            relay(frame if isinstance(frame, bytes) else bytes(frame))
    except websockets.ConnectionClosed:
        pass
    images = Stats.images - before[0]
    if images:
        build = (Stats.build_ns - before[1]) / images / 1000
        log = (Stats.log_ns - before[2]) / images / 1000
        print(
            f"foxglove_sdk_images: {images} images; CPU of the Python thread per image:"
            f" {build:.0f} µs building the message, {log:.0f} µs in channel.log",
            file=sys.stderr,
            flush=True,
        )


async def main(port: int, foxglove_port: int) -> None:
    """Start the SDK's server, then the ingest server, and run until killed."""
    server = foxglove.start_server(
        name="vizcast-bench", host="127.0.0.1", port=foxglove_port
    )
    print(f"foxglove sdk server on 127.0.0.1:{server.port}", flush=True)
    async with websockets.serve(
        handler, "127.0.0.1", port, max_size=64 * 1024 * 1024, compression=None
    ):
        print(f"relay listening on 127.0.0.1:{port}", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    ports = [int(arg) for arg in sys.argv[1:3]]
    asyncio.run(main(ports[0], ports[1] if ports[1:] else 0))
