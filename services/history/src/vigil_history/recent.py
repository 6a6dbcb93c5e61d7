"""The raw samples of the last minutes, parsed once.

Every query's newest part (after the finest tier's watermark) and every roll-up of the
finest tier read the same few minutes of raw samples: a window and the minute before it
(`LOOKBACK_S`). Parsing a host's 100 containers is most of what that costs, so a replica
keeps them parsed, per subject, as one run: every sample of the subject from a time
`low` to the last one read. A read that falls in the run reads from the stream only the
messages published since (one `get_last_msg` when there are none); one that starts
before it reads the stream as before, and starts a new run if it is recent.

Bounded by age (`keep_s` behind the newest sample) and in entries (`max_entries`, the
least recently read subjects dropped first).
"""

import contextlib
import itertools
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from nats.js.errors import NotFoundError

from vigil.bus import Bus
from vigil_history import store
from vigil_history.series import Sample, readable_samples

Parsed = tuple[float, dict[str, list[Sample]]]
"""One raw message: its time and its entries by schema kind."""


@dataclass
class _Run:
    low: float
    """Every sample of the subject at or after this time is held (up to `last_seq`)."""
    last_seq: int
    messages: deque[Parsed] = field(default_factory=deque)
    entries: int = 0


class RecentSamples:
    def __init__(self, bus: Bus, stream: str, keep_s: float, max_entries: int) -> None:
        self._bus = bus
        self._stream = stream
        self._keep_s = keep_s
        self._max_entries = max_entries
        self._runs: OrderedDict[str, _Run] = OrderedDict()
        self._entries = 0
        self.read_messages = 0
        """Messages read from the stream (the rest came from here), for tests and benches."""

    async def read(self, subject: str, raw_kind: str, start: float, end: float) -> list[Parsed]:
        """The samples of `subject` from the first at `start` or later up to the first at
        `end` or later, in order (as `store.read` reads them)."""
        run = self._runs.get(subject)
        if run is None or start < run.low:
            run = await self._start(subject, raw_kind, start, end)
            if run is None:
                return []
        else:
            await self._extend(subject, raw_kind, run)
        after = itertools.dropwhile(lambda parsed: parsed[0] < start, run.messages)
        return list(itertools.takewhile(lambda parsed: parsed[0] < end, after))

    async def _start(self, subject: str, raw_kind: str, start: float, end: float) -> _Run | None:
        """Reads `[start, end)` from the stream; kept as the subject's run if `start` is
        recent (then read to the subject's last message), else only answered."""
        seq = await store.seek(self._bus.js, self._stream, subject, start, store.sample_time)
        if seq is None:
            return None
        keep = start >= time.time() - self._keep_s
        run = _Run(low=start, last_seq=seq - 1)
        messages = store.read_from(self._bus.js, self._stream, subject, seq)
        async with contextlib.aclosing(messages):
            async for message in messages:
                at = store.sample_time(message.data)
                if not keep and at >= end:
                    break
                self._append(run, message.metadata.sequence.stream, at, raw_kind, message.data)
        if keep:
            self._drop(subject)
            self._keep(subject, run)
        return run

    async def _extend(self, subject: str, raw_kind: str, run: _Run) -> None:
        """The messages published since the run's last, appended; the old ones dropped."""
        self._runs.move_to_end(subject)
        try:
            last = await self._bus.js.get_last_msg(self._stream, subject)
        except NotFoundError:  # aged out of the stream: nothing new
            return
        assert last.seq is not None
        if last.seq <= run.last_seq:
            return
        before = run.entries
        if last.seq == run.last_seq + 1:  # the usual case: one more sample since
            data = last.data or b""
            self._append(run, last.seq, store.sample_time(data), raw_kind, data)
        else:
            messages = store.read_from(self._bus.js, self._stream, subject, run.last_seq + 1)
            async with contextlib.aclosing(messages):
                async for message in messages:
                    at = store.sample_time(message.data)
                    self._append(run, message.metadata.sequence.stream, at, raw_kind, message.data)
        self._entries += run.entries - before
        self._trim(run)

    def _append(self, run: _Run, seq: int, at: float, raw_kind: str, payload: bytes) -> None:
        entries = readable_samples(raw_kind, payload)
        run.messages.append((at, entries))
        run.entries += sum(len(samples) for samples in entries.values())
        run.last_seq = seq
        self.read_messages += 1

    def _trim(self, run: _Run) -> None:
        """Drops what is older than `keep_s` behind the newest sample; then subjects,
        least recently read first, past `max_entries`."""
        if run.messages:
            cutoff = run.messages[-1][0] - self._keep_s
            while run.messages and run.messages[0][0] < cutoff:
                _, entries = run.messages.popleft()
                dropped = sum(len(samples) for samples in entries.values())
                run.entries -= dropped
                self._entries -= dropped
            run.low = max(run.low, cutoff)
        while self._entries > self._max_entries and self._runs:
            _, old = self._runs.popitem(last=False)
            self._entries -= old.entries

    def _keep(self, subject: str, run: _Run) -> None:
        self._runs[subject] = run
        self._entries += run.entries
        self._trim(run)

    def _drop(self, subject: str) -> None:
        old = self._runs.pop(subject, None)
        if old is not None:
            self._entries -= old.entries
