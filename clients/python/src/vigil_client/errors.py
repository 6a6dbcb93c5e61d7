"""Errors of the Vigil client.

ClientError                 root of everything the client raises
├── Refused                 the gateway said no (an `error` frame or an HTTP refusal)
│   ├── AuthenticationFailed  credentials missing, invalid, expired or revoked (4001, 401)
│   └── ConnectionRefused   the socket itself refused at its handshake (1008)
├── Unreachable             the gateway could not be reached, or broke off
└── SessionEnded            the gateway ended this client for good (4004: replaced)
"""

from vigil.messages import ErrorCode


class ClientError(Exception):
    """Root of the client's exceptions; the message is what a user reads."""


class Refused(ClientError):
    """The gateway refused a request: `code` is the protocol's error code;
    `retry_after_s`, where the gateway gave one, when the same request may pass."""

    def __init__(
        self,
        code: ErrorCode | str,
        message: str,
        *,
        channel: str | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        self.code = code
        self.message = message
        self.channel = channel
        self.retry_after_s = retry_after_s
        where = f" ({channel})" if channel else ""
        super().__init__(f"{message}{where} [{code}]")


class AuthenticationFailed(Refused):
    """The credentials were refused and could not be refreshed: log in again."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.INVALID_CREDENTIALS, message)


class ConnectionRefused(Refused):
    """The gateway closed the socket at its handshake with 1008 (no credentials, too many
    sockets for this user, a page of a foreign origin): trying again would be refused
    again. `code` is the close code, `message` the gateway's reason."""

    def __init__(self, close_code: int, reason: str) -> None:
        self.close_code = close_code
        super().__init__(str(close_code), reason)


class Unreachable(ClientError):
    """The gateway did not answer at `url`, or the connection broke."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"cannot reach the gateway at {url}: {reason}")


class SessionEnded(ClientError):
    """The gateway closed the client in a way that forbids reconnecting (`code`)."""

    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason
        super().__init__(f"the gateway ended the session ({code}): {reason}")
