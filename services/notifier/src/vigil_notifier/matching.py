"""Which channels a transition goes to: a channel's filter against the alert; and
whether a silence (or maintenance window) keeps it from every channel.

The globs run on RE2 (linear time, DESIGN rule 9), each compiled once.
"""

import re2

from vigil import patterns
from vigil.messages import AlertChanged, ChannelFilter, Silence
from vigil_notifier.errors import InvalidChannel


def compile_glob(glob: str) -> "re2._Regexp[str]":
    """`vigil.patterns.compile_glob`, or InvalidChannel saying why not."""
    try:
        return patterns.compile_glob(glob)
    except re2.error as exc:
        raise InvalidChannel("filter.alert_ids", f"not a usable glob: {exc}") from None


def matches(channel_filter: ChannelFilter, alert: AlertChanged) -> bool:
    if channel_filter.sources and alert.source not in channel_filter.sources:
        return False
    if channel_filter.states and alert.state not in channel_filter.states:
        return False
    return compile_glob(channel_filter.alert_ids).fullmatch(alert.id) is not None


def silenced_by(silence: Silence, alert: AlertChanged) -> bool:
    """Whether `silence` keeps `alert` quiet: the alert's time within its window, and
    every condition of its matcher holding."""
    if not silence.starts <= alert.time < silence.ends:
        return False
    matcher = silence.matcher
    if matcher.sources and alert.source not in matcher.sources:
        return False
    labels = alert.labels or {}
    if any(labels.get(key) != value for key, value in matcher.labels.items()):
        return False
    if compile_glob(matcher.hosts).fullmatch(alert.cluster or alert.host) is None:
        return False
    return compile_glob(matcher.alert_ids).fullmatch(alert.id) is not None
