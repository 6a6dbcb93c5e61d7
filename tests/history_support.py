"""The history service in tests: its settings on a test's NATS, run in this process or
as `python -m vigil_history`, and raw samples written as a collector would."""

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from tests.support import NatsServer, bearer, until, wait_for
from vigil import ctl
from vigil.bus import Bus
from vigil.busauth.permissions import ServiceRole
from vigil.lifecycle import stop_task
from vigil.messages import (
    ContainerStats,
    DockerStatsSampled,
    HistorySeries,
    HostMetricsSampled,
    QueryHistory,
)
from vigil.operations import History
from vigil.streams import HISTORY, HISTORY_CLAIMS, HISTORY_MARKS, HISTORY_RAW
from vigil_history import store
from vigil_history.app import HistoryService, build_app
from vigil_history.frame import window_of
from vigil_history.roller import Roller
from vigil_history.settings import HistorySettings, Tier

HOST = "h1"
TIERS = [Tier(step_s=10, retention_s=3600), Tier(step_s=60, retention_s=7200)]


def history_settings_for(nats: NatsServer, prefix: str, **overrides: Any) -> HistorySettings:
    values: dict[str, Any] = {
        **nats.service(ServiceRole.HISTORY, prefix),
        "tiers": TIERS,
        "grace_s": 0.0,
        "interval_s": 0.2,
        "claim_ttl_s": 2.0,
    }
    return HistorySettings(**(values | overrides))


@contextlib.asynccontextmanager
async def run_history(settings: HistorySettings) -> AsyncIterator[HistoryService]:
    service = build_app(settings)
    task = asyncio.create_task(service.run())
    try:
        await wait_for(lambda: service.ready.is_set() or task.done(), "the history service", 15)
        if task.done():
            task.result()
        yield service
    finally:
        service.stop()
        await asyncio.wait({task}, timeout=10)
        await stop_task(task)


def history_process(
    settings: HistorySettings, *, stderr: int = subprocess.DEVNULL
) -> subprocess.Popen[bytes]:
    """The service as `python -m vigil_history`, configured through the environment."""
    env = {
        **os.environ,
        "VIGIL_NATS_URL": settings.nats_url,
        "VIGIL_NATS_CREDS": str(settings.nats_creds),
        "VIGIL_SUBJECT_PREFIX": settings.subject_prefix,
        "VIGIL_HISTORY_TIERS": json.dumps([tier.model_dump() for tier in settings.tiers]),
        "VIGIL_HISTORY_GRACE_S": str(settings.grace_s),
        "VIGIL_HISTORY_INTERVAL_S": str(settings.interval_s),
        "VIGIL_HISTORY_CLAIM_TTL_S": str(settings.claim_ttl_s),
        "VIGIL_HISTORY_REPLICA": settings.replica,
        "VIGIL_HISTORY_ROLL": str(settings.roll).lower(),
    }
    return subprocess.Popen([sys.executable, "-m", "vigil_history"], env=env, stderr=stderr)


@dataclass(frozen=True)
class Container:
    """A container's figures at one sample."""

    name: str
    id: str
    cpu: float
    memory: int
    rx: int = 0
    tx: int = 0
    pids: int = 1


def docker_sample(
    at: float, containers: Iterable[Container], host: str = HOST
) -> DockerStatsSampled:
    return DockerStatsSampled(
        host=host,
        time=datetime.fromtimestamp(at, UTC),
        interval_s=2.0,
        containers=[
            ContainerStats(
                id=c.id,
                name=c.name,
                cpu_percent=c.cpu,
                memory_usage=c.memory,
                memory_limit=2**30,
                network_rx=c.rx,
                network_tx=c.tx,
                image="busybox",
                state="running",
                memory_percent=0.0,
                network_rx_per_s=0.0,
                network_tx_per_s=0.0,
                block_read=0,
                block_write=0,
                pids=c.pids,
            )
            for c in containers
        ],
    )


async def write_samples(
    bus: Bus, samples: list[DockerStatsSampled] | list[HostMetricsSampled]
) -> None:
    """Publish `samples` (a host's or its containers') as the collector does, and wait
    until the raw tier has them."""
    raw = HISTORY_RAW.stream(bus.subjects)
    before = (await bus.js.stream_info(raw)).state.messages
    for sample in samples:
        if isinstance(sample, HostMetricsSampled):
            await bus.publish(bus.subjects.host_metrics(sample.host), sample)
        else:
            await bus.publish(bus.subjects.docker_metrics(sample.host), sample)

    async def copied() -> bool | None:
        return (await bus.js.stream_info(raw)).state.messages >= before + len(samples) or None

    await until(copied, "the raw tier to have every sample")


async def mark_of(bus: Bus, tier: Tier, kind: str = "docker", source: str = HOST) -> int | None:
    kv = await bus.kv(HISTORY_MARKS)
    try:
        entry = await kv.get(f"{tier.name}.{kind}.{source}")
    except Exception:  # not there yet
        return None
    return int(entry.value) if entry.value else None


async def rolled_up_to(
    bus: Bus,
    tier: Tier,
    at: float,
    timeout: float = 30.0,
    kind: str = "docker",
    source: str = HOST,
) -> None:
    """Until `tier`'s watermark (of `kind`'s samples of `source`) has reached `at`."""

    async def reached() -> bool | None:
        mark = await mark_of(bus, tier, kind, source)
        return (mark is not None and mark >= at) or None

    await until(reached, f"{tier.name} rolled up to {at}", timeout)


async def query(bus: Bus, **fields: Any) -> HistorySeries:
    return await ctl.call(bus, History.QUERY, QueryHistory(**fields), timeout_s=10)


@contextlib.asynccontextmanager
async def roller_for(settings: HistorySettings) -> AsyncIterator[Roller]:
    """A replica's roll-ups driven by the test (`roll(now=...)`), on a bus of the
    history role."""
    bus = Bus(
        settings,
        name="test-history-roller",
        role=ServiceRole.HISTORY,
        streams=[HISTORY_RAW, HISTORY],
        buckets=[HISTORY_CLAIMS, HISTORY_MARKS],
    )
    await bus.connect()
    try:
        roller = Roller(bus, settings)
        await roller.open()
        yield roller
    finally:
        await bus.close()


async def frame_windows(
    bus: Bus, tier: Tier, kind: str = "docker", source: str = HOST
) -> list[int]:
    """The window of every frame of a tier of a source, in stream order (duplicates kept)."""
    stream = HISTORY.stream(bus.subjects)
    subject = bus.subjects.history(tier.name, kind, source)
    windows = []
    async for payload in store.read(bus.js, stream, subject, 0.0, float("inf"), store.frame_time):
        windows.append(window_of(payload)[0])
    return windows


async def search_hits(http: httpx.AsyncClient, token: str, **params: Any) -> list[dict[str, Any]]:
    """Every hit of `GET /api/logs/search` with `params`, page after page."""
    found: list[dict[str, Any]] = []
    while True:
        response = await http.get("/api/logs/search", params=params, headers=bearer(token))
        assert response.status_code == 200, response.text
        page = response.json()
        found += page["hits"]
        if "cursor" not in page:
            return found
        params["cursor"] = page["cursor"]
