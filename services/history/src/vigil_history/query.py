"""Answering a range query from the tiers that cover it.

The range is rounded out to whole steps. It is served coarsest usable tier first (a
tier is usable when its step divides the asked step: its windows then fall whole into
the answer's points, so every point is exact): each tier up to its watermark, the next
finer one from there, the raw samples after the finest tier's watermark. The parts
meet at watermarks, so they neither overlap nor leave a gap; a coarser tier answers the
same figures as a finer one, from fewer messages.
"""

import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from nats.js.errors import NotFoundError

from vigil.bus import Bus
from vigil.messages import (
    HistoryEntry,
    HistoryKind,
    HistorySeries,
    QueryHistory,
    SeriesStats,
    TierSpan,
)
from vigil.streams import HISTORY, HISTORY_RAW
from vigil_history import store
from vigil_history.errors import BadQuery
from vigil_history.frame import Frame
from vigil_history.frames import FrameCache
from vigil_history.roller import LOOKBACK_S, Roller, Source, raw_subject
from vigil_history.rollup import (
    LAST,
    MAX,
    MIN,
    STATS,
    SUM,
    Columns,
    Record,
    combine,
    roll_up_steps,
)
from vigil_history.series import (
    DOCKER,
    HOST,
    NODES,
    PODS,
    Schema,
    readable_samples,
)
from vigil_history.settings import HistorySettings, Tier

RAW = "raw"


@dataclass(frozen=True)
class Target:
    source: Source
    schema: Schema
    key: str | None
    """One entry (a host, a container's name, `namespace/pod`, a node), or None: all."""


@dataclass(frozen=True)
class Part:
    tier: Tier | None  # None: the raw samples
    start: int
    end: int


class Query:
    """Range queries of one service (its bus and settings)."""

    def __init__(self, bus: Bus, settings: HistorySettings, roller: Roller) -> None:
        self._bus = bus
        self._settings = settings
        self._roller = roller
        self._raw = HISTORY_RAW.stream(bus.subjects)
        self._history = HISTORY.stream(bus.subjects)
        self.cache = FrameCache(settings.frame_cache_bytes)

    async def answer(self, query: QueryHistory, now: float | None = None) -> HistorySeries:
        now = time.time() if now is None else now
        end = query.end.timestamp() if query.end else now
        start = query.start.timestamp()
        if end <= start:
            raise BadQuery("end must be after start (end defaults to now)")
        target = await self._target(query)
        wanted = _series_wanted(target.schema, query.series)
        # every container of a host at once: a hundredth of the points, so the answer
        # stays well under NATS's 1 MB
        most = max(1, self._settings.max_points // (1 if target.key is not None else 100))
        step = query.step_s or self._default_step(start, end, now, most)
        first, last = math.floor(start / step) * step, math.ceil(end / step) * step
        points = (last - first) // step
        if points > most:
            finest = self._settings.tiers[0].step_s
            least = math.ceil((last - first) / max(1, most) / finest) * finest
            raise BadQuery(
                f"{points} points of {step} s is more than this service answers: ask a "
                f"step of at least {least} s"
            )
        finest = self._settings.tiers[0].step_s
        if step % finest and first < now - self._settings.raw_window_s:
            raise BadQuery(
                f"a step of {step} s is kept for the last {self._settings.raw_window_s} s only:"
                f" ask a multiple of {finest} s for a range older than that"
            )
        parts = await self._plan(target.source, first, last, step, now)
        frames = sum((p.end - p.start) // p.tier.step_s for p in parts if p.tier is not None)
        if frames > self._settings.max_frames:
            raise BadQuery(
                f"the range needs {frames} roll-ups read, more than {self._settings.max_frames}:"
                " ask a larger step (a multiple of a coarser tier's)"
            )
        buckets: dict[str, dict[int, list[Record]]] = defaultdict(lambda: defaultdict(list))
        newest = None
        for part in parts:
            newest = await self._read(target, part, step, buckets) or newest
        if len(buckets) > self._settings.max_entries:
            raise BadQuery(f"more than {self._settings.max_entries} entries: ask fewer")
        return HistorySeries(
            kind=query.kind,
            source=target.source.name,
            start=_time(first),
            end=_time(last),
            step_s=step,
            newest=_time(newest) if newest is not None else None,
            tiers=[
                TierSpan(
                    tier=p.tier.name if p.tier else RAW, start=_time(p.start), end=_time(p.end)
                )
                for p in parts
            ],
            entries=[
                _entry(target.schema, key, by_time, wanted)
                for key, by_time in sorted(buckets.items())
            ],
        )

    async def warm(self, now: float | None = None) -> int:
        """The finest tier's last `warm_s` of every source read into the frames kept,
        as far as they hold them; the frames read."""
        now = time.time() if now is None else now
        tier = self._settings.tiers[0]
        before = self.cache.read_windows
        for source in await self._roller.sources():
            mark, _ = await self._roller.mark(tier, source)
            if mark is None or not self._settings.warm_s:
                continue
            start = max(mark - self._settings.warm_s, int(now) - tier.retention_s)
            start -= start % tier.step_s
            for _, subject in self._roller.frame_subjects(source, tier):
                await self.cache.frames(subject, start, mark, self._read_frames)
        return self.cache.read_windows - before

    # -- what and where ----------------------------------------------------------

    async def _target(self, query: QueryHistory) -> Target:
        match query.kind:
            case HistoryKind.HOST:
                assert query.host is not None
                return Target(Source("host", query.host), HOST, query.host)
            case HistoryKind.CONTAINERS:
                assert query.host is not None
                return Target(Source("docker", query.host), DOCKER, None)
            case HistoryKind.CONTAINER:
                assert query.host is not None
                assert query.container is not None
                source = Source("docker", query.host)
                name = await self._container_name(source, query.container, query)
                return Target(source, DOCKER, name)
            case HistoryKind.POD:
                assert query.cluster is not None
                return Target(Source("k8s", query.cluster), PODS, f"{query.namespace}/{query.pod}")
            case HistoryKind.NODE:
                assert query.cluster is not None
                return Target(Source("k8s", query.cluster), NODES, query.node)

    async def _container_name(self, source: Source, container: str, query: QueryHistory) -> str:
        """A container's series is kept under its name: an id (or its prefix) names the
        container that has it in the newest sample or roll-up; else it is a name."""
        js = self._bus.js
        if len(container) >= 12 and all(c in "0123456789abcdef" for c in container):
            try:
                last = await js.get_last_msg(self._raw, raw_subject(self._bus, source))
                for sample in readable_samples("docker", last.data or b"").get("docker", []):
                    if sample.id and (sample.id.startswith(container[:12])):
                        return sample.key
            except NotFoundError:
                pass
            for tier in self._settings.tiers:
                subject = self._bus.subjects.history(tier.name, DOCKER.kind, source.name)
                try:
                    frame = Frame((await js.get_last_msg(self._history, subject)).data or b"")
                except NotFoundError:
                    continue
                key = frame.key_of_id(container[:12])
                if key is not None:
                    return key
            return await self._container_in_range(source, container[:12], query) or container
        return container

    async def _container_in_range(
        self, source: Source, container_id: str, query: QueryHistory
    ) -> str | None:
        """The name of the container `container_id` had in the range (a container
        since recreated: another id under its name), from the coarsest tier's frames."""
        tier = self._settings.tiers[-1]
        subject = self._bus.subjects.history(tier.name, DOCKER.kind, source.name)
        end = query.end.timestamp() if query.end else time.time()
        async for payload in store.read(
            self._bus.js, self._history, subject, query.start.timestamp(), end, store.frame_time
        ):
            key = Frame(payload).key_of_id(container_id)
            if key is not None:
                return key
        return None

    def _default_step(self, start: float, end: float, now: float, most: int) -> int:
        """The finest the history keeps at `start`, widened to `most` points at most
        (to a multiple of the coarsest tier's step it reaches, so the tier serves it)."""
        span = end - start
        if start >= now - self._settings.raw_window_s:
            base = 1
        else:
            base = next(
                (t.step_s for t in self._settings.tiers if start >= now - t.retention_s),
                self._settings.tiers[-1].step_s,
            )
        # rounded out to whole steps, the range may take one point more
        step = base * max(1, math.ceil(span / (base * max(1, most - 1))))
        for tier in reversed(self._settings.tiers):  # a step a tier serves whole
            if step >= tier.step_s:
                return math.ceil(step / tier.step_s) * tier.step_s
        return step

    async def _plan(
        self, source: Source, first: int, last: int, step: int, now: float
    ) -> list[Part]:
        parts = []
        at = first
        for tier in reversed(self._settings.tiers):
            if step % tier.step_s:
                continue
            mark, _ = await self._roller.mark(tier, source)
            if mark is None:
                continue
            until = min(last, mark)
            if until > at:
                parts.append(Part(tier, at, until))
                at = until
        # the raw samples answer the raw window at most (the tiers lag it by a window): what
        # is older and not rolled up yet (a replica catching up) is not read sample by sample
        raw_from = max(at, int(now) - self._settings.raw_window_s)
        if raw_from < last:
            parts.append(Part(None, raw_from, last))
        return parts

    # -- reading -----------------------------------------------------------------

    async def _read(
        self, target: Target, part: Part, step: int, into: dict[str, dict[int, list[Record]]]
    ) -> float | None:
        """Adds `part`'s points to `into`; the time of the newest raw sample read."""
        if part.tier is None:
            subject = raw_subject(self._bus, target.source)
            wanted = _wanted(target.key)
            samples = [
                sample
                for _, entries in await self._roller.recent.read(
                    subject, target.source.kind, part.start - LOOKBACK_S, part.end
                )
                for sample in entries.get(target.schema.kind, ())
                if wanted(sample.key)
            ]
            windows = roll_up_steps(target.schema, samples, part.start, part.end, step)
            for window, records in windows.items():
                for record in records:
                    into[record.key][int(window)].append(record)
            return max((sample.time for sample in samples), default=None)
        subject = self._bus.subjects.history(part.tier.name, target.schema.kind, target.source.name)
        frames = await self.cache.frames(subject, part.start, part.end, self._read_frames)
        if target.key is None:
            for bucket, records in _every_entry(target.schema, frames, step):
                for record in records:
                    into[record.key][bucket].append(record)
            return None
        for frame in frames:
            if (one := frame.record(target.key)) is not None:
                into[one.key][frame.start // step * step].append(one)
        return None

    async def _read_frames(self, subject: str, start: int, end: int) -> list[Frame]:
        return [
            Frame(payload)
            async for payload in store.read(
                self._bus.js, self._history, subject, start, end, store.frame_time
            )
        ]


def _every_entry(
    schema: Schema, frames: list[Frame], step: int
) -> Iterator[tuple[int, list[Record]]]:
    """Every entry of `frames` (in time order), one record per point: summed up column by
    column while the frames list the same keys (`Columns`), else entry by entry."""
    summed: Columns | None = None
    bucket = 0
    for frame in frames:
        at = frame.start // step * step
        if summed is not None and at == bucket and summed.keys is frame.keys:
            summed.add(frame.ids, frame.columns())
            continue
        if summed is not None:
            yield bucket, summed.records()
        summed, bucket = Columns(schema, frame.keys, frame.ids, frame.columns()), at
    if summed is not None:
        yield bucket, summed.records()


def _wanted(key: str | None) -> Callable[[str], bool]:
    return (lambda _: True) if key is None else (lambda candidate: candidate == key)


def _time(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _series_wanted(schema: Schema, names: list[str] | None) -> set[str]:
    """The series asked for (all by default); `BadQuery` naming one the kind lacks."""
    known = [series.name for series in schema.series]
    if names is None:
        return set(known)
    if unknown := [name for name in names if name not in known]:
        raise BadQuery(f"no series {unknown[0]!r} here: {', '.join(known)}")
    return set(names)


def _entry(
    schema: Schema, key: str, by_time: dict[int, list[Record]], wanted: set[str]
) -> HistoryEntry:
    times = sorted(by_time)
    records = [
        rows[0] if len(rows) == 1 else combine(schema, rows)[0]
        for rows in (by_time[t] for t in times)
    ]
    counts = [record.count for record in records]
    rate_counts = [record.rate_count for record in records]
    # column by column (each stat of each series across the points): a day of minutes
    # is 40,000 figures, so no per-figure indexing into the records
    columns = list(zip(*(record.stats for record in records), strict=True)) or [()] * (
        len(schema.series) * STATS
    )
    series = {}
    for i, definition in enumerate(schema.series):
        if definition.name not in wanted:
            continue
        base, scale = i * STATS, definition.scale
        weights = rate_counts if definition.counter else counts
        # built from our own integers: the models are made without validating them again
        series[definition.name] = SeriesStats.model_construct(
            min=_scaled(columns[base + MIN], weights, scale),
            max=_scaled(columns[base + MAX], weights, scale),
            mean=[
                v / (n * scale) if n else None
                for v, n in zip(columns[base + SUM], weights, strict=True)
            ],
            last=_scaled(columns[base + LAST], weights, scale),
        )
    return HistoryEntry.model_construct(
        key=key,
        id=records[-1].id or None if records else None,
        times=[_time(t) for t in times],
        samples=counts,
        series=series,
    )


def _scaled(values: Sequence[int], counts: list[int], scale: int) -> list[float | None]:
    """Each kept integer as its figure; None where the point has no sample."""
    return [v / scale if n else None for v, n in zip(values, counts, strict=True)]
