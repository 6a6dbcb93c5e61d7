"""Access tokens, verified: who a request acts for, proven by a signature.

Vigil's own tokens are JWTs the auth service signs (EdDSA); their public keys are its
JWKS, asked over the bus (`ctl.auth.jwks`) and cached in a `KeySet`. The gateway
verifies a client's token at the handshake; every service that performs an operation
for a user verifies the token that came with the request itself (`vigil.ctl`), so no
request is allowed merely because it arrived on a subject (DESIGN rule 8).
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import ValidationError

from vigil.access import Principal
from vigil.errors import VigilError
from vigil.messages import AccessClaims

if TYPE_CHECKING:
    from jwt import PyJWK

# PyJWT, and the cryptography it loads, are imported where a key or token is first
# handled, not with this module: `vigil.ctl` imports it in every service, and a service
# that never sees a user's token (the collector, mostly) would pay ~11 MB of RSS for it.

Fetch = Callable[[], Awaitable[list[dict[str, Any]]]]
"""Fetches a JWKS's keys; raises `KeysUnavailable` when it cannot."""

OWN_ALGORITHM = "EdDSA"
_REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub"]


class InvalidToken(VigilError):
    """A token that proves nothing: malformed, forged, expired, or not for us."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class KeysUnavailable(VigilError):
    """The keys a token would be checked with cannot be fetched now."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class Verifier(Protocol):
    """Turns a token into the principal it proves, or raises `InvalidToken` (or
    `KeysUnavailable`)."""

    async def verify(self, token: str) -> Principal: ...


class KeySet:
    """A cached JSON Web Key Set: fetched on first use, refreshed when a `kid` is unknown.

    An unknown `kid` triggers one refresh, at most every `min_interval_s`, so forged
    tokens with random kids cannot make the holder hammer the key source.
    """

    def __init__(self, fetch: Fetch, *, min_interval_s: float) -> None:
        self._fetch = fetch
        self._min_interval_s = min_interval_s
        self._keys: dict[str, PyJWK] = {}
        self._documents: list[dict[str, Any]] = []
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()

    async def key(self, kid: str) -> "PyJWK":
        if kid not in self._keys:
            await self.refresh(only_if_older_than_s=self._min_interval_s)
        found = self._keys.get(kid)
        if found is None:
            raise InvalidToken("the token's signing key is unknown")
        return found

    async def refresh(self, *, only_if_older_than_s: float = 0.0) -> None:
        async with self._lock:
            now = time.monotonic()
            if self._fetched_at is not None and now - self._fetched_at < only_if_older_than_s:
                return
            documents = await self._fetch()
            self._fetched_at = now
            from jwt import PyJWK  # on first use: see the top of the module
            from jwt.exceptions import PyJWKError

            keys = {}
            for document in documents:
                try:
                    keys[str(document["kid"])] = PyJWK(document)
                except (KeyError, PyJWKError):  # a key we cannot use verifies nothing
                    continue
            self._keys = keys
            self._documents = [d for d in documents if str(d.get("kid")) in keys]

    def documents(self) -> list[dict[str, Any]]:
        """The public keys as JWK documents (for `/.well-known/jwks.json`)."""
        return list(self._documents)


def unverified_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A token's header and claims, unverified: only to choose how to verify it."""
    import jwt  # on first use: see the top of the module

    try:
        header = jwt.get_unverified_header(token)
        claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise InvalidToken("the token is not a well-formed JWT") from None
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidToken("the token names no signing key (kid)")
    return header, claims


async def decode(
    token: str,
    header: dict[str, Any],
    keys: KeySet,
    algorithms: list[str],
    issuer: str,
    audience: str,
) -> dict[str, Any]:
    """The claims of `token` if its signature (by the key its header names, with one of
    `algorithms`), issuer, audience and times hold; else `InvalidToken`."""
    algorithm = header.get("alg")
    if algorithm not in algorithms:
        raise InvalidToken(f"the token's algorithm {str(algorithm)[:16]!r} is not accepted")
    key = await keys.key(header["kid"])
    if key.algorithm_name != algorithm:
        raise InvalidToken("the token's algorithm does not match its key")
    import jwt  # on first use: see the top of the module

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
        raise InvalidToken("the token has expired") from None
    except jwt.ImmatureSignatureError:
        raise InvalidToken("the token is not valid yet") from None
    except jwt.InvalidAudienceError:
        raise InvalidToken("the token is for another audience") from None
    except jwt.InvalidIssuerError:
        raise InvalidToken("the token's issuer is not trusted") from None
    except jwt.PyJWTError:
        raise InvalidToken("the token's signature or claims are invalid") from None
    return claims


def principal_of(claims: dict[str, Any]) -> Principal:
    """The principal a verified Vigil token names."""
    try:
        parsed = AccessClaims.model_validate(claims)
    except ValidationError:
        raise InvalidToken("the token's claims are not Vigil's") from None
    return Principal(
        kind=parsed.kind,
        id=parsed.sub,
        name=parsed.name,
        roles=parsed.roles,
        clusters=parsed.clusters,
        permissions=parsed.permissions,
        session_id=parsed.sid,
        expires_at=datetime.fromtimestamp(parsed.exp, UTC),
    )


class TokenVerifier:
    """Verifies Vigil's own access tokens against the auth service's keys."""

    def __init__(self, keys: KeySet, *, issuer: str, audience: str) -> None:
        self.keys = keys
        self.issuer = issuer
        self._audience = audience

    def is_own(self, claims: dict[str, Any]) -> bool:
        return claims.get("iss") == self.issuer

    async def verify(self, token: str) -> Principal:
        header, unverified = unverified_parts(token)
        if not self.is_own(unverified):
            raise InvalidToken("the token's issuer is not trusted")
        claims = await decode(
            token, header, self.keys, [OWN_ALGORITHM], self.issuer, self._audience
        )
        return principal_of(claims)
