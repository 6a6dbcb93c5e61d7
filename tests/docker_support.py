"""Helpers of the Docker tests: the collector and gateways of the `docker_stack`
fixture, bus messages into a queue, waiting for one that fits, waiting for the gateway
to know a container, the batches kept of a source until a line, a container announced
on the bus as its collector would (for what a real engine cannot do: a clock that lags,
a fleet), and the figures `docker stats --no-stream` shows."""

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy
from websockets.asyncio.client import connect

from tests.docker_engine import docker
from tests.support import NatsServer, collector_settings_for, run_collector, serve_gateway
from vigil.bus import Bus
from vigil.messages import (
    ContainerState,
    ContainerStatusChanged,
    DockerSourceChanged,
    KeptLogBatch,
    KeptPodLogBatch,
)
from vigil.model import Message
from vigil_collector.app import Collector
from vigil_collector.settings import CollectorSettings
from vigil_gateway.settings import GatewaySettings

M = TypeVar("M", bound=Message)


def docker_collector(
    nats: NatsServer, prefix: str, host: str = "testhost", **overrides: object
) -> CollectorSettings:
    """The collector of the Docker tests: the engine's stats every second, host metrics
    every 5 s."""
    values: dict[str, object] = {"docker": "on", "docker_interval_s": 1.0, "interval_s": 5.0}
    return collector_settings_for(nats, prefix, host=host, **(values | overrides))


@dataclass(frozen=True)
class DockerStack:
    """The collector of the local engine and gateways on one NATS and prefix (the
    `docker_stack` fixture), each started where the test's story needs it."""

    nats: NatsServer
    prefix: str
    gateway_settings: GatewaySettings
    token: str
    """The admin's access token."""

    def collector(
        self, host: str = "testhost"
    ) -> contextlib.AbstractAsyncContextManager[Collector]:
        """The Docker collector of `host` (as `docker_collector`), running until exit."""
        return run_collector(docker_collector(self.nats, self.prefix, host))

    def gateway(self, **changes: object) -> contextlib.AbstractAsyncContextManager[str]:
        """A gateway with the test's settings and `changes`; yields its address."""
        return serve_gateway(self.gateway_settings.model_copy(update=changes))

    @contextlib.asynccontextmanager
    async def up(self, **changes: object) -> AsyncIterator[str]:
        """The collector, then a gateway (with `changes`); yields the gateway's address."""
        async with self.collector(), self.gateway(**changes) as address:
            yield address

    def socket(self, address: str, path: str = "/ws", **options: Any) -> connect:
        """A WebSocket to `path` on the gateway at `address`, with the admin's token."""
        joiner = "&" if "?" in path else "?"
        return connect(f"ws://{address}{path}{joiner}token={self.token}", **options)


@contextlib.asynccontextmanager
async def heard(
    bus: Bus, subject: str, model: type[M], *, stream: bool = False
) -> AsyncIterator[asyncio.Queue[M]]:
    """Every `model` published on `subject` from now (core NATS), or with `stream`
    everything its JetStream stream holds, from the first."""
    queue: asyncio.Queue[M] = asyncio.Queue(maxsize=100_000)

    async def deliver(msg: Msg) -> None:
        queue.put_nowait(model.model_validate_json(msg.data))

    if stream:
        subscription = await bus.js.subscribe(
            subject, cb=deliver, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL
        )
    else:
        subscription = await bus.nc.subscribe(subject, cb=deliver)
    try:
        yield queue
    finally:
        await subscription.unsubscribe()


async def next_that(
    queue: asyncio.Queue[M], matches: Callable[[M], bool], what: str, timeout: float = 10.0
) -> M:
    """The first message that `matches`, skipping others, within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            message = await asyncio.wait_for(queue.get(), left)
        except TimeoutError:
            break
        if matches(message):
            return message
    raise AssertionError(f"timed out waiting for {what}")


Kept = TypeVar("Kept", KeptLogBatch, KeptPodLogBatch)


async def kept_until_line(bus: Bus, subject: str, model: type[Kept], last: str) -> list[Kept]:
    """Every batch LOGS_KEPT holds on `subject`, from the first, until one holds the
    line `last`."""
    batches: list[Kept] = []
    async with heard(bus, subject, model, stream=True) as queue:
        while not any(text == last for b in batches for _, text in b.lines):
            batches.append(await next_that(queue, lambda b: True, f"the kept line {last!r}", 30))
    return batches


_UNITS = {"B": 1, "kB": 1e3, "KiB": 1024, "MB": 1e6, "MiB": 1024**2, "GB": 1e9, "GiB": 1024**3}


def docker_stats_now(*names: str) -> dict[str, tuple[float, float]]:
    """`docker stats --no-stream`: CPU % and memory bytes by container name."""
    out = docker("stats", "--no-stream", "--format", "{{.Name}}|{{.CPUPerc}}|{{.MemUsage}}", *names)
    figures = {}
    for line in out.splitlines():
        name, cpu, memory = line.split("|")
        used = memory.split("/")[0].strip()
        number, unit = re.fullmatch(r"([\d.]+)\s*([A-Za-z]+)", used).groups()  # type: ignore[union-attr]
        figures[name] = (float(cpu.rstrip("%")), float(number) * _UNITS[unit])
    return figures


async def known(http: httpx.AsyncClient, token: str, container: str) -> None:
    """Until the gateway knows the container (its first stats batch came)."""
    for _ in range(60):
        listed = await http.get("/api/docker/containers", params={"token": token})
        if container in json.dumps(listed.json()):
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"the gateway never listed {container}")


async def announce_container(
    bus: Bus, host: str, container: str, name: str, labels: dict[str, str] | None = None
) -> None:
    """A running container `container` (a short id) on `host`, as its collector says so
    (having said first that the host's engine answers: the gateway knows the host then)."""
    now = datetime.now(UTC)
    engine = DockerSourceChanged(host=host, available=True, reason="", time=now)
    await bus.publish(bus.subjects.docker_source(host), engine)
    status = ContainerStatusChanged(
        host=host,
        id=container,
        name=name,
        image="test",
        status=ContainerState.RUNNING,
        event="snapshot",
        time=now,
        labels=labels or {},
    )
    await bus.publish(bus.subjects.docker_status(host, container), status)
