"""Whether a handshake gets a socket: the page it comes from, the gateway's own
limits, then the credentials.

A refused handshake is accepted only to be closed with a code and a reason the client
can act on: 1012 (draining: reconnect elsewhere), 1013 (handshakes too fast, gateway
full, or credentials cannot be checked now: try later), 1008 (a page of a foreign
origin, no credentials, or too many sockets for this user), 4001 (invalid, expired or
revoked credentials).

The origin check stops cross-site WebSocket hijacking: a browser sends the Origin of
the page that opens a socket, and a page of another site must not use a visitor's
credentials (an API key in its storage, a token in a URL) to read their streams.
"""

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from vigil.access import Principal
from vigil.messages import CloseCode, ErrorCode
from vigil_gateway.access.credentials import Credentials
from vigil_gateway.errors import AuthUnavailable, InvalidCredentials, MissingCredentials
from vigil_gateway.session.registry import Registry
from vigil_gateway.settings import GatewaySettings

Authenticate = Callable[[Credentials], Awaitable[Principal]]


@dataclass(frozen=True)
class Refusal:
    code: CloseCode  # for a WebSocket
    reason: str
    error: ErrorCode  # for HTTP (SSE): the status it maps to


class HandshakeRate:
    """A token bucket: `per_s` handshakes a second, bursts up to one second's worth."""

    def __init__(self, per_s: float) -> None:
        self._per_s = per_s
        self._capacity = max(1.0, per_s)
        self._tokens = self._capacity
        self._at = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self._capacity, self._tokens + (now - self._at) * self._per_s)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


class Admission:
    def __init__(
        self, settings: GatewaySettings, registry: Registry, authenticate: Authenticate
    ) -> None:
        self._settings = settings
        self._registry = registry
        self._authenticate = authenticate
        self._rate = HandshakeRate(settings.max_handshakes_per_s)
        self.draining = False

    async def decide(
        self, credentials: Credentials, origin: str | None = None, host: str | None = None
    ) -> Principal | Refusal:
        """For a WebSocket, `origin` and `host` are its handshake's headers."""
        settings = self._settings
        if origin is not None and not self._origin_allowed(origin, host):
            return Refusal(
                CloseCode.POLICY_VIOLATION,
                f"pages of {origin[:80]} may not open sockets here (allowed_origins)",
                ErrorCode.FORBIDDEN,
            )
        if self.draining:
            return Refusal(
                CloseCode.RESTARTING,
                "this gateway is restarting; reconnect elsewhere",
                ErrorCode.UNAVAILABLE,
            )
        if not self._rate.take():
            return Refusal(
                CloseCode.TRY_LATER,
                "too many connection attempts; try again shortly",
                ErrorCode.RATE_LIMITED,
            )
        if len(self._registry) >= settings.max_connections:
            return Refusal(
                CloseCode.TRY_LATER,
                f"this gateway holds its maximum of {settings.max_connections} sockets; try later",
                ErrorCode.UNAVAILABLE,
            )
        try:
            principal = await self._authenticate(credentials)
        except MissingCredentials as exc:
            return Refusal(CloseCode.NO_CREDENTIALS, str(exc), ErrorCode.INVALID_CREDENTIALS)
        except InvalidCredentials as exc:
            return Refusal(CloseCode.INVALID_CREDENTIALS, exc.reason, ErrorCode.INVALID_CREDENTIALS)
        except AuthUnavailable as exc:
            return Refusal(
                CloseCode.TRY_LATER,
                f"credentials cannot be checked now: {exc.reason}",
                ErrorCode.UNAVAILABLE,
            )
        held = len(self._registry.of(principal.token))
        if not settings.single_session_per_user and held >= settings.max_connections_per_user:
            return Refusal(
                CloseCode.POLICY_VIOLATION,
                f"{principal.name} already holds {held} sockets here, the most allowed",
                ErrorCode.LIMIT_REACHED,
            )
        return principal

    def _origin_allowed(self, origin: str, host: str | None) -> bool:
        allowed = self._settings.allowed_origins
        if "*" in allowed or origin.rstrip("/") in allowed:
            return True
        # The gateway's own pages (the dashboard it serves, perhaps behind a proxy that
        # changes the port): the same host name.
        return host is not None and urlsplit(origin).hostname == urlsplit(f"//{host}").hostname
