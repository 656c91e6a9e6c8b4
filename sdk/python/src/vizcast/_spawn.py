"""Starting a local vizcast for :func:`vizcast.spawn`."""

from __future__ import annotations

import logging
import os
import queue
import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import IO

__all__ = ["SpawnedHub", "find_binary", "start_hub"]

log = logging.getLogger("vizcast")

_LISTENING = re.compile(r"listening on (https?://\S+)")


def find_binary(binary: str | None = None) -> str:
    """The vizcast executable: ``binary``, else ``VIZCAST_BIN``, else ``vizcast`` on the ``PATH``."""
    candidate = binary or os.environ.get("VIZCAST_BIN") or shutil.which("vizcast")
    if not candidate:
        raise FileNotFoundError("vizcast was not found: put it on the PATH, set VIZCAST_BIN, or pass binary=")
    return candidate


@dataclass
class SpawnedHub:
    """A vizcast process started by this library."""

    process: subprocess.Popen[bytes]
    """The process."""
    url: str
    """Its viewer URL (``http://127.0.0.1:PORT/``)."""

    @property
    def ingest_url(self) -> str:
        """Where producers connect: ``ws://127.0.0.1:PORT/ingest``."""
        return "ws" + self.url.rstrip("/")[4:] + "/ingest"

    def stop(self, timeout: float = 5.0) -> None:
        """Asks it to stop (SIGTERM: it finishes its recording), and kills it after ``timeout``."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_hub(
    args: tuple[str, ...] = (),
    *,
    binary: str | None = None,
    headless: bool = False,
    port: int = 0,
    timeout: float = 30.0,
) -> SpawnedHub:
    """Starts ``vizcast --listen 127.0.0.1:PORT [--headless] ARGS`` and waits until it serves.

    vizcast prints its URLs on standard output, ending with ``listening on URL`` once it is
    ready; that line is awaited for up to ``timeout`` seconds. The rest of its output is read on
    (so it never blocks on a full pipe) and passed to the ``vizcast`` logger at debug level; its
    own log goes to this process's standard error.
    """
    command = [find_binary(binary), "--listen", f"127.0.0.1:{port}"]
    if headless:
        command.append("--headless")
    command += args
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)  # noqa: S603 - the user's binary
    assert process.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_read_lines, args=(process.stdout, lines), name="vizcast-hub-stdout", daemon=True).start()
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        try:
            line = lines.get(timeout=max(0.0, remaining))
        except queue.Empty:
            line = ""
        if line is None or remaining <= 0:
            process.kill()
            process.wait()
            why = f"exited with {process.returncode}" if line is None else f"did not start within {timeout} s"
            raise RuntimeError(f"vizcast ({command[0]}) {why}")
        match = _LISTENING.search(line)
        if match:
            return SpawnedHub(process, match.group(1))


def _read_lines(stream: IO[bytes], lines: queue.Queue[str | None]) -> None:
    """Hands lines over until the ``listening on`` line, then only logs them."""
    waiting = True
    for raw in stream:
        line = raw.decode("utf-8", "replace").rstrip()
        log.debug("vizcast hub: %s", line)
        if waiting:
            lines.put(line)
            waiting = _LISTENING.search(line) is None
    if waiting:
        lines.put(None)
