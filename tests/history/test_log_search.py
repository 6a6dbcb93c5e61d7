"""Searching the kept logs (`ctl.history.search_logs`): pages of matching lines, newest
or oldest first, every hit once across pages; only the sources asked; a time range by
each line's own time; RE2 patterns (a hostile one answers at once, a backreference is
refused saying why); a page bounded in the lines it may read."""

import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.history_support import history_settings_for, run_history
from tests.support import NatsServer, bus_client
from vigil import ctl
from vigil.bus import Bus
from vigil.ctl import Refused
from vigil.journal import JournalSelection
from vigil.messages import (
    CtlReply,
    ErrorCode,
    FileBatch,
    FileLine,
    JournalBatch,
    JournalLine,
    LinesAround,
    LogBatch,
    LogHit,
    LogLine,
    LogSourceRef,
    PodLogBatch,
    SearchLogs,
)
from vigil.operations import History

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
WEB = LogSourceRef(kind="docker", host="web1")
EVERY_CONTAINER = LogSourceRef(kind="docker")
PROD = LogSourceRef(kind="k8s", cluster="prod")


@pytest.fixture
async def bus(nats_server: NatsServer, prefix: str) -> AsyncIterator[Bus]:
    """A bus client of the test's own, with the history service running (it searches)."""
    async with (
        run_history(history_settings_for(nats_server, prefix)),
        bus_client(nats_server, prefix) as client,
    ):
        yield client


def line(second: int, text: str) -> LogLine:
    return LogLine(time=T0 + timedelta(seconds=second), stream="stdout", text=text)


async def container_lines(bus: Bus, host: str, container: str, lines: list[LogLine]) -> None:
    batch = LogBatch(host=host, container=container, lines=lines)
    await bus.publish(bus.subjects.docker_logs(host, container), batch)


async def pod_lines(bus: Bus, cluster: str, pod: str, lines: list[LogLine]) -> None:
    batch = PodLogBatch(cluster=cluster, namespace="shop", pod=pod, container="app", lines=lines)
    await bus.publish(bus.subjects.k8s_logs(cluster, "shop", pod), batch)


async def search(bus: Bus, **fields: Any) -> list[LogHit]:
    """Every hit of a search, page after page (each page's hits checked for order)."""
    request = SearchLogs(**fields)
    found: list[LogHit] = []
    for _ in range(1000):
        page = await ctl.call(bus, History.SEARCH_LOGS, request)
        found += page.hits
        if page.cursor is None:
            return found
        request = request.model_copy(update={"cursor": page.cursor})
    raise AssertionError("the search never ended")


def texts(hits: list[LogHit]) -> list[str]:
    return [hit.text for hit in hits]


async def test_pages_of_hits_newest_or_oldest_first_each_once_of_the_sources_asked(
    bus: Bus,
) -> None:
    await container_lines(
        bus, "web1", "aaaa11112222", [line(1, "GET / 200"), line(2, "ERROR db down")]
    )
    await container_lines(bus, "web2", "bbbb11112222", [line(3, "ERROR disk full")])
    await pod_lines(bus, "prod", "api-1", [line(4, "ERROR oom soon"), line(5, "ok")])
    await pod_lines(bus, "staging", "api-1", [line(6, "ERROR staging only")])
    await container_lines(bus, "web1", "aaaa11112222", [line(7, "ERROR again"), line(8, "fine")])

    everywhere = [WEB, LogSourceRef(kind="docker", host="web2"), PROD]
    newest = await search(bus, sources=everywhere, pattern="^ERROR", limit=2)
    assert texts(newest) == [
        "ERROR again",
        "ERROR oom soon",
        "ERROR disk full",
        "ERROR db down",
    ]
    oldest = await search(bus, sources=everywhere, pattern="^ERROR", limit=3, order="oldest")
    assert texts(oldest) == list(reversed(texts(newest)))

    # Each hit says where it comes from, and where it is kept.
    pod_hit = newest[1]
    assert (pod_hit.cluster, pod_hit.namespace, pod_hit.pod, pod_hit.container) == (
        "prod",
        "shop",
        "api-1",
        "app",
    )
    assert (newest[0].host, newest[0].container, newest[0].cluster) == (
        "web1",
        "aaaa11112222",
        None,
    )
    assert len({hit.at for hit in newest}) == 4

    # Only the sources asked: a cluster not among them is never read.
    assert texts(await search(bus, sources=[PROD], pattern="ERROR")) == ["ERROR oom soon"]
    assert texts(await search(bus, sources=[WEB], pattern="ERROR", order="oldest")) == [
        "ERROR db down",
        "ERROR again",
    ]
    every = await search(bus, sources=[EVERY_CONTAINER], pattern="ERROR")
    assert texts(every) == ["ERROR again", "ERROR disk full", "ERROR db down"]

    # A source with no lines, or a cursor past the end, answers at once.
    began = time.monotonic()
    nothing = LogSourceRef(kind="docker", host="quiet")
    for order in ("newest", "oldest"):
        assert await search(bus, sources=[nothing], pattern="x", order=order) == []
    past = {"cursor": "999999:0", "order": "oldest"}
    assert await search(bus, sources=[WEB], pattern="ERROR", **past) == []
    assert time.monotonic() - began < 2


async def test_a_journal_entry_kept_by_two_selections_is_one_hit(bus: Bus) -> None:
    """Copies the collector could not mark (after its restart) are told by their cursor."""
    entries = [
        JournalLine(**line(1, "ERROR disk").model_dump(), cursor="s=1;i=1", unit="a.service"),
        JournalLine(**line(2, "ERROR fan").model_dump(), cursor="s=1;i=2", unit="b.service"),
    ]
    selections = {"unit=a.service": entries[:1], "priority<=err": entries}
    for selection, lines in selections.items():
        batch = JournalBatch(host="web1", selection=selection, lines=lines)
        await bus.publish(
            bus.subjects.journal_logs("web1", JournalSelection.parse(selection).token), batch
        )
    marked = entries[1].model_copy(update={"duplicate": True})
    batch = JournalBatch(host="web1", selection="all", lines=[marked])
    await bus.publish(bus.subjects.journal_logs("web1", "all"), batch)
    journal = LogSourceRef(kind="journal", host="web1")
    for order in ("newest", "oldest"):
        found = await search(bus, sources=[journal], pattern="ERROR", order=order)
        assert sorted(texts(found)) == ["ERROR disk", "ERROR fan"]
    hit = (await search(bus, sources=[journal], pattern="disk"))[0]
    assert (hit.host, hit.unit, hit.container) == ("web1", "a.service", None)
    assert await search(bus, sources=[WEB], pattern="ERROR") == []  # containers only


async def test_a_log_files_lines_are_hits_of_its_host(bus: Bus) -> None:
    lines = [
        FileLine(**line(1, "ERROR in syslog").model_dump(), cursor="7:10"),
        FileLine(**line(2, "ERROR in syslog").model_dump(), cursor="7:20"),  # same text
    ]
    await bus.publish(
        bus.subjects.file_logs("web1", "syslog"), FileBatch(host="web1", file="syslog", lines=lines)
    )
    found = await search(bus, sources=[LogSourceRef(kind="file", host="web1")], pattern="ERROR")
    assert [(hit.host, hit.file, hit.container) for hit in found] == [("web1", "syslog", None)] * 2
    assert await search(bus, sources=[LogSourceRef(kind="file", host="web2")], pattern="E") == []


async def test_text_case_and_a_time_range_by_each_lines_own_time(bus: Bus) -> None:
    lines = [line(i, f"request {i} took {i}.5 ms (a.b)") for i in range(10)]
    await container_lines(bus, "web1", "aaaa11112222", lines)

    literal = await search(bus, sources=[WEB], pattern="(A.B)", literal=True, ignore_case=True)
    assert len(literal) == 10
    assert await search(bus, sources=[WEB], pattern="(A.B)", literal=True) == []

    ranged = await search(
        bus,
        sources=[WEB],
        pattern="request",
        since=T0 + timedelta(seconds=3),
        until=T0 + timedelta(seconds=6),
        order="oldest",
    )
    assert [hit.time for hit in ranged] == [T0 + timedelta(seconds=s) for s in (3, 4, 5)]


async def test_a_level_keeps_the_lines_of_that_level_or_worse(bus: Bus) -> None:
    said = ["DEBUG cache warm", "INFO request", "warning: slow disk", "level=error failed", "plain"]
    await container_lines(bus, "web1", "aaaa11112222", [line(i, t) for i, t in enumerate(said)])
    warned = await search(bus, sources=[WEB], pattern=".", level="warn", order="oldest")
    assert texts(warned) == ["warning: slow disk", "level=error failed"]
    assert len(await search(bus, sources=[WEB], pattern=".", level="trace")) == 4  # not "plain"
    with pytest.raises(ValueError, match="level"):
        SearchLogs(sources=[WEB], pattern=".", level="loud")  # type: ignore[arg-type]

    # A journal entry's level is its priority, whatever its text says.
    entries = [
        JournalLine(**line(1, "info: all fine").model_dump(), cursor="c1", priority=3),
        JournalLine(**line(2, "ERROR in text").model_dump(), cursor="c2", priority=6),
        JournalLine(**line(3, "no word").model_dump(), cursor="c3", priority=4),
    ]
    batch = JournalBatch(host="web1", selection="all", lines=entries)
    await bus.publish(bus.subjects.journal_logs("web1", "all"), batch)
    journal = LogSourceRef(kind="journal", host="web1")
    found = await search(bus, sources=[journal], pattern=".", level="warn", order="oldest")
    assert texts(found) == ["info: all fine", "no word"]


async def test_the_lines_around_a_hit_come_from_its_own_source_across_batches(
    bus: Bus,
) -> None:
    for first in range(0, 30, 10):  # three batches of ten, another container's between
        lines = [line(n, f"web line {n}") for n in range(first, first + 10)]
        await container_lines(bus, "web1", "aaaa11112222", lines)
        await container_lines(bus, "web1", "bbbb11112222", [line(first, "other")])
    (hit,) = await search(bus, sources=[WEB], pattern="web line 15$")

    async def around(before: int, after: int, sources: list[LogSourceRef]) -> tuple[list[str], int]:
        request = LinesAround(sources=sources, at=hit.at, before=before, after=after)
        answer = await ctl.call(bus, History.LINES_AROUND, request)
        return texts(answer.lines), answer.hit

    near, at = await around(7, 8, [WEB])  # into the batches before and after its own
    assert near == [f"web line {n}" for n in range(8, 24)]
    assert near[at] == "web line 15"
    everything, at = await around(500, 500, [EVERY_CONTAINER])  # as far as its source goes
    assert everything == [f"web line {n}" for n in range(30)]
    assert everything[at] == "web line 15"
    assert await around(0, 0, [WEB]) == (["web line 15"], 0)
    # The position of a line of a source not asked is none of the asker's business.
    with pytest.raises(Refused) as refused:
        await around(1, 1, [PROD])
    assert refused.value.code is ErrorCode.NOT_FOUND
    ask = LinesAround(sources=[WEB], at="999999:0")
    with pytest.raises(Refused) as refused:
        await ctl.call(bus, History.LINES_AROUND, ask)
    assert refused.value.code is ErrorCode.NOT_FOUND


async def test_anchors_mean_each_lines_own_ends_wherever_it_is_in_its_batch(bus: Bus) -> None:
    lines = [line(0, "x ERROR"), line(1, "ERROR y"), line(2, "z"), line(3, "a-mERROR")]
    await container_lines(bus, "web1", "aaaa11112222", lines)
    for pattern, found in [
        (r"\AERROR", ["ERROR y"]),
        (r"^ERROR", ["ERROR y"]),
        (r"ERROR$", ["a-mERROR", "x ERROR"]),
        (r"ERROR\z", ["a-mERROR", "x ERROR"]),
        (r"(?i)^error y$", ["ERROR y"]),
        (r"(?-m)^z$", ["z"]),
        (r"^$", []),
    ]:
        assert texts(await search(bus, sources=[WEB], pattern=pattern)) == found, pattern


async def test_a_hostile_pattern_answers_at_once_and_a_backreference_is_refused(bus: Bus) -> None:
    evil_text = "a" * 5000 + "!"
    for _ in range(20):
        await container_lines(bus, "web1", "aaaa11112222", [line(0, evil_text)] * 50)

    began = time.monotonic()
    assert await search(bus, sources=[WEB], pattern="^(a+)+$") == []
    assert time.monotonic() - began < 5  # a backtracking engine would take ages

    with pytest.raises(Refused) as refused:
        await search(bus, sources=[WEB], pattern=r"(a)\1")
    assert refused.value.code is ErrorCode.INVALID_MESSAGE
    assert "pattern" in refused.value.message


async def test_a_page_reads_at_most_its_bound_then_answers_with_a_cursor(
    nats_server: NatsServer, prefix: str
) -> None:
    settings = history_settings_for(nats_server, prefix, search_max_lines=1000)
    async with run_history(settings), bus_client(nats_server, prefix) as bus:
        await container_lines(bus, "web1", "aaaa11112222", [line(0, "the needle")])
        for batch in range(10):
            noise = [line(1, f"noise {batch}-{n}") for n in range(500)]
            await container_lines(bus, "web1", "aaaa11112222", noise)

        request = SearchLogs(sources=[WEB], pattern="needle")
        first = await ctl.call(bus, History.SEARCH_LOGS, request)
        assert (first.hits, first.scanned_lines) == ([], 1000)
        assert first.cursor is not None
        assert texts(await search(bus, sources=[WEB], pattern="needle")) == ["the needle"]


async def test_bad_searches_are_refused_saying_what_is_wrong(bus: Bus) -> None:
    bad: list[dict[str, Any]] = [
        {"sources": [{"kind": "k8s"}], "pattern": "x"},  # no cluster: grants are per cluster
        {"sources": [{"kind": "docker", "container": "aaaa11112222"}], "pattern": "x"},
        {"sources": [{"kind": "docker", "cluster": "prod"}], "pattern": "x"},
        {"sources": [], "pattern": "x"},
        {"sources": [{"kind": "docker"}], "pattern": ""},
        {"sources": [{"kind": "docker"}], "pattern": "x", "cursor": "7"},
        {"sources": [{"kind": "docker", "host": "a.b"}], "pattern": "x"},
        {"sources": [{"kind": "docker", "host": "h", "journal": "all"}], "pattern": "x"},
        {"sources": [{"kind": "journal", "journal": "all"}], "pattern": "x"},  # whose?
        {"sources": [{"kind": "journal", "host": "h", "journal": "unit=a b"}], "pattern": "x"},
        {"sources": [{"kind": "journal", "host": "h", "file": "syslog"}], "pattern": "x"},
        {"sources": [{"kind": "file", "host": "h", "file": "../etc"}], "pattern": "x"},
        {
            "sources": [{"kind": "docker"}],
            "pattern": "x",
            "since": "2026-12-06T12:00:00Z",
            "until": "2026-12-06T11:00:00Z",
        },
    ]
    subject = History.SEARCH_LOGS.subject(bus.subjects)
    for fields in bad:
        answer = await bus.nc.request(subject, json.dumps(fields).encode(), timeout=10)
        reply = CtlReply.model_validate_json(answer.data)
        assert reply.error is not None, fields
        assert reply.error.code is ErrorCode.INVALID_MESSAGE, fields
    # and it answers on
    assert await search(bus, sources=[WEB], pattern="x") == []
