"""The gateway admits only valid credentials, closes sockets when they end, and checks roles.

Real parts throughout: nats-server, the auth service, the gateway on uvicorn, HTTP and
WebSocket clients. Forged tokens are signed with a key of the test's own, or with the
auth service's real key read from its keyring where only one claim should be wrong.
"""

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.routing import APIRoute
from websockets.asyncio.client import connect

from tests import forgery
from tests.conftest import ADMIN_PASSWORD
from tests.support import (
    NatsServer,
    auth_settings_for,
    bearer,
    bus_client,
    closed_with,
    receive,
    run_auth,
    send,
    serve_gateway,
    signing_key_secret_file,
    wait_for,
)
from vigil.access import Role
from vigil.channels import CHANNELS
from vigil.streams import SIGNING_KEYS
from vigil_auth.app import AuthService
from vigil_auth.secret_key import SigningKeySecret
from vigil_auth.signing import RING_KEY, Keyring
from vigil_gateway.app import build_app
from vigil_gateway.http.http_auth import RoleRequired
from vigil_gateway.settings import GatewaySettings

VIEWER_PASSWORD = "viewer-password-1"


@pytest.fixture
async def http(gateway: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://{gateway}") as client:
        yield client


async def close_code(url: str, **options: Any) -> int:
    """Connect, and return the code the server closes the socket with."""
    async with connect(url, **options) as ws:
        return (await closed_with(ws))[0]


async def real_signing_key(nats: NatsServer, prefix: str) -> tuple[str, Ed25519PrivateKey]:
    """The auth service's current signing key, read from its keyring and decrypted."""
    async with bus_client(nats, prefix) as bus:
        entry = await (await bus.kv(SIGNING_KEYS)).get(RING_KEY)
    assert entry.value is not None
    current = Keyring.model_validate_json(entry.value).keys[0]
    assert current.encrypted_private_key is not None
    raw = SigningKeySecret.read(signing_key_secret_file()).decrypt(current.encrypted_private_key)
    return current.kid, Ed25519PrivateKey.from_private_bytes(raw)


async def login(http: httpx.AsyncClient, username: str, password: str) -> dict[str, Any]:
    response = await http.post("/api/auth/token", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


async def create_viewer(http: httpx.AsyncClient, admin_token: str, **fields: Any) -> dict[str, Any]:
    body = {"username": "vera", "password": VIEWER_PASSWORD, "roles": ["viewer"]} | fields
    response = await http.post("/api/auth/users", json=body, headers=bearer(admin_token))
    assert response.status_code == 201, response.text
    user: dict[str, Any] = response.json()
    return user


# -- login, refresh, logout -----------------------------------------------------------


async def test_login_answers_tokens_and_me_describes_the_user(http: httpx.AsyncClient) -> None:
    tokens = await login(http, "admin", ADMIN_PASSWORD)
    assert set(tokens) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert (tokens["token_type"], tokens["expires_in"]) == ("bearer", 900)
    me = (await http.get("/api/auth/me", headers=bearer(tokens["access_token"]))).json()
    assert (me["kind"], me["name"], me["roles"], me["clusters"]) == (
        "user",
        "admin",
        ["admin"],
        ["*"],
    )


async def test_unknown_user_and_wrong_password_get_the_same_answer(http: httpx.AsyncClient) -> None:
    wrong = await http.post("/api/auth/token", json={"username": "admin", "password": "nope-nope"})
    unknown = await http.post(
        "/api/auth/token", json={"username": "ghost", "password": "nope-nope"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.headers["www-authenticate"] == "Bearer"


async def test_refresh_rotates_and_reuse_of_an_old_refresh_token_ends_the_session(
    http: httpx.AsyncClient,
) -> None:
    first = await login(http, "admin", ADMIN_PASSWORD)
    second = (
        await http.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
    ).json()
    assert second["refresh_token"] != first["refresh_token"]
    assert (
        await http.get("/api/auth/me", headers=bearer(second["access_token"]))
    ).status_code == 200

    reused = await http.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reused.status_code == 401
    # The whole session is revoked: the newest refresh token and its access token too.
    latest = await http.post("/api/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert latest.status_code == 401

    async def refused() -> bool:
        me = await http.get("/api/auth/me", headers=bearer(second["access_token"]))
        return me.status_code == 401

    await wait_until(refused, "the revoked session's access token to be refused")


async def test_logout_closes_the_sessions_sockets_on_two_gateways_at_once(
    auth_service: AuthService, gateway_settings: GatewaySettings
) -> None:
    async with (
        serve_gateway(gateway_settings) as one,
        serve_gateway(gateway_settings) as two,
        httpx.AsyncClient(base_url=f"http://{one}") as http,
    ):
        tokens = await login(http, "admin", ADMIN_PASSWORD)
        token = tokens["access_token"]
        async with (
            connect(f"ws://{one}/ws?token={token}") as on_one,
            connect(f"ws://{two}/api/system/ws?token={token}") as on_two,
        ):
            assert (await receive(on_one))["type"] == "connected"
            await send(on_two, {"type": "ping"})
            assert (await receive(on_two))["type"] == "pong"

            started = time.monotonic()
            assert (await http.post("/api/auth/logout", headers=bearer(token))).status_code == 204
            assert (await closed_with(on_one, timeout=1))[0] == 4001
            assert (await closed_with(on_two, timeout=1))[0] == 4001
            assert time.monotonic() - started < 1.0
        assert await close_code(f"ws://{two}/ws?token={token}") == 4001


# -- the handshake -------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/ws", "/api/system/ws"])
async def test_a_handshake_without_credentials_is_closed_with_1008(gateway: str, path: str) -> None:
    assert await close_code(f"ws://{gateway}{path}") == 1008


async def test_tokens_are_taken_from_the_query_the_bearer_header_and_the_subprotocol(
    gateway: str, admin_token: str
) -> None:
    async with connect(f"ws://{gateway}/ws?token={admin_token}") as ws:
        assert (await receive(ws))["type"] == "connected"
    async with connect(f"ws://{gateway}/ws", additional_headers=bearer(admin_token)) as ws:
        assert (await receive(ws))["type"] == "connected"
    async with connect(
        f"ws://{gateway}/ws",
        subprotocols=["vigil", f"bearer.{admin_token}"],  # type: ignore[list-item]
    ) as ws:
        assert ws.subprotocol == "vigil"  # echoed, as browsers require
        assert (await receive(ws))["type"] == "connected"


def _tampered(token: str) -> str:
    head, payload, signature = token.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    return f"{head}.{payload}.{flipped}"


async def test_forged_and_invalid_tokens_are_closed_with_4001(
    gateway: str, http: httpx.AsyncClient, admin_token: str, nats_server: NatsServer, prefix: str
) -> None:
    kid, real_key = await real_signing_key(nats_server, prefix)
    now = int(time.time())
    jwks = (await http.get("/.well-known/jwks.json")).json()["keys"]
    public_x = jwks[0]["x"]
    forged = {
        "expired": forgery.signed(
            forgery.claims(exp=now - 5, iat=now - 65, nbf=now - 65), real_key, kid
        ),
        "not yet valid": forgery.signed(forgery.claims(nbf=now + 300), real_key, kid),
        "wrong issuer": forgery.signed(forgery.claims(iss="https://evil.example"), real_key, kid),
        "wrong audience": forgery.signed(forgery.claims(aud="someone-else"), real_key, kid),
        "tampered signature": _tampered(admin_token),
        "alg none": forgery.unsigned(forgery.claims(), kid),
        "HS256 with the public key": jwt.encode(
            forgery.claims(), public_x, "HS256", headers={"kid": kid}
        ),
        "unknown kid": forgery.signed(forgery.claims(), kid="not-a-key-of-ours"),
        "another key under our kid": forgery.signed(forgery.claims(), kid=kid),
        "not a JWT": "hello",
    }
    for case, token in forged.items():
        code = await close_code(f"ws://{gateway}/ws?token={token}")
        assert code == 4001, case
    # The real key with honest claims is accepted: the cases above fail on one point each.
    good = forgery.signed(forgery.claims(), real_key, kid)
    async with connect(f"ws://{gateway}/ws?token={good}") as ws:
        assert (await receive(ws))["type"] == "connected"


async def test_a_socket_is_closed_with_4001_when_its_token_expires(
    gateway: str, nats_server: NatsServer, prefix: str
) -> None:
    kid, key = await real_signing_key(nats_server, prefix)
    soon = forgery.signed(forgery.claims(exp=int(time.time()) + 2), key, kid)
    async with connect(f"ws://{gateway}/ws?token={soon}") as ws:
        assert (await receive(ws))["type"] == "connected"
        assert (await closed_with(ws, timeout=5))[0] == 4001


async def test_reauth_with_a_fresh_token_keeps_the_socket_open_past_expiry(
    gateway: str, nats_server: NatsServer, prefix: str
) -> None:
    kid, key = await real_signing_key(nats_server, prefix)
    claims = forgery.claims(exp=int(time.time()) + 2)
    soon = forgery.signed(claims, key, kid)
    later = forgery.signed(claims | {"exp": int(time.time()) + 120, "jti": "fresh"}, key, kid)
    async with connect(f"ws://{gateway}/ws?token={soon}") as ws:
        assert (await receive(ws))["type"] == "connected"
        await send(ws, {"type": "reauth", "token": later})
        assert (await receive(ws))["type"] == "reauthenticated"
        with pytest.raises(TimeoutError):  # past the first expiry, nothing closes it
            await receive(ws, timeout=3)
        await send(ws, {"type": "ping"})
        assert (await receive(ws))["type"] == "pong"

        other_user = forgery.signed(forgery.claims(exp=int(time.time()) + 120), key, kid)
        await send(ws, {"type": "reauth", "token": other_user})
        refused = await receive(ws)
        assert (refused["type"], refused["code"]) == ("error", "FORBIDDEN")


# -- API keys ------------------------------------------------------------------------


async def test_api_keys_are_created_used_and_revoked(
    gateway: str, http: httpx.AsyncClient, admin_token: str
) -> None:
    created = await http.post(
        "/api/auth/keys",
        json={"name": "dash-script", "role": "viewer"},
        headers=bearer(admin_token),
    )
    assert created.status_code == 201, created.text
    key_id, api_key = created.json()["key"]["id"], created.json()["api_key"]

    async with (
        connect(f"ws://{gateway}/api/system/ws?api_key={api_key}") as seed_001,
        connect(f"ws://{gateway}/ws", additional_headers={"X-API-Key": api_key}) as multiplexed,
    ):
        await send(seed_001, {"type": "ping"})
        assert (await receive(seed_001))["type"] == "pong"
        assert (await receive(multiplexed))["type"] == "connected"
        me = (await http.get("/api/auth/me", headers={"X-API-Key": api_key})).json()
        assert (me["kind"], me["id"], me["roles"]) == ("api_key", key_id, ["viewer"])
        # As a bearer token too (what Prometheus and most tools can send).
        as_bearer = (await http.get("/api/auth/me", headers=bearer(api_key))).json()
        assert (as_bearer["kind"], as_bearer["id"]) == ("api_key", key_id)

        listed = (await http.get("/api/auth/keys", headers=bearer(admin_token))).json()["keys"]
        [entry] = [k for k in listed if k["id"] == key_id]
        assert entry["last_used_at"] is not None
        assert api_key not in str(listed)

        revoked = await http.delete(f"/api/auth/keys/{key_id}", headers=bearer(admin_token))
        assert revoked.json()["revoked"] is True
        assert (await closed_with(seed_001, timeout=1))[0] == 4001
        assert (await closed_with(multiplexed, timeout=1))[0] == 4001
    assert await close_code(f"ws://{gateway}/ws?api_key={api_key}") == 4001
    assert (await http.get("/api/auth/me", headers={"X-API-Key": api_key})).status_code == 401
    assert (await http.get("/api/auth/me", headers=bearer(api_key))).status_code == 401


async def test_an_api_key_is_refused_the_moment_it_expires_not_a_cache_later(
    gateway: str, http: httpx.AsyncClient, admin_token: str
) -> None:
    expires_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=4)
    created = await http.post(
        "/api/auth/keys",
        json={"name": "brief", "role": "viewer", "expires_at": expires_at.isoformat()},
        headers=bearer(admin_token),
    )
    assert created.status_code == 201, created.text
    api_key = {"X-API-Key": created.json()["api_key"]}
    assert (await http.get("/api/auth/me", headers=api_key)).status_code == 200  # now cached
    async with connect(f"ws://{gateway}/ws", additional_headers=api_key) as ws:
        assert (await receive(ws))["type"] == "connected"
        await asyncio.sleep(max(0.0, (expires_at - datetime.now(UTC)).total_seconds()))
        assert (await closed_with(ws, timeout=2))[0] == 4001  # its socket, at once
    # the gateway's cache (30 s) never outlives the key
    assert (await http.get("/api/auth/me", headers=api_key)).status_code == 401
    assert await close_code(f"ws://{gateway}/ws?api_key={created.json()['api_key']}") == 4001


# -- roles and grants ----------------------------------------------------------------


def api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):  # FastAPI's included router (no prefix here)
            yield from api_routes(route.original_router.routes)


def routes_needing(least: Role, settings: GatewaySettings) -> list[tuple[str, str, Role]]:
    """(method, path, role) of every HTTP route of the gateway that needs more than
    `least`, read from the app itself, so a new route cannot be missed."""
    found = []
    for route in api_routes(build_app(settings).routes):
        needed = [
            dependency.call.role
            for dependency in route.dependant.dependencies
            if isinstance(dependency.call, RoleRequired)
        ]
        role = max(needed, key=lambda r: r.rank, default=Role.VIEWER)
        if role.rank > least.rank:
            # any value for path parameters: the role is checked before they are looked up
            path = re.sub(r"\{[^}]+\}", "x", route.path)
            found += [(method, path, role) for method in sorted(route.methods)]
    return found


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR])
async def test_a_user_is_refused_every_route_and_channel_above_their_role(
    gateway: str,
    gateway_settings: GatewaySettings,
    http: httpx.AsyncClient,
    admin_token: str,
    caplog: pytest.LogCaptureFixture,
    role: Role,
) -> None:
    await create_viewer(http, admin_token, roles=[role])
    token = (await login(http, "vera", VIEWER_PASSWORD))["access_token"]
    caplog.set_level(logging.WARNING, logger="vigil_gateway.audit")
    channels = [spec.name for spec in CHANNELS.values() if spec.role.rank > role.rank]
    assert "connections" in channels
    async with connect(f"ws://{gateway}/ws?token={token}") as ws:
        await receive(ws)
        await send(ws, {"type": "subscribe", "channel": "host.metrics"})
        assert (await receive(ws))["type"] == "subscribed"  # reading is for everyone
        for channel in channels:
            await send(ws, {"type": "subscribe", "channel": channel})
            refused = await receive(ws)
            assert refused["type"] == "error", (channel, refused)
            assert refused["code"] == "FORBIDDEN", (channel, refused)

    routes = routes_needing(role, gateway_settings)
    paths = {path for _, path, _ in routes}
    assert {"/api/auth/users", "/api/auth/keys", "/api/connections"} <= paths
    assert ("/api/deploys" in paths) is (role is Role.VIEWER)
    for method, path, needed in routes:
        response = await http.request(method, path, headers=bearer(token), json={})
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["detail"]["code"] == "FORBIDDEN"
        assert f"needs the {needed} role" in response.json()["detail"]["message"]
    denials = [r.getMessage() for r in caplog.records if r.name == "vigil_gateway.audit"]
    assert len(denials) == len(channels) + len(routes)  # each in the audit log
    assert all("who=user:vera(" in d for d in denials)


async def test_disabling_a_user_closes_their_sockets_and_refuses_their_login(
    gateway: str, http: httpx.AsyncClient, admin_token: str
) -> None:
    await create_viewer(http, admin_token)
    viewer = (await login(http, "vera", VIEWER_PASSWORD))["access_token"]
    async with connect(f"ws://{gateway}/ws?token={viewer}") as ws:
        await receive(ws)
        disabled = await http.post("/api/auth/users/vera/disable", headers=bearer(admin_token))
        assert disabled.json()["disabled"] is True
        assert (await closed_with(ws, timeout=1))[0] == 4001
    refused = await http.post(
        "/api/auth/token", json={"username": "vera", "password": VIEWER_PASSWORD}
    )
    assert refused.status_code == 401


async def test_failed_logins_slow_down(
    nats_server: NatsServer, prefix: str, gateway_settings: GatewaySettings
) -> None:
    settings = auth_settings_for(
        nats_server,
        prefix,
        admin_password=ADMIN_PASSWORD,
        login_free_failures=3,
        login_backoff_s=30,
    )
    async with (
        run_auth(settings),
        serve_gateway(gateway_settings) as address,
        httpx.AsyncClient(base_url=f"http://{address}") as http,
    ):
        statuses = []
        for _ in range(6):
            response = await http.post(
                "/api/auth/token", json={"username": "admin", "password": "guess-guess"}
            )
            statuses.append(response.status_code)
        # Three failures are free, the fourth locks the name: then it waits.
        assert statuses == [401, 401, 401, 401, 429, 429]
        assert response.json()["detail"]["code"] == "RATE_LIMITED"
        assert 1 <= int(response.headers["retry-after"]) <= 30
        # While slowed down, even the right password waits.
        right = await http.post(
            "/api/auth/token", json={"username": "admin", "password": ADMIN_PASSWORD}
        )
        assert right.status_code == 429


# -- keys ----------------------------------------------------------------------------


async def test_jwks_is_public_and_holds_no_private_part(http: httpx.AsyncClient) -> None:
    keys = (await http.get("/.well-known/jwks.json")).json()["keys"]
    assert keys
    for key in keys:
        assert (key["kty"], key["crv"], key["alg"], key["use"]) == (
            "OKP",
            "Ed25519",
            "EdDSA",
            "sig",
        )
        assert "d" not in key


async def test_key_rotation_keeps_live_tokens_valid(
    nats_server: NatsServer, prefix: str, gateway_settings: GatewaySettings
) -> None:
    # Real time (a moved clock would also move the tokens' iat): a key lives 2 s here.
    settings = auth_settings_for(
        nats_server,
        prefix,
        admin_password=ADMIN_PASSWORD,
        signing_key_rotation_s=2,
        signing_key_check_s=0.2,
    )
    async with (
        run_auth(settings),
        serve_gateway(
            gateway_settings.model_copy(update={"jwks_refresh_min_interval_s": 0})
        ) as address,
        httpx.AsyncClient(base_url=f"http://{address}") as http,
    ):
        before = (await login(http, "admin", ADMIN_PASSWORD))["access_token"]
        old_kid = jwt.get_unverified_header(before)["kid"]
        async with connect(f"ws://{address}/ws?token={before}") as ws:
            assert (await receive(ws))["type"] == "connected"  # the gateway caches the old key
        after: dict[str, str] = {}

        async def rotated() -> bool:
            after["token"] = (await login(http, "admin", ADMIN_PASSWORD))["access_token"]
            return jwt.get_unverified_header(after["token"])["kid"] != old_kid

        await wait_until(rotated, "the signing key to rotate")
        for token in (before, after["token"]):  # the new kid is fetched once; the old one stays
            async with connect(f"ws://{address}/ws?token={token}") as ws:
                assert (await receive(ws))["type"] == "connected"


# -- secrets -------------------------------------------------------------------------


async def test_no_secret_reaches_the_logs(
    auth_service: AuthService, gateway_settings: GatewaySettings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="websockets.client")  # the test's own client
    async with (
        serve_gateway(gateway_settings, log_level="debug") as address,
        httpx.AsyncClient(base_url=f"http://{address}") as http,
    ):
        tokens = await login(http, "admin", ADMIN_PASSWORD)
        await http.post("/api/auth/token", json={"username": "admin", "password": "wrong-password"})
        created = await http.post(
            "/api/auth/keys",
            json={"name": "k", "role": "viewer"},
            headers=bearer(tokens["access_token"]),
        )
        api_key = created.json()["api_key"]
        async with connect(f"ws://{address}/ws?token={tokens['access_token']}") as ws:
            await receive(ws)
        async with connect(f"ws://{address}/ws?api_key={api_key}") as ws:
            await receive(ws)
        refreshed = await http.post(
            "/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
        )
        assert refreshed.status_code == 200
    logged = caplog.text
    assert "WebSocket /ws?token=[redacted]" in logged  # uvicorn's line is there, blanked
    for secret in (
        ADMIN_PASSWORD,
        "wrong-password",
        tokens["access_token"],
        tokens["refresh_token"].split(".")[-1],
        api_key,
        refreshed.json()["access_token"],
    ):
        assert secret not in logged


async def wait_until(check: Any, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await wait_for(lambda: True, what)  # yield to the loop between checks
