"""Server-to-client questions (seed 003's callback pattern): a service asks through the
bus, the gateway holding the socket asks the client with a one-time `requestId`."""

import asyncio
from collections.abc import AsyncIterator

import jwt
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.support import NatsServer, bus_client, receive, receive_until, send, serve_gateway
from vigil import ctl
from vigil.access import principal_token
from vigil.bus import Bus
from vigil.messages import AskClient, ClientAnswered, ErrorCode
from vigil_auth.app import AuthService
from vigil_gateway.settings import GatewaySettings

CONFIRM = AskClient(kind="confirm_deploy", question="Switch web to v2?", data={"deploy": "d1"})


@pytest.fixture
async def service_bus(nats_server: NatsServer, prefix: str) -> AsyncIterator[Bus]:
    async with bus_client(nats_server, prefix) as bus:
        yield bus


async def opened(ws: ClientConnection) -> str:
    connected = await receive(ws)
    return str(connected["connection_id"])


async def test_a_question_is_asked_once_and_the_answer_reaches_the_service(
    auth_service: AuthService, gateway_settings: GatewaySettings, admin_token: str, service_bus: Bus
) -> None:
    # Two replicas: the one without the socket must stay silent, or its reply would be
    # the one the service gets.
    async with serve_gateway(gateway_settings), serve_gateway(gateway_settings) as two:
        async with connect(f"ws://{two}/ws?token={admin_token}") as ws:
            connection_id = await opened(ws)
            subject = service_bus.subjects.ask(connection_id)
            asking = asyncio.create_task(
                ctl.request(service_bus, subject, CONFIRM, ClientAnswered, timeout_s=5)
            )
            ask = await receive_until(ws, lambda m: m["type"] == "ask")
            assert (ask["kind"], ask["question"], ask["data"]) == (
                "confirm_deploy",
                "Switch web to v2?",
                {"deploy": "d1"},
            )
            await send(ws, {"type": "answer", "requestId": ask["requestId"], "data": {"yes": True}})
            answered = await asyncio.wait_for(asking, 5)
            assert answered == ClientAnswered(connection_id=connection_id, data={"yes": True})

            # The id was for one answer only.
            await send(
                ws, {"type": "answer", "requestId": ask["requestId"], "data": {"yes": False}}
            )
            reused = await receive(ws)
            assert (reused["type"], reused["code"]) == ("error", "NOT_FOUND")
            await send(ws, {"type": "answer", "requestId": "made-up", "data": {}})
            assert (await receive(ws))["code"] == "NOT_FOUND"


async def test_an_unanswered_question_times_out_and_a_late_answer_is_refused(
    gateway: str, admin_token: str, service_bus: Bus
) -> None:
    async with connect(f"ws://{gateway}/ws?token={admin_token}") as ws:
        connection_id = await opened(ws)
        question = CONFIRM.model_copy(update={"timeout_s": 0.5})
        with pytest.raises(ctl.Refused) as refused:
            await ctl.request(
                service_bus, service_bus.subjects.ask(connection_id), question, ClientAnswered, 5
            )
        assert refused.value.code is ErrorCode.TIMEOUT
        ask = await receive_until(ws, lambda m: m["type"] == "ask")
        await send(ws, {"type": "answer", "requestId": ask["requestId"], "data": {}})
        late = await receive(ws)
        assert (late["code"], "expired" in late["message"]) == ("NOT_FOUND", True)


async def test_a_question_for_a_user_goes_to_their_newest_socket(
    gateway: str, admin_token: str, service_bus: Bus
) -> None:
    async with (
        connect(f"ws://{gateway}/ws?token={admin_token}") as older,
        connect(f"ws://{gateway}/ws?token={admin_token}") as newer,
    ):
        await opened(older)
        newest_id = await opened(newer)
        admin_id = jwt.decode(admin_token, options={"verify_signature": False})["sub"]
        target = principal_token(f"user:{admin_id}")
        asking = asyncio.create_task(
            ctl.request(
                service_bus, service_bus.subjects.ask_user(target), CONFIRM, ClientAnswered, 5
            )
        )
        ask = await receive_until(newer, lambda m: m["type"] == "ask")
        await send(newer, {"type": "answer", "requestId": ask["requestId"], "data": {"ok": 1}})
        assert (await asyncio.wait_for(asking, 5)).connection_id == newest_id
