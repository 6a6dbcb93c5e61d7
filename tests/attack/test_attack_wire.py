"""The WebSocket wire cannot be made to queue without bound (issue #18): every message
that draws a reply, malformed ones included, counts against the rate limit; replies
go through the outbox's bound, so a client that keeps sending but never reads is
closed with 4008 (too slow) and, not answering the close either, cut off; a flood
of frames from one socket does not hold up the others. Each attack runs against a
gateway process while a healthy client measures (`attack_support`)."""

import asyncio
import time

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.attack_support import GatewayProcess, gateway_process, healthy_client
from tests.stuck_client import StuckClient
from tests.support import NatsServer, receive, serve_gateway
from vigil_auth.app import AuthService
from vigil_gateway.settings import GatewaySettings

INVALID = {"type": "no-such-type"}


class Flooder:
    """A `StuckClient` that sends invalid messages as fast as the gateway takes them,
    for `seconds` or `count` messages at most (in a thread: its socket blocks), and
    reads nothing meanwhile."""

    def __init__(self, gateway: GatewayProcess, token: str) -> None:
        self.client = StuckClient(gateway.port, token)
        self.sent = 0
        self.cut_off = False

    def flood(self, seconds: float, count: int) -> None:
        deadline = time.monotonic() + seconds
        try:
            while self.sent < count and time.monotonic() < deadline:
                self.client.send(INVALID)
                self.sent += 1
        except OSError:  # reset, broken pipe, or the send timed out on a full window
            self.cut_off = True


async def socket_count(http: httpx.AsyncClient) -> float:
    for line in (await http.get("/metrics")).text.splitlines():
        if line.startswith("vigil_gateway_sockets "):
            return float(line.split()[1])
    raise AssertionError("no socket figure in /metrics")


@pytest.mark.timeout(120)
async def test_a_client_that_floods_invalid_frames_and_never_reads_is_closed_4008(
    nats_server: NatsServer,
    prefix: str,
    auth_service: AuthService,
    admin_token: str,
    gateway_settings: GatewaySettings,
) -> None:
    async with (
        gateway_process(gateway_settings) as gateway,
        httpx.AsyncClient(base_url=f"http://{gateway.address}", timeout=10) as http,
    ):
        async with healthy_client(gateway, admin_token) as health:
            flooder = Flooder(gateway, admin_token)
            await asyncio.to_thread(flooder.flood, seconds=3, count=500_000)
            assert flooder.sent > 1000, "the flood never got going"
            # Now it reads: what was queued for it, up to the close the gateway sent.
            messages, code = await asyncio.to_thread(flooder.client.receive_until_closed)
            assert code == 4008
            kinds = [(m["type"], m.get("code")) for m in messages]
            assert kinds[0] == ("connected", None)
            assert ("error", "INVALID_MESSAGE") in kinds  # within the limit: says why
            assert ("error", "RATE_LIMITED") in kinds  # past it
            assert len(messages) < flooder.sent / 2, "replies were bounded, not one each"
            # A client that neither reads nor answers the close is cut off in time.
            stuck = Flooder(gateway, admin_token)
            await asyncio.to_thread(stuck.flood, seconds=2, count=500_000)
            deadline = time.monotonic() + 20  # the close's 10 s, and some
            while await socket_count(http) > 1:  # the healthy client's socket
                assert time.monotonic() < deadline, "the stuck socket was never cut off"
                await asyncio.sleep(0.2)
            stuck.client.close()
            flooder.client.close()
        health.assert_unharmed()


async def test_malformed_messages_count_against_the_rate_limit(
    auth_service: AuthService, gateway_settings: GatewaySettings, admin_token: str
) -> None:
    settings = gateway_settings.model_copy(
        update={
            "rate_limit": "window",
            "rate_limit_messages": 4,
            "rate_limit_window_s": 30,
            "share_rate_limit": False,
        }
    )
    async with (
        serve_gateway(settings) as address,
        connect(f"ws://{address}/ws?token={admin_token}") as ws,
    ):
        await receive(ws)
        await ws.send("{not json")
        await ws.send(b"\x00binary")
        await ws.send('{"type": "answer", "requestId": "no-such-question", "data": {}}')
        await ws.send('{"type": "ping"}')
        await ws.send('{"type": "ping"}')
        await ws.send('{"type": "pong"}')  # a reply: free, and unanswered
        replies = [await receive(ws) for _ in range(5)]
    assert [(r["type"], r.get("code"), r.get("remaining")) for r in replies] == [
        ("error", "INVALID_MESSAGE", 3),
        ("error", "INVALID_MESSAGE", 2),
        ("error", "NOT_FOUND", 1),
        ("pong", None, 0),
        ("error", "RATE_LIMITED", 0),
    ]
    assert "binary frames are not supported" in replies[1]["message"]
    assert 0 < replies[4]["retry_after_s"] <= 30
