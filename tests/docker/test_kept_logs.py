"""Kept logs (#25): a container labelled `vigil.keep-logs=true` is followed with nobody
watching, its lines (redacted) kept in LOGS_KEPT by its name; a container recreated
under the name continues the same history after a generation marker; a removed
container's lines are found by search, each once even when a lease put them in LOGS
too; and the stream's age bound takes them away. A collector started again goes on
after the last line kept: a running container's lines are kept once, none written while
it was down lost, and a container recreated meanwhile is kept from its first line."""

import time
from collections.abc import AsyncIterator

import pytest

from tests.docker.test_docker_collector import HOST, lease
from tests.docker_engine import Containers, docker
from tests.docker_support import docker_collector, heard, kept_until_line, next_that
from tests.history.test_log_search import search, texts
from tests.history_support import history_settings_for, run_history
from tests.support import NatsServer, bus_client, run_collector, until
from vigil.bus import Bus
from vigil.messages import KeptLogBatch, LogBatch, LogSourceRef
from vigil.streams import LOGS_KEPT
from vigil_collector.settings import CollectorSettings

KEEP = ("--label", "vigil.keep-logs=true")
SECRET = "postgres://app:hunter2@db:5432/orders"
REDACTED = "postgres://app:[REDACTED]@db:5432/orders"


def printing(generation: str) -> tuple[str, ...]:
    """A container's command: three numbered lines, a secret, `done`, then quiet."""
    script = f"for n in 1 2 3; do echo {generation} line $n; done; echo '{SECRET}'; "
    return ("sh", "-c", script + f"echo {generation} done; sleep 3600")


# Numbered lines in three bursts (each written at once: many stamped alike), the next
# one when the test touches its file: 1-100 (all of them, even as a tail), 101-2000,
# 2001-2500 and `done`.
COUNTING = (
    "sh",
    "-c",
    "seq 1 100; until [ -e /tmp/down ]; do sleep 0.05; done; seq 101 2000; "
    "until [ -e /tmp/up ]; do sleep 0.05; done; seq 2001 2500; echo done; sleep 3600",
)


def run_named(containers: Containers, name: str, *command: str) -> str:
    """`docker run -d` under `name` exactly (a container recreated), kept; its short id."""
    identity = ("--name", name, "--label", f"vigil.test={containers.label}", *KEEP)
    return docker("run", "-d", *identity, containers.image, *command).strip()[:12]


async def kept_until(bus: Bus, name: str, last: str) -> list[KeptLogBatch]:
    """Every batch kept under `name`, from the first, until one holds the line `last`."""
    subject = bus.subjects.kept_docker_logs(HOST, name)
    return await kept_until_line(bus, subject, KeptLogBatch, last)


async def wrote(name: str, last: str) -> None:
    """Until the container's log (the engine's) ends with the line `last`."""

    async def written() -> bool | None:
        return docker("logs", "--tail", "1", name).strip() == last or None

    await until(written, f"{name} to write {last!r}", timeout=20)


@pytest.fixture
async def bus(nats_server: NatsServer, prefix: str) -> AsyncIterator[Bus]:
    """The test's bus, with the Docker collector and the history service running."""
    async with (
        bus_client(nats_server, prefix) as client,
        run_collector(docker_collector(nats_server, prefix)),
        run_history(history_settings_for(nats_server, prefix)),
    ):
        yield client


async def test_a_labelled_container_is_kept_by_name_across_generations_and_found_once_removed(
    bus: Bus, containers: Containers
) -> None:
    first, name = containers.run("kept", *printing("one"), options=KEEP)
    _, unlabelled = containers.run("plain", *printing("plain"))
    batches = await kept_until(bus, name, "one done")  # nobody holds a lease on it

    lines = [text for batch in batches for _, text in batch.lines]
    assert lines == ["one line 1", "one line 2", "one line 3", REDACTED, "one done"]
    assert batches[0].generation is not None
    assert batches[0].generation.id == first
    assert {batch.id for batch in batches} == {first}

    # Recreated under the same name (as a deploy does), and watched this time: its lines
    # go to LOGS too, flagged kept.
    docker("rm", "-f", name)
    second = run_named(containers, name, *printing("two"))
    await lease(bus, second, lease_s=60, tail=100)
    batches = await kept_until(bus, name, "two done")
    async with heard(bus, bus.subjects.docker_logs(HOST, second), LogBatch, stream=True) as live:
        watched = await next_that(live, lambda batch: True, "the leased lines in LOGS")
    assert watched.kept
    docker("rm", "-f", name)

    markers = [batch.generation for batch in batches if batch.generation is not None]
    assert [marker.id for marker in markers] == [first, second]
    assert markers[0].started < markers[1].started
    history = [(batch.id, text) for batch in batches for _, text in batch.lines]
    assert [text for _, text in history if "line 2" in text] == ["one line 2", "two line 2"]
    ids = [batch_id for batch_id, _ in history]
    assert ids == [first] * ids.count(first) + [second] * ids.count(second)  # one history

    # Both gone: the search finds both generations by name, newest first, each line once
    # (the second's lines are in LOGS too, from the lease).
    by_name = LogSourceRef(kind="docker", host=HOST, name=name)
    hits = await search(bus, sources=[by_name], pattern="line [13]")
    assert texts(hits) == ["two line 3", "two line 1", "one line 3", "one line 1"]
    assert [(hit.container, hit.name) for hit in hits[1:3]] == [(second, name), (first, name)]
    everywhere = await search(bus, sources=[LogSourceRef(kind="docker")], pattern="^two line 2$")
    assert texts(everywhere) == ["two line 2"]
    redacted = await search(bus, sources=[by_name], pattern="hunter2|REDACTED")
    assert texts(redacted) == [REDACTED] * 2
    by_id = LogSourceRef(kind="docker", host=HOST, container=first)  # no name: this one only
    assert texts(await search(bus, sources=[by_id], pattern="done")) == ["one done"]

    # A container without the label was never kept.
    stream = LOGS_KEPT.stream(bus.subjects)
    info = await bus.js.stream_info(
        stream, subjects_filter=bus.subjects.kept_docker_logs(HOST, unlabelled)
    )
    assert not info.state.subjects


async def test_kept_lines_go_when_the_streams_age_bound_passes(
    nats_server: NatsServer, prefix: str, containers: Containers
) -> None:
    nats_server.provision(prefix, logs_keep_max_age_s=2, logs_keep_max_bytes=8 << 20)
    async with (
        bus_client(nats_server, prefix) as bus,
        run_collector(docker_collector(nats_server, prefix)),
        run_history(history_settings_for(nats_server, prefix)),
    ):
        config = (await bus.js.stream_info(LOGS_KEPT.stream(bus.subjects))).config
        assert (config.max_age, config.max_bytes) == (2, 8 << 20)
        assert config.compression == "s2"

        _, name = containers.run("brief", *printing("brief"), options=KEEP)
        await kept_until(bus, name, "brief done")
        source = [LogSourceRef(kind="docker", host=HOST, name=name)]
        assert texts(await search(bus, sources=source, pattern="done")) == ["brief done"]
        began = time.monotonic()

        async def gone() -> bool | None:
            return (await search(bus, sources=source, pattern="done")) == [] or None

        await until(gone, "the kept lines to age out", timeout=15)
        assert time.monotonic() - began < 10


@pytest.fixture
def collector(nats_server: NatsServer, prefix: str) -> CollectorSettings:
    return docker_collector(nats_server, prefix)


async def test_a_collector_started_again_keeps_each_line_of_a_running_container_once(
    nats_server: NatsServer, prefix: str, containers: Containers, collector: CollectorSettings
) -> None:
    async with bus_client(nats_server, prefix) as bus:
        async with run_collector(collector):
            short, name = containers.run("counting", *COUNTING, options=KEEP)
            batches = await kept_until(bus, name, "100")
            assert [text for b in batches for _, text in b.lines] == [str(n) for n in range(1, 101)]

        # Down: 1,900 lines meanwhile (more than its `logs_tail`), in the same second as
        # the last ones kept, perhaps.
        docker("exec", name, "touch", "/tmp/down")
        await wrote(name, "2000")
        async with run_collector(collector):
            docker("exec", name, "touch", "/tmp/up")
            batches = await kept_until(bus, name, "done")

    lines = [text for batch in batches for _, text in batch.lines]
    assert lines == [str(n) for n in range(1, 2501)] + ["done"]
    assert {batch.id for batch in batches} == {short}
    markers = [batch.generation for batch in batches if batch.generation is not None]
    assert {marker.id for marker in markers} == {short}  # the same generation, resumed


async def test_a_container_recreated_while_the_collector_was_down_is_kept_from_its_first_line(
    nats_server: NatsServer, prefix: str, containers: Containers, collector: CollectorSettings
) -> None:
    async with bus_client(nats_server, prefix) as bus:
        async with run_collector(collector):
            first, name = containers.run("kept", *printing("one"), options=KEEP)
            await kept_until(bus, name, "one done")

        # Recreated under the name while it is down, with more lines than its tail.
        docker("rm", "-f", name)
        script = "seq 1 300; echo two done; sleep 3600"
        second = run_named(containers, name, "sh", "-c", script)
        await wrote(name, "two done")
        async with run_collector(collector):
            batches = await kept_until(bus, name, "two done")

    lines = [text for batch in batches for _, text in batch.lines]
    one = ["one line 1", "one line 2", "one line 3", REDACTED, "one done"]
    assert lines == one + [str(n) for n in range(1, 301)] + ["two done"]
    markers = [batch.generation for batch in batches if batch.generation is not None]
    assert [marker.id for marker in markers] == [first, second]
