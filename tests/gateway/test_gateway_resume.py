"""Stream channels carry cursors; a client resumes from its cursor on any replica, and
gets an explicit `reset` when what it missed is no longer kept."""

from websockets.asyncio.client import ClientConnection, connect

from tests.support import raise_alert, receive, receive_until, send, serve_gateway
from vigil.bus import Bus
from vigil.streams import ALERTS
from vigil_auth.app import AuthService
from vigil_gateway.settings import GatewaySettings


async def alerts(ws: ClientConnection, count: int) -> list[tuple[int, str]]:
    """(cursor, message) of the next `count` alert updates."""
    updates = [
        await receive_until(ws, lambda m: m["type"] == "update" and m["channel"] == "alerts")
        for _ in range(count)
    ]
    return [(u["cursor"], u["data"]["message"]) for u in updates]


async def test_a_client_resumes_on_another_gateway_with_nothing_lost(
    auth_service: AuthService, gateway_settings: GatewaySettings, admin_token: str, alerts_bus: Bus
) -> None:
    async with serve_gateway(gateway_settings) as one, serve_gateway(gateway_settings) as two:
        async with connect(f"ws://{one}/ws?token={admin_token}") as ws:
            await receive(ws)
            await send(ws, {"type": "subscribe", "channel": "alerts"})
            await receive(ws)
            for n in range(3):
                await raise_alert(alerts_bus, n)
            seen = await alerts(ws, 3)
        assert [m for _, m in seen] == ["alert 0", "alert 1", "alert 2"]
        last_cursor = seen[-1][0]

        for n in range(3, 6):  # published while the client is away
            await raise_alert(alerts_bus, n)
        async with connect(f"ws://{two}/ws?token={admin_token}") as ws:
            await receive(ws)
            await send(ws, {"type": "subscribe", "channel": "alerts", "since": last_cursor})
            assert (await receive(ws))["type"] == "subscribed"
            missed = await alerts(ws, 3)
            await raise_alert(alerts_bus, 6)
            live = await alerts(ws, 1)
    assert [m for _, m in missed] == ["alert 3", "alert 4", "alert 5"]
    assert [c for c, _ in missed] == [last_cursor + 1, last_cursor + 2, last_cursor + 3]
    assert live == [(last_cursor + 4, "alert 6")]


async def test_a_cursor_older_than_the_window_gets_a_reset_then_what_is_kept(
    auth_service: AuthService, gateway_settings: GatewaySettings, admin_token: str, alerts_bus: Bus
) -> None:
    for n in range(5):
        await raise_alert(alerts_bus, n)
    stream = alerts_bus.subjects.stream_name(ALERTS.base_name)
    await alerts_bus.js.purge_stream(stream, keep=2)  # the window now holds only the last two
    async with (
        serve_gateway(gateway_settings) as address,
        connect(f"ws://{address}/ws?token={admin_token}") as ws,
    ):
        await receive(ws)
        await send(ws, {"type": "subscribe", "channel": "alerts", "since": 1})
        assert (await receive(ws))["type"] == "subscribed"
        reset = await receive(ws)
        kept = await alerts(ws, 2)
    assert reset == {"type": "reset", "channel": "alerts", "since": 1, "first_cursor": 4}
    assert kept == [(4, "alert 3"), (5, "alert 4")]
