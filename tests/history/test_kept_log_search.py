"""The log search over kept logs (`LOGS_KEPT`) and the live window (`LOGS`): a retained
container's lines are read from the kept stream only (its `LOGS` batches say `kept`),
each hit once across pages that pass from one stream to the other; by name every
generation, by id one; a cluster's sources never read a container's kept lines; the
first line of a generation (a container's, a pod's) carries its marker, in hits and
in the lines around one."""

from datetime import timedelta
from typing import Any

from tests.history.test_log_search import PROD, T0, bus, container_lines, line, search, texts
from vigil import ctl
from vigil.bus import Bus
from vigil.messages import (
    Generation,
    KeptLogBatch,
    KeptPodLogBatch,
    LinesAround,
    LogBatch,
    LogHit,
    LogLine,
    LogSourceRef,
    PodGeneration,
)
from vigil.operations import History

__all__ = ["bus"]  # the fixture: the history service running, and a bus of the test's own

MICROS = 10**6


def compacted(lines: list[LogLine]) -> dict[str, Any]:
    """`start` and `lines` of a kept batch, as the collector compacts them."""
    start = lines[0].time
    return {
        "start": int(start.timestamp()) * MICROS,
        "lines": [(int((x.time - start).total_seconds()) * MICROS, x.text) for x in lines],
    }


async def kept_lines(
    bus: Bus,
    name: str,
    container: str,
    lines: list[LogLine],
    stderr: list[int] | None = None,
    *,
    marked: bool = True,
) -> None:
    """A retained container's batch, as its collector keeps it (`marked`: a
    generation's first, with its marker)."""
    batch = KeptLogBatch(
        host="web1",
        container=name,
        id=container,
        generation=Generation(id=container, started=T0) if marked else None,
        stderr=stderr,
        **compacted(lines),
    )
    await bus.publish(bus.subjects.kept_docker_logs("web1", name), batch)


async def kept_pod_lines(
    bus: Bus, pod: str, lines: list[LogLine], generation: PodGeneration | None
) -> None:
    """A retained pod's batch, under its Deployment's name `shop-web`."""
    where = {"cluster": "prod", "namespace": "shop", "workload": "shop-web"}
    batch = KeptPodLogBatch(
        **where, pod=pod, container="app", generation=generation, **compacted(lines)
    )
    await bus.publish(bus.subjects.kept_k8s_logs("prod", "shop", "shop-web"), batch)


async def test_kept_lines_come_once_across_pages_from_the_kept_stream_then_the_live_one(
    bus: Bus,
) -> None:
    await kept_lines(bus, "api", "aaaa00000001", [line(1, "ERROR first api")])
    await kept_lines(bus, "api", "aaaa00000002", [line(2, "ERROR second api")])
    await kept_lines(bus, "cron", "cccc00000001", [line(3, "ERROR cron")])
    # The second api is watched too: its lines are in LOGS as well, flagged kept.
    second = [line(2, "ERROR second api")]
    watched = LogBatch(host="web1", container="aaaa00000002", lines=second, kept=True)
    await bus.publish(bus.subjects.docker_logs("web1", "aaaa00000002"), watched)
    await container_lines(bus, "web1", "bbbb00000001", [line(4, "ERROR plain")])

    every = [LogSourceRef(kind="docker", host="web1")]
    for order in ("newest", "oldest"):
        hits = await search(bus, sources=every, pattern="ERROR", limit=1, order=order)
        found = sorted(texts(hits))
        assert found == ["ERROR cron", "ERROR first api", "ERROR plain", "ERROR second api"]
        assert [hit.at.startswith("k") for hit in hits] == [True, True, True, False]

    by_name = [LogSourceRef(kind="docker", host="web1", name="api")]
    hits = await search(bus, sources=by_name, pattern="api")
    assert texts(hits) == ["ERROR second api", "ERROR first api"]
    assert [(hit.container, hit.name) for hit in hits] == [
        ("aaaa00000002", "api"),
        ("aaaa00000001", "api"),
    ]
    assert hits[0].time == T0 + timedelta(seconds=2)
    await kept_lines(bus, "cron", "cccc00000001", [line(5, "ok"), line(6, "oops")], stderr=[1])
    cron = [LogSourceRef(kind="docker", host="web1", name="cron")]
    hits = await search(bus, sources=cron, pattern="^o", order="oldest")
    assert [(hit.text, hit.stream) for hit in hits] == [("ok", "stdout"), ("oops", "stderr")]
    by_id = [LogSourceRef(kind="docker", host="web1", container="aaaa00000001")]
    assert texts(await search(bus, sources=by_id, pattern="api")) == ["ERROR first api"]
    pods = [LogSourceRef(kind="k8s", cluster="prod")]
    assert await search(bus, sources=pods, pattern="ERROR") == []


async def test_the_first_line_of_a_generation_carries_its_marker_in_hits_and_around(
    bus: Bus,
) -> None:
    await kept_lines(bus, "api", "aaaa00000001", [line(1, "one a"), line(2, "one b")])
    await kept_lines(bus, "api", "aaaa00000001", [line(3, "one c")], marked=False)
    await kept_lines(bus, "api", "aaaa00000002", [line(4, "two a"), line(5, "two b")])
    api = [LogSourceRef(kind="docker", host="web1", name="api")]

    hits = await search(bus, sources=api, pattern=" [ab]$", order="oldest")
    assert [(hit.text, marker(hit)) for hit in hits] == [
        ("one a", "aaaa00000001"),
        ("one b", None),
        ("two a", "aaaa00000002"),
        ("two b", None),
    ]
    assert isinstance(hits[2].generation, Generation)
    assert hits[2].generation.started == T0

    around = await lines_around(bus, api, hits[3], before=10)
    assert [(hit.text, marker(hit)) for hit in around] == [
        ("one a", "aaaa00000001"),
        ("one b", None),
        ("one c", None),  # the same generation's next batch: no marker
        ("two a", "aaaa00000002"),
        ("two b", None),
    ]

    # A pod's: a restart of its container, then its successor, under the workload.
    first = PodGeneration(pod="web-1", uid="u1", restarts=0)
    restarted = PodGeneration(pod="web-1", uid="u1", restarts=1)
    successor = PodGeneration(pod="web-2", uid="u2", restarts=0)
    await kept_pod_lines(bus, "web-1", [line(1, "pod up")], first)
    await kept_pod_lines(bus, "web-1", [line(2, "pod up"), line(3, "pod busy")], restarted)
    await kept_pod_lines(bus, "web-2", [line(4, "pod up")], successor)
    shop_web = [LogSourceRef(kind="k8s", cluster="prod", namespace="shop", pod="shop-web")]
    hits = await search(bus, sources=shop_web, pattern="pod", order="oldest")
    assert [hit.generation for hit in hits] == [first, restarted, None, successor]
    around = await lines_around(bus, [PROD], hits[2], before=5, after=5)
    assert [hit.generation for hit in around] == [first, restarted, None, successor]


def marker(hit: LogHit) -> str | None:
    """A container's generation marker, by the container's id."""
    assert hit.generation is None or isinstance(hit.generation, Generation)
    return hit.generation.id if hit.generation is not None else None


async def lines_around(
    bus: Bus, sources: list[LogSourceRef], hit: LogHit, before: int = 0, after: int = 0
) -> list[LogHit]:
    request = LinesAround(sources=sources, at=hit.at, before=before, after=after)
    return (await ctl.call(bus, History.LINES_AROUND, request)).lines
