"""A connection you can see: a hub killed and restarted, a hub stopped, refusals and rejections."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import SDK, Hub, Viewer, samples, vizcast_bin, wait_until

import vizcast as vz
from vizcast._queue import SAMPLE_BYTES


def test_a_hub_killed_mid_stream_and_started_again(viewer_of: Callable[[Hub], Viewer]) -> None:
    hub = Hub()
    port = hub.port
    changes: list[bool] = []

    def on_status(status: vz.Status) -> None:
        if not changes or changes[-1] != status.connected:
            changes.append(status.connected)

    bound = 20_000
    client = vz.Client(hub.ingest_url, max_queue_bytes=bound * SAMPLE_BYTES, max_backoff=0.2, on_status=on_status)
    i = 0
    try:
        wait_until(lambda: client.status().connected, what="connected")
        for _ in range(5_000):
            client.log("seq", i)
            i += 1
        hub.kill()  # mid-stream: logging goes on, and the client notices
        while client.status().connected:
            client.log("seq", i)
            i += 1
        status = client.status()
        assert status.last_error and "hub" in status.last_error
        first_unseen, sent_before = i, status.sent
        for _ in range(50_000):  # more than the queue holds
            client.log("seq", i)
            i += 1
        status = client.status()
        assert status.dropped > 0
        assert status.logged == status.sent + status.queued + status.dropped == i
        hub = Hub(port=port)
        viewer = viewer_of(hub)
        wait_until(lambda: client.status().connected, what="connected again")
        assert client.flush(30)
        status = client.status()
        assert status.logged == status.sent + status.dropped == i and status.queued == 0
        assert status.reconnects == 1
        received = samples(viewer.wait_for(lambda m: len(samples(m, "seq")[1]) == status.sent - sent_before), "seq")[1]
        assert received == sorted(set(received)), "in order, no duplicates"
        unseen = set(range(first_unseen, i))
        # What was logged while the hub was away reached the new hub, up to the bound (the queue
        # was full: it holds what the sender had not sent yet, and what came after); every record
        # of it that did not is counted as dropped.
        assert len(unseen - set(received)) == status.dropped
        assert len(received) >= bound - 1
        assert changes[:3] == [True, False, True]
    finally:
        client.close(1)
        hub.stop()


def test_log_keeps_returning_while_the_hub_is_stopped(viewer_of: Callable[[Hub], Viewer]) -> None:
    hub = Hub()
    client = vz.Client(hub.ingest_url, max_queue_bytes=10_000 * SAMPLE_BYTES)
    try:
        client.log("fill", -1)
        assert client.flush(10)
        hub.signal(signal.SIGSTOP)
        # Fill the sockets' buffers until the sender blocks in a send the stopped hub never reads.
        last_sent, since = -1, time.monotonic()
        for n in range(3_000_000):
            client.log("fill", n)
            if n % 10_000 == 0:
                sent = client.status().sent
                if sent != last_sent:
                    last_sent, since = sent, time.monotonic()
                elif time.monotonic() - since > 0.5:
                    break
        before = client.status()
        for i in range(100_000):
            client.log("s", i)  # never blocks, whatever the socket does
        status = client.status()
        assert status.logged == before.logged + 100_000
        assert status.logged == status.sent + status.queued + status.dropped
        assert status.dropped - before.dropped > 0, "the queue was full: new samples were dropped, and counted"
        hub.signal(signal.SIGCONT)
        assert client.flush(60)
        status = client.status()
        assert status.logged == status.sent + status.dropped and status.queued == 0
        # Every record sent reached the hub (scalar samples are what it counts here).
        hub.wait_ingest(lambda ingest: ingest["samples"] >= status.sent)
        assert hub.stats()["ingest"]["samples"] == status.sent
        assert hub.stats()["ingest"]["rejected"] == 0
        # The queue was full of "fill" samples: the "s" ones that fitted went, the rest were counted.
        received = samples(viewer_of(hub).messages(), "s")[1]
        assert len(received) == 100_000 - (status.dropped - before.dropped)
        assert received == sorted(set(received)), "in order, no duplicates"
    finally:
        client.close(1)
        hub.stop()


def test_a_hub_that_is_down_is_a_warning_not_an_exception(caplog: pytest.LogCaptureFixture) -> None:
    hub = Hub()
    hub.stop()  # a port where nothing listens now
    caplog.set_level(logging.WARNING, logger="vizcast")
    client = vz.Client(hub.ingest_url, max_backoff=0.05)
    for i in range(1000):
        client.log("a", i)
    wait_until(lambda: client.status().last_error is not None, what="an error")
    assert "connection refused" in str(client.status().last_error)
    assert not client.close(0.2)
    assert client.status().dropped == 1000
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("connection refused" in r.getMessage() for r in warnings)
    assert any("1000 records were not sent" in r.getMessage() for r in warnings)


def test_a_rejected_frame_reaches_the_user_with_the_hubs_reason(caplog: pytest.LogCaptureFixture) -> None:
    hub = Hub("--max-streams", "2")
    caplog.set_level(logging.WARNING, logger="vizcast")
    try:
        with vz.Client(hub.ingest_url, batch_interval=0.2) as client:
            client.log("a", 1.0)
            assert client.flush(10)
            client.log("b", 1.0)
            client.log("c", 1.0)  # a third stream: the hub rejects the frame that carries it
            assert client.flush(10)
            wait_until(lambda: client.status().rejected > 0, what="the rejection")
            status = client.status()
        assert status.rejected == 2
        assert status.last_error is not None and "stream limit reached" in status.last_error
        assert any("stream limit reached" in r.getMessage() for r in caplog.records)
        assert hub.stats()["ingest"]["rejected"] == 1
    finally:
        hub.stop()


def test_a_rejection_of_the_last_frames_is_reported_at_close() -> None:
    hub = Hub("--max-streams", "1")
    try:
        client = vz.Client(hub.ingest_url)
        client.log("a", 1.0)
        client.log("b", 1.0)
        assert client.close()  # everything was sent; the hub's answer comes with the close
        status = client.status()
        assert status.rejected == 2 and "stream limit reached" in str(status.last_error)
    finally:
        hub.stop()


@pytest.mark.parametrize("points", [2_000, 200_000])
def test_a_frame_over_the_hubs_limit_is_dropped_once_not_resent_forever(
    viewer_of: Callable[[Hub], Viewer], points: int
) -> None:
    """The hub closes the connection (1009) on a frame over --max-frame-bytes: the client drops
    that frame, lowers its own limit, reconnects and goes on. (A small frame sits in the socket's
    buffer when the close comes; a large one is cut short while it is written.)"""
    hub = Hub("--max-frame-bytes", "16KiB")
    try:
        viewer = viewer_of(hub)
        with vz.Client(hub.ingest_url, max_backoff=0.1) as client:
            client.log("before", 1.0)
            assert client.flush(10)
            client.points("lidar", np.zeros((points, 3), dtype=np.float32))
            wait_until(lambda: client.status().reconnects == 1 and client.status().connected, what="reconnected")
            client.log("after", 2.0)
            client.points("lidar", np.zeros((points, 3), dtype=np.float32))  # dropped before it is sent
            client.points("small", np.zeros((10, 3), dtype=np.float32))
            assert client.flush(10)
            status = client.status()
        assert "max-frame-bytes" in str(status.last_error)
        assert status.dropped + status.rejected == 2
        assert status.logged == status.sent + status.dropped
        messages = viewer.wait_for(lambda m: any(x["stream"] == "small" for x in m))
        assert [m["stream"] for m in messages] == ["before", "after", "small"]
    finally:
        hub.stop()


def test_a_refused_producer_gets_the_hubs_reason() -> None:
    hub = Hub("--max-producers", "1")
    try:
        with vz.Client(hub.ingest_url) as first:
            wait_until(lambda: first.status().connected, what="the first producer")
            with vz.Client(hub.ingest_url, max_backoff=0.1) as second:
                wait_until(lambda: "too many producers" in str(second.status().last_error), what="the refusal")
                assert not second.status().connected or second.status().reconnects > 0
    finally:
        hub.stop()


def _unshare_works() -> bool:
    try:
        return subprocess.run(["unshare", "--net", "true"], capture_output=True, check=False).returncode == 0
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not _unshare_works(), reason="needs a private network namespace (unshare --net: root)")
def test_a_wrong_token_gives_a_status_with_the_hubs_reason(tmp_path: Path) -> None:
    """A producer on another address (in a private network namespace) with a wrong, then the right token."""
    script = SDK / "tests" / "token_check.py"
    env = {**os.environ, "VIZCAST_BIN": vizcast_bin(), "PYTHONPATH": str(SDK / "src")}
    result = subprocess.run(
        ["unshare", "--net", sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert not report["wrong"]["connected"]
    assert "HTTP 401" in report["wrong"]["last_error"]
    assert "missing or wrong ingest token" in report["wrong"]["last_error"]
    assert report["right"]["connected"] and report["right"]["sent"] == 10
    assert report["ingest"]["frames"] > 0 and report["ingest"]["rejected"] == 0
