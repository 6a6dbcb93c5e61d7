"""A feed NATS refuses to start while it answers (found by bench/load.py: past ~1000
journal consumers on a stream nats-server says 10026, maximum consumers) is refused
to the client with `UNAVAILABLE`, which it may retry, instead of a `subscribed` after
which nothing would ever come. Here the journal stream allows one consumer."""

from websockets.asyncio.client import connect

from tests.support import receive, receive_until, send, serve_gateway
from vigil.bus import Bus
from vigil.streams import DEPLOY_EVENTS
from vigil_auth.app import AuthService
from vigil_gateway.settings import GatewaySettings

SUBSCRIBE = {"type": "subscribe", "channel": "deploy", "params": {"id": "d1"}}


async def test_a_journal_past_the_streams_consumer_limit_is_refused_unavailable(
    auth_service: AuthService, gateway_settings: GatewaySettings, admin_token: str, alerts_bus: Bus
) -> None:
    config = DEPLOY_EVENTS.config(alerts_bus.subjects)
    config.max_consumers = 1
    await alerts_bus.js.add_stream(config)
    async with serve_gateway(gateway_settings) as address:
        url = f"ws://{address}/ws?token={admin_token}"
        async with connect(url) as first, connect(url) as second:
            for ws in (first, second):
                await receive(ws)  # connected
            await send(first, SUBSCRIBE)
            answer = await receive_until(first, lambda m: m["type"] in {"subscribed", "error"})
            assert answer["type"] == "subscribed"  # the one consumer the stream allows
            await send(second, SUBSCRIBE)
            answer = await receive_until(second, lambda m: m["type"] in {"subscribed", "error"})
            assert answer["type"] == "error", answer
            assert answer["code"] == "UNAVAILABLE"
            assert "try again" in answer["message"]
            # the socket stays open and usable, and the refused channel is not held
            await send(second, {"type": "ping"})
            assert (await receive_until(second, lambda m: m["type"] == "pong"))["type"] == "pong"
