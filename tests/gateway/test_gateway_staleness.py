"""Stale state through the gateway: a collector process killed leaves its last sample
marked `stale` within ~3 intervals (over /ws and SSE, and in a poll's answer); a
client that subscribes after the source died gets the snapshot and then `stale` at
once; a new collector makes it `fresh`, then live values flow. Per state: on a channel
of several hosts only the one that stopped is stale. A Docker engine its collector
says is down marks that host's stats stale at once, with the reason."""

import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.fleet import Fleet
from tests.support import NatsServer, host_reported, receive, receive_until, send, serve_gateway
from vigil.bus import Bus
from vigil.busauth.permissions import ServiceRole
from vigil.messages import DockerSourceChanged
from vigil.streams import LATEST
from vigil_auth.app import AuthService
from vigil_gateway.settings import GatewaySettings

Frame = dict[str, Any]
INTERVAL_S = 0.5  # the collector's: stale after 3 of them, 1.5 s
HOST = "stalehost"
KEY = f"metrics.host.{HOST}"
CHANNEL_KEY = f"host.metrics?host={HOST}"
CHANNEL = {"type": "subscribe", "channel": "host.metrics", "params": {"host": HOST}}


@contextlib.asynccontextmanager
async def collector_process(
    nats: NatsServer, prefix: str, log_path: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`python -m vigil_collector` sampling this host every `INTERVAL_S`."""
    env = os.environ | {
        **nats.service_env(ServiceRole.COLLECTOR, prefix, host=HOST),
        "VIGIL_COLLECTOR_HOST": HOST,
        "VIGIL_COLLECTOR_DOCKER": "off",
        "VIGIL_COLLECTOR_INTERVAL_S": str(INTERVAL_S),
    }
    with log_path.open("ab") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "vigil_collector", env=env, stdout=log, stderr=log
        )
    try:
        await host_reported(nats, prefix, HOST)
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def subscribed(url: str, subscribe: Frame = CHANNEL) -> ClientConnection:
    ws = await connect(url, max_size=None)
    await receive(ws)
    await send(ws, subscribe)
    await receive_until(ws, lambda m: m["type"] == "subscribed")
    return ws


class SseFrames:
    """The `data:` of each event of a real SSE response, in a queue."""

    def __init__(self, response: httpx.Response) -> None:
        self.frames: asyncio.Queue[Frame] = asyncio.Queue()
        self._response = response
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> "SseFrames":
        self._task = asyncio.create_task(self._read(self._response))
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _read(self, response: httpx.Response) -> None:
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                await self.frames.put(json.loads(line.removeprefix("data: ")))

    async def until(self, kind: str, timeout: float = 10.0) -> Frame:
        async with asyncio.timeout(timeout):
            while (frame := await self.frames.get())["type"] != kind:
                pass
        return frame


@pytest.fixture
def stale_settings(gateway_settings: GatewaySettings) -> GatewaySettings:
    # No floor: stale after exactly 3 of the test's short intervals.
    return gateway_settings.model_copy(update={"stale_min_s": 0.0})


async def test_a_killed_collector_is_marked_stale_and_a_new_one_makes_it_fresh(
    auth_service: AuthService,
    stale_settings: GatewaySettings,
    admin_token: str,
    nats_server: NatsServer,
    prefix: str,
    tmp_path: Path,
) -> None:
    log_path = tmp_path / "collector.log"
    async with (
        serve_gateway(stale_settings) as gateway,
        httpx.AsyncClient(timeout=10) as http,
    ):
        url = f"ws://{gateway}/ws?token={admin_token}"
        sse_url = f"http://{gateway}/sse/channels/host.metrics?host={HOST}&token={admin_token}"
        poll_url = f"http://{gateway}/api/poll/channels/host.metrics?host={HOST}"
        auth = {"Authorization": f"Bearer {admin_token}"}
        async with collector_process(nats_server, prefix, log_path) as collector:
            live = await subscribed(url)
            await receive_until(live, lambda m: m["type"] == "update", timeout=20)
            async with http.stream("GET", sse_url) as response, SseFrames(response) as sse:
                await sse.until("update")
                first_poll = await http.get(poll_url, headers=auth)
                assert "stale" not in first_poll.json()

                collector.kill()
                await collector.wait()
                killed = time.monotonic()
                stale = await receive_until(live, lambda m: m["type"] != "update", timeout=10)
                took_s = time.monotonic() - killed
                print(f"stale {took_s:.2f} s after the kill, the value {stale['age_s']} s old")
                assert stale == {
                    "type": "stale",
                    "channel": CHANNEL_KEY,
                    "key": KEY,
                    "age_s": stale["age_s"],
                    "interval_s": pytest.approx(INTERVAL_S, abs=0.1),  # as measured
                }
                # The last sample was at most an interval old at the kill; 3 intervals later
                # it is stale (plus the timer's turn and a shared machine's slack).
                assert 3 * INTERVAL_S - INTERVAL_S <= took_s <= 3 * INTERVAL_S + 1.0, took_s
                assert stale["age_s"] >= 3 * INTERVAL_S
                assert (await sse.until("stale"))["key"] == KEY

            # Polled: the snapshot, said to be stale (the ETag holds while it stays so).
            polled = await http.get(poll_url, headers=auth)
            assert [mark["key"] for mark in polled.json()["stale"]] == [KEY]
            assert polled.json()["stale"][0]["age_s"] >= 3 * INTERVAL_S
            again = await http.get(
                poll_url, headers=auth | {"If-None-Match": polled.headers["etag"]}
            )
            assert again.status_code == 304

            # A client that comes after the source died: its snapshot, then `stale` at once.
            late = await subscribed(url)
            snapshot = await receive(late)
            assert (snapshot["type"], snapshot["data"]["host"]) == ("update", HOST)
            late_mark = await receive(late, timeout=1.0)
            assert (late_mark["type"], late_mark["key"]) == ("stale", KEY)
            assert late_mark["age_s"] >= stale["age_s"]
            # The same on a gateway whose feed starts only now (no one watched before).
            async with serve_gateway(stale_settings) as second:
                fresh_feed = await subscribed(f"ws://{second}/ws?token={admin_token}")
                assert (await receive(fresh_feed))["type"] == "update"
                assert (await receive(fresh_feed, timeout=1.0))["type"] == "stale"
                await fresh_feed.close()

        async with collector_process(nats_server, prefix, log_path):
            for ws in (live, late):
                fresh = await receive_until(ws, lambda m: m["type"] != "stale", timeout=20)
                assert fresh == {
                    "type": "fresh",
                    "channel": CHANNEL_KEY,
                    "key": KEY,
                }
                update = await receive(ws)
                assert (update["type"], update["data"]["host"]) == ("update", HOST)
                assert update["data"]["time"] > snapshot["data"]["time"]
                # Live again: updates flow, and no `stale` while they do.
                for _ in range(4):
                    assert (await receive(ws, timeout=3.0))["type"] == "update"
            assert "stale" not in (await http.get(poll_url, headers=auth)).json()
        for ws in (live, late):
            await ws.close()


async def frames_for(ws: ClientConnection, seconds: float) -> list[Frame]:
    frames: list[Frame] = []
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            while True:
                frames.append(await receive(ws))
    return frames


async def publish_while(bus: Bus, fleet: Fleet, running: asyncio.Event) -> None:
    while running.is_set():
        batch = fleet.batch(interval_s=INTERVAL_S)
        await bus.publish(bus.subjects.docker_metrics(fleet.host), batch)
        await asyncio.sleep(INTERVAL_S)


async def test_on_a_channel_of_several_hosts_only_the_one_that_stopped_is_stale(
    auth_service: AuthService, stale_settings: GatewaySettings, admin_token: str, alerts_bus: Bus
) -> None:
    bus = alerts_bus
    await bus.js.add_stream(LATEST.config(bus.subjects))
    one, two = asyncio.Event(), asyncio.Event()
    one.set()
    two.set()
    publishers = [
        asyncio.create_task(publish_while(bus, Fleet("one", size=5), one)),
        asyncio.create_task(publish_while(bus, Fleet("two", size=5, seed=2), two)),
    ]
    try:
        async with serve_gateway(stale_settings) as gateway:
            url = f"ws://{gateway}/ws?token={admin_token}"
            subscribe = {"type": "subscribe", "channel": "docker.stats"}
            plain = await subscribed(url, subscribe)
            deltas = await subscribed(url, subscribe | {"delta": True})
            paced = await subscribed(url, subscribe | {"interval_s": 1.0})
            for ws in (plain, deltas, paced):
                await receive_until(ws, lambda m: m["type"] in ("update", "delta"))
            two.clear()  # host `two`'s stats stop
            for ws in (plain, deltas, paced):
                stale = await receive_until(ws, lambda m: m["type"] == "stale", timeout=10)
                assert stale["key"] == "metrics.docker.two"
            for ws in (plain, deltas, paced):  # host `one` goes on, live: no other mark
                assert "stale" not in [frame["type"] for frame in await frames_for(ws, 2.0)]
            two.set()
            publishers.append(asyncio.create_task(publish_while(bus, Fleet("two", size=5), two)))
            for ws in (plain, deltas, paced):
                fresh = await receive_until(ws, lambda m: m["type"] == "fresh", timeout=10)
                assert fresh["key"] == "metrics.docker.two"
                await ws.close()
    finally:
        one.clear()
        two.clear()
        for task in publishers:
            await task


async def engine_said(bus: Bus, *, available: bool) -> None:
    """What the collector of host `dock` says when its Docker engine stops or starts
    answering."""
    said = DockerSourceChanged(
        host="dock", available=available, reason="" if available else "connection refused",
        time=datetime.now(UTC),
    )  # fmt: skip
    await bus.publish(bus.subjects.docker_source("dock"), said)


async def test_a_docker_engine_said_down_marks_its_stats_stale_at_once_with_the_reason(
    gateway: str, admin_token: str, alerts_bus: Bus
) -> None:
    bus = alerts_bus
    await bus.js.add_stream(LATEST.config(bus.subjects))
    fleet = Fleet("dock", size=3)

    async def stats() -> None:  # every 30 s: by age it would be stale only after 90 s
        batch = fleet.batch(interval_s=30.0).model_copy(update={"time": datetime.now(UTC)})
        await bus.publish(bus.subjects.docker_metrics("dock"), batch)

    await stats()
    url = f"ws://{gateway}/ws?token={admin_token}"
    subscribe = {"type": "subscribe", "channel": "docker.stats", "params": {"host": "dock"}}
    reason = "the Docker engine does not answer: connection refused"
    ws = await subscribed(url, subscribe)
    await receive_until(ws, lambda m: m["type"] == "update")
    said = time.monotonic()
    await engine_said(bus, available=False)
    stale = await receive_until(ws, lambda m: m["type"] == "stale")
    assert time.monotonic() - said < 2.0
    assert (stale["key"], stale["reason"]) == ("metrics.docker.dock", reason)

    # A later subscriber, here on the seed view: its snapshot, then the mark and why.
    seed = await subscribed(url, subscribe | {"channel": "docker_stats"})
    assert (await receive(seed))["type"] == "docker_stats"
    assert (await receive(seed, timeout=1.0))["reason"] == reason
    async with httpx.AsyncClient(timeout=10) as http:
        polled = await http.get(
            f"http://{gateway}/api/poll/channels/docker.stats?host=dock",
            headers={"Authorization": f"Bearer {admin_token}"},
        )
    assert [(m["key"], m["reason"]) for m in polled.json()["stale"]] == [
        ("metrics.docker.dock", reason)
    ]

    await engine_said(bus, available=True)  # back: its next batch is fresh
    await stats()
    for client in (ws, seed):
        fresh = await receive_until(client, lambda m: m["type"] != "stale")
        assert (fresh["type"], fresh["key"]) == ("fresh", "metrics.docker.dock")
        assert (await receive(client))["type"] in ("update", "docker_stats")
        await client.close()


async def test_the_first_batch_after_a_docker_engine_is_back_is_fresh_though_it_has_no_interval(
    gateway: str, admin_token: str, alerts_bus: Bus
) -> None:
    # The collector's sampler starts again with its engine: its first batch has
    # `interval_s` 0 (no cycle before it). It is a new value all the same: `fresh`.
    bus = alerts_bus
    await bus.js.add_stream(LATEST.config(bus.subjects))
    fleet = Fleet("dock", size=3)

    async def stats(interval_s: float) -> None:
        batch = fleet.batch(interval_s=30.0)
        batch = batch.model_copy(update={"time": datetime.now(UTC), "interval_s": interval_s})
        await bus.publish(bus.subjects.docker_metrics("dock"), batch)

    await stats(interval_s=30.0)
    subscribe = {"type": "subscribe", "channel": "docker.stats", "params": {"host": "dock"}}
    ws = await subscribed(f"ws://{gateway}/ws?token={admin_token}", subscribe)
    await receive_until(ws, lambda m: m["type"] == "update")
    await engine_said(bus, available=False)
    await receive_until(ws, lambda m: m["type"] == "stale")
    await engine_said(bus, available=True)
    await stats(interval_s=0.0)
    fresh = await receive(ws)
    assert (fresh["type"], fresh["key"]) == ("fresh", "metrics.docker.dock")
    assert (await receive(ws))["type"] == "update"
    await ws.close()
