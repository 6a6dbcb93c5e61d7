"""Durations and moments as typed on the command line: a duration is `90s`, `15m`,
`12h`, `30d` or a sum of them (`1h30m`); a moment is a duration ago (`10m`) or an
RFC 3339 time with its zone (`2026-05-01T12:00:00Z`)."""

import argparse
import re
from datetime import datetime, timedelta

from vigil.messages import utc_now

_DURATION = re.compile(r"(?:\d+[smhd])+")
_PART = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def duration(text: str) -> timedelta:
    """`90s`, `15m`, `12h`, `30d`, `1h30m` (an argparse type)."""
    if not _DURATION.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 30d, 12h, 15m or 90s")
    parts = (timedelta(**{_UNITS[unit]: int(count)}) for count, unit in _PART.findall(text))
    return sum(parts, timedelta())


def moment(text: str) -> datetime:
    """A duration ago (`10m`), or an RFC 3339 time with its zone (an argparse type)."""
    if _DURATION.fullmatch(text):
        return utc_now() - duration(text)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither a duration like 10m nor a time like 2026-05-01T12:00:00Z"
        ) from None
    if when.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs its time zone, e.g. Z or +02:00")
    return when
