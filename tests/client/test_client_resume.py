"""The Python client keeps its subscriptions across a gateway restart: it reconnects
(with backoff), resumes stream channels from their cursors, and delivers every event
exactly once."""

import asyncio

from tests.client_support import client_for, events, updates_until
from tests.support import free_port, raise_alert, serve_gateway
from vigil.bus import Bus
from vigil.messages import Update
from vigil_auth.app import AuthService
from vigil_client import ConnectionState, TransportKind
from vigil_gateway.settings import GatewaySettings


async def test_alerts_resume_across_a_gateway_restart_with_nothing_lost_or_repeated(
    auth_service: AuthService, gateway_settings: GatewaySettings, admin_token: str, alerts_bus: Bus
) -> None:
    port = free_port()
    async with client_for(f"127.0.0.1:{port}", admin_token) as client:
        async with serve_gateway(gateway_settings, port=port):
            async with asyncio.timeout(10):
                await client.wait_until(ConnectionState.LIVE)
            alerts = await client.subscribe("alerts")
            for n in range(3):
                await raise_alert(alerts_bus, n)
            before = await events(alerts, 3)
        # The gateway is gone: the client reconnects; alerts go on meanwhile.
        async with asyncio.timeout(10):
            await client.wait_until(ConnectionState.RECONNECTING)
        for n in range(3, 6):
            await raise_alert(alerts_bus, n)
        async with serve_gateway(gateway_settings, port=port):
            async with asyncio.timeout(10):
                await client.wait_until(ConnectionState.LIVE)
            await raise_alert(alerts_bus, 6)
            after = await updates_until(alerts, lambda seen: len(seen) == 4)
            assert alerts.pending() == []  # nothing after the last one: no repeats

    got = [e for e in before + after if isinstance(e, Update)]
    assert [u.data["message"] for u in got] == [f"alert {n}" for n in range(7)]
    cursors = [u.cursor for u in got]
    assert cursors == list(range(cursors[0], cursors[0] + 7))
    assert (client.connections, client.transport) == (2, TransportKind.WEBSOCKET)
    assert client.state is ConnectionState.CLOSED


async def test_a_stream_subscription_resumes_even_before_its_first_message(
    auth_service: AuthService, gateway_settings: GatewaySettings, admin_token: str, alerts_bus: Bus
) -> None:
    """Subscribed, then the gateway restarts before any alert: the one raised while
    it was away still arrives (the subscription started at the gateway's cursor)."""
    port = free_port()
    async with client_for(f"127.0.0.1:{port}", admin_token) as client:
        async with serve_gateway(gateway_settings, port=port):
            async with asyncio.timeout(10):
                await client.wait_until(ConnectionState.LIVE)
            alerts = await client.subscribe("alerts")
        await raise_alert(alerts_bus, 1)
        async with serve_gateway(gateway_settings, port=port):
            (event,) = await events(alerts, 1)
    assert isinstance(event, Update)
    assert event.data["message"] == "alert 1"


async def test_a_subscription_from_an_old_cursor_gets_the_whole_backlog_in_order(
    gateway: str, admin_token: str, alerts_bus: Bus
) -> None:
    for n in range(50):
        await raise_alert(alerts_bus, n)
    async with client_for(gateway, admin_token) as client:
        alerts = await client.subscribe("alerts", since=0)
        got = await updates_until(alerts, lambda seen: len(seen) == 50)
    assert [u.data["message"] for u in got] == [f"alert {n}" for n in range(50)]
