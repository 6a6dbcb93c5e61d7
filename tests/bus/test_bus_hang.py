"""A bus that hangs (nats-server SIGSTOPped: its sockets stay open, nothing answers) is
noticed within seconds by every service and told to every client; when it answers
again every stream goes on from where it was, with nothing missing and nothing twice.

Real parts: a nats-server of the test's own, the auth service, a collector following
a real container's numbered log lines and sampling host metrics, a deployer running a
real deploy whose health wait spans the freeze, a gateway on uvicorn, each service's
`/healthz` probe, and a WebSocket client on `/ws` subscribed to a channel of each
kind: stream (the logs), state (host metrics) and journal (the deploy).
"""

import asyncio
import contextlib
import json
import signal
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import nats.errors as nats_errors
import pytest
from websockets.asyncio.client import ClientConnection

from tests.deploy_support import Deployment
from tests.docker_engine import Containers, docker
from tests.docker_support import DockerStack, known
from tests.support import NatsServer, bus_client, send
from vigil.bus import Bus
from vigil.lifecycle import stop_task
from vigil.messages import DeployEvent
from vigil.probe import Probe, ProbeSettings
from vigil_auth.app import AuthService
from vigil_deployer.app import DeployerService

pytestmark = pytest.mark.timeout(150)

FREEZE_S = 15.0
# Pings every second, three unanswered: lost 3-4 s after the freeze (and a little more
# for the event loops of a busy machine to get there).
NOTICED_WITHIN_S = 6.0
METRICS_INTERVAL_S = 5.0  # stale by age 10-15 s into the freeze: a mark sooner is the bus's
# A container that counts, 20 lines a second, once /tmp/go exists, and says `end` once
# /tmp/stop does.
COUNTER = (
    "while [ ! -e /tmp/go ]; do sleep 0.05; done; i=0; "
    "while [ ! -e /tmp/stop ]; do i=$((i+1)); echo $i; sleep 0.05; done; echo end; sleep 3600"
)


@dataclass
class Heard:
    """Every frame a socket received, in order, with when (monotonic) it came."""

    frames: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def read(self, ws: ClientConnection) -> None:
        async for text in ws:
            self.frames.append((time.monotonic(), json.loads(text)))
            self.changed.set()

    async def first(
        self, matches: Callable[[dict[str, Any]], bool], what: str, timeout: float, after: int = 0
    ) -> tuple[float, dict[str, Any]]:
        """The first frame from index `after` on that `matches`, and when it came."""
        deadline = time.monotonic() + timeout
        seen = after
        while True:
            for at, frame in self.frames[seen:]:
                if matches(frame):
                    return at, frame
            seen = max(seen, len(self.frames))
            left = deadline - time.monotonic()
            if left <= 0:
                tail = [f["type"] for _, f in self.frames[-12:]]
                raise AssertionError(f"no {what} within {timeout} s (the last frames: {tail})")
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), left)

    def of(self, channel: str) -> list[dict[str, Any]]:
        return [frame for _, frame in self.frames if frame.get("channel") == channel]


@contextlib.asynccontextmanager
async def listening(ws: ClientConnection) -> AsyncIterator[Heard]:
    heard = Heard()
    reader = asyncio.create_task(heard.read(ws))
    try:
        yield heard
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


@contextlib.contextmanager
def frozen(nats: NatsServer) -> Iterator[float]:
    """nats-server stopped (SIGSTOP) for the block, continued (SIGCONT) after it, also
    when the block fails (the fixture could not stop it otherwise); yields when."""
    assert nats.process is not None
    nats.process.send_signal(signal.SIGSTOP)
    try:
        yield time.monotonic()
    finally:
        nats.process.send_signal(signal.SIGCONT)


async def answers(http: httpx.AsyncClient, url: str, status: int, timeout: float) -> float:
    """When (monotonic) `url` first answers `status`, asked every 0.1 s."""
    deadline = time.monotonic() + timeout
    while (answered := (await http.get(url)).status_code) != status:
        assert time.monotonic() < deadline, f"{url} still answered {answered} after {timeout} s"
        await asyncio.sleep(0.1)
    return time.monotonic()


def lines_of(frames: list[dict[str, Any]]) -> list[str]:
    """The log lines of a channel's updates, in the order received."""
    return [
        line["text"]
        for frame in frames
        if frame["type"] == "update"
        for line in frame["data"]["lines"]
    ]


def differences(received: list[str], written: list[str]) -> str:
    """What is missing and what came twice, for the failure message."""
    missing = [line for line in written if line not in set(received)]
    twice = sorted({line for line in received if received.count(line) > 1}, key=written.index)
    return f"{len(received)} lines of {len(written)}; missing {missing[:60]}; twice {twice[:60]}"


async def journal_in_stream(bus: Bus, deploy_id: str) -> list[tuple[int, DeployEvent]]:
    """What the deploy's journal stream holds: (sequence, event), in order."""
    js = bus.js
    subject = bus.subjects.deploy_events(deploy_id)
    stream = await js.find_stream_name_by_subject(subject)
    count = ((await js.stream_info(stream, subjects_filter=subject)).state.subjects or {})[subject]
    reader = await js.subscribe(subject, stream=stream, ordered_consumer=True)
    held: list[tuple[int, DeployEvent]] = []
    try:
        while len(held) < count:
            msg = await reader.next_msg(timeout=5)
            held.append((msg.metadata.sequence.stream, DeployEvent.model_validate_json(msg.data)))
    finally:
        await reader.unsubscribe()
    return held


@dataclass
class Probes:
    """Each service's `/healthz`, as its process serves it (`vigil.probe`)."""

    urls: dict[str, str]

    async def all_answer(self, http: httpx.AsyncClient, status: int, timeout: float) -> float:
        """When the last of them answered `status`."""
        return max([await answers(http, url, status, timeout) for url in self.urls.values()])


@contextlib.asynccontextmanager
async def probes(**healthy: Callable[[], bool]) -> AsyncIterator[Probes]:
    async with contextlib.AsyncExitStack() as stack:
        urls = {}
        for service, ready in healthy.items():
            probe = await stack.enter_async_context(
                Probe(ProbeSettings(probe_port=0), service, ready)
            )
            urls[service] = f"http://127.0.0.1:{probe.port}/healthz"
        yield Probes(urls)


@pytest.fixture
def nats_server(own_nats_server: NatsServer) -> NatsServer:
    """The services of these tests run on a nats-server of the test's own: it freezes it."""
    return own_nats_server


async def test_a_hung_bus_is_told_within_seconds_and_loses_or_doubles_nothing(
    nats_server: NatsServer,
    containers: Containers,
    auth_service: AuthService,
    deployer: DeployerService,
    deployment: Deployment,
    docker_stack: DockerStack,
) -> None:
    short, name = containers.run("counter", "sh", "-c", COUNTER)
    async with (
        docker_stack.collector() as collector,
        probes(
            auth=lambda: auth_service.healthy,
            collector=lambda: collector.healthy,
            deployer=lambda: deployer.healthy,
        ) as services,
        # Log leases shorter than the freeze, as the default 15 s was in the 40 s freeze
        # of the report: the collector's follower stops while the bus is away and a new
        # one starts after it, which must go on after the last line that reached the stream.
        docker_stack.gateway(log_lease_s=6) as address,
        httpx.AsyncClient(base_url=f"http://{address}", timeout=10) as http,
    ):
        await known(http, docker_stack.token, short)
        async with docker_stack.socket(address) as ws, listening(ws) as heard:
            await _across_a_freeze(nats_server, ws, heard, http, services, deployment, name, short)


async def _across_a_freeze(
    nats: NatsServer,
    ws: ClientConnection,
    heard: Heard,
    http: httpx.AsyncClient,
    services: Probes,
    deployment: Deployment,
    name: str,
    short: str,
) -> None:
    # A deploy that waits (`running`) past the freeze: its journal goes on after it.
    spec = deployment.spec(
        "hung", health={"kind": "running", "seconds": FREEZE_S + 4}, command=["sleep", "3600"]
    )
    record = await deployment.start(spec)
    logs = f"docker.logs?container={short}&host=testhost"
    metrics = "host.metrics?host=testhost"
    journal = f"deploy?id={record.id}"
    await send(ws, {"type": "subscribe", "channel": "docker.logs", "params": {"container": short}})
    await send(ws, {"type": "subscribe", "channel": "host.metrics", "params": {"host": "testhost"}})
    await send(ws, {"type": "subscribe", "channel": "deploy", "params": {"id": record.id}})
    await heard.first(
        lambda f: f.get("channel") == journal and f.get("data", {}).get("step") == "health",
        "the deploy's health wait",
        timeout=30,
    )
    docker("exec", name, "touch", "/tmp/go")
    await heard.first(lambda f: f.get("channel") == logs and f["type"] == "update", "lines", 15)
    await heard.first(lambda f: f.get("channel") == metrics and f["type"] == "update", "metrics", 5)

    before = len(heard.frames)
    with frozen(nats) as froze:
        gateway_503 = await answers(http, "/readyz", 503, NOTICED_WITHIN_S) - froze
        told_at, _ = await heard.first(
            lambda f: f["type"] == "error" and f["code"] == "UNAVAILABLE",
            "UNAVAILABLE",
            NOTICED_WITHIN_S,
            after=before,
        )
        stale_at, stale = await heard.first(
            lambda f: f["type"] == "stale" and f["channel"] == metrics,
            "stale host metrics",
            NOTICED_WITHIN_S,
            after=before,
        )
        services_503 = await services.all_answer(http, 503, NOTICED_WITHIN_S) - froze
        print(
            f"frozen: gateway /readyz 503 after {gateway_503:.2f} s, the services' /healthz "
            f"503 after {services_503:.2f} s at most, UNAVAILABLE after {told_at - froze:.2f} s, "
            f"stale after {stale_at - froze:.2f} s"
        )
        assert stale["reason"] == "the message bus is unavailable"
        await asyncio.sleep(froze + FREEZE_S - time.monotonic())  # the freeze itself
    thawed, thawed_at = time.monotonic(), time.time()

    gateway_200 = await answers(http, "/readyz", 200, 10) - thawed
    services_200 = await services.all_answer(http, 200, 10) - thawed
    fresh_at, _ = await heard.first(
        lambda f: f["type"] == "fresh" and f["channel"] == metrics, "fresh", 10, after=before
    )
    sampled_at, _ = await heard.first(
        lambda f: (
            f.get("channel") == metrics
            and f["type"] == "update"
            and datetime.fromisoformat(f["data"]["time"]).timestamp() > thawed_at
        ),
        "host metrics sampled after the thaw",
        10,
    )
    print(
        f"thawed: gateway /readyz 200 after {gateway_200:.2f} s, the services' /healthz 200 "
        f"after {services_200:.2f} s, fresh after {fresh_at - thawed:.2f} s, a new sample "
        f"after {sampled_at - thawed:.2f} s"
    )
    await heard.first(
        lambda f: f.get("channel") == journal and f.get("data", {}).get("step") == "done",
        "the deploy's end",
        timeout=60,
    )
    docker("exec", name, "touch", "/tmp/stop")
    await heard.first(
        lambda f: f.get("channel") == logs and "end" in lines_of([f]), "the last line", 30
    )

    # The logs: every line the container wrote, once, in order, and nothing said
    # missing (Docker and the stream kept every line).
    written = docker("logs", name).split()
    received = lines_of(heard.of(logs))
    told = [f for f in heard.of(logs) if f["type"] in ("gap", "reset")]
    assert not told, f"lines said missing: {told}"
    assert written == [*map(str, range(1, len(written))), "end"]
    assert received == written, differences(received, written)

    # The journal: every event the stream holds, once, in order, the deploy succeeded.
    async with bus_client(nats, deployment.prefix) as reader:
        held = await journal_in_stream(reader, record.id)
    updates = [f for f in heard.of(journal) if f["type"] == "update"]
    assert [u["cursor"] for u in updates] == [sequence for sequence, _ in held]
    assert [(u["data"]["step"], u["data"]["status"], u["data"]["message"]) for u in updates] == [
        (e.step.value, e.status.value, e.message) for _, e in held
    ]
    assert held[-1][1].step.value == "done"
    assert held[-1][1].state.value == "succeeded", held[-1][1].message


async def test_a_busy_connection_hears_of_a_hung_bus_within_seconds_and_leaks_no_socket(
    nats_server: NatsServer, prefix: str
) -> None:
    """A service that writes faster than the hung server reads (its socket full): nats-py
    alone says nothing until the server runs again, and leaks a socket per attempt to
    connect again meanwhile (`vigil.nats_client`; a leak fails the test when collected)."""
    nats = nats_server
    async with bus_client(nats, prefix) as bus:
        lost, back = asyncio.Event(), asyncio.Event()

        async def on_lost() -> None:
            lost.set()

        async def on_back() -> None:
            back.set()

        bus.on_disconnected(on_lost)
        bus.on_reconnected(on_back)
        payload = b"x" * 65536

        async def write_much() -> None:
            while True:
                if bus.is_connected:
                    with contextlib.suppress(nats_errors.Error):
                        await bus.nc.publish(f"{prefix}.busy", payload)
                await asyncio.sleep(0.001)

        writing = asyncio.create_task(write_much())
        try:
            await asyncio.sleep(1.0)  # the socket's buffers fill
            with frozen(nats) as froze:
                await asyncio.wait_for(lost.wait(), NOTICED_WITHIN_S)
                print(f"a busy connection lost the hung bus after {time.monotonic() - froze:.2f} s")
                await asyncio.sleep(6.0)  # attempts to connect again, each to the hung server
            await asyncio.wait_for(back.wait(), 10)
        finally:
            await stop_task(writing)
