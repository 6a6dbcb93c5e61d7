"""What a log line is made of, whichever engine sent it: its time stamp, parsed, and the
marker of a line cut at `logs_max_line_bytes`."""

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
