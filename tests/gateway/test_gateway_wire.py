"""The sockets' wire: open sockets cost no task, early messages are kept, and frames
reach clients with and without permessage-deflate."""

import asyncio
import contextlib
import json

import pytest
from websockets.asyncio.client import connect
from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.frames import Frame as WsFrame
from websockets.frames import Opcode

from tests.support import raise_alert, receive, send, serve_gateway
from vigil.bus import Bus
from vigil_auth.app import AuthService
from vigil_gateway.settings import GatewaySettings
from vigil_gateway.transport.wire import DEFLATE_MEMORY_LEVEL, DEFLATE_WINDOW_BITS, Frame


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


async def test_with_compression_on_clients_with_and_without_deflate_get_the_same_updates(
    auth_service: AuthService,
    gateway_settings: GatewaySettings,
    admin_token: str,
    alerts_bus: Bus,
) -> None:
    settings = gateway_settings.model_copy(update={"permessage_deflate": True})
    async with serve_gateway(settings) as address:
        url = f"ws://{address}/ws?token={admin_token}"
        async with connect(url) as deflating, connect(url, compression=None) as plain:
            both = (deflating, plain)
            [extension] = deflating.protocol.extensions  # what a browser offers, too
            assert extension.remote_no_context_takeover  # the server's frames: one each
            assert not plain.protocol.extensions
            for ws in both:
                assert (await receive(ws))["type"] == "connected"
                await send(ws, {"type": "subscribe", "channel": "alerts"})
                assert (await receive(ws))["type"] == "subscribed"
            for n in range(3):
                await raise_alert(alerts_bus, n, padding=f"disk {n} is full " * 40)
            got = [
                [(await receive(ws))["data"]["message"] for _ in range(3)]
                for ws in (deflating, plain)
            ]
    assert got[0] == got[1] == [f"disk {n} is full " * 40 for n in range(3)]


@pytest.mark.parametrize("size", [10, 1_000, 100_000])
def test_a_frame_compressed_once_is_what_each_sockets_own_deflate_would_send(size: int) -> None:
    text = json.dumps({"type": "update", "data": "x" * size, "n": list(range(50))})
    own = PerMessageDeflate(
        remote_no_context_takeover=False,
        local_no_context_takeover=True,
        remote_max_window_bits=15,
        local_max_window_bits=DEFLATE_WINDOW_BITS,
        compress_settings={"memLevel": DEFLATE_MEMORY_LEVEL},
    )
    sent = own.encode(WsFrame(Opcode.TEXT, text.encode()))
    deflated = Frame(text).deflated
    assert deflated[0] == 0xC1  # FIN, RSV1 (compressed), text
    assert deflated.endswith(bytes(sent.data))
