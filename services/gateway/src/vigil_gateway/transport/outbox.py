"""What one socket is sent: at once while it keeps up, through a backlog when it lags.

While a socket's kernel buffer takes bytes, every frame put in its outbox joins the
socket's pending frames, and the flusher writes them with one write at the end of the
loop turn: N messages in a turn cost one write per socket, and no socket has a task of
its own waiting to send. When the socket stops taking bytes (its wire is not
writable), what follows goes to a `Backlog`, bounded and shaped by channel kind, which
drains when the socket does and then goes away. A close goes ahead of everything
still pending or queued.
"""

import asyncio
import time

from vigil.messages import CloseCode
from vigil_gateway.metrics import GatewayMetrics
from vigil_gateway.transport.backlog import Backlog, Slot
from vigil_gateway.transport.flusher import Flusher
from vigil_gateway.transport.wire import Frame, Frames, Wire


class Outbox:
    __slots__ = (
        "_backlog",
        "_close",
        "_dirty",
        "_flusher",
        "_limit",
        "_metrics",
        "_pending",
        "_room",
        "_wire",
        "closed_with",
        "dropped",
        "sent",
    )

    def __init__(
        self, wire: Wire, flusher: Flusher, *, limit: int, metrics: GatewayMetrics
    ) -> None:
        self._wire = wire
        self._flusher = flusher
        self._limit = limit
        self._metrics = metrics
        self._pending: list[Frame] = []
        self._backlog: Backlog | None = None
        self._close: tuple[int, str, str | None] | None = None
        self._dirty = False
        self._room: asyncio.Event | None = None  # made when a replay waits for room
        self.sent = 0  # frames written
        self.dropped = 0  # stream frames dropped for being slow
        self.closed_with: int | None = None  # the code this side closed with
        wire.on_writable = self._wake

    # -- putting frames: each returns True when the frames go out this loop turn -----

    def put_control(self, text: str | Frame) -> None:
        """A control frame (`text`, or its frame when the same goes to many sockets)."""
        frame = text if isinstance(text, Frame) else Frame(text)
        if self._at_once((frame,)):
            self._flusher.fanned_out("control", (frame,), None, 1)
        elif self._close is None and not self._lagging().put_control(frame):
            self.put_close(
                CloseCode.TOO_SLOW,
                f"too slow: {self._limit} replies unread; read what you are sent",
            )

    def put_state(
        self,
        slot: Slot,
        frames: Frames,
        produced_at: float | None = None,
        snapshot: Frames | None = None,
    ) -> bool:
        """`frames` are the slot's new value; a delta says what to send instead if
        the value before it is skipped (`snapshot`)."""
        if self._at_once(frames):
            return True
        if self._close is None:
            self._lagging().put_state(slot, frames, produced_at, snapshot)
        return False

    def put_stream(self, channel: str, frames: Frames, produced_at: float | None = None) -> bool:
        if self._at_once(frames):
            return True
        if self._close is None:
            self._lagging().put_stream(channel, frames, produced_at)
        return False

    def put_journal(self, channel: str, frames: Frames, produced_at: float | None = None) -> bool:
        if self._at_once(frames):
            return True
        if self._close is None and not self._lagging().put_journal(frames, produced_at):
            self.put_close(
                CloseCode.TOO_SLOW,
                f"too slow for {channel[:60]}: reconnect and resume from your last cursor",
            )
        return False

    def put_close(self, code: int, reason: str, last_words: str | None = None) -> None:
        """Close ahead of everything queued, after `last_words` (a frame saying why)."""
        if self._close is None:
            self._close = (code, reason, last_words)
            self._wake()

    async def drained(self) -> None:
        """Until the socket has taken everything (nothing held back, the kernel takes
        bytes): a replay's cue for its next batch. Never, once closing."""
        while self._backlog is not None or self._close is not None or not self._wire.writable:
            if self._room is None:
                self._room = asyncio.Event()
            self._room.clear()
            await self._room.wait()

    def __len__(self) -> int:
        """Frames waiting: pending this turn, and entries in the backlog."""
        return len(self._pending) + (len(self._backlog) if self._backlog is not None else 0)

    # -- writing ----------------------------------------------------------------------

    def flush(self) -> None:
        """Write what is pending, then as much of the backlog as the socket takes."""
        self._dirty = False
        wire = self._wire
        if self._close is not None:
            if self.closed_with is None:
                self.closed_with, reason, last_words = self._close
                self._pending.clear()
                self._backlog = None
                if last_words is not None:
                    wire.write([Frame(last_words)])
                wire.close(self.closed_with, reason)
            return
        if self._pending:
            frames, self._pending = self._pending, []
            if not wire.write(frames):
                self._metrics.send_failures += 1
                return
            self.sent += len(frames)
        backlog = self._backlog
        if backlog is None:
            if self._room is not None:
                self._has_room()
            return
        now = time.time()
        while wire.writable and (batch := backlog.pop()) is not None:
            if not wire.write(batch.frames):
                self._metrics.send_failures += 1
                return
            self.sent += len(batch.frames)
            self.dropped += batch.dropped
            self._metrics.sent(batch.kind, batch.frames, batch.produced_at, now)
            self._metrics.dropped[batch.kind] += batch.dropped
        if not backlog:
            self._backlog = None
            self._has_room()

    def _at_once(self, frames: Frames) -> bool:
        # The hottest path of the gateway: every frame to every socket comes here.
        if self._backlog is not None or self._close is not None or not self._wire.writable:
            return False
        self._pending += frames
        if not self._dirty:
            self._dirty = True
            self._flusher.mark(self)
        return True

    def _lagging(self) -> Backlog:
        if self._backlog is None:
            self._backlog = Backlog(self._limit)
        if self._wire.writable:  # it drained meanwhile: the flush empties the backlog
            self._wake()
        return self._backlog

    def _has_room(self) -> None:
        if self._room is not None and self._wire.writable:
            self._room.set()

    def _wake(self) -> None:
        if not self._dirty:
            self._dirty = True
            self._flusher.mark(self)
