"""Each connection's bounded queue of frames to send, shaped by channel kind.

- *state* frames sit in a slot per (channel, subject): a newer value replaces the
  queued one in place, so a slow client skips to the newest and the queue never grows
  past one entry per subject it watches.
- *stream* frames queue in order up to `limit`; past that the oldest are dropped and
  the client gets a `gap` saying how many, just before that channel's next frame.
- *journal* frames queue in order and are never dropped: a client that falls `limit`
  behind is closed with 4008 and resumes from its last cursor.
- *control* frames (connected, pong, error...) queue in order and are never dropped;
  they come from the client's own requests or from rare gateway events.
- a *close* (revoked, expired, replaced...) goes ahead of everything still queued.
"""

import asyncio
from collections import Counter, deque
from dataclasses import dataclass

from vigil.messages import CloseCode, Gap

Slot = tuple[str, str]  # (channel key, subject)


@dataclass(frozen=True)
class Close:
    code: int
    reason: str


@dataclass
class _Entry:
    frames: tuple[str, ...]
    slot: Slot | None = None  # state entries
    channel: str | None = None  # stream entries
    journal: bool = False


class Outbox:
    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._queue: deque[_Entry] = deque()
        self._slots: dict[Slot, _Entry] = {}
        self._streamed = 0  # stream entries in the queue
        self._journaled = 0  # journal entries in the queue
        self._dropped: Counter[str] = Counter()
        self._close: Close | None = None
        self._ready = asyncio.Event()

    def put_close(self, code: int, reason: str) -> None:
        if self._close is None:
            self._close = Close(code, reason)
            self._ready.set()

    def put_control(self, frame: str) -> None:
        self._append(_Entry((frame,)))

    def put_state(self, slot: Slot, frames: tuple[str, ...]) -> None:
        queued = self._slots.get(slot)
        if queued is not None:
            queued.frames = frames  # newest wins, keeps its place
            return
        entry = _Entry(frames, slot=slot)
        self._slots[slot] = entry
        self._append(entry)

    def put_stream(self, channel: str, frames: tuple[str, ...]) -> None:
        if self._streamed >= self._limit:
            self._drop_oldest_stream_entry()
        self._streamed += 1
        self._append(_Entry(frames, channel=channel))

    def put_journal(self, channel: str, frames: tuple[str, ...]) -> None:
        if self._journaled >= self._limit:
            self.put_close(
                CloseCode.TOO_SLOW,
                f"too slow for {channel[:60]}: reconnect and resume from your last cursor",
            )
            return
        self._journaled += 1
        self._append(_Entry(frames, journal=True))

    async def get(self) -> tuple[str, ...] | Close:
        """The next frames to send, in order, or a close; waits while there are none."""
        while not self._queue and self._close is None:
            self._ready.clear()
            await self._ready.wait()
        if self._close is not None:
            return self._close
        entry = self._queue.popleft()
        if entry.slot is not None:
            del self._slots[entry.slot]
        if entry.journal:
            self._journaled -= 1
        if entry.channel is None:
            return entry.frames
        self._streamed -= 1
        dropped = self._dropped.pop(entry.channel, 0)
        if dropped:
            return (Gap(channel=entry.channel, dropped=dropped).model_dump_json(), *entry.frames)
        return entry.frames

    def __len__(self) -> int:
        return len(self._queue)

    def _append(self, entry: _Entry) -> None:
        self._queue.append(entry)
        self._ready.set()

    def _drop_oldest_stream_entry(self) -> None:
        for index, entry in enumerate(self._queue):
            if entry.channel is not None:
                del self._queue[index]
                self._streamed -= 1
                self._dropped[entry.channel] += 1
                return
