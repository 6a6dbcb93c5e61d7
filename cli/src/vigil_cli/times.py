"""Durations and moments as typed on the command line: a duration is `90s`, `15m`,
`12h`, `30d` or a sum of them (`1h30m`); a moment is a duration ago (`10m`) or an
RFC 3339 time with its zone (`2026-05-01T12:00:00Z`)."""

import argparse
from datetime import datetime, timedelta

from vigil.durations import is_duration, parse_duration
from vigil.messages import utc_now


def duration(text: str) -> timedelta:
    """`90s`, `15m`, `12h`, `30d`, `1h30m` (an argparse type)."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def moment(text: str) -> datetime:
    """A duration ago (`10m`), or an RFC 3339 time with its zone (an argparse type)."""
    if is_duration(text):
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
