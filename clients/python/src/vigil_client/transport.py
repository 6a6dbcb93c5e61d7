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

    def __init__(self, reason: str, *, code: int | None = None, refused: bool = False) -> None:
        self.reason = reason
        self.code = code
        self.refused = refused
        """The gateway (or a proxy) answered but refused this kind of connection."""
        super().__init__(f"{reason} (code {code})" if code else reason)


CHANNEL_REFUSALS = {ErrorCode.NOT_FOUND, ErrorCode.FORBIDDEN, ErrorCode.INVALID_MESSAGE}
BUSY = {ErrorCode.UNAVAILABLE, ErrorCode.RATE_LIMITED, ErrorCode.LIMIT_REACHED}


def refused_by(answer: httpx.Response) -> Exception:
    """The gateway's refusal of a channel or of the credentials stays a refusal; a
    gateway that is busy or cut off from the bus is a plain disconnect; anything else
    (a proxy's 403 or 502) refuses this kind of connection."""
    error = refusal(answer)
    if error.code in CHANNEL_REFUSALS or isinstance(error, AuthenticationFailed):
        return error
    if error.code in BUSY:
        return Disconnected(str(error))
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
