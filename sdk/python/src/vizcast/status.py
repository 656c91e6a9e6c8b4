"""What a client reports about itself: :class:`Status`."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Status"]


@dataclass(frozen=True, slots=True)
class Status:
    """A consistent snapshot of a client's connection and counters.

    The counters count *records*: one scalar sample (a ``log`` call, a row of ``columns``) or one
    other message (a cloud, a line, a text event, an image, a clear). At every moment
    ``logged == sent + queued + dropped``: nothing is lost without being counted.
    """

    target: str
    """Where frames go: the hub's URL, or the JSON-lines file (``stdout``)."""
    connected: bool
    """Whether the hub (or the file) is connected now."""
    logged: int
    """Records handed to the client since it was created."""
    queued: int
    """Records waiting: in the queue, and taken by the sender but not yet written."""
    queued_bytes: int
    """The queue's estimated memory, counted against ``max_queue_bytes``."""
    sent: int
    """Records written to the hub's connection (or the file)."""
    dropped: int
    """Records dropped because the queue was full (or left unsent at ``close``)."""
    rejected: int
    """Records of sent frames that the hub rejected (``error`` replies; see ``last_error``)."""
    reconnects: int
    """Connections made after the first one."""
    last_error: str | None
    """The latest problem, in words: the hub's reason for a rejection or a refusal, a lost connection."""
    session: str | None
    """The hub's session (from its ``hello``): a new one means the hub restarted."""
