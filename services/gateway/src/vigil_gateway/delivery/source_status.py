"""Where a collector says that its source stopped answering, for the state channels
that source feeds: their values are stale at once, not 3 intervals later.

The Docker source of a host publishes `DockerSourceChanged(available=False)` on
`status.docker.{host}` when its engine stops answering, and that host's stats
(`metrics.docker.{host}`) stop. A feed of `docker.stats` (or of its seed view) also
follows those subjects, and marks the host's stats stale with the collector's reason
as soon as it says so (`Staleness.source_down`). The engine coming back changes
nothing by itself: its next stats batch is `fresh`.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from vigil.channels import CHANNELS, ChannelKind, ChannelRef, Source
from vigil.messages import DockerSourceChanged
from vigil.model import Message
from vigil.subjects import ANY, Subjects


@dataclass(frozen=True)
class SourceStatus:
    """What to follow beside a channel's values, and what a status message says."""

    source: Callable[[Subjects, Mapping[str, str]], Source]
    values_subject: Callable[[Subjects, Message], str]
    """The subject of the values a status message speaks for."""
    down: Callable[[Message], str | None]
    """Why the source does not answer, or None if it does."""


def _docker_source(subjects: Subjects, params: Mapping[str, str]) -> Source:
    subject = subjects.docker_source(params.get("host", ANY))
    return Source(subject, ChannelKind.STATE, DockerSourceChanged)


def _docker_stats_subject(subjects: Subjects, message: Message) -> str:
    assert isinstance(message, DockerSourceChanged)
    return subjects.docker_metrics(message.host)


def _docker_down(message: Message) -> str | None:
    assert isinstance(message, DockerSourceChanged)
    if message.available:
        return None
    return f"the Docker engine does not answer: {message.reason or 'no reason given'}"


DOCKER = SourceStatus(_docker_source, _docker_stats_subject, _docker_down)

_BY_CHANNEL = {CHANNELS["docker.stats"].name: DOCKER, CHANNELS["docker_stats"].name: DOCKER}


def source_status_of(channel: ChannelRef) -> SourceStatus | None:
    return _BY_CHANNEL.get(channel.spec.name)
