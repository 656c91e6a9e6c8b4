"""The queue's bound and drop policy, without a hub: a sink that is down, then up."""

from __future__ import annotations

import json
import threading
from typing import Any

import numpy as np
import pytest
from conftest import array, wait_until

import vizcast as vz
from vizcast._queue import MESSAGE_BYTES, SAMPLE_BYTES
from vizcast.sinks import Sink, SinkClosed


class GateSink(Sink):
    """A sink that is down until ``up`` is set, then keeps every frame in memory."""

    def __init__(self) -> None:
        self.up = threading.Event()
        self.frames: list[bytes] = []
        self._open = False

    @property
    def target(self) -> str:
        return "memory"

    @property
    def is_open(self) -> bool:
        return self._open

    def open(self) -> None:
        if not self.up.is_set():
            raise SinkClosed("the hub is down (test)")
        self._open = True

    def send(self, frame: bytes) -> None:
        if not self.up.is_set():
            self._open = False
            raise SinkClosed("lost (test)")
        self.frames.append(frame)

    def close(self) -> None:
        self._open = False

    def messages(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for frame in self.frames:
            parsed = json.loads(frame)
            out.extend(parsed if isinstance(parsed, list) else [parsed])
        return out


def accounted(status: vz.Status) -> bool:
    return status.logged == status.sent + status.queued + status.dropped


def cloud(n: int) -> np.ndarray[Any, Any]:
    return np.zeros((n, 3), dtype=np.float32)


def test_everything_waits_while_down_and_goes_when_up() -> None:
    sink = GateSink()
    client = vz.Client(sink=sink, max_backoff=0.05)
    for i in range(1000):
        client.log("a", i)
    wait_until(lambda: client.status().last_error is not None, what="the first attempt")
    status = client.status()
    assert not status.connected and status.last_error == "the hub is down (test)"
    assert (status.logged, status.queued, status.sent, status.dropped) == (1000, 1000, 0, 0)
    assert status.queued_bytes == 1000 * SAMPLE_BYTES
    assert not client.flush(0.1)
    sink.up.set()
    assert client.flush(10)
    status = client.status()
    assert status.connected and (status.sent, status.queued) == (1000, 0)
    values = [v for m in sink.messages() for v in array(m["value"]).tolist()]
    assert values == list(range(1000))
    client.close()


def test_a_full_queue_drops_latest_wins_first_then_new_scalars() -> None:
    sink = GateSink()
    size = 1000 * 12 + MESSAGE_BYTES  # one 1,000-point cloud
    client = vz.Client(sink=sink, max_queue_bytes=3 * size + 100 * SAMPLE_BYTES, max_backoff=0.05)
    for _ in range(3):
        client.points("lidar", cloud(1000))
    client.image("cam", np.zeros((10, 10), dtype=np.uint8))  # evicts the oldest cloud
    for i in range(100):
        client.log("a", i)  # fits
    status = client.status()
    assert status.dropped == 1 and accounted(status)
    for i in range(100, 800):
        client.log("a", i)  # evicts the clouds and the image, then drops new samples
    status = client.status()
    assert accounted(status)
    kept = (3 * size + 100 * SAMPLE_BYTES) // SAMPLE_BYTES
    assert status.queued == kept and status.dropped == 4 + (800 - kept)
    client.text("events", "dropped too: the queue is full of scalars")
    client.points("lidar", cloud(1000))  # does not fit either, nothing left to evict
    assert client.status().dropped == 4 + (800 - kept) + 2
    sink.up.set()
    assert client.flush(10)
    values = [v for m in sink.messages() for v in array(m["value"]).tolist()]
    assert values == list(range(kept)), "the oldest samples are kept, in order"
    assert not any("points" in m or "image" in m or "text" in m for m in sink.messages())
    status = client.status()
    assert accounted(status) and status.queued == 0
    client.close()


def test_a_dropped_line_base_takes_its_appends_with_it() -> None:
    sink = GateSink()
    size = 1000 * 12 + MESSAGE_BYTES
    client = vz.Client(sink=sink, max_queue_bytes=2 * size + 2 * (12 + MESSAGE_BYTES), max_backoff=0.05)
    client.line("path", cloud(1000))
    client.line("path", [[1, 1, 1]], append=True)
    client.line("path2", cloud(1000))
    client.line("path2", [[2, 2, 2]], append=True)
    client.points("lidar", cloud(1000))  # evicts the oldest base: path's
    sink.up.set()
    assert client.flush(10)
    streams = [(m["stream"], m.get("append", False)) for m in sink.messages()]
    assert streams == [("path2", False), ("path2", True), ("lidar", False)]
    status = client.status()
    assert status.dropped == 2 and accounted(status)
    client.close()


def test_an_item_larger_than_the_queue_is_dropped_and_counted() -> None:
    sink = GateSink()
    sink.up.set()
    client = vz.Client(sink=sink, max_queue_bytes=10_000)
    client.points("lidar", cloud(10_000))
    client.log("a", 1.0)
    assert client.flush(10)
    status = client.status()
    assert (status.logged, status.sent, status.dropped) == (2, 1, 1)
    client.close()


def test_close_counts_what_could_not_be_sent_and_later_calls_are_dropped() -> None:
    sink = GateSink()
    client = vz.Client(sink=sink, max_backoff=0.05)
    for i in range(10):
        client.log("a", i)
    assert not client.close(timeout=0.2)
    client.log("a", 11)  # no exception: dropped and counted
    status = client.status()
    assert (status.logged, status.sent, status.dropped, status.queued) == (11, 0, 11, 0)


def test_on_status_reports_connection_changes() -> None:
    sink = GateSink()
    seen: list[vz.Status] = []
    client = vz.Client(sink=sink, max_backoff=0.05, on_status=seen.append)
    wait_until(lambda: any(s.last_error for s in seen), what="the first failure")
    sink.up.set()
    wait_until(lambda: any(s.connected for s in seen), what="connected")
    client.close()
    assert not seen[-1].connected


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda c: c.log("a//b", 1.0), ValueError),
        (lambda c: c.log("/a", 1.0), ValueError),
        (lambda c: c.log("", 1.0), ValueError),
        (lambda c: c.log("a\nb", 1.0), ValueError),
        (lambda c: c.log("x" * 300, 1.0), ValueError),
        (lambda c: c.log("a", "high"), TypeError),
        (lambda c: c.log("a", 1j), TypeError),
        (lambda c: c.log("a"), TypeError),
        (lambda c: c.log("a", 1.0, b=2.0), TypeError),
        (lambda c: c.log("a", 1.0, t=float("nan")), ValueError),
        (lambda c: c.log("a", {"x/y": 1.0}), ValueError),
        (lambda c: c.columns("a", t=[1, 2], value=[1]), ValueError),
        (lambda c: c.columns("a", t=[1, 2]), TypeError),
        (lambda c: c.columns("a", t=np.zeros((2, 2)), value=np.zeros((2, 2))), ValueError),
        (lambda c: c.points("a", np.zeros((3, 2))), ValueError),
        (lambda c: c.points("a", [[1, 2]]), ValueError),
        (lambda c: c.points("a", np.zeros((2, 3)), colors=np.zeros((3, 3))), ValueError),
        (lambda c: c.points("a", [[0, 0, 0]], colors=[[256, 0, 0]]), ValueError),
        (lambda c: c.points("a", [[0, 0, 0]], color="red"), ValueError),
        (lambda c: c.points("a", [[0, 0, 0]], radius=float("inf")), ValueError),
        (lambda c: c.text("a", "x", level="fatal"), ValueError),
        (lambda c: c.text("a", 42), TypeError),
        (lambda c: c.image("a", b"not an image"), ValueError),
        (lambda c: c.image("a", b"\x00" * 3, shape=(2, 2), dtype="u8"), ValueError),
        (lambda c: c.image("a", np.zeros((2, 2, 3), dtype=np.float32)), ValueError),
        (lambda c: c.image("a", np.zeros((2, 2)), colormap="jet"), ValueError),
    ],
)
def test_arguments_the_hub_would_reject_raise_at_once(call: Any, error: type[Exception]) -> None:
    client = vz.Client(sink=GateSink(), max_backoff=0.05)
    with pytest.raises(error):
        call(client)
    status = client.status()
    assert status.logged == 0 and accounted(status)
    client.close(0)


def test_without_numpy_lists_are_packed_too() -> None:
    """The pure-Python path (sequences, the array module) gives the same bytes as numpy."""
    sink = GateSink()
    sink.up.set()
    with vz.Client(sink=sink) as client:
        client.points("c", [[0.5, 1, 1.5], [-2, 3.25, 4]], colors=[[0.1, 0.2, 0.3], [1, 1, 1.0]])
        client.columns("s", t=[0, 1], value=[True, 2])
        assert client.flush(10)
    points, columns = sink.messages()
    assert array(points["points"]).tolist() == [0.5, 1, 1.5, -2, 3.25, 4]
    assert np.allclose(array(points["colors"]), [0.1, 0.2, 0.3, 1, 1, 1])
    assert array(columns["value"]).tolist() == [1.0, 2.0]
