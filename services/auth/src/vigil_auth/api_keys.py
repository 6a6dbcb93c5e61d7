"""API keys for scripts and machines, in the API_KEYS bucket.

A key reads `vk_<id>_<secret>`: the id is the record's KV key and is not secret (it is
listed, revoked and named in revocations); the secret is 32 random bytes, shown once
and stored only as its SHA-256. A fast hash is right here: the secret has 256 bits of
entropy, so nothing is gained by making each guess slow, and every verification would
pay for it.
"""

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from vigil.access import API_KEY_PREFIX, Permission, Principal, Role
from vigil.ctl import Refused
from vigil.errors import RevisionConflict
from vigil.messages import ApiKeyView, ErrorCode
from vigil.records import Records, Versioned
from vigil_auth.clock import Clock

_KEY = re.compile(rf"{API_KEY_PREFIX}([0-9a-f]{{16}})_([A-Za-z0-9_-]{{43}})", re.ASCII)
_KEY_ID = re.compile(r"[0-9a-f]{16}", re.ASCII)
_WRITE_ATTEMPTS = 5
_INVALID = "the API key is unknown, revoked or expired"


class ApiKeyRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    secret_sha256: str = Field(repr=False)
    role: Role
    clusters: list[str]
    permissions: list[Permission] = Field(default_factory=list)
    created_at: datetime
    created_by: str
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    def view(self) -> ApiKeyView:
        return ApiKeyView(
            id=self.id,
            name=self.name,
            role=self.role,
            clusters=self.clusters,
            permissions=self.permissions,
            created_at=self.created_at,
            created_by=self.created_by,
            expires_at=self.expires_at,
            last_used_at=self.last_used_at,
            revoked=self.revoked_at is not None,
        )

    def principal(self) -> Principal:
        return Principal(
            kind="api_key",
            id=self.id,
            name=self.name,
            roles=[self.role],
            clusters=self.clusters,
            permissions=self.permissions,
            expires_at=self.expires_at,
        )


class ApiKeys:
    def __init__(
        self,
        records: Records[ApiKeyRecord],
        clock: Clock,
        last_used_resolution: timedelta = timedelta(minutes=1),
    ) -> None:
        self._records = records
        self._clock = clock
        self._last_used_resolution = last_used_resolution

    async def create(
        self,
        name: str,
        role: Role,
        clusters: list[str],
        expires_at: datetime | None,
        created_by: str,
        permissions: Sequence[Permission] = (),
    ) -> tuple[ApiKeyRecord, str]:
        """A new key and its secret form (`vk_<id>_<secret>`), which is never stored."""
        if expires_at is not None:
            if expires_at.tzinfo is None:
                raise Refused(
                    ErrorCode.INVALID_MESSAGE,
                    "expires_at: needs a time zone, e.g. 2030-01-01T00:00:00Z",
                )
            if expires_at <= self._clock():
                raise Refused(ErrorCode.INVALID_MESSAGE, "expires_at: is in the past")
        secret = secrets.token_urlsafe(32)
        record = ApiKeyRecord(
            id=secrets.token_hex(8),
            name=name,
            secret_sha256=_digest(secret),
            role=role,
            clusters=list(dict.fromkeys(clusters)),
            permissions=sorted(set(permissions)),
            created_at=self._clock(),
            created_by=created_by,
            expires_at=expires_at,
        )
        await self._records.create(record.id, record)  # 64 random bits: a clash is a bug
        return record, f"{API_KEY_PREFIX}{record.id}_{secret}"

    async def verify(self, api_key: str) -> ApiKeyRecord:
        """The key's record if the key is valid now; `Refused(INVALID_CREDENTIALS)` if not.

        Every reason (malformed, unknown, wrong secret, revoked, expired) gets the same
        answer, so a caller learns nothing about which part was wrong.
        """
        match = _KEY.fullmatch(api_key)
        found = await self._records.get(match.group(1)) if match else None
        if (
            match is None
            or found is None
            or not hmac.compare_digest(found.value.secret_sha256, _digest(match.group(2)))
            or found.value.revoked_at is not None
            or (found.value.expires_at is not None and found.value.expires_at <= self._clock())
        ):
            raise Refused(ErrorCode.INVALID_CREDENTIALS, _INVALID)
        return await self._mark_used(found)

    async def all(self) -> list[ApiKeyRecord]:
        keys = [found.value for found in await self._records.all()]
        return sorted(keys, key=lambda key: key.created_at)

    async def revoke(self, key_id: str) -> ApiKeyRecord:
        """Mark the key revoked (it stays listed); `Refused(NOT_FOUND)` if there is none."""
        for _ in range(_WRITE_ATTEMPTS):
            found = await self._records.get(key_id) if _KEY_ID.fullmatch(key_id) else None
            if found is None:
                raise Refused(ErrorCode.NOT_FOUND, f"no API key {key_id!r}")
            if found.value.revoked_at is not None:
                return found.value
            revoked = found.value.model_copy(update={"revoked_at": self._clock()})
            try:
                await self._records.update(key_id, revoked, found.revision)
            except RevisionConflict:
                continue  # e.g. its last use was just recorded: look again
            return revoked
        raise Refused(ErrorCode.UNAVAILABLE, f"API key {key_id!r} keeps changing; try again")

    async def _mark_used(self, found: Versioned[ApiKeyRecord]) -> ApiKeyRecord:
        """Record the time of use, at most once per resolution (a write per use is waste)."""
        now = self._clock()
        last = found.value.last_used_at
        if last is not None and now - last < self._last_used_resolution:
            return found.value
        used = found.value.model_copy(update={"last_used_at": now})
        try:
            await self._records.update(found.key, used, found.revision)
        except RevisionConflict:
            return found.value  # another replica recorded a use (or a revocation) just now
        return used


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
