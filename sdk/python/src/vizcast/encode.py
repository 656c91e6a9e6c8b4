"""Turning Python and numpy values into vizcast's wire format (docs/protocol.md).

Everything here is pure: no threads, no I/O. The caller's side of the library uses the
``*_bytes``, ``*_field`` and ``check_*`` functions to validate and copy arguments when they are
logged (cheap: a copy of the raw numbers, no text); the sender thread uses :func:`message` to
write the JSON text of a message, base64-encoding large arrays as the protocol's compact arrays (``{"f32": …}``,
``{"f64": …}``, ``{"u8": …}``) and never as lists of numbers.

numpy is optional. Without it, sequences of numbers are packed with the standard library's
:mod:`array`; with it, numpy arrays are converted without a Python loop.
"""

from __future__ import annotations

import json
import math
import sys
from array import array
from binascii import b2a_base64
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, SupportsFloat

if TYPE_CHECKING:
    import numpy as _np
else:
    try:  # numpy is optional: used when present.
        import numpy as _np
    except ImportError:  # the fresh-venv test runs without it
        _np = None

__all__ = [
    "COLORMAPS",
    "LEVELS",
    "MAX_STREAM_NAME_BYTES",
    "Blob",
    "ColorsLike",
    "Pixels",
    "PointsLike",
    "check_stream",
    "color_value",
    "colors_field",
    "columns_bytes",
    "f64_blob",
    "f64_bytes",
    "finite",
    "flatten",
    "image_field",
    "json_text",
    "message",
    "number",
    "points_bytes",
    "values_tree",
    "write_json",
]

MAX_STREAM_NAME_BYTES: Final = 256
"""The hub's default ``--max-stream-name``: longer names (flattened ones included) are refused."""

LEVELS: Final = frozenset({"debug", "info", "warn", "error"})
"""The levels of a text event."""

COLORMAPS: Final = frozenset({"gray", "viridis", "turbo"})
"""The colormaps of one-channel raw images."""

_LITTLE: Final = sys.byteorder == "little"

PointsLike = Any
"""An ``(n, 3)`` numpy array, or a sequence of ``(x, y, z)`` sequences."""

ColorsLike = Any
"""Per-point colours: an ``(n, 3)`` numpy array (``uint8`` 0–255 or floats 0–1), or a sequence of
``(r, g, b)`` (all integers: 0–255; otherwise 0–1)."""


@dataclass(frozen=True, slots=True)
class Blob:
    """Raw little-endian numbers to be sent as a compact array: ``{tag: base64(data)}``.

    ``tag`` is ``"f32"``, ``"f64"``, ``"u8"`` or ``"u16"``; ``data`` is a private copy, so the
    caller may reuse its array as soon as the logging call returns.
    """

    tag: str
    data: bytes | memoryview

    def write(self, out: list[bytes]) -> None:
        """Appends the JSON text of the compact array, e.g. ``{"f32":"AACAPw=="}``, in pieces.

        The pieces are joined once, with the whole message: the base64 text is never copied
        on its own.
        """
        out += (b'{"', self.tag.encode(), b'":"', b2a_base64(self.data, newline=False), b'"}')


class Pixels(Blob):
    """Raw image pixels: encoded as the bare base64 string the ``image`` object expects."""

    __slots__ = ()

    def write(self, out: list[bytes]) -> None:
        """Appends the JSON string of the base64 text, in pieces."""
        out += (b'"', b2a_base64(self.data, newline=False), b'"')


# --- validation -----------------------------------------------------------------------------


def check_stream(name: str) -> None:
    """Raises ``ValueError`` unless ``name`` is a stream name the hub accepts.

    A name is ``/``-separated segments, none empty (no leading, trailing or doubled ``/``), no
    control characters, and at most :data:`MAX_STREAM_NAME_BYTES` bytes of UTF-8.
    """
    if not isinstance(name, str):
        raise TypeError(f"a stream name is a str, not {type(name).__name__}")
    if not name:
        raise ValueError("a stream name cannot be empty")
    if name.startswith("/") or name.endswith("/") or "//" in name:
        raise ValueError(f"stream {name!r} has an empty path segment (no leading, trailing or double '/')")
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in name):
        raise ValueError(f"stream {name!r} contains a control character")
    if len(name.encode()) > MAX_STREAM_NAME_BYTES:
        raise ValueError(f"stream {name[:40]!r}… is longer than {MAX_STREAM_NAME_BYTES} bytes")


def number(value: object, what: str) -> float | int:
    """``value`` as a Python ``float`` or ``int`` (numpy scalars and 0-d arrays included).

    Booleans become 0 or 1. Raises ``TypeError`` for anything that is not a real number.
    """
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return value
    name = type(value).__name__
    if isinstance(value, (str, bytes, bytearray)) or not isinstance(value, SupportsFloat):
        raise TypeError(f"{what}: expected a number, got {name}")
    if isinstance(value, complex) or (_np is not None and isinstance(value, _np.complexfloating)):
        raise TypeError(f"{what}: expected a real number, got {name}")
    return float(value)


def finite(value: object, what: str) -> float:
    """``value`` as a finite float; raises ``ValueError`` for NaN and infinities (JSON has none)."""
    result = float(number(value, what))
    if not math.isfinite(result):
        raise ValueError(f"{what}: {result} is not a finite number")
    return result


# --- numbers to bytes ----------------------------------------------------------------------


def _is_ndarray(value: object) -> bool:
    return _np is not None and isinstance(value, _np.ndarray)


def _packed(code: str, numbers: Iterable[Any]) -> bytes:
    """Little-endian bytes of ``numbers`` as C type ``code`` (``d``, ``f``, ``B``)."""
    packed = array(code, numbers)
    if not _LITTLE:  # pragma: no cover - no big-endian machine in CI
        packed.byteswap()
    return packed.tobytes()


def f64_blob(values: Sequence[float | int]) -> Blob:
    """A list of Python numbers as an ``f64`` compact array (the sender's columnar messages)."""
    return Blob("f64", _packed("d", values))


def f64_bytes(values: Any, what: str) -> tuple[bytes, int]:
    """A 1-D array of numbers as little-endian float64 bytes, and its length.

    Accepts a numpy array (any real dtype) or a sequence of numbers; always copies.
    """
    if _is_ndarray(values):
        if values.ndim != 1:
            raise ValueError(f"{what}: expected a 1-D array, got shape {values.shape}")
        if values.dtype.kind not in "fiub":
            raise TypeError(f"{what}: expected numbers, got an array of {values.dtype}")
        data: bytes = values.astype("<f8", copy=False).tobytes()
        return data, len(values)
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable):
        raise TypeError(f"{what}: expected a sequence of numbers, got {type(values).__name__}")
    if not isinstance(values, Sequence):
        values = list(values)  # an iterator: read once
    try:
        data = _packed("d", values)
    except TypeError:
        data = _packed("d", (number(v, what) for v in values))
    return data, len(data) // 8


def columns_bytes(values: Any, what: str) -> tuple[Blob, int]:
    """A column of samples: float32 numpy arrays stay ``f32``, everything else goes as ``f64``."""
    if _is_ndarray(values) and values.dtype == _np.float32:
        if values.ndim != 1:
            raise ValueError(f"{what}: expected a 1-D array, got shape {values.shape}")
        return Blob("f32", values.astype("<f4", copy=False).tobytes()), len(values)
    data, n = f64_bytes(values, what)
    return Blob("f64", data), n


def points_bytes(points: PointsLike, what: str) -> tuple[bytes, int]:
    """Points or vertices as little-endian float32 ``x, y, z`` bytes, and their number.

    Accepts an ``(n, 3)`` numpy array (any real dtype; converted to float32) or a sequence of
    ``(x, y, z)`` sequences.
    """
    if _is_ndarray(points):
        if points.ndim != 2 or points.shape[1] != 3:
            raise ValueError(f"{what}: expected an array of shape (n, 3), got {points.shape}")
        if points.dtype.kind not in "fiu":
            raise TypeError(f"{what}: expected numbers, got an array of {points.dtype}")
        return points.astype("<f4", copy=False).tobytes(), len(points)
    if isinstance(points, (str, bytes, Mapping)) or not isinstance(points, Sequence):
        raise TypeError(f"{what}: expected an (n, 3) array or a sequence of (x, y, z)")
    for i, point in enumerate(points):
        if len(point) != 3:
            raise ValueError(f"{what}[{i}]: expected 3 numbers, got {len(point)}")
    flat = [coordinate for point in points for coordinate in point]
    try:
        return _packed("f", flat), len(points)
    except TypeError:
        return _packed("f", (number(c, what) for c in flat)), len(points)


def _hex_color(color: str) -> str:
    text = color.strip()
    if len(text) != 7 or text[0] != "#":
        raise ValueError(f'colour {color!r}: expected "#rrggbb"')
    int(text[1:], 16)  # raises ValueError when not hexadecimal
    return text


def color_value(color: Any) -> Any:
    """One colour as the protocol writes it: ``"#rrggbb"``, or ``[r, g, b]`` in 0–1.

    A sequence of three integers is 0–255; any float makes it 0–1.
    """
    if isinstance(color, str):
        return _hex_color(color)
    components = [number(c, "color") for c in color]
    if len(components) != 3:
        raise ValueError(f"color: expected 3 components, got {len(components)}")
    if all(isinstance(c, int) for c in components):
        if any(not 0 <= c <= 255 for c in components):
            raise ValueError(f"color: integer components are 0..255, got {components}")
        return "#" + "".join(f"{int(c):02x}" for c in components)
    if any(not 0.0 <= c <= 1.0 for c in components):
        raise ValueError(f"color: float components are 0..1, got {components}")
    return [float(c) for c in components]


def colors_field(colors: ColorsLike, count: int, what: str) -> Blob:
    """Per-point colours: ``u8`` (integers 0–255) or ``f32`` (floats 0–1), one ``(r, g, b)`` each."""
    if _is_ndarray(colors):
        if colors.ndim != 2 or colors.shape[1] != 3:
            raise ValueError(f"{what}: expected an array of shape (n, 3), got {colors.shape}")
        if len(colors) != count:
            raise ValueError(f"{what}: {len(colors)} colours for {count} points")
        kind = colors.dtype.kind
        if kind in "iub":
            if colors.size and (colors.min() < 0 or colors.max() > 255):
                raise ValueError(f"{what}: integer colours are 0..255")
            return Blob("u8", colors.astype("u1", copy=False).tobytes())
        if kind == "f":
            if colors.size and (colors.min() < 0.0 or colors.max() > 1.0):
                raise ValueError(f"{what}: float colours are 0..1 (for 0..255 use uint8)")
            return Blob("f32", colors.astype("<f4", copy=False).tobytes())
        raise TypeError(f"{what}: expected numbers, got an array of {colors.dtype}")
    if isinstance(colors, (str, bytes, Mapping)) or not isinstance(colors, Sequence):
        raise TypeError(f"{what}: expected an (n, 3) array or a sequence of (r, g, b)")
    if len(colors) != count:
        raise ValueError(f"{what}: {len(colors)} colours for {count} points")
    flat = [number(c, what) for color in colors for c in _rgb(color, what)]
    if all(isinstance(c, int) for c in flat):
        if any(not 0 <= c <= 255 for c in flat):
            raise ValueError(f"{what}: integer colours are 0..255")
        return Blob("u8", bytes(flat))  # type: ignore[arg-type]
    if any(not 0.0 <= c <= 1.0 for c in flat):
        raise ValueError(f"{what}: float colours are 0..1")
    return Blob("f32", _packed("f", flat))


def _rgb(color: Any, what: str) -> Sequence[Any]:
    if isinstance(color, str) or len(color) != 3:
        raise ValueError(f"{what}: expected (r, g, b) for every point, got {color!r}")
    return color  # type: ignore[no-any-return]


_RAW_DTYPES: Final = {"u8": (1, 3, 4), "u16": (1,), "f32": (1,)}
_MAGIC: Final = ((b"\xff\xd8\xff", "jpeg"), (b"\x89PNG\r\n\x1a\n", "png"))


def image_field(
    image: Any,
    *,
    shape: Sequence[int] | None = None,
    dtype: str | None = None,
    colormap: str | None = None,
    value_range: tuple[float, float] | None = None,
) -> tuple[dict[str, Any], int]:
    """The ``image`` object of a message, and its pixel count.

    ``image`` is either a file's bytes (JPEG or PNG, recognised by their signature), or raw pixels:
    a numpy array (``uint8`` ``(h, w)``, ``(h, w, 3)`` or ``(h, w, 4)``; ``uint16`` ``(h, w)``;
    any other real ``(h, w)`` array as a float32 field), or bytes with ``shape`` and ``dtype``
    (``"u8"``, ``"u16"`` or ``"f32"``, little-endian).
    """
    if colormap is not None and colormap not in COLORMAPS:
        raise ValueError(f"colormap {colormap!r}: expected one of {sorted(COLORMAPS)}")
    extra: dict[str, Any] = {}
    if colormap is not None:
        extra["colormap"] = colormap
    if value_range is not None:
        low, high = (finite(v, "range") for v in value_range)
        extra["range"] = [low, high]
    if _is_ndarray(image):
        tag, pixels, dims = _array_pixels(image)
        if len(dims) == 3 and extra:
            raise ValueError("colormap and range apply to one-channel images only")
        return {"shape": dims, tag: Pixels(tag, pixels), **extra}, dims[0] * dims[1]
    if not isinstance(image, (bytes, bytearray, memoryview)):
        raise TypeError(f"image: expected a numpy array or bytes, got {type(image).__name__}")
    data = bytes(image)
    if shape is None:
        for magic, kind in _MAGIC:
            if data.startswith(magic):
                if extra:
                    raise ValueError("colormap and range apply to raw one-channel pixels only")
                return {kind: Pixels(kind, data)}, 0
        raise ValueError("image: bytes that are neither JPEG nor PNG need shape= and dtype=")
    if dtype not in _RAW_DTYPES:
        raise ValueError(f"image: dtype {dtype!r}: expected u8, u16 or f32")
    dims = [int(d) for d in shape]
    channels = dims[2] if len(dims) == 3 else 1
    if len(dims) not in (2, 3) or channels not in _RAW_DTYPES[dtype]:
        raise ValueError(f"image: shape {dims} does not fit {dtype}")
    needed = dims[0] * dims[1] * channels * {"u8": 1, "u16": 2, "f32": 4}[dtype]
    if len(data) != needed:
        raise ValueError(f"image: {len(data)} bytes, but shape {dims} of {dtype} needs {needed}")
    return {"shape": dims, dtype: Pixels(dtype, data), **extra}, dims[0] * dims[1]


def _array_pixels(image: Any) -> tuple[str, bytes, list[int]]:
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    dims = [int(d) for d in image.shape]
    kind = image.dtype.kind
    if image.ndim == 3:
        if image.dtype != _np.uint8 or dims[2] not in (3, 4):
            raise ValueError(f"image: an array of shape {tuple(dims)} must be uint8 with 3 or 4 channels")
        return "u8", image.tobytes(), dims
    if image.ndim != 2:
        raise ValueError(f"image: expected shape (h, w) or (h, w, channels), got {image.shape}")
    if image.dtype == _np.uint8:
        return "u8", image.tobytes(), dims
    if image.dtype == _np.uint16:
        return "u16", image.astype("<u2", order="C", copy=False).tobytes(), dims
    if kind in "fiub":
        return "f32", image.astype("<f4", order="C", copy=False).tobytes(), dims
    raise TypeError(f"image: expected numbers, got an array of {image.dtype}")


def flatten(values: Mapping[str, Any], what: str) -> dict[str, Any]:
    """Nested mappings of numbers as one level, with ``/``-joined keys (``gyro/z``)."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if not isinstance(key, str) or not key or "/" in key:
            raise ValueError(f"{what}: member name {key!r} must be a non-empty str without '/'")
        if isinstance(value, Mapping):
            for sub, leaf in flatten(value, f"{what}/{key}").items():
                flat[f"{key}/{sub}"] = leaf
        else:
            flat[key] = value
    return flat


# --- JSON text -------------------------------------------------------------------------------

_dumps = json.JSONEncoder(ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode


def write_json(value: Any, out: list[bytes]) -> None:
    """Appends the compact JSON of a small value (no NaN: JSON has none) to ``out``, in pieces.

    :class:`Blob` leaves become compact arrays.
    """
    if isinstance(value, Blob):
        value.write(out)
    elif isinstance(value, dict):
        out.append(b"{")
        for i, (key, item) in enumerate(value.items()):
            out += (b"," if i else b"", _dumps(key).encode(), b":")
            write_json(item, out)
        out.append(b"}")
    else:
        out.append(_dumps(value).encode())


def json_text(value: Any) -> bytes:
    """The compact JSON of a small value, :class:`Blob` leaves as compact arrays."""
    out: list[bytes] = []
    write_json(value, out)
    return b"".join(out)


def message(stream_json: bytes, fields: Mapping[str, Any]) -> bytes:
    """The JSON text of one message: ``{"stream": …, **fields}``, joined once.

    ``stream_json`` is the stream name already as JSON (a quoted string).
    """
    parts = [b'{"stream":', stream_json]
    for key, value in fields.items():
        parts += (b',"', key.encode(), b'":')
        write_json(value, parts)
    parts.append(b"}")
    return b"".join(parts)


def values_tree(names: Sequence[str], columns: Sequence[Blob]) -> dict[str, Any]:
    """Columns keyed by flattened names (``gyro/z``) as the nested ``values`` object."""
    tree: dict[str, Any] = {}
    for name, column in zip(names, columns, strict=True):
        node = tree
        *parents, leaf = name.split("/")
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = column
    return tree
