"""When a proxy blocks WebSockets the client falls back to Server-Sent Events, and to
polling when event streams are blocked too; it keeps every subscription on the way,
and goes back to the socket once upgrades get through again."""

import asyncio

from tests.client_support import client_for, events, proxy_to, updates_until
from tests.support import host_sample, raise_alert
from vigil.bus import Bus
from vigil.messages import Update
from vigil.streams import LATEST
from vigil_client import ConnectionState, TransportKind

FALLBACK, LIVE = ConnectionState.FALLBACK, ConnectionState.LIVE


def messages(updates: list[Update]) -> list[str]:
    return [str(u.data["message"]) for u in updates]


async def test_a_blocked_websocket_falls_back_to_sse_and_upgrades_once_it_gets_through(
    gateway: str, admin_token: str, alerts_bus: Bus
) -> None:
    async with (
        proxy_to(gateway, block_websocket=True) as proxy,
        client_for(proxy.address, admin_token, fallback_after=2, upgrade_after_s=0.5) as client,
    ):
        alerts = await client.subscribe("alerts")
        async with asyncio.timeout(10):
            await client.wait_until(FALLBACK, transport=TransportKind.SSE)
        assert proxy.refused.count("/ws") >= 2
        for n in range(3):
            await raise_alert(alerts_bus, n)
        over_sse = await updates_until(alerts, lambda seen: len(seen) == 3)

        proxy.block_websocket = False  # the network lets upgrades through again
        async with asyncio.timeout(10):
            await client.wait_until(LIVE, transport=TransportKind.WEBSOCKET)
        for n in range(3, 5):
            await raise_alert(alerts_bus, n)
        over_socket = await updates_until(alerts, lambda seen: len(seen) == 2)
        assert alerts.pending() == []

    assert messages(over_sse + over_socket) == [f"alert {n}" for n in range(5)]
    cursors = [u.cursor for u in over_sse + over_socket]
    assert cursors == sorted(set(cursors))


async def test_with_event_streams_blocked_too_it_polls_state_and_streams(
    gateway: str, admin_token: str, alerts_bus: Bus
) -> None:
    await alerts_bus.js.add_stream(LATEST.config(alerts_bus.subjects))
    await alerts_bus.publish(alerts_bus.subjects.host_metrics("web1"), host_sample(cpu=11.0))
    async with (
        proxy_to(gateway, block_websocket=True, block_sse=True) as proxy,
        client_for(proxy.address, admin_token, fallback_after=2, upgrade_after_s=60) as client,
    ):
        alerts = await client.subscribe("alerts")
        metrics = await client.subscribe("host.metrics", {"host": "web1"})
        async with asyncio.timeout(15):
            await client.wait_until(FALLBACK, transport=TransportKind.POLLING)
        assert any(path.startswith("/sse/channels/") for path in proxy.refused)

        (snapshot,) = await events(metrics, 1)
        for n in range(3):
            await raise_alert(alerts_bus, n)
        polled = await updates_until(alerts, lambda seen: len(seen) == 3)
        await alerts_bus.publish(alerts_bus.subjects.host_metrics("web1"), host_sample(cpu=22.0))
        (changed,) = await events(metrics, 1)

    assert isinstance(snapshot, Update)
    assert isinstance(changed, Update)
    assert (snapshot.data["cpu"]["percent"], changed.data["cpu"]["percent"]) == (11.0, 22.0)
    assert messages(polled) == ["alert 0", "alert 1", "alert 2"]
