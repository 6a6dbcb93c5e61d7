"""What every part of the protocol shares: error and close codes, time, optional fields."""

from datetime import UTC, datetime
from enum import IntEnum, StrEnum
from typing import Any

from pydantic import Field


def utc_now() -> datetime:
    return datetime.now(UTC)


class ErrorCode(StrEnum):
    INVALID_MESSAGE = "INVALID_MESSAGE"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    RATE_LIMITED = "RATE_LIMITED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    LIMIT_REACHED = "LIMIT_REACHED"
    TIMEOUT = "TIMEOUT"
    UNAVAILABLE = "UNAVAILABLE"


ERROR_MEANINGS = {
    ErrorCode.INVALID_MESSAGE: "the message, a parameter or a name is not valid; the text says why",
    ErrorCode.INVALID_CREDENTIALS: "no credentials, or invalid, expired or revoked ones",
    ErrorCode.RATE_LIMITED: "too many requests at once; `retry_after_s` says when to try again",
    ErrorCode.FORBIDDEN: "the role or cluster grants do not allow it",
    ErrorCode.NOT_FOUND: "no such channel, deploy, question or subscription",
    ErrorCode.CONFLICT: "it clashes with something in progress (a deploy of that service)",
    ErrorCode.LIMIT_REACHED: "a limit (subscriptions, sockets per user) is reached",
    ErrorCode.TIMEOUT: "no answer in time",
    ErrorCode.UNAVAILABLE: (
        "the bus or a service is away, or a channel's history comes late; it comes back by itself"
    ),
}


class CloseCode(IntEnum):
    NORMAL = 1000
    GOING_AWAY = 1001
    NO_CREDENTIALS = 1008
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    RESTARTING = 1012
    TRY_LATER = 1013
    INVALID_CREDENTIALS = 4001
    HEARTBEAT_TIMEOUT = 4003
    REPLACED = 4004
    TOO_SLOW = 4008


def omitted_when_none(description: str | None = None, **options: Any) -> Any:
    """An optional field that is left out of the JSON when unset."""
    return Field(
        default=None, exclude_if=lambda value: value is None, description=description, **options
    )


CLOSE_MEANINGS = {
    CloseCode.NORMAL: "closed normally",
    CloseCode.GOING_AWAY: "the client or the server went away",
    CloseCode.POLICY_VIOLATION: "no credentials, too many sockets for the user, or a bad path",
    CloseCode.MESSAGE_TOO_BIG: "a message over the inbound size limit",
    CloseCode.INTERNAL_ERROR: "the gateway failed; reconnect",
    CloseCode.RESTARTING: "the gateway is draining: reconnect (elsewhere) after a short wait",
    CloseCode.TRY_LATER: "full, handshakes too fast, or credentials not checkable now: retry",
    CloseCode.INVALID_CREDENTIALS: "the token expired or was revoked: refresh it or log in",
    CloseCode.HEARTBEAT_TIMEOUT: "pings went unanswered",
    CloseCode.REPLACED: "a newer session of the same user took over",
    CloseCode.TOO_SLOW: "too slow for a journal: reconnect and resume from the last cursor",
}
