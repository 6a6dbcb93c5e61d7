"""Errors of the auth service.

A request that is refused travels back as `vigil.ctl.Refused` (with an `ErrorCode`);
these are the service's own, raised inside and turned into a reply by the handlers
(a lost race on a KV record is the shared library's `vigil.errors.RevisionConflict`).

AuthError                  root of the service's exceptions
└── RefreshTokenReused     an already rotated refresh token came back: the session is ended
"""


class AuthError(Exception):
    """Root of the auth service's exceptions."""


class RefreshTokenReused(AuthError):
    """A refresh token that was already exchanged was presented again.

    Either the client retried or the token was stolen; both end the session.
    """

    def __init__(self, session_id: str, user_id: str) -> None:
        self.session_id = session_id
        self.user_id = user_id
        super().__init__(f"refresh token of session {session_id} reused")
