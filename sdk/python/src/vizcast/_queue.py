"""The byte-bounded queue between the caller's thread and the sender thread.

# Layout

- Entries wait in one FIFO (``Queue.entries``), in the order they were logged.
- Scalars do not get an entry each: a ``log`` appends a ``(t, value)`` pair to the stream's open
  accumulator (:class:`Scalars`, or :class:`Rows` for ``values``), which the sender turns into
  one columnar message. An accumulator sits in the FIFO where its first sample was logged; a
  ``clear`` closes every open accumulator, so samples logged after it follow it.
- Everything else (clouds, lines, text, images, clears, ``columns``) is a :class:`Message` holding
  private copies of its numbers (bytes), base64-encoded later by the sender.

# The bound

``Queue.bytes`` is an estimate of the memory the queued items hold (:data:`SAMPLE_BYTES` for a
scalar sample, the raw bytes plus :data:`MESSAGE_BYTES` for a message). When an item does not fit:

1. queued *latest-wins* items (clouds, line bases, images: a newer one replaces them anyway) are
   dropped, oldest first, until it fits; a dropped line base takes its queued appends with it;
2. if it still does not fit, the new item itself is dropped.

So scalars, text, appends and clears are dropped last, and only as new items (the queue keeps what
it already holds, in order). Every dropped record is counted in ``Queue.dropped``.

A *record* is the unit of the counters: one scalar sample (one ``log`` call, one row of
``columns``) or one other message.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any, Final

from .encode import check_stream

SAMPLE_BYTES: Final = 64
"""Estimated memory of one queued scalar sample: two floats and two list slots."""
ROW_BYTES: Final = 64
"""Estimated memory of one queued ``values`` row, plus :data:`MEMBER_BYTES` per member."""
MEMBER_BYTES: Final = 32
"""Estimated memory of one member of a queued ``values`` row."""
MESSAGE_BYTES: Final = 256
"""Estimated memory of a queued message besides its raw arrays and text."""
KNOWN_STREAMS: Final = 65_536
"""How many validated stream names are remembered (past that, they are validated again)."""


class Entry:
    """One item of the FIFO."""

    __slots__ = ("dead", "seq", "stream", "taken")

    def __init__(self, seq: int, stream: str) -> None:
        self.seq = seq
        self.stream = stream
        self.taken = False  # handed to the sender
        self.dead = False  # dropped while queued

    @property
    def records(self) -> int:
        """The records this entry holds."""
        raise NotImplementedError

    @property
    def nbytes(self) -> int:
        """What it counts against the bound."""
        raise NotImplementedError


class Scalars(Entry):
    """Samples of one stream's ``value``: a columnar message in the making."""

    __slots__ = ("ts", "vs")

    def __init__(self, seq: int, stream: str) -> None:
        super().__init__(seq, stream)
        self.ts: list[float] = []
        self.vs: list[float | int] = []

    @property
    def records(self) -> int:
        return len(self.ts)

    @property
    def nbytes(self) -> int:
        return len(self.ts) * SAMPLE_BYTES


class Rows(Entry):
    """Rows of one stream's ``values`` with the same members: a columnar message in the making."""

    __slots__ = ("names", "row_bytes", "rows", "ts")

    def __init__(self, seq: int, stream: str, names: tuple[str, ...]) -> None:
        super().__init__(seq, stream)
        self.names = names
        self.row_bytes = ROW_BYTES + MEMBER_BYTES * len(names)
        self.ts: list[float] = []
        self.rows: list[tuple[Any, ...]] = []

    @property
    def records(self) -> int:
        return len(self.ts)

    @property
    def nbytes(self) -> int:
        return len(self.ts) * self.row_bytes


class Message(Entry):
    """Any other message: its fields, with large arrays as :class:`~vizcast.encode.Blob`."""

    __slots__ = ("base", "count", "fields", "kind", "size", "wins")

    def __init__(
        self,
        stream: str,
        kind: str,
        fields: dict[str, Any],
        size: int,
        *,
        latest_wins: bool = False,
        records: int = 1,
    ) -> None:
        super().__init__(0, stream)
        self.kind = kind
        self.fields = fields
        self.size = size + MESSAGE_BYTES
        self.wins = latest_wins
        self.count = records
        self.base: Message | None = None  # for a line append: the queued base it extends

    @property
    def records(self) -> int:
        return self.count

    @property
    def nbytes(self) -> int:
        return self.size


class Queue:
    """The FIFO, its bound and its counters. Every field is guarded by ``lock``.

    ``ready`` (on the same lock) wakes the sender: it sets ``waiting`` and waits, and a logging
    call notifies it once ``bytes`` reaches ``wake_bytes``.
    """

    def __init__(self, max_bytes: int) -> None:
        self.lock = threading.Lock()
        self.ready = threading.Condition(self.lock)
        self.max_bytes = max_bytes
        self.fast_bytes = max_bytes - SAMPLE_BYTES  # below this, a sample fits without a check
        self.entries: deque[Entry] = deque()
        self.open_scalars: dict[str, Scalars] = {}
        self.open_rows: dict[tuple[str, tuple[str, ...]], Rows] = {}
        self.evictable: deque[Message] = deque()  # queued latest-wins messages, oldest first
        self.line_bases: dict[str, Message] = {}  # the latest queued line base of each stream
        self.known: set[str] = set()
        self.bytes = 0
        self.seq = 0
        self.logged = 0
        self.dropped = 0
        self.full_drops = 0  # the part of `dropped` that a full queue dropped
        self.inflight = 0  # records taken by the sender and not yet sent
        self.sent = 0
        self.waiting = False
        self.wake_bytes = 1
        self.closed = False

    def close(self) -> None:
        """From now on, every new record is dropped (and counted). Call with ``lock`` held."""
        self.closed = True
        self.max_bytes = 0
        self.fast_bytes = -1

    def wait(self, wake_bytes: int, timeout: float) -> None:
        """The sender waits until ``wake_bytes`` are queued, for ``timeout`` seconds at most.

        Call with ``lock`` held. While it waits, the logging calls' fast path (which does not
        check whether to wake it) stops short of ``wake_bytes``.
        """
        self.waiting = True
        self.wake_bytes = wake_bytes
        self.fast_bytes = min(self.max_bytes, wake_bytes) - SAMPLE_BYTES
        self.ready.wait(timeout)
        self.waiting = False
        self.fast_bytes = self.max_bytes - SAMPLE_BYTES

    # --- the caller's side (every method takes the lock) ---------------------------------

    def add_scalar(self, stream: str, t: float, value: float | int) -> None:
        """Queues one sample of ``stream``'s ``value`` (the hot path of ``log``)."""
        with self.lock:
            acc = self.open_scalars.get(stream)
            if acc is None or self.bytes > self.fast_bytes:
                self._add_scalar(stream, t, value, acc)
                return
            acc.ts.append(t)
            acc.vs.append(value)
            self.bytes += SAMPLE_BYTES
            self.logged += 1

    def _add_scalar(self, stream: str, t: float, value: float | int, acc: Scalars | None) -> None:
        """``add_scalar`` for a new accumulator, a full queue, or a sender to wake."""
        if acc is None and stream not in self.known:
            self._learn(stream)
        self.logged += 1
        if self.bytes + SAMPLE_BYTES > self.max_bytes and not self._make_room(SAMPLE_BYTES):
            self.dropped += 1
            self.full_drops += 1
            return
        if acc is None:
            self.seq += 1
            acc = self.open_scalars[stream] = Scalars(self.seq, stream)
            self.entries.append(acc)
        acc.ts.append(t)
        acc.vs.append(value)
        self.bytes += SAMPLE_BYTES
        if self.waiting and self.bytes >= self.wake_bytes:
            self.ready.notify()

    def add_row(self, stream: str, t: float, names: tuple[str, ...], row: tuple[Any, ...]) -> None:
        """Queues one row of ``stream``'s ``values`` (members ``names``, already validated)."""
        key = (stream, names)
        with self.lock:
            acc = self.open_rows.get(key)
            if acc is None:
                if stream not in self.known:
                    self._learn(stream)
                for name in names:
                    member = f"{stream}/{name}"
                    if member not in self.known:
                        self._learn(member)
            self.logged += 1
            size = ROW_BYTES + MEMBER_BYTES * len(names)
            if self.bytes + size > self.max_bytes and not self._make_room(size):
                self.dropped += 1
                self.full_drops += 1
                return
            if acc is None:
                self.seq += 1
                acc = self.open_rows[key] = Rows(self.seq, stream, names)
                self.entries.append(acc)
            acc.ts.append(t)
            acc.rows.append(row)
            self.bytes += size
            if self.waiting and self.bytes >= self.wake_bytes:
                self.ready.notify()

    def add_message(self, message: Message, *, line: str | None = None) -> bool:
        """Queues a message; ``line`` is ``"base"`` or ``"append"`` for line strips.

        Returns False when it was dropped (the queue is full, or it is larger than the bound).
        """
        stream = message.stream
        with self.lock:
            if stream not in self.known:
                self._learn(stream)
            self.logged += message.records
            size = message.nbytes
            if self.bytes + size > self.max_bytes and not self._make_room(size):
                self.dropped += message.records
                self.full_drops += message.records
                return False
            self.seq += 1
            message.seq = self.seq
            self.entries.append(message)
            self.bytes += size
            if message.wins:
                self.evictable.append(message)
            if line == "base":
                self.line_bases[stream] = message
            elif line == "append":
                message.base = self.line_bases.get(stream)
            if message.kind == "clear":
                # Samples logged after a clear must follow it: close every accumulator.
                self.open_scalars.clear()
                self.open_rows.clear()
                prefix = stream + "/"
                for name in [n for n in self.line_bases if n == stream or n.startswith(prefix)]:
                    del self.line_bases[name]
            if self.waiting and self.bytes >= self.wake_bytes:
                self.ready.notify()
            return True

    def _learn(self, stream: str) -> None:
        check_stream(stream)
        if len(self.known) >= KNOWN_STREAMS:
            self.known.clear()
        self.known.add(stream)

    def _make_room(self, size: int) -> bool:
        """Drops queued latest-wins messages, oldest first, until ``size`` more bytes fit."""
        if self.closed:
            return False
        while self.evictable and self.bytes + size > self.max_bytes:
            victim = self.evictable.popleft()
            if not (victim.taken or victim.dead):
                self._drop_queued(victim)
        return self.bytes + size <= self.max_bytes

    def _drop_queued(self, entry: Message) -> None:
        entry.dead = True
        entry.fields = {}  # let go of its arrays now; its line appends see `dead`
        self.bytes -= entry.nbytes
        self.dropped += entry.records
        self.full_drops += entry.records
        if self.line_bases.get(entry.stream) is entry:
            del self.line_bases[entry.stream]

    # --- the sender's side ------------------------------------------------------------------

    def take(self, max_bytes: int) -> list[Entry]:
        """Hands the oldest entries, about ``max_bytes`` of them, to the sender.

        Call with ``lock`` held. Their records move from queued to in flight.
        """
        taken: list[Entry] = []
        size = 0
        records = 0
        entries = self.entries
        while entries and size < max_bytes:
            entry = entries.popleft()
            if entry.dead:
                continue
            entry.taken = True
            if isinstance(entry, Scalars):
                if self.open_scalars.get(entry.stream) is entry:
                    del self.open_scalars[entry.stream]
            elif isinstance(entry, Rows):
                key = (entry.stream, entry.names)
                if self.open_rows.get(key) is entry:
                    del self.open_rows[key]
            elif isinstance(entry, Message) and self.line_bases.get(entry.stream) is entry:
                del self.line_bases[entry.stream]
            size += entry.nbytes
            records += entry.records
            taken.append(entry)
        self.bytes -= size
        self.inflight += records
        evictable = self.evictable
        while evictable and (evictable[0].taken or evictable[0].dead):
            evictable.popleft()
        return taken

    def queued_records(self) -> int:
        """Records waiting in the FIFO and in the sender's hands. Call with ``lock`` held."""
        return sum(entry.records for entry in self.entries if not entry.dead) + self.inflight

    def drop_all(self) -> int:
        """Drops everything queued (at close, when it cannot be sent); returns the records."""
        with self.lock:
            records = sum(entry.records for entry in self.entries if not entry.dead)
            for entry in self.entries:
                entry.dead = True
            self.entries.clear()
            self.open_scalars.clear()
            self.open_rows.clear()
            self.evictable.clear()
            self.line_bases.clear()
            self.bytes = 0
            self.dropped += records
            return records
