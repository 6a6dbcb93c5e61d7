"""API keys over real NATS: shown once, verified, listed with last use, revoked, expiring."""

from collections.abc import AsyncIterator, Awaitable
from datetime import timedelta

import pytest

from tests.support import (
    FakeClock,
    NatsServer,
    auth_settings_for,
    bus_client,
    next_revocation,
    revocations,
    run_auth,
    verify_access_token,
)
from vigil import ctl
from vigil.access import Principal, Role
from vigil.bus import Bus
from vigil.messages import (
    ApiKeyCreated,
    CreateApiKey,
    ErrorCode,
    GetSigningKeys,
    ListApiKeys,
    Login,
    RevocationKind,
    RevokeApiKey,
    VerifyApiKey,
)
from vigil.operations import Auth

ADMIN_PASSWORD = "admin-password-1"
INVALID = "the API key is unknown, revoked or expired"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def bus(nats_server: NatsServer, prefix: str, clock: FakeClock) -> AsyncIterator[Bus]:
    settings = auth_settings_for(nats_server, prefix, admin_password=ADMIN_PASSWORD)
    async with run_auth(settings, clock), bus_client(nats_server, prefix) as client:
        yield client


async def admin_token(bus: Bus) -> str:
    login = Login(username="admin", password=ADMIN_PASSWORD)
    return (await ctl.call(bus, Auth.LOGIN, login)).access_token


async def create(bus: Bus, name: str, **fields: object) -> ApiKeyCreated:
    request = CreateApiKey(name=name, **fields)
    return await ctl.call(bus, Auth.CREATE_API_KEY, request, token=await admin_token(bus))


async def verify(bus: Bus, api_key: str) -> Principal:
    return (await ctl.call(bus, Auth.VERIFY_API_KEY, VerifyApiKey(api_key=api_key))).principal


async def refused(call: Awaitable[object]) -> ctl.Refused:
    with pytest.raises(ctl.Refused) as info:
        await call
    return info.value


async def test_a_created_key_verifies_as_its_principal(bus: Bus) -> None:
    created = await create(bus, "deploy-bot", role=Role.OPERATOR, clusters=["prod", "staging"])
    assert created.api_key.startswith(f"vk_{created.key.id}_")
    assert (created.key.created_by, created.key.revoked) == ("admin", False)
    assert created.key.last_used_at is None

    principal = await verify(bus, created.api_key)
    assert principal == Principal(
        kind="api_key",
        id=created.key.id,
        name="deploy-bot",
        roles=[Role.OPERATOR],
        clusters=["prod", "staging"],
        expires_at=None,
    )


async def test_the_list_shows_last_use_and_never_the_secret(bus: Bus) -> None:
    used = await create(bus, "used", role=Role.VIEWER)
    unused = await create(bus, "unused", role=Role.VIEWER)
    await verify(bus, used.api_key)

    listed = await ctl.call(bus, Auth.LIST_API_KEYS, ListApiKeys(), token=await admin_token(bus))
    by_name = {key.name: key for key in listed.keys}
    assert set(by_name) == {"used", "unused"}
    assert by_name["used"].last_used_at is not None
    assert by_name["unused"].last_used_at is None
    raw = listed.model_dump_json()
    for created in (used, unused):
        assert created.api_key.split("_", 2)[2] not in raw


async def test_a_wrong_or_malformed_key_is_refused_with_one_answer(bus: Bus) -> None:
    created = await create(bus, "ci", role=Role.VIEWER)
    key_id = created.key.id
    for wrong in (
        created.api_key[:-1] + ("A" if created.api_key[-1] != "A" else "B"),
        f"vk_{key_id}_" + "x" * 43,
        "vk_0123456789abcdef_" + "x" * 43,
        "not a key",
        "",
    ):
        answer = await refused(verify(bus, wrong))
        assert (answer.code, answer.message) == (ErrorCode.INVALID_CREDENTIALS, INVALID)


async def test_a_revoked_key_is_refused_and_its_revocation_published(bus: Bus) -> None:
    created = await create(bus, "old-script", role=Role.VIEWER)
    await verify(bus, created.api_key)
    async with revocations(bus) as revoked:
        view = await ctl.call(
            bus,
            Auth.REVOKE_API_KEY,
            RevokeApiKey(key_id=created.key.id),
            token=await admin_token(bus),
        )
        event = await next_revocation(revoked, lambda e: e.id == created.key.id)
    assert view.revoked
    assert event.kind is RevocationKind.API_KEY
    answer = await refused(verify(bus, created.api_key))
    assert answer.code is ErrorCode.INVALID_CREDENTIALS
    listed = await ctl.call(bus, Auth.LIST_API_KEYS, ListApiKeys(), token=await admin_token(bus))
    assert [key.revoked for key in listed.keys] == [True]


async def test_revoking_an_unknown_key_is_not_found(bus: Bus) -> None:
    for key_id in ("0123456789abcdef", "no.such>key"):
        answer = await refused(
            ctl.call(
                bus, Auth.REVOKE_API_KEY, RevokeApiKey(key_id=key_id), token=await admin_token(bus)
            )
        )
        assert answer.code is ErrorCode.NOT_FOUND


async def test_a_key_stops_working_when_it_expires(bus: Bus, clock: FakeClock) -> None:
    expires_at = clock() + timedelta(hours=1)
    created = await create(bus, "temp", role=Role.VIEWER, expires_at=expires_at)
    assert (await verify(bus, created.api_key)).expires_at == expires_at

    clock.advance(3601)
    answer = await refused(verify(bus, created.api_key))
    assert (answer.code, answer.message) == (ErrorCode.INVALID_CREDENTIALS, INVALID)


async def test_an_expiry_in_the_past_or_without_a_time_zone_is_refused(
    bus: Bus, clock: FakeClock
) -> None:
    past = await refused(create(bus, "late", role=Role.VIEWER, expires_at=clock() - timedelta(1)))
    assert past.code is ErrorCode.INVALID_MESSAGE
    assert "expires_at" in past.message
    naive = (clock() + timedelta(days=1)).replace(tzinfo=None)
    local = await refused(create(bus, "naive", role=Role.VIEWER, expires_at=naive))
    assert local.code is ErrorCode.INVALID_MESSAGE
    assert "time zone" in local.message


async def test_a_verified_key_comes_with_a_short_token_that_never_outlives_it(
    bus: Bus, clock: FakeClock
) -> None:
    jwks = (await ctl.call(bus, Auth.JWKS, GetSigningKeys())).keys
    expires_at = clock() + timedelta(seconds=60)
    short = await create(bus, "short", role=Role.OPERATOR, clusters=["prod"], expires_at=expires_at)
    delegated = await ctl.call(bus, Auth.VERIFY_API_KEY, VerifyApiKey(api_key=short.api_key))
    claims = verify_access_token(delegated.token, jwks)
    assert (claims["kind"], claims["sub"], claims["name"]) == ("api_key", short.key.id, "short")
    assert (claims["roles"], claims["clusters"]) == (["operator"], ["prod"])
    assert claims["exp"] == int(expires_at.timestamp())  # the key's end, not 5 minutes
    assert delegated.expires_at == expires_at.replace(microsecond=0)

    lasting = await create(bus, "lasting", role=Role.VIEWER)
    delegated = await ctl.call(bus, Auth.VERIFY_API_KEY, VerifyApiKey(api_key=lasting.api_key))
    claims = verify_access_token(delegated.token, jwks)
    assert claims["exp"] - claims["iat"] == 300  # type: ignore[operator]
    assert "sid" not in claims or claims["sid"] is None
