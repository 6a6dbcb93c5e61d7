"""The sockets' wire: open sockets cost no task, early messages are kept, and frames
reach clients with and without permessage-deflate."""

import asyncio
import contextlib

from websockets.asyncio.client import connect

from tests.support import receive, receive_until, send, serve_gateway
from vigil_auth.app import AuthService
from vigil_gateway.settings import GatewaySettings


async def test_open_sockets_hold_no_task_of_their_own(gateway: str, admin_token: str) -> None:
    url = f"ws://{gateway}/ws?token={admin_token}"
    before = asyncio.all_tasks()
    async with contextlib.AsyncExitStack() as stack:
        sockets = [await stack.enter_async_context(connect(url)) for _ in range(20)]
        for ws in sockets:
            assert (await receive(ws))["type"] == "connected"
        await send(sockets[0], {"type": "subscribe", "channel": "alerts"})
        assert (await receive(sockets[0]))["type"] == "subscribed"
        started = [task.get_coro() for task in asyncio.all_tasks() - before]
        names = {getattr(coroutine, "__qualname__", "?") for coroutine in started}
        # The clients' keepalives and the alerts feed's consumer; nothing per socket of
        # the gateway's own (no reader, writer, heartbeat or expiry task).
        assert names <= {
            "Connection.keepalive",
            "Subscription._wait_for_msgs",
            "JetStreamContext._JSI.activity_check",
            "JetStreamContext._JSI.check_flow_control_response",
        }, names


async def test_what_a_client_sends_before_hearing_connected_is_answered_in_order(
    gateway: str, admin_token: str
) -> None:
    async with connect(f"ws://{gateway}/ws?token={admin_token}") as ws:
        await send(ws, {"type": "ping"})
        await send(ws, {"type": "subscribe", "channel": "alerts"})
        await ws.send(b"\x00binary")
        replies = [await receive(ws) for _ in range(4)]
    assert [reply["type"] for reply in replies] == ["connected", "pong", "subscribed", "error"]
    assert "binary frames are not supported" in replies[3]["message"]


async def test_a_client_that_negotiates_deflate_gets_its_frames_compressed(
    auth_service: AuthService, gateway_settings: GatewaySettings, admin_token: str
) -> None:
    settings = gateway_settings.model_copy(update={"permessage_deflate": True})
    async with serve_gateway(settings) as address:
        async with connect(f"ws://{address}/ws?token={admin_token}") as ws:
            assert ws.protocol.extensions, "permessage-deflate was not negotiated"
            assert (await receive(ws))["type"] == "connected"
            await send(ws, {"type": "ping"})
            await send(ws, {"type": "subscribe", "channel": "alerts"})
            pong = await receive_until(ws, lambda m: m["type"] == "pong")
            subscribed = await receive(ws)
    assert pong["remaining"] == settings.rate_limit_messages - 1
    assert subscribed == {
        "type": "subscribed",
        "channel": "alerts",
        "kind": "stream",
        "remaining": settings.rate_limit_messages - 2,
    }
