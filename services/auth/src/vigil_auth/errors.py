"""Errors of the auth service.

A request that is refused travels back as `vigil.ctl.Refused` (with an `ErrorCode`);
these are the service's own, raised inside and turned into a reply by the handlers
(a lost race on a KV record is the shared library's `vigil.errors.RevisionConflict`).
The last two stop a start: the service exits naming the file or the bucket.

AuthError                  root of the service's exceptions
├── HashesBusy             a password hash could not finish in time: refused before it starts
├── RefreshTokenReused     an already rotated refresh token came back: the session is ended
├── SecretFileInvalid      the signing-key secret file is missing, unreadable or holds no key
└── SigningKeysUnreadable  the stored signing keys cannot be decrypted with the secret given
"""

import math
from pathlib import Path


class AuthError(Exception):
    """Root of the auth service's exceptions."""


class HashesBusy(AuthError):
    """Too many password hashes wait for a new one to finish before its caller gives up
    (`vigil_auth.hash_queue`); nothing was done, and `retry_after_s` says when to come back."""

    def __init__(self, queued: int, retry_after_s: float) -> None:
        self.queued = queued
        self.retry_after_s = retry_after_s
        super().__init__(
            f"the auth service is busy: {queued} password hashes are running or waiting;"
            f" nothing was done, retry in {math.ceil(retry_after_s)} s"
        )


class RefreshTokenReused(AuthError):
    """A refresh token that was already exchanged was presented again.

    Either the client retried or the token was stolen; both end the session.
    """

    def __init__(self, session_id: str, user_id: str) -> None:
        self.session_id = session_id
        self.user_id = user_id
        super().__init__(f"refresh token of session {session_id} reused")


class SecretFileInvalid(AuthError):
    """VIGIL_AUTH_SIGNING_KEY_SECRET_FILE cannot be used; `reason` says why (never its text)."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"VIGIL_AUTH_SIGNING_KEY_SECRET_FILE {path}: {reason}")


class SigningKeysUnreadable(AuthError):
    """A signing key in the bucket opens with no configured key; nothing is overwritten.

    Starting a new ring instead would log every user out and hide a lost or wrong
    secret file, so the service refuses to start (and a running one keeps its keys).
    """

    def __init__(self, bucket: str, kid: str, reason: str) -> None:
        self.bucket = bucket
        self.kid = kid
        self.reason = reason
        super().__init__(f"signing key {kid} in {bucket}: {reason}")
