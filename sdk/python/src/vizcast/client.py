"""The :class:`Client`: what a producer calls. Every logging method only validates, copies and queues.

The calls never block and never raise because of the hub: a hub that is down, slow or stopped is
a warning in the ``vizcast`` logger and a :class:`~vizcast.Status`, never an exception. They do
raise ``TypeError`` or ``ValueError`` at once for arguments the hub would reject (a stream name
with ``//``, a string as a value, colours that do not match the points), since one bad message
would make the hub reject the whole batch it travels in.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from time import time as _now
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit, urlunsplit

from . import encode
from ._queue import Message, Queue
from ._sender import Options, Sender
from .sinks import Sink, WebSocketSink
from .status import Status

if TYPE_CHECKING:
    from ._spawn import SpawnedHub

__all__ = ["DEFAULT_URL", "Client"]

log = logging.getLogger("vizcast")

DEFAULT_URL: Final = "ws://127.0.0.1:9000/ingest"
"""Where a client connects unless told otherwise (or ``VIZCAST_URL`` says)."""
MAX_FIELDS: Final = 1024
"""The hub's default ``--max-fields``: scalar series in one message."""
COLUMN_ROWS: Final = 65_536
"""``columns`` calls are split into messages of at most this many rows."""
MiB: Final = 1 << 20

_LEVELS: Final = encode.LEVELS


def ingest_url(url: str) -> str:
    """``url`` as a hub's ingest WebSocket URL.

    ``ws://host:port/ingest`` is kept; ``http(s)://`` becomes ``ws(s)://``, and a URL without a
    path gets ``/ingest``.
    """
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    path = parts.path if parts.path not in ("", "/") else "/ingest"
    return urlunsplit((scheme, parts.netloc, path, parts.query, parts.fragment))


class Client:
    """A connection to one hub (or one JSON-lines file), with its queue and sender thread.

    Args:
        url: the hub's ingest URL (``ws://HOST:PORT/ingest``, or ``wss://``); default
            ``VIZCAST_URL`` or :data:`DEFAULT_URL`. Ignored when ``sink`` is given.
        token: the ingest token, for a hub on another machine (default ``VIZCAST_INGEST_TOKEN``).
        sink: any :class:`~vizcast.sinks.Sink`, e.g. a :class:`~vizcast.sinks.JsonLinesSink`.
        max_queue_bytes: the queue's bound, in estimated bytes of memory (see ``docs/python.md``).
        batch_interval: seconds between frames under load (the first record after a pause goes
            at once).
        batch_bytes: a frame goes before ``batch_interval`` when this many bytes are queued.
        frame_bytes: the JSON text of a batch frame stops growing past this size.
        max_frame_bytes: the hub's ``--max-frame-bytes``: larger messages are dropped, counted.
        max_backoff: the longest wait between two connection attempts, in seconds.
        open_timeout: how long one connection attempt may take.
        exit_timeout: how long the flush at interpreter exit may take.
        on_status: called (in the sender thread) with a :class:`Status` when the connection
            changes, the hub replies with an error, or records are dropped.

    """

    hub: SpawnedHub | None
    """The vizcast this client started (:func:`vizcast.spawn`), if any."""

    def __init__(
        self,
        url: str | None = None,
        *,
        token: str | None = None,
        sink: Sink | None = None,
        max_queue_bytes: int = 64 * MiB,
        batch_interval: float = 0.005,
        batch_bytes: int = 1 * MiB,
        frame_bytes: int = 1 * MiB,
        max_frame_bytes: int = 16 * MiB,
        max_backoff: float = 2.0,
        open_timeout: float = 5.0,
        exit_timeout: float = 2.0,
        on_status: Callable[[Status], None] | None = None,
    ) -> None:
        if sink is not None and url is not None:
            raise TypeError("Client: give a url or a sink, not both")
        if sink is None:
            url = ingest_url(url or os.environ.get("VIZCAST_URL") or DEFAULT_URL)
            if token is None:
                token = os.environ.get("VIZCAST_INGEST_TOKEN") or None
            sink = WebSocketSink(url, token=token, open_timeout=open_timeout)
        if max_queue_bytes <= 0 or batch_bytes <= 0 or frame_bytes <= 0 or max_frame_bytes <= 0:
            raise ValueError("the queue, batch and frame sizes must be positive")
        self.hub = None
        self._stop_hub = False
        self._exit_timeout = exit_timeout
        self._queue = Queue(max_queue_bytes)
        options = Options(batch_interval, batch_bytes, frame_bytes, max_frame_bytes, max_backoff, open_timeout)
        self._sender = Sender(self._queue, sink, options)
        if on_status is not None:
            self._sender.listeners.append(on_status)
        self._closed = False
        self._close_lock = threading.Lock()
        with _live_lock:
            _live.add(self)
        self._sender.thread.start()

    # --- scalars -----------------------------------------------------------------------------

    def log(
        self,
        stream: str,
        value: float | Mapping[str, Any] | None = None,
        /,
        *,
        t: float | None = None,
        **values: Any,
    ) -> None:
        """Logs one scalar sample, or one sample of several members (``values``).

        ``log("robot/arm/joint1", 0.53)`` plots ``robot/arm/joint1``; ``log("imu", ax=0.1,
        ay=-9.8)`` (or a mapping, nested ones included: ``log("imu", {"gyro": {"z": 0.5}})``)
        plots ``imu/ax``, ``imu/ay``, ``imu/gyro/z``. ``t`` is the time in seconds (default: now,
        ``time.time()``). Numbers are ints, floats, bools or numpy scalars; NaN is a gap.

        Samples of a stream are sent in order, gathered into one columnar message per frame.
        """
        t = _now() if t is None else encode.finite(t, "t")
        if values or (value.__class__ is not float and value.__class__ is not int):
            self._log_slow(stream, value, t, values)
            return
        self._queue.add_scalar(stream, t, value)

    def _log_slow(self, stream: str, value: Any, t: float, values: dict[str, Any]) -> None:
        if values:
            if value is not None:
                raise TypeError("log: give a value or named values, not both")
            self._log_row(stream, t, values)
        elif isinstance(value, Mapping):
            self._log_row(stream, t, encode.flatten(value, stream))
        elif value is None:
            raise TypeError("log: expected a value or named values")
        else:
            self._queue.add_scalar(stream, t, encode.number(value, stream))

    def _log_row(self, stream: str, t: float, values: Mapping[str, Any]) -> None:
        if any(isinstance(v, Mapping) for v in values.values()):
            values = encode.flatten(values, stream)
        names = tuple(values)
        if len(names) > MAX_FIELDS:
            raise ValueError(f"{stream}: {len(names)} members, more than the hub's {MAX_FIELDS} per message")
        row = tuple(values.values())
        for v in row:
            if v.__class__ is not float and v.__class__ is not int:
                row = tuple(encode.number(v, f"{stream}/{name}") for name, v in values.items())
                break
        for name in names:
            if not name or name.startswith("/") or name.endswith("/") or "//" in name:
                raise ValueError(f"{stream}: member name {name!r} is not a valid path")
        self._queue.add_row(stream, t, names, row)

    def columns(
        self,
        stream: str,
        /,
        t: Any,
        value: Any = None,
        **values: Any,
    ) -> None:
        """Logs many samples at once: the fast path for high rates.

        ``t`` and ``value`` are 1-D arrays (numpy or sequences) of the same length;
        ``columns("imu", t, ax=ax, ay=ay)`` (or ``value={"ax": ax, …}``) logs several members.
        numpy arrays are sent as compact arrays (float32 stays float32, everything else goes as
        float64) without a Python loop; the numbers are copied at once, so the arrays may be
        reused after the call. Each row counts as one record.
        """
        if isinstance(value, Mapping):
            if values:
                raise TypeError("columns: give value= or named columns, not both")
            values = dict(value)
            value = None
        if (value is None) == (not values):
            raise TypeError("columns: expected value= or named columns (and not both)")
        t_data, n = encode.f64_bytes(t, f"{stream}: t")
        t_blob = encode.Blob("f64", t_data)
        if value is not None:
            column, count = encode.columns_bytes(value, f"{stream}: value")
            if count != n:
                raise ValueError(f"{stream}: t and value have different lengths ({n} vs {count})")
            if n:
                self._queue_columns(stream, t_blob, {"value": column}, n)
            return
        flat = encode.flatten(values, stream)
        if len(flat) > MAX_FIELDS:
            raise ValueError(f"{stream}: {len(flat)} members, more than the hub's {MAX_FIELDS} per message")
        blobs: dict[str, encode.Blob] = {}
        for name, member in flat.items():
            blob, count = encode.columns_bytes(member, f"{stream}/{name}")
            if count != n:
                raise ValueError(f"{stream}/{name}: {count} samples, but t has {n}")
            blobs[name] = blob
        if n:
            self._queue_columns(stream, t_blob, blobs, n)

    def _queue_columns(self, stream: str, t: encode.Blob, columns: dict[str, encode.Blob], n: int) -> None:
        names = list(columns)
        if "value" not in columns:
            for name in names:
                encode.check_stream(f"{stream}/{name}")
        for start in range(0, n, COLUMN_ROWS):
            end = min(n, start + COLUMN_ROWS)
            t_part = _slice(t, start, end)
            parts = {name: _slice(blob, start, end) for name, blob in columns.items()}
            size = len(t_part.data) + sum(len(p.data) for p in parts.values())
            if "value" in parts:
                fields: dict[str, Any] = {"t": t_part, "value": parts["value"]}
            else:
                fields = {"t": t_part, "values": encode.values_tree(names, list(parts.values()))}
            self._queue.add_message(Message(stream, "columns", fields, size, records=end - start))

    # --- 3D --------------------------------------------------------------------------------

    def points(
        self,
        stream: str,
        points: encode.PointsLike,
        /,
        *,
        colors: encode.ColorsLike | None = None,
        color: str | Sequence[float] | None = None,
        radius: float | None = None,
        t: float | None = None,
    ) -> None:
        """Logs a 3D point cloud: it replaces the stream's previous cloud.

        ``points`` is an ``(n, 3)`` array (numpy, any real dtype) or a sequence of ``(x, y, z)``;
        it is sent as ``{"f32": base64}``, never as lists. ``colors``: one ``(r, g, b)`` per point
        (``uint8``/integers 0–255 are sent as ``u8``, floats 0–1 as ``f32``); or ``color``, one
        for all (``"#rrggbb"`` or ``(r, g, b)``). ``radius`` is in world units.

        Latest-wins: when the queue is full, queued clouds are dropped before anything else.
        """
        data, n = encode.points_bytes(points, f"{stream}: points")
        fields: dict[str, Any] = {"t": _time(t), "points": encode.Blob("f32", data)}
        size = len(data)
        if colors is not None:
            if color is not None:
                raise TypeError("points: give colors or color, not both")
            blob = encode.colors_field(colors, n, f"{stream}: colors")
            fields["colors"] = blob
            size += len(blob.data)
        elif color is not None:
            fields["color"] = encode.color_value(color)
        if radius is not None:
            fields["radius"] = encode.finite(radius, f"{stream}: radius")
        self._queue.add_message(Message(stream, "points", fields, size, latest_wins=True))

    def line(
        self,
        stream: str,
        vertices: encode.PointsLike,
        /,
        *,
        append: bool = False,
        color: str | Sequence[float] | None = None,
        colors: encode.ColorsLike | None = None,
        width: float | None = None,
        t: float | None = None,
    ) -> None:
        """Logs a 3D line strip: it replaces the stream's line, or extends it with ``append=True``.

        ``vertices`` as for :meth:`points`. ``color`` (one) or ``colors`` (per vertex), ``width``
        in pixels. A line that replaces is latest-wins when the queue is full; an append is kept
        like a scalar, unless the line it extends was dropped while queued (then it goes too).
        """
        data, n = encode.points_bytes(vertices, f"{stream}: line")
        fields: dict[str, Any] = {"t": _time(t), "line": encode.Blob("f32", data)}
        size = len(data)
        if append:
            fields["append"] = True
        if colors is not None:
            if color is not None:
                raise TypeError("line: give colors or color, not both")
            blob = encode.colors_field(colors, n, f"{stream}: colors")
            fields["colors"] = blob
            size += len(blob.data)
        elif color is not None:
            fields["color"] = encode.color_value(color)
        if width is not None:
            fields["width"] = encode.finite(width, f"{stream}: width")
        message = Message(stream, "line", fields, size, latest_wins=not append)
        self._queue.add_message(message, line="append" if append else "base")

    # --- events, clear, images ----------------------------------------------------------

    def text(self, stream: str, text: str, /, *, level: str = "info", t: float | None = None) -> None:
        """Logs a text event; ``level`` is ``debug``, ``info``, ``warn`` or ``error``."""
        if not isinstance(text, str):
            raise TypeError(f"text: expected a str, got {type(text).__name__}")
        if level not in _LEVELS:
            raise ValueError(f"text: level {level!r}: expected one of {sorted(_LEVELS)}")
        fields: dict[str, Any] = {"t": _time(t), "text": text}
        if level != "info":
            fields["level"] = level
        self._queue.add_message(Message(stream, "text", fields, len(text)))

    def clear(self, stream: str, /) -> None:
        """Clears ``stream`` and every stream below it, in the hub and every viewer."""
        self._queue.add_message(Message(stream, "clear", {"clear": True}, 0))

    def image(
        self,
        stream: str,
        image: Any,
        /,
        *,
        colormap: str | None = None,
        range: tuple[float, float] | None = None,  # noqa: A002 - the protocol's name
        shape: Sequence[int] | None = None,
        dtype: str | None = None,
        t: float | None = None,
    ) -> None:
        """Logs an image or a heatmap: it replaces the stream's previous image.

        ``image`` is a JPEG or PNG file's bytes, or raw pixels: a numpy array (``uint8`` mono,
        RGB or RGBA; ``uint16`` mono; any other real 2-D array as a float32 field), or bytes with
        ``shape=(h, w[, c])`` and ``dtype=`` ``"u8"``, ``"u16"`` or ``"f32"``. One-channel raw
        images take a ``colormap`` (``gray``, ``viridis``, ``turbo``) and a value ``range``.

        Latest-wins: when the queue is full, queued images are dropped before anything else.
        """
        field, _ = encode.image_field(image, shape=shape, dtype=dtype, colormap=colormap, value_range=range)
        size = sum(len(v.data) for v in field.values() if isinstance(v, encode.Blob))
        self._queue.add_message(Message(stream, "image", {"t": _time(t), "image": field}, size, latest_wins=True))

    # --- the connection ----------------------------------------------------------------------

    def status(self) -> Status:
        """The connection and the counters, as one consistent :class:`Status`."""
        return self._sender.snapshot()

    def on_status(self, callback: Callable[[Status], None]) -> Callable[[Status], None]:
        """Calls ``callback(status)`` (in the sender thread) on every change; usable as a decorator.

        Changes: connected, disconnected, a refused connection, a hub ``error`` reply, drops (at
        most every few seconds). The callback must be quick and must not call :meth:`flush`.
        """
        self._sender.listeners.append(callback)
        return callback

    def flush(self, timeout: float | None = 5.0) -> bool:
        """Waits until everything logged so far is sent (or dropped); False if ``timeout`` ran out.

        "Sent" means written to the connection: the hub may still reject a frame (see
        :attr:`Status.rejected`).
        """
        if self._closed:
            return self._sender.snapshot().queued == 0
        return self._sender.flush(timeout)

    def close(self, timeout: float = 5.0) -> bool:
        """Flushes for up to ``timeout`` seconds, then disconnects. Idempotent.

        What could not be sent is counted as dropped, with a warning. Records logged afterwards
        are dropped and counted. Returns True when everything was sent.
        """
        with self._close_lock:
            if self._closed:
                return False
            self._closed = True
        with _live_lock:
            _live.discard(self)
        ok = self._sender.close(timeout)
        if self.hub is not None and self._stop_hub:
            self.hub.stop()
        return ok

    @property
    def target(self) -> str:
        """Where this client sends: the hub's URL, or the JSON-lines file."""
        return self._sender.sink.target

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<vizcast.Client {self.target}>"


def _time(t: float | None) -> float:
    return _now() if t is None else encode.finite(t, "t")


def _slice(blob: encode.Blob, start: int, end: int) -> encode.Blob:
    size = 8 if blob.tag == "f64" else 4
    if start == 0 and len(blob.data) == end * size:
        return blob
    return encode.Blob(blob.tag, memoryview(blob.data)[start * size : end * size])


_live: set[Client] = set()
"""Clients not closed yet: each has a sender thread, and is flushed at exit."""
_live_lock = threading.Lock()


@atexit.register
def _close_at_exit() -> None:
    """The flush at exit: every open client sends what it holds, for up to its ``exit_timeout``."""
    with _live_lock:
        clients = list(_live)
    for client in clients:
        try:
            client.close(client._exit_timeout)
        except Exception:
            log.exception("vizcast: closing a client at exit failed")
