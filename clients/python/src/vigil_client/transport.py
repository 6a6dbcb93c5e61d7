"""What every transport (WebSocket, SSE, polling) offers the client, and how one ends.

A transport carries the client's subscriptions over one kind of connection until that
connection ends; `run` then raises `Disconnected`, which says how (a close code, and
whether the gateway or a proxy refused this kind of connection: the client falls
back to the next kind after repeated refusals). The client makes a new transport for
each attempt.
"""

from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Any, Protocol

import httpx

from vigil.messages import Ask, ErrorCode
from vigil_client.api import refusal
from vigil_client.errors import AuthenticationFailed
from vigil_client.subscription import Subscription


class TransportKind(StrEnum):
    WEBSOCKET = "websocket"
    SSE = "sse"
    POLLING = "polling"


class Disconnected(Exception):
    """A transport's connection ended (or never opened)."""

    def __init__(
        self,
        reason: str,
        *,
        code: int | None = None,
        refused: bool = False,
        said: str = "",
        retry_after_s: float | None = None,
    ) -> None:
        self.reason = reason
        self.code = code
        self.refused = refused
        """The gateway (or a proxy) answered but refused this kind of connection."""
        self.said = said
        """The gateway's own words with the close code, if any."""
        self.retry_after_s = retry_after_s
        """When to connect again, if the gateway said (else the client's backoff)."""
        super().__init__(f"{reason} (code {code})" if code else reason)


CHANNEL_REFUSALS = {
    ErrorCode.NOT_FOUND,
    ErrorCode.FORBIDDEN,
    ErrorCode.INVALID_MESSAGE,
    ErrorCode.LIMIT_REACHED,
}
"""Refusals of one subscription for good: it ends, the others go on."""
BUSY = {ErrorCode.UNAVAILABLE, ErrorCode.TIMEOUT}
"""Refusals that pass by themselves: told, then tried again after the backoff."""
GATEWAY_CODES = frozenset(ErrorCode)
"""A refusal with another code is not the gateway's (a proxy's)."""


def refused_by(answer: httpx.Response) -> Exception:
    """The gateway's refusal (any code of the protocol) stays a refusal, for the
    transport to act on; anything else (a proxy's 403 or 502) refuses this kind of
    connection."""
    error = refusal(answer)
    if isinstance(error, AuthenticationFailed) or error.code in GATEWAY_CODES:
        return error
    return Disconnected(f"event streams refused: HTTP {answer.status_code}", refused=True)


AnswerQuestion = Callable[[Ask], Awaitable[dict[str, Any] | None]]


class Link(Protocol):
    """The client as its transport sees it."""

    def subscriptions(self) -> list[Subscription]: ...

    def refused(self, subscription: Subscription, error: Exception) -> None:
        """The gateway refused a subscription for good: it ends with `error`."""
        ...

    async def answer(self, ask: Ask) -> dict[str, Any] | None:
        """The caller's answer to a question, or None to leave it unanswered."""
        ...


class Transport(Protocol):
    kind: TransportKind

    async def run(self, opened: Callable[[], None]) -> None:
        """Connect, subscribe everything, deliver, until the connection ends: then raise
        `Disconnected`. Calls `opened` once the connection works."""
        ...

    def add(self, subscription: Subscription) -> None:
        """A new subscription while running."""
        ...

    def remove(self, subscription: Subscription) -> None:
        """A subscription the caller closed."""
        ...

    def reauth(self, token: str) -> None:
        """A fresh access token for the open connection (where it can take one)."""
        ...

    def resync(self, subscription: Subscription) -> None:
        """A fresh snapshot for a delta subscription that missed a value."""
        ...
