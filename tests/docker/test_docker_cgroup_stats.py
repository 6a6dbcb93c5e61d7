"""Container stats from cgroups against a real engine: the reader chosen and said, the
figures `docker stats` shows (a download between two containers), containers joining
and leaving between cycles, a cgroup gone mid-read, and the API when cgroups are not
readable. This machine's engine runs cgroup v1 with cgroupfs; the v2, systemd and
rootless paths are tested over trees laid out as the kernel does (`test_cgroup_reader`).
"""

import asyncio
import logging
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.docker_engine import Containers, docker
from tests.docker_support import _UNITS, docker_collector, heard, next_that
from tests.support import NatsServer, bus_client, run_collector
from vigil.messages import DockerSourceChanged, DockerStatsSampled
from vigil_collector.docker import engine, stats_readers
from vigil_collector.docker.cgroup_stats import CgroupStats
from vigil_collector.docker.cgroups import CgroupTree
from vigil_collector.docker.running_containers import inspect_running

HOST = "testhost"


@pytest.fixture
def network(containers: Containers) -> Iterator[str]:
    """A user network of this test's own, removed afterwards."""
    name = f"vigil-{containers.label}-{uuid.uuid4().hex[:6]}"
    docker("network", "create", "--label", f"vigil.test={containers.label}", name)
    yield name
    containers.remove_all()  # its containers first: a network in use stays
    docker("network", "rm", name)


def network_io_now(name: str) -> tuple[float, float]:
    """`docker stats --no-stream`: network rx and tx, in bytes."""
    line = docker("stats", "--no-stream", "--format", "{{.NetIO}}", name)
    figures = []
    for figure in line.strip().split(" / "):
        number, unit = re.fullmatch(r"([\d.]+)\s*([A-Za-z]+)", figure.strip()).groups()  # type: ignore[union-attr]
        figures.append(float(number) * _UNITS[unit])
    return figures[0], figures[1]


async def test_a_download_between_containers_counts_as_docker_stats_counts_it(
    nats_server: NatsServer, prefix: str, containers: Containers, network: str
) -> None:
    serve = "dd if=/dev/zero of=/tmp/blob bs=1M count=20 2>/dev/null; httpd -f -p 8080 -h /tmp"
    _, server = containers.run("server", "sh", "-c", serve, options=("--network", network))
    address = docker(
        "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", server
    ).strip()
    fetch = (
        f"until wget -q -O /dev/null http://{address}:8080/blob; do sleep 0.2; done;"
        " echo fetched; sleep 3600"
    )
    client_id, client = containers.run("client", "sh", "-c", fetch, options=("--network", network))

    async with (
        bus_client(nats_server, prefix) as bus,
        heard(bus, bus.subjects.docker_source(HOST), DockerSourceChanged) as sources,
        heard(bus, bus.subjects.docker_metrics(HOST), DockerStatsSampled) as batches,
        run_collector(docker_collector(nats_server, prefix)),
    ):
        source = await next_that(sources, lambda s: s.available, "the engine", 20)
        assert source.stats_reader == "cgroup"
        for _ in range(100):
            if "fetched" in docker("logs", client):
                break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError("the client never fetched the blob")
        after = datetime.now(UTC)
        batch = await next_that(batches, lambda b: b.time > after, "a batch after the download")
        rx, tx = await asyncio.to_thread(network_io_now, client)

    ours = next(c for c in batch.containers if c.id == client_id)
    assert ours.network_rx >= 20 * 1024**2  # the blob came in
    assert ours.network_rx == pytest.approx(rx, rel=0.10)
    assert ours.network_tx == pytest.approx(tx, rel=0.10)
    assert ours.host_network is None


async def test_a_host_network_container_is_flagged_with_no_network_figures(
    nats_server: NatsServer, prefix: str, containers: Containers
) -> None:
    short, _ = containers.run("hostnet", "sleep", "3600", options=("--network", "host"))
    async with (
        bus_client(nats_server, prefix) as bus,
        heard(bus, bus.subjects.docker_metrics(HOST), DockerStatsSampled) as batches,
        run_collector(docker_collector(nats_server, prefix)),
    ):
        batch = await next_that(
            batches, lambda b: short in {c.id for c in b.containers}, "the container", 20
        )
    ours = next(c for c in batch.containers if c.id == short)
    assert ours.host_network is True
    assert (ours.network_rx, ours.network_tx) == (0, 0)  # not the host's traffic again


async def test_containers_started_renamed_and_stopped_between_cycles_show_in_the_next_batch(
    nats_server: NatsServer, prefix: str, containers: Containers
) -> None:
    async with (
        bus_client(nats_server, prefix) as bus,
        heard(bus, bus.subjects.docker_metrics(HOST), DockerStatsSampled) as batches,
        run_collector(docker_collector(nats_server, prefix)),
    ):
        await next_that(batches, lambda b: True, "the Docker source to be following", 20)
        short, name = containers.run("between", "sleep", "3600")
        started = datetime.now(UTC)
        # The batch being read as `docker run` returned may be without it; the next has it.
        await next_that(batches, lambda b: b.time > started, "a batch", 10)
        joined = await next_that(batches, lambda b: True, "the next batch")
        assert short in {c.id for c in joined.containers}

        renamed = f"{name}-renamed"
        docker("rename", name, renamed)
        at = datetime.now(UTC)
        await next_that(batches, lambda b: b.time > at, "a batch", 10)
        after = await next_that(batches, lambda b: True, "the next batch")
        assert {c.name for c in after.containers if c.id == short} == {renamed}

        docker("rm", "-f", renamed)
        stopped = datetime.now(UTC)
        await next_that(batches, lambda b: b.time > stopped, "a batch", 10)
        left = await next_that(batches, lambda b: True, "the next batch")
        assert short not in {c.id for c in left.containers}


def test_a_container_whose_cgroup_goes_away_mid_read_is_left_out_of_that_cycle(
    containers: Containers,
) -> None:
    short, name = containers.run("vanishing", "sleep", "3600")
    _, other = containers.run("staying", "sleep", "3600")
    api, _ = engine.connect(None, 10)
    tree = CgroupTree.at(Path("/sys/fs/cgroup"))
    assert tree is not None
    reader = CgroupStats(tree, Path("/proc"), HOST)
    try:
        running = [inspect_running(api, n) for n in (name, other)]
        assert None not in running
        known = [c for c in running if c is not None]
        assert {c.id for c in reader.sample(known).containers} == {short, known[1].short_id}
        # Its files are open; the engine removes its cgroup before its event is seen.
        docker("rm", "-f", name)
        batch = reader.sample(known)  # still in the set the reader was given
    finally:
        reader.close()
        api.close()
    assert [c.name for c in batch.containers] == [other]


async def test_the_api_is_used_and_said_when_the_cgroup_root_is_not_readable(
    nats_server: NatsServer,
    prefix: str,
    containers: Containers,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="vigil_collector.docker.source")
    short, _ = containers.run("api", "sleep", "3600")
    unreadable = tmp_path / "no-cgroups"
    async with (
        bus_client(nats_server, prefix) as bus,
        heard(bus, bus.subjects.docker_source(HOST), DockerSourceChanged) as sources,
        heard(bus, bus.subjects.docker_metrics(HOST), DockerStatsSampled) as batches,
        run_collector(docker_collector(nats_server, prefix, cgroup_root=unreadable)),
    ):
        source = await next_that(sources, lambda s: s.available, "the engine", 20)
        batch = await next_that(
            batches, lambda b: short in {c.id for c in b.containers}, "the container", 20
        )
    assert source.stats_reader == "api"
    ours = next(c for c in batch.containers if c.id == short)
    assert ours.memory_usage > 0
    assert ours.pids >= 1
    said = [r.getMessage() for r in caplog.records]
    assert f"Docker stats from the engine's API: no readable cgroup tree at {unreadable}" in said


def test_an_engine_whose_containers_are_not_in_the_tree_gets_the_api_reader(
    nats_server: NatsServer, prefix: str, containers: Containers, tmp_path: Path
) -> None:
    """A readable tree that is not the engine's (a remote engine over TCP, on a machine
    with the same kernel): its running container is not found there."""
    containers.run("remote", "sleep", "3600")
    (tmp_path / "cgroup.controllers").write_text("cpu io memory pids\n")  # an empty v2 tree
    api, _ = engine.connect(None, 10)
    try:
        choice = stats_readers.choose(
            docker_collector(nats_server, prefix, cgroup_root=tmp_path), api
        )
    finally:
        api.close()
    assert choice.kind == "api"
    assert f"cgroup is not under {tmp_path}" in choice.why


async def test_a_container_on_anothers_network_shows_that_namespaces_figures_as_docker_does(
    nats_server: NatsServer, prefix: str, containers: Containers
) -> None:
    ping = "gw=$(ip route | awk '/default/ {print $3}'); ping -c 10 -i 0.2 -s 1000 $gw; sleep 3600"
    _, owner = containers.run("owner", "sh", "-c", ping)
    joined_id, joined = containers.run(
        "joined", "sleep", "3600", options=("--network", f"container:{owner}")
    )
    async with (
        bus_client(nats_server, prefix) as bus,
        heard(bus, bus.subjects.docker_metrics(HOST), DockerStatsSampled) as batches,
        run_collector(docker_collector(nats_server, prefix)),
    ):
        for _ in range(50):
            if "10 packets received" in docker("logs", owner):
                break
            await asyncio.sleep(0.2)
        after = datetime.now(UTC)
        batch = await next_that(batches, lambda b: b.time > after, "a batch after the pings")
        rx, tx = await asyncio.to_thread(network_io_now, joined)
    ours = next(c for c in batch.containers if c.id == joined_id)
    assert ours.network_rx >= 10 * 1000
    assert ours.network_rx == pytest.approx(rx, rel=0.10)
    assert ours.network_tx == pytest.approx(tx, rel=0.10)
    assert ours.host_network is None
