"""The Ed25519 keys that sign access tokens, kept as one keyring in SIGNING_KEYS.

The ring's first key is the current one; the others are retired and stay published in
the JWKS for `retention` (the access-token lifetime plus the time a replica may take
to notice a rotation, plus leeway), so every token they signed can still be verified
until it expires. Then they are dropped.

Every replica calls `refresh()` now and then. The ring is one KV record written only
with a revision check, so when several replicas find a rotation due at once exactly
one rotates and the others adopt its ring.
"""

import base64
import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from jwt.algorithms import OKPAlgorithm
from pydantic import BaseModel, ConfigDict, Field

from vigil.errors import RevisionConflict
from vigil.records import Records
from vigil.streams import SIGNING_KEYS
from vigil_auth.clock import Clock

log = logging.getLogger(__name__)

RING_KEY = "ring"
ALGORITHM = "EdDSA"
_WRITE_ATTEMPTS = 5


class StoredKey(BaseModel):
    model_config = ConfigDict(frozen=True)

    kid: str
    private_key: str = Field(repr=False, description="Raw Ed25519 private key, base64url.")
    created_at: datetime
    retired_at: datetime | None = None


class Keyring(BaseModel):
    model_config = ConfigDict(frozen=True)

    keys: list[StoredKey] = Field(min_length=1, description="The current key first.")


@dataclass(frozen=True)
class ActiveKey:
    kid: str
    private_key: Ed25519PrivateKey


class SigningKeys:
    def __init__(
        self, records: Records[Keyring], clock: Clock, rotation: timedelta, retention: timedelta
    ) -> None:
        self._records = records
        self._clock = clock
        self._rotation = rotation
        self._retention = retention
        self._ring: Keyring | None = None
        self._active: ActiveKey | None = None

    def current(self) -> ActiveKey:
        """The key to sign with (as of the last `refresh`)."""
        if self._active is None:
            raise RuntimeError("no signing key loaded yet: call refresh() first")
        return self._active

    async def refresh(self) -> None:
        """Load the ring, creating, rotating or pruning it when due (one replica wins)."""
        for _ in range(_WRITE_ATTEMPTS):
            now = self._clock()
            found = await self._records.get(RING_KEY)
            try:
                if found is None:
                    ring = Keyring(keys=[_new_key(now)])
                    await self._records.create(RING_KEY, ring)
                    log.info("created signing key %s", ring.keys[0].kid)
                else:
                    ring = self._maintained(found.value, now)
                    if ring != found.value:
                        await self._records.update(RING_KEY, ring, found.revision)
                        self._log_changes(found.value, ring)
            except RevisionConflict:
                continue  # another replica wrote the ring first: adopt theirs
            self._use(ring)
            return
        raise RevisionConflict(SIGNING_KEYS.base_name, RING_KEY)  # kept changing: next time

    async def jwks(self) -> list[dict[str, Any]]:
        """The public keys tokens may be signed with, as JWKs, read fresh from the bucket."""
        found = await self._records.get(RING_KEY)
        ring = found.value if found is not None else self._ring
        if ring is None:
            return []
        now = self._clock()
        return [_public_jwk(key) for key in ring.keys if not self._expired(key, now)]

    def _maintained(self, ring: Keyring, now: datetime) -> Keyring:
        current, *older = ring.keys
        kept = [key for key in older if not self._expired(key, now)]
        if now - current.created_at >= self._rotation:
            return Keyring(
                keys=[_new_key(now), current.model_copy(update={"retired_at": now}), *kept]
            )
        return Keyring(keys=[current, *kept])

    def _expired(self, key: StoredKey, now: datetime) -> bool:
        return key.retired_at is not None and now - key.retired_at >= self._retention

    def _use(self, ring: Keyring) -> None:
        current = ring.keys[0]
        if self._active is None or self._active.kid != current.kid:
            self._active = ActiveKey(current.kid, _private_key(current))
        self._ring = ring

    @staticmethod
    def _log_changes(before: Keyring, after: Keyring) -> None:
        if before.keys[0].kid != after.keys[0].kid:
            log.info("rotated signing key %s -> %s", before.keys[0].kid, after.keys[0].kid)
        dropped = {key.kid for key in before.keys} - {key.kid for key in after.keys}
        for kid in sorted(dropped):
            log.info("dropped retired signing key %s", kid)


def _new_key(now: datetime) -> StoredKey:
    private_key = Ed25519PrivateKey.generate()
    raw = private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return StoredKey(
        kid=_thumbprint(private_key), private_key=_b64(raw), created_at=now, retired_at=None
    )


def _private_key(key: StoredKey) -> Ed25519PrivateKey:
    raw = base64.urlsafe_b64decode(key.private_key + "=" * (-len(key.private_key) % 4))
    return Ed25519PrivateKey.from_private_bytes(raw)


def _public_jwk(key: StoredKey) -> dict[str, Any]:
    public = OKPAlgorithm.to_jwk(_private_key(key).public_key(), as_dict=True)
    return {**public, "kid": key.kid, "alg": ALGORITHM, "use": "sig"}


def _thumbprint(private_key: Ed25519PrivateKey) -> str:
    """The RFC 7638 JWK thumbprint of the public key: a kid that names the key itself."""
    public = OKPAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    members = {name: public[name] for name in ("crv", "kty", "x")}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return _b64(hashlib.sha256(canonical).digest())


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
