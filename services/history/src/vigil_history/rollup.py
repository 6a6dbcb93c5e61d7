"""The arithmetic of roll-ups, pure: raw samples into a window's records, and records of
a finer tier into a coarser one's. A roll-up is a function of its inputs alone, so any
replica that computes a window computes the same bytes.

A record holds, per series, the least, greatest, summed and last value (integers at the
series' scale) and how many values: `count` samples for gauges, `rate_count` intervals
for counters (a container's first sample has no interval before it). The mean is
`sum / count`, exact at any tier.
"""

import operator
from collections.abc import Iterable
from dataclasses import dataclass, field

from vigil_history.series import Sample, Schema

STATS = 4
MIN, MAX, SUM, LAST = range(STATS)


@dataclass
class Record:
    key: str
    id: str
    count: int = 0
    rate_count: int = 0
    stats: list[int] = field(default_factory=list)
    """`STATS` integers per series: min, max, sum, last."""

    def value(self, series: int, stat: int) -> int:
        return self.stats[series * STATS + stat]

    def counted(self, schema: Schema, series: int) -> int:
        return self.rate_count if schema.series[series].counter else self.count


def _new(schema: Schema, key: str, id_: str) -> Record:
    return Record(key, id_, stats=[0] * (STATS * len(schema.series)))


def _add(stats: list[int], base: int, value: int, first: bool) -> None:
    if first:
        stats[base : base + STATS] = [value, value, value, value]
        return
    if value < stats[base]:
        stats[base] = value
    if value > stats[base + 1]:
        stats[base + 1] = value
    stats[base + 2] += value
    stats[base + 3] = value


def rate(schema: Schema, series: int, before: Sample, now: Sample) -> int | None:
    """The counter's rate per second between two samples (at the series' scale); None
    across a restart of the counter's container (another id) or without elapsed time."""
    if before.id != now.id or now.time <= before.time:
        return None
    old, new = before.values[series], now.values[series]
    delta = new - old if new >= old else new  # went down: counted again from zero
    return round(delta * schema.series[series].scale / (now.time - before.time))


def roll_up(schema: Schema, samples: Iterable[Sample], start: float, end: float) -> list[Record]:
    """The records of window `[start, end)` from `samples` in time order; samples before
    `start` only give the counters their first interval."""
    windows = roll_up_steps(schema, samples, start, end, end - start, origin=start)
    return windows.get(start, [])


def roll_up_steps(
    schema: Schema,
    samples: Iterable[Sample],
    start: float,
    end: float,
    step: float,
    *,
    origin: float = 0.0,
) -> dict[float, list[Record]]:
    """The records of the samples in `[start, end)`, in windows of `step` aligned on
    `origin` (a window may begin before `start`), by window start; `samples` in time order."""
    windows: dict[float, dict[str, Record]] = {}
    previous: dict[str, Sample] = {}
    counters = [i for i, series in enumerate(schema.series) if series.counter]
    gauges = [i for i, series in enumerate(schema.series) if not series.counter]
    for sample in samples:
        if sample.time >= end:
            break
        before = previous.get(sample.key)
        previous[sample.key] = sample
        if sample.time < start:
            continue
        window = origin + (sample.time - origin) // step * step
        records = windows.get(window)
        if records is None:
            records = windows[window] = {}
        record = records.get(sample.key)
        if record is None:
            record = records[sample.key] = _new(schema, sample.key, sample.id)
        record.id = sample.id
        for i in gauges:
            _add(record.stats, i * STATS, sample.values[i], record.count == 0)
        record.count += 1
        if before is None or not counters:
            continue
        rates = [rate(schema, i, before, sample) for i in counters]
        if rates[0] is None:
            continue
        for i, value in zip(counters, rates, strict=True):
            assert value is not None
            _add(record.stats, i * STATS, value, record.rate_count == 0)
        record.rate_count += 1
    return {
        window: sorted(records.values(), key=lambda record: record.key)
        for window, records in windows.items()
    }


def combine(schema: Schema, records: Iterable[Record]) -> list[Record]:
    """Records of consecutive windows (in time order) as one record per key."""
    combined: dict[str, Record] = {}
    n = len(schema.series)
    for record in records:
        into = combined.get(record.key)
        if into is None:
            into = combined[record.key] = _new(schema, record.key, record.id)
        into.id = record.id
        for i in range(n):
            counter = schema.series[i].counter
            has = record.rate_count if counter else record.count
            if not has:
                continue
            first = not (into.rate_count if counter else into.count)
            base = i * STATS
            low, high, total, last = record.stats[base : base + STATS]
            if first:
                into.stats[base : base + STATS] = [low, high, total, last]
            else:
                into.stats[base] = min(into.stats[base], low)
                into.stats[base + 1] = max(into.stats[base + 1], high)
                into.stats[base + 2] += total
                into.stats[base + 3] = last
        into.count += record.count
        into.rate_count += record.rate_count
    return sorted(combined.values(), key=lambda record: record.key)


class Columns:
    """Frames of one point summed up column by column (every container of a host over a
    week: a thousand frames of a hundred entries): while the frames list the same keys,
    each column merges in one pass of builtins (`map(min, ...)`), not entry by entry."""

    def __init__(
        self, schema: Schema, keys: tuple[str, ...], ids: list[str], columns: list[tuple[int, ...]]
    ) -> None:
        self._schema = schema
        self.keys = keys
        self._ids = ids
        self._columns = [list(column) for column in columns]

    def add(self, ids: list[str], columns: list[tuple[int, ...]]) -> None:
        """The next frame (later in time) with the same keys."""
        mine = self._columns
        for i, series in enumerate(self._schema.series):
            has = 1 if series.counter else 0
            base = 2 + i * STATS
            old, new = mine[has], columns[has]
            if min(new) > 0 and min(old) > 0:
                mine[base + MIN] = list(map(min, mine[base + MIN], columns[base + MIN]))
                mine[base + MAX] = list(map(max, mine[base + MAX], columns[base + MAX]))
                mine[base + SUM] = list(map(operator.add, mine[base + SUM], columns[base + SUM]))
                mine[base + LAST] = list(columns[base + LAST])
                continue
            for j in range(len(self.keys)):  # an entry without a value on one side
                if not new[j]:
                    continue
                if not old[j]:
                    for stat in range(STATS):
                        mine[base + stat][j] = columns[base + stat][j]
                    continue
                mine[base + MIN][j] = min(mine[base + MIN][j], columns[base + MIN][j])
                mine[base + MAX][j] = max(mine[base + MAX][j], columns[base + MAX][j])
                mine[base + SUM][j] += columns[base + SUM][j]
                mine[base + LAST][j] = columns[base + LAST][j]
        mine[0] = list(map(operator.add, mine[0], columns[0]))
        mine[1] = list(map(operator.add, mine[1], columns[1]))
        self._ids = ids

    def records(self) -> list[Record]:
        columns = self._columns
        return [
            Record(key, self._ids[j], columns[0][j], columns[1][j], [c[j] for c in columns[2:]])
            for j, key in enumerate(self.keys)
        ]
