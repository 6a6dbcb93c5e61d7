"""A syslog line's own time and severity, where it starts with them.

- RFC 5424: `<34>1 2026-12-06T19:55:10.003Z host app - - msg` (the `<PRI>` gives the
  severity: its value modulo 8);
- the ISO stamp rsyslog writes by default (`2026-12-06T19:55:10.123456+00:00 host
  prog: msg`), RFC 3339 with its zone;
- RFC 3164: `Dec  6 19:55:10 host prog: msg`, with neither a year nor a zone: this
  host's zone, and the year that puts it at most a day ahead of now (a line of
  December 31st read on January 1st is last year's).

A line that starts with none of them has no time of its own (its reader stamps it when
it reads it).
"""

import re
from datetime import datetime, timedelta

_PRI = re.compile(rb"<(\d{1,3})>(?:1 )?")
_ISO = re.compile(rb"(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:?\d\d)(?=\s)")
_BSD = re.compile(rb"([A-Z][a-z]{2}) ([ \d]?\d) (\d\d:\d\d:\d\d)(?=\s)")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_AHEAD = timedelta(days=1)


def syslog_stamp(line: bytes, now: datetime) -> tuple[datetime | None, int | None]:
    """The time `line` starts with (None: none, or not a valid one) and its syslog
    severity (0 emerg .. 7 debug; None without a `<PRI>`). `now` is aware, in this
    host's zone."""
    severity = None
    start = 0
    if pri := _PRI.match(line):
        value = int(pri.group(1))
        severity = value % 8 if value <= 191 else None
        start = pri.end()
    try:
        if iso := _ISO.match(line, start):
            return _iso(iso), severity
        if bsd := _BSD.match(line, start):
            return _bsd(bsd, now), severity
    except ValueError:  # looks like a stamp, is not a date (Feb 30)
        pass
    return None, severity


def _iso(match: re.Match[bytes]) -> datetime:
    day, clock, fraction, zone = (part.decode() if part else "" for part in match.groups())
    micros = fraction[:6].ljust(6, "0") if fraction else "000000"
    zone = "+00:00" if zone == "Z" else zone
    return datetime.fromisoformat(f"{day}T{clock}.{micros}{zone}")


def _bsd(match: re.Match[bytes], now: datetime) -> datetime:
    month_name, day, clock = (part.decode() for part in match.groups())
    if month_name not in _MONTHS:
        raise ValueError(month_name)
    hours, minutes, seconds = (int(part) for part in clock.split(":"))
    month = _MONTHS.index(month_name) + 1
    for year in (now.year + 1, now.year, now.year - 1):
        try:
            when = now.replace(
                year=year,
                month=month,
                day=int(day),
                hour=hours,
                minute=minutes,
                second=seconds,
                microsecond=0,
            )
        except ValueError:  # Feb 29 of a year without one
            continue
        if when <= now + _AHEAD:
            return when
    raise ValueError(match.group(0))
