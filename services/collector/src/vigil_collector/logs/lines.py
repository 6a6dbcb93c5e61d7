"""What a log line is made of, whichever engine sent it: its time stamp, parsed, and its
text, cut at `logs_max_line_bytes` with a marker."""

import re
from datetime import UTC, datetime

_EPOCH_DAY = datetime(1970, 1, 1).toordinal()
_EPOCH_DAY = datetime(1970, 1, 1).toordinal()
_STAMP = re.compile(rb"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d*))?Z?")


def parse_time(stamp: bytes) -> tuple[datetime, int]:
    """An RFC3339Nano stamp (Docker's, and the Kubernetes API's with `timestamps=true`) as
    a datetime (microseconds) and epoch nanoseconds. Read by its fields, not `strptime`
    (a tenth of the time: it runs once per line followed)."""
    found = _STAMP.fullmatch(stamp)
    if found is None:
        raise ValueError(f"not an RFC 3339 time: {stamp[:40]!r}")
    year, month, day, hour, minute, second, fraction = found.groups()
    base = datetime(
        int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=UTC
    )
    nanos = int((fraction or b"0").ljust(9, b"0")[:9])
    seconds = (base.toordinal() - _EPOCH_DAY) * 86400 + int(hour) * 3600 + int(minute) * 60
    return base.replace(microsecond=nanos // 1000), (seconds + int(second)) * 10**9 + nanos


def cut_marker(left_out: int) -> str:
    return f" …[line cut: {left_out} more bytes]"


def cut_text(body: bytes, max_line_bytes: int, left_out: int = 0) -> str:
    """A line's bytes as text (bad UTF-8 replaced), cut at `max_line_bytes` with a marker
    (`left_out`: bytes of it already dropped after `body`)."""
    text = body[:max_line_bytes].decode("utf-8", errors="replace")
    beyond = max(0, len(body) - max_line_bytes) + left_out
    return text + cut_marker(beyond) if beyond else text
