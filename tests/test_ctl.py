"""Request/reply over real NATS: typed replies, refusals with codes, nobody answering."""

import pytest

from tests.support import NatsServer
from vigil import ctl
from vigil.bus import Bus
from vigil.errors import BusUnavailable
from vigil.messages import EndSession, ErrorCode, GetSigningKeys, JwkSet
from vigil.operations import Auth
from vigil.settings import VigilSettings


async def test_a_served_operation_answers_typed_replies_and_refusals(
    nats_server: NatsServer, prefix: str
) -> None:
    bus = Bus(VigilSettings(nats_url=nats_server.url, subject_prefix=prefix), name="test")
    await bus.connect()

    async def jwks(request: GetSigningKeys) -> JwkSet:
        return JwkSet(keys=[{"kid": "k1"}])

    async def logout(request: EndSession) -> JwkSet:
        raise ctl.Refused(ErrorCode.NOT_FOUND, f"no session {request.session_id}")

    try:
        await ctl.serve(bus, Auth.JWKS, jwks)
        await ctl.serve(bus, Auth.LOGOUT, logout)  # type: ignore[arg-type]
        assert await ctl.call(bus, Auth.JWKS, GetSigningKeys()) == JwkSet(keys=[{"kid": "k1"}])
        with pytest.raises(ctl.Refused) as refused:
            await ctl.call(bus, Auth.LOGOUT, EndSession(session_id="s1"))
        assert (refused.value.code, refused.value.message) == (ErrorCode.NOT_FOUND, "no session s1")
        with pytest.raises(BusUnavailable):
            await ctl.call(bus, Auth.LIST_USERS, GetSigningKeys(), timeout_s=0.5)  # type: ignore[arg-type]
    finally:
        await bus.close()
