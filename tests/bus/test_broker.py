"""FastStream subscribers on a service's own bus connection: the same client (Vigil's
`NatsClient`, with its fixes), its role's reply inbox, the same strict token check."""

import pytest

from tests.support import NatsServer, bus_client
from vigil import ctl
from vigil.access import Principal, Role
from vigil.broker import ServiceBroker, answer, answer_for_users
from vigil.errors import BusUnavailable
from vigil.messages import Done, EndSession, ErrorCode, GetSigningKeys, JwkSet, Login, TokensIssued
from vigil.nats_client import NatsClient
from vigil.operations import Auth
from vigil.tokens import InvalidToken

VIEWER = Principal(kind="user", id="u2", name="vic", roles=[Role.VIEWER], clusters=[])


class TableVerifier:
    """One token it trusts, the viewer's; every other is refused."""

    async def verify(self, token: str) -> Principal:
        if token != "viewer-token":
            raise InvalidToken("the token's signature or claims are invalid")
        return VIEWER


async def test_a_service_broker_serves_on_its_bus_connection_and_leaves_it_open(
    nats_server: NatsServer, prefix: str
) -> None:
    async def jwks(request: GetSigningKeys) -> JwkSet:
        return JwkSet(keys=[{"kid": "k1"}])

    async with bus_client(nats_server, prefix) as bus:
        broker = ServiceBroker(bus, bus.settings, description="test")
        answer(broker, Auth.JWKS, jwks)
        await broker.start()
        try:
            assert broker.connection is bus.nc
            assert isinstance(broker.connection, NatsClient)
            assert await ctl.call(bus, Auth.JWKS, GetSigningKeys()) == JwkSet(keys=[{"kid": "k1"}])
        finally:
            await broker.stop()
        assert bus.is_connected  # the bus's to close
        with pytest.raises(BusUnavailable):  # nobody answers once it stopped
            await ctl.call(bus, Auth.JWKS, GetSigningKeys(), timeout_s=0.5)


async def test_a_subscriber_refuses_what_does_not_parse_and_tokens_it_does_not_trust(
    nats_server: NatsServer, prefix: str
) -> None:
    seen: list[Principal] = []

    async def login(request: Login) -> TokensIssued:
        raise AssertionError("an unparsed request must never get here")

    async def logout(request: EndSession, caller: Principal) -> Done:
        seen.append(caller)
        return Done()

    async with bus_client(nats_server, prefix) as bus:
        broker = ServiceBroker(bus, bus.settings, description="test")
        answer(broker, Auth.LOGIN, login)
        answer_for_users(broker, Auth.LOGOUT, logout, TableVerifier())
        await broker.start()
        try:
            with pytest.raises(ctl.Refused) as refused:
                await ctl.call(bus, Auth.LOGIN, Login.model_construct(username="ada"))
            assert (refused.value.code, refused.value.message) == (
                ErrorCode.INVALID_MESSAGE,
                "password: Field required",
            )
            with pytest.raises(ctl.Refused) as refused:
                await ctl.call(bus, Auth.LOGOUT, EndSession(), token="forged")
            assert refused.value.code is ErrorCode.INVALID_CREDENTIALS
            subject = Auth.LOGOUT.subject(bus.subjects)
            with pytest.raises(ctl.Refused) as refused:  # no token: past `call`, as any client
                await ctl.request(bus, subject, EndSession(), Done, timeout_s=2)
            assert refused.value.code is ErrorCode.INVALID_CREDENTIALS
            assert await ctl.call(bus, Auth.LOGOUT, EndSession(), token="viewer-token") == Done()
            assert seen == [VIEWER]
        finally:
            await broker.stop()
