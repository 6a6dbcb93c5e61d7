"""The collector's Docker source against a real engine: stats as `docker stats` shows
them, status from events, logs on lease (in order, cut, redacted), engine outages."""

import asyncio
import re
import threading
import time
from datetime import UTC, datetime

import pytest

from tests.docker_engine import Containers, SecondEngine, docker
from tests.docker_support import _UNITS, docker_collector, docker_stats_now, heard, next_that
from tests.support import NatsServer, bus_client, run_collector, wait_for
from vigil import ctl
from vigil.bus import Bus
from vigil.errors import BusUnavailable
from vigil.messages import (
    ContainerStats,
    ContainerStatusChanged,
    DockerSourceChanged,
    DockerStatsSampled,
    ErrorCode,
    FollowLogs,
    LogBatch,
    LogsFollowed,
)
from vigil.operations import Logs
from vigil.subjects import ANY

HOST = "testhost"


async def lease(bus: Bus, container: str, *, lease_s: float, tail: int = 100) -> LogsFollowed:
    """Take a log lease as a gateway would, once the collector follows its engine."""
    request = FollowLogs(host=HOST, container=container, holder="test", lease_s=lease_s, tail=tail)
    deadline = time.monotonic() + 20
    while True:
        try:
            return await ctl.call(bus, Logs.FOLLOW, request, timeout_s=2)
        except (BusUnavailable, ctl.Refused) as exc:
            engine_not_ready = isinstance(exc, BusUnavailable) or exc.code is ErrorCode.UNAVAILABLE
            if not engine_not_ready or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


def follower_threads(container: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == f"vigil-logs-{container}"]


@pytest.mark.alone  # spins a CPU and measures it
@pytest.mark.parametrize("reader", ["cgroup", "api"])
async def test_busy_container_shows_cpu_near_100_and_idle_near_0_as_docker_stats_does(
    nats_server: NatsServer, prefix: str, containers: Containers, reader: str
) -> None:
    # 16 MB each in /dev/shm (charged to the container): cgroup v1's usage is exact to
    # 64 pages a CPU only (the kernel charges in batches), which is more than 10 % of a
    # bare shell's few hundred KB; two reads a second apart may differ that much.
    hold = "head -c 16000000 /dev/zero > /dev/shm/hold; "
    busy_id, busy = containers.run("busy", "sh", "-c", hold + "while :; do :; done")
    idle_id, idle = containers.run("idle", "sh", "-c", hold + "exec sleep 3600")

    def measured(batch: DockerStatsSampled) -> bool:
        ours = {c.id: c for c in batch.containers}
        return idle_id in ours and busy_id in ours and ours[busy_id].cpu_percent > 0

    async with (
        bus_client(nats_server, prefix) as bus,
        heard(bus, bus.subjects.docker_source(HOST), DockerSourceChanged) as sources,
        heard(bus, bus.subjects.docker_metrics(HOST), DockerStatsSampled) as batches,
        run_collector(docker_collector(nats_server, prefix, docker_stats_reader=reader)),
    ):
        source = await next_that(sources, lambda s: s.available, "the engine", 20)
        assert source.stats_reader == reader
        await next_that(batches, measured, "a batch with deltas of both containers", 20)

        # Over the same few seconds, as the machine is shared: the means of three
        # `docker stats --no-stream` and of the batches heard meanwhile.
        def three_samples() -> list[dict[str, tuple[float, float]]]:
            return [docker_stats_now(busy, idle) for _ in range(3)]

        reference = asyncio.ensure_future(asyncio.to_thread(three_samples))
        ours = []
        while not reference.done() or len(ours) < 2:
            ours.append(await next_that(batches, measured, "a batch", 10))
        docker_says = await reference

        def mean_ours(short: str, figure: str) -> float:
            values = [getattr(c, figure) for b in ours for c in b.containers if c.id == short]
            return sum(values) / len(values)

        def mean_docker(name: str, index: int) -> float:
            return sum(sample[name][index] for sample in docker_says) / len(docker_says)

        figures = {c.id: c for c in ours[-1].containers}
        assert figures[busy_id].name == busy
        assert figures[busy_id].image == containers.image
        assert figures[busy_id].state == "running"
        assert mean_ours(busy_id, "cpu_percent") > 50  # one busy shell on a shared machine
        assert abs(mean_ours(busy_id, "cpu_percent") - mean_docker(busy, 0)) <= 15
        assert mean_ours(idle_id, "cpu_percent") < 5
        assert abs(mean_ours(idle_id, "cpu_percent") - mean_docker(idle, 0)) <= 15
        for short, name in ((busy_id, busy), (idle_id, idle)):
            assert mean_ours(short, "memory_usage") == pytest.approx(mean_docker(name, 1), rel=0.10)
            assert figures[short].memory_limit > figures[short].memory_usage > 0
            assert figures[short].pids >= 1
            share = figures[short].memory_usage / figures[short].memory_limit * 100
            assert figures[short].memory_percent == pytest.approx(share, abs=0.01)
        # The CPU time counter (Prometheus' container_cpu_usage_seconds_total) grows as
        # the percentages say over the same batches.
        first, last = ours[0], ours[-1]
        elapsed_s = (last.time - first.time).total_seconds()
        for short in (busy_id, idle_id):
            before = next(c for c in first.containers if c.id == short).cpu_seconds
            after = next(c for c in last.containers if c.id == short).cpu_seconds
            assert before is not None
            assert after is not None
            assert after >= before
            share = (after - before) / elapsed_s * 100
            assert abs(share - mean_ours(short, "cpu_percent")) <= 15

        docker("rm", "-f", busy)  # stopped containers leave the next batch
        await next_that(
            batches,
            lambda b: busy_id not in {c.id for c in b.containers},
            "a batch without the removed container",
        )


async def test_start_stop_kill_and_oom_publish_the_status_sequence(
    nats_server: NatsServer, prefix: str, containers: Containers
) -> None:
    async with (
        bus_client(nats_server, prefix) as bus,
        heard(bus, bus.subjects.docker_status(HOST, ANY), ContainerStatusChanged) as statuses,
        heard(bus, bus.subjects.docker_metrics(HOST), DockerStatsSampled) as batches,
        run_collector(docker_collector(nats_server, prefix)),
    ):
        await next_that(batches, lambda b: True, "the Docker source to be following", 20)
        short, name = containers.create("life", "sleep", "3600")
        docker("start", name)
        docker("stop", "-t", "1", name)  # sleep ignores TERM as pid 1: killed after 1 s
        docker("start", name)
        docker("kill", name)
        oom_id, _ = containers.run(
            "oom",
            "sh",
            "-c",
            "x=0123456789; while :; do x=$x$x; done",
            options=("--memory=8m", "--memory-swap=8m"),
        )

        life: list[ContainerStatusChanged] = []
        while len([s for s in life if s.event == "die"]) < 2:
            life.append(await next_that(statuses, lambda s: s.id == short, "life events"))
        oom: list[ContainerStatusChanged] = []
        while not any(s.event == "die" for s in oom):
            oom.append(await next_that(statuses, lambda s: s.id == oom_id, "the OOM kill", 20))

    steps = [(s.event, s.status.value) for s in life if s.event != "kill"]
    assert steps == [
        ("create", "created"),
        ("start", "running"),
        ("die", "exited"),
        ("stop", "exited"),
        ("start", "running"),
        ("die", "exited"),
    ]
    assert any(s.event == "kill" for s in life)
    assert [s.exit_code for s in life if s.event == "die"] == [137, 137]
    assert {s.name for s in life} == {name}
    assert "oom" in [s.event for s in oom]
    assert oom[-1].status.value == "exited"
    assert oom[-1].exit_code == 137


async def test_health_pause_unpause_restart_and_removal_publish_their_states(
    nats_server: NatsServer, prefix: str, containers: Containers
) -> None:
    async with (
        bus_client(nats_server, prefix) as bus,
        heard(bus, bus.subjects.docker_status(HOST, ANY), ContainerStatusChanged) as statuses,
        heard(bus, bus.subjects.docker_metrics(HOST), DockerStatsSampled) as batches,
        run_collector(docker_collector(nats_server, prefix)),
    ):
        await next_that(batches, lambda b: True, "the Docker source to be following", 20)
        short, name = containers.run(
            "health", "sleep", "3600", options=("--health-cmd", "true", "--health-interval", "1s")
        )
        life: list[ContainerStatusChanged] = []
        while not any(s.event == "health_status" for s in life):
            life.append(await next_that(statuses, lambda s: s.id == short, "healthy", 20))
        docker("pause", name)
        docker("unpause", name)
        docker("restart", "-t", "0", name)
        while [s.event for s in life].count("health_status") < 2:  # healthy again
            life.append(await next_that(statuses, lambda s: s.id == short, "healthy again", 20))
        docker("rm", "-f", name)
        while life[-1].event != "destroy":
            life.append(await next_that(statuses, lambda s: s.id == short, "the removal"))

    steps = [(s.event, s.status.value, s.health) for s in life if s.event != "kill"]
    assert steps == [
        ("create", "created", None),
        ("start", "running", None),
        ("health_status", "running", "healthy"),
        ("pause", "paused", "healthy"),  # every message is whole: the last health stays
        ("unpause", "running", "healthy"),
        ("die", "exited", None),  # its healthcheck ends with it: no stale "healthy"
        ("stop", "exited", None),
        ("start", "running", None),
        ("restart", "running", None),
        ("health_status", "running", "healthy"),
        ("die", "exited", None),
        ("destroy", "removed", None),
    ]
    assert {s.name for s in life} == {name}


async def test_a_container_started_while_the_collector_runs_is_in_the_next_batch(
    nats_server: NatsServer, prefix: str, containers: Containers
) -> None:
    async with (
        bus_client(nats_server, prefix) as bus,
        heard(bus, bus.subjects.docker_metrics(HOST), DockerStatsSampled) as batches,
        run_collector(docker_collector(nats_server, prefix)),
    ):
        await next_that(batches, lambda b: True, "the Docker source to be following", 20)
        short, name = containers.run("late", "sleep", "3600")
        started = datetime.now(UTC)
        # The first batch out after `docker run` may have listed before it; the one after
        # that listed once the first was out, so it has the container.
        await next_that(batches, lambda b: b.time > started, "a batch", 10)
        following = {c.id: c for c in (await next_that(batches, lambda b: True, "next")).containers}
        assert short in following
        assert (following[short].name, following[short].state) == (name, "running")


def docker_io_now(name: str) -> tuple[float, float, float, float]:
    """`docker stats --no-stream`: block read and write, network rx and tx, in bytes."""
    line = docker("stats", "--no-stream", "--format", "{{.BlockIO}} / {{.NetIO}}", name)
    figures = []
    for figure in line.strip().split(" / "):
        number, unit = re.fullmatch(r"([\d.]+)\s*([A-Za-z]+)", figure.strip()).groups()  # type: ignore[union-attr]
        figures.append(float(number) * _UNITS[unit])
    block_read, block_write, rx, tx = figures
    return block_read, block_write, rx, tx


async def test_block_and_network_io_are_counted_as_docker_stats_counts_them(
    nats_server: NatsServer, prefix: str, containers: Containers
) -> None:
    # 20 MB written to the container's filesystem, then 40 pings of 1000 bytes to the
    # bridge's gateway over 8 s (a real interface, unlike loopback), then quiet.
    script = (
        "dd if=/dev/zero of=/tmp/blob bs=1M count=20 conv=fsync 2>/dev/null; "
        "gw=$(ip route | awk '/default/ {print $3}'); "
        "ping -c 40 -i 0.2 -s 1000 $gw >/dev/null; echo done; sleep 3600"
    )
    short, name = containers.run("io", "sh", "-c", script)

    def ours(batch: DockerStatsSampled) -> ContainerStats | None:
        return next((c for c in batch.containers if c.id == short), None)

    async with (
        bus_client(nats_server, prefix) as bus,
        heard(bus, bus.subjects.docker_metrics(HOST), DockerStatsSampled) as batches,
        run_collector(docker_collector(nats_server, prefix)),
    ):
        pinging = await next_that(
            batches, lambda b: (c := ours(b)) is not None and c.network_tx_per_s > 1000, "pings", 20
        )
        await wait_for(lambda: "done" in docker("logs", name), "the pings to end", 20)
        after = datetime.now(UTC)
        final = ours(
            await next_that(batches, lambda b: b.time > after and ours(b) is not None, "a batch")
        )
        block_read, block_write, rx, tx = await asyncio.to_thread(docker_io_now, name)

    during = ours(pinging)
    assert during is not None
    assert final is not None
    # about 1042 bytes (the frame) each way five times a second
    assert during.network_tx_per_s < 20_000
    assert 1_000 < during.network_rx_per_s < 20_000
    assert final.network_tx >= 40 * 1042
    assert final.network_rx >= 40 * 1042
    assert final.network_tx == pytest.approx(tx, rel=0.05)
    assert final.network_rx == pytest.approx(rx, rel=0.05)
    # The 20 MB show as docker shows them, where the kernel counts block I/O per cgroup
    # (a kernel that counts none, as some VMs' do, gives 0 B in both).
    assert final.block_write == pytest.approx(block_write, rel=0.05, abs=1000)
    assert final.block_read == pytest.approx(block_read, rel=0.05, abs=1000)


async def test_current_state_of_every_container_is_published_at_start(
    nats_server: NatsServer, prefix: str, containers: Containers
) -> None:
    running, _ = containers.run("running", "sleep", "3600")
    exited, _ = containers.run("exited", "sh", "-c", "exit 3")
    docker("wait", exited)
    async with (
        bus_client(nats_server, prefix) as bus,
        heard(bus, bus.subjects.docker_status(HOST, ANY), ContainerStatusChanged) as statuses,
        run_collector(docker_collector(nats_server, prefix)),
    ):
        seen = {}
        while {running, exited} - set(seen):
            status = await next_that(statuses, lambda s: s.event == "snapshot", "snapshot", 20)
            seen[status.id] = status
    assert seen[running].status.value == "running"
    assert (seen[exited].status.value, seen[exited].exit_code) == ("exited", 3)


async def test_a_container_printing_numbered_lines_delivers_every_line_in_order(
    nats_server: NatsServer, prefix: str, containers: Containers
) -> None:
    count = 20_000
    short, name = containers.run(
        "numbers",
        "sh",
        "-c",
        f"while [ ! -e /tmp/go ]; do sleep 0.05; done; seq 1 {count}; sleep 3600",
    )
    async with (
        bus_client(nats_server, prefix) as bus,
        run_collector(docker_collector(nats_server, prefix)),
    ):
        followed = await lease(bus, short, lease_s=60, tail=0)
        assert followed.following
        docker("exec", name, "touch", "/tmp/go")
        subject = bus.subjects.docker_logs(HOST, short)
        async with heard(bus, subject, LogBatch, stream=True) as batches:
            lines = []
            while len(lines) < count:
                batch = await next_that(batches, lambda b: True, f"line {len(lines) + 1}", 20)
                lines.extend(batch.lines)
    assert [line.text for line in lines] == [str(n) for n in range(1, count + 1)]
    assert {line.stream for line in lines} == {"stdout"}
    times = [line.time for line in lines]
    assert times == sorted(times)


async def test_follower_ends_when_its_lease_lapses(
    nats_server: NatsServer, prefix: str, containers: Containers
) -> None:
    short, _ = containers.run("ticker", "sh", "-c", "while :; do echo tick; sleep 0.1; done")
    async with (
        bus_client(nats_server, prefix) as bus,
        heard(bus, bus.subjects.docker_logs(HOST, short), LogBatch) as batches,
        run_collector(docker_collector(nats_server, prefix)),
    ):
        await lease(bus, short, lease_s=1.5, tail=1)
        assert follower_threads(short), "a reader thread follows the container"
        await next_that(batches, lambda b: True, "lines while the lease lives")
        await wait_for(lambda: not follower_threads(short), "the reader thread to end", 8)


async def test_stderr_is_kept_apart_secrets_are_redacted_and_a_huge_line_is_cut(
    nats_server: NatsServer, prefix: str, containers: Containers
) -> None:
    script = "; ".join(
        [
            "echo 'db at postgres://app:hunter2@db:5432/orders'",
            "echo 'Authorization: Bearer abc.def.ghijklmnopqrst' >&2",
            "echo 'key AKIAIOSFODNN7EXAMPLE in use'",
            "echo 'token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlX2hlcmU'",
            "echo '-----BEGIN PRIVATE KEY-----'",
            "echo 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASC'",
            "echo '-----END PRIVATE KEY-----'",
            "head -c 100000 /dev/zero | tr '\\0' x; echo",
            "echo 'custom secret=swordfish'",
            "echo done",
            "sleep 3600",
        ]
    )
    short, name = containers.run("secrets", "sh", "-c", script)
    await wait_for(lambda: "done" in docker("logs", name), "the container to print")
    settings = docker_collector(
        nats_server, prefix, redact_patterns=[r"(?<=secret=)\w+"], logs_max_line_bytes=16_384
    )
    async with bus_client(nats_server, prefix) as bus, run_collector(settings):
        await lease(bus, short, lease_s=30, tail=100)  # the collector has made the stream
        subject = bus.subjects.docker_logs(HOST, short)
        async with heard(bus, subject, LogBatch, stream=True) as batches:
            lines = []
            while not lines or lines[-1].text != "done":
                lines.extend((await next_that(batches, lambda b: True, "the lines", 30)).lines)

    texts = [line.text for line in lines]
    everything = "\n".join(texts)
    for secret in ("hunter2", "ghijklmnop", "AKIAIOSFODNN7", "eyJzdWIi", "MIIEvQ", "swordfish"):
        assert secret not in everything
    assert "db at postgres://app:[REDACTED]@db:5432/orders" in texts
    assert [line.stream for line in lines if "Bearer" in line.text] == ["stderr"]
    assert "custom secret=[REDACTED]" in texts
    huge = [text for text in texts if text.startswith("xxxx")]
    assert huge == ["x" * 16_384 + " …[line cut: 83616 more bytes]"], [
        (len(t), t[:20], t[-40:]) for t in texts if len(t) > 30
    ]


async def test_engine_down_is_reported_and_the_collector_recovers_by_itself(
    nats_server: NatsServer, prefix: str, second_engine: SecondEngine
) -> None:
    await asyncio.to_thread(second_engine.start)
    settings = docker_collector(
        nats_server, prefix, docker_url=second_engine.url, docker_retry_max_s=1.0
    )
    async with (
        bus_client(nats_server, prefix) as bus,
        heard(bus, bus.subjects.docker_source(HOST), DockerSourceChanged) as sources,
        heard(bus, bus.subjects.docker_metrics(HOST), DockerStatsSampled) as batches,
        run_collector(settings),
    ):
        up = await next_that(sources, lambda s: s.available, "the engine reported up", 20)
        assert up.engine_version
        await next_that(batches, lambda b: True, "stats while it is up")

        await asyncio.to_thread(second_engine.stop)
        down = await next_that(sources, lambda s: not s.available, "the engine reported down", 30)
        assert down.reason

        await asyncio.to_thread(second_engine.start)
        back = await next_that(sources, lambda s: s.available, "the engine reported back", 60)
        await next_that(batches, lambda b: b.time > back.time, "stats again after recovery", 10)


async def test_a_tty_container_delivers_its_lines_in_order(
    nats_server: NatsServer, prefix: str, containers: Containers
) -> None:
    short, name = containers.run(
        "tty",
        "sh",
        "-c",
        "while [ ! -e /tmp/go ]; do sleep 0.05; done; seq 1 3000; sleep 3600",
        options=("-t",),
    )
    async with (
        bus_client(nats_server, prefix) as bus,
        run_collector(docker_collector(nats_server, prefix)),
    ):
        await lease(bus, short, lease_s=60, tail=0)
        docker("exec", name, "touch", "/tmp/go")
        subject = bus.subjects.docker_logs(HOST, short)
        async with heard(bus, subject, LogBatch, stream=True) as batches:
            lines = []
            while len(lines) < 3000:
                lines.extend((await next_that(batches, lambda b: True, "tty lines", 20)).lines)
    assert [line.text.rstrip("\r") for line in lines] == [str(n) for n in range(1, 3001)]
