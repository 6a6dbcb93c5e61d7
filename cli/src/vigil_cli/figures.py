"""Numbers as a terminal shows them: bytes, rates, percents, times."""

from datetime import datetime

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def size(count: float) -> str:
    """`1536` -> `1.5KiB`."""
    value = float(count)
    for unit in _UNITS:
        if abs(value) < 1024 or unit == _UNITS[-1]:
            return f"{value:.0f}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def rate(per_s: float) -> str:
    return f"{size(per_s)}/s"


def percent(value: float) -> str:
    return f"{value:.1f}%"


def clock(when: datetime) -> str:
    """Local time of day, to the second."""
    return when.astimezone().strftime("%H:%M:%S")


def moment(when: datetime) -> str:
    return when.astimezone().strftime("%Y-%m-%d %H:%M:%S")
