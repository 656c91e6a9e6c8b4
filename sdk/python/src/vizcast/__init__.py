"""vizcast for Python: stream live data to a vizcast hub, never blocking the caller.

Quick start::

    import vizcast as vz

    vz.connect("ws://127.0.0.1:9000/ingest")   # or vz.spawn(): start a local vizcast
    vz.log("robot/arm/joint1", 0.53)           # t defaults to now
    vz.log("imu", ax=0.1, ay=-9.8)             # several members: imu/ax, imu/ay
    vz.points("lidar", xyz, colors=rgb, radius=0.02)

The module-level functions use a default :class:`Client`, created by :func:`connect`,
:func:`spawn` or :func:`to_jsonl` (or, at the first call, connected to ``VIZCAST_URL`` or
``ws://127.0.0.1:9000/ingest``). Create :class:`Client` objects to send to several hubs.

# Layout

- ``client``: :class:`Client`, the logging methods (validate, copy, queue) and the flush at exit.
- ``_queue``: the byte-bounded queue, its drop policy and its counters.
- ``_sender``: the background thread: batching into frames, sending, reconnecting, hub replies.
- ``encode``: Python and numpy values to the wire format (compact base64 arrays).
- ``sinks``: the hub's WebSocket, and JSON lines to a file or standard output.
- ``status``: :class:`Status`.
- ``_spawn``: starting a local vizcast.

See docs/python.md for the threading and dropping rules.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any

from ._spawn import SpawnedHub, find_binary, start_hub
from .client import DEFAULT_URL, Client
from .sinks import JsonLinesSink, Sink, SinkClosed, WebSocketSink
from .status import Status

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_URL",
    "Client",
    "JsonLinesSink",
    "Sink",
    "SinkClosed",
    "SpawnedHub",
    "Status",
    "WebSocketSink",
    "clear",
    "close",
    "columns",
    "connect",
    "find_binary",
    "flush",
    "get_client",
    "image",
    "line",
    "log",
    "on_status",
    "points",
    "spawn",
    "start_hub",
    "status",
    "text",
    "to_jsonl",
]

_default: Client | None = None
_default_lock = threading.Lock()


def _set_default(client: Client) -> Client:
    global _default
    with _default_lock:
        previous, _default = _default, client
    if previous is not None:
        previous.close()
    return client


def get_client() -> Client:
    """The default client, created (connected to ``VIZCAST_URL`` or the default URL) if needed."""
    global _default
    client = _default
    if client is None:
        with _default_lock:
            if _default is None:
                _default = Client()
            client = _default
    return client


def connect(url: str | None = None, *, token: str | None = None, **options: Any) -> Client:
    """Makes a client for the hub at ``url`` the default (closing the previous default).

    ``url`` is ``ws://HOST:PORT/ingest`` (``http://HOST:PORT`` works too); default
    ``VIZCAST_URL`` or :data:`DEFAULT_URL`. ``token`` is the ingest token for a hub on another
    machine. ``options`` are :class:`Client`'s. Returns at once: the connection is made in the
    background, and what is logged meanwhile waits in the queue.
    """
    return _set_default(Client(url, token=token, **options))


def spawn(
    *args: str,
    binary: str | None = None,
    headless: bool = False,
    port: int = 0,
    stop_on_close: bool = False,
    **options: Any,
) -> Client:
    """Starts a local vizcast (with its window unless ``headless``) and connects to it.

    ``args`` go to vizcast's command line (``"--record", "run.mcap"``). The executable is
    ``binary``, ``VIZCAST_BIN`` or ``vizcast`` on the ``PATH``. It listens on ``127.0.0.1:port``
    (0: a free port); its URL is ``client.hub.url``. It keeps running after this program ends,
    so its window stays open, unless ``stop_on_close``.
    """
    hub = start_hub(args, binary=binary, headless=headless, port=port)
    try:
        client = Client(hub.ingest_url, **options)
    except BaseException:
        hub.stop()
        raise
    client.hub = hub
    client._stop_hub = stop_on_close
    return _set_default(client)


def to_jsonl(target: str | IO[bytes] = "-", *, append: bool = False, **options: Any) -> Client:
    """Makes a client that writes JSON lines the default: ``"-"`` (standard output) or a file.

    For ``producer | vizcast --stdin`` and for files that ``vizcast replay`` reads. Nothing else
    may write to that standard output.
    """
    return _set_default(Client(sink=JsonLinesSink(target, append=append), **options))


def log(
    stream: str, value: float | Mapping[str, Any] | None = None, /, *, t: float | None = None, **values: Any
) -> None:
    """:meth:`Client.log` on the default client: one scalar sample, or several named members."""
    (_default or get_client()).log(stream, value, t=t, **values)


def columns(stream: str, /, t: Any, value: Any = None, **values: Any) -> None:
    """:meth:`Client.columns` on the default client: many samples at once."""
    (_default or get_client()).columns(stream, t, value, **values)


def points(
    stream: str,
    points: Any,
    /,
    *,
    colors: Any = None,
    color: str | Sequence[float] | None = None,
    radius: float | None = None,
    t: float | None = None,
) -> None:
    """:meth:`Client.points` on the default client: a 3D point cloud."""
    (_default or get_client()).points(stream, points, colors=colors, color=color, radius=radius, t=t)


def line(
    stream: str,
    vertices: Any,
    /,
    *,
    append: bool = False,
    color: str | Sequence[float] | None = None,
    colors: Any = None,
    width: float | None = None,
    t: float | None = None,
) -> None:
    """:meth:`Client.line` on the default client: a 3D line strip."""
    (_default or get_client()).line(stream, vertices, append=append, color=color, colors=colors, width=width, t=t)


def text(stream: str, text: str, /, *, level: str = "info", t: float | None = None) -> None:
    """:meth:`Client.text` on the default client: a text event."""
    (_default or get_client()).text(stream, text, level=level, t=t)


def clear(stream: str, /) -> None:
    """:meth:`Client.clear` on the default client: clears a stream and the streams below it."""
    (_default or get_client()).clear(stream)


def image(
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
    """:meth:`Client.image` on the default client: an image or a heatmap."""
    (_default or get_client()).image(stream, image, colormap=colormap, range=range, shape=shape, dtype=dtype, t=t)


def status() -> Status:
    """:meth:`Client.status` of the default client."""
    return get_client().status()


def on_status(callback: Callable[[Status], None]) -> Callable[[Status], None]:
    """:meth:`Client.on_status` of the default client."""
    return get_client().on_status(callback)


def flush(timeout: float | None = 5.0) -> bool:
    """:meth:`Client.flush` of the default client (True when there is none)."""
    client = _default
    return True if client is None else client.flush(timeout)


def close(timeout: float = 5.0) -> bool:
    """Closes the default client (see :meth:`Client.close`); the next call makes a new one."""
    global _default
    with _default_lock:
        client, _default = _default, None
    return True if client is None else client.close(timeout)
