"""Signing keys: rotation keeps live tokens verifiable, replicas agree on one new key."""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

import jwt
from cryptography.fernet import Fernet

from tests.support import (
    FakeClock,
    NatsServer,
    auth_settings_for,
    bus_client,
    run_auth,
    verify_access_token,
)
from vigil import ctl
from vigil.bus import Bus
from vigil.messages import GetSigningKeys, Login
from vigil.operations import Auth
from vigil.records import Records
from vigil.streams import SIGNING_KEYS
from vigil_auth.secret_key import SigningKeySecret
from vigil_auth.signing import Keyring, SigningKeys

ADMIN_PASSWORD = "admin-password-1"


async def jwks(bus: Bus) -> list[dict[str, object]]:
    return (await ctl.call(bus, Auth.JWKS, GetSigningKeys())).keys


async def wait_until(
    condition: Callable[[], Awaitable[bool]], what: str, timeout: float = 10.0
) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def test_rotation_signs_new_tokens_with_a_new_key_and_keeps_the_old_one_published(
    nats_server: NatsServer, prefix: str
) -> None:
    clock = FakeClock()
    settings = auth_settings_for(
        nats_server,
        prefix,
        admin_password=ADMIN_PASSWORD,
        signing_key_rotation_s=600,
        signing_key_check_s=0.05,
        access_token_ttl_s=900,
    )
    login = Login(username="admin", password=ADMIN_PASSWORD)
    async with run_auth(settings, clock), bus_client(nats_server, prefix) as bus:
        before = await ctl.call(bus, Auth.LOGIN, login)
        old_kid = jwt.get_unverified_header(before.access_token)["kid"]
        assert [key["kid"] for key in await jwks(bus)] == [old_kid]

        clock.advance(601)  # the key is due; the service's periodic check rotates it
        published: list[dict[str, object]] = []

        async def rotated() -> bool:
            published[:] = await jwks(bus)
            return len(published) == 2

        await wait_until(rotated, "the signing key to rotate")
        after = await ctl.call(bus, Auth.LOGIN, login)
        new_kid = jwt.get_unverified_header(after.access_token)["kid"]
        assert new_kid != old_kid
        assert {key["kid"] for key in published} == {old_kid, new_kid}
        # The token signed before the rotation still verifies, and so does the new one
        # (issued on the service's clock, 601 s ahead of the wall clock PyJWT reads).
        assert verify_access_token(before.access_token, published)["name"] == "admin"
        assert verify_access_token(after.access_token, published, leeway=700)["name"] == "admin"

        # Once every token the old key signed has expired, it leaves the JWKS. (By then
        # the new key is due too, so a third may have joined: the check may run first.)
        clock.advance(900 + 60 + 1)

        async def dropped() -> bool:
            kids = [key["kid"] for key in await jwks(bus)]
            return old_kid not in kids and new_kid in kids

        await wait_until(dropped, "the retired key to be dropped")


async def test_replicas_due_for_rotation_at_once_agree_on_one_new_key(
    nats_server: NatsServer, prefix: str
) -> None:
    clock = FakeClock()
    bus = Bus(nats_server.harness(prefix), name="test", buckets=[SIGNING_KEYS], provisions=True)
    secret = SigningKeySecret([Fernet(Fernet.generate_key())])
    await bus.connect()
    try:
        replicas = [
            SigningKeys(
                await Records.open(bus, SIGNING_KEYS, Keyring),
                clock,
                rotation=timedelta(minutes=10),
                retention=timedelta(minutes=20),
                secret=secret,
            )
            for _ in range(4)
        ]
        await asyncio.gather(*(replica.refresh() for replica in replicas))  # all create at once
        assert len({replica.current().kid for replica in replicas}) == 1
        first = replicas[0].current().kid

        clock.advance(601)
        await asyncio.gather(*(replica.refresh() for replica in replicas))  # all rotate at once
        kids = {replica.current().kid for replica in replicas}
        assert len(kids) == 1
        assert kids != {first}
        assert [key["kid"] for key in await replicas[0].jwks()] == [*kids, first]
    finally:
        await bus.close()
