"""What a real hub and its viewers receive: order, completeness, every kind as docs/protocol.md says."""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from conftest import Hub, Viewer, array, samples

import vizcast as vz


def test_100k_scalars_arrive_in_order_with_nothing_missing(hub: Hub, viewer_of: Callable[[Hub], Viewer]) -> None:
    viewer = viewer_of(hub)
    n = 100_000
    with vz.Client(hub.ingest_url) as client:
        for i in range(n):
            client.log("count", i, t=1000.0 + i)
            if i % 10 == 0:
                client.log("tenth", i / 10)
        assert client.flush(60)
        status = client.status()
    assert status.logged == status.sent == n + n // 10
    assert status.dropped == status.rejected == status.queued == 0
    messages = viewer.wait_for(lambda m: len(samples(m, "count")[1]) >= n)
    ts, vs = samples(messages, "count")
    assert vs == [float(i) for i in range(n)]
    assert ts == [1000.0 + i for i in range(n)]
    assert samples(messages, "tenth")[1] == [float(i) for i in range(n // 10)]
    # Gathered into columnar messages, several samples per frame: far fewer frames than calls.
    ingest = hub.stats()["ingest"]
    assert ingest["rejected"] == 0
    assert ingest["frames"] < n / 10


def test_a_numpy_cloud_arrives_bit_exact(hub: Hub, viewer_of: Callable[[Hub], Viewer]) -> None:
    viewer = viewer_of(hub)
    rng = np.random.default_rng(7)
    xyz = rng.normal(size=(100_000, 3)).astype(np.float32)
    xyz[0] = [np.float32(1e-45), np.float32(-0.0), np.float32(3.4e38)]  # subnormal, signed zero, huge
    rgb = rng.integers(0, 256, size=(100_000, 3), dtype=np.uint8)
    with vz.Client(hub.ingest_url) as client:
        client.points("lidar", xyz, colors=rgb, radius=0.02)
        xyz[:] = 0  # the call copied the array: changing it afterwards changes nothing sent
        assert client.flush(30)
    (cloud,) = viewer.wait_for(lambda m: any(x.get("stream") == "lidar" for x in m))
    assert set(cloud["points"]) == {"f32"}, "a numpy cloud is sent as a compact array, never as lists"
    sent = rng_cloud = np.random.default_rng(7).normal(size=(100_000, 3)).astype(np.float32)
    rng_cloud[0] = [np.float32(1e-45), np.float32(-0.0), np.float32(3.4e38)]
    assert base64.b64decode(cloud["points"]["f32"]) == sent.astype("<f4").tobytes()
    assert base64.b64decode(cloud["colors"]["u8"]) == rgb.tobytes()
    assert cloud["radius"] == 0.02
    assert isinstance(cloud["t"], float)


def _png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (3, 2), (200, 10, 10)).save(out, format="PNG")
    return out.getvalue()


def _jpeg() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 200, 10)).save(out, format="JPEG")
    return out.getvalue()


def test_every_kind_reaches_a_viewer_as_documented(hub: Hub, viewer_of: Callable[[Hub], Viewer]) -> None:
    viewer = viewer_of(hub)
    heat = np.linspace(0, 1, 12, dtype=np.float64).reshape(3, 4)
    png, jpeg = _png(), _jpeg()
    with vz.Client(hub.ingest_url) as client:
        client.log("robot/arm/joint1", 0.53, t=10.0)
        client.log("robot/arm/flag", True, t=10.0)
        client.log("robot/arm/np", np.float32(1.5), t=10.0)
        client.log("robot/arm/nan", math.nan, t=10.0)
        client.log("imu", ax=0.1, ay=-9.8, t=11.0)
        client.log("imu", ax=0.2, ay=-9.7, t=12.0)
        client.log("nested", {"gyro": {"z": 0.5}, "ok": 1}, t=13.0)
        client.columns("signal", t=np.arange(5) * 0.001, value=np.arange(5, dtype=np.float32))
        client.columns("multi", t=[0.0, 1.0], ax=np.array([1.0, 2.0]), ay=[3, 4])
        client.points("cloud/plain", [[0.5, 1, 1.5], [-2, 3.25, 4]], color="#f97316")
        client.points("cloud/floatcolors", np.zeros((2, 3)), colors=np.array([[1.0, 0, 0], [0, 1, 0]]))
        client.points("cloud/intcolors", [[0, 0, 0]], colors=[[255, 0, 0]])
        client.line("path", [[0, 0, 0], [1, 0, 0]], color=(1.0, 0.5, 0.0), width=2)
        client.line("path", [[1, 1, 0]], append=True)
        client.text("events", "calibrated")
        client.text("events", "over-current", level="error")
        client.image("cam/png", png)
        client.image("cam/jpeg", jpeg)
        client.image("cam/rgb", np.full((2, 3, 3), 7, dtype=np.uint8))
        client.image("cam/depth", np.arange(6, dtype=np.uint16).reshape(2, 3))
        client.image("sim/heat", heat, colormap="turbo", range=(0, 1))
        client.image("raw", b"\x00\x01\x02\xff", shape=(2, 2), dtype="u8")
        client.clear("robot")
        assert client.flush(30)
        status = client.status()
    assert status.rejected == 0, status.last_error
    messages = viewer.wait_for(lambda m: any("clear" in x for x in m))
    assert hub.stats()["ingest"]["rejected"] == 0

    def only(stream: str, key: str) -> list[dict[str, Any]]:
        return [m for m in messages if m["stream"] == stream and key in m]

    assert samples(messages, "robot/arm/joint1") == ([10.0], [0.53])
    assert samples(messages, "robot/arm/flag") == ([10.0], [1.0])
    assert samples(messages, "robot/arm/np") == ([10.0], [1.5])
    assert math.isnan(samples(messages, "robot/arm/nan")[1][0])
    (imu,) = only("imu", "values")
    assert array(imu["t"]).tolist() == [11.0, 12.0]
    assert array(imu["values"]["ax"]).tolist() == [0.1, 0.2]
    assert array(imu["values"]["ay"]).tolist() == [-9.8, -9.7]
    (nested,) = only("nested", "values")
    assert array(nested["values"]["gyro"]["z"]).tolist() == [0.5]
    assert array(nested["values"]["ok"]).tolist() == [1.0]
    (signal,) = only("signal", "value")
    assert set(signal["value"]) == {"f32"} and set(signal["t"]) == {"f64"}
    assert array(signal["value"]).tolist() == [0, 1, 2, 3, 4]
    assert array(signal["t"]).tolist() == (np.arange(5) * 0.001).tolist()
    (multi,) = only("multi", "values")
    assert array(multi["values"]["ay"]).tolist() == [3.0, 4.0]
    (plain,) = only("cloud/plain", "points")
    assert array(plain["points"]).tolist() == [0.5, 1, 1.5, -2, 3.25, 4]
    assert plain["color"] == "#f97316"
    (floats,) = only("cloud/floatcolors", "points")
    assert set(floats["colors"]) == {"f32"}
    (ints,) = only("cloud/intcolors", "points")
    assert base64.b64decode(ints["colors"]["u8"]) == bytes([255, 0, 0])
    base, append = only("path", "line")
    assert array(base["line"]).tolist() == [0, 0, 0, 1, 0, 0] and "append" not in base
    assert base["color"] == [1.0, 0.5, 0.0] and base["width"] == 2.0
    assert array(append["line"]).tolist() == [1, 1, 0] and append["append"] is True
    info, error = only("events", "text")
    assert info["text"] == "calibrated" and "level" not in info
    assert error["text"] == "over-current" and error["level"] == "error"
    assert base64.b64decode(only("cam/png", "image")[0]["image"]["png"]) == png
    assert base64.b64decode(only("cam/jpeg", "image")[0]["image"]["jpeg"]) == jpeg
    rgb = only("cam/rgb", "image")[0]["image"]
    assert rgb["shape"] == [2, 3, 3] and base64.b64decode(rgb["u8"]) == bytes([7] * 18)
    depth = only("cam/depth", "image")[0]["image"]
    assert depth["shape"] == [2, 3] and base64.b64decode(depth["u16"]) == np.arange(6, dtype="<u2").tobytes()
    field = only("sim/heat", "image")[0]["image"]
    assert field["shape"] == [3, 4] and field["colormap"] == "turbo" and field["range"] == [0.0, 1.0]
    assert base64.b64decode(field["f32"]) == heat.astype("<f4").tobytes()
    assert only("raw", "image")[0]["image"] == {"shape": [2, 2], "u8": base64.b64encode(b"\x00\x01\x02\xff").decode()}
    assert messages[-1] == {"stream": "robot", "clear": True}


def test_latest_wins_kinds_travel_in_frames_of_their_own(hub: Hub, viewer_of: Callable[[Hub], Viewer]) -> None:
    """So that the hub can skip a superseded cloud for a slow viewer without skipping scalars."""
    viewer = viewer_of(hub)
    with vz.Client(hub.ingest_url, batch_interval=0.2) as client:
        client.log("a", 1.0)
        assert client.flush(10)
        client.log("a", 2.0)
        client.points("cloud", np.zeros((3, 3), dtype=np.float32))
        client.log("a", 3.0)
        client.image("img", np.zeros((2, 2), dtype=np.uint8))
        client.text("events", "x")
        assert client.flush(10)
    viewer.wait_for(lambda m: any(x.get("stream") == "events" for x in m))
    for frame in viewer.frames:
        if '"points"' in frame or '"image"' in frame:
            assert frame.startswith('{"stream":'), frame[:80]
    assert samples(viewer.messages(), "a")[1] == [1.0, 2.0, 3.0]


def test_samples_logged_after_a_clear_follow_it(hub: Hub, viewer_of: Callable[[Hub], Viewer]) -> None:
    viewer = viewer_of(hub)
    with vz.Client(hub.ingest_url, batch_interval=0.5) as client:
        client.log("robot/x", 1.0)
        client.log("robot/x", 2.0)
        client.clear("robot")
        client.log("robot/x", 3.0)
        assert client.flush(10)
    messages = viewer.wait_for(lambda m: len(samples(m, "robot/x")[1]) == 3)
    kinds = [("clear" if "clear" in m else array(m["value"]).tolist()) for m in messages]
    assert kinds == [[1.0, 2.0], "clear", [3.0]]


@pytest.mark.parametrize("count", [1, 70_000])
def test_columns_are_split_into_messages_the_hub_accepts(
    hub: Hub, viewer_of: Callable[[Hub], Viewer], count: int
) -> None:
    viewer = viewer_of(hub)
    t = np.arange(count, dtype=np.float64)
    with vz.Client(hub.ingest_url) as client:
        client.columns("big", t=t, value=t * 2)
        assert client.flush(30)
        assert client.status().sent == count
    messages = viewer.wait_for(lambda m: len(samples(m, "big")[1]) == count)
    assert samples(messages, "big")[1] == (t * 2).tolist()
    assert hub.stats()["ingest"]["rejected"] == 0
