"""JSON lines for ``vizcast --stdin`` and ``vizcast replay``, the flush at exit, and ``spawn``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
from conftest import SDK, Hub, samples, vizcast_bin

import vizcast as vz

PRODUCER = textwrap.dedent(
    """
    import sys
    import numpy as np
    import vizcast as vz

    {setup}
    for i in range(1000):
        vz.log("count", i, t=1000.0 + i / 1000)
    vz.log("imu", ax=0.1, ay=-9.8, t=1001.0)
    vz.points("lidar", np.zeros((100, 3), dtype=np.float32), t=1001.0)
    vz.line("path", [[0, 0, 0], [1, 1, 1]], t=1001.0)
    vz.text("events", "done", t=1001.0)
    vz.image("heat", np.eye(4), colormap="viridis", t=1001.0)
    # No close(): the flush at exit sends what is queued.
    """
)


def run_producer(setup: str, **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONPATH": str(SDK / "src")}
    code = PRODUCER.format(setup=setup)
    return subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60, **kwargs)  # type: ignore[call-overload, no-any-return]


def test_json_lines_to_a_file_replay_in_vizcast(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    run_producer(f"vz.to_jsonl({str(path)!r})")
    lines = path.read_bytes().splitlines()
    frames = [json.loads(line) for line in lines]
    messages = [m for f in frames for m in (f if isinstance(f, list) else [f])]
    assert samples(messages, "count")[1] == [float(i) for i in range(1000)]
    assert {m["stream"] for m in messages} == {"count", "imu", "lidar", "path", "events", "heat"}
    hub = Hub("--speed", "max", subcommand=("replay", str(path)))
    try:
        ingest = hub.wait_ingest(lambda ingest: ingest["frames"] + ingest["rejected"] >= len(lines))
        assert ingest["rejected"] == 0 and ingest["frames"] == len(lines)
    finally:
        hub.stop()


def test_json_lines_to_stdout_feed_vizcast_stdin() -> None:
    env = {**os.environ, "PYTHONPATH": str(SDK / "src")}
    producer = subprocess.Popen(
        [sys.executable, "-c", PRODUCER.format(setup="vz.to_jsonl()")], stdout=subprocess.PIPE, env=env
    )
    hub = Hub("--stdin", stdin=producer.stdout)
    try:
        assert producer.wait(60) == 0
        ingest = hub.wait_ingest(lambda ingest: ingest["samples"] >= 1000 + 2 + 100 + 2 + 1)
        assert ingest["rejected"] == 0
    finally:
        hub.stop()


def test_the_flush_at_exit_sends_what_is_queued(hub: Hub) -> None:
    run_producer(f"vz.connect({hub.ingest_url!r})")
    ingest = hub.wait_ingest(lambda ingest: ingest["samples"] >= 1000)
    assert ingest["rejected"] == 0


def test_spawn_starts_a_local_vizcast_and_connects() -> None:
    client = vz.spawn(binary=vizcast_bin(), headless=True, stop_on_close=True)
    try:
        assert client.hub is not None and client is vz.get_client()
        assert client.target == client.hub.ingest_url
        vz.columns("signal", t=np.arange(100.0), value=np.sin(np.arange(100.0)))
        assert vz.flush(10)
        assert vz.status().sent == 100
    finally:
        vz.close()
    assert client.hub.process.wait(10) is not None
