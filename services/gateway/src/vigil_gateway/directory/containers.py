"""The containers every collector has announced, for finding one by id or name.

The directory follows the last status of every container (`status.docker.*.*`) and
the last stats batch of every host (`metrics.docker.*`) from JetStream, then live.
`find` turns what a client typed — a short or full id, a name, or a unique prefix of
either — into the container's host and short id, or refuses: NOT_FOUND when nothing
fits, INVALID_MESSAGE when a prefix fits several. `select` gives the live containers
a selector picks (a label, a name pattern), and listeners hear of every change, so a
merged view follows containers as they come and go. It holds nothing another replica
would need: every replica builds the same one from the stream.
"""

import functools
import string
from dataclasses import dataclass

import re2

from vigil.bus import Bus
from vigil.messages import (
    ContainerState,
    ContainerStatusChanged,
    DockerStatsSampled,
    ErrorCode,
)
from vigil.subjects import ANY
from vigil_gateway.directory.latest import Directory, Follow
from vigil_gateway.errors import ChannelRefused
from vigil_gateway.filters.patterns import compile_glob

_SHORT_ID = 12


LIVE = frozenset({ContainerState.RUNNING, ContainerState.RESTARTING, ContainerState.PAUSED})


@dataclass(frozen=True)
class Container:
    host: str
    id: str
    name: str


@dataclass(frozen=True)
class Selector:
    """Which containers a merged view shows: those with the label (`key` or
    `key=value`), whose name fits the pattern (a glob), on the host, as given."""

    label: str | None = None
    name: str | None = None
    host: str | None = None

    @functools.cached_property
    def _name(self) -> "re2._Regexp[str] | None":
        # on RE2, as every client pattern (fnmatch would also cache each one it saw)
        return None if self.name is None else compile_glob(self.name)

    def picks(self, status: ContainerStatusChanged) -> bool:
        if self.host is not None and status.host != self.host:
            return False
        if self._name is not None and self._name.fullmatch(status.name) is None:
            return False
        if self.label is not None:
            key, has_value, value = self.label.partition("=")
            if key not in status.labels or (has_value and status.labels[key] != value):
                return False
        return True


class ContainerDirectory(Directory):
    def __init__(self, bus: Bus) -> None:
        super().__init__(bus)
        self._containers: dict[tuple[str, str], ContainerStatusChanged] = {}
        self._stats: dict[str, DockerStatsSampled] = {}

    def _follows(self) -> list[Follow]:
        subjects = self._bus.subjects
        return [
            Follow(subjects.docker_status(ANY, ANY), ContainerStatusChanged, self._on_status),
            Follow(subjects.docker_metrics(ANY), DockerStatsSampled, self._on_stats),
        ]

    # -- questions -------------------------------------------------------------------

    async def find(self, typed: str, host: str | None = None) -> Container:
        """The one container `typed` names (see the module's docstring)."""
        await self._latest.caught_up()
        live = [
            status
            for (on_host, _), status in self._containers.items()
            if host is None or on_host == host
        ]
        exact = [s for s in live if s.id == _short(typed) or s.name == typed]
        matches = exact or [s for s in live if s.id.startswith(typed) or s.name.startswith(typed)]
        where = f" on host {host!r}" if host else ""
        if not matches:
            raise ChannelRefused(ErrorCode.NOT_FOUND, f"no container {typed!r}{where}")
        if len(matches) > 1:
            names = ", ".join(sorted(f"{m.name} ({m.id})" for m in matches)[:5])
            raise ChannelRefused(
                ErrorCode.INVALID_MESSAGE, f"{typed!r} fits several containers: {names}"
            )
        found = matches[0]
        return Container(host=found.host, id=found.id, name=found.name)

    async def select(self, selector: Selector) -> list[Container]:
        """The live containers the selector picks, by host and name."""
        await self._latest.caught_up()
        picked = [s for s in self._containers.values() if s.status in LIVE and selector.picks(s)]
        return sorted(
            (Container(host=s.host, id=s.id, name=s.name) for s in picked),
            key=lambda c: (c.host, c.name),
        )

    def snapshots(self, host: str | None = None) -> list[DockerStatsSampled]:
        """The latest stats batch of each host (or of `host`)."""
        return [
            batch for name, batch in sorted(self._stats.items()) if host is None or name == host
        ]

    # -- the flow --------------------------------------------------------------------

    def _on_status(self, status: ContainerStatusChanged) -> None:
        key = (status.host, status.id)
        if status.status is ContainerState.REMOVED:
            self._containers.pop(key, None)
        else:
            self._containers[key] = status
        self._changed()

    def _on_stats(self, batch: DockerStatsSampled) -> None:
        self._stats[batch.host] = batch


def _short(typed: str) -> str:
    """A full 64-hex id as the short id the subjects use; anything else as it is."""
    if len(typed) > _SHORT_ID and all(c in string.hexdigits for c in typed):
        return typed[:_SHORT_ID]
    return typed
