"""Which sources have their logs kept: the keep label (`logs_keep_label`), shared by
the retained containers (`docker.kept_logs`) and pods (`kubernetes.kept_pod_logs`), and
their lines as kept batches hold them."""

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from vigil.messages import LogLine


class KeepLabel:
    """`key=value` (that value), `key` (any value) or empty (none by label)."""

    def __init__(self, setting: str) -> None:
        key, equals, value = setting.partition("=")
        self._key = key
        self._value = value if equals else None

    def on(self, labels: Mapping[str, str]) -> bool:
        key, value = self._key, self._value
        return bool(key) and key in labels and (value is None or labels[key] == value)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def compact(lines: list[LogLine]) -> tuple[int, list[tuple[int, str]]]:
    """Lines as a kept batch holds them: the first one's time in epoch microseconds, and
    each line as its microseconds after that and its text (kept for days: compact)."""
    micros = [(line.time - _EPOCH) // _MICROSECOND for line in lines]
    return micros[0], [(at - micros[0], line.text) for at, line in zip(micros, lines, strict=True)]
