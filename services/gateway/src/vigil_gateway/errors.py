"""Errors of the gateway.

GatewayError               root
├── InvalidCredentials     a token or key that does not prove who the client is (4001 / 401)
├── MissingCredentials     no token or key at all (1008 / 401)
├── Forbidden              a known principal asked for what its role or grant does not allow
├── AuthUnavailable        credentials cannot be checked now (auth or NATS away)
└── ChannelRefused         a channel refused, with the code to answer: a name or filter that
                           is not valid, a grant that does not cover it, a target (a
                           container, a deploy) unknown or ambiguous, a limit reached
"""

from vigil.messages import ErrorCode


class GatewayError(Exception):
    """Root of the gateway's exceptions."""


class InvalidCredentials(GatewayError):
    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class MissingCredentials(GatewayError):
    def __init__(self) -> None:
        super().__init__("no credentials: send a token or an API key")


class Forbidden(GatewayError):
    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class AuthUnavailable(GatewayError):
    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class ChannelRefused(GatewayError):
    """A channel refused, and the code every transport answers with
    (`delivery.channel_admission`): an unknown channel or target (NOT_FOUND), a name,
    filter or name prefix that does not fit (INVALID_MESSAGE), a grant that does not
    cover it (FORBIDDEN), a limit reached (LIMIT_REACHED)."""

    def __init__(self, code: ErrorCode, reason: str) -> None:
        self.code = code
        self.reason = reason
        super().__init__(reason)
