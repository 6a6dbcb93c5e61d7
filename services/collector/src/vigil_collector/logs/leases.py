"""Who holds a lease on which container's logs, and until when.

A gateway with watchers renews its lease every few seconds; a follower runs while any
holder's lease lives. Pure: the caller passes the time.
"""

from dataclasses import dataclass, field


@dataclass
class Leases:
    _until: dict[str, dict[str, float]] = field(default_factory=dict)  # container -> holder

    def renew(self, container: str, holder: str, lease_s: float, now: float) -> int:
        """Hold (or with `lease_s=0`, give up) `holder`'s lease; returns the live holders."""
        holders = self._until.setdefault(container, {})
        if lease_s > 0:
            holders[holder] = now + lease_s
        else:
            holders.pop(holder, None)
        self._prune(container, now)
        return len(self._until.get(container, {}))

    def held(self, container: str, now: float) -> bool:
        self._prune(container, now)
        return container in self._until

    def lapsed(self, now: float) -> list[str]:
        """Containers whose every lease has run out (forgotten from now on)."""
        gone = []
        for container in list(self._until):
            self._prune(container, now)
            if container not in self._until:
                gone.append(container)
        return gone

    def _prune(self, container: str, now: float) -> None:
        holders = self._until.get(container)
        if holders is None:
            return
        for holder in [h for h, until in holders.items() if until <= now]:
            del holders[holder]
        if not holders:
            del self._until[container]
