"""What a log line is made of, whichever engine sent it: its time stamp, parsed, and its
text, cut at `logs_max_line_bytes` with a marker."""

from datetime import UTC, datetime


def parse_time(stamp: bytes) -> tuple[datetime, int]:
    """An RFC3339Nano stamp (Docker's, and the Kubernetes API's with `timestamps=true`) as
    a datetime (microseconds) and epoch nanoseconds."""
    text = stamp.decode("ascii").rstrip("Z")
    whole, _, fraction = text.partition(".")
    base = datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    nanos = int((fraction or "0").ljust(9, "0")[:9])
    return base.replace(microsecond=nanos // 1000), int(base.timestamp()) * 10**9 + nanos


def cut_marker(left_out: int) -> str:
    return f" …[line cut: {left_out} more bytes]"


def cut_text(body: bytes, max_line_bytes: int, left_out: int = 0) -> str:
    """A line's bytes as text (bad UTF-8 replaced), cut at `max_line_bytes` with a marker
    (`left_out`: bytes of it already dropped after `body`)."""
    text = body[:max_line_bytes].decode("utf-8", errors="replace")
    beyond = max(0, len(body) - max_line_bytes) + left_out
    return text + cut_marker(beyond) if beyond else text
