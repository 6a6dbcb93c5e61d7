"""Delivery options: the SSE and HTTP polling twins of the sockets (the same channels,
shapes, cursors and credentials, resumable, across replicas), and per-subscriber pace."""

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.support import host_sample, raise_alert, receive, receive_until, send, serve_gateway
from vigil.bus import Bus
from vigil.streams import LATEST
from vigil_auth.app import AuthService
from vigil_gateway.settings import GatewaySettings

Event = dict[str, Any]


class EventStream:
    """An SSE client on a real streaming response: parses `id:`, `event:`, `data:`."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()
        self.comments = 0

    async def next(self, timeout: float = 5.0) -> Event:
        return await asyncio.wait_for(self._next(), timeout)

    async def _next(self) -> Event:
        event: Event = {}
        async for line in self._lines:
            if line == "":
                if "data" in event:
                    return event
                event = {}
            elif line.startswith(":"):
                self.comments += 1
            else:
                field, _, value = line.partition(":")
                event[field] = value.removeprefix(" ")
        raise AssertionError("the stream ended")

    async def updates(self, count: int) -> list[tuple[str, dict[str, Any]]]:
        """(id, data) of the next `count` updates."""
        found = []
        while len(found) < count:
            event = await self.next()
            data = json.loads(event["data"])
            if data["type"] == "update":
                found.append((event.get("id", ""), data))
        return found


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


async def test_sse_streams_a_channel_and_resumes_with_last_event_id_losing_nothing(
    auth_service: AuthService,
    gateway_settings: GatewaySettings,
    admin_token: str,
    alerts_bus: Bus,
    http: httpx.AsyncClient,
) -> None:
    async with serve_gateway(gateway_settings) as one, serve_gateway(gateway_settings) as two:
        url = f"http://{one}/sse/channels/alerts?token={admin_token}"
        async with http.stream("GET", url) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["cache-control"] == "no-cache, no-transform"
            assert response.headers["x-accel-buffering"] == "no"
            assert "content-encoding" not in response.headers
            events = EventStream(response)  # its feed is live before the headers are sent
            for n in range(2):
                await raise_alert(alerts_bus, n)
            seen = await events.updates(2)
        assert [data["data"]["message"] for _, data in seen] == ["alert 0", "alert 1"]
        assert [int(id_) for id_, _ in seen] == [data["cursor"] for _, data in seen]
        last_id = seen[-1][0]

        for n in range(2, 5):  # while the client is away
            await raise_alert(alerts_bus, n)
        url = f"http://{two}/sse/channels/alerts?token={admin_token}"
        async with http.stream("GET", url, headers={"Last-Event-ID": last_id}) as response:
            missed = await EventStream(response).updates(3)
    assert [data["data"]["message"] for _, data in missed] == ["alert 2", "alert 3", "alert 4"]
    assert [int(id_) for id_, _ in missed] == [int(last_id) + k for k in (1, 2, 3)]


async def test_sse_refuses_missing_credentials_and_channels_beyond_the_role(
    gateway: str, http: httpx.AsyncClient
) -> None:
    reply = await http.get(f"http://{gateway}/sse/channels/alerts")
    assert reply.status_code == 401
    assert reply.json()["detail"]["code"] == "INVALID_CREDENTIALS"
    reply = await http.get(f"http://{gateway}/sse/channels/nonsense?token=x")
    assert reply.status_code == 404
    assert "no such channel" in reply.json()["detail"]["message"]


async def test_the_system_endpoint_has_sse_and_polling_twins_with_seed_shapes(
    gateway: str, admin_token: str, alerts_bus: Bus, http: httpx.AsyncClient
) -> None:
    await raise_alert(alerts_bus, 7)
    page = (await http.get(f"http://{gateway}/api/poll/system?token={admin_token}")).json()
    assert page["channel"] == "system"
    async with http.stream("GET", f"http://{gateway}/sse/system?token={admin_token}") as response:
        assert response.status_code == 200
        events = EventStream(response)
        await raise_alert(alerts_bus, 8)
        event = await events.next()
    alert = json.loads(event["data"])
    assert alert["type"] == "alert"  # seed 001's shape, as on /api/system/ws
    assert alert["data"]["message"] == "alert 8"
    assert int(event["id"]) == page["next_cursor"] + 1


async def test_polling_a_stream_with_a_cursor_across_two_gateways_loses_nothing(
    auth_service: AuthService,
    gateway_settings: GatewaySettings,
    admin_token: str,
    alerts_bus: Bus,
    http: httpx.AsyncClient,
) -> None:
    async with serve_gateway(gateway_settings) as one, serve_gateway(gateway_settings) as two:
        start = await http.get(f"http://{one}/api/poll/channels/alerts?token={admin_token}")
        assert start.json()["messages"] == []  # no cursor yet: none, and the cursor of now
        cursor = start.json()["next_cursor"]
        for n in range(5):
            await raise_alert(alerts_bus, n)
        messages: list[str] = []
        for replica in (one, two, one):
            page = await http.get(
                f"http://{replica}/api/poll/channels/alerts",
                params={"since": cursor, "limit": 2},
                headers={"Authorization": f"Bearer {admin_token}"},
            )
            body = page.json()
            assert len(body["messages"]) <= 2
            messages += [m["data"]["message"] for m in body["messages"]]
            cursor = body["next_cursor"]
    assert messages == [f"alert {n}" for n in range(5)]


async def test_polling_a_state_channel_answers_304_until_it_changes(
    gateway: str, admin_token: str, alerts_bus: Bus, http: httpx.AsyncClient
) -> None:
    await alerts_bus.js.add_stream(LATEST.config(alerts_bus.subjects))
    url = f"http://{gateway}/api/poll/channels/host.metrics?token={admin_token}"
    await publish_sample(alerts_bus, "web1", 10.0)
    first = await http.get(url)
    assert first.status_code == 200
    assert [m["data"]["cpu"]["percent"] for m in first.json()["messages"]] == [10.0]
    tag = first.headers["etag"]
    again = await http.get(url, headers={"If-None-Match": tag})
    assert again.status_code == 304
    await publish_sample(alerts_bus, "web1", 20.0)
    changed = await http.get(url, headers={"If-None-Match": tag})
    assert changed.status_code == 200
    assert [m["data"]["cpu"]["percent"] for m in changed.json()["messages"]] == [20.0]
    assert changed.headers["etag"] != tag


async def publish_sample(bus: Bus, host: str, cpu: float) -> None:
    await bus.publish(bus.subjects.host_metrics(host), host_sample(cpu=cpu, host=host))


async def test_a_paced_subscriber_gets_the_newest_state_once_per_interval_others_everything(
    gateway: str, admin_token: str, alerts_bus: Bus
) -> None:
    await alerts_bus.js.add_stream(LATEST.config(alerts_bus.subjects))
    await publish_sample(alerts_bus, "web1", 1.0)
    url = f"ws://{gateway}/ws?token={admin_token}"
    async with connect(url) as paced, connect(url) as eager:
        for ws, options in ((paced, {"interval_s": 2.0}), (eager, {})):
            await receive(ws)
            await send(ws, {"type": "subscribe", "channel": "host.metrics"} | options)
            assert (await receive(ws))["type"] == "subscribed"
            assert (await cpu_updates(ws, 1)) == [1.0]  # the snapshot, at once
        for cpu in (2.0, 3.0, 4.0, 5.0):
            await publish_sample(alerts_bus, "web1", cpu)
        assert await cpu_updates(eager, 4) == [2.0, 3.0, 4.0, 5.0]
        assert await cpu_updates(paced, 1) == [5.0]  # coalesced to the newest
        await send(paced, {"type": "subscribe", "channel": "alerts", "interval_s": 1})
        error = await receive_until(paced, lambda m: m["type"] == "error")
    assert error["code"] == "INVALID_MESSAGE"
    assert "never coalesced" in error["message"]


async def cpu_updates(ws: ClientConnection, count: int) -> list[float]:
    updates = [await receive_until(ws, lambda m: m["type"] == "update") for _ in range(count)]
    return [update["data"]["cpu"]["percent"] for update in updates]
