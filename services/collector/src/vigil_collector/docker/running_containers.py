"""The running containers of the engine, kept current by its events, not by listing.

The set starts from the snapshot the status flow lists anyway; then a `start`,
`restart` or `unpause` event adds the container (one inspect: its init pid, name,
image, network mode and CPU limit — so a limit changed by `docker update` is seen from
its next start), and `die`, `stop`, `pause` or `destroy` drops it, so a stats
cycle costs the engine nothing. Paused containers are left out, as `docker stats`
lists only running ones.
"""

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from vigil_collector.docker.engine import UNREACHABLE, describe, is_missing
from vigil_collector.errors import DockerUnavailable

_ADDS = frozenset({"start", "restart", "unpause"})
_DROPS = frozenset({"die", "stop", "pause", "destroy"})


@dataclass(frozen=True)
class RunningContainer:
    id: str  # the full id: cgroup folders are named by it
    name: str
    image: str
    pid: int  # its init process, in the engine's (the host's) pid namespace
    host_network: bool  # on the host's network namespace
    cpu_limit: float | None = None  # in CPUs; None when unlimited

    @property
    def short_id(self) -> str:
        return self.id[:12]


def inspect_running(api: Any, container_id: str) -> RunningContainer | None:
    """The container as it runs now, or None if it is not running (or gone). Blocks."""
    try:
        details: Mapping[str, Any] = api.inspect_container(container_id)
    except UNREACHABLE as exc:
        if is_missing(exc):
            return None
        raise DockerUnavailable(describe(exc)) from exc
    state = details.get("State") or {}
    if not state.get("Running") or state.get("Paused") or not state.get("Pid"):
        return None
    host_config = details.get("HostConfig") or {}
    mode = str(host_config.get("NetworkMode") or "")
    return RunningContainer(
        id=str(details["Id"]),
        name=str(details.get("Name") or container_id[:12]).lstrip("/"),
        image=str((details.get("Config") or {}).get("Image") or details.get("Image") or ""),
        pid=int(state["Pid"]),
        host_network=mode == "host",
        cpu_limit=cpu_limit(host_config),
    )


def cpu_limit(host_config: Mapping[str, Any]) -> float | None:
    """A container's CPU limit in CPUs, from its inspected `HostConfig`: `NanoCpus`
    (`--cpus`) or `CpuQuota` over `CpuPeriod` (`--cpu-quota`, default period 100 ms);
    None when it has neither."""
    nano = int(host_config.get("NanoCpus") or 0)
    if nano > 0:
        return nano / 1e9
    quota = int(host_config.get("CpuQuota") or 0)
    if quota > 0:
        return quota / (int(host_config.get("CpuPeriod") or 0) or 100_000)
    return None


class RunningContainers:
    """The running set, changed only on the event loop; `now()` is a copy for a cycle."""

    def __init__(self) -> None:
        self._by_id: dict[str, RunningContainer] = {}

    def now(self) -> list[RunningContainer]:
        return list(self._by_id.values())

    def fill(self, api: Any, listed: list[Mapping[str, Any]]) -> list[RunningContainer]:
        """Inspect each running container of a `containers(all=True)` list. Blocks: call
        in a thread, then `reset` with what it returns on the loop."""
        found = []
        for summary in listed:
            if summary.get("State") == "running":
                container = inspect_running(api, str(summary["Id"]))
                if container is not None:
                    found.append(container)
        return found

    def reset(self, containers: list[RunningContainer]) -> None:
        self._by_id = {c.id: c for c in containers}

    @staticmethod
    def needs_inspect(event: Mapping[str, Any]) -> bool:
        return _action(event) in _ADDS

    def apply(self, event: Mapping[str, Any], inspected: RunningContainer | None) -> None:
        """An event, with the container as inspected after it when `needs_inspect`."""
        action = _action(event)
        container_id = str(event.get("id") or "")
        if action in _ADDS:
            if inspected is None:
                self._by_id.pop(container_id, None)
            else:
                self._by_id[inspected.id] = inspected
        elif action in _DROPS:
            self._by_id.pop(container_id, None)
        elif action == "rename" and container_id in self._by_id:
            attributes = (event.get("Actor") or {}).get("Attributes") or {}
            name = str(attributes.get("name") or self._by_id[container_id].name)
            self._by_id[container_id] = replace(self._by_id[container_id], name=name)


def _action(event: Mapping[str, Any]) -> str:
    return str(event.get("Action") or event.get("status") or "").partition(": ")[0]
