"""The collector's filtering proxy in front of the Docker socket (deploy/docker-proxy),
its image run against this machine's engine: the real collector, pointed at it, still
sees containers, their stats, their events and their logs (followed and paged); every
write, and every read the collector does not make (exec, archive, image export, ...), is
refused with 403 and has no effect."""

import asyncio
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import NamedTuple

import httpx
import pytest

from tests.compose_stack import build_images
from tests.conftest import collector_settings_for
from tests.docker_engine import Containers, busybox_image, docker, ensure_dockerd
from tests.docker_support import heard, next_that
from tests.raw_http import raw_request
from tests.support import NatsServer, bus_client, free_port, run_collector
from vigil import ctl
from vigil.bus import Bus
from vigil.errors import BusUnavailable
from vigil.messages import (
    ContainerStatusChanged,
    DockerStatsSampled,
    ErrorCode,
    FollowLogs,
    LogBatch,
    ReadLogs,
)
from vigil.operations import Logs
from vigil.subjects import ANY

pytestmark = pytest.mark.timeout(600)  # builds the proxy's image (and the base) when cold

HOST = "proxied"
POOL_TEST_CONTAINERS = 12
IMAGE = "{}/docker-proxy:{}".format(
    os.environ.get("VIGIL_IMAGE_PREFIX", "vigil"), os.environ.get("VIGIL_TAG", "latest")
)


class Proxy(NamedTuple):
    port: int  # on 127.0.0.1
    container: str


@pytest.fixture(scope="module")
def proxy() -> Iterator[Proxy]:
    """The proxy's image, run with this machine's socket."""
    ensure_dockerd()
    build_images("docker-proxy")
    port = free_port()
    socket_group = str(os.stat("/var/run/docker.sock").st_gid)
    container = docker(
        "run", "--detach", "--group-add", socket_group,
        "--volume", "/var/run/docker.sock:/var/run/docker.sock",
        "--publish", f"127.0.0.1:{port}:2375", IMAGE,
    ).strip()  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not pinged(port):
            assert time.monotonic() < deadline, f"no answer:\n{docker('logs', container)}"
            time.sleep(0.1)
        yield Proxy(port, container)
    finally:
        docker("rm", "--force", container)


@pytest.fixture(scope="module")
def target() -> Iterator[tuple[Containers, str, str]]:
    """A running container for the requests to aim at: its maker, short id and name."""
    made = Containers(f"proxy{uuid.uuid4().hex[:8]}", busybox_image())
    short, name = made.run("target", "sleep", "600")
    yield made, short, name
    made.remove_all()


def pinged(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/_ping", timeout=2).text == "OK"
    except httpx.HTTPError:
        return False


async def follow(bus: Bus, container: str) -> None:
    """Take a log lease as a gateway would, once the collector follows its engine."""
    request = FollowLogs(host=HOST, container=container, holder="test", lease_s=30, tail=100)
    deadline = time.monotonic() + 20
    while True:
        try:
            await ctl.call(bus, Logs.FOLLOW, request, timeout_s=2)
            return
        except (BusUnavailable, ctl.Refused) as exc:
            engine_not_ready = isinstance(exc, BusUnavailable) or exc.code is ErrorCode.UNAVAILABLE
            if not engine_not_ready or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


async def test_the_collector_through_the_proxy_sees_stats_events_and_logs(
    proxy: Proxy,
    nats_server: NatsServer,
    prefix: str,
    containers: Containers,
    admin_token: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # More running containers than requests' default pool of 10 connections: the stats
    # calls of a batch run at once, and each should find a connection kept for it.
    for n in range(POOL_TEST_CONTAINERS):
        containers.run(f"idle{n}", "sleep", "600")
    settings = collector_settings_for(
        nats_server,
        prefix,
        host=HOST,
        docker="on",
        docker_url=f"tcp://127.0.0.1:{proxy.port}",
        docker_interval_s=1.0,
        interval_s=5.0,
    )
    async with (
        bus_client(nats_server, prefix) as bus,
        heard(bus, bus.subjects.docker_status(HOST, ANY), ContainerStatusChanged) as statuses,
        heard(bus, bus.subjects.docker_metrics(HOST), DockerStatsSampled) as batches,
        run_collector(settings),
    ):
        await next_that(batches, lambda b: True, "the collector to follow the engine", 20)
        # Started after the collector subscribed: its start comes through the event stream.
        script = "echo first; echo second; while :; do echo tick; sleep 0.2; done"
        short, name = containers.run("ticker", "sh", "-c", script)
        started = await next_that(statuses, lambda s: s.id == short, "its start event", 20)
        assert (started.event, started.name) == ("create", name)
        await next_that(statuses, lambda s: s.id == short and s.event == "start", "start")

        batch = await next_that(
            batches, lambda b: short in {c.id for c in b.containers}, "its stats", 20
        )
        [stats] = [c for c in batch.containers if c.id == short]
        assert stats.memory_usage > 0
        assert stats.pids >= 1

        async with heard(bus, bus.subjects.docker_logs(HOST, short), LogBatch) as lines:
            await follow(bus, short)
            texts: list[str] = []
            while texts.count("tick") < 3:  # followed: new lines keep coming
                texts += [
                    line.text for line in (await next_that(lines, lambda b: True, "logs")).lines
                ]
        assert texts[:2] == ["first", "second"]

        read = ReadLogs(host=HOST, container=short, limit=5)
        page = await ctl.call(bus, Logs.PAGE, read, token=admin_token)
        assert len(page.lines) == 5  # scroll-back reads the engine too

        docker("kill", name)
        died = await next_that(statuses, lambda s: s.id == short and s.event == "die", "die", 20)
        assert died.exit_code == 137

    discarded = [r for r in caplog.records if "Connection pool is full" in r.getMessage()]
    assert discarded == []


# What a compromised collector would try: writes, and reads that run code or copy data out.
REFUSED = [
    ("POST", "/containers/create?name={name}", b'{"Image": "{image}", "Cmd": ["true"]}'),
    ("POST", "/v1.41/containers/create?name={name}", b'{"Image": "{image}", "Cmd": ["true"]}'),
    ("POST", "/containers/{id}/exec", b'{"Cmd": ["id"], "AttachStdout": true}'),
    ("POST", "/containers/{id}/stop", b""),
    ("POST", "/containers/{id}/json", b""),  # an allowed path, a wrong method
    ("DELETE", "/containers/{id}?force=1", b""),
    ("PUT", "/containers/{id}/archive?path=/tmp", b""),
    ("GET", "/containers/{id}/archive?path=/etc", b""),
    ("GET", "/containers/{id}/export", b""),
    ("GET", "/containers/{id}/attach/ws?stream=1", b""),
    ("GET", "/containers/{id}/top", b""),
    ("GET", "/images/{image}/get", b""),
    ("GET", "/v1.41/images/get?names={image}", b""),
    ("GET", "/images/json", b""),
    ("GET", "/info", b""),
    ("GET", "/secrets", b""),
    ("POST", "/build", b""),
    ("POST", "/session", b""),
    (
        "POST",
        "/containers/create?name={name}",
        b'{"Image": "{image}", "Env": ["' + b"x" * 100_000 + b'"]}',
    ),
    # paths that a naive filter would pass: dot segments, encoded slashes, a bad prefix
    ("GET", "/containers/{id}/json/../export", b""),
    ("GET", "/containers/{id}/logs/..%2F..%2F..%2Fimages%2F{image}%2Fget", b""),
    ("GET", "/containers/{id}%2Fexport", b""),
    ("GET", "/v1.41/../containers/{id}/export", b""),
    ("GET", "/vx/containers/json", b""),
]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    REFUSED,
    ids=[f"{m} {p}" + (" (a large body)" if len(b) > 1024 else "") for m, p, b in REFUSED],
)
def test_writes_and_reads_the_collector_does_not_make_are_refused(
    proxy: Proxy, target: tuple[Containers, str, str], method: str, path: str, body: bytes
) -> None:
    containers, short, _ = target
    created = containers.name("created")
    fill = {"{id}": short, "{name}": created, "{image}": containers.image}
    for key, value in fill.items():
        path = path.replace(key, value)
        body = body.replace(key.encode(), value.encode())
    status, answer = raw_request(proxy.port, method, path, body)
    assert status == 403, (status, answer[:300])
    assert b"refused by the docker-proxy" in answer
    assert docker("ps", "--all", "--quiet", "--filter", f"name={created}") == ""
    assert docker("inspect", "--format", "{{.State.Running}}", short).strip() == "true"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/_ping"),
        ("HEAD", "/_ping"),
        ("GET", "/version"),
        ("GET", "/v1.41/version"),
        ("GET", "/containers/json?all=1"),
        ("GET", "/v1.41/containers/{id}/json"),
        ("GET", "/containers/{name}/json"),
        ("GET", "/containers/{id}/stats?stream=0&one-shot=1"),
        ("GET", "/v1.41/containers/{id}/logs?stdout=1&tail=1"),
        ("GET", "/events?until=1"),
    ],
)
def test_the_reads_the_collector_makes_pass_with_or_without_the_version_prefix(
    proxy: Proxy, target: tuple[Containers, str, str], method: str, path: str
) -> None:
    _, short, name = target
    status, answer = raw_request(
        proxy.port, method, path.replace("{id}", short).replace("{name}", name)
    )
    assert status == 200, answer[:300]


def test_the_proxy_logs_what_it_refused_and_not_the_reads(
    proxy: Proxy, target: tuple[Containers, str, str]
) -> None:
    _, short, _ = target
    assert raw_request(proxy.port, "GET", f"/containers/{short}/json")[0] == 200
    assert raw_request(proxy.port, "GET", f"/containers/{short}/export")[0] == 403
    logged = subprocess.run(
        ["docker", "logs", proxy.container], capture_output=True, text=True, check=True
    )
    lines = (logged.stdout + logged.stderr).splitlines()
    assert any(f'"GET /containers/{short}/export" 403' in line for line in lines), lines[-5:]
    assert not any(f'"GET /containers/{short}/json" 200' in line for line in lines)
