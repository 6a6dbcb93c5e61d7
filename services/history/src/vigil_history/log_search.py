"""Searching the kept logs: one page of lines of some sources that match a pattern.

The logs are batches in JetStream (`LOGS`: one message per batch of a container's, a
pod's, a journal selection's or a log file's lines, in the order its collector read them). A page
reads the sources' subjects (one consumer filtered on all of them) from where the last
page stopped: forward for oldest first, in chunks of sequences going back for newest
first. Patterns run on RE2 (linear time, bounded memory), and a page stops at `limit`
hits or at the bound of lines and time one page may take, whichever comes first, with
a cursor just past the last line it read — so a hostile or broad search costs each ask
a bounded share of a replica, never more.

A line is published after its time, by as much as its collector lags (a follower that
resumes after a break sends the lines it missed): so no message before `since` (less
`_SKEW`, for clocks that differ) holds a line of the range, but any message after
`until` may. A range starts at its `since` by stream time and is read to the end;
each line is kept or not by its own time.

Two selections of one journal (`unit=a` and `priority<=warning`) that both took an entry
publish it twice: the collector marks the later copies `duplicate`, which are skipped,
and a page reports an entry once by its host and journal cursor (for the copies a
collector could not mark: after its restart, or of an entry long forgotten).
"""

import contextlib
import json
import time
from collections.abc import AsyncGenerator, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import nats.errors
import re2
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy

from vigil import patterns
from vigil.bus import Bus
from vigil.ctl import Refused
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

Batch = dict[str, Any]  # a LogBatch, PodLogBatch, JournalBatch or FileBatch as JSON, read as is


@dataclass(frozen=True)
class SearchBounds:
    max_lines: int  # lines one page may read
    max_s: float  # and seconds it may take


@dataclass(frozen=True)
class _Position:
    """A line: the message's stream sequence and its index in the batch."""

    seq: int
    index: int

    def __str__(self) -> str:
        return f"{self.seq}:{self.index}"

    @staticmethod
    def parse(cursor: str) -> "_Position":
        seq, _, index = cursor.partition(":")
        return _Position(int(seq), int(index))


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
    found: dict[str, None] = {}
    for source in sources:
        if source.kind == "docker":
            subject = subjects.docker_logs(source.host or ANY, source.container or ANY)
        elif source.kind == "journal":  # every selection of it
            subject = subjects.journal_logs(source.host or ANY, ANY)
        elif source.kind == "file":  # every file of it
            subject = subjects.file_logs(source.host or ANY, ANY)
        else:
            assert source.cluster is not None  # a k8s source names it
            subject = subjects.k8s_logs(source.cluster, source.namespace or ANY, source.pod or ANY)
        found[subject] = None
    return list(found)


class LogSearch:
    """Pages of a search over the batches of `logs` (of containers, pods, journals, files)."""

    def __init__(self, bus: Bus, logs: StreamSpec, bounds: SearchBounds) -> None:
        self._bus = bus
        self._stream = logs.stream(bus.subjects)
        self._subjects = bus.subjects
        self._bounds = bounds

    async def page(self, request: SearchLogs) -> LogHits:
        page = _Page(request, Matcher(request), self._bounds)
        state = (await self._bus.js.stream_info(self._stream)).state
        if state.messages == 0:
            return LogHits(hits=[], scanned_lines=0)
        scan = self._forward if request.order == "oldest" else self._backward
        async with contextlib.aclosing(scan(request, state.first_seq, state.last_seq)) as batches:
            async for seq, data in batches:
                if page.take(seq, data):
                    break
        return LogHits(
            hits=page.hits,
            cursor=str(page.stopped_at) if page.stopped_at is not None else None,
            scanned_lines=page.lines,
        )

    async def around(self, request: LinesAround) -> LogAround:
        """The lines of a hit's source around it: the rest of its batch, then earlier
        and later batches of the same subject, as many as asked."""
        at = _Position.parse(request.at)
        subjects = filter_subjects(self._subjects, request.sources)
        state = (await self._bus.js.stream_info(self._stream)).state
        kept = state.messages > 0 and state.first_seq <= at.seq <= state.last_seq
        config = _from_sequence(subjects, at.seq)
        found = [m async for m in self._read(subjects[0], config, at.seq)] if kept else []
        if not found or found[0].metadata.sequence.stream != at.seq:
            raise Refused(ErrorCode.NOT_FOUND, f"no kept line at {request.at} of the sources asked")
        subject, batch = found[0].subject, json.loads(found[0].data)
        if at.index >= len(lines := batch.get("lines", [])):
            raise Refused(ErrorCode.NOT_FOUND, f"no kept line at {request.at}")
        start = max(0, at.index - request.before)
        around = [_hit(batch, line, _Position(at.seq, i)) for i, line in enumerate(lines)]
        before = around[start : at.index]
        after = around[at.index + 1 : at.index + 1 + request.after]
        if len(before) < request.before:
            wanted = request.before - len(before)
            before = await self._earlier(subject, at.seq, state.first_seq, wanted) + before
        if len(after) < request.after:
            after += await self._later(subject, at.seq, state.last_seq, request.after - len(after))
        return LogAround(lines=[*before, around[at.index], *after], hit=len(before))

    async def _earlier(self, subject: str, seq: int, first: int, wanted: int) -> list[LogHit]:
        """The last `wanted` lines of `subject` kept before sequence `seq`, oldest first
        (chunks of sequences going back, as a newest-first search reads)."""
        earlier: list[LogHit] = []
        high, chunk = seq - 1, _CHUNK
        while len(earlier) < wanted and high >= first:
            low = max(first, high - chunk + 1)
            messages = [m async for m in self._read(subject, _from_sequence([subject], low), high)]
            for message in reversed(messages):
                batch, at = json.loads(message.data), message.metadata.sequence.stream
                lines = [
                    _hit(batch, line, _Position(at, i)) for i, line in enumerate(batch["lines"])
                ]
                earlier = lines[max(0, len(lines) - (wanted - len(earlier))) :] + earlier
                if len(earlier) >= wanted:
                    break
            high, chunk = low - 1, min(chunk * 4, 1 << 20)
        return earlier

    async def _later(self, subject: str, seq: int, last: int, wanted: int) -> list[LogHit]:
        """The first `wanted` lines of `subject` kept after sequence `seq`."""
        later: list[LogHit] = []
        config = _from_sequence([subject], seq + 1)
        async with contextlib.aclosing(self._read(subject, config, last)) as messages:
            async for message in messages:
                batch, at = json.loads(message.data), message.metadata.sequence.stream
                lines = batch["lines"][: wanted - len(later)]
                later += [_hit(batch, line, _Position(at, i)) for i, line in enumerate(lines)]
                if len(later) >= wanted:
                    break
        return later

    async def _forward(
        self, request: SearchLogs, first: int, last: int
    ) -> AsyncGenerator[tuple[int, Batch]]:
        subjects = filter_subjects(self._subjects, request.sources)
        if request.cursor is not None:
            start = _Position.parse(request.cursor)
            config = _from_sequence(subjects, max(start.seq, first))
        elif request.since is not None:
            config = ConsumerConfig(
                filter_subjects=subjects,
                deliver_policy=DeliverPolicy.BY_START_TIME,
                opt_start_time=request.since - _SKEW,
            )
        else:
            config = _from_sequence(subjects, first)
        async for message in self._read(subjects[0], config, last):
            yield message.metadata.sequence.stream, json.loads(message.data)

    async def _backward(
        self, request: SearchLogs, first: int, last: int
    ) -> AsyncGenerator[tuple[int, Batch]]:
        subjects = filter_subjects(self._subjects, request.sources)
        high = last
        if request.cursor is not None:
            high = min(high, _Position.parse(request.cursor).seq)
        since = request.since - _SKEW if request.since is not None else None
        chunk = _CHUNK
        while high >= first:
            low = max(first, high - chunk + 1)
            messages = [
                m async for m in self._read(subjects[0], _from_sequence(subjects, low), high)
            ]
            for message in reversed(messages):
                if since is not None and message.metadata.timestamp < since:
                    return
                yield message.metadata.sequence.stream, json.loads(message.data)
            high = low - 1
            if len(messages) < chunk // 8:
                chunk = min(chunk * 4, 1 << 20)  # sparse: take bigger steps back

    async def _read(self, subject: str, config: ConsumerConfig, last: int) -> AsyncGenerator[Msg]:
        """The messages the consumer `config` delivers, up to stream sequence `last`."""
        subscription = await self._bus.js.subscribe(
            subject, stream=self._stream, ordered_consumer=True, config=config
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


class _Page:
    """The hits of one page as its batches come in, and where it stopped."""

    def __init__(self, request: SearchLogs, matcher: Matcher, bounds: SearchBounds) -> None:
        self._request = request
        self._matcher = matcher
        self._bounds = bounds
        self._deadline = time.monotonic() + bounds.max_s
        self._after = _Position.parse(request.cursor) if request.cursor is not None else None
        self._since = request.since
        self._until = request.until
        self._least = LEVELS[request.level] if request.level is not None else None
        self._newest_first = request.order == "newest"
        self.hits: list[LogHit] = []
        self._entries: set[tuple[str, str]] = set()  # journal entries hit: host, cursor
        self.lines = 0
        self.stopped_at: _Position | None = None

    def take(self, seq: int, batch: Batch) -> bool:
        """Read the lines of one batch; True when the page is full or out of bounds."""
        lines = batch.get("lines", [])
        indexes = self._order(seq, len(lines))
        if not indexes:
            return False
        if not self._matcher.any_line(lines[index]["text"] for index in indexes):
            self.lines += len(indexes)
            return self._bounded(_Position(seq, indexes[-1]))
        for index in indexes:
            line = lines[index]
            self.lines += 1
            here = _Position(seq, index)
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
        for key in ("host", "cluster", "namespace", "pod", "container", "file")
        if key in batch
    }
    entry = {key: line[key] for key in ("unit", "priority") if key in line}  # a journal's
    return LogHit(
        time=line["time"], stream=line["stream"], text=line["text"], at=str(here), **source, **entry
    )


def _from_sequence(subjects: list[str], seq: int) -> ConsumerConfig:
    return ConsumerConfig(
        filter_subjects=subjects,
        deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
        opt_start_seq=seq,
    )
