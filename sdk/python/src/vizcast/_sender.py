"""The background thread: gathers queued entries into frames, sends them, keeps the connection.

# One cycle

1. Connect if needed (with backoff: 50 ms doubling to ``max_backoff``, with jitter).
2. Read the hub's replies (``hello``, ``error``) without blocking.
3. Wait for work: for the first entry (up to :data:`POLL_SECONDS`, so replies and a lost
   connection are noticed while idle), then until ``batch_interval`` has passed since the last
   send, unless ``batch_bytes`` are queued, the last take left a backlog, or a flush waits.
4. Take up to ``batch_bytes`` of entries and encode them: each stream's scalars become one
   columnar message, small messages share JSON-array frames of up to ``frame_bytes``, and each
   latest-wins message (cloud, line base, image) goes in a frame of its own, so that the hub can
   skip it for a slow viewer without skipping scalars (docs/protocol.md, "conflation").
5. Send the frames in order. A frame that could not be sent stays first in line for the next
   connection; the records it holds count as queued until then.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from . import encode
from ._queue import Entry, Message, Queue, Rows, Scalars
from .sinks import Sink, SinkClosed
from .status import Status

log = logging.getLogger("vizcast")

POLL_SECONDS: Final = 0.05
"""How long the idle sender waits before looking at the connection again."""
CHUNK_SAMPLES: Final = 65_536
"""Samples per columnar message at most (the hub allows 1,000,000 per array)."""
REMEMBERED_FRAMES: Final = 65_536
"""Sent frames whose record counts are kept, to count the records of a rejected frame."""
MIN_BACKOFF: Final = 0.05
"""The first wait before reconnecting."""
CLOSE_TOO_BIG: Final = 1009
"""The close code of a hub that refused a frame over its ``--max-frame-bytes``."""
WARN_EVERY: Final = 5.0
"""Repeated warnings (rejections, drops) are logged at most this often, with a count."""


@dataclass(frozen=True, slots=True)
class Options:
    """How the sender batches and reconnects (see :class:`vizcast.Client`)."""

    batch_interval: float
    batch_bytes: int
    frame_bytes: int
    max_frame_bytes: int
    max_backoff: float
    open_timeout: float


@dataclass(slots=True)
class Frame:
    """An encoded frame and the records it carries."""

    data: bytes
    records: int


class _Throttle:
    """Lets a repeated warning through at most every ``every`` seconds, counting the rest."""

    def __init__(self, every: float) -> None:
        self.every = every
        self.next = 0.0
        self.suppressed = 0

    def allow(self) -> int | None:
        """The number suppressed since the last one let through, or None to stay quiet."""
        now = time.monotonic()
        if now < self.next:
            self.suppressed += 1
            return None
        self.next = now + self.every
        count, self.suppressed = self.suppressed, 0
        return count


class Sender:
    """Owns the sink and the thread that feeds it. Counters live in the queue, under its lock."""

    def __init__(self, queue: Queue, sink: Sink, options: Options) -> None:
        self.queue = queue
        self.sink = sink
        self.options = options
        self.listeners: list[Callable[[Status], None]] = []
        self.pending: deque[Frame] = deque()
        self.pending_seq = 0  # the newest entry in `pending`
        self.done_seq = 0  # every entry up to this one is sent or dropped
        self.progress = threading.Condition(queue.lock)  # notified when done_seq moves
        self.flush_requested = False
        self.backlog = False  # the last take left entries queued
        self.connected = False
        self.connections = 0
        self.rejected = 0
        self.last_error: str | None = None
        self.session: str | None = None
        self.greeted = False
        self.frame_no = 0
        self.frame_records: dict[int, tuple[int, int]] = {}  # frame number: records, bytes
        self.last_send = 0.0
        self.backoff = MIN_BACKOFF
        self.max_frame_bytes = options.max_frame_bytes  # lowered if the hub refuses a frame as too big
        self.stop = threading.Event()
        self.stream_json: dict[str, bytes] = {}
        self._warned_error: str | None = None
        self._reported_dropped = 0
        self._drop_throttle = _Throttle(WARN_EVERY)
        self._reject_throttle = _Throttle(WARN_EVERY)
        self.thread = threading.Thread(target=self._run, name="vizcast-sender", daemon=True)

    # --- status ----------------------------------------------------------------------------

    def snapshot(self) -> Status:
        """A consistent :class:`Status`."""
        q = self.queue
        with q.lock:
            return Status(
                target=self.sink.target,
                connected=self.connected,
                logged=q.logged,
                queued=q.queued_records(),
                queued_bytes=q.bytes,
                sent=q.sent,
                dropped=q.dropped,
                rejected=self.rejected,
                reconnects=max(0, self.connections - 1),
                last_error=self.last_error,
                session=self.session,
            )

    def emit(self) -> None:
        """Calls every ``on_status`` listener with a fresh snapshot (in this thread)."""
        if not self.listeners:
            return
        status = self.snapshot()
        for listener in list(self.listeners):
            try:
                listener(status)
            except Exception:
                log.exception("an on_status callback raised")

    # --- flush and stop (called from other threads) ---------------------------------------

    def flush(self, timeout: float | None) -> bool:
        """Waits until every record logged before the call is sent or dropped."""
        deadline = None if timeout is None else time.monotonic() + timeout
        q = self.queue
        with q.lock:
            target = q.seq
            self.flush_requested = True
            q.ready.notify()
            while self.done_seq < target:
                if not self.thread.is_alive():
                    return False
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self.progress.wait(POLL_SECONDS if remaining is None else min(remaining, POLL_SECONDS))
            return True

    def close(self, timeout: float) -> bool:
        """Flushes for up to ``timeout`` seconds, stops the thread, and counts what was left."""
        deadline = time.monotonic() + timeout
        flushed = self.flush(timeout) if self.thread.is_alive() else False
        q = self.queue
        with q.lock:
            q.close()
            q.ready.notify_all()
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join(max(0.0, deadline - time.monotonic()))
        if self.thread.is_alive():
            self.sink.abort()  # a send blocked on a hub that stopped reading
            self.thread.join(1.0)
        unsent = self.queue.drop_all()
        with q.lock:
            left = sum(frame.records for frame in self.pending)
            self.pending.clear()
            q.inflight -= left
            q.dropped += left
            self.done_seq = q.seq
            self.progress.notify_all()
        unsent += left
        if unsent:
            log.warning(
                "vizcast: %d records were not sent to %s before close (%s)",
                unsent,
                self.sink.target,
                self.last_error or "the time for the final flush ran out",
            )
        if flushed and not unsent and not self.thread.is_alive():
            for text in self.sink.finish():  # the hub's word on the last frames
                self._on_reply(text)
        self.sink.close()
        with q.lock:
            self.connected = False
        self.emit()
        return flushed and not unsent

    # --- the thread --------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self.stop.is_set():
                self._report_drops()
                if not self.sink.is_open:
                    if not self._open():
                        self.stop.wait(self._next_backoff())
                    continue
                if not self._read_replies():
                    self.stop.wait(self._next_backoff())
                    continue
                if not self.pending:
                    entries = self._gather()
                    if entries:
                        self._encode(entries)
                self._send_pending()
        except Exception as err:  # a bug: say so loudly, and stop accepting records
            log.exception("vizcast: the sender thread failed; nothing more will be sent")
            with self.queue.lock:
                self.last_error = f"the sender thread failed: {err!r}"
                self.queue.close()
        finally:
            with self.queue.lock:
                self.progress.notify_all()

    def _next_backoff(self) -> float:
        wait = self.backoff * random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not cryptography
        self.backoff = min(self.options.max_backoff, self.backoff * 2)
        return wait

    def _open(self) -> bool:
        try:
            self.sink.open()
            if self.sink.greets:
                self._await_hello()
        except SinkClosed as err:
            self.sink.close()
            self._problem(str(err))
            return False
        with self.queue.lock:
            self.connected = True
            self.connections += 1
            self.frame_no = 0
            self.frame_records.clear()
        self._warned_error = None
        if self.connections == 1:
            log.info("vizcast: connected to %s", self.sink.target)
        else:
            log.warning("vizcast: connected to %s again", self.sink.target)
        self.emit()
        return True

    def _await_hello(self) -> None:
        """Reads replies until the hub's ``hello``: a refused connection gets an error instead."""
        deadline = time.monotonic() + self.options.open_timeout
        self.greeted = False
        while not self.greeted:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SinkClosed("no hello from the other end: is it a vizcast hub?")
            for text in self.sink.replies(timeout=min(remaining, POLL_SECONDS)):
                self._on_reply(text)

    def _lost(self, reason: str, *, keep_error: bool = False) -> None:
        self._problem(reason, suffix="; reconnecting", keep_error=keep_error, disconnected=True)

    def _problem(self, message: str, *, suffix: str = "", keep_error: bool = False, disconnected: bool = False) -> None:
        """Records a problem (with the connection's state, in one step) and warns once per message."""
        with self.queue.lock:
            if disconnected:
                self.connected = False
            if not keep_error:
                self.last_error = message
        if message == self._warned_error:
            log.debug("vizcast: %s: %s", self.sink.target, message)
        else:
            self._warned_error = message
            log.warning("vizcast: %s: %s%s", self.sink.target, message, suffix)
        self.emit()

    def _read_replies(self) -> bool:
        try:
            replies = self.sink.replies()
        except SinkClosed as err:
            if err.code == CLOSE_TOO_BIG:
                self._refused_as_too_big(None)
            self._lost(str(err), keep_error=err.code == CLOSE_TOO_BIG)
            return False
        for text in replies:
            self._on_reply(text)
        return True

    def _on_reply(self, text: str) -> None:
        try:
            reply = json.loads(text)
        except ValueError:
            log.debug("vizcast: a reply that is not JSON: %.200s", text)
            return
        if not isinstance(reply, dict):
            return
        kind = reply.get("vizcast")
        if kind == "hello":
            session = reply.get("session")
            if self.session is not None and session != self.session:
                log.warning("vizcast: the hub at %s restarted (a new session)", self.sink.target)
            with self.queue.lock:
                self.session = session if isinstance(session, str) else None
            self.greeted = True
        elif kind == "error":
            self._on_error(reply)

    def _on_error(self, reply: dict[str, Any]) -> None:
        frame = reply.get("frame")
        message = reply.get("message", "")
        code = reply.get("code", "error")
        records = self.frame_records.pop(frame, (0, 0))[0] if isinstance(frame, int) else 0
        if isinstance(frame, int):
            text = f"the hub rejected frame {frame} ({records} records): {message}"
        else:
            text = f"the hub says ({code}): {message}"
        with self.queue.lock:
            self.rejected += records
            self.last_error = text
        suppressed = self._reject_throttle.allow()
        if suppressed is not None:
            more = f" ({suppressed} more rejections before this one)" if suppressed else ""
            log.warning("vizcast: %s%s", text, more)
        self.emit()

    def _report_drops(self) -> None:
        """Warns (at most every few seconds) while a full queue drops records."""
        dropped = self.queue.full_drops
        if dropped == self._reported_dropped or self._drop_throttle.allow() is None:
            return
        new = dropped - self._reported_dropped
        self._reported_dropped = dropped
        log.warning(
            "vizcast: the queue is full: %d records dropped (%d in all); %s",
            new,
            dropped,
            "sending" if self.connected else f"not connected: {self.last_error}",
        )
        self.emit()

    def _gather(self) -> list[Entry]:
        q = self.queue
        options = self.options
        with q.lock:
            if not q.entries:
                if not self.pending:
                    self.done_seq = q.seq
                    self.progress.notify_all()
                q.wait(1, POLL_SECONDS)
                if not q.entries:
                    return []
            wait = self.last_send + options.batch_interval - time.monotonic()
            if wait > 0 and not self.backlog and q.bytes < options.batch_bytes and not self.flush_requested:
                q.wait(options.batch_bytes, wait)
            self.flush_requested = False
            taken = q.take(options.batch_bytes)
            self.backlog = bool(q.entries)  # more to send at once: no batching wait next time
            if taken:
                self.pending_seq = taken[-1].seq
            elif not q.entries:
                self.done_seq = q.seq
                self.progress.notify_all()
            return taken

    def _encode(self, entries: list[Entry]) -> None:
        options = self.options
        parts: list[bytes] = []
        size = 0
        records = 0

        def close_batch() -> None:
            nonlocal parts, size, records
            if parts:
                data = parts[0] if len(parts) == 1 else b"".join([b"[", b",".join(parts), b"]"])
                self.pending.append(Frame(data, records))
                parts, size, records = [], 0, 0

        for entry in entries:
            try:
                messages = self._messages(entry)
            except Exception as err:  # noqa: BLE001 - one bad entry must not stop the others
                self._drop_taken(entry.records, f"{entry.stream}: cannot encode: {err}")
                continue
            alone = isinstance(entry, Message) and entry.wins
            for data, count in messages:
                if len(data) + 2 > self.max_frame_bytes:
                    self._drop_taken(
                        count,
                        f"{entry.stream}: a message of {len(data)} bytes is over the hub's frame limit "
                        f"(max_frame_bytes, --max-frame-bytes: {self.max_frame_bytes} bytes)",
                    )
                    continue
                if alone:
                    close_batch()
                    self.pending.append(Frame(data, count))
                    continue
                if parts and size + len(data) + 1 > options.frame_bytes:
                    close_batch()
                parts.append(data)
                size += len(data) + 1
                records += count
        close_batch()

    def _stream_json(self, stream: str) -> bytes:
        text = self.stream_json.get(stream)
        if text is None:
            if len(self.stream_json) >= 65_536:
                self.stream_json.clear()
            text = self.stream_json[stream] = encode.json_text(stream)
        return text

    def _messages(self, entry: Entry) -> list[tuple[bytes, int]]:
        stream = self._stream_json(entry.stream)
        if isinstance(entry, Message):
            if entry.base is not None and entry.base.dead:
                self._drop_taken(entry.records, "")  # its base was dropped: it would extend the wrong line
                return []
            return [(encode.message(stream, entry.fields), entry.records)]
        out: list[tuple[bytes, int]] = []
        if isinstance(entry, Scalars):
            ts, vs = entry.ts, entry.vs
            for start in range(0, len(ts), CHUNK_SAMPLES):
                end = start + CHUNK_SAMPLES
                scalars = {"t": encode.f64_blob(ts[start:end]), "value": encode.f64_blob(vs[start:end])}
                out.append((encode.message(stream, scalars), len(ts[start:end])))
        elif isinstance(entry, Rows):
            ts, rows = entry.ts, entry.rows
            for start in range(0, len(ts), CHUNK_SAMPLES):
                end = start + CHUNK_SAMPLES
                columns = [encode.f64_blob(column) for column in zip(*rows[start:end], strict=True)]
                values = {"t": encode.f64_blob(ts[start:end]), "values": encode.values_tree(entry.names, columns)}
                out.append((encode.message(stream, values), len(ts[start:end])))
        return out

    def _refused_as_too_big(self, current: Frame | None) -> None:
        """The hub closed the connection (1009) on a frame over its ``--max-frame-bytes``.

        Every frame it accepted was within its limit, so the culprit is the largest frame of this
        connection: the one being sent (``current``), or one already written, in which case it
        and every frame written after it were discarded unread. Resending the culprit would
        close every new connection the same way: it is dropped, and messages of its size are
        dropped before they are sent from now on (counted, with this reason).
        """
        sent = self.frame_records
        largest = max(sent, key=lambda no: sent[no][1], default=None)
        if current is not None and (largest is None or len(current.data) > sent[largest][1]):
            self.pending.popleft()
            size = len(current.data)
            self._drop_taken(current.records, "")
        elif largest is not None:
            size = sent[largest][1]
            lost = sum(records for no, (records, _) in sent.items() if no >= largest)
            with self.queue.lock:
                self.rejected += lost
            for no in [no for no in sent if no >= largest]:
                del sent[no]
        else:
            return
        self.max_frame_bytes = min(self.max_frame_bytes, size - 1)
        why = (
            f"the hub refused a frame of {size} bytes (over its --max-frame-bytes); "
            f"messages of {size} bytes or more are dropped from now on"
        )
        with self.queue.lock:
            self.last_error = why
        log.error("vizcast: %s", why)

    def _drop_taken(self, records: int, why: str) -> None:
        q = self.queue
        with q.lock:
            q.inflight -= records
            q.dropped += records
            if why:
                self.last_error = why
        if why:
            log.error("vizcast: %s (%d records dropped)", why, records)

    def _send_pending(self) -> None:
        q = self.queue
        sent_any = False
        while self.pending and not self.stop.is_set():
            frame = self.pending[0]
            try:
                self.sink.send(frame.data)
            except SinkClosed as err:
                if err.code == CLOSE_TOO_BIG:
                    self._refused_as_too_big(frame)
                self._lost(str(err), keep_error=err.code == CLOSE_TOO_BIG)
                self.stop.wait(self._next_backoff())
                return
            self.pending.popleft()
            sent_any = True
            self.backoff = MIN_BACKOFF
            self.frame_no += 1
            self.frame_records[self.frame_no] = (frame.records, len(frame.data))
            if len(self.frame_records) > REMEMBERED_FRAMES:
                del self.frame_records[next(iter(self.frame_records))]
            with q.lock:
                q.sent += frame.records
                q.inflight -= frame.records
        if sent_any:
            self.last_send = time.monotonic()
        if not self.pending:
            with q.lock:
                if self.pending_seq > self.done_seq:
                    self.done_seq = self.pending_seq
                    self.progress.notify_all()
