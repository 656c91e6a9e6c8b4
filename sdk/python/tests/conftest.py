"""Fixtures: a real vizcast hub (``VIZCAST_BIN``, default ``target/debug/vizcast``) and a viewer on ``/ws``."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from websockets.sync.client import connect

REPO = Path(__file__).resolve().parents[3]
SDK = Path(__file__).resolve().parents[1]


def vizcast_bin() -> str:
    """The hub binary under test."""
    default = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target")) / "debug" / "vizcast"
    path = os.environ.get("VIZCAST_BIN") or str(default)
    if not Path(path).is_file():
        pytest.fail(f"the vizcast binary is missing: {path} (build it, or set VIZCAST_BIN)")
    return path


class Hub:
    """A vizcast process: ``vizcast --headless --listen 127.0.0.1:PORT ARGS``."""

    def __init__(
        self,
        *args: str,
        port: int = 0,
        host: str = "127.0.0.1",
        subcommand: tuple[str, ...] = (),
        stdin: Any = subprocess.DEVNULL,
    ) -> None:
        self.args = args
        env = {**os.environ, "RUST_LOG": "warn", "NO_COLOR": "1"}
        self.process = subprocess.Popen(
            [vizcast_bin(), *subcommand, "--headless", "--listen", f"{host}:{port}", *args],
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        self.stdout = ""
        self.stderr: list[str] = []
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        assert self.process.stdout is not None
        deadline = time.monotonic() + 30
        url = None
        for raw in self.process.stdout:
            line = raw.decode()
            self.stdout += line
            match = re.search(r"listening on (https?://\S+)", line)
            if match:
                url = match.group(1)
                break
            if time.monotonic() > deadline:
                break
        if url is None:
            self.process.kill()
            raise RuntimeError(f"vizcast did not start: {self.stdout} {''.join(self.stderr)}")
        threading.Thread(target=self._drain_stdout, daemon=True).start()
        self.url = url.rstrip("/")
        self.port = int(self.url.rsplit(":", 1)[1].split("/")[0].split("?")[0])
        token = re.search(r"\?token=(\w+)", self.stdout)
        self.token = token.group(1) if token else None

    def _drain_stdout(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            self.stdout += raw.decode()

    def _drain_stderr(self) -> None:
        assert self.process.stderr is not None
        for raw in self.process.stderr:
            self.stderr.append(raw.decode())

    @property
    def ingest_url(self) -> str:
        """Where producers connect."""
        return f"ws://127.0.0.1:{self.port}/ingest"

    def stats(self) -> dict[str, Any]:
        """``/api/stats``."""
        url = f"http://127.0.0.1:{self.port}/api/stats"
        if self.token:
            url += f"?token={self.token}"
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback
            return json.loads(response.read())  # type: ignore[no-any-return]

    def wait_ingest(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 30) -> dict[str, Any]:
        """Polls ``/api/stats`` until ``predicate(stats["ingest"])``."""
        deadline = time.monotonic() + timeout
        while True:
            ingest = self.stats()["ingest"]
            if predicate(ingest):
                return ingest
            if time.monotonic() > deadline:
                raise AssertionError(f"ingest never got there: {ingest}")
            time.sleep(0.05)

    def signal(self, sig: signal.Signals) -> None:
        """Sends ``sig`` to the process."""
        self.process.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL, and waits."""
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        """SIGTERM (after SIGCONT, in case it was stopped), and waits."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def hub() -> Iterator[Hub]:
    """A fresh hub on a free loopback port."""
    started = Hub()
    yield started
    started.stop()


class Viewer:
    """A client of ``/ws`` that collects frames (as text) in a background thread."""

    def __init__(self, hub: Hub, query: str = "") -> None:
        url = f"ws://127.0.0.1:{hub.port}/ws{query}"
        self._cm = connect(url, max_size=64 * 1024 * 1024, compression=None)
        self._ws = self._cm.__enter__()
        self.frames: list[str] = []
        self.control: list[dict[str, Any]] = []
        self.snapshot_done = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        assert self.snapshot_done.wait(20), "no snapshot_end"

    def _read(self) -> None:
        try:
            for message in self._ws:
                text = message if isinstance(message, str) else message.decode()
                if text.startswith('{"vizcast":'):
                    control = json.loads(text)
                    with self._lock:
                        self.control.append(control)
                    if control["vizcast"] == "snapshot_end":
                        self.snapshot_done.set()
                    continue
                with self._lock:
                    self.frames.append(text)
        except Exception:  # noqa: BLE001 - the test closes it
            return

    def messages(self) -> list[dict[str, Any]]:
        """Every message received so far, batches flattened, in order."""
        with self._lock:
            frames = list(self.frames)
        out: list[dict[str, Any]] = []
        for frame in frames:
            parsed = json.loads(frame)
            out.extend(parsed if isinstance(parsed, list) else [parsed])
        return out

    def wait_for(self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 30) -> list[dict[str, Any]]:
        """Waits until ``predicate(messages)`` holds; returns the messages."""
        deadline = time.monotonic() + timeout
        while True:
            messages = self.messages()
            if predicate(messages):
                return messages
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; {len(messages)} messages: {str(messages)[:2000]}")
            time.sleep(0.02)

    def close(self) -> None:
        """Disconnects."""
        self._cm.__exit__(None, None, None)


@pytest.fixture
def viewer_of() -> Iterator[Callable[[Hub], Viewer]]:
    """Opens viewers on a hub; closed at the end of the test."""
    opened: list[Viewer] = []

    def open_viewer(hub: Hub) -> Viewer:
        viewer = Viewer(hub)
        opened.append(viewer)
        return viewer

    yield open_viewer
    for viewer in opened:
        viewer.close()


def array(value: Any) -> np.ndarray[Any, Any]:
    """A protocol array (a JSON list or a compact ``{"f32": …}``) as numpy."""
    if isinstance(value, dict):
        ((tag, text),) = value.items()
        dtype = {"f32": "<f4", "f64": "<f8", "u8": "u1", "u16": "<u2"}[tag]
        return np.frombuffer(base64.b64decode(text), dtype=dtype)
    return np.asarray(value, dtype=float)


def samples(messages: list[dict[str, Any]], stream: str) -> tuple[list[float], list[float]]:
    """The ``(t, value)`` samples of ``stream`` in these messages, in order."""
    ts: list[float] = []
    vs: list[float] = []
    for message in messages:
        if message.get("stream") != stream or "value" not in message:
            continue
        t, v = message["t"], message["value"]
        if isinstance(v, (int, float)):
            ts.append(float(t))
            vs.append(float(v))
        else:
            ts.extend(array(t).tolist())
            vs.extend(array(v).tolist())
    return ts, vs


def wait_until(predicate: Callable[[], bool], timeout: float = 30, what: str = "") -> None:
    """Polls ``predicate`` until it holds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.01)
