"""Where frames go: a hub's ``/ingest`` WebSocket, or JSON lines to a file or standard output.

A sink is used by one thread, the client's sender, except :meth:`Sink.abort`, which another
thread may call to unblock it. Each frame is one JSON message or a JSON array of them, as bytes
of UTF-8 (docs/protocol.md, "Frames").
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
from abc import ABC, abstractmethod
from typing import IO, Final
from urllib.parse import urlsplit

from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

__all__ = ["JsonLinesSink", "Sink", "SinkClosed", "WebSocketSink"]

USER_AGENT: Final = "vizcast-python"

log = logging.getLogger("vizcast")


class SinkClosed(Exception):
    """The sink is closed or broken; the message says why, for people.

    ``code`` is the WebSocket close code when the hub closed the connection (1009: a frame over
    its ``--max-frame-bytes``).
    """

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class Sink(ABC):
    """A destination for frames."""

    @property
    @abstractmethod
    def target(self) -> str:
        """Where frames go (a URL or a path), for status and logs."""

    @property
    @abstractmethod
    def is_open(self) -> bool:
        """Whether :meth:`send` may be called."""

    @abstractmethod
    def open(self) -> None:
        """Connects or opens; raises :class:`SinkClosed`, saying why, when it cannot."""

    @abstractmethod
    def send(self, frame: bytes) -> None:
        """Writes one frame; raises :class:`SinkClosed` when the sink broke (it is then closed)."""

    @property
    def greets(self) -> bool:
        """Whether the other end says ``hello`` first (a hub), so that it is connected only then."""
        return False

    def replies(self, timeout: float = 0.0) -> list[str]:
        """Messages the other end sent, waiting up to ``timeout`` for the first.

        Raises :class:`SinkClosed` when it closed (after returning what came before the close).
        """
        return []

    def abort(self) -> None:  # noqa: B027 - optional hook
        """Unblocks a :meth:`send` stuck in another thread (a hub that stopped reading)."""

    @abstractmethod
    def close(self) -> None:
        """Closes; idempotent."""

    def finish(self) -> list[str]:
        """Closes gracefully, returning the replies that came before the other end's close.

        A hub answers every frame it rejects before it answers the close, so nothing it says
        about the last frames is lost.
        """
        self.close()
        return []


class WebSocketSink(Sink):
    """A hub's ``ws://HOST:PORT/ingest`` (or ``wss://``), with the ``websockets`` sync client.

    ``token`` is the ingest token, sent as ``Authorization: Bearer`` (producers on the hub's own
    machine need none). The hub's replies (``hello``, ``error``) come back through
    :meth:`replies`.
    """

    def __init__(self, url: str, *, token: str | None = None, open_timeout: float = 5.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise ValueError(f"{url!r}: expected ws://HOST:PORT/ingest or wss://…")
        self.url = url
        self.token = token
        self.open_timeout = open_timeout
        self._loopback = parts.hostname in ("localhost", "::1") or parts.hostname.startswith("127.")
        self._ws: ClientConnection | None = None
        self._closed_by: BaseException | None = None
        self._stack = contextlib.ExitStack()

    @property
    def target(self) -> str:  # noqa: D102 - documented on Sink
        return self.url

    @property
    def is_open(self) -> bool:  # noqa: D102
        return self._ws is not None

    def open(self) -> None:  # noqa: D102
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else None
        self._closed_by = None
        stack = contextlib.ExitStack()
        try:
            # Entered as a context manager: the form websockets keeps across its versions.
            self._ws = stack.enter_context(
                connect(
                    self.url,
                    additional_headers=headers,
                    user_agent_header=USER_AGENT,
                    compression=None,  # the hub does not compress; deflate would cost the producer CPU
                    open_timeout=self.open_timeout,
                    close_timeout=1.0,
                    max_size=1 << 20,  # the hub sends only small control messages
                    proxy=None if self._loopback else True,
                )
            )
        except Exception as err:
            raise SinkClosed(describe_open_error(err)) from err
        self._stack = stack
        with contextlib.suppress(OSError):  # the hub may have closed it already (a refusal)
            self._ws.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _connection(self) -> ClientConnection:
        if self._ws is None:
            raise SinkClosed("not connected")
        return self._ws

    def send(self, frame: bytes) -> None:  # noqa: D102
        ws = self._connection()
        try:
            ws.send(frame, text=True)
        except (ConnectionClosed, OSError) as err:
            self._close_quietly()
            raise SinkClosed(describe_close(err), close_code(err)) from err

    @property
    def greets(self) -> bool:  # noqa: D102
        return True

    def replies(self, timeout: float = 0.0) -> list[str]:  # noqa: D102
        if self._closed_by is not None:
            err, self._closed_by = self._closed_by, None
            self._close_quietly()
            raise SinkClosed(describe_close(err), close_code(err)) from err
        ws = self._connection()
        out: list[str] = []
        try:
            while True:
                message = ws.recv(timeout=0 if out else timeout)
                out.append(message if isinstance(message, str) else message.decode("utf-8", "replace"))
        except TimeoutError:
            return out
        except (ConnectionClosed, OSError) as err:
            if out:
                # Replies that came before the close (an `error` with the reason) go first; the
                # next call says that it closed.
                self._closed_by = err
                return out
            self._close_quietly()
            raise SinkClosed(describe_close(err), close_code(err)) from err

    def abort(self) -> None:  # noqa: D102
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(OSError):
                ws.socket.shutdown(socket.SHUT_RDWR)

    def _close_quietly(self) -> None:
        self._ws = None
        try:
            self._stack.close()
        except Exception as err:  # noqa: BLE001 - closing a broken connection may fail in many ways
            log.debug("vizcast: closing %s: %s", self.url, err)

    def close(self) -> None:  # noqa: D102
        self._close_quietly()

    def finish(self) -> list[str]:  # noqa: D102
        ws = self._ws
        if ws is None:
            return []
        out: list[str] = []
        try:
            ws.close()  # the close handshake: the hub's remaining replies are buffered first
            while True:
                message = ws.recv(timeout=0)
                out.append(message if isinstance(message, str) else message.decode("utf-8", "replace"))
        except (ConnectionClosed, OSError, TimeoutError, RuntimeError):
            pass
        self._close_quietly()
        return out


def describe_close(err: BaseException) -> str:
    """Why a WebSocket ended, in words: the close code and the hub's reason, or the OS error."""
    if isinstance(err, ConnectionClosed):
        close = err.rcvd
        if close is not None:
            reason = f": {close.reason}" if close.reason else ""
            return f"the hub closed the connection ({close.code}{reason})"
        return "the connection to the hub was lost"
    return f"the connection to the hub failed: {err}"


def close_code(err: BaseException) -> int | None:
    """The close code the hub sent, if it closed the connection."""
    if isinstance(err, ConnectionClosed) and err.rcvd is not None:
        return err.rcvd.code
    return None


def describe_open_error(err: BaseException) -> str:
    """Why connecting failed, in words, with the hub's reason when it refused (HTTP 401 …)."""
    if isinstance(err, InvalidStatus):
        response = err.response
        body = response.body.decode("utf-8", "replace").strip() if response.body else ""
        return f"the hub refused the connection: HTTP {response.status_code} {response.reason_phrase}" + (
            f": {body}" if body else ""
        )
    if isinstance(err, ConnectionRefusedError):
        return "no hub is listening there (connection refused)"
    if isinstance(err, TimeoutError):
        return "the hub did not answer in time"
    return f"cannot connect: {err}"


class JsonLinesSink(Sink):
    """JSON lines: one frame per line, to a file or a binary stream (standard output by default).

    What ``vizcast --stdin`` and ``vizcast replay FILE`` read. A path is opened for writing
    (``append=True`` adds to it); a stream passed in is written to but never closed.
    """

    def __init__(self, target: str | os.PathLike[str] | IO[bytes] | None = None, *, append: bool = False) -> None:
        self._path: str | None = None
        self._stream: IO[bytes] | None = None
        self._owned = False
        if target is None or target == "-":
            self._given: IO[bytes] | None = sys.stdout.buffer
        elif isinstance(target, (str, os.PathLike)):
            self._given = None
            self._path = os.fspath(target)
        else:
            self._given = target
        self._append = append
        self._broken: str | None = None

    @property
    def target(self) -> str:  # noqa: D102
        if self._path is not None:
            return self._path
        return "stdout" if self._given is sys.stdout.buffer else getattr(self._given, "name", "stream")

    @property
    def is_open(self) -> bool:  # noqa: D102
        return self._stream is not None

    def open(self) -> None:  # noqa: D102
        if self._broken is not None:
            raise SinkClosed(self._broken)
        if self._path is not None:
            try:
                self._stream = open(self._path, "ab" if self._append else "wb")  # noqa: SIM115 - kept open
            except OSError as err:
                raise SinkClosed(f"cannot open {self._path}: {err}") from err
            self._owned = True
            self._append = True  # reopening after an error must not truncate what was written
        else:
            self._stream = self._given

    def send(self, frame: bytes) -> None:  # noqa: D102
        stream = self._stream
        if stream is None:
            raise SinkClosed("not open")
        try:
            stream.write(frame)
            stream.write(b"\n")
            stream.flush()  # a frame is written whole, or the sink reports that it broke
        except (OSError, ValueError) as err:  # BrokenPipeError, a closed file, a full disk
            self._fail(err)

    def _fail(self, err: BaseException) -> None:
        self.close()
        if self._path is None:
            # A pipe whose reader is gone does not come back.
            self._broken = f"cannot write to {self.target}: {err}"
        raise SinkClosed(f"cannot write to {self.target}: {err}") from err

    def close(self) -> None:  # noqa: D102
        stream, self._stream = self._stream, None
        if stream is not None and self._owned:
            with contextlib.suppress(OSError):
                stream.close()
