"""What waits for a slow socket, bounded and shaped by channel kind.

A socket whose kernel buffer is full gets a backlog; what it is sent meanwhile waits
here until it drains:

- *state* frames sit in a slot per (channel, subject): a newer value replaces the
  queued one in place, so a slow client skips to the newest and the backlog never
  grows past one entry per subject it watches (as a snapshot, where the newer value
  was a delta from the one it replaces).
- *stream* frames queue in order up to `limit`; past that the oldest are dropped and
  the client gets a `gap` saying how many, before that channel's next frame (or, if
  none comes, where the drop happened: a carrier per channel waits in the queue).
- *journal* frames queue in order and are never dropped: a client that falls `limit`
  behind must be closed with 4008 (it resumes from its last cursor); `put_journal`
  says so by returning False.
- *control* frames (connected, pong, error...) queue in order and are never dropped;
  they come from the client's own requests (each of which counts against its rate
  limit) or from rare gateway events. A client that stops reading but keeps asking
  would queue them without end: at `limit` of them `put_control` returns False, and
  the socket must be closed with 4008 (too slow).
"""

from collections import Counter, deque
from dataclasses import dataclass
from typing import Literal

from vigil.messages import Gap
from vigil_gateway.transport.wire import Frame, Frames

Slot = tuple[str, str]  # (channel key, subject)
Kind = Literal["control", "state", "stream", "journal", "gap"]


@dataclass(frozen=True)
class Batch:
    """Frames to send together, what kind they are, and when their data entered
    JetStream (for the latency figure)."""

    frames: Frames
    kind: Kind
    produced_at: float | None = None
    dropped: int = 0  # stream frames dropped before these (announced in the first frame)


@dataclass
class _Entry:
    frames: Frames
    kind: Kind
    produced_at: float | None = None
    slot: Slot | None = None  # state entries
    channel: str | None = None  # stream entries


class Backlog:
    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._queue: deque[_Entry] = deque()
        self._slots: dict[Slot, _Entry] = {}
        self._queued: Counter[Kind] = Counter()
        self._dropped: Counter[str] = Counter()  # by stream channel, not yet reported
        self._carriers: set[str] = set()  # channels with a gap carrier in the queue

    def put_control(self, frame: Frame) -> bool:
        """Queue a control frame; False (nothing queued) when `limit` of them wait."""
        if self._queued["control"] >= self._limit:
            return False
        self._append(_Entry((frame,), "control"))
        return True

    def put_state(
        self,
        slot: Slot,
        frames: Frames,
        produced_at: float | None = None,
        snapshot: Frames | None = None,
    ) -> None:
        queued = self._slots.get(slot)
        if queued is not None:  # newest wins, keeps its place; a delta from the value
            # it replaces would not apply, so a delta subscriber gets the value whole
            queued.frames, queued.produced_at = snapshot or frames, produced_at
            return
        entry = _Entry(frames, "state", produced_at, slot=slot)
        self._slots[slot] = entry
        self._append(entry)

    def put_stream(self, channel: str, frames: Frames, produced_at: float | None = None) -> None:
        if self._queued["stream"] >= self._limit:
            self._drop_oldest_stream_entry()
        self._append(_Entry(frames, "stream", produced_at, channel=channel))

    def put_journal(self, frames: Frames, produced_at: float | None = None) -> bool:
        """Queue journal frames; False (nothing queued) when the client is `limit` behind."""
        if self._queued["journal"] >= self._limit:
            return False
        self._append(_Entry(frames, "journal", produced_at))
        return True

    def pop(self) -> Batch | None:
        """The next frames to send, in order; None when nothing is left."""
        while self._queue:
            entry = self._queue.popleft()
            self._queued[entry.kind] -= 1
            if entry.slot is not None:
                del self._slots[entry.slot]
            if entry.kind == "gap":
                assert entry.channel is not None
                self._carriers.discard(entry.channel)
            dropped = self._dropped.pop(entry.channel, 0) if entry.channel is not None else 0
            frames = entry.frames
            if dropped:
                assert entry.channel is not None
                gap = Gap(channel=entry.channel, dropped=dropped)
                frames = (Frame(gap.model_dump_json()), *frames)
            if frames:  # a carrier whose gap went out earlier carries nothing
                kind = "stream" if entry.kind == "gap" else entry.kind
                return Batch(frames, kind, entry.produced_at, dropped)
        return None

    def __len__(self) -> int:
        return len(self._queue)

    def _append(self, entry: _Entry) -> None:
        self._queue.append(entry)
        self._queued[entry.kind] += 1

    def _drop_oldest_stream_entry(self) -> None:
        for index, entry in enumerate(self._queue):
            if entry.kind == "stream":
                del self._queue[index]
                self._queued["stream"] -= 1
                assert entry.channel is not None
                self._dropped[entry.channel] += 1
                if entry.channel not in self._carriers:
                    self._carriers.add(entry.channel)
                    self._append(_Entry((), "gap", channel=entry.channel))
                return
