"""Access tokens: short-lived JWTs signed with the current Ed25519 key (PyJWT, EdDSA).

The payload is `vigil.messages.AccessClaims`, the header names the key (`kid`), so a
gateway verifies a token locally against the JWKS without asking this service.

Besides a user's session tokens, this service vouches for what the other services
cannot check themselves: an API key (its hash is here) or an external issuer's token
(its issuers are configured here too). It answers with a delegated token: the same
claims for that principal, short-lived, never longer than the key or external token
it stands for, which the gateway sends with the ctl requests it makes for them.
"""

import uuid
from datetime import datetime, timedelta

import jwt

from vigil.access import Principal
from vigil.messages import AccessClaims, DelegatedToken
from vigil_auth.clock import Clock
from vigil_auth.signing import ALGORITHM, SigningKeys
from vigil_auth.users import UserRecord


class AccessTokens:
    def __init__(
        self,
        keys: SigningKeys,
        clock: Clock,
        *,
        issuer: str,
        audience: str,
        ttl_s: int,
        delegated_ttl_s: int,
    ) -> None:
        self._keys = keys
        self._clock = clock
        self._issuer = issuer
        self._audience = audience
        self.ttl_s = ttl_s
        self._delegated_ttl = timedelta(seconds=delegated_ttl_s)

    def issue(self, user: UserRecord, session_id: str) -> str:
        now = int(self._clock().timestamp())
        return self._signed(
            AccessClaims(
                iss=self._issuer,
                aud=self._audience,
                sub=user.id,
                name=user.username,
                roles=user.roles,
                clusters=user.clusters,
                permissions=user.permissions,
                sid=session_id,
                jti=uuid.uuid4().hex,
                iat=now,
                nbf=now,
                exp=now + self.ttl_s,
            )
        )

    def delegate(self, principal: Principal) -> DelegatedToken:
        """A short-lived token for `principal` (an API key, an external issuer's user),
        expiring with it if it expires sooner."""
        now = self._clock()
        expires_at = now + self._delegated_ttl
        if principal.expires_at is not None:
            expires_at = min(expires_at, principal.expires_at)
        token = self._signed(
            AccessClaims(
                iss=self._issuer,
                aud=self._audience,
                kind=principal.kind,
                sub=principal.id,
                name=principal.name,
                roles=principal.roles,
                clusters=principal.clusters,
                permissions=principal.permissions,
                jti=uuid.uuid4().hex,
                iat=int(now.timestamp()),
                nbf=int(now.timestamp()),
                exp=int(expires_at.timestamp()),
            )
        )
        return DelegatedToken(principal=principal, token=token, expires_at=_whole(expires_at))

    def _signed(self, claims: AccessClaims) -> str:
        key = self._keys.current()
        return jwt.encode(
            claims.model_dump(mode="json"),
            key.private_key,
            algorithm=ALGORITHM,
            headers={"kid": key.kid},
        )


def _whole(moment: datetime) -> datetime:
    """To the second, as the token's `exp` claim says it."""
    return moment.replace(microsecond=0)
