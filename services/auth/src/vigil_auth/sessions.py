"""Sessions: what a refresh token stands for, in the SESSIONS bucket.

A refresh token reads `<session_id>.<secret>` and is single-use: each refresh replaces
the secret. The record keeps only SHA-256 digests, of the current secret and of the
recent previous ones, so a token that was already exchanged is recognised when it
comes back. That is reuse — a retry or a thief — and it ends the whole session
(`RefreshTokenReused`). A session lasts `lifetime` from login; refreshing does not
extend it.
"""

import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from vigil.ctl import Refused
from vigil.errors import RevisionConflict
from vigil.messages import ErrorCode
from vigil.records import Records
from vigil_auth.clock import Clock
from vigil_auth.errors import RefreshTokenReused
from vigil_auth.users import UserRecord

_SESSION_ID = re.compile(r"[0-9a-f]{32}", re.ASCII)
_KEPT_PREVIOUS = 256  # older reused secrets are no longer recognised (merely invalid)
_ROTATE_ATTEMPTS = 3
_INVALID = "the refresh token is invalid, expired or revoked"


class SessionRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    user_id: str
    username: str
    secret_sha256: str = Field(repr=False)
    previous_sha256: list[str] = Field(default_factory=list, repr=False)
    client: str = ""
    created_at: datetime
    expires_at: datetime
    refreshed_at: datetime | None = None


def is_session_id(value: str) -> bool:
    return _SESSION_ID.fullmatch(value) is not None


class Sessions:
    def __init__(self, records: Records[SessionRecord], clock: Clock, lifetime: timedelta) -> None:
        self._records = records
        self._clock = clock
        self._lifetime = lifetime

    async def start(self, user: UserRecord, client: str) -> tuple[SessionRecord, str]:
        """A new session for `user` and its first refresh token."""
        now = self._clock()
        secret = secrets.token_urlsafe(32)
        session = SessionRecord(
            id=secrets.token_hex(16),
            user_id=user.id,
            username=user.username,
            secret_sha256=_digest(secret),
            client=client,
            created_at=now,
            expires_at=now + self._lifetime,
        )
        await self._records.create(session.id, session)  # 128 random bits: a clash is a bug
        return session, f"{session.id}.{secret}"

    async def rotate(self, refresh_token: str) -> tuple[SessionRecord, str]:
        """Exchange a refresh token for the next one.

        Raises `Refused(INVALID_CREDENTIALS)` for an unknown, malformed or expired token,
        and `RefreshTokenReused` (after deleting the session) for one already exchanged.
        """
        session_id, _, secret = refresh_token.partition(".")
        if not is_session_id(session_id) or not secret:
            raise Refused(ErrorCode.INVALID_CREDENTIALS, _INVALID)
        digest = _digest(secret)
        for _ in range(_ROTATE_ATTEMPTS):
            found = await self._records.get(session_id)
            if found is None:
                raise Refused(ErrorCode.INVALID_CREDENTIALS, _INVALID)
            session = found.value
            now = self._clock()
            if session.expires_at <= now:
                await self._records.delete(session_id)
                raise Refused(ErrorCode.INVALID_CREDENTIALS, _INVALID)
            if any(hmac.compare_digest(digest, old) for old in session.previous_sha256):
                await self._records.delete(session_id)
                raise RefreshTokenReused(session_id, session.user_id)
            if not hmac.compare_digest(digest, session.secret_sha256):
                # Never issued for this session: a guess, not a reuse. Ending the session
                # here would let anyone who read a `sid` claim log its owner out.
                raise Refused(ErrorCode.INVALID_CREDENTIALS, _INVALID)
            next_secret = secrets.token_urlsafe(32)
            rotated = session.model_copy(
                update={
                    "secret_sha256": _digest(next_secret),
                    "previous_sha256": [digest, *session.previous_sha256][:_KEPT_PREVIOUS],
                    "refreshed_at": now,
                }
            )
            try:
                await self._records.update(session_id, rotated, found.revision)
            except RevisionConflict:
                continue  # a concurrent refresh won: reading again finds this one reused
            return rotated, f"{session_id}.{next_secret}"
        raise Refused(ErrorCode.INVALID_CREDENTIALS, _INVALID)

    async def of_user(self, user_id: str) -> list[SessionRecord]:
        return [
            found.value for found in await self._records.all() if found.value.user_id == user_id
        ]

    async def end(self, session_id: str) -> None:
        """Forget the session (nothing happens if there is none)."""
        if not is_session_id(session_id):
            raise Refused(ErrorCode.INVALID_MESSAGE, "session_id: not a session id")
        if await self._records.get(session_id) is not None:
            await self._records.delete(session_id)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
