"""Errors of the auth service.

A request that is refused travels back as `vigil.ctl.Refused` (with an `ErrorCode`);
these are the service's own, raised inside and turned into a reply by the handlers.

AuthError                  root of the service's exceptions
├── RevisionConflict       a revision-checked write to a KV bucket lost a race
└── RefreshTokenReused     an already rotated refresh token came back: the session is ended
"""


class AuthError(Exception):
    """Root of the auth service's exceptions."""


class RevisionConflict(AuthError):
    """Someone else wrote `key` since we read it (or created it first)."""

    def __init__(self, bucket: str, key: str) -> None:
        self.bucket = bucket
        self.key = key
        super().__init__(f"{bucket}/{key} was changed by someone else")


class RefreshTokenReused(AuthError):
    """A refresh token that was already exchanged was presented again.

    Either the client retried or the token was stolen; both end the session.
    """

    def __init__(self, session_id: str, user_id: str) -> None:
        self.session_id = session_id
        self.user_id = user_id
        super().__init__(f"refresh token of session {session_id} reused")
