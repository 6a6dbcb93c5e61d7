"""Frames already read, kept for the next query: a frame of a window below its tier's
watermark never changes (each window is published once), so a chart asked again (a
dashboard's refresh, another user's same chart) reads only the windows it lacks. A
frame this replica publishes right after a run it holds joins the run (`add`), so a
chart asked every minute reads nothing from the stream.

Per subject one run of consecutive windows `[low, high)` whose frames are all held; the
subjects least recently asked are dropped past `max_bytes`.
"""

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from vigil_history.frame import Frame

Reader = Callable[[str, int, int], Awaitable[list[Frame]]]
"""Reads the frames of a subject whose windows start in `[start, end)`, in order."""


@dataclass
class _Run:
    low: int
    high: int
    frames: list[Frame] = field(default_factory=list)
    size: int = 0


class FrameCache:
    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._runs: OrderedDict[str, _Run] = OrderedDict()
        self._size = 0
        self.read_windows = 0
        """Frames read from the stream (the rest came from here), for tests and benches."""

    async def frames(self, subject: str, start: int, end: int, read: Reader) -> list[Frame]:
        """The frames of `subject` in `[start, end)` (a range already rolled up)."""
        run = self._runs.get(subject)
        if run is None or end < run.low or start > run.high:  # not touching: read it all
            frames = await self._read(read, subject, start, end)
            self._keep(subject, _Run(start, end, frames))
            return frames
        before = await self._read(read, subject, start, run.low) if start < run.low else []
        after = await self._read(read, subject, run.high, end) if end > run.high else []
        merged = _Run(min(start, run.low), max(end, run.high), [*before, *run.frames, *after])
        self._keep(subject, merged)
        return [frame for frame in merged.frames if start <= frame.start < end]

    def add(self, subject: str, payload: bytes) -> None:
        """A frame just published: kept if it is the window right after a run held
        (published in order, nothing can be between them)."""
        run = self._runs.get(subject)
        frame = Frame(payload)
        if run is None or frame.start != run.high:
            return
        run.frames.append(frame)
        run.high = frame.start + frame.step
        run.size += frame.size
        self._size += frame.size
        while self._size > self._max_bytes:
            _, dropped = self._runs.popitem(last=False)
            self._size -= dropped.size

    async def _read(self, read: Reader, subject: str, start: int, end: int) -> list[Frame]:
        frames = await read(subject, start, end)
        self.read_windows += len(frames)
        return frames

    def _keep(self, subject: str, run: _Run) -> None:
        old = self._runs.pop(subject, None)
        if old is not None:
            self._size -= old.size
        run.size = sum(frame.size for frame in run.frames)
        if run.size > self._max_bytes:
            return
        self._runs[subject] = run
        self._size += run.size
        while self._size > self._max_bytes:
            _, dropped = self._runs.popitem(last=False)
            self._size -= dropped.size
