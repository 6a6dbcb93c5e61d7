"""Access tokens: short-lived JWTs signed with the current Ed25519 key (PyJWT, EdDSA).

The payload is `vigil.messages.AccessClaims`, the header names the key (`kid`), so a
gateway verifies a token locally against the JWKS without asking this service.
"""

import uuid

import jwt

from vigil.messages import AccessClaims
from vigil_auth.clock import Clock
from vigil_auth.signing import ALGORITHM, SigningKeys
from vigil_auth.users import UserRecord


class AccessTokens:
    def __init__(
        self, keys: SigningKeys, clock: Clock, *, issuer: str, audience: str, ttl_s: int
    ) -> None:
        self._keys = keys
        self._clock = clock
        self._issuer = issuer
        self._audience = audience
        self.ttl_s = ttl_s

    def issue(self, user: UserRecord, session_id: str) -> str:
        now = int(self._clock().timestamp())
        claims = AccessClaims(
            iss=self._issuer,
            aud=self._audience,
            sub=user.id,
            name=user.username,
            roles=user.roles,
            clusters=user.clusters,
            sid=session_id,
            jti=uuid.uuid4().hex,
            iat=now,
            nbf=now,
            exp=now + self.ttl_s,
        )
        key = self._keys.current()
        return jwt.encode(
            claims.model_dump(mode="json"),
            key.private_key,
            algorithm=ALGORITHM,
            headers={"kid": key.kid},
        )
