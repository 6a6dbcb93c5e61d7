"""Which sources have their logs kept: the keep label (`logs_keep_label`), shared by
the retained containers (`docker.kept_logs`) and pods (`kubernetes.kept_pod_logs`)."""

from collections.abc import Mapping


class KeepLabel:
    """`key=value` (that value), `key` (any value) or empty (none by label)."""

    def __init__(self, setting: str) -> None:
        key, equals, value = setting.partition("=")
        self._key = key
        self._value = value if equals else None

    def on(self, labels: Mapping[str, str]) -> bool:
        key, value = self._key, self._value
        return bool(key) and key in labels and (value is None or labels[key] == value)
