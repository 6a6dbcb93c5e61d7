"""Seed 003's Keycloak case: tokens of an external issuer, checked against its JWKS URL.

The issuer is played by a real HTTP server on 127.0.0.1 serving RS256 public keys; the
tokens are signed as Keycloak signs them and carry Keycloak's claims.
"""

import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.frames import Close

from tests.support import receive, serve_gateway
from vigil.access import Principal, Role
from vigil.messages import CloseCode
from vigil.settings import ExternalIssuer
from vigil_gateway.settings import GatewaySettings

ISSUER = "https://sso.example.test/realms/ops"
AUDIENCE = "platform_api"


@dataclass(frozen=True)
class RsaKey:
    """An RS256 signing key, as the identity provider holds it."""

    kid: str
    private: rsa.RSAPrivateKey

    @classmethod
    def generate(cls, kid: str) -> "RsaKey":
        return cls(kid, rsa.generate_private_key(public_exponent=65537, key_size=2048))

    def public_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))
        return jwk | {"kid": self.kid, "alg": "RS256", "use": "sig"}

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self.private, "RS256", headers={"kid": self.kid, "typ": "JWT"})


class JwksServer:
    """`GET /certs` on a free port of 127.0.0.1: the public keys a test has published."""

    def __init__(self, keys: list[RsaKey]) -> None:
        self._documents = [key.public_jwk() for key in keys]
        self._lock = threading.Lock()
        self.requests = 0
        jwks = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with jwks._lock:
                    jwks.requests += 1
                    body = json.dumps({"keys": jwks._documents}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep the test output to what the test says

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="jwks-server")
        self._thread.start()
        self._running = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/certs"

    def publish(self, key: RsaKey) -> None:
        with self._lock:
            self._documents.append(key.public_jwk())

    def stop(self) -> None:
        if self._running:
            self._running = False
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)


@pytest.fixture(scope="module")
def realm_key() -> RsaKey:
    return RsaKey.generate("realm-key-1")


@pytest.fixture
def jwks_server(realm_key: RsaKey) -> Iterator[JwksServer]:
    server = JwksServer([realm_key])
    yield server
    server.stop()


def keycloak(jwks_url: str) -> ExternalIssuer:
    return ExternalIssuer(
        issuer=ISSUER,
        jwks_url=jwks_url,
        audience=AUDIENCE,
        role_map={"platform_admin": Role.ADMIN, "ops_viewer": Role.VIEWER},
        clusters_claim="vigil_clusters",
    )


def settings_with_keycloak(
    settings: GatewaySettings, jwks: JwksServer, **overrides: object
) -> GatewaySettings:
    return settings.model_copy(
        update={"external_issuers": [keycloak(jwks.url)], **overrides}, deep=True
    )


@pytest.fixture
async def gateway(gateway_settings: GatewaySettings, jwks_server: JwksServer) -> AsyncIterator[str]:
    async with serve_gateway(settings_with_keycloak(gateway_settings, jwks_server)) as base:
        yield base


def keycloak_claims(**overrides: Any) -> dict[str, Any]:
    """An access token of Keycloak's realm `ops`, for jane, valid for five minutes."""
    now = int(time.time())
    values: dict[str, Any] = {
        "exp": now + 300,
        "iat": now,
        "jti": str(uuid.uuid4()),
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "f1c2e3d4-0000-4000-8000-00000000jane",
        "typ": "Bearer",
        "azp": "vigil-dashboard",
        "preferred_username": "jane.ops",
        "realm_access": {"roles": ["offline_access", "platform_admin", "uma_authorization"]},
        "vigil_clusters": ["prod", "staging"],
    }
    return values | overrides


async def close_on_connect(base: str, token: str) -> Close:
    """The close frame the gateway answers a `/ws` handshake with `token` by."""
    async with connect(f"ws://{base}/ws?token={token}") as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await receive(ws)
    assert closed.value.rcvd is not None, "the connection ended without a close frame"
    return closed.value.rcvd


async def connected_type(base: str, token: str) -> str:
    """The type of the first message on `/ws` with `token` (`connected` when admitted)."""
    async with connect(f"ws://{base}/ws?token={token}") as ws:
        return str((await receive(ws))["type"])


# -- admitted ------------------------------------------------------------------------


async def test_a_keycloak_token_is_admitted_and_connected_arrives(
    gateway: str, realm_key: RsaKey
) -> None:
    assert await connected_type(gateway, realm_key.sign(keycloak_claims())) == "connected"


async def test_me_returns_the_principal_mapped_from_keycloak_claims(
    gateway: str, realm_key: RsaKey
) -> None:
    claims = keycloak_claims()

    async with httpx.AsyncClient(base_url=f"http://{gateway}") as http:
        response = await http.get(
            "/api/auth/me", headers={"Authorization": f"Bearer {realm_key.sign(claims)}"}
        )

    assert response.status_code == 200, response.text
    assert Principal.model_validate(response.json()) == Principal(
        kind="user",
        id=f"{ISSUER}#{claims['sub']}",
        name="jane.ops",
        roles=[Role.ADMIN],
        clusters=["prod", "staging"],
        expires_at=datetime.fromtimestamp(claims["exp"], UTC),
    )


async def test_every_mapped_role_is_kept_and_unmapped_ones_dropped(
    gateway: str, realm_key: RsaKey
) -> None:
    claims = keycloak_claims(
        realm_access={"roles": ["ops_viewer", "offline_access"]}, vigil_clusters="prod"
    )

    async with httpx.AsyncClient(base_url=f"http://{gateway}") as http:
        response = await http.get(
            "/api/auth/me", headers={"Authorization": f"Bearer {realm_key.sign(claims)}"}
        )

    principal = Principal.model_validate(response.json())
    assert (principal.roles, principal.clusters) == ([Role.VIEWER], ["prod"])


# -- refused with 4001 ---------------------------------------------------------------


async def test_a_token_whose_roles_map_to_nothing_is_closed_with_4001(
    gateway: str, realm_key: RsaKey
) -> None:
    claims = keycloak_claims(realm_access={"roles": ["offline_access", "uma_authorization"]})

    close = await close_on_connect(gateway, realm_key.sign(claims))

    assert (close.code, close.reason) == (
        CloseCode.INVALID_CREDENTIALS,
        "the token grants no Vigil role",
    )


async def test_a_token_for_another_audience_is_closed_with_4001(
    gateway: str, realm_key: RsaKey
) -> None:
    close = await close_on_connect(gateway, realm_key.sign(keycloak_claims(aud="account")))

    assert (close.code, close.reason) == (
        CloseCode.INVALID_CREDENTIALS,
        "the token is for another audience",
    )


async def test_an_expired_token_is_closed_with_4001(gateway: str, realm_key: RsaKey) -> None:
    an_hour_ago = int(time.time()) - 3600
    claims = keycloak_claims(iat=an_hour_ago, exp=an_hour_ago + 300)

    close = await close_on_connect(gateway, realm_key.sign(claims))

    assert (close.code, close.reason) == (CloseCode.INVALID_CREDENTIALS, "the token has expired")


async def test_a_token_signed_by_another_key_with_the_same_kid_is_closed_with_4001(
    gateway: str, realm_key: RsaKey
) -> None:
    impostor = RsaKey.generate(realm_key.kid)

    close = await close_on_connect(gateway, impostor.sign(keycloak_claims()))

    assert (close.code, close.reason) == (
        CloseCode.INVALID_CREDENTIALS,
        "the token's signature or claims are invalid",
    )


async def test_unknown_kids_refresh_the_jwks_at_most_once_per_interval(
    gateway_settings: GatewaySettings, jwks_server: JwksServer, realm_key: RsaKey
) -> None:
    settings = settings_with_keycloak(
        gateway_settings, jwks_server, jwks_refresh_min_interval_s=3600.0
    )
    async with serve_gateway(settings) as base:
        assert await connected_type(base, realm_key.sign(keycloak_claims())) == "connected"
        for n in range(3):
            forged = RsaKey(f"random-kid-{n}", realm_key.private).sign(keycloak_claims())
            close = await close_on_connect(base, forged)
            assert (close.code, close.reason) == (
                CloseCode.INVALID_CREDENTIALS,
                "the token's signing key is unknown",
            )

    assert jwks_server.requests == 1


# -- key rotation and an unreachable issuer ------------------------------------------


async def test_a_key_published_during_the_test_is_admitted_after_one_refresh(
    gateway_settings: GatewaySettings, jwks_server: JwksServer, realm_key: RsaKey
) -> None:
    settings = settings_with_keycloak(gateway_settings, jwks_server, jwks_refresh_min_interval_s=0)
    rotated = RsaKey.generate("realm-key-2")
    async with serve_gateway(settings) as base:
        assert await connected_type(base, realm_key.sign(keycloak_claims())) == "connected"
        assert jwks_server.requests == 1

        jwks_server.publish(rotated)

        assert await connected_type(base, rotated.sign(keycloak_claims())) == "connected"
        assert jwks_server.requests == 2
        # Both keys are now cached: neither asks the issuer again.
        assert await connected_type(base, realm_key.sign(keycloak_claims())) == "connected"
        assert await connected_type(base, rotated.sign(keycloak_claims())) == "connected"
        assert jwks_server.requests == 2


async def test_an_unreachable_jwks_server_closes_with_1013(
    gateway: str, jwks_server: JwksServer, realm_key: RsaKey
) -> None:
    jwks_server.stop()

    close = await close_on_connect(gateway, realm_key.sign(keycloak_claims()))

    assert close.code == CloseCode.TRY_LATER
    assert (
        close.reason == f"credentials cannot be checked now: the JWKS of {ISSUER} cannot be fetched"
    )
    async with httpx.AsyncClient(base_url=f"http://{gateway}") as http:
        response = await http.get(
            "/api/auth/me",
            headers={"Authorization": f"Bearer {realm_key.sign(keycloak_claims())}"},
        )
    assert response.status_code == 503
