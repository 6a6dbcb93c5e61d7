"""Which sources this replica evaluates: a source (`host:<host>`: its host and Docker
samples and container status; `k8s:<cluster>`: its pods; `gateway:<replica>`: a gateway
replica's samples of itself) belongs to one replica at a
time, by a lease in `ALERTER_SOURCES` (`vigil.leases`).

Every replica hears every sample (a core subscription: parsing the subject is all a
sample of another replica's source costs), and evaluates only those of its sources. A
rule's state (held since when, raised or not) is of one source, so one replica sees
every sample of it, in order — which a queue group, handing each sample to any
replica, would not give; and no rule is evaluated twice, so no alert is raised twice.
"""

import time

from vigil.leases import Leases


def source_of(tokens: list[str]) -> str | None:
    """The source of a `metrics.*`, `status.*`, `logs.*` or `gateway.sampled.*` subject
    (without its prefix)."""
    if len(tokens) < 3:
        return None
    if tokens[:2] == ["gateway", "sampled"]:
        return f"gateway:{tokens[2]}"
    match tokens[1]:
        case "host" | "docker":
            return f"host:{tokens[2]}"
        case "k8s":
            return f"k8s:{tokens[2]}"
    return None


class Sources:
    def __init__(self, leases: Leases, lease_s: float) -> None:
        self._leases = leases
        self._retry_s = lease_s / 3
        self.held: set[str] = set()
        self._tried: dict[str, float] = {}

    async def admit(self, source: str) -> bool | None:
        """True: this replica's, and was already; None: newly taken (its history must be
        read); False: another's (looked at again a third of a lease later)."""
        if source in self.held:
            return True
        now = time.monotonic()
        if now - self._tried.get(source, -self._retry_s) < self._retry_s:
            return False
        self._tried[source] = now
        if await self._leases.hold(source):
            self.held.add(source)
            return None
        return False

    async def renew(self) -> list[str]:
        """Renew every lease; the sources lost (another took them: this replica stalled)."""
        lost = []
        for source in list(self.held):
            if not await self._leases.hold(source):
                self.held.discard(source)
                self._leases.forget(source)
                lost.append(source)
        return lost

    async def release(self) -> None:
        for source in list(self.held):
            await self._leases.release(source)
        self.held.clear()
