"""Request/reply over real NATS: typed replies, refusals with codes, nobody answering,
and operations that act for a user: only a verified token of the right role gets in."""

from typing import Any

import pytest

from tests.support import NatsServer, bus_client
from vigil import ctl
from vigil.access import Principal, Role
from vigil.errors import BusUnavailable
from vigil.messages import Done, EndSession, ErrorCode, GetSigningKeys, JwkSet, ListUsers
from vigil.operations import Auth
from vigil.tokens import InvalidToken

PRINCIPALS = {
    "admin-token": Principal(kind="user", id="u1", name="ada", roles=[Role.ADMIN], clusters=[]),
    "viewer-token": Principal(kind="user", id="u2", name="vic", roles=[Role.VIEWER], clusters=[]),
}


class TableVerifier:
    """Tokens looked up in a table: what `serve_for_users` does with a verdict, apart
    from how tokens are verified (tests/test_bus_identity.py uses the real keys)."""

    async def verify(self, token: str) -> Principal:
        if token not in PRINCIPALS:
            raise InvalidToken("the token's signature or claims are invalid")
        return PRINCIPALS[token]


async def test_a_served_operation_answers_typed_replies_and_refusals(
    nats_server: NatsServer, prefix: str
) -> None:
    async def jwks(request: GetSigningKeys) -> JwkSet:
        return JwkSet(keys=[{"kid": "k1"}])

    async with bus_client(nats_server, prefix) as bus:
        await ctl.serve(bus, Auth.JWKS, jwks)
        assert await ctl.call(bus, Auth.JWKS, GetSigningKeys()) == JwkSet(keys=[{"kid": "k1"}])
        with pytest.raises(BusUnavailable):
            await ctl.call(bus, Auth.LOGIN, GetSigningKeys(), timeout_s=0.5)  # type: ignore[arg-type]


async def test_an_operation_for_a_user_reaches_its_handler_only_with_a_token_of_its_role(
    nats_server: NatsServer, prefix: str
) -> None:
    seen: list[Principal] = []

    async def logout(request: EndSession, caller: Principal) -> Done:
        seen.append(caller)
        raise ctl.Refused(ErrorCode.NOT_FOUND, f"no session of {caller.name}")

    async def list_users(request: ListUsers, caller: Principal) -> Any:
        seen.append(caller)
        raise AssertionError("a viewer must never get here")

    async with bus_client(nats_server, prefix) as bus:
        await ctl.serve_for_users(bus, Auth.LOGOUT, logout, TableVerifier())
        await ctl.serve_for_users(bus, Auth.LIST_USERS, list_users, TableVerifier())

        with pytest.raises(ctl.Refused) as refused:
            await ctl.call(bus, Auth.LOGOUT, EndSession(), token="viewer-token")
        assert (refused.value.code, refused.value.message) == (
            ErrorCode.NOT_FOUND,
            "no session of vic",
        )
        assert seen == [PRINCIPALS["viewer-token"]]

        with pytest.raises(ctl.Refused) as refused:
            await ctl.call(bus, Auth.LIST_USERS, ListUsers(), token="viewer-token")
        assert refused.value.code is ErrorCode.FORBIDDEN
        assert "needs the admin role" in refused.value.message

        with pytest.raises(ctl.Refused) as refused:
            await ctl.call(bus, Auth.LIST_USERS, ListUsers(), token="forged")
        assert refused.value.code is ErrorCode.INVALID_CREDENTIALS

        # a request sent past `call` with no token at all (as any bus client could)
        with pytest.raises(ctl.Refused) as refused:
            await ctl.request(
                bus, Auth.LIST_USERS.subject(bus.subjects), ListUsers(), Done, timeout_s=2
            )
        assert refused.value.code is ErrorCode.INVALID_CREDENTIALS
        assert seen == [PRINCIPALS["viewer-token"]]


async def test_a_call_for_a_user_without_their_token_is_a_mistake_caught_at_once(
    nats_server: NatsServer, prefix: str
) -> None:
    async with bus_client(nats_server, prefix) as bus:
        with pytest.raises(ValueError, match="acts for a user"):
            await ctl.call(bus, Auth.LIST_USERS, ListUsers())
        with pytest.raises(ValueError, match="serve_for_users"):
            await ctl.serve(bus, Auth.LIST_USERS, lambda request: None)  # type: ignore[arg-type,return-value]
