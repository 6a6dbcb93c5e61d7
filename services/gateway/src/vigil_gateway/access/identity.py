"""Credentials to a principal, and to the token that goes with the ctl requests made
for it.

Vigil's own tokens are verified locally against the JWKS the auth service publishes;
tokens of a configured external issuer against that issuer's JWKS URL (`vigil.issuers`).
The auth service is never asked per token, only per key set. API keys are asked of auth
once and cached until the earliest of the cache time, the key's own expiry and the
token minted for it (revocations drop them at once).

Every service that acts for a user verifies that user's token itself (`vigil.ctl`),
and accepts only Vigil's: so a request made for an API key carries the short-lived
token auth minted when it verified the key, and one made for an external issuer's
user the token auth exchanged for theirs (cached until it expires).
"""

import hashlib
import logging
import time
from datetime import UTC, datetime
from typing import TypeVar

import httpx
from pydantic import ValidationError

from vigil import ctl
from vigil.access import Principal
from vigil.authority import jwks_of_auth
from vigil.bus import Bus
from vigil.errors import BusUnavailable
from vigil.issuers import ExternalVerifier
from vigil.messages import DelegatedToken, ErrorCode, ExchangeToken, VerifyApiKey
from vigil.model import Message
from vigil.operations import Auth, Operation
from vigil.tokens import InvalidToken, KeySet, KeysUnavailable, TokenVerifier, unverified_parts
from vigil_gateway.access.credentials import Credentials
from vigil_gateway.errors import AuthUnavailable, InvalidCredentials, MissingCredentials
from vigil_gateway.settings import GatewaySettings

log = logging.getLogger(__name__)

R = TypeVar("R", bound=Message)

_EXPIRY_MARGIN_S = 5.0  # a delegated token is renewed this long before it expires


class Identity:
    def __init__(self, settings: GatewaySettings, bus: Bus, http: httpx.AsyncClient) -> None:
        self._settings = settings
        self._bus = bus
        interval = settings.jwks_refresh_min_interval_s
        self.own = TokenVerifier(
            KeySet(jwks_of_auth(bus), min_interval_s=interval),
            issuer=settings.token_issuer,
            audience=settings.token_audience,
        )
        self._external = ExternalVerifier(settings.external_issuers, http, min_interval_s=interval)
        self._delegated: dict[str, tuple[DelegatedToken, float]] = {}  # by credential digest

    @property
    def own_keys(self) -> KeySet:
        return self.own.keys

    async def principal(self, credentials: Credentials) -> Principal:
        """Who these credentials prove; raises `MissingCredentials`, `InvalidCredentials`
        or `AuthUnavailable`."""
        if credentials.token:
            return await self.verify_token(credentials.token)
        if credentials.api_key:
            return (await self._api_key(credentials.api_key)).principal
        raise MissingCredentials()

    async def bus_token(self, credentials: Credentials) -> str:
        """The Vigil token to send with ctl requests made for these (proven) credentials."""
        if credentials.api_key and not credentials.token:
            return (await self._api_key(credentials.api_key)).token
        token = credentials.token
        if not token:
            raise MissingCredentials()
        try:
            _, claims = unverified_parts(token)
        except InvalidToken as exc:
            raise InvalidCredentials(exc.reason) from None
        if self.own.is_own(claims):
            return token
        return (await self._exchanged(token)).token

    # -- JWTs ---------------------------------------------------------------------

    async def verify_token(self, token: str) -> Principal:
        try:
            _, claims = unverified_parts(token)
            if self.own.is_own(claims):
                return await self.own.verify(token)
            return await self._external.verify(token)
        except InvalidToken as exc:
            raise InvalidCredentials(exc.reason) from None
        except KeysUnavailable as exc:
            raise AuthUnavailable(exc.reason) from exc

    # -- what auth vouches for: API keys, external tokens -------------------------

    async def _api_key(self, api_key: str) -> DelegatedToken:
        try:
            request = VerifyApiKey(api_key=api_key)
        except ValidationError:
            raise InvalidCredentials("the API key is malformed") from None
        return await self._vouched(api_key, Auth.VERIFY_API_KEY, request)

    async def _exchanged(self, token: str) -> DelegatedToken:
        try:
            request = ExchangeToken(token=token)
        except ValidationError:
            raise InvalidCredentials("the token is malformed") from None
        return await self._vouched(token, Auth.EXCHANGE, request)

    async def _vouched(
        self, secret: str, operation: Operation[R, DelegatedToken], request: R
    ) -> DelegatedToken:
        """What auth says `secret` proves (asked once, then cached)."""
        digest = hashlib.sha256(secret.encode()).hexdigest()
        cached = self._delegated.get(digest)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        try:
            delegated = await ctl.call(self._bus, operation, request)
        except ctl.Refused as exc:
            if exc.code in (ErrorCode.INVALID_CREDENTIALS, ErrorCode.INVALID_MESSAGE):
                raise InvalidCredentials(exc.message) from None
            raise AuthUnavailable(exc.message) from None
        except (BusUnavailable, RuntimeError) as exc:
            raise AuthUnavailable("credentials cannot be checked now") from exc
        self._forget_expired()
        self._delegated[digest] = (delegated, self._cache_until(delegated))
        return delegated

    def _cache_until(self, delegated: DelegatedToken) -> float:
        """A monotonic deadline: the cache time, cut short by the token's (and so the
        key's) expiry, so an expired key is refused at once."""
        left = (delegated.expires_at - datetime.now(UTC)).total_seconds() - _EXPIRY_MARGIN_S
        return time.monotonic() + max(0.0, min(self._settings.api_key_cache_s, left))

    def _forget_expired(self) -> None:
        now = time.monotonic()
        for digest, (_, until) in list(self._delegated.items()):
            if until <= now:
                del self._delegated[digest]

    def forget_api_key(self, key_id: str) -> None:
        """Drop a revoked key from the cache at once."""
        for digest, (delegated, _) in list(self._delegated.items()):
            principal = delegated.principal
            if principal.kind == "api_key" and principal.id == key_id:
                del self._delegated[digest]
