"""Searching the kept logs: one page of lines of some sources that match a pattern.

The logs are batches in JetStream, read in two parts, each to its end before the next:
`LOGS_KEPT` (the retained containers' lines, by name, and the retained pods', by
workload, every generation, as long as the operator keeps them) and then `LOGS` (one
message per batch of a followed container's, pod's, journal selection's or log file's
lines, in the order its collector read them: the last hour). A line of a retained
container or pod is in both; it is read from `LOGS_KEPT` only (its `LOGS` batches say
`kept`), so no hit comes twice. A cursor names its part
(`k` before a `LOGS_KEPT` position). In each part a page reads the sources' subjects
(one consumer filtered on all of them) from where the last page stopped: forward for
oldest first, in chunks of sequences going back for newest first. Patterns run on RE2
(linear time, bounded memory), and a page stops at `limit` hits or at the bound of
lines and time one page may take, whichever comes first, with a cursor just past the
last line it read — so a hostile or broad search costs each ask a bounded share of a
replica, never more.

A line is published after its time, by as much as its collector lags (a follower that
resumes after a break sends the lines it missed): so no message before `since` (less
`_SKEW`, for clocks that differ) holds a line of the range, but any message after
`until` may. A range starts at its `since` by stream time and is read to the end;
each line is kept or not by its own time.

Two selections of one journal (`unit=a` and `priority<=warning`) that both took an entry
publish it twice: the collector marks the later copies `duplicate`, which are skipped,
and a page reports an entry once by its host and journal cursor (for the copies a
collector could not mark: after its restart, or of an entry long forgotten). A journal
source with a selection of its own (`unit=docker.service`) takes only the entries it
selects, from whichever followed selection kept them.
"""

import contextlib
import functools
import json
import time
from collections.abc import AsyncGenerator, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import nats.errors
import re2
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy

from vigil import patterns
from vigil.bus import Bus
from vigil.ctl import Refused
from vigil.journal import JournalSelection
from vigil.log_levels import LEVELS, at_least
from vigil.messages import (
    ErrorCode,
    LinesAround,
    LogAround,
    LogHit,
    LogHits,
    LogSourceRef,
    SearchLogs,
)
from vigil.streams import StreamSpec
from vigil.subjects import ANY, Subjects
from vigil_history.errors import BadQuery

_SKEW = timedelta(minutes=5)  # how late a line may be published after its time
_CHUNK = 2048  # sequences read per step back (newest first)
_FETCH_TIMEOUT_S = 5.0
_MAX_MEM_BYTES = 8 << 20  # RE2's memory per pattern
_KEPT = "k"  # the cursor's mark of a position in LOGS_KEPT
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Batch = dict[str, Any]  # a LogBatch, PodLogBatch, JournalBatch or FileBatch as JSON, read as is


@dataclass(frozen=True)
class SearchBounds:
    max_lines: int  # lines one page may read
    max_s: float  # and seconds it may take


@dataclass(frozen=True)
class _Position:
    """A line: its part (`_KEPT` or ""), the message's stream sequence, its index in
    the batch."""

    part: str
    seq: int
    index: int

    def __str__(self) -> str:
        return f"{self.part}{self.seq}:{self.index}"

    @staticmethod
    def parse(cursor: str) -> "_Position":
        part = _KEPT if cursor.startswith(_KEPT) else ""
        seq, _, index = cursor.removeprefix(part).partition(":")
        return _Position(part, int(seq), int(index))


@dataclass(frozen=True)
class _Part:
    """A stream searched: its subjects for the sources, and its messages as batches
    (None: not read here)."""

    mark: str
    stream: str
    subjects: Callable[[list[LogSourceRef]], list[str]]
    batch: Callable[[list[LogSourceRef], bytes], Batch | None]


class Matcher:
    """A search's pattern, on one line or on a batch's lines at once: one RE2 call tells
    that a batch holds no hit (most hold none), where the pattern means the same on
    lines joined by newlines in multi-line mode — unless it names the text's own ends
    (`\\A`, `\\z`) or turns that mode off."""

    def __init__(self, request: SearchLogs) -> None:
        options = re2.Options()
        options.max_mem = _MAX_MEM_BYTES
        options.case_sensitive = not request.ignore_case
        pattern = re2.escape(request.pattern) if request.literal else request.pattern
        try:
            self._line = re2.compile(pattern, options)
        except re2.error as exc:
            raise BadQuery(f"pattern: {patterns.problem(exc, _MAX_MEM_BYTES)}") from None
        self._lines: re2._Regexp[str] | None = None
        if not any(sign in pattern for sign in ("\\A", "\\z", "-m")):
            with contextlib.suppress(re2.error):  # then line by line
                self._lines = re2.compile(f"(?m:{pattern})", options)

    def line(self, text: str) -> bool:
        return self._line.search(text) is not None

    def any_line(self, texts: Iterable[str]) -> bool:
        """False only when no line of `texts` matches."""
        return self._lines is None or self._lines.search("\n".join(texts)) is not None


def filter_subjects(subjects: Subjects, sources: list[LogSourceRef]) -> list[str]:
    """The sources' subjects in LOGS (a source named only by `name` has none there)."""
    found: dict[str, None] = {}
    for source in sources:
        if source.kind == "docker":
            if source.name is not None and source.container is None:
                continue
            subject = subjects.docker_logs(source.host or ANY, source.container or ANY)
        elif source.kind == "journal":  # every selection of it
            subject = subjects.journal_logs(source.host or ANY, ANY)
        elif source.kind == "file":  # every file of it, or the one named
            subject = subjects.file_logs(source.host or ANY, source.file or ANY)
        else:
            assert source.cluster is not None  # a k8s source names it
            subject = subjects.k8s_logs(source.cluster, source.namespace or ANY, source.pod or ANY)
        found[subject] = None
    return _disjoint(list(found))


def kept_subjects(subjects: Subjects, sources: list[LogSourceRef]) -> list[str]:
    """The sources' subjects in LOGS_KEPT: containers by name, pods by namespace (a pod
    is kept under its workload, which the source does not name: `_asks_for` picks it)."""
    found: dict[str, None] = {}
    for source in sources:
        if source.kind == "docker":
            found[subjects.kept_docker_logs(source.host or ANY, source.name or ANY)] = None
        elif source.kind == "k8s":
            assert source.cluster is not None  # a k8s source names it
            found[subjects.kept_k8s_logs(source.cluster, source.namespace or ANY, ANY)] = None
    return _disjoint(list(found))


def _disjoint(subjects: list[str]) -> list[str]:
    """Without those another one covers (a consumer's filters may not overlap)."""
    return [
        subject
        for subject in subjects
        if not any(other != subject and _covers(other, subject) for other in subjects)
    ]


def _covers(wide: str, narrow: str) -> bool:
    """Whether every subject `narrow` matches, `wide` matches too (`*`, `>` tokens)."""
    wides, narrows = wide.split("."), narrow.split(".")
    for index, token in enumerate(wides):
        if token == ">":
            return len(narrows) > index
        if index >= len(narrows) or narrows[index] == ">":
            return False
        if token != "*" and token != narrows[index]:
            return False
    return len(wides) == len(narrows)


def _live_batch(sources: list[LogSourceRef], data: bytes) -> Batch | None:
    batch: Batch = json.loads(data)
    if batch.get("kept"):
        return None  # its lines are read in LOGS_KEPT
    if "selection" in batch:  # a journal's: only the entries a source selects
        selections = _selections(sources, batch["host"])
        if selections is not None:
            batch["lines"] = [
                line
                for line in batch["lines"]
                if any(s.admits(line.get("unit"), line.get("priority")) for s in selections)
            ]
    return batch


@functools.lru_cache(maxsize=256)
def _selection(text: str) -> JournalSelection:
    return JournalSelection.parse(text)


def _selections(sources: list[LogSourceRef], host: str) -> list[JournalSelection] | None:
    """What the journal sources of `host` select of it (None: every entry)."""
    chosen = []
    for source in sources:
        if source.kind == "journal" and source.host in (None, host):
            if source.journal is None:
                return None
            chosen.append(_selection(source.journal))
    return chosen


def _kept_batch(sources: list[LogSourceRef], data: bytes) -> Batch | None:
    """A KeptLogBatch as a LogBatch is read (`container` its id, `name` its name), or a
    KeptPodLogBatch as a PodLogBatch (`name` its workload), with its `generation` marker
    if it has one, if one of `sources` asks for it: a container by name (every
    generation) or by id without one; a pod by its name or its workload's."""
    kept: Batch = json.loads(data)
    if not any(_asks_for(source, kept) for source in sources):
        return None
    start = kept["start"]
    lines = [
        {"time": _iso(start + micros), "stream": "stdout", "text": text}
        for micros, text in kept["lines"]
    ]
    # The first line of a generation carries its marker (`_hit`).
    marker = {"generation": kept["generation"]} if kept.get("generation") else {}
    if "cluster" in kept:  # a pod's
        where = ("cluster", "namespace", "pod", "container")
        pod = {key: kept[key] for key in where}
        return {**pod, "name": kept["workload"], **marker, "lines": lines}
    container = {"host": kept["host"], "container": kept["id"], "name": kept["container"]}
    batch: Batch = {**container, **marker, "lines": lines}
    for index in kept.get("stderr") or ():
        lines[index]["stream"] = "stderr"
    return batch


def _asks_for(source: LogSourceRef, kept: Batch) -> bool:
    if "cluster" in kept:
        return (
            source.kind == "k8s"
            and source.cluster == kept["cluster"]
            and source.namespace in (None, kept["namespace"])
            and source.pod in (None, kept["pod"], kept["workload"])
        )
    if source.kind != "docker" or source.host not in (None, kept["host"]):
        return False
    if source.name is not None:
        return bool(source.name == kept["container"])
    return source.container in (None, kept["id"])


def _iso(micros: int) -> str:
    return (_EPOCH + timedelta(microseconds=micros)).isoformat()


class LogSearch:
    """Pages of a search over the batches of `kept` (KeptLogBatch), then of `logs` (of
    containers, pods, journals, files)."""

    def __init__(self, bus: Bus, kept: StreamSpec, logs: StreamSpec, bounds: SearchBounds) -> None:
        self._bus = bus
        subjects = bus.subjects
        self._parts = (
            _Part(
                _KEPT,
                kept.stream(subjects),
                lambda sources: kept_subjects(subjects, sources),
                _kept_batch,
            ),
            _Part(
                "",
                logs.stream(subjects),
                lambda sources: filter_subjects(subjects, sources),
                _live_batch,
            ),
        )
        self._bounds = bounds

    async def page(self, request: SearchLogs) -> LogHits:
        page = _Page(request, Matcher(request), self._bounds)
        after = _Position.parse(request.cursor) if request.cursor is not None else None
        # A cursor in LOGS_KEPT: the rest of it, then LOGS; a cursor in LOGS: the rest of LOGS.
        parts = self._parts if after is None or after.part == _KEPT else self._parts[1:]
        for part in parts:
            if after is not None and after.part != part.mark:
                after = None  # this part from its start
            if await self._scan(part, request, after, page):
                break
        return LogHits(
            hits=page.hits,
            cursor=str(page.stopped_at) if page.stopped_at is not None else None,
            scanned_lines=page.lines,
        )

    async def around(self, request: LinesAround) -> LogAround:
        """The lines of a hit's source around it: the rest of its batch, then earlier
        and later batches of the same subject (a retained container's: every generation
        of its name), as many as asked."""
        at = _Position.parse(request.at)
        part = next(part for part in self._parts if part.mark == at.part)
        subjects = part.subjects(request.sources)
        state = (await self._bus.js.stream_info(part.stream)).state
        found: list[Msg] = []
        if subjects and state.messages > 0 and state.first_seq <= at.seq <= state.last_seq:
            config = _from_sequence(subjects, at.seq)
            found = [m async for m in self._read(part, subjects[0], config, at.seq)]
        batch = None
        if found and found[0].metadata.sequence.stream == at.seq:
            batch = part.batch(request.sources, found[0].data)
        if batch is None or at.index >= len(batch["lines"]):
            raise Refused(ErrorCode.NOT_FOUND, f"no kept line at {request.at} of the sources asked")
        around = _hits(batch, at.part, at.seq)
        before = around[max(0, at.index - request.before) : at.index]
        after = around[at.index + 1 : at.index + 1 + request.after]
        reach = _Reach(part, found[0].subject, request.sources, at.seq)
        if len(before) < request.before:
            wanted = request.before - len(before)
            before = await self._earlier(reach, state.first_seq, wanted) + before
        if len(after) < request.after:
            after += await self._later(reach, state.last_seq, request.after - len(after))
        return LogAround(lines=[*before, around[at.index], *after], hit=len(before))

    async def _earlier(self, reach: "_Reach", first: int, wanted: int) -> list[LogHit]:
        """The last `wanted` lines of the subject kept before the hit's message, oldest
        first (chunks of sequences going back, as a newest-first search reads)."""
        earlier: list[LogHit] = []
        high, chunk = reach.seq - 1, _CHUNK
        while len(earlier) < wanted and high >= first:
            low = max(first, high - chunk + 1)
            config = _from_sequence([reach.subject], low)
            messages = [m async for m in self._read(reach.part, reach.subject, config, high)]
            for message in reversed(messages):
                kept = reach.hits(message)
                earlier = kept[max(0, len(kept) - (wanted - len(earlier))) :] + earlier
                if len(earlier) >= wanted:
                    break
            high, chunk = low - 1, min(chunk * 4, 1 << 20)
        return earlier

    async def _later(self, reach: "_Reach", last: int, wanted: int) -> list[LogHit]:
        """The first `wanted` lines of the subject kept after the hit's message."""
        later: list[LogHit] = []
        config = _from_sequence([reach.subject], reach.seq + 1)
        async with contextlib.aclosing(
            self._read(reach.part, reach.subject, config, last)
        ) as messages:
            async for message in messages:
                later += reach.hits(message)[: wanted - len(later)]
                if len(later) >= wanted:
                    break
        return later

    async def _scan(
        self, part: _Part, request: SearchLogs, after: _Position | None, page: "_Page"
    ) -> bool:
        """Read `part` into `page` from `after`; True when the page stopped in it."""
        subjects = part.subjects(request.sources)
        if not subjects:
            return False
        state = (await self._bus.js.stream_info(part.stream)).state
        if state.messages == 0:
            return False
        page.enter(part.mark, after)
        scan = self._forward if request.order == "oldest" else self._backward
        window = _Window(part, subjects, request, after, state.first_seq, state.last_seq)
        async with contextlib.aclosing(scan(window)) as batches:
            async for seq, data in batches:
                batch = part.batch(request.sources, data)
                if batch is not None and page.take(seq, batch):
                    return True
        return False

    async def _forward(self, window: "_Window") -> AsyncGenerator[tuple[int, bytes]]:
        part, subjects, request, after, first, last = window
        if after is not None:
            config = _from_sequence(subjects, max(after.seq, first))
        elif request.since is not None:
            config = ConsumerConfig(
                filter_subjects=subjects,
                deliver_policy=DeliverPolicy.BY_START_TIME,
                opt_start_time=request.since - _SKEW,
            )
        else:
            config = _from_sequence(subjects, first)
        async for message in self._read(part, subjects[0], config, last):
            yield message.metadata.sequence.stream, message.data

    async def _backward(self, window: "_Window") -> AsyncGenerator[tuple[int, bytes]]:
        part, subjects, request, after, first, last = window
        high = last
        if after is not None:
            high = min(high, after.seq)
        since = request.since - _SKEW if request.since is not None else None
        chunk = _CHUNK
        while high >= first:
            low = max(first, high - chunk + 1)
            config = _from_sequence(subjects, low)
            messages = [m async for m in self._read(part, subjects[0], config, high)]
            for message in reversed(messages):
                if since is not None and message.metadata.timestamp < since:
                    return
                yield message.metadata.sequence.stream, message.data
            high = low - 1
            if len(messages) < chunk // 8:
                chunk = min(chunk * 4, 1 << 20)  # sparse: take bigger steps back

    async def _read(
        self, part: _Part, subject: str, config: ConsumerConfig, last: int
    ) -> AsyncGenerator[Msg]:
        """The messages the consumer `config` delivers, up to stream sequence `last`."""
        subscription = await self._bus.js.subscribe(
            subject, stream=part.stream, ordered_consumer=True, config=config
        )
        try:
            info = await subscription.consumer_info()
            if info.num_pending == 0 and not (info.delivered and info.delivered.consumer_seq):
                return  # nothing on these subjects from there: no wait for a message
            while True:
                try:
                    message = await subscription.next_msg(timeout=_FETCH_TIMEOUT_S)
                except nats.errors.TimeoutError:
                    return  # nothing (more) on these subjects
                if message.metadata.sequence.stream > last:
                    return
                yield message
                if message.metadata.num_pending == 0:
                    return
        finally:
            with contextlib.suppress(nats.errors.Error):
                await subscription.unsubscribe()


class _Reach(NamedTuple):
    """Where the lines around a hit are read: its part and subject, the sources asked,
    the hit's message's sequence."""

    part: _Part
    subject: str
    sources: list[LogSourceRef]
    seq: int

    def hits(self, message: Msg) -> list[LogHit]:
        batch = self.part.batch(self.sources, message.data)
        seq = message.metadata.sequence.stream
        return [] if batch is None else _hits(batch, self.part.mark, seq)


class _Window(NamedTuple):
    """What one part's scan reads: its subjects, from after `after` (else the start or
    the end, by the request's order), within the stream's sequences `first`..`last`."""

    part: _Part
    subjects: list[str]
    request: SearchLogs
    after: _Position | None
    first: int
    last: int


class _Page:
    """The hits of one page as its batches come in, and where it stopped."""

    def __init__(self, request: SearchLogs, matcher: Matcher, bounds: SearchBounds) -> None:
        self._request = request
        self._matcher = matcher
        self._bounds = bounds
        self._deadline = time.monotonic() + bounds.max_s
        self._part = ""
        self._after: _Position | None = None
        self._since = request.since
        self._until = request.until
        self._least = LEVELS[request.level] if request.level is not None else None
        self._newest_first = request.order == "newest"
        self.hits: list[LogHit] = []
        self._entries: set[tuple[str, str]] = set()  # journal entries hit: host, cursor
        self.lines = 0
        self.stopped_at: _Position | None = None

    def enter(self, part: str, after: _Position | None) -> None:
        """The next batches are of `part`, read from after `after`."""
        self._part = part
        self._after = after

    def take(self, seq: int, batch: Batch) -> bool:
        """Read the lines of one batch; True when the page is full or out of bounds."""
        lines = batch.get("lines", [])
        indexes = self._order(seq, len(lines))
        if not indexes:
            return False
        if not self._matcher.any_line(lines[index]["text"] for index in indexes):
            self.lines += len(indexes)
            return self._bounded(_Position(self._part, seq, indexes[-1]))
        for index in indexes:
            line = lines[index]
            self.lines += 1
            here = _Position(self._part, seq, index)
            if self._wanted(line) and self._first_copy(batch, line):
                self.hits.append(_hit(batch, line, here))
                if len(self.hits) >= self._request.limit:
                    self.stopped_at = here
                    return True
            if self._bounded(here):
                return True
        return False

    def _first_copy(self, batch: Batch, line: dict[str, Any]) -> bool:
        """False for a journal entry's copy: marked so, or hit before on this page."""
        if "selection" not in batch:
            return True  # a container's, a pod's or a file's line: published once
        if line.get("duplicate"):
            return False
        entry = (batch["host"], line["cursor"])
        if entry in self._entries:
            return False
        self._entries.add(entry)
        return True

    def _bounded(self, here: _Position) -> bool:
        """Past the lines or the time one page may take: it stops `here`."""
        if self.lines >= self._bounds.max_lines or time.monotonic() > self._deadline:
            self.stopped_at = here
            return True
        return False

    def _order(self, seq: int, count: int) -> range:
        """The indexes of a batch's lines in the page's order, after its cursor."""
        after = self._after
        if self._newest_first:
            below = after.index if after is not None and after.seq == seq else count
            return range(min(below, count) - 1, -1, -1)
        above = after.index if after is not None and after.seq == seq else -1
        return range(above + 1, count)

    def _wanted(self, line: dict[str, Any]) -> bool:
        """A hit: the line matches, is of the level asked or worse, and in the range."""
        text = line["text"]
        if not self._matcher.line(text):
            return False
        if self._least is not None and not at_least(text, self._least, line.get("priority")):
            return False
        return self._in_range(line["time"])

    def _in_range(self, stamp: str) -> bool:
        if self._since is None and self._until is None:
            return True
        at = datetime.fromisoformat(stamp)
        if self._since is not None and at < self._since:
            return False
        return self._until is None or at < self._until


def _hit(batch: Batch, line: dict[str, Any], here: _Position) -> LogHit:
    source = {
        key: batch[key]
        for key in ("host", "cluster", "namespace", "pod", "container", "name", "file")
        if key in batch
    }
    # A journal entry's unit and priority.
    entry: dict[str, Any] = {key: line[key] for key in ("unit", "priority") if key in line}
    if here.index == 0 and "generation" in batch:  # a kept batch's marker, on its first line
        entry["generation"] = batch["generation"]
    return LogHit(
        time=line["time"], stream=line["stream"], text=line["text"], at=str(here), **source, **entry
    )


def _hits(batch: Batch, part: str, seq: int) -> list[LogHit]:
    """Every line of a batch as a hit (the lines around one)."""
    return [_hit(batch, line, _Position(part, seq, i)) for i, line in enumerate(batch["lines"])]


def _from_sequence(subjects: list[str], seq: int) -> ConsumerConfig:
    return ConsumerConfig(
        filter_subjects=subjects,
        deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
        opt_start_seq=seq,
    )
