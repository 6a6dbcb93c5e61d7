"""The roll-up loop: every replica runs it; each window is rolled up exactly once.

For each source (a host's or a cluster's raw metrics subject) and each tier, a
watermark in `HISTORY_MARKS` says where the next window starts. A window is ready once
it is closed: the raw tier's `grace_s` after its end, a coarser tier's once the finer
tier's watermark passed its end. Then, whichever replica gets there:

1. claims it: a KV create of `{tier}.{kind}.{source}.{window}` with a TTL (`claim_ttl_s`);
   the create fails if another replica holds it, and the claim of a replica that died
   lapses, so another one takes the window over;
2. computes it, a pure function of the tier below over the window (the same bytes
   whoever computes it);
3. publishes it unless the subject's last frame is already this window (a replica that
   died after publishing), and only onto the last message it read (JetStream refuses
   the publish otherwise), so of a replica that stalled past its claim and the one that
   took the window over, one publishes (and `Nats-Msg-Id` = the window, as well);
4. moves the watermark on, revision-checked: a stale replica cannot move it back.

A crash at any step leaves the watermark where it was: the window is done again, and
step 3's checks keep it to one message. Windows are done in order, so a tier's frames
are in time order on their subject (what `store.seek` relies on).
"""

import asyncio
import contextlib
import logging
import random
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import nats.errors
import nats.js.errors
from nats.js.kv import KeyValue

from vigil.bus import Bus
from vigil.errors import BusUnavailable
from vigil.streams import HISTORY, HISTORY_CLAIMS, HISTORY_MARKS, HISTORY_RAW
from vigil_history import store
from vigil_history.frame import Frame, encode, window_of
from vigil_history.recent import RecentSamples
from vigil_history.rollup import Record, combine, roll_up
from vigil_history.series import RAW_KINDS, SCHEMAS, Sample
from vigil_history.settings import HistorySettings, Tier

log = logging.getLogger(__name__)

_WRONG_LAST_SEQUENCE = 10071  # JSStreamWrongLastSequenceErr

LOOKBACK_S = 60.0
"""Raw samples read before a window: a counter's first interval needs the one before."""


@dataclass(frozen=True)
class Source:
    kind: str
    """The raw kind: host, docker, k8s."""
    name: str
    """The host, or the cluster."""


def raw_subject(bus: Bus, source: Source) -> str:
    """Where the raw tier keeps `source`'s samples (LATEST's copies)."""
    subjects = bus.subjects
    builders = {
        "host": subjects.host_metrics,
        "docker": subjects.docker_metrics,
        "k8s": subjects.k8s_metrics,
    }
    return subjects.raw_metrics_copy(builders[source.kind](source.name))


def floor(at: float, step: int) -> int:
    return int(at // step) * step


class Roller:
    """One replica's roll-ups (`run` until stopped; `roll` is one pass)."""

    def __init__(self, bus: Bus, settings: HistorySettings) -> None:
        self._bus = bus
        self._settings = settings
        self.tiers: Sequence[Tier] = settings.tiers
        self._raw = HISTORY_RAW.stream(bus.subjects)
        self._history = HISTORY.stream(bus.subjects)
        self._marks: KeyValue | None = None
        self._claims: KeyValue | None = None
        self.recent = RecentSamples(bus, self._raw, settings.recent_s, settings.recent_entries)
        """The last minutes of raw samples, parsed: each window's and each query's newest."""
        self.windows_done = 0
        self.on_published: Callable[[str, bytes], None] | None = None
        """Told each frame this replica published (its queries keep it, `FrameCache.add`)."""

    async def open(self) -> None:
        self._marks = await self._bus.kv(HISTORY_MARKS)
        self._claims = await self._bus.kv(HISTORY_CLAIMS)

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                await self.roll()
            except (BusUnavailable, nats.errors.Error, TimeoutError) as exc:
                log.warning("roll-ups paused (next pass): %s", exc or type(exc).__name__)
            except Exception:  # a bug: logged, and the next pass tries again
                log.exception(
                    "a roll-up pass failed (next pass in %g s)", self._settings.interval_s
                )
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._settings.interval_s):
                    await stopping.wait()

    async def roll(self, now: float | None = None) -> int:
        """One pass over every source and tier; the number of windows this replica did."""
        done = 0
        sources = await self.sources()
        random.shuffle(sources)  # replicas meet on different sources, not all on the first
        for source in sources:
            for level in range(len(self.tiers)):
                while done < self._settings.max_windows_per_pass:
                    moved = await self.window(source, level, time.time() if now is None else now)
                    if not moved:
                        break
                    done += 1
        self.windows_done += done
        return done

    async def sources(self) -> list[Source]:
        """Every host and cluster with raw samples kept."""
        info = await self._bus.js.stream_info(self._raw, subjects_filter=">")
        found = []
        for subject in info.state.subjects or {}:
            kind, name = subject.split(".")[-2:]
            if kind in RAW_KINDS:
                found.append(Source(kind, name))
        return found

    # -- one window ---------------------------------------------------------------

    def _mark_key(self, tier: Tier, source: Source) -> str:
        return f"{tier.name}.{source.kind}.{source.name}"

    async def mark(self, tier: Tier, source: Source) -> tuple[int | None, int]:
        """Where the tier's next window starts (None: not started), and the revision."""
        assert self._marks is not None
        try:
            entry = await self._marks.get(self._mark_key(tier, source))
        except nats.js.errors.KeyNotFoundError:
            return None, 0
        if entry.value is None:
            return None, 0
        return int(entry.value), entry.revision or 0

    async def window(self, source: Source, level: int, now: float) -> bool:
        """Roll up the next window of `source` at tier `level` if it is ready and no
        other replica holds it; whether the watermark moved."""
        tier = self.tiers[level]
        start, revision = await self.mark(tier, source)
        if start is None:
            start = await self._first_window(source, level)
            if start is None:
                return False
        end = start + tier.step_s
        if level == 0:
            closed_until = now - self._settings.grace_s
        else:
            lower, _ = await self.mark(self.tiers[level - 1], source)
            closed_until = float(lower) if lower is not None else float("-inf")
        if end > closed_until:
            return False
        if not await self._claim(tier, source, start):
            return False
        frames = await self.frames(source, level, start, end)
        if frames:
            for subject, frame in frames:
                await self.publish(subject, frame, tier, start)
            moved_to = end
        else:  # nothing in it: on to the next window that has something, if closed
            moved_to = max(end, await self._next_start(source, level, end, closed_until))
        await self._move_mark(tier, source, moved_to, revision)
        return True

    async def _claim(self, tier: Tier, source: Source, start: int) -> bool:
        """Step 1: this replica's for `claim_ttl_s`, unless another holds it."""
        assert self._claims is not None
        key = f"{self._mark_key(tier, source)}.{start}"
        try:
            await self._claims.create(
                key, self._settings.replica.encode(), msg_ttl=self._settings.claim_ttl_s
            )
        except nats.js.errors.KeyWrongLastSequenceError:
            return False
        return True

    async def _move_mark(self, tier: Tier, source: Source, to: int, revision: int) -> None:
        assert self._marks is not None
        key = self._mark_key(tier, source)
        with contextlib.suppress(nats.js.errors.KeyWrongLastSequenceError):
            if revision:
                await self._marks.update(key, str(to).encode(), last=revision)
            else:
                await self._marks.create(key, str(to).encode())

    # -- inputs -------------------------------------------------------------------

    def frame_subjects(self, source: Source, tier: Tier) -> list[tuple[str, str]]:
        """The schema kind and subject of each frame a window of `source` may have."""
        return [
            (schema.kind, self._bus.subjects.history(tier.name, schema.kind, source.name))
            for schema in RAW_KINDS[source.kind]
        ]

    async def _first_window(self, source: Source, level: int) -> int | None:
        """Where a tier starts: at its input's first sample (or frame)."""
        step = self.tiers[level].step_s
        js = self._bus.js
        if level == 0:
            subject = raw_subject(self._bus, source)
            seq = await store.seek(js, self._raw, subject, 0.0, store.sample_time)
            if seq is None:
                return None
            first = await js.get_msg(self._raw, seq=seq)
            return floor(store.sample_time(first.data or b""), step)
        lower = self.tiers[level - 1]
        starts = []
        for _, subject in self.frame_subjects(source, lower):
            seq = await store.seek(js, self._history, subject, 0.0, store.frame_time)
            if seq is not None:
                first = await js.get_msg(self._history, seq=seq)
                starts.append(window_of(first.data or b"")[0])
        if starts:
            return floor(min(starts), step)
        lower_mark, _ = await self.mark(lower, source)
        return None if lower_mark is None else floor(lower_mark, step)

    async def _next_start(self, source: Source, level: int, after: int, closed: float) -> int:
        """The window holding the input's next sample (or frame) after `after`, as far
        as windows are closed; `after` if there is none."""
        step = self.tiers[level].step_s
        js = self._bus.js
        if level == 0:
            inputs = [(self._raw, raw_subject(self._bus, source), store.sample_time)]
        else:
            lower = self.tiers[level - 1]
            inputs = [
                (self._history, subject, store.frame_time)
                for _, subject in self.frame_subjects(source, lower)
            ]
        nexts = []
        for stream, subject, time_of in inputs:
            seq = await store.seek(js, stream, subject, float(after), time_of)
            if seq is not None:
                found = await js.get_msg(stream, seq=seq)
                nexts.append(floor(time_of(found.data or b""), step))
        target = min(nexts) if nexts else floor(closed, step)
        return min(target, floor(closed, step))

    async def frames(
        self, source: Source, level: int, start: int, end: int
    ) -> list[tuple[str, bytes]]:
        """The frames of a window of tier `level` (one per schema with entries), with
        their subjects: step 2, a pure function of the tier below."""
        tier = self.tiers[level]
        records = await self._compute(source, level, start, end)
        frames = []
        for kind, subject in self.frame_subjects(source, tier):
            if records.get(kind):
                schema_series = len(SCHEMAS[kind].series)
                frames.append((subject, encode(start, tier.step_s, schema_series, records[kind])))
        return frames

    async def publish(self, subject: str, frame: bytes, tier: Tier, start: int) -> None:
        """Step 3: publish a window's frame unless it is already there: only onto the
        subject's last message as read (`Nats-Expected-Last-Subject-Sequence`), so of two
        replicas that both found it missing, one publishes; the other is refused, and
        whatever it raced was this window (each window after the one before)."""
        js = self._bus.js
        expected = 0
        with contextlib.suppress(nats.js.errors.NotFoundError):
            last = await js.get_last_msg(self._history, subject)
            if window_of(last.data or b"")[0] >= start:
                return  # a replica that died after publishing it did it
            expected = last.seq or 0
        try:
            await js.publish(
                subject,
                frame,
                stream=self._history,
                headers={
                    "Nats-Msg-Id": f"{subject}@{start}",
                    "Nats-Expected-Last-Subject-Sequence": str(expected),
                },
                msg_ttl=float(tier.retention_s),
            )
        except nats.js.errors.BadRequestError as exc:
            if exc.err_code != _WRONG_LAST_SEQUENCE:
                raise
            log.info("%s at %d: another replica published it first", subject, start)
            return
        if self.on_published is not None:
            self.on_published(subject, frame)

    async def _compute(
        self, source: Source, level: int, start: int, end: int
    ) -> dict[str, list[Record]]:
        """The records of window `[start, end)` of tier `level`, by schema kind: from the
        raw samples (the first tier) or the finer tier's frames."""
        if level == 0:
            samples: dict[str, list[Sample]] = defaultdict(list)
            subject = raw_subject(self._bus, source)
            for _, entries in await self.recent.read(subject, source.kind, start - LOOKBACK_S, end):
                for kind, some in entries.items():
                    samples[kind] += some
            return {
                schema.kind: roll_up(schema, samples[schema.kind], start, end)
                for schema in RAW_KINDS[source.kind]
            }
        lower = self.tiers[level - 1]
        combined = {}
        for schema in RAW_KINDS[source.kind]:
            subject = self._bus.subjects.history(lower.name, schema.kind, source.name)
            records: list[Record] = []
            async for payload in store.read(
                self._bus.js, self._history, subject, start, end, store.frame_time
            ):
                records += Frame(payload).records()
            combined[schema.kind] = combine(schema, records)
        return combined
