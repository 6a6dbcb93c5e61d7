"""Who holds a lease on which container's logs, and until when.

A gateway with watchers renews its lease every few seconds; a follower runs while any
holder's lease lives. Pure: the caller passes the time. A container is named by a key
of the caller's (Docker's: its name; a pod's: namespace, pod and container).
"""

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Key = TypeVar("Key", bound=Hashable)


@dataclass
class Leases(Generic[Key]):
    _until: dict[Key, dict[str, float]] = field(default_factory=dict)  # container -> holder

    def renew(self, container: Key, holder: str, lease_s: float, now: float) -> int:
        """Hold (or with `lease_s=0`, give up) `holder`'s lease; returns the live holders."""
        holders = self._until.setdefault(container, {})
        if lease_s > 0:
            holders[holder] = now + lease_s
        else:
            holders.pop(holder, None)
        self._prune(container, now)
        return len(self._until.get(container, {}))

    def held(self, container: Key, now: float) -> bool:
        self._prune(container, now)
        return container in self._until

    def lapsed(self, now: float) -> list[Key]:
        """Containers whose every lease has run out (forgotten from now on)."""
        gone = []
        for container in list(self._until):
            self._prune(container, now)
            if container not in self._until:
                gone.append(container)
        return gone

    def _prune(self, container: Key, now: float) -> None:
        holders = self._until.get(container)
        if holders is None:
            return
        for holder in [h for h, until in holders.items() if until <= now]:
            del holders[holder]
        if not holders:
            del self._until[container]
