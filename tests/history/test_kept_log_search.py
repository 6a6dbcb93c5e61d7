"""The log search over kept logs (`LOGS_KEPT`) and the live window (`LOGS`): a retained
container's lines are read from the kept stream only (its `LOGS` batches say `kept`),
each hit once across pages that pass from one stream to the other; by name every
generation, by id one; a cluster's sources never read a container's kept lines."""

from datetime import timedelta

from tests.history.test_log_search import T0, bus, container_lines, line, search, texts
from vigil.bus import Bus
from vigil.messages import Generation, KeptLogBatch, LogBatch, LogLine, LogSourceRef

__all__ = ["bus"]  # the fixture: the history service running, and a bus of the test's own

MICROS = 10**6


async def kept_lines(
    bus: Bus, name: str, container: str, lines: list[LogLine], stderr: list[int] | None = None
) -> None:
    """A retained container's batch, as its collector keeps it (a marker on the first)."""
    batch = KeptLogBatch(
        host="web1",
        container=name,
        id=container,
        generation=Generation(id=container, started=T0),
        start=int(lines[0].time.timestamp()) * MICROS,
        lines=[(int((x.time - lines[0].time).total_seconds()) * MICROS, x.text) for x in lines],
        stderr=stderr,
    )
    await bus.publish(bus.subjects.kept_docker_logs("web1", name), batch)


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
