"""Durations as people type them: `90s`, `15m`, `12h`, `30d`, or a sum (`1h30m`); read
the same by the CLI (`--since 1h`) and the gateway (`?since=1h`)."""

import re
from datetime import timedelta

_DURATION = re.compile(r"(?:\d{1,9}[smhd])+")
_PART = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def is_duration(text: str) -> bool:
    return _DURATION.fullmatch(text) is not None


def parse_duration(text: str) -> timedelta:
    """`text` as a duration; ValueError naming the form expected."""
    if not is_duration(text):
        raise ValueError(f"{text!r} is not a duration like 30d, 12h, 15m or 90s")
    parts = (timedelta(**{_UNITS[unit]: int(count)}) for count, unit in _PART.findall(text))
    try:
        return sum(parts, timedelta())
    except OverflowError:
        raise ValueError(f"{text!r} is longer than any duration this reads") from None
