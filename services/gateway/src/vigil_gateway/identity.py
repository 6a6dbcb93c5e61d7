"""Credentials to a principal: JWTs verified locally, API keys asked of auth (cached).

Vigil's own tokens are checked against the JWKS the auth service publishes; tokens of
a configured external issuer against that issuer's JWKS URL, their claims mapped onto
roles and a cluster grant. The auth service is never asked per token, only per key
set; API keys are asked once and cached briefly (revocations drop them at once).
"""

import hashlib
import logging
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt
from pydantic import ValidationError

from vigil import ctl
from vigil.access import Principal
from vigil.bus import Bus
from vigil.errors import BusUnavailable
from vigil.messages import AccessClaims, ErrorCode, GetSigningKeys, VerifyApiKey
from vigil.operations import Auth
from vigil_gateway.credentials import Credentials
from vigil_gateway.errors import AuthUnavailable, InvalidCredentials, MissingCredentials
from vigil_gateway.keysets import Fetch, KeySet
from vigil_gateway.settings import ExternalIssuer, GatewaySettings

log = logging.getLogger(__name__)

_OWN_ALGORITHMS = ["EdDSA"]
_REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub"]


class Identity:
    def __init__(self, settings: GatewaySettings, bus: Bus, http: httpx.AsyncClient) -> None:
        self._settings = settings
        self._bus = bus
        self._http = http
        self.own_keys = KeySet(
            self._fetch_own_keys, min_interval_s=settings.jwks_refresh_min_interval_s
        )
        self._external = {
            issuer.issuer: (
                issuer,
                KeySet(self._fetcher(issuer), min_interval_s=settings.jwks_refresh_min_interval_s),
            )
            for issuer in settings.external_issuers
        }
        self._api_keys: dict[str, tuple[Principal, float]] = {}

    async def principal(self, credentials: Credentials) -> Principal:
        """Who these credentials prove; raises `MissingCredentials`, `InvalidCredentials`
        or `AuthUnavailable`."""
        if credentials.token:
            return await self.verify_token(credentials.token)
        if credentials.api_key:
            return await self.verify_api_key(credentials.api_key)
        raise MissingCredentials()

    # -- JWTs ---------------------------------------------------------------------

    async def verify_token(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise InvalidCredentials("the token is not a well-formed JWT") from None
        kid, issuer = header.get("kid"), unverified.get("iss")
        if not isinstance(kid, str) or not kid:
            raise InvalidCredentials("the token names no signing key (kid)")
        if issuer == self._settings.token_issuer:
            claims = await self._decode(
                token, header, self.own_keys, _OWN_ALGORITHMS, issuer, self._settings.token_audience
            )
            return self._own_principal(claims)
        external = self._external.get(issuer) if isinstance(issuer, str) else None
        if external is None:
            raise InvalidCredentials("the token's issuer is not trusted")
        config, keys = external
        claims = await self._decode(
            token, header, keys, config.algorithms, config.issuer, config.audience
        )
        return _external_principal(config, claims)

    async def _decode(
        self,
        token: str,
        header: dict[str, Any],
        keys: KeySet,
        algorithms: list[str],
        issuer: str,
        audience: str,
    ) -> dict[str, Any]:
        algorithm = header.get("alg")
        if algorithm not in algorithms:
            raise InvalidCredentials(
                f"the token's algorithm {str(algorithm)[:16]!r} is not accepted"
            )
        key = await keys.key(header["kid"])
        if key.algorithm_name != algorithm:
            raise InvalidCredentials("the token's algorithm does not match its key")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[algorithm],
                audience=audience,
                issuer=issuer,
                options={"require": _REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidCredentials("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise InvalidCredentials("the token is not valid yet") from None
        except jwt.InvalidAudienceError:
            raise InvalidCredentials("the token is for another audience") from None
        except jwt.InvalidIssuerError:
            raise InvalidCredentials("the token's issuer is not trusted") from None
        except jwt.PyJWTError:
            raise InvalidCredentials("the token's signature or claims are invalid") from None
        return claims

    @staticmethod
    def _own_principal(claims: dict[str, Any]) -> Principal:
        try:
            parsed = AccessClaims.model_validate(claims)
        except ValidationError:
            raise InvalidCredentials("the token's claims are not Vigil's") from None
        return Principal(
            kind="user",
            id=parsed.sub,
            name=parsed.name,
            roles=parsed.roles,
            clusters=parsed.clusters,
            session_id=parsed.sid,
            expires_at=datetime.fromtimestamp(parsed.exp, UTC),
        )

    async def _fetch_own_keys(self) -> list[dict[str, Any]]:
        try:
            return (await ctl.call(self._bus, Auth.JWKS, GetSigningKeys())).keys
        except (BusUnavailable, ctl.Refused, RuntimeError) as exc:
            raise AuthUnavailable("the auth service's signing keys cannot be fetched") from exc

    def _fetcher(self, issuer: ExternalIssuer) -> Fetch:
        async def fetch() -> list[dict[str, Any]]:
            try:
                response = await self._http.get(issuer.jwks_url, timeout=5.0)
                response.raise_for_status()
                keys: list[dict[str, Any]] = response.json()["keys"]
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                raise AuthUnavailable(f"the JWKS of {issuer.issuer} cannot be fetched") from exc
            return keys

        return fetch

    # -- API keys -----------------------------------------------------------------

    async def verify_api_key(self, api_key: str) -> Principal:
        digest = hashlib.sha256(api_key.encode()).hexdigest()
        cached = self._api_keys.get(digest)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        try:
            principal = await ctl.call(
                self._bus, Auth.VERIFY_API_KEY, VerifyApiKey(api_key=api_key)
            )
        except ctl.Refused as exc:
            if exc.code is ErrorCode.INVALID_CREDENTIALS:
                raise InvalidCredentials("the API key is unknown, revoked or expired") from None
            raise AuthUnavailable(exc.message) from None
        except (BusUnavailable, RuntimeError) as exc:
            raise AuthUnavailable("API keys cannot be checked now") from exc
        self._api_keys[digest] = (principal, time.monotonic() + self._settings.api_key_cache_s)
        return principal

    def forget_api_key(self, key_id: str) -> None:
        """Drop a revoked key from the cache at once."""
        for digest, (principal, _) in list(self._api_keys.items()):
            if principal.id == key_id:
                del self._api_keys[digest]


def _claim(claims: dict[str, Any], path: str) -> Any:
    value: Any = claims
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _external_principal(issuer: ExternalIssuer, claims: dict[str, Any]) -> Principal:
    raw_roles = _claim(claims, issuer.roles_claim)
    names = raw_roles if isinstance(raw_roles, list) else []
    roles = sorted(
        {issuer.role_map[n] for n in names if n in issuer.role_map}, key=lambda r: r.rank
    )
    if not roles:
        raise InvalidCredentials("the token grants no Vigil role")
    clusters: list[str] = []
    if issuer.clusters_claim:
        raw = _claim(claims, issuer.clusters_claim)
        clusters = [c for c in (raw if isinstance(raw, list) else [raw]) if isinstance(c, str)]
    try:
        return Principal(
            kind="user",
            id=f"{issuer.issuer}#{claims['sub']}",
            name=str(_claim(claims, issuer.username_claim) or claims["sub"]),
            roles=roles,
            clusters=clusters,
            expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
        )
    except (ValidationError, ValueError):
        raise InvalidCredentials("the token's claims cannot be mapped") from None
