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


def omitted_when_none() -> Any:
    """An optional field that is left out of the JSON when unset."""
    return Field(default=None, exclude_if=lambda value: value is None)
