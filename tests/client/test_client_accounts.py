"""The client's calls for users and API keys (`Api.users()` ... `revoke_api_key()`)
against a real gateway and auth service: the wire models back, refusals as `Refused`
with the gateway's code, and names that cannot exist refused before anything is sent."""

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from tests.support import free_port
from vigil.access import Permission, Role
from vigil.messages import ApiKeyDraft, ErrorCode, UserAccess, UserDraft
from vigil_client import Api, Refused, Tokens, Unreachable, login
from vigil_client.session import Session

PASSWORD = "correct-horse-battery"


@asynccontextmanager
async def api_for(url: str, access_token: str) -> AsyncIterator[Api]:
    async with httpx.AsyncClient(timeout=10) as http:
        # no refresh token: a refused access token is a refusal here, not a refresh
        yield Api(Session(url, Tokens(access_token, None, time.time() + 600)), http)


async def test_account_calls_return_the_wire_models(gateway: str, admin_token: str) -> None:
    async with api_for(f"http://{gateway}", admin_token) as api:
        draft = UserDraft(username="olga", password=PASSWORD, roles=[Role.OPERATOR])
        olga = await api.create_user(draft)
        assert (olga.username, olga.roles, olga.disabled) == ("olga", [Role.OPERATOR], False)
        assert olga in (await api.users()).users

        access = UserAccess(clusters=["prod"], permissions=[Permission.EXEC])
        changed = await api.update_user("olga", access)
        assert (changed.id, changed.clusters, changed.permissions) == (
            olga.id,
            ["prod"],
            [Permission.EXEC],
        )
        with pytest.raises(Refused) as lost:
            await api.update_user("nobody", UserAccess(roles=[Role.VIEWER]))
        assert lost.value.code == ErrorCode.NOT_FOUND

        disabled = await api.disable_user("olga")
        assert (disabled.id, disabled.disabled) == (olga.id, True)

        created = await api.create_api_key(ApiKeyDraft(name="ci", role=Role.VIEWER))
        assert created.api_key.startswith(f"vk_{created.key.id}_")
        assert (await api.api_keys()).keys == [created.key]

        revoked = await api.revoke_api_key(created.key.id)
        assert (revoked.id, revoked.revoked) == (created.key.id, True)


async def test_refusals_raise_refused_with_the_gateways_code(
    gateway: str, admin_token: str
) -> None:
    url = f"http://{gateway}"
    async with api_for(url, admin_token) as admin:
        await admin.create_user(UserDraft(username="vera", password=PASSWORD, roles=[Role.VIEWER]))
        with pytest.raises(Refused) as taken:
            await admin.create_user(
                UserDraft(username="vera", password=PASSWORD, roles=[Role.ADMIN])
            )
        assert (taken.value.code, taken.value.message) == (
            ErrorCode.CONFLICT,
            "user 'vera' already exists",
        )
        with pytest.raises(Refused) as unknown:
            await admin.revoke_api_key("0123456789abcdef")
        assert unknown.value.code == ErrorCode.NOT_FOUND

    viewer_token = (await login(url, "vera", PASSWORD)).access_token
    calls: list[Callable[[Api], Awaitable[Any]]] = [
        lambda api: api.users(),
        lambda api: api.create_user(
            UserDraft(username="mallory", password=PASSWORD, roles=[Role.ADMIN])
        ),
        lambda api: api.disable_user("admin"),
        lambda api: api.api_keys(),
        lambda api: api.create_api_key(ApiKeyDraft(name="backdoor", role=Role.ADMIN)),
        lambda api: api.revoke_api_key("0123456789abcdef"),
    ]
    async with api_for(url, viewer_token) as viewer:
        for call in calls:
            with pytest.raises(Refused) as forbidden:
                await call(viewer)
            assert forbidden.value.code == ErrorCode.FORBIDDEN
            assert forbidden.value.message.endswith("needs the admin role; vera is viewer")


async def test_a_name_or_id_that_cannot_exist_is_refused_before_anything_is_sent() -> None:
    nobody_home = f"http://127.0.0.1:{free_port()}"  # a call that went out: Unreachable
    async with api_for(nobody_home, "a.b.c") as api:
        with pytest.raises(ValidationError, match=r"invalid username '\.\./keys'"):
            await api.disable_user("../keys")
        with pytest.raises(ValidationError, match="at most 64 characters"):
            await api.revoke_api_key("k" * 65)
        with pytest.raises(Unreachable):
            await api.disable_user("someone")
