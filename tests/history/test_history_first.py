"""A subscription's `history_s` on a real gateway, history service and WebSocket: the
last minutes first (after `subscribed`), then the snapshot and live values with no seam
(every sample once, none missing); a clear error where there is no history to give, and
live values anyway when the history service is away; the Python client reads it so."""

import json
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.client_support import client_for
from tests.history_support import (
    HOST,
    Container,
    docker_sample,
    history_settings_for,
    run_history,
    write_samples,
)
from tests.support import NatsServer, bus_client, host_sample, receive, receive_until, send
from vigil.bus import Bus
from vigil.messages import HistoryFirst, Update

WEB = "0123456789ab"


@pytest.fixture
async def bus(nats_server: NatsServer, prefix: str) -> AsyncIterator[Bus]:
    async with bus_client(nats_server, prefix) as client:
        nats_server.provision(prefix)
        yield client


@pytest.fixture
async def socket(gateway: str, admin_token: str) -> AsyncIterator[ClientConnection]:
    async with connect(f"ws://{gateway}/ws?token={admin_token}") as ws:
        await receive_until(ws, lambda m: m["type"] == "connected")
        yield ws


def stats_at(at: float, cpu: float) -> Any:
    return docker_sample(at, [Container("web", WEB, cpu, 1000)])


def when(frame: dict[str, Any]) -> float:
    return datetime.fromisoformat(frame["data"]["time"]).timestamp()


async def test_the_last_minutes_first_then_live_values_with_no_seam(
    bus: Bus, socket: ClientConnection, nats_server: NatsServer, prefix: str
) -> None:
    now = time.time()
    kept = [stats_at(now - 300 + 2 * i, float(i % 10)) for i in range(149)]  # to now - 4 s
    await write_samples(bus, kept)
    async with run_history(history_settings_for(nats_server, prefix)):
        subscribe = {"type": "subscribe", "channel": "docker.stats", "params": {"host": HOST}}
        await send(socket, subscribe | {"history_s": 600})
        subscribed = await receive(socket, timeout=10)
        first = await receive(socket)
        snapshot = await receive_until(socket, lambda m: m["type"] == "update")
        await write_samples(bus, [stats_at(time.time(), 5.0)])
        live = await receive_until(socket, lambda m: m["type"] == "update")

    assert (first["type"], first["channel"]) == ("history", f"docker.stats?host={HOST}")
    assert subscribed["type"] == "subscribed"
    history = first["data"]
    (entry,) = history["entries"]
    assert (entry["key"], entry["id"]) == ("web", WEB)
    assert sum(entry["samples"]) == len(kept)  # every sample kept, once
    newest = datetime.fromisoformat(history["newest"]).timestamp()
    assert newest == pytest.approx(kept[-1].time.timestamp(), abs=1e-3)
    # the snapshot is the newest sample, already in the history: a client drops it;
    # the next one is new, and follows it with nothing between
    assert when(snapshot) <= newest < when(live)
    assert entry["series"]["cpu_percent"]["max"][-1] is not None


async def test_a_hosts_own_metrics_first_and_what_has_no_history_is_refused(
    bus: Bus, socket: ClientConnection, nats_server: NatsServer, prefix: str
) -> None:
    sample = host_sample(cpu=42.0, host=HOST)
    await bus.publish(bus.subjects.host_metrics(HOST), sample)
    async with run_history(history_settings_for(nats_server, prefix)):
        host = {"type": "subscribe", "channel": "host.metrics", "params": {"host": HOST}}
        await send(socket, host | {"history_s": 60})
        assert (await receive(socket, timeout=10))["type"] == "subscribed"
        first = await receive(socket)
        assert (first["type"], first["data"]["kind"]) == ("history", "host")
        (entry,) = first["data"]["entries"]
        assert (entry["key"], entry["samples"]) == (HOST, [1])
        assert entry["series"]["cpu_percent"]["last"] == [42.0]
        for asked, says in (
            ({"channel": "alerts", "history_s": 60}, "alerts keeps no history"),
            ({"channel": "docker.stats", "history_s": 60}, "history_s needs one host"),
            ({"channel": "docker.stats", "params": {"host": HOST}, "history_s": 0}, "history_s"),
            (
                {"channel": "docker.stats", "params": {"host": HOST}, "history_s": 86_401},
                "history_s",
            ),
        ):
            await send(socket, {"type": "subscribe"} | asked)
            refused = await receive_until(socket, lambda m: m["type"] == "error")
            assert refused["code"] == "INVALID_MESSAGE"
            assert says in refused["message"]


async def test_without_the_history_service_an_error_and_live_values_anyway(
    bus: Bus, socket: ClientConnection
) -> None:
    await write_samples(bus, [stats_at(time.time() - 2, 1.0)])
    subscribe = {"type": "subscribe", "channel": "docker.stats", "params": {"host": HOST}}
    await send(socket, subscribe | {"history_s": 600})
    assert (await receive(socket, timeout=10))["type"] == "subscribed"
    error = await receive(socket)
    assert (error["type"], error["code"]) == ("error", "UNAVAILABLE")
    assert error["channel"] == f"docker.stats?host={HOST}"
    assert error["message"].startswith("no history first: the history service is unavailable")
    update = await receive_until(socket, lambda m: m["type"] == "update")
    assert update["data"]["containers"][0]["name"] == "web"


async def test_the_event_stream_twin_takes_history_s_in_its_query(
    bus: Bus, gateway: str, admin_token: str, nats_server: NatsServer, prefix: str
) -> None:
    await write_samples(bus, [stats_at(time.time() - 2, 1.0)])
    url = f"http://{gateway}/sse/channels/docker.stats"
    params = {"host": HOST, "history_s": "600", "token": admin_token}
    types = []
    async with (
        run_history(history_settings_for(nats_server, prefix)),
        httpx.AsyncClient(timeout=10) as http,
    ):
        async with http.stream("GET", url, params=params) as response:
            assert response.status_code == 200
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    types.append(json.loads(line.removeprefix("data: "))["type"])
                if "update" in types:
                    break
        bad = await http.get(url, params=params | {"history_s": "x"})
    assert types[0] == "history"
    assert bad.status_code == 422


async def test_the_python_client_reads_the_history_then_only_new_values(
    bus: Bus, gateway: str, admin_token: str, nats_server: NatsServer, prefix: str
) -> None:
    now = time.time()
    kept = [stats_at(now - 60 + 2 * i, 1.0) for i in range(29)]  # to now - 4 s
    await write_samples(bus, kept)
    async with (
        run_history(history_settings_for(nats_server, prefix)),
        client_for(gateway, admin_token) as client,
    ):
        stats = await client.subscribe("docker.stats", {"host": HOST}, history_s=300)
        history = await stats.next()
        await write_samples(bus, [stats_at(time.time(), 2.0)])
        update = await stats.next()
    assert isinstance(history, HistoryFirst)
    assert sum(history.data.entries[0].samples) == len(kept)
    assert isinstance(update, Update)  # the snapshot (the last kept sample) was skipped
    assert update.data["containers"][0]["cpu_percent"] == 2.0
    assert stats.skipped == 1
