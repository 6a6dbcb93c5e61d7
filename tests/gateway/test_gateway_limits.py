"""Heartbeats, rate limits, single sessions and the gateway's limits, with real sockets."""

import json
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.support import (
    NatsServer,
    bus_client,
    closed_with,
    receive,
    receive_until,
    send,
    serve_gateway,
)
from vigil import ctl
from vigil.access import Role
from vigil.messages import CreateApiKey
from vigil.operations import Auth
from vigil_auth.app import AuthService
from vigil_gateway.settings import GatewaySettings


@pytest.fixture
def settings(auth_service: AuthService, gateway_settings: GatewaySettings) -> GatewaySettings:
    return gateway_settings


def tuned(settings: GatewaySettings, **changes: object) -> GatewaySettings:
    return settings.model_copy(update=changes)


# -- heartbeat -----------------------------------------------------------------------


async def test_a_client_that_answers_pings_stays_and_one_that_does_not_is_closed_4003(
    settings: GatewaySettings, admin_token: str
) -> None:
    quick = tuned(settings, heartbeat_interval_s=0.2, pong_timeout_s=0.2, max_missed_pongs=3)
    async with serve_gateway(quick) as address:
        async with connect(f"ws://{address}/ws?token={admin_token}") as polite:
            await receive(polite)
            for _ in range(6):  # well past three intervals
                ping = await receive_until(polite, lambda m: m["type"] == "ping")
                assert "time" in ping
                await send(polite, {"type": "pong"})
            await send(polite, {"type": "ping"})
            pong = await receive_until(polite, lambda m: m["type"] == "pong")
            assert pong["remaining"] == quick.rate_limit_burst - 1  # pongs are not counted

        async with connect(f"ws://{address}/ws?token={admin_token}") as silent:
            code, reason = await closed_with(silent, timeout=3)
    assert (code, reason) == (4003, "no pong to 3 pings in a row")


# -- rate limits ---------------------------------------------------------------------


async def burst(ws: ClientConnection, count: int) -> list[dict[str, object]]:
    replies = []
    for _ in range(count):
        await send(ws, {"type": "ping"})
        replies.append(await receive_until(ws, lambda m: m["type"] in {"pong", "error"}))
    return replies


async def test_over_the_limit_a_client_gets_rate_limited_and_its_socket_stays_open(
    settings: GatewaySettings, admin_token: str
) -> None:
    limited = tuned(
        settings,
        rate_limit="window",
        rate_limit_messages=3,
        rate_limit_window_s=30,
        share_rate_limit=False,
    )
    async with serve_gateway(limited) as address:
        async with connect(f"ws://{address}/ws?token={admin_token}") as ws:
            await receive(ws)
            replies = await burst(ws, 5)
            assert [r.get("remaining") for r in replies[:3]] == [2, 1, 0]
            for refused in replies[3:]:
                assert (refused["type"], refused["code"], refused["remaining"]) == (
                    "error",
                    "RATE_LIMITED",
                    0,
                )
                assert 0 < float(refused["retry_after_s"]) <= 30  # type: ignore[arg-type]
            # Per connection: a second socket of the same user has its own budget.
            async with connect(f"ws://{address}/ws?token={admin_token}") as other:
                await receive(other)
                assert (await burst(other, 1))[0]["remaining"] == 2


async def test_a_shared_limit_counts_a_users_sockets_on_every_gateway_together(
    settings: GatewaySettings, admin_token: str
) -> None:
    shared = tuned(
        settings,
        rate_limit="window",
        rate_limit_messages=4,
        rate_limit_window_s=30,
        share_rate_limit=True,
    )
    async with serve_gateway(shared) as one, serve_gateway(shared) as two:
        async with (
            connect(f"ws://{one}/ws?token={admin_token}") as a,
            connect(f"ws://{two}/ws?token={admin_token}") as b,
        ):
            await receive(a)
            await receive(b)
            first = await burst(a, 2)
            second = await burst(b, 3)
    assert [r.get("remaining") for r in first] == [3, 2]
    assert [r.get("remaining") for r in second[:2]] == [1, 0]
    assert second[2]["code"] == "RATE_LIMITED"


async def test_pongs_to_the_heartbeat_do_not_count_against_the_limit(
    settings: GatewaySettings, admin_token: str
) -> None:
    limited = tuned(settings, rate_limit="window", rate_limit_messages=2, share_rate_limit=False)
    async with (
        serve_gateway(limited) as address,
        connect(f"ws://{address}/ws?token={admin_token}") as ws,
    ):
        await receive(ws)
        for _ in range(10):
            await send(ws, {"type": "pong"})
        assert (await burst(ws, 1))[0]["remaining"] == 1


# -- single session ------------------------------------------------------------------


async def test_single_session_closes_the_older_socket_on_another_gateway_with_4004(
    settings: GatewaySettings, admin_token: str
) -> None:
    single = tuned(settings, single_session_per_user=True)
    async with serve_gateway(single) as one, serve_gateway(single) as two:
        async with connect(f"ws://{one}/ws?token={admin_token}") as older:
            await receive(older)
            async with connect(f"ws://{two}/ws?token={admin_token}") as newer:
                await receive(newer)
                assert await closed_with(older, timeout=2) == (
                    4004,
                    "replaced by a newer session of the same user",
                )
                await send(newer, {"type": "ping"})
                assert (await receive(newer))["type"] == "pong"


async def test_without_single_session_a_user_may_hold_several_sockets(
    settings: GatewaySettings, admin_token: str
) -> None:
    async with (
        serve_gateway(settings) as address,
        connect(f"ws://{address}/ws?token={admin_token}") as a,
        connect(f"ws://{address}/ws?token={admin_token}") as b,
    ):
        for ws in (a, b):
            await receive(ws)
            await send(ws, {"type": "ping"})
            assert (await receive(ws))["type"] == "pong"


# -- limits --------------------------------------------------------------------------


@pytest.fixture
async def small_gateway(settings: GatewaySettings) -> AsyncIterator[str]:
    small = tuned(
        settings,
        max_connections=3,
        max_connections_per_user=2,
        max_subscriptions=2,
        max_message_bytes=1024,
    )
    async with serve_gateway(small) as address:
        yield address


async def test_past_the_per_user_limit_a_socket_is_closed_1008(
    small_gateway: str, admin_token: str
) -> None:
    url = f"ws://{small_gateway}/ws?token={admin_token}"
    async with connect(url) as a, connect(url) as b, connect(url) as c:
        await receive(a)
        await receive(b)
        code, reason = await closed_with(c)
    assert code == 1008
    assert "already holds 2 sockets" in reason


async def test_a_full_gateway_answers_1013(
    small_gateway: str, admin_token: str, nats_server: NatsServer, prefix: str
) -> None:
    async with bus_client(nats_server, prefix) as bus:
        created = await ctl.call(
            bus,
            Auth.CREATE_API_KEY,
            CreateApiKey(name="second", role=Role.VIEWER),
            token=admin_token,
        )
    as_admin = f"ws://{small_gateway}/ws?token={admin_token}"
    as_key = f"ws://{small_gateway}/ws?api_key={created.api_key}"
    async with connect(as_admin) as a, connect(as_admin) as b, connect(as_key) as c:
        for ws in (a, b, c):
            await receive(ws)
        async with connect(as_key) as fourth:
            code, reason = await closed_with(fourth)
    assert code == 1013
    assert "maximum of 3 sockets" in reason


async def test_subscriptions_per_socket_are_limited(small_gateway: str, admin_token: str) -> None:
    async with connect(f"ws://{small_gateway}/ws?token={admin_token}") as ws:
        await receive(ws)
        for channel in ("host.metrics", "alerts", "system"):
            await send(ws, {"type": "subscribe", "channel": channel})
        replies = [
            await receive_until(ws, lambda m: m["type"] in {"subscribed", "error"})
            for _ in range(3)
        ]
    assert [r["type"] for r in replies] == ["subscribed", "subscribed", "error"]
    assert replies[2]["code"] == "LIMIT_REACHED"
    assert "at most 2 subscriptions" in replies[2]["message"]


async def test_an_inbound_message_over_the_size_limit_closes_1009(
    small_gateway: str, admin_token: str
) -> None:
    async with connect(f"ws://{small_gateway}/ws?token={admin_token}") as ws:
        await receive(ws)
        await ws.send(json.dumps({"type": "ping", "pad": "x" * 2000}))
        code, _ = await closed_with(ws)
    assert code == 1009


async def test_handshakes_faster_than_the_limit_are_told_to_try_later(
    settings: GatewaySettings, admin_token: str
) -> None:
    async with serve_gateway(tuned(settings, max_handshakes_per_s=2)) as address:
        url = f"ws://{address}/ws?token={admin_token}"
        codes = []
        for _ in range(4):
            async with connect(url) as ws:
                try:
                    await receive(ws)
                    codes.append(0)
                except ConnectionClosed as closed:
                    codes.append(closed.rcvd.code if closed.rcvd else -1)
    assert codes[:2] == [0, 0]
    assert 1013 in codes[2:]


async def test_compression_is_off_unless_configured(
    settings: GatewaySettings, admin_token: str
) -> None:
    for enabled in (False, True):
        async with (
            serve_gateway(tuned(settings, permessage_deflate=enabled)) as address,
            connect(f"ws://{address}/ws?token={admin_token}") as ws,  # offers deflate
        ):
            await receive(ws)
            negotiated = ws.response.headers.get("Sec-WebSocket-Extensions", "")  # type: ignore[union-attr]
            assert ("permessage-deflate" in negotiated) is enabled
