"""Several sources' lines in one time order, with a bounded wait.

Each source's lines come in order, but the sources come at their own pace (a batch
every 100 ms from each collector, hosts whose clocks differ). A line is released once
every live source has sent a line stamped at least as late (its watermark has passed
the line), or once it has waited `window_s`, whichever comes first: so the order is
the lines' own, and a quiet source delays the others by the window at most. A line
stamped before one already released comes too late to be put in its place: it goes
out at once, marked late, never dropped.
"""

import heapq
import itertools
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

Line = TypeVar("Line")


@dataclass(order=True)
class _Held(Generic[Line]):
    time: datetime
    order: int  # equal times keep the order they came in
    source: str = field(compare=False)
    line: Line = field(compare=False)
    due: float = field(compare=False)  # when it has waited the window


@dataclass(frozen=True)
class Released(Generic[Line]):
    source: str
    line: Line
    late: bool


class ReorderWindow(Generic[Line]):
    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._held: list[_Held[Line]] = []
        self._watermarks: dict[str, datetime | None] = {}
        self._late: list[Released[Line]] = []
        self._released_until: datetime | None = None
        self._order = itertools.count()

    def add_source(self, source: str) -> None:
        self._watermarks.setdefault(source, None)

    def remove_source(self, source: str) -> None:
        """The source is gone: no line waits for it any more (its own still go)."""
        self._watermarks.pop(source, None)

    def put(self, source: str, time: datetime, line: Line, now: float) -> None:
        if self._released_until is not None and time < self._released_until:
            self._late.append(Released(source, line, late=True))
        else:
            due = now + self.window_s
            heapq.heappush(self._held, _Held(time, next(self._order), source, line, due))
        if source in self._watermarks:
            mark = self._watermarks[source]
            self._watermarks[source] = time if mark is None else max(mark, time)

    def release(self, now: float) -> list[Released[Line]]:
        """What may go now: late lines, then held lines in time order."""
        out, self._late = self._late, []
        while self._held:
            first = self._held[0]
            waited = now >= first.due
            passed = all(
                mark is not None and mark >= first.time for mark in self._watermarks.values()
            )
            if not (waited or passed):
                break
            heapq.heappop(self._held)
            self._released_until = first.time
            out.append(Released(first.source, first.line, late=False))
        return out

    def deadline(self) -> float | None:
        """When the first line in time order will have waited the window (None:
        nothing is held)."""
        return self._held[0].due if self._held else None

    def __len__(self) -> int:
        return len(self._held) + len(self._late)
