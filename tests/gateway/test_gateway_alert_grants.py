"""A Kubernetes alert reaches only the principals whose grant covers its cluster, on
every path an alert takes to a client: the `alerts` channel on `/ws` (live, and resumed
from a cursor), `/api/system/ws`, SSE and polling (and so the dashboard and `vigil
alerts`, which read those). A host's alert concerns no cluster: everyone gets it.

The alerts of every cluster share one feed per gateway, filtered per subscriber. Each
test publishes cluster beta's alert first, then alpha's, then a host's: a user granted
alpha alone who gets alpha's first, then the host's, was never sent beta's (a feed
sends in stream order).
"""

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.grant_support import granted
from tests.support import bearer, raise_alert, receive_until, send
from vigil.bus import Bus
from vigil.messages import AlertChanged, AlertState, utc_now

ALPHA, BETA = "alpha", "beta"
THREE = ["beta alert", "alpha alert", "alert 3"]  # as published, in order
GRANTED_ALPHA = ["alpha alert", "alert 3"]


async def cluster_alert(bus: Bus, cluster: str) -> None:
    """What the collector publishes for a pod in `cluster` that backs off."""
    alert = AlertChanged(
        id=f"k8s:{cluster}:shop/web-1:BackOff",
        state=AlertState.RAISED,
        source="k8s",
        host=cluster,
        cluster=cluster,
        metric="BackOff",
        value=1.0,
        threshold=1.0,
        time=utc_now(),
        message=f"{cluster} alert",
    )
    await bus.publish(bus.subjects.alerts("k8s"), alert)


async def publish_three(bus: Bus) -> None:
    await cluster_alert(bus, BETA)
    await cluster_alert(bus, ALPHA)
    await raise_alert(bus, 3)


@pytest.fixture
async def http(gateway: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://{gateway}", timeout=10) as client:
        yield client


@pytest.fixture
async def ann(http: httpx.AsyncClient, admin_token: str) -> str:
    """A viewer granted cluster alpha only."""
    return await granted(http, admin_token, "ann", [ALPHA])


async def subscribed(ws: ClientConnection, since: int | None = None) -> None:
    message: dict[str, Any] = {"type": "subscribe", "channel": "alerts"}
    await send(ws, message | ({"since": since} if since is not None else {}))
    await receive_until(ws, lambda m: m["type"] == "subscribed")


async def updates(ws: ClientConnection, count: int) -> list[dict[str, Any]]:
    return [await receive_until(ws, lambda m: m["type"] == "update") for _ in range(count)]


def said(frames: list[dict[str, Any]]) -> list[str]:
    return [frame["data"]["message"] for frame in frames]


async def test_live_alerts_of_a_cluster_reach_only_its_grant_on_ws_and_the_system_socket(
    gateway: str, alerts_bus: Bus, admin_token: str, ann: str
) -> None:
    async with (
        connect(f"ws://{gateway}/ws?token={ann}") as ann_ws,
        connect(f"ws://{gateway}/api/system/ws?token={ann}") as ann_system,
        connect(f"ws://{gateway}/ws?token={admin_token}") as admin_ws,
    ):
        await subscribed(ann_ws)
        await subscribed(admin_ws)
        await send(ann_system, {"type": "ping"})  # answered once its channel is joined
        await receive_until(ann_system, lambda m: m["type"] == "pong")
        await publish_three(alerts_bus)

        assert said(await updates(ann_ws, 2)) == GRANTED_ALPHA
        assert said(await updates(admin_ws, 3)) == THREE
        notices = [await receive_until(ann_system, lambda m: m["type"] == "alert") for _ in "ab"]
        assert said(notices) == GRANTED_ALPHA
        assert notices[0]["data"]["cluster"] == ALPHA


async def test_a_resumed_alerts_channel_replays_only_the_granted_clusters(
    gateway: str, alerts_bus: Bus, admin_token: str, ann: str
) -> None:
    await publish_three(alerts_bus)
    async with connect(f"ws://{gateway}/ws?token={ann}") as ws:
        await subscribed(ws, since=0)
        replayed = await updates(ws, 2)
        assert said(replayed) == GRANTED_ALPHA
        await publish_three(alerts_bus)  # caught up: the shared feed goes on filtering
        assert said(await updates(ws, 2)) == GRANTED_ALPHA
    async with connect(f"ws://{gateway}/ws?token={admin_token}") as ws:
        await subscribed(ws, since=0)
        assert said(await updates(ws, 6)) == THREE + THREE


async def test_sse_of_the_alerts_and_of_the_system_view_leave_other_clusters_out(
    gateway: str, alerts_bus: Bus, ann: str, http: httpx.AsyncClient
) -> None:
    await publish_three(alerts_bus)
    for path, kind in (("/sse/channels/alerts", "update"), ("/sse/system", "alert")):
        async with http.stream("GET", path, params={"since": 0}, headers=bearer(ann)) as stream:
            assert stream.status_code == 200
            frames: list[dict[str, Any]] = []
            async for line in stream.aiter_lines():
                if line.startswith("data: ") and (frame := json.loads(line[6:]))["type"] == kind:
                    frames.append(frame)
                    if len(frames) == 2:
                        break
        assert said(frames) == GRANTED_ALPHA, path


async def test_polling_leaves_other_clusters_alerts_out_and_its_cursor_moves_past_them(
    alerts_bus: Bus, admin_token: str, ann: str, http: httpx.AsyncClient
) -> None:
    await publish_three(alerts_bus)
    for path in ("/api/poll/channels/alerts", "/api/poll/system"):
        mine = (await http.get(path, params={"since": 0}, headers=bearer(ann))).json()
        every = (await http.get(path, params={"since": 0}, headers=bearer(admin_token))).json()
        assert said(mine["messages"]) == GRANTED_ALPHA, path
        assert said(every["messages"]) == THREE, path
        assert mine["next_cursor"] == every["next_cursor"]  # beta's is passed, not re-read
        again = await http.get(path, params={"since": mine["next_cursor"]}, headers=bearer(ann))
        assert again.json()["messages"] == []
