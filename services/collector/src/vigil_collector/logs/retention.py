"""Which sources have their logs kept: the keep label (`logs_keep_label`), shared by
the retained containers (`docker.kept_logs`) and pods (`kubernetes.kept_pod_logs`),
their lines as kept batches hold them, and where a source's kept lines end.

A retained source's first follower in a process (the collector started again, or
another replica took the cluster over) goes on after the last line LOGS_KEPT holds of
it: the last batch on its subject (`last_kept`, a direct get) gives that line's time,
the engine's log is read again from that whole second, and what was kept is skipped
(`AfterKept`): every line before that time, and at that very time as many lines as
were kept at it (a fast writer stamps several lines alike, to the microsecond kept).
"""

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from pydantic import ValidationError

from vigil.bus import Bus
from vigil.errors import BusUnavailable
from vigil.messages import KeptLogBatch, KeptPodLogBatch, LogLine
from vigil.streams import LOGS_KEPT

log = logging.getLogger(__name__)

_CLOCKS_APART_S = 60  # what the lines read again for a pod may take, to spare


class KeepLabel:
    """`key=value` (that value), `key` (any value) or empty (none by label)."""

    def __init__(self, setting: str) -> None:
        key, equals, value = setting.partition("=")
        self._key = key
        self._value = value if equals else None

    def on(self, labels: Mapping[str, str]) -> bool:
        key, value = self._key, self._value
        return bool(key) and key in labels and (value is None or labels[key] == value)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def compact(lines: list[LogLine]) -> tuple[int, list[tuple[int, str]]]:
    """Lines as a kept batch holds them: the first one's time in epoch microseconds, and
    each line as its microseconds after that and its text (kept for days: compact)."""
    micros = [(line.time - _EPOCH) // _MICROSECOND for line in lines]
    return micros[0], [(at - micros[0], line.text) for at, line in zip(micros, lines, strict=True)]


@dataclass(frozen=True)
class KeptEnd:
    """Where a source's kept lines end: the last one's time, in epoch microseconds, and
    how many lines of the last batch were kept at that very time (a run of them across
    two batches is counted in the last one only)."""

    micros: int
    alike: int

    @classmethod
    def of(cls, batch: KeptLogBatch | KeptPodLogBatch) -> "KeptEnd | None":
        if not batch.lines:
            return None
        micros = batch.start + batch.lines[-1][0]
        alike = sum(1 for offset, _ in batch.lines if batch.start + offset == micros)
        return cls(micros, alike)


class AfterKept:
    """A source's lines read again from the second its kept lines end in, told apart:
    `new` for each in order, whether it was not kept yet. A line without a time (0) is
    new: it cannot be placed."""

    def __init__(self, end: KeptEnd) -> None:
        self.end = end
        self._alike_seen = 0

    @property
    def since_s(self) -> int:
        """The whole second to read from (Docker's `since`, inclusive)."""
        return self.end.micros // 10**6

    def seconds_ago(self, now_ns: int) -> int:
        """The Kubernetes API's `sinceSeconds` back to that second from `now_ns` (its
        Python client has no `sinceTime`), with `_CLOCKS_APART_S` more: the node's clock
        may be ahead of this one's."""
        return max(1, -(-(now_ns // 1000 - self.end.micros) // 10**6)) + _CLOCKS_APART_S

    def new(self, nanos: int) -> bool:
        micros = nanos // 1000
        if not nanos or micros > self.end.micros:
            return True
        if micros < self.end.micros:
            return False
        self._alike_seen += 1
        return self._alike_seen > self.end.alike


Batch = TypeVar("Batch", KeptLogBatch, KeptPodLogBatch)


async def last_kept(bus: Bus, subject: str, model: type[Batch]) -> Batch | None:
    """The last batch LOGS_KEPT holds on `subject`; None when it holds none, or when it
    cannot be read (logged: the source is then read as if none were kept)."""
    try:
        data = await bus.last_message(LOGS_KEPT, subject)
    except BusUnavailable as exc:
        log.warning("cannot tell where the kept lines of %s end: %s", subject, exc)
        return None
    if data is None:
        return None
    try:
        return model.model_validate_json(data)
    except ValidationError as exc:
        log.warning("the last kept batch on %s is not a %s: %s", subject, model.__name__, exc)
        return None
