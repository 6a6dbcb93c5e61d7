"""The client's credentials: tokens refreshed before they expire (the socket stays
open), a socket closed with 4001 reopened with fresh tokens, a session that cannot be
refreshed ends the client; and questions from services answered through a callback."""

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import jwt
import pytest

from tests.client_support import FAST, client_for, events
from tests.conftest import ADMIN_PASSWORD
from tests.support import (
    NatsServer,
    auth_settings_for,
    bus_client,
    raise_alert,
    run_auth,
    serve_gateway,
    wait_for,
)
from vigil import ctl
from vigil.access import principal_token
from vigil.bus import Bus
from vigil.messages import Ask, AskClient, ClientAnswered, Update
from vigil_client import (
    AuthenticationFailed,
    ConnectionState,
    Tokens,
    VigilClient,
    login,
)
from vigil_gateway.settings import GatewaySettings

TTL_S = 10  # the shortest the auth service allows


@pytest.fixture
async def short_lived(
    nats_server: NatsServer, prefix: str, gateway_settings: GatewaySettings
) -> AsyncIterator[str]:
    """A gateway whose auth service issues access tokens that live `TTL_S`."""
    settings = auth_settings_for(
        nats_server, prefix, admin_password=ADMIN_PASSWORD, access_token_ttl_s=TTL_S
    )
    async with run_auth(settings), serve_gateway(gateway_settings) as address:
        yield address


async def test_tokens_are_refreshed_before_they_expire_and_the_socket_stays_open(
    short_lived: str, alerts_bus: Bus
) -> None:
    issued = await login(f"http://{short_lived}", "admin", ADMIN_PASSWORD)
    kept: list[Tokens] = []
    client = VigilClient(
        f"http://{short_lived}", Tokens.issued(issued), backoff=FAST, on_refresh=kept.append
    )
    async with client:
        alerts = await client.subscribe("alerts")
        async with asyncio.timeout(10):
            await client.wait_until(ConnectionState.LIVE)
        first_expiry = Tokens.issued(issued).expires_at
        await wait_for(
            lambda: bool(kept) and time.time() > first_expiry + 1, "a refresh", TTL_S + 10
        )
        await raise_alert(alerts_bus, 1)
        (event,) = await events(alerts, 1)
    assert isinstance(event, Update)
    assert kept[0].access_token != issued.access_token
    assert client.connections == 1  # never closed with 4001


async def test_a_socket_closed_with_4001_reconnects_with_refreshed_tokens(
    short_lived: str, alerts_bus: Bus
) -> None:
    issued = await login(f"http://{short_lived}", "admin", ADMIN_PASSWORD)
    # The client believes the token lives an hour: only the gateway's 4001 tells it.
    tokens = Tokens(issued.access_token, issued.refresh_token, time.time() + 3600)
    async with VigilClient(f"http://{short_lived}", tokens, backoff=FAST) as client:
        alerts = await client.subscribe("alerts")
        await wait_for(lambda: client.connections == 2, "a second connection", TTL_S + 10)
        async with asyncio.timeout(10):
            await client.wait_until(ConnectionState.LIVE)
        await raise_alert(alerts_bus, 1)
        (event,) = await events(alerts, 1)
    assert isinstance(event, Update)
    assert client.session.credentials.access_token != issued.access_token  # type: ignore[union-attr]


async def test_a_session_that_cannot_be_refreshed_ends_the_client(
    short_lived: str,
) -> None:
    issued = await login(f"http://{short_lived}", "admin", ADMIN_PASSWORD)
    async with client_for(short_lived, issued.access_token) as client:  # no refresh token
        alerts = await client.subscribe("alerts")
        async with asyncio.timeout(TTL_S + 10):
            await client.wait_until(ConnectionState.CLOSED)
        assert isinstance(client.failure, AuthenticationFailed)
        with pytest.raises(AuthenticationFailed):
            await alerts.next()


async def test_a_question_from_a_service_is_answered_by_the_callback(
    gateway: str, admin_token: str, nats_server: NatsServer, prefix: str
) -> None:
    asked: list[Ask] = []

    async def confirm(ask: Ask) -> dict[str, Any]:
        asked.append(ask)
        return {"confirm": True}

    async with (
        bus_client(nats_server, prefix) as bus,
        client_for(gateway, admin_token, on_ask=confirm) as client,
    ):
        async with asyncio.timeout(10):
            await client.wait_until(ConnectionState.LIVE)
        admin_id = jwt.decode(admin_token, options={"verify_signature": False})["sub"]
        subject = bus.subjects.ask_user(principal_token(f"user:{admin_id}"))
        question = AskClient(kind="confirm_deploy", question="Switch?", data={"deploy_id": "d1"})
        answered = await ctl.request(bus, subject, question, ClientAnswered, timeout_s=5)
    assert answered.data == {"confirm": True}
    assert [(a.kind, a.question, a.data) for a in asked] == [
        ("confirm_deploy", "Switch?", {"deploy_id": "d1"})
    ]
