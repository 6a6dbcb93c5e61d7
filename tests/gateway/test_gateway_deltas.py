"""State deltas through the gateway: a delta subscriber reassembles every value exactly,
with consecutive `seq`s; one that missed a value (a slow socket's backlog, its own
pace) gets a snapshot instead; the seed endpoint and SSE speak them with `?delta=1`."""

import asyncio
import json
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.fleet import Fleet
from tests.stuck_client import StuckClient
from tests.support import raise_alert, receive, receive_until, send, serve_gateway
from vigil.bus import Bus
from vigil.deltas import apply
from vigil.messages import Delta, DockerStatsSampled
from vigil.streams import LATEST
from vigil_auth.app import AuthService
from vigil_gateway.settings import GatewaySettings

Frame = dict[str, Any]
CHANNEL = {"type": "subscribe", "channel": "docker.stats", "params": {"host": "h1"}}


class DeltaState:
    """What a delta client holds: per key, the value and its `seq`; it checks that every
    delta follows the last value it has, as a client must."""

    def __init__(self) -> None:
        self.values: dict[str, dict[str, Any]] = {}
        self.seqs: dict[str, int] = {}
        self.snapshots = 0
        self.deltas = 0

    def take(self, frame: Frame) -> dict[str, Any]:
        key = frame["key"]
        if frame["type"] == "delta":
            assert frame["seq"] == self.seqs[key] + 1, "a delta that does not follow"
            patch = Delta.model_validate(frame).model_dump(exclude={"type", "channel"})
            self.values[key] = apply(self.values[key], patch)
            self.deltas += 1
        else:  # a snapshot: the whole value, from which deltas go on
            self.values[key] = frame["data"]
            self.snapshots += 1
        self.seqs[key] = frame["seq"]
        return self.values[key]


def published(batch: DockerStatsSampled) -> dict[str, Any]:
    return batch.model_dump(mode="json")


async def docker_bus(bus: Bus) -> Bus:
    await bus.js.add_stream(LATEST.config(bus.subjects))
    return bus


async def publish(bus: Bus, batch: DockerStatsSampled) -> None:
    await bus.publish(bus.subjects.docker_metrics(batch.host), batch)


async def subscribed(url: str, **options: Any) -> ClientConnection:
    ws = await connect(url, max_size=None)
    await receive(ws)
    await send(ws, CHANNEL | options)
    await receive_until(ws, lambda m: m["type"] == "subscribed")
    return ws


def is_data(frame: Frame) -> bool:
    return frame["type"] in {"update", "delta"}


async def test_a_delta_subscriber_reassembles_every_batch_exactly_with_fewer_bytes(
    gateway: str, admin_token: str, alerts_bus: Bus
) -> None:
    bus, fleet = await docker_bus(alerts_bus), Fleet("h1", size=100)
    await publish(bus, first := fleet.batch())
    url = f"ws://{gateway}/ws?token={admin_token}"
    async with await subscribed(url) as plain, await subscribed(url, delta=True) as delta:
        state = DeltaState()
        snapshot = await receive_until(delta, is_data)
        assert snapshot["type"] == "update"
        assert snapshot["key"] == "metrics.docker.h1"
        assert state.take(snapshot) == published(first)
        await receive_until(plain, is_data)
        plain_bytes = delta_bytes = 0
        for _ in range(30):
            await publish(bus, batch := fleet.batch())
            full = await receive_until(plain, is_data)
            frame = await receive_until(delta, is_data)
            assert frame["type"] == "delta"
            assert state.take(frame) == published(batch) == full["data"]
            plain_bytes += len(json.dumps(full))
            delta_bytes += len(json.dumps(frame))
    assert state.deltas == 30
    assert delta_bytes < plain_bytes * 0.6, (delta_bytes, plain_bytes)


async def test_a_slow_delta_subscriber_that_missed_values_gets_a_snapshot_then_deltas(
    auth_service: AuthService, gateway_settings: GatewaySettings, admin_token: str, alerts_bus: Bus
) -> None:
    bus, fleet = await docker_bus(alerts_bus), Fleet("h1", size=20)
    await publish(bus, fleet.batch())
    async with serve_gateway(gateway_settings) as address:
        port = int(address.rsplit(":", 1)[1])
        stuck = await asyncio.to_thread(StuckClient, port, admin_token)
        try:
            stuck.send(CHANNEL | {"delta": True})
            stuck.send({"type": "subscribe", "channel": "alerts", "params": {"source": "bulk"}})
            # both subscribed (the snapshot is on its way); from here it reads nothing
            early = await asyncio.to_thread(read_subscribed, stuck, 2)
            for n in range(8):  # megabytes the stuck socket does not read: it lags
                await raise_alert(bus, n, "bulk", "x" * 900_000)
            batches = [fleet.batch() for _ in range(10)]
            async with await subscribed(f"ws://{address}/ws?token={admin_token}") as watcher:
                for batch in batches:
                    await publish(bus, batch)
                # the gateway has handed out the last value (to the stuck socket's outbox too)
                last = published(batches[-1])
                await receive_until(watcher, lambda m: is_data(m) and m["data"] == last)
            frames = await asyncio.to_thread(
                read_stats, stuck, until=published(batches[-1]), read=early
            )
        finally:
            stuck.close()
    kinds = [frame["type"] for frame in frames]
    assert kinds[0] == "update"  # the snapshot on subscribing
    assert "update" in kinds[1:], f"no snapshot after the values it missed: {kinds}"
    assert len(frames) < 1 + len(batches)  # coalesced, not every value


def read_subscribed(client: StuckClient, count: int) -> list[Frame]:
    """The stuck client's frames until `count` subscriptions are confirmed."""
    frames: list[Frame] = []
    while sum(frame["type"] == "subscribed" for frame in frames) < count:
        frames.append(client.receive())
    return frames


def read_stats(client: StuckClient, until: dict[str, Any], read: list[Frame]) -> list[Frame]:
    """The stuck client's docker.stats frames (first those it has `read` already),
    applied as a client would, until its value is `until`."""
    state, frames, pending = DeltaState(), [], list(read)
    while True:
        frame = pending.pop(0) if pending else client.receive()
        if frame["type"] in {"update", "delta"} and frame["channel"].startswith("docker"):
            frames.append(frame)
            if state.take(frame) == until:
                return frames


async def test_a_paced_delta_subscriber_gets_a_snapshot_when_its_pace_skipped_values(
    gateway: str, admin_token: str, alerts_bus: Bus
) -> None:
    bus, fleet = await docker_bus(alerts_bus), Fleet("h1", size=10)
    await publish(bus, fleet.batch())
    url = f"ws://{gateway}/ws?token={admin_token}"
    async with await subscribed(url, delta=True, interval_s=1.0) as ws:
        state = DeltaState()
        state.take(await receive_until(ws, is_data))  # the snapshot, at once
        batches = [fleet.batch() for _ in range(4)]
        for batch in batches:
            await publish(bus, batch)
        coalesced = await receive_until(ws, is_data)
        assert coalesced["type"] == "update"  # three values skipped: a delta would not apply
        assert state.take(coalesced) == published(batches[-1])
        await asyncio.sleep(1.1)  # the pace lets the next one through at once, as a delta
        await publish(bus, batch := fleet.batch())
        following = await receive_until(ws, is_data)
        assert following["type"] == "delta"
        assert state.take(following) == published(batch)


async def test_subscribing_again_gives_a_fresh_snapshot_and_the_new_options(
    gateway: str, admin_token: str, alerts_bus: Bus
) -> None:
    bus, fleet = await docker_bus(alerts_bus), Fleet("h1", size=10)
    await publish(bus, fleet.batch())
    url = f"ws://{gateway}/ws?token={admin_token}"
    async with await subscribed(url, delta=True) as ws:
        state = DeltaState()
        state.take(await receive_until(ws, is_data))
        await publish(bus, batch := fleet.batch())
        assert (await receive_until(ws, is_data))["type"] == "delta"
        await send(ws, CHANNEL | {"delta": True, "interval_s": 5})  # lost its place; slower
        await receive_until(ws, lambda m: m["type"] == "subscribed")
        snapshot = await receive_until(ws, is_data)
        assert snapshot["type"] == "update"
        assert state.take(snapshot) == published(batch)
        for _ in range(3):
            await publish(bus, fleet.batch())
        with pytest.raises(AssertionError, match="no matching message"):  # one per 5 s now
            await receive_until(ws, is_data, timeout=1.5)


async def test_the_seed_endpoint_and_sse_speak_deltas_with_delta_1(
    gateway: str, admin_token: str, alerts_bus: Bus
) -> None:
    bus, fleet = await docker_bus(alerts_bus), Fleet("h1", size=5)
    await publish(bus, fleet.batch())
    async with (
        connect(f"ws://{gateway}/ws/docker/stats?delta=1&token={admin_token}") as ws,
        httpx.AsyncClient(base_url=f"http://{gateway}", timeout=10) as http,
        http.stream("GET", f"/sse/docker/stats?delta=1&token={admin_token}") as sse,
    ):
        snapshot = await receive(ws)
        assert snapshot["type"] == "docker_stats"
        assert snapshot["seq"] >= 1
        events = sse.aiter_lines()
        await publish(bus, batch := fleet.batch())
        delta = await receive(ws)
        assert delta["type"] == "delta"
        assert delta["seq"] == snapshot["seq"] + 1
        assert delta["timestamp"] == published(batch)["time"]  # seed 000's, outside data
        patch = Delta.model_validate(delta).model_dump(exclude={"type", "channel"})
        reassembled = apply(snapshot["data"], patch)
        assert reassembled == {"host": "h1", "containers": published(batch)["containers"]}
        sse_frames = [json.loads(line[5:]) async for line in sse_data(events, 2)]
    assert [frame["type"] for frame in sse_frames] == ["docker_stats", "delta"]


async def sse_data(lines: Any, count: int) -> Any:
    async for line in lines:
        if line.startswith("data:"):
            yield line
            count -= 1
            if count == 0:
                return


@pytest.mark.parametrize("path", ["/sse/channels/alerts?delta=1", "/sse/docker/stats?delta=maybe"])
async def test_deltas_are_refused_clearly_where_they_do_not_fit(
    gateway: str, admin_token: str, path: str
) -> None:
    async with httpx.AsyncClient(base_url=f"http://{gateway}", timeout=10) as http:
        response = await http.get(f"{path}&token={admin_token}")
    assert response.status_code == 422
    assert "delta" in response.json()["detail"]["message"]
    async with connect(f"ws://{gateway}/ws?token={admin_token}") as ws:
        await receive(ws)
        await send(ws, {"type": "subscribe", "channel": "alerts", "delta": True})
        error = await receive_until(ws, lambda m: m["type"] == "error")
    assert error["code"] == "INVALID_MESSAGE"
    assert "deltas are for state channels" in error["message"]
