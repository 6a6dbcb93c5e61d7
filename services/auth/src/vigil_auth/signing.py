"""The Ed25519 keys that sign access tokens, kept as one keyring in SIGNING_KEYS.

The ring's first key is the current one; the others are retired and stay published in
the JWKS for `retention` (the access-token lifetime plus the time a replica may take
to notice a rotation, plus leeway), so every token they signed can still be verified
until it expires. Then they are dropped.

Every replica calls `refresh()` now and then. The ring is one KV record written only
with a revision check, so when several replicas find a rotation due at once exactly
one rotates and the others adopt its ring.

The private keys are stored encrypted with the `SigningKeySecret` (Fernet: encrypted
and authenticated), so the bucket, its NATS files and their backups do not give away
the power to mint tokens. A refresh also mends the ring: a key stored in clear (by an
older version) is encrypted, one encrypted with a key of the secret other than its
first is re-encrypted with the first. A key no configured key opens stops the refresh
with `SigningKeysUnreadable` and nothing is written. Public keys are always derived
from the decrypted private ones, never stored beside them: a public key in clear
could be swapped by whoever may write the bucket, and the JWKS would publish it.
Without a secret (`VIGIL_AUTH_SIGNING_KEYS_IN_CLEAR`, development only) keys are
stored in clear, as older versions did.
"""

import base64
import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.fernet import InvalidToken
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from jwt.algorithms import OKPAlgorithm
from pydantic import BaseModel, ConfigDict, Field, model_validator

from vigil.errors import RevisionConflict
from vigil.records import Records
from vigil.streams import SIGNING_KEYS
from vigil_auth.clock import Clock
from vigil_auth.errors import SigningKeysUnreadable
from vigil_auth.secret_key import SigningKeySecret

log = logging.getLogger(__name__)

RING_KEY = "ring"
ALGORITHM = "EdDSA"
_WRITE_ATTEMPTS = 5


class StoredKey(BaseModel):
    model_config = ConfigDict(frozen=True)

    kid: str
    encrypted_private_key: str | None = Field(
        default=None, repr=False, description="The raw Ed25519 private key, as a Fernet token."
    )
    private_key: str | None = Field(
        default=None,
        repr=False,
        description="The raw Ed25519 private key, base64url, in clear: rings of older "
        "versions, and VIGIL_AUTH_SIGNING_KEYS_IN_CLEAR.",
    )
    created_at: datetime
    retired_at: datetime | None = None

    @model_validator(mode="after")
    def _one_private_key(self) -> "StoredKey":
        if (self.encrypted_private_key is None) == (self.private_key is None):
            raise ValueError("a stored key has either encrypted_private_key or private_key")
        return self


class Keyring(BaseModel):
    model_config = ConfigDict(frozen=True)

    keys: list[StoredKey] = Field(min_length=1, description="The current key first.")


@dataclass(frozen=True)
class ActiveKey:
    kid: str
    private_key: Ed25519PrivateKey


class SigningKeys:
    def __init__(
        self,
        records: Records[Keyring],
        clock: Clock,
        rotation: timedelta,
        retention: timedelta,
        *,
        secret: SigningKeySecret | None,
    ) -> None:
        self._records = records
        self._clock = clock
        self._rotation = rotation
        self._retention = retention
        self._secret = secret
        self._ring: Keyring | None = None
        self._active: ActiveKey | None = None

    def current(self) -> ActiveKey:
        """The key to sign with (as of the last `refresh`)."""
        if self._active is None:
            raise RuntimeError("no signing key loaded yet: call refresh() first")
        return self._active

    async def refresh(self) -> None:
        """Load the ring, creating, rotating, pruning or re-encrypting it when due.

        One replica wins each change. `SigningKeysUnreadable` when a stored key opens
        with no key of the secret: then nothing is written and the ring in use stays.
        """
        for _ in range(_WRITE_ATTEMPTS):
            now = self._clock()
            found = await self._records.get(RING_KEY)
            try:
                if found is None:
                    ring = Keyring(keys=[self._new_key(now)])
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
        try:
            return [
                _public_jwk(self._open(key)) for key in ring.keys if not self._expired(key, now)
            ]
        except SigningKeysUnreadable as exc:
            if self._ring is None or ring is self._ring:
                raise
            # Written by a replica with a newer secret: publish what this one can vouch for.
            log.error("publishing the signing keys last loaded: %s", exc)
            return [
                _public_jwk(self._open(key))
                for key in self._ring.keys
                if not self._expired(key, now)
            ]

    @staticmethod
    async def stored_encrypted(records: Records[Keyring]) -> bool:
        """Whether the bucket holds a key that only a secret opens (then one is needed)."""
        found = await records.get(RING_KEY)
        return found is not None and any(key.encrypted_private_key for key in found.value.keys)

    def _maintained(self, ring: Keyring, now: datetime) -> Keyring:
        current, *older = [self._stored_as_due(key) for key in ring.keys]
        kept = [key for key in older if not self._expired(key, now)]
        if now - current.created_at >= self._rotation:
            return Keyring(
                keys=[self._new_key(now), current.model_copy(update={"retired_at": now}), *kept]
            )
        return Keyring(keys=[current, *kept])

    def _stored_as_due(self, key: StoredKey) -> StoredKey:
        """`key`, checked to open, then encrypted (or re-encrypted) with the first key."""
        private_key = self._open(key)
        if self._secret is None or (
            key.encrypted_private_key is not None
            and self._secret.encrypted_with_first(key.encrypted_private_key)
        ):
            return key
        if key.private_key is not None:
            log.warning("encrypting signing key %s, stored in clear by an older version", key.kid)
        else:
            log.info("re-encrypting signing key %s with the first key of the secret", key.kid)
        return key.model_copy(
            update={
                "encrypted_private_key": self._secret.encrypt(_raw(private_key)),
                "private_key": None,
            }
        )

    def _open(self, key: StoredKey) -> Ed25519PrivateKey:
        """The private key of `key`, decrypted and checked against its kid (microseconds)."""
        try:
            private_key = Ed25519PrivateKey.from_private_bytes(self._decrypted(key))
        except ValueError:
            raise SigningKeysUnreadable(
                SIGNING_KEYS.base_name, key.kid, "not an Ed25519 private key"
            ) from None
        if _thumbprint(private_key) != key.kid:
            raise SigningKeysUnreadable(SIGNING_KEYS.base_name, key.kid, "stored under another kid")
        return private_key

    def _decrypted(self, key: StoredKey) -> bytes:
        if key.private_key is not None:
            return _unb64(key.private_key)  # ValueError when it is not base64url
        assert key.encrypted_private_key is not None
        if self._secret is None:
            raise SigningKeysUnreadable(
                SIGNING_KEYS.base_name,
                key.kid,
                "it is encrypted, and VIGIL_AUTH_SIGNING_KEY_SECRET_FILE is not set",
            )
        try:
            return self._secret.decrypt(key.encrypted_private_key)
        except InvalidToken:
            raise SigningKeysUnreadable(
                SIGNING_KEYS.base_name,
                key.kid,
                "no key of VIGIL_AUTH_SIGNING_KEY_SECRET_FILE decrypts it (a wrong or outdated "
                "file? restore the file it was encrypted with, or add that key back as a line)",
            ) from None

    def _new_key(self, now: datetime) -> StoredKey:
        private_key = Ed25519PrivateKey.generate()
        kid = _thumbprint(private_key)
        if self._secret is None:
            return StoredKey(kid=kid, private_key=_b64(_raw(private_key)), created_at=now)
        return StoredKey(
            kid=kid, encrypted_private_key=self._secret.encrypt(_raw(private_key)), created_at=now
        )

    def _expired(self, key: StoredKey, now: datetime) -> bool:
        return key.retired_at is not None and now - key.retired_at >= self._retention

    def _use(self, ring: Keyring) -> None:
        current = ring.keys[0]
        if self._active is None or self._active.kid != current.kid:
            self._active = ActiveKey(current.kid, self._open(current))
        self._ring = ring

    @staticmethod
    def _log_changes(before: Keyring, after: Keyring) -> None:
        if before.keys[0].kid != after.keys[0].kid:
            log.info("rotated signing key %s -> %s", before.keys[0].kid, after.keys[0].kid)
        dropped = {key.kid for key in before.keys} - {key.kid for key in after.keys}
        for kid in sorted(dropped):
            log.info("dropped retired signing key %s", kid)


def _raw(private_key: Ed25519PrivateKey) -> bytes:
    return private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def _public_jwk(private_key: Ed25519PrivateKey) -> dict[str, Any]:
    public = OKPAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    return {**public, "kid": _thumbprint(private_key), "alg": ALGORITHM, "use": "sig"}


def _thumbprint(private_key: Ed25519PrivateKey) -> str:
    """The RFC 7638 JWK thumbprint of the public key: a kid that names the key itself."""
    public = OKPAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    members = {name: public[name] for name in ("crv", "kty", "x")}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return _b64(hashlib.sha256(canonical).digest())


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
