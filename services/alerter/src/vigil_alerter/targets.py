"""What the alerter knows of each container and pod between samples: its identity (for
matching rules) and its recent status (for status rules), kept from status messages."""

from collections import deque
from dataclasses import dataclass, field

from vigil.messages import ContainerState, ContainerStatusChanged, PodStatusChanged

_RESTARTS_KEPT = 1000  # the longest restart loop a rule may ask for


@dataclass(slots=True)
class ContainerFacts:
    host: str
    id: str
    name: str
    labels: dict[str, str] = field(default_factory=dict)
    running: bool = True
    exited_nonzero: bool = False
    oom_killed: bool = False
    unhealthy: bool = False
    restarts: deque[float] = field(default_factory=lambda: deque(maxlen=_RESTARTS_KEPT))
    exit_code: int | None = None

    @property
    def key(self) -> str:
        return f"docker:{self.host}:{self.id}"

    def identity(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        return self.name, tuple(sorted(self.labels.items()))

    def observe(self, status: ContainerStatusChanged, now: float) -> None:
        """Take a status change in: exited non-zero and OOM-killed hold until it runs
        again, a restart is counted at each `die` (the snapshot of a collector's start
        counts none)."""
        self.name = status.name
        self.labels = status.labels
        self.running = status.status is ContainerState.RUNNING
        if status.event == "oom":
            self.oom_killed = True
        if status.event == "die":
            self.restarts.append(now)
        if status.status in (ContainerState.EXITED, ContainerState.DEAD):
            self.exit_code = status.exit_code
            self.exited_nonzero = status.exit_code not in (None, 0)
        if self.running and status.event in ("start", "restart", "unpause", "snapshot"):
            self.exited_nonzero = self.oom_killed = False
        self.unhealthy = status.health == "unhealthy"


@dataclass(slots=True)
class PodFacts:
    cluster: str
    namespace: str
    name: str
    labels: dict[str, str] = field(default_factory=dict)
    owner_kind: str | None = None
    owner_name: str | None = None
    exited_nonzero: bool = False
    oom_killed: bool = False
    crash_loop: bool = False
    restart_count: int | None = None
    restarts: deque[float] = field(default_factory=lambda: deque(maxlen=_RESTARTS_KEPT))

    @property
    def key(self) -> str:
        return f"pod:{self.cluster}:{self.namespace}/{self.name}"

    def identity(self) -> tuple[object, ...]:
        return (self.owner_kind, self.owner_name, tuple(sorted(self.labels.items())))

    def observe(self, status: PodStatusChanged, now: float) -> None:
        self.labels = status.labels
        if status.owner is not None:
            self.owner_kind, self.owner_name = status.owner.kind, status.owner.name
        if self.restart_count is not None and status.restarts > self.restart_count:
            self.restarts.extend([now] * min(status.restarts - self.restart_count, 100))
        self.restart_count = status.restarts
        waiting = [c for c in status.containers if c.state == "waiting"]
        terminated = [c for c in status.containers if c.state == "terminated"]
        self.crash_loop = any(c.reason == "CrashLoopBackOff" for c in waiting)
        self.oom_killed = any(c.reason == "OOMKilled" for c in terminated) or (
            self.crash_loop and self.oom_killed
        )
        self.exited_nonzero = any(c.exit_code not in (None, 0) for c in terminated) or (
            status.phase == "Failed"
        )


def restarts_within(restarts: deque[float], window_s: float, now: float) -> int:
    """How many of the restarts (times, oldest first) fall within the last `window_s`."""
    count = 0
    for when in reversed(restarts):
        if now - when > window_s:
            break
        count += 1
    return count
