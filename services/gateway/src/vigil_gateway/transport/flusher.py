"""One write per socket per loop turn, for every socket of the gateway.

Outboxes with something to send mark themselves; at the end of the loop turn the
flusher flushes each once. So a burst of messages costs each socket one write, and
the latency figure is taken when the bytes are handed to the sockets, once per
message for all the sockets that took it at once.
"""

import asyncio
import time
from collections.abc import Sequence
from typing import Protocol

from vigil_gateway.metrics import GatewayMetrics
from vigil_gateway.transport.wire import Frame


class Flushable(Protocol):
    """What the flusher flushes: an outbox (`outbox.Outbox`) with something to write."""

    def flush(self) -> None: ...


class Flusher:
    def __init__(self, metrics: GatewayMetrics) -> None:
        self._metrics = metrics
        self._dirty: list[Flushable] = []
        self._fanouts: list[tuple[str, Sequence[Frame], float | None, int]] = []
        self._scheduled: asyncio.Handle | None = None

    def mark(self, outbox: Flushable) -> None:
        """`outbox` has something to write this turn."""
        self._dirty.append(outbox)
        if self._scheduled is None:
            self._scheduled = asyncio.get_running_loop().call_soon(self._flush)

    def fanned_out(
        self, kind: str, frames: Sequence[Frame], produced_at: float | None, copies: int
    ) -> None:
        """`copies` sockets took `frames` at once: count them when they are written."""
        if copies:
            self._fanouts.append((kind, frames, produced_at, copies))

    def _flush(self) -> None:
        self._scheduled = None
        dirty, self._dirty = self._dirty, []
        for outbox in dirty:
            outbox.flush()
        fanouts, self._fanouts = self._fanouts, []
        now = time.time()
        for kind, frames, produced_at, copies in fanouts:
            self._metrics.sent(kind, frames, produced_at, now, copies)
